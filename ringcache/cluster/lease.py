"""Leases: a primary accepts writes only while the control plane recently
acknowledged it, so that a primary cut off, stopped or slow can never take
writes once the controller may have promoted a replica in its place.

Theory of operation
-------------------
Every HEARTBEAT_S a node sends a heartbeat and waits for the control plane
to store it (`ControlPlane.renew`: the Raft log, directly on a voter, or
relayed by `CLUSTER BEAT` for the others). When the answer comes, the
primary's lease runs until

    sent + lease x (1 - DRIFT)

where `sent` is when the node *sent* that heartbeat, on the node's own
monotonic clock, and lease is `cluster-node-timeout`. The controller
(controller.py) promotes a replica no earlier than

    last stored heartbeat + max(node timeout, lease x (1 + DRIFT))

on its own monotonic clock. A heartbeat is stored after it was sent, so if
the two clocks run at rates within DRIFT of each other the old primary's
lease has run out before the promotion. Two more rules close the races at
the edges:

* the promotion is a compare-and-set guarded by the count of the old
  primary's heartbeats that the controller saw: a heartbeat stored between
  the controller's look and its write (which could have renewed the lease)
  makes the write fail, and the controller looks again;
* a heartbeat's answer carries the map epoch at the point it was stored; a
  node renews its lease only if it has already applied that map, so a
  heartbeat stored after a promotion never renews the demoted primary
  (which, having applied that map, is a replica anyway).

The write path checks `valid()` on every write (cluster/routing.py; a
pipeline or a batch is checked before it runs, MULTI/EXEC at EXEC), so a
primary continued after SIGSTOP refuses writes before its first new
heartbeat is even sent: the check reads the clock, not a timer that may not
have fired yet.

Pure: no I/O, no asyncio; the clock is injectable for tests.
"""

from __future__ import annotations

import time
from typing import Callable

DRIFT = 0.05  # the clock-rate allowance rho: 5 %


class Lease:
    def __init__(self, length_ms: float, drift: float = DRIFT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.length_s = length_ms / 1000.0
        self.drift = drift
        self.clock = clock
        self.until = 0.0  # on `clock`; 0: no lease

    def renewed(self, sent_at: float) -> None:
        """The control plane stored the heartbeat sent at sent_at."""
        until = sent_at + self.length_s * (1.0 - self.drift)
        if until > self.until:
            self.until = until

    def revoke(self) -> None:
        self.until = 0.0

    def valid(self) -> bool:
        return self.clock() < self.until

    def remaining_ms(self) -> float:
        return max(0.0, (self.until - self.clock()) * 1000.0)


def promotion_wait_ms(timeout_ms: float, lease_ms: float, drift: float = DRIFT) -> float:
    """How long after a primary's last stored heartbeat the controller may
    promote a replica in its place."""
    return max(timeout_ms, lease_ms * (1.0 + drift))
