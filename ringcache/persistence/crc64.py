"""CRC-64 as Redis computes it (crc64.c): the Jones polynomial, reflected.

Parameters (RevEng's CRC-64/REDIS): poly 0xad93d23594c935a9 (normal
form; 0x95ac9329ac4bc9b5 bit-reversed, as a right-shifting table uses it), init 0, refin/refout true, xorout 0; check value of b"123456789"
is 0xe9c6d914c4b8d9ca. Redis puts it after an RDB file's EOF opcode and in
every DUMP payload's footer, little-endian.

Speed matters: the checksum covers every byte of a snapshot. A table-driven
loop in pure Python runs at ~10-20 MB/s; crcmod-plus's C extension (a
dependency, pinned in pyproject.toml) at ~200 MB/s on this machine. The
pure-Python table stays as the fallback when the extension is missing
(crcmod without its compiled part, or no crcmod at all) and as the
reference the tests compare the fast one with.
"""

from __future__ import annotations

from typing import Callable

POLY = 0xAD93D23594C935A9
POLY_REFLECTED = 0x95AC9329AC4BC9B5  # POLY with its 64 bits reversed


def _make_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ POLY_REFLECTED if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _make_table()


def crc64_pure(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """The reference implementation: one table lookup per byte."""
    table = _TABLE
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def _fast() -> Callable[..., int] | None:
    try:
        import crcmod  # crcmod-plus
        from crcmod import crcmod as impl
    except ImportError:
        return None
    if not getattr(impl, "_usingExtension", False):
        return None  # crcmod's own pure-Python path is no faster than ours
    # crcmod wants the polynomial in normal bit order with its x^64 term.
    return crcmod.mkCrcFun((1 << 64) | POLY, initCrc=0, rev=True, xorOut=0)


_FAST = _fast()
ACCELERATED = _FAST is not None


def crc64(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-64 of data, continuing from crc (0 to start)."""
    if _FAST is not None:
        return _FAST(data, crc)
    return crc64_pure(data, crc)
