"""The node's snapshot: `dump.rdb`, AOF base files, full syncs.

Theory of operation
-------------------
A snapshot is written in Redis's RDB format (persistence/rdb.py), so
redis-server loads a ringcache `dump.rdb` and the node loads one written by
redis-server: `snapshot_chunks` is rdb.rdb_chunks with the node's AUX
fields. `SnapshotReader` reads either an RDB file or RCSNAP, the framed
format earlier ringcache versions wrote (below), telling them apart by
their first bytes, and reports any damage as SnapshotError with the file
offset, whichever the format. The manager (manager.py), check-aof and a
replica's full sync use these two names and nothing else, so the format is
decided here.

What an RDB snapshot does not carry: LRU/LFU access metadata (written by
Redis only under an LRU/LFU maxmemory-policy; optional in the format) and
LZF compression (`rdbcompression` is accepted and has no effect on it).
A Redis file holding function libraries (FUNCTION LOAD) is refused at that
record: ringcache has no functions to load them into.

The RCSNAP format (read for old files; `rcsnap_chunks` still writes it, for
tests and tools) is a byte stream made of a fixed header and a sequence of
*frames*; each frame carries whole records and its own CRC-32:

    header  = b"RCSNAP" version:u16
    frame   = length:u32 payload crc32(length bytes + payload):u32
    payload = record+          (a record never straddles two frames)

Its reader (`RCSnapReader`) checks each frame's checksum before it decodes
a byte of it. The last record is EOF with the number of keys written; a
stream that ends before it is "truncated", bytes after it are "trailing
garbage". docs/persistence.md has the record layouts.

Times are absolute Unix milliseconds in both formats, so a key that expired
while the node was down is skipped on load (never resurrected), as Redis
does.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from typing import IO, Any, Callable, Iterable, Iterator

from .rdb import MAGIC as RDB_MAGIC
from .rdb import RDBError, RDBReader, rdb_chunks

MAGIC = b"RCSNAP"
VERSION = 1
HEADER = MAGIC + struct.pack(">H", VERSION)
FRAME_TARGET = 64 * 1024  # a frame is flushed once its payload passes this

# Record opcodes (Redis's RDB uses the same values for the same ideas).
OP_AUX = 0xFA
OP_EXPIRE_MS = 0xFC
OP_SELECTDB = 0xFE
OP_EOF = 0xFF
T_STRING = 0x00
T_LIST = 0x01
T_SET = 0x02
T_ZSET = 0x03
T_HASH = 0x04
T_HASH_TTL = 0x05  # a hash with per-field expiry times
TYPE_NAMES = {T_STRING: "string", T_LIST: "list", T_SET: "set", T_ZSET: "zset",
              T_HASH: "hash", T_HASH_TTL: "hash"}

_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_U64 = struct.Struct(">Q")
_F64 = struct.Struct(">d")
_U16 = struct.Struct(">H")

# Lengths (Redis's rdbSaveLen): the top two bits of the first byte say how
# many bytes follow. 00 -> 6-bit length in this byte; 01 -> 14 bits in this
# byte and the next; 0x80 -> a u32 follows; 0x81 -> a u64 follows.
_SHORT_LENGTHS = [bytes([n]) if n < 64 else bytes([0x40 | (n >> 8), n & 0xFF]) for n in range(16384)]


def encode_length(n: int) -> bytes:
    if n < 16384:
        return _SHORT_LENGTHS[n]
    if n <= 0xFFFFFFFF:
        return b"\x80" + _U32.pack(n)
    return b"\x81" + _U64.pack(n)


class SnapshotError(Exception):
    """A snapshot that cannot be read: `offset` is where in the stream."""

    def __init__(self, message: str, offset: int, name: str = "") -> None:
        self.reason = message
        self.offset = offset
        self.name = name
        super().__init__(self.describe())

    def describe(self) -> str:
        where = f"'{self.name}' " if self.name else ""
        return f"snapshot {where}is unreadable at offset {self.offset}: {self.reason}"


# -----------------------------------------------------------------------------
# Writing


COMPRESSED = 0x80000000  # bit 31 of a frame's length: the payload is zlib-compressed


def _frame(payload: bytes | bytearray, compress: bool = False) -> bytes:
    length = len(payload)
    if compress and length > 256:
        packed = zlib.compress(payload, 1)  # level 1: most of the gain, little CPU
        if len(packed) < length - length // 8:
            payload = packed
            length = len(packed) | COMPRESSED
    head = _U32.pack(length)
    return b"".join((head, payload, _U32.pack(zlib.crc32(payload, zlib.crc32(head)))))


def rcsnap_chunks(databases: Iterable[tuple[int, dict, dict]], now_ms: float,
                  aux: dict[bytes, bytes] | None = None, compress: bool = False) -> Iterator[bytes]:
    """The RCSNAP snapshot of `databases` ((index, data, expires) triples) as byte
    chunks: the header, then one frame per chunk. Keys already expired at
    now_ms are left out. Runs in the child of a fork (BGSAVE) or on the loop
    (SAVE); it only reads the dicts."""
    zset_class, field_ttl_class = _container_classes()
    yield HEADER
    buf = bytearray()
    for name, value in (aux or {}).items():
        buf.append(OP_AUX)
        buf += encode_length(len(name))
        buf += name
        buf += encode_length(len(value))
        buf += value
    written = 0
    lengths = _SHORT_LENGTHS
    for index, data, expires in databases:
        if not data:
            continue
        buf.append(OP_SELECTDB)
        buf += encode_length(index)
        for key, value in data.items():
            if expires:
                when = expires.get(key)
                if when is not None:
                    if when < now_ms:
                        continue
                    buf.append(OP_EXPIRE_MS)
                    # (a float: PEXPIREAT k INT64_MAX is stored as 2**63, one too many)
                    buf += _I64.pack(min(int(when), 0x7FFFFFFFFFFFFFFF))
            n = len(key)
            klass = value.__class__
            if klass is bytes:
                buf.append(T_STRING)
                buf += lengths[n] if n < 16384 else encode_length(n)
                buf += key
                n = len(value)
                buf += lengths[n] if n < 16384 else encode_length(n)
                buf += value
            else:
                buf += _encode_container(key, value, klass, zset_class, field_ttl_class)
            written += 1
            if len(buf) >= FRAME_TARGET:
                yield _frame(buf, compress)
                buf = bytearray()
    buf.append(OP_EOF)
    buf += _U64.pack(written)
    yield _frame(buf, compress)


def _container_classes() -> tuple[type | None, type | None]:
    # Imported lazily: the type families may load after this module.
    try:
        from ..storage.zset import ZSet
    except ImportError:  # not built yet
        ZSet = None  # type: ignore[assignment,misc]
    try:
        from ..storage.hashes import FieldTTLHash
    except ImportError:
        FieldTTLHash = None  # type: ignore[assignment,misc]
    return ZSet, FieldTTLHash


def _bulk(out: bytearray, item: bytes) -> None:
    out += encode_length(len(item))
    out += item


def _encode_container(key: bytes, value: Any, klass: type, zset_class: Any, field_ttl_class: Any) -> bytearray:
    out = bytearray()
    if klass is deque or klass is list:
        out.append(T_LIST)
        _bulk(out, key)
        out += encode_length(len(value))
        for item in value:
            _bulk(out, item)
    elif klass is set or klass is frozenset:
        out.append(T_SET)
        _bulk(out, key)
        out += encode_length(len(value))
        for item in value:
            _bulk(out, item)
    elif zset_class is not None and isinstance(value, zset_class):
        out.append(T_ZSET)
        _bulk(out, key)
        out += encode_length(len(value))
        pack = _F64.pack
        for member, score in value.items():
            _bulk(out, member)
            out += pack(score)
    elif field_ttl_class is not None and isinstance(value, field_ttl_class) and value.field_expires:
        out.append(T_HASH_TTL)
        _bulk(out, key)
        out += encode_length(len(value))
        field_expires = value.field_expires
        pack = _I64.pack
        for field, item in value.items():
            _bulk(out, field)
            _bulk(out, item)
            when = field_expires.get(field)
            out += pack(-1 if when is None else int(when))
    elif isinstance(value, dict):
        out.append(T_HASH)
        _bulk(out, key)
        out += encode_length(len(value))
        for field, item in value.items():
            _bulk(out, field)
            _bulk(out, item)
    else:
        raise TypeError(f"cannot snapshot a value of type {klass.__name__} (key {key!r})")
    return out


def write_snapshot(out: IO[bytes], chunks: Iterable[bytes]) -> int:
    """Write the chunks to a binary file-like (a file, a socket's makefile,
    a BytesIO); returns the bytes written."""
    total = 0
    for chunk in chunks:
        out.write(chunk)
        total += len(chunk)
    return total


# -----------------------------------------------------------------------------
# Reading

Sink = Callable[[int, bytes, Any, "float | None"], None]


class RCSnapReader:
    """Reads an RCSNAP snapshot from a binary file-like object, frame by frame.

    `load(sink, now_ms)` calls sink(db_index, key, value, expire_ms or None)
    for every key not expired at now_ms and returns the AUX fields. Any damage
    raises SnapshotError with the stream offset (from the start of the
    stream) of the frame or record at fault."""

    def __init__(self, source: IO[bytes], name: str = "") -> None:
        self.source = source
        self.name = name
        self.offset = 0  # stream offset of the next unread byte
        self.keys_loaded = 0
        self.keys_expired = 0

    def _read(self, n: int, what: str) -> bytes:
        data = self.source.read(n)
        if data is not None and len(data) < n and data:
            # A pipe or a socket may return less than asked before its end.
            parts = [data]
            got = len(data)
            while got < n:
                more = self.source.read(n - got)
                if not more:
                    break
                parts.append(more)
                got += len(more)
            data = b"".join(parts)
        if data is None or len(data) < n:
            got = 0 if not data else len(data)
            raise SnapshotError(f"truncated: {what} needs {n} bytes, the stream has {got} more",
                                self.offset + got, self.name)
        self.offset += n
        return data

    def _fail(self, message: str, offset: int) -> SnapshotError:
        return SnapshotError(message, offset, self.name)

    def frames(self) -> Iterator[tuple[int, bytes]]:
        """(stream offset of the payload, payload) of each checked frame; for
        a compressed frame the offset is the frame's own, negated (positions
        in its decompressed payload are not file offsets)."""
        header = self._read(len(HEADER), "the header")
        if header[:len(MAGIC)] != MAGIC:
            raise self._fail("not an RCSNAP snapshot (bad magic)", 0)
        version = _U16.unpack_from(header, len(MAGIC))[0]
        if version > VERSION:
            raise self._fail(f"format version {version} is newer than this node reads ({VERSION})",
                             len(MAGIC))
        while True:
            start = self.offset
            head = self._read(4, "a frame header")
            length = _U32.unpack(head)[0]
            payload = self._read(length & ~COMPRESSED, f"the frame at offset {start}")
            crc = _U32.unpack(self._read(4, f"the checksum of the frame at offset {start}"))[0]
            if zlib.crc32(payload, zlib.crc32(head)) != crc:
                raise self._fail(f"checksum mismatch in the frame at offset {start}", start)
            if length & COMPRESSED:
                try:
                    payload = zlib.decompress(payload)
                except zlib.error as exc:
                    raise self._fail(f"the compressed frame at offset {start} is damaged ({exc})",
                                     start) from None
                yield -start, payload
            else:
                yield start + 4, payload

    def load(self, sink: Sink, now_ms: float) -> dict[bytes, bytes]:
        aux: dict[bytes, bytes] = {}
        db = 0
        expect_key = False  # an EXPIRE_MS record must be followed by a key
        for base, payload in self.frames():
            pos = 0
            end = len(payload)
            expire: float | None = None
            while pos < end:
                record = pos
                try:
                    op = payload[pos]
                    pos += 1
                    if op == T_STRING:
                        n, pos = _length(payload, pos)
                        key = payload[pos:pos + n]
                        pos += n
                        n, pos = _length(payload, pos)
                        value: Any = payload[pos:pos + n]
                        pos += n
                        if pos > end:
                            raise IndexError
                    elif op in TYPE_NAMES:
                        key, value, pos = _decode_container(op, payload, pos, now_ms)
                    elif op == OP_EXPIRE_MS:
                        expire = float(_I64.unpack_from(payload, pos)[0])
                        pos += 8
                        expect_key = True
                        continue
                    elif op == OP_SELECTDB:
                        db, pos = _length(payload, pos)
                        continue
                    elif op == OP_AUX:
                        n, pos = _length(payload, pos)
                        name = payload[pos:pos + n]
                        pos += n
                        n, pos = _length(payload, pos)
                        aux[name] = payload[pos:pos + n]
                        pos += n
                        if pos > end:
                            raise IndexError
                        continue
                    elif op == OP_EOF:
                        count = _U64.unpack_from(payload, pos)[0]
                        pos += 8
                        if pos != end:
                            raise self._fail("records after the end marker", _at(base, pos))
                        if count != self.keys_loaded + self.keys_expired:
                            raise self._fail(f"the end marker counts {count} keys, the file holds "
                                             f"{self.keys_loaded + self.keys_expired}", _at(base, record))
                        if self.source.read(1):
                            raise self._fail("trailing bytes after the last frame", self.offset)
                        return aux
                    else:
                        raise self._fail(f"unknown record type 0x{op:02x}", _at(base, record))
                except (IndexError, struct.error):
                    raise self._fail("a record runs past the end of its frame", _at(base, record)) from None
                expect_key = False
                if value is None or (expire is not None and expire < now_ms):
                    self.keys_expired += 1  # expired while the node was down
                else:
                    self.keys_loaded += 1
                    sink(db, key, value, expire)
                expire = None
            if expect_key:
                raise self._fail("an expiry time without its key", _at(base, end))
        raise AssertionError("unreachable")  # frames() raises at the end of the stream


def _at(base: int, pos: int) -> int:
    """The stream offset of position pos of a frame's payload (a compressed
    frame, base < 0, reports the frame's own offset)."""
    return -base if base < 0 else base + pos


def _length(buf: bytes, pos: int) -> tuple[int, int]:
    first = buf[pos]
    kind = first >> 6
    if kind == 0:
        return first, pos + 1
    if kind == 1:
        return ((first & 0x3F) << 8) | buf[pos + 1], pos + 2
    if first == 0x80:
        return _U32.unpack_from(buf, pos + 1)[0], pos + 5
    if first == 0x81:
        return _U64.unpack_from(buf, pos + 1)[0], pos + 9
    raise IndexError  # reported as a bad record by the caller


def _items(buf: bytes, pos: int, count: int) -> tuple[list[bytes], int]:
    out: list[bytes] = []
    append = out.append
    for _ in range(count):
        n, pos = _length(buf, pos)
        append(buf[pos:pos + n])
        pos += n
    if pos > len(buf):
        raise IndexError
    return out, pos


def _decode_container(op: int, buf: bytes, pos: int, now_ms: float) -> tuple[bytes, Any, int]:
    """One container record after its type byte -> (key, value, next pos).
    The value is None when nothing of it is left (every field expired)."""
    n, pos = _length(buf, pos)
    key = buf[pos:pos + n]
    pos += n
    count, pos = _length(buf, pos)
    if count > len(buf):  # each item takes at least a byte: a damaged count
        raise IndexError
    value: Any
    if op == T_LIST:
        items, pos = _items(buf, pos, count)
        value = deque(items)
    elif op == T_SET:
        items, pos = _items(buf, pos, count)
        value = set(items)
    elif op == T_HASH:
        items, pos = _items(buf, pos, 2 * count)
        value = dict(zip(items[::2], items[1::2]))
    elif op == T_ZSET:
        pairs = []
        unpack = _F64.unpack_from
        for _ in range(count):
            n, pos = _length(buf, pos)
            member = buf[pos:pos + n]
            pos += n
            pairs.append((member, unpack(buf, pos)[0]))
            pos += 8
        from ..storage.zset import ZSet  # lazily: the family may load later

        value = ZSet.from_items(pairs)
    else:  # T_HASH_TTL
        fields: dict[bytes, bytes] = {}
        field_expires: dict[bytes, float] = {}
        unpack = _I64.unpack_from
        for _ in range(count):
            n, pos = _length(buf, pos)
            field = buf[pos:pos + n]
            pos += n
            n, pos = _length(buf, pos)
            item = buf[pos:pos + n]
            pos += n
            when = unpack(buf, pos)[0]
            pos += 8
            if when >= 0 and when < now_ms:
                continue  # the field expired while the node was down
            fields[field] = item
            if when >= 0:
                field_expires[field] = float(when)
        value = _field_ttl_hash(fields, field_expires) if fields else None
    if pos > len(buf):
        raise IndexError
    return key, value, pos


def _field_ttl_hash(fields: dict[bytes, bytes], field_expires: dict[bytes, float]) -> dict:
    if not field_expires:
        return fields
    from ..storage.hashes import FieldTTLHash

    value = FieldTTLHash(fields)
    for field, when in field_expires.items():
        value.set_field_expire(field, when)
    return value


def read_snapshot(source: IO[bytes], now_ms: float, name: str = "") -> tuple[list[tuple[int, bytes, Any, float | None]], dict]:
    """Every live key of a snapshot as a list (tests, tools)."""
    out: list = []
    reader = SnapshotReader(source, name)
    aux = reader.load(lambda db, key, value, expire: out.append((db, key, value, expire)), now_ms)
    return out, aux


# -----------------------------------------------------------------------------
# The node's snapshot: RDB written, RDB or RCSNAP read


def snapshot_chunks(databases: Iterable[tuple[int, dict, dict]], now_ms: float,
                    aux: dict[bytes, bytes] | None = None, compress: bool = False,
                    functions: Iterable[bytes] = ()) -> Iterator[bytes]:
    """The snapshot of `databases` ((index, data, expires) triples) as RDB
    byte chunks (rdb.rdb_chunks); keys already expired at now_ms are left
    out. `compress` (rdbcompression) has no effect: the RDB writer stores
    values as they are. Runs in the child of a fork (BGSAVE) or on the loop
    (SAVE); it only reads the dicts."""
    return rdb_chunks(databases, now_ms, {b"redis-bits": 64, **(aux or {})}, functions=functions)


class _Prefixed:
    """A source whose first bytes were already read (to tell the format)."""

    def __init__(self, prefix: bytes, source: IO[bytes]) -> None:
        self.prefix = prefix
        self.source = source

    def read(self, n: int = -1) -> bytes:
        if not self.prefix:
            return self.source.read(n)
        if n < 0:
            data = self.prefix + self.source.read()
            self.prefix = b""
            return data
        data, self.prefix = self.prefix[:n], self.prefix[n:]
        return data


class SnapshotReader:
    """Reads a snapshot, RDB or RCSNAP, from a binary file-like object.

    `load(sink, now_ms)` calls sink(db_index, key, value, expire_ms or None)
    for every key not expired at now_ms and returns the AUX fields; damage
    raises SnapshotError with the stream offset. `offset` (the next unread
    byte), `keys_loaded` and `keys_expired` are kept as it reads."""

    def __init__(self, source: IO[bytes], name: str = "") -> None:
        self.source = source
        self.name = name
        self.reader: Any = None
        self.keys_loaded = 0
        self.keys_expired = 0
        self.functions: list[bytes] = []  # function libraries' code (RDB files only)

    @property
    def offset(self) -> int:
        return self.reader.offset if self.reader is not None else 0

    def load(self, sink: Sink, now_ms: float,
             strings: Callable[[int, list, list], None] | None = None) -> dict[bytes, bytes]:
        """`strings`: RDBReader.load's run-of-plain-strings sink (RDB only;
        an RCSNAP file sends every key to sink)."""
        head = b""
        while len(head) < len(MAGIC):  # (a pipe may hand them over one at a time)
            more = self.source.read(len(MAGIC) - len(head))
            if not more:
                break
            head += more
        source = _Prefixed(head, self.source)
        if head.startswith(RDB_MAGIC):
            reader = self.reader = RDBReader(source, self.name)  # type: ignore[arg-type]

            def rdb_sink(db: int, key: bytes, value: Any, expire: int | None, idle: Any, freq: Any) -> None:
                sink(db, key, value, None if expire is None else float(expire))

            try:
                aux = reader.load(rdb_sink, now_ms, strings)
            except RDBError as exc:
                raise SnapshotError(exc.reason, exc.offset, self.name) from None
            finally:
                self.keys_loaded = reader.keys_loaded
                self.keys_expired = reader.keys_expired
                self.functions = reader.functions
            return aux
        if head == MAGIC:
            legacy = self.reader = RCSnapReader(source, self.name)  # type: ignore[arg-type]
            try:
                return legacy.load(sink, now_ms)
            finally:
                self.keys_loaded = legacy.keys_loaded
                self.keys_expired = legacy.keys_expired
        if len(head) < len(RDB_MAGIC):
            raise SnapshotError(f"truncated: {len(head)} bytes, shorter than any header", len(head), self.name)
        raise SnapshotError("not a snapshot: neither an RDB file (REDIS) nor an RCSNAP one "
                            "(wrong signature)", 0, self.name)
