"""Command line: `ringcache server [CONFIG-FILE] [--config FILE] [--NAME VALUE ...]`.

Every configuration parameter is also a flag (`--maxmemory 100mb`, `--hz 10`),
as with redis-server; flags override the file. `--port 0` picks a free port
and the log says which.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time

from .config import Config, ConfigError

USAGE = """usage: ringcache server [CONFIG-FILE] [--config FILE] [--NAME VALUE ...]
       ringcache cluster up|down|status|add-node|remove-node|rebalance [...]
       ringcache check-aof [--fix] FILE
       ringcache --version

Starts a ringcache node. Any configuration parameter can be given as a flag,
for example: ringcache server --port 7000 --maxmemory 100mb --save ""
"""

# Redis's log levels and the marks it prints: . debug, - verbose, * notice, # warning
_LEVELS = {"debug": logging.DEBUG, "verbose": 15, "notice": logging.INFO,
           "warning": logging.WARNING, "nothing": logging.CRITICAL + 10}
_MARKS = {logging.DEBUG: ".", 15: "-", logging.INFO: "*", logging.WARNING: "#",
          logging.ERROR: "#", logging.CRITICAL: "#"}


class RedisStyleFormatter(logging.Formatter):
    """`pid:M 26 Nov 2026 10:36:54.123 * message`, like redis-server's log."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%d %b %Y %H:%M:%S", time.localtime(record.created))
        millis = int(record.msecs)
        mark = _MARKS.get(record.levelno, "*")
        text = f"{os.getpid()}:M {stamp}.{millis:03d} {mark} {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup_logging(config: Config) -> None:
    logfile = config["logfile"]
    handler: logging.Handler = logging.FileHandler(logfile) if logfile else logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedisStyleFormatter())
    logger = logging.getLogger("ringcache")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(_LEVELS.get(config["loglevel"], logging.INFO))
    config.on_change("loglevel", lambda level: logger.setLevel(_LEVELS.get(level, logging.INFO)))


def build_config(args: list[str]) -> Config:
    config = Config()
    if args and not args[0].startswith("--"):
        config.load_file(args[0])
        args = args[1:]
    if "--config" in args:
        i = args.index("--config")
        if i + 1 >= len(args):
            raise ConfigError("--config needs a file name")
        config.load_file(args[i + 1])
        args = args[:i] + args[i + 2 :]
    config.load_args(args)
    return config


def fix_malloc_mmap_threshold() -> None:
    """Keep glibc's mmap threshold at its 128 KiB default. Left dynamic, it
    rises after the first large block is freed (a dict's old table when the
    dict grows), so later tables come from the heap and the ones they replace
    stay there as holes pymalloc cannot use: ~10 B a key at 1M keys with TTLs
    (benchmarks/RESULTS.md). Fixed, every large table is its own mapping and
    freeing it returns it to the system."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD (glibc only; absent elsewhere)
    except (OSError, AttributeError):
        pass


def run_server(args: list[str], *, own_process: bool = False) -> int:
    """own_process: this process was started as `ringcache server` and may
    re-execute itself (under jemalloc); not when called from other code."""
    if own_process:
        from .allocator import reexec_with_jemalloc

        reexec_with_jemalloc()  # returns when jemalloc runs already or cannot
    try:
        config = build_config(args)
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"Fatal error, can't open config file '{exc.filename}': {exc.strerror}", file=sys.stderr)
        return 1
    setup_logging(config)
    fix_malloc_mmap_threshold()
    from .server.server import Server, new_event_loop

    from .persistence import LoadError
    from .server.fdlimit import TooFewDescriptors

    try:
        server = Server(config)
    except ConfigError as exc:  # ACL users or TLS certificates that cannot be used
        logging.getLogger("ringcache").warning("%s", exc.message)
        return 1
    try:
        # The stdlib loop, not uvloop: with raw sockets on add_reader it was
        # the faster of the two here (benchmarks/RESULTS.md).
        with asyncio.Runner(loop_factory=lambda: new_event_loop(server)) as runner:
            runner.run(server.serve_forever())
    except (LoadError, TooFewDescriptors) as exc:  # never start empty over data that could not be read
        logging.getLogger("ringcache").warning("%s", exc)
        return 1
    except OSError as exc:
        logging.getLogger("ringcache").warning("Failed listening on port %s: %s", config["port"], exc)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    own_process = argv is None  # the command line, not a caller's list
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if argv else 2
    if argv[0] in ("-v", "--version", "version"):
        from . import REDIS_VERSION, __version__

        print(f"ringcache {__version__} (Redis {REDIS_VERSION} compatible)")
        return 0
    if argv[0] == "server":
        return run_server(argv[1:], own_process=own_process)
    if argv[0] == "cluster":
        from .cluster.admin import main as cluster_main

        return cluster_main(argv[1:])
    if argv[0] == "check-aof":
        from .persistence.aof import check_aof_main

        return check_aof_main(argv[1:])
    print(f"unknown command {argv[0]!r}\n\n{USAGE}", file=sys.stderr, end="")
    return 2
