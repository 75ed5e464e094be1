"""Declared key specs (Redis 7's "key_specs" of COMMAND INFO), for commands
whose keys are not all used the same way.

Most commands need none: COMMAND INFO derives one spec from (first, last,
step) and the command's write/read flag (commands/introspection.py). A
command whose keys differ (BITOP writes its first key and reads the others;
GEORADIUS finds its STORE key by keyword; SORT's STORE can be anywhere)
declares its specs with `key_specs=` at registration, exactly as Redis's
command JSON files do, and COMMAND INFO shows them as they are.

Key positions for routing, tracking and COMMAND GETKEYS still come from
CommandSpec.key_positions (first/last/step or the command's keys_fn); the
declared specs add the per-key flags COMMAND GETKEYSANDFLAGS reports: a key
gets the flags of the first spec that finds its position, a key no spec can
place (an "unknown" spec: SORT's STORE) the flags of the last unknown spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from ..protocol.errors import CommandError

_INT64 = re.compile(rb"-?[1-9][0-9]{0,18}|0").fullmatch


@dataclass(frozen=True)
class KeySpec:
    flags: tuple[str, ...]
    index: int = 0  # begin_search "index" (1-based argv position); 0 with keyword or unknown
    keyword: bytes = b""  # begin_search "keyword", searched from startfrom
    startfrom: int = 0
    lastkey: int = 0  # find_keys "range"
    keystep: int = 1
    limit: int = 0
    unknown: bool = False  # begin_search and find_keys both "unknown"
    keynum: bool = False  # find_keys "keynum": keynumidx, firstkey, keystep
    keynumidx: int = 0
    firstkey: int = 0
    notes: str = ""
    # variable_flags: the flags a given argv gives the key (BITFIELD with
    # only GETs reads it), for GETKEYSANDFLAGS.
    flags_fn: Callable[[list[bytes]], tuple[str, ...]] | None = None

    def positions(self, argv: list[bytes]) -> list[int] | None:
        """The argv positions this spec finds (Redis's getKeysUsingKeySpecs);
        None when they fall outside argv (a syntax error for Redis)."""
        if self.unknown:
            return []
        argc = len(argv)
        if self.keyword:
            first = 0
            start = self.startfrom if self.startfrom > 0 else argc + self.startfrom
            end = argc - 1 if self.startfrom > 0 else 0
            step = 1 if start <= end else -1
            i = start
            while i != end:
                if i >= argc or i < 1:
                    break
                if argv[i].lower() == self.keyword.lower():
                    first = i + 1
                    break
                i += step
            if not first:
                return []
        else:
            first = self.index
        if self.keynum:
            if self.keynumidx >= argc or first + self.keynumidx >= argc:
                return None
            text = argv[first + self.keynumidx]
            if not _INT64(text) or int(text) < 0:
                return None
            count = int(text)
            first += self.firstkey
            last = first + count - 1
            if last >= argc or last < first or first >= argc:
                return None
            return list(range(first, last + 1, self.keystep))
        if self.lastkey >= 0:
            last = first + self.lastkey
        elif self.limit:  # (Redis: lastkey is -1) keys take 1/limit of the rest (XREAD's STREAMS)
            last = first + (argc - first) // self.limit + self.lastkey
        else:
            last = argc + self.lastkey
        if last >= argc or last < first or first >= argc:
            return None
        return list(range(first, last + 1, self.keystep))


def spec(flags: str, **fields: Any) -> KeySpec:
    """KeySpec with its flags as one string ("RW access update")."""
    return KeySpec(flags=tuple(flags.split()), **fields)


def render(spec_: KeySpec, flags_reply: Any) -> dict:
    """One COMMAND INFO key spec; flags_reply is the flags as the reply
    encodes a set of status strings."""
    out: dict[bytes, Any] = {}
    if spec_.notes:
        out[b"notes"] = spec_.notes.encode()
    out[b"flags"] = flags_reply
    if spec_.unknown:
        out[b"begin_search"] = {b"type": b"unknown", b"spec": {}}
        out[b"find_keys"] = {b"type": b"unknown", b"spec": {}}
        return out
    if spec_.keyword:
        out[b"begin_search"] = {b"type": b"keyword",
                                b"spec": {b"keyword": spec_.keyword, b"startfrom": spec_.startfrom}}
    else:
        out[b"begin_search"] = {b"type": b"index", b"spec": {b"index": spec_.index}}
    if spec_.keynum:
        out[b"find_keys"] = {b"type": b"keynum", b"spec": {b"keynumidx": spec_.keynumidx,
                                                           b"firstkey": spec_.firstkey,
                                                           b"keystep": spec_.keystep}}
    else:
        out[b"find_keys"] = {b"type": b"range", b"spec": {b"lastkey": spec_.lastkey,
                                                          b"keystep": spec_.keystep, b"limit": spec_.limit}}
    return out


def complete(specs: tuple[KeySpec, ...]) -> bool:
    """Specs Redis finds keys with itself (no unknown, no keynum, none
    flagged incomplete: for those Redis, and this node, use the command's
    own key finder; MIGRATE's KEYS spec is incomplete)."""
    return bool(specs) and not any(candidate.unknown or candidate.keynum
                                   or "incomplete" in candidate.flags for candidate in specs)


def find_keys(specs: tuple[KeySpec, ...], argv: list[bytes]) -> list[int] | None:
    """COMMAND GETKEYS by the key specs: every spec's keys in order, None
    if one of them is out of bounds."""
    found: list[int] = []
    for candidate in specs:
        positions = candidate.positions(argv)
        if positions is None:
            return None
        found += positions
    return found


def flags_at(specs: tuple[KeySpec, ...], argv: list[bytes], position: int) -> tuple[str, ...] | None:
    """The flags of the key at argv[position] (see the module header)."""
    for candidate in specs:
        if position in (candidate.positions(argv) or ()):
            return candidate.flags_fn(argv) if candidate.flags_fn else candidate.flags
    unknown = [candidate for candidate in specs if candidate.unknown]
    return unknown[-1].flags if unknown else None


def default_flags(spec_: Any) -> tuple[str, ...]:
    """The flags of a command's keys when it declares no specs: the table
    does not say how each key is used, so Redis's two common cases follow
    from the command flags (spec_ is a registry CommandSpec)."""
    if "pubsub" in spec_.flags:  # shard channels (SSUBSCRIBE, SPUBLISH) are keys only for routing
        return ("not_key",)
    if "write" in spec_.flags:
        return ("RW", "update")
    return ("RO", "access")


def key_positions(spec_: Any, argv: list[bytes]) -> list[int]:
    """The keys Redis's getKeysFromCommandWithSpecs finds: complete key
    specs first, the command's own key finder otherwise; [] on arguments
    the finder cannot place (argv[0] is the command name)."""
    try:
        if complete(spec_.key_specs):
            found = find_keys(spec_.key_specs, argv)
            if found is not None or spec_.keys_fn is None:
                return found or []
        return list(spec_.key_positions(argv))
    except (CommandError, ValueError, IndexError):  # e.g. a bad numkeys
        return []


def keys_and_flags(spec_: Any, argv: list[bytes]) -> list[tuple[int, tuple[str, ...]]]:
    """(position, flags) of each key: what COMMAND GETKEYSANDFLAGS reports
    and what ACL key rules check (Redis's ACLSelectorCheckCmd)."""
    if "pubsub" in spec_.flags:
        return []
    out = []
    for i in key_positions(spec_, argv):
        flags = flags_at(spec_.key_specs, argv, i) if spec_.key_specs else None
        out.append((i, flags or default_flags(spec_)))
    return out
