"""A pure Python model of Redis's string, key, TTL and transaction semantics.

The property tests run random command sequences against ringcache and this
model and compare every reply, so the model is written from Redis's source
(t_string.c, db.c, expire.c, multi.c; version 7), not from ringcache's code:
a difference is a bug in one of them, and the model is the one that is meant
to be simple enough to read and trust.

State: `data` maps key -> (value, expire_at_ms or None) for one database, and
`now` is the clock in milliseconds. A key is logically gone once now > its
expiry time (keyIsExpired); the model deletes it when it is touched, as
Redis's lazy expiry does, which matters for WATCH. Replies are plain values
that ringcache.protocol.resp.encode() understands, errors are CommandError.

Scope: strings and generic key commands on one database, one client (with
MULTI/EXEC/WATCH), no active expiry (the in-process server has no cron).
"""

from __future__ import annotations

import fnmatch
from fractions import Fraction
from typing import Any, Callable

from ringcache.protocol.errors import CommandError
from ringcache.protocol.resp import NULL_ARRAY, OK, QUEUED, SimpleString

LLONG_MAX = 2**63 - 1
LLONG_MIN = -(2**63)
PROTO_MAX_BULK_LEN = 512 * 1024 * 1024

NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"
OVERFLOW = "ERR increment or decrement would overflow"
NO_SUCH_KEY = "ERR no such key"


def err(text: str) -> CommandError:
    return CommandError(text)


def string2ll(raw: bytes) -> int | None:
    """Redis's string2ll: optional '-', no '+', no spaces, no leading zeros."""
    if not raw or len(raw) > 20:
        return None
    if raw == b"0":
        return 0
    body = raw[1:] if raw[:1] == b"-" else raw
    if not body or not body.isdigit() or body[:1] == b"0":
        return None
    value = int(raw)
    return value if LLONG_MIN <= value <= LLONG_MAX else None


def parse_int(raw: bytes) -> int:
    value = string2ll(raw)
    if value is None:
        raise err(NOT_INTEGER)
    return value


class Model:
    # name -> (arity, handler name, modifying?); arity as in Redis.
    TABLE: dict[bytes, tuple[int, str]] = {
        b"get": (2, "get"), b"set": (-3, "set"), b"setnx": (3, "setnx"), b"setex": (4, "setex"),
        b"psetex": (4, "psetex"), b"getset": (3, "getset"), b"getdel": (2, "getdel"),
        b"getex": (-2, "getex"), b"mget": (-2, "mget"), b"mset": (-3, "mset"),
        b"msetnx": (-3, "msetnx"), b"append": (3, "append"), b"strlen": (2, "strlen"),
        b"incr": (2, "incr"), b"decr": (2, "decr"), b"incrby": (3, "incrby"),
        b"decrby": (3, "decrby"), b"incrbyfloat": (3, "incrbyfloat"),
        b"getrange": (4, "getrange"), b"setrange": (4, "setrange"),
        b"del": (-2, "del_"), b"unlink": (-2, "del_"), b"exists": (-2, "exists"),
        b"touch": (-2, "exists"), b"type": (2, "type_"), b"rename": (3, "rename"),
        b"renamenx": (3, "renamenx"), b"copy": (-3, "copy"), b"keys": (2, "keys"),
        b"expire": (-3, "expire"), b"pexpire": (-3, "pexpire"), b"expireat": (-3, "expireat"),
        b"pexpireat": (-3, "pexpireat"), b"ttl": (2, "ttl"), b"pttl": (2, "pttl"),
        b"expiretime": (2, "expiretime"), b"pexpiretime": (2, "pexpiretime"),
        b"persist": (2, "persist"), b"flushdb": (-1, "flushdb"), b"flushall": (-1, "flushall"),
        b"ping": (-1, "ping"), b"echo": (2, "echo"),
        b"multi": (1, "multi_"), b"exec": (1, "exec_"), b"discard": (1, "discard"),
        b"watch": (-2, "watch"), b"unwatch": (1, "unwatch"),
    }
    IMMEDIATE_IN_MULTI = {b"exec", b"discard", b"multi", b"watch", b"quit", b"reset"}
    def __init__(self, now_ms: int) -> None:
        self.now = now_ms
        self.data: dict[bytes, tuple[bytes, int | None]] = {}
        self.multi: list[list[bytes]] | None = None
        self.multi_error = False
        self.watched: set[bytes] = set()
        self.dirty_cas = False

    # -- time and keys ---------------------------------------------------------

    def advance(self, ms: int) -> None:
        self.now += ms

    def _expired(self, key: bytes) -> bool:
        entry = self.data.get(key)
        if entry is None or entry[1] is None:
            return False
        return self.now > entry[1]  # Redis keeps a key until now is past its time

    def lookup(self, key: bytes) -> bytes | None:
        """The live value; an expired key is deleted (and that counts as a
        change for WATCH, as Redis's lazy expiry signals it)."""
        if self._expired(key):
            del self.data[key]
            self.touch(key, modified=False)
        entry = self.data.get(key)
        return None if entry is None else entry[0]

    def ttl_of(self, key: bytes) -> int | None:
        entry = self.data.get(key)
        return None if entry is None else entry[1]

    def store(self, key: bytes, value: bytes, expire_at: int | None = None, keep_ttl: bool = False) -> None:
        if keep_ttl and key in self.data:
            expire_at = self.data[key][1]
        self.data[key] = (value, expire_at)
        self.touch(key)

    def delete(self, key: bytes) -> bool:
        if self.lookup(key) is None:
            return False
        del self.data[key]
        self.touch(key)
        return True

    def touch(self, key: bytes, modified: bool = True) -> None:
        """signalModifiedKey: fail the WATCH on key (a lazy expiry too)."""
        if key in self.watched:
            self.dirty_cas = True

    def live_keys(self) -> list[bytes]:
        return [k for k in list(self.data) if self.lookup(k) is not None]

    # -- dispatch --------------------------------------------------------------

    def execute(self, argv: list[bytes]) -> Any:
        name = argv[0].lower()
        entry = self.TABLE.get(name)
        if entry is None:
            args = "".join(f"'{a.decode()}' " for a in argv[1:])
            return self._reject(f"ERR unknown command '{argv[0].decode()}', with args beginning with: {args}")
        arity, handler = entry
        if (len(argv) != arity) if arity > 0 else (len(argv) < -arity):
            return self._reject(f"ERR wrong number of arguments for '{name.decode()}' command")
        if self.multi is not None and name not in self.IMMEDIATE_IN_MULTI:
            self.multi.append(argv)
            return QUEUED
        try:
            return getattr(self, handler)(argv)
        except CommandError as exc:
            return exc

    def _reject(self, text: str) -> CommandError:
        if self.multi is not None:
            self.multi_error = True
        return err(text)

    # -- transactions ------------------------------------------------------------

    def multi_(self, argv):
        if self.multi is not None:
            raise err("ERR MULTI calls can not be nested")
        self.multi = []
        return OK

    def _end_multi(self) -> None:
        self.multi = None
        self.multi_error = False
        self.watched = set()
        self.dirty_cas = False

    def exec_(self, argv):
        if self.multi is None:
            raise err("ERR EXEC without MULTI")
        if self.multi_error:
            self._end_multi()
            raise err("EXECABORT Transaction discarded because of previous errors.")
        for key in list(self.watched):  # a watched key that expired since WATCH changed
            self.lookup(key)
        if self.dirty_cas:
            self._end_multi()
            return NULL_ARRAY
        queued = self.multi
        self.multi = None
        replies = [self.execute(command) for command in queued]
        self._end_multi()
        return replies

    def discard(self, argv):
        if self.multi is None:
            raise err("ERR DISCARD without MULTI")
        self._end_multi()
        return OK

    def watch(self, argv):
        if self.multi is not None:
            raise err("ERR WATCH inside MULTI is not allowed")
        for key in argv[1:]:
            if key not in self.watched:
                self.lookup(key)  # a key already expired is simply absent
                self.watched.add(key)
        return OK

    def unwatch(self, argv):
        self.watched = set()
        self.dirty_cas = False
        return OK

    # -- connection --------------------------------------------------------------

    def ping(self, argv):
        if len(argv) > 2:
            raise err("ERR wrong number of arguments for 'ping' command")
        return argv[1] if len(argv) == 2 else SimpleString(b"PONG")

    def echo(self, argv):
        return argv[1]

    # -- strings -------------------------------------------------------------------

    def get(self, argv):
        return self.lookup(argv[1])

    def _expire_arg(self, unit: bytes, raw: bytes, command: str) -> int:
        """EX/PX/EXAT/PXAT value -> absolute ms (getExpireMillisecondsOrReply)."""
        value = parse_int(raw)
        invalid = err(f"ERR invalid expire time in '{command}' command")
        if value <= 0:
            raise invalid
        if unit in (b"EX", b"EXAT"):
            if value > LLONG_MAX // 1000:
                raise invalid
            value *= 1000
        if unit in (b"EX", b"PX"):
            if value > LLONG_MAX - self.now:
                raise invalid
            value += self.now
        return value

    def set(self, argv):
        key, value = argv[1], argv[2]
        nx = xx = get = keepttl = False
        unit: bytes | None = None
        raw_time = b""
        i = 3
        while i < len(argv):
            option = argv[i].upper()
            has_next = i + 1 < len(argv)
            if option == b"NX" and not xx:
                nx = True
            elif option == b"XX" and not nx:
                xx = True
            elif option == b"GET":
                get = True
            elif option == b"KEEPTTL" and unit is None:
                keepttl = True
            elif option in (b"EX", b"PX", b"EXAT", b"PXAT") and unit is None and not keepttl and has_next:
                unit = option
                raw_time = argv[i + 1]
                i += 1
            else:
                raise err(SYNTAX)
            i += 1
        expire_at = self._expire_arg(unit, raw_time, "set") if unit else None
        old = self.lookup(key)
        if (nx and old is not None) or (xx and old is None):
            return old if get else None
        self.store(key, value, expire_at, keep_ttl=keepttl)
        if expire_at is not None and expire_at < self.now:  # EXAT/PXAT in the past
            self.lookup(key)
        return old if get else OK

    def setnx(self, argv):
        if self.lookup(argv[1]) is not None:
            return 0
        self.store(argv[1], argv[2])
        return 1

    def _setex(self, argv, unit: bytes, command: str):
        value = parse_int(argv[2])
        if value <= 0:
            raise err(f"ERR invalid expire time in '{command}' command")
        expire_at = self._expire_arg(unit, argv[2], command)
        self.store(argv[1], argv[3], expire_at)
        return OK

    def setex(self, argv):
        return self._setex(argv, b"EX", "setex")

    def psetex(self, argv):
        return self._setex(argv, b"PX", "psetex")

    def getset(self, argv):
        old = self.lookup(argv[1])
        self.store(argv[1], argv[2])
        return old

    def getdel(self, argv):
        old = self.lookup(argv[1])
        if old is not None:
            self.delete(argv[1])
        return old

    def getex(self, argv):
        key = argv[1]
        unit: bytes | None = None
        raw = b""
        persist = False
        i = 2
        while i < len(argv):
            option = argv[i].upper()
            if option in (b"EX", b"PX", b"EXAT", b"PXAT") and unit is None and not persist and i + 1 < len(argv):
                unit, raw = option, argv[i + 1]
                i += 1
            elif option == b"PERSIST" and unit is None and not persist:
                persist = True
            else:
                raise err(SYNTAX)
            i += 1
        value = self.lookup(key)  # (Redis looks the key up before the time)
        if value is None:
            return None
        expire_at = self._expire_arg(unit, raw, "getex") if unit else None
        if expire_at is not None:
            if expire_at <= self.now:  # checkAlreadyExpired: the key goes
                self.delete(key)
            else:
                self.data[key] = (value, expire_at)
                self.touch(key)
        elif persist and self.ttl_of(key) is not None:
            self.data[key] = (value, None)
            self.touch(key)
        return value

    def mget(self, argv):
        return [self.lookup(k) for k in argv[1:]]

    def mset(self, argv):
        if len(argv) % 2 == 0:
            raise err("ERR wrong number of arguments for 'mset' command")
        for i in range(1, len(argv), 2):
            self.store(argv[i], argv[i + 1])
        return OK

    def msetnx(self, argv):
        if len(argv) % 2 == 0:
            raise err("ERR wrong number of arguments for 'msetnx' command")
        if any(self.lookup(argv[i]) is not None for i in range(1, len(argv), 2)):
            return 0
        for i in range(1, len(argv), 2):
            self.store(argv[i], argv[i + 1])
        return 1

    def append(self, argv):
        old = self.lookup(argv[1])
        new = (old or b"") + argv[2]
        if len(new) > PROTO_MAX_BULK_LEN:
            raise err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        self.store(argv[1], new, keep_ttl=True)
        return len(new)

    def strlen(self, argv):
        return len(self.lookup(argv[1]) or b"")

    def _incr(self, key: bytes, delta: int) -> int:
        old = self.lookup(key)
        current = 0 if old is None else string2ll(old)
        if current is None:
            raise err(NOT_INTEGER)
        result = current + delta
        if not LLONG_MIN <= result <= LLONG_MAX:
            raise err(OVERFLOW)
        self.store(key, b"%d" % result, keep_ttl=True)
        return result

    def incr(self, argv):
        return self._incr(argv[1], 1)

    def decr(self, argv):
        return self._incr(argv[1], -1)

    def incrby(self, argv):
        return self._incr(argv[1], parse_int(argv[2]))

    def decrby(self, argv):
        delta = parse_int(argv[2])
        if delta == LLONG_MIN:
            raise err("ERR decrement would overflow")
        return self._incr(argv[1], -delta)

    def incrbyfloat(self, argv):
        """Redis reads both numbers with strtold and adds them as x87 long
        doubles (64-bit significand), then prints with %.17Lf and drops
        trailing zeros; emulated exactly with fractions."""
        delta = _parse_decimal(argv[2])
        if delta is None:
            raise err(NOT_FLOAT)
        old = self.lookup(argv[1])
        current = _parse_decimal(old if old is not None else b"0")
        if current is None:
            raise err(NOT_FLOAT)
        result = _round_ld(current + delta)
        text = _format_fixed(result)
        self.store(argv[1], text, keep_ttl=True)
        return text

    def getrange(self, argv):
        start, end = parse_int(argv[2]), parse_int(argv[3])
        value = self.lookup(argv[1]) or b""
        n = len(value)
        if start < 0 and end < 0 and start > end:
            return b""
        if start < 0:
            start = n + start
        if end < 0:
            end = n + end
        start = max(start, 0)
        end = max(end, 0)
        if end >= n:
            end = n - 1
        if start > end or n == 0:
            return b""
        return value[start : end + 1]

    def setrange(self, argv):
        offset = parse_int(argv[2])
        if offset < 0:
            raise err("ERR offset is out of range")
        piece = argv[3]
        old = self.lookup(argv[1])
        if old is None:
            if not piece:
                return 0
            old = b""
        elif not piece:
            return len(old)
        if offset + len(piece) > PROTO_MAX_BULK_LEN:
            raise err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        padded = old.ljust(offset, b"\x00")
        new = padded[:offset] + piece + padded[offset + len(piece):]
        self.store(argv[1], new, keep_ttl=True)
        return len(new)

    # -- keys ------------------------------------------------------------------------

    def del_(self, argv):
        return sum(self.delete(key) for key in argv[1:])

    def exists(self, argv):
        return sum(self.lookup(key) is not None for key in argv[1:])

    def type_(self, argv):
        return SimpleString(b"none" if self.lookup(argv[1]) is None else b"string")

    def rename(self, argv):
        src, dst = argv[1], argv[2]
        value = self.lookup(src)
        if value is None:
            raise err(NO_SUCH_KEY)
        if src == dst:
            return OK
        expire_at = self.ttl_of(src)
        self.lookup(dst)
        del self.data[src]
        self.touch(src)
        self.data[dst] = (value, expire_at)
        self.touch(dst)
        return OK

    def renamenx(self, argv):
        src, dst = argv[1], argv[2]
        value = self.lookup(src)
        if value is None:
            raise err(NO_SUCH_KEY)
        if src == dst or self.lookup(dst) is not None:
            return 0
        self.rename(argv)
        return 1

    def copy(self, argv):
        src, dst = argv[1], argv[2]
        replace = False
        i = 3
        while i < len(argv):
            option = argv[i].upper()
            if option == b"REPLACE":
                replace = True
            elif option == b"DB" and i + 1 < len(argv):
                if parse_int(argv[i + 1]) != 0:
                    raise err("ERR model: only db 0")
                i += 1
            else:
                raise err(SYNTAX)
            i += 1
        if src == dst:
            raise err("ERR source and destination objects are the same")
        value = self.lookup(src)
        if value is None:
            return 0
        if self.lookup(dst) is not None and not replace:
            return 0
        self.data[dst] = (value, self.ttl_of(src))
        self.touch(dst)
        return 1

    def keys(self, argv):
        pattern = argv[1].decode("latin-1")
        return sorted(k for k in self.live_keys() if fnmatch.fnmatchcase(k.decode("latin-1"), pattern))

    def _expire(self, argv, unit_ms: int, absolute: bool):
        command = argv[0].lower().decode()
        key = argv[1]
        nx = xx = gt = lt = False
        for option in argv[3:]:
            o = option.upper()
            if o == b"NX":
                nx = True
            elif o == b"XX":
                xx = True
            elif o == b"GT":
                gt = True
            elif o == b"LT":
                lt = True
            else:
                raise err(f"ERR Unsupported option {option.decode()}")
        if nx and (xx or gt or lt):
            raise err("ERR NX and XX, GT or LT options at the same time are not compatible")
        if gt and lt:
            raise err("ERR GT and LT options at the same time are not compatible")
        when = parse_int(argv[2])
        invalid = err(f"ERR invalid expire time in '{command}' command")
        if unit_ms == 1000:
            if when > LLONG_MAX // 1000 or when < -(-LLONG_MIN // 1000):
                raise invalid
            when *= 1000
        base = 0 if absolute else self.now
        if when > LLONG_MAX - base:
            raise invalid
        when += base
        if self.lookup(key) is None:
            return 0
        current = self.ttl_of(key)
        if nx and current is not None:
            return 0
        if xx and current is None:
            return 0
        if gt and (current is None or when <= current):
            return 0
        if lt and current is not None and when >= current:
            return 0
        if when <= self.now:  # checkAlreadyExpired
            self.delete(key)
            return 1
        self.data[key] = (self.data[key][0], when)
        self.touch(key)
        return 1

    def expire(self, argv):
        return self._expire(argv, 1000, False)

    def pexpire(self, argv):
        return self._expire(argv, 1, False)

    def expireat(self, argv):
        return self._expire(argv, 1000, True)

    def pexpireat(self, argv):
        return self._expire(argv, 1, True)

    def _ttl(self, key: bytes, ms: bool, absolute: bool) -> int:
        if self.lookup(key) is None:
            return -2
        when = self.ttl_of(key)
        if when is None:
            return -1
        ttl = when if absolute else max(when - self.now, 0)
        return ttl if ms else (ttl + 500) // 1000

    def ttl(self, argv):
        return self._ttl(argv[1], False, False)

    def pttl(self, argv):
        return self._ttl(argv[1], True, False)

    def expiretime(self, argv):
        return self._ttl(argv[1], False, True)

    def pexpiretime(self, argv):
        return self._ttl(argv[1], True, True)

    def persist(self, argv):
        if self.lookup(argv[1]) is None or self.ttl_of(argv[1]) is None:
            return 0
        self.data[argv[1]] = (self.data[argv[1]][0], None)
        self.touch(argv[1])
        return 1

    def flushdb(self, argv):
        for key in list(self.watched):
            if self.lookup(key) is not None:
                self.touch(key)
        self.data.clear()
        return OK

    flushall = flushdb


def _parse_decimal(raw: bytes) -> Fraction | None:
    """A number as strtold reads the decimal forms the tests use, rounded to
    a long double (hex floats, inf and nan are not generated)."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    if (not text or text != text.strip() or "_" in text or "/" in text
            or any(c.isalpha() and c not in "eE" for c in text)):
        return None
    try:
        return _round_ld(Fraction(text))
    except (ValueError, ZeroDivisionError):
        return None


def _round_ld(x: Fraction) -> Fraction:
    """x rounded to the nearest long double (64-bit significand, ties to even)."""
    if x == 0:
        return x
    sign = -1 if x < 0 else 1
    x = abs(x)
    exponent = x.numerator.bit_length() - x.denominator.bit_length()
    if Fraction(2) ** exponent > x:
        exponent -= 1
    # now 2**exponent <= x < 2**(exponent+1): keep 64 significant bits
    scale = Fraction(2) ** (63 - exponent)
    return sign * Fraction(round(x * scale)) / scale


def _format_fixed(value: Fraction) -> bytes:
    """%.17Lf, then trailing zeros (and a trailing point) dropped."""
    scaled = round(value * 10**17)
    sign = "-" if scaled < 0 else ""
    digits = str(abs(scaled)).rjust(18, "0")
    text = f"{sign}{digits[:-17]}.{digits[-17:]}".rstrip("0").rstrip(".")
    return text.encode()


Handler = Callable[[list[bytes]], Any]
