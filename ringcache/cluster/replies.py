"""What cluster clients read: CLUSTER SLOTS, SHARDS, NODES, REPLICAS, INFO.

Theory of operation
-------------------
Cluster clients and tools build their view of the cluster from these replies,
so they follow Redis byte for byte (checked against redis-server 7.0.15 in
tests/cluster/test_replies.py; where 7.0 and 7.4 differ, 7.4: INFO and NODES
are verbatim strings in RESP3, which RESP2 sends as the same bulk string).
Each function turns a `ClusterMap` (what the cluster is configured to be)
plus the answering node's view of the others (`NodeStatus`: pings, link,
failure flags, replication offsets, which only a live node knows) into a
reply value in the form protocol/resp.py encodes: bytes, int, list, dict,
Verbatim.

Ordering: Redis lists CLUSTER SLOTS by slot, and CLUSTER NODES and SHARDS in
its hash-table order, which clients do not rely on; here shards come in
order of their first slot (slotless shards last, by id), each shard's primary
before its replicas, then spares. Migrations in progress are not shown as
open slots (`[slot->-id]`): ours are atomic, the source serves until the
flip, and `redis-cli --cluster check` would call an open slot an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import Verbatim
from ..storage.slots import SLOTS
from .topology import ClusterMap, Member, Shard

OK, PFAIL, FAIL = "ok", "pfail", "fail"


@dataclass(frozen=True)
class NodeStatus:
    """What the answering node knows about another node at this moment.

    ping_sent: ms time of the oldest unanswered ping, 0 when none is pending;
    pong_received: ms time of the last pong; connected: the link is up;
    health: ok, pfail (this node suspects it: `fail?`) or fail (the cluster
    agreed: `fail`); repl_offset: the node's replication offset."""

    ping_sent: int = 0
    pong_received: int = 0
    connected: bool = True
    health: str = OK
    repl_offset: int = 0


UNKNOWN = NodeStatus()
Statuses = Mapping[str, NodeStatus]


def _status(statuses: Statuses, member_id: str) -> NodeStatus:
    return statuses.get(member_id, UNKNOWN)


def ordered_shards(cmap: ClusterMap) -> list[Shard]:
    """Shards by first slot owned, slotless shards last by id."""
    first: dict[str, int] = {}
    for start, _, shard in cmap.slots:
        first.setdefault(shard, start)
    return sorted(cmap.shards, key=lambda s: (first.get(s.id, SLOTS), s.id))


def ordered_members(cmap: ClusterMap) -> list[Member]:
    order: list[Member] = []
    for shard in ordered_shards(cmap):
        order.extend(cmap.member(node) for node in shard.nodes)  # type: ignore[misc]
    serving = {m.id for m in order}
    order.extend(m for m in cmap.members if m.id not in serving)
    return order


# -- CLUSTER SLOTS -------------------------------------------------------------


def client_port(member: Member, tls: bool) -> int:
    """The port a client is told: with tls-cluster (the member announced a
    TLS port) a client on the TLS port gets TLS ports, one on the plain port
    plain ports, as Redis 7.0 does (its use_pport)."""
    return member.tls_port if tls and member.tls_port else member.port


def _slots_node(member: Member, tls: bool) -> list:
    # [ip, port, id, metadata]: the metadata map carries the hostname when
    # one is set (Redis 7.0+), else it is empty.
    metadata = {b"hostname": member.hostname.encode()} if member.hostname else {}
    return [member.host.encode(), client_port(member, tls), member.id.encode(), metadata]


def cluster_slots(cmap: ClusterMap, statuses: Statuses, tls: bool = False) -> list:
    """One entry per range in slot order: [start, end, primary, replicas...].
    A replica is listed only when not failed and its offset is not 0 (it has
    synced), as Redis 7 does; clients read element 2 as the primary."""
    reply = []
    for start, end, shard_id in cmap.slots:
        shard = cmap.shard(shard_id)
        assert shard is not None
        entry = [start, end, _slots_node(cmap.member(shard.primary), tls)]  # type: ignore[arg-type]
        for replica in shard.replicas:
            status = _status(statuses, replica)
            if status.health != FAIL and status.repl_offset != 0:
                entry.append(_slots_node(cmap.member(replica), tls))  # type: ignore[arg-type]
        reply.append(entry)
    return reply


# -- CLUSTER SHARDS ------------------------------------------------------------


def _shards_node(member: Member, role: bytes, status: NodeStatus) -> dict:
    node: dict[bytes, Any] = {b"id": member.id.encode(), b"port": member.port}
    if member.tls_port:  # tls-cluster: Redis gives both ports
        node[b"tls-port"] = member.tls_port
    node.update({b"ip": member.host.encode(), b"endpoint": member.host.encode()})
    if member.hostname:
        node[b"hostname"] = member.hostname.encode()
    if status.health == FAIL:
        health = b"fail"
    elif role == b"replica" and status.repl_offset == 0:
        health = b"loading"
    else:
        health = b"online"
    node[b"role"] = role
    node[b"replication-offset"] = status.repl_offset
    node[b"health"] = health
    return node


def cluster_shards(cmap: ClusterMap, statuses: Statuses) -> list:
    """Per shard: {slots: [start, end, ...], nodes: [{id, port, ip, endpoint,
    [hostname], role, replication-offset, health}]}; spares last, each alone."""
    reply = []
    for shard in ordered_shards(cmap):
        slots: list[int] = []
        for start, end in cmap.shard_ranges(shard.id):
            slots += (start, end)
        nodes = [_shards_node(cmap.member(shard.primary), b"master",  # type: ignore[arg-type]
                              _status(statuses, shard.primary))]
        nodes += [_shards_node(cmap.member(r), b"replica", _status(statuses, r))  # type: ignore[arg-type]
                  for r in shard.replicas]
        reply.append({b"slots": slots, b"nodes": nodes})
    # A spare is a master with no slots to Redis, and so a shard of its own.
    for member in cmap.members:
        if cmap.shard_of(member.id) is None:
            reply.append({b"slots": [], b"nodes": [
                _shards_node(member, b"master", _status(statuses, member.id))]})
    return reply


# -- CLUSTER NODES / REPLICAS --------------------------------------------------


def node_line(cmap: ClusterMap, member: Member, myself: str, statuses: Statuses,
              tls: bool = False) -> str:
    """`id ip:port@cport[,hostname] flags primary|- ping pong epoch link slots...`"""
    shard = cmap.shard_of(member.id)
    status = _status(statuses, member.id)
    flags = []
    if member.id == myself:
        flags.append("myself")
    replica = shard is not None and shard.primary != member.id
    flags.append("slave" if replica else "master")
    if status.health == PFAIL:
        flags.append("fail?")
    elif status.health == FAIL:
        flags.append("fail")
    address = f"{member.host}:{client_port(member, tls)}@{member.cport}"
    if member.hostname:
        address += "," + member.hostname
    primary = shard.primary if replica and shard is not None else "-"
    link = "connected" if member.id == myself or status.connected else "disconnected"
    line = (f"{member.id} {address} {','.join(flags)} {primary} {status.ping_sent} "
            f"{status.pong_received} {cmap.config_epoch(member.id)} {link}")
    if shard is not None and not replica:
        for start, end in cmap.shard_ranges(shard.id):
            line += f" {start}" if start == end else f" {start}-{end}"
    return line


def cluster_nodes(cmap: ClusterMap, myself: str, statuses: Statuses,
                  tls: bool = False) -> Verbatim:
    """Every member's line, each ending in a newline."""
    return Verbatim("".join(node_line(cmap, m, myself, statuses, tls) + "\n"
                            for m in ordered_members(cmap)).encode())


def cluster_replicas(cmap: ClusterMap, node_id: str, myself: str, statuses: Statuses,
                     tls: bool = False) -> list:
    """CLUSTER REPLICAS <node-id>: the replicas' lines (no newline)."""
    if cmap.member(node_id) is None:
        raise CommandError(errors.CLUSTER_UNKNOWN_NODE.format(node_id))
    shard = cmap.shard_of(node_id)
    if shard is None:
        return []  # a spare is a master with no replicas, as in Redis
    if shard.primary != node_id:
        raise CommandError(errors.CLUSTER_NOT_A_MASTER)
    return [node_line(cmap, cmap.member(r), myself, statuses, tls).encode()  # type: ignore[arg-type]
            for r in shard.replicas]


# -- CLUSTER INFO ---------------------------------------------------------------


def cluster_info(cmap: ClusterMap, myself: str, statuses: Statuses,
                 sent: Mapping[str, int] | None = None,
                 received: Mapping[str, int] | None = None,
                 healthy: bool = True) -> Verbatim:
    """INFO-style lines. The state is ok when every slot has a shard whose
    primary is not failed (and the node itself, `healthy`, can serve: a node
    cut off from the control plane passes False). `sent` and `received`
    count control messages by type; as in Redis only types with a non-zero
    count get a line, the totals always do."""
    ok = pfail = fail = 0
    for start, end, shard_id in cmap.slots:
        shard = cmap.shard(shard_id)
        health = _status(statuses, shard.primary).health  # type: ignore[union-attr]
        count = end - start + 1
        if health == FAIL:
            fail += count
        elif health == PFAIL:
            pfail += count
        else:
            ok += count
    assigned = ok + pfail + fail
    state = "ok" if healthy and assigned == SLOTS and fail == 0 else "fail"
    size = sum(1 for count in cmap.slot_counts().values() if count)
    lines = [
        f"cluster_state:{state}",
        f"cluster_slots_assigned:{assigned}",
        f"cluster_slots_ok:{ok}",
        f"cluster_slots_pfail:{pfail}",
        f"cluster_slots_fail:{fail}",
        f"cluster_known_nodes:{len(cmap.members)}",
        f"cluster_size:{size}",
        f"cluster_current_epoch:{cmap.epoch}",
        f"cluster_my_epoch:{cmap.config_epoch(myself)}",
    ]
    for direction, counts in (("sent", sent or {}), ("received", received or {})):
        total = 0
        for kind, n in counts.items():
            if n:
                lines.append(f"cluster_stats_messages_{kind}_{direction}:{n}")
                total += n
        lines.append(f"cluster_stats_messages_{direction}:{total}")
    lines.append("total_cluster_links_buffer_limit_exceeded:0")
    return Verbatim("".join(line + "\r\n" for line in lines).encode())
