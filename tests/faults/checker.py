"""What a history says: lost writes, reads that went backwards, and how
long writes were unavailable. Pure functions over `history.History` and the
values read back at the end; no I/O.

Keys and what an observation of them means (the workload's naming):
- `u:...` unique keys, written once: the acknowledged value must be the one
  read back at the end.
- `r:...` registers and `c:...` counters, each written by one worker only,
  with values that only grow (SET n with n increasing; INCR). An
  *observation* is a value seen at some moment: a GET's reply, the value an
  INCR found (its reply minus one), or the final read-back. An acknowledged
  write of value v (a SET's v, an INCR's reply) is **lost** when an
  observation that began after the write was acknowledged shows less than v:
  from then on its effect is gone, even if later writes go past it. A read
  **went backwards** when it shows less than the largest value known before
  it began (an acknowledged write or an earlier read that had completed).
  A missing key reads as 0.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import defaultdict
from typing import Iterable, Mapping

from .history import OK, History, Op


@dataclasses.dataclass
class Losses:
    acked: int = 0              # acknowledged writes checked
    lost: int = 0
    acked_replicated: int = 0   # of which WAIT 1 said a replica had them
    lost_replicated: int = 0
    lost_ops: list[Op] = dataclasses.field(default_factory=list)
    examples: list[str] = dataclasses.field(default_factory=list)

    def count(self, op: Op, lost: bool) -> None:
        self.acked += 1
        if op.replicated:
            self.acked_replicated += 1
        if lost:
            self.lost += 1
            self.lost_ops.append(op)
            if op.replicated:
                self.lost_replicated += 1
            if len(self.examples) < 5:
                self.examples.append(f"{op.f} {op.key} {op.value} (worker {op.process}, "
                                     f"acked at {op.end:.3f}, node {op.node}, "
                                     f"replicated={op.replicated})")


def _observed(op: Op) -> int | None:
    """The value an ok op saw in the key, or None if it saw none."""
    if op.f == "get":
        return op.value or 0
    if op.f == "incr" and op.value is not None:
        return op.value - 1
    return None


def _written(op: Op) -> int | None:
    """The value in the key right after an acknowledged write."""
    return op.value if op.f in ("set", "incr") else None


def lost_writes(history: History | Iterable[Op], final: Mapping[str, int | None]) -> Losses:
    """Acknowledged writes whose effect a later observation (or the final
    read-back, `final[key]`, None for a missing key) no longer shows."""
    losses = Losses()
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in history:
        if op.outcome == OK:
            by_key[op.key].append(op)
    for key, ops in by_key.items():
        if key.startswith("u:"):
            for op in ops:
                if op.f == "set":
                    losses.count(op, final.get(key) != op.value)
            continue
        # observations sorted by start, with the minimum of each suffix
        obs = sorted((op.start, v) for op in ops if (v := _observed(op)) is not None)
        obs.append((float("inf"), final.get(key) or 0))
        starts = [t for t, _ in obs]
        suffix_min = [0] * len(obs)
        low = None
        for i in range(len(obs) - 1, -1, -1):
            low = obs[i][1] if low is None else min(low, obs[i][1])
            suffix_min[i] = low
        for op in ops:
            v = _written(op)
            if v is None:
                continue
            i = bisect.bisect_right(starts, op.end)
            losses.count(op, suffix_min[i] < v)
    return losses


@dataclasses.dataclass
class Backwards:
    op: Op
    known: int   # the value known to be there before the read began

    def __str__(self) -> str:
        return (f"{self.op.f} {self.op.key} saw {_observed(self.op)} after {self.known} "
                f"was known (worker {self.op.process}, began {self.op.start:.3f}, "
                f"node {self.op.node})")


def backwards_reads(history: History | Iterable[Op]) -> list[Backwards]:
    """Reads (GETs, and INCRs for the value they found) that show less than
    what was known to be in the key before they began."""
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in history:
        if op.outcome == OK and not op.key.startswith("u:"):
            by_key[op.key].append(op)
    found = []
    for ops in by_key.values():
        # sweep: a completion makes a value known; a read compares at its start.
        # At equal times the completion comes first (ordering 0 before 1).
        points = []
        for op in ops:
            known_after = _observed(op) if op.f == "get" else _written(op)
            if known_after is not None:
                points.append((op.end, 0, known_after, op))
            if _observed(op) is not None:
                points.append((op.start, 1, 0, op))
        points.sort(key=lambda p: (p[0], p[1]))
        known = None
        for _, kind, value, op in points:
            if kind == 0:
                known = value if known is None else max(known, value)
            elif known is not None and _observed(op) < known:  # type: ignore[operator]
                found.append(Backwards(op, known))
    return found


def unavailability(history: History | Iterable[Op], since: float, until: float,
                   slots: set[int] | None = None) -> float:
    """The longest gap between successful writes (by completion time) that
    ends after `since` (the fault), on keys of `slots` (None: every key); the
    last one runs to `until` (the end of the trial: writes go on until then
    once they resumed), so with none after `since` it is `until` - the last
    before."""
    ends = sorted(op.end for op in history
                  if op.outcome == OK and op.is_write and (slots is None or op.slot in slots))
    before = [t for t in ends if t <= since]
    after = [t for t in ends if since < t <= until]
    prev = before[-1] if before else since
    if not after:
        return until - prev
    longest = 0.0
    for t in after:
        longest = max(longest, t - prev)
        prev = t
    # and the last success to the end: a write the node hit answered just
    # before it died is no recovery if nothing followed it
    return max(longest, until - prev)


def accepted_by(history: History | Iterable[Op], node: str, since: float,
                until: float = float("inf")) -> list[Op]:
    """Writes `node` acknowledged that began in [since, until): e.g. those a
    cut-off primary took after the partition."""
    return [op for op in history if op.outcome == OK and op.is_write and op.node == node
            and since <= op.start < until]
