"""maxmemory, the eviction policies, memory accounting, OBJECT FREQ/IDLETIME,
TOUCH and CLIENT NO-TOUCH, on real nodes. Time moves with DEBUG ADVANCE-CLOCK
(the LRU clock has Redis's 1 s resolution, the LFU decay 1 minute)."""

from __future__ import annotations

import os
import socket
import time

import pytest
import redis

from nodes import start_node

OOM = "command not allowed when used memory > 'maxmemory'."  # (redis-py drops "OOM ")


@pytest.fixture
def mm(node):
    """The shared node with maxmemory settings restored afterwards."""
    client = node.client()
    yield client
    client.config_set("maxmemory", "0")
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory-samples", "5")
    client.config_set("lfu-log-factor", "10")
    client.config_set("lfu-decay-time", "1")
    client.config_set("notify-keyspace-events", "")
    client.close()


def used(client) -> int:
    return int(client.info("memory")["used_memory"])


def fill(client, prefix: str, n: int, size: int = 100, ex: int | None = None) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.set(f"{prefix}{i}", b"x" * size, ex=ex)
    pipe.execute()


def advance(client, ms: int) -> None:
    client.execute_command("DEBUG", "ADVANCE-CLOCK", ms)


def start_of_second(client) -> None:
    """Move the node's clock to just past a whole second, so that exact
    OBJECT IDLETIME figures (whole seconds) do not depend on where in a
    second real time happens to be: the next ~0.9 s stay in one second."""
    _seconds, micros = client.time()
    advance(client, 1000 - micros // 1000 + 50)


# -- configuration -----------------------------------------------------------


@pytest.mark.parametrize("name, value, reason", [
    ("maxmemory", "10zz", "argument must be a memory value"),
    ("maxmemory", "-1", "argument must be a memory value"),
    ("maxmemory-policy", "lru", "argument(s) must be one of the following: volatile-lru, "
     "volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, "
     "noeviction"),
    ("maxmemory-samples", "0", "argument must be between 1 and 2147483647 inclusive"),
    ("maxmemory-eviction-tenacity", "101", "argument must be between 0 and 100 inclusive"),
])
def test_config_set_errors_change_nothing(mm, name, value, reason):
    before = mm.config_get(name)[name]
    with pytest.raises(redis.ResponseError) as info:
        mm.config_set(name, value)
    assert str(info.value) == (f"CONFIG SET failed (possibly related to argument '{name}') "
                               f"- {reason}")
    assert mm.config_get(name)[name] == before


def test_maxmemory_units(mm):
    mm.config_set("maxmemory", "3mb")
    assert mm.config_get("maxmemory")["maxmemory"] == str(3 * 1024 * 1024)
    info = mm.info("memory")
    assert info["maxmemory"] == 3 * 1024 * 1024 and info["maxmemory_human"] == "3.00M"
    mm.config_set("maxmemory", "2k")
    assert mm.config_get("maxmemory")["maxmemory"] == "2000"


# -- accounting ---------------------------------------------------------------


def test_used_memory_follows_the_data(mm):
    base = used(mm)
    fill(mm, "k", 1000, size=1000)
    grown = used(mm) - base
    assert 1000 * 1000 < grown < 1000 * 1300  # values, keys and per-key overhead
    mm.set("k0", b"y" * 11000)  # a longer value: the difference, at once
    assert used(mm) - base == pytest.approx(grown + 10000, abs=64)
    mm.delete(*[f"k{i}" for i in range(1000)])
    assert used(mm) == base
    info = mm.info("memory")
    for field in ("used_memory_human", "used_memory_rss", "used_memory_peak",
                  "maxmemory_policy", "mem_fragmentation_ratio"):
        assert field in info
    assert info["used_memory_peak"] >= base + grown


def test_container_accounting_follows_in_place_changes(mm):
    base = used(mm)
    pipe = mm.pipeline(transaction=False)
    for i in range(2000):
        pipe.hset("h", f"field{i}", "v" * 50)
    pipe.execute()
    grown = used(mm) - base
    assert 2000 * 50 < grown < 2000 * 400
    mm.rpush("l", *[b"x" * 100] * 1000)
    assert used(mm) - base > grown + 100 * 1000
    mm.delete("h", "l")
    assert used(mm) == base


def test_memory_usage(mm):
    assert mm.memory_usage("missing") is None
    mm.set("s", "v")
    small = mm.memory_usage("s")
    mm.set("s", "v" * 1000)
    assert mm.memory_usage("s") == small + 999
    mm.expire("s", 100)
    assert mm.memory_usage("s") > small + 999
    mm.sadd("set", *range(100))
    assert mm.memory_usage("set", samples=0) > 100 * 8
    for bad in (["SAMPLES"], ["SAMPLES", "-1"], ["FOO", "1"]):
        with pytest.raises(redis.ResponseError, match="syntax error"):
            mm.execute_command("MEMORY", "USAGE", "s", *bad)
    with pytest.raises(redis.ResponseError, match="not an integer"):
        mm.execute_command("MEMORY", "USAGE", "s", "SAMPLES", "x")


def test_memory_stats_and_doctor(node):
    client = node.client(protocol=3)
    client.set("a", "b")
    stats = client.memory_stats()
    assert stats["keys.count"] == 1 and stats["db.0"]["overhead.hashtable.main"] > 0
    assert stats["total.allocated"] == int(client.info("memory")["used_memory"])
    assert client.execute_command("MEMORY", "DOCTOR").startswith(b"Hi Sam")
    assert client.execute_command("MEMORY", "PURGE") in (b"OK", True)
    client.close()


# -- noeviction and OOM -------------------------------------------------------


def test_noeviction_refuses_denyoom_commands(mm):
    fill(mm, "k", 200)
    mm.config_set("maxmemory", str(used(mm) - 1000))
    for command in (["SET", "x", "1"], ["INCR", "k1"], ["RPUSH", "l", "a"], ["SETEX", "y", "5", "z"]):
        with pytest.raises(redis.ResponseError) as info:
            mm.execute_command(*command)
        assert str(info.value) == OOM
    assert mm.get("k1") == b"x" * 100  # reads go on
    assert mm.delete("k1") == 1  # DEL is not denyoom: it frees memory
    assert mm.info("stats")["evicted_keys"] == 0


def test_oom_reply_bytes(mm, conn):
    fill(mm, "k", 50)
    mm.config_set("maxmemory", "1")
    c = conn()
    c.send("SET", "x", "1")
    assert c.read_reply() == b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"


def test_oom_inside_multi_aborts_exec(mm):
    fill(mm, "k", 100)
    mm.config_set("maxmemory", "1")
    pipe = mm.pipeline(transaction=True)
    pipe.set("a", "1")
    pipe.get("k1")
    with pytest.raises(redis.ResponseError):
        pipe.execute()
    assert mm.get("a") is None


def test_volatile_policy_without_volatile_keys_is_oom(mm):
    fill(mm, "k", 200)
    mm.config_set("maxmemory-policy", "volatile-lru")
    mm.config_set("maxmemory", str(used(mm) - 1000))
    with pytest.raises(redis.ResponseError, match="command not allowed when used memory"):
        mm.set("x", "1")
    assert mm.dbsize() == 200


# -- the policies ---------------------------------------------------------------


def test_allkeys_lru_keeps_recently_used_keys(mm):
    mm.config_set("maxmemory-policy", "allkeys-lru")
    fill(mm, "old", 400)
    advance(mm, 20_000)
    for i in range(0, 400, 4):  # 100 of them used again, 20 s later
        mm.get(f"old{i}")
    advance(mm, 20_000)
    mm.config_set("maxmemory", str(used(mm)))
    fill(mm, "new", 150)  # needs room for 150: the least recently used go
    assert mm.info("stats")["evicted_keys"] >= 140
    survivors = [i for i in range(400) if mm.exists(f"old{i}")]
    hot = [i for i in survivors if i % 4 == 0]
    # Sampled LRU (5 keys + the pool of 16) is approximate: nearly all the
    # recently used survive while half the others go.
    assert len(hot) >= 90
    assert len(survivors) - len(hot) <= 170
    assert used(mm) <= int(mm.config_get("maxmemory")["maxmemory"])


def test_allkeys_lfu_keeps_frequently_used_keys(mm):
    mm.config_set("maxmemory-policy", "allkeys-lfu")
    mm.config_set("lfu-log-factor", "0")  # every access counts
    fill(mm, "k", 300)
    for _ in range(20):
        for i in range(0, 300, 3):
            mm.get(f"k{i}")
    mm.config_set("maxmemory", str(used(mm)))
    fill(mm, "new", 150)
    hot = [i for i in range(0, 300, 3) if mm.exists(f"k{i}")]
    assert len(hot) >= 95
    assert mm.info("stats")["evicted_keys"] >= 120


def test_volatile_ttl_evicts_the_soonest_expiring(mm):
    mm.config_set("maxmemory-policy", "volatile-ttl")
    mm.config_set("maxmemory-samples", "10")
    fill(mm, "forever", 100)
    fill(mm, "soon", 100, ex=100)
    fill(mm, "late", 100, ex=100_000)
    mm.config_set("maxmemory", str(used(mm) - 50 * 200))
    mm.set("x", "1")
    keys = {k.decode().rstrip("0123456789") for k in mm.keys("*")}
    assert "forever" in keys and mm.exists(*[f"forever{i}" for i in range(100)]) == 100
    assert mm.exists(*[f"late{i}" for i in range(100)]) >= 95
    assert mm.exists(*[f"soon{i}" for i in range(100)]) <= 70


@pytest.mark.parametrize("policy", ["allkeys-random", "volatile-random", "volatile-lru",
                                    "volatile-lfu"])
def test_other_policies_free_memory(mm, policy):
    mm.config_set("maxmemory-policy", policy)
    fill(mm, "t", 300, ex=1000)
    fill(mm, "p", 100)
    limit = used(mm) - 100 * 200
    mm.config_set("maxmemory", str(limit))
    mm.set("x", "1")
    assert used(mm) <= limit
    if policy.startswith("volatile"):
        assert mm.exists(*[f"p{i}" for i in range(100)]) == 100


def test_lowering_maxmemory_evicts_down_to_it(mm):
    mm.config_set("maxmemory-policy", "allkeys-random")
    mm.config_set("maxmemory-eviction-tenacity", "0")  # the command evicts nothing itself
    fill(mm, "k", 3000)
    limit = used(mm) // 2
    mm.config_set("maxmemory", str(limit))
    deadline = time.monotonic() + 10
    while used(mm) > limit and time.monotonic() < deadline:
        time.sleep(0.05)  # the background step runs with the cron
    mm.config_set("maxmemory-eviction-tenacity", "10")
    assert used(mm) <= limit


def test_eviction_notifies_and_invalidates(mm, node):
    mm.config_set("notify-keyspace-events", "Ee")
    mm.config_set("maxmemory-policy", "allkeys-random")
    fill(mm, "k", 50)
    sub = node.client().pubsub()
    sub.subscribe("__keyevent@0__:evicted")
    assert sub.get_message(timeout=2)["type"] == "subscribe"
    mm.config_set("maxmemory", "1")
    mm.config_set("maxmemory-policy", "allkeys-random")
    message = sub.get_message(timeout=2)
    assert message is not None and message["data"].startswith(b"k")
    sub.close()


# -- access metadata -------------------------------------------------------------


def test_object_idletime_and_touch(mm):
    start_of_second(mm)
    mm.set("a", "1")
    mm.set("b", "1")
    advance(mm, 5_000)
    assert mm.object("idletime", "a") == 5
    mm.get("a")
    assert mm.object("idletime", "a") == 0
    assert mm.object("idletime", "b") == 5  # OBJECT, EXISTS, TYPE do not touch
    mm.exists("b")
    mm.type("b")
    assert mm.object("idletime", "b") == 5
    assert mm.touch("b", "nope") == 1
    assert mm.object("idletime", "b") == 0


def test_client_no_touch(mm, node):
    client = node.client()
    start_of_second(client)
    client.set("a", "1")
    advance(client, 3_000)
    assert client.execute_command("CLIENT", "NO-TOUCH", "ON") == b"OK"
    client.get("a")
    assert client.object("idletime", "a") == 3
    client.touch("a")  # TOUCH still touches (as Redis)
    assert client.object("idletime", "a") == 0
    advance(client, 2_000)
    client.execute_command("CLIENT", "NO-TOUCH", "OFF")
    client.get("a")
    assert client.object("idletime", "a") == 0
    client.close()


def test_object_freq_counts_and_decays(mm):
    with pytest.raises(redis.ResponseError, match="An LFU maxmemory policy is not selected"):
        mm.set("a", "1") and mm.object("freq", "a")
    mm.config_set("maxmemory-policy", "allkeys-lfu")
    with pytest.raises(redis.ResponseError, match="An LFU maxmemory policy is selected"):
        mm.object("idletime", "a")
    mm.config_set("lfu-log-factor", "0")
    mm.set("f", "1")
    assert mm.object("freq", "f") == 5  # LFU_INIT_VAL
    for _ in range(10):
        mm.get("f")
    assert mm.object("freq", "f") == 15  # factor 0: each access counts
    advance(mm, 3 * 60_000)  # three decay periods of a minute
    assert mm.object("freq", "f") == 12
    mm.config_set("lfu-decay-time", "0")  # no decay: the stored counter, as
    advance(mm, 60 * 60_000)               # Redis (decay is applied on access)
    assert mm.object("freq", "f") == 15
    mm.get("f")
    assert mm.object("freq", "f") == 16
    mm.config_set("lfu-log-factor", "10")
    for _ in range(100):
        mm.get("f")
    assert 12 < mm.object("freq", "f") < 20  # logarithmic


# -- the limit holds ---------------------------------------------------------------


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_rss_stays_bounded_under_a_flood(tmp_path):
    """16 MB limit, 64 MB of SETs: RSS stays within 1.5 x maxmemory above
    the empty process (the bound benchmarks/RESULTS.md measures at 100mb)."""
    limit = 16 * 1024 * 1024
    with start_node(tmp_path, "--maxmemory", "16mb", "--maxmemory-policy", "allkeys-lru") as node:
        baseline = rss(node.proc.pid)
        sock = socket.create_connection((node.host, node.port))
        value = os.urandom(1000)
        peak = 0
        for batch in range(64):
            commands = b"".join(b"*3\r\n$3\r\nSET\r\n$12\r\nflood:%06d\r\n$1000\r\n%b\r\n"
                                % (batch * 1000 + i, value) for i in range(1000))
            sock.sendall(commands)
            replies = b""
            while replies.count(b"\r\n") < 1000:
                replies += sock.recv(65536)
            assert replies == b"+OK\r\n" * 1000
            peak = max(peak, rss(node.proc.pid))
        sock.close()
        client = node.client()
        assert client.info("stats")["evicted_keys"] > 40_000
        assert int(client.info("memory")["used_memory"]) <= limit
        assert peak - baseline <= 1.5 * limit
        client.close()
