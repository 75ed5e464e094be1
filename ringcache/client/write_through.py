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

The flow is written once, as sans-I/O steps in ``_WriteThroughBase`` (see
``_steps``); :class:`WriteThrough` runs them, :class:`AsyncWriteThrough` awaits them.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, TypeVar

import redis

from ._base import log
from ._core import DEFAULT
from ._steps import Call, Steps, aperform, arun, perform, run
from .aio import AsyncCache
from .cache import Cache

T = TypeVar("T")


class CacheWriteError(RuntimeError):
    """The database was written but the cache could not be updated or cleared."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"database written, but the cache entry {key!r} could be neither updated "
                         "nor deleted: it may serve the old value until its TTL ends; the delete "
                         "is retried on the next write")


def _name(key: str | bytes) -> str:
    return key.decode() if isinstance(key, bytes) else key


class _WriteThroughBase:
    def __init__(self, cache: Any, writer: Callable[..., Any], deleter: Callable[..., Any] | None,
                 ttl: float | None | Any, invalidate_only: bool) -> None:
        self.cache = cache
        self.writer = writer
        self.deleter = deleter
        self.ttl = ttl
        self.invalidate_only = invalidate_only
        # Full keys whose stale entry could not be deleted yet. A set's add, discard
        # and copy are each atomic under the GIL, which is all the threads need here.
        self._pending: set[str] = set()

    @property
    def pending(self) -> frozenset[str]:
        """The keys (as written, without the namespace) whose write has not fully
        landed: their stale cache entry could not be deleted yet. The same
        meaning as ``WriteBehind.pending`` (there: not yet in the database)."""
        cut = len(self.cache.namespace)
        return frozenset(full[cut:] for full in self._pending)

    def _retry_steps(self) -> Steps[int]:
        for full in list(self._pending):
            try:
                yield Call(self.cache.client.delete, full)
            except redis.RedisError:
                continue
            self._pending.discard(full)
        return len(self._pending)

    def _write_steps(self, key: str | bytes, value: Any, ttl: Any) -> Steps[None]:
        yield from self._retry_steps()
        cache = self.cache
        full = cache.full_key(key)
        # serialise first: a value the cache cannot hold fails before the database is written
        blob, px = cache.pack(full, value, cache.resolve_ttl(self.ttl if ttl is DEFAULT else ttl, value), 0.0)
        yield Call(self.writer, _name(key), value)
        yield from self._update_steps(full, None if self.invalidate_only else blob, px)

    def _delete_steps(self, key: str | bytes) -> Steps[None]:
        if self.deleter is None:
            raise TypeError(f"this {type(self).__name__} has no deleter")
        yield from self._retry_steps()
        yield Call(self.deleter, _name(key))
        yield from self._update_steps(self.cache.full_key(key), None, None)

    def _update_steps(self, full: str, blob: bytes | None, px: int | None) -> Steps[None]:
        try:
            if blob is None:
                yield Call(self.cache.client.delete, full)
            else:
                yield Call(self.cache.client.set, full, blob, px=px)
            return
        except redis.RedisError:
            self.cache.metrics.incr("errors")
            log.warning("write-through: cache update of %r failed; deleting it", full, exc_info=True)
        try:
            yield Call(self.cache.client.delete, full)
        except redis.RedisError:
            self._pending.add(full)
            raise CacheWriteError(full) from None


class WriteThrough(_WriteThroughBase):
    """``WriteThrough(cache, writer, deleter=None, ttl=...)``; ``write(key, value)``."""

    def __init__(self, cache: Cache, writer: Callable[[str, Any], None],
                 deleter: Callable[[str], None] | None = None, ttl: float | None | Any = DEFAULT,
                 *, invalidate_only: bool = False) -> None:
        super().__init__(cache, writer, deleter, ttl, invalidate_only)

    def _run(self, steps: Steps[T]) -> T:
        return run(steps, lambda request: perform(self.cache.client, request))

    def retry_pending(self) -> int:
        """Retry the deletes that failed; returns how many are still pending."""
        return self._run(self._retry_steps())

    def write(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        self._run(self._write_steps(key, value, ttl))

    def delete(self, key: str | bytes) -> None:
        self._run(self._delete_steps(key))


class AsyncWriteThrough(_WriteThroughBase):
    """The asyncio mirror of :class:`WriteThrough` (writer may be async or sync)."""

    def __init__(self, cache: AsyncCache, writer: Callable[[str, Any], Any | Awaitable[Any]],
                 deleter: Callable[[str], Any | Awaitable[Any]] | None = None,
                 ttl: float | None | Any = DEFAULT, *, invalidate_only: bool = False) -> None:
        super().__init__(cache, writer, deleter, ttl, invalidate_only)

    async def _run(self, steps: Steps[T]) -> T:
        return await arun(steps, lambda request: aperform(self.cache.client, request))

    async def retry_pending(self) -> int:
        return await self._run(self._retry_steps())

    async def write(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        await self._run(self._write_steps(key, value, ttl))

    async def delete(self, key: str | bytes) -> None:
        await self._run(self._delete_steps(key))
