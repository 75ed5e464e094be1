"""Set commands (t_set.c): a set is stored as a plain Python `set[bytes]`.

Representation
--------------
One `set` per key, nothing around it: membership, add and remove are the C
hash table's O(1), and the algebra (SINTER, SUNION, SDIFF) runs in C over
whole sets. OBJECT ENCODING answers "hashtable", which is what a Python set
is. Redis would say "intset" or "listpack" for small sets; we have no such
compact forms, so naming one would be a lie about memory and speed. An empty
set never stays in the keyspace: the command that empties it deletes the key.

Random members (SPOP, SRANDMEMBER)
----------------------------------
A Python set cannot be sampled: there is no way to reach its k-th element
other than iterating k times, ~40 ns per member for a big set (every step
touches a member object: a cache miss), so ~20 ms to reach the middle of a
1M-member set. `random.sample(tuple(s), k)` is O(N) for the same reason.
Small sets (at most SAMPLE_BY_COPY members) are sampled that way; it is
cheaper than anything else at that size.

A bigger set gets a *sampling pool* the first time it is sampled (one O(N)
pass, `list(s)`), kept beside it in `_POOLS` (by id, dropped by a weakref
callback when the set is freed) and updated by every command of this module
that changes the set:

    pool.members  a list holding every member of the set exactly once, plus
                  stale entries: members removed since (by SREM, SMOVE)
    pool.gone     the members of those stale entries (= members \\ set)

A draw picks a random index of `members` and retries on a stale entry
(deleting it from the list by swapping in the last entry), so each live
member is equally likely. SPOP removes the drawn entry the same way, so it
leaves nothing stale. A member added back while it still has a stale entry
just leaves `gone`; any other new member is appended. The pool is dropped
(rebuilt at the next draw) once stale entries outnumber live ones (plus a
slack of SMALL_SET), so a draw takes about 2 tries at worst on average. Cost: an O(N) pass on the first draw and
after heavy removal, then O(1) per member drawn; memory: 8 bytes per member
(plus `gone`) for sets that were sampled, none for the others. Redis's draws
are O(1) with no such pass; its docs warn its distribution is not uniform
either, ours is uniform.

With a count, as Redis (srandmemberWithCountCommand, spopWithCountCommand):
a negative SRANDMEMBER count draws with repeats (O(count)); a count of at
least the size returns the whole set; a positive count of more than half
the size copies the set and samples the copy (O(N), but N < 2 x count, so
O(count)); a smaller count draws distinct members from the pool (O(count)).

SSCAN cursors
-------------
A set of at most max(COUNT, 128) members is returned whole with cursor 0,
as Redis does for its compact encodings; a bigger one is scanned over a
snapshot of its members taken at cursor 0, returning those still in the set
(storage/scan.py, shared with HSCAN and ZSCAN): a member that stays in the
set for the whole scan is returned exactly once, and a cursor the node does
not know starts over (members may then come twice, never go missing).

Propagation
-----------
SPOP's effect is not fixed by its arguments: it sets `session.propagate` to
SREM of the members it removed (in batches of 1024, as Redis), or to DEL
(UNLINK with lazyfree-lazy-server-del) when it took the whole set.
"""

from __future__ import annotations

import random
from random import random as _random
import weakref
from typing import TYPE_CHECKING, Any, Callable

from ..protocol import errors
from ..protocol.errors import CommandError, WrongTypeError
from ..pubsub.notifications import NOTIFY_GENERIC, NOTIFY_SET, notify
from ..storage.scan import SCANS
from ._args import parse_cursor, parse_int
from .keys import parse_scan_options, register_type
from .registry import command

if TYPE_CHECKING:
    from ..server.session import Session
    from ..storage.keyspace import Keyspace

NUMKEYS_POSITIVE = "ERR numkeys should be greater than 0"
NUMKEYS_TOO_MANY = "ERR Number of keys can't be greater than number of args"
LIMIT_NEGATIVE = "ERR LIMIT can't be negative"
COUNT_POSITIVE = "ERR value is out of range, must be positive"
COUNT_RANGE = ("ERR value is out of range, value must between "
               "-9223372036854775807 and 9223372036854775807")
LONG_MAX = 2**63 - 1

SMALL_SET = 128  # slack of the sampling pools; also storage.scan.ScanSnapshots.SMALL (SSCAN)
SAMPLE_BY_COPY = 32  # up to this size a set is sampled from a copy, without a pool
SPOP_PROPAGATE_BATCH = 1024  # members per propagated SREM (Redis's batch size)

# A Python set is a hash table; see the module header for why not intset/listpack.
register_type(set, b"set", lambda value: b"hashtable")


def _read_set(db: Keyspace, key: bytes) -> set | None:
    """The set at key for a read command, None if missing, WRONGTYPE otherwise."""
    value = db.lookup_read(key)
    if value is None or value.__class__ is set:
        return value
    raise WrongTypeError


def _write_set(db: Keyspace, key: bytes) -> set | None:
    value = db.lookup(key)
    if value is None or value.__class__ is set:
        return value
    raise WrongTypeError


# -- sampling pools (see the module header) ---------------------------------------


class _Pool:
    __slots__ = ("members", "gone")

    def __init__(self, members: list) -> None:
        self.members = members
        self.gone: set = set()


_POOLS: dict[int, _Pool] = {}
_POOL_REFS: dict[int, weakref.ref] = {}


def _forget_pool(set_id: int) -> None:
    _POOLS.pop(set_id, None)
    _POOL_REFS.pop(set_id, None)


def _forgetter(set_id: int) -> Callable[[Any], None]:
    """The weakref callback that drops a pool when its set is freed."""
    return lambda ref: _forget_pool(set_id)


def _pool_of(value: set) -> _Pool:
    """The sampling pool of a big set, built (O(N)) when missing or stale."""
    set_id = id(value)
    pool = _POOLS.get(set_id)
    # The size check catches a set changed behind this module's back.
    if pool is None or len(pool.members) - len(pool.gone) != len(value):
        pool = _Pool(list(value))
        if set_id not in _POOL_REFS:
            _POOL_REFS[set_id] = weakref.ref(value, _forgetter(set_id))
        _POOLS[set_id] = pool
    return pool


def _pool_added(value: set, member: bytes) -> None:
    """A member just entered the set (call only when _POOLS is not empty)."""
    pool = _POOLS.get(id(value))
    if pool is not None:
        if member in pool.gone:
            pool.gone.discard(member)  # its old entry is live again
        else:
            pool.members.append(member)


def _pool_removed(value: set, member: bytes) -> None:
    """A member just left the set (call only when _POOLS is not empty)."""
    pool = _POOLS.get(id(value))
    if pool is not None:
        pool.gone.add(member)
        if len(pool.gone) > len(value) + SMALL_SET:
            _forget_pool(id(value))  # mostly stale: rebuild at the next draw


def _draw(value: set, pool: _Pool) -> int:
    """Index in pool.members of a uniformly random live member."""
    members = pool.members
    gone = pool.gone
    while True:
        # (random() is C; randrange() a Python function, 10x its cost. The
        # bias of int(random() * n) is far below 2**-40 for any list here.)
        i = int(_random() * len(members))
        member = members[i]
        if member in value:
            return i
        last = members.pop()  # a stale entry: drop it and draw again
        if i < len(members):
            members[i] = last
        gone.discard(member)


def _take(members: list, i: int) -> bytes:
    """Remove and return members[i] (swapping the last entry in)."""
    member = members[i]
    last = members.pop()
    if i < len(members):
        members[i] = last
    return member


def _random_distinct(value: set, count: int) -> list:
    """count distinct random members, 0 < count < len(value)."""
    if len(value) <= SAMPLE_BY_COPY or 2 * count > len(value):
        return random.sample(tuple(value), count)
    pool = _pool_of(value)
    members = pool.members
    chosen: set = set()
    while len(chosen) < count:
        chosen.add(members[_draw(value, pool)])
    return list(chosen)


# -- adding, removing, testing ----------------------------------------------------


@command("sadd", -3, "write denyoom fast", (1, 1, 1), group="set", since="1.0.0",
         summary="Adds one or more members to a set. Creates the key if it doesn't exist.",
         complexity="O(1) for each element added, so O(N) to add N elements when the command "
                    "is called with multiple arguments.")
def sadd(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    key = argv[1]
    value = _write_set(db, key)
    if value is None:
        value = set(argv[2:])
        db.set(key, value)
        added = len(value)
    else:
        size = len(value)
        if _POOLS and id(value) in _POOLS:
            for member in argv[2:]:
                if member not in value:
                    value.add(member)
                    _pool_added(value, member)
        else:
            value.update(argv[2:])
        added = len(value) - size
        if not added:
            return 0
        db.modified(key)
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_SET, b"sadd", key)
    return added


@command("srem", -3, "write fast", (1, 1, 1), group="set", since="1.0.0",
         summary="Removes one or more members from a set. Deletes the set if the last member "
                 "was removed.",
         complexity="O(N) where N is the number of members to be removed.")
def srem(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    key = argv[1]
    value = _write_set(db, key)
    if value is None:
        return 0
    size = len(value)
    if _POOLS and id(value) in _POOLS:
        for member in argv[2:]:
            if member in value:
                value.remove(member)
                _pool_removed(value, member)
    else:
        value.difference_update(argv[2:])
    removed = size - len(value)
    if not removed:
        return 0
    _changed_or_emptied(session, db, key, value, b"srem")
    return removed


def _changed_or_emptied(session: Session, db: Keyspace, key: bytes, value: set, event: bytes) -> None:
    """After members left the set at key: count the change, send `event`,
    and delete the key (with a "del" event) if the set is now empty."""
    if value:
        db.modified(key)
    else:
        db.delete(key)
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_SET, event, key)
        if not value:
            notify(session.server, db.index, NOTIFY_GENERIC, b"del", key)


@command("sismember", 3, "readonly fast", (1, 1, 1), group="set", since="1.0.0",
         summary="Determines whether a member belongs to a set.", complexity="O(1)")
def sismember(session: Session, argv: list[bytes]) -> Any:
    value = _read_set(session.db, argv[1])
    return 1 if value is not None and argv[2] in value else 0


@command("smismember", -3, "readonly fast", (1, 1, 1), group="set", since="6.2.0",
         summary="Determines whether multiple members belong to a set.",
         complexity="O(N) where N is the number of elements being checked for membership")
def smismember(session: Session, argv: list[bytes]) -> Any:
    value = _read_set(session.db, argv[1])
    if value is None:
        return [0] * (len(argv) - 2)
    return [1 if member in value else 0 for member in argv[2:]]


@command("scard", 2, "readonly fast", (1, 1, 1), group="set", since="1.0.0",
         summary="Returns the number of members in a set.", complexity="O(1)")
def scard(session: Session, argv: list[bytes]) -> Any:
    value = _read_set(session.db, argv[1])
    return 0 if value is None else len(value)


@command("smembers", 2, "readonly", (1, 1, 1), group="set", since="1.0.0",
         tips="nondeterministic_output_order",
         summary="Returns all members of a set.",
         complexity="O(N) where N is the set cardinality.")
def smembers(session: Session, argv: list[bytes]) -> Any:
    value = _read_set(session.db, argv[1])
    # A copy: inside MULTI the reply is encoded after later commands ran.
    return set() if value is None else set(value)


@command("smove", 4, "write fast", (1, 2, 1), group="set", since="1.0.0",
         summary="Moves a member from one set to another.", complexity="O(1)")
def smove(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    src_key, dst_key, member = argv[1], argv[2], argv[3]
    src = db.lookup(src_key)
    dst = db.lookup(dst_key)
    if src is None:
        return 0  # (even when the destination has the wrong type, as Redis)
    if src.__class__ is not set or (dst is not None and dst.__class__ is not set):
        raise WrongTypeError
    if src is dst:
        return 1 if member in src else 0
    if member not in src:
        return 0
    src.remove(member)
    if _POOLS:
        _pool_removed(src, member)
    _changed_or_emptied(session, db, src_key, src, b"srem")
    if dst is None:
        db.set(dst_key, {member})
    elif member in dst:
        return 1
    else:
        dst.add(member)
        if _POOLS:
            _pool_added(dst, member)
        db.modified(dst_key)
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_SET, b"sadd", dst_key)
    return 1


# -- random members ---------------------------------------------------------------


@command("spop", -2, "write fast", (1, 1, 1), group="set", since="1.0.0",
         tips="nondeterministic_output",
         summary="Returns one or more random members from a set after removing them. "
                 "Deletes the set if the last member was popped.",
         complexity="Without the count argument O(1), otherwise O(N) where N is the value of "
                    "the passed count.")
def spop(session: Session, argv: list[bytes]) -> Any:
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    db = session.db
    key = argv[1]
    if len(argv) == 3:
        return _spop_count(session, db, key, parse_int(argv[2], COUNT_POSITIVE))
    value = _write_set(db, key)
    if value is None:
        return None
    if len(value) <= SAMPLE_BY_COPY:
        member = random.choice(tuple(value))
        value.remove(member)
        if _POOLS:
            _pool_removed(value, member)
    else:
        # _draw and _take in one loop (this is redis-benchmark's SPOP path):
        # every entry drawn leaves the pool, stale or not.
        pool = _POOLS.get(id(value))
        if pool is None or len(pool.members) - len(pool.gone) != len(value):
            pool = _pool_of(value)
        members = pool.members
        while True:
            i = int(_random() * len(members))
            member = members[i]
            last = members.pop()
            if i < len(members):
                members[i] = last
            if member in value:
                break
            pool.gone.discard(member)
        value.remove(member)
    session.propagate = [[b"SREM", key, member]]
    if value and not db.notify_flags:
        db.modified(key)
    else:
        _changed_or_emptied(session, db, key, value, b"spop")
    return member


def _spop_count(session: Session, db: Keyspace, key: bytes, count: int) -> Any:
    if count < 0:
        raise CommandError(COUNT_POSITIVE)
    value = _write_set(db, key)
    if value is None or count == 0:
        return set()
    if count >= len(value):
        # The whole set: the key goes, and so does the set object, which can
        # therefore be the reply itself.
        db.delete(key)
        lazy = session.server.config["lazyfree-lazy-server-del"]
        session.propagate = [[b"UNLINK" if lazy else b"DEL", key]]
        if db.notify_flags:
            notify(session.server, db.index, NOTIFY_SET, b"spop", key)
            notify(session.server, db.index, NOTIFY_GENERIC, b"del", key)
        return value
    if len(value) <= SAMPLE_BY_COPY or 2 * count > len(value):
        popped = random.sample(tuple(value), count)
        value.difference_update(popped)
        if _POOLS:
            _forget_pool(id(value))  # most of it went: rebuild if sampled again
    else:
        pool = _pool_of(value)
        members = pool.members
        popped = []
        for _ in range(count):
            member = _take(members, _draw(value, pool))
            value.remove(member)
            popped.append(member)
    session.propagate = [[b"SREM", key, *popped[i:i + SPOP_PROPAGATE_BATCH]]
                         for i in range(0, count, SPOP_PROPAGATE_BATCH)]
    _changed_or_emptied(session, db, key, value, b"spop")
    return set(popped)


@command("srandmember", -2, "readonly", (1, 1, 1), group="set", since="1.0.0",
         tips="nondeterministic_output",
         summary="Get one or multiple random members from a set",
         complexity="Without the count argument O(1), otherwise O(N) where N is the absolute "
                    "value of the passed count.")
def srandmember(session: Session, argv: list[bytes]) -> Any:
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    db = session.db
    if len(argv) == 2:
        value = _read_set(db, argv[1])
        if value is None:
            return None
        if len(value) <= SAMPLE_BY_COPY:
            return random.choice(tuple(value))
        pool = _pool_of(value)
        return pool.members[_draw(value, pool)]
    count = parse_int(argv[2])
    if count < -LONG_MAX:
        raise CommandError(COUNT_RANGE)
    value = _read_set(db, argv[1])
    if value is None or count == 0:
        return []
    if count < 0:  # with repeats
        if len(value) <= SAMPLE_BY_COPY:
            return random.choices(tuple(value), k=-count)
        pool = _pool_of(value)
        members = pool.members
        return [members[_draw(value, pool)] for _ in range(-count)]
    if count >= len(value):
        return list(value)
    return _random_distinct(value, count)


# -- algebra ----------------------------------------------------------------------


def _sources(db: Keyspace, keys: list, store: bool) -> list:
    """The sets at keys (None where missing), every key type-checked first,
    as Redis does. A STORE variant looks up for writing (no hit/miss count)."""
    lookup = db.lookup if store else db.lookup_read
    found = []
    for key in keys:
        value = lookup(key)
        if value is not None and value.__class__ is not set:
            raise WrongTypeError
        found.append(value)
    return found


def _intersection(sets: list) -> set:
    if not sets or any(value is None for value in sets):
        return set()
    sets = sorted(sets, key=len)
    return sets[0].intersection(*sets[1:])


def _union(sets: list) -> set:
    return set().union(*(value for value in sets if value is not None))


def _difference(sets: list) -> set:
    first = sets[0]
    if first is None:
        return set()
    return first.difference(*(value for value in sets[1:] if value is not None))


def _store(session: Session, dst: bytes, result: set, event: bytes) -> int:
    """Store result at dst (replacing any value, clearing its TTL), or delete
    dst when the result is empty."""
    db = session.db
    if not result:
        if db.delete(dst) and db.notify_flags:
            notify(session.server, db.index, NOTIFY_GENERIC, b"del", dst)
        return 0
    db.lookup(dst)  # an expired destination is reclaimed first (a "new" key then)
    db.set(dst, result)
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_SET, event, dst)
    return len(result)


@command("sinter", -2, "readonly", (1, -1, 1), group="set", since="1.0.0",
         tips="nondeterministic_output_order",
         summary="Returns the intersect of multiple sets.",
         complexity="O(N*M) worst case where N is the cardinality of the smallest set and M is "
                    "the number of sets.")
def sinter(session: Session, argv: list[bytes]) -> Any:
    sets = _sources(session.db, argv[1:], store=False)
    if len(sets) == 1:
        return set() if sets[0] is None else set(sets[0])
    return _intersection(sets)


@command("sinterstore", -3, "write denyoom", (1, -1, 1), group="set", since="1.0.0",
         summary="Stores the intersect of multiple sets in a key.",
         complexity="O(N*M) worst case where N is the cardinality of the smallest set and M is "
                    "the number of sets.")
def sinterstore(session: Session, argv: list[bytes]) -> Any:
    sets = _sources(session.db, argv[2:], store=True)
    result = set(sets[0]) if len(sets) == 1 and sets[0] is not None else _intersection(sets)
    return _store(session, argv[1], result, b"sinterstore")


def _sintercard_keys(argv: list[bytes]) -> list[int]:
    """Key positions of SINTERCARD (sintercardGetKeys): numkeys keys from 2."""
    try:
        numkeys = parse_int(argv[1])
    except CommandError:
        return []
    if numkeys < 1 or numkeys > len(argv) - 2:
        return []
    return list(range(2, 2 + numkeys))


@command("sintercard", -3, "readonly", group="set", since="7.0.0",
         summary="Returns the number of members of the intersect of multiple sets.",
         complexity="O(N*M) worst case where N is the cardinality of the smallest set and M is "
                    "the number of sets.", keys_fn=_sintercard_keys)
def sintercard(session: Session, argv: list[bytes]) -> Any:
    numkeys = parse_int(argv[1], NUMKEYS_POSITIVE)
    if numkeys < 1:
        raise CommandError(NUMKEYS_POSITIVE)
    if numkeys > len(argv) - 2:
        raise CommandError(NUMKEYS_TOO_MANY)
    limit = 0
    i = 2 + numkeys
    while i < len(argv):
        if argv[i].lower() == b"limit" and i + 1 < len(argv):
            limit = parse_int(argv[i + 1], LIMIT_NEGATIVE)
            if limit < 0:
                raise CommandError(LIMIT_NEGATIVE)
            i += 2
        else:
            raise CommandError(errors.SYNTAX)
    sets = _sources(session.db, argv[2:2 + numkeys], store=False)
    if any(value is None for value in sets):
        return 0
    sets.sort(key=len)
    smallest, others = sets[0], sets[1:]
    if not limit or limit >= len(smallest):
        return len(smallest.intersection(*others)) if others else len(smallest)
    # Stop at LIMIT: walk the smallest set, as Redis does.
    found = 0
    for member in smallest:
        for other in others:
            if member not in other:
                break
        else:
            found += 1
            if found == limit:
                break
    return found


@command("sunion", -2, "readonly", (1, -1, 1), group="set", since="1.0.0",
         tips="nondeterministic_output_order",
         summary="Returns the union of multiple sets.",
         complexity="O(N) where N is the total number of elements in all given sets.")
def sunion(session: Session, argv: list[bytes]) -> Any:
    return _union(_sources(session.db, argv[1:], store=False))


@command("sunionstore", -3, "write denyoom", (1, -1, 1), group="set", since="1.0.0",
         summary="Stores the union of multiple sets in a key.",
         complexity="O(N) where N is the total number of elements in all given sets.")
def sunionstore(session: Session, argv: list[bytes]) -> Any:
    result = _union(_sources(session.db, argv[2:], store=True))
    return _store(session, argv[1], result, b"sunionstore")


@command("sdiff", -2, "readonly", (1, -1, 1), group="set", since="1.0.0",
         tips="nondeterministic_output_order",
         summary="Returns the difference of multiple sets.",
         complexity="O(N) where N is the total number of elements in all given sets.")
def sdiff(session: Session, argv: list[bytes]) -> Any:
    sets = _sources(session.db, argv[1:], store=False)
    if len(sets) == 1:
        return set() if sets[0] is None else set(sets[0])
    return _difference(sets)


@command("sdiffstore", -3, "write denyoom", (1, -1, 1), group="set", since="1.0.0",
         summary="Stores the difference of multiple sets in a key.",
         complexity="O(N) where N is the total number of elements in all given sets.")
def sdiffstore(session: Session, argv: list[bytes]) -> Any:
    sets = _sources(session.db, argv[2:], store=True)
    result = set(sets[0]) if len(sets) == 1 and sets[0] is not None else _difference(sets)
    return _store(session, argv[1], result, b"sdiffstore")


# -- SSCAN (storage/scan.py) ---------------------------------------------------------


@command("sscan", -3, "readonly", (1, 1, 1), group="set", since="2.8.0",
         tips="nondeterministic_output",
         summary="Iterates over members of a set.",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough command "
                    "calls for the cursor to return back to 0. N is the number of elements inside "
                    "the collection.")
def sscan(session: Session, argv: list[bytes]) -> Any:
    cursor = parse_cursor(argv[2])
    value = _read_set(session.db, argv[1])
    if value is None:
        return [b"0", []]  # options are not even parsed (as Redis)
    count, match, _, _ = parse_scan_options(argv, 3)
    next_cursor, members = SCANS.chunk(session.db, argv[1], value, cursor, count)
    out = [member for member in members if member in value and (match is None or match(member))]
    return [b"%d" % next_cursor, out]
