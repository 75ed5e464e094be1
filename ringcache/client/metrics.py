"""Counters kept by a cache, readable as a dict (and by prometheus_client if installed).

Counters are updated under a lock: the sync cache is used from many threads and
``+=`` on an attribute is not atomic across threads.
"""

from __future__ import annotations

import threading
from typing import Any

FIELDS = ("hits", "misses", "stale_hits", "loads", "load_errors", "load_time", "stampede_waits",
          "lock_timeouts", "early_recomputes", "refreshes", "errors", "singleflight_shared")


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, float] = {name: 0 for name in FIELDS}

    def incr(self, name: str, amount: float = 1) -> None:
        with self._lock:
            self._values[name] += amount

    def as_dict(self) -> dict[str, float]:
        """A snapshot; ``hit_ratio`` is hits / (hits + misses), 0.0 before any read."""
        with self._lock:
            out = dict(self._values)
        reads = out["hits"] + out["misses"]
        out["hit_ratio"] = out["hits"] / reads if reads else 0.0
        return out

    def reset(self) -> None:
        with self._lock:
            for name in self._values:
                self._values[name] = 0

    def register_prometheus(self, prefix: str = "ringcache_client", registry: Any = None) -> bool:
        """Expose the counters through prometheus_client, if it is importable.

        Returns False (and does nothing) when prometheus_client is not installed, so
        callers need no import guard of their own.
        """
        try:
            from prometheus_client.core import GaugeMetricFamily  # type: ignore[import-not-found,unused-ignore]
            from prometheus_client import REGISTRY  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            return False
        metrics = self

        class _Collector:
            def collect(self) -> Any:
                for name, value in metrics.as_dict().items():
                    family = GaugeMetricFamily(f"{prefix}_{name}", f"ringcache client {name}")
                    family.add_metric([], value)
                    yield family

        (registry if registry is not None else REGISTRY).register(_Collector())
        return True
