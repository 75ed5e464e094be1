"""Error replies retain no memory (issue 11).

A shared exception instance collects the traceback of every raise, and with it
the frames, connections and buffers it passed through: 200k WRONGTYPE errors
once took a node from 29 to 236 MB RSS, invisible to used_memory and so to
maxmemory. These tests make tens of thousands of error replies of every kind
and assert that the node's RSS stays flat once warmed up."""

from __future__ import annotations

import socket

import pytest

from fuzzing import rss_kb
from nodes import start_node

# With the leak each error kept ~1 KB; 40k errors would have grown RSS by
# ~40 MB. The bound leaves room for the allocator's own noise.
ROUNDS = 40_000
MAX_GROWTH_KB = 4_000


def _encode(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


# One command per error path: WRONGTYPE from each family, argument parsing,
# arity, unknown commands, errors queued in and raised by MULTI/EXEC.
ERRORS = [
    _encode(b"SADD", b"str", b"m"),
    _encode(b"LPUSH", b"str", b"x"),
    _encode(b"HSET", b"str", b"f", b"v"),
    _encode(b"ZADD", b"str", b"1", b"m"),
    _encode(b"ZSCORE", b"str", b"m"),
    _encode(b"APPEND", b"set", b"x"),
    _encode(b"GET", b"set"),
    _encode(b"INCR", b"str"),
    _encode(b"SET", b"k", b"v", b"EX", b"nope"),
    _encode(b"GET"),
    _encode(b"NOSUCHCOMMAND", b"a"),
    _encode(b"MULTI") + _encode(b"SADD", b"str", b"m") + _encode(b"EXEC"),
    _encode(b"MULTI") + _encode(b"GET") + _encode(b"EXEC"),
]


def _round_trip(port: int, payload: bytes) -> None:
    """Pipeline payload followed by a PING, read until PONG arrives."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(payload + _encode(b"PING"))
        tail = b""
        while not tail.endswith(b"+PONG\r\n"):
            chunk = sock.recv(1 << 20)
            assert chunk, "node closed the connection"
            tail = (tail + chunk)[-16:]


@pytest.fixture
def leak_node(tmp_path):
    with start_node(tmp_path) as node:
        client = node.client()
        client.set("str", "v")
        client.sadd("set", "m")
        client.close()
        yield node


def test_pipelined_error_replies_keep_rss_flat(leak_node):
    batch = b"".join(ERRORS) * 200
    per_batch = len(ERRORS) * 200
    for _ in range(3):  # warm-up: the allocator, caches, the slowlog
        _round_trip(leak_node.port, batch)
    before = rss_kb(leak_node.proc.pid)
    for _ in range(ROUNDS // per_batch + 1):
        _round_trip(leak_node.port, batch)
    growth = rss_kb(leak_node.proc.pid) - before
    assert growth < MAX_GROWTH_KB, f"RSS grew {growth} KB over {ROUNDS} error replies"


def test_one_error_per_connection_keeps_rss_flat(leak_node):
    # Each connection's error must not pin the connection after it closed.
    one = _encode(b"SADD", b"str", b"m")
    for _ in range(300):
        _round_trip(leak_node.port, one)
    before = rss_kb(leak_node.proc.pid)
    for _ in range(3000):
        _round_trip(leak_node.port, one)
    growth = rss_kb(leak_node.proc.pid) - before
    assert growth < MAX_GROWTH_KB, f"RSS grew {growth} KB over 3000 connections"
