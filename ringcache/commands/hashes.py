"""Hash commands (t_hash.c), with Redis 7.4's per-field expiry.

Values
------
A hash is a plain `dict[bytes, bytes]`; once a field gets a TTL it becomes a
`storage.hashes.FieldTTLHash` (a dict subclass with `field_expires`), whose
header explains the expiry design. Every command reaches a hash through
`_read` / `_write`, which check the type (WRONGTYPE) and reclaim the
fields whose time has passed, so no command ever sees an expired field:
HLEN counts live fields only, HSET counts a field that had expired as
created. (Redis 7.4 deletes an expired field when a command touches that
field and leaves the others to its active cycle, so its HLEN can count
fields that have expired; here the answer does not depend on the cycle.)
Reclaiming emits Redis's "hexpired" event, and "del" when the hash is left
empty, which deletes the key. A dict that grows past PROMOTE_AT fields is
turned into a FieldTTLHash (without TTLs) while it is still small, because
the conversion copies the dict: a big hash never pays that copy in its first
HEXPIRE. (A big hash loaded from a snapshot without field TTLs is a dict and
does pay it once.)

Replies
-------
HGETALL answers a map (RESP3) or a flat array (RESP2): the encoder does
that for a dict. HRANDFIELD ... WITHVALUES answers pairs nested as
[field, value] arrays in RESP3 and a flat array in RESP2, as Redis 7.4.
HINCRBYFLOAT computes in the x87 long double as INCRBYFLOAT does
(commands/strings.py) and is propagated as HSET with the result.

HSCAN returns small hashes (up to storage.scan.ScanSnapshots.SMALL
fields) in one call with cursor 0, as Redis does for listpacks; larger
ones are walked over a snapshot of their field names taken at cursor 0, so
a field present for the whole scan is returned (storage/scan.py).

Field TTLs (HEXPIRE HPEXPIRE HEXPIREAT HPEXPIREAT HTTL HPTTL HEXPIRETIME
HPEXPIRETIME HPERSIST) follow t_hash.c of Redis 7.4: per-field codes -2 (no
such field), 0 (NX/XX/GT/LT not met), 1 (set), 2 (deleted: the time is
not in the future); a field without TTL counts as infinite for GT/LT; the
error texts and the order of the checks are Redis's. A relative HEXPIRE is
propagated as HPEXPIREAT with the fields it set (an HDEL for the fields it
deleted).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol import errors
from ..protocol.errors import CommandError, WrongTypeError
from ..protocol.resp import OK
from ..pubsub.notifications import NOTIFY_GENERIC, NOTIFY_HASH, notify
from ..storage.hashes import POOLS, FieldTTLHash, expire_due, reschedule, track
from ..storage.scan import SCANS
from ._args import INT64_MAX, INT64_MIN, LD_INF, LD_ZERO, format_ld, ld_add, parse_cursor, parse_int, strtold
from .keys import parse_scan_options, register_type
from .registry import command

if TYPE_CHECKING:
    from ..server.server import Server
    from ..server.session import Session
    from ..storage.keyspace import Keyspace


HASH_NOT_INTEGER = "ERR hash value is not an integer"
HASH_NOT_FLOAT = "ERR hash value is not a float"
VALUE_NAN_INF = "ERR value is NaN or Infinity"
OUT_OF_RANGE = "ERR value is out of range"
NOVALUES_ONLY_HSCAN = "ERR NOVALUES option can only be used in HSCAN"
FIELDS_MISSING = "ERR Mandatory argument FIELDS is missing or not at the right position"
NUMFIELDS_POSITIVE = "ERR Number of fields must be a positive integer"
NUMFIELDS_GT0 = "ERR Parameter `numFields` should be greater than 0"
NUMFIELDS_MISMATCH = "ERR The `numfields` parameter must match the number of arguments"
EXPIRE_NEGATIVE = "ERR invalid expire time, must be >= 0"

# HFE_MAX_ABS_TIME_MSEC: EB_EXPIRE_TIME_MAX (2**48 - 1) >> 2, Redis's bound
# on a field's absolute expiry.
FIELD_EXPIRE_MAX_MS = (2**48 - 1) >> 2
LONG_MAX = INT64_MAX

# Active field expiry: fields reclaimed per database per cron tick at most
# (Redis bounds its hash-field step the same way, apart from the key cycle).
ACTIVE_FIELDS_PER_CYCLE = 1000


def _hash_encoding(value: Any) -> bytes:
    return b"hashtable"


register_type(dict, b"hash", _hash_encoding)
register_type(FieldTTLHash, b"hash", _hash_encoding, on_store=track)


# -- access: type check and lazy field expiry -----------------------------------


def _fields_expired(server: Server, db: Keyspace, key: bytes, value: FieldTTLHash,
                    fields: list[bytes]) -> bool:
    """Fields of the hash at key were reclaimed: an HDEL of them on the write
    stream (as Redis 7.4 propagates field expiry, so a replay never depends
    on the clock), notify, and delete the key when none is left. Returns
    True when the key is gone. (The one place a field expiry is reported.)

    Like a key's expiry, it is not a change made by the command that met
    it: the change counter is left as it was (WATCHes still fail), so a
    write command that then changes nothing, or fails, is not propagated
    in its request form (an HPEXPIRE with a relative time) after the HDEL;
    clients caching the key are told here."""
    if server.dispatcher.propagating:
        server.write_stream.emit(db.index, [[b"HDEL", key, *fields]])
    if server.dispatcher.tracking_active:
        server.tracking.invalidate_key(key, None)
    if db.notify_flags:
        notify(server, db.index, NOTIFY_HASH, b"hexpired", key)
    dirty = db.dirty
    if not value:
        db.delete(key)
        db.dirty = dirty
        if db.notify_flags:
            notify(server, db.index, NOTIFY_GENERIC, b"del", key)
        return True
    db.modified(key)
    db.dirty = dirty
    return False


def _loading(session: Session) -> bool:
    """Replaying the append-only file: field TTLs in the past are kept and
    fields are not reclaimed, as Redis does while loading, so the replay
    sees each field as the original commands did (they expire afterwards)."""
    return session.server.persistence.loading


def _purge(session: Session, db: Keyspace, key: bytes, value: FieldTTLHash) -> Any:
    if _loading(session):
        return value
    expired = value.purge(int(db.clock.ms()))
    if expired and _fields_expired(session.server, db, key, value, expired):
        return None
    return value


def _read(session: Session, key: bytes) -> Any:
    """The live hash at key for a read command, None if none; WRONGTYPE."""
    db = session.db
    value = db.lookup_read(key)
    if value is None:
        return None
    cls = value.__class__
    if cls is dict:
        return value
    if cls is FieldTTLHash:
        if value.due(int(db.clock.ms())):
            if db.expire_hold:
                return _held_view(value, int(db.clock.ms()))
            return _purge(session, db, key, value)
        return value
    raise WrongTypeError


def _held_view(value: FieldTTLHash, now: int) -> Any:
    """A replica's read of a hash with fields past their time: a copy
    without them (None when none is left), the hash itself untouched until
    the primary's HDEL arrives (Keyspace.expire_hold)."""
    expires = value.field_expires
    live = FieldTTLHash({field: item for field, item in value.items()
                         if not (field in expires and expires[field] < now)})
    live.field_expires = {field: when for field, when in expires.items() if field in live}
    return live or None


def _write(session: Session, key: bytes) -> Any:
    """The live hash at key for a write command, None if none; WRONGTYPE."""
    db = session.db
    value = db.lookup(key)
    if value is None:
        return None
    cls = value.__class__
    if cls is dict:
        return value
    if cls is FieldTTLHash:
        # (field_expires first: a big hash with no field TTL reads no clock)
        if value.field_expires and value.due(int(db.clock.ms())):
            return _purge(session, db, key, value)
        return value
    raise WrongTypeError


def active_expire_fields(server: Server, db: Keyspace, max_fields: int = ACTIVE_FIELDS_PER_CYCLE) -> int:
    """The cron's step for field TTLs (server.cron_step): reclaim due fields
    of hashes nobody reads, delete hashes left empty. Returns fields reclaimed."""
    done = expire_due(db, int(db.clock.ms()), max_fields)
    reclaimed = 0
    for key, value, expired in done:
        reclaimed += len(expired)
        _fields_expired(server, db, key, value, expired)
    return reclaimed


# A dict past this many fields becomes a FieldTTLHash (with no TTL yet) as it
# grows: converting copies the dict (~170 ms at 1M fields on the reference
# machine), so a large hash pays it early, while small, instead of in the
# first HEXPIRE. Small hashes stay plain dicts (no per-hash overhead).
PROMOTE_AT = 1024


def _changed(db: Keyspace, key: bytes, value: dict) -> None:
    """A hash changed in place: signal it (db.modified), promoting a plain
    dict that grew past PROMOTE_AT."""
    if value.__class__ is dict and len(value) > PROMOTE_AT:
        db.replace(key, FieldTTLHash(value))
    else:
        db.modified(key)


def _notify(session: Session, event: bytes, key: bytes) -> None:
    db = session.db
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_HASH, event, key)


# -- setting and getting -----------------------------------------------------------


def _hset(session: Session, argv: list[bytes]) -> int:
    if len(argv) % 2:
        raise CommandError(errors.wrong_arity(argv[0].decode(errors="replace").lower()))
    key = argv[1]
    value = _write(session, key)
    db = session.db
    if value is None:
        value = {}
        for i in range(2, len(argv), 2):
            value[argv[i]] = argv[i + 1]
        if len(value) > PROMOTE_AT:
            value = FieldTTLHash(value)
        db.set(key, value)
        created = len(value)
    else:
        size = len(value)
        for i in range(2, len(argv), 2):
            value[argv[i]] = argv[i + 1]
        created = len(value) - size
        if value.__class__ is FieldTTLHash and value.field_expires:
            expires = value.field_expires
            for i in range(2, len(argv), 2):
                expires.pop(argv[i], None)  # overwriting a field clears its TTL
        _changed(db, key, value)
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_HASH, b"hset", key)
    return created


@command("hset", -4, "write denyoom fast", (1, 1, 1), group="hash", since="2.0.0",
         summary="Creates or modifies the value of a field in a hash.",
         complexity="O(1) for each field/value pair added, so O(N) to add N field/value pairs "
                    "when the command is called with multiple field/value pairs.")
def hset(session: Session, argv: list[bytes]) -> Any:
    return _hset(session, argv)


@command("hmset", -4, "write denyoom fast", (1, 1, 1), group="hash", since="2.0.0",
         summary="Sets the values of multiple fields.",
         complexity="O(N) where N is the number of fields being set.")
def hmset(session: Session, argv: list[bytes]) -> Any:
    _hset(session, argv)
    return OK


@command("hsetnx", 4, "write denyoom fast", (1, 1, 1), group="hash", since="2.0.0",
         summary="Sets the value of a field in a hash only when the field doesn't exist.",
         complexity="O(1)")
def hsetnx(session: Session, argv: list[bytes]) -> Any:
    key, field = argv[1], argv[2]
    value = _write(session, key)
    db = session.db
    if value is None:
        db.set(key, {field: argv[3]})
    elif field in value:
        return 0
    else:
        value[field] = argv[3]
        _changed(db, key, value)
    _notify(session, b"hset", key)
    return 1


@command("hget", 3, "readonly fast", (1, 1, 1), group="hash", since="2.0.0",
         summary="Returns the value of a field in a hash.", complexity="O(1)")
def hget(session: Session, argv: list[bytes]) -> Any:
    value = _read(session, argv[1])
    if value is None:
        return None
    return value.get(argv[2])


@command("hmget", -3, "readonly fast", (1, 1, 1), group="hash", since="2.0.0",
         summary="Returns the values of all fields in a hash.",
         complexity="O(N) where N is the number of fields being requested.")
def hmget(session: Session, argv: list[bytes]) -> Any:
    value = _read(session, argv[1])
    if value is None:
        return [None] * (len(argv) - 2)
    get = value.get
    return [get(field) for field in argv[2:]]


@command("hgetall", 2, "readonly", (1, 1, 1), group="hash", since="2.0.0",
         summary="Returns all fields and values in a hash.",
         complexity="O(N) where N is the size of the hash.")
def hgetall(session: Session, argv: list[bytes]) -> Any:
    value = _read(session, argv[1])
    # A copy: inside MULTI the reply is encoded after later commands ran.
    return {} if value is None else dict(value)


@command("hkeys", 2, "readonly", (1, 1, 1), group="hash", since="2.0.0",
         summary="Returns all fields in a hash.",
         complexity="O(N) where N is the size of the hash.")
def hkeys(session: Session, argv: list[bytes]) -> Any:
    value = _read(session, argv[1])
    return [] if value is None else list(value)


@command("hvals", 2, "readonly", (1, 1, 1), group="hash", since="2.0.0",
         summary="Returns all values in a hash.",
         complexity="O(N) where N is the size of the hash.")
def hvals(session: Session, argv: list[bytes]) -> Any:
    value = _read(session, argv[1])
    return [] if value is None else list(value.values())


@command("hdel", -3, "write fast", (1, 1, 1), group="hash", since="2.0.0",
         summary="Deletes one or more fields and their values from a hash. Deletes the hash if "
                 "no fields remain.",
         complexity="O(N) where N is the number of fields to be removed.")
def hdel(session: Session, argv: list[bytes]) -> Any:
    key = argv[1]
    value = _write(session, key)
    if value is None:
        return 0
    deleted = 0
    ttl = value.field_expires if value.__class__ is FieldTTLHash else None
    for field in argv[2:]:
        if field in value:
            del value[field]
            if ttl:
                ttl.pop(field, None)
            deleted += 1
    if not deleted:
        return 0
    db = session.db
    if value:
        db.modified(key)
        _notify(session, b"hdel", key)
    else:
        db.delete(key)
        _notify(session, b"hdel", key)
        if db.notify_flags:
            notify(session.server, db.index, NOTIFY_GENERIC, b"del", key)
    return deleted


@command("hexists", 3, "readonly fast", (1, 1, 1), group="hash", since="2.0.0",
         summary="Determines whether a field exists in a hash.", complexity="O(1)")
def hexists(session: Session, argv: list[bytes]) -> Any:
    value = _read(session, argv[1])
    return 1 if value is not None and argv[2] in value else 0


@command("hlen", 2, "readonly fast", (1, 1, 1), group="hash", since="2.0.0",
         summary="Returns the number of fields in a hash.", complexity="O(1)")
def hlen(session: Session, argv: list[bytes]) -> Any:
    value = _read(session, argv[1])
    return 0 if value is None else len(value)


@command("hstrlen", 3, "readonly fast", (1, 1, 1), group="hash", since="3.2.0",
         summary="Returns the length of the value of a field.", complexity="O(1)")
def hstrlen(session: Session, argv: list[bytes]) -> Any:
    value = _read(session, argv[1])
    if value is None:
        return 0
    found = value.get(argv[2])
    return 0 if found is None else len(found)


# -- counters ----------------------------------------------------------------------


@command("hincrby", 4, "write denyoom fast", (1, 1, 1), group="hash", since="2.0.0",
         summary="Increments the integer value of a field in a hash by a number. Uses 0 as "
                 "initial value if the field doesn't exist.",
         complexity="O(1)")
def hincrby(session: Session, argv: list[bytes]) -> Any:
    increment = parse_int(argv[3])
    key, field = argv[1], argv[2]
    value = _write(session, key)
    old = 0
    if value is not None:
        text = value.get(field)
        if text is not None:
            old = parse_int(text, HASH_NOT_INTEGER)
    result = old + increment
    if not INT64_MIN <= result <= INT64_MAX:
        raise CommandError(errors.OVERFLOW)
    db = session.db
    text = b"%d" % result
    if value is None:
        db.set(key, {field: text})
    else:
        value[field] = text  # in place: a field's TTL stays (as Redis)
        _changed(db, key, value)
    _notify(session, b"hincrby", key)
    return result


@command("hincrbyfloat", 4, "write denyoom fast", (1, 1, 1), group="hash", since="2.6.0",
         summary="Increments the floating point value of a field by a number. Uses 0 as "
                 "initial value if the field doesn't exist.",
         complexity="O(1)")
def hincrbyfloat(session: Session, argv: list[bytes]) -> Any:
    delta = strtold(argv[3])
    if delta is LD_INF:
        raise CommandError(VALUE_NAN_INF)
    key, field = argv[1], argv[2]
    value = _write(session, key)
    current = LD_ZERO
    if value is not None:
        text = value.get(field)
        if text is not None:
            try:
                current = strtold(text)
            except CommandError:
                raise CommandError(HASH_NOT_FLOAT) from None
    result = None if current is LD_INF else ld_add(current, delta)
    if result is None:
        raise CommandError(errors.INCR_NAN_INF)
    text = format_ld(result)
    db = session.db
    if value is None:
        db.set(key, {field: text})
    else:
        value[field] = text  # the TTL stays, as with HINCRBY
        _changed(db, key, value)
    _notify(session, b"hincrbyfloat", key)
    # Replicas and the AOF get the result, not the arithmetic (as Redis).
    session.propagate = [[b"HSET", key, field, text]]
    if value is not None and value.__class__ is FieldTTLHash:
        when = value.field_expires.get(field)
        if when is not None:  # HSET clears a TTL: give it back
            session.propagate.append([b"HPEXPIREAT", key, b"%d" % when, b"FIELDS", b"1", field])
    return text


# -- HRANDFIELD ----------------------------------------------------------------------


@command("hrandfield", -2, "readonly", (1, 1, 1), group="hash", since="6.2.0",
         summary="Returns one or more random fields from a hash.",
         complexity="O(N) where N is the number of fields returned")
def hrandfield(session: Session, argv: list[bytes]) -> Any:
    if len(argv) == 2:
        value = _read(session, argv[1])
        if value is None:
            return None
        return POOLS.draw(value, 1)[0]
    count = parse_int(argv[2])
    if count < -LONG_MAX:
        raise CommandError(f"ERR value is out of range, value must between {-LONG_MAX} and {LONG_MAX}")
    with_values = False
    if len(argv) > 4 or (len(argv) == 4 and argv[3].lower() != b"withvalues"):
        raise CommandError(errors.SYNTAX)
    if len(argv) == 4:
        with_values = True
        if not -(LONG_MAX // 2) <= count <= LONG_MAX // 2:
            raise CommandError(OUT_OF_RANGE)
    value = _read(session, argv[1])
    if value is None or count == 0:
        return []
    if count < 0:
        fields = POOLS.draw(value, -count)
    elif count >= len(value):
        fields = list(value)
    else:
        fields = POOLS.distinct(value, count)
    if not with_values:
        return fields
    if session.protocol == 3:
        return [[field, value[field]] for field in fields]
    out = []
    for field in fields:
        out.append(field)
        out.append(value[field])
    return out


# -- HSCAN -----------------------------------------------------------------------------


@command("hscan", -3, "readonly", (1, 1, 1), group="hash", since="2.8.0",
         summary="Iterates over fields and values of a hash.",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough "
                    "command calls for the cursor to return back to 0. N is the number of "
                    "elements inside the collection.")
def hscan(session: Session, argv: list[bytes]) -> Any:
    cursor = parse_cursor(argv[2])
    key = argv[1]
    value = _read(session, key)
    if value is None:
        return [b"0", []]
    count, match, _, no_values = parse_scan_options(argv, 3, novalues=True)
    next_cursor, fields = SCANS.chunk(session.db, key, value, cursor, count)
    out = []
    get = value.get
    for field in fields:
        found = get(field)
        if found is None:  # deleted since the snapshot
            continue
        if match is not None and not match(field):
            continue
        out.append(field)
        if not no_values:
            out.append(found)
    return [b"%d" % next_cursor, out]


# -- field TTLs -----------------------------------------------------------------------

_NX, _XX, _GT, _LT = 1, 2, 4, 8
_CONDITIONS = {b"nx": _NX, b"xx": _XX, b"gt": _GT, b"lt": _LT}


def _numfields(argv: list[bytes], at: int, message: str) -> list:
    """The fields of `FIELDS numfields field...` whose FIELDS is argv[at-1]."""
    if argv[at - 1].lower() != b"fields":
        raise CommandError(FIELDS_MISSING)
    try:
        numfields = parse_int(argv[at])
    except CommandError:
        raise CommandError(message) from None
    if numfields < 1:
        raise CommandError(message)
    if numfields != len(argv) - at - 1:
        raise CommandError(NUMFIELDS_MISMATCH)
    return argv[at + 1:]


def _hexpire(session: Session, argv: list[bytes], unit_ms: int, relative: bool) -> Any:
    """hexpireGenericCommand."""
    key = argv[1]
    value = _write(session, key)  # WRONGTYPE comes first, as in Redis
    db = session.db
    now = int(db.clock.ms())
    when = parse_int(argv[2])
    if when < 0:
        raise CommandError(EXPIRE_NEGATIVE)
    invalid = errors.INVALID_EXPIRE.format(argv[0].decode(errors="replace").lower())
    if unit_ms == 1000:
        if when > FIELD_EXPIRE_MAX_MS // 1000:
            raise CommandError(invalid)
        when *= 1000
    base = now if relative else 0
    if when > FIELD_EXPIRE_MAX_MS - base:
        raise CommandError(invalid)
    when += base
    condition = _CONDITIONS.get(argv[3].lower(), 0)
    fields = _numfields(argv, 5 if condition else 4, NUMFIELDS_GT0)
    if value is None:
        return [-2] * len(fields)
    expires = value.field_expires if value.__class__ is FieldTTLHash else {}
    when_ms = float(when)  # one float object for all the fields
    loading = when <= now and _loading(session)
    codes = []
    updated: list[bytes] = []
    deleted: list[bytes] = []
    for field in fields:
        if field not in value:
            codes.append(-2)
            continue
        current = expires.get(field)
        if current is None:
            if condition & (_XX | _GT):  # no TTL is an infinite one
                codes.append(0)
                continue
        elif (condition == _NX or (condition == _GT and current >= when)
              or (condition == _LT and current <= when)):
            codes.append(0)
            continue
        if when <= now and not loading:  # not in the future: the field goes now
            del value[field]
            expires.pop(field, None)
            deleted.append(field)
            codes.append(2)
            continue
        if value.__class__ is dict:
            # The first field TTL: the hash becomes a FieldTTLHash (the same
            # key, its key TTL kept).
            value = FieldTTLHash(value)
            db.replace(key, value)
            expires = value.field_expires
        value.set_field_expire(field, when_ms)
        updated.append(field)
        codes.append(1)
    if updated or deleted:
        if not value:
            db.delete(key)
            _notify(session, b"hdel", key)
            if db.notify_flags:
                notify(session.server, db.index, NOTIFY_GENERIC, b"del", key)
        else:
            db.modified(key)
            _notify(session, b"hdel" if deleted else b"hexpire", key)
            if updated:
                reschedule(db, key, value)
    propagate = []
    if deleted:
        propagate.append([b"HDEL", key, *deleted])
    if updated:
        propagate.append([b"HPEXPIREAT", key, b"%d" % when, b"FIELDS", b"%d" % len(updated),
                          *updated])
    session.propagate = propagate
    return codes


@command("hexpire", -6, "write denyoom fast", (1, 1, 1), group="hash", since="7.4.0",
         summary="Set expiry for hash field using relative time to expire (seconds)",
         complexity="O(N) where N is the number of specified fields")
def hexpire(session: Session, argv: list[bytes]) -> Any:
    return _hexpire(session, argv, 1000, True)


@command("hpexpire", -6, "write denyoom fast", (1, 1, 1), group="hash", since="7.4.0",
         summary="Set expiry for hash field using relative time to expire (milliseconds)",
         complexity="O(N) where N is the number of specified fields")
def hpexpire(session: Session, argv: list[bytes]) -> Any:
    return _hexpire(session, argv, 1, True)


@command("hexpireat", -6, "write denyoom fast", (1, 1, 1), group="hash", since="7.4.0",
         summary="Set expiry for hash field using an absolute Unix timestamp (seconds)",
         complexity="O(N) where N is the number of specified fields")
def hexpireat(session: Session, argv: list[bytes]) -> Any:
    return _hexpire(session, argv, 1000, False)


@command("hpexpireat", -6, "write denyoom fast", (1, 1, 1), group="hash", since="7.4.0",
         summary="Set expiry for hash field using an absolute Unix timestamp (milliseconds)",
         complexity="O(N) where N is the number of specified fields")
def hpexpireat(session: Session, argv: list[bytes]) -> Any:
    return _hexpire(session, argv, 1, False)


def _httl(session: Session, argv: list[bytes], in_ms: bool, absolute: bool) -> Any:
    """httlGenericCommand: -2 no such field, -1 no TTL; seconds round up."""
    value = _read(session, argv[1])
    fields = _numfields(argv, 3, NUMFIELDS_POSITIVE)
    if value is None:
        return [-2] * len(fields)
    expires = value.field_expires if value.__class__ is FieldTTLHash else {}
    base = 0 if absolute else int(session.db.clock.ms())
    out = []
    for field in fields:
        if field not in value:
            out.append(-2)
            continue
        when = expires.get(field)
        if when is None:
            out.append(-1)
            continue
        when = int(when)
        out.append(when - base if in_ms else (when + 999 - base) // 1000)
    return out


@command("httl", -5, "readonly fast", (1, 1, 1), group="hash", since="7.4.0",
         summary="Returns the TTL in seconds of a hash field.",
         complexity="O(N) where N is the number of specified fields")
def httl(session: Session, argv: list[bytes]) -> Any:
    return _httl(session, argv, False, False)


@command("hpttl", -5, "readonly fast", (1, 1, 1), group="hash", since="7.4.0",
         summary="Returns the TTL in milliseconds of a hash field.",
         complexity="O(N) where N is the number of specified fields")
def hpttl(session: Session, argv: list[bytes]) -> Any:
    return _httl(session, argv, True, False)


@command("hexpiretime", -5, "readonly fast", (1, 1, 1), group="hash", since="7.4.0",
         summary="Returns the expiration time of a hash field as a Unix timestamp, in seconds.",
         complexity="O(N) where N is the number of specified fields")
def hexpiretime(session: Session, argv: list[bytes]) -> Any:
    return _httl(session, argv, False, True)


@command("hpexpiretime", -5, "readonly fast", (1, 1, 1), group="hash", since="7.4.0",
         summary="Returns the expiration time of a hash field as a Unix timestamp, in msec.",
         complexity="O(N) where N is the number of specified fields")
def hpexpiretime(session: Session, argv: list[bytes]) -> Any:
    return _httl(session, argv, True, True)


@command("hpersist", -5, "write fast", (1, 1, 1), group="hash", since="7.4.0",
         summary="Removes the expiration time for each specified field",
         complexity="O(N) where N is the number of specified fields")
def hpersist(session: Session, argv: list[bytes]) -> Any:
    key = argv[1]
    value = _write(session, key)
    fields = _numfields(argv, 3, NUMFIELDS_POSITIVE)
    if value is None:
        return [-2] * len(fields)
    if value.__class__ is not FieldTTLHash:
        return [-1 if field in value else -2 for field in fields]
    out = []
    changed = False
    for field in fields:
        if field not in value:
            out.append(-2)
        elif value.persist_field(field):
            out.append(1)
            changed = True
        else:
            out.append(-1)
    if changed:
        session.db.modified(key)
        _notify(session, b"hpersist", key)
    return out

