"""Soak: a long mixed workload against one node, RSS and latency per minute.

    .venv/bin/python benchmarks/soak.py [--minutes 30] [--rate 3000] [--maxmemory 32mb]

One ringcache node (allkeys-lru under maxmemory, no persistence) and, at a
fixed total rate, every kind of traffic a shared cache sees at once:

- a mixed read/write load over 300k keys of 64-800 bytes (strings with and
  without TTLs of 1-5 s, hashes, lists, sets, sorted sets, counters, MULTI/EXEC),
  which overflows maxmemory so that the node evicts all the time;
- errors on purpose (WRONGTYPE, syntax, arity, unknown commands): 5 % of calls;
- blocked clients (BLPOP with short timeouts, some served by pushes, some not);
- pub/sub (a subscriber on a channel and a pattern, a publisher);
- new connections (a client that connects, does one call and leaves).

Every minute it records the node's RSS, used_memory, evicted and expired keys,
and the latency percentiles of the mixed load's calls (measured by the
client: queueing on this machine included). It prints a markdown table,
writes it into benchmarks/RESULTS.md (section "Soak"), and draws
benchmarks/soak.png (RSS and p50/p99 per minute) when matplotlib is installed
(`.venv/bin/pip install matplotlib`). Target (issue 11): RSS growth after the
first minute < 2 %.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
from nodes import spawn_node  # noqa: E402

KEYS = 300_000


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Mixed(threading.Thread):
    """The main load; keeps every call's latency for the current minute."""

    def __init__(self, port: int, rate: float, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.r = redis.Redis(port=port, protocol=2, socket_timeout=10)
        self.rate, self.stop = rate, stop
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors = 0
        self.rng = random.Random(1)

    def take(self) -> tuple[list[float], int]:
        with self.lock:
            out, self.latencies = self.latencies, []
            errors, self.errors = self.errors, 0
        return out, errors

    def one(self) -> None:
        rng, r = self.rng, self.r
        k = b"k:%d" % rng.randrange(KEYS)
        roll = rng.random()
        value = rng.randbytes(rng.randint(64, 800))
        if roll < 0.35:
            r.get(k)
        elif roll < 0.55:
            r.set(k, value, ex=rng.randint(1, 5) if rng.random() < 0.5 else None)
        elif roll < 0.62:
            r.hset(b"h:%d" % rng.randrange(KEYS // 10), b"f%d" % rng.randrange(20), value[:100])
        elif roll < 0.68:
            key = b"l:%d" % rng.randrange(KEYS // 100)
            r.lpush(key, value[:100])
            r.ltrim(key, 0, 50)
        elif roll < 0.73:
            r.sadd(b"s:%d" % rng.randrange(KEYS // 100), rng.randrange(1000))
        elif roll < 0.78:
            r.zadd(b"z:%d" % rng.randrange(KEYS // 100), {b"m%d" % rng.randrange(1000): rng.random()})
        elif roll < 0.85:
            r.incr(b"c:%d" % rng.randrange(1000))
        elif roll < 0.90:
            pipe = r.pipeline(transaction=True)
            pipe.set(k, value).expire(k, 3).get(k)
            pipe.execute()
        elif roll < 0.95:
            r.zrange(b"z:%d" % rng.randrange(KEYS // 100), 0, 10, withscores=True)
        else:  # errors on purpose
            try:
                rng.choice([
                    lambda: r.sadd(b"soak:str", "x") and r.incr(b"soak:str"),
                    lambda: r.execute_command("SET", k),
                    lambda: r.execute_command("NOSUCHCOMMAND", k),
                    lambda: r.execute_command("ZADD", k, "nan", "m"),
                ])()
            except redis.ResponseError:
                pass

    def run(self) -> None:
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                self.one()
            except redis.RedisError as exc:
                if self.stop.is_set():
                    return
                with self.lock:
                    self.errors += 1
                    if self.errors == 1:
                        print(f"client error: {exc!r}", file=sys.stderr)
            elapsed = time.monotonic() - start
            with self.lock:
                self.latencies.append(elapsed)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1.0:  # fell behind: do not burst to catch up
                next_at = time.monotonic()


def quiet_at_stop(work):
    """A background load ends with the node: errors after stop are expected."""
    def run(port: int, stop: threading.Event) -> None:
        try:
            work(port, stop)
        except redis.RedisError:
            if not stop.is_set():
                raise
    return run


@quiet_at_stop
def blocked_clients(port: int, stop: threading.Event) -> None:
    r = redis.Redis(port=port, protocol=2, socket_timeout=10)
    pusher = redis.Redis(port=port, protocol=2, socket_timeout=10)
    rng = random.Random(2)
    while not stop.is_set():
        if rng.random() < 0.5:
            pusher.rpush(b"queue", b"job")
        r.blpop([b"queue"], timeout=0.05)


@quiet_at_stop
def pubsub(port: int, stop: threading.Event) -> None:
    sub = redis.Redis(port=port, protocol=2).pubsub()
    sub.subscribe("news")
    sub.psubscribe("ev.*")
    pub = redis.Redis(port=port, protocol=2)
    n = 0
    while not stop.is_set():
        pub.publish("news" if n % 2 else f"ev.{n % 7}", b"x" * 100)
        n += 1
        while sub.get_message(timeout=0):
            pass
        time.sleep(0.005)


@quiet_at_stop
def churn(port: int, stop: threading.Event) -> None:
    while not stop.is_set():
        c = redis.Redis(port=port, protocol=2)
        c.ping()
        c.close()
        time.sleep(0.02)


def prefill(port: int) -> None:
    """Fill the node up to maxmemory first, so the minutes measured are the
    steady state (evicting all along), not the climb to it."""
    r = redis.Redis(port=port, protocol=2, socket_timeout=30)
    rng = random.Random(3)
    i = 0
    while r.info("stats")["evicted_keys"] == 0:
        pipe = r.pipeline(transaction=False)
        for _ in range(1000):
            pipe.set(b"k:%d" % (i % KEYS), rng.randbytes(rng.randint(64, 800)))
            i += 1
        pipe.execute()
    r.close()


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--rate", type=float, default=3000, help="mixed-load calls per second")
    parser.add_argument("--maxmemory", default="32mb")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--plot", default=str(HERE / "soak.png"))
    parser.add_argument("--minute-seconds", type=float, default=60, help="shorten a 'minute' to try the script")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    node = spawn_node(["--maxmemory", args.maxmemory, "--maxmemory-policy", "allkeys-lru"], tmp / "node.log")
    prefill(node.port)
    stop = threading.Event()
    mixed = Mixed(node.port, args.rate, stop)
    threads = [mixed] + [threading.Thread(target=f, args=(node.port, stop), daemon=True)
                         for f in (blocked_clients, pubsub, churn)]
    for thread in threads:
        thread.start()
    info = redis.Redis(port=node.port, protocol=2)
    rows = []
    try:
        for minute in range(1, args.minutes + 1):
            time.sleep(args.minute_seconds)
            lat, errors = mixed.take()
            lat.sort()
            stats = info.info()
            rows.append({
                "minute": minute, "rss_mb": rss_kb(node.proc.pid) / 1024,
                "used_mb": stats["used_memory"] / 2**20, "calls": len(lat),
                "p50_ms": percentile(lat, 0.50) * 1e3, "p99_ms": percentile(lat, 0.99) * 1e3,
                "p999_ms": percentile(lat, 0.999) * 1e3, "evicted": stats["evicted_keys"],
                "expired": stats["expired_keys"], "client_errors": errors,
            })
            print(" ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in rows[-1].items()),
                  flush=True)
    finally:
        stop.set()
        alive = node.proc.poll() is None
        node.stop()
    report(rows, args, alive)


def report(rows: list[dict], args, alive: bool) -> None:
    first = rows[0]["rss_mb"]
    last = rows[-1]["rss_mb"]
    growth = (last - first) / first * 100
    peak = max(row["rss_mb"] for row in rows)
    lines = [
        f"## Soak ({time.strftime('%Y-%m-%d')}, {args.minutes} min, {args.rate:.0f} mixed calls/s, "
        f"maxmemory {args.maxmemory})",
        "",
        f"`.venv/bin/python benchmarks/soak.py --minutes {args.minutes} --rate {args.rate:.0f} "
        f"--maxmemory {args.maxmemory}`; plot: benchmarks/soak.png. The node "
        f"{'stayed up' if alive else 'DIED'}. RSS after minute 1: {first:.1f} MB, at the end: {last:.1f} MB "
        f"(growth {growth:+.2f} %, peak {peak:.1f} MB; target < 2 %: {'PASS' if growth < 2 else 'MISS'}). "
        "Latency is measured by a Python client on the same 2 cores, queueing included.",
        "",
        "| min | RSS MB | used_memory MB | calls | p50 ms | p99 ms | p99.9 ms | evicted | expired |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(f"| {row['minute']} | {row['rss_mb']:.1f} | {row['used_mb']:.1f} | {row['calls']} | "
                     f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['p999_ms']:.2f} | {row['evicted']} | "
                     f"{row['expired']} |")
    section = "\n".join(lines) + "\n"
    print(section)
    results = Path(args.results)
    text = results.read_text() if results.exists() else "# Results\n"
    text = re.sub(r"\n## Soak \(.*?(?=\n## |\Z)", "\n", text, flags=re.S).rstrip("\n") + "\n\n" + section
    results.write_text(text)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
        return
    minutes = [row["minute"] for row in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    top.plot(minutes, [row["rss_mb"] for row in rows], label="RSS")
    top.plot(minutes, [row["used_mb"] for row in rows], label="used_memory")
    top.set_ylabel("MB")
    top.legend()
    bottom.plot(minutes, [row["p50_ms"] for row in rows], label="p50")
    bottom.plot(minutes, [row["p99_ms"] for row in rows], label="p99")
    bottom.set_ylabel("ms")
    bottom.set_xlabel("minute")
    bottom.legend()
    fig.suptitle("ringcache soak: RSS and client latency per minute")
    fig.savefig(args.plot, dpi=80)


if __name__ == "__main__":
    main()
