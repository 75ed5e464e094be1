"""Replication commands: REPLICAOF/SLAVEOF, ROLE, REPLCONF, PSYNC/SYNC, WAIT,
DEBUG DIGEST / DIGEST-VALUE, and the replication fields of INFO.

The handlers parse and answer with Redis 7's texts; the work is done by the
node's replication object (server.replication, ringcache/replication/).
"""

from __future__ import annotations

import logging
from typing import Any

from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import Raw, SimpleString
from ..replication.digest import ZERO, dataset_digest, value_digest
from .registry import command
from .debug import debug_subcommand
from .info import SECTIONS, register_info_section

log = logging.getLogger("ringcache")

OK = SimpleString(b"OK")
NO_REPLY = Raw(b"")
INVALID_PORT = "ERR Invalid master port"
NOMASTERLINK = "NOMASTERLINK Can't SYNC while not connected with my master"
WAIT_ON_REPLICA = ("ERR WAIT cannot be used with replica instances. Please also note that since "
                   "Redis 4.0 if a replica is configured to be writable (which is not the default) "
                   "writes to replicas are just local and are not propagated.")


NOT_INTEGER = "ERR value is not an integer or out of range"


def _int(arg: bytes, message: str) -> int:
    """string2ll: an optional minus sign and digits, nothing else."""
    text = arg.decode("ascii", "replace")
    body = text[1:] if text.startswith("-") else text
    if not body.isdigit() or not body.isascii() or (len(body) > 1 and body[0] == "0"):
        raise CommandError(message)
    return int(text)



# -- REPLICAOF --------------------------------------------------------------

@command("replicaof", 3, "admin noscript stale", group="server", since="5.0.0",
         summary="Configures a server as replica of another, or "
         "promotes it to a master.", complexity="O(1)")
def replicaof(session: Any, argv: list) -> Any:
    server = session.server
    if server.config["cluster-enabled"]:
        raise CommandError("ERR REPLICAOF not allowed in cluster mode.")
    replication = server.replication
    if argv[1].lower() == b"no" and argv[2].lower() == b"one":
        if replication.is_replica:
            replication.promote()
            log.info("MASTER MODE enabled (user request from '%s')", session.addr)
        return OK
    if session.is_replica:
        raise CommandError("ERR Command is not valid when client is a replica.")
    try:
        port = int(argv[2])
    except ValueError:
        raise CommandError(INVALID_PORT) from None
    if not 0 <= port <= 65535:
        raise CommandError(INVALID_PORT)
    host = argv[1].decode("utf-8", "replace")
    replica = replication.replica
    if replica is not None and replica.host.lower() == host.lower() and replica.port == port:
        log.info("REPLICAOF would result into synchronization with the master we are already "
                 "connected with. No operation performed.")
        return SimpleString(b"OK Already connected to specified master")
    replication.follow(host, port)
    log.info("REPLICAOF %s:%d enabled (user request from '%s')", host, port, session.addr)
    return OK


@command("slaveof", 3, "admin noscript stale", group="server", since="1.0.0",
         summary="Sets a Redis server as a replica of another, or "
         "promotes it to being a master.", complexity="O(1)")
def slaveof(session: Any, argv: list) -> Any:
    return replicaof(session, argv)


# -- ROLE -------------------------------------------------------------------

@command("role", 1, "noscript loading stale fast", group="server", since="2.8.12",
         acl="@admin @dangerous", summary="Returns the replication role.", complexity="O(1)")
def role(session: Any, argv: list) -> Any:
    return session.server.replication.role()


# -- REPLCONF, PSYNC, SYNC (spoken by replicas) ------------------------------

@command("replconf", -1, "admin noscript loading stale allow_busy", group="server", since="3.0.0",
         summary="An internal command for configuring the "
         "replication stream.", complexity="O(1)")
def replconf(session: Any, argv: list) -> Any:
    if len(argv) % 2 == 0:
        raise CommandError(errors.SYNTAX)
    replication = session.server.replication
    for i in range(1, len(argv), 2):
        option = argv[i].lower()
        value = argv[i + 1]
        if option == b"listening-port":
            session.replica_listening_port = _int(value, NOT_INTEGER)
            if session.replica_link is not None:
                session.replica_link.listening_port = session.replica_listening_port
        elif option in (b"ip-address", b"capa", b"rdb-only", b"rdb-filter-only"):
            pass  # accepted; every replica gets the same stream here
        elif option == b"ack":
            if session.is_replica:
                try:
                    offset = int(value)
                except ValueError:
                    return NO_REPLY
                replication.primary.ack(session, offset)
            return NO_REPLY  # never answered (Redis)
        elif option == b"getack":
            return NO_REPLY  # only meaningful from a primary (replica.py)
        elif option == b"shard-epoch" and session.server.cluster is not None:
            # A cluster replica checks that its primary is not older than
            # its map (replication/replica.py): answer this node's shard's
            # config epoch.
            _int(value, NOT_INTEGER)
            cluster = session.server.cluster
            return cluster.map.config_epoch(cluster.myself)
        else:
            raise CommandError(f"ERR Unrecognized REPLCONF option: {argv[i].decode('utf-8', 'replace')}")
    return OK


def _psync_allowed(session: Any) -> None:
    replication = session.server.replication
    if session.is_replica:
        raise CommandError("ERR Replica can't sync again")  # (already attached)
    if replication.is_replica and not replication.link_up:
        raise CommandError(NOMASTERLINK)
    if session.multi is not None:
        raise CommandError("ERR Command not allowed inside a transaction")


@command("psync", -3, "admin noscript no_multi", group="server", since="2.8.0",
         summary="An internal command used in replication.",
         complexity="")
def psync(session: Any, argv: list) -> Any:
    _psync_allowed(session)
    replid = argv[1].decode("utf-8", "replace")
    try:
        offset = int(argv[2])
    except ValueError:
        raise CommandError(NOT_INTEGER) from None
    return Raw(session.server.replication.primary.psync(session, replid, offset, psync2=True))


@command("sync", 1, "admin noscript no_multi", group="server", since="1.0.0",
         summary="An internal command used in replication.",
         complexity="")
def sync(session: Any, argv: list) -> Any:
    _psync_allowed(session)
    head = session.server.replication.primary.psync(session, "?", -1, psync2=False)
    # SYNC (the old protocol) has no +FULLRESYNC line: the snapshot comes first.
    return NO_REPLY if head.startswith(b"+FULLRESYNC") or not head else Raw(head)


# -- WAIT ---------------------------------------------------------------------

@command("wait", 3, "noscript", group="generic", since="3.0.0", acl="@connection",
         summary="Blocks until the asynchronous replication of all preceding write commands sent "
         "by the connection is completed.", complexity="O(1)")
def wait(session: Any, argv: list) -> Any:
    replication = session.server.replication
    if replication.is_replica:
        raise CommandError(WAIT_ON_REPLICA)
    wanted = _int(argv[1], NOT_INTEGER)
    timeout = _int(argv[2], "ERR timeout is not an integer or out of range")
    if timeout < 0:
        raise CommandError("ERR timeout is negative")
    return replication.primary.wait(session, wanted, timeout)


# -- DEBUG DIGEST / DIGEST-VALUE ---------------------------------------------------

def _debug_digest(session: Any, argv: list) -> Any:
    server = session.server
    now = server.clock.ms()
    databases = [(db.index, db.data, db.expires) for db in server.live_dbs()]
    return SimpleString(dataset_digest(databases, now).encode())


def _debug_digest_value(session: Any, argv: list) -> Any:
    db = session.db
    now = session.server.clock.ms()
    out = []
    for key in argv[2:]:
        value = db.data.get(key)
        when = db.expires.get(key)
        if value is None or (when is not None and when < now):
            out.append(SimpleString(ZERO.hex().encode()))
        else:
            out.append(SimpleString(value_digest(value, when is not None).hex().encode()))
    return out


debug_subcommand("digest", 2)(_debug_digest)
debug_subcommand("digest-value", -2)(_debug_digest_value)  # DEBUG DIGEST-VALUE key [key ...]


# -- INFO ----------------------------------------------------------------------

def _replication_section(server: Any) -> list[tuple[str, Any]]:
    return server.replication.info_fields()


register_info_section("replication", _replication_section)

_stats = SECTIONS["stats"]


def _stats_section(server: Any) -> list[tuple[str, Any]]:
    primary = server.replication.primary
    own = {
        "sync_full": primary.sync_full,
        "sync_partial_ok": primary.sync_partial_ok,
        "sync_partial_err": primary.sync_partial_err,
        "total_net_repl_input_bytes": server.replication.repl_input_bytes,
        "total_net_repl_output_bytes": primary.repl_output_bytes,
    }
    return [(name, own.get(name, value)) for name, value in _stats(server)]


register_info_section("stats", _stats_section)
