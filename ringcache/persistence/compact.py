"""Redis's compact encodings, as they appear inside RDB values.

Redis stores small collections as flat byte blobs and writes those blobs
into RDB files (and DUMP payloads) unchanged, as one RDB string each:

* listpack (listpack.c; lists, hashes, sorted sets, sets since 7.2):
  total_bytes:u32le count:u16le entry* 0xFF, each entry being an
  encoding byte (an integer of 7/13/16/24/32/64 bits, or a string of
  6/12/32-bit length), its data, and a "backlen" of 1-5 bytes holding the
  size of encoding+data so the list can be walked backwards. count is
  65535 when it does not fit.
* ziplist (ziplist.c; the same types before Redis 7.0): zlbytes:u32le
  zltail:u32le zllen:u16le entry* 0xFF, each entry being the previous
  entry's length (1 or 5 bytes), an encoding, and data.
* intset (intset.c; sets of integers): encoding:u32le (2, 4 or 8 bytes per
  value) length:u32le values sorted ascending, little-endian.
* zipmap (zipmap.c; hashes before Redis 2.6): zmlen:u8, then
  len key len free value+free-bytes pairs, 0xFF.
* LZF (lzf_d.c; strings compressed by `rdbcompression yes`).

Readers validate what they walk (sizes, terminators, backlens, counts) and
raise PackError with what is wrong; the RDB reader adds the file offset.
Integers come back as their decimal text (b"-12"), which is what Redis
returns for them. Writers produce what Redis's own code would (lpAppend
turns integer-looking strings into integer entries), so a payload loads in
redis-server with `sanitize-dump-payload yes` (its deep checks).

This module is pure: bytes in, bytes or lists out.
"""

from __future__ import annotations

import struct
from typing import Iterable

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I16 = struct.Struct("<h")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")


class PackError(ValueError):
    """A compact blob that is not what its header says."""


def canonical_int(text: bytes) -> int | None:
    """The integer text stands for when it is written exactly as Redis
    writes integers (string2ll: no sign but '-', no leading zeros, no
    blanks, within int64), else None."""
    n = len(text)
    if n == 0 or n > 20:
        return None
    first = text[0]
    if not (48 <= first <= 57 or (first == 45 and n > 1)):
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    if b"%d" % value != text or not INT64_MIN <= value <= INT64_MAX:
        return None
    return value


# -- listpack -------------------------------------------------------------------

LP_HEADER = 6
LP_EOF = 0xFF
LP_COUNT_UNKNOWN = 0xFFFF


def _backlen(size: int) -> bytes:
    """lpEncodeBacklen: size in 7-bit groups, most significant first; every
    byte but the first has bit 7 set (read from the end, it marks 'more')."""
    if size <= 127:
        return bytes((size,))
    if size < 16383:
        return bytes((size >> 7, (size & 127) | 128))
    if size < 2097151:
        return bytes((size >> 14, ((size >> 7) & 127) | 128, (size & 127) | 128))
    if size < 268435455:
        return bytes((size >> 21, ((size >> 14) & 127) | 128, ((size >> 7) & 127) | 128,
                      (size & 127) | 128))
    return bytes((size >> 28, ((size >> 21) & 127) | 128, ((size >> 14) & 127) | 128,
                  ((size >> 7) & 127) | 128, (size & 127) | 128))


_SMALL_BACKLEN = [bytes((n,)) for n in range(128)]


def lp_entry(item: bytes | int) -> bytes:
    """One listpack entry (encoding, data, backlen) for a string or an int;
    a string that is a canonical integer is stored as one, as lpAppend does."""
    if item.__class__ is not int:
        value = canonical_int(item) if len(item) <= 20 else None  # type: ignore[arg-type]
        if value is None:
            n = len(item)  # type: ignore[arg-type]
            if n < 64:
                head = bytes((0x80 | n,))
            elif n < 4096:
                head = bytes((0xE0 | (n >> 8), n & 0xFF))
            else:
                head = b"\xf0" + _U32.pack(n)
            size = len(head) + n
            return b"".join((head, item, _SMALL_BACKLEN[size] if size < 128 else _backlen(size)))  # type: ignore[arg-type]
        item = value
    v: int = item  # type: ignore[assignment]
    if 0 <= v <= 127:
        return bytes((v, 1))
    if -4096 <= v <= 4095:
        if v < 0:
            v += 1 << 13
        return bytes((0xC0 | (v >> 8), v & 0xFF, 2))
    if -(1 << 15) <= v < (1 << 15):
        return b"\xf1" + _I16.pack(v) + b"\x03"
    if -(1 << 23) <= v < (1 << 23):
        return b"\xf2" + (v & 0xFFFFFF).to_bytes(3, "little") + b"\x04"
    if -(1 << 31) <= v < (1 << 31):
        return b"\xf3" + _I32.pack(v) + b"\x05"
    return b"\xf4" + _I64.pack(v) + b"\x09"


_SHORT_STRING_HEADS = [bytes((0x80 | n,)) for n in range(64)]


def listpack(items: Iterable[bytes | int]) -> bytes:
    """A listpack holding items in order."""
    parts: list[bytes] = []
    append = parts.append
    heads, backlens = _SHORT_STRING_HEADS, _SMALL_BACKLEN
    count = 0
    for item in items:
        count += 1
        if item.__class__ is bytes:
            n = len(item)  # type: ignore[arg-type]
            # A short string that cannot be integer text: the common entry, inline.
            if n < 64 and (n == 0 or not (48 <= item[0] <= 57 or item[0] == 45)):  # type: ignore[index]
                append(heads[n])
                append(item)  # type: ignore[arg-type]
                append(backlens[n + 1])
                continue
        append(lp_entry(item))
    body = b"".join(parts)
    total = LP_HEADER + len(body) + 1
    if total > 0xFFFFFFFF:
        raise PackError("a listpack cannot exceed 4 GB")
    count = count if count < LP_COUNT_UNKNOWN else LP_COUNT_UNKNOWN
    return b"".join((_U32.pack(total), _U16.pack(count), body, b"\xff"))


def listpack_items(blob: bytes) -> list[bytes]:
    """Every entry of a listpack, integers as their decimal text."""
    n = len(blob)
    if n < LP_HEADER + 1:
        raise PackError(f"a listpack of {n} bytes is shorter than its header")
    total, count = _U32.unpack_from(blob, 0)[0], _U16.unpack_from(blob, 4)[0]
    if total != n:
        raise PackError(f"the listpack header says {total} bytes, the blob has {n}")
    if blob[n - 1] != LP_EOF:
        raise PackError("the listpack does not end with its terminator")
    out: list[bytes] = []
    append = out.append
    pos = LP_HEADER
    end = n - 1
    try:
        while pos < end:
            start = pos
            b = blob[pos]
            if b < 0x80:  # 7-bit unsigned
                append(b"%d" % b)
                pos += 1
            elif b < 0xC0:  # 6-bit string length
                length = b & 0x3F
                pos += 1
                append(blob[pos:pos + length])
                pos += length
            elif b < 0xE0:  # 13-bit signed
                v = ((b & 0x1F) << 8) | blob[pos + 1]
                if v >= 1 << 12:
                    v -= 1 << 13
                append(b"%d" % v)
                pos += 2
            elif b < 0xF0:  # 12-bit string length
                length = ((b & 0x0F) << 8) | blob[pos + 1]
                pos += 2
                append(blob[pos:pos + length])
                pos += length
            elif b == 0xF0:
                length = _U32.unpack_from(blob, pos + 1)[0]
                pos += 5
                append(blob[pos:pos + length])
                pos += length
            elif b == 0xF1:
                append(b"%d" % _I16.unpack_from(blob, pos + 1)[0])
                pos += 3
            elif b == 0xF2:
                v = int.from_bytes(blob[pos + 1:pos + 4], "little", signed=True)
                if pos + 4 > end:
                    raise PackError("a listpack entry runs past the end")
                append(b"%d" % v)
                pos += 4
            elif b == 0xF3:
                append(b"%d" % _I32.unpack_from(blob, pos + 1)[0])
                pos += 5
            elif b == 0xF4:
                append(b"%d" % _I64.unpack_from(blob, pos + 1)[0])
                pos += 9
            else:
                raise PackError(f"unknown listpack entry encoding 0x{b:02x} at byte {pos}")
            size = pos - start
            back = _SMALL_BACKLEN[size] if size < 128 else _backlen(size)
            if blob[pos:pos + len(back)] != back:
                raise PackError(f"the listpack entry at byte {start} has a wrong back-length")
            pos += len(back)
    except struct.error:
        raise PackError("a listpack entry runs past the end") from None
    except IndexError:
        raise PackError("a listpack entry runs past the end") from None
    if pos != end:
        raise PackError("a listpack entry runs past the end")
    if count != LP_COUNT_UNKNOWN and count != len(out):
        raise PackError(f"the listpack header counts {count} entries, it holds {len(out)}")
    return out


# -- ziplist (read only: Redis 7 writes listpacks) --------------------------------

ZL_HEADER = 10


def ziplist_items(blob: bytes) -> list[bytes]:
    n = len(blob)
    if n < ZL_HEADER + 1:
        raise PackError(f"a ziplist of {n} bytes is shorter than its header")
    total = _U32.unpack_from(blob, 0)[0]
    count = _U16.unpack_from(blob, 8)[0]
    if total != n:
        raise PackError(f"the ziplist header says {total} bytes, the blob has {n}")
    if blob[n - 1] != 0xFF:
        raise PackError("the ziplist does not end with its terminator")
    out: list[bytes] = []
    append = out.append
    pos = ZL_HEADER
    end = n - 1
    previous = 0
    try:
        while pos < end:
            start = pos
            prevlen = blob[pos]
            if prevlen == 254:
                prevlen = _U32.unpack_from(blob, pos + 1)[0]
                pos += 5
            elif prevlen == 255:
                raise PackError(f"bad ziplist entry at byte {pos}")
            else:
                pos += 1
            if prevlen != previous:
                raise PackError(f"the ziplist entry at byte {start} has a wrong previous length")
            b = blob[pos]
            kind = b >> 6
            if kind == 0:
                length = b & 0x3F
                pos += 1
                append(blob[pos:pos + length])
                pos += length
            elif kind == 1:
                length = ((b & 0x3F) << 8) | blob[pos + 1]
                pos += 2
                append(blob[pos:pos + length])
                pos += length
            elif b == 0x80:
                length = int.from_bytes(blob[pos + 1:pos + 5], "big")
                pos += 5
                append(blob[pos:pos + length])
                pos += length
            elif b == 0xC0:
                append(b"%d" % _I16.unpack_from(blob, pos + 1)[0])
                pos += 3
            elif b == 0xD0:
                append(b"%d" % _I32.unpack_from(blob, pos + 1)[0])
                pos += 5
            elif b == 0xE0:
                append(b"%d" % _I64.unpack_from(blob, pos + 1)[0])
                pos += 9
            elif b == 0xF0:
                if pos + 4 > end:
                    raise PackError("a ziplist entry runs past the end")
                append(b"%d" % int.from_bytes(blob[pos + 1:pos + 4], "little", signed=True))
                pos += 4
            elif b == 0xFE:
                append(b"%d" % int.from_bytes(blob[pos + 1:pos + 2], "little", signed=True))
                pos += 2
            elif 0xF1 <= b <= 0xFD:
                append(b"%d" % ((b & 0x0F) - 1))
                pos += 1
            else:
                raise PackError(f"unknown ziplist entry encoding 0x{b:02x} at byte {pos}")
            previous = pos - start
    except (struct.error, IndexError):
        raise PackError("a ziplist entry runs past the end") from None
    if pos != end:
        raise PackError("a ziplist entry runs past the end")
    if count != 0xFFFF and count != len(out):
        raise PackError(f"the ziplist header counts {count} entries, it holds {len(out)}")
    return out


# -- intset -----------------------------------------------------------------------

_INTSET_FORMATS = {2: "h", 4: "i", 8: "q"}


def intset(values: list[int]) -> bytes:
    """An intset of distinct int64 values (sorted here), in the narrowest
    width that holds them all, as intsetAdd would have grown it."""
    values = sorted(values)
    width = 2
    if values:
        low, high = values[0], values[-1]
        if low < -(1 << 31) or high >= 1 << 31:
            width = 8
        elif low < -(1 << 15) or high >= 1 << 15:
            width = 4
    return struct.pack(f"<II{len(values)}{_INTSET_FORMATS[width]}", width, len(values), *values)


def intset_values(blob: bytes) -> list[int]:
    if len(blob) < 8:
        raise PackError("an intset shorter than its header")
    width, length = struct.unpack_from("<II", blob)
    fmt = _INTSET_FORMATS.get(width)
    if fmt is None:
        raise PackError(f"an intset with {width}-byte values")
    if len(blob) != 8 + width * length:
        raise PackError(f"the intset header says {length} values of {width} bytes, the blob has "
                        f"{len(blob) - 8} bytes of them")
    values = list(struct.unpack_from(f"<{length}{fmt}", blob, 8))
    for i in range(1, length):
        if values[i - 1] >= values[i]:
            raise PackError("the intset is not sorted or has duplicates")
    return values


# -- zipmap (read only: Redis 2.4) ---------------------------------------------------

def zipmap_pairs(blob: bytes) -> list[bytes]:
    """field, value, field, value ... of a zipmap."""
    out: list[bytes] = []
    pos = 1
    n = len(blob)

    def length_at(pos: int) -> tuple[int, int]:
        b = blob[pos]
        if b < 254:
            return b, pos + 1
        if b == 254:
            return _U32.unpack_from(blob, pos + 1)[0], pos + 5
        raise PackError("bad zipmap length")

    try:
        while True:
            if blob[pos] == 0xFF:
                pos += 1
                break
            length, pos = length_at(pos)
            out.append(blob[pos:pos + length])
            pos += length
            length, pos = length_at(pos)
            free = blob[pos]
            pos += 1
            out.append(blob[pos:pos + length])
            pos += length + free
            if pos > n:
                raise IndexError
    except (struct.error, IndexError):
        raise PackError("a zipmap entry runs past the end") from None
    if pos != n:
        raise PackError("bytes after the zipmap's terminator")
    return out


# -- LZF (decompression only: the writer stores strings as they are) ---------------------

def lzf_decompress(data: bytes, expected: int) -> bytes:
    """liblzf's lzf_decompress: literal runs (control < 32: control + 1
    bytes follow) and back references (length in the top 3 bits, + one
    more byte when they are all set; distance in the low 5 bits and the
    next byte)."""
    out = bytearray()
    i = 0
    n = len(data)
    try:
        while i < n:
            ctrl = data[i]
            i += 1
            if ctrl < 32:
                length = ctrl + 1
                if i + length > n:
                    raise PackError("an LZF literal runs past the end")
                out += data[i:i + length]
                i += length
                continue
            length = ctrl >> 5
            if length == 7:
                length += data[i]
                i += 1
            distance = ((ctrl & 0x1F) << 8) + data[i] + 1
            i += 1
            length += 2
            ref = len(out) - distance
            if ref < 0:
                raise PackError("an LZF back reference points before the start")
            if distance >= length:
                out += out[ref:ref + length]
            else:  # overlapping: the last `distance` bytes repeat
                chunk = bytes(out[ref:])
                out += (chunk * (length // distance + 1))[:length]
    except IndexError:
        raise PackError("LZF data runs past the end") from None
    if len(out) != expected:
        raise PackError(f"LZF data decompresses to {len(out)} bytes, {expected} expected")
    return bytes(out)
