"""COMMAND metadata of issue 17's families against the installed
redis-server 7.0: COMMAND INFO (arity, flags, key positions, ACL
categories, key specs) of every new command, and COMMAND GETKEYS /
GETKEYSANDFLAGS on commands whose keys move (SORT's STORE, GEORADIUS's
STORE/STOREDIST) or are used differently (BITOP, PFMERGE, GEOSEARCHSTORE),
RESP2 and RESP3. Cluster clients route by these."""

from __future__ import annotations

import pytest

from differential import pair, real_port, same  # noqa: F401 (fixtures)

NEW_COMMANDS = (
    "setbit getbit bitcount bitpos bitop bitfield bitfield_ro lcs substr pfadd pfcount pfmerge "
    "sort sort_ro geoadd geodist geohash geopos geosearch geosearchstore georadius georadius_ro "
    "georadiusbymember georadiusbymember_ro"
).split()

GETKEYS = [
    ("SETBIT", "k", 1, 1), ("BITOP", "AND", "d", "a", "b"), ("BITFIELD", "k", "GET", "u8", 0),
    ("LCS", "a", "b", "IDX"), ("PFADD", "h", "x"), ("PFCOUNT", "a", "b", "c"), ("PFMERGE", "d", "a", "b"),
    ("PFMERGE", "d"), ("SORT", "l"), ("SORT", "l", "STORE", "d"), ("SORT", "l", "BY", "w_*", "STORE", "d", "GET", "#"),
    ("SORT", "l", "LIMIT", 0, 1, "STORE", "d1", "STORE", "d2"), ("SORT_RO", "l", "BY", "w_*", "GET", "x_*"),
    ("GEOADD", "g", 1, 1, "m"), ("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", 1, 1, "BYRADIUS", 1, "km"),
    ("GEORADIUS", "g", 1, 1, 1, "km"), ("GEORADIUS", "g", 1, 1, 1, "km", "STORE", "a"),
    ("GEORADIUS", "g", 1, 1, 1, "km", "STOREDIST", "b", "STORE", "a"),
    ("GEORADIUSBYMEMBER", "g", "m", 1, "km", "STORE", "a", "STORE", "c"), ("GEORADIUS_RO", "g", 1, 1, 1, "km"),
    ("GEORADIUS", "g", 1, 1, 1, "km", "STORE"),
]


@pytest.mark.parametrize("name", NEW_COMMANDS)
def test_command_info_as_redis(pair, name):
    same(pair, "COMMAND", "INFO", name)


def test_getkeys_and_flags_as_redis(pair):
    for args in GETKEYS:
        same(pair, "COMMAND", "GETKEYS", *args)
        same(pair, "COMMAND", "GETKEYSANDFLAGS", *args)
