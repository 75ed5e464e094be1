"""ACL users: their rules, the permission check, and the ACL LOG.

Theory of operation
-------------------
A `User` has a name, on/off, passwords (SHA-256 hex, as Redis stores them;
`nopass` accepts any), and one or more `Selector`s: the root selector (the
rules outside parentheses) and the extra ones written `(...)`. A selector
holds what it allows:

* commands: the set of allowed command ids (a top-level command's name, a
  subcommand's `parent|sub`), plus `all_future` (set by `+@all` alone, so
  that ACL LIST can say `+@all -get` instead of listing every command) and
  per-command first arguments (`+select|0`, Redis's legacy form);
* keys: `(pattern, read, write)` triples (`~p` is both, `%R~p`, `%W~p`),
  `allkeys` when `~*` / `%RW~*` was given;
* channels: patterns (`&p`), or `allchannels`.

Rules are applied in order, exactly as Redis's ACLSetSelector does, and a
bad rule raises AclError with Redis's reason; the caller applies a whole
SETUSER to a copy, so a bad rule changes nothing.

A command is allowed when any selector allows the command, all its keys
(with the access it needs) and all its channels; otherwise the most
relevant denial (Redis's order: command < key < channel) is reported.

The cost on the hot path is nothing for a user that may do everything
(`User.unrestricted`: every command and future ones, all keys, all
channels): its sessions are not gated, so the dispatcher's fast path does
not even test for ACLs. A restricted user's sessions are gated
(Session.update_gate), and their commands take the checked path, which
calls `check()`.

Key access, read or write, is Redis's (ACLSelectorCheckKey): each key of
the command is found with its key-spec flags exactly as COMMAND
GETKEYSANDFLAGS reports them (commands/keyspecs.py: the declared specs,
redis 7.0.15's specs kept as data, or the command flags' default), and a
key whose flags hold ACCESS needs read (`%R~`), one whose flags hold
INSERT, UPDATE or DELETE needs write (`%W~`), both when it has both (COPY's
source needs read only, its destination write only; SET ... GET both). A
key with none of them (EXISTS: RO without ACCESS) needs a matching pattern
of any kind. A command whose one key sits at a fixed position with fixed
flags (GET, INCR, ...) takes a short cut with its access computed once.

Pure: no asyncio, no sockets.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from typing import Any, Iterable

from .commands import keyspecs
from .commands.registry import ACL_CATEGORIES, COMMANDS, CommandSpec, lookup
from .glob import compile_glob, glob_match

DENIED_COMMAND, DENIED_KEY, DENIED_AUTH, DENIED_CHANNEL = 1, 2, 3, 4
REASONS = {DENIED_COMMAND: "command", DENIED_KEY: "key", DENIED_AUTH: "auth",
           DENIED_CHANNEL: "channel"}

_PUBLISH = frozenset({"publish", "spublish"})
_SUBSCRIBE = frozenset({"subscribe", "ssubscribe"})
CHANNEL_COMMANDS = _PUBLISH | _SUBSCRIBE | {"psubscribe"}  # the commands channel rules check


def _access(flags: Iterable[str]) -> tuple[bool, bool]:
    """(needs read, needs write) for a key with these key-spec flags."""
    flags = set(flags)
    return "access" in flags, bool(flags & {"insert", "update", "delete"})


_ONE_KEY: dict[str, tuple[int, bool, bool] | None] = {}
_UNKNOWN = object()


def _one_key(spec: CommandSpec) -> tuple[int, bool, bool] | None:
    """(position, read, write) for a command whose only key is at a fixed
    position with fixed flags (most commands: GET, INCR), position 0 when
    it has no key to check (SPUBLISH's shard channel: channel rules check
    it); None for the others, which take keyspecs.keys_and_flags. Computed
    once per command."""
    cached = _ONE_KEY.get(spec.fullname, _UNKNOWN)
    if cached is not _UNKNOWN:
        return cached  # type: ignore[return-value]
    found: tuple[int, bool, bool] | None = None
    if spec.keys_fn is None and not spec.key_specs:
        if spec.first_key and spec.first_key == spec.last_key:
            flags = keyspecs.default_flags(spec)
            found = (0, False, False) if "not_key" in flags else (spec.first_key, *_access(flags))
    elif spec.keys_fn is None and len(spec.key_specs) == 1:
        only = spec.key_specs[0]
        if (only.index > 0 and only.lastkey == 0 and not (only.keyword or only.keynum
                                                          or only.unknown or only.flags_fn)
                and "incomplete" not in only.flags):
            found = (only.index, *_access(only.flags))
    _ONE_KEY[spec.fullname] = found
    return found


class AclError(Exception):
    """A rule Redis would refuse; args[0] is Redis's reason text."""


def hash_password(password: bytes) -> str:
    return hashlib.sha256(password).hexdigest()


# -- the command universe -------------------------------------------------


def _walk(specs: Iterable[CommandSpec]) -> Iterable[CommandSpec]:
    for spec in specs:
        yield spec
        yield from spec.subcommands.values()


def all_commands() -> list[CommandSpec]:
    """Every command and subcommand, in table order."""
    return list(_walk(COMMANDS.values()))


def _with_subcommands(spec: CommandSpec) -> list[str]:
    return [spec.fullname] + [sub.fullname for sub in spec.subcommands.values()]


def commands_in_category(category: str) -> list[CommandSpec]:
    return [spec for spec in all_commands() if category in spec.acl_categories()]


def find_command(name: str) -> CommandSpec | None:
    """A command id as written in a rule: `get`, `config|get`."""
    parent, _, sub = name.partition("|")
    spec = lookup(parent.encode())
    if spec is None or not sub:
        return spec
    return spec.subcommands.get(sub.encode())


# -- selectors ----------------------------------------------------------------


class Selector:
    __slots__ = ("allowed", "all_future", "firstargs", "keys", "allkeys", "channels",
                 "allchannels", "_matchers")

    def __init__(self, allchannels: bool = False) -> None:
        self.allowed: set[str] = set()
        self.all_future = False
        self.firstargs: dict[str, list[bytes]] = {}
        self.keys: list[tuple[bytes, bool, bool]] = []  # (pattern, read, write)
        # The key patterns compiled, with their access (check() runs them).
        self._matchers: list[tuple[Any, bool, bool]] = []
        self.allkeys = False
        self.channels: list[bytes] = []
        self.allchannels = allchannels

    def copy(self) -> "Selector":
        other = Selector()
        other.allowed = set(self.allowed)
        other.all_future = self.all_future
        other.firstargs = {name: list(args) for name, args in self.firstargs.items()}
        other.keys = list(self.keys)
        other._matchers = list(self._matchers)
        other.allkeys = self.allkeys
        other.channels = list(self.channels)
        other.allchannels = self.allchannels
        return other

    # -- rules ---------------------------------------------------------------

    def _set_command(self, spec: CommandSpec, allow: bool) -> None:
        """ACLChangeSelectorPerm: a command and all its subcommands; its
        first-argument rules go."""
        for name in _with_subcommands(spec):
            if allow:
                self.allowed.add(name)
            else:
                self.allowed.discard(name)
            self.firstargs.pop(name, None)

    def _set_category(self, category: str, allow: bool) -> None:
        for spec in all_commands():
            if category in spec.acl_categories():
                self._set_command(spec, allow)

    def apply(self, rule: str) -> None:
        """One rule (ACLSetSelector); AclError with Redis's reason."""
        low = rule.lower()
        if low in ("allkeys", "~*", "%rw~*", "%wr~*"):
            self.allkeys = True
            self.keys = []
            self._matchers = []
        elif low == "resetkeys":
            self.allkeys = False
            self.keys = []
            self._matchers = []
        elif low in ("allchannels", "&*"):
            self.allchannels = True
            self.channels = []
        elif low == "resetchannels":
            self.allchannels = False
            self.channels = []
        elif low in ("allcommands", "+@all"):
            self.allowed = {spec.fullname for spec in all_commands()}
            self.all_future = True
            self.firstargs = {}
        elif low in ("nocommands", "-@all"):
            self.allowed = set()
            self.all_future = False
            self.firstargs = {}
        elif rule[:1] == "~" or rule[:1] == "%":
            self._key_rule(rule)
        elif rule[:1] == "&":
            if self.allchannels:
                raise AclError(f"Adding a pattern after the * pattern (or the 'allchannels' "
                               f"flag) is not valid and does not have any effect. Try "
                               f"'resetchannels' to start with an empty list of channels")
            pattern = rule[1:].encode("utf-8", "surrogateescape")
            if pattern not in self.channels:
                self.channels.append(pattern)
        elif rule[:2] in ("+@", "-@"):
            category = low[2:]
            if category not in ACL_CATEGORIES:
                raise AclError("Unknown command or category name in ACL")
            self._set_category(category, rule[0] == "+")
        elif rule[:1] in ("+", "-"):
            self._command_rule(rule[0] == "+", low[1:])
        else:
            raise AclError("Syntax error")

    def _key_rule(self, rule: str) -> None:
        read = write = True
        body = rule
        if rule[0] == "%":
            flags, sep, body = rule[1:].partition("~")
            if not sep or not flags:
                raise AclError("Syntax error")
            read = write = False
            for ch in flags.upper():
                if ch == "R":
                    read = True
                elif ch == "W":
                    write = True
                else:
                    raise AclError("Syntax error")
            pattern = body.encode("utf-8", "surrogateescape")
        else:
            pattern = rule[1:].encode("utf-8", "surrogateescape")
        if self.allkeys:
            raise AclError("Adding a pattern after the * pattern (or the 'allkeys' flag) is "
                           "not valid and does not have any effect. Try 'resetkeys' to start "
                           "with an empty list of patterns")
        for i, (existing, r, w) in enumerate(self.keys):
            if existing == pattern:  # the same pattern again: its access grows
                self.keys[i] = (pattern, r or read, w or write)
                self._matchers[i] = (compile_glob(pattern), r or read, w or write)
                return
        self.keys.append((pattern, read, write))
        self._matchers.append((compile_glob(pattern), read, write))

    def _command_rule(self, allow: bool, name: str) -> None:
        spec = find_command(name)
        if spec is not None:
            self._set_command(spec, allow)
            return
        parent_name, sep, arg = name.partition("|")
        parent = lookup(parent_name.encode())
        if not sep or parent is None:
            raise AclError("Unknown command or category name in ACL")
        if parent.subcommands:  # a subcommand that does not exist
            raise AclError("Unknown command or category name in ACL")
        if not allow:
            raise AclError("Allowing first-arg of a subcommand is not supported")
        if not arg:
            raise AclError("Syntax error")
        # +select|0: the command with this first argument only.
        if parent.fullname not in self.allowed:
            args = self.firstargs.setdefault(parent.fullname, [])
            if arg.encode() not in args:
                args.append(arg.encode())

    # -- checks --------------------------------------------------------------

    def command_allowed(self, spec: CommandSpec, argv: list[bytes]) -> bool:
        if spec.fullname in self.allowed:
            return True
        args = self.firstargs.get(spec.fullname)
        return args is not None and len(argv) > 1 and argv[1].lower() in args

    def key_allowed(self, key: bytes, read: bool, write: bool) -> bool:
        if self.allkeys:
            return True
        for matches, r, w in self._matchers:
            if (r or not read) and (w or not write) and matches(key):
                return True
        return False

    def channel_allowed(self, channel: bytes, is_pattern: bool) -> bool:
        if self.allchannels:
            return True
        for pattern in self.channels:
            if pattern == channel if is_pattern else glob_match(pattern, channel):
                return True
        return False

    def check(self, spec: CommandSpec, argv: list[bytes]) -> tuple[int, int]:
        """(0, 0) when allowed, else (DENIED_*, index of the argument)."""
        if not spec.no_auth and not self.command_allowed(spec, argv):  # AUTH, HELLO: always
            return DENIED_COMMAND, 0
        if not self.allkeys:
            one = _one_key(spec)
            if one is not None:  # one key: most commands
                position, read, write = one
                if position and len(argv) > position \
                        and not self.key_allowed(argv[position], read, write):
                    return DENIED_KEY, position
            else:
                for i, flags in keyspecs.keys_and_flags(spec, argv):
                    read, write = _access(flags)
                    if not self.key_allowed(argv[i], read, write):
                        return DENIED_KEY, i
        if not self.allchannels:
            name = spec.name
            if name in _PUBLISH and len(argv) > 1:
                if not self.channel_allowed(argv[1], False):
                    return DENIED_CHANNEL, 1
            elif name in _SUBSCRIBE or name == "psubscribe":
                for i in range(1, len(argv)):
                    if not self.channel_allowed(argv[i], name == "psubscribe"):
                        return DENIED_CHANNEL, i
        return 0, 0

    @property
    def commands_and_keys_unrestricted(self) -> bool:
        return self.all_future and self.allkeys and len(self.allowed) == len(all_commands())

    @property
    def unrestricted(self) -> bool:
        return self.allchannels and self.commands_and_keys_unrestricted

    # -- description -----------------------------------------------------------

    def describe_keys(self) -> list[str]:
        if self.allkeys:
            return ["~*"]
        out = []
        for pattern, read, write in self.keys:
            text = pattern.decode("utf-8", "surrogateescape")
            out.append(f"~{text}" if read and write else f"%{'R' if read else 'W'}~{text}")
        return out

    def describe_channels(self) -> list[str]:
        if self.allchannels:
            return ["&*"]
        return [f"&{p.decode('utf-8', 'surrogateescape')}" for p in self.channels]

    def describe_commands(self) -> str:
        """ACLDescribeSelectorCommandRules (Redis 7.0): start from +@all or
        -@all, greedily add the categories that fit best, then the single
        commands that still differ (in table order; Redis's order is its
        dict's, which changes with each process)."""
        additive = not self.all_future
        fake = Selector()
        fake.apply("-@all" if additive else "+@all")
        rules = ["-@all" if additive else "+@all"]
        specs = all_commands()
        top = list(COMMANDS.values())
        temp = set(self.allowed)
        applied: set[str] = set()
        members = {cat: [s for s in top if cat in s.acl_categories()] for cat in ACL_CATEGORIES}
        while True:
            best = None
            mindiff, maxsame = 1 << 30, 0
            for cat in ACL_CATEGORIES:
                if cat in applied:
                    continue
                on = sum(1 for s in members[cat] if s.fullname in temp)
                off = len(members[cat]) - on
                diff, same = (off, on) if additive else (on, off)
                if same > diff and (diff < mindiff or (diff == mindiff and same > maxsame)):
                    best, mindiff, maxsame = cat, diff, same
            if best is None:
                break
            fake._set_category(best, additive)
            for spec in specs:  # the inverse on temp
                if best in spec.acl_categories():
                    for name in _with_subcommands(spec):
                        if additive:
                            temp.discard(name)
                        else:
                            temp.add(name)
            rules.append(("+@" if additive else "-@") + best)
            applied.add(best)
        for spec in top:
            self._describe_single(spec, fake, rules)
        return " ".join(rules)

    def _describe_single(self, spec: CommandSpec, fake: "Selector", rules: list[str]) -> None:
        user_bit = spec.fullname in self.allowed
        if user_bit != (spec.fullname in fake.allowed):
            rules.append(("+" if user_bit else "-") + spec.fullname)
            fake._set_command(spec, user_bit)
        for sub in spec.subcommands.values():
            self._describe_single(sub, fake, rules)
        if not user_bit:
            for arg in self.firstargs.get(spec.fullname, ()):
                rules.append(f"+{spec.fullname}|{arg.decode('utf-8', 'surrogateescape')}")

    def describe(self, with_reset_channels: bool) -> list[str]:
        out = self.describe_keys()
        if with_reset_channels and not self.allchannels:
            out.append("resetchannels")
        out += self.describe_channels()
        out.append(self.describe_commands())
        return out


# -- users ----------------------------------------------------------------


class User:
    def __init__(self, name: bytes, allchannels: bool = False) -> None:
        self.name = name
        self.enabled = False
        self.nopass = False
        self.passwords: list[str] = []  # SHA-256 hex
        self.root = Selector(allchannels)
        self.selectors: list[Selector] = []
        # unrestricted: may do everything (sessions pay nothing for ACLs).
        # needs_gate: its root selector restricts commands or keys, so its
        # sessions take the checked path for every command; a user
        # restricted on channels only (`~* +@all` under the default
        # acl-pubsub-default resetchannels) is checked on the commands that
        # name channels alone (Dispatcher.check_channels).
        self.unrestricted = False
        self.needs_gate = True

    def copy(self) -> "User":
        other = User(self.name)
        other.enabled, other.nopass = self.enabled, self.nopass
        other.passwords = list(self.passwords)
        other.root = self.root.copy()
        other.selectors = [s.copy() for s in self.selectors]
        other.unrestricted, other.needs_gate = self.unrestricted, self.needs_gate
        return other

    def take(self, other: "User") -> None:
        """Become `other` (SETUSER applied to a copy): sessions that hold this
        object see the new rules at once, as in Redis."""
        self.enabled, self.nopass, self.passwords = other.enabled, other.nopass, other.passwords
        self.root, self.selectors = other.root, other.selectors
        self.unrestricted, self.needs_gate = other.unrestricted, other.needs_gate

    def apply(self, rule: str, acl_pubsub_default: bool = False) -> None:
        low = rule.lower()
        if low == "on":
            self.enabled = True
        elif low == "off":
            self.enabled = False
        elif low == "nopass":
            self.nopass = True
            self.passwords = []
        elif low == "resetpass":
            self.nopass = False
            self.passwords = []
        elif low in ("skip-sanitize-payload", "sanitize-payload"):
            pass
        elif rule[:1] in (">", "<"):
            hashed = hash_password(rule[1:].encode("utf-8", "surrogateescape"))
            self._password(rule[0] == ">", hashed)
        elif rule[:1] in ("#", "!"):
            hashed = rule[1:]
            if len(hashed) != 64 or any(ch not in "0123456789abcdef" for ch in hashed):
                raise AclError("The password hash must be exactly 64 characters and contain "
                               "only lowercase hexadecimal characters")
            self._password(rule[0] == "#", hashed)
        elif low == "reset":
            for step in ("resetpass", "resetkeys", "resetchannels", "off", "-@all"):
                self.apply(step)
            if acl_pubsub_default:
                self.root.allchannels = True
            self.selectors = []
        elif low == "clearselectors":
            self.selectors = []
        elif rule[:1] == "(" and rule[-1:] == ")":
            selector = Selector(acl_pubsub_default)
            for part in rule[1:-1].split():
                selector.apply(part)
            self.selectors.append(selector)
        else:
            self.root.apply(rule)
        self.unrestricted = self.root.unrestricted
        self.needs_gate = not self.root.commands_and_keys_unrestricted

    def _password(self, add: bool, hashed: str) -> None:
        if add:
            if hashed not in self.passwords:
                self.passwords.append(hashed)
            self.nopass = False
        elif hashed in self.passwords:
            self.passwords.remove(hashed)
        else:
            raise AclError("The password you are trying to remove from the user does not exist")

    def check_password(self, password: bytes) -> bool:
        if not self.enabled:
            return False
        if self.nopass:
            return True
        return hash_password(password) in self.passwords

    def check(self, spec: CommandSpec, argv: list[bytes]) -> tuple[int, int]:
        """(0, 0) or the most relevant denial over all selectors."""
        if not self.selectors:
            return self.root.check(spec, argv)
        worst, worst_index = 0, -1
        for selector in (self.root, *self.selectors):
            denied, index = selector.check(spec, argv)
            if not denied:
                return 0, 0
            if denied > worst or (denied == worst and index > worst_index):
                worst, worst_index = denied, index
        return worst, worst_index

    def flags(self) -> list[str]:
        out = ["on" if self.enabled else "off"]
        if self.nopass:
            out.append("nopass")
        return out

    def describe(self) -> str:
        """ACL LIST's line (without `user `)."""
        parts = [self.name.decode("utf-8", "surrogateescape"), *self.flags()]
        parts += [f"#{h}" for h in self.passwords]
        parts += self.root.describe(with_reset_channels=True)
        for selector in self.selectors:
            parts.append("(" + " ".join(selector.describe(with_reset_channels=True)) + ")")
        return " ".join(parts)


def split_rules(line: str) -> list[str]:
    """A rule list from an aclfile or `user` line: words, with a selector's
    parenthesised words joined into one."""
    out: list[str] = []
    group: list[str] | None = None
    for word in line.split():
        if group is None and word.startswith("(") and not word.endswith(")"):
            group = [word]
        elif group is not None:
            group.append(word)
            if word.endswith(")"):
                out.append(" ".join(group))
                group = None
        else:
            out.append(word)
    if group is not None:
        raise AclError("Unmatched parenthesis in acl selector starting at "
                       f"'{group[0]}'.")
    return out


# -- ACL LOG -------------------------------------------------------------------


class LogEntry:
    __slots__ = ("count", "reason", "context", "object", "username", "created", "updated",
                 "client_info", "entry_id")

    def __init__(self, reason: str, context: str, obj: bytes, username: bytes,
                 client_info: str, entry_id: int) -> None:
        self.count = 1
        self.reason, self.context, self.object, self.username = reason, context, obj, username
        self.created = self.updated = time.time()
        self.client_info = client_info
        self.entry_id = entry_id


class AclLog:
    """ACL LOG: the newest first; an entry like a recent one (same reason,
    context, object and user, within 60 s) is counted in it, as in Redis."""

    GROUPING_S = 60.0

    def __init__(self, max_len: int) -> None:
        self.entries: deque[LogEntry] = deque()
        self.max_len = max_len
        self.next_id = 0
        # INFO stats acl_access_denied_*: every refusal, even those grouped
        # into one entry.
        self.denied = {"auth": 0, "cmd": 0, "key": 0, "channel": 0}

    def add(self, reason: str, context: str, obj: bytes, username: bytes, client_info: str) -> None:
        self.denied["cmd" if reason == "command" else reason] += 1
        now = time.time()
        for entry in list(self.entries)[:10]:
            if (entry.reason, entry.context, entry.object, entry.username) == \
                    (reason, context, obj, username) and now - entry.updated < self.GROUPING_S:
                entry.count += 1
                entry.updated = now
                entry.client_info = client_info
                self.entries.remove(entry)
                self.entries.appendleft(entry)
                return
        self.entries.appendleft(LogEntry(reason, context, obj, username, client_info, self.next_id))
        self.next_id += 1
        self.trim()

    def trim(self) -> None:
        while len(self.entries) > self.max_len:
            self.entries.pop()

    def reply(self, count: int | None) -> list[Any]:
        now = time.time()
        out = []
        for entry in list(self.entries)[:count]:
            out.append({
                b"count": entry.count,
                b"reason": entry.reason.encode(),
                b"context": entry.context.encode(),
                b"object": entry.object,
                b"username": entry.username,
                b"age-seconds": round(now - entry.created, 3),
                b"client-info": entry.client_info.encode("utf-8", "replace"),
                b"entry-id": entry.entry_id,
                b"timestamp-created": int(entry.created * 1000),
                b"timestamp-last-updated": int(entry.updated * 1000),
            })
        return out


def genpass(bits: int) -> str:
    """ACL GENPASS: `bits` random bits as hex (rounded up to 4 bits)."""
    chars = (bits + 3) // 4
    return os.urandom((chars + 1) // 2).hex()[:chars]


# -- the users -------------------------------------------------------------------


class Users:
    """Every user of the node, by name; `default` always exists."""

    def __init__(self, log_max_len: int = 128, pubsub_default: bool = False) -> None:
        self.users: dict[bytes, User] = {}
        self.pubsub_default = pubsub_default  # acl-pubsub-default allchannels
        self.log = AclLog(log_max_len)
        self.default = self._new_default()
        self.users[b"default"] = self.default
        # The user of the node's own sessions (a primary's stream, AOF
        # replay): every permission, and in no list.
        self.internal = self._new_default()

    @staticmethod
    def _new_default() -> User:
        user = User(b"default")
        for rule in ("on", "nopass", "~*", "&*", "+@all"):
            user.apply(rule)
        return user

    def get(self, name: bytes) -> User | None:
        return self.users.get(name)

    def new_user(self, name: bytes) -> User:
        return User(name, self.pubsub_default)

    def setuser(self, name: bytes, rules: list[str]) -> tuple[User, bool]:
        """Apply rules to a copy of the user (a new one if absent) and commit
        only if all pass: (the user, whether it existed)."""
        existing = self.users.get(name)
        user = existing.copy() if existing is not None else self.new_user(name)
        for rule in rules:
            try:
                user.apply(rule, self.pubsub_default)
            except AclError as exc:
                raise AclError(f"Error in ACL SETUSER modifier '{rule}': {exc.args[0]}") from None
        if existing is not None:
            existing.take(user)
            return existing, True
        self.users[name] = user
        return user, False

    @staticmethod
    def parse_lines(lines: list[tuple[Any, str]], pubsub_default: bool) -> dict[bytes, User]:
        """`user <name> <rules...>` lines (aclfile, config `user` lines),
        each with where it is (a line number, "file:line"), into users;
        AclError("WHERE: reason") at the first bad line, as Redis's
        ACLLoadFromFile reports it."""
        users: dict[bytes, User] = {}
        for number, line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            words = line.split()
            if words[0] != "user" or len(words) < 2:
                raise AclError(f"{number}: line should start with user keyword")
            name = words[1].encode("utf-8", "surrogateescape")
            if any(c <= 32 or c >= 127 for c in name):
                raise AclError(f"{number}: username '{words[1]}' contains invalid characters")
            if name in users:
                raise AclError(f"{number}: Duplicate user '{words[1]}' found")
            user = User(name, pubsub_default)
            try:
                for rule in split_rules(" ".join(words[2:])):
                    try:
                        user.apply(rule, pubsub_default)
                    except AclError as exc:
                        raise AclError(f"Error in applying operation '{rule}': {exc.args[0]}") from None
            except AclError as exc:
                raise AclError(f"{number}: {exc.args[0]}") from None
            users[name] = user
        return users

    def replace(self, users: dict[bytes, User]) -> list[User]:
        """Install loaded users (ACL LOAD, start-up): the default user object
        stays (its sessions keep it) with the loaded rules, or the built-in
        ones when the file has none. Returns the old users that went."""
        loaded_default = users.pop(b"default", None)
        self.default.take(loaded_default if loaded_default is not None else self._new_default())
        gone = [user for name, user in self.users.items() if name != b"default"]
        self.users = {b"default": self.default, **users}
        return gone

    def text(self) -> str:
        """ACL SAVE's file: one `user` line per user."""
        return "".join(f"user {self.users[name].describe()}\n" for name in sorted(self.users))
