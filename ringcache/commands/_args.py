"""Argument parsing shared by the command families, with Redis's error texts."""

from __future__ import annotations

import math
import re

from ..protocol import errors
from ..protocol.errors import CommandError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


# Redis's string2ll: an optional '-', then digits without a leading zero (or
# "0" alone); no '+', spaces, underscores or "-0". 20 characters at most.
_INTEGER = re.compile(rb"-?[1-9][0-9]{0,18}|0").fullmatch


def parse_int(arg: bytes, message: str = errors.NOT_INTEGER) -> int:
    """A signed 64-bit integer in Redis's strict format."""
    if _INTEGER(arg) is None:
        raise CommandError(message)
    value = int(arg)
    if INT64_MIN <= value <= INT64_MAX:
        return value
    raise CommandError(message)


def parse_float(arg: bytes, message: str = errors.NOT_FLOAT) -> float:
    """A double as Redis reads it (strtold): inf/-inf allowed, NaN refused."""
    if not arg or arg[0] in b" \t\n" or arg[-1:] in (b" ", b"\t", b"\n") or b"_" in arg:
        raise CommandError(message)
    try:
        value = float(arg)
    except ValueError:
        raise CommandError(message) from None
    if math.isnan(value):
        raise CommandError(message)
    return value


def parse_db_index(arg: bytes, databases: int) -> int:
    try:
        index = int(arg)
    except ValueError:
        raise CommandError(errors.NOT_INTEGER) from None
    if not 0 <= index < databases:
        raise CommandError(errors.DB_INDEX_OUT_OF_RANGE)
    return index


def is_int_text(value: bytes) -> bool:
    """True if Redis would store this string with the int encoding."""
    if not value or len(value) > 20:
        return False
    try:
        parse_int(value)
    except CommandError:
        return False
    return True


_BLANKS = b" \t\n\v\f\r"
# The same as byte values. (`arg[0] in _BLANK_BYTES` rather than
# `arg[:1] in _BLANKS`: in CPython 3.11 `bytes in bytes` first tries the
# left side as an integer and builds a TypeError, ~1,800 instructions.)
_BLANK_BYTES = frozenset(_BLANKS)


def _strtod(text: bytes) -> float | None:
    """C strtod() over all of text (None if something is left over or it is
    not a number). Python's float() differs: it allows '_' and surrounding
    blanks, refuses hex and the empty string."""
    body = text.lstrip(_BLANKS)
    if not body:
        return 0.0 if text == body else None  # "" reads as 0 (nothing parsed, nothing left)
    if body[-1] in _BLANK_BYTES or body.find(b"_") >= 0:
        return None
    unsigned = body[1:] if body[0] in (43, 45) else body  # '+', '-'
    try:
        if unsigned[:2].lower() == b"0x":
            value = float.fromhex(body.decode("ascii"))
        else:
            value = float(body)
    except (ValueError, UnicodeDecodeError, OverflowError):
        return None
    return value


_STRTOD_PREFIX = re.compile(rb"\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)")


def strtod_prefix(arg: bytes) -> float:
    """C strtod() without the must-consume-everything check, as DEBUG reads
    its numbers: the longest numeric prefix, 0 when there is none."""
    match = _STRTOD_PREFIX.match(arg)
    return float(match.group()) if match else 0.0
