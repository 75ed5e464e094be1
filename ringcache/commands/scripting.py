"""Scripting: EVAL EVALSHA EVAL_RO EVALSHA_RO SCRIPT LOAD|EXISTS|FLUSH|KILL.

The Lua runtime, the sandbox and the conversions are scripting/engine.py;
this module parses the commands and hands them to the node's engine. A
script runs inside its command, to its end, so nothing else runs in
between (the node is single-threaded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol.errors import CommandError
from ..protocol.resp import OK
from ._args import parse_int
from .registry import command, container, subcommand

if TYPE_CHECKING:
    from ..scripting.engine import Engine
    from ..server.session import Session


def engine(session: Session) -> Engine:
    server = session.server
    if server.scripting is None:
        from ..scripting.engine import Engine

        server.scripting = Engine(server)
    return server.scripting


def _numkeys(argv: list[bytes]) -> int:
    numkeys = parse_int(argv[2])
    if numkeys < 0:
        raise CommandError("ERR Number of keys can't be negative")
    if numkeys > len(argv) - 3:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    return numkeys


def _eval_keys(argv: list) -> list[int]:
    """EVAL's keys move with numkeys (movablekeys)."""
    try:
        numkeys = int(argv[2])
    except (ValueError, IndexError):
        return []
    if numkeys < 0 or numkeys > len(argv) - 3:
        return []
    return list(range(3, 3 + numkeys))


def _run(session: Session, argv: list[bytes], by_sha: bool, read_only: bool) -> Any:
    numkeys = _numkeys(argv)
    lua = engine(session)
    if by_sha:
        sha = argv[1]
    else:
        sha = lua.load(argv[1])
    return lua.run(session, sha, argv[3:3 + numkeys], argv[3 + numkeys:], read_only)


@command("eval", -3, "noscript skip_monitor may_replicate no_mandatory_keys stale movablekeys",
         keys_fn=_eval_keys, group="scripting", since="2.6.0",
         summary="Executes a server-side Lua script.")
def eval_(session: Session, argv: list[bytes]) -> Any:
    return _run(session, argv, by_sha=False, read_only=False)


@command("evalsha", -3, "noscript skip_monitor may_replicate no_mandatory_keys stale movablekeys",
         keys_fn=_eval_keys, group="scripting", since="2.6.0",
         summary="Executes a server-side Lua script by SHA1 digest.")
def evalsha(session: Session, argv: list[bytes]) -> Any:
    return _run(session, argv, by_sha=True, read_only=False)


@command("eval_ro", -3, "readonly noscript skip_monitor no_mandatory_keys stale movablekeys",
         keys_fn=_eval_keys, group="scripting", since="7.0.0",
         summary="Executes a read-only server-side Lua script.")
def eval_ro(session: Session, argv: list[bytes]) -> Any:
    return _run(session, argv, by_sha=False, read_only=True)


@command("evalsha_ro", -3, "readonly noscript skip_monitor no_mandatory_keys stale movablekeys",
         keys_fn=_eval_keys, group="scripting", since="7.0.0",
         summary="Executes a read-only server-side Lua script by SHA1 digest.")
def evalsha_ro(session: Session, argv: list[bytes]) -> Any:
    return _run(session, argv, by_sha=True, read_only=True)


SCRIPT = container("script", -2, "", group="scripting", since="2.6.0",
                   summary="A container for Lua scripts management commands.")


@subcommand(SCRIPT, "load", 3, "noscript stale", since="2.6.0",
            summary="Loads a server-side Lua script to the script cache.")
def script_load(session: Session, argv: list[bytes]) -> Any:
    return engine(session).load(argv[2])


@subcommand(SCRIPT, "exists", -3, "noscript", since="2.6.0",
            summary="Determines whether server-side Lua scripts exist in the script cache.")
def script_exists(session: Session, argv: list[bytes]) -> Any:
    lua = session.server.scripting
    return [int(lua is not None and lua.exists(sha)) for sha in argv[2:]]


@subcommand(SCRIPT, "flush", -2, "noscript", since="2.6.0",
            summary="Removes all server-side Lua scripts from the script cache.")
def script_flush(session: Session, argv: list[bytes]) -> Any:
    if len(argv) > 3 or (len(argv) == 3 and argv[2].lower() not in (b"sync", b"async")):
        raise CommandError("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    if session.server.scripting is not None:
        session.server.scripting.flush()
    return OK


@subcommand(SCRIPT, "kill", 2, "noscript allow_busy", since="2.6.0",
            summary="Terminates a server-side Lua script during execution.")
def script_kill(session: Session, argv: list[bytes]) -> Any:
    # It arrives only while a script runs past busy-reply-threshold (the
    # node then serves other clients from the script's hook).
    lua = session.server.scripting
    if lua is None or not lua.running:
        raise CommandError("NOTBUSY No scripts in execution right now.")
    lua.kill()
    return OK


@subcommand(SCRIPT, "help", 2, "loading stale", since="5.0.0",
            summary="Returns helpful text about the different subcommands.")
def script_help(session: Session, argv: list[bytes]) -> Any:
    return [
        b"SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        b"EXISTS <sha1> [<sha1> ...]",
        b"    Return information about the existence of the scripts in the script cache.",
        b"FLUSH [ASYNC|SYNC]",
        b"    Flush the Lua scripts cache. Very dangerous on replicas.",
        b"    When called without the optional mode argument, the behavior is determined by the",
        b"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        b"    * ASYNC: Asynchronously flush the scripts cache.",
        b"    * SYNC: Synchronously flush the scripts cache.",
        b"KILL",
        b"    Kill the currently executing Lua script.",
        b"LOAD <script>",
        b"    Load a script into the scripts cache without executing it.",
        b"HELP",
        b"    Print this help.",
    ]


