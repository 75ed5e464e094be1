"""A ringcache node replicating a real redis-server 7.0 (issue 17), and back: the full
sync from redis-server's RDB, diskless (`$EOF:<mark>` framing, redis-server's
default) and disk-based (`$<length>`), then its command stream while a writer
runs; the offsets agree; `REPLICAOF NO ONE` leaves the node with the same
data and writable: a live migration from Redis. And redis-server 7.0 follows
a ringcache primary the same way."""

from __future__ import annotations

import threading

import pytest

from support import redis_server
from test_replication import cluster, wait_until  # noqa: F401  (fixture)


def snapshot_of(client) -> dict:
    """Every key of databases 0 and 2 with its type, value and whether it
    has a TTL, read through the commands (the two servers' encodings differ)."""
    out = {}
    for db in (0, 2):
        client.execute_command("SELECT", db)
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            kind = kind.decode() if isinstance(kind, bytes) else kind
            if kind == "string":
                value = client.get(key)
            elif kind == "hash":
                value = client.hgetall(key)
            elif kind == "list":
                value = client.lrange(key, 0, -1)
            elif kind == "set":
                value = sorted(client.smembers(key))
            elif kind == "zset":
                value = client.zrange(key, 0, -1, withscores=True)
            else:
                value = kind
            out[(db, key)] = (kind, value, client.pttl(key) > 0)
    client.execute_command("SELECT", 0)
    return out


def fill_redis(client) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(3000):
        pipe.set(f"s:{i}", f"value-{i}" * (1 + i % 5))
        pipe.set(f"n:{i}", i)  # integer-encoded in the RDB
    pipe.set("long", "x" * 50_000)  # LZF-compressed in the RDB
    pipe.hset("h", mapping={f"f{i}": i for i in range(10)})  # listpack
    pipe.hset("bigh", mapping={f"f{i}": "v" * 100 for i in range(300)})  # hashtable
    pipe.rpush("l", *range(50))
    pipe.sadd("iset", *range(20))  # intset
    pipe.sadd("set", *[f"m{i}" for i in range(20)])
    pipe.zadd("z", {f"m{i}": i / 3 for i in range(20)})
    pipe.set("ttl", "v", ex=10_000)
    pipe.execute()
    client.execute_command("SELECT", 2)
    client.set("in-db-2", "yes")
    client.execute_command("SELECT", 0)


class RedisWriter(threading.Thread):
    def __init__(self, client) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.stop = threading.Event()
        self.count = 0

    def run(self) -> None:
        while not self.stop.is_set():
            i = self.count
            pipe = self.client.pipeline(transaction=i % 5 == 0)
            pipe.set(f"w:{i}", i)
            pipe.incr("counter")
            pipe.lpush("wl", i)
            pipe.hincrby("wh", f"f{i % 7}", 1)
            pipe.expire(f"w:{i}", 10_000)
            pipe.execute()
            self.count += 1


@pytest.mark.parametrize("diskless", ["yes", "no"])
def test_replicaof_a_redis_server_then_promote(cluster, tmp_path, diskless):
    node = cluster()
    with redis_server(tmp_path, "--repl-diskless-sync", diskless, "--repl-diskless-sync-delay", "0") as source:
        fill_redis(source)
        writer = RedisWriter(source)
        writer.start()
        try:
            port = source.connection_pool.connection_kwargs["port"]
            with node.client() as c:
                c.execute_command("REPLICAOF", "127.0.0.1", port)
                wait_until(lambda: c.info("replication")["master_link_status"] == "up", 30,
                           "the link with redis-server")
                wait_until(lambda: writer.count > 50, what="writes streamed after the sync")
        finally:
            writer.stop.set()
            writer.join(10)
        with node.client() as c:
            wait_until(lambda: c.info("replication")["master_repl_offset"]
                       == source.info("replication")["master_repl_offset"], 20, "the offsets to agree")
            assert snapshot_of(c) == snapshot_of(source)
            assert source.info("replication")["slave0"]["state"] == "online"
            log = node.log()
            assert ("receiving streamed RDB from master with EOF" in log) == (diskless == "yes")
            # the migration's last step
            assert c.execute_command("REPLICAOF", "NO", "ONE") in (b"OK", True)
            assert c.set("after-migration", "1")
            assert c.get("counter") == source.get("counter") == str(writer.count).encode()


@pytest.mark.parametrize("diskless", ["no", "yes"])
def test_a_redis_server_replicates_a_node(cluster, tmp_path, diskless):
    """The other way round: redis-server 7.0 follows a ringcache primary
    (PSYNC, the node's RDB snapshot, then its stream); with diskless on, the
    snapshot comes straight from the child in the `$EOF:<mark>` framing and
    the stream starts at redis-server's first ACK."""
    node = cluster("--repl-diskless-sync", diskless, "--repl-diskless-sync-delay", "0")
    with node.client() as c:
        fill_redis(c)
        with redis_server(tmp_path, "--replicaof", "127.0.0.1", str(node.port)) as follower:
            wait_until(lambda: follower.info("replication")["master_link_status"] == "up", 30,
                       "redis-server's link")
            writer = RedisWriter(c)
            writer.start()
            wait_until(lambda: writer.count > 50, what="writes streamed")
            writer.stop.set()
            writer.join(10)
            wait_until(lambda: follower.info("replication")["slave_repl_offset"]
                       == c.info("replication")["master_repl_offset"], 20, "the offsets to agree")
            assert snapshot_of(follower) == snapshot_of(c)
        log = (tmp_path / "n0" / "node.log").read_text()
        assert ("Starting BGSAVE for SYNC with target: replicas sockets" in log) == (diskless == "yes")
