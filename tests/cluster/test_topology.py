"""The cluster map (cluster/topology.py): invariants, transitions, epochs,
rebalancing toward the ring, JSON. Pure tests."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringcache.cluster import ring
from ringcache.cluster.topology import ClusterMap, MapError, Member, Migration, Shard, new_id
from ringcache.storage.slots import SLOTS, key_slot


def node(i: int) -> str:
    return "%040x" % (i + 1)


def shard_id(i: int) -> str:
    return "%040x" % (0xA000 + i)


def member(i: int) -> Member:
    return Member(node(i), "127.0.0.1", 7000 + i, 17000 + i)


def cluster(shards: int = 3, replicas: int = 1) -> ClusterMap:
    """shards x (1 + replicas) nodes, slots from the ring."""
    cmap = ClusterMap()
    for s in range(shards):
        cmap = cmap.add_member(member(s)).add_shard(node(s), shard_id(s))
    for s in range(shards):
        for r in range(replicas):
            i = shards * (r + 1) + s
            cmap = cmap.add_member(member(i)).assign_replica(node(i), shard_id(s))
    return cmap.with_ring_slots()


def migrate_all(cmap: ClusterMap) -> ClusterMap:
    for move in cmap.plan_rebalance():
        cmap, mig = cmap.start_migration(move.source, move.target, list(move.slots))
        cmap = cmap.finish_migration(mig.id)
    return cmap


def test_a_new_cluster_takes_the_rings_map():
    cmap = cluster(3, 1)
    assert cmap.epoch == 13  # 6 members + 3 shards + 3 replicas + the slots
    assert list(cmap.slots) == ring.assign([shard_id(i) for i in range(3)]).ranges()
    assert cmap.assigned_slots() == SLOTS
    assert all(s.epoch == cmap.epoch for s in cmap.shards)
    slot = key_slot(b"{user:1}:cart")
    owner = cmap.owner(slot)
    assert owner is not None and cmap.primary_of_slot(slot) == cmap.member(owner.primary)
    assert cmap.shard_of(node(3)).primary == node(0) and not cmap.is_primary(node(3))
    assert cmap.config_epoch(node(3)) == cmap.shard_of(node(0)).epoch


def test_transitions_leave_the_old_map_alone_and_bump_the_epoch():
    before = cluster(2, 0)
    after = before.add_member(member(9))
    assert before.member(node(9)) is None and after.member(node(9)) == member(9)
    assert after.epoch == before.epoch + 1
    with pytest.raises(Exception):
        before.epoch = 99  # frozen


@pytest.mark.parametrize("build, message", [
    (lambda: cluster(1, 0).add_member(member(0)), "is already in the cluster"),
    (lambda: cluster(1, 0).add_member(Member(node(5), "127.0.0.1", 7000, 1)), "two nodes at 127.0.0.1:7000"),
    (lambda: Member("xyz", "h", 1, 2), "40 lowercase hex"),
    (lambda: Member(node(1).upper().replace("0", "A"), "h", 1, 2), "40 lowercase hex"),
    (lambda: Member(node(1), "h", 0, 2), "port must be 1..65535"),
    (lambda: Member(node(1), "h", 1, 70000), "cport must be 1..65535"),
    (lambda: Member(node(1), "a b", 1, 2), "bad host"),
    (lambda: ClusterMap(vnodes=8), "cluster-vnodes must be an integer from 16 to 1024"),
    (lambda: ClusterMap(epoch=-1), "bad map epoch"),
    (lambda: ClusterMap(shards=(Shard(shard_id(0), node(0)),)), "which is not a member"),
    (lambda: ClusterMap(members=(member(0),), shards=(Shard(shard_id(0), node(0)),
                                                      Shard(shard_id(1), node(0)))), "is in shards"),
    (lambda: ClusterMap(members=(member(0),), shards=(Shard(shard_id(0), node(0), (), 3),)),
     "config epoch 3 outside 0..0"),
    (lambda: ClusterMap(members=(member(0),), shards=(Shard(shard_id(0), node(0)),),
                        slots=((0, 10, shard_id(0)), (10, 20, shard_id(0)))), "slot 10 is assigned twice"),
    (lambda: ClusterMap(members=(member(0),), shards=(Shard(shard_id(0), node(0)),),
                        slots=((0, SLOTS, shard_id(0)),)), "bad slot range"),
    (lambda: ClusterMap(slots=((0, 1, shard_id(0)),)), "unknown shard"),
    (lambda: cluster(2, 0).add_shard(node(0)), "already serves shard"),
    (lambda: cluster(2, 0).add_shard(node(7)), "unknown node"),
    (lambda: cluster(2, 0).add_member(member(5)).add_shard(node(5), shard_id(0)), "is already in the cluster"),
    (lambda: cluster(2, 0).assign_slots(shard_id(0), [(0, 0)]), "slot 0 is already assigned"),
])
def test_bad_maps_and_transitions_are_refused_with_a_reason(build, message):
    with pytest.raises(MapError, match=message):
        build()


def test_removing_members():
    cmap = cluster(2, 1)
    # The last replica of a shard that owns slots leaves only when forced.
    with pytest.raises(MapError, match="is the last replica of shard"):
        cmap.remove_member(node(2))
    assert cmap.remove_member(node(2), force=True).shard(shard_id(0)).replicas == ()
    two = cmap.add_member(member(9)).assign_replica(node(9), shard_id(0))
    assert two.remove_member(node(2)).shard(shard_id(0)).replicas == (node(9),)
    with pytest.raises(MapError, match="owns .* slots: move them away first"):
        cmap.remove_member(node(0))
    with pytest.raises(MapError, match="unknown node"):
        cmap.remove_member(node(40))
    # An empty shard's primary with replicas: promote one first; alone: the shard goes too.
    empty = cmap.add_member(member(8)).add_member(member(9)).add_shard(node(8), shard_id(8))
    with_replica = empty.assign_replica(node(9), shard_id(8))
    with pytest.raises(MapError, match="has replicas: promote one first"):
        with_replica.remove_member(node(8))
    gone = empty.remove_member(node(8))
    assert gone.shard(shard_id(8)) is None and gone.member(node(8)) is None
    assert gone.remove_member(node(9)).member(node(9)) is None  # a spare


def test_the_last_shard_cannot_be_removed_while_it_owns_slots():
    cmap = cluster(1, 0)
    with pytest.raises(MapError, match="owns 16384 slots"):
        cmap.remove_member(node(0))


def test_promotion_swaps_roles_and_takes_a_new_config_epoch():
    cmap = cluster(2, 2)
    shard = cmap.shard(shard_id(0))
    promoted = cmap.promote(shard.replicas[1])
    new = promoted.shard(shard_id(0))
    assert new.primary == shard.replicas[1]
    assert new.replicas == (shard.replicas[0], shard.primary)  # the old primary follows
    assert new.epoch == promoted.epoch == cmap.epoch + 1
    assert promoted.shard(shard_id(1)) == cmap.shard(shard_id(1))
    assert promoted.shard_ranges(shard_id(0)) == cmap.shard_ranges(shard_id(0))
    dropped = cmap.promote(shard.replicas[0], keep_old_primary=False)
    assert dropped.shard_of(shard.primary) is None  # a spare now
    with pytest.raises(MapError, match="is not a replica"):
        cmap.promote(shard.primary)


def test_assigning_replicas():
    cmap = cluster(2, 1)
    moved = cmap.assign_replica(node(2), shard_id(1))  # node 2 replicated shard 0
    assert moved.shard(shard_id(0)).replicas == ()
    assert moved.shard(shard_id(1)).replicas == (node(3), node(2))
    with pytest.raises(MapError, match="is the primary of shard"):
        cmap.assign_replica(node(0), shard_id(1))
    with pytest.raises(MapError, match="already replicates"):
        cmap.assign_replica(node(2), shard_id(0))
    with pytest.raises(MapError, match="unknown shard"):
        cmap.assign_replica(node(2), shard_id(7))


def test_a_migration_flips_its_slots_only_when_it_finishes():
    cmap = cluster(2, 0)
    a, b = shard_id(0), shard_id(1)
    ranges = cmap.shard_ranges(a)[:2]
    started, mig = cmap.start_migration(a, b, ranges)
    assert mig.id == started.epoch and started.migrations == (mig,)
    assert started.slots == cmap.slots  # the source still serves
    assert started.migrating(ranges[0][0]) == mig
    finished = started.finish_migration(mig.id)
    assert finished.migrations == ()
    assert all(finished.owner(s).id == b for start, end in ranges for s in range(start, end + 1))
    assert finished.slot_counts()[b] == cmap.slot_counts()[b] + mig.slot_count()
    assert finished.shard(a).epoch == finished.shard(b).epoch == finished.epoch
    cancelled = started.cancel_migration(mig.id)
    assert cancelled.slots == cmap.slots and cancelled.migrations == ()
    with pytest.raises(MapError, match="in two migrations"):
        started.start_migration(a, b, [ranges[0]])
    with pytest.raises(MapError, match="is not owned by its source"):
        cmap.start_migration(b, a, ranges)
    with pytest.raises(MapError, match="source and target are the same"):
        cmap.start_migration(a, a, ranges)
    with pytest.raises(MapError, match="no migration 5 in progress"):
        cmap.finish_migration(5)
    with pytest.raises(MapError, match="has a migration in progress"):
        # the target shard may not vanish under a migration
        empty = cmap.add_member(member(9)).add_shard(node(9), shard_id(9))
        empty.start_migration(a, shard_id(9), [(ranges[0][0], ranges[0][0])])[0].remove_member(node(9))


def test_a_join_rebalances_by_migrations_to_the_rings_map():
    cmap = cluster(3, 0)
    joined = cmap.add_member(member(3)).add_shard(node(3), shard_id(3))
    plan = joined.plan_rebalance()
    assert plan and all(move.source != move.target for move in plan)
    done = migrate_all(joined)
    expected = ring.assign([shard_id(i) for i in range(4)])
    assert list(done.slots) == expected.ranges()
    assert done.plan_rebalance() == []
    moved = sum(end - start + 1 for move in plan for start, end in move.slots)
    assert moved == ring.moved(ring.assign([shard_id(i) for i in range(3)]), expected)


def test_slots_already_migrating_are_not_planned_again():
    joined = cluster(3, 0).add_member(member(3)).add_shard(node(3), shard_id(3))
    first = joined.plan_rebalance()[0]
    started, _ = joined.start_migration(first.source, first.target, list(first.slots))
    assert first not in started.plan_rebalance()
    assert len(started.plan_rebalance()) == len(joined.plan_rebalance()) - 1


@settings(max_examples=15, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=5))
def test_joins_and_drains_always_converge_to_the_ring(steps):
    cmap = cluster(2, 0)
    next_index = 2
    for join in steps:
        if join or len(cmap.shards) == 1:
            cmap = cmap.add_member(member(next_index)).add_shard(node(next_index),
                                                                 shard_id(next_index))
            next_index += 1
        else:
            # Drain: the leaving shard's slots go where the ring without it says.
            leaving = cmap.shards[0]
            target = ring.assign([s.id for s in cmap.shards[1:]], cmap.vnodes)
            batches: dict[str, list[tuple[int, int]]] = {}
            for start, end in cmap.shard_ranges(leaving.id):
                for slot in range(start, end + 1):
                    batches.setdefault(target.owner(slot), []).append((slot, slot))
            for to, slots in sorted(batches.items()):
                cmap, mig = cmap.start_migration(leaving.id, to, slots)
                cmap = cmap.finish_migration(mig.id)
            cmap = cmap.remove_member(leaving.primary)
        cmap = migrate_all(cmap)
        assert list(cmap.slots) == ring.assign([s.id for s in cmap.shards], cmap.vnodes).ranges()
        assert ClusterMap.from_json(cmap.to_json()) == cmap
        assert all(s.epoch <= cmap.epoch for s in cmap.shards)


def test_json_round_trips_and_is_checked_on_the_way_in():
    cmap = cluster(3, 1)
    joined = cmap.add_member(Member(node(20), "10.1.1.1", 6379, 16379, "cache-20"))
    joined = joined.add_shard(node(20), shard_id(20))
    move = joined.plan_rebalance()[0]
    joined, _ = joined.start_migration(move.source, move.target, list(move.slots))
    text = joined.to_json()
    assert ClusterMap.from_json(text) == joined
    assert ClusterMap.from_json(text.encode()) == joined
    assert ClusterMap.from_json(text).to_json() == text  # canonical: sorted keys, no spaces
    data = json.loads(text)
    data["slots"].append([0, 0, data["slots"][1][2]])
    with pytest.raises(MapError, match="assigned twice"):
        ClusterMap.from_json(json.dumps(data))
    for bad in ("", "[]", "{}", '{"format": 2}', '{"format": 1}', text.replace('"port":7000', '"port":"x"')):
        with pytest.raises(MapError):
            ClusterMap.from_json(bad)


def test_ids_are_fresh():
    ids = {new_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i) == 40 for i in ids)
    assert Migration(1, "a", "b", ((0, 4), (10, 10))).slot_count() == 6


def test_slot_ranges_are_kept_as_maximal_runs():
    members, shards = (member(0),), (Shard(shard_id(0), node(0)),)
    split = ClusterMap(members=members, shards=shards,
                       slots=((5, 9, shard_id(0)), (0, 4, shard_id(0)), (11, 11, shard_id(0))))
    assert split.slots == ((0, 9, shard_id(0)), (11, 11, shard_id(0)))
    assert split == ClusterMap(members=members, shards=shards,
                               slots=((0, 9, shard_id(0)), (11, 11, shard_id(0))))


def test_the_shard_a_joining_replica_takes():
    cmap = cluster(3, 0)
    # auto: the fewest replicas, then the most slots, then the lowest id
    counts = cmap.slot_counts()
    first = cmap.shard_for_replica("auto")
    assert first.id == min(cmap.shards, key=lambda s: (-counts[s.id], s.id)).id
    cmap = cmap.add_member(member(10)).assign_replica(node(10), first.id)
    second = cmap.shard_for_replica("auto")
    assert second.id != first.id
    # by shard id or by its primary's id
    target = cmap.shards[2]
    assert cmap.shard_for_replica(target.id) == target
    assert cmap.shard_for_replica(target.primary) == target
    with pytest.raises(MapError, match="no shard and no primary"):
        cmap.shard_for_replica(new_id())
    with pytest.raises(MapError, match="no shard to replicate"):
        ClusterMap().shard_for_replica("auto")
