"""Replicas per shard (issue 14): `ringcache cluster up --replicas 1` on real
node processes (3 shards x 2 nodes, Raft among the three primaries): every
replica follows the primary the map names, is read-only, serves reads of
its shard's slots to READONLY sessions and redirects the rest; CLUSTER
SLOTS/SHARDS/NODES/REPLICAS show replicas with their offsets; redis-py
RedisCluster reads from replicas; `redis-cli --cluster check` passes; a
slot migration reaches the replicas of both shards; removing the last
replica of a shard is refused unless forced."""

from __future__ import annotations

import io
import subprocess
import time

import pytest
import redis
from redis.cluster import RedisCluster

from local import local_cluster
from ringcache.cluster import admin
from ringcache.storage.slots import key_slot

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    with local_cluster(tmp_path_factory.mktemp("pairs"), 3, "--enable-debug-command", "yes",
                       replicas=1, spare_ports=2) as cluster:
        yield cluster


def _until(predicate, timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _port(cmap, node_id: str) -> int:
    return cmap.member(node_id).port


def _digest(port: int) -> bytes:
    return admin.client(port).execute_command("DEBUG", "DIGEST")


def _caught_up(cmap) -> bool:
    """Every replica's dataset equals its primary's (DEBUG DIGEST)."""
    return all(_digest(_port(cmap, r)) == _digest(_port(cmap, s.primary))
               for s in cmap.shards for r in s.replicas)


def test_every_shard_has_a_replica_following_its_primary(pairs):
    assert "3 shards x 2 nodes" in pairs.output
    cmap = pairs.map()
    assert len(cmap.members) == 6 and len(cmap.shards) == 3
    for shard in cmap.shards:
        assert len(shard.replicas) == 1
        info = admin.client(_port(cmap, shard.replicas[0])).info("replication")
        assert info["role"] == "slave" and info["master_link_status"] == "up"
        assert info["master_port"] == _port(cmap, shard.primary)
        primary = admin.client(_port(cmap, shard.primary)).info("replication")
        assert primary["role"] == "master" and primary["connected_slaves"] == 1
    out = io.StringIO()
    admin.cluster_status(pairs.ports[0], out=out)
    assert out.getvalue().count("link up  offset ") == 3


def test_replies_show_replicas_with_offsets(pairs):
    cmap = pairs.map()
    rc = RedisCluster(host="127.0.0.1", port=pairs.ports[0], socket_timeout=10)
    try:
        for i in range(60):
            rc.set(f"offsets:{i}", i)
    finally:
        rc.close()
    c = pairs.client(4)  # a replica answers as well as a primary

    def listed() -> bool:
        return all(len(entry) == 4 for entry in c.execute_command("CLUSTER", "SLOTS"))

    _until(listed, what="every slot range to list its replica")
    for start, end, primary, replica in c.execute_command("CLUSTER", "SLOTS"):
        shard = cmap.owner(start)
        assert primary[1] == _port(cmap, shard.primary)
        assert replica[1] == _port(cmap, shard.replicas[0])
        assert replica[2].decode() == shard.replicas[0]

    def shard_nodes() -> list[list[dict]]:
        shards = c.execute_command("CLUSTER", "SHARDS")
        return [[dict(zip(n[::2], n[1::2])) for n in dict(zip(e[::2], e[1::2]))[b"nodes"]]
                for e in shards]

    assert len(shard_nodes()) == 3
    for nodes in shard_nodes():
        assert [n[b"role"] for n in nodes] == [b"master", b"replica"]
    # The offsets come with the heartbeats (every 250 ms): both nodes of a
    # shard report the same one once the replica has caught up.
    _until(lambda: all(n[b"health"] == b"online" and n[b"replication-offset"] > 0
                       and n[b"replication-offset"] == nodes[0][b"replication-offset"]
                       for nodes in shard_nodes() for n in nodes),
           what="CLUSTER SHARDS to show every node online with its primary's offset")
    nodes = c.execute_command("CLUSTER", "NODES").decode().splitlines()
    assert sum(" slave " in line or ",slave " in line for line in nodes) == 3
    for shard in cmap.shards:
        lines = pairs.client(0).execute_command("CLUSTER", "REPLICAS", shard.primary)
        assert len(lines) == 1
        fields = lines[0].decode().split()
        assert fields[0] == shard.replicas[0] and "slave" in fields[2]
        assert fields[3] == shard.primary and fields[7] == "connected"


def test_replica_reads_with_readonly_and_redirects_the_rest(pairs):
    cmap = pairs.map()
    shard = cmap.shards[0]
    primary = admin.client(_port(cmap, shard.primary))
    replica_port = _port(cmap, shard.replicas[0])
    start, _ = cmap.shard_ranges(shard.id)[0]
    mine = next(f"ro:{i}" for i in range(100000) if key_slot(f"ro:{i}".encode()) == start)
    other_slot = next(s for s in range(16384) if cmap.owner(s).id != shard.id)
    other = next(f"ro:{i}" for i in range(100000) if key_slot(f"ro:{i}".encode()) == other_slot)
    primary.set(mine, "v")
    primary.wait(1, 2000)
    c = redis.Redis(port=replica_port, single_connection_client=True)
    # (redis-py raises MovedError with the text after "MOVED ")
    moved = f"^{start} 127.0.0.1:{_port(cmap, shard.primary)}$"
    with pytest.raises(redis.exceptions.MovedError, match=moved):
        c.get(mine)  # no READONLY: redirected to the primary
    assert c.execute_command("READONLY") is True  # (+OK, as redis-py parses it)
    assert c.get(mine) == b"v"
    with pytest.raises(redis.exceptions.MovedError, match=moved):
        c.set(mine, "w")  # writes go to the primary, READONLY or not
    with pytest.raises(redis.exceptions.MovedError, match=f"^{other_slot} "):
        c.get(other)  # a slot of another shard
    assert c.execute_command("READWRITE") is True
    with pytest.raises(redis.exceptions.MovedError, match=moved):
        c.get(mine)
    with pytest.raises(redis.ResponseError, match="REPLICAOF not allowed in cluster mode"):
        c.execute_command("REPLICAOF", "NO", "ONE")


def test_redis_py_reads_from_replicas(pairs):
    cmap = pairs.map()
    rc = RedisCluster(host="127.0.0.1", port=pairs.ports[0], read_from_replicas=True,
                      socket_timeout=10)
    try:
        for i in range(100):
            rc.set(f"rfr:{i}", i)
        for port in (_port(cmap, s.primary) for s in cmap.shards):
            admin.client(port).wait(1, 2000)
        before = {_port(cmap, s.replicas[0]): admin.client(_port(cmap, s.replicas[0])).info(
            "commandstats").get("cmdstat_get", {}).get("calls", 0) for s in cmap.shards}
        for _ in range(3):
            assert [rc.get(f"rfr:{i}") for i in range(100)] == [str(i).encode() for i in range(100)]
        served = sum(admin.client(port).info("commandstats").get("cmdstat_get", {}).get("calls", 0)
                     - calls for port, calls in before.items())
        assert served > 0  # some reads were served by replicas
    finally:
        rc.close()


def test_redis_cli_cluster_check_with_replicas(pairs):
    done = subprocess.run(["redis-cli", "--cluster", "check", f"127.0.0.1:{pairs.ports[0]}"],
                          capture_output=True, text=True, timeout=60)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "[OK] All nodes agree about slots configuration." in out
    assert "[OK] All 16384 slots covered." in out
    assert "[ERR]" not in out and "[WARNING]" not in out
    assert out.count("slots: (0 slots) slave") == 3 and out.count("1 additional replica(s)") == 3


def test_migration_reaches_both_shards_replicas(pairs):
    """A new shard with a replica, then a rebalance under the keys written
    before: the target's replica gets the imported keys (through the
    target's write stream), the sources' replicas drop the moved ones."""
    rc = RedisCluster(host="127.0.0.1", port=pairs.ports[0], socket_timeout=10)
    try:
        pipe = rc.pipeline()
        for i in range(2000):
            pipe.set(f"move:{i}", i)
            if i % 3 == 0:
                pipe.expire(f"move:{i}", 1000)
        pipe.execute()
        out = io.StringIO()
        port = admin.add_node(pairs.dir, rebalance_after=False, out=out)
        node_id = next(m.id for m in pairs.map().members if m.port == port)
        admin.add_node(pairs.dir, replica_of=node_id, out=out)
        admin.rebalance(pairs.ports[0], timeout=60, out=out)
        cmap = pairs.map()
        new = cmap.shard_of(node_id)
        assert cmap.slot_counts()[new.id] > 3000 and len(new.replicas) == 1
        assert admin.client(port).dbsize() > 0
        for shard in cmap.shards:  # the sources' clean-up reaches their replicas
            _until(lambda: sum(admin.client(_port(cmap, s.primary)).dbsize()
                               for s in cmap.shards) >= 2000, what="the clean-up")
        _until(lambda: _caught_up(cmap), what="replicas to match their primaries")
        assert sum(admin.client(_port(cmap, s.primary)).dbsize() for s in cmap.shards) == sum(
            admin.client(_port(cmap, s.replicas[0])).dbsize() for s in cmap.shards)
        assert [rc.get(f"move:{i}") for i in range(0, 2000, 97)] == [
            str(i).encode() for i in range(0, 2000, 97)]
        replica = redis.Redis(port=_port(cmap, new.replicas[0]), single_connection_client=True)
        replica.execute_command("READONLY")
        ttls = [replica.ttl(k) for k in replica.keys("move:*")
                if int(k.split(b":")[1]) % 3 == 0]
        assert ttls and all(900 < t <= 1000 for t in ttls)  # TTLs travelled to the replica
    finally:
        rc.close()


def test_last_replica_is_removed_only_with_force(pairs):
    cmap = pairs.map()
    shard = next(s for s in cmap.shards if cmap.slot_counts()[s.id])
    replica = shard.replicas[0]
    with pytest.raises(Exception, match="last replica of shard"):
        admin.remove_node(pairs.ports[0], replica, out=io.StringIO())
    assert pairs.map().shard(shard.id).replicas == (replica,)
    done = subprocess.run([admin.sys.executable, "-m", "ringcache", "cluster", "remove-node",
                           "--port", str(pairs.ports[0]), replica],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "last replica" in done.stderr
    admin.remove_node(pairs.ports[0], replica, out=io.StringIO(), force=True)
    after = pairs.map()
    assert after.member(replica) is None and after.shard(shard.id).replicas == ()
