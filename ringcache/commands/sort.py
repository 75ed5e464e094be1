"""SORT and SORT_RO (sort.c): sort a list, set or sorted set, optionally by
other keys' values, fetch other keys' values for each element, store the
result as a list.

Theory of operation
-------------------
The steps are Redis's sortCommandGeneric, in its order, because the order
decides which error a bad command gets and which elements come out:

1. parse the options (ASC/DESC, ALPHA, LIMIT, STORE, BY, GET), stopping at
   the first bad one;
2. look the key up (a missing key sorts as an empty list);
3. `BY pattern` without `*` means "do not sort" (BY nosort): lists and
   sorted sets keep their own order (LIMIT taken from it directly, DESC
   walking from the other end); a set with STORE is sorted ALPHA instead,
   so that the stored list is the same on every replica;
4. otherwise every element gets a weight: the element itself, or the value
   `BY` finds for it (missing: weight 0, or no weight for ALPHA, which
   sorts first), read as a C double (strtod; anything left over, NaN or an
   out-of-range number is "One or more scores can't be converted into
   double"); numeric ties are broken by comparing the elements' bytes, so
   the result is deterministic; DESC reverses the whole comparison;
5. LIMIT offset count selects the output, then each GET pattern is
   resolved per element (`#` is the element itself, `key*->field` reads a
   hash field, a pattern without `*` finds nothing).

Patterns substitute the first `*` with the element; a `->` after it names
a hash field. ALPHA compares bytes (strcoll in the C locale).
"""

from __future__ import annotations

import functools
import math
from collections import deque
from typing import TYPE_CHECKING, Any

from ..protocol import errors
from ..protocol.errors import CommandError, WrongTypeError
from ..pubsub.notifications import NOTIFY_GENERIC, NOTIFY_LIST, notify
from ..storage.zset import ZSet
from ._args import _strtod, parse_int
from .keyspecs import spec
from .registry import command

if TYPE_CHECKING:
    from ..server.session import Session
    from ..storage.keyspace import Keyspace

NOT_DOUBLE = "ERR One or more scores can't be converted into double"
_DBL_MIN = 2.2250738585072014e-308


def _sort_keys(argv: list[bytes]) -> list[int]:
    """sortGetKeys: the key, and the last STORE's destination."""
    keys = [1]
    store = 0
    i = 2
    skip = {b"limit": 2, b"get": 1, b"by": 1}
    while i < len(argv):
        option = argv[i].lower()
        if option in skip:
            i += skip[option]
        elif option == b"store" and i + 1 < len(argv):
            store = i + 1
        i += 1
    return keys + [store] if store else keys


def _weight(value: bytes) -> float | None:
    """strtod over the whole value, as SORT reads a weight; None if it is
    not a number (or NaN, or out of range)."""
    number = _strtod(value)
    if number is None or math.isnan(number):
        return None
    if math.isinf(number) and b"inf" not in value.lower():
        return None  # ERANGE: too large
    if number != 0 and abs(number) < _DBL_MIN:
        return None  # ERANGE: underflow
    if number == 0 and any(48 < c <= 57 for c in value.split(b"e")[0].split(b"E")[0]):
        return None  # ERANGE: a non-zero number that reads as zero
    return number


def lookup_pattern(db: Keyspace, pattern: bytes, element: bytes) -> bytes | None:
    """lookupKeyByPattern: the string (or hash field) `pattern` names for
    element; `#` is the element itself."""
    if pattern == b"#":
        return element
    star = pattern.find(b"*")
    if star < 0:
        return None
    arrow = pattern.find(b"->", star + 1)
    field = None
    if arrow >= 0 and arrow + 2 < len(pattern):
        field = pattern[arrow + 2:]
        key = pattern[:star] + element + pattern[star + 1:arrow]
    else:
        key = pattern[:star] + element + pattern[star + 1:]
    value = db.lookup_read(key)
    if value is None:
        return None
    if field is not None:
        return value.get(field) if isinstance(value, dict) else None
    return value if value.__class__ is bytes else None


def _sort(session: Session, argv: list[bytes], read_only: bool) -> Any:
    desc = alpha = dont_sort = False
    limit_start, limit_count = 0, -1
    store: bytes | None = None
    by: bytes | None = None
    gets: list[bytes] = []
    in_cluster = bool(session.server.config["cluster-enabled"])
    i, argc = 2, len(argv)
    while i < argc:
        option = argv[i].lower()
        left = argc - i - 1
        if option == b"asc":
            desc = False
        elif option == b"desc":
            desc = True
        elif option == b"alpha":
            alpha = True
        elif option == b"limit" and left >= 2:
            limit_start = parse_int(argv[i + 1])
            limit_count = parse_int(argv[i + 2])
            i += 2
        elif option == b"store" and left >= 1 and not read_only:
            store = argv[i + 1]
            i += 1
        elif option == b"by" and left >= 1:
            by = argv[i + 1]
            if b"*" not in by:
                dont_sort = True
            elif in_cluster:
                raise CommandError("ERR BY option of SORT denied in Cluster mode.")
            i += 1
        elif option == b"get" and left >= 1:
            if in_cluster:
                raise CommandError("ERR GET option of SORT denied in Cluster mode.")
            gets.append(argv[i + 1])
            i += 1
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    db = session.db
    value = db.lookup_read(argv[1])
    if value is None:
        value = deque()
    elif not isinstance(value, (deque, set, ZSet)):
        raise WrongTypeError
    if dont_sort and isinstance(value, set) and store is not None:
        dont_sort, alpha, by = False, True, None  # a stored result must not depend on set order
    size = len(value)
    start = max(limit_start, 0)
    end = size - 1 if limit_count < 0 else start + limit_count - 1
    if start >= size:
        start, end = size - 1, size - 2
    end = min(end, size - 1)
    if dont_sort and not isinstance(value, set):
        # The container's own order, the LIMIT range taken from it directly.
        ordered = list(value) if isinstance(value, deque) else [m for m, _ in value.items()]
        if desc:
            ordered.reverse()
        elements = ordered[start:end + 1] if end >= start else []
    else:
        elements = list(value) if not isinstance(value, ZSet) else [m for m, _ in value.items()]
        if not dont_sort:
            elements = _sorted(db, elements, by, alpha, desc, store is not None)
        elements = elements[start:end + 1] if end >= start else []
    if not gets:
        out: list[Any] = elements
    else:
        out = [lookup_pattern(db, pattern, element) for element in elements for pattern in gets]
    if store is None:
        return out
    stored = deque(b"" if item is None else item for item in out)
    if stored:
        db.set(store, stored)
        if db.notify_flags:
            notify(session.server, db.index, NOTIFY_LIST, b"sortstore", store)
    elif db.delete(store) and db.notify_flags:
        notify(session.server, db.index, NOTIFY_GENERIC, b"del", store)
    return len(stored)


def _sorted(db: Keyspace, elements: list[bytes], by: bytes | None, alpha: bool, desc: bool,
            storing: bool) -> list[bytes]:
    weights: list[Any] = []
    bad = False
    for element in elements:
        source = element if by is None else lookup_pattern(db, by, element)
        if alpha:
            weights.append(source if by is not None else None)
        elif source is None:
            weights.append(0.0)
        else:
            number = _weight(source)
            if number is None:
                bad = True
                number = 0.0
            weights.append(number)
    if bad:
        raise CommandError(NOT_DOUBLE)
    sign = -1 if desc else 1

    def compare(a: tuple[bytes, Any], b: tuple[bytes, Any]) -> int:
        (ea, wa), (eb, wb) = a, b
        if not alpha:
            cmp = (wa > wb) - (wa < wb) or (ea > eb) - (ea < eb)
        elif by is not None:
            if wa is None or wb is None:
                cmp = 0 if wa is wb else (-1 if wa is None else 1)
            else:
                cmp = (wa > wb) - (wa < wb)
        else:
            cmp = (ea > eb) - (ea < eb)
        return sign * cmp

    pairs = sorted(zip(elements, weights), key=functools.cmp_to_key(compare))
    return [element for element, _ in pairs]


_BY_GET_SPEC = spec("RO access", unknown=True,
                    notes="For the optional BY/GET keyword. It is marked 'unknown' because the key "
                          "names derive from the content of the key we sort")
_STORE_SPEC = spec("OW update", unknown=True,
                   notes="For the optional STORE keyword. It is marked 'unknown' because the keyword "
                         "can appear anywhere in the argument array")


@command("sort", -2, "write denyoom", (1, 1, 1), group="list", since="1.0.0", keys_fn=_sort_keys,
         key_specs=(spec("RO access", index=1), _BY_GET_SPEC, _STORE_SPEC),
         acl="@set @sortedset @dangerous",
         summary="Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
         complexity="O(N+M*log(M)) where N is the number of elements in the list or set to sort, "
                    "and M the number of returned elements. When the elements are not sorted, "
                    "complexity is O(N).")
def sort(session: Session, argv: list[bytes]) -> Any:
    return _sort(session, argv, False)


@command("sort_ro", -2, "readonly", (1, 1, 1), group="list", since="7.0.0", keys_fn=lambda argv: [1],
         key_specs=(spec("RO access", index=1), _BY_GET_SPEC),
         acl="@set @sortedset @dangerous",
         summary="Returns the sorted elements of a list, a set, or a sorted set.",
         complexity="O(N+M*log(M)) where N is the number of elements in the list or set to sort, "
                    "and M the number of returned elements. When the elements are not sorted, "
                    "complexity is O(N).")
def sort_ro(session: Session, argv: list[bytes]) -> Any:
    return _sort(session, argv, True)
