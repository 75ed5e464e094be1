"""The value types a key can hold, by Python class.

A value's Redis type is decided from its class (a string is `bytes`, a hash
a `dict` or a FieldTTLHash, ...). For each class: its TYPE name, its OBJECT
ENCODING function, and optionally a hook run when a value is stored under a
key by something other than its own family's commands (RENAME, COPY, MOVE,
loading a snapshot: a hash with field TTLs queues itself for field expiry).
Every class the keyspace stores is registered here, so nothing depends on a
command module having been imported first; command families may refine an
encoding (`register_type`, e.g. strings tell "int" from "embstr").
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from .hashes import FieldTTLHash, track
from .stream import Stream
from .zset import ZSet

Encoding = Callable[[Any], bytes]
StoreHook = Callable[[Any, bytes, Any], None]


def _fixed(name: bytes) -> Encoding:
    return lambda value: name


# class -> (TYPE name, OBJECT ENCODING function)
TYPES: dict[type, tuple[bytes, Encoding]] = {
    bytes: (b"string", _fixed(b"raw")),
    dict: (b"hash", _fixed(b"hashtable")),
    FieldTTLHash: (b"hash", _fixed(b"hashtable")),
    list: (b"list", _fixed(b"quicklist")),
    deque: (b"list", _fixed(b"quicklist")),
    set: (b"set", _fixed(b"hashtable")),
    ZSet: (b"zset", _fixed(b"skiplist")),
    Stream: (b"stream", _fixed(b"stream")),
}

# class -> hook(db, key, value) run when a value is stored under a key by
# RENAME, COPY, MOVE or loading.
STORE_HOOKS: dict[type, StoreHook] = {FieldTTLHash: track}


def register_type(cls: type, name: bytes, encoding: Encoding,
                  on_store: StoreHook | None = None) -> None:
    """Teach the registry a value class, or refine one's encoding."""
    TYPES[cls] = (name, encoding)
    if on_store is not None:
        STORE_HOOKS[cls] = on_store


def type_name(value: Any) -> bytes:
    entry = TYPES.get(value.__class__)
    if entry is None:
        return getattr(value, "TYPE_NAME", b"unknown")
    return entry[0]


def stored(db: Any, key: bytes, value: Any) -> None:
    """value was just put under key by RENAME/COPY/MOVE/loading: its hook."""
    hook = STORE_HOOKS.get(value.__class__)
    if hook is not None:
        hook(db, key, value)
