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


class StreamReader:
    """Incremental parser: feed bytes, take (argv, raw bytes) pairs."""

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

    def commands(self) -> list[tuple[list[bytes], bytes]]:
        """Every complete command buffered, each with its exact bytes (what
        the replication offset counts and what a chained replica gets). A
        keep-alive newline comes back as ([], b"\n"). Damage raises
        StreamError, after the complete commands before it were returned
        (they are applied; nothing after the damage is)."""
        if self.error is not None:
            raise self.error
        out: list[tuple[list[bytes], bytes]] = []
        try:
            self._parse(out)
        except StreamError as exc:
            if not out:
                raise
            self.error = exc
        return out

    def _parse(self, out: list) -> None:
        buf = self.buf
        while True:
            pos = self.pos
            if pos >= len(buf):
                return
            first = buf[pos]
            if first == 0x0A:  # "\n" keep-alive
                self.pos = pos + 1
                out.append(([], b"\n"))
                continue
            if first != 0x2A:  # "*"
                raise StreamError(f"expected '*', got {bytes(buf[pos:pos + 16])!r}")
            end = buf.find(b"\r\n", pos)
            if end < 0:
                if len(buf) - pos > 64:
                    raise StreamError("array header too long")
                return
            try:
                count = int(buf[pos + 1:end])
            except ValueError:
                raise StreamError("bad array length") from None
            if not 0 < count <= MAX_ARGS:
                raise StreamError(f"bad array length {count}")
            p = end + 2
            argv = []
            for _ in range(count):
                if p >= len(buf):
                    return
                if buf[p] != 0x24:  # "$"
                    raise StreamError(f"expected '$', got {bytes(buf[p:p + 16])!r}")
                end = buf.find(b"\r\n", p)
                if end < 0:
                    if len(buf) - p > 64:
                        raise StreamError("bulk header too long")
                    return
                try:
                    n = int(buf[p + 1:end])
                except ValueError:
                    raise StreamError("bad bulk length") from None
                if not 0 <= n <= MAX_BULK:
                    raise StreamError(f"bad bulk length {n}")
                start = end + 2
                if start + n + 2 > len(buf):
                    return
                if buf[start + n:start + n + 2] != b"\r\n":
                    raise StreamError("bulk string not terminated by CRLF")
                argv.append(bytes(buf[start:start + n]))
                p = start + n + 2
            self.pos = p
            out.append((argv, bytes(buf[pos:p])))
