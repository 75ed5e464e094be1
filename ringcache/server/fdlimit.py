"""The node's share of file descriptors, and what it does when they run out.

Each client is one descriptor, so `maxclients` is only honest if the process
may open that many plus the few the node needs for itself (listeners, the
selector, the log, the append-only file, a snapshot child's pipe). At
start-up the node raises its soft RLIMIT_NOFILE as far as the hard limit
allows and, when that is not enough, lowers maxclients to fit and says so,
as Redis's adjustOpenFilesLimit does (same log lines). Then the
"max number of clients reached" reply turns the surplus clients away before
accept() can fail.

accept() can still fail with EMFILE/ENFILE (descriptors opened by something
else, or the system-wide table full). The listener then stays readable, so
retrying at once would spin at 100 % CPU and log a line per try: the node
stops watching its listeners for ACCEPT_BACKOFF_S instead, leaving the
waiting clients in the kernel's backlog, and logs at most one line per
LOG_INTERVAL_S with the count of failures it did not print.
"""

from __future__ import annotations

import logging
import resource
import time

log = logging.getLogger("ringcache.server")

RESERVED_FDS = 32  # Redis's CONFIG_MIN_RESERVED_FDS
ACCEPT_BACKOFF_S = 0.1
LOG_INTERVAL_S = 10.0


def fit_maxclients(maxclients: int) -> int:
    """Raise the descriptor limit to maxclients + RESERVED_FDS where the
    system allows; return the maxclients the limit can serve (0: too few
    descriptors to start at all)."""
    wanted = maxclients + RESERVED_FDS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    infinity = resource.RLIM_INFINITY
    if soft == infinity or soft >= wanted:
        return maxclients
    original = soft
    try:  # raising the hard limit too works where the process may (root)
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (wanted, hard if hard == infinity or hard >= wanted else wanted))
    except (ValueError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "Operation not permitted"
    else:
        log.info("Increased maximum number of open files to %d (it was originally set to %d).",
                 wanted, original)
        return maxclients
    if hard != infinity and hard > soft:  # the best we may have
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    log.warning("You requested maxclients of %d requiring at least %d max file descriptors.",
                maxclients, wanted)
    log.warning("Server can't set maximum open files to %d because of OS error: %s.", wanted, reason)
    fitted = soft - RESERVED_FDS
    if fitted < 1:
        return 0
    log.warning("Current maximum open files is %d. maxclients has been reduced to %d to compensate for "
                "low ulimit. If you need higher maxclients increase 'ulimit -n'.", soft, fitted)
    return fitted


class TooFewDescriptors(Exception):
    """The descriptor limit leaves no room for a single client."""


class RateLimitedLog:
    """One warning per interval for a repeating failure, with the number of
    times it happened since the last line."""

    def __init__(self, interval_s: float = LOG_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._last = float("-inf")
        self._suppressed = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last < self.interval_s:
            self._suppressed += 1
            return
        if self._suppressed:
            message += " (and %d more times since the last report)"
            args = (*args, self._suppressed)
        self._last = now
        self._suppressed = 0
        log.warning(message, *args)
