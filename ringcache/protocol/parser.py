"""Request parsing: bytes from one client in, commands (lists of bytes) out.

Theory of operation
-------------------
Two parsers share the work, and `RequestReader` decides which one owns the
stream at any moment:

* hiredis's C reader is the fast path. It handles the bulk of traffic: small
  multibulk commands, pipelined. But it trusts declared lengths: an array
  header `*100000000` makes it allocate the whole list at once. So it only
  sees input we have screened: a read that starts at a command boundary with
  `*`, containing no array header with four or more digits, while what it
  holds back stays under CAREFUL_THRESHOLD bytes.

* `CarefulParser`, in Python, handles everything else with Redis's exact
  rules and error texts: inline commands (what telnet sends, with quoting),
  large arrays, large pending commands, limits (proto-max-bulk-len,
  client-query-buffer-limit, the stricter limits before AUTH). It never
  allocates for a declared length: arguments grow as their bytes arrive.

When the careful parser's buffer drains at a command boundary, ownership goes
back to hiredis. The hand-over from hiredis to the careful parser needs the
bytes hiredis holds back; we keep the chunks fed since hiredis was last empty
(bounded, because the hand-over happens once they pass CAREFUL_THRESHOLD).

Known difference from Redis: on the hiredis path an inline command must start
a read; an inline command glued behind a multibulk command in the same packet
is a protocol error. Real clients never send that; telnet users cannot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import hiredis

from . import errors
from .errors import ProtocolError

CAREFUL_THRESHOLD = 64 * 1024
INLINE_MAX = 64 * 1024  # PROTO_INLINE_MAX_SIZE
INT_MAX = 2**31 - 1
UNAUTH_MAX_MULTIBULK = 10
UNAUTH_MAX_BULK = 16384

# An array header of 4+ digits: a command with 1000+ arguments, or an attack.
_BIG_ARRAY = re.compile(rb"\*[0-9]{4,}")


@dataclass
class Limits:
    proto_max_bulk_len: int = 512 * 1024 * 1024
    query_buffer_limit: int = 1024 * 1024 * 1024


class RequestReader:
    __slots__ = ("limits", "authenticated", "_hiredis", "_chunks", "_careful")

    def __init__(self, limits: Limits | None = None, authenticated: bool = True) -> None:
        self.limits = limits or Limits()
        # Before AUTH, Redis accepts only tiny commands; the session flips this.
        self.authenticated = authenticated
        self._hiredis = hiredis.Reader()
        self._chunks: list[bytes] = []
        self._careful: CarefulParser | None = None

    def feed(self, data: bytes) -> list[list[bytes]]:
        """Parse what arrived; returns complete commands, raises ProtocolError."""
        if self._careful is not None:
            return self._feed_careful(data)
        if not self._chunks:
            if data[:1] != b"*" or _BIG_ARRAY.search(data) or not self.authenticated:
                return self._to_careful(data)
        elif _BIG_ARRAY.search(self._chunks[-1][-8:] + data):
            return self._to_careful(data)
        reader = self._hiredis
        reader.feed(data)
        commands = []
        try:
            while True:
                command = reader.gets()
                if command is False:
                    break
                if command.__class__ is not list:
                    raise ProtocolError(_unexpected(command))
                if command:
                    commands.append(command)
        except hiredis.ProtocolError as exc:
            raise ProtocolError(f"ERR Protocol error: {exc}") from None
        pending = reader.len()
        if pending == 0:
            if self._chunks:
                self._chunks.clear()
        else:
            self._chunks.append(data)
            if pending > CAREFUL_THRESHOLD:
                held = b"".join(self._chunks)[-pending:]
                self._hiredis = hiredis.Reader()
                self._chunks.clear()
                commands.extend(self._to_careful(held))
        return commands

    def _to_careful(self, data: bytes) -> list[list[bytes]]:
        if self._chunks:
            pending = self._hiredis.len()
            data = b"".join(self._chunks)[-pending:] + data if pending else data
            self._hiredis = hiredis.Reader()
            self._chunks.clear()
        self._careful = CarefulParser(self.limits)
        return self._feed_careful(data)

    def _feed_careful(self, data: bytes) -> list[list[bytes]]:
        careful = self._careful
        assert careful is not None
        careful.authenticated = self.authenticated
        commands = careful.feed(data)
        if careful.at_boundary():
            self._careful = None
        return commands

    def buffered(self) -> int:
        """Bytes received but not yet part of a complete command."""
        if self._careful is not None:
            return self._careful.buffered()
        return self._hiredis.len()


def _unexpected(value: object) -> str:
    kind = {bytes: "$", int: ":", type(None): "$"}.get(type(value), "?")
    return errors.proto_expected("*", ord(kind))


class CarefulParser:
    """Redis's processInlineBuffer/processMultibulkBuffer, in Python."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.authenticated = True
        self._buf = bytearray()
        self._pos = 0
        self._args: list[bytes] | None = None  # inside a multibulk command
        self._remaining = 0  # arguments still to read
        self._bulk_len = -1  # length of the bulk being read, -1 = header next

    def at_boundary(self) -> bool:
        return self._args is None and self._pos >= len(self._buf)

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def feed(self, data: bytes) -> list[list[bytes]]:
        buf = self._buf
        if self._pos:
            del buf[: self._pos]
            self._pos = 0
        buf += data
        if len(buf) > self.limits.query_buffer_limit:
            raise ProtocolError(errors.PROTO_QUERY_BUFFER)
        commands: list[list[bytes]] = []
        while self._pos < len(buf):
            if self._args is None:
                if buf[self._pos] == 0x2A:  # '*'
                    if not self._multibulk_header():
                        break
                else:
                    command = self._inline()
                    if command is None:
                        break
                    if command:
                        commands.append(command)
                    continue
            if not self._multibulk_args():
                break
            args = self._args
            assert args is not None
            self._args = None
            if args:
                commands.append(args)
        if self._pos >= len(buf):
            buf.clear()
            self._pos = 0
        return commands

    def _inline(self) -> list[bytes] | None:
        buf = self._buf
        nl = buf.find(b"\n", self._pos)
        if nl == -1:
            if len(buf) - self._pos > INLINE_MAX:
                raise ProtocolError(errors.PROTO_BIG_INLINE)
            return None
        line = bytes(buf[self._pos : nl])
        self._pos = nl + 1
        if line.endswith(b"\r"):
            line = line[:-1]
        args = split_args(line)
        if args is None:
            raise ProtocolError(errors.PROTO_UNBALANCED_QUOTES)
        return args

    def _multibulk_header(self) -> bool:
        buf = self._buf
        cr = buf.find(b"\r", self._pos)
        if cr == -1 or cr + 1 >= len(buf):
            if len(buf) - self._pos > INLINE_MAX:
                raise ProtocolError(errors.PROTO_BIG_MBULK_COUNT)
            return False
        count = _parse_int(buf[self._pos + 1 : cr])
        if count is None or count > INT_MAX:
            raise ProtocolError(errors.PROTO_INVALID_MULTIBULK)
        if count > UNAUTH_MAX_MULTIBULK and not self.authenticated:
            raise ProtocolError(errors.PROTO_INVALID_MULTIBULK)
        self._pos = cr + 2
        self._args = []
        self._remaining = max(count, 0)
        self._bulk_len = -1
        return True

    def _multibulk_args(self) -> bool:
        buf = self._buf
        args = self._args
        assert args is not None
        while self._remaining:
            if self._bulk_len == -1:
                cr = buf.find(b"\r", self._pos)
                if cr == -1 or cr + 1 >= len(buf):
                    if len(buf) - self._pos > INLINE_MAX:
                        raise ProtocolError(errors.PROTO_INVALID_BULK)
                    return False
                if buf[self._pos] != 0x24:  # '$'
                    raise ProtocolError(errors.proto_expected("$", buf[self._pos]))
                length = _parse_int(buf[self._pos + 1 : cr])
                limit = self.limits.proto_max_bulk_len
                if not self.authenticated:
                    limit = min(limit, UNAUTH_MAX_BULK)
                if length is None or length < 0 or length > limit:
                    raise ProtocolError(errors.PROTO_INVALID_BULK)
                self._pos = cr + 2
                self._bulk_len = length
            end = self._pos + self._bulk_len
            if end + 2 > len(buf):
                return False
            args.append(bytes(buf[self._pos : end]))
            self._pos = end + 2
            self._bulk_len = -1
            self._remaining -= 1
        return True


def _parse_int(raw: bytes | bytearray) -> int | None:
    if not raw or len(raw) > 20:
        return None
    body = raw[1:] if raw[:1] == b"-" else raw
    if not body.isdigit():
        return None
    return int(raw)


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = b"0123456789abcdefABCDEF"


def split_args(line: bytes) -> list[bytes] | None:
    """Redis's sdssplitargs: spaces separate, "double" quotes with escapes
    (\\n, \\xHH, ...) and 'single' quotes; None for unbalanced quotes."""
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in b" \t\n\r\v\f":
            i += 1
        if i >= n:
            return args
        current = bytearray()
        in_dq = in_sq = False
        while True:
            if in_dq:
                if i >= n:
                    return None
                c = line[i]
                if c == 0x5C and i + 3 < n and line[i + 1] == 0x78 and line[i + 2] in _HEX and line[i + 3] in _HEX:
                    current.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif c == 0x5C and i + 1 < n:
                    i += 1
                    current.append(_ESCAPES.get(line[i], line[i]))
                elif c == 0x22:
                    if i + 1 < n and line[i + 1] not in b" \t\n\r\v\f":
                        return None  # closing quote must be followed by a space
                    i += 1
                    break
                else:
                    current.append(c)
            elif in_sq:
                if i >= n:
                    return None
                c = line[i]
                if c == 0x5C and i + 1 < n and line[i + 1] == 0x27:
                    i += 1
                    current.append(0x27)
                elif c == 0x27:
                    if i + 1 < n and line[i + 1] not in b" \t\n\r\v\f":
                        return None
                    i += 1
                    break
                else:
                    current.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c in b" \t\n\r\v\f":
                    break
                if c == 0x22:
                    in_dq = True
                elif c == 0x27:
                    in_sq = True
                else:
                    current.append(c)
            i += 1
        args.append(bytes(current))
