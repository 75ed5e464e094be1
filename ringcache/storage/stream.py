"""The stream value type (Redis's t_stream.c data structure, without commands).

Theory of operation
-------------------
An entry ID `ms-seq` is kept as one Python int, `ms << 64 | seq`, so IDs
compare, sort and bisect as plain integers (`make_id` / `split_id`).

Entries are kept column by column, in ID order: the IDs in two arrays of
unsigned 64-bit integers (milliseconds, sequence numbers: 16 bytes an
entry, no Python object), each entry's field names as a tuple shared by a
run of entries of one shape (Redis's "master entry" saves the same with its
SAMEFIELDS flag), and each entry's values packed in one `bytes` (one value
is itself; more are their lengths and then the values). Appending is O(1);
finding an ID is a bisect on the milliseconds and one on the sequence
numbers within that millisecond; a range is two bisects and M entries
unpacked; XDEL removes from the middle (memmoves: tens of microseconds at
100k entries).

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

import struct
import sys
from array import array
from bisect import bisect_left, bisect_right
from typing import Iterator

SEQ_BITS = 64
SEQ_MASK = (1 << 64) - 1
MAX_ID = (1 << 128) - 1
INVALID_ENTRIES_READ = -1  # SCG_INVALID_ENTRIES_READ

NODE_MAX_ENTRIES = 100  # stream-node-max-entries
NODE_MAX_BYTES = 4096  # stream-node-max-bytes
LP_HEADER = 7  # listpack header (6) and end marker (1)
LISTPACK_MAX_SIZE = 1 << 30  # STREAM_LISTPACK_MAX_SIZE


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
    n = len(item)
    if n < 63 and (not n or not (48 <= item[0] <= 57 or item[0] == 45)):
        return n + 2  # short text that is no integer: the common case, at once
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
    __slots__ = ("_ms", "_seq", "_values", "_names", "nodes", "last_id", "max_deleted_id",
                 "entries_added", "groups")

    def __init__(self) -> None:
        # Entry i: ID (_ms[i], _seq[i]), field names _names[i] (a tuple shared
        # by neighbouring entries of one shape), values _values[i] (packed).
        self._ms = array("Q")
        self._seq = array("Q")
        self._values: list[bytes] = []
        self._names: list[tuple[bytes, ...]] = []
        self.nodes: list[Node] = []  # Redis's listpack nodes, their shape
        self.last_id = 0
        self.max_deleted_id = 0
        self.entries_added = 0
        self.groups: dict[bytes, Group] = {}

    def __len__(self) -> int:
        return len(self._ms)

    def __bool__(self) -> bool:
        return True  # an empty stream is still a key (groups, last ID), unlike other types

    @property
    def first_id(self) -> int:
        return self._ms[0] << SEQ_BITS | self._seq[0] if self._ms else 0

    @property
    def top_id(self) -> int:
        """The ID of the last entry there is (0 when empty; last_id can be
        above it, after XDEL or XSETID)."""
        return self._ms[-1] << SEQ_BITS | self._seq[-1] if self._ms else 0

    def id_at(self, i: int) -> int:
        return self._ms[i] << 64 | self._seq[i]

    def fields_at(self, i: int) -> tuple[bytes, ...]:
        names = self._names[i]
        k = len(names)
        if k == 1:  # (the common shapes without a loop)
            return names[0], self._values[i]
        blob = self._values[i]
        if k == 2:
            n = _U32.unpack_from(blob)[0] + 4
            return names[0], blob[4:n], names[1], blob[n:]
        values = _unpack(blob, k)
        out: list[bytes] = [b""] * (2 * k)
        out[0::2] = names
        out[1::2] = values
        return tuple(out)

    def _index(self, sid: int, right: bool = False) -> int:
        """bisect_left (bisect_right) of sid among the IDs: the milliseconds
        first, then the sequence numbers within that millisecond."""
        ms, seq = sid >> SEQ_BITS, sid & SEQ_MASK
        lo = bisect_left(self._ms, ms)
        hi = bisect_right(self._ms, ms, lo)
        return (bisect_right if right else bisect_left)(self._seq, seq, lo, hi)

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

    def load(self, sid: int, fields: tuple[bytes, ...] | list[bytes]) -> None:
        """Put an entry after the others, nothing else (the RDB reader keeps
        the nodes and counters itself)."""
        names = tuple(fields[0::2])
        if self._names and self._names[-1] == names:
            names = self._names[-1]  # one tuple for a run of one shape
        self._ms.append(sid >> SEQ_BITS)
        self._seq.append(sid & SEQ_MASK)
        self._names.append(names)
        self._values.append(_pack(fields[1::2]))

    def append(self, sid: int, fields: tuple[bytes, ...], node_max_entries: int = NODE_MAX_ENTRIES,
               node_max_bytes: int = NODE_MAX_BYTES) -> None:
        """XADD an entry (sid > last_id, checked by the caller); the node
        limits are stream-node-max-entries and stream-node-max-bytes."""
        self.load(sid, fields)
        self._account_append(sid, fields, node_max_entries, node_max_bytes)
        self.last_id = sid
        self.entries_added += 1

    def _account_append(self, sid: int, fields: tuple[bytes, ...], max_entries: int,
                        max_bytes: int) -> None:
        """Put the entry in the last node, or open one, as streamAppendItem does."""
        names = self._names[-1]  # (load() just put them there, shared when it could)
        node = self.nodes[-1] if self.nodes else None
        if node is not None:
            if not max_bytes or max_bytes > LISTPACK_MAX_SIZE:
                max_bytes = LISTPACK_MAX_SIZE
            total_len = 0
            for item in fields:
                total_len += len(item)
            if node.nbytes + total_len >= max_bytes or (max_entries and node.total >= max_entries):
                node = None
        if node is None:
            # A master entry: count, deleted, number of fields, the fields, 0.
            size = LP_HEADER + 2 + 2 + _lp_int(len(names)) + 2
            for name in names:
                size += _lp_string(name)
            node = Node(0, 0, size, sid, names, sid)
            self.nodes.append(node)
        master = node.master_id
        size = 2 + _lp_int(id_delta(sid >> 64, master >> 64)) \
            + _lp_int(id_delta(sid & SEQ_MASK, master & SEQ_MASK))
        if names is node.master_fields or names == node.master_fields:
            for value in fields[1::2]:
                size += _lp_string(value)
            size += _lp_int(len(names) + 3)
        else:
            for item in fields:
                size += _lp_string(item)
            size += _lp_int(len(names)) + _lp_int(2 * len(names) + 4)
        node.nbytes += size
        node.live += 1
        node.total += 1
        node.last_id = sid

    # -- reading -----------------------------------------------------------

    def range(self, start: int, end: int, count: int = 0, rev: bool = False
              ) -> list[tuple[int, tuple[bytes, ...]]]:
        """Entries with start <= id <= end (newest first with rev), at most
        count of them (0 = all)."""
        lo = self._index(start)
        hi = self._index(end, right=True)
        if lo >= hi:
            return []
        if rev:
            if count and hi - lo > count:
                lo = hi - count
            order = range(hi - 1, lo - 1, -1)
        else:
            if count and hi - lo > count:
                hi = lo + count
            order = range(lo, hi)
        ms, seq, fields_at = self._ms, self._seq, self.fields_at
        return [(ms[i] << 64 | seq[i], fields_at(i)) for i in order]

    def get(self, sid: int) -> tuple[bytes, ...] | None:
        i = self._index(sid)
        if i < len(self._ms) and self.id_at(i) == sid:
            return self.fields_at(i)
        return None

    def last_entry(self) -> tuple[int, tuple[bytes, ...]] | None:
        return (self.top_id, self.fields_at(-1)) if self._ms else None

    def items(self) -> Iterator[tuple[int, tuple[bytes, ...]]]:
        for i in range(len(self._ms)):
            yield self.id_at(i), self.fields_at(i)

    def node_entries(self) -> Iterator[list[tuple[int, tuple[bytes, ...]]]]:
        """Each node's live entries, in order."""
        pos = 0
        for node in self.nodes:
            yield [(self.id_at(i), self.fields_at(i)) for i in range(pos, pos + node.live)]
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
        i = self._index(sid)
        if i == len(self._ms) or self.id_at(i) != sid:
            return False
        n = self._node_of(i)
        del self._ms[i], self._seq[i], self._names[i], self._values[i]
        node = self.nodes[n]
        node.live -= 1
        if not node.live:
            del self.nodes[n]
        if sid > self.max_deleted_id:
            self.max_deleted_id = sid
        return True

    def _drop_front(self, count: int) -> None:
        del self._ms[:count], self._seq[:count], self._names[:count], self._values[:count]

    def trim(self, maxlen: int | None, minid: int | None, approx: bool, limit: int) -> int:
        """streamTrim: remove entries from the head until at most `maxlen`
        remain (or none below `minid`); with approx only whole nodes, at
        most `limit` entries (0 = no limit). Returns how many went."""
        deleted = 0
        if maxlen is not None and len(self._ms) <= maxlen:
            return 0
        nodes = self.nodes
        while nodes:
            length = len(self._ms)
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
                drop = min(self._index(minid), live)
            self._drop_front(drop)
            nodes[0].live -= drop
            deleted += drop
            break
        return deleted

    # -- consumer group counters (t_stream.c) --------------------------------

    def has_tombstones(self, start: int | None) -> bool:
        """streamRangeHasTombstones(s, start, NULL): was an entry at or
        after start deleted?"""
        if not self._ms or not self.max_deleted_id:
            return False
        return (start or 0) <= self.max_deleted_id

    def estimate_distance(self, sid: int) -> int:
        """streamEstimateDistanceFromFirstEverEntry: how many entries were
        added up to sid, or -1 when that cannot be known."""
        if not self.entries_added:
            return 0
        if not self._ms and sid <= self.last_id:
            return self.entries_added
        if sid == self.last_id:
            return self.entries_added
        if sid > self.last_id:
            return INVALID_ENTRIES_READ
        first = self.first_id
        if not self.max_deleted_id or self.max_deleted_id < first:
            if sid < first:
                return self.entries_added - len(self._ms)
            if sid == first:
                return self.entries_added - len(self._ms) + 1
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
        new._ms, new._seq = self._ms[:], self._seq[:]
        new._names, new._values = list(self._names), list(self._values)
        new.nodes = [node.copy() for node in self.nodes]
        new.last_id = self.last_id
        new.max_deleted_id = self.max_deleted_id
        new.entries_added = self.entries_added
        for name, group in self.groups.items():
            g = new.groups[name] = Group(name, group.last_id, group.entries_read)
            for cname, consumer in group.consumers.items():
                g.consumers[cname] = Consumer(cname, consumer.seen_time)
            for sid, nack in group.pel.items():
                owner = g.consumers[nack.consumer.name]
                g.pel[sid] = owner.pel[sid] = Pending(nack.delivery_time, nack.delivery_count, owner)
        return new

    def memory(self, samples: int = 5) -> int:
        """Estimated bytes: the ID arrays and the two lists (exact), and per
        entry its packed values and, where it starts a run of another shape,
        its field names: the mean of up to `samples` entries (0 = all)."""
        n = len(self._ms)
        size = sys.getsizeof(self) + sys.getsizeof(self._ms) + sys.getsizeof(self._seq)
        size += sys.getsizeof(self._names) + sys.getsizeof(self._values) + 120 * len(self.nodes)
        if n:
            picks = range(n) if samples <= 0 or samples >= n else \
                [i * (n - 1) // max(samples - 1, 1) for i in range(samples)]
            total = 0
            for i in picks:
                total += sys.getsizeof(self._values[i]) + 8  # (pymalloc's rounding, on average)
                names = self._names[i]
                if not i or self._names[i - 1] is not names:
                    total += sys.getsizeof(names) + sum(sys.getsizeof(f) + 8 for f in names)
            size += n * total // len(picks)
        for group in self.groups.values():
            size += 200 + 150 * len(group.pel) + 120 * len(group.consumers)
        return size


# Values of an entry, packed in one bytes object: one value is itself; k > 1
# values are k - 1 lengths (u32 little-endian) then the values end to end.
_LENGTHS = [struct.Struct("<%dI" % k) for k in range(64)]
_U32 = _LENGTHS[1]


def _pack(values: tuple[bytes, ...] | list[bytes]) -> bytes:
    k = len(values)
    if k == 1:
        return values[0]
    head = (_LENGTHS[k - 1] if k <= 64 else struct.Struct("<%dI" % (k - 1))).pack(
        *[len(v) for v in values[:-1]])
    return head + b"".join(values)


def _unpack(blob: bytes, k: int) -> list[bytes]:
    if k == 1:
        return [blob]
    layout = _LENGTHS[k - 1] if k <= 64 else struct.Struct("<%dI" % (k - 1))
    pos = layout.size
    out = []
    for n in layout.unpack_from(blob):
        out.append(blob[pos:pos + n])
        pos += n
    out.append(blob[pos:])
    return out
