"""Write-through against a real database (SQLite): the database first, then the
cache; each failure case leaves the cache either right or empty, never old."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
import redis

from ringcache.client import (MISS, AsyncCache, AsyncWriteThrough, Cache, CacheWriteError,
                              SerializationError, WriteThrough)


@pytest.fixture
def db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    conn.execute("create table prices (sku text primary key, cents integer not null check (cents >= 0))")
    return conn


def make_writer(db: sqlite3.Connection):
    def write(key: str, value: Any) -> None:
        db.execute("insert into prices values (?, ?) on conflict(sku) do update set cents = excluded.cents",
                   (key, value))

    def delete(key: str) -> None:
        db.execute("delete from prices where sku = ?", (key,))

    return write, delete


def row(db: sqlite3.Connection, sku: str) -> Any:
    r = db.execute("select cents from prices where sku = ?", (sku,)).fetchone()
    return None if r is None else r[0]


class FlakyRedis(redis.Redis):
    """A real client whose SET and/or DEL can be made to fail, as a dropped
    connection would."""

    fail_set = False
    fail_delete = False

    def set(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if self.fail_set:
            raise redis.ConnectionError("injected SET failure")
        return super().set(*args, **kwargs)

    def delete(self, *args: Any) -> Any:  # type: ignore[override]
        if self.fail_delete:
            raise redis.ConnectionError("injected DEL failure")
        return super().delete(*args)


def test_write_goes_to_database_then_cache(url: str, db) -> None:
    write, delete = make_writer(db)
    with Cache(url, namespace="p:") as cache:
        wt = WriteThrough(cache, write, delete, ttl=60)
        wt.write("apple", 120)
        assert row(db, "apple") == 120 and cache.get("apple") == 120
        # readers now hit without touching the database
        assert cache.get_or_set("apple", lambda: pytest.fail("loader called")) == 120
        wt.write("apple", 99)
        assert row(db, "apple") == 99 and cache.get("apple") == 99
        wt.delete("apple")
        assert row(db, "apple") is None and cache.get("apple") is MISS


def test_database_failure_leaves_cache_untouched(url: str, db) -> None:
    write, _ = make_writer(db)
    with Cache(url) as cache:
        wt = WriteThrough(cache, write)
        wt.write("apple", 120)
        with pytest.raises(sqlite3.IntegrityError):
            wt.write("apple", -5)  # violates the CHECK constraint
        assert row(db, "apple") == 120 and cache.get("apple") == 120
        with pytest.raises(TypeError):
            wt.delete("apple")  # no deleter configured


def test_unserialisable_value_touches_nothing(url: str, db) -> None:
    write, _ = make_writer(db)
    with Cache(url) as cache:
        wt = WriteThrough(cache, write)
        with pytest.raises(SerializationError):
            wt.write("apple", {1, 2})
        assert row(db, "apple") is None and cache.get("apple") is MISS


def test_cache_set_failure_deletes_the_key(url: str, db) -> None:
    write, _ = make_writer(db)
    client = FlakyRedis.from_url(url)
    with Cache(client) as cache:
        wt = WriteThrough(cache, write)
        wt.write("apple", 120)
        client.fail_set = True
        wt.write("apple", 130)  # database written; SET fails; the old 120 must not survive
        assert row(db, "apple") == 130
        assert cache.get("apple") is MISS
        assert cache.get_or_set("apple", lambda: row(db, "apple")) == 130
        assert wt.pending == frozenset()
    client.close()


def test_cache_unreachable_reports_and_retries_the_delete(url: str, db) -> None:
    write, _ = make_writer(db)
    client = FlakyRedis.from_url(url)
    with Cache(client, namespace="p:") as cache:
        wt = WriteThrough(cache, write)
        wt.write("apple", 120)
        client.fail_set = client.fail_delete = True
        with pytest.raises(CacheWriteError, match="p:apple"):
            wt.write("apple", 130)
        assert row(db, "apple") == 130
        assert wt.pending == {"apple"}  # the key as written, as WriteBehind.pending
        client.fail_set = client.fail_delete = False
        # the next write first retries the pending delete
        wt.write("pear", 50)
        assert wt.pending == frozenset()
        assert cache.get("apple") is MISS and cache.get("pear") == 50
    client.close()


def test_invalidate_only_mode(url: str, db) -> None:
    write, _ = make_writer(db)
    with Cache(url) as cache:
        cache.set("apple", 1)
        wt = WriteThrough(cache, write, invalidate_only=True)
        wt.write("apple", 120)
        assert row(db, "apple") == 120 and cache.get("apple") is MISS


def test_async_write_through(url: str, db) -> None:
    write, delete = make_writer(db)

    async def main() -> None:
        async with AsyncCache(url) as cache:
            async def awrite(key: str, value: Any) -> None:
                await asyncio.sleep(0)
                write(key, value)

            wt = AsyncWriteThrough(cache, awrite, delete)
            await wt.write("apple", 120)
            assert row(db, "apple") == 120 and await cache.get("apple") == 120
            with pytest.raises(sqlite3.IntegrityError):
                await wt.write("apple", -1)
            assert await cache.get("apple") == 120
            await wt.delete("apple")
            assert row(db, "apple") is None and await cache.get("apple") is MISS
            assert await wt.retry_pending() == 0

    asyncio.run(main())
