"""The stream value type (Redis's t_stream.c data structure, without commands).

Theory of operation
-------------------
An entry ID `ms-seq` is kept as one Python int, `ms << 64 | seq`, so IDs
compare, sort and bisect as plain integers (`make_id` / `split_id`).

Entries live in two parallel lists in ID order: `ids` (ints) and `entries`
(tuples field, value, field, value ...). Appending is O(1); a range is two
bisects and a slice; XDEL removes from the middle (a memmove, microseconds
for 100k entries). An entry whose field names are those of the entry before
it shares that entry's field `bytes` objects, so a stream of same-shaped
entries pays for its field names once per run (Redis's "master entry"
saves the same with its SAMEFIELDS flag).

Nodes. Redis keeps a stream as a radix tree of listpack nodes of at most
`stream-node-max-entries` (100) entries and `stream-node-max-bytes` (4096)
bytes, and approximate trimming (`MAXLEN ~`, `MINID ~`) only ever drops
whole nodes. To trim exactly where Redis does, the stream keeps the shape
of those nodes (`Node`: entries alive in it, entries ever appended, the
listpack's size in bytes as Redis's would be, its master ID and fields, the
last ID appended); the live entries of node i are the next `live` of `ids`
after those of nodes 0..i-1. A deleted entry stays counted in its node, as
Redis only flags it; a node whose every entry is gone is removed. The RDB
writer writes these nodes (persistence/rdb.py, STREAM_LISTPACKS_2), with
their live entries only.

Metadata as Redis keeps it: `last_id` (never goes back, not even when the
stream empties), `max_deleted_id` (the largest ID removed by XDEL),
`entries_added` (every entry ever added), `first_id` (derived: 0 when
empty).

Consumer groups (`groups`, name -> Group) each keep a `last_id`, an
`entries_read` counter (-1 = unknown, Redis's SCG_INVALID_ENTRIES_READ), a
pending entries list `pel` (id -> Pending, the delivery time, count and
owning consumer) and `consumers` (name -> Consumer, each with its own
`pel`: id -> the same Pending). Redis keeps groups and consumers in radix
trees, so they list in name order: `sorted()` at reply time.
"""

from __future__ import annotations

import sys
from bisect import bisect_left, bisect_right
from typing import Iterator

SEQ_BITS = 64
SEQ_MASK = (1 << 64) - 1
MAX_ID = (1 << 128) - 1
INVALID_ENTRIES_READ = -1  # SCG_INVALID_ENTRIES_READ

NODE_MAX_ENTRIES = 100  # stream-node-max-entries
NODE_MAX_BYTES = 4096  # stream-node-max-bytes
LP_HEADER = 7  # listpack header (6) and end marker (1)


def make_id(ms: int, seq: int) -> int:
    return ms << SEQ_BITS | seq


def split_id(sid: int) -> tuple[int, int]:
    return sid >> SEQ_BITS, sid & SEQ_MASK


def format_id(sid: int) -> bytes:
    return b"%d-%d" % (sid >> SEQ_BITS, sid & SEQ_MASK)


def _lp_backlen(size: int) -> int:
    """lpEncodeBacklen's length for an element of `size` bytes."""
    return 1 if size <= 127 else 2 if size < 16383 else 3 if size < 2097151 else \
        4 if size < 268435455 else 5


def _lp_int(value: int) -> int:
    """The bytes of a listpack element holding an integer."""
    if 0 <= value <= 127:
        size = 1
    elif -4096 <= value < 4096:
        size = 2
    elif -(1 << 15) <= value < 1 << 15:
        size = 3
    elif -(1 << 23) <= value < 1 << 23:
        size = 4
    elif -(1 << 31) <= value < 1 << 31:
        size = 5
    else:
        size = 9
    return size + 1


def _lp_string(item: bytes) -> int:
    """The bytes of a listpack element holding item (lpAppend stores integer
    text within int64, as string2ll reads it, as an integer)."""
    if 0 < len(item) <= 20 and (item.isdigit() or (item[:1] == b"-" and item[1:].isdigit())) \
            and (item == b"0" or item[:1] != b"0" and item[:2] != b"-0"):
        value = int(item)
        if -(1 << 63) <= value < 1 << 63:
            return _lp_int(value)
    n = len(item)
    size = n + (1 if n < 64 else 2 if n < 4096 else 5)
    return size + _lp_backlen(size)


def id_delta(a: int, b: int) -> int:
    """a - b as Redis stores an ID delta: the uint64 difference as an int64."""
    d = (a - b) & SEQ_MASK
    return d - (1 << 64) if d >= 1 << 63 else d


class Node:
    """The shape of one of Redis's listpack nodes (see the header)."""

    __slots__ = ("live", "total", "nbytes", "master_id", "master_fields", "last_id")

    def __init__(self, live: int, total: int, nbytes: int, master_id: int,
                 master_fields: tuple[bytes, ...], last_id: int) -> None:
        self.live = live  # entries not deleted
        self.total = total  # entries appended, deleted ones included
        self.nbytes = nbytes  # lpBytes() of Redis's listpack
        self.master_id = master_id
        self.master_fields = master_fields
        self.last_id = last_id  # the last entry appended (deleted or not)

    def copy(self) -> "Node":
        return Node(self.live, self.total, self.nbytes, self.master_id, self.master_fields,
                    self.last_id)


class Consumer:
    __slots__ = ("name", "seen_time", "pel")

    def __init__(self, name: bytes, now_ms: int) -> None:
        self.name = name
        self.seen_time = now_ms  # its last read or claim (7.0 keeps no other time)
        self.pel: dict[int, Pending] = {}


class Pending:
    """A delivered, not yet acknowledged entry (Redis's streamNACK)."""

    __slots__ = ("delivery_time", "delivery_count", "consumer")

    def __init__(self, delivery_time: int, delivery_count: int, consumer: Consumer) -> None:
        self.delivery_time = delivery_time
        self.delivery_count = delivery_count
        self.consumer = consumer


class Group:
    __slots__ = ("name", "last_id", "entries_read", "pel", "consumers")

    def __init__(self, name: bytes, last_id: int, entries_read: int) -> None:
        self.name = name
        self.last_id = last_id
        self.entries_read = entries_read
        self.pel: dict[int, Pending] = {}
        self.consumers: dict[bytes, Consumer] = {}

    def pel_ids(self, start: int = 0, end: int = MAX_ID) -> list[int]:
        """The pending IDs within [start, end], in order."""
        return sorted(i for i in self.pel if start <= i <= end)

    def consumer(self, name: bytes, now_ms: int) -> tuple[Consumer, bool]:
        """The consumer named `name`, created if missing: (consumer, created)."""
        found = self.consumers.get(name)
        if found is not None:
            return found, False
        found = self.consumers[name] = Consumer(name, now_ms)
        return found, True

    def delete_consumer(self, name: bytes) -> int:
        """Remove a consumer and its pending entries: how many were pending."""
        consumer = self.consumers.pop(name)
        for sid in consumer.pel:
            self.pel.pop(sid, None)
        return len(consumer.pel)


class Stream:
    TYPE_NAME = b"stream"
    __slots__ = ("ids", "entries", "nodes", "last_id", "max_deleted_id", "entries_added",
                 "groups", "node_max_entries", "node_max_bytes")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.entries: list[tuple[bytes, ...]] = []
        self.nodes: list[Node] = []  # Redis's listpack nodes, their shape
        self.last_id = 0
        self.max_deleted_id = 0
        self.entries_added = 0
        self.groups: dict[bytes, Group] = {}
        self.node_max_entries = NODE_MAX_ENTRIES
        self.node_max_bytes = NODE_MAX_BYTES

    def __len__(self) -> int:
        return len(self.ids)

    def __bool__(self) -> bool:
        return True  # an empty stream is still a key (groups, last ID), unlike other types

    @property
    def first_id(self) -> int:
        return self.ids[0] if self.ids else 0

    # -- adding ------------------------------------------------------------

    def next_id(self, now_ms: int) -> int | None:
        """The ID `*` gets (streamIncrID when the clock did not move): None
        when the last ID is the largest there is."""
        ms, seq = split_id(self.last_id)
        if now_ms > ms:
            return make_id(now_ms, 0)
        if seq < SEQ_MASK:
            return self.last_id + 1
        if ms < SEQ_MASK:
            return make_id(ms + 1, 0)
        return None

    def append(self, sid: int, fields: tuple[bytes, ...]) -> None:
        """Add an entry (sid > last_id, checked by the caller)."""
        ids, entries = self.ids, self.entries
        if entries:
            prev = entries[-1]
            if len(prev) == len(fields) and all(prev[i] == fields[i] for i in range(0, len(fields), 2)):
                fields = tuple(prev[i] if not i & 1 else fields[i] for i in range(len(fields)))
        ids.append(sid)
        entries.append(fields)
        self._account_append(sid, fields)
        self.last_id = sid
        self.entries_added += 1

    def _account_append(self, sid: int, fields: tuple[bytes, ...]) -> None:
        """Put the entry in the last node, or open one, as streamAppendItem does."""
        names = fields[0::2]
        node = self.nodes[-1] if self.nodes else None
        if node is not None:
            max_bytes = self.node_max_bytes or (1 << 30)
            if node.nbytes + sum(len(f) for f in fields) >= max_bytes or (
                    self.node_max_entries and node.total >= self.node_max_entries):
                node = None
        if node is None:
            # A master entry: count, deleted, number of fields, the fields, 0.
            node = Node(0, 0, LP_HEADER + 2 + 2 + _lp_int(len(names))
                        + sum(_lp_string(f) for f in names) + 2, sid, names, sid)
            self.nodes.append(node)
        master_ms, master_seq = split_id(node.master_id)
        ms, seq = split_id(sid)
        size = 2 + _lp_int(id_delta(ms, master_ms)) + _lp_int(id_delta(seq, master_seq))
        if names == node.master_fields:
            size += sum(_lp_string(v) for v in fields[1::2]) + _lp_int(len(names) + 3)
        else:
            size += _lp_int(len(names)) + sum(_lp_string(f) for f in fields) \
                + _lp_int(2 * len(names) + 4)
        node.nbytes += size
        node.live += 1
        node.total += 1
        node.last_id = sid

    # -- reading -----------------------------------------------------------

    def range(self, start: int, end: int, count: int = 0, rev: bool = False
              ) -> list[tuple[int, tuple[bytes, ...]]]:
        """Entries with start <= id <= end (newest first with rev), at most
        count of them (0 = all)."""
        ids = self.ids
        lo = bisect_left(ids, start)
        hi = bisect_right(ids, end)
        if lo >= hi:
            return []
        if rev:
            if count and hi - lo > count:
                lo = hi - count
            return [(ids[i], self.entries[i]) for i in range(hi - 1, lo - 1, -1)]
        if count and hi - lo > count:
            hi = lo + count
        return list(zip(ids[lo:hi], self.entries[lo:hi]))

    def get(self, sid: int) -> tuple[bytes, ...] | None:
        i = bisect_left(self.ids, sid)
        if i < len(self.ids) and self.ids[i] == sid:
            return self.entries[i]
        return None

    def last_entry(self) -> tuple[int, tuple[bytes, ...]] | None:
        return (self.ids[-1], self.entries[-1]) if self.ids else None

    def items(self) -> Iterator[tuple[int, tuple[bytes, ...]]]:
        return zip(self.ids, self.entries)

    def node_slices(self) -> Iterator[tuple[int, int]]:
        """(start, stop) indexes into ids of each node's live entries."""
        pos = 0
        for node in self.nodes:
            yield pos, pos + node.live
            pos += node.live

    # -- removing ----------------------------------------------------------

    def _node_of(self, index: int) -> int:
        pos = 0
        for n, node in enumerate(self.nodes):
            pos += node.live
            if index < pos:
                return n
        raise IndexError(index)

    def delete(self, sid: int) -> bool:
        """XDEL one entry."""
        ids = self.ids
        i = bisect_left(ids, sid)
        if i == len(ids) or ids[i] != sid:
            return False
        n = self._node_of(i)
        del ids[i]
        del self.entries[i]
        node = self.nodes[n]
        node.live -= 1
        if not node.live:
            del self.nodes[n]
        if sid > self.max_deleted_id:
            self.max_deleted_id = sid
        return True

    def _drop_front(self, count: int) -> None:
        del self.ids[:count]
        del self.entries[:count]

    def trim(self, maxlen: int | None, minid: int | None, approx: bool, limit: int) -> int:
        """streamTrim: remove entries from the head until at most `maxlen`
        remain (or none below `minid`); with approx only whole nodes, at
        most `limit` entries (0 = no limit). Returns how many went."""
        deleted = 0
        if maxlen is not None and len(self.ids) <= maxlen:
            return 0
        nodes = self.nodes
        while nodes:
            length = len(self.ids)
            if maxlen is not None and length <= maxlen:
                break
            live = nodes[0].live
            if limit and deleted + live > limit:  # the work allowed is done
                break
            if maxlen is not None:
                remove_node = length - live >= maxlen
            else:
                assert minid is not None
                remove_node = nodes[0].last_id < minid
            if remove_node:
                self._drop_front(live)
                del nodes[0]
                deleted += live
                continue
            if approx:
                break
            # Trim within the first node, entry by entry (marked deleted in Redis).
            if maxlen is not None:
                drop = length - maxlen
            else:
                assert minid is not None
                drop = bisect_left(self.ids, minid, 0, live)
            self._drop_front(drop)
            nodes[0].live -= drop
            deleted += drop
            break
        return deleted

    # -- consumer group counters (t_stream.c) --------------------------------

    def has_tombstones(self, start: int | None) -> bool:
        """streamRangeHasTombstones(s, start, NULL): was an entry at or
        after start deleted?"""
        if not self.ids or not self.max_deleted_id:
            return False
        return (start or 0) <= self.max_deleted_id

    def estimate_distance(self, sid: int) -> int:
        """streamEstimateDistanceFromFirstEverEntry: how many entries were
        added up to sid, or -1 when that cannot be known."""
        if not self.entries_added:
            return 0
        if not self.ids and sid <= self.last_id:
            return self.entries_added
        if sid == self.last_id:
            return self.entries_added
        if sid > self.last_id:
            return INVALID_ENTRIES_READ
        first = self.first_id
        if not self.max_deleted_id or self.max_deleted_id < first:
            if sid < first:
                return self.entries_added - len(self.ids)
            if sid == first:
                return self.entries_added - len(self.ids) + 1
        return INVALID_ENTRIES_READ

    def group_lag(self, group: Group) -> int | None:
        """streamReplyWithCGLag: entries not yet delivered to the group, None if unknown."""
        if not self.entries_added:
            return 0
        if group.entries_read != INVALID_ENTRIES_READ and not self.has_tombstones(group.last_id):
            return self.entries_added - group.entries_read
        read = self.estimate_distance(group.last_id)
        if read != INVALID_ENTRIES_READ:
            return self.entries_added - read
        return None

    # -- copies, memory ----------------------------------------------------

    def copy(self) -> "Stream":
        new = Stream()
        new.ids = list(self.ids)
        new.entries = list(self.entries)
        new.nodes = [node.copy() for node in self.nodes]
        new.last_id = self.last_id
        new.max_deleted_id = self.max_deleted_id
        new.entries_added = self.entries_added
        new.node_max_entries = self.node_max_entries
        new.node_max_bytes = self.node_max_bytes
        for name, group in self.groups.items():
            g = new.groups[name] = Group(name, group.last_id, group.entries_read)
            for cname, consumer in group.consumers.items():
                g.consumers[cname] = Consumer(cname, consumer.seen_time)
            for sid, nack in group.pel.items():
                owner = g.consumers[nack.consumer.name]
                g.pel[sid] = owner.pel[sid] = Pending(nack.delivery_time, nack.delivery_count, owner)
        return new

    def memory(self, samples: int = 5) -> int:
        """Estimated bytes: the two lists, each ID int, and each entry's tuple
        and value objects (field names are mostly shared with the previous
        entry), the mean of up to `samples` entries (0 = all)."""
        n = len(self.ids)
        size = sys.getsizeof(self) + sys.getsizeof(self.ids) + sys.getsizeof(self.entries)
        size += 32 * len(self.nodes)
        if n:
            picks = range(n) if samples <= 0 or samples >= n else \
                [i * (n - 1) // max(samples - 1, 1) for i in range(samples)]
            total = 0
            for i in picks:
                fields = self.entries[i]
                prev = self.entries[i - 1] if i else ()
                total += 48 + sys.getsizeof(fields) + sum(
                    len(v) + 41 for j, v in enumerate(fields)
                    if j & 1 or len(prev) <= j or prev[j] is not v)
            size += n * total // len(picks)
        for group in self.groups.values():
            size += 200 + 150 * len(group.pel) + 120 * len(group.consumers)
        return size
