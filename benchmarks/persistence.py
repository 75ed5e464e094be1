"""Persistence against redis-server on this machine, same data set, same run.

    .venv/bin/python benchmarks/persistence.py [--keys N] [--rounds N] [--results PATH]

Method (DESIGN.md section 5):

* One redis-server and one ringcache node, each in its own temporary `dir`,
  servers pinned to core 0 (`taskset -c 0`), load generators to core 1.
* Both get the same data set: N keys `key:%07d` (default 1M) with 32-byte
  values, loaded with MSET batches of 1000.
* Snapshot: BGSAVE, timed from the command until INFO says it is done
  (polled every 5 ms); the child's private memory (Private_Dirty of
  /proc/CHILD/smaps_rollup: the pages no longer shared with the parent, i.e.
  the extra memory copy-on-write cost) sampled every 20 ms, peak reported;
  the file size. Also SAVE (the blocking kind), timed.
* GET p99 under a concurrent load: `redis-benchmark -t get -c 20 -P 1 -r N -n R`
  once idle and once while BGSAVE (resp. BGREWRITEAOF) runs back to back for
  the whole load; p99 from redis-benchmark's CSV output.
* Write throughput with the AOF on: `redis-benchmark -t set -c 50 -P 1 -r N
  -d 32 -n R` with `appendfsync everysec` and `always`.
* Rounds alternate ringcache/redis; medians are quoted with the per-round
  values, and the ringcache/redis ratio. The machine is shared by other jobs:
  the numbers drift between runs, the ratios less.

The report is printed and written into RESULTS.md as a section "DATE —
persistence"; rerunning on the same day replaces that section.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = REPO_ROOT / "benchmarks" / "RESULTS.md"
SERVER_CORE, CLIENT_CORE = "0", "1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, command: list[str], directory: Path, port: int) -> None:
        self.name = name
        self.port = port
        self.directory = directory
        self.log = open(directory / "server.log", "wb")
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CORE, *command], cwd=directory,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.client = redis.Redis(port=port, socket_timeout=600)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{name} did not start: {(directory / 'server.log').read_text()}")
                time.sleep(0.05)

    def info(self) -> dict:
        return self.client.info("persistence")

    def child_pid(self) -> int | None:
        try:
            out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        except OSError:
            return None
        pids = [int(p) for p in out.split()]
        # (taskset execs the server: proc.pid is the server itself)
        return pids[0] if pids else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.log.close()


def start_pair(base: Path, extra: list[str]) -> tuple[Server, Server]:
    rc_dir, redis_dir = base / "ringcache", base / "redis"
    for d in (rc_dir, redis_dir):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    rc_port, redis_port = free_port(), free_port()
    ringcache = Server("ringcache", [sys.executable, "-m", "ringcache", "server", "--port", str(rc_port),
                                     "--save", "", "--dir", str(rc_dir), *extra], rc_dir, rc_port)
    redis_server = Server("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                                    "--save", "", "--dir", str(redis_dir), *extra], redis_dir, redis_port)
    return ringcache, redis_server


def load(server: Server, keys: int) -> float:
    start = time.monotonic()
    value = b"v" * 32
    pipe = server.client.pipeline(transaction=False)
    for first in range(0, keys, 1000):
        pipe.mset({b"key:%07d" % i: value for i in range(first, min(first + 1000, keys))})
        if first % 50_000 == 0:
            pipe.execute()
    pipe.execute()
    assert server.client.dbsize() == keys
    return time.monotonic() - start


def private_dirty(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Private_Dirty:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def bgsave(server: Server) -> tuple[float, int, int]:
    """(seconds, peak child private memory, file size)."""
    before = server.info()["rdb_saves"] if "rdb_saves" in server.info() else None
    start = time.monotonic()
    server.client.bgsave()
    peak = 0
    last_sample = 0.0
    while True:
        info = server.info()
        if not info["rdb_bgsave_in_progress"]:
            break
        now = time.monotonic()
        if now - last_sample > 0.02:
            pid = server.child_pid()
            if pid:
                peak = max(peak, private_dirty(pid))
            last_sample = now
        time.sleep(0.005)
    elapsed = time.monotonic() - start
    assert server.info()["rdb_last_bgsave_status"] == "ok", server.name
    del before
    return elapsed, peak, os.path.getsize(server.directory / "dump.rdb")


def save(server: Server) -> float:
    start = time.monotonic()
    server.client.save()
    return time.monotonic() - start


def redis_benchmark(port: int, args: str) -> dict:
    command = ["taskset", "-c", CLIENT_CORE, "redis-benchmark", "-p", str(port), "--csv", *shlex.split(args)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    row = rows[-1]
    return {"rps": float(row["rps"]), "p50": float(row["p50_latency_ms"]),
            "p99": float(row["p99_latency_ms"]), "max": float(row["max_latency_ms"])}


def get_p99_during(server: Server, keys: int, requests: int, background: str | None) -> dict:
    """GET latency while `background` ("bgsave" / "bgrewriteaof" / None) runs back to back."""
    args = f"-t get -c 20 -P 1 -r {keys} -n {requests}"
    if background is None:
        return redis_benchmark(server.port, args)
    command = ["taskset", "-c", CLIENT_CORE, "redis-benchmark", "-p", str(server.port), "--csv", *shlex.split(args)]
    bench = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    children = 0
    field = "rdb_bgsave_in_progress" if background == "bgsave" else "aof_rewrite_in_progress"
    while bench.poll() is None:
        info = server.info()
        if not info[field] and not info.get("aof_rewrite_in_progress") and not info["rdb_bgsave_in_progress"]:
            try:
                server.client.execute_command(background)
                children += 1
            except redis.ResponseError:
                pass
        time.sleep(0.01)
    out = bench.stdout.read() if bench.stdout else ""
    row = list(csv.DictReader(io.StringIO(out)))[-1]
    return {"rps": float(row["rps"]), "p50": float(row["p50_latency_ms"]),
            "p99": float(row["p99_latency_ms"]), "max": float(row["max_latency_ms"]), "children": children}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt_row(label: str, rc: list[float], rd: list[float], unit: str, scale: float = 1.0, digits: int = 2) -> str:
    m_rc, m_rd = median(rc) * scale, median(rd) * scale
    ratio = m_rc / m_rd if m_rd else float("nan")
    per_round = ", ".join(f"{a / b:.2f}" if b else "-" for a, b in zip(rc, rd))
    return f"| {label} | {m_rc:.{digits}f} {unit} | {m_rd:.{digits}f} {unit} | {ratio:.2f}x | {per_round} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--get-requests", type=int, default=100_000)
    parser.add_argument("--set-requests", type=int, default=50_000)
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="ringcache-persistence-bench-"))
    results: dict[str, dict[str, list[float]]] = {}

    def record(name: str, key: str, value: float) -> None:
        results.setdefault(key, {"ringcache": [], "redis": []})[name].append(value)

    servers: list[Server] = []
    try:
        # 1. snapshots and GET latency on the 1M-key data set (AOF on, so
        #    BGREWRITEAOF can run too; appendfsync no: no fsync in the way).
        rc, rd = start_pair(base / "snap", ["--appendonly", "yes", "--appendfsync", "no",
                                            "--auto-aof-rewrite-percentage", "0"])
        servers += [rc, rd]
        for server in (rc, rd):
            print(f"loading {args.keys} keys into {server.name} ...", flush=True)
            load(server, args.keys)
            server.client.bgrewriteaof()  # the load itself out of the incr file
            while server.info()["aof_rewrite_in_progress"]:
                time.sleep(0.05)
        for round_ in range(args.rounds):
            for server in (rc, rd):
                name = server.name
                rss = int(server.client.info("memory")["used_memory_rss"])
                seconds, peak, size = bgsave(server)
                record(name, "bgsave_s", seconds)
                record(name, "child_private_mb", peak / 2**20)
                record(name, "child_private_pct", 100.0 * peak / rss)
                record(name, "file_mb", size / 2**20)
                record(name, "save_s", save(server))
                idle = get_p99_during(server, args.keys, args.get_requests, None)
                during_save = get_p99_during(server, args.keys, args.get_requests, "bgsave")
                during_rewrite = get_p99_during(server, args.keys, args.get_requests, "bgrewriteaof")
                record(name, "get_p99_idle", idle["p99"])
                record(name, "get_p99_bgsave", during_save["p99"])
                record(name, "get_p99_rewrite", during_rewrite["p99"])
                record(name, "get_rps_idle", idle["rps"])
                record(name, "get_rps_bgsave", during_save["rps"])
                record(name, "get_rps_rewrite", during_rewrite["rps"])
                print(f"round {round_ + 1} {name}: bgsave {seconds:.2f}s child {peak / 2**20:.0f} MB "
                      f"file {size / 2**20:.1f} MB; GET p99 idle {idle['p99']} bgsave {during_save['p99']} "
                      f"rewrite {during_rewrite['p99']} ms", flush=True)
        for server in (rc, rd):
            server.stop()
        servers.clear()
        # 2. write throughput with the AOF on.
        for policy in ("everysec", "always"):
            rc, rd = start_pair(base / policy, ["--appendonly", "yes", "--appendfsync", policy])
            servers += [rc, rd]
            for round_ in range(args.rounds):
                for server in (rc, rd):
                    server.client.flushall()
                    result = redis_benchmark(server.port, f"-t set -c 50 -P 1 -r {args.keys} -d 32 "
                                                          f"-n {args.set_requests}")
                    record(server.name, f"set_rps_{policy}", result["rps"])
                    record(server.name, f"set_p99_{policy}", result["p99"])
                    print(f"round {round_ + 1} {server.name} appendfsync {policy}: SET {result['rps']:.0f} rps "
                          f"p99 {result['p99']} ms", flush=True)
            for server in (rc, rd):
                server.stop()
            servers.clear()
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)

    r = results
    lines = [
        f"## {datetime.date.today().isoformat()} — persistence (benchmarks/persistence.py)",
        "",
        f"`{' '.join(shlex.quote(a) for a in sys.argv)}` on {platform.node()} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{subprocess.run(['redis-server', '--version'], capture_output=True, text=True).stdout.split()[2]}); "
        f"{args.keys} keys `key:%07d` with 32-byte values; servers on core 0, load on core 1; "
        f"{args.rounds} rounds alternating ringcache/redis, medians; last column: the ratio per round.",
        "",
        "| measure | ringcache | redis-server | ratio | per round |",
        "|---|---|---|---|---|",
        fmt_row("BGSAVE time", r["bgsave_s"]["ringcache"], r["bgsave_s"]["redis"], "s"),
        fmt_row("SAVE time", r["save_s"]["ringcache"], r["save_s"]["redis"], "s"),
        fmt_row("extra memory during BGSAVE (child's private pages, peak)", r["child_private_mb"]["ringcache"],
                r["child_private_mb"]["redis"], "MB", digits=0),
        fmt_row("  same, % of the server's RSS", r["child_private_pct"]["ringcache"],
                r["child_private_pct"]["redis"], "%", digits=0),
        fmt_row("snapshot file size", r["file_mb"]["ringcache"], r["file_mb"]["redis"], "MB", digits=1),
        fmt_row("GET p99, idle (-c 20 -P 1)", r["get_p99_idle"]["ringcache"], r["get_p99_idle"]["redis"], "ms", digits=3),
        fmt_row("GET p99 during BGSAVE", r["get_p99_bgsave"]["ringcache"], r["get_p99_bgsave"]["redis"], "ms", digits=3),
        fmt_row("GET p99 during BGREWRITEAOF", r["get_p99_rewrite"]["ringcache"], r["get_p99_rewrite"]["redis"], "ms", digits=3),
        fmt_row("GET rps, idle", r["get_rps_idle"]["ringcache"], r["get_rps_idle"]["redis"], "", digits=0),
        fmt_row("GET rps during BGSAVE", r["get_rps_bgsave"]["ringcache"], r["get_rps_bgsave"]["redis"], "", digits=0),
        fmt_row("GET rps during BGREWRITEAOF", r["get_rps_rewrite"]["ringcache"], r["get_rps_rewrite"]["redis"], "", digits=0),
        fmt_row("SET rps, appendfsync everysec (-c 50 -P 1)", r["set_rps_everysec"]["ringcache"],
                r["set_rps_everysec"]["redis"], "", digits=0),
        fmt_row("SET p99, appendfsync everysec", r["set_p99_everysec"]["ringcache"],
                r["set_p99_everysec"]["redis"], "ms", digits=3),
        fmt_row("SET rps, appendfsync always", r["set_rps_always"]["ringcache"],
                r["set_rps_always"]["redis"], "", digits=0),
        fmt_row("SET p99, appendfsync always", r["set_p99_always"]["ringcache"],
                r["set_p99_always"]["redis"], "ms", digits=3),
        "",
    ]
    report = "\n".join(lines)
    print(report)
    write_section(args.results, report)
    return 0


def write_section(path: Path, report: str) -> None:
    """Replace today's "## Persistence" section in RESULTS.md, else insert it
    before the first section (the file is newest first)."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    heading = report.splitlines()[0]
    start = text.find(heading)
    if start >= 0:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + report.rstrip("\n") + ("\n" + text[end:] if end >= 0 else "\n")
    else:
        first = text.find("\n## ")
        if first < 0:
            text = text.rstrip("\n") + "\n\n" + report
        else:
            text = text[:first + 1] + report.rstrip("\n") + "\n\n" + text[first + 1:]
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
