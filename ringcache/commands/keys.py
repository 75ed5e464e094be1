"""Generic key commands (db.c, expire.c, object.c): they work on keys of any type.

Types
-----
A value's Redis type is decided from its Python class (`TYPES`, the
registry in storage/types.py): `bytes` is a string, `dict` a hash, and so
on. A family may refine its class's OBJECT ENCODING with `register_type`;
a value class should have a `copy()` method for COPY.

Expiry
------
TTLs are absolute Unix times in ms (`db.get_expire`). The EXPIRE family
computes from the clock's whole millisecond, as Redis does from its command
time snapshot. A time in the past deletes the key at once (and still
answers 1), as Redis does outside loading and replication.

SCAN
----
The cursor is a hash-slot number: each call returns every key of the slots
it visits (from the cursor on, in order) until it has COUNT keys, and
answers the next slot to visit, or 0 when no slot after it holds keys. The
slot index (db.slots) is fixed at 16384 buckets and never rehashes, so a key
that stays in the database for the whole scan sits in its slot when the
scan passes there and is returned exactly once; keys added or removed
meanwhile may or may not be seen. Like Redis, a call may return more than
COUNT keys (a whole slot at a time) or fewer (after MATCH/TYPE filtering),
and expired keys met on the way are reclaimed and skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import OK, SimpleString
from ..pubsub.notifications import NOTIFY_GENERIC, notify
from ..storage.slots import SLOTS
from ..storage.encodings import compact_encoding
from ..storage.types import STORE_HOOKS, TYPES, register_type, stored, type_name  # noqa: F401
from ._args import INT64_MAX, is_int_text, parse_cursor, parse_db_index, parse_int
from ..glob import compile_glob
from .registry import command, container, subcommand

if TYPE_CHECKING:
    from ..server.session import Session
    from ..storage.keyspace import Keyspace

# -- types and encodings ---------------------------------------------------------


def _string_encoding(value: bytes) -> bytes:
    if is_int_text(value):
        return b"int"
    return b"embstr" if len(value) <= 44 else b"raw"


# The value-type registry lives in storage/types.py (TYPE names, OBJECT
# ENCODING, the hooks RENAME/COPY/MOVE run); families refine encodings.
register_type(bytes, b"string", _string_encoding)
_TYPE_REPLIES = {name: SimpleString(name) for name, _ in TYPES.values()}
_NONE = SimpleString(b"none")
_stored = stored


def encoding_name(value: Any, config: Any = None) -> bytes:
    """OBJECT ENCODING's answer (DEBUG OBJECT prints the same); with the
    configuration, a small container answers its compact encoding
    (storage/encodings.py)."""
    if config is not None and value.__class__ is not bytes:
        compact = compact_encoding(value, config)
        if compact is not None:
            return compact
    entry = TYPES.get(value.__class__)
    return b"raw" if entry is None else entry[1](value)


def copy_value(value: Any) -> Any:
    """A value for COPY that shares nothing mutable with the original."""
    if value.__class__ is bytes:
        return value
    return value.copy()


# -- deleting and testing -----------------------------------------------------------


@command("del", -2, "write", (1, -1, 1), since="1.0.0",
         summary="Deletes one or more keys.",
         complexity="O(N) where N is the number of keys that will be removed.")
def del_(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    if db.notify_flags:
        return _delete_notifying(session, db, argv)
    delete = db.delete
    return sum(1 for key in argv[1:] if delete(key))


def _delete_notifying(session: Session, db: Keyspace, argv: list[bytes]) -> int:
    """DEL / UNLINK with keyspace notifications on: a "del" event per key deleted."""
    deleted = 0
    for key in argv[1:]:
        if db.delete(key):
            deleted += 1
            notify(session.server, db.index, NOTIFY_GENERIC, b"del", key)
    return deleted


@command("unlink", -2, "write fast", (1, -1, 1), since="4.0.0",
         summary="Asynchronously deletes one or more keys.",
         complexity="O(1) for each key removed regardless of its size.")
def unlink(session: Session, argv: list[bytes]) -> Any:
    # Memory is reclaimed by Python's refcounting at once: nothing to defer.
    db = session.db
    if db.notify_flags:
        return _delete_notifying(session, db, argv)
    delete = db.delete
    return sum(1 for key in argv[1:] if delete(key))


@command("exists", -2, "readonly fast", (1, -1, 1), since="1.0.0",
         summary="Determines whether one or more keys exist.",
         complexity="O(N) where N is the number of keys to check.")
def exists(session: Session, argv: list[bytes]) -> Any:
    peek_read = session.db.peek_read  # (Redis: LOOKUP_NOTOUCH, the LRU/LFU stays)
    return sum(1 for key in argv[1:] if peek_read(key) is not None)  # repeats count


@command("touch", -2, "readonly fast", (1, -1, 1), since="3.2.1",
         summary="Returns the number of existing keys out of those specified after updating "
                 "the time they were last accessed.",
         complexity="O(N) where N is the number of keys that will be touched.")
def touch(session: Session, argv: list[bytes]) -> Any:
    lookup_read = session.db.lookup_read
    return sum(1 for key in argv[1:] if lookup_read(key) is not None)


@command("type", 2, "readonly fast", (1, 1, 1), since="1.0.0",
         summary="Determines the type of value stored at a key.", complexity="O(1)")
def type_(session: Session, argv: list[bytes]) -> Any:
    value = session.db.peek_read(argv[1])  # (LOOKUP_NOTOUCH)
    if value is None:
        return _NONE
    name = type_name(value)
    return _TYPE_REPLIES.get(name) or SimpleString(name)


# -- renaming, copying, moving --------------------------------------------------------


def _rename(session: Session, argv: list[bytes], nx: bool) -> Any:
    db = session.db
    src, dst = argv[1], argv[2]
    value = db.lookup(src)
    if value is None:
        raise CommandError(errors.NO_SUCH_KEY)
    if src == dst:
        return 0 if nx else OK
    expire = db.get_expire(src)
    if db.lookup(dst) is not None:
        if nx:
            return 0
        db.delete(dst)
    db.delete(src)
    db.set(dst, value)
    _stored(db, dst, value)
    if expire is not None:
        db.set_expire(dst, expire)  # the TTL moves with the value
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_GENERIC, b"rename_from", src)
        notify(session.server, db.index, NOTIFY_GENERIC, b"rename_to", dst)
    return 1 if nx else OK


@command("rename", 3, "write", (1, 2, 1), since="1.0.0",
         summary="Renames a key and overwrites the destination.", complexity="O(1)")
def rename(session: Session, argv: list[bytes]) -> Any:
    return _rename(session, argv, False)


@command("renamenx", 3, "write fast", (1, 2, 1), since="1.0.0",
         summary="Renames a key only when the target key name doesn't exist.", complexity="O(1)")
def renamenx(session: Session, argv: list[bytes]) -> Any:
    return _rename(session, argv, True)


@command("copy", -3, "write denyoom", (1, 2, 1), since="6.2.0",
         summary="Copies the value of a key to a new key.",
         complexity="O(N) worst case for collections, where N is the number of nested items. "
                    "O(1) for string values.")
def copy(session: Session, argv: list[bytes]) -> Any:
    server = session.server
    src_db = session.db
    dst_index = session.db_index
    replace = False
    i, n = 3, len(argv)
    while i < n:
        option = argv[i].lower()
        if option == b"replace":
            replace = True
        elif option == b"db" and i + 1 < n:
            dst_index = parse_db_index(argv[i + 1], len(session.server.dbs))
            i += 1
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    if server.config["cluster-enabled"] and (session.db_index != 0 or dst_index != 0):
        raise CommandError(errors.COPY_DB_IN_CLUSTER)
    src, dst = argv[1], argv[2]
    dst_db = server.db(dst_index)
    if dst_db is src_db and src == dst:
        raise CommandError(errors.SAME_OBJECT)
    value = src_db.lookup_read(src)  # a read, as in Redis (counts a hit or miss)
    if value is None:
        return 0
    expire = src_db.get_expire(src)
    if dst_db.lookup(dst) is not None:
        if not replace:
            return 0
        dst_db.delete(dst)
    value = copy_value(value)
    dst_db.set(dst, value)
    _stored(dst_db, dst, value)
    if expire is not None:
        dst_db.set_expire(dst, expire)
    if dst_db is not src_db:
        # The dispatcher watches the selected database's counter (client
        # tracking, and propagation later): let it see this write.
        src_db.dirty += 1
    if dst_db.notify_flags:
        notify(server, dst_db.index, NOTIFY_GENERIC, b"copy_to", dst)
    return 1


@command("move", 3, "write fast", (1, 1, 1), since="1.0.0",
         summary="Moves a key to another database.", complexity="O(1)")
def move(session: Session, argv: list[bytes]) -> Any:
    server = session.server
    if server.config["cluster-enabled"]:
        raise CommandError(errors.MOVE_IN_CLUSTER)
    dst_index = parse_db_index(argv[2], len(session.server.dbs))
    src_db = session.db
    dst_db = server.db(dst_index)
    if dst_db is src_db:
        raise CommandError(errors.SAME_OBJECT)
    key = argv[1]
    value = src_db.lookup(key)
    if value is None:
        return 0
    expire = src_db.get_expire(key)
    if dst_db.lookup(key) is not None:
        return 0
    dst_db.set(key, value)
    _stored(dst_db, key, value)
    if expire is not None:
        dst_db.set_expire(key, expire)
    src_db.delete(key)
    if src_db.notify_flags:
        notify(server, src_db.index, NOTIFY_GENERIC, b"move_from", key)
        notify(server, dst_db.index, NOTIFY_GENERIC, b"move_to", key)
    return 1


# -- listing ----------------------------------------------------------------------


@command("keys", 2, "readonly", since="1.0.0",
         tips="request_policy:all_shards nondeterministic_output_order",
         summary="Returns all key names that match a pattern.",
         complexity="O(N) with N being the number of keys in the database, under the assumption "
                    "that the key names in the database and the given pattern have limited length.",
         acl="@dangerous")
def keys(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    pattern = argv[1]
    # Expired keys are skipped, not reclaimed: KEYS only reads.
    expires = db.expires
    now = db.clock.ms()
    if pattern == b"*":  # every key, even the empty one (see glob.py)
        names = list(db.data)
    else:
        match = compile_glob(pattern)
        names = [key for key in db.data if match(key)]
    if expires:
        names = [key for key in names if not (key in expires and expires[key] < now)]
    return names


def parse_scan_options(argv: list[bytes], i: int, *, scan_type: bool = False,
                       novalues: bool = False) -> tuple[int, Callable | None, bytes | None, bool]:
    """The options of SCAN, HSCAN, SSCAN and ZSCAN from argv[i:], read as
    Redis's scanGenericCommand does: COUNT n (at least 1), MATCH pattern
    ("*" filters nothing), TYPE name (SCAN only; an unknown name matches
    nothing, as Redis 7.4 — 8.0 refuses it) and NOVALUES (HSCAN only, no
    argument); anything else is a syntax error.
    Returns (count, match or None, type or None, novalues)."""
    count = 10
    match = None
    wanted_type = None
    no_values = False
    n = len(argv)
    while i < n:
        option = argv[i].lower()
        if option == b"novalues" and novalues:
            no_values = True
            i += 1
            continue
        if i + 1 >= n:
            raise CommandError(errors.SYNTAX)
        if option == b"count":
            count = parse_int(argv[i + 1])
            if count < 1:
                raise CommandError(errors.SYNTAX)
        elif option == b"match":
            pattern = argv[i + 1]
            match = None if pattern == b"*" else compile_glob(pattern)
        elif option == b"type" and scan_type:
            wanted_type = argv[i + 1].lower()
        else:
            raise CommandError(errors.SYNTAX)
        i += 2
    return count, match, wanted_type, no_values


@command("scan", -2, "readonly", since="2.8.0",
         tips="nondeterministic_output request_policy:special response_policy:special",
         summary="Iterates over the key names in the database.",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough command "
                    "calls for the cursor to return back to 0. N is the number of elements inside "
                    "the collection.")
def scan(session: Session, argv: list[bytes]) -> Any:
    cursor = parse_cursor(argv[1])
    count, match, wanted_type, _ = parse_scan_options(argv, 2, scan_type=True)
    if cursor >= SLOTS:
        return [b"0", []]
    db = session.db
    slots = db.slots
    buckets = slots.buckets
    found: list[bytes] = []
    slot = cursor
    while len(found) < count:
        slot = slots.next_nonempty(slot)
        if slot >= SLOTS:
            break
        found.extend(buckets[slot])  # type: ignore[arg-type]
        slot += 1
    next_cursor = slots.next_nonempty(slot) if slot < SLOTS else SLOTS
    lookup = db.lookup
    out = []
    for key in found:
        value = lookup(key)  # reclaims a key whose time has passed
        if value is None:
            continue
        if match is not None and not match(key):
            continue
        if wanted_type is not None and type_name(value) != wanted_type:
            continue
        out.append(key)
    return [b"%d" % (0 if next_cursor >= SLOTS else next_cursor), out]


@command("randomkey", 1, "readonly", since="1.0.0",
         tips="request_policy:all_shards response_policy:special nondeterministic_output",
         summary="Returns a random key name from the database.", complexity="O(1)")
def randomkey(session: Session, argv: list[bytes]) -> Any:
    return session.db.random_key()


@command("dbsize", 1, "readonly fast", group="server", since="1.0.0",
         tips="request_policy:all_shards response_policy:agg_sum",
         summary="Returns the number of keys in the database.", complexity="O(1)",
         acl="@keyspace")
def dbsize(session: Session, argv: list[bytes]) -> Any:
    # Like Redis, counts keys whose time has passed but that are not yet reclaimed.
    return session.db.size()


def _flush_mode(argv: list[bytes]) -> None:
    """getFlushCommandFlags: nothing, SYNC or ASYNC (both are synchronous
    here: dropping the old tables is the same work either way in Python)."""
    if len(argv) == 2 and argv[1].lower() in (b"sync", b"async"):
        return
    if len(argv) != 1:
        raise CommandError(errors.SYNTAX)


@command("flushdb", -1, "write", group="server", since="1.0.0",
         tips="request_policy:all_shards response_policy:all_succeeded",
         summary="Remove all keys from the current database.",
         complexity="O(N) where N is the number of keys in the selected database",
         acl="@keyspace @dangerous")
def flushdb(session: Session, argv: list[bytes]) -> Any:
    _flush_mode(argv)
    session.db.flush()
    return OK


@command("flushall", -1, "write", group="server", since="1.0.0",
         tips="request_policy:all_shards response_policy:all_succeeded",
         summary="Removes all keys from all databases.",
         complexity="O(N) where N is the total number of keys in all databases",
         acl="@keyspace @dangerous")
def flushall(session: Session, argv: list[bytes]) -> Any:
    _flush_mode(argv)
    for db in session.server.live_dbs():
        db.flush()
    return OK


# -- expiry -----------------------------------------------------------------------

_EXPIRE_NX, _EXPIRE_XX, _EXPIRE_GT, _EXPIRE_LT = 1, 2, 4, 8
_INT64_MIN_SECONDS = -(2**63 // 1000)  # C's LLONG_MIN / 1000 (truncated)


def _expire_flags(argv: list[bytes]) -> int:
    flags = 0
    for option in argv[3:]:
        lowered = option.lower()
        if lowered == b"nx":
            flags |= _EXPIRE_NX
        elif lowered == b"xx":
            flags |= _EXPIRE_XX
        elif lowered == b"gt":
            flags |= _EXPIRE_GT
        elif lowered == b"lt":
            flags |= _EXPIRE_LT
        else:
            raise CommandError(errors.unsupported_option(option))
    if flags & _EXPIRE_NX and flags & (_EXPIRE_XX | _EXPIRE_GT | _EXPIRE_LT):
        raise CommandError(errors.EXPIRE_NX_AND_OTHERS)
    if flags & _EXPIRE_GT and flags & _EXPIRE_LT:
        raise CommandError(errors.EXPIRE_GT_AND_LT)
    return flags


def _expire(session: Session, argv: list[bytes], unit_ms: int, relative: bool, name: str) -> Any:
    """expireGenericCommand."""
    flags = _expire_flags(argv)
    when = parse_int(argv[2])
    db = session.db
    now = db.clock.ms()
    invalid = errors.INVALID_EXPIRE.format(name)
    if unit_ms == 1000:
        if when > INT64_MAX // 1000 or when < _INT64_MIN_SECONDS:
            raise CommandError(invalid)
        when *= 1000
    base = int(now) if relative else 0
    if when > INT64_MAX - base:
        raise CommandError(invalid)
    when += base
    key = argv[1]
    if db.lookup(key) is None:
        return 0
    if flags:
        current = db.get_expire(key)  # None: no TTL, which counts as infinite
        if flags & _EXPIRE_NX and current is not None:
            return 0
        if flags & _EXPIRE_XX and current is None:
            return 0
        if flags & _EXPIRE_GT and (current is None or when <= current):
            return 0
        if flags & _EXPIRE_LT and current is not None and when >= current:
            return 0
    if when <= now:
        db.delete(key)  # already past: delete now (propagated as a DEL by Redis)
        event = b"del"
        session.propagate = [[b"DEL", key]]
    else:
        db.set_expire(key, when)
        event = b"expire"
        # Relative times and the NX/XX/GT/LT checks are settled: the absolute time.
        session.propagate = [[b"PEXPIREAT", key, b"%d" % when]]
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_GENERIC, event, key)
    return 1


@command("expire", -3, "write fast", (1, 1, 1), since="1.0.0",
         summary="Sets the expiration time of a key in seconds.", complexity="O(1)")
def expire(session: Session, argv: list[bytes]) -> Any:
    return _expire(session, argv, 1000, True, "expire")


@command("pexpire", -3, "write fast", (1, 1, 1), since="2.6.0",
         summary="Sets the expiration time of a key in milliseconds.", complexity="O(1)")
def pexpire(session: Session, argv: list[bytes]) -> Any:
    return _expire(session, argv, 1, True, "pexpire")


@command("expireat", -3, "write fast", (1, 1, 1), since="1.2.0",
         summary="Sets the expiration time of a key to a Unix timestamp.", complexity="O(1)")
def expireat(session: Session, argv: list[bytes]) -> Any:
    return _expire(session, argv, 1000, False, "expireat")


@command("pexpireat", -3, "write fast", (1, 1, 1), since="2.6.0",
         summary="Sets the expiration time of a key to a Unix milliseconds timestamp.",
         complexity="O(1)")
def pexpireat(session: Session, argv: list[bytes]) -> Any:
    return _expire(session, argv, 1, False, "pexpireat")


def _ttl(session: Session, key: bytes, in_ms: bool, absolute: bool) -> int:
    """ttlGenericCommand: -2 no key, -1 no TTL; seconds are rounded."""
    db = session.db
    if db.lookup_read(key) is None:
        return -2
    when = db.get_expire(key)
    if when is None:
        return -1
    # Whole milliseconds on both sides, as Redis's mstime(): a fresh EX 100 reads 100000.
    # (An expiry read back as a float may exceed 2**63 - 1 by rounding: clamp.)
    ttl = min(int(when), INT64_MAX) if absolute else int(when) - int(db.clock.ms())
    if ttl < 0:
        ttl = 0
    return ttl if in_ms else (ttl + 500) // 1000


@command("ttl", 2, "readonly fast", (1, 1, 1), since="1.0.0",
         summary="Returns the expiration time in seconds of a key.", complexity="O(1)")
def ttl(session: Session, argv: list[bytes]) -> Any:
    return _ttl(session, argv[1], False, False)


@command("pttl", 2, "readonly fast", (1, 1, 1), since="2.6.0",
         summary="Returns the expiration time in milliseconds of a key.", complexity="O(1)")
def pttl(session: Session, argv: list[bytes]) -> Any:
    return _ttl(session, argv[1], True, False)


@command("expiretime", 2, "readonly fast", (1, 1, 1), since="7.0.0",
         summary="Returns the expiration time of a key as a Unix timestamp.", complexity="O(1)")
def expiretime(session: Session, argv: list[bytes]) -> Any:
    return _ttl(session, argv[1], False, True)


@command("pexpiretime", 2, "readonly fast", (1, 1, 1), since="7.0.0",
         summary="Returns the expiration time of a key as a Unix milliseconds timestamp.",
         complexity="O(1)")
def pexpiretime(session: Session, argv: list[bytes]) -> Any:
    return _ttl(session, argv[1], True, True)


@command("persist", 2, "write fast", (1, 1, 1), since="2.2.0",
         summary="Removes the expiration time of a key.", complexity="O(1)")
def persist(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    if db.lookup(argv[1]) is None:
        return 0
    if not db.persist(argv[1]):
        return 0
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_GENERIC, b"persist", argv[1])
    return 1


# -- OBJECT -----------------------------------------------------------------------

OBJECT = container("object", -2, since="2.2.3",
                   summary="A container for object introspection commands.")

_OBJECT_HELP = [
    SimpleString(line)
    for line in (
        b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        b"ENCODING <key>",
        b"    Return the kind of internal representation used in order to store the value",
        b"    associated with a <key>.",
        b"FREQ <key>",
        b"    Return the access frequency index of the <key>. The returned integer is",
        b"    proportional to the logarithm of the recent access frequency of the key.",
        b"IDLETIME <key>",
        b"    Return the idle time of the <key>, that is the approximated number of",
        b"    seconds elapsed since the last access to the key.",
        b"REFCOUNT <key>",
        b"    Return the number of references of the value associated with the specified",
        b"    <key>.",
        b"HELP",
        b"    Prints this help.")
]


def _lfu_policy(session: Session) -> bool:
    return str(session.server.config["maxmemory-policy"]).endswith("-lfu")


@subcommand(OBJECT, "encoding", 3, "readonly", (2, 2, 1), since="2.2.3",
            summary="Returns the internal encoding of a Redis object.", complexity="O(1)")
def object_encoding(session: Session, argv: list[bytes]) -> Any:
    value = session.db.peek_read(argv[2])  # (LOOKUP_NOTOUCH)
    if value is None:
        return None
    return encoding_name(value, session.server.config)


@subcommand(OBJECT, "freq", 3, "readonly", (2, 2, 1), since="4.0.0",
            summary="Returns the logarithmic access frequency counter of a Redis object.",
            complexity="O(1)")
def object_freq(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    if db.peek_read(argv[2]) is None:  # (OBJECT never touches: LOOKUP_NOTOUCH)
        return None
    if not _lfu_policy(session):
        raise CommandError(errors.LFU_NOT_SELECTED)
    return db.lfu_counter(argv[2])  # the decayed counter (storage/access.py)


@subcommand(OBJECT, "idletime", 3, "readonly", (2, 2, 1), since="2.2.3",
            summary="Returns the time since the last access to a Redis object.",
            complexity="O(1)")
def object_idletime(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    if db.peek_read(argv[2]) is None:
        return None
    if _lfu_policy(session):
        raise CommandError(errors.LFU_SELECTED)
    return db.idle_ms(argv[2]) // 1000  # seconds, from the LRU clock (storage/access.py)


@subcommand(OBJECT, "refcount", 3, "readonly", (2, 2, 1), since="2.2.3",
            summary="Returns the reference count of a value of a key.", complexity="O(1)")
def object_refcount(session: Session, argv: list[bytes]) -> Any:
    if session.db.peek_read(argv[2]) is None:
        return None
    return 1


@subcommand(OBJECT, "help", 2, "loading stale", since="6.2.0",
            summary="Returns helpful text about the different subcommands.", complexity="O(1)")
def object_help(session: Session, argv: list[bytes]) -> Any:
    return _OBJECT_HELP
