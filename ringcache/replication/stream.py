"""The replication stream's wire form: RESP arrays of bulk strings, the way
a primary writes commands (encode) and a replica reads them back with the
exact byte count of each (StreamReader), since replication offsets count
bytes. Pure: no I/O.

The replica reads only what a primary sends: arrays of bulk strings, plus
bare newlines, which a primary may send as keep-alives while it prepares a
full sync (Redis does); those count toward no command. Anything else is a
corrupt stream (StreamError): the replica drops the link and resyncs rather
than apply something it cannot be sure of.
"""

from __future__ import annotations

import os
from typing import Any

from ..protocol.resp import BULK_HEADERS


class StreamError(Exception):
    """The primary's stream is not what a primary sends."""


def encode(argv: list[bytes]) -> bytes:
    parts = [b"*%d\r\n" % len(argv)]
    append = parts.append
    for arg in argv:
        n = len(arg)
        append(BULK_HEADERS[n] if n < 1024 else b"$%d\r\n" % n)  # (the headers pre-encoded)
        append(arg)
        append(b"\r\n")
    return b"".join(parts)


MAX_ARGS = 1 << 20
MAX_BULK = 1 << 29  # proto-max-bulk-len's default (512 MB)


def encode_unit(unit: list[list[bytes]]) -> bytes:
    """A unit's argvs as one piece of the stream (what every sink of the
    write stream shares: the backlog, each replica's socket, the AOF)."""
    if len(unit) == 1:
        return encode(unit[0])
    return b"".join([encode(argv) for argv in unit])


def _number(text: bytes | bytearray) -> int:
    """A length in a header: optional sign and up to 18 digits, else -2
    (int() would also take spaces and underscores, which no primary writes;
    the compiled twin reads the same)."""
    digits = text[1:] if text[:1] in (b"-", b"+") else text
    if not digits or len(digits) > 18 or not digits.isdigit():
        return -2
    value = int(digits)
    return -1 if text[:1] == b"-" and value else value


SPECIAL = (b"ping", b"replconf")


def parse(buf: bytearray, pos: int, argvs: list, ends: list, specials: list) -> tuple[int, str | None]:
    """Every complete command in buf from pos: its argv to argvs, the
    position right after it to ends, and its index to specials when the
    replica counts it but does not run it (a keep-alive newline, as argv
    [], PING, REPLCONF). Returns the position after the last complete
    command and None, or the damage found there (what came before it was
    taken). The exact bytes of command i are buf[ends[i-1]:ends[i]]."""
    size = len(buf)
    while True:
        start = pos
        if start >= size:
            return pos, None
        first = buf[start]
        if first == 0x0A:  # "\n" keep-alive
            pos = start + 1
            specials.append(len(argvs))
            argvs.append([])
            ends.append(pos)
            continue
        if first != 0x2A:  # "*"
            return pos, f"expected '*', got {bytes(buf[start:start + 16])!r}"
        end = buf.find(b"\r\n", start)
        if end < 0:
            return pos, ("array header too long" if size - start > 64 else None)
        count = _number(buf[start + 1:end])
        if count == -2:
            return pos, "bad array length"
        if not 0 < count <= MAX_ARGS:
            return pos, f"bad array length {int(buf[start + 1:end])}"
        p = end + 2
        argv = []
        for _ in range(count):
            if p >= size:
                return pos, None
            if buf[p] != 0x24:  # "$"
                return pos, f"expected '$', got {bytes(buf[p:p + 16])!r}"
            end = buf.find(b"\r\n", p)
            if end < 0:
                return pos, ("bulk header too long" if size - p > 64 else None)
            n = _number(buf[p + 1:end])
            if n == -2:
                return pos, "bad bulk length"
            if not 0 <= n <= MAX_BULK:
                return pos, f"bad bulk length {int(buf[p + 1:end])}"
            bulk = end + 2
            if bulk + n + 2 > size:
                return pos, None
            if buf[bulk + n:bulk + n + 2] != b"\r\n":
                return pos, "bulk string not terminated by CRLF"
            argv.append(bytes(buf[bulk:bulk + n]))
            p = bulk + n + 2
        pos = p
        if argv[0].lower() in SPECIAL:
            specials.append(len(argvs))
        argvs.append(argv)
        ends.append(pos)


encode_unit_pure, parse_pure = encode_unit, parse  # (the references the tests compare with)


def _compiled() -> Any:
    """ringcache/_stream.pyx's twins, unless RINGCACHE_PURE is set or the
    extension was not built (setup.py builds it when it can)."""
    if os.environ.get("RINGCACHE_PURE", "") not in ("", "0"):
        return None
    try:
        from .. import _stream  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _stream


_twins = _compiled()
if _twins is not None:
    encode_unit = _twins.encode_unit  # noqa: F811
    parse = _twins.parse  # noqa: F811


class Batch:
    """What StreamReader.take() found: the commands, where each ends in
    `buf` (the reader's buffer, valid until its next feed), where the first
    begins, and which are counted but not run (see parse)."""

    __slots__ = ("argvs", "ends", "start", "specials", "buf")

    def __init__(self, buf: bytearray, start: int) -> None:
        self.buf = buf
        self.start = start
        self.argvs: list[list[bytes]] = []
        self.ends: list[int] = []
        self.specials: list[int] = []

    def raw(self, begin: int, end: int) -> bytes:
        """The exact bytes of commands begin .. end-1."""
        first = self.ends[begin - 1] if begin else self.start
        return bytes(self.buf[first:self.ends[end - 1]]) if end > begin else b""


class StreamReader:
    """Incremental parser: feed bytes, take the complete commands with
    their exact extent (replication offsets count bytes)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.pos = 0
        self.error: StreamError | None = None

    def feed(self, data: bytes) -> None:
        if self.pos > 65536 and self.pos * 2 > len(self.buf):
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += data

    def pending(self) -> int:
        return len(self.buf) - self.pos

    def take(self) -> Batch:
        """Every complete command buffered. Damage raises StreamError when
        nothing came before it; otherwise the commands before it are
        returned (they are applied; nothing after the damage is) and the
        next take() raises."""
        if self.error is not None:
            raise self.error
        batch = Batch(self.buf, self.pos)
        self.pos, damage = parse(self.buf, self.pos, batch.argvs, batch.ends, batch.specials)
        if damage is not None:
            self.error = StreamError(damage)
            if not batch.argvs:
                raise self.error
        return batch

    def commands(self) -> list[tuple[list[bytes], bytes]]:
        """take() as (argv, exact bytes) pairs; a keep-alive newline comes
        back as ([], b"\n")."""
        batch = self.take()
        return [(argv, batch.raw(i, i + 1)) for i, argv in enumerate(batch.argvs)]
