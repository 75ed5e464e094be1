"""Write-through: the database first, then the cache.

Order and failure cases (each tested in tests/client/test_write_through.py):

1. The value is serialised first: a value the cache cannot store raises
   SerializationError before anything is written anywhere.
2. ``writer(key, value)`` writes the database. If it raises, the exception
   propagates and the cache is not touched: it still holds the previous value,
   which is still what the database holds.
3. The cache is updated with SET. If that fails, the key is DELeted, so the next
   read loads the new value from the database. If the DEL fails too (the cache
   is unreachable), the key is remembered as *pending*: every later call first
   retries the pending deletes, and :class:`CacheWriteError` tells the caller
   that the cache may still hold the old value until the server is reachable
   again or the entry's TTL ends. Readers of an unreachable cache fail open to
   the database, so the window is a cache that comes back holding the old value
   before this process retries: keep TTLs finite.

A race that remains (and the reason for ``invalidate_only=True``): a reader that
loaded the *old* row just before our database write can store it after our SET.
Deleting instead of setting (write-invalidate) narrows this to the loader's
read-to-store window; a short TTL bounds it.
"""

from __future__ import annotations

import threading
from typing import Any, Awaitable, Callable

import redis

from ._base import log
from ._core import DEFAULT
from .aio import AsyncCache, _call
from .cache import Cache


class CacheWriteError(RuntimeError):
    """The database was written but the cache could not be updated or cleared."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"database written, but the cache entry {key!r} could be neither updated "
                         "nor deleted: it may serve the old value until its TTL ends; the delete "
                         "is retried on the next write")


class WriteThrough:
    """``WriteThrough(cache, writer, deleter=None, ttl=...)``; ``write(key, value)``."""

    def __init__(self, cache: Cache, writer: Callable[[str, Any], None],
                 deleter: Callable[[str], None] | None = None, ttl: float | None | Any = DEFAULT,
                 *, invalidate_only: bool = False) -> None:
        self.cache = cache
        self.writer = writer
        self.deleter = deleter
        self.ttl = ttl
        self.invalidate_only = invalidate_only
        self._pending: set[str] = set()
        self._lock = threading.Lock()

    @property
    def pending(self) -> frozenset[str]:
        """Full keys whose stale cache entry could not be deleted yet."""
        with self._lock:
            return frozenset(self._pending)

    def retry_pending(self) -> int:
        """Retry the deletes that failed; returns how many are still pending."""
        with self._lock:
            keys = list(self._pending)
        for full in keys:
            try:
                self.cache.client.delete(full)
            except redis.RedisError:
                continue
            with self._lock:
                self._pending.discard(full)
        return len(self.pending)

    def write(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        self.retry_pending()
        cache = self.cache
        full = cache.full_key(key)
        blob, px = cache.pack(full, value, cache.resolve_ttl(self.ttl if ttl is DEFAULT else ttl, value), 0.0)
        self.writer(str(key) if not isinstance(key, bytes) else key.decode(), value)
        self._update(full, None if self.invalidate_only else blob, px)

    def delete(self, key: str | bytes) -> None:
        if self.deleter is None:
            raise TypeError("this WriteThrough has no deleter")
        self.retry_pending()
        self.deleter(str(key) if not isinstance(key, bytes) else key.decode())
        self._update(self.cache.full_key(key), None, None)

    def _update(self, full: str, blob: bytes | None, px: int | None) -> None:
        try:
            if blob is None:
                self.cache.client.delete(full)
            else:
                self.cache.client.set(full, blob, px=px)
            return
        except redis.RedisError:
            self.cache.metrics.incr("errors")
            log.warning("write-through: cache update of %r failed; deleting it", full, exc_info=True)
        try:
            self.cache.client.delete(full)
        except redis.RedisError:
            with self._lock:
                self._pending.add(full)
            raise CacheWriteError(full) from None


class AsyncWriteThrough:
    """The asyncio mirror of :class:`WriteThrough` (writer may be async or sync)."""

    def __init__(self, cache: AsyncCache, writer: Callable[[str, Any], Any | Awaitable[Any]],
                 deleter: Callable[[str], Any | Awaitable[Any]] | None = None,
                 ttl: float | None | Any = DEFAULT, *, invalidate_only: bool = False) -> None:
        self.cache = cache
        self.writer = writer
        self.deleter = deleter
        self.ttl = ttl
        self.invalidate_only = invalidate_only
        self._pending: set[str] = set()

    @property
    def pending(self) -> frozenset[str]:
        return frozenset(self._pending)

    async def retry_pending(self) -> int:
        for full in list(self._pending):
            try:
                await self.cache.client.delete(full)
            except redis.RedisError:
                continue
            self._pending.discard(full)
        return len(self._pending)

    async def write(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        await self.retry_pending()
        cache = self.cache
        full = cache.full_key(key)
        blob, px = cache.pack(full, value, cache.resolve_ttl(self.ttl if ttl is DEFAULT else ttl, value), 0.0)
        name = key.decode() if isinstance(key, bytes) else key
        await _call(lambda: self.writer(name, value))
        await self._update(full, None if self.invalidate_only else blob, px)

    async def delete(self, key: str | bytes) -> None:
        deleter = self.deleter
        if deleter is None:
            raise TypeError("this AsyncWriteThrough has no deleter")
        await self.retry_pending()
        name = key.decode() if isinstance(key, bytes) else key
        await _call(lambda: deleter(name))
        await self._update(self.cache.full_key(key), None, None)

    async def _update(self, full: str, blob: bytes | None, px: int | None) -> None:
        try:
            if blob is None:
                await self.cache.client.delete(full)
            else:
                await self.cache.client.set(full, blob, px=px)
            return
        except redis.RedisError:
            self.cache.metrics.incr("errors")
            log.warning("write-through: cache update of %r failed; deleting it", full, exc_info=True)
        try:
            await self.cache.client.delete(full)
        except redis.RedisError:
            self._pending.add(full)
            raise CacheWriteError(full) from None
