"""Tags and namespace clear (issue 18): versioned tags, O(1) per tag, no SCAN.
(On a cluster: tests/client/test_cluster.py.)"""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis

from ringcache.client import MISS, AsyncCache, Cache


def test_invalidating_a_tag_drops_every_entry_carrying_it(url: str, raw: redis.Redis, clock) -> None:
    with Cache(url, namespace="app:", clock=clock) as cache:
        cache.set("p1", "phone", tags=["product:1", "catalog"])
        cache.set("p2", "case", tags=["product:2", "catalog"])
        assert cache.get_or_set("p3", lambda: "cable", tags=["catalog"]) == "cable"
        assert cache.set_many({"q1": 1, "q2": 2}, tags=["quotes"])
        cache.set("plain", "untagged")
        assert cache.get("p1") == "phone" and cache.get_many(["q1", "q2"]) == {"q1": 1, "q2": 2}
        # a tag's counter starts from the clock (ms), so a lost counter never returns
        # to a version an old entry carries
        assert int(raw.get("app:__tag__:catalog")) == int(clock() * 1000)
        commands_before = raw.info("commandstats").get("cmdstat_scan", {}).get("calls", 0)
        assert cache.invalidate_tags("product:1")
        assert cache.get("p1") is MISS and cache.get("p2") == "case"
        assert cache.invalidate_tags("catalog")
        assert [cache.get(k) for k in ("p2", "p3", "plain")] == [MISS, MISS, "untagged"]
        assert cache.get_many(["q1", "q2"]) == {"q1": 1, "q2": 2}
        cache.invalidate_tags("quotes")
        assert cache.get_many(["q1", "q2", "plain"]) == {"q1": MISS, "q2": MISS, "plain": "untagged"}
        assert raw.info("commandstats").get("cmdstat_scan", {}).get("calls", 0) == commands_before
        # an invalidated entry is not a stale value either: the next call loads
        assert cache.get_or_set("p3", lambda: "cable v2", tags=["catalog"]) == "cable v2"
        assert cache.metrics.as_dict()["tag_invalidated"] >= 5
        # a lost counter (evicted): entries that carried it are misses, not revived
        cache.set("p4", "x", tags=["lost"])
        raw.delete("app:__tag__:lost")
        assert cache.get("p4") is MISS


def test_an_invalidation_during_the_load_is_not_lost(url: str) -> None:
    """The versions are read before the loader runs: a tag invalidated while the
    loader reads the old data leaves the stored entry already invalid."""
    with Cache(url) as cache:
        def load() -> str:
            cache.invalidate_tags("t")  # another process changed the data meanwhile
            return "read before the change"

        assert cache.get_or_set("k", load, tags=["t"]) == "read before the change"
        assert cache.get("k") is MISS
        assert cache.get_or_set_many(["a", "b"], lambda ks: (cache.invalidate_tags("t"), ks)[1],
                                     tags=["t"]) == {"a": "a", "b": "b"}
        assert cache.get_many(["a", "b"]) == {"a": MISS, "b": MISS}


def test_clear_empties_a_clearable_namespace_only(url: str, raw: redis.Redis) -> None:
    with Cache(url, namespace="one:", clearable=True) as one, Cache(url, namespace="two:", clearable=True) as two:
        for cache in (one, two):
            cache.set("a", 1)
            cache.set_many({"b": 2})
            assert cache.get_or_set("c", lambda: 3, tags=["x"]) == 3
        assert one.clear()
        assert one.get_many(["a", "b", "c"]) == {"a": MISS, "b": MISS, "c": MISS}
        assert two.get_many(["a", "b", "c"]) == {"a": 1, "b": 2, "c": 3}
        one.set("a", "after")
        assert one.get("a") == "after"
        assert raw.exists("one:a") and raw.ttl("one:a") > 0  # the old keys die by their TTL
    with Cache(url) as plain, pytest.raises(TypeError, match="clearable=True"):
        plain.clear()


def test_tags_fail_open(own_redis) -> None:
    with Cache(own_redis.url, timeout=0.5, breaker=None) as cache:
        cache.set("k", "v", tags=["t"])
        own_redis.stop()
        assert cache.invalidate_tags("t") is False
        assert cache.get_or_set("k", lambda: "loaded", tags=["t"]) == "loaded"
        assert cache.set("k", "v", tags=["t"]) is False


def test_async_tags_and_clear(url: str) -> None:
    async def run() -> None:
        async with AsyncCache(url, namespace="as:", clearable=True) as cache:
            await cache.set("a", 1, tags=["t"])
            assert await cache.get_or_set("b", lambda: 2, tags=["t", "u"]) == 2
            assert await cache.set_many({"c": 3}, tags=["u"])
            assert await cache.invalidate_tags("t")
            assert await cache.get_many(["a", "b", "c"]) == {"a": MISS, "b": MISS, "c": 3}
            assert await cache.clear()
            assert await cache.get("c") is MISS

    asyncio.run(run())


def test_concurrent_loads_with_tags_load_once(url: str) -> None:
    calls: list[int] = []
    with Cache(url, single_flight=False) as cache:
        start = threading.Barrier(8)

        def worker() -> None:
            start.wait()
            assert cache.get_or_set("k", lambda: calls.append(1) or "v", tags=["t"]) == "v"

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert cache.get("k") == "v"
    assert len(calls) == 1


def test_decorated_functions_carry_tags(url: str) -> None:
    calls: list[int] = []
    with Cache(url) as cache:
        @cache.cached(ttl=60, tags=lambda pid: [f"product:{pid}", "catalog"])
        def product(pid: int) -> str:
            calls.append(pid)
            return f"p{pid}"

        @cache.cached(ttl=60, tags=["catalog"])
        def home() -> str:
            calls.append(0)
            return "home"

        assert [product(1), product(2), home(), product(1), home()] == ["p1", "p2", "home", "p1", "home"]
        assert calls == [1, 2, 0]
        cache.invalidate_tags("product:1")
        assert product(1) == "p1" and product(2) == "p2" and calls == [1, 2, 0, 1]
        assert product.refresh(2) == "p2" and calls[-1] == 2   # refresh stores with the tags too
        cache.invalidate_tags("catalog")
        assert [product(2), home()] == ["p2", "home"] and calls[-2:] == [2, 0]
