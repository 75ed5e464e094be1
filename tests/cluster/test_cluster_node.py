"""Cluster mode on real node processes: a one-node cluster (in-process control
plane) for the command surface and error texts, and a three-shard cluster
started by `ringcache cluster up` (Raft among the three processes) for
routing, agreement and the tools that Redis Cluster users already have:
redis-py RedisCluster (sync and asyncio), redis-cli -c, redis-cli --cluster
check, redis-benchmark --cluster."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
import redis
import redis.asyncio
from redis.cluster import RedisCluster

from local import local_cluster
from nodes import start_node
from support import RawConn
from ringcache.storage.slots import SLOTS, key_slot

def raw(port: int, *argv) -> bytes:
    """One command on a raw connection: the reply's exact bytes."""
    class At:
        host = "127.0.0.1"

    At.port = port
    conn = RawConn(At)
    try:
        conn.send(*argv)
        return conn.read_reply()
    finally:
        conn.close()


# -- one node ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    with start_node(tmp_path_factory.mktemp("single"), "--cluster-enabled", "yes") as node:
        c = node.client()
        for _ in range(200):  # the join runs in a thread: wait until it serves
            if b"cluster_state:ok" in c.execute_command("CLUSTER", "INFO"):
                break
            import time

            time.sleep(0.02)
        yield node


@pytest.fixture
def one(single):
    c = single.client()
    c.flushall()
    yield c
    c.close()


def test_one_node_serves_every_slot(one):
    info = one.execute_command("CLUSTER", "INFO").decode()
    assert "cluster_state:ok" in info and "cluster_slots_assigned:16384" in info
    myid = one.execute_command("CLUSTER", "MYID").decode()
    assert len(myid) == 40
    slots = one.execute_command("CLUSTER", "SLOTS")
    assert [s[:2] for s in slots] == [[0, 16383]]
    assert slots[0][2][2].decode() == myid
    nodes = one.execute_command("CLUSTER", "NODES").decode()
    assert nodes.startswith(f"{myid} 127.0.0.1:") and "myself,master" in nodes
    assert nodes.rstrip("\n").endswith(" 0-16383")
    assert one.info("cluster") == {"cluster_enabled": 1}
    assert one.info("server")["redis_mode"] == "cluster"
    assert len(one.execute_command("CLUSTER", "MYSHARDID")) == 40
    assert one.execute_command("CLUSTER", "LINKS") == []
    assert one.execute_command("CLUSTER", "REPLICAS", myid) == []


def test_keys_in_slots(one):
    for key in (b"a", b"{user1}x", b"{user1}y", b"{}z"):
        one.set(key, b"1")
    slot = key_slot(b"user1")
    assert one.execute_command("CLUSTER", "KEYSLOT", "{user1}q") == slot
    assert one.execute_command("CLUSTER", "KEYSLOT", "foo") == 12182  # Redis's value
    assert one.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 2
    assert sorted(one.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 10)) == [b"{user1}x",
                                                                               b"{user1}y"]
    assert len(one.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1)) == 1


@pytest.mark.parametrize("argv, error", [
    (["CLUSTER", "COUNTKEYSINSLOT", "x"], "value is not an integer or out of range"),
    (["CLUSTER", "COUNTKEYSINSLOT", "16384"], "Invalid slot"),
    (["CLUSTER", "COUNTKEYSINSLOT", "-1"], "Invalid slot"),
    (["CLUSTER", "GETKEYSINSLOT", "1", "-1"], "Invalid slot or number of keys"),
    (["CLUSTER", "GETKEYSINSLOT", "16384", "1"], "Invalid slot or number of keys"),
    (["CLUSTER", "GETKEYSINSLOT", "x", "1"], "value is not an integer or out of range"),
    (["CLUSTER", "KEYSLOT"], "wrong number of arguments for 'cluster|keyslot' command"),
    (["CLUSTER", "FOO"], "unknown subcommand 'FOO'. Try CLUSTER HELP."),
    (["CLUSTER", "SLOTS", "x"], "wrong number of arguments for 'cluster|slots' command"),
    (["SELECT", "1"], "SELECT is not allowed in cluster mode"),
    (["SELECT", "x"], "value is not an integer or out of range"),
    (["MSET", "a", "1", "b", "2"], "CROSSSLOT Keys in request don't hash to the same slot"),
    (["CLUSTER", "REPLICAS", "0" * 40], "Unknown node " + "0" * 40),
])
def test_errors_as_redis(single, argv, error):
    """Texts as redis-server 7.0.15 in cluster mode answers them (checked by
    hand), byte for byte on a raw connection (redis-py strips some codes)."""
    conn = RawConn(single)
    try:
        conn.send(*argv)
        expected = error if error.startswith(("CROSSSLOT", "CLUSTERDOWN", "MOVED")) else "ERR " + error
        assert conn.read_reply() == b"-%s\r\n" % expected.encode()
    finally:
        conn.close()


def test_select_zero_and_same_slot_multikey(one):
    assert one.execute_command("SELECT", "0")
    assert one.mset({"{t}a": 1, "{t}b": 2})
    assert one.mget("{t}a", "{t}b") == [b"1", b"2"]


def test_readonly_readwrite_asking(one):
    assert one.execute_command("READONLY")
    assert one.set("k", "v") and one.get("k") == b"v"
    assert one.execute_command("READWRITE")
    assert one.execute_command("ASKING")
    assert one.get("k") == b"v"


def test_transaction_is_one_unit(one):
    """Each queued command is checked when queued; EXEC checks them all
    together: keys of two slots in one transaction get CROSSSLOT, and the
    transaction is discarded."""
    p = one.pipeline(transaction=True)
    p.set("a", 1).set("b", 2)
    with pytest.raises(redis.ResponseError, match="^Keys in request don't hash to the same slot$"):
        p.execute()  # (redis-py strips the CROSSSLOT code)
    assert one.exists("a") == 0 and one.exists("b") == 0
    assert one.execute_command("PING") is True  # no transaction left open
    p = one.pipeline(transaction=True)
    p.set("{x}a", 1).incr("{x}b").get("{x}a")
    assert p.execute() == [True, 1, b"1"]


def test_cluster_disabled_elsewhere(node):
    c = node.client()
    for argv in (["CLUSTER", "INFO"], ["CLUSTER", "KEYSLOT", "a"], ["READONLY"], ["READWRITE"],
                 ["ASKING"]):
        with pytest.raises(redis.ResponseError, match="This instance has cluster support disabled"):
            c.execute_command(*argv)
    assert c.info("cluster") == {"cluster_enabled": 0}
    assert c.mset({"a": 1, "b": 2})  # no slot checks off cluster mode


def test_unassigned_slots_are_not_served(tmp_path):
    """A Raft cluster of one whose map never got slots: keyed commands get
    CLUSTERDOWN Hash slot not served, keyless ones run."""
    from local import free_base

    port = free_base(1)
    with start_node(tmp_path, "--cluster-enabled", "yes", "--cluster-port", str(port + 10000),
                    "--cluster-announce-ip", "127.0.0.1",
                    "--cluster-voters", f"127.0.0.1:{port + 10000}",
                    "--cluster-password", "pw") as node:
        c = node.client()
        assert raw(node.port, "GET", "a") == b"-CLUSTERDOWN Hash slot not served\r\n"
        assert c.ping()
        assert b"cluster_state:fail" in c.execute_command("CLUSTER", "INFO")


# -- three shards ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    with local_cluster(tmp_path_factory.mktemp("three"), 3) as cluster:
        yield cluster


def test_up_prints_how_to_connect(three):
    assert f"redis-cli -c -p {three.ports[0]}" in three.output
    assert "all 16384 slots served" in three.output


def test_every_node_agrees_on_the_map(three):
    maps = [three.client(i).execute_command("CLUSTER", "SLOTS") for i in range(3)]
    assert maps[0] == maps[1] == maps[2]
    assert sum(end - start + 1 for start, end, *_ in maps[0]) == SLOTS
    owners = {entry[2][1] for entry in maps[0]}
    assert owners == set(three.ports)
    nodes = [three.client(i).execute_command("CLUSTER", "NODES").decode() for i in range(3)]
    for i, text in enumerate(nodes):
        lines = text.splitlines()
        assert len(lines) == 3
        mine = [line for line in lines if "myself" in line]
        assert len(mine) == 1 and f":{three.ports[i]}@" in mine[0]


def test_moved_to_the_owner(three):
    cmap = three.map()
    for key in (b"foo", b"bar", b"{user}1", b"zz"):
        slot = key_slot(key)
        owner = cmap.primary_of_slot(slot)
        for i, port in enumerate(three.ports):
            c = three.client(i)
            if port == owner.port:
                c.set(key, b"v")
                assert c.get(key) == b"v"
            else:
                assert raw(port, "GET", key) == b"-MOVED %d 127.0.0.1:%d\r\n" % (slot, owner.port)


def test_redis_py_cluster_sync(three):
    rc = RedisCluster(host="127.0.0.1", port=three.ports[1], socket_timeout=10)
    try:
        for i in range(200):
            rc.set(f"key:{i}", i)
        assert [rc.get(f"key:{i}") for i in range(0, 200, 37)] == [
            str(i).encode() for i in range(0, 200, 37)]
        pipe = rc.pipeline()
        for i in range(50):
            pipe.incr(f"counter:{i}")
        assert pipe.execute() == [1] * 50
        assert rc.mget_nonatomic([f"key:{i}" for i in range(10)]) == [
            str(i).encode() for i in range(10)]
        total = sum(three.client(i).dbsize() for i in range(3))
        assert total >= 250
        assert all(three.client(i).dbsize() > 0 for i in range(3))  # spread over the shards
    finally:
        rc.close()


def test_redis_py_cluster_asyncio(three):
    async def run():
        rc = redis.asyncio.RedisCluster(host="127.0.0.1", port=three.ports[2])
        try:
            await asyncio.gather(*(rc.set(f"async:{i}", i) for i in range(100)))
            values = await asyncio.gather(*(rc.get(f"async:{i}") for i in range(100)))
            assert values == [str(i).encode() for i in range(100)]
            pipe = rc.pipeline()
            for i in range(20):
                pipe.get(f"async:{i}")
            assert await pipe.execute() == [str(i).encode() for i in range(20)]
        finally:
            await rc.aclose()

    asyncio.run(run())


def _cli(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["redis-cli", *args], input=stdin, capture_output=True, text=True,
                          timeout=60)
    return done.stdout + done.stderr


def test_redis_cli_follows_redirects(three):
    port = str(three.ports[0])
    for key in ("alpha", "beta", "gamma", "delta"):
        assert _cli("-c", "-p", port, "SET", key, key + "!").strip() == "OK"
        assert _cli("-c", "-p", port, "GET", key).strip() == key + "!"


def test_redis_cli_cluster_check(three):
    out = _cli("--cluster", "check", f"127.0.0.1:{three.ports[0]}")
    assert "[OK] All nodes agree about slots configuration." in out
    assert "[OK] All 16384 slots covered." in out
    assert "[ERR]" not in out and "[WARNING]" not in out
    info = _cli("--cluster", "info", f"127.0.0.1:{three.ports[0]}")
    assert info.count("slots") >= 3


def test_redis_benchmark_cluster(three):
    done = subprocess.run(["redis-benchmark", "--cluster", "-p", str(three.ports[0]), "-t",
                           "set,get", "-n", "3000", "-c", "10", "-r", "1000", "-q"],
                          capture_output=True, text=True, timeout=120)
    out = done.stdout.replace("\r", "\n")
    assert "SET:" in out and "GET:" in out and "requests per second" in out
    assert "error" not in out.lower() and done.returncode == 0


def test_cluster_status(three):
    import io

    from ringcache.cluster import admin

    out = io.StringIO()
    cmap = admin.cluster_status(three.ports[0], out=out)
    text = out.getvalue()
    assert "16384/16384 slots assigned" in text
    assert text.count("shard ") == 3 and len(cmap.shards) == 3


def test_movable_keys_route_by_command_getkeys(three):
    """redis-py asks COMMAND GETKEYS for movable-key commands (ZUNIONSTORE)."""
    assert raw(three.ports[0], "COMMAND", "GETKEYS", "ZUNIONSTORE", "d", "2", "a", "b") == (
        b"*3\r\n$1\r\nd\r\n$1\r\na\r\n$1\r\nb\r\n")
    rc = RedisCluster(host="127.0.0.1", port=three.ports[0], socket_timeout=10)
    try:
        rc.zadd("{z}a", {"m": 1})
        rc.zadd("{z}b", {"m": 2})
        assert rc.zunionstore("{z}dest", ["{z}a", "{z}b"]) == 1
        assert rc.zscore("{z}dest", "m") == 3.0
    finally:
        rc.close()
    cmap = three.map()
    slot = key_slot(b"z")
    other = next(p for p in three.ports if p != cmap.primary_of_slot(slot).port)
    assert raw(other, "ZUNIONSTORE", "{z}d", "1", "{z}a") == b"-MOVED %d 127.0.0.1:%d\r\n" % (
        slot, cmap.primary_of_slot(slot).port)
    assert raw(other, "ZUNIONSTORE", "{z}d", "2", "{z}a", "{y}b").startswith(b"-CROSSSLOT")


def test_refused_command_in_multi_aborts_exec(three):
    cmap = three.map()
    port = three.ports[0]
    foreign = next(b"k%d" % i for i in range(10000)
                   if cmap.primary_of_slot(key_slot(b"k%d" % i)).port != port)
    conn = RawConn(type("At", (), {"host": "127.0.0.1", "port": port}))
    try:
        conn.send("MULTI")
        assert conn.read_reply() == b"+OK\r\n"
        conn.send("SET", foreign, "1")
        assert conn.read_reply().startswith(b"-MOVED ")
        conn.send("EXEC")
        assert conn.read_reply() == (b"-EXECABORT Transaction discarded because of previous "
                                     b"errors.\r\n")
    finally:
        conn.close()


def test_sharded_pubsub_follows_the_slot(three):
    cmap = three.map()
    slot = key_slot(b"news")
    owner = cmap.primary_of_slot(slot).port
    other = next(p for p in three.ports if p != owner)
    assert raw(other, "SPUBLISH", "news", "x") == b"-MOVED %d 127.0.0.1:%d\r\n" % (slot, owner)
    assert raw(other, "SSUBSCRIBE", "news") == b"-MOVED %d 127.0.0.1:%d\r\n" % (slot, owner)
    sub = admin_client(owner).pubsub()
    try:
        sub.ssubscribe("news")
        assert sub.get_sharded_message(timeout=5)["type"] == "ssubscribe"
        assert admin_client(owner).spublish("news", "hello") == 1
        assert sub.get_sharded_message(timeout=5)["data"] == b"hello"
    finally:
        sub.close()


def admin_client(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=10, protocol=2)


def test_publish_reaches_subscribers_on_every_node(three):
    subs = [admin_client(port).pubsub() for port in three.ports]
    try:
        for sub in subs:
            sub.subscribe("everywhere")
            assert sub.get_message(timeout=5)["type"] == "subscribe"
        patterned = admin_client(three.ports[2]).pubsub()
        patterned.psubscribe("every*")
        assert patterned.get_message(timeout=5)["type"] == "psubscribe"
        # The reply counts this node's receivers only, as in Redis Cluster.
        assert admin_client(three.ports[0]).publish("everywhere", "one") == 1
        for n in range(2, 6):
            local = 2 if n % 3 == 2 else 1  # node 2 also has the pattern subscriber
            assert admin_client(three.ports[n % 3]).publish("everywhere", str(n)) == local
        # Messages from different nodes may interleave; each arrives once.
        for sub in subs:
            got = [sub.get_message(timeout=5)["data"] for _ in range(5)]
            assert sorted(got) == sorted([b"one", b"2", b"3", b"4", b"5"])
        got = [patterned.get_message(timeout=5)["data"] for _ in range(5)]
        assert sorted(got) == sorted([b"one", b"2", b"3", b"4", b"5"])
        for sub in subs + [patterned]:
            assert sub.get_message(timeout=0.2) is None  # exactly once each
        patterned.close()
    finally:
        for sub in subs:
            sub.close()
