"""List commands (t_list.c): a list is stored as a `collections.deque[bytes]`.

Representation
--------------
CPython's deque is a doubly linked list of 64-slot blocks: O(1) pushes and
pops at both ends, and indexing walks block by block from the nearer end.
That is what Redis's quicklist is (a linked list of packed nodes), so OBJECT
ENCODING answers "quicklist" for every list; Redis 7.2+ says "listpack" for
small lists, a compact form we do not have. An empty list never stays in the
keyspace: the command that empties it deletes the key (and sends "del").

Complexity, as Redis documents it
---------------------------------
* LINDEX/LSET: O(N) to the nearer end (deque indexing walks from there).
* LRANGE: O(S+N) where S is the distance of the start from the nearer end:
  from the head `islice(dq, start, stop)`, from the tail the same over
  `reversed(dq)`, then reversed back.
* LTRIM: O(number removed), popping from each end.
* LREM, LPOS, LINSERT: O(N) scans in C (`dq.index`) or one Python pass.

Blocking variants (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP)
-------------------------------------------------------
They try the non-blocking form first; when every key is missing they return
`BlockOn(keys, timeout, wants=deque)` (commands/_blocking.py) and the server
parks the client (server/blocking.py). When a key gets a list the same argv
is run again, so the served reply and its events are the ordinary ones.
Inside MULTI a blocking command answers at once: a null array, a null bulk
for BLMOVE/BRPOPLPUSH (Redis's CLIENT_DENY_BLOCKING replies).

Propagation: BLPOP/BRPOP go out as LPOP/RPOP, BLMPOP/LMPOP as LPOP/RPOP with
the count actually popped, BLMOVE as LMOVE, BRPOPLPUSH as RPOPLPUSH
(`session.propagate`), as Redis rewrites them.

Keyspace notifications ("l" class): lpush, rpush, lpop, rpop, lset,
linsert, lrem, ltrim; LMOVE sends the push on the destination first, then
the pop on the source (Redis's order), then "del" if the source emptied.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import TYPE_CHECKING, Any

from ..protocol import errors
from ..protocol.errors import CommandError, WrongTypeError
from ..protocol.resp import NULL_ARRAY, OK
from ..pubsub.notifications import NOTIFY_GENERIC, NOTIFY_LIST, notify
from ._args import parse_int, parse_timeout
from ._blocking import BlockOn
from .keys import register_type
from .registry import command

if TYPE_CHECKING:
    from ..server.session import Session
    from ..storage.keyspace import Keyspace

LONG_MAX = 2**63 - 1
POSITIVE = "ERR value is out of range, must be positive"
RANK_ZERO = ("ERR RANK can't be zero: use 1 to start from the first match, 2 from the "
             "second ... or use negative to start from the end of the list")
RANK_RANGE = ("ERR value is out of range, value must between "
              "-9223372036854775807 and 9223372036854775807")
COUNT_NEGATIVE = "ERR COUNT can't be negative"
MAXLEN_NEGATIVE = "ERR MAXLEN can't be negative"
NUMKEYS_POSITIVE = "ERR numkeys should be greater than 0"
COUNT_POSITIVE = "ERR count should be greater than 0"

LEFT, RIGHT = 0, 1

# A deque is a linked list of blocks: Redis's quicklist (see the header).
register_type(deque, b"list", lambda value: b"quicklist")


def _read_list(db: Keyspace, key: bytes) -> deque | None:
    """The list at key for a read command, None if missing, WRONGTYPE otherwise."""
    value = db.lookup_read(key)
    if value is None or value.__class__ is deque:
        return value
    raise WrongTypeError


def _write_list(db: Keyspace, key: bytes) -> deque | None:
    value = db.lookup(key)
    if value is None or value.__class__ is deque:
        return value
    raise WrongTypeError


def _where(arg: bytes) -> int:
    """LEFT|RIGHT (getListPositionFromObjectOrReply)."""
    word = arg.upper()
    if word == b"LEFT":
        return LEFT
    if word == b"RIGHT":
        return RIGHT
    raise CommandError(errors.SYNTAX)


def _positive(arg: bytes, message: str) -> int:
    """getPositiveLongFromObjectOrReply: 0..LONG_MAX, `message` for anything else."""
    value = parse_int(arg, message)
    if value < 0:
        raise CommandError(message)
    return value


def _emptied(session: Session, db: Keyspace, key: bytes, dq: deque) -> None:
    """After a removal: delete the key if the list is now empty ("del")."""
    if dq:
        db.modified(key)
        return
    db.delete(key)
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_GENERIC, b"del", key)


# -- push --------------------------------------------------------------------


def _push(session: Session, argv: list[bytes], where: int, only_existing: bool) -> int:
    db = session.db
    key = argv[1]
    dq = _write_list(db, key)
    if dq is None:
        if only_existing:
            return 0
        dq = deque()
        if where == LEFT:
            dq.extendleft(argv[2:])
        else:
            dq.extend(argv[2:])
        db.set(key, dq)
    else:
        if where == LEFT:
            dq.extendleft(argv[2:])
        else:
            dq.extend(argv[2:])
        db.modified(key)
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_LIST, b"lpush" if where == LEFT else b"rpush", key)
    return len(dq)


@command("lpush", -3, "write denyoom fast", (1, 1, 1), group="list",
         summary="Prepends one or more elements to a list. Creates the key if it doesn't exist.",
         complexity="O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
def lpush(session: Session, argv: list[bytes]) -> Any:
    return _push(session, argv, LEFT, False)


@command("rpush", -3, "write denyoom fast", (1, 1, 1), group="list",
         summary="Appends one or more elements to a list. Creates the key if it doesn't exist.",
         complexity="O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
def rpush(session: Session, argv: list[bytes]) -> Any:
    return _push(session, argv, RIGHT, False)


@command("lpushx", -3, "write denyoom fast", (1, 1, 1), group="list", since="2.2.0",
         summary="Prepends one or more elements to a list only when the list exists.",
         complexity="O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
def lpushx(session: Session, argv: list[bytes]) -> Any:
    return _push(session, argv, LEFT, True)


@command("rpushx", -3, "write denyoom fast", (1, 1, 1), group="list", since="2.2.0",
         summary="Appends an element to a list only when the list exists.",
         complexity="O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
def rpushx(session: Session, argv: list[bytes]) -> Any:
    return _push(session, argv, RIGHT, True)


# -- pop ---------------------------------------------------------------------


def _pop_range(session: Session, db: Keyspace, key: bytes, dq: deque, where: int, count: int) -> list:
    """Pop up to count elements from one end (listPopRangeAndReplyWithKey):
    the event, then the key's deletion if it emptied."""
    count = min(count, len(dq))
    pop = dq.popleft if where == LEFT else dq.pop
    popped = [pop() for _ in range(count)]
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_LIST, b"lpop" if where == LEFT else b"rpop", key)
    _emptied(session, db, key, dq)
    return popped


def _pop(session: Session, argv: list[bytes], where: int) -> Any:
    if len(argv) > 3:
        raise CommandError(errors.wrong_arity(argv[0].decode("utf-8", "replace").lower()))
    count = _positive(argv[2], POSITIVE) if len(argv) == 3 else -1
    db = session.db
    key = argv[1]
    dq = _write_list(db, key)
    if dq is None:
        return NULL_ARRAY if count >= 0 else None
    if count == 0:
        return []
    if count < 0:
        value = dq.popleft() if where == LEFT else dq.pop()
        if db.notify_flags:
            notify(session.server, db.index, NOTIFY_LIST, b"lpop" if where == LEFT else b"rpop", key)
        _emptied(session, db, key, dq)
        return value
    return _pop_range(session, db, key, dq, where, count)


@command("lpop", -2, "write fast", (1, 1, 1), group="list",
         summary="Returns the first elements in a list after removing it. Deletes the list if the last element was popped.",
         complexity="O(N) where N is the number of elements returned")
def lpop(session: Session, argv: list[bytes]) -> Any:
    return _pop(session, argv, LEFT)


@command("rpop", -2, "write fast", (1, 1, 1), group="list",
         summary="Returns and removes the last elements of the list. Deletes the list if the last element was popped.",
         complexity="O(N) where N is the number of elements returned")
def rpop(session: Session, argv: list[bytes]) -> Any:
    return _pop(session, argv, RIGHT)


# -- reading -----------------------------------------------------------------


@command("llen", 2, "readonly fast", (1, 1, 1), group="list",
         summary="Returns the length of a list.", complexity="O(1)")
def llen(session: Session, argv: list[bytes]) -> Any:
    dq = _read_list(session.db, argv[1])
    return 0 if dq is None else len(dq)


def _range(dq: deque, start: int, stop: int) -> list:
    """Elements start..stop (inclusive, already clipped to the list), walking
    from the nearer end: O(S+N)."""
    size = len(dq)
    if start <= size - 1 - stop:
        return list(islice(dq, start, stop + 1))
    out = list(islice(reversed(dq), size - 1 - stop, size - start))
    out.reverse()
    return out


@command("lrange", 4, "readonly", (1, 1, 1), group="list",
         summary="Returns a range of elements from a list.",
         complexity="O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.")
def lrange(session: Session, argv: list[bytes]) -> Any:
    start = parse_int(argv[2])
    stop = parse_int(argv[3])
    dq = _read_list(session.db, argv[1])
    if dq is None:
        return []
    size = len(dq)
    if start < 0:
        start = max(start + size, 0)
    if stop < 0:
        stop += size
    if start > stop or start >= size:
        return []
    return _range(dq, start, min(stop, size - 1))


@command("lindex", 3, "readonly", (1, 1, 1), group="list",
         summary="Returns an element from a list by its index.",
         complexity="O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).")
def lindex(session: Session, argv: list[bytes]) -> Any:
    dq = _read_list(session.db, argv[1])
    if dq is None:
        return None  # before the index is parsed, as Redis
    index = parse_int(argv[2])
    if index < 0:
        index += len(dq)
    if not 0 <= index < len(dq):
        return None
    return dq[index]  # deque indexing walks from the nearer end


@command("lpos", -3, "readonly", (1, 1, 1), group="list", since="6.0.6",
         summary="Returns the index of matching elements in a list.",
         complexity="O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.")
def lpos(session: Session, argv: list[bytes]) -> Any:
    rank, count, maxlen = 1, -1, 0
    i = 3
    n = len(argv)
    while i < n:
        option = argv[i].upper()
        more = i + 1 < n
        if option == b"RANK" and more:
            i += 1
            rank = parse_int(argv[i])
            # Redis 7.4 refuses LONG_MIN (-LONG_MAX..LONG_MAX); 7.0 accepted it.
            if rank < -LONG_MAX:
                raise CommandError(RANK_RANGE)
            if rank == 0:
                raise CommandError(RANK_ZERO)
        elif option == b"COUNT" and more:
            i += 1
            count = _positive(argv[i], COUNT_NEGATIVE)
        elif option == b"MAXLEN" and more:
            i += 1
            maxlen = _positive(argv[i], MAXLEN_NEGATIVE)
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    dq = _read_list(session.db, argv[1])
    if dq is None:
        return [] if count >= 0 else None
    element = argv[2]
    size = len(dq)
    matches: list[int] = []
    wanted = count if count > 0 else (1 if count < 0 else size)
    skip = abs(rank) - 1
    if rank > 0:
        # From the head: deque.index scans in C, resuming after each match.
        limit = min(size, maxlen) if maxlen else size
        index = -1
        while len(matches) < wanted:
            try:
                index = dq.index(element, index + 1, limit)
            except ValueError:
                break
            if skip:
                skip -= 1
            else:
                matches.append(index)
        return matches if count >= 0 else (matches[0] if matches else None)
    items = islice(reversed(dq), maxlen) if maxlen else reversed(dq)
    for offset, item in enumerate(items):
        if item == element:
            if skip:
                skip -= 1
                continue
            matches.append(size - 1 - offset)
            if len(matches) >= wanted:
                break
    if count >= 0:
        return matches
    return matches[0] if matches else None


# -- changes in place --------------------------------------------------------


@command("lset", 4, "write denyoom", (1, 1, 1), group="list",
         summary="Sets the value of an element in a list by its index.",
         complexity="O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).")
def lset(session: Session, argv: list[bytes]) -> Any:
    db = session.db
    key = argv[1]
    dq = _write_list(db, key)
    if dq is None:
        raise CommandError(errors.NO_SUCH_KEY)
    index = parse_int(argv[2])
    if index < 0:
        index += len(dq)
    if not 0 <= index < len(dq):
        raise CommandError(errors.INDEX_OUT_OF_RANGE)
    dq[index] = argv[3]
    db.modified(key)
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_LIST, b"lset", key)
    return OK


@command("linsert", 5, "write denyoom", (1, 1, 1), group="list", since="2.2.0",
         summary="Inserts an element before or after another element in a list.",
         complexity="O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).")
def linsert(session: Session, argv: list[bytes]) -> Any:
    where = argv[2].upper()
    if where not in (b"BEFORE", b"AFTER"):
        raise CommandError(errors.SYNTAX)
    db = session.db
    key = argv[1]
    dq = _write_list(db, key)
    if dq is None:
        return 0
    try:
        index = dq.index(argv[3])
    except ValueError:
        return -1
    dq.insert(index + (where == b"AFTER"), argv[4])
    db.modified(key)
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_LIST, b"linsert", key)
    return len(dq)


@command("lrem", 4, "write", (1, 1, 1), group="list",
         summary="Removes elements from a list. Deletes the list if the last element was removed.",
         complexity="O(N+M) where N is the length of the list and M is the number of elements removed.")
def lrem(session: Session, argv: list[bytes]) -> Any:
    count = parse_int(argv[2])
    db = session.db
    key = argv[1]
    dq = _write_list(db, key)
    if dq is None:
        return 0
    element = argv[3]
    limit = abs(count) if count else len(dq)
    items = list(dq) if count >= 0 else list(reversed(dq))
    kept = []
    removed = 0
    for item in items:
        if removed < limit and item == element:
            removed += 1
        else:
            kept.append(item)
    if not removed:
        return 0
    if count < 0:
        kept.reverse()
    dq.clear()
    dq.extend(kept)
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_LIST, b"lrem", key)
    _emptied(session, db, key, dq)
    return removed


@command("ltrim", 4, "write", (1, 1, 1), group="list",
         summary="Removes elements from both ends a list. Deletes the list if all elements were trimmed.",
         complexity="O(N) where N is the number of elements to be removed by the operation.")
def ltrim(session: Session, argv: list[bytes]) -> Any:
    start = parse_int(argv[2])
    stop = parse_int(argv[3])
    db = session.db
    key = argv[1]
    dq = _write_list(db, key)
    if dq is None:
        return OK
    size = len(dq)
    if start < 0:
        start = max(start + size, 0)
    if stop < 0:
        stop += size
    if start > stop or start >= size:
        left, right = size, 0  # everything goes
    else:
        left, right = start, size - 1 - min(stop, size - 1)
    if left >= size:
        dq.clear()
    elif size - left - right < left + right:
        # Keeping fewer than it removes: copy the kept span out (in C) and
        # refill, rather than pop each removed element in Python.
        kept = _range(dq, left, size - 1 - right)
        dq.clear()
        dq.extend(kept)
    else:
        for _ in range(left):
            dq.popleft()
        for _ in range(right):
            dq.pop()
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_LIST, b"ltrim", key)
    _emptied(session, db, key, dq)
    return OK


# -- moving between lists ----------------------------------------------------


def _move(session: Session, src: bytes, dst: bytes, wherefrom: int, whereto: int) -> Any:
    """lmoveGenericCommand: None when src is missing."""
    db = session.db
    source = _write_list(db, src)
    if source is None:
        return None
    target = _write_list(db, dst)
    value = source.popleft() if wherefrom == LEFT else source.pop()
    if target is None:
        db.set(dst, deque((value,)))
    else:
        if whereto == LEFT:
            target.appendleft(value)
        else:
            target.append(value)
        db.modified(dst)
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_LIST, b"lpush" if whereto == LEFT else b"rpush", dst)
        notify(session.server, db.index, NOTIFY_LIST, b"lpop" if wherefrom == LEFT else b"rpop", src)
    _emptied(session, db, src, source)
    return value


@command("lmove", 5, "write denyoom", (1, 2, 1), group="list", since="6.2.0",
         summary="Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.",
         complexity="O(1)")
def lmove(session: Session, argv: list[bytes]) -> Any:
    wherefrom = _where(argv[3])
    whereto = _where(argv[4])
    return _move(session, argv[1], argv[2], wherefrom, whereto)


@command("rpoplpush", 3, "write denyoom", (1, 2, 1), group="list", since="1.2.0",
         summary="Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.",
         complexity="O(1)")
def rpoplpush(session: Session, argv: list[bytes]) -> Any:
    return _move(session, argv[1], argv[2], RIGHT, LEFT)


def _mpop_args(argv: list[bytes], numkeys_index: int) -> tuple[list[bytes], int, int]:
    """numkeys key [key ...] LEFT|RIGHT [COUNT count] -> (keys, where, count)."""
    numkeys = parse_int(argv[numkeys_index], NUMKEYS_POSITIVE)
    if numkeys < 1:
        raise CommandError(NUMKEYS_POSITIVE)
    where_index = numkeys_index + numkeys + 1
    if where_index >= len(argv):
        raise CommandError(errors.SYNTAX)
    where = _where(argv[where_index])
    count = -1
    i = where_index + 1
    while i < len(argv):
        if count == -1 and argv[i].upper() == b"COUNT" and i + 1 < len(argv):
            i += 1
            count = parse_int(argv[i], COUNT_POSITIVE)
            if count < 1:
                raise CommandError(COUNT_POSITIVE)
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    return argv[numkeys_index + 1:where_index], where, 1 if count == -1 else count


def _mpop(session: Session, keys: list[bytes], where: int, count: int) -> Any:
    """mpopGenericCommand: [key, [elements]] from the first non-empty list,
    None when there is none."""
    db = session.db
    for key in keys:
        dq = _write_list(db, key)
        if dq is None:
            continue
        popped = _pop_range(session, db, key, dq, where, count)
        session.propagate = [[b"LPOP" if where == LEFT else b"RPOP", key, b"%d" % len(popped)]]
        return [key, popped]
    return None


def _mpop_keys(numkeys_index: int) -> Any:
    def keys(argv: list[bytes]) -> list[int]:
        try:
            numkeys = int(argv[numkeys_index])
        except (ValueError, IndexError):
            return []
        return list(range(numkeys_index + 1, min(numkeys_index + 1 + max(numkeys, 0), len(argv))))
    return keys


@command("lmpop", -4, "write", (0, 0, 0), group="list", since="7.0.0",
         summary="Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.",
         complexity="O(N+M) where N is the number of provided keys and M is the number of elements returned.",
         keys_fn=_mpop_keys(1))
def lmpop(session: Session, argv: list[bytes]) -> Any:
    keys, where, count = _mpop_args(argv, 1)
    reply = _mpop(session, keys, where, count)
    return NULL_ARRAY if reply is None else reply


# -- blocking ----------------------------------------------------------------


def _blocking_pop(session: Session, argv: list[bytes], where: int) -> Any:
    timeout = parse_timeout(argv[-1])
    db = session.db
    keys = argv[1:-1]
    for key in keys:
        dq = _write_list(db, key)
        if dq is None:
            continue
        value = dq.popleft() if where == LEFT else dq.pop()
        if db.notify_flags:
            notify(session.server, db.index, NOTIFY_LIST, b"lpop" if where == LEFT else b"rpop", key)
        _emptied(session, db, key, dq)
        session.propagate = [[b"LPOP" if where == LEFT else b"RPOP", key]]
        return [key, value]
    return BlockOn(keys, timeout, deque)


@command("blpop", -3, "write noscript blocking", (1, -2, 1), group="list", since="2.0.0",
         summary="Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
         complexity="O(N) where N is the number of provided keys.")
def blpop(session: Session, argv: list[bytes]) -> Any:
    return _blocking_pop(session, argv, LEFT)


@command("brpop", -3, "write noscript blocking", (1, -2, 1), group="list", since="2.0.0",
         summary="Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
         complexity="O(N) where N is the number of provided keys.")
def brpop(session: Session, argv: list[bytes]) -> Any:
    return _blocking_pop(session, argv, RIGHT)


def _blocking_move(session: Session, argv: list[bytes], wherefrom: int, whereto: int, timeout_arg: bytes,
                   propagate: list) -> Any:
    timeout = parse_timeout(timeout_arg)
    value = _move(session, argv[1], argv[2], wherefrom, whereto)
    if value is None:
        # Null bulk, not null array, when it may not block (blmoveGenericCommand).
        return BlockOn([argv[1]], timeout, deque, None)
    session.propagate = [propagate]
    return value


@command("blmove", 6, "write denyoom noscript blocking", (1, 2, 1), group="list", since="6.2.0",
         summary="Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
         complexity="O(1)")
def blmove(session: Session, argv: list[bytes]) -> Any:
    wherefrom = _where(argv[3])
    whereto = _where(argv[4])
    return _blocking_move(session, argv, wherefrom, whereto, argv[5],
                          [b"LMOVE", argv[1], argv[2], argv[3], argv[4]])


@command("brpoplpush", 4, "write denyoom noscript blocking", (1, 2, 1), group="list", since="2.2.0",
         summary="Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
         complexity="O(1)")
def brpoplpush(session: Session, argv: list[bytes]) -> Any:
    return _blocking_move(session, argv, RIGHT, LEFT, argv[3], [b"RPOPLPUSH", argv[1], argv[2]])


@command("blmpop", -5, "write blocking", (0, 0, 0), group="list", since="7.0.0",
         summary="Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
         complexity="O(N+M) where N is the number of provided keys and M is the number of elements returned.",
         keys_fn=_mpop_keys(2))
def blmpop(session: Session, argv: list[bytes]) -> Any:
    timeout = parse_timeout(argv[1])
    keys, where, count = _mpop_args(argv, 2)
    reply = _mpop(session, keys, where, count)
    return BlockOn(keys, timeout, deque) if reply is None else reply
