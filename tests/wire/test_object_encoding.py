"""OBJECT ENCODING of containers by their contents, against the installed
redis-server 7.0 where 7.0 and 7.4 agree (hashes, sorted sets, sets of
integers, big sets), and the 7.2+ answers alone where 7.0 differs (small
sets of strings and small lists are listpack since 7.2)."""

from __future__ import annotations

from differential import both, outcome, pair, real_port, same  # noqa: F401 (fixtures)


def _grow(pair, command, key, items):
    for i in range(0, len(items), 100):
        both(pair, command, key, *items[i:i + 100])


def test_encodings_as_redis(pair):
    both(pair, "HSET", "h", "f", "v")
    both(pair, "HSET", "hlong", "f", "v" * 65)
    _grow(pair, "HSET", "hbig", [x for i in range(513) for x in (f"f{i}", "v")])
    both(pair, "HSET", "h512", *[x for i in range(512) for x in (f"f{i}", "v")])
    both(pair, "ZADD", "z", 1, "a")
    both(pair, "ZADD", "zlong", 1, "m" * 65)
    _grow(pair, "ZADD", "zbig", [x for i in range(129) for x in (i, f"m{i}")])
    both(pair, "SADD", "ints", 1, 2, -3, 9223372036854775807)
    _grow(pair, "SADD", "intsbig", list(range(513)))
    both(pair, "SADD", "notint", 1, "01")
    _grow(pair, "SADD", "strbig", [f"s{i}" for i in range(129)])
    for key in ("h", "hlong", "hbig", "h512", "z", "zlong", "zbig", "ints", "intsbig", "strbig"):
        same(pair, "OBJECT", "ENCODING", key)
    same(pair, "CONFIG", "SET", "zset-max-listpack-entries", 0)
    same(pair, "ZADD", "z0", 1, "a")
    same(pair, "OBJECT", "ENCODING", "z0")
    same(pair, "CONFIG", "SET", "zset-max-listpack-entries", 128)


def test_encodings_of_redis_7_2(r):
    r.sadd("small", "a", "b")
    assert r.object("encoding", "small") in (b"listpack", "listpack")
    r.sadd("mixed", "1", "01")
    assert r.object("encoding", "mixed") in (b"listpack", "listpack")
    r.rpush("l", "a", "b")
    assert r.object("encoding", "l") in (b"listpack", "listpack")
    r.rpush("big", *["x" * 1000 for _ in range(9)])
    assert r.object("encoding", "big") in (b"quicklist", "quicklist")
    r.hset("ttl", "f", "v")
    r.hexpire("ttl", 100, "f")
    assert r.object("encoding", "ttl") in (b"listpackex", "listpackex")
