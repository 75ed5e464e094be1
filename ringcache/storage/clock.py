"""Clocks. Everything time-based reads one of these, so tests advance time.

`ms()` is wall-clock milliseconds since the epoch (TTLs are absolute Unix
times, as in Redis: EXPIREAT and snapshots need them). `monotonic()` is for
measuring durations and scheduling.
"""

from __future__ import annotations

import time


class Clock:
    """The real clock, plus an offset that DEBUG ADVANCE-CLOCK can move (so
    wire tests can expire keys without sleeping)."""

    __slots__ = ("offset_ms",)

    def __init__(self) -> None:
        self.offset_ms = 0.0

    def ms(self) -> float:
        return time.time() * 1000.0 + self.offset_ms

    def advance(self, ms: float) -> None:
        self.offset_ms += ms

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock(Clock):
    """A clock that moves only when told to."""

    __slots__ = ("now_ms", "mono")

    def __init__(self, start_ms: float = 1_700_000_000_000.0) -> None:
        super().__init__()
        self.now_ms = float(start_ms)
        self.mono = 1000.0

    def ms(self) -> float:
        return self.now_ms

    def monotonic(self) -> float:
        return self.mono

    def advance(self, ms: float) -> None:
        self.now_ms += ms
        self.mono += ms / 1000.0
