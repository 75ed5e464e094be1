"""RequestReader: request bytes in, commands out, with Redis's rules.

The central property: however the bytes of a request stream are cut into
reads (at every byte offset, byte by byte, at random), the same commands come
out. The expected texts and behaviours below were checked against
redis-server 7 with raw sockets.
"""

from __future__ import annotations

import random
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringcache.protocol import errors
from ringcache.protocol.errors import ProtocolError
from ringcache.protocol.parser import CAREFUL_THRESHOLD, INLINE_MAX, Limits, RequestReader, split_args

MB = 1024 * 1024


def enc(*args: bytes) -> bytes:
    """A command as a client library sends it."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


def parse(chunks, limits: Limits | None = None, authenticated: bool = True) -> list[list[bytes]]:
    reader = RequestReader(limits, authenticated=authenticated)
    out: list[list[bytes]] = []
    for chunk in chunks:
        out.extend(reader.feed(chunk))
    return out


def parse_error(chunks, limits: Limits | None = None, authenticated: bool = True):
    """Feed until a ProtocolError; returns (commands before it, message)."""
    reader = RequestReader(limits, authenticated=authenticated)
    out: list[list[bytes]] = []
    for chunk in chunks:
        try:
            out.extend(reader.feed(chunk))
        except ProtocolError as exc:
            out.extend(getattr(exc, "commands", []))
            return out, str(exc)
    raise AssertionError(f"no protocol error; parsed {out!r}")


def byte_by_byte(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


# -- a stream with every kind of request ------------------------------------

BINARY = b"a\r\nb\r\n*3\r\n$1\r\n\x00\xff\n\r$-1\r\n"
MIXED: list[tuple[bytes, list[bytes]]] = [
    (enc(b"PING"), [b"PING"]),
    (enc(b"SET", b"bin", BINARY), [b"SET", b"bin", BINARY]),
    (enc(b"SET", b"", b""), [b"SET", b"", b""]),
    (b"PING\r\n", [b"PING"]),  # inline right after a multibulk command
    (b'SET a "b c"\r\n', [b"SET", b"a", b"b c"]),
    (b"\r\n", None),  # empty lines are skipped
    (b"\n", None),
    (b"ECHO '\\x41' \"\\x41\"\n", [b"ECHO", b"\\x41", b"A"]),
    (enc(b"SET", b"k" * 1100, b"v"), [b"SET", b"k" * 1100, b"v"]),  # an argument >= 1 KB
    (enc(b"MSET", *[b"%d" % i for i in range(40)]), [b"MSET", *[b"%d" % i for i in range(40)]]),
    (b"*0\r\n", None),  # empty commands, as Redis
    (b"*-1\r\n", None),
    (enc(b"SET", b"x", b"*1000\r\n*99999\r\n"), [b"SET", b"x", b"*1000\r\n*99999\r\n"]),
    (enc(b"APPEND", b"y", b"z" * 3000), [b"APPEND", b"y", b"z" * 3000]),
    (enc(b"GET", b"y"), [b"GET", b"y"]),
    (b"*2\r\n$3\r\nGET\r\n$1\r\nyXY", [b"GET", b"y"]),  # the 2 bytes after a bulk are not checked
    (enc(b"PING"), [b"PING"]),
]
MIXED_STREAM = b"".join(raw for raw, _ in MIXED)
MIXED_EXPECTED = [cmd for _, cmd in MIXED if cmd is not None]


def test_mixed_stream_in_one_read():
    assert parse([MIXED_STREAM]) == MIXED_EXPECTED


def test_mixed_stream_split_at_every_offset():
    for cut in range(1, len(MIXED_STREAM)):
        got = parse([MIXED_STREAM[:cut], MIXED_STREAM[cut:]])
        assert got == MIXED_EXPECTED, f"split at {cut}"


def test_mixed_stream_byte_by_byte():
    assert parse(byte_by_byte(MIXED_STREAM)) == MIXED_EXPECTED


def test_mixed_stream_in_three_reads():
    rng = random.Random(7)
    for _ in range(300):
        a, b = sorted(rng.sample(range(1, len(MIXED_STREAM)), 2))
        got = parse([MIXED_STREAM[:a], MIXED_STREAM[a:b], MIXED_STREAM[b:]])
        assert got == MIXED_EXPECTED, f"split at {a}, {b}"


# -- large values and large arrays --------------------------------------------

BIG_VALUE = bytes(range(256)) * 400 + b"\r\n*5000\r\n"  # > 64 KB, with CRLF and headers inside
WIDE = [b"DEL", *[b"key:%d" % i for i in range(4999)]]  # 5000 arguments
LARGE: list[list[bytes]] = [
    [b"PING"],
    [b"SET", b"big", BIG_VALUE],
    [b"GET", b"big"],
    WIDE,
    [b"SET", b"after", b"x"],
]
LARGE_STREAM = b"".join(enc(*cmd) for cmd in LARGE)


def _structural_offsets(stream: bytes) -> list[int]:
    """Every offset near a command start and near the ends of the big value."""
    offsets: set[int] = set()
    pos = 0
    starts = []
    for cmd in LARGE:
        starts.append(pos)
        pos += len(enc(*cmd))
    value_at = LARGE_STREAM.index(BIG_VALUE)
    for mark in (*starts, value_at, value_at + len(BIG_VALUE), value_at + CAREFUL_THRESHOLD,
                 starts[3] + 10 * 1024, starts[3] + len(enc(*WIDE)) - 2):
        offsets.update(range(max(1, mark - 24), min(len(stream), mark + 24)))
    offsets.update(range(1, len(stream), 4099))
    return sorted(offsets)


def test_large_stream_in_one_read():
    assert parse([LARGE_STREAM]) == LARGE


def test_large_stream_split_at_offsets_near_every_boundary():
    for cut in _structural_offsets(LARGE_STREAM):
        got = parse([LARGE_STREAM[:cut], LARGE_STREAM[cut:]])
        assert got == LARGE, f"split at {cut}"


def test_large_stream_in_small_reads():
    for size in (1000, 4096, 65536 + 7):
        chunks = [LARGE_STREAM[i : i + size] for i in range(0, len(LARGE_STREAM), size)]
        assert parse(chunks) == LARGE, size


def test_large_value_byte_by_byte_stays_linear():
    # 100 KB one byte at a time: quadratic rescans would take minutes.
    stream = enc(b"SET", b"k", b"v" * 100_000) + enc(b"PING")
    assert parse(byte_by_byte(stream)) == [[b"SET", b"k", b"v" * 100_000], [b"PING"]]


@settings(max_examples=150, deadline=None)
@given(
    commands=st.lists(
        st.lists(st.binary(max_size=40) | st.sampled_from([b"", b"\r\n", b"*1\r\n", b"$3\r\n", b"x" * 1500]),
                 min_size=1, max_size=6),
        min_size=1, max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=10**6), max_size=8),
)
def test_any_chunking_gives_the_same_commands(commands, cuts):
    stream = b"".join(enc(*cmd) for cmd in commands)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in zip(points, points[1:])]
    assert parse(chunks) == commands


# -- regressions of the fast path ---------------------------------------------


def test_read_ending_after_a_long_argument_does_not_lose_the_command():
    # hiredis consumed the whole read (header and a >= 1 KB argument) and
    # reported no pending byte: the next read continues that command; it must
    # not be parsed as inline commands (here it would run FLUSHALL).
    reader = RequestReader()
    assert reader.feed(b"*3\r\n$3\r\nSET\r\n$1100\r\n" + b"k" * 1100 + b"\r\n") == []
    assert reader.feed(b"$8\r\nFLUSHALL\r\n") == [[b"SET", b"k" * 1100, b"FLUSHALL"]]


def test_read_ending_after_the_array_header():
    reader = RequestReader()
    assert reader.feed(enc(b"PING") + b"*2\r\n") == [[b"PING"]]
    assert reader.feed(b"$4\r\nECHO\r\n$2\r\nhi\r\n") == [[b"ECHO", b"hi"]]


def test_hand_over_to_the_careful_parser_runs_nothing_twice():
    reader = RequestReader()
    value = b"v" * (CAREFUL_THRESHOLD * 2)
    stream = enc(b"PING") + enc(b"SET", b"k", value) + enc(b"GET", b"k")
    got = []
    for i in range(0, len(stream), 1000):
        got.extend(reader.feed(stream[i : i + 1000]))
    assert got == [[b"PING"], [b"SET", b"k", value], [b"GET", b"k"]]


def test_inline_after_multibulk_in_one_read():
    assert parse([enc(b"PING") + b"PING\r\n" + enc(b"PING")]) == [[b"PING"]] * 3


def test_null_and_empty_arrays_are_skipped():
    assert parse([b"*-1\r\n*0\r\n*-5\r\n" + enc(b"PING")]) == [[b"PING"]]
    assert parse([enc(b"PING") + b"*-1\r\n*0\r\n" + enc(b"PING")]) == [[b"PING"]] * 2


def test_long_stream_never_ending_on_a_boundary_keeps_memory_bounded():
    # redis-cli --pipe style: 4 MB of commands in reads cut at odd places.
    one = enc(b"SET", b"key:000000001", b"x" * 50)
    stream = one * (4 * MB // len(one))
    reader = RequestReader()
    tracemalloc.start()
    try:
        count = 0
        for i in range(0, len(stream), 1999):
            count += len(reader.feed(stream[i : i + 1999]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == len(stream) // len(one)
    assert peak < 1 * MB, peak


# -- inline commands ----------------------------------------------------------


@pytest.mark.parametrize(
    "line, expected",
    [
        (b"PING\r\n", [[b"PING"]]),
        (b"PING\n", [[b"PING"]]),
        (b"SET a b\r\nGET a\r\n", [[b"SET", b"a", b"b"], [b"GET", b"a"]]),
        (b'SET a "b c"\r\n', [[b"SET", b"a", b"b c"]]),
        (b"SET a 'b c'\r\n", [[b"SET", b"a", b"b c"]]),
        (b'SET a "\\x41\\x42"\r\n', [[b"SET", b"a", b"AB"]]),
        (b'SET a ""\r\n', [[b"SET", b"a", b""]]),
        (b"  SET   a\tb  \r\n", [[b"SET", b"a", b"b"]]),
        (b"\r\n\n\r\nPING\r\n", [[b"PING"]]),
        (b"\n", []),
        (b"PING", []),  # no line end yet
    ],
)
def test_inline(line, expected):
    assert parse([line]) == expected
    assert parse(byte_by_byte(line)) == expected


def test_inline_line_with_a_nul_never_ends():
    # Redis looks for the line end with strchr(), which stops at the NUL: the
    # command waits (and becomes "too big" past 64 KB).
    reader = RequestReader()
    assert reader.feed(b"ECHO a\x00b\r\n") == []
    assert reader.feed(b"PING\r\n") == []
    with pytest.raises(ProtocolError, match="too big inline request"):
        reader.feed(b"x" * INLINE_MAX)


def test_exactly_64kb_inline_without_newline_waits():
    reader = RequestReader()
    assert reader.feed(b"A" * INLINE_MAX) == []
    assert reader.feed(b"\r\n") == [[b"A" * INLINE_MAX]]


# -- malformed input: Redis's exact texts --------------------------------------

PING = enc(b"PING")
MALFORMED = [
    (b"*-x\r\n", errors.PROTO_INVALID_MULTIBULK),
    (b"*abc\r\n", errors.PROTO_INVALID_MULTIBULK),
    (b"*99999999999\r\n", errors.PROTO_INVALID_MULTIBULK),
    (b"*2147483648\r\n", errors.PROTO_INVALID_MULTIBULK),
    (b"*-0\r\n", errors.PROTO_INVALID_MULTIBULK),
    (b"*3 \r\n", errors.PROTO_INVALID_MULTIBULK),
    (b"*01\r\n$4\r\nPING\r\n", errors.PROTO_INVALID_MULTIBULK),
    (b"*1\r\n$-2\r\n", errors.PROTO_INVALID_BULK),
    (b"*1\r\n$-1\r\n", errors.PROTO_INVALID_BULK),
    (b"*1\r\n$abc\r\n", errors.PROTO_INVALID_BULK),
    (b"*1\r\n$536870913\r\n", errors.PROTO_INVALID_BULK),
    (b"*1\r\n$04\r\nPING\r\n", errors.PROTO_INVALID_BULK),
    (b"*1\r\n$+4\r\nPING\r\n", errors.PROTO_INVALID_BULK),
    (b"*1\r\nx\r\n", "ERR Protocol error: expected '$', got 'x'"),
    (b"*1\r\n:1\r\n", "ERR Protocol error: expected '$', got ':'"),
    (b"*2\r\n$4\r\nECHO\r\n*1\r\n$1\r\na\r\n", "ERR Protocol error: expected '$', got '*'"),
    (b"*2\r\n$3\r\nGET\r\n,1.5\r\n", "ERR Protocol error: expected '$', got ','"),
    (b"*2\r\n$3\r\nGET\r\n#t\r\n", "ERR Protocol error: expected '$', got '#'"),
    (b"*2\r\n$3\r\nGET\r\n_\r\n", "ERR Protocol error: expected '$', got '_'"),
    (b"*2\r\n$3\r\nGET\r\n%1\r\n:1\r\n:2\r\n", "ERR Protocol error: expected '$', got '%'"),
    (b"*2\r\n$3\r\nGET\r\n-ERR x\r\n", "ERR Protocol error: expected '$', got '-'"),
    (b'SET a "b\r\n', errors.PROTO_UNBALANCED_QUOTES),
    (b"SET a 'b\r\n", errors.PROTO_UNBALANCED_QUOTES),
    (b'ECHO "a"b\r\n', errors.PROTO_UNBALANCED_QUOTES),
    (b"ECHO 'a'b\r\n", errors.PROTO_UNBALANCED_QUOTES),
]


@pytest.mark.parametrize("bad, message", MALFORMED, ids=[repr(b)[2:30] for b, _ in MALFORMED])
def test_malformed(bad, message):
    assert parse_error([bad]) == ([], message)
    # After a valid command, in the same read and byte by byte: the valid
    # command comes out first (Redis runs it before closing).
    assert parse_error([PING + bad]) == ([[b"PING"]], message)
    assert parse_error(byte_by_byte(PING + bad)) == ([[b"PING"]], message)


def test_malformed_after_a_pending_command():
    # The bad part arrives in a later read than the start of its command.
    first = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n"
    assert parse_error([PING + first, b":1\r\n"]) == ([[b"PING"]], "ERR Protocol error: expected '$', got ':'")
    assert parse_error([PING + first, b"*1\r\n$1\r\nx\r\n"]) == (
        [[b"PING"]], "ERR Protocol error: expected '$', got '*'")


def test_too_big_inline_request():
    assert parse_error([b"A" * (INLINE_MAX + 1)]) == ([], errors.PROTO_BIG_INLINE)
    assert parse_error([PING, b"A" * 40000, b"A" * 40000]) == ([[b"PING"]], errors.PROTO_BIG_INLINE)


def test_too_big_count_strings():
    assert parse_error([b"*" + b"1" * (INLINE_MAX + 1)]) == ([], errors.PROTO_BIG_MBULK_COUNT)
    assert parse_error([b"*1\r\n$" + b"1" * (INLINE_MAX + 1)]) == ([], errors.PROTO_BIG_BULK_COUNT)


def test_proto_max_bulk_len():
    limits = Limits(proto_max_bulk_len=1 * MB)
    assert parse([b"*1\r\n$1048576\r\n" + b"x" * MB + b"\r\n"], limits) == [[b"x" * MB]]
    assert parse_error([b"*1\r\n$1048577\r\n"], limits) == ([], errors.PROTO_INVALID_BULK)
    # Also when the header comes after a command pending on the fast path.
    assert parse_error([b"*2\r\n$3\r\nGET\r\n", b"$1048577\r\n"], limits) == ([], errors.PROTO_INVALID_BULK)


def test_query_buffer_limit():
    limits = Limits(query_buffer_limit=1 * MB)
    chunk = b"x" * 65536
    chunks = [b"*2\r\n$3\r\nSET\r\n$2000000\r\n"] + [chunk] * 40
    assert parse_error(chunks, limits) == ([], errors.PROTO_QUERY_BUFFER)
    # Under the limit all is well.
    value = b"x" * 900_000
    assert parse([enc(b"SET", value)[i : i + 65536] for i in range(0, 900_100, 65536)], limits) == [
        [b"SET", value]]


# -- before AUTH: small requests only ------------------------------------------


def test_unauthenticated_limits():
    ten = enc(b"CMD", *[b"a"] * 9)
    assert parse([ten], authenticated=False) == [[b"CMD", *[b"a"] * 9]]
    assert parse_error([enc(b"CMD", *[b"a"] * 10)], authenticated=False) == (
        [], errors.PROTO_UNAUTH_MULTIBULK)
    assert parse([enc(b"AUTH", b"x" * 16384)], authenticated=False) == [[b"AUTH", b"x" * 16384]]
    assert parse_error([b"*2\r\n$4\r\nAUTH\r\n$16385\r\n"], authenticated=False) == (
        [], errors.PROTO_UNAUTH_BULK)
    # Invalid beats unauthenticated, as in Redis.
    assert parse_error([b"*2147483648\r\n"], authenticated=False) == ([], errors.PROTO_INVALID_MULTIBULK)
    # Inline commands have no such limit (only the 64 KB line).
    assert parse([b"CMD" + b" a" * 20 + b"\r\n"], authenticated=False) == [[b"CMD", *[b"a"] * 20]]


def test_limits_lift_after_authentication():
    reader = RequestReader(authenticated=False)
    assert reader.feed(enc(b"AUTH", b"pw")) == [[b"AUTH", b"pw"]]
    reader.authenticated = True
    assert reader.feed(enc(b"MSET", *[b"a"] * 20)) == [[b"MSET", *[b"a"] * 20]]


# -- declared lengths are never allocated up front ----------------------------


def _peak_while(feed_all) -> int:
    tracemalloc.start()
    try:
        feed_all()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def test_huge_array_header_allocates_nothing():
    reader = RequestReader()

    def go():
        assert reader.feed(b"*2147483647\r\n") == []
        for _ in range(100):
            assert reader.feed(b"$1\r\na\r\n" * 10) == []

    assert _peak_while(go) < 1 * MB


def test_huge_array_header_byte_by_byte_allocates_nothing():
    for prefix in (b"", b"*2\r\n$3\r\nGET\r\n"):  # on a boundary, and nested in a pending command
        reader = RequestReader()

        def go():
            reader.feed(prefix)
            for byte in byte_by_byte(b"*2147483647"):
                assert reader.feed(byte) == []
            try:
                assert reader.feed(b"\r\n") == []
            except ProtocolError as exc:  # nested: expected '$', got '*'
                assert "expected '$', got '*'" in str(exc)

        assert _peak_while(go) < 1 * MB, prefix


def test_huge_bulk_header_allocates_nothing():
    reader = RequestReader()

    def go():
        assert reader.feed(b"*1\r\n$536870912\r\n") == []
        for _ in range(10):
            assert reader.feed(b"x" * 1000) == []

    assert _peak_while(go) < 1 * MB
    assert reader.buffered() >= 10_000


def test_large_value_costs_about_its_size():
    value_size = 8 * MB
    stream = enc(b"SET", b"k", b"v" * value_size)
    reader = RequestReader()
    got = []

    def go():
        for i in range(0, len(stream), 65536):
            got.extend(reader.feed(stream[i : i + 65536]))

    peak = _peak_while(go)
    assert len(got) == 1 and len(got[0][2]) == value_size
    assert peak < 2.5 * value_size, peak


# -- split_args: Redis's sdssplitargs (each case checked against redis-server) --


@pytest.mark.parametrize(
    "line, expected",
    [
        (b'SET a "b c"', [b"SET", b"a", b"b c"]),
        (b'"\\x41\\x4"', [b"Ax4"]),
        (b'"a\\qb"', [b"aqb"]),
        (b"'a\\'b'", [b"a'b"]),
        (b"a\x0bb", [b"a\x0bb"]),  # \v and \f separate only between arguments
        (b"\x0b\x0cabc", [b"abc"]),
        (b'"a\\n\\r\\t\\b\\a"', [b"a\n\r\t\x08\x07"]),
        (b"'a\\nb'", [b"a\\nb"]),
        (b'a"b c"', [b"ab c"]),
        (b'""', [b""]),
        (b"''", [b""]),
        (b"  a   b  ", [b"a", b"b"]),
        (b'"\\x4G"', [b"x4G"]),
        (b'"a\\"b"', [b'a"b']),
        (b'"\\xff\\x00"', [b"\xff\x00"]),
        (b'"\\xAa"', [b"\xaa"]),
        (b"key\tval", [b"key", b"val"]),
        (b"'a'\x0bb", [b"a", b"b"]),
        (b'"a"\x0cb', [b"a", b"b"]),
        (b"\\x41", [b"\\x41"]),
        (b"'\\x41'", [b"\\x41"]),
        (b'"a"  ', [b"a"]),
        (b'"a\\\\"', [b"a\\"]),
        (b"a\rb", [b"a", b"b"]),
        (b"", []),
        (b"a\x00b c", [b"a"]),  # a C string: NUL ends it
        (b'a"b c"d', None),
        (b'"', None),
        (b"'", None),
        (b'"abc', None),
        (b'"a" "b', None),
        (b'"\\"', None),
        (b"a'b c'd", None),
        (b"'a\\\\'", None),
        (b'"a\x00"', None),
    ],
)
def test_split_args(line, expected):
    assert split_args(line) == expected


# -- large arrays: the careful parser hands runs of arguments to hiredis ------

ARRAY_ARGS = [b"RPUSH", b"list"] + [
    (b"v%d" % i) * (i % 7) + (b"\r\n*3\r\n$" if i % 50 == 0 else b"") for i in range(1198)]


def test_large_array_split_everywhere():
    stream = PING + enc(*ARRAY_ARGS) + PING
    expected = [[b"PING"], ARRAY_ARGS, [b"PING"]]
    for cut in range(1, len(stream), 7):
        assert parse([stream[:cut], stream[cut:]]) == expected, cut
    assert parse([stream[i : i + 1000] for i in range(0, len(stream), 1000)]) == expected


def test_large_array_accepts_any_two_bytes_after_a_bulk():
    stream = b"*1000\r\n" + b"$1\r\naXY" * 1000
    assert parse([stream]) == [[b"a"] * 1000]


@pytest.mark.parametrize(
    "bad, message",
    [
        (b":1\r\n", "ERR Protocol error: expected '$', got ':'"),
        (b"x\r\n", "ERR Protocol error: expected '$', got 'x'"),
        (b"*1\r\n$1\r\na\r\n", "ERR Protocol error: expected '$', got '*'"),
        (b"$-1\r\n", errors.PROTO_INVALID_BULK),
        (b"$01\r\na\r\n", errors.PROTO_INVALID_BULK),
        (b"$1048577\r\n", errors.PROTO_INVALID_BULK),
        (b"$1048577\r\n" + b"x" * 1048577 + b"\r\n", errors.PROTO_INVALID_BULK),
    ],
)
def test_large_array_malformed_in_the_middle(bad, message):
    limits = Limits(proto_max_bulk_len=1 * MB)
    stream = PING + b"*2000\r\n" + b"$2\r\nab\r\n" * 700 + bad + b"$2\r\nab\r\n" * 50
    assert parse_error([stream], limits) == ([[b"PING"]], message)
    assert parse_error([stream[i : i + 999] for i in range(0, len(stream), 999)], limits) == (
        [[b"PING"]], message)


def test_whole_read_parser_takes_only_what_the_readers_agree_on(monkeypatch):
    """The compiled whole-read parser (_speedups.parse_requests, used by
    RequestReader on an exact boundary) returns, for every read it accepts,
    the commands the hiredis/careful readers make of it, and accepts every
    read of whole canonical commands. Random commands, half of them
    damaged (a byte changed, the end cut)."""
    try:
        from ringcache import _speedups
    except ImportError:
        pytest.fail("the compiled extension is not built (scripts/setup.sh)")
    from ringcache.protocol import parser

    monkeypatch.setattr(parser, "parse_requests", None)  # the readers alone: the reference
    rng = random.Random(5)
    accepted = 0
    for _ in range(4000):
        commands = [[bytes(rng.choice(b"ab*$\r\n0") for _ in range(rng.choice([0, 1, 3, 12])))
                     for _ in range(rng.randint(1, 4))] for _ in range(rng.randint(1, 3))]
        data = b"".join(enc(*command) for command in commands)
        damaged = rng.random() < 0.5
        if damaged:
            at = rng.randrange(len(data))
            if rng.random() < 0.3:
                data = data[:at]
            else:
                data = data[:at] + bytes([rng.choice(b"*$\r\n0123456789x-+:")]) + data[at + 1:]
        whole = _speedups.parse_requests(data, 512 * MB)
        if not damaged:
            assert whole == commands
        if whole is None:
            continue
        accepted += 1
        assert RequestReader().feed(data) == whole, data
    assert accepted > 2000
    # The bulk limit: over it, the readers decide (and answer the error).
    assert _speedups.parse_requests(enc(b"SET", b"k", b"x" * 100), 99) is None
    assert _speedups.parse_requests(enc(b"SET", b"k", b"x" * 99), 99) == [[b"SET", b"k", b"x" * 99]]
