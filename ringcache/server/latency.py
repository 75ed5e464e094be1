"""The latency monitor (Redis's latency.c): per event, the worst latency of
each second, for LATENCY LATEST|HISTORY|RESET|DOCTOR.

Theory of operation
-------------------
While `latency-monitor-threshold` (milliseconds) is above 0, an event that
took at least that long is recorded as a sample (unix second, milliseconds)
in its event's time series: a ring of the last 160 samples, one per second
(a second sample in the same second only raises that second's value), plus
the worst value ever seen. The dispatcher reports slow commands as
"command", or "fast-command" for commands flagged fast (its slow-call path,
the one it already takes for SLOWLOG, so the command path pays nothing
more); other parts of the node may report their own events with `add`.

The clock is injected (`now`: unix seconds), so tests do not depend on the
wall clock. Nothing here does I/O.
"""

from __future__ import annotations

import time
from typing import Callable

TS_LEN = 160  # LATENCY_TS_LEN


class TimeSeries:
    __slots__ = ("samples", "idx", "max")

    def __init__(self) -> None:
        self.samples: list[tuple[int, int]] = [(0, 0)] * TS_LEN  # (unix second, ms); 0 = empty
        self.idx = 0  # the next slot to write
        self.max = 0

    def add(self, now: int, latency: int) -> None:
        """latencyAddSample."""
        self.max = max(self.max, latency)
        prev = (self.idx + TS_LEN - 1) % TS_LEN
        when, worst = self.samples[prev]
        if when == now:
            if latency > worst:
                self.samples[prev] = (now, latency)
            return
        self.samples[self.idx] = (now, latency)
        self.idx = (self.idx + 1) % TS_LEN

    def latest(self) -> tuple[int, int]:
        return self.samples[(self.idx + TS_LEN - 1) % TS_LEN]

    def history(self) -> list[tuple[int, int]]:
        """The samples, oldest first."""
        out = []
        for j in range(TS_LEN):
            sample = self.samples[(self.idx + j) % TS_LEN]
            if sample[0]:
                out.append(sample)
        return out


class LatencyMonitor:
    def __init__(self, threshold_ms: int, now: Callable[[], float] = time.time) -> None:
        self.threshold_ms = threshold_ms  # 0: off
        self.events: dict[str, TimeSeries] = {}
        self.now = now

    def add_if_needed(self, event: str, latency_ms: int) -> None:
        """latencyAddSampleIfNeeded."""
        if self.threshold_ms and latency_ms >= self.threshold_ms:
            series = self.events.get(event)
            if series is None:
                series = self.events[event] = TimeSeries()
            series.add(int(self.now()), latency_ms)

    def reset(self, events: list[str] | None) -> int:
        """LATENCY RESET: how many events were forgotten (all if None)."""
        if events is None:
            count = len(self.events)
            self.events.clear()
            return count
        return sum(self.events.pop(event, None) is not None for event in events)

    # -- LATENCY DOCTOR ----------------------------------------------------------

    def _stats(self, series: TimeSeries) -> tuple[int, int, int, int]:
        """analyzeLatencyForEvent: (samples, average ms, mean deviation ms, period s)."""
        samples = [sample for sample in series.samples if sample[0]]
        if not samples:
            return 0, 0, 0, 0
        avg = sum(latency for _, latency in samples) // len(samples)
        period = int(self.now()) - min(when for when, _ in samples) or 1
        mad = sum(abs(avg - latency) for _, latency in samples) // len(samples)
        return len(samples), avg, mad, period

    def doctor(self, slowlog_us: int, slowlog_max_len: int) -> str:
        """createLatencyReport, with Redis's advice for the events the node
        records ("command", "fast-command"); slowlog_*: the SLOWLOG
        configuration, which the advice mentions."""
        if not self.events and not self.threshold_ms:
            return ("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis "
                    "instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in "
                    "order to enable it. If we weren't in a deep space mission I'd suggest to take a "
                    "look at https://redis.io/topics/latency-monitor.\n")
        report = ""
        advice: set[str] = set()
        for number, (event, series) in enumerate(self.events.items(), 1):
            if number == 1:
                report += ("Dave, I have observed latency spikes in this Redis instance. "
                           "You don't mind talking about it, do you Dave?\n\n")
            samples, avg, mad, period = self._stats(series)
            report += (f"{number}. {event}: {samples} latency spikes (average {avg}ms, mean deviation "
                       f"{mad}ms, period {period / samples if samples else 0:.2f} sec). "
                       f"Worst all time event {series.max}ms.\n")
            if event == "command":
                if slowlog_us < 0 or slowlog_max_len == 0:
                    advice.add("slowlog_enabled")
                elif slowlog_us // 1000 > self.threshold_ms:
                    advice.add("slowlog_tuning")
                advice.update(("slowlog_inspect", "large_objects"))
            elif event == "fast-command":
                advice.add("scheduler")
        if not self.events:
            return report + ("Dave, no latency spike was observed during the lifetime of this Redis "
                             "instance, not in the slightest bit. I honestly think you ought to sit down "
                             "calmly, take a stress pill, and think things over.\n")
        if not advice:
            return report + ("\nWhile there are latency events logged, I'm not able to suggest any easy "
                             "fix. Please use the Redis community to get some help, providing this report "
                             "in your help request.\n")
        report += "\nI have a few advices for you:\n\n"
        wanted = self.threshold_ms * 1000
        if "slowlog_enabled" in advice:
            report += ("- There are latency issues with potentially slow commands you are using. Try to "
                       "enable the Slow Log Redis feature using the command 'CONFIG SET "
                       f"slowlog-log-slower-than {wanted}'. If the Slow log is disabled Redis is not able "
                       "to log slow commands execution for you.\n")
        if "slowlog_tuning" in advice:
            report += ("- Your current Slow Log configuration only logs events that are slower than your "
                       "configured latency monitor threshold. Please use 'CONFIG SET "
                       f"slowlog-log-slower-than {wanted}'.\n")
        if "slowlog_inspect" in advice:
            report += ("- Check your Slow Log to understand what are the commands you are running which "
                       "are too slow to execute. Please check https://redis.io/commands/slowlog for more "
                       "information.\n")
        if "scheduler" in advice:
            report += ("- The system is slow to execute Redis code paths not containing system calls. "
                       "This usually means the system does not provide Redis CPU time to run for long "
                       "periods. You should try to:\n"
                       "  1) Lower the system load.\n"
                       "  2) Use a computer / VM just for Redis if you are running other software in the "
                       "same system.\n"
                       "  3) Check if you have a \"noisy neighbour\" problem.\n"
                       "  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency "
                       "in your system.\n"
                       "  5) Check if the problem is allocator-related by recompiling Redis with "
                       "MALLOC=libc, if you are using Jemalloc. However this may create fragmentation "
                       "problems.\n")
        if "large_objects" in advice:
            report += ("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a "
                       "blocking operation. If you have very large objects that are often deleted, "
                       "expired, or evicted, try to fragment those objects into multiple smaller "
                       "objects.\n")
        return report
