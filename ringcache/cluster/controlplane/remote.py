"""A control plane reached through another node (a node that is not a voter).

Theory of operation
-------------------
Only the 3 or 5 voting members run Raft (raft.py). Every other node, and the
operator's tool (`ringcache cluster ...`), reaches the map through any node
that has it, over the ordinary client port with three CLUSTER subcommands
(commands/cluster.py):

* `CLUSTER MAP [after-epoch]`: the map's JSON, or nil when it is not newer
  than after-epoch (so polling an unchanged map costs a few bytes);
* `CLUSTER SETMAP expected-epoch json`: compare-and-set, answered 1 or 0
  (the answering node applies it to its own plane: Raft on a voter, or the
  next node along for another RemoteControlPlane);
* `CLUSTER BEAT node-id payload-json`: a heartbeat;
* `CLUSTER BEATS`: every node's last heartbeat (its age and payload), so
  that a node that is not a voter shows the others' offsets and health.

Watchers are fed by one polling thread (every `poll_interval` seconds), in
epoch order; a map missed between two polls is skipped, which is fine for
nodes (each map is complete) but means watchers see the newest map, not
every one. Seeds are tried in order; the first that answers is kept until it
fails. Blocking calls: use from a thread, never from an event loop.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..topology import ClusterMap
from .base import ControlPlane, Heartbeat, UnavailableError, Watcher, check_successor

log = logging.getLogger(__name__)

BEATS_EVERY = 2  # polls between two reads of the heartbeats (CLUSTER BEATS)
QUICK_TIMEOUT_S = 1.0  # MAP, BEATS, BEAT: a seed that does not answer by then is skipped


def parse_seeds(text: str) -> list[tuple[str, int]]:
    """"host:port,host:port" -> [(host, port), ...]"""
    seeds = []
    for item in text.replace(" ", ",").split(","):
        if not item:
            continue
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"bad address {item!r} (want host:port)")
        seeds.append((host, int(port)))
    return seeds


class RemoteControlPlane(ControlPlane):
    def __init__(self, seeds: list[tuple[str, int]], password: str | None = None,
                 poll_interval: float = 0.1, timeout: float = 5.0,
                 username: str | None = None,
                 connection_kwargs: dict[str, Any] | None = None) -> None:
        if not seeds:
            raise ValueError("a remote control plane needs at least one seed address")
        self._seeds = list(seeds)
        self._password = password
        self._username = username
        self._connection_kwargs = connection_kwargs or {}  # TLS options (cluster/peers.py)
        self._timeout = timeout
        self._poll_interval = poll_interval
        self._lock = threading.Lock()
        # quick -> (client, its seed), see _call
        self._clients: dict[bool, tuple[redis.Redis, tuple[str, int]] | None] = {}
        self._map = ClusterMap()
        self._watchers: dict[int, Watcher] = {}
        self._next_watch = 0
        self._delivered: dict[int, int] = {}  # watch key -> last epoch given to it
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._beats: dict[str, Heartbeat] = {}

    # -- transport -----------------------------------------------------------

    def _call(self, *args: Any, quick: bool = False) -> Any:
        """One command on the current seed, trying the others on failure.
        quick: a command any voter answers at once (MAP, BEATS, a BEAT,
        which the relay answers within 0.5 s): it gives up a seed after
        QUICK_TIMEOUT_S, so a voter cut off by a partition (packets dropped:
        a call hangs) costs a heartbeat and a poll no more than that. SETMAP
        waits for a Raft commit (up to 3 s), so it keeps the long timeout."""
        errors = []
        timeout = min(self._timeout, QUICK_TIMEOUT_S) if quick else self._timeout
        for _ in range(len(self._seeds)):
            held = self._clients.get(quick)
            if held is not None:
                client, seed = held
            else:
                seed = self._seeds[0]
                host, port = seed
                # No retries inside redis-py: its default (redis-py 6+: 10, with
                # back-off up to 1 s) kept a dead seed for ~4 s before this
                # loop could try the next one, long past a lease.
                client = redis.Redis(host=host, port=port, username=self._username,
                                     password=self._password,
                                     socket_timeout=timeout,
                                     socket_connect_timeout=timeout, protocol=2,
                                     retry=Retry(NoBackoff(), 0), **self._connection_kwargs)
                self._clients[quick] = (client, seed)
            try:
                return client.execute_command(*args)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                errors.append(f"{seed}: {exc}")
                client.close()
                self._clients[quick] = None
                if self._seeds[0] == seed:  # (the other client may have moved on already)
                    self._seeds.append(self._seeds.pop(0))  # next seed first
        raise UnavailableError("no seed answered: " + "; ".join(errors))

    def refresh(self) -> ClusterMap:
        """Fetch the map if newer than the one held; returns the newest."""
        reply = self._call("CLUSTER", "MAP", self._map.epoch, quick=True)
        if reply is not None:
            cmap = ClusterMap.from_json(reply)
            with self._lock:
                if cmap.epoch > self._map.epoch:
                    self._map = cmap
        return self._map

    # -- ControlPlane --------------------------------------------------------

    def current(self) -> ClusterMap:
        return self._map

    def compare_and_set(self, expected_epoch: int, new_map: ClusterMap,
                        guard: tuple[str, int] | None = None) -> bool:
        check_successor(expected_epoch, new_map)
        args: tuple = () if guard is None else ("GUARD", guard[0], guard[1])
        try:
            won = bool(self._call("CLUSTER", "SETMAP", expected_epoch, new_map.to_json(), *args))
        except redis.ResponseError as exc:
            raise UnavailableError(str(exc)) from None
        if won:
            with self._lock:
                if new_map.epoch > self._map.epoch:
                    self._map = new_map
            self._deliver()
        else:
            self.refresh()
        return won

    def watch(self, callback: Watcher, after_epoch: int = -1) -> Callable[[], None]:
        with self._lock:
            key = self._next_watch
            self._next_watch += 1
            self._watchers[key] = callback
            self._delivered[key] = after_epoch
            if self._poller is None:
                self._poller = threading.Thread(target=self._poll, name="controlplane-poll",
                                                daemon=True)
                self._poller.start()
        self._deliver()

        def cancel() -> None:
            with self._lock:
                self._watchers.pop(key, None)

        return cancel

    def beat(self, node_id: str, payload: Mapping[str, Any] | None = None,
             done: Callable[[int | None], None] | None = None) -> None:
        """Blocks for the round trip (the relaying voter answers once the
        heartbeat is stored): call it from a thread."""
        epoch: int | None = None
        try:
            reply = self._call("CLUSTER", "BEAT", node_id, json.dumps(dict(payload or {})),
                               quick=True)
            epoch = reply if isinstance(reply, int) else None
        except (UnavailableError, redis.ResponseError):
            pass  # a missed heartbeat is just missed
        if done is not None:
            done(epoch)

    def heartbeats(self) -> dict[str, Heartbeat]:
        """The voters' heartbeats as of the last poll (`CLUSTER BEATS`, every
        BEATS_EVERY polls), restamped on this process's clock from their ages."""
        with self._lock:
            return dict(self._beats)

    def refresh_beats(self) -> None:
        reply = self._call("CLUSTER", "BEATS", quick=True)
        now = self.now_ms()
        beats = {node_id: Heartbeat(node_id, now - float(item["age_ms"]), item["payload"],
                                    int(item.get("count", 0)))
                 for node_id, item in json.loads(reply).items()}
        with self._lock:
            self._beats = beats

    def now_ms(self) -> float:
        import time

        return time.monotonic() * 1000.0

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None and self._poller is not threading.current_thread():
            self._poller.join(2)
        for held in list(self._clients.values()):
            if held is not None:
                held[0].close()

    # -- polling -------------------------------------------------------------

    def _poll(self) -> None:
        polls = 0
        while not self._stop.wait(self._poll_interval):
            polls += 1
            try:
                self.refresh()
                if polls % BEATS_EVERY == 0:
                    self.refresh_beats()
            except Exception as exc:  # a seed down: keep the map held, try again
                log.debug("control plane poll failed: %s", exc)
                continue
            self._deliver()

    def _deliver(self) -> None:
        cmap = self._map
        with self._lock:
            due = [(key, cb) for key, cb in self._watchers.items()
                   if self._delivered.get(key, -1) < cmap.epoch]
            for key, _ in due:
                self._delivered[key] = cmap.epoch
        for _, callback in due:
            try:
                callback(cmap)
            except Exception:
                log.exception("cluster map watcher failed on epoch %d", cmap.epoch)
