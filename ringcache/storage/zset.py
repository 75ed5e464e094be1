"""The sorted set value (Redis's zset: t_zset.c's dict + skiplist).

Theory of operation
-------------------
A sorted set answers two kinds of question: "what is the score of member m"
(ZSCORE, ZADD's old score) and "what lies at rank r / between these scores
or these names" (ZRANK, ZRANGE, ZCOUNT, pops). Redis keeps a dict for the
first and a skiplist with span counts for the second. Here:

* `dict`: member -> score (a Python float), O(1) lookups.
* the order: the (score, member) pairs sorted, cut into *blocks* of at most
  2 * LOAD elements. Each block is two parallel Python lists, one of scores
  and one of members, so an element costs two list slots (16 bytes) and no
  tuple: the score object and the member object are the very objects the
  dict holds. Inside a block `bisect` (in C) finds a position: first by
  score, then by member among equal scores, which is the (score, member)
  order Redis's skiplist keeps.
* `_maxes`: the last score of each block, so that `bisect` over it (in C)
  picks the block for a score; among blocks that end on the same score (a
  run of equal scores across blocks, as in lex sets) the member decides.
* `_tree`: a Fenwick (binary indexed) tree over the block sizes. The rank of
  an element is the size of the blocks before its block (a prefix sum,
  O(log B) for B blocks) plus its position in the block; the element at a
  rank is found by descending the tree. Inserting or deleting in a block
  updates the tree in O(log B); a block split or merge rebuilds it in O(B),
  which happens at most once per ~LOAD/2 changes.

Every range command reduces to ranks: the first rank whose score is >= min
(or > min) and the first whose score is > max (or >= max) bound a half-open
rank interval, so ZCOUNT is a subtraction and ZRANGEBYSCORE ... LIMIT is a
slice, O(log N + M) as Redis documents. Lex ranges do the same by member
(meaningful, as in Redis, when all scores are equal).

Costs: ZADD/ZREM O(log N) plus a list insert/delete inside one block (a
memmove of at most 2 * LOAD pointers, well under a microsecond); ZRANK and
"element at rank" O(log N). Memory per member in a 1M-member set:
benchmarks/RESULTS.md ("Sorted sets").

Invariants
----------
* `len(dict)` == total size of the blocks == `_tree` total.
* No block is empty; the set with no members has no blocks.
* Blocks concatenated are sorted by (score, member), with no duplicate member.
* `_scores[i][j]` is `dict[_members[i][j]]` (the same float object).
* `_maxes[i]` is `_scores[i][-1]`.
* Scores are never NaN (the commands refuse NaN before they get here).

This module is pure: no I/O, no knowledge of commands or replies.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Iterable, Iterator

# Target block size: blocks split above 2 * LOAD and merge below LOAD // 2.
# Bigger blocks mean fewer of them (a smaller tree, cheaper rebuilds),
# smaller ones cheaper list inserts and deletes (a memmove of half a block
# of pointers, in both lists). sortedcontainers takes 1000; with the inserts
# compiled (_speedups) the memmove is most of an insert's own work, and 512
# measured better: redis-benchmark's ZADD into one growing set (0 -> 63,000
# members) 10,676 -> 7,747 instructions per command, and ~0.2 us less per
# insert in wall time, into 1,000,000 members too (benchmarks/RESULTS.md,
# 2026-12-07 "ZADD into one growing set").
LOAD = 512


class ZSet:
    # (__weakref__: a ZSCAN snapshot knows its set by a weak reference)
    __slots__ = ("dict", "_scores", "_members", "_maxes", "_tree", "__weakref__")

    def __init__(self) -> None:
        self.dict: dict[bytes, float] = {}
        self._scores: list[list[float]] = []
        self._members: list[list[bytes]] = []
        self._maxes: list[float] = []
        self._tree: list[int] = [0]

    # -- the contract every family relies on ---------------------------------------

    @classmethod
    def from_items(cls, pairs: Iterable[tuple[bytes, float]]) -> "ZSet":
        """A set of these (member, score) pairs; a repeated member keeps its
        last score. O(N log N)."""
        zset = cls()
        d = zset.dict
        for member, score in pairs:
            d[member] = float(score) + 0.0  # (+ 0.0 turns -0 into 0, as _insert does)
        if d:
            ordered = sorted(zip(d.values(), d.keys()))
            zset._scores = [[s for s, _ in ordered[i:i + LOAD]] for i in range(0, len(ordered), LOAD)]
            zset._members = [[m for _, m in ordered[i:i + LOAD]] for i in range(0, len(ordered), LOAD)]
            zset._rebuild()
        return zset

    def copy(self) -> "ZSet":
        other = ZSet()
        other.dict = self.dict.copy()
        other._scores = [block[:] for block in self._scores]
        other._members = [block[:] for block in self._members]
        other._maxes = self._maxes[:]
        other._tree = self._tree[:]
        return other

    def __len__(self) -> int:
        return len(self.dict)

    def __contains__(self, member: bytes) -> bool:
        return member in self.dict

    def items(self) -> Iterator[tuple[bytes, float]]:
        """(member, score) pairs in (score, member) order."""
        for members, scores in zip(self._members, self._scores):
            yield from zip(members, scores)

    def __repr__(self) -> str:
        return f"ZSet({list(self.items())!r})"

    # -- single members ------------------------------------------------------------

    def score(self, member: bytes) -> float | None:
        return self.dict.get(member)

    def add(self, member: bytes, score: float) -> float | None:
        """Set member's score; returns its previous score (None if it is new)."""
        old = self.dict.get(member)
        if old is None:
            self._insert(member, score)
        elif old != score:  # (as Redis: 0 and -0 are equal, the old one stays)
            self._remove(member, old)
            self._insert(member, score)
        return old

    def remove(self, member: bytes) -> float | None:
        """Remove member; returns its score, or None if it was not there."""
        score = self.dict.get(member)
        if score is not None:
            self._remove(member, score)
        return score

    def rank(self, member: bytes) -> int | None:
        """0-based rank in ascending order, or None."""
        score = self.dict.get(member)
        if score is None:
            return None
        # _position and _offset inlined: ZRANK's whole cost is calls otherwise.
        maxes = self._maxes
        last = len(maxes) - 1
        i = bisect_left(maxes, score)
        if i >= last:
            i = last
        elif maxes[i] == score:
            i = self._locate(score, member)
        scores = self._scores[i]
        lo = bisect_left(scores, score)
        rank = bisect_left(self._members[i], member, lo, bisect_right(scores, score, lo))
        tree = self._tree
        while i:
            rank += tree[i]
            i &= i - 1
        return rank

    def at(self, rank: int) -> tuple[bytes, float]:
        """The element at a 0-based rank (0 <= rank < len)."""
        i, pos = self._find(rank)
        return self._members[i][pos], self._scores[i][pos]

    # -- ranges (half-open rank intervals) ---------------------------------------------

    def slice(self, start: int, stop: int) -> tuple[list[bytes], list[float]]:
        """Members and scores of ranks [start, stop) in ascending order
        (0 <= start, stop <= len). O(log N + M)."""
        members: list[bytes] = []
        scores: list[float] = []
        if start >= stop:
            return members, scores
        i, pos = self._find(start)
        left = stop - start
        all_members, all_scores = self._members, self._scores
        while left > 0:
            block = all_members[i]
            end = pos + left
            members += block[pos:end]
            scores += all_scores[i][pos:end]
            left -= len(block) - pos
            i += 1
            pos = 0
        return members, scores

    def slice_rev(self, start: int, stop: int) -> tuple[list[bytes], list[float]]:
        """Ranks [start, stop) from the highest (stop - 1) down."""
        members, scores = self.slice(start, stop)
        members.reverse()
        scores.reverse()
        return members, scores

    def score_rank(self, score: float, after: bool) -> int:
        """How many elements have a score < score (after=False) or
        <= score (after=True): the rank where that score bound falls."""
        # The first block whose last score is >= score (> score when after).
        maxes = self._maxes
        if after:
            i = bisect_right(maxes, score)
            if i == len(maxes):
                return len(self.dict)
            return self._offset(i) + bisect_right(self._scores[i], score)
        i = bisect_left(maxes, score)
        if i == len(maxes):
            return len(self.dict)
        return self._offset(i) + bisect_left(self._scores[i], score)

    def lex_rank(self, member: bytes, after: bool) -> int:
        """How many elements have a member < member (after=False) or
        <= member (after=True), assuming the order is by member (all scores
        equal; otherwise the answer is as unspecified as Redis's)."""
        all_members = self._members
        lo, hi = 0, len(all_members)
        if after:
            while lo < hi:
                mid = (lo + hi) >> 1
                if all_members[mid][-1] <= member:
                    lo = mid + 1
                else:
                    hi = mid
        else:
            while lo < hi:
                mid = (lo + hi) >> 1
                if all_members[mid][-1] < member:
                    lo = mid + 1
                else:
                    hi = mid
        if lo == len(all_members):
            return len(self.dict)
        block = all_members[lo]
        pos = bisect_right(block, member) if after else bisect_left(block, member)
        return self._offset(lo) + pos

    def pop(self, last: bool) -> tuple[bytes, float]:
        """Remove and return the lowest (or, if last, the highest) element of
        a non-empty set: ZPOPMIN/ZPOPMAX's common case, without the rank
        search of remove_slice."""
        i = len(self._members) - 1 if last else 0
        members, scores = self._members[i], self._scores[i]
        if last:
            member, score = members.pop(), scores.pop()
        else:
            member, score = members.pop(0), scores.pop(0)
        del self.dict[member]
        if len(members) >= LOAD // 2 or len(self._members) == 1 and members:
            self._tree_add(i, -1)
            if last:
                self._maxes[i] = scores[-1]
        else:
            self._compact(i, i + 1)
        return member, score

    def remove_slice(self, start: int, stop: int) -> tuple[list[bytes], list[float]]:
        """Remove ranks [start, stop); returns what was removed, ascending.
        O(log N + M), plus O(B) when whole blocks go."""
        if start >= stop:
            return [], []
        i, pos = self._find(start)
        left = stop - start
        removed_members: list[bytes] = []
        removed_scores: list[float] = []
        all_members, all_scores = self._members, self._scores
        first = i
        while left > 0:
            members, scores = all_members[i], all_scores[i]
            end = pos + left
            taken = members[pos:end]
            removed_members += taken
            removed_scores += scores[pos:end]
            del members[pos:end]
            del scores[pos:end]
            left -= len(taken)
            i += 1
            pos = 0
        d = self.dict
        for member in removed_members:
            del d[member]
        if i - first == 1 and all_members[first] and (
                len(all_members[first]) >= LOAD // 2 or len(all_members) == 1):
            self._tree_add(first, -len(removed_members))  # one block, still healthy
            self._maxes[first] = all_scores[first][-1]
        else:
            self._compact(first, i)
        return removed_members, removed_scores

    # -- internals -------------------------------------------------------------------

    def _insert(self, member: bytes, score: float) -> None:
        if score == 0.0:
            score = 0.0  # -0 is stored as 0, as Redis's listpack stores it (ZSCORE says "0")
        self.dict[member] = score
        all_scores = self._scores
        if not all_scores:
            self._scores = [[score]]
            self._members = [[member]]
            self._maxes = [score]
            self._tree = [0, 1]
            return
        maxes = self._maxes  # (_locate inlined for its common case)
        last = len(maxes) - 1
        i = bisect_left(maxes, score)
        if i >= last:
            i = last
        elif maxes[i] == score:
            i = self._locate(score, member)
        scores, members = all_scores[i], self._members[i]
        lo = bisect_left(scores, score)
        hi = bisect_right(scores, score, lo)
        pos = bisect_left(members, member, lo, hi) if lo != hi else lo
        # Slice assignment, not list.insert: CPython 3.11's insert moves the
        # tail one pointer at a time, a slice assignment with one memmove
        # (measured: half the time on a 1500-element block).
        scores[pos:pos] = (score,)
        members[pos:pos] = (member,)
        if pos == len(scores) - 1:
            maxes[i] = score
        if len(members) > 2 * LOAD:
            half = len(members) >> 1
            all_scores[i + 1:i + 1] = [scores[half:]]
            self._members[i + 1:i + 1] = [members[half:]]
            del scores[half:]
            del members[half:]
            self._rebuild()
        else:
            tree = self._tree  # (_tree_add inlined)
            k = i + 1
            n = len(tree)
            while k < n:
                tree[k] += 1
                k += k & -k

    def _remove(self, member: bytes, score: float) -> None:
        del self.dict[member]
        i, pos = self._position(score, member)
        members, scores = self._members[i], self._scores[i]
        del members[pos]
        del scores[pos]
        if len(members) >= LOAD // 2 or len(self._members) == 1 and members:
            self._tree_add(i, -1)
            if pos == len(scores):
                self._maxes[i] = scores[-1]
        else:
            self._compact(i, i + 1)

    def _compact(self, first: int, stop: int) -> None:
        """Blocks [first, stop) shrank: drop the empty ones, merge an
        underfull survivor into a neighbour, rebuild the tree."""
        all_members, all_scores = self._members, self._scores
        keep = [j for j in range(first, stop) if all_members[j]]
        all_members[first:stop] = [all_members[j] for j in keep]
        all_scores[first:stop] = [all_scores[j] for j in keep]
        # Now at most the blocks at first and first + len(keep) - 1 are underfull.
        for j in sorted({first, first + len(keep) - 1}, reverse=True):
            if 0 <= j < len(all_members) and len(all_members) > 1 and len(all_members[j]) < LOAD // 2:
                k = j - 1 if j + 1 == len(all_members) else j  # merge blocks k and k + 1
                all_members[k] += all_members.pop(k + 1)
                all_scores[k] += all_scores.pop(k + 1)
                if len(all_members[k]) > 2 * LOAD:
                    half = len(all_members[k]) >> 1
                    all_members.insert(k + 1, all_members[k][half:])
                    all_scores.insert(k + 1, all_scores[k][half:])
                    del all_members[k][half:]
                    del all_scores[k][half:]
        self._rebuild()

    def _locate(self, score: float, member: bytes) -> int:
        """The block where (score, member) is or belongs: the first whose
        last element is >= it (the last block if none)."""
        maxes = self._maxes
        lo = bisect_left(maxes, score)
        last = len(maxes) - 1
        if lo >= last or maxes[lo] != score:
            return min(lo, last)
        # Blocks lo .. hi - 1 all end on this score: the member decides.
        hi = bisect_right(maxes, score, lo)
        all_members = self._members
        while lo < hi:
            mid = (lo + hi) >> 1
            if all_members[mid][-1] < member:
                lo = mid + 1
            else:
                hi = mid
        return min(lo, last)

    def _position(self, score: float, member: bytes) -> tuple[int, int]:
        """(block, index) of an element that is in the set."""
        i = self._locate(score, member)
        scores = self._scores[i]
        lo = bisect_left(scores, score)
        hi = bisect_right(scores, score, lo)
        return i, bisect_left(self._members[i], member, lo, hi)

    # Fenwick tree over block sizes: _tree[k] (1-based) holds the sum of the
    # sizes of blocks (k - lowbit(k), k].

    def _rebuild(self) -> None:
        self._maxes = [scores[-1] for scores in self._scores]
        n = len(self._members)
        tree = [0] * (n + 1)
        for k, block in enumerate(self._members, 1):
            tree[k] += len(block)
            parent = k + (k & -k)
            if parent <= n:
                tree[parent] += tree[k]
        self._tree = tree

    def _tree_add(self, i: int, delta: int) -> None:
        tree = self._tree
        k = i + 1
        n = len(tree)
        while k < n:
            tree[k] += delta
            k += k & -k

    def _offset(self, i: int) -> int:
        """Total size of the blocks before block i."""
        tree = self._tree
        total = 0
        while i:
            total += tree[i]
            i &= i - 1
        return total

    def _find(self, rank: int) -> tuple[int, int]:
        """(block, index) of the element at a 0-based rank."""
        tree = self._tree
        n = len(tree) - 1
        if n == 1:
            return 0, rank
        k = 0
        step = 1 << (n.bit_length() - 1)
        while step:
            nxt = k + step
            if nxt <= n and tree[nxt] <= rank:
                k = nxt
                rank -= tree[nxt]
            step >>= 1
        return k, rank
