"""The synchronous cache: cache-aside with stampede protection on redis-py.

Theory of operation (``get_or_set``):

1. Read the envelope (one GET). Fresh -> hit (unless XFetch decides, by chance
   rising near expiry, that this caller recomputes early).
2. Miss or stale -> single flight: one thread per key in this process goes on.
3. That thread loads according to the stampede mode:
   * ``None``: call the loader and store.
   * ``"lock"``: ``SET key:lock token NX PX lock_ttl``. The holder re-reads (another
     process may have just stored), loads, stores, and releases the lock only if it
     still holds it (compare-and-delete with WATCH/MULTI/EXEC: no EVAL needed).
     The others return the stale value when one is kept (``stale_ttl``) or back off
     (exponential, jittered) and re-read until the value appears; a holder that
     died leaves a lock that expires after ``lock_ttl``; after ``lock_wait`` a
     waiter loads by itself rather than wait forever.
   * ``"xfetch"``: as ``None``; the protection is the early recompute in step 1.
4. Refresh-ahead keys (``register_hot``) are reloaded by a background thread before
   they expire, so readers never see them missing.

The flows themselves are written once, as steps in :class:`CacheBase` (see
``_base`` and ``_steps``); this class runs them with direct calls, time.sleep and
a thread-based single flight, as :class:`~ringcache.client.AsyncCache` awaits them.

Every server call goes through the redis-py client given or built from the URL,
so a cluster client can be substituted. Cache errors fail open by default: a
read error is a miss, a write error is logged; the loader is the source of truth.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

import redis
from redis.cluster import RedisCluster

from ._base import NAMESPACE_TAG, CacheBase, Flight, Server, Sleep
from ._core import DEFAULT, MISS, Entry, StampedeMode
from ._steps import UNHANDLED, Steps, perform, run
from .guard import Guard, Op
from .cluster import is_cluster
from .pool import gate_size, open_client
from .singleflight import SingleFlight

T = TypeVar("T")


class Cache(CacheBase):
    """Cache-aside over a redis-py client.

    ``Cache("redis://127.0.0.1:6379/0", namespace="app:")`` or ``Cache(redis.Redis(...))``.
    See the keyword arguments of :class:`CacheBase` for the options.
    """

    def __init__(self, client: str | Sequence[str] | redis.Redis | RedisCluster, *,
                 cluster: bool = False, **options: Any) -> None:
        super().__init__(**options)
        if isinstance(client, (str, list, tuple)):
            # A blocking pool of pool_size connections (per node on a cluster), the
            # cache's own timeout, no redis-py retries (see ``pool`` and ``cluster``).
            self.client: Any = open_client(client, cluster, self.pool_size, self.pool_timeout,
                                           self.timeout)
            self._owns_client = True
        else:
            self.client = client
            self._owns_client = False
        self._guard = Guard(gate_size(self.client, self.pool_size), self.pool_timeout,
                            self.breaker, self.metrics)
        self._flight = SingleFlight()
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None
        self._hot_lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_url(cls, url: str | Sequence[str], *, cluster: bool = False, **options: Any) -> "Cache":
        """``Cache.from_url("redis://h:6379/0")``; a cluster from a list of startup
        nodes (``["redis://h1:7000", "redis://h2:7001"]``) or from one node with
        ``cluster=True``. Options as for :class:`Cache`."""
        return cls(url, cluster=cluster, **options)

    # -- driving the steps ------------------------------------------------------------
    def _run(self, steps: Steps[T]) -> T:
        return run(steps, self._perform)

    def _perform(self, request: Any) -> Any:
        return perform(self.client, request, self._perform_own)

    def _perform_own(self, request: Any) -> Any:
        if isinstance(request, Server):
            return self._guard.call(request.op, perform, self.client, request.request)
        if isinstance(request, Sleep):
            time.sleep(request.seconds)
            return None
        if isinstance(request, Flight):
            steps = request.steps
            return self._flight.do(request.key, lambda: self._run(steps()))
        return UNHANDLED

    # -- lifecycle --------------------------------------------------------------
    def close(self) -> None:
        """Stop the refresh-ahead thread; close the client if this cache created it."""
        self._closed = True
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join()
            self._refresher = None
        if self._owns_client:
            self.client.close()
            if not is_cluster(self.client):  # a RedisCluster's close() closes its nodes' pools
                self.client.connection_pool.disconnect()  # ours: redis-py leaves a given pool open

    def __enter__(self) -> "Cache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plain operations -------------------------------------------------------
    def get(self, key: str | bytes, default: Any = MISS, *, allow_stale: bool = False) -> Any:
        """The cached value, or ``default`` (MISS) when absent or past its soft expiry."""
        entry = self._read(self.full_key(key), Op())
        if entry is not None and (allow_stale or entry.fresh(self.clock())):
            self.metrics.incr("hits")
            return entry.value
        self.metrics.incr("misses")
        return default

    def set(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT, *,
            tags: Iterable[str] = ()) -> bool:
        """Store value; True when stored. A server failure is a logged warning and
        False (``fail_open``, the default) or the redis-py exception."""
        return self._run(self._set_steps(self.full_key(key), value, ttl, tuple(tags)))

    def delete(self, *keys: str | bytes) -> int:
        """Delete keys; the number deleted (0 when the server failed, fail open)."""
        if not keys:
            return 0
        fulls = [self.full_key(k) for k in keys]
        try:
            return int(self._guard.call(None, self.client.delete, *fulls))
        except redis.RedisError as exc:
            self._server_error(exc, "cache delete of %r failed", fulls[0])
            return 0

    # -- multi-key ----------------------------------------------------------------
    def get_many(self, keys: Iterable[str | bytes], default: Any = MISS) -> dict[Any, Any]:
        """One MGET: ``{key: value}``, ``default`` (MISS) for absent or expired keys."""
        keys = list(keys)
        if not keys:
            return {}
        fulls = [self.full_key(k) for k in keys]
        entries = self._run(self._read_many_steps(fulls, Op()))
        return self._get_many_result(keys, fulls, entries, default)

    def set_many(self, mapping: Mapping[Any, Any], ttl: float | None | Any = DEFAULT, *,
                 tags: Iterable[str] = ()) -> bool:
        """Store every item in one pipeline; False when the server failed (fail open)."""
        items = [(self.full_key(k), v) for k, v in mapping.items()]
        return bool(items) and self._run(self._set_many_steps(items, ttl, tuple(tags)))

    def delete_many(self, keys: Iterable[str | bytes]) -> int:
        return self.delete(*keys)

    def get_or_set_many(self, keys: Iterable[str | bytes], loader_many: Callable[[list[Any]], Any],
                        ttl: float | None | Any = DEFAULT, *,
                        stampede: StampedeMode | Any = DEFAULT, tags: Iterable[str] = ()) -> dict[Any, Any]:
        """``{key: value}`` for every key: the cached ones from one MGET, the others
        from **one** ``loader_many(missing_keys)`` call (a mapping key -> value, or a
        list in the order of ``missing_keys``), stored in one pipeline. With the lock
        (the default) each missed key is locked; keys locked by another caller are
        waited for (or served stale), so each key is loaded once among all callers."""
        return self._run(self._get_or_set_many_steps(keys, loader_many, ttl, self.mode(stampede), Op(),
                                                        tuple(tags)))

    # -- cache-aside --------------------------------------------------------------
    def get_or_set(self, key: str | bytes, loader: Callable[[], T], ttl: float | None | Any = DEFAULT,
                   *, stampede: StampedeMode | Any = DEFAULT, beta: float | None = None,
                   tags: Iterable[str] = ()) -> T:
        """The cached value, or ``loader()`` stored under key and returned.

        ``stampede``: "lock", "xfetch" or None (default: the cache's). ``beta``: XFetch
        eagerness (default: the cache's). A None result is cached only when the cache
        has ``none_ttl`` set (negative caching); otherwise it is returned, not stored.
        """
        full = self.full_key(key)
        mode = self.mode(stampede)
        op = Op()
        entry = self._read(full, op)
        hit, stale = self.classify(entry, mode, beta)
        if hit:
            return entry.value  # type: ignore[union-attr,no-any-return]
        return self._run(self._miss_steps(full, loader, ttl, mode, stale, op, tuple(tags)))  # type: ignore[no-any-return]

    def _read(self, full: str, op: Op | None = None) -> Entry | None:
        try:
            data = self._guard.call(op, self.client.get, full)
        except redis.RedisError as exc:
            self._server_error(exc, "cache read of %r failed; treating as a miss", full)
            return None
        entry = self.unpack(full, data)
        if entry is not None and entry.tags:  # see "tags" in _base
            return (self._run(self._valid_steps([entry], op)))[0]
        return entry

    # -- tags and namespaces --------------------------------------------------------
    def invalidate_tags(self, *tags: str) -> bool:
        """Make every entry carrying one of ``tags`` absent, at once: one INCR per
        tag, whatever the number of entries (they die by their TTL). False when
        the server failed (fail open)."""
        return self._run(self._invalidate_tags_steps(tags))

    def clear(self) -> bool:
        """Empty this cache's namespace in O(1) (a ``clearable=True`` cache: every
        entry carries the namespace's tag, whose version this moves)."""
        if not self.clearable:
            raise TypeError("clear() needs a cache made with clearable=True")
        return self._run(self._invalidate_tags_steps((NAMESPACE_TAG,)))

    def _unlock(self, lock: str, token: str, op: Op | None = None) -> bool:
        return self._run(self._unlock_steps(lock, token, op))

    # -- refresh-ahead ---------------------------------------------------------------
    def register_hot(self, key: str | bytes, loader: Callable[[], Any], ttl: float | None = None,
                     *, ahead: float = 0.2, start: bool = True) -> None:
        """Keep key fresh in the background: reload it ``ahead`` before soft expiry.

        ``ahead`` below 1 is a fraction of ttl, otherwise seconds. The refresh takes
        the same distributed lock as get_or_set, so among many processes one reloads.
        ``start=False`` leaves the thread off; call :meth:`refresh_hot` yourself.
        """
        hot = self._make_hot(key, loader, ttl, ahead)
        with self._hot_lock:
            self._hot[hot.key] = hot
            if start and self._refresher is None and not self._closed:
                self._refresher = threading.Thread(target=self._refresh_loop, daemon=True,
                                                   name="ringcache-refresh-ahead")
                self._refresher.start()

    def unregister_hot(self, key: str | bytes) -> None:
        with self._hot_lock:
            self._hot.pop(self.full_key(key), None)

    def refresh_hot(self) -> int:
        """One refresh-ahead pass: reload the registered keys that are due. Returns
        how many were reloaded by this process."""
        with self._hot_lock:
            hot_keys = list(self._hot.values())
        return self._run(self._refresh_hot_steps(hot_keys))

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_interval):
            self.refresh_hot()

    # -- decorator (``cached`` comes from Decorates) --------------------------------
    def cached_many(self, ttl: float | None | Any = DEFAULT, **options: Any) -> Any:
        """``@cache.cached_many(ttl=60)``: see :func:`ringcache.client.cached_many`."""
        from .decorator import cached_many
        return cached_many(self, ttl=ttl, **options)


__all__ = ["Cache", "MISS"]
