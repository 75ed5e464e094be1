"""One database: keys, values, expiry times, the slot index and watchers.

Layout (each choice measured; see benchmarks/RESULTS.md)
------
* `data`: one dict key -> value. Values are stored unwrapped: a string is
  `bytes`, a hash a `dict`, and so on; TYPE is decided from the Python type.
  One big dict is the fastest lookup Python has; 16384 per-slot dicts (Redis
  7.4's kvstore) cost the same memory but made GET ~25 % slower in a
  pipelined benchmark (two more cache misses and a CRC16 per lookup).
* `expires`: key -> absolute expiry in ms (a float: 24 bytes, exact for whole
  milliseconds), only for keys that have a TTL, as Redis's expires dict.
* `slots`: a SlotIndex (storage.slots) of the keys in each hash slot, kept
  from day one: cluster mode migrates slot by slot, and SCAN walks it.
* `expiry_pool`: keys that were given a TTL, for the active expiry cycle to
  sample at random (a dict cannot be sampled). Entries whose key lost its TTL
  are dropped when sampled; the pool is rebuilt when it is more than twice
  the size of `expires`, so it stays bounded.

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

from .clock import Clock
from .hashes import FieldExpiryQueue
from .slots import SLOTS, SlotIndex


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
    )

    def __init__(self, index: int, clock: Clock, stats: KeyspaceStats) -> None:
        self.index = index
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, float] = {}
        self.slots = SlotIndex()
        self.expiry_pool: list[bytes] = []
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

    # -- lookups -----------------------------------------------------------

    def lookup(self, key: bytes) -> Any:
        """The live value of key, or None. An expired key is deleted here."""
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
        return value

    def exists(self, key: bytes) -> bool:
        return self.lookup(key) is not None

    # -- changes -----------------------------------------------------------

    def set(self, key: bytes, value: Any, keep_ttl: bool = False) -> None:
        """Store value under key; the TTL is cleared unless keep_ttl."""
        data = self.data
        size = len(data)
        data[key] = value
        if len(data) != size:
            self.slots.add(key)
            if self.on_new is not None:
                self.on_new(self, key)
        elif not keep_ttl:
            expires = self.expires
            if expires and key in expires:
                del expires[key]
        self.modified(key)

    def replace(self, key: bytes, value: Any) -> None:
        """Change the value of an existing key, keeping its TTL (APPEND, INCR)."""
        self.data[key] = value
        self.modified(key)

    def delete(self, key: bytes) -> bool:
        """Delete key; False if it did not exist (or had already expired)."""
        data = self.data
        if key not in data:
            return False
        expires = self.expires
        expired = False
        if expires and key in expires:
            expired = expires.pop(key) < self.clock.ms()
        del data[key]
        self.slots.remove(key)
        if expired:
            # It was logically gone already: this is an expiry, not a delete.
            self.stats.expired_keys += 1
            self._touch_if_watched(key)
            if self.on_expired is not None:
                self.on_expired(self, key)
            return False
        self.modified(key)
        return True

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
            self.expiry_pool.append(key)
            if len(self.expiry_pool) > 2 * len(expires) + 64:
                self.expiry_pool = list(expires)
                self.expiry_pool.append(key)
        expires[key] = float(when_ms)
        self.modified(key)

    def persist(self, key: bytes) -> bool:
        if self.expires.pop(key, None) is None:
            return False
        self.modified(key)
        return True

    def _expire(self, key: bytes) -> None:
        del self.data[key]
        del self.expires[key]
        self.slots.remove(key)
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
                if self.lookup(key) is not None:
                    self.touch(key)
        self.data = {}
        self.expires = {}
        self.slots.clear()
        self.expiry_pool = []
        self.hash_field_queue = FieldExpiryQueue()
        self.avg_ttl = 0.0
        self.dirty += 1

    def swap_contents(self, other: "Keyspace") -> None:
        """SWAPDB: exchange data; each database keeps its watchers. A watched
        key present in either database before the swap has changed."""
        changed = [(db, key) for db in (self, other) for key in db.watchers
                   if self.lookup(key) is not None or other.lookup(key) is not None]
        for name in ("data", "expires", "slots", "expiry_pool", "avg_ttl", "hash_field_queue"):
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, theirs)
            setattr(other, name, mine)
        self.dirty += 1
        other.dirty += 1
        for db, key in changed:
            db.touch(key)
        # Blocked clients stay with their database number (as Redis): those
        # whose key exists after the swap are served.
        for db in (self, other):
            if db.blocked:
                for key in list(db.blocked):
                    if db.lookup(key) is not None:
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
            if self.lookup(key) is not None:
                return key
            if not self.data:
                return None
        return None

    # -- WATCH -------------------------------------------------------------

    def modified(self, key: bytes) -> None:
        """Redis's signalModifiedKey: count the change, fail the WATCHes on
        key. Every change to a key goes through here (commands that change a
        value in place call it themselves)."""
        self.dirty += 1
        if self.watchers:
            self.touch(key)
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

