"""Configuration, decisions and the cache-aside flows common to Cache and AsyncCache.

The flows (read, store, get_or_set with its lock loop, refresh-ahead) are
written once here as sans-I/O steps (see ``_steps``): generators that yield the
server calls, loader calls, sleeps and single-flight sections they need.
:class:`~ringcache.client.Cache` runs them, :class:`~ringcache.client.AsyncCache`
awaits them; each class adds only how to sleep and how to share a flight.
"""

from __future__ import annotations

import logging
import random as _random
import secrets
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import redis

from . import _core, cluster
from ._core import DEFAULT, Entry, StampedeMode, Tags
from ._steps import Call, Pipeline, Steps, Watched
from .decorator import Decorates
from .guard import CacheBusyError, CircuitBreaker, CircuitOpenError, Op, SkippedError, WarningLimiter
from .metrics import Metrics
from .serializers import Serializer, resolve

log = logging.getLogger("ringcache.client")

Clock = Callable[[], float]

# The tag every entry of a ``clearable`` cache carries: clear() moves its version.
NAMESPACE_TAG = "__namespace__"


@dataclass(slots=True)
class HotKey:
    """A key kept fresh by refresh-ahead: reloaded before its soft expiry."""
    key: str  # full (prefixed) key
    loader: Callable[[], Any]
    ttl: float
    ahead: float  # seconds before soft expiry at which the refresh is due


@dataclass(frozen=True, slots=True)
class Sleep:
    """Step request: back off for this many seconds (``time.sleep`` / ``asyncio.sleep``)."""
    seconds: float


@dataclass(frozen=True, slots=True)
class Server:
    """Step request: perform ``request`` (a Call or Watched on the client) through
    the cache's guard (pool slots, breaker, failure accounting) as part of ``op``."""
    op: Op | None
    request: Any


@dataclass(frozen=True, slots=True)
class Flight:
    """Step request: run ``steps()`` as the single flight of ``key`` in this process
    (or wait for the one running); the reply is ``(value, shared)``."""
    key: str
    steps: Callable[[], Steps[Any]]


class CacheBase(Decorates):
    """Everything but the I/O: keys, TTLs, envelopes, options, metrics, and the
    flows as steps. Subclasses set ``client`` and drive the steps."""

    client: Any
    # The subclasses' driven steps (sync: a value; asyncio: an awaitable of one).
    _read: Callable[[str], Any]
    _unlock: Callable[[str, str], Any]

    def __init__(self, *, namespace: str = "", serializer: str | Serializer = "json",
                 default_ttl: float | None = 300.0, jitter: float = 0.1,
                 none_ttl: float | None = None, stale_ttl: float = 0.0,
                 stampede: StampedeMode = "lock", beta: float = 1.0,
                 lock_ttl: float = 10.0, lock_wait: float | None = None,
                 backoff: tuple[float, float] = (0.005, 0.1), serve_stale: bool = True,
                 single_flight: bool = True, fail_open: bool = True,
                 refresh_interval: float = 0.5,
                 pool_size: int = 50, pool_timeout: float = 5.0, timeout: float | None = 2.0,
                 breaker: CircuitBreaker | None | Any = DEFAULT, warn_interval: float = 60.0,
                 compression: str | None = "auto", compress_threshold: int = 1024,
                 clearable: bool = False,
                 clock: Clock = time.time, rand: Callable[[], float] = _random.random) -> None:
        if default_ttl is not None and default_ttl <= 0:
            raise ValueError("default_ttl must be positive or None (no expiry)")
        if not 0.0 <= jitter < 1.0:
            raise ValueError("jitter is a fraction of the TTL in [0, 1)")
        if stale_ttl < 0 or lock_ttl <= 0 or beta <= 0:
            raise ValueError("stale_ttl must be >= 0, lock_ttl and beta > 0")
        if pool_size < 1 or pool_timeout < 0 or (timeout is not None and timeout <= 0):
            raise ValueError("pool_size must be >= 1, pool_timeout >= 0, timeout > 0 or None")
        self.namespace = namespace
        self.serializer = resolve(serializer)
        self.default_ttl = default_ttl
        self.jitter = jitter
        self.none_ttl = none_ttl
        self.stale_ttl = stale_ttl
        self.stampede: StampedeMode = _core.check_mode(stampede)
        self.beta = beta
        self.lock_ttl = lock_ttl
        # How long a waiter waits for another holder before loading itself (fail open).
        self.lock_wait = lock_ttl if lock_wait is None else lock_wait
        self.backoff = backoff
        self.serve_stale = serve_stale
        self.single_flight = single_flight
        self.fail_open = fail_open
        self.refresh_interval = refresh_interval
        self.clock = clock
        self.rand = rand
        self.metrics = Metrics(namespace)
        # The failure policy (see ``guard``): the pool's size and wait, the cache's own
        # per-call timeout (clients built from a URL), the breaker, rate-limited warnings.
        self.pool_size = pool_size
        self.pool_timeout = pool_timeout
        self.timeout = timeout
        self.breaker: CircuitBreaker | None = CircuitBreaker() if breaker is DEFAULT else breaker
        self._warnings = WarningLimiter(warn_interval)
        # Values whose serialised form has at least compress_threshold bytes are
        # compressed (flagged in the envelope); None = never.
        self.compressor = None if compression is None else _core.Compressor(compression)
        self.compress_threshold = compress_threshold
        # Every entry carries NAMESPACE_TAG, so clear() empties the namespace in O(1)
        # (each read then also checks that tag's version: see ``tags`` in the docs).
        self.clearable = clearable
        self._hot: dict[str, HotKey] = {}

    # -- keys -----------------------------------------------------------------
    def full_key(self, key: str | bytes) -> str:
        return self.namespace + _core.to_key(key)

    def tag_key(self, tag: str) -> str:
        """The counter holding a tag's version (see :meth:`invalidate_tags`)."""
        return f"{self.namespace}__tag__:{tag}"

    def _mget(self) -> Callable[..., Any]:
        # On a cluster, one MGET per slot (redis-py sends each to its owner).
        mget: Callable[..., Any] = self.client.mget_nonatomic if cluster.is_cluster(self.client) \
            else self.client.mget
        return mget

    @staticmethod
    def lock_key(full: str) -> str:
        # Suffix, not prefix: a {hash tag} in the key keeps the lock in the key's slot.
        return full + ":lock"

    # -- TTLs -----------------------------------------------------------------
    def resolve_ttl(self, ttl: float | None | Any, value: Any) -> float | None:
        if value is None and self.none_ttl is not None and ttl is DEFAULT:
            ttl = self.none_ttl
        if ttl is DEFAULT:
            ttl = self.default_ttl
        if ttl is None:
            return None
        if not isinstance(ttl, (int, float)) or ttl <= 0:
            raise ValueError(f"ttl must be a positive number of seconds or None, not {ttl!r}")
        return _core.jittered(float(ttl), self.jitter, self.rand)

    def pack(self, key: str, value: Any, ttl: float | None, delta: float,
             tags: Tags = ()) -> tuple[bytes, int | None]:
        """(stored bytes, server PX in ms or None)."""
        expires_at = 0.0 if ttl is None else self.clock() + ttl
        blob = _core.encode(key, value, self.serializer, delta, expires_at, self.compressor,
                            self.compress_threshold, tags)
        px = None if ttl is None else max(1, int((ttl + self.stale_ttl) * 1000))
        return blob, px

    def unpack(self, key: str, data: bytes | None) -> Entry | None:
        if data is None:
            return None
        try:
            return _core.decode(bytes(data), self.serializer)
        except Exception:
            # A value written in another format (a serializer change during a deploy):
            # a miss that the next load overwrites, not an error for the caller.
            self.metrics.incr("errors")
            self._warnings.warn_class("decode", "cannot decode the cached value of %r; treating "
                                      "it as a miss", key, exc=sys.exc_info()[1])
            return None

    def should_cache(self, value: Any) -> bool:
        return value is not None or self.none_ttl is not None

    def mode(self, stampede: StampedeMode | Any) -> StampedeMode:
        return self.stampede if stampede is DEFAULT else _core.check_mode(stampede)

    def early(self, entry: Entry, now: float, mode: StampedeMode, beta: float | None) -> bool:
        return mode == "xfetch" and _core.xfetch_due(entry, now, beta or self.beta, self.rand)

    def classify(self, entry: Entry | None, mode: StampedeMode,
                 beta: float | None) -> tuple[bool, Entry | None]:
        """What get_or_set does with what it read: (hit, stale). A hit is a fresh
        entry XFetch does not pick for early recomputation; anything else is a
        miss, and a present entry is kept as the stale value. Counts both."""
        stale: Entry | None = None
        if entry is not None:
            now = self.clock()
            if entry.fresh(now):
                if not self.early(entry, now, mode, beta):
                    self.metrics.incr("hits")
                    return True, entry
                self.metrics.incr("early_recomputes")
            stale = entry
        self.metrics.incr("misses")
        return False, stale

    def hot_due(self, hot: HotKey, entry: Entry | None, now: float) -> bool:
        return entry is None or (entry.expires_at != 0.0 and entry.expires_at - now <= hot.ahead)

    def backoff_delays(self) -> Any:
        delay, cap = self.backoff
        while True:
            # full jitter: waiters do not wake in lockstep and hammer the server together
            yield delay * (0.5 + 0.5 * self.rand())
            delay = min(delay * 2, cap)

    # -- the flows, as steps -----------------------------------------------------------
    # Server and loader calls are yielded as Call(...); the sync driver calls them, the
    # asyncio one also awaits the result. ``self._read`` (a direct read) and
    # ``self._unlock`` (the unlock steps, driven) are the subclasses' methods, called
    # through Call so that tests can wrap them.
    def _server_error(self, exc: BaseException, message: str, key: str) -> None:
        """Called while handling a redis error: re-raise it (``fail_open=False``) or
        count it, warn (rate-limited, see ``guard``), and let the caller carry on as
        the cache being absent. A call skipped by the breaker or after an earlier
        failure of the same operation is neither counted nor logged again."""
        if not self.fail_open:
            raise exc
        if isinstance(exc, (SkippedError, CircuitOpenError)):
            return
        self.metrics.incr("errors")
        self._warnings.warn(exc, message, key)

    def _busy_after_load(self, exc: CacheBusyError, message: str, key: str) -> None:
        """A busy pool after the value is in hand (store, unlock): warn, keep the value."""
        self.metrics.incr("errors")
        self._warnings.warn(exc, message, key)

    def _set_steps(self, full: str, value: Any, ttl: Any, tags: tuple[str, ...]) -> Steps[bool]:
        versions = yield from self._tag_versions_steps(tags, None)
        if versions is None:
            return False
        blob, px = self.pack(full, value, self.resolve_ttl(ttl, value), 0.0, versions)
        try:
            yield Server(None, Call(self.client.set, full, blob, px=px))
        except redis.RedisError as exc:
            self._server_error(exc, "cache write of %r failed", full)
            return False
        return True

    def _store_steps(self, full: str, value: Any, ttl: Any, delta: float,
                     op: Op | None = None, versions: Tags = ()) -> Steps[None]:
        blob, px = self.pack(full, value, self.resolve_ttl(ttl, value), delta, versions)
        try:
            yield Server(op, Call(self.client.set, full, blob, px=px))
        except redis.RedisError as exc:
            self._server_error(exc, "cache write of %r failed", full)
        except CacheBusyError as exc:
            self._busy_after_load(exc, "cache write of %r skipped", full)

    def _miss_steps(self, full: str, loader: Callable[[], Any], ttl: Any, mode: StampedeMode,
                    stale: Entry | None, op: Op, tags: tuple[str, ...] = ()) -> Steps[Any]:
        """get_or_set after its first read missed (the hit path stays a direct call:
        driving steps costs a few microseconds a call)."""
        if not self.single_flight:
            return (yield from self._load_steps(full, loader, ttl, mode, stale, op, False, tags))
        value, shared = yield Flight(full, lambda: self._load_steps(full, loader, ttl, mode, stale, op, True,
                                                                    tags))
        if shared:
            self.metrics.incr("singleflight_shared")
        return value

    def _fresh_since(self, entry: Entry | None, stale: Entry | None) -> bool:
        """Whether a re-read found a value stored since we missed (by another process
        or the previous flight): then it is returned instead of loading again."""
        return entry is not None and entry.fresh(self.clock()) \
            and (stale is None or entry.expires_at != stale.expires_at)

    def _load_steps(self, full: str, loader: Callable[[], Any], ttl: Any, mode: StampedeMode,
                    stale: Entry | None, op: Op, recheck: bool = False,
                    tags: tuple[str, ...] = ()) -> Steps[Any]:
        if mode == "lock":  # re-checks under the lock
            return (yield from self._load_locked_steps(full, loader, ttl, stale, op, tags))
        if recheck:
            # A single-flight leader: a caller that read the miss just before the
            # previous flight stored its value would otherwise load a second time.
            entry = yield Call(self._read, full, op)
            if self._fresh_since(entry, stale):
                return entry.value
        return (yield from self._load_store_steps(full, loader, ttl, op, tags))

    def _load_store_steps(self, full: str, loader: Callable[[], Any], ttl: Any,
                          op: Op | None = None, tags: tuple[str, ...] = ()) -> Steps[Any]:
        # The tags' versions are read *before* loading: an invalidation during the
        # load then leaves the stored entry already stale, never a fresh-looking one.
        versions = yield from self._tag_versions_steps(tags, op)
        start = self.clock()
        try:
            value = yield Call(loader)
        except BaseException:
            self.metrics.incr("load_errors")
            raise
        delta = max(0.0, self.clock() - start)
        self.metrics.incr("loads")
        self.metrics.incr("load_time", delta)
        if self.should_cache(value) and versions is not None:
            yield from self._store_steps(full, value, ttl, delta, op, versions)
        return value

    def _load_locked_steps(self, full: str, loader: Callable[[], Any], ttl: Any,
                           stale: Entry | None, op: Op, tags: tuple[str, ...] = ()) -> Steps[Any]:
        """The lock path. It loads without the lock only when the server failed
        (fail open) or after ``lock_wait``, and re-reads the key first both times.
        A busy pool is never a reason: CacheBusyError reaches the caller instead
        (a load by every caller the pool cannot serve is the stampede itself)."""
        lock = self.lock_key(full)
        token = secrets.token_hex(16)
        deadline = time.monotonic() + self.lock_wait
        delays = self.backoff_delays()
        while True:
            acquired = yield from self._try_lock_steps(lock, token, op)
            if acquired is None:  # the server failed: load unprotected (fail open)
                return (yield from self._unprotected_load_steps(full, loader, ttl, stale, op, tags))
            if acquired:
                try:
                    # Double check: the previous holder may have stored just before we locked.
                    entry = yield Call(self._read, full, op)
                    if self._fresh_since(entry, stale):
                        return entry.value
                    return (yield from self._load_store_steps(full, loader, ttl, op, tags))
                finally:
                    yield Call(self._unlock, lock, token, op)
            if stale is not None and self.serve_stale:
                self.metrics.incr("stale_hits")
                return stale.value
            if time.monotonic() >= deadline:
                self.metrics.incr("lock_timeouts")
                self._warnings.warn_class("lock_wait", "waited %.3fs for the lock on %r; loading "
                                          "without it", self.lock_wait, full)
                return (yield from self._unprotected_load_steps(full, loader, ttl, stale, op, tags))
            self.metrics.incr("stampede_waits")
            yield Sleep(next(delays))
            entry = yield Call(self._read, full, op)
            if entry is not None and entry.fresh(self.clock()):
                return entry.value

    def _unprotected_load_steps(self, full: str, loader: Callable[[], Any], ttl: Any,
                                stale: Entry | None, op: Op, tags: tuple[str, ...] = ()) -> Steps[Any]:
        # Re-read first: the holder we gave up on may have stored meanwhile. After a
        # server failure the operation skips the server: no second timeout here.
        entry = yield Call(self._read, full, op)
        if self._fresh_since(entry, stale):
            return entry.value
        return (yield from self._load_store_steps(full, loader, ttl, op, tags))

    def _try_lock_steps(self, lock: str, token: str, op: Op | None) -> Steps[bool | None]:
        try:
            return bool((yield Server(op, Call(self.client.set, lock, token, nx=True,
                                               px=max(1, int(self.lock_ttl * 1000))))))
        except redis.RedisError as exc:
            self._server_error(exc, "cannot take lock %r", lock)
            return None

    def _unlock_steps(self, lock: str, token: str, op: Op | None = None) -> Steps[bool]:
        """Delete the lock only if it still holds our token (WATCH/GET/MULTI/DEL/EXEC).

        A holder slower than lock_ttl has lost the lock to someone else; deleting it
        blindly would free *their* lock. If the value changes between our GET and
        EXEC, EXEC aborts and the retry's GET sees the other token: left to its owner.
        """
        ours = False

        def delete_if_ours(values: list[Any], pipe: Any) -> None:
            nonlocal ours
            current = values[0]
            ours = current is not None and _as_str(current) == token
            if ours:
                pipe.delete(lock)

        try:
            yield Server(op, Watched((lock,), delete_if_ours))
        except redis.RedisError as exc:
            if not isinstance(exc, (SkippedError, CircuitOpenError)):
                self.metrics.incr("errors")
                self._warnings.warn(exc, "cannot release lock %r; it expires by itself", lock)
            return False
        except CacheBusyError as exc:
            self._busy_after_load(exc, "cannot release lock %r (it expires by itself)", lock)
            return False
        return ours

    # -- tags --------------------------------------------------------------------------
    # An entry stored with tags carries each tag's version (a counter at tag_key) as
    # read before its load; a read then compares them with the counters (one MGET,
    # only for tagged entries) and treats a moved one as absent. invalidate_tags
    # INCRs the counters: O(1) per tag, no SCAN, whatever the number of entries.
    # A missing counter (never used, evicted) is created from the clock in ms with
    # SET NX, so it never comes back at a version an old entry carries.
    def _tag_names(self, tags: tuple[str, ...]) -> tuple[str, ...]:
        if self.clearable:
            tags = (*tags, NAMESPACE_TAG)
        return tuple(sorted(set(tags)))

    def _tag_versions_steps(self, tags: tuple[str, ...], op: Op | None) -> Steps[Tags | None]:
        """The tags' current versions, creating missing counters; None when the
        server failed (the value is then returned but not stored: an entry whose
        tags cannot be recorded could not be invalidated)."""
        names = self._tag_names(tags)
        if not names:
            return ()
        keys = [self.tag_key(name) for name in names]
        try:
            raw = yield Server(op, Call(self._mget(), keys))
            if any(v is None for v in raw):
                now_ms = int(self.clock() * 1000)
                missing = [key for key, v in zip(keys, raw) if v is None]

                def create(pipe: Any) -> None:
                    for key in missing:
                        pipe.set(key, now_ms, nx=True)

                yield Server(op, Pipeline(create, transaction=False))
                raw = yield Server(op, Call(self._mget(), keys))
        except redis.RedisError as exc:
            self._server_error(exc, "cannot read the versions of tags %r; not storing", keys[0])
            return None
        except CacheBusyError as exc:
            self._busy_after_load(exc, "cannot read the versions of tags %r; not storing", keys[0])
            return None
        return tuple((name, int(v)) for name, v in zip(names, raw))

    def _valid_steps(self, entries: list[Entry | None], op: Op | None) -> Steps[list[Entry | None]]:
        """The entries with those whose tags moved replaced by None (one MGET for
        all their tags; none when no entry is tagged)."""
        names = sorted({name for entry in entries if entry is not None for name, _ in entry.tags})
        if not names:
            return entries
        try:
            raw = yield Server(op, Call(self._mget(), [self.tag_key(name) for name in names]))
        except redis.RedisError as exc:
            self._server_error(exc, "cannot read the versions of tags %r; treating as misses", names[0])
            return [None] * len(entries)
        current = {name: None if v is None else int(v) for name, v in zip(names, raw)}
        valid: list[Entry | None] = []
        for entry in entries:
            if entry is not None and any(current[name] != version for name, version in entry.tags):
                self.metrics.incr("tag_invalidated")
                entry = None
            valid.append(entry)
        return valid

    def _invalidate_tags_steps(self, tags: tuple[str, ...]) -> Steps[bool]:
        if not tags:
            return True
        now_ms = int(self.clock() * 1000)

        def bump(pipe: Any) -> None:
            for tag in tags:
                pipe.set(self.tag_key(tag), now_ms, nx=True)  # see above: never back to an old version
                pipe.incr(self.tag_key(tag))

        try:
            yield Server(None, Pipeline(bump, transaction=False))
        except redis.RedisError as exc:
            self._server_error(exc, "cannot invalidate tag %r", tags[0])
            return False
        return True

    # -- multi-key ---------------------------------------------------------------------
    # get_or_set_many: one MGET for every key, one lock pipeline (SET NX PX per missed
    # key), one loader call for all the keys this caller holds the lock of, one SET
    # pipeline; waiters back off and re-read with MGET. Each key keeps the guarantees
    # of the single-key lock path: one load per key among every caller and process.
    def _read_many_steps(self, fulls: list[str], op: Op | None) -> Steps[list[Entry | None]]:
        try:
            raw = yield Server(op, Call(self._mget(), fulls))
        except redis.RedisError as exc:
            self._server_error(exc, "cache read of %r failed; treating as misses", fulls[0])
            return [None] * len(fulls)
        return (yield from self._valid_steps([self.unpack(full, data) for full, data in zip(fulls, raw)], op))

    def _set_many_steps(self, items: list[tuple[str, Any]], ttl: Any,
                        tags: tuple[str, ...]) -> Steps[bool]:
        versions = yield from self._tag_versions_steps(tags, None)
        return versions is not None and (yield from self._store_many_steps(items, ttl, 0.0, None, versions))

    def _store_many_steps(self, items: list[tuple[str, Any]], ttl: Any, delta: float,
                          op: Op | None, versions: Tags = ()) -> Steps[bool]:
        packed = [(full, *self.pack(full, value, self.resolve_ttl(ttl, value), delta, versions))
                  for full, value in items]

        def build(pipe: Any) -> None:
            for full, blob, px in packed:
                pipe.set(full, blob, px=px)

        try:
            yield Server(op, Pipeline(build, transaction=False))
        except redis.RedisError as exc:
            self._server_error(exc, "cache write of %r failed", packed[0][0])
            return False
        except CacheBusyError as exc:
            self._busy_after_load(exc, "cache write of %r skipped", packed[0][0])
            return False
        return True

    def _lock_many_steps(self, fulls: list[str], token: str, op: Op) -> Steps[list[bool] | None]:
        px = max(1, int(self.lock_ttl * 1000))

        def build(pipe: Any) -> None:
            for full in fulls:
                pipe.set(self.lock_key(full), token, nx=True, px=px)

        try:
            replies = yield Server(op, Pipeline(build, transaction=False))
        except redis.RedisError as exc:
            self._server_error(exc, "cannot take lock %r", self.lock_key(fulls[0]))
            return None
        return [bool(reply) for reply in replies]

    def _load_many_steps(self, fulls: list[str], user: dict[str, Any], loader_many: Callable[..., Any],
                         ttl: Any, op: Op | None, tags: tuple[str, ...]) -> Steps[dict[str, Any]]:
        keys = [user[full] for full in fulls]
        versions = yield from self._tag_versions_steps(tags, op)  # before loading: see _load_store_steps
        start = self.clock()
        try:
            raw = yield Call(loader_many, keys)
        except BaseException:
            self.metrics.incr("load_errors")
            raise
        delta = max(0.0, self.clock() - start)
        self.metrics.incr("loads")
        self.metrics.incr("load_time", delta)
        values = _many_values(raw, keys)
        to_store = [(full, value) for full, value in zip(fulls, values) if self.should_cache(value)]
        if to_store and versions is not None:
            yield from self._store_many_steps(to_store, ttl, delta, op, versions)
        return dict(zip(fulls, values))

    def _reread_and_load_many_steps(self, fulls: list[str], user: dict[str, Any], loader_many: Any,
                                ttl: Any, stale: dict[str, Entry | None], op: Op,
                                tags: tuple[str, ...]) -> Steps[dict[str, Any]]:
        found = {}
        for full, entry in zip(fulls, (yield from self._read_many_steps(fulls, op))):
            if self._fresh_since(entry, stale.get(full)):
                found[full] = entry.value  # type: ignore[union-attr]
        rest = [full for full in fulls if full not in found]
        if rest:
            found.update((yield from self._load_many_steps(rest, user, loader_many, ttl, op, tags)))
        return found

    def _get_or_set_many_steps(self, keys: Any, loader_many: Callable[..., Any], ttl: Any,
                               mode: StampedeMode, op: Op,
                               tags: tuple[str, ...] = ()) -> Steps[dict[Any, Any]]:
        user: dict[str, Any] = {}
        for key in keys:
            user.setdefault(self.full_key(key), key)
        fulls = list(user)
        if not fulls:
            return {}
        result: dict[str, Any] = {}
        stale: dict[str, Entry | None] = {}
        for full, entry in zip(fulls, (yield from self._read_many_steps(fulls, op))):
            hit, stale[full] = self.classify(entry, mode, None)
            if hit:
                result[full] = entry.value  # type: ignore[union-attr]
        pending = [full for full in fulls if full not in result]
        if pending and mode != "lock":
            result.update((yield from self._load_many_steps(pending, user, loader_many, ttl, op, tags)))
            pending = []
        token = secrets.token_hex(16)
        deadline = time.monotonic() + self.lock_wait
        delays = self.backoff_delays()
        while pending:
            flags = yield from self._lock_many_steps(pending, token, op)
            if flags is None:  # the server failed: fail open, re-read first
                result.update((yield from self._reread_and_load_many_steps(pending, user, loader_many, ttl,
                                                                       stale, op, tags)))
                break
            mine = [full for full, ok in zip(pending, flags) if ok]
            if mine:
                try:
                    # double check under the locks, as the single-key path
                    result.update((yield from self._reread_and_load_many_steps(mine, user, loader_many, ttl,
                                                                           stale, op, tags)))
                finally:
                    for full in mine:
                        yield Call(self._unlock, self.lock_key(full), token, op)
            pending = [full for full, ok in zip(pending, flags) if not ok]
            if self.serve_stale:
                for full in [f for f in pending if stale.get(f) is not None]:
                    self.metrics.incr("stale_hits")
                    result[full] = stale[full].value  # type: ignore[union-attr]
                    pending.remove(full)
            if not pending:
                break
            if time.monotonic() >= deadline:
                self.metrics.incr("lock_timeouts")
                self._warnings.warn_class("lock_wait", "waited %.3fs for the locks of %d keys (%r...); "
                                          "loading without them", self.lock_wait, len(pending), pending[0])
                result.update((yield from self._reread_and_load_many_steps(pending, user, loader_many, ttl,
                                                                       stale, op, tags)))
                break
            self.metrics.incr("stampede_waits")
            yield Sleep(next(delays))
            now = self.clock()
            for full, entry in zip(list(pending), (yield from self._read_many_steps(pending, op))):
                if entry is not None and entry.fresh(now):
                    result[full] = entry.value
                    pending.remove(full)
        return {user[full]: result[full] for full in fulls}

    def _get_many_result(self, keys: Any, fulls: list[str], entries: list[Entry | None],
                         default: Any) -> dict[Any, Any]:
        now = self.clock()
        out = {}
        for key, entry in zip(keys, entries):
            if entry is not None and entry.fresh(now):
                self.metrics.incr("hits")
                out[key] = entry.value
            else:
                self.metrics.incr("misses")
                out[key] = default
        return out

    # -- refresh-ahead -------------------------------------------------------------------
    def _make_hot(self, key: str | bytes, loader: Callable[[], Any], ttl: float | None,
                  ahead: float) -> HotKey:
        ttl = self.default_ttl if ttl is None else ttl
        if ttl is None:
            raise ValueError("refresh-ahead needs a TTL")
        return HotKey(self.full_key(key), loader, float(ttl), ahead * ttl if ahead < 1 else ahead)

    def _refresh_hot_steps(self, hot_keys: list[HotKey]) -> Steps[int]:
        done = 0
        for hot in hot_keys:
            try:
                if (yield from self._refresh_one_steps(hot)):
                    done += 1
            except Exception as exc:
                self.metrics.incr("errors")
                self._warnings.warn(exc, "refresh-ahead of %r failed", hot.key)
        return done

    def _refresh_one_steps(self, hot: HotKey) -> Steps[bool]:
        op = Op()
        if not self.hot_due(hot, (yield Call(self._read, hot.key, op)), self.clock()):
            return False
        lock, token = self.lock_key(hot.key), secrets.token_hex(16)
        if not (yield from self._try_lock_steps(lock, token, op)):
            return False  # another process is refreshing it (or the server failed)
        try:
            # re-check under the lock: the other process may have refreshed already
            if not self.hot_due(hot, (yield Call(self._read, hot.key, op)), self.clock()):
                return False
            yield Flight(hot.key, lambda: self._load_store_steps(hot.key, hot.loader, hot.ttl, op))
            self.metrics.incr("refreshes")
            return True
        finally:
            yield Call(self._unlock, lock, token, op)


def _many_values(raw: Any, keys: list[Any]) -> list[Any]:
    """A multi-key loader returns a mapping (key -> value; a key it leaves out is
    None) or a sequence of values in the order of the keys it was given."""
    if isinstance(raw, Mapping):
        return [raw.get(key) for key in keys]
    values = list(raw)
    if len(values) != len(keys):
        raise ValueError(f"the multi-key loader returned {len(values)} values for {len(keys)} keys")
    return values


def _as_str(value: Any) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)
