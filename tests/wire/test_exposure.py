"""A node in front of other people's clients (issue 11): protected mode for
non-loopback clients, protected configs, and a descriptor limit that is
enforced instead of spun on.

Protected mode needs a client that is not on the loopback interface (any
127.x address is loopback to Redis). The node runs in a network namespace of
its own, joined to this one by a veth pair: the test connects from the host
side of the pair, which is a non-local peer, and redis-cli inside the
namespace is the local client. Nothing outside this machine can reach it."""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from nodes import ROOT, Node, spawn, wait_ready

DENIED = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password"


# -- protected mode, from a non-loopback peer --------------------------------------

def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def netns():
    """(namespace, node-side address, host-side address)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.fail("protected-mode tests need root and iproute2 (network namespaces)")
    tag = f"{os.getpid() % 10000}"
    ns, host_if, node_if = f"rcpm{tag}", f"rcpa{tag}", f"rcpb{tag}"
    subnet = 10 + os.getpid() % 200
    node_addr, host_addr = f"10.213.{subnet}.2", f"10.213.{subnet}.1"
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", node_if)
        _ip("link", "set", node_if, "netns", ns)
        _ip("addr", "add", f"{host_addr}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", ns, "addr", "add", f"{node_addr}/30", "dev", node_if)
        _ip("-n", ns, "link", "set", node_if, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        yield ns, node_addr, host_addr
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def ns_node(netns, tmp_path):
    ns, node_addr, _host_addr = netns
    log = tmp_path / "node.log"
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-m", "ringcache", "server", "--port", "0",
         "--save", "", "--bind", f"{node_addr} 127.0.0.1", "--enable-protected-configs", "local"],
        cwd=tmp_path, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    node = Node(proc, wait_ready(proc, log), log)
    node.host = node_addr
    yield node, ns
    node.stop()


def _first_reply(host: str, port: int, payload: bytes) -> tuple[bytes, bool]:
    """What the node answers to payload, and whether it closed afterwards."""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(payload)
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                return data, True
            data += chunk
        sock.settimeout(2)
        try:
            closed = sock.recv(1) == b""
        except ConnectionResetError:  # closed with our request unread
            closed = True
        except socket.timeout:
            closed = False
        return data, closed


def _local_cli(ns: str, port: int, *args: str) -> str:
    out = subprocess.run(["ip", "netns", "exec", ns, "redis-cli", "-p", str(port), *args],
                         check=True, capture_output=True, text=True, timeout=10)
    return out.stdout.strip()


def test_protected_mode_refuses_remote_clients_until_a_password_or_opt_out(ns_node):
    node, ns = ns_node
    reply, closed = _first_reply(node.host, node.port, b"PING\r\n")
    assert reply.startswith(DENIED) and reply.endswith(b"from the outside.\r\n")
    assert closed
    # A loopback client is served, and sees the refusal counted.
    assert _local_cli(ns, node.port, "PING") == "PONG"
    assert "rejected_connections:1" in _local_cli(ns, node.port, "INFO", "stats")
    # A password for the default user opens the door (to clients that know it).
    assert _local_cli(ns, node.port, "CONFIG", "SET", "requirepass", "s3cret") == "OK"
    reply, closed = _first_reply(node.host, node.port, b"PING\r\n")
    assert reply == b"-NOAUTH Authentication required.\r\n" and not closed
    assert _local_cli(ns, node.port, "-a", "s3cret", "--no-auth-warning",
                      "CONFIG", "SET", "requirepass", "") == "OK"
    # So does turning protected mode off.
    assert _local_cli(ns, node.port, "CONFIG", "SET", "protected-mode", "no") == "OK"
    remote = redis.Redis(host=node.host, port=node.port, socket_timeout=10)
    assert remote.ping() is True
    # enable-protected-configs local: dir and dbfilename only from loopback.
    with pytest.raises(redis.ResponseError, match="can't set protected config"):
        remote.config_set("dbfilename", "elsewhere.rdb")
    assert remote.config_get("dbfilename") == {"dbfilename": "dump.rdb"}
    assert _local_cli(ns, node.port, "CONFIG", "SET", "dbfilename", "elsewhere.rdb") == "OK"
    remote.close()


# -- protected configs, default settings ---------------------------------------

def test_protected_configs_are_refused_by_default(r):
    for name, value in (("dir", "/tmp"), ("dbfilename", "x.rdb")):
        with pytest.raises(redis.ResponseError) as info:
            r.config_set(name, value)
        assert str(info.value) == (f"CONFIG SET failed (possibly related to argument '{name}') - "
                                   "can't set protected config")
    assert r.config_get("dbfilename") == {"dbfilename": "dump.rdb"}
    for name in ("enable-protected-configs", "enable-debug-command"):
        with pytest.raises(redis.ResponseError, match="can't set immutable config"):
            r.config_set(name, "yes")


# -- file descriptors ---------------------------------------------------------------

def _spawn_limited(tmp_path: Path, nofile: int, *args: str):
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    log = tmp_path / "node.log"
    # maxclients above fs.nr_open: no process may raise its limit that far, root included.
    proc = subprocess.Popen(
        [sys.executable, "-m", "ringcache", "server", "--port", "0", "--save", "",
         "--maxclients", "2000000", *args],
        cwd=tmp_path, stdout=open(log, "wb"), stderr=subprocess.STDOUT, preexec_fn=limit,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    return proc, log


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_maxclients_fits_the_descriptor_limit(tmp_path):
    proc, log = _spawn_limited(tmp_path, 128)
    node = Node(proc, wait_ready(proc, log), log)
    try:
        text = log.read_text()
        assert "You requested maxclients of 2000000 requiring at least 2000032 max file descriptors." in text
        assert ("Current maximum open files is 128. maxclients has been reduced to 96 to compensate for "
                "low ulimit.") in text
        c = node.client()
        assert c.config_get("maxclients") == {"maxclients": "96"}
        with pytest.raises(redis.ResponseError, match="not able to handle the specified number of clients, "
                                                      "try with 96"):
            c.config_set("maxclients", "500")
        c.close()
        # Twice as many clients as fit: the surplus is told so, nobody hangs,
        # the node does not spin, and the log stays short.
        socks, refused = [], 0
        for _ in range(192):
            sock = socket.create_connection(("127.0.0.1", node.port), timeout=10)
            sock.sendall(b"PING\r\n")
            reply = sock.recv(100)
            if reply == b"+PONG\r\n":
                socks.append(sock)
            else:
                assert reply == b"-ERR max number of clients reached\r\n"
                refused += 1
                sock.close()
        assert len(socks) == 96 and refused == 96
        cpu = _cpu_seconds(proc.pid)
        time.sleep(1.0)
        assert _cpu_seconds(proc.pid) - cpu < 0.5
        for sock in socks:
            sock.close()
        assert log.stat().st_size < 10_000
        c = node.client()
        assert c.ping() is True
        c.close()
    finally:
        node.stop()


def test_too_few_descriptors_to_start_is_a_clear_error(tmp_path):
    proc, log = _spawn_limited(tmp_path, 24)
    assert proc.wait(20) == 1
    assert "is not enough for the server to start" in log.read_text()
