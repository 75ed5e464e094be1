"""Sans-I/O steps: one implementation of a flow serves the sync and the asyncio API.

A *step* is a generator that yields requests and receives their replies; it
never performs I/O itself. A driver runs it: :func:`run` performs each request
directly, :func:`arun` awaits it. So a flow such as "claim a batch, then
acknowledge it" is written once, and the two public classes only choose the
driver (``return run(...)`` / ``return await arun(...)``).

Requests understood by :func:`perform` / :func:`aperform`:

* :class:`Call` ``(fn, *args, **kwargs)``: call ``fn``; the asyncio driver awaits
  the result when it is awaitable (so ``Call(cache.get, key)`` works with a
  ``Cache`` and an ``AsyncCache``, and a user's writer may be sync or async);
* :class:`Pipeline` ``(build, transaction)``: ``build(pipe)`` queues commands on a
  redis-py pipeline (queueing is synchronous in both redis-py APIs), which is then
  executed; the reply is the list of command replies;
* :class:`Watched` ``(keys, build)``: WATCH/GET/MULTI/EXEC, retried on a conflict.

On a cluster client (see ``cluster``) a transaction (a Watched, a Pipeline with
``transaction=True``) runs on the node owning the slot of its ``route`` key
(a Watched's first key), re-routed when that slot has moved.

Cost: driving a step costs CPU — measured with a no-op fake client (process
time, on a loaded 2-core machine), a ``get_or_set`` miss went from about 15-20 µs
to 23-29 µs. That is small against what a miss does (a loader call and two or
more round trips), so the miss paths use steps, while the hit paths
(``Cache.get``, the first read of ``get_or_set``, L1 hits) stay direct calls.

A component adds its own requests (a wait on its condition, a sleep it lets
tests replace) by passing an ``extra`` performer that returns :data:`UNHANDLED`
for requests it does not know. An exception raised while performing a request
is thrown into the step at its ``yield``, where the step may handle it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Final, Generator, TypeVar

from redis.exceptions import WatchError

from . import cluster

T = TypeVar("T")
Steps = Generator[Any, Any, T]


class _Unhandled:
    def __repr__(self) -> str:
        return "UNHANDLED"


UNHANDLED: Final = _Unhandled()


class Call:
    __slots__ = ("fn", "args", "kwargs")

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs


@dataclass(slots=True)
class Pipeline:
    build: Callable[[Any], Any]
    transaction: bool = True
    route: str | None = None  # a key of the one slot a transaction touches (cluster mode)

    @property
    def route_key(self) -> str | None:
        return self.route


@dataclass(slots=True)
class Watched:
    """An optimistic transaction: WATCH ``keys``, GET each, then ``build(values,
    pipe)`` queues the MULTI's commands; EXEC, retried from the WATCH when a
    watched key changed (WatchError). The reply is EXEC's list of replies."""
    keys: tuple[str, ...]
    build: Callable[[list[Any], Any], Any]

    @property
    def route_key(self) -> str | None:
        return self.keys[0]


def _on_node(request: Pipeline | Watched) -> str:
    if request.route_key is None:
        raise TypeError("a transaction on a cluster client needs a route key (every key in one slot)")
    return request.route_key


def perform(client: Any, request: Any, extra: Callable[[Any], Any] | None = None) -> Any:
    if isinstance(request, Call):
        return request.fn(*request.args, **request.kwargs)
    if isinstance(request, (Pipeline, Watched)):
        if isinstance(request, Pipeline) and not request.transaction or not cluster.is_cluster(client):
            return _transaction(client, request)
        route = _on_node(request)
        for _ in range(cluster.MOVED_TRIES - 1):
            try:
                return _transaction(cluster.node_client(client, route), request)
            except Exception as exc:
                if not cluster.moved(exc):
                    raise
                cluster.refresh(client)
        return _transaction(cluster.node_client(client, route), request)
    if extra is not None:
        reply = extra(request)
        if reply is not UNHANDLED:
            return reply
    raise TypeError(f"unknown step request {request!r}")


def _transaction(client: Any, request: Pipeline | Watched) -> Any:
    if isinstance(request, Pipeline):
        with client.pipeline(transaction=request.transaction) as pipe:
            request.build(pipe)
            return pipe.execute()
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(*request.keys)
                values = [pipe.get(key) for key in request.keys]
                pipe.multi()
                request.build(values, pipe)
                return pipe.execute()
            except WatchError:
                continue


async def aperform(client: Any, request: Any,
                   extra: Callable[[Any], Awaitable[Any]] | None = None) -> Any:
    if isinstance(request, Call):
        result = request.fn(*request.args, **request.kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result
    if isinstance(request, (Pipeline, Watched)):
        if isinstance(request, Pipeline) and not request.transaction or not cluster.is_cluster(client):
            return await _atransaction(client, request)
        route = _on_node(request)
        for _ in range(cluster.MOVED_TRIES - 1):
            try:
                return await _atransaction(await cluster.anode_client(client, route), request)
            except Exception as exc:
                if not cluster.moved(exc):
                    raise
                await cluster.arefresh(client)
        return await _atransaction(await cluster.anode_client(client, route), request)
    if extra is not None:
        reply = await extra(request)
        if reply is not UNHANDLED:
            return reply
    raise TypeError(f"unknown step request {request!r}")


async def _atransaction(client: Any, request: Pipeline | Watched) -> Any:
    if isinstance(request, Pipeline):
        async with client.pipeline(transaction=request.transaction) as pipe:
            request.build(pipe)
            return await pipe.execute()
    async with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(*request.keys)
                values = [await pipe.get(key) for key in request.keys]
                pipe.multi()
                request.build(values, pipe)
                return await pipe.execute()
            except WatchError:
                continue


def run(steps: Steps[T], performer: Callable[[Any], Any]) -> T:
    """Drive a step to its end, performing each request with ``performer``."""
    reply: Any = None
    error: BaseException | None = None
    while True:
        try:
            request = steps.send(reply) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        reply, error = None, None
        try:
            if type(request) is Call:  # the common request, without the dispatch
                reply = request.fn(*request.args, **request.kwargs)
            else:
                reply = performer(request)
        except BaseException as exc:
            # Handed to the step, which re-raises what it does not handle. BaseException
            # too: a KeyboardInterrupt or a task's cancellation must run the step's
            # ``finally`` clauses (releasing a lock), which may themselves yield requests.
            error = exc


async def arun(steps: Steps[T], performer: Callable[[Any], Awaitable[Any]]) -> T:
    """The asyncio driver: as :func:`run`, awaiting each request."""
    reply: Any = None
    error: BaseException | None = None
    while True:
        try:
            request = steps.send(reply) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        reply, error = None, None
        try:
            if type(request) is Call:  # the common request, without the dispatch
                reply = request.fn(*request.args, **request.kwargs)
                if inspect.isawaitable(reply):
                    reply = await reply
            else:
                reply = await performer(request)
        except BaseException as exc:  # including CancelledError: see run()
            error = exc
