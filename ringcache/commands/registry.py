"""The declarative command table.

Every command is registered next to its handler with `@command(...)`: name,
arity, flags, key positions and its documentation. Dispatch, COMMAND
INFO/DOCS/GETKEYS, transactions and (later) cluster routing and propagation
all read this one table; nothing else keeps a list of commands.

Arity follows Redis: N > 0 means exactly N arguments including the name,
-N means at least N.

A handler is `handler(session, argv) -> reply` where argv[0] is the command
name as the client sent it. It returns a reply value (see protocol.resp) or
raises CommandError; it never touches the socket.

Container commands (CONFIG, CLIENT, OBJECT, ...) register their subcommands
with `@subcommand(parent, name, ...)`; the parent's handler routes to them and
checks their arity, with Redis's error texts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..protocol import errors
from ..protocol.errors import CommandError

Handler = Callable[[Any, list], Any]

# Flags as Redis 7 reports them in COMMAND INFO.
KNOWN_FLAGS = frozenset(
    "write readonly denyoom admin pubsub noscript blocking loading stale "
    "skip_monitor skip_slowlog fast no_auth may_replicate no_mandatory_keys "
    "no_multi movablekeys allow_busy".split()
)


@dataclass(eq=False)
class CommandSpec:
    name: str
    handler: Handler
    arity: int
    flags: frozenset[str]
    first_key: int = 0
    last_key: int = 0
    key_step: int = 0
    group: str = "generic"
    summary: str = ""
    since: str = "1.0.0"
    complexity: str = ""
    acl_categories: tuple[str, ...] = ()
    keys_fn: Callable[[list], list[int]] | None = None
    parent: "CommandSpec | None" = None
    subcommands: dict[bytes, "CommandSpec"] = field(default_factory=dict)
    # Runtime statistics for INFO commandstats, reset by CONFIG RESETSTAT.
    calls: int = 0
    time_s: float = 0.0  # seconds spent in the handler
    rejected_calls: int = 0
    failed_calls: int = 0

    def __post_init__(self) -> None:
        unknown = self.flags - KNOWN_FLAGS
        if unknown:
            raise ValueError(f"{self.name}: unknown flags {sorted(unknown)}")
        self.is_write = "write" in self.flags
        self.denyoom = "denyoom" in self.flags
        self.no_auth = "no_auth" in self.flags

    @property
    def fullname(self) -> str:
        return f"{self.parent.name}|{self.name}" if self.parent else self.name

    def key_positions(self, argv: list) -> list[int]:
        """Indexes of the key arguments in argv (Redis's getKeysFromCommand)."""
        if self.subcommands and len(argv) > 1:
            sub = self.subcommands.get(argv[1].lower())
            return sub.key_positions(argv) if sub else []
        if self.keys_fn is not None:
            return self.keys_fn(argv)
        if self.first_key == 0:
            return []
        last = self.last_key if self.last_key >= 0 else len(argv) + self.last_key
        return list(range(self.first_key, min(last, len(argv) - 1) + 1, self.key_step))

    def check_arity(self, argc: int) -> bool:
        return argc == self.arity if self.arity > 0 else argc >= -self.arity


COMMANDS: dict[bytes, CommandSpec] = {}  # lowercase name -> spec
# The dispatcher's first lookup: names as clients usually send them (all
# lower or all upper case), so most commands avoid a .lower() call.
_ANY_CASE: dict[bytes, CommandSpec] = {}


def _make_spec(name: str, handler: Handler, arity: int, flags: str,
               keys: tuple[int, int, int], **fields: Any) -> CommandSpec:
    return CommandSpec(
        name=name.lower(),
        handler=handler,
        arity=arity,
        flags=frozenset(flags.split()),
        first_key=keys[0],
        last_key=keys[1],
        key_step=keys[2],
        summary=fields.pop("summary") or (handler.__doc__ or "").strip().split("\n")[0],
        acl_categories=tuple(fields.pop("acl").split()),
        **fields,
    )


def command(
    name: str,
    arity: int,
    flags: str = "",
    keys: tuple[int, int, int] = (0, 0, 0),
    *,
    group: str = "generic",
    summary: str = "",
    since: str = "1.0.0",
    complexity: str = "",
    acl: str = "",
    keys_fn: Callable[[list], list[int]] | None = None,
) -> Callable[[Handler], Handler]:
    """Register a top-level command. `keys` is (first, last, step) as in Redis."""

    def register(handler: Handler) -> Handler:
        spec = _make_spec(name, handler, arity, flags, keys, group=group, summary=summary,
                          since=since, complexity=complexity, acl=acl, keys_fn=keys_fn)
        key = name.lower().encode()
        if key in COMMANDS:
            raise ValueError(f"command {name} registered twice")
        COMMANDS[key] = spec
        _ANY_CASE[key] = _ANY_CASE[key.upper()] = spec
        return handler

    return register


def container(name: str, arity: int = -2, flags: str = "", *, group: str = "generic",
              summary: str = "", since: str = "1.0.0") -> CommandSpec:
    """Register a command made of subcommands (CONFIG GET, CLIENT LIST, ...).
    The dispatcher resolves the subcommand (and checks its arity) itself;
    `route` serves callers that run a handler directly."""

    def route(session: Any, argv: list) -> Any:
        sub = spec.subcommands.get(argv[1].lower())
        if sub is None:
            raise CommandError(errors.unknown_subcommand(argv[1], spec.name))
        if not sub.check_arity(len(argv)):
            raise CommandError(errors.wrong_arity(sub.fullname))
        return sub.handler(session, argv)

    command(name, arity, flags, group=group, summary=summary, since=since)(route)
    spec = COMMANDS[name.lower().encode()]
    return spec


def subcommand(
    parent: CommandSpec,
    name: str,
    arity: int,
    flags: str = "",
    keys: tuple[int, int, int] = (0, 0, 0),
    *,
    summary: str = "",
    since: str = "1.0.0",
    complexity: str = "",
    acl: str = "",
) -> Callable[[Handler], Handler]:
    """Register `parent name` (CONFIG GET); its arity counts the parent too."""

    def register(handler: Handler) -> Handler:
        parent.subcommands[name.lower().encode()] = _make_spec(
            name, handler, arity, flags, keys, group=parent.group, summary=summary,
            since=since, complexity=complexity, acl=acl, parent=parent)
        return handler

    return register


def lookup(name: bytes) -> CommandSpec | None:
    spec = _ANY_CASE.get(name)
    if spec is None:
        spec = COMMANDS.get(name.lower())
    return spec


def fast_table() -> dict[bytes, CommandSpec]:
    return _ANY_CASE
