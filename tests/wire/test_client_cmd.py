"""Wire tests for CLIENT: ID SETNAME GETNAME SETINFO LIST INFO KILL PAUSE
UNPAUSE REPLY NO-EVICT NO-TOUCH HELP, with several clients and raw sockets.

Texts and the CLIENT LIST line are Redis 7.4's. Every test that pauses the
shared node unpauses it before it ends.
"""

from __future__ import annotations

import re
import time

import pytest
import redis

from support import RawConn, error_text

# The Redis 7.4 CLIENT LIST line, field by field, in order.
LINE = re.compile(
    r"id=(?P<id>\d+) addr=(?P<addr>\S+:\d+) laddr=(?P<laddr>\S+:\d+) fd=-?\d+ name=(?P<name>\S*) "
    r"age=\d+ idle=\d+ flags=(?P<flags>[A-Za-z]+) db=(?P<db>\d+) sub=\d+ psub=\d+ ssub=\d+ "
    r"multi=(?P<multi>-?\d+) watch=(?P<watch>\d+) qbuf=\d+ qbuf-free=\d+ argv-mem=\d+ multi-mem=\d+ "
    r"rbs=\d+ rbp=\d+ obl=\d+ oll=\d+ omem=\d+ tot-mem=\d+ events=r?w? cmd=(?P<cmd>\S+) "
    r"user=default redir=-1 resp=(?P<resp>[23]) lib-name=(?P<lib_name>\S*) lib-ver=(?P<lib_ver>\S*)"
)


@pytest.fixture
def unpause(node):
    yield
    client = node.client()
    client.execute_command("CLIENT", "UNPAUSE")
    client.close()


def raw_id(client: RawConn) -> int:
    client.send("CLIENT", "ID")
    reply = client.read_until(b"\r\n")
    line, client.buf = reply.split(b"\r\n", 1)
    return int(line[1:])


def client_lines(r) -> list[dict]:
    text = r.execute_command("CLIENT", "LIST")
    text = text.decode() if isinstance(text, bytes) else text
    if isinstance(text, list):  # redis-py parsed it already
        return text
    return [LINE.fullmatch(line).groupdict() for line in text.splitlines()]


# -- identity ----------------------------------------------------------------


def test_client_id_is_unique_and_increasing(node, r):
    first = r.client_id()
    other = node.client()
    second = other.client_id()
    assert isinstance(first, int) and second > first
    assert r.client_id() == first
    assert r.client_info()["id"] == first
    other.close()


def text(value):
    return value.decode() if isinstance(value, bytes) else value


def test_setname_getname(r):
    assert r.client_getname() is None
    assert r.client_setname("worker-1") is True
    assert text(r.client_getname()) == "worker-1"
    assert r.client_info()["name"] == "worker-1"
    assert error_text(r.client_setname, "has space") == \
        "Client names cannot contain spaces, newlines or special characters."
    assert error_text(r.client_setname, "new\nline") == \
        "Client names cannot contain spaces, newlines or special characters."
    assert text(r.client_getname()) == "worker-1"
    assert r.client_setname("") is True  # an empty name clears it
    assert r.client_getname() is None
    assert error_text(r.execute_command, "CLIENT", "SETNAME") == \
        "wrong number of arguments for 'client|setname' command"


def test_setinfo_from_redis_py_handshake_and_by_hand(r):
    info = r.client_info()
    assert info["lib-name"] == "redis-py" and info["lib-ver"] == redis.__version__
    assert r.execute_command("CLIENT", "SETINFO", "LIB-NAME", "mylib") in (True, b"OK", "OK")
    assert r.execute_command("CLIENT", "SETINFO", "lib-ver", "1.2.3") in (True, b"OK", "OK")
    info = r.client_info()
    assert info["lib-name"] == "mylib" and info["lib-ver"] == "1.2.3"
    assert error_text(r.execute_command, "CLIENT", "SETINFO", "LIB-FOO", "x") == "Unrecognized option 'LIB-FOO'"
    assert error_text(r.execute_command, "CLIENT", "SETINFO", "LIB-NAME", "a b") == \
        "LIB-NAME cannot contain spaces, newlines or special characters."
    assert error_text(r.execute_command, "CLIENT", "SETINFO", "lib-ver", "1\n2") == \
        "lib-ver cannot contain spaces, newlines or special characters."
    assert error_text(r.execute_command, "CLIENT", "SETINFO", "lib-ver") == \
        "wrong number of arguments for 'client|setinfo' command"


# -- LIST and INFO ---------------------------------------------------------------


def test_client_info_line_format(conn):
    client = conn(2)
    client.send("CLIENT", "INFO")
    text = client.read_text().decode()
    assert text.endswith("\n") and text.count("\n") == 1
    fields = LINE.fullmatch(text[:-1])
    assert fields, text
    assert fields["cmd"] == "client|info" and fields["flags"] == "N"
    assert fields["multi"] == "-1" and fields["resp"] == "2"


def test_client_list_and_info_are_verbatim_in_resp3(conn):
    client = conn(3)
    client.send("CLIENT", "INFO")
    head = client.read_until(b"\r\n")
    assert head.startswith(b"=") and b"\r\ntxt:id=" in client.read_until(b"txt:id=")


def test_client_list_shows_every_client(node, r2, conn):
    others = [conn(2), conn(3), conn(2)]
    ids = [raw_id(c) for c in others]
    lines = client_lines(r2)
    by_id = {int(line["id"]): line for line in lines}
    assert set(ids) <= set(by_id)
    assert [int(line["id"]) for line in lines] == sorted(by_id)  # in connection order
    assert by_id[ids[1]]["resp"] == "3" and by_id[ids[0]]["resp"] == "2"
    assert by_id[ids[0]]["cmd"] == "client"  # the last command of another client
    me = by_id[r2.client_id()]
    assert me["cmd"] == "client|list"
    assert me["laddr"].endswith(f":{node.port}")


def test_client_list_reflects_session_state(node, r2, conn):
    busy = conn(2)
    busy_id = raw_id(busy)
    busy.send("SELECT", "3")
    busy.expect(b"+OK\r\n")
    busy.send("CLIENT", "SETNAME", "busy")
    busy.expect(b"+OK\r\n")
    busy.send("WATCH", "a", "b")
    busy.expect(b"+OK\r\n")
    busy.send("MULTI")
    busy.expect(b"+OK\r\n")
    busy.send("SET", "a", "1")
    busy.send("GET", "b")
    busy.expect(b"+QUEUED\r\n+QUEUED\r\n")
    r2.set("a", "changed")  # in db 0: does not touch the watch in db 3
    [line] = [line for line in client_lines(r2) if int(line["id"]) == busy_id]
    assert line["db"] == "3" and line["name"] == "busy"
    assert line["multi"] == "2" and line["watch"] == "2"
    assert line["flags"] == "x"
    busy.send("DISCARD")
    busy.expect(b"+OK\r\n")
    [line] = [line for line in client_lines(r2) if int(line["id"]) == busy_id]
    assert line["multi"] == "-1" and line["watch"] == "0" and line["flags"] == "N"


def test_client_list_filters(r2, conn):
    a, b = conn(2), conn(2)
    a_id, b_id = raw_id(a), raw_id(b)
    text = r2.execute_command("CLIENT", "LIST", "ID", a_id, b_id, 999999)
    ids = [int(LINE.fullmatch(line)["id"]) for line in text.decode().splitlines()]
    assert ids == [a_id, b_id]
    normal = r2.execute_command("CLIENT", "LIST", "TYPE", "NORMAL").decode().splitlines()
    assert len(normal) >= 3
    for kind in ("pubsub", "replica", "slave", "master"):
        assert r2.execute_command("CLIENT", "LIST", "TYPE", kind) == b""
    assert error_text(r2.execute_command, "CLIENT", "LIST", "TYPE", "foo") == "Unknown client type 'foo'"
    assert error_text(r2.execute_command, "CLIENT", "LIST", "ID", "abc") == "Invalid client ID"
    assert error_text(r2.execute_command, "CLIENT", "LIST", "foo") == "syntax error"
    assert error_text(r2.execute_command, "CLIENT", "LIST", "TYPE") == "syntax error"


def test_client_list_parsed_by_redis_py(r):
    clients = r.client_list()
    me = [c for c in clients if int(c["id"]) == r.client_id()]
    assert len(me) == 1 and me[0]["cmd"] == "client|list"
    assert me[0]["lib-name"] == "redis-py"


# -- KILL ----------------------------------------------------------------------


def test_kill_old_form_by_address(r2, conn):
    victim = conn(2)
    victim_id = raw_id(victim)
    [line] = [line for line in client_lines(r2) if int(line["id"]) == victim_id]
    assert r2.execute_command("CLIENT", "KILL", line["addr"]) in (True, b"OK")
    assert victim.closed()
    assert victim_id not in [int(line["id"]) for line in client_lines(r2)]
    assert error_text(r2.execute_command, "CLIENT", "KILL", "1.2.3.4:5") == "No such client"
    assert error_text(r2.execute_command, "CLIENT", "KILL", "ID") == "No such client"


def test_kill_yourself_old_form_replies_then_closes(conn):
    me = conn(2)
    me.send("CLIENT", "INFO")
    addr = LINE.fullmatch(me.read_text().decode()[:-1])["addr"]
    me.send("CLIENT", "KILL", addr)
    me.send("PING")  # never runs: the connection closes after the reply
    me.expect(b"+OK\r\n")
    assert me.closed()
    assert me.buf == b""


def test_kill_filters(r2, conn):
    a, b, c = conn(2), conn(2), conn(2)
    a_id, b_id, c_id = raw_id(a), raw_id(b), raw_id(c)
    lines = {int(line["id"]): line for line in client_lines(r2)}
    assert r2.execute_command("CLIENT", "KILL", "ID", 999999) == 0
    assert r2.execute_command("CLIENT", "KILL", "ID", a_id) == 1
    assert a.closed()
    assert r2.execute_command("CLIENT", "KILL", "ADDR", lines[b_id]["addr"], "TYPE", "normal") == 1
    assert b.closed()
    # Filters are ANDed: the right id with another address matches nothing.
    assert r2.execute_command("CLIENT", "KILL", "ID", c_id, "ADDR", "1.2.3.4:5") == 0
    assert r2.execute_command("CLIENT", "KILL", "ID", c_id, "MAXAGE", 1000) == 0  # c is young
    assert r2.execute_command("CLIENT", "KILL", "ID", c_id, "USER", "default",
                              "LADDR", lines[c_id]["laddr"], "SKIPME", "yes") == 1
    assert c.closed()


def test_kill_skipme(r2, conn):
    me = conn(2)
    my_id = raw_id(me)
    me.send("CLIENT", "KILL", "ID", my_id)  # SKIPME defaults to yes
    me.expect(b":0\r\n")
    me.send("CLIENT", "KILL", "ID", my_id, "SKIPME", "no")
    me.expect(b":1\r\n")
    assert me.closed()


def test_kill_errors(r2):
    cases = {
        ("ID", "abc"): "client-id should be greater than 0",
        ("ID", "0"): "client-id should be greater than 0",
        ("MAXAGE", "x"): "maxage is not an integer or out of range",
        ("MAXAGE", "0"): "maxage should be greater than 0",
        ("TYPE", "foo"): "Unknown client type 'foo'",
        ("USER", "nobody"): "No such user 'nobody'",
        ("SKIPME", "maybe"): "syntax error",
        ("FOO", "bar"): "syntax error",
        ("ID", "1", "SKIPME"): "syntax error",
    }
    for args, text in cases.items():
        assert error_text(r2.execute_command, "CLIENT", "KILL", *args) == text, args
    assert error_text(r2.execute_command, "CLIENT", "KILL") == \
        "wrong number of arguments for 'client|kill' command"


# -- PAUSE ---------------------------------------------------------------------


def test_pause_write_holds_writes_until_unpause(r2, conn, unpause):
    writer, reader = conn(2), conn(2)
    assert r2.execute_command("CLIENT", "PAUSE", 100000, "WRITE") in (True, b"OK")
    reader.send("GET", "k")  # reads go on
    reader.expect(b"$-1\r\n")
    writer.send("PING")
    writer.send("SET", "k", "v")
    writer.expect(b"+PONG\r\n")
    assert writer.quiet(0.1)  # the SET waits
    assert r2.get("k") is None
    assert r2.execute_command("CLIENT", "UNPAUSE") in (True, b"OK")
    writer.expect(b"+OK\r\n")
    assert r2.get("k") == b"v"


def test_pause_all_ends_by_itself(conn, r2, unpause):
    client = conn(2)
    started = time.monotonic()
    assert r2.execute_command("CLIENT", "PAUSE", 200) in (True, b"OK")
    client.send("PING")
    client.expect(b"+PONG\r\n")  # answered once the pause has run out
    assert time.monotonic() - started >= 0.15


def test_pause_errors(r2):
    assert error_text(r2.execute_command, "CLIENT", "PAUSE", "abc") == \
        "timeout is not an integer or out of range"
    assert error_text(r2.execute_command, "CLIENT", "PAUSE", "-1") == "timeout is negative"
    assert error_text(r2.execute_command, "CLIENT", "PAUSE", "10", "READ") == \
        "CLIENT PAUSE mode must be WRITE or ALL"
    assert error_text(r2.execute_command, "CLIENT", "PAUSE", "10", "WRITE", "x") == \
        "unknown subcommand or wrong number of arguments for 'PAUSE'. Try CLIENT HELP."
    assert error_text(r2.execute_command, "CLIENT", "UNPAUSE", "x") == \
        "wrong number of arguments for 'client|unpause' command"


# -- REPLY ---------------------------------------------------------------------


def test_reply_off_on(conn):
    client = conn(2)
    client.send("CLIENT", "REPLY", "OFF")
    client.send("SET", "x", "1")
    client.send("GET", "x")
    client.send("GET")  # even errors are dropped
    client.send("CLIENT", "REPLY", "ON")
    client.send("GET", "x")
    client.expect(b"+OK\r\n$1\r\n1\r\n")
    assert client.quiet(0.05)


def test_reply_skip_drops_exactly_one(conn):
    client = conn(2)
    client.send("CLIENT", "REPLY", "SKIP")
    client.send("PING", "a")
    client.send("PING", "b")
    client.send("PING", "c")
    client.expect(b"$1\r\nb\r\n$1\r\nc\r\n")
    assert client.quiet(0.05)


def test_reply_skip_while_off_changes_nothing(conn):
    client = conn(3)
    client.send("CLIENT", "REPLY", "OFF")
    client.send("CLIENT", "REPLY", "SKIP")
    client.send("PING", "dropped")
    client.send("CLIENT", "REPLY", "ON")
    client.send("PING", "kept")
    client.expect(b"+OK\r\n$4\r\nkept\r\n")


@pytest.mark.parametrize("protocol", [2, 3])
def test_reply_off_still_delivers_subscribe_confirmations_and_messages(conn, r2, protocol):
    # Redis 7.2+: pushes (and SUBSCRIBE's confirmations, arrays in RESP2)
    # ignore CLIENT REPLY; only the command replies are dropped.
    client = conn(protocol)
    kind = b">" if protocol == 3 else b"*"
    client.send("CLIENT", "REPLY", "OFF")
    client.send("SUBSCRIBE", "ch")
    client.expect(kind + b"3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
    r2.publish("ch", "hello")
    client.expect(kind + b"3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n")
    client.send("UNSUBSCRIBE", "ch")
    client.expect(kind + b"3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:0\r\n")
    client.send("PING")
    assert client.quiet(0.05)


def test_reply_bad_mode(r2):
    assert error_text(r2.execute_command, "CLIENT", "REPLY", "MAYBE") == "syntax error"


# -- NO-EVICT, NO-TOUCH, HELP, errors -------------------------------------------


def test_no_evict_and_no_touch_flags(r):
    assert r.execute_command("CLIENT", "NO-EVICT", "on") in (True, b"OK", "OK")
    assert r.client_info()["flags"] == "e"
    assert r.execute_command("CLIENT", "NO-TOUCH", "ON") in (True, b"OK", "OK")
    assert r.client_info()["flags"] == "eT"
    r.execute_command("CLIENT", "NO-EVICT", "off")
    r.execute_command("CLIENT", "NO-TOUCH", "off")
    assert r.client_info()["flags"] == "N"
    assert error_text(r.execute_command, "CLIENT", "NO-EVICT", "maybe") == "syntax error"
    assert error_text(r.execute_command, "CLIENT", "NO-TOUCH", "maybe") == "syntax error"


def test_reset_clears_client_settings(conn):
    client = conn(2)
    client.send("CLIENT", "NO-TOUCH", "ON")
    client.send("CLIENT", "SETNAME", "temp")
    client.send("RESET")
    client.send("CLIENT", "INFO")
    client.expect(b"+OK\r\n+OK\r\n+RESET\r\n")
    fields = LINE.fullmatch(client.read_text().decode()[:-1])
    assert fields["flags"] == "N" and fields["name"] == ""


def test_client_help_and_errors(r2):
    lines = r2.execute_command("CLIENT", "HELP")
    assert lines[0] == b"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    for entry in (b"KILL <ip:port>", b"PAUSE <timeout> [WRITE|ALL]", b"REPLY (ON|OFF|SKIP)",
                  b"NO-TOUCH (ON|OFF)", b"SETINFO <option> <value>"):
        assert entry in lines
    assert lines[-2:] == [b"HELP", b"    Prints this help."]
    assert error_text(r2.execute_command, "CLIENT") == "wrong number of arguments for 'client' command"
    assert error_text(r2.execute_command, "CLIENT", "FOO") == "unknown subcommand 'FOO'. Try CLIENT HELP."
    assert error_text(r2.execute_command, "CLIENT", "ID", "x") == \
        "wrong number of arguments for 'client|id' command"
