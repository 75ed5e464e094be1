"""CLUSTER FAILOVER: a replica takes over its primary on request (planned
maintenance), with Redis's three modes.

Theory of operation
-------------------
Default (coordinated, no acknowledged write lost), run by the replica R:

1. R asks its primary P over P's client port: `CLUSTER MFPAUSE ms`. P
   pauses writes (the CLIENT PAUSE WRITE machinery: they wait in their
   connections), gives up its lease and stops sending heartbeats for `ms`,
   and answers its replication offset: every write P acknowledged is below
   it.
2. R waits until its own replication offset reaches P's.
3. R stores `promote(R)` in the control plane, guarded by P's heartbeat
   count as the plane has it now: P sends none while paused, so if one is
   stored before the promotion (P's pause ran out and it went on as
   primary), the promotion fails instead of making two primaries.
4. Every node applies the map; P becomes a replica of R, lifts its pause,
   and the writes that waited are routed again: `-MOVED` to R.

If any step fails before the map changes, P's pause runs out and P goes on
as the primary (its next heartbeat renews its lease).

FORCE (P unreachable or not answering): no steps 1-2. TAKEOVER is the same
here: Redis's TAKEOVER skips the replicas' vote, and ringcache has no vote
to skip (the map in the control plane is the only truth). In both, R
promotes itself (guarded by P's heartbeat count) and takes writes only
lease x (1 + DRIFT) after the map changed, when any lease P could still
hold has run out: never two primaries, but writes P acknowledged that had
not reached R are lost, as in Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import redis

from . import peers
from .lease import DRIFT

if TYPE_CHECKING:
    from .node import ClusterNode

log = logging.getLogger("ringcache")

MF_TIMEOUT_MS = 3000  # the primary's pause; the whole coordinated failover must fit in it
CATCHUP_POLL_S = 0.005
FORCE_TIMEOUT_S = 10.0  # FORCE/TAKEOVER keep trying the guarded promotion this long


def pause_for_failover(node: "ClusterNode", timeout_ms: int) -> int:
    """The primary's side (CLUSTER MFPAUSE): pause writes, drop the lease,
    stop heartbeats for timeout_ms; returns the replication offset."""
    seconds = timeout_ms / 1000.0
    node.server.pause(seconds, False)
    with node.lease_lock:
        node.beats_paused_until = time.monotonic() + seconds
        node.lease.revoke()
    node.route()  # (the Router reads the lease at each write anyway)
    log.warning("Manual failover requested by a replica: writes paused for %d ms", timeout_ms)
    return node.server.replication.primary.offset


async def run(node: "ClusterNode", mode: str) -> None:
    """The replica's side, as a task on the node's loop."""
    loop = asyncio.get_running_loop()
    cmap = node.map
    shard = cmap.shard_of(node.myself)
    if shard is None or shard.primary == node.myself:
        return
    old_primary = shard.primary
    member = cmap.member(old_primary)
    assert member is not None
    plane = node.plane
    assert plane is not None
    started = time.monotonic()
    deadline = started + MF_TIMEOUT_MS / 1000.0 * 0.8
    give_up = started + FORCE_TIMEOUT_S
    try:
        if mode == "default":
            offset = await loop.run_in_executor(None, _ask_pause, node, member.host,
                                                peers.port_of(node.server.config, member))
            while node.server.replication.primary.offset < offset:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the replica did not reach the primary's offset {offset}")
                await asyncio.sleep(CATCHUP_POLL_S)
        else:
            # Any lease the old primary holds runs out before this node writes.
            node.hold_lease_until(time.monotonic() + node.lease.length_s * (1.0 + DRIFT))
        while True:
            won = await loop.run_in_executor(None, _promote, node, cmap.epoch, old_primary)
            if won is not None:
                break
            if time.monotonic() > (deadline if mode == "default" else give_up):
                raise TimeoutError("the promotion was not stored in time")
            await asyncio.sleep(0.02)
            cmap = node.map
            if cmap.shard_of(node.myself) is None or cmap.is_primary(node.myself):
                return
        node.apply_map(won)
        log.warning("Manual failover (%s): this node is the primary of shard %s (map epoch %d, "
                    "%.0f ms)", mode, shard.id, won.epoch, (time.monotonic() - started) * 1000)
    except Exception as exc:
        log.warning("Manual failover (%s) failed: %s", mode, exc)


def _ask_pause(node: "ClusterNode", host: str, port: int) -> int:
    client = redis.Redis(host=host, port=port, **peers.redis_kwargs(node.server.config),
                         socket_timeout=2,
                         socket_connect_timeout=2, protocol=2)
    try:
        return int(client.execute_command("CLUSTER", "MFPAUSE", MF_TIMEOUT_MS))
    finally:
        client.close()


def _promote(node: "ClusterNode", epoch: int, old_primary: str) -> Any:
    """One guarded compare-and-set of promote(myself); the new map, or None
    when the map or the old primary's heartbeats moved (try again)."""
    plane = node.plane
    assert plane is not None
    refresh = getattr(plane, "refresh_beats", None)
    if refresh is not None:
        refresh()
    if hasattr(plane, "refresh"):
        plane.refresh()
    cmap = plane.current()
    shard = cmap.shard_of(node.myself)
    if shard is None or shard.primary != old_primary:
        return None
    beat = plane.heartbeats().get(old_primary)
    new_map = cmap.promote(node.myself)
    if plane.compare_and_set(cmap.epoch, new_map, (old_primary, beat.count if beat else 0)):
        return new_map
    return None
