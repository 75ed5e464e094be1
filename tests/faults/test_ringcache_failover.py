"""Faults on a real ringcache cluster (3 shards x 1 replica, issue 15's
failover), through the harness: clients write through redis-py
RedisCluster, each write followed by WAIT 1 100; afterwards every
acknowledged write is read back.

- kill -9 of a primary: writes to its slots resume within a bound, no write
  a replica acknowledged (WAIT 1 said so) is lost, no read went backwards
  beyond what the lost unreplicated writes explain.
- a primary cut off from the other nodes while its clients still reach it
  (network namespaces, root only): it takes no write begun after its lease
  ran out, and no replicated write is lost.

Bounds are generous (a loaded 2-core machine); the figures themselves come
from benchmarks/failover.py."""

from __future__ import annotations

import time

import pytest

from faults.backends import RingcacheCluster
from faults.netns import Loopback, Namespaces, can_use_namespaces
from faults.trial import run_trial
from local import free_base

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def loopback_cluster(tmp_path):
    backend = RingcacheCluster(tmp_path, Loopback(6), free_base(6), shards=3, replicas=1)
    try:
        backend.start()
        yield backend
    finally:
        backend.stop()


def test_kill_primary_writes_resume_and_replicated_writes_survive(loopback_cluster):
    r = run_trial(loopback_cluster, "kill-primary", seed=1, window=20)
    assert r.recovered, r
    assert r.unavailability < 8.0, r  # target 2 s; slack for a loaded machine
    assert r.acked > 200 and r.acked_replicated > 100, r
    assert r.lost_replicated == 0, r.examples


@pytest.mark.skipif(can_use_namespaces() is not None,
                    reason=f"partition test: {can_use_namespaces()}")
def test_partitioned_primary_takes_no_write_after_its_lease(tmp_path):
    net = Namespaces(6)
    backend = RingcacheCluster(tmp_path, net, free_base(6), shards=3, replicas=1)
    try:
        backend.start()
        r = run_trial(backend, "partition-primary", seed=2, window=20)
    finally:
        backend.stop()
        net.close()
    assert r.recovered, r
    assert r.late_acked == 0, r
    assert r.lost_replicated == 0, r.examples


def test_restarted_old_primary_can_be_promoted_again(loopback_cluster):
    """kill -9 primary P (a voter), its replica R takes over, P is started
    again and follows R; then kill -9 R: P must be promoted."""
    backend = loopback_cluster
    p = backend.nodes[1]  # a primary and a Raft voter
    r = backend.node(backend.topology().replicas_of(p.addr)[0])
    p.kill()
    wait_until(lambda: r.addr in backend.topology().primaries, 20, "R to be promoted")
    p.start()
    backend.wait_healthy(60, full=False)  # P follows R, in sync
    r.kill()
    wait_until(lambda: p.addr in backend.topology().primaries, 20, "P to be promoted again")


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
