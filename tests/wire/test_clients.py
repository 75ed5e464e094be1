"""The node as a process: start-up (port 0, config file, bad configuration),
clean shutdown on SIGTERM, and password authentication (requirepass)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from nodes import ROOT, spawn, start_node, wait_ready
from support import RawConn

NOAUTH = b"-NOAUTH Authentication required.\r\n"
WRONGPASS = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"


# -- start-up -----------------------------------------------------------------


def test_port_zero_reports_the_chosen_port(tmp_path):
    proc, log = spawn(["--port", "0", "--save", ""], tmp_path)
    try:
        port = wait_ready(proc, log)
        assert port > 0
        client = redis.Redis(port=port, protocol=2)
        assert client.ping() is True
        client.close()
        # Log lines carry a timestamp and a level mark, like redis-server's.
        assert re.search(r"^\d+:M \d\d \w{3} \d{4} [\d:.]+ [*#.-] .*Ready to accept connections",
                         log.read_text(), re.M)
    finally:
        proc.terminate()
        proc.wait(10)


def test_config_file_with_quoted_values(tmp_path):
    conf = tmp_path / "ringcache.conf"
    conf.write_text(
        "# a comment, then blank lines\n\n"
        "port 0\n"
        'save ""\n'
        "hz 15\n"
        'requirepass "pass word"\n'
        "maxmemory-policy 'allkeys-lru'\n"
        "maxmemory 100mb\n"
        "   slowlog-max-len    77   \n"
    )
    proc, log = spawn([str(conf)], tmp_path)
    try:
        port = wait_ready(proc, log)
        client = redis.Redis(port=port, password="pass word", protocol=2, decode_responses=True)
        assert client.config_get("hz") == {"hz": "15"}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        assert client.config_get("maxmemory") == {"maxmemory": "104857600"}
        assert client.config_get("slowlog-max-len") == {"slowlog-max-len": "77"}
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_command_line_flags_override_the_file(tmp_path):
    conf = tmp_path / "ringcache.conf"
    conf.write_text("hz 15\nport 0\n")
    proc, log = spawn([str(conf), "--hz", "25", "--save", ""], tmp_path)
    try:
        port = wait_ready(proc, log)
        client = redis.Redis(port=port, protocol=2, decode_responses=True)
        assert client.config_get("hz") == {"hz": "25"}
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize(
    "args, lines",
    [
        (["--foo", "bar"], [">>> 'foo \"bar\"'", "Bad directive or wrong number of arguments"]),
        (["--hz", "abc"], [">>> 'hz \"abc\"'", "argument couldn't be parsed into an integer"]),
        (["--maxmemory", "1x"], [">>> 'maxmemory \"1x\"'", "argument must be a memory value"]),
    ],
)
def test_bad_configuration_on_the_command_line_exits(tmp_path, args, lines):
    done = subprocess.run([sys.executable, "-m", "ringcache", "server", "--port", "0", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode != 0
    assert "*** FATAL CONFIG FILE ERROR" in done.stderr
    for line in lines:
        assert line in done.stderr


def test_bad_configuration_in_the_file_names_the_line(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("hz 10\nmaxmemory \"1x\"\n")
    done = subprocess.run([sys.executable, "-m", "ringcache", "server", str(conf)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode != 0
    assert "Reading the configuration file, at line 2" in done.stderr
    assert ">>> 'maxmemory \"1x\"'" in done.stderr
    assert "argument must be a memory value" in done.stderr


def test_missing_config_file_exits(tmp_path):
    done = subprocess.run([sys.executable, "-m", "ringcache", "server", str(tmp_path / "nope.conf")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode != 0
    assert "nope.conf" in done.stderr


# -- shutdown -------------------------------------------------------------------


def test_sigterm_shuts_down_cleanly_after_pending_replies(tmp_path):
    with start_node(tmp_path) as node:
        setup = node.client()
        value = os.urandom(8 << 20)
        setup.set("big", value)
        setup.close()
        # A pipeline whose replies are still on their way when SIGTERM comes:
        # the client reads nothing until after the signal.
        c = RawConn(node, timeout=15)
        c.send_raw(RawConn.encode("DEBUG", "SLEEP", "0.3") + RawConn.encode("GET", "big")
                   + RawConn.encode("PING"))
        time.sleep(0.1)
        node.proc.send_signal(signal.SIGTERM)
        assert c.read_reply() == b"+OK\r\n"
        assert c.read_reply() == b"$%d\r\n%b\r\n" % (len(value), value)
        assert c.read_reply() == b"+PONG\r\n"
        assert c.closed()
        c.close()
        assert node.proc.wait(15) == 0
        log = node.log()
        assert "Received SIGTERM scheduling shutdown" in log
        assert "ready to exit, bye bye" in log


def test_sigint_shuts_down_cleanly(tmp_path):
    with start_node(tmp_path) as node:
        node.proc.send_signal(signal.SIGINT)
        assert node.proc.wait(15) == 0
        assert "Received SIGINT scheduling shutdown" in node.log()


def test_shutdown_closes_idle_clients(tmp_path):
    with start_node(tmp_path) as node:
        idle = [RawConn(node) for _ in range(5)]
        for c in idle:
            c.send("PING")
            c.expect(b"+PONG\r\n")
        node.proc.send_signal(signal.SIGTERM)
        for c in idle:
            assert c.closed()
            c.close()
        assert node.proc.wait(15) == 0


# -- requirepass ----------------------------------------------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    with start_node(tmp_path_factory.mktemp("secured"), "--requirepass", "s3cret") as node:
        yield node


def test_noauth_before_auth(secured):
    c = RawConn(secured)
    c.send("PING")
    c.expect(NOAUTH)
    c.send("SET", "k", "v")
    c.expect(NOAUTH)
    c.send("NOSUCHCOMMAND")  # the command is looked up first, as in Redis
    c.expect(b"-ERR unknown command 'NOSUCHCOMMAND', with args beginning with: \r\n")
    c.send("GET")
    c.expect(b"-ERR wrong number of arguments for 'get' command\r\n")
    c.send("HELLO", "3")
    c.expect(b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the "
             b"HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
             b"select the RESP protocol version at the same time\r\n")
    c.send("QUIT")
    c.expect(b"+OK\r\n")
    assert c.closed()
    c.close()


def test_auth_wrong_then_right(secured):
    c = RawConn(secured)
    c.send("AUTH", "wrong")
    c.expect(WRONGPASS)
    c.send("AUTH", "default", "wrong")
    c.expect(WRONGPASS)
    c.send("AUTH", "someone", "s3cret")
    c.expect(WRONGPASS)
    c.send("PING")
    c.expect(NOAUTH)
    c.send("AUTH", "s3cret")
    c.expect(b"+OK\r\n")
    c.send("PING")
    c.expect(b"+PONG\r\n")
    c.close()
    c = RawConn(secured)
    c.send("AUTH", "default", "s3cret")
    c.expect(b"+OK\r\n")
    c.send("SET", "k", "v")
    c.expect(b"+OK\r\n")
    c.close()


def test_hello_3_auth(secured):
    c = RawConn(secured)
    c.send("HELLO", "3", "AUTH", "default", "wrong")
    c.expect(WRONGPASS)
    c.send("HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "authed")
    reply = c.read_reply()
    assert reply.startswith(b"%") and b"$5\r\nproto\r\n:3\r\n" in reply
    c.send("CLIENT", "GETNAME")
    c.expect(b"$6\r\nauthed\r\n")
    c.close()


def test_reset_logs_out(secured):
    c = RawConn(secured)
    c.send("AUTH", "s3cret")
    c.expect(b"+OK\r\n")
    c.send("RESET")
    c.expect(b"+RESET\r\n")
    c.send("PING")
    c.expect(NOAUTH)
    c.close()


def test_redis_py_with_password(secured):
    for protocol in (2, 3):
        client = secured.client(password="s3cret", protocol=protocol)
        assert client.set("py", "1") is True
        assert client.get("py") == b"1"
        client.close()
    client = secured.client(password="nope", retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.AuthenticationError):
        client.ping()
    client.close()


def test_unauthenticated_clients_may_only_send_small_requests(secured):
    c = RawConn(secured)
    c.send_raw(b"*11\r\n")
    assert c.closed()
    assert c.buf == b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    c.close()
    c = RawConn(secured)
    c.send_raw(b"*2\r\n$4\r\nAUTH\r\n$16385\r\n")
    assert c.closed()
    assert c.buf == b"-ERR Protocol error: unauthenticated bulk length\r\n"
    c.close()
    # Once authenticated the limits are gone.
    c = RawConn(secured)
    c.send("AUTH", "s3cret")
    c.expect(b"+OK\r\n")
    c.send("MSET", *[f"k{i}" for i in range(20)])
    c.expect(b"+OK\r\n")
    c.send("SET", "big", "x" * 100_000)
    c.expect(b"+OK\r\n")
    c.close()
