"""Diskless full sync, the sending side (repl-diskless-sync yes): the forked
child writes the snapshot into a pipe, and the primary relays what it reads
there to every replica of the sync's job, framed as Redis frames it.

Theory of operation
-------------------
Framing (Redis's replication.c, what a replica that announced `capa eof`
reads): `$EOF:<40 random bytes>\\r\\n`, the snapshot, then the same 40
bytes. The replica cannot tell where the snapshot ends except by that mark
at the end of what it read, so nothing may follow the mark until the
replica says it has loaded: the link waits for the replica's first
`REPLCONF ACK` (Redis's repl_start_cmd_stream_on_ack) before the stream
kept since the fork goes out and the link is online (primary.py).

Flow control: one read of the pipe (up to PIPE_READ bytes) is queued on
every replica's connection, and the pipe is not read again until every one
of them has sent it all (Connection.on_drained): the slowest replica sets
the pace, the primary's memory holds one chunk, and the child blocks on the
full pipe meanwhile (Redis's rdb_pipe_numconns_writing). A replica whose
connection closes drops out; with none left the child's output is read and
discarded until it ends.

Sharing: the replicas that asked for a full sync before the child forked
(during repl-diskless-sync-delay, or until repl-diskless-sync-max-replicas
of them arrived) share this one snapshot; one arriving once the transfer
has started cannot join it (it would miss the beginning) and waits for the
next one, as in Redis.
"""

from __future__ import annotations

import fcntl
import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .primary import Primary, ReplicaLink, SyncJob

log = logging.getLogger("ringcache")

PIPE_READ = 1 << 20
F_SETPIPE_SZ = 1031  # (Linux; fcntl has no name for it before Python 3.10 on some builds)


def open_pipe() -> tuple[int, int]:
    """The pipe the child writes the snapshot into: non-blocking on the
    read side (the loop reads it), as large as the kernel allows without
    privileges (1 MB), so a read takes a useful chunk."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    try:
        fcntl.fcntl(write_fd, getattr(fcntl, "F_SETPIPE_SZ", F_SETPIPE_SZ), PIPE_READ)
    except OSError:
        pass  # (the default 64 KB works, in more turns)
    return read_fd, write_fd


class DisklessTransfer:
    def __init__(self, primary: "Primary", job: "SyncJob", read_fd: int) -> None:
        self.primary = primary
        self.job = job
        self.fd = read_fd
        self.mark = os.urandom(20).hex().encode()  # 40 bytes (CONFIG_RUN_ID_SIZE)
        self.reading = False
        self.draining: set[ReplicaLink] = set()  # links still sending the last chunk
        self.eof = False  # the pipe ended
        self.child_ok: bool | None = None  # the child's status, once reaped
        self.finished = False  # the mark went out: links wait for their ACK

    @property
    def loop(self) -> Any:
        return self.primary.server._loop

    def start(self) -> None:
        """After +FULLRESYNC went out (the caller queued it): the header,
        then the pipe's bytes as they come."""
        for link in list(self.job.links):
            link.start_diskless(b"$EOF:%b\r\n" % self.mark)
        self._read_more()

    def _read_more(self) -> None:
        if not self.reading and not self.eof:
            self.reading = True
            self.loop.add_reader(self.fd, self._readable)

    def _pause(self) -> None:
        if self.reading:
            self.reading = False
            self.loop.remove_reader(self.fd)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, PIPE_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.warning("Diskless sync: reading the child's pipe failed: %s", exc)
            data = b""
        if not data:
            self._pause()
            os.close(self.fd)
            self.eof = True
            self.maybe_finish()
            return
        links = [link for link in self.job.links if not link.connection.closed]
        for link in links:
            link.connection.write_unlimited(data)
            link.connection.on_drained = lambda link=link: self._drained(link)
        if links:
            self.draining = set(links)
            self._pause()

    def _drained(self, link: "ReplicaLink") -> None:
        link.connection.on_drained = None
        self.forget(link)

    def forget(self, link: "ReplicaLink") -> None:
        """A link sent its chunk, or is gone."""
        self.draining.discard(link)
        if not self.draining:
            self._read_more()

    def child_done(self, ok: bool) -> None:
        self.child_ok = ok
        self.maybe_finish()

    def maybe_finish(self) -> None:
        """Both the pipe's end and the child's status are needed: the child
        may be reaped before the parent read all the pipe holds."""
        if not self.eof or self.child_ok is None or self.finished:
            return
        self.finished = True
        self.primary.diskless_done(self.job, self.child_ok, self.mark)

    def abort(self) -> None:
        """The node stops the transfer (the child was killed)."""
        self._pause()
        if not self.eof:
            self.eof = True
            try:
                os.close(self.fd)
            except OSError:
                pass
