"""HyperLogLog (PFADD PFCOUNT PFMERGE) against the installed redis-server
7.0: the same elements added on both servers must leave the same bytes
(sparse, dense, the promotion between them, the cached cardinality in the
header), the counts must agree, and a value copied from one server with
SET counts and merges the same on the other."""

from __future__ import annotations

import random

from differential import both, outcome, pair, real_port, same  # noqa: F401 (fixtures)
from test_notifications import ev, events  # noqa: F401 (the fixture)


def same_value(pair, key):
    ours, theirs = pair
    assert ours.execute_command("GET", key) == theirs.execute_command("GET", key), key


def test_sparse_adds_leave_redis_bytes(pair):
    same(pair, "PFADD", "h")
    same_value(pair, "h")
    same(pair, "PFCOUNT", "h")
    same_value(pair, "h")  # the cache written back into the header
    for i in range(60):
        same(pair, "PFADD", "h", f"e{i}", f"e{i * 7}", "same")
        same_value(pair, "h")
    same(pair, "PFCOUNT", "h")
    same_value(pair, "h")
    same(pair, "PFADD", "h", "e1")  # nothing new: 0, value untouched
    same_value(pair, "h")


def test_promotion_to_dense(pair):
    rng = random.Random(5)
    elements = [rng.randbytes(rng.randrange(1, 20)) for _ in range(3000)]
    for i in range(0, 3000, 100):
        same(pair, "PFADD", "big", *elements[i:i + 100])
        same_value(pair, "big")
    same(pair, "PFCOUNT", "big")
    same_value(pair, "big")
    assert len(pair[0].execute_command("GET", "big")) == 12304  # dense


def test_sparse_max_bytes_is_honoured(pair):
    for client in pair:
        client.config_set("hll-sparse-max-bytes", 100)
    try:
        for i in range(0, 200, 10):
            same(pair, "PFADD", "h", *[f"m{j}" for j in range(i, i + 10)])
            same_value(pair, "h")
    finally:
        for client in pair:
            client.config_set("hll-sparse-max-bytes", 3000)


def test_pfcount_and_pfmerge(pair):
    rng = random.Random(9)
    for key, n in (("a", 50), ("b", 500), ("c", 5000)):
        for i in range(0, n, 250):
            same(pair, "PFADD", key, *[str(rng.randrange(10**6)) for _ in range(min(250, n - i))])
    for args in [("PFCOUNT", "a", "b"), ("PFCOUNT", "a", "b", "c", "nokey"), ("PFCOUNT", "nokey"),
                 ("PFMERGE", "d", "a", "b"), ("GET", "d"), ("PFCOUNT", "d"), ("GET", "d"),
                 ("PFMERGE", "e", "a", "c"), ("GET", "e"), ("PFMERGE", "a", "b"), ("GET", "a"),
                 ("PFMERGE", "f"), ("GET", "f"), ("PFMERGE", "f", "nokey"), ("GET", "f"),
                 ("PFCOUNT", "c"), ("GET", "c"), ("PFMERGE", "c", "a"), ("GET", "c"), ("PFCOUNT", "c")]:
        same(pair, *args)


def test_errors_as_redis(pair):
    both(pair, "SET", "s", "hello")
    both(pair, "RPUSH", "l", "x")
    both(pair, "SET", "fake", "HYLL" + "\x00" * 12 + "\x01")
    both(pair, "SET", "fakedense", "HYLL\x00" + "\x00" * 11 + "abc")
    both(pair, "PFADD", "ok", "x")
    for args in [("PFADD", "s", "x"), ("PFADD", "l", "x"), ("PFCOUNT", "s"), ("PFCOUNT", "l"),
                 ("PFCOUNT", "ok", "s"), ("PFMERGE", "ok", "s"), ("PFMERGE", "l", "ok"),
                 ("PFMERGE", "s"), ("PFADD", "fakedense", "x"), ("PFCOUNT", "fakedense"),
                 ("PFADD", "fake", "x"), ("PFCOUNT", "fake"), ("PFMERGE", "d", "fake"),
                 ("PFCOUNT", "fake", "ok"), ("PFADD",), ("PFCOUNT",), ("PFMERGE",)]:
        same(pair, *args)


def test_values_move_between_the_servers(pair):
    ours, theirs = pair
    rng = random.Random(3)
    theirs.pfadd("small", *[f"s{i}" for i in range(40)])
    theirs.pfadd("large", *[str(rng.random()) for _ in range(20000)])
    for key in ("small", "large"):
        raw = theirs.get(key)
        ours.set(key, raw)
        assert ours.pfcount(key) == theirs.pfcount(key)
        assert ours.get(key) == theirs.get(key)
        ours.pfadd(key, "more", "and more")
        theirs.pfadd(key, "more", "and more")
        assert ours.get(key) == theirs.get(key)
    ours_merged = ours.pfmerge("m", "small", "large") and ours.get("m")
    theirs.pfmerge("m", "small", "large")
    assert ours_merged == theirs.get("m")
    # and the other way: an HLL built here counts the same on redis-server
    ours.pfadd("mine", *[f"q{i}" for i in range(3000)])
    theirs.set("mine", ours.get("mine"))
    assert theirs.pfcount("mine") == ours.pfcount("mine")
    assert ours.get("mine") == theirs.get("mine")


def test_hll_events(events):
    run = events("KEA")
    assert run("PFADD", "h", "a") == ev("h", "pfadd")
    assert run("PFADD", "h", "a") == []
    assert run("PFCOUNT", "h") == []
    assert run("PFMERGE", "d", "h") == ev("d", "pfadd")
