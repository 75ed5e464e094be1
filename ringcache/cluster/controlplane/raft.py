"""The control plane replicated by embedded Raft (PySyncObj 0.3.17, pinned).

Theory of operation
-------------------
The voting members (3 or 5 nodes) each run a RaftControlPlane with the same
partner list. The replicated state is tiny: the cluster map as its JSON text
and its epoch. Two commands go through the Raft log:

* `cas(expected_epoch, map_json)`: applied in log order on every member, it
  stores the map only if the stored epoch is still `expected_epoch` (and the
  new one is higher). Every member applies the same commands in the same order
  to the same state, so they agree on which of two racing writers won.
  `compare_and_set` waits until the command is applied here and returns its
  verdict; past `commit_timeout` it raises UnavailableError (no quorum): the
  write may still be applied later, so callers re-read.
* `beat(node_id, payload)`: a heartbeat, counted in the replicated state
  (a promotion is guarded by the count) and stamped with each member's own
  monotonic clock when that member applies it *live* (below). Stamps are
  observations, not replicated state (they differ by a few ms between
  members). Because every member sees them, a new leader (controller)
  starts with fresh heartbeats instead of declaring everyone silent.

Durability (issue 15: a whole-cluster restart). With `journal_path` the Raft
log goes to PySyncObj's journal file (an mmap written before the entry is
acknowledged to the leader, with its commit index and term in
`<journal>.meta`) and, at each log compaction, the replicated state (map,
epoch, heartbeat counts) to `dump_path`; a restarted member loads the dump,
replays the journal after it, and the map with its epochs is back even when
every member restarted at once. Compaction runs every COMPACT_ENTRIES
entries (or COMPACT_S seconds), in this thread (no fork: the state is a few
kB and the node has threads), and cuts the journal to the entries after the
dump, so heartbeats (4/s per node) never grow it without bound.

Replayed heartbeats are never stamped fresh. A heartbeat is stamped with
now only when this member applies it live: its log index is past the last
entry its journal held at start (everything up to there predates this
process), and this member has caught up with a known leader (applied up to
the leader's commit index as first seen since it last had no leader: a
member cut off and catching up applies old entries in a burst). Otherwise
it is counted with the stamp NEVER_MS (silent until it beats again). Both
are safe for the lease argument (lease.py, failover.md): a stamp taken at
apply is never earlier than the sending, and the controller never counts a
node's silence from before it led the plane and saw it store heartbeats
(controller.py's live_since), so a too-old stamp only delays a promotion by
that rule's wait. Leases themselves are renewed only by the answer to a
heartbeat the node sent in this process (`renew`): a replayed entry has no
waiter and renews nothing.

Compatibility of journals: PySyncObj names replicated methods by a number
from their sorted names, so a new @replicated method must come with a
higher `ver=` (or a journal written before it replays as the wrong call).

Watchers run on a delivery thread owned by the plane (never on PySyncObj's
own thread, where a watcher that writes would wait on itself forever), in
apply order. `close()` stops both threads.

PySyncObj's known limits, handled here (DESIGN.md section 2): its wire format
is pickle, so a password is required (it then encrypts with `cryptography`);
a leader cut off from the majority keeps believing it leads for
`leaderFallbackTimeout` (30 s by default: 2 s here), so nothing may rest on
Raft leadership alone: fencing uses leases and epochs (issue 15). Only the
map and heartbeats go through it, never data. Membership of the voting set is
fixed at start (dynamicMembershipChange is off).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

from pysyncobj import SyncObj, SyncObjConf, SyncObjConsumer, replicated  # type: ignore[import-untyped]
from pysyncobj.syncobj import SyncObjException  # type: ignore[import-untyped]

from ...storage.clock import Clock
from ..topology import ClusterMap, MapError
from .base import NEVER_MS, ControlPlane, Heartbeat, UnavailableError, Watcher, check_successor

log = logging.getLogger(__name__)

LEADER_FALLBACK_TIMEOUT = 2.0  # seconds; PySyncObj's default is 30
# Log compaction: a dump of the state and a journal cut to what follows it.
# At 4 heartbeats/s per node a 6-node cluster writes ~24 entries/s: a
# compaction every ~40 s, and a restart replays at most this many entries.
COMPACT_ENTRIES = 1000
COMPACT_S = 60.0


class _Store(SyncObjConsumer):
    """The replicated state. Attributes set before SyncObjConsumer.__init__
    (the callbacks) are not part of it; those set after are, and must pickle."""

    def __init__(self, on_map: Callable[[ClusterMap], None],
                 on_beat: Callable[[str, dict, int], None],
                 on_restore: Callable[[], None]) -> None:
        self._on_map = on_map
        self._on_beat = on_beat
        self._on_restore = on_restore
        super().__init__()
        self.map_json = ClusterMap().to_json()
        self.epoch = 0
        self.beat_counts: dict[str, int] = {}

    @replicated
    def cas(self, expected_epoch: int, map_json: str, guard: Any = None) -> bool:
        if self.epoch != expected_epoch:
            return False
        if guard is not None and self.beat_counts.get(guard[0], 0) != guard[1]:
            return False  # the node beat since the writer looked: its lease was renewed
        try:
            cmap = ClusterMap.from_json(map_json)  # the same verdict on every member
        except MapError:
            return False
        if cmap.epoch <= expected_epoch:
            return False
        self.map_json, self.epoch = map_json, cmap.epoch
        self._on_map(cmap)
        return True

    @replicated
    def beat(self, node_id: str, payload: dict) -> int:
        count = self.beat_counts[node_id] = self.beat_counts.get(node_id, 0) + 1
        self._on_beat(node_id, payload, count)
        return self.epoch

    def _deserialize(self, data: dict) -> None:
        # A member far behind gets a snapshot instead of the log entries; a
        # restarted one loads its own dump file.
        super()._deserialize(data)
        self._on_restore()
        self._on_map(ClusterMap.from_json(self.map_json))


class RaftControlPlane(ControlPlane):
    def __init__(self, self_address: str, partners: list[str], password: str, *,
                 clock: Clock | None = None, commit_timeout: float = 3.0,
                 leader_fallback_timeout: float = LEADER_FALLBACK_TIMEOUT,
                 journal_path: str | None = None, dump_path: str | None = None,
                 **raft_options: Any) -> None:
        """self_address and partners are "host:port" of the Raft ports;
        raft_options go to SyncObjConf as they are (e.g. raftMinTimeout).
        journal_path (with dump_path, default journal_path + ".dump"): keep
        the log on disk, so the map survives a restart of every member."""
        if not password:
            raise ValueError("the raft control plane needs a password: PySyncObj's wire "
                             "format is pickle, which must never be read unauthenticated")
        self._clock = clock or Clock()
        self._timeout = commit_timeout
        self._lock = threading.Lock()
        self._map = ClusterMap()
        self._beats: dict[str, Heartbeat] = {}
        self._watchers: dict[int, Watcher] = {}
        self._next_watch = 0
        self._closed = False
        self._ready_target: int | None = None  # ready(): the commit index to reach
        self._caught_up = False
        # Live stamping (the header): the last log index at start (None
        # until known: everything applied before is a replay), and the
        # catch-up target since this member last had no leader.
        self._start_index: int | None = None
        self._live_target: int | None = None
        self._live = False
        self._deliveries: queue.SimpleQueue = queue.SimpleQueue()  # (key, map) or None: stop
        self._delivery = threading.Thread(target=self._deliver, name="controlplane-watchers",
                                          daemon=True)
        self._delivery.start()
        self._store = _Store(self._applied, self._beat_applied, self._restored)
        durable: dict[str, Any] = {}
        if journal_path is not None:
            durable = {"journalFile": journal_path,
                       "fullDumpFile": dump_path or journal_path + ".dump", "useFork": False,
                       "logCompactionMinEntries": COMPACT_ENTRIES,
                       "logCompactionMinTime": COMPACT_S}
        conf = SyncObjConf(password=password, leaderFallbackTimeout=leader_fallback_timeout,
                           dynamicMembershipChange=False, commandsWaitLeader=True,
                           **{**durable, **raft_options})
        self._raft = SyncObj(self_address, partners, conf, consumers=[self._store])
        # Calls that must run on PySyncObj's thread (its state is not locked).
        self._on_raft_thread: queue.SimpleQueue = queue.SimpleQueue()
        self._raft.addOnTickCallback(self._run_queued)
        self._start_index = _last_log_index(self._raft)

    # -- ControlPlane ---------------------------------------------------------

    def current(self) -> ClusterMap:
        return self._map

    def ready(self) -> bool:
        # Caught up: a leader is known and this member has applied the log up
        # to the leader's commit index as first seen here. (PySyncObj's own
        # isReady() wants last_applied == the leader's commit index at one
        # tick, which a follower under a steady stream of heartbeat entries
        # may never see.)
        if self._caught_up:
            return True
        status = self._raft.getStatus()
        target = status.get("leader_commit_idx")
        if status.get("leader") is None or target is None:
            return False
        if self._ready_target is None:
            self._ready_target = int(target)
        self._caught_up = int(status["last_applied"]) >= self._ready_target
        return self._caught_up

    def compare_and_set(self, expected_epoch: int, new_map: ClusterMap,
                        guard: tuple[str, int] | None = None) -> bool:
        """Blocks until decided (up to commit_timeout): call it from a thread,
        not from an event loop."""
        check_successor(expected_epoch, new_map)
        try:
            return bool(self._store.cas(expected_epoch, new_map.to_json(),
                                        list(guard) if guard is not None else None,
                                        sync=True, timeout=self._timeout))
        except SyncObjException as exc:
            raise UnavailableError(f"the control plane did not decide in "
                                   f"{self._timeout} s ({exc})") from None

    def watch(self, callback: Watcher, after_epoch: int = -1) -> Callable[[], None]:
        with self._lock:
            key = self._next_watch
            self._next_watch += 1
            self._watchers[key] = callback
            if self._map.epoch > after_epoch:
                self._deliveries.put((key, self._map))

        def cancel() -> None:
            with self._lock:
                self._watchers.pop(key, None)

        return cancel

    def beat(self, node_id: str, payload: Mapping[str, Any] | None = None,
             done: Callable[[int | None], None] | None = None) -> None:
        """Sent, not awaited: a heartbeat that cannot be decided is simply
        missed (done(None) when PySyncObj gives up on it)."""
        if done is None:
            self._store.beat(node_id, dict(payload or {}), callback=_ignore)
            return

        def decided(result: Any, error: Any) -> None:
            done(result if error == 0 and isinstance(result, int) else None)

        try:
            self._store.beat(node_id, dict(payload or {}), callback=decided)
        except SyncObjException:
            done(None)

    def heartbeats(self) -> dict[str, Heartbeat]:
        with self._lock:
            return dict(self._beats)

    def now_ms(self) -> float:
        return self._clock.monotonic() * 1000.0

    def close(self) -> None:
        """Stop the Raft thread and the delivery thread (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._raft.destroy_synchronous()
        self._deliveries.put(None)
        self._delivery.join()

    # -- Raft state, for the controller and operators ---------------------------

    def leader(self) -> str | None:
        """The last leader this member heard of ("host:port"), maybe stale."""
        leader = self._raft.getStatus().get("leader")
        return None if leader is None else str(leader)

    def is_leader(self) -> bool:
        return self.leader() == str(self._raft.selfNode)

    def transfer_leadership(self, target: str) -> None:
        """Ask this member, if it leads, to hand leadership to the voter at
        `target` ("host:port") with Raft's TimeoutNow, at the Raft thread's
        next tick. Best effort: PySyncObj refuses unless the target has the
        whole log; watch leader() to see it happen."""
        self._on_raft_thread.put(lambda: self._raft.transferLeadership(target))

    def _run_queued(self) -> None:  # on PySyncObj's thread, every tick
        while True:
            try:
                call = self._on_raft_thread.get_nowait()
            except queue.Empty:
                return
            try:
                call()
            except Exception:
                log.exception("a call on the Raft thread failed")

    # -- on PySyncObj's thread ------------------------------------------------------

    def _applied(self, cmap: ClusterMap) -> None:
        with self._lock:
            self._map = cmap
            for key in self._watchers:
                self._deliveries.put((key, cmap))

    def _beat_applied(self, node_id: str, payload: dict, count: int) -> None:
        stamp = self.now_ms() if self._applying_live() else NEVER_MS
        beat = Heartbeat(node_id, stamp, payload, count)
        with self._lock:
            self._beats[node_id] = beat

    def _applying_live(self) -> bool:
        """Whether the entry being applied now is applied as it is committed
        (the header's rule), not replayed or caught up on."""
        raft = getattr(self, "_raft", None)
        if raft is None or self._start_index is None:
            return False  # still in the constructor: the journal's replay
        status = raft.getStatus()
        applying = int(status["last_applied"]) + 1
        if applying <= self._start_index:
            return False
        if status.get("leader") is None:
            self._live, self._live_target = False, None
            return False
        if not self._live:
            target = status.get("leader_commit_idx")
            if target is None:
                return False
            if self._live_target is None:
                self._live_target = int(target)
            self._live = applying >= self._live_target
        return self._live

    def _restored(self) -> None:
        """A dump was loaded: the counts jumped past the heartbeats this
        member saw arrive; those it did not see are counted, never stamped."""
        counts = dict(self._store.beat_counts)
        with self._lock:
            for node_id, count in counts.items():
                known = self._beats.get(node_id)
                if known is None or known.count != count:
                    self._beats[node_id] = Heartbeat(node_id, NEVER_MS,
                                                     known.payload if known else {}, count)

    # -- on the delivery thread ----------------------------------------------------

    def _deliver(self) -> None:
        while True:
            item = self._deliveries.get()
            if item is None:
                return
            key, cmap = item
            with self._lock:
                callback = self._watchers.get(key)
            if callback is None:
                continue
            try:
                callback(cmap)
            except Exception:
                log.exception("cluster map watcher %r failed on epoch %d", callback, cmap.epoch)


def _ignore(result: Any, error: Any) -> None:
    pass


def _last_log_index(raft: SyncObj) -> int:
    """The index of the last entry in the member's log (its journal as
    loaded). PySyncObj has no public accessor for it; its status has the
    commit index, which a journal can run past (a restart before the
    commit index was saved), so fall back to it only if the log is hidden."""
    log_entries = getattr(raft, "_SyncObj__raftLog", None)
    if log_entries is not None and len(log_entries):
        return int(log_entries[-1][1])
    return int(raft.getStatus()["commit_idx"])
