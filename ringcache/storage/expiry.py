"""Active expiry: reclaim keys whose TTL passed even if nobody reads them.

Lazy expiry (Keyspace.lookup) alone would let memory fill with dead keys that
are never touched again. Redis's answer (expire.c, activeExpireCycle) runs a
few times per second (`hz`): test a sample of keys that have a TTL, delete the
expired ones, and keep going while a large share of the sample was expired,
because then the keyspace is probably full of dead keys; stop when the share
drops below ~10 %, or when the cycle has used its CPU budget (25 % of the
time between two cycles), so the server keeps answering.

The keyspace keeps a pool of the keys that were given a TTL
(Keyspace.expiry_pool) so the cycle can sample them at random, as Redis
samples its expires dict. `active-expire-effort` (1..10) raises both the
sample size and the budget, as in Redis.
"""

from __future__ import annotations

import time

from .keyspace import Keyspace

KEYS_PER_ROUND = 20
ACCEPTABLE_STALE_PERCENT = 10
BUDGET_PERCENT = 25


def cycle_budget_seconds(hz: int, effort: int = 1) -> float:
    """CPU time one cycle may take: 25 % of the cron period (more with effort)."""
    percent = BUDGET_PERCENT + 2 * (effort - 1)
    return percent / 100.0 / max(hz, 1)


def active_expire_cycle(db: Keyspace, budget_s: float, effort: int = 1) -> int:
    """Run one cycle over db; returns how many keys it reclaimed."""
    if not db.expires:
        return 0
    per_round = KEYS_PER_ROUND + KEYS_PER_ROUND // 4 * (effort - 1)
    deadline = time.perf_counter() + budget_s
    now = db.clock.ms()
    expired_total = 0
    while True:
        sampled = expired = 0
        for _ in range(min(per_round, len(db.expires))):
            key, did_expire = db.sample_expiring(now)
            if key is None:
                break
            sampled += 1
            expired += did_expire
        expired_total += expired
        if sampled:
            db.stats.expired_stale_perc = expired / sampled
        if sampled == 0 or expired * 100 <= sampled * ACCEPTABLE_STALE_PERCENT:
            return expired_total
        if time.perf_counter() > deadline:
            return expired_total
