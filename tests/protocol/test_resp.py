"""Reply encoding: every reply type, in RESP2 and RESP3."""

from __future__ import annotations

import hiredis
import pytest

from ringcache.protocol.errors import CommandError
from ringcache.protocol.resp import (
    NULL_ARRAY,
    OK,
    ONE,
    PONG,
    QUEUED,
    ZERO,
    Push,
    Raw,
    SimpleString,
    Verbatim,
    encode,
    format_double,
)

INF = float("inf")


@pytest.mark.parametrize(
    "value, resp2, resp3",
    [
        (b"hello", b"$5\r\nhello\r\n", b"$5\r\nhello\r\n"),
        (b"", b"$0\r\n\r\n", b"$0\r\n\r\n"),
        (b"a\r\nb", b"$4\r\na\r\nb\r\n", b"$4\r\na\r\nb\r\n"),
        (bytearray(b"ba"), b"$2\r\nba\r\n", b"$2\r\nba\r\n"),
        (42, b":42\r\n", b":42\r\n"),
        (-7, b":-7\r\n", b":-7\r\n"),
        (2**63 - 1, b":9223372036854775807\r\n", b":9223372036854775807\r\n"),
        (None, b"$-1\r\n", b"_\r\n"),
        (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
        (True, b":1\r\n", b"#t\r\n"),
        (False, b":0\r\n", b"#f\r\n"),
        (1.5, b"$3\r\n1.5\r\n", b",1.5\r\n"),
        (3.0, b"$1\r\n3\r\n", b",3\r\n"),
        (INF, b"$3\r\ninf\r\n", b",inf\r\n"),
        (-INF, b"$4\r\n-inf\r\n", b",-inf\r\n"),
        (float("nan"), b"$3\r\nnan\r\n", b",nan\r\n"),
        (SimpleString(b"QUEUED"), b"+QUEUED\r\n", b"+QUEUED\r\n"),
        (OK, b"+OK\r\n", b"+OK\r\n"),
        (PONG, b"+PONG\r\n", b"+PONG\r\n"),
        (QUEUED, b"+QUEUED\r\n", b"+QUEUED\r\n"),
        (ZERO, b":0\r\n", b":0\r\n"),
        (ONE, b":1\r\n", b":1\r\n"),
        (Raw(b"+X\r\n"), b"+X\r\n", b"+X\r\n"),
        ([], b"*0\r\n", b"*0\r\n"),
        ([b"a", 1, None], b"*3\r\n$1\r\na\r\n:1\r\n$-1\r\n", b"*3\r\n$1\r\na\r\n:1\r\n_\r\n"),
        ((b"t",), b"*1\r\n$1\r\nt\r\n", b"*1\r\n$1\r\nt\r\n"),
        ([[b"x", [1, [NULL_ARRAY]]], []],
         b"*2\r\n*2\r\n$1\r\nx\r\n*2\r\n:1\r\n*1\r\n*-1\r\n*0\r\n",
         b"*2\r\n*2\r\n$1\r\nx\r\n*2\r\n:1\r\n*1\r\n_\r\n*0\r\n"),
        ({b"k": b"v", b"n": 1}, b"*4\r\n$1\r\nk\r\n$1\r\nv\r\n$1\r\nn\r\n:1\r\n",
         b"%2\r\n$1\r\nk\r\n$1\r\nv\r\n$1\r\nn\r\n:1\r\n"),
        ({b"m": {b"x": [True]}}, b"*2\r\n$1\r\nm\r\n*2\r\n$1\r\nx\r\n*1\r\n:1\r\n",
         b"%1\r\n$1\r\nm\r\n%1\r\n$1\r\nx\r\n*1\r\n#t\r\n"),
        ({}, b"*0\r\n", b"%0\r\n"),
        ({b"only"}, b"*1\r\n$4\r\nonly\r\n", b"~1\r\n$4\r\nonly\r\n"),
        (frozenset(), b"*0\r\n", b"~0\r\n"),
        (Push([b"message", b"ch", b"hi"]), b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
         b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"),
        (Verbatim(b"# Server\r\nx:1\r\n"), b"$15\r\n# Server\r\nx:1\r\n\r\n",
         b"=19\r\ntxt:# Server\r\nx:1\r\n\r\n"),
        (CommandError("ERR boom"), b"-ERR boom\r\n", b"-ERR boom\r\n"),
        (CommandError("ERR line\r\nbreak\nhere"), b"-ERR line  break here\r\n", b"-ERR line  break here\r\n"),
        ([CommandError("ERR in array"), b"x"], b"*2\r\n-ERR in array\r\n$1\r\nx\r\n",
         b"*2\r\n-ERR in array\r\n$1\r\nx\r\n"),
    ],
)
def test_encoding(value, resp2, resp3):
    assert encode(value, 2) == resp2
    assert encode(value, 3) == resp3


def test_encodings_parse_back_with_hiredis():
    value = [b"a", 1, None, [b"b", [2.5, True]], {b"k": {b"z"}}, Push([b"p"]), Verbatim(b"v"),
             CommandError("ERR e"), SimpleString(b"s")]
    reader = hiredis.Reader()
    reader.feed(encode(value, 2))
    got = reader.gets()
    assert got[:3] == [b"a", 1, None] and got[3] == [b"b", [b"2.5", 1]]
    assert got[4] == [b"k", [b"z"]] and got[5] == [b"p"] and got[6] == b"v" and got[8] == b"s"
    assert isinstance(got[7], hiredis.ReplyError) and str(got[7]) == "ERR e"
    reader = hiredis.Reader()
    reader.feed(encode(value, 3))
    got = reader.gets()
    assert got[3] == [b"b", [2.5, True]] and got[4] == {b"k": [b"z"]}
    assert reader.gets() is False


def test_subclasses_use_their_parents_encoding():
    class MyBytes(bytes):
        pass

    class MyList(list):
        pass

    assert encode(MyList([MyBytes(b"x")]), 2) == b"*1\r\n$1\r\nx\r\n"


def test_unknown_types_are_refused():
    with pytest.raises(TypeError):
        encode(object(), 2)


@pytest.mark.parametrize(
    "value, text",
    [
        (0.0, b"0"),
        (-0.0, b"-0"),
        (1.0, b"1"),
        (-2.5, b"-2.5"),
        (0.1, b"0.1"),
        (1 / 3, b"0.3333333333333333"),
        (1e17, b"100000000000000000"),  # whole numbers print as integers
        (1e-5, b"0.00001"),
        (1.5e-7, b"1.5e-7"),  # fpconv: no exponent padding
        (1e300, b"1e+300"),
        (INF, b"inf"),
        (-INF, b"-inf"),
        (float("nan"), b"nan"),
    ],
)
def test_format_double(value, text):
    assert format_double(value) == text
    if value == value:
        assert float(text) == value
