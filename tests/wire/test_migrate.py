"""MIGRATE between ringcache nodes and a real redis-server 7.0, both ways:
keys move with their TTLs, COPY and REPLACE, KEYS, the target's errors and
the connection errors in Redis's words, and the same argument errors,
GETKEYS and COMMAND INFO as redis-server."""

from __future__ import annotations

import pytest
import redis

from nodes import spawn_node
from support import redis_server


@pytest.fixture
def servers(tmp_path):
    for name in ("a", "b", "r"):
        (tmp_path / name).mkdir()
    a = spawn_node(["--appendonly", "yes"], tmp_path / "a" / "node.log")
    b = spawn_node([], tmp_path / "b" / "node.log")
    try:
        with redis_server(tmp_path / "r") as real:
            yield a, b, real
    finally:
        a.stop()
        b.stop()


def port_of(client: redis.Redis) -> int:
    return client.connection_pool.connection_kwargs["port"]


def test_keys_move_with_their_ttls_both_ways(servers):
    a, b, real = servers
    ca, cb = a.client(), b.client()
    ca.set("k1", "v1")
    ca.set("k2", "v2", px=50000)
    ca.rpush("l", 1, 2, 3)
    assert ca.execute_command("MIGRATE", "127.0.0.1", b.port, "k1", 0, 1000) == b"OK"
    assert cb.get("k1") == b"v1" and not ca.exists("k1")
    rport = port_of(real)
    assert ca.execute_command("MIGRATE", "127.0.0.1", rport, "", 0, 1000, "COPY",
                              "KEYS", "k2", "l", "missing") == b"OK"
    assert real.get("k2") == b"v2" and 49000 < real.pttl("k2") <= 50000
    assert real.lrange("l", 0, -1) == [b"1", b"2", b"3"]
    assert ca.exists("k2", "l") == 2  # COPY keeps them
    with pytest.raises(redis.ResponseError, match="^Target instance replied with error: BUSYKEY"):
        ca.execute_command("MIGRATE", "127.0.0.1", rport, "", 0, 1000, "KEYS", "k2")
    assert ca.exists("k2")  # refused there: kept here
    assert ca.execute_command("MIGRATE", "127.0.0.1", rport, "", 0, 1000, "REPLACE",
                              "KEYS", "k2", "l") == b"OK"
    assert ca.exists("k2", "l") == 0
    assert ca.execute_command("MIGRATE", "127.0.0.1", rport, "nothing", 0, 1000) == b"NOKEY"
    # redis-server -> ringcache
    real.set("fromredis", "x", px=90000)
    real.sadd("s", "a", "b")
    assert real.execute_command("MIGRATE", "127.0.0.1", a.port, "", 3, 1000,
                                "KEYS", "fromredis", "s") == b"OK"
    ca.select(3)
    assert ca.get("fromredis") == b"x" and 89000 < ca.pttl("fromredis") <= 90000
    assert ca.smembers("s") == {b"a", b"b"}


def test_moved_keys_are_deleted_as_a_del_in_the_aof(servers):
    a, b, _ = servers
    ca = a.client()
    ca.set("gone", "1")
    ca.set("stays", "1")
    assert ca.execute_command("MIGRATE", "127.0.0.1", b.port, "gone", 0, 1000) == b"OK"
    aof = b"".join(p.read_bytes() for p in sorted((a.log_path.parent / "appendonlydir").glob("*.incr.aof")))
    assert b"DEL\r\n$4\r\ngone" in aof and b"MIGRATE" not in aof.upper()


def test_connection_errors(servers):
    a, _, _ = servers
    ca = a.client()
    ca.set("x", "1")
    with redis.Redis(port=a.port) as probe:  # a closed port: nobody listens on port 1
        with pytest.raises(redis.ResponseError, match="^IOERR error or timeout connecting to the client$"):
            probe.execute_command("MIGRATE", "127.0.0.1", 1, "x", 0, 200)
    assert ca.get("x") == b"1"


@pytest.mark.parametrize("argv", [
    ["MIGRATE", "h", "1", "k", "0", "5", "keys", "a"],
    ["MIGRATE", "h", "1", "", "0", "5", "keys", "a", "b"],
    ["MIGRATE", "h", "1", "k", "0", "5", "auth"],
    ["MIGRATE", "h", "1", "k", "0", "5", "auth2", "u"],
    ["MIGRATE", "h", "1", "k", "0", "5", "bogus"],
    ["MIGRATE", "h", "1", "k", "x", "5"],
    ["MIGRATE", "h", "1", "k", "0"],
    ["COMMAND", "GETKEYS", "MIGRATE", "h", "1", "", "0", "5", "KEYS", "a", "b"],
    ["COMMAND", "GETKEYS", "MIGRATE", "h", "1", "k", "0", "5", "AUTH", "p", "COPY"],
    ["COMMAND", "INFO", "migrate", "restore-asking"],
])
def test_same_replies_as_redis(servers, argv):
    a, _, real = servers
    replies = []
    for client in (a.client(), redis.Redis(port=port_of(real), protocol=2)):
        client.response_callbacks.clear()
        try:
            replies.append(client.execute_command(*argv))
        except redis.ResponseError as exc:
            replies.append(("error", str(exc)))
    assert replies[0] == replies[1]
