"""One database: keys, values, expiry times, the slot index and watchers.

Layout (each choice measured; see benchmarks/RESULTS.md)
------
* `data`: one dict key -> value. Values are stored unwrapped: a string is
  `bytes`, a hash a `dict`, and so on; TYPE is decided from the Python type.
  One big dict is the fastest lookup Python has; 16384 per-slot dicts (Redis
  7.4's kvstore) cost the same memory but made GET ~25 % slower in a
  pipelined benchmark (two more cache misses and a CRC16 per lookup).
* `expires`: key -> absolute expiry in whole ms (a float: exact for whole
  milliseconds), only for keys that have a TTL, as Redis's expires dict.
  Keys given the same expiry share one float object (`expiry_objects`, a
  small cache of recent ones): a burst of SET ... EX n within a millisecond
  stores one float, not one per key (32 bytes a key with pymalloc).
* `slots`: a SlotIndex (storage.slots) of the keys in each hash slot, kept
  from day one: cluster mode migrates slot by slot, and SCAN walks it.
* `expiry_pool`: keys that were given a TTL, for the active expiry cycle to
  sample at random (a dict cannot be sampled). Entries whose key lost its TTL
  are dropped when sampled; the pool is rebuilt when it is more than twice
  the size of `expires`, so it stays bounded.
* `mem`: what this database holds, in bytes, kept as keys change
  (storage.memory explains the constants): strings by length, containers
  by an O(1) estimate remembered in `sizes`, redone for the containers that
  `modified()` noted in `resized` when memory is next read (settle_sizes).
* `cells`: access metadata (storage.access): per key the 24 bits Redis keeps
  in each object (LRU clock, or LFU counter and decay time with an 8-bit
  fingerprint), in an array indexed by the key's hash, at least two cells a
  key. A read records its access with one store (GET and SET inline it).

Invariants
----------
* `key in expires` implies `key in data`.
* `key in data` if and only if key is in `slots`.
* A key whose expiry time has passed is logically gone: every lookup checks
  (lazy expiry) and the active cycle (storage.expiry) reclaims the rest.
* `dirty` grows by at least one for every change to this database; the
  dispatcher reads it to decide what to propagate and whom to notify.
  `modified(key)` is the one place a change to a key is signalled (dirty,
  WATCH); Keyspace's own methods call it.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Iterator

from . import access
from .access import (FP_MASK, LFU_INIT_VAL, LRU_CLOCK_MAX, LRU_CLOCK_RESOLUTION_MS, META_MASK,
                     MIN_CELLS, SINK, AccessPolicy, lfu_decayed, lfu_log_incr, lfu_minutes,
                     lru_clock, lru_idle_ms, new_cells)
from .clock import Clock
from .hashes import FieldExpiryQueue
from .memory import (BYTES_HEADER, BYTES_ROUNDING, EXPIRE_OVERHEAD, KEY_OVERHEAD, SizeEstimate,
                     container_estimate)
from .slots import SLOTS, SlotIndex
from .types import stored

# A string of length n costs n + STRING_COST (storage.memory.bytes_size);
# a new key KEY_COST + len(key) on top of its value.
STRING_COST = BYTES_HEADER + BYTES_ROUNDING
KEY_COST = KEY_OVERHEAD + BYTES_HEADER + BYTES_ROUNDING
_SHARED_POLICY = AccessPolicy()


class KeyspaceStats:
    """Counters shared by all databases (INFO stats)."""

    __slots__ = ("hits", "misses", "expired_keys", "expired_stale_perc", "evicted_keys")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.hits = 0
        self.misses = 0
        self.expired_keys = 0
        self.evicted_keys = 0
        self.expired_stale_perc = 0.0


class Keyspace:
    __slots__ = (
        "index",
        "data",
        "expires",
        "slots",
        "expiry_pool",
        "expiry_objects",
        "clock",
        "stats",
        "dirty",
        "watchers",
        "avg_ttl",
        # keyspace notifications and client tracking (pubsub/):
        # set by the server (pubsub.notifications.sync_databases); 0 / None
        # when nothing listens, so each costs one slot test where it is read.
        "notify_flags",  # effective notify-keyspace-events bits, tested by write commands
        "on_new",  # callback(db, key) when a key is created ("new" events)
        "on_expired",  # callback(db, key) after a key expired (lazily or actively)
        "on_keymiss",  # callback(db, key) when a read finds no key ("keymiss" events)
        # blocking commands (server/blocking.py): key -> {Blocked record: None},
        # first come first served; empty unless a client waits on a key here.
        "blocked",
        "on_ready",  # callback(db, key) when a key somebody waits on changed
        # hashes with field TTLs, by next field expiry (storage/hashes.py)
        "hash_field_queue",
        # memory accounting (storage/memory.py)
        "mem",  # bytes held by this database's keys, values and TTLs
        "sizes",  # container key -> its estimate included in mem
        "resized",  # containers changed since their estimate (settle_sizes)
        # access metadata (storage/access.py)
        "cells",  # array('I'): LRU clock, or LFU fingerprint << 24 | ldt << 8 | counter
        "cells_mask",  # len(cells) - 1
        "cells_limit",  # grow cells when the database has more keys than this
        "cells_saved",  # (cells, mask) while a CLIENT NO-TOUCH command runs
        "lru_now",  # LRU_CLOCK(), refreshed by the cron (1 s resolution, as Redis)
        "lfu",  # True under an LFU maxmemory-policy (metadata is a counter)
        "access_policy",  # lfu-log-factor, lfu-decay-time (shared by the server)
        # A replica: an expired key is hidden from reads but not deleted
        # (its primary sends the DEL), as Redis's expireIfNeeded on a replica.
        "expire_hold",
    )

    def __init__(self, index: int, clock: Clock, stats: KeyspaceStats) -> None:
        self.index = index
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, float] = {}
        self.slots = SlotIndex()
        self.expiry_pool: list[bytes] = []
        self.expiry_objects: dict[float, float] = {}
        self.clock = clock
        self.stats = stats
        self.dirty = 0
        # key -> sessions that WATCH it; empty unless someone watches.
        self.watchers: dict[bytes, set] = {}
        self.avg_ttl = 0.0
        self.notify_flags = 0
        self.on_new: Callable[[Keyspace, bytes], None] | None = None
        self.on_expired: Callable[[Keyspace, bytes], None] | None = None
        self.on_keymiss: Callable[[Keyspace, bytes], None] | None = None
        self.blocked: dict[bytes, dict] = {}
        self.on_ready: Callable[[Keyspace, bytes], None] | None = None
        self.hash_field_queue = FieldExpiryQueue()
        self.mem = 0
        self.sizes: dict[bytes, SizeEstimate] = {}  # containers only (storage.memory)
        self.resized: set[bytes] = set()
        self.cells = new_cells(MIN_CELLS)
        self.cells_mask = MIN_CELLS - 1
        self.cells_limit = MIN_CELLS // 2
        self.cells_saved: tuple | None = None
        self.lru_now = lru_clock(clock.ms())
        self.lfu = False
        self.access_policy = _SHARED_POLICY
        self.expire_hold = False

    # -- lookups -----------------------------------------------------------

    def lookup(self, key: bytes) -> Any:
        """The live value of key, or None. An expired key is deleted here.
        Records the access (LRU/LFU), as Redis's lookupKeyWrite."""
        value = self.data.get(key)
        if value is not None:
            expires = self.expires
            if expires and key in expires and expires[key] < self.clock.ms():
                self._expire(key)
                return None
            if self.lfu:
                self.touch_lfu(key)
            else:
                self.cells[hash(key) & self.cells_mask] = self.lru_now
        return value

    def peek(self, key: bytes) -> Any:
        """lookup() without recording an access (Redis's LOOKUP_NOTOUCH)."""
        value = self.data.get(key)
        if value is not None:
            expires = self.expires
            if expires and key in expires and expires[key] < self.clock.ms():
                self._expire(key)
                return None
        return value

    def lookup_read(self, key: bytes) -> Any:
        """lookup() for read commands: also counts keyspace hits and misses.

        (lookup's body is repeated rather than called: this is GET's path.)"""
        value = self.data.get(key)
        if value is None:
            self.stats.misses += 1
            if self.on_keymiss is not None:
                self.on_keymiss(self, key)
            return None
        expires = self.expires
        if expires and key in expires and expires[key] < self.clock.ms():
            self._expire(key)
            self.stats.misses += 1
            if self.on_keymiss is not None:
                self.on_keymiss(self, key)
            return None
        self.stats.hits += 1
        if self.lfu:
            self.touch_lfu(key)
        else:
            self.cells[hash(key) & self.cells_mask] = self.lru_now
        return value

    def peek_read(self, key: bytes) -> Any:
        """lookup_read() without recording an access (EXISTS, TYPE, OBJECT:
        Redis's LOOKUP_NOTOUCH); hits and misses are counted."""
        value = self.peek(key)
        if value is None:
            self.stats.misses += 1
            if self.on_keymiss is not None:
                self.on_keymiss(self, key)
            return None
        self.stats.hits += 1
        return value

    def exists(self, key: bytes) -> bool:
        return self.peek(key) is not None

    # -- changes -----------------------------------------------------------

    def set(self, key: bytes, value: Any, keep_ttl: bool = False) -> None:
        """Store value under key; the TTL is cleared unless keep_ttl."""
        data = self.data
        old = data.get(key)
        data[key] = value
        # (a container's size is added by modified(), below)
        mem = len(value) + STRING_COST if value.__class__ is bytes else 0
        if old is None:
            self.slots.add(key)
            self.mem += mem + KEY_COST + len(key)
            if len(data) > self.cells_limit:
                self._grow_cells()
            self._record_new(key)
            if self.on_new is not None:
                self.on_new(self, key)
        else:
            mem -= self._release(key, old)
            if not keep_ttl:
                expires = self.expires
                if expires and key in expires:
                    del expires[key]
                    mem -= EXPIRE_OVERHEAD
            self.mem += mem
            # An overwrite is an access (Redis: lookupKeyWrite, then
            # dbOverwrite keeps the LFU counter).
            if self.lfu:
                self.touch_lfu(key)
            else:
                self.cells[hash(key) & self.cells_mask] = self.lru_now
        self.modified(key)

    def replace(self, key: bytes, value: Any) -> None:
        """Change the value of an existing key, keeping its TTL (APPEND, INCR)."""
        data = self.data
        old = data.get(key)
        data[key] = value
        if old is not None:
            self.mem -= self._release(key, old)
        if value.__class__ is bytes:
            self.mem += len(value) + STRING_COST
        self.modified(key)

    def delete(self, key: bytes) -> bool:
        """Delete key; False if it did not exist (or had already expired)."""
        data = self.data
        value = data.get(key)
        if value is None:
            return False
        expires = self.expires
        expired = False
        mem = KEY_COST + len(key)
        if expires and key in expires:
            expired = expires.pop(key) < self.clock.ms()
            mem += EXPIRE_OVERHEAD
        del data[key]
        self.slots.remove(key)
        self.mem -= mem + self._release(key, value)
        self._forget(key)
        if expired:
            # It was logically gone already: this is an expiry, not a delete.
            self.stats.expired_keys += 1
            self._touch_if_watched(key)
            if self.on_expired is not None:
                self.on_expired(self, key)
            return False
        self.modified(key)
        return True

    def evict(self, key: bytes) -> bool:
        """Remove key for maxmemory (storage/eviction.py notifies and
        propagates): counted in evicted_keys, WATCHes fail; not a change of
        the data set (dirty), as in Redis."""
        value = self.data.pop(key, None)
        if value is None:
            return False
        mem = KEY_COST + len(key)
        if self.expires.pop(key, None) is not None:
            mem += EXPIRE_OVERHEAD
        self.slots.remove(key)
        self.mem -= mem + self._release(key, value)
        self._forget(key)
        self.stats.evicted_keys += 1
        self._touch_if_watched(key)
        return True

    def install(self, key: bytes, value: Any, expire_at_ms: float | None) -> None:
        """Put a loaded key (snapshot, a replica's full sync) in place: the
        one way loading puts a key in. The accounting, slot index and
        access metadata of set(), the value class's store hook (a hash with
        field TTLs queues itself), the expiry; not a change (dirty, WATCH,
        events): a freshly loaded dataset has nothing to save or announce."""
        data = self.data
        old = data.get(key)
        if old is not None:
            self.evict(key)
            self.stats.evicted_keys -= 1
        data[key] = value
        self.slots.add(key)
        self.mem += KEY_COST + len(key) + (
            len(value) + STRING_COST if value.__class__ is bytes else 0)
        if value.__class__ is not bytes:
            estimate = container_estimate(value, None)
            self.sizes[key] = estimate
            self.mem += estimate[0]
            stored(self, key, value)
        if len(data) > self.cells_limit:
            self._grow_cells()
        self._record_new(key)
        if expire_at_ms is not None:
            self.expiry_pool.append(key)
            self.expires[key] = self._expiry_object(expire_at_ms)
            self.mem += EXPIRE_OVERHEAD

    def install_strings(self, keys: list[bytes], values: list[bytes]) -> None:
        """install(key, value, None) for each pair of a run of plain strings
        (RDBReader's StringsSink: a large full sync is mostly these): the
        same accounting, slot index and access metadata, one call a run."""
        data = self.data
        before = len(data)
        if not self.lfu and not (data and not data.keys().isdisjoint(keys)):
            data.update(zip(keys, values))
            if len(data) != before + len(keys):  # a key twice in the run: undo
                for key in keys:
                    data.pop(key, None)
        if len(data) == before:  # replacing keys, or LFU: one at a time
            for key, value in zip(keys, values):
                self.install(key, value, None)
            return
        self.slots.add_many(keys)
        self.mem += ((KEY_COST + STRING_COST) * len(keys) + sum(map(len, keys))
                     + sum(map(len, values)))
        if len(data) > self.cells_limit:
            self._grow_cells()
        access.record_lru(self.cells, keys, self.cells_mask, self.lru_now)  # (compiled when accel.py says)

    def pop(self, key: bytes) -> Any:
        """Remove key and return its live value (None if absent)."""
        value = self.lookup(key)
        if value is not None:
            self.delete(key)
        return value

    # -- expiry ------------------------------------------------------------

    def get_expire(self, key: bytes) -> float | None:
        """Absolute expiry in ms of key, or None if it has no TTL."""
        return self.expires.get(key)

    def set_expire(self, key: bytes, when_ms: float) -> None:
        """Set the absolute expiry of an existing key (the caller checked)."""
        expires = self.expires
        if key not in expires:
            self.mem += EXPIRE_OVERHEAD
            self.expiry_pool.append(key)
            if len(self.expiry_pool) > 2 * len(expires) + 64:
                self.expiry_pool = list(expires)
                self.expiry_pool.append(key)
        expires[key] = self._expiry_object(when_ms)
        self.modified(key)

    def _expiry_object(self, when_ms: float) -> float:
        """when_ms as whole milliseconds (Redis keeps expiry times as integer
        ms: a relative TTL counts from the current millisecond), and the same
        float object as other recent keys with that expiry."""
        when = float(int(when_ms))
        objects = self.expiry_objects
        shared = objects.setdefault(when, when)
        if len(objects) > 64:
            objects.clear()
        return shared

    def persist(self, key: bytes) -> bool:
        if self.expires.pop(key, None) is None:
            return False
        self.mem -= EXPIRE_OVERHEAD
        self.modified(key)
        return True

    def _expire(self, key: bytes) -> None:
        if self.expire_hold:
            return  # (the callers treat the key as gone)
        value = self.data.pop(key)
        del self.expires[key]
        self.slots.remove(key)
        self.mem -= KEY_COST + len(key) + EXPIRE_OVERHEAD + self._release(key, value)
        self._forget(key)
        self.stats.expired_keys += 1
        self._touch_if_watched(key)
        if self.on_expired is not None:
            self.on_expired(self, key)

    def sample_expiring(self, now_ms: float) -> tuple[bytes | None, float]:
        """Pick a random key with a TTL; expire it if due.

        Returns (key or None if there is none, its remaining TTL in ms;
        negative when it expired)."""
        pool = self.expiry_pool
        expires = self.expires
        while pool:
            i = random.randrange(len(pool))
            key = pool[i]
            when = expires.get(key)
            if when is None:  # lost its TTL since: drop the pool entry
                pool[i] = pool[-1]
                pool.pop()
                continue
            if when < now_ms:
                self._expire(key)
                pool[i] = pool[-1]
                pool.pop()
                return key, when - now_ms
            return key, when - now_ms
        return None, 0.0

    # -- whole-database operations ----------------------------------------

    def size(self) -> int:
        return len(self.data)

    def expires_count(self) -> int:
        return len(self.expires)

    def flush(self) -> None:
        if self.watchers:
            for key in list(self.watchers):
                if self.peek(key) is not None:
                    self.touch(key)
        self.data = {}
        self.expires = {}
        self.slots.clear()
        self.expiry_pool = []
        self.mem = 0
        self.sizes = {}
        self.resized = set()
        self.resume_touch()
        self.cells = new_cells(MIN_CELLS)
        self.cells_mask = MIN_CELLS - 1
        self.cells_limit = MIN_CELLS // 2
        self.hash_field_queue = FieldExpiryQueue()
        self.avg_ttl = 0.0
        self.dirty += 1
        if self.blocked:  # clients that must hear their key went (XREADGROUP) are answered
            for key in list(self.blocked):
                self.on_ready(self, key)  # type: ignore[misc]

    def swap_contents(self, other: "Keyspace") -> None:
        """SWAPDB: exchange data; each database keeps its watchers. A watched
        key present in either database before the swap has changed."""
        changed = [(db, key) for db in (self, other) for key in db.watchers
                   if self.peek(key) is not None or other.peek(key) is not None]
        self.resume_touch()
        other.resume_touch()
        for name in ("data", "expires", "slots", "expiry_pool", "avg_ttl", "hash_field_queue",
                     "mem", "sizes", "resized", "cells", "cells_mask", "cells_limit"):
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, theirs)
            setattr(other, name, mine)
        self.dirty += 1
        other.dirty += 1
        for db, key in changed:
            db.touch(key)
        # Blocked clients stay with their database number (as Redis): those
        # whose key exists after the swap are served, and those that must
        # hear that their key went (XREADGROUP) are answered.
        for db in (self, other):
            if db.blocked:
                for key in list(db.blocked):
                    db.on_ready(db, key)  # type: ignore[misc]

    def keys(self) -> Iterator[bytes]:
        """All keys, including expired ones not yet reclaimed (callers check)."""
        return iter(list(self.data))

    def random_key(self) -> bytes | None:
        """A random live key: a random non-empty slot, then a key in it."""
        if not self.data:
            return None
        for _ in range(100):  # expired keys met on the way are reclaimed
            slot = self.slots.next_nonempty(random.randrange(SLOTS))
            if slot == SLOTS:
                slot = self.slots.next_nonempty(0)
            bucket = self.slots.keys(slot)
            key = bucket[random.randrange(len(bucket))]
            if self.peek(key) is not None:
                return key
            if not self.data:
                return None
        return None

    # -- WATCH -------------------------------------------------------------

    def modified(self, key: bytes) -> None:
        """Redis's signalModifiedKey: count the change, fail the WATCHes on
        key. Every change to a key goes through here (commands that change a
        value in place call it themselves). The key is noted for
        settle_sizes(), which re-estimates a container when memory is next
        read: one set insert here instead of an estimate per change."""
        self.dirty += 1
        if self.watchers:
            self.touch(key)
        value = self.data.get(key)
        if value is not None and value.__class__ is not bytes:  # (strings: counted when set)
            self.resized.add(key)
        if self.blocked and key in self.blocked:  # wake blocked clients (after the command)
            self.on_ready(self, key)  # type: ignore[misc]

    def touch(self, key: bytes) -> None:
        """signalModifiedKey: fail the transactions of sessions watching key."""
        sessions = self.watchers.get(key)
        if sessions:
            for session in sessions:
                session.dirty_cas = True

    def _touch_if_watched(self, key: bytes) -> None:
        if self.watchers:
            self.touch(key)

    # -- access metadata (storage/access.py) -------------------------------

    def touch_lfu(self, key: bytes) -> None:
        """Redis's updateLFU for one access: decay, then a logarithmic
        increment; the cell goes to the key with the higher counter."""
        h = hash(key)
        cells = self.cells
        i = h & self.cells_mask
        fp = (h >> 24) & FP_MASK
        cell = cells[i]
        policy = self.access_policy
        now = lfu_minutes(self.clock.ms())
        owner = lfu_decayed(cell & META_MASK, now, policy.decay_time)
        counter = owner if cell & FP_MASK == fp else LFU_INIT_VAL
        counter = lfu_log_incr(counter, policy.log_factor, policy.random())
        if counter >= owner or cell & FP_MASK == fp:
            cells[i] = fp | now << 8 | counter

    def _record_new(self, key: bytes) -> None:
        """A new key's metadata: the LRU clock, or LFU_INIT_VAL (taking the
        cell only from a key whose counter is not above it)."""
        h = hash(key)
        i = h & self.cells_mask
        if not self.lfu:
            self.cells[i] = self.lru_now
            return
        fp = (h >> 24) & FP_MASK
        cells = self.cells
        cell = cells[i]
        now = lfu_minutes(self.clock.ms())
        if (cell & FP_MASK == fp or
                lfu_decayed(cell & META_MASK, now, self.access_policy.decay_time) <= LFU_INIT_VAL):
            cells[i] = fp | now << 8 | LFU_INIT_VAL

    def settle_sizes(self) -> None:
        """Bring `mem` up to date with the containers changed since the last
        call (storage.memory's O(1) estimate each). Whoever reads `mem`
        calls this first (Server.used_memory). Until then `mem` counts a
        changed container at its previous estimate, and `_release` takes
        that same figure away if the key goes meanwhile, so `mem` is always
        the sum of what `sizes` and the strings say."""
        resized = self.resized
        if not resized:
            return
        data, sizes = self.data, self.sizes
        delta = 0
        for key in resized:
            value = data.get(key)
            if value is None or value.__class__ is bytes:
                continue  # gone, or replaced by a string (counted when it was set)
            previous = sizes.get(key)
            estimate = container_estimate(value, previous)
            delta += estimate[0] - (previous[0] if previous is not None else 0)
            sizes[key] = estimate
        self.mem += delta
        resized.clear()

    def _release(self, key: bytes, value: Any) -> int:
        """What the value leaving key was counted as in `mem` (a container's
        estimate is forgotten with it)."""
        if value.__class__ is bytes:
            return len(value) + STRING_COST
        estimate = self.sizes.pop(key, None)
        return 0 if estimate is None else estimate[0]

    def _forget(self, key: bytes) -> None:
        """A deleted key leaves its LFU cell empty (no stale counter for the
        next key there). LRU cells have no owner: they stay."""
        if not self.lfu:
            return
        h = hash(key)
        cells, mask = self.cells_saved or (self.cells, self.cells_mask)
        i = h & mask
        if cells[i] & FP_MASK == (h >> 24) & FP_MASK:
            cells[i] = 0

    def access_meta(self, key: bytes) -> int | None:
        """The LFU bits recorded for key, or None if its cell holds another
        key's (it lost the cell to a more frequent key)."""
        h = hash(key)
        cells, mask = self.cells_saved or (self.cells, self.cells_mask)
        cell = cells[h & mask]
        if cell & FP_MASK != (h >> 24) & FP_MASK:
            return None
        return cell & META_MASK

    def idle_ms(self, key: bytes) -> int:
        """estimateObjectIdleTime from key's cell: exact unless another key
        shares the cell and was used later (then a lower bound)."""
        h = hash(key)
        cells, mask = self.cells_saved or (self.cells, self.cells_mask)
        return lru_idle_ms(cells[h & mask] & META_MASK, self.lru_now)

    def lfu_counter(self, key: bytes) -> int:
        """LFUDecrAndReturn (OBJECT FREQ); 0 for a key without its cell."""
        meta = self.access_meta(key)
        if meta is None:
            return 0
        return lfu_decayed(meta, lfu_minutes(self.clock.ms()), self.access_policy.decay_time)

    def set_access(self, key: bytes, idle_s: int | None, freq: int | None) -> None:
        """objectSetLRUOrLFU (RESTORE IDLETIME/FREQ, an RDB's IDLE/FREQ
        records): under an LFU policy freq becomes key's counter, decayed
        from now; otherwise idle_s sets its last access that many seconds
        back. (A key sharing the LRU cell looks that idle too.)"""
        h = hash(key)
        cells, mask = self.cells_saved or (self.cells, self.cells_mask)
        if self.lfu:
            if freq is not None:
                cells[h & mask] = ((h >> 24) & FP_MASK) | lfu_minutes(self.clock.ms()) << 8 | freq
        elif idle_s is not None:
            lru = self.lru_now - idle_s * 1000 // LRU_CLOCK_RESOLUTION_MS
            if lru < 0:  # the clock wrapped: estimateObjectIdleTime unwraps it
                lru += LRU_CLOCK_MAX
            cells[h & mask] = lru & LRU_CLOCK_MAX

    def refresh_clock(self) -> None:
        """The cron's LRU clock update (Redis's server.lruclock)."""
        self.lru_now = lru_clock(self.clock.ms())

    def _grow_cells(self) -> None:
        """Double the table until it has two cells a key. Doubling keeps every
        key's metadata: its new index is the old one or old + size, and both
        halves start as copies."""
        if self.cells_saved is not None:
            return  # (a NO-TOUCH command: the next new key grows it)
        cells = self.cells
        while len(self.data) > self.cells_limit:
            cells.extend(cells)  # array: extend with itself copies first
            self.cells_limit = len(cells) // 2
        self.cells_mask = len(cells) - 1

    def suspend_touch(self) -> None:
        """CLIENT NO-TOUCH: until resume_touch(), accesses are not recorded
        (they go to a one-cell sink; the hot path keeps its single store)."""
        if self.cells_saved is None:
            self.cells_saved = (self.cells, self.cells_mask)
            self.cells = SINK
            self.cells_mask = 0

    def resume_touch(self) -> None:
        saved = self.cells_saved
        if saved is not None:
            self.cells, self.cells_mask = saved
            self.cells_saved = None

