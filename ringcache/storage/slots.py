"""Hash slots: every key belongs to one of 16384 slots, as in Redis Cluster.

slot = CRC16-XMODEM(key) mod 16384, where a `{hash tag}` (the text between
the first `{` and the next `}`, when not empty) replaces the key so related
keys land together. binascii.crc_hqx with initial value 0 is exactly
CRC16-XMODEM, computed in C.
"""

from __future__ import annotations

import random
from array import array
from binascii import crc_hqx

SLOTS = 16384
SLOT_MASK = SLOTS - 1


def key_slot(key: bytes) -> int:
    start = key.find(b"{")
    if start != -1:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return crc_hqx(key, 0) & SLOT_MASK


# A slot's keys are kept in a list while few (10 bytes a key, and removal
# scans at most this many) and in a set beyond (O(1) removal, ~40 bytes a key).
LIST_MAX = 96


class SlotIndex:
    """Which keys live in each hash slot.

    Cluster mode migrates data slot by slot and answers CLUSTER
    COUNTKEYSINSLOT / GETKEYSINSLOT from it; SCAN walks it so that a key
    present for the whole scan is returned exactly once, whatever happens to
    the main dict meanwhile. It costs about 10 bytes per key (keys spread
    evenly over 16384 slots stay in small lists).
    """

    __slots__ = ("buckets", "occupied", "nonempty", "nonempty_at")

    def __init__(self) -> None:
        self.buckets: list[list[bytes] | set[bytes] | None] = [None] * SLOTS
        # 1 for each slot holding keys: bytearray.find() skips empty slots in C
        # (eviction sampling, RANDOMKEY and SCAN on sparse databases).
        self.occupied = bytearray(SLOTS)
        # The non-empty slots in no order, and each one's index there: a
        # uniform random non-empty slot in O(1) (eviction samples keys).
        self.nonempty = array("H")
        self.nonempty_at = array("H", bytes(2 * SLOTS))

    def add(self, key: bytes) -> None:
        slot = key_slot(key)
        bucket = self.buckets[slot]
        if bucket is None:
            self.buckets[slot] = [key]
            self.occupied[slot] = 1
            self.nonempty_at[slot] = len(self.nonempty)
            self.nonempty.append(slot)
        elif bucket.__class__ is list:
            bucket.append(key)  # type: ignore[union-attr]
            if len(bucket) > LIST_MAX:
                self.buckets[slot] = set(bucket)
        else:
            bucket.add(key)  # type: ignore[union-attr]

    def add_many(self, keys: list[bytes]) -> None:
        """add() for each key (a snapshot's run of keys: one call, the
        slot computation inlined). Compiled twin: ringcache/_speedups.pyx
        (slots_add_many)."""
        buckets = self.buckets
        for key in keys:
            start = key.find(b"{")
            if start != -1:
                end = key.find(b"}", start + 1)
                slot = crc_hqx(key[start + 1:end] if end > start + 1 else key, 0) & SLOT_MASK
            else:
                slot = crc_hqx(key, 0) & SLOT_MASK
            bucket = buckets[slot]
            if bucket is not None and bucket.__class__ is list and len(bucket) < LIST_MAX:
                bucket.append(key)  # type: ignore[union-attr]
            else:
                self.add(key)

    def remove(self, key: bytes) -> None:
        slot = key_slot(key)
        bucket = self.buckets[slot]
        if bucket is None:
            return
        bucket.remove(key)
        if not bucket:
            self.buckets[slot] = None
            self.occupied[slot] = 0
            nonempty = self.nonempty
            last = nonempty.pop()
            if last != slot:
                i = self.nonempty_at[slot]
                nonempty[i] = last
                self.nonempty_at[last] = i

    def keys(self, slot: int) -> list[bytes]:
        bucket = self.buckets[slot]
        return list(bucket) if bucket else []

    def count(self, slot: int) -> int:
        bucket = self.buckets[slot]
        return len(bucket) if bucket else 0

    def clear(self) -> None:
        self.buckets = [None] * SLOTS
        self.occupied = bytearray(SLOTS)
        self.nonempty = array("H")
        self.nonempty_at = array("H", bytes(2 * SLOTS))

    def next_nonempty(self, slot: int) -> int:
        """The first slot >= slot holding keys, or SLOTS if none."""
        if slot >= SLOTS:
            return SLOTS
        found = self.occupied.find(1, slot)
        return SLOTS if found < 0 else found

    def random_bucket(self) -> list[bytes] | set[bytes] | None:
        """The keys of a random non-empty slot (uniformly among the non-empty
        ones), or None when there are no keys."""
        nonempty = self.nonempty
        if not nonempty:
            return None
        return self.buckets[nonempty[random.randrange(len(nonempty))]]


add_many_pure = SlotIndex.add_many  # (the reference; ringcache/accel.py may install the compiled twin)
