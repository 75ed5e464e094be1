"""Sorted set commands (t_zset.c). Values are `storage.zset.ZSet`.

Every range command reduces its range to a half-open interval of ranks
(ZSet.score_rank / lex_rank), so counting is a subtraction and a LIMITed
range a slice: O(log N + M) as Redis documents.

Parsing follows Redis exactly, because the error a client sees depends on
which check comes first: options, then the range, then the key (ZRANGE);
scores as string2d reads them (strtod over the whole argument, no leading
blank, no overflow to inf or underflow to 0), range bounds as
zslParseRange reads them (plain strtod: leading blanks, an empty string is
0, overflow is inf).

Scores are Python floats: the reply encoder writes them as RESP3 doubles,
and in RESP2 as bulk strings in Redis 7.2+'s format (shortest text that
reads back the same; 7.0 printed %.17g, e.g. 0.10000000000000001 for 0.1:
we follow 7.4). WITHSCORES replies are flat in RESP2 and [member, score]
pairs in RESP3, as Redis 7.

Propagation: every pop (ZPOPMIN/MAX, ZMPOP, BZPOPMIN/MAX, BZMPOP) is
propagated as ZPOPMIN/ZPOPMAX key [count], as Redis 7 rewrites them; the
rest is deterministic and goes as it came.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Callable

from ..protocol import errors
from ..protocol.errors import CommandError, WrongTypeError
from ..protocol.resp import NULL_ARRAY, format_double
from ..pubsub.notifications import NOTIFY_GENERIC, NOTIFY_ZSET, notify
from ..storage.zset import ZSet
from ..storage.scan import SCANS
from ._args import INT64_MAX, _strtod, parse_cursor, parse_int, parse_score, parse_timeout
from ._blocking import BlockOn
from .keys import parse_scan_options, register_type
from .registry import command

if TYPE_CHECKING:
    from ..server.session import Session
    from ..storage.keyspace import Keyspace

NAN_SCORE = "ERR resulting score is not a number (NaN)"
RANGE_NOT_FLOAT = "ERR min or max is not a float"
RANGE_NOT_LEX = "ERR min or max not valid string range item"
NOT_POSITIVE = "ERR value is out of range, must be positive"

# OBJECT ENCODING: Redis says "listpack" for small sets and "skiplist" for
# the dict + ordered index pair. ZSet is always that pair (a dict beside an
# ordered, rank-counting index: the role the skiplist plays), whatever its
# size, so "skiplist" is the truthful name.
register_type(ZSet, b"zset", lambda value: b"skiplist")

_MIN, _MAX = 0, 1


# -- argument parsing -----------------------------------------------------------------


def _score_bound(arg: bytes) -> tuple[float, bool]:
    """One end of a score range (zslParseRange): '(' makes it exclusive."""
    exclusive = arg[:1] == b"("
    value = _strtod(arg[1:] if exclusive else arg)
    if value is None or value != value:
        raise CommandError(RANGE_NOT_FLOAT)
    return value, exclusive


def _score_range(zset: ZSet, min_arg: tuple[float, bool], max_arg: tuple[float, bool]) -> tuple[int, int]:
    """The ranks [lo, hi) whose scores lie in the range."""
    (low, low_ex), (high, high_ex) = min_arg, max_arg
    lo = zset.score_rank(low, low_ex)
    hi = zset.score_rank(high, not high_ex)
    return lo, max(lo, hi)


def _lex_bound(arg: bytes) -> tuple[int, bytes, bool]:
    """One end of a lex range: (-1 for '-', 1 for '+', else 0, name, exclusive)."""
    first = arg[:1]
    if first == b"+" and len(arg) == 1:
        return 1, b"", True
    if first == b"-" and len(arg) == 1:
        return -1, b"", True
    if first == b"(":
        return 0, arg[1:], True
    if first == b"[":
        return 0, arg[1:], False
    raise CommandError(RANGE_NOT_LEX)


def _lex_rank(zset: ZSet, bound: tuple[int, bytes, bool], is_max: bool) -> int:
    infinite, name, exclusive = bound
    if infinite:
        return 0 if infinite < 0 else len(zset)
    # min: [x starts at the first >= x, (x after x; max: [x ends after x, (x before x
    return zset.lex_rank(name, exclusive != is_max)


def _lex_range(zset: ZSet, low: tuple, high: tuple) -> tuple[int, int]:
    """The ranks [lo, hi) of a lex range (ZLEXCOUNT, ZREMRANGEBYLEX)."""
    if len(zset) <= LINEAR_LEX:
        return _lex_scan(zset, low, high, False, 0, -1)
    lo = _lex_rank(zset, low, False)
    hi = _lex_rank(zset, high, True)
    return lo, max(lo, hi)


# Lex ranges are meant for sets whose scores are all equal; on other sets the
# answer is Redis's implementation detail. For a set this small Redis holds a
# listpack and walks it: from the first element (in score order) whose member
# is >= min, skip `offset`, take while the member is <= max (backwards for
# REV: from the last element <= max, while >= min). Doing the same walk here
# gives Redis's exact answers on small mixed-score sets; bigger sets use the
# O(log N) rank search, which agrees whenever members ascend with the order.
LINEAR_LEX = 128  # zset-max-listpack-entries


def _lex_key(bound: tuple) -> tuple:
    infinite, name, _ = bound
    return (1 + infinite, name)  # '-' < any name < '+'


def _ge_min(member: bytes, low: tuple) -> bool:
    infinite, name, exclusive = low
    if infinite:
        return infinite < 0
    return member > name if exclusive else member >= name


def _le_max(member: bytes, high: tuple) -> bool:
    infinite, name, exclusive = high
    if infinite:
        return infinite > 0
    return member < name if exclusive else member <= name


def _lex_scan(zset: ZSet, low: tuple, high: tuple, reverse: bool, offset: int,
              limit: int) -> tuple[int, int]:
    """The listpack walk (zzlFirstInLexRange / zzlLastInLexRange and the
    loops after them): the ranks [lo, hi) it yields (contiguous in rank)."""
    size = len(zset)
    low_key, high_key = _lex_key(low), _lex_key(high)
    if not size or low_key > high_key or (low_key == high_key and (low[2] or high[2])):
        return 0, 0
    members = zset.slice(0, size)[0]
    if not _ge_min(members[-1], low) or not _le_max(members[0], high):
        return 0, 0
    if not reverse:
        start = next((i for i, m in enumerate(members) if _ge_min(m, low)), size)
        if start == size or not _le_max(members[start], high):
            return 0, 0
        i = start + offset
        stop = i
        while stop < size and limit != stop - i and _le_max(members[stop], high):
            stop += 1
        return (i, stop) if stop > i else (0, 0)
    last = next((i for i in range(size - 1, -1, -1) if _le_max(members[i], high)), -1)
    if last < 0 or not _ge_min(members[last], low):
        return 0, 0
    i = last - offset
    first = i
    while first >= 0 and limit != i - first and _ge_min(members[first], low):
        first -= 1
    return (first + 1, i + 1) if i > first else (0, 0)


def _positive(arg: bytes) -> int:
    """getPositiveLongFromObjectOrReply."""
    value = parse_int(arg)
    if value < 0:
        raise CommandError(NOT_POSITIVE)
    return value


def _at_least_one(arg: bytes, message: str) -> int:
    """getRangeLongFromObjectOrReply(1, LONG_MAX, message)."""
    try:
        value = parse_int(arg)
    except CommandError:
        raise CommandError(message) from None
    if value < 1:
        raise CommandError(message)
    return value


def _read(db: Keyspace, key: bytes) -> ZSet | None:
    value = db.lookup_read(key)
    if value is None or value.__class__ is ZSet:
        return value
    raise WrongTypeError


def _write(db: Keyspace, key: bytes) -> ZSet | None:
    value = db.lookup(key)
    if value is None or value.__class__ is ZSet:
        return value
    raise WrongTypeError


def _notify(session: Session, db: Keyspace, event: bytes, key: bytes) -> None:
    notify(session.server, db.index, NOTIFY_ZSET, event, key)


def _emptied(session: Session, db: Keyspace, key: bytes) -> None:
    """The command emptied the set at key: the key goes ("del" event)."""
    db.delete(key)
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_GENERIC, b"del", key)


def _with_scores(protocol: int, members: list, scores: list) -> list:
    """WITHSCORES reply: flat in RESP2, [member, score] pairs in RESP3."""
    if protocol == 2:
        out: list = [None] * (2 * len(members))
        out[::2] = members
        out[1::2] = scores
        return out
    return [[m, s] for m, s in zip(members, scores)]


# -- adding and removing ---------------------------------------------------------------

_ZADD_FLAGS = {b"nx": 1, b"xx": 2, b"ch": 4, b"incr": 8, b"gt": 16, b"lt": 32}


def _zadd(session: Session, argv: list[bytes], incr: bool) -> Any:
    flags = 8 if incr else 0
    i, n = 2, len(argv)
    while i < n:
        bit = _ZADD_FLAGS.get(argv[i].lower())
        if bit is None:
            break
        flags |= bit
        i += 1
    incr = bool(flags & 8)
    nx, xx, ch, gt, lt = flags & 1, flags & 2, flags & 4, flags & 16, flags & 32
    elements = n - i
    if elements % 2 or not elements:
        raise CommandError(errors.SYNTAX)
    if nx and xx:
        raise CommandError("ERR XX and NX options at the same time are not compatible")
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise CommandError("ERR GT, LT, and/or NX options at the same time are not compatible")
    if incr and elements > 2:
        raise CommandError("ERR INCR option supports a single increment-element pair")
    scores = [parse_score(argv[j]) for j in range(i, n, 2)]
    db = session.db
    key = argv[1]
    zset = _write(db, key)
    added = updated = processed = 0
    score = 0.0
    created = zset is None
    if zset is None:
        if xx:
            return None if incr else 0
        zset = ZSet()  # stored once filled (a new key always gets a member here)
    d = zset.dict
    for j, score in enumerate(scores):
        member = argv[i + 1 + 2 * j]
        current = d.get(member)
        if current is not None:
            if nx:
                continue
            if incr:
                score = current + score
                if score != score:
                    raise CommandError(NAN_SCORE)
            if (lt and score >= current) or (gt and score <= current):
                continue
            processed += 1
            if score != current:
                zset.add(member, score)
                updated += 1
            else:
                score = current
        else:
            if xx:
                continue
            zset.add(member, score)
            added += 1
            processed += 1
    if created:
        db.set(key, zset)  # ("new" event first, as Redis's dbAdd)
    elif added or updated:
        db.modified(key)
    if added or updated:
        if db.notify_flags:
            _notify(session, db, b"zincr" if incr else b"zadd", key)
    if incr:
        return score if processed else None
    return added + updated if ch else added


@command("zadd", -4, "write denyoom fast", (1, 1, 1), group="sorted_set", since="1.2.0",
         summary="Adds one or more members to a sorted set, or updates their scores. "
                 "Creates the key if it doesn't exist.",
         complexity="O(log(N)) for each item added, where N is the number of elements in the "
                    "sorted set.")
def zadd(session: Session, argv: list[bytes]) -> Any:
    if len(argv) == 4 and argv[2].lower() not in _ZADD_FLAGS:
        return _zadd_one(session, argv)
    return _zadd(session, argv, False)


def _zadd_one(session: Session, argv: list[bytes]) -> int:
    """ZADD key score member, the common form, without the option machinery
    (the same steps as _zadd)."""
    score = parse_score(argv[2])
    db = session.db
    key = argv[1]
    member = argv[3]
    zset = db.lookup(key)  # (_write inlined)
    if zset is None:
        zset = ZSet()
        zset.add(member, score)
        db.set(key, zset)
        added = 1
    else:
        if zset.__class__ is not ZSet:
            raise WrongTypeError
        old = zset.add(member, score)
        if old is not None and old == score:
            return 0  # nothing changed: no notification, WATCH holds
        db.modified(key)
        added = 1 if old is None else 0
    if db.notify_flags:
        _notify(session, db, b"zadd", key)
    return added


@command("zincrby", 4, "write denyoom fast", (1, 1, 1), group="sorted_set", since="1.2.0",
         summary="Increments the score of a member in a sorted set.",
         complexity="O(log(N)) where N is the number of elements in the sorted set.")
def zincrby(session: Session, argv: list[bytes]) -> Any:
    return _zadd(session, argv, True)


@command("zrem", -3, "write fast", (1, 1, 1), group="sorted_set", since="1.2.0",
         summary="Removes one or more members from a sorted set. Deletes the sorted set if all "
                 "members were removed.",
         complexity="O(M*log(N)) with N being the number of elements in the sorted set and M the "
                    "number of elements to be removed.")
def zrem(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    key = argv[1]
    zset = _write(db, key)
    if zset is None:
        return 0
    deleted = 0
    emptied = False
    for member in argv[2:]:
        if zset.remove(member) is not None:
            deleted += 1
            if not zset:
                emptied = True
                break
    if deleted:
        if db.notify_flags:
            _notify(session, db, b"zrem", key)
        if emptied:
            _emptied(session, db, key)
        else:
            db.modified(key)
    return deleted


# -- single-member reads ----------------------------------------------------------------


@command("zscore", 3, "readonly fast", (1, 1, 1), group="sorted_set", since="1.2.0",
         summary="Returns the score of a member in a sorted set.", complexity="O(1)")
def zscore(session: Session, argv: list[bytes]) -> Any:
    zset = session.db.lookup_read(argv[1])
    if zset is None:
        return None
    if zset.__class__ is not ZSet:
        raise WrongTypeError
    return zset.dict.get(argv[2])


@command("zmscore", -3, "readonly fast", (1, 1, 1), group="sorted_set", since="6.2.0",
         summary="Returns the score of one or more members in a sorted set.",
         complexity="O(N) where N is the number of members being requested.")
def zmscore(session: Session, argv: list[bytes]) -> Any:
    zset = _read(session.db, argv[1])
    if zset is None:
        return [None] * (len(argv) - 2)
    get = zset.dict.get
    return [get(member) for member in argv[2:]]


@command("zcard", 2, "readonly fast", (1, 1, 1), group="sorted_set", since="1.2.0",
         summary="Returns the number of members in a sorted set.", complexity="O(1)")
def zcard(session: Session, argv: list[bytes]) -> Any:
    zset = _read(session.db, argv[1])
    return 0 if zset is None else len(zset)


def _zrank(session: Session, argv: list[bytes], reverse: bool) -> Any:
    withscore = False
    if len(argv) > 4:
        raise CommandError(errors.wrong_arity(argv[0].decode(errors="replace").lower()))
    if len(argv) == 4:
        if argv[3].lower() != b"withscore":
            raise CommandError(errors.SYNTAX)
        withscore = True
    zset = session.db.lookup_read(argv[1])  # (_read inlined)
    if zset is not None and zset.__class__ is not ZSet:
        raise WrongTypeError
    rank = None if zset is None else zset.rank(argv[2])
    if rank is None:
        return NULL_ARRAY if withscore else None
    if reverse:
        rank = len(zset) - 1 - rank  # type: ignore[arg-type]
    if withscore:
        return [rank, zset.dict[argv[2]]]  # type: ignore[union-attr]
    return rank


@command("zrank", -3, "readonly fast", (1, 1, 1), group="sorted_set", since="2.0.0",
         summary="Returns the index of a member in a sorted set ordered by ascending scores.",
         complexity="O(log(N))")
def zrank(session: Session, argv: list[bytes]) -> Any:
    return _zrank(session, argv, False)


@command("zrevrank", -3, "readonly fast", (1, 1, 1), group="sorted_set", since="2.0.0",
         summary="Returns the index of a member in a sorted set ordered by descending scores.",
         complexity="O(log(N))")
def zrevrank(session: Session, argv: list[bytes]) -> Any:
    return _zrank(session, argv, True)


# -- counting ---------------------------------------------------------------------------


@command("zcount", 4, "readonly fast", (1, 1, 1), group="sorted_set", since="2.0.0",
         summary="Returns the count of members in a sorted set that have scores within a range.",
         complexity="O(log(N)) with N being the number of elements in the sorted set.")
def zcount(session: Session, argv: list[bytes]) -> Any:
    low, high = _score_bound(argv[2]), _score_bound(argv[3])
    zset = _read(session.db, argv[1])
    if zset is None:
        return 0
    lo, hi = _score_range(zset, low, high)
    return hi - lo


@command("zlexcount", 4, "readonly fast", (1, 1, 1), group="sorted_set", since="2.8.9",
         summary="Returns the number of members in a sorted set within a lexicographical range.",
         complexity="O(log(N)) with N being the number of elements in the sorted set.")
def zlexcount(session: Session, argv: list[bytes]) -> Any:
    low, high = _lex_bound(argv[2]), _lex_bound(argv[3])
    zset = _read(session.db, argv[1])
    if zset is None:
        return 0
    lo, hi = _lex_range(zset, low, high)
    return hi - lo


# -- ranges -------------------------------------------------------------------------------

_RANK, _SCORE, _LEX = 1, 2, 3


def _zrange(session: Session, argv: list[bytes], start: int, store: bool, kind: int,
            reverse: bool | None) -> tuple[list, list, bool] | None:
    """zrangeGenericCommand: argv[start] is the source key, then min and max,
    then options. Returns (members, scores, withscores) in reply order, or
    None when the key does not exist."""
    withscores = False
    offset, limit = 0, -1
    n = len(argv)
    j = start + 3
    while j < n:
        option = argv[j].lower()
        left = n - j - 1
        if not store and option == b"withscores":
            withscores = True
        elif option == b"limit" and left >= 2:
            offset = parse_int(argv[j + 1])
            limit = parse_int(argv[j + 2])
            j += 2
        elif reverse is None and option == b"rev":
            reverse = True
        elif kind == 0 and option == b"bylex":
            kind = _LEX
        elif kind == 0 and option == b"byscore":
            kind = _SCORE
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    reverse = bool(reverse)
    kind = kind or _RANK
    if limit != -1 and kind == _RANK:
        raise CommandError("ERR syntax error, LIMIT is only supported in combination with either "
                           "BYSCORE or BYLEX")
    if withscores and kind == _LEX:
        raise CommandError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    min_arg, max_arg = argv[start + 1], argv[start + 2]
    if reverse and kind != _RANK:
        min_arg, max_arg = max_arg, min_arg  # given as max, min
    if kind == _RANK:
        first, last = parse_int(min_arg), parse_int(max_arg)
    elif kind == _SCORE:
        low, high = _score_bound(min_arg), _score_bound(max_arg)
    else:
        lex_low, lex_high = _lex_bound(min_arg), _lex_bound(max_arg)
    zset = _read(session.db, argv[start])
    if zset is None:
        return None
    size = len(zset)
    if kind == _RANK:
        if first < 0:
            first += size
        if last < 0:
            last += size
        if first < 0:
            first = 0
        if first > last or first >= size:
            return [], [], withscores
        last = min(last, size - 1)
        if reverse:
            members, scores = zset.slice_rev(size - 1 - last, size - first)
        else:
            members, scores = zset.slice(first, last + 1)
        return members, scores, withscores
    if offset < 0 or (offset > 0 and offset >= size):
        return [], [], withscores
    if kind == _LEX and size <= LINEAR_LEX:
        begin, stop = _lex_scan(zset, lex_low, lex_high, reverse, offset, limit)
        if reverse:
            return (*zset.slice_rev(begin, stop), withscores)
        return (*zset.slice(begin, stop), withscores)
    lo, hi = _score_range(zset, low, high) if kind == _SCORE else _lex_range(zset, lex_low, lex_high)
    if reverse:
        stop = hi - offset
        begin = lo if limit < 0 else max(lo, stop - limit)
        members, scores = zset.slice_rev(begin, stop) if stop > begin else ([], [])
    else:
        begin = lo + offset
        stop = hi if limit < 0 else min(hi, begin + limit)
        members, scores = zset.slice(begin, stop) if stop > begin else ([], [])
    return members, scores, withscores


def _range_reply(session: Session, argv: list[bytes], kind: int, reverse: bool | None) -> Any:
    result = _zrange(session, argv, 1, False, kind, reverse)
    if result is None:
        return []
    members, scores, withscores = result
    return _with_scores(session.protocol, members, scores) if withscores else members


@command("zrange", -4, "readonly", (1, 1, 1), group="sorted_set", since="1.2.0",
         summary="Returns members in a sorted set within a range of indexes.",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and M the "
                    "number of elements returned.")
def zrange(session: Session, argv: list[bytes]) -> Any:
    return _range_reply(session, argv, 0, None)


@command("zrevrange", -4, "readonly", (1, 1, 1), group="sorted_set", since="1.2.0",
         summary="Returns members in a sorted set within a range of indexes in reverse order.",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and M the "
                    "number of elements returned.")
def zrevrange(session: Session, argv: list[bytes]) -> Any:
    return _range_reply(session, argv, _RANK, True)


_BY_COMPLEXITY = ("O(log(N)+M) with N being the number of elements in the sorted set and M the "
                  "number of elements being returned. If M is constant (e.g. always asking for "
                  "the first 10 elements with LIMIT), you can consider it O(log(N)).")


@command("zrangebyscore", -4, "readonly", (1, 1, 1), group="sorted_set", since="1.0.5",
         summary="Returns members in a sorted set within a range of scores.",
         complexity=_BY_COMPLEXITY)
def zrangebyscore(session: Session, argv: list[bytes]) -> Any:
    return _range_reply(session, argv, _SCORE, False)


@command("zrevrangebyscore", -4, "readonly", (1, 1, 1), group="sorted_set", since="2.2.0",
         summary="Returns members in a sorted set within a range of scores in reverse order.",
         complexity=_BY_COMPLEXITY)
def zrevrangebyscore(session: Session, argv: list[bytes]) -> Any:
    return _range_reply(session, argv, _SCORE, True)


@command("zrangebylex", -4, "readonly", (1, 1, 1), group="sorted_set", since="2.8.9",
         summary="Returns members in a sorted set within a lexicographical range.",
         complexity=_BY_COMPLEXITY)
def zrangebylex(session: Session, argv: list[bytes]) -> Any:
    return _range_reply(session, argv, _LEX, False)


@command("zrevrangebylex", -4, "readonly", (1, 1, 1), group="sorted_set", since="2.8.9",
         summary="Returns members in a sorted set within a lexicographical range in reverse "
                 "order.", complexity=_BY_COMPLEXITY)
def zrevrangebylex(session: Session, argv: list[bytes]) -> Any:
    return _range_reply(session, argv, _LEX, True)


def _store(session: Session, db: Keyspace, dst: bytes, result: ZSet, event: bytes) -> int:
    """Put a computed set at dst (replacing whatever was there, TTL
    included), or delete dst when the result is empty."""
    if result:
        db.set(dst, result)
        if db.notify_flags:
            _notify(session, db, event, dst)
        return len(result)
    if db.delete(dst) and db.notify_flags:
        notify(session.server, db.index, NOTIFY_GENERIC, b"del", dst)
    return 0


@command("zrangestore", -5, "write denyoom", (1, 2, 1), group="sorted_set", since="6.2.0",
         summary="Stores a range of members from sorted set in a key.",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and M the "
                    "number of elements stored into the destination key.")
def zrangestore(session: Session, argv: list[bytes]) -> Any:
    result = _zrange(session, argv, 2, True, 0, None)
    members, scores = (result[0], result[1]) if result is not None else ([], [])
    return _store(session, session.db, argv[1], ZSet.from_items(zip(members, scores)),
                  b"zrangestore")


# -- removing ranges ---------------------------------------------------------------------


def _zremrange(session: Session, argv: list[bytes], kind: int) -> Any:
    if kind == _RANK:
        event = b"zremrangebyrank"
        first, last = parse_int(argv[2]), parse_int(argv[3])
    elif kind == _SCORE:
        event = b"zremrangebyscore"
        low, high = _score_bound(argv[2]), _score_bound(argv[3])
    else:
        event = b"zremrangebylex"
        lex_low, lex_high = _lex_bound(argv[2]), _lex_bound(argv[3])
    db = session.db
    key = argv[1]
    zset = _write(db, key)
    if zset is None:
        return 0
    if kind == _RANK:
        size = len(zset)
        if first < 0:
            first += size
        if last < 0:
            last += size
        if first < 0:
            first = 0
        if first > last or first >= size:
            return 0
        lo, hi = first, min(last, size - 1) + 1
    elif kind == _SCORE:
        lo, hi = _score_range(zset, low, high)
    else:
        lo, hi = _lex_range(zset, lex_low, lex_high)
    if hi <= lo:
        return 0
    zset.remove_slice(lo, hi)
    if db.notify_flags:
        _notify(session, db, event, key)
    if zset:
        db.modified(key)
    else:
        _emptied(session, db, key)
    return hi - lo


@command("zremrangebyrank", 4, "write", (1, 1, 1), group="sorted_set", since="2.0.0",
         summary="Removes members in a sorted set within a range of indexes. Deletes the sorted "
                 "set if all members were removed.",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and M the "
                    "number of elements removed by the operation.")
def zremrangebyrank(session: Session, argv: list[bytes]) -> Any:
    return _zremrange(session, argv, _RANK)


@command("zremrangebyscore", 4, "write", (1, 1, 1), group="sorted_set", since="1.2.0",
         summary="Removes members in a sorted set within a range of scores. Deletes the sorted "
                 "set if all members were removed.",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and M the "
                    "number of elements removed by the operation.")
def zremrangebyscore(session: Session, argv: list[bytes]) -> Any:
    return _zremrange(session, argv, _SCORE)


@command("zremrangebylex", 4, "write", (1, 1, 1), group="sorted_set", since="2.8.9",
         summary="Removes members in a sorted set within a lexicographical range. Deletes the "
                 "sorted set if all members were removed.",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and M the "
                    "number of elements removed by the operation.")
def zremrangebylex(session: Session, argv: list[bytes]) -> Any:
    return _zremrange(session, argv, _LEX)


# -- pops ----------------------------------------------------------------------------------


def _pop(session: Session, db: Keyspace, key: bytes, zset: ZSet, where: int, count: int) -> tuple[list, list]:
    """Remove up to count members from one end of zset at key (count >= 1);
    notifications and key deletion as genericZpopCommand."""
    size = len(zset)
    take = min(count, size)
    if take == 1:
        member, score = zset.pop(where != _MIN)
        members, scores = [member], [score]
    elif where == _MIN:
        members, scores = zset.remove_slice(0, take)
    else:
        members, scores = zset.remove_slice(size - take, size)
        members.reverse()
        scores.reverse()
    if db.notify_flags:
        _notify(session, db, b"zpopmax" if where else b"zpopmin", key)
    if zset:
        db.modified(key)
    else:
        _emptied(session, db, key)
    return members, scores


def _zpop(session: Session, argv: list[bytes], where: int) -> Any:
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    count = _positive(argv[2]) if len(argv) == 3 else -1
    db = session.db
    key = argv[1]
    zset = _write(db, key)
    if zset is None or count == 0:
        return []
    members, scores = _pop(session, db, key, zset, where, 1 if count == -1 else count)
    if count == -1 or session.protocol == 2:
        return _with_scores(2, members, scores)  # flat
    return _with_scores(session.protocol, members, scores)


@command("zpopmin", -2, "write fast", (1, 1, 1), group="sorted_set", since="5.0.0",
         summary="Returns the lowest-scoring members from a sorted set after removing them. "
                 "Deletes the sorted set if the last member was popped.",
         complexity="O(log(N)*M) with N being the number of elements in the sorted set, and M "
                    "being the number of elements popped.")
def zpopmin(session: Session, argv: list[bytes]) -> Any:
    return _zpop(session, argv, _MIN)


@command("zpopmax", -2, "write fast", (1, 1, 1), group="sorted_set", since="5.0.0",
         summary="Returns the highest-scoring members from a sorted set after removing them. "
                 "Deletes the sorted set if the last member was popped.",
         complexity="O(log(N)*M) with N being the number of elements in the sorted set, and M "
                    "being the number of elements popped.")
def zpopmax(session: Session, argv: list[bytes]) -> Any:
    return _zpop(session, argv, _MAX)


def _propagate_pop(session: Session, key: bytes, where: int, count: int | None) -> None:
    name = b"ZPOPMAX" if where else b"ZPOPMIN"
    session.propagate = [[name, key] if count is None else [name, key, b"%d" % count]]


def _bzpop(session: Session, argv: list[bytes], where: int) -> Any:
    timeout = parse_timeout(argv[-1])
    db = session.db
    keys = argv[1:-1]
    for key in keys:
        zset = _write(db, key)
        if zset:
            members, scores = _pop(session, db, key, zset, where, 1)
            _propagate_pop(session, key, where, None)
            return [key, members[0], scores[0]]
    return BlockOn(keys, timeout, ZSet)  # only a sorted set at a key wakes it (Redis 7.2+)


@command("bzpopmin", -3, "write noscript blocking fast", (1, -2, 1), group="sorted_set",
         since="5.0.0",
         summary="Removes and returns the member with the lowest score from one or more sorted "
                 "sets. Blocks until a member is available otherwise. Deletes the sorted set if "
                 "the last element was popped.",
         complexity="O(log(N)) with N being the number of elements in the sorted set.")
def bzpopmin(session: Session, argv: list[bytes]) -> Any:
    return _bzpop(session, argv, _MIN)


@command("bzpopmax", -3, "write noscript blocking fast", (1, -2, 1), group="sorted_set",
         since="5.0.0",
         summary="Removes and returns the member with the highest score from one or more sorted "
                 "sets. Blocks until a member available otherwise.  Deletes the sorted set if the "
                 "last element was popped.",
         complexity="O(log(N)) with N being the number of elements in the sorted set.")
def bzpopmax(session: Session, argv: list[bytes]) -> Any:
    return _bzpop(session, argv, _MAX)


def _parse_mpop(argv: list[bytes], numkeys_index: int) -> tuple[list, int, int]:
    """zmpopGenericCommand's parsing: numkeys, the keys, MIN|MAX, [COUNT n]."""
    numkeys = _at_least_one(argv[numkeys_index], "ERR numkeys should be greater than 0")
    where_index = numkeys_index + numkeys + 1
    if where_index >= len(argv):
        raise CommandError(errors.SYNTAX)
    where_arg = argv[where_index].lower()
    if where_arg == b"min":
        where = _MIN
    elif where_arg == b"max":
        where = _MAX
    else:
        raise CommandError(errors.SYNTAX)
    count = -1
    j = where_index + 1
    while j < len(argv):
        if count == -1 and argv[j].lower() == b"count" and j + 1 < len(argv):
            count = _at_least_one(argv[j + 1], "ERR count should be greater than 0")
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    return argv[numkeys_index + 1:where_index], where, max(count, 1)


def _mpop(session: Session, keys: list, where: int, count: int) -> Any:
    """Pop from the first non-empty key; None if there is none."""
    db = session.db
    for key in keys:
        zset = _write(db, key)
        if zset:
            size = len(zset)
            members, scores = _pop(session, db, key, zset, where, count)
            _propagate_pop(session, key, where, min(count, size))
            return [key, [[m, s] for m, s in zip(members, scores)]]
    return None


def _mpop_keys(numkeys_index: int) -> Callable[[list[bytes]], list[int]]:
    def keys(argv: list[bytes]) -> list[int]:
        try:
            numkeys = int(argv[numkeys_index])
        except (ValueError, IndexError):
            return []
        if numkeys < 1 or numkeys_index + numkeys >= len(argv):
            return []
        return list(range(numkeys_index + 1, numkeys_index + 1 + numkeys))
    return keys


@command("zmpop", -4, "write movablekeys", group="sorted_set", since="7.0.0",
         summary="Returns the highest- or lowest-scoring members from one or more sorted sets "
                 "after removing them. Deletes the sorted set if the last member was popped.",
         complexity="O(K) + O(M*log(N)) where K is the number of provided keys, N being the "
                    "number of elements in the sorted set, and M being the number of elements "
                    "popped.", keys_fn=_mpop_keys(1))
def zmpop(session: Session, argv: list[bytes]) -> Any:
    keys, where, count = _parse_mpop(argv, 1)
    result = _mpop(session, keys, where, count)
    return NULL_ARRAY if result is None else result


@command("bzmpop", -5, "write blocking movablekeys", group="sorted_set", since="7.0.0",
         summary="Removes and returns a member by score from one or more sorted sets. Blocks "
                 "until a member is available otherwise. Deletes the sorted set if the last "
                 "element was popped.",
         complexity="O(K) + O(M*log(N)) where K is the number of provided keys, N being the "
                    "number of elements in the sorted set, and M being the number of elements "
                    "popped.", keys_fn=_mpop_keys(2))
def bzmpop(session: Session, argv: list[bytes]) -> Any:
    keys, where, count = _parse_mpop(argv, 2)
    timeout = parse_timeout(argv[1])
    result = _mpop(session, keys, where, count)
    return BlockOn(keys, timeout, ZSet) if result is None else result


# -- random members ---------------------------------------------------------------------------


@command("zrandmember", -2, "readonly", (1, 1, 1), group="sorted_set", since="6.2.0",
         summary="Returns one or more random members from a sorted set.",
         complexity="O(N) where N is the number of members returned")
def zrandmember(session: Session, argv: list[bytes]) -> Any:
    n = len(argv)
    if n == 2:
        zset = _read(session.db, argv[1])
        if zset is None:
            return None
        return zset.at(random.randrange(len(zset)))[0]
    if n > 4:
        raise CommandError(errors.SYNTAX)
    withscores = False
    if n == 4:
        if argv[3].lower() != b"withscores":
            raise CommandError(errors.SYNTAX)
        withscores = True
    count = parse_int(argv[2])
    if count < -INT64_MAX:
        raise CommandError("ERR value is out of range, value must between -9223372036854775807 "
                           "and 9223372036854775807")
    if withscores and not -INT64_MAX // 2 <= count <= INT64_MAX // 2:
        raise CommandError("ERR value is out of range")
    zset = _read(session.db, argv[1])
    if zset is None or count == 0:
        return []
    size = len(zset)
    at = zset.at
    if count < 0:  # repetitions allowed, in random order
        randrange = random.randrange
        picks = [at(randrange(size)) for _ in range(-count)]
    elif count >= size:
        picks = list(zset.items())
    else:
        picks = [at(rank) for rank in random.sample(range(size), count)]
    members = [m for m, _ in picks]
    if not withscores:
        return members
    return _with_scores(session.protocol, members, [s for _, s in picks])


# -- union, intersection, difference -----------------------------------------------------------

_SET_UNION, _SET_INTER, _SET_DIFF = 0, 1, 2
_EVENTS = (b"zunionstore", b"zinterstore", b"zdiffstore")


def _source_items(value: Any) -> Any:
    """(member, score) pairs of a sorted set, or of a set (score 1)."""
    if value.__class__ is ZSet:
        return value.dict.items()
    return ((member, 1.0) for member in value)


def _source_score(value: Any, member: bytes) -> float | None:
    if value.__class__ is ZSet:
        return value.dict.get(member)
    return 1.0 if member in value else None


def _setop(session: Session, argv: list[bytes], numkeys_index: int, op: int, store: bool,
           cardinality_only: bool = False) -> Any:
    """zunionInterDiffGenericCommand."""
    setnum = parse_int(argv[numkeys_index])
    if setnum < 1:
        raise CommandError(f"ERR at least 1 input key is needed for "
                           f"'{argv[0].decode(errors='replace').lower()}' command")
    n = len(argv)
    if setnum > n - (numkeys_index + 1):
        raise CommandError(errors.SYNTAX)
    db = session.db
    sources: list[Any] = []
    for key in argv[numkeys_index + 1:numkeys_index + 1 + setnum]:
        value = db.lookup_read(key)
        if value is not None and value.__class__ is not ZSet and not isinstance(value, (set, frozenset)):
            raise WrongTypeError
        sources.append(value)
    weights = [1.0] * setnum
    aggregate = b"sum"
    withscores = False
    limit = 0
    j = numkeys_index + 1 + setnum
    while j < n:
        remaining = n - j
        option = argv[j].lower()
        if op != _SET_DIFF and not cardinality_only and remaining >= setnum + 1 and option == b"weights":
            weights = [parse_score(argv[j + 1 + k], "ERR weight value is not a float")
                       for k in range(setnum)]
            j += setnum + 1
        elif op != _SET_DIFF and not cardinality_only and remaining >= 2 and option == b"aggregate":
            aggregate = argv[j + 1].lower()
            if aggregate not in (b"sum", b"min", b"max"):
                raise CommandError(errors.SYNTAX)
            j += 2
        elif not store and not cardinality_only and option == b"withscores":
            withscores = True
            j += 1
        elif cardinality_only and remaining >= 2 and option == b"limit":
            limit = _positive_limit(argv[j + 1])
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    result: dict[bytes, float] = {}
    if op == _SET_INTER:
        pairs = sorted(zip(sources, weights), key=lambda p: 0 if p[0] is None else len(p[0]))
        first, first_weight = pairs[0]
        cardinality = 0
        if first:
            for member, score in _source_items(first):
                total = first_weight * score
                if total != total:
                    total = 0.0
                for other, weight in pairs[1:]:
                    value = None if other is None else _source_score(other, member)
                    if value is None:
                        break
                    total = _aggregate(total, weight * value, aggregate)
                else:
                    if cardinality_only:
                        cardinality += 1
                        if limit and cardinality >= limit:
                            break
                    else:
                        result[member] = total
        if cardinality_only:
            return cardinality
    elif op == _SET_UNION:
        pairs = sorted(zip(sources, weights), key=lambda p: 0 if p[0] is None else len(p[0]))
        for source, weight in pairs:
            if not source:
                continue
            for member, score in _source_items(source):
                value = weight * score
                if value != value:
                    value = 0.0
                current = result.get(member)
                result[member] = value if current is None else _aggregate(current, value, aggregate)
    else:
        first = sources[0]
        if first:
            others = [s for s in sources[1:] if s]
            if any(s is first for s in others):
                others = [first]
            for member, score in _source_items(first):
                if not any(_source_score(s, member) is not None for s in others):
                    result[member] = score
    if store:
        return _store(session, db, argv[1], ZSet.from_items(result.items()), _EVENTS[op])
    # A reply straight from the result, in (score, member) order: a -0 total
    # stays -0 here, as Redis's temporary skiplist keeps it (a stored set
    # holds 0, as its listpack does).
    ordered = sorted(result.items(), key=lambda pair: (pair[1], pair[0]))
    members = [m for m, _ in ordered]
    if not withscores:
        return members
    return _with_scores(session.protocol, members, [s for _, s in ordered])


def _positive_limit(arg: bytes) -> int:
    # Redis's getPositiveLongFromObjectOrReply: one message for a negative
    # number and for something that is not a number at all.
    try:
        value = parse_int(arg)
    except CommandError:
        value = -1
    if value < 0:
        raise CommandError("ERR LIMIT can't be negative")
    return value


def _aggregate(current: float, value: float, aggregate: bytes) -> float:
    if aggregate == b"sum":
        total = current + value
        return 0.0 if total != total else total  # inf + -inf counts as 0, as Redis
    if aggregate == b"min":
        return value if value < current else current
    return value if value > current else current


def _setop_keys(numkeys_index: int) -> Callable[[list[bytes]], list[int]]:
    inner = _mpop_keys(numkeys_index)

    def keys(argv: list[bytes]) -> list[int]:
        found = inner(argv)
        if numkeys_index == 2 and found:
            return [1] + found  # the destination first
        return found
    return keys


_UNION_COMPLEXITY = ("O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted "
                     "sets, and M being the number of elements in the resulting sorted set.")
_INTER_COMPLEXITY = ("O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, "
                     "K being the number of input sorted sets and M being the number of elements "
                     "in the resulting sorted set.")
_DIFF_COMPLEXITY = ("O(L + (N-K)log(N)) worst case where L is the total number of elements in "
                    "all the sets, N is the size of the first set, and K is the size of the "
                    "result set.")


@command("zunion", -3, "readonly movablekeys", group="sorted_set", since="6.2.0",
         summary="Returns the union of multiple sorted sets.", complexity=_UNION_COMPLEXITY,
         keys_fn=_setop_keys(1))
def zunion(session: Session, argv: list[bytes]) -> Any:
    return _setop(session, argv, 1, _SET_UNION, False)


@command("zinter", -3, "readonly movablekeys", group="sorted_set", since="6.2.0",
         summary="Returns the intersect of multiple sorted sets.", complexity=_INTER_COMPLEXITY,
         keys_fn=_setop_keys(1))
def zinter(session: Session, argv: list[bytes]) -> Any:
    return _setop(session, argv, 1, _SET_INTER, False)


@command("zdiff", -3, "readonly movablekeys", group="sorted_set", since="6.2.0",
         summary="Returns the difference between multiple sorted sets.",
         complexity=_DIFF_COMPLEXITY, keys_fn=_setop_keys(1))
def zdiff(session: Session, argv: list[bytes]) -> Any:
    return _setop(session, argv, 1, _SET_DIFF, False)


@command("zunionstore", -4, "write denyoom movablekeys", (1, 1, 1), group="sorted_set",
         since="2.0.0", summary="Stores the union of multiple sorted sets in a key.",
         complexity=_UNION_COMPLEXITY, keys_fn=_setop_keys(2))
def zunionstore(session: Session, argv: list[bytes]) -> Any:
    return _setop(session, argv, 2, _SET_UNION, True)


@command("zinterstore", -4, "write denyoom movablekeys", (1, 1, 1), group="sorted_set",
         since="2.0.0", summary="Stores the intersect of multiple sorted sets in a key.",
         complexity=_INTER_COMPLEXITY, keys_fn=_setop_keys(2))
def zinterstore(session: Session, argv: list[bytes]) -> Any:
    return _setop(session, argv, 2, _SET_INTER, True)


@command("zdiffstore", -4, "write denyoom movablekeys", (1, 1, 1), group="sorted_set",
         since="6.2.0", summary="Stores the difference of multiple sorted sets in a key.",
         complexity=_DIFF_COMPLEXITY, keys_fn=_setop_keys(2))
def zdiffstore(session: Session, argv: list[bytes]) -> Any:
    return _setop(session, argv, 2, _SET_DIFF, True)


@command("zintercard", -3, "readonly movablekeys", group="sorted_set", since="7.0.0",
         summary="Returns the number of members of the intersect of multiple sorted sets.",
         complexity="O(N*K) worst case with N being the smallest input sorted set, K being the "
                    "number of input sorted sets.",
         keys_fn=_setop_keys(1))
def zintercard(session: Session, argv: list[bytes]) -> Any:
    return _setop(session, argv, 1, _SET_INTER, False, cardinality_only=True)


# -- ZSCAN (storage/scan.py) --------------------------------------------------------------------------------------

@command("zscan", -3, "readonly", (1, 1, 1), group="sorted_set", since="2.8.0",
         summary="Iterates over members and scores of a sorted set.",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough command "
                    "calls for the cursor to return back to 0. N is the number of elements inside "
                    "the collection.")
def zscan(session: Session, argv: list[bytes]) -> Any:
    """A small set (up to max(COUNT, 128) members) comes whole, in (score,
    member) order as Redis's listpack; a bigger one is walked over a snapshot
    of its members taken at cursor 0 (storage/scan.py), so a member present
    for the whole scan is returned whatever is removed meanwhile."""
    cursor = parse_cursor(argv[2])
    count, match, _, _ = parse_scan_options(argv, 3)
    zset = _read(session.db, argv[1])
    if zset is None:
        return [b"0", []]
    scores = zset.dict
    if not cursor and len(scores) <= max(count, SCANS.SMALL):
        next_cursor, members = 0, zset.slice(0, len(scores))[0]
    else:
        next_cursor, members = SCANS.chunk(session.db, argv[1], zset, cursor, count, scores)
    out: list = []
    for member in members:
        score = scores.get(member)
        if score is not None and (match is None or match(member)):
            out.append(member)
            out.append(format_double(score))  # bulk strings, also in RESP3 (as Redis)
    return [b"%d" % next_cursor, out]
