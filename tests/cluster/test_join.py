"""Joining refused, with a clear reason, where letting the node in would
lose or mix data (issue 14's bad input): a node that already holds keys, and
a node whose id file was copied from a member that is still alive. The
cluster keeps serving every slot either way."""

from __future__ import annotations

import shutil
import time

import pytest
import redis

from nodes import spawn_node


def wait_until(check, timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def members(node) -> list[str]:
    return node.client().execute_command("CLUSTER", "NODES").decode().splitlines()


@pytest.fixture
def seed(tmp_path):
    (tmp_path / "seed").mkdir()
    node = spawn_node(["--cluster-enabled", "yes"], tmp_path / "seed" / "node.log")
    try:
        wait_until(lambda: b"cluster_state:ok" in node.client().execute_command("CLUSTER", "INFO"),
                   what="the one-node cluster")
        yield node
    finally:
        node.stop()


def test_a_node_holding_data_does_not_join(tmp_path, seed):
    d = tmp_path / "full"
    d.mkdir()
    # A standalone node with keys, saved; then restarted into the cluster.
    alone = spawn_node(["--save", ""], d / "node.log")
    try:
        alone.client().set("precious", "1")
        alone.client().save()
    finally:
        alone.stop()
    node = spawn_node(["--cluster-enabled", "yes", "--cluster-join", f"127.0.0.1:{seed.port}"],
                      d / "node.log")
    try:
        wait_until(lambda: "Not joining the cluster: this node holds data" in node.log(),
                   what="the refusal in the log")
        assert len(members(seed)) == 1
        # It does not serve the key: it sends clients to the slot's owner once
        # it has read the map, and answers CLUSTERDOWN until then.
        with pytest.raises((redis.exceptions.MovedError, redis.exceptions.ClusterDownError)):
            node.client().get("precious")
        assert node.client().dbsize() == 1  # nothing was deleted
        seed.client().set("x", "1")  # the cluster still serves
    finally:
        node.stop()


def test_a_copied_node_id_does_not_take_a_live_members_place(tmp_path, seed):
    join = ["--cluster-enabled", "yes", "--cluster-join", f"127.0.0.1:{seed.port}"]
    (tmp_path / "b").mkdir()
    b = spawn_node(join, tmp_path / "b" / "node.log")
    try:
        wait_until(lambda: len(members(seed)) == 2, what="the second member")
        b_id = b.client().execute_command("CLUSTER", "MYID")
        (tmp_path / "copy").mkdir()
        shutil.copy(tmp_path / "b" / "nodes.conf", tmp_path / "copy" / "nodes.conf")
        copy = spawn_node(join, tmp_path / "copy" / "node.log")
        try:
            assert copy.client().execute_command("CLUSTER", "MYID") == b_id
            wait_until(lambda: "is in use by a live node" in copy.log(), what="the refusal")
            lines = members(seed)
            assert len(lines) == 2
            mine = next(line for line in lines if line.startswith(b_id.decode()))
            assert f":{b.port}@" in mine  # still b's address, not the copy's
        finally:
            copy.stop()
        # b itself, restarted on a new port, is the same member at a new address.
        b.stop()
        b = spawn_node(join, tmp_path / "b" / "node.log")
        wait_until(lambda: any(line.startswith(b_id.decode()) and f":{b.port}@" in line
                               for line in members(seed)), what="b at its new address")
    finally:
        b.stop()


def test_cluster_links_authenticate_as_masteruser(tmp_path):
    """Nodes whose default user has a password of its own reach each other
    as the ACL user `masteruser` names (control plane through a seed, the
    forwarded PUBLISH), as their replication links do."""
    secure = ["--cluster-enabled", "yes", "--requirepass", "admin-secret",
              "--user", "clusterlink on >link-secret ~* &* +@all",
              "--masteruser", "clusterlink", "--masterauth", "link-secret"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = spawn_node(secure, tmp_path / "a" / "node.log")
    b = None
    try:
        admin_a = a.client(password="admin-secret")
        wait_until(lambda: b"cluster_state:ok" in admin_a.execute_command("CLUSTER", "INFO"),
                   what="the one-node cluster")
        b = spawn_node([*secure, "--cluster-join", f"127.0.0.1:{a.port}"],
                       tmp_path / "b" / "node.log")
        admin_b = b.client(password="admin-secret")
        wait_until(lambda: len(admin_a.execute_command("CLUSTER", "NODES").splitlines()) == 2,
                   what="b to join through a's client port")
        sub = admin_a.pubsub()
        sub.subscribe("news")
        assert sub.get_message(timeout=5)["type"] == "subscribe"
        got = None
        for _ in range(50):  # b's link to a opens once b has a map naming a
            admin_b.publish("news", "hello")
            got = sub.get_message(timeout=0.2)
            if got is not None:
                break
        assert got is not None and got["data"] == b"hello"
        sub.close()
    finally:
        if b is not None:
            b.stop()
        a.stop()
