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


# Where the two differ on purpose: ZRANK/ZREVRANK take WITHSCORE since 7.2
# (arity -3, redis-server 7.0 says 3).
KNOWN_DIFFERENT = {b"zrank", b"zrevrank"}


@pytest.fixture
def raw_clients(node, real_port):
    import redis
    ours = node.client(protocol=3)
    theirs = redis.Redis(port=real_port, socket_timeout=10, protocol=3)
    for client in (ours, theirs):
        client.response_callbacks.clear()
    yield ours, theirs
    ours.close()
    theirs.close()


def _walk(entries, out):
    for entry in entries:
        out[entry[0]] = entry
        if entry[9]:
            _walk(entry[9], out)
    return out


def _normal(value):
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, (list, set, tuple)):
        return [_normal(v) for v in value]
    return value


def test_every_shared_commands_key_specs_and_keys_as_redis(raw_clients):
    """Every command and subcommand both servers have: COMMAND INFO's key
    specs, and GETKEYSANDFLAGS on argument lists of 1 to 6 arguments (plus
    a variant with a numeric second argument, for numkeys commands)."""
    from differential import outcome
    ours, theirs = raw_clients
    mine = _walk(ours.execute_command("COMMAND"), {})
    redis_table = _walk(theirs.execute_command("COMMAND"), {})
    shared = sorted(set(mine) & set(redis_table))
    assert len(shared) > 200
    compared = 0
    for name in shared:
        if name.split(b"|")[0] in KNOWN_DIFFERENT:
            continue
        assert _normal(mine[name][8]) == _normal(redis_table[name][8]), name
        words = name.split(b"|")
        for n in range(1, 7):
            argv = [*words, *[f"a{i}" for i in range(n)]]
            for variant in (argv, argv[:len(words)] + ["1"] + argv[len(words) + 1:]):
                a = outcome(ours, "COMMAND", "GETKEYSANDFLAGS", *variant)
                b = outcome(theirs, "COMMAND", "GETKEYSANDFLAGS", *variant)
                assert a == b, variant
                compared += 1
    assert compared > 2000


def test_command_list_filters_as_redis_over_the_shared_commands(raw_clients):
    """COMMAND LIST FILTERBY ACLCAT|PATTERN: the same names, over the
    commands both servers have (redis-server has streams, ACL, ...)."""
    ours, theirs = raw_clients
    mine = set(ours.execute_command("COMMAND", "LIST"))
    redis_names = set(theirs.execute_command("COMMAND", "LIST"))
    shared = mine & redis_names
    for client in raw_clients:  # COUNT: the top-level commands LIST names
        names = client.execute_command("COMMAND", "LIST")
        assert len([n for n in names if b"|" not in n]) == client.execute_command("COMMAND", "COUNT")
    categories = [c for c in theirs.execute_command("ACL", "CAT")]
    assert b"geo" in categories and b"bitmap" in categories
    new = {name.encode() for name in NEW_COMMANDS} | {b"latency|reset", b"latency|doctor", b"latency|latest",
                                                       b"latency|history", b"latency|help", b"lolwut"}
    for category in categories:  # (over the new commands: the rest of the table is outside issue 17's families)
        got = set(ours.execute_command("COMMAND", "LIST", "FILTERBY", "ACLCAT", category)) & new
        want = set(theirs.execute_command("COMMAND", "LIST", "FILTERBY", "ACLCAT", category)) & new
        assert got == want, category
    for pattern in ("geo*", "*bit*", "pf*", "sort*", "l*", "*|*"):
        got = set(ours.execute_command("COMMAND", "LIST", "FILTERBY", "PATTERN", pattern)) & shared
        want = set(theirs.execute_command("COMMAND", "LIST", "FILTERBY", "PATTERN", pattern)) & shared
        assert got == want, pattern
