"""Resumable iteration over a changing hash, set or sorted set (HSCAN, SSCAN,
ZSCAN), with Redis's guarantee: an element present from the start to the end
of a full iteration is returned; elements added or removed meanwhile may or
may not be.

Redis's cursor walks its hash table's buckets. A Python dict or set cannot
resume an iteration after it changed, and a position in its order (or a rank
in a sorted set) shifts when earlier elements go, so the cursor cannot be an
offset into the live container. Instead the first call (cursor 0) copies the
container's element references into a list (C speed, 8 bytes an element, a
few ns each) and the cursor is `snapshot id << 32 | offset` in that list:
each call examines the next COUNT entries of the snapshot, and the caller
returns those still present. A container of at most max(COUNT, SMALL)
elements is returned whole with cursor 0, as Redis does for its compact
encodings, and needs no state.

Bounds: at most MAX_SNAPSHOTS snapshots and MAX_REFS references in all; the
least recently used go first, and a finished scan frees its own. A cursor
whose snapshot is gone (dropped, a restart, a made-up number, another key's
cursor, a key that now holds another container) starts a new snapshot at
offset 0: the scan may return some elements twice, which Redis's contract
allows, and still ends and misses nothing.

A snapshot holds the elements, not the container: a deleted container is
freed at once; its snapshot goes with the least recently used. To tell the
container a cursor was made for from a new one at the same key, a snapshot
keeps a weak reference to it (sets, sorted sets); a dict cannot be weakly
referenced, so a hash is told by its id(), which a new hash created after
the old one was freed may reuse: its scan then returns only the fields of
the new hash that the old one also had. (Redis promises only the elements
present for the whole scan; the new hash's were not.)
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any, Collection

OFFSET_BITS = 32
OFFSET_MASK = (1 << OFFSET_BITS) - 1


class ScanSnapshots:
    SMALL = 128
    MAX_SNAPSHOTS = 256
    MAX_REFS = 4_000_000  # ~32 MB of references across all snapshots

    def __init__(self) -> None:
        # scan id -> (db, key, the container: a weak reference or its id, its
        # elements), oldest first
        self._snapshots: OrderedDict[int, tuple[Any, bytes, Any, list]] = OrderedDict()
        self._refs = 0
        self._next_id = 0

    def chunk(self, db: Any, key: bytes, container: Any, cursor: int, count: int,
              elements: Collection | None = None) -> tuple[int, list]:
        """(next cursor, candidates) for one call: the next COUNT elements of
        the scan's snapshot of `elements` (default: the container itself),
        some of which may have left the container since."""
        if elements is None:
            elements = container
        entry = self._snapshots.get(cursor >> OFFSET_BITS) if cursor else None
        offset = cursor & OFFSET_MASK
        if (entry is None or entry[0] is not db or entry[1] != key
                or not _same(entry[2], container) or offset > len(entry[3])):
            if len(elements) <= max(count, self.SMALL):
                return 0, list(elements)
            scan_id, offset = self._start(db, key, container, elements), 0
            entry = self._snapshots[scan_id]
        else:
            scan_id = cursor >> OFFSET_BITS
            self._snapshots.move_to_end(scan_id)
        snapshot = entry[3]
        end = offset + count
        if end >= len(snapshot):
            del self._snapshots[scan_id]
            self._refs -= len(snapshot)
            return 0, snapshot[offset:]
        return scan_id << OFFSET_BITS | end, snapshot[offset:end]

    def _start(self, db: Any, key: bytes, container: Any, elements: Collection) -> int:
        # Ids stay below 2**31 so that a cursor fits the 64 bits clients expect.
        self._next_id = self._next_id % 0x7FFFFFFF + 1
        scan_id = self._next_id
        old = self._snapshots.pop(scan_id, None)
        if old is not None:
            self._refs -= len(old[3])
        snapshot = list(elements)
        self._snapshots[scan_id] = (db, key, _identity(container), snapshot)
        self._refs += len(snapshot)
        while len(self._snapshots) > 1 and (len(self._snapshots) > self.MAX_SNAPSHOTS
                                            or self._refs > self.MAX_REFS):
            _, (_, _, _, dropped) = self._snapshots.popitem(last=False)
            self._refs -= len(dropped)
        return scan_id


def _identity(container: Any) -> Any:
    try:
        return weakref.ref(container)
    except TypeError:  # a dict
        return id(container)


def _same(identity: Any, container: Any) -> bool:
    if identity.__class__ is int:
        return identity == id(container)
    return identity() is container


# One registry for the node: HSCAN, SSCAN and ZSCAN share its bounds.
SCANS = ScanSnapshots()
