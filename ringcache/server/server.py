"""The node: owns the configuration, the databases, the clients and the
background work (the cron), and the listening socket.

One node is one process with one asyncio event loop. All
state is touched only from that loop, so nothing here takes a lock.

Background work has one owner: `cron()` runs `hz` times a second (active
expiry, client timeouts, the end of CLIENT PAUSE) and is cancelled by
`shutdown()`.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import math
import resource
import select
import selectors
import signal
import socket
import time
from typing import TYPE_CHECKING, Any, Callable

from .. import __version__, accel, pubsub
from ..pubsub.notifications import sync_databases
from ..commands import load_all
from ..commands.registry import lookup
from ..commands.hashes import active_expire_fields
from ..acl import AclError, Users
from ..config import Config, ConfigError
from ..protocol import errors
from ..protocol.parser import Limits
from ..storage.access import AccessPolicy
from ..storage.clock import Clock
from ..storage.eviction import Evictor
from ..storage.expiry import active_expire_cycle, cycle_budget_seconds
from ..storage.keyspace import Keyspace, KeyspaceStats
from .blocking import Blocking
from ..persistence import Persistence
from .dispatch import Dispatcher
from .fdlimit import ACCEPT_BACKOFF_S, RESERVED_FDS, RateLimitedLog, TooFewDescriptors, fit_maxclients
from .session import Session
from .write_stream import WriteStream

if TYPE_CHECKING:
    from ..cluster.node import ClusterNode
    from ..pubsub.hub import PubSubHub
    from ..pubsub.notifications import KeyspaceHooks
    from ..pubsub.tracking import Tracking
    from .connection import Connection

log = logging.getLogger("ringcache")

# Per database in use: the slot index's table of 16384 buckets and its
# occupancy bytes (storage/slots.py), counted in used_memory.
SLOT_TABLES_BYTES = 16384 * 8 + 16384


class ServerStats(KeyspaceStats):
    __slots__ = (
        "connections_received",
        "rejected_connections",
        "protocol_errors",
        "net_input_bytes",
        "net_output_bytes",
        "ops_samples",
    )

    def reset(self) -> None:
        super().reset()
        self.connections_received = 0
        self.rejected_connections = 0
        self.protocol_errors = 0
        self.net_input_bytes = 0
        self.net_output_bytes = 0
        self.ops_samples: list[tuple[float, int]] = []


class Server:
    # What the compiled per-request path reads, at the slot's offset
    # (ringcache/_speedups.pyx, bind_server); the rest lives in __dict__.
    __slots__ = ("pause_end", "dispatcher", "replies_held", "_to_flush", "_flush_before_poll",
                 "output_limits", "__dict__", "__weakref__")

    def __init__(self, config: Config | None = None, clock: Clock | None = None) -> None:
        load_all()
        self.config = config or Config()
        self.clock = clock or Clock()
        self.stats = ServerStats()
        # ACL users (ringcache/acl.py, commands/acl.py): before any session.
        self.acl = self._load_users()
        # TLS (server/tls.py): the TLS port's context (None without one), and
        # the connections still in their handshake (closed at shutdown).
        self.tls_context: Any = None
        self.tls_handshakes: set[Any] = set()
        self._tls_listeners: set[socket.socket] = set()
        if self.config["tls-cluster"] and self.config["cluster-enabled"] \
                and not self.config["tls-port"]:
            raise ConfigError("tls-cluster yes needs a tls-port: other nodes reach this "
                              "node over TLS there (cluster/peers.py)")
        if self.config["tls-port"]:
            from . import tls

            self.tls_context = tls.server_context(self.config)  # ConfigError: the node exits
            tls.watch_settings(self)
        self.dbs: list[Keyspace | None] = [None] * self.config["databases"]
        self.created_dbs: list[Keyspace] = []  # the databases in use, in creation order
        self.peak_memory = 0  # the highest used_memory() seen (INFO used_memory_peak)
        self.clients: dict[int, Session] = {}
        self.monitors: set[Session] = set()
        self._next_client_id = 0
        self.dirty_at_save = 0  # `dirty` when the last snapshot was taken
        self.start_time = time.time()
        self.start_monotonic = time.monotonic()
        self.pause_end = 0.0  # monotonic time CLIENT PAUSE ends; 0 = not paused
        self.pause_all = False
        self._pause_waiters: list["Connection"] = []
        self.limits = Limits()
        self.output_limits: tuple[int, int, int] | None = None
        self.port = 0
        self.run_id = os.urandom(20).hex()
        # The replication ID this node reports as a master (INFO replication);
        # replication/ takes it over.
        self.replid = os.urandom(20).hex()
        # What the process holds once the modules and the command table are
        # loaded: the cost of an empty node (INFO used_memory_startup).
        self.startup_rss = self.rss_bytes()
        # DEBUG SET-ACTIVE-EXPIRE 0|1
        self.active_expire_enabled = True
        # Every executed write, once, as the argv that replays it; the
        # append-only file (and replicas) are its sinks: server/write_stream.py.
        self.write_stream = WriteStream()
        self.write_stream.on_active_change.append(self._on_stream_active)
        self.dispatcher = Dispatcher(self)
        # The Lua engine (scripting/engine.py), made by the first EVAL or
        # SCRIPT LOAD: a node that never runs a script never starts Lua.
        self.scripting: Any = None
        # maxmemory and eviction (storage/eviction.py); memory accounting
        # (storage/memory.py) is kept by each Keyspace, summed by used_memory().
        self.access_policy = AccessPolicy()  # lfu-log-factor, lfu-decay-time for every db
        self.evictor = Evictor(self.live_dbs, self.used_memory, self._evicted)
        self._configure_eviction()
        for name in ("maxmemory", "maxmemory-policy", "maxmemory-samples",
                     "maxmemory-eviction-tenacity", "lfu-log-factor", "lfu-decay-time",
                     "replica-ignore-maxmemory"):
            self.config.on_change(name, lambda _value: self._configure_eviction())
        # Pub/sub, keyspace notifications, client tracking (pubsub/).
        # Callbacks run by RESET (commands/connection.py) and by
        # remove_client, with the session: client state kept elsewhere.
        self.reset_hooks: list[Callable[[Session], None]] = []
        self.disconnect_hooks: list[Callable[[Session], None]] = []
        self.pubsub_output_limits: tuple[int, int, int] | None = None
        # Clients blocked on keys (BLPOP, BZPOPMIN ...): server/blocking.py.
        self.blocking = Blocking(self)
        # Sets self.pubsub (the hub), self.tracking, self.notify_flags and
        # self.pubsub_hooks (what each Keyspace calls on key events).
        self.pubsub: PubSubHub
        self.tracking: Tracking
        self.notify_flags: int
        self.pubsub_hooks: KeyspaceHooks
        pubsub.install(self)
        # Snapshots and the append-only file (persistence/manager.py).
        self.lastsave = time.time()  # LASTSAVE (kept by persistence)
        self.persistence = Persistence(self)
        # Replication (replication/): this node's history, its replicas, and
        # its primary when it is a replica. While a replica, keys whose time
        # has passed are hidden, not deleted (expire_hold: the primary's DEL
        # deletes them).
        self.expire_hold = False
        self.replica_output_limits: tuple[int, int, int] | None = None
        from ..replication import install as install_replication

        self.replication = install_replication(self)
        # True while replies wait for an fsync (appendfsync always): tested
        # by Connection.write once per batch; the connections whose replies
        # wait (hold_replies / release_replies).
        self.replies_held = False
        self._held: list["Connection"] = []
        # Connections with output queued this loop turn (flush_soon), and
        # whether the loop's selector sends it before polling (start()).
        self._to_flush: list = []
        self._flush_before_poll = False
        self._listeners: list[socket.socket] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connections: set["Connection"] = set()
        self._cron_task: asyncio.Task | None = None
        self._stopped: asyncio.Event | None = None
        self._apply_limits()
        for name in ("proto-max-bulk-len", "client-query-buffer-limit", "client-output-buffer-limit"):
            self.config.on_change(name, lambda _value: self._apply_limits())
        self.config.on_change("maxclients", self._check_maxclients)
        self._accept_failures = RateLimitedLog()
        self._accept_paused = False
        # Cluster mode (cluster/node.py): the node's identity, control plane
        # and map; None when cluster-enabled is no.
        self.cluster: ClusterNode | None = None
        if self.config["cluster-enabled"]:
            from ..cluster.node import ClusterNode

            self.cluster = ClusterNode(self)

    # -- ACL users ---------------------------------------------------------

    def _load_users(self) -> Users:
        """The users from the config file's `user` lines or the aclfile
        (not both, as in Redis), then requirepass as the default user's
        password. A bad line is a ConfigError naming the file and line:
        the node does not start with users it could not read."""
        from ..commands.acl import apply_requirepass, load_users_file

        config = self.config
        users = Users(config["acllog-max-len"], config["acl-pubsub-default"] == "allchannels")
        self.acl = users
        if config.user_lines and config["aclfile"]:
            raise ConfigError("Configuring Redis with users defined in redis.conf and at the same "
                              "setting an ACL file path is invalid. This setup is very likely to "
                              "lead to configuration errors and security holes, please define "
                              "either an ACL file or declare users directly in your redis.conf, "
                              "but not both.")
        try:
            if config["aclfile"]:
                users.replace(load_users_file(self, config["aclfile"]))
            elif config.user_lines:
                users.replace(Users.parse_lines(config.user_lines, users.pubsub_default))
        except AclError as exc:
            raise ConfigError(f"Aborting ringcache startup because of ACL errors: {exc.args[0]}") from None
        if config["requirepass"]:
            apply_requirepass(self, config["requirepass"])
        config.on_change("requirepass", lambda value: apply_requirepass(self, value))

        def set_log_len(value: int) -> None:
            users.log.max_len = value
            users.log.trim()

        config.on_change("acllog-max-len", set_log_len)
        config.users_for_rewrite = lambda: None if config["aclfile"] else [
            f"user {users.users[name].describe()}" for name in sorted(users.users)]
        config.on_change("acl-pubsub-default",
                         lambda value: setattr(users, "pubsub_default", value == "allchannels"))
        return users

    # -- databases ---------------------------------------------------------

    def db(self, index: int) -> Keyspace:
        """Database `index`, created on first use (each costs ~2 MB of tables)."""
        db = self.dbs[index]
        if db is None:
            db = self.dbs[index] = Keyspace(index, self.clock, self.stats)
            self.created_dbs.append(db)
            db.access_policy = self.access_policy
            db.lfu = self.config["maxmemory-policy"].endswith("lfu")
            db.expire_hold = self.expire_hold
            pubsub.attach_database(self, db)  # notification/tracking hooks
        return db

    def live_dbs(self) -> list[Keyspace]:
        return [db for db in self.dbs if db is not None]

    @property
    def dirty(self) -> int:
        """Changes since the last save (INFO rdb_changes_since_last_save):
        summed from the databases' counters, so no command pays for it."""
        return sum(db.dirty for db in self.live_dbs()) - self.dirty_at_save

    # -- clients -----------------------------------------------------------

    def next_client_id(self) -> int:
        self._next_client_id += 1
        return self._next_client_id

    def accept_client(self, session: Session) -> str | None:
        """Register a new client, or say why it is refused (the error line
        it gets before it is closed). Redis's order: maxclients, then
        protected mode, which serves only loopback clients while the
        default user has no password."""
        self.stats.connections_received += 1
        if len(self.clients) >= self.config["maxclients"]:
            refusal = errors.MAX_CLIENTS
        elif (self.config["protected-mode"] and self.acl.default.nopass
              and not session.is_local):
            refusal = errors.DENIED_PROTECTED_MODE
        else:
            self.clients[session.id] = session
            return None
        self.stats.rejected_connections += 1
        return refusal

    def remove_client(self, session: Session) -> None:
        self.clients.pop(session.id, None)
        self.connections.discard(session.connection)
        self.monitors.discard(session)
        session.unwatch_all()
        for hook in self.disconnect_hooks:  # subscriptions, tracking
            hook(session)

    def feed_monitors(self, session: Session, argv: list, spec: Any) -> None:
        if "skip_monitor" in spec.flags or "admin" in spec.flags:
            return
        line = b"+%.6f [%d %s] %s\r\n" % (
            time.time(),
            session.db_index,
            session.addr.encode(),
            b" ".join(_monitor_quote(arg) for arg in argv),
        )
        for monitor in list(self.monitors):
            if monitor is not session and monitor.push is not None:
                monitor.push(line)

    # -- CLIENT PAUSE ------------------------------------------------------

    def pause(self, seconds: float, pause_all: bool) -> None:
        end = time.monotonic() + seconds
        if end > self.pause_end or pause_all:  # a pause never shortens another
            self.pause_end = max(end, self.pause_end)
        self.pause_all = self.pause_all or pause_all

    def unpause(self) -> None:
        self.pause_end = 0.0
        self.pause_all = False
        waiters, self._pause_waiters = self._pause_waiters, []
        for connection in waiters:
            if not connection.closed:
                connection.run_pending()

    def must_wait(self, session: Session, argv: list) -> bool:
        if not self.pause_end:
            return False
        if time.monotonic() >= self.pause_end:
            self.unpause()
            return False
        spec = lookup(argv[0])
        if spec is None:
            return False
        if self.pause_all:
            return True
        if spec.name == "exec" and session.multi:
            return any(queued.is_write for queued, _ in session.multi)
        return spec.is_write or "may_replicate" in spec.flags

    def wait_for_unpause(self, connection: "Connection") -> None:
        if connection not in self._pause_waiters:
            self._pause_waiters.append(connection)

    # -- limits from the configuration -------------------------------------

    def _apply_limits(self) -> None:
        self.limits.proto_max_bulk_len = self.config["proto-max-bulk-len"]
        self.limits.query_buffer_limit = self.config["client-query-buffer-limit"]
        normal = _output_limit(self.config["client-output-buffer-limit"], "normal")
        self.output_limits = normal if normal and any(normal) else None
        # subscribed clients are in the pubsub class (connection.write)
        limits = _output_limit(self.config["client-output-buffer-limit"], "pubsub")
        self.pubsub_output_limits = limits if limits and any(limits) else None
        limits = _output_limit(self.config["client-output-buffer-limit"], "replica")
        self.replica_output_limits = limits if limits and any(limits) else None

    def _fit_maxclients_to_descriptors(self) -> None:
        wanted = self.config["maxclients"]
        fitted = fit_maxclients(wanted)
        if fitted == 0:
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            raise TooFewDescriptors(
                f"Your current 'ulimit -n' of {soft} is not enough for the server to start. Please "
                f"increase your open file limit to at least {1 + RESERVED_FDS}. Exiting.")
        if fitted != wanted:
            self.config.set("maxclients", str(fitted), startup=True)

    def _check_maxclients(self, value: int) -> None:
        """CONFIG SET maxclients: only as many as the descriptors allow."""
        fitted = fit_maxclients(value)
        if fitted < value:
            raise ConfigError(errors.MAXCLIENTS_OVER_FD_LIMIT.format(fitted))

    # -- running -----------------------------------------------------------

    async def start(self, handle_signals: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        selector = getattr(loop, "_selector", None)
        self._flush_before_poll = isinstance(selector, FlushingSelector) and selector.server is self
        self._fit_maxclients_to_descriptors()
        # The data on disk first (persistence.LoadError: the node must not start).
        self.persistence.load_at_startup()
        hosts = self.config["bind"]  # (a tuple: config.Bind)
        port = self.config["port"]
        for host in hosts:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            listener = socket.socket(family, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            port = listener.getsockname()[1]  # --port 0: every address gets the chosen port
            listener.listen(self.config["tcp-backlog"])
            listener.setblocking(False)
            loop.add_reader(listener.fileno(), self._accept, listener)
            self._listeners.append(listener)
        self.port = port
        tls_port = self.config["tls-port"]
        for host in hosts if tls_port else ():
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            listener = socket.socket(family, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, tls_port))
            listener.listen(self.config["tcp-backlog"])
            listener.setblocking(False)
            loop.add_reader(listener.fileno(), self._accept, listener)
            self._listeners.append(listener)
            self._tls_listeners.add(listener)
        # Start-up objects (modules, the command table, config) live for the
        # whole process: keep the cyclic GC from walking them ever again.
        gc.freeze()
        self._stopped = asyncio.Event()
        self._cron_task = loop.create_task(self.cron())
        replicaof = self.config["replicaof"]
        if replicaof:
            host, _, replica_port = replicaof.rpartition(" ")
            self.replication.follow(host.strip(), int(replica_port))
        if self.cluster is not None:
            self.cluster.start(loop)  # (its port is known now)
        if handle_signals:
            # Before "Ready": whoever waits for that line may signal at once.
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._on_signal, sig)
        log.info("ringcache %s started, pid=%d", __version__, os.getpid())
        if not accel.ACCELERATED:  # (once per process: accel decides at import)
            log.warning("Running on the pure-Python path: %s", accel.pure_reason)
        if tls_port:
            log.info("Ready to accept connections tls on %s port %d", " ".join(hosts), tls_port)
        log.info("Ready to accept connections tcp on %s port %d", " ".join(hosts), self.port)

    def flush_soon(self, connection: Any) -> None:
        """Send connection's output at the end of this loop turn, together with
        every other reply of the turn (Redis: handleClientsWithPendingWrites
        in beforeSleep). Replying at once, one client at a time, let a client
        on another core go back to sleep between two replies, and waking it
        again cost more than the command: at redis-benchmark -P 1 -c 50,
        sends back to back took the node from ~62k to ~80k SET/s here
        (benchmarks/RESULTS.md). Under the node's own loop (FlushingSelector)
        the flush runs just before the loop polls; under any other loop, in
        a callback of the next iteration (an extra poll per turn)."""
        to_flush = self._to_flush
        if not to_flush and not self._flush_before_poll:
            connection.loop.call_soon(self.flush_replies)
        to_flush.append(connection)

    def flush_replies(self) -> None:
        """Send every connection's queued output (until none is queued: a
        drained connection may run the commands it had waiting)."""
        while self._to_flush:
            connections, self._to_flush = self._to_flush, []
            for connection in connections:
                connection.flush()

    if accel.speedups is not None:
        # The same, with Connection.flush's common case compiled (ringcache/_speedups.pyx).
        flush_replies = accel.speedups.flush_replies  # type: ignore[assignment]  # noqa: F811

    def serve_while_busy(self, running: Session) -> None:
        """Redis's processEventsWhileBlocked, called by a script that ran
        past busy-reply-threshold (scripting/engine.py): poll the sockets
        once without blocking and run their handlers, so that other clients
        get their -BUSY reply (the dispatcher is in busy mode: only
        allow_busy commands such as SCRIPT KILL run) and new clients are
        accepted; then send the replies. The script's own connection is
        left alone (its input waits, as Redis's protectClient does), and so
        are the loop's timers and its self-pipe (signals wait for the
        script to end)."""
        loop = self._loop
        selector = getattr(loop, "_selector", None)
        if loop is None or selector is None:
            return
        self_pipe = getattr(loop, "_ssock", None)
        skip = {running.fd, self_pipe.fileno() if self_pipe is not None else -1}
        for key, mask in selector.select(0):
            if key.fd in skip:
                continue
            reader, writer = key.data
            if mask & selectors.EVENT_READ and reader is not None and not reader._cancelled:
                reader._run()
            if mask & selectors.EVENT_WRITE and writer is not None and not writer._cancelled:
                writer._run()
        self.flush_replies()

    def _accept(self, listener: socket.socket) -> None:
        from .connection import Connection

        for _ in range(64):  # accept a burst, then let the others run
            try:
                sock, _addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._accept_failures.warning("Accepting client connection: %s", exc)
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    self._pause_accepting()
                return
            sock.setblocking(False)
            if sock.family != socket.AF_UNIX:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            assert self._loop is not None
            if listener in self._tls_listeners:
                from .tls import TLSConnection

                TLSConnection(self, sock, self._loop, self.tls_context).start()
            else:
                Connection(self, sock, self._loop).start()

    def _pause_accepting(self) -> None:
        """Out of descriptors: the listeners stay readable, so stop watching
        them for a moment rather than spin (server/fdlimit.py)."""
        loop = self._loop
        assert loop is not None
        if self._accept_paused:
            return
        self._accept_paused = True
        for listener in self._listeners:
            loop.remove_reader(listener.fileno())
        loop.call_later(ACCEPT_BACKOFF_S, self._resume_accepting)

    def _resume_accepting(self) -> None:
        loop = self._loop
        assert loop is not None
        self._accept_paused = False
        for listener in self._listeners:
            if listener.fileno() != -1:  # not closed by a shutdown meanwhile
                loop.add_reader(listener.fileno(), self._accept, listener)

    async def cron(self) -> None:
        while True:
            hz = self.config["hz"]
            await asyncio.sleep(1.0 / hz)
            try:
                self.cron_step(hz)
            except Exception:  # the cron must survive its own bugs
                log.exception("cron step failed")

    def cron_step(self, hz: int) -> None:
        self.refresh_lru_clock()
        # Settles the containers' size estimates (Keyspace.settle_sizes: the
        # set of changed keys stays small) and follows the peak, as Redis's
        # serverCron does, whether or not anyone reads INFO.
        self.used_memory()
        replica = self.expire_hold  # a replica: its primary expires and evicts for it
        if self.evictor.maxmemory and not replica:  # Redis's evictionTimeProc: free what commands left
            self.evictor.background_step(cycle_budget_seconds(hz))
        effort = self.config["active-expire-effort"]
        dbs = self.live_dbs()
        budget = cycle_budget_seconds(hz, effort) / max(len(dbs), 1)
        # DEBUG SET-ACTIVE-EXPIRE 0 stops the active cycle
        if not self.active_expire_enabled or replica:
            dbs = []
        for db in dbs:
            active_expire_cycle(db, budget, effort)
            if db.hash_field_queue:  # hashes whose fields have TTLs
                active_expire_fields(self, db)
        if self.pause_end and time.monotonic() >= self.pause_end:
            self.unpause()
        timeout = self.config["timeout"]
        if timeout:
            now = time.monotonic()
            for session in list(self.clients.values()):
                # (a blocked client waits for its own timeout, as in Redis)
                if (now - session.last_interaction > timeout and not session.monitor
                        and not session.subscriptions and session.blocked is None
                        and session.close is not None):
                    log.debug("Closing idle client id=%d", session.id)
                    session.close()
        self.stats.ops_samples.append((time.monotonic(), self.dispatcher.total_commands))
        del self.stats.ops_samples[:-16]
        if self.dispatcher.propagating:  # the DELs of keys that expired or were evicted
            self.write_stream.flush()
        self.persistence.cron()  # save points, the child, AOF fsync and rewrites
        self.replication.cron()  # links, pings, acks, timeouts, reconnects

    def shutdown(self) -> None:
        """Stop accepting, flush and close every client, then stop serving."""
        if self._stopped is None or self._stopped.is_set():
            return
        log.warning("User requested shutdown...")
        if self._cron_task is not None:
            self._cron_task.cancel()
        if self.cluster is not None:
            self.cluster.close()
        assert self._loop is not None
        for listener in self._listeners:
            self._loop.remove_reader(listener.fileno())
            listener.close()
        self.pubsub.flush()  # messages queued for the next loop turn go out too
        self.replication.shutdown()
        for connection in list(self.connections):
            connection.flush_blocking(timeout=1.0)
        for pending in list(self.tls_handshakes):
            pending.close_during_handshake()
        log.warning("ringcache is now ready to exit, bye bye...")
        self._stopped.set()

    # -- function libraries (PersistenceHost) -------------------------------------

    def function_libraries(self) -> list[bytes]:
        engine = self.scripting
        return [] if engine is None else [library.code for library in engine.libraries.values()]

    def load_function_libraries(self, codes: list[bytes]) -> None:
        from ..commands.scripting import engine_of
        from ..protocol.errors import CommandError

        try:
            engine_of(self).restore_libraries(codes, "replace")
        except CommandError as exc:
            raise ValueError(exc.message) from None

    @property
    def shut_down(self) -> bool:
        """SHUTDOWN ran (a busy script stops at its next hook when it did)."""
        return self._stopped is not None and self._stopped.is_set()

    async def serve_forever(self) -> None:
        await self.start(handle_signals=True)
        assert self._stopped is not None
        await self._stopped.wait()

    def _on_signal(self, sig: int) -> None:
        name = "SIGTERM" if sig == signal.SIGTERM else "SIGINT"
        from ..protocol.errors import CommandError

        wait = self.replication.shutdown_wait  # (replication/shutdown.py: waits for replicas)
        if wait.in_progress and sig == signal.SIGINT:
            log.warning("You insist... exiting now.")
            os._exit(1)
        log.warning("Received %s scheduling shutdown...", name)
        try:
            wait.request(None, None, now=False, force=False)
        except CommandError:
            log.warning("%s received but errors trying to shut down the server, check the logs "
                        "for more information", name)

    # -- memory and eviction -------------------------------------------------

    def used_memory(self) -> int:
        """Bytes the data set holds (storage/memory.py): every database's
        running `mem`, its access-metadata cells and its slot tables."""
        total = 0
        for db in self.created_dbs:
            db.settle_sizes()
            total += db.mem + (len(db.cells) << 2) + SLOT_TABLES_BYTES
        if total > self.peak_memory:
            self.peak_memory = total
        return total

    def refresh_lru_clock(self) -> None:
        for db in self.dbs:
            if db is not None:
                db.refresh_clock()

    def _configure_eviction(self) -> None:
        config = self.config
        policy = config["maxmemory-policy"]
        self.access_policy.log_factor = config["lfu-log-factor"]
        self.access_policy.decay_time = config["lfu-decay-time"]
        lfu = policy.endswith("lfu")
        for db in self.live_dbs():
            db.lfu = lfu
        # A replica leaves eviction to its primary (replica-ignore-maxmemory,
        # default yes): the primary's DELs keep the two datasets equal.
        maxmemory = config["maxmemory"]
        if getattr(self, "expire_hold", False) and config["replica-ignore-maxmemory"]:
            maxmemory = 0
        self.evictor.configure(maxmemory, policy, config["maxmemory-samples"],
                               config["maxmemory-eviction-tenacity"])
        self.dispatcher.maxmemory = bool(maxmemory)
        # A lower limit evicts down to it now, within the time limit; the
        # cron's background step does the rest (Redis: startEvictionTimeProc).
        self.evictor.perform_evictions()

    def _evicted(self, db: Keyspace, key: bytes) -> None:
        """After each eviction: the "evicted" event and tracking invalidation,
        and a DEL on the write stream (Redis's propagateDeletion)."""
        pubsub.key_evicted(self, db, key)
        if self.dispatcher.propagating:
            self.propagate_deletion(db.index, key, "lazyfree-lazy-eviction")

    # -- the write stream ----------------------------------------------------

    def propagate_deletion(self, db_index: int, key: bytes, lazy_option: str) -> None:
        """A key the node removed itself (expiry, eviction) leaves on the
        write stream as DEL, or UNLINK when `lazy_option` (a lazyfree-*
        setting) is on: Redis's propagateDeletion. Nothing while loading
        (the replay's own expiries are not new writes)."""
        if self.write_stream.active and not self.persistence.loading:
            self.write_stream.emit(db_index, [[b"UNLINK" if self.config[lazy_option] else b"DEL", key]])

    def _on_stream_active(self, active: bool) -> None:
        """A first sink joined the write stream, or the last one left."""
        if active and not self.dispatcher.propagating:
            # What commands set while nobody listened is stale.
            for session in self.clients.values():
                session.propagate = None
        self.dispatcher.propagating = active
        sync_databases(self)  # the expiry hooks: a DEL for each expired key, or not

    # -- the persistence host (persistence/host.py) ---------------------------

    def replayer(self) -> "AOFReplayer":
        return AOFReplayer(self)

    def in_forked_child(self) -> None:
        """In a forked child (BGSAVE, AOF rewrite): close the parent's
        listening and client sockets (a port that stays bound, a client that
        never sees its connection close)."""
        for listener in self._listeners:
            try:
                os.close(listener.fileno())
            except OSError:
                pass
        for connection in list(self.connections):
            try:
                os.close(connection.fd)
            except OSError:
                pass

    def defer(self, callback: Callable[[], None]) -> bool:
        loop = self._loop
        if loop is None or not loop.is_running():
            return False
        loop.call_soon(callback)
        return True

    def hold_replies(self) -> None:
        """Replies of this loop turn stay unsent (Connection.write keeps them
        as unsent output and calls hold()) until release_replies()."""
        self.replies_held = True

    def hold(self, connection: "Connection") -> None:
        self._held.append(connection)

    def release_replies(self) -> None:
        self.replies_held = False
        held, self._held = self._held, []
        for connection in held:
            if not connection.closed and connection.out_pending:
                connection.loop.add_writer(connection.fd, connection.on_writable)
                connection.on_writable()

    # -- facts for INFO ----------------------------------------------------

    def uptime(self) -> float:
        return time.monotonic() - self.start_monotonic

    @staticmethod
    def rss_bytes() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def ops_per_sec(self) -> int:
        samples = self.stats.ops_samples
        if len(samples) < 2:
            return 0
        (t0, c0), (t1, c1) = samples[0], samples[-1]
        return int((c1 - c0) / (t1 - t0)) if t1 > t0 else 0


class AOFReplayer:
    """Runs an append-only file's commands as Redis's fake client: straight
    to the command (Dispatcher.call): no OOM check, no eviction, no client
    state in the way; SELECT moves its own session; nothing it does is
    propagated."""

    def __init__(self, server: Server) -> None:
        self.dispatcher = server.dispatcher
        self.session = Session(server, 0, "aof", "")
        self.session.user = server.acl.internal
        self.session.authenticated = True
        self.session.update_gate()

    def knows(self, name: bytes) -> bool:
        return lookup(name) is not None

    def run(self, argv: list[bytes]) -> None:
        spec = lookup(argv[0])
        assert spec is not None  # (the caller asked knows() first)
        if spec.subcommands and len(argv) > 1:
            spec = spec.subcommands.get(argv[1].lower(), spec)
        self.dispatcher.call(self.session, spec, argv)
        self.session.propagate = None


def _output_limit(value: Any, klass: str) -> tuple[int, int, int] | None:
    """The (hard, soft, soft_seconds) limit of a client class from the config."""
    if isinstance(value, dict):
        entry = value.get(klass)
        return tuple(entry) if entry else None  # type: ignore[return-value]
    if isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, (list, tuple)) and len(item) == 4 and item[0] == klass:
                return (int(item[1]), int(item[2]), int(item[3]))
    return None


def _monitor_quote(arg: bytes) -> bytes:
    out = bytearray(b'"')
    for c in arg:
        if c in (0x22, 0x5C):
            out += b"\\" + bytes([c])
        elif c == 10:
            out += b"\\n"
        elif c == 13:
            out += b"\\r"
        elif c == 9:
            out += b"\\t"
        elif 32 <= c < 127:
            out.append(c)
        else:
            out += b"\\x%02x" % c
    out += b'"'
    return bytes(out)


class FlushingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """The node's event-loop selector: before each poll it sends the replies
    the loop turn queued (Server.flush_replies), as Redis's beforeSleep
    does, so that a turn costs one poll and all replies leave back to back."""

    def __init__(self, server: "Server") -> None:
        super().__init__()
        self.server = server
        self.loop: asyncio.AbstractEventLoop | None = None

    def select(self, timeout: float | None = None) -> list:
        server = self.server
        if server._to_flush:
            server.flush_replies()
            # What flushing set off (a drained client's waiting commands, an
            # fsync for appendfsync always) must not wait for the poll's
            # timeout. (`_ready`: the loop's callbacks due now, CPython's
            # BaseEventLoop; without it, never block after a flush.)
            if getattr(self.loop, "_ready", True):
                timeout = 0
        if not _EPOLL:
            return super().select(timeout)
        # selectors.EpollSelector.select (CPython 3.11), with its per-event
        # method call (_key_from_fd) made a dict lookup: at -P 1 every
        # request is one ready descriptor (benchmarks/p1_instructions.py).
        if timeout is None:
            timeout = -1
        elif timeout <= 0:
            timeout = 0
        else:  # (epoll_wait has a resolution of 1 ms: round up, as the stdlib)
            timeout = math.ceil(timeout * 1e3) * 1e-3
        fd_to_key = self._fd_to_key  # type: ignore[attr-defined]
        ready: list = []
        try:
            fd_event_list = self._selector.poll(timeout, max(len(fd_to_key), 1))  # type: ignore[attr-defined]
        except InterruptedError:
            return ready
        if accel.speedups is not None:
            return accel.speedups.ready_events(fd_event_list, fd_to_key)  # (the loop below, compiled)
        for fd, event in fd_event_list:
            key = fd_to_key.get(fd)
            if key:
                events = 0
                if event & ~select.EPOLLIN:
                    events |= selectors.EVENT_WRITE
                if event & ~select.EPOLLOUT:
                    events |= selectors.EVENT_READ
                ready.append((key, events & key.events))
        return ready


# FlushingSelector's own select() is a copy of EpollSelector's (Linux).
_EPOLL = getattr(selectors, "EpollSelector", None) is selectors.DefaultSelector


class NodeEventLoop(asyncio.SelectorEventLoop):  # type: ignore[misc,valid-type]
    """The stdlib selector loop with its per-event step made leaner: at
    redis-benchmark -P 1 every request is one ready descriptor, and the
    stdlib's _process_events pays a method call (_add_callback) for each.
    Same behaviour: a cancelled handle is dropped (its descriptor
    unregistered), the others queued in order, readers before writers."""

    def _process_events(self, event_list: list) -> None:
        ready = self._ready  # type: ignore[attr-defined]
        for key, mask in event_list:
            reader, writer = key.data
            if mask & selectors.EVENT_READ and reader is not None:
                if reader._cancelled:
                    self._remove_reader(key.fileobj)  # type: ignore[attr-defined]
                else:
                    ready.append(reader)
            if mask & selectors.EVENT_WRITE and writer is not None:
                if writer._cancelled:
                    self._remove_writer(key.fileobj)  # type: ignore[attr-defined]
                else:
                    ready.append(writer)

    if accel.speedups is not None:
        # The same, compiled, with a plain connection's reader run at once
        # (ringcache/_speedups.pyx, process_events, says when and why).
        _process_events = accel.speedups.process_events  # type: ignore[assignment]  # noqa: F811


def new_event_loop(server: Server) -> asyncio.AbstractEventLoop:
    """The loop a node runs on: the stdlib selector loop (NodeEventLoop) with FlushingSelector."""
    selector = FlushingSelector(server)
    loop = NodeEventLoop(selector)
    selector.loop = loop
    return loop


def _report_callback_error(handle: asyncio.Handle, exc: BaseException) -> None:
    """What asyncio's Handle._run does when its callback raised (CPython
    3.11), for the handles NodeEventLoop runs itself."""
    callback = asyncio.format_helpers._format_callback_source(  # type: ignore[attr-defined]
        handle._callback, handle._args)  # type: ignore[attr-defined]
    context = {"message": f"Exception in callback {callback}", "exception": exc, "handle": handle}
    if handle._source_traceback:  # type: ignore[attr-defined]
        context["source_traceback"] = handle._source_traceback  # type: ignore[attr-defined]
    handle._loop.call_exception_handler(context)  # type: ignore[attr-defined]


if accel.speedups is not None:
    assert selectors.EVENT_READ == 1 and selectors.EVENT_WRITE == 2  # (the compiled loop step's)
    accel.speedups.bind_server(Server, asyncio.Handle, _report_callback_error)
