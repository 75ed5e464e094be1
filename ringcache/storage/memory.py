"""Memory accounting: what a key costs, maintained as values change.

`used_memory` (INFO, maxmemory) is the sum of each database's `mem`, kept
by the keyspace as keys come and go (no walk of the keyspace), plus the
access-metadata tables and the memory of an empty node. `mem` counts per key

    KEY_OVERHEAD                      its dict entry and slot-index share
    + bytes_size(len(key))            the key object
    + value size                      exact for strings, estimated for containers
    + EXPIRE_OVERHEAD if it has a TTL its expires entry, float and pool entry

The constants are CPython 3.11's object sizes (a bytes object is 33 bytes of
header and NUL plus its length, in 16-byte pymalloc classes; a dict entry is
24 bytes plus its index, in a table 1/3 to 2/3 full), checked against the RSS
growth of 1M keys in benchmarks/compare.py. A string's size is a function of
its length alone, so a SET can account a change by the length difference.

A container (hash, list, set, sorted set) changes in place; every change
calls `Keyspace.modified(key)`, which re-estimates it in O(1): the table's
own size (sys.getsizeof is O(1) for dict, set and deque) plus its length
times the per-element overhead and the mean size of up to 5 sampled
elements, as Redis's MEMORY USAGE samples 5 elements. The mean is kept with
the estimate and sampled again only now and then (`container_estimate`).
"""

from __future__ import annotations

import sys
from collections import deque
from itertools import islice
from typing import Any

BYTES_HEADER = 33  # PyBytesObject header + the trailing NUL
BYTES_ROUNDING = 8  # mean waste of pymalloc's 16-byte size classes
KEY_OVERHEAD = 40 + 10  # dict entry share (24 B + index, at mean load) + slot index
EXPIRE_OVERHEAD = 40 + 32 + 8  # expires dict entry + float + expiry pool slot
DEFAULT_ELEMENT_OVERHEAD = 64  # sorted sets (skiplist/dict pairs) and others
SAMPLES = 5


def bytes_size(n: int) -> int:
    """The memory of a bytes object of length n, on average."""
    return n + BYTES_HEADER + BYTES_ROUNDING


def element_size(element: Any) -> int:
    if element.__class__ is bytes:
        return len(element) + BYTES_HEADER + BYTES_ROUNDING
    if element.__class__ is float:
        return 32
    if element.__class__ is tuple:  # (member, score) pairs
        return 64 + sum(element_size(e) for e in element)
    return sys.getsizeof(element)


def table_size(value: Any) -> int:
    """The memory of a container's own tables, without its elements (O(1):
    sys.getsizeof is O(1) for dict, set and deque)."""
    size = sys.getsizeof(value)
    extra = getattr(value, "field_expires", None)  # hashes with field TTLs
    if extra:
        size += sys.getsizeof(extra) + 32 * len(extra)
    return size


def element_mean(value: Any, samples: int = SAMPLES) -> float:
    """The mean memory of one element of a non-empty container, from
    `samples` elements (0 = all of them), slot overhead included."""
    n = len(value)
    limit = n if samples <= 0 else min(samples, n)
    overhead = 0
    if isinstance(value, dict):
        picked = [element_size(k) + element_size(v) for k, v in islice(value.items(), limit)]
    elif value.__class__ is deque:
        picked = [element_size(value[0]), element_size(value[-1])] if limit < n else \
            [element_size(e) for e in value]
    elif isinstance(value, (set, frozenset)):
        picked = [element_size(e) for e in islice(value, limit)]
    else:
        items = getattr(value, "items", None)
        try:
            source = items() if items is not None else iter(value)
            picked = [element_size(e) for e in islice(source, limit)]
        except TypeError:
            picked = []
        overhead = DEFAULT_ELEMENT_OVERHEAD
    return overhead + (sum(picked) / len(picked) if picked else 0)


def value_size(value: Any, samples: int = SAMPLES) -> int:
    """The memory of a value: exact for strings; for containers the table
    plus len × (slot overhead + mean size of `samples` sampled elements;
    samples 0 = all of them, as MEMORY USAGE SAMPLES 0)."""
    if value.__class__ is bytes:
        return len(value) + BYTES_HEADER + BYTES_ROUNDING
    own = getattr(value.__class__, "memory", None)  # a type that estimates itself (streams)
    if own is not None:
        return int(own(value, samples))
    try:
        n = len(value)
    except TypeError:
        return sys.getsizeof(value)
    if not n:
        return sys.getsizeof(value)
    return int(table_size(value) + n * element_mean(value, samples))


# A container's estimate as the keyspace keeps it:
# (size, mean element size, length when sampled, changes since sampled).
SizeEstimate = tuple[int, float, int, int]
RESAMPLE_AFTER = 32  # changes before the elements are sampled again


def container_estimate(value: Any, previous: SizeEstimate | None) -> SizeEstimate:
    """Re-estimate a container after a change (Keyspace.modified).

    Sampling elements costs several microseconds in Python (it was half of
    a ZADD's time), so the mean element size is sampled again only every
    RESAMPLE_AFTER changes or once the length has halved or doubled since;
    in between, a change costs a len() and a getsizeof()."""
    n = len(value)
    own = getattr(value.__class__, "memory", None)  # a type that estimates itself (streams)
    if own is not None:
        if previous is not None and previous[3] < RESAMPLE_AFTER and previous[2] <= 2 * n + 8 \
                and n <= 2 * previous[2] + 8:
            per = previous[1]
            return int(previous[0] + (n - previous[2]) * per), per, n, previous[3] + 1
        size = int(own(value, SAMPLES))
        return size, (size / n if n else 0.0), n, 0
    if previous is not None:
        _, mean, sampled_n, age = previous
        if age < RESAMPLE_AFTER and sampled_n <= 2 * n + 8 and n <= 2 * sampled_n + 8:
            return int(table_size(value) + n * mean), mean, sampled_n, age + 1
    if not n:
        return sys.getsizeof(value), 0.0, 0, 0
    mean = element_mean(value)
    return int(table_size(value) + n * mean), mean, n, 0


def key_size(key: bytes, value: Any, has_ttl: bool, samples: int = SAMPLES) -> int:
    """What a key costs in all (MEMORY USAGE)."""
    size = KEY_OVERHEAD + bytes_size(len(key)) + value_size(value, samples)
    if has_ttl:
        size += EXPIRE_OVERHEAD
    return size
