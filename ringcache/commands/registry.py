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

The spec also carries what COMMAND INFO/DOCS report: the command tips
(Redis's "tips": nondeterministic_output, request_policy:..., declared with
`tips=`) and the ACL categories. Redis derives most categories from the
flags and the group (setImplicitACLCategories: write -> @write, fast ->
@fast, else @slow, admin -> @admin @dangerous, ...); a spec declares only
the others (`acl=`), and declaring one the flags imply is refused at
registration, so the table never says the same thing twice.

Registration happens when a family module is imported. A module that
extends another family's container (CLIENT TRACKING in commands/client.py,
DEBUG RELOAD in commands/persistence.py) imports that module itself, so the
table is the same whatever order the families are loaded in
(commands.load_all loads them all).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, TypedDict

from ..protocol import errors
from ..protocol.errors import CommandError

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..server.session import Session

# A command handler: (the client's session, argv) -> a reply value (see
# protocol.resp) or BlockOn; it raises CommandError for an error reply.
Handler = Callable[["Session", list[bytes]], Any]

# Flags as Redis 7 reports them in COMMAND INFO.
KNOWN_FLAGS = frozenset(
    "write readonly denyoom admin pubsub noscript blocking loading stale "
    "skip_monitor skip_slowlog fast no_auth may_replicate no_mandatory_keys "
    "no_multi movablekeys allow_busy asking".split()
)


# The order Redis prints ACL categories in.
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


def implied_categories(flags: frozenset[str], group: str, is_container: bool,
                       declared: set[str]) -> set[str]:
    """The ACL categories Redis derives from a command's flags and group
    (setImplicitACLCategories), given the ones it declares."""
    cats = set()
    if not is_container:  # a container declares nothing but its speed
        group_cat = _GROUP_CATEGORY.get(group)
        if group_cat:
            cats.add(group_cat)
    if "write" in flags:
        cats.add("write")
    if "readonly" in flags and "scripting" not in declared:
        cats.add("read")
    if "admin" in flags:
        cats.update(("admin", "dangerous"))
    if "pubsub" in flags:
        cats.add("pubsub")
    if "fast" in flags:
        cats.add("fast")
    if "blocking" in flags:
        cats.add("blocking")
    if "fast" not in cats and "fast" not in declared:
        cats.add("slow")
    return cats


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
    # The ACL categories this command declares, without '@': only those its
    # flags and group do not imply (see acl_categories()).
    declared_acl: tuple[str, ...] = ()
    tips: tuple[str, ...] = ()  # COMMAND INFO/DOCS tips, in Redis's order
    keys_fn: Callable[[list], list[int]] | None = None
    key_specs: tuple[Any, ...] = ()  # declared keyspecs.KeySpec; () = derived from the key positions
    parent: "CommandSpec | None" = None
    subcommands: dict[bytes, "CommandSpec"] = field(default_factory=dict)
    is_container: bool = False  # registered with container(): routes to subcommands
    module: str = ""  # the family module that registered it (the table's order)
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
        declared = set(self.declared_acl)
        repeated = declared & self._implied(declared)
        if repeated:
            raise ValueError(f"{self.name}: ACL categories {sorted(repeated)} follow from the "
                             "flags and group; do not declare them")

    def _implied(self, declared: set[str]) -> set[str]:
        return implied_categories(self.flags, self.group, self.is_container, declared)

    def acl_categories(self) -> list[str]:
        """Declared plus implied categories, in Redis's order (no '@')."""
        cats = set(self.declared_acl)
        cats |= self._implied(cats)
        ordered = [cat for cat in ACL_CATEGORIES if cat in cats]
        return ordered + sorted(cats - set(ACL_CATEGORIES))

    @property
    def fullname(self) -> str:
        return f"{self.parent.name}|{self.name}" if self.parent else self.name

    def key_positions(self, argv: list[bytes]) -> list[int]:
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


class Doc(TypedDict, total=False):
    """What COMMAND DOCS/INFO say about a command beyond its arity and flags."""

    summary: str  # default: the first line of the handler's docstring
    since: str  # the Redis version that added it (default 1.0.0)
    complexity: str
    acl: str  # the ACL categories its flags and group do not imply ("@dangerous")
    tips: str  # Redis's command tips, space separated


def _make_spec(name: str, handler: Handler, arity: int, flags: str, keys: tuple[int, int, int],
               doc: Doc, **fields: Any) -> CommandSpec:
    return CommandSpec(
        name=name.lower(),
        handler=handler,
        arity=arity,
        flags=frozenset(flags.split()),
        first_key=keys[0],
        last_key=keys[1],
        key_step=keys[2],
        summary=doc.get("summary") or (handler.__doc__ or "").strip().split("\n")[0],
        since=doc.get("since", "1.0.0"),
        complexity=doc.get("complexity", ""),
        declared_acl=tuple(cat.lstrip("@").lower() for cat in doc.get("acl", "").split()),
        tips=tuple(doc.get("tips", "").split()),
        **fields,
    )


def _add(name: str, spec: CommandSpec) -> None:
    key = name.lower().encode()
    if key in COMMANDS:
        raise ValueError(f"command {name} registered twice")
    COMMANDS[key] = spec
    _ANY_CASE[key] = _ANY_CASE[key.upper()] = spec


def command(name: str, arity: int, flags: str = "", keys: tuple[int, int, int] = (0, 0, 0), *,
            group: str = "generic", keys_fn: Callable[[list], list[int]] | None = None,
            key_specs: tuple[Any, ...] = (), **doc: Unpack[Doc]) -> Callable[[Handler], Handler]:
    """Register a top-level command. `keys` is (first, last, step) as in
    Redis, `keys_fn` finds them where they move (movablekeys); `key_specs`
    declares COMMAND INFO's key specs where keys are used differently
    (commands/keyspecs.py)."""

    def register(handler: Handler) -> Handler:
        _add(name, _make_spec(name, handler, arity, flags, keys, doc, group=group,
                              keys_fn=keys_fn, key_specs=key_specs, module=handler.__module__))
        return handler

    return register


def container(name: str, arity: int = -2, flags: str = "", *, group: str = "generic",
              **doc: Unpack[Doc]) -> CommandSpec:
    """Register a command made of subcommands (CONFIG GET, CLIENT LIST, ...).
    The dispatcher resolves the subcommand (and checks its arity) itself;
    `route` serves callers that run a handler directly."""

    def route(session: Session, argv: list[bytes]) -> Any:
        sub = spec.subcommands.get(argv[1].lower())
        if sub is None:
            raise CommandError(errors.unknown_subcommand(argv[1], spec.name))
        if not sub.check_arity(len(argv)):
            raise CommandError(errors.wrong_arity(sub.fullname))
        return sub.handler(session, argv)

    spec = _make_spec(name, route, arity, flags, (0, 0, 0), doc, group=group, is_container=True,
                      module=sys._getframe(1).f_globals["__name__"])  # the caller's module
    _add(name, spec)
    return spec


def subcommand(parent: CommandSpec, name: str, arity: int, flags: str = "",
               keys: tuple[int, int, int] = (0, 0, 0), **doc: Unpack[Doc]) -> Callable[[Handler], Handler]:
    """Register `parent name` (CONFIG GET); its arity counts the parent too."""

    def register(handler: Handler) -> Handler:
        key = name.lower().encode()
        if key in parent.subcommands:
            raise ValueError(f"subcommand {parent.name} {name} registered twice")
        parent.subcommands[key] = _make_spec(name, handler, arity, flags, keys, doc,
                                             group=parent.group, parent=parent)
        return handler

    return register


def order_table(modules: list[str]) -> None:
    """Put the table in family order (modules: their names, in order),
    keeping each family's own registration order, so that COMMAND lists
    the same order whichever module happened to be imported first."""
    rank = {name: i for i, name in enumerate(modules)}
    ordered = sorted(COMMANDS.items(), key=lambda item: rank.get(item[1].module, len(rank)))
    COMMANDS.clear()
    COMMANDS.update(ordered)


def all_specs() -> Iterable[CommandSpec]:
    """Every command and subcommand in the table, parents first."""
    for spec in COMMANDS.values():
        yield spec
        yield from spec.subcommands.values()


def lookup_fullname(name: bytes) -> CommandSpec | None:
    """A command by its full name: "get", "config|get" (lookupCommandBySds)."""
    parts = name.lower().split(b"|")
    if len(parts) > 2:
        return None
    spec = COMMANDS.get(parts[0])
    if spec is None or len(parts) == 1:
        return spec
    return spec.subcommands.get(parts[1])


def lookup(name: bytes) -> CommandSpec | None:
    spec = _ANY_CASE.get(name)
    if spec is None:
        spec = COMMANDS.get(name.lower())
    return spec


def fast_table() -> dict[bytes, CommandSpec]:
    return _ANY_CASE
