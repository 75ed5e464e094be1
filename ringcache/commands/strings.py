"""String commands (t_string.c): values are stored as plain `bytes`."""

from __future__ import annotations

from typing import Any

from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import OK
from ._args import INT64_MAX, parse_int
from .registry import command

WRONGTYPE = CommandError(errors.WRONGTYPE)


def get_string(db: Any, key: bytes) -> bytes | None:
    """The string at key for a read command, None if missing, WRONGTYPE otherwise."""
    value = db.lookup_read(key)
    if value is None or value.__class__ is bytes:
        return value
    raise WRONGTYPE


@command("get", 2, "readonly fast", (1, 1, 1), group="string",
         summary="Returns the string value of a key.", acl="@read @string @fast")
def get(session: Any, argv: list) -> Any:
    value = session.db.lookup_read(argv[1])
    if value is None or value.__class__ is bytes:
        return value
    raise WRONGTYPE


def parse_expire_option(argv: list, i: int, now_ms: float, command_name: str) -> float:
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
         complexity="O(1)", acl="@write @string @slow")
def set_(session: Any, argv: list) -> Any:
    db = session.db
    key = argv[1]
    if len(argv) == 3:  # the common case, kept short
        db.set(key, argv[2])
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
        raise WRONGTYPE
    if (nx and old is not None) or (xx and old is None):
        return old if get_old else None
    db.set(key, argv[2], keep_ttl=keep_ttl)
    if expire_at is not None:
        db.set_expire(key, expire_at)
    return old if get_old else OK
