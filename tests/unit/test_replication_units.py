"""Pure parts of replication: the backlog ring, the stream reader (input
split at every byte offset), the digest."""

from __future__ import annotations

import random
from collections import deque

import pytest

from ringcache.replication.backlog import Backlog
from ringcache.replication.digest import ZERO, dataset_digest, value_digest
from ringcache.replication import stream as stream_module
from ringcache.replication.stream import StreamError, StreamReader, encode
from ringcache.storage.zset import ZSet


def test_backlog_offsets_follow_redis():
    backlog = Backlog(16, offset=100)
    assert backlog.first_offset == 101 and backlog.histlen == 0
    assert backlog.covers(101) and not backlog.covers(100) and not backlog.covers(102)
    backlog.append(b"abcdef")
    assert backlog.offset == 106 and backlog.first_offset == 101
    assert backlog.since(101) == b"abcdef"
    assert backlog.since(104) == b"def"
    assert backlog.since(107) == b""  # up to date: continue with nothing


def test_backlog_wraps_and_forgets_the_oldest_bytes():
    backlog = Backlog(10)
    stream = b""
    rng = random.Random(7)
    for _ in range(200):
        chunk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 14)))
        backlog.append(chunk)
        stream += chunk
        assert backlog.offset == len(stream)
        assert backlog.histlen == min(10, len(stream))
        first = backlog.first_offset
        assert not backlog.covers(first - 1)
        for start in range(first, backlog.offset + 2):
            assert backlog.since(start) == stream[start - 1:]


def test_backlog_resize_keeps_the_newest_bytes():
    backlog = Backlog(10)
    backlog.append(b"0123456789abc")
    backlog.resize(4)
    assert backlog.offset == 13 and backlog.since(backlog.first_offset) == b"9abc"
    backlog.resize(32)
    backlog.append(b"de")
    assert backlog.since(10) == b"9abcde"


COMMANDS = [[b"SET", b"k", b"v"], [b"SELECT", b"1"], [b"RPUSH", b"l", b"", b"\r\n", b"x" * 300],
            [b"MULTI"], [b"INCR", b"c"], [b"EXEC"]]


def test_stream_reader_at_every_split():
    wire = b"\n" + b"".join(encode(argv) for argv in COMMANDS)
    for cut in range(len(wire) + 1):
        reader = StreamReader()
        got = []
        for part in (wire[:cut], wire[cut:]):
            reader.feed(part)
            got += reader.commands()
        assert [argv for argv, _ in got if argv] == COMMANDS
        assert b"".join(raw for _, raw in got) == wire  # every byte accounted for, once


@pytest.mark.parametrize("bad", [b"+OK\r\n", b"*1\r\n:5\r\n", b"*x\r\n", b"*1\r\n$3\r\nabcXY",
                                 b"*0\r\n", b"*1\r\n$-1\r\n"])
def test_stream_reader_refuses_what_a_primary_never_sends(bad):
    reader = StreamReader()
    reader.feed(bad)
    with pytest.raises(StreamError):
        reader.commands()


def _twins(name: str) -> list:
    """The pure function and, when built, its compiled twin (_stream.pyx)."""
    compiled = stream_module._compiled()
    pure = getattr(stream_module, name + "_pure")
    return [pure] + ([getattr(compiled, name)] if compiled is not None else [])


def test_encode_unit_twins_write_the_same_bytes():
    rng = random.Random(3)
    units = [[argv] for argv in COMMANDS] + [COMMANDS, [[b"x" * n] for n in (0, 9, 10, 99, 100, 1023, 1024, 70000)]]
    for _ in range(200):
        units.append([[bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 5, 12, 300))))
                       for _ in range(rng.randrange(1, 5))] for _ in range(rng.randrange(1, 4))])
    for unit in units:
        expected = b"".join(encode(argv) for argv in unit)
        for encode_unit in _twins("encode_unit"):
            assert encode_unit(unit) == expected


def test_parse_twins_agree_at_every_split_and_on_damage():
    wire = (b"\n" + b"".join(encode(argv) for argv in COMMANDS) + encode([b"PING"])
            + encode([b"REPLCONF", b"GETACK", b"*"]) + encode([b"pInG"]) + encode([b"PINGS", b"x"]))
    results = []
    for parse in _twins("parse"):
        for cut in range(len(wire) + 1):
            argvs: list = []
            ends: list = []
            specials: list = []
            buf = bytearray(wire[:cut])
            pos, damage = parse(buf, 0, argvs, ends, specials)
            assert damage is None
            buf += wire[cut:]
            pos, damage = parse(buf, pos, argvs, ends, specials)
            assert damage is None and pos == len(wire) == ends[-1]
            results.append((argvs, ends, specials))
        for bad in (b"+OK\r\n", b"*1\r\n:5\r\n", b"*x\r\n", b"*1\r\n$3\r\nabcXY", b"*0\r\n",
                    b"*1\r\n$-1\r\n", b"*-3\r\n", b"*1 \r\n", b"*1_0\r\n", b"*1\r\n$1_0\r\n",
                    b"*" + b"1" * 70, b"*1\r\n$" + b"9" * 70):
            argvs, ends, specials = [], [], []
            pos, damage = parse(bytearray(encode([b"SET", b"a", b"b"]) + bad), 0, argvs, ends, specials)
            results.append((argvs, ends, pos, damage))
            assert argvs == [[b"SET", b"a", b"b"]] and damage is not None
    n = len(results) // len(_twins("parse"))
    assert results[:n] == results[n:] or len(_twins("parse")) == 1
    argvs, _, specials = results[0]
    assert specials == [0, len(COMMANDS) + 1, len(COMMANDS) + 2, len(COMMANDS) + 3]


def test_digest_ignores_order_and_sees_every_difference():
    now = 1000.0
    a = {b"s": {b"x", b"y"}, b"h": {b"f": b"1", b"g": b"2"}, b"l": deque([b"a", b"b"]), b"k": b"v",
         b"z": ZSet.from_items([(b"m", 1.0), (b"n", 2.5)])}
    b = dict(reversed(list(a.items())))
    assert dataset_digest([(0, a, {})], now) == dataset_digest([(0, b, {})], now)
    assert dataset_digest([(0, {}, {})], now) == ZERO.hex()
    base = dataset_digest([(0, a, {})], now)
    for changed in ({**a, b"k": b"w"}, {**a, b"l": deque([b"b", b"a"])},
                    {**a, b"z": ZSet.from_items([(b"m", 1.0), (b"n", 2.0)])}):
        assert dataset_digest([(0, changed, {})], now) != base
    assert dataset_digest([(1, a, {})], now) != base  # the database number counts
    assert dataset_digest([(0, a, {b"k": 5000.0})], now) != base  # a TTL counts
    # A key past its time is left out (a replica hides it until the DEL).
    assert dataset_digest([(0, {**a, b"gone": b"x"}, {b"gone": 10.0})], now) == base
    assert value_digest(b"v", False) != value_digest(b"v", True)
