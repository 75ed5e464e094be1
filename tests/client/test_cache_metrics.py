"""Prometheus export (issue 18): counters named ``_total``, a ``namespace``
label, and several caches in one registry without a collision."""

from __future__ import annotations

import gc

import pytest

from ringcache.client import Cache

prometheus_client = pytest.importorskip("prometheus_client")


def sample(registry, name: str, namespace: str) -> float | None:
    return registry.get_sample_value(name, {"namespace": namespace})


def test_counters_with_namespace_label_and_no_collision(url: str) -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    registry = CollectorRegistry()
    with Cache(url, namespace="a:") as a, Cache(url, namespace="b:") as b, \
            Cache(url, namespace="a:") as a2:
        for cache in (a, b, a2):
            assert cache.metrics.register_prometheus(registry=registry) is True
        assert a.metrics.register_prometheus(registry=registry) is True  # again: no duplicate
        a.get_or_set("k", lambda: 1)       # miss, load
        a.get_or_set("k", lambda: 1)       # hit
        a2.get_or_set("k", lambda: 1)      # hit (same namespace, same server)
        b.get("nothing")                   # miss
        text = generate_latest(registry).decode()
        assert "# TYPE ringcache_client_hits_total counter" in text or \
            "# TYPE ringcache_client_hits counter" in text
        assert sample(registry, "ringcache_client_hits_total", "a:") == 2.0   # a + a2, summed
        assert sample(registry, "ringcache_client_misses_total", "a:") == 1.0
        assert sample(registry, "ringcache_client_loads_total", "a:") == 1.0
        assert sample(registry, "ringcache_client_misses_total", "b:") == 1.0
        assert sample(registry, "ringcache_client_hits_total", "b:") == 0.0
        assert sample(registry, "ringcache_client_hit_ratio", "a:") == pytest.approx(2 / 3)
        assert sample(registry, "ringcache_client_load_time_seconds_total", "a:") >= 0.0
        assert sample(registry, "ringcache_client_wb_queue_depth", "b:") == 0.0
    del a, a2, cache
    gc.collect()
    # a dropped cache stops being reported
    assert sample(registry, "ringcache_client_hits_total", "a:") is None
    assert sample(registry, "ringcache_client_misses_total", "b:") == 1.0
