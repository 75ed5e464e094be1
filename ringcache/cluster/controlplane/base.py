"""The control plane's interface: one versioned cluster map, compare-and-set,
watches and heartbeats.

Theory of operation
-------------------
The cluster map (topology.ClusterMap) is the only shared state of the
cluster's configuration. A control plane stores one map and changes it only
by compare-and-set on the map epoch: a writer reads the map, computes the next
one with a pure transition (which bumps the epoch), and stores it only if the
stored epoch is still the one it read. Two writers racing from the same map
cannot both win; the loser re-reads and retries (`update`). Epochs therefore
grow by one transition at a time and every node that has seen epoch E has
seen every change up to E (in order, if it watched).

Watchers are called with every new map, in epoch order, after it is stored;
`watch(callback, after_epoch)` first delivers the current map if it is newer
than `after_epoch`, so a node that read the map and then watches misses
nothing in between. Which thread calls them is the backend's choice (local:
the writer's; raft: its delivery thread); either way a watcher may write.

Heartbeats are how the controller (issue 15) learns that a node is alive: each
node sends one every so often with a small payload (the epochs it has seen,
its replication offset); the control plane stamps it with its own monotonic
clock on receipt. Timeouts compare stamps of one clock only, never clocks of
two machines.

Backends: local.LocalControlPlane (one process: a single node, tests);
embedded Raft (PySyncObj) and etcd come later behind the same interface. This
module does no I/O and does not import asyncio: callbacks are plain calls,
and an event-loop owner that needs them on its loop hands them over itself
(loop.call_soon_threadsafe).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..topology import ClusterMap, MapError

Watcher = Callable[[ClusterMap], None]


# The stamp of a heartbeat this member counted but did not see arrive: one
# replayed from its Raft journal at start, or caught up on after it was
# behind (raft.py). Far in the past, so the node counts as silent until it
# beats again; finite, so ages stay plain numbers.
NEVER_MS = -1e12


@dataclass(frozen=True)
class Heartbeat:
    """The last heartbeat of one node: when the control plane received it
    (its own monotonic clock, in ms) and what the node said."""

    node_id: str
    received_ms: float
    payload: Mapping[str, Any] = field(default_factory=dict)
    # How many heartbeats of this node the plane has stored (every member
    # counts the same ones, in log order): a promotion is guarded by it.
    count: int = 0


class ConflictError(Exception):
    """`update` gave up: the map kept changing under it."""


class UnavailableError(Exception):
    """The backend could not get a write decided in time (no quorum, no
    leader). The write may still be decided later: re-read before retrying."""


class ControlPlane(ABC):
    @abstractmethod
    def current(self) -> ClusterMap:
        """The newest stored map."""

    @abstractmethod
    def compare_and_set(self, expected_epoch: int, new_map: ClusterMap,
                        guard: tuple[str, int] | None = None) -> bool:
        """Store new_map if the stored map's epoch is expected_epoch; False
        (nothing stored) if another writer got there first. new_map's epoch
        must be greater than expected_epoch (MapError otherwise).
        guard=(node_id, count): also only if the plane has stored exactly
        `count` heartbeats of node_id, decided in the same step as the
        store (a promotion must not pass a heartbeat that renewed the old
        primary's lease: see cluster/lease.py)."""

    @abstractmethod
    def watch(self, callback: Watcher, after_epoch: int = -1) -> Callable[[], None]:
        """Call callback(map) with each map stored from now on, in epoch order,
        and at once with the current map if its epoch is above after_epoch.
        Returns a function that stops the watch."""

    @abstractmethod
    def beat(self, node_id: str, payload: Mapping[str, Any] | None = None,
             done: Callable[[int | None], None] | None = None) -> None:
        """Record that node_id is alive, stamped with the control plane's clock
        when it arrives (at once for local; when applied, for raft). Does
        not wait: done(epoch) is called (on any thread) once the heartbeat
        is stored, with the map epoch at that point of the plane's history,
        or done(None) if it could not be stored."""

    def heartbeat(self, node_id: str, payload: Mapping[str, Any] | None = None) -> None:
        """A heartbeat that nobody waits for."""
        self.beat(node_id, payload)

    def renew(self, node_id: str, payload: Mapping[str, Any] | None = None,
              timeout: float = 1.0) -> int | None:
        """A heartbeat, waited for: the map epoch at the point the plane stored
        it, or None when it was not stored within timeout. Blocks: call it
        from a thread."""
        decided = threading.Event()
        result: list[int | None] = [None]

        def done(epoch: int | None) -> None:
            result[0] = epoch
            decided.set()

        self.beat(node_id, payload, done)
        return result[0] if decided.wait(timeout) else None

    @abstractmethod
    def heartbeats(self) -> dict[str, Heartbeat]:
        """The last heartbeat of every node that has sent one."""

    @abstractmethod
    def now_ms(self) -> float:
        """The control plane's monotonic clock, the one heartbeats are stamped with."""

    def ready(self) -> bool:
        """Whether `current()` can be trusted to decide from: a restarted
        Raft member starts from an empty log and must catch up first (it
        would otherwise take itself for a stranger to its own cluster)."""
        return True

    def close(self) -> None:
        """Release what the backend holds (threads, sockets, files)."""

    # -- built on the primitives ----------------------------------------------

    def update(self, change: Callable[[ClusterMap], ClusterMap], attempts: int = 16) -> ClusterMap:
        """Read, apply a pure transition, compare-and-set; retry on conflict.
        A MapError from `change` (the transition is not allowed on the map as
        it now is) propagates at once: retrying would not help."""
        for _ in range(attempts):
            before = self.current()
            after = change(before)
            if after.epoch <= before.epoch:
                return before  # the change found nothing to do
            if self.compare_and_set(before.epoch, after):
                return after
        raise ConflictError(f"the cluster map changed {attempts} times while updating it")

    def silent_nodes(self, timeout_ms: float, node_ids: list[str] | None = None) -> list[str]:
        """Nodes with no heartbeat for more than timeout_ms (nodes never heard
        from count as silent), sorted. node_ids defaults to the map's members."""
        now = self.now_ms()
        beats = self.heartbeats()
        ids = [m.id for m in self.current().members] if node_ids is None else node_ids
        return sorted(i for i in ids
                      if i not in beats or now - beats[i].received_ms > timeout_ms)


def check_successor(expected_epoch: int, new_map: ClusterMap) -> None:
    if new_map.epoch <= expected_epoch:
        raise MapError(f"a new map must have an epoch above {expected_epoch}, "
                       f"got {new_map.epoch}")
