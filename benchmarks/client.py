"""What ringcache.client costs on a hit (issue 18).

    .venv/bin/python benchmarks/client.py [--calls 20000] [--rounds 5]
        [--server redis|ringcache] [--url redis://...] [--no-write]

Measured in one run, against one server started here (redis-server by default)
on a free port, alternating A/B blocks of ``--calls`` sequential calls for
``--rounds`` rounds and quoting medians (DESIGN.md section 5):

* sync: a bare redis-py ``GET`` on the cache's own client (same pool) against
  ``Cache.get_or_set`` and ``Cache.get`` on a hit of the same key: the
  difference is the library's overhead per hit (the guard, the envelope, the
  deserialiser, the metrics);
* asyncio: the same with ``AsyncCache`` and the asyncio client;
* near cache: ``NearCache.get`` on an L1 hit against a dict lookup;
* the failure-policy guard alone around a no-op (sync and asyncio);
* ``--part failure``: the failure policy against a private redis-server that is
  stopped (then started again on its port) and frozen (SIGSTOP, then SIGCONT):
  ``Cache.get_or_set`` called in a loop during the fault and after it. Reported:
  how many calls paid a failure (a refused connection or the cache's
  ``timeout``) and their wall time, the wall time per call while the breaker is
  open (the loader serves), and the recovery time (the server restored ->
  the first value served from it again; bounded by the breaker's cool-down).
  These are wall times: what a caller waits.

Per-call times are the CPU time of this process (``time.process_time``) per
call of a single caller (no concurrency): the client's own work, which is what
the library adds. Wall time is not reported: on a shared 2-core machine it is
mostly other processes' turn (it varied 2x between identical runs). The
server's time is not in these figures. Compare the columns of one run, not runs
of different days.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import redis  # noqa: E402

from ringcache.client import AsyncCache, Cache, NearCache  # noqa: E402
from stampede import Servers, record, wait_ready  # noqa: E402

KEY = "bench:client"
VALUE = {"id": 1, "name": "product 1", "cents": 100}


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    """CPU µs of this process per call (see the module doc: wall time on a shared
    machine is mostly other processes)."""
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls * 1e6


async def aper_call_us(fn: Callable[[], Awaitable[Any]], calls: int) -> float:
    start = time.process_time()
    for _ in range(calls):
        await fn()
    return (time.process_time() - start) / calls * 1e6


def alternate(cases: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Run each case once per round, in turn (A/B/A/B); the median per case."""
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, run in cases.items():
            results[name].append(run())
    return {name: statistics.median(values) for name, values in results.items()}


def measure_sync(url: str, calls: int, rounds: int) -> dict[str, float]:
    with Cache(url) as cache:
        cache.set(KEY, VALUE, ttl=3600)
        full = cache.full_key(KEY)
        client = cache.client
        loader = lambda: VALUE  # noqa: E731 - never called: every call is a hit
        assert cache.get_or_set(KEY, loader) == VALUE
        per_call_us(lambda: client.get(full), 1000)  # warm the pool
        return alternate({
            "redis-py GET": lambda: per_call_us(lambda: client.get(full), calls),
            "Cache.get_or_set": lambda: per_call_us(lambda: cache.get_or_set(KEY, loader), calls),
            "Cache.get": lambda: per_call_us(lambda: cache.get(KEY), calls),
        }, rounds)


def measure_async(url: str, calls: int, rounds: int) -> dict[str, float]:
    async def main() -> dict[str, float]:
        async with AsyncCache(url) as cache:
            await cache.set(KEY, VALUE, ttl=3600)
            full = cache.full_key(KEY)
            client = cache.client
            loader = lambda: VALUE  # noqa: E731
            await aper_call_us(lambda: client.get(full), 1000)
            results: dict[str, list[float]] = {"asyncio redis-py GET": [], "AsyncCache.get_or_set": [],
                                               "AsyncCache.get": []}
            for _ in range(rounds):
                results["asyncio redis-py GET"].append(await aper_call_us(lambda: client.get(full), calls))
                results["AsyncCache.get_or_set"].append(
                    await aper_call_us(lambda: cache.get_or_set(KEY, loader), calls))
                results["AsyncCache.get"].append(await aper_call_us(lambda: cache.get(KEY), calls))
            return {name: statistics.median(v) for name, v in results.items()}

    return asyncio.run(main())


def measure_near(url: str, calls: int, rounds: int) -> dict[str, float]:
    with Cache(url) as cache, NearCache(cache) as near:
        cache.set(KEY, VALUE, ttl=3600)
        assert near.get(KEY) == VALUE and near.get(KEY) == VALUE  # now in L1
        table = {KEY: VALUE}
        return alternate({
            "dict lookup": lambda: per_call_us(lambda: table.get(KEY), calls * 10),
            "NearCache.get (L1 hit)": lambda: per_call_us(lambda: near.get(KEY), calls * 10),
        }, rounds)


def measure_guard(calls: int, rounds: int) -> dict[str, float]:
    """The failure-policy guard alone (slots, breaker, per-operation state) around
    a no-op instead of a server call: its exact cost, free of the network's noise."""
    from ringcache.client.guard import AsyncGuard, CircuitBreaker, Guard, Op
    from ringcache.client.metrics import Metrics
    guard, aguard = Guard(50, 5.0, CircuitBreaker(), Metrics()), AsyncGuard(50, 5.0, CircuitBreaker(), Metrics())

    def noop(key: str) -> None:
        return None

    async def anoop(key: str) -> None:
        return None

    n = calls * 20
    out = alternate({
        "no-op call": lambda: per_call_us(lambda: noop(KEY), n),
        "no-op through the guard": lambda: per_call_us(lambda: guard.call(Op(), noop, KEY), n),
    }, rounds)

    async def amain() -> dict[str, float]:
        results: dict[str, list[float]] = {"awaited no-op": [], "awaited no-op through the guard": []}
        for _ in range(rounds):
            results["awaited no-op"].append(await aper_call_us(lambda: anoop(KEY), n))
            results["awaited no-op through the guard"].append(
                await aper_call_us(lambda: aguard.call(Op(), anoop, KEY), n))
        return {name: statistics.median(v) for name, v in results.items()}

    out.update(asyncio.run(amain()))
    return out


FAULT_S = 3.0  # how long the server stays stopped / frozen
TIMEOUT_S = 0.25  # the cache's own per-call timeout in this run
COOLDOWN_S = 1.0  # the breaker's cool-down in this run


class OwnRedis:
    """A redis-server on a fixed port that can be stopped, started again and frozen."""

    def __init__(self, tmp: Path) -> None:
        from stampede import free_port
        self.port = free_port()
        self.tmp = tmp
        self.proc: Any = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import shutil
        import subprocess
        exe = shutil.which("redis-server") or "redis-server"
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--save", "", "--appendonly", "no"],
                                     cwd=self.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(self.port)

    def stop(self) -> None:  # only the process this script started, by PID
        self.proc.terminate()
        self.proc.wait(10)

    def signal(self, signum: int) -> None:
        os.kill(self.proc.pid, signum)


def timed_call(cache: Cache, loader: Callable[[], Any]) -> tuple[str, float]:
    """One get_or_set: ("failed" | "skipped" | "served", wall seconds). failed: it
    met the server failing; skipped: the open breaker kept it off the server;
    served: its server calls succeeded."""
    before = cache.metrics.as_dict()
    t0 = time.perf_counter()
    cache.get_or_set(KEY, loader)
    took = time.perf_counter() - t0
    after = cache.metrics.as_dict()
    if after["errors"] > before["errors"]:
        return "failed", took
    if after["breaker_skips"] > before["breaker_skips"]:
        return "skipped", took
    return "served", took


def measure_failure(tmp: Path) -> list[dict[str, Any]]:
    import signal
    from ringcache.client import CircuitBreaker
    server = OwnRedis(tmp)
    rows = []
    try:
        for fault in ("stopped, then started again", "frozen (SIGSTOP), then SIGCONT"):
            loads = 0

            def loader() -> dict[str, Any]:
                nonlocal loads
                loads += 1
                return VALUE

            breaker = CircuitBreaker(threshold=5, window=10.0, cooldown=COOLDOWN_S)
            with Cache(server.url, timeout=TIMEOUT_S, breaker=breaker, warn_interval=3600) as cache:
                cache.set(KEY, VALUE, ttl=3600)
                assert timed_call(cache, loader)[0] == "served" and loads == 0
                if fault.startswith("stopped"):
                    server.stop()
                else:
                    server.signal(signal.SIGSTOP)
                calls: dict[str, list[float]] = {"failed": [], "skipped": [], "served": []}
                end = time.monotonic() + FAULT_S
                while time.monotonic() < end:
                    kind, took = timed_call(cache, loader)
                    calls[kind].append(took)
                fault_loads = loads
                if fault.startswith("stopped"):
                    server.start()
                else:
                    server.signal(signal.SIGCONT)
                restored = time.perf_counter()
                recovery = float("nan")
                while time.perf_counter() - restored < 10 * COOLDOWN_S:
                    if timed_call(cache, loader)[0] == "served":
                        recovery = (time.perf_counter() - restored) * 1000
                        break
                failed, skipped = calls["failed"], calls["skipped"]
                rows.append({"fault": fault, "calls": sum(len(v) for v in calls.values()),
                             "loads": fault_loads, "failed": len(failed),
                             "failed_ms": statistics.median(failed) * 1000 if failed else float("nan"),
                             "max_ms": max(failed, default=0.0) * 1000,
                             "open_us": statistics.median(skipped) * 1e6 if skipped else float("nan"),
                             "recovery_ms": recovery, "opens": cache.metrics.as_dict()["breaker_opens"]})
    finally:
        server.proc.kill()
        server.proc.wait(5)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--server", choices=["redis", "ringcache"], default="redis")
    parser.add_argument("--url", help="use this server instead of starting one")
    parser.add_argument("--no-write", action="store_true", help="do not update benchmarks/RESULTS.md")
    parser.add_argument("--part", choices=["overhead", "failure", "all"], default="all")
    args = parser.parse_args()
    command = "`.venv/bin/python benchmarks/client.py" + "".join(f" {a}" for a in sys.argv[1:]) + "`"
    sections = []
    if args.part in ("overhead", "all"):
        sections.append(overhead_section(args, command))
    if args.part in ("failure", "all"):
        sections.append(failure_section(command))
    for section in sections:
        print(section)
        if not args.no_write:
            record(section)


def failure_section(command: str) -> str:
    import tempfile
    rows = measure_failure(Path(tempfile.mkdtemp(prefix="client-failure-")))
    return "\n".join([
        f"## {datetime.date.today().isoformat()} — client failure policy: server stopped, frozen, restored",
        "",
        f"Command: {command}",
        "",
        f"redis-py {redis.__version__}, a private redis-server; `Cache(timeout={TIMEOUT_S}, "
        f"breaker=CircuitBreaker(threshold=5, window=10, cooldown={COOLDOWN_S}))`, one caller calling "
        f"`get_or_set` on one key in a loop for {FAULT_S:.0f} s of fault, then until a call is served by "
        f"the server again. Wall times; nproc {os.cpu_count()}.",
        "",
        "| fault | calls during the fault | loader calls during it | calls that met the failure | their median / max ms "
        "| µs per call while the breaker is open (median) | breaker opens | recovery after restore, ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {r['fault']} | {r['calls']} | {r['loads']} | {r['failed']} | {r['failed_ms']:.1f} / "
          f"{r['max_ms']:.1f} | {r['open_us']:.1f} | {r['opens']} | {r['recovery_ms']:.0f} |" for r in rows],
        "",
    ])


def overhead_section(args: argparse.Namespace, command: str) -> str:
    servers = Servers()
    try:
        url = args.url or (servers.redis() if args.server == "redis" else servers.ringcache())
        sync = measure_sync(url, args.calls, args.rounds)
        aio = measure_async(url, args.calls, args.rounds)
        near = measure_near(url, args.calls, args.rounds)
        guard = measure_guard(args.calls, args.rounds)
    finally:
        servers.stop()

    def rows(results: dict[str, float], base: str) -> list[str]:
        return [f"| {name} | {us:.1f} | {us - results[base]:+.1f} |" for name, us in results.items()]

    return "\n".join([
        f"## {datetime.date.today().isoformat()} — client overhead on a hit",
        "",
        f"Command: {command}",
        "",
        f"redis-py {redis.__version__}, server: {args.url or args.server}, {args.calls} sequential calls "
        f"per block ({args.calls * 10} for the near cache), {args.rounds} alternating rounds, medians; "
        f"nproc {os.cpu_count()}.",
        "",
        "| call | CPU µs per call | vs. the first row of its group |", "|---|---:|---:|",
        *rows(sync, "redis-py GET"),
        *rows(aio, "asyncio redis-py GET"),
        *rows(near, "dict lookup"),
        *rows({k: guard[k] for k in ("no-op call", "no-op through the guard")}, "no-op call"),
        *rows({k: guard[k] for k in ("awaited no-op", "awaited no-op through the guard")}, "awaited no-op"),
        "",
    ])


if __name__ == "__main__":
    main()
