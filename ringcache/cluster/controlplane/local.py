"""An in-process control plane: one node's cluster, and tests.

Every ControlPlane user in the process shares one LocalControlPlane (several
nodes in one test process can share one, which is how multi-node logic is
tested without a network). A lock makes compare-and-set atomic across
threads. Deliveries to watchers go through one FIFO queue, filled under the
lock in epoch order and drained outside it by whichever thread is not already
draining: each watcher sees every map in epoch order, and a watcher may itself
call compare_and_set (its map is delivered after the current round, not in
the middle of it).

With `path`, every stored map is also written to that file (to a temporary
file, fsynced, then renamed over the old one), and a new LocalControlPlane
starts from it when it exists (its `initial` argument is then ignored): a
single node restarted keeps its epochs (issue 15: the epoch a node has seen
survives its restart).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ...storage.clock import Clock
from ..topology import ClusterMap
from .base import ControlPlane, Heartbeat, Watcher, check_successor

log = logging.getLogger(__name__)


class LocalControlPlane(ControlPlane):
    def __init__(self, initial: ClusterMap | None = None, clock: Clock | None = None,
                 path: str | os.PathLike | None = None) -> None:
        self._clock = clock or Clock()
        self._path = Path(path) if path is not None else None
        if self._path is not None and self._path.exists():
            initial = ClusterMap.from_json(self._path.read_bytes())  # the file wins
        self._map = initial if initial is not None else ClusterMap()
        self._lock = threading.Lock()
        self._watchers: dict[int, Watcher] = {}
        self._next_watch = 0
        self._pending: deque[tuple[int, ClusterMap]] = deque()  # (watch key, map)
        self._draining = False
        self._beats: dict[str, Heartbeat] = {}
        self._counts: dict[str, int] = {}
        if self._path is not None:
            self._save(self._map)

    def current(self) -> ClusterMap:
        return self._map

    def compare_and_set(self, expected_epoch: int, new_map: ClusterMap,
                        guard: tuple[str, int] | None = None) -> bool:
        check_successor(expected_epoch, new_map)
        with self._lock:
            if self._map.epoch != expected_epoch:
                return False
            if guard is not None and self._counts.get(guard[0], 0) != guard[1]:
                return False
            if self._path is not None:
                self._save(new_map)  # durable before anyone can see it
            self._map = new_map
            self._pending.extend((key, new_map) for key in self._watchers)
        self._drain()
        return True

    def watch(self, callback: Watcher, after_epoch: int = -1) -> Callable[[], None]:
        with self._lock:
            key = self._next_watch
            self._next_watch += 1
            self._watchers[key] = callback
            if self._map.epoch > after_epoch:
                self._pending.append((key, self._map))
        self._drain()

        def cancel() -> None:
            with self._lock:
                self._watchers.pop(key, None)

        return cancel

    def _drain(self) -> None:
        with self._lock:
            if self._draining:
                return  # the draining thread (maybe this one, further up) delivers it
            self._draining = True
        try:
            while True:
                with self._lock:
                    if not self._pending:
                        # In the same critical section as the check: a map
                        # queued after it finds nobody draining and drains.
                        self._draining = False
                        return
                    key, cmap = self._pending.popleft()
                    callback = self._watchers.get(key)  # None: cancelled meanwhile
                if callback is not None:
                    self._call(callback, cmap)
        except BaseException:
            with self._lock:
                self._draining = False
            raise

    def beat(self, node_id: str, payload: Mapping[str, Any] | None = None,
             done: Callable[[int | None], None] | None = None) -> None:
        with self._lock:
            count = self._counts[node_id] = self._counts.get(node_id, 0) + 1
            self._beats[node_id] = Heartbeat(node_id, self.now_ms(), dict(payload or {}), count)
            epoch = self._map.epoch
        if done is not None:
            done(epoch)

    def heartbeats(self) -> dict[str, Heartbeat]:
        with self._lock:
            return dict(self._beats)

    def now_ms(self) -> float:
        return self._clock.monotonic() * 1000.0

    @staticmethod
    def _call(callback: Watcher, cmap: ClusterMap) -> None:
        # One failing watcher must not keep the map from the others.
        try:
            callback(cmap)
        except Exception:
            log.exception("cluster map watcher %r failed on epoch %d", callback, cmap.epoch)

    def _save(self, cmap: ClusterMap) -> None:
        assert self._path is not None
        tmp = self._path.with_name(self._path.name + ".tmp")
        with open(tmp, "w") as f:
            f.write(cmap.to_json())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._path)
