"""The asyncio cache: the same API as :class:`ringcache.client.Cache`, awaited.

See :mod:`ringcache.client.cache` for the theory of operation. The flows are the
same code: the steps of :class:`CacheBase`, which this class awaits. Differences:
single flight uses asyncio futures (one load per key per event loop), backoff uses
``asyncio.sleep``, and refresh-ahead is an asyncio task owned by the cache and
cancelled by :meth:`AsyncCache.aclose`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Iterable, Mapping, Sequence, TypeVar

import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from ._base import NAMESPACE_TAG, CacheBase, Flight, Server, Sleep
from ._core import DEFAULT, MISS, Entry, StampedeMode
from ._steps import UNHANDLED, Steps, aperform, arun
from .guard import AsyncGuard, Op
from .cluster import aclose_node_clients, is_cluster
from .pool import gate_size, open_async_client
from .singleflight import AsyncSingleFlight

T = TypeVar("T")
Loader = Callable[[], Any]  # returns a value or an awaitable of one


class AsyncCache(CacheBase):
    """``AsyncCache("redis://...")`` or ``AsyncCache(redis.asyncio.Redis(...))``.

    Loaders may be coroutine functions or plain callables.
    """

    def __init__(self, client: str | Sequence[str] | aredis.Redis | AsyncRedisCluster, *,
                 cluster: bool = False, **options: Any) -> None:
        super().__init__(**options)
        if isinstance(client, (str, list, tuple)):
            # A blocking pool (per node on a cluster), the cache's own timeout, no
            # redis-py retries (``pool``, ``cluster``).
            self.client: Any = open_async_client(client, cluster, self.pool_size, self.pool_timeout,
                                                 self.timeout)
            self._owns_client = True
        else:
            self.client = client
            self._owns_client = False
        self._guard = AsyncGuard(gate_size(self.client, self.pool_size), self.pool_timeout,
                                 self.breaker, self.metrics)
        self._flight = AsyncSingleFlight()
        self._refresher: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._closed = False

    @classmethod
    def from_url(cls, url: str | Sequence[str], *, cluster: bool = False,
                 **options: Any) -> "AsyncCache":
        """As :meth:`Cache.from_url <ringcache.client.Cache.from_url>`."""
        return cls(url, cluster=cluster, **options)

    # -- driving the steps ------------------------------------------------------------
    async def _run(self, steps: Steps[T]) -> T:
        return await arun(steps, self._perform)

    async def _perform(self, request: Any) -> Any:
        return await aperform(self.client, request, self._perform_own)

    async def _perform_own(self, request: Any) -> Any:
        if isinstance(request, Server):
            return await self._guard.call(request.op, aperform, self.client, request.request)
        if isinstance(request, Sleep):
            await asyncio.sleep(request.seconds)
            return None
        if isinstance(request, Flight):
            steps = request.steps
            return await self._flight.do(request.key, lambda: self._run(steps()))
        return UNHANDLED

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
        if is_cluster(self.client):
            await aclose_node_clients(self.client)  # the transactions' clients (``cluster``)
        if self._owns_client:
            await self.client.aclose()
            if not is_cluster(self.client):
                await self.client.connection_pool.disconnect()  # ours: redis-py leaves a given pool open

    close = aclose

    async def __aenter__(self) -> "AsyncCache":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- plain operations -------------------------------------------------------
    async def get(self, key: str | bytes, default: Any = MISS, *, allow_stale: bool = False) -> Any:
        entry = await self._read(self.full_key(key), Op())
        if entry is not None and (allow_stale or entry.fresh(self.clock())):
            self.metrics.incr("hits")
            return entry.value
        self.metrics.incr("misses")
        return default

    async def set(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT, *,
                  tags: Iterable[str] = ()) -> bool:
        return await self._run(self._set_steps(self.full_key(key), value, ttl, tuple(tags)))

    async def delete(self, *keys: str | bytes) -> int:
        if not keys:
            return 0
        fulls = [self.full_key(k) for k in keys]
        try:
            return int(await self._guard.call(None, self.client.delete, *fulls))
        except redis.RedisError as exc:
            self._server_error(exc, "cache delete of %r failed", fulls[0])
            return 0

    # -- multi-key ----------------------------------------------------------------
    async def get_many(self, keys: Iterable[str | bytes], default: Any = MISS) -> dict[Any, Any]:
        """One MGET: ``{key: value}``, ``default`` (MISS) for absent or expired keys."""
        keys = list(keys)
        if not keys:
            return {}
        fulls = [self.full_key(k) for k in keys]
        entries = await self._run(self._read_many_steps(fulls, Op()))
        return self._get_many_result(keys, fulls, entries, default)

    async def set_many(self, mapping: Mapping[Any, Any], ttl: float | None | Any = DEFAULT, *,
                       tags: Iterable[str] = ()) -> bool:
        """Store every item in one pipeline; False when the server failed (fail open)."""
        items = [(self.full_key(k), v) for k, v in mapping.items()]
        return bool(items) and await self._run(self._set_many_steps(items, ttl, tuple(tags)))

    async def delete_many(self, keys: Iterable[str | bytes]) -> int:
        return await self.delete(*keys)

    async def get_or_set_many(self, keys: Iterable[str | bytes], loader_many: Callable[[list[Any]], Any],
                        ttl: float | None | Any = DEFAULT, *,
                        stampede: StampedeMode | Any = DEFAULT, tags: Iterable[str] = ()) -> dict[Any, Any]:
        """``{key: value}`` for every key: the cached ones from one MGET, the others
        from **one** ``loader_many(missing_keys)`` call (a mapping key -> value, or a
        list in the order of ``missing_keys``), stored in one pipeline. With the lock
        (the default) each missed key is locked; keys locked by another caller are
        waited for (or served stale), so each key is loaded once among all callers."""
        return await self._run(self._get_or_set_many_steps(keys, loader_many, ttl, self.mode(stampede), Op(),
                                                        tuple(tags)))

    # -- cache-aside --------------------------------------------------------------
    async def get_or_set(self, key: str | bytes, loader: Callable[[], T | Awaitable[T]],
                         ttl: float | None | Any = DEFAULT, *,
                         stampede: StampedeMode | Any = DEFAULT, beta: float | None = None,
                         tags: Iterable[str] = ()) -> T:
        full = self.full_key(key)
        mode = self.mode(stampede)
        op = Op()
        entry = await self._read(full, op)
        hit, stale = self.classify(entry, mode, beta)
        if hit:
            return entry.value  # type: ignore[union-attr,no-any-return]
        return await self._run(self._miss_steps(full, loader, ttl, mode, stale, op, tuple(tags)))  # type: ignore[no-any-return,unused-ignore]

    async def _read(self, full: str, op: Op | None = None) -> Entry | None:
        try:
            data = await self._guard.call(op, self.client.get, full)
        except redis.RedisError as exc:
            self._server_error(exc, "cache read of %r failed; treating as a miss", full)
            return None
        entry = self.unpack(full, data)
        if entry is not None and entry.tags:  # see "tags" in _base
            return (await self._run(self._valid_steps([entry], op)))[0]
        return entry

    # -- tags and namespaces --------------------------------------------------------
    async def invalidate_tags(self, *tags: str) -> bool:
        """Make every entry carrying one of ``tags`` absent, at once: one INCR per
        tag, whatever the number of entries (they die by their TTL). False when
        the server failed (fail open)."""
        return await self._run(self._invalidate_tags_steps(tags))

    async def clear(self) -> bool:
        """Empty this cache's namespace in O(1) (a ``clearable=True`` cache: every
        entry carries the namespace's tag, whose version this moves)."""
        if not self.clearable:
            raise TypeError("clear() needs a cache made with clearable=True")
        return await self._run(self._invalidate_tags_steps((NAMESPACE_TAG,)))

    async def _unlock(self, lock: str, token: str, op: Op | None = None) -> bool:
        return await self._run(self._unlock_steps(lock, token, op))

    # -- refresh-ahead ---------------------------------------------------------------
    def register_hot(self, key: str | bytes, loader: Loader, ttl: float | None = None,
                     *, ahead: float = 0.2, start: bool = True) -> None:
        """As Cache.register_hot; the task starts on the running loop (if any)."""
        hot = self._make_hot(key, loader, ttl, ahead)
        self._hot[hot.key] = hot
        if start and self._refresher is None and not self._closed:
            self._stop = asyncio.Event()
            self._refresher = asyncio.get_running_loop().create_task(
                self._refresh_loop(), name="ringcache-refresh-ahead")

    def unregister_hot(self, key: str | bytes) -> None:
        self._hot.pop(self.full_key(key), None)

    async def refresh_hot(self) -> int:
        return await self._run(self._refresh_hot_steps(list(self._hot.values())))

    async def _refresh_loop(self) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), self.refresh_interval)
            except TimeoutError:
                await self.refresh_hot()

    def cached_many(self, ttl: float | None | Any = DEFAULT, **options: Any) -> Any:
        """``@cache.cached_many(ttl=60)``: see :func:`ringcache.client.cached_many`."""
        from .decorator import cached_many
        return cached_many(self, ttl=ttl, **options)


__all__ = ["AsyncCache", "MISS"]
