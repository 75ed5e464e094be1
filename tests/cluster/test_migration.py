"""Live slot migration on real processes: a node joins a two-shard cluster
and `ringcache cluster add-node` rebalances while a writer records every
acknowledged write; then remove-node drains it again. Nothing acknowledged
is lost, every key is served by exactly one node (the copies left behind
are cleaned up), TTLs and container values travel."""

from __future__ import annotations

import io
import threading
import time

import redis
from redis.cluster import RedisCluster

from local import local_cluster
from ringcache.cluster import admin
from ringcache.storage.slots import key_slot


class Writer(threading.Thread):
    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.rc = RedisCluster(host="127.0.0.1", port=port, socket_timeout=10)
        self.acked: list[bytes] = []
        self.stop = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            key = b"w:%d" % i
            i += 1
            try:
                self.rc.set(key, key)
                self.rc.incr(b"counter:{%d}" % (i % 50))
            except redis.RedisError as exc:
                self.errors.append(repr(exc))
                continue
            self.acked.append(key)


def _settled(ports: list[int], cmap) -> bool:
    """Every node holds only keys of slots its shard owns."""
    for port in ports:
        c = admin.client(port, timeout=2)
        member = next(m for m in cmap.members if m.port == port)
        shard = cmap.shard_of(member.id)
        for key in c.scan_iter(count=1000):
            owner = cmap.owner(key_slot(key))
            if owner is None or shard is None or owner.id != shard.id:
                return False
    return True


def test_add_and_remove_node_under_writes(tmp_path):
    with local_cluster(tmp_path, 2) as cluster:
        rc = RedisCluster(host="127.0.0.1", port=cluster.ports[0], socket_timeout=10)
        pipe = rc.pipeline()
        for i in range(3000):
            pipe.set(b"pre:%d" % i, b"v%d" % i)
        pipe.execute()
        rc.hset("hash:{h}", mapping={"a": "1", "b": "2"})
        rc.rpush("list:{l}", "x", "y", "z")
        rc.set("ttl:{t}", "soon", px=600_000)
        writer = Writer(cluster.ports[1])
        writer.start()
        time.sleep(0.5)
        out = io.StringIO()
        port = admin.add_node(cluster.dir, timeout=120, out=out)
        cmap = cluster.map()
        assert len(cmap.shards) == 3 and not cmap.migrations
        assert cmap.assigned_slots() == 16384
        new_shard = next(s for s in cmap.shards if cmap.member(s.primary).port == port)
        assert cmap.slot_counts()[new_shard.id] > 4000  # about a third came to it
        time.sleep(0.5)
        writer.stop.set()
        writer.join(30)
        assert not writer.errors, writer.errors[:3]
        assert len(writer.acked) > 100
        values = rc.mget_nonatomic(writer.acked)
        assert [k for k, v in zip(writer.acked, values) if v != k] == []
        assert rc.mget_nonatomic([b"pre:%d" % i for i in range(3000)]) == [
            b"v%d" % i for i in range(3000)]
        assert rc.hgetall("hash:{h}") == {b"a": b"1", b"b": b"2"}
        assert rc.lrange("list:{l}", 0, -1) == [b"x", b"y", b"z"]
        assert 590_000 < rc.pttl("ttl:{t}") <= 600_000
        ports = admin.load_state(cluster.dir)["ports"]
        admin.wait_for(lambda: _settled(ports, cluster.map()), 20, "the clean-up")
        total = sum(admin.client(p).dbsize() for p in ports)
        assert total == 3000 + 3 + len(writer.acked) + 50

        # Drain the new node again: its slots go back, nothing is lost.
        new_id = new_shard.primary
        admin.remove_node(cluster.ports[0], new_id, timeout=120, out=io.StringIO())
        cmap = cluster.map()
        assert cmap.member(new_id) is None and len(cmap.shards) == 2
        assert cmap.assigned_slots() == 16384
        rc2 = RedisCluster(host="127.0.0.1", port=cluster.ports[0], socket_timeout=10)
        assert rc2.mget_nonatomic([b"pre:%d" % i for i in range(3000)]) == [
            b"v%d" % i for i in range(3000)]
        assert rc2.hgetall("hash:{h}") == {b"a": b"1", b"b": b"2"}
        values = rc2.mget_nonatomic(writer.acked)
        assert [k for k, v in zip(writer.acked, values) if v != k] == []
        rc.close()
        rc2.close()


def test_cancelled_migration_leaves_the_source_serving(tmp_path):
    """A migration whose target is gone fails; the source keeps its slots
    and serves them; the map holds no migration afterwards. (Three shards:
    Raft among two voters has no majority with one of them stopped.)"""
    with local_cluster(tmp_path, 3) as cluster:
        cmap = cluster.map()
        source, target = cmap.shards[0], cmap.shards[1]
        start, end = cmap.shard_ranges(source.id)[0]
        source_port = cmap.member(source.primary).port
        c = admin.client(source_port)  # (not the target: it will be stopped)
        key = next(b"k%d" % i for i in range(100000) if start <= key_slot(b"k%d" % i) <= end)
        admin.client(source_port).set(key, b"stays")
        # The target's primary stops: the source cannot reach it.
        target_port = cmap.member(target.primary).port
        pid = admin.load_state(cluster.dir)["pids"][str(target_port)]
        import os
        import signal

        os.kill(pid, signal.SIGSTOP)
        try:
            admin.update_map(c, lambda m: m.start_migration(source.id, target.id,
                                                            [(start, end)])[0])
            admin.wait_for(lambda: not admin.read_map(c).migrations, 30, "the migration to fail")
        finally:
            os.kill(pid, signal.SIGCONT)
        after = admin.read_map(c)
        assert after.owner(key_slot(key)).id == source.id
        assert admin.client(source_port).get(key) == b"stays"


def test_tracking_clients_drop_keys_whose_slot_moved(tmp_path):
    """A client caching keys read from a node (CLIENT TRACKING, RESP3) is told
    to drop those whose slot moved to another node."""
    from support import RawConn

    with local_cluster(tmp_path, 2, spare_ports=1) as cluster:
        rc = RedisCluster(host="127.0.0.1", port=cluster.ports[0], socket_timeout=10)
        before = cluster.map()
        port = cluster.ports[0]
        mine = [b"t:%d" % i for i in range(400)
                if before.primary_of_slot(key_slot(b"t:%d" % i)).port == port]
        for key in mine:
            rc.set(key, b"v")

        class At:
            host = "127.0.0.1"

        At.port = port
        conn = RawConn(At, protocol=3)
        conn.send("CLIENT", "TRACKING", "ON")
        assert conn.read_reply() == b"+OK\r\n"
        for key in mine:
            conn.send("GET", key)
            assert conn.read_reply() == b"$1\r\nv\r\n"
        admin.add_node(cluster.dir, timeout=120, out=io.StringIO())
        after = cluster.map()
        moved = {k for k in mine if after.primary_of_slot(key_slot(k)).port != port}
        assert moved  # the ring moves about a third of this node's slots
        told: set[bytes] = set()
        deadline = time.monotonic() + 20
        while not moved <= told and time.monotonic() < deadline:
            push = conn.read_reply()  # >2 $10 invalidate *N $k ...
            assert push.startswith(b">2\r\n$10\r\ninvalidate\r\n"), push
            told.update(part for part in push.split(b"\r\n") if part.startswith(b"t:"))
        assert moved <= told
        assert told <= set(mine) and not (told - moved)  # keys that stayed are not dropped
        conn.close()


def test_migration_whose_target_dies_halfway_keeps_the_source_serving(tmp_path):
    """The target's primary is killed (-9) after it stored part of the slots:
    the migration fails, the source keeps owning and serving every key of
    them, and the third shard is unaffected."""
    import os
    import signal

    with local_cluster(tmp_path, 3) as cluster:
        cmap = cluster.map()
        source, target, bystander = cmap.shards
        ranges = cmap.shard_ranges(source.id)[:8]
        moving = {slot for start, end in ranges for slot in range(start, end + 1)}
        source_port = cmap.member(source.primary).port
        c = admin.client(source_port)
        keys = [k for k in (b"k%d" % i for i in range(400000)) if key_slot(k) in moving][:4000]
        assert len(keys) > 1000, "the source's first ranges are too small for this test"
        value = b"v" * 4096  # (16 MB in all: the transfer outlasts the polling below)
        pipe = c.pipeline(transaction=False)
        for key in keys:
            pipe.set(key, key + value)
        pipe.execute()
        target_port = cmap.member(target.primary).port
        target_client = admin.client(target_port)
        pid = admin.load_state(cluster.dir)["pids"][str(target_port)]
        before = target_client.dbsize()
        admin.update_map(c, lambda m: m.start_migration(source.id, target.id, ranges)[0])
        try:
            # Halfway: the target has stored some of the keys (or the stream is
            # under way); stop it there, then kill it.
            deadline = time.monotonic() + 30
            while target_client.dbsize() == before and time.monotonic() < deadline:
                pass  # (no sleep: stop it as soon as the first keys are there)
            os.kill(pid, signal.SIGSTOP)
            assert admin.read_map(c).migrations, "the migration finished before the target stopped"
        finally:
            os.kill(pid, signal.SIGKILL)
        admin.wait_for(lambda: not admin.read_map(c).migrations, 30, "the migration to fail")
        after = admin.read_map(c)
        assert after.owner(key_slot(keys[0])).id == source.id
        pipe = c.pipeline(transaction=False)
        for key in keys:
            pipe.get(key)
        assert [k for k, v in zip(keys, pipe.execute()) if v != k + value] == []
        assert c.dbsize() >= len(keys)
        other = admin.client(cmap.member(bystander.primary).port)
        b_start, _ = cmap.shard_ranges(bystander.id)[0]
        b_key = next(b"b%d" % i for i in range(400000) if key_slot(b"b%d" % i) == b_start)
        assert other.set(b_key, b"ok") and other.get(b_key) == b"ok"
