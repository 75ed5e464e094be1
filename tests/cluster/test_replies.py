"""CLUSTER SLOTS / SHARDS / NODES / REPLICAS / INFO against redis-server's bytes.

redis70_replies.json holds what a real Redis Cluster (7.0.15, 3 primaries and
3 replicas, made with `redis-cli --cluster create`) answered, RESP2 and RESP3,
healthy and then with a hostname announced on one primary and one replica
failed. Each test builds the same cluster as a ClusterMap, takes from Redis's
own replies only what a live node measures (ping/pong times, link, failure
flags, replication offsets, message counters: the NodeStatus), and checks
that cluster/replies.py encodes to the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import hiredis
import pytest

from ringcache.cluster import replies
from ringcache.cluster.replies import NodeStatus
from ringcache.cluster.topology import ClusterMap, Member, Shard
from ringcache.protocol.errors import CommandError
from ringcache.protocol.resp import encode

CAPTURE = json.loads((Path(__file__).parent / "redis70_replies.json").read_text())

N1, N2, N3 = ("4e7ce21247801c0d2873682fc304189477cc868b", "d323e012264991fae81aab4556a5c4967323ae33",
              "14beb4442d08a19b7a600958d199f22b1e57d68b")  # primaries on 30101..30103
R1, R2, R3 = ("26090fad33b2accf1db303d1fc11b18b33ebdd40", "21072773498773a98b21472c258a5832764613b2",
              "244a74a65fe069715979d42c1be2a27cf05965c7")  # their replicas on 30105, 30106, 30104
PORTS = {N1: 30101, N2: 30102, N3: 30103, R3: 30104, R1: 30105, R2: 30106}


def redis_bytes(state: str, name: str, protocol: int) -> bytes:
    return CAPTURE[state][f"{name}_resp{protocol}"].encode("latin-1")


def parse(data: bytes):
    reader = hiredis.Reader()
    reader.feed(data)
    return reader.gets()


def the_cluster(state: str) -> ClusterMap:
    hostname = "cache-3.example" if state == "failed" else ""
    members = [Member(node, "127.0.0.1", port, port + 10000, hostname if node == N3 else "")
               for node, port in PORTS.items()]
    shards = [Shard("a" * 40, N1, (R1,), 1), Shard("b" * 40, N2, (R2,), 2),
              Shard("c" * 40, N3, (R3,), 3)]
    slots = [(0, 5460, "a" * 40), (5461, 10922, "b" * 40), (10923, 16383, "c" * 40)]
    return ClusterMap(epoch=6, members=tuple(members), shards=tuple(shards), slots=tuple(slots))


def as_dict(value):
    """A map as hiredis reads it: a dict in RESP3, flat pairs in RESP2."""
    return value if isinstance(value, dict) else dict(zip(value[::2], value[1::2]))


def statuses(state: str, nodes_reply: str = "nodes", protocol: int = 2) -> dict[str, NodeStatus]:
    """The live part, read back from Redis's CLUSTER NODES (or REPLICAS) and
    SHARDS replies of the same capture (times and offsets moved between
    captures)."""
    offsets = {}
    for shard in map(as_dict, parse(redis_bytes(state, "shards", protocol))):
        for node in map(as_dict, shard[b"nodes"]):
            offsets[node[b"id"].decode()] = node[b"replication-offset"]
    found = {}
    lines = parse(redis_bytes(state, nodes_reply, protocol))
    lines = lines if isinstance(lines, list) else lines.split(b"\n")
    for line in (line.decode() for line in lines if line):
        fields = line.split()
        flags = fields[2].split(",")
        health = "fail" if "fail" in flags else "pfail" if "fail?" in flags else "ok"
        found[fields[0]] = NodeStatus(int(fields[4]), int(fields[5]), fields[7] == "connected",
                                      health, offsets[fields[0]])
    return found


STATES = ["healthy", "failed"]


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("state", STATES)
def test_cluster_slots_is_byte_exact(state, protocol):
    reply = replies.cluster_slots(the_cluster(state), statuses(state))
    assert encode(reply, protocol) == redis_bytes(state, "slots", protocol)


def test_cluster_slots_leaves_out_failed_and_unsynced_replicas():
    cmap = the_cluster("healthy")
    live = statuses("healthy")
    assert [len(entry) for entry in replies.cluster_slots(cmap, live)] == [4, 4, 4]
    live[R1] = NodeStatus(repl_offset=0)  # not synced yet
    live[R3] = NodeStatus(repl_offset=99, health="fail")
    live[R2] = NodeStatus(repl_offset=99, health="pfail")  # only suspected: still listed
    assert [len(entry) for entry in replies.cluster_slots(cmap, live)] == [3, 4, 3]


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("state", STATES)
def test_cluster_shards_is_byte_exact(state, protocol):
    reply = replies.cluster_shards(the_cluster(state), statuses(state, protocol=protocol))
    assert encode(reply, protocol) == redis_bytes(state, "shards", protocol)


def test_cluster_shards_says_loading_for_a_replica_that_has_not_synced():
    cmap = the_cluster("healthy")
    live = statuses("healthy")
    live[R1] = NodeStatus(repl_offset=0)
    health = [node[b"health"] for node in replies.cluster_shards(cmap, live)[0][b"nodes"]]
    assert health == [b"online", b"loading"]


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("state, myself, name", [
    ("healthy", N1, "nodes"), ("healthy", R3, "nodes_replica"), ("failed", N1, "nodes")])
def test_cluster_nodes_lines_are_byte_exact(state, myself, name, protocol):
    live = statuses(state, name, protocol)
    ours = encode(replies.cluster_nodes(the_cluster(state), myself, live), protocol)
    theirs = redis_bytes(state, name, protocol)
    # Same framing and length; the same lines (Redis lists them in its hash
    # table's order, which no client relies on).
    assert ours.split(b"\r\n", 1)[0] == theirs.split(b"\r\n", 1)[0]
    assert sorted(parse(ours).split(b"\n")) == sorted(parse(theirs).split(b"\n"))
    assert ours.endswith(b"\n\r\n")


def test_cluster_nodes_flags_a_suspected_node_and_a_broken_link():
    cmap = the_cluster("healthy")
    live = statuses("healthy")
    live[N2] = NodeStatus(ping_sent=5, pong_received=4, connected=False, health="pfail")
    lines = replies.cluster_nodes(cmap, N1, live).decode().splitlines()
    assert f"{N2} 127.0.0.1:30102@40102 master,fail? - 5 4 2 disconnected 5461-10922" in lines
    # myself's link is always connected; a spare is a master with no slots.
    spare = "f" * 40
    cmap = cmap.add_member(Member(spare, "10.0.0.9", 7000, 17000))
    lines = replies.cluster_nodes(cmap, spare, {}).decode().splitlines()
    assert lines[-1] == f"{spare} 10.0.0.9:7000@17000 myself,master - 0 0 0 connected"


def test_cluster_nodes_shows_single_slots_and_several_ranges():
    cmap = ClusterMap(members=(Member("1" * 40, "h", 1, 2),), shards=(Shard("a" * 40, "1" * 40),))
    cmap = cmap.assign_slots("a" * 40, [(0, 0), (5, 9), (16383, 16383)])
    line = replies.cluster_nodes(cmap, "1" * 40, {}).decode()
    assert line == f"{'1' * 40} h:1@2 myself,master - 0 0 1 connected 0 5-9 16383\n"


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("state, myself, name", [
    ("healthy", N1, "info"), ("healthy", R3, "info_replica"), ("failed", N1, "info")])
def test_cluster_info_is_byte_exact(state, myself, name, protocol):
    theirs = redis_bytes(state, name, protocol)
    sent, received = {}, {}
    for line in parse(theirs).decode().splitlines():
        key, _, value = line.partition(":")
        for direction, counts in (("_sent", sent), ("_received", received)):
            if key.startswith("cluster_stats_messages_") and key.endswith(direction) \
                    and key.count("_") == 4:
                counts[key[len("cluster_stats_messages_"):-len(direction)]] = int(value)
    reply = replies.cluster_info(the_cluster(state), myself, statuses(state), sent, received)
    assert encode(reply, protocol) == theirs


def test_cluster_info_counts_failed_and_unassigned_slots():
    cmap = the_cluster("healthy")
    live = {N2: NodeStatus(health="fail"), N3: NodeStatus(health="pfail")}
    text = replies.cluster_info(cmap, N1, live).decode()
    assert "cluster_state:fail\r\n" in text
    assert "cluster_slots_ok:5461\r\ncluster_slots_pfail:5461\r\ncluster_slots_fail:5462\r\n" in text
    bare = ClusterMap(members=(Member("1" * 40, "h", 1, 2),), shards=(Shard("a" * 40, "1" * 40),))
    text = replies.cluster_info(bare.assign_slots("a" * 40, [(0, 99)]), "1" * 40, {}).decode()
    assert text.startswith("cluster_state:fail\r\ncluster_slots_assigned:100\r\n")
    assert "cluster_size:1\r\n" in text and "cluster_stats_messages_sent:0\r\n" in text
    # A node cut off from the control plane says fail even with every slot served.
    assert replies.cluster_info(cmap, N1, {}, healthy=False).startswith(b"cluster_state:fail\r\n")


@pytest.mark.parametrize("protocol", [2, 3])
def test_cluster_replicas_and_its_errors_are_byte_exact(protocol):
    cmap, live = the_cluster("healthy"), statuses("healthy", "replicas", protocol)
    assert encode(replies.cluster_replicas(cmap, N3, R3, live), protocol) == \
        redis_bytes("healthy", "replicas", protocol)
    for node, name in ((R3, "replicas_of_replica"), ("0" * 40, "replicas_unknown")):
        with pytest.raises(CommandError) as raised:
            replies.cluster_replicas(cmap, node, N1, live)
        assert encode(raised.value, protocol) == redis_bytes("healthy", name, protocol)


def test_a_spare_is_a_slotless_shard_of_its_own_as_in_redis():
    spare = "f" * 40
    cmap = the_cluster("healthy").add_member(Member(spare, "10.0.0.9", 7000, 17000))
    shards = replies.cluster_shards(cmap, {})
    assert len(shards) == 4
    assert shards[-1] == {b"slots": [], b"nodes": [{
        b"id": spare.encode(), b"port": 7000, b"ip": b"10.0.0.9", b"endpoint": b"10.0.0.9",
        b"role": b"master", b"replication-offset": 0, b"health": b"online"}]}


def test_tls_cluster_ports_as_redis_70():
    # tls-cluster: a member announces a TLS port; TLS clients are told it
    # (SLOTS, NODES), plain clients the plain port; SHARDS gives both, the
    # TLS one as `tls-port` right after `port` (Redis 7.0's order).
    a, b = "a" * 40, "b" * 40
    cmap = ClusterMap(members=(Member(a, "127.0.0.1", 7000, 17000, tls_port=27000),
                               Member(b, "127.0.0.1", 7001, 17001)))
    cmap = cmap.add_shard(a).with_ring_slots()
    assert {entry[2][1] for entry in replies.cluster_slots(cmap, {}, tls=True)} == {27000}
    assert {entry[2][1] for entry in replies.cluster_slots(cmap, {})} == {7000}
    assert "127.0.0.1:27000@17000" in replies.node_line(cmap, cmap.member(a), a, {}, tls=True)
    assert "127.0.0.1:7001@17001" in replies.node_line(cmap, cmap.member(b), a, {}, tls=True)
    node = replies.cluster_shards(cmap, {})[0][b"nodes"][0]
    assert list(node)[:4] == [b"id", b"port", b"tls-port", b"ip"]
    assert (node[b"port"], node[b"tls-port"]) == (7000, 27000)
    assert b"tls-port" not in replies.cluster_shards(cmap, {})[1][b"nodes"][0]
    # The map keeps the TLS port; a map without one reads as before.
    again = ClusterMap.from_json(cmap.to_json())
    assert again.member(a).tls_port == 27000 and again.member(b).tls_port == 0
    assert "tls_port" not in json.loads(cmap.to_json())["members"][1]
