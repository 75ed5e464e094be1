"""storage/hashes.py in process: FieldTTLHash's buckets (purge order and
limit, stale entries, rebuilding), the per-database queue (stale entries,
self-filtering, RENAME-style re-queueing) and HRANDFIELD's pools (only present fields, rebuilt when stale)."""

from __future__ import annotations

import random

from ringcache.storage.clock import ManualClock
from ringcache.storage.hashes import (
    INF,
    FieldPools,
    FieldTTLHash,
    expire_due,
    reschedule,
    track,
)
from ringcache.storage.keyspace import Keyspace, KeyspaceStats


def make_db() -> Keyspace:
    return Keyspace(0, ManualClock(), KeyspaceStats())


def test_purge_in_time_order_with_a_limit():
    h = FieldTTLHash({b"f%d" % i: b"v" for i in range(10)})
    for i in range(10):
        h.set_field_expire(b"f%d" % i, float(100 + i // 2))  # five times, two fields each
    assert h.next_expiry() == 100.0
    assert not h.due(100.0) and h.due(100.5)  # expired means when < now
    first = sorted(h.purge(102.0, limit=3))  # (fields of one time: in any order)
    assert first[:2] == [b"f0", b"f1"] and first[2] in (b"f2", b"f3")
    assert sorted(first + h.purge(102.0)) == [b"f0", b"f1", b"f2", b"f3"]
    assert len(h) == 6 and set(h.field_expires) == {b"f%d" % i for i in range(4, 10)}
    assert h.purge(1000.0) and not h and not h.field_expires and h.next_expiry() == INF


def test_stale_entries_are_skipped_and_rebuilt():
    h = FieldTTLHash({b"a": b"1", b"b": b"2"})
    h.set_field_expire(b"a", 100.0)
    h.set_field_expire(b"a", 500.0)  # the entry at 100 is stale now
    h.set_field_expire(b"b", 200.0)
    assert h.persist_field(b"b") and not h.persist_field(b"b")
    assert h.purge(300.0) == []  # neither stale entry deletes anything
    assert h == {b"a": b"1", b"b": b"2"} and h.field_expires == {b"a": 500.0}
    for i in range(1000):  # re-setting one field over and over
        h.set_field_expire(b"a", float(1000 + i))
    assert h._entries <= 2 * len(h.field_expires) + 64
    assert h.purge(1500.0) == [] and h.purge(2000.0) == [b"a"]


def test_copy_keeps_ttls_and_shares_nothing():
    h = FieldTTLHash({b"a": b"1", b"b": b"2"})
    h.set_field_expire(b"a", 100.0)
    c = h.copy()
    assert c.__class__ is FieldTTLHash and c == h and c.field_expires == {b"a": 100.0}
    assert c.purge(200.0) == [b"a"]
    assert h.field_expires == {b"a": 100.0} and b"a" in h


def test_queue_pops_due_hashes_and_skips_stale_entries():
    db = make_db()
    for name, when in ((b"x", 100.0), (b"y", 200.0), (b"z", 300.0)):
        h = FieldTTLHash({b"f": b"v", b"g": b"v"})
        db.set(name, h)
        h.set_field_expire(b"f", when)
        reschedule(db, name, h)
    db.delete(b"y")  # its entry goes stale
    h = db.data.pop(b"z")  # "RENAME z w"
    db.data[b"w"] = h
    track(db, b"w", h)
    done = expire_due(db, 1000.0, 100)
    assert sorted(key for key, _, _ in done) == [b"w", b"x"]
    assert all(fields == [b"f"] for _, _, fields in done)
    assert not db.hash_field_queue.heap  # nothing left to expire: nothing queued


def test_queue_quota_and_requeue():
    db = make_db()
    h = FieldTTLHash({b"f%d" % i: b"v" for i in range(50)})
    db.set(b"k", h)
    for i in range(50):
        h.set_field_expire(b"f%d" % i, 100.0 if i < 30 else 5000.0)
    reschedule(db, b"k", h)
    first = expire_due(db, 200.0, 10)
    assert len(first[0][2]) == 10
    second = expire_due(db, 200.0, 1000)  # re-queued at its (past) next expiry
    assert len(second[0][2]) == 20 and len(h) == 20
    assert h.scheduled == 5000.0 and db.hash_field_queue.heap[0] == (5000.0, b"k")


def test_queue_filters_itself():
    db = make_db()
    queue = db.hash_field_queue
    for i in range(3000):  # hashes created and deleted: stale entries pile up
        key = b"k%d" % i
        h = FieldTTLHash({b"f": b"v"})
        db.set(key, h)
        h.set_field_expire(b"f", 10.0**9)
        reschedule(db, key, h)
        if i % 10:
            db.delete(key)
    assert len(queue) <= 2 * 300 + 1024
    assert {key for _, key in queue.heap} >= {b"k%d" % i for i in range(0, 3000, 10)}


def test_pools_draw_only_present_fields():
    pools = FieldPools()
    h = {b"f%d" % i: b"v" for i in range(5000)}
    assert set(pools.draw(h, 200)) <= set(h)
    assert len(set(pools.distinct(h, 100))) == 100
    for i in range(4990):
        del h[b"f%d" % i]
    h.update({b"n%d" % i: b"v" for i in range(4990)})  # same size: the pool is stale
    drawn = pools.draw(h, 500)
    assert set(drawn) <= set(h)
    assert any(f.startswith(b"n") for f in drawn)  # rebuilt after the misses


def test_a_growing_hash_is_promoted_before_its_first_ttl():
    """Past PROMOTE_AT fields a hash is stored as a FieldTTLHash already, so
    the first HEXPIRE on a big hash does not copy it."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_model import InProcess

    from ringcache.commands.hashes import PROMOTE_AT

    harness = InProcess()
    session = harness.fresh()
    for i in range(PROMOTE_AT):
        harness.execute(session, [b"HSET", b"h", b"f%d" % i, b"v"])
    assert session.db.data[b"h"].__class__ is dict
    harness.execute(session, [b"HINCRBY", b"h", b"counter", b"1"])
    big = session.db.data[b"h"]
    assert big.__class__ is FieldTTLHash and not big.field_expires
    assert harness.execute(session, [b"HPEXPIRE", b"h", b"100", b"FIELDS", b"1", b"f0"]) == [1]
    assert session.db.data[b"h"] is big  # no copy
    assert harness.execute(session, [b"HLEN", b"h"]) == PROMOTE_AT + 1
    harness.execute(session, [b"HSET", b"many", *[x for i in range(PROMOTE_AT + 1)
                                                  for x in (b"f%d" % i, b"v")]])
    assert session.db.data[b"many"].__class__ is FieldTTLHash
