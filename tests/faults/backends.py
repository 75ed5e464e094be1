"""Clusters of real processes that the harness starts and owns, each node's
pid known, so that faults hit only them.

- `RedisCluster`: redis-server 7 processes (N primaries, R replicas each),
  created with `redis-cli --cluster create ... --cluster-replicas R`, at a
  given `cluster-node-timeout` (Redis's default 15000, or e.g. 1000).
- `RingcacheCluster`: ringcache nodes started the way `ringcache cluster up`
  starts them (the first 3 are the Raft voters, the others join through
  them), then the ring's slot map assigned (`cluster/admin.py`). Replicas
  per shard come with the failover work (issue 15); until they exist the
  backend runs with replicas=0.

Both run on a `netns.Loopback` or `netns.Namespaces` network (node i at
net.host(i), started through net.wrap(i)). `topology()` asks a live node
(CLUSTER NODES, Redis's format, which ringcache answers too) who is primary
of which slots and who replicates whom; `restart(node)` runs the same
command line again (the node keeps its id through its config file).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import redis

from .netns import Loopback, Namespaces

Network = Loopback | Namespaces


@dataclasses.dataclass
class Node:
    index: int
    host: str
    port: int
    argv: list[str]
    dir: Path
    proc: subprocess.Popen | None = None
    stopped: bool = False   # SIGSTOPped by a fault

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        log = open(self.dir / "stdout.log", "ab")
        self.proc = subprocess.Popen(self.argv, cwd=self.dir, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.stopped = False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            os.kill(self.pid, sig)
            if sig == signal.SIGKILL:
                self.proc.wait(10)  # type: ignore[union-attr]

    def client(self, timeout: float = 2.0) -> redis.Redis:
        return redis.Redis(self.host, self.port, socket_timeout=timeout,
                           socket_connect_timeout=timeout, protocol=2)


@dataclasses.dataclass
class Topology:
    primaries: dict[str, set[int]]         # addr -> slots it serves
    replicas: dict[str, str]               # replica addr -> its primary's addr
    failed: set[str]

    def replicas_of(self, primary: str) -> list[str]:
        return sorted(r for r, p in self.replicas.items() if p == primary)


def parse_cluster_nodes(text: str) -> Topology:
    ids: dict[str, str] = {}
    rows = []
    for line in text.strip().splitlines():
        parts = line.split()
        node_id, addr, master = parts[0], parts[1].split("@")[0], parts[3]
        ids[node_id] = addr
        rows.append((addr, parts[2].split(","), master, parts[8:]))
    top = Topology({}, {}, set())
    for addr, flags, master, slots in rows:
        if "fail" in flags or "noaddr" in flags:
            top.failed.add(addr)
        if "master" in flags:
            owned: set[int] = set()
            for s in slots:
                if s.startswith("["):
                    continue  # a slot being migrated or imported
                lo, _, hi = s.partition("-")
                owned.update(range(int(lo), int(hi or lo) + 1))
            if owned or "fail" not in flags:
                top.primaries[addr] = owned
        elif "slave" in flags and master in ids:
            top.replicas[addr] = ids[master]
    return top


class Backend:
    name = "backend"
    node_timeout_ms = 0

    def __init__(self, directory: Path, net: Network) -> None:
        self.dir = directory
        self.net = net
        self.nodes: list[Node] = []

    def startup(self) -> list[tuple[str, int]]:
        return [(n.host, n.port) for n in self.nodes]

    def node(self, addr: str) -> Node:
        return next(n for n in self.nodes if n.addr == addr)

    def topology(self) -> Topology:
        last: Exception | None = None
        for n in self.nodes:
            if not n.alive() or n.stopped:
                continue
            try:
                with n.client() as c:
                    raw = c.execute_command("CLUSTER", "NODES")
                return parse_cluster_nodes(raw.decode() if isinstance(raw, bytes) else raw)
            except redis.RedisError as exc:
                last = exc
        raise RuntimeError(f"no node answers CLUSTER NODES: {last}")

    def controller(self) -> Node | None:
        """The node that decides failovers, if the design has one."""
        return None

    def healthy(self) -> bool:
        return self.problem() is None

    def problem(self, full: bool = True, synced: bool = True) -> str | None:
        """None when every node is up and agrees that every slot is served,
        (synced) every primary has its replicas attached and in sync, and
        (full) no node is flagged failed; else what is not so yet."""
        for n in self.nodes:
            if not n.alive() or n.stopped:
                return f"{n.addr} is down or stopped"
        try:
            for n in self.nodes:
                with n.client() as c:
                    if b"cluster_state:ok" not in c.execute_command("CLUSTER", "INFO"):
                        return f"{n.addr}: cluster_state is not ok"
            top = self.topology()
            served = sum(len(s) for s in top.primaries.values())
            if served != 16384 or (full and top.failed):
                return f"{served} slots served, failed: {sorted(top.failed)}"
            if not synced:
                return None
            for n in self.nodes:  # every node sees the same roles (no stale view)
                with n.client() as c:
                    raw = c.execute_command("CLUSTER", "NODES")
                view = parse_cluster_nodes(raw.decode() if isinstance(raw, bytes) else raw)
                if (set(view.primaries), view.replicas) != (set(top.primaries), top.replicas):
                    return f"{n.addr} sees other roles than {self.nodes[0].addr} does"
            for r in top.replicas:
                with self.node(r).client() as c:
                    if c.info("replication").get("master_link_status") != "up":
                        return f"replica {r}: link to its primary is not up"
            if len(top.replicas) != self.replicas * len(top.primaries):
                return f"{len(top.replicas)} replicas for {len(top.primaries)} primaries"
            return None
        except (redis.RedisError, RuntimeError, StopIteration) as exc:
            return f"{type(exc).__name__}: {exc}"

    replicas = 0

    def wait_healthy(self, timeout: float = 120.0, full: bool = True,
                     synced: bool = True) -> None:
        deadline = time.monotonic() + timeout
        while (problem := self.problem(full, synced)) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not healthy after {timeout:.0f} s: {problem}")
            time.sleep(0.2)

    def restore(self) -> None:
        """Undo every fault: heal, continue stopped nodes, restart dead ones."""
        if isinstance(self.net, Namespaces):
            self.net.heal()
        for n in self.nodes:
            if n.stopped and n.alive():
                os.kill(n.pid, signal.SIGCONT)
                n.stopped = False
            if not n.alive():
                n.start()

    def stop(self) -> None:
        for n in self.nodes:
            if n.alive():
                if n.stopped:
                    os.kill(n.pid, signal.SIGCONT)
                n.proc.terminate()  # type: ignore[union-attr]
        for n in self.nodes:
            if n.proc is not None:
                try:
                    n.proc.wait(10)
                except subprocess.TimeoutExpired:
                    n.proc.kill()
                    n.proc.wait(5)


class RedisCluster(Backend):
    name = "redis"

    def __init__(self, directory: Path, net: Network, base_port: int, shards: int = 3,
                 replicas: int = 1, node_timeout_ms: int = 15000, extra: Sequence[str] = ()) -> None:
        super().__init__(directory, net)
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        for i in range(shards * (1 + replicas)):
            port = base_port + i
            d = directory / f"redis-{port}"
            d.mkdir(parents=True, exist_ok=True)
            host = net.host(i)
            argv = net.wrap(i) + [
                "redis-server", "--port", str(port), "--bind", host, "--protected-mode", "no",
                "--cluster-enabled", "yes", "--cluster-config-file", str(d / "nodes.conf"),
                "--cluster-node-timeout", str(node_timeout_ms), "--dir", str(d),
                "--save", "", "--appendonly", "no", "--logfile", str(d / "redis.log"), *extra]
            self.nodes.append(Node(i, host, port, argv, d))

    def start(self) -> None:
        for n in self.nodes:
            n.start()
        for n in self.nodes:
            _wait_ping(n)
        out = subprocess.run(["redis-cli", "--cluster", "create", *[n.addr for n in self.nodes],
                              "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{out.stdout}\n{out.stderr}")
        self.wait_healthy()


def _node_id(directory: Path) -> str:
    """The id a node in directory will have (its cluster-config-file, made now)."""
    import json

    from ringcache.cluster.topology import new_id

    path = directory / "nodes.conf"
    if path.exists():
        return str(json.loads(path.read_text())["id"])
    directory.mkdir(parents=True, exist_ok=True)
    made = new_id()
    path.write_text(json.dumps({"id": made, "epoch": 0}) + "\n")
    return made


class RingcacheCluster(Backend):
    name = "ringcache"

    def __init__(self, directory: Path, net: Network, base_port: int, shards: int = 3,
                 replicas: int = 0, node_timeout_ms: int = 1000, extra: Sequence[str] = (),
                 vnodes: int = 128) -> None:
        super().__init__(directory, net)
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        count = shards * (1 + replicas)
        self.shards = shards
        self.password = os.urandom(16).hex()
        voters = list(range(min(count, 5 if count >= 5 else 3)))
        self.voters = voters
        voter_list = ",".join(f"{net.host(v)}:{base_port + v + 10000}" for v in voters)
        seeds = ",".join(f"{net.host(v)}:{base_port + v}" for v in voters)
        root = str(Path(__file__).resolve().parents[2])
        for i in range(count):
            port = base_port + i
            d = directory / f"ringcache-{port}"
            d.mkdir(parents=True, exist_ok=True)
            host = net.host(i)
            argv = net.wrap(i) + [
                "env", f"PYTHONPATH={root}", sys.executable, "-m", "ringcache", "server",
                "--port", str(port), "--bind", host, "--protected-mode", "no",
                "--cluster-enabled", "yes", "--cluster-port", str(port + 10000),
                "--cluster-vnodes", str(vnodes), "--save", "", "--dir", str(d),
                "--logfile", str(d / "node.log")]
            if i in voters:
                argv += ["--cluster-voters", voter_list, "--cluster-password", self.password]
            else:
                argv += ["--cluster-join", seeds]
            if i >= shards:
                # The k-th replica follows primary k mod shards, named by its id
                # (written in advance, as `ringcache cluster up` does): with
                # "auto", replicas that start together can pile onto one shard.
                primary_dir = directory / f"ringcache-{base_port + (i - shards) % shards}"
                argv += ["--cluster-replica-of", _node_id(primary_dir)]
            argv += list(extra)
            self.nodes.append(Node(i, host, port, argv, d))

    def start(self, timeout: float = 120.0) -> None:
        """As `ringcache cluster up`: the primaries and the replicas that are
        Raft voters first, the ring's slots once every shard exists, then
        the other replicas one at a time (each named its primary by id)."""
        from ringcache.cluster import admin
        early = [n for n in self.nodes if n.index < self.shards or n.index in self.voters]
        for n in early:
            n.start()
        for n in early:
            _wait_ping(n, timeout)
        first = self.nodes[0]
        with first.client(10) as c:
            admin.wait_for(lambda: len(admin.read_map(c).shards) == self.shards, timeout,
                           "every shard to form")
            admin.update_map(c, lambda m: m if m.assigned_slots() else m.with_ring_slots())
            for n in self.nodes:
                if n in early:
                    continue
                n.start()
                _wait_ping(n, timeout)
                admin.wait_for(lambda n=n: any(m.port == n.port and m.host == n.host
                                               for m in admin.read_map(c).members),
                               timeout, f"{n.addr} to join")
        self.wait_healthy(timeout)

    def controller(self) -> Node | None:
        """The Raft leader, where the controller runs: asked of a live voter
        over PySyncObj's admin protocol (its `status` command), with the
        cluster password this backend made."""
        from pysyncobj.utility import TcpUtility, UtilityException
        for v in self.voters:
            n = self.nodes[v]
            if not n.alive() or n.stopped:
                continue
            try:
                status = TcpUtility(self.password, timeout=2).executeCommand(
                    f"{n.host}:{n.port + 10000}", ["status"])
            except UtilityException:
                continue
            leader = status.get("leader") if isinstance(status, dict) else None
            if leader:
                host, _, port = str(leader).rpartition(":")
                return next((m for m in self.nodes
                             if m.host == host and m.port + 10000 == int(port)), None)
        return None


def _wait_ping(n: Node, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with n.client(1) as c:
                c.ping()
                return
        except redis.RedisError:
            if not n.alive():
                raise RuntimeError(f"node {n.addr} exited: see {n.dir}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {n.addr} did not answer PING in {timeout:.0f} s")
            time.sleep(0.05)
