"""Client workers that write and read through redis-py `RedisCluster` and
record every operation in a `History`.

Worker w, at its n-th operation, does in turn (j = its n-th key of
`keys_per_worker`, so a worker's keys fall on every shard; n counts on from
a number that grows with the wall clock, so values written in a later
trial on the same cluster are larger than any of an earlier one):

  SET u:w:n n        a unique key, written once
  INCR c:w:j         a counter only w increments
  SET r:w:j n        a register only w writes, n increasing
  GET r:w:j
  GET c:w:j

optionally each write followed by `WAIT 1 wait_ms` on the node that took
it (the same connection: the worker's own client, and redis-py's pool hands
back the connection it used last), recording whether a replica acknowledged
it. A worker paces itself to `rate` operations a second and moves to its
next operation after a failure, so one dead shard does not stall it.

The client is set up to measure the servers, not its own back-off: no
retries of its own (`Retry(NoBackoff(), 0)`), topology refreshes at most
every 50 ms, a 1 s socket timeout. Outcomes: a reply is ok; an error reply
(CLUSTERDOWN, MOVED past the redirect limit, READONLY, NOREPLICAS, ...) or a
refused connection is fail; a timeout or a connection lost mid-call is info
(unknown).
"""

from __future__ import annotations

import threading
import time
from typing import Iterable

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.retry import Retry

from .history import FAIL, INFO, OK, History, Op


def cluster_client(nodes: Iterable[tuple[str, int]], timeout: float = 1.0) -> RedisCluster:
    return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in nodes],
                        retry=Retry(NoBackoff(), 0), topology_refresh_min_interval=0.05,
                        socket_timeout=timeout, socket_connect_timeout=timeout,
                        protocol=2, require_full_coverage=False)


def classify(exc: BaseException) -> str:
    """fail when the operation surely did not happen, else info."""
    if isinstance(exc, redis.ResponseError):
        return FAIL
    if isinstance(exc, redis.ConnectionError) and "connecting" in str(exc):
        return FAIL  # refused or unreachable before anything was sent
    return INFO


def slot_of(key: str) -> int:
    return key_slot(key.encode())


class Worker(threading.Thread):
    def __init__(self, index: int, nodes: list[tuple[str, int]], history: History,
                 stop: threading.Event, rate: float, keys: int, wait_ms: int | None,
                 first: int = 0) -> None:
        super().__init__(name=f"worker-{index}", daemon=True)
        self.index = index
        self.nodes = nodes
        self.history = history
        self.halt = stop
        self.interval = 1.0 / rate
        self.keys = keys
        self.wait_ms = wait_ms
        self.first = first
        self.client: RedisCluster | None = None

    def _connect(self) -> RedisCluster | None:
        try:
            return cluster_client(self.nodes)
        except Exception:  # noqa: BLE001  (a cluster mid-fault: try again later)
            return None

    def run(self) -> None:
        n = self.first
        next_at = time.monotonic()
        while not self.halt.is_set():
            if self.client is None:
                self.client = self._connect()
                if self.client is None:
                    time.sleep(0.05)
                    continue
            n += 1
            j = (n // 5) % self.keys
            w = self.index
            step = n % 5
            if step == 0:
                self.call("set", f"u:{w}:{n}", n)
            elif step == 1:
                self.call("incr", f"c:{w}:{j}")
            elif step == 2:
                self.call("set", f"r:{w}:{j}", n)
            elif step == 3:
                self.call("get", f"r:{w}:{j}")
            else:
                self.call("get", f"c:{w}:{j}")
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()  # behind: do not burst to catch up
        if self.client is not None:
            self.client.close()

    def call(self, f: str, key: str, value: int | None = None) -> None:
        assert self.client is not None
        rc = self.client
        op = Op(self.index, f, key, value, time.monotonic(), 0.0, OK, slot=slot_of(key))
        try:
            if f == "set":
                rc.set(key, value if value is not None else 0)
            elif f == "incr":
                op.value = int(rc.incr(key))
            else:
                got = rc.get(key)
                op.value = None if got is None else int(got)
            op.end = time.monotonic()
        except Exception as exc:  # noqa: BLE001  (every failure is recorded)
            op.end = time.monotonic()
            op.outcome = classify(exc)
            op.error = f"{type(exc).__name__}: {exc}"[:200]
            self.history.add(op)
            return
        try:
            node = rc.get_node_from_key(key)
            op.node = node.name
        except Exception:  # noqa: BLE001
            node = None
        if op.is_write and self.wait_ms is not None:
            try:
                acks = rc.execute_command("WAIT", 1, self.wait_ms, target_nodes=node)
                op.replicated = int(acks) >= 1
            except Exception:  # noqa: BLE001
                op.replicated = False
        self.history.add(op)


class Workload:
    """`workers` threads writing through RedisCluster until `stop()`."""

    def __init__(self, nodes: list[tuple[str, int]], history: History, workers: int = 4,
                 rate: float = 200.0, keys: int = 16, wait_ms: int | None = None) -> None:
        self.history = history
        self.halt = threading.Event()
        # Operation numbers (the values written) go on from one workload to
        # the next on the same cluster: the keys are the same every trial,
        # and a register still holding the last trial's larger value made the
        # checker call this trial's own later reads backwards.
        first = int(time.time() * 1000) * 1000
        self.workers = [Worker(i, nodes, history, self.halt, rate, keys, wait_ms, first)
                        for i in range(workers)]
        self.nodes = nodes

    def start(self) -> None:
        for w in self.workers:
            w.start()

    def stop(self) -> None:
        self.halt.set()
        for w in self.workers:
            w.join(10)

    def successes_since(self, t: float) -> int:
        return sum(1 for op in self.history.ops if op.outcome == OK and op.end > t)


def read_back(nodes: list[tuple[str, int]], keys: Iterable[str],
              timeout: float = 60.0) -> dict[str, int | None]:
    """Every key's value (None: missing) as the cluster now has it, retrying
    while it is still settling."""
    pending = sorted(set(keys))
    found: dict[str, int | None] = {}
    deadline = time.monotonic() + timeout
    rc = None
    while pending:
        try:
            if rc is None:
                rc = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in nodes],
                                  socket_timeout=2, protocol=2)
            chunk = pending[:500]
            pipe = rc.pipeline()
            for k in chunk:
                pipe.get(k)
            for k, v in zip(chunk, pipe.execute()):
                found[k] = None if v is None else int(v)
            pending = pending[500:]
        except Exception:  # noqa: BLE001
            if time.monotonic() > deadline:
                raise
            if rc is not None:
                rc.close()
            rc = None
            time.sleep(0.2)
    if rc is not None:
        rc.close()
    return found


def written_keys(history: History) -> set[str]:
    return {op.key for op in history.ops if op.is_write and op.outcome != FAIL}
