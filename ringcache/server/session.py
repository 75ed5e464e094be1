"""Per-client state: everything the server knows about one connection.

A Session knows nothing about sockets: the Connection owns the transport and
asks the Session what to do. Commands receive the Session and read `db`,
`server` and the client's settings from it.

`gated` is the one flag the dispatcher tests on the hot path: it is True
whenever the session is in any state that needs the slow path (inside MULTI,
not yet authenticated, an ACL user restricted on commands or keys,
subscribed in RESP2, replies switched off). Whoever changes one of those
states calls `update_gate()` (commands/acl.py does for a changed user).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

from ..protocol.resp import encode2, encode3
from ..storage.keyspace import Keyspace

if TYPE_CHECKING:
    from ..commands.registry import CommandSpec
    from .blocking import Blocked
    from .connection import Connection
    from .server import Server

REPLY_ON, REPLY_OFF, REPLY_SKIP = "on", "off", "skip"


def is_local_address(addr: str) -> bool:
    """Redis's connIsLocal: a unix socket, or a peer on the loopback
    interface (any 127.x address, or ::1). `addr` is "ip:port" or a path."""
    if addr.startswith("/"):
        return True
    host = addr.rsplit(":", 1)[0].strip("[]")
    return host.startswith("127.") or host == "::1"


class Session:
    # The fields the compiled per-request path reads at their slot's offset
    # (ringcache/_speedups.pyx: execute_batch, on_readable); the rest live in __dict__.
    __slots__ = ("blocked", "authenticated", "last_interaction", "closing", "subscriptions",
                 "is_replica", "gated", "db", "last_command", "__dict__", "__weakref__")

    # Cluster mode's per-client state, as class defaults: a session sets them
    # only when the client uses them, so off cluster mode a session is what
    # it was before cluster mode existed.
    # READONLY: a replica serves this client's reads of its primary's slots
    # (the Router sends those off the fast path itself). ASKING: the next
    # command may use a slot being imported (gated, so that the dispatcher
    # clears it after one command). importing: the migration id of a slot
    # migration's link from its source (CLUSTER IMPORT BEGIN), whose writes
    # go to slots this node does not own yet.
    readonly = False
    asking = False
    importing: int | None = None
    # On the TLS port (server/tls.py): with tls-cluster, cluster replies give
    # such a client the TLS ports, and node-to-node commands need it.
    tls = False
    tls_peer_cert = False  # the TLS client presented a certificate that was verified

    def __init__(self, server: "Server", client_id: int, addr: str, laddr: str) -> None:
        self.server = server
        self.id = client_id
        self.addr = addr
        self.laddr = laddr
        self.fd = -1
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.db_index = 0
        self.db: Keyspace = server.db(0)
        self.protocol = 2
        self.encode: Callable[[list, Any], None] = encode2
        self.null = b"$-1\r\n"  # the null reply in this session's protocol
        # The ACL user (ringcache/acl.py): the default user until AUTH.
        # A client starts authenticated when the default user is on and
        # needs no password (Redis's clientHasAuthenticated rule).
        self.user = server.acl.default
        self.authenticated = self.user.enabled and self.user.nopass
        self.is_local = is_local_address(addr)  # protected mode, protected configs, DEBUG
        self.created = time.monotonic()
        self.last_interaction = self.created
        self.last_command = b"NULL"
        # MULTI: the queued commands, or None outside a transaction.
        self.multi: list[tuple[CommandSpec, list[bytes]]] | None = None
        self.multi_error = False  # a queue-time error: EXEC will abort
        self.watched: list[tuple[Keyspace, bytes]] = []
        self.dirty_cas = False  # a watched key changed: EXEC will fail
        self.reply_mode = REPLY_ON
        self.subscriptions = 0  # channels + patterns (pub/sub)
        self.no_evict = False
        self.no_touch = False
        self.monitor = False
        self.closing = False  # QUIT, CLIENT KILL: close once this batch's replies are out
        # The server.blocking.Blocked record while a blocking command waits
        # (BLPOP ...): the connection runs none of this client's commands.
        self.blocked: Blocked | None = None
        # True while server.blocking re-runs this client's blocked command
        # (Redis's CLIENT_REEXECUTING_COMMAND): XREADGROUP answers a group
        # destroyed meanwhile with its own error.
        self.reexecuting = False
        # Propagation (append-only file, replicas): a write command whose effect
        # is not fixed by its arguments (SPOP, EXPIRE with a relative time, a
        # blocking pop, INCRBYFLOAT) sets this to the argv lists that reproduce
        # its effect; None means "propagate the command as it came". The
        # dispatcher reads it after the command and resets it.
        self.propagate: list[list[bytes]] | None = None
        self.gated = not self.authenticated or self.user.needs_gate
        # Replication: a replica attached here (after PSYNC/SYNC, with its
        # replication.primary.ReplicaLink), or this node's primary's link.
        self.is_replica = False
        self.is_master = False
        self.replica_link: Any = None
        self.replica_listening_port = 0
        # The replication offset right after this client's last write (Redis's
        # c->woff): what WAIT waits for (kept by Dispatcher.propagate).
        self.woff = 0
        self.connection: Connection | None = None
        # Set by the connection: push bytes to this client asynchronously.
        self.push: Callable[[bytes], None] | None = None
        self.close: Callable[[], None] | None = None
        self.output_buffer_size: Callable[[], int] = lambda: 0
        self.query_buffer_size: Callable[[], int] = lambda: 0

    def buffer_sizes(self) -> tuple[int, int]:
        """(query buffer, output buffer) bytes, for CLIENT LIST, INFO and
        MEMORY STATS; zeros when the transport is closing and cannot say."""
        try:
            return self.query_buffer_size(), self.output_buffer_size()
        except Exception:
            return 0, 0

    def update_gate(self) -> None:
        self.gated = (
            self.multi is not None
            or not self.authenticated
            or self.reply_mode != REPLY_ON
            or (self.subscriptions > 0 and self.protocol == 2)
            or self.no_touch  # (dispatch._gated keeps its reads from touching keys)
            or self.asking
            or self.user.needs_gate  # ACL checks: dispatch._execute
        )

    def select(self, index: int) -> None:
        self.db = self.server.db(index)
        self.db_index = index

    def set_protocol(self, version: int) -> None:
        self.protocol = version
        self.encode = encode3 if version == 3 else encode2
        self.null = b"_\r\n" if version == 3 else b"$-1\r\n"
        self.update_gate()

    # -- WATCH -------------------------------------------------------------

    def watch(self, key: bytes) -> None:
        db = self.db
        for watched_db, watched_key in self.watched:
            if watched_db is db and watched_key == key:
                return
        self.watched.append((db, key))
        db.watchers.setdefault(key, set()).add(self)

    def unwatch_all(self) -> None:
        for db, key in self.watched:
            sessions = db.watchers.get(key)
            if sessions is not None:
                sessions.discard(self)
                if not sessions:
                    del db.watchers[key]
        self.watched.clear()
        self.dirty_cas = False

    def reset_multi(self) -> None:
        self.multi = None
        self.multi_error = False
        self.unwatch_all()
        self.update_gate()
