"""The wire protocol against a node process: raw sockets for exact bytes,
redis-py (sync and asyncio, RESP2 and RESP3) and redis-cli for real clients.

Expected texts are redis-server 7's, checked with raw sockets.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time

import pytest
import redis
import redis.asyncio

from nodes import start_node
from support import RawConn, proc_status


def node_alive(node) -> None:
    client = node.client()
    assert client.ping() is True
    client.close()


# -- inline and pipelining ----------------------------------------------------


def test_inline_commands(conn):
    c = conn()
    c.send_raw(b"PING\r\n")
    c.expect(b"+PONG\r\n")
    c.send_raw(b'SET greeting "hello world"\r\n')
    c.expect(b"+OK\r\n")
    c.send_raw(b"GET greeting\n")  # a bare \n ends a line too
    c.expect(b"$11\r\nhello world\r\n")
    c.send_raw(b"\r\n\n  \r\nECHO 'it''s'\r\n")  # empty lines are ignored
    c.expect(b"-ERR Protocol error: unbalanced quotes in request\r\n")
    assert c.closed()


def test_inline_and_multibulk_mixed_in_one_packet(conn):
    c = conn()
    c.send_raw(b"PING\r\n" + RawConn.encode("ECHO", "a") + b"ECHO b\r\n" + RawConn.encode("ECHO", "c"))
    c.expect(b"+PONG\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n")


def test_inline_command_typed_slowly(conn):
    c = conn()
    for byte in b"SET k \"v w\"\r\nGET k\r\n":
        c.send_raw(bytes([byte]))
    c.expect(b"+OK\r\n$3\r\nv w\r\n")


def test_pipeline_of_1000_commands_in_one_send(conn):
    c = conn()
    c.send_raw(b"".join(RawConn.encode("INCR", "counter") for _ in range(1000)))
    c.expect(b"".join(b":%d\r\n" % i for i in range(1, 1001)))
    c.send_raw(b"".join(RawConn.encode("ECHO", str(i)) for i in range(1000)) + b"PING\r\n")
    c.expect(b"".join(b"$%d\r\n%d\r\n" % (len(str(i)), i) for i in range(1000)) + b"+PONG\r\n")


def test_pipeline_split_at_awkward_places(conn):
    # The reads end inside headers, after arguments, inside values.
    c = conn()
    stream = b"".join(RawConn.encode("SET", f"k{i}", "v" * (i * 37 % 3000)) for i in range(200))
    stream += b"".join(RawConn.encode("STRLEN", f"k{i}") for i in range(200))
    for i in range(0, len(stream), 1111):
        c.send_raw(stream[i : i + 1111])
        time.sleep(0.0005)
    c.expect(b"+OK\r\n" * 200 + b"".join(b":%d\r\n" % (i * 37 % 3000) for i in range(200)))


def test_large_value_sent_in_small_chunks(conn, node):
    c = conn()
    value = os.urandom(1 << 20)
    data = RawConn.encode("SET", "big", value)
    for i in range(0, len(data), 4096):
        c.send_raw(data[i : i + 4096])
    c.expect(b"+OK\r\n")
    client = node.client()
    assert client.get("big") == value
    assert client.strlen("big") == 1 << 20
    client.close()


def test_binary_safe_keys_and_values(conn):
    c = conn()
    key, value = b"k\r\n\x00\xff", b"\r\n$3\r\n*1\r\n\x00"
    c.send("SET", key, value)
    c.send("GET", key)
    c.expect(b"+OK\r\n$%d\r\n%b\r\n" % (len(value), value))


# -- protocol errors ----------------------------------------------------------


@pytest.mark.parametrize(
    "bad, reply",
    [
        (b"*-x\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*99999999999\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n$-2\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n$536870913\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\nx\r\n", b"-ERR Protocol error: expected '$', got 'x'\r\n"),
        (b"*2\r\n$4\r\nECHO\r\n:1\r\n", b"-ERR Protocol error: expected '$', got ':'\r\n"),
        (b'SET a "b\r\n', b"-ERR Protocol error: unbalanced quotes in request\r\n"),
        (b"A" * 70000, b"-ERR Protocol error: too big inline request\r\n"),
    ],
)
def test_protocol_error_closes_only_that_connection(conn, node, bad, reply):
    other = conn()
    other.send("SET", "k", "v")
    other.expect(b"+OK\r\n")
    c = conn()
    c.send_raw(bad)
    assert c.closed()
    assert c.buf == reply
    other.send("GET", "k")  # the node serves the others
    other.expect(b"$1\r\nv\r\n")
    node_alive(node)
    assert "Protocol error" in node.log()


def test_commands_before_a_protocol_error_are_answered(conn):
    c = conn()
    c.send_raw(RawConn.encode("SET", "x", "1") + RawConn.encode("INCR", "x") + b"*1\r\n$-5\r\n")
    assert c.closed()
    assert c.buf == b"+OK\r\n:2\r\n-ERR Protocol error: invalid bulk length\r\n"


def test_null_and_empty_multibulk_are_ignored(conn):
    c = conn()
    c.send_raw(b"*-1\r\n*0\r\n" + RawConn.encode("PING") + b"*-1\r\n")
    c.expect(b"+PONG\r\n")
    assert c.quiet()


def test_huge_declared_lengths_wait_for_their_bytes(conn, node):
    c = conn()
    c.send_raw(b"*2147483647\r\n$1\r\na\r\n")
    other = conn()
    other.send("PING")
    other.expect(b"+PONG\r\n")
    assert c.quiet()
    c2 = conn()
    c2.send_raw(b"*1\r\n$536870912\r\n" + b"x" * 100000)
    assert c2.quiet()
    node_alive(node)


# -- errors that keep the connection ------------------------------------------


def test_unknown_command_and_wrong_arity(conn):
    c = conn()
    c.send("FOO", "bar", "x y")
    c.expect(b"-ERR unknown command 'FOO', with args beginning with: 'bar' 'x y' \r\n")
    c.send_raw(b"foo\r\n")
    c.expect(b"-ERR unknown command 'foo', with args beginning with: \r\n")
    c.send("GET")
    c.expect(b"-ERR wrong number of arguments for 'get' command\r\n")
    c.send("set", "onlykey")
    c.expect(b"-ERR wrong number of arguments for 'set' command\r\n")
    c.send("PING")
    c.expect(b"+PONG\r\n")


# -- HELLO, AUTH, connection state --------------------------------------------


def test_hello_3_and_2(conn):
    c = conn()
    c.send("HELLO", "3")
    reply = c.read_reply()
    assert reply.startswith(b"%")
    for field in (b"$6\r\nserver\r\n$5\r\nredis\r\n", b"$7\r\nversion\r\n", b"$5\r\nproto\r\n:3\r\n",
                  b"$2\r\nid\r\n:", b"$4\r\nmode\r\n$10\r\nstandalone\r\n",
                  b"$4\r\nrole\r\n$6\r\nmaster\r\n", b"$7\r\nmodules\r\n*0\r\n"):
        assert field in reply, field
    c.send("GET", "missing")
    c.expect(b"_\r\n")
    c.send("HELLO", "2")
    reply = c.read_reply()
    assert reply.startswith(b"*") and b"$5\r\nproto\r\n:2\r\n" in reply
    c.send("GET", "missing")
    c.expect(b"$-1\r\n")


def test_hello_errors(conn):
    c = conn()
    c.send("HELLO", "4")
    c.expect(b"-NOPROTO unsupported protocol version\r\n")
    c.send("HELLO", "abc")
    c.expect(b"-ERR Protocol version is not an integer or out of range\r\n")
    c.send("HELLO", "3", "foo")
    c.expect(b"-ERR Syntax error in HELLO option 'foo'\r\n")
    c.send("HELLO", "3", "AUTH", "default")
    c.expect(b"-ERR Syntax error in HELLO option 'AUTH'\r\n")
    c.send("HELLO", "3", "SETNAME", "a b")
    c.expect(b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n")
    c.send("GET", "missing")  # still RESP2: a failed HELLO changes nothing
    c.expect(b"$-1\r\n")


def test_hello_with_setname_and_auth(conn, node):
    c = conn()
    c.send("HELLO", "3", "AUTH", "default", "anything", "SETNAME", "myconn")
    assert b"$5\r\nproto\r\n:3\r\n" in c.read_reply()
    c.send("CLIENT", "GETNAME")
    c.expect(b"$6\r\nmyconn\r\n")


def test_auth_without_a_password_configured(conn):
    c = conn()
    c.send("AUTH", "x")
    c.expect(b"-ERR AUTH <password> called without any password configured for the default user. "
             b"Are you sure your configuration is correct?\r\n")
    c.send("AUTH", "default", "x")  # the default user has nopass
    c.expect(b"+OK\r\n")


def test_auth_unknown_user_without_a_password_configured(conn):
    c = conn()
    c.send("AUTH", "bob", "x")
    c.expect(b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")


def test_quit_closes_after_replying(conn, node):
    c = conn()
    c.send_raw(RawConn.encode("SET", "q", "1") + RawConn.encode("QUIT") + RawConn.encode("SET", "q", "2"))
    assert c.closed()
    assert c.buf == b"+OK\r\n+OK\r\n"
    client = node.client()
    assert client.get("q") == b"1"  # nothing after QUIT ran
    client.close()


def test_reset(conn):
    c = conn()
    c.send("HELLO", "3", "SETNAME", "before")
    c.read_reply()
    c.send("SELECT", "3")
    c.expect(b"+OK\r\n")
    c.send("MULTI")
    c.expect(b"+OK\r\n")
    c.send("RESET")
    c.expect(b"+RESET\r\n")
    c.send("GET", "missing")  # back to RESP2, out of MULTI
    c.expect(b"$-1\r\n")
    c.send("CLIENT", "GETNAME")
    c.expect(b"$-1\r\n")
    c.send("SET", "where", "db0")
    c.expect(b"+OK\r\n")
    c.send("SELECT", "3")
    c.send("EXISTS", "where")
    c.expect(b"+OK\r\n:0\r\n")


def test_select_and_swapdb(conn, node):
    c = conn()
    c.send_raw(RawConn.encode("SET", "a", "in0") + RawConn.encode("SELECT", "1") + RawConn.encode("SET", "a", "in1"))
    c.expect(b"+OK\r\n+OK\r\n+OK\r\n")
    c.send("SWAPDB", "0", "1")
    c.expect(b"+OK\r\n")
    c.send("GET", "a")  # still db 1, which now holds db 0's data
    c.expect(b"$3\r\nin0\r\n")
    c.send("SELECT", "16")
    c.expect(b"-ERR DB index is out of range\r\n")
    c.send("SELECT", "x")
    c.expect(b"-ERR value is not an integer or out of range\r\n")
    c.send("SWAPDB", "0", "16")
    c.expect(b"-ERR DB index is out of range\r\n")
    c.send("SWAPDB", "x", "0")
    c.expect(b"-ERR invalid first DB index\r\n")
    client = node.client()
    assert client.get("a") == b"in1"
    client.close()


def test_swapdb_bad_second_index(conn):
    c = conn()
    c.send("SWAPDB", "0", "x")
    c.expect(b"-ERR invalid second DB index\r\n")


# -- flow control: a client that never reads -----------------------------------


def test_client_that_never_reads_cannot_grow_the_node(tmp_path):
    with start_node(tmp_path) as node:
        setup = node.client()
        setup.set("big", b"x" * 100_000)
        sock = socket.create_connection((node.host, node.port))
        sock.setblocking(False)
        request = RawConn.encode("GET", "big") * 100
        sent = 0
        deadline = time.monotonic() + 2
        peak = 0
        while time.monotonic() < deadline and sent < 30_000:
            try:
                sock.send(request)  # keeps going until the kernel refuses
                sent += 100
            except BlockingIOError:
                time.sleep(0.05)
            peak = max(peak, proc_status(node.proc.pid, "VmRSS"))
        time.sleep(0.3)
        peak = max(peak, proc_status(node.proc.pid, "VmRSS"))
        # Thousands of 100 KB replies were asked for; the node stopped
        # reading instead of producing them all.
        assert sent >= 2000
        assert peak < 300 * 1024 * 1024, f"RSS {peak >> 20} MB after {sent} GETs"
        assert setup.ping() is True  # others are still served
        sock.close()
        setup.close()


# -- real clients ---------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_asyncio(node, protocol):
    async def main():
        client = redis.asyncio.Redis(host=node.host, port=node.port, protocol=protocol)
        try:
            assert await client.ping() is True
            assert await client.set("ak", "v", ex=100) is True
            assert await client.get("ak") == b"v"
            assert 0 < await client.ttl("ak") <= 100
            assert await client.get("missing") is None
            assert await client.incrby("n", 5) == 5
            pipe = client.pipeline(transaction=True)
            pipe.set("p1", "1").incr("p1").get("p1").mget("p1", "missing")
            assert await pipe.execute() == [True, 2, b"2", [b"2", None]]
            pipe = client.pipeline(transaction=False)
            for i in range(200):
                pipe.set(f"key:{i}", i)
            assert await pipe.execute() == [True] * 200
            assert await client.dbsize() == 203
            with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
                await client.execute_command("GET")
            info = await client.execute_command("HELLO", str(protocol))
            if isinstance(info, list):  # RESP2: a flat list of pairs
                info = dict(zip(info[::2], info[1::2]))
            assert info[b"proto"] == protocol and info[b"server"] == b"redis"
        finally:
            await client.aclose()

    asyncio.run(main())


def test_redis_py_many_asyncio_clients_at_once(node):
    async def worker(i: int) -> None:
        client = redis.asyncio.Redis(host=node.host, port=node.port, protocol=2 + i % 2)
        try:
            for j in range(20):
                await client.set(f"w{i}:{j}", j)
                assert await client.get(f"w{i}:{j}") == str(j).encode()
        finally:
            await client.aclose()

    async def main():
        await asyncio.gather(*(worker(i) for i in range(20)))

    asyncio.run(main())


REDIS_CLI = shutil.which("redis-cli")


@pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli is not installed")
def test_redis_cli_round_trip(node):
    def cli(*args: str, stdin: bytes | None = None) -> str:
        done = subprocess.run([REDIS_CLI, "-p", str(node.port), *args], input=stdin,
                              capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout.decode()

    assert cli("PING") == "PONG\n"
    assert cli("SET", "cli key", "hello world") == "OK\n"
    assert cli("GET", "cli key") == "hello world\n"
    assert cli("--no-raw", "GET", "nothing") == "(nil)\n"
    assert cli("--no-raw", "INCRBY", "n", "3") == "(integer) 3\n"
    assert cli("--no-raw", "FOO") == "(error) ERR unknown command 'FOO', with args beginning with: \n"
    assert cli("-3", "--no-raw", "GET", "nothing") == "(nil)\n"
    assert cli(stdin=b"SET a 1\nINCR a\nGET a\n") == "OK\n2\n2\n"
    # Mass insertion: a stream that rarely ends on a command boundary.
    stream = b"".join(RawConn.encode("SET", f"mass:{i}", "v" * (i % 100)) for i in range(20000))
    out = cli("--pipe", stdin=stream)
    assert "errors: 0, replies: 20000" in out
    assert cli("DBSIZE") == str(20000 + 3) + "\n"
    assert cli("STRLEN", "mass:199") == "99\n"
