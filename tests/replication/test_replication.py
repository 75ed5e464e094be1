"""Replication between real node processes: full sync with writes in flight,
partial resync after a dropped link, PSYNC2 after a promotion, chained
replicas, expiry on replicas, READONLY, WAIT, min-replicas, faults.

Every scenario ends by checking that primary and replica hold the same
dataset (DEBUG DIGEST) at the same replication offset.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import pytest
import redis

from nodes import spawn_node
from support import RawConn

ZERO_DIGEST = "0" * 40


@pytest.fixture
def cluster(tmp_path):
    """spawn(*flags) -> a node in a directory of its own (each writes its
    own snapshot file); all stopped afterwards."""
    started = []

    def spawn(*flags: str):
        directory = tmp_path / f"n{len(started)}"
        directory.mkdir()
        node = spawn_node(list(flags), directory / "node.log")
        started.append(node)
        return node

    yield spawn
    for node in started:
        with contextlib.suppress(Exception):
            os.kill(node.proc.pid, signal.SIGCONT)
        node.stop()


def attached(primary, *replicas) -> None:
    """Each replica follows primary; returns once all are in sync."""
    for replica in replicas:
        follow(replica, primary)
    in_sync(primary, *replicas)


@contextlib.contextmanager
def stalled(node):
    """The node's process stopped (SIGSTOP) for the block: its links stay up
    on the other side (repl-timeout is 60 s) but it acknowledges nothing.
    Resumed on the way out (resuming it earlier inside the block is fine)."""
    os.kill(node.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(node.proc.pid, signal.SIGCONT)


def wait_until(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def info(node) -> dict:
    with node.client() as c:
        return c.info("all")


def repl(node) -> dict:
    with node.client() as c:
        return c.info("replication")


def follow(replica, primary) -> None:
    with replica.client() as c:
        assert c.execute_command("REPLICAOF", primary.host, primary.port) in (b"OK", "OK", True)


def in_sync(primary, *replicas, timeout: float = 15.0) -> None:
    """Wait until every replica's link is up at the primary's offset, then
    compare digests (taken while the primary's offset stood still: its cron
    may still be expiring or evicting, which moves it)."""
    def caught_up():
        offset = repl(primary)["master_repl_offset"]
        for replica in replicas:
            r = repl(replica)
            if r.get("master_link_status") != "up" or r["master_repl_offset"] != offset:
                return None
        return (offset,)  # (a tuple: offset 0 is a valid answer)

    deadline = time.monotonic() + timeout
    settle_by = None  # the digest comparison's own deadline, once caught up
    while True:
        try:
            offset = wait_until(caught_up, max(deadline - time.monotonic(), 0.1), "replicas to catch up")
        except AssertionError:
            states = [(n.port, repl(n)) for n in (primary, *replicas)]
            raise AssertionError(f"replicas did not catch up: {states}") from None
        if settle_by is None:
            # (a loaded machine may spend the whole timeout catching up: the
            # comparison at a still offset still gets its own 10 s)
            settle_by = time.monotonic() + 10.0
            deadline = max(deadline, settle_by)
        digest = digest_of(primary)
        digests = [digest_of(replica) for replica in replicas]
        if digests == [digest] * len(replicas):
            return  # (equal whatever moved meanwhile: a PING every 10 s moves the offset)
        if caught_up() == offset:
            assert digests == [digest] * len(replicas)
            return
        if time.monotonic() > deadline:
            raise AssertionError("the primary's offset never stood still")


def digest_of(node) -> str:
    with node.client() as c:
        value = c.execute_command("DEBUG", "DIGEST")
    return value.decode() if isinstance(value, bytes) else value


def fill(node, count: int, prefix: str = "k") -> None:
    with node.client() as c:
        pipe = c.pipeline(transaction=False)
        for i in range(count):
            pipe.set(f"{prefix}:{i}", f"value-{i}" * 3)
            if i % 10 == 0:
                pipe.hset(f"h{prefix}:{i}", mapping={"a": i, "b": "x"})
                pipe.rpush(f"l{prefix}:{i}", 1, 2, 3)
                pipe.sadd(f"s{prefix}:{i}", "m1", "m2")
                pipe.zadd(f"z{prefix}:{i}", {"a": 1.5, "b": 2})
                pipe.set(f"t{prefix}:{i}", "ttl", ex=1000)
            if i % 1000 == 999:
                pipe.execute()
        pipe.execute()


class Writer(threading.Thread):
    """Writes while a test does something else; counts what it wrote."""

    def __init__(self, node, prefix: str = "w") -> None:
        super().__init__(daemon=True)
        self.client = node.client()
        self.prefix = prefix
        self.stop = threading.Event()
        self.count = 0

    def run(self) -> None:
        while not self.stop.is_set():
            i = self.count
            pipe = self.client.pipeline(transaction=i % 7 == 0)
            pipe.set(f"{self.prefix}:{i}", i)
            pipe.incr(f"{self.prefix}:counter")
            pipe.lpush(f"{self.prefix}:list", i)
            pipe.execute()
            self.count += 1

    def finish(self) -> int:
        self.stop.set()
        self.join(10)
        self.client.close()
        return self.count


def test_digest_empty_and_order_independent(cluster):
    a, b = cluster(), cluster()
    assert digest_of(a) == ZERO_DIGEST
    with a.client() as c:
        c.sadd("s", "x", "y", "z")
        c.hset("h", mapping={"f1": "1", "f2": "2"})
        c.set("k1", "v1")
        c.set("k2", "v2")
        c.rpush("l", "a", "b")
        d = c.execute_command("DEBUG", "DIGEST-VALUE", "k1", "missing")
        assert d[1] in (ZERO_DIGEST, ZERO_DIGEST.encode())
    with b.client() as c:
        c.rpush("l", "a", "b")
        c.set("k2", "v2")
        c.hset("h", mapping={"f2": "2", "f1": "1"})
        c.sadd("s", "z", "y", "x")
        c.set("k1", "v1")
    assert digest_of(a) == digest_of(b) != ZERO_DIGEST
    with b.client() as c:
        c.rpush("l", "c")
    assert digest_of(a) != digest_of(b)


def test_full_sync_with_writes_in_flight(cluster):
    primary, replica = cluster(), cluster()
    fill(primary, 20000)
    writer = Writer(primary)
    writer.start()
    wait_until(lambda: writer.count > 50, what="the writer to start")
    follow(replica, primary)
    wait_until(lambda: repl(replica)["master_link_status"] == "up", what="the link")
    time.sleep(0.3)  # writes keep flowing over the established link
    written = writer.finish()
    assert written > 50
    in_sync(primary, replica)
    stats = info(primary)
    assert stats["sync_full"] == 1
    with replica.client() as c:
        assert int(c.get("w:counter")) == written
        assert c.dbsize() == info(primary)["db0"]["keys"]
    role = primary.client().execute_command("ROLE")
    assert role[0] in (b"master", "master") and len(role[2]) == 1


def test_partial_resync_after_link_drop(cluster):
    primary, replica = cluster(), cluster()
    fill(primary, 2000)
    follow(replica, primary)
    in_sync(primary, replica)
    before = info(primary)
    # The replica drops its primary's link; writes happen meanwhile.
    with replica.client() as c:
        assert " flags=M " in c.execute_command("CLIENT", "LIST", "TYPE", "master").decode()
        assert c.execute_command("CLIENT", "KILL", "TYPE", "master") == 1
    fill(primary, 300, prefix="after")
    in_sync(primary, replica)
    # And the primary drops the replica's link.
    with primary.client() as c:
        assert " flags=S " in c.execute_command("CLIENT", "LIST", "TYPE", "replica").decode()
        assert c.execute_command("CLIENT", "KILL", "TYPE", "replica") == 1
    fill(primary, 300, prefix="again")
    in_sync(primary, replica)
    after = info(primary)
    assert after["sync_full"] == before["sync_full"] == 1
    assert after["sync_partial_ok"] == before["sync_partial_ok"] + 2


def test_psync2_after_promotion(cluster):
    primary, a, b = cluster(), cluster(), cluster()
    fill(primary, 1000)
    follow(a, primary)
    follow(b, primary)
    in_sync(primary, a, b)
    old_replid = repl(primary)["master_replid"]
    with a.client() as c:
        assert c.execute_command("REPLICAOF", "NO", "ONE") in (b"OK", True)
    ra = repl(a)
    assert ra["role"] == "master"
    assert ra["master_replid2"] == old_replid
    assert ra["second_repl_offset"] == repl(primary)["master_repl_offset"] + 1
    follow(b, a)
    with a.client() as c:
        c.set("after-promotion", "1")
    in_sync(a, b)
    # The old primary rejoins as a replica of the promoted one: also partial.
    follow(primary, a)
    in_sync(a, b, primary)
    stats = info(a)
    assert stats["sync_full"] == 0
    assert stats["sync_partial_ok"] == 2
    with b.client() as c:
        assert c.get("after-promotion") == b"1"


def test_chained_replicas(cluster):
    primary, middle, leaf = cluster(), cluster(), cluster()
    fill(primary, 500)
    follow(middle, primary)
    in_sync(primary, middle)
    follow(leaf, middle)
    writer = Writer(primary)
    writer.start()
    wait_until(lambda: writer.count > 100, what="writes")
    writer.finish()
    in_sync(primary, middle, leaf)
    # Same history all along the chain.
    assert repl(leaf)["master_replid"] == repl(primary)["master_replid"]
    with leaf.client() as c:
        with pytest.raises(redis.ResponseError, match="read only replica"):
            c.set("x", 1)


def test_expiry_on_replica(cluster):
    primary, replica = cluster(), cluster()
    follow(replica, primary)
    with primary.client() as c:
        c.set("soon", "v", px=5000)
        c.set("keep", "v")
    in_sync(primary, replica)
    with replica.client() as c:
        assert c.get("soon") == b"v"
        # The replica's clock passes the TTL: the key is hidden, not deleted.
        c.execute_command("DEBUG", "ADVANCE-CLOCK", 10000)
        assert c.get("soon") is None
        assert c.exists("soon") == 0
        assert c.ttl("soon") == -2
        assert c.dbsize() == 2  # still held until the primary's DEL
    with primary.client() as c:
        c.execute_command("DEBUG", "ADVANCE-CLOCK", 10000)
        assert c.get("soon") is None  # expires here, and the DEL is sent
    wait_until(lambda: replica.client().dbsize() == 1, what="the DEL to reach the replica")
    in_sync(primary, replica)


def test_readonly_replica(cluster):
    primary, replica = cluster(), cluster()
    follow(replica, primary)
    in_sync(primary, replica)
    with replica.client() as c:
        with pytest.raises(redis.ResponseError) as error:
            c.set("k", "v")
        assert str(error.value) == "You can't write against a read only replica."
        pipe = c.pipeline(transaction=True)
        pipe.get("k")
        pipe.set("k", "v")
        with pytest.raises(redis.ResponseError, match="read only replica"):
            pipe.execute()  # refused when queued: EXEC then aborts
        assert c.get("k") is None
        c.config_set("replica-read-only", "no")
        assert c.set("local", "1")
        c.config_set("replica-read-only", "yes")
        with pytest.raises(redis.ResponseError, match="read only replica"):
            c.delete("local")


def test_wait(cluster):
    primary, replica = cluster(), cluster()
    with primary.client() as c:
        assert c.execute_command("WAIT", 0, 0) == 0
        assert c.execute_command("WAIT", 1, 50) == 0
        with pytest.raises(redis.ResponseError, match="timeout is negative"):
            c.execute_command("WAIT", 1, -1)
        with pytest.raises(redis.ResponseError, match="timeout is not an integer"):
            c.execute_command("WAIT", 1, "x")
    follow(replica, primary)
    in_sync(primary, replica)
    with primary.client() as c:
        c.set("k", "v")
        assert c.execute_command("WAIT", 1, 5000) == 1
        start = time.monotonic()
        assert c.execute_command("WAIT", 2, 200) == 1
        assert time.monotonic() - start >= 0.15
        pipe = c.pipeline(transaction=True)
        pipe.set("k2", "v")
        pipe.execute_command("WAIT", 5, 0)
        assert pipe.execute()[1] in (0, 1)  # never blocks inside MULTI
    with replica.client() as c:
        with pytest.raises(redis.ResponseError, match="WAIT cannot be used with replica instances"):
            c.execute_command("WAIT", 1, 0)
    in_sync(primary, replica)


def test_min_replicas_to_write(cluster):
    primary, replica = cluster(), cluster()
    with primary.client() as c:
        c.config_set("min-replicas-to-write", 1)
        with pytest.raises(redis.ResponseError) as error:
            c.set("k", "v")
        assert str(error.value) == "NOREPLICAS Not enough good replicas to write."
        assert c.get("k") is None  # reads still served
    follow(replica, primary)
    in_sync(primary, replica)
    with primary.client() as c:
        wait_until(lambda: repl(primary).get("min_slaves_good_slaves") == 1, what="a good replica")
        assert c.set("k", "v")
        c.config_set("min-replicas-to-write", 0)
    in_sync(primary, replica)


def test_replicaof_errors_and_faults(cluster):
    node = cluster()
    with node.client() as c:
        for port in ("notaport", "99999", "-1"):
            with pytest.raises(redis.ResponseError, match="^Invalid master port$"):
                c.execute_command("REPLICAOF", "127.0.0.1", port)
        with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'replicaof'"):
            c.execute_command("REPLICAOF", "127.0.0.1")
        assert c.execute_command("REPLICAOF", "NO", "ONE") in (b"OK", True)
        assert c.execute_command("ROLE") == [b"master", 0, []]
        # Pointing at itself: the link never comes up, the node keeps serving.
        c.execute_command("REPLICAOF", node.host, node.port)
        assert c.execute_command("REPLICAOF", node.host, node.port) == b"OK Already connected to specified master"
        time.sleep(1.5)
        r = c.info("replication")
        assert r["role"] == "slave" and r["master_link_status"] == "down"
        role = c.execute_command("ROLE")
        assert role[0] == b"slave" and role[4] == -1
        assert c.ping()
        # An unreachable primary: likewise.
        c.execute_command("REPLICAOF", "127.0.0.1", 1)
        time.sleep(1.2)
        assert c.info("replication")["master_link_status"] == "down"
        assert c.execute_command("REPLICAOF", "NO", "ONE") in (b"OK", True)
        assert c.info("replication")["role"] == "master"
        assert c.set("k", "v")
    log = node.log()
    assert "Can't SYNC while not connected with my master" in log or "NOMASTERLINK" in log
    assert "Unable to connect to MASTER" in log or "Error condition on socket for SYNC" in log


def test_stalled_replica_is_cut_off_and_resyncs(cluster):
    primary, replica = cluster(), cluster()
    with primary.client() as c:
        c.config_set("client-output-buffer-limit", "replica 512kb 0 0")
    follow(replica, primary)
    in_sync(primary, replica)
    os.kill(replica.proc.pid, signal.SIGSTOP)
    try:
        with primary.client() as c:
            pipe = c.pipeline(transaction=False)
            for i in range(2000):  # ~20 MB: far past the limit and the socket buffers
                pipe.set(f"big:{i}", os.urandom(5000).hex())  # (incompressible-ish)
            pipe.execute()
            wait_until(lambda: c.info("replication")["connected_slaves"] == 0,
                       what="the primary to drop the stalled replica")
    finally:
        os.kill(replica.proc.pid, signal.SIGCONT)
    assert "closed for overcoming of output buffer limits" in primary.log()
    # The resync (a full one: the backlog is 1 MB) sends a ~10 MB snapshot,
    # which the replica limit does not count: only the stream is bounded.
    in_sync(primary, replica, timeout=30)


def test_overlapping_full_syncs_share_one_snapshot(cluster):
    primary, a, b = cluster(), cluster(), cluster()
    fill(primary, 30000)
    forks = info(primary)["total_forks"]
    with a.client() as ca, b.client() as cb:
        ca.execute_command("REPLICAOF", primary.host, primary.port)
        cb.execute_command("REPLICAOF", primary.host, primary.port)
    in_sync(primary, a, b, timeout=30)
    stats = info(primary)
    assert stats["sync_full"] == 2
    assert stats["total_forks"] == forks + 1


@pytest.mark.parametrize("shared_by", ["delay", "max-replicas"])
def test_diskless_syncs_share_one_transfer(cluster, shared_by):
    """repl-diskless-sync yes: the child streams the snapshot to the
    replicas' sockets; the replicas that ask within the delay (or until
    max-replicas of them asked) share that one child, and a write made
    after the fork reaches them once they loaded (the stream starts at
    each replica's first ACK)."""
    flags = ["--repl-diskless-sync", "yes"]
    if shared_by == "delay":
        flags += ["--repl-diskless-sync-delay", "2"]
    else:
        flags += ["--repl-diskless-sync-delay", "60", "--repl-diskless-sync-max-replicas", "2"]
    primary, a, b = cluster(*flags), cluster(), cluster()
    fill(primary, 20000)
    forks = info(primary)["total_forks"]
    follow(a, primary)
    follow(b, primary)
    wait_until(lambda: info(primary)["total_forks"] == forks + 1, 30, "the diskless child")
    with primary.client() as c:
        c.set("after-the-fork", "1")
    in_sync(primary, a, b, timeout=60)
    stats = info(primary)
    assert stats["sync_full"] == 2 and stats["total_forks"] == forks + 1
    with a.client() as c:
        assert c.get("after-the-fork") == b"1"
    assert "Starting BGSAVE for SYNC with target: replicas sockets" in primary.log_path.read_text()


def test_diskless_replica_arriving_late_gets_the_next_transfer(cluster):
    """A replica asking while a diskless transfer runs cannot join it (it
    would miss the beginning): it gets its own once that child ended."""
    primary = cluster("--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0")
    a, b = cluster(), cluster()
    fill(primary, 20000)
    forks = info(primary)["total_forks"]
    follow(a, primary)
    wait_until(lambda: info(primary)["total_forks"] == forks + 1, 30, "the first child")
    follow(b, primary)
    in_sync(primary, a, b, timeout=60)
    stats = info(primary)
    assert stats["sync_full"] == 2 and stats["total_forks"] == forks + 2


def test_a_client_blocked_on_a_replica_is_served_by_the_stream(cluster):
    """XREAD BLOCK on a replica wakes when the primary's XADD arrives
    (the stream is applied through the batch loop; the blocked client is
    served after it, with the replica's own clock)."""
    primary, replica = cluster(), cluster()
    follow(replica, primary)
    in_sync(primary, replica)
    waiter = RawConn(replica)
    waiter.send("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    wait_until(lambda: info(replica)["blocked_clients"] == 1, what="the reader to block")
    with primary.client() as c:
        c.execute_command("XADD", "s", "5-1", "f", "v")
    assert waiter.read_reply() == b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n5-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    in_sync(primary, replica)


def test_replicaof_flag_at_startup(cluster):
    primary = cluster()
    fill(primary, 100)
    replica = cluster("--replicaof", f"{primary.host} {primary.port}")
    in_sync(primary, replica)


def test_replica_loading_never_serves_half_a_dataset(cluster):
    primary, replica = cluster(), cluster()
    fill(primary, 60000)
    total = info(primary)["db0"]["keys"]
    seen = set()
    raw = RawConn(replica)  # (redis-py would retry on LOADING behind our back)
    with replica.client() as c:
        c.set("old", "1")
        c.execute_command("REPLICAOF", primary.host, primary.port)
        while c.info("replication")["master_link_status"] != "up":
            raw.send("DBSIZE")
            reply = raw.read_reply()
            if reply.startswith(b"-"):
                assert reply == b"-LOADING Redis is loading the dataset in memory\r\n"
                seen.add("loading")
                raw.send("ROLE")  # (ROLE and INFO answer while loading)
                assert raw.read_reply().startswith(b"*5\r\n$5\r\nslave\r\n")
                continue
            size = int(reply[1:-2])
            assert size in (1, total), size  # the old dataset or the whole new one
            seen.add(size)
    assert "loading" in seen  # the load takes a while at this size: clients were told
    in_sync(primary, replica)


def test_hash_field_expiry_on_replica(cluster):
    primary, replica = cluster(), cluster()
    follow(replica, primary)
    with primary.client() as c:
        c.hset("h", mapping={"f1": "v1", "f2": "v2"})
        c.execute_command("HPEXPIRE", "h", 5000, "FIELDS", 1, "f1")
    in_sync(primary, replica)
    with replica.client() as c:
        c.execute_command("DEBUG", "ADVANCE-CLOCK", 10000)
        assert c.hgetall("h") == {b"f2": b"v2"}  # hidden from reads...
        assert c.hlen("h") == 1
    in_sync(primary, replica)  # ...but still held: the digests agree
    with primary.client() as c:
        c.execute_command("DEBUG", "ADVANCE-CLOCK", 10000)
        assert c.hgetall("h") == {b"f2": b"v2"}  # the primary expires it and sends HDEL
    in_sync(primary, replica)
    with replica.client() as c:
        c.execute_command("DEBUG", "ADVANCE-CLOCK", -10000)
        assert c.hgetall("h") == {b"f2": b"v2"}  # gone for good now


def test_eviction_is_the_primarys(cluster):
    primary, replica = cluster(), cluster()
    follow(replica, primary)
    in_sync(primary, replica)
    with replica.client() as c:
        c.config_set("maxmemory", "2mb")  # ignored on a replica (replica-ignore-maxmemory yes)
    fill(primary, 20000)
    in_sync(primary, replica)  # the replica kept everything
    with primary.client() as c:
        c.config_set("maxmemory-policy", "allkeys-random")
        c.config_set("maxmemory", "3mb")  # the primary evicts, and sends a DEL for each key
        assert c.info("stats")["evicted_keys"] > 0
    in_sync(primary, replica)
    assert info(replica)["evicted_keys"] == 0


def test_masterauth(cluster):
    primary = cluster("--requirepass", "s3cret")
    with primary.client(password="s3cret") as c:
        c.set("k", "v")
    wrong = cluster("--masterauth", "nope", "--replicaof", f"{primary.host} {primary.port}")
    right = cluster("--masterauth", "s3cret", "--replicaof", f"{primary.host} {primary.port}")
    with right.client() as c:
        wait_until(lambda: c.info("replication")["master_link_status"] == "up", what="the link")
        assert c.get("k") == b"v"
    wait_until(lambda: "Unable to AUTH to MASTER" in wrong.log(), what="the refused AUTH")
    assert repl(wrong)["master_link_status"] == "down"


def test_replicaof_no_one_while_loading(cluster):
    primary, replica = cluster(), cluster()
    fill(primary, 60000)
    raw = RawConn(replica)
    with replica.client() as c:
        c.set("mine", "1")
        c.execute_command("REPLICAOF", primary.host, primary.port)
        wait_until(lambda: "Loading DB in memory" in replica.log(), what="the load to start")
        raw.send("REPLICAOF", "NO", "ONE")  # (refused while loading, as in Redis) ...
        reply = raw.read_reply()
        if reply.startswith(b"-LOADING"):
            wait_until(lambda: c.info("replication")["master_link_status"] == "up", what="the load")
            raw.send("REPLICAOF", "NO", "ONE")
            reply = raw.read_reply()
        assert reply == b"+OK\r\n"
        assert c.info("replication")["role"] == "master"
        # Whichever dataset it ended with, it is whole and writable.
        assert c.dbsize() in (1, info(primary)["db0"]["keys"])
        assert c.set("after", "1")
        time.sleep(0.5)  # a load thread finishing now must change nothing
        assert c.get("after") == b"1" and c.set("again", "1")


def test_backlog_too_small_falls_back_to_full_sync(cluster):
    primary, replica = cluster("--repl-backlog-size", "16kb"), cluster()
    follow(replica, primary)
    fill(primary, 100)
    in_sync(primary, replica)
    before = info(primary)
    os.kill(replica.proc.pid, signal.SIGSTOP)
    try:
        with primary.client() as c:
            assert c.execute_command("CLIENT", "KILL", "TYPE", "replica") == 1
            for i in range(100):
                c.set(f"big:{i}", "x" * 1000)  # 100 KB: the 16 KB backlog has lost the start
    finally:
        os.kill(replica.proc.pid, signal.SIGCONT)
    in_sync(primary, replica)
    after = info(primary)
    assert after["sync_partial_err"] == before["sync_partial_err"] + 1
    assert after["sync_full"] == before["sync_full"] + 1
    assert "for lack of backlog" in primary.log()


def test_repl_timeout_on_both_ends(cluster):
    # (timeouts above the ack period and the ping period, as they must be)
    primary = cluster("--repl-timeout", "2", "--repl-ping-replica-period", "1")
    replica = cluster("--repl-timeout", "2")
    follow(replica, primary)
    in_sync(primary, replica)
    os.kill(replica.proc.pid, signal.SIGSTOP)  # acks stop: the primary drops it
    try:
        wait_until(lambda: "Disconnecting timedout replica" in primary.log(), what="the primary's timeout")
        assert repl(primary)["connected_slaves"] == 0
    finally:
        os.kill(replica.proc.pid, signal.SIGCONT)
    in_sync(primary, replica)
    # (a replica stopped past its own timeout may log one when it resumes)
    timeouts = replica.log().count("MASTER timeout")
    os.kill(primary.proc.pid, signal.SIGSTOP)  # the stream stops: the replica drops it
    try:
        wait_until(lambda: replica.log().count("MASTER timeout") > timeouts, what="the replica's timeout")
        assert repl(replica)["master_link_status"] == "down"
    finally:
        os.kill(primary.proc.pid, signal.SIGCONT)
    in_sync(primary, replica)


def test_a_busy_script_on_a_replica_leaves_it_read_only(cluster):
    # The fast path's table is derived from both the replica's gate and a busy
    # script (Dispatcher._refresh_table): leaving the busy state must not
    # hand writes back to the fast path on a replica.
    primary = cluster()
    replica = cluster("--busy-reply-threshold", "50")
    follow(replica, primary)
    in_sync(primary, replica)
    # (2 s: on a loaded machine the other client's PING may take a while to get in)
    spin = ("local s = redis.call('TIME') repeat local n = redis.call('TIME') "
            "until (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > 2000000 return 1")
    with replica.client() as c:
        runner = threading.Thread(target=c.eval, args=(spin, 0))
        runner.start()
        with replica.client() as other:
            wait_until(lambda: _busy(other), what="-BUSY while the script runs")
        runner.join()
        with pytest.raises(redis.ResponseError, match="read only replica"):
            c.set("k", "v")
        assert c.get("k") is None


def _busy(client) -> bool:
    try:
        client.ping()
    except redis.ResponseError as exc:
        return str(exc).startswith("BUSY")
    return False


def test_function_libraries_come_with_a_full_sync(cluster):
    primary, replica = cluster(), cluster()
    code = ("#!lua name=replib\n"
            "redis.register_function{function_name='rget', callback=function(keys, args) "
            "return redis.call('GET', keys[1]) end, flags={'no-writes'}}")
    with primary.client() as c:
        c.execute_command("FUNCTION", "LOAD", code)
        c.set("k", "v")
    follow(replica, primary)
    in_sync(primary, replica)
    with replica.client() as c:
        assert c.execute_command("FCALL_RO", "rget", 1, "k") == b"v"
