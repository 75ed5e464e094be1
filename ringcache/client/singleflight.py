"""In-process single-flight: at most one load per key at a time in this process.

The first caller for a key (the leader) runs the load; callers that arrive while
it runs wait for its result (or its exception) instead of loading again. This
complements the distributed lock: the lock keeps other *processes* out, single
flight keeps this process's threads or tasks from queueing on the lock at all.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable, Callable


class _Call:
    __slots__ = ("event", "value", "error")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class SingleFlight:
    """Thread-based single flight for the sync cache."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, _Call] = {}

    def do(self, key: str, fn: Callable[[], Any]) -> tuple[Any, bool]:
        """Run fn once for concurrent callers of key; returns (value, shared)."""
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
        if not leader:
            call.event.wait()
            if call.error is not None:
                raise call.error
            return call.value, True
        try:
            call.value = fn()
            return call.value, False
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.event.set()

    def in_flight(self) -> int:
        with self._lock:
            return len(self._calls)


class AsyncSingleFlight:
    """asyncio single flight: waiters await the leader's future.

    Used from one event loop (the cache's); asyncio code needs no lock because
    nothing switches tasks between the dict lookup and the insert.
    """

    def __init__(self) -> None:
        self._calls: dict[str, asyncio.Future[Any]] = {}

    async def do(self, key: str, fn: Callable[[], Awaitable[Any]]) -> tuple[Any, bool]:
        fut = self._calls.get(key)
        if fut is not None:
            # shield: a cancelled waiter must not cancel the leader's shared result.
            return await asyncio.shield(fut), True
        fut = asyncio.get_running_loop().create_future()
        self._calls[key] = fut
        try:
            value = await fn()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                fut.cancel()
            else:
                fut.set_exception(exc)
                fut.exception()  # mark it retrieved: no "never retrieved" warning without waiters
            raise
        else:
            fut.set_result(value)
            return value, False
        finally:
            del self._calls[key]

    def in_flight(self) -> int:
        return len(self._calls)
