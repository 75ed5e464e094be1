"""Where the time of one failover goes: the phases from the dead primary's
last heartbeat to the client's first write that succeeds again.

Theory of operation
-------------------
ringcache nodes log the steps of a failover with `mono=` stamps, read from
CLOCK_MONOTONIC, which every process of one machine shares with the harness
(`time.monotonic()`; network namespaces do not change it):

* the controller that promoted: `failover-timeline beat mono=B heard mono=H
  decided mono=D committed mono=C` -- B the stamp it gave the old primary's
  last stored heartbeat, H the moment it counts the silence from (B, or
  later when the plane stalled: a Raft election), D when it decided, C when
  the promotion was stored (cluster/controller.py);
* the promoted node: `failover-timeline applied mono=A lease_ms=L` when it
  applied the map that made it a primary (L: the lease it held then, from
  its heartbeats as a replica), and `failover-timeline renewed mono=R` when
  its first heartbeat as a primary was stored (cluster/node.py).

`phases()` reads those lines (the first of each after the fault began) from
every node's log and the client side from the history, and returns the
times relative to the fault's start, in seconds. A phase whose line is
missing (Redis, or no promotion) is left out. Pure file parsing: no
processes, no sockets.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from .history import FAIL, OK, History

_CONTROLLER = re.compile(r"failover-timeline beat mono=([\d.]+) heard mono=([\d.]+) "
                         r"decided mono=([\d.]+) committed mono=([\d.]+)")
_APPLIED = re.compile(r"failover-timeline applied mono=([\d.]+) lease_ms=(\d+)")
_RENEWED = re.compile(r"failover-timeline renewed mono=([\d.]+)")


def _first(logs: Iterable[Path], pattern: re.Pattern[str], after: float,
           stamp_group: int) -> re.Match[str] | None:
    """The earliest match (by its stamp) past `after` in any of the logs."""
    best: re.Match[str] | None = None
    for path in logs:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for m in pattern.finditer(text):
            t = float(m.group(stamp_group))
            if t > after and (best is None or t < float(best.group(stamp_group))):
                best = m
    return best


def phases(logs: list[Path], history: History, start: float,
           slots: set[int] | None) -> dict[str, float]:
    """Times relative to `start` (the fault), in seconds, rounded to ms:

    last_ok      the last write to the hit slots that succeeded before the fault
    beat         the old primary's last heartbeat as the controller stamped it
    heard        where the controller counted its silence from (> beat: a stall)
    decided      the controller decided to promote
    committed    the promotion was stored (Raft)
    applied      the promoted node applied the map (it is a primary)
    lease        it could write: `applied` if it held a lease from its
                 heartbeats as a replica, else its first heartbeat as primary
    first_ok     the first write to the hit slots that succeeded after the decision
    clusterdown  (a count) writes to the hit slots refused with CLUSTERDOWN after it
    """
    out: dict[str, float] = {}
    c = _first(logs, _CONTROLLER, start, 4)
    # (the controller's lines can come before `start` only for an earlier trial)
    if c is not None:
        for name, group in (("beat", 1), ("heard", 2), ("decided", 3), ("committed", 4)):
            out[name] = float(c.group(group)) - start
    a = _first(logs, _APPLIED, start, 1)
    if a is not None:
        out["applied"] = float(a.group(1)) - start
        if int(a.group(2)) > 0:
            out["lease"] = out["applied"]
        else:
            r = _first(logs, _RENEWED, float(a.group(1)), 1)
            if r is not None:
                out["lease"] = float(r.group(1)) - start
    hit = [op for op in history.ops if op.is_write and (slots is None or op.slot in slots)]
    before = [op.end for op in hit if op.outcome == OK and op.end <= start]
    # After the decision, not just after the fault: a write sent a moment
    # before the kill landed can still be answered after `start`.
    resumed = start + out.get("decided", 0.0)
    after = [op.end for op in hit if op.outcome == OK and op.start > start and op.end > resumed]
    if before:
        out["last_ok"] = max(before) - start
    if after:
        out["first_ok"] = min(after) - start
    out["clusterdown"] = float(sum(1 for op in hit if op.outcome == FAIL and op.start > start
                                   and "ClusterDown" in op.error))
    return {k: round(v, 3) for k, v in out.items()}


ORDER = ["last_ok", "beat", "heard", "decided", "committed", "applied", "lease", "first_ok"]
