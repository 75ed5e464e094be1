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

Every server call goes through the redis-py client given or built from the URL,
so a cluster client can be substituted. Cache errors fail open by default: a
read error is a miss, a write error is logged; the loader is the source of truth.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any, Callable, TypeVar

import redis

from ._base import CacheBase, HotKey, log
from ._core import DEFAULT, MISS, Entry, StampedeMode
from .singleflight import SingleFlight

T = TypeVar("T")


class Cache(CacheBase):
    """Cache-aside over a redis-py client.

    ``Cache("redis://127.0.0.1:6379/0", namespace="app:")`` or ``Cache(redis.Redis(...))``.
    See the keyword arguments of :class:`CacheBase` for the options.
    """

    def __init__(self, client: str | redis.Redis, **options: Any) -> None:
        super().__init__(**options)
        if isinstance(client, str):
            self.client: redis.Redis = redis.Redis.from_url(client)
            self._owns_client = True
        else:
            self.client = client
            self._owns_client = False
        self._flight = SingleFlight()
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None
        self._hot_lock = threading.Lock()
        self._closed = False

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

    def __enter__(self) -> "Cache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plain operations -------------------------------------------------------
    def get(self, key: str | bytes, default: Any = MISS, *, allow_stale: bool = False) -> Any:
        """The cached value, or ``default`` (MISS) when absent or past its soft expiry."""
        full = self.full_key(key)
        entry = self._read(full)
        if entry is not None and (allow_stale or entry.fresh(self.clock())):
            self.metrics.incr("hits")
            return entry.value
        self.metrics.incr("misses")
        return default

    def set(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        full = self.full_key(key)
        blob, px = self.pack(full, value, self.resolve_ttl(ttl, value), 0.0)
        self.client.set(full, blob, px=px)

    def delete(self, *keys: str | bytes) -> int:
        if not keys:
            return 0
        return int(self.client.delete(*(self.full_key(k) for k in keys)))

    # -- cache-aside --------------------------------------------------------------
    def get_or_set(self, key: str | bytes, loader: Callable[[], T], ttl: float | None | Any = DEFAULT,
                   *, stampede: StampedeMode | Any = DEFAULT, beta: float | None = None) -> T:
        """The cached value, or ``loader()`` stored under key and returned.

        ``stampede``: "lock", "xfetch" or None (default: the cache's). ``beta``: XFetch
        eagerness (default: the cache's). A None result is cached only when the cache
        has ``none_ttl`` set (negative caching); otherwise it is returned, not stored.
        """
        full = self.full_key(key)
        mode = self.mode(stampede)
        entry = self._read(full)
        hit, stale = self.classify(entry, mode, beta)
        if hit:
            return entry.value  # type: ignore[union-attr,no-any-return]
        if not self.single_flight:
            return self._load(full, loader, ttl, mode, stale)  # type: ignore[no-any-return]
        value, shared = self._flight.do(full, lambda: self._load(full, loader, ttl, mode, stale, True))
        if shared:
            self.metrics.incr("singleflight_shared")
        return value  # type: ignore[no-any-return]

    def _load(self, full: str, loader: Callable[[], Any], ttl: Any, mode: StampedeMode,
              stale: Entry | None, recheck: bool = False) -> Any:
        if mode == "lock":
            return self._load_locked(full, loader, ttl, stale)  # re-checks under the lock
        if recheck:
            # A single-flight leader: a caller that read the miss just before the
            # previous flight stored its value would otherwise load a second time.
            entry = self._read(full)
            if entry is not None and entry.fresh(self.clock()) \
                    and (stale is None or entry.expires_at != stale.expires_at):
                return entry.value
        return self._load_store(full, loader, ttl)

    def _load_store(self, full: str, loader: Callable[[], Any], ttl: Any) -> Any:
        start = self.clock()
        try:
            value = loader()
        except BaseException:
            self.metrics.incr("load_errors")
            raise
        delta = max(0.0, self.clock() - start)
        self.metrics.incr("loads")
        self.metrics.incr("load_time", delta)
        if self.should_cache(value):
            self._store(full, value, ttl, delta)
        return value

    def _load_locked(self, full: str, loader: Callable[[], Any], ttl: Any, stale: Entry | None) -> Any:
        lock = self.lock_key(full)
        token = secrets.token_hex(16)
        deadline = time.monotonic() + self.lock_wait
        delays = self.backoff_delays()
        while True:
            acquired = self._try_lock(lock, token)
            if acquired is None:  # the server failed: load unprotected (fail open)
                return self._load_store(full, loader, ttl)
            if acquired:
                try:
                    # Double check: the previous holder may have stored just before we locked.
                    entry = self._read(full)
                    if entry is not None and entry.fresh(self.clock()) \
                            and (stale is None or entry.expires_at != stale.expires_at):
                        return entry.value
                    return self._load_store(full, loader, ttl)
                finally:
                    self._unlock(lock, token)
            if stale is not None and self.serve_stale:
                self.metrics.incr("stale_hits")
                return stale.value
            if time.monotonic() >= deadline:
                self.metrics.incr("lock_timeouts")
                log.warning("waited %.3fs for the lock on %r; loading without it", self.lock_wait, full)
                return self._load_store(full, loader, ttl)
            self.metrics.incr("stampede_waits")
            time.sleep(next(delays))
            entry = self._read(full)
            if entry is not None and entry.fresh(self.clock()):
                return entry.value

    def _try_lock(self, lock: str, token: str) -> bool | None:
        try:
            return bool(self.client.set(lock, token, nx=True, px=max(1, int(self.lock_ttl * 1000))))
        except redis.RedisError:
            if not self.fail_open:
                raise
            self.metrics.incr("errors")
            log.warning("cannot take lock %r", lock, exc_info=True)
            return None

    def _unlock(self, lock: str, token: str) -> bool:
        """Delete the lock only if it still holds our token (WATCH/MULTI/EXEC).

        A holder slower than lock_ttl has lost the lock to someone else; deleting it
        blindly would free *their* lock. If the value changes between our GET and
        EXEC, EXEC aborts (WatchError) and the lock is left to its owner.
        """
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.watch(lock)
                current = pipe.get(lock)
                if current is None or _as_str(current) != token:
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.delete(lock)
                pipe.execute()
                return True
        except redis.WatchError:
            return False
        except redis.RedisError:
            if not self.fail_open:
                raise
            self.metrics.incr("errors")
            log.warning("cannot release lock %r; it expires by itself", lock, exc_info=True)
            return False

    # -- server I/O with fail-open -------------------------------------------------
    def _read(self, full: str) -> Entry | None:
        try:
            data = self.client.get(full)
        except redis.RedisError:
            if not self.fail_open:
                raise
            self.metrics.incr("errors")
            log.warning("cache read of %r failed; treating as a miss", full, exc_info=True)
            return None
        return self.unpack(full, data)  # type: ignore[arg-type]

    def _store(self, full: str, value: Any, ttl: Any, delta: float) -> None:
        blob, px = self.pack(full, value, self.resolve_ttl(ttl, value), delta)
        try:
            self.client.set(full, blob, px=px)
        except redis.RedisError:
            if not self.fail_open:
                raise
            self.metrics.incr("errors")
            log.warning("cache write of %r failed", full, exc_info=True)

    # -- refresh-ahead ---------------------------------------------------------------
    def register_hot(self, key: str | bytes, loader: Callable[[], Any], ttl: float | None = None,
                     *, ahead: float = 0.2, start: bool = True) -> None:
        """Keep key fresh in the background: reload it ``ahead`` before soft expiry.

        ``ahead`` below 1 is a fraction of ttl, otherwise seconds. The refresh takes
        the same distributed lock as get_or_set, so among many processes one reloads.
        ``start=False`` leaves the thread off; call :meth:`refresh_hot` yourself.
        """
        ttl = self.default_ttl if ttl is None else ttl
        if ttl is None:
            raise ValueError("refresh-ahead needs a TTL")
        hot = HotKey(self.full_key(key), loader, float(ttl), ahead * ttl if ahead < 1 else ahead)
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
        done = 0
        for hot in hot_keys:
            try:
                if self._refresh_one(hot):
                    done += 1
            except Exception:
                self.metrics.incr("errors")
                log.exception("refresh-ahead of %r failed", hot.key)
        return done

    def _refresh_one(self, hot: HotKey) -> bool:
        if not self.hot_due(hot, self._read(hot.key), self.clock()):
            return False
        lock, token = self.lock_key(hot.key), secrets.token_hex(16)
        if not self._try_lock(lock, token):
            return False  # another process is refreshing it
        try:
            # re-check under the lock: the other process may have refreshed already
            if not self.hot_due(hot, self._read(hot.key), self.clock()):
                return False
            self._flight.do(hot.key, lambda: self._load_store(hot.key, hot.loader, hot.ttl))
            self.metrics.incr("refreshes")
            return True
        finally:
            self._unlock(lock, token)

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_interval):
            self.refresh_hot()

    # -- decorator ---------------------------------------------------------------
    def cached(self, ttl: float | None | Any = DEFAULT, **options: Any) -> Any:
        """``@cache.cached(ttl=60)``: see :func:`ringcache.client.cached`."""
        from .decorator import cached
        return cached(self, ttl=ttl, **options)


def _as_str(value: Any) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)


__all__ = ["Cache", "MISS"]
