"""String commands over the wire, RESP2 and RESP3 (the `r` fixture runs each
test once per protocol). Expected replies and error texts were checked side
by side against redis-server. TTLs are exercised with DEBUG ADVANCE-CLOCK,
which moves the node's clock instead of sleeping.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import redis

from support import advance, error, raw, server_ms

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"


def make_hash(client: redis.Redis, key: str) -> None:
    """A key of another type, for WRONGTYPE."""
    assert raw(client, "HSET", key, "f", "v") == 1


# -- SET variants -------------------------------------------------------------------


def test_setnx(r):
    assert raw(r, "SETNX", "k", "1") == 1
    assert raw(r, "SETNX", "k", "2") == 0
    assert r.get("k") == b"1"
    assert error(r, "SETNX", "k") == "ERR wrong number of arguments for 'setnx' command"


def test_setex_and_psetex(r):
    assert raw(r, "SETEX", "k", 100, "v") == b"OK"
    assert r.ttl("k") == 100
    assert raw(r, "PSETEX", "p", 100000, "v") == b"OK"
    assert 99_000 <= r.pttl("p") <= 100_000
    assert r.get("p") == b"v"
    assert error(r, "SETEX", "k", 0, "v") == "ERR invalid expire time in 'setex' command"
    assert error(r, "SETEX", "k", -1, "v") == "ERR invalid expire time in 'setex' command"
    assert error(r, "PSETEX", "k", 0, "v") == "ERR invalid expire time in 'psetex' command"
    assert error(r, "SETEX", "k", "abc", "v") == NOT_INTEGER
    assert error(r, "SETEX", "k", 9223372036854775807, "v") == "ERR invalid expire time in 'setex' command"


def test_setex_expires_with_the_clock(r):
    r.psetex("k", 1000, "v")
    advance(r, 500)  # (real time passes too: leave it a wide margin)
    assert r.get("k") == b"v"
    advance(r, 501)
    assert r.get("k") is None


def test_getset(r):
    r.set("k", "old", ex=100)
    assert raw(r, "GETSET", "k", "new") == b"old"
    assert r.get("k") == b"new"
    assert r.ttl("k") == -1  # GETSET clears the TTL
    assert raw(r, "GETSET", "missing", "v") is None
    assert raw(r, "GETSET", "k", "x") == b"new"


def test_mget_mset_msetnx(r):
    assert raw(r, "MSET", "a", "1", "b", "2") == b"OK"
    assert raw(r, "MGET", "a", "b", "c") == [b"1", b"2", None]
    assert error(r, "MSET", "a", "1", "b") == "ERR wrong number of arguments for 'mset' command"
    assert error(r, "MSET", "a") == "ERR wrong number of arguments for 'mset' command"
    assert raw(r, "MSETNX", "a", "9", "z", "9") == 0
    assert r.exists("z") == 0
    assert raw(r, "MSETNX", "y", "1", "z", "2") == 1
    assert r.mget("y", "z") == [b"1", b"2"]
    assert error(r, "MSETNX", "q", "1", "r") == "ERR wrong number of arguments for 'msetnx' command"


def test_mset_clears_ttl(r):
    r.set("k", "v", ex=100)
    r.mset({"k": "w"})
    assert r.ttl("k") == -1


def test_getdel(r):
    r.set("k", "v")
    assert raw(r, "GETDEL", "k") == b"v"
    assert raw(r, "GETDEL", "k") is None
    assert r.exists("k") == 0


def test_getex(r):
    r.set("k", "v")
    assert raw(r, "GETEX", "k") == b"v"
    assert r.ttl("k") == -1
    assert raw(r, "GETEX", "k", "EX", 100) == b"v"
    assert r.ttl("k") == 100
    assert raw(r, "GETEX", "k", "PX", 5000) == b"v"
    assert 4900 <= r.pttl("k") <= 5000
    assert raw(r, "GETEX", "k", "PERSIST") == b"v"
    assert r.ttl("k") == -1
    now = server_ms(r)
    assert raw(r, "GETEX", "k", "PXAT", now + 60_000) == b"v"
    assert r.pexpiretime("k") == now + 60_000
    assert raw(r, "GETEX", "k", "EXAT", now // 1000 + 100) == b"v"
    assert r.expiretime("k") == now // 1000 + 100
    assert raw(r, "GETEX", "k", "EXAT", 1) == b"v"  # already past: the key goes
    assert r.exists("k") == 0
    assert raw(r, "GETEX", "missing", "EX", 10) is None


def test_getex_errors(r):
    r.set("k", "v")
    assert error(r, "GETEX", "k", "EX", 0) == "ERR invalid expire time in 'getex' command"
    assert raw(r, "GETEX", "missing", "PX", -1) is None  # the time is read after the lookup
    assert error(r, "GETEX", "k", "EX", "abc") == NOT_INTEGER
    assert error(r, "GETEX", "k", "EX") == SYNTAX
    assert error(r, "GETEX", "k", "EX", 1, "PX", 1) == SYNTAX
    assert error(r, "GETEX", "k", "PERSIST", "EX", 1) == SYNTAX
    assert error(r, "GETEX", "k", "FOO") == SYNTAX
    assert error(r, "GETEX") == "ERR wrong number of arguments for 'getex' command"


def test_getex_ttl_runs_out(r):
    r.set("k", "v")
    r.execute_command("GETEX", "k", "PX", 50)
    advance(r, 50)
    assert r.get("k") is None


# -- APPEND, STRLEN, SETRANGE, GETRANGE ---------------------------------------------


def test_append_strlen(r):
    assert raw(r, "APPEND", "k", "Hello") == 5
    assert raw(r, "APPEND", "k", " World") == 11
    assert r.get("k") == b"Hello World"
    assert raw(r, "STRLEN", "k") == 11
    assert raw(r, "STRLEN", "missing") == 0


def test_setrange(r):
    assert raw(r, "SETRANGE", "k", 5, "abc") == 8
    assert r.get("k") == b"\x00\x00\x00\x00\x00abc"
    r.set("k", "Hello World")
    assert raw(r, "SETRANGE", "k", 6, "Redis") == 11
    assert r.get("k") == b"Hello Redis"
    assert raw(r, "SETRANGE", "k", 0, "") == 11
    assert raw(r, "SETRANGE", "empty", 10, "") == 0
    assert r.exists("empty") == 0
    assert error(r, "SETRANGE", "k", -1, "x") == "ERR offset is out of range"
    assert error(r, "SETRANGE", "k", "abc", "x") == NOT_INTEGER
    too_long = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    assert error(r, "SETRANGE", "k", 536870912, "x") == too_long
    assert error(r, "SETRANGE", "k", 536870910, "xyz") == too_long


def test_getrange(r):
    r.set("k", "Hello World")
    assert raw(r, "GETRANGE", "k", 0, 4) == b"Hello"
    assert raw(r, "GETRANGE", "k", -5, -1) == b"World"
    assert raw(r, "GETRANGE", "k", -1, -5) == b""
    assert raw(r, "GETRANGE", "k", 0, -100) == b"H"  # Redis 7.4's rule
    assert raw(r, "GETRANGE", "k", 5, 3) == b""
    assert raw(r, "GETRANGE", "k", 0, 100) == b"Hello World"
    assert raw(r, "GETRANGE", "missing", 0, -1) == b""  # empty string, not nil
    assert error(r, "GETRANGE", "k", "a", 1) == NOT_INTEGER


def test_append_and_setrange_respect_proto_max_bulk_len(r):
    r.config_set("proto-max-bulk-len", "1mb")
    try:
        r.set("k", b"x" * (1024 * 1024 - 1))
        assert r.append("k", "y") == 1024 * 1024
        assert error(r, "APPEND", "k", "z") == (
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        assert r.strlen("k") == 1024 * 1024
    finally:
        r.config_set("proto-max-bulk-len", "512mb")


# -- counters ---------------------------------------------------------------------


def test_incr_decr(r):
    assert raw(r, "INCR", "n") == 1
    assert raw(r, "INCRBY", "n", 10) == 11
    assert raw(r, "DECR", "n") == 10
    assert raw(r, "DECRBY", "n", 20) == -10
    assert r.get("n") == b"-10"


def test_incr_errors(r):
    r.set("s", "abc")
    assert error(r, "INCR", "s") == NOT_INTEGER
    r.set("s", " 1")
    assert error(r, "INCR", "s") == NOT_INTEGER
    assert error(r, "INCRBY", "n", "1.5") == NOT_INTEGER
    r.set("n", 9223372036854775807)
    assert error(r, "INCR", "n") == "ERR increment or decrement would overflow"
    r.set("n", -9223372036854775808)
    assert error(r, "DECR", "n") == "ERR increment or decrement would overflow"
    assert error(r, "DECRBY", "n", -9223372036854775808) == "ERR decrement would overflow"
    assert error(r, "INCRBY", "n", 9223372036854775808) == NOT_INTEGER


def test_incrbyfloat(r):
    # A bulk string in both protocols (not a RESP3 double), digits as Redis prints them.
    assert raw(r, "INCRBYFLOAT", "f", "10.5") == b"10.5"
    assert raw(r, "INCRBYFLOAT", "f", "0.1") == b"10.6"
    assert raw(r, "INCRBYFLOAT", "f", "5.0e3") == b"5010.60000000000000009"
    assert raw(r, "INCRBYFLOAT", "f", "1e20") == b"100000000000000005008"
    assert r.get("f") == b"100000000000000005008"
    r.set("g", "0")
    assert raw(r, "INCRBYFLOAT", "g", "0.1") == b"0.1"
    assert raw(r, "INCRBYFLOAT", "g", "0.2") == b"0.3"
    assert raw(r, "INCRBYFLOAT", "g", "-0.3") == b"0"


def test_incrbyfloat_errors(r):
    r.set("f", "1")
    assert error(r, "INCRBYFLOAT", "f", "abc") == NOT_FLOAT
    assert error(r, "INCRBYFLOAT", "f", "1e5000") == NOT_FLOAT
    assert error(r, "INCRBYFLOAT", "f", "inf") == "ERR increment would produce NaN or Infinity"
    r.set("s", "abc")
    assert error(r, "INCRBYFLOAT", "s", "1") == NOT_FLOAT


def test_in_place_changes_keep_ttl_and_set_clears_it(r):
    for command in (("APPEND", "k", "x"), ("SETRANGE", "k", 0, "y"), ("INCR", "k"),
                    ("INCRBYFLOAT", "k", "1.5"), ("DECRBY", "k", 3)):
        r.set("k", "1", ex=100)
        raw(r, *command)
        assert r.ttl("k") == 100, command
    r.set("k", "1", ex=100)
    r.set("k", "2")
    assert r.ttl("k") == -1


def test_counter_on_an_expired_key_starts_over(r):
    r.set("n", "41", px=100)
    advance(r, 100)
    assert r.incr("n") == 1
    assert r.ttl("n") == -1


def test_wrongtype(r):
    make_hash(r, "h")
    for command in (("GET", "h"), ("GETSET", "h", "v"), ("GETDEL", "h"), ("GETEX", "h"),
                    ("APPEND", "h", "v"), ("STRLEN", "h"), ("INCR", "h"), ("DECRBY", "h", 1),
                    ("INCRBYFLOAT", "h", 1), ("GETRANGE", "h", 0, 1), ("SETRANGE", "h", 0, "v")):
        assert error(r, *command) == WRONGTYPE, command
    assert raw(r, "MGET", "h") == [None]
    assert raw(r, "SETNX", "h", "v") == 0
    assert raw(r, "MSET", "h", "v") == b"OK"  # MSET overwrites any type
    assert r.get("h") == b"v"


# -- redis-cli ---------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")
@pytest.mark.parametrize("protocol", ["-2", "-3"])
def test_redis_cli_round_trip(node, protocol):
    def cli(*args: str) -> str:
        done = subprocess.run(["redis-cli", protocol, "-p", str(node.port), *args],
                              capture_output=True, text=True, timeout=10)
        assert done.returncode == 0, done.stderr
        return done.stdout.removesuffix("\n")

    assert cli("set", "a", "b") == "OK"
    assert cli("get", "a") == "b"
    assert cli("append", "a", "cd") == "3"
    assert cli("mset", "x", "1", "y", "2") == "OK"
    assert cli("mget", "a", "x", "nope").split("\n") == ["bcd", "1", ""]
    assert cli("incrbyfloat", "x", "0.5") == "1.5"
    assert cli("getrange", "a", "0", "1") == "bc"
    assert cli("setex", "t", "100", "v") == "OK"
    assert cli("ttl", "t") == "100"
    assert cli("incr", "a").startswith("ERR value is not an integer")
