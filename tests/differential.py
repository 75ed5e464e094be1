"""Differential testing against the installed redis-server 7.0: the same
commands go to a ringcache node and to a real redis-server, and their
replies (errors included, as ("error", text)) are compared.

`redis_server(workdir)` starts one (stopped by PID afterwards); the
`real_port` and `pair` fixtures below are imported by the test modules that
use them; `clients` builds a pair for a module's own fixture
(tests/wire/test_scripting.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import redis

import support

@contextlib.contextmanager
def redis_server(workdir: Path, *extra: str):
    """A redis-server 7 in workdir, stopped by PID afterwards: its port
    (support.redis_server, which yields a client, is the one starter)."""
    with support.redis_server(workdir, *extra) as client:
        yield client.connection_pool.connection_kwargs["port"]


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


@contextlib.contextmanager
def clients(node, real_port: int, protocol: int, raw: bool = True):
    """(ringcache client, redis-server client), redis-server flushed, same
    protocol; raw: without redis-py's reply parsing, which must not hide a
    difference."""
    ours = node.client(protocol=protocol)
    theirs = redis.Redis(port=real_port, socket_timeout=10, protocol=protocol)
    theirs.flushall()
    if raw:
        for client in (ours, theirs):
            client.response_callbacks.clear()
    try:
        yield ours, theirs
    finally:
        ours.close()
        theirs.close()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def pair(node, real_port, request):
    """(ringcache client, redis-server client), both flushed, same protocol."""
    with clients(node, real_port, request.param) as both_clients:
        yield both_clients


def both(pair, *args):
    """Run args on both servers, ignoring the replies (setting up data)."""
    for client in pair:
        outcome(client, *args)
