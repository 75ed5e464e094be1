"""Blocking list commands with several clients (server/blocking.py).

Each blocked client is a raw connection (`Resp`), so the exact reply bytes
and the moment they arrive are seen; `ctl` is a plain client that pushes
and inspects. `wait_blocked(n)` polls INFO until n clients are parked, so a
test never races the node. Timeouts are real time, as in Redis, so the
timeout tests measure wall-clock time with generous upper bounds.
"""

from __future__ import annotations

import time

import pytest

from support import Resp, connections, raw


@pytest.fixture
def resp(node):
    yield from connections(Resp, node)


@pytest.fixture
def ctl(node):
    client = node.client()
    yield client
    client.close()


def info_clients(ctl) -> dict:
    return ctl.info("clients")


def wait_blocked(ctl, n: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if info_clients(ctl)["blocked_clients"] == n:
            return
        time.sleep(0.005)
    raise AssertionError(f"expected {n} blocked clients, INFO says {info_clients(ctl)}")


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def pair(key: bytes, value: bytes) -> bytes:
    return b"*2\r\n" + bulk(key) + bulk(value)


def block(resp, ctl, *args, protocol: int = 2, blocked: int = 1) -> Resp:
    """A new connection that sent args and is now parked (`blocked` in all)."""
    c = resp(protocol)
    c.send(*args)
    wait_blocked(ctl, blocked)
    return c


def test_fifo_among_three_clients(resp, ctl):
    clients = [block(resp, ctl, "BLPOP", "k", 0, blocked=i + 1) for i in range(3)]
    for i, value in enumerate((b"a", b"b", b"c")):
        ctl.rpush("k", value)
        clients[i].expect(pair(b"k", value))
        for other in clients[i + 1:]:
            assert other.quiet(0.05)
    wait_blocked(ctl, 0)
    assert ctl.exists("k") == 0


def test_one_push_of_three_serves_three(resp, ctl):
    clients = [block(resp, ctl, "BLPOP", "k", 0, blocked=i + 1) for i in range(3)]
    fourth = block(resp, ctl, "BRPOP", "k", 0, blocked=4)
    assert ctl.lpush("k", "a", "b", "c") == 3  # the pusher sees its own length
    for c, value in zip(clients, (b"c", b"b", b"a")):
        c.expect(pair(b"k", value))
    assert fourth.quiet(0.1)  # nothing left for it
    assert info_clients(ctl)["blocked_clients"] == 1
    ctl.rpush("k", "z")
    fourth.expect(pair(b"k", b"z"))


def test_served_after_exec_sees_the_whole_transaction(resp, ctl):
    c = block(resp, ctl, "BLPOP", "k", 0)
    pusher = resp(2)
    pusher.call("MULTI")
    for value in ("a", "b", "c"):
        assert pusher.call("LPUSH", "k", value) == b"QUEUED"
    assert c.quiet(0.05)
    assert pusher.call("EXEC") == [1, 2, 3]
    # Served after EXEC, on the list as EXEC left it (c b a), not after the first push.
    c.expect(pair(b"k", b"c"))
    assert ctl.lrange("k", 0, -1) == [b"b", b"a"]


def test_push_and_pop_inside_multi_serves_nobody(resp, ctl):
    c = block(resp, ctl, "BLPOP", "k", 0)
    with ctl.pipeline(transaction=True) as pipe:
        pipe.lpush("k", "a")
        pipe.lpop("k")
        assert pipe.execute() == [1, b"a"]
    assert c.quiet(0.1)
    assert info_clients(ctl)["blocked_clients"] == 1
    ctl.rpush("k", "b")
    c.expect(pair(b"k", b"b"))


def test_blmove_chain(resp, ctl):
    first = block(resp, ctl, "BLMOVE", "a", "b", "LEFT", "RIGHT", 0, blocked=1)
    second = block(resp, ctl, "BRPOPLPUSH", "b", "c", 0, blocked=2)
    third = block(resp, ctl, "BLPOP", "c", 0, blocked=3)
    ctl.rpush("a", "x")
    first.expect(bulk(b"x"))
    second.expect(bulk(b"x"))
    third.expect(pair(b"c", b"x"))
    wait_blocked(ctl, 0)
    assert ctl.exists("a", "b", "c") == 0


def test_blmove_to_a_wrong_type_is_answered_wrongtype(resp, ctl):
    ctl.set("s", "str")
    c = block(resp, ctl, "BLMOVE", "a", "s", "LEFT", "LEFT", 0)
    ctl.rpush("a", "x")
    c.expect(b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
    assert ctl.lrange("a", 0, -1) == [b"x"]


@pytest.mark.parametrize("protocol, null", [(2, b"*-1\r\n"), (3, b"_\r\n")])
@pytest.mark.parametrize("args", [
    ("BLPOP", "k", "0.1"), ("BRPOP", "k", "j", "0.1"), ("BLMOVE", "k", "j", "LEFT", "LEFT", "0.1"),
    ("BRPOPLPUSH", "k", "j", "0.1"), ("BLMPOP", "0.1", 1, "k", "LEFT"),
])
def test_timeout_precision(resp, protocol, null, args):
    c = resp(protocol)
    start = time.monotonic()
    c.send(*args)
    c.expect(null)  # a null array for every command, BLMOVE too (Redis 7.4)
    elapsed = time.monotonic() - start
    assert 0.1 <= elapsed < 0.5, elapsed


def test_short_and_fractional_timeouts(resp, ctl):
    c = resp(2)
    start = time.monotonic()
    c.send("BLPOP", "k", "0.01")
    c.expect(b"*-1\r\n")
    assert time.monotonic() - start < 0.3
    # The client works normally afterwards, and is no longer counted.
    assert c.call("PING") == b"PONG"
    assert info_clients(ctl)["blocked_clients"] == 0


def test_hex_timeout_as_strtold_reads_it(resp, ctl):
    c = resp(2)
    start = time.monotonic()
    c.send("BLPOP", "k", "0x1p-5")  # 1/32 s
    c.expect(b"*-1\r\n")
    assert time.monotonic() - start < 0.5
    c.send("BLPOP", "k", "0xg")
    c.expect(b"-ERR timeout is not a float or out of range\r\n")


def test_timeout_zero_waits(resp, ctl):
    c = block(resp, ctl, "BLPOP", "k", 0)
    assert c.quiet(0.3)
    ctl.rpush("k", "v")
    c.expect(pair(b"k", b"v"))


@pytest.mark.parametrize("protocol", [2, 3])
def test_served_replies_per_protocol(resp, ctl, protocol):
    c = block(resp, ctl, "BLMPOP", 0, 2, "a", "k", "RIGHT", "COUNT", 5, protocol=protocol)
    ctl.rpush("k", "x", "y")
    c.expect(b"*2\r\n" + bulk(b"k") + b"*2\r\n" + bulk(b"y") + bulk(b"x"))
    c2 = block(resp, ctl, "BRPOP", "a", "k", 0, protocol=protocol)
    ctl.rpush("k", "z")
    c2.expect(pair(b"k", b"z"))


def test_waiting_on_several_keys(resp, ctl):
    c = block(resp, ctl, "BLPOP", "a", "b", "c", 0)
    assert info_clients(ctl)["total_blocking_keys"] == 3
    ctl.rpush("c", "z")
    c.expect(pair(b"c", b"z"))
    assert info_clients(ctl)["total_blocking_keys"] == 0


def test_client_unblock(resp, ctl):
    c = block(resp, ctl, "BLPOP", "k", 0)
    ids = [entry["id"] for entry in ctl.client_list() if "b" in entry["flags"]]
    assert len(ids) == 1
    assert raw(ctl, "CLIENT", "UNBLOCK", ids[0]) == 1
    c.expect(b"*-1\r\n")
    assert raw(ctl, "CLIENT", "UNBLOCK", ids[0]) == 0  # not blocked any more
    c.send("BLMOVE", "k", "j", "LEFT", "LEFT", 0)
    wait_blocked(ctl, 1)
    assert raw(ctl, "CLIENT", "UNBLOCK", ids[0], "error") == 1
    c.expect(b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n")
    assert c.call("PING") == b"PONG"
    with pytest.raises(Exception, match="reason should be TIMEOUT or ERROR"):
        raw(ctl, "CLIENT", "UNBLOCK", ids[0], "foo")
    with pytest.raises(Exception, match="not an integer"):
        raw(ctl, "CLIENT", "UNBLOCK", "x")
    assert raw(ctl, "CLIENT", "UNBLOCK", 999999) == 0


def test_disconnected_blocked_client_leaves_the_queue(resp, ctl):
    gone = block(resp, ctl, "BLPOP", "k", 0, blocked=1)
    stays = block(resp, ctl, "BLPOP", "k", 0, blocked=2)
    gone.close()
    wait_blocked(ctl, 1)
    ctl.rpush("k", "v")
    stays.expect(pair(b"k", b"v"))  # the element is not lost to the dead client
    assert ctl.exists("k") == 0


def test_killed_blocked_client_leaves_the_queue(resp, ctl):
    c = block(resp, ctl, "BLPOP", "k", 0)
    [entry] = [e for e in ctl.client_list() if "b" in e["flags"]]
    assert entry["cmd"] == "blpop"
    assert ctl.client_kill_filter(_id=entry["id"]) == 1
    assert c.closed()
    wait_blocked(ctl, 0)
    ctl.rpush("k", "v")
    assert ctl.llen("k") == 1


def test_pipelined_commands_wait_for_the_blocking_one(resp, ctl):
    c = resp(2)
    c.send_raw(c.encode("BLPOP", "k", 0) + c.encode("SET", "after", "1") + c.encode("PING")
               + c.encode("LLEN", "k"))
    wait_blocked(ctl, 1)
    assert c.quiet(0.1)
    assert ctl.get("after") is None  # not run while blocked
    ctl.rpush("k", "a", "b")
    c.expect(pair(b"k", b"a") + b"+OK\r\n+PONG\r\n:1\r\n")
    assert ctl.get("after") == b"1"


def test_more_input_while_blocked_runs_after(resp, ctl):
    c = block(resp, ctl, "BLPOP", "k", 0)
    c.send("PING", "one")
    c.send("BRPOP", "k", 0)  # blocks again once served
    assert c.quiet(0.1)
    ctl.rpush("k", "a")
    c.expect(pair(b"k", b"a") + bulk(b"one"))
    wait_blocked(ctl, 1)
    ctl.rpush("k", "b")
    c.expect(pair(b"k", b"b"))


def test_info_and_client_list(resp, ctl):
    assert info_clients(ctl)["blocked_clients"] == 0
    block(resp, ctl, "BLPOP", "k", "j", 0, blocked=1)
    block(resp, ctl, "BRPOP", "k", 0, blocked=2)
    block(resp, ctl, "BRPOP", "k", 100, blocked=3)
    clients = info_clients(ctl)
    assert clients["blocked_clients"] == 3
    assert clients["total_blocking_keys"] == 2
    assert clients["clients_in_timeout_table"] == 1  # only the one with a timeout
    flags = sorted(e["flags"] for e in ctl.client_list())
    assert flags.count("b") == 3


def test_key_of_another_type_keeps_clients_waiting(resp, ctl):
    # Redis 7.2+: readiness means "holds a list"; a string is not served.
    c = block(resp, ctl, "BLPOP", "k", 0)
    ctl.set("k", "str")
    assert c.quiet(0.1)
    ctl.delete("k")
    ctl.rpush("k", "v")
    c.expect(pair(b"k", b"v"))


def test_flushall_keeps_clients_waiting(resp, ctl):
    c = block(resp, ctl, "BLPOP", "k", 0)
    ctl.flushall()
    assert info_clients(ctl)["blocked_clients"] == 1
    ctl.rpush("k", "v")
    c.expect(pair(b"k", b"v"))


def test_swapdb_serves_clients_whose_key_appears(resp, ctl, node):
    c = block(resp, ctl, "BLPOP", "k", 0)
    other = node.client(db=1)
    other.rpush("k", "from-db1")
    other.close()
    assert c.quiet(0.05)
    assert raw(ctl, "SWAPDB", 0, 1) == b"OK"
    c.expect(pair(b"k", b"from-db1"))
    raw(ctl, "SWAPDB", 0, 1)


def test_rename_and_move_into_a_waited_key(resp, ctl, node):
    c = block(resp, ctl, "BLPOP", "k", 0)
    ctl.rpush("src", "r")
    ctl.rename("src", "k")
    c.expect(pair(b"k", b"r"))
    c = block(resp, ctl, "BLPOP", "k", 0)
    other = node.client(db=1)
    other.rpush("k", "m")
    assert other.move("k", 0)
    other.close()
    c.expect(pair(b"k", b"m"))


def test_blmpop_served_by_a_rename_in_multi_gets_the_renamed_lists_head(resp, ctl):
    c = block(resp, ctl, "BLMPOP", 0, 1, "foo", "LEFT")
    pipe = ctl.pipeline(transaction=True)
    pipe.lpush("bob", "abc", "def", "hij").rename("bob", "foo")
    pipe.execute()
    c.expect(b"*2\r\n$3\r\nfoo\r\n*1\r\n$3\r\nhij\r\n")
    assert ctl.lrange("foo", 0, -1) == [b"def", b"abc"]


@pytest.mark.parametrize("command,reply", [
    (("BLPOP", "foo", 0), pair(b"foo", b"hij")),
    (("BLMPOP", 0, 1, "foo", "LEFT"), b"*2\r\n$3\r\nfoo\r\n*1\r\n$3\r\nhij\r\n"),
])
def test_lpush_then_rename_serves_the_renamed_lists_head(resp, ctl, command, reply):
    """Issue 17's report, without MULTI: the two commands one after the other
    (redis-server 7.0 answers hij to both)."""
    c = block(resp, ctl, *command)
    ctl.lpush("bob", "abc", "def", "hij")
    ctl.rename("bob", "foo")
    c.expect(reply)
    assert ctl.lrange("foo", 0, -1) == [b"def", b"abc"]


@pytest.mark.parametrize("timeout", ["0.001", "0.0001", "1e-7"])
def test_tiny_timeouts_time_out(ctl, node, timeout):
    client = node.client(socket_timeout=2)
    assert client.execute_command("BLPOP", "nokey", timeout) is None
    client.close()


def test_blocked_calls_are_counted_once(resp, ctl):
    ctl.config_resetstat()
    c = block(resp, ctl, "BLPOP", "k", 0)
    ctl.rpush("k", "v")
    c.expect(pair(b"k", b"v"))
    c.send("BLPOP", "k", "0.01")
    c.expect(b"*-1\r\n")
    assert ctl.info("commandstats")["cmdstat_blpop"]["calls"] == 2


def test_keyspace_events_of_a_served_pop(resp, ctl, node):
    ctl.config_set("notify-keyspace-events", "Elg")
    try:
        sub = resp(2)
        sub.call("PSUBSCRIBE", "__keyevent@0__:*")
        c = block(resp, ctl, "BLPOP", "k", 0)
        ctl.rpush("k", "v")
        c.expect(pair(b"k", b"v"))
        events = [sub.read()[2] for _ in range(3)]
        assert events == [b"__keyevent@0__:rpush", b"__keyevent@0__:lpop", b"__keyevent@0__:del"]
    finally:
        ctl.config_set("notify-keyspace-events", "")


def test_served_pops_are_propagated_as_non_blocking_forms(tmp_path, resp):
    from nodes import start_node

    def aof() -> bytes:
        return b"".join(p.read_bytes() for p in sorted((tmp_path / "appendonlydir").glob("*.aof")))

    def command(*args) -> bytes:
        return b"".join([b"*%d\r\n" % len(args)] + [b"$%d\r\n%b\r\n" % (len(a), a) for a in args])

    with start_node(tmp_path, "--appendonly", "yes", "--appendfsync", "always",
                    "--dir", str(tmp_path)) as node:
        ctl = node.client()
        waiters = []
        for i, args in enumerate((("BLPOP", "a", 0), ("BRPOP", "b", 0), ("BLMOVE", "c", "d", "RIGHT", "LEFT", 0),
                                  ("BRPOPLPUSH", "e", "f", 0), ("BLMPOP", 0, 1, "g", "LEFT", "COUNT", 5))):
            c = Resp(node)
            c.send(*args)
            waiters.append(c)
            wait_blocked(ctl, i + 1)
        for key in "abceg":
            ctl.rpush(key, "x", "y")
        for c in waiters:
            c.read()
            c.close()
        ctl.rpush("a", "z")  # a write after them: they were logged before it
        text = aof()
        for expected in ((b"LPOP", b"a"), (b"RPOP", b"b"), (b"LMOVE", b"c", b"d", b"RIGHT", b"LEFT"),
                         (b"RPOPLPUSH", b"e", b"f"), (b"LPOP", b"g", b"2")):
            assert command(*expected) in text, expected
        assert b"BL" not in text and b"BR" not in text and b"LMPOP" not in text
        before = {key: ctl.lrange(key, 0, -1) for key in "abcdefg"}
        ctl.close()
    with start_node(tmp_path, "--appendonly", "yes", "--dir", str(tmp_path)) as node:
        ctl = node.client()
        assert {key: ctl.lrange(key, 0, -1) for key in "abcdefg"} == before
        ctl.close()


def test_monitor_shows_a_blocked_command_once(resp, ctl):
    monitor = resp(2)
    assert monitor.call("MONITOR") == b"OK"
    c = block(resp, ctl, "BLPOP", "k", 0)
    ctl.rpush("k", "v")
    c.expect(pair(b"k", b"v"))
    ctl.ping()  # a marker after them
    lines = monitor.read_until(b'"PING"').split(b"\r\n")
    assert sum(b'"BLPOP"' in line for line in lines) == 1, lines


def test_idle_timeout_spares_blocked_clients(tmp_path):
    from nodes import start_node

    with start_node(tmp_path, "--timeout", "1") as node:
        ctl = node.client()
        c = Resp(node)
        c.send("BLPOP", "k", 0)
        wait_blocked(ctl, 1)
        time.sleep(2.2)  # the idle timeout is in whole seconds: real time must pass
        assert info_clients(ctl)["blocked_clients"] == 1
        ctl.rpush("k", "v")
        c.expect(pair(b"k", b"v"))
        c.close()
        ctl.close()


def test_input_of_a_blocked_client_is_bounded(resp, ctl):
    ctl.config_set("client-query-buffer-limit", "1mb")
    try:
        c = block(resp, ctl, "BLPOP", "k", 0)
        ping = c.encode("PING")
        c.send_raw(ping * (600_000 // len(ping)))  # queued, under the limit
        assert c.quiet(0.2)
        assert info_clients(ctl)["blocked_clients"] == 1
        try:
            c.send_raw(ping * (600_000 // len(ping)))  # past it: closed
        except OSError:
            pass
        assert c.closed()
        wait_blocked(ctl, 0)
    finally:
        ctl.config_set("client-query-buffer-limit", "1gb")
