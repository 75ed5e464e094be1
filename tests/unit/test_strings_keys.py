"""String and generic key commands run through the dispatcher, no sockets.

A Server with a ManualClock: TTL behaviour is checked by moving the clock,
and WRONGTYPE by storing a non-string value (a dict) straight into the
keyspace. Expected replies and error texts were taken from redis-server
(7.0, x86-64) side by side, except where Redis 7.4 differs (noted).
"""

from __future__ import annotations

import hashlib
import random
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringcache.commands import load_all
from ringcache.glob import compile_glob, glob_match
from glob_reference import match_reference
from ringcache.commands.registry import lookup
from ringcache.protocol.errors import CommandError
from ringcache.protocol.resp import NULL_ARRAY, OK
from ringcache.server.server import Server
from ringcache.server.session import Session
from ringcache.storage.clock import ManualClock
from ringcache.storage.slots import SLOTS, key_slot

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"
START_MS = 1_700_000_000_000.0


class Node:
    """A server, its clock and one client session."""

    def __init__(self) -> None:
        load_all()
        self.clock = ManualClock(START_MS)
        self.server = Server(clock=self.clock)
        self.session = Session(self.server, 1, "127.0.0.1:1", "127.0.0.1:2")

    @property
    def db(self):
        return self.session.db

    def __call__(self, *args):
        """Run a command; return its reply, raise CommandError for an error reply."""
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        reply = self.server.dispatcher.execute(self.session, argv)
        if isinstance(reply, CommandError):
            raise reply
        return reply

    def error(self, *args) -> str:
        with pytest.raises(CommandError) as info:
            self(*args)
        return info.value.message

    def advance(self, ms: float) -> None:
        self.clock.advance(ms)


@pytest.fixture
def n() -> Node:
    return Node()


# -- glob -------------------------------------------------------------------------

# (pattern, text, expected): each checked against redis-server's KEYS.
GLOB_CASES = [
    (b"", b"", True),
    (b"", b"a", False),
    (b"*", b"", False),  # stringmatchlen never matches an empty string...
    (b"**", b"", False),
    (b"*", b"anything", True),
    (b"h?llo", b"hello", True),
    (b"h?llo", b"hllo", False),
    (b"h*llo", b"hllo", True),
    (b"h*llo", b"heeeello", True),
    (b"h[ae]llo", b"hallo", True),
    (b"h[ae]llo", b"hillo", False),
    (b"h[^e]llo", b"hallo", True),
    (b"h[^e]llo", b"hello", False),
    (b"h[a-b]llo", b"hbllo", True),
    (b"h[b-a]llo", b"hallo", True),  # reversed ranges are swapped
    (b"h\\*llo", b"h*llo", True),
    (b"h\\*llo", b"hello", False),
    (b"[]", b"a", False),  # an empty class matches nothing
    (b"[^]", b"a", True),  # ...and its negation anything
    (b"[]a]", b"]", False),  # the first ']' closes the class
    (b"[a-]", b"]", True),  # the range a..']' swallowed the bracket
    (b"[a-]", b"^", True),
    (b"[a-]", b"-", False),
    (b"[abc", b"b", True),  # unterminated: the class runs to the end
    (b"a[", b"a", False),
    (b"a[", b"ab", False),
    (b"a[^", b"ab", True),
    (b"a\\", b"a\\", True),  # a trailing backslash is itself
    (b"[\\]]", b"]", True),
    (b"[\\", b"\\", True),
    (b"[a-\xff]", b"\x00", True),  # range ends compare as signed chars
    (b"[a-\xff]", b"\xff", True),
    (b"[a-\xff]", b"b", False),
    (b"[a-\xff]", b"\x80", False),
    (b"a*b*c", b"aXXbYYc", True),
    (b"a*b*c", b"aXXcYYb", False),
    (b"user:*:name", b"user:42:name", True),
    (b"user:*", b"user:", True),
    (b"user:*", b"user", False),
    (b"*?", b"a", True),
    (b"?*", b"", False),
]


@pytest.mark.parametrize("pattern,text,expected", GLOB_CASES)
def test_glob_cases(pattern, text, expected):
    assert glob_match(pattern, text) is expected
    assert match_reference(pattern, text) is expected


_PATTERN_BYTES = st.sampled_from(list(b"ab*?[]^-\\\x00\xff"))
_TEXT_BYTES = st.sampled_from(list(b"ab]^-\\\x00\xff*?["))


@settings(max_examples=1500, deadline=None)
@given(st.lists(_PATTERN_BYTES, max_size=9).map(bytes), st.lists(_TEXT_BYTES, max_size=7).map(bytes))
def test_glob_compiled_form_agrees_with_the_c_port(pattern, text):
    assert glob_match(pattern, text) == match_reference(pattern, text)


@pytest.mark.timeout(10)
def test_glob_has_no_catastrophic_backtracking():
    # A naive regex translation takes astronomically long on these.
    text = b"a" * 20000
    assert not glob_match(b"*a*a*a*a*a*a*a*a*a*a*a*a*b", text)
    assert glob_match(b"*a*a*a*a*a*a*a*a*a*a*a*a*", text)
    assert not glob_match(b"*[a]*?*a*a*?*a*a*a*[^a]", text)


def test_glob_nesting_limit_matches_redis():
    # Each '*' followed by more pattern is one level of recursion in Redis;
    # past 1000 levels nothing matches (counts checked with redis-server).
    text = b"a" * 1200
    assert glob_match(b"*a" * 1000, text)
    assert not glob_match(b"*a" * 1001, text)
    assert glob_match(b"a*" * 999 + b"a", b"a" * 1000)
    assert glob_match(b"a*" * 1001, text)  # 1000 inner stars and a trailing one
    assert not glob_match(b"a*" * 1002, text)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        for pattern in (b"*a" * 1000, b"*a" * 1001, b"a*" * 1002):
            assert glob_match(pattern, text) == match_reference(pattern, text)
    finally:
        sys.setrecursionlimit(limit)


def test_glob_is_cached():
    assert compile_glob(b"cached:[0-9]*") is compile_glob(b"cached:[0-9]*")


# -- SET variants -------------------------------------------------------------------


def test_setnx(n):
    assert n("setnx", "k", "1") == 1
    assert n("setnx", "k", "2") == 0
    assert n("get", "k") == b"1"
    n.db.set(b"h", {b"f": b"v"})
    assert n("setnx", "h", "x") == 0  # any type blocks it


def test_setex_psetex(n):
    assert n("setex", "k", 10, "v") == OK
    assert n("ttl", "k") == 10
    assert n("psetex", "p", 1500, "v") == OK
    assert n("pttl", "p") == 1500
    n.advance(1500)
    assert n("get", "p") == b"v"  # Redis keeps a key until now is past its time
    n.advance(1)
    assert n("get", "p") is None
    assert n.error("setex", "k", 0, "v") == "ERR invalid expire time in 'setex' command"
    assert n.error("psetex", "k", -1, "v") == "ERR invalid expire time in 'psetex' command"
    assert n.error("setex", "k", "x", "v") == NOT_INTEGER
    assert n.error("setex", "k", 2**63 - 1, "v") == "ERR invalid expire time in 'setex' command"
    assert n.error("psetex", "k", 2**63 - 1, "v") == "ERR invalid expire time in 'psetex' command"


def test_getset_clears_ttl_and_checks_type(n):
    n("set", "k", "old", "ex", 100)
    assert n("getset", "k", "new") == b"old"
    assert n("ttl", "k") == -1
    assert n("getset", "missing", "v") is None
    n.db.set(b"h", {})
    assert n.error("getset", "h", "v") == WRONGTYPE


def test_mset_msetnx(n):
    assert n("mset", "a", 1, "b", 2) == OK
    assert n("mget", "a", "b", "c") == [b"1", b"2", None]
    assert n.error("mset", "a", 1, "b") == "ERR wrong number of arguments for 'mset' command"
    assert n("msetnx", "a", 9, "z", 9) == 0
    assert n("get", "z") is None
    assert n("msetnx", "y", 1, "z", 2) == 1
    assert n.error("msetnx", "q", 1, "r") == "ERR wrong number of arguments for 'msetnx' command"
    n("set", "t", "v", "ex", 10)
    n("mset", "t", "w")
    assert n("ttl", "t") == -1  # MSET clears the TTL


def test_mget_reads_other_types_as_nil(n):
    n.db.set(b"h", {b"f": b"v"})
    n("set", "s", "v")
    assert n("mget", "h", "s") == [None, b"v"]


# -- GET variants -------------------------------------------------------------------


def test_getdel(n):
    n("set", "k", "v")
    assert n("getdel", "k") == b"v"
    assert n("exists", "k") == 0
    assert n("getdel", "k") is None
    n.db.set(b"h", {})
    assert n.error("getdel", "h") == WRONGTYPE
    assert n("exists", "h") == 1


def test_getex_options(n):
    n("set", "k", "v")
    assert n("getex", "k") == b"v"
    assert n("ttl", "k") == -1
    assert n("getex", "k", "ex", 100) == b"v"
    assert n("ttl", "k") == 100
    assert n("getex", "k", "px", 5000) == b"v"
    assert n("pttl", "k") == 5000
    at = int(START_MS // 1000) + 50
    assert n("getex", "k", "exat", at) == b"v"
    assert n("expiretime", "k") == at
    assert n("getex", "k", "pxat", at * 1000 + 7) == b"v"
    assert n("pexpiretime", "k") == at * 1000 + 7
    assert n("getex", "k", "persist") == b"v"
    assert n("ttl", "k") == -1
    assert n("getex", "missing", "ex", 10) is None


def test_getex_past_absolute_time_deletes(n):
    n("set", "k", "v")
    assert n("getex", "k", "pxat", 1) == b"v"
    assert n("exists", "k") == 0


def test_getex_errors(n):
    n("set", "k", "v")
    invalid = "ERR invalid expire time in 'getex' command"
    assert n.error("getex", "k", "ex", 0) == invalid
    assert n("getex", "missing", "ex", -1) is None  # the time is read after the lookup
    assert n("getex", "missing", "ex", "x") is None
    assert n.error("getex", "k", "ex", "x") == NOT_INTEGER
    assert n.error("getex", "k", "ex") == SYNTAX
    assert n.error("getex", "k", "ex", 1, "px", 1) == SYNTAX
    assert n.error("getex", "k", "persist", "ex", 1) == SYNTAX
    assert n.error("getex", "k", "ex", 1, "persist") == SYNTAX
    assert n.error("getex", "k", "keepttl") == SYNTAX
    assert n.error("getex", "missing", "ex") == SYNTAX  # ...but the syntax before it
    n.db.set(b"h", {})
    assert n.error("getex", "h") == WRONGTYPE
    assert n.error("getex", "h", "ex", 0) == WRONGTYPE


# -- APPEND, SETRANGE, STRLEN, GETRANGE ----------------------------------------------


def test_append_and_strlen(n):
    assert n("append", "k", "Hello") == 5
    assert n("append", "k", " World") == 11
    assert n("get", "k") == b"Hello World"
    assert n("strlen", "k") == 11
    assert n("strlen", "missing") == 0
    n.db.set(b"h", {})
    assert n.error("append", "h", "x") == WRONGTYPE
    assert n.error("strlen", "h") == WRONGTYPE


def test_append_and_setrange_respect_proto_max_bulk_len(n):
    n.server.config.set("proto-max-bulk-len", "1mb")
    limit = 1024 * 1024
    too_long = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    n("set", "k", b"x" * (limit - 1))
    assert n("append", "k", "y") == limit
    assert n.error("append", "k", "z") == too_long
    assert n.error("setrange", "k", limit, "z") == too_long
    assert n.error("setrange", "new", limit, "z") == too_long
    assert n("exists", "new") == 0
    assert n("setrange", "new", limit - 1, "z") == limit


def test_setrange(n):
    assert n("setrange", "k", 5, "abc") == 8
    assert n("get", "k") == b"\x00" * 5 + b"abc"
    n("set", "k", "Hello World")
    assert n("setrange", "k", 6, "Redis") == 11
    assert n("get", "k") == b"Hello Redis"
    assert n("setrange", "k", 13, "!") == 14
    assert n("get", "k") == b"Hello Redis\x00\x00!"
    assert n("setrange", "k", 0, "") == 14
    assert n("setrange", "empty", 3, "") == 0
    assert n("exists", "empty") == 0
    assert n.error("setrange", "k", -1, "x") == "ERR offset is out of range"
    assert n.error("setrange", "k", "x", "x") == NOT_INTEGER
    n.db.set(b"h", {})
    assert n.error("setrange", "h", 0, "x") == WRONGTYPE
    assert n.error("setrange", "h", 0, "") == WRONGTYPE


@pytest.mark.parametrize(
    "start,end,expected",
    [
        (0, 4, b"Hello"), (-5, -1, b"World"), (0, -1, b"Hello World"), (0, 100, b"Hello World"),
        (-1, -5, b""), (5, 3, b""), (0, -100, b"H"),  # 7.4 rules (8.0 returns "" here)
        (-100, -99, b"H"), (-100, 2, b"Hel"), (11, 20, b""), (10, 10, b"d"),
    ],
)
def test_getrange(n, start, end, expected):
    n("set", "k", "Hello World")
    assert n("getrange", "k", start, end) == expected


def test_getrange_edges(n):
    assert n("getrange", "missing", 0, -1) == b""
    n("set", "e", "")
    assert n("getrange", "e", 0, -1) == b""
    assert n.error("getrange", "missing", "a", 1) == NOT_INTEGER
    n.db.set(b"h", {})
    assert n.error("getrange", "h", 0, 1) == WRONGTYPE


# -- counters ---------------------------------------------------------------------


def test_incr_family(n):
    assert n("incr", "n") == 1
    assert n("incrby", "n", 10) == 11
    assert n("decr", "n") == 10
    assert n("decrby", "n", 15) == -5
    assert n("get", "n") == b"-5"
    assert n("incrby", "n", -5) == -10


@pytest.mark.parametrize("text", ["abc", " 1", "1 ", "01", "-0", "+1", "1.5", "", "12345678901234567890"])
def test_incr_refuses_non_integers(n, text):
    n("set", "n", text)
    assert n.error("incr", "n") == NOT_INTEGER


def test_incr_overflow(n):
    overflow = "ERR increment or decrement would overflow"
    n("set", "n", 2**63 - 1)
    assert n.error("incr", "n") == overflow
    n("set", "n", -(2**63))
    assert n.error("decr", "n") == overflow
    assert n.error("incrby", "n", -1) == overflow
    assert n("get", "n") == b"-9223372036854775808"
    assert n.error("decrby", "n", -(2**63)) == "ERR decrement would overflow"
    assert n.error("incrby", "n", 2**63) == NOT_INTEGER
    assert n.error("incrby", "n", "x") == NOT_INTEGER


def test_incr_wrongtype_order(n):
    n.db.set(b"h", {})
    assert n.error("incr", "h") == WRONGTYPE
    assert n.error("incrby", "h", "x") == NOT_INTEGER  # the argument is read first
    assert n.error("incrbyfloat", "h", "x") == WRONGTYPE  # the key is read first


@pytest.mark.parametrize(
    "start,steps",
    [
        (None, [("10.5", b"10.5"), ("0.1", b"10.6"), ("5.0e3", b"5010.60000000000000009"),
                ("1e20", b"100000000000000005008")]),
        ("0", [("0.1", b"0.1"), ("0.2", b"0.3"), ("1e-20", b"0.3"), ("-0.3", b"0")]),
        ("3", [("0x1p-70", b"3"), ("+1", b"4"), ("1.", b"5"), (".5", b"5.5"), ("-5.5", b"0")]),
        ("1", [("1e-30", b"1"), ("-2", b"-1"), ("1e-18", b"-1"), ("1e-17", b"-0.99999999999999999")]),
        ("7", [("3", b"10"), ("-10", b"0"), ("-0.00000000000000001", b"-0.00000000000000001"),
               ("0.000000000000000005", b"0")]),  # "-0.00000000000000000" prints as "0"
        ("-1.5", [("0", b"-1.5")]),
    ],
)
def test_incrbyfloat_formats_like_redis(n, start, steps):
    # Values verified against redis-server on x86-64 (80-bit long double).
    if start is not None:
        n("set", "f", start)
    for increment, expected in steps:
        assert n("incrbyfloat", "f", increment) == expected
        assert n("get", "f") == expected


def test_incrbyfloat_huge_values_print_all_digits(n):
    n("set", "g", "3")
    reply = n("incrbyfloat", "g", "1e4000")
    # redis-server's reply: 4000 digits, no exponent (sha1 of the whole text).
    assert len(reply) == 4000
    assert reply.startswith(b"9999999999999999999965463873099623784932")
    assert hashlib.sha1(reply).hexdigest() == "56dff6d57706e6b43e72f773a632f316268a63f8"


@pytest.mark.parametrize("bad", ["abc", " 1", "1 ", "1e", "nan", "1e5000", "1e-5000", "", "0x", "1_0"])
def test_incrbyfloat_refuses_bad_numbers(n, bad):
    n("set", "f", "1")
    assert n.error("incrbyfloat", "f", bad) == NOT_FLOAT
    n("set", "v", bad)
    assert n.error("incrbyfloat", "v", "1") == NOT_FLOAT


def test_incrbyfloat_infinity(n):
    n("set", "f", "1")
    nan_inf = "ERR increment would produce NaN or Infinity"
    assert n.error("incrbyfloat", "f", "inf") == nan_inf
    assert n.error("incrbyfloat", "f", "-Infinity") == nan_inf
    n("set", "f", "1.18e4932")
    assert n.error("incrbyfloat", "f", "1.18e4932") == nan_inf
    assert n("get", "f") == b"1.18e4932"


def test_in_place_changes_keep_the_ttl(n):
    for command in (("append", "k", "x"), ("setrange", "k", 0, "y"), ("incr", "c"),
                    ("incrby", "c", 5), ("decr", "c"), ("incrbyfloat", "c", "1.5")):
        key = command[1]
        n("set", key, "1", "ex", 100)
        n(*command)
        assert n("ttl", key) == 100, command


def test_set_like_commands_clear_the_ttl(n):
    for command in (("set", "k", "v"), ("getset", "k", "v"), ("mset", "k", "v"),
                    ("setex", "k", 50, "v")):
        n("set", "k", "1", "ex", 100)
        n(*command)
        assert n("ttl", "k") == (50 if command[0] == "setex" else -1), command


def test_string_commands_treat_expired_keys_as_missing(n):
    n("set", "k", "5", "px", 10)
    n.advance(11)
    assert n("incr", "k") == 1
    assert n("ttl", "k") == -1
    n("set", "k", "abc", "px", 10)
    n.advance(11)
    assert n("append", "k", "x") == 1
    assert n("setnx", "k2", "v") == 1
    n("set", "k3", "v", "px", 10)
    n.advance(11)
    assert n("setnx", "k3", "w") == 1
    assert n("strlen", "k3") == 1


@pytest.mark.parametrize(
    "command",
    [["get", "h"], ["getset", "h", "v"], ["getdel", "h"], ["getex", "h"], ["append", "h", "v"],
     ["strlen", "h"], ["incr", "h"], ["decr", "h"], ["incrby", "h", 1], ["decrby", "h", 1],
     ["incrbyfloat", "h", 1], ["getrange", "h", 0, 1], ["setrange", "h", 0, "v"],
     ["set", "h", "v", "get"]],
)
def test_wrongtype(n, command):
    n.db.set(b"h", {b"f": b"v"})
    assert n.error(*command) == WRONGTYPE
    assert n.db.lookup(b"h") == {b"f": b"v"}


# -- every write moves the change counter (WATCH, propagation) -------------------------

WRITES = [
    ["set", "k", "v"], ["setnx", "new", "v"], ["setex", "k", 10, "v"], ["psetex", "k", 10, "v"],
    ["mset", "a", 1, "b", 2], ["msetnx", "new1", 1, "new2", 2], ["getset", "k", "v"],
    ["getdel", "s"], ["getex", "s", "ex", 10], ["getex", "t", "persist"], ["append", "s", "x"],
    ["incr", "i"], ["decr", "i"], ["incrby", "i", 2], ["decrby", "i", 2], ["incrbyfloat", "i", 1],
    ["setrange", "s", 1, "x"], ["del", "s"], ["unlink", "s"], ["rename", "s", "z"],
    ["renamenx", "s", "z"], ["copy", "s", "z"], ["copy", "s", "z", "db", 1], ["move", "s", 1],
    ["expire", "s", 10], ["pexpire", "s", 10], ["expireat", "s", 2_000_000_000],
    ["pexpireat", "s", 2_000_000_000_000], ["expire", "s", 0], ["persist", "t"], ["flushdb"],
    ["flushall"],
]


@pytest.mark.parametrize("command", WRITES, ids=lambda c: " ".join(map(str, c)))
def test_every_write_moves_dirty(n, command):
    n("set", "s", "abc")
    n("set", "t", "v", "ex", 100)
    n("set", "i", "10")
    before = n.db.dirty
    server_before = n.server.dirty
    n(*command)
    assert n.db.dirty > before
    assert n.server.dirty > server_before


def test_watch_sees_changes_by_another_client(n):
    other = Session(n.server, 2, "127.0.0.1:3", "127.0.0.1:2")
    n("set", "k", "1")
    for change in ([b"incr", b"k"], [b"append", b"k", b"x"], [b"expire", b"k", b"100"],
                   [b"persist", b"k"], [b"rename", b"k", b"k2"], [b"rename", b"k2", b"k"]):
        n("watch", "k")
        n.server.dispatcher.execute(other, change)
        n("multi")
        n("get", "k")
        assert n("exec") is NULL_ARRAY, change
    n("watch", "k")
    n("multi")
    n("get", "k")
    assert n("exec") == [n.db.lookup(b"k")]  # untouched: the transaction runs


# -- DEL, EXISTS, TOUCH, TYPE --------------------------------------------------------


def test_del_exists_touch(n):
    n("mset", "a", 1, "b", 2, "c", 3)
    assert n("exists", "a", "a", "zz") == 2  # repeats count
    assert n("touch", "a", "b", "zz") == 2
    assert n("del", "a", "b", "a", "zz") == 2
    assert n("unlink", "c", "c") == 1
    assert n("exists", "a", "b", "c") == 0


def test_type(n):
    n("set", "s", "v")
    n.db.set(b"h", {})
    n.db.set(b"l", [])
    n.db.set(b"S", set())
    assert n("type", "s") == b"string"
    assert n("type", "h") == b"hash"
    assert n("type", "l") == b"list"
    assert n("type", "S") == b"set"
    assert n("type", "missing") == b"none"


def test_expired_keys_are_gone_for_key_commands(n):
    n("set", "k", "v", "px", 5)
    n.advance(6)
    assert n("exists", "k") == 0
    assert n("type", "k") == b"none"
    assert n("ttl", "k") == -2
    assert n.error("rename", "k", "x") == "ERR no such key"
    assert n("del", "k") == 0


# -- RENAME, COPY, MOVE -----------------------------------------------------------


def test_rename(n):
    n("set", "a", "1", "ex", 100)
    n("set", "b", "2")
    assert n("rename", "a", "b") == OK
    assert n("get", "b") == b"1"
    assert n("ttl", "b") == 100  # the TTL moves along
    assert n("exists", "a") == 0
    assert n("rename", "b", "b") == OK
    assert n.error("rename", "missing", "x") == "ERR no such key"
    n("set", "c", "3", "ex", 50)
    n("rename", "b", "c")
    assert n("ttl", "c") == 100  # the destination's TTL is replaced
    n("set", "d", "4")
    n("rename", "d", "c")
    assert n("ttl", "c") == -1


def test_renamenx(n):
    n("mset", "a", 1, "b", 2)
    assert n("renamenx", "a", "b") == 0
    assert n("renamenx", "a", "a") == 0
    assert n("renamenx", "a", "c") == 1
    assert n("get", "c") == b"1"
    assert n.error("renamenx", "missing", "x") == "ERR no such key"


def test_copy(n):
    n("set", "a", "1", "ex", 100)
    assert n("copy", "a", "b") == 1
    assert n("get", "b") == b"1" and n("ttl", "b") == 100
    assert n("copy", "a", "b") == 0
    n("set", "a", "2")
    assert n("copy", "a", "b", "replace") == 1
    assert n("get", "b") == b"2" and n("ttl", "b") == -1
    assert n("copy", "missing", "b") == 0
    assert n.error("copy", "a", "a") == "ERR source and destination objects are the same"
    assert n("copy", "a", "a", "db", 1) == 1
    n("select", 1)
    assert n("get", "a") == b"2"
    n("select", 0)
    assert n.error("copy", "a", "x", "db", 16) == "ERR DB index is out of range"
    assert n.error("copy", "a", "x", "db", "x") == NOT_INTEGER
    assert n.error("copy", "a", "x", "db", 2**40) == (
        "ERR value is out of range, value must between -2147483648 and 2147483647")
    assert n.error("copy", "a", "x", "db") == SYNTAX
    assert n.error("copy", "a", "x", "foo") == SYNTAX


def test_copy_of_a_collection_is_independent(n):
    n.db.set(b"h", {b"f": b"v"})
    n("copy", "h", "h2")
    n.db.lookup(b"h2")[b"f"] = b"changed"
    assert n.db.lookup(b"h") == {b"f": b"v"}


def test_copy_to_another_db_invalidates_its_watchers(n):
    other = Session(n.server, 2, "127.0.0.1:3", "127.0.0.1:2")
    n.server.dispatcher.execute(other, [b"select", b"1"])
    n.server.dispatcher.execute(other, [b"watch", b"k"])
    n("set", "k", "v")
    n("copy", "k", "k", "db", 1)
    assert other.dirty_cas


def test_move(n):
    n("set", "k", "v", "ex", 100)
    assert n("move", "k", 1) == 1
    assert n("exists", "k") == 0
    n("set", "k", "other")
    assert n("move", "k", 1) == 0  # already there
    assert n("move", "missing", 1) == 0
    n("select", 1)
    assert n("get", "k") == b"v" and n("ttl", "k") == 100
    assert n.error("move", "k", 1) == "ERR source and destination objects are the same"
    assert n.error("move", "k", 16) == "ERR DB index is out of range"
    assert n.error("move", "k", -1) == "ERR DB index is out of range"
    assert n.error("move", "k", "x") == NOT_INTEGER
    assert n.error("move", "k", 2**40) == (
        "ERR value is out of range, value must between -2147483648 and 2147483647")


# -- KEYS, SCAN, RANDOMKEY, DBSIZE -------------------------------------------------


def test_keys(n):
    n("mset", "user:1", 1, "user:2", 2, "other", 3, "", 4)
    assert sorted(n("keys", "*")) == [b"", b"other", b"user:1", b"user:2"]
    assert sorted(n("keys", "user:*")) == [b"user:1", b"user:2"]
    assert n("keys", "user:[^1]") == [b"user:2"]
    assert sorted(n("keys", "**")) == [b"other", b"user:1", b"user:2"]  # not the empty key
    n("pexpire", "other", 10)
    n.advance(10)
    assert sorted(n("keys", "*")) == [b"", b"other", b"user:1", b"user:2"]  # lives until now > expiry
    n.advance(1)
    assert sorted(n("keys", "*")) == [b"", b"user:1", b"user:2"]


def scan_all(n, *options):
    cursor, seen, calls = b"0", [], 0
    while True:
        cursor, keys = n("scan", cursor, *options)
        seen.extend(keys)
        calls += 1
        if cursor == b"0":
            return seen, calls


def test_scan_returns_every_key_once(n):
    keys = [b"key:%d" % i for i in range(3000)]
    n("mset", *[x for k in keys for x in (k, b"v")])
    seen, calls = scan_all(n, "count", 100)
    assert sorted(seen) == sorted(keys)
    assert calls > 10


def test_scan_count_bounds_work_per_call(n):
    for i in range(2000):
        n("set", "k%d" % i, "v")
    cursor, keys = n("scan", 0)
    # Whole slots at a time: at least COUNT keys unless the scan ended,
    # and not much more (2000 keys over 16384 slots: slots are small).
    assert cursor != b"0" and 10 <= len(keys) < 20
    assert int(cursor) > 0


def test_scan_guarantee_with_10k_keys_added_during_the_scan(n):
    # The SCAN guarantee: a key present for the whole scan is returned at
    # least once, however much the keyspace grows meanwhile.
    originals = {b"orig:%d" % i for i in range(1000)}
    for key in originals:
        n("set", key, "v")
    added = 0
    rng = random.Random(1)
    cursor, seen = b"0", set()
    while True:
        cursor, keys = n("scan", cursor, "count", 20)
        seen.update(keys)
        for _ in range(100):  # grow by 10k keys over the scan
            if added < 10_000:
                n("set", b"new:%d:%d" % (added, rng.randrange(10**9)), "v")
                added += 1
        if cursor == b"0":
            break
    assert added == 10_000
    assert originals <= seen


def test_scan_skips_and_reclaims_expired_keys(n):
    n("set", "live", "v")
    n("set", "dead", "v", "px", 5)
    n.advance(6)
    assert n("dbsize") == 2  # not reclaimed yet, as in Redis
    seen, _ = scan_all(n)
    assert seen == [b"live"]
    assert n("dbsize") == 1


def test_scan_match_and_type(n):
    n("mset", "a1", 1, "a2", 2, "b1", 3)
    n.db.set(b"a3", {})
    assert sorted(scan_all(n, "match", "a*")[0]) == [b"a1", b"a2", b"a3"]
    assert sorted(scan_all(n, "match", "a*", "type", "string")[0]) == [b"a1", b"a2"]
    assert sorted(scan_all(n, "type", "HASH")[0]) == [b"a3"]
    assert scan_all(n, "type", "nosuchtype")[0] == []  # 7.4: no error
    assert sorted(scan_all(n, "match", "*")[0]) == [b"a1", b"a2", b"a3", b"b1"]


def test_scan_cursor_is_a_slot(n):
    n("set", "k", "v")
    slot = key_slot(b"k")
    assert n("scan", slot) == [b"0", [b"k"]]
    assert n("scan", slot + 1) == [b"0", []]
    assert n("scan", SLOTS) == [b"0", []]
    assert n("scan", 2**64 - 1) == [b"0", []]


def test_scan_errors(n):
    assert n.error("scan", "x") == "ERR invalid cursor"
    assert n.error("scan", "-1") == "ERR invalid cursor"  # 7.4 (7.0 accepted it)
    assert n.error("scan", 2**64) == "ERR invalid cursor"
    assert n.error("scan", 0, "count", 0) == SYNTAX
    assert n.error("scan", 0, "count", "x") == NOT_INTEGER
    assert n.error("scan", 0, "match") == SYNTAX
    assert n.error("scan", 0, "foo", "bar") == SYNTAX


def test_randomkey_and_dbsize(n):
    assert n("randomkey") is None
    assert n("dbsize") == 0
    n("mset", "a", 1, "b", 2)
    assert n("randomkey") in (b"a", b"b")
    assert n("dbsize") == 2


def test_flushdb_and_flushall(n):
    n("set", "a", 1)
    n("select", 1)
    n("set", "b", 1)
    assert n("flushdb") == OK
    assert n("dbsize") == 0
    n("set", "b", 1)
    n("select", 0)
    assert n("flushdb", "async") == OK and n("dbsize") == 0
    n("set", "a", 1)
    assert n("flushall", "sync") == OK
    assert n("dbsize") == 0
    n("select", 1)
    assert n("dbsize") == 0
    assert n.error("flushall", "foo") == SYNTAX
    assert n.error("flushdb", "sync", "async") == SYNTAX


def test_flushall_invalidates_watchers_in_every_db(n):
    other = Session(n.server, 2, "127.0.0.1:3", "127.0.0.1:2")
    n.server.dispatcher.execute(other, [b"select", b"3"])
    n.server.dispatcher.execute(other, [b"set", b"k", b"v"])
    n.server.dispatcher.execute(other, [b"watch", b"k"])
    n("flushall")
    assert other.dirty_cas


# -- EXPIRE family, TTL, PERSIST ---------------------------------------------------


def test_expire_and_ttl(n):
    n("set", "k", "v")
    assert n("ttl", "k") == -1 and n("pttl", "k") == -1
    assert n("expiretime", "k") == -1 and n("pexpiretime", "k") == -1
    assert n("expire", "k", 10) == 1
    assert n("ttl", "k") == 10 and n("pttl", "k") == 10_000
    assert n("pexpiretime", "k") == START_MS + 10_000
    assert n("expiretime", "k") == (START_MS + 10_000) // 1000
    n.advance(9_499)
    assert n("ttl", "k") == 1  # rounded: 501 ms
    n.advance(2)
    assert n("ttl", "k") == 0  # 499 ms
    n.advance(500)
    assert n("ttl", "k") == -2 and n("exists", "k") == 0
    assert n("expire", "missing", 10) == 0


def test_expireat_pexpire_pexpireat(n):
    n("set", "k", "v")
    assert n("pexpire", "k", 1500) == 1
    assert n("pttl", "k") == 1500
    at = int(START_MS // 1000) + 100
    assert n("expireat", "k", at) == 1
    assert n("ttl", "k") == 100
    assert n("pexpireat", "k", at * 1000 + 250) == 1
    assert n("pexpiretime", "k") == at * 1000 + 250
    assert n("expiretime", "k") == at  # rounded from .250


def test_past_expire_deletes_and_returns_1(n):
    for command in (("expire", "k", 0), ("expire", "k", -5), ("pexpire", "k", 0),
                    ("expireat", "k", 1), ("pexpireat", "k", int(START_MS))):
        n("set", "k", "v")
        assert n(*command) == 1, command
        assert n("exists", "k") == 0, command


def test_expire_options(n):
    n("set", "k", "v")
    assert n("expire", "k", 100, "xx") == 0  # no TTL yet
    assert n("expire", "k", 100, "gt") == 0  # no TTL counts as infinite
    assert n("expire", "k", 100, "nx") == 1
    assert n("expire", "k", 200, "nx") == 0
    assert n("expire", "k", 200, "xx") == 1
    assert n("expire", "k", 150, "gt") == 0
    assert n("expire", "k", 300, "gt") == 1
    assert n("expire", "k", 400, "lt") == 0
    assert n("expire", "k", 250, "lt") == 1
    assert n("ttl", "k") == 250
    assert n("expire", "k", 250, "xx", "gt") == 0  # equal is not greater
    assert n("persist", "k") == 1
    assert n("expire", "k", 50, "lt") == 1  # no TTL: anything is less
    assert n("expire", "k", 50, "LT", "XX") == 0
    assert n("expire", "k", 40, "Lt", "xX") == 1


def test_expire_errors(n):
    n("set", "k", "v")
    nx_error = "ERR NX and XX, GT or LT options at the same time are not compatible"
    assert n.error("expire", "k", 10, "nx", "xx") == nx_error
    assert n.error("expire", "k", 10, "gt", "nx") == nx_error
    assert n.error("expire", "k", 10, "nx", "lt") == nx_error
    assert n.error("expire", "k", 10, "gt", "lt") == (
        "ERR GT and LT options at the same time are not compatible")
    assert n.error("expire", "k", "x", "foo") == "ERR Unsupported option foo"
    assert n.error("expire", "k", "x") == NOT_INTEGER
    for name, value in (("expire", 2**63 - 1), ("expire", 2**63 // 1000),
                        ("expire", -(2**63 // 1000) - 1), ("pexpire", 2**63 - 1),
                        ("expireat", 2**63 // 1000 + 1)):
        assert n.error(name, "k", value) == f"ERR invalid expire time in '{name}' command"
    assert n("expire", "k", -(2**63 // 1000)) == 1  # the lowest accepted: deletes
    n("set", "k", "v")
    assert n("pexpireat", "k", 2**63 - 1) == 1
    assert n("pexpiretime", "k") == 2**63 - 1


def test_persist(n):
    n("set", "k", "v", "ex", 10)
    assert n("persist", "k") == 1
    assert n("persist", "k") == 0
    assert n("ttl", "k") == -1
    assert n("persist", "missing") == 0
    n("set", "e", "v", "px", 1)
    n.advance(2)
    assert n("persist", "e") == 0


# -- OBJECT ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,encoding",
    [(b"123", b"int"), (b"-9223372036854775808", b"int"), (b"9223372036854775808", b"embstr"),
     (b"0", b"int"), (b"01", b"embstr"), (b" 1", b"embstr"), (b"abc", b"embstr"),
     (b"a" * 44, b"embstr"), (b"a" * 45, b"raw"), (b"", b"embstr")],
)
def test_object_encoding_of_strings(n, value, encoding):
    n("set", "k", value)
    assert n("object", "encoding", "k") == encoding


def test_object_subcommands(n):
    n("set", "k", "v")
    assert n("object", "encoding", "missing") is None
    assert n("object", "refcount", "k") == 1
    assert n("object", "idletime", "k") == 0
    assert n("object", "freq", "missing") is None
    assert n.error("object", "freq", "k").startswith("ERR An LFU maxmemory policy is not selected")
    n.server.config.set("maxmemory-policy", "allkeys-lfu")
    assert n("object", "freq", "k") == 0
    assert n.error("object", "idletime", "k") == (
        "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when "
        "switching between policies at runtime LRU and LFU data will take some time to adjust.")
    assert n("object", "idletime", "missing") is None  # the key is looked up first
    help_lines = n("object", "help")
    assert help_lines[0] == b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert help_lines[-2:] == [b"HELP", b"    Prints this help."]
    assert n.error("object", "foo") == "ERR unknown subcommand 'foo'. Try OBJECT HELP."
    assert n.error("object", "encoding") == "ERR wrong number of arguments for 'object|encoding' command"
    assert n.error("object") == "ERR wrong number of arguments for 'object' command"


# -- the command table ------------------------------------------------------------

KEY_POSITIONS = [
    (["mset", "a", "1", "b", "2", "c", "3"], [1, 3, 5]),
    (["msetnx", "a", "1", "b", "2"], [1, 3]),
    (["mget", "a", "b", "c"], [1, 2, 3]),
    (["del", "a", "b"], [1, 2]),
    (["unlink", "a"], [1]),
    (["exists", "a", "b"], [1, 2]),
    (["touch", "a", "b"], [1, 2]),
    (["rename", "a", "b"], [1, 2]),
    (["renamenx", "a", "b"], [1, 2]),
    (["copy", "a", "b", "db", "1", "replace"], [1, 2]),
    (["move", "a", "1"], [1]),
    (["setex", "a", "10", "v"], [1]),
    (["getex", "a", "ex", "10"], [1]),
    (["expire", "a", "10", "nx"], [1]),
    (["object", "encoding", "a"], [2]),
    (["object", "help"], []),
    (["keys", "*"], []),
    (["scan", "0", "match", "a"], []),
    (["flushall"], []),
    (["incrbyfloat", "a", "1"], [1]),
    (["getrange", "a", "0", "1"], [1]),
]


@pytest.mark.parametrize("argv,positions", KEY_POSITIONS, ids=lambda v: str(v))
def test_key_positions(argv, positions):
    load_all()
    argv = [a.encode() for a in argv]
    spec = lookup(argv[0])
    assert spec is not None
    assert spec.key_positions(argv) == positions


def test_flags_follow_redis():
    load_all()
    expected = {
        "setnx": "write denyoom fast", "setex": "write denyoom", "mget": "readonly fast",
        "mset": "write denyoom", "getdel": "write fast", "getex": "write fast",
        "incrbyfloat": "write denyoom fast", "getrange": "readonly", "setrange": "write denyoom",
        "del": "write", "unlink": "write fast", "exists": "readonly fast", "rename": "write",
        "renamenx": "write fast", "copy": "write denyoom", "move": "write fast", "keys": "readonly",
        "scan": "readonly", "randomkey": "readonly", "dbsize": "readonly fast", "flushall": "write",
        "expire": "write fast", "ttl": "readonly fast", "persist": "write fast",
    }
    for name, flags in expected.items():
        assert lookup(name.encode()).flags == frozenset(flags.split()), name


def test_a_bad_argument_never_escapes_as_an_internal_error(n):
    # Fuzz the families with junk arguments: every reply is a value or a
    # Redis error, never "ERR internal error".
    rng = random.Random(5)
    names = ["setnx", "setex", "psetex", "mget", "mset", "msetnx", "getset", "getdel", "getex",
             "append", "strlen", "incr", "decr", "incrby", "decrby", "incrbyfloat", "getrange",
             "setrange", "del", "exists", "touch", "type", "rename", "renamenx", "copy", "move",
             "keys", "scan", "expire", "pexpireat", "ttl", "expiretime", "persist", "object",
             "flushdb"]
    junk = [b"", b"0", b"-1", b"1", b"k", b"ex", b"px", b"exat", b"persist", b"nx", b"gt", b"db",
            b"replace", b"match", b"count", b"type", b"encoding", b"freq", b"\xff", b"1e400",
            b"99999999999999999999", b"*", b"[", b"inf"]
    n("set", "k", "5")
    n.db.set(b"h", {})
    start = time.monotonic()
    for _ in range(3000):
        argv = [rng.choice(names).encode()] + [rng.choice(junk) for _ in range(rng.randrange(5))]
        reply = n.server.dispatcher.execute(n.session, argv)
        if isinstance(reply, CommandError):
            assert "internal error" not in reply.message, argv
    assert time.monotonic() - start < 30
