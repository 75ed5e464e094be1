"""Near cache (L1) kept fresh by CLIENT TRACKING (RESP2 redirect): a write from
another client evicts the L1 copy; bounds; flush on connection loss."""

from __future__ import annotations

import pytest
import redis

from ringcache.client import MISS, Cache
from ringcache.client.near_cache import NearCache, wait_for


REDIS_PY_MAJOR = int(redis.__version__.split(".")[0])
needs_push = pytest.mark.skipif(REDIS_PY_MAJOR < 6, reason="RESP3 push mode needs redis-py 6+")


@pytest.mark.parametrize("protocol", [2, pytest.param(3, marks=needs_push)], ids=["resp2-redirect", "resp3-push"])
@pytest.mark.parametrize("bcast", [False, True], ids=["default", "bcast"])
def test_write_from_another_client_evicts_l1(url: str, raw: redis.Redis, bcast: bool, protocol: int) -> None:
    with Cache(url, namespace="app:") as cache, Cache(url, namespace="app:") as other, \
            NearCache(cache, bcast=bcast, protocol=protocol) as near:
        other.set("k", "v1")
        # L1 miss, read through the tracked connection. In BCAST mode the
        # invalidation of this very write may arrive during the read, and then the
        # value is (rightly) not kept: read until it is.
        assert wait_for(lambda: near.get("k") == "v1" and "k" in near)
        hits = near.stats()["l1_hits"]
        assert near.get("k") == "v1"          # L1 hit: no server read
        assert near.stats()["l1_hits"] == hits + 1 and 0 < near.stats()["hit_ratio"] < 1
        other.set("k", "v2")                  # another client writes
        assert wait_for(lambda: "k" not in near), "the invalidation did not evict the L1 copy"
        assert near.get("k") == "v2"
        raw.delete("app:k")                   # a plain redis client, too
        assert wait_for(lambda: "k" not in near)
        assert near.get("k") is MISS
        other.set("k2", 1)
        assert near.get("k2") == 1
        near.get("k3")
        raw.set("other-namespace", 1)
        raw.flushall()                        # a flush (null message) empties the whole L1
        assert wait_for(lambda: near.stats()["flushes"] >= 1)
        assert len(near) == 0 and near.stats()["invalidations"] >= 2


def test_own_writes_drop_the_local_copy(url: str) -> None:
    with Cache(url) as cache, NearCache(cache) as near:
        near.set("k", 1)
        assert near.get("k") == 1 and "k" in near
        near.set("k", 2)
        assert "k" not in near and near.get("k") == 2
        assert near.delete("k") == 1
        assert near.get("k") is MISS
        assert near.get_or_set("k", lambda: 3) == 3
        assert near.get("k") == 3 and near.get("k") == 3


def test_near_cache_counters_are_in_the_cache_metrics(url: str, raw: redis.Redis) -> None:
    with Cache(url) as cache, NearCache(cache) as near:
        cache.set("k", 1)
        near.get("k")                      # L1 miss, server hit
        near.get("k")                      # L1 hit
        near.get("k")
        m = cache.metrics.as_dict()
        assert (m["l1_hits"], m["l1_misses"]) == (2, 1) and m["l1_hit_ratio"] == pytest.approx(2 / 3)
        assert m["hits"] == 1              # the one server read
        raw.set("k", b"x")
        assert wait_for(lambda: cache.metrics.as_dict()["l1_invalidations"] >= 1)
        near.flush()
        assert cache.metrics.as_dict()["l1_flushes"] == near.stats()["flushes"] >= 1


def test_bounded_by_entries_bytes_and_ttl(url: str, clock) -> None:
    with Cache(url, clock=clock, jitter=0) as cache:
        with NearCache(cache, max_entries=3, ttl=5) as near:
            for i in range(5):
                cache.set(f"k{i}", i)
                near.get(f"k{i}")
            assert len(near) == 3 and "k0" not in near and "k4" in near  # LRU order
            assert near.stats()["evictions"] == 2
            clock.advance(6)                 # past the L1 TTL: read from the server again
            hits = near.stats()["l1_hits"]
            assert near.get("k4") == 4 and near.stats()["l1_hits"] == hits
        with NearCache(cache, max_bytes=200) as near:
            cache.set("big", "x" * 500)
            cache.set("small", "y")
            assert near.get("big") == "x" * 500 and "big" not in near  # larger than the bound
            near.get("small")
            assert "small" in near and near.stats()["bytes"] <= 200
    with pytest.raises(ValueError):
        NearCache(Cache(url), max_entries=0)


def test_connection_loss_flushes_l1_and_recovers(url: str, raw: redis.Redis) -> None:
    with Cache(url) as cache, NearCache(cache, reconnect_delay=0.01) as near:
        cache.set("k", 1)
        assert near.get("k") == 1 and "k" in near
        # kill the subscriber (invalidation) connection from outside
        victims = [c["id"] for c in raw.client_list() if "subscribe" in c.get("cmd", "")
                   or c.get("sub") == "1"]
        assert victims, raw.client_list()
        for cid in victims:
            raw.client_kill_filter(_id=cid)
        assert wait_for(lambda: near.stats()["reconnects"] >= 1), "did not reconnect"
        assert "k" not in near                  # flushed when the connection dropped
        assert near.connected
        assert near.get("k") == 1 and "k" in near
        cache.set("k", 2)                       # invalidations work again after reconnecting
        assert wait_for(lambda: "k" not in near)
        assert near.get("k") == 2


def test_tracked_connection_loss_flushes_and_reconnects(url: str) -> None:
    with Cache(url) as cache, NearCache(cache) as near:
        cache.set("k", 1)
        cache.set("j", 1)
        assert near.get("k") == 1 and near.get("j") == 1 and len(near) == 2
        near._reader.disconnect()      # the tracked reader connection drops
        assert near.get("x") is MISS    # this read fails over to the plain client...
        assert len(near) == 0           # ...and the L1 is flushed: nothing is tracked any more
        assert near.get("k") == 1 and "k" in near  # a new tracked connection
        cache.set("k", 2)
        assert wait_for(lambda: "k" not in near)
        assert near.get("k") == 2


async def async_wait_for(predicate, timeout: float = 5.0) -> bool:
    import asyncio
    import time
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.002)
    return True


@pytest.mark.parametrize("bcast", [False, True], ids=["default", "bcast"])
def test_async_write_from_another_client_evicts_l1(url: str, raw: redis.Redis, bcast: bool) -> None:
    import asyncio

    from ringcache.client import AsyncCache, AsyncNearCache

    async def main() -> None:
        async with AsyncCache(url, namespace="app:") as cache, AsyncCache(url, namespace="app:") as other:
            near = AsyncNearCache(cache, bcast=bcast)
            assert await near.get("absent") is MISS      # before start(): bypasses L1
            async with near:
                await other.set("k", "v1")

                async def cached_v1() -> bool:
                    return await near.get("k") == "v1" and "k" in near

                for _ in range(100):
                    if await cached_v1():
                        break
                assert "k" in near
                hits = near.stats()["l1_hits"]
                assert await near.get("k") == "v1" and near.stats()["l1_hits"] == hits + 1
                await other.set("k", "v2")
                assert await async_wait_for(lambda: "k" not in near)
                assert await near.get("k") == "v2"
                await near.set("k", "v3")
                assert "k" not in near and await near.get("k") == "v3"
                assert await near.delete("k") == 1 and await near.get("k") is MISS
                assert await near.get_or_set("k", lambda: "loaded") == "loaded"
                raw.flushall()
                assert await async_wait_for(lambda: near.stats()["flushes"] >= 1)
                # the invalidation connection dropped from outside: flush, reconnect
                await near.get("k")
                for c in raw.client_list():
                    if "subscribe" in c.get("cmd", ""):
                        raw.client_kill_filter(_id=c["id"])
                assert await async_wait_for(lambda: near.stats()["reconnects"] >= 1)
                await other.set("k", "v4")
                assert await near.get("k") == "v4"
                await other.set("k", "v5")
                assert await async_wait_for(lambda: "k" not in near)
            assert near._task is None and len(near) == 0

    asyncio.run(main())


@needs_push
def test_resp3_push_mode_needs_no_listener_and_survives_a_killed_connection(url: str, raw: redis.Redis) -> None:
    with Cache(url) as cache, NearCache(cache, protocol=3) as near:
        assert near._thread is None                      # no listener thread, one connection
        cache.set("k", 1)
        assert near.get("k") == 1 and near.get("k") == 1 and "k" in near
        tracked = [c["id"] for c in raw.client_list() if "t" in c.get("flags", "")]
        assert len(tracked) == 1 and not any(c.get("sub") == "1" for c in raw.client_list())
        cache.set("k", 2)
        # the push waits in the socket until the next access drains it (after its
        # flight time, which the wait covers); no listener thread is involved
        assert wait_for(lambda: near.get("k") == 2)
        raw.client_kill_filter(_id=tracked[0])
        assert wait_for(lambda: "k" not in near)         # the closed socket flushed the L1
        assert near.stats()["flushes"] >= 1
        assert near.get("k") == 2 and near.get("k") == 2 and "k" in near   # a new tracked connection
        cache.set("k", 3)
        assert wait_for(lambda: near.get("k") == 3)
    with pytest.raises(ValueError):
        NearCache(Cache(url), protocol=1)


@pytest.mark.parametrize("bcast", [False, True], ids=["default", "bcast"])
@needs_push
def test_async_resp3_push_mode(url: str, raw: redis.Redis, bcast: bool) -> None:
    import asyncio

    from ringcache.client import AsyncCache, AsyncNearCache

    async def until(predicate) -> bool:
        for _ in range(1000):
            if await predicate():
                return True
            await asyncio.sleep(0.002)
        return False

    async def main() -> None:
        async with AsyncCache(url, namespace="app:") as cache, AsyncCache(url, namespace="app:") as other:
            async with AsyncNearCache(cache, protocol=3, bcast=bcast) as near:
                assert near._task is None                   # no listener task: one connection

                async def cached(value: str) -> bool:
                    return await near.get("k") == value and "k" in near

                async def evicted() -> bool:
                    await near.poll()
                    return "k" not in near

                await other.set("k", "v1")
                assert await until(lambda: cached("v1"))
                hits = near.stats()["l1_hits"]
                assert await near.get("k") == "v1" and near.stats()["l1_hits"] == hits + 1
                await other.set("k", "v2")
                # get drains the pushes that have arrived; the push's flight time remains
                assert await until(lambda: cached("v2"))
                await other.set("k", "v3")
                assert await until(evicted)
                raw.flushall()

                async def flushed() -> bool:
                    await near.poll()
                    return near.stats()["flushes"] >= 1

                assert await until(flushed)
                await other.set("k", "v4")
                assert await until(lambda: cached("v4"))
                [tracked] = [c["id"] for c in raw.client_list() if "t" in c.get("flags", "")]
                raw.client_kill_filter(_id=tracked)
                flushes = near.stats()["flushes"]

                async def noticed() -> bool:
                    await near.poll()
                    return near.stats()["flushes"] > flushes

                assert await until(noticed) and len(near) == 0
                await other.set("k", "v5")
                assert await until(lambda: cached("v5"))      # a new tracked connection
                await other.set("k", "v6")
                assert await until(lambda: cached("v6"))
            assert len(near) == 0

    asyncio.run(main())


@pytest.mark.skipif(REDIS_PY_MAJOR >= 6, reason="the refusal is for redis-py 5")
def test_resp3_push_mode_is_refused_on_redis_py_5(url: str) -> None:
    with pytest.raises(ValueError, match="redis-py 6"):
        NearCache(Cache(url), protocol=3)
