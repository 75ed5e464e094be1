"""Bitmaps and string extras (SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD
BITFIELD_RO LCS SUBSTR), each case sent to a ringcache node and to the
installed redis-server 7.0 and compared (replies and error texts), RESP2 and
RESP3; then a seeded random run of the same commands on both, comparing
every reply and the final values. Where 7.0 and 7.4 differ (BITCOUNT/BITPOS
check their arguments before the key since 7.2) the 7.4 answer is asserted
on ringcache alone."""

from __future__ import annotations

import random

import pytest

from differential import both, outcome, pair, real_port, same  # noqa: F401 (fixtures)
from test_notifications import ev, events  # noqa: F401 (the fixture)

SETUP = [
    ("SET", "s", "foobar"), ("SET", "t", "\xff\xf0\x00"), ("SET", "num", "12345"),
    ("SET", "empty", ""), ("RPUSH", "list", "a"), ("SET", "one", "\x00\x00\x01"),
]

CASES = [
    # SETBIT / GETBIT
    ("SETBIT", "b", 7, 1), ("SETBIT", "b", 7, 0), ("SETBIT", "b", 100, 1), ("GET", "b"),
    ("SETBIT", "s", 1, 0), ("GET", "s"), ("SETBIT", "b", -1, 1), ("SETBIT", "b", "x", 1),
    ("SETBIT", "b", 1, 2), ("SETBIT", "b", 1, "-1"), ("SETBIT", "b", 1, "01"),
    ("SETBIT", "b", 4294967296, 1), ("SETBIT", "list", 0, 1), ("SETBIT", "b", "1.5", 1),
    ("GETBIT", "s", 0), ("GETBIT", "s", 1), ("GETBIT", "s", 2), ("GETBIT", "s", 1000),
    ("GETBIT", "nokey", 3), ("GETBIT", "s", -1), ("GETBIT", "list", 0), ("GETBIT", "num", 3),
    ("SETBIT", "num", 0, 1), ("GET", "num"), ("SETBIT",), ("GETBIT", "s"),
    # BITCOUNT
    ("BITCOUNT", "s"), ("BITCOUNT", "s", 0, 0), ("BITCOUNT", "s", 1, 1), ("BITCOUNT", "s", -2, -1),
    ("BITCOUNT", "s", 5, 30, "BIT"), ("BITCOUNT", "s", 5, 30, "byte"), ("BITCOUNT", "s", -5, -1, "BIT"),
    ("BITCOUNT", "s", 3, 1), ("BITCOUNT", "s", -100, 100), ("BITCOUNT", "s", 0), ("BITCOUNT", "s", 0, 1, "x"),
    ("BITCOUNT", "s", "a", 1), ("BITCOUNT", "nokey"), ("BITCOUNT", "nokey", 0, 1), ("BITCOUNT", "list"),
    ("BITCOUNT", "empty"), ("BITCOUNT", "empty", 0, -1, "BIT"), ("BITCOUNT", "t", 1, 13, "bit"),
    ("BITCOUNT", "s", 0, 1, "BIT", "x"),
    # BITPOS
    ("BITPOS", "t", 0), ("BITPOS", "t", 1), ("BITPOS", "t", 0, 1), ("BITPOS", "t", 0, 1, 1),
    ("BITPOS", "t", 1, 2), ("BITPOS", "t", 0, -1), ("BITPOS", "t", 1, 3, 20, "BIT"),
    ("BITPOS", "t", 0, 3, 20, "BIT"), ("BITPOS", "t", 0, 0, 11, "bit"), ("BITPOS", "t", 1, 12, 23, "BIT"),
    ("BITPOS", "t", 0, 0, -1), ("BITPOS", "nokey", 0), ("BITPOS", "nokey", 1), ("BITPOS", "empty", 0),
    ("BITPOS", "empty", 1), ("BITPOS", "t", 2), ("BITPOS", "t", "x"), ("BITPOS", "t", 1, 5, 2),
    ("BITPOS", "t", 1, 0, 2, "x"), ("BITPOS", "list", 1), ("BITPOS", "one", 1), ("BITPOS", "one", 1, -1),
    ("BITPOS", "one", 0, 0, 1), ("BITPOS", "s", 1, 1, 1, "BYTE"), ("BITPOS", "t", 0, 0, 1, "BYTE", "x"),
    ("BITPOS", "t", 1, -100, 100, "BIT"),
    # BITOP
    ("BITOP", "AND", "d", "s", "t"), ("GET", "d"), ("BITOP", "or", "d", "s", "t", "num"), ("GET", "d"),
    ("BITOP", "XOR", "d", "s", "t"), ("GET", "d"), ("BITOP", "NOT", "d", "t"), ("GET", "d"),
    ("BITOP", "NOT", "d", "s", "t"), ("BITOP", "NAND", "d", "s"), ("BITOP", "AND", "d", "s", "list"),
    ("BITOP", "AND", "d", "nokey", "nokey2"), ("EXISTS", "d"), ("BITOP", "AND", "d", "s", "nokey"),
    ("GET", "d"), ("BITOP", "OR", "list", "s"), ("TYPE", "list"), ("BITOP", "AND", "d"),
    # BITFIELD / BITFIELD_RO
    ("BITFIELD", "f", "SET", "i8", 0, 100, "GET", "u4", 0, "INCRBY", "i8", 0, 100),
    ("BITFIELD", "f", "OVERFLOW", "SAT", "INCRBY", "i8", 0, 100, "INCRBY", "u2", 100, 7),
    ("BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "i8", 0, 100, "SET", "u2", 10, 9, "GET", "i8", 0),
    ("BITFIELD", "f", "SET", "u8", "#2", 255, "GET", "u8", "#2", "GET", "i8", "#2", "GET", "i64", 3),
    ("BITFIELD", "f", "SET", "i64", 0, "-9223372036854775808", "INCRBY", "i64", 0, -1),
    ("BITFIELD", "f", "OVERFLOW", "SAT", "INCRBY", "i64", 0, -1, "INCRBY", "i64", 0, "9223372036854775807"),
    ("BITFIELD", "f", "SET", "u63", 1, -1, "OVERFLOW", "SAT", "SET", "u63", 1, -1, "GET", "u63", 1),
    ("BITFIELD", "f", "OVERFLOW", "WRAP", "SET", "i5", 3, 100, "SET", "u3", 3, -2, "GET", "i5", 3),
    ("GET", "f"), ("BITFIELD", "f", "GET", "u64", 0), ("BITFIELD", "f", "GET", "i65", 0),
    ("BITFIELD", "f", "GET", "x8", 0), ("BITFIELD", "f", "GET", "i0", 0), ("BITFIELD", "f", "GET", "i8", -1),
    ("BITFIELD", "f", "GET", "i8", "#-1"), ("BITFIELD", "f", "SET", "i8", 0, "x"),
    ("BITFIELD", "f", "OVERFLOW", "BAD", "GET", "i8", 0), ("BITFIELD", "f", "GET", "i8"),
    ("BITFIELD", "f", "FOO", "i8", 0), ("BITFIELD", "f", "OVERFLOW"), ("BITFIELD", "f"),
    ("BITFIELD", "nokey", "GET", "i8", 0), ("EXISTS", "nokey"), ("BITFIELD", "list", "GET", "i8", 0),
    ("BITFIELD", "g", "OVERFLOW", "FAIL", "INCRBY", "u8", 100, 300), ("GET", "g"),
    ("BITFIELD", "list", "SET", "i8", 0, 1), ("BITFIELD", "s", "INCRBY", "u8", 4, 1), ("GET", "s"),
    ("BITFIELD_RO", "f", "GET", "u8", 0, "GET", "i4", 4), ("BITFIELD_RO", "f", "SET", "u8", 0, 1),
    ("BITFIELD_RO", "f", "INCRBY", "u8", 0, 1), ("BITFIELD_RO", "nokey", "GET", "u8", 0),
    ("BITFIELD_RO", "f", "OVERFLOW", "SAT", "GET", "u8", 0),
    # SUBSTR
    ("SUBSTR", "s", 0, 2), ("SUBSTR", "s", -3, -1), ("SUBSTR", "s", 5, 2), ("SUBSTR", "nokey", 0, 1),
    ("SUBSTR", "list", 0, 1), ("SUBSTR", "s", "a", 1),
    # LCS
    ("MSET", "k1", "ohmytext", "k2", "mynewtext"), ("LCS", "k1", "k2"), ("LCS", "k1", "k2", "LEN"),
    ("LCS", "k1", "k2", "IDX"), ("LCS", "k1", "k2", "IDX", "MINMATCHLEN", 4),
    ("LCS", "k1", "k2", "IDX", "MINMATCHLEN", 4, "WITHMATCHLEN"), ("LCS", "k1", "k2", "idx", "withmatchlen"),
    ("LCS", "k1", "k2", "LEN", "IDX"), ("LCS", "k1", "k2", "MINMATCHLEN"), ("LCS", "k1", "k2", "MINMATCHLEN", "x"),
    ("LCS", "k1", "k2", "MINMATCHLEN", -5, "IDX"), ("LCS", "k1", "k2", "FOO"), ("LCS", "k1", "nokey"),
    ("LCS", "k1", "nokey", "IDX"), ("LCS", "k1", "list"), ("LCS", "list", "k1", "FOO"), ("LCS", "k1", "k1"),
    ("MSET", "k3", "ACCGGTCGAGTGCGCGGAAGCCGGCCGAA", "k4", "GTCGTTCGGAATGCCGTTGCTCTGTAAA"),
    ("LCS", "k3", "k4"), ("LCS", "k3", "k4", "IDX", "WITHMATCHLEN"), ("LCS", "k3", "k4", "LEN"),
    ("LCS", "k3", "k4", "IDX", "MINMATCHLEN", 3), ("LCS", "k1", "k2", "LEN", "LEN"),
]


def test_bitmap_and_string_extras_as_redis(pair):
    for args in SETUP:
        both(pair, *args)
    for args in CASES:
        same(pair, *args)


def test_bitcount_bitpos_check_arguments_before_the_key(r):
    """Redis 7.2+ (7.0 answered 0 for a missing key whatever the arguments)."""
    for args in [("BITCOUNT", "nokey", 0), ("BITCOUNT", "nokey", 0, 1, "x"), ("BITPOS", "nokey", 1, 0, 1, "x")]:
        assert outcome(r, *args) == ("error", "syntax error")
    assert outcome(r, "BITCOUNT", "nokey", "a", 1) == ("error", "value is not an integer or out of range")


def test_random_bit_commands_match_redis(pair):
    rng = random.Random(17)
    keys = ["a", "b", "c"]
    checked = 0
    for _ in range(400):
        key = rng.choice(keys)
        kind = rng.randrange(8)
        if kind == 0:
            args = ("SETBIT", key, rng.randrange(200), rng.randrange(2))
        elif kind == 1:
            args = ("BITCOUNT", key, rng.randrange(-30, 30), rng.randrange(-30, 30), rng.choice(["BIT", "BYTE"]))
        elif kind == 2:
            args = ("BITPOS", key, rng.randrange(2), rng.randrange(-30, 30), rng.randrange(-30, 200),
                    rng.choice(["BIT", "BYTE"]))
        elif kind == 3:
            args = ("BITPOS", key, rng.randrange(2), *([rng.randrange(-30, 30)] if rng.random() < 0.5 else []))
        elif kind == 4:
            args = ("BITOP", rng.choice(["AND", "OR", "XOR"]), key, *rng.sample(keys, 2))
        elif kind == 5:
            signed = rng.random() < 0.5
            bits = rng.randrange(1, 65 if signed else 64)
            field = f"{'i' if signed else 'u'}{bits}"
            args = ("BITFIELD", key, "OVERFLOW", rng.choice(["WRAP", "SAT", "FAIL"]),
                    rng.choice(["SET", "INCRBY"]), field, rng.randrange(150),
                    rng.randrange(-2**(bits + 1), 2**(bits + 1)), "GET", field, rng.randrange(150))
        elif kind == 6:
            args = ("LCS", key, rng.choice(keys), "IDX", "MINMATCHLEN", rng.randrange(3), "WITHMATCHLEN")
        else:
            args = ("GET", key)
        same(pair, *args)
        checked += 1
    for key in keys:
        same(pair, "GET", key)
    assert checked == 400


def test_bit_events(events):
    run = events("KEA")
    assert run("SETBIT", "b", 3, 1) == ev("b", "setbit")
    assert run("SETBIT", "b", 3, 1) == ev("b", "setbit")  # Redis notifies even with no change
    assert run("BITFIELD", "b", "SET", "u8", 8, 3) == ev("b", "setbit")
    assert run("BITFIELD", "b", "GET", "u8", 8) == []
    assert run("BITOP", "NOT", "c", "b") == ev("c", "set")
    assert run("BITOP", "AND", "c", "nokey") == ev("c", "del")
    assert run("GETBIT", "b", 3) == []


@pytest.mark.parametrize("command", ["SETBIT k 1 1", "BITFIELD k SET u8 0 5"])
def test_bit_writes_keep_the_ttl(r, command):
    r.set("k", "x", ex=100)
    r.execute_command(*command.split())
    assert 0 < r.ttl("k") <= 100
