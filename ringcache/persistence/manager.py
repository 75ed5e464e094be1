"""Persistence on a running node: snapshots (SAVE, BGSAVE, `save` points),
the append-only file (feeding, fsync policies, rewrites) and loading at
start-up. `Persistence` is owned by the Server (`server.persistence`), which
it sees only through `PersistenceHost` (persistence/host.py): persistence
depends on storage/ and protocol/, never on server/ or commands/.

Theory of operation
-------------------
* Background work is a forked child, as in Redis: fork() gives the child a
  point-in-time copy of the whole keyspace for free (copy-on-write), so the
  event loop keeps serving while the child writes; at most one child runs at
  a time (BGSAVE or AOF rewrite), the other waits "scheduled". The cron
  reaps the child (waitpid WNOHANG) and samples its private memory (the
  pages that stopped being shared: INFO current_cow_size).
  In CPython copy-on-write is weaker than in C: the child's own reads of
  every key and value write their reference counts, so it ends up copying
  most pages that hold objects (measured in benchmarks/RESULTS.md). Two
  things keep it from being worse: gc.freeze() just before fork moves every
  tracked object to the permanent generation, so the parent's collections
  during the save do not write the GC headers of the whole heap, and the
  child never runs the collector (gc.disable()).
* Snapshot files are written to a temporary name in `dir`, fsynced, and
  renamed over `dbfilename`; the directory is fsynced after the rename.
* AOF feeding: the append-only file is a sink of the node's write stream
  (server/write_stream.py), registered while the AOF is on. `on_write(db,
  unit)` appends the unit's RESP encoding to a buffer, with a SELECT first
  when the database differs from the last one written; a unit is written
  whole (a transaction's MULTI ... EXEC included), so a flush never splits
  one. The dispatcher calls the stream's `flush()` at the end of each batch
  of commands, before the replies are sent: the data reaches the kernel
  before a client sees an acknowledgement (a kill -9 loses nothing), and
  with `appendfsync always` it is fsynced too. With `everysec` a background
  thread fsyncs once a second (an fsync can stall for long on a busy disk:
  never on the loop); `no` leaves it to the kernel.
* Expired and evicted keys reach the stream as DEL (the server emits them,
  Redis's propagateDeletion), so a replay never depends on the clock.
* Loading at start-up follows Redis: with appendonly yes the AOF is the
  truth (the snapshot is ignored); otherwise the snapshot is loaded. A file
  that cannot be read stops the node with the file name and offset
  (LoadError): it never starts empty over data it could not read.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..files import fsync_dir, write_atomically
from .aof import AOFFile, AOFFormatError, encode_command, format_manifest, iter_commands, parse_manifest
from .host import PersistenceHost
from .snapshot import SnapshotError, SnapshotReader, snapshot_chunks

log = logging.getLogger("ringcache")

SELECT_CACHE = [encode_command([b"SELECT", b"%d" % i]) for i in range(16)]
MULTI_ARGV = [b"MULTI"]
MULTI = encode_command(MULTI_ARGV)
BGSAVE_RETRY_S = 5  # CONFIG_BGSAVE_RETRY_DELAY: after a failed BGSAVE


class LoadError(Exception):
    """The data on disk could not be loaded: the node must not start."""


@dataclass
class Child:
    kind: str  # "rdb" or "aof"
    pid: int
    started: float  # time.time()
    temp_path: str
    dirty_at_fork: int
    cow_size: int = 0
    cow_peak: int = 0
    on_done: Callable[[bool], None] | None = None
    extra: dict = field(default_factory=dict)


class FsyncThread:
    """appendfsync everysec: fsyncs off the event loop (Redis's bio thread).
    `request(fd)` is ignored while an fsync is still running (Redis postpones
    too); `wait_idle()` before the fd is closed."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._fd = -1
        self._since = 0.0
        self._busy = False
        self._stop = False
        # How long the oldest write of each fsync waited for it (ms): what an
        # OS crash just before that fsync would have lost (INFO).
        self.last_lag_ms = 0.0
        self.max_lag_ms = 0.0
        self.thread = threading.Thread(target=self._run, name="aof-fsync", daemon=True)
        self.thread.start()

    def request(self, fd: int, unsynced_since: float) -> bool:
        """fsync fd; unsynced_since: when the oldest write it covers was made
        (monotonic), to measure how long writes stayed unsynced."""
        with self._wake:
            if self._busy:
                return False
            self._fd = fd
            self._since = unsynced_since
            self._busy = True
            self._wake.notify()
            return True

    @property
    def busy(self) -> bool:
        return self._busy

    def wait_idle(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._busy and time.monotonic() < deadline:
                self._wake.wait(0.01)

    def stop(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._busy and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                fd = self._fd
            try:
                os.fdatasync(fd)
            except OSError as exc:
                log.warning("Fsync of the append only file failed: %s", exc)
            lag = (time.monotonic() - self._since) * 1000.0
            self.last_lag_ms = lag
            self.max_lag_ms = max(self.max_lag_ms, lag)
            with self._wake:
                self._busy = False
                self._wake.notify_all()


class AppendOnlyFile:
    """The open AOF: the manifest's files, the incr file being appended to,
    the pending buffer."""

    def __init__(self, directory: str, basename: str) -> None:
        self.directory = directory
        self.basename = basename
        self.files: list[AOFFile] = []
        self.fd = -1
        self.buf: list[bytes] = []
        self.last_db = -1
        self.size = 0  # bytes of the whole AOF (base + incr files)
        self.base_size = 0  # the size right after the last rewrite
        self.unsynced = False
        self.unsynced_since = 0.0  # monotonic time of the oldest write not yet fsynced
        self.last_fsync = time.monotonic()
        self.write_ok = True

    @property
    def manifest_path(self) -> str:
        return os.path.join(self.directory, self.basename + ".manifest")

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def next_seq(self, kind: str) -> int:
        return max((f.seq for f in self.files if f.kind == kind), default=0) + 1

    def open_incr(self, seq: int) -> AOFFile:
        entry = AOFFile(f"{self.basename}.{seq}.incr.aof", seq, "i")
        self.fd = os.open(self.path(entry.name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.last_db = -1  # a new file starts with a SELECT
        return entry

    def write_manifest(self) -> None:
        write_atomically(self.manifest_path, [format_manifest(self.files).encode()])


class Persistence:
    def __init__(self, host: PersistenceHost) -> None:
        self.host = host
        config = host.config
        self.config = config
        host.lastsave = time.time()
        self.loading = False
        self.child: Child | None = None
        self.bgsave_scheduled = False
        self.aof_rewrite_scheduled = False
        # snapshot statistics (INFO persistence)
        self.rdb_saves = 0
        self.rdb_last_bgsave_ok = True
        self.rdb_last_bgsave_time_sec = -1
        self.rdb_last_try = 0.0
        self.rdb_last_cow_size = 0
        self.rdb_last_load_keys_loaded = 0
        self.rdb_last_load_keys_expired = 0
        # AOF statistics
        self.aof: AppendOnlyFile | None = None
        self.aof_waiting_rewrite = False  # CONFIG SET appendonly yes: on once the first rewrite forks
        self.aof_rewrites = 0
        self.aof_last_bgrewrite_ok = True
        self.aof_last_rewrite_time_sec = -1
        self.aof_last_cow_size = 0
        self.aof_rewrites_consecutive_failures = 0
        self.total_forks = 0
        self.latest_fork_usec = 0
        self.fsync_thread: FsyncThread | None = None
        self._cow_sampled = 0.0
        self._enable_failed_at = 0.0
        self._group_fsync_pending = False  # appendfsync always: replies held for it
        config.on_change("appendonly", self._on_appendonly)

    # -- paths ---------------------------------------------------------------

    def snapshot_path(self) -> str:
        return os.path.join(self.config["dir"], self.config["dbfilename"])

    def aof_directory(self) -> str:
        return os.path.join(self.config["dir"], self.config["appenddirname"])

    # -- the dataset as the snapshot writer sees it ------------------------------

    def _databases(self) -> list[tuple[int, dict, dict]]:
        return [(db.index, db.data, db.expires) for db in self.host.live_dbs() if db.data]

    def chunks(self) -> Iterator[bytes]:
        """The current dataset as snapshot chunks (the file writer and, later,
        replication's full sync both consume this)."""
        from .. import __version__

        aux = {b"ringcache-ver": __version__.encode(), b"ctime": b"%d" % int(time.time())}
        return snapshot_chunks(self._databases(), self.host.clock.ms(), aux,
                               compress=self.config["rdbcompression"],
                               functions=self.host.function_libraries())

    def _total_dirty(self) -> int:
        return sum(db.dirty for db in self.host.live_dbs())

    def write_snapshot_file(self, path: str) -> int:
        """Replace path with a snapshot (ringcache.files); returns the size."""
        temp = os.path.join(os.path.dirname(path), f"temp-{os.getpid()}.rdb")  # (Redis's name)
        return write_atomically(path, self.chunks(), temp_path=temp)

    # -- SAVE / BGSAVE -----------------------------------------------------------

    def save(self) -> bool:
        """SAVE: a snapshot on the loop (blocks every client meanwhile)."""
        start = time.monotonic()
        dirty = self._total_dirty()
        try:
            self.write_snapshot_file(self.snapshot_path())
        except OSError as exc:
            log.warning("Failed opening the temp RDB file temp-%d.rdb (in server root dir %s) "
                        "for saving: %s", os.getpid(), self.config["dir"], exc)
            self.rdb_last_bgsave_ok = False
            return False
        self.host.dirty_at_save = dirty
        self.host.lastsave = time.time()
        self.rdb_saves += 1
        self.rdb_last_bgsave_ok = True
        log.info("DB saved on disk (%.3f seconds)", time.monotonic() - start)
        return True

    def bgsave(self, on_done: Callable[[bool], None] | None = None) -> bool:
        """Fork a child that writes the snapshot; False if the fork failed.
        on_done(ok) runs when the child has ended (replication's full sync
        sends the file then)."""
        self.rdb_last_try = time.time()
        path = self.snapshot_path()

        def work() -> None:
            self.write_snapshot_file(path)

        child = self._fork("rdb", work, os.path.join(self.config["dir"], "temp-%d.rdb"))
        if child is None:
            self.rdb_last_bgsave_ok = False
            return False
        child.on_done = on_done
        log.info("Background saving started by pid %d", child.pid)
        return True

    def bgsave_to_pipe(self, read_fd: int, write_fd: int,
                       on_done: Callable[[bool], None] | None = None) -> bool:
        """Diskless replication (Redis's rdbSaveToSlavesSockets): fork a child
        that writes the snapshot into the pipe's write end; the parent reads
        read_fd and closes write_fd after this returns. No file, so the
        save bookkeeping (LASTSAVE, the dirty count) does not move.
        on_done(ok) runs when the child has ended."""

        def work() -> None:
            os.close(read_fd)
            for chunk in self.chunks():
                view = memoryview(chunk)
                while view:
                    view = view[os.write(write_fd, view):]
            os.close(write_fd)

        child = self._fork("rdb-pipe", work, os.path.join(self.config["dir"], "temp-%d.rdb"))
        if child is None:
            return False
        child.on_done = on_done
        log.info("Background RDB transfer started by pid %d", child.pid)
        return True

    def _rdb_done(self, child: Child, ok: bool) -> None:
        elapsed = time.time() - child.started
        self.rdb_last_bgsave_time_sec = int(elapsed)
        self.rdb_last_cow_size = child.cow_peak
        self.rdb_last_bgsave_ok = ok
        if ok:
            log.info("Background saving terminated with success")
            self.host.dirty_at_save = child.dirty_at_fork
            self.host.lastsave = time.time()
            self.rdb_saves += 1
        else:
            log.warning("Background saving error")
        if child.on_done is not None:
            child.on_done(ok)

    # -- the child ---------------------------------------------------------------

    def _fork(self, kind: str, work: Callable[[], None], temp_pattern: str) -> Child | None:
        dirty = self._total_dirty()
        start = time.perf_counter()
        gc.freeze()  # see the module header: the parent's GC leaves the heap's pages shared
        try:
            pid = os.fork()
        except OSError as exc:
            gc.unfreeze()
            log.warning("Can't save in background: fork: %s", exc)
            return None
        if pid == 0:
            self._child_main(work)  # never returns
        self.latest_fork_usec = int((time.perf_counter() - start) * 1e6)
        self.total_forks += 1
        self.child = Child(kind, pid, time.time(), temp_pattern % pid, dirty)
        return self.child

    def _child_main(self, work: Callable[[], None]) -> None:
        status = 1
        try:
            gc.disable()
            # The parent's signal handling is not ours: a SIGTERM to the
            # child must end the child, not wake the parent's loop through
            # the shared wake-up fd.
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            signal.signal(signal.SIGUSR1, signal.SIG_DFL)
            # Do not keep the parent's sockets alive (a port that stays bound,
            # a client that never sees its connection close).
            self.host.in_forked_child()
            work()
            status = 0
        except BaseException as exc:  # report, never return into the parent's code
            try:
                log.warning("Background child failed: %s", exc)
            except BaseException:
                pass
        finally:
            os._exit(status)

    def _reap(self) -> None:
        child = self.child
        if child is None:
            return
        try:
            pid, status = os.waitpid(child.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = child.pid, 1 << 8
        if pid == 0:
            self._sample_cow(child)
            return
        self.child = None
        # Back to normal collection: objects frozen at the fork may since have
        # become cyclic garbage (a closed client's session and connection).
        # This also thaws what Server.start froze; the cost is that the next
        # full collections walk those start-up objects again.
        gc.unfreeze()
        ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        if not ok and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGUSR1:
            ok = False  # killed on purpose (SHUTDOWN, appendonly no)
        if not ok:
            try:
                os.unlink(child.temp_path)
            except OSError:
                pass
        if child.kind == "rdb":
            self._rdb_done(child, ok)
        elif child.kind == "rdb-pipe":
            if child.on_done is not None:
                child.on_done(ok)
        else:
            self._aof_rewrite_done(child, ok)

    def poll_child(self) -> None:
        """Reap the child now if it has ended (the cron does it hz times a
        second; replication polls sooner while replicas wait for it)."""
        self._reap()

    def _sample_cow(self, child: Child) -> None:
        now = time.monotonic()
        if now - self._cow_sampled < 0.5:
            return
        self._cow_sampled = now
        size = private_dirty_bytes(child.pid)
        child.cow_size = size
        child.cow_peak = max(child.cow_peak, size)

    def kill_child(self) -> None:
        child = self.child
        if child is None:
            return
        try:
            os.kill(child.pid, signal.SIGUSR1)
            os.waitpid(child.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        self.child = None
        gc.unfreeze()
        try:
            os.unlink(child.temp_path)
        except OSError:
            pass
        if child.kind == "aof":
            self._aof_rewrite_done(child, False)
        elif child.on_done is not None:
            child.on_done(False)

    def wait_child(self, timeout: float = 60.0) -> None:
        """Block until the child ends (DEBUG RELOAD, tests of a SAVE after BGSAVE)."""
        deadline = time.monotonic() + timeout
        while self.child is not None and time.monotonic() < deadline:
            self._reap()
            if self.child is not None:
                time.sleep(0.005)

    # -- the cron ----------------------------------------------------------------

    def cron(self) -> None:
        self._reap()
        aof = self.aof
        if aof is not None:
            if aof.buf:
                self.flush()
            if aof.unsynced and self.config["appendfsync"] == "everysec":
                now = time.monotonic()
                if now - aof.last_fsync >= 1.0 and self.fsync_thread is not None:
                    if self.fsync_thread.request(aof.fd, aof.unsynced_since):
                        aof.unsynced = False
                        aof.last_fsync = now
        if self.child is not None:
            return
        if self.aof_rewrite_scheduled or self.aof_waiting_rewrite:
            self.aof_rewrite_scheduled = False
            self.start_rewrite()
            return
        if self.bgsave_scheduled:
            self.bgsave_scheduled = False
            self.bgsave()
            return
        save_points = self.config["save"]
        if save_points:
            dirty = self.host.dirty
            now = time.time()
            elapsed = now - self.host.lastsave
            for seconds, changes in save_points:
                if dirty >= changes and elapsed > seconds and (
                        self.rdb_last_bgsave_ok or now - self.rdb_last_try > BGSAVE_RETRY_S):
                    log.info("%d changes in %d seconds. Saving...", changes, seconds)
                    self.bgsave()
                    return
        if aof is not None and not self.aof_waiting_rewrite:
            percent = self.config["auto-aof-rewrite-percentage"]
            if percent and aof.size > self.config["auto-aof-rewrite-min-size"]:
                base = max(aof.base_size, 1)
                growth = (aof.size - base) * 100 // base
                if growth >= percent:
                    log.info("Starting automatic rewriting of AOF on %d%% growth", growth)
                    self.start_rewrite()

    # -- AOF: feeding ----------------------------------------------------------

    def on_encoded(self, db: int, unit: list[list[bytes]], data: bytes) -> None:
        """The write stream's sink: one unit, with the RESP bytes the stream
        encoded once for every sink, into the buffer (a SELECT first when
        the database changes). flush() writes it out."""
        aof = self.aof
        if aof is None:
            return
        buf = aof.buf
        if db != aof.last_db:
            # (inside a transaction's MULTI, as Redis writes it: MULTI is
            # not bound to a database, the commands after it are)
            if unit[0] == MULTI_ARGV:
                buf.append(MULTI)
                data = data[len(MULTI):]
            buf.append(SELECT_CACHE[db] if db < 16 else encode_command([b"SELECT", b"%d" % db]))
            aof.last_db = db
        buf.append(data)

    def flush(self) -> None:
        """Write the buffer to the incr file (end of each batch: before the
        replies leave); fsync with appendfsync always."""
        aof = self.aof
        if aof is None or not aof.buf:
            return
        data = b"".join(aof.buf)
        aof.buf.clear()
        view = memoryview(data)
        try:
            while view:
                written = os.write(aof.fd, view)
                view = view[written:]
            if self.config["appendfsync"] == "always":
                self._sync_before_replies(aof)
            elif not aof.unsynced:
                aof.unsynced = True
                aof.unsynced_since = time.monotonic()
            aof.write_ok = True
        except OSError as exc:
            aof.write_ok = False
            aof.buf.insert(0, bytes(view))  # try again on the next flush
            log.warning("Error writing to the AOF file: %s", exc)
            if self.config["appendfsync"] == "always":
                log.warning("Can't recover from AOF write error when the AOF fsync policy is "
                            "'always'. Exiting...")
                os._exit(1)
        aof.size += len(data) - len(view)

    def _sync_before_replies(self, aof: AppendOnlyFile) -> None:
        """appendfsync always, as a group commit: the replies of every client
        served in this loop turn are held (Connection.write keeps them as
        unsent output) and released after one fdatasync at the start of the
        next turn, before any new request is read -- Redis's fsync in
        beforeSleep. Without a running loop (tests, start-up) at once."""
        if self._group_fsync_pending:
            return
        if not self.host.defer(self._group_fsync):
            os.fdatasync(aof.fd)
            return
        self._group_fsync_pending = True
        self.host.hold_replies()

    def _group_fsync(self) -> None:
        aof = self.aof
        try:
            if aof is not None and aof.fd >= 0:
                os.fdatasync(aof.fd)
        except OSError as exc:
            log.warning("Can't fsync the AOF (%s) with appendfsync always. Exiting...", exc)
            os._exit(1)
        finally:
            self._group_fsync_pending = False
        self.host.release_replies()

    # -- AOF: turning it on and off ----------------------------------------------

    def _on_appendonly(self, enabled: bool) -> None:
        if enabled and self.aof is None and not self.aof_waiting_rewrite:
            # Redis's startAppendOnly: the AOF starts with a rewrite; writes go
            # to the new incr file from the moment the child forks.
            self.aof_waiting_rewrite = True
            if self.child is None:
                self.start_rewrite()
        elif not enabled:
            self.stop_aof()

    def stop_aof(self) -> None:
        self.aof_waiting_rewrite = False
        if self.child is not None and self.child.kind == "aof":
            self.kill_child()
        aof = self.aof
        if aof is None:
            return
        self.flush()
        self._close_fd(aof, sync=True)
        self.aof = None
        self._set_propagating()

    def _close_fd(self, aof: AppendOnlyFile, sync: bool) -> None:
        if aof.fd < 0:
            return
        if self.fsync_thread is not None:
            self.fsync_thread.wait_idle()
        if sync:
            try:
                os.fdatasync(aof.fd)
            except OSError:
                pass
        os.close(aof.fd)
        aof.fd = -1

    def _set_propagating(self) -> None:
        """The AOF is a sink of the write stream while it is open."""
        stream = self.host.write_stream
        if self.aof is not None:
            if self.fsync_thread is None:
                self.fsync_thread = FsyncThread()
            stream.add_sink(self)
        else:
            stream.remove_sink(self)

    # -- AOF: rewriting ----------------------------------------------------------

    def start_rewrite(self) -> bool:
        """BGREWRITEAOF: open a new incr file (so every later write goes
        there), fork a child that writes the new base from the fork's image;
        the manifest changes when the child succeeds. Three cases: the AOF is
        on (the manifest lists the new incr file at once, so a crash during
        the rewrite replays old base + old incr files + the new one); it is
        being turned on (CONFIG SET appendonly yes: writes go to the new incr
        file from the fork on, the manifest is written when the base exists);
        it is off (BGREWRITEAOF alone: a base and a manifest, no incr file)."""
        if self.child is not None:
            self.aof_rewrite_scheduled = True
            return True
        if self.aof_waiting_rewrite and time.time() - self._enable_failed_at < BGSAVE_RETRY_S:
            return False
        directory = self.aof_directory()
        os.makedirs(directory, exist_ok=True)
        aof = self.aof
        enabling = aof is None and self.aof_waiting_rewrite
        if aof is None:
            aof = AppendOnlyFile(directory, self.config["appendfilename"])
            aof.files = self._read_manifest_quietly(aof)  # deleted once the new base exists
        new_incr: AOFFile | None = None
        if self.aof is not None:
            self.flush()
            previous_fd = aof.fd
            new_incr = aof.open_incr(aof.next_seq("i"))
            aof.files.append(new_incr)
            aof.write_manifest()
            if previous_fd >= 0:
                if self.fsync_thread is not None:
                    self.fsync_thread.wait_idle()
                os.fdatasync(previous_fd)
                os.close(previous_fd)
        elif enabling:
            new_incr = aof.open_incr(aof.next_seq("i"))
        base_seq = aof.next_seq("b")
        base_name = f"{aof.basename}.{base_seq}.base.rdb"
        temp = os.path.join(directory, "temp-rewriteaof-bg-%d.aof")

        def work() -> None:
            path = temp % os.getpid()
            with open(path, "wb") as f:
                for chunk in self.chunks():
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())

        child = self._fork("aof", work, temp)
        if child is None:
            self.aof_last_bgrewrite_ok = False
            self.aof_rewrites_consecutive_failures += 1
            if enabling:
                self._enabling_failed(aof, new_incr)
            return False
        child.extra.update(base_name=base_name, new_incr=new_incr, enabling=enabling, aof=aof)
        if enabling:
            self.aof = aof
            self.aof_waiting_rewrite = False
            self._set_propagating()
        log.info("Background append only file rewriting started by pid %d", child.pid)
        return True

    def _enabling_failed(self, aof: AppendOnlyFile, new_incr: AOFFile | None) -> None:
        """The first rewrite of CONFIG SET appendonly yes failed: back to
        waiting (retried by the cron), the half-made incr file removed."""
        if aof.fd >= 0:
            self._close_fd(aof, sync=False)
        if new_incr is not None:
            try:
                os.unlink(aof.path(new_incr.name))
            except OSError:
                pass
        if self.aof is aof:
            self.aof = None
            self._set_propagating()
        self.aof_waiting_rewrite = True
        self._enable_failed_at = time.time()

    def _read_manifest_quietly(self, aof: AppendOnlyFile) -> list[AOFFile]:
        try:
            with open(aof.manifest_path, encoding="utf-8") as f:
                return parse_manifest(f.read())
        except (OSError, ValueError):
            return []

    def _aof_rewrite_done(self, child: Child, ok: bool) -> None:
        self.aof_last_rewrite_time_sec = int(time.time() - child.started)
        self.aof_last_cow_size = child.cow_peak
        aof: AppendOnlyFile = child.extra.get("aof")  # type: ignore[assignment]
        if not ok or aof is None:
            self.aof_last_bgrewrite_ok = False
            self.aof_rewrites_consecutive_failures += 1
            log.warning("Background AOF rewrite terminated with error")
            if child.extra.get("enabling") and aof is not None and self.config["appendonly"]:
                self._enabling_failed(aof, child.extra.get("new_incr"))
            return
        directory = aof.directory
        base_name = child.extra["base_name"]
        try:
            os.replace(child.temp_path, os.path.join(directory, base_name))
            new_incr: AOFFile | None = child.extra["new_incr"]
            old = [f for f in aof.files if f is not new_incr]
            base_seq = int(base_name.split(".")[-3])
            aof.files = [AOFFile(base_name, base_seq, "b")] + ([new_incr] if new_incr else [])
            aof.write_manifest()
        except OSError as exc:
            self.aof_last_bgrewrite_ok = False
            self.aof_rewrites_consecutive_failures += 1
            log.warning("Error trying to rename the temporary AOF base file: %s", exc)
            return
        for entry in old:
            if entry.name != base_name:
                try:
                    os.unlink(os.path.join(directory, entry.name))
                except OSError:
                    pass
        base_size = os.path.getsize(os.path.join(directory, base_name))
        incr_size = os.path.getsize(aof.path(new_incr.name)) if new_incr else 0
        aof.size = base_size + incr_size
        aof.base_size = aof.size
        self.aof_rewrites += 1
        self.aof_last_bgrewrite_ok = True
        self.aof_rewrites_consecutive_failures = 0
        log.info("Background AOF rewrite terminated with success")
        log.info("Background AOF rewrite finished successfully")

    # -- loading at start-up -------------------------------------------------------

    def load_at_startup(self) -> None:
        """Redis's loadDataFromDisk: the AOF when appendonly is on, else the
        snapshot. Raises LoadError when what is on disk cannot be read."""
        start = time.monotonic()
        if self.config["appendonly"]:
            directory = self.aof_directory()
            aof = AppendOnlyFile(directory, self.config["appendfilename"])
            if os.path.exists(aof.manifest_path):
                self._load_aof(aof)
                log.info("DB loaded from append only file: %.3f seconds", time.monotonic() - start)
            else:
                os.makedirs(directory, exist_ok=True)
                if os.path.exists(self.snapshot_path()):
                    log.warning("appendonly is on and there is no AOF yet: %s is not loaded (the AOF "
                                "is the truth when on; CONFIG SET appendonly yes on a running node "
                                "keeps its data)", self.snapshot_path())
            self._open_aof_at_startup(aof)
            return
        path = self.snapshot_path()
        if not os.path.exists(path):
            return
        self.load_snapshot_file(path)
        log.info("Done loading RDB, keys loaded: %d, keys expired: %d.",
                 self.rdb_last_load_keys_loaded, self.rdb_last_load_keys_expired)
        log.info("DB loaded from disk: %.3f seconds", time.monotonic() - start)

    def load_snapshot_file(self, path: str) -> None:
        server = self.host
        databases = server.config["databases"]
        now = server.clock.ms()
        installed: dict[int, Any] = {}

        def sink(index: int, key: bytes, value: Any, expire: float | None) -> None:
            db = installed.get(index)
            if db is None:
                if index >= databases:
                    raise SnapshotError(f"database {index} is out of range (databases {databases})",
                                        reader.offset, path)
                db = installed[index] = server.db(index)
            db.install(key, value, expire)

        self.loading = True
        try:
            with open(path, "rb") as f:
                reader = SnapshotReader(f, path)
                reader.load(sink, now)
        except SnapshotError as exc:
            raise LoadError(f"Fatal error loading the DB: {exc.describe()}. Exiting.") from None
        except OSError as exc:
            raise LoadError(f"Fatal error loading the DB: can't read {path}: {exc.strerror}. Exiting.") from None
        finally:
            self.loading = False
        self.rdb_last_load_keys_loaded = reader.keys_loaded
        self.rdb_last_load_keys_expired = reader.keys_expired
        server.dirty_at_save = self._total_dirty()
        if reader.functions:
            try:
                server.load_function_libraries(reader.functions)
            except ValueError as exc:
                raise LoadError(f"Fatal error loading the DB: {exc} ({path}). Exiting.") from None

    def _load_aof(self, aof: AppendOnlyFile) -> None:
        try:
            with open(aof.manifest_path, encoding="utf-8") as f:
                aof.files = parse_manifest(f.read())
        except ValueError as exc:
            raise LoadError(f"{exc}: {aof.manifest_path}") from None
        live = [f for f in aof.files if f.kind in ("b", "i")]
        total = 0
        for i, entry in enumerate(live):
            path = aof.path(entry.name)
            if not os.path.exists(path):
                raise LoadError(f"The AOF file {path} doesn't exist (listed in {aof.manifest_path}). Exiting.")
            if entry.kind == "b":
                self.load_snapshot_file(path)
                size = os.path.getsize(path)
            else:
                size = self._replay(path, last=i == len(live) - 1)
            total += size
        aof.size = total
        aof.base_size = total

    def _replay(self, path: str, last: bool) -> int:
        """Run every command of an incr file through the host's replayer
        (the dispatcher, as Redis replays with a fake client). Returns the
        size of the valid data."""
        with open(path, "rb") as f:
            data = f.read()
        replayer = self.host.replayer()
        self.loading = True
        valid = len(data)
        in_multi_at = -1
        queued: list | None = None  # inside MULTI: the commands EXEC will run
        try:
            for offset, argv in iter_commands(data):
                if not replayer.knows(argv[0]):
                    raise LoadError(f"Unknown command '{argv[0].decode('utf-8', 'replace')}' reading "
                                    f"the append only file {path} at offset {offset}")
                name = argv[0].lower()
                if name == b"multi":
                    in_multi_at = offset
                    queued = []
                elif name == b"exec":
                    in_multi_at = -1
                    for queued_argv in queued or ():
                        replayer.run(queued_argv)
                    queued = None
                elif queued is not None:
                    queued.append(argv)
                else:
                    replayer.run(argv)
        except AOFFormatError as exc:
            if exc.truncated and last and self.config["aof-load-truncated"]:
                valid = exc.command_offset
                log.warning("!!! Warning: short read while loading the AOF file %s!!!", path)
                log.warning("!!! Truncating the AOF %s at offset %d (dropping %d bytes of an "
                            "incomplete command) !!!", path, valid, len(data) - valid)
                self._truncate(path, valid)
                log.warning("AOF %s loaded anyway because aof-load-truncated is enabled", path)
            elif exc.truncated:
                raise LoadError(
                    f"Unexpected end of file reading the append only file {path} at offset "
                    f"{exc.command_offset}. You can: 1) Make a backup of your AOF file, then use "
                    f"`ringcache check-aof --fix {path}`. 2) Alternatively you can set the "
                    "'aof-load-truncated' configuration option to yes and restart the server.") from None
            else:
                raise LoadError(
                    f"Bad file format reading the append only file {path} at offset {exc.offset} "
                    f"({exc.reason}): make a backup of your AOF file, then use "
                    f"`ringcache check-aof --fix {path}`") from None
        finally:
            self.loading = False
        if in_multi_at >= 0:
            # Redis reverts an incomplete MULTI: its commands were only queued.
            log.warning("Revert incomplete MULTI/EXEC transaction in AOF file %s", path)
            if last:
                self._truncate(path, in_multi_at)
                valid = in_multi_at
        return valid

    @staticmethod
    def _truncate(path: str, size: int) -> None:
        with open(path, "r+b") as f:
            f.truncate(size)
            f.flush()
            os.fsync(f.fileno())

    def _open_aof_at_startup(self, aof: AppendOnlyFile) -> None:
        """After loading: append to the last incr file (or create the first
        base and incr when there is no AOF yet)."""
        incrs = [f for f in aof.files if f.kind == "i"]
        if not aof.files:
            base = AOFFile(f"{aof.basename}.1.base.rdb", 1, "b")
            write_atomically(aof.path(base.name), self.chunks())
            aof.files = [base]
        if incrs:
            entry = incrs[-1]
            aof.fd = os.open(aof.path(entry.name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        else:
            aof.files.append(aof.open_incr(aof.next_seq("i")))
            aof.write_manifest()
        if not aof.size:
            aof.size = sum(os.path.getsize(aof.path(f.name)) for f in aof.files
                           if os.path.exists(aof.path(f.name)))
            aof.base_size = aof.size
        self.aof = aof
        self._set_propagating()

    # -- shutdown ------------------------------------------------------------------

    def prepare_shutdown(self, save: bool | None = None) -> bool:
        """SHUTDOWN / SIGTERM: stop the child, flush and fsync the AOF, save a
        snapshot when save points exist (or SAVE was asked; not with NOSAVE).
        False if the save failed: the node must not exit (Redis's rule)."""
        if self.child is not None:
            log.warning("There is a child saving an .rdb. Killing it!" if self.child.kind == "rdb"
                        else "There is a child rewriting the AOF. Killing it!")
            self.kill_child()
        if self.aof is not None:
            # (left open: what the clients' last pipelined commands write while
            # the node drains them still reaches the kernel)
            self.flush()
            log.info("Calling fsync() on the AOF file.")
            if self.fsync_thread is not None:
                self.fsync_thread.wait_idle()
            try:
                os.fdatasync(self.aof.fd)
            except OSError as exc:
                log.warning("Error fsyncing the AOF at shutdown: %s", exc)
        if save is None:
            save = bool(self.config["save"])
        if save:
            log.info("Saving the final RDB snapshot before exiting.")
            if not self.save():
                log.warning("Error trying to save the DB, can't exit.")
                return False
        if self.fsync_thread is not None:
            self.fsync_thread.stop()
        return True

    # -- INFO ------------------------------------------------------------------------

    def info_fields(self) -> list[tuple[str, Any]]:
        server = self.host
        child = self.child
        rdb_child = child is not None and child.kind in ("rdb", "rdb-pipe")
        aof_child = child is not None and child.kind == "aof"
        now = time.time()
        aof = self.aof
        rss = server.rss_bytes() or 1
        fields: list[tuple[str, Any]] = [
            ("loading", int(self.loading)),
            ("async_loading", 0),
            ("current_cow_peak", child.cow_peak if child else 0),
            ("current_cow_size", child.cow_size if child else 0),
            ("current_cow_size_age", 0),
            ("current_fork_perc", "%.2f" % (100.0 * child.cow_size / rss if child else 0.0)),
            ("current_save_keys_processed", 0),
            ("current_save_keys_total", 0),
            ("rdb_changes_since_last_save", server.dirty),
            ("rdb_bgsave_in_progress", int(rdb_child)),
            ("rdb_last_save_time", int(server.lastsave)),
            ("rdb_last_bgsave_status", "ok" if self.rdb_last_bgsave_ok else "err"),
            ("rdb_last_bgsave_time_sec", self.rdb_last_bgsave_time_sec),
            ("rdb_current_bgsave_time_sec", int(now - child.started) if rdb_child and child else -1),
            ("rdb_saves", self.rdb_saves),
            ("rdb_last_cow_size", self.rdb_last_cow_size),
            ("rdb_last_load_keys_expired", self.rdb_last_load_keys_expired),
            ("rdb_last_load_keys_loaded", self.rdb_last_load_keys_loaded),
            ("aof_enabled", int(aof is not None or self.aof_waiting_rewrite)),
            ("aof_rewrite_in_progress", int(aof_child)),
            ("aof_rewrite_scheduled", int(self.aof_rewrite_scheduled or
                                          (self.aof_waiting_rewrite and not aof_child))),
            ("aof_last_rewrite_time_sec", self.aof_last_rewrite_time_sec),
            ("aof_current_rewrite_time_sec", int(now - child.started) if aof_child and child else -1),
            ("aof_last_bgrewrite_status", "ok" if self.aof_last_bgrewrite_ok else "err"),
            ("aof_rewrites", self.aof_rewrites),
            ("aof_rewrites_consecutive_failures", self.aof_rewrites_consecutive_failures),
            ("aof_last_write_status", "ok" if aof is None or aof.write_ok else "err"),
            ("aof_last_cow_size", self.aof_last_cow_size),
            ("module_fork_in_progress", 0),
            ("module_fork_last_cow_size", 0),
        ]
        if aof is not None:
            fields += [
                ("aof_current_size", aof.size),
                ("aof_base_size", aof.base_size),
                ("aof_pending_rewrite", int(self.aof_rewrite_scheduled)),
                ("aof_buffer_length", sum(map(len, aof.buf))),
                ("aof_pending_bio_fsync", int(self.fsync_thread is not None and self.fsync_thread.busy)),
                ("aof_delayed_fsync", 0),
                # ringcache's own: how long writes waited for the everysec
                # fsync (the last one, the longest since start-up), in ms.
                ("aof_fsync_lag_last_ms", int(self.fsync_thread.last_lag_ms) if self.fsync_thread else 0),
                ("aof_fsync_lag_max_ms", int(self.fsync_thread.max_lag_ms) if self.fsync_thread else 0),
            ]
        return fields


def private_dirty_bytes(pid: int) -> int:
    """The child's pages no longer shared with the parent (copy-on-write)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Private_Dirty:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
