"""Access metadata: the 24 bits Redis keeps in each object, in a hashed table.

What Redis keeps
----------------
Every Redis object has a 24-bit `lru` field. Under an LRU policy (and under
noeviction) it holds the LRU clock of the last access: Unix seconds mod 2^24
(`LRU_CLOCK`, resolution 1 s, wraps after 194 days). Under an LFU policy it
holds `ldt << 8 | counter`: the minute (mod 2^16) the counter last decayed
and an 8-bit logarithmic access counter (`LFULogIncr`: the counter grows by
one with probability 1 / ((counter - 5) * lfu-log-factor + 1), and loses
one per `lfu-decay-time` minutes without access; new keys start at 5).

Where we keep it
----------------
A Python object cannot grow a field cheaply, and a second dict key -> int
costs ~42 bytes a key (benchmarks/RESULTS.md). So each database keeps an
`array('I')` of 32-bit cells indexed by the low bits of the key's Python
hash (bytes cache their hash, so a GET that just looked the key up pays a
mask and one store), with at least twice as many cells as keys: 4-8 bytes a
key instead of 42. The table grows by doubling, which keeps every cell
valid: a key's new index is its old one or old + size, and both halves
start as copies.

Two keys can share a cell:

* LRU: the cell holds the 24-bit LRU clock of the latest access of the keys
  that share it, so a key may look more recent than it is (OBJECT IDLETIME
  is then a lower bound), never older. A fingerprint here would tell the
  keys apart, but the shifts and masks to store one cost ~1,100 more CPython
  instructions per GET (callgrind) for ~0.2 pp of hit ratio (the model below).
* LFU: `fingerprint << 24 | ldt << 8 | counter`, the fingerprint being hash
  bits 48..55. An access takes the cell only if the key's new counter is at
  least the owner's decayed counter, so the more frequent key keeps it; a
  key without its cell counts as frequency 0 (evicted first, OBJECT FREQ 0).

A pure-Python model of the eviction loop (1/5 of the hit-ratio benchmark's
sizes, 0.3 keys a cell) lost 0.65 pp of LRU hit ratio and 0.5 pp of LFU hit
ratio to sharing against exact per-key metadata, and 1.2 pp at one cell
per key; benchmarks/hit_ratio.py measures the real thing against
redis-server.
"""

from __future__ import annotations

import random
from array import array

LRU_CLOCK_MAX = (1 << 24) - 1
LRU_CLOCK_RESOLUTION_MS = 1000
META_MASK = 0xFFFFFF
FP_MASK = 0xFF000000
LFU_INIT_VAL = 5
MIN_CELLS = 1 << 14  # 64 KB: sharing among a handful of keys is rare (~k^2/2^15)

# The eviction score of an LFU key without its cell: below counter 0.
IDLE_UNKNOWN_LFU = 256

# Written instead of the real table while a CLIENT NO-TOUCH client runs a
# command (index 0 with mask 0): accesses land here and are forgotten.
SINK = array("I", [0])


def new_cells(size: int) -> array:
    return array("I", bytes(4 * size))


def record_lru(cells: array, keys: list, mask: int, now: int) -> None:
    """A run of new keys' LRU metadata (Keyspace._record_new without LFU):
    each key's cell gets the LRU clock. Compiled twin:
    ringcache/_speedups.pyx (record_lru)."""
    for key in keys:
        cells[hash(key) & mask] = now


def fingerprint(h: int) -> int:
    """The fingerprint bits of hash h, already in place (bits 24..31)."""
    return (h >> 24) & FP_MASK


def lru_clock(ms: float) -> int:
    """Redis's LRU_CLOCK(): seconds mod 2^24."""
    return (int(ms) // LRU_CLOCK_RESOLUTION_MS) & LRU_CLOCK_MAX


def lru_idle_ms(lru: int, now_clock: int) -> int:
    """estimateObjectIdleTime: ms since the access recorded as lru."""
    if now_clock >= lru:
        return (now_clock - lru) * LRU_CLOCK_RESOLUTION_MS
    return (now_clock + (LRU_CLOCK_MAX - lru)) * LRU_CLOCK_RESOLUTION_MS


def lfu_minutes(ms: float) -> int:
    """LFUGetTimeInMinutes: minutes mod 2^16."""
    return (int(ms) // 60000) & 0xFFFF


def lfu_elapsed(ldt: int, now_minutes: int) -> int:
    """LFUTimeElapsed, with the 16-bit wrap."""
    if now_minutes >= ldt:
        return now_minutes - ldt
    return 65535 - ldt + now_minutes


def lfu_decayed(meta: int, now_minutes: int, decay_time: int) -> int:
    """LFUDecrAndReturn: the counter of meta after its decay periods."""
    counter = meta & 255
    if decay_time:
        periods = lfu_elapsed(meta >> 8, now_minutes) // decay_time
        if periods:
            return 0 if periods > counter else counter - periods
    return counter


def lfu_log_incr(counter: int, log_factor: int, rand: float) -> int:
    """LFULogIncr: one access, with rand uniform in [0, 1)."""
    if counter == 255:
        return 255
    base = counter - LFU_INIT_VAL
    if base < 0:
        base = 0
    if rand < 1.0 / (base * log_factor + 1):
        return counter + 1
    return counter


class AccessPolicy:
    """The LFU parameters every database reads (one object per server)."""

    __slots__ = ("log_factor", "decay_time", "random")

    def __init__(self) -> None:
        self.log_factor = 10
        self.decay_time = 1
        self.random = random.random


record_lru_pure = record_lru  # (the reference; ringcache/accel.py may install the compiled twin)
