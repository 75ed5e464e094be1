"""Replies leave at the end of the loop turn (Server.flush_soon): under the
node's own loop the FlushingSelector sends them before it polls; under any
other asyncio loop a callback does. Both must answer every command, in
order, with nothing left behind (a real socket, the server in process)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from ringcache.config import Config
from ringcache.server.server import FlushingSelector, Server, new_event_loop


def _exchange(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"PING\r\n" + b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
                     + b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" * 3)
        want = b"+PONG\r\n+OK\r\n" + b"$1\r\nv\r\n" * 3
        got = b""
        while len(got) < len(want):
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += chunk
        return got


@pytest.mark.parametrize("node_loop", [True, False], ids=["flushing-selector", "plain-loop"])
def test_replies_leave_under_either_loop(node_loop):
    config = Config()
    config.load_args(["--port", "0", "--save", ""])
    server = Server(config)

    async def main() -> bytes:
        await server.start()
        assert server._flush_before_poll is node_loop
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, _exchange, server.port)
        finally:
            server.shutdown()

    if node_loop:
        loop = new_event_loop(server)
        assert isinstance(loop._selector, FlushingSelector)  # type: ignore[attr-defined]
        try:
            got = loop.run_until_complete(main())
        finally:
            loop.close()
    else:
        got = asyncio.run(main())
    assert got == b"+PONG\r\n+OK\r\n" + b"$1\r\nv\r\n" * 3


def test_node_selector_reports_what_the_stdlib_selector_reports():
    """FlushingSelector.select is a copy of EpollSelector.select with the
    key lookup inlined (a -P 1 cost): the same keys and events, for a
    descriptor that is readable, one that is writable, one that is both,
    one with nothing to report, and after an unregister."""
    import selectors

    server = Server(Config())
    ours, stdlib = FlushingSelector(server), selectors.DefaultSelector()
    pairs = [socket.socketpair() for _ in range(4)]
    try:
        for selector in (ours, stdlib):
            selector.register(pairs[0][0], selectors.EVENT_READ, "r")
            selector.register(pairs[1][0], selectors.EVENT_WRITE, "w")
            selector.register(pairs[2][0], selectors.EVENT_READ | selectors.EVENT_WRITE, "rw")
            selector.register(pairs[3][0], selectors.EVENT_READ, "idle")
        for a, b in pairs[:3]:
            b.send(b"x")

        def seen(selector) -> set:
            return {(key.data, events) for key, events in selector.select(0)}

        assert seen(ours) == seen(stdlib) == {
            ("r", selectors.EVENT_READ), ("w", selectors.EVENT_WRITE),
            ("rw", selectors.EVENT_READ | selectors.EVENT_WRITE)}
        for selector in (ours, stdlib):
            selector.unregister(pairs[0][0])
        assert seen(ours) == seen(stdlib) and ("r", selectors.EVENT_READ) not in seen(ours)
        assert ours.select(0.001) is not None  # (a positive timeout is rounded, as the stdlib's)
    finally:
        ours.close()
        stdlib.close()
        for a, b in pairs:
            a.close()
            b.close()


def test_node_loop_runs_readers_and_writers_and_drops_removed_ones():
    """NodeEventLoop._process_events (the stdlib's, without a call per
    event): a ready reader and writer run, in order with call_soon
    callbacks queued before the poll, and a reader removed in the same turn
    before its callback ran does not run."""
    server = Server(Config())
    loop = new_event_loop(server)
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    a.setblocking(False)
    c.setblocking(False)
    calls: list[str] = []
    try:
        def first() -> None:
            calls.append("soon")
            loop.remove_reader(c.fileno())  # c is ready too: its handle is cancelled

        loop.add_reader(a.fileno(), lambda: calls.append("read"))
        loop.add_writer(a.fileno(), lambda: calls.append("write"))
        loop.add_reader(c.fileno(), lambda: calls.append("removed"))
        b.send(b"x")
        d.send(b"x")
        loop.call_soon(first)
        loop.call_soon(loop.stop)  # (one turn: the poll, then all that is queued)
        loop.run_forever()
        assert calls == ["soon", "read", "write"]
    finally:
        loop.close()
        for s in (a, b, c, d):
            s.close()
