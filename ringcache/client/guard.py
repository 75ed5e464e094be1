"""How the cache calls its server, and what a failure means (the failure policy).

Every server call of :class:`~ringcache.client.Cache` and
:class:`~ringcache.client.AsyncCache` goes through a :class:`Guard` (sync) or an
:class:`AsyncGuard`. Theory of operation, in the order a call meets them:

1. **The operation.** A public call (``get_or_set``, ``set``...) makes one
   :class:`Op`. Once one of its server calls has failed, the rest of that
   operation skips the server: a frozen server costs an operation one timeout
   (the cache's own ``timeout``), not one per command it would have sent
   (read, lock, re-read, store).
2. **The circuit breaker** (:class:`CircuitBreaker`). ``threshold`` server
   failures within ``window`` seconds open it: for ``cooldown`` seconds every
   call skips the server at once (:class:`CircuitOpenError`, which fail-open
   callers treat as a miss: straight to the loader, no lock, no store). Then one
   call is let through as a probe: its success closes the breaker, its failure
   opens it for another cool-down. Only failures of the server itself count
   (connection refused or lost, timeouts); an error reply (a ``ResponseError``)
   proves the server is alive.
3. **The pool slots** (backpressure). At most ``pool_size`` calls of this cache
   are in flight at once; the others *wait* for a slot, up to ``pool_timeout``
   seconds, and then get :class:`CacheBusyError` whatever ``fail_open`` says.
   A busy pool means this process is sending more than its connections carry,
   not that the server is down: treating it as a miss would send the overflow to
   the database, and on the lock path would load without the lock — a stampede
   made by the cache itself (issue 18: redis-py 8's default pool of 100 raised
   ``MaxConnectionsError`` under 1000 threads, which the old code took for an
   outage). The slots sit in front of redis-py's pool and never outnumber its
   connections, so the pool itself is not exhausted by this cache; a pool shared
   with other code can still be (a non-blocking pool raises
   ``MaxConnectionsError``): such a call backs off and retries until the same
   ``pool_timeout``. A caller waiting for a slot re-checks the breaker when it
   gets one, so a server that froze meanwhile is not called by every waiter.
4. **Warnings.** A failure is logged once per failure class (the exception
   type) per ``interval`` seconds, with the count of the ones not logged, and
   without a traceback (the traceback is at DEBUG): a dead server must not
   write a traceback per call.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from typing import Any, Awaitable, Callable

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("ringcache.client")

Clock = Callable[[], float]


class CacheBusyError(RuntimeError):
    """No connection to the cache server became free within ``pool_timeout``.

    Raised whatever ``fail_open`` says: the pool is busy, the server is not down,
    and loading instead would move the overload onto the database. Size the pool
    (``pool_size``) for the concurrency of the process, or lower that concurrency.
    """


class CircuitOpenError(RedisConnectionError):
    """The circuit breaker is open: the server was skipped without being called.

    Fail-open callers never see it (the cache acts as absent); with
    ``fail_open=False`` it reaches the caller like any other connection error."""


class SkippedError(RedisConnectionError):
    """An earlier server call of the same operation failed: this one is skipped."""


_EXHAUSTED_TEXTS = ("Too many connections", "No connection available.")


def pool_exhausted(exc: BaseException) -> bool:
    """Whether exc says "the pool has no free connection" rather than "the server
    failed". redis-py 6+ raises MaxConnectionsError from a full non-blocking pool;
    5.x raises a plain ConnectionError with the same text; every version's
    BlockingConnectionPool raises ConnectionError("No connection available.")
    after its own wait."""
    return isinstance(exc, MaxConnectionsError) or (
        isinstance(exc, RedisConnectionError) and str(exc) in _EXHAUSTED_TEXTS)


def server_failure(exc: BaseException) -> bool:
    """A failure of the server or the network (counted by the breaker), as opposed
    to an error reply, which proves the server alive."""
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError, OSError)) \
        and not isinstance(exc, (CircuitOpenError, SkippedError))


class Op:
    """One public operation: ``failed`` once a server call of it has failed."""

    __slots__ = ("failed",)

    def __init__(self) -> None:
        self.failed = False


class CircuitBreaker:
    """Closed -> (``threshold`` failures within ``window`` s) -> open for
    ``cooldown`` s -> half-open: one probe call; success closes, failure re-opens.

    Thread-safe; the clock is injectable (monotonic seconds) so tests advance it.
    One breaker per cache by default; caches given the same breaker share it.
    """

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"

    def __init__(self, threshold: int = 5, window: float = 10.0, cooldown: float = 5.0,
                 clock: Clock = time.monotonic) -> None:
        if threshold < 1 or window <= 0 or cooldown <= 0:
            raise ValueError("threshold >= 1, window > 0 and cooldown > 0")
        self.threshold = threshold
        self.window = window
        self.cooldown = cooldown
        self.clock = clock
        self._lock = threading.Lock()
        self._state = self.CLOSED
        self._failures: list[float] = []  # times of recent failures (closed state)
        self._open_until = 0.0
        self.opened = 0  # how many times it opened

    @property
    def state(self) -> str:
        with self._lock:
            if self._state == self.OPEN and self.clock() >= self._open_until:
                return self.HALF_OPEN
            return self._state

    def blocked(self) -> bool:
        """True while calls must skip the server (no claim of the probe)."""
        state = self._state
        if state == self.CLOSED:
            return False
        if state == self.HALF_OPEN:
            return True  # a probe is in flight
        return self.clock() < self._open_until

    def allow(self) -> bool:
        """Whether this call may go to the server; after the cool-down the first
        caller gets True and becomes the probe."""
        if self._state == self.CLOSED:
            return True
        with self._lock:
            if self._state == self.OPEN and self.clock() >= self._open_until:
                self._state = self.HALF_OPEN
                return True
            return self._state == self.CLOSED

    def success(self) -> None:
        if self._state == self.CLOSED and not self._failures:
            return
        with self._lock:
            if self._state == self.HALF_OPEN:
                log.warning("ringcache.client: the cache server answers again; circuit closed")
            self._state = self.CLOSED
            self._failures.clear()

    def failure(self) -> bool:
        """Count a server failure; True when this one opened the breaker."""
        with self._lock:
            now = self.clock()
            if self._state == self.HALF_OPEN:
                self._open(now)
                return True
            if self._state == self.OPEN:
                return False
            self._failures = [t for t in self._failures if now - t < self.window]
            self._failures.append(now)
            if len(self._failures) >= self.threshold:
                self._open(now)
                return True
            return False

    def abandon(self) -> None:
        """The probe ended without an answer (cancelled, pool busy): the next
        caller probes instead."""
        with self._lock:
            if self._state == self.HALF_OPEN:
                self._state = self.OPEN
                self._open_until = self.clock()

    def _open(self, now: float) -> None:
        self._state = self.OPEN
        self._open_until = now + self.cooldown
        self._failures.clear()
        self.opened += 1


class WarningLimiter:
    """One log line per failure class per ``interval`` seconds, with the count of
    those not logged since. The traceback goes to DEBUG."""

    def __init__(self, interval: float = 60.0, clock: Clock = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warn(self, exc: BaseException, message: str, *args: Any) -> bool:
        """Log ``message % args`` with the exception's type and text unless this
        class (the exception's type) was logged within the interval. Returns
        whether it logged."""
        cls = type(exc).__name__
        return self.warn_class(cls, f"{message} ({cls}: %s)", *args, exc, exc=exc)

    def warn_class(self, cls: str, message: str, *args: Any, exc: BaseException | None = None) -> bool:
        now = self.clock()
        with self._lock:
            last = self._last.get(cls)
            if last is not None and now - last < self.interval:
                self._suppressed[cls] = self._suppressed.get(cls, 0) + 1
                log.debug(message, *args, exc_info=exc)
                return False
            self._last[cls] = now
            suppressed = self._suppressed.pop(cls, 0)
        more = f" [{suppressed} more since the last one]" if suppressed else ""
        log.warning(f"{message}{more} (this warning: at most once per %.0fs)", *args, self.interval)
        if exc is not None:
            log.debug("traceback of the failure above", exc_info=exc)
        return True


class _GuardBase:
    def __init__(self, size: int, pool_timeout: float, breaker: CircuitBreaker | None,
                 metrics: Any) -> None:
        if size < 1 or pool_timeout < 0:
            raise ValueError("pool_size must be >= 1 and pool_timeout >= 0")
        self.size = size
        self.pool_timeout = pool_timeout
        self.breaker = breaker
        self.metrics = metrics

    def _pre(self, op: Op | None) -> None:
        if op is not None and op.failed:
            raise SkippedError("an earlier call of this operation failed")
        breaker = self.breaker
        if breaker is not None and breaker.blocked():
            self._skip(op)

    def _claim(self, op: Op | None) -> None:
        breaker = self.breaker
        if breaker is not None and not breaker.allow():
            self._skip(op)

    def _skip(self, op: Op | None) -> None:
        # Counted once per operation: its later calls are SkippedError.
        if op is not None:
            op.failed = True
        self.metrics.incr("breaker_skips")
        raise CircuitOpenError("circuit breaker open: cache server skipped")

    def _failed(self, op: Op | None, exc: BaseException) -> None:
        if op is not None:
            op.failed = True
        breaker = self.breaker
        if breaker is not None and breaker.failure():
            self.metrics.incr("breaker_opens")
            log.warning("ringcache.client: %d cache server failures within %.1fs (last: %s: %s); "
                        "circuit open, skipping the server for %.1fs", breaker.threshold,
                        breaker.window, type(exc).__name__, exc, breaker.cooldown)

    def _settle(self, op: Op | None, exc: BaseException | None) -> None:
        """What a call's outcome (``exc`` None: success) tells the breaker."""
        breaker = self.breaker
        if isinstance(exc, redis.RedisError) and server_failure(exc):
            self._failed(op, exc)
        elif breaker is None:
            return
        elif exc is None or isinstance(exc, redis.RedisError):
            breaker.success()  # an answer, an error reply too: the server is alive
        else:
            breaker.abandon()  # cancelled, or a busy pool: no verdict on the server

    def _busy(self, what: str) -> CacheBusyError:
        return CacheBusyError(f"no cache connection became free within {self.pool_timeout}s "
                              f"({what}; pool_size={self.size}): the pool is the bottleneck, "
                              "not the server")


class _SharedPoolWait:
    """Both guards' decision after a call failed: a pool shared with other code
    that is full (a non-blocking pool's MaxConnectionsError) is waited for, by
    retrying after a growing delay, until ``pool_timeout``; a blocking pool has
    already waited its own timeout: busy at once. The guards only sleep."""

    __slots__ = ("guard", "deadline", "delay")

    def __init__(self, guard: _GuardBase) -> None:
        self.guard = guard
        self.deadline: float | None = None
        self.delay = 0.001

    def retry_after(self, exc: redis.RedisError) -> float | None:
        """Seconds to wait before trying again; None: not a pool problem (re-raise
        exc). Raises CacheBusyError when the pool stayed full too long."""
        if not pool_exhausted(exc):
            return None
        now = time.monotonic()
        if self.deadline is None:
            self.deadline = now + self.guard.pool_timeout
        if (isinstance(exc, MaxConnectionsError) or str(exc) == _EXHAUSTED_TEXTS[0]) and now < self.deadline:
            self.guard.metrics.incr("pool_waits")
            delay, self.delay = self.delay, min(self.delay * 2, 0.05)
            return delay
        raise self.guard._busy(str(exc)) from exc


class Guard(_GuardBase):
    """The sync guard: ``size`` slots in front of the client.

    The slots are tokens in a ``queue.SimpleQueue`` (C code: taking and returning
    one costs a fraction of a microsecond, against a few for the pure-Python
    ``threading.Semaphore``; this is on every hit)."""

    def __init__(self, size: int, pool_timeout: float, breaker: CircuitBreaker | None,
                 metrics: Any) -> None:
        super().__init__(size, pool_timeout, breaker, metrics)
        self._slots: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(size):
            self._slots.put(None)

    def call(self, op: Op | None, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self._pre(op)
        slots = self._slots
        try:
            slots.get_nowait()
        except queue.Empty:
            self.metrics.incr("pool_waits")
            try:
                slots.get(timeout=self.pool_timeout)
            except queue.Empty:
                raise self._busy("waiting for a slot") from None
        try:
            self._claim(op)
            try:
                result = self._attempt(fn, args, kwargs)
            except BaseException as exc:
                self._settle(op, exc)
                raise
            self._settle(op, None)
            return result
        finally:
            slots.put(None)

    def _attempt(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        wait = _SharedPoolWait(self)
        while True:
            try:
                return fn(*args, **kwargs)
            except redis.RedisError as exc:
                delay = wait.retry_after(exc)
                if delay is None:
                    raise
            time.sleep(delay)


class AsyncGuard(_GuardBase):
    """The asyncio guard: an asyncio.Semaphore of ``size`` slots."""

    def __init__(self, size: int, pool_timeout: float, breaker: CircuitBreaker | None,
                 metrics: Any) -> None:
        super().__init__(size, pool_timeout, breaker, metrics)
        self._slots: asyncio.Semaphore | None = None  # made on first use, on the running loop

    async def call(self, op: Op | None, fn: Callable[..., Awaitable[Any]], *args: Any,
                   **kwargs: Any) -> Any:
        self._pre(op)
        slots = self._slots
        if slots is None:
            slots = self._slots = asyncio.Semaphore(self.size)
        if slots.locked():
            self.metrics.incr("pool_waits")
            try:
                async with asyncio.timeout(self.pool_timeout):  # no task per waiter, unlike wait_for
                    await slots.acquire()
            except TimeoutError:
                raise self._busy("waiting for a slot") from None
        else:
            await slots.acquire()
        try:
            self._claim(op)
            try:
                result = await self._attempt(fn, args, kwargs)
            except BaseException as exc:
                self._settle(op, exc)
                raise
            self._settle(op, None)
            return result
        finally:
            slots.release()

    async def _attempt(self, fn: Callable[..., Awaitable[Any]], args: Any, kwargs: Any) -> Any:
        wait = _SharedPoolWait(self)
        while True:
            try:
                return await fn(*args, **kwargs)
            except redis.RedisError as exc:
                delay = wait.retry_after(exc)
                if delay is None:
                    raise
            await asyncio.sleep(delay)
