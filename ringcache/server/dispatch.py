"""The one place every command passes through.

`execute_batch(session, commands)` runs the commands of one read and returns
their encoded replies; `execute(session, argv)` runs one, following Redis's
processCommand order:

  1. look the command up in the table (unknown -> error)
  2. check arity, for subcommands too (wrong -> error)
  2b. ACL (commands/acl.py): a restricted user's command, keys and
     channels (Redis: after NOAUTH, before the cluster redirection); only
     restricted users' commands reach it (see acl.User.needs_gate)
  3. in cluster mode, the slot check (cluster/routing.py: MOVED, CROSSSLOT,
     CLUSTERDOWN; each command queued in MULTI, then EXEC as one unit).
     Batches take _execute_cluster_batch then, which hands the commands
     this node serves outright to the same inlined loop; off cluster mode
     the loop has no cluster test at all.
  3b. gates, only for sessions that need them (`session.gated`):
     authentication, RESP2 subscribed mode, MULTI queueing, CLIENT REPLY
  4. call(): run the handler, time it, count it (INFO commandstats), log it
     if slow (SLOWLOG), feed MONITOR. Changes are counted and WATCHes failed
     by the keyspace itself (Keyspace.modified), key by key. A write that
     changed something leaves here once, on the write stream
     (server/write_stream.py: the append-only file, replicas), as the argv
     that replays it; an EXEC's writes as one MULTI ... EXEC unit.
  5. blocking commands (server/blocking.py): a handler's BlockOn parks the
     client and ends its batch; after each top-level command (so after EXEC,
     not inside it) the clients waiting on keys it changed are served.

The hot path, a plain client running a plain command, is inlined in
execute_batch: a table lookup, an arity test, one flag test, the call, one
clock read and the reply's encoding. Everything else goes through execute().
When the compiled extension is in use (ringcache/accel.py), execute_batch is
its compiled twin in ringcache/_speedups.pyx (what differs, invisibly to
clients: docs/node.md); this one stays the reference.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from time import perf_counter
from typing import TYPE_CHECKING, Any, Callable

from ..accel import speedups
from ..commands._blocking import BlockOn
from ..acl import CHANNEL_COMMANDS
from ..commands.acl import NOPERM_EXEC, denial as acl_denial, noperm
from ..commands.registry import COMMANDS, CommandSpec, fast_table, lookup
from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import BULK_HEADERS, INT_REPLIES, NULL_ARRAY, QUEUED, Raw, RawPush
from ..storage.eviction import EVICT_FAIL
from .latency import LatencyMonitor
from .session import REPLY_SKIP, Session
from .write_stream import EXEC as EXEC_ARGV, MULTI as MULTI_ARGV

if TYPE_CHECKING:
    from .server import Server

log = logging.getLogger("ringcache")

NO_REPLY = Raw(b"")

# Commands that run (are not queued) inside MULTI.
_MULTI_IMMEDIATE = frozenset({"exec", "discard", "multi", "watch", "quit", "reset"})
# Commands allowed in RESP2 subscribed mode.
_SUBSCRIBED_ALLOWED = frozenset(
    {"subscribe", "ssubscribe", "unsubscribe", "sunsubscribe", "psubscribe",
     "punsubscribe", "ping", "quit", "reset"}
)
SLOWLOG_MAX_ARGS = 32
SLOWLOG_MAX_ARG_LEN = 128


class SlowlogEntry:
    __slots__ = ("id", "timestamp", "duration_us", "args", "addr", "name")

    def __init__(self, id: int, timestamp: int, duration_us: int, args: list[bytes],
                 addr: str, name: bytes) -> None:
        self.id = id
        self.timestamp = timestamp
        self.duration_us = duration_us
        self.args = args
        self.addr = addr
        self.name = name


class Dispatcher:
    # What the compiled loop reads per batch, at the slot's offset
    # (ringcache/_speedups.pyx, bind_dispatcher); the rest lives in __dict__.
    __slots__ = ("table", "compiled_entries", "tracking_active", "propagating", "maxmemory",
                 "slowlog_threshold", "cluster", "__dict__", "__weakref__")

    def __init__(self, server: "Server") -> None:
        self.server = server
        self.slowlog: deque[SlowlogEntry] = deque(maxlen=server.config["slowlog-max-len"])
        self.slowlog_next_id = 0
        # Calls slower than slowlog_threshold take the slow path (_slowlog_add):
        # the lower of SLOWLOG's threshold and the latency monitor's.
        self._slowlog_only = _slowlog_threshold(server.config["slowlog-log-slower-than"])
        self.latency = LatencyMonitor(server.config["latency-monitor-threshold"])
        self.slowlog_threshold = self._slow_call_threshold()
        server.config.on_change("slowlog-log-slower-than", self._set_slowlog_threshold)
        server.config.on_change("latency-monitor-threshold", self._set_latency_threshold)
        server.config.on_change("slowlog-max-len", self._set_slowlog_len)
        self.total_errors = 0
        self.monitors = server.monitors  # the same set, read on every call
        self.table = fast_table()
        # The compiled loop's copy of the table (ringcache/_speedups.pyx:
        # _Entry), made again when `table` is replaced; unused on the pure path.
        self.compiled_entries: Any = None
        # True while any client has CLIENT TRACKING on
        # (set by pubsub.tracking): the one test the command path pays for it.
        self.tracking_active = False
        # The write stream (server/write_stream.py) and whether it has a
        # sink (kept equal to stream.active by the server): the one test
        # the command path pays for propagation.
        self.stream = server.write_stream
        self.propagating = False
        self.stream_offset = 0  # the replication offset propagate() saw last
        # True while maxmemory is set (server._configure_eviction): then a
        # command that arrives while the node is over the limit takes the
        # checked path, which evicts first and refuses denyoom commands
        # with -OOM when nothing can be freed (see _memory_pressed).
        self.maxmemory = False
        # Cluster mode (cluster/routing.py): the Router of the newest map, or
        # None when cluster mode is off. Set with set_cluster_router().
        self.cluster: Any = None
        # A check some commands must pass first (replication: READONLY on a
        # replica, NOREPLICAS, LOADING): gate(session, spec) -> error text or
        # None. While set, the commands it covers are left out of the fast
        # table, so they take the checked path; the others pay nothing.
        self.gate: "Callable[[Session, CommandSpec], str | None] | None" = None
        self._gate_all = False
        # True while a script runs past busy-reply-threshold
        # (enter_busy): commands without allow_busy answer -BUSY. The fast
        # path's table is emptied meanwhile, so every command takes the
        # checked path and the hot path pays nothing for this.
        self.busy = False
        # Set (for the node's life) once a user restricted on channels only
        # authenticated: PUBLISH, SUBSCRIBE ... leave the fast table then, so
        # that such users' other commands need no gate (see acl.User).
        default = server.acl.default
        self.channel_checks = False
        if not default.unrestricted and not default.needs_gate:
            self.check_channels()

    def check_channels(self) -> None:
        if not self.channel_checks:
            self.channel_checks = True
            self._refresh_table()

    @staticmethod
    def settle_counts() -> None:
        """Bring every spec's calls and time_s up to date before they are
        read or reset. The compiled loop keeps its counts in its own table
        until then (ringcache/_speedups.pyx, _Entry); the pure loop writes
        them at once, so here there is nothing to do."""

    if speedups is not None:
        settle_counts = staticmethod(speedups.settle_counts)  # type: ignore[assignment]  # noqa: F811

    @property
    def total_commands(self) -> int:
        """Commands processed (INFO): the sum of the per-command counters, so
        the hot path counts once and CONFIG RESETSTAT resets both."""
        self.settle_counts()
        total = 0
        for spec in COMMANDS.values():
            total += spec.calls
            for sub in spec.subcommands.values():
                total += sub.calls
        return total

    # -- configuration -----------------------------------------------------

    def _set_slowlog_threshold(self, value: int) -> None:
        self._slowlog_only = _slowlog_threshold(value)
        self.slowlog_threshold = self._slow_call_threshold()

    def _set_latency_threshold(self, value: int) -> None:
        self.latency.threshold_ms = value
        self.slowlog_threshold = self._slow_call_threshold()

    def _slow_call_threshold(self) -> float:
        latency_ms = self.latency.threshold_ms
        return min(self._slowlog_only, latency_ms / 1e3 if latency_ms else float("inf"))

    def _set_slowlog_len(self, value: int) -> None:
        self.slowlog = deque(self.slowlog, maxlen=value)

    def set_gate(self, gate: "Callable[[Session, CommandSpec], str | None] | None",
                 all_commands: bool = False) -> None:
        """Install (or remove, with None) the gate: for every command, or
        for the write commands only (and EXEC, which may run writes)."""
        self.gate = gate
        self._gate_all = all_commands
        self._refresh_table()

    def _refresh_table(self) -> None:
        """The fast path's table, from what must take the checked path: all
        commands while a script is busy or a gate covers everything, the
        gated (write) commands while a gate is set, none otherwise."""
        if self.busy or (self.gate is not None and self._gate_all):
            self.table = {}
        elif self.gate is not None:
            self.table = {name: spec for name, spec in fast_table().items()
                          if not spec.is_write and spec.name != "exec"}
        else:
            self.table = fast_table()
        if self.channel_checks and self.table:
            self.table = {name: spec for name, spec in self.table.items()
                          if spec.name not in CHANNEL_COMMANDS}

    # -- the pipeline ------------------------------------------------------

    def execute_batch(self, session: "Session", commands: list,
                      reply_budget: int = 1 << 62) -> tuple[bytes, int]:
        """Run the commands of one read in order; returns their encoded
        replies and how many commands ran. It stops early once the replies
        pass reply_budget bytes, so that one read of small requests (2000
        GETs of a 100 KB value fit in 64 KB) cannot make the node build
        replies without bound for a client that may never read them.

        This is execute() for a batch, with the plain case (a known command,
        right arity, no subcommand, an ungated session) and the common reply
        types inlined: in CPython each function call on this path costs about
        as much as a dict lookup and a hash together, so the batch loop makes
        none it can avoid. Anything unusual goes through execute().

        Command time (INFO commandstats, SLOWLOG) is measured from the end of
        the previous command to the end of this one, so it includes this
        loop's bookkeeping (a few hundred ns): one clock read per command
        instead of two."""
        out: list = []
        append = out.append
        table = self.table
        monitors = self.monitors
        # Only the slow path (CLIENT TRACKING has
        # subcommands) can turn tracking on: read again after it.
        tracking = self.tracking_active
        propagating = self.propagating  # (likewise: CONFIG SET appendonly, a new replica)
        maxmemory = self.maxmemory  # (and CONFIG SET maxmemory)
        threshold = self.slowlog_threshold
        clock = perf_counter
        previous = clock()
        size_out = 0
        done = 0
        # Keys blocked clients wait on that changed (server/blocking.py): the
        # same deque for the node's life, one truthiness test per command.
        ready = self.server.blocking.ready
        for argv in commands:
            done += 1
            spec = table.get(argv[0])
            if (spec is None or spec.subcommands or session.gated
                    or ((len(argv) != spec.arity) if spec.arity > 0 else (len(argv) < -spec.arity))
                    or (maxmemory and self._memory_pressed())):
                reply = self._execute(session, argv)
                previous = clock()
                tracking = self.tracking_active
                propagating = self.propagating
                maxmemory = self.maxmemory
            else:
                db = session.db
                dirty_before = db.dirty
                try:
                    reply = spec.handler(session, argv)
                except Exception as exc:
                    reply = self._failed(spec, exc)
                now = clock()
                elapsed = now - previous
                previous = now
                spec.calls += 1
                spec.time_s += elapsed
                if elapsed > threshold:
                    self._slowlog_add(session, spec, argv, elapsed)
                if tracking:  # client tracking: invalidate writes, remember reads
                    self.server.tracking.after_command(session, spec, argv, db.dirty != dirty_before)
                if propagating:  # the write stream: the writes that changed something
                    self.propagate(session, spec, argv, db, dirty_before)
                if monitors:
                    self.server.feed_monitors(session, argv, spec)
                session.last_command = argv[0]
            klass = reply.__class__
            if klass is bytes:
                size = len(reply)
                if size < 1024:  # three appends beat one % format
                    append(BULK_HEADERS[size])
                    append(reply)
                    append(b"\r\n")
                else:
                    append(b"$%d\r\n%b\r\n" % (size, reply))
                    size_out += size
            elif klass is int:  # (not bool: its class is bool)
                append(INT_REPLIES[reply] if 0 <= reply < 1024 else b":%d\r\n" % reply)
            elif klass is Raw:
                append(reply)
            elif reply is None:
                append(session.null)
            elif klass is BlockOn:  # parked: its later commands wait (the connection keeps them)
                self.server.blocking.block(session, argv, reply)
                break
            else:
                first = len(out)
                session.encode(out, reply)  # (not cached: HELLO may switch it)
                for i in range(first, len(out)):
                    size_out += len(out[i])
            if ready:  # serve clients blocked on keys this command changed
                self.server.blocking.serve()
            if session.closing or size_out > reply_budget:
                break
        if self.propagating:  # the writes reach the sinks (AOF) before their replies leave
            self.stream.flush()
        return b"".join(out), done

    if speedups is not None:
        # The same loop, compiled (ringcache/_speedups.pyx; accel.py decides).
        execute_batch = speedups.execute_batch  # type: ignore[assignment]  # noqa: F811
    # -- cluster mode ------------------------------------------------------

    def set_cluster_router(self, router: Any) -> None:
        """Cluster mode on (cluster/node.py, with each new map): batches go
        through _execute_cluster_batch, which sends the commands this node
        serves outright to execute_batch and the others through the checked
        path. Off cluster mode nothing changes on the hot path, not even a
        test: the instance attribute that shadows execute_batch is never set,
        and execute_batch's loop is the one the node had before cluster mode
        (callgrind cannot settle a difference of one test: its counts moved
        by a few hundred instructions per GET between identical copies of
        this loop, with the allocation layout)."""
        self.cluster = router
        self.execute_batch = self._execute_cluster_batch  # type: ignore[method-assign]

    def _execute_cluster_batch(self, session: "Session", commands: list,
                               reply_budget: int = 1 << 62) -> tuple[bytes, int]:
        """execute_batch in cluster mode: runs of commands the Router serves
        without more ado (keys in slots this node's shard owns, or no keys)
        go to the plain batch; each other command goes through execute(),
        whose _cluster_refusal answers MOVED, CROSSSLOT, CLUSTERDOWN or
        serves it (READONLY, ASKING, a migration's link)."""
        router = self.cluster
        serves = router.serves_fast
        table = self.table
        plain = Dispatcher.execute_batch
        n = len(commands)
        if session.importing is None:
            for argv in commands:
                spec = table.get(argv[0])
                if spec is not None and not spec.subcommands and not serves(spec, argv):
                    break
            else:
                return plain(self, session, commands, reply_budget)
        out: list[bytes] = []
        size = 0
        start = 0
        while start < n:
            end = start
            while end < n:
                argv = commands[end]
                spec = table.get(argv[0])
                if (session.importing is not None or spec is None or spec.subcommands
                        or not serves(spec, argv)):
                    break
                end += 1
            if end > start:
                count = end - start
                replies, done = plain(self, session, commands[start:end], reply_budget - size)
                out.append(replies)
                size += len(replies)
                start += done
                if done < count or session.blocked is not None or session.closing:
                    break
                continue
            argv = commands[start]
            start += 1
            reply = self.execute(session, argv)
            if reply.__class__ is BlockOn:
                self.server.blocking.block(session, argv, reply)
                break
            encoded: list = []
            session.encode(encoded, reply)
            chunk = b"".join(encoded)
            out.append(chunk)
            size += len(chunk)
            if self.server.blocking.ready:
                self.server.blocking.serve()
            if session.closing or size > reply_budget:
                break
        return b"".join(out), start

    def execute(self, session: "Session", argv: list) -> Any:
        """Run one command (any caller outside execute_batch); its writes
        reach the stream's sinks before this returns."""
        reply = self._execute(session, argv)
        if self.propagating:
            self.stream.flush()
        return reply

    def _memory_pressed(self) -> bool:
        """Whether maxmemory is set and the node is over it: only then does
        a command leave the fast path for the checked one (processCommand's
        performEvictions). Sending every command through the checked path
        while maxmemory was set cost ~1.7 us a command."""
        if not self.maxmemory:
            return False
        evictor = self.server.evictor
        return evictor.used_memory() > evictor.maxmemory

    def _execute(self, session: "Session", argv: list) -> Any:
        spec = self.table.get(argv[0])
        if spec is None:
            spec = lookup(argv[0])
            if spec is None:
                return self._reject(session, errors.unknown_command(argv[0], argv[1:]))
        arity = spec.arity
        argc = len(argv)
        if (argc != arity) if arity > 0 else (argc < -arity):
            return self._reject(session, errors.wrong_arity(spec.name), spec)
        # `and argc > 1`: COMMAND (arity -1) runs
        # its container handler when called without a subcommand.
        if spec.subcommands and argc > 1:
            sub = spec.subcommands.get(argv[1].lower())
            if sub is None:
                return self._reject(session, errors.unknown_subcommand(argv[1], spec.name), spec)
            if not sub.check_arity(argc):
                return self._reject(session, errors.wrong_arity(sub.fullname), sub)
            spec = sub
        # ACL: a restricted user's sessions get here for this (they are
        # gated, or restricted on channels only and the commands that name
        # channels are out of the fast table: check_channels); the
        # all-permissions user pays one attribute test here and nothing on
        # the fast path. NOAUTH comes first (_gated).
        if not session.user.unrestricted and session.authenticated:
            denied = acl_denial(session, spec, argv,
                                "multi" if session.multi is not None else "toplevel")
            if denied:
                return self._reject(session, noperm(denied, spec), spec)
        if self.cluster is not None and session.authenticated:
            refusal = self._cluster_refusal(session, spec, argv)
            if refusal is not None:
                return self._reject(session, refusal, spec)
        if self.busy and "allow_busy" not in spec.flags:
            return self._reject(session, errors.BUSY_SCRIPT, spec)
        if self.gate is not None and session.authenticated:
            refused = self.gate(session, spec)
            if refused is not None:
                return self._reject(session, refused, spec)
        if self.maxmemory and session.authenticated and self._out_of_memory(session, spec):
            return self._reject(session, errors.OOM, spec)
        if session.gated:
            return self._gated(session, spec, argv)
        return self.call(session, spec, argv)

    def _cluster_refusal(self, session: "Session", spec: CommandSpec, argv: list) -> str | None:
        """Redis's cluster redirection step (processCommand ->
        getNodeByQuery): commands queued in MULTI are checked one by one as
        they are queued, EXEC checks the whole transaction (and discards it
        when refused)."""
        router = self.cluster
        if session.importing is not None:
            # A migration's link writes slots before they flip, while this
            # primary holds its lease (cluster/lease.py).
            lease = router.lease
            return None if lease is None or lease() else errors.CLUSTERDOWN
        if session.is_master:
            return None  # a replica applies whatever its primary streams (CLIENT_MASTER)
        asking = session.asking
        if asking and session.multi is None and spec.name != "asking":
            session.asking = False  # ASKING holds for the next command only
            session.update_gate()
        if spec.name == "exec" and spec.parent is None:
            if session.multi is None:
                return None
            refusal = router.refusal(spec, argv, session.readonly, asking, queued=session.multi,
                                     tls=session.tls)
            if refusal is not None:
                session.reset_multi()
                session.asking = False
                session.update_gate()
            return refusal
        return router.refusal(spec, argv, session.readonly, asking, tls=session.tls)

    def enter_busy(self) -> None:
        """A script ran past busy-reply-threshold: refuse other clients'
        commands with -BUSY until leave_busy()."""
        self.busy = True
        self._refresh_table()

    def leave_busy(self) -> None:
        self.busy = False
        self._refresh_table()

    def _reject(self, session: "Session", message: str, spec: CommandSpec | None = None) -> Any:
        if spec is not None:
            spec.rejected_calls += 1
        self.total_errors += 1
        if session.multi is not None:
            session.multi_error = True
        if session.reply_mode != "on":
            return self._quiet(session, spec, None)
        return CommandError(message)

    def _out_of_memory(self, session: "Session", spec: CommandSpec) -> bool:
        """processCommand's maxmemory step: evict (bounded), then refuse a
        denyoom command, an EXEC of queued denyoom commands, or anything
        queued inside MULTI, when memory is still over and nothing could
        be freed."""
        if self.server.evictor.before_command() != EVICT_FAIL:
            return False
        if spec.denyoom:
            return True
        if session.multi is not None:
            name = spec.parent.name if spec.parent else spec.name
            if name == "exec":
                return any(queued.denyoom for queued, _ in session.multi)
            return name not in ("discard", "quit", "reset")
        return False

    def _gated(self, session: "Session", spec: CommandSpec, argv: list) -> Any:
        name = spec.parent.name if spec.parent else spec.name
        if not session.authenticated and not spec.no_auth:
            return self._reject(session, errors.NOAUTH, spec)
        if session.subscriptions and session.protocol == 2 and name not in _SUBSCRIBED_ALLOWED:
            return self._reject(
                session,
                f"ERR Can't execute '{spec.fullname}': only (P|S)SUBSCRIBE / "
                "(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec,
            )
        if session.multi is not None and name not in _MULTI_IMMEDIATE:
            if "no_multi" in spec.flags:
                return self._reject(session, "ERR Command not allowed inside a transaction", spec)
            session.multi.append((spec, argv))
            return QUEUED
        if session.no_touch and name != "touch":  # CLIENT NO-TOUCH: reads leave LRU/LFU alone
            db = session.db
            db.suspend_touch()
            try:
                reply = self.call(session, spec, argv)
            finally:
                db.resume_touch()
        else:
            reply = self.call(session, spec, argv)
        if reply.__class__ is BlockOn:  # parked: CLIENT REPLY applies to the later reply
            return reply
        if session.reply_mode != "on":
            return self._quiet(session, spec, reply)
        return reply

    def _quiet(self, session: "Session", spec: CommandSpec | None, reply: Any) -> Any:
        """CLIENT REPLY OFF drops every reply; SKIP drops the next command's."""
        if spec is not None and spec.fullname == "client|reply":
            return reply  # its own reply: OK for ON, nothing for OFF and SKIP
        if session.reply_mode == REPLY_SKIP:
            session.reply_mode = "on"
            session.update_gate()
        if reply.__class__ is RawPush:  # pushes ignore CLIENT REPLY (Redis 7.2+)
            return reply
        return NO_REPLY

    def call(self, session: "Session", spec: CommandSpec, argv: list) -> Any:
        """Run one command that passed the checks (execute_batch() inlines
        this for the plain case)."""
        db = session.db
        dirty_before = db.dirty
        start = perf_counter()
        try:
            reply = spec.handler(session, argv)
        except Exception as exc:
            reply = self._failed(spec, exc)
        elapsed = perf_counter() - start
        spec.calls += 1
        spec.time_s += elapsed
        if elapsed > self.slowlog_threshold:
            self._slowlog_add(session, spec, argv, elapsed)
        if self.tracking_active:  # client tracking: invalidate writes, remember reads
            self.server.tracking.after_command(session, spec, argv, db.dirty != dirty_before)
        if self.propagating:
            self.propagate(session, spec, argv, db, dirty_before)
        if self.monitors:
            self.server.feed_monitors(session, argv, spec)
        session.last_command = argv[0]
        return reply

    def propagate(self, session: "Session", spec: CommandSpec, argv: list, db: Any,
                  dirty_before: int) -> None:
        """Hand a write to the write stream: what the command set in
        session.propagate (its effect, when argv does not fix it; several
        commands are one MULTI ... EXEC unit), else argv itself when the
        command changed the data (Redis propagates nothing for a write that
        changed nothing). Only write commands. Inside EXEC the stream joins
        everything into the transaction's unit."""
        commands = session.propagate
        if commands is not None:  # (an empty list: the command emitted its own effects)
            session.propagate = None
            if commands:
                    self.stream.emit(db.index, commands if len(commands) == 1
                                 else [MULTI_ARGV, *commands, EXEC_ARGV])
        elif spec.is_write and db.dirty != dirty_before:
            self.stream.emit(db.index, [argv])
        # WAIT waits for this client's last write (Redis's c->woff): the
        # stream's offset after the last command of this client that moved
        # it (EXEC and EVAL emit inside their handler, so this runs after).
        offset = self.server.replication.primary.offset
        if offset != self.stream_offset:
            self.stream_offset = offset
            session.woff = offset

    def _failed(self, spec: CommandSpec, exc: Exception) -> CommandError:
        spec.failed_calls += 1
        self.total_errors += 1
        if isinstance(exc, CommandError):
            # The reply keeps the error, not the frames it was raised through:
            # a reply queued behind a slow client must not pin its stack.
            exc.__traceback__ = None
            return exc
        # A bug must not take the node down: log it, answer with an error.
        log.error("command %s failed", spec.fullname, exc_info=exc)
        return CommandError(f"ERR internal error in '{spec.fullname}': {type(exc).__name__}")

    def exec_transaction(self, session: "Session") -> Any:
        """EXEC: run the queue atomically, or abort (EXECABORT / WATCH)."""
        queued = session.multi or []
        if session.multi_error:
            session.reset_multi()
            raise CommandError(errors.EXECABORT)
        # A watched key that expired since WATCH counts as modified.
        for db, key in session.watched:
            db.lookup(key)
        if session.dirty_cas:
            session.reset_multi()
            return NULL_ARRAY
        session.multi = None
        session.update_gate()
        replies = []
        propagating = self.propagating
        if propagating:  # the transaction's writes are one unit of the stream
            self.stream.begin_transaction()
        check_acl = not session.user.unrestricted
        for spec, argv in queued:
            if check_acl and acl_denial(session, spec, argv, "multi"):
                # The rules changed after the command was queued (Redis
                # checks again at EXEC).
                replies.append(CommandError(NOPERM_EXEC))
                continue
            reply = self.call(session, spec, argv)
            if reply.__class__ is BlockOn:  # never blocks inside MULTI (Redis: CLIENT_DENY_BLOCKING)
                reply = reply.deny_reply
            replies.append(reply)
        if propagating:
            self.stream.end_transaction()
        session.reset_multi()
        return replies

    def _slowlog_add(self, session: "Session", spec: CommandSpec, argv: list, elapsed_s: float) -> None:
        """A slow call: a latency sample ("command", "fast-command") and a
        SLOWLOG entry, each past its own threshold."""
        if self.latency.threshold_ms:
            self.latency.add_if_needed("fast-command" if "fast" in spec.flags else "command",
                                       int(elapsed_s * 1e3))
        if "skip_slowlog" in spec.flags or elapsed_s <= self._slowlog_only:
            return
        args = []
        for i, arg in enumerate(argv):
            if i == SLOWLOG_MAX_ARGS - 1 and len(argv) > SLOWLOG_MAX_ARGS:
                args.append(b"... (%d more arguments)" % (len(argv) - SLOWLOG_MAX_ARGS + 1))
                break
            if len(arg) > SLOWLOG_MAX_ARG_LEN:
                arg = arg[:SLOWLOG_MAX_ARG_LEN] + b"... (%d more bytes)" % (len(arg) - SLOWLOG_MAX_ARG_LEN)
            args.append(arg)
        self.slowlog.appendleft(
            SlowlogEntry(self.slowlog_next_id, int(time.time()), int(elapsed_s * 1e6), args,
                         session.addr, session.name)
        )
        self.slowlog_next_id += 1


def _slowlog_threshold(us: int) -> float:
    """slowlog-log-slower-than (microseconds, -1 = off) in seconds."""
    return float("inf") if us < 0 else us / 1e6


if speedups is not None:
    speedups.bind_dispatcher(Dispatcher, Session)
