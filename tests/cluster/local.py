"""Local ringcache clusters for the tests: `ringcache cluster up` on free
ports (client ports P.., Raft ports P+10000..), stopped afterwards."""

from __future__ import annotations

import contextlib
import io
import random
import time
from pathlib import Path

from ringcache.cluster import admin


def free_base(count: int) -> int:
    """A base port with `count` free client ports, their Raft ports (+10000)
    and the TLS ports a tls-cluster would use (admin.tls_port_for), below the
    ephemeral range (so outgoing connections cannot take them)."""
    for _ in range(200):
        base = random.randrange(20000, 22500)
        if all(admin.port_free(p) and admin.port_free(p + 10000)
               and admin.port_free(admin.tls_port_for(p)) for p in range(base, base + count + 2)):
            return base
    raise RuntimeError("no free ports")


class LocalCluster:
    def __init__(self, directory: Path, state: dict, output: str) -> None:
        self.dir = directory
        self.state = state
        self.output = output

    @property
    def ports(self) -> list[int]:
        return self.state["ports"]

    def client(self, index: int = 0, **kwargs):
        return admin.client(self.ports[index], **kwargs)

    def map(self):
        return admin.read_map(self.client())


@contextlib.contextmanager
def local_cluster(tmp_path: Path, shards: int, *extra: str, vnodes: int = 128,
                  replicas: int = 0, spare_ports: int = 0):
    base = free_base(shards * (1 + replicas) + spare_ports)
    directory = tmp_path / "cluster"
    out = io.StringIO()
    state: dict = {}
    try:
        state = admin.cluster_up(shards, replicas, base, directory, vnodes, list(extra),
                                 timeout=60, out=out)
        yield LocalCluster(directory, state, out.getvalue())
    finally:
        with contextlib.suppress(admin.AdminError):
            # Nodes a test started again itself (admin.start_node, recorded in
            # cluster.state only) are stopped with those the state file names.
            recorded = admin.load_state(directory)
            for port, pid in state.get("pids", {}).items():
                if recorded["pids"].get(port) != pid:
                    recorded["pids"][f"{port}/{pid}"] = pid
            admin.save_state(directory, recorded)
            admin.cluster_down(directory, out=io.StringIO())


def until(predicate, timeout: float = 15.0, what: str = "") -> None:
    """Wait until predicate() is true, a Redis or socket error counting as not
    yet (nodes restart and fail over under the tests)."""
    import redis
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
