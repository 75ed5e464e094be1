"""The write commands of issue 17's families (bitmaps, HyperLogLog, SORT
STORE, GEO) on the write stream: a replica that follows them ends with the
primary's DEBUG DIGEST, and a node restarted from its AOF (kill -9) or from
its snapshot holds the same data set. PFCOUNT is among them: it writes the
cardinality it computed into the value, and propagates itself as Redis."""

from __future__ import annotations

from nodes import spawn_node
from test_replication import cluster, digest_of, follow, in_sync  # noqa: F401 (the fixture)

WRITES = [
    ("SETBIT", "bits", 7, 1), ("SETBIT", "bits", 100, 1), ("SETBIT", "bits", 3, 0),
    ("BITFIELD", "bf", "SET", "u8", 0, 200, "OVERFLOW", "SAT", "INCRBY", "i5", 3, 100, "INCRBY", "u4", "#3", 7),
    ("BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "u8", 0, 100),
    ("SET", "s1", "foobar"), ("SET", "s2", "abcdef"),
    ("BITOP", "XOR", "x", "s1", "s2", "bits"), ("BITOP", "NOT", "n", "s1"), ("BITOP", "AND", "gone", "nokey"),
    ("PFADD", "h1", *[f"e{i}" for i in range(100)]), ("PFCOUNT", "h1"),
    ("PFADD", "h2", *[f"e{i}" for i in range(50, 4000)]), ("PFCOUNT", "h1", "h2"),
    ("PFMERGE", "h3", "h1", "h2"), ("PFCOUNT", "h3"), ("PFADD", "h3", "late"),
    ("RPUSH", "l", "3", "1", "2"), ("MSET", "w_1", "9", "w_2", "8", "w_3", "7"),
    ("SORT", "l", "STORE", "sorted"), ("SORT", "l", "BY", "w_*", "DESC", "STORE", "byweight"),
    ("SADD", "set", "b", "a", "c"), ("SORT", "set", "BY", "nosort", "STORE", "fromset"),
    ("GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"),
    ("GEOADD", "g", "CH", "XX", "13.4", "38.1", "Palermo"),
    ("GEORADIUS", "g", "15", "37", "200", "km", "STORE", "r1"),
    ("GEORADIUSBYMEMBER", "g", "Palermo", "300", "km", "STOREDIST", "r2"),
    ("GEOSEARCHSTORE", "r3", "g", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "STOREDIST"),
]


def _run(client) -> None:
    for args in WRITES:
        client.execute_command(*args)


def test_replica_follows_the_new_families(cluster):
    primary = cluster()
    replica = cluster()
    follow(replica, primary)
    in_sync(primary, replica)
    with primary.client() as c:
        _run(c)
        c.execute_command("PFCOUNT", "h3")  # a read-only command that changes the value
    in_sync(primary, replica)
    with replica.client() as r, primary.client() as c:
        for key in ("bits", "bf", "x", "n", "h1", "h3", "sorted", "g", "r2", "r3"):
            assert r.dump(key) == c.dump(key), key
        assert r.exists("gone") == 0


def test_aof_and_snapshot_restarts_keep_them(tmp_path):
    node = spawn_node(["--appendonly", "yes", "--appendfsync", "always"], tmp_path / "node.log")
    try:
        with node.client() as c:
            _run(c)
        digest = digest_of(node)
        node.proc.kill()  # kill -9: only the AOF remains
        node.proc.wait(10)
        node = spawn_node(["--appendonly", "yes"], tmp_path / "node.log")
        assert digest_of(node) == digest
        with node.client() as c:
            assert c.save()
        node.stop()
        node = spawn_node(["--appendonly", "no"], tmp_path / "node.log")  # from dump.rdb
        assert digest_of(node) == digest
    finally:
        node.stop()


def _values(client) -> dict:
    """The values as a client reads them (DUMP payloads differ: Redis
    compresses long strings with LZF)."""
    out = {key: client.get(key) for key in ("bits", "bf", "x", "n", "h1", "h2", "h3")}
    out.update({key: client.lrange(key, 0, -1) for key in ("sorted", "byweight", "fromset")})
    out.update({key: client.zrange(key, 0, -1, withscores=True) for key in ("g", "r1", "r2", "r3")})
    return out


def test_redis_server_loads_the_snapshot_of_the_new_families(tmp_path):
    """The values are plain strings, lists and sorted sets in Redis's own
    layouts: redis-server reads them from ringcache's dump.rdb and sees the
    same bytes, counts and positions."""
    import redis

    from differential import redis_server
    node = spawn_node([], tmp_path / "node.log")
    try:
        with node.client() as c:
            _run(c)
            counts = (c.pfcount("h3"), c.pfcount("h1", "h2"))  # (PFCOUNT h3 writes its cache)
            expected = _values(c)
            positions = c.geopos("g", "Palermo", "Catania")
            assert c.save()
    finally:
        node.stop()
    with redis_server(tmp_path, "--dbfilename", "dump.rdb") as port:
        theirs = redis.Redis(port=port)
        assert _values(theirs) == expected
        assert (theirs.pfcount("h3"), theirs.pfcount("h1", "h2")) == counts
        assert theirs.geopos("g", "Palermo", "Catania") == positions
        theirs.close()
