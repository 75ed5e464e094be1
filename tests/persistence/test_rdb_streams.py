"""Streams in Redis's RDB format, against the real redis-server (7.0):
DUMP from one server RESTOREs into the other and back, a ringcache
dump.rdb with streams loads in redis-server and a redis-server dump.rdb
loads here. The comparison is XINFO STREAM FULL (entries, IDs, counters,
groups, pending entries with their delivery times and counts, consumers
with their seen times) and XRANGE, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from nodes import spawn_node
from reference_server import mask_radix_nodes, redis_server
from support import RawConn

KEYS = (b"s", b"e", b"m", b"wide")


def build(client: redis.Redis) -> None:
    """Streams in every shape: several listpack nodes, entries of other
    fields than their node's master, deleted entries, groups with pending
    entries and consumers, an emptied stream, an empty one with a group."""
    pipe = client.pipeline(transaction=False)
    for i in range(1, 251):
        fields = {b"f%d" % (i % 2): b"v%d" % i}
        if i % 7 == 0:
            fields[b"extra"] = b"x" * (i % 50)
        pipe.xadd("s", fields, id=b"%d-%d" % (i, i % 3))
    pipe.execute()
    client.xdel("s", "5-2", "6-0", "100-1", "250-1")
    client.xgroup_create("s", "g", "0")
    client.xreadgroup("g", "alice", {"s": ">"}, count=10)
    client.xreadgroup("g", "bob", {"s": ">"}, count=5)
    client.xack("s", "g", "3-0", "12-0")
    client.xgroup_create("s", "g2", "$")
    client.xgroup_createconsumer("s", "g2", "idle")
    client.xadd("e", {"a": "b"}, id="1-1")
    client.xdel("e", "1-1")
    client.xgroup_create("m", "g", "$", mkstream=True)
    client.xadd("wide", {b"k%d" % i: b"%d" % (i * 1000003) for i in range(40)}, id="7-7")
    client.xadd("wide", {b"k": b"-12"}, id="18446744073709551615-0")


def state(conn: RawConn, key: bytes) -> bytes:
    out = b""
    for argv in (("XINFO", "STREAM", key, "FULL", "COUNT", "0"), ("XRANGE", key, "-", "+"),
                 ("TYPE", key), ("OBJECT", "ENCODING", key)):
        conn.send(*argv)
        out += conn.read_reply()
    return mask_radix_nodes(out)


class _At:
    def __init__(self, port: int) -> None:
        self.host, self.port = "127.0.0.1", port


def _port(client: redis.Redis) -> int:
    return client.connection_pool.connection_kwargs["port"]


def states(client: redis.Redis) -> dict:
    conn = RawConn(_At(_port(client)))
    try:
        return {key: state(conn, key) for key in KEYS}
    finally:
        conn.close()


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as client:
        yield client


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    node = spawn_node([], tmp_path_factory.mktemp("node") / "node.log")
    yield node
    node.stop()


@pytest.fixture
def n(node):
    client = node.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def r(real):
    real.flushall()
    return real


@pytest.mark.parametrize("direction", ["redis->ringcache", "ringcache->redis"])
def test_dump_restore_between_the_servers(r, n, direction):
    source, target = (r, n) if direction == "redis->ringcache" else (n, r)
    build(source)
    for key in KEYS:
        payload = source.dump(key)
        assert payload is not None, key
        target.restore(key, 0, payload)
    assert states(target) == states(source)
    # ... and back again, where it came from: nothing lost on the way.
    for key in KEYS:
        source.restore(key, 0, target.dump(key), replace=True)
    assert states(source) == states(target)


def test_restore_refuses_a_damaged_stream_payload(n):
    build(n)
    payload = bytearray(n.dump("s"))
    payload[20] ^= 0xFF
    with pytest.raises(redis.ResponseError):
        n.restore("copy", 0, bytes(payload))
    assert not n.exists("copy")


def test_a_ringcache_dump_rdb_with_streams_loads_in_redis_server(tmp_path: Path):
    node = spawn_node([], tmp_path / "node.log")
    try:
        client = node.client()
        build(client)
        expected = states(client)
        client.save()
    finally:
        node.stop()
    with redis_server(tmp_path, "--dbfilename", "dump.rdb") as real:
        assert real.dbsize() == len(KEYS)
        assert states(real) == expected


def test_a_redis_server_dump_rdb_with_streams_loads_here(tmp_path: Path):
    with redis_server(tmp_path, "--dbfilename", "dump.rdb") as real:
        build(real)
        expected = states(real)
        real.save()
    node = spawn_node([], tmp_path / "node.log")
    try:
        assert states(node.client()) == expected
    finally:
        node.stop()


def test_damaged_stream_payloads_are_refused_never_crash(n):
    """Every byte of a stream's DUMP payload changed (the checksum made to
    match, so the parser sees the damage) and the payload cut at every
    offset: RESTORE either loads a stream or answers Redis's error, and the
    node lives on."""
    import random

    from ringcache.persistence import rdb
    from ringcache.persistence.crc64 import crc64

    n.xadd("s", {"a": "1", "b": "x" * 70}, id="1-1")
    n.xadd("s", {"a": "2", "c": "-5"}, id="2-0")
    n.xadd("s", {"a": "3", "b": "y"}, id="18446744073709551615-3")
    n.xdel("s", "2-0")
    n.xgroup_create("s", "g", "0")
    n.xreadgroup("g", "alice", {"s": ">"}, count=1)
    payload = n.dump("s")
    body, footer = payload[:-10], payload[-10:-8]
    rng = random.Random(7)
    damaged = []
    for i in range(len(body)):
        for value in (body[i] ^ 0xFF, rng.randrange(256)):
            b = bytearray(body)
            b[i] = value
            damaged.append(bytes(b))
    damaged += [body[:i] for i in range(len(body))]
    outcomes = {"loaded": 0, "refused": 0}
    for blob in damaged:
        head = blob + footer
        image = head + crc64(head).to_bytes(8, "little")
        try:
            rdb.load_payload(image, 0)
            outcomes["loaded"] += 1
        except rdb.RDBError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > len(body)
    # The same through the node, for a sample: errors, never a dead node.
    for blob in damaged[::7]:
        head = blob + footer
        try:
            n.restore("t", 0, head + crc64(head).to_bytes(8, "little"), replace=True)
        except redis.ResponseError as exc:
            assert str(exc) == "Bad data format", exc
    assert n.ping()
