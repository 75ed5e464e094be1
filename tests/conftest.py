"""Shared fixtures: real node processes on free ports, real clients.

`node` is one ringcache process for the whole test session; each test gets it
flushed. Tests that need their own configuration use `nodes.start_node(...)`
as a context manager.
"""

from __future__ import annotations

import pytest

from nodes import spawn_node
from support import RawConn, connections


@pytest.fixture(scope="session")
def shared_node(tmp_path_factory):
    node = spawn_node([], tmp_path_factory.mktemp("node") / "node.log")
    yield node
    node.stop()


@pytest.fixture
def node(shared_node):
    """The shared node, flushed, with a clean configuration for slowlog etc."""
    client = shared_node.client()
    client.flushall()
    client.close()
    yield shared_node
    assert shared_node.proc.poll() is None, "the node died during the test:\n" + shared_node.log()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def r(node, request):
    """redis-py client, once per protocol version."""
    client = node.client(protocol=request.param)
    yield client
    client.close()


@pytest.fixture
def r2(node):
    client = node.client()
    yield client
    client.close()


@pytest.fixture
def conn(node):
    """conn(protocol=2) -> a RawConn to the node (closed after the test)."""
    yield from connections(RawConn, node)
