"""The cluster map: who is in the cluster, which shard owns which slots.

Theory of operation
-------------------
One `ClusterMap` describes the whole cluster: the members (nodes: id, address,
cluster-bus port), the shards (each a primary and its replicas, with a config
epoch), the slot map as (start, end, shard) ranges, the slot migrations in
progress, and the map epoch. It lives in the control plane (controlplane/),
which stores it with compare-and-set on the map epoch; every node keeps the
newest one it has seen and routes by it.

A map is immutable. Every change is a method that returns a new map with the
epoch one higher (the control plane refuses a map whose epoch is not the one
after the stored one, so two writers racing from the same map cannot both
win). A shard whose configuration changes in a way nodes must fence on (a new
primary, slots gained or lost) takes the new map epoch as its config epoch, so
config epochs only grow and never exceed the map epoch; nodes persist the
epochs they have seen and refuse older ones (issue 15).

The invariants are checked when a map is built (`__post_init__`), so a map
read from JSON is as trustworthy as one built by transitions:

* member ids and shard ids are 40 lowercase hex characters, unique;
* a member is the primary or a replica of at most one shard, or a spare;
* slot ranges lie in 0..16383, do not overlap, and name existing shards;
* a migration moves slots its source owns now, to another existing shard,
  and no slot is in two migrations.

The slot map is the *current* ownership, which the ring (ring.py) only
proposes: `plan_rebalance()` lists the moves from here to the ring's map,
and slots change hands only when a migration finishes, so a slot is never
served by two shards. `with_ring_slots()` takes the ring's map outright and
is for a cluster that holds no data yet.
"""

from __future__ import annotations

import json
import os
import re
from array import array
from dataclasses import dataclass, field, replace
from typing import Any

from ..storage.slots import SLOTS
from . import ring

ID_PATTERN = re.compile(r"[0-9a-f]{40}\Z")
UNASSIGNED = 0xFFFF  # in the owner index: no shard owns the slot
FORMAT_VERSION = 1

SlotRange = tuple[int, int]  # (first, last), inclusive


class MapError(ValueError):
    """A transition or a map that would break an invariant; the message says
    which, for operators (`ringcache cluster ...`) and logs."""


def new_id() -> str:
    """A fresh random member or shard id (Redis's format: 40 hex chars)."""
    return os.urandom(20).hex()


def _check_id(kind: str, value: str) -> None:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise MapError(f"{kind} id must be 40 lowercase hex characters, got {value!r}")


@dataclass(frozen=True)
class Member:
    """One node: where clients reach it (host:port) and its cluster-bus port."""

    id: str
    host: str
    port: int
    cport: int
    hostname: str = ""
    # The TLS client port, announced only by a node with tls-cluster on
    # (0: none); node-to-node links then use it (cluster/peers.py).
    tls_port: int = 0

    def __post_init__(self) -> None:
        _check_id("member", self.id)
        if self.tls_port != 0:
            self._check_port("tls_port")
        for name in ("port", "cport"):
            self._check_port(name)
        if not self.host or any(c in self.host for c in " \r\n,@"):
            raise MapError(f"member {self.id}: bad host {self.host!r}")
        if any(c in self.hostname for c in " \r\n,@"):
            raise MapError(f"member {self.id}: bad hostname {self.hostname!r}")

    def _check_port(self, name: str) -> None:
        value = getattr(self, name)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
            raise MapError(f"member {self.id}: {name} must be 1..65535, got {value!r}")


@dataclass(frozen=True)
class Shard:
    """A primary and its replicas, serving one set of slots. `epoch` is the
    config epoch: it changes when the primary or the slots change."""

    id: str
    primary: str
    replicas: tuple[str, ...] = ()
    epoch: int = 0

    @property
    def nodes(self) -> tuple[str, ...]:
        return (self.primary, *self.replicas)


@dataclass(frozen=True)
class Migration:
    """Slots moving from one shard to another. `id` is the map epoch at which
    it started (unique: every transition bumps the epoch)."""

    id: int
    source: str
    target: str
    slots: tuple[SlotRange, ...]

    def slot_count(self) -> int:
        return sum(end - start + 1 for start, end in self.slots)


@dataclass(frozen=True)
class PlannedMove:
    """Part of a rebalance: these slots go from source to target."""

    source: str
    target: str
    slots: tuple[SlotRange, ...]


@dataclass(frozen=True)
class ClusterMap:
    epoch: int = 0
    vnodes: int = ring.VNODES_DEFAULT
    members: tuple[Member, ...] = ()  # sorted by id
    shards: tuple[Shard, ...] = ()  # sorted by id
    slots: tuple[ring.Range, ...] = ()  # stored as maximal runs, in slot order
    migrations: tuple[Migration, ...] = ()  # sorted by id
    # Derived lookups, built once per map (maps change rarely, lookups are
    # per command): member and shard by id, each member's shard, and the
    # owner of each slot as an index into `shards`.
    _member: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _shard: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _shard_of: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _owners: array = field(default_factory=lambda: array("H"), init=False, repr=False,
                           compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "members", tuple(sorted(self.members, key=lambda m: m.id)))
        set_(self, "shards", tuple(sorted(self.shards, key=lambda s: s.id)))
        set_(self, "slots", tuple(sorted(self.slots)))
        set_(self, "migrations", tuple(sorted(self.migrations, key=lambda m: m.id)))
        if not isinstance(self.epoch, int) or self.epoch < 0:
            raise MapError(f"bad map epoch {self.epoch!r}")
        try:
            ring.check_vnodes(self.vnodes)
        except ValueError as exc:
            raise MapError(str(exc)) from None

        members = {}
        for m in self.members:
            if m.id in members:
                raise MapError(f"node id {m.id} is in the cluster twice")
            members[m.id] = m
        addresses = set()
        for m in self.members:
            if (m.host, m.port) in addresses:
                raise MapError(f"two nodes at {m.host}:{m.port}")
            addresses.add((m.host, m.port))

        shards: dict[str, int] = {}
        shard_of: dict[str, str] = {}
        for index, s in enumerate(self.shards):
            _check_id("shard", s.id)
            if s.id in shards:
                raise MapError(f"shard id {s.id} is in the cluster twice")
            shards[s.id] = index
            if not 0 <= s.epoch <= self.epoch:
                raise MapError(f"shard {s.id}: config epoch {s.epoch} outside 0..{self.epoch}")
            for node in s.nodes:
                if node not in members:
                    raise MapError(f"shard {s.id} names {node}, which is not a member")
                if node in shard_of:
                    raise MapError(f"node {node} is in shards {shard_of[node]} and {s.id}")
                shard_of[node] = s.id

        owners = array("H", [UNASSIGNED]) * SLOTS
        for start, end, shard in self.slots:
            if not 0 <= start <= end < SLOTS:
                raise MapError(f"bad slot range {start}-{end}")
            if shard not in shards:
                raise MapError(f"slots {start}-{end} belong to unknown shard {shard}")
            index = shards[shard]
            for slot in range(start, end + 1):
                if owners[slot] != UNASSIGNED:
                    raise MapError(f"slot {slot} is assigned twice")
                owners[slot] = index

        moving = set()
        for mig in self.migrations:
            if mig.source not in shards or mig.target not in shards:
                raise MapError(f"migration {mig.id} names an unknown shard")
            if mig.source == mig.target:
                raise MapError(f"migration {mig.id}: source and target are the same shard")
            if not mig.slots:
                raise MapError(f"migration {mig.id} moves no slots")
            for start, end in mig.slots:
                if not 0 <= start <= end < SLOTS:
                    raise MapError(f"migration {mig.id}: bad slot range {start}-{end}")
                for slot in range(start, end + 1):
                    if owners[slot] != shards[mig.source]:
                        raise MapError(f"migration {mig.id}: slot {slot} is not owned by "
                                       f"its source {mig.source}")
                    if slot in moving:
                        raise MapError(f"slot {slot} is in two migrations")
                    moving.add(slot)

        # Canonical ranges: maximal runs, so equal ownership means equal maps
        # (and CLUSTER SLOTS lists one entry per run, as Redis does).
        set_(self, "slots", tuple((a, b, self.shards[i].id) for a, b, i in _runs(owners)))
        set_(self, "_member", members)
        set_(self, "_shard", {s.id: s for s in self.shards})
        set_(self, "_shard_of", shard_of)
        set_(self, "_owners", owners)

    # -- reading -------------------------------------------------------------

    def member(self, member_id: str) -> Member | None:
        return self._member.get(member_id)

    def shard(self, shard_id: str) -> Shard | None:
        return self._shard.get(shard_id)

    def shard_of(self, member_id: str) -> Shard | None:
        """The shard the member serves in (as primary or replica), or None
        for a spare (or an unknown id)."""
        shard_id = self._shard_of.get(member_id)
        return None if shard_id is None else self._shard[shard_id]

    def is_primary(self, member_id: str) -> bool:
        shard = self.shard_of(member_id)
        return shard is not None and shard.primary == member_id

    def config_epoch(self, member_id: str) -> int:
        """The epoch CLUSTER NODES shows for a member: its shard's (a replica
        shows its primary's, as Redis does), 0 for a spare."""
        shard = self.shard_of(member_id)
        return 0 if shard is None else shard.epoch

    def owner(self, slot: int) -> Shard | None:
        """The shard serving the slot, or None when no shard does."""
        index = self._owners[slot]
        return None if index == UNASSIGNED else self.shards[index]

    def primary_of_slot(self, slot: int) -> Member | None:
        shard = self.owner(slot)
        return None if shard is None else self._member[shard.primary]

    def shard_ranges(self, shard_id: str) -> list[SlotRange]:
        return [(start, end) for start, end, shard in self.slots if shard == shard_id]

    def slot_counts(self) -> dict[str, int]:
        counts = {s.id: 0 for s in self.shards}
        for start, end, shard in self.slots:
            counts[shard] += end - start + 1
        return counts

    def assigned_slots(self) -> int:
        return sum(end - start + 1 for start, end, _ in self.slots)

    def migration(self, migration_id: int) -> Migration | None:
        return next((m for m in self.migrations if m.id == migration_id), None)

    def migrating(self, slot: int) -> Migration | None:
        for mig in self.migrations:
            for start, end in mig.slots:
                if start <= slot <= end:
                    return mig
        return None

    # -- transitions: each returns a new map, epoch + 1 ----------------------

    def _next(self, **changes: Any) -> ClusterMap:
        return replace(self, epoch=self.epoch + 1, **changes)

    def _with_shard(self, shard: Shard) -> tuple[Shard, ...]:
        return tuple(shard if s.id == shard.id else s for s in self.shards)

    def add_member(self, member: Member) -> ClusterMap:
        """A new node joins as a spare (then: add_shard or assign_replica)."""
        if member.id in self._member:
            raise MapError(f"node id {member.id} is already in the cluster")
        return self._next(members=self.members + (member,))

    def remove_member(self, member_id: str, force: bool = False) -> ClusterMap:
        """A replica or spare leaves; a primary only with a shard that owns no
        slots and has no replicas left (the shard goes with it). Drain a
        shard (rebalance) or fail it over first. The last replica of a shard
        that owns slots leaves only with force (the shard would be left with
        no copy to fail over to: an operator's mistake unless the replica is
        gone for good)."""
        if member_id not in self._member:
            raise MapError(f"unknown node {member_id}")
        members = tuple(m for m in self.members if m.id != member_id)
        shard = self.shard_of(member_id)
        if shard is None:
            return self._next(members=members)
        if shard.primary != member_id:
            replicas = tuple(r for r in shard.replicas if r != member_id)
            if not replicas and not force and self.slot_counts()[shard.id]:
                raise MapError(f"node {member_id} is the last replica of shard {shard.id}: "
                               f"add another replica first, or force")
            return self._next(members=members,
                              shards=self._with_shard(replace(shard, replicas=replicas)))
        owned = self.slot_counts()[shard.id]
        if owned:
            raise MapError(f"node {member_id} is the primary of shard {shard.id}, which owns "
                           f"{owned} slots: move them away first")
        if shard.replicas:
            raise MapError(f"node {member_id} is the primary of shard {shard.id}, which has "
                           f"replicas: promote one first")
        if any(shard.id in (m.source, m.target) for m in self.migrations):
            raise MapError(f"shard {shard.id} has a migration in progress")
        return self._next(members=members,
                          shards=tuple(s for s in self.shards if s.id != shard.id))

    def add_shard(self, primary_id: str, shard_id: str | None = None) -> ClusterMap:
        """A spare becomes the primary of a new, empty shard."""
        shard_id = new_id() if shard_id is None else shard_id
        self._require_spare(primary_id)
        if shard_id in self._shard:
            raise MapError(f"shard id {shard_id} is already in the cluster")
        return self._next(shards=self.shards + (Shard(shard_id, primary_id, (), self.epoch + 1),))

    def assign_replica(self, member_id: str, shard_id: str) -> ClusterMap:
        """A spare, or a replica of another shard, replicates this shard."""
        shard = self._require_shard(shard_id)
        if member_id not in self._member:
            raise MapError(f"unknown node {member_id}")
        current = self.shard_of(member_id)
        if current is not None and current.primary == member_id:
            raise MapError(f"node {member_id} is the primary of shard {current.id}")
        if current is not None and current.id == shard_id:
            raise MapError(f"node {member_id} already replicates shard {shard_id}")
        shards = self.shards
        if current is not None:
            left = replace(current, replicas=tuple(r for r in current.replicas if r != member_id))
            shards = tuple(left if s.id == left.id else s for s in shards)
        joined = replace(shard, replicas=shard.replicas + (member_id,))
        return self._next(shards=tuple(joined if s.id == shard_id else s for s in shards))

    def promote(self, replica_id: str, keep_old_primary: bool = True) -> ClusterMap:
        """A replica becomes its shard's primary, with a new config epoch. The
        old primary becomes a replica of it (so it rejoins as one when it
        comes back) unless keep_old_primary is False (it stays a spare)."""
        shard = self.shard_of(replica_id)
        if shard is None or replica_id not in shard.replicas:
            raise MapError(f"node {replica_id} is not a replica")
        replicas = [r for r in shard.replicas if r != replica_id]
        if keep_old_primary:
            replicas.append(shard.primary)
        promoted = Shard(shard.id, replica_id, tuple(replicas), self.epoch + 1)
        return self._next(shards=self._with_shard(promoted))

    def shard_for_replica(self, wanted: str = "auto") -> Shard:
        """The shard a joining replica should follow: `wanted` names a shard
        or its primary (40 hex chars), or is "auto": the shard with the
        fewest replicas, among those the most slots first, then by id (so
        that nodes joining one after another spread evenly and two runs
        choose alike)."""
        if wanted != "auto":
            shard = self._shard.get(wanted) or self.shard_of(wanted)
            if shard is None:
                raise MapError(f"no shard and no primary with id {wanted}")
            return shard
        if not self.shards:
            raise MapError("the cluster has no shard to replicate yet")
        counts = self.slot_counts()
        return min(self.shards, key=lambda s: (len(s.replicas), -counts[s.id], s.id))

    def assign_slots(self, shard_id: str, ranges: list[SlotRange]) -> ClusterMap:
        """Unassigned slots go to a shard (a new cluster, or slots whose
        shard was lost): there is no data to move."""
        shard = self._require_shard(shard_id)
        for start, end in ranges:
            for slot in range(start, end + 1):
                if not 0 <= slot < SLOTS:
                    raise MapError(f"bad slot range {start}-{end}")
                if self._owners[slot] != UNASSIGNED:
                    raise MapError(f"slot {slot} is already assigned")
        slots = _merge(list(self.slots) + [(s, e, shard_id) for s, e in ranges])
        return self._next(slots=slots, shards=self._with_shard(replace(shard, epoch=self.epoch + 1)))

    def with_ring_slots(self) -> ClusterMap:
        """The ring's map outright, every shard's epoch bumped: only for a
        cluster that holds no data yet (nothing is migrated)."""
        if self.migrations:
            raise MapError("migrations are in progress")
        assignment = ring.assign([s.id for s in self.shards], self.vnodes)
        shards = tuple(replace(s, epoch=self.epoch + 1) for s in self.shards)
        return self._next(slots=tuple(assignment.ranges()), shards=shards)

    def with_vnodes(self, vnodes: int) -> ClusterMap:
        """A new vnode count: the ring proposes a new map, which plan_rebalance
        then reaches by migrations."""
        return self._next(vnodes=vnodes)

    def start_migration(self, source: str, target: str, ranges: list[SlotRange]
                        ) -> tuple[ClusterMap, Migration]:
        """Slots start moving; the source keeps serving them until
        finish_migration. The migration's id is the new map's epoch."""
        mig = Migration(self.epoch + 1, source, target, tuple(_merge_pairs(ranges)))
        return self._next(migrations=self.migrations + (mig,)), mig

    def finish_migration(self, migration_id: int) -> ClusterMap:
        """The slots flip to the target at once; both shards take the new
        epoch, so nodes that saw the old owner can tell it is stale."""
        mig = self._require_migration(migration_id)
        moving = array("H", self._owners)
        target = self._shard[mig.target]
        index = self.shards.index(target)
        for start, end in mig.slots:
            moving[start:end + 1] = array("H", [index]) * (end - start + 1)
        slots = tuple((s, e, self.shards[i].id) for s, e, i in _runs(moving))
        epoch = self.epoch + 1
        shards = tuple(replace(s, epoch=epoch) if s.id in (mig.source, mig.target) else s
                       for s in self.shards)
        return self._next(slots=slots, shards=shards,
                          migrations=tuple(m for m in self.migrations if m.id != migration_id))

    def cancel_migration(self, migration_id: int) -> ClusterMap:
        """The source keeps the slots, as if the migration never started."""
        self._require_migration(migration_id)
        return self._next(migrations=tuple(m for m in self.migrations if m.id != migration_id))

    def plan_rebalance(self) -> list[PlannedMove]:
        """The moves from the current slot map to the ring's, one per (source,
        target) pair, sorted by (source, target). Slots no shard owns are not
        moves: assign_slots gives them out. Slots already migrating are left
        to their migration."""
        if not self.shards:
            return []
        proposed = ring.assign([s.id for s in self.shards], self.vnodes)
        pairs: dict[tuple[str, str], list[int]] = {}
        for slot in range(SLOTS):
            current = self._owners[slot]
            if current == UNASSIGNED:
                continue
            source = self.shards[current].id
            target = proposed.owner(slot)
            if source != target and self.migrating(slot) is None:
                pairs.setdefault((source, target), []).append(slot)
        return [PlannedMove(source, target, tuple(_slot_ranges(slots)))
                for (source, target), slots in sorted(pairs.items())]

    # -- serialisation -------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps({
            "format": FORMAT_VERSION,
            "epoch": self.epoch,
            "vnodes": self.vnodes,
            "members": [{"id": m.id, "host": m.host, "port": m.port, "cport": m.cport,
                         "hostname": m.hostname, **({"tls_port": m.tls_port} if m.tls_port else {})}
                        for m in self.members],
            "shards": [{"id": s.id, "primary": s.primary, "replicas": list(s.replicas),
                        "epoch": s.epoch} for s in self.shards],
            "slots": [list(r) for r in self.slots],
            "migrations": [{"id": m.id, "source": m.source, "target": m.target,
                            "slots": [list(r) for r in m.slots]} for m in self.migrations],
        }, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> ClusterMap:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT_VERSION:
                raise MapError(f"unknown cluster map format {data.get('format')!r}")
            return cls(
                epoch=data["epoch"],
                vnodes=data["vnodes"],
                members=tuple(Member(m["id"], m["host"], m["port"], m["cport"], m["hostname"],
                                     m.get("tls_port", 0))
                              for m in data["members"]),
                shards=tuple(Shard(s["id"], s["primary"], tuple(s["replicas"]), s["epoch"])
                             for s in data["shards"]),
                slots=tuple((int(a), int(b), str(c)) for a, b, c in data["slots"]),
                migrations=tuple(Migration(m["id"], m["source"], m["target"],
                                           tuple((int(a), int(b)) for a, b in m["slots"]))
                                 for m in data["migrations"]),
            )
        except MapError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MapError(f"bad cluster map: {exc!r}") from None

    # -- helpers -------------------------------------------------------------

    def _require_shard(self, shard_id: str) -> Shard:
        shard = self._shard.get(shard_id)
        if shard is None:
            raise MapError(f"unknown shard {shard_id}")
        return shard

    def _require_spare(self, member_id: str) -> None:
        if member_id not in self._member:
            raise MapError(f"unknown node {member_id}")
        shard = self.shard_of(member_id)
        if shard is not None:
            raise MapError(f"node {member_id} already serves shard {shard.id}")

    def _require_migration(self, migration_id: int) -> Migration:
        mig = self.migration(migration_id)
        if mig is None:
            raise MapError(f"no migration {migration_id} in progress")
        return mig


def _slot_ranges(slots: list[int]) -> list[SlotRange]:
    """Sorted slots as maximal (first, last) runs."""
    ranges: list[SlotRange] = []
    for slot in slots:
        if ranges and ranges[-1][1] == slot - 1:
            ranges[-1] = (ranges[-1][0], slot)
        else:
            ranges.append((slot, slot))
    return ranges


def _merge_pairs(ranges: list[SlotRange]) -> list[SlotRange]:
    merged: list[SlotRange] = []
    for start, end in sorted(ranges):
        if start > end:
            raise MapError(f"bad slot range {start}-{end}")
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _merge(ranges: list[ring.Range]) -> tuple[ring.Range, ...]:
    """Owner ranges sorted, neighbours with one owner joined."""
    merged: list[ring.Range] = []
    for start, end, shard in sorted(ranges):
        if merged and merged[-1][2] == shard and merged[-1][1] + 1 == start:
            merged[-1] = (merged[-1][0], end, shard)
        else:
            merged.append((start, end, shard))
    return tuple(merged)


def _runs(owners: array) -> list[tuple[int, int, int]]:
    """Maximal runs of one owner index, unassigned slots left out."""
    runs = []
    start = 0
    for slot in range(1, SLOTS + 1):
        if slot == SLOTS or owners[slot] != owners[start]:
            if owners[start] != UNASSIGNED:
                runs.append((start, slot - 1, owners[start]))
            start = slot
    return runs
