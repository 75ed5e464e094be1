"""Counters kept by a cache, readable as a dict (and by prometheus_client if installed).

Counters are updated under a lock: the sync cache is used from many threads and
``+=`` on an attribute is not atomic across threads. Gauges (write-behind queue
depth) are not counted but read when a snapshot is taken: a component registers a
callable under a name, and the snapshot sums the callables of each name (two
write-behind queues on one cache report their total depth).

Groups: the cache's reads (``hits``/``misses``, ``hit_ratio``), the near cache's
L1 (``l1_hits``/``l1_misses``, ``l1_hit_ratio``, ``l1_invalidations``,
``l1_flushes``, ``l1_slot_drops``: entries of a cluster slot that moved), write-behind (``wb_*``) and hot keys (``hot_*``).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable

FIELDS = ("hits", "misses", "stale_hits", "loads", "load_errors", "load_time", "stampede_waits",
          "lock_timeouts", "early_recomputes", "refreshes", "errors", "singleflight_shared", "tag_invalidated",
          # failure policy: waits for a free connection, calls skipped by the open
          # circuit breaker, times it opened
          "pool_waits", "breaker_skips", "breaker_opens",
          # near cache (L1)
          "l1_hits", "l1_misses", "l1_invalidations", "l1_flushes", "l1_slot_drops",
          # write-behind: writes accepted, rows delivered to the database, batches, failed
          # database calls, retries, writes moved to the dead-letter list, writers blocked
          # by a full queue
          "wb_writes", "wb_flushed", "wb_batches", "wb_failures", "wb_retries", "wb_dead_letters",
          "wb_backpressure_waits",
          # hot keys: promotions to replicated, reads served by a copy
          "hot_promotions", "hot_demotions", "hot_copy_reads")
GAUGES = ("wb_queue_depth",)


class Metrics:
    def __init__(self, namespace: str = "") -> None:
        self.namespace = namespace  # the Prometheus label of these metrics
        self._lock = threading.Lock()
        self._values: dict[str, float] = {name: 0 for name in FIELDS}
        self._gauges: dict[str, list[Callable[[], float]]] = {name: [] for name in GAUGES}

    def incr(self, name: str, amount: float = 1) -> None:
        with self._lock:
            self._values[name] += amount

    def add_gauge(self, name: str, read: Callable[[], float]) -> None:
        with self._lock:
            self._gauges.setdefault(name, []).append(read)

    def remove_gauge(self, name: str, read: Callable[[], float]) -> None:
        with self._lock:
            readers = self._gauges.get(name, [])
            if read in readers:
                readers.remove(read)

    def as_dict(self) -> dict[str, float]:
        """A snapshot; ``hit_ratio`` is hits / (hits + misses), ``l1_hit_ratio`` the
        same for the near cache, 0.0 before any read."""
        with self._lock:
            out = dict(self._values)
            gauges = {name: list(readers) for name, readers in self._gauges.items()}
        for name, readers in gauges.items():
            out[name] = sum(read() for read in readers)
        reads = out["hits"] + out["misses"]
        out["hit_ratio"] = out["hits"] / reads if reads else 0.0
        l1_reads = out["l1_hits"] + out["l1_misses"]
        out["l1_hit_ratio"] = out["l1_hits"] / l1_reads if l1_reads else 0.0
        return out

    def reset(self) -> None:
        with self._lock:
            for name in self._values:
                self._values[name] = 0

    def register_prometheus(self, prefix: str = "ringcache_client", registry: Any = None) -> bool:
        """Expose these metrics through prometheus_client, if it is importable.

        Counters are Prometheus counters (``<prefix>_hits_total``, ...; the load
        time as ``<prefix>_load_time_seconds_total``), the queue depth and the hit
        ratios gauges, every sample labelled ``namespace`` (the cache's). One
        collector per registry and prefix serves every cache registered there, so
        two caches never collide: caches of different namespaces are separate
        series, caches sharing a namespace are summed into one (their ratios
        computed from the sums). A cache dropped without unregistering stops
        being reported (the collector holds it weakly).

        Returns False (and does nothing) when prometheus_client is not installed,
        so callers need no import guard of their own.
        """
        try:
            from prometheus_client import REGISTRY  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            return False
        target = registry if registry is not None else REGISTRY
        key = (id(target), prefix)
        with _EXPORTERS_LOCK:
            exporter = _EXPORTERS.get(key)
            if exporter is None:
                exporter = _EXPORTERS[key] = _Exporter(prefix)
                target.register(exporter)
            exporter.add(self)
        return True


_EXPORTERS: dict[tuple[int, str], "_Exporter"] = {}
_EXPORTERS_LOCK = threading.Lock()
_RATIOS = ("hit_ratio", "l1_hit_ratio")


class _Exporter:
    """The prometheus_client collector of one registry and prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._sources: list[weakref.ref[Metrics]] = []
        self._lock = threading.Lock()

    def add(self, metrics: Metrics) -> None:
        with self._lock:
            self._sources = [r for r in self._sources if r() is not None and r() is not metrics]
            self._sources.append(weakref.ref(metrics))

    def describe(self) -> list[Any]:
        return []  # the families are known only when collected; no eager check needed

    def collect(self) -> Any:
        from prometheus_client.core import (  # type: ignore[import-not-found,unused-ignore]
            CounterMetricFamily, GaugeMetricFamily)
        with self._lock:
            sources = [m for m in (r() for r in self._sources) if m is not None]
        totals: dict[str, dict[str, float]] = {}
        for metrics in sources:
            values = metrics.as_dict()
            into = totals.setdefault(metrics.namespace, {})
            for name, value in values.items():
                if name not in _RATIOS:
                    into[name] = into.get(name, 0.0) + value
        for name in FIELDS:
            exported = "load_time_seconds" if name == "load_time" else name
            family = CounterMetricFamily(f"{self.prefix}_{exported}", f"ringcache client: {name}",
                                         labels=["namespace"])
            for namespace, values in totals.items():
                family.add_metric([namespace], values.get(name, 0.0))
            yield family
        for name in (*GAUGES, *_RATIOS):
            gauge = GaugeMetricFamily(f"{self.prefix}_{name}", f"ringcache client: {name}",
                                      labels=["namespace"])
            for namespace, values in totals.items():
                gauge.add_metric([namespace], _ratio(values, name) if name in _RATIOS
                                 else values.get(name, 0.0))
            yield gauge


def _ratio(values: dict[str, float], name: str) -> float:
    hits, misses = (values["hits"], values["misses"]) if name == "hit_ratio" \
        else (values["l1_hits"], values["l1_misses"])
    return hits / (hits + misses) if hits + misses else 0.0
