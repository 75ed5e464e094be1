"""Instructions per pipelined command on the node's in-process path, counted
by valgrind's callgrind: unlike times, the counts stay the same on a shared,
noisy machine, so a change to the hot path can be judged by them.

    .venv/bin/python benchmarks/instructions.py          # needs valgrind (apt-get install valgrind)

For GET, SET, LPUSH, HSET, ZADD (and the sorted-set reads and writes of
ZSET_KINDS) it runs the same script twice under
callgrind, once only preparing 1,000 batches of 16 pipelined commands
(100,000 string keys loaded; LPUSH, HSET and ZADD write into 1,000 keys of
their type) and once also feeding them through the parser and
Dispatcher.execute_batch, and prints the difference per command. The
other kinds (FAMILIES) send what redis-benchmark sends for issue 16's
list/hash/set/key commands, on values prepared the same way in both runs;
zadd-grow sends what redis-benchmark's -P 1 ZADD run does (100,000 ZADDs into
one sorted set that does not exist at the start).
`--parse-only` counts the parser alone; `--kinds get,set` picks some.
RINGCACHE_PURE=1 counts the pure-Python path (ringcache/accel.py).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCHES = 1000
PER_BATCH = 16
KEYS = 100_000
KINDS = ("get", "set", "lpush", "hset", "zadd", "zincrby", "zscore", "zpopmin", "zrange", "zrangews",
         # issue 16's list/hash/set/key families, as redis-benchmark sends them
         # (one key "mylist"/"myset"/"myhash", 32-byte values, -r 100000):
         "rpush", "spop", "mset", "lrange", "hset-big", "hget-big", "expire", "hgetall",
         # redis-benchmark's ZADD at -P 1 (types.py: FLUSHALL, then -n 100000):
         "zadd-grow",
         # SET and MSET into a database without the 100,000 keys (NEW_KEY_KINDS)
         "set-new", "mset-new")
COLLECTIONS = ("lpush", "hset", "zadd")
# The other sorted-set kinds work on 1,000 sets of 100 members (m:0 .. m:99)
# loaded beforehand in both runs; their members are drawn from m:0 .. m:199,
# so about half are missing (ZINCRBY adds them, ZSCORE misses them).
ZSET_KINDS = ("zincrby", "zscore", "zpopmin", "zrange", "zrangews")
# Kinds measured over more commands than BATCHES * PER_BATCH: zadd-grow sends
# the 100,000 requests of types.py's -P 1 run, into one key that does not
# exist at the start ("ZADD myzset __rand_int__ element:__rand_int__",
# -r 100000: two draws, 12 digits each). About 63,000 of them add a new
# member (the key's creation and ~60 block splits among them), the rest
# move an existing one.
BATCHES_OF = {"zadd-grow": 6250}
# What redis-benchmark's -P 1 SET and MSET runs see after types.py's and
# compare.py's FLUSHALL: keys drawn from key:<rand < 100,000> into a database
# that starts empty, so many writes create a key (Keyspace.set's new-key
# branch: slot index, access cell, memory) instead of overwriting one. Here
# 16,000 SETs create ~14,800 keys (92 % of the writes), 16,000 MSETs of 10
# keys ~79,800 (50 %); the real -P 1 runs: SET 200,000 requests, 43 %; MSET
# 100,000 requests of 10 keys, 10 % (1 new key per MSET).
NEW_KEY_KINDS = ("set-new", "mset-new")


def workload(kind: str, run: bool, parse_only: bool) -> None:
    """The measured program (run under valgrind by main())."""
    sys.path.insert(0, str(ROOT))
    gc.disable()
    from ringcache.protocol.parser import RequestReader
    from ringcache.server.server import Server
    from ringcache.server.session import Session

    server = Server()
    session = Session(server, 1, "a:1", "b:2")
    reader = RequestReader()
    rnd = random.Random(1)
    for i in range(0 if kind in NEW_KEY_KINDS else KEYS):
        server.db(0).set(b"key:%012d" % i, b"x" * 32)
    if kind in ZSET_KINDS:
        from ringcache.storage.zset import ZSet
        for i in range(1000):
            pairs = [(b"m:%d" % j, float(rnd.randrange(KEYS))) for j in range(100)]
            server.db(0).set(b"zset:%03d" % i, ZSet.from_items(pairs))
    _prepare(kind, server.db(0))

    def command() -> bytes:
        key = b"key:%012d" % rnd.randrange(KEYS)
        if kind in FAMILIES:
            args = FAMILIES[kind](rnd, key)
            return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)
        if kind == "get":
            return b"*2\r\n$3\r\nGET\r\n$16\r\n%s\r\n" % key
        if kind in COLLECTIONS:
            name = b"%s:%03d" % (kind.encode(), rnd.randrange(1000))
            member = b"m:%012d" % rnd.randrange(KEYS)
            args = {"lpush": [b"LPUSH", name, member],
                    "hset": [b"HSET", name, member, b"x" * 32],
                    "zadd": [b"ZADD", name, b"%d" % rnd.randrange(KEYS), member]}[kind]
            return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)
        if kind in ZSET_KINDS:
            name = b"zset:%03d" % rnd.randrange(1000)
            member = b"m:%d" % rnd.randrange(200)
            args = {"zincrby": [b"ZINCRBY", name, b"%d" % rnd.randrange(100), member],
                    "zscore": [b"ZSCORE", name, member],
                    "zpopmin": [b"ZPOPMIN", name],
                    "zrange": [b"ZRANGE", name, b"0", b"9"],
                    "zrangews": [b"ZRANGE", name, b"0", b"9", b"WITHSCORES"]}[kind]
            return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)
        return b"*3\r\n$3\r\nSET\r\n$16\r\n%s\r\n$32\r\n%s\r\n" % (key, b"x" * 32)

    batches = [b"".join(command() for _ in range(PER_BATCH)) for _ in range(BATCHES_OF.get(kind, BATCHES))]
    if not run:
        return
    execute_batch = server.dispatcher.execute_batch
    for data in batches:
        commands = reader.feed(data)
        if not parse_only:
            execute_batch(session, commands)


# kind -> the arguments of one command (rnd, a random existing string key).
FAMILIES = {
    "rpush": lambda rnd, key: [b"RPUSH", b"mylist", b"x" * 32],
    "spop": lambda rnd, key: [b"SPOP", b"myset"],
    "mset": lambda rnd, key: [b"MSET", *(arg for _ in range(10)
                                         for arg in (b"key:%012d" % rnd.randrange(KEYS), b"x" * 32))],
    "mset-new": lambda rnd, key: FAMILIES["mset"](rnd, key),
    "set-new": lambda rnd, key: [b"SET", key, b"x" * 32],
    "lrange": lambda rnd, key: [b"LRANGE", b"mylist", b"0", b"99"],
    "hset-big": lambda rnd, key: [b"HSET", b"myhash", b"element:%d" % rnd.randrange(KEYS), b"x" * 32],
    "hget-big": lambda rnd, key: [b"HGET", b"myhash", b"element:%d" % rnd.randrange(KEYS)],
    "expire": lambda rnd, key: [b"EXPIRE", key, b"100"],
    "hgetall": lambda rnd, key: [b"HGETALL", b"hash:%03d" % rnd.randrange(1000)],
    "zadd-grow": lambda rnd, key: [b"ZADD", b"myzset", b"%012d" % rnd.randrange(KEYS),
                                   b"element:%012d" % rnd.randrange(KEYS)],
}


def _prepare(kind: str, db) -> None:
    """The values FAMILIES' commands find (before the measured part): the
    list and set redis-benchmark's earlier tests leave, a hash past
    PROMOTE_AT (a FieldTTLHash without field TTLs), 1000 small hashes."""
    from collections import deque

    from ringcache.commands.sets import _pool_of
    from ringcache.storage.hashes import FieldTTLHash
    if kind in ("rpush", "lrange"):
        db.set(b"mylist", deque([b"x" * 32] * 600))
    elif kind == "spop":
        members = {b"element:%d" % i for i in range(KEYS)}
        db.set(b"myset", members)
        _pool_of(members)  # (built by the first SPOP: not part of the per-command cost)
    elif kind in ("hset-big", "hget-big"):
        db.set(b"myhash", FieldTTLHash({b"element:%d" % i: b"x" * 32 for i in range(0, KEYS, 2)}))
    elif kind == "hgetall":
        for i in range(1000):
            db.set(b"hash:%03d" % i, {b"field:%d" % j: b"x" * 32 for j in range(10)})


def count(kind: str, run: bool, parse_only: bool) -> int:
    args = [sys.executable, __file__, "--workload", kind]
    if run:
        args.append("--run")
    if parse_only:
        args.append("--parse-only")
    return callgrind_instructions(args)


def callgrind_instructions(args: list[str], cwd: str | None = None) -> int:
    """The instructions the program `args` executes, counted by callgrind
    (benchmarks/p1_instructions.py uses it too)."""
    # A fixed hash seed: with a random one the dicts' probe sequences, and so
    # the counts, moved by a few hundred instructions per command between runs.
    env = dict(os.environ, PYTHONHASHSEED="0")
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *args],
                         capture_output=True, text=True, check=True, env=env, cwd=cwd).stderr
    match = re.search(r"Collected : (\d+)", out)
    if not match:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{out[-3000:]}")
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=KINDS)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--run", action="store_true")
    parser.add_argument("--parse-only", action="store_true")
    args = parser.parse_args()
    if args.workload:
        workload(args.workload, args.run, args.parse_only)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: apt-get install -y valgrind", file=sys.stderr)
        return 1
    what = "parsing only" if args.parse_only else "parse + execute_batch + encode"
    path = "pure-Python path" if os.environ.get("RINGCACHE_PURE", "") not in ("", "0") else "compiled path if built"
    print(f"instructions per pipelined command ({what}; {BATCHES} batches of {PER_BATCH}, "
          f"zadd-grow {BATCHES_OF['zadd-grow']}; {path}):")
    for kind in args.kinds.split(","):
        base = count(kind, False, args.parse_only)
        full = count(kind, True, args.parse_only)
        print(f"  {kind.upper()}: {(full - base) // (BATCHES_OF.get(kind, BATCHES) * PER_BATCH):,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
