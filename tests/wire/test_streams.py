"""Streams as keys: TYPE, OBJECT ENCODING, SCAN TYPE, COPY, RENAME, MOVE,
expiry, MEMORY USAGE, eviction under maxmemory, DEBUG DIGEST-VALUE."""

from __future__ import annotations

import redis

from support import advance


def _fill(r: redis.Redis, key: str = "s", n: int = 50) -> None:
    for i in range(1, n + 1):
        r.xadd(key, {"f": i}, id=f"{i}-0")
    r.xgroup_create(key, "g", "0")
    r.xreadgroup("g", "alice", {key: ">"}, count=10)


def test_a_stream_is_a_key_of_type_stream(r2):
    _fill(r2)
    assert r2.type("s") == b"stream"
    assert r2.object("encoding", "s") == b"stream"
    assert list(r2.scan_iter(_type="stream")) == [b"s"]
    assert b" encoding:stream " in r2.execute_command("DEBUG", "OBJECT", "s")
    r2.set("str", "x")
    assert sorted(r2.scan_iter(_type="string")) == [b"str"]


def test_copy_rename_move_keep_entries_and_groups(r2):
    _fill(r2)
    digest = r2.execute_command("DEBUG", "DIGEST-VALUE", "s")
    assert r2.copy("s", "c") is True
    r2.xadd("c", {"only": "copy"}, id="99-0")
    r2.xack("c", "g", "1-0")
    assert r2.xlen("s") == 50 and r2.xlen("c") == 51  # the copy shares nothing
    assert r2.xpending("s", "g")["pending"] == 10 and r2.xpending("c", "g")["pending"] == 9
    assert r2.execute_command("DEBUG", "DIGEST-VALUE", "s") == digest
    r2.rename("s", "t")
    assert r2.execute_command("DEBUG", "DIGEST-VALUE", "t") == digest
    assert r2.move("t", 1) is True
    r2.select(1)
    assert r2.xinfo_groups("t")[0]["pending"] == 10
    r2.flushdb()
    r2.select(0)


def test_expiry_of_a_stream(r2):
    _fill(r2)
    r2.expire("s", 10)
    advance(r2, 11_000)
    assert r2.exists("s") == 0 and r2.xlen("s") == 0


def test_memory_usage_grows_with_entries(r2):
    r2.xadd("s", {"f": "v"}, id="1-0")
    small = r2.memory_usage("s")
    pipe = r2.pipeline(transaction=False)
    for i in range(2, 5002):
        pipe.xadd("s", {"f": "v" * 20}, id=f"{i}-0")
    pipe.execute()
    big = r2.memory_usage("s")
    assert small < 2000 and 5000 * 40 < big < 5000 * 400
    assert abs(r2.memory_usage("s", samples=0) - big) < big * 0.3


def test_streams_are_evicted_under_maxmemory(node):
    r = node.client()
    try:
        r.config_set("maxmemory-policy", "allkeys-random")
        used = r.info("memory")["used_memory"]
        r.config_set("maxmemory", used + 2_000_000)
        pipe = r.pipeline(transaction=False)
        for k in range(200):
            for i in range(50):
                pipe.xadd(f"s{k}", {"f": "v" * 100})
            pipe.execute()
        evicted = r.info("stats")["evicted_keys"]
        assert evicted > 0 and r.dbsize() < 200
    finally:
        r.config_set("maxmemory", 0)
        r.config_set("maxmemory-policy", "noeviction")
        r.close()


def test_xadd_is_refused_over_maxmemory_with_noeviction(node):
    r = node.client()
    try:
        r.xadd("s", {"f": "v"})
        r.config_set("maxmemory", 1)
        try:
            r.xadd("s", {"f": "v"})
            raise AssertionError("XADD was accepted over maxmemory")
        except redis.exceptions.OutOfMemoryError:
            pass
        assert r.xdel("s", "0-1") == 0  # XDEL is not denyoom
        assert r.xlen("s") == 1
    finally:
        r.config_set("maxmemory", 0)
        r.close()
