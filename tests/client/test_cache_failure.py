"""The failure policy (issue 18): circuit breaker, the cache's own timeout (one
per operation), rate-limited warnings, and set/delete/invalidate/refresh
following fail_open. Each test runs against its own redis-server, which it
stops, freezes (SIGSTOP) and restarts; the breaker's clock is advanced by hand.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import redis

from ringcache.client import AsyncCache, Cache, CircuitBreaker, CircuitOpenError
from ringcache.client.guard import WarningLimiter

from conftest import ManualClock


def test_breaker_opens_after_threshold_in_window_and_probes_once() -> None:
    clock = ManualClock(0.0)
    b = CircuitBreaker(threshold=3, window=10.0, cooldown=5.0, clock=clock)
    assert b.allow() and not b.failure() and not b.failure()
    clock.advance(11)  # the two failures left the window
    assert not b.failure() and not b.failure()
    assert b.failure() and b.state == "open" and b.opened == 1
    assert b.blocked() and not b.allow()
    clock.advance(5)
    assert b.state == "half-open" and not b.blocked()
    assert b.allow()                       # the probe
    assert b.blocked() and not b.allow()   # the others keep skipping while it runs
    assert b.failure() and b.opened == 2   # the probe failed: another cool-down
    clock.advance(5)
    assert b.allow()
    b.success()
    assert b.state == "closed" and not b.blocked() and b.allow()
    clock.advance(5)
    b.failure()
    b.success()  # a success clears the count
    assert not b.failure() and not b.failure() and b.state == "closed"
    # a probe that ends without an answer hands the probe to the next caller
    b.failure()
    clock.advance(5)
    assert b.allow()
    b.abandon()
    assert b.allow()


def test_warning_limiter_logs_once_per_class_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock(0.0)
    limiter = WarningLimiter(interval=60.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="ringcache.client"):
        for _ in range(100):
            limiter.warn(redis.ConnectionError("refused"), "cache read of %r failed", "k")
        limiter.warn(redis.TimeoutError("timed out"), "cache read of %r failed", "k")
        clock.advance(61)
        limiter.warn(redis.ConnectionError("refused"), "cache read of %r failed", "k")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert "ConnectionError: refused" in lines[0] and "'k'" in lines[0]
    assert "TimeoutError" in lines[1]
    assert "[99 more since the last one]" in lines[2]
    assert all(r.exc_info is None for r in caplog.records)  # no traceback per call


def test_stopped_server_opens_the_breaker_and_recovery_closes_it(own_redis, products,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock(0.0)
    breaker = CircuitBreaker(threshold=3, window=10.0, cooldown=5.0, clock=clock)
    with Cache(own_redis.url, breaker=breaker, timeout=0.5) as cache:
        assert cache.get_or_set("product:1", lambda: products.load(1), ttl=60)["id"] == 1
        own_redis.stop()
        with caplog.at_level(logging.WARNING, logger="ringcache.client"):
            for pid in range(2, 12):  # reads fail open to the database
                assert cache.get_or_set(f"product:{pid}", lambda pid=pid: products.load(pid))["id"] == pid
        m = cache.metrics.as_dict()
        # three failures opened the breaker; the other seven calls skipped the server
        assert m["errors"] == 3 and m["breaker_opens"] == 1 and m["breaker_skips"] == 7
        assert products.loads() == 11
        warnings = [r.getMessage() for r in caplog.records]
        assert len(warnings) == 2, warnings  # one per failure class, one for the opening
        assert "circuit open" in warnings[1] and all(r.exc_info is None for r in caplog.records)
        # plain operations follow fail_open too while the server is away
        assert cache.set("product:1", {"id": 1}) is False
        assert cache.delete("product:1") == 0

        own_redis.start()  # same port
        assert cache.get("product:3") is not None or True  # still open: skipped, a miss
        assert cache.metrics.as_dict()["errors"] == 3
        clock.advance(5)   # cool-down over: the next call probes, succeeds, closes it
        assert cache.get_or_set("product:12", lambda: products.load(12), ttl=60)["id"] == 12
        assert breaker.state == "closed"
        assert redis.Redis.from_url(own_redis.url).exists("product:12") == 1


def test_frozen_server_costs_one_timeout_per_operation(own_redis, products) -> None:
    """SIGSTOP: the connection stays open, nothing answers. get_or_set's GET
    times out after the cache's own timeout; the lock, the re-read and the store
    are skipped (three more timeouts before), and redis-py does not retry."""
    timeout = 0.5
    with Cache(own_redis.url, timeout=timeout, breaker=None) as cache:
        assert cache.get("warm") is not None or True  # a connection is open
        own_redis.freeze()
        try:
            started = time.monotonic()
            assert cache.get_or_set("product:1", lambda: products.load(1))["id"] == 1
            elapsed = time.monotonic() - started
            m = cache.metrics.as_dict()
        finally:
            own_redis.thaw()
    assert m["errors"] == 1 and products.loads() == 1
    # one timeout (0.5 s), not four (2 s); the margin is for a loaded machine
    assert timeout * 0.9 <= elapsed < 2.5 * timeout, elapsed


def test_frozen_server_with_breaker_costs_nothing_once_open(own_redis, products) -> None:
    clock = ManualClock(0.0)
    with Cache(own_redis.url, timeout=0.2, breaker=CircuitBreaker(2, 10.0, 30.0, clock=clock)) as cache:
        cache.get("warm")
        own_redis.freeze()
        try:
            for pid in (1, 2):
                cache.get_or_set(f"product:{pid}", lambda pid=pid: products.load(pid))
            started = time.monotonic()
            for pid in range(3, 53):
                assert cache.get_or_set(f"product:{pid}", lambda pid=pid: pid) == pid
            per_call = (time.monotonic() - started) / 50
            m = cache.metrics.as_dict()
        finally:
            own_redis.thaw()
    assert m["errors"] == 2 and m["breaker_skips"] == 50 and products.loads() == 2
    assert per_call < 0.2 / 2, per_call  # no call waited for the frozen server (0.2 s each)


def test_fail_open_false_raises_and_circuit_open_error_reaches_the_caller(own_redis) -> None:
    clock = ManualClock(0.0)
    with Cache(own_redis.url, fail_open=False, breaker=CircuitBreaker(1, 10.0, 5.0, clock=clock)) as cache:
        own_redis.stop()
        with pytest.raises(redis.ConnectionError) as first:
            cache.set("k", 1)
        assert not isinstance(first.value, CircuitOpenError)
        with pytest.raises(CircuitOpenError):
            cache.get("k")
        with pytest.raises(CircuitOpenError):
            cache.get_or_set("k", lambda: 1)


def test_decorator_invalidate_and_refresh_follow_fail_open(own_redis, products) -> None:
    with Cache(own_redis.url, breaker=None, timeout=0.5) as cache:
        @cache.cached(ttl=60)
        def product(pid: int) -> dict | None:
            return products.load(pid)

        assert product(1)["id"] == 1
        own_redis.stop()
        assert product.invalidate(1) is False
        assert product.refresh(1)["id"] == 1
        assert product(2)["id"] == 2
        assert cache.metrics.as_dict()["errors"] == 3


def test_async_stopped_server_breaker_and_fail_open(own_redis, products) -> None:
    async def main() -> None:
        clock = ManualClock(0.0)
        breaker = CircuitBreaker(threshold=2, window=10.0, cooldown=5.0, clock=clock)
        async with AsyncCache(own_redis.url, breaker=breaker, timeout=0.5) as cache:
            assert (await cache.get_or_set("product:1", lambda: products.load(1)))["id"] == 1
            own_redis.stop()
            for pid in range(2, 7):
                assert (await cache.get_or_set(f"product:{pid}", lambda pid=pid: products.load(pid)))["id"] == pid
            assert await cache.set("k", 1) is False and await cache.delete("k") == 0
            m = cache.metrics.as_dict()
            assert m["errors"] == 2 and m["breaker_opens"] == 1 and m["breaker_skips"] == 5
            own_redis.start()
            clock.advance(5)
            assert await cache.set("k", 1) is True and breaker.state == "closed"

    asyncio.run(main())


def test_async_frozen_server_costs_one_timeout(own_redis, products) -> None:
    async def main() -> float:
        async with AsyncCache(own_redis.url, timeout=0.5, breaker=None) as cache:
            await cache.get("warm")
            own_redis.freeze()
            try:
                started = time.monotonic()
                assert (await cache.get_or_set("product:1", lambda: products.load(1)))["id"] == 1
                assert cache.metrics.as_dict()["errors"] == 1
                return time.monotonic() - started
            finally:
                own_redis.thaw()

    elapsed = asyncio.run(main())
    assert 0.45 <= elapsed < 1.25, elapsed  # one timeout (0.5 s), not four
