"""String commands (t_string.c): values are stored as plain `bytes`.

A string is whatever bytes the client sent; numbers are strings that parse
as numbers when a command needs them (INCR reads a 64-bit integer in Redis's
strict format, INCRBYFLOAT a C long double). Commands that rewrite a value in
place (APPEND, SETRANGE, INCR...) keep the key's TTL (`db.replace`); commands
that set a new value (SET, GETSET, MSET, SETEX) clear it (`db.set`).

INCRBYFLOAT computes in the x87 80-bit long double of the reference platform
(Linux x86-64) and prints with "%.17Lf" minus trailing zeros, as Redis does;
see the section at the end of this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol import errors
from ..protocol.errors import CommandError, WrongTypeError
from ..protocol.resp import OK
from ..pubsub.notifications import NOTIFY_GENERIC, NOTIFY_STRING, notify
from ._args import INT64_MAX, INT64_MIN, LD_INF, LD_ZERO, format_ld, ld_add, parse_int, strtold
from .registry import command

if TYPE_CHECKING:
    from ..server.session import Session
    from ..storage.keyspace import Keyspace



def get_string(db: Keyspace, key: bytes) -> bytes | None:
    """The string at key for a read command, None if missing, WRONGTYPE otherwise."""
    value = db.lookup_read(key)
    if value is None or value.__class__ is bytes:
        return value
    raise WrongTypeError


@command("get", 2, "readonly fast", (1, 1, 1), group="string",
         summary="Returns the string value of a key.")
def get(session: Session, argv: list[bytes]) -> Any:
    # Keyspace.lookup_read, inlined for the common case (a key without a
    # TTL): a method call costs as much as the rest of GET.
    db = session.db
    key = argv[1]
    value = db.data.get(key)
    if value is None:
        db.stats.misses += 1
        if db.on_keymiss is not None:  # keyspace notifications ("keymiss")
            db.on_keymiss(db, key)
        return None
    if db.expires and key in db.expires:
        value = db.lookup_read(key)
    else:
        db.stats.hits += 1
        # The access (storage/access.py): one store into the metadata table.
        if db.lfu:
            db.touch_lfu(key)
        else:
            db.cells[hash(key) & db.cells_mask] = db.lru_now
    if value is None or value.__class__ is bytes:
        return value
    raise WrongTypeError


def parse_expire_option(argv: list[bytes], i: int, now_ms: float, command_name: str) -> float:
    """EX/PX/EXAT/PXAT argument at argv[i+1] -> absolute expiry in ms."""
    unit = argv[i].upper()
    amount = parse_int(argv[i + 1])
    invalid = errors.INVALID_EXPIRE.format(command_name)
    if amount <= 0:
        raise CommandError(invalid)
    if unit in (b"EX", b"EXAT"):
        if amount > INT64_MAX // 1000:
            raise CommandError(invalid)
        amount *= 1000
    if unit in (b"EX", b"PX"):
        if amount > INT64_MAX - now_ms:
            raise CommandError(invalid)
        return float(now_ms + amount)
    return float(amount)


@command("set", -3, "write denyoom", (1, 1, 1), group="string",
         summary="Sets the string value of a key, ignoring its type.",
         complexity="O(1)")
def set_(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    key = argv[1]
    if len(argv) == 3:
        # Keyspace.set, inlined for the common case: an existing string
        # without a TTL (a new key takes the method, which indexes its slot).
        data = db.data
        old = data.get(key)
        if old.__class__ is bytes and not (db.expires and key in db.expires):
            value = argv[2]
            data[key] = value
            db.mem += len(value) - len(old)  # (memory: a string costs its length + constant)
            db.dirty += 1  # (Keyspace.modified, inlined too)
            if db.watchers:
                db.touch(key)
            if db.lfu:  # the access, as Keyspace.set
                db.touch_lfu(key)
            else:
                db.cells[hash(key) & db.cells_mask] = db.lru_now
        else:
            db.set(key, argv[2])
        if db.notify_flags:  # keyspace notifications: one slot test when off
            notify(session.server, db.index, NOTIFY_STRING, b"set", key)
        return OK
    nx = xx = get_old = keep_ttl = False
    expire_at: float | None = None
    i = 3
    n = len(argv)
    while i < n:
        option = argv[i].upper()
        if option == b"NX" and not xx:
            nx = True
        elif option == b"XX" and not nx:
            xx = True
        elif option == b"GET":
            get_old = True
        elif option == b"KEEPTTL" and expire_at is None:
            keep_ttl = True
        elif option in (b"EX", b"PX", b"EXAT", b"PXAT") and expire_at is None and not keep_ttl and i + 1 < n:
            expire_at = parse_expire_option(argv, i, db.clock.ms(), "set")
            i += 1
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    old = db.lookup(key)
    if get_old and old is not None and old.__class__ is not bytes:
        raise WrongTypeError
    if (nx and old is not None) or (xx and old is None):
        return old if get_old else None
    db.set(key, argv[2], keep_ttl=keep_ttl)
    if expire_at is not None:
        db.set_expire(key, expire_at)
        # A relative time means another instant on replay: propagate the absolute one.
        session.propagate = [[b"SET", key, argv[2], b"PXAT", b"%d" % expire_at]]
    if db.notify_flags:
        _notify_set(session, db, key, expire_at is not None)
    return old if get_old else OK


def _notify_set(session: Session, db: Keyspace, key: bytes, with_expire: bool) -> None:
    """setGenericCommand's events: "set", then "expire" if a TTL was given."""
    notify(session.server, db.index, NOTIFY_STRING, b"set", key)
    if with_expire:
        notify(session.server, db.index, NOTIFY_GENERIC, b"expire", key)


# -- helpers -----------------------------------------------------------------


def _string_for_write(db: Keyspace, key: bytes) -> bytes | None:
    """The string at key for a write command (no hit/miss counting)."""
    value = db.lookup(key)
    if value is None or value.__class__ is bytes:
        return value
    raise WrongTypeError


def _check_length(session: Session, total: int) -> None:
    """checkStringLength: a string may not grow past proto-max-bulk-len."""
    if total > session.server.config["proto-max-bulk-len"]:
        raise CommandError(errors.STRING_TOO_LONG)


def _relative_expire(arg: bytes, unit_ms: int, now_ms: float, command_name: str) -> float:
    """SETEX/PSETEX's time argument -> absolute expiry in ms, with Redis's checks."""
    amount = parse_int(arg)
    invalid = errors.INVALID_EXPIRE.format(command_name)
    if amount <= 0 or amount > INT64_MAX // unit_ms:
        raise CommandError(invalid)
    amount *= unit_ms
    if amount > INT64_MAX - now_ms:
        raise CommandError(invalid)
    return float(now_ms + amount)


# -- SET variants ---------------------------------------------------------------


@command("setnx", 3, "write denyoom fast", (1, 1, 1), group="string", since="1.0.0",
         summary="Set the string value of a key only when the key doesn't exist.",
         complexity="O(1)")
def setnx(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    if db.lookup(argv[1]) is not None:  # a key of any type blocks it
        return 0
    db.set(argv[1], argv[2])
    if db.notify_flags:
        _notify_set(session, db, argv[1], False)
    return 1


def _setex(session: Session, argv: list[bytes], unit_ms: int, name: str) -> Any:
    db = session.db
    when = _relative_expire(argv[2], unit_ms, int(db.clock.ms()), name)
    db.set(argv[1], argv[3])
    db.set_expire(argv[1], when)
    session.propagate = [[b"SET", argv[1], argv[3], b"PXAT", b"%d" % when]]  # the absolute time
    if db.notify_flags:
        _notify_set(session, db, argv[1], True)
    return OK


@command("setex", 4, "write denyoom", (1, 1, 1), group="string", since="2.0.0",
         summary="Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
         complexity="O(1)")
def setex(session: Session, argv: list[bytes]) -> Any:
    return _setex(session, argv, 1000, "setex")


@command("psetex", 4, "write denyoom", (1, 1, 1), group="string", since="2.6.0",
         summary="Sets both string value and expiration time in milliseconds of a key. "
                 "The key is created if it doesn't exist.",
         complexity="O(1)")
def psetex(session: Session, argv: list[bytes]) -> Any:
    return _setex(session, argv, 1, "psetex")


@command("getset", 3, "write denyoom fast", (1, 1, 1), group="string", since="1.0.0",
         summary="Returns the previous string value of a key after setting it to a new value.",
         complexity="O(1)")
def getset(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    old = get_string(db, argv[1])
    db.set(argv[1], argv[2])  # clears the TTL, as SET does
    if db.notify_flags:
        _notify_set(session, db, argv[1], False)
    return old


# -- several keys ---------------------------------------------------------------


@command("mget", -2, "readonly fast", (1, -1, 1), group="string", since="1.0.0",
         summary="Atomically returns the string values of one or more keys.",
         complexity="O(N) where N is the number of keys to retrieve.")
def mget(session: Session, argv: list[bytes]) -> Any:
    lookup_read = session.db.lookup_read
    out = []
    for key in argv[1:]:
        value = lookup_read(key)
        # A key of another type reads as missing here: MGET never says WRONGTYPE.
        out.append(value if value is None or value.__class__ is bytes else None)
    return out


@command("mset", -3, "write denyoom", (1, -1, 2), group="string", since="1.0.1",
         summary="Atomically creates or modifies the string values of one or more keys.",
         complexity="O(N) where N is the number of keys to set.")
def mset(session: Session, argv: list[bytes]) -> Any:
    if len(argv) % 2 == 0:
        raise CommandError(errors.wrong_arity("mset"))
    db = session.db
    for i in range(1, len(argv), 2):
        db.set(argv[i], argv[i + 1])
        if db.notify_flags:
            _notify_set(session, db, argv[i], False)
    return OK


@command("msetnx", -3, "write denyoom", (1, -1, 2), group="string", since="1.0.1",
         summary="Atomically modifies the string values of one or more keys only when all keys don't exist.",
         complexity="O(N) where N is the number of keys to set.")
def msetnx(session: Session, argv: list[bytes]) -> Any:
    if len(argv) % 2 == 0:
        raise CommandError(errors.wrong_arity("msetnx"))
    db = session.db
    for i in range(1, len(argv), 2):
        if db.lookup(argv[i]) is not None:  # a key of any type counts
            return 0
    for i in range(1, len(argv), 2):
        db.set(argv[i], argv[i + 1])
        if db.notify_flags:
            _notify_set(session, db, argv[i], False)
    return 1


# -- GET variants ---------------------------------------------------------------


@command("getdel", 2, "write fast", (1, 1, 1), group="string", since="6.2.0",
         summary="Returns the string value of a key after deleting the key.",
         complexity="O(1)")
def getdel(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    value = get_string(db, argv[1])
    if value is not None:
        db.delete(argv[1])
        if db.notify_flags:
            notify(session.server, db.index, NOTIFY_GENERIC, b"del", argv[1])
    return value


@command("getex", -2, "write fast", (1, 1, 1), group="string", since="6.2.0",
         summary="Returns the string value of a key after setting its expiration time.",
         complexity="O(1)")
def getex(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    # Redis's order: the options' syntax, then the key (nil if missing,
    # WRONGTYPE), and only then the time value.
    unit_at = 0  # index of EX/PX/EXAT/PXAT in argv
    persist = False
    i, n = 2, len(argv)
    while i < n:
        option = argv[i].upper()
        if option in (b"EX", b"PX", b"EXAT", b"PXAT") and not unit_at and not persist and i + 1 < n:
            unit_at = i
            i += 2
        elif option == b"PERSIST" and not unit_at:
            persist = True
            i += 1
        else:
            raise CommandError(errors.SYNTAX)
    key = argv[1]
    value = get_string(db, key)
    if value is None:
        return None
    if unit_at:
        now = db.clock.ms()
        expire_at = parse_expire_option(argv, unit_at, int(now), "getex")
        if argv[unit_at].upper() in (b"EXAT", b"PXAT") and expire_at <= now:
            db.delete(key)  # a time already past: the key goes now (checkAlreadyExpired)
            event = b"del"
            session.propagate = [[b"DEL", key]]
        else:
            db.set_expire(key, expire_at)
            event = b"expire"
            session.propagate = [[b"PEXPIREAT", key, b"%d" % expire_at]]
        if db.notify_flags:
            notify(session.server, db.index, NOTIFY_GENERIC, event, key)
    elif persist:
        if db.persist(key):
            session.propagate = [[b"PERSIST", key]]
            if db.notify_flags:
                notify(session.server, db.index, NOTIFY_GENERIC, b"persist", key)
    return value


# -- in-place changes (the TTL stays) --------------------------------------------


@command("append", 3, "write denyoom fast", (1, 1, 1), group="string", since="2.0.0",
         summary="Appends a string to the value of a key. Creates the key if it doesn't exist.",
         complexity="O(1). The amortized time complexity is O(1) assuming the appended value is "
                    "small and the already present value is of any size.")
def append(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    key, tail = argv[1], argv[2]
    old = _string_for_write(db, key)
    if old is None:
        db.set(key, tail)
        total = len(tail)
    else:
        total = len(old) + len(tail)
        _check_length(session, total)
        # bytes are immutable, so this copies: O(len) per APPEND where Redis is
        # amortized O(1). Values stay `bytes` so GET's type test stays one check.
        db.replace(key, old + tail)
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_STRING, b"append", key)
    return total


@command("setrange", 4, "write denyoom", (1, 1, 1), group="string", since="2.2.0",
         summary="Overwrites a part of a string value with another by an offset. "
                 "Creates the key if it doesn't exist.",
         complexity="O(1), not counting the time taken to copy the new string in place.")
def setrange(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    key, piece = argv[1], argv[3]
    offset = parse_int(argv[2])
    if offset < 0:
        raise CommandError(errors.OFFSET_OUT_OF_RANGE)
    old = _string_for_write(db, key)
    if old is None:
        if not piece:  # nothing to write creates nothing
            return 0
        _check_length(session, offset + len(piece))
        db.set(key, bytes(offset) + piece)
        if db.notify_flags:
            notify(session.server, db.index, NOTIFY_STRING, b"setrange", key)
        return offset + len(piece)
    if not piece:
        return len(old)
    _check_length(session, offset + len(piece))
    if offset >= len(old):
        new = old + bytes(offset - len(old)) + piece
    else:
        new = old[:offset] + piece + old[offset + len(piece):]
    db.replace(key, new)
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_STRING, b"setrange", key)
    return len(new)


# -- reads -----------------------------------------------------------------------


@command("strlen", 2, "readonly fast", (1, 1, 1), group="string", since="2.2.0",
         summary="Returns the length of a string value.", complexity="O(1)")
def strlen(session: Session, argv: list[bytes]) -> Any:
    value = get_string(session.db, argv[1])
    return 0 if value is None else len(value)


@command("getrange", 4, "readonly", (1, 1, 1), group="string", since="2.4.0",
         summary="Returns a substring of the string stored at a key.",
         complexity="O(N) where N is the length of the returned string.")
def getrange(session: Session, argv: list[bytes]) -> Any:
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    value = get_string(session.db, argv[1])
    if value is None:
        return b""
    # Redis 7.4's index rules (8.0 changed the negative-end case).
    size = len(value)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start = max(size + start, 0)
    if end < 0:
        end = max(size + end, 0)
    if end >= size:
        end = size - 1
    if start > end or size == 0:
        return b""
    return value[start:end + 1]


# -- counters --------------------------------------------------------------------


def _incr(session: Session, key: bytes, delta: int) -> int:
    db = session.db
    old = _string_for_write(db, key)
    current = 0 if old is None else parse_int(old)
    result = current + delta
    if not INT64_MIN <= result <= INT64_MAX:
        raise CommandError(errors.OVERFLOW)
    text = b"%d" % result
    if old is None:
        db.set(key, text)
    else:
        db.replace(key, text)
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_STRING, b"incrby", key)
    return result


@command("incr", 2, "write denyoom fast", (1, 1, 1), group="string", since="1.0.0",
         summary="Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
         complexity="O(1)")
def incr(session: Session, argv: list[bytes]) -> Any:
    return _incr(session, argv[1], 1)


@command("decr", 2, "write denyoom fast", (1, 1, 1), group="string", since="1.0.0",
         summary="Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
         complexity="O(1)")
def decr(session: Session, argv: list[bytes]) -> Any:
    return _incr(session, argv[1], -1)


@command("incrby", 3, "write denyoom fast", (1, 1, 1), group="string", since="1.0.0",
         summary="Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
         complexity="O(1)")
def incrby(session: Session, argv: list[bytes]) -> Any:
    return _incr(session, argv[1], parse_int(argv[2]))


@command("decrby", 3, "write denyoom fast", (1, 1, 1), group="string", since="1.0.0",
         summary="Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
         complexity="O(1)")
def decrby(session: Session, argv: list[bytes]) -> Any:
    delta = parse_int(argv[2])
    if delta == INT64_MIN:  # -delta does not fit in 64 bits
        raise CommandError(errors.DECREMENT_OVERFLOW)
    return _incr(session, argv[1], -delta)


@command("incrbyfloat", 3, "write denyoom fast", (1, 1, 1), group="string", since="2.6.0",
         summary="Increment the floating point value of a key by a number. "
                 "Uses 0 as initial value if the key doesn't exist.",
         complexity="O(1)")
def incrbyfloat(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    key = argv[1]
    old = _string_for_write(db, key)
    current = LD_ZERO if old is None else strtold(old)
    delta = strtold(argv[2])
    if current is LD_INF or delta is LD_INF:
        raise CommandError(errors.INCR_NAN_INF)
    result = ld_add(current, delta)
    if result is None:
        raise CommandError(errors.INCR_NAN_INF)
    text = format_ld(result)
    if old is None:
        db.set(key, text)
    else:
        db.replace(key, text)
    # The sum as the node computed it (float formatting must not differ on replay).
    session.propagate = [[b"SET", key, text, b"KEEPTTL"]]
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_STRING, b"incrbyfloat", key)
    return text


# -- SUBSTR and LCS -------------------------------------------------------------


@command("substr", 4, "readonly", (1, 1, 1), group="string", since="1.0.0",
         summary="Returns a substring from string value.",
         complexity="O(N) where N is the length of the returned string.")
def substr(session: Session, argv: list[bytes]) -> Any:
    """The name GETRANGE had before 2.0; Redis keeps it as an alias."""
    return getrange(session, argv)


LCS_NOT_STRINGS = "ERR The specified keys must contain string values"
LCS_LEN_AND_IDX = "ERR If you want both the length and indexes, please just use IDX."


@command("lcs", -3, "readonly", (1, 2, 1), group="string", since="7.0.0",
         summary="Finds the longest common substring.",
         complexity="O(N*M) where N and M are the lengths of s1 and s2, respectively")
def lcs(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    a = db.lookup_read(argv[1])
    b = db.lookup_read(argv[2])
    if (a is not None and a.__class__ is not bytes) or (b is not None and b.__class__ is not bytes):
        raise CommandError(LCS_NOT_STRINGS)
    get_len = get_idx = with_match_len = False
    min_match_len = 0
    i = 3
    while i < len(argv):
        option = argv[i].lower()
        if option == b"idx":
            get_idx = True
        elif option == b"len":
            get_len = True
        elif option == b"withmatchlen":
            with_match_len = True
        elif option == b"minmatchlen" and i + 1 < len(argv):
            min_match_len = max(parse_int(argv[i + 1]), 0)
            i += 1
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    if get_idx and get_len:
        raise CommandError(LCS_LEN_AND_IDX)
    return _lcs_reply(a or b"", b or b"", get_len, get_idx, with_match_len, min_match_len)


def _lcs_reply(a: bytes, b: bytes, get_len: bool, get_idx: bool, with_match_len: bool,
               min_match_len: int) -> Any:
    """Redis's lcsCommand: the dynamic-programming table, then one walk back
    from its corner that yields the string and the matching ranges (from the
    end of the strings to their start, as Redis lists them)."""
    alen, blen = len(a), len(b)
    # table[i][j]: the LCS length of a[:i] and b[:j].
    table = [[0] * (blen + 1) for _ in range(alen + 1)]
    for i in range(1, alen + 1):
        row, above, char = table[i], table[i - 1], a[i - 1]
        for j in range(1, blen + 1):
            if char == b[j - 1]:
                row[j] = above[j - 1] + 1
            else:
                row[j] = above[j] if above[j] > row[j - 1] else row[j - 1]
    length = table[alen][blen]
    if get_len and not get_idx:
        return length
    result = bytearray(length)
    matches: list[list[Any]] = []
    idx = length
    arange_start, arange_end, brange_start, brange_end = alen, 0, 0, 0
    i, j = alen, blen
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            result[idx - 1] = a[i - 1]
            if arange_start == alen:
                arange_start = arange_end = i - 1
                brange_start = brange_end = j - 1
            elif arange_start == i and brange_start == j:  # the range grows backwards
                arange_start -= 1
                brange_start -= 1
            else:
                emit = True
            if arange_start == 0 or brange_start == 0:
                emit = True
            idx -= 1
            i -= 1
            j -= 1
        else:
            if table[i - 1][j] > table[i][j - 1]:
                i -= 1
            else:
                j -= 1
            if arange_start != alen:
                emit = True
        if emit:
            match_len = arange_end - arange_start + 1
            if min_match_len == 0 or match_len >= min_match_len:
                match: list[Any] = [[arange_start, arange_end], [brange_start, brange_end]]
                if with_match_len:
                    match.append(match_len)
                matches.append(match)
            arange_start = alen
    if get_idx:
        return {b"matches": matches, b"len": length}
    return bytes(result)
