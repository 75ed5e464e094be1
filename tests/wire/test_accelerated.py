"""The compiled hot path (ringcache/_speedups.pyx) answers exactly as the
pure-Python one.

Two nodes run side by side, one with RINGCACHE_PURE=1. Each seed's random
workload (strings, lists, hashes, sets, sorted sets, streams; wrong types, wrong
arities, unknown commands, syntax errors, MULTI/EXEC, absolute expiry) goes
to both as the same pipelined byte stream, on a RESP2 and a RESP3
connection. Every reply must be byte-identical, and afterwards so must the
whole state: every key with its TYPE, value and PEXPIRETIME, and the command
statistics (calls, failed and rejected calls per command, keyspace hits and
misses). Expiry uses absolute times far in the future, so the two nodes'
clocks, read a few milliseconds apart, cannot make them differ.

When the extension is not built, both nodes run the pure path and the
comparison would compare a path with itself: test_paths_differ fails then,
so that a missing build cannot pass unnoticed (scripts/setup.sh installs
what the build needs). The second node clears RINGCACHE_PURE, so this
module compares the two paths in the suite's pure run too.
"""

from __future__ import annotations

import random
import socket

import hiredis
import pytest

from nodes import spawn_node

SEEDS = range(6)
COMMANDS_PER_SEED = 1500
KEYS = [b"k%d" % i for i in range(12)]
FIELDS = [b"f%d" % i for i in range(6)]
EXPIRE_AT_S = 4_000_000_000  # year 2096: far from either node's clock
ZKEYS = [b"z0", b"z1", b"z2"]
MEMBERS = [b"m%d" % i for i in range(10)]
# Score texts: what the compiled reader takes (decimals, infinities), what it
# hands to parse_score (exponents, hex, long ones), what both refuse.
SCORES = [b"1", b"+1", b"-0", b"0", b"0.0", b"-0.0", b".5", b"5.", b"-.5", b"007", b"1e3", b"1E-2",
          b"inf", b"-inf", b"+inf", b"INF", b"Inf", b"infinity", b"nan", b"-nan", b" 1", b"1 ",
          b"1_0", b"0x10", b"", b".", b"-", b"+", b"1.2.3", b"--1", b"1" * 15, b"9" * 16,
          b"123456789012345678901234", b"1234567890123456789012345", b"0.1", b"2.675",
          b"1e400", b"1e-400", b"x"]
ZRANKS = [(b"0", b"-1"), (b"1", b"3"), (b"-3", b"-1"), (b"5", b"2"), (b"0", b"99999"),
          (b"-99999", b"0"), (b"x", b"1"), (b"0", b"+1"), (b"-0", b"2"), (b"9" * 19, b"1")]
INDEXES = [b"0", b"1", b"-1", b"-2", b"3", b"99", b"-100", b"007", b"+1", b"x", b"9" * 19]
BIG_HASH = [arg for i in range(1030) for arg in (b"f%d" % i, b"v")]  # past PROMOTE_AT


def _encode(argv: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in argv)


def _value(rnd: random.Random) -> bytes:
    return rnd.choice([b"%d" % rnd.randint(-5, 2000), b"x" * rnd.choice([0, 1, 40, 1100]),
                       b"3.5", b"abc", b"-0", b"1e3"])


def _command(rnd: random.Random) -> list[bytes]:
    key, other = rnd.choice(KEYS), rnd.choice(KEYS)
    field, value = rnd.choice(FIELDS), _value(rnd)
    score = rnd.choice([b"1", b"-2.5", b"inf", b"nan", b"3e2", b"x", b"%d" % rnd.randint(0, 99)])
    zkey, member = rnd.choice(ZKEYS), rnd.choice(MEMBERS)
    zscore = rnd.choice(SCORES + [b"%d" % rnd.randint(-99, 99), b"%d.%d" % (rnd.randint(-9, 9), rnd.randint(0, 99))])
    choices = [
        [b"SET", key, value], [b"GET", key], [b"INCR", key], [b"INCRBY", key, value],
        [b"APPEND", key, value], [b"DEL", key, other], [b"EXISTS", key, other],
        [b"MSET", key, value, other, value], [b"MGET", key, other, b"nope"],
        [b"SET", key, value, b"PXAT", b"%d" % (EXPIRE_AT_S * 1000 + rnd.randint(0, 999))],
        [b"EXPIREAT", key, b"%d" % (EXPIRE_AT_S + rnd.randint(0, 9))], [b"PERSIST", key],
        [b"PEXPIRETIME", key], [b"STRLEN", key], [b"GETRANGE", key, b"0", b"3"],
        [b"LPUSH", key, value, value], [b"RPUSH", key, value], [b"LPOP", key],
        [b"RPOP", key, b"2"], [b"LRANGE", key, b"0", b"-1"], [b"LLEN", key],
        [b"HSET", key, field, value], [b"HGET", key, field], [b"HGETALL", key],
        [b"HINCRBY", key, field, b"3"], [b"HDEL", key, field],
        [b"SADD", key, value, field], [b"SISMEMBER", key, field], [b"SMEMBERS", key],
        [b"SREM", key, field], [b"SCARD", key],
        [b"ZADD", key, score, field], [b"ZINCRBY", key, score, field], [b"ZSCORE", key, field],
        [b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"], [b"ZPOPMIN", key], [b"ZCARD", key],
        [b"TYPE", key], [b"GET"], [b"SET", key], [b"NOSUCHCOMMAND", key],
        [b"SET", key, value, b"BOGUS"], [b"OBJECT", b"ENCODING", key], [b"PING"],
        [b"ECHO", value], [b"CONFIG", b"GET", b"maxmemory"],
        [b"XADD", key, b"%d-*" % rnd.randint(1, 60), field, value], [b"XLEN", key],
        [b"XRANGE", key, b"-", b"+", b"COUNT", b"3"], [b"XDEL", key, b"%d-0" % rnd.randint(1, 60)],
        [b"XTRIM", key, b"MAXLEN", b"~", b"2"], [b"XREAD", b"STREAMS", key, other, b"0", b"0"],
        # The compiled handlers' own cases: INCR's integers, MGET/EXISTS of
        # repeated keys, TTL (only of keys without one: a relative TTL read
        # on two nodes a few ms apart may round differently).
        [b"INCR", key], [b"SET", key, rnd.choice([b"0", b"-0", b"007", b"-12", b"9" * 18,
                                                  b"9" * 19, b"-" + b"9" * 18, b"+1", b""])],
        [b"MGET", key, key, other], [b"EXISTS", key, key, b"nope"], [b"DEL", key, key],
        [b"MSET", key, value, key, value, other], [b"SET", b"plain", value],
        [b"TTL", b"plain"], [b"TTL", b"nope"], [b"GET", b"plain"],
        [b"LPUSH", key, value], [b"RPUSH", key, value, field], [b"RPOP", key],
        [b"HSET", key, field, value, b"f9", value], [b"HGET", key, b"f9"],
        [b"SADD", key, field], [b"SISMEMBER", key, value],  # (not SPOP: random on each node)
        # The collections' typed handlers: LRANGE's indexes, a hash past
        # PROMOTE_AT (a FieldTTLHash), MSET over strings, EXPIRE (relative:
        # only on "rel", whose expiry time _state compares with a margin, and
        # keys that are missing or get a past time), SPOP on a set of one.
        [b"LRANGE", key, rnd.choice(INDEXES), rnd.choice(INDEXES)], [b"HGETALL", b"big"],
        [b"HSET", b"big", *BIG_HASH], [b"HSET", b"big", field, value], [b"HGET", b"big", field],
        [b"HGET", b"big", b"f1000"], [b"HDEL", b"big", b"f7"],
        [b"MSET", b"plain", value, b"plain2", value, b"plain", value],
        [b"EXPIRE", b"nope", b"10"], [b"EXPIRE", key, rnd.choice([b"0", b"-3"])],
        [b"EXPIRE", b"rel", rnd.choice([b"100", b"5000", b"007"])], [b"SET", b"rel", value],
        [b"EXPIRE", b"rel", b"100", b"NX"], [b"SPOP", b"one"], [b"SADD", b"one", b"x"],
        [b"WATCH", key, other],  # (a later EXEC on this connection fails when they change)
        # Settings under which the compiled handlers leave the work to the
        # Python ones: keyspace notifications, keymiss events, LFU.
        # Sorted sets (the typed handlers of _speedups.pyx's "sorted sets"):
        # a few keys that grow, members that repeat, every kind of score text.
        [b"ZADD", zkey, zscore, member], [b"ZADD", zkey, zscore, member],
        [b"ZADD", zkey, b"%d" % rnd.randint(-50, 50), member],
        [b"ZINCRBY", zkey, zscore, member], [b"ZINCRBY", zkey, b"%d" % rnd.randint(-3, 3), member],
        [b"ZSCORE", zkey, member], [b"ZSCORE", key, member], [b"ZPOPMIN", zkey], [b"ZPOPMAX", zkey],
        [b"ZPOPMIN", zkey, b"2"], [b"ZPOPMIN", key], [b"ZADD", zkey, b"NX", zscore, member],
        [b"ZRANGE", zkey, *rnd.choice(ZRANKS)], [b"ZRANGE", zkey, *rnd.choice(ZRANKS)],
        [b"ZRANGE", zkey, *rnd.choice(ZRANKS), rnd.choice([b"WITHSCORES", b"withscores", b"REV"])],
        [b"ZRANGE", key, b"0", b"-1"], [b"ZREM", zkey, member], [b"EXPIREAT", zkey, b"%d" % EXPIRE_AT_S],
        [b"CONFIG", b"SET", b"notify-keyspace-events", rnd.choice([b"", b"KEA", b"Em", b""])],
        [b"CONFIG", b"SET", b"maxmemory-policy", rnd.choice([b"allkeys-lru", b"allkeys-lfu"])],
    ]
    return rnd.choice(choices)


def _batches(seed: int) -> list[list[list[bytes]]]:
    """The workload: pipelines of 1 to 40 commands, some wrapped in MULTI/EXEC."""
    rnd = random.Random(seed)
    batches, total = [], 0
    while total < COMMANDS_PER_SEED:
        batch = [_command(rnd) for _ in range(rnd.choice([1, 2, 5, 16, 40]))]
        if rnd.random() < 0.1:
            batch = [[b"MULTI"], *batch[:5], [b"EXEC"]]
        batches.append(batch)
        total += len(batch)
    return batches


class Conn:
    """A raw connection that returns each pipeline's replies as raw bytes."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def pipeline(self, commands: list[list[bytes]]) -> bytes:
        self.sock.sendall(b"".join(map(_encode, commands)))
        reader = hiredis.Reader()
        received = []
        replies = 0
        while replies < len(commands):
            data = self.sock.recv(65536)
            assert data, "connection closed"
            received.append(data)
            reader.feed(data)
            while reader.gets() is not False:
                replies += 1
        return b"".join(received)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    # One hash seed for both: SMEMBERS and HGETALL of a hashtable-encoded
    # value list members in Python's hash order.
    pure = spawn_node([], tmp_path_factory.mktemp("pure") / "node.log",
                      env={"RINGCACHE_PURE": "1", "PYTHONHASHSEED": "1"})
    accelerated = spawn_node([], tmp_path_factory.mktemp("accel") / "node.log",
                             env={"RINGCACHE_PURE": "", "PYTHONHASHSEED": "1"})
    yield pure, accelerated
    pure.stop()
    accelerated.stop()


def _info(node, section: str) -> dict:
    return node.client().info(section)


def test_paths_differ(nodes):
    """The comparison below means something only if one node is compiled."""
    pure, accelerated = nodes
    assert _info(pure, "server")["ringcache_accelerated"] == 0
    assert _info(accelerated, "server")["ringcache_accelerated"] == 1
    assert "Running on the pure-Python path: RINGCACHE_PURE is set" in pure.log()
    assert "pure-Python path" not in accelerated.log()


def _state(node) -> dict:
    client = node.client()
    state = {}
    for key in sorted(client.keys("*")):
        kind = client.type(key)
        value = {b"string": lambda: client.get(key),
                 b"list": lambda: client.lrange(key, 0, -1),
                 b"hash": lambda: client.hgetall(key),
                 b"set": lambda: sorted(client.smembers(key)),
                 b"zset": lambda: client.zrange(key, 0, -1, withscores=True),
                 b"stream": lambda: client.xrange(key)}[kind]()
        state[key] = (kind, value, client.pexpiretime(key))
    # SCAN walks the slot index (storage/slots.py), which the new-key store keeps.
    scanned = sorted(client.scan_iter(count=500))
    stats = _info(node, "commandstats")
    stats.update({k: v for k, v in _info(node, "stats").items() if k.startswith("keyspace_")})
    # usec and usec_per_call are times: everything else must be equal.
    for name, fields in stats.items():
        if name.startswith("cmdstat_"):
            stats[name] = {k: v for k, v in fields.items() if not k.startswith("usec")}
    return {"keys": state, "stats": stats, "scan": scanned}


@pytest.mark.parametrize("seed", SEEDS)
def test_same_replies_and_state(nodes, seed):
    pure, accelerated = nodes
    for node in nodes:
        node.client().execute_command("FLUSHALL")
        node.client().execute_command("CONFIG", "SET", "notify-keyspace-events", "")
        node.client().execute_command("CONFIG", "SET", "maxmemory-policy", "noeviction")
        node.client().execute_command("CONFIG", "RESETSTAT")
    conns = {node: [Conn(node.port), Conn(node.port)] for node in nodes}
    try:
        for node in nodes:
            conns[node][1].pipeline([[b"HELLO", b"3"]])
        rnd = random.Random(seed)
        for i, batch in enumerate(_batches(seed)):
            which = rnd.randrange(2)  # RESP2 or RESP3
            expected = conns[pure][which].pipeline(batch)
            got = conns[accelerated][which].pipeline(batch)
            assert got == expected, f"batch {i} (RESP{which + 2}): {batch}\n{got!r}\n{expected!r}"
    finally:
        for pair in conns.values():
            for conn in pair:
                conn.close()
    got, want = _state(accelerated), _state(pure)
    # "rel" got its expiry from a relative EXPIRE: the nodes' clocks were
    # read a few ms apart (a minute of margin for a loaded machine).
    rel_got, rel_want = got["keys"].pop(b"rel", None), want["keys"].pop(b"rel", None)
    assert (rel_got is None) == (rel_want is None)
    if rel_got is not None:
        assert rel_got[:2] == rel_want[:2] and (rel_got[2] < 0) == (rel_want[2] < 0)
        assert abs(rel_got[2] - rel_want[2]) < 60_000
    assert got == want


def test_spop_from_a_sampling_pool(nodes):
    """SPOP of a big set draws from its sampling pool (commands/sets.py),
    at random on each node, so the replies cannot be compared: each node
    must pop members of the set, each once, in step with SADD and SREM."""
    members = [b"m%d" % i for i in range(300)]
    rnd = random.Random(7)
    cards = []
    for node in nodes:
        client = node.client()
        client.delete("pool")
        client.sadd("pool", *members)
        model = set(members)
        conn = Conn(node.port)
        try:
            for _ in range(40):
                batch = [[b"SPOP", b"pool"] for _ in range(rnd.randrange(1, 12))]
                back = rnd.sample(members, 3)
                batch += [[b"SADD", b"pool", *back], [b"SREM", b"pool", rnd.choice(members)],
                          [b"SRANDMEMBER", b"pool"], [b"SCARD", b"pool"]]
                reader = hiredis.Reader()
                reader.feed(conn.pipeline(batch))
                replies = [reader.gets() for _ in batch]
                for argv, reply in zip(batch, replies):
                    if argv[0] == b"SPOP":
                        assert reply in model
                        model.discard(reply)
                    elif argv[0] == b"SADD":
                        model.update(back)
                    elif argv[0] == b"SREM":
                        model.discard(argv[2])
                    elif argv[0] == b"SRANDMEMBER":
                        assert reply in model
                    else:
                        assert reply == len(model)
                        cards.append(reply)
        finally:
            conn.close()
        assert set(client.smembers("pool")) == model
        while client.scard("pool"):
            assert client.spop("pool") in model
    assert len(cards) == 80


def test_a_growing_sorted_set(nodes):
    """redis-benchmark's ZADD: one key from empty to thousands of members,
    so past many block splits (ZSet.LOAD is 512) and, with few distinct
    scores, many scores equal to a block's last one (ZSet._locate's member
    search), interleaved with moves, increments, pops and reads by rank.
    Replies byte-identical, and the same set at the end."""
    rnd = random.Random(11)
    batches = []
    for _ in range(60):
        batch = []
        for _ in range(100):
            member = b"element:%012d" % rnd.randrange(4000)
            score = b"%012d" % rnd.randrange(40) if rnd.random() < 0.5 else b"%d" % rnd.randrange(100000)
            roll = rnd.random()
            if roll < 0.85:
                batch.append([b"ZADD", b"myzset", score, member])
            elif roll < 0.9:
                batch.append([b"ZINCRBY", b"myzset", b"%d" % rnd.randrange(-5, 5), member])
            elif roll < 0.93:
                batch.append([b"ZPOPMIN", b"myzset"])
            elif roll < 0.96:
                start = rnd.randrange(-3000, 3000)
                batch.append([b"ZRANGE", b"myzset", b"%d" % start, b"%d" % (start + rnd.randrange(30))])
            else:
                batch.append([b"ZRANK", b"myzset", member])
        batches.append(batch)
    for node in nodes:
        node.client().execute_command("FLUSHALL")
    conns = [Conn(node.port) for node in nodes]
    try:
        for i, batch in enumerate(batches):
            expected, got = (conn.pipeline(batch) for conn in conns)
            assert got == expected, f"batch {i}"
    finally:
        for conn in conns:
            conn.close()
    want, got = (node.client().zrange("myzset", 0, -1, withscores=True) for node in nodes)
    assert got == want and len(got) > 2000

# -- new keys (_speedups.pyx, "strings: storing a new key") ---------------------
#
# SET, MSET and INCR creating keys by the thousand, as redis-benchmark's runs
# after a FLUSHALL: keys drawn from a few thousand (first keys of their slots,
# more in the same slot, hash tags past a bucket list's LIST_MAX), mixed with
# keys given a TTL and overwrites, under each setting that changes what a new
# key does: keyspace notifications (a subscriber on each node receives the
# same bytes), maxmemory set (far above the data: checked, never evicting),
# LFU.
NEW_KEY_SETTINGS = {
    "plain": [],
    "notifications": [("notify-keyspace-events", "KEA")],
    "maxmemory": [("maxmemory", "1gb"), ("maxmemory-policy", "allkeys-lru")],
    "lfu": [("maxmemory-policy", "allkeys-lfu")],
}


def _new_key_batches(rnd: random.Random) -> list[list[list[bytes]]]:
    def key() -> bytes:
        return rnd.choice([b"key:%d" % rnd.randrange(3000), b"{t}%d" % rnd.randrange(150)])

    batches = []
    for _ in range(60):
        batch = []
        for _ in range(rnd.choice([1, 5, 16, 40])):
            roll = rnd.random()
            if roll < 0.5:
                batch.append([b"MSET", *(arg for _ in range(rnd.randrange(1, 11))
                                         for arg in (key(), _value(rnd)))])
            elif roll < 0.7:
                batch.append([b"SET", key(), _value(rnd)])
            elif roll < 0.8:
                batch.append([b"INCR", key()])
            elif roll < 0.88:
                batch.append([b"SET", key(), b"t", b"PXAT", b"%d" % (EXPIRE_AT_S * 1000 + rnd.randint(0, 999))])
            elif roll < 0.94:
                batch.append([b"DEL", key(), key()])
            else:
                batch.append(rnd.choice([[b"GET", key()], [b"EXISTS", key(), key()], [b"TTL", key()]]))
        batches.append(batch)
    return batches


def _events(subscriber: Conn) -> bytes:
    """Everything a subscribed connection received, up to the reply to a
    PING sent now (the events of the commands answered before come first)."""
    pong = b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    subscriber.sock.sendall(_encode([b"PING"]))
    received = b""
    while not received.endswith(pong):
        data = subscriber.sock.recv(65536)
        assert data, "connection closed"
        received += data
    return received


@pytest.mark.parametrize("setting", NEW_KEY_SETTINGS)
def test_new_keys_same_replies_and_state(nodes, setting):
    pure, accelerated = nodes
    subscribers = {}
    try:
        for node in nodes:
            client = node.client()
            client.execute_command("FLUSHALL")
            client.execute_command("CONFIG", "SET", "notify-keyspace-events", "")
            client.execute_command("CONFIG", "SET", "maxmemory-policy", "noeviction")
            client.execute_command("CONFIG", "SET", "maxmemory", "0")
            client.execute_command("CONFIG", "RESETSTAT")
            for name, value in NEW_KEY_SETTINGS[setting]:
                client.execute_command("CONFIG", "SET", name, value)
            subscribers[node] = Conn(node.port)
            subscribers[node].pipeline([[b"PSUBSCRIBE", b"__key*__:*"]])
        conns = {node: Conn(node.port) for node in nodes}
        try:
            for i, batch in enumerate(_new_key_batches(random.Random(setting))):
                expected = conns[pure].pipeline(batch)
                got = conns[accelerated].pipeline(batch)
                assert got == expected, f"batch {i}: {batch}\n{got!r}\n{expected!r}"
        finally:
            for conn in conns.values():
                conn.close()
        events = {node: _events(subscribers[node]) for node in nodes}
        assert events[accelerated] == events[pure]
        if setting == "notifications":
            assert events[pure].count(b"pmessage") > 1000
        assert _state(accelerated) == _state(pure)
        # Strings only: the data set's memory (storage/memory.py) is exact,
        # with no container estimate settled at the cron's pace.
        assert _info(accelerated, "memory")["used_memory"] == _info(pure, "memory")["used_memory"]
        assert _info(pure, "keyspace")["db0"]["keys"] > 1000
        assert _info(pure, "stats")["evicted_keys"] == 0
    finally:
        for node in nodes:
            client = node.client()
            client.execute_command("CONFIG", "SET", "maxmemory", "0")
            client.execute_command("CONFIG", "SET", "notify-keyspace-events", "")
            client.execute_command("CONFIG", "SET", "maxmemory-policy", "noeviction")
            if node in subscribers:
                subscribers[node].close()
