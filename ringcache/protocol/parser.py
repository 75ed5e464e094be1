"""Request parsing: bytes from one client in, commands (lists of bytes) out.

Theory of operation
-------------------
Two parsers share the work, and `RequestReader` decides which one owns the
stream at any moment:

* hiredis's C reader is the fast path. It handles the bulk of traffic: small
  multibulk commands, pipelined. But it is a reply parser, not a request
  parser, so it is only given input we have screened and its output is
  checked:
    - it trusts declared array lengths (`*100000000` makes it allocate the
      whole list at once), so it never sees an array header of four or more
      digits: such a read goes to the careful parser;
    - it accepts every RESP3 type, so a command whose arguments are not all
      bulk strings (an integer, a nested array, a null...) is an anomaly;
    - its error texts are not Redis's.
  On an anomaly the careful parser re-reads the input from the start of the
  first command not yet returned, and answers exactly as Redis would (an
  error, or for example an inline command glued behind a multibulk one).

* `CarefulParser`, in Python, handles everything else with Redis's exact
  rules and error texts (networking.c, processInlineBuffer and
  processMultibulkBuffer): inline commands (what telnet sends, with quoting),
  large arrays, large pending commands, limits (proto-max-bulk-len,
  client-query-buffer-limit, the stricter limits before AUTH). It never
  allocates for a declared length: arguments grow as their bytes arrive.
  When its buffer drains at a command boundary, the stream goes back to
  hiredis.

Finding the way back
--------------------
To hand over to the careful parser we need the bytes of the commands not yet
returned, but hiredis does not say where in its buffer it stands, nor even
whether it stopped on a command boundary: a read that ends right after an
argument leaves it inside a command with no unread byte, exactly as a read
that ends after a whole command does. So the reader keeps:

* a *region*: the chunks fed since the last known command boundary, with the
  commands already returned from them (`_chunks`, `_stash`), while a command
  is known to be pending;
* `_last`: the last read, when it ended after a complete command with no
  unread byte (a "maybe boundary"), together with its commands.

Nearly every read starts with `*` after a maybe boundary (clients write whole
pipelines), and then the maybe boundary was a real one: the continuation of
a command that stopped after an argument starts with `$`, and a `*` there
would become a nested array, which the check on arguments rejects. So the
common path pays for no bookkeeping but a `has_data()` call and two
attribute stores. Only when a read starts with anything else is `_last`
settled, exactly: hiredis accepts only canonical headers, so the bytes a
parsed command took on the wire follow from its arguments (`_encoded_size`),
and the read ended on a boundary if and only if its commands account for
all of its bytes. The same computation finds the start of the pending
command when the region passes CAREFUL_THRESHOLD (a large value, or a long
stream that never ends on a boundary, such as `redis-cli --pipe`); the
chunks before it are dropped, and a pending command that is itself larger
than the threshold moves to the careful parser. Memory held per client is
therefore about the pending command plus one read.

Known differences from Redis:
* for input no client library produces: inside a request array hiredis
  accepts simple strings (`+x`), verbatim strings and big numbers as if they
  were bulk strings, and a RESP3 set or push header (`~`, `>`) where a
  command should start, as if it were `*`;
* Redis parses one command, runs it, then parses the next, so in a pipeline
  sent before authentication an AUTH lifts the size limits (10 arguments,
  16 KB bulks) for the commands behind it in the same read; here a read is
  parsed whole, so such a pipeline must keep to the limits after its AUTH
  too (client libraries send AUTH alone and wait for its reply).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import chain
from typing import Callable

import hiredis

from ..accel import speedups
from . import errors
from .errors import ProtocolError

CAREFUL_THRESHOLD = 64 * 1024
INLINE_MAX = 64 * 1024  # PROTO_INLINE_MAX_SIZE
INT_MAX = 2**31 - 1
LLONG_MAX = 2**63 - 1
UNAUTH_MAX_MULTIBULK = 10
UNAUTH_MAX_BULK = 16384
# The careful parser hands runs of arguments of large arrays to hiredis.
BATCH_MIN = 16
BATCH_ARGS = 256
BATCH_WINDOW = 512 * 1024

# An array header of 4+ digits: a command with 1000+ arguments, or an attack.
# (A value that happens to contain such bytes merely takes the careful path.)
_BIG_ARRAY = re.compile(rb"\*[0-9]{4}")
# A bulk header of 7+ digits: checked only in reads that end inside a command.
_BIG_BULK = re.compile(rb"\$[0-9]{7}")
_join = b"".join


@dataclass
class Limits:
    proto_max_bulk_len: int = 512 * 1024 * 1024
    query_buffer_limit: int = 1024 * 1024 * 1024


class RequestReader:
    """Parse one client's request stream; see the module docstring.

    `feed(data)` returns the complete commands, in order. On a protocol
    violation it raises ProtocolError with Redis's text; the exception's
    `commands` attribute holds the complete commands that came before the
    violation in the same input (Redis executes those before closing)."""

    __slots__ = ("limits", "authenticated", "_hiredis", "_chunks", "_held", "_stash",
                 "_last_data", "_last_batch", "_careful")

    def __init__(self, limits: Limits | None = None, authenticated: bool = True) -> None:
        self.limits = limits or Limits()
        # Before AUTH, Redis accepts only tiny commands; the session flips this.
        self.authenticated = authenticated
        self._hiredis = hiredis.Reader()
        # The region: chunks fed since the last known command boundary, their
        # size, and the batches of commands returned from them.
        self._chunks: list[bytes] = []
        self._held = 0
        self._stash: list[list] = []
        # The last read, when it ended on a maybe boundary, and its commands.
        self._last_data: bytes | None = None
        self._last_batch: list = []
        self._careful: CarefulParser | None = None

    def feed(self, data: bytes) -> list[list[bytes]]:
        """Parse what arrived; returns complete commands, raises ProtocolError."""
        if self._careful is not None:
            return self._feed_careful(data)
        chunks = self._chunks
        if (parse_requests is not None and data[:1] == b"*" and self.authenticated
                and (not chunks if self._last_data is None else self._settle())):
            # On an exact command boundary (hiredis holds nothing: a maybe
            # boundary is settled first, once after each read that split a
            # command), the compiled parser takes reads of whole commands.
            whole = parse_requests(data, self.limits.proto_max_bulk_len)
            if whole is not None:
                return whole
        fresh = self._last_data is not None or not chunks
        if fresh:
            # On a (maybe) command boundary: anything but a plain multibulk
            # request (an inline command, a huge array, a client before AUTH,
            # an empty read) is the careful parser's, unless the maybe
            # boundary was not one.
            if data[:1] != b"*" or not self.authenticated or _BIG_ARRAY.search(data) is not None:
                if self._last_data is None or self._settle():
                    return self._to_careful(data)
                fresh = False  # the continuation of a command
        if not fresh and _BIG_ARRAY.search(_join(chunks[-4:])[-4:] + data) is not None:
            # (4 trailing bytes, even from several tiny chunks, so a header
            # split anywhere, even byte by byte, is still seen.)
            return self._to_careful(data)
        reader = self._hiredis
        reader.feed(data)
        commands: list[list[bytes]] = []
        try:
            if not take_commands(reader, commands):
                return self._to_careful(data)
        except hiredis.ProtocolError:
            return self._to_careful(data)
        if commands and not reader.has_data():
            # A maybe boundary.
            if fresh:
                # This read started on a (maybe) boundary with a complete
                # command: whatever came before it ended on a real one.
                if chunks:
                    chunks.clear()
                    self._stash.clear()
                    self._held = 0
            if len(data) <= _LAST_MAX:
                self._last_data = data
                self._last_batch = commands
            else:
                # Not kept (memory): settled now, cheaply when it ends with
                # its last command's exact bytes, as a read nearly always does.
                self._last_data = None
                if not data.endswith(_pack(commands[-1])):
                    self._last_data = data
                    self._last_batch = commands
                    self._settle()
                elif chunks:
                    chunks.clear()
                    self._stash.clear()
                    self._held = 0
        else:
            self._pending(data, commands, fresh)
        return commands

    def buffered(self) -> int:
        """Bytes received but not yet part of a returned command (on the fast
        path, up to one read more than that)."""
        if self._careful is not None:
            return self._careful.buffered()
        return 0 if self._last_data is not None else self._held

    # -- the slow paths ----------------------------------------------------

    def _settle(self) -> bool:
        """Decide whether the last read ended on a command boundary; if not,
        it joins the region. Returns True for a boundary."""
        data = self._last_data
        batch = self._last_batch
        assert data is not None
        self._last_data = None
        self._last_batch = []
        total = self._held + len(data)
        if _encoded_size(self._stash) + _encoded_size([batch]) == total:
            self._chunks.clear()
            self._stash.clear()
            self._held = 0
            return True
        self._chunks.append(data)
        self._stash.append(batch)
        self._held = total
        return False

    def _pending(self, data: bytes, commands: list, fresh: bool) -> None:
        """The read ended inside a command: add it to the region."""
        if self._last_data is not None:
            if fresh and commands:
                # A complete command started this read: the maybe boundary
                # before it was a real one.
                self._last_data = None
                self._last_batch = []
                self._chunks.clear()
                self._stash.clear()
                self._held = 0
            else:
                self._settle()
        chunks = self._chunks
        # A bulk header of 7+ digits (a value of 1 MB or more, maybe beyond
        # proto-max-bulk-len) goes to the careful parser now, so that the
        # error, if any, comes at once, as from Redis.
        big = _BIG_BULK.search(_join(chunks[-7:])[-7:] + data) is not None
        chunks.append(data)
        self._held += len(data)
        if commands:
            self._stash.append(commands)
        if self._held <= CAREFUL_THRESHOLD and not big:
            return
        pending = _join(chunks)[_encoded_size(self._stash):]
        chunks.clear()
        self._stash.clear()
        self._held = len(pending)
        if not pending:  # (the read did end on a boundary)
            return
        if len(pending) <= CAREFUL_THRESHOLD and not big:
            chunks.append(pending)
            return
        # A large command: the careful parser enforces the limits on it and
        # keeps it without a second copy. It holds no complete command yet.
        self._hiredis = hiredis.Reader()
        self._held = 0
        self._careful = CarefulParser(self.limits)
        try:
            self._feed_careful(pending)
        except ProtocolError as exc:
            exc.commands = commands  # type: ignore[attr-defined]
            raise

    def _to_careful(self, data: bytes) -> list[list[bytes]]:
        """Give the stream to the careful parser from the first command not
        yet returned (discarding what hiredis made of this read)."""
        if self._last_data is not None:
            self._settle()
        skip = 0
        if self._chunks:
            data = _join(self._chunks) + data
            skip = sum(map(len, self._stash))
            self._chunks.clear()
            self._stash.clear()
            self._held = 0
        self._hiredis = hiredis.Reader()
        self._careful = CarefulParser(self.limits)
        try:
            commands = self._feed_careful(data)
        except ProtocolError as exc:
            exc.commands = getattr(exc, "commands", [])[skip:]  # type: ignore[attr-defined]
            raise
        return commands[skip:] if skip else commands

    def _feed_careful(self, data: bytes) -> list[list[bytes]]:
        careful = self._careful
        assert careful is not None
        careful.authenticated = self.authenticated
        try:
            commands = careful.feed(data)
        finally:
            if careful.at_boundary():
                self._careful = None
        return commands


def take_commands(reader: hiredis.Reader, commands: list[list[bytes]]) -> bool:
    """Append the complete commands hiredis has parsed to `commands`; False
    at the first one that is not a command (not an array, `*0`, or an
    argument that is not a bulk string: a nested array or an integer must
    not reach the commands, or be stored as a value). hiredis.ProtocolError
    passes through. Compiled twin: ringcache/_speedups.pyx."""
    append = commands.append
    gets = reader.gets
    join = _join
    while True:
        command = gets()
        if command is False:
            return True
        if command.__class__ is not list or not command:
            return False
        # TypeError unless every argument is a bulk string. The cheapest
        # exact check in CPython: about 500 instructions a command, ~5 % of
        # a pipelined GET.
        try:
            join(command)
        except TypeError:
            return False
        append(command)


# The compiled whole-read parser (RequestReader.feed), or None on the pure path.
parse_requests: Callable[[bytes, int], list | None] | None = None
if speedups is not None:  # (ringcache/accel.py decides)
    take_commands = speedups.take_commands  # noqa: F811
    parse_requests = getattr(speedups, "parse_requests", None)  # (an older build lacks it)


# A read longer than this is settled at once instead of being kept.
_LAST_MAX = 16 * 1024


def _pack(command: list[bytes]) -> bytes:
    """A command as a client library sends it."""
    return b"*%d\r\n%b" % (len(command), _join([b"$%d\r\n%b\r\n" % (len(a), a) for a in command]))


def _encoded_size(batches: list[list[list[bytes]]]) -> int:
    """Bytes the commands took on the wire: `*N\\r\\n` then `$L\\r\\n<L>\\r\\n`
    per argument (hiredis accepts only canonical headers, so this is exact)."""
    commands = list(chain.from_iterable(batches))
    lengths = list(map(len, chain.from_iterable(commands)))
    counts = list(map(len, commands))
    return (sum(lengths) + 5 * len(lengths) + _digits(lengths)
            + 3 * len(counts) + _digits(counts))


def _digits(values: list[int]) -> int:
    """Total decimal digits of the (non-negative) values."""
    total = len(values)
    if values:
        top = max(values)
        threshold = 10
        while threshold <= top:
            total += sum(map(threshold.__le__, values))
            threshold *= 10
    return total


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
            del buf[: self._pos]  # cheap: a bytearray advances its start
            self._pos = 0
        buf += data
        commands: list[list[bytes]] = []
        try:
            if len(buf) > self.limits.query_buffer_limit:
                raise ProtocolError(errors.PROTO_QUERY_BUFFER)
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
        except ProtocolError as exc:
            exc.commands = commands  # type: ignore[attr-defined]
            raise
        if self._pos >= len(buf):
            buf.clear()
            self._pos = 0
        return commands

    def _inline(self) -> list[bytes] | None:
        buf = self._buf
        nl = _find_line_end(buf, b"\n", self._pos)
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
        cr = _find_line_end(buf, b"\r", self._pos)
        if cr == -1 or cr + 1 >= len(buf):
            # (Redis waits for the byte after '\r' too, and does not check it.)
            if cr == -1 and len(buf) - self._pos > INLINE_MAX:
                raise ProtocolError(errors.PROTO_BIG_MBULK_COUNT)
            return False
        count = _string2ll(buf[self._pos + 1 : cr])
        if count is None or count > INT_MAX:
            raise ProtocolError(errors.PROTO_INVALID_MULTIBULK)
        if count > UNAUTH_MAX_MULTIBULK and not self.authenticated:
            raise ProtocolError(errors.PROTO_UNAUTH_MULTIBULK)
        self._pos = cr + 2
        self._args = []
        self._remaining = max(count, 0)  # `*0` and `*-1` are empty commands
        self._bulk_len = -1
        return True

    def _multibulk_args(self) -> bool:
        buf = self._buf
        args = self._args
        assert args is not None
        batch_ok = self.authenticated
        while self._remaining:
            if self._bulk_len == -1:
                if batch_ok and self._remaining >= BATCH_MIN:
                    # Many arguments left: let hiredis take a run of them.
                    batch_ok = self._batch(args)
                    continue
                cr = _find_line_end(buf, b"\r", self._pos)
                if cr == -1 or cr + 1 >= len(buf):
                    if cr == -1 and len(buf) - self._pos > INLINE_MAX:
                        raise ProtocolError(errors.PROTO_BIG_BULK_COUNT)
                    return False
                if buf[self._pos] != 0x24:  # '$'
                    raise ProtocolError(errors.proto_expected("$", buf[self._pos]))
                length = _string2ll(buf[self._pos + 1 : cr])
                if length is None or length < 0 or length > self.limits.proto_max_bulk_len:
                    raise ProtocolError(errors.PROTO_INVALID_BULK)
                if length > UNAUTH_MAX_BULK and not self.authenticated:
                    raise ProtocolError(errors.PROTO_UNAUTH_BULK)
                self._pos = cr + 2
                self._bulk_len = length
            end = self._pos + self._bulk_len
            if end + 2 > len(buf):
                return False
            # The two bytes after the data are skipped unchecked, as Redis does.
            with memoryview(buf) as view:
                args.append(bytes(view[self._pos : end]))
            self._pos = end + 2
            self._bulk_len = -1
            self._remaining -= 1
        return True


    def _batch(self, args: list[bytes]) -> bool:
        """Parse up to BATCH_ARGS arguments in C: hiredis reads them as the
        elements of an array whose header we supply (so it allocates for at
        most BATCH_ARGS). Only a clean run is taken: anything hiredis would
        not parse exactly as Redis does (a non-bulk element, an incomplete
        run, a bulk over the limit) returns False and the argument-by-argument
        path takes over, with Redis's error if there is one."""
        count = min(self._remaining, BATCH_ARGS)
        reader = hiredis.Reader()
        reader.feed(b"*%d\r\n" % count)
        with memoryview(self._buf) as view:
            # (hiredis takes any buffer; its stub says bytes: no copy wanted)
            reader.feed(view[self._pos : self._pos + BATCH_WINDOW])  # type: ignore[arg-type]
        try:
            batch = reader.gets()
            if batch is False or batch.__class__ is not list:
                return False
            _join(batch)  # TypeError unless all are bulk strings
        except (hiredis.ProtocolError, TypeError):
            return False
        if max(map(len, batch)) > self.limits.proto_max_bulk_len:
            return False
        # The run's bytes, less the header we supplied.
        self._pos += _encoded_size([[batch]]) - 3 - len(b"%d" % count)
        args.extend(batch)
        self._remaining -= count
        return True


def _find_line_end(buf: bytearray, char: bytes, pos: int) -> int:
    """Redis finds line ends with strchr(), which stops at a NUL byte: a
    line with a NUL in it never ends (until it is too long)."""
    end = buf.find(char, pos)
    if end != -1 and buf.find(b"\0", pos, end) != -1:
        return -1
    return end


def _string2ll(raw: bytes | bytearray) -> int | None:
    """Redis's string2ll: optional '-', no '+', no spaces, no leading zeros
    ("0" itself excepted), within a signed 64-bit integer."""
    if not raw or len(raw) > 20:
        return None
    body = raw[1:] if raw[0] == 0x2D else raw  # '-'
    if not body.isdigit() or (body[0] == 0x30 and (len(raw) > 1)):
        return None
    value = int(raw)
    if not -LLONG_MAX - 1 <= value <= LLONG_MAX:
        return None
    return value


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = b"0123456789abcdefABCDEF"
_SPACE = b" \t\n\r\v\f"  # isspace(): separates arguments, may follow a quote
_TOKEN_END = b" \t\n\r"  # what ends an unquoted argument (not \v \f)


def split_args(line: bytes) -> list[bytes] | None:
    """Redis's sdssplitargs: spaces separate, "double" quotes with escapes
    (\\n \\r \\t \\b \\a \\xHH, \\<any other> is that byte) and 'single'
    quotes (only \\' is an escape); quotes may start inside an argument
    (a"b c" is `ab c`); a closing quote must be followed by a space or the
    end. Returns None for unbalanced quotes.

    sdssplitargs works on a C string: a NUL byte ends the line."""
    nul = line.find(b"\0")
    if nul != -1:
        line = line[:nul]
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
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
                    if i + 1 < n and line[i + 1] not in _SPACE:
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
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                else:
                    current.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c in _TOKEN_END:
                    break
                if c == 0x22:
                    in_dq = True
                elif c == 0x27:
                    in_sq = True
                else:
                    current.append(c)
            i += 1
        args.append(bytes(current))
