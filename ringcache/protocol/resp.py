"""Reply encoding for RESP2 and RESP3.

A command returns a plain Python value; the connection encodes it for the
protocol version the client chose with HELLO. The mapping:

    bytes          bulk string            None          null ($-1 / _)
    int            integer                bool          boolean (RESP2: 1/0)
    float          double (RESP2: bulk)   list, tuple   array
    dict           map (RESP2: flat array) set, frozenset set (RESP2: array)
    SimpleString   +status                CommandError  -error
    Verbatim       verbatim (RESP2: bulk) Push          push (RESP2: array)
    NULL_ARRAY     null array (*-1 / _)   Raw           already encoded bytes

`Raw` exists for the hot path: constant replies such as +OK are encoded once.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from .errors import CommandError


class SimpleString(bytes):
    """A status reply: +text (no CR/LF inside)."""


class Raw(bytes):
    """Bytes that are already a complete RESP reply."""


class RawPush(Raw):
    """Encoded pushes given as a command's reply (SUBSCRIBE's confirmations,
    arrays in RESP2): delivered whatever CLIENT REPLY says, as in Redis 7.2+."""


class Verbatim(bytes):
    """Verbatim text (RESP3 '='), e.g. INFO and CLIENT LIST; a bulk string in RESP2."""


class Push(list):
    """An out-of-band push (RESP3 '>'), e.g. pub/sub messages; an array in RESP2."""


class _NullArray:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_ARRAY"


NULL_ARRAY = _NullArray()

OK = Raw(b"+OK\r\n")
QUEUED = Raw(b"+QUEUED\r\n")
PONG = Raw(b"+PONG\r\n")
ZERO = Raw(b":0\r\n")
ONE = Raw(b":1\r\n")


_LLONG_HALF = float((2**63 - 1) // 2)


def format_double(value: float) -> bytes:
    """Redis's d2string() (7.2+): `nan`, `inf`, `-inf`, `-0`; a whole number
    within +-LLONG_MAX/2 as an integer; anything else as the shortest digits
    that read back the same, laid out as fpconv_dtoa() does (plain notation
    for moderate exponents, else `1.5e-7` with no exponent padding)."""
    if value != value:
        return b"nan"
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    if value == 0:
        return b"-0" if math.copysign(1.0, value) < 0 else b"0"
    if -_LLONG_HALF <= value <= _LLONG_HALF and value == int(value):
        return b"%d" % int(value)
    return _fpconv(value).encode()


def _fpconv(value: float) -> str:
    # repr() gives the shortest round-trip digits (as fpconv's Grisu does);
    # re-lay them out: value = digits * 10**k.
    text = repr(abs(value))
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    k = (int(exponent) if exponent else 0) - len(fraction)
    stripped = digits.rstrip("0")
    k += len(digits) - len(stripped)
    digits = stripped
    sign = "-" if value < 0 else ""
    n = len(digits)
    exp = abs(k + n - 1)
    if k >= 0 and exp < n + 7:
        return sign + digits + "0" * k
    if k < 0 and (k > -7 or exp < 4):
        offset = n + k
        if offset <= 0:
            return sign + "0." + "0" * -offset + digits
        return sign + digits[:offset] + "." + digits[offset:]
    text = digits[0] + ("." + digits[1:] if n > 1 else "")
    return f"{sign}{text}e{'-' if k + n - 1 < 0 else '+'}{exp}"


Encoder = Callable[[list, Any], None]
# "$<n>\r\n" for the common lengths, formatted once.
BULK_HEADERS = [b"$%d\r\n" % n for n in range(1024)]
# Integer replies 0..1023 (counts, lengths, flags): a list index, not a format.
INT_REPLIES = [b":%d\r\n" % n for n in range(1024)]


def _bulk(out: list, value: bytes) -> None:
    out.append(b"$%d\r\n%b\r\n" % (len(value), value))


def _int(out: list, value: int) -> None:
    out.append(b":%d\r\n" % value)


def _simple(out: list, value: bytes) -> None:
    out.append(b"+%b\r\n" % value)


def _raw(out: list, value: bytes) -> None:
    out.append(value)


def _error(out: list, value: CommandError) -> None:
    text = value.message.replace("\r", " ").replace("\n", " ")
    out.append(b"-%b\r\n" % text.encode())


def _make_table(resp3: bool) -> tuple[dict[type, Encoder], Encoder]:
    """The type -> encoder table of one protocol version, and its entry point."""
    table: dict[type, Encoder] = {}

    def encode(out: list, value: Any) -> None:
        fn = table.get(type(value))
        if fn is None:
            fn = _lookup_subclass(table, value)
        fn(out, value)

    def array(out: list, value: Any) -> None:
        # One chunk per array, bulk strings formatted inline: LRANGE 0 99
        # spent most of its time in a call and an out entry per element (and
        # in the dispatcher's sum over the entries for its reply budget).
        parts = [b"*%d\r\n" % len(value)]
        append = parts.append
        for item in value:
            if item.__class__ is bytes:
                size = len(item)
                if size < 1024:  # three appends beat one % format
                    append(BULK_HEADERS[size])
                    append(item)
                    append(b"\r\n")
                else:
                    append(b"$%d\r\n%b\r\n" % (size, item))
                continue
            fn = table.get(type(item))
            if fn is None:
                fn = _lookup_subclass(table, item)
            fn(parts, item)
        out.append(b"".join(parts))

    if resp3:

        def null(out: list, value: Any) -> None:
            out.append(b"_\r\n")

        def double(out: list, value: float) -> None:
            out.append(b",%b\r\n" % format_double(value))

        def boolean(out: list, value: bool) -> None:
            out.append(b"#t\r\n" if value else b"#f\r\n")

        def mapping(out: list, value: dict) -> None:
            out.append(b"%%%d\r\n" % len(value))
            for k, v in value.items():
                encode(out, k)
                encode(out, v)

        def aset(out: list, value: Any) -> None:
            out.append(b"~%d\r\n" % len(value))
            for item in value:
                encode(out, item)

        def verbatim(out: list, value: bytes) -> None:
            out.append(b"=%d\r\ntxt:%b\r\n" % (len(value) + 4, value))

        def push(out: list, value: list) -> None:
            out.append(b">%d\r\n" % len(value))
            for item in value:
                encode(out, item)

        null_array = null
    else:

        def null(out: list, value: Any) -> None:
            out.append(b"$-1\r\n")

        def null_array(out: list, value: Any) -> None:
            out.append(b"*-1\r\n")

        def double(out: list, value: float) -> None:
            _bulk(out, format_double(value))

        def boolean(out: list, value: bool) -> None:
            out.append(b":1\r\n" if value else b":0\r\n")

        def mapping(out: list, value: dict) -> None:
            out.append(b"*%d\r\n" % (2 * len(value)))
            for k, v in value.items():
                encode(out, k)
                encode(out, v)

        aset = array
        verbatim = _bulk  # type: ignore[assignment]
        push = array

    table.update(
        {
            bytes: _bulk,
            bytearray: _bulk,
            int: _int,
            SimpleString: _simple,
            Raw: _raw,
            RawPush: _raw,
            type(None): null,
            _NullArray: null_array,
            float: double,
            bool: boolean,
            list: array,
            tuple: array,
            dict: mapping,
            set: aset,
            frozenset: aset,
            Verbatim: verbatim,
            Push: push,
            CommandError: _error,
        }
    )
    return table, encode


def _lookup_subclass(table: dict[type, Encoder], value: Any) -> Encoder:
    for klass in type(value).__mro__:
        fn = table.get(klass)
        if fn is not None and klass is not object:
            table[type(value)] = fn
            return fn
    raise TypeError(f"cannot encode reply of type {type(value).__name__}")


RESP2, encode2 = _make_table(resp3=False)
RESP3, encode3 = _make_table(resp3=True)


def encode(value: Any, protocol: int = 2) -> bytes:
    """Encode one reply to bytes (convenient outside the hot path)."""
    out: list = []
    (encode3 if protocol == 3 else encode2)(out, value)
    return b"".join(out)
