"""A busy pool is backpressure, not an outage (issue 18).

The stampede guarantees with the cache's *default* pool, for whichever redis-py
major is installed (scripts/client-matrix.sh runs this file under 5.x, 6.x, 7.x
and 8.x): one loader call for 1000 threads, for 1000 asyncio tasks, and for 4
processes of 250 threads, each against a real server, with a SQLite database
counting the loads. And what a full pool does: callers wait for a connection;
after ``pool_timeout`` they get CacheBusyError, never an unprotected load.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import redis.asyncio as aredis

from ringcache.client import AsyncCache, Cache, CacheBusyError

PRODUCT_1 = {"id": 1, "name": "product 1", "cents": 100}


def test_redis_py_major_is_the_one_under_test() -> None:
    """The matrix script says which major it installed; make sure it is the one
    imported (a venv picking up another redis-py would test nothing new)."""
    expected = os.environ.get("RINGCACHE_REDIS_MAJOR")
    major = int(redis.__version__.split(".")[0])
    assert 5 <= major <= 8, redis.__version__
    if expected:
        assert major == int(expected), (redis.__version__, expected)


def test_default_pool_is_blocking_bounded_and_without_retries(url: str) -> None:
    with Cache(url) as cache:
        pool = cache.client.connection_pool
        assert isinstance(pool, redis.BlockingConnectionPool)
        assert pool.max_connections == 50 and pool.timeout == 5.0
        kwargs = pool.connection_kwargs
        assert kwargs["socket_timeout"] == 2.0 and kwargs["socket_connect_timeout"] == 2.0
        assert kwargs["retry"].get_retries() == 0 if hasattr(kwargs["retry"], "get_retries") \
            else kwargs["retry"]._retries == 0
    with Cache(url, pool_size=7, pool_timeout=0.5, timeout=0.25) as cache:
        pool = cache.client.connection_pool
        assert (pool.max_connections, pool.timeout) == (7, 0.5)
        assert pool.connection_kwargs["socket_timeout"] == 0.25

    async def main() -> None:
        async with AsyncCache(url, pool_size=9) as cache:
            pool = cache.client.connection_pool
            assert isinstance(pool, aredis.BlockingConnectionPool)
            assert pool.max_connections == 9
            assert await cache.get_or_set("k", lambda: 1) == 1

    asyncio.run(main())
    with pytest.raises(ValueError):
        Cache(url, pool_size=0)


@pytest.mark.parametrize("single_flight", [True, False], ids=["single-flight", "lock-only"])
def test_thousand_threads_one_load(url: str, products, single_flight: bool) -> None:
    """1000 threads miss one key at once, default pool (50 connections): the
    database sees exactly one load, every thread gets its row, and no call was
    taken for a server failure. Without single flight every thread goes through
    the distributed lock, as 1000 processes would."""
    n = 1000
    start = threading.Barrier(n)
    results: list[object] = []
    failures: list[BaseException] = []
    with Cache(url, single_flight=single_flight) as cache:
        def reader() -> None:
            try:
                start.wait()
                results.append(cache.get_or_set("product:1", lambda: products.load(1, hold=0.2), ttl=60))
            except BaseException as exc:  # reported below, with the count
                failures.append(exc)

        threads = [threading.Thread(target=reader) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        metrics = cache.metrics.as_dict()
        connections = len(cache.client.connection_pool._connections)
    assert failures == []
    assert products.loads() == 1
    assert len(results) == n and all(r == PRODUCT_1 for r in results)
    assert metrics["errors"] == 0 and metrics["loads"] == 1
    assert connections <= 50


def test_thousand_tasks_one_load(url: str, products) -> None:
    async def main(single_flight: bool) -> None:
        async def load() -> dict | None:
            row = products.load(1)
            await asyncio.sleep(0.2)  # the load stays in flight while the others miss
            return row

        async with AsyncCache(url, single_flight=single_flight) as cache:
            await cache.delete("product:1")
            results = await asyncio.gather(*(cache.get_or_set("product:1", load, ttl=60)
                                             for _ in range(1000)))
            metrics = cache.metrics.as_dict()
        assert all(r == PRODUCT_1 for r in results)
        assert metrics["errors"] == 0 and metrics["loads"] == 1

    asyncio.run(main(True))
    assert products.loads() == 1
    asyncio.run(main(False))  # every task through the distributed lock
    assert products.loads() == 2


def test_four_processes_of_250_threads_one_load(url: str, products, raw: redis.Redis) -> None:
    worker = Path(__file__).with_name("stampede_worker.py")
    key = "product:1"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(worker.parent),
                                                                     os.environ.get("PYTHONPATH")]))}
    procs = [subprocess.Popen([sys.executable, str(worker), url, products.path, "250", key],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
             for _ in range(4)]
    try:
        deadline = time.monotonic() + 60
        while int(raw.get(key + ":ready") or 0) < 4:
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            assert time.monotonic() < deadline, "the workers did not get ready"
            time.sleep(0.01)
        raw.set(key + ":go", 1)
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:  # only ours, by PID
            if p.poll() is None:
                p.kill()
                p.wait()
    reports = []
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err.decode()
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))
    assert [r["count"] for r in reports] == [250] * 4
    assert all(r["distinct"] == [json.dumps(PRODUCT_1, sort_keys=True)] for r in reports)
    assert sum(r["metrics"]["errors"] for r in reports) == 0
    assert products.loads() == 1


def _take_connection(pool):
    try:
        return pool.get_connection()
    except TypeError:  # redis-py before 5.3 wants a command name
        return pool.get_connection("GET")


def test_a_pool_shared_with_other_code_makes_callers_wait(url: str, products) -> None:
    """A user's non-blocking pool of 2 connections, one of them held by other
    code: the cache's second concurrent call finds the pool full (redis-py raises
    MaxConnectionsError, or ConnectionError on 5.x) and waits for a connection
    instead of treating it as an outage."""
    pool = redis.ConnectionPool.from_url(url, max_connections=2)
    held = _take_connection(pool)
    try:
        with Cache(redis.Redis(connection_pool=pool), single_flight=False) as cache:
            start = threading.Barrier(20)
            results = []

            def reader() -> None:
                start.wait()
                results.append(cache.get_or_set("product:1", lambda: products.load(1, hold=0.05), ttl=60))

            threads = [threading.Thread(target=reader) for _ in range(20)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            metrics = cache.metrics.as_dict()
        assert results == [PRODUCT_1] * 20
        assert products.loads() == 1 and metrics["errors"] == 0
    finally:
        pool.release(held)
        pool.disconnect()


@pytest.mark.parametrize("blocking", [True, False], ids=["blocking-pool", "plain-pool"])
def test_a_pool_that_stays_full_raises_busy_and_never_loads(url: str, products, blocking: bool) -> None:
    """Every connection held elsewhere for longer than pool_timeout: get_or_set
    raises CacheBusyError (fail_open or not) and the database is not touched."""
    if blocking:
        pool = redis.BlockingConnectionPool.from_url(url, max_connections=1, timeout=0.1)
    else:
        pool = redis.ConnectionPool.from_url(url, max_connections=1)
    held = _take_connection(pool)
    try:
        with Cache(redis.Redis(connection_pool=pool), pool_timeout=0.1) as cache:
            with pytest.raises(CacheBusyError, match="pool"):
                cache.get_or_set("product:1", lambda: products.load(1))
            with pytest.raises(CacheBusyError):
                cache.get("product:1")
            assert products.loads() == 0
            assert cache.metrics.as_dict()["errors"] == 0  # not counted as a server failure
            assert cache.breaker is not None and cache.breaker.state == "closed"
        pool.release(held)
        with Cache(redis.Redis(connection_pool=pool)) as cache:
            assert cache.get_or_set("product:1", lambda: products.load(1)) == PRODUCT_1
    finally:
        pool.disconnect()


def test_lock_path_with_busy_pool_waits_instead_of_loading(url: str, products) -> None:
    """The cache's own slots (pool_size=1): while one caller holds the only
    connection in a slow server call, the others wait for it; the lock decides
    who loads, not the pool."""
    with Cache(url, pool_size=1, single_flight=False) as cache:
        start = threading.Barrier(50)
        results = []

        def reader() -> None:
            start.wait()
            results.append(cache.get_or_set("product:1", lambda: products.load(1, hold=0.1), ttl=60))

        threads = [threading.Thread(target=reader) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        metrics = cache.metrics.as_dict()
    assert results == [PRODUCT_1] * 50
    assert products.loads() == 1
    assert metrics["pool_waits"] > 0 and metrics["errors"] == 0


def test_async_pool_that_stays_full_raises_busy(url: str, products) -> None:
    async def main() -> None:
        pool = aredis.ConnectionPool.from_url(url, max_connections=1)
        try:
            held = await pool.get_connection()
        except TypeError:  # redis-py before 5.3 wants a command name
            held = await pool.get_connection("GET")
        try:
            async with AsyncCache(aredis.Redis(connection_pool=pool), pool_timeout=0.1) as cache:
                with pytest.raises(CacheBusyError):
                    await cache.get_or_set("product:1", lambda: products.load(1))
            assert products.loads() == 0
            await pool.release(held)
            async with AsyncCache(aredis.Redis(connection_pool=pool)) as cache:
                assert await cache.get_or_set("product:1", lambda: products.load(1)) == PRODUCT_1
        finally:
            await pool.disconnect()

    asyncio.run(main())
