"""Helpers shared by the wire tests: raw RESP connections and small wrappers
around redis-py clients.

Importable as `from support import ...` (tests/ is on sys.path, as for
`model` and `glob_reference`).
"""

from __future__ import annotations

import contextlib
import select
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis


class RawConn:
    """A socket speaking RESP by hand, to see exact reply bytes.

    `protocol=3` sends HELLO 3 first and drops its reply."""

    def __init__(self, node, protocol: int = 2, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((node.host, node.port), timeout=timeout)
        self.buf = b""
        if protocol == 3:
            self.send("HELLO", "3")
            self.read_reply()

    @staticmethod
    def encode(*args) -> bytes:
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            arg = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
        return b"".join(parts)

    def send(self, *args) -> None:
        self.sock.sendall(self.encode(*args))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        """Read what arrived into buf; False once the node closed."""
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            data = b""
        self.buf += data
        return bool(data)

    def read_exactly(self, size: int) -> bytes:
        while len(self.buf) < size:
            if not self._fill():
                raise AssertionError(f"closed after {self.buf!r}")
        out, self.buf = self.buf[:size], self.buf[size:]
        return out

    def read_until(self, marker: bytes) -> bytes:
        """Wait until marker is in buf; returns buf (left in place)."""
        while marker not in self.buf:
            if not self._fill():
                raise AssertionError(f"connection closed waiting for {marker!r}: {self.buf!r}")
        return self.buf

    def expect(self, data: bytes) -> None:
        # Fail as soon as what arrived differs, rather than wait for more.
        while len(self.buf) < len(data) and data.startswith(self.buf):
            if not self._fill():
                break
        got, self.buf = self.buf[: len(data)], self.buf[len(data):]
        assert got == data

    def read_reply(self) -> bytes:
        """One complete reply, raw (nested aggregates included)."""
        out, need = b"", 1
        while need:
            while b"\r\n" not in self.buf:
                if not self._fill():
                    raise AssertionError(f"closed after {out + self.buf!r}")
            line, self.buf = self.buf.split(b"\r\n", 1)
            out += line + b"\r\n"
            need -= 1
            kind = line[:1]
            if kind in b"$=" and line[1:] != b"-1":
                out += self.read_exactly(int(line[1:]) + 2)
            elif kind in b"*~>" and int(line[1:]) > 0:
                need += int(line[1:])
            elif kind == b"%":
                need += 2 * int(line[1:])
        return out

    def read_text(self) -> bytes:
        """One bulk ($) or verbatim (=) reply; its payload."""
        self.read_until(b"\r\n")
        head, rest = self.buf.split(b"\r\n", 1)
        assert head[:1] in (b"$", b"="), self.buf
        size = int(head[1:])
        self.buf = rest
        payload = self.read_exactly(size + 2)
        return payload[:size]

    def drain(self) -> None:
        """Forget what was received so far."""
        self.buf = b""

    def closed(self, timeout: float = 5.0) -> bool:
        """True once the node closed the connection (what it sent first is
        kept in buf)."""
        self.sock.settimeout(timeout)
        try:
            while self._fill():
                pass
            return True
        except socket.timeout:
            return False

    def quiet(self, wait: float = 0.2) -> bool:
        """True if nothing is buffered and nothing arrives within `wait` seconds."""
        if self.buf:
            return False
        ready, _, _ = select.select([self.sock], [], [], wait)
        return not ready

    def close(self) -> None:
        self.sock.close()


class _More(Exception):
    """The buffer ends inside a reply."""


class Resp(RawConn):
    """A raw RESP connection that also parses replies.

    `call` skips push messages that arrive before its reply (RESP3 clients
    get them at any time) and keeps them, with their exact bytes, for
    `read` and `expect`."""

    def __init__(self, node, protocol: int = 2) -> None:
        self.stash: list[tuple] = []  # (value, raw bytes) of pushes skipped by call()
        super().__init__(node, timeout=5)
        if protocol == 3:
            assert self.call("HELLO", "3")["proto"] == 3

    def expect(self, data: bytes) -> None:
        """The next bytes (kept pushes first, then the wire) are exactly data."""
        kept = b"".join(raw for _, raw in self.stash)
        self.stash.clear()
        got = kept[:len(data)]
        assert len(kept) <= len(data), (kept, data)
        assert got + self.read_exactly(len(data) - len(got)) == data

    def _parse(self, pos: int):
        end = self.buf.find(b"\r\n", pos)
        if end < 0:
            raise _More
        kind, rest, pos = self.buf[pos:pos + 1], self.buf[pos + 1:end], end + 2
        if kind in (b"+", b"-"):
            return (rest if kind == b"+" else Exception(rest.decode())), pos
        if kind == b":":
            return int(rest), pos
        if kind == b"_":
            return None, pos
        if kind in (b"$", b"="):
            if rest == b"-1":
                return None, pos
            size = int(rest)
            if len(self.buf) < pos + size + 2:
                raise _More
            data = self.buf[pos:pos + size]
            return (data[4:] if kind == b"=" else data), pos + size + 2  # '=': "txt:" first
        if kind in (b"*", b">", b"~", b"%"):
            if rest == b"-1":
                return None, pos
            count = int(rest) * (2 if kind == b"%" else 1)
            items = []
            for _ in range(count):
                item, pos = self._parse(pos)
                items.append(item)
            if kind == b">":
                return ("push", items), pos
            if kind == b"%":
                return {(k.decode() if isinstance(k, bytes) else k): v
                        for k, v in zip(items[0::2], items[1::2])}, pos
            return items, pos
        raise AssertionError(f"unexpected reply {self.buf[pos:]!r}")

    def _next(self) -> tuple:
        while True:
            try:
                value, end = self._parse(0)
            except _More:
                if not self._fill():
                    raise ConnectionError("closed") from None
                continue
            raw, self.buf = self.buf[:end], self.buf[end:]
            return value, raw

    def read(self):
        """The next reply or push, parsed: push -> ('push', [...]), map -> dict."""
        if self.stash:
            return self.stash.pop(0)[0]
        return self._next()[0]

    def call(self, *args):
        self.send(*args)
        while True:
            value, raw = self._next()
            if isinstance(value, tuple):
                self.stash.append((value, raw))
                continue
            return value

    def quiet(self, wait: float = 0.05) -> bool:
        return not self.stash and super().quiet(wait)


def sub_reply(kind: bytes, name: bytes | None, count: int, protocol: int = 2) -> bytes:
    """A (un)subscribe reply, as sent in RESP2 (array) or RESP3 (push)."""
    head = b">3\r\n" if protocol == 3 else b"*3\r\n"
    null = b"_\r\n" if protocol == 3 else b"$-1\r\n"
    body = null if name is None else b"$%d\r\n%b\r\n" % (len(name), name)
    return head + b"$%d\r\n%b\r\n" % (len(kind), kind) + body + b":%d\r\n" % count


def connections(cls, node, protocol: int = 2):
    """The body of a fixture: yields make(protocol) opening a `cls` to the
    node, and closes every connection it made after the test."""
    made = []

    def make(protocol: int = protocol):
        conn = cls(node, protocol)
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close()


# -- redis-py helpers -------------------------------------------------------------


def raw(client: redis.Redis, *args):
    """The reply as the protocol parser gives it, without redis-py's
    per-command conversions (so types and texts are the node's own)."""
    conn = client.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    finally:
        client.connection_pool.release(conn)


def error(client: redis.Redis, *args) -> str:
    """The error text of a command, as the node sent it."""
    with pytest.raises(redis.ResponseError) as info:
        raw(client, *args)
    text = str(info.value)
    # redis-py strips the "ERR " prefix but keeps other codes (WRONGTYPE).
    return text if text.startswith("WRONGTYPE") else "ERR " + text


def error_text(fn, *args) -> str:
    """The text of the ResponseError that fn(*args) raises."""
    with pytest.raises(redis.ResponseError) as exc:
        fn(*args)
    return str(exc.value)


def advance(client: redis.Redis, ms: int) -> None:
    """Move the node's clock forward (DEBUG ADVANCE-CLOCK)."""
    assert raw(client, "DEBUG", "ADVANCE-CLOCK", ms) == b"OK"


def server_ms(client: redis.Redis) -> int:
    """The node's clock in ms (DEBUG ADVANCE-CLOCK moves it away from ours)."""
    client.set("__clock__", "x", px=10_000_000)
    ms = client.pexpiretime("__clock__") - 10_000_000
    client.delete("__clock__")
    return ms


def proc_status(pid: int, field: str) -> int:
    """A memory field of /proc/PID/status (VmRSS, VmHWM...), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field}")


REDIS_SERVER = shutil.which("redis-server") or "redis-server"  # scripts/setup.sh installs it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def redis_server(workdir: Path, *args: str):
    """A redis-server in workdir (its --dir), stopped by PID afterwards."""
    port = _free_port()
    log = workdir / "redis.log"
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir), "--logfile", str(log),
                             "--sanitize-dump-payload", "yes", *args], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_timeout=10)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    break
            except redis.BusyLoadingError:
                pass
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    text = log.read_text(errors="replace") if log.exists() else ""
                    raise RuntimeError(f"redis-server did not start:\n{text}")
            time.sleep(0.02)
        yield client
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
