"""Hash values: plain dicts, and FieldTTLHash once a field has a TTL.

Representation
--------------
A hash is a `dict[bytes, bytes]`. When HEXPIRE (or a sibling) gives one of
its fields a time to live, the command replaces the value by a
`FieldTTLHash`: the same dict (a subclass, so every reading path is the same
code) plus

* `field_expires`: field -> absolute expiry in Unix ms (a float, exact for
  whole ms), only for fields that have a TTL. Invariant: its keys are fields
  of the hash; a command that deletes or overwrites a field (HDEL, HSET)
  drops its entry, one that changes a value in place (HINCRBY) keeps it.
* `_buckets` and `_times`: the fields grouped by expiry time (when ->
  [fields]) and a min-heap of those times, so the next expiry is found in
  O(1) and k expired fields are reclaimed in O(k) plus O(log n) per
  distinct time. One HEXPIRE gives all its fields the same time, so a
  field with a TTL costs its `field_expires` entry and one list slot (8
  bytes) here; a (when, field) tuple per field in a heap cost ~80 bytes
  more (measured with benchmarks/memory_hashes.py --ttl). Bucket entries
  go stale when a field's TTL changes or goes (the entry no longer matches
  `field_expires`): they are dropped when their time comes, and the
  buckets are rebuilt when they hold more than twice the live TTLs. So the
  heap's top is a lower bound of the next expiry, never later than it.
* `scheduled`: the time this hash is queued at in its database's
  `hash_field_queue` (below); +inf when it is not queued.

A field whose time has passed (`when < now`, Redis's rule for fields) is
invisible: every command first reclaims the expired fields of the hash it
touches (`purge`), so HLEN, HGETALL, HSET's "created" count and the rest
never see them. That costs one attribute test for a FieldTTLHash and nothing
for a plain dict.

Active expiry
-------------
A hash whose fields expire but which nobody reads must still shrink and,
when its last field goes, disappear. Each database keeps
`hash_field_queue`, a min-heap of (when, key): the hashes with field TTLs,
each at the earliest expiry it holds. Redis keeps the same thing as a radix
tree of "ebuckets" (db->hexpires); a heap is its Python equivalent. A set of
keys would force the cron to scan them all to find the due ones; the heap
hands over only those whose time has come. `expire_due` pops due entries,
reclaims up to a quota of fields, and re-queues the hash at its next expiry.
An entry is stale when the key no longer holds a FieldTTLHash scheduled at
that time (the key was deleted, renamed, overwritten, or re-queued earlier):
it is dropped when met, and the queue filters itself when stale entries
pile up (FieldExpiryQueue). RENAME/COPY/MOVE re-queue the value under its new key
(`track`, registered as the type's store hook in commands/keys.py).

Auxiliary state for HRANDFIELD
------------------------------
A Python dict cannot pick a random entry in O(1). `FieldPools` (below) keeps
bounded, per-process helpers for large hashes; its header says why and how.
(HSCAN's cursors: storage/scan.py, shared with SSCAN and ZSCAN.)
"""

from __future__ import annotations

import heapq
import random
from collections import OrderedDict
from typing import Any

INF = float("inf")


class FieldTTLHash(dict):
    """A hash with at least one field TTL (see the module header)."""

    __slots__ = ("field_expires", "_buckets", "_times", "_entries", "scheduled")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.field_expires: dict[bytes, float] = {}
        self._buckets: dict[float, list[bytes]] = {}
        self._times: list[float] = []
        self._entries = 0  # fields in _buckets, stale ones included
        self.scheduled = INF

    def copy(self) -> "FieldTTLHash":
        """COPY keeps the TTLs; the copy is not queued yet (keys.py's store
        hook queues it under its key)."""
        new = FieldTTLHash(self)
        new.field_expires = dict(self.field_expires)
        new._buckets = {when: list(fields) for when, fields in self._buckets.items()}
        new._times = list(self._times)
        new._entries = self._entries
        return new

    def __reduce__(self) -> Any:  # for snapshots: the fields, then the TTLs
        return (_rebuild, (dict(self), dict(self.field_expires)))

    # -- TTLs ----------------------------------------------------------------

    def set_field_expire(self, field: bytes, when: float) -> None:
        """Give an existing field an absolute expiry (ms). Pass the same
        float object for fields that share a time (it is stored once)."""
        expires = self.field_expires
        expires[field] = when
        bucket = self._buckets.get(when)
        if bucket is None:
            self._buckets[when] = [field]
            heapq.heappush(self._times, when)
        else:
            bucket.append(field)
        self._entries += 1
        if self._entries > 2 * len(expires) + 64:
            self._rebuild_buckets()

    def persist_field(self, field: bytes) -> bool:
        """Drop a field's TTL; False if it had none."""
        return self.field_expires.pop(field, None) is not None

    def next_expiry(self) -> float:
        """A lower bound of the earliest field expiry (exact unless entries
        went stale), +inf if no field has a TTL."""
        if not self.field_expires:
            return INF
        times = self._times
        return times[0] if times else INF

    def due(self, now: float) -> bool:
        """Whether some field may have expired (a stale time counts too:
        purge then finds nothing and drops it)."""
        times = self._times
        return bool(times) and times[0] < now

    def purge(self, now: float, limit: int = -1) -> list[bytes]:
        """Delete the fields whose time has passed (when < now), at most
        `limit` of them when limit >= 0; returns them."""
        times = self._times
        buckets = self._buckets
        expires = self.field_expires
        expired: list[bytes] = []
        while times and times[0] < now:
            when = times[0]
            bucket = buckets[when]
            while bucket and limit != len(expired):
                field = bucket.pop()
                self._entries -= 1
                if expires.get(field) == when:
                    del expires[field]
                    del self[field]
                    expired.append(field)
            if bucket:
                break  # the limit was reached
            heapq.heappop(times)
            del buckets[when]
        return expired

    def _rebuild_buckets(self) -> None:
        buckets: dict[float, list[bytes]] = {}
        for field, when in self.field_expires.items():
            bucket = buckets.get(when)
            if bucket is None:
                buckets[when] = [field]
            else:
                bucket.append(field)
        self._buckets = buckets
        self._times = list(buckets)
        heapq.heapify(self._times)
        self._entries = len(self.field_expires)


def _rebuild(fields: dict, expires: dict) -> FieldTTLHash:
    value = FieldTTLHash(fields)
    for field, when in expires.items():
        value.set_field_expire(field, when)
    return value


# -- the per-database queue of hashes with field TTLs ---------------------------


class FieldExpiryQueue:
    """db.hash_field_queue: a min-heap of (when, key), one live entry per
    hash with field TTLs (see the module header). Stale entries are dropped
    when popped, and the heap is filtered once it has doubled since the last
    filtering, so it stays within about twice the live entries (amortised
    O(1) per push)."""

    __slots__ = ("heap", "limit")

    def __init__(self) -> None:
        self.heap: list[tuple[float, bytes]] = []
        self.limit = 1024

    def __len__(self) -> int:
        return len(self.heap)

    def push(self, db: Any, when: float, key: bytes) -> None:
        heap = self.heap
        heapq.heappush(heap, (when, key))
        if len(heap) > self.limit:
            data = db.data
            live = []
            for entry in heap:
                value = data.get(entry[1])
                if value.__class__ is FieldTTLHash and value.scheduled == entry[0]:
                    live.append(entry)
            heapq.heapify(live)
            self.heap = live
            self.limit = max(1024, 2 * len(live))


def track(db: Any, key: bytes, value: Any) -> None:
    """Queue the FieldTTLHash stored at key at its next field expiry: after
    RENAME, COPY, MOVE or a snapshot load put it under a (new) key."""
    if value.__class__ is not FieldTTLHash:
        return
    when = value.next_expiry()
    value.scheduled = when
    if when != INF:
        db.hash_field_queue.push(db, when, key)


def reschedule(db: Any, key: bytes, value: FieldTTLHash) -> None:
    """After a TTL was set on a field of the hash at key: queue the hash if
    it now expires earlier than it is queued for."""
    when = value.next_expiry()
    if when < value.scheduled:
        value.scheduled = when
        db.hash_field_queue.push(db, when, key)


def expire_due(db: Any, now: float, max_fields: int) -> list[tuple[bytes, FieldTTLHash, list[bytes]]]:
    """The active step: reclaim expired fields of due hashes, at most
    max_fields in all. Returns (key, hash, expired fields) per hash touched;
    the caller notifies and deletes the keys left empty."""
    queue = db.hash_field_queue
    data = db.data
    done: list[tuple[bytes, FieldTTLHash, list[bytes]]] = []
    budget = max_fields
    while queue.heap and queue.heap[0][0] < now and budget > 0:
        when, key = heapq.heappop(queue.heap)
        value = data.get(key)
        if value.__class__ is not FieldTTLHash or value.scheduled != when:
            continue  # stale: deleted, renamed, or queued again since
        value.scheduled = INF
        expired = value.purge(now, budget)
        budget -= len(expired)
        if value:
            track(db, key, value)
        if expired:
            done.append((key, value, expired))
    return done


# -- HRANDFIELD: random fields of a dict -----------------------------------------


class FieldPools:
    """Random access to the fields of large hashes, for HRANDFIELD.

    A dict cannot pick a random entry: `list(h)` costs O(n) per call, which
    would make a single-field HRANDFIELD on a million fields take
    milliseconds. For hashes above SMALL fields this keeps a list of the
    fields (a pool), reused across calls and rebuilt when the hash's size
    changed, after as many draws as the hash has fields (so rebuilding is
    O(1) amortised per draw), or when a drawn field turned out to be gone.
    Every drawn field is checked against the hash, so only present fields
    are returned; a field added since the pool was built (without changing
    the size, i.e. with another field deleted) is not drawn until the next
    rebuild, a bias that the amortised rebuild keeps short-lived. Pools are
    keyed by the hash object's id and validated by size; at most MAX_POOLS
    are kept (least recently used first out).
    """

    SMALL = 1024
    MAX_POOLS = 8

    def __init__(self) -> None:
        self._pools: OrderedDict[int, list] = OrderedDict()  # id -> [size, fields, draws_left]

    def pool(self, value: dict, draws: int) -> list[bytes]:
        if len(value) <= self.SMALL:
            return list(value)
        ident = id(value)
        entry = self._pools.get(ident)
        if entry is None or entry[0] != len(value) or entry[2] <= 0:
            entry = [len(value), list(value), len(value)]
            self._pools[ident] = entry
            while len(self._pools) > self.MAX_POOLS:
                self._pools.popitem(last=False)
        else:
            self._pools.move_to_end(ident)
        entry[2] -= draws
        return entry[1]

    def invalidate(self, value: dict) -> None:
        self._pools.pop(id(value), None)

    def draw(self, value: dict, count: int) -> list[bytes]:
        """count fields drawn with replacement (HRANDFIELD with a negative count)."""
        pool = self.pool(value, count)
        if pool.__class__ is list and len(pool) == len(value) and len(value) <= self.SMALL:
            return random.choices(pool, k=count)
        out: list[bytes] = []
        choice = random.choice
        misses = 0
        while len(out) < count:
            field = choice(pool)
            if field in value:
                out.append(field)
                continue
            misses += 1
            if misses > 8:  # the pool is stale: rebuild it
                self.invalidate(value)
                pool = self.pool(value, count - len(out))
                misses = 0
        return out

    def distinct(self, value: dict, count: int) -> list[bytes]:
        """count distinct fields, count < len(value) (a positive count)."""
        if count * 3 > len(value) or len(value) <= self.SMALL:
            return random.sample(list(value), count)
        chosen: dict[bytes, None] = {}
        pool = self.pool(value, count)
        choice = random.choice
        misses = 0
        while len(chosen) < count:
            field = choice(pool)
            if field in chosen:
                continue
            if field in value:
                chosen[field] = None
                continue
            misses += 1
            if misses > 8:
                self.invalidate(value)
                pool = self.pool(value, count - len(chosen))
                misses = 0
        return list(chosen)


POOLS = FieldPools()
