"""The controller: finds failed primaries and promotes a replica in their
place (issue 15's automatic failover).

Theory of operation
-------------------
Every voter runs a Controller thread; only the one whose Raft member leads
acts, so the controller moves with leadership (a new leader picks up where
the old one stopped: its decisions rest only on the map and on heartbeats,
which every member applies from the log). Every CHECK_S it reads the map and
the heartbeats and, for each shard with replicas, decides with the pure
`choose_promotion`:

* the primary is failed when nothing was heard from it for
  `lease.promotion_wait_ms(cluster-node-timeout, lease)` — at least the
  node timeout and at least lease x (1 + DRIFT), so its lease has run out
  (lease.py). "Heard" is the later of when this member stored the
  primary's last heartbeat (as a follower too: a stamp is never earlier
  than the sending) and when the plane, as this member sees it, last
  became live: since then it has stored some node's heartbeat at least
  every PLANE_STALL_MS. A plane that stops storing anything (an election,
  a member catching up) silences every node at once; that is not evidence
  against any of them, so once it is live again every node gets
  STALL_GRACE_MS (a heartbeat lost in the stall, given up, and the next
  one stored) before it is judged: the promotion comes at the later of
  the last heartbeat + the wait (what safety needs) and live + the grace
  (a node never heard by this member gets a full wait from live);
* the replacement is the reachable replica (heard within the node timeout,
  reporting the replica role) with the highest replication offset (ties:
  the lower id, so every controller chooses alike);
* the promotion is `ClusterMap.promote` (a new config epoch for the shard;
  the old primary stays in the shard as a replica of the new one, so it
  rejoins as one when it comes back) stored by compare-and-set guarded by
  the old primary's heartbeat count: if it beat since the controller
  looked, nothing is stored and the next check decides again.

A leader that is itself the primary of a shard with replicas hands the lead
to a voter that is not a primary (`step_aside`, Raft's TimeoutNow, when one
was heard from lately): a controller that dies with its shard's primary
makes that failover wait for an election, the grace, and a late stamp of the
dead leader's last heartbeat (a follower stamps an entry when it applies it,
after the election), 1.7-2.2 s instead of ~1.1 s.

Each promotion logs `failover-timeline` stamps (CLOCK_MONOTONIC, which the
processes of one machine share) that tests/faults/timeline.py turns into the
phases of a failover.

Every node applies the new map: the promoted replica stops replicating
(PSYNC2 keeps the old history as its second id), the other replicas follow
it and continue with a partial resync, and the old primary, when it comes
back, finds itself a replica and syncs from the new one (dropping whatever
it had that the new primary never got).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from .controlplane.base import Heartbeat
from .lease import DRIFT, promotion_wait_ms
from .topology import ClusterMap, Shard

if TYPE_CHECKING:
    from .node import ClusterNode

log = logging.getLogger("ringcache")

CHECK_S = 0.02  # adds at most this to the detection
PLANE_STALL_MS = 500.0  # no heartbeat of any node stored for this long: the plane stalls
# After a stall, how long a node has to get a heartbeat stored before it is
# judged: a beat lost in the stall is given up after node.RENEW_TIMEOUT_S
# (0.5 s) and the next one is sent at once, then stored in one commit.
STALL_GRACE_MS = 750.0
# A leader that is itself a primary of a shard with replicas hands the lead to
# a voter that is not (one heard from, caught up), after leading this long,
# asking again every STEP_ASIDE_RETRY_MS until it happens: killing a primary
# then does not stall the plane too.
STEP_ASIDE_MS = 1000.0
STEP_ASIDE_RETRY_MS = 250.0


@dataclass(frozen=True)
class Promotion:
    shard: str
    failed: str  # the old primary
    replica: str  # the one promoted
    guard: int  # the old primary's heartbeat count when decided
    silent_ms: float
    heard_ms: float = 0.0  # when the primary was last heard (its beat's stamp, or live_since)
    beat_ms: float = 0.0  # its last heartbeat's stamp (heard_ms is later after a stall)


def choose_promotion(cmap: ClusterMap, shard: Shard, beats: Mapping[str, Heartbeat],
                     now_ms: float, live_since_ms: float, timeout_ms: float,
                     lease_ms: float, drift: float = DRIFT) -> Promotion | None:
    """A replica to promote in place of the shard's primary, or None while
    the primary is not failed or no replica can take over."""
    if not shard.replicas:
        return None
    beat = beats.get(shard.primary)
    wait = promotion_wait_ms(timeout_ms, lease_ms, drift)
    if beat is None:
        heard = live_since_ms  # never heard by this member: a full wait from when it could
    else:
        # Safety needs only `wait` since the last stored heartbeat (its stamp
        # here is no earlier than its storing). A stalled plane (an election)
        # silences everyone at once, so once it is live again every node
        # also gets STALL_GRACE_MS to be heard before it is judged.
        heard = max(beat.received_ms, live_since_ms - wait + min(STALL_GRACE_MS, wait))
    silent = now_ms - heard
    if silent <= wait:
        return None
    best: tuple[int, str] | None = None
    for replica in shard.replicas:
        rb = beats.get(replica)
        if rb is None or now_ms - rb.received_ms > timeout_ms:
            continue  # not reachable
        if rb.payload.get("role") != "replica":
            continue
        offset = rb.payload.get("offset", 0)
        offset = offset if isinstance(offset, int) else 0
        if best is None or (offset, _neg(replica)) > (best[0], _neg(best[1])):
            best = (offset, replica)
    if best is None:
        return None
    return Promotion(shard.id, shard.primary, best[1], beat.count if beat is not None else 0,
                     silent, heard, beat.received_ms if beat is not None else 0.0)


def choose_successor(cmap: ClusterMap, beats: Mapping[str, Heartbeat], now_ms: float,
                     timeout_ms: float, myself: str, voters: str) -> str | None:
    """The Raft address ("host:cluster-port") of a voter other than myself
    that is no shard's primary and was heard within the node timeout (the
    lowest id first), or None."""
    addresses = {v.strip() for v in voters.split(",") if v.strip()}
    primaries = {s.primary for s in cmap.shards}
    for member in sorted(cmap.members, key=lambda m: m.id):
        address = f"{member.host}:{member.cport}"
        beat = beats.get(member.id)
        if (member.id == myself or address not in addresses or member.id in primaries
                or beat is None or now_ms - beat.received_ms > timeout_ms):
            continue
        return address
    return None


def _neg(node_id: str) -> tuple[int, ...]:
    """Orders ids so that the lower one wins a tie under max()."""
    return tuple(-ord(c) for c in node_id)


class Controller:
    def __init__(self, node: "ClusterNode") -> None:
        self.node = node
        self.live_since_ms: float | None = None
        self.promotions: list[dict] = []  # the last ones, for INFO and tests
        self.stepped_aside_ms = -1e18  # when this controller last asked to hand the lead on
        self._warned: set[str] = set()

    def run(self) -> None:
        node = self.node
        stop: threading.Event = node._stop
        while not stop.wait(CHECK_S):
            try:
                self.check()
            except Exception:
                log.exception("the cluster controller's check failed")

    def check(self) -> None:
        node = self.node
        plane = node.plane
        if plane is None or not plane.is_leader():  # type: ignore[attr-defined]
            if self.live_since_ms is not None:
                self.live_since_ms = None
                log.info("Cluster controller: this node no longer leads the control plane")
            return
        now = plane.now_ms()
        beats = plane.heartbeats()
        latest = max((b.received_ms for b in beats.values()), default=-1e18)
        if now - latest > PLANE_STALL_MS:
            self.live_since_ms = None  # nothing stored lately: judge nobody
            return
        if self.live_since_ms is None:
            self.live_since_ms = now
            log.info("Cluster controller: this node leads the control plane, which stores "
                     "heartbeats (failover-timeline live mono=%.3f newest beat mono=%.3f)",
                     now / 1000.0, latest / 1000.0)
        cmap = plane.current()
        config = node.server.config
        timeout = config["cluster-node-timeout"]
        for shard in cmap.shards:
            decision = choose_promotion(cmap, shard, beats, now, self.live_since_ms, timeout,
                                        node.lease.length_s * 1000.0)
            if decision is None:
                continue
            self.promote(cmap, decision)
            return  # one per check: the map changed
        self.step_aside(cmap, beats, now, timeout)

    def step_aside(self, cmap: ClusterMap, beats: Mapping[str, Heartbeat], now: float,
                   timeout_ms: float) -> None:
        """While this leader is a primary of a shard with replicas, ask Raft
        to move the lead to a voter that is not a primary: a leader that
        dies with its shard's primary makes that failover wait for an
        election and the grace after it (0.6-1 s more)."""
        node = self.node
        shard = cmap.shard_of(node.myself)
        if shard is None or shard.primary != node.myself or not shard.replicas:
            return
        assert self.live_since_ms is not None
        if (now - self.live_since_ms < STEP_ASIDE_MS
                or now - self.stepped_aside_ms < STEP_ASIDE_RETRY_MS):
            return  # (PySyncObj refuses a target that lacks the newest entries: try again)
        target = choose_successor(cmap, beats, now, timeout_ms, node.myself,
                                  node.server.config["cluster-voters"])
        if target is None:
            return  # every voter is a primary (or silent): stay
        transfer = getattr(node.plane, "transfer_leadership", None)
        if transfer is None:
            return
        if self.stepped_aside_ms < self.live_since_ms:  # the first try while leading
            log.info("Cluster controller: this leader is a primary; handing the lead to %s",
                     target)
        self.stepped_aside_ms = now
        transfer(target)

    def promote(self, cmap: ClusterMap, decision: Promotion) -> None:
        plane = self.node.plane
        assert plane is not None
        started = time.monotonic()
        new_map = cmap.promote(decision.replica)
        try:
            won = plane.compare_and_set(cmap.epoch, new_map, (decision.failed, decision.guard))
        except Exception as exc:
            log.warning("Cluster controller: promoting %s failed: %s", decision.replica, exc)
            return
        if not won:
            return  # the map or the old primary's heartbeats moved: decide again
        committed = time.monotonic()
        # The mono= stamps (CLOCK_MONOTONIC, shared by the processes of one
        # machine) let the fault harness break a failover down into phases
        # (tests/faults/timeline.py).
        log.warning("Cluster controller: primary %s of shard %s silent for %.0f ms: promoted %s "
                    "(map epoch %d, stored in %.0f ms) failover-timeline beat mono=%.3f heard mono=%.3f "
                    "decided mono=%.3f committed mono=%.3f", decision.failed, decision.shard,
                    decision.silent_ms, decision.replica, new_map.epoch,
                    (committed - started) * 1000, decision.beat_ms / 1000.0,
                    decision.heard_ms / 1000.0, started, committed)
        self.promotions.append({"shard": decision.shard, "failed": decision.failed,
                                "promoted": decision.replica, "epoch": new_map.epoch,
                                "silent_ms": round(decision.silent_ms)})
        del self.promotions[:-16]
