"""Bitmap commands (bitops.c): SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD
BITFIELD_RO, over ordinary string values.

Theory of operation
-------------------
A bitmap is a string (`bytes`); bit 0 is the most significant bit of the
first byte, as in Redis, and a string reads as followed by an endless run of
zero bits. A write that reaches past the end pads the string with zero
bytes first (Redis's lookupStringForBitCommand), so the value stays a plain
string for GET, APPEND, DUMP and the snapshot.

Strings are immutable `bytes` here, so a write copies the value (O(n) per
SETBIT where Redis is O(1)); values stay `bytes` so that GET's type test
stays one check (see commands/strings.py).

Counting and searching go through Python ints: `int.from_bytes(...,
"big")` turns a byte range into a number whose bits are the bitmap's in
order, so popcount is `int.bit_count()` and a bit range is a shift and a
mask. BITFIELD reads and writes its fields the same way; its overflow rules
(WRAP, SAT, FAIL) are Redis's checkSignedBitfieldOverflow and
checkUnsignedBitfieldOverflow, written on unbounded ints.

Argument order and error texts follow Redis 7.4 (BITCOUNT and BITPOS check
their arguments before looking up the key, so a missing key with bad
arguments is an error, as 7.2+).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol import errors
from ..protocol.errors import CommandError, WrongTypeError
from ..pubsub.notifications import NOTIFY_GENERIC, NOTIFY_STRING, notify
from ._args import parse_int
from .keyspecs import spec
from .registry import command

if TYPE_CHECKING:
    from ..server.session import Session
    from ..storage.keyspace import Keyspace

BIT_OFFSET = "ERR bit offset is not an integer or out of range"
BIT_VALUE = "ERR bit is not an integer or out of range"
BITPOS_BIT = "ERR The bit argument must be 1 or 0."
BITOP_NOT = "ERR BITOP NOT must be called with a single source key."
BITFIELD_TYPE = ("ERR Invalid bitfield type. Use something like i16 u8. "
                 "Note that u64 is not supported but i64 is.")
BITFIELD_OVERFLOW = "ERR Invalid OVERFLOW type specified"
BITFIELD_RO_WRITE = "ERR BITFIELD_RO only supports the GET subcommand"

_INT64_MAX = 2**63 - 1


# -- shared helpers ----------------------------------------------------------------


def _read_string(db: Keyspace, key: bytes) -> bytes | None:
    value = db.lookup_read(key)
    if value is None or value.__class__ is bytes:
        return value
    raise WrongTypeError


def bit_offset(session: Session, arg: bytes, hash_ok: bool = False, bits: int = 1) -> int:
    """getBitOffsetFromArgument: a bit offset, or `#n` (n fields of `bits`
    bits) where hash_ok; at most proto-max-bulk-len bytes in."""
    use_hash = hash_ok and len(arg) > 1 and arg[:1] == b"#"
    offset = parse_int(arg[1:] if use_hash else arg, BIT_OFFSET)
    if use_hash:
        offset *= bits
    if offset < 0 or (offset >> 3) >= session.server.config["proto-max-bulk-len"] \
            or offset > _INT64_MAX:
        raise CommandError(BIT_OFFSET)
    return offset


def _grown_string(db: Keyspace, key: bytes, max_bit: int) -> tuple[bytes, bool]:
    """lookupStringForBitCommand: the string at key, padded with zero bytes
    so that it holds bit max_bit (nothing stored yet); True if the key is new."""
    value = db.lookup(key)
    if value is not None and value.__class__ is not bytes:
        raise WrongTypeError
    need = (max_bit >> 3) + 1
    if value is None:
        return bytes(need), True
    if len(value) < need:
        value = value + bytes(need - len(value))
    return value, False


def _store(db: Keyspace, key: bytes, value: bytes, new: bool) -> None:
    if new:
        db.set(key, value)
    else:
        db.replace(key, value)  # in place: the TTL stays


def _range_bits(value: bytes, start_bit: int, end_bit: int) -> tuple[int, int]:
    """The bits start_bit..end_bit of value (inclusive, within it) as an
    int in order, and how many there are."""
    first, last = start_bit >> 3, end_bit >> 3
    chunk = int.from_bytes(value[first:last + 1], "big")
    width = (last - first + 1) * 8
    count = end_bit - start_bit + 1
    chunk >>= width - 1 - (end_bit - first * 8)
    return chunk & ((1 << count) - 1), count


def _clamp_range(start: int, end: int, total: int) -> tuple[int, int]:
    """Redis's negative-index rules for BITCOUNT/BITPOS ranges."""
    if start < 0:
        start += total
    if end < 0:
        end += total
    start = max(start, 0)
    end = max(end, 0)
    if end >= total:
        end = total - 1
    return start, end


def _unit(arg: bytes) -> bool:
    """BYTE|BIT -> True for BIT."""
    unit = arg.lower()
    if unit == b"bit":
        return True
    if unit == b"byte":
        return False
    raise CommandError(errors.SYNTAX)


# -- SETBIT / GETBIT ---------------------------------------------------------------


@command("setbit", 4, "write denyoom", (1, 1, 1), group="bitmap", since="2.2.0",
         key_specs=(spec("RW access update", index=1),),
         summary="Sets or clears the bit at offset of the string value. "
                 "Creates the key if it doesn't exist.", complexity="O(1)")
def setbit(session: Session, argv: list[bytes]) -> Any:
    offset = bit_offset(session, argv[2])
    if argv[3] not in (b"0", b"1"):
        raise CommandError(BIT_VALUE)
    on = argv[3] == b"1"
    db = session.db
    value, new = _grown_string(db, argv[1], offset)
    byte_index, shift = offset >> 3, 7 - (offset & 7)
    byte = value[byte_index]
    old = (byte >> shift) & 1
    byte = byte | (1 << shift) if on else byte & ~(1 << shift)
    _store(db, argv[1], value[:byte_index] + bytes((byte,)) + value[byte_index + 1:], new)
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_STRING, b"setbit", argv[1])
    return old


@command("getbit", 3, "readonly fast", (1, 1, 1), group="bitmap", since="2.2.0",
         summary="Returns a bit value by offset.", complexity="O(1)")
def getbit(session: Session, argv: list[bytes]) -> Any:
    offset = bit_offset(session, argv[2])
    value = _read_string(session.db, argv[1])
    if value is None or (offset >> 3) >= len(value):
        return 0
    return (value[offset >> 3] >> (7 - (offset & 7))) & 1


# -- BITCOUNT / BITPOS ---------------------------------------------------------------


@command("bitcount", -2, "readonly", (1, 1, 1), group="bitmap", since="2.6.0",
         summary="Counts the number of set bits (population counting) in a string.",
         complexity="O(N)")
def bitcount(session: Session, argv: list[bytes]) -> Any:
    argc = len(argv)
    if argc not in (2, 4, 5):
        raise CommandError(errors.SYNTAX)
    start = end = 0
    is_bit = False
    if argc >= 4:
        start = parse_int(argv[2])
        end = parse_int(argv[3])
        if argc == 5:
            is_bit = _unit(argv[4])
    value = _read_string(session.db, argv[1])
    if value is None:
        return 0
    if argc == 2:
        return int.from_bytes(value, "big").bit_count()
    total = len(value) * 8 if is_bit else len(value)
    start, end = _clamp_range(start, end, total)
    if start > end:
        return 0
    if is_bit:
        bits, _ = _range_bits(value, start, end)
        return bits.bit_count()
    return int.from_bytes(value[start:end + 1], "big").bit_count()


@command("bitpos", -3, "readonly", (1, 1, 1), group="bitmap", since="2.8.7",
         summary="Finds the first set (1) or clear (0) bit in a string.", complexity="O(N)")
def bitpos(session: Session, argv: list[bytes]) -> Any:
    argc = len(argv)
    bit = parse_int(argv[2])
    if bit not in (0, 1):
        raise CommandError(BITPOS_BIT)
    if argc > 6:
        raise CommandError(errors.SYNTAX)
    start, end, end_given, is_bit = 0, -1, False, False
    if argc >= 4:
        start = parse_int(argv[3])
        if argc == 6:
            is_bit = _unit(argv[5])
        if argc >= 5:
            end = parse_int(argv[4])
            end_given = True
    value = _read_string(session.db, argv[1])
    if value is None:
        # A missing key is an endless run of zeros.
        return -1 if bit else 0
    total = len(value) * 8 if is_bit else len(value)
    start, end = _clamp_range(start, end, total)
    if start > end:
        return -1
    start_bit, end_bit = (start, end) if is_bit else (start * 8, end * 8 + 7)
    bits, count = _range_bits(value, start_bit, end_bit)
    if bit:
        if bits == 0:
            return -1
        return start_bit + count - bits.bit_length()
    flipped = bits ^ ((1 << count) - 1)
    if flipped == 0:
        # No clear bit in the range: with no end given, the string goes on
        # with zeros, and the first one is just past it.
        return -1 if end_given else end_bit + 1
    return start_bit + count - flipped.bit_length()


# -- BITOP -------------------------------------------------------------------------


@command("bitop", -4, "write denyoom", (2, -1, 1), group="bitmap", since="2.6.0",
         key_specs=(spec("OW update", index=2), spec("RO access", index=3, lastkey=-1)),
         summary="Performs bitwise operations on multiple strings, and stores the result.",
         complexity="O(N)")
def bitop(session: Session, argv: list[bytes]) -> Any:
    op = argv[1].lower()
    if op not in (b"and", b"or", b"xor", b"not"):
        raise CommandError(errors.SYNTAX)
    sources = argv[3:]
    if op == b"not" and len(sources) != 1:
        raise CommandError(BITOP_NOT)
    db = session.db
    values = []
    for key in sources:
        value = db.lookup_read(key)
        if value is not None and value.__class__ is not bytes:
            raise WrongTypeError
        values.append(value or b"")
    size = max(len(value) for value in values)
    dest = argv[2]
    if size == 0:
        if db.delete(dest) and db.notify_flags:
            notify(session.server, db.index, NOTIFY_GENERIC, b"del", dest)
        return 0
    # Shorter strings count as padded with zero bytes at the end.
    numbers = [int.from_bytes(value.ljust(size, b"\0"), "big") for value in values]
    result = numbers[0]
    if op == b"not":
        result = ~result & ((1 << (size * 8)) - 1)
    elif op == b"and":
        for number in numbers[1:]:
            result &= number
    elif op == b"or":
        for number in numbers[1:]:
            result |= number
    else:
        for number in numbers[1:]:
            result ^= number
    db.set(dest, result.to_bytes(size, "big"))
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_STRING, b"set", dest)
    return size


# -- BITFIELD -------------------------------------------------------------------------


def _field_type(arg: bytes) -> tuple[bool, int]:
    """getBitfieldTypeFromArgument: i1..i64 or u1..u63 -> (signed, bits)."""
    kind = arg[:1].lower()
    try:
        bits = parse_int(arg[1:]) if kind in (b"i", b"u") else 0
    except CommandError:
        bits = 0
    signed = kind == b"i"
    if not (1 <= bits <= (64 if signed else 63)):
        raise CommandError(BITFIELD_TYPE)
    return signed, bits


def _get_field(value: bytes | bytearray | None, offset: int, bits: int, signed: bool) -> int:
    if not value:
        return 0
    first, last = offset >> 3, (offset + bits - 1) >> 3
    chunk = value[first:last + 1]
    width = (last - first + 1) * 8
    number = int.from_bytes(chunk.ljust(last - first + 1, b"\0"), "big")
    number = (number >> (width - (offset - first * 8) - bits)) & ((1 << bits) - 1)
    if signed and number >> (bits - 1):
        number -= 1 << bits
    return number


def _set_field(value: bytearray, offset: int, bits: int, number: int) -> None:
    first, last = offset >> 3, (offset + bits - 1) >> 3
    width = (last - first + 1) * 8
    shift = width - (offset - first * 8) - bits
    mask = ((1 << bits) - 1) << shift
    chunk = int.from_bytes(value[first:last + 1], "big")
    chunk = (chunk & ~mask) | ((number << shift) & mask)
    value[first:last + 1] = chunk.to_bytes(last - first + 1, "big")


def _overflowed(total: int, signed: bool, bits: int, policy: bytes) -> int | None:
    """The value a field of this type stores for `total`, or None when it
    does not fit and the policy is FAIL (Redis's check*BitfieldOverflow)."""
    if signed:
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        low, high = 0, (1 << bits) - 1
    if low <= total <= high:
        return total
    if policy == b"fail":
        return None
    if policy == b"sat":
        return high if total > high else low
    wrapped = total & ((1 << bits) - 1)
    if signed and wrapped >> (bits - 1):
        wrapped -= 1 << bits
    return wrapped


def _bitfield(session: Session, argv: list[bytes], read_only_command: bool) -> Any:
    ops: list[tuple[bytes, bool, int, int, int, bytes]] = []
    policy = b"wrap"
    writes = False
    highest = 0
    i, argc = 2, len(argv)
    while i < argc:
        left = argc - i - 1
        op = argv[i].lower()
        if op == b"overflow" and left >= 1:
            policy = argv[i + 1].lower()
            if policy not in (b"wrap", b"sat", b"fail"):
                raise CommandError(BITFIELD_OVERFLOW)
            i += 2
            continue
        if not ((op == b"get" and left >= 2) or (op in (b"set", b"incrby") and left >= 3)):
            raise CommandError(errors.SYNTAX)
        signed, bits = _field_type(argv[i + 1])
        offset = bit_offset(session, argv[i + 2], True, bits)
        number = 0
        if op != b"get":
            writes = True
            number = parse_int(argv[i + 3])
            highest = max(highest, offset + bits - 1)
        ops.append((op, signed, bits, offset, number, policy))
        i += 3 if op == b"get" else 4
    db = session.db
    key = argv[1]
    if not writes:
        value = db.lookup_read(key)
        if value is not None and value.__class__ is not bytes:
            raise WrongTypeError
        return [_get_field(value, offset, bits, signed) for _, signed, bits, offset, _, _ in ops]
    if read_only_command:
        raise CommandError(BITFIELD_RO_WRITE)
    grown, new = _grown_string(db, key, highest)
    buf = bytearray(grown)
    replies: list[Any] = []
    changes = 0
    for op, signed, bits, offset, number, policy in ops:
        old = _get_field(buf, offset, bits, signed)
        if op == b"get":
            replies.append(old)
            continue
        if op == b"set":
            # Redis checks the value as given (an unsigned field sees it as
            # a 64-bit unsigned number: -1 is 2**64 - 1, an overflow).
            stored = _overflowed(number if signed else number & (2**64 - 1), signed, bits, policy)
            reply: int | None = old
        else:
            stored = _overflowed(old + number, signed, bits, policy)
            reply = stored
        changes += 1
        if stored is None:
            replies.append(None)
            continue
        replies.append(reply)
        _set_field(buf, offset, bits, stored)
    _store(db, key, bytes(buf), new)
    if changes and db.notify_flags:
        notify(session.server, db.index, NOTIFY_STRING, b"setbit", key)
    return replies


def _bitfield_key_flags(argv: list[bytes]) -> tuple[str, ...]:
    """bitfieldGetKeys: only GETs (and OVERFLOWs) read the key."""
    i, argc = 2, len(argv)
    while i < argc:
        left = argc - i - 1
        op = argv[i].lower()
        if op == b"get" and left >= 2:
            i += 3
        elif op == b"overflow" and left >= 1:
            i += 2
        else:  # a write, or a syntax error: assume a write, as Redis
            return ("RW", "access", "update")
    return ("RO", "access")


@command("bitfield", -2, "write denyoom", (1, 1, 1), group="bitmap", since="3.2.0",
         key_specs=(spec("RW access update variable_flags", index=1, flags_fn=_bitfield_key_flags,
                         notes="This command allows both access and modification of the key"),),
         summary="Performs arbitrary bitfield integer operations on strings.",
         complexity="O(1) for each subcommand specified")
def bitfield(session: Session, argv: list[bytes]) -> Any:
    return _bitfield(session, argv, False)


@command("bitfield_ro", -2, "readonly fast", (1, 1, 1), group="bitmap", since="6.0.0",
         summary="Performs arbitrary read-only bitfield integer operations on strings.",
         complexity="O(1) for each subcommand specified")
def bitfield_ro(session: Session, argv: list[bytes]) -> Any:
    return _bitfield(session, argv, True)
