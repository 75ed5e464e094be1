"""Argument parsing shared by the command families, with Redis's error texts:
the one home for reading numbers from arguments.

Redis reads numbers with several C functions, each with its own quirks, and
clients see the difference (which inputs pass, which error text comes back).
Each reader here is one of them, named after it:

    parse_int        string2ll / getLongLongFromObject: strict, 64-bit
    parse_int32      getIntFromObjectOrReply: strict, C int range
    parse_db_index   that, then selectDb's range check (SELECT, MOVE, COPY DB)
    parse_cursor     parseScanCursorOrReply: strict, else strtoull() in full
    parse_score      getDoubleFromObject / string2d (ZADD, ZINCRBY, WEIGHTS)
    parse_timeout    getTimeoutFromObjectOrReply (BLPOP and the other blocking commands)
    strtod_prefix    strtod() without the end check (DEBUG's numbers)
    strtold          string2ld: an x87 long double, exactly (INCRBYFLOAT, HINCRBYFLOAT)

`is_int_text` says whether a string would get Redis's int encoding.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..protocol import errors
from ..protocol.errors import CommandError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

# -- integers --------------------------------------------------------------------------


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


def parse_int32(arg: bytes, message: str | None = None) -> int:
    """getIntFromObjectOrReply: a strict integer that fits a C int. A custom
    message replaces both of Redis's texts (not an integer, out of range)."""
    value = parse_int(arg, message or errors.NOT_INTEGER)
    if not INT32_MIN <= value <= INT32_MAX:
        raise CommandError(message or errors.INT_RANGE)
    return value


def parse_db_index(arg: bytes, databases: int) -> int:
    """A database number (getIntFromObjectOrReply, then selectDb's check)."""
    index = parse_int32(arg)
    if not 0 <= index < databases:
        raise CommandError(errors.DB_INDEX_OUT_OF_RANGE)
    return index


def parse_cursor(arg: bytes) -> int:
    """parseScanCursorOrReply (string2ull): a number in Redis's strict
    format that is not negative, else whatever strtoull() reads in full
    (leading blanks, a sign; a '-' wraps around as in C)."""
    try:
        value = parse_int(arg)
    except CommandError:
        pass
    else:
        if value < 0:
            raise CommandError(errors.INVALID_CURSOR)
        return value
    text = arg.lstrip(b" \t\n\r\f\v")
    negative = text[:1] == b"-"
    if text[:1] in (b"+", b"-"):
        text = text[1:]
    if not text or not text.isdigit() or not text.isascii() or len(text) > 20 or int(text) >= 2**64:
        raise CommandError(errors.INVALID_CURSOR)
    value = int(text)
    return (2**64 - value) % 2**64 if negative else value


def is_int_text(value: bytes) -> bool:
    """True if Redis would store this string with the int encoding."""
    if not value or len(value) > 20:
        return False
    try:
        parse_int(value)
    except CommandError:
        return False
    return True


# -- doubles ---------------------------------------------------------------------------

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


def parse_score(arg: bytes, message: str = errors.NOT_FLOAT) -> float:
    """A score argument as Redis's getDoubleFromObject (string2d) reads it."""
    if not arg or arg[0] in _BLANK_BYTES:
        raise CommandError(message)
    try:
        value: float | None = float(arg)  # the common case: a plain decimal
    except ValueError:
        value = _strtod(arg)  # hex, or nothing strtod reads either
    else:
        if arg[-1] in _BLANK_BYTES or arg.find(b"_") >= 0:
            raise CommandError(message)  # float() accepts these, strtod does not
    if value is None or value != value:
        raise CommandError(message)
    if math.isinf(value) and arg.lower().find(b"inf") < 0:
        raise CommandError(message)  # overflow (ERANGE)
    if value == 0.0 and _mantissa(arg).strip(b"+-0.x") != b"":
        raise CommandError(message)  # underflow to zero (ERANGE)
    return value


def _mantissa(arg: bytes) -> bytes:
    text = arg.lower()
    return text.split(b"p")[0] if text.find(b"x") >= 0 else text.split(b"e")[0]


def parse_timeout(arg: bytes) -> float:
    """A blocking command's timeout in seconds, as Redis's
    getTimeoutFromObjectOrReply reads it (a float with sub-second precision)."""
    try:
        value = float(arg)
    except ValueError:
        # strtold also reads hex ("0x1p-2" is a quarter second)
        parsed = _strtod(arg) if arg else None  # (blanks around: refused below)
        if parsed is None:
            raise CommandError(errors.TIMEOUT_NOT_FLOAT) from None
        value = parsed
    if math.isnan(value) or b"_" in arg or arg[:1].isspace() or arg[-1:].isspace():
        raise CommandError(errors.TIMEOUT_NOT_FLOAT)
    # Redis reads a long double: "inf" and 1e400 parse, and are then out of
    # range (7.2+; 7.0 answered "timeout is negative"), "-inf" is negative.
    if value < 0:
        raise CommandError(errors.TIMEOUT_NEGATIVE)
    if value * 1000 > 2**63 - 1:
        raise CommandError(errors.TIMEOUT_OUT_OF_RANGE)
    return value


_STRTOD_PREFIX = re.compile(rb"\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)")


def strtod_prefix(arg: bytes) -> float:
    """C strtod() without the must-consume-everything check, as DEBUG reads
    its numbers: the longest numeric prefix, 0 when there is none."""
    match = _STRTOD_PREFIX.match(arg)
    return float(match.group()) if match else 0.0


# -- x87 long double, exactly --------------------------------------------------
#
# Redis's INCRBYFLOAT reads both numbers with strtold(), adds them as C long
# doubles and stores the sum printed with "%.17Lf" minus trailing zeros. On
# x86-64 a long double is the x87 80-bit format: a 64-bit significand, normal
# exponents down to 2**-16382, subnormals down to 2**-16445, overflow at
# 2**16384. Python has no such type, so a value is kept exactly as a pair of
# ints (m, q) meaning m * 2**q, with |m| < 2**64; every step (reading, adding)
# rounds the exact result to that format, nearest with ties to even, as the
# hardware does, and printing rounds the exact binary value to 17 decimals,
# ties to even, as glibc does. So 10.5 + 0.1 gives "10.6" (0.1 is more
# precise than a double) and 5010.6 gives "5010.60000000000000009", byte for
# byte what redis-server answers (checked on random inputs, subnormals,
# hexadecimal input and overflow included).

_LD_SIGNIFICAND = 64
_LD_MIN_QUANTUM = -16382 - 63  # log2 of the spacing of subnormals
_LD_OVERFLOW = 16384  # log2 of the first value too large
_LD_MAX_CHARS = 5 * 1024  # MAX_LONG_DOUBLE_CHARS: longer input is refused
LD_ZERO = (0, 0)
LD_INF = (0, None)  # strtold() read an infinity (compared by identity)

_DECIMAL = re.compile(rb"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")
_HEX = re.compile(rb"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?")
_INFINITY = re.compile(rb"[+-]?(?:inf|infinity)", re.IGNORECASE)
_CHUNK = 4000  # decimal digits converted at a time (Python caps int/str at 4300)
_CHUNK_POW = 10**_CHUNK
_TEN17 = 10**17


def strtold(text: bytes) -> Any:
    """string2ld(): the long double strtold() would produce, as (m, q), or
    LD_INF for an infinity; anything else Redis refuses raises NOT_FLOAT."""
    if not text or len(text) >= _LD_MAX_CHARS:
        raise CommandError(errors.NOT_FLOAT)
    if _INFINITY.fullmatch(text):
        return LD_INF
    m = _HEX.fullmatch(text)
    if m and (m.group(2) or m.group(3)):
        sign, whole, frac, exp = m.groups()
        frac = frac or b""
        mantissa = int(whole + frac, 16)
        exponent = _clamped_int(exp) - 4 * len(frac)
        base = 2
        # log2 of the leading bit: known before any big arithmetic.
        top = mantissa.bit_length() - 1 + exponent
        too_big, too_small = top >= _LD_OVERFLOW, top < _LD_MIN_QUANTUM - 2
    else:
        m = _DECIMAL.fullmatch(text)
        if not m or not (m.group(2) or m.group(3)):
            raise CommandError(errors.NOT_FLOAT)
        sign, whole, frac, exp = m.groups()
        frac = frac or b""
        digits = (whole + frac).lstrip(b"0")
        mantissa = _int_from_digits(digits) if digits else 0
        exponent = _clamped_int(exp) - len(frac)
        base = 10
        # log10 of the leading digit: past 1.19e4932 overflows, below
        # 1.8e-4951 (half the smallest subnormal) rounds to zero.
        top = len(digits) - 1 + exponent
        too_big, too_small = top > 4932, top < -4952
    if mantissa == 0:
        return LD_ZERO
    if too_big or too_small:  # strtold's ERANGE, which Redis refuses
        raise CommandError(errors.NOT_FLOAT)
    if exponent >= 0:
        rounded = _ld_round(mantissa * base**exponent, 1)
    else:
        rounded = _ld_round(mantissa, base**-exponent)
    if rounded is None or rounded[0] == 0:  # ERANGE again, found by rounding
        raise CommandError(errors.NOT_FLOAT)
    return (-rounded[0], rounded[1]) if sign == b"-" else rounded


def _clamped_int(exp: bytes | None) -> int:
    """An exponent; absurd ones are clamped (they over/underflow anyway)."""
    if not exp:
        return 0
    digits = exp.lstrip(b"+-").lstrip(b"0")
    value = int(digits or b"0") if len(digits) <= 7 else 10**7
    return -value if exp[:1] == b"-" else value


def _int_from_digits(digits: bytes) -> int:
    if len(digits) <= _CHUNK:
        return int(digits)
    head, tail = digits[:-_CHUNK], digits[-_CHUNK:]
    return _int_from_digits(head) * _CHUNK_POW + int(tail)


def _digits_of(n: int) -> bytes:
    if n < _CHUNK_POW:
        return b"%d" % n
    head, tail = divmod(n, _CHUNK_POW)
    return _digits_of(head) + (b"%d" % tail).rjust(_CHUNK, b"0")


def _ld_round(n: int, d: int) -> tuple[int, int] | None:
    """The positive ratio n/d rounded to a long double (m, q); None on overflow."""
    e = n.bit_length() - d.bit_length()
    if (n << max(-e, 0)) < (d << max(e, 0)):
        e -= 1  # now 2**e <= n/d < 2**(e+1)
    q = max(e - (_LD_SIGNIFICAND - 1), _LD_MIN_QUANTUM)  # the spacing there is 2**q
    if q >= 0:
        d <<= q
    else:
        n <<= -q
    m, rem = divmod(n, d)
    if 2 * rem > d or (2 * rem == d and m & 1):
        m += 1
    if m.bit_length() + q > _LD_OVERFLOW:
        return None
    return m, q


def ld_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int] | None:
    """a + b rounded to a long double; None on overflow (an infinity)."""
    (ma, qa), (mb, qb) = a, b
    q = min(qa, qb)
    total = (ma << (qa - q)) + (mb << (qb - q))  # exact
    if total == 0:
        return LD_ZERO
    if q >= 0:
        rounded = _ld_round(abs(total) << q, 1)
    else:
        rounded = _ld_round(abs(total), 1 << -q)
    if rounded is None:
        return None
    return (-rounded[0], rounded[1]) if total < 0 else rounded


def format_ld(value: tuple[int, int]) -> bytes:
    """ld2string(LD_STR_HUMAN): "%.17Lf", trailing zeros and dot removed."""
    m, q = value
    if q >= 0:
        scaled = (abs(m) << q) * _TEN17
    else:  # round the exact value to 17 decimals, ties to even like glibc
        d = 1 << -q
        scaled, rem = divmod(abs(m) * _TEN17, d)
        if 2 * rem > d or (2 * rem == d and scaled & 1):
            scaled += 1
    if scaled == 0:
        return b"0"  # also "-0" becomes "0"
    digits = _digits_of(scaled).rjust(18, b"0")
    text = (digits[:-17] + b"." + digits[-17:]).rstrip(b"0").rstrip(b".")
    return b"-" + text if m < 0 else text
