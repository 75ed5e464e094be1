"""Sorted sets at 1M members: server time per command and memory per member,
ringcache against redis-server in the same run.

    .venv/bin/python benchmarks/zset_latency.py [--members N] [--rounds R] [--ops K]
    .venv/bin/python benchmarks/zset_latency.py --layouts   # in-process layout memory only

What it does
------------
1. Starts redis-server and a ringcache node (compare.py's way: free ports,
   servers pinned to core 0, this script to core 1, stopped by PID), and
   loads one sorted set of N members `member:%07d` (default 1M) with random
   scores (the same seed for both) by pipelined ZADDs of 1000 pairs.
   Memory per member = VmRSS growth of the server process / N.
2. Latency: for each command below, CONFIG RESETSTAT, K unpipelined calls
   (default 2000) with varying arguments, then INFO commandstats
   usec_per_call (the server's own time for the command, what the issue
   asks about) and the client's median round trip. The servers alternate,
   R rounds (default 3), and the table shows the median of the rounds.

   ZADD new      ZADD key score new:%07d            (insert)
   ZADD update   ZADD key score member:%07d         (move an existing member)
   ZSCORE        ZSCORE key member:%07d
   ZRANK         ZRANK key member:%07d
   ZRANGE rank   ZRANGE key r r+9                   (10 elements at a random rank)
   ZRANGE score  ZRANGE key s +inf BYSCORE LIMIT 0 10
   ZCOUNT        ZCOUNT key s s+1000
   ZREM          ZREM key member:%07d
   ZPOPMIN       ZPOPMIN key

3. `--layouts` measures in this process (a fresh subprocess per layout) the
   RSS growth of 1M members in the candidate structures: the ZSet as built
   (dict + blocked parallel lists), and sortedcontainers' SortedList of
   (score, member) tuples beside a dict.

The machine is shared: absolute figures drift, the ratios of one run are
what to compare.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import (CLIENT_CORE, DEFAULT_RINGCACHE_CMD, Processes,  # noqa: E402
                     rss_bytes)

REDIS_CMD = "redis-server --port {port} --save '' --appendonly no --bind 127.0.0.1"
KEY = "zbench"
BATCH = 1000


def load(client: redis.Redis, members: int, seed: int) -> float:
    rng = random.Random(seed)
    start = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for first in range(0, members, BATCH):
        args: list = []
        for i in range(first, min(first + BATCH, members)):
            args += [repr(rng.random() * 1e6), b"member:%07d" % i]
        pipe.execute_command("ZADD", KEY, *args)
        if len(pipe) >= 20:
            pipe.execute()
    pipe.execute()
    return time.perf_counter() - start


def workloads(members: int, ops: int, rng: random.Random) -> list[tuple[str, str, list]]:
    """(label, commandstats name, argv lists)."""
    def member() -> bytes:
        return b"member:%07d" % rng.randrange(members)

    def score() -> str:
        return repr(rng.random() * 1e6)

    removed = rng.sample(range(members), ops)
    return [
        ("ZADD new", "zadd", [["ZADD", KEY, score(), b"new:%07d" % i] for i in range(ops)]),
        ("ZADD update", "zadd", [["ZADD", KEY, score(), member()] for _ in range(ops)]),
        ("ZSCORE", "zscore", [["ZSCORE", KEY, member()] for _ in range(ops)]),
        ("ZRANK", "zrank", [["ZRANK", KEY, member()] for _ in range(ops)]),
        ("ZRANGE rank", "zrange", [["ZRANGE", KEY, r, r + 9]
                                   for r in (rng.randrange(members) for _ in range(ops))]),
        ("ZRANGE score", "zrange", [["ZRANGE", KEY, score(), "+inf", "BYSCORE", "LIMIT", 0, 10]
                                    for _ in range(ops)]),
        ("ZCOUNT", "zcount", [["ZCOUNT", KEY, s, s + 1000]
                              for s in (rng.random() * 1e6 for _ in range(ops))]),
        ("ZREM", "zrem", [["ZREM", KEY, b"member:%07d" % i] for i in removed]),
        ("ZPOPMIN", "zpopmin", [["ZPOPMIN", KEY] for _ in range(ops)]),
    ]


def run_phase(client: redis.Redis, stat: str, commands: list) -> tuple[float, float]:
    """(server usec per call from INFO commandstats, client median round trip in usec)."""
    client.config_resetstat()
    trips = []
    for argv in commands:
        t = time.perf_counter()
        client.execute_command(*argv)
        trips.append(time.perf_counter() - t)
    stats = client.info("commandstats")
    return float(stats[f"cmdstat_{stat}"]["usec_per_call"]), statistics.median(trips) * 1e6


def measure_servers(args: argparse.Namespace) -> str:
    workdir = Path(tempfile.mkdtemp(prefix="zset-bench-"))
    procs = Processes(workdir, pin=True)
    lines = []
    try:
        servers = {}
        memory = {}
        # --dir: a file left in the repository (dump.rdb) must not be loaded.
        for name, template in (("redis", REDIS_CMD), ("ringcache", DEFAULT_RINGCACHE_CMD)):
            template += f" --dir {workdir}"
            server = procs.start(name, template)
            client = redis.Redis(port=server.port, socket_timeout=600)
            before = rss_bytes(server.pid)
            seconds = load(client, args.members, seed=1)
            time.sleep(0.5)
            memory[name] = (rss_bytes(server.pid) - before) / args.members
            print(f"{name}: loaded {args.members} members in {seconds:.1f}s, "
                  f"{memory[name]:.1f} bytes/member", flush=True)
            servers[name] = (server, client)
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for round_no in range(args.rounds):
            for name in ("redis", "ringcache"):
                client = servers[name][1]
                # The same argument sequence for both servers in a round.
                for label, stat, commands in workloads(args.members, args.ops,
                                                       random.Random(100 + round_no)):
                    results.setdefault((label, name), []).append(run_phase(client, stat, commands))
                # Drop the inserted members so that every round starts alike.
                pipe = client.pipeline(transaction=False)
                for i in range(0, args.ops, BATCH):
                    pipe.execute_command("ZREM", KEY, *(b"new:%07d" % j
                                                        for j in range(i, min(i + BATCH, args.ops))))
                pipe.execute()
            print(f"round {round_no + 1}/{args.rounds} done", flush=True)
        size = {name: servers[name][1].zcard(KEY) for name in servers}
    finally:
        procs.stop_all()
    labels = [label for label, _, _ in workloads(10, 1, random.Random(0))]
    lines.append(f"Command: `.venv/bin/python benchmarks/zset_latency.py --members {args.members} "
                 f"--rounds {args.rounds} --ops {args.ops}` (final sizes {size})")
    lines.append("")
    lines.append("| command | redis usec/call | ringcache usec/call | ratio | redis RTT p50 us | "
                 "ringcache RTT p50 us |")
    lines.append("|---|---|---|---|---|---|")
    for label in labels:
        r = [x[0] for x in results[(label, "redis")]]
        c = [x[0] for x in results[(label, "ringcache")]]
        rt = [x[1] for x in results[(label, "redis")]]
        ct = [x[1] for x in results[(label, "ringcache")]]
        lines.append(f"| {label} | {statistics.median(r):.2f} | {statistics.median(c):.2f} | "
                     f"{statistics.median(c) / max(statistics.median(r), 1e-9):.1f}x | "
                     f"{statistics.median(rt):.0f} | {statistics.median(ct):.0f} |")
    lines.append("")
    lines.append(f"Memory per member (VmRSS growth / {args.members}): redis "
                 f"{memory['redis']:.1f} B, ringcache {memory['ringcache']:.1f} B, ratio "
                 f"{memory['ringcache'] / memory['redis']:.2f}x")
    return "\n".join(lines)


LAYOUT_SCRIPT = r"""
import random, sys, gc
sys.path.insert(0, {root!r})
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096
rng = random.Random(1)
n = {n}
data = [(b"member:%07d" % i, rng.random() * 1e6) for i in range(n)]
gc.collect(); before = rss()
if {layout!r} == "zset":
    from ringcache.storage.zset import ZSet
    z = ZSet()
    for m, s in data:
        z.add(m, s)
else:
    from sortedcontainers import SortedList
    d = {{}}; sl = SortedList()
    for m, s in data:
        d[m] = s
        sl.add((s, m))
gc.collect()
print((rss() - before) / n)
"""


def measure_layouts(members: int) -> str:
    root = str(Path(__file__).resolve().parent.parent)
    out = [f"In-process RSS growth per member, {members} members, of the structure alone; the "
           f"member bytes (48 B) and score float (24 B) objects come on top in either layout "
           f"(`--layouts`):", ""]
    for layout, label in (("zset", "ZSet: dict + blocked parallel score/member lists + Fenwick tree"),
                          ("sortedlist", "dict + sortedcontainers.SortedList of (score, member) tuples")):
        text = subprocess.run([sys.executable, "-c", LAYOUT_SCRIPT.format(root=root, n=members,
                                                                          layout=layout)],
                              capture_output=True, text=True, check=True).stdout
        # The data list made the member/score objects before `before`: the
        # structure's share is the growth; add the objects themselves.
        out.append(f"- {label}: {float(text):.1f} B (+ 72 B = {float(text) + 72:.0f} B a member)")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--layouts", action="store_true")
    args = parser.parse_args()
    if args.layouts:
        print(measure_layouts(args.members))
        return
    try:
        os.sched_setaffinity(0, {CLIENT_CORE})
    except (AttributeError, OSError):
        pass
    print(measure_servers(args))


if __name__ == "__main__":
    main()
