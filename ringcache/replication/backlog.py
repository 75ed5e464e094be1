"""The replication backlog: the last `size` bytes of the replication stream.

Offsets follow Redis. `offset` (INFO master_repl_offset) counts every byte
ever appended to the stream under the current history; byte k of the stream
(1-based) has offset k. The backlog holds bytes `first_offset` ..
`first_offset + histlen - 1`, the last of which is byte `offset`. A replica
that has processed its stream up to offset R asks `PSYNC replid R+1`: the
primary can continue it iff first_offset <= R+1 <= offset+1 (the empty tail
counts: a replica that is fully up to date continues with nothing to send).

Storage is a fixed bytearray used as a ring (a `del buf[:n]` on every append
would move the whole megabyte each time). Bound: `size` bytes
(repl-backlog-size); older bytes are overwritten, and a replica asking for
them gets a full resync instead.
"""

from __future__ import annotations


class Backlog:
    __slots__ = ("size", "buf", "pos", "histlen", "offset")

    def __init__(self, size: int, offset: int = 0) -> None:
        self.size = size
        self.buf = bytearray(size)
        self.pos = 0  # where the next byte goes in buf
        self.histlen = 0  # bytes held
        self.offset = offset  # the stream's offset: the last byte appended

    @property
    def first_offset(self) -> int:
        """repl_backlog_first_byte_offset: the offset of the oldest byte held
        (offset + 1 while the backlog is empty)."""
        return self.offset - self.histlen + 1

    def append(self, data: bytes) -> None:
        n = len(data)
        if not n:
            return
        self.offset += n
        size = self.size
        if n >= size:
            self.buf[:] = data[n - size:]
            self.pos = 0
            self.histlen = size
            return
        pos = self.pos
        head = min(n, size - pos)
        self.buf[pos:pos + head] = data[:head]
        if head < n:
            self.buf[:n - head] = data[head:]
        self.pos = (pos + n) % size
        self.histlen = min(self.histlen + n, size)

    def covers(self, next_offset: int) -> bool:
        """Whether a replica whose next byte is `next_offset` can continue."""
        return self.first_offset <= next_offset <= self.offset + 1

    def since(self, next_offset: int) -> bytes:
        """The bytes from next_offset to the end (covers() must hold)."""
        count = self.offset + 1 - next_offset
        if count <= 0:
            return b""
        start = (self.pos - count) % self.size
        if start + count <= self.size:
            return bytes(self.buf[start:start + count])
        return bytes(self.buf[start:]) + bytes(self.buf[:start + count - self.size])

    def resize(self, size: int) -> None:
        """CONFIG SET repl-backlog-size: keep the newest bytes that fit."""
        if size == self.size:
            return
        keep = self.since(self.offset + 1 - min(self.histlen, size))
        offset = self.offset
        self.size = size
        self.buf = bytearray(size)
        self.pos = 0
        self.histlen = 0
        self.offset = offset - len(keep)
        self.append(keep)
