"""Differential testing against the installed redis-server 7.0: the same
commands go to a ringcache node and to a real redis-server, and their
replies (errors included, as ("error", text)) are compared.

`redis_server(workdir)` starts one (stopped by PID afterwards); the
`real_port` and `pair` fixtures that use it live in conftest-style modules
that import them (tests/wire/test_scripting.py, tests/wire/test_commands_diff.py)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

REDIS_SERVER = shutil.which("redis-server") or "redis-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def redis_server(workdir: Path, *extra: str):
    """A redis-server 7 in workdir, stopped by PID afterwards."""
    port = _free_port()
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir), *extra], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port, socket_timeout=10)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.02)
        client.close()
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def outcome(client: redis.Redis, *args):
    """A command's reply, or its error as ("error", text); errors inside
    arrays likewise (exceptions compare by identity)."""
    try:
        return comparable(client.execute_command(*args))
    except redis.ResponseError as exc:
        return ("error", str(exc))


def comparable(reply):
    if isinstance(reply, Exception):
        return ("error", type(reply).__name__, str(reply))
    if isinstance(reply, list):
        return [comparable(item) for item in reply]
    return reply


def same(pair, *args):
    """Run args on both servers of pair (ours, theirs); the replies must match."""
    ours, theirs = pair
    expected = outcome(theirs, *args)
    got = outcome(ours, *args)
    assert got == expected, (args, got, expected)
    return got


@pytest.fixture(scope="module")
def real_port(tmp_path_factory):
    """One redis-server for a test module."""
    with redis_server(tmp_path_factory.mktemp("redis")) as port:
        yield port


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def pair(node, real_port, request):
    """(ringcache client, redis-server client), both flushed, same protocol."""
    ours = node.client(protocol=request.param)
    theirs = redis.Redis(port=real_port, socket_timeout=10, protocol=request.param)
    theirs.flushall()
    for client in (ours, theirs):  # raw replies: redis-py's parsing must not hide a difference
        client.response_callbacks.clear()
    yield ours, theirs
    ours.close()
    theirs.close()


def both(pair, *args):
    """Run args on both servers, ignoring the replies (setting up data)."""
    for client in pair:
        outcome(client, *args)
