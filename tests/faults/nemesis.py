"""The faults, each a function `scenario(backend, rng) -> Fault` that
injects it on processes the backend started (by pid) and returns when the
fault's active part is over (a kill: at once; SIGSTOP: after SIGCONT; a
partition: after it healed). `Backend.restore()` undoes what is left
(restarts dead nodes) between trials.

Which node: the victim is picked among the current primaries (or replicas)
with `rng`, from the backend's live topology, so trials rotate over shards.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import signal
import subprocess
import time
from typing import Callable

from .backends import Backend, Node
from .netns import Namespaces

STOP_SECONDS = 5.0
SLOW_DISK_SECONDS = 10.0
SLOW_DISK_DELAY_US = 100_000   # each fsync/fdatasync takes 100 ms longer
AOF_ALWAYS = ["--appendonly", "yes", "--appendfsync", "always"]


@dataclasses.dataclass
class Fault:
    name: str
    start: float                    # monotonic time of the injection
    end: float                      # when its active part ended (== start for kills)
    victims: list[str]              # addresses hit
    slots: set[int] | None          # slots whose primary was hit (None: no primary hit)
    note: str = ""


class NotApplicable(Exception):
    """The scenario makes no sense for this backend (e.g. no controller)."""


def _primary(backend: Backend, rng: random.Random) -> tuple[str, set[int]]:
    top = backend.topology()
    addr = rng.choice(sorted(a for a, s in top.primaries.items() if s))
    return addr, top.primaries[addr]


def kill_primary(backend: Backend, rng: random.Random) -> Fault:
    addr, slots = _primary(backend, rng)
    t = time.monotonic()
    backend.node(addr).kill()
    return Fault("kill -9 primary", t, t, [addr], slots)


def kill_replica(backend: Backend, rng: random.Random) -> Fault:
    top = backend.topology()
    if not top.replicas:
        raise NotApplicable("no replicas")
    addr = rng.choice(sorted(top.replicas))
    t = time.monotonic()
    backend.node(addr).kill()
    return Fault("kill -9 replica", t, t, [addr], None)


def kill_controller(backend: Backend, rng: random.Random) -> Fault:
    node = backend.controller()
    if node is None:
        raise NotApplicable(f"{backend.name} has no controller")
    top = backend.topology()
    slots = top.primaries.get(node.addr) or None
    t = time.monotonic()
    node.kill()
    return Fault("kill -9 controller", t, t, [node.addr], slots)


def kill_two(backend: Backend, rng: random.Random) -> Fault:
    """A primary and, at the same moment, a replica of another shard (a
    majority of primaries stays, so a failover can happen)."""
    addr, slots = _primary(backend, rng)
    top = backend.topology()
    others = sorted(r for r, p in top.replicas.items() if p != addr)
    if not others:
        raise NotApplicable("no replica of another shard")
    other = rng.choice(others)
    a, b = backend.node(addr), backend.node(other)
    t = time.monotonic()
    os.kill(a.pid, signal.SIGKILL)  # both signals before either is waited for
    os.kill(b.pid, signal.SIGKILL)
    a.kill()
    b.kill()  # (reaps them)
    return Fault("kill -9 primary + another shard's replica", t, t, [addr, other], slots)


def sigstop_primary(backend: Backend, rng: random.Random) -> Fault:
    addr, slots = _primary(backend, rng)
    node = backend.node(addr)
    t = time.monotonic()
    node.kill(signal.SIGSTOP)
    node.stopped = True
    time.sleep(STOP_SECONDS)
    node.kill(signal.SIGCONT)
    node.stopped = False
    return Fault(f"SIGSTOP primary {STOP_SECONDS:.0f} s", t, time.monotonic(), [addr], slots)


def partition_seconds(backend: Backend) -> float:
    """Long enough for the cluster to act on it: 1.5 node timeouts + 5 s."""
    return 1.5 * backend.node_timeout_ms / 1000 + 5


def partition_primary(backend: Backend, rng: random.Random) -> Fault:
    if not isinstance(backend.net, Namespaces):
        raise NotApplicable("a partition needs network namespaces (root)")
    addr, slots = _primary(backend, rng)
    node = backend.node(addr)
    seconds = partition_seconds(backend)
    t = time.monotonic()
    backend.net.partition(node.index)
    time.sleep(seconds)
    backend.net.heal(node.index)
    return Fault(f"primary partitioned {seconds:.1f} s", t, time.monotonic(), [addr], slots,
                 note="clients still reach it")


def slow_disk(backend: Backend, rng: random.Random) -> Fault:
    """A primary's disk turns slow for SLOW_DISK_SECONDS: every fsync and
    fdatasync it makes waits SLOW_DISK_DELAY_US more (strace's syscall
    fault injection, attached to its pid). This kernel has no device-mapper
    (dm-delay), so the delay is put on the syscalls instead of the device;
    while attached, ptrace also adds a few microseconds to every other
    syscall of that process. Meaningful with the AOF on and fsync always
    (AOF_ALWAYS), which `benchmarks/failover.py` starts this scenario with."""
    if shutil.which("strace") is None:
        raise NotApplicable("a slow disk needs strace (syscall delay injection)")
    if "always" not in " ".join(backend.nodes[0].argv):
        raise NotApplicable("a slow disk needs the AOF with appendfsync always")
    addr, slots = _primary(backend, rng)
    node = backend.node(addr)
    t = time.monotonic()
    tracer = subprocess.Popen(
        ["strace", "-qq", "-f", "-p", str(node.pid), "-o", "/dev/null",
         "-e", "trace=fsync,fdatasync",
         "-e", f"inject=fsync,fdatasync:delay_enter={SLOW_DISK_DELAY_US}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(SLOW_DISK_SECONDS)
    tracer.send_signal(signal.SIGINT)  # detaches; the process runs on at full speed
    tracer.wait(30)
    return Fault(f"slow disk on a primary {SLOW_DISK_SECONDS:.0f} s "
                 f"(+{SLOW_DISK_DELAY_US // 1000} ms per fsync)", t, time.monotonic(), [addr],
                 slots)


def rolling_restart(backend: Backend, rng: random.Random) -> Fault:
    """Every node in turn: SIGTERM, start again, wait until every slot is
    served and every replica in sync (a node flagged failed is not waited
    for), next."""
    t = time.monotonic()
    for node in backend.nodes:
        node.proc.terminate()  # type: ignore[union-attr]
        node.proc.wait(30)  # type: ignore[union-attr]
        node.start()
        backend.wait_healthy(full=False)
    return Fault("restart every node (rolling)", t, time.monotonic(),
                 [n.addr for n in backend.nodes], None)


def _restart(backend: Backend, node: Node) -> None:
    assert node.proc is not None
    node.proc.terminate()
    node.proc.wait(30)
    node.start()
    backend.wait_healthy(full=False)


def _hand_over(backend: Backend, primary: str, timeout: float = 30.0) -> str:
    """CLUSTER FAILOVER on the primary's first replica; returns the replica
    once it is the primary."""
    replica = backend.topology().replicas_of(primary)[0]
    with backend.node(replica).client(5) as c:
        c.execute_command("CLUSTER", "FAILOVER")
    deadline = time.monotonic() + timeout
    while replica not in backend.topology().primaries:
        if time.monotonic() > deadline:
            raise RuntimeError(f"CLUSTER FAILOVER to {replica} did not finish in {timeout:.0f} s")
        time.sleep(0.05)
    return replica


def planned_restart(backend: Backend, rng: random.Random) -> Fault:
    """Every node restarted as a replica, the way an operator does planned
    maintenance: for each primary, CLUSTER FAILOVER on its replica, then
    restart the old primary (now a replica) and wait until it is in sync;
    then the same again for the promoted ones, so every node restarts once
    and none while it is a primary."""
    t = time.monotonic()
    first = sorted(a for a, s in backend.topology().primaries.items() if s)
    promoted: list[str] = []
    for rounds in (first, None):
        for primary in (rounds if rounds is not None else promoted):
            new = _hand_over(backend, primary)
            if rounds is not None:
                promoted.append(new)
            _restart(backend, backend.node(primary))
    return Fault("planned restart of every node (CLUSTER FAILOVER first)", t, time.monotonic(),
                 [n.addr for n in backend.nodes], None)


SCENARIOS: dict[str, Callable[[Backend, random.Random], Fault]] = {
    "kill-primary": kill_primary,
    "kill-replica": kill_replica,
    "kill-controller": kill_controller,
    "kill-two": kill_two,
    "sigstop-primary": sigstop_primary,
    "partition-primary": partition_primary,
    "slow-disk": slow_disk,
    "rolling-restart": rolling_restart,
    "planned-restart": planned_restart,
}
