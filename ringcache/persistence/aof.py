"""The append-only file: its command encoding, its parser, its manifest, and
`ringcache check-aof`.

Theory of operation
-------------------
The AOF is Redis 7's multi-part layout, in `dir`/`appenddirname`:

    appendonly.aof.manifest          which files make up the AOF, in order
    appendonly.aof.<seq>.base.rdb    a snapshot (snapshot.py format)
    appendonly.aof.<seq>.incr.aof    the write commands after it, as RESP arrays

Replaying the base and then each incr file, in manifest order, rebuilds the
dataset. A rewrite (BGREWRITEAOF) needs no rewrite buffer: the node first
opens a new incr file and lists it in the manifest, so every later write goes
there; a forked child writes a new base from the fork's point-in-time image;
when it succeeds the manifest becomes (new base, new incr) in one atomic
rename, and the old files are deleted. A crash at any moment leaves a
manifest that names a complete, replayable set.

Commands are stored exactly as a client would send them (`*N` then `$len`
bulk strings), so the file is readable with any RESP parser and the node can
replay it through its own dispatcher. `iter_commands` knows where each
command starts: a file that ends inside a command is *truncated* (a crash in
the middle of a write: load the prefix, drop the tail), a byte that does not
fit the format is *corrupt* (refuse, and name `ringcache check-aof --fix`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterator, TextIO

from ..protocol.resp import BULK_HEADERS
from .snapshot import SnapshotError, SnapshotReader

_CRLF = b"\r\n"
_PARTIAL_LENGTH = re.compile(rb"\d{0,20}\r?")  # a length line cut short by the end of the file


def encode_command(argv: list[bytes]) -> bytes:
    parts = [b"*%d\r\n" % len(argv)]
    append = parts.append
    for arg in argv:
        n = len(arg)
        append(BULK_HEADERS[n] if n < 1024 else b"$%d\r\n" % n)
        append(arg)
        append(_CRLF)
    return b"".join(parts)


class AOFFormatError(Exception):
    """`truncated`: the data ends inside the command starting at `offset`;
    otherwise the byte at `offset` is not where the format allows."""

    def __init__(self, reason: str, offset: int, command_offset: int, truncated: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset  # the byte at fault (the end of data if truncated)
        self.command_offset = command_offset  # start of the command it is in
        self.truncated = truncated


def _number(data: bytes, pos: int, mark: int, cmd_start: int) -> tuple[int, int]:
    """`<mark><digits>\\r\\n` at pos -> (number, position after it)."""
    n = len(data)
    if pos >= n:
        raise AOFFormatError("unexpected end of file", n, cmd_start, True)
    if data[pos] != mark:
        raise AOFFormatError(f"expected '{chr(mark)}', got {data[pos:pos + 1]!r}", pos, cmd_start, False)
    eol = data.find(_CRLF, pos + 1, pos + 24)
    if eol < 0:
        tail = data[pos + 1:pos + 24]
        if pos + 1 + len(tail) == n and _PARTIAL_LENGTH.fullmatch(tail):
            raise AOFFormatError("unexpected end of file", n, cmd_start, True)
        raise AOFFormatError("bad length line", pos, cmd_start, False)
    digits = data[pos + 1:eol]
    if not digits.isdigit():
        raise AOFFormatError(f"bad length {digits[:20]!r}", pos, cmd_start, False)
    return int(digits), eol + 2


def iter_commands(data: bytes, start: int = 0) -> Iterator[tuple[int, list[bytes]]]:
    """(offset, argv) of each command in data; AOFFormatError at the first
    damage (after yielding every command before it)."""
    pos = start
    end = len(data)
    while pos < end:
        cmd_start = pos
        count, pos = _number(data, pos, 42, cmd_start)  # '*'
        if count < 1:
            raise AOFFormatError("empty command", cmd_start, cmd_start, False)
        argv = []
        for _ in range(count):
            length, pos = _number(data, pos, 36, cmd_start)  # '$'
            stop = pos + length
            if stop + 2 > end:
                raise AOFFormatError("unexpected end of file", end, cmd_start, True)
            if data[stop:stop + 2] != _CRLF:
                raise AOFFormatError("bulk string not followed by CRLF", stop, cmd_start, False)
            argv.append(data[pos:stop])
            pos = stop + 2
        yield cmd_start, argv


@dataclass
class CheckResult:
    """What `check_commands` found: `valid_end` is where the usable prefix
    ends (the whole length when nothing is wrong)."""

    size: int
    commands: int
    valid_end: int
    error: AOFFormatError | None = None
    open_multi: bool = False  # the file ends inside MULTI ... (no EXEC)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.open_multi


def check_commands(data: bytes) -> CheckResult:
    """Parse a whole incr file: how far it is valid, and why not further.
    A MULTI without its EXEC at the end counts as a truncation at the MULTI
    (Redis reverts an incomplete transaction)."""
    commands = 0
    multi_at = -1
    valid_end = len(data)
    try:
        for offset, argv in iter_commands(data):
            name = argv[0].lower()
            if name == b"multi":
                multi_at = offset
            elif name == b"exec":
                multi_at = -1
            commands += 1
    except AOFFormatError as exc:
        result = CheckResult(len(data), commands, exc.command_offset, exc)
        if multi_at >= 0:
            result.valid_end = multi_at
            result.open_multi = True
        return result
    if multi_at >= 0:
        return CheckResult(len(data), commands, multi_at, None, open_multi=True)
    return CheckResult(len(data), commands, valid_end)


# -----------------------------------------------------------------------------
# The manifest


@dataclass
class AOFFile:
    name: str
    seq: int
    kind: str  # "b" base, "i" incr, "h" history (to delete)


def parse_manifest(text: str) -> list[AOFFile]:
    """Redis 7's manifest: one `file NAME seq N type b|i|h` line per file."""
    files = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if len(words) % 2:
            raise ValueError(f"Invalid AOF manifest file format (line {number})")
        fields = dict(zip(words[::2], words[1::2]))
        try:
            files.append(AOFFile(fields["file"], int(fields["seq"]), fields["type"]))
        except (KeyError, ValueError):
            raise ValueError(f"Invalid AOF manifest file format (line {number})") from None
    return files


def format_manifest(files: list[AOFFile]) -> str:
    return "".join(f"file {f.name} seq {f.seq} type {f.kind}\n" for f in files)




# -----------------------------------------------------------------------------
# ringcache check-aof [--fix] FILE


def check_aof_main(args: list[str], out: TextIO | None = None) -> int:
    """`ringcache check-aof [--fix] FILE`: FILE is an incr file, a manifest
    (every file it lists is checked) or a base snapshot. --fix truncates a
    damaged incr file at the start of the first bad command (or of an
    unfinished MULTI), as redis-check-aof --fix does; a damaged snapshot
    cannot be repaired."""
    import sys

    out = out or sys.stdout
    fix = "--fix" in args
    paths = [a for a in args if a != "--fix"]
    if len(paths) != 1:
        print("Usage: ringcache check-aof [--fix] <file.manifest|file.aof|file.rdb>", file=out)
        return 1
    path = paths[0]
    if not os.path.exists(path):
        print(f"Cannot open file {path}: {os.strerror(2)}", file=out)
        return 1
    if path.endswith(".manifest"):
        with open(path, encoding="utf-8") as f:
            try:
                files = parse_manifest(f.read())
            except ValueError as exc:
                print(f"{exc}: {path}", file=out)
                return 1
        directory = os.path.dirname(path)
        live = [f for f in files if f.kind in ("b", "i")]
        status = 0
        for i, entry in enumerate(live):
            target = os.path.join(directory, entry.name)
            status |= _check_one(target, fix and i == len(live) - 1, out,
                                 last=i == len(live) - 1)
        return status
    return _check_one(path, fix, out, last=True)


def _check_one(path: str, fix: bool, out: TextIO, last: bool) -> int:
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(b"RCSNAP"):
        try:
            with open(path, "rb") as f:
                SnapshotReader(f, path).load(lambda *a: None, 0)
        except SnapshotError as exc:
            print(f"{exc.describe()} (a snapshot cannot be repaired by check-aof)", file=out)
            return 1
        print(f"Snapshot {path} is valid", file=out)
        return 0
    with open(path, "rb") as f:
        data = f.read()
    result = check_commands(data)
    if result.ok:
        print(f"AOF {path} is valid ({result.commands} commands, {result.size} bytes)", file=out)
        return 0
    if result.open_multi and result.error is None:
        what = f"an unfinished MULTI at offset {result.valid_end}"
    else:
        assert result.error is not None
        kind = "truncated" if result.error.truncated else "corrupt"
        what = f"{kind} at offset {result.error.offset} ({result.error.reason})"
    print(f"AOF {path} is not valid: {what}", file=out)
    if not fix:
        print("Use: ringcache check-aof --fix <file> to truncate it at the last valid command", file=out)
        return 1
    if not last:
        print(f"Cannot fix {path}: only the last file of an AOF can be truncated", file=out)
        return 1
    dropped = result.size - result.valid_end
    print(f"This will shrink the AOF {path} from {result.size} bytes, with {dropped} bytes, "
          f"to {result.valid_end} bytes", file=out)
    with open(path, "r+b") as f:
        f.truncate(result.valid_end)
        f.flush()
        os.fsync(f.fileno())
    print("Successfully truncated AOF " + path, file=out)
    return 0
