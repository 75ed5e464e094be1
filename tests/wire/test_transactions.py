"""MULTI / EXEC / DISCARD / WATCH / UNWATCH over the wire.

Behaviours and texts are redis-server 7's (checked with raw sockets): what
aborts a transaction at queue time (EXECABORT), what fails in place inside
EXEC, and which changes to a watched key make EXEC answer a null array.
"""

from __future__ import annotations

import pytest
import redis

from support import RawConn

EXECABORT = b"-EXECABORT Transaction discarded because of previous errors.\r\n"


@pytest.fixture
def other(r2):
    """A second client, beside the raw connection under test."""
    return r2


def watched_exec(c: RawConn, *keys: str) -> None:
    c.send("WATCH", *keys)
    c.expect(b"+OK\r\n")


def run_exec(c: RawConn) -> bytes:
    """MULTI, one queued command, EXEC: returns EXEC's raw reply."""
    c.send_raw(RawConn.encode("MULTI") + RawConn.encode("SET", "tx:ran", "yes") + RawConn.encode("EXEC"))
    c.expect(b"+OK\r\n+QUEUED\r\n")
    return c.read_reply()


# -- MULTI / EXEC / DISCARD ------------------------------------------------------


def test_multi_exec_with_redis_py(r):
    pipe = r.pipeline(transaction=True)
    pipe.set("a", "1").incr("a").get("a").mget("a", "nope").delete("a").exists("a")
    assert pipe.execute() == [True, 2, b"2", [b"2", None], 1, 0]


def test_multi_exec_raw(conn):
    c = conn()
    c.send("MULTI")
    c.expect(b"+OK\r\n")
    c.send("SET", "k", "v")
    c.expect(b"+QUEUED\r\n")
    c.send("GET", "k")
    c.expect(b"+QUEUED\r\n")
    c.send("GET", "nothing")
    c.expect(b"+QUEUED\r\n")
    c.send("EXEC")
    c.expect(b"*3\r\n+OK\r\n$1\r\nv\r\n$-1\r\n")
    c.send("MULTI")
    c.send("EXEC")
    c.expect(b"+OK\r\n*0\r\n")


def test_multi_exec_resp3_reply_types(conn):
    c = conn()
    c.send("HELLO", "3")
    c.read_reply()
    c.send_raw(b"".join(RawConn.encode(*cmd) for cmd in (
        ("MULTI",), ("GET", "nothing"), ("HELLO", "3"), ("EXEC",))))
    c.expect(b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n_\r\n%")


def test_discard(conn, other):
    c = conn()
    c.send_raw(RawConn.encode("MULTI") + RawConn.encode("SET", "d", "1") + RawConn.encode("DISCARD"))
    c.expect(b"+OK\r\n+QUEUED\r\n+OK\r\n")
    assert other.exists("d") == 0
    c.send("EXEC")
    c.expect(b"-ERR EXEC without MULTI\r\n")


def test_exec_and_discard_without_multi(conn):
    c = conn()
    c.send("EXEC")
    c.expect(b"-ERR EXEC without MULTI\r\n")
    c.send("DISCARD")
    c.expect(b"-ERR DISCARD without MULTI\r\n")


def test_queue_time_errors_abort_with_execabort(conn, other):
    c = conn()
    c.send("MULTI")
    c.expect(b"+OK\r\n")
    c.send("SET", "e", "1")
    c.expect(b"+QUEUED\r\n")
    c.send("NOPE")
    c.expect(b"-ERR unknown command 'NOPE', with args beginning with: \r\n")
    c.send("GET")
    c.expect(b"-ERR wrong number of arguments for 'get' command\r\n")
    c.send("EXEC")
    c.expect(EXECABORT)
    assert other.exists("e") == 0
    # The transaction is over: a new one works.
    c.send_raw(RawConn.encode("MULTI") + RawConn.encode("SET", "e", "2") + RawConn.encode("EXEC"))
    c.expect(b"+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n")


def test_execabort_with_redis_py(r):
    pipe = r.pipeline(transaction=True)
    pipe.set("x", "1")
    pipe.execute_command("GET")  # wrong arity, refused at queue time
    with pytest.raises(redis.ResponseError) as info:
        pipe.execute()
    assert "EXECABORT" in str(info.value) or "wrong number of arguments" in str(info.value)
    assert r.exists("x") == 0


def test_runtime_errors_are_reported_in_place(conn, other):
    c = conn()
    c.send_raw(b"".join(RawConn.encode(*cmd) for cmd in (
        ("MULTI",), ("SET", "r", "abc"), ("INCR", "r"), ("SET", "r2", "1"), ("LPUSH", "r", "x"),
        ("EXEC",))))
    c.expect(b"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n")
    reply = c.read_reply()
    if reply.startswith(b"-ERR unknown command 'LPUSH'"):  # lists not built yet
        assert c.read_reply() == EXECABORT
        return
    assert reply == b"+QUEUED\r\n"
    assert c.read_reply() == (
        b"*4\r\n+OK\r\n-ERR value is not an integer or out of range\r\n+OK\r\n"
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
    assert other.get("r2") == b"1"


def test_runtime_error_with_redis_py(r):
    pipe = r.pipeline(transaction=True)
    pipe.set("s", "abc").incr("s").set("t", "1")
    result = pipe.execute(raise_on_error=False)
    assert result[0] is True and result[2] is True
    assert isinstance(result[1], redis.ResponseError)
    assert r.get("t") == b"1"


def test_nested_multi_is_an_error_but_keeps_the_transaction(conn):
    c = conn()
    c.send_raw(b"".join(RawConn.encode(*cmd) for cmd in (
        ("MULTI",), ("SET", "n", "1"), ("MULTI",), ("EXEC",))))
    c.expect(b"+OK\r\n+QUEUED\r\n-ERR MULTI calls can not be nested\r\n*1\r\n+OK\r\n")


def test_watch_inside_multi_is_an_error_but_keeps_the_transaction(conn):
    c = conn()
    c.send_raw(b"".join(RawConn.encode(*cmd) for cmd in (
        ("MULTI",), ("WATCH", "x"), ("SET", "x", "2"), ("EXEC",))))
    c.expect(b"+OK\r\n-ERR WATCH inside MULTI is not allowed\r\n+QUEUED\r\n*1\r\n+OK\r\n")


def test_quit_and_reset_inside_multi_run_at_once(conn):
    c = conn()
    c.send_raw(RawConn.encode("MULTI") + RawConn.encode("SET", "q", "1") + RawConn.encode("RESET"))
    c.expect(b"+OK\r\n+QUEUED\r\n+RESET\r\n")
    c.send("EXEC")
    c.expect(b"-ERR EXEC without MULTI\r\n")


# -- WATCH ----------------------------------------------------------------------


def test_watch_aborts_on_a_change_by_another_client(conn, other):
    other.set("w", "1")
    c = conn()
    watched_exec(c, "w")
    other.set("w", "2")
    assert run_exec(c) == b"*-1\r\n"
    assert other.exists("tx:ran") == 0


def test_watch_abort_is_null_in_resp3(conn, other):
    c = conn()
    c.send("HELLO", "3")
    c.read_reply()
    watched_exec(c, "w")
    other.set("w", "2")
    assert run_exec(c) == b"_\r\n"


def test_watch_with_redis_py_pipeline(node, other):
    client = node.client()
    other.set("balance", "10")
    with client.pipeline() as pipe:
        pipe.watch("balance")
        assert int(pipe.get("balance")) == 10
        other.incr("balance")
        pipe.multi()
        pipe.set("balance", "0")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert other.get("balance") == b"11"
    client.close()


def test_watch_aborts_on_own_write_before_multi(conn):
    c = conn()
    watched_exec(c, "own")
    c.send("SET", "own", "1")
    c.expect(b"+OK\r\n")
    assert run_exec(c) == b"*-1\r\n"


@pytest.mark.parametrize(
    "change",
    [
        ["DEL", "w"],
        ["UNLINK", "w"],
        ["EXPIRE", "w", "100"],
        ["PERSIST", "w"],
        ["APPEND", "w", "x"],
        ["INCR", "w"],
        ["SET", "w", "5"],  # even the same value
        ["GETDEL", "w"],
        ["RENAME", "w", "elsewhere"],
        ["RENAME", "src", "w"],
        ["MSET", "a", "1", "w", "2"],
        ["FLUSHDB"],
        ["FLUSHALL"],
    ],
    ids=lambda change: " ".join(change),
)
def test_watch_aborts_on(conn, other, change):
    other.set("w", "5", px=10**9)
    other.set("src", "s")
    c = conn()
    watched_exec(c, "w")
    other.execute_command(*change)
    assert run_exec(c) == b"*-1\r\n"


def test_watch_not_aborted_by_unrelated_changes(conn, other):
    other.set("w", "1")
    c = conn()
    watched_exec(c, "w")
    other.set("unrelated", "1")
    other.delete("nothing")
    other.get("w")  # reads do not count
    other.execute_command("SELECT", "1")
    other.set("w", "in another database")
    other.execute_command("SELECT", "0")
    assert run_exec(c) == b"*1\r\n+OK\r\n"


def test_watch_missing_key_not_aborted_by_noops(conn, other):
    c = conn()
    watched_exec(c, "ghost")
    other.delete("ghost")  # deleting nothing changes nothing
    other.flushdb()  # nor does flushing a database that lacks the key
    assert run_exec(c) == b"*1\r\n+OK\r\n"


def test_watch_missing_key_aborted_when_it_appears(conn, other):
    c = conn()
    watched_exec(c, "ghost")
    other.set("ghost", "boo")
    assert run_exec(c) == b"*-1\r\n"


def test_swapdb_aborts_when_the_key_is_in_either_database(conn, other):
    c = conn()
    other.execute_command("SELECT", "1")
    other.set("y", "1")
    watched_exec(c, "y")  # in db 0, where y does not exist
    other.execute_command("SWAPDB", "0", "1")
    assert run_exec(c) == b"*-1\r\n"


def test_swapdb_does_not_abort_when_the_key_is_in_neither(conn, other):
    c = conn()
    watched_exec(c, "none")
    other.execute_command("SWAPDB", "0", "1")
    assert run_exec(c) == b"*1\r\n+OK\r\n"


def test_watch_aborts_when_the_key_expires(conn, other):
    other.set("ttl", "1", px=1000)
    c = conn()
    watched_exec(c, "ttl")
    other.execute_command("DEBUG", "ADVANCE-CLOCK", "1500")
    assert run_exec(c) == b"*-1\r\n"


def test_watch_aborts_when_active_expiry_reclaims_the_key(conn, other):
    other.set("ttl", "1", px=1000)
    c = conn()
    watched_exec(c, "ttl")
    other.execute_command("DEBUG", "ADVANCE-CLOCK", "1500")
    other.dbsize()  # (the cron may reclaim it meanwhile; either way it changed)
    assert run_exec(c) == b"*-1\r\n"


def test_watch_of_an_already_expired_key_does_not_abort(conn, other):
    # Redis's "WATCH stale keys should not fail EXEC": the key was logically
    # gone when watched, and still is.
    other.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    try:
        other.set("stale", "1", px=100)
        other.execute_command("DEBUG", "ADVANCE-CLOCK", "200")
        c = conn()
        watched_exec(c, "stale")
        assert run_exec(c) == b"*1\r\n+OK\r\n"
    finally:
        other.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")


def test_watch_not_aborted_by_a_key_with_a_future_ttl(conn, other):
    other.set("later", "1", px=100_000)
    c = conn()
    watched_exec(c, "later")
    other.execute_command("DEBUG", "ADVANCE-CLOCK", "1000")
    assert run_exec(c) == b"*1\r\n+OK\r\n"


def test_unwatch(conn, other):
    c = conn()
    watched_exec(c, "u")
    c.send("UNWATCH")
    c.expect(b"+OK\r\n")
    other.set("u", "changed")
    assert run_exec(c) == b"*1\r\n+OK\r\n"


def test_exec_and_discard_forget_the_watches(conn, other):
    c = conn()
    watched_exec(c, "f")
    assert run_exec(c) == b"*1\r\n+OK\r\n"
    other.set("f", "1")  # no longer watched
    assert run_exec(c) == b"*1\r\n+OK\r\n"
    watched_exec(c, "g")
    c.send_raw(RawConn.encode("MULTI") + RawConn.encode("DISCARD"))
    c.expect(b"+OK\r\n+OK\r\n")
    other.set("g", "1")
    assert run_exec(c) == b"*1\r\n+OK\r\n"


def test_aborted_exec_forgets_the_watches(conn, other):
    c = conn()
    watched_exec(c, "h")
    other.set("h", "1")
    assert run_exec(c) == b"*-1\r\n"
    assert run_exec(c) == b"*1\r\n+OK\r\n"


def test_watch_many_keys_and_twice(conn, other):
    c = conn()
    watched_exec(c, "k1", "k2", "k3")
    watched_exec(c, "k2")
    other.set("k3", "1")
    assert run_exec(c) == b"*-1\r\n"


def test_watch_is_per_client(conn, other):
    a, b = conn(), conn()
    watched_exec(a, "p")
    watched_exec(b, "q")
    other.set("p", "1")
    assert run_exec(b) == b"*1\r\n+OK\r\n"
    assert run_exec(a) == b"*-1\r\n"


def test_watch_after_select_watches_that_database(conn, other):
    c = conn()
    c.send("SELECT", "2")
    c.expect(b"+OK\r\n")
    watched_exec(c, "d")
    other.set("d", "db0")  # db 0: not watched
    assert run_exec(c) == b"*1\r\n+OK\r\n"
    watched_exec(c, "d")
    other.execute_command("SELECT", "2")
    other.set("d", "db2")
    assert run_exec(c) == b"*-1\r\n"


def test_closing_a_watching_client_cleans_up(node, other):
    for _ in range(50):
        c = RawConn(node)
        watched_exec(c, "cleanup")
        c.close()
    other.set("cleanup", "1")
    assert other.ping()


def test_transaction_with_many_commands(conn, other):
    c = conn()
    c.send_raw(RawConn.encode("MULTI") + b"".join(RawConn.encode("INCR", "many") for _ in range(500))
               + RawConn.encode("EXEC"))
    c.expect(b"+OK\r\n" + b"+QUEUED\r\n" * 500 + b"*500\r\n" + b"".join(b":%d\r\n" % i for i in range(1, 501)))
    assert other.get("many") == b"500"
