"""Versioned namespaces (O(1) invalidation) and metrics."""

from __future__ import annotations

import asyncio

import pytest
import redis

from ringcache.client import MISS, AsyncCache, AsyncVersionedNamespace, Cache, Metrics, VersionedNamespace


def test_bump_invalidates_the_namespace(url: str, raw: redis.Redis, clock) -> None:
    with Cache(url, namespace="app:", clock=clock, default_ttl=60) as cache:
        users = VersionedNamespace(cache, "users")
        v0 = users.version()
        assert v0 == int(clock() * 1000)  # a lost counter restarts from the clock, not from 1
        users.set("1", {"name": "ada"})
        assert users.get_or_set("2", lambda: "bob") == "bob"
        assert users.get("1") == {"name": "ada"}
        assert raw.exists(f"app:users:v{v0}:1")
        assert users.bump() == v0 + 1
        assert users.get("1") is MISS and users.get_or_set("2", lambda: "robert") == "robert"
        # the old entries are still there but unreachable, and die by their TTL
        assert 0 < raw.pttl(f"app:users:v{v0}:1") <= 60_000
        other = VersionedNamespace(cache, "orders")
        other.set("1", "o")
        users.bump()
        assert other.get("1") == "o"  # namespaces are independent
        assert users.delete("2") == 0 and other.delete("1") == 1


def test_version_cache_is_bounded_by_the_clock(url: str, clock) -> None:
    with Cache(url, clock=clock) as cache:
        a = VersionedNamespace(cache, "ns", version_cache=5)
        b = VersionedNamespace(cache, "ns")
        a.set("k", 1)
        b.bump()
        assert a.get("k") == 1   # a still uses its cached version
        clock.advance(6)
        assert a.get("k") is MISS


def test_async_versioned(url: str) -> None:
    async def main() -> None:
        async with AsyncCache(url) as cache:
            ns = AsyncVersionedNamespace(cache, "ns")
            await ns.set("k", 1)
            assert await ns.get_or_set("k", lambda: 2) == 1
            await ns.bump()
            assert await ns.get("k") is MISS
            assert await ns.get_or_set("k", lambda: 2) == 2
            assert await ns.delete("k") == 1

    asyncio.run(main())


def test_metrics_dict_and_optional_prometheus() -> None:
    m = Metrics()
    assert m.as_dict()["hit_ratio"] == 0.0
    m.incr("hits", 3)
    m.incr("misses")
    d = m.as_dict()
    assert d["hits"] == 3 and d["hit_ratio"] == 0.75
    assert {"loads", "load_time", "stampede_waits", "stale_hits", "errors"} <= d.keys()
    m.reset()
    assert m.as_dict()["hits"] == 0
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        assert m.register_prometheus() is False
    else:
        from prometheus_client import CollectorRegistry, generate_latest
        registry = CollectorRegistry()
        assert m.register_prometheus(registry=registry) is True
        assert b"ringcache_client_hits" in generate_latest(registry)
