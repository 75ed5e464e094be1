"""One trial: a workload runs, a fault is injected, the harness waits until
writes to the hit slots resume, everything is restored, every written key is
read back and the history checked.

Timeline: workload starts; `warmup` s; the scenario injects (and, for
SIGSTOP or a partition, ends) its fault; the trial then waits until a write
to the hit slots (any slot if no primary was hit) succeeded after the
fault's end and `settle` s more passed, or `window` s after the fault at
most; the workload stops; `restore()` heals and restarts; once every slot
is served again the written keys are read back. A trial starts only on a
healthy cluster (every replica in sync, no node flagged failed).
"""

from __future__ import annotations

import dataclasses
import random
import time

from . import checker
from .backends import Backend
from .history import OK, History
from .nemesis import SCENARIOS, Fault
from .timeline import phases
from .workload import Workload, read_back, written_keys


@dataclasses.dataclass
class TrialResult:
    backend: str
    scenario: str
    trial: int
    unavailability: float          # s, longest gap between successful writes to the hit slots
    acked: int
    lost: int
    acked_replicated: int
    lost_replicated: int
    backwards: int
    stale_acked: int               # writes the hit node acknowledged after the fault began
    stale_lost: int
    late_acked: int                # of those, begun after fault start + node timeout (its
                                   # lease) and before the fault ended (SIGCONT, heal)
    late_lost: int
    ops: int
    recovered: bool                # writes to the hit slots resumed within the window
    fault: str = ""
    examples: list[str] = dataclasses.field(default_factory=list)
    phases: dict[str, float] = dataclasses.field(default_factory=dict)  # timeline.phases


def writes_resumed(history: History, after: float, slots: set[int] | None,
                   dead: frozenset[str] | set[str] = frozenset()) -> bool:
    """A write to the slots succeeded, begun after `after` and not answered by
    a `dead` node (a killed one can still answer a write sent a moment after
    the signal: that is no resumption, and counting it ended trials early)."""
    return any(op.outcome == OK and op.is_write and op.start > after
               and (slots is None or op.slot in slots) and op.node not in dead
               for op in history.ops)


def run_trial(backend: Backend, scenario: str, trial: int = 0, *, workers: int = 4,
              rate: float = 150.0, wait_ms: int | None = 100, warmup: float = 2.0,
              settle: float = 1.5, window: float | None = None, seed: int | None = None,
              history: History | None = None) -> TrialResult:
    rng = random.Random(seed if seed is not None else trial)
    history = history if history is not None else History()
    window = window if window is not None else 3 * backend.node_timeout_ms / 1000 + 20
    backend.wait_healthy(60)
    load = Workload(backend.startup(), history, workers=workers, rate=rate, wait_ms=wait_ms)
    load.start()
    try:
        time.sleep(warmup)
        fault: Fault = SCENARIOS[scenario](backend, rng)
        history.event(fault.start, "fault", fault.name + " " + " ".join(fault.victims))
        history.event(fault.end, "fault-end")
        deadline = fault.end + window
        resumed_at = None
        dead = set(fault.victims) if fault.end == fault.start else set()  # a kill
        while time.monotonic() < deadline:
            if resumed_at is None and writes_resumed(history, fault.end, fault.slots, dead):
                resumed_at = time.monotonic()
            if resumed_at is not None and time.monotonic() > resumed_at + settle:
                break
            time.sleep(0.05)
        until = time.monotonic()
    finally:
        load.stop()
    logs = [n.dir / "node.log" for n in backend.nodes]
    steps = phases(logs, history, fault.start, fault.slots)
    backend.restore()
    backend.wait_healthy(full=False, synced=False)  # every slot served: enough to read back
    final = read_back(backend.startup(), written_keys(history))
    losses = checker.lost_writes(history, final)
    backwards = checker.backwards_reads(history)
    gap = checker.unavailability(history, fault.start, until, fault.slots)
    stale = [op for v in fault.victims for op in checker.accepted_by(history, v, fault.start)]
    stale_ids = {id(op) for op in stale}
    stale_lost = sum(1 for op in losses.lost_ops if id(op) in stale_ids)
    # Past the node timeout a cut-off or stopped primary must no longer take
    # writes: ringcache's lease is the node timeout x (1 - drift), and a Redis
    # primary that cannot reach the majority stops after the node timeout.
    fence = fault.start + backend.node_timeout_ms / 1000
    late = [op for op in stale if fence < op.start < fault.end]
    late_ids = {id(op) for op in late}
    late_lost = sum(1 for op in losses.lost_ops if id(op) in late_ids)
    return TrialResult(
        backend.name, scenario, trial, round(gap, 3), losses.acked, losses.lost,
        losses.acked_replicated, losses.lost_replicated, len(backwards), len(stale),
        stale_lost, len(late), late_lost, len(history.ops), resumed_at is not None,
        fault=fault.name + " " + " ".join(fault.victims),
        examples=losses.examples + [str(b) for b in backwards[:3]], phases=steps)
