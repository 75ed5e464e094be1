"""Streams through the write stream: a replica, the append-only file (its
own commands and a rewrite's RDB base) and a snapshot all end with the
primary's streams, consumer groups and pending entries.

What the workload exercises is what Redis rewrites before propagating:
XADD with `*` and `ms-*` (the ID it got), approximate trimming (the exact
trim it did), XREADGROUP (XCLAIM per delivered entry, XGROUP SETID),
XCLAIM/XAUTOCLAIM (XCLAIM with the new owner and counters), a blocked
XREADGROUP served by a later XADD. The comparison is DEBUG DIGEST (which
covers entries, counters, groups and pending entries) and XINFO STREAM FULL
byte for byte, with only consumers' seen-time masked where it is a local
time (a replica's, or a restart's replay)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from nodes import Node, spawn_node
from support import RawConn
from test_replication import cluster, digest_of, follow, in_sync  # noqa: F401  (fixture)

from ringcache.persistence.aof import encode_command

KEYS = ("s", "t", "empty")
_SEEN = re.compile(rb"(seen-time)\r\n:\d+")


def workload(node: Node) -> None:
    c = node.client()
    for i in range(300):
        c.xadd("s", {"n": i, "k": "v" * (i % 5)}, maxlen=250, approximate=True)
    c.xadd("s", {"x": "y"}, id="99999999999999-*")
    c.xadd("t", {"a": 1}, id="5-5")
    c.xadd("t", {"a": 2}, id="5-*")
    c.xgroup_create("s", "g", "0")
    c.xgroup_create("s", "noack", "0")
    c.xreadgroup("g", "alice", {"s": ">"}, count=20)
    c.xreadgroup("g", "bob", {"s": ">"}, count=7)
    c.xreadgroup("noack", "carol", {"s": ">"}, count=30, noack=True)
    c.xreadgroup("g", "alice", {"s": "0"}, count=3)  # history: delivery counts go up
    ids = [entry[0] for entry in c.xrange("s", count=40)]
    c.xack("s", "g", ids[0], ids[1])
    c.xclaim("s", "g", "dave", 0, [ids[2], ids[3]])
    c.xautoclaim("s", "g", "erin", 0, "0", count=4)
    c.xdel("s", ids[5], ids[30])
    c.xtrim("s", maxlen=200, approximate=True)
    c.xtrim("s", minid=ids[25])
    c.xgroup_createconsumer("s", "g", "frank")
    c.xgroup_delconsumer("s", "g", "bob")
    c.xgroup_create("empty", "g", "$", mkstream=True)
    c.execute_command("XSETID", "t", "9-0", "ENTRIESADDED", 10, "MAXDELETEDID", "1-0")
    # A blocked XREADGROUP served by a later XADD (a second client).
    c.xgroup_create("t", "tg", "$")
    waiter = RawConn(node)
    waiter.send("XREADGROUP", "GROUP", "tg", "zed", "BLOCK", "0", "STREAMS", "t", ">")
    deadline = time.monotonic() + 10
    while c.info("clients")["blocked_clients"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    c.xadd("t", {"late": "1"})
    assert b"late" in waiter.read_reply()
    waiter.close()
    c.close()


def state(node: Node, mask_seen: bool) -> dict:
    conn = RawConn(node)
    out = {}
    try:
        for key in KEYS:
            conn.send("XINFO", "STREAM", key, "FULL", "COUNT", "0")
            reply = conn.read_reply()
            out[key] = _SEEN.sub(rb"\1\r\n:X", reply) if mask_seen else reply
    finally:
        conn.close()
    return out


def test_a_replica_ends_with_the_primarys_streams(cluster):  # noqa: F811
    """One replica follows the whole workload through the command stream,
    one arrives afterwards and gets it in a full sync (an RDB image)."""
    primary, replica, late = cluster(), cluster(), cluster()
    follow(replica, primary)
    in_sync(primary, replica)
    workload(primary)
    follow(late, primary)
    in_sync(primary, replica, late)
    assert state(replica, True) == state(primary, True)
    assert state(late, True) == state(primary, True)
    assert digest_of(primary) != "0" * 40


def _start(path: Path, *args: str) -> Node:
    return spawn_node(list(args), path / "node.log")


def test_restart_from_the_aof_and_from_its_rewrite_keeps_streams(tmp_path):
    node = _start(tmp_path, "--appendonly", "yes", "--appendfsync", "always")
    try:
        workload(node)
        expected, digest = state(node, True), digest_of(node)
        text = b"".join(p.read_bytes() for p in sorted((tmp_path / "appendonlydir").glob("*.incr.aof")))
    finally:
        node.proc.kill()  # no shutdown save, no rewrite: only the log survives
        node.proc.wait(10)
    # The log holds effects: concrete IDs, exact trims, claims, never XREADGROUP.
    assert b"XREADGROUP" not in text and b"$1\r\n*\r\n" not in text
    assert b"XCLAIM" in text and encode_command([b"XADD", b"t", b"5-6", b"a", b"2"]) in text
    assert b"~" not in text
    node = _start(tmp_path, "--appendonly", "yes")
    try:
        assert state(node, True) == expected and digest_of(node) == digest
        c = node.client()
        assert c.bgrewriteaof()
        deadline = time.monotonic() + 30
        while c.info("persistence")["aof_rewrite_in_progress"] or c.info("persistence")["aof_rewrites"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        c.close()
    finally:
        node.stop()
    node = _start(tmp_path, "--appendonly", "yes")
    try:
        assert state(node, True) == expected and digest_of(node) == digest
    finally:
        node.stop()


def test_restart_from_a_snapshot_keeps_streams_exactly(tmp_path):
    node = _start(tmp_path)
    try:
        workload(node)
        expected, digest = state(node, False), digest_of(node)
        node.client().save()
    finally:
        node.stop()
    node = _start(tmp_path)
    try:
        assert state(node, False) == expected and digest_of(node) == digest
    finally:
        node.stop()
