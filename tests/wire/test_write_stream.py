"""The write stream replays exactly (server/write_stream.py).

A random workload over every data family (relative TTLs, SPOP, MULTI/EXEC
with SELECT inside, served blocking pops, SWAPDB, MOVE, COPY ... DB,
FLUSHDB, FLUSHALL, hash field TTLs, clock jumps with DEBUG ADVANCE-CLOCK so keys and
fields expire lazily and actively, evictions under maxmemory, with and
without lazyfree) runs on a node whose stream is captured by its one sink,
the append-only file. The captured commands are sent to an empty node; both
datasets must then be equal entry by entry: type, value, TTL to the ms
(PEXPIRETIME), hash field TTLs (HPEXPIRETIME).

The replaying node's clock is not advanced while it replays (as a replica
that is behind): every expiry must come from the stream (DEL, HDEL), never
from the replayer's own clock. Before comparing, it is moved to the primary's
time so both see the same live keys.
"""

from __future__ import annotations

import random
from pathlib import Path

import redis

from nodes import spawn_node
from support import RawConn, advance

from ringcache.persistence.aof import iter_commands, parse_manifest

DATABASES = (0, 1, 2)
SECOND = 1000
# Relative TTLs are whole multiples of these and clock jumps of JUMP_MS, so
# at the end every TTL is either long past or far ahead (never within the
# few seconds the comparison takes, where the two nodes could disagree).
TTL_MS = (1000 * SECOND, 2000 * SECOND, 5000 * SECOND)
JUMP_MS = 500 * SECOND
# Relative, random or blocking forms: never in the stream.
NOT_REPLAYABLE = {b"EXPIRE", b"PEXPIRE", b"SETEX", b"PSETEX", b"GETEX", b"SPOP", b"SRANDMEMBER",
                  b"BLPOP", b"BRPOP", b"BLMOVE", b"BZPOPMIN", b"BZMPOP", b"INCRBYFLOAT",
                  b"HINCRBYFLOAT", b"HEXPIRE", b"HPEXPIRE"}


def b(value) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


class Workload:
    """Random commands over a small key space (so they collide)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def key(self, kind: str) -> bytes:
        return b"%s%d" % (kind.encode(), self.rng.randrange(6))

    def member(self) -> bytes:
        return b"m%d" % self.rng.randrange(12)

    def ttl(self) -> int:
        return self.rng.choice(TTL_MS)

    def command(self) -> list:
        r = self.rng
        ttl = self.ttl()
        s, l, h, S, z = (self.key(k) for k in "slhSz")
        any_key = self.key(r.choice("slhSz"))
        m, m2 = self.member(), self.member()
        n = r.randrange(1, 5)
        choices = [
            # strings
            ["SET", s, r.randrange(100)],
            ["SET", s, "v", "EX", ttl // 1000],
            ["SET", s, "v", "PX", ttl, "GET"],
            ["SET", s, "w", "KEEPTTL"],
            ["SET", s, "x", "NX", "PX", ttl],
            ["SETEX", s, ttl // 1000, "e"],
            ["PSETEX", s, ttl, "p"],
            ["SETNX", s, "n"],
            ["APPEND", s, "ab"],
            ["INCR", s],
            ["INCRBY", s, r.randrange(-5, 5)],
            ["INCRBYFLOAT", s, "1.5"],
            ["SETRANGE", s, r.randrange(4), "zz"],
            ["GETDEL", s],
            ["GETEX", s, "PX", ttl],
            ["GETEX", s, "EX", ttl // 1000],
            ["GETEX", s, "PERSIST"],
            ["GETSET", s, "g"],
            ["MSET", s, "1", self.key("s"), "2"],
            ["MSETNX", s, "1", self.key("s"), "2"],
            # generic
            ["DEL", any_key],
            ["UNLINK", any_key],
            ["EXPIRE", any_key, ttl // 1000],
            ["PEXPIRE", any_key, ttl, r.choice(["NX", "XX", "GT", "LT"])],
            ["EXPIREAT", any_key, 100],  # in the past: a DEL
            ["PERSIST", any_key],
            ["RENAME", any_key, self.key(any_key[:1].decode())],
            ["COPY", any_key, self.key(any_key[:1].decode()), "DB", r.choice(DATABASES), "REPLACE"],
            ["MOVE", any_key, r.choice(DATABASES)],
            # lists
            ["LPUSH", l, m, m2],
            ["RPUSH", l, m],
            ["LPOP", l],
            ["RPOP", l, n],
            ["LMOVE", l, self.key("l"), "LEFT", "RIGHT"],
            ["LMPOP", 2, l, self.key("l"), "RIGHT", "COUNT", n],
            ["LSET", l, 0, "x"],
            ["LTRIM", l, 0, 3],
            ["LREM", l, 0, m],
            ["LINSERT", l, "BEFORE", m, m2],
            # hashes
            ["HSET", h, m, r.randrange(9), m2, "v"],
            ["HDEL", h, m],
            ["HINCRBY", h, m, 2],
            ["HINCRBYFLOAT", h, m2, "0.5"],
            ["HPEXPIRE", h, ttl, "FIELDS", 2, m, m2],
            ["HEXPIRE", h, ttl // 1000, "FIELDS", 1, m],
            ["HPERSIST", h, "FIELDS", 1, m],
            ["HSETNX", h, m, "first"],  # (differs if an expired field were still there)
            ["HSETNX", h, m2, "first"],
            # sets
            ["SADD", S, m, m2, self.member()],
            ["SREM", S, m],
            ["SPOP", S],
            ["SPOP", S, n],
            ["SRANDMEMBER", S, -n],  # changes nothing: nothing to replay
            ["SMOVE", S, self.key("S"), m],
            ["SINTERSTORE", S, self.key("S"), self.key("S")],
            ["SUNIONSTORE", S, self.key("S"), self.key("S")],
            # sorted sets
            ["ZADD", z, r.randrange(10), m, r.random(), m2],
            ["ZADD", z, "GT", "CH", r.randrange(10), m],
            ["ZINCRBY", z, 1.25, m],
            ["ZREM", z, m],
            ["ZPOPMIN", z],
            ["ZPOPMAX", z, n],
            ["ZMPOP", 1, z, "MIN", "COUNT", n],
            ["ZREMRANGEBYRANK", z, 0, 0],
            ["ZREMRANGEBYSCORE", z, 0, 2],
            ["ZRANGESTORE", self.key("z"), z, 0, -1],
            ["ZUNIONSTORE", z, 2, z, self.key("z")],
        ]
        return [b(a) for a in r.choice(choices)]


def send_all(conn: RawConn, commands: list[list[bytes]]) -> list[bytes]:
    conn.send_raw(b"".join(RawConn.encode(*argv) for argv in commands))
    return [conn.read_reply() for _ in commands]


def run_workload(node, seed: int) -> int:
    """Run the workload; returns how far the clock was moved (ms)."""
    rng = random.Random(seed)
    work = Workload(seed)
    conn = RawConn(node)
    waiter = RawConn(node)
    client = node.client()
    advanced = 0
    for step in range(150):
        db = rng.choice(DATABASES)
        if step == 30:  # once: everything written so far must be gone on replay too
            send_all(conn, [[b"FLUSHALL"]])
        if step == 90:
            send_all(conn, [[b"SELECT", b"1"], [b"FLUSHDB"]])
        batch = [[b"SELECT", b(db)]] + [work.command() for _ in range(30)]
        send_all(conn, batch)
        roll = rng.random()
        if roll < 0.25:  # a transaction, selecting another database half-way
            other = rng.choice(DATABASES)
            tx = ([[b"MULTI"]] + [work.command() for _ in range(3)] + [[b"SELECT", b(other)]]
                  + [work.command() for _ in range(3)] + [[b"EXEC"]])
            send_all(conn, tx)
        elif roll < 0.40:  # a blocking pop parked, then served by a push
            key = work.key(rng.choice("lz"))
            blocking = {b"l": [[b"BLPOP", key, b"0"], [b"BLMOVE", key, work.key("l"), b"RIGHT",
                                                        b"LEFT", b"0"], [b"BRPOP", key, b"0"]],
                        b"z": [[b"BZPOPMIN", key, b"0"], [b"BZMPOP", b"0", b"1", key, b"MAX"]]}
            send_all(waiter, [[b"SELECT", b(db)]])
            waiter.send(*rng.choice(blocking[key[:1]]))
            client.execute_command("DEBUG", "SLEEP", "0")  # (it is parked once this returns)
            push = ([b"RPUSH", key, work.member(), work.member()] if key[:1] == b"l"
                    else [b"ZADD", key, b"1", work.member(), b"2", work.member()])
            send_all(conn, [[b"SELECT", b(db)], [b"DEL", key], push])
            assert not waiter.read_reply().startswith((b"-", b"*-1"))
        elif roll < 0.60:
            advance(client, JUMP_MS)
            advanced += JUMP_MS
        elif roll < 0.63:
            send_all(conn, [[b"SWAPDB", b(rng.choice(DATABASES)), b(rng.choice(DATABASES))]])
        elif roll < 0.64:
            send_all(conn, [[b"SELECT", b(rng.choice(DATABASES))], [b"FLUSHDB"]])
        elif roll < 0.70:  # a memory limit that evicts some keys, then none
            used = int(client.info("memory")["used_memory"])
            lazy = rng.choice(["yes", "no"])
            send_all(conn, [[b"CONFIG", b"SET", b"lazyfree-lazy-eviction", b(lazy)],
                            [b"CONFIG", b"SET", b"lazyfree-lazy-expire", b(lazy)],
                            [b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-random"],
                            [b"CONFIG", b"SET", b"maxmemory", b(used - 2000)],
                            [b"SET", b"filler", b"x" * 500],
                            [b"CONFIG", b"SET", b"maxmemory", b"0"]])
    conn.close()
    waiter.close()
    return advanced


def captured(directory: Path) -> list[list[bytes]]:
    """The commands the append-only file recorded (its incr files in order)."""
    aof_dir = directory / "appendonlydir"
    manifest = parse_manifest(next(aof_dir.glob("*.manifest")).read_text())
    commands = []
    for entry in manifest:
        if entry.kind == "i":
            commands += [argv for _, argv in iter_commands((aof_dir / entry.name).read_bytes())]
    return commands


def dataset(node) -> dict:
    """Every live key of every database: (type, value, PEXPIRETIME, field TTLs)."""
    out = {}
    for index in DATABASES:
        c = node.client(db=index)
        for key in sorted(c.keys("*")):
            kind = c.type(key)
            if kind == b"string":
                value = c.get(key)
            elif kind == b"list":
                value = c.lrange(key, 0, -1)
            elif kind == b"set":
                value = sorted(c.smembers(key))
            elif kind == b"zset":
                value = c.zrange(key, 0, -1, withscores=True)
            elif kind == b"hash":
                fields = c.hgetall(key)
                names = sorted(fields)
                ttls = c.execute_command("HPEXPIRETIME", key, "FIELDS", len(names), *names)
                value = (sorted(fields.items()), list(ttls))
            else:
                value = kind
            out[(index, key)] = (kind, value, c.pexpiretime(key))
    return out


def test_the_stream_of_a_random_workload_replays_exactly(tmp_path):
    primary_dir = tmp_path / "primary"
    replica_dir = tmp_path / "replica"
    primary_dir.mkdir()
    replica_dir.mkdir()
    primary = spawn_node(["--appendonly", "yes", "--hz", "50"], primary_dir / "node.log")
    replica = spawn_node([], replica_dir / "node.log")
    try:
        advanced = run_workload(primary, seed=12)
        stream = captured(primary_dir)
        names = {argv[0].upper() for argv in stream}
        # The stream carries effects, never the relative or random forms.
        leftovers = [(i, stream[i - 2:i + 1]) for i, argv in enumerate(stream)
                     if argv[0].upper() in NOT_REPLAYABLE]
        assert not leftovers
        assert {b"PEXPIREAT", b"SREM", b"MULTI", b"EXEC", b"DEL", b"HDEL", b"SWAPDB",
                b"LPOP", b"HPEXPIREAT", b"FLUSHALL", b"FLUSHDB", b"MOVE", b"COPY"} <= names, names
        assert not any(argv[0] == b"SET" and b"EX" in argv[3:] for argv in stream)
        evictions_and_expiries = int(primary.client().info("stats")["evicted_keys"])
        assert evictions_and_expiries > 0
        assert int(primary.client().info("stats")["expired_keys"]) > 0

        conn = RawConn(replica)
        for i in range(0, len(stream), 200):
            replies = send_all(conn, stream[i:i + 200])
            errors = [(argv, reply) for argv, reply in zip(stream[i:i + 200], replies)
                      if reply.startswith(b"-")]
            assert not errors
        conn.close()
        advance(replica.client(), advanced)

        want = dataset(primary)
        got = dataset(replica)
        assert len(want) > 20
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == want[key], key
    finally:
        primary.stop()
        replica.stop()
