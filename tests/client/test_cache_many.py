"""Multi-key operations (issue 18): get_many / set_many / delete_many,
get_or_set_many with one loader call for all misses and per-key stampede
protection, and the multi-key decorator. Loads are counted per key."""

from __future__ import annotations

import asyncio
import collections
import threading
import time

import redis

from ringcache.client import MISS, AsyncCache, Cache, CircuitBreaker

from conftest import ManualClock


def test_get_set_delete_many(url: str, raw: redis.Redis) -> None:
    with Cache(url, namespace="ns:") as cache:
        assert cache.get_many([]) == {}
        assert cache.set_many({"a": 1, "b": [2], "c": None}, ttl=60) is True
        assert cache.get_many(["a", "b", "c", "d"]) == {"a": 1, "b": [2], "c": None, "d": MISS}
        assert cache.get_many(["d"], default=0) == {"d": 0}
        assert raw.pttl("ns:a") > 0
        assert cache.delete_many(["a", "b", "zz"]) == 2
        assert cache.get_many(["a", "c"]) == {"a": MISS, "c": None}


def test_get_or_set_many_loads_only_the_misses_in_one_call(url: str) -> None:
    calls: list[list[str]] = []

    def load_many(keys: list[str]) -> dict[str, object]:
        calls.append(list(keys))
        return {k: k.upper() for k in keys if k != "absent"}  # "absent" left out: None

    with Cache(url) as cache:
        cache.set("b", "cached-b")
        result = cache.get_or_set_many(["a", "b", "c", "absent", "a"], load_many, ttl=60)
        assert list(result) == ["a", "b", "c", "absent"]
        assert result == {"a": "A", "b": "cached-b", "c": "C", "absent": None}
        assert calls == [["a", "c", "absent"]]
        # stored (None only with none_ttl): the next call loads just "absent"
        assert cache.get_or_set_many(["a", "c", "absent"], load_many) == {"a": "A", "c": "C", "absent": None}
        assert calls[-1] == ["absent"] and len(calls) == 2
        # a list in the order of the keys works too
        assert cache.get_or_set_many(["x", "y"], lambda keys: [k * 2 for k in keys],
                                     stampede=None) == {"x": "xx", "y": "yy"}
        m = cache.metrics.as_dict()
        assert m["loads"] == 3


def test_get_or_set_many_one_load_per_key_among_threads(url: str) -> None:
    """40 threads ask for overlapping sets of 20 keys at once; every key is loaded
    exactly once, by whichever caller locked it, and everyone gets every value."""
    loaded: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def load_many(keys: list[str]) -> list[str]:
        with lock:
            loaded.update(keys)
        time.sleep(0.05)  # the load stays in flight while the others miss
        return [f"v{k}" for k in keys]

    start = threading.Barrier(40)
    results = []
    with Cache(url, backoff=(0.005, 0.02)) as cache:
        def reader(i: int) -> None:
            keys = [f"k{(i + j) % 20}" for j in range(10)]
            start.wait()
            got = cache.get_or_set_many(keys, load_many, ttl=60)
            results.append(got == {k: f"v{k}" for k in keys})

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        m = cache.metrics.as_dict()
    assert results == [True] * 40
    assert sorted(loaded) == sorted(f"k{i}" for i in range(20)) and set(loaded.values()) == {1}
    assert m["errors"] == 0 and m["lock_timeouts"] == 0


def test_async_get_or_set_many_one_load_per_key(url: str) -> None:
    async def main() -> None:
        loaded: collections.Counter[str] = collections.Counter()

        async def load_many(keys: list[str]) -> dict[str, str]:
            loaded.update(keys)
            await asyncio.sleep(0.05)
            return {k: f"v{k}" for k in keys}

        async with AsyncCache(url, backoff=(0.005, 0.02)) as cache:
            async def reader(i: int) -> bool:
                keys = [f"k{(i + j) % 20}" for j in range(10)]
                return await cache.get_or_set_many(keys, load_many, ttl=60) == {k: f"v{k}" for k in keys}

            assert all(await asyncio.gather(*(reader(i) for i in range(200))))
            assert await cache.get_many(["k1", "k2"]) == {"k1": "vk1", "k2": "vk2"}
            assert await cache.set_many({"z": 1}) is True and await cache.delete_many(["z"]) == 1
        assert sorted(loaded) == sorted(f"k{i}" for i in range(20)) and set(loaded.values()) == {1}

    asyncio.run(main())


def test_get_or_set_many_waiter_serves_stale_and_fails_open(own_redis) -> None:
    clock = ManualClock()
    with Cache(own_redis.url, clock=clock, stale_ttl=60, jitter=0,
               breaker=CircuitBreaker(1, 10.0, 5.0, clock=ManualClock(0.0))) as cache:
        cache.set_many({"a": "old-a", "b": "old-b"}, ttl=10)
        clock.advance(11)  # both stale
        redis.Redis.from_url(own_redis.url).set("a:lock", "another-process", px=60_000)
        got = cache.get_or_set_many(["a", "b"], lambda keys: {k: "new-" + k for k in keys})
        assert got == {"a": "old-a", "b": "new-b"}  # a is being loaded elsewhere: stale
        assert cache.metrics.as_dict()["stale_hits"] == 1
        own_redis.stop()
        calls = []
        got = cache.get_or_set_many(["c", "d"], lambda keys: calls.append(keys) or [1, 2])
        assert got == {"c": 1, "d": 2} and calls == [["c", "d"]]  # fail open: one call
        assert cache.set_many({"e": 1}) is False and cache.get_many(["e"]) == {"e": MISS}


def test_cached_many_decorator(url: str) -> None:
    calls: list[tuple[int, ...]] = []
    with Cache(url) as cache:
        @cache.cached_many(ttl=60)
        def squares(*ids: int) -> list[int]:
            calls.append(ids)
            return [i * i for i in ids]

        assert squares(1, 2, 3) == [1, 4, 9] and calls == [(1, 2, 3)]
        assert squares(3, 4, 1) == [9, 16, 1] and calls[-1] == (4,)
        assert squares.invalidate(1, 4) == 2
        assert squares(1, 2) == [1, 4] and calls[-1] == (1,)
        assert squares.refresh(2) == [4] and calls[-1] == (2,)
        assert squares.key(2).startswith("fn:") and squares.key(2) != squares.key("2")

        @cache.cached_many(ttl=60, key=lambda pid: f"product:{pid}")
        def products(*ids: int) -> dict[int, dict]:
            return {i: {"id": i} for i in ids if i != 404}  # 404 left out: None

        assert products(1, 404) == [{"id": 1}, None]
        assert cache.get("product:1") == {"id": 1} and cache.get("product:404") is MISS

    async def main() -> None:
        async with AsyncCache(url) as acache:
            seen = []

            @acache.cached_many(ttl=60)
            async def cubes(*ids: int) -> list[int]:
                seen.append(ids)
                return [i ** 3 for i in ids]

            assert await cubes(2, 3) == [8, 27] and await cubes(3, 4) == [27, 64]
            assert seen == [(2, 3), (4,)]
            assert await cubes.invalidate(2) == 1 and await cubes.refresh(2) == [8]

    asyncio.run(main())
