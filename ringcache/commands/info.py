"""INFO (Redis's genRedisInfoString in server.c).

Theory of operation
-------------------
INFO is a list of sections, each a function from the server to `(field,
value)` pairs, printed in Redis's fixed order as "# Title" blocks with CRLF
line ends, in a Verbatim reply. A section reads the counters the layers that
own them keep (Server.stats, the dispatcher, server.persistence, the pub/sub
hub); nothing here keeps a second copy of a counter. A later subsystem
(replication, cluster) replaces its section with `register_info_section`
instead of editing this file.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from typing import TYPE_CHECKING, Any, Callable

from .. import REDIS_VERSION, __version__, accel, allocator
from ..config import format_memory_human
from ..protocol.resp import Verbatim
from ..pubsub import info_fields
from ._admin import to_bytes
from .registry import all_specs, command

if TYPE_CHECKING:
    from ..server.server import Server
    from ..server.session import Session

Section = Callable[["Server"], list[tuple[str, Any]]]

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


_human = format_memory_human


def _server_section(server: Server) -> list[tuple[str, Any]]:
    config = server.config
    uname = platform.uname()
    uptime = int(server.uptime())
    listener = ",".join(["name=tcp", *(f"bind={b}" for b in config["bind"]),
                         f"port={server.port}"])
    return [
        ("redis_version", REDIS_VERSION),
        ("redis_git_sha1", "00000000"),
        ("redis_git_dirty", 0),
        ("redis_build_id", "0"),
        ("redis_mode", "cluster" if config["cluster-enabled"] else "standalone"),
        ("ringcache_version", __version__),
        ("ringcache_accelerated", int(accel.ACCELERATED)),  # the compiled hot path (accel.py)
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


def _clients_section(server: Server) -> list[tuple[str, Any]]:
    sessions = list(server.clients.values())
    sizes = [s.buffer_sizes() for s in sessions]
    max_in = max((query for query, _ in sizes), default=0)
    max_out = max((output for _, output in sizes), default=0)
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


def _memory_section(server: Server) -> list[tuple[str, Any]]:
    used = server.used_memory()
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
        ("used_memory_startup", server.startup_rss),
        ("total_system_memory", total_system),
        ("total_system_memory_human", _human(total_system)),
        ("maxmemory", maxmemory),
        ("maxmemory_human", _human(maxmemory)),
        ("maxmemory_policy", server.config["maxmemory-policy"]),
        ("mem_fragmentation_ratio", "%.2f" % (rss / used if used else 0.0)),
        ("mem_fragmentation_bytes", rss - used),
        ("mem_allocator", f"pymalloc+{allocator.active()}"),
        ("lazyfree_pending_objects", 0),
    ]


def _stats_section(server: Server) -> list[tuple[str, Any]]:
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
        *((f"acl_access_denied_{reason}", server.acl.log.denied[reason])
          for reason in ("auth", "cmd", "key", "channel")),
    ]


def _replication_section(server: Server) -> list[tuple[str, Any]]:
    return [
        ("role", "master"),
        ("connected_slaves", 0),
        ("master_failover_state", "no-failover"),
        ("master_replid", server.replid),
        ("master_replid2", "0" * 40),
        ("master_repl_offset", 0),
        ("second_repl_offset", -1),
        ("repl_backlog_active", 0),
        ("repl_backlog_size", server.config["repl-backlog-size"]),
        ("repl_backlog_first_byte_offset", 0),
        ("repl_backlog_histlen", 0),
    ]


def _cpu_section(server: Server) -> list[tuple[str, Any]]:
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


def _commandstats_section(server: Server) -> list[tuple[str, Any]]:
    server.dispatcher.settle_counts()
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


def _errorstats_section(server: Server) -> list[tuple[str, Any]]:
    # Redis counts errors per prefix (errorstat_ERR, errorstat_WRONGTYPE). The
    # dispatcher keeps only the total (total_error_replies in Stats), so the
    # section is printed empty rather than with a made-up split.
    return []


def _keyspace_section(server: Server) -> list[tuple[str, Any]]:
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
    "persistence": lambda server: server.persistence.info_fields(),
    "stats": _stats_section,
    "replication": _replication_section,
    "cpu": _cpu_section,
    "modules": lambda server: [],
    "commandstats": _commandstats_section,
    "errorstats": _errorstats_section,
    "cluster": lambda server: [("cluster_enabled", 1 if server.config["cluster-enabled"] else 0)],
    "keyspace": _keyspace_section,
})


def info_text(server: Server, names: list[str]) -> str:
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


@command("info", -1, "loading stale", group="server", since="1.0.0", acl="@dangerous",
         tips="nondeterministic_output request_policy:all_shards response_policy:special",
         summary="Returns information and statistics about the server.",
         complexity="O(1)")
def info(session: Session, argv: list[bytes]) -> Verbatim:
    names = [arg.decode("utf-8", "replace").lower() for arg in argv[1:]]
    return Verbatim(to_bytes(info_text(session.server, names)))


