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
* the failure-policy guard alone around a no-op (sync and asyncio).

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
from stampede import Servers  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--server", choices=["redis", "ringcache"], default="redis")
    parser.add_argument("--url", help="use this server instead of starting one")
    parser.add_argument("--no-write", action="store_true", help="do not update benchmarks/RESULTS.md")
    args = parser.parse_args()

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

    command = "`.venv/bin/python benchmarks/client.py" + "".join(f" {a}" for a in sys.argv[1:]) + "`"
    section = "\n".join([
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
    print(section)
    if not args.no_write:
        path = ROOT / "benchmarks" / "RESULTS.md"
        text = path.read_text()
        idx = text.find("\n## ")
        text = text + "\n" + section if idx < 0 else text[:idx + 1] + section + "\n" + text[idx + 1:]
        path.write_text(text)


if __name__ == "__main__":
    main()
