"""HyperLogLog values, byte for byte Redis's (hyperloglog.c), so that an HLL
moves between ringcache and redis-server as a plain string (GET/SET, DUMP,
RDB) and both count it the same.

Theory of operation
-------------------
An HLL is a string: a 16-byte header ("HYLL", the encoding byte, 3 unused
bytes, then the cached cardinality as 8 little-endian bytes whose top bit
set means "stale"), followed by the 16384 six-bit registers (P = 14) in one
of two encodings:

* dense: 12288 bytes, register i at bit 6*i, least significant bits first;
* sparse: run-length opcodes, for HLLs with few non-zero registers:
  ZERO `00xxxxxx` (1-64 zero registers), XZERO `01xxxxxx yyyyyyyy` (1-16384
  zero registers), VAL `1vvvvvxx` (1-4 registers of value 1-32).

An element hashes with MurmurHash64A (seed 0xadc83b19): the low 14 bits pick
the register, the run of zeros above them plus one is the candidate value;
a register keeps the largest value it saw.

The sparse update (`_sparse_set`) repeats Redis's hllSparseSet step by step
(find the opcode covering the register, split it into at most three
opcodes, merge equal neighbouring VALs in a window of five opcodes), because
the exact bytes depend on that procedure, not only on the registers. A value
over 32, or a sparse string that would grow past hll-sparse-max-bytes
(header included), promotes the HLL to dense; promotion keeps the header.

The count is Ertl's improved estimator (Redis 5+): a histogram of the
register values, then hllTau/hllSigma, in IEEE doubles as the C code.

Functions take and return `bytes`; `InvalidHLL` reports a corrupted value
(Redis's INVALIDOBJ). `is_hll` is Redis's isHLLObjectOrReply test.
"""

from __future__ import annotations

import math

MAGIC = b"HYLL"
HLL_P = 14
HLL_Q = 64 - HLL_P
REGISTERS = 1 << HLL_P
P_MASK = REGISTERS - 1
REGISTER_MAX = 63
HDR_SIZE = 16
DENSE = 0
SPARSE = 1
DENSE_SIZE = HDR_SIZE + (REGISTERS * 6 + 7) // 8
SPARSE_VAL_MAX_VALUE = 32
SPARSE_VAL_MAX_LEN = 4
SPARSE_ZERO_MAX_LEN = 64
SPARSE_XZERO_MAX_LEN = 16384
ALPHA_INF = 0.721347520444481703680  # 0.5 / ln(2)

_M64 = 0xFFFFFFFFFFFFFFFF


class InvalidHLL(Exception):
    """The value says HYLL but its registers do not add up."""


def murmur64a(data: bytes, seed: int = 0xADC83B19) -> int:
    """MurmurHash64A, as Redis's (little-endian 8-byte words)."""
    m = 0xC6A4A7935BD1E995
    length = len(data)
    h = (seed ^ (length * m)) & _M64
    whole = length - (length & 7)
    for i in range(0, whole, 8):
        k = int.from_bytes(data[i:i + 8], "little")
        k = (k * m) & _M64
        k ^= k >> 47
        k = (k * m) & _M64
        h ^= k
        h = (h * m) & _M64
    tail = data[whole:]
    if tail:
        h ^= int.from_bytes(tail, "little")
        h = (h * m) & _M64
    h ^= h >> 47
    h = (h * m) & _M64
    h ^= h >> 47
    return h


def pattern(element: bytes) -> tuple[int, int]:
    """hllPatLen: (register index, the value the element offers it)."""
    h = murmur64a(element)
    index = h & P_MASK
    h >>= HLL_P
    h |= 1 << HLL_Q  # the loop ends by Q+1
    return index, (h & -h).bit_length()


def new_sparse() -> bytes:
    """createHLLObject: an empty sparse HLL (one XZERO of 16384 registers)."""
    return MAGIC + bytes((SPARSE,)) + bytes(11) + b"\x7f\xff"


def is_hll(value: bytes) -> bool:
    if len(value) < HDR_SIZE or value[:4] != MAGIC or value[4] > SPARSE:
        return False
    return value[4] != DENSE or len(value) == DENSE_SIZE


def invalidate(value: bytearray) -> None:
    value[15] |= 0x80


# -- dense registers --------------------------------------------------------------------


def _dense_get(buf: bytearray, index: int) -> int:
    pos = index * 6
    byte = HDR_SIZE + (pos >> 3)
    fb = pos & 7
    b1 = buf[byte + 1] if byte + 1 < len(buf) else 0
    return ((buf[byte] >> fb) | (b1 << (8 - fb))) & REGISTER_MAX


def _dense_set(buf: bytearray, index: int, value: int) -> None:
    pos = index * 6
    byte = HDR_SIZE + (pos >> 3)
    fb = pos & 7
    buf[byte] = (buf[byte] & ~(REGISTER_MAX << fb) & 0xFF) | ((value << fb) & 0xFF)
    if byte + 1 < len(buf):  # (the last register ends inside its byte)
        fb8 = 8 - fb
        buf[byte + 1] = (buf[byte + 1] & ~(REGISTER_MAX >> fb8) & 0xFF) | (value >> fb8)


def _dense_registers(value: bytes) -> list[int]:
    """All registers: every 3 bytes hold 4 of them (24 bits, low bits first)."""
    data = value[HDR_SIZE:HDR_SIZE + REGISTERS * 6 // 8]
    out: list[int] = []
    append = out.append
    for i in range(0, len(data), 3):
        word = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16)
        append(word & 63)
        append((word >> 6) & 63)
        append((word >> 12) & 63)
        append(word >> 18)
    return out


# -- sparse opcodes ------------------------------------------------------------------------


def _opcode(buf: bytes | bytearray, p: int) -> tuple[str, int, int, int]:
    """(kind, registers covered, value, opcode length) of the opcode at p."""
    op = buf[p]
    if op & 0x80:
        return "val", (op & 0x3) + 1, ((op >> 2) & 0x1F) + 1, 1
    if op & 0x40:
        second = buf[p + 1] if p + 1 < len(buf) else 0
        return "xzero", (((op & 0x3F) << 8) | second) + 1, 0, 2
    return "zero", (op & 0x3F) + 1, 0, 1


def _val(value: int, length: int) -> int:
    return ((value - 1) << 2 | (length - 1)) | 0x80


def _zeros(length: int) -> bytes:
    if length > SPARSE_ZERO_MAX_LEN:
        length -= 1
        return bytes(((length >> 8) | 0x40, length & 0xFF))
    return bytes((length - 1,))


def _sparse_runs(value: bytes) -> list[tuple[int, int, int]]:
    """The sparse registers as (first index, count, value) runs; InvalidHLL
    if they do not cover exactly the 16384 registers."""
    runs = []
    index = 0
    p, end = HDR_SIZE, len(value)
    while p < end:
        kind, span, val, size = _opcode(value, p)
        if kind == "val" and index + span > REGISTERS:
            raise InvalidHLL
        runs.append((index, span, val))
        index += span
        p += size
    if index != REGISTERS:
        raise InvalidHLL
    return runs


def registers(value: bytes) -> list[int]:
    """All 16384 register values of an HLL of either encoding."""
    if value[4] == DENSE:
        return _dense_registers(value)
    out = [0] * REGISTERS
    for first, span, val in _sparse_runs(value):
        if val:
            out[first:first + span] = [val] * span
    return out


def to_dense(value: bytes | bytearray) -> bytearray:
    """hllSparseToDense: the same HLL, dense, with the header kept."""
    if value[4] == DENSE:
        return bytearray(value)
    buf = bytearray(DENSE_SIZE)
    buf[:HDR_SIZE] = value[:HDR_SIZE]
    buf[4] = DENSE
    for first, span, val in _sparse_runs(bytes(value)):
        if val:
            for index in range(first, first + span):
                _dense_set(buf, index, val)
    return buf


def _sparse_set(buf: bytearray, index: int, count: int, max_bytes: int) -> int | None:
    """hllSparseSet on buf, in place: 1 if the register grew, 0 if not,
    None when the HLL must be promoted to dense first. InvalidHLL if the
    opcodes do not reach the register."""
    if count > SPARSE_VAL_MAX_VALUE:
        return None
    p, end = HDR_SIZE, len(buf)
    first = 0
    prev = -1
    span = 0
    kind, size, val = "zero", 1, 0
    while p < end:
        kind, span, val, size = _opcode(buf, p)
        if index <= first + span - 1:
            break
        prev = p
        p += size
        first += span
    if span == 0 or p >= end:
        raise InvalidHLL
    done = False
    if kind == "val":
        if val >= count:
            return 0
        if span == 1:
            buf[p] = _val(count, 1)
            done = True
    elif kind == "zero" and span == 1:
        buf[p] = _val(count, 1)
        done = True
    if not done:
        last = first + span - 1
        seq = bytearray()
        if kind != "val":
            if index != first:
                seq += _zeros(index - first)
            seq.append(_val(count, 1))
            if index != last:
                seq += _zeros(last - index)
        else:
            if index != first:
                seq.append(_val(val, index - first))
            seq.append(_val(count, 1))
            if index != last:
                seq.append(_val(val, last - index))
        delta = len(seq) - size
        if delta > 0 and len(buf) + delta > max_bytes:
            return None
        buf[p:p + size] = seq
    # Merge equal neighbouring VALs, scanning up to five opcodes from prev.
    p = prev if prev >= 0 else HDR_SIZE
    scan = 5
    while p < len(buf) and scan:
        scan -= 1
        op = buf[p]
        if not op & 0x80:
            p += 2 if op & 0x40 else 1
            continue
        if p + 1 < len(buf) and buf[p + 1] & 0x80:
            v1 = ((op >> 2) & 0x1F) + 1
            v2 = ((buf[p + 1] >> 2) & 0x1F) + 1
            if v1 == v2:
                length = (op & 0x3) + 1 + (buf[p + 1] & 0x3) + 1
                if length <= SPARSE_VAL_MAX_LEN:
                    buf[p + 1] = _val(v1, length)
                    del buf[p]
                    continue
        p += 1
    return 1


def set_register(buf: bytearray, index: int, count: int, max_bytes: int) -> tuple[bytearray, int]:
    """Raise register index to count (hllSparseSet / hllDenseSet): the
    buffer (a new one when promoted) and 1 if it changed."""
    if buf[4] == SPARSE:
        changed = _sparse_set(buf, index, count, max_bytes)
        if changed is not None:
            return buf, changed
        buf = to_dense(buf)
    if _dense_get(buf, index) < count:
        _dense_set(buf, index, count)
        return buf, 1
    return buf, 0


def add(value: bytes, elements: list[bytes], max_bytes: int) -> tuple[bytes, int]:
    """PFADD's work: (the new value, how many registers changed)."""
    buf = bytearray(value)
    updated = 0
    for element in elements:
        index, count = pattern(element)
        buf, changed = set_register(buf, index, count, max_bytes)
        updated += changed
    return bytes(buf), updated


def merge_into(maxima: list[int], value: bytes) -> bool:
    """hllMerge: maxima[i] = max(maxima[i], register i); True if value was dense."""
    if value[4] == DENSE:
        for i, reg in enumerate(_dense_registers(value)):
            if reg > maxima[i]:
                maxima[i] = reg
        return True
    for first, span, val in _sparse_runs(value):
        if val:
            for i in range(first, first + span):
                if val > maxima[i]:
                    maxima[i] = val
    return False


def cached_count(value: bytes) -> int | None:
    """The cardinality in the header, None if stale."""
    if value[15] & 0x80:
        return None
    return int.from_bytes(value[8:16], "little")


def with_cache(value: bytes, card: int) -> bytes:
    return value[:8] + card.to_bytes(8, "little") + value[16:]


def count_registers(regs: list[int]) -> int:
    """hllCount on register values: Ertl's estimator."""
    histogram = [0] * 64
    for reg in regs:
        histogram[reg] += 1
    return _estimate(histogram)


def count(value: bytes) -> int:
    """The estimated cardinality of one HLL (InvalidHLL if corrupted)."""
    if value[4] == DENSE:
        return count_registers(_dense_registers(value))
    histogram = [0] * 64
    covered = 0
    p, end = HDR_SIZE, len(value)
    while p < end:
        kind, span, val, size = _opcode(value, p)
        histogram[val] += span
        covered += span
        p += size
    if covered != REGISTERS:
        raise InvalidHLL
    return _estimate(histogram)


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y = 1.0
    z = x
    while True:
        x *= x
        z_prime = z
        z += x * y
        y += y
        if z_prime == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y = 1.0
    z = 1 - x
    while True:
        x = math.sqrt(x)
        z_prime = z
        y *= 0.5
        z -= math.pow(1 - x, 2) * y
        if z_prime == z:
            return z / 3


def _estimate(histogram: list[int]) -> int:
    m = float(REGISTERS)
    z = m * _tau((m - histogram[HLL_Q + 1]) / m)
    for j in range(HLL_Q, 0, -1):
        z += histogram[j]
        z *= 0.5
    z += m * _sigma(histogram[0] / m)
    estimate = ALPHA_INF * m * m / z
    whole = math.floor(estimate)
    return int(whole + 1 if estimate - whole >= 0.5 else whole)  # llroundl
