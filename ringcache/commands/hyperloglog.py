"""HyperLogLog commands (hyperloglog.c): PFADD PFCOUNT PFMERGE.

The value is an ordinary string in Redis's HLL layout (storage.hyperloglog),
so GET, SET, DUMP/RESTORE and the snapshot carry it unchanged and
redis-server reads what ringcache writes.

PFCOUNT on one key stores the cardinality it computed in the value's header
(the cache PFADD marks stale), as Redis does: a read-only command that
changes the value. It hands `PFCOUNT key` to the write stream when it does,
so replicas and the AOF hold the same bytes (Redis propagates it for the
same reason).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol.errors import CommandError, WrongTypeError
from ..protocol.resp import OK
from ..pubsub.notifications import NOTIFY_STRING, notify
from ..storage import hyperloglog as hll
from .keyspecs import spec
from .registry import command

if TYPE_CHECKING:
    from ..server.session import Session

NOT_HLL = "WRONGTYPE Key is not a valid HyperLogLog string value."
CORRUPTED = "INVALIDOBJ Corrupted HLL object detected"


def _hll_or_none(value: Any) -> bytes | None:
    """isHLLObjectOrReply: value if it is an HLL (None if missing)."""
    if value is None:
        return None
    if value.__class__ is not bytes:
        raise WrongTypeError
    if not hll.is_hll(value):
        raise CommandError(NOT_HLL)
    return value


@command("pfadd", -2, "write denyoom fast", (1, 1, 1), group="hyperloglog", since="2.8.9",
         key_specs=(spec("RW insert", index=1),),
         summary="Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.",
         complexity="O(1) to add every element.")
def pfadd(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    key = argv[1]
    old = _hll_or_none(db.lookup(key))
    value = hll.new_sparse() if old is None else old
    try:
        value, updated = hll.add(value, argv[2:], session.server.config["hll-sparse-max-bytes"])
    except hll.InvalidHLL:
        raise CommandError(CORRUPTED) from None
    if old is None:
        updated += 1
    if not updated:
        return 0
    buf = bytearray(value)
    hll.invalidate(buf)
    if old is None:
        db.set(key, bytes(buf))
    else:
        db.replace(key, bytes(buf))
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_STRING, b"pfadd", key)
    return 1


@command("pfcount", -2, "readonly", (1, -1, 1), group="hyperloglog", since="2.8.9",
         key_specs=(spec("RW access", index=1, lastkey=-1,
                         notes="RW because it may change the internal representation of the key, "
                               "and propagate to replicas"),),
         summary="Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).",
         complexity="O(1) with a very small average constant time when called with a single key. "
                    "O(N) with N being the number of keys, and much bigger constant times, "
                    "when called with multiple keys.")
def pfcount(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    if len(argv) > 2:  # the cardinality of the union
        maxima = [0] * hll.REGISTERS
        for key in argv[1:]:
            value = _hll_or_none(db.lookup_read(key))
            if value is None:
                continue
            try:
                hll.merge_into(maxima, value)
            except hll.InvalidHLL:
                raise CommandError(CORRUPTED) from None
        return hll.count_registers(maxima)
    key = argv[1]
    value = _hll_or_none(db.lookup_read(key))
    if value is None:
        return 0
    card = hll.cached_count(value)
    if card is not None:
        return card
    try:
        card = hll.count(value)
    except hll.InvalidHLL:
        raise CommandError(CORRUPTED) from None
    db.replace(key, hll.with_cache(value, card))
    session.propagate = [[b"PFCOUNT", key]]  # the cache is part of the value
    return card


@command("pfmerge", -2, "write denyoom", (1, -1, 1), group="hyperloglog", since="2.8.9",
         key_specs=(spec("RW access insert", index=1), spec("RO access", index=2, lastkey=-1)),
         summary="Merges one or more HyperLogLog values into a single key.",
         complexity="O(N) to merge N HyperLogLogs, but with high constant times.")
def pfmerge(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    maxima = [0] * hll.REGISTERS
    use_dense = False
    for key in argv[1:]:  # the destination is merged too
        value = _hll_or_none(db.lookup_read(key))
        if value is None:
            continue
        try:
            use_dense |= hll.merge_into(maxima, value)
        except hll.InvalidHLL:
            raise CommandError(CORRUPTED) from None
    dest = argv[1]
    old = db.lookup(dest)
    buf = bytearray(hll.new_sparse() if old is None else old)
    max_bytes = session.server.config["hll-sparse-max-bytes"]
    try:
        if use_dense:
            buf = hll.to_dense(buf)
        for index, count in enumerate(maxima):
            if count:
                buf, _ = hll.set_register(buf, index, count, max_bytes)
    except hll.InvalidHLL:
        raise CommandError(CORRUPTED) from None
    hll.invalidate(buf)
    if old is None:
        db.set(dest, bytes(buf))
    else:
        db.replace(dest, bytes(buf))
    if db.notify_flags:
        # Redis reports a merge as "pfadd" too.
        notify(session.server, db.index, NOTIFY_STRING, b"pfadd", dest)
    return OK
