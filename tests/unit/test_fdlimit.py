"""Out of descriptors: the accept loop backs off instead of spinning, and
says so once, not once per try (server/fdlimit.py)."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket

from ringcache.config import Config
from ringcache.server import fdlimit
from ringcache.server.server import Server


class ExhaustedListener:
    """A listening socket whose accept() fails as when the process has no
    descriptor left."""

    def __init__(self) -> None:
        self.sock = socket.socket()  # listening, nobody waiting: not readable
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.tries = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def accept(self):
        self.tries += 1
        raise OSError(errno.EMFILE, "Too many open files")


def test_accept_backs_off_on_emfile_and_logs_once(caplog):
    loop = asyncio.new_event_loop()
    server = Server(Config())
    server._loop = loop
    listener = ExhaustedListener()
    server._listeners = [listener]
    loop.add_reader(listener.fileno(), server._accept, listener)
    try:
        with caplog.at_level(logging.WARNING, logger="ringcache.server"):
            for _ in range(50):  # what a spinning loop would do in a few microseconds
                server._accept(listener)
        # One try per call (no retry burst), one log line for all of them.
        assert listener.tries == 50
        lines = [r for r in caplog.records if "Accepting client connection" in r.getMessage()]
        assert len(lines) == 1 and "Too many open files" in lines[0].getMessage()
        # The listener is not watched during the back-off, and is again after it.
        assert not loop.remove_reader(listener.fileno())
        loop.run_until_complete(asyncio.sleep(fdlimit.ACCEPT_BACKOFF_S * 2))
        assert loop.remove_reader(listener.fileno())
    finally:
        listener.sock.close()
        loop.close()


def test_rate_limited_log_counts_what_it_did_not_print(caplog):
    limited = fdlimit.RateLimitedLog(interval_s=0.0)
    with caplog.at_level(logging.WARNING, logger="ringcache.server"):
        limited.warning("failed: %s", "x")
        limited.interval_s = 3600
        limited.warning("failed: %s", "x")
        limited.warning("failed: %s", "x")
        limited.interval_s = 0.0
        limited.warning("failed: %s", "y")
    assert [r.getMessage() for r in caplog.records] == [
        "failed: x", "failed: y (and 2 more times since the last report)"]
