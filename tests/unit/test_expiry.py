"""The active expiry cycle (storage/expiry.py) with a ManualClock: it
reclaims expired keys within a bounded number of cycles, stops early when
few sampled keys are expired, respects its time budget, and keeps the
expiry pool compact."""

from __future__ import annotations

import random

import pytest

from ringcache.storage import expiry
from ringcache.storage.clock import ManualClock
from ringcache.storage.expiry import active_expire_cycle, cycle_budget_seconds
from ringcache.storage.keyspace import Keyspace, KeyspaceStats

BUDGET = cycle_budget_seconds(10)  # 25 ms, as with hz 10


@pytest.fixture(autouse=True)
def seeded():
    random.seed(12345)  # the cycle samples with the random module


def make(n_live: int, n_dead: int, n_persistent: int = 0) -> tuple[Keyspace, ManualClock]:
    clock = ManualClock()
    db = Keyspace(0, clock, KeyspaceStats())
    now = clock.ms()
    for i in range(n_live):
        db.set(b"live:%d" % i, b"v")
        db.set_expire(b"live:%d" % i, now + 10_000)
    for i in range(n_dead):
        db.set(b"dead:%d" % i, b"v")
        db.set_expire(b"dead:%d" % i, now + 100)
    for i in range(n_persistent):
        db.set(b"plain:%d" % i, b"v")
    clock.advance(101)  # the "dead" keys are now past their time
    return db, clock


def dead_left(db: Keyspace) -> int:
    return sum(1 for key in db.data if key.startswith(b"dead:"))


def test_budget():
    assert cycle_budget_seconds(10) == pytest.approx(0.025)
    assert cycle_budget_seconds(100) == pytest.approx(0.0025)
    assert cycle_budget_seconds(10, effort=10) == pytest.approx(0.043)


def test_all_expired_reclaimed_in_one_cycle():
    db, clock = make(0, 5000)
    reclaimed = active_expire_cycle(db, budget_s=10.0)
    assert reclaimed == 5000 and db.size() == 0 and not db.expires
    assert db.stats.expired_keys == 5000


def test_mostly_expired_reclaimed_within_a_few_cycles():
    db, clock = make(1000, 9000, n_persistent=5000)  # 90 % of the TTL keys are stale
    for _ in range(3):
        active_expire_cycle(db, budget_s=10.0)  # (the stale share ends these, not the clock)
    # A cycle goes on while more than 10 % of its sample is stale, so a few
    # cycles leave roughly that share (a sample of 20 is noisy: allow 30 %).
    assert dead_left(db) < 0.3 * (1000 + dead_left(db))
    for _ in range(600):  # then each cycle still samples a round: the rest goes too
        active_expire_cycle(db, BUDGET)
    assert dead_left(db) == 0
    assert sum(1 for key in db.data if key.startswith(b"live:")) == 1000
    assert sum(1 for key in db.data if key.startswith(b"plain:")) == 5000


def test_stops_early_when_few_keys_are_expired():
    db, clock = make(10_000, 100)  # 1 % stale
    reclaimed = active_expire_cycle(db, budget_s=10.0)
    # One round of 20 samples, expected 0.2 stale: far below 10 %, so it stops.
    assert reclaimed <= 3
    assert dead_left(db) >= 97
    assert db.stats.expired_stale_perc <= 0.1


def test_time_budget_ends_a_cycle():
    db, clock = make(0, 20_000)
    reclaimed = active_expire_cycle(db, budget_s=0.0)  # past the deadline after one round
    assert reclaimed == expiry.KEYS_PER_ROUND
    assert db.size() == 20_000 - expiry.KEYS_PER_ROUND


def test_effort_samples_more_per_round():
    db, clock = make(0, 20_000)
    assert active_expire_cycle(db, budget_s=0.0, effort=10) == 20 + 5 * 9


def test_live_keys_are_never_reclaimed():
    db, clock = make(3000, 0, n_persistent=100)
    for _ in range(20):
        assert active_expire_cycle(db, budget_s=10.0) == 0
    assert db.size() == 3100


def test_nothing_to_do_without_ttls():
    db, clock = make(0, 0, n_persistent=50)
    assert active_expire_cycle(db, BUDGET) == 0
    assert db.size() == 50


def test_reclaimed_keys_touch_watchers():
    db, clock = make(0, 10)

    class Watcher:
        dirty_cas = False

    watcher = Watcher()
    db.watchers[b"dead:3"] = {watcher}
    active_expire_cycle(db, budget_s=10.0)
    assert watcher.dirty_cas is True


def test_expiry_pool_stays_compact_under_churn():
    clock = ManualClock()
    db = Keyspace(0, clock, KeyspaceStats())
    rng = random.Random(3)
    for step in range(20_000):
        key = b"k%d" % rng.randrange(500)
        action = rng.random()
        if action < 0.4:
            db.set(key, b"v")
            db.set_expire(key, clock.ms() + rng.randrange(1, 1000))
        elif action < 0.6:
            db.persist(key)
        elif action < 0.8:
            db.delete(key)
        else:
            clock.advance(rng.randrange(0, 50))
        if step % 100 == 0:
            active_expire_cycle(db, BUDGET)
            assert len(db.expiry_pool) <= 2 * len(db.expires) + 64, step
            assert set(db.expires) <= set(db.expiry_pool)


def test_expiry_pool_released_when_no_ttl_is_left():
    db, clock = make(0, 0)
    for i in range(10_000):
        db.set(b"k%d" % i, b"v")
        db.set_expire(b"k%d" % i, clock.ms() + 1000)
    for i in range(10_000):
        db.delete(b"k%d" % i)
    assert not db.expires
    active_expire_cycle(db, BUDGET)
    assert db.expiry_pool == []  # no dead key kept alive


def test_cycle_estimates_the_average_ttl():
    db, clock = make(200, 0)  # TTLs of 10 s, 101 ms of which have passed
    assert db.avg_ttl == 0  # no cycle yet
    active_expire_cycle(db, BUDGET)
    assert db.avg_ttl == pytest.approx(10_000 - 101)
    clock.advance(5_000)
    for _ in range(50):
        active_expire_cycle(db, BUDGET)
    # A running estimate (each round weighs 2 %): moving towards 4,899 ms.
    assert 4_899 < db.avg_ttl < 9_899
