"""GEO commands against the installed redis-server 7.0: the same GEOADDs on
both servers must store the same 52-bit scores (compared as the bytes
ZRANGE WITHSCORES returns), and every search, distance, hash and position
must be answered the same, RESP2 and RESP3; then seeded random points and
searches."""

from __future__ import annotations

import random

from differential import both, outcome, pair, real_port, same  # noqa: F401 (fixtures)
from test_notifications import ev, events  # noqa: F401 (the fixture)

PLACES = [
    ("13.361389", "38.115556", "Palermo"), ("15.087269", "37.502669", "Catania"),
    ("12.758489", "38.788135", "edge1"), ("12.496365", "41.902782", "Rome"),
    ("-122.4194", "37.7749", "SF"), ("-0.1276", "51.5072", "London"), ("139.6917", "35.6895", "Tokyo"),
    ("-179.9999", "0", "dateline"), ("179.9999", "0.0001", "dateline2"), ("0", "85.05112878", "top"),
    ("0", "-85.05112878", "bottom"), ("-58.3816", "-34.6037", "BuenosAires"), ("151.2093", "-33.8688", "Sydney"),
]

CASES = [
    ("ZRANGE", "Sicily", 0, -1, "WITHSCORES"),
    ("GEOADD", "Sicily", "NX", "13.361389", "38.115556", "Palermo", "1", "1", "new"),
    ("GEOADD", "Sicily", "XX", "CH", "13.4", "38.1", "Palermo", "2", "2", "absent"),
    ("GEOADD", "Sicily", "XX", "NX", "1", "1", "x"), ("GEOADD", "Sicily", "1", "1"),
    ("GEOADD", "Sicily", "200", "1", "x"), ("GEOADD", "Sicily", "1", "86", "x"),
    ("GEOADD", "Sicily", "abc", "1", "x"), ("GEOADD", "Sicily", "GT", "1", "1", "x"),
    ("GEOADD", "str", "1", "1", "x"), ("ZRANGE", "Sicily", 0, -1, "WITHSCORES"),
    ("GEODIST", "Sicily", "Palermo", "Catania"), ("GEODIST", "Sicily", "Palermo", "Catania", "km"),
    ("GEODIST", "Sicily", "Palermo", "Catania", "MI"), ("GEODIST", "Sicily", "Palermo", "Catania", "ft"),
    ("GEODIST", "Sicily", "Palermo", "Catania", "yd"), ("GEODIST", "Sicily", "Palermo", "nobody"),
    ("GEODIST", "nokey", "a", "b"), ("GEODIST", "Sicily", "Palermo", "Catania", "km", "x"),
    ("GEODIST", "Sicily", "Palermo", "Palermo"), ("GEODIST", "Sicily", "top", "bottom"),
    ("GEODIST", "Sicily", "dateline", "dateline2"), ("GEODIST", "str", "a", "b"),
    ("GEOHASH", "Sicily", "Palermo", "Catania", "nobody", "top", "bottom", "dateline"),
    ("GEOHASH", "nokey", "a"), ("GEOHASH", "Sicily"), ("GEOHASH", "str", "a"),
    ("GEOPOS", "Sicily", "Palermo", "nobody", "Tokyo", "top", "bottom", "dateline", "BuenosAires"),
    ("GEOPOS", "nokey", "a", "b"), ("GEOPOS", "str", "a"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km"), ("GEORADIUS", "Sicily", "15", "37", "200", "km", "ASC"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "DESC", "WITHDIST", "WITHCOORD", "WITHHASH"),
    ("GEORADIUS", "Sicily", "15", "37", "2000", "km", "COUNT", 3),
    ("GEORADIUS", "Sicily", "15", "37", "2000", "km", "COUNT", 3, "DESC", "WITHDIST"),
    ("GEORADIUS", "Sicily", "15", "37", "2000", "km", "COUNT", 2, "ANY"),
    ("GEORADIUS", "Sicily", "15", "37", "2000", "km", "ANY"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", 0),
    ("GEORADIUS", "Sicily", "15", "37", "-1", "km"), ("GEORADIUS", "Sicily", "15", "37", "x", "km"),
    ("GEORADIUS", "Sicily", "15", "37", "10", "parsec"), ("GEORADIUS", "Sicily", "15", "37", "10", "km", "FOO"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "dst"), ("ZRANGE", "dst", 0, -1, "WITHSCORES"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STOREDIST", "dst"), ("ZRANGE", "dst", 0, -1, "WITHSCORES"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "dst", "WITHDIST"),
    ("GEORADIUS", "nokey", "15", "37", "200", "km", "STORE", "dst"), ("EXISTS", "dst"),
    ("GEORADIUS", "nokey", "15", "37", "200", "km"), ("GEORADIUS", "str", "15", "37", "200", "km"),
    ("GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "WITHDIST"),
    ("GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "STORE", "x"),
    ("GEORADIUSBYMEMBER", "Sicily", "Palermo", "300", "km", "WITHDIST", "ASC"),
    ("GEORADIUSBYMEMBER", "Sicily", "nobody", "300", "km"),
    ("GEORADIUSBYMEMBER", "nokey", "nobody", "300", "km"),
    ("GEORADIUSBYMEMBER", "Sicily", "Palermo", "300", "km", "STOREDIST", "dst2"), ("ZRANGE", "dst2", 0, -1, "WITHSCORES"),
    ("GEORADIUSBYMEMBER_RO", "Sicily", "Rome", "1000", "km", "WITHCOORD", "ASC"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "400", "400", "km", "ASC", "WITHDIST", "WITHCOORD"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "4000", "2000", "km", "DESC", "COUNT", 4),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "0", "0", "BYRADIUS", "20000", "km", "ASC"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "0", "80", "BYRADIUS", "1000", "km", "WITHDIST"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "180", "0", "BYBOX", "100", "100", "km"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "nobody", "BYRADIUS", "1", "m"),
    ("GEOSEARCH", "nokey", "FROMMEMBER", "nobody", "BYRADIUS", "1", "m"),
    ("GEOSEARCH", "Sicily", "BYRADIUS", "1", "m"), ("GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "m"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "m", "BYBOX", "1", "1", "m"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "BYBOX", "-1", "1", "m"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "BYBOX", "x", "1", "m"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "BYBOX", "1", "x", "m"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "m", "STORE", "x"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "m", "STOREDIST"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ANY"),
    ("GEOSEARCHSTORE", "out", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "300", "km"),
    ("ZRANGE", "out", 0, -1, "WITHSCORES"),
    ("GEOSEARCHSTORE", "out", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "300", "km", "STOREDIST", "COUNT", 2),
    ("ZRANGE", "out", 0, -1, "WITHSCORES"),
    ("GEOSEARCHSTORE", "out", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "300", "km", "WITHDIST"),
    ("GEOSEARCHSTORE", "out", "Sicily", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"), ("EXISTS", "out"),
    ("GEOSEARCHSTORE", "out", "nokey", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"),
    ("COMMAND", "GETKEYS", "GEORADIUS", "k", "1", "1", "1", "km", "STORE", "a", "STOREDIST", "b"),
    ("COMMAND", "GETKEYS", "GEORADIUSBYMEMBER", "k", "m", "1", "km", "STORE", "a"),
    ("COMMAND", "GETKEYS", "GEOSEARCHSTORE", "d", "s", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km"),
]


def same_scores(pair, key):
    """ZRANGE WITHSCORES on both, scores compared as numbers: 7.0 prints
    them with %.17g, 7.2+ (and ringcache) with the shortest digits."""
    ours, theirs = (outcome(client, "ZRANGE", key, 0, -1, "WITHSCORES") for client in pair)
    if ours and isinstance(ours[0], list):  # RESP3: [member, score] pairs
        ours, theirs = ([x for p in reply for x in p] for reply in (ours, theirs))
    assert ours[::2] == theirs[::2]
    assert [float(s) for s in ours[1::2]] == [float(s) for s in theirs[1::2]]


def test_geo_as_redis(pair):
    both(pair, "SET", "str", "x")
    for lon, lat, name in PLACES:
        same(pair, "GEOADD", "Sicily", lon, lat, name)
    for args in CASES:
        if args[0] == "ZRANGE":
            same_scores(pair, args[1])
        else:
            same(pair, *args)


def test_random_points_and_searches(pair):
    rng = random.Random(23)
    for _ in range(20):
        points = []
        for i in range(50):
            points += [f"{rng.uniform(-180, 180):.6f}", f"{rng.uniform(-85, 85):.6f}", f"p{i}"]
        same(pair, "GEOADD", "w", *points)
    same(pair, "ZRANGE", "w", 0, -1, "WITHSCORES")
    for _ in range(150):
        lon, lat = f"{rng.uniform(-180, 180):.4f}", f"{rng.uniform(-85, 85):.4f}"
        if rng.random() < 0.5:
            shape = ["BYRADIUS", str(rng.choice([1, 10, 100, 1000, 5000])), rng.choice(["km", "mi"])]
        else:
            shape = ["BYBOX", str(rng.randrange(1, 4000)), str(rng.randrange(1, 4000)), "km"]
        same(pair, "GEOSEARCH", "w", "FROMLONLAT", lon, lat, *shape, "ASC", "WITHDIST", "WITHCOORD", "WITHHASH")
        same(pair, "GEOSEARCH", "w", "FROMLONLAT", lon, lat, *shape)  # the cells' own order
        member = f"p{rng.randrange(50)}"
        same(pair, "GEORADIUSBYMEMBER", "w", member, str(rng.choice([10, 500, 3000])), "km", "COUNT", 5)
        same(pair, "GEODIST", "w", member, f"p{rng.randrange(50)}", "km")
    same(pair, "GEOHASH", "w", *[f"p{i}" for i in range(50)])
    same(pair, "GEOPOS", "w", *[f"p{i}" for i in range(50)])


def test_geo_events(events):
    run = events("KEA")
    assert run("GEOADD", "g", "1", "1", "a") == ev("g", "zadd")
    assert run("GEORADIUS", "g", "1", "1", "10", "km", "STORE", "d") == ev("d", "georadiusstore")
    assert run("GEOSEARCHSTORE", "d2", "g", "FROMMEMBER", "a", "BYRADIUS", "1", "km") == ev("d2", "geosearchstore")
    assert run("GEOSEARCHSTORE", "d2", "g", "FROMLONLAT", "50", "50", "BYRADIUS", "1", "km") == ev("d2", "del")
