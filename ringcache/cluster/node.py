"""The node's side of cluster mode: its identity, its control plane, joining,
and the Router the dispatcher asks about every keyed command.

Theory of operation
-------------------
With `cluster-enabled yes` the Server makes one ClusterNode. Once the node
listens (its port is known) `start()`:

1. reads or makes the node id (40 hex chars, kept in `cluster-config-file`
   under `dir` with the highest map epoch it applied, so a restarted node is
   the same member and refuses maps older than what it has seen);
2. opens the control plane: Raft (controlplane/raft.py) when this node's
   Raft address (announced ip : cluster-port) is one of `cluster-voters`; a
   RemoteControlPlane through `cluster-join` seeds otherwise; and with
   neither, an in-process plane that makes this node a one-node cluster;
3. watches the map: each newer map is handed to the event loop
   (call_soon_threadsafe: watchers run on the plane's threads) and becomes a
   new `routing.Router`, which the dispatcher uses from then on
   (`Dispatcher.set_cluster_router`);
4. joins in a background thread (Raft calls block until decided): the node
   adds itself to the map as a member and the primary of a new, empty shard
   (one transition, so no one sees a half-joined node), or, with
   `cluster-replica-of` (a shard id, a primary's id, or "auto": the shard
   with the fewest replicas), as a replica of an existing shard. Slots come
   to a new shard later, by an initial ring assignment (`ringcache cluster
   up`) or by migrations (cluster/migration.py). A node that holds data and
   is not yet a member refuses to join (its keys could belong to slots
   others serve).
5. beats: every `HEARTBEAT_S` a heartbeat with the map epoch it has applied,
   its shard's config epoch, its role and its replication offset, and waits
   until the plane stored it: that renews its lease (lease.py), which a
   primary of a shard with replicas needs to write (`fenced`). The
   controller (controller.py, on voters) reads them to find failed
   primaries; CLUSTER SLOTS, SHARDS and NODES show the offsets and who is
   silent.

Replicas: the map is the only source of truth for roles. Each map that
takes effect (`apply_map`) also sets the replication role: a node the map
names as a replica of shard S follows S's primary (replication's
`follow`, REPLICAOF semantics; a new primary is followed with PSYNC, so
PSYNC2 continues the history where it can), and a node the map names as a
primary (or a spare) stops following (`promote`). REPLICAOF itself is
refused in cluster mode, as in Redis.

Until the node has a map that names it, every keyed command gets
`-CLUSTERDOWN Hash slot not served` (the Router of an empty map).

`healthy` (a node cut off from the control plane passes False to the
Router and answers CLUSTERDOWN) and `apply_map` (the one place a new map
takes effect: epochs only grow) are the seams the failover work uses;
docs/failover.md has the whole of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .controlplane.base import ControlPlane, UnavailableError
from .lease import Lease
from .replies import FAIL, OK, NodeStatus
from .routing import Router
from .topology import ClusterMap, MapError, Member, new_id

if TYPE_CHECKING:
    from ..server.server import Server
    from .migration import Migrations

log = logging.getLogger("ringcache")

HEARTBEAT_S = 0.25  # four per cluster-node-timeout at its default of 1000 ms
# A heartbeat not stored within this is given up (the next one is due): a
# lease from one stored later would be mostly spent on arrival anyway.
RENEW_TIMEOUT_S = 2 * HEARTBEAT_S
# Raft timings for a cluster on one LAN (PySyncObj's defaults are for WANs:
# elections of 1-2 s).
# A command waits for the Raft thread's next tick (autoTickPeriod) and then
# for the next append (appendEntriesPeriod): both bound how soon a promotion
# is stored (50 ms each, PySyncObj's tick default and our earlier append
# period, made it ~90 ms; 10 and 25 ms make it ~45 ms, docs/failover.md).
RAFT_OPTIONS: dict[str, Any] = {"raftMinTimeout": 0.3, "raftMaxTimeout": 0.7, "appendEntriesPeriod": 0.025,
                "autoTickPeriod": 0.01, "connectionTimeout": 1.5, "connectionRetryTime": 0.5}


class ClusterNode:
    def __init__(self, server: "Server") -> None:
        self.server = server
        config = server.config
        self.require_full_coverage = config["cluster-require-full-coverage"]
        self.myself = self._load_id()
        self.map = ClusterMap()
        self.router = Router(self.map, self.myself, self.require_full_coverage)
        server.dispatcher.set_cluster_router(self.router)
        self.plane: ControlPlane | None = None
        self.member: Member | None = None
        self.joined = threading.Event()
        self.join_error = ""
        self.healthy = True
        self.map_listeners: list[Callable[[ClusterMap, ClusterMap], None]] = []
        from .publish import PublishBridge

        self.publish_bridge = PublishBridge(self)
        self._stop = threading.Event()
        self._wake = threading.Event()  # set: send a heartbeat now (a new primary wants its lease)
        self._threads: list[threading.Thread] = []
        self._cancel_watch: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.migrations: Migrations | None = None
        self.replica_of = config["cluster-replica-of"].strip()
        # Fencing (lease.py): the lease this node holds as a primary, and
        # whether its writes depend on it (a primary of a shard with
        # replicas, on a shared control plane: only then can someone else
        # be promoted in its place).
        self.lease = Lease(config["cluster-node-timeout"])
        self.fenced = False
        self.beats_paused_until = 0.0  # a manual failover: no heartbeats, no renewals
        self.lease_not_before = 0.0  # a forced failover: no lease before the old one ran out
        self.lease_lock = threading.Lock()
        self.promoted_at = 0.0  # when the map last made this replica a primary (for the log)
        self.controller: Any = None

    # -- identity ------------------------------------------------------------

    def _id_path(self) -> Path:
        return Path(self.server.config["dir"]) / self.server.config["cluster-config-file"]

    def _load_id(self) -> str:
        path = self._id_path()
        self.seen_epoch = 0
        try:
            data = json.loads(path.read_text())
            node_id = str(data["id"])
            if len(node_id) == 40:
                epoch = data.get("epoch", 0)
                self.seen_epoch = epoch if isinstance(epoch, int) else 0
                return node_id
        except (OSError, ValueError, KeyError, TypeError):
            pass
        node_id = new_id()
        self._save_config(node_id, 0)
        return node_id

    def raft_journal_path(self) -> Path:
        """Where a voter keeps its Raft log (and, beside it, `.meta` and
        `.dump`): named after cluster-config-file, which is one per node."""
        path = self._id_path()
        return path.with_name(path.name + ".raft")

    def _save_config(self, node_id: str, epoch: int) -> None:
        """cluster-config-file: the node id and the highest map epoch this
        node applied, written whole (fsync, rename): a restarted node is
        the same member and refuses maps older than what it has seen."""
        path = self._id_path()
        tmp = path.with_name(path.name + ".tmp")
        try:
            with open(tmp, "w") as f:
                f.write(json.dumps({"id": node_id, "epoch": epoch}) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("Could not keep the cluster node id in %s: %s", path, exc)

    # -- starting ------------------------------------------------------------

    def address(self) -> tuple[str, int, int]:
        """(host, port, cluster port) this node announces."""
        config = self.server.config
        host = config["cluster-announce-ip"] or next(
            (h for h in config["bind"] if h not in ("*", "0.0.0.0", "::", "-::*")), "127.0.0.1")
        host = host.lstrip("-")
        port = config["cluster-announce-port"] or self.server.port
        cport = config["cluster-announce-bus-port"] or config["cluster-port"]
        if not cport:
            cport = port + 10000 if port + 10000 < 65536 else port
        return host, port, cport

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        host, port, cport = self.address()
        from . import peers

        self.member = Member(self.myself, host, port, cport,
                             tls_port=peers.announced_tls_port(self.server.config))
        self.plane = self._open_plane(host, cport)
        def deliver(cmap: ClusterMap) -> None:  # on the plane's thread
            loop.call_soon_threadsafe(self.apply_map, cmap)

        self._cancel_watch = self.plane.watch(deliver)
        from .migration import Migrations

        self.migrations = Migrations(self)
        self._spawn(self._join, "cluster-join")
        self._spawn(self._beat, "cluster-heartbeat")
        if hasattr(self.plane, "is_leader"):  # a voter: the controller runs where Raft leads
            from .controller import Controller

            self.controller = Controller(self)
            self._spawn(self.controller.run, "cluster-controller")

    def _open_plane(self, host: str, cport: int) -> ControlPlane:
        config = self.server.config
        voters = [v.strip() for v in config["cluster-voters"].split(",") if v.strip()]
        me = f"{host}:{cport}"
        if voters and me in voters:
            from .controlplane.raft import RaftControlPlane

            journal = self.raft_journal_path()
            log.info("Cluster control plane: Raft member %s of %s (journal %s)", me,
                     ",".join(voters), journal)
            return RaftControlPlane(me, [v for v in voters if v != me], config["cluster-password"],
                                    journal_path=str(journal), **RAFT_OPTIONS)
        seeds = config["cluster-join"] or ",".join(
            v for v in voters if v != me)  # (voters' raft ports are not client ports)
        if config["cluster-join"]:
            from .controlplane.remote import RemoteControlPlane, parse_seeds

            log.info("Cluster control plane: through %s", seeds)
            from . import peers

            link = peers.redis_kwargs(config)  # (TLS to the seeds with tls-cluster)
            username, password = link.pop("username"), link.pop("password")
            return RemoteControlPlane(parse_seeds(seeds), password, username=username,
                                      connection_kwargs=link)
        if voters:
            raise MapError(f"cluster-voters does not list this node ({me}); "
                           "give cluster-join to reach the map through one of them")
        from .controlplane.local import LocalControlPlane

        log.info("Cluster control plane: in-process (a one-node cluster)")
        path = self._id_path()  # the map survives a restart, as a voter's journal does
        return LocalControlPlane(path=path.with_name(path.name + ".map"))

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self) -> None:
        self._stop.set()
        self.publish_bridge.close()
        self._wake.set()
        if self.migrations is not None:
            self.migrations.stop()
        if self._cancel_watch is not None:
            self._cancel_watch()
        close = getattr(self.plane, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                log.exception("closing the control plane failed")

    # -- joining and heartbeats (threads) -----------------------------------

    def _join(self) -> None:
        plane = self.plane
        member = self.member
        assert plane is not None and member is not None
        one_node = type(plane).__name__ == "LocalControlPlane"
        waited = behind = False
        while not self._stop.is_set():
            try:
                if not plane.ready():  # a restarted Raft member catching up
                    self._stop.wait(0.1)
                    continue
                current = plane.current()
                if hasattr(plane, "refresh"):
                    current = plane.refresh()  # type: ignore[attr-defined]
                if current.epoch < self.seen_epoch:
                    # The plane is behind what this node saw before it
                    # restarted (a seed still replaying its journal, or
                    # catching up): deciding from it would make this node
                    # a stranger to its own cluster.
                    if not behind:
                        log.info("Waiting for the control plane to reach map epoch %d "
                                 "(it has %d)", self.seen_epoch, current.epoch)
                    behind = True
                    self._stop.wait(0.1)
                    continue
                known = current.member(self.myself)
                if known is None and self.replica_of and not _has_shard_for(current,
                                                                            self.replica_of):
                    if not waited:
                        log.info("Waiting for shard %s to join before replicating it",
                                 self.replica_of)
                    waited = True
                    self._stop.wait(0.3)  # a replica waits for the shard it is to replicate
                    continue
                if known is None:
                    if self.server.dbs[0] is not None and len(self.server.dbs[0].data):
                        self.join_error = ("this node holds data: a node joins a cluster empty "
                                           "(FLUSHALL it, or start it with an empty dir)")
                        log.warning("Not joining the cluster: %s", self.join_error)
                        return
                    plane.update(lambda m: self._joined_map(m, member))
                    log.info("Joined the cluster as %s (%s:%d)", self.myself, member.host,
                             member.port)
                elif (known.host, known.port, known.tls_port) != (member.host, member.port,
                                                                  member.tls_port):
                    if _answers_as(known, self.myself, self.server.config):
                        raise MapError(f"node id {self.myself} is in use by a live node at "
                                       f"{known.host}:{known.port} (a copied "
                                       f"{self.server.config['cluster-config-file']}?)")
                    plane.update(lambda m: _moved_member(m, member))
                if one_node:
                    plane.update(_assign_if_unassigned)
                self.joined.set()
                return
            except MapError as exc:
                self.join_error = str(exc)
                log.warning("Not joining the cluster: %s", exc)
                return
            except (UnavailableError, OSError) as exc:
                log.info("Cluster control plane not reachable yet (%s); retrying", exc)
            except Exception:
                log.exception("joining the cluster failed; retrying")
            self._stop.wait(0.3)

    def _joined_map(self, cmap: ClusterMap, member: Member) -> ClusterMap:
        """The map with this node added: the primary of a new shard, or a
        replica of the shard `cluster-replica-of` names. Unchanged if the
        node is already a member (it decided from an older map)."""
        if cmap.member(self.myself) is not None:
            return cmap
        joined = cmap.add_member(member)
        if not self.replica_of:
            return joined.add_shard(self.myself)
        shard = cmap.shard_for_replica(self.replica_of)
        return joined.assign_replica(self.myself, shard.id)

    def _beat(self) -> None:
        plane = self.plane
        assert plane is not None
        due = time.monotonic()
        while True:
            # Fixed rate: a beat is due HEARTBEAT_S after the last one was sent,
            # not after it was answered, and one the plane does not store
            # within RENEW_TIMEOUT_S is given up, so a beat stuck in a stalled
            # plane (an election) delays the next one by at most that: the
            # controller gives every node controller.STALL_GRACE_MS after a stall.
            self._wake.wait(max(0.0, due - time.monotonic()))
            self._wake.clear()
            if self._stop.is_set():
                return
            due = time.monotonic() + HEARTBEAT_S
            if not self.joined.is_set() or time.monotonic() < self.beats_paused_until:
                continue
            sent = time.monotonic()
            try:
                epoch = plane.renew(self.myself, self.beat_payload(),
                                    timeout=min(self.lease.length_s, RENEW_TIMEOUT_S))
            except Exception as exc:
                log.debug("heartbeat failed: %s", exc)
                epoch = None
            # Renew only with the map the heartbeat was stored under applied
            # here (lease.py), and not during a manual failover's pause.
            with self.lease_lock:
                if (epoch is not None and epoch <= self.map.epoch
                        and sent >= self.beats_paused_until and sent >= self.lease_not_before):
                    self.lease.renewed(sent)
                    if self.promoted_at:
                        log.info("First heartbeat stored as a primary (failover-timeline "
                                 "renewed mono=%.3f sent mono=%.3f)", time.monotonic(), sent)
                        self.promoted_at = 0.0
            loop = self._loop
            if loop is not None:
                loop.call_soon_threadsafe(self._start_history)

    def beat_payload(self) -> dict[str, Any]:
        """What the controller and the other nodes learn from a heartbeat
        (read from this thread: plain attribute reads)."""
        cmap = self.map
        replication = getattr(self.server, "replication", None)
        payload: dict[str, Any] = {"epoch": cmap.epoch, "config_epoch": cmap.config_epoch(self.myself),
                                   "lease_ms": round(self.lease.remaining_ms()),
                                   "role": "replica" if replication is not None
                                   and replication.is_replica else "primary"}
        if replication is not None:
            payload["offset"] = replication.primary.offset
            payload["link"] = bool(replication.link_up)
        return payload

    def _start_history(self) -> None:
        """A primary whose replication history is still empty (offset 0: no
        write yet) pings its replicas into it, so that they have a non-zero
        offset and CLUSTER SLOTS lists them (Redis lists only those)."""
        replication = getattr(self.server, "replication", None)
        if replication is None or replication.is_replica:
            return
        primary = replication.primary
        if primary.offset == 0 and primary.backlog is not None and primary.links:
            from ..replication.primary import PING

            primary.feed(PING)

    def statuses(self) -> dict[str, NodeStatus]:
        """This node's view of the others, from the control plane's
        heartbeats: a node silent for more than cluster-node-timeout is
        failed (the control plane is where the cluster agrees: there is no
        gossip stage of one node's suspicion), and the offsets they sent."""
        plane = self.plane
        if plane is None:
            return {}
        timeout = self.server.config["cluster-node-timeout"]
        now = plane.now_ms()
        wall = time.time() * 1000.0
        statuses: dict[str, NodeStatus] = {}
        for node_id, beat in plane.heartbeats().items():
            age = max(0.0, now - beat.received_ms)
            alive = age <= timeout
            offset = beat.payload.get("offset", 0)
            statuses[node_id] = NodeStatus(
                ping_sent=0, pong_received=max(0, int(wall - age)), connected=alive,
                health=OK if alive else FAIL,
                repl_offset=offset if isinstance(offset, int) else 0)
        replication = getattr(self.server, "replication", None)
        if replication is not None:
            statuses[self.myself] = NodeStatus(pong_received=int(wall),
                                               repl_offset=replication.primary.offset)
        return statuses

    # -- maps (on the event loop) ------------------------------------------

    def apply_map(self, cmap: ClusterMap) -> None:
        """A map from the control plane takes effect (epochs only grow, also
        across restarts: cluster-config-file keeps the highest)."""
        if cmap.epoch <= self.map.epoch:
            return
        if cmap.epoch < self.seen_epoch:
            # Expected while a restarted voter replays its journal (quiet
            # then); a warning once the plane says it has caught up.
            plane = self.plane
            level = logging.WARNING if plane is None or plane.ready() else logging.DEBUG
            log.log(level, "Refusing cluster map epoch %d: this node has seen epoch %d",
                    cmap.epoch, self.seen_epoch)
            return
        before, self.map = self.map, cmap
        if cmap.epoch > self.seen_epoch:
            self.seen_epoch = cmap.epoch
            self._save_config(self.myself, cmap.epoch)
        self.route()
        self._take_role(cmap)
        self._announce_epoch(before, cmap)
        for listener in list(self.map_listeners):
            try:
                listener(before, cmap)
            except Exception:
                log.exception("cluster map listener failed on epoch %d", cmap.epoch)

    def _take_role(self, cmap: ClusterMap) -> None:
        """Replicate from the primary the map names for this node's shard, or
        stop replicating when the map makes it a primary (or a spare)."""
        replication = getattr(self.server, "replication", None)
        if replication is None:
            return
        shard = cmap.shard_of(self.myself)
        if shard is not None and shard.primary != self.myself:
            primary = cmap.member(shard.primary)
            assert primary is not None
            if self.beats_paused_until:  # a manual failover made this node a replica
                self.beats_paused_until = 0.0
                self.server.unpause()  # the writes that waited get MOVED to the new primary
            current = replication.replica
            from . import peers

            port = peers.replication_port(self.server.config, primary)  # (tls-replication)
            if current is None or (current.host, current.port) != (primary.host, port):
                log.info("Cluster map epoch %d: replicating shard %s from %s:%d", cmap.epoch,
                         shard.id, primary.host, port)
                replication.follow(primary.host, port)
        elif replication.is_replica:
            # failover-timeline: mono stamps for tests/faults/timeline.py
            log.info("Cluster map epoch %d: this node is a primary now (failover-timeline "
                     "applied mono=%.3f lease_ms=%.0f)", cmap.epoch, time.monotonic(),
                     self.lease.remaining_ms())
            replication.promote()
            self.promoted_at = time.monotonic()
            self._wake.set()  # its first lease, at once

    def shard_epoch(self) -> int | None:
        """The config epoch of this node's shard when the map makes it a
        replica: the epoch its primary must have reached for this node to
        follow it (replication/replica.py); None otherwise."""
        shard = self.map.shard_of(self.myself)
        if shard is None or shard.primary == self.myself:
            return None
        return shard.epoch

    def _announce_epoch(self, before: ClusterMap, cmap: ClusterMap) -> None:
        """A primary tells its replicas on the stream each new epoch of its
        shard, so that a replica can tell a primary that kept up from one
        that missed a map (replica.py drops a link left behind)."""
        epoch = cmap.config_epoch(self.myself)
        replication = getattr(self.server, "replication", None)
        if (replication is None or replication.is_replica or not cmap.is_primary(self.myself)
                or epoch == before.config_epoch(self.myself)):
            return
        from ..replication.stream import encode

        replication.primary.feed_own(encode([b"REPLCONF", b"SHARD-EPOCH", b"%d" % epoch]))

    def route(self) -> None:
        """A new Router for the current map and health, with the lease check
        when this node is a primary someone could be promoted in place of."""
        cmap = self.map
        shard = cmap.shard_of(self.myself)
        self.fenced = (shard is not None and shard.primary == self.myself and bool(shard.replicas)
                       and type(self.plane).__name__ != "LocalControlPlane")
        self.router = Router(cmap, self.myself, self.require_full_coverage, self.healthy,
                             self.lease.valid if self.fenced else None)
        self.server.dispatcher.set_cluster_router(self.router)

    def hold_lease_until(self, when: float) -> None:
        """No lease (so no writes as a primary) before `when` (monotonic)."""
        with self.lease_lock:
            self.lease_not_before = when
            self.lease.revoke()
        loop = self._loop
        if loop is not None:  # the first heartbeat after the hold renews at once
            loop.call_later(max(0.0, when - time.monotonic()), self._wake.set)

    def set_healthy(self, healthy: bool) -> None:
        """A node cut off from the control plane answers CLUSTERDOWN for
        keyed commands until it is healthy again."""
        if healthy != self.healthy:
            self.healthy = healthy
            self.route()

    def run_blocking(self, fn: Callable[[], Any]) -> Any:
        """Run a control-plane call that may block (Raft) from the event loop
        thread. It blocks the loop until decided (map changes are rare and
        take a few ms on a healthy plane; commit_timeout bounds them)."""
        return fn()


def _answers_as(known: Member, node_id: str, config: Any) -> bool:
    """Whether a live node at the member's recorded address claims this id:
    then this node is a copy (its id file was copied), not the member
    restarted at a new address, and must not take the member's place."""
    import redis

    from . import peers

    try:
        client = redis.Redis(host=known.host, port=peers.port_of(config, known),
                             **peers.redis_kwargs(config),
                             socket_timeout=2, socket_connect_timeout=2)
        try:
            return bool(client.execute_command("CLUSTER", "MYID") == node_id.encode())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False  # nobody there (or not a cluster node): the member has moved


def _has_shard_for(cmap: ClusterMap, wanted: str) -> bool:
    """Whether cluster-replica-of names something in the map yet ("auto":
    any shard; else a shard id or a primary's id)."""
    if wanted == "auto":
        return bool(cmap.shards)
    return cmap.shard(wanted) is not None or cmap.shard_of(wanted) is not None


def _moved_member(cmap: ClusterMap, member: Member) -> ClusterMap:
    """The same node id at a new address (restarted elsewhere)."""
    from dataclasses import replace

    return replace(cmap, epoch=cmap.epoch + 1,
                   members=tuple(member if m.id == member.id else m for m in cmap.members))


def _assign_if_unassigned(cmap: ClusterMap) -> ClusterMap:
    """A one-node cluster serves every slot at once."""
    return cmap.with_ring_slots() if cmap.assigned_slots() == 0 else cmap


def assign_ring_if_new(cmap: ClusterMap) -> ClusterMap:
    """`ringcache cluster up`: a cluster that never had slots takes the ring's
    map outright (no data anywhere yet, so nothing moves)."""
    if cmap.assigned_slots():
        raise MapError("slots are already assigned: use rebalance to move them")
    return cmap.with_ring_slots()
