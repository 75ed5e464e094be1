"""The rest of the server commands: TIME, LASTSAVE, SLOWLOG, MONITOR and
SHUTDOWN (server.c, slowlog.c in Redis).

The node-administration families have modules of their own: INFO
(commands/info.py), CONFIG (config.py), CLIENT (client.py), COMMAND
(introspection.py), DEBUG (debug.py), MEMORY (memory.py), SAVE and friends
(persistence.py). Like them, these handlers read the state other layers own
and change it only through those layers' entry points (`server.shutdown()`,
`server.persistence.prepare_shutdown`); the dispatcher records the slow log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import OK
from ._admin import NO_REPLY, help_subcommand, to_bytes
from ._args import parse_int
from .registry import command, container, subcommand

if TYPE_CHECKING:
    from ..server.session import Session


@command("time", 1, "loading stale fast", group="server", since="2.6.0", tips="nondeterministic_output",
         summary="Returns the server time.", complexity="O(1)")
def time_(session: Session, argv: list[bytes]) -> Any:
    # The server's clock, so that DEBUG ADVANCE-CLOCK moves TIME along with
    # the TTLs it is compared with.
    usec = int(session.server.clock.ms() * 1000)
    return [b"%d" % (usec // 1_000_000), b"%d" % (usec % 1_000_000)]


@command("lastsave", 1, "loading stale fast", group="server", since="1.0.0", acl="@admin @dangerous",
         tips="nondeterministic_output",
         summary="Returns the Unix timestamp of the last successful save to disk.", complexity="O(1)")
def lastsave(session: Session, argv: list[bytes]) -> Any:
    return int(session.server.lastsave)


# -----------------------------------------------------------------------------
# SLOWLOG (the dispatcher records the entries)

SLOWLOG = container("slowlog", -2, group="server", since="2.2.12",
                    summary="A container for slow log commands.")
_SLOWLOG_FLAGS = "admin loading stale"


@subcommand(SLOWLOG, "get", -2, _SLOWLOG_FLAGS, since="2.2.12",
            tips="request_policy:all_nodes nondeterministic_output",
            summary="Returns the slow log's entries.", complexity="O(N) where N is the number of entries returned")
def slowlog_get(session: Session, argv: list[bytes]) -> Any:
    slowlog = session.server.dispatcher.slowlog
    if len(argv) > 3:
        raise CommandError(errors.subcommand_syntax(argv[1], "slowlog"))
    count = 10
    if len(argv) == 3:
        count = parse_int(argv[2], errors.SLOWLOG_COUNT)
        if count < -1:
            raise CommandError(errors.SLOWLOG_COUNT)
        if count == -1:
            count = len(slowlog)
    out = []
    for entry in list(slowlog)[:count]:
        out.append([entry.id, entry.timestamp, entry.duration_us, list(entry.args),
                    to_bytes(entry.addr), entry.name])
    return out


@subcommand(SLOWLOG, "len", 2, _SLOWLOG_FLAGS, since="2.2.12",
            tips="request_policy:all_nodes response_policy:agg_sum nondeterministic_output",
            summary="Returns the number of entries in the slow log.", complexity="O(1)")
def slowlog_len(session: Session, argv: list[bytes]) -> Any:
    return len(session.server.dispatcher.slowlog)


@subcommand(SLOWLOG, "reset", 2, _SLOWLOG_FLAGS, since="2.2.12",
            tips="request_policy:all_nodes response_policy:all_succeeded",
            summary="Clears all entries from the slow log.", complexity="O(N) where N is the number of entries in the slowlog")
def slowlog_reset(session: Session, argv: list[bytes]) -> Any:
    session.server.dispatcher.slowlog.clear()  # ids keep counting, as in Redis
    return OK


_SLOWLOG_HELP = (
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
)


help_subcommand(SLOWLOG, _SLOWLOG_HELP, since="6.2.0",
                summary="Show helpful text about the different subcommands")


# -----------------------------------------------------------------------------
# MONITOR, SHUTDOWN


# Redis lets MULTI queue MONITOR and fails it inside EXEC ("MONITOR isn't
# allowed for DENY BLOCKING client"). A handler cannot tell that it runs
# inside EXEC here, so `no_multi` refuses it when it is queued instead: the
# transaction aborts and the client never enters monitor mode either way.
@command("monitor", 1, "admin noscript loading stale no_multi", group="server", since="1.0.0",
         summary="Listens for all requests received by the server in real-time.")
def monitor(session: Session, argv: list[bytes]) -> Any:
    if session.monitor:
        return NO_REPLY  # Redis ignores a second MONITOR without a reply
    session.monitor = True
    session.server.monitors.add(session)
    return OK


@command("shutdown", -1, "admin noscript loading stale no_multi allow_busy", group="server",
         since="1.0.0", summary="Synchronously saves the database(s) to disk and shuts down the Redis server.",
         complexity="O(N) when saving, where N is the total number of keys in all databases when saving "
                    "data, otherwise O(1)")
def shutdown(session: Session, argv: list[bytes]) -> Any:
    options = set()
    for arg in argv[1:]:
        option = arg.lower()
        if option not in (b"nosave", b"save", b"now", b"force", b"abort"):
            raise CommandError(errors.SYNTAX)
        options.add(option)
    if (b"abort" in options and len(options) > 1) or {b"nosave", b"save"} <= options:
        raise CommandError(errors.SYNTAX)
    wait = session.server.replication.shutdown_wait  # (replication/shutdown.py: waits for replicas)
    if b"abort" in options:
        if not wait.abort():
            raise CommandError(errors.SHUTDOWN_ABORT_FAILED)
        return OK
    # SAVE / NOSAVE override the save points; NOW does not wait for lagging
    # replicas; FORCE exits even if the final save failed. The connection
    # closes without a reply.
    save = True if b"save" in options else False if b"nosave" in options else None
    parked = wait.request(session, save, now=b"now" in options, force=b"force" in options)
    return NO_REPLY if parked is None else parked


