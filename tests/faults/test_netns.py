"""The partition injector really cuts node<->node traffic while the client
(this process, in the root namespace) still reaches every node: three
redis-server processes, one per namespace, probed with TCP connections from
inside the namespaces and from here. Needs root (CI runs as root)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from faults.netns import Namespaces, can_use_namespaces

pytestmark = pytest.mark.skipif(can_use_namespaces() is not None,
                                reason=f"partition tests: {can_use_namespaces()}")

PORT = 7379


def reaches_from(net: Namespaces, i: int, j: int) -> bool:
    """A TCP connection from node i's namespace to node j within 1 s."""
    code = (f"import socket; socket.create_connection(('{net.host(j)}', {PORT}), timeout=1)")
    out = subprocess.run(net.wrap(i) + [sys.executable, "-c", code], capture_output=True, timeout=20)
    return out.returncode == 0


def reaches_from_here(net: Namespaces, j: int) -> bool:
    try:
        with socket.create_connection((net.host(j), PORT), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16) == b"+PONG\r\n"
    except OSError:
        return False


@pytest.fixture
def three():
    net = Namespaces(3)
    procs = []
    try:
        for i in range(3):
            procs.append(subprocess.Popen(
                net.wrap(i) + ["redis-server", "--port", str(PORT), "--bind", net.host(i),
                               "--save", "", "--protected-mode", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while not all(reaches_from_here(net, i) for i in range(3)):
            assert time.monotonic() < deadline, "redis-server did not start in its namespace"
            time.sleep(0.05)
        yield net, procs
    finally:
        for p in procs:
            p.kill()
            p.wait()
        net.close()


def test_partition_cuts_node_links_but_not_the_clients(three):
    net, procs = three
    # ip netns exec runs the server in place: the pid we hold is the server's
    assert open(f"/proc/{procs[0].pid}/comm").read().strip() == "redis-server"
    assert reaches_from(net, 0, 1) and reaches_from(net, 1, 2)
    net.partition(0)
    assert not reaches_from(net, 0, 1)
    assert not reaches_from(net, 2, 0)
    assert reaches_from(net, 1, 2)  # the majority still talks
    assert all(reaches_from_here(net, i) for i in range(3))  # the client reaches all
    net.heal()
    assert reaches_from(net, 0, 1) and reaches_from(net, 2, 0)


def test_close_removes_what_it_made():
    net = Namespaces(2, tag="t9")
    names = [net.ns(0), net.ns(1)]
    net.close()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(n in listed for n in names)
    links = subprocess.run(["ip", "link"], capture_output=True, text=True).stdout
    assert net.bridge not in links
