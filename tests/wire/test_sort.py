"""SORT and SORT_RO against the installed redis-server 7.0: the same data
and the same commands on both servers, replies (and error texts) and
stored results compared, RESP2 and RESP3. Sets are only sorted in ways
whose output does not depend on the set's internal order (Redis returns a
set's own order for BY nosort without STORE)."""

from __future__ import annotations

import random

import time

import pytest

from differential import both, outcome, pair, real_port, same  # noqa: F401 (fixtures)
from test_notifications import ev, events  # noqa: F401 (the fixture)

SETUP = [
    ("RPUSH", "l", "3", "1", "2", "10", "-5", "1.5", "2"),
    ("RPUSH", "words", "banana", "apple", "cherry", "Apple", "date"),
    ("RPUSH", "mixed", "1", "x", "2"),
    ("SADD", "s", "5", "3", "9", "1", "7"),
    ("ZADD", "z", "1", "c", "2", "a", "3", "b", "3", "d"),
    ("MSET", "w_3", "30", "w_1", "10", "w_2", "20", "w_10", "5", "w_-5", "50", "w_1.5", "15"),
    ("MSET", "n_3", "three", "n_1", "one", "n_2", "two", "n_10", "ten"),
    ("HSET", "h_3", "f", "c", "g", "300"), ("HSET", "h_1", "f", "a", "g", "100"),
    ("HSET", "h_2", "f", "b", "g", "200"),
    ("MSET", "wz_a", "3", "wz_b", "1", "wz_c", "2", "wz_d", "1"),
    ("RPUSH", "nums", "5", "0x10", " 7", "1e3", "inf", "-inf", ""),
    ("SET", "str", "x"),
]

CASES = [
    ("SORT", "l"), ("SORT", "l", "DESC"), ("SORT", "l", "ALPHA"), ("SORT", "l", "ALPHA", "DESC"),
    ("SORT", "l", "LIMIT", 0, 3), ("SORT", "l", "LIMIT", 2, 2), ("SORT", "l", "LIMIT", 5, 10),
    ("SORT", "l", "LIMIT", 10, 2), ("SORT", "l", "LIMIT", -1, 2), ("SORT", "l", "LIMIT", 1, -1),
    ("SORT", "l", "LIMIT", 0, 0), ("SORT", "l", "LIMIT", 1), ("SORT", "l", "LIMIT", "a", 1),
    ("SORT", "words"), ("SORT", "words", "ALPHA"), ("SORT", "words", "ALPHA", "DESC", "LIMIT", 1, 2),
    ("SORT", "mixed"), ("SORT", "mixed", "ALPHA"), ("SORT", "nums"),
    ("SORT", "s"), ("SORT", "s", "DESC"), ("SORT", "s", "ALPHA", "LIMIT", 1, 3),
    ("SORT", "z"), ("SORT", "z", "ALPHA"), ("SORT", "z", "BY", "nosort"), ("SORT", "z", "BY", "nosort", "DESC"),
    ("SORT", "z", "BY", "nosort", "LIMIT", 1, 2), ("SORT", "z", "BY", "nosort", "DESC", "LIMIT", 1, 2),
    ("SORT", "z", "BY", "wz_*"), ("SORT", "z", "BY", "wz_*", "DESC"),
    ("SORT", "l", "BY", "nosort"), ("SORT", "l", "BY", "nosort", "DESC"),
    ("SORT", "l", "BY", "nosort", "LIMIT", 2, 3), ("SORT", "l", "BY", "nosort", "DESC", "LIMIT", 2, 3),
    ("SORT", "l", "BY", "w_*"), ("SORT", "l", "BY", "w_*", "DESC"), ("SORT", "l", "BY", "missing_*"),
    ("SORT", "l", "BY", "n_*", "ALPHA"), ("SORT", "l", "BY", "n_*"),
    ("SORT", "l", "GET", "w_*"), ("SORT", "l", "GET", "#", "GET", "w_*", "GET", "n_*"),
    ("SORT", "l", "GET", "nostar"), ("SORT", "l", "GET", "h_*->f"), ("SORT", "l", "BY", "h_*->g", "GET", "h_*->f"),
    ("SORT", "l", "BY", "h_*->g", "DESC", "GET", "#", "GET", "h_*->g"), ("SORT", "l", "GET", "h_*->"),
    ("SORT", "l", "GET", "h_*->nofield"), ("SORT", "l", "GET", "n_*->f"), ("SORT", "l", "BY", "h_*->f", "ALPHA"),
    ("SORT", "s", "BY", "w_*", "GET", "#"), ("SORT", "s", "BY", "nosort", "STORE", "dst"), ("LRANGE", "dst", 0, -1),
    ("SORT", "l", "STORE", "dst"), ("LRANGE", "dst", 0, -1), ("TYPE", "dst"),
    ("SORT", "l", "GET", "n_*", "STORE", "dst2"), ("LRANGE", "dst2", 0, -1),
    ("SORT", "nokey"), ("SORT", "nokey", "STORE", "dst"), ("EXISTS", "dst"),
    ("SORT", "l", "LIMIT", 0, 0, "STORE", "dst3"), ("EXISTS", "dst3"),
    ("SORT", "str"), ("SORT", "l", "FOO"), ("SORT", "l", "BY"), ("SORT", "l", "GET"), ("SORT", "l", "STORE"),
    ("SORT_RO", "l"), ("SORT_RO", "l", "STORE", "x"), ("SORT_RO", "l", "BY", "w_*", "GET", "#", "LIMIT", 1, 3),
    ("SORT_RO", "words", "ALPHA", "DESC"), ("SORT_RO", "str"),
    ("SORT", "l", "asc", "desc"), ("SORT", "l", "DESC", "ASC"),
    ("SORT", "l", "STORE", "a", "STORE", "b"), ("EXISTS", "a"), ("LRANGE", "b", 0, -1),
    ("SORT", "words", "STORE", "dst4"),
    ("COMMAND", "GETKEYS", "SORT", "l", "STORE", "a", "STORE", "b"),
    ("COMMAND", "GETKEYS", "SORT", "l", "LIMIT", 0, 1, "GET", "store", "BY", "store"),
    ("COMMAND", "GETKEYS", "SORT_RO", "l", "BY", "w_*"),
]


def test_sort_as_redis(pair):
    for args in SETUP:
        both(pair, *args)
    for args in CASES:
        same(pair, *args)


def test_sort_random_lists(pair):
    rng = random.Random(11)
    for round_ in range(30):
        items = [str(rng.choice([rng.randrange(-50, 50), rng.random() * 100])) for _ in range(rng.randrange(1, 30))]
        both(pair, "DEL", "r")
        both(pair, "RPUSH", "r", *items)
        for item in items[:5]:
            both(pair, "SET", f"w{item}", rng.randrange(10))
        same(pair, "SORT", "r", *rng.choice([[], ["DESC"], ["ALPHA"]]),
             "LIMIT", rng.randrange(-2, 10), rng.randrange(-2, 10))
        same(pair, "SORT", "r", "BY", "w*", "GET", "#", "GET", "w*")


def test_sort_store_event(events):
    run = events("KEA")
    run("RPUSH", "l", "2", "1")
    assert run("SORT", "l", "STORE", "d") == ev("d", "sortstore")
    assert run("SORT", "nokey", "STORE", "d") == ev("d", "del")
    assert run("SORT", "l") == []


@pytest.mark.parametrize("option", ["BY", "GET"])
def test_sort_patterns_refused_in_cluster_mode(tmp_path, option):
    from nodes import start_node
    with start_node(tmp_path, "--cluster-enabled", "yes") as node:
        client = node.client()
        deadline = time.monotonic() + 15  # (a one-node cluster serves once its map is applied)
        while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO") \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert outcome(client, "SORT", "l", option, "w_*") == \
            ("error", f"{option} option of SORT denied in Cluster mode.")
        client.close()
