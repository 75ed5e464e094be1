"""Keyspace (one database) and the hash-slot index, in process with a
ManualClock: lazy expiry, TTL bookkeeping, the slot index staying equal to
the data after any sequence of operations, key_slot as Redis Cluster."""

from __future__ import annotations

import random
from binascii import crc_hqx

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringcache.storage.clock import ManualClock
from ringcache.storage.keyspace import Keyspace, KeyspaceStats
from ringcache.storage.slots import LIST_MAX, SLOTS, SlotIndex, key_slot


def make() -> tuple[Keyspace, ManualClock]:
    clock = ManualClock()
    return Keyspace(0, clock, KeyspaceStats()), clock


def check_slots(db: Keyspace) -> None:
    """The slot index holds exactly the keys of the data dict, each once."""
    expected: dict[int, set[bytes]] = {}
    for key in db.data:
        expected.setdefault(key_slot(key), set()).add(key)
    nonempty = [slot for slot, bucket in enumerate(db.slots.buckets) if bucket]
    assert nonempty == sorted(expected)
    for slot in nonempty:
        keys = db.slots.keys(slot)
        assert len(keys) == len(set(keys)) == db.slots.count(slot)
        assert set(keys) == expected[slot], slot
    # next_nonempty walks exactly the non-empty slots
    walked, slot = [], db.slots.next_nonempty(0)
    while slot < SLOTS:
        walked.append(slot)
        slot = db.slots.next_nonempty(slot + 1)
    assert walked == sorted(expected)


# -- key_slot -------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, slot",
    [
        (b"foo", 12182),
        (b"somekey", 11058),  # the CLUSTER KEYSLOT examples of the Redis docs
        (b"foo{hash_tag}", 2515),
        (b"{hash_tag}", 2515),
        (b"bar", 5061),
        (b"hello", 866),
        (b"", 0),
    ],
)
def test_key_slot_values(key, slot):
    assert key_slot(key) == slot


def test_hash_tags():
    assert key_slot(b"{user1000}.following") == key_slot(b"{user1000}.followers") == key_slot(b"user1000")
    # Only the first { and the first } after it count.
    assert key_slot(b"foo{{bar}}zap") == key_slot(b"{bar")
    assert key_slot(b"foo{bar}{zap}") == key_slot(b"bar")
    # An empty tag, or no closing brace: the whole key is hashed.
    assert key_slot(b"foo{}{bar}") != key_slot(b"bar")
    for key in (b"foo{}{bar}", b"{}", b"{", b"}", b"}{", b"foo{bar", b"{}x", b"x{}"):
        assert key_slot(key) == crc_hqx(key, 0) % SLOTS, key
    assert key_slot(b"a{}b{c}") == crc_hqx(b"a{}b{c}", 0) % SLOTS


def test_key_slot_range():
    rng = random.Random(1)
    for _ in range(2000):
        key = rng.randbytes(rng.randrange(0, 30))
        assert 0 <= key_slot(key) < SLOTS


# -- lazy expiry and TTLs ----------------------------------------------------------


def test_lazy_expiry_on_lookup():
    db, clock = make()
    db.set(b"k", b"v")
    db.set_expire(b"k", clock.ms() + 100)
    clock.advance(50)
    assert db.lookup(b"k") == b"v"
    clock.advance(51)
    assert db.lookup(b"k") is None
    assert b"k" not in db.data and b"k" not in db.expires
    assert db.stats.expired_keys == 1
    check_slots(db)


def test_expiry_times_are_whole_ms_and_shared():
    db, clock = make()
    for key in (b"a", b"b", b"c"):
        db.set(key, b"v")
    db.set_expire(b"a", clock.ms() + 100.7)
    db.set_expire(b"b", clock.ms() + 100.2)
    db.set_expire(b"c", clock.ms() + 101)
    assert db.get_expire(b"a") == clock.ms() + 100  # floored, as Redis's integer ms
    assert db.expires[b"a"] is db.expires[b"b"]  # one float for one expiry time
    assert db.get_expire(b"c") == clock.ms() + 101
    for i in range(200):  # the cache of shared floats stays small
        db.set(b"k%d" % i, b"v")
        db.set_expire(b"k%d" % i, clock.ms() + i)
    assert len(db.expiry_objects) <= 65


def test_lookup_read_counts_hits_and_misses():
    db, clock = make()
    db.set(b"k", b"v")
    db.set_expire(b"k", clock.ms() + 10)
    assert db.lookup_read(b"k") == b"v"
    assert db.lookup_read(b"nope") is None
    clock.advance(11)
    assert db.lookup_read(b"k") is None  # expired: a miss, and reclaimed
    assert (db.stats.hits, db.stats.misses, db.stats.expired_keys) == (1, 2, 1)


def test_delete_of_an_expired_key_is_an_expiry():
    db, clock = make()
    db.set(b"k", b"v")
    db.set_expire(b"k", clock.ms() + 10)
    clock.advance(11)
    dirty = db.dirty
    assert db.delete(b"k") is False
    assert db.stats.expired_keys == 1 and db.dirty == dirty
    assert db.size() == 0
    check_slots(db)


def test_set_clears_the_ttl_unless_kept_and_replace_keeps_it():
    db, clock = make()
    db.set(b"k", b"1")
    db.set_expire(b"k", clock.ms() + 1000)
    db.replace(b"k", b"2")
    assert db.get_expire(b"k") == clock.ms() + 1000
    db.set(b"k", b"3", keep_ttl=True)
    assert db.get_expire(b"k") == clock.ms() + 1000
    db.set(b"k", b"4")
    assert db.get_expire(b"k") is None
    assert db.lookup(b"k") == b"4"


def test_persist():
    db, clock = make()
    db.set(b"k", b"v")
    assert db.persist(b"k") is False
    db.set_expire(b"k", clock.ms() + 10)
    assert db.persist(b"k") is True
    clock.advance(100)
    assert db.lookup(b"k") == b"v"


def test_pop():
    db, clock = make()
    db.set(b"k", b"v")
    assert db.pop(b"k") == b"v"
    assert db.pop(b"k") is None
    assert db.size() == 0


def test_dirty_grows_on_every_change():
    db, clock = make()
    marks = [db.dirty]
    db.set(b"a", b"1")
    marks.append(db.dirty)
    db.set_expire(b"a", clock.ms() + 100)
    marks.append(db.dirty)
    db.persist(b"a")
    marks.append(db.dirty)
    db.replace(b"a", b"2")
    marks.append(db.dirty)
    db.delete(b"a")
    marks.append(db.dirty)
    db.flush()
    marks.append(db.dirty)
    assert marks == sorted(set(marks))


def test_random_key_returns_only_live_keys():
    db, clock = make()
    assert db.random_key() is None
    for i in range(50):
        db.set(b"live%d" % i, b"v")
    for i in range(50):
        db.set(b"dead%d" % i, b"v")
        db.set_expire(b"dead%d" % i, clock.ms() + 10)
    clock.advance(11)
    for _ in range(200):
        key = db.random_key()
        assert key is not None and key.startswith(b"live")
    for i in range(50):
        db.delete(b"live%d" % i)
    assert db.random_key() is None
    check_slots(db)


class FakeSession:
    dirty_cas = False


def test_watchers_are_touched_by_expiry_and_flush():
    db, clock = make()
    watcher, other = FakeSession(), FakeSession()
    db.set(b"w", b"v")
    db.set_expire(b"w", clock.ms() + 10)
    db.watchers[b"w"] = {watcher}
    db.watchers[b"missing"] = {other}
    clock.advance(11)
    assert db.lookup(b"w") is None
    assert watcher.dirty_cas is True
    watcher.dirty_cas = False
    db.set(b"w", b"again")
    db.flush()  # w existed: touched; "missing" did not: not touched
    assert watcher.dirty_cas is True and other.dirty_cas is False


# -- the slot index ---------------------------------------------------------------


def test_slot_bucket_grows_from_list_to_set_and_back():
    db, clock = make()
    keys = [b"{same}%d" % i for i in range(LIST_MAX * 3)]
    for key in keys:
        db.set(key, b"v")
    slot = key_slot(b"same")
    assert db.slots.count(slot) == len(keys)
    check_slots(db)
    for key in keys[::2]:
        db.delete(key)
    check_slots(db)
    for key in keys[1::2]:
        db.delete(key)
    assert db.slots.count(slot) == 0 and db.slots.keys(slot) == []
    check_slots(db)


def test_slot_index_clear():
    index = SlotIndex()
    for i in range(100):
        index.add(b"k%d" % i)
    index.clear()
    assert index.next_nonempty(0) == SLOTS


OPS = st.lists(
    st.tuples(
        st.sampled_from(["set", "set_keep", "replace", "delete", "expire", "persist", "advance",
                         "lookup", "pop", "flush", "swap", "sample"]),
        st.sampled_from([b"a", b"b", b"{a}c", b"{a}d", b"e", b"f{", b"{}g"]),
        st.integers(0, 30),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops=OPS)
def test_slot_index_matches_the_data_after_any_operations(ops):
    db, clock = make()
    other = Keyspace(1, clock, db.stats)
    for op, key, n in ops:
        if op == "set":
            db.set(key, b"v%d" % n)
        elif op == "set_keep":
            db.set(key, b"v%d" % n, keep_ttl=True)
        elif op == "replace" and key in db.data:
            db.replace(key, b"r")
        elif op == "delete":
            db.delete(key)
        elif op == "expire" and db.lookup(key) is not None:
            db.set_expire(key, clock.ms() + n)
        elif op == "persist":
            db.persist(key)
        elif op == "advance":
            clock.advance(n)
        elif op == "lookup":
            db.lookup(key)
        elif op == "pop":
            db.pop(key)
        elif op == "flush" and n < 3:
            db.flush()
        elif op == "swap" and n < 6:
            db.swap_contents(other)
        elif op == "sample":
            db.sample_expiring(clock.ms())
        for space in (db, other):
            assert set(space.expires) <= set(space.data)  # an expiry only for an existing key
    check_slots(db)
    check_slots(other)


# -- the expiry pool ----------------------------------------------------------------


def test_every_key_with_a_ttl_can_be_sampled():
    db, clock = make()
    for i in range(100):
        db.set(b"k%d" % i, b"v")
        db.set_expire(b"k%d" % i, clock.ms() + 10)
        if i % 2:
            db.persist(b"k%d" % i)
    clock.advance(11)
    expired = 0
    while True:
        key, ttl = db.sample_expiring(clock.ms())
        if key is None:
            break
        expired += ttl < 0
    assert expired == 50 and db.size() == 50 and not db.expires
