"""GEO commands (geo.c): GEOADD GEODIST GEOHASH GEOPOS GEOSEARCH
GEOSEARCHSTORE GEORADIUS GEORADIUSBYMEMBER and the _RO forms.

Positions live in ordinary sorted sets: a member's score is its 52-bit
geohash (storage.geohash), the same number redis-server stores, so ZRANGE,
DUMP and the snapshot see a plain sorted set. GEOADD is ZADD with computed
scores; it goes to the write stream as that ZADD, as Redis rewrites it.

A search (georadiusGeneric) parses its options in Redis's order (the first
bad one decides the error), asks storage.geohash for the cells to visit,
reads each cell's score range from the set in score order, keeps the
members inside the shape, then sorts by distance when asked (COUNT without
ANY implies ASC). Without a sort the order is the cells' order, as Redis.

Coordinates are replied as Redis's addReplyHumanLongDouble writes them
("%.17Lf" without trailing zeros; a RESP3 double with that text) and
distances with four decimals, as bulk strings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol import errors
from ..protocol.errors import CommandError, WrongTypeError
from ..protocol.resp import NULL_ARRAY, Raw
from ..pubsub.notifications import NOTIFY_GENERIC, NOTIFY_ZSET, notify
from ..storage import geohash
from ..storage.zset import ZSet
from ._args import parse_int, parse_score
from .keyspecs import spec
from .registry import command
from .zsets import zadd

if TYPE_CHECKING:
    from ..server.session import Session
    from ..storage.keyspace import Keyspace

UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}
BAD_UNIT = "ERR unsupported unit provided. please use M, KM, FT, MI"
BAD_MEMBER = "ERR could not decode requested zset member"


def _read(db: Keyspace, key: bytes) -> ZSet | None:
    value = db.lookup_read(key)
    if value is None or value.__class__ is ZSet:
        return value
    raise WrongTypeError


def _lonlat(argv: list[bytes], i: int) -> tuple[float, float]:
    """extractLongLatOrReply."""
    longitude = parse_score(argv[i])
    latitude = parse_score(argv[i + 1])
    if not (geohash.LONG_MIN <= longitude <= geohash.LONG_MAX
            and geohash.LAT_MIN <= latitude <= geohash.LAT_MAX):
        raise CommandError("ERR invalid longitude,latitude pair %f,%f" % (longitude, latitude))
    return longitude, latitude


def _unit(arg: bytes) -> float:
    factor = UNITS.get(arg.lower())
    if factor is None:
        raise CommandError(BAD_UNIT)
    return factor


def human(value: float, protocol: int) -> Any:
    """addReplyHumanLongDouble: "%.17Lf" without trailing zeros."""
    text = b"%.17f" % value
    text = text.rstrip(b"0").rstrip(b".")
    if text == b"-0":
        text = b"0"
    return text if protocol == 2 else Raw(b",%s\r\n" % text)


def _position(session: Session, zset: ZSet, member: bytes) -> Any:
    score = zset.score(member)
    if score is None:
        return NULL_ARRAY
    longitude, latitude = geohash.decode_score(score)
    return [human(longitude, session.protocol), human(latitude, session.protocol)]


# -- GEOADD ---------------------------------------------------------------------------


@command("geoadd", -5, "write denyoom", (1, 1, 1), group="geo", since="3.2.0",
         summary="Adds one or more members to a geospatial index. The key is created if it doesn't exist.",
         complexity="O(log(N)) for each item added, where N is the number of elements in the sorted set.")
def geoadd(session: Session, argv: list[bytes]) -> Any:
    first = 2
    xx = nx = False
    while first < len(argv):
        option = argv[first].lower()
        if option == b"nx":
            nx = True
        elif option == b"xx":
            xx = True
        elif option != b"ch":
            break
        first += 1
    if (len(argv) - first) % 3 or (xx and nx):
        raise CommandError(errors.SYNTAX)
    zadd_argv = [b"ZADD", *argv[1:first]]
    for i in range(first, len(argv), 3):
        longitude, latitude = _lonlat(argv, i)
        zadd_argv += [b"%d" % geohash.score(longitude, latitude), argv[i + 2]]
    db = session.db
    dirty = db.dirty
    reply = zadd(session, zadd_argv)
    if db.dirty != dirty:
        session.propagate = [zadd_argv]  # Redis rewrites GEOADD as this ZADD
    return reply


# -- reads of single members -------------------------------------------------------------


@command("geodist", -4, "readonly", (1, 1, 1), group="geo", since="3.2.0",
         summary="Returns the distance between two members of a geospatial index.",
         complexity="O(1)")
def geodist(session: Session, argv: list[bytes]) -> Any:
    to_meter = 1.0
    if len(argv) == 5:
        to_meter = _unit(argv[4])
    elif len(argv) > 5:
        raise CommandError(errors.SYNTAX)
    zset = _read(session.db, argv[1])
    if zset is None:
        return None
    score1, score2 = zset.score(argv[2]), zset.score(argv[3])
    if score1 is None or score2 is None:
        return None
    lon1, lat1 = geohash.decode_score(score1)
    lon2, lat2 = geohash.decode_score(score2)
    return b"%.4f" % (geohash.distance(lon1, lat1, lon2, lat2) / to_meter)


@command("geohash", -2, "readonly", (1, 1, 1), group="geo", since="3.2.0",
         summary="Returns members from a geospatial index as geohash strings.",
         complexity="O(1) for each member requested.")
def geohash_command(session: Session, argv: list[bytes]) -> Any:
    zset = _read(session.db, argv[1])
    out: list[Any] = []
    for member in argv[2:]:
        score = None if zset is None else zset.score(member)
        out.append(None if score is None else geohash.standard_hash(score))
    return out


@command("geopos", -2, "readonly", (1, 1, 1), group="geo", since="3.2.0",
         summary="Returns the longitude and latitude of members from a geospatial index.",
         complexity="O(1) for each member requested.")
def geopos(session: Session, argv: list[bytes]) -> Any:
    zset = _read(session.db, argv[1])
    if zset is None:
        return [NULL_ARRAY] * (len(argv) - 2)
    return [_position(session, zset, member) for member in argv[2:]]


# -- searches ------------------------------------------------------------------------------

RADIUS_COORDS, RADIUS_MEMBER, NOSTORE, SEARCH, SEARCHSTORE = 1, 2, 4, 8, 16


def _distance_arg(argv: list[bytes], i: int) -> tuple[float, float]:
    """extractDistanceOrReply: (radius, meters per unit)."""
    radius = parse_score(argv[i], "ERR need numeric radius")
    if radius < 0:
        raise CommandError("ERR radius cannot be negative")
    return radius, _unit(argv[i + 1])


def _box_arg(argv: list[bytes], i: int) -> tuple[float, float, float]:
    width = parse_score(argv[i], "ERR need numeric width")
    height = parse_score(argv[i + 1], "ERR need numeric height")
    if height < 0 or width < 0:
        raise CommandError("ERR height or width cannot be negative")
    return width, height, _unit(argv[i + 2])


def _member_position(zset: ZSet, member: bytes) -> tuple[float, float]:
    score = zset.score(member)
    if score is None:
        raise CommandError(BAD_MEMBER)
    return geohash.decode_score(score)


def _search(session: Session, argv: list[bytes], src: int, flags: int) -> Any:
    db = session.db
    zset = _read(db, argv[src])
    store: bytes | None = None
    store_dist = False
    center: tuple[float, float] | None = None
    radius: float | None = None
    width = height = 0.0
    conversion = 1.0
    if flags & RADIUS_COORDS:
        base = 6
        center = _lonlat(argv, 2)
        radius, conversion = _distance_arg(argv, 4)
    elif flags & RADIUS_MEMBER:
        base = 5
        if zset is not None:
            center = _member_position(zset, argv[2])
            radius, conversion = _distance_arg(argv, 3)
    else:
        base = 2
        if flags & SEARCHSTORE:
            base = 3
            store = argv[1]
    with_dist = with_hash = with_coord = any_ = False
    from_member = from_loc = by_radius = by_box = False
    sort = 0  # 1 ASC, -1 DESC
    count = 0
    i = base
    argc = len(argv)
    while i < argc:
        option = argv[i].lower()
        left = argc - i - 1
        if option == b"withdist":
            with_dist = True
        elif option == b"withhash":
            with_hash = True
        elif option == b"withcoord":
            with_coord = True
        elif option == b"any":
            any_ = True
        elif option == b"asc":
            sort = 1
        elif option == b"desc":
            sort = -1
        elif option == b"count" and left >= 1:
            count = parse_int(argv[i + 1])
            if count <= 0:
                raise CommandError("ERR COUNT must be > 0")
            i += 1
        elif option in (b"store", b"storedist") and left >= 1 and not flags & (NOSTORE | SEARCH):
            store = argv[i + 1]
            store_dist = option == b"storedist"
            i += 1
        elif option == b"storedist" and flags & SEARCHSTORE:
            store_dist = True
        elif option == b"frommember" and left >= 1 and flags & SEARCH and not from_loc:
            if zset is not None:
                center = _member_position(zset, argv[i + 1])
            from_member = True
            i += 1
        elif option == b"fromlonlat" and left >= 2 and flags & SEARCH and not from_member:
            center = _lonlat(argv, i + 1)
            from_loc = True
            i += 2
        elif option == b"byradius" and left >= 2 and flags & SEARCH and not by_box:
            radius, conversion = _distance_arg(argv, i + 1)
            by_radius = True
            i += 2
        elif option == b"bybox" and left >= 3 and flags & SEARCH and not by_radius:
            width, height, conversion = _box_arg(argv, i + 1)
            radius = None
            by_box = True
            i += 3
        else:
            raise CommandError(errors.SYNTAX)
        i += 1
    if store is not None and (with_dist or with_hash or with_coord):
        what = "GEOSEARCHSTORE" if flags & SEARCHSTORE else "STORE option in GEORADIUS"
        raise CommandError(f"ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
    name = argv[0].decode("utf-8", "replace")
    if flags & SEARCH and not (from_member or from_loc):
        raise CommandError(f"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")
    if flags & SEARCH and not (by_radius or by_box):
        raise CommandError(f"ERR exactly one of BYRADIUS and BYBOX can be specified for {name}")
    if any_ and not count:
        raise CommandError("ERR the ANY argument requires COUNT argument")
    if zset is None:
        if store is None:
            return []
        if db.delete(store) and db.notify_flags:
            notify(session.server, db.index, NOTIFY_GENERIC, b"del", store)
        return 0
    if count and not sort and not any_:
        sort = 1  # the closest COUNT: sorted
    assert center is not None
    shape = geohash.Shape(center[0], center[1], conversion, radius, width, height)
    found = _members_in(zset, shape, count if any_ else 0)
    if not found and store is None:
        return []
    if sort:
        found.sort(key=lambda point: point[0], reverse=sort < 0)
    if count:
        found = found[:count]
    if store is not None:
        return _store(session, db, store, found, conversion, store_dist, flags)
    out: list[Any] = []
    extras = with_dist or with_hash or with_coord
    for dist, score, member, longitude, latitude in found:
        if not extras:
            out.append(member)
            continue
        item: list[Any] = [member]
        if with_dist:
            item.append(b"%.4f" % (dist / conversion))
        if with_hash:
            item.append(int(score))
        if with_coord:
            item.append([human(longitude, session.protocol), human(latitude, session.protocol)])
        out.append(item)
    return out


def _members_in(zset: ZSet, shape: geohash.Shape, limit: int) -> list[tuple[float, float, bytes, float, float]]:
    """membersOfAllNeighbors: (distance m, score, member, lon, lat) of the
    members inside the shape, cell by cell, each cell in score order; at
    most `limit` (0: no limit)."""
    cells = geohash.search_cells(shape)
    found: list[tuple[float, float, bytes, float, float]] = []
    last = 0
    for i, cell in enumerate(cells):
        if cell == (0, 0):
            continue
        # (Redis compares with the last cell visited, but never with the first.)
        if last and cell == cells[last]:
            continue
        if found and limit and len(found) >= limit:
            break
        low, high = geohash.score_range(cell)
        lo = zset.score_rank(float(low), False)
        hi = zset.score_rank(float(high), False)
        members, scores = zset.slice(lo, max(lo, hi))
        for member, score in zip(members, scores):
            longitude, latitude = geohash.decode_score(score)
            dist = shape.contains(longitude, latitude)
            if dist is None:
                continue
            found.append((dist, score, member, longitude, latitude))
            if limit and len(found) >= limit:
                break
        last = i
    return found


def _store(session: Session, db: Keyspace, dst: bytes, found: list, conversion: float,
           store_dist: bool, flags: int) -> int:
    if found:
        result = ZSet.from_items((member, dist / conversion if store_dist else score)
                                 for dist, score, member, _, _ in found)
        db.set(dst, result)
        if db.notify_flags:
            event = b"geosearchstore" if flags & SEARCH else b"georadiusstore"
            notify(session.server, db.index, NOTIFY_ZSET, event, dst)
    elif db.delete(dst) and db.notify_flags:
        notify(session.server, db.index, NOTIFY_GENERIC, b"del", dst)
    return len(found)


def _radius_keys(start: int) -> Any:
    """GEORADIUS's key specs, as Redis's COMMAND GETKEYS applies them: the
    key, then the argument after the first STORE and the one after the
    first STOREDIST, each searched from argv[start] on (not the last
    argument)."""

    def keys(argv: list[bytes]) -> list[int]:
        found = [1]
        for keyword in (b"store", b"storedist"):
            for i in range(start, len(argv) - 1):
                if argv[i].lower() == keyword:
                    found.append(i + 1)
                    break
        return found

    return keys


def _radius_specs(start: int) -> tuple:
    return (spec("RO access", index=1), spec("OW update", keyword=b"STORE", startfrom=start),
            spec("OW update", keyword=b"STOREDIST", startfrom=start))


_RADIUS_COMPLEXITY = ("O(N+log(M)) where N is the number of elements inside the bounding box of the "
                      "circular area delimited by center and radius and M is the number of items "
                      "inside the index.")


@command("georadius", -6, "write denyoom", (1, 1, 1), group="geo", since="3.2.0", keys_fn=_radius_keys(6),
         key_specs=_radius_specs(6),
         summary="Queries a geospatial index for members within a distance from a coordinate, "
                 "optionally stores the result.", complexity=_RADIUS_COMPLEXITY)
def georadius(session: Session, argv: list[bytes]) -> Any:
    return _search(session, argv, 1, RADIUS_COORDS)


@command("georadius_ro", -6, "readonly", (1, 1, 1), group="geo", since="3.2.10",
         summary="Returns members from a geospatial index that are within a distance from a coordinate.",
         complexity=_RADIUS_COMPLEXITY)
def georadius_ro(session: Session, argv: list[bytes]) -> Any:
    return _search(session, argv, 1, RADIUS_COORDS | NOSTORE)


@command("georadiusbymember", -5, "write denyoom", (1, 1, 1), group="geo", since="3.2.0",
         keys_fn=_radius_keys(5), key_specs=_radius_specs(5),
         summary="Queries a geospatial index for members within a distance from a member, "
                 "optionally stores the result.",
         complexity=_RADIUS_COMPLEXITY)
def georadiusbymember(session: Session, argv: list[bytes]) -> Any:
    return _search(session, argv, 1, RADIUS_MEMBER)


@command("georadiusbymember_ro", -5, "readonly", (1, 1, 1), group="geo", since="3.2.10",
         summary="Returns members from a geospatial index that are within a distance from a member.",
         complexity=_RADIUS_COMPLEXITY)
def georadiusbymember_ro(session: Session, argv: list[bytes]) -> Any:
    return _search(session, argv, 1, RADIUS_MEMBER | NOSTORE)


_SEARCH_COMPLEXITY = ("O(N+log(M)) where N is the number of elements in the grid-aligned bounding box "
                      "area around the shape provided as the filter and M is the number of items "
                      "inside the shape")


@command("geosearch", -7, "readonly", (1, 1, 1), group="geo", since="6.2.0",
         summary="Queries a geospatial index for members inside an area of a box or a circle.",
         complexity=_SEARCH_COMPLEXITY)
def geosearch(session: Session, argv: list[bytes]) -> Any:
    return _search(session, argv, 1, SEARCH)


@command("geosearchstore", -8, "write denyoom", (1, 2, 1), group="geo", since="6.2.0",
         key_specs=(spec("OW update", index=1), spec("RO access", index=2)),
         summary="Queries a geospatial index for members inside an area of a box or a circle, "
                 "optionally stores the result.",
         complexity=_SEARCH_COMPLEXITY)
def geosearchstore(session: Session, argv: list[bytes]) -> Any:
    return _search(session, argv, 2, SEARCH | SEARCHSTORE)
