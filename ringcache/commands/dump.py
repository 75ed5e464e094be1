"""DUMP and RESTORE (cluster.c): values in Redis's own serialization.

DUMP answers a key's value as a DUMP payload (persistence/rdb.py: the
RDB encoding of the value, the RDB version, a CRC-64), byte-compatible
with redis-server: a payload DUMPed here RESTOREs into redis-server 7.0+
and one DUMPed there RESTOREs here (versions up to 12, Redis 7.4). A
hash with field TTLs is written as Redis 7.4 writes it (version 12), so
an older redis-server refuses it rather than losing the TTLs.

RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f] checks,
in Redis's order: the options, that the key is free (BUSYKEY, unless
REPLACE), the TTL, the payload's footer ("DUMP payload version or
checksum are wrong"), the value ("Bad data format"). A TTL already in the
past creates nothing (and, with REPLACE, still deletes the old key: that
is propagated as DEL). Otherwise the write stream gets the command with
its TTL made absolute (argv[2] the Unix ms time, ABSTTL appended), as
Redis propagates it, so a replay does not restart the clock. Events:
"restore" (g) on success, "del" when REPLACE removed a key and the value
was already expired.

Hash fields whose time has passed are dropped when a payload is read; a
payload with nothing left is treated as an expired key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..persistence.rdb import DumpPayloadError, RDBError, dump_payload, load_payload
from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import OK
from ..pubsub.notifications import NOTIFY_GENERIC, notify
from ..storage.hashes import FieldTTLHash, track
from ._args import parse_int
from .keyspecs import spec
from .hashes import _purge as purge_expired_fields
from .registry import command

if TYPE_CHECKING:
    from ..server.session import Session


@command("dump", 2, "readonly", (1, 1, 1), since="2.6.0",
         summary="Returns a serialized representation of the value stored at a key.",
         complexity="O(1) to access the key and additional O(N*M) to serialize it, where N is the "
                    "number of Redis objects composing the value and M their average size. For "
                    "small string values the time complexity is thus O(1)+O(1*M) where M is small, "
                    "so simply O(1).",
         tips="nondeterministic_output")
def dump(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    key = argv[1]
    value = db.lookup_read(key)
    if value is None:
        return None
    if value.__class__ is FieldTTLHash and value.due(int(db.clock.ms())):
        value = purge_expired_fields(session, db, key, value)  # (a dead field is not dumped)
        if value is None:
            return None
    return dump_payload(value)


@command("restore", -4, "write denyoom", (1, 1, 1), since="2.6.0",
         summary="Creates a key from the serialized representation of a value.",
         complexity="O(1) to create the new key and additional O(N*M) to reconstruct the "
                    "serialized value, where N is the number of Redis objects composing the value "
                    "and M their average size. For small string values the time complexity is thus "
                    "O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values "
                    "the complexity is O(N*M*log(N)) because inserting values into sorted sets is "
                    "O(log(N)).",
         acl="@dangerous")
def restore(session: Session, argv: list[bytes]) -> Any:
    replace = absttl = False
    idle: int | None = None
    freq: int | None = None
    n = len(argv)
    j = 4
    while j < n:
        option = argv[j].lower()
        more = n - j - 1
        if option == b"replace":
            replace = True
        elif option == b"absttl":
            absttl = True
        elif option == b"idletime" and more >= 1 and freq is None:
            idle = parse_int(argv[j + 1])
            if idle < 0:
                raise CommandError(errors.RESTORE_BAD_IDLETIME)
            j += 1
        elif option == b"freq" and more >= 1 and idle is None:
            freq = parse_int(argv[j + 1])
            if not 0 <= freq <= 255:
                raise CommandError(errors.RESTORE_BAD_FREQ)
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    db = session.db
    key = argv[1]
    if not replace and db.lookup(key) is not None:
        raise CommandError(errors.BUSYKEY)
    ttl = parse_int(argv[2])
    if ttl < 0:
        raise CommandError(errors.RESTORE_BAD_TTL)
    now = int(db.clock.ms())
    try:
        value = load_payload(argv[3], now)
    except DumpPayloadError:
        raise CommandError(errors.DUMP_PAYLOAD) from None
    except RDBError:
        raise CommandError(errors.BAD_DATA_FORMAT) from None

    deleted = replace and db.delete(key)
    if ttl and not absttl:
        ttl += now
    if value is None or (ttl and ttl <= now):  # (checkAlreadyExpired: <= now)
        if deleted:
            session.propagate = [[b"DEL", key]]
            if db.notify_flags:
                notify(session.server, db.index, NOTIFY_GENERIC, b"del", key)
        return OK
    db.set(key, value)
    track(db, key, value)  # a hash with field TTLs joins the field-expiry queue
    if ttl:
        db.set_expire(key, ttl)
        if not absttl:
            session.propagate = [[argv[0], key, b"%d" % ttl, *argv[3:], b"ABSTTL"]]
    if idle is not None or freq is not None:
        db.set_access(key, idle, freq)
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_GENERIC, b"restore", key)
    return OK


@command("restore-asking", -4, "write denyoom asking", (1, 1, 1), since="3.0.0",
         key_specs=(spec("OW update", index=1),),
         summary="An internal command for migrating keys in a cluster.",
         complexity="O(1) to create the new key and additional O(N*M) to reconstruct the "
                    "serialized value, where N is the number of Redis objects composing the value "
                    "and M their average size. For small string values the time complexity is thus "
                    "O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values "
                    "the complexity is O(N*M*log(N)) because inserting values into sorted sets is "
                    "O(log(N)).",
         acl="@dangerous")
def restore_asking(session: Session, argv: list[bytes]) -> Any:
    """What MIGRATE sends a cluster node (cluster.c): RESTORE, served even
    for a slot being imported."""
    return restore(session, argv)
