"""The asyncio cache: the same API as :class:`ringcache.client.Cache`, awaited.

See :mod:`ringcache.client.cache` for the theory of operation; this module mirrors
it method for method with ``await`` so the two are easy to compare. Differences:
single flight uses asyncio futures (one load per key per event loop), backoff uses
``asyncio.sleep``, and refresh-ahead is an asyncio task owned by the cache and
cancelled by :meth:`AsyncCache.aclose`.
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
import time
from typing import Any, Awaitable, Callable, TypeVar

import redis
import redis.asyncio as aredis

from ._base import CacheBase, HotKey, log
from ._core import DEFAULT, MISS, Entry, StampedeMode
from .singleflight import AsyncSingleFlight

T = TypeVar("T")
Loader = Callable[[], Any]  # returns a value or an awaitable of one


async def _call(loader: Loader) -> Any:
    result = loader()
    if inspect.isawaitable(result):
        result = await result
    return result


class AsyncCache(CacheBase):
    """``AsyncCache("redis://...")`` or ``AsyncCache(redis.asyncio.Redis(...))``.

    Loaders may be coroutine functions or plain callables.
    """

    def __init__(self, client: str | aredis.Redis, **options: Any) -> None:
        super().__init__(**options)
        if isinstance(client, str):
            self.client: aredis.Redis = aredis.Redis.from_url(client)
            self._owns_client = True
        else:
            self.client = client
            self._owns_client = False
        self._flight = AsyncSingleFlight()
        self._refresher: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._closed = False

    # -- lifecycle --------------------------------------------------------------
    async def aclose(self) -> None:
        """Cancel the refresh-ahead task; close the client if this cache created it."""
        self._closed = True
        if self._refresher is not None:
            # Ask the loop to stop between passes rather than cancel it mid-command:
            # a cancel delivered inside redis-py's own timeout handling can be absorbed.
            # Cancel only if a pass does not finish in time.
            assert self._stop is not None
            self._stop.set()
            done, _ = await asyncio.wait([self._refresher], timeout=max(1.0, self.lock_ttl))
            if not done:
                self._refresher.cancel()
                await asyncio.wait([self._refresher])
            self._refresher = None
        if self._owns_client:
            await self.client.aclose()

    close = aclose

    async def __aenter__(self) -> "AsyncCache":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- plain operations -------------------------------------------------------
    async def get(self, key: str | bytes, default: Any = MISS, *, allow_stale: bool = False) -> Any:
        full = self.full_key(key)
        entry = await self._read(full)
        if entry is not None and (allow_stale or entry.fresh(self.clock())):
            self.metrics.incr("hits")
            return entry.value
        self.metrics.incr("misses")
        return default

    async def set(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        full = self.full_key(key)
        blob, px = self.pack(full, value, self.resolve_ttl(ttl, value), 0.0)
        await self.client.set(full, blob, px=px)

    async def delete(self, *keys: str | bytes) -> int:
        if not keys:
            return 0
        return int(await self.client.delete(*(self.full_key(k) for k in keys)))

    # -- cache-aside --------------------------------------------------------------
    async def get_or_set(self, key: str | bytes, loader: Callable[[], T | Awaitable[T]],
                         ttl: float | None | Any = DEFAULT, *,
                         stampede: StampedeMode | Any = DEFAULT, beta: float | None = None) -> T:
        full = self.full_key(key)
        mode = self.mode(stampede)
        entry = await self._read(full)
        hit, stale = self.classify(entry, mode, beta)
        if hit:
            return entry.value  # type: ignore[union-attr,no-any-return]
        if not self.single_flight:
            return await self._load(full, loader, ttl, mode, stale)  # type: ignore[no-any-return]
        value, shared = await self._flight.do(full, lambda: self._load(full, loader, ttl, mode, stale, True))
        if shared:
            self.metrics.incr("singleflight_shared")
        return value  # type: ignore[no-any-return]

    async def _load(self, full: str, loader: Loader, ttl: Any, mode: StampedeMode,
                    stale: Entry | None, recheck: bool = False) -> Any:
        if mode == "lock":
            return await self._load_locked(full, loader, ttl, stale)  # re-checks under the lock
        if recheck:
            # A single-flight leader: a caller that read the miss just before the
            # previous flight stored its value would otherwise load a second time.
            entry = await self._read(full)
            if entry is not None and entry.fresh(self.clock()) \
                    and (stale is None or entry.expires_at != stale.expires_at):
                return entry.value
        return await self._load_store(full, loader, ttl)

    async def _load_store(self, full: str, loader: Loader, ttl: Any) -> Any:
        start = self.clock()
        try:
            value = await _call(loader)
        except BaseException:
            self.metrics.incr("load_errors")
            raise
        delta = max(0.0, self.clock() - start)
        self.metrics.incr("loads")
        self.metrics.incr("load_time", delta)
        if self.should_cache(value):
            await self._store(full, value, ttl, delta)
        return value

    async def _load_locked(self, full: str, loader: Loader, ttl: Any, stale: Entry | None) -> Any:
        lock = self.lock_key(full)
        token = secrets.token_hex(16)
        deadline = time.monotonic() + self.lock_wait
        delays = self.backoff_delays()
        while True:
            acquired = await self._try_lock(lock, token)
            if acquired is None:
                return await self._load_store(full, loader, ttl)
            if acquired:
                try:
                    entry = await self._read(full)
                    if entry is not None and entry.fresh(self.clock()) \
                            and (stale is None or entry.expires_at != stale.expires_at):
                        return entry.value
                    return await self._load_store(full, loader, ttl)
                finally:
                    await self._unlock(lock, token)
            if stale is not None and self.serve_stale:
                self.metrics.incr("stale_hits")
                return stale.value
            if time.monotonic() >= deadline:
                self.metrics.incr("lock_timeouts")
                log.warning("waited %.3fs for the lock on %r; loading without it", self.lock_wait, full)
                return await self._load_store(full, loader, ttl)
            self.metrics.incr("stampede_waits")
            await asyncio.sleep(next(delays))
            entry = await self._read(full)
            if entry is not None and entry.fresh(self.clock()):
                return entry.value

    async def _try_lock(self, lock: str, token: str) -> bool | None:
        try:
            return bool(await self.client.set(lock, token, nx=True, px=max(1, int(self.lock_ttl * 1000))))
        except redis.RedisError:
            if not self.fail_open:
                raise
            self.metrics.incr("errors")
            log.warning("cannot take lock %r", lock, exc_info=True)
            return None

    async def _unlock(self, lock: str, token: str) -> bool:
        """Compare-and-delete with WATCH/MULTI/EXEC (see Cache._unlock)."""
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                await pipe.watch(lock)
                current = await pipe.get(lock)
                if current is None or _as_str(current) != token:
                    await pipe.unwatch()
                    return False
                pipe.multi()
                pipe.delete(lock)
                await pipe.execute()
                return True
        except redis.WatchError:
            return False
        except redis.RedisError:
            if not self.fail_open:
                raise
            self.metrics.incr("errors")
            log.warning("cannot release lock %r; it expires by itself", lock, exc_info=True)
            return False

    async def _read(self, full: str) -> Entry | None:
        try:
            data = await self.client.get(full)
        except redis.RedisError:
            if not self.fail_open:
                raise
            self.metrics.incr("errors")
            log.warning("cache read of %r failed; treating as a miss", full, exc_info=True)
            return None
        return self.unpack(full, data)  # type: ignore[arg-type]

    async def _store(self, full: str, value: Any, ttl: Any, delta: float) -> None:
        blob, px = self.pack(full, value, self.resolve_ttl(ttl, value), delta)
        try:
            await self.client.set(full, blob, px=px)
        except redis.RedisError:
            if not self.fail_open:
                raise
            self.metrics.incr("errors")
            log.warning("cache write of %r failed", full, exc_info=True)

    # -- refresh-ahead ---------------------------------------------------------------
    def register_hot(self, key: str | bytes, loader: Loader, ttl: float | None = None,
                     *, ahead: float = 0.2, start: bool = True) -> None:
        """As Cache.register_hot; the task starts on the running loop (if any)."""
        ttl = self.default_ttl if ttl is None else ttl
        if ttl is None:
            raise ValueError("refresh-ahead needs a TTL")
        hot = HotKey(self.full_key(key), loader, float(ttl), ahead * ttl if ahead < 1 else ahead)
        self._hot[hot.key] = hot
        if start and self._refresher is None and not self._closed:
            self._stop = asyncio.Event()
            self._refresher = asyncio.get_running_loop().create_task(
                self._refresh_loop(), name="ringcache-refresh-ahead")

    def unregister_hot(self, key: str | bytes) -> None:
        self._hot.pop(self.full_key(key), None)

    async def refresh_hot(self) -> int:
        done = 0
        for hot in list(self._hot.values()):
            try:
                if await self._refresh_one(hot):
                    done += 1
            except Exception:
                self.metrics.incr("errors")
                log.exception("refresh-ahead of %r failed", hot.key)
        return done

    async def _refresh_one(self, hot: HotKey) -> bool:
        if not self.hot_due(hot, await self._read(hot.key), self.clock()):
            return False
        lock, token = self.lock_key(hot.key), secrets.token_hex(16)
        if not await self._try_lock(lock, token):
            return False
        try:
            if not self.hot_due(hot, await self._read(hot.key), self.clock()):
                return False
            await self._flight.do(hot.key, lambda: self._load_store(hot.key, hot.loader, hot.ttl))
            self.metrics.incr("refreshes")
            return True
        finally:
            await self._unlock(lock, token)

    async def _refresh_loop(self) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), self.refresh_interval)
            except TimeoutError:
                await self.refresh_hot()

    def cached(self, ttl: float | None | Any = DEFAULT, **options: Any) -> Any:
        from .decorator import cached
        return cached(self, ttl=ttl, **options)


def _as_str(value: Any) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)


__all__ = ["AsyncCache", "MISS"]
