"""The node's own loop step (server/server.py: FlushingSelector, NodeEventLoop;
compiled in ringcache/_speedups.pyx: ready_events, process_events, which run
a plain connection's reader at once): requests are served, a reader that
raises is reported through the loop's exception handler as asyncio's
Handle._run reports it and the loop goes on serving, and callbacks queued
before a poll still run before that poll's readers. On both paths."""

from __future__ import annotations

import asyncio
import socket

import pytest

from ringcache.server.connection import Connection
from ringcache.server.server import Server, new_event_loop


@pytest.fixture
def node():
    server = Server()
    server.config.set("port", "0", startup=True)
    server.config.set("save", "", startup=True)
    loop = new_event_loop(server)
    asyncio.set_event_loop(loop)
    loop.run_until_complete(server.start())
    errors: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    clients: list[socket.socket] = []

    def connect() -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.settimeout(5)
        clients.append(sock)
        for _ in range(20):  # accepted and reading
            turn()
        return sock

    def turn() -> None:
        loop.call_soon(loop.stop)
        loop.run_forever()

    def reply(sock: socket.socket, expected: bytes) -> bytes:
        got = b""
        for _ in range(100):
            turn()
            sock.settimeout(0.01)
            try:
                got += sock.recv(4096)
            except TimeoutError:
                pass
            if len(got) >= len(expected):
                break
        return got

    yield server, loop, connect, turn, reply, errors
    for sock in clients:
        sock.close()
    server.shutdown()
    loop.close()
    asyncio.set_event_loop(None)


def _connection(server: Server) -> Connection:
    return max(server.connections, key=lambda c: c.session.id)


def test_requests_are_served_on_the_loop_step(node) -> None:
    server, loop, connect, turn, reply, errors = node
    a, b = connect(), connect()
    a.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
    b.sendall(b"PING\r\n")  # (an inline command: the Python path)
    assert reply(a, b"+OK\r\n") == b"+OK\r\n"
    assert reply(b, b"+PONG\r\n") == b"+PONG\r\n"
    a.sendall(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" * 3)
    assert reply(a, b"$1\r\nv\r\n" * 3) == b"$1\r\nv\r\n" * 3
    assert errors == []


def test_a_reader_that_raises_is_reported_and_the_loop_goes_on(node) -> None:
    server, loop, connect, turn, reply, errors = node
    a = connect()
    broken = _connection(server)
    b = connect()

    def boom(data: bytes) -> None:
        raise RuntimeError("boom")

    broken.received = boom  # type: ignore[method-assign]  # (the path for an inline command)
    a.sendall(b"PING\r\n")
    b.sendall(b"*1\r\n$4\r\nPING\r\n")
    assert reply(b, b"+PONG\r\n") == b"+PONG\r\n"
    assert len(errors) == 1
    assert errors[0]["message"].startswith("Exception in callback ")
    assert isinstance(errors[0]["exception"], RuntimeError)
    assert isinstance(errors[0]["handle"], asyncio.Handle)


def test_callbacks_queued_before_a_poll_run_before_its_readers(node) -> None:
    server, loop, connect, turn, reply, errors = node
    a = connect()
    order: list[str] = []
    conn = _connection(server)
    plain = type(conn).received

    def received(data: bytes) -> None:
        order.append("reader")
        plain(conn, data)

    conn.received = received  # type: ignore[method-assign]
    a.sendall(b"PING\r\n")
    loop.call_soon(order.append, "queued")
    assert reply(a, b"+PONG\r\n") == b"+PONG\r\n"
    assert order == ["queued", "reader"]
