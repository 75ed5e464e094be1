"""A whole cluster stopped and started again (issues 14 and 15): every node
of a `cluster up --shards 3 --replicas 1` cluster with an append-only file
is stopped (SIGTERM, or kill -9) and started again on the same ports from
the same directories. The map comes back from the voters' Raft journals with
its epochs (nodes keep the highest epoch they applied and would refuse an
older one), every acknowledged key comes back from the AOFs, and the
cluster takes writes again, within a bound."""

from __future__ import annotations

import io
import os
import signal
import time

import pytest
import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from local import local_cluster, until as _until
from ringcache.cluster import admin

pytestmark = pytest.mark.timeout(60)

KEYS = 300




def _cluster_client(port: int) -> RedisCluster:
    return RedisCluster(host="127.0.0.1", port=port, socket_timeout=10,
                        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 10))


def _in_sync(cluster) -> bool:
    """Every replica has everything its primary wrote (offsets equal)."""
    cmap = cluster.map()
    for shard in cmap.shards:
        primary = cmap.member(shard.primary)
        offset = admin.client(primary.port).info("replication")["master_repl_offset"]
        for replica_id in shard.replicas:
            replica = cmap.member(replica_id)
            info = admin.client(replica.port).info("replication")
            if info.get("master_link_status") != "up" or info["slave_repl_offset"] < offset:
                return False
    return True


@pytest.mark.parametrize("how", ["sigterm", "kill-9"])
def test_a_whole_cluster_restart_keeps_the_map_and_the_keys(tmp_path, how):
    with local_cluster(tmp_path, 3, "--appendonly", "yes", replicas=1) as cluster:
        before = cluster.map()
        assert before.epoch > 0 and len(before.shards) == 3
        rc = _cluster_client(cluster.ports[0])
        try:
            for i in range(KEYS):
                assert rc.set(f"restart:{i}", i)
        finally:
            rc.close()
        # Both copies of every key: whichever node of a shard comes back as
        # its primary has them all.
        _until(lambda: _in_sync(cluster), 15, "the replicas to catch up")
        seen = {port: admin.client(port).execute_command("CLUSTER", "INFO")
                for port in cluster.ports}
        assert all(b"cluster_state:ok" in text for text in seen.values())

        started = time.monotonic()
        if how == "sigterm":
            admin.cluster_stop(cluster.dir, out=io.StringIO())
        else:
            for pid in cluster.state["pids"].values():
                os.kill(int(pid), signal.SIGKILL)
            _until(lambda: not any(admin._alive(int(p)) for p in cluster.state["pids"].values()),
                   10, "every node to die")
        out = io.StringIO()
        cluster.state.update(admin.cluster_start(cluster.dir, timeout=40, out=out))
        took = time.monotonic() - started
        print(f"\n{how}: stopped and serving again in {took:.1f} s: {out.getvalue().strip()}")

        after = cluster.map()
        # The same cluster: the same members, shards and slots, and no epoch
        # went back (a restart may add epochs, e.g. a promotion, never lose one).
        assert after.epoch >= before.epoch
        assert {m.id for m in after.members} == {m.id for m in before.members}
        assert {s.id for s in after.shards} == {s.id for s in before.shards}
        assert after.slot_counts() == before.slot_counts()
        for port in cluster.ports:
            info = admin.client(port).execute_command("CLUSTER", "INFO").decode()
            assert "cluster_state:ok" in info
            assert int(info.split("cluster_current_epoch:")[1].split()[0]) >= before.epoch

        rc = _cluster_client(cluster.ports[0])
        try:
            missing = [i for i in range(KEYS) if rc.get(f"restart:{i}") != str(i).encode()]
            assert missing == []
            # Writes work again (a restarted primary takes writes once it has
            # its first lease: cluster clients retry CLUSTERDOWN meanwhile).
            for i in range(50):
                assert rc.set(f"after:{i}", i)
            assert rc.get("after:49") == b"49"
        finally:
            rc.close()
        assert took < 45


def _start(cluster, port: int) -> None:
    cluster.state["pids"][str(port)] = admin.start_node(cluster.dir, port, cluster.state,
                                                        cluster.state.get("extra", []))
    admin.save_state(cluster.dir, cluster.state)  # (so that `down` stops it)


@pytest.mark.timeout(90)
def test_a_voter_that_missed_a_failover_and_nodes_back_in_another_order(tmp_path):
    """One voter (a primary) is stopped and the others move on without it
    (its replica is promoted); then every node stops and they come back in
    reverse order, replicas first and the voter that missed the failover
    last. It catches up from the others' log, comes back as a replica of the
    node promoted in its place, and nothing acknowledged is lost."""
    with local_cluster(tmp_path, 3, "--appendonly", "yes", replicas=1) as cluster:
        rc = _cluster_client(cluster.ports[0])
        try:
            for i in range(KEYS):
                assert rc.set(f"order:{i}", i)
        finally:
            rc.close()
        _until(lambda: _in_sync(cluster), 15, "the replicas to catch up")
        before = cluster.map()
        voter = cluster.ports[2]  # a voter and a primary
        voter_id = next(m.id for m in before.members if m.port == voter)
        shard = before.shard_of(voter_id)
        os.kill(int(cluster.state["pids"][str(voter)]), signal.SIGTERM)
        _until(lambda: cluster.map().shard(shard.id).primary != voter_id, 20,
               "the stopped voter's replica to be promoted")
        moved_on = cluster.map()
        rc = _cluster_client(cluster.ports[0])
        try:
            for i in range(KEYS, KEYS + 50):  # written while the voter is away
                assert rc.set(f"order:{i}", i)
        finally:
            rc.close()
        admin.cluster_stop(cluster.dir, out=io.StringIO())

        started = time.monotonic()
        for port in reversed(cluster.ports):
            _start(cluster, port)
            time.sleep(0.3)
        ports = cluster.ports
        _until(lambda: admin.serving_everywhere(ports, moved_on.epoch), 40,
               "every node to serve again")
        _until(lambda: admin.replicas_synced(ports), 30, "every replica to sync")
        print(f"\nback in reverse order, serving in {time.monotonic() - started:.1f} s")
        after = cluster.map()
        assert after.epoch >= moved_on.epoch
        assert after.shard(shard.id).primary != voter_id
        assert voter_id in after.shard(shard.id).replicas
        info = admin.client(voter).info("replication")
        assert info["role"] == "slave" and info["master_link_status"] == "up"
        rc = _cluster_client(cluster.ports[0])
        try:
            missing = [i for i in range(KEYS + 50) if rc.get(f"order:{i}") != str(i).encode()]
            assert missing == []
            assert rc.set("order:after", 1)
        finally:
            rc.close()
