"""Scripting: EVAL EVALSHA EVAL_RO EVALSHA_RO SCRIPT LOAD|EXISTS|FLUSH|KILL.

The Lua runtime, the sandbox and the conversions are scripting/engine.py;
this module parses the commands and hands them to the node's engine. A
script runs inside its command, to its end, so nothing else runs in
between (the node is single-threaded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..persistence.rdb import DumpPayloadError, RDBError, functions_payload, read_functions_payload
from ..protocol.errors import CommandError
from ..protocol.resp import OK
from ._admin import help_reply
from ._args import parse_int
from .registry import command, container, subcommand

if TYPE_CHECKING:
    from ..scripting.engine import Engine
    from ..server.session import Session


def engine(session: Session) -> Engine:
    return engine_of(session.server)


def engine_of(server: Any) -> Engine:
    """The node's Lua engine, made on first use."""
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
    _check_flush_mode(argv, "ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    if session.server.scripting is not None:
        session.server.scripting.flush()
    return OK


@subcommand(SCRIPT, "kill", 2, "noscript allow_busy", since="2.6.0",
            summary="Terminates a server-side Lua script during execution.")
def script_kill(session: Session, argv: list[bytes]) -> Any:
    return _kill_running(session)


def _check_flush_mode(argv: list[bytes], error: str) -> None:
    """SCRIPT/FUNCTION FLUSH [SYNC|ASYNC] (both flush at once here)."""
    if len(argv) > 3 or (len(argv) == 3 and argv[2].lower() not in (b"sync", b"async")):
        raise CommandError(error)


def _kill_running(session: Session) -> Any:
    """SCRIPT/FUNCTION KILL. It arrives only while a script runs past
    busy-reply-threshold (the node then serves other clients from the
    script's hook)."""
    lua = session.server.scripting
    if lua is None or not lua.running:
        raise CommandError("NOTBUSY No scripts in execution right now.")
    lua.kill()
    return OK


@subcommand(SCRIPT, "debug", 3, "noscript", since="3.2.0",
            summary="Sets the debug mode of server-side Lua scripts.")
def script_debug(session: Session, argv: list[bytes]) -> Any:
    mode = argv[2].lower()
    if mode == b"no":
        return OK
    if mode in (b"yes", b"sync"):
        # Redis's Lua debugger (ldb) speaks its own protocol over the
        # client's connection; ringcache has none.
        raise CommandError("ERR SCRIPT DEBUG YES|SYNC is not supported: ringcache has no Lua debugger")
    raise CommandError("ERR Use SCRIPT DEBUG YES/SYNC/NO")


@subcommand(SCRIPT, "help", 2, "loading stale", since="5.0.0",
            summary="Returns helpful text about the different subcommands.")
def script_help(session: Session, argv: list[bytes]) -> Any:
    return help_reply(argv, [
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
    ])


# -- functions ---------------------------------------------------------------------

def _fcall(session: Session, argv: list[bytes], read_only: bool) -> Any:
    numkeys = _numkeys(argv)
    return engine(session).call_function(session, argv[1], argv[3:3 + numkeys],
                                         argv[3 + numkeys:], read_only)


@command("fcall", -3, "noscript skip_monitor may_replicate no_mandatory_keys stale movablekeys",
         keys_fn=_eval_keys, group="scripting", since="7.0.0", summary="Invokes a function.")
def fcall(session: Session, argv: list[bytes]) -> Any:
    return _fcall(session, argv, read_only=False)


@command("fcall_ro", -3, "readonly noscript skip_monitor no_mandatory_keys stale movablekeys",
         keys_fn=_eval_keys, group="scripting", since="7.0.0",
         summary="Invokes a read-only function.")
def fcall_ro(session: Session, argv: list[bytes]) -> Any:
    return _fcall(session, argv, read_only=True)


FUNCTION = container("function", -2, "", group="scripting", since="7.0.0",
                     summary="A container for function commands.")


def _propagate_as_is(session: Session, argv: list[bytes]) -> None:
    """The library changes reach the write stream (the AOF replays them)."""
    session.propagate = [list(argv)]


@subcommand(FUNCTION, "load", -3, "write denyoom noscript", since="7.0.0",
            summary="Creates a library.")
def function_load(session: Session, argv: list[bytes]) -> Any:
    replace = False
    if len(argv) == 4:
        if argv[2].lower() != b"replace":
            raise CommandError("ERR Unknown option given: " + argv[2].decode("utf-8", "replace"))
        replace = True
    elif len(argv) > 4:
        raise CommandError("ERR Unknown option given: " + argv[3].decode("utf-8", "replace"))
    name = engine(session).load_library(argv[-1], replace)
    _propagate_as_is(session, argv)
    return name


@subcommand(FUNCTION, "delete", 3, "write noscript", since="7.0.0",
            summary="Deletes a library and its functions.")
def function_delete(session: Session, argv: list[bytes]) -> Any:
    engine(session).delete_library(argv[2])
    _propagate_as_is(session, argv)
    return OK


@subcommand(FUNCTION, "flush", -2, "write noscript", since="7.0.0",
            summary="Deletes all libraries and functions.")
def function_flush(session: Session, argv: list[bytes]) -> Any:
    _check_flush_mode(argv, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
    engine(session).flush_libraries()
    _propagate_as_is(session, argv)
    return OK


@subcommand(FUNCTION, "kill", 2, "noscript allow_busy", since="7.0.0",
            summary="Terminates a function during execution.")
def function_kill(session: Session, argv: list[bytes]) -> Any:
    return _kill_running(session)


@subcommand(FUNCTION, "list", -2, "noscript", since="7.0.0",
            summary="Returns information about all libraries.")
def function_list(session: Session, argv: list[bytes]) -> Any:
    from ..glob import compile_glob

    with_code = False
    pattern = None
    i = 2
    while i < len(argv):
        option = argv[i].lower()
        if option == b"withcode" and not with_code:
            with_code = True
        elif option == b"libraryname" and pattern is None:
            if i + 1 >= len(argv):
                raise CommandError("ERR library name argument was not given")
            i += 1
            pattern = argv[i]
        else:
            raise CommandError("ERR Unknown argument " + argv[i].decode("utf-8", "replace"))
        i += 1
    lua = engine(session)
    matches = compile_glob(pattern) if pattern is not None else None
    out = []
    for library in lua.libraries.values():
        if matches is not None and not matches(library.name):
            continue
        entry: dict[bytes, Any] = {
            b"library_name": library.name,
            b"engine": b"LUA",
            b"functions": [
                {b"name": f.name, b"description": f.description,
                 b"flags": set(flag.encode() for flag in f.flags)}
                for f in library.functions.values()  # (Redis: its dict's order)
            ],
        }
        if with_code:
            entry[b"library_code"] = library.code
        out.append(entry)
    return out


@subcommand(FUNCTION, "stats", 2, "noscript allow_busy", since="7.0.0",
            summary="Returns information about a function during execution.")
def function_stats(session: Session, argv: list[bytes]) -> Any:
    lua = engine(session)
    return {
        b"running_script": None,
        b"engines": {b"LUA": {b"libraries_count": len(lua.libraries),
                              b"functions_count": len(lua.functions)}},
    }


@subcommand(FUNCTION, "dump", 2, "noscript", since="7.0.0",
            summary="Dumps all libraries into a serialized binary payload.")
def function_dump(session: Session, argv: list[bytes]) -> Any:
    lua = engine(session)
    return functions_payload(library.code for library in lua.libraries.values())


@subcommand(FUNCTION, "restore", -3, "write denyoom noscript", since="7.0.0",
            summary="Restores all libraries from a payload.")
def function_restore(session: Session, argv: list[bytes]) -> Any:
    policy = b"append"
    if len(argv) == 4:
        policy = argv[3].lower()
        if policy not in (b"append", b"replace", b"flush"):
            raise CommandError("ERR Wrong restore policy given, value should be either FLUSH, "
                               "APPEND or REPLACE.")
    elif len(argv) > 4:
        raise CommandError("ERR Wrong restore policy given, value should be either FLUSH, "
                           "APPEND or REPLACE.")
    try:
        codes = read_functions_payload(argv[2])
    except DumpPayloadError:
        raise CommandError("ERR DUMP payload version or checksum are wrong") from None
    except RDBError:
        raise CommandError("ERR given type is not a function") from None
    engine(session).restore_libraries(codes, policy.decode())
    _propagate_as_is(session, argv)
    return OK


@subcommand(FUNCTION, "help", 2, "loading stale", since="7.0.0",
            summary="Returns helpful text about the different subcommands.")
def function_help(session: Session, argv: list[bytes]) -> Any:
    return help_reply(argv, [
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored "
        "using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a "
        "restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, "
        "replace the old",
        "      libraries with the new libraries (notice that even on this option there is a "
        "chance of failure",
        "      in case of functions name collision with another library).",
    ])
