"""Loading a snapshot a run of plain strings at a time (a replica's full
sync): RDBReader's StringsSink with Keyspace.install_strings gives the same
keyspace as one install() per key, on files that mix runs with everything
that ends one (TTLs, containers, integer-encoded and long strings, database
switches, hash tags, a duplicated key); and the compiled twins in
ringcache/_speedups.pyx (scan_strings, slots_add_many, record_lru) give
the same results as the pure functions, byte for byte."""

from __future__ import annotations

import io
import random
from array import array

import pytest

from ringcache.accel import speedups
from ringcache.persistence import rdb
from ringcache.persistence.rdb import encode_string, rdb_chunks
from ringcache.persistence.snapshot import SnapshotReader
from ringcache.storage import access, slots
from ringcache.storage.clock import ManualClock
from ringcache.storage.keyspace import Keyspace, KeyspaceStats
from ringcache.storage.zset import ZSet

NOW = 1_700_000_000_000


def mixed_databases(rng: random.Random) -> list[tuple[int, dict, dict]]:
    out = []
    for index in (0, 3):
        data: dict = {}
        expires: dict = {}
        for i in range(20_000):
            choice = rng.random()
            key = (b"{tag%d}:" % (i % 7) if choice < 0.1 else b"key:") + b"%d:%d" % (index, i)
            if choice < 0.7:
                data[key] = rng.randbytes(rng.choice((1, 10, 32, 63)))
            elif choice < 0.75:
                data[key] = b"%d" % rng.randrange(-10**6, 10**6)  # integer-encoded
            elif choice < 0.8:
                data[key] = b"x" * rng.choice((64, 300, 20_000))  # longer lengths
            elif choice < 0.85:
                data[key] = b"ttl"
                expires[key] = float(NOW + 10**6 + i)
            elif choice < 0.9:
                data[key] = {b"f": b"v", b"g": b"%d" % i}
            elif choice < 0.95:
                zset = data[key] = ZSet()
                zset.add(b"a", 1.5)
                zset.add(b"b", 2.0)
            else:
                data[b"k" * rng.choice((70, 200))] = b"long key %d" % i  # a 2-byte key length
        out.append((index, data, expires))
    return out


def load(image: bytes, runs: bool) -> dict[int, Keyspace]:
    clock = ManualClock(NOW)
    stats = KeyspaceStats()
    dbs: dict[int, Keyspace] = {}

    def db(index: int) -> Keyspace:
        if index not in dbs:
            dbs[index] = Keyspace(index, clock, stats)
        return dbs[index]

    reader = SnapshotReader(io.BytesIO(image))
    strings = (lambda index, keys, values: db(index).install_strings(keys, values)) if runs else None
    reader.load(lambda index, key, value, expire: db(index).install(key, value, expire), NOW, strings)
    return dbs


def comparable(db: Keyspace) -> tuple:
    def value(v):
        return ("zset", list(v.items())) if isinstance(v, ZSet) else v

    cells = {key: db.cells[hash(key) & db.cells_mask] for key in db.data}
    buckets = [sorted(b) if b is not None else None for b in db.slots.buckets]
    return ({k: value(v) for k, v in db.data.items()}, dict(db.expires), db.mem, cells, buckets,
            bytes(db.slots.occupied), sorted(db.slots.nonempty))


def test_runs_load_the_same_keyspace_as_one_key_at_a_time():
    databases = mixed_databases(random.Random(7))
    image = b"".join(rdb_chunks(databases, NOW))
    by_key, by_run = load(image, runs=False), load(image, runs=True)
    assert sorted(by_key) == sorted(by_run) == [0, 3]
    for index in by_key:
        assert comparable(by_run[index]) == comparable(by_key[index])
        assert len(by_run[index].data) == len(databases[[0, 3].index(index)][1])


def test_a_key_twice_in_a_run_is_installed_as_one_at_a_time_would():
    body = b"".join(b"\x00" + encode_string(k) + encode_string(v)
                    for k, v in ((b"a", b"1"), (b"b", b"2"), (b"a", b"3")))
    image = b"REDIS0010\xfe\x00" + body + b"\xff" + b"\x00" * 8  # (checksum 0: not checked)
    by_key, by_run = load(image, runs=False), load(image, runs=True)
    assert by_run[0].data == by_key[0].data == {b"a": b"3", b"b": b"2"}
    assert by_run[0].mem == by_key[0].mem


def test_runs_into_a_keyspace_that_already_holds_some_keys():
    clock = ManualClock(NOW)
    a, b = Keyspace(0, clock, KeyspaceStats()), Keyspace(0, clock, KeyspaceStats())
    for db in (a, b):
        db.install(b"old", b"x", None)
        db.install(b"k2", b"old", None)
    keys, values = [b"k1", b"k2", b"k3"], [b"1", b"2", b"3"]
    a.install_strings(keys, values)
    for key, value in zip(keys, values):
        b.install(key, value, None)
    assert comparable(a) == comparable(b)


needs_compiled = pytest.mark.skipif(speedups is None, reason="the compiled extension is not built")


def random_records(rng: random.Random) -> bytes:
    """Plain string records with the odd other record or long length among them."""
    out = bytearray()
    for _ in range(3000):
        r = rng.random()
        if r < 0.9:
            out += b"\x00" + encode_string(rng.randbytes(rng.randrange(1, 63)))
            out += encode_string(rng.randbytes(rng.randrange(0, 63)))
        elif r < 0.95:
            out += b"\x00" + encode_string(b"k" * 70) + encode_string(b"v")
        else:
            out += b"\xfc" + bytes(8)
    return bytes(out)


@needs_compiled
def test_scan_strings_compiled_twin():
    rng = random.Random(3)
    for _ in range(20):
        buf = random_records(rng)
        for cut in (len(buf), rng.randrange(len(buf))):  # a window that cuts a record
            window = buf[:cut]
            pos = 0
            while pos < len(window):
                limit = rng.choice((1, 50, 4096))
                got: tuple = ([], [])
                want: tuple = ([], [])
                after = speedups.scan_strings(window, pos, *got, limit)
                assert after == rdb.scan_strings_pure(window, pos, *want, limit)
                assert got == want
                pos = after if after > pos else pos + 1


@needs_compiled
def test_slots_add_many_compiled_twin():
    rng = random.Random(5)
    keys = [rng.choice((b"", b"{", b"}", b"{}", b"{a}", b"x{b}y", b"{c", b"z}{d}")) + rng.randbytes(rng.randrange(0, 12))
            for _ in range(20_000)]
    keys += [b"{same}%d" % i for i in range(300)]  # one slot past LIST_MAX: a set
    keys = list(dict.fromkeys(keys))
    a, b = slots.SlotIndex(), slots.SlotIndex()
    for start in range(0, len(keys), 1000):
        speedups.slots_add_many(a, keys[start:start + 1000])
        slots.add_many_pure(b, keys[start:start + 1000])
    assert a.buckets == b.buckets
    assert bytes(a.occupied) == bytes(b.occupied) and a.nonempty == b.nonempty
    for key in keys:
        assert key in a.buckets[slots.key_slot(key)]


@needs_compiled
def test_record_lru_compiled_twin():
    keys = [b"k%d" % i for i in range(5000)] + [b"", b"\xff" * 40]
    a, b = access.new_cells(1 << 14), access.new_cells(1 << 14)
    speedups.record_lru(a, keys, (1 << 14) - 1, 123456)
    access.record_lru_pure(b, keys, (1 << 14) - 1, 123456)
    assert a == b and isinstance(a, array)
