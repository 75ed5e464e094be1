"""List commands over the wire, RESP2 and RESP3 (the `r` fixture runs each
test on both), with the replies and error texts of redis-server 7.0 (checked
byte for byte against it; where 7.4 differs, 7.4 is followed and said so).
Blocking behaviour with several clients is in test_blocking.py."""

from __future__ import annotations

import pytest
import redis

from support import Resp, connections, error, raw

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
SYNTAX = "ERR syntax error"


@pytest.fixture
def resp(node):
    yield from connections(Resp, node)


def items(r, key="l"):
    return raw(r, "LRANGE", key, 0, -1)


def test_push_pop_len(r):
    assert raw(r, "LPUSH", "l", "a", "b") == 2
    assert raw(r, "RPUSH", "l", "c", "d") == 4
    assert items(r) == [b"b", b"a", b"c", b"d"]
    assert raw(r, "LLEN", "l") == 4
    assert raw(r, "LPOP", "l") == b"b"
    assert raw(r, "RPOP", "l") == b"d"
    assert raw(r, "LPOP", "l", 5) == [b"a", b"c"]
    assert raw(r, "EXISTS", "l") == 0  # emptied: the key is gone
    assert raw(r, "LLEN", "l") == 0
    assert raw(r, "LPOP", "l") is None
    assert raw(r, "RPOP", "l") is None


def test_pushx_only_existing(r):
    assert raw(r, "LPUSHX", "l", "a") == 0
    assert raw(r, "RPUSHX", "l", "a", "b") == 0
    assert raw(r, "EXISTS", "l") == 0
    r.rpush("l", "x")
    assert raw(r, "LPUSHX", "l", "a", "b") == 3
    assert raw(r, "RPUSHX", "l", "z") == 4
    assert items(r) == [b"b", b"a", b"x", b"z"]


def test_pop_count_rules(resp):
    # RESP2: a count on a missing key is a null array (*-1), without it a
    # null bulk; RESP3 says _ for both. Count 0 on an existing key: [].
    for protocol, null_bulk, null_array in ((2, b"$-1\r\n", b"*-1\r\n"), (3, b"_\r\n", b"_\r\n")):
        c = resp(protocol)
        c.call("DEL", "l")
        for args, reply in (((), null_bulk), (("0",), null_array), (("2",), null_array)):
            c.send("LPOP", "l", *args)
            c.expect(reply)
            c.send("RPOP", "l", *args)
            c.expect(reply)
        c.call("RPUSH", "l", "a", "b", "c")
        c.send("LPOP", "l", "0")
        c.expect(b"*0\r\n")
        c.send("RPOP", "l", "1")
        c.expect(b"*1\r\n$1\r\nc\r\n")
        c.send("LPOP", "l", "-1")
        c.expect(b"-ERR value is out of range, must be positive\r\n")
        c.send("LPOP", "l", "x")
        c.expect(b"-ERR value is out of range, must be positive\r\n")
        c.send("LPOP", "l", "1", "2")
        c.expect(b"-ERR wrong number of arguments for 'lpop' command\r\n")


def test_lrange(r):
    r.rpush("l", *"abcde")
    assert raw(r, "LRANGE", "l", 0, -1) == [b"a", b"b", b"c", b"d", b"e"]
    assert raw(r, "LRANGE", "l", -2, -1) == [b"d", b"e"]
    assert raw(r, "LRANGE", "l", -100, 100) == [b"a", b"b", b"c", b"d", b"e"]
    assert raw(r, "LRANGE", "l", 1, -2) == [b"b", b"c", b"d"]
    assert raw(r, "LRANGE", "l", 3, 1) == []
    assert raw(r, "LRANGE", "l", 5, 10) == []
    assert raw(r, "LRANGE", "l", -1, -3) == []
    assert raw(r, "LRANGE", "l", 4, 4) == [b"e"]
    assert raw(r, "LRANGE", "nokey", 0, -1) == []
    assert error(r, "LRANGE", "nokey", "a", 1) == NOT_INTEGER  # parsed before the lookup


def test_lrange_from_either_end_of_a_long_list(r):
    # Both walks (from the head, from the tail) give the same slice.
    n = 1000
    r.rpush("l", *range(n))
    assert raw(r, "LRANGE", "l", 990, 995) == [b"%d" % i for i in range(990, 996)]
    assert raw(r, "LRANGE", "l", -3, -1) == [b"997", b"998", b"999"]
    assert raw(r, "LRANGE", "l", 2, 4) == [b"2", b"3", b"4"]
    assert raw(r, "LRANGE", "l", 400, 600) == [b"%d" % i for i in range(400, 601)]


def test_lindex(r):
    r.rpush("l", *"abc")
    assert raw(r, "LINDEX", "l", 0) == b"a"
    assert raw(r, "LINDEX", "l", -1) == b"c"
    assert raw(r, "LINDEX", "l", 3) is None
    assert raw(r, "LINDEX", "l", -4) is None
    assert raw(r, "LINDEX", "nokey", "x") is None  # missing key: the index is not read
    assert error(r, "LINDEX", "l", "x") == NOT_INTEGER


def test_lset(r):
    r.rpush("l", *"abc")
    assert raw(r, "LSET", "l", 0, "z") == b"OK"
    assert raw(r, "LSET", "l", -1, "y") == b"OK"
    assert items(r) == [b"z", b"b", b"y"]
    assert error(r, "LSET", "l", 3, "q") == "ERR index out of range"
    assert error(r, "LSET", "l", -4, "q") == "ERR index out of range"
    assert error(r, "LSET", "nokey", 0, "q") == "ERR no such key"
    assert error(r, "LSET", "l", "x", "q") == NOT_INTEGER


def test_linsert(r):
    assert raw(r, "LINSERT", "l", "BEFORE", "a", "b") == 0
    r.rpush("l", *"abc")
    assert raw(r, "LINSERT", "l", "BEFORE", "b", "x") == 4
    assert raw(r, "LINSERT", "l", "after", "c", "y") == 5
    assert raw(r, "LINSERT", "l", "BEFORE", "zz", "q") == -1
    assert items(r) == [b"a", b"x", b"b", b"c", b"y"]
    assert error(r, "LINSERT", "l", "MIDDLE", "a", "b") == SYNTAX
    assert error(r, "LINSERT", "nokey", "MIDDLE", "a", "b") == SYNTAX


def test_lrem(r):
    r.rpush("l", *"abaca")
    assert raw(r, "LREM", "l", 2, "a") == 2
    assert items(r) == [b"b", b"c", b"a"]
    r.rpush("l", "a", "a")
    assert raw(r, "LREM", "l", -2, "a") == 2
    assert items(r) == [b"b", b"c", b"a"]
    assert raw(r, "LREM", "l", 0, "a") == 1
    assert raw(r, "LREM", "l", 0, "zz") == 0
    assert raw(r, "LREM", "l", 0, "b") == 1
    assert raw(r, "LREM", "l", 0, "c") == 1
    assert raw(r, "EXISTS", "l") == 0
    assert raw(r, "LREM", "l", 0, "a") == 0
    assert error(r, "LREM", "l", "x", "a") == NOT_INTEGER


def test_ltrim(r):
    assert raw(r, "LTRIM", "nokey", 0, 1) == b"OK"
    r.rpush("l", *"abcde")
    assert raw(r, "LTRIM", "l", 1, -2) == b"OK"
    assert items(r) == [b"b", b"c", b"d"]
    assert raw(r, "LTRIM", "l", -100, 100) == b"OK"
    assert items(r) == [b"b", b"c", b"d"]
    assert raw(r, "LTRIM", "l", -2, -1) == b"OK"
    assert items(r) == [b"c", b"d"]
    assert raw(r, "LTRIM", "l", 2, 1) == b"OK"  # empty range: the key goes
    assert raw(r, "EXISTS", "l") == 0
    r.rpush("l", *"abc")
    assert raw(r, "LTRIM", "l", 5, 10) == b"OK"
    assert raw(r, "EXISTS", "l") == 0
    assert error(r, "LTRIM", "l", "x", 1) == NOT_INTEGER


def test_lpos(r):
    r.rpush("l", *"abcabca")
    assert raw(r, "LPOS", "l", "a") == 0
    assert raw(r, "LPOS", "l", "a", "RANK", 2) == 3
    assert raw(r, "LPOS", "l", "a", "RANK", -1) == 6
    assert raw(r, "LPOS", "l", "a", "RANK", -2, "COUNT", 2) == [3, 0]
    assert raw(r, "LPOS", "l", "a", "COUNT", 0) == [0, 3, 6]
    assert raw(r, "LPOS", "l", "a", "COUNT", 0, "MAXLEN", 4) == [0, 3]
    assert raw(r, "LPOS", "l", "b", "RANK", -1, "MAXLEN", 2) is None
    assert raw(r, "LPOS", "l", "b", "RANK", -1, "MAXLEN", 3) == 4
    assert raw(r, "LPOS", "l", "zz") is None
    assert raw(r, "LPOS", "l", "zz", "COUNT", 2) == []
    assert raw(r, "LPOS", "l", "a", "RANK", 5) is None
    assert raw(r, "LPOS", "l", "a", "RANK", 9223372036854775807) is None
    assert raw(r, "LPOS", "nokey", "a") is None
    assert raw(r, "LPOS", "nokey", "a", "COUNT", 0) == []


@pytest.mark.parametrize("args, message", [
    (("RANK", 0), "ERR RANK can't be zero: use 1 to start from the first match, 2 from the "
                  "second ... or use negative to start from the end of the list"),
    # Redis 7.4 refuses LONG_MIN (7.0 took it).
    (("RANK", -9223372036854775808), "ERR value is out of range, value must between "
                                     "-9223372036854775807 and 9223372036854775807"),
    (("RANK", "x"), NOT_INTEGER),
    (("COUNT", -1), "ERR COUNT can't be negative"),
    (("COUNT", "abc"), "ERR COUNT can't be negative"),
    (("MAXLEN", -1), "ERR MAXLEN can't be negative"),
    (("MAXLEN", "x"), "ERR MAXLEN can't be negative"),
    (("RANK",), SYNTAX),
    (("FOO", 1), SYNTAX),
])
def test_lpos_errors(r, args, message):
    r.rpush("l", "a")
    assert error(r, "LPOS", "l", "a", *args) == message


def test_lmove_and_rpoplpush(r):
    r.rpush("l", *"abc")
    assert raw(r, "LMOVE", "l", "l2", "LEFT", "RIGHT") == b"a"
    assert raw(r, "LMOVE", "l", "l2", "right", "left") == b"c"
    assert items(r, "l2") == [b"c", b"a"]
    assert raw(r, "LMOVE", "l", "l", "LEFT", "RIGHT") == b"b"  # rotation of one element
    assert items(r) == [b"b"]
    assert raw(r, "LMOVE", "l", "l2", "LEFT", "LEFT") == b"b"
    assert raw(r, "EXISTS", "l") == 0
    assert raw(r, "RPOPLPUSH", "l2", "l2") == b"a"
    assert items(r, "l2") == [b"a", b"b", b"c"]
    assert raw(r, "LMOVE", "nokey", "l2", "LEFT", "LEFT") is None
    assert raw(r, "RPOPLPUSH", "nokey", "l2") is None
    assert error(r, "LMOVE", "l2", "x", "UP", "LEFT") == SYNTAX
    assert error(r, "LMOVE", "l2", "x", "LEFT", "UP") == SYNTAX


def test_lmove_wrong_types(r):
    r.set("s", "x")
    r.rpush("l", "a")
    assert error(r, "LMOVE", "l", "s", "LEFT", "LEFT") == WRONGTYPE
    assert items(r) == [b"a"]  # nothing popped
    assert error(r, "LMOVE", "s", "l", "LEFT", "LEFT") == WRONGTYPE
    assert raw(r, "LMOVE", "nokey", "s", "LEFT", "LEFT") is None  # no source: dst not checked
    assert error(r, "RPOPLPUSH", "l", "s") == WRONGTYPE


def test_lmpop(r):
    r.rpush("l1", *"abc")
    r.rpush("l2", *"de")
    assert raw(r, "LMPOP", 2, "nokey", "l1", "LEFT", "COUNT", 2) == [b"l1", [b"a", b"b"]]
    assert raw(r, "LMPOP", 2, "l1", "l2", "RIGHT", "COUNT", 10) == [b"l1", [b"c"]]
    assert raw(r, "LMPOP", 2, "l1", "l2", "RIGHT") == [b"l2", [b"e"]]
    assert raw(r, "LMPOP", 2, "l1", "l2", "left", "count", 10) == [b"l2", [b"d"]]
    assert raw(r, "LMPOP", 2, "l1", "l2", "LEFT") is None
    assert raw(r, "EXISTS", "l1", "l2") == 0


@pytest.mark.parametrize("args, message", [
    ((0, "l", "LEFT"), "ERR numkeys should be greater than 0"),
    ((-1, "l", "LEFT"), "ERR numkeys should be greater than 0"),
    (("x", "l", "LEFT"), "ERR numkeys should be greater than 0"),
    ((1, "l", "LEFT", "COUNT", 0), "ERR count should be greater than 0"),
    ((1, "l", "LEFT", "COUNT", "x"), "ERR count should be greater than 0"),
    ((1, "l", "MIDDLE"), SYNTAX),
    ((5, "l", "LEFT"), SYNTAX),
    ((1, "l", "LEFT", "COUNT", 1, "COUNT", 1), SYNTAX),
    ((1, "l", "LEFT", "COUNT"), SYNTAX),
])
def test_lmpop_errors(r, args, message):
    assert error(r, "LMPOP", *args) == message


def test_wrongtype_everywhere(r):
    r.set("s", "x")
    for args in (("LPUSH", "s", "a"), ("RPUSH", "s", "a"), ("LPUSHX", "s", "a"),
                 ("RPUSHX", "s", "a"), ("LPOP", "s"), ("RPOP", "s", 2), ("LLEN", "s"),
                 ("LRANGE", "s", 0, 1), ("LINDEX", "s", 0), ("LSET", "s", 0, "a"),
                 ("LINSERT", "s", "BEFORE", "a", "b"), ("LREM", "s", 0, "a"),
                 ("LTRIM", "s", 0, 1), ("LPOS", "s", "a"), ("LMPOP", 1, "s", "LEFT"),
                 ("BLPOP", "s", 0), ("BRPOP", "s", 0.01), ("BLMOVE", "s", "l", "LEFT", "LEFT", 0),
                 ("BRPOPLPUSH", "s", "l", 0), ("BLMPOP", 0, 1, "s", "LEFT")):
        assert error(r, *args) == WRONGTYPE, args
    # The first non-empty key decides: a string after a served list is not looked at.
    r.rpush("l", "a", "b")
    assert error(r, "LMPOP", 2, "nokey", "s", "LEFT") == WRONGTYPE
    assert raw(r, "LMPOP", 2, "l", "s", "LEFT") == [b"l", [b"a"]]
    assert raw(r, "BLPOP", "l", "s", 0) == [b"l", b"b"]
    # And list commands refuse nothing but lists: GET on a list is WRONGTYPE.
    r.rpush("l", "a")
    assert error(r, "GET", "l") == WRONGTYPE


def test_blocking_commands_serve_at_once_when_they_can(r):
    r.rpush("l1", *"abc")
    assert raw(r, "BLPOP", "nokey", "l1", 0) == [b"l1", b"a"]
    assert raw(r, "BRPOP", "l1", 0) == [b"l1", b"c"]
    assert raw(r, "BRPOPLPUSH", "l1", "l2", 0) == b"b"
    assert raw(r, "BLMOVE", "l2", "l1", "LEFT", "RIGHT", 0) == b"b"
    assert raw(r, "BLMPOP", 0, 1, "l1", "RIGHT", "COUNT", 5) == [b"l1", [b"b"]]
    assert raw(r, "EXISTS", "l1", "l2") == 0


@pytest.mark.parametrize("timeout, message", [
    ("x", "ERR timeout is not a float or out of range"),
    ("nan", "ERR timeout is not a float or out of range"),
    (" 1", "ERR timeout is not a float or out of range"),
    ("-1", "ERR timeout is negative"),
    ("-inf", "ERR timeout is negative"),
    # Redis 7.2+ (7.0 said "timeout is negative" for these).
    ("inf", "ERR timeout is out of range"),
    ("1e400", "ERR timeout is out of range"),
])
def test_timeout_errors(r, timeout, message):
    assert error(r, "BLPOP", "l", timeout) == message
    assert error(r, "BLMOVE", "a", "b", "LEFT", "LEFT", timeout) == message
    assert error(r, "BRPOPLPUSH", "a", "b", timeout) == message
    assert error(r, "BLMPOP", timeout, 1, "a", "LEFT") == message


def test_blocking_argument_errors(r):
    assert error(r, "BLMOVE", "a", "b", "LEFT", "UP", 0) == SYNTAX
    assert error(r, "BLMPOP", 0.01, 0, "l", "LEFT") == "ERR numkeys should be greater than 0"
    assert error(r, "BLMPOP", 0.01, 1, "l", "LEFT", "COUNT", 0) == "ERR count should be greater than 0"


def test_blocking_inside_multi_answers_at_once(resp):
    # Redis's CLIENT_DENY_BLOCKING replies: null arrays, a null bulk for BLMOVE/BRPOPLPUSH.
    c = resp(2)
    c.call("MULTI")
    for args in (("BLPOP", "a", 0), ("BRPOP", "a", 0), ("BLMOVE", "a", "b", "LEFT", "LEFT", 0),
                 ("BRPOPLPUSH", "a", "b", 0), ("BLMPOP", 0, 1, "a", "LEFT")):
        assert c.call(*args) == b"QUEUED"
    c.send("EXEC")
    c.expect(b"*5\r\n*-1\r\n*-1\r\n$-1\r\n$-1\r\n*-1\r\n")
    c3 = resp(3)
    c3.call("RPUSH", "a", "x")
    c3.call("MULTI")
    c3.call("BLPOP", "a", 0)
    c3.call("BLPOP", "a", 0)
    c3.send("EXEC")
    c3.expect(b"*2\r\n*2\r\n$1\r\na\r\n$1\r\nx\r\n_\r\n")


def test_type_encoding_copy_rename(r):
    r.rpush("l", "a", "b")
    assert raw(r, "TYPE", "l") == b"list"
    assert raw(r, "OBJECT", "ENCODING", "l") == b"listpack"  # small: as Redis 7.2+
    assert raw(r, "COPY", "l", "l2") == 1
    r.rpush("l2", "c")
    assert items(r) == [b"a", b"b"]  # the copy shares nothing
    assert items(r, "l2") == [b"a", b"b", b"c"]
    assert raw(r, "RENAME", "l2", "l3") == b"OK"
    assert items(r, "l3") == [b"a", b"b", b"c"]
    assert sorted(raw(r, "SCAN", 0, "TYPE", "list")[1]) == [b"l", b"l3"]
    assert raw(r, "SCAN", 0, "TYPE", "string")[1] == []


def test_expiry_and_watch(r):
    r.rpush("l", "a")
    r.pexpire("l", 100_000)
    r.rpush("l", "b")  # a push keeps the TTL
    assert 0 < r.pttl("l") <= 100_000
    with r.pipeline() as pipe:
        pipe.watch("l")
        r2 = redis.Redis(connection_pool=r.connection_pool)
        r2.lpop("l")  # another client's change fails the transaction
        pipe.multi()
        pipe.rpush("l", "c")
        with pytest.raises(redis.WatchError):
            pipe.execute()


def test_binary_elements(r):
    blob = bytes(range(256))
    r.rpush("l", blob, b"\r\n", b"")
    assert items(r) == [blob, b"\r\n", b""]
    assert raw(r, "LPOS", "l", b"") == 2
    assert raw(r, "LREM", "l", 0, b"\r\n") == 1


@pytest.mark.parametrize("command, arity", [
    ("LPUSH", 1), ("RPUSH", 2), ("LLEN", 1), ("LRANGE", 3), ("LINDEX", 1), ("LSET", 3),
    ("LINSERT", 4), ("LREM", 3), ("LTRIM", 3), ("LPOS", 2), ("LMOVE", 4), ("RPOPLPUSH", 2),
    ("LMPOP", 3), ("BLPOP", 2), ("BLMOVE", 5), ("BRPOPLPUSH", 3), ("BLMPOP", 4),
])
def test_arity(r, command, arity):
    args = ["x"] * (arity - 1)
    assert error(r, command, *args) == f"ERR wrong number of arguments for '{command.lower()}' command"


# The command sequence and the events redis-server 7.0 sent for it (keyevent channel).
EVENT_COMMANDS = [
    ("RPUSH", "l", "a", "b", "c"), ("LPUSH", "l", "z"), ("LPOP", "l"), ("RPOP", "l", "1"),
    ("LSET", "l", "0", "q"), ("LINSERT", "l", "BEFORE", "q", "w"), ("LINSERT", "l", "BEFORE", "nope", "w"),
    ("LREM", "l", "0", "w"), ("LREM", "l", "0", "nope"), ("LTRIM", "l", "0", "-1"),
    ("LMOVE", "l", "m", "LEFT", "RIGHT"), ("RPOPLPUSH", "m", "m"), ("LMPOP", "1", "m", "LEFT", "COUNT", "5"),
    ("RPUSH", "l", "x"), ("BLPOP", "l", "0"), ("RPUSH", "l", "x", "y"), ("LTRIM", "l", "5", "6"),
    ("RPUSHX", "l", "a"), ("LPUSHX", "zz", "a"), ("RPUSH", "l", "x"), ("RPOPLPUSH", "l", "l"),
    ("LPOP", "l", "0"), ("RPUSH", "l", "a"), ("LREM", "l", "0", "a"), ("RPUSH", "l", "a"),
    ("BLMPOP", "0", "1", "l", "RIGHT"), ("RPUSH", "l", "a", "b"), ("BRPOPLPUSH", "l", "n", "0"),
    ("BLMOVE", "l", "n", "LEFT", "LEFT", "0"),
]
EVENTS = [
    ("rpush", "l"), ("lpush", "l"), ("lpop", "l"), ("rpop", "l"), ("lset", "l"), ("linsert", "l"),
    ("lrem", "l"), ("ltrim", "l"), ("rpush", "m"), ("lpop", "l"), ("lpush", "m"), ("rpop", "m"),
    ("lpop", "m"), ("del", "m"), ("rpush", "l"), ("lpop", "l"), ("rpush", "l"), ("ltrim", "l"),
    ("del", "l"), ("rpush", "l"), ("lpush", "l"), ("rpop", "l"), ("rpush", "l"), ("lrem", "l"),
    ("rpush", "l"), ("rpop", "l"), ("rpush", "l"), ("lpush", "n"), ("rpop", "l"), ("lpush", "n"),
    ("lpop", "l"),
]


def test_keyspace_events(resp, r2):
    r2.config_set("notify-keyspace-events", "EA")
    try:
        sub = resp(2)
        sub.call("PSUBSCRIBE", "__keyevent@0__:*")
        for command in EVENT_COMMANDS:
            raw(r2, *command)
        got = []
        for _ in EVENTS:
            _, _, channel, key = sub.read()
            got.append((channel.split(b":", 1)[1].decode(), key.decode()))
        assert got == EVENTS
        assert sub.quiet(0.1)
    finally:
        r2.config_set("notify-keyspace-events", "")
