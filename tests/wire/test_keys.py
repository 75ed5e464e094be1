"""Generic key commands over the wire, RESP2 and RESP3 (the `r` fixture runs
each test once per protocol). Replies and error texts were compared with
redis-server; TTLs are driven with DEBUG ADVANCE-CLOCK instead of sleeping.
"""

from __future__ import annotations

import random

import pytest
import redis

from support import advance, error, raw, server_ms

NOT_INTEGER = "ERR value is not an integer or out of range"
SYNTAX = "ERR syntax error"


# -- DEL, UNLINK, EXISTS, TOUCH, TYPE ------------------------------------------------


def test_del_unlink_exists_touch(r):
    r.mset({"a": 1, "b": 2, "c": 3})
    assert raw(r, "EXISTS", "a", "a", "zz") == 2
    assert raw(r, "TOUCH", "a", "b", "zz") == 2
    assert raw(r, "DEL", "a", "b", "a", "zz") == 2
    assert raw(r, "UNLINK", "c", "c") == 1
    assert raw(r, "EXISTS", "a", "b", "c") == 0
    assert error(r, "DEL") == "ERR wrong number of arguments for 'del' command"


def test_type(r):
    r.set("s", "v")
    assert raw(r, "TYPE", "s") == b"string"
    assert raw(r, "TYPE", "missing") == b"none"


def test_expired_key_is_gone(r):
    r.set("k", "v", px=100)
    advance(r, 100)
    assert raw(r, "EXISTS", "k") == 0
    assert raw(r, "TYPE", "k") == b"none"
    assert raw(r, "TTL", "k") == -2
    assert raw(r, "DEL", "k") == 0


# -- RENAME, RENAMENX, COPY, MOVE ----------------------------------------------------


def test_rename(r):
    r.set("a", "1", ex=100)
    r.set("b", "2")
    assert raw(r, "RENAME", "a", "b") == b"OK"
    assert r.get("b") == b"1"
    assert r.ttl("b") == 100
    assert r.exists("a") == 0
    assert raw(r, "RENAME", "b", "b") == b"OK"
    assert error(r, "RENAME", "missing", "x") == "ERR no such key"


def test_renamenx(r):
    r.mset({"a": 1, "b": 2})
    assert raw(r, "RENAMENX", "a", "b") == 0
    assert raw(r, "RENAMENX", "a", "a") == 0
    assert raw(r, "RENAMENX", "a", "c") == 1
    assert r.get("c") == b"1"
    assert error(r, "RENAMENX", "missing", "x") == "ERR no such key"


def test_copy(r):
    r.set("a", "1", ex=100)
    assert raw(r, "COPY", "a", "b") == 1
    assert r.get("b") == b"1" and r.ttl("b") == 100
    assert raw(r, "COPY", "a", "b") == 0
    r.set("a", "2")
    assert raw(r, "COPY", "a", "b", "REPLACE") == 1
    assert r.get("b") == b"2" and r.ttl("b") == -1
    assert raw(r, "COPY", "missing", "b") == 0
    assert raw(r, "COPY", "a", "a", "DB", 1) == 1
    assert error(r, "COPY", "a", "a") == "ERR source and destination objects are the same"
    assert error(r, "COPY", "a", "x", "DB", 16) == "ERR DB index is out of range"
    assert error(r, "COPY", "a", "x", "DB", "abc") == NOT_INTEGER
    assert error(r, "COPY", "a", "x", "DB") == SYNTAX
    assert error(r, "COPY", "a", "x", "FOO") == SYNTAX
    r.execute_command("SELECT", 1)
    assert r.get("a") == b"2"


def test_move(r):
    r.set("k", "v", ex=100)
    assert raw(r, "MOVE", "k", 1) == 1
    assert r.exists("k") == 0
    r.set("k", "other")
    assert raw(r, "MOVE", "k", 1) == 0
    assert raw(r, "MOVE", "missing", 1) == 0
    assert error(r, "MOVE", "k", 0) == "ERR source and destination objects are the same"
    assert error(r, "MOVE", "k", 16) == "ERR DB index is out of range"
    assert error(r, "MOVE", "k", "abc") == NOT_INTEGER
    assert error(r, "MOVE", "k", 99999999999) == (
        "ERR value is out of range, value must between -2147483648 and 2147483647")
    r.execute_command("SELECT", 1)
    assert r.get("k") == b"v" and r.ttl("k") == 100


def test_database_numbers_are_read_as_redis_reads_them(r):
    """SELECT, SWAPDB, MOVE and COPY ... DB all read getIntFromObjectOrReply's
    strict integer (texts checked against redis-server 7.0): no blanks, no
    '+', no leading zero, within a C int."""
    out_of_int = "ERR value is out of range, value must between -2147483648 and 2147483647"
    for bad in (" 1", "+1", "01", "1.0", "one"):
        assert error(r, "SELECT", bad) == NOT_INTEGER, bad
        assert error(r, "MOVE", "k", bad) == NOT_INTEGER, bad
        assert error(r, "SWAPDB", bad, 0) == "ERR invalid first DB index", bad
        assert error(r, "SWAPDB", 0, bad) == "ERR invalid second DB index", bad
    assert error(r, "SELECT", 99999999999) == out_of_int
    assert error(r, "SWAPDB", 99999999999, 0) == "ERR invalid first DB index"
    assert error(r, "SELECT", -1) == "ERR DB index is out of range"
    assert error(r, "SELECT", 16) == "ERR DB index is out of range"
    assert error(r, "SWAPDB", -1, 0) == "ERR DB index is out of range"
    assert error(r, "SWAPDB", 0, "x") == "ERR invalid second DB index"  # both are read first
    assert raw(r, "SELECT", "0") == b"OK" and raw(r, "SWAPDB", "0", "0") == b"OK"


# -- KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSH ---------------------------------------------


def test_keys(r):
    r.mset({"user:1": 1, "user:2": 2, "user:10": 3, "other": 4, "h[1]": 5})
    assert sorted(raw(r, "KEYS", "*")) == [b"h[1]", b"other", b"user:1", b"user:10", b"user:2"]
    assert sorted(raw(r, "KEYS", "user:?")) == [b"user:1", b"user:2"]
    assert sorted(raw(r, "KEYS", "user:[^1]*")) == [b"user:2"]
    assert raw(r, "KEYS", "h\\[1\\]") == [b"h[1]"]
    assert raw(r, "KEYS", "nothing*") == []
    r.pexpire("other", 10)
    advance(r, 10)
    assert b"other" not in raw(r, "KEYS", "*")


def scan_all(client, *options):
    cursor, seen = b"0", []
    while True:
        cursor, keys = raw(client, "SCAN", cursor, *options)
        seen.extend(keys)
        if cursor == b"0":
            return seen


def test_scan(r):
    keys = {b"key:%d" % i for i in range(500)}
    r.mset({k: b"v" for k in keys})
    seen = scan_all(r, "COUNT", 50)
    assert len(seen) == len(keys) and set(seen) == keys
    cursor, batch = raw(r, "SCAN", 0)
    assert isinstance(cursor, bytes) and cursor != b"0" and len(batch) >= 10
    assert sorted(scan_all(r, "MATCH", "key:1?")) == sorted(b"key:1%d" % i for i in range(10))
    assert len(scan_all(r, "TYPE", "string")) == 500
    assert scan_all(r, "TYPE", "hash") == []


def test_scan_errors(r):
    assert error(r, "SCAN", "abc") == "ERR invalid cursor"
    assert error(r, "SCAN", "0", "COUNT", "0") == SYNTAX
    assert error(r, "SCAN", "0", "COUNT", "x") == NOT_INTEGER
    assert error(r, "SCAN", "0", "MATCH") == SYNTAX
    assert error(r, "SCAN", "0", "FOO", "1") == SYNTAX


def test_scan_returns_original_keys_while_10k_keys_are_added(r):
    originals = {b"orig:%d" % i for i in range(1000)}
    r.mset({k: b"v" for k in originals})
    rng = random.Random(7)
    added = 0
    seen: set[bytes] = set()
    cursor = b"0"
    while True:
        cursor, keys = raw(r, "SCAN", cursor, "COUNT", 20)
        seen.update(keys)
        if added < 10_000:
            pipe = r.pipeline(transaction=False)
            for _ in range(250):
                pipe.set(b"new:%d:%d" % (added, rng.randrange(10**9)), b"v")
                added += 1
            pipe.execute()
        if cursor == b"0":
            break
    assert added == 10_000
    assert originals <= seen


def test_scan_skips_expired_keys(r):
    r.set("live", "v")
    r.set("dead", "v", px=10)
    advance(r, 10)
    assert scan_all(r) == [b"live"]


def test_randomkey_dbsize(r):
    assert raw(r, "RANDOMKEY") is None
    assert raw(r, "DBSIZE") == 0
    r.mset({"a": 1, "b": 2})
    assert raw(r, "RANDOMKEY") in (b"a", b"b")
    assert raw(r, "DBSIZE") == 2


def test_flushdb_flushall(r):
    r.set("a", 1)
    r.execute_command("SELECT", 1)
    r.set("b", 1)
    assert raw(r, "FLUSHDB", "ASYNC") == b"OK"
    assert raw(r, "DBSIZE") == 0
    r.set("b", 1)
    assert raw(r, "FLUSHALL", "SYNC") == b"OK"
    assert raw(r, "DBSIZE") == 0
    r.execute_command("SELECT", 0)
    assert raw(r, "DBSIZE") == 0
    assert error(r, "FLUSHALL", "FOO") == SYNTAX
    assert error(r, "FLUSHDB", "SYNC", "ASYNC") == SYNTAX


def test_flushall_fails_watchers(node, r):
    watcher = node.client(protocol=r.connection_pool.connection_kwargs.get("protocol", 2))
    try:
        r.set("k", "v")
        with watcher.pipeline() as pipe:
            pipe.watch("k")
            r.flushall()
            pipe.multi()
            pipe.set("k", "mine")
            with pytest.raises(redis.WatchError):
                pipe.execute()
    finally:
        watcher.close()


def test_watch_sees_string_and_key_writes(node, r):
    other = node.client()
    try:
        for change in (("INCR", "k"), ("APPEND", "k", "1"), ("EXPIRE", "k", 100),
                       ("PERSIST", "k"), ("SETRANGE", "k", 0, "9"), ("INCRBYFLOAT", "k", 1),
                       ("MSET", "k", "7"), ("DEL", "k")):
            r.set("k", "1", ex=1000)
            with r.pipeline() as pipe:
                pipe.watch("k")
                raw(other, *change)
                pipe.multi()
                pipe.get("k")
                with pytest.raises(redis.WatchError):
                    pipe.execute()
    finally:
        other.close()


# -- EXPIRE family, TTL, PERSIST ------------------------------------------------------


def test_expire_ttl_and_expiry(r):
    r.set("k", "v")
    assert raw(r, "TTL", "k") == -1 and raw(r, "PTTL", "k") == -1
    assert raw(r, "EXPIRETIME", "k") == -1 and raw(r, "PEXPIRETIME", "k") == -1
    assert raw(r, "TTL", "missing") == -2 and raw(r, "PEXPIRETIME", "missing") == -2
    assert raw(r, "EXPIRE", "k", 10) == 1
    assert raw(r, "TTL", "k") == 10
    assert 9_000 < raw(r, "PTTL", "k") <= 10_000
    advance(r, 9_000)
    assert raw(r, "TTL", "k") in (0, 1)
    advance(r, 1_000)
    assert raw(r, "GET", "k") is None
    assert raw(r, "EXPIRE", "k", 10) == 0


def test_pexpire_expireat_pexpireat(r):
    r.set("k", "v")
    now = server_ms(r)
    assert raw(r, "PEXPIRE", "k", 1500) == 1
    assert 1_000 < raw(r, "PTTL", "k") <= 1500
    assert raw(r, "EXPIREAT", "k", now // 1000 + 100) == 1
    assert raw(r, "EXPIRETIME", "k") == now // 1000 + 100
    assert raw(r, "PEXPIREAT", "k", now + 50_000) == 1
    assert raw(r, "PEXPIRETIME", "k") == now + 50_000
    advance(r, 50_000 + 1000)
    assert r.exists("k") == 0


def test_expire_in_the_past_deletes(r):
    for command in (("EXPIRE", "k", 0), ("EXPIRE", "k", -1), ("PEXPIRE", "k", -100),
                    ("EXPIREAT", "k", 1), ("PEXPIREAT", "k", 1000)):
        r.set("k", "v")
        assert raw(r, *command) == 1, command
        assert r.exists("k") == 0, command


def test_expire_options(r):
    r.set("k", "v")
    assert raw(r, "EXPIRE", "k", 100, "XX") == 0
    assert raw(r, "EXPIRE", "k", 100, "GT") == 0
    assert raw(r, "EXPIRE", "k", 100, "NX") == 1
    assert raw(r, "EXPIRE", "k", 200, "NX") == 0
    assert raw(r, "EXPIRE", "k", 50, "GT") == 0
    assert raw(r, "EXPIRE", "k", 300, "GT") == 1
    assert raw(r, "EXPIRE", "k", 400, "LT") == 0
    assert raw(r, "EXPIRE", "k", 250, "LT") == 1
    assert raw(r, "TTL", "k") == 250
    assert raw(r, "PERSIST", "k") == 1
    assert raw(r, "EXPIRE", "k", 20, "LT") == 1  # no TTL is infinite: anything is less


def test_expire_errors(r):
    r.set("k", "v")
    assert error(r, "EXPIRE", "k", 10, "NX", "XX") == (
        "ERR NX and XX, GT or LT options at the same time are not compatible")
    assert error(r, "EXPIRE", "k", 10, "GT", "LT") == (
        "ERR GT and LT options at the same time are not compatible")
    assert error(r, "EXPIRE", "k", 10, "FOO") == "ERR Unsupported option FOO"
    assert error(r, "EXPIRE", "k", "abc") == NOT_INTEGER
    assert error(r, "EXPIRE", "k", 9223372036854775807) == "ERR invalid expire time in 'expire' command"
    assert error(r, "PEXPIRE", "k", 9223372036854775807) == "ERR invalid expire time in 'pexpire' command"
    assert error(r, "EXPIREAT", "k", 9223372036854775807) == (
        "ERR invalid expire time in 'expireat' command")
    assert error(r, "EXPIRE", "k") == "ERR wrong number of arguments for 'expire' command"


def test_persist(r):
    r.set("k", "v", ex=100)
    assert raw(r, "PERSIST", "k") == 1
    assert raw(r, "PERSIST", "k") == 0
    assert raw(r, "PERSIST", "missing") == 0
    assert raw(r, "TTL", "k") == -1
    advance(r, 200_000)
    assert r.get("k") == b"v"


# -- OBJECT ------------------------------------------------------------------------


def test_object(r):
    r.set("i", "12345")
    r.set("e", "hello")
    r.set("raw", "x" * 45)
    assert raw(r, "OBJECT", "ENCODING", "i") == b"int"
    assert raw(r, "OBJECT", "ENCODING", "e") == b"embstr"
    assert raw(r, "OBJECT", "ENCODING", "raw") == b"raw"
    assert raw(r, "OBJECT", "ENCODING", "missing") is None
    assert raw(r, "OBJECT", "REFCOUNT", "e") == 1
    assert raw(r, "OBJECT", "IDLETIME", "e") == 0
    assert error(r, "OBJECT", "FREQ", "e").startswith(
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked.")
    help_lines = raw(r, "OBJECT", "HELP")
    assert help_lines[0] == b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert b"ENCODING <key>" in help_lines
    assert error(r, "OBJECT", "FOO") == "ERR unknown subcommand 'FOO'. Try OBJECT HELP."
    assert error(r, "OBJECT", "ENCODING") == (
        "ERR wrong number of arguments for 'object|encoding' command")


def test_object_under_lfu(r):
    r.set("e", "hello")
    r.config_set("maxmemory-policy", "allkeys-lfu")
    try:
        assert raw(r, "OBJECT", "FREQ", "e") == 0
        assert error(r, "OBJECT", "IDLETIME", "e") == (
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that "
            "when switching between policies at runtime LRU and LFU data will take some time "
            "to adjust.")
    finally:
        r.config_set("maxmemory-policy", "noeviction")


# -- the command table as clients see it ---------------------------------------------


@pytest.mark.parametrize(
    "argv,keys",
    [
        (["MSET", "a", "1", "b", "2"], [b"a", b"b"]),
        (["MGET", "a", "b"], [b"a", b"b"]),
        (["RENAME", "a", "b"], [b"a", b"b"]),
        (["COPY", "a", "b", "DB", "1"], [b"a", b"b"]),
        (["OBJECT", "ENCODING", "k"], [b"k"]),
        (["EXPIRE", "k", "10", "NX"], [b"k"]),
        (["GETEX", "k", "PERSIST"], [b"k"]),
    ],
)
def test_command_getkeys(r, argv, keys):
    assert raw(r, "COMMAND", "GETKEYS", *argv) == keys
