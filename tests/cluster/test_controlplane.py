"""The control plane interface on its in-process backend (LocalControlPlane):
compare-and-set on the map epoch, watches in epoch order, heartbeats on an
injected clock, persistence across restarts."""

from __future__ import annotations

import threading

import pytest

from ringcache.cluster.controlplane import ConflictError, ControlPlane, LocalControlPlane
from ringcache.cluster.topology import ClusterMap, MapError, Member
from ringcache.storage.clock import ManualClock


def member(i: int) -> Member:
    return Member("%040x" % (i + 1), "127.0.0.1", 7000 + i, 17000 + i)


def test_it_is_a_control_plane():
    assert isinstance(LocalControlPlane(), ControlPlane)


def test_compare_and_set_stores_only_from_the_epoch_read():
    plane = LocalControlPlane()
    first = plane.current()
    assert first.epoch == 0
    a = first.add_member(member(1))
    b = first.add_member(member(2))
    assert plane.compare_and_set(0, a)
    assert not plane.compare_and_set(0, b)  # lost the race: nothing stored
    assert plane.current() == a
    with pytest.raises(MapError, match="epoch above 1"):
        plane.compare_and_set(1, first)  # an epoch must never go back


def test_update_retries_on_conflict_and_gives_up_eventually():
    plane = LocalControlPlane()
    raced = []

    def add_two(cmap: ClusterMap) -> ClusterMap:
        if not raced:  # another writer slips in between read and write, once
            raced.append(True)
            plane.compare_and_set(cmap.epoch, cmap.add_member(member(1)))
        return cmap.add_member(member(2))

    result = plane.update(add_two)
    assert result.member(member(1).id) and result.member(member(2).id)
    assert result.epoch == 2 and plane.current() == result
    # A transition that is not allowed fails at once.
    with pytest.raises(MapError, match="already in the cluster"):
        plane.update(lambda cmap: cmap.add_member(member(1)))

    def always_raced(cmap: ClusterMap) -> ClusterMap:
        plane.compare_and_set(cmap.epoch, cmap.with_vnodes(cmap.vnodes))
        return cmap.with_vnodes(64)

    with pytest.raises(ConflictError, match="changed 3 times"):
        plane.update(always_raced, attempts=3)
    # A change that finds nothing to do stores nothing.
    epoch = plane.current().epoch
    assert plane.update(lambda cmap: cmap).epoch == epoch


def test_watchers_see_every_map_in_epoch_order_and_can_stop():
    plane = LocalControlPlane()
    seen, late = [], []
    stop = plane.watch(lambda m: seen.append(m.epoch))
    assert seen == [0]  # the current map first (it is newer than -1)
    plane.update(lambda m: m.add_member(member(1)))
    plane.update(lambda m: m.add_member(member(2)))
    plane.watch(lambda m: late.append(m.epoch), after_epoch=2)  # already has 2: nothing now
    stop()
    plane.update(lambda m: m.add_member(member(3)))
    assert seen == [0, 1, 2]
    assert late == [3]


def test_a_watcher_may_write_and_order_still_holds():
    plane = LocalControlPlane()
    first, second = [], []

    def reacting(cmap: ClusterMap) -> None:
        first.append(cmap.epoch)
        if cmap.epoch == 1:  # e.g. a controller reacting to a join
            plane.update(lambda m: m.add_member(member(9)))

    plane.watch(reacting, after_epoch=0)
    plane.watch(lambda m: second.append(m.epoch), after_epoch=0)
    plane.update(lambda m: m.add_member(member(1)))
    assert first == [1, 2] and second == [1, 2]


def test_a_failing_watcher_does_not_stop_the_others(caplog):
    plane = LocalControlPlane()
    seen = []
    plane.watch(lambda m: 1 / 0, after_epoch=0)
    plane.watch(lambda m: seen.append(m.epoch), after_epoch=0)
    plane.update(lambda m: m.add_member(member(1)))
    assert seen == [1]
    assert "watcher" in caplog.text and "ZeroDivisionError" in caplog.text


def test_concurrent_writers_never_lose_an_update():
    plane = LocalControlPlane()
    seen = []
    plane.watch(lambda m: seen.append(m.epoch), after_epoch=0)

    def writer(base: int) -> None:
        for i in range(20):
            plane.update(lambda m, i=i: m.add_member(member(base + i)), attempts=1000)

    threads = [threading.Thread(target=writer, args=(100 * t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(plane.current().members) == 80 and plane.current().epoch == 80
    assert seen == list(range(1, 81))


def test_heartbeats_are_stamped_with_the_planes_clock():
    clock = ManualClock()
    plane = LocalControlPlane(ClusterMap().add_member(member(1)).add_member(member(2)), clock)
    plane.heartbeat(member(1).id, {"epoch": 2, "offset": 10})
    beat = plane.heartbeats()[member(1).id]
    assert beat.received_ms == clock.monotonic() * 1000 and beat.payload["offset"] == 10
    assert plane.silent_nodes(1000) == [member(2).id]  # never heard from
    clock.advance(600)
    plane.heartbeat(member(2).id)
    clock.advance(500)
    assert plane.silent_nodes(1000) == [member(1).id]  # 1100 ms since its last beat
    assert plane.silent_nodes(1000, [member(2).id]) == []
    assert set(plane.heartbeats()) == {member(1).id, member(2).id}


def test_a_restarted_plane_keeps_its_map_and_epochs(tmp_path):
    path = tmp_path / "cluster-map.json"
    plane = LocalControlPlane(path=path)
    plane.update(lambda m: m.add_member(member(1)))
    plane.update(lambda m: m.add_member(member(2)))
    again = LocalControlPlane(ClusterMap(), path=path)
    assert again.current() == plane.current() and again.current().epoch == 2
    assert not (tmp_path / "cluster-map.json.tmp").exists()
    path.write_text("{not json")
    with pytest.raises(MapError):
        LocalControlPlane(path=path)
