"""tls-cluster on real processes: a 3-shard cluster whose nodes talk to each
other over TLS only (certificates from a throwaway CA, client certificates
required). redis-py's RedisCluster with ssl=True is told TLS ports (CLUSTER
SLOTS, MOVED), a plain client plain ports; CLUSTER SHARDS gives both; a
node that joins later (a non-voter, reaching the map through a seed's TLS
port) gets its slots by a migration over TLS; PUBLISH crosses nodes; the
node-to-node commands are refused on the plain port (so the migration and
the forwarded PUBLISH can only have used TLS)."""

from __future__ import annotations

import io
import socket
import time

import pytest
import redis
from redis.cluster import RedisCluster

from local import local_cluster
from ringcache.cluster import admin
from tests.nodes import start_node
from tests.tlscerts import make_ca, make_cert


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    make_ca(d, "ca")
    make_cert(d, "node", "ca")
    make_cert(d, "client", "ca")
    return d


def _tls_options(certs) -> dict:
    return dict(ssl=True, ssl_ca_certs=str(certs / "ca.crt"), ssl_certfile=str(certs / "client.crt"),
                ssl_keyfile=str(certs / "client.key"), ssl_check_hostname=False)


def _tls_client(certs, port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=10, protocol=2, **_tls_options(certs))


def test_cluster_links_over_tls(tmp_path, certs):
    extra = ["--tls-cert-file", str(certs / "node.crt"), "--tls-key-file", str(certs / "node.key"),
             "--tls-ca-cert-file", str(certs / "ca.crt"), "--tls-auth-clients", "yes",
             "--tls-cluster", "yes", "--tls-replication", "yes"]
    with local_cluster(tmp_path, 3, *extra) as cluster:
        plain_ports = list(cluster.ports)
        tls_ports = [admin.tls_port_for(p) for p in plain_ports]
        # Replies: TLS ports to a TLS client, plain ports to a plain one.
        tls0 = _tls_client(certs, tls_ports[0])
        slots_ports = {entry[2][1] for entry in tls0.execute_command("CLUSTER", "SLOTS")}
        assert slots_ports == set(tls_ports)
        plain0 = cluster.client(0)
        assert {entry[2][1] for entry in plain0.execute_command("CLUSTER", "SLOTS")} \
            == set(plain_ports)
        shards = plain0.execute_command("CLUSTER", "SHARDS")
        nodes = [dict(zip(node[::2], node[1::2])) for shard in shards
                 for node in dict(zip(shard[::2], shard[1::2]))[b"nodes"]]
        assert {(n[b"port"], n[b"tls-port"]) for n in nodes} == set(zip(plain_ports, tls_ports))
        assert f":{tls_ports[1]}@".encode() in tls0.execute_command("CLUSTER", "NODES")

        # A plain-TCP peer is refused; the same commands pass over TLS.
        for command in (("CLUSTER", "PUBLISH", "ch", "m"), ("CLUSTER", "IMPORT", "BEGIN", "1", "0", "0"),
                        ("CLUSTER", "MFPAUSE", "100")):
            with pytest.raises(redis.ResponseError, match="tls-cluster"):
                plain0.execute_command(*command)
        assert tls0.execute_command("CLUSTER", "PUBLISH", "nobody", "m") == 0

        rc = RedisCluster(host="127.0.0.1", port=tls_ports[0], socket_timeout=10,
                          **_tls_options(certs))
        pipe = rc.pipeline()
        for i in range(3000):
            pipe.set(b"k:%d" % i, b"v%d" % i)
        pipe.execute()
        assert {node.port for node in rc.get_nodes()} == set(tls_ports)

        # PUBLISH crosses nodes (forwarded over the TLS links).
        subs = [_tls_client(certs, port).pubsub() for port in tls_ports]
        try:
            for sub in subs:
                sub.subscribe("news")
                assert sub.get_message(timeout=5)["type"] == "subscribe"
            assert _tls_client(certs, tls_ports[1]).publish("news", "hello") == 1
            for sub in subs:
                assert sub.get_message(timeout=10)["data"] == b"hello"
        finally:
            for sub in subs:
                sub.close()

        # A node joins (through a seed's TLS port) and takes slots by migration.
        port = admin.add_node(cluster.dir, timeout=180, out=io.StringIO())
        cmap = cluster.map()
        assert len(cmap.shards) == 4 and not cmap.migrations and cmap.assigned_slots() == 16384
        joined = next(m for m in cmap.members if m.port == port)
        assert joined.tls_port == admin.tls_port_for(port)
        new = _tls_client(certs, admin.tls_port_for(port))
        deadline = time.monotonic() + 60
        while new.dbsize() == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert new.dbsize() > 300  # about a quarter of the keys came to it over TLS
        rc.close()
        rc = RedisCluster(host="127.0.0.1", port=tls_ports[0], socket_timeout=10,
                          **_tls_options(certs))
        assert [rc.get(b"k:%d" % i) for i in range(3000)] == [b"v%d" % i for i in range(3000)]
        rc.close()


def test_replica_and_manual_failover_over_tls(tmp_path, certs):
    # The replica follows its primary on the TLS port (tls-replication), and
    # CLUSTER FAILOVER's pause request (CLUSTER MFPAUSE, refused on the plain
    # port) reaches the primary over TLS.
    extra = ["--tls-cert-file", str(certs / "node.crt"), "--tls-key-file", str(certs / "node.key"),
             "--tls-ca-cert-file", str(certs / "ca.crt"), "--tls-cluster", "yes",
             "--tls-replication", "yes"]
    with local_cluster(tmp_path, 1, *extra, replicas=1) as cluster:
        cmap = cluster.map()
        shard = cmap.shards[0]
        primary, replica = cmap.member(shard.primary), cmap.member(shard.replicas[0])
        rc = RedisCluster(host="127.0.0.1", port=primary.tls_port, socket_timeout=10,
                          **_tls_options(certs))
        for i in range(200):
            rc.set(f"f:{i}", i)
        info = admin.client(replica.port).info("replication")
        assert info["master_link_status"] == "up" and info["master_port"] == primary.tls_port
        assert admin.client(replica.port).execute_command("CLUSTER", "FAILOVER") == b"OK"
        deadline = time.monotonic() + 30
        while cluster.map().shards[0].primary != replica.id and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cluster.map().shards[0].primary == replica.id
        log = (cluster.dir / str(replica.port) / "node.log").read_text()
        assert "Manual failover (default): this node is the primary" in log
        promoted = _tls_client(certs, replica.tls_port)
        assert [promoted.get(f"f:{i}") for i in range(200)] == [b"%d" % i for i in range(200)]
        rc.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_peer_commands_need_a_certificate_and_migrate_speaks_tls(tmp_path, certs):
    # tls-auth-clients no: clients connect without a certificate, but the
    # node-to-node commands need one (Redis's bus always requires one); and
    # with tls-cluster MIGRATE goes over TLS, as Redis's does.
    ports = [_free_port(), _free_port()]
    common = ["--cluster-enabled", "yes", "--tls-cluster", "yes",
              "--tls-cert-file", str(certs / "node.crt"), "--tls-key-file", str(certs / "node.key"),
              "--tls-ca-cert-file", str(certs / "ca.crt"), "--tls-auth-clients", "no"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with start_node(tmp_path / "a", *common, "--tls-port", str(ports[0])) as a, \
            start_node(tmp_path / "b", *common, "--tls-port", str(ports[1])):
        anonymous = redis.Redis(port=ports[0], ssl=True, ssl_ca_certs=str(certs / "ca.crt"),
                                ssl_check_hostname=False, socket_timeout=10)
        assert anonymous.ping()
        with pytest.raises(redis.ResponseError, match="verified certificate"):
            anonymous.execute_command("CLUSTER", "PUBLISH", "ch", "m")
        assert _tls_client(certs, ports[0]).execute_command("CLUSTER", "PUBLISH", "ch", "m") == 0
        plain = a.client()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # (a one-node cluster serves once it has its map)
            try:
                plain.set("moving", "v")
                break
            except redis.RedisError:
                time.sleep(0.1)
        assert plain.execute_command("MIGRATE", "127.0.0.1", ports[1], "moving", 0, 5000) == b"OK"
        assert _tls_client(certs, ports[1]).get("moving") == b"v"
        plain.set("moving2", "v")
        # Toward a plain port the TLS handshake fails: Redis's connect error.
        with pytest.raises(redis.ResponseError, match="IOERR"):
            plain.execute_command("MIGRATE", "127.0.0.1", a.port, "moving2", 0, 2000)
