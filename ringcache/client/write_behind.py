"""Write-behind: writes land in the cache at once and reach the database later, in batches.

Theory of operation. The pending writes live in the cache server, not in this
process, under keys that share one hash tag per writer (``{rcwb:<ns><name>:<writer_id>}``,
so a cluster keeps them in one slot and MULTI works):

* ``…:data``       hash  key -> record of the newest unflushed write of that key
                   (``S``/``D`` | 16-byte version | cache envelope for a set);
* ``…:queue``      list  keys waiting to be flushed, each at most once;
* ``…:processing`` list  keys claimed by the flusher, not yet acknowledged;
* ``…:dead``       hash  key -> its last write, which kept failing (JSON), for a
                   person to look at; a newer write of the key supersedes it.

``write(key, value)`` runs one MULTI: ``SET`` the cache entry, ``HSET`` the record,
``RPUSH`` the key unless it is already queued, and ``HDEL`` a dead letter of the
key (this write supersedes it). When EXEC has answered, the write
is acknowledged: it is in the server, and no crash of this process can lose it.
A second write of a queued key only replaces its record — repeated writes to one
key are coalesced into one database write, and the queue's length counts distinct
keys, so a hot key cannot fill it.

The flusher (a thread owned by :class:`WriteBehind`, a task owned by
:class:`AsyncWriteBehind`) claims up to ``max_batch`` keys when that many are
queued or when the oldest has waited ``max_delay``: one MULTI of ``LMOVE queue
processing`` per key plus ``HMGET data``. It calls ``writer(items)`` with the
batch's sets as ``[(key, value), ...]`` and ``deleter(keys)`` with its deletes.
On success it acknowledges in one MULTI: ``LREM processing`` each key, and
``HDEL data`` each key whose record is still the one flushed (a write that came
after the claim re-queued the key and keeps its newer record).

Only one process may use a given ``writer_id`` at a time: the queue has a single
owner, which is why no compare-and-set (WATCH or Lua) is needed — this process
knows which keys are queued and which version of each record it flushed. That
mirror is rebuilt from the server on start and after any error
(:meth:`WriteBehind.recover`): keys left in ``processing`` by a crashed
incarnation go back to the head of the queue and are delivered again, so the
database sees every acknowledged write *at least once*; the writer must be
idempotent (an upsert), which a batch of "latest value per key" naturally is.

Failures. A failing batch is retried ``max_attempts`` times with exponential
backoff; then each of its writes is tried alone once, so one bad row does not
hold back the others, and the ones that still fail move to the dead letters
(atomically with their acknowledgement). ``max_pending`` bounds the queue: a
writer that would exceed it waits for the flusher (backpressure), up to
``put_timeout`` seconds, then gets :class:`WriteBehindFull`. ``close()`` (and
leaving the ``with`` block, and interpreter exit) flushes everything;
:meth:`WriteBehind.flush_on_signal` flushes on a signal. Once closing, the
backoff no longer waits (a process that is stopping should stop): during a
database outage the writes then end as dead letters, still in the server.

Each flow (enqueue, claim, deliver with retries, acknowledge, recover) is written
once, as a sans-I/O step in the shared base (see ``_steps``); the sync class
drives the steps under a ``threading.Condition``, the asyncio class awaits them
under an ``asyncio.Condition``.

What remains: the pending writes are only as durable as the cache node. If the
node dies before a write is flushed, the write is lost unless the node persists
it (append-only file: up to ~1 s with ``appendfsync everysec``) or a replica has
it (asynchronous replication: the replication lag). The cache entry itself is
subject to the node's eviction; :meth:`WriteBehind.get` falls back to the pending
record so this process reads its own writes even then.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import json
import os
import secrets
import signal
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Final, Iterator, Sequence, TypeVar

import redis

from . import _core, cluster
from ._base import log
from ._core import DEFAULT, MISS
from ._steps import UNHANDLED, Call, Pipeline, Steps, aperform, arun, perform, run
from .aio import AsyncCache
from .cache import Cache

T = TypeVar("T")

SET, DELETE = b"S", b"D"
_VERSION_LEN = 16

Writer = Callable[[list[tuple[str, Any]]], Any]
Deleter = Callable[[list[str]], Any]


class WriteBehindFull(RuntimeError):
    """The write-behind queue stayed full for ``put_timeout`` seconds."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A write the database kept refusing."""
    key: str
    op: str            # "set" or "delete"
    value: Any         # None for a delete
    error: str
    attempts: int
    failed_at: float   # by the write-behind's clock


@dataclass(frozen=True, slots=True)
class _Claimed:
    key: str
    record: bytes | None  # None: the key was queued but its record is gone (nothing to do)

    @property
    def version(self) -> bytes:
        return b"" if self.record is None else self.record[1:1 + _VERSION_LEN]


@dataclass(frozen=True, slots=True)
class _Wait:
    """Step request: wait, releasing the mirror lock, until predicate() holds or
    timeout seconds pass; the reply says whether it holds."""
    predicate: Callable[[], bool]
    timeout: float


@dataclass(frozen=True, slots=True)
class _Sleep:
    """Step request: back off (the write-behind's own sleep, which tests replace)."""
    seconds: float


_NOTIFY: Final = "notify"  # step request: wake the writers waiting for room


class _WriteBehindBase:
    """State, decisions and the flows (as sans-I/O steps, see ``_steps``) shared by
    the sync and the asyncio write-behind, which only drive them."""

    def __init__(self, cache: Any, writer: Any, deleter: Any, *, name: str, writer_id: str,
                 max_batch: int, max_delay: float, max_pending: int, put_timeout: float,
                 max_attempts: int, backoff: tuple[float, float], ttl: Any,
                 clock: Callable[[], float] | None) -> None:
        if max_batch < 1 or max_pending < 1 or max_attempts < 1:
            raise ValueError("max_batch, max_pending and max_attempts must be at least 1")
        if max_delay < 0 or put_timeout < 0:
            raise ValueError("max_delay and put_timeout must be >= 0")
        self.cache = cache
        self.client: Any = cache.client
        self.writer = writer
        self.deleter = deleter
        self.name = name
        self.writer_id = writer_id
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.max_pending = max_pending
        self.put_timeout = put_timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.ttl = ttl
        self.clock = clock or cache.clock
        tag = "{rcwb:" + cache.namespace + name + ":" + writer_id + "}"
        self.data_key = tag + ":data"
        self.queue_key = tag + ":queue"
        self.processing_key = tag + ":processing"
        self.dead_key = tag + ":dead"
        # The mirror of the server state this process owns (rebuilt by recover()):
        self._queued: OrderedDict[str, float] = OrderedDict()  # key -> when it was queued
        self._latest: dict[str, bytes] = {}                     # key -> version of its record
        self._ready = False          # False: the mirror must be rebuilt before use
        self._incarnation = secrets.token_hex(4).encode()
        self._counter = 0
        self._closed = False
        cache.metrics.add_gauge("wb_queue_depth", self._depth)

    def _wake_flusher(self) -> None:
        raise NotImplementedError

    # -- records ------------------------------------------------------------------
    def _next_version(self) -> bytes:
        # Unique across incarnations: a restarted writer must not reuse a version
        # still sitting in the data hash, or its acknowledgement would drop a newer write.
        self._counter += 1
        return self._incarnation + b"%08x" % (self._counter & 0xFFFFFFFF)

    def _prepare(self, key: str | bytes, value: Any, ttl: Any) -> tuple[str, Callable[[Any], Any], bytes]:
        """(key name, the cache SET to queue on a pipeline, record); serialises first,
        so a value that cannot be stored raises before anything is written."""
        name = _core.to_key(key)
        full = self.cache.full_key(key)
        ttl = self.ttl if ttl is DEFAULT else ttl
        blob, px = self.cache.pack(full, value, self.cache.resolve_ttl(ttl, value), 0.0)
        return name, lambda pipe: pipe.set(full, blob, px=px), SET + self._next_version() + blob

    def _prepare_delete(self, key: str | bytes) -> tuple[str, Callable[[Any], Any], bytes]:
        if self.deleter is None:
            raise TypeError(f"this {type(self).__name__} has no deleter")
        full = self.cache.full_key(key)
        return _core.to_key(key), lambda pipe: pipe.delete(full), DELETE + self._next_version()

    def _decode(self, key: str, record: bytes) -> Any:
        entry = _core.decode(record[1 + _VERSION_LEN:], self.cache.serializer)
        if entry is None:
            raise ValueError(f"write-behind record of {key!r} is not a cache envelope")
        return entry.value

    def _split(self, batch: Sequence[_Claimed]) -> tuple[list[tuple[str, Any]], list[str]]:
        sets: list[tuple[str, Any]] = []
        deletes: list[str] = []
        for item in batch:
            assert item.record is not None
            if item.record[:1] == DELETE:
                deletes.append(item.key)
            else:
                sets.append((item.key, self._decode(item.key, item.record)))
        return sets, deletes

    def _dead_letter(self, item: _Claimed, error: BaseException, attempts: int) -> bytes:
        assert item.record is not None
        return json.dumps({"key": item.key, "record": base64.b64encode(item.record).decode(),
                           "error": f"{type(error).__name__}: {error}", "attempts": attempts,
                           "failed_at": self.clock()}).encode()

    def _parse_dead(self, raw: bytes) -> tuple[DeadLetter, bytes]:
        doc = json.loads(raw)
        record = base64.b64decode(doc["record"])
        is_delete = record[:1] == DELETE
        value = None if is_delete else self._decode(doc["key"], record)
        return DeadLetter(doc["key"], "delete" if is_delete else "set", value, doc["error"],
                          int(doc["attempts"]), float(doc["failed_at"])), record

    # -- decisions --------------------------------------------------------------------
    def _depth(self) -> float:
        return len(self._latest)

    @property
    def pending(self) -> frozenset[str]:
        """The keys (as written, without the namespace) whose write has not fully
        landed: not yet acknowledged by the database. The same meaning as
        ``WriteThrough.pending`` (there: a stale cache entry not yet deleted);
        ``len(pending)`` is the queue depth."""
        return frozenset(self._latest)

    def _full_for(self, name: str) -> bool:
        return name not in self._latest and len(self._latest) >= self.max_pending

    def _due(self, now: float) -> bool:
        if not self._queued:
            return False
        if len(self._queued) >= self.max_batch:
            return True
        oldest = next(iter(self._queued.values()))
        return now - oldest >= self.max_delay

    def _wait_hint(self, now: float) -> float:
        """Seconds (by the clock) until the oldest queued key is due; a cap if none."""
        if not self._queued:
            return max(self.max_delay, 0.05)
        oldest = next(iter(self._queued.values()))
        return max(0.0, oldest + self.max_delay - now)

    def _plan_recovery(self, queue: list[bytes], processing: list[bytes],
                       data: dict[bytes, bytes]) -> list[str]:
        """Rebuild the mirror from the server's lists; returns the queue as it must
        be rewritten: unacknowledged claims first (they are older), then the queue,
        then any record whose key is in neither list (repaired), each key once."""
        order: OrderedDict[str, None] = OrderedDict()
        for raw in (*processing, *queue, *data.keys()):
            order.setdefault(raw.decode("utf-8", "surrogateescape"), None)
        now = self.clock()
        self._latest = {k.decode("utf-8", "surrogateescape"): v[1:1 + _VERSION_LEN] for k, v in data.items()}
        keys = [k for k in order if k in self._latest]
        self._queued = OrderedDict((k, now) for k in keys)
        return keys

    def _backoff_delays(self) -> Iterator[float]:
        delay, cap = self.backoff
        while True:
            yield delay
            delay = min(delay * 2, cap)

    # -- the flows, as steps ------------------------------------------------------------
    # Steps marked "locked" run holding the mirror lock (the driver takes it); the
    # delivery runs without it, since the database may be slow.
    def _io(self, request: Any) -> Steps[Any]:
        """Perform a server request. After an error it is unknown whether EXEC ran,
        so the mirror is rebuilt from the server before its next use. A MULTI
        touches only this writer's keys (one hash tag): on a cluster it runs on
        the node owning their slot (see ``cluster``)."""
        if isinstance(request, Pipeline) and request.route is None:
            request.route = self.data_key
        try:
            return (yield request)
        except redis.RedisError:
            self._ready = False
            raise

    def _ready_steps(self) -> Steps[None]:  # locked
        if not self._ready:
            yield from self._recover_steps()

    def _recover_steps(self) -> Steps[None]:  # locked
        def read(pipe: Any) -> None:
            pipe.lrange(self.queue_key, 0, -1)
            pipe.lrange(self.processing_key, 0, -1)
            pipe.hgetall(self.data_key)

        queue, processing, data = yield from self._io(Pipeline(read))
        keys = self._plan_recovery(queue, processing, data)
        if processing or len(keys) != len(queue):
            def rewrite(pipe: Any) -> None:
                pipe.delete(self.queue_key, self.processing_key)
                if keys:
                    pipe.rpush(self.queue_key, *keys)

            yield from self._io(Pipeline(rewrite))
            log.info("write-behind %r: recovered %d claimed and %d queued keys",
                     self.queue_key, len(processing), len(keys))
        self._ready = True
        yield _NOTIFY

    def _enqueue_steps(self, name: str, cache_op: Callable[[Any], Any], record: bytes) -> Steps[None]:  # locked
        if self._closed:
            raise RuntimeError(f"this {type(self).__name__} is closed")
        yield from self._ready_steps()
        if self._full_for(name):
            self.cache.metrics.incr("wb_backpressure_waits")
            self._wake_flusher()
            if not (yield _Wait(lambda: not self._full_for(name), self.put_timeout)):
                raise WriteBehindFull(f"write-behind queue {self.queue_key!r} held {self.max_pending} "
                                      f"keys for {self.put_timeout}s: the database is not keeping up")
            yield from self._ready_steps()
        queued = name in self._queued
        # On a cluster the cache entry lives in another slot than the writer's
        # structures, so it cannot join their MULTI: it is written right after the
        # record is acknowledged (until then get() reads the record, see below).
        apart = cluster.is_cluster(self.client)

        def write(pipe: Any) -> None:  # one MULTI: the cache entry, the record, the queue
            if not apart:
                cache_op(pipe)
            pipe.hset(self.data_key, name, record)
            if not queued:
                pipe.rpush(self.queue_key, name)
            # A dead letter is the key's last write; this one supersedes it (replaying
            # it later would put an older value over this one).
            pipe.hdel(self.dead_key, name)

        yield from self._io(Pipeline(write))
        if apart:
            try:
                yield Pipeline(cache_op, transaction=False)
            except redis.RedisError as exc:  # acknowledged all the same: the record holds it
                log.warning("write-behind: cache entry of %r not written (%s); reads use the "
                            "pending record", name, exc)
        self._latest[name] = record[1:1 + _VERSION_LEN]
        if not queued:
            self._queued[name] = self.clock()
        self.cache.metrics.incr("wb_writes")
        if len(self._queued) >= self.max_batch:
            self._wake_flusher()

    def _get_steps(self, key: str | bytes, default: Any) -> Steps[Any]:
        value = yield Call(self.cache.get, key)
        if value is not MISS:
            return value
        name = _core.to_key(key)
        record = yield Call(self.client.hget, self.data_key, name)
        if record is None or bytes(record)[:1] == DELETE:
            return default
        return self._decode(name, bytes(record))

    def _has_work_steps(self, everything: bool) -> Steps[bool]:  # locked
        yield from self._ready_steps()
        return bool(self._queued) if everything else self._due(self.clock())

    def _claim_steps(self) -> Steps[list[_Claimed]]:  # locked
        yield from self._ready_steps()
        keys = list(self._queued)[:self.max_batch]
        if not keys:
            return []

        def claim(pipe: Any) -> None:
            for _ in keys:
                pipe.lmove(self.queue_key, self.processing_key, "LEFT", "RIGHT")
            pipe.hmget(self.data_key, keys)

        result = yield from self._io(Pipeline(claim))
        moved = [m.decode("utf-8", "surrogateescape") if isinstance(m, bytes) else m for m in result[:-1]]
        for key in keys:
            del self._queued[key]
        if moved != keys:  # someone else touched our queue: trust the server, not the mirror
            log.warning("write-behind %r: the queue differs from this process's view; recovering",
                        self.queue_key)
            self._ready = False
        return [_Claimed(k, None if r is None else bytes(r)) for k, r in zip(keys, result[-1])]

    def _deliver_steps(self, batch: list[_Claimed]) -> Steps[list[tuple[_Claimed, bytes]]]:  # not locked
        """Write a batch to the database with retries; returns its dead letters."""
        work = [item for item in batch if item.record is not None]
        if not work:
            return []
        delays = self._backoff_delays()
        last: BaseException = RuntimeError("no attempt")
        for attempt in range(1, self.max_attempts + 1):
            try:
                yield from self._write_db_steps(work)
                return []
            except Exception as exc:
                last = exc
                self.cache.metrics.incr("wb_failures")
                log.warning("write-behind: batch of %d failed (attempt %d/%d): %s", len(work), attempt,
                            self.max_attempts, exc)
                if attempt < self.max_attempts:
                    self.cache.metrics.incr("wb_retries")
                    yield _Sleep(next(delays))
        if len(work) == 1:
            return [(work[0], self._dead_letter(work[0], last, self.max_attempts))]
        # Isolate: each write alone, once; only those that still fail are dead letters.
        dead = []
        for item in work:
            try:
                yield from self._write_db_steps([item])
            except Exception as exc:
                self.cache.metrics.incr("wb_failures")
                dead.append((item, self._dead_letter(item, exc, self.max_attempts + 1)))
        return dead

    def _write_db_steps(self, items: list[_Claimed]) -> Steps[None]:
        sets, deletes = self._split(items)
        if sets:
            yield Call(self.writer, sets)
        if deletes:
            yield Call(self.deleter, deletes)
        self.cache.metrics.incr("wb_flushed", len(items))

    def _ack_steps(self, batch: list[_Claimed], dead: list[tuple[_Claimed, bytes]]) -> Steps[None]:  # locked
        def ack(pipe: Any) -> None:
            for item in batch:
                pipe.lrem(self.processing_key, 1, item.key)
            for item, letter in dead:
                pipe.hset(self.dead_key, item.key, letter)
            if drop:
                pipe.hdel(self.data_key, *drop)

        # HDEL only the records still the ones flushed: a write that came after the
        # claim re-queued its key and keeps its newer record (and a failure of the
        # older one is no dead letter: the newer write will be tried).
        current = {item.key for item in batch
                   if item.record is not None and self._latest.get(item.key) == item.version}
        drop = sorted(current)
        dead = [(item, letter) for item, letter in dead if item.key in current]
        # Delivered but not acknowledged if this fails: redelivered after recovery.
        yield from self._io(Pipeline(ack))
        for key in drop:
            del self._latest[key]
        self.cache.metrics.incr("wb_batches")
        if dead:
            self.cache.metrics.incr("wb_dead_letters", len(dead))
            log.error("write-behind: %d writes moved to the dead letters %r", len(dead), self.dead_key)
        yield _NOTIFY

    def _dead_letters_steps(self) -> Steps[list[DeadLetter]]:
        raws = yield Call(self.client.hvals, self.dead_key)
        return sorted((self._parse_dead(bytes(raw))[0] for raw in raws), key=lambda d: (d.failed_at, d.key))

    def _requeue_dead_steps(self) -> Steps[int]:  # locked
        yield from self._ready_steps()
        raws = yield Call(self.client.hvals, self.dead_key)
        requeue: dict[str, bytes] = {}
        for raw in raws:
            letter, record = self._parse_dead(bytes(raw))
            if letter.key not in self._latest:  # (a write since has removed its dead letter)
                requeue[letter.key] = record[:1] + self._next_version() + record[1 + _VERSION_LEN:]

        def move(pipe: Any) -> None:
            for key, record in requeue.items():
                pipe.hset(self.data_key, key, record)
                if key not in self._queued:
                    pipe.rpush(self.queue_key, key)
                pipe.hdel(self.dead_key, key)

        yield from self._io(Pipeline(move))
        for key, record in requeue.items():
            self._latest[key] = record[1:1 + _VERSION_LEN]
            self._queued.setdefault(key, self.clock())
        return len(requeue)


class WriteBehind(_WriteBehindBase):
    """``WriteBehind(cache, writer, deleter=None, ...)``; ``write(key, value)``.

    ``writer(items)`` receives ``[(key, value), ...]`` (one entry per key, the
    newest value) and ``deleter(keys)`` a list of keys; both are called from the
    flusher thread and must be idempotent. Options: ``name`` and ``writer_id``
    (which server-side queue: stable across restarts, unique among live
    processes), ``max_batch``, ``max_delay`` (seconds), ``max_pending`` (distinct
    keys), ``put_timeout``, ``max_attempts``, ``backoff`` (first, max seconds),
    ``ttl`` of the cache entries, ``clock`` and ``sleep`` (tests inject both),
    ``start=False`` to run no thread (call :meth:`tick` or :meth:`flush`).
    """

    def __init__(self, cache: Cache, writer: Writer, deleter: Deleter | None = None, *,
                 name: str = "default", writer_id: str = "0", max_batch: int = 100,
                 max_delay: float = 1.0, max_pending: int = 10_000, put_timeout: float = 5.0,
                 max_attempts: int = 5, backoff: tuple[float, float] = (0.05, 5.0),
                 ttl: float | None | Any = DEFAULT, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None, start: bool = True) -> None:
        super().__init__(cache, writer, deleter, name=name, writer_id=writer_id,
                         max_batch=max_batch, max_delay=max_delay, max_pending=max_pending,
                         put_timeout=put_timeout, max_attempts=max_attempts, backoff=backoff,
                         ttl=ttl, clock=clock)
        self._cond = threading.Condition()       # guards the mirror; never held across a database call
        self._flush_lock = threading.Lock()      # one delivery at a time
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._flush_all = threading.Event()      # set by a signal: flush everything
        self._kill_after: int | None = None
        self._sleep = sleep or self._stop.wait
        self._thread: threading.Thread | None = None
        self.recover()
        atexit.register(self.close)
        if start:
            self._thread = threading.Thread(target=self._run, daemon=True, name="ringcache-write-behind")
            self._thread.start()

    # -- driving the steps ------------------------------------------------------------
    def _perform(self, request: Any) -> Any:
        return perform(self.client, request, self._perform_own)

    def _perform_own(self, request: Any) -> Any:
        if isinstance(request, _Wait):
            return self._cond.wait_for(request.predicate, request.timeout)
        if isinstance(request, _Sleep):
            self._sleep(request.seconds)
            return None
        if request is _NOTIFY:
            self._cond.notify_all()
            return None
        return UNHANDLED

    def _locked(self, steps: Steps[T]) -> T:
        with self._cond:
            return run(steps, self._perform)

    def _wake_flusher(self) -> None:
        self._wake.set()

    # -- the API ------------------------------------------------------------------------
    def write(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        """Store value in the cache now and queue it for the database. Returns once
        the server holds both (the write is then safe from a crash of this process)."""
        self._locked(self._enqueue_steps(*self._prepare(key, value, ttl)))

    def delete(self, key: str | bytes) -> None:
        """Delete from the cache now and queue the delete for the database."""
        self._locked(self._enqueue_steps(*self._prepare_delete(key)))

    def get(self, key: str | bytes, default: Any = MISS) -> Any:
        """The cached value; if the cache lost it (eviction), this writer's pending one."""
        return run(self._get_steps(key, default), self._perform)

    def recover(self) -> None:
        """Rebuild the mirror from the server: re-queue unacknowledged claims (a
        crashed incarnation's, or ours after an error) ahead of the queue."""
        self._locked(self._recover_steps())

    def tick(self) -> int:
        """Flush the batches that are due now (batch full or oldest past max_delay);
        returns how many keys reached the database or the dead-letter list."""
        return self._flush_while(everything=False)

    def flush(self) -> int:
        """Flush everything queued now, however young; returns the keys handled."""
        return self._flush_while(everything=True)

    def _flush_while(self, everything: bool) -> int:
        done = 0
        while self._locked(self._has_work_steps(everything)):
            with self._flush_lock:
                batch = self._locked(self._claim_steps())
                if not batch:
                    break
                dead = run(self._deliver_steps(batch), self._perform)  # without the lock
                self._locked(self._ack_steps(batch, dead))
            done += len(batch)
        return done

    def dead_letters(self) -> list[DeadLetter]:
        return run(self._dead_letters_steps(), self._perform)

    def requeue_dead(self) -> int:
        """Queue the dead letters again (after fixing the cause); returns how many.
        Each is its key's last write: a write since would have superseded it."""
        return self._locked(self._requeue_dead_steps())

    def clear_dead(self) -> int:
        return int(self.client.delete(self.dead_key))

    # -- background thread, signals, close ----------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                hint = self._wait_hint(self.clock())
            self._wake.wait(min(max(hint, 0.001), 1.0))
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                if self._flush_all.is_set():
                    self._flush_all.clear()
                    self.flush()
                    if self._kill_after is not None:
                        os.kill(os.getpid(), self._kill_after)
                else:
                    self.tick()
            except Exception:
                log.exception("write-behind flusher: pass failed; retrying")
                self._stop.wait(self.backoff[0])

    def flush_on_signal(self, *signums: int, chain: bool = True) -> None:
        """On each of these signals (default SIGTERM) flush everything in the
        background thread. ``chain``: then behave as before — call the previous
        Python handler, or for the default action (terminate) re-raise the signal
        once the flush is done. Call from the main thread."""
        for signum in signums or (signal.SIGTERM,):
            previous = signal.getsignal(signum)

            def handler(num: int, frame: Any, previous: Any = previous) -> None:
                # A signal handler runs between two bytecodes of the main thread, which
                # may hold our lock: it only asks the flusher thread to do the work.
                self._flush_all.set()
                self._wake.set()
                if not chain:
                    return
                if callable(previous):
                    previous(num, frame)
                elif previous == signal.SIG_DFL:
                    signal.signal(num, signal.SIG_DFL)
                    if self._thread is None:
                        self.flush()
                        os.kill(os.getpid(), num)
                    else:
                        self._kill_after = num

            signal.signal(signum, handler)

    def close(self) -> None:
        """Stop the flusher and flush everything still queued (the cache is not closed)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        try:
            self.flush()
        finally:
            self.cache.metrics.remove_gauge("wb_queue_depth", self._depth)

    def __enter__(self) -> "WriteBehind":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncWriteBehind(_WriteBehindBase):
    """The asyncio mirror of :class:`WriteBehind`: the same names, awaited.

    ``async with AsyncWriteBehind(acache, writer) as wb`` (or ``await wb.start()``)
    recovers the queue and starts the flusher task; ``aclose()`` stops it and
    flushes. ``writer``/``deleter`` may be coroutine functions or plain callables
    (a plain one blocks the loop while it runs: keep it short, or use a thread).
    """

    def __init__(self, cache: AsyncCache, writer: Callable[[list[tuple[str, Any]]], Any | Awaitable[Any]],
                 deleter: Callable[[list[str]], Any | Awaitable[Any]] | None = None, *,
                 name: str = "default", writer_id: str = "0", max_batch: int = 100,
                 max_delay: float = 1.0, max_pending: int = 10_000, put_timeout: float = 5.0,
                 max_attempts: int = 5, backoff: tuple[float, float] = (0.05, 5.0),
                 ttl: float | None | Any = DEFAULT, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], Awaitable[None]] | None = None, start: bool = True) -> None:
        super().__init__(cache, writer, deleter, name=name, writer_id=writer_id,
                         max_batch=max_batch, max_delay=max_delay, max_pending=max_pending,
                         put_timeout=put_timeout, max_attempts=max_attempts, backoff=backoff,
                         ttl=ttl, clock=clock)
        self._autostart = start
        self._sleep = sleep or asyncio.sleep
        # created by start(), on the loop that will use them
        self._cond: asyncio.Condition | None = None
        self._flush_lock: asyncio.Lock | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._flush_all = False

    async def start(self) -> None:
        """Recover the server-side queue; start the flusher task (unless start=False)."""
        if self._cond is None:
            self._cond = asyncio.Condition()
            self._flush_lock = asyncio.Lock()
            self._wake = asyncio.Event()
            await self.recover()
        if self._autostart and self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ringcache-write-behind")

    # -- driving the steps ------------------------------------------------------------
    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            raise RuntimeError("AsyncWriteBehind not started: use 'async with' or await start()")
        return self._cond

    async def _perform(self, request: Any) -> Any:
        return await aperform(self.client, request, self._perform_own)

    async def _perform_own(self, request: Any) -> Any:
        if isinstance(request, _Wait):
            try:
                await asyncio.wait_for(self._condition().wait_for(request.predicate), request.timeout)
                return True
            except TimeoutError:
                return False
        if isinstance(request, _Sleep):
            if not self._closed:  # closing: retry without waiting (see the module notes)
                await self._sleep(request.seconds)
            return None
        if request is _NOTIFY:
            self._condition().notify_all()
            return None
        return UNHANDLED

    async def _locked(self, steps: Steps[T]) -> T:
        async with self._condition():
            return await arun(steps, self._perform)

    def _wake_flusher(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # -- the API ------------------------------------------------------------------------
    async def write(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        await self._locked(self._enqueue_steps(*self._prepare(key, value, ttl)))

    async def delete(self, key: str | bytes) -> None:
        await self._locked(self._enqueue_steps(*self._prepare_delete(key)))

    async def get(self, key: str | bytes, default: Any = MISS) -> Any:
        return await arun(self._get_steps(key, default), self._perform)

    async def recover(self) -> None:
        await self._locked(self._recover_steps())

    async def tick(self) -> int:
        return await self._flush_while(everything=False)

    async def flush(self) -> int:
        return await self._flush_while(everything=True)

    async def _flush_while(self, everything: bool) -> int:
        assert self._flush_lock is not None
        done = 0
        while await self._locked(self._has_work_steps(everything)):
            async with self._flush_lock:
                batch = await self._locked(self._claim_steps())
                if not batch:
                    break
                dead = await arun(self._deliver_steps(batch), self._perform)
                await self._locked(self._ack_steps(batch, dead))
            done += len(batch)
        return done

    async def dead_letters(self) -> list[DeadLetter]:
        return await arun(self._dead_letters_steps(), self._perform)

    async def requeue_dead(self) -> int:
        return await self._locked(self._requeue_dead_steps())

    async def clear_dead(self) -> int:
        return int(await self.client.delete(self.dead_key))

    # -- background task, signals, close ------------------------------------------------
    async def _run(self) -> None:
        assert self._wake is not None
        while not self._closed:
            hint = self._wait_hint(self.clock())
            try:
                await asyncio.wait_for(self._wake.wait(), min(max(hint, 0.001), 1.0))
            except TimeoutError:
                pass
            self._wake.clear()
            if self._closed:
                break
            try:
                if self._flush_all:
                    self._flush_all = False
                    await self.flush()
                else:
                    await self.tick()
            except Exception:
                log.exception("write-behind flusher: pass failed; retrying")
                await asyncio.sleep(self.backoff[0])

    def flush_on_signal(self, *signums: int) -> None:
        """On each of these signals (default SIGTERM) the flusher task flushes
        everything (``loop.add_signal_handler``: Unix, replaces a previous handler)."""
        loop = asyncio.get_running_loop()

        def request() -> None:
            self._flush_all = True
            self._wake_flusher()

        for signum in signums or (signal.SIGTERM,):
            loop.add_signal_handler(signum, request)

    async def aclose(self) -> None:
        """Stop the flusher task (between passes) and flush everything still queued."""
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            self._wake_flusher()
            done, _ = await asyncio.wait([task], timeout=5.0)
            if not done:
                task.cancel()
                await asyncio.wait([task])
        try:
            if self._cond is not None:
                await self.flush()
        finally:
            self.cache.metrics.remove_gauge("wb_queue_depth", self._depth)

    close = aclose

    async def __aenter__(self) -> "AsyncWriteBehind":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
