"""RDB compatibility against the real redis-server (7.0, installed by
scripts/setup.sh): DUMP payloads both ways through RESTORE, an RDB file
written by the codec loaded by redis-server, an RDB file saved by
redis-server read by the codec, and RESTORE's options, errors, events and
write stream next to Redis's. Every value of every type is compared key by
key, with its expiry time to the millisecond (PEXPIRETIME).

redis-server runs with `sanitize-dump-payload yes`, so it deep-checks every
listpack and intset we hand it."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import pytest
import redis

from nodes import ROOT, Node, spawn_node
from support import redis_server, server_ms

from ringcache.persistence import rdb
from ringcache.persistence.rdb import rdb_chunks, read_rdb
from ringcache.storage.hashes import FieldTTLHash
from ringcache.storage.zset import ZSet

@pytest.fixture(scope="module")
def real(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as client:
        yield client


@pytest.fixture
def r(real):
    real.flushall()
    real.config_set("maxmemory-policy", "noeviction")
    real.config_set("notify-keyspace-events", "")
    return real


@pytest.fixture(scope="module")
def module_node(tmp_path_factory):
    node = spawn_node([], tmp_path_factory.mktemp("node") / "node.log")
    yield node
    node.stop()


@pytest.fixture
def n(module_node):
    client = module_node.client()
    client.flushall()
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("notify-keyspace-events", "")
    yield client
    client.close()


# -- datasets ---------------------------------------------------------------------------


def fill(client: redis.Redis, rng: random.Random, count: int = 120, ttl_base: int = 0) -> None:
    """Keys of every type in each encoding redis-server picks for them:
    short, integer, long compressible (LZF in an RDB) and binary strings;
    small and multi-node lists; intsets, small and big sets; listpack and
    hash-table hashes; listpack and skiplist sorted sets. Some keys get an
    absolute expiry time (PEXPIREAT) after ttl_base."""
    pipe = client.pipeline(transaction=False)

    def blob() -> bytes:
        return rng.choice([b"v%d" % rng.randrange(1000), b"%d" % rng.randrange(-10**12, 10**12),
                           os.urandom(rng.randrange(0, 40)), b"abc" * rng.randrange(10, 400)])

    for i in range(count):
        key = b"key:%d:" % i + os.urandom(2)
        kind = i % 5
        big = rng.random() < 0.3
        if kind == 0:
            pipe.set(key, blob())
        elif kind == 1:
            pipe.rpush(key, *[blob() for _ in range(rng.randrange(1, 3000 if big else 20))])
        elif kind == 2:
            if rng.random() < 0.5:
                members = [b"%d" % rng.randrange(-2**40, 2**40) for _ in range(700 if big else 10)]
            else:
                members = [blob() for _ in range(200 if big else 10)]
            pipe.sadd(key, *members)
        elif kind == 3:
            pipe.hset(key, mapping={blob() + b"f%d" % j: blob() for j in range(300 if big else 8)})
        else:
            pipe.zadd(key, {blob() + b"m%d" % j: rng.choice([rng.uniform(-1e6, 1e6), rng.randrange(100),
                                                             float("inf"), float("-inf")])
                            for j in range(300 if big else 8)})
        if ttl_base and rng.random() < 0.3:
            pipe.pexpireat(key, ttl_base + rng.randrange(10_000, 10**8))
    pipe.execute()


def contents(client: redis.Redis) -> dict:
    """key -> (type, value, PEXPIRETIME) of every key of the selected database."""
    keys = sorted(client.keys())
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
    types = pipe.execute()
    for key, kind in zip(keys, types):
        read = {b"string": pipe.get, b"list": lambda k: pipe.lrange(k, 0, -1), b"set": pipe.smembers,
                b"hash": pipe.hgetall, b"zset": lambda k: pipe.zrange(k, 0, -1, withscores=True)}
        read[kind](key)
        pipe.execute_command("PEXPIRETIME", key)
    replies = pipe.execute()
    return {key: (kind, replies[2 * i], replies[2 * i + 1]) for i, (key, kind) in enumerate(zip(keys, types))}


def as_contents(data: dict, expires: dict) -> dict:
    """What contents() reads for a database of ringcache values."""
    out = {}
    for key, value in data.items():
        if isinstance(value, bytes):
            view = (b"string", value)
        elif isinstance(value, deque):
            view = (b"list", list(value))
        elif isinstance(value, set):
            view = (b"set", value)
        elif isinstance(value, dict):
            view = (b"hash", dict(value))
        else:
            view = (b"zset", [(member, score) for member, score in value.items()])
        out[key] = (*view, int(expires[key]) if key in expires else -1)
    return dict(sorted(out.items()))


def decoded_contents(entries: list, db: int) -> dict:
    """contents() of one database from read_rdb's entries."""
    data, expires = {}, {}
    for index, key, value, expire, _, _ in entries:
        if index == db:
            data[key] = value
            if expire is not None:
                expires[key] = expire
    return as_contents(data, expires)


def random_dataset(rng: random.Random, now_ms: int, count: int = 150) -> tuple[dict, dict]:
    """A database of ringcache values (every type, small and big) and expiry times."""
    data: dict = {}
    expires: dict = {}

    def item() -> bytes:
        return rng.choice([b"%d" % rng.randrange(-2**63, 2**63), b"%d" % rng.randrange(300),
                           os.urandom(rng.randrange(0, 70)), b"xyz" * rng.randrange(1, 100)])

    for i in range(count):
        key = b"k:%d:" % i + os.urandom(3)
        size = rng.choice([1, 5, 130, 700])
        kind = i % 5
        if kind == 0:
            data[key] = item()
        elif kind == 1:
            data[key] = deque(item() for _ in range(size * 3))
        elif kind == 2:
            data[key] = ({b"%d" % rng.randrange(-2**50, 2**50) for _ in range(size)}
                         if rng.random() < 0.5 else {item() for _ in range(size)})
        elif kind == 3:
            data[key] = {item() + b"%d" % j: item() for j in range(size)}
        else:
            data[key] = ZSet.from_items((item() + b"%d" % j, rng.choice([rng.uniform(-1e9, 1e9), float(j)]))
                                        for j in range(size))
        if rng.random() < 0.3:
            expires[key] = float(now_ms + rng.randrange(60_000, 10**9))
    return data, expires


# -- DUMP / RESTORE between the two servers -----------------------------------------------


def test_dump_from_redis_restores_here_and_back(r, n):
    rng = random.Random(1)
    fill(r, rng, ttl_base=server_ms(r))
    expected = contents(r)
    assert len(expected) == 120
    for key, (_, _, when) in expected.items():
        assert n.restore(key, max(when, 0), r.dump(key), absttl=True)
    assert contents(n) == expected
    # ... and back: every value DUMPed here RESTOREs into redis-server.
    r.flushall()
    for key, (_, _, when) in expected.items():
        assert r.restore(key, max(when, 0), n.dump(key), absttl=True)
    assert contents(r) == expected


def test_dump_payloads_of_simple_values_are_byte_identical(r, n):
    # Where there is one obvious encoding, ringcache writes Redis's bytes
    # (but for LZF, which the codec never writes: turned off here).
    r.config_set("rdbcompression", "no")
    for client in (r, n):
        client.set("s", "hello")
        client.set("i", "12345")
        client.rpush("l", "a", "1", "-5000", "b" * 100)
        client.hset("h", mapping={"f": "v", "n": "7"})
        client.sadd("si", 3, 1, 2)
        client.zadd("z", {"a": 1, "b": 2.5, "c": -3})
    try:
        for key in ("s", "i", "l", "h", "si", "z"):
            assert n.dump(key)[:-10] == r.dump(key)[:-10], key  # (the footer names the version)
    finally:
        r.config_set("rdbcompression", "yes")


def test_restore_arguments_and_errors_as_redis(r, n):
    payload = r.dump("missing")
    assert payload is None and n.dump("missing") is None
    r.set("src", "value")
    good = r.dump("src")
    cases = [
        ("RESTORE", "k", "0", good),
        ("RESTORE", "k", "0", good),  # BUSYKEY
        ("RESTORE", "k", "0", good, "REPLACE"),
        ("RESTORE", "k2", "-1", good),
        ("RESTORE", "k2", "x", good),
        ("RESTORE", "k2", "0", good[:-1] + bytes([good[-1] ^ 1])),
        ("RESTORE", "k2", "0", good[:-10]),
        ("RESTORE", "k2", "0", b""),
        ("RESTORE", "k2", "0", b"\xee" + good[1:]),  # checksum now wrong
        ("RESTORE", "k2", "0", good, "IDLETIME"),
        ("RESTORE", "k2", "0", good, "IDLETIME", "-1"),
        ("RESTORE", "k2", "0", good, "IDLETIME", "x"),
        ("RESTORE", "k2", "0", good, "FREQ", "256"),
        ("RESTORE", "k2", "0", good, "FREQ", "-1"),
        ("RESTORE", "k2", "0", good, "IDLETIME", "5", "FREQ", "5"),
        ("RESTORE", "k2", "0", good, "FREQ", "5", "IDLETIME", "5"),
        ("RESTORE", "k2", "0", good, "BOGUS"),
        ("RESTORE", "k", "0", good, "BOGUS"),  # options are checked before BUSYKEY
        ("RESTORE", "k", "-1", good),  # BUSYKEY before the TTL
        ("RESTORE", "k3", "1", good, "ABSTTL"),  # already expired: OK, nothing created
        ("RESTORE", "k", "1", good, "ABSTTL", "REPLACE"),  # ... and the old key is deleted
        ("EXISTS", "k", "k3"),
        ("RESTORE", "k4", "100000", good, "IDLETIME", "0", "REPLACE", "ABSTTL"),
        ("PEXPIRETIME", "k4"),
        ("RESTORE",),
        ("RESTORE", "k5", "0"),
        ("DUMP",),
        ("DUMP", "a", "b"),
    ]
    for case in cases:
        replies = []
        for client in (r, n):
            try:
                replies.append(client.execute_command(*case))
            except redis.ResponseError as exc:
                replies.append(f"error: {exc}")
        assert replies[0] == replies[1], (case, replies)


def test_restore_idletime_and_freq(r, n):
    for client in (r, n):
        client.set("src", "v")
        payload = client.dump("src")
        client.restore("idle", 0, payload, idletime=1000)
        assert client.object("idletime", "idle") in (1000, 1001)
        client.config_set("maxmemory-policy", "allkeys-lfu")
        client.restore("freq", 0, payload, frequency=100)
        assert client.object("freq", "freq") == 100
        client.restore("freq-idle", 0, payload, idletime=50)  # ignored under LFU, as Redis
        assert client.object("freq", "freq-idle") == 5  # a new key's counter


def test_restore_events(r, n):
    def events(client):
        client.config_set("notify-keyspace-events", "KEA")
        sub = client.pubsub()
        sub.psubscribe("__keyevent@0__:*")
        sub.get_message(timeout=5)
        client.set("src", "v")
        payload = client.dump("src")
        client.restore("a", 0, payload)
        client.restore("a", 0, payload, replace=True)
        client.restore("b", 1, payload, absttl=True)  # expired: no event
        client.restore("a", 1, payload, absttl=True, replace=True)  # deletes the old key: del
        client.restore("c", 5000, payload)
        client.set("end", "x")  # the last event
        got = []
        while not got or got[-1] != (b"__keyevent@0__:set", b"end"):
            message = sub.get_message(timeout=5)
            assert message is not None, got
            got.append((message["channel"], message["data"]))
        sub.close()
        return got

    expected = events(r)
    assert (b"__keyevent@0__:restore", b"a") in expected
    assert events(n) == expected


def test_restore_goes_to_the_write_stream_with_an_absolute_ttl(tmp_path, r):
    r.set("src", "value")
    payload = r.dump("src")
    node = spawn_node(["--appendonly", "yes"], tmp_path / "node.log")
    try:
        client = node.client()
        client.restore("rel", 3_600_000, payload)
        client.restore("plain", 0, payload)
        client.restore("abs", 4_000_000_000_000, payload, absttl=True)
        client.set("gone", "x")
        client.restore("gone", 1, payload, absttl=True, replace=True)
        when = client.pexpiretime("rel")
        before = contents(client)
    finally:
        node.stop()
    incr = next((tmp_path / "appendonlydir").glob("*.incr.aof")).read_bytes()
    assert b"RESTORE\r\n$3\r\nrel\r\n$13\r\n%d\r\n" % when in incr
    assert incr.count(b"ABSTTL") == 2  # rel (made absolute) and abs (as sent)
    assert b"*2\r\n$3\r\nDEL\r\n$4\r\ngone\r\n" in incr
    node = spawn_node(["--appendonly", "yes"], tmp_path / "node.log")  # replays the AOF
    try:
        assert contents(node.client()) == before
    finally:
        node.stop()


def redis_version(client: redis.Redis) -> tuple[int, ...]:
    return tuple(int(part) for part in client.info("server")["redis_version"].split(".")[:2])


def test_hash_field_ttls_need_redis_7_4(r, n):
    n.hset("h", mapping={"a": "1", "b": "2"})
    deadline = server_ms(n) + 3_600_000
    n.hpexpireat("h", deadline, "a")
    payload = n.dump("h")
    assert payload[-10:-8] == b"\x0c\x00"  # RDB 12: Redis 7.4's HASH_METADATA
    if redis_version(r) >= (7, 4):
        r.restore("h", 0, payload)
        assert r.hpexpiretime("h", "a", "b") == [deadline, -1]
    else:
        with pytest.raises(redis.ResponseError, match="DUMP payload version or checksum are wrong"):
            r.restore("h", 0, payload)  # redis-server 7.0-7.2 refuse it whole
    n.restore("copy", 0, payload)
    assert n.hgetall("copy") == {b"a": b"1", b"b": b"2"}
    assert n.hpexpiretime("copy", "a", "b") == [deadline, -1]


# -- RDB files ------------------------------------------------------------------------------


def test_an_rdb_written_by_the_codec_loads_in_redis_server(tmp_path):
    rng = random.Random(2)
    now = int(time.time() * 1000)
    db0, expires0 = random_dataset(rng, now)
    db3, expires3 = random_dataset(rng, now, 40)
    with open(tmp_path / "dump.rdb", "wb") as out:
        for chunk in rdb_chunks([(0, db0, expires0), (3, db3, expires3)], now,
                                aux={"redis-bits": 64, "ctime": now // 1000, "aof-base": 0}):
            out.write(chunk)
    check = subprocess.run(["redis-check-rdb", str(tmp_path / "dump.rdb")], capture_output=True,
                           text=True, timeout=60)
    assert "RDB looks OK" in check.stdout, check.stdout
    with redis_server(tmp_path, "--dbfilename", "dump.rdb") as client:
        assert contents(client) == as_contents(db0, expires0)
        client.select(3)
        assert contents(client) == as_contents(db3, expires3)


def test_an_rdb_saved_by_redis_server_is_read_by_the_codec(tmp_path):
    rng = random.Random(3)
    with redis_server(tmp_path, "--dbfilename", "saved.rdb") as client:
        fill(client, rng, ttl_base=server_ms(client))
        client.set("compressible", "a" * 5000)  # LZF in the file
        client.select(5)
        fill(client, rng, count=30)
        expected5 = contents(client)
        client.select(0)
        expected0 = contents(client)
        client.save()
    with open(tmp_path / "saved.rdb", "rb") as source:
        reader = rdb.RDBReader(source, "saved.rdb")
        entries: list = []
        aux = reader.load(lambda *entry: entries.append(entry), time.time() * 1000)
    assert reader.version >= 10 and reader.checksum_checked
    assert aux[b"redis-ver"].startswith(b"7.")
    assert decoded_contents(entries, 0) == expected0
    assert decoded_contents(entries, 5) == expected5


def test_codec_and_redis_agree_on_a_saved_file_through_both_directions(tmp_path):
    """A file from the codec, loaded and SAVEd by redis-server, reads back as
    the original dataset (everything survives the two conversions)."""
    rng = random.Random(4)
    now = int(time.time() * 1000)
    data, expires = random_dataset(rng, now, 60)
    (tmp_path / "dump.rdb").write_bytes(b"".join(rdb_chunks([(0, data, expires)], now)))
    with redis_server(tmp_path, "--dbfilename", "dump.rdb") as client:
        client.save()
    loaded, _ = read_rdb(io.BytesIO((tmp_path / "dump.rdb").read_bytes()), now)
    assert decoded_contents(loaded, 0) == as_contents(data, expires)


def test_field_ttl_hashes_in_files_read_back_here(tmp_path, r):
    now = int(time.time() * 1000)
    value = FieldTTLHash({b"a": b"1", b"b": b"2"})
    value.set_field_expire(b"a", float(now + 60_000))
    image = b"".join(rdb_chunks([(0, {b"h": value, b"s": b"x"}, {})], now))
    assert image[:9] == b"REDIS0012"
    (tmp_path / "dump.rdb").write_bytes(image)
    check = subprocess.run(["redis-check-rdb", str(tmp_path / "dump.rdb")], capture_output=True,
                           text=True, timeout=60)
    if redis_version(r) < (7, 4):  # 7.0-7.2: refused whole, never half
        assert "Can't handle RDB format version 12" in check.stdout
    loaded, _ = read_rdb(io.BytesIO(image), now)
    assert dict(loaded[0][2].field_expires) == {b"a": float(now + 60_000)}


# -- the node's dump.rdb is an RDB file ------------------------------------------------------


def _node_in(tmp_path: Path, *args: str) -> Node:
    return spawn_node(list(args), tmp_path / "node.log")


def _contents_of_dbs(client: redis.Redis, dbs: tuple[int, ...]) -> dict:
    out = {}
    for db in dbs:
        client.select(db)
        out[db] = contents(client)
    client.select(0)
    return out


@pytest.mark.parametrize("how", ["save", "bgsave"])
def test_a_ringcache_dump_rdb_loads_in_redis_server(tmp_path, how):
    node = _node_in(tmp_path)
    try:
        client = node.client()
        fill(client, random.Random(5), ttl_base=server_ms(client))
        client.select(2)
        fill(client, random.Random(6), count=20)
        client.select(0)
        expected = _contents_of_dbs(client, (0, 2))
        if how == "save":
            client.save()
        else:
            client.bgsave()
            # (Not LASTSAVE: it has one-second resolution, so a save finished
            # within the second of the previous one leaves it unchanged.)
            deadline = time.monotonic() + 30
            while True:
                persistence = client.info("persistence")
                if not persistence["rdb_bgsave_in_progress"] and not persistence["rdb_changes_since_last_save"]:
                    break
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert persistence["rdb_last_bgsave_status"] == "ok"
    finally:
        node.stop()
    assert (tmp_path / "dump.rdb").read_bytes()[:9] == b"REDIS0010"
    with redis_server(tmp_path, "--dbfilename", "dump.rdb") as client:
        assert _contents_of_dbs(client, (0, 2)) == expected


def test_a_redis_server_dump_rdb_loads_in_a_node(tmp_path):
    with redis_server(tmp_path, "--dbfilename", "dump.rdb") as client:
        fill(client, random.Random(7), ttl_base=server_ms(client))
        client.set("compressible", "z" * 3000)  # LZF
        client.select(9)
        fill(client, random.Random(8), count=20)
        client.select(0)
        expected = _contents_of_dbs(client, (0, 9))
        client.save()
    node = _node_in(tmp_path)
    try:
        client = node.client()
        assert _contents_of_dbs(client, (0, 9)) == expected
        assert client.info("persistence")["rdb_last_load_keys_loaded"] == sum(map(len, expected.values()))
        # ... and saved again by the node, it still loads in redis-server.
        client.save()
    finally:
        node.stop()
    with redis_server(tmp_path, "--dbfilename", "dump.rdb") as client:
        assert _contents_of_dbs(client, (0, 9)) == expected


def test_function_libraries_move_between_the_servers_in_dump_rdb(tmp_path):
    """A redis-server dump.rdb with a function library loads in ringcache
    (FUNCTION2 records), and ringcache's snapshot of it loads back."""
    library = "#!lua name=mylib\nredis.register_function('f', function() return 1 end)"
    with redis_server(tmp_path, "--dbfilename", "dump.rdb") as client:
        client.set("k", "v")
        client.function_load(library)
        client.save()
    node = spawn_node(["--dir", str(tmp_path)], tmp_path / "node.log")
    try:
        client = node.client()
        assert client.get("k") == b"v" and client.fcall("f", 0) == 1
        client.function_load("#!lua name=second\nredis.register_function('g', function() return 2 end)")
        client.save()
    finally:
        node.stop()
    with redis_server(tmp_path, "--dbfilename", "dump.rdb") as client:
        assert client.get("k") == b"v" and client.fcall("f", 0) == 1 and client.fcall("g", 0) == 2


def test_an_old_rcsnap_dump_rdb_still_loads(tmp_path):
    from ringcache.persistence.snapshot import rcsnap_chunks

    now = int(time.time() * 1000)
    data = {b"s": b"v", b"l": deque([b"a", b"b"]), b"z": ZSet.from_items([(b"m", 2.0)])}
    (tmp_path / "dump.rdb").write_bytes(b"".join(rcsnap_chunks([(0, data, {b"s": now + 600_000})], now)))
    node = _node_in(tmp_path)
    try:
        client = node.client()
        assert client.get("s") == b"v" and client.pexpiretime("s") == now + 600_000
        assert client.lrange("l", 0, -1) == [b"a", b"b"] and client.zscore("z", "m") == 2.0
        client.save()  # written as RDB from now on
    finally:
        node.stop()
    assert (tmp_path / "dump.rdb").read_bytes()[:5] == b"REDIS"


def test_the_aof_base_is_an_rdb_file(tmp_path):
    node = _node_in(tmp_path, "--appendonly", "yes")
    try:
        client = node.client()
        client.set("k", "v")
        client.bgrewriteaof()
        deadline = time.monotonic() + 30
        while client.info("persistence")["aof_rewrite_in_progress"] or not list(
                (tmp_path / "appendonlydir").glob("*.base.rdb")):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        node.stop()
    [base] = (tmp_path / "appendonlydir").glob("*.base.rdb")
    check = subprocess.run(["redis-check-rdb", str(base)], capture_output=True, text=True, timeout=60)
    assert "RDB looks OK" in check.stdout, check.stdout
