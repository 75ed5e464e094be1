"""Set commands over the wire, RESP2 and RESP3 (the `r` fixture runs each test
once per protocol). Replies, error texts and keyspace events were checked
side by side against redis-server 7.0.15 (where 7.0 and 7.4 differ, 7.4:
SSCAN refuses a negative cursor). Random commands (SPOP, SRANDMEMBER) are
checked for their invariants and, loosely, for uniformity.
"""

from __future__ import annotations

import collections

import pytest
import redis

from support import advance, error, raw
from test_notifications import events, ev  # noqa: F401 (the fixture)

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
SYNTAX = "ERR syntax error"
BIG = 1000  # members: past SMALL_SET, so the sampling pool and SSCAN snapshots are used


def members(r, key) -> set:
    return set(raw(r, "SMEMBERS", key))


def fill(r, key, n=BIG, prefix="m"):
    items = [f"{prefix}{i}" for i in range(n)]
    for i in range(0, n, 500):
        r.sadd(key, *items[i:i + 500])
    return {item.encode() for item in items}


# -- basics ---------------------------------------------------------------------------


def test_sadd_srem_scard_membership(r):
    assert raw(r, "SADD", "s", "a", "b", "c", "a") == 3
    assert raw(r, "SADD", "s", "a", "d") == 1
    assert raw(r, "SADD", "s", "a") == 0
    assert raw(r, "SCARD", "s") == 4
    assert raw(r, "SCARD", "nokey") == 0
    assert raw(r, "SISMEMBER", "s", "b") == 1
    assert raw(r, "SISMEMBER", "s", "zz") == 0
    assert raw(r, "SISMEMBER", "nokey", "b") == 0
    assert raw(r, "SMISMEMBER", "s", "b", "zz", "b") == [1, 0, 1]
    assert raw(r, "SMISMEMBER", "nokey", "b", "zz") == [0, 0]
    assert members(r, "s") == {b"a", b"b", b"c", b"d"}
    assert raw(r, "SREM", "s", "zz") == 0
    assert raw(r, "SREM", "s", "a", "b", "zz", "a") == 2
    assert raw(r, "SREM", "nokey", "a") == 0
    assert raw(r, "SREM", "s", "c", "d") == 2
    assert raw(r, "EXISTS", "s") == 0  # an emptied set is deleted
    assert members(r, "nokey") == set()
    assert raw(r, "TYPE", "nokey") == b"none"


def test_type_and_encoding(r):
    r.sadd("s", "1", "2")
    assert raw(r, "TYPE", "s") == b"set"
    assert raw(r, "OBJECT", "ENCODING", "s") == b"intset"  # as Redis for a small set of integers
    r.copy("s", "c")
    r.sadd("c", "3")
    assert members(r, "s") == {b"1", b"2"}  # COPY shares nothing
    assert members(r, "c") == {b"1", b"2", b"3"}


def test_binary_members(r):
    odd = [b"", b"\x00\xff", b"a\r\nb", b"x" * 10_000]
    assert raw(r, "SADD", "s", *odd) == 4
    assert members(r, "s") == set(odd)
    assert raw(r, "SISMEMBER", "s", b"") == 1


def test_resp3_set_replies(conn):
    """SMEMBERS, SINTER, SUNION, SDIFF and SPOP with a count are sets (~) in
    RESP3; SRANDMEMBER with a count is an array (it can repeat)."""
    c = conn(3)
    c.send("SADD", "s", "a")
    c.expect(b":1\r\n")
    for command in (("SMEMBERS", "s"), ("SINTER", "s"), ("SUNION", "s"), ("SDIFF", "s")):
        c.send(*command)
        c.expect(b"~1\r\n$1\r\na\r\n")
    c.send("SMEMBERS", "nokey")
    c.expect(b"~0\r\n")
    c.send("SRANDMEMBER", "s", "5")
    c.expect(b"*1\r\n$1\r\na\r\n")
    c.send("SRANDMEMBER", "s", "-2")
    c.expect(b"*2\r\n$1\r\na\r\n$1\r\na\r\n")
    c.send("SRANDMEMBER", "nokey")
    c.expect(b"_\r\n")
    c.send("SRANDMEMBER", "nokey", "3")
    c.expect(b"*0\r\n")
    c.send("SPOP", "nokey")
    c.expect(b"_\r\n")
    c.send("SPOP", "nokey", "2")
    c.expect(b"~0\r\n")
    c.send("SPOP", "s", "5")
    c.expect(b"~1\r\n$1\r\na\r\n")
    c2 = conn(2)
    c2.send("SADD", "s", "a")
    c2.expect(b":1\r\n")
    c2.send("SMEMBERS", "s")
    c2.expect(b"*1\r\n$1\r\na\r\n")
    c2.send("SPOP", "nokey")
    c2.expect(b"$-1\r\n")


WRONGTYPE_COMMANDS = [
    ("SADD", "str", "a"), ("SREM", "str", "a"), ("SCARD", "str"), ("SISMEMBER", "str", "a"),
    ("SMISMEMBER", "str", "a"), ("SMEMBERS", "str"), ("SPOP", "str"), ("SPOP", "str", "0"),
    ("SRANDMEMBER", "str"), ("SRANDMEMBER", "str", "0"), ("SMOVE", "str", "s", "a"),
    ("SMOVE", "s", "str", "a"), ("SINTER", "s", "str"), ("SINTER", "nokey", "str"),
    ("SUNION", "nokey", "str"), ("SDIFF", "nokey", "str"), ("SDIFF", "str", "nokey"),
    ("SINTERCARD", "1", "str"), ("SINTERCARD", "2", "nokey", "str"),
    ("SINTERSTORE", "d", "str"), ("SUNIONSTORE", "d", "s", "str"), ("SDIFFSTORE", "d", "str"),
    ("SSCAN", "str", "0"), ("SSCAN", "str", "0", "foo"),
]


@pytest.mark.parametrize("command", WRONGTYPE_COMMANDS, ids=lambda c: " ".join(c))
def test_wrongtype(r, command):
    r.set("str", "v")
    r.sadd("s", "a")
    assert error(r, *command) == WRONGTYPE
    assert raw(r, "GET", "str") == b"v"
    assert members(r, "s") == {b"a"}


def test_string_commands_refuse_a_set(r):
    r.sadd("s", "a")
    for command in (("GET", "s"), ("APPEND", "s", "x"), ("INCR", "s"), ("STRLEN", "s")):
        assert error(r, *command) == WRONGTYPE


ARGUMENT_ERRORS = [
    (("SADD", "s"), "ERR wrong number of arguments for 'sadd' command"),
    (("SMISMEMBER", "s"), "ERR wrong number of arguments for 'smismember' command"),
    (("SPOP", "s", "-1"), "ERR value is out of range, must be positive"),
    (("SPOP", "s", "x"), "ERR value is out of range, must be positive"),
    (("SPOP", "s", "9223372036854775808"), "ERR value is out of range, must be positive"),
    (("SPOP", "s", "1", "2"), SYNTAX),
    (("SRANDMEMBER", "s", "x"), NOT_INTEGER),
    (("SRANDMEMBER", "s", "1", "2"), SYNTAX),
    (("SRANDMEMBER", "s", "-9223372036854775808"),
     "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"),
    (("SINTERCARD", "0", "s"), "ERR numkeys should be greater than 0"),
    (("SINTERCARD", "-1", "s"), "ERR numkeys should be greater than 0"),
    (("SINTERCARD", "x", "s"), "ERR numkeys should be greater than 0"),
    (("SINTERCARD", "9223372036854775808", "s"), "ERR numkeys should be greater than 0"),
    (("SINTERCARD", "2", "s"), "ERR Number of keys can't be greater than number of args"),
    (("SINTERCARD", "1", "s", "LIMIT", "-1"), "ERR LIMIT can't be negative"),
    (("SINTERCARD", "1", "s", "LIMIT", "x"), "ERR LIMIT can't be negative"),
    (("SINTERCARD", "1", "s", "LIMIT"), SYNTAX),
    (("SINTERCARD", "1", "s", "foo", "1"), SYNTAX),
    (("SINTERCARD", "1", "str"), WRONGTYPE),
    (("SSCAN", "s", "x"), "ERR invalid cursor"),
    (("SSCAN", "s", "-1"), "ERR invalid cursor"),  # Redis 7.4 (7.0 wraps it around)
    (("SSCAN", "nokey", "x"), "ERR invalid cursor"),
    (("SSCAN", "s", "0", "COUNT", "0"), SYNTAX),
    (("SSCAN", "s", "0", "COUNT", "x"), NOT_INTEGER),
    (("SSCAN", "s", "0", "COUNT"), SYNTAX),
    (("SSCAN", "s", "0", "TYPE", "set"), SYNTAX),
    (("SSCAN", "s", "0", "foo", "bar"), SYNTAX),
]


@pytest.mark.parametrize("command,message", ARGUMENT_ERRORS, ids=lambda c: " ".join(c)
                         if isinstance(c, tuple) else "")
def test_argument_errors(r, command, message):
    r.set("str", "v")
    r.sadd("s", "a")
    assert error(r, *command) == message


def test_sscan_of_a_missing_key_parses_no_options(r):
    assert raw(r, "SSCAN", "nokey", "0", "foo") == [b"0", []]  # as Redis


# -- SMOVE ------------------------------------------------------------------------------


def test_smove(r):
    r.sadd("s", "a", "b")
    assert raw(r, "SMOVE", "s", "d", "zz") == 0
    assert raw(r, "SMOVE", "s", "d", "a") == 1
    assert members(r, "s") == {b"b"}
    assert members(r, "d") == {b"a"}
    r.sadd("d", "b")
    assert raw(r, "SMOVE", "s", "d", "b") == 1  # already there: still moved out of s
    assert raw(r, "EXISTS", "s") == 0
    assert members(r, "d") == {b"a", b"b"}
    assert raw(r, "SMOVE", "d", "d", "a") == 1  # same key: a membership test
    assert raw(r, "SMOVE", "d", "d", "zz") == 0
    assert members(r, "d") == {b"a", b"b"}
    r.set("str", "v")
    assert raw(r, "SMOVE", "nokey", "str", "a") == 0  # missing source first, as Redis


# -- random members ------------------------------------------------------------------


def test_spop_small_and_whole(r):
    r.sadd("s", "a", "b", "c")
    assert raw(r, "SPOP", "s", "0") in ([], set())
    popped = raw(r, "SPOP", "s")
    assert popped in (b"a", b"b", b"c")
    rest = set(raw(r, "SPOP", "s", "2"))
    assert rest | {popped} == {b"a", b"b", b"c"}
    assert raw(r, "EXISTS", "s") == 0
    r.sadd("s", "a", "b")
    assert set(raw(r, "SPOP", "s", "9223372036854775807")) == {b"a", b"b"}
    assert raw(r, "EXISTS", "s") == 0
    r.sadd("s", "a")
    assert raw(r, "SPOP", "s") == b"a"
    assert raw(r, "EXISTS", "s") == 0


@pytest.mark.parametrize("count", [1, 10, 499, 501, 999])
def test_spop_count_big(r, count):
    everything = fill(r, "s")
    popped = raw(r, "SPOP", "s", count)
    assert len(popped) == len(set(popped)) == count
    left = members(r, "s")
    assert left | set(popped) == everything and not left & set(popped)
    assert raw(r, "SCARD", "s") == BIG - count


def test_spop_one_at_a_time_drains_a_big_set(r):
    everything = fill(r, "s", 300)
    got = {raw(r, "SPOP", "s")}  # builds the sampling pool
    r.sadd("s", "extra", *got)  # adds after the pool exists, one of them popped before
    everything.add(b"extra")
    got = set()
    r.srem("s", *[f"m{i}" for i in range(0, 300, 3)])  # stale pool entries
    expected = everything - {f"m{i}".encode() for i in range(0, 300, 3)}
    while raw(r, "EXISTS", "s"):
        member = raw(r, "SPOP", "s")
        assert member in expected and member not in got
        got.add(member)
    assert got == expected


def test_srandmember_counts(r):
    r.sadd("s", "a", "b", "c")
    assert raw(r, "SRANDMEMBER", "s") in (b"a", b"b", b"c")
    assert raw(r, "SRANDMEMBER", "s", "0") == []
    assert sorted(raw(r, "SRANDMEMBER", "s", "3")) == [b"a", b"b", b"c"]
    assert sorted(raw(r, "SRANDMEMBER", "s", "100")) == [b"a", b"b", b"c"]
    two = raw(r, "SRANDMEMBER", "s", "2")
    assert len(set(two)) == 2 and set(two) <= {b"a", b"b", b"c"}
    repeats = raw(r, "SRANDMEMBER", "s", "-50")
    assert len(repeats) == 50 and set(repeats) <= {b"a", b"b", b"c"}
    assert raw(r, "SRANDMEMBER", "nokey", "-5") == []
    assert raw(r, "SRANDMEMBER", "nokey") is None
    assert raw(r, "SCARD", "s") == 3  # nothing removed


@pytest.mark.parametrize("count", [1, 7, 400, 600, 1000, 5000])
def test_srandmember_big_distinct(r, count):
    everything = fill(r, "s")
    got = raw(r, "SRANDMEMBER", "s", count)
    assert len(got) == len(set(got)) == min(count, BIG)
    assert set(got) <= everything


def test_srandmember_after_changes_sees_only_live_members(r):
    everything = fill(r, "s")
    raw(r, "SRANDMEMBER", "s")  # builds the pool
    removed = {f"m{i}".encode() for i in range(0, BIG, 2)}
    r.srem("s", *removed)
    r.sadd("s", "new1", "new2")
    r.sadd("s", "m0")  # a removed member comes back
    live = (everything - removed) | {b"new1", b"new2", b"m0"}
    seen = collections.Counter(raw(r, "SRANDMEMBER", "s", "-20000"))
    assert set(seen) <= live
    assert len(seen) > 0.9 * len(live)
    assert seen[b"m0"] < 100  # one entry in the pool, not two (expected ~40)


def test_srandmember_is_roughly_uniform(r):
    fill(r, "s", 200)
    raw(r, "SREM", "s", *[f"m{i}" for i in range(100)])  # half stale
    draws = 40_000
    seen = collections.Counter(raw(r, "SRANDMEMBER", "s", -draws))
    assert len(seen) == 100
    expected = draws / 100
    assert all(0.6 * expected < n < 1.4 * expected for n in seen.values()), seen.most_common(3)


# -- algebra --------------------------------------------------------------------------


def test_sinter_sunion_sdiff(r):
    r.sadd("a", "1", "2", "3", "4")
    r.sadd("b", "2", "3", "5")
    r.sadd("c", "3", "4", "2")
    assert set(raw(r, "SINTER", "a", "b", "c")) == {b"2", b"3"}
    assert set(raw(r, "SINTER", "a", "nokey")) == set()
    assert set(raw(r, "SINTER", "a")) == {b"1", b"2", b"3", b"4"}
    assert set(raw(r, "SUNION", "a", "b", "nokey")) == {b"1", b"2", b"3", b"4", b"5"}
    assert set(raw(r, "SDIFF", "a", "b")) == {b"1", b"4"}
    assert set(raw(r, "SDIFF", "a", "b", "c")) == {b"1"}
    assert set(raw(r, "SDIFF", "a", "nokey")) == {b"1", b"2", b"3", b"4"}
    assert set(raw(r, "SDIFF", "nokey", "a")) == set()
    assert raw(r, "SINTERCARD", "3", "a", "b", "c") == 2
    assert raw(r, "SINTERCARD", "2", "a", "b", "LIMIT", "1") == 1
    assert raw(r, "SINTERCARD", "2", "a", "b", "LIMIT", "0") == 2
    assert raw(r, "SINTERCARD", "2", "a", "b", "limit", "5", "LIMIT", "1") == 1  # the last wins
    assert raw(r, "SINTERCARD", "1", "a") == 4
    assert raw(r, "SINTERCARD", "2", "a", "nokey") == 0
    assert raw(r, "COMMAND", "GETKEYS", "SINTERCARD", "2", "a", "b", "LIMIT", "1") == [b"a", b"b"]


def test_store_commands(r):
    r.sadd("a", "1", "2", "3")
    r.sadd("b", "2", "3", "4")
    assert raw(r, "SINTERSTORE", "d", "a", "b") == 2
    assert members(r, "d") == {b"2", b"3"}
    assert raw(r, "SUNIONSTORE", "d", "a", "b") == 4
    assert members(r, "d") == {b"1", b"2", b"3", b"4"}
    assert raw(r, "SDIFFSTORE", "d", "a", "b") == 1
    assert members(r, "d") == {b"1"}
    assert raw(r, "SINTERSTORE", "a", "a", "b") == 2  # a source as destination
    assert members(r, "a") == {b"2", b"3"}
    # An empty result deletes the destination, whatever it held.
    assert raw(r, "SINTERSTORE", "d", "a", "nokey") == 0
    assert raw(r, "EXISTS", "d") == 0
    r.set("d", "v")
    assert raw(r, "SDIFFSTORE", "d", "a", "a") == 0
    assert raw(r, "EXISTS", "d") == 0
    assert raw(r, "SUNIONSTORE", "d", "nokey") == 0
    # A destination of another type is replaced, and its TTL goes.
    r.set("d", "v", ex=100)
    assert raw(r, "SUNIONSTORE", "d", "a") == 2
    assert raw(r, "TYPE", "d") == b"set"
    assert raw(r, "TTL", "d") == -1
    r.sadd("x", "1")
    r.sinterstore("y", "x")
    r.sadd("y", "2")
    assert members(r, "x") == {b"1"}  # the stored set is a copy


def test_store_into_an_expired_destination(r):
    r.sadd("a", "1")
    r.set("d", "v", px=1000)
    advance(r, 2000)
    assert raw(r, "SUNIONSTORE", "d", "a") == 1
    assert raw(r, "TTL", "d") == -1


# -- SSCAN ----------------------------------------------------------------------------


def sscan_all(r, key, changes=None, **options):
    args = []
    for name, value in options.items():
        args += [name.upper(), value]
    cursor, seen, calls = b"0", [], 0
    while True:
        cursor, items = raw(r, "SSCAN", key, cursor, *args)
        seen += items
        calls += 1
        if changes:
            changes(calls)
        if cursor == b"0":
            return seen, calls


def test_sscan_small_set_whole(r):
    r.sadd("s", "a", "b", "c")
    assert raw(r, "SSCAN", "s", "0", "COUNT", "1")[0] == b"0"
    assert sorted(raw(r, "SSCAN", "s", "0")[1]) == [b"a", b"b", b"c"]
    assert raw(r, "SSCAN", "s", "0", "MATCH", "b*") == [b"0", [b"b"]]
    assert raw(r, "SSCAN", "s", "12345")[0] == b"0"  # an unknown cursor: whole again


def test_sscan_big_set_in_steps(r):
    everything = fill(r, "s")
    seen, calls = sscan_all(r, "s", count=50)
    assert sorted(seen) == sorted(everything)
    assert calls == BIG // 50
    seen, _ = sscan_all(r, "s", count=100, match="m1*")
    assert sorted(seen) == sorted(m for m in everything if m.startswith(b"m1"))


def test_sscan_while_the_set_changes(r):
    """Members present for the whole scan come back exactly once; removed
    ones are not returned after their removal."""
    everything = fill(r, "s")
    removed = set()

    def changes(call):
        r.sadd("s", *[f"new{call}-{i}" for i in range(30)])  # grows: the table rehashes
        victim = f"m{(call * 37) % BIG}".encode()
        if victim not in removed:
            r.srem("s", victim)
            removed.add(victim)

    seen, _ = sscan_all(r, "s", changes=changes, count=20)
    counts = collections.Counter(seen)
    assert all(counts[m] == 1 for m in everything - removed)
    assert not any(m.startswith(b"new") for m in counts)
    assert max(counts.values()) == 1


def test_sscan_cursor_of_another_key_or_a_replaced_set(r):
    a = fill(r, "a", 500, "a")
    b = fill(r, "b", 500, "b")
    cursor, first = raw(r, "SSCAN", "a", "0", "COUNT", "100")
    assert cursor != b"0" and set(first) <= a
    # Used on another key, the cursor starts that key's scan from the start.
    seen, cur = [], cursor
    while True:
        cur, items = raw(r, "SSCAN", "b", cur, "COUNT", "100")
        seen += items
        if cur == b"0":
            break
    assert sorted(seen) == sorted(b)
    # The first scan still goes on.
    rest, cur = [], cursor
    while True:
        cur, items = raw(r, "SSCAN", "a", cur, "COUNT", "100")
        rest += items
        if cur == b"0":
            break
    assert sorted(first + rest) == sorted(a)
    # The key now holds another set: its scan starts over, nothing is missed.
    cursor, _ = raw(r, "SSCAN", "a", "0", "COUNT", "100")
    r.delete("a")
    fill(r, "a", 300, "z")
    seen, cur = [], cursor
    while True:
        cur, items = raw(r, "SSCAN", "a", cur, "COUNT", "100")
        seen += items
        if cur == b"0":
            break
    assert sorted(seen) == sorted(f"z{i}".encode() for i in range(300))


# -- transactions and notifications ---------------------------------------------------------


def test_smembers_in_multi_is_a_snapshot(r):
    r.sadd("s", "a")
    pipe = r.pipeline(transaction=True)
    pipe.smembers("s")
    pipe.sadd("s", "b")
    pipe.smembers("s")
    first, added, second = pipe.execute()
    assert set(first) == {b"a"} and added == 1 and set(second) == {b"a", b"b"}


def test_watch_fails_on_set_changes(r):
    r.sadd("s", "a")
    for change in (("SADD", "s", "b"), ("SREM", "s", "b"), ("SPOP", "s"),
                   ("SMOVE", "x", "s", "m"), ("SINTERSTORE", "s", "s")):
        if change[0] == "SMOVE":
            r.sadd("x", "m")
        if change[0] == "SINTERSTORE":
            r.sadd("s", "q")
        pipe = r.pipeline(transaction=True)
        pipe.watch("s")
        other = r.connection_pool.get_connection()
        other.send_command(*change)
        other.read_response()
        r.connection_pool.release(other)
        pipe.multi()
        pipe.scard("s")
        with pytest.raises(redis.WatchError):
            pipe.execute()
        pipe.reset()


SET_EVENTS = [
    (("SADD", "s", "a", "b", "c"), ev("s", "new", "sadd")),
    (("SADD", "s", "a"), []),
    (("SREM", "s", "zz"), []),
    (("SREM", "s", "a"), ev("s", "srem")),
    (("SPOP", "s", "0"), []),
    (("SPOP", "s", "1"), ev("s", "spop")),
    (("SPOP", "s", "5"), ev("s", "spop", "del")),
    (("SADD", "s", "a"), ev("s", "new", "sadd")),
    (("SMOVE", "s", "d", "zz"), []),
    (("SMOVE", "s", "s", "a"), []),
    (("SMOVE", "s", "d", "a"), ev("s", "srem", "del") + ev("d", "new", "sadd")),
    (("SADD", "s", "a", "b"), ev("s", "new", "sadd")),
    (("SMOVE", "s", "d", "a"), ev("s", "srem")),  # already in d
    (("SMOVE", "s", "d", "b"), ev("s", "srem", "del") + ev("d", "sadd")),
    (("SADD", "t", "a", "x"), ev("t", "new", "sadd")),
    (("SINTERSTORE", "i", "d", "t"), ev("i", "new", "sinterstore")),
    (("SINTERSTORE", "i", "d", "nokey"), ev("i", "del")),
    (("SINTERSTORE", "i", "d", "nokey"), []),
    (("SUNIONSTORE", "i", "d", "t"), ev("i", "new", "sunionstore")),
    (("SDIFFSTORE", "i", "t", "d"), ev("i", "sdiffstore")),
    (("SDIFFSTORE", "i", "t", "t"), ev("i", "del")),
    (("SREM", "t", "a", "x"), ev("t", "srem", "del")),
    (("SPOP", "d"), ev("d", "spop")),
    (("SPOP", "d"), ev("d", "spop", "del")),
    (("SINTER", "nokey"), []),
    (("SRANDMEMBER", "nokey"), []),
]


def test_set_command_events(events):
    run = events("KEA" + "n")
    for command, expected in SET_EVENTS:
        assert run(*command) == expected, command


def test_command_info_as_redis(r2):
    smembers, sintercard, spop = raw(r2, "COMMAND", "INFO", "smembers", "sintercard", "spop")
    assert smembers[:7] == [b"smembers", 2, [b"readonly"], 1, 1, 1, [b"@read", b"@set", b"@slow"]]
    assert smembers[7] == [b"nondeterministic_output_order"]
    assert sintercard[:6] == [b"sintercard", -3, [b"readonly", b"movablekeys"], 0, 0, 0]
    assert spop[2] == [b"write", b"fast"] and spop[7] == [b"nondeterministic_output"]
