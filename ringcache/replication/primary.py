"""The serving side of replication: this node's replication history (ids,
offset, backlog) and the replicas attached to it.

Every node has one `Primary`, whatever its role: a replica serves its own
replicas (chained replication) from the same object, fed with the bytes it
received from its primary instead of its own writes.

Theory of operation
-------------------
History. `replid` names the stream, `offset` counts its bytes (see
backlog.py). `replid2`/`second_offset` are the previous history's id and
the first offset that does not belong to it: after a promotion (PSYNC2) a
replica of the old primary that asks `PSYNC <old id> <n>` with
n <= second_offset continues here with a partial resync.

The stream. While this node is a primary with history, it registers as a
sink of the node's write stream (server.write_stream): each unit of writes
comes encoded as RESP, once for every sink (a SELECT first when the
database differs from the last one written, MULTI/EXEC kept) and is kept
until the end of the loop turn (the stream's flush() at the end of each
batch queues one flush_now with the turn's replies, Server.flush_soon):
then the turn's bytes are appended to the backlog and queued on every
online replica's connection in one piece, and leave with the clients'
replies. `offset` counts the kept bytes
too; whatever reads the backlog or forks flushes first. A replica node instead calls
`feed_raw` with its primary's bytes, so its own replicas see the very same
stream and offsets. With no backlog (no replica ever attached) nothing is
registered and writes pay nothing.

Links. A client that sends PSYNC (or SYNC) becomes a `ReplicaLink`. A
partial resync answers `+CONTINUE <replid>` and the backlog's bytes from the
asked offset. A full resync answers `+FULLRESYNC <replid> <offset>` and
joins a `SyncJob`: one forked child (persistence's fork, the node's
snapshot format) writes a point-in-time snapshot to a file while the
stream's bytes produced since the fork are kept once for every replica of
that job (a replica arriving while the child runs joins it: overlapping
full syncs share one snapshot). When the child ends, each replica gets
`$<len>\\r\\n`, the file (1 MB at a time, the next chunk when the socket
drained, so the loop never waits on a slow replica), then the kept bytes,
and goes online.

Bounds. A job's kept bytes and an online replica's unsent output are both
bounded by client-output-buffer-limit's replica class (default 256mb hard,
64mb for 60 s soft): past it the link is closed and the replica comes back
with PSYNC (partial when the backlog still covers it, otherwise full). The
primary never waits for a replica.

WAIT and min-replicas. Replicas send `REPLCONF ACK <offset>` every second
and when the stream carries `REPLCONF GETACK *`; WAIT parks its client
(server/blocking.py) until enough replicas acknowledged the offset right
after that client's last write (session.woff, kept by the dispatcher), or
its timeout; inside MULTI it answers at once. With min-replicas-to-write N a
primary refuses writes (-NOREPLICAS) unless N replicas acknowledged within
min-replicas-max-lag seconds.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from .backlog import Backlog
from .diskless import DisklessTransfer, open_pipe
from .stream import encode

if TYPE_CHECKING:
    from ..server.server import Server
    from ..server.session import Session

log = logging.getLogger("ringcache")

SNAPSHOT_CHUNK = 1024 * 1024
PING = encode([b"PING"])
GETACK = encode([b"REPLCONF", b"GETACK", b"*"])
SELECTS = [encode([b"SELECT", b"%d" % i]) for i in range(16)]

# Link states (INFO slaveN:state=...)
WAIT_BGSAVE = "wait_bgsave"
SEND_BULK = "send_bulk"
ONLINE = "online"


def new_replid() -> str:
    return os.urandom(20).hex()


class SyncJob:
    """One snapshot shared by the replicas whose full syncs overlap."""

    def __init__(self, offset: int, diskless: bool = False) -> None:
        self.diskless = diskless  # streamed to the sockets (diskless.py), else a file
        self.created = time.monotonic()  # (repl-diskless-sync-delay counts from here)
        self.transfer: DisklessTransfer | None = None
        self.offset = offset  # the stream's offset at the fork
        self.links: list[ReplicaLink] = []
        self.kept: list[bytes] = []  # stream bytes since the fork
        self.kept_size = 0
        self.path = ""
        self.started = False  # the child was forked (links got +FULLRESYNC)
        self.done = False  # the snapshot file is complete


class ReplicaLink:
    """One replica attached to this node (its connection's session)."""

    def __init__(self, primary: "Primary", session: "Session") -> None:
        self.primary = primary
        self.session = session
        # A replica is a client that sent PSYNC/SYNC: it has a connection.
        assert session.connection is not None
        self.connection = session.connection
        self.state = WAIT_BGSAVE
        self.ack_offset = 0
        self.ack_time = time.monotonic()
        self.listening_port = 0
        self.job: SyncJob | None = None
        self.snapshot_file: Any = None
        self.addr = session.addr.rsplit(":", 1)[0]

    # -- full sync: sending the snapshot -----------------------------------

    def start_snapshot(self, job: SyncJob) -> None:
        try:
            self.snapshot_file = open(job.path, "rb")
            size = os.fstat(self.snapshot_file.fileno()).st_size
        except OSError as exc:
            log.warning("Can't open the snapshot for replica %s: %s", self.session.addr, exc)
            self.close()
            return
        self.state = SEND_BULK
        self.connection.on_drained = self._send_chunk
        self.connection.write_unlimited(b"$%d\r\n" % size)

    def _send_chunk(self) -> None:
        """Connection.on_drained while sending the snapshot: the next chunk."""
        connection = self.connection
        if connection.closed or self.snapshot_file is None:
            return
        chunk = self.snapshot_file.read(SNAPSHOT_CHUNK)
        if chunk:
            connection.write_unlimited(chunk)
            return
        self.snapshot_file.close()
        self.snapshot_file = None
        connection.on_drained = None
        self.go_online()

    def go_online(self) -> None:
        """The snapshot is there: the stream kept since the fork, then the
        live stream."""
        job = self.job
        self.job = None
        if job is not None:
            for data in job.kept:
                self.connection.write(data)
            job.links.remove(self)
            if not job.links and job in self.primary.sending:
                self.primary.sending.remove(job)
        self.state = ONLINE
        self.ack_time = time.monotonic()
        log.info("Synchronization with replica %s succeeded", self.session.addr)

    # -- full sync, diskless (diskless.py) ----------------------------------

    def start_diskless(self, header: bytes) -> None:
        self.state = SEND_BULK
        self.connection.write_unlimited(header)

    def close(self) -> None:
        if self.session.close is not None:
            self.session.close()

    def forget(self) -> None:
        """The connection is gone."""
        if self.snapshot_file is not None:
            self.snapshot_file.close()
            self.snapshot_file = None
        job = self.job
        if job is not None and self in job.links:
            job.links.remove(self)
            if job.transfer is not None:
                job.transfer.forget(self)
            if not job.links and job in self.primary.sending:
                self.primary.sending.remove(job)
        self.job = None

    def lag(self) -> int:
        return int(time.monotonic() - self.ack_time)


class Waiter:
    """A client in WAIT."""

    __slots__ = ("session", "offset", "wanted", "timer")

    def __init__(self, session: "Session", offset: int, wanted: int) -> None:
        self.session = session
        self.offset = offset
        self.wanted = wanted
        self.timer: Any = None


class _TurnFlush:
    """Queued on Server.flush_soon like a connection with output (before
    the replies of the batch that queued it): the end of the loop turn
    sends the primary's pending stream (Primary.flush)."""

    __slots__ = ("primary",)

    def __init__(self, primary: "Primary") -> None:
        self.primary = primary

    @property
    def loop(self) -> Any:
        return self.primary.server._loop

    def flush(self) -> None:
        primary = self.primary
        primary.turn_flush_queued = False
        primary.flush_now()
        # Sent now, ahead of the replies of the clients that wrote them
        # (queued after this): a reply does not leave before its write is
        # on its way to the replicas, which keeps the async window to the
        # replicas' own time (as when each batch wrote to them directly).
        for link in primary.links:
            if link.state == ONLINE:
                link.connection.flush()


class Primary:
    def __init__(self, server: "Server") -> None:
        self.server = server
        self.replid = new_replid()
        self.replid2 = "0" * 40
        self.second_offset = -1
        self._offset = 0  # the offset while there is no backlog
        self.backlog: Backlog | None = None
        self.backlog_idle_since = time.monotonic()
        self.links: list[ReplicaLink] = []
        self.job: SyncJob | None = None  # the job new full syncs join
        self.sending: list[SyncJob] = []  # jobs whose replicas still receive their snapshot
        self.last_db = -1  # the database the stream last SELECTed
        self.sink_on = False
        # The current batch's encoded writes (on_write), sent by flush().
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.turn_flush = _TurnFlush(self)  # queued with the turn's replies (flush)
        self.turn_flush_queued = False
        self.forwarding = False  # a replica: fed by feed_raw, not by the write stream
        self.waiters: list[Waiter] = []
        self.last_ping = time.monotonic()
        self.last_newline = time.monotonic()
        # INFO stats
        self.sync_full = 0
        self.sync_partial_ok = 0
        self.sync_partial_err = 0
        self.repl_output_bytes = 0
        server.config.on_change("repl-backlog-size", self._resize_backlog)

    # -- history -----------------------------------------------------------

    @property
    def offset(self) -> int:
        if self.backlog is None:
            return self._offset
        return self.backlog.offset + self.pending_size  # (the batch's writes not yet flushed count)

    def ensure_backlog(self) -> None:
        """Redis's createReplicationBacklog. A primary that had none starts a
        new history (nothing before it can be continued)."""
        if self.backlog is None:
            if not self.forwarding:
                self.replid = new_replid()
                self.replid2 = "0" * 40
                self.second_offset = -1
            self.backlog = Backlog(self.server.config["repl-backlog-size"], self._offset)
            self.update_sink()

    def _resize_backlog(self, size: int) -> None:
        if self.backlog is not None:
            self.backlog.resize(size)

    def free_backlog(self) -> None:
        self.flush_now()
        if self.backlog is not None:
            self._offset = self.backlog.offset
            self.backlog = None
            self.update_sink()

    def shift_replid(self) -> None:
        """Promotion (PSYNC2): the old history becomes the second id."""
        self.replid2 = self.replid
        self.second_offset = self.offset + 1
        self.replid = new_replid()
        log.info("Setting secondary replication ID to %s, valid up to offset: %d. New replication ID is %s",
                 self.replid2, self.second_offset, self.replid)

    def reset_history(self, replid: str, offset: int) -> None:
        """A full sync from our primary: its id and offset, an empty backlog."""
        self.replid = replid
        self.replid2 = "0" * 40
        self.second_offset = -1
        self._offset = offset
        self.backlog = Backlog(self.server.config["repl-backlog-size"], offset)
        self.update_sink()

    def continue_history(self, new_replid: str) -> None:
        """+CONTINUE with another id: our primary changed history (it was
        promoted); keep the old one as the second id."""
        if new_replid != self.replid:
            self.replid2 = self.replid
            self.second_offset = self.offset + 1
            self.replid = new_replid
            self.disconnect_all()  # they must learn the new id

    # -- the stream --------------------------------------------------------

    def update_sink(self) -> None:
        """Be a sink of the write stream only while a primary with history."""
        want = self.backlog is not None and not self.forwarding
        self.flush_now()
        stream = self.server.write_stream
        if want and not self.sink_on:
            self.last_db = -1
            stream.add_sink(self)
            self.sink_on = True
        elif not want and self.sink_on:
            stream.remove_sink(self)
            self.sink_on = False

    def on_encoded(self, db: int, unit: list[list[bytes]], data: bytes) -> None:
        """EncodedSink: one atomic unit of writes executed on this node, with
        its RESP bytes (the write stream encoded them once for every sink)."""
        if db != self.last_db:
            select = SELECTS[db] if db < 16 else encode([b"SELECT", b"%d" % db])
            self.last_db = db
            data = select + data
        if self.backlog is not None:
            self.pending.append(data)
            self.pending_size += len(data)

    def flush(self) -> None:
        """BufferedSink: the end of a batch of commands. The batch's writes
        stay pending (counted in `offset`) until the end of the loop turn:
        then every batch of the turn goes to the backlog and to each
        replica in one piece (flush_now), just before the turn's replies
        leave, instead of one backlog append and one write per replica for
        each client's batch."""
        if self.pending and not self.turn_flush_queued:
            self.turn_flush_queued = True
            self.server.flush_soon(self.turn_flush)

    def flush_now(self) -> None:
        """Send what is pending: before anything reads the backlog, forks,
        or adds the primary's own bytes, and at the end of the loop turn."""
        pending = self.pending
        if pending:
            data = pending[0] if len(pending) == 1 else b"".join(pending)
            pending.clear()
            self.pending_size = 0
            self.feed(data)

    def feed_raw(self, data: bytes) -> None:
        """A replica forwarding what it applied from its primary."""
        if self.backlog is None:
            self._offset += len(data)
            return
        self.feed(data)

    def feed(self, data: bytes) -> None:
        backlog = self.backlog
        if backlog is None:
            return
        backlog.append(data)
        job = self.job
        if job is not None and job.started:
            self._keep(job, data)
        if self.sending:
            for job in self.sending:
                self._keep(job, data)
        for link in self.links:
            if link.state == ONLINE:
                link.connection.write(data)
                self.repl_output_bytes += len(data)

    def feed_own(self, data: bytes) -> None:
        """The primary's own PING / GETACK: no client's write, so the
        dispatcher does not count it into the next command's write offset
        (WAIT would otherwise wait for bytes nobody wrote)."""
        self.flush_now()
        self.feed(data)
        self.server.dispatcher.stream_offset = self.offset

    def _keep(self, job: SyncJob, data: bytes) -> None:
        """The stream since the fork, for the replicas still waiting for
        their snapshot: bounded by the replica class's hard limit."""
        if not job.links:
            return
        job.kept.append(data)
        job.kept_size += len(data)
        hard = self._replica_limits()[0]
        if hard and job.kept_size > hard:
            log.warning("Full sync: the writes kept for %d replica(s) passed the replica "
                        "output buffer limit; closing them (they will resync)", len(job.links))
            for link in list(job.links):
                link.close()

    def _replica_limits(self) -> tuple[int, int, int]:
        return self.server.replica_output_limits or (0, 0, 0)

    # -- PSYNC -------------------------------------------------------------

    def psync(self, session: "Session", replid: str, next_offset: int, psync2: bool) -> bytes:
        """Attach session as a replica; returns the bytes to answer with."""
        self.flush_now()  # (the backlog and a new job's fork see every write made so far)
        link = ReplicaLink(self, session)
        session.is_replica = True
        session.replica_link = link
        link.listening_port = session.replica_listening_port
        if replid != "?":
            partial = self._continue_from(replid, next_offset)
            if partial is not None:
                self.sync_partial_ok += 1
                link.state = ONLINE
                link.ack_offset = next_offset - 1
                self.links.append(link)
                log.info("Partial resynchronization request from %s accepted. Sending %d bytes of "
                         "backlog starting from offset %d.", session.addr, len(partial), next_offset)
                head = b"+CONTINUE %s\r\n" % self.replid.encode() if psync2 else b"+CONTINUE\r\n"
                return head + partial
            self.sync_partial_err += 1
        self.sync_full += 1
        log.info("Replica %s asks for synchronization", session.addr)
        self.ensure_backlog()
        self.links.append(link)
        job = self.job
        if job is not None and job.started and not job.done:
            # Overlapping full syncs share one snapshot (and the writes kept since its fork).
            log.info("Waiting for end of BGSAVE for SYNC")
            self._join(job, link)
            return b"+FULLRESYNC %s %d\r\n" % (self.replid.encode(), job.offset)
        if job is None or job.done:
            job = self.job = SyncJob(0, self.server.config["repl-diskless-sync"])
        self._join(job, link)
        if self.start_job():
            head = b"+FULLRESYNC %s %d\r\n" % (self.replid.encode(), job.offset)
            for other in job.links:  # (replicas that waited for this one: max-replicas)
                if other is not link:
                    other.connection.write(head)
            return head
        return b""  # +FULLRESYNC goes out when the child can start (cron)

    def _join(self, job: SyncJob, link: ReplicaLink) -> None:
        job.links.append(link)
        link.job = job

    def _continue_from(self, replid: str, next_offset: int) -> bytes | None:
        backlog = self.backlog
        if backlog is None:
            return None
        if replid == self.replid:
            pass
        elif replid == self.replid2 and next_offset <= self.second_offset:
            pass
        else:
            log.info("Partial resynchronization not accepted: Replication ID mismatch "
                     "(Replica asked for '%s', my replication IDs are '%s' and '%s')",
                     replid, self.replid, self.replid2)
            return None
        if not backlog.covers(next_offset):
            log.info("Unable to partial resync with replica for lack of backlog (Replica request "
                     "was: %d).", next_offset)
            return None
        return backlog.since(next_offset)

    def start_job(self) -> bool:
        """Fork the snapshot child for the waiting job, if no child runs."""
        job = self.job
        if job is None or job.started or not job.links:
            return job is not None and job.started
        persistence = self.server.persistence
        if persistence.child is not None:
            return False
        if job.diskless and not self._diskless_due(job):
            return False
        self.flush_now()  # what the fork's snapshot holds must not reach the job's kept bytes
        job.offset = self.offset
        job.kept.clear()
        job.kept_size = 0
        # The stream after the snapshot starts with a SELECT (Redis: slaveseldb = -1).
        self.last_db = -1
        if job.diskless:
            return self._start_diskless(job)
        child = persistence.bgsave(on_done=lambda ok: self._job_done(job, ok))
        if not child:
            log.warning("BGSAVE for replication failed")
            for link in list(job.links):
                link.close()
            self.job = None
            return False
        job.path = persistence.snapshot_path()
        job.started = True
        log.info("Starting BGSAVE for SYNC with target: disk")
        self._poll_child(job, 0.002)
        return True

    def _diskless_due(self, job: SyncJob) -> bool:
        """repl-diskless-sync-delay: wait that long after the first replica
        asked, for others to share the transfer, unless
        repl-diskless-sync-max-replicas of them are already there."""
        config = self.server.config
        most = config["repl-diskless-sync-max-replicas"]
        if most and len(job.links) >= most:
            return True
        return time.monotonic() - job.created >= config["repl-diskless-sync-delay"]

    def _start_diskless(self, job: SyncJob) -> bool:
        """Fork the child that writes the snapshot into a pipe (diskless.py
        relays it). The job leaves self.job at once: a replica arriving
        from now on cannot share this transfer and starts the next one."""
        persistence = self.server.persistence
        read_fd, write_fd = open_pipe()
        child = persistence.bgsave_to_pipe(read_fd, write_fd,
                                           on_done=lambda ok: self._diskless_child_done(job, ok))
        os.close(write_fd)
        if not child:
            os.close(read_fd)
            log.warning("BGSAVE for replication failed")
            for link in list(job.links):
                link.close()
            self.job = None
            return False
        job.started = True
        job.transfer = transfer = DisklessTransfer(self, job, read_fd)
        self.job = None
        self.sending.append(job)  # (its replicas get the stream kept from the fork on)
        log.info("Starting BGSAVE for SYNC with target: replicas sockets")
        loop = self.server._loop
        assert loop is not None
        loop.call_soon(transfer.start)  # (after the +FULLRESYNC the caller queues)
        self._poll_child(job, 0.002)
        return True

    def _diskless_child_done(self, job: SyncJob, ok: bool) -> None:
        job.done = True
        if job.transfer is not None:
            job.transfer.child_done(ok)

    def diskless_done(self, job: SyncJob, ok: bool, mark: bytes) -> None:
        """The child ended and its pipe was read to the end: the closing mark,
        then each replica waits for its first ACK (see diskless.py)."""
        if not ok:
            log.warning("Diskless rdb transfer, the child failed: closing its replicas")
            for link in list(job.links):
                link.close()
            if job in self.sending:
                self.sending.remove(job)
            return
        for link in list(job.links):
            link.connection.write_unlimited(mark)
            log.info("Streamed RDB transfer with replica %s succeeded (socket). Waiting for "
                     "REPLCONF ACK from replica to enable streaming", link.session.addr)
        if not job.links and job in self.sending:
            self.sending.remove(job)

    def _poll_child(self, job: SyncJob, delay: float) -> None:
        """Reap the snapshot child soon after it ends: the cron's 1/hz
        seconds would be most of a small sync's time. Polls back off to the
        cron's own pace."""
        loop = self.server._loop
        if job.done or loop is None or delay > 0.1:
            return
        self.server.persistence.poll_child()
        if not job.done:
            loop.call_later(delay, self._poll_child, job, delay * 1.5)

    def _job_done(self, job: SyncJob, ok: bool) -> None:
        job.done = True
        if self.job is job:
            self.job = None
        if ok and job.links:
            self.sending.append(job)
        if not ok:
            log.warning("SYNC failed. BGSAVE child returned an error")
            for link in list(job.links):
                link.close()
            return
        log.info("Background RDB transfer started")
        for link in list(job.links):
            link.start_snapshot(job)

    # -- links -------------------------------------------------------------

    def remove_link(self, session: "Session") -> None:
        link = getattr(session, "replica_link", None)
        if link is None or link not in self.links:
            return
        self.links.remove(link)
        link.forget()
        log.info("Connection with replica %s lost.", session.addr)
        if not self.links:
            self.backlog_idle_since = time.monotonic()
        self._check_waiters()
        wait = self.server.replication.shutdown_wait
        if wait.in_progress:  # (the one it waited for may be this one)
            wait.check()

    def disconnect_all(self) -> None:
        for link in list(self.links):
            link.close()

    def ack(self, session: "Session", offset: int) -> None:
        link = getattr(session, "replica_link", None)
        if link is None:
            return
        if offset > link.ack_offset:
            link.ack_offset = offset
        link.ack_time = time.monotonic()
        job = link.job
        if job is not None and job.transfer is not None and job.transfer.finished \
                and link.state == SEND_BULK:
            link.go_online()  # its diskless snapshot is loaded (diskless.py)
        if self.waiters:
            self._check_waiters()
        wait = self.server.replication.shutdown_wait
        if wait.in_progress:  # a shutdown waiting for its replicas (shutdown.py)
            wait.check()

    def good_replicas(self) -> int:
        max_lag = self.server.config["min-replicas-max-lag"]
        now = time.monotonic()
        return sum(1 for link in self.links if link.state == ONLINE and now - link.ack_time <= max_lag)

    # -- WAIT --------------------------------------------------------------

    def acked(self, offset: int) -> int:
        return sum(1 for link in self.links if link.state == ONLINE and link.ack_offset >= offset)

    def wait(self, session: "Session", wanted: int, timeout_ms: int) -> Any:
        """WAIT: the number of replicas that acknowledged this client's last
        write (session.woff), at once when enough did, inside MULTI, or with
        no replica; otherwise a parked client (the dispatcher's BlockOn),
        registered as a waiter only once really parked."""
        from ..commands._blocking import BlockOn

        offset = session.woff
        count = self.acked(offset)
        if count >= wanted or not self.links:
            return count

        def park(parked: "Session") -> None:
            waiter = Waiter(parked, offset, wanted)
            loop = self.server._loop
            if timeout_ms > 0 and loop is not None:
                waiter.timer = loop.call_later(timeout_ms / 1000.0, self._wait_timeout, waiter)
            self.waiters.append(waiter)
            self.feed_own(GETACK)

        return BlockOn([], 0, None, count, on_park=park)

    def _wait_timeout(self, waiter: Waiter) -> None:
        if waiter in self.waiters:
            self.waiters.remove(waiter)
            self._answer(waiter, self.acked(waiter.offset))

    def _check_waiters(self) -> None:
        for waiter in list(self.waiters):
            if waiter.session.blocked is None and waiter.session.closing:
                self.waiters.remove(waiter)
                continue
            count = self.acked(waiter.offset)
            if count >= waiter.wanted:
                self.waiters.remove(waiter)
                self._answer(waiter, count)

    def _answer(self, waiter: Waiter, count: int) -> None:
        if waiter.timer is not None:
            waiter.timer.cancel()
        self.server.blocking.finish(waiter.session, count)

    # -- the cron ----------------------------------------------------------

    def cron(self, is_primary: bool) -> None:
        self.flush_now()  # (writes emitted outside a batch that nothing flushed yet)
        now = time.monotonic()
        config = self.server.config
        job = self.job
        if job is not None and not job.started and job.links:
            if self.start_job():
                head = b"+FULLRESYNC %s %d\r\n" % (self.replid.encode(), job.offset)
                for link in job.links:
                    link.connection.write(head)
        if is_primary and self.links and now - self.last_ping >= config["repl-ping-replica-period"]:
            self.last_ping = now
            self.feed_own(PING)
        if now - self.last_newline >= 1.0:
            # Replicas waiting for their snapshot get a newline a second, so
            # that a long snapshot does not look like a dead primary to
            # their repl-timeout (Redis does the same; they skip it).
            self.last_newline = now
            for link in self.links:
                if link.state == WAIT_BGSAVE:
                    link.connection.write(b"\n")
        timeout = config["repl-timeout"]
        for link in list(self.links):
            if link.state == ONLINE and now - link.ack_time > timeout:
                log.warning("Disconnecting timedout replica (streaming sync): %s", link.session.addr)
                link.close()
        ttl = config["repl-backlog-ttl"]
        if (is_primary and self.backlog is not None and not self.links and ttl
                and now - self.backlog_idle_since > ttl):
            log.info("Replication backlog freed after %d seconds without connected replicas.", ttl)
            self.free_backlog()
            self.replid = new_replid()
            self.replid2 = "0" * 40
            self.second_offset = -1

    # -- INFO --------------------------------------------------------------

    def replica_lines(self) -> list[tuple[str, Any]]:
        fields = []
        for i, link in enumerate(self.links):
            port = link.listening_port or 0
            fields.append((f"slave{i}", f"ip={link.addr},port={port},state={link.state},"
                                        f"offset={link.ack_offset},lag={link.lag()}"))
        return fields
