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
