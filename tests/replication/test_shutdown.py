"""A primary's SHUTDOWN (and SIGTERM) waits up to shutdown-timeout for its
replicas to acknowledge the whole stream, as Redis 7: writes pause
meanwhile; NOW skips the wait; ABORT cancels it; a replica that catches up
ends the wait at once. A stalled replica is a process stopped with SIGSTOP.
"""

from __future__ import annotations

import os
import signal
import time

from support import RawConn
from test_replication import attached, cluster, in_sync, stalled, wait_until  # noqa: F401  (fixture)



def blocked_clients(node) -> int:
    with node.client() as c:
        return c.info("clients")["blocked_clients"]


def test_shutdown_waits_for_a_lagging_replica_then_exits_when_it_catches_up(cluster):
    primary, replica = cluster(), cluster()
    attached(primary, replica)
    with stalled(replica):
        with primary.client() as c:
            c.set("last", "write")  # the replica has not acknowledged it
        shut = RawConn(primary)
        shut.send("SHUTDOWN", "NOSAVE")
        wait_until(lambda: "Waiting for replicas before shutting down." in primary.log(),
                   what="the shutdown to wait")
        assert primary.proc.poll() is None
        # writes are paused meanwhile; reads are served
        writer = RawConn(primary)
        writer.send("SET", "during", "x")
        reader = RawConn(primary)
        reader.send("GET", "last")
        assert reader.read_reply() == b"$5\r\nwrite\r\n"
        os.kill(replica.proc.pid, signal.SIGCONT)
        assert primary.proc.wait(10) == 0
    assert "1 of 1 replicas are in sync when shutting down." in primary.log()
    assert shut.closed()
    with replica.client() as c:  # the last write reached the replica before the primary exited
        wait_until(lambda: c.get("last") == b"write", what="the write on the replica")
        assert c.get("during") is None


def test_shutdown_timeout_then_exit_and_now_skips_the_wait(cluster):
    primary, replica = cluster("--shutdown-timeout", "1"), cluster()
    attached(primary, replica)
    with stalled(replica):
        with primary.client() as c:
            c.set("k", "v")
        shut = RawConn(primary)
        start = time.monotonic()
        shut.send("SHUTDOWN", "NOSAVE")
        assert primary.proc.wait(10) == 0
        assert time.monotonic() - start >= 0.8
        log = primary.log()
        assert "Lagging replica" in log and "behind master" in log
        assert "0 of 1 replicas are in sync when shutting down." in log
        other = cluster()
        follower = cluster()
        attached(other, follower)
        with stalled(follower):
            with other.client() as c:
                c.set("k", "v")
            start = time.monotonic()
            RawConn(other).send("SHUTDOWN", "NOSAVE", "NOW")
            assert other.proc.wait(10) == 0
            assert time.monotonic() - start < 5  # not the default 10 s wait
            assert "Waiting for replicas" not in other.log()


def test_shutdown_abort_resumes_writes_and_answers_the_waiting_client(cluster):
    primary, replica = cluster(), cluster()
    attached(primary, replica)
    with stalled(replica):
        with primary.client() as c:
            c.set("k", "v")
            shut = RawConn(primary)
            shut.send("SHUTDOWN")
            wait_until(lambda: blocked_clients(primary) == 1, what="SHUTDOWN to park")
            writer = RawConn(primary)
            writer.send("SET", "paused", "1")
            assert c.execute_command("SHUTDOWN", "ABORT") in (b"OK", True)
            assert shut.read_reply() == b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n"
            assert writer.read_reply() == b"+OK\r\n"  # the paused write ran
            assert c.get("paused") == b"1"
            assert "Shutdown manually aborted." in primary.log()
            try:
                c.execute_command("SHUTDOWN", "ABORT")
            except Exception as exc:
                assert "No shutdown in progress." in str(exc)
            else:
                raise AssertionError("a second ABORT was accepted")
    in_sync(primary, replica)


def test_sigterm_waits_for_replicas_and_sigint_insists(cluster):
    primary, replica = cluster(), cluster()
    attached(primary, replica)
    with stalled(replica):
        with primary.client() as c:
            c.set("k", "v")
        primary.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: "Waiting for replicas before shutting down." in primary.log(),
                   what="the shutdown to wait")
        assert primary.proc.poll() is None
        primary.proc.send_signal(signal.SIGINT)
        assert primary.proc.wait(10) == 1
        assert "You insist... exiting now." in primary.log()


def test_shutdown_of_a_primary_whose_replicas_are_in_sync_is_quick(cluster):
    primary, replica = cluster(), cluster()
    attached(primary, replica)
    with primary.client() as c:
        c.set("k", "v")
        assert c.execute_command("WAIT", 1, 5000) == 1
    start = time.monotonic()
    RawConn(primary).send("SHUTDOWN", "NOSAVE")
    assert primary.proc.wait(10) == 0
    # (at most the replica's next one-second ACK: an ACK answering GETACK
    # reports the offset before the GETACK itself, as Redis's does)
    assert time.monotonic() - start < 3
    assert "1 of 1 replicas are in sync when shutting down." in primary.log()
