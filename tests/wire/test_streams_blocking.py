"""Blocking XREAD / XREADGROUP, differentially: each scenario drives several
clients of the real redis-server (7.0) and of a node through the same
steps, and the replies every client got must be the same bytes.

A step is `("A", cmd)`: client A sends cmd and reads its reply;
`("A>", cmd)`: A sends cmd that blocks (nothing read yet); `("blocked", n)`:
wait until the server reports n blocked clients; `("A<",)`: read A's
pending reply. Timeouts are short (BLOCK 50 ms) but only their reply is
compared, never how long they took, so a loaded machine does not fail them.
"""

from __future__ import annotations

import shlex
import time

import pytest

from nodes import spawn_node
from reference_server import mask_times, redis_server
from support import RawConn


class _At:
    def __init__(self, port: int) -> None:
        self.host, self.port = "127.0.0.1", port


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    node = spawn_node([], tmp_path_factory.mktemp("node") / "node.log")
    with redis_server(tmp_path_factory.mktemp("redis")) as real:
        yield _At(real.connection_pool.connection_kwargs["port"]), node
    node.stop()


def _blocked(conn: RawConn) -> int:
    conn.send("INFO", "clients")
    text = conn.read_text()
    line = next(x for x in text.split(b"\r\n") if x.startswith(b"blocked_clients:"))
    return int(line.split(b":")[1])


def play(server, steps, protocol: int) -> list[tuple[str, bytes]]:
    conns: dict[str, RawConn] = {}
    admin = RawConn(server)
    admin.send("FLUSHALL")
    admin.read_reply()
    replies = []
    try:
        for step in steps:
            who = step[0]
            if who == "blocked":
                deadline = time.monotonic() + 10
                while _blocked(admin) != step[1]:
                    assert time.monotonic() < deadline, f"never {step[1]} blocked clients"
                    time.sleep(0.005)
                continue
            name = who.rstrip("<>")
            conn = conns.get(name)
            if conn is None:
                conn = conns[name] = RawConn(server, protocol)
            if who.endswith("<"):
                replies.append((who, conn.read_reply()))
                continue
            argv = shlex.split(step[1])
            conn.send(*argv)
            if not who.endswith(">"):
                replies.append((who + " " + step[1], mask_times(argv, conn.read_reply())))
        return replies
    finally:
        admin.close()
        for conn in conns.values():
            conn.close()


SCENARIOS = {
    "xread_dollar_woken_by_xadd": [
        ("A", "XADD s 1-1 f old"),
        ("B>", "XREAD BLOCK 0 STREAMS s $"),
        ("blocked", 1),
        ("A", "XADD s 2-1 f new"),
        ("B<",),
        ("B", "XREAD STREAMS s 0"),
    ],
    "xread_missing_key_then_created": [
        ("B>", "XREAD BLOCK 0 COUNT 2 STREAMS other s $ $"),
        ("blocked", 1),
        ("A", "MULTI"), ("A", "XADD s 1-1 a 1"), ("A", "XADD s 2-1 b 2"), ("A", "XADD s 3-1 c 3"),
        ("A", "EXEC"),
        ("B<",),
    ],
    "xread_timeout": [
        ("A", "XADD s 1-1 f v"),
        ("B>", "XREAD BLOCK 50 STREAMS s $"),
        ("B<",),
        ("B", "XREAD BLOCK 50 STREAMS missing 0"),
        ("B", "PING"),
    ],
    "xread_other_writes_do_not_serve": [
        ("A", "XADD s 1-1 f v"),
        ("A", "XADD s 2-1 f v"),
        ("B>", "XREAD BLOCK 0 STREAMS s $"),
        ("blocked", 1),
        ("A", "XDEL s 1-1"),
        ("A", "XGROUP CREATE s g 0"),
        ("A", "XTRIM s MAXLEN 0"),
        ("blocked", 1),
        ("A", "XADD s 3-1 f served"),
        ("B<",),
    ],
    "xread_id_given": [
        ("A", "XADD s 1-1 f v"),
        ("B>", "XREAD BLOCK 0 STREAMS s 5-0"),
        ("blocked", 1),
        ("A", "XADD s 4-1 f below"),
        ("blocked", 1),
        ("A", "XADD s 5-1 f above"),
        ("B<",),
    ],
    "xreadgroup_woken_and_pending": [
        ("A", "XGROUP CREATE s g $ MKSTREAM"),
        ("B>", "XREADGROUP GROUP g bob BLOCK 0 STREAMS s >"),
        ("C>", "XREADGROUP GROUP g carol BLOCK 0 STREAMS s >"),
        ("blocked", 2),
        ("A", "XADD s 1-1 f one"),
        ("B<",),
        ("blocked", 1),
        ("A", "XADD s 2-1 f two"),
        ("C<",),
        ("A", "XPENDING s g - + 10"),
        ("A", "XINFO GROUPS s"),
    ],
    "xreadgroup_noack_and_count": [
        ("A", "XGROUP CREATE s g $ MKSTREAM"),
        ("B>", "XREADGROUP GROUP g bob COUNT 1 NOACK BLOCK 0 STREAMS s >"),
        ("blocked", 1),
        ("A", "MULTI"), ("A", "XADD s 1-1 a 1"), ("A", "XADD s 2-1 b 2"), ("A", "EXEC"),
        ("B<",),
        ("A", "XPENDING s g"),
        ("A", "XINFO GROUPS s"),
    ],
    "xreadgroup_group_destroyed": [
        ("A", "XGROUP CREATE s g $ MKSTREAM"),
        ("B>", "XREADGROUP GROUP g bob BLOCK 0 STREAMS s >"),
        ("blocked", 1),
        ("A", "XGROUP DESTROY s g"),
        ("B<",),
    ],
    "xreadgroup_key_deleted": [
        ("A", "XGROUP CREATE s g $ MKSTREAM"),
        ("B>", "XREADGROUP GROUP g bob BLOCK 0 STREAMS s >"),
        ("C>", "XREAD BLOCK 0 STREAMS s $"),
        ("blocked", 2),
        ("A", "DEL s"),
        ("A", "XADD s 1-1 f v"),
        ("B<",),
        ("C<",),
    ],
    "xreadgroup_key_replaced": [
        ("A", "XGROUP CREATE s g $ MKSTREAM"),
        ("B>", "XREADGROUP GROUP g bob BLOCK 0 STREAMS s >"),
        ("blocked", 1),
        ("A", "SET s x"),
        ("A", "DEL s"),
        ("A", "XGROUP CREATE s g $ MKSTREAM"),
        ("A", "XADD s 1-1 f v"),
        ("B<",),
    ],
    "xreadgroup_flushall": [
        ("A", "XGROUP CREATE s g $ MKSTREAM"),
        ("B>", "XREADGROUP GROUP g bob BLOCK 0 STREAMS s >"),
        ("blocked", 1),
        ("A", "FLUSHALL"),
        ("A", "XGROUP CREATE s g $ MKSTREAM"),
        ("A", "XADD s 1-1 f v"),
        ("B<",),
    ],
    "xreadgroup_swapdb": [
        ("A", "XGROUP CREATE s g $ MKSTREAM"),
        ("B>", "XREADGROUP GROUP g bob BLOCK 0 STREAMS s >"),
        ("C>", "XREAD BLOCK 0 STREAMS s $"),
        ("blocked", 2),
        ("A", "SWAPDB 0 9"),
        ("B<",),
        ("A", "SWAPDB 0 9"),
        ("A", "XADD s 1-1 f v"),
        ("C<",),
        ("A", "SELECT 9"),
        ("A", "FLUSHDB"),
    ],
    "xreadgroup_timeout": [
        ("A", "XGROUP CREATE s g $ MKSTREAM"),
        ("B>", "XREADGROUP GROUP g bob BLOCK 50 STREAMS s >"),
        ("B<",),
        ("A", "XINFO CONSUMERS s g"),
    ],
    "blocking_in_multi": [
        ("A", "XADD s 1-1 f v"),
        ("A", "XGROUP CREATE s g $"),
        ("B", "MULTI"),
        ("B", "XREAD BLOCK 0 STREAMS s $"),
        ("B", "XREADGROUP GROUP g bob BLOCK 0 STREAMS s >"),
        ("B", "XREAD BLOCK 0 STREAMS s 0"),
        ("B", "EXEC"),
    ],
}


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_blocking_as_redis(servers, name, protocol):
    real, node = servers
    want = play(real, SCENARIOS[name], protocol)
    got = play(node, SCENARIOS[name], protocol)
    assert got == want


def test_client_unblock_of_a_blocked_xread(servers):
    """CLIENT UNBLOCK (TIMEOUT and ERROR) of a client blocked in XREAD."""
    for server in servers:
        results = []
        for how in ("TIMEOUT", "ERROR"):
            blocked, admin = RawConn(server), RawConn(server)
            blocked.send("CLIENT", "ID")
            client_id = int(blocked.read_reply()[1:-2])
            blocked.send("XREAD", "BLOCK", "0", "STREAMS", "nothing", "$")
            deadline = time.monotonic() + 10
            while _blocked(admin) != 1:
                assert time.monotonic() < deadline
                time.sleep(0.005)
            admin.send("CLIENT", "UNBLOCK", str(client_id), how)
            assert admin.read_reply() == b":1\r\n"
            results.append(blocked.read_reply())
            blocked.close()
            admin.close()
        assert results == [b"*-1\r\n", b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"]
