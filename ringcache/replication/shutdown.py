"""A primary's shutdown that first lets its replicas catch up (Redis 7).

Theory of operation
-------------------
SHUTDOWN (without NOW) and SIGTERM/SIGINT on a node that has replicas
whose acknowledged offset is behind its own do not exit at once: the node
pauses client writes (as CLIENT PAUSE WRITE), asks every replica for an
acknowledgement (REPLCONF GETACK *), logs "Waiting for replicas before
shutting down." and parks the SHUTDOWN client. The shutdown finishes as
soon as every replica has acknowledged the whole stream (checked on each
REPLCONF ACK) or when `shutdown-timeout` seconds have passed (checked by
the cron), whichever comes first: it logs each replica still behind
("Lagging replica ... reported offset N behind master, lag=L, state=S.")
and "K of N replicas are in sync when shutting down.", then does what a
shutdown always does (persistence.prepare_shutdown: the final save, the
AOF's fsync) and stops the node. So a clean shutdown of a primary loses no
acknowledged write that its replicas could still receive.

The options, as Redis's: NOW skips the wait; FORCE exits even when the
final save fails; NOSAVE / SAVE override the save points; ABORT cancels a
shutdown in progress (the parked SHUTDOWN clients get "Errors trying to
SHUTDOWN. Check logs.", writes resume) or answers "No shutdown in
progress."; a shutdown-timeout of 0 never waits. A shutdown whose final
save fails (without FORCE) is cancelled the same way and the node keeps
serving. A second SHUTDOWN while one waits joins it; a SIGINT while one
waits exits at once ("You insist... exiting now.").

Not kept from Redis: the write pause is the node's one CLIENT PAUSE, so
cancelling the shutdown also ends an operator's CLIENT PAUSE WRITE.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..protocol.errors import CommandError
from .primary import ONLINE, GETACK

if TYPE_CHECKING:
    from ..server.server import Server
    from ..server.session import Session

log = logging.getLogger("ringcache")

SHUTDOWN_FAILED = "ERR Errors trying to SHUTDOWN. Check logs."
FAR_FUTURE_S = 10.0 ** 9  # the write pause lasts until the shutdown ends or is cancelled


class ShutdownWait:
    def __init__(self, server: "Server") -> None:
        self.server = server
        self.deadline = 0.0  # monotonic; 0 = no shutdown in progress
        self.save: bool | None = None
        self.force = False
        self.parked: list["Session"] = []  # SHUTDOWN clients waiting for the outcome

    @property
    def in_progress(self) -> bool:
        return self.deadline != 0.0

    # -- starting --------------------------------------------------------

    def request(self, session: "Session | None", save: bool | None, now: bool, force: bool) -> Any:
        """SHUTDOWN or a signal. Returns None when the node is stopping (or
        the client is parked: then a BlockOn for the dispatcher); raises
        SHUTDOWN_FAILED when the final save failed."""
        from ..commands._blocking import BlockOn

        if self.in_progress:  # another SHUTDOWN joins the one in progress
            return BlockOn([], 0, None, None, on_park=self.parked.append) if session else None
        timeout = self.server.config["shutdown-timeout"]
        if now or not timeout or self._ready():
            if not self._finish(save, force):
                raise CommandError(SHUTDOWN_FAILED)
            return None
        self.save, self.force = save, force
        self.deadline = time.monotonic() + timeout
        primary = self.server.replication.primary
        if not primary.forwarding:  # (a replica's stream is its primary's: Redis sends none either)
            primary.feed_own(GETACK)
        self.server.pause(FAR_FUTURE_S, pause_all=False)
        log.info("Waiting for replicas before shutting down.")
        if session is None:
            return None
        return BlockOn([], 0, None, None, on_park=self.parked.append)

    def _ready(self) -> bool:
        primary = self.server.replication.primary
        return all(link.ack_offset == primary.offset for link in primary.links)

    # -- ending ----------------------------------------------------------

    def check(self) -> None:
        """After a replica's ACK and from the cron: finish when every replica
        caught up or the time is up."""
        if self.in_progress and (self._ready() or time.monotonic() >= self.deadline):
            if not self._finish(self.save, self.force):
                self._cancel()

    def abort(self) -> bool:
        """SHUTDOWN ABORT."""
        if not self.in_progress:
            return False
        self._cancel()
        log.info("Shutdown manually aborted.")
        return True

    def _cancel(self) -> None:
        self.deadline = 0.0
        parked, self.parked = self.parked, []
        blocking = self.server.blocking
        for session in parked:
            blocking.finish(session, CommandError(SHUTDOWN_FAILED))
        self.server.unpause()

    def _finish(self, save: bool | None, force: bool) -> bool:
        server = self.server
        primary = server.replication.primary
        now = time.monotonic()
        lagging = 0
        for link in primary.links:
            if link.ack_offset != primary.offset:
                lagging += 1
                lag = int(now - link.ack_time) if link.state == ONLINE else 0
                log.warning("Lagging replica %s reported offset %d behind master, lag=%d, state=%s.",
                            link.session.addr, primary.offset - link.ack_offset, lag, link.state)
        if primary.links:
            log.info("%d of %d replicas are in sync when shutting down.",
                     len(primary.links) - lagging, len(primary.links))
        self.deadline = 0.0
        if not server.persistence.prepare_shutdown(save) and not force:
            return False
        server.shutdown()
        return True
