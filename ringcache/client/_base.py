"""Configuration and pure helpers common to Cache and AsyncCache."""

from __future__ import annotations

import logging
import random as _random
import time
from dataclasses import dataclass
from typing import Any, Callable

from . import _core
from ._core import DEFAULT, Entry, StampedeMode
from .metrics import Metrics
from .serializers import Serializer, resolve

log = logging.getLogger("ringcache.client")

Clock = Callable[[], float]


@dataclass(slots=True)
class HotKey:
    """A key kept fresh by refresh-ahead: reloaded before its soft expiry."""
    key: str  # full (prefixed) key
    loader: Callable[[], Any]
    ttl: float
    ahead: float  # seconds before soft expiry at which the refresh is due


class CacheBase:
    """Everything but the I/O: keys, TTLs, envelopes, options, metrics."""

    def __init__(self, *, namespace: str = "", serializer: str | Serializer = "json",
                 default_ttl: float | None = 300.0, jitter: float = 0.1,
                 none_ttl: float | None = None, stale_ttl: float = 0.0,
                 stampede: StampedeMode = "lock", beta: float = 1.0,
                 lock_ttl: float = 10.0, lock_wait: float | None = None,
                 backoff: tuple[float, float] = (0.005, 0.1), serve_stale: bool = True,
                 single_flight: bool = True, fail_open: bool = True,
                 refresh_interval: float = 0.5,
                 clock: Clock = time.time, rand: Callable[[], float] = _random.random) -> None:
        if default_ttl is not None and default_ttl <= 0:
            raise ValueError("default_ttl must be positive or None (no expiry)")
        if not 0.0 <= jitter < 1.0:
            raise ValueError("jitter is a fraction of the TTL in [0, 1)")
        if stale_ttl < 0 or lock_ttl <= 0 or beta <= 0:
            raise ValueError("stale_ttl must be >= 0, lock_ttl and beta > 0")
        self.namespace = namespace
        self.serializer = resolve(serializer)
        self.default_ttl = default_ttl
        self.jitter = jitter
        self.none_ttl = none_ttl
        self.stale_ttl = stale_ttl
        self.stampede: StampedeMode = _core.check_mode(stampede)
        self.beta = beta
        self.lock_ttl = lock_ttl
        # How long a waiter waits for another holder before loading itself (fail open).
        self.lock_wait = lock_ttl if lock_wait is None else lock_wait
        self.backoff = backoff
        self.serve_stale = serve_stale
        self.single_flight = single_flight
        self.fail_open = fail_open
        self.refresh_interval = refresh_interval
        self.clock = clock
        self.rand = rand
        self.metrics = Metrics()
        self._hot: dict[str, HotKey] = {}

    # -- keys -----------------------------------------------------------------
    def full_key(self, key: str | bytes) -> str:
        return self.namespace + _core.to_key(key)

    @staticmethod
    def lock_key(full: str) -> str:
        # Suffix, not prefix: a {hash tag} in the key keeps the lock in the key's slot.
        return full + ":lock"

    # -- TTLs -----------------------------------------------------------------
    def resolve_ttl(self, ttl: float | None | Any, value: Any) -> float | None:
        if value is None and self.none_ttl is not None and ttl is DEFAULT:
            ttl = self.none_ttl
        if ttl is DEFAULT:
            ttl = self.default_ttl
        if ttl is None:
            return None
        if not isinstance(ttl, (int, float)) or ttl <= 0:
            raise ValueError(f"ttl must be a positive number of seconds or None, not {ttl!r}")
        return _core.jittered(float(ttl), self.jitter, self.rand)

    def pack(self, key: str, value: Any, ttl: float | None, delta: float) -> tuple[bytes, int | None]:
        """(stored bytes, server PX in ms or None)."""
        expires_at = 0.0 if ttl is None else self.clock() + ttl
        blob = _core.encode(key, value, self.serializer, delta, expires_at)
        px = None if ttl is None else max(1, int((ttl + self.stale_ttl) * 1000))
        return blob, px

    def unpack(self, key: str, data: bytes | None) -> Entry | None:
        if data is None:
            return None
        try:
            return _core.decode(bytes(data), self.serializer)
        except Exception:
            # A value written in another format (a serializer change during a deploy):
            # a miss that the next load overwrites, not an error for the caller.
            self.metrics.incr("errors")
            log.warning("cannot decode the cached value of %r; treating it as a miss", key,
                        exc_info=True)
            return None

    def should_cache(self, value: Any) -> bool:
        return value is not None or self.none_ttl is not None

    def mode(self, stampede: StampedeMode | Any) -> StampedeMode:
        return self.stampede if stampede is DEFAULT else _core.check_mode(stampede)

    def early(self, entry: Entry, now: float, mode: StampedeMode, beta: float | None) -> bool:
        return mode == "xfetch" and _core.xfetch_due(entry, now, beta or self.beta, self.rand)

    def classify(self, entry: Entry | None, mode: StampedeMode,
                 beta: float | None) -> tuple[bool, Entry | None]:
        """What get_or_set does with what it read: (hit, stale). A hit is a fresh
        entry XFetch does not pick for early recomputation; anything else is a
        miss, and a present entry is kept as the stale value. Counts both."""
        stale: Entry | None = None
        if entry is not None:
            now = self.clock()
            if entry.fresh(now):
                if not self.early(entry, now, mode, beta):
                    self.metrics.incr("hits")
                    return True, entry
                self.metrics.incr("early_recomputes")
            stale = entry
        self.metrics.incr("misses")
        return False, stale

    def hot_due(self, hot: HotKey, entry: Entry | None, now: float) -> bool:
        return entry is None or (entry.expires_at != 0.0 and entry.expires_at - now <= hot.ahead)

    def backoff_delays(self) -> Any:
        delay, cap = self.backoff
        while True:
            # full jitter: waiters do not wake in lockstep and hammer the server together
            yield delay * (0.5 + 0.5 * self.rand())
            delay = min(delay * 2, cap)
