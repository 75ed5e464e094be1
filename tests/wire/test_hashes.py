"""Hash commands over the wire, RESP2 and RESP3 (`r` runs each test once per
protocol). Replies and error texts of the commands redis-server 7.0 has were
compared side by side with it (same command lines, same bytes); the Redis
7.4 additions (field TTLs, HSCAN NOVALUES) follow t_hash.c of 7.4, whose
texts and per-field codes are quoted here. Field expiry is driven with
DEBUG ADVANCE-CLOCK, never with sleeps; the active cycle is observed with
DBSIZE (which does not reclaim) after the clock moved.
"""

from __future__ import annotations

import time

import pytest
import redis

from support import advance, error, raw, server_ms

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
SYNTAX = "ERR syntax error"


def wait_for(predicate, timeout: float = 5.0) -> None:
    """For the active cycle (hz 10): poll until predicate() holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# -- basics ------------------------------------------------------------------------


def test_hset_hget_and_friends(r):
    assert raw(r, "HSET", "h", "a", "1", "b", "2") == 2
    assert raw(r, "HSET", "h", "a", "10", "c", "3") == 1  # one created, one updated
    assert raw(r, "HMSET", "h", "d", "4") == b"OK"
    assert raw(r, "HSETNX", "h", "a", "x") == 0
    assert raw(r, "HSETNX", "h", "e", "5") == 1
    assert raw(r, "HSETNX", "new", "f", "v") == 1
    assert raw(r, "HGET", "h", "a") == b"10"
    assert raw(r, "HGET", "h", "nope") is None
    assert raw(r, "HGET", "missing", "a") is None
    assert raw(r, "HMGET", "h", "a", "nope", "b") == [b"10", None, b"2"]
    assert raw(r, "HMGET", "missing", "a", "b") == [None, None]
    assert raw(r, "HLEN", "h") == 5
    assert raw(r, "HLEN", "missing") == 0
    assert raw(r, "HSTRLEN", "h", "a") == 2
    assert raw(r, "HSTRLEN", "h", "nope") == 0
    assert raw(r, "HEXISTS", "h", "a") == 1
    assert raw(r, "HEXISTS", "h", "nope") == 0
    assert sorted(raw(r, "HKEYS", "h")) == [b"a", b"b", b"c", b"d", b"e"]
    assert sorted(raw(r, "HVALS", "h")) == [b"10", b"2", b"3", b"4", b"5"]
    assert raw(r, "HKEYS", "missing") == [] and raw(r, "HVALS", "missing") == []
    assert r.hgetall("h") == {b"a": b"10", b"b": b"2", b"c": b"3", b"d": b"4", b"e": b"5"}
    assert r.hgetall("missing") == {}
    assert raw(r, "HSET", "bin", b"\x00\xff", b"") == 1
    assert raw(r, "HGET", "bin", b"\x00\xff") == b""


def test_hgetall_shapes(conn):
    c2, c3 = conn(2), conn(3)
    for c in (c2, c3):
        c.send("HSET", "h", "a", "1")
        c.read_reply()
    c2.send("HGETALL", "h")
    assert c2.read_reply() == b"*2\r\n$1\r\na\r\n$1\r\n1\r\n"
    c3.send("HGETALL", "h")
    assert c3.read_reply() == b"%1\r\n$1\r\na\r\n$1\r\n1\r\n"
    c2.send("HGETALL", "missing")
    assert c2.read_reply() == b"*0\r\n"
    c3.send("HGETALL", "missing")
    assert c3.read_reply() == b"%0\r\n"


def test_hdel_removes_the_emptied_key(r):
    r.hset("h", mapping={"a": 1, "b": 2})
    assert raw(r, "HDEL", "h", "a", "a", "nope") == 1
    assert r.exists("h") == 1
    assert raw(r, "HDEL", "h", "b") == 1
    assert r.exists("h") == 0
    assert raw(r, "HDEL", "missing", "a") == 0


def test_errors_and_arity(r):
    r.set("str", "v")
    for command in (("HSET", "str", "a", "1"), ("HMSET", "str", "a", "1"), ("HSETNX", "str", "a", "1"),
                    ("HGET", "str", "a"), ("HMGET", "str", "a"), ("HGETALL", "str"),
                    ("HKEYS", "str"), ("HVALS", "str"), ("HDEL", "str", "a"), ("HEXISTS", "str", "a"),
                    ("HLEN", "str"), ("HSTRLEN", "str", "a"), ("HINCRBY", "str", "a", "1"),
                    ("HINCRBYFLOAT", "str", "a", "1"), ("HRANDFIELD", "str"),
                    ("HRANDFIELD", "str", "2"), ("HSCAN", "str", "0"),
                    ("HEXPIRE", "str", "1", "FIELDS", "1", "a"), ("HTTL", "str", "FIELDS", "1", "a"),
                    ("HPERSIST", "str", "FIELDS", "1", "a")):
        assert error(r, *command) == WRONGTYPE, command
    assert error(r, "HSET", "h", "a") == "ERR wrong number of arguments for 'hset' command"
    assert error(r, "HSET", "h", "a", "1", "b") == "ERR wrong number of arguments for 'hset' command"
    assert error(r, "HMSET", "h", "a", "1", "b") == "ERR wrong number of arguments for 'hmset' command"
    assert error(r, "HGET", "h") == "ERR wrong number of arguments for 'hget' command"
    assert error(r, "HMGET", "h") == "ERR wrong number of arguments for 'hmget' command"
    assert error(r, "HDEL", "h") == "ERR wrong number of arguments for 'hdel' command"
    assert error(r, "HSCAN", "h") == "ERR wrong number of arguments for 'hscan' command"
    assert error(r, "HEXPIRE", "h", "1", "FIELDS", "1") == \
        "ERR wrong number of arguments for 'hexpire' command"
    assert error(r, "HTTL", "h", "FIELDS", "1") == "ERR wrong number of arguments for 'httl' command"
    assert r.exists("h") == 0  # nothing was created by the failed calls


# -- counters ------------------------------------------------------------------------


def test_hincrby(r):
    assert raw(r, "HINCRBY", "h", "n", "5") == 5
    assert raw(r, "HINCRBY", "h", "n", "-7") == -2
    assert error(r, "HINCRBY", "h", "n", "x") == NOT_INTEGER
    assert error(r, "HINCRBY", "h", "n", "1.5") == NOT_INTEGER
    r.hset("h", "s", "abc")
    assert error(r, "HINCRBY", "h", "s", "1") == "ERR hash value is not an integer"
    r.hset("h", "z", " 1")
    assert error(r, "HINCRBY", "h", "z", "1") == "ERR hash value is not an integer"
    assert raw(r, "HINCRBY", "h", "max", "9223372036854775807") == 9223372036854775807
    assert error(r, "HINCRBY", "h", "max", "1") == "ERR increment or decrement would overflow"
    assert raw(r, "HINCRBY", "h", "min", "-9223372036854775808") == -9223372036854775808
    assert error(r, "HINCRBY", "h", "min", "-1") == "ERR increment or decrement would overflow"
    assert r.hget("h", "max") == b"9223372036854775807"


def test_hincrbyfloat(r):
    assert raw(r, "HINCRBYFLOAT", "h", "f", "10.5") == b"10.5"
    assert raw(r, "HINCRBYFLOAT", "h", "f", "0.1") == b"10.6"  # long double, as Redis
    assert raw(r, "HINCRBYFLOAT", "h", "f", "5.0e3") == b"5010.60000000000000009"
    assert raw(r, "HINCRBYFLOAT", "h", "g", "5010.6") == b"5010.60000000000000009"
    assert raw(r, "HINCRBYFLOAT", "h", "i", "3") == b"3"
    r.hset("h", "int", "7")
    assert raw(r, "HINCRBYFLOAT", "h", "int", "-7") == b"0"
    assert error(r, "HINCRBYFLOAT", "h", "f", "abc") == "ERR value is not a valid float"
    assert error(r, "HINCRBYFLOAT", "h", "f", "inf") == "ERR value is NaN or Infinity"
    assert error(r, "HINCRBYFLOAT", "h", "f", "1e5000") == "ERR value is not a valid float"
    r.hset("h", "s", "abc")
    assert error(r, "HINCRBYFLOAT", "h", "s", "1") == "ERR hash value is not a float"
    r.hset("h", "inf", "inf")
    assert error(r, "HINCRBYFLOAT", "h", "inf", "1") == "ERR increment would produce NaN or Infinity"
    r.hset("h", "big", "1e4932")
    assert error(r, "HINCRBYFLOAT", "h", "big", "1e4932") == \
        "ERR increment would produce NaN or Infinity"
    # the increment is checked before the key's type (as Redis)
    r.set("str", "v")
    assert error(r, "HINCRBYFLOAT", "str", "f", "abc") == "ERR value is not a valid float"
    assert error(r, "HINCRBY", "str", "f", "abc") == NOT_INTEGER


# -- HRANDFIELD ----------------------------------------------------------------------


def test_hrandfield(r):
    fields = {f"f{i}".encode(): f"v{i}".encode() for i in range(5)}
    r.hset("h", mapping=fields)
    assert raw(r, "HRANDFIELD", "h") in fields
    assert raw(r, "HRANDFIELD", "missing") is None
    assert raw(r, "HRANDFIELD", "missing", "3") == []
    assert raw(r, "HRANDFIELD", "missing", "3", "WITHVALUES") == []
    assert raw(r, "HRANDFIELD", "h", "0") == []
    got = raw(r, "HRANDFIELD", "h", "3")
    assert len(got) == 3 and len(set(got)) == 3 and set(got) <= set(fields)
    assert sorted(raw(r, "HRANDFIELD", "h", "10")) == sorted(fields)
    many = raw(r, "HRANDFIELD", "h", "-20")
    assert len(many) == 20 and set(many) <= set(fields)
    assert error(r, "HRANDFIELD", "h", "abc") == NOT_INTEGER
    assert error(r, "HRANDFIELD", "h", "1", "WITHVALUE") == SYNTAX
    assert error(r, "HRANDFIELD", "h", "1", "WITHVALUES", "x") == SYNTAX
    assert error(r, "HRANDFIELD", "h", "-9223372036854775808") == (
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    assert error(r, "HRANDFIELD", "h", "4611686018427387904", "WITHVALUES") == "ERR value is out of range"
    assert error(r, "HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES") == "ERR value is out of range"


def test_hrandfield_withvalues_shapes(conn):
    c2, c3 = conn(2), conn(3)
    c2.send("HSET", "h", "a", "1")
    c2.read_reply()
    for count in ("1", "-2", "5"):
        c2.send("HRANDFIELD", "h", count, "WITHVALUES")
        n = 2 if count == "-2" else 1
        assert c2.read_reply() == b"*%d\r\n" % (2 * n) + b"$1\r\na\r\n$1\r\n1\r\n" * n
        c3.send("HRANDFIELD", "h", count, "WITHVALUES")
        assert c3.read_reply() == b"*%d\r\n" % n + b"*2\r\n$1\r\na\r\n$1\r\n1\r\n" * n


def test_hrandfield_on_a_large_hash_is_random_and_current(r):
    r.hset("big", mapping={b"f%d" % i: b"v" for i in range(3000)})
    seen = set()
    for _ in range(20):
        seen.update(raw(r, "HRANDFIELD", "big", "-50"))
    assert len(seen) > 500
    got = raw(r, "HRANDFIELD", "big", "100", "WITHVALUES")
    pairs = got if isinstance(got[0], list) else list(zip(got[0::2], got[1::2]))
    assert len({f for f, _ in pairs}) == 100
    r.hdel("big", *[b"f%d" % i for i in range(2990)])  # the pool must not serve deleted fields
    assert set(raw(r, "HRANDFIELD", "big", "-30")) <= {b"f%d" % i for i in range(2990, 3000)}


# -- HSCAN ---------------------------------------------------------------------------


def test_hscan_small_hash_in_one_call(r):
    r.hset("h", mapping={"a": 1, "b": 2, "ab": 3})
    cursor, items = raw(r, "HSCAN", "h", "0")
    assert cursor == b"0" and sorted(zip(items[0::2], items[1::2])) == [
        (b"a", b"1"), (b"ab", b"3"), (b"b", b"2")]
    assert sorted(raw(r, "HSCAN", "h", "0", "MATCH", "a*", "NOVALUES")[1]) == [b"a", b"ab"]
    assert raw(r, "HSCAN", "missing", "0") == [b"0", []]
    assert raw(r, "HSCAN", "missing", "0", "BADOPTION") == [b"0", []]  # options after the lookup
    assert error(r, "HSCAN", "h", "0", "COUNT", "0") == SYNTAX
    assert error(r, "HSCAN", "h", "0", "COUNT", "x") == NOT_INTEGER
    assert error(r, "HSCAN", "h", "0", "MATCH") == SYNTAX
    assert error(r, "HSCAN", "h", "0", "FOO") == SYNTAX
    assert error(r, "HSCAN", "h", "x") == "ERR invalid cursor"
    assert error(r, "HSCAN", "h", "-1") == "ERR invalid cursor"  # 7.4's string2ull


def test_hscan_large_hash_survives_changes(r):
    """Fields present for the whole scan are returned; the hash changes
    between every call (deletions, insertions, overwrites)."""
    n = 2000
    r.hset("big", mapping={b"f%d" % i: b"v" for i in range(n)})
    stable = {b"f%d" % i for i in range(0, n, 2)}  # the even fields stay all along
    seen: set = set()
    cursor = b"0"
    calls = 0
    while True:
        cursor, items = raw(r, "HSCAN", "big", cursor, "COUNT", "50")
        seen.update(items[0::2])
        calls += 1
        r.hdel("big", *[b"f%d" % i for i in range(calls * 2 - 1, n, 194)][:5])  # odd ones only
        r.hset("big", mapping={b"new%d:%d" % (calls, j): b"x" for j in range(5)})
        if cursor == b"0":
            break
        assert calls < 1000
    assert stable <= seen
    assert calls > 10  # it did go in steps
    keys_only = raw(r, "HSCAN", "big", "0", "COUNT", "10", "NOVALUES")[1]
    assert len(keys_only) == 10 and all(k.startswith((b"f", b"new")) for k in keys_only)


def test_hscan_unknown_cursor_restarts(r):
    r.hset("big", mapping={b"f%d" % i: b"v" for i in range(500)})
    seen: set = set()
    cursor = b"123456789012"  # no such snapshot: a fresh scan
    while True:
        cursor, items = raw(r, "HSCAN", "big", cursor, "COUNT", "100", "NOVALUES")
        seen.update(items)
        if cursor == b"0":
            break
    assert len(seen) == 500


# -- generic commands ------------------------------------------------------------------


def test_type_encoding_scan_copy_rename_move(r):
    r.hset("h", mapping={"a": 1})
    assert r.type("h") == b"hash"
    assert r.object("encoding", "h") == b"listpack"  # small: Redis answers listpack (storage/encodings.py)
    r.set("s", "x")
    assert raw(r, "SCAN", "0", "TYPE", "hash", "COUNT", "1000")[1] == [b"h"]
    assert r.copy("h", "h2") == 1
    r.hset("h2", "b", "2")
    assert r.hgetall("h") == {b"a": b"1"}  # the copy shares nothing
    assert r.rename("h2", "h3") is True
    assert r.hgetall("h3") == {b"a": b"1", b"b": b"2"}
    assert r.move("h3", 1) is True
    assert r.exists("h3") == 0
    r.execute_command("SELECT", 1)
    assert r.hgetall("h3") == {b"a": b"1", b"b": b"2"}
    r.execute_command("FLUSHDB")
    r.execute_command("SELECT", 0)


def test_exec_replies_are_taken_when_the_command_runs(r):
    r.hset("h", "a", "1")
    pipe = r.pipeline(transaction=True)
    pipe.hgetall("h")
    pipe.hset("h", "b", "2")
    pipe.hkeys("h")
    first, _, keys = pipe.execute()
    assert first == {b"a": b"1"} and sorted(keys) == [b"a", b"b"]


def test_watch_fails_on_hash_change(node):
    a, b = node.client(), node.client()
    a.hset("h", "f", "1")
    with a.pipeline() as pipe:
        pipe.watch("h")
        b.hincrby("h", "f", 1)
        pipe.multi()
        pipe.hget("h", "f")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    a.close()
    b.close()


# -- field TTLs -----------------------------------------------------------------------


def test_hexpire_codes_and_conditions(r):
    r.hset("h", mapping={"a": 1, "b": 2, "c": 3})
    assert raw(r, "HEXPIRE", "h", "100", "FIELDS", "2", "a", "nope") == [1, -2]
    assert raw(r, "HTTL", "h", "FIELDS", "3", "a", "b", "nope") == [100, -1, -2]
    assert raw(r, "HEXPIRE", "h", "50", "GT", "FIELDS", "1", "a") == [0]
    assert raw(r, "HEXPIRE", "h", "200", "gt", "FIELDS", "2", "a", "b") == [1, 0]  # no TTL = infinite
    assert raw(r, "HEXPIRE", "h", "50", "LT", "FIELDS", "2", "a", "b") == [1, 1]
    assert raw(r, "HEXPIRE", "h", "500", "NX", "FIELDS", "2", "a", "c") == [0, 1]
    assert raw(r, "HEXPIRE", "h", "500", "XX", "FIELDS", "1", "c") == [1]
    assert raw(r, "HPEXPIRE", "h", "0", "XX", "FIELDS", "1", "nope") == [-2]
    assert raw(r, "HEXPIRE", "h", "0", "FIELDS", "1", "a") == [2]  # deleted now
    assert raw(r, "HGET", "h", "a") is None
    assert raw(r, "HEXPIRE", "missing", "10", "FIELDS", "2", "a", "b") == [-2, -2]
    assert raw(r, "HTTL", "missing", "FIELDS", "1", "a") == [-2]
    assert raw(r, "HPERSIST", "missing", "FIELDS", "1", "a") == [-2]
    # a time in the past deletes the last fields and the key
    assert raw(r, "HPEXPIREAT", "h", "1", "FIELDS", "2", "b", "c") == [2, 2]
    assert r.exists("h") == 0


def test_hexpire_errors(r):
    r.hset("h", "a", "1")
    assert error(r, "HEXPIRE", "h", "-1", "FIELDS", "1", "a") == "ERR invalid expire time, must be >= 0"
    assert error(r, "HEXPIRE", "h", "x", "FIELDS", "1", "a") == NOT_INTEGER
    assert error(r, "HEXPIRE", "h", "1", "FIELD", "1", "a") == \
        "ERR Mandatory argument FIELDS is missing or not at the right position"
    assert error(r, "HEXPIRE", "h", "1", "NX", "XX", "FIELDS", "1", "a") == \
        "ERR Mandatory argument FIELDS is missing or not at the right position"
    assert error(r, "HEXPIRE", "h", "1", "FIELDS", "0", "a") == \
        "ERR Parameter `numFields` should be greater than 0"
    assert error(r, "HEXPIRE", "h", "1", "FIELDS", "x", "a") == \
        "ERR Parameter `numFields` should be greater than 0"
    assert error(r, "HEXPIRE", "h", "1", "FIELDS", "2", "a") == \
        "ERR The `numfields` parameter must match the number of arguments"
    assert error(r, "HEXPIRE", "h", "1", "NX", "FIELDS", "1") == \
        "ERR The `numfields` parameter must match the number of arguments"
    assert error(r, "HEXPIRE", "h", "70368744177664", "FIELDS", "1", "a") == \
        "ERR invalid expire time in 'hexpire' command"
    assert error(r, "HPEXPIREAT", "h", "70368744177664", "FIELDS", "1", "a") == \
        "ERR invalid expire time in 'hpexpireat' command"
    assert raw(r, "HPEXPIREAT", "h", "70368744177663", "FIELDS", "1", "a") == [1]
    assert raw(r, "HPEXPIRETIME", "h", "FIELDS", "1", "a") == [70368744177663]
    assert error(r, "HTTL", "h", "FIELD", "1", "a") == \
        "ERR Mandatory argument FIELDS is missing or not at the right position"
    assert error(r, "HTTL", "h", "FIELDS", "0", "a") == "ERR Number of fields must be a positive integer"
    assert error(r, "HPERSIST", "h", "FIELDS", "-1", "a") == "ERR Number of fields must be a positive integer"
    assert error(r, "HPERSIST", "h", "FIELDS", "2", "a") == \
        "ERR The `numfields` parameter must match the number of arguments"


def test_ttl_readers_round_as_redis(r):
    now = server_ms(r)
    r.hset("h", mapping={"a": 1, "b": 2})
    at = now + 100_500
    assert raw(r, "HPEXPIREAT", "h", at, "FIELDS", "1", "a") == [1]
    assert raw(r, "HPEXPIRETIME", "h", "FIELDS", "2", "a", "b") == [at, -1]
    assert raw(r, "HEXPIRETIME", "h", "FIELDS", "1", "a") == [(at + 999) // 1000]  # rounds up
    ttl = raw(r, "HPTTL", "h", "FIELDS", "1", "a")[0]
    assert 99_000 < ttl <= 100_500
    assert raw(r, "HTTL", "h", "FIELDS", "1", "a") == [(ttl + 999) // 1000]
    assert raw(r, "HPERSIST", "h", "FIELDS", "3", "a", "b", "c") == [1, -1, -2]
    assert raw(r, "HTTL", "h", "FIELDS", "1", "a") == [-1]


def test_expired_fields_are_invisible_and_the_last_takes_the_key(r):
    r.hset("h", mapping={"a": 1, "b": 2, "c": 3})
    assert raw(r, "HPEXPIRE", "h", "1000", "FIELDS", "2", "a", "b") == [1, 1]
    advance(r, 2000)
    assert raw(r, "HLEN", "h") == 1
    assert raw(r, "HGET", "h", "a") is None
    assert r.hgetall("h") == {b"c": b"3"}
    assert raw(r, "HSET", "h", "a", "new") == 1  # created again, no TTL
    assert raw(r, "HTTL", "h", "FIELDS", "1", "a") == [-1]
    assert raw(r, "HPEXPIRE", "h", "1000", "FIELDS", "2", "a", "c") == [1, 1]
    advance(r, 2000)
    assert raw(r, "HEXISTS", "h", "c") == 0
    assert r.exists("h") == 0


def test_hset_clears_a_field_ttl_hincrby_keeps_it(r):
    r.hset("h", mapping={"a": 1, "n": 1, "f": 1, "x": 1})
    raw(r, "HEXPIRE", "h", "100", "FIELDS", "4", "a", "n", "f", "x")
    r.hset("h", "a", "2")
    r.hincrby("h", "n", 1)
    r.hincrbyfloat("h", "f", 1.5)
    assert raw(r, "HSETNX", "h", "x", "9") == 0
    assert raw(r, "HTTL", "h", "FIELDS", "4", "a", "n", "f", "x") == [-1, 100, 100, 100]
    r.hdel("h", "n")
    r.hset("h", "n", "fresh")
    assert raw(r, "HTTL", "h", "FIELDS", "1", "n") == [-1]


def test_field_ttls_travel_with_rename_copy_move(r):
    r.hset("h", mapping={"a": 1, "b": 2})
    raw(r, "HPEXPIRE", "h", "5000", "FIELDS", "1", "a")
    r.copy("h", "copy")
    r.rename("h", "renamed")
    for key in ("copy", "renamed"):
        assert 4000 < raw(r, "HPTTL", key, "FIELDS", "1", "a")[0] <= 5000
    r.move("copy", 1)
    r.execute_command("SELECT", 1)
    assert 4000 < raw(r, "HPTTL", "copy", "FIELDS", "1", "a")[0] <= 5000
    r.execute_command("SELECT", 0)
    # key TTLs and field TTLs are independent
    r.expire("renamed", 1000)
    assert r.ttl("renamed") == 1000
    assert 4000 < raw(r, "HPTTL", "renamed", "FIELDS", "1", "a")[0] <= 5000
    advance(r, 6000)
    assert r.hgetall("renamed") == {b"b": b"2"}
    r.execute_command("SELECT", 1)
    assert r.hgetall("copy") == {b"b": b"2"}
    r.execute_command("FLUSHDB")
    r.execute_command("SELECT", 0)


def test_active_expiry_reclaims_unread_hashes(r):
    """Nobody reads the hashes: the cron reclaims their fields and deletes the
    emptied keys (DBSIZE does not reclaim anything itself)."""
    for i in range(30):
        r.hset(f"gone{i}", mapping={"a": 1, "b": 2})
        raw(r, "HPEXPIRE", f"gone{i}", "1000", "FIELDS", "2", "a", "b")
    r.hset("kept", mapping={"a": 1, "b": 2})
    raw(r, "HPEXPIRE", "kept", "1000", "FIELDS", "1", "a")
    r.copy("gone0", "copied")
    r.rename("gone1", "renamed")
    assert r.dbsize() == 32
    advance(r, 2000)
    wait_for(lambda: r.dbsize() == 1)
    assert r.hgetall("kept") == {b"b": b"2"}


def test_debug_set_active_expire_stops_field_expiry(r):
    r.hset("h", "a", "1")
    raw(r, "HPEXPIRE", "h", "100", "FIELDS", "1", "a")
    assert raw(r, "DEBUG", "SET-ACTIVE-EXPIRE", "0") == b"OK"
    try:
        advance(r, 1000)
        time.sleep(0.3)  # three cron ticks: nothing may happen (this is what is tested)
        assert r.dbsize() == 1
    finally:
        raw(r, "DEBUG", "SET-ACTIVE-EXPIRE", "1")
    assert r.exists("h") == 1  # EXISTS does not look inside (nor does Redis)
    assert raw(r, "HLEN", "h") == 0  # a hash command reclaims lazily
    assert r.exists("h") == 0


# -- keyspace notifications -------------------------------------------------------------


@pytest.fixture
def events(node):
    client = node.client()
    listener = node.client()
    client.config_set("notify-keyspace-events", "KEA")
    ps = listener.pubsub()
    ps.psubscribe("__keyevent@0__:*")
    ps.subscribe("~sentinel~")
    for _ in range(2):
        assert ps.get_message(timeout=5)["type"] in ("psubscribe", "subscribe")

    def run(*command):
        try:
            client.execute_command(*command)
        except redis.ResponseError:
            pass
        client.publish("~sentinel~", "x")
        got = []
        while True:
            m = ps.get_message(timeout=5)
            assert m is not None
            if m["channel"] == b"~sentinel~":
                return got
            got.append(m["channel"].decode().split(":", 1)[1])

    def until(count: int) -> list:
        got = []
        while len(got) < count:
            m = ps.get_message(timeout=5)
            assert m is not None, got
            got.append((m["channel"].decode().split(":", 1)[1], m["data"].decode()))
        return got

    run.until = until
    yield run
    client.config_set("notify-keyspace-events", "")
    ps.close()
    client.close()
    listener.close()


def test_notifications(events):
    assert events("HSET", "h", "a", "1", "b", "2") == ["hset"]
    assert events("HSETNX", "h", "a", "1") == []
    assert events("HSETNX", "h", "c", "1") == ["hset"]
    assert events("HMSET", "h", "c", "2") == ["hset"]
    assert events("HINCRBY", "h", "n", "1") == ["hincrby"]
    assert events("HINCRBYFLOAT", "h", "f", "1.5") == ["hincrbyfloat"]
    assert events("HDEL", "h", "nope") == []
    assert events("HDEL", "h", "n", "f") == ["hdel"]
    assert events("HEXPIRE", "h", "100", "FIELDS", "1", "a") == ["hexpire"]
    assert events("HEXPIRE", "h", "100", "NX", "FIELDS", "1", "a") == []
    assert events("HPERSIST", "h", "FIELDS", "1", "a") == ["hpersist"]
    assert events("HPERSIST", "h", "FIELDS", "1", "a") == []
    assert events("HEXPIRE", "h", "0", "FIELDS", "1", "a") == ["hdel"]
    assert events("HPEXPIREAT", "h", "1", "FIELDS", "2", "b", "c") == ["hdel", "del"]
    assert events("HSET", "g", "a", "1") == ["hset"]
    assert events("HDEL", "g", "a") == ["hdel", "del"]
    events("HSET", "e", "a", "1", "b", "2")
    events("HPEXPIRE", "e", "100", "FIELDS", "1", "a")
    events("DEBUG", "ADVANCE-CLOCK", "200")
    assert events("HGET", "e", "b") == ["hexpired"]
    events("HPEXPIRE", "e", "100", "FIELDS", "1", "b")
    events("DEBUG", "ADVANCE-CLOCK", "200")
    assert events("HLEN", "e") == ["hexpired", "del"]


def test_active_expiry_notifies(events):
    events("HSET", "h", "a", "1")
    events("HPEXPIRE", "h", "100", "FIELDS", "1", "a")
    events("DEBUG", "ADVANCE-CLOCK", "200")
    assert events.until(2) == [("hexpired", "h"), ("del", "h")]


# -- propagation and restart (append-only file, snapshot) ------------------------------


def _aof_text(directory) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((directory / "appendonlydir").glob("*.aof")))


def _resp(*args) -> bytes:
    return b"".join([b"*%d\r\n" % len(args)] + [b"$%d\r\n%b\r\n" % (len(a), a) for a in args])


def test_propagation_and_aof_replay(tmp_path):
    from nodes import start_node

    flags = ("--appendonly", "yes", "--appendfsync", "always", "--dir", str(tmp_path))
    with start_node(tmp_path, *flags) as node:
        c = node.client()
        c.hset("h", mapping={"f": "1.5", "g": "1", "x": "1", "y": "1"})
        assert raw(c, "HPEXPIRE", "h", "100000", "FIELDS", "3", "f", "nope", "g") == [1, -2, 1]
        assert c.hincrbyfloat("h", "f", 1) == 2.5
        assert raw(c, "HEXPIRE", "h", "0", "FIELDS", "1", "x") == [2]
        assert raw(c, "HEXPIRE", "h", "10", "XX", "FIELDS", "1", "y") == [0]
        # a field that expires soon, incremented while it lives
        c.hset("soon", mapping={"n": "1", "other": "v"})
        raw(c, "HPEXPIRE", "soon", "500", "FIELDS", "1", "n")
        assert c.hincrby("soon", "n", 1) == 2
        deadline = time.time() * 1000 + 500  # (the node's clock is the real one here)
        text = _aof_text(tmp_path)
        assert _resp(b"HSET", b"h", b"f", b"2.5") in text  # the result, not HINCRBYFLOAT
        assert b"HINCRBYFLOAT" not in text and b"HPEXPIRE\r\n" not in text
        assert b"$10\r\nHPEXPIREAT\r\n$1\r\nh\r\n" in text
        assert _resp(b"HDEL", b"h", b"x") in text
        assert b"XX" not in text  # a condition that set nothing propagates nothing
    while time.time() * 1000 < deadline + 50:  # the restart must come after n's time
        time.sleep(0.05)
    with start_node(tmp_path, *flags) as node:
        c = node.client()
        assert c.hgetall("h") == {b"f": b"2.5", b"g": b"1", b"y": b"1"}
        ttls = raw(c, "HPTTL", "h", "FIELDS", "3", "f", "g", "y")
        assert 90_000 < ttls[0] <= 100_000 and 90_000 < ttls[1] <= 100_000 and ttls[2] == -1
        # replayed as it ran (loading keeps past TTLs), then expired: not a fresh n=1
        assert c.hgetall("soon") == {b"other": b"v"}


def test_snapshot_keeps_field_ttls(tmp_path):
    from nodes import start_node

    with start_node(tmp_path, "--dir", str(tmp_path), "--save", "") as node:
        c = node.client()
        c.hset("h", mapping={"a": "1", "b": "2"})
        raw(c, "HPEXPIRE", "h", "100000", "FIELDS", "1", "a")
        c.hset("only", "a", "1")
        raw(c, "HPEXPIRE", "only", "100000", "FIELDS", "1", "a")
        assert c.save() is True
    with start_node(tmp_path, "--dir", str(tmp_path), "--save", "") as node:
        c = node.client()
        assert c.hgetall("h") == {b"a": b"1", b"b": b"2"}
        assert 90_000 < raw(c, "HPTTL", "h", "FIELDS", "1", "a")[0] <= 100_000
        advance(c, 200_000)
        wait_for(lambda: c.dbsize() == 1)  # "only" went by the active cycle: queued on load
        assert c.hgetall("h") == {b"b": b"2"}
