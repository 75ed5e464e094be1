"""Stampede protection: single flight, the distributed lock, XFetch,
refresh-ahead. Assertions are on counts and order, never on elapsed time."""

from __future__ import annotations

import asyncio
import math
import threading
import time

import pytest
import redis

from ringcache.client import AsyncCache, Cache
from ringcache.client._core import Entry, xfetch_due
from ringcache.client.singleflight import AsyncSingleFlight, SingleFlight


def test_single_flight_threads_share_one_load() -> None:
    flight = SingleFlight()
    release = threading.Event()
    calls = []
    results = []

    def load() -> str:
        calls.append(1)
        release.wait(5)
        return "v"

    threads = [threading.Thread(target=lambda: results.append(flight.do("k", load))) for _ in range(20)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while flight.in_flight() == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(0.02)  # let the followers reach the wait (correctness does not depend on it)
    release.set()
    for t in threads:
        t.join()
    assert len(results) == 20 and all(v == "v" for v, _ in results)
    assert calls == [1]
    assert flight.in_flight() == 0
    # an exception reaches every waiter of that flight, and the next call loads again
    with pytest.raises(ZeroDivisionError):
        flight.do("k", lambda: 1 / 0)
    assert flight.do("k", lambda: 2) == (2, False)


def test_async_single_flight() -> None:
    async def main() -> None:
        flight = AsyncSingleFlight()
        calls = []

        async def load() -> int:
            calls.append(1)
            await asyncio.sleep(0.01)
            return 42

        results = await asyncio.gather(*(flight.do("k", load) for _ in range(100)))
        assert calls == [1]
        assert sorted(shared for _, shared in results) == [False] + [True] * 99

        async def boom() -> int:
            await asyncio.sleep(0)
            raise KeyError("x")

        outcomes = await asyncio.gather(*(flight.do("e", boom) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(o, KeyError) for o in outcomes)
        assert flight.in_flight() == 0

    asyncio.run(main())


@pytest.mark.parametrize("single_flight", [True, False])
def test_lock_one_loader_among_many_threads(url: str, single_flight: bool) -> None:
    """20 threads miss at once; with single flight off every thread goes to the
    distributed lock, as separate processes would: still exactly one load."""
    calls = []
    start = threading.Barrier(20)

    def loader() -> str:
        calls.append(1)
        time.sleep(0.05)
        return "v"

    with Cache(url, stampede="lock", single_flight=single_flight) as cache:
        results = []

        def reader() -> None:
            start.wait()
            results.append(cache.get_or_set("k", loader, ttl=60))

        threads = [threading.Thread(target=reader) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == ["v"] * 20
        assert calls == [1]
        m = cache.metrics.as_dict()
        assert m["loads"] == 1 and m["lock_timeouts"] == 0
        assert not redis.Redis.from_url(url).exists("k:lock")  # released


def test_lock_is_released_only_by_its_holder(url: str, raw: redis.Redis) -> None:
    with Cache(url) as cache:
        raw.set("k:lock", "someone-else", px=60_000)
        assert cache._unlock("k:lock", "my-token") is False
        assert raw.get("k:lock") == b"someone-else"
        raw.set("k:lock", "my-token", px=60_000)
        assert cache._unlock("k:lock", "my-token") is True
        assert not raw.exists("k:lock")


def test_holder_slower_than_lock_ttl_does_not_free_the_next_lock(url: str, raw: redis.Redis) -> None:
    with Cache(url, lock_ttl=60) as cache:
        def loader() -> int:
            # our lock "expired" and another process took it meanwhile
            raw.set("k:lock", "next-holder", px=60_000)
            return 1

        assert cache.get_or_set("k", loader, stampede="lock") == 1
        assert raw.get("k:lock") == b"next-holder"


def test_dead_holders_lock_expires(url: str, raw: redis.Redis) -> None:
    raw.set("k:lock", "dead-process", px=150)  # its holder crashed mid-load
    calls = []
    with Cache(url, backoff=(0.01, 0.02)) as cache:
        assert cache.get_or_set("k", lambda: calls.append(1) or "v", stampede="lock") == "v"
        m = cache.metrics.as_dict()
    assert calls == [1]
    assert m["stampede_waits"] >= 1 and m["lock_timeouts"] == 0


def test_waiter_gives_up_after_lock_wait_and_loads(url: str, raw: redis.Redis) -> None:
    raw.set("k:lock", "stuck", px=60_000)
    with Cache(url, lock_wait=0.05, backoff=(0.01, 0.01)) as cache:
        assert cache.get_or_set("k", lambda: "v", stampede="lock") == "v"
        assert cache.metrics.as_dict()["lock_timeouts"] == 1
    assert raw.get("k:lock") == b"stuck"  # not ours: untouched


def test_waiter_gets_stale_value_while_another_loads(url: str, raw: redis.Redis, clock) -> None:
    with Cache(url, clock=clock, stale_ttl=60, jitter=0) as cache:
        cache.set("k", "old", ttl=10)
        clock.advance(11)  # soft-expired, kept for 60 s more as stale
        raw.set("k:lock", "other-process", px=60_000)
        assert cache.get_or_set("k", lambda: "new", stampede="lock") == "old"
        assert cache.metrics.as_dict()["stale_hits"] == 1
        raw.delete("k:lock")
        assert cache.get_or_set("k", lambda: "new", stampede="lock") == "new"
    with Cache(url, clock=clock, stale_ttl=60, serve_stale=False, lock_wait=0.03,
               backoff=(0.01, 0.01)) as cache:
        clock.advance(400)  # past the default 300 s TTL of "new"
        raw.set("k:lock", "other-process", px=60_000)
        assert cache.get_or_set("k", lambda: "newer", stampede="lock") == "newer"


@pytest.mark.parametrize("mode", ["lock", None])
def test_loader_double_checks_before_loading(url: str, clock, mode) -> None:
    """A caller that missed, then got the lock (or led the single flight) after
    another process or flight stored the value, returns the stored value instead
    of loading again."""
    with Cache(url, clock=clock, jitter=0) as cache, Cache(url, clock=clock, jitter=0) as other:
        stored = threading.Event()

        class Hook:
            def __call__(self) -> str:
                return "loaded-by-us"

        real_read = cache._read
        first = [True]

        def read_then_other_stores(full: str, op=None):
            entry = real_read(full, op)
            if first[0]:
                first[0] = False
                other.set("k", "loaded-by-other", ttl=10)
                stored.set()
            return entry

        cache._read = read_then_other_stores  # type: ignore[method-assign]
        assert cache.get_or_set("k", Hook(), stampede=mode) == "loaded-by-other"
        assert stored.is_set() and cache.metrics.as_dict()["loads"] == 0


def test_xfetch_formula() -> None:
    entry = Entry("v", delta=2.0, expires_at=100.0)
    # -ln(u) * delta * beta reaches back from expiry: u=1 never early, small u early
    assert not xfetch_due(entry, 99.0, 1.0, lambda: 1.0)
    u = math.exp(-0.5)  # -ln(u) = 0.5 -> recompute once within 0.5*2*beta of expiry
    assert not xfetch_due(entry, 98.9, 1.0, lambda: u)
    assert xfetch_due(entry, 99.0, 1.0, lambda: u)
    assert xfetch_due(entry, 98.0, 2.0, lambda: u)          # larger beta: earlier
    assert not xfetch_due(Entry("v", 0.0, 100.0), 99.9, 1.0, lambda: 1e-9)  # no delta known
    assert not xfetch_due(Entry("v", 1.0, 0.0), 1e12, 1.0, lambda: 1e-9)   # never expires
    assert xfetch_due(entry, 0.0, 1.0, lambda: 0.0)


def test_xfetch_recomputes_early_with_measured_delta(url: str, clock) -> None:
    draws = iter([0.9, math.exp(-0.5)])

    def slow_loader() -> str:
        clock.advance(2.0)  # the load "takes" 2 s: delta = 2
        return "v"

    with Cache(url, clock=clock, jitter=0, rand=lambda: next(draws), stampede="xfetch") as cache:
        cache.get_or_set("k", slow_loader, ttl=10)  # expires at start + 2 + 10
        clock.advance(9.5)                          # 0.5 s before expiry
        # u=0.9: -ln(0.9)*2 = 0.21 < 0.5 -> a hit
        assert cache.get_or_set("k", slow_loader, ttl=10) == "v"
        assert cache.metrics.as_dict()["loads"] == 1
        # u=e^-0.5: -ln(u)*2 = 1.0 >= 0.5 -> recompute before expiry
        assert cache.get_or_set("k", slow_loader, ttl=10) == "v"
        m = cache.metrics.as_dict()
        assert m["loads"] == 2 and m["early_recomputes"] == 1
        assert m["load_time"] == pytest.approx(4.0)


def test_refresh_ahead_reloads_before_expiry(url: str, clock) -> None:
    calls = []
    with Cache(url, clock=clock, jitter=0) as cache:
        cache.register_hot("hot", lambda: calls.append(1) or len(calls), ttl=10, ahead=0.2, start=False)
        assert cache.refresh_hot() == 1          # absent: loaded
        assert cache.refresh_hot() == 0          # fresh and not yet due
        clock.advance(7.9)
        assert cache.refresh_hot() == 0
        clock.advance(0.2)                       # within 2 s of expiry
        assert cache.refresh_hot() == 1
        assert cache.get_or_set("hot", lambda: -1) == 2  # readers never load
        for _ in range(5):
            clock.advance(8.5)
            cache.refresh_hot()
            assert cache.get_or_set("hot", lambda: -1) > 0
        assert len(calls) == 7 and cache.metrics.as_dict()["refreshes"] == 7
        cache.unregister_hot("hot")
        clock.advance(100)
        assert cache.refresh_hot() == 0


def test_refresh_ahead_one_refresher_among_processes(url: str, raw: redis.Redis, clock) -> None:
    calls = []
    with Cache(url, clock=clock, jitter=0) as a, Cache(url, clock=clock, jitter=0) as b:
        for cache in (a, b):
            cache.register_hot("hot", lambda: calls.append(1) or "v", ttl=10, start=False)
        assert a.refresh_hot() + b.refresh_hot() == 1
        clock.advance(9)
        raw.set("hot:lock", "a-refresher-elsewhere", px=60_000)
        assert a.refresh_hot() == 0  # someone holds the refresh lock
        raw.delete("hot:lock")
        assert b.refresh_hot() + a.refresh_hot() == 1
        assert len(calls) == 2


def test_refresh_ahead_thread_is_owned_and_stopped(url: str) -> None:
    loaded = threading.Event()
    cache = Cache(url, refresh_interval=0.01)
    cache.register_hot("hot", lambda: loaded.set() or "v", ttl=60)
    thread = cache._refresher
    assert thread is not None and thread.is_alive()
    assert loaded.wait(5)
    cache.close()
    assert not thread.is_alive() and cache._refresher is None


def test_refresh_ahead_failures_are_counted_not_fatal(url: str, clock) -> None:
    with Cache(url, clock=clock) as cache:
        cache.register_hot("bad", lambda: 1 / 0, ttl=10, start=False)
        cache.register_hot("good", lambda: "ok", ttl=10, start=False)
        assert cache.refresh_hot() == 1
        assert cache.metrics.as_dict()["errors"] == 1
        with pytest.raises(ValueError):
            Cache(url, default_ttl=None).register_hot("x", lambda: 1)


def test_async_lock_and_refresh_ahead(url: str, clock) -> None:
    async def main() -> None:
        calls = []

        async def loader() -> str:
            calls.append(1)
            await asyncio.sleep(0.02)
            return "v"

        # single flight off: every task takes the distributed lock path
        async with AsyncCache(url, single_flight=False, backoff=(0.005, 0.02)) as cache:
            results = await asyncio.gather(*(cache.get_or_set("k", loader, ttl=60) for _ in range(50)))
            assert results == ["v"] * 50 and calls == [1]
            assert cache.metrics.as_dict()["stampede_waits"] >= 1

        async with AsyncCache(url, clock=clock, jitter=0) as cache:
            results = await asyncio.gather(*(cache.get_or_set("s", loader, ttl=60) for _ in range(50)))
            assert results == ["v"] * 50 and len(calls) == 2
            assert cache.metrics.as_dict()["singleflight_shared"] == 49

            cache.register_hot("hot", loader, ttl=10, start=False)
            assert await cache.refresh_hot() == 1
            clock.advance(8.5)
            assert await cache.refresh_hot() == 1
            assert await cache.refresh_hot() == 0
            assert len(calls) == 4

        cache = AsyncCache(url, refresh_interval=0.01)
        cache.register_hot("hot2", loader, ttl=60)
        task = cache._refresher
        assert task is not None
        for _ in range(500):
            if await cache.get("hot2") == "v":
                break
            await asyncio.sleep(0.01)
        await cache.aclose()
        assert task.done() and cache._refresher is None

    asyncio.run(main())


def test_cancelled_loader_releases_the_lock(url: str, raw: redis.Redis) -> None:
    """A task cancelled while it holds the stampede lock releases it on the way
    out (the step's finally runs its UNLOCK through the driver), so other
    processes do not wait lock_ttl for nothing."""
    async def main() -> None:
        async with AsyncCache(url, lock_ttl=60, single_flight=False) as cache:
            started = asyncio.Event()

            async def slow() -> str:
                started.set()
                await asyncio.sleep(60)
                return "never"

            task = asyncio.ensure_future(cache.get_or_set("k", slow, stampede="lock"))
            await started.wait()
            assert raw.exists("k:lock")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not raw.exists("k:lock") and cache.metrics.as_dict()["load_errors"] == 1

    asyncio.run(main())
