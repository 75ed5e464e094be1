"""storage/scan.py in process: the snapshots behind HSCAN, SSCAN and ZSCAN
(stable elements covered under churn, bounds, restart, a new container at
the same key)."""

from __future__ import annotations

import random

from ringcache.storage.clock import ManualClock
from ringcache.storage.keyspace import Keyspace, KeyspaceStats
from ringcache.storage.scan import ScanSnapshots
from ringcache.storage.zset import ZSet


def make_db() -> Keyspace:
    return Keyspace(0, ManualClock(), KeyspaceStats())


def full_scan(scans: ScanSnapshots, db, key, container, cursor=0, elements=None) -> list:
    seen = []
    while True:
        cursor, chunk = scans.chunk(db, key, container, cursor, 50, elements)
        seen += [e for e in chunk if e in (container if elements is None else elements)]
        if cursor == 0:
            return seen


def test_scan_snapshots_cover_stable_fields_and_stay_bounded():
    db = make_db()
    scans = ScanSnapshots()
    h = {b"f%d" % i: b"v" for i in range(1000)}
    cursor, seen = 0, set()
    while True:
        cursor, chunk = scans.chunk(db, b"k", h, cursor, 37)
        seen.update(f for f in chunk if f in h)
        for i in range(5):  # churn: odd fields come and go, new ones arrive
            h.pop(b"f%d" % random.randrange(1, 1000, 2), None)
            h[b"new%d" % random.randrange(10**6)] = b"v"
        if cursor == 0:
            break
    assert {b"f%d" % i for i in range(0, 1000, 2)} <= seen
    assert scans._refs == 0 and not scans._snapshots  # a finished scan frees its snapshot
    scans.MAX_SNAPSHOTS = 3
    cursors = [scans.chunk(db, b"k", h, 0, 10)[0] for _ in range(5)]
    assert len(scans._snapshots) == 3
    # the oldest cursor's snapshot is gone: it restarts from the beginning
    again, chunk = scans.chunk(db, b"k", h, cursors[0], 10)
    assert again != 0 and len(chunk) == 10 and len(scans._snapshots) == 3


def test_a_new_set_at_the_key_starts_over_even_at_the_same_address():
    db, scans = make_db(), ScanSnapshots()
    for _ in range(20):  # CPython often puts the new set where the old one was
        old = {b"a%d" % i for i in range(500)}
        cursor, _ = scans.chunk(db, b"k", old, 0, 50)
        old_id = id(old)
        del old
        new = {b"b%d" % i for i in range(500)}
        assert sorted(full_scan(scans, db, b"k", new, cursor)) == sorted(new)
        if id(new) == old_id:
            break


def test_sorted_sets_are_told_apart_by_the_set():
    db, scans = make_db(), ScanSnapshots()
    z = ZSet.from_items((b"m%d" % i, float(i)) for i in range(400))
    cursor, first = scans.chunk(db, b"z", z, 0, 50, z.dict)
    other = ZSet.from_items((b"n%d" % i, float(i)) for i in range(400))
    assert sorted(full_scan(scans, db, b"z", other, cursor, other.dict)) == sorted(other.dict)
    rest = full_scan(scans, db, b"z", z, cursor, z.dict)
    assert sorted(first + rest) == sorted(z.dict)
