"""MEMORY USAGE / STATS / DOCTOR / MALLOC-STATS / PURGE / HELP (Redis's object.c).

The figures come from the keyspace's running accounting (storage/memory.py):
MEMORY USAGE estimates one key as Redis's objectComputeSize does (exact for
strings, sampling `SAMPLES` elements of a container, 0 = all of them, plus
the key and its dict entry); MEMORY STATS and INFO memory report the running
totals, never a walk of the keyspace.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import OK, Verbatim
from ..storage.memory import EXPIRE_OVERHEAD, KEY_OVERHEAD, key_size
from ._args import parse_int
from ._admin import help_subcommand
from .registry import container, subcommand

if TYPE_CHECKING:
    from ..server.server import Server
    from ..server.session import Session

MEMORY = container("memory", -2, since="4.0.0",
                   summary="A container for memory diagnostics commands.")

_HELP = (
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
)


@subcommand(MEMORY, "usage", -3, "readonly", (2, 2, 1), since="4.0.0",
            summary="Estimates the memory usage of a key.",
            complexity="O(N) where N is the number of samples.")
def memory_usage(session: Session, argv: list[bytes]) -> Any:
    samples = 5
    i = 3
    while i < len(argv):
        if argv[i].lower() == b"samples" and i + 1 < len(argv):
            samples = parse_int(argv[i + 1])
            if samples < 0:
                raise CommandError(errors.SYNTAX)
            i += 2
        else:
            raise CommandError(errors.SYNTAX)
    db = session.db
    key = argv[2]
    value = db.peek(key)
    if value is None:
        return None
    return key_size(key, value, key in db.expires, samples)


@subcommand(MEMORY, "stats", 2, "readonly", since="4.0.0",
            summary="Returns details about memory usage.", complexity="O(1)")
def memory_stats(session: Session, argv: list[bytes]) -> Any:
    server = session.server
    used = server.used_memory()  # (also follows the peak)
    peak = server.peak_memory
    rss = server.rss_bytes()
    # used_memory counts the data set only (not the interpreter), so what it
    # held at start-up is the empty slot tables: none until a database is used.
    startup = 0
    stats: dict[bytes, Any] = {
        b"peak.allocated": peak,
        b"total.allocated": used,
        b"startup.allocated": startup,
        b"replication.backlog": 0,
        b"clients.slaves": 0,
        b"clients.normal": _clients_memory(server),
        b"cluster.links": 0,
        b"aof.buffer": _aof_buffer(server),
        b"lua.caches": 0,
        b"functions.caches": 0,
    }
    overhead = 0
    keys = 0
    for db in server.live_dbs():
        n = len(db.data)
        if not n:
            continue
        keys += n
        main = KEY_OVERHEAD * n + (len(db.cells) << 2)
        expires = EXPIRE_OVERHEAD * len(db.expires)
        overhead += main + expires
        stats[b"db.%d" % db.index] = {
            b"overhead.hashtable.main": main,
            b"overhead.hashtable.expires": expires,
            b"overhead.hashtable.slot-to-keys": 0,  # (counted in main: storage/memory.py)
        }
    dataset = max(used - overhead, 0)
    stats.update({
        b"overhead.total": overhead + startup,
        b"keys.count": keys,
        b"keys.bytes-per-key": (used // keys) if keys else 0,
        b"dataset.bytes": dataset,
        b"dataset.percentage": 100.0 * dataset / used if used else 0.0,
        b"peak.percentage": 100.0 * used / peak if peak else 100.0,
        b"allocator.allocated": used,
        b"allocator.active": used,
        b"allocator.resident": rss,
        b"allocator-fragmentation.ratio": 1.0,
        b"allocator-fragmentation.bytes": 0,
        b"allocator-rss.ratio": rss / used if used else 0.0,
        b"allocator-rss.bytes": rss - used,
        b"rss-overhead.ratio": 1.0,
        b"rss-overhead.bytes": 0,
        b"fragmentation": rss / used if used else 0.0,
        b"fragmentation.bytes": rss - used,
    })
    return stats


def _clients_memory(server: Server) -> int:
    return sum(sum(session.buffer_sizes()) for session in server.clients.values())


def _aof_buffer(server: Server) -> int:
    aof = server.persistence.aof
    return sum(map(len, aof.buf)) if aof is not None else 0


_EMPTY = ("Hi Sam, this instance is empty or is using very little memory, my issues "
          "detector can't be used in these conditions. Please, leave for your mission on "
          "Earth and fill it with some data. The new Sam and I will be back to our "
          "programming as soon as I finished rebooting.")
_FINE = ("Hi Sam, I can't find any memory issue in your instance. I can only account "
         "for what occurs on this base.")


@subcommand(MEMORY, "doctor", 2, "", since="4.0.0",
            summary="Outputs a memory problems report.", complexity="O(1)")
def memory_doctor(session: Session, argv: list[bytes]) -> Any:
    """Redis's getMemoryDoctorReport: the checks that apply to this node
    (peak, RSS against what the data set accounts for, big client buffers)."""
    server = session.server
    used = server.used_memory()
    if used < 5 * 1024 * 1024:
        return Verbatim(_EMPTY.encode())
    issues = []
    if server.peak_memory > used * 1.5:
        issues.append(
            " * Peak memory: In the past this instance used more than 150% the memory "
            "that is currently using. The allocator is normally not able to release memory "
            "after a peak, so you can expect to see a big fragmentation ratio, however this "
            "is actually harmless and is only due to the memory peak, and if the Redis "
            "instance Resident Set Size (RSS) is currently bigger than expected, the memory "
            "will be used as soon as you fill the Redis instance with more data. If the "
            "memory peak was only occasional and you want to try to reclaim memory, please "
            "try the MEMORY PURGE command, otherwise the only other option is to shutdown "
            "and restart the instance.")
    rss = server.rss_bytes() - server.startup_rss
    if rss > used * 1.4:
        issues.append(
            " * High total RSS: This instance has a memory fragmentation and RSS overhead "
            "greater than 1.4 (this means that the Resident Set Size of the process is much "
            "larger than the sum of the logical allocations it performed). This is usually "
            "due either to a large peak memory or to freed Python objects kept in the "
            "interpreter's pools.")
    clients = _clients_memory(server)
    if server.clients and clients / len(server.clients) > 200 * 1024:
        issues.append(
            " * Big client buffers: The clients output buffers are in general too big, "
            "over 200 KB per client on average. This may result from different causes, "
            "like Pub/Sub clients subscribed to channels but not receiving data fast "
            "enough, so that data piles on the output buffer.")
    if not issues:
        return Verbatim(_FINE.encode())
    text = ("Sam, I detected a few issues in this Redis instance memory implants:\n\n"
            + "\n\n".join(issues)
            + "\n\nI'm here to keep you safe, Sam. I want to help you.\n")
    return Verbatim(text.encode())


@subcommand(MEMORY, "malloc-stats", 2, "", since="4.0.0",
            summary="Returns the allocator statistics.",
            complexity="Depends on how much memory is allocated, could be slow")
def memory_malloc_stats(session: Session, argv: list[bytes]) -> Any:
    return Verbatim(b"Stats not supported for the current allocator")


@subcommand(MEMORY, "purge", 2, "", since="4.0.0",
            summary="Asks the allocator to release memory.",
            complexity="Depends on how much memory is allocated, could be slow")
def memory_purge(session: Session, argv: list[bytes]) -> Any:
    gc.collect()  # (pymalloc returns empty arenas to the OS by itself)
    return OK


# (status replies, as Redis's addReplyHelp sends them)
help_subcommand(MEMORY, _HELP, since="4.0.0")
