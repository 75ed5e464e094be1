"""OBJECT ENCODING names for containers, as Redis 7.4 would report them for
the same contents: a small container is `listpack` (a set of integers
`intset`, a small hash with field TTLs `listpackex`), a bigger one
`hashtable`, `skiplist` or `quicklist`, by the same *-max-listpack-* and
set-max-intset-entries limits (read from the configuration).

The node stores every container one way (a dict, a set, a ZSet, a deque),
so this is computed from what the container holds now. Redis's answer also
depends on history (a hash that once grew past the limits stays a
hashtable after it shrinks; a list goes back to listpack only below half
its limit): after such a shrink the two can differ.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from typing import Any

from .hashes import FieldTTLHash
from .zset import ZSet

_INT64 = re.compile(rb"-?[1-9][0-9]{0,18}|0").fullmatch
_LIST_SIZE_LIMITS = {-1: 4096, -2: 8192, -3: 16384, -4: 32768, -5: 65536}
SIZE_SAFETY_LIMIT = 8192


def _is_int64(value: bytes) -> bool:
    return bool(_INT64(value)) and -2**63 <= int(value) < 2**63


def _listpack_entry_bytes(value: bytes) -> int:
    """About what one entry takes in a listpack (header, data, backlen)."""
    if _is_int64(value):
        number = int(value)
        if 0 <= number <= 127:
            return 2
        for size, bits in ((3, 13), (3, 16), (4, 24), (5, 32), (9, 64)):
            if -(1 << (bits - 1)) <= number < (1 << (bits - 1)):
                return size + (1 if size < 128 else 2)
    size = len(value)
    header = 1 if size < 64 else 2 if size < 4096 else 5
    body = header + size
    return body + (1 if body < 128 else 2 if body < 16384 else 3)


def _list_fits(value: deque, fill: int) -> bool:
    if fill >= 0:
        if len(value) > fill:
            return False
        limit = SIZE_SAFETY_LIMIT
    else:
        limit = _LIST_SIZE_LIMITS.get(fill, 65536)
    total = 7  # header and end byte
    for item in value:
        total += _listpack_entry_bytes(item)
        if total > limit:
            return False
    return True


def compact_encoding(value: Any, config: Mapping[str, Any]) -> bytes | None:
    """The compact encoding Redis would use for this container, or None
    when it would use its general one."""
    cls = value.__class__
    if isinstance(value, dict):
        if len(value) > config["hash-max-listpack-entries"]:
            return None
        limit = config["hash-max-listpack-value"]
        if any(len(field) > limit or len(item) > limit for field, item in value.items()):
            return None
        # (a hash that was given field TTLs stays listpackex in Redis 7.4)
        return b"listpackex" if cls is FieldTTLHash else b"listpack"
    if cls is set:
        if len(value) <= config["set-max-intset-entries"] and all(_is_int64(m) for m in value):
            return b"intset"
        if len(value) <= config["set-max-listpack-entries"]:
            limit = config["set-max-listpack-value"]
            if all(len(m) <= limit for m in value):
                return b"listpack"
        return None
    if cls is ZSet:
        if len(value) > config["zset-max-listpack-entries"]:
            return None
        limit = config["zset-max-listpack-value"]
        return None if any(len(m) > limit for m in value.dict) else b"listpack"
    if cls is deque:
        return b"listpack" if _list_fits(value, config["list-max-listpack-size"]) else None
    return None
