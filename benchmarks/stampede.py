"""Cache stampede benchmark for ringcache.client (issue 7).

    .venv/bin/python benchmarks/stampede.py [--readers 1000] [--rounds 3]
        [--server redis|ringcache|both] [--url redis://...] [--no-write]

Scenario, per round: a key is stored with a soft expiry E = now + 0.3 s (and the
load duration delta = 50 ms recorded, as a real load would have left it).
1000 readers (threads, then asyncio tasks) call ``get_or_set`` in a loop from
before E until E + 0.3 s, with a random think time of 0-100 ms between calls.
The loader takes 50 ms (``time.sleep`` / ``asyncio.sleep``) and stores the new
value with a 60 s TTL, so each round contains exactly one expiry. Reported per
mode: loader calls per expiry (total calls / rounds) and the latency of the
reader calls started from 150 ms before the expiry to the end of the round
(p50 / p99, ms); the first 150 ms, when the readers start and the pool opens its
connections, are left out of the latency but not of the loader count.

Modes. Single flight is off in the first four, so the 1000 readers behave like
1000 independent client processes and only the named protection acts:
* none: no protection (every reader that misses loads);
* lock: SET NX PX lock; waiters back off and re-read;
* lock+stale: the same with stale_ttl, so waiters return the stale value;
* xfetch: probabilistic early recomputation, beta = 1;
* refresh-ahead: the key registered as hot (refresh 0.25 s before expiry,
  checked every 20 ms by the cache's background thread / task); readers use
  lock mode;
* single-flight: no lock, in-process single flight only (one process: 1 load).

Targets: lock and refresh-ahead -> exactly 1 loader call per expiry.
Servers are started by this script on free ports and stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import redis
import redis.asyncio as aredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ringcache.client import AsyncCache, Cache  # noqa: E402

LOAD_S = 0.05
LEAD_S = 0.3      # readers start this long before the expiry
TAIL_S = 0.3      # and stop this long after it
THINK_S = 0.1
MEASURE_BEFORE_S = 0.15  # latency counts from here: the start-up burst (connects) is left out
KEY = "bench:stampede"
NOTE = ("Reading the latency columns: one Python process drives all 1000 readers on 2 cores, with the server on the same cores, so it is CPU-bound; p50/p99 are mostly queueing for the GIL / event loop and the 100-connection pool and vary about 2x between runs. The loader counts are the result; XFetch's count depends on how many readers draw an early recompute within one load time, since these readers act as separate processes (no single flight).")
MODES = ["none", "lock", "lock+stale", "xfetch", "refresh-ahead", "single-flight"]


def options(mode: str) -> dict[str, Any]:
    base: dict[str, Any] = dict(jitter=0.0, single_flight=False, backoff=(0.005, 0.05),
                                refresh_interval=0.02)
    if mode == "none":
        base["stampede"] = None
    elif mode in ("lock", "refresh-ahead"):
        base["stampede"] = "lock"
    elif mode == "lock+stale":
        base.update(stampede="lock", stale_ttl=30.0)
    elif mode == "xfetch":
        base.update(stampede="xfetch", beta=1.0)
    elif mode == "single-flight":
        base.update(stampede=None, single_flight=True)
    return base


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Servers:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="stampede-"))

    def redis(self) -> str:
        port = free_port()
        exe = shutil.which("redis-server") or "redis-server"
        self.procs.append(subprocess.Popen([exe, "--port", str(port), "--save", "", "--appendonly", "no"],
                                           cwd=self.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self._wait(port)
        return f"redis://127.0.0.1:{port}/0"

    def ringcache(self) -> str:
        log_path = self.tmp / "node.log"
        log_file = open(log_path, "wb")
        proc = subprocess.Popen([sys.executable, "-m", "ringcache", "server", "--port", "0", "--save", "",
                                 "--appendonly", "no"], cwd=self.tmp, stdout=log_file,
                                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.procs.append(proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = re.search(rb"Ready to accept connections tcp on \S+ port (\d+)", log_path.read_bytes())
            if m:
                return f"redis://127.0.0.1:{int(m.group(1))}/0"
            time.sleep(0.05)
        raise RuntimeError("ringcache node did not start:\n" + log_path.read_text())

    def _wait(self, port: int) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        for proc in self.procs:  # only the processes this script started, by PID
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def prefill(cache: Cache, expires_in: float) -> None:
    """Store the value as a 50 ms load would have, expiring expires_in from now."""
    full = cache.full_key(KEY)
    blob, px = cache.pack(full, "v0", expires_in, LOAD_S)
    cache.client.set(full, blob, px=px)


# -- threads ------------------------------------------------------------------------
def run_threads(url: str, mode: str, readers: int, rounds: int) -> tuple[int, list[float]]:
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=100, timeout=30)
    client = redis.Redis(connection_pool=pool)
    cache = Cache(client, **options(mode))
    calls = 0
    calls_lock = threading.Lock()

    def loader() -> str:
        nonlocal calls
        with calls_lock:
            calls += 1
        time.sleep(LOAD_S)
        return "v"

    latencies: list[float] = []
    lat_lock = threading.Lock()
    for _ in range(rounds):
        client.delete(KEY, KEY + ":lock")
        start = threading.Barrier(readers + 1)
        window: dict[str, float] = {}

        def reader() -> None:
            rng = random.Random()
            mine = []
            start.wait()
            stop_at, measure_from = window["stop_at"], window["measure_from"]
            while time.monotonic() < stop_at:
                measured = time.monotonic() >= measure_from
                t0 = time.perf_counter()
                cache.get_or_set(KEY, loader, ttl=60)
                if measured:
                    mine.append(time.perf_counter() - t0)
                time.sleep(rng.random() * THINK_S)
            with lat_lock:
                latencies.extend(mine)

        # Start the threads first (1000 take a while), then set the clock running.
        threads = [threading.Thread(target=reader) for _ in range(readers)]
        for t in threads:
            t.start()
        expiry_at = time.monotonic() + LEAD_S
        prefill(cache, LEAD_S)
        if mode == "refresh-ahead":
            cache.register_hot(KEY, loader, ttl=60, ahead=0.25)
        window.update(stop_at=expiry_at + TAIL_S, measure_from=expiry_at - MEASURE_BEFORE_S)
        start.wait()
        for t in threads:
            t.join()
        cache.unregister_hot(KEY)
    cache.close()
    pool.disconnect()
    return calls, latencies


# -- asyncio --------------------------------------------------------------------------
async def run_async(url: str, mode: str, readers: int, rounds: int) -> tuple[int, list[float]]:
    pool = aredis.BlockingConnectionPool.from_url(url, max_connections=100, timeout=30)
    client = aredis.Redis(connection_pool=pool)
    cache = AsyncCache(client, **options(mode))
    calls = 0

    async def loader() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(LOAD_S)
        return "v"

    latencies: list[float] = []
    for _ in range(rounds):
        await client.delete(KEY, KEY + ":lock")
        expiry_at = time.monotonic() + LEAD_S
        full = cache.full_key(KEY)
        blob, px = cache.pack(full, "v0", LEAD_S, LOAD_S)
        await client.set(full, blob, px=px)
        if mode == "refresh-ahead":
            cache.register_hot(KEY, loader, ttl=60, ahead=0.25)
        stop_at = expiry_at + TAIL_S
        measure_from = expiry_at - MEASURE_BEFORE_S

        async def reader() -> None:
            rng = random.Random()
            while time.monotonic() < stop_at:
                measured = time.monotonic() >= measure_from
                t0 = time.perf_counter()
                await cache.get_or_set(KEY, loader, ttl=60)
                if measured:
                    latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(rng.random() * THINK_S)

        await asyncio.gather(*(reader() for _ in range(readers)))
        cache.unregister_hot(KEY)
    await cache.aclose()
    await pool.disconnect()
    return calls, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server", choices=["redis", "ringcache", "both"], default="both")
    parser.add_argument("--url", help="use this server instead of starting one")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--no-write", action="store_true", help="do not update benchmarks/RESULTS.md")
    args = parser.parse_args()
    modes = args.modes.split(",")

    servers = Servers()
    rows: list[str] = []
    try:
        targets: list[tuple[str, str]] = []
        if args.url:
            targets.append(("given", args.url))
        else:
            if args.server in ("redis", "both"):
                targets.append(("redis", servers.redis()))
            if args.server in ("ringcache", "both"):
                targets.append(("ringcache", servers.ringcache()))
        for server, url in targets:
            for kind in ("threads", "asyncio"):
                for mode in modes:
                    t0 = time.monotonic()
                    if kind == "threads":
                        calls, lat = run_threads(url, mode, args.readers, args.rounds)
                    else:
                        calls, lat = asyncio.run(run_async(url, mode, args.readers, args.rounds))
                    row = (f"| {server} | {kind} | {mode} | {calls} | {calls / args.rounds:.2f} | "
                           f"{len(lat)} | {percentile(lat, 0.5) * 1000:.2f} | {percentile(lat, 0.99) * 1000:.2f} |")
                    print(row, f"({time.monotonic() - t0:.1f}s)", flush=True)
                    rows.append(row)
    finally:
        servers.stop()

    header = ["| server | readers | mode | loader calls | per expiry | reads | p50 ms | p99 ms |",
              "|---|---|---|---:|---:|---:|---:|---:|"]
    verdicts = []
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if cells[2] in ("lock", "refresh-ahead"):
            ok = float(cells[4]) == 1.0
            verdicts.append(f"| {cells[0]} {cells[1]} {cells[2]}: 1 loader call per expiry | "
                            f"{cells[4]} | {'PASS' if ok else 'MISS'} |")
    command = "`.venv/bin/python benchmarks/stampede.py" + "".join(
        f" {a}" for a in sys.argv[1:]) + "` (in /work/main)"
    section = "\n".join([
        f"## {datetime.date.today().isoformat()} — client stampede protection",
        "",
        f"Command: {command}",
        "",
        f"{args.readers} readers (threads, then asyncio tasks, one process, connection pool of 100), "
        f"{args.rounds} rounds, one expiry per round, loader 50 ms, think time 0-100 ms; single flight "
        "off except in the single-flight row. nproc: " + str(os.cpu_count()) + ".",
        "",
        *header, *rows, "",
        NOTE, "",
        "### Targets", "", "| target | measured | result |", "|---|---:|---|", *verdicts, "",
    ])
    print(section)
    if not args.no_write:
        path = ROOT / "benchmarks" / "RESULTS.md"
        text = path.read_text()
        # newest first, as the rest of the file: insert before the first section
        idx = text.find("\n## ")
        text = text + "\n" + section if idx < 0 else text[:idx + 1] + section + "\n" + text[idx + 1:]
        path.write_text(text)


if __name__ == "__main__":
    main()
