"""Server and administration commands: INFO, CONFIG, CLIENT, COMMAND, TIME,
LASTSAVE, SLOWLOG, MONITOR, SHUTDOWN and DEBUG (networking.c, config.c,
server.c, debug.c and slowlog.c in Redis).

Theory of operation
-------------------
These commands describe the node rather than the data, so they read the
state other layers own and change it only through those layers' own entry
points: `config.set_many` for CONFIG SET (all or nothing), `server.pause` for
CLIENT PAUSE, `session.close()` for CLIENT KILL, `server.shutdown()` for
SHUTDOWN. Nothing here keeps a second copy of a counter.

* INFO is a list of sections, each a function from the server to
  `(field, value)` pairs, printed in Redis's fixed order as "# Title" blocks
  with CRLF line ends, in a Verbatim reply. Later subsystems (persistence,
  replication, pub/sub, cluster) replace a section with
  `register_info_section` instead of editing this file.
* COMMAND, COMMAND INFO/DOCS/LIST/GETKEYS are generated from the command
  table (commands.registry): arity, flags and key positions are the ones the
  dispatcher itself uses, so the two cannot disagree. The Redis 7 reply
  carries a few things the table does not declare; they are derived the way
  Redis derives them: ACL categories from the flags and the command group
  (setImplicitACLCategories), a key spec from (first, last, step).
* CLIENT LIST prints the Redis 7.4 line for each session; fields that have
  no meaning here (the reply buffer of a C client) are printed as 0 so that
  parsers find every field they expect.

Replies whose order matters to a reader but that Redis sends as RESP3 sets
(command flags, ACL categories) are pre-encoded as `Raw`, because a Python
set has no stable order; everything else is a plain reply value.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import resource
import sys
import time
from typing import Any, Callable, Iterable

from .. import REDIS_VERSION, __version__
from ..config import ConfigError, format_memory_human, stringmatch
from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import OK, Raw, SimpleString, Verbatim
from ..pubsub import client_list_fields, info_fields
from ._args import is_int_text, parse_int
from .connection import validate_client_name
from .keys import TYPES
from .registry import COMMANDS, CommandSpec, command, container, lookup, subcommand

log = logging.getLogger("ringcache")

NO_REPLY = Raw(b"")  # encodes to nothing: CLIENT REPLY OFF/SKIP, SHUTDOWN


def _text(arg: bytes) -> str:
    # Config names and values are text; surrogateescape keeps any byte intact
    # (ringcache.config reads files the same way).
    return arg.decode("utf-8", "surrogateescape")


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _help(argv: list, lines: Iterable[str]) -> list:
    """addReplyHelp: a header naming the command as sent, the lines, HELP."""
    head = f"{argv[0].decode('utf-8', 'replace').upper()} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    return [SimpleString(_bytes(line)) for line in (head, *lines, "HELP", "    Prints this help.")]


def _status_set(session: Any, items: Iterable[str]) -> Raw:
    """A set of status strings in a fixed order (RESP3 '~', RESP2 '*')."""
    items = list(items)
    head = b"~%d\r\n" if session.protocol == 3 else b"*%d\r\n"
    return Raw(head % len(items) + b"".join(b"+%b\r\n" % _bytes(item) for item in items))


def _bulk_set(session: Any, items: Iterable[str]) -> Raw:
    values = [_bytes(item) for item in items]
    head = b"~%d\r\n" if session.protocol == 3 else b"*%d\r\n"
    return Raw(head % len(values) + b"".join(b"$%d\r\n%b\r\n" % (len(v), v) for v in values))


def all_specs() -> Iterable[CommandSpec]:
    """Every command and subcommand in the table, parents first."""
    for spec in COMMANDS.values():
        yield spec
        yield from spec.subcommands.values()


# -----------------------------------------------------------------------------
# Per-server bookkeeping that only these commands need.


class _AdminState:
    __slots__ = ("baseline_rss", "replid")

    def __init__(self) -> None:
        self.baseline_rss = _BASELINE_RSS
        # The replication ID a master reports; real once replication exists.
        self.replid = os.urandom(20).hex()


def _state(server: Any) -> _AdminState:
    state = server.__dict__.get("_admin_state")
    if state is None:
        state = server._admin_state = _AdminState()
    return state


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# This module is imported while the server is being built (Server.__init__ ->
# load_all), after the interpreter and the other modules are loaded: what the
# process holds then is the cost of an empty node.
_BASELINE_RSS = _rss()


def used_memory(server: Any) -> int:
    """An estimate of the memory the data and clients use.

    Until the memory-accounting issue lands (per-value sizes kept by the
    keyspace), this is RSS minus the RSS measured at start-up: it includes
    allocator slack and never shrinks when keys are deleted, because freed
    Python objects stay in the process's pools. A server that gains a
    `used_memory()` method (the accounting issue) is asked instead."""
    precise = getattr(server, "used_memory", None)
    if callable(precise):
        return int(precise())
    return max(server.rss_bytes() - _state(server).baseline_rss, 0)


# -----------------------------------------------------------------------------
# INFO

Section = Callable[[Any], list[tuple[str, Any]]]

# Redis's section order (genRedisInfoString). "commandstats" is not in the
# default set; "all" and "everything" print every section.
SECTION_ORDER: list[str] = [
    "server", "clients", "memory", "persistence", "stats", "replication", "cpu",
    "modules", "commandstats", "errorstats", "cluster", "keyspace",
]
_NOT_DEFAULT = {"commandstats"}
_TITLES = {"cpu": "CPU"}
SECTIONS: dict[str, Section] = {}


def register_info_section(name: str, provider: Section, *, default: bool = True,
                          after: str | None = None) -> None:
    """Add or replace an INFO section. A new section is printed after `after`
    (default: before keyspace, like Redis's module sections)."""
    name = name.lower()
    SECTIONS[name] = provider
    if name not in SECTION_ORDER:
        index = SECTION_ORDER.index(after) + 1 if after in SECTION_ORDER else SECTION_ORDER.index("keyspace")
        SECTION_ORDER.insert(index, name)
    if default:
        _NOT_DEFAULT.discard(name)
    else:
        _NOT_DEFAULT.add(name)


def _human(n: int) -> str:
    return format_memory_human(n)


def _server_section(server: Any) -> list[tuple[str, Any]]:
    config = server.config
    uname = platform.uname()
    uptime = int(server.uptime())
    binds = config["bind"]
    binds = binds.split() if isinstance(binds, str) else list(binds)
    listener = ",".join(["name=tcp", *(f"bind={b}" for b in binds), f"port={server.port}"])
    return [
        ("redis_version", REDIS_VERSION),
        ("redis_git_sha1", "00000000"),
        ("redis_git_dirty", 0),
        ("redis_build_id", "0"),
        ("redis_mode", "cluster" if config["cluster-enabled"] else "standalone"),
        ("ringcache_version", __version__),
        ("os", f"{uname.system} {uname.release} {uname.machine}"),
        ("arch_bits", 64 if sys.maxsize > 2**32 else 32),
        ("monotonic_clock", "POSIX clock_gettime"),
        ("multiplexing_api", "epoll" if sys.platform.startswith("linux") else "kqueue"),
        ("python_version", platform.python_version()),
        ("process_id", os.getpid()),
        ("process_supervised", "no"),
        ("run_id", server.run_id),
        ("tcp_port", server.port),
        ("server_time_usec", int(time.time() * 1_000_000)),
        ("uptime_in_seconds", uptime),
        ("uptime_in_days", uptime // 86400),
        ("hz", config["hz"]),
        ("configured_hz", config["hz"]),
        ("lru_clock", int(time.time()) & (2**24 - 1)),
        ("executable", sys.executable),
        ("config_file", config.config_file or ""),
        ("io_threads_active", 0),
        ("listener0", listener),
    ]


def _buffer_size(getter: Callable[[], int]) -> int:
    try:
        return int(getter())
    except Exception:  # a transport that is closing may refuse to answer
        return 0


def _clients_section(server: Any) -> list[tuple[str, Any]]:
    sessions = list(server.clients.values())
    max_in = max((_buffer_size(s.query_buffer_size) for s in sessions), default=0)
    max_out = max((_buffer_size(s.output_buffer_size) for s in sessions), default=0)
    return [
        ("connected_clients", len(sessions)),
        ("cluster_connections", 0),
        ("maxclients", server.config["maxclients"]),
        ("client_recent_max_input_buffer", max_in),
        ("client_recent_max_output_buffer", max_out),
        ("blocked_clients", server.blocking.clients),
        ("tracking_clients", info_fields(server).get("tracking_clients", 0)),
        ("pubsub_clients", sum(1 for s in sessions if s.subscriptions)),
        ("watching_clients", sum(1 for s in sessions if s.watched)),
        ("clients_in_timeout_table", server.blocking.timed),
        ("total_watched_keys", sum(len(db.watchers) for db in server.live_dbs())),
        ("total_blocking_keys", server.blocking.blocking_keys()),
        ("total_blocking_keys_on_nokey", 0),
    ]


def _memory_section(server: Any) -> list[tuple[str, Any]]:
    state = _state(server)
    used = used_memory(server)
    rss = server.rss_bytes()
    peak = server.peak_memory  # (used_memory() follows it)
    maxmemory = server.config["maxmemory"]
    try:
        total_system = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError):
        total_system = 0
    return [
        ("used_memory", used),
        ("used_memory_human", _human(used)),
        ("used_memory_rss", rss),
        ("used_memory_rss_human", _human(rss)),
        ("used_memory_peak", peak),
        ("used_memory_peak_human", _human(peak)),
        ("used_memory_peak_perc", "%.2f%%" % (100.0 * used / peak if peak else 100.0)),
        ("used_memory_startup", state.baseline_rss),
        ("total_system_memory", total_system),
        ("total_system_memory_human", _human(total_system)),
        ("maxmemory", maxmemory),
        ("maxmemory_human", _human(maxmemory)),
        ("maxmemory_policy", server.config["maxmemory-policy"]),
        ("mem_fragmentation_ratio", "%.2f" % (rss / used if used else 0.0)),
        ("mem_fragmentation_bytes", rss - used),
        ("mem_allocator", "pymalloc"),
        ("lazyfree_pending_objects", 0),
    ]


def last_save_time(server: Any) -> int:
    """When the data was last saved; the start time until persistence exists."""
    return int(getattr(server, "lastsave", 0) or server.start_time)


def _persistence_section(server: Any) -> list[tuple[str, Any]]:
    return [
        ("loading", 0),
        ("async_loading", 0),
        ("current_cow_peak", 0),
        ("current_cow_size", 0),
        ("current_fork_perc", "0.00"),
        ("rdb_changes_since_last_save", server.dirty),
        ("rdb_bgsave_in_progress", 0),
        ("rdb_last_save_time", last_save_time(server)),
        ("rdb_last_bgsave_status", "ok"),
        ("rdb_last_bgsave_time_sec", -1),
        ("rdb_current_bgsave_time_sec", -1),
        ("rdb_saves", 0),
        ("aof_enabled", 0),
        ("aof_rewrite_in_progress", 0),
        ("aof_rewrite_scheduled", 0),
        ("aof_last_rewrite_time_sec", -1),
        ("aof_current_rewrite_time_sec", -1),
        ("aof_last_bgrewrite_status", "ok"),
        ("aof_rewrites", 0),
        ("aof_last_write_status", "ok"),
    ]


def _stats_section(server: Any) -> list[tuple[str, Any]]:
    stats = server.stats
    dispatcher = server.dispatcher
    pubsub_info = info_fields(server)
    return [
        ("total_connections_received", stats.connections_received),
        ("total_commands_processed", dispatcher.total_commands),
        ("instantaneous_ops_per_sec", server.ops_per_sec()),
        ("total_net_input_bytes", stats.net_input_bytes),
        ("total_net_output_bytes", stats.net_output_bytes),
        ("total_net_repl_input_bytes", 0),
        ("total_net_repl_output_bytes", 0),
        ("rejected_connections", stats.rejected_connections),
        ("sync_full", 0),
        ("sync_partial_ok", 0),
        ("sync_partial_err", 0),
        ("expired_keys", stats.expired_keys),
        ("expired_stale_perc", "%.2f" % (stats.expired_stale_perc * 100)),
        ("expired_time_cap_reached_count", 0),
        ("evicted_keys", stats.evicted_keys),
        ("evicted_clients", 0),
        ("keyspace_hits", stats.hits),
        ("keyspace_misses", stats.misses),
        *((name, pubsub_info.get(name, 0)) for name in
          ("pubsub_channels", "pubsub_patterns", "pubsubshard_channels")),
        ("latest_fork_usec", server.persistence.latest_fork_usec),
        ("total_forks", server.persistence.total_forks),
        *((name, pubsub_info.get(name, 0)) for name in
          ("tracking_total_keys", "tracking_total_items", "tracking_total_prefixes")),
        ("unexpected_error_replies", 0),
        ("total_error_replies", dispatcher.total_errors),
        ("total_protocol_errors", stats.protocol_errors),
    ]


def _replication_section(server: Any) -> list[tuple[str, Any]]:
    return [
        ("role", "master"),
        ("connected_slaves", 0),
        ("master_failover_state", "no-failover"),
        ("master_replid", _state(server).replid),
        ("master_replid2", "0" * 40),
        ("master_repl_offset", 0),
        ("second_repl_offset", -1),
        ("repl_backlog_active", 0),
        ("repl_backlog_size", server.config["repl-backlog-size"]),
        ("repl_backlog_first_byte_offset", 0),
        ("repl_backlog_histlen", 0),
    ]


def _cpu_section(server: Any) -> list[tuple[str, Any]]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    thread = resource.getrusage(getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF))
    return [
        ("used_cpu_sys", "%.6f" % me.ru_stime),
        ("used_cpu_user", "%.6f" % me.ru_utime),
        ("used_cpu_sys_children", "%.6f" % children.ru_stime),
        ("used_cpu_user_children", "%.6f" % children.ru_utime),
        ("used_cpu_sys_main_thread", "%.6f" % thread.ru_stime),
        ("used_cpu_user_main_thread", "%.6f" % thread.ru_utime),
    ]


def _commandstats_section(server: Any) -> list[tuple[str, Any]]:
    out = []
    for spec in all_specs():
        if spec.calls or spec.rejected_calls or spec.failed_calls:
            usec = int(spec.time_s * 1e6)
            per_call = spec.time_s * 1e6 / spec.calls if spec.calls else 0.0
            out.append((
                f"cmdstat_{spec.fullname}",
                f"calls={spec.calls},usec={usec},usec_per_call={per_call:.2f},"
                f"rejected_calls={spec.rejected_calls},failed_calls={spec.failed_calls}",
            ))
    return out


def _errorstats_section(server: Any) -> list[tuple[str, Any]]:
    # Redis counts errors per prefix (errorstat_ERR, errorstat_WRONGTYPE). The
    # dispatcher keeps only the total (total_error_replies in Stats), so the
    # section is printed empty rather than with a made-up split.
    return []


def _keyspace_section(server: Any) -> list[tuple[str, Any]]:
    out = []
    for db in server.live_dbs():
        keys = db.size()
        if keys:
            out.append((f"db{db.index}", f"keys={keys},expires={db.expires_count()},"
                                         f"avg_ttl={int(db.avg_ttl)},subexpiry=0"))
    return out


SECTIONS.update({
    "server": _server_section,
    "clients": _clients_section,
    "memory": _memory_section,
    "persistence": _persistence_section,
    "stats": _stats_section,
    "replication": _replication_section,
    "cpu": _cpu_section,
    "modules": lambda server: [],
    "commandstats": _commandstats_section,
    "errorstats": _errorstats_section,
    "cluster": lambda server: [("cluster_enabled", 1 if server.config["cluster-enabled"] else 0)],
    "keyspace": _keyspace_section,
})


def info_text(server: Any, names: list[str]) -> str:
    """The INFO text for the requested section names (lower case)."""
    if not names:
        names = ["default"]
    wanted: set[str] = set()
    for name in names:
        if name in ("all", "everything"):
            wanted.update(SECTION_ORDER)
        elif name == "default":
            wanted.update(s for s in SECTION_ORDER if s not in _NOT_DEFAULT)
        else:
            wanted.add(name)  # an unknown name selects nothing, as in Redis
    blocks = []
    for name in SECTION_ORDER:
        if name in wanted and name in SECTIONS:
            title = _TITLES.get(name, name.capitalize())
            lines = [f"# {title}"] + [f"{field}:{value}" for field, value in SECTIONS[name](server)]
            blocks.append("\r\n".join(lines) + "\r\n")
    return "\r\n".join(blocks)


@command("info", -1, "loading stale", group="server", since="1.0.0", acl="@slow @dangerous",
         summary="Returns information and statistics about the server.",
         complexity="O(1)")
def info(session: Any, argv: list) -> Any:
    names = [arg.decode("utf-8", "replace").lower() for arg in argv[1:]]
    return Verbatim(_bytes(info_text(session.server, names)))


# -----------------------------------------------------------------------------
# CONFIG

CONFIG = container("config", -2, group="server", since="2.0.0",
                   summary="A container for server configuration commands.")
_ADMIN = "admin noscript loading stale"
_ADMIN_ACL = "@admin @slow @dangerous"


@subcommand(CONFIG, "get", -3, _ADMIN, acl=_ADMIN_ACL, since="2.0.0",
      summary="Returns the effective values of configuration parameters.",
      complexity="O(N) when N is the number of configuration parameters provided")
def config_get(session: Any, argv: list) -> Any:
    pairs = session.server.config.match_many([_text(arg) for arg in argv[2:]])
    return {_bytes(name): _bytes(value) for name, value in pairs}


@subcommand(CONFIG, "set", -4, _ADMIN, acl=_ADMIN_ACL, since="2.0.0",
      summary="Sets configuration parameters in-flight.",
      complexity="O(N) when N is the number of configuration parameters provided")
def config_set(session: Any, argv: list) -> Any:
    if len(argv) % 2:  # name value pairs
        raise CommandError(errors.SYNTAX)
    pairs = [(_text(argv[i]), _text(argv[i + 1])) for i in range(2, len(argv), 2)]
    try:
        session.server.config.set_many(pairs)
    except ConfigError as exc:
        raise CommandError(exc.message) from None
    return OK


def reset_stats(server: Any) -> None:
    """CONFIG RESETSTAT: server counters, every command's counters, the
    dispatcher's totals and the memory peak (Redis's resetServerStats)."""
    server.stats.reset()
    for spec in all_specs():
        spec.calls = spec.rejected_calls = spec.failed_calls = 0
        spec.time_s = 0.0
    # total_commands is the sum of the per-command counters reset above.
    server.dispatcher.total_errors = 0
    server.peak_memory = 0


@subcommand(CONFIG, "resetstat", 2, _ADMIN, acl=_ADMIN_ACL, since="2.0.0",
      summary="Resets the server's statistics.", complexity="O(1)")
def config_resetstat(session: Any, argv: list) -> Any:
    reset_stats(session.server)
    return OK


@subcommand(CONFIG, "rewrite", 2, _ADMIN, acl=_ADMIN_ACL, since="2.8.0",
      summary="Persists the effective configuration to file.", complexity="O(1)")
def config_rewrite(session: Any, argv: list) -> Any:
    try:
        session.server.config.rewrite()
    except ConfigError as exc:
        log.warning("CONFIG REWRITE failed: %s", exc.reason)
        raise CommandError(exc.message) from None
    log.info("CONFIG REWRITE executed with success.")
    return OK


_CONFIG_HELP = (
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
)


@subcommand(CONFIG, "help", 2, "loading stale", acl="@slow", since="5.0.0",
      summary="Returns helpful text about the different subcommands.", complexity="O(1)")
def config_help(session: Any, argv: list) -> Any:
    return _help(argv, _CONFIG_HELP)


# -----------------------------------------------------------------------------
# CLIENT

CLIENT = container("client", -2, group="connection", since="2.4.0",
                   summary="A container for client connection commands.")
_CONN = "noscript loading stale"
_CONN_ACL = "@slow @connection"
_CONN_ADMIN_ACL = "@admin @slow @dangerous @connection"

_CLIENT_TYPES = {b"normal": "normal", b"slave": "replica", b"replica": "replica",
                 b"pubsub": "pubsub", b"master": "master"}


def client_type(session: Any) -> str:
    """getClientType(): MONITOR clients count as normal."""
    if getattr(session, "is_replica", False) and not session.monitor:
        return "replica"
    if getattr(session, "is_master", False):
        return "master"
    if session.subscriptions:
        return "pubsub"
    return "normal"


def _flags(session: Any, tracking: str = "") -> str:
    flags = ""
    if session.monitor:
        flags += "O"
    elif session.is_replica:
        flags += "S"
    if session.is_master:
        flags += "M"
    if session.subscriptions:
        flags += "P"
    if session.multi is not None:
        flags += "x"
    if session.blocked is not None:  # waiting in BLPOP & co (server/blocking.py)
        flags += "b"
    flags += tracking  # t, R, B (client tracking, pubsub.tracking)
    if session.dirty_cas:
        flags += "d"
    if session.closing:
        flags += "c"
    if session.no_evict:
        flags += "e"
    if session.no_touch:
        flags += "T"
    return flags or "N"


def _last_command_name(session: Any) -> str:
    last = session.last_command
    if isinstance(last, CommandSpec):
        return last.fullname
    if last == b"NULL":
        return "NULL"
    spec = lookup(last)
    # The session keeps only argv[0], so a container shows without its
    # subcommand ("client" where Redis says "client|list").
    return spec.fullname if spec else last.decode("utf-8", "replace").lower()


def client_line(session: Any, current: tuple[str, list] | None = None) -> str:
    """One CLIENT LIST line, Redis 7.4's fields in Redis's order. `current`
    is (command name, argv) of the command being run by this very client:
    Redis shows it in cmd= and argv-mem= for the caller."""
    now = time.monotonic()
    qbuf = _buffer_size(session.query_buffer_size)
    omem = _buffer_size(session.output_buffer_size)
    if current is not None:
        cmd, argv = current
        argv_mem = sum(len(arg) for arg in argv)
    else:
        cmd, argv_mem = _last_command_name(session), 0
    multi = session.multi
    multi_mem = sum(len(arg) for _, queued in multi for arg in queued) if multi else 0
    sub, psub, ssub, tracking_flags, redir = client_list_fields(session)
    return (
        f"id={session.id} addr={session.addr} laddr={session.laddr} fd={session.fd} "
        f"name={session.name.decode('utf-8', 'replace')} "
        f"age={int(now - session.created)} idle={int(now - session.last_interaction)} "
        f"flags={_flags(session, tracking_flags)} db={session.db_index} sub={sub} psub={psub} ssub={ssub} "
        f"multi={len(multi) if multi is not None else -1} watch={len(session.watched)} "
        f"qbuf={qbuf} qbuf-free=0 argv-mem={argv_mem} multi-mem={multi_mem} rbs=0 rbp=0 "
        f"obl=0 oll=0 omem={omem} tot-mem={qbuf + omem + argv_mem + multi_mem} "
        f"events={'rw' if omem else 'r'} cmd={cmd} user=default redir={redir} resp={session.protocol} "
        f"lib-name={session.lib_name.decode('utf-8', 'replace')} "
        f"lib-ver={session.lib_ver.decode('utf-8', 'replace')}"
    )


def _current(argv: list) -> tuple[str, list]:
    return f"{argv[0].decode('utf-8', 'replace').lower()}|{argv[1].decode('utf-8', 'replace').lower()}", argv


@subcommand(CLIENT, "id", 2, _CONN, acl=_CONN_ACL, since="5.0.0",
      summary="Returns the unique client ID of the connection.", complexity="O(1)")
def client_id(session: Any, argv: list) -> Any:
    return session.id


@subcommand(CLIENT, "setname", 3, _CONN, acl=_CONN_ACL, since="2.6.9",
      summary="Sets the connection name.", complexity="O(1)")
def client_setname(session: Any, argv: list) -> Any:
    validate_client_name(argv[2])
    session.name = argv[2]
    return OK


@subcommand(CLIENT, "getname", 2, _CONN, acl=_CONN_ACL, since="2.6.9",
      summary="Returns the name of the connection.", complexity="O(1)")
def client_getname(session: Any, argv: list) -> Any:
    return session.name or None


@subcommand(CLIENT, "setinfo", 4, _CONN, acl=_CONN_ACL, since="7.2.0",
      summary="Sets information specific to the client or connection.", complexity="O(1)")
def client_setinfo(session: Any, argv: list) -> Any:
    attr = argv[2].lower()
    if attr not in (b"lib-name", b"lib-ver"):
        raise CommandError(errors.unrecognized_option(argv[2]))
    value = argv[3]
    if any(c < 0x21 or c > 0x7E for c in value):  # validateClientAttr
        raise CommandError(errors.client_attr_chars(argv[2]))
    if attr == b"lib-name":
        session.lib_name = value
    else:
        session.lib_ver = value
    return OK


def _parse_type(arg: bytes) -> str:
    kind = _CLIENT_TYPES.get(arg.lower())
    if kind is None:
        raise CommandError(errors.unknown_client_type(arg))
    return kind


@subcommand(CLIENT, "list", -2, _ADMIN, acl=_CONN_ADMIN_ACL, since="2.4.0",
      summary="Lists open connections.", complexity="O(N) where N is the number of client connections")
def client_list(session: Any, argv: list) -> Any:
    sessions = sorted(session.server.clients.values(), key=lambda s: s.id)
    if len(argv) == 4 and argv[2].lower() == b"type":
        kind = _parse_type(argv[3])
        sessions = [s for s in sessions if client_type(s) == kind]
    elif len(argv) >= 4 and argv[2].lower() == b"id":
        ids = []
        for arg in argv[3:]:
            ids.append(parse_int(arg, errors.INVALID_CLIENT_ID))
        by_id = session.server.clients
        sessions = [by_id[i] for i in dict.fromkeys(ids) if i in by_id]
    elif len(argv) != 2:
        raise CommandError(errors.SYNTAX)
    current = _current(argv)
    lines = [client_line(s, current if s is session else None) + "\n" for s in sessions]
    return Verbatim(_bytes("".join(lines)))


@subcommand(CLIENT, "info", 2, _CONN, acl=_CONN_ACL, since="6.2.0",
      summary="Returns information about the connection.", complexity="O(1)")
def client_info(session: Any, argv: list) -> Any:
    return Verbatim(_bytes(client_line(session, _current(argv)) + "\n"))


# CLIENT KILL's filters, one function each (a lambda in the loop would see the
# last value of a filter given twice).
def _attribute_is(name: str, wanted: Any) -> Callable[[Any], bool]:
    return lambda s: getattr(s, name) == wanted


def _type_is(kind: Any) -> Callable[[Any], bool]:
    return lambda s: client_type(s) == kind


def _older_than(seconds: int) -> Callable[[Any], bool]:
    return lambda s: time.monotonic() - s.created > seconds


def _kill(session: Any, victims: list) -> None:
    """Close victims; the caller itself is closed after its reply is sent."""
    for victim in victims:
        victim.closing = True
        if victim is not session and victim.close is not None:
            victim.close()


@subcommand(CLIENT, "kill", -3, _ADMIN, acl=_CONN_ADMIN_ACL, since="2.4.0",
      summary="Terminates open connections.", complexity="O(N) where N is the number of client connections")
def client_kill(session: Any, argv: list) -> Any:
    server = session.server
    if len(argv) == 3:
        # The old form: one address, and the caller may kill itself.
        addr = _text(argv[2])
        victims = [s for s in server.clients.values() if s.addr == addr]
        if not victims:
            raise CommandError(errors.NO_SUCH_CLIENT)
        _kill(session, victims)
        return OK
    tests: list[Callable[[Any], bool]] = []
    skipme = True
    i = 2
    while i < len(argv):
        if i + 1 >= len(argv):
            raise CommandError(errors.SYNTAX)
        option, value = argv[i].lower(), argv[i + 1]
        if option == b"id":
            wanted_id = parse_int(value, errors.CLIENT_ID_POSITIVE)
            if wanted_id < 1:
                raise CommandError(errors.CLIENT_ID_POSITIVE)
            tests.append(_attribute_is("id", wanted_id))
        elif option == b"type":
            kind = _parse_type(value)
            tests.append(_type_is(kind))
        elif option == b"addr":
            addr = _text(value)
            tests.append(_attribute_is("addr", addr))
        elif option == b"laddr":
            laddr = _text(value)
            tests.append(_attribute_is("laddr", laddr))
        elif option == b"user":
            if value != b"default":  # the only user until ACLs exist
                raise CommandError(errors.no_such_user(value))
        elif option == b"skipme":
            if value.lower() == b"yes":
                skipme = True
            elif value.lower() == b"no":
                skipme = False
            else:
                raise CommandError(errors.SYNTAX)
        elif option == b"maxage":
            max_age = parse_int(value, errors.MAXAGE_NOT_INTEGER)
            if max_age <= 0:
                raise CommandError(errors.MAXAGE_POSITIVE)
            tests.append(_older_than(max_age))
        else:
            raise CommandError(errors.SYNTAX)
        i += 2
    victims = [s for s in list(server.clients.values())
               if not (skipme and s is session) and all(test(s) for test in tests)]
    _kill(session, victims)
    return len(victims)


@subcommand(CLIENT, "unblock", -3, _ADMIN, acl=_CONN_ADMIN_ACL, since="5.0.0",
      summary="Unblocks a client blocked by a blocking command from a different connection.",
      complexity="O(log N) where N is the number of client connections")
def client_unblock(session: Any, argv: list) -> Any:
    if len(argv) > 4:
        raise CommandError(errors.subcommand_syntax(argv[1], "client"))
    client_id = parse_int(argv[2])
    error = False
    if len(argv) == 4:
        reason = argv[3].lower()
        if reason not in (b"timeout", b"error"):
            raise CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        error = reason == b"error"
    return int(session.server.blocking.unblock(client_id, error))


@subcommand(CLIENT, "pause", -3, _ADMIN, acl=_CONN_ADMIN_ACL, since="3.0.0",
      summary="Suspends commands processing.", complexity="O(1)")
def client_pause(session: Any, argv: list) -> Any:
    if len(argv) > 4:
        raise CommandError(errors.subcommand_syntax(argv[1], "client"))
    pause_all = True
    if len(argv) == 4:
        mode = argv[3].lower()
        if mode == b"write":
            pause_all = False
        elif mode != b"all":
            raise CommandError(errors.PAUSE_MODE)
    timeout_ms = parse_int(argv[2], errors.TIMEOUT_NOT_INTEGER)
    if timeout_ms < 0:
        raise CommandError(errors.TIMEOUT_NEGATIVE)
    session.server.pause(timeout_ms / 1000.0, pause_all)
    return OK


@subcommand(CLIENT, "unpause", 2, _ADMIN, acl=_CONN_ADMIN_ACL, since="6.2.0",
      summary="Resumes processing of clients that were paused.", complexity="O(N) Where N is the number of paused clients")
def client_unpause(session: Any, argv: list) -> Any:
    session.server.unpause()
    return OK


@subcommand(CLIENT, "reply", 3, _CONN, acl=_CONN_ACL, since="3.2.0",
      summary="Instructs the server whether to reply to commands.", complexity="O(1)")
def client_reply(session: Any, argv: list) -> Any:
    # The dispatcher drops replies while reply_mode is not "on" (and, for
    # "skip", exactly the reply of the next command).
    mode = argv[2].lower()
    if mode == b"on":
        session.reply_mode = "on"
        session.update_gate()
        return OK
    if mode == b"off":
        session.reply_mode = "off"
        session.update_gate()
        return NO_REPLY
    if mode == b"skip":
        if session.reply_mode != "off":  # SKIP while OFF changes nothing (Redis)
            session.reply_mode = "skip"
            session.update_gate()
        return NO_REPLY
    raise CommandError(errors.SYNTAX)


def _on_off(arg: bytes) -> bool:
    word = arg.lower()
    if word == b"on":
        return True
    if word == b"off":
        return False
    raise CommandError(errors.SYNTAX)


@subcommand(CLIENT, "no-evict", 3, _ADMIN, acl=_CONN_ADMIN_ACL, since="7.0.0",
      summary="Sets the client eviction mode of the connection.", complexity="O(1)")
def client_no_evict(session: Any, argv: list) -> Any:
    session.no_evict = _on_off(argv[2])
    return OK


@subcommand(CLIENT, "no-touch", 3, _CONN, acl=_CONN_ACL, since="7.2.0",
      summary="Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
      complexity="O(1)")
def client_no_touch(session: Any, argv: list) -> Any:
    session.no_touch = _on_off(argv[2])
    session.update_gate()  # (a no-touch client's commands take the checked path)
    return OK


_CLIENT_HELP = (
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "    * MAXAGE <maxage>",
    "      Kill connections older than the specified age.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
)


@subcommand(CLIENT, "help", 2, "loading stale", acl=_CONN_ACL, since="5.0.0",
      summary="Returns helpful text about the different subcommands.", complexity="O(1)")
def client_help(session: Any, argv: list) -> Any:
    return _help(argv, _CLIENT_HELP)


# -----------------------------------------------------------------------------
# COMMAND: everything from the table.

# The order Redis prints command flags and ACL categories in.
_FLAG_ORDER = (
    "write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript", "blocking",
    "loading", "stale", "skip_monitor", "skip_slowlog", "asking", "fast", "no_auth",
    "may_replicate", "no_mandatory_keys", "no_async_loading", "no_multi", "movablekeys",
    "allow_busy",
)
ACL_CATEGORIES = (
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
    "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking",
    "dangerous", "connection", "transaction", "scripting",
)
# The category each command group implies (Redis declares it per command).
_GROUP_CATEGORY = {
    "generic": "keyspace", "string": "string", "list": "list", "set": "set",
    "sorted_set": "sortedset", "sorted-set": "sortedset", "hash": "hash", "pubsub": "pubsub",
    "connection": "connection", "transactions": "transaction", "scripting": "scripting",
    "hyperloglog": "hyperloglog", "geo": "geo", "stream": "stream", "bitmap": "bitmap",
}
# COMMAND DOCS group names.
_GROUP_NAME = {"sorted_set": "sorted-set"}
# Command tips (Redis's "tips" in the JSON files) for commands that have them.
TIPS: dict[str, tuple[str, ...]] = {
    "info": ("nondeterministic_output", "request_policy:all_shards", "response_policy:special"),
    "time": ("nondeterministic_output",),
    "lastsave": ("nondeterministic_output",),
    "randomkey": ("request_policy:all_shards", "response_policy:special", "nondeterministic_output"),
    "keys": ("request_policy:all_shards", "nondeterministic_output_order"),
    "scan": ("nondeterministic_output", "request_policy:special", "response_policy:special"),
    "dbsize": ("request_policy:all_shards", "response_policy:agg_sum"),
    "flushall": ("request_policy:all_shards", "response_policy:all_succeeded"),
    "flushdb": ("request_policy:all_shards", "response_policy:all_succeeded"),
    "client|list": ("nondeterministic_output",),
    "client|info": ("nondeterministic_output",),
    "config|set": ("request_policy:all_nodes", "response_policy:all_succeeded"),
    "config|resetstat": ("request_policy:all_nodes", "response_policy:all_succeeded"),
    "config|rewrite": ("request_policy:all_nodes", "response_policy:all_succeeded"),
    "slowlog|get": ("request_policy:all_nodes", "nondeterministic_output"),
    "slowlog|len": ("request_policy:all_nodes", "response_policy:agg_sum", "nondeterministic_output"),
    "slowlog|reset": ("request_policy:all_nodes", "response_policy:all_succeeded"),
    "command": ("nondeterministic_output_order",),
    "command|info": ("nondeterministic_output_order",),
    "command|docs": ("nondeterministic_output_order",),
    "command|list": ("nondeterministic_output_order",),
}


def command_flags(spec: CommandSpec) -> list[str]:
    flags = set(spec.flags)
    if spec.keys_fn is not None:
        flags.add("movablekeys")  # populateCommandMovableKeys
    ordered = [flag for flag in _FLAG_ORDER if flag in flags]
    return ordered + sorted(flags - set(_FLAG_ORDER))


def acl_categories(spec: CommandSpec) -> list[str]:
    """Declared categories plus those Redis implies (setImplicitACLCategories)."""
    cats = {cat.lstrip("@").lower() for cat in spec.acl_categories}
    flags = spec.flags
    if not spec.subcommands:  # a container declares nothing but its speed
        group_cat = _GROUP_CATEGORY.get(spec.group)
        if group_cat:
            cats.add(group_cat)
    if "write" in flags:
        cats.add("write")
    if "readonly" in flags and "scripting" not in cats:
        cats.add("read")
    if "admin" in flags:
        cats.update(("admin", "dangerous"))
    if "pubsub" in flags:
        cats.add("pubsub")
    if "fast" in flags:
        cats.add("fast")
    if "blocking" in flags:
        cats.add("blocking")
    if "fast" not in cats:
        cats.add("slow")
    ordered = [cat for cat in ACL_CATEGORIES if cat in cats]
    return ordered + sorted(cats - set(ACL_CATEGORIES))


def _key_flags(spec: CommandSpec) -> list[str]:
    # The table does not say how each key is used; Redis's two common cases
    # follow from the command flags.
    if "pubsub" in spec.flags:  # shard channels (SSUBSCRIBE, SPUBLISH) are keys only for routing
        return ["not_key"]
    if "write" in spec.flags:
        return ["RW", "update"]
    return ["RO", "access"]


def _key_specs(session: Any, spec: CommandSpec) -> list:
    if spec.first_key > 0:
        last = spec.last_key - spec.first_key if spec.last_key >= 0 else spec.last_key
        return [{
            b"flags": _status_set(session, _key_flags(spec)),
            b"begin_search": {b"type": b"index", b"spec": {b"index": spec.first_key}},
            b"find_keys": {b"type": b"range",
                           b"spec": {b"lastkey": last, b"keystep": spec.key_step, b"limit": 0}},
        }]
    if spec.keys_fn is not None:
        return [{
            b"flags": _status_set(session, _key_flags(spec)),
            b"begin_search": {b"type": b"unknown", b"spec": {}},
            b"find_keys": {b"type": b"unknown", b"spec": {}},
        }]
    return []


def command_info(session: Any, spec: CommandSpec) -> list:
    """One COMMAND INFO entry (Redis 7's ten fields)."""
    if spec.subcommands:
        subs: Any = [command_info(session, sub) for sub in spec.subcommands.values()]
    else:
        subs = _status_set(session, ())  # Redis sends an empty set here
    return [
        _bytes(spec.fullname),
        spec.arity,
        _status_set(session, command_flags(spec)),
        spec.first_key,
        spec.last_key,
        spec.key_step,
        _status_set(session, ["@" + cat for cat in acl_categories(spec)]),
        _bulk_set(session, TIPS.get(spec.fullname, ())),
        _key_specs(session, spec),
        subs,
    ]


def command_docs(spec: CommandSpec) -> dict:
    docs: dict[bytes, Any] = {}
    if spec.summary:
        docs[b"summary"] = _bytes(spec.summary)
    if spec.since:
        docs[b"since"] = _bytes(spec.since)
    docs[b"group"] = _bytes(_GROUP_NAME.get(spec.group, spec.group))
    if spec.complexity:
        docs[b"complexity"] = _bytes(spec.complexity)
    if spec.subcommands:
        docs[b"subcommands"] = {_bytes(sub.fullname): command_docs(sub) for sub in spec.subcommands.values()}
    return docs


def lookup_fullname(name: bytes) -> CommandSpec | None:
    """A command by its full name: "get", "config|get" (lookupCommandBySds)."""
    parts = name.lower().split(b"|")
    if len(parts) > 2:
        return None
    spec = COMMANDS.get(parts[0])
    if spec is None or len(parts) == 1:
        return spec
    return spec.subcommands.get(parts[1])


def _command_all(session: Any, argv: list) -> Any:
    return [command_info(session, spec) for spec in COMMANDS.values()]


COMMAND = container("command", -1, "loading stale", group="server", since="2.8.13",
                    summary="Returns detailed information about all commands.")
COMMAND.acl_categories = ("@slow", "@connection")
COMMAND.complexity = "O(N) where N is the total number of Redis commands"
_route_subcommand = COMMAND.handler


def _command(session: Any, argv: list) -> Any:
    # COMMAND alone lists everything; with an argument the dispatcher already
    # routed to the subcommand, this path is for callers that do not.
    if len(argv) == 1:
        return _command_all(session, argv)
    return _route_subcommand(session, argv)


COMMAND.handler = _command


@subcommand(COMMAND, "count", 2, "loading stale", acl=_CONN_ACL, since="2.8.13",
      summary="Returns a count of commands.", complexity="O(1)")
def command_count(session: Any, argv: list) -> Any:
    return len(COMMANDS)


@subcommand(COMMAND, "info", -2, "loading stale", acl=_CONN_ACL, since="2.8.13",
      summary="Returns information about one, multiple or all commands.",
      complexity="O(N) where N is the number of commands to look up")
def command_info_cmd(session: Any, argv: list) -> Any:
    if len(argv) == 2:
        return _command_all(session, argv)
    out = []
    for name in argv[2:]:
        spec = lookup_fullname(name)
        out.append(command_info(session, spec) if spec is not None else None)
    return out


@subcommand(COMMAND, "docs", -2, "loading stale", acl=_CONN_ACL, since="7.0.0",
      summary="Returns documentary information about one, multiple or all commands.",
      complexity="O(N) where N is the number of commands to look up")
def command_docs_cmd(session: Any, argv: list) -> Any:
    if len(argv) == 2:
        specs = list(COMMANDS.values())
    else:
        specs = [spec for spec in map(lookup_fullname, argv[2:]) if spec is not None]
    return {_bytes(spec.fullname): command_docs(spec) for spec in specs}


@subcommand(COMMAND, "list", -2, "loading stale", acl=_CONN_ACL, since="7.0.0",
      summary="Returns a list of command names.",
      complexity="O(N) where N is the total number of Redis commands")
def command_list(session: Any, argv: list) -> Any:
    specs = list(all_specs())
    if len(argv) == 5 and argv[2].lower() == b"filterby":
        kind, arg = argv[3].lower(), argv[4]
        if kind == b"module":
            specs = []  # no modules
        elif kind == b"aclcat":
            category = _text(arg).lower()
            specs = [spec for spec in specs if category in acl_categories(spec)]
        elif kind == b"pattern":
            pattern = _text(arg)
            specs = [spec for spec in specs if stringmatch(pattern, spec.fullname, nocase=True)]
        else:
            raise CommandError(errors.SYNTAX)
    elif len(argv) != 2:
        raise CommandError(errors.SYNTAX)
    return [_bytes(spec.fullname) for spec in specs]


def _getkeys(argv: list) -> tuple[CommandSpec, list, list[int]]:
    """COMMAND GETKEYS/GETKEYSANDFLAGS: the spec, the command and key indexes."""
    args = argv[2:]
    spec = lookup(args[0])
    if spec is not None and spec.subcommands and len(args) > 1:
        spec = spec.subcommands.get(args[1].lower())
    if spec is None:
        raise CommandError(errors.GETKEYS_INVALID_COMMAND)
    if spec.first_key <= 0 and spec.keys_fn is None:
        raise CommandError(errors.GETKEYS_NO_KEYS)
    if not spec.check_arity(len(args)):
        raise CommandError(errors.GETKEYS_BAD_ARITY)
    try:
        positions = spec.key_positions(args)
    except (CommandError, IndexError, ValueError):
        positions = []
    if not positions and "no_mandatory_keys" not in spec.flags:
        raise CommandError(errors.GETKEYS_BAD_ARGS)
    return spec, args, positions


@subcommand(COMMAND, "getkeys", -3, "loading stale", acl=_CONN_ACL, since="2.8.13",
      summary="Extracts the key names from an arbitrary command.",
      complexity="O(N) where N is the number of arguments to the command")
def command_getkeys(session: Any, argv: list) -> Any:
    _, args, positions = _getkeys(argv)
    return [args[i] for i in positions]


@subcommand(COMMAND, "getkeysandflags", -3, "loading stale", acl=_CONN_ACL, since="7.0.0",
      summary="Extracts the key names and access flags for an arbitrary command.",
      complexity="O(N) where N is the number of arguments to the command")
def command_getkeysandflags(session: Any, argv: list) -> Any:
    spec, args, positions = _getkeys(argv)
    return [[args[i], _status_set(session, _key_flags(spec))] for i in positions]


_COMMAND_HELP = (
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
)


@subcommand(COMMAND, "help", 2, "loading stale", acl=_CONN_ACL, since="5.0.0",
      summary="Returns helpful text about the different subcommands.", complexity="O(1)")
def command_help(session: Any, argv: list) -> Any:
    return _help(argv, _COMMAND_HELP)


# -----------------------------------------------------------------------------
# TIME, LASTSAVE


@command("time", 1, "loading stale fast", group="server", since="2.6.0", acl="@fast",
         summary="Returns the server time.", complexity="O(1)")
def time_(session: Any, argv: list) -> Any:
    # The server's clock, so that DEBUG ADVANCE-CLOCK moves TIME along with
    # the TTLs it is compared with.
    usec = int(session.server.clock.ms() * 1000)
    return [b"%d" % (usec // 1_000_000), b"%d" % (usec % 1_000_000)]


@command("lastsave", 1, "loading stale fast", group="server", since="1.0.0", acl="@admin @fast @dangerous",
         summary="Returns the Unix timestamp of the last successful save to disk.", complexity="O(1)")
def lastsave(session: Any, argv: list) -> Any:
    return last_save_time(session.server)


# -----------------------------------------------------------------------------
# SLOWLOG (the dispatcher records the entries)

SLOWLOG = container("slowlog", -2, group="server", since="2.2.12",
                    summary="A container for slow log commands.")
_SLOWLOG_FLAGS = "admin loading stale"


@subcommand(SLOWLOG, "get", -2, _SLOWLOG_FLAGS, acl=_ADMIN_ACL, since="2.2.12",
      summary="Returns the slow log's entries.", complexity="O(N) where N is the number of entries returned")
def slowlog_get(session: Any, argv: list) -> Any:
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
                    _bytes(entry.addr), entry.name])
    return out


@subcommand(SLOWLOG, "len", 2, _SLOWLOG_FLAGS, acl=_ADMIN_ACL, since="2.2.12",
      summary="Returns the number of entries in the slow log.", complexity="O(1)")
def slowlog_len(session: Any, argv: list) -> Any:
    return len(session.server.dispatcher.slowlog)


@subcommand(SLOWLOG, "reset", 2, _SLOWLOG_FLAGS, acl=_ADMIN_ACL, since="2.2.12",
      summary="Clears all entries from the slow log.", complexity="O(N) where N is the number of entries in the slowlog")
def slowlog_reset(session: Any, argv: list) -> Any:
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


@subcommand(SLOWLOG, "help", 2, "loading stale", acl="@slow", since="6.2.0",
      summary="Show helpful text about the different subcommands", complexity="O(1)")
def slowlog_help(session: Any, argv: list) -> Any:
    return _help(argv, _SLOWLOG_HELP)


# -----------------------------------------------------------------------------
# MONITOR, SHUTDOWN


# Redis lets MULTI queue MONITOR and fails it inside EXEC ("MONITOR isn't
# allowed for DENY BLOCKING client"). A handler cannot tell that it runs
# inside EXEC here, so `no_multi` refuses it when it is queued instead: the
# transaction aborts and the client never enters monitor mode either way.
@command("monitor", 1, "admin noscript loading stale no_multi", group="server", since="1.0.0",
         summary="Listens for all requests received by the server in real-time.")
def monitor(session: Any, argv: list) -> Any:
    if session.monitor:
        return NO_REPLY  # Redis ignores a second MONITOR without a reply
    session.monitor = True
    session.server.monitors.add(session)
    return OK


@command("shutdown", -1, "admin noscript loading stale no_multi allow_busy", group="server",
         since="1.0.0", summary="Synchronously saves the database(s) to disk and shuts down the Redis server.",
         complexity="O(N) when saving, where N is the total number of keys in all databases when saving "
                    "data, otherwise O(1)")
def shutdown(session: Any, argv: list) -> Any:
    options = set()
    for arg in argv[1:]:
        option = arg.lower()
        if option not in (b"nosave", b"save", b"now", b"force", b"abort"):
            raise CommandError(errors.SYNTAX)
        options.add(option)
    if (b"abort" in options and len(options) > 1) or {b"nosave", b"save"} <= options:
        raise CommandError(errors.SYNTAX)
    if b"abort" in options:
        # A shutdown here is immediate: there is never one in progress.
        raise CommandError(errors.SHUTDOWN_ABORT_FAILED)
    # SAVE / NOSAVE override the save points; NOW and FORCE are accepted (a
    # shutdown here never waits for replicas). The connection closes
    # without a reply. FORCE: exit even if the final save failed.
    save = True if b"save" in options else False if b"nosave" in options else None
    if not session.server.persistence.prepare_shutdown(save) and b"force" not in options:
        raise CommandError("ERR Errors trying to SHUTDOWN. Check logs.")
    session.server.shutdown()
    return NO_REPLY


# -----------------------------------------------------------------------------
# DEBUG (only with enable-debug-command yes, or local from a local client)


def _debug_allowed(session: Any) -> bool:
    setting = session.server.config["enable-debug-command"]
    if setting == "yes":
        return True
    if setting == "local":
        host = session.addr.rsplit(":", 1)[0].strip("[]")
        return host.startswith("127.") or host in ("::1", "localhost") or session.addr.startswith("/")
    return False


_STRTOD = re.compile(rb"\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)")


def _strtod(arg: bytes) -> float:
    """C strtod: the longest numeric prefix, 0 when there is none."""
    match = _STRTOD.match(arg)
    return float(match.group()) if match else 0.0


def _debug_sleep(session: Any, argv: list) -> Any:
    # Blocks the whole node, like Redis: that is what the command is for.
    seconds = _strtod(argv[2])
    if seconds > 0:
        time.sleep(seconds)
    return OK


def _debug_error(session: Any, argv: list) -> Any:
    # The argument is the whole error line (no ERR prefix added).
    raise CommandError(argv[2].decode("utf-8", "replace"))


def _debug_set_active_expire(session: Any, argv: list) -> Any:
    session.server.active_expire_enabled = bool(int(_strtod(argv[2])))
    return OK


def _debug_advance_clock(session: Any, argv: list) -> Any:
    session.server.clock.advance(parse_int(argv[2]))
    session.server.refresh_lru_clock()  # (the cron's LRU clock follows at once)
    return OK


def object_encoding(value: Any) -> str:
    """OBJECT ENCODING's answer, from the table in commands.keys (which the
    type families refine), so DEBUG OBJECT and OBJECT ENCODING agree."""
    entry = TYPES.get(value.__class__)
    encoding = entry[1](value) if entry is not None else getattr(value, "ENCODING", b"raw")
    return encoding.decode() if isinstance(encoding, bytes) else str(encoding)


def _serialized_length(value: Any) -> int:
    # Roughly rdbSavedObjectLen: an integer string is stored as 1, 2 or 4
    # bytes plus a type byte, any other string as a length prefix + bytes.
    if value.__class__ is bytes:
        if is_int_text(value):
            n = int(value)
            if -(2**7) <= n < 2**7:
                return 2
            if -(2**15) <= n < 2**15:
                return 3
            if -(2**31) <= n < 2**31:
                return 5
        size = len(value)
        return size + (1 if size < 64 else 2 if size < 16384 else 5)
    try:
        return sum(_serialized_length(item) if isinstance(item, bytes) else 9 for item in value) + 1
    except TypeError:
        return 0


def _debug_object(session: Any, argv: list) -> Any:
    value = session.db.lookup(argv[2])
    if value is None:
        raise CommandError(errors.NO_SUCH_KEY)
    encoding = object_encoding(value)
    lru = int(time.time()) & (2**24 - 1)
    return SimpleString(_bytes(
        f"Value at:0x{id(value):x} refcount:1 encoding:{encoding} "
        f"serializedlength:{_serialized_length(value)} lru:{lru} lru_seconds_idle:0"
    ))


_DEBUG_HELP = (
    "ADVANCE-CLOCK <milliseconds>",
    "    Move the server's clock forward (ringcache: tests use it to expire keys",
    "    without sleeping). Negative values move it back.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
)

# name -> (handler, argument count including DEBUG and the subcommand)
_DEBUG: dict[bytes, tuple[Callable[[Any, list], Any], int]] = {
    b"sleep": (_debug_sleep, 3),
    b"error": (_debug_error, 3),
    b"set-active-expire": (_debug_set_active_expire, 3),
    b"advance-clock": (_debug_advance_clock, 3),
    b"object": (_debug_object, 3),
}


@command("debug", -2, "admin noscript loading stale", group="server", since="1.0.0",
         acl="@admin @slow @dangerous", summary="A container for debugging commands.")
def debug(session: Any, argv: list) -> Any:
    if not _debug_allowed(session):
        raise CommandError(errors.DEBUG_NOT_ALLOWED)
    sub = argv[1].lower()
    if sub == b"help" and len(argv) == 2:
        return _help(argv, _DEBUG_HELP)
    entry = _DEBUG.get(sub)
    if entry is None or (len(argv) != entry[1] if entry[1] > 0 else len(argv) < -entry[1]):
        raise CommandError(errors.subcommand_syntax(argv[1], argv[0].decode("utf-8", "replace")))
    return entry[0](session, argv)
