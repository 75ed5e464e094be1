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
samples its expires dict; the cycle also keeps that pool compact.
`active-expire-effort` (1..10) raises the sample size and the budget and
lowers the acceptable share of stale keys, as in Redis.
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
    expires = db.expires
    # The pool keeps entries of keys that lost their TTL (PERSIST, DEL, SET)
    # until they are sampled; rebuild it once it is mostly such entries (so
    # it stays within about twice the keys with a TTL, and holds no dead key
    # alive long: with no TTL left at all, nothing would ever sample it).
    if len(db.expiry_pool) > 2 * len(expires) + 64:
        db.expiry_pool = list(expires)
    if not expires:
        db.avg_ttl = 0.0
        return 0
    extra = effort - 1  # active-expire-effort 1..10, as Redis's 0..9
    per_round = KEYS_PER_ROUND + KEYS_PER_ROUND // 4 * extra
    acceptable_stale = ACCEPTABLE_STALE_PERCENT - extra
    deadline = time.perf_counter() + budget_s
    now = db.clock.ms()
    expired_total = 0
    while True:
        sampled = expired = 0
        ttl_sum = 0.0
        for _ in range(min(per_round, len(expires))):
            key, ttl = db.sample_expiring(now)
            if key is None:
                break
            sampled += 1
            if ttl < 0:
                expired += 1
            else:
                ttl_sum += ttl
        expired_total += expired
        if sampled > expired:
            # INFO keyspace avg_ttl: Redis's running estimate, each round's
            # average weighing 2 %.
            average = ttl_sum / (sampled - expired)
            db.avg_ttl = average if not db.avg_ttl else db.avg_ttl * 0.98 + average * 0.02
        if sampled == 0:
            return expired_total
        db.stats.expired_stale_perc = expired / sampled
        # Repeat while more than acceptable_stale % of the sample had expired
        # (Redis's integer arithmetic), within the CPU budget.
        if expired * 100 // sampled <= acceptable_stale:
            return expired_total
        if time.perf_counter() > deadline:
            return expired_total
