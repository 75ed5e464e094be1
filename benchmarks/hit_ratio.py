"""Hit ratio under maxmemory: a Zipf trace replayed against redis-server and ringcache.

    .venv/bin/python benchmarks/hit_ratio.py [--requests N] [--skews 0.9,1.1] [--rate R]
                                             [--policies allkeys-lru,allkeys-lfu] [--no-write]

The trace: `--keys` distinct keys (1M), ranks drawn from a Zipf distribution
of the given skew (P(rank r) ~ 1 / r^s), each rank mapped to a key id by a
fixed random permutation; values of mixed sizes (16..512 bytes, fixed per
key). Each request is a GET; a miss is followed by a SET of the key, as a
cache-aside client does. Requests go in pipelined batches of 100 GETs, then
the SETs for that batch's misses (the same for both servers). The first
`--warmup` requests fill the cache and are not counted.

Both servers get the trace at the same pace (`--rate` requests a second,
default 20,000; 0 = as fast as each goes). LFU counters decay per minute of
wall clock (lfu-decay-time), so a server replaying more slowly sees more
decay per request; unpaced, the slower server's LFU is judged on a
different workload.

Two comparisons, each policy and skew:

* equal maxmemory: redis-server's maxmemory is its used_memory with 10 % of
  the keys loaded; ringcache gets the same number. Per-key overhead differs,
  so ringcache holds fewer keys.
* equal resident keys: ringcache's maxmemory is its own used_memory with
  the same 10 % loaded, so both hold about as many keys (reported).

Servers run one at a time on core 0 (taskset when there are 2+ cores), the
load on core 1. Results are appended to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import bisect
import datetime
import itertools
import random
import socket
import sys
import time
from pathlib import Path

import hiredis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402  (the process helpers: Processes, call, machine facts)

BATCH = 100


def zipf_trace(keys: int, requests: int, skew: float, seed: int) -> list[int]:
    rng = random.Random(seed)
    cumulative = list(itertools.accumulate(1.0 / (r + 1) ** skew for r in range(keys)))
    total = cumulative[-1]
    permutation = list(range(keys))
    rng.shuffle(permutation)
    draw = rng.random
    return [permutation[bisect.bisect(cumulative, draw() * total)] for _ in range(requests)]


def value_for(key_id: int) -> bytes:
    size = 16 + (key_id * 2654435761 % 497)  # 16..512 bytes, fixed per key
    return b"v" * size


class Client:
    """A raw pipelined RESP client (hiredis parser): the load must not be the bottleneck."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.reader = hiredis.Reader()

    def run(self, commands: list[list[bytes]]) -> list:
        out = []
        for argv in commands:
            out.append(b"*%d\r\n" % len(argv))
            for arg in argv:
                out.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
        self.sock.sendall(b"".join(out))
        replies = []
        while len(replies) < len(commands):
            reply = self.reader.gets()
            if reply is False:
                self.reader.feed(self.sock.recv(1 << 20))
                continue
            replies.append(reply)
        return replies

    def info(self, section: str) -> dict[str, str]:
        text = self.run([[b"INFO", section.encode()]])[0].decode()
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)

    def close(self) -> None:
        self.sock.close()


def key_name(key_id: int) -> bytes:
    return b"key:%09d" % key_id


def load(client: Client, key_ids) -> None:
    batch = []
    for key_id in key_ids:
        batch.append([b"SET", key_name(key_id), value_for(key_id)])
        if len(batch) == 1000:
            client.run(batch)
            batch = []
    if batch:
        client.run(batch)


def calibrate(procs: compare.Processes, name: str, template: str, keys: int, fraction: float) -> int:
    """used_memory with `fraction` of the keys loaded (no maxmemory)."""
    server = procs.start(name, template)
    try:
        client = Client(server.port)
        rng = random.Random(7)
        load(client, rng.sample(range(keys), int(keys * fraction)))
        used = int(client.info("memory")["used_memory"])
        client.close()
        return used
    finally:
        procs.stop(server)


def replay(procs: compare.Processes, name: str, template: str, policy: str, maxmemory: int,
           trace: list[int], warmup: int, decay: int | None = None, rate: float = 0) -> dict:
    server = procs.start(name, template)
    try:
        client = Client(server.port)
        client.run([[b"CONFIG", b"SET", b"maxmemory-policy", policy.encode()],
                    [b"CONFIG", b"SET", b"maxmemory", b"%d" % maxmemory]])
        if decay is not None:  # LFU decay is per wall-clock minute: a slower replay decays more
            client.run([[b"CONFIG", b"SET", b"lfu-decay-time", b"%d" % decay]])
        hits = gets = 0
        start = time.perf_counter()
        for i in range(0, len(trace), BATCH):
            if rate:
                late = start + i / rate - time.perf_counter()
                if late > 0:
                    time.sleep(late)
            ids = trace[i:i + BATCH]
            replies = client.run([[b"GET", key_name(k)] for k in ids])
            misses = [[b"SET", key_name(k), value_for(k)] for k, v in zip(ids, replies) if v is None]
            if misses:
                client.run(misses)
            if i >= warmup:
                gets += len(ids)
                hits += len(ids) - len(misses)
        elapsed = time.perf_counter() - start
        info = client.info("all")
        resident = int(client.run([[b"DBSIZE"]])[0])
        client.close()
        return {"hit": hits / gets, "resident": resident, "evicted": int(info["evicted_keys"]),
                "used": int(info["used_memory"]), "seconds": elapsed,
                "rss": compare.rss_bytes(server.pid)}
    finally:
        procs.stop(server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--warmup", type=int, default=None, help="default: requests // 3")
    parser.add_argument("--skews", default="0.9,1.1")
    parser.add_argument("--policies", default="allkeys-lru,allkeys-lfu")
    parser.add_argument("--fraction", type=float, default=0.10)
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--lfu-decay-time", type=int, help="set on both servers")
    parser.add_argument("--rate", type=float, default=20_000,
                        help="requests a second for both servers (0: unpaced)")
    parser.add_argument("--equal-keys-only", action="store_true",
                        help="skip the equal-maxmemory run of ringcache")
    parser.add_argument("--ringcache-cmd", default=compare.DEFAULT_RINGCACHE_CMD)
    args = parser.parse_args()
    warmup = args.requests // 3 if args.warmup is None else args.warmup
    pin = (compare.os.cpu_count() or 1) >= 2
    if pin:
        compare.os.sched_setaffinity(0, {compare.CLIENT_CORE})
    rows = []
    with compare.tempfile.TemporaryDirectory() as logdir:
        # (their own directory: a dump.rdb in the checkout must not be loaded)
        templates = {"redis": compare.REDIS_CMD + f" --dir {logdir}",
                     "ringcache": args.ringcache_cmd + f" --dir {logdir}"}
        procs = compare.Processes(Path(logdir), pin)
        try:
            budget = {name: calibrate(procs, name, t, args.keys, args.fraction)
                      for name, t in templates.items()}
            compare.log(f"maxmemory for {args.fraction:.0%} of the keys: {budget}")
            for skew in (float(s) for s in args.skews.split(",")):
                trace = zipf_trace(args.keys, args.requests, skew, seed=int(skew * 100))
                for policy in args.policies.split(","):
                    runs = {}
                    for label, name, maxmemory in (
                            ("redis", "redis", budget["redis"]),
                            ("ringcache, equal maxmemory", "ringcache", budget["redis"]),
                            ("ringcache, equal resident keys", "ringcache", budget["ringcache"])):
                        if args.equal_keys_only and label == "ringcache, equal maxmemory":
                            runs[label] = {"hit": float("nan"), "resident": 0, "seconds": 0}
                            continue
                        compare.log(f"skew {skew} {policy}: {label} (maxmemory {maxmemory})")
                        runs[label] = replay(procs, name, templates[name], policy, maxmemory,
                                             trace, warmup, args.lfu_decay_time, args.rate)
                        compare.log(f"  -> {runs[label]}")
                    rows.append((skew, policy, runs))
        finally:
            procs.stop_all()
    report = build_report(args, warmup, budget, rows)
    print(report)
    if not args.no_write:
        extra = f", lfu-decay-time {args.lfu_decay_time}" if args.lfu_decay_time is not None else ""
        heading = f"## {datetime.date.today().isoformat()} — hit ratio under maxmemory{extra}"
        compare.write_results(compare.DEFAULT_RESULTS, heading, heading + "\n\n" + report)
    return 0


def build_report(args, warmup: int, budget: dict, rows: list) -> str:
    lines = [
        "Command: `.venv/bin/python benchmarks/hit_ratio.py " + " ".join(sys.argv[1:]) + "` (in /work/main)",
        "",
        f"- ringcache tree: {compare.git_revision()}",
        f"- trace: {args.keys:,} distinct keys `key:%09d`, Zipf ranks, {args.requests:,} GETs "
        f"(SET on miss, values 16-512 bytes fixed per key), first {warmup:,} not counted; "
        f"pipelined {BATCH} GETs then that batch's SETs; "
        + (f"paced at {args.rate:,.0f} requests/s for both servers" if args.rate else "unpaced"),
        f"- maxmemory: redis-server's used_memory with {args.fraction:.0%} of the keys loaded = "
        f"{budget['redis']:,} B; ringcache's own for the same keys = {budget['ringcache']:,} B "
        f"({budget['ringcache'] / budget['redis']:.2f}x)",
        "- servers one at a time on core 0, load on core 1; load average at start: "
        + " ".join(f"{x:.2f}" for x in compare.os.getloadavg()),
        "",
        "| skew | policy | redis hit % | ringcache hit %, equal maxmemory | "
        "ringcache hit %, equal resident keys | difference at equal keys (pp) | "
        "resident keys redis / ringcache (equal mm) / ringcache (equal keys) | "
        "replay s redis / ringcache |",
        "|---:|---|---:|---:|---:|---:|---|---|",
    ]
    targets = []
    for skew, policy, runs in rows:
        r = runs["redis"]
        m = runs["ringcache, equal maxmemory"]
        k = runs["ringcache, equal resident keys"]
        diff = (k["hit"] - r["hit"]) * 100
        lines.append(
            f"| {skew} | {policy} | {r['hit'] * 100:.2f} | {m['hit'] * 100:.2f} | "
            f"{k['hit'] * 100:.2f} | {diff:+.2f} | {r['resident']:,} / {m['resident']:,} / "
            f"{k['resident']:,} | {r['seconds']:.0f} / {k['seconds']:.0f} |")
        if policy in ("allkeys-lru", "allkeys-lfu"):
            targets.append((f"skew {skew} {policy}: within 1 pp of redis at equal resident keys",
                            f"{diff:+.2f} pp", compare.verdict(abs(diff) <= 1.0 or diff > 0)))
    lines += ["", "### Targets", "", "| target | measured | result |", "|---|---:|---|"]
    lines += [f"| {label} | {value} | {result} |" for label, value, result in targets]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
