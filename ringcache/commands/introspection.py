"""COMMAND and its subcommands: COUNT, INFO, DOCS, LIST, GETKEYS,
GETKEYSANDFLAGS, HELP (Redis's server.c).

Everything here is generated from the command table (commands.registry):
arity, flags, key positions, tips and ACL categories are the ones the
dispatcher itself uses, so the two cannot disagree. The Redis 7 reply
carries a few things the table does not declare; they are derived the way
Redis derives them: ACL categories from the flags and the group
(CommandSpec.acl_categories), movablekeys from a key function, a key spec
from (first, last, step).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import stringmatch
from ..protocol import errors
from ..protocol.errors import CommandError
from . import keyspecs
from ._admin import bulk_set, help_subcommand, status_set, text, to_bytes
from .registry import COMMANDS, CommandSpec, all_specs, container, lookup, lookup_fullname, subcommand

if TYPE_CHECKING:
    from ..server.session import Session

# The order Redis prints command flags in.
_FLAG_ORDER = (
    "write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript", "blocking",
    "loading", "stale", "skip_monitor", "skip_slowlog", "asking", "fast", "no_auth",
    "may_replicate", "no_mandatory_keys", "no_async_loading", "no_multi", "movablekeys",
    "allow_busy",
)
# COMMAND DOCS group names.
_GROUP_NAME = {"sorted_set": "sorted-set"}


def command_flags(spec: CommandSpec) -> list[str]:
    flags = set(spec.flags)
    if spec.keys_fn is not None:
        flags.add("movablekeys")  # populateCommandMovableKeys
    ordered = [flag for flag in _FLAG_ORDER if flag in flags]
    return ordered + sorted(flags - set(_FLAG_ORDER))


def _key_flags(spec: CommandSpec) -> list[str]:
    return list(keyspecs.default_flags(spec))


def _key_specs(session: Session, spec: CommandSpec) -> list:
    if spec.key_specs:  # declared (commands/keyspecs.py)
        return [keyspecs.render(declared, status_set(session, declared.flags)) for declared in spec.key_specs]
    if spec.first_key > 0:
        last = spec.last_key - spec.first_key if spec.last_key >= 0 else spec.last_key
        return [{
            b"flags": status_set(session, _key_flags(spec)),
            b"begin_search": {b"type": b"index", b"spec": {b"index": spec.first_key}},
            b"find_keys": {b"type": b"range",
                           b"spec": {b"lastkey": last, b"keystep": spec.key_step, b"limit": 0}},
        }]
    if spec.keys_fn is not None:
        return [{
            b"flags": status_set(session, _key_flags(spec)),
            b"begin_search": {b"type": b"unknown", b"spec": {}},
            b"find_keys": {b"type": b"unknown", b"spec": {}},
        }]
    return []


def command_info(session: Session, spec: CommandSpec) -> list:
    """One COMMAND INFO entry (Redis 7's ten fields)."""
    if spec.subcommands:
        subs: Any = [command_info(session, sub) for sub in spec.subcommands.values()]
    else:
        subs = status_set(session, ())  # Redis sends an empty set here
    return [
        to_bytes(spec.fullname),
        spec.arity,
        status_set(session, command_flags(spec)),
        spec.first_key,
        spec.last_key,
        spec.key_step,
        status_set(session, ["@" + cat for cat in spec.acl_categories()]),
        bulk_set(session, spec.tips),
        _key_specs(session, spec),
        subs,
    ]


def command_docs(spec: CommandSpec) -> dict:
    docs: dict[bytes, Any] = {}
    if spec.summary:
        docs[b"summary"] = to_bytes(spec.summary)
    if spec.since:
        docs[b"since"] = to_bytes(spec.since)
    docs[b"group"] = to_bytes(_GROUP_NAME.get(spec.group, spec.group))
    if spec.complexity:
        docs[b"complexity"] = to_bytes(spec.complexity)
    if spec.subcommands:
        docs[b"subcommands"] = {to_bytes(sub.fullname): command_docs(sub) for sub in spec.subcommands.values()}
    return docs


def _command_all(session: Session, argv: list[bytes]) -> Any:
    return [command_info(session, spec) for spec in COMMANDS.values()]


def _named(argv: list[bytes]) -> list[CommandSpec | None]:
    """COMMAND INFO/DOCS: the commands argv[2:] names (None where unknown),
    or every command when it names none."""
    if len(argv) == 2:
        return list(COMMANDS.values())
    return [lookup_fullname(name) for name in argv[2:]]


COMMAND = container("command", -1, "loading stale", group="server", since="2.8.13",
                    complexity="O(N) where N is the total number of Redis commands",
                    acl="@connection", tips="nondeterministic_output_order",
                    summary="Returns detailed information about all commands.")
_route_subcommand = COMMAND.handler


def _command(session: Session, argv: list[bytes]) -> Any:
    # COMMAND alone lists everything; with an argument the dispatcher already
    # routed to the subcommand, this path is for callers that do not.
    if len(argv) == 1:
        return _command_all(session, argv)
    return _route_subcommand(session, argv)


COMMAND.handler = _command


@subcommand(COMMAND, "count", 2, "loading stale", acl="@connection", since="2.8.13",
            summary="Returns a count of commands.", complexity="O(1)")
def command_count(session: Session, argv: list[bytes]) -> Any:
    return len(COMMANDS)


@subcommand(COMMAND, "info", -2, "loading stale", acl="@connection", since="2.8.13",
            tips="nondeterministic_output_order",
            summary="Returns information about one, multiple or all commands.",
            complexity="O(N) where N is the number of commands to look up")
def command_info_cmd(session: Session, argv: list[bytes]) -> Any:
    return [None if spec is None else command_info(session, spec) for spec in _named(argv)]


@subcommand(COMMAND, "docs", -2, "loading stale", acl="@connection", since="7.0.0",
            tips="nondeterministic_output_order",
            summary="Returns documentary information about one, multiple or all commands.",
            complexity="O(N) where N is the number of commands to look up")
def command_docs_cmd(session: Session, argv: list[bytes]) -> Any:
    return {to_bytes(spec.fullname): command_docs(spec) for spec in _named(argv) if spec is not None}


@subcommand(COMMAND, "list", -2, "loading stale", acl="@connection", since="7.0.0",
            tips="nondeterministic_output_order",
            summary="Returns a list of command names.",
            complexity="O(N) where N is the total number of Redis commands")
def command_list(session: Session, argv: list[bytes]) -> Any:
    specs = list(all_specs())
    if len(argv) == 5 and argv[2].lower() == b"filterby":
        kind, arg = argv[3].lower(), argv[4]
        if kind == b"module":
            specs = []  # no modules
        elif kind == b"aclcat":
            category = text(arg).lower()
            specs = [spec for spec in specs if category in spec.acl_categories()]
        elif kind == b"pattern":
            pattern = text(arg)
            specs = [spec for spec in specs if stringmatch(pattern, spec.fullname, nocase=True)]
        else:
            raise CommandError(errors.SYNTAX)
    elif len(argv) != 2:
        raise CommandError(errors.SYNTAX)
    return [to_bytes(spec.fullname) for spec in specs]


def _getkeys(argv: list[bytes]) -> tuple[CommandSpec, list, list[int]]:
    """COMMAND GETKEYS/GETKEYSANDFLAGS: the spec, the command and key indexes."""
    args = argv[2:]
    spec = lookup(args[0])
    if spec is not None and spec.subcommands and len(args) > 1:
        spec = spec.subcommands.get(args[1].lower())
    if spec is None:
        raise CommandError(errors.GETKEYS_INVALID_COMMAND)
    if (spec.first_key <= 0 and spec.keys_fn is None) or "pubsub" in spec.flags:
        # (shard channels are positioned like keys, but flagged not_key: no keys)
        raise CommandError(errors.GETKEYS_NO_KEYS)
    if not spec.check_arity(len(args)):
        raise CommandError(errors.GETKEYS_BAD_ARITY)
    positions = keyspecs.key_positions(spec, args)
    if not positions and "no_mandatory_keys" not in spec.flags:
        raise CommandError(errors.GETKEYS_BAD_ARGS)
    return spec, args, positions


@subcommand(COMMAND, "getkeys", -3, "loading stale", acl="@connection", since="2.8.13",
            summary="Extracts the key names from an arbitrary command.",
            complexity="O(N) where N is the number of arguments to the command")
def command_getkeys(session: Session, argv: list[bytes]) -> Any:
    _, args, positions = _getkeys(argv)
    return [args[i] for i in positions]


@subcommand(COMMAND, "getkeysandflags", -3, "loading stale", acl="@connection", since="7.0.0",
            summary="Extracts the key names and access flags for an arbitrary command.",
            complexity="O(N) where N is the number of arguments to the command")
def command_getkeysandflags(session: Session, argv: list[bytes]) -> Any:
    spec, args, positions = _getkeys(argv)
    out = []
    for i in positions:
        flags = keyspecs.flags_at(spec.key_specs, args, i) if spec.key_specs else None
        out.append([args[i], status_set(session, flags or _key_flags(spec))])
    return out


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


help_subcommand(COMMAND, _COMMAND_HELP, since="5.0.0", acl="@connection")


