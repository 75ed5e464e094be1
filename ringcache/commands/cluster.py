"""CLUSTER and its subcommands, READONLY, READWRITE, ASKING (Redis's
cluster.c commands), plus ringcache's control-plane subcommands.

The replies clients read are built by cluster/replies.py from the node's
current map (cluster/node.py); here are only the arguments and errors. On a
node without `cluster-enabled yes` every one answers Redis's "This instance
has cluster support disabled".

ringcache's own subcommands (not in Redis) carry the control plane over the
client port for nodes that are not Raft voters and for the operator's tool
(controlplane/remote.py): `CLUSTER MAP [after-epoch]`, `CLUSTER SETMAP
expected-epoch json`, `CLUSTER BEAT node-id payload`, `CLUSTER BEATS` (every
node's last heartbeat, for nodes that are not voters); and `CLUSTER PUBLISH
channel message`, a PUBLISH forwarded from another node (cluster/publish.py).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import OK
from ..storage.slots import SLOTS, key_slot
from ._admin import help_subcommand
from ._args import parse_int
from .registry import command, container, subcommand

if TYPE_CHECKING:
    from ..cluster.node import ClusterNode
    from ..server.session import Session


def _node(session: Session) -> ClusterNode:
    node = session.server.cluster
    if node is None:
        raise CommandError(errors.CLUSTER_DISABLED)
    return node


CLUSTER = container("cluster", -2, "", group="cluster", since="3.0.0",
                    summary="A container for Redis Cluster commands.",
                    complexity="Depends on subcommand.")

_RO = "loading stale"


@subcommand(CLUSTER, "slots", 2, _RO, since="3.0.0", tips="nondeterministic_output",
            summary="Returns the mapping of cluster slots to nodes.",
            complexity="O(N) where N is the total number of Cluster nodes")
def cluster_slots(session: Session, argv: list[bytes]) -> Any:
    from ..cluster import replies

    node = _node(session)
    return replies.cluster_slots(node.map, node.statuses(), tls=session.tls)


@subcommand(CLUSTER, "shards", 2, _RO, since="7.0.0", tips="nondeterministic_output",
            summary="Returns the mapping of cluster slots to shards.",
            complexity="O(N) where N is the total number of cluster nodes")
def cluster_shards(session: Session, argv: list[bytes]) -> Any:
    from ..cluster import replies

    node = _node(session)
    return replies.cluster_shards(node.map, node.statuses())


@subcommand(CLUSTER, "nodes", 2, _RO, since="3.0.0", tips="nondeterministic_output",
            summary="Returns the cluster configuration for a node.",
            complexity="O(N) where N is the total number of Cluster nodes")
def cluster_nodes(session: Session, argv: list[bytes]) -> Any:
    from ..cluster import replies

    node = _node(session)
    return replies.cluster_nodes(node.map, node.myself, node.statuses(), tls=session.tls)


@subcommand(CLUSTER, "info", 2, _RO, since="3.0.0", tips="nondeterministic_output",
            summary="Returns information about the state of a node.", complexity="O(1)")
def cluster_info(session: Session, argv: list[bytes]) -> Any:
    from ..cluster import replies

    node = _node(session)
    # A fenced primary past its lease is cut off as Redis's minority is: fail.
    healthy = node.healthy and (not node.fenced or node.lease.valid())
    return replies.cluster_info(node.map, node.myself, node.statuses(), healthy=healthy)


@subcommand(CLUSTER, "myid", 2, _RO, since="3.0.0", summary="Returns the ID of a node.",
            complexity="O(1)")
def cluster_myid(session: Session, argv: list[bytes]) -> Any:
    return _node(session).myself.encode()


@subcommand(CLUSTER, "myshardid", 2, _RO, since="7.2.0", tips="nondeterministic_output",
            summary="Returns the shard ID of a node.", complexity="O(1)")
def cluster_myshardid(session: Session, argv: list[bytes]) -> Any:
    node = _node(session)
    shard = node.map.shard_of(node.myself)
    return (shard.id if shard is not None else node.myself).encode()


@subcommand(CLUSTER, "keyslot", 3, _RO, since="3.0.0",
            summary="Returns the hash slot for a key.",
            complexity="O(N) where N is the number of bytes in the key")
def cluster_keyslot(session: Session, argv: list[bytes]) -> Any:
    _node(session)
    return key_slot(argv[2])


@subcommand(CLUSTER, "countkeysinslot", 3, "stale", since="3.0.0",
            summary="Returns the number of keys in a hash slot.", complexity="O(1)")
def cluster_countkeysinslot(session: Session, argv: list[bytes]) -> Any:
    _node(session)
    slot = parse_int(argv[2])
    if not 0 <= slot < SLOTS:
        raise CommandError("ERR Invalid slot")
    return session.db.slots.count(slot)


@subcommand(CLUSTER, "getkeysinslot", 4, "stale", since="3.0.0",
            summary="Returns the key names in a hash slot.",
            complexity="O(N) where N is the number of requested keys")
def cluster_getkeysinslot(session: Session, argv: list[bytes]) -> Any:
    _node(session)
    slot = parse_int(argv[2])
    count = parse_int(argv[3])
    if count < 0 or not 0 <= slot < SLOTS:
        raise CommandError("ERR Invalid slot or number of keys")
    return session.db.slots.keys(slot)[:count]


def _replicas(session: Session, argv: list[bytes]) -> Any:
    from ..cluster import replies

    node = _node(session)
    return replies.cluster_replicas(node.map, argv[2].decode(errors="replace"), node.myself,
                                    node.statuses(), tls=session.tls)


for _name in ("replicas", "slaves"):
    subcommand(CLUSTER, _name, 3, _RO, since="5.0.0" if _name == "replicas" else "3.0.0",
               tips="nondeterministic_output",
               summary="Lists the replica nodes of a master node.",
               complexity="O(N) where N is the number of replicas.")(_replicas)


@subcommand(CLUSTER, "links", 2, _RO, since="7.0.0", tips="nondeterministic_output",
            summary="Returns a list of all TCP links to and from peer nodes.",
            complexity="O(N) where N is the total number of Cluster nodes")
def cluster_links(session: Session, argv: list[bytes]) -> Any:
    # Nodes do not keep a cluster bus: the map comes from the control plane.
    _node(session)
    return []


@subcommand(CLUSTER, "failover", -2, "admin stale", since="3.0.0",
            summary="Forces a replica to perform a manual failover of its master.",
            complexity="O(1)")
def cluster_failover(session: Session, argv: list[bytes]) -> Any:
    """CLUSTER FAILOVER [FORCE|TAKEOVER]: answered at once, carried out by
    a task (cluster/failover.py), as Redis does."""
    from ..cluster import failover
    from ..cluster.replies import FAIL

    node = _node(session)
    mode = "default"
    if len(argv) == 3:
        option = argv[2].lower()
        if option not in (b"force", b"takeover"):
            raise CommandError(errors.SYNTAX)
        mode = option.decode()
    elif len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    cmap = node.map
    shard = cmap.shard_of(node.myself)
    if shard is None or shard.primary == node.myself:
        raise CommandError("ERR You should send CLUSTER FAILOVER to a replica")
    if cmap.member(shard.primary) is None:
        raise CommandError("ERR I'm a replica but my master is unknown to me")
    replication = session.server.replication
    status = node.statuses().get(shard.primary)
    if mode == "default" and (not replication.link_up
                              or (status is not None and status.health == FAIL)):
        raise CommandError("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE")
    loop = node._loop
    assert loop is not None
    loop.create_task(failover.run(node, mode))
    return OK


def _peer_link(session: Session) -> Any:
    """_node for the commands only another node sends (CLUSTER MFPAUSE,
    BEAT, PUBLISH, IMPORT): with tls-cluster they come over TLS only, from
    a peer with a verified certificate, as on Redis's cluster bus
    (cluster/peers.py); a plain-TCP peer is refused. MAP, SETMAP and BEATS stay open to the operator's tool on
    either port, as Redis's CLUSTER SETSLOT/ADDSLOTS do."""
    node = _node(session)
    if session.server.config["tls-cluster"] and not session.tls_peer_cert:
        raise CommandError("ERR this node has tls-cluster on: node-to-node commands must "
                           "come over TLS (its tls-port) with a verified certificate")
    return node


@subcommand(CLUSTER, "mfpause", 3, "admin stale", since="7.0.0",
            summary="ringcache: a replica's manual failover pauses this primary's writes; "
                    "answers its replication offset.", complexity="O(1)")
def cluster_mfpause(session: Session, argv: list[bytes]) -> Any:
    from ..cluster import failover

    node = _peer_link(session)
    timeout_ms = parse_int(argv[2])
    if not 0 < timeout_ms <= 60000:
        raise CommandError("ERR timeout out of range")
    if not node.map.is_primary(node.myself):
        raise CommandError("ERR this node is not a primary")
    return failover.pause_for_failover(node, timeout_ms)


# -- the control plane over the client port (controlplane/remote.py) -------


@subcommand(CLUSTER, "map", -2, "admin " + _RO, since="7.0.0",
            summary="ringcache: the cluster map as JSON, or nil when not newer than an epoch.",
            complexity="O(N) where N is the size of the map")
def cluster_map(session: Session, argv: list[bytes]) -> Any:
    node = _node(session)
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    cmap = node.plane.current() if node.plane is not None else node.map
    if len(argv) == 3 and cmap.epoch <= parse_int(argv[2]):
        return None
    return cmap.to_json().encode()


@subcommand(CLUSTER, "setmap", -4, "admin " + _RO, since="7.0.0",
            summary="ringcache: compare-and-set of the cluster map (1 stored, 0 lost the race).",
            complexity="O(N) where N is the size of the map")
def cluster_setmap(session: Session, argv: list[bytes]) -> Any:
    """CLUSTER SETMAP expected-epoch json [GUARD node-id beat-count]"""
    from ..cluster.controlplane.base import UnavailableError
    from ..cluster.topology import ClusterMap, MapError

    node = _node(session)
    plane = node.plane
    if plane is None:
        raise CommandError("CLUSTERDOWN The control plane is not started yet")
    expected = parse_int(argv[2])
    guard: tuple[str, int] | None = None
    if len(argv) == 7 and argv[4].upper() == b"GUARD":
        guard = (argv[5].decode(errors="replace"), parse_int(argv[6]))
    elif len(argv) != 4:
        raise CommandError(errors.SYNTAX)
    try:
        new_map = ClusterMap.from_json(argv[3])
        won = node.run_blocking(lambda: plane.compare_and_set(expected, new_map, guard))
    except MapError as exc:
        raise CommandError(f"ERR bad cluster map: {exc}") from None
    except UnavailableError as exc:
        raise CommandError(f"CLUSTERDOWN {exc}") from None
    if won:
        node.apply_map(new_map)  # this node sees its own write at once
    return 1 if won else 0


@subcommand(CLUSTER, "beat", 4, "admin " + _RO, since="7.0.0",
            summary="ringcache: a heartbeat relayed to the control plane.", complexity="O(1)")
def cluster_beat(session: Session, argv: list[bytes]) -> Any:
    """Relays a heartbeat and answers, once the control plane has stored it,
    with the map epoch at that point (the sender's lease starts from its
    sending time only with that answer: cluster/lease.py); an error when it
    was not stored within BEAT_RELAY_TIMEOUT_S."""
    from ._blocking import BlockOn

    node = _peer_link(session)
    try:
        payload = json.loads(argv[3])
    except ValueError:
        raise CommandError("ERR bad heartbeat payload") from None
    plane = node.plane
    loop = node._loop
    if plane is None or loop is None or session.multi is not None:
        raise CommandError("CLUSTERDOWN The control plane is not started yet")
    blocking = session.server.blocking
    answered: list[bool] = []

    def answer(epoch: int | None) -> None:  # on the loop
        if answered:
            return
        answered.append(True)
        timer.cancel()
        blocking.finish(session, epoch if epoch is not None else CommandError(
            "CLUSTERDOWN the heartbeat was not stored in time"))

    timer = loop.call_later(BEAT_RELAY_TIMEOUT_S, answer, None)
    def stored(epoch: int | None) -> None:  # on the plane's thread
        loop.call_soon_threadsafe(answer, epoch)

    plane.beat(argv[2].decode(errors="replace"), payload, stored)
    return BlockOn([], 0, None, CommandError("ERR CLUSTER BEAT inside MULTI"))


BEAT_RELAY_TIMEOUT_S = 0.5  # as node.RENEW_TIMEOUT_S: a beat lost in a stalled plane is given up, the next sent


@subcommand(CLUSTER, "beats", 2, "admin " + _RO, since="7.0.0",
            summary="ringcache: the last heartbeat of every node, as JSON (age in ms, payload).",
            complexity="O(N) where N is the number of nodes")
def cluster_beats(session: Session, argv: list[bytes]) -> Any:
    node = _node(session)
    plane = node.plane
    if plane is None:
        return b"{}"
    now = plane.now_ms()
    return json.dumps({b.node_id: {"age_ms": round(max(0.0, now - b.received_ms), 1),
                                   "payload": dict(b.payload), "count": b.count}
                       for b in plane.heartbeats().values()}).encode()


@subcommand(CLUSTER, "publish", 4, "admin pubsub loading stale", since="7.0.0",
            summary="ringcache: a PUBLISH made on another node, for this node's subscribers.",
            complexity="O(N+M) as PUBLISH")
def cluster_publish(session: Session, argv: list[bytes]) -> Any:
    _peer_link(session)
    # Local delivery only: the node that took the PUBLISH forwards it to every
    # other node itself (cluster/publish.py), so nothing is forwarded again.
    return session.server.pubsub.publish(argv[2], argv[3])


@subcommand(CLUSTER, "import", -4, "admin write", since="7.0.0",
            summary="ringcache: the target's side of a slot migration (BEGIN, DATA, END).",
            complexity="O(N) where N is the number of keys sent")
def cluster_import(session: Session, argv: list[bytes]) -> Any:
    """CLUSTER IMPORT BEGIN id start end [start end ...] | DATA id blob |
    END id map-json, sent by a migration's source (cluster/migration.py)."""
    from ..cluster.topology import ClusterMap, MapError

    node = _peer_link(session)
    migrations = node.migrations
    if migrations is None:
        raise CommandError("CLUSTERDOWN The cluster is not started yet")
    action = argv[2].upper()
    mig_id = parse_int(argv[3])
    # Its effects reach the write stream as DEL and RESTORE (migration.py),
    # never as CLUSTER IMPORT, which a replica or an AOF replay cannot run.
    session.propagate = []
    if action == b"BEGIN":
        bounds = [parse_int(arg) for arg in argv[4:]]
        if not bounds or len(bounds) % 2 or any(not 0 <= b < SLOTS for b in bounds):
            raise CommandError("ERR Invalid slot range")
        ranges = list(zip(bounds[::2], bounds[1::2]))
        migrations.begin_import(mig_id, ranges)
        session.importing = mig_id
        session.server.disconnect_hooks.append(_import_link_closed(session, mig_id))
        return OK
    if session.importing != mig_id or len(argv) != 5:
        raise CommandError(errors.SYNTAX if len(argv) != 5 else
                           "ERR this connection is not importing that migration")
    if action == b"DATA":
        try:
            return migrations.import_data(argv[4])
        except Exception as exc:
            raise CommandError(f"ERR bad migration data: {exc}") from None
    if action == b"END":
        try:
            node.apply_map(ClusterMap.from_json(argv[4]))
        except MapError as exc:
            raise CommandError(f"ERR bad cluster map: {exc}") from None
        session.importing = None
        migrations.end_import(mig_id)
        return OK
    raise CommandError(errors.SYNTAX)


def _import_link_closed(session: Session, mig_id: int) -> Any:
    def hook(closed: Session) -> None:
        if closed is session:
            session.server.disconnect_hooks.remove(hook)
            node = session.server.cluster
            if node is not None and node.migrations is not None:
                node.migrations.end_import(mig_id)

    return hook


help_subcommand(CLUSTER, (
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "FAILOVER [FORCE|TAKEOVER]",
    "    Promote current replica node to being a master.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "LINKS",
    "    Return information about all network links between this node and its peers.",
    "MYID",
    "    Return the node id.",
    "MYSHARDID",
    "    Return the node's shard id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port@bus-port[,hostname]> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "REPLICAS <node-id>",
    "    Return <node-id> replicas.",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "MAP [<epoch>]",
    "    (ringcache) The cluster map as JSON, or nil when not newer than <epoch>.",
    "SETMAP <expected-epoch> <json>",
    "    (ringcache) Store a new cluster map if the current epoch is <expected-epoch>.",
), since="5.0.0")


# -- per-connection cluster state ---------------------------------------------


@command("readonly", 1, "loading stale fast", group="cluster", since="3.0.0", acl="@connection",
         summary="Enables read-only queries for a connection to a Redis Cluster replica node.",
         complexity="O(1)")
def readonly(session: Session, argv: list[bytes]) -> Any:
    _node(session)
    session.readonly = True
    return OK


@command("readwrite", 1, "loading stale fast", group="cluster", since="3.0.0", acl="@connection",
         summary="Enables read-write queries for a connection to a Reids Cluster replica node.",
         complexity="O(1)")
def readwrite(session: Session, argv: list[bytes]) -> Any:
    _node(session)
    session.readonly = False
    return OK


@command("asking", 1, "fast", group="cluster", since="3.0.0", acl="@connection",
         summary="Signals that a cluster client is following an -ASK redirect.",
         complexity="O(1)")
def asking(session: Session, argv: list[bytes]) -> Any:
    _node(session)
    session.asking = True
    session.update_gate()
    return OK
