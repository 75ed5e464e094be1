"""The consistent-hash ring in slot space: which shard owns each hash slot.

Theory of operation
-------------------
Keys hash to 16384 slots (storage/slots.py); this module decides which shard
owns each slot. Every shard places `vnodes` tokens in slot space itself: token
v of shard S sits at slot blake2b("S/v") >> 50, the top 14 bits of a stable
64-bit hash (the same in every process and Python version). A slot belongs
to the shard of the first token at or after it going clockwise (upwards,
wrapping from 16383 to 0), so each token owns the arc (previous token, its
own position]. Placing tokens in
slot space, rather than each slot on a big ring, keeps the map to about N x V
ranges: a few hundred, which keeps CLUSTER SLOTS small.

Consistent hashing moves little: when a shard joins, its tokens split existing
arcs and only the slots of those split arcs change owner (to the new shard);
when one leaves, only its own arcs go, each to the next token clockwise.

With V tokens a shard's raw share varies by about 1/sqrt(V) (9 % at 128), so
a bounded-load correction follows: every shard must end within +-10 % of its
fair share 16384/N (the bounds are whole slots: `load_bounds`). It moves the
fewest slots that can achieve that, which is max(total excess above the upper
bound, total shortfall below the lower bound): each shard gets a target (its
raw load clamped into the bounds; where the clamped targets do not sum to
16384, the highest targets are lowered, or the lowest raised, one slot at a
time), and only the difference between load and target moves. Which slots move
is chosen to keep ranges few: first by shifting arc boundaries between a
donor and a neighbouring recipient (no new range), then, for what is left, by
handing whole arcs or arc tails from donors to recipients in slot order.

Everything here is a pure, deterministic function of (set of shard ids,
vnodes): every node computes the same map from the same membership, whatever
order it learnt the members in.
"""

from __future__ import annotations

import hashlib
import heapq
from array import array
from collections.abc import Iterable, Sequence

from ..storage.slots import SLOTS

SLOT_SHIFT = 64 - 14  # 2**14 == SLOTS

VNODES_DEFAULT = 128
VNODES_MIN = 16
VNODES_MAX = 1024
# Every shard ends within +-10 % of 16384/N slots.
TOLERANCE_NUM, TOLERANCE_DEN = 1, 10

Range = tuple[int, int, str]  # (first slot, last slot, shard id), both ends inclusive


def check_vnodes(vnodes: int) -> int:
    if not isinstance(vnodes, int) or isinstance(vnodes, bool) or not VNODES_MIN <= vnodes <= VNODES_MAX:
        raise ValueError(f"cluster-vnodes must be an integer from {VNODES_MIN} to {VNODES_MAX}")
    return vnodes


def token_hash(shard_id: str, v: int) -> int:
    """Vnode v of the shard as a point on a 64-bit ring."""
    digest = hashlib.blake2b(b"%s/%d" % (shard_id.encode(), v), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def token(shard_id: str, v: int) -> int:
    """The slot where vnode v of the shard sits: the top 14 bits of its hash."""
    return token_hash(shard_id, v) >> SLOT_SHIFT


def load_bounds(shards: int) -> tuple[int, int]:
    """The fewest and most slots one of `shards` shards may own: ceil(0.9 F)
    and floor(1.1 F) of the fair share F = 16384/N, widened to floor(F) and
    ceil(F) where the band holds no integer (thousands of shards)."""
    den = TOLERANCE_DEN * shards
    lo = min(-(-SLOTS * (TOLERANCE_DEN - TOLERANCE_NUM) // den), SLOTS // shards)
    hi = max(SLOTS * (TOLERANCE_DEN + TOLERANCE_NUM) // den, -(-SLOTS // shards))
    # What the others leave over (binds only for one shard: it owns all).
    return max(lo, SLOTS - (shards - 1) * hi), min(hi, SLOTS - (shards - 1) * lo)


class SlotAssignment:
    """Which shard owns each slot: `shards` (sorted ids) and `owners` (for
    each slot, the index of its shard in `shards`)."""

    __slots__ = ("shards", "owners")

    def __init__(self, shards: Sequence[str], owners: array) -> None:
        self.shards: tuple[str, ...] = tuple(shards)
        self.owners = owners  # array('H') of SLOTS entries; empty when no shards

    def owner(self, slot: int) -> str:
        return self.shards[self.owners[slot]]

    def loads(self) -> dict[str, int]:
        counts = [0] * len(self.shards)
        for i in self.owners:
            counts[i] += 1
        return dict(zip(self.shards, counts))

    def ranges(self) -> list[Range]:
        """Maximal runs of slots with one owner, in slot order (no wrap:
        slot 16383 and slot 0 are never in one range)."""
        return owner_ranges(self.owners, self.shards)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, SlotAssignment) and self.shards == other.shards
                and self.owners == other.owners)

    def __repr__(self) -> str:
        return f"SlotAssignment({len(self.shards)} shards, {len(self.ranges())} ranges)"


def owner_ranges(owners: Sequence[int], shards: Sequence[str]) -> list[Range]:
    ranges: list[Range] = []
    if not owners:
        return ranges
    start = 0
    current = owners[0]
    for slot in range(1, len(owners)):
        here = owners[slot]
        if here != current:
            ranges.append((start, slot - 1, shards[current]))
            start, current = slot, here
    ranges.append((start, len(owners) - 1, shards[current]))
    return ranges


def assign(shard_ids: Iterable[str], vnodes: int = VNODES_DEFAULT) -> SlotAssignment:
    """The slot map for this membership: the ring, then the bounded-load
    correction."""
    shards, raw = raw_assignment(shard_ids, vnodes)
    if not shards:
        return SlotAssignment(shards, raw)
    return SlotAssignment(shards, balance(raw, len(shards)))


def raw_assignment(shard_ids: Iterable[str], vnodes: int = VNODES_DEFAULT
                   ) -> tuple[tuple[str, ...], array]:
    """The sorted shard ids and the ring's owners before any correction."""
    check_vnodes(vnodes)
    shards = tuple(sorted(set(shard_ids)))
    if not shards:
        return shards, array("H")
    if len(shards) > SLOTS:
        raise ValueError(f"at most {SLOTS} shards")
    # Tokens are sorted by their full 64-bit hash, so two tokens on one slot
    # are ordered by their low bits: the first takes the slots, the other's
    # arc is empty. (Ties by shard id would favour low ids: at 1024 vnodes,
    # a third of the tokens share a slot.)
    tokens = sorted((token_hash(shard, v), i) for i, shard in enumerate(shards)
                    for v in range(vnodes))
    owners = array("H", bytes(2 * SLOTS))
    nxt = 0  # the first slot not yet given an owner
    for h, i in tokens:
        pos = h >> SLOT_SHIFT
        if pos >= nxt:
            owners[nxt:pos + 1] = array("H", [i]) * (pos + 1 - nxt)
            nxt = pos + 1
    if nxt < SLOTS:  # past the last token: wrap to the first
        owners[nxt:] = array("H", [tokens[0][1]]) * (SLOTS - nxt)
    return shards, owners


def targets(loads: Sequence[int]) -> list[int]:
    """Each shard's load after correction: its own clamped into the bounds,
    then made to sum to 16384 by lowering the highest (or raising the lowest)
    targets one slot at a time, ties to the lower index. Every slot of
    difference between a load and its target moves, so this is the fewest
    moves that meet the bounds."""
    lo, hi = load_bounds(len(loads))
    goal = [min(max(load, lo), hi) for load in loads]
    diff = sum(goal) - SLOTS
    if diff > 0:
        heap = [(-g, i) for i, g in enumerate(goal) if g > lo]
        heapq.heapify(heap)
        for _ in range(diff):
            g, i = heapq.heappop(heap)
            goal[i] -= 1
            if goal[i] > lo:
                heapq.heappush(heap, (g + 1, i))
    elif diff < 0:
        heap = [(g, i) for i, g in enumerate(goal) if g < hi]
        heapq.heapify(heap)
        for _ in range(-diff):
            g, i = heapq.heappop(heap)
            goal[i] += 1
            if goal[i] < hi:
                heapq.heappush(heap, (g + 1, i))
    return goal


def balance(raw: array, shards: int) -> array:
    """The bounded-load correction of a raw ring assignment (a new array)."""
    owners = array("H", raw)
    loads = [0] * shards
    for i in owners:
        loads[i] += 1
    # surplus > 0: the shard gives that many slots; < 0: it receives.
    surplus = [load - goal for load, goal in zip(loads, targets(loads))]
    if not any(surplus):
        return owners

    # 1. Shift arc boundaries between a donor and a recipient that are
    # neighbours on the ring: the range count does not grow. Boundaries are
    # visited in slot order, the wrap (16383 | 0) last; each move reads the
    # owners as they are now, so runs emptied by earlier moves are skipped.
    boundaries = [b for b in range(1, SLOTS) if owners[b - 1] != owners[b]]
    if owners[SLOTS - 1] != owners[0]:
        boundaries.append(0)
    for b in boundaries:
        left, right = owners[b - 1], owners[b]  # owners[-1] is slot 16383
        if left == right:
            continue
        if surplus[left] > 0 and surplus[right] < 0:
            run = _run_back(owners, b - 1, left)
            k = min(surplus[left], -surplus[right], run)
            for j in range(1, k + 1):
                owners[(b - j) % SLOTS] = right
            surplus[left] -= k
            surplus[right] += k
        elif surplus[left] < 0 and surplus[right] > 0:
            run = _run_forward(owners, b, right)
            k = min(-surplus[left], surplus[right], run)
            for j in range(k):
                owners[(b + j) % SLOTS] = left
            surplus[right] -= k
            surplus[left] += k

    # 2. What no neighbour could take: donors (in index order) hand the tails
    # of their runs, in slot order, to recipients (in index order). Each run
    # touched adds at most one range.
    donors = [i for i in range(shards) if surplus[i] > 0]
    recipients = [i for i in range(shards) if surplus[i] < 0]
    r = 0
    for d in donors:
        slot = 0
        while surplus[d] > 0:
            while owners[slot] != d:
                slot += 1
            last = slot
            while last + 1 < SLOTS and owners[last + 1] == d:
                last += 1
            end = last
            while surplus[d] > 0 and end >= slot:
                while surplus[recipients[r]] == 0:
                    r += 1
                rec = recipients[r]
                k = min(surplus[d], -surplus[rec], end - slot + 1)
                owners[end - k + 1:end + 1] = array("H", [rec]) * k
                surplus[d] -= k
                surplus[rec] += k
                end -= k
            slot = last + 1
    return owners


def _run_back(owners: array, slot: int, shard: int) -> int:
    """How many slots from `slot` backwards (wrapping) `shard` owns."""
    n = 0
    while n < SLOTS and owners[(slot - n) % SLOTS] == shard:
        n += 1
    return n


def _run_forward(owners: array, slot: int, shard: int) -> int:
    n = 0
    while n < SLOTS and owners[(slot + n) % SLOTS] == shard:
        n += 1
    return n


def moved(before: SlotAssignment, after: SlotAssignment) -> int:
    """How many slots change owner between two assignments (a slot unowned
    on one side counts as moved)."""
    if not before.owners or not after.owners:
        return SLOTS if (before.owners or after.owners) else 0
    a, b = before.shards, after.shards
    return sum(1 for x, y in zip(before.owners, after.owners) if a[x] != b[y])
