"""Epochs on replication links (issue 15: "nodes refuse replication streams
from an older epoch"). A cluster replica tells its primary the shard epoch
of its map (`REPLCONF shard-epoch E`) and refuses a primary whose own shard
epoch is older: here a node that answers at the address of the shard's dead
primary with a map of its own (an old primary back with a stale map would
answer the same way). Without the check the replica would full-sync from it
and drop every key it holds. The real primary, back on its port, is
followed again."""

from __future__ import annotations

import os
import re
import signal

import pytest
import redis

from local import local_cluster, until as _until
from nodes import Node, spawn, wait_ready
from ringcache.cluster import admin

pytestmark = pytest.mark.timeout(60)


def test_a_replica_refuses_a_primary_with_an_older_shard_epoch(tmp_path):
    # One shard, one replica: both are the Raft voters, so with the primary
    # dead nobody can be promoted and the replica keeps its map, which names
    # the dead primary's address.
    with local_cluster(tmp_path, 1, replicas=1) as cluster:
        # The shard goes through a few more epochs (the ring's map stored
        # again while the cluster is empty: nothing moves) than the
        # stranger's below will have.
        for _ in range(2):
            admin.update_map(cluster.client(), lambda m: m.with_ring_slots())
        cmap = cluster.map()
        shard = cmap.shards[0]
        primary = cmap.member(shard.primary)
        replica = cmap.member(shard.replicas[0])
        p = admin.client(primary.port)
        for i in range(100):
            p.set(f"k{i}", i)
        r = admin.client(replica.port)
        _until(lambda: r.dbsize() == 100, 15, "the replica to have every key")
        info = r.info("replication")
        assert info["master_link_status"] == "up"
        _until(lambda: r.info("replication")["master_shard_epoch"] == shard.epoch, 10,
               "the primary to announce the shard's epoch on the stream")
        assert shard.epoch > 2
        # (A refusal or two may already have happened while the maps above
        # reached the primary after the replica: it is tried again soon.)
        refused = info["master_stale_epoch_refusals"]

        os.kill(int(cluster.state["pids"][str(primary.port)]), signal.SIGKILL)
        _until(lambda: r.info("replication")["master_link_status"] == "down", 15,
               "the replica to see its primary gone")
        # Another cluster's node at the primary's address: a one-node cluster
        # whose shard epoch (3: joined, shard added, slots assigned) is older
        # than this one's.
        other = tmp_path / "other"
        other.mkdir()
        proc, log = spawn(["--port", str(primary.port), "--cluster-enabled", "yes",
                           "--save", ""], other)
        stranger = Node(proc, wait_ready(proc, log), log)
        try:
            _until(lambda: b"cluster_state:ok" in stranger.client().execute_command(
                "CLUSTER", "INFO"), 15, "the stranger's one-node cluster")
            theirs = admin.read_map(stranger.client()).shards[0].epoch
            assert theirs < shard.epoch
            _until(lambda: r.info("replication")["master_stale_epoch_refusals"] > refused, 15,
                   "the replica to refuse the stranger")
            info = r.info("replication")
            assert info["master_link_status"] == "down"
            assert info["master_shard_epoch"] == theirs
            assert r.dbsize() == 100  # no full sync from the empty stranger
            node_log = (cluster.dir / str(replica.port) / "node.log").read_text()
            assert "Refusing to replicate from MASTER" in node_log
            # (the replica's own map may be one epoch behind the one read above:
            # a voter applies a commit a tick after the leader)
            refusal = re.search(rf"its shard epoch {theirs} is older than epoch (\d+)", node_log)
            assert refusal and theirs < int(refusal.group(1)) <= shard.epoch
            assert stranger.client().info("replication")["connected_slaves"] == 0
        finally:
            stranger.stop()

        # The real primary back on its port (its keys are gone: no AOF here,
        # but its map and epochs are in its Raft journal): followed again.
        cluster.state["pids"][str(primary.port)] = admin.start_node(
            cluster.dir, primary.port, cluster.state, cluster.state.get("extra", []))
        _until(lambda: r.info("replication")["master_link_status"] == "up", 30,
               "the replica to follow its primary again")
        assert r.info("replication")["master_shard_epoch"] >= shard.epoch


def test_only_a_cluster_node_answers_the_shard_epoch(tmp_path):
    # Outside cluster mode the option is unknown, with Redis's error text
    # (redis-server answers the same), so a replica treats that primary as
    # having no epoch; a cluster node answers its shard's config epoch.
    from nodes import start_node

    with start_node(tmp_path, "--cluster-enabled", "no") as plain:
        with pytest.raises(redis.ResponseError, match="^Unrecognized REPLCONF option: shard-epoch$"):
            plain.client().execute_command("REPLCONF", "shard-epoch", "1")
    (tmp_path / "c").mkdir()
    with start_node(tmp_path / "c", "--cluster-enabled", "yes") as node:
        c = node.client()
        _until(lambda: b"cluster_state:ok" in c.execute_command("CLUSTER", "INFO"), 15,
               "the one-node cluster")
        epoch = admin.read_map(c).shards[0].epoch
        assert c.execute_command("REPLCONF", "shard-epoch", "1") == epoch
        with pytest.raises(redis.ResponseError, match="not an integer"):
            c.execute_command("REPLCONF", "shard-epoch", "x")
