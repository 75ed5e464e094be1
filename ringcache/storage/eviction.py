"""maxmemory and eviction: Redis's evict.c, over the keyspace's accounting.

When `used_memory` (storage.memory) passes `maxmemory`, keys are evicted
before the next command runs (Redis's performEvictions in processCommand),
and a write that needs memory (a `denyoom` command) is refused with -OOM when
nothing could be freed. Each call frees at most what it can within a time
limit set by `maxmemory-eviction-tenacity` (Redis's evictionTimeLimitUs: 50 us
× tenacity up to 10, then growing 15 % a step, unlimited at 100), so one
command's latency stays bounded; what is left is freed by the background step
(`Evictor.background_step`, run from the cron, Redis's evictionTimeProc), so
memory returns under the limit after a burst even without more commands.

Choosing a victim, per `maxmemory-policy`:

* allkeys-lru / volatile-lru / allkeys-lfu / volatile-lfu / volatile-ttl:
  Redis's eviction pool. Each round samples `maxmemory-samples` keys of every
  database (from all keys, or from those with a TTL), scores each (idle time
  from the LRU clock; 255 minus the decayed LFU counter; for TTL the sooner
  the expiry the higher), and merges them into a pool of the 16 best
  candidates kept sorted, best last. The best candidate that still exists is
  evicted. Keeping good candidates between rounds is what makes 5 samples
  approximate true LRU closely.
* allkeys-random / volatile-random: a random key, databases in turn.
* noeviction: nothing is evicted; denyoom commands get -OOM.

Keys are sampled from the slot index (all keys) or from the expiry pool
(keys with a TTL): Python dicts cannot be sampled, and both structures exist
anyway (storage.keyspace). Access metadata comes from each database's cells
(storage.access): under LFU a key whose cell a more frequent key took counts
as the least frequent, so it goes first; an LRU cell shared by two keys
holds the later access of the two.

Each evicted key counts in INFO evicted_keys, fails WATCHes, is propagated
as DEL (append-only file, replicas), sends the "evicted" keyspace event and
invalidates client-tracking entries (pubsub.key_evicted).
"""

from __future__ import annotations

import random
import time
from bisect import bisect_left
from typing import Any, Callable

from .access import FP_MASK, IDLE_UNKNOWN_LFU, META_MASK, lfu_decayed, lfu_minutes, lru_idle_ms

EVPOOL_SIZE = 16
POLICIES = ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
            "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction")

EVICT_OK, EVICT_RUNNING, EVICT_FAIL = 0, 1, 2


def time_limit_us(tenacity: int) -> float:
    """evictionTimeLimitUs: how long one call may evict (inf at 100)."""
    if tenacity <= 10:
        return 50.0 * tenacity
    if tenacity < 100:
        return 500.0 * 1.15 ** (tenacity - 10)
    return float("inf")


class Evictor:
    """Owns the eviction pool and the policy; the server calls
    before_command() (maxmemory set) and background_step() (cron)."""

    def __init__(self, dbs: Callable[[], list], used_memory: Callable[[], int],
                 on_evict: Callable[[Any, bytes], None]) -> None:
        self.dbs = dbs  # -> the live databases
        self.used_memory = used_memory
        self.on_evict = on_evict  # (db, key) after each eviction
        self.maxmemory = 0
        self.policy = "noeviction"
        self.samples = 5
        self.tenacity = 10
        self.pool: list[tuple[int, bytes, Any]] = []  # (score, key, db), best last
        self.pool_scores: list[int] = []
        self.next_db = 0  # random policies: round robin
        self.pending = False  # a call ran out of time: the background step continues
        self.random = random.random
        self.monotonic = time.perf_counter
        self.evicted = 0  # for tests and MEMORY STATS

    # -- configuration -----------------------------------------------------

    def configure(self, maxmemory: int | None = None, policy: str | None = None,
                  samples: int | None = None, tenacity: int | None = None) -> None:
        if maxmemory is not None:
            self.maxmemory = maxmemory
        if policy is not None:
            if policy != self.policy:
                self.pool.clear()
                self.pool_scores.clear()
            self.policy = policy
        if samples is not None:
            self.samples = samples
        if tenacity is not None:
            self.tenacity = tenacity

    # -- entry points ------------------------------------------------------

    def before_command(self) -> int:
        """processCommand's performEvictions (maxmemory set): EVICT_FAIL
        means over the limit with nothing evictable (refuse denyoom)."""
        if self.used_memory() <= self.maxmemory:
            return EVICT_OK
        return self.perform_evictions()

    def background_step(self, budget_s: float = 0.025) -> None:
        """The cron's share of Redis's evictionTimeProc (which runs on every
        event-loop turn while memory is over): go on freeing after a
        time-limited call, for up to budget_s (25 % of the cron period)."""
        if self.maxmemory and (self.pending or self.used_memory() > self.maxmemory):
            self.perform_evictions(max(budget_s, time_limit_us(self.tenacity) / 1e6))

    def perform_evictions(self, limit_s: float | None = None) -> int:
        maxmemory = self.maxmemory
        if not maxmemory:
            return EVICT_OK
        used = self.used_memory()
        if used <= maxmemory:
            self.pending = False
            return EVICT_OK
        if self.policy == "noeviction":
            return EVICT_FAIL
        if limit_s is None:
            limit_s = time_limit_us(self.tenacity) / 1e6
        start = self.monotonic()
        freed = 0
        to_free = used - maxmemory
        keys_freed = 0
        while freed < to_free:
            victim = self.choose()
            if victim is None:
                self.pending = False
                return EVICT_FAIL  # nothing left to evict
            db, key = victim
            before = db.mem
            db.evict(key)
            freed += before - db.mem
            keys_freed += 1
            self.evicted += 1
            self.on_evict(db, key)
            if keys_freed % 16 == 0:
                if self.used_memory() <= maxmemory:
                    break
                if self.monotonic() - start > limit_s:
                    self.pending = True  # the background step goes on
                    return EVICT_RUNNING
        self.pending = False
        return EVICT_OK

    # -- choosing a victim -------------------------------------------------

    def choose(self) -> tuple[Any, bytes] | None:
        policy = self.policy
        volatile = policy.startswith("volatile")
        if policy.endswith("random"):
            return self._random_victim(volatile)
        pool = self.pool
        scores = self.pool_scores
        while True:
            total = 0
            for db in self.dbs():
                n = len(db.expires) if volatile else len(db.data)
                if n:
                    total += n
                    self._populate(db, volatile)
            if not total:
                return None
            # The best candidate that still exists (and still has a TTL
            # under a volatile policy); stale entries are dropped.
            while pool:
                _, key, db = pool.pop()
                scores.pop()
                if (key in db.expires) if volatile else (key in db.data):
                    return db, key

    def _populate(self, db: Any, volatile: bool) -> None:
        """evictionPoolPopulate: sample keys of db, merge them into the pool."""
        policy = self.policy
        pool = self.pool
        scores = self.pool_scores
        cells = db.cells_saved[0] if db.cells_saved else db.cells
        mask = len(cells) - 1
        if policy.endswith("lfu"):
            now_minutes = lfu_minutes(db.clock.ms())
            decay = db.access_policy.decay_time
        for key in sample_keys(db, self.samples, volatile):
            if policy.endswith("lru"):
                score = lru_idle_ms(cells[hash(key) & mask] & META_MASK, db.lru_now)
            elif policy.endswith("lfu"):
                h = hash(key)
                cell = cells[h & mask]
                if cell & FP_MASK == (h >> 24) & FP_MASK:
                    score = 255 - lfu_decayed(cell & META_MASK, now_minutes, decay)
                else:
                    score = IDLE_UNKNOWN_LFU
            else:  # volatile-ttl: the sooner it expires, the better
                when = db.expires.get(key)
                if when is None:
                    continue
                score = (1 << 64) - int(when)
            # Redis's insertion: the first slot whose score is not lower;
            # with a full pool, a key worse than all is skipped and the
            # worst entry makes room.
            k = bisect_left(scores, score)
            if len(pool) < EVPOOL_SIZE:
                pool.insert(k, (score, key, db))
                scores.insert(k, score)
            elif k > 0:
                del pool[0]
                del scores[0]
                pool.insert(k - 1, (score, key, db))
                scores.insert(k - 1, score)

    def _random_victim(self, volatile: bool) -> tuple[Any, bytes] | None:
        dbs = self.dbs()
        for i in range(len(dbs)):
            db = dbs[(self.next_db + i) % len(dbs)]
            keys = sample_keys(db, 1, volatile)
            if keys:
                self.next_db = (self.next_db + i + 1) % len(dbs)
                return db, keys[0]
        return None


def sample_keys(db: Any, count: int, volatile: bool) -> list[bytes]:
    """Up to count random keys of db (with a TTL if volatile), as Redis's
    dictGetSomeKeys: from the expiry pool or the slot index."""
    out: list[bytes] = []
    if volatile:
        pool = db.expiry_pool
        expires = db.expires
        tries = 0
        while len(out) < count and pool and tries < 4 * count + 16:
            tries += 1
            i = random.randrange(len(pool))
            key = pool[i]
            if key in expires:
                out.append(key)
            else:  # lost its TTL since: drop the entry (as the expiry cycle does)
                pool[i] = pool[-1]
                pool.pop()
        return out
    if not db.data:
        return out
    slots = db.slots
    for _ in range(count):
        bucket = slots.random_bucket()
        if bucket is None:
            break
        if bucket.__class__ is list:
            out.append(bucket[random.randrange(len(bucket))])
        else:  # a set (a crowded slot): its first element after a random skip
            out.append(next(iter(bucket)) if len(bucket) < 2 else random.choice(tuple(bucket)))
    return out
