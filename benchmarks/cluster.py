"""Cluster figures (issue 14): scaling with redis-benchmark --cluster next to
a real Redis Cluster with the same shard count, and a live rebalance
3 -> 4 shards under a write load.

  .venv/bin/python benchmarks/cluster.py scaling [--shards 1 --shards 2] [--requests 100000]
  .venv/bin/python benchmarks/cluster.py rebalance [--keys 100000]
  .venv/bin/python benchmarks/cluster.py redirect [--requests 20000] [--rounds 3]

scaling: for each shard count, a ringcache cluster (`ringcache cluster up`)
and a redis-server 7 cluster (one primary per shard, even slot ranges by
CLUSTER ADDSLOTSRANGE, then CLUSTER MEET) on the same machine; `redis-benchmark --cluster
-t set,get -c 50 -r 100000 -d 32 -n N -q` at -P 1 and -P 16 (without
--cluster for one shard: redis-benchmark refuses a one-node cluster), alternating
ringcache / redis for `--rounds` rounds; medians of the aggregate
requests per second.

rebalance: a 3-shard ringcache cluster with --keys keys; a writer thread
(redis-py RedisCluster) SETs unique keys and records every acknowledged one
with its latency; `add_node` starts a fourth node and rebalances (the ring's
moves, each a live migration); then every acknowledged key is read back.
Reports the duration, acknowledged writes lost, the writer's p99 before and
during the move, the longest single write, and each migration's write pause
(from the source nodes' logs).

redirect: what routing costs a client. One redis-py client GETs random keys
(of 10,000, 32-byte values) one at a time, through RedisCluster on a 3-shard
cluster and through a plain Redis client on a standalone node of the same
server; ringcache and redis-server side by side, alternating rounds. Reports
p50/p99 per setup and the cluster/standalone ratio of each server. The
cluster client pays its own routing (CRC16, slot table lookup) and, on a
3-shard cluster, a connection per shard; no MOVED after its first map read.
A second figure: the first GET after a slot moved (a stale client follows
one -MOVED) against the same GET again.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

import redis  # noqa: E402
from redis.cluster import RedisCluster  # noqa: E402

from local import free_base  # noqa: E402
from ringcache.cluster import admin  # noqa: E402


def redis_cluster_up(directory: Path, base: int, shards: int) -> list[subprocess.Popen]:
    procs = []
    for i in range(shards):
        d = directory / f"redis-{base + i}"
        d.mkdir(parents=True)
        procs.append(subprocess.Popen(
            ["redis-server", "--port", str(base + i), "--cluster-enabled", "yes", "--save", "",
             "--appendonly", "no", "--cluster-config-file", str(d / "nodes.conf"),
             "--dir", str(d)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for i in range(shards):
        admin.wait_for(lambda: admin.client(base + i).ping(), 10, "redis-server")
    # Even slot ranges, then MEET (redis-cli --cluster create wants 3+ masters).
    for i in range(shards):
        c = admin.client(base + i)
        c.execute_command("CLUSTER", "ADDSLOTSRANGE", 16384 * i // shards,
                          16384 * (i + 1) // shards - 1)
        if i:
            c.execute_command("CLUSTER", "MEET", "127.0.0.1", base)
    admin.wait_for(lambda: admin.serving_everywhere([base + i for i in range(shards)]), 30,
                   "the redis cluster")
    return procs


def bench(port: int, requests: int, pipeline: int, shards: int) -> dict[str, float]:
    # redis-benchmark --cluster refuses a one-node cluster ("Invalid cluster:
    # 1 node(s)"): one shard is benchmarked as the plain node it is.
    cluster = ["--cluster"] if shards > 1 else []
    out = subprocess.run(["redis-benchmark", *cluster, "-p", str(port), "-t", "set,get",
                          "-c", "50", "-r", "100000", "-d", "32", "-n", str(requests),
                          "-P", str(pipeline), "-q"],
                         capture_output=True, text=True, timeout=600).stdout
    found = {}
    for name, rps in re.findall(r"(SET|GET): ([\d.]+) requests per second", out.replace("\r", "\n")):
        found[name] = float(rps)
    return found


def scaling(args: argparse.Namespace) -> None:
    rows = []
    for shards in args.shards:
        work = Path(tempfile.mkdtemp(prefix="rc-bench-"))
        base_r = free_base(shards)
        state_dir = work / "ringcache"
        admin.cluster_up(shards, 0, base_r, state_dir, 128, [], out=io.StringIO())
        base_s = free_base(shards + 12)
        while abs(base_s - base_r) < 20:
            base_s = free_base(shards + 12)
        procs = redis_cluster_up(work, base_s, shards)
        try:
            results: dict[tuple[str, int, str], list[float]] = {}
            for _ in range(args.rounds):
                for name, port in (("ringcache", base_r), ("redis", base_s)):
                    for pipeline in (1, 16):
                        for test, rps in bench(port, args.requests, pipeline, shards).items():
                            results.setdefault((name, pipeline, test), []).append(rps)
            for pipeline in (1, 16):
                for test in ("SET", "GET"):
                    ours = statistics.median(results[("ringcache", pipeline, test)])
                    theirs = statistics.median(results[("redis", pipeline, test)])
                    rows.append((shards, pipeline, test, ours, theirs))
        finally:
            admin.cluster_down(state_dir, out=io.StringIO())
            for proc in procs:
                proc.terminate()
                proc.wait(10)
            shutil.rmtree(work, ignore_errors=True)
    print("| shards | -P | test | ringcache ops/s | redis cluster ops/s | ratio |")
    print("|---:|---:|---|---:|---:|---:|")
    for shards, pipeline, test, ours, theirs in rows:
        print(f"| {shards} | {pipeline} | {test} | {ours:,.0f} | {theirs:,.0f} | "
              f"{ours / theirs:.2f} |")


class Writer(threading.Thread):
    """SETs unique keys through RedisCluster; records the acknowledged ones."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.rc = RedisCluster(host="127.0.0.1", port=port, socket_timeout=10)
        self.acked: list[bytes] = []
        self.latencies: list[tuple[float, float]] = []  # (when, seconds)
        self.errors = 0
        self.stop = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            key = b"w:%d" % i
            start = time.monotonic()
            try:
                self.rc.set(key, key)
            except redis.RedisError:
                self.errors += 1
                continue
            finally:
                i += 1
            end = time.monotonic()
            self.acked.append(key)
            self.latencies.append((end, end - start))


def p99(values: list[float]) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.99))]


def rebalance(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="rc-rebalance-"))
    base = free_base(6)
    state_dir = work / "ringcache"
    admin.cluster_up(3, 0, base, state_dir, 128, [], out=io.StringIO())
    try:
        rc = RedisCluster(host="127.0.0.1", port=base)
        loaded = 0
        batch = 1000
        while loaded < args.keys:
            pipe = rc.pipeline()
            for i in range(loaded, min(loaded + batch, args.keys)):
                pipe.set(b"preload:%d" % i, b"x" * 32)
            pipe.execute()
            loaded += batch
        writer = Writer(base)
        writer.start()
        time.sleep(2.0)
        move_start = time.monotonic()
        admin.add_node(state_dir, timeout=600, out=io.StringIO())
        move_end = time.monotonic()
        time.sleep(1.0)
        writer.stop.set()
        writer.join(30)
        lost = 0
        pipe = rc.pipeline()
        for i, key in enumerate(writer.acked):
            pipe.get(key)
            if i % 1000 == 999:
                lost += sum(1 for v in pipe.execute() if v is None)
                pipe = rc.pipeline()
        lost += sum(1 for v in pipe.execute() if v is None)
        preload_left = sum(admin.client(p).dbsize() for p in admin.load_state(state_dir)["ports"])
        before = [s for t, s in writer.latencies if t < move_start]
        during = [s for t, s in writer.latencies if move_start <= t <= move_end]
        pauses = []
        for port in admin.load_state(state_dir)["ports"]:
            log = (state_dir / str(port) / "node.log").read_text(errors="replace")
            pauses += [float(x) for x in re.findall(r"writes paused ([\d.]+) ms", log)]
        print(f"rebalance 3 -> 4 shards with {args.keys} keys under a write load:")
        print(f"  duration {move_end - move_start:.2f} s (add-node: start, join, all migrations)")
        print(f"  acknowledged writes {len(writer.acked)}, lost {lost}, "
              f"client errors {writer.errors}")
        print(f"  keys in the cluster after: {preload_left} "
              f"(preloaded {args.keys} + written {len(writer.acked)})")
        print(f"  writer p99 before {p99(before) * 1000:.2f} ms, during {p99(during) * 1000:.2f} ms,"
              f" longest write during {max(during, default=0) * 1000:.1f} ms")
        print(f"  migrations {len(pauses)}, write pause per flip: max {max(pauses, default=0):.1f}"
              f" ms, median {statistics.median(pauses) if pauses else 0:.1f} ms")
    finally:
        admin.cluster_down(state_dir, out=io.StringIO())
        shutil.rmtree(work, ignore_errors=True)


def standalone_up(directory: Path, port: int, redis_server: bool) -> subprocess.Popen:
    directory.mkdir(parents=True)
    if redis_server:
        argv = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                "--dir", str(directory)]
    else:
        argv = [sys.executable, "-m", "ringcache", "server", "--port", str(port), "--save", "",
                "--dir", str(directory)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    admin.wait_for(lambda: admin.client(port).ping(), 20, "a standalone node")
    return proc


def get_latencies(client: Any, keys: list[bytes], requests: int) -> list[float]:
    import random

    rng = random.Random(7)
    out = []
    for _ in range(requests):
        key = keys[rng.randrange(len(keys))]
        start = time.perf_counter()
        client.get(key)
        out.append(time.perf_counter() - start)
    return out


def redirect(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="rc-redirect-"))
    base = free_base(12)  # ringcache base..base+3 (add_node takes the next port), redis base+6..
    keys = [b"key:%d" % i for i in range(10000)]
    procs: list[subprocess.Popen] = []
    state_dir = work / "ringcache"
    try:
        admin.cluster_up(3, 0, base, state_dir, 128, [], out=io.StringIO())
        procs += redis_cluster_up(work / "redis-cluster", base + 6, 3)
        procs.append(standalone_up(work / "rc-alone", base + 9, False))
        procs.append(standalone_up(work / "redis-alone", base + 10, True))
        setups = {("ringcache", "cluster"): RedisCluster(host="127.0.0.1", port=base),
                  ("redis", "cluster"): RedisCluster(host="127.0.0.1", port=base + 6),
                  ("ringcache", "standalone"): redis.Redis(port=base + 9),
                  ("redis", "standalone"): redis.Redis(port=base + 10)}
        for client in setups.values():
            pipe = client.pipeline()
            for key in keys:
                pipe.set(key, b"x" * 32)
            pipe.execute()
        samples: dict[tuple[str, str], list[float]] = {k: [] for k in setups}
        for _ in range(args.rounds):
            for name, client in setups.items():
                get_latencies(client, keys, 500)  # warm
                samples[name] += get_latencies(client, keys, args.requests)
        print(f"GET latency, one client, {args.requests} x {args.rounds} rounds (ms):")
        print("| server | setup | p50 | p99 |")
        print("|---|---|---:|---:|")
        for (server, setup), values in samples.items():
            values.sort()
            print(f"| {server} | {setup} | {values[len(values) // 2] * 1000:.3f} | "
                  f"{p99(values) * 1000:.3f} |")
        for server in ("ringcache", "redis"):
            c, a = samples[(server, "cluster")], samples[(server, "standalone")]
            print(f"{server}: cluster/standalone p50 {c[len(c) // 2] / a[len(a) // 2]:.2f}x, "
                  f"p99 {p99(c) / p99(a):.2f}x")
        stale = stale_get(state_dir, base)
        print(f"ringcache: GET after its slot moved (one -MOVED followed) {stale[0] * 1000:.3f} ms,"
              f" the same GET again {stale[1] * 1000:.3f} ms")
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        admin.cluster_down(state_dir, out=io.StringIO())
        shutil.rmtree(work, ignore_errors=True)


def stale_get(state_dir: Path, base: int) -> tuple[float, float]:
    """Move slots by having a fourth node join; a client that read the map
    before the move pays one -MOVED on its next GET of a moved key. Returns
    the medians of that first GET and of the same GET repeated."""
    # reinitialize_steps: redis-py re-reads the whole map after that many
    # MOVEDs; a huge value keeps it following one -MOVED per moved slot.
    client = RedisCluster(host="127.0.0.1", port=base, reinitialize_steps=10**9)
    keys = [b"key:%d" % i for i in range(2000)]
    owner_before = {k: client.get_node_from_key(k).port for k in keys}
    for key in keys:
        client.get(key)
    admin.add_node(state_dir, timeout=600, out=io.StringIO())
    fresh = RedisCluster(host="127.0.0.1", port=base)
    moved = [k for k in keys if fresh.get_node_from_key(k).port != owner_before[k]]
    fresh.close()
    first, again = [], []
    for key in moved:
        start = time.perf_counter()
        client.get(key)
        first.append(time.perf_counter() - start)
        start = time.perf_counter()
        client.get(key)
        again.append(time.perf_counter() - start)
    print(f"  ({len(moved)} of {len(keys)} keys moved to the new node)")
    return statistics.median(first), statistics.median(again)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("scaling")
    s.add_argument("--shards", type=int, action="append")
    s.add_argument("--requests", type=int, default=100000)
    s.add_argument("--rounds", type=int, default=2)
    r = sub.add_parser("rebalance")
    r.add_argument("--keys", type=int, default=100000)
    d = sub.add_parser("redirect")
    d.add_argument("--requests", type=int, default=20000)
    d.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.what == "scaling":
        args.shards = args.shards or [1, 2]
        scaling(args)
    elif args.what == "redirect":
        redirect(args)
    else:
        rebalance(args)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
