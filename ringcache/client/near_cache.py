"""Near cache (L1): an in-process copy of hot entries, kept fresh by the server.

Theory of operation. The L1 is an LRU dict bounded by entries and by bytes (the
size of the stored envelopes), each entry also bounded by a short TTL (by the
cache's clock) and by the entry's own soft expiry. Freshness comes from CLIENT
TRACKING in RESP2 redirect mode, which works on redis-server and on a ringcache
node alike:

* a *listener* connection S asks ``CLIENT ID`` and SUBSCRIBEs to
  ``__redis__:invalidate``; a background thread owned by the NearCache (a task
  owned by the AsyncNearCache) reads it;
* a *reader* connection C runs ``CLIENT TRACKING ON REDIRECT <S's id>`` (plus
  ``BCAST PREFIX <namespace>`` in broadcast mode) and performs every read that
  fills the L1, so the server remembers the keys this process holds;
* when any client modifies such a key, the server publishes its name to S and
  the listener drops it from the L1. A null message (FLUSHALL/FLUSHDB) empties it.

Default mode tracks exactly the keys read (server memory per key); BCAST tracks
every key under the namespace prefix (no server memory per key, more messages).

RESP3 (``NearCache(cache, protocol=3)``, also ``AsyncNearCache``): one connection C speaks
RESP3 (HELLO 3) and runs ``CLIENT TRACKING ON`` without a redirect, so the
invalidations arrive on C itself as push frames. redis-py's parser hands a push
that precedes a reply to our handler before returning the reply; pushes that
arrive while C is idle wait in its socket, so every L1 access first drains C
without blocking (one ``poll`` of the socket, no round trip). No listener thread
or second connection is needed; a lost C is noticed at the next access (the
socket reads as closed) and flushes the L1 the same way.

Failure handling. If S drops, invalidations may have been lost: the whole L1 is
flushed, reads bypass it (``connected`` is False) until S is back and a new C
tracks with the new redirect id. A read racing with an invalidation of the same
key is not inserted (an invalidation sequence number is compared before and
after the read), so a value read just before a write cannot outlive it in L1.
The remaining window is the invalidation's flight time (sub-millisecond on one
host, see benchmarks/RESULTS.md, "invalidation latency").
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from typing import Any, Callable

import redis
from redis.crc import key_slot
from redis.exceptions import AskError, MovedError

from ._base import log
from .cluster import is_cluster
from .decorator import Decorates
from ._core import DEFAULT, MISS, Entry, StampedeMode
from .aio import AsyncCache
from .cache import Cache

CHANNEL = b"__redis__:invalidate"
# near-cache counters also kept in cache.metrics, under these names
_FOLDED = {"l1_hits": "l1_hits", "l1_misses": "l1_misses"}


def _check_push_support(protocol: int) -> None:
    """RESP3 push mode needs redis-py 6+: 5.x's connection does not pass
    ``push_request`` to its parser when hiredis is installed, so reading one
    pending invalidation blocks until the next reply (tested: it times out)."""
    if protocol == 3 and int(redis.__version__.split(".")[0]) < 6:
        raise ValueError(f"the near cache's RESP3 push mode needs redis-py 6 or later (this is "
                         f"{redis.__version__}); use protocol=2")


class _L1Base(Decorates):
    """The L1 itself (no I/O): LRU bounded by entries, bytes and TTL; the
    invalidation sequence number; counters. Shared by the sync and async caches."""

    def __init__(self, cache: Any, max_entries: int, max_bytes: int, ttl: float, bcast: bool,
                 reconnect_delay: float) -> None:
        if max_entries <= 0 or max_bytes <= 0 or ttl <= 0:
            raise ValueError("max_entries, max_bytes and ttl must be positive")
        self.cache = cache
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.bcast = bcast
        self.reconnect_delay = reconnect_delay
        self._l1: OrderedDict[str, tuple[Entry, float, int]] = OrderedDict()  # key -> entry, until, size
        self._bytes = 0
        self._lock = threading.Lock()          # guards _l1, _bytes, _seq, counters (never held across I/O)
        self._seq = 0                          # bumped by every invalidation
        self._stats = {"l1_hits": 0, "l1_misses": 0, "invalidations": 0, "flushes": 0,
                       "evictions": 0, "reconnects": 0}
        self._listener_id = 0

    def _tracking_args(self, listener_id: int | None) -> list[Any]:
        args: list[Any] = ["CLIENT", "TRACKING", "ON"]
        if listener_id is not None:  # RESP2: invalidations go to the listener connection
            args += ["REDIRECT", listener_id]
        if self.bcast:
            args += ["BCAST", "PREFIX", self.cache.namespace] if self.cache.namespace else ["BCAST"]
        return args

    def _connection_kwargs(self, protocol: int = 2) -> dict[str, Any]:
        # The protocol of these connections is ours to choose, whatever the client
        # uses: in RESP2 mode invalidations are pub/sub messages on the listener,
        # in RESP3 mode pushes on the tracked connection itself.
        kwargs = {**self.cache.client.connection_pool.connection_kwargs, "protocol": protocol}
        if protocol == 3:
            kwargs["parser_class"] = self._push_parser(kwargs.get("parser_class"))
        return kwargs

    def _push_parser(self, parser: Any) -> Any:
        """A parser that can hand pushes to a handler: the client's own when it can
        (redis-py 6+), else redis-py's pure-Python RESP3 parser (5.x's hiredis
        parser has no invalidation push handler)."""
        import redis.asyncio.connection
        import redis.connection
        from redis import _parsers
        is_async = isinstance(self, AsyncNearCache)
        if parser is None:  # the client's default (hiredis where installed)
            parser = (redis.asyncio.connection if is_async else redis.connection).DefaultParser
        if hasattr(parser, "set_invalidation_push_handler"):
            return parser
        return _parsers._AsyncRESP3Parser if is_async else _parsers._RESP3Parser

    def _on_push(self, push: Any) -> Any:
        """A RESP3 ``>invalidate`` push: [b"invalidate", keys or None]."""
        self._on_message([b"message", CHANNEL, push[1] if len(push) > 1 else None])
        return push

    def _on_message(self, message: Any) -> None:
        if not isinstance(message, list) or len(message) < 3 or message[0] != b"message":
            return
        keys = message[2]
        if keys is None:  # FLUSHALL / FLUSHDB
            self.flush()
            return
        with self._lock:
            self._seq += 1
            for raw in keys:
                key = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else str(raw)
                self._stats["invalidations"] += 1
                self._drop(key)
        self.cache.metrics.incr("l1_invalidations", len(keys))

    def _count(self, name: str) -> int:
        """Increment a counter; returns the invalidation sequence number."""
        if name in _FOLDED:
            self.cache.metrics.incr(_FOLDED[name])  # the cache's metrics carry the L1's too
        with self._lock:
            self._stats[name] += 1
            return self._seq

    def _forget(self, keys: tuple[str | bytes, ...]) -> None:
        with self._lock:
            self._seq += 1
            for key in keys:
                self._drop(self.cache.full_key(key))

    # -- L1 ----------------------------------------------------------------------------
    def _drop(self, full: str) -> None:
        item = self._l1.pop(full, None)
        if item is not None:
            self._bytes -= item[2]

    def _drop_slot(self, slot: int) -> None:
        """Drop the entries of one cluster slot (it moved to another node)."""
        with self._lock:
            self._seq += 1
            for full in [k for k in self._l1 if key_slot(k.encode("utf-8", "surrogateescape")) == slot]:
                self._drop(full)
        self.cache.metrics.incr("l1_slot_drops")

    def flush(self) -> None:
        with self._lock:
            self._seq += 1
            self._l1.clear()
            self._bytes = 0
            self._stats["flushes"] += 1
        self.cache.metrics.incr("l1_flushes")

    def _l1_get(self, full: str, now: float) -> Entry | None:
        with self._lock:
            item = self._l1.get(full)
            if item is None:
                return None
            entry, until, _ = item
            if now >= until or not entry.fresh(now):
                self._drop(full)
                return None
            self._l1.move_to_end(full)
            return entry

    def _l1_put(self, full: str, entry: Entry, size: int, seq: int, now: float) -> None:
        if size > self.max_bytes:
            return
        with self._lock:
            if seq != self._seq:
                return  # an invalidation arrived during the read: the value may be old
            self._drop(full)
            until = now + self.ttl
            if entry.expires_at:
                until = min(until, entry.expires_at)
            self._l1[full] = (entry, until, size)
            self._bytes += size
            while len(self._l1) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, _, dropped) = self._l1.popitem(last=False)
                self._bytes -= dropped
                self._stats["evictions"] += 1

    def _moved(self, full: str) -> None:
        """A tracked read answered MOVED (a cluster node that lost the slot): drop
        the slot's entries; the caller then reads through the cluster client."""
        self._drop_slot(key_slot(full.encode("utf-8", "surrogateescape")))

    def _keep(self, full: str, result: tuple[Entry | None, int], seq: int, now: float, default: Any) -> Any:
        """What a read through the tracked connection returns; a fresh entry enters L1."""
        entry, size = result
        if entry is None or not entry.fresh(now):
            self.cache.metrics.incr("misses")
            return default
        self.cache.metrics.incr("hits")
        self._l1_put(full, entry, size, seq, now)
        return entry.value

    def __contains__(self, key: str | bytes) -> bool:
        """Whether key is held in L1 now (fresh or not): for tests and debugging."""
        with self._lock:
            return self.cache.full_key(key) in self._l1

    def __len__(self) -> int:
        with self._lock:
            return len(self._l1)

    def stats(self) -> dict[str, float]:
        with self._lock:
            out: dict[str, float] = dict(self._stats)
            out["entries"] = len(self._l1)
            out["bytes"] = self._bytes
        reads = out["l1_hits"] + out["l1_misses"]
        out["hit_ratio"] = out["l1_hits"] / reads if reads else 0.0
        return out


class NearCache(_L1Base):
    """An L1 in front of a :class:`Cache`: ``NearCache(cache, max_entries=..., ttl=...)``.

    ``get`` and ``get_or_set`` serve from L1 when they can; writes go to the
    server (and drop the local copy). Call :meth:`close` (or use ``with``) to stop
    the listener thread; the underlying cache is not closed.
    """

    def __new__(cls, cache: Cache, **options: Any) -> Any:
        # On a cluster client: one near cache per node (see ``near_cluster``).
        if cls is NearCache and is_cluster(getattr(cache, "client", None)):
            from .near_cluster import ClusterNearCache
            return ClusterNearCache(cache, **options)
        return super().__new__(cls)

    def __init__(self, cache: Cache, *, max_entries: int = 10_000, max_bytes: int = 64 << 20,
                 ttl: float = 5.0, bcast: bool = False, reconnect_delay: float = 0.1,
                 protocol: int = 2) -> None:
        if protocol not in (2, 3):
            raise ValueError("protocol is 2 (RESP2 redirect to a listener) or 3 (RESP3 pushes)")
        _check_push_support(protocol)
        super().__init__(cache, max_entries, max_bytes, ttl, bcast, reconnect_delay)
        self.protocol = protocol
        self._reader_lock = threading.Lock()   # one read at a time on the tracked connection
        self._listener: Any = None
        self._reader: Any = None
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if protocol == 3:
            with self._reader_lock:
                self._reader = self._new_reader(None)
            self._connected.set()
            return
        self._connect()
        self._thread = threading.Thread(target=self._listen, daemon=True, name="ringcache-near-cache")
        self._thread.start()

    # -- connections -------------------------------------------------------------------
    def _new_connection(self, protocol: int = 2) -> Any:
        conn = self.cache.client.connection_pool.connection_class(**self._connection_kwargs(protocol))
        conn.connect()
        return conn

    def _connect(self) -> None:
        listener = self._new_connection()
        listener.send_command("CLIENT", "ID")
        listener_id = int(listener.read_response())
        listener.send_command("SUBSCRIBE", CHANNEL)
        listener.read_response()  # [subscribe, channel, 1]
        reader = self._new_reader(listener_id)
        with self._reader_lock:
            self._listener, self._reader, self._listener_id = listener, reader, listener_id
        self._connected.set()

    def _new_reader(self, listener_id: int | None) -> Any:
        """The tracked connection: redirected to the listener (RESP2), or receiving
        its own invalidations as pushes (RESP3, listener_id None)."""
        if listener_id is None:
            reader = self._new_connection(3)
            reader._parser.set_invalidation_push_handler(self._on_push)
        else:
            reader = self._new_connection(2)
        reader.send_command(*self._tracking_args(listener_id))
        reader.read_response()
        return reader

    def _drain(self) -> None:
        """RESP3: apply the invalidations waiting in the tracked connection's socket
        before serving from L1 (never blocks). A closed connection flushes the L1."""
        with self._reader_lock:
            reader = self._reader
            if reader is None:
                return
            try:
                while reader.can_read(timeout=0):
                    reader.read_response(push_request=True)
            except (redis.RedisError, OSError):
                self._lost_reader(reader)

    def _disconnect(self) -> None:
        self._connected.clear()
        with self._reader_lock:
            for conn in (self._listener, self._reader):
                if conn is not None:
                    try:
                        conn.disconnect()
                    except Exception:  # pragma: no cover - closing a dead socket
                        pass
            self._listener = self._reader = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def _lost_reader(self, reader: Any) -> None:
        """The tracked connection is gone (called under _reader_lock). The server
        forgets a closed connection's tracked keys: no more invalidations will come
        for what L1 holds. Flush; the next read opens a new tracked connection."""
        log.warning("near cache: tracked connection lost; flushing L1")
        try:
            reader.disconnect()
        except Exception:  # pragma: no cover - closing a dead socket
            pass
        self._reader = None
        self.flush()

    def _listen(self) -> None:
        while not self._stop.is_set():
            listener = self._listener
            try:
                if listener is None:
                    raise redis.ConnectionError("not connected")
                if not listener.can_read(timeout=0.05):
                    continue
                message = listener.read_response()
            except (redis.RedisError, OSError):
                if self._stop.is_set():
                    return
                # Invalidations may have been lost: nothing in L1 can be trusted.
                log.warning("near cache: invalidation connection lost; flushing L1 and reconnecting")
                self._disconnect()
                self.flush()
                while not self._stop.wait(self.reconnect_delay):
                    try:
                        self._connect()
                        with self._lock:
                            self._stats["reconnects"] += 1
                        break
                    except (redis.RedisError, OSError):
                        continue
                continue
            self._on_message(message)

    def _tracked_read(self, full: str) -> tuple[Entry | None, int] | None:
        """(entry, size) read through the tracked connection; None if not connected."""
        with self._reader_lock:
            if not self._connected.is_set() or (self.protocol == 2 and self._listener is None):
                return None  # the listener thread is reconnecting: bypass L1
            if self._reader is None:
                try:
                    self._reader = self._new_reader(self._listener_id if self.protocol == 2 else None)
                except (redis.RedisError, OSError):
                    return None
            reader = self._reader
            try:
                if getattr(reader, "_sock", True) is None:
                    # redis-py would silently reconnect a closed connection, and
                    # the new one would not be tracked: treat it as lost instead.
                    raise redis.ConnectionError("tracked connection closed")
                reader.send_command("GET", full)
                data = reader.read_response()
            except (MovedError, AskError):
                self._moved(full)
                return None
            except (redis.RedisError, OSError):
                self._lost_reader(reader)
                return None
        if data is None:
            return None, 0
        return self.cache.unpack(full, data), len(data)

    def get(self, key: str | bytes, default: Any = MISS) -> Any:
        full = self.cache.full_key(key)
        now = self.cache.clock()
        if self.protocol == 3:
            self._drain()
        entry = self._l1_get(full, now)
        if entry is not None:
            self._count("l1_hits")
            return entry.value
        seq = self._count("l1_misses")
        result = self._tracked_read(full)
        if result is None:  # disconnected: bypass L1
            return self.cache.get(key, default)
        return self._keep(full, result, seq, now, default)

    def get_or_set(self, key: str | bytes, loader: Callable[[], Any], ttl: float | None | Any = DEFAULT,
                   *, stampede: StampedeMode | Any = DEFAULT) -> Any:
        value = self.get(key)
        if value is not MISS:
            return value
        # Loaded values reach L1 on the next read, through the tracked connection.
        return self.cache.get_or_set(key, loader, ttl, stampede=stampede)

    def set(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        self._forget((key,))
        self.cache.set(key, value, ttl)

    def delete(self, *keys: str | bytes) -> int:
        self._forget(keys)
        return int(self.cache.delete(*keys))

    # -- lifecycle ---------------------------------------------------------------------
    # RESP3: what the L1 holds is only known once the pending pushes are applied
    def __contains__(self, key: str | bytes) -> bool:
        if self.protocol == 3:
            self._drain()
        return super().__contains__(key)

    def __len__(self) -> int:
        if self.protocol == 3:
            self._drain()
        return super().__len__()

    def stats(self) -> dict[str, float]:
        if self.protocol == 3:
            self._drain()
        return super().stats()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._disconnect()
        self.flush()

    def __enter__(self) -> "NearCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll predicate until true or timeout (helper for examples and tests)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)
    return True


class AsyncNearCache(_L1Base):
    """The asyncio near cache: the same methods as :class:`NearCache`, awaited.

    ``async with AsyncNearCache(acache) as near`` (or ``await near.start()``)
    opens the two connections and starts the listener task, owned by the near
    cache and stopped by :meth:`aclose`. Before start() and while reconnecting,
    reads bypass the L1. With ``protocol=3`` there is one RESP3 connection and no
    task: ``get`` drains the pending invalidation pushes first, and :meth:`poll`
    does only that (``in``/``len``/``stats`` cannot await: poll before them).
    """

    def __new__(cls, cache: AsyncCache, **options: Any) -> Any:
        if cls is AsyncNearCache and is_cluster(getattr(cache, "client", None)):
            from .near_cluster import AsyncClusterNearCache
            return AsyncClusterNearCache(cache, **options)
        return super().__new__(cls)

    def __init__(self, cache: AsyncCache, *, max_entries: int = 10_000, max_bytes: int = 64 << 20,
                 ttl: float = 5.0, bcast: bool = False, reconnect_delay: float = 0.1,
                 protocol: int = 2) -> None:
        if protocol not in (2, 3):
            raise ValueError("protocol is 2 (RESP2 redirect to a listener) or 3 (RESP3 pushes)")
        _check_push_support(protocol)
        super().__init__(cache, max_entries, max_bytes, ttl, bcast, reconnect_delay)
        self.protocol = protocol
        self.cache: AsyncCache = cache
        self._listener: Any = None
        self._reader: Any = None
        self._reader_lock: asyncio.Lock | None = None
        self._connected = False
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._connected

    async def start(self) -> None:
        if self._task is not None or self._reader_lock is not None:
            return
        self._reader_lock = asyncio.Lock()
        if self.protocol == 3:
            self._reader = await self._new_reader(None)
            self._connected = True
            return
        await self._connect()
        self._task = asyncio.get_running_loop().create_task(self._listen(), name="ringcache-near-cache")

    async def _new_connection(self, protocol: int = 2) -> Any:
        conn = self.cache.client.connection_pool.connection_class(**self._connection_kwargs(protocol))
        await conn.connect()  # type: ignore[no-untyped-call,unused-ignore]
        return conn

    async def _new_reader(self, listener_id: int | None) -> Any:
        if listener_id is None:  # RESP3: the invalidations come to this connection as pushes
            reader = await self._new_connection(3)
            reader._parser.set_invalidation_push_handler(self._apush)
        else:
            reader = await self._new_connection(2)
        await reader.send_command(*self._tracking_args(listener_id))
        await reader.read_response()
        return reader

    async def _apush(self, push: Any) -> Any:
        return self._on_push(push)  # redis.asyncio awaits its push handlers

    async def poll(self) -> None:
        """RESP3: apply the invalidation pushes the connection has received (asyncio
        reads them into its buffer as they come; parsing them needs this call).
        A closed connection flushes the L1. RESP2: nothing to do (the task listens)."""
        if self.protocol != 3 or self._reader_lock is None:
            return
        async with self._reader_lock:
            reader = self._reader
            if reader is None:
                return
            # redis-py 8 has can_read(); 6.x and 7.x only can_read_destructive(),
            # which moves what the socket holds into the (hiredis) parser's buffer:
            # harmless here, the loop parses it next.
            can_read = getattr(reader, "can_read", None) or reader.can_read_destructive
            try:
                while await can_read():
                    await reader.read_response(push_request=True)
            except (redis.RedisError, OSError):
                await self._lost_reader(reader)

    async def _lost_reader(self, reader: Any) -> None:
        """See NearCache._lost_reader (called under the reader lock)."""
        log.warning("near cache: tracked connection lost; flushing L1")
        try:
            await reader.disconnect()
        except Exception:  # pragma: no cover - closing a dead socket
            pass
        self._reader = None
        self.flush()

    async def _connect(self) -> None:
        listener = await self._new_connection()
        await listener.send_command("CLIENT", "ID")
        listener_id = int(await listener.read_response())
        await listener.send_command("SUBSCRIBE", CHANNEL)
        await listener.read_response()
        reader = await self._new_reader(listener_id)
        self._listener, self._reader, self._listener_id = listener, reader, listener_id
        self._connected = True

    async def _disconnect(self) -> None:
        self._connected = False
        for conn in (self._listener, self._reader):
            if conn is not None:
                try:
                    await conn.disconnect()
                except Exception:  # pragma: no cover - closing a dead socket
                    pass
        self._listener = self._reader = None

    async def _listen(self) -> None:
        while not self._closing:
            try:
                message = await self._listener.read_response()
            except (redis.RedisError, OSError, AttributeError):
                if self._closing:
                    return
                log.warning("near cache: invalidation connection lost; flushing L1 and reconnecting")
                await self._disconnect()
                self.flush()
                while not self._closing:
                    await asyncio.sleep(self.reconnect_delay)
                    try:
                        await self._connect()
                        self._count("reconnects")
                        break
                    except (redis.RedisError, OSError):
                        continue
                continue
            self._on_message(message)

    async def _tracked_read(self, full: str) -> tuple[Entry | None, int] | None:
        if self._reader_lock is None:
            return None
        async with self._reader_lock:
            if not self._connected:
                return None
            if self._reader is None:
                try:
                    self._reader = await self._new_reader(self._listener_id if self.protocol == 2 else None)
                except (redis.RedisError, OSError):
                    return None
            reader = self._reader
            try:
                if not reader.is_connected:
                    raise redis.ConnectionError("tracked connection closed")  # see NearCache
                await reader.send_command("GET", full)
                data = await reader.read_response()
            except (MovedError, AskError):
                self._moved(full)
                return None
            except (redis.RedisError, OSError):
                await self._lost_reader(reader)
                return None
        if data is None:
            return None, 0
        return self.cache.unpack(full, data), len(data)

    async def get(self, key: str | bytes, default: Any = MISS) -> Any:
        full = self.cache.full_key(key)
        now = self.cache.clock()
        if self.protocol == 3:
            await self.poll()
        entry = self._l1_get(full, now)
        if entry is not None:
            self._count("l1_hits")
            return entry.value
        seq = self._count("l1_misses")
        result = await self._tracked_read(full)
        if result is None:  # disconnected: bypass L1
            return await self.cache.get(key, default)
        return self._keep(full, result, seq, now, default)

    async def get_or_set(self, key: str | bytes, loader: Callable[[], Any], ttl: float | None | Any = DEFAULT,
                         *, stampede: StampedeMode | Any = DEFAULT) -> Any:
        value = await self.get(key)
        if value is not MISS:
            return value
        return await self.cache.get_or_set(key, loader, ttl, stampede=stampede)

    async def set(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        self._forget((key,))
        await self.cache.set(key, value, ttl)

    async def delete(self, *keys: str | bytes) -> int:
        self._forget(keys)
        return await self.cache.delete(*keys)

    async def aclose(self) -> None:
        """Stop the listener task (by closing its connection, not by cancelling it
        mid-read) and empty the L1; the underlying cache is not closed."""
        self._closing = True
        task, self._task = self._task, None
        await self._disconnect()
        if task is not None:
            done, _ = await asyncio.wait([task], timeout=2.0)
            if not done:
                task.cancel()
                await asyncio.wait([task])
        self.flush()

    close = aclose

    async def __aenter__(self) -> "AsyncNearCache":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
