"""Cache stampede benchmark for ringcache.client (issues 7 and 18).

    .venv/bin/python benchmarks/stampede.py [--readers 1000] [--rounds 3]
        [--server redis|ringcache|both] [--url redis://...] [--no-write]
        [--kinds threads,asyncio,processes] [--modes lock,...] [--majors 5,6,7,8]

Every cache is built from the URL with the defaults, so it uses the cache's
default pool (a blocking pool of 50 connections): the figure of issue 18 is the
loader calls per expiry with that pool. ``--majors 5,6,7,8`` runs the whole
benchmark once under each redis-py major, with the venvs that
``scripts/client-matrix.sh`` makes (.venv-redis<N>; made here when missing),
and each row names the redis-py version it ran on.

Kinds: ``threads`` (1000 threads in one process), ``asyncio`` (1000 tasks on one
loop), ``processes`` (4 processes of readers/4 threads each, started for each
round, their clocks joined through CLOCK_MONOTONIC, which is system-wide).

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

Modes. ``default``: the cache's defaults (lock and single flight). Single flight
is off in the next four, so the 1000 readers behave like 1000 independent client
processes and only the named protection acts:
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
import json
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
NOTE = ("Reading the latency columns: one Python process drives all 1000 readers on 2 cores, with the server on the same cores, so it is CPU-bound; p50/p99 are mostly queueing for the GIL / event loop and the connection pool, and vary about 2x between runs (the asyncio lock rows most: 1000 tasks backing off on one loop). The loader counts are the result; XFetch's count depends on how many readers draw an early recompute within one load time, since these readers act as separate processes (no single flight).")
MODES = ["default", "none", "lock", "lock+stale", "xfetch", "refresh-ahead", "single-flight"]
PROCESSES = 4


POOL_SIZE = int(os.environ.get("RINGCACHE_BENCH_POOL_SIZE", "50"))  # --pool-size


def options(mode: str) -> dict[str, Any]:
    base: dict[str, Any] = dict(jitter=0.0, single_flight=False, backoff=(0.005, 0.05),
                                refresh_interval=0.02, pool_size=POOL_SIZE)
    if mode == "default":  # the cache's defaults: lock and single flight
        base.update(stampede="lock", single_flight=True)
    elif mode == "none":
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


def wait_ready(port: int, timeout: float = 10.0) -> None:
    """Until a server on port answers PING."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            redis.Redis(port=port).ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def record(section: str) -> None:
    """Insert a section into benchmarks/RESULTS.md, newest first as the rest of the file."""
    path = ROOT / "benchmarks" / "RESULTS.md"
    text = path.read_text()
    idx = text.find("\n## ")
    text = text + "\n" + section if idx < 0 else text[:idx + 1] + section + "\n" + text[idx + 1:]
    path.write_text(text)


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
        wait_ready(port)

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
    cache = Cache(url, **options(mode))  # the default pool
    client = cache.client
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
    return calls, latencies


# -- processes --------------------------------------------------------------------------
def run_processes(url: str, mode: str, readers: int, rounds: int) -> tuple[int, list[float]]:
    """PROCESSES worker processes of readers/PROCESSES threads each, per round."""
    control = redis.Redis.from_url(url)
    calls = 0
    latencies: list[float] = []
    per_process = max(1, readers // PROCESSES)
    for _ in range(rounds):
        control.delete(KEY, KEY + ":lock", KEY + ":ready", KEY + ":expiry")
        procs = [subprocess.Popen([sys.executable, __file__, "--worker", url, mode, str(per_process)],
                                  stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
                 for _ in range(PROCESSES)]
        # Each worker has started its threads when it says ready; then the clock runs:
        # the key expires LEAD_S from now, which every worker reads (CLOCK_MONOTONIC is
        # one clock for all processes of the machine).
        deadline = time.monotonic() + 120
        while int(control.get(KEY + ":ready") or 0) < PROCESSES:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                for p in procs:  # ours, by PID
                    p.kill()
                    p.wait()
                raise RuntimeError("the workers did not get ready")
            time.sleep(0.005)
        expiry_at = time.monotonic() + LEAD_S
        with Cache(url, **options(mode)) as cache:
            prefill(cache, LEAD_S)
        control.set(KEY + ":expiry", repr(expiry_at))
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            if proc.returncode != 0:
                raise RuntimeError(f"worker failed ({proc.returncode})")
            report = json.loads(out.decode().strip().splitlines()[-1])
            calls += report["calls"]
            latencies.extend(report["latencies"])
    control.close()
    return calls, latencies


def worker(url: str, mode: str, threads: int) -> None:
    """One process of run_processes: readers from expiry_at - LEAD_S to expiry_at + TAIL_S,
    expiry_at given by the parent once every worker is ready."""
    cache = Cache(url, **options(mode))
    control = redis.Redis.from_url(url)
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
    start = threading.Barrier(threads + 1)
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

    workers = [threading.Thread(target=reader, daemon=True) for _ in range(threads)]
    for t in workers:
        t.start()
    control.incr(KEY + ":ready")
    deadline = time.monotonic() + 120
    while (raw := control.get(KEY + ":expiry")) is None:
        if time.monotonic() > deadline:
            raise SystemExit("no start from the parent")
        time.sleep(0.001)
    expiry_at = float(raw)
    if mode == "refresh-ahead":  # only now: before the parent's prefill it would load the absent key
        cache.register_hot(KEY, loader, ttl=60, ahead=0.25)
    window.update(stop_at=expiry_at + TAIL_S, measure_from=expiry_at - MEASURE_BEFORE_S)
    start.wait()
    for t in workers:
        t.join()
    cache.close()
    control.close()
    print(json.dumps({"calls": calls, "latencies": latencies}))


# -- asyncio --------------------------------------------------------------------------
async def run_async(url: str, mode: str, readers: int, rounds: int) -> tuple[int, list[float]]:
    cache = AsyncCache(url, **options(mode))  # the default pool
    client = cache.client
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
    return calls, latencies


def run_under_majors(majors: list[str], argv: list[str]) -> list[str]:
    """Run this benchmark under each redis-py major's venv; collect its rows."""
    rows: list[str] = []
    passthrough, skip = [], False
    for i, arg in enumerate(argv):  # drop --majors and its value; the children never write
        if skip:
            skip = False
            continue
        if arg == "--majors":
            skip = True
            continue
        if arg.startswith("--majors="):
            continue
        passthrough.append(arg)
    for major in majors:
        subprocess.run(["bash", str(ROOT / "scripts" / "client-matrix.sh"), "--venvs-only", major], check=True)
        python = ROOT / f".venv-redis{major}" / "bin" / "python"
        out = subprocess.run([str(python), __file__, *passthrough, "--no-write"], check=True,
                             stdout=subprocess.PIPE, text=True).stdout
        for line in out.splitlines():
            if line.startswith("ROW "):
                row = line[4:line.rindex("|") + 1]  # without the "(seconds)" after it
                rows.append(row)
                print(row, flush=True)
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server", choices=["redis", "ringcache", "both"], default="both")
    parser.add_argument("--url", help="use this server instead of starting one")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--kinds", default="threads,asyncio,processes")
    parser.add_argument("--majors", help="comma-separated redis-py majors, each in its own venv")
    parser.add_argument("--pool-size", type=int, default=50, help="the caches' pool_size (default: the default, 50)")
    parser.add_argument("--no-write", action="store_true", help="do not update benchmarks/RESULTS.md")
    args = parser.parse_args()
    modes = args.modes.split(",")
    kinds = args.kinds.split(",")
    global POOL_SIZE
    POOL_SIZE = args.pool_size
    os.environ["RINGCACHE_BENCH_POOL_SIZE"] = str(args.pool_size)  # the worker processes

    if args.majors:
        rows = run_under_majors(args.majors.split(","), sys.argv[1:])
    else:
        rows = run_here(args, modes, kinds)

    header = ["| redis-py | server | readers | mode | loader calls | per expiry | reads | p50 ms | p99 ms |",
              "|---|---|---|---|---:|---:|---:|---:|---:|"]
    verdicts = []
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if cells[3] in ("default", "lock", "lock+stale", "refresh-ahead", "single-flight") and not (
                cells[3] == "single-flight" and cells[2] == "processes"):
            ok = float(cells[5]) == 1.0
            verdicts.append(f"| redis-py {cells[0]}, {cells[1]} {cells[2]} {cells[3]}: 1 loader call "
                            f"per expiry | {cells[5]} | {'PASS' if ok else 'MISS'} |")
    command = "`.venv/bin/python benchmarks/stampede.py" + "".join(
        f" {a}" for a in sys.argv[1:]) + "`"
    section = "\n".join([
        f"## {datetime.date.today().isoformat()} — client stampede protection",
        "",
        f"Command: {command}",
        "",
        f"{args.readers} readers (threads or asyncio tasks in one process, or {PROCESSES} processes of "
        f"{args.readers // PROCESSES} threads), the cache's pool (blocking, {args.pool_size} connections"
        f"{': the default' if args.pool_size == 50 else ''}), "
        f"{args.rounds} rounds, one expiry per round, loader 50 ms, think time 0-100 ms; single flight "
        "off except in the single-flight row. nproc: " + str(os.cpu_count()) + ".",
        "",
        *header, *rows, "",
        NOTE, "",
        "### Targets", "", "| target | measured | result |", "|---|---:|---|", *verdicts, "",
    ])
    print(section)
    if not args.no_write:
        record(section)


def run_here(args: argparse.Namespace, modes: list[str], kinds: list[str]) -> list[str]:
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
            for kind in kinds:
                for mode in modes:
                    t0 = time.monotonic()
                    if kind == "threads":
                        calls, lat = run_threads(url, mode, args.readers, args.rounds)
                    elif kind == "asyncio":
                        calls, lat = asyncio.run(run_async(url, mode, args.readers, args.rounds))
                    else:
                        calls, lat = run_processes(url, mode, args.readers, args.rounds)
                    row = (f"| {redis.__version__} | {server} | {kind} | {mode} | {calls} | "
                           f"{calls / args.rounds:.2f} | {len(lat)} | {percentile(lat, 0.5) * 1000:.2f} | "
                           f"{percentile(lat, 0.99) * 1000:.2f} |")
                    print("ROW " + row, f"({time.monotonic() - t0:.1f}s)", flush=True)
                    rows.append(row)
    finally:
        servers.stop()
    return rows


if __name__ == "__main__":
    main()
