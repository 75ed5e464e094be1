"""Access metadata, memory accounting and the eviction pool, in process, with
an injected clock (storage.clock.ManualClock) and injected randomness."""

from __future__ import annotations

import random
from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from ringcache.storage import access
from ringcache.storage.access import LFU_INIT_VAL, LRU_CLOCK_MAX, AccessPolicy
from ringcache.storage.clock import ManualClock
from ringcache.storage.eviction import EVICT_FAIL, EVICT_OK, EVPOOL_SIZE, Evictor, time_limit_us
from ringcache.storage.keyspace import Keyspace, KeyspaceStats
from ringcache.storage.memory import (EXPIRE_OVERHEAD, KEY_OVERHEAD, RESAMPLE_AFTER, bytes_size,
                                     value_size)


def keyspace(lfu: bool = False) -> Keyspace:
    db = Keyspace(0, ManualClock(), KeyspaceStats())
    db.lfu = lfu
    db.access_policy = AccessPolicy()
    return db


def advance(db: Keyspace, ms: float) -> None:
    db.clock.advance(ms)
    db.refresh_clock()


# -- the Redis arithmetic ------------------------------------------------------------


def test_lfu_log_incr_probability():
    assert access.lfu_log_incr(5, 10, 0.999) == 6  # at LFU_INIT_VAL p = 1
    assert access.lfu_log_incr(6, 10, 0.05) == 7  # p = 1/11
    assert access.lfu_log_incr(6, 10, 0.5) == 6
    assert access.lfu_log_incr(3, 10, 0.999) == 4  # below the initial value: p = 1
    assert access.lfu_log_incr(255, 0, 0.0) == 255
    assert access.lfu_log_incr(100, 0, 0.999) == 101  # factor 0: every access


def test_lfu_decay():
    meta = 100 << 8 | 10
    assert access.lfu_decayed(meta, 103, 1) == 7
    assert access.lfu_decayed(meta, 103, 2) == 9  # one whole period of two minutes
    assert access.lfu_decayed(meta, 103, 0) == 10
    assert access.lfu_decayed(meta, 200, 1) == 0
    assert access.lfu_decayed(65530 << 8 | 10, 2, 1) == 3  # 16-bit wrap: 7 minutes


def test_lru_idle_wraps():
    assert access.lru_idle_ms(100, 105) == 5000
    assert access.lru_idle_ms(LRU_CLOCK_MAX - 1, 2) == 3000
    assert access.lru_clock(1000 * (LRU_CLOCK_MAX + 5)) == 4


def test_time_limit():
    assert time_limit_us(0) == 0 and time_limit_us(10) == 500
    assert 500 < time_limit_us(11) < 600 and time_limit_us(100) == float("inf")


# -- access metadata in the keyspace ---------------------------------------------------


def test_idle_time_follows_reads_not_peeks():
    db = keyspace()
    db.set(b"a", b"1")
    db.set(b"b", b"1")
    advance(db, 5000)
    assert db.idle_ms(b"a") == 5000
    db.lookup_read(b"a")
    db.peek_read(b"b")
    db.peek(b"b")
    assert db.idle_ms(b"a") == 0 and db.idle_ms(b"b") == 5000
    db.set(b"b", b"2")  # an overwrite is an access
    assert db.idle_ms(b"b") == 0


def test_no_touch_suspends_recording():
    db = keyspace()
    db.set(b"a", b"1")
    advance(db, 3000)
    db.suspend_touch()
    db.lookup_read(b"a")
    assert db.idle_ms(b"a") == 3000  # readers see the real table meanwhile
    db.resume_touch()
    db.lookup_read(b"a")
    assert db.idle_ms(b"a") == 0


def test_lfu_counter_with_injected_randomness():
    db = keyspace(lfu=True)
    db.access_policy.random = lambda: 0.0  # every increment happens
    db.set(b"f", b"1")
    assert db.lfu_counter(b"f") == LFU_INIT_VAL
    for _ in range(10):
        db.lookup_read(b"f")
    assert db.lfu_counter(b"f") == LFU_INIT_VAL + 10
    advance(db, 4 * 60_000)
    assert db.lfu_counter(b"f") == LFU_INIT_VAL + 6
    db.access_policy.random = lambda: 0.99  # no more increments past the start
    db.lookup_read(b"f")
    assert db.lfu_counter(b"f") == LFU_INIT_VAL + 6


def test_growing_the_table_keeps_metadata():
    db = keyspace()
    db.set(b"early", b"1")
    advance(db, 7000)
    before = len(db.cells)
    for i in range(3 * before):
        db.set(b"k%d" % i, b"v")
    assert len(db.cells) >= 2 * len(db.data) and len(db.cells) > before
    assert db.idle_ms(b"early") >= 7000 or db.idle_ms(b"early") == 0  # 0 only if shared
    shared = sum(1 for i in range(3 * before) if db.idle_ms(b"k%d" % i) != 0)
    assert shared == 0  # every later key was written after the clock moved


def test_lfu_cell_goes_to_the_more_frequent_key():
    db = keyspace(lfu=True)
    db.access_policy.random = lambda: 0.0
    db.set(b"hot", b"1")
    for _ in range(20):
        db.lookup_read(b"hot")
    # Find a key that shares hot's cell but has another fingerprint.
    mask = db.cells_mask
    target = hash(b"hot") & mask
    other = next(k for k in (b"o%d" % i for i in range(10 ** 6))
                 if hash(k) & mask == target and (hash(k) >> 24) & 0xFF != (hash(b"hot") >> 24) & 0xFF)
    db.set(other, b"1")  # a new key does not take a hotter key's cell
    assert db.lfu_counter(b"hot") == LFU_INIT_VAL + 20
    assert db.access_meta(other) is None and db.lfu_counter(other) == 0


# -- memory accounting -------------------------------------------------------------------


def recount(db: Keyspace) -> int:
    """What db.mem must be: strings exactly, containers by the estimate the
    keyspace keeps for each (sampled again now and then, see below)."""
    assert set(db.sizes) == {k for k, v in db.data.items() if v.__class__ is not bytes}
    total = 0
    for key, value in db.data.items():
        size = value_size(value) if value.__class__ is bytes else db.sizes[key][0]
        total += KEY_OVERHEAD + bytes_size(len(key)) + size
        if key in db.expires:
            total += EXPIRE_OVERHEAD
    return total


def test_container_estimate_follows_the_container():
    db = keyspace()
    db.set(b"h", {b"f": b"v"})
    value = db.lookup(b"h")
    for i in range(1000):  # fields grow: the length test resamples
        value[b"field:%d" % i] = b"x" * 100
        db.modified(b"h")
        db.settle_sizes()
    assert abs(db.sizes[b"h"][0] - value_size(value)) <= 0.05 * value_size(value)
    for field in list(value)[:500]:  # same length, other values: resampled by age
        value[field] = b""
    for _ in range(RESAMPLE_AFTER + 1):
        db.modified(b"h")
        db.settle_sizes()
    assert db.sizes[b"h"][0] == value_size(value)
    before = db.mem
    value[b"more"] = b"x" * 10_000
    db.modified(b"h")  # noted only: mem moves when it is next settled
    assert db.mem == before and b"h" in db.resized
    db.settle_sizes()
    assert db.mem > before and not db.resized


OPS = st.lists(st.tuples(
    st.sampled_from(["set", "set_hash", "push", "replace", "expire", "persist", "delete",
                     "evict", "keep_ttl"]),
    st.integers(0, 5), st.binary(max_size=40)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(OPS)
def test_mem_matches_a_recount(ops):
    db = keyspace()
    for op, k, blob in ops:
        key = b"k%d" % k
        value = db.lookup(key)
        if op == "set":
            db.set(key, blob)
        elif op == "keep_ttl":
            db.set(key, blob, keep_ttl=True)
        elif op == "set_hash":
            if value.__class__ is dict:
                value[blob] = blob * 2
                db.modified(key)
            else:
                db.set(key, {blob: blob})
        elif op == "push":
            if value.__class__ is deque:
                value.append(blob)
                db.modified(key)
            else:
                db.set(key, deque([blob]))
        elif op == "replace" and value.__class__ is bytes:
            db.replace(key, value + blob)
        elif op == "expire" and value is not None:
            db.set_expire(key, db.clock.ms() + 10_000)
        elif op == "persist":
            db.persist(key)
        elif op == "delete":
            db.delete(key)
        elif op == "evict":
            db.evict(key)
        if k % 2 == 0:  # settled about every other step: changes also pile up unsettled
            db.settle_sizes()
            assert db.mem == recount(db)
    for key in list(db.data):  # (unsettled ones too: each takes what it was counted as)
        db.delete(key)
    assert db.mem == 0


def test_expired_keys_leave_the_accounting():
    db = keyspace()
    db.set(b"a", b"x" * 100)
    db.set_expire(b"a", db.clock.ms() + 1000)
    advance(db, 2000)
    assert db.lookup(b"a") is None and db.mem == 0


# -- the evictor ---------------------------------------------------------------------------


def evictor(dbs, limit: int, policy: str, samples: int = 5) -> Evictor:
    ev = Evictor(lambda: dbs, lambda: sum(db.mem for db in dbs), lambda db, key: None)
    ev.configure(limit, policy, samples, 100)
    return ev


def test_lru_pool_evicts_the_oldest_first():
    random.seed(5)  # the sampler draws with the random module (64 draws could miss k0)
    db = keyspace()
    for i in range(10):
        db.set(b"k%d" % i, b"v" * 100)
        advance(db, 1000)
    ev = evictor([db], db.mem - 1, "allkeys-lru", samples=64)
    assert ev.perform_evictions() == EVICT_OK
    assert b"k0" not in db.data and len(db.data) == 9
    assert len(ev.pool) <= EVPOOL_SIZE
    assert ev.pool_scores == sorted(ev.pool_scores)


def test_lfu_evicts_the_least_frequent():
    db = keyspace(lfu=True)
    db.access_policy.random = lambda: 0.0
    for i in range(10):
        db.set(b"k%d" % i, b"v")
        for _ in range(i + 1):
            db.lookup_read(b"k%d" % i)
    ev = evictor([db], db.mem - 1, "allkeys-lfu", samples=64)
    ev.perform_evictions()
    assert b"k0" not in db.data and len(db.data) == 9


def test_volatile_ttl_and_fail():
    db = keyspace()
    for i in range(5):
        db.set(b"t%d" % i, b"v")
        db.set_expire(b"t%d" % i, db.clock.ms() + 1000 * (i + 1))
    db.set(b"p", b"v")
    ev = evictor([db], db.mem - 1, "volatile-ttl", samples=64)
    ev.perform_evictions()
    assert b"t0" not in db.data and b"t1" in db.data
    ev.configure(maxmemory=1)
    assert ev.perform_evictions() == EVICT_FAIL  # only the key without a TTL is left
    assert list(db.data) == [b"p"]
    assert db.stats.evicted_keys == 5


def test_noeviction_fails_and_random_frees():
    db = keyspace()
    for i in range(50):
        db.set(b"k%d" % i, b"v" * 50)
    ev = evictor([db], db.mem // 2, "noeviction")
    assert ev.perform_evictions() == EVICT_FAIL and len(db.data) == 50
    ev.configure(policy="allkeys-random")
    assert ev.perform_evictions() == EVICT_OK and db.mem <= db.mem * 2 and len(db.data) < 30


def test_the_cron_follows_the_memory_peak_without_info():
    from ringcache.config import Config
    from ringcache.server.server import Server
    from ringcache.server.session import Session

    server = Server(Config(), clock=ManualClock())
    session = Session(server, 1, "a:1", "b:2")
    run = server.dispatcher.execute
    run(session, [b"RPUSH", b"big", *[b"x" * 1000 for _ in range(1000)]])
    server.cron_step(10)  # nobody asked for INFO: the cron settles and keeps the peak
    held = server.peak_memory
    assert held > 1_000_000
    run(session, [b"DEL", b"big"])
    info = run(session, [b"INFO", b"memory"]).decode()
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    assert int(fields["used_memory"]) < held / 4  # (the empty tables stay)
    assert int(fields["used_memory_peak"]) == held
