"""WAIT with Redis's semantics, against real node processes: it counts the
replicas that acknowledged *this client's* last write (not the primary's
offset when WAIT runs), and it never blocks inside MULTI (nor leaves a
waiter behind there that could later answer an unrelated blocked command).

A stalled replica is a replica process stopped with SIGSTOP: its link stays
online on the primary (repl-timeout is 60 s) but it acknowledges nothing.
"""

from __future__ import annotations

import os
import signal
import time

import redis

from support import RawConn
from test_replication import attached, cluster, in_sync, repl, stalled, wait_until  # noqa: F401  (fixture)



def test_wait_counts_this_clients_last_write(cluster):
    primary, replica = cluster(), cluster()
    attached(primary, replica)
    with primary.client() as a, primary.client() as b, primary.client() as reader:
        a.set("a", "1")
        assert a.execute_command("WAIT", 1, 5000) == 1
        with stalled(replica):
            b.set("b", "2")  # the stream moves past what the replica acknowledged
            start = time.monotonic()
            # a's last write is acknowledged: answered at once, not after the timeout
            assert a.execute_command("WAIT", 1, 3000) == 1
            # a client that never wrote waits for nothing
            assert reader.get("a") == b"1"
            assert reader.execute_command("WAIT", 1, 3000) == 1
            assert time.monotonic() - start < 2.0
            # b's write is not acknowledged: b waits its timeout and gets 0
            start = time.monotonic()
            assert b.execute_command("WAIT", 1, 300) == 0
            assert time.monotonic() - start >= 0.25
            # a read after a write does not move the client's write offset
            assert a.get("b") == b"2"
            assert a.execute_command("WAIT", 1, 3000) == 1
        # once the replica runs again, b's write is acknowledged
        assert b.execute_command("WAIT", 1, 10000) == 1
    in_sync(primary, replica)


def test_wait_acknowledges_a_transactions_and_a_scripts_writes(cluster):
    primary, replica = cluster(), cluster()
    attached(primary, replica)
    with primary.client() as c:
        pipe = c.pipeline(transaction=True)
        pipe.set("t1", "x")
        pipe.incr("t2")
        pipe.execute()
        woff = repl(primary)["master_repl_offset"]
        assert c.execute_command("WAIT", 1, 5000) == 1
        assert repl(primary)["slave0"]["offset"] >= woff
        c.eval("redis.call('set', KEYS[1], ARGV[1])", 1, "s", "v")
        assert c.execute_command("WAIT", 1, 5000) == 1
    in_sync(primary, replica)


def test_wait_never_blocks_inside_multi(cluster):
    primary, replica = cluster(), cluster()
    attached(primary, replica)
    with stalled(replica):
        c = RawConn(primary)
        c.send("SET", "before", "1")  # not acknowledged: the replica is stopped
        assert c.read_reply() == b"+OK\r\n"
        start = time.monotonic()
        for argv in (("MULTI",), ("SET", "k", "v"), ("WAIT", 1, 0), ("EXEC",)):
            c.send(*argv)
        replies = [c.read_reply() for _ in range(4)]
        assert replies == [b"+OK\r\n", b"+QUEUED\r\n", b"+QUEUED\r\n", b"*2\r\n+OK\r\n:0\r\n"]
        assert time.monotonic() - start < 2.0
        # Nothing was left waiting: when the replica acknowledges while the
        # same client is parked in an unrelated BLPOP, the BLPOP is not
        # answered by a stale WAIT; it times out with its own null reply.
        c.send("BLPOP", "nothing", "1")
        with primary.client() as watcher:
            wait_until(lambda: watcher.info("clients")["blocked_clients"] == 1, what="BLPOP to park")
            os.kill(replica.proc.pid, signal.SIGCONT)
            assert c.read_reply() == b"*-1\r\n"
        c.send("WAIT", 1, 5000)
        assert c.read_reply() == b":1\r\n"
        c.sock.close()
    in_sync(primary, replica)


def test_wait_released_when_the_client_disconnects_or_the_replica_acks(cluster):
    primary, replica = cluster(), cluster()
    attached(primary, replica)
    with stalled(replica):
        with primary.client() as c:
            gone = RawConn(primary)
            gone.send("SET", "g", "1")
            assert gone.read_reply() == b"+OK\r\n"
            gone.send("WAIT", 1, 0)  # parks
            wait_until(lambda: c.info("clients")["blocked_clients"] == 1, what="WAIT to park")
            gone.sock.close()
            wait_until(lambda: c.info("clients")["blocked_clients"] == 0, what="the waiter to leave")
            waiting = RawConn(primary)
            waiting.send("SET", "w", "1")
            assert waiting.read_reply() == b"+OK\r\n"
            waiting.send("WAIT", 1, 0)
            wait_until(lambda: c.info("clients")["blocked_clients"] == 1, what="WAIT to park")
            os.kill(replica.proc.pid, signal.SIGCONT)
            assert waiting.read_reply() == b":1\r\n"
            waiting.sock.close()
    in_sync(primary, replica)


def test_wait_arguments_as_redis(cluster):
    primary = cluster()
    with primary.client() as c:
        assert c.execute_command("WAIT", -1, 0) == 0
        for args, message in ((("x", 0), "value is not an integer"), (("01", 0), "value is not an integer"),
                              ((1, "1.5"), "timeout is not an integer"), ((1, -1), "timeout is negative")):
            try:
                c.execute_command("WAIT", *args)
            except redis.ResponseError as exc:
                assert message in str(exc)
            else:
                raise AssertionError(f"WAIT {args} was accepted")
