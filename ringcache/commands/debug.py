"""DEBUG (Redis's debug.c): allowed only with enable-debug-command yes, or
local for a client on this machine.

DEBUG is one command, not a container (COMMAND INFO shows no subcommands,
as in Redis): its subcommands are kept in a table of their own,
`DEBUG_SUBCOMMANDS`, which other families extend with `debug_subcommand`
(DEBUG RELOAD and LOADAOF live with persistence, commands/persistence.py).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import OK, SimpleString
from ._admin import ADMIN_FLAGS, help_reply, protected_action_allowed, to_bytes
from ._args import is_int_text, parse_int, strtod_prefix
from .keys import encoding_name
from .registry import Handler, command

if TYPE_CHECKING:
    from ..server.session import Session


# name -> (handler, argument count including DEBUG and the subcommand)
DEBUG_SUBCOMMANDS: dict[bytes, tuple[Handler, int]] = {}


def debug_subcommand(name: str, argc: int) -> Callable[[Handler], Handler]:
    """Register `DEBUG name`, which takes exactly argc arguments (DEBUG and
    the subcommand included), or at least -argc when argc is negative."""

    def register(handler: Handler) -> Handler:
        key = name.lower().encode()
        if key in DEBUG_SUBCOMMANDS:
            raise ValueError(f"DEBUG {name} registered twice")
        DEBUG_SUBCOMMANDS[key] = (handler, argc)
        return handler

    return register


@debug_subcommand("sleep", 3)
def _debug_sleep(session: Session, argv: list[bytes]) -> Any:
    # Blocks the whole node, like Redis: that is what the command is for.
    seconds = strtod_prefix(argv[2])
    if seconds > 0:
        time.sleep(seconds)
    return OK


@debug_subcommand("error", 3)
def _debug_error(session: Session, argv: list[bytes]) -> Any:
    # The argument is the whole error line (no ERR prefix added).
    raise CommandError(argv[2].decode("utf-8", "replace"))


@debug_subcommand("set-active-expire", 3)
def _debug_set_active_expire(session: Session, argv: list[bytes]) -> Any:
    session.server.active_expire_enabled = bool(int(strtod_prefix(argv[2])))
    return OK


@debug_subcommand("advance-clock", 3)
def _debug_advance_clock(session: Session, argv: list[bytes]) -> Any:
    session.server.clock.advance(parse_int(argv[2]))
    session.server.refresh_lru_clock()  # (the cron's LRU clock follows at once)
    return OK


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


@debug_subcommand("object", 3)
def _debug_object(session: Session, argv: list[bytes]) -> Any:
    value = session.db.lookup(argv[2])
    if value is None:
        raise CommandError(errors.NO_SUCH_KEY)
    encoding = encoding_name(value, session.server.config).decode()
    lru = int(time.time()) & (2**24 - 1)
    return SimpleString(to_bytes(
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

@command("debug", -2, ADMIN_FLAGS, group="server", since="1.0.0",
         summary="A container for debugging commands.")
def debug(session: Session, argv: list[bytes]) -> Any:
    if not protected_action_allowed(session.server.config["enable-debug-command"], session):
        raise CommandError(errors.DEBUG_NOT_ALLOWED)
    sub = argv[1].lower()
    if sub == b"help" and len(argv) == 2:
        return help_reply(argv, _DEBUG_HELP)
    entry = DEBUG_SUBCOMMANDS.get(sub)
    if entry is None or (len(argv) != entry[1] if entry[1] > 0 else len(argv) < -entry[1]):
        raise CommandError(errors.subcommand_syntax(argv[1], argv[0].decode("utf-8", "replace")))
    return entry[0](session, argv)
