"""The Raft control plane (PySyncObj) with three members in this process, on
loopback ports: the same interface as the local one, decided by a majority.

Raft's timers are real (PySyncObj has no injectable clock), so these tests
wait for elections and replication with bounded polls; elections are made
short (0.15-0.3 s) to keep the module to a few seconds.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from ringcache.cluster.controlplane import ControlPlane
from ringcache.cluster.controlplane.base import UnavailableError
from ringcache.cluster.controlplane.raft import RaftControlPlane
from ringcache.cluster.topology import ClusterMap, Member

FAST = {"raftMinTimeout": 0.15, "raftMaxTimeout": 0.3, "appendEntriesPeriod": 0.03,
        "connectionRetryTime": 0.2, "connectionTimeout": 0.5}


def member(i: int) -> Member:
    return Member("%040x" % (i + 1), "127.0.0.1", 7000 + i, 17000 + i)


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def planes():
    addresses = [f"127.0.0.1:{p}" for p in free_ports(3)]
    made = [RaftControlPlane(a, [b for b in addresses if b != a], "s3cret",
                             commit_timeout=5.0, **FAST) for a in addresses]
    yield made
    for plane in made:
        plane.close()


def test_a_password_is_required():
    with pytest.raises(ValueError, match="needs a password"):
        RaftControlPlane("127.0.0.1:1", [], "")


def test_writes_from_any_member_reach_every_member_in_order(planes):
    assert all(isinstance(p, ControlPlane) for p in planes)
    seen: list[list[int]] = [[] for _ in planes]
    for plane, log in zip(planes, seen):
        plane.watch(lambda m, log=log: log.append(m.epoch), after_epoch=0)
    for i, plane in enumerate(planes):  # followers forward to the leader
        plane.update(lambda m, i=i: m.add_member(member(i)))
    wait_for(lambda: all(p.current().epoch == 3 for p in planes))
    assert planes[0].current() == planes[1].current() == planes[2].current()
    assert {m.id for m in planes[2].current().members} == {member(i).id for i in range(3)}
    wait_for(lambda: all(log == [1, 2, 3] for log in seen))
    leaders = {p.leader() for p in planes}
    assert len(leaders) == 1 and sum(p.is_leader() for p in planes) == 1


def test_of_two_racing_writers_exactly_one_wins(planes):
    planes[0].update(lambda m: m.add_member(member(0)))
    wait_for(lambda: all(p.current().epoch == 1 for p in planes))
    base = planes[0].current()
    results = [None, None]

    def write(i: int) -> None:
        results[i] = planes[i + 1].compare_and_set(1, base.add_member(member(10 + i)))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    wait_for(lambda: all(p.current().epoch == 2 for p in planes))
    assert len({p.current() for p in planes}) == 1


def test_a_watcher_may_write(planes):
    done = threading.Event()

    def react(cmap: ClusterMap) -> None:
        if cmap.epoch == 1:
            planes[1].update(lambda m: m.add_member(member(5)))
            done.set()

    planes[1].watch(react, after_epoch=0)
    planes[0].update(lambda m: m.add_member(member(4)))
    assert done.wait(10)
    wait_for(lambda: all(p.current().epoch == 2 for p in planes))


def test_heartbeats_reach_every_member(planes):
    planes[0].update(lambda m: m.add_member(member(0)))  # a leader exists
    planes[2].heartbeat(member(0).id, {"offset": 7})
    wait_for(lambda: all(member(0).id in p.heartbeats() for p in planes))
    assert planes[0].heartbeats()[member(0).id].payload == {"offset": 7}
    assert planes[1].silent_nodes(60_000) == []


def test_a_majority_keeps_deciding_and_a_minority_cannot(planes):
    planes[0].update(lambda m: m.add_member(member(0)))
    wait_for(lambda: all(p.current().epoch == 1 for p in planes))
    gone = str(planes[2]._raft.selfNode)
    planes[2].close()
    # If the closed member led, the other two elect a leader first: under a
    # loaded machine that can take longer than one write's timeout.
    wait_for(lambda: planes[0].leader() not in (None, gone) and planes[1].leader() not in (None, gone))
    planes[0].update(lambda m: m.add_member(member(1)))  # two of three: still a majority
    planes[1].close()
    alone = planes[0]
    alone._timeout = 1.0  # not 5 s: the fixture's timeout suits the writes that succeed
    with pytest.raises(UnavailableError, match="did not decide"):
        alone.compare_and_set(2, alone.current().add_member(member(2)))


def test_a_member_without_the_password_learns_nothing():
    addresses = [f"127.0.0.1:{p}" for p in free_ports(3)]
    passwords = ["s3cret", "s3cret", "guess"]
    made = [RaftControlPlane(a, [b for b in addresses if b != a], pw, commit_timeout=5.0, **FAST)
            for a, pw in zip(addresses, passwords)]
    try:
        made[0].update(lambda m: m.add_member(member(0)))
        wait_for(lambda: made[1].current().epoch == 1)
        time.sleep(1.0)  # ~30 replication rounds: it would have the map by now
        assert made[2].current().epoch == 0 and made[2].leader() is None
    finally:
        for plane in made:
            plane.close()


def test_a_late_member_catches_up_from_a_snapshot(monkeypatch):
    # Compaction after every few entries: the third member, started late,
    # gets the state as a snapshot (_Store._deserialize), not as log entries.
    from ringcache.cluster.controlplane import raft
    snapshots = []
    original = raft._Store._deserialize

    def spy(store, data):
        snapshots.append(data["epoch"])
        original(store, data)

    monkeypatch.setattr(raft._Store, "_deserialize", spy)
    addresses = [f"127.0.0.1:{p}" for p in free_ports(3)]
    options = dict(FAST, logCompactionMinEntries=2, logCompactionMinTime=0.01)

    def start(a: str) -> RaftControlPlane:
        return RaftControlPlane(a, [b for b in addresses if b != a], "s3cret",
                                commit_timeout=5.0, **options)

    made = [start(a) for a in addresses[:2]]
    try:
        for i in range(6):
            made[i % 2].update(lambda m, i=i: m.add_member(member(i)))
        late = start(addresses[2])
        made.append(late)
        seen: list[int] = []
        late.watch(lambda m: seen.append(m.epoch), after_epoch=0)
        wait_for(lambda: late.current().epoch == 6)
        assert late.current() == made[0].current()
        assert snapshots and snapshots[-1] >= 4
        wait_for(lambda: seen and seen[-1] == 6)
        late.update(lambda m: m.add_member(member(9)))  # and it takes part afterwards
        wait_for(lambda: all(p.current().epoch == 7 for p in made))
    finally:
        for plane in made:
            plane.close()


def _journaled(tmp_path, addresses, **options):
    return [RaftControlPlane(a, [b for b in addresses if b != a], "s3cret", commit_timeout=5.0,
                             journal_path=str(tmp_path / f"raft-{i}"), **{**FAST, **options})
            for i, a in enumerate(addresses)]


def test_the_map_survives_a_restart_of_every_member(tmp_path):
    # Every member stops at once and starts again from its journal: the map
    # and its epochs are back (without the journal the plane would start at
    # epoch 0 and nodes, which remember the epochs they saw, refuse it).
    # Compaction after a few entries, so the dump and the journal after it
    # are both read back.
    addresses = [f"127.0.0.1:{p}" for p in free_ports(3)]
    options = {"logCompactionMinEntries": 3, "logCompactionMinTime": 0.05}
    made = _journaled(tmp_path, addresses, **options)
    try:
        for i in range(8):
            made[i % 3].update(lambda m, i=i: m.add_member(member(i)))
            made[0].renew(member(0).id, {"offset": i}, timeout=5.0)
        wait_for(lambda: all(p.current().epoch == 8 for p in made))
        before = made[0].current()
        counted = 8
        # (every member applied the last heartbeat: a follower learns of its
        # commit an append after the leader)
        wait_for(lambda: all(member(0).id in p.heartbeats()
                             and p.heartbeats()[member(0).id].count == counted for p in made))
    finally:
        for plane in made:
            plane.close()
    assert (tmp_path / "raft-0.dump").exists()
    again = _journaled(tmp_path, addresses, **options)
    try:
        wait_for(lambda: all(p.current() == before for p in again))
        wait_for(lambda: all(p.ready() for p in again))
        # The replayed heartbeats are counted (a promotion's guard needs the
        # count) but stamped as never heard: node 0 is silent until it beats.
        wait_for(lambda: all(member(0).id in p.heartbeats()
                             and p.heartbeats()[member(0).id].count == counted for p in again))
        for plane in again:
            assert plane.silent_nodes(60_000, [member(0).id]) == [member(0).id]
        again[1].renew(member(0).id, {"offset": 99}, timeout=5.0)
        wait_for(lambda: all(p.silent_nodes(60_000, [member(0).id]) == [] for p in again))
        assert again[2].heartbeats()[member(0).id].count == counted + 1
        again[2].update(lambda m: m.add_member(member(20)))  # and it goes on deciding
        wait_for(lambda: all(p.current().epoch == 9 for p in again))
    finally:
        for plane in again:
            plane.close()


def test_heartbeats_do_not_grow_the_journal_without_bound(tmp_path):
    addresses = [f"127.0.0.1:{p}" for p in free_ports(3)]
    made = _journaled(tmp_path, addresses, logCompactionMinEntries=50,
                      logCompactionMinTime=1000)
    try:
        made[0].update(lambda m: m.add_member(member(0)))
        for _ in range(300):
            made[1].heartbeat(member(0).id, {})
        wait_for(lambda: made[0].heartbeats().get(member(0).id) is not None
                 and made[0].heartbeats()[member(0).id].count == 300)
        # Every member compacted: its log holds at most the threshold's
        # entries (plus the few since), not the 300 heartbeats.
        wait_for(lambda: all(p._raft.getStatus()["log_len"] <= 60 for p in made))
    finally:
        for plane in made:
            plane.close()
