"""Compare a ringcache node with redis-server on this machine, as ratios.

    .venv/bin/python benchmarks/compare.py [--quick] [--only throughput|memory] [--rounds N]

Method (DESIGN.md section 5, "Measuring"):

* Both servers run on this machine in the same run, so the shared machine's drift
  hits both; every result is quoted as a ringcache/redis ratio.
* Each server is pinned to core 0 with `taskset -c 0` and the load generator to
  core 1. With two cores both servers share core 0, so only the server under test
  ever receives load; the other one sits idle.
* Throughput and latency: `redis-benchmark -t set,get -c 50 -r 100000 -d 32` at
  `-P 1` and `-P 16`. Each measured run is preceded by FLUSHALL, the runs alternate
  redis/ringcache/redis/ringcache for --rounds rounds (after one unmeasured warm-up
  run per server), and the table quotes the median of each number over the rounds,
  plus the per-round ratios so the noise is visible. Other processes on the shared
  machine can halve a run, so each run also measures the CPU they used meanwhile
  (see run_with_interference); a disturbed run is repeated, and marked if it
  stays disturbed.
* Memory: for each server and each load (no TTL, `EX 100000` on every key) a fresh
  server process is started, so fragmentation from an earlier load does not count.
  We read VmRSS from /proc/PID/status, load N keys `key:%09d` with 32-byte values
  through one raw socket, pipelined in batches of 1000 (every reply checked), check
  DBSIZE, read VmRSS again: bytes per key = (after - before) / N.
* The report (machine facts, exact command line, tables, PASS/MISS against the
  issue's targets) is printed and written into benchmarks/RESULTS.md as a section
  headed with the date and kind of run; rerunning the same kind on the same day
  replaces that section, older sections are kept.

Every process this script starts is stopped by PID when it ends, also on Ctrl-C,
SIGTERM or an error. To try the harness without a working ringcache node, let
redis-server play both roles:

    .venv/bin/python benchmarks/compare.py --quick --results /tmp/r.md \\
        --ringcache-cmd "redis-server --port {port} --save '' --appendonly no --bind 127.0.0.1"
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = REPO_ROOT / "benchmarks" / "RESULTS.md"
REDIS_CMD = "redis-server --port {port} --save '' --appendonly no --bind 127.0.0.1"
DEFAULT_RINGCACHE_CMD = (
    f"{shlex.quote(sys.executable)} -m ringcache server --port {{port}} --save '' --appendonly no"
)
SERVER_CORE, CLIENT_CORE = 0, 1
HOST = "127.0.0.1"

BENCH_ARGS = "-t set,get -c 50 -r 100000 -d 32"
SIZES = {  # (requests at -P 1, requests at -P 16, keys for memory)
    "full": (200_000, 1_000_000, 1_000_000),
    "quick": (20_000, 100_000, 100_000),
}
MEMORY_TTL_SECONDS = 100_000
LOAD_BATCH = 1000
MAX_INTERFERENCE = 0.05  # share of a core used by other processes during a run
RETRIES = 2

# The targets: (label, pipeline depth, test, minimum ringcache/redis ratio).
THROUGHPUT_TARGETS = [
    ("-P 1 SET throughput >= 0.95x redis", 1, "SET", 0.95),
    ("-P 1 GET throughput >= 0.95x redis", 1, "GET", 0.95),
    ("-P 16 GET throughput >= 0.80x redis", 16, "GET", 0.80),  # issue 16
    ("-P 16 SET throughput >= 0.80x redis", 16, "SET", 0.80),
]
P1_GET_P99_TARGET_MS = 1.0
MEMORY_TARGETS = {False: 1.4, True: 1.6}  # with TTL? -> max ratio of bytes per key


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


class Processes:
    """Starts servers and remembers them, so that stop_all() can end each by PID."""

    def __init__(self, logdir: Path, pin: bool):
        self.logdir = logdir
        self.pin = pin
        self.started: list[Server] = []

    def start(self, name: str, template: str, attempts: int = 3) -> Server:
        """Starts a server on a free port and waits for PING; retries if another
        process took the port between our probe and the server's bind."""
        for attempt in range(1, attempts + 1):
            port = free_port(exclude={s.port for s in self.started})
            argv = pinned(shlex.split(template.format(port=port)), SERVER_CORE, self.pin)
            log_path = self.logdir / f"{name}-{port}.log"
            with open(log_path, "wb") as out:
                # taskset execs the server: proc.pid is the server's own PID (for VmRSS).
                # Own session: a Ctrl-C reaches only this script, which stops the server.
                # cwd: the log folder, so neither server meets a dump.rdb of the tree.
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, cwd=self.logdir,
                                        start_new_session=True)
            server = Server(name, port, proc, log_path)
            self.started.append(server)
            try:
                wait_until_ready(server)
                return server
            except ServerExited:
                self.stop(server)
                if attempt == attempts or "in use" not in log_tail(server).lower():
                    raise
                log(f"{name}: port {port} was taken meanwhile; trying another")
        raise AssertionError("unreachable")

    def stop(self, server: Server) -> None:
        if server.proc.poll() is None:
            server.proc.send_signal(signal.SIGTERM)
            try:
                server.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log(f"{server.name} (pid {server.pid}) ignored SIGTERM; sending SIGKILL")
                server.proc.kill()
                server.proc.wait()
        if server in self.started:
            self.started.remove(server)

    def stop_all(self) -> None:
        for server in list(self.started):
            self.stop(server)


def pinned(argv: list[str], core: int, pin: bool) -> list[str]:
    return ["taskset", "-c", str(core), *argv] if pin else argv


def free_port(exclude: set[int]) -> int:
    while True:
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in exclude:
            return port


class ServerExited(RuntimeError):
    pass


def wait_until_ready(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise ServerExited(f"{server.name} exited with {server.proc.returncode}:\n"
                               + log_tail(server))
        try:
            if call(server, "PING", timeout=1.0) == "PONG":
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{server.name} did not answer PING within {timeout:.0f}s:\n"
                       + log_tail(server))


def log_tail(server: Server, lines: int = 20) -> str:
    text = server.log_path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def check_alive(server: Server) -> None:
    if server.proc.poll() is not None:
        raise RuntimeError(f"{server.name} died (exit {server.proc.returncode}):\n"
                           + log_tail(server))


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# --------------------------------------------------------------------------- RESP


def encode_command(*args: str | bytes) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def read_reply(reader: io.BufferedReader):
    """Minimal RESP2 reply reader: enough for PING, FLUSHALL, DBSIZE."""
    line = reader.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed while reading a reply")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        raise RuntimeError(f"server replied with an error: {body.decode()}")
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        return None if size < 0 else reader.read(size + 2)[:-2]
    if kind == b"*":
        return [read_reply(reader) for _ in range(int(body))]
    raise RuntimeError(f"unexpected reply {line!r}")


def call(server: Server, *args: str, timeout: float = 30.0):
    """Sends one command on a new connection and returns the decoded reply."""
    with socket.create_connection((HOST, server.port), timeout=timeout) as sock:
        sock.sendall(encode_command(*args))
        try:
            return read_reply(sock.makefile("rb"))
        except RuntimeError as error:
            raise RuntimeError(f"{server.name}: {args[0]}: {error}") from None


# --------------------------------------------------------------------------- throughput


def run_redis_benchmark(port: int, requests: int, pipeline: int, pin: bool) -> dict[str, dict]:
    """One redis-benchmark run; returns {"SET": {...}, "GET": {...}} from its CSV."""
    argv = pinned(["redis-benchmark", "-h", HOST, "-p", str(port), *BENCH_ARGS.split(),
                   "-n", str(requests), "-P", str(pipeline), "--csv"], CLIENT_CORE, pin)
    # subprocess.run kills redis-benchmark if we are interrupted or it runs too long.
    done = subprocess.run(argv, capture_output=True, text=True, start_new_session=True,
                          timeout=60 + requests / 5000)
    rows = {row["test"]: row for row in csv.DictReader(io.StringIO(done.stdout))
            if row.get("test") in ("SET", "GET")}
    if done.returncode != 0 or set(rows) != {"SET", "GET"}:
        raise RuntimeError(f"redis-benchmark failed (exit {done.returncode}):\n"
                           f"{done.stdout}\n{done.stderr}")
    return {test: {"rps": float(row["rps"]),
                   "p50": float(row["p50_latency_ms"]),
                   "p99": float(row["p99_latency_ms"])} for test, row in rows.items()}


def user_ticks_all_cores() -> int:
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()  # the "cpu" line
    return int(fields[1]) + int(fields[2])  # user + nice


def user_ticks_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11])  # utime


def run_with_interference(server: Server, requests: int, pipeline: int,
                          pin: bool) -> tuple[dict, float]:
    """Runs redis-benchmark and measures how much CPU other processes took meanwhile.

    The machine is shared: another process's burst on either core can halve the
    result of a run. Interference = user CPU time of all cores minus that of the
    server, redis-benchmark and this script, as a share of one core over the run.
    Undisturbed runs read about 0-2 %; system time is left out because the kernel
    charges loopback networking inconsistently between processes and cores.
    """
    hz = os.sysconf("SC_CLK_TCK")
    total, server_ticks, ours = user_ticks_all_cores(), user_ticks_of(server.pid), os.times()
    run = run_redis_benchmark(server.port, requests, pipeline, pin)
    check_alive(server)
    now = os.times()
    own = (user_ticks_of(server.pid) - server_ticks
           + (now.children_user - ours.children_user + now.user - ours.user) * hz)
    foreign = (user_ticks_all_cores() - total - own) / hz / (now.elapsed - ours.elapsed)
    return run, max(foreign, 0.0)


def measure_throughput(procs: Processes, ringcache_cmd: str, sizes: dict[int, int],
                       rounds: int) -> dict:
    """Returns {(P, test): {"redis": [run, ...], "ringcache": [run, ...]}}.

    A run during which other processes used more than MAX_INTERFERENCE of a core is
    repeated in place (up to RETRIES times); if it stays disturbed, the least
    disturbed attempt is kept and marked, so the report shows it.
    """
    servers = [procs.start("redis", REDIS_CMD), procs.start("ringcache", ringcache_cmd)]
    results: dict = {}
    try:
        for server in servers:  # warm-up, not measured
            log(f"warm-up {server.name}")
            call(server, "FLUSHALL")
            run_redis_benchmark(server.port, min(sizes[1], 20_000), 1, procs.pin)  # sizes[1]: -P 1
        for pipeline, requests in sizes.items():
            for round_no in range(1, rounds + 1):
                for server in servers:
                    attempts = []  # (interference, run)
                    for attempt in range(RETRIES + 1):
                        log(f"-P {pipeline} round {round_no}/{rounds}: {server.name}, "
                            f"{requests} requests" + (f" (retry {attempt})" if attempt else ""))
                        call(server, "FLUSHALL")
                        run, foreign = run_with_interference(server, requests, pipeline,
                                                             procs.pin)
                        attempts.append((foreign, run))
                        if foreign <= MAX_INTERFERENCE:
                            break
                        log(f"  disturbed: other processes used {foreign:.0%} of a core")
                    foreign, run = min(attempts, key=lambda item: item[0])
                    for test, numbers in run.items():
                        numbers.update(retries=len(attempts) - 1,
                                       disturbed=foreign > MAX_INTERFERENCE)
                        results.setdefault((pipeline, test), {}).setdefault(
                            server.name, []).append(numbers)
    finally:
        for server in servers:
            procs.stop(server)
    return results


# --------------------------------------------------------------------------- memory


def set_commands(start: int, count: int, ttl: bool) -> bytes:
    if ttl:
        template = (b"*5\r\n$3\r\nSET\r\n$13\r\nkey:%09d\r\n$32\r\nval:%028d\r\n"
                    b"$2\r\nEX\r\n$%d\r\n%d\r\n")
        ex = MEMORY_TTL_SECONDS
        return b"".join(template % (i, i, len(str(ex)), ex) for i in range(start, start + count))
    template = b"*3\r\n$3\r\nSET\r\n$13\r\nkey:%09d\r\n$32\r\nval:%028d\r\n"
    return b"".join(template % (i, i) for i in range(start, start + count))


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(min(size - got, 1 << 20))
        if not chunk:
            raise ConnectionError("server closed the connection during the load")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def measure_memory_once(procs: Processes, name: str, template: str, keys: int,
                        ttl: bool) -> dict:
    server = procs.start(name, template)
    try:
        call(server, "FLUSHALL")
        before = rss_bytes(server.pid)
        with socket.create_connection((HOST, server.port), timeout=120) as sock:
            for start in range(0, keys, LOAD_BATCH):
                count = min(LOAD_BATCH, keys - start)
                sock.sendall(set_commands(start, count, ttl))
                replies = recv_exactly(sock, 5 * count)
                expected = b"+OK\r\n" * count
                if replies != expected:
                    at = next(i for i, (x, y) in enumerate(zip(replies, expected)) if x != y)
                    raise RuntimeError(f"{name}: unexpected reply to SET number "
                                       f"{start + at // 5}: {replies[at - at % 5:][:200]!r}")
        dbsize = call(server, "DBSIZE")
        after = rss_bytes(server.pid)
        if dbsize != keys:
            raise RuntimeError(f"{name}: DBSIZE is {dbsize} after loading {keys} keys")
    finally:
        procs.stop(server)
    return {"before": before, "after": after, "per_key": (after - before) / keys}


def measure_memory(procs: Processes, ringcache_cmd: str, keys: int) -> dict:
    """Returns {ttl: {"redis": {...}, "ringcache": {...}}}, a fresh server each time."""
    results: dict = {}
    for ttl in (False, True):
        for name, template in (("redis", REDIS_CMD), ("ringcache", ringcache_cmd)):
            log(f"memory: {name}, {keys} keys, {'with' if ttl else 'no'} TTL")
            results.setdefault(ttl, {})[name] = measure_memory_once(
                procs, name, template, keys, ttl)
    return results


# --------------------------------------------------------------------------- report


def machine_facts() -> list[tuple[str, str]]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True,
                                   text=True).stdout.strip()
    return [
        ("nproc", str(os.cpu_count())),
        ("CPU", cpu),
        ("kernel", platform.release()),
        ("Python", sys.version.split()[0] + f" ({sys.executable})"),
        ("redis-server", redis_version),
        ("ringcache tree", git_revision()),
        ("load average at start", " ".join(Path("/proc/loadavg").read_text().split()[:3])),
    ]


def git_revision() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True,
                              text=True)
        return done.stdout.strip() if done.returncode == 0 else ""
    commit = git("rev-parse", "--short", "HEAD") or "no commit"
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--", "ringcache") else ""
    return commit + dirty


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def noisy(by_server: dict) -> str:
    count = sum(run["disturbed"] for runs in by_server.values() for run in runs)
    return f" ({count} disturbed runs)" if count else ""


def throughput_section(results: dict) -> tuple[list[str], list[tuple[str, str, str]]]:
    lines = ["### Throughput and latency (medians)", "",
             "| -P | test | redis rps | ringcache rps | ratio | ratio per round "
             "| redis p50 / p99 ms | ringcache p50 / p99 ms |",
             "|---:|---|---:|---:|---:|---|---:|---:|"]
    medians: dict = {}
    for (pipeline, test), by_server in sorted(results.items(),
                                              key=lambda item: (item[0][0], item[0][1] != "SET")):
        med = {name: {k: statistics.median(run[k] for run in runs) for k in ("rps", "p50", "p99")}
               for name, runs in by_server.items()}
        medians[(pipeline, test)] = med
        per_round = " ".join(f"{ratio(b['rps'], a['rps']):.2f}"
                             + ("*" if a["disturbed"] or b["disturbed"] else "")
                             for a, b in zip(by_server["redis"], by_server["ringcache"]))
        r, c = med["redis"], med["ringcache"]
        lines.append(f"| {pipeline} | {test} | {r['rps']:,.0f} | {c['rps']:,.0f} "
                     f"| {ratio(c['rps'], r['rps']):.2f}x | {per_round} "
                     f"| {r['p50']:.3f} / {r['p99']:.3f} | {c['p50']:.3f} / {c['p99']:.3f} |")
    # SET and GET come from the same redis-benchmark run: count runs on the SET rows.
    runs = [run for (_, test), by_server in results.items() if test == "SET"
            for server_runs in by_server.values() for run in server_runs]
    repeats = sum(run["retries"] for run in runs)
    disturbed = sum(run["disturbed"] for run in runs)
    lines += ["", f"Interference check: {len(runs)} measured runs, {repeats} repeats because "
              f"other processes used more than {MAX_INTERFERENCE:.0%} of a core meanwhile, "
              f"{disturbed} still disturbed after {RETRIES} retries (marked * above; "
              f"the least disturbed attempt is kept)."]
    targets = []
    for label, pipeline, test, threshold in THROUGHPUT_TARGETS:
        if (pipeline, test) in medians:
            med = medians[(pipeline, test)]
            value = ratio(med["ringcache"]["rps"], med["redis"]["rps"])
            note = noisy(results[(pipeline, test)])
            targets.append((label, f"{value:.2f}x", verdict(value >= threshold) + note))
        if (pipeline, test) == (1, "GET") and (1, "GET") in medians:
            p99 = medians[(1, "GET")]["ringcache"]["p99"]
            targets.append((f"-P 1 ringcache GET p99 < {P1_GET_P99_TARGET_MS:g} ms",
                            f"{p99:.3f} ms", verdict(p99 < P1_GET_P99_TARGET_MS)
                            + noisy(results[(1, "GET")])))
    return lines, targets


def memory_section(results: dict, keys: int) -> tuple[list[str], list[tuple[str, str, str]]]:
    mib = 1024 * 1024
    lines = [f"### Memory ({keys:,} keys `key:%09d`, 32-byte values, RSS)", "",
             "| load | redis RSS before → after MiB | redis B/key "
             "| ringcache RSS before → after MiB | ringcache B/key | ratio |",
             "|---|---:|---:|---:|---:|---:|"]
    targets = []
    for ttl, by_server in results.items():
        r, c = by_server["redis"], by_server["ringcache"]
        value = ratio(c["per_key"], r["per_key"])
        load = f"SET key val EX {MEMORY_TTL_SECONDS}" if ttl else "SET key val (no TTL)"
        lines.append(f"| {load} | {r['before'] / mib:.1f} → {r['after'] / mib:.1f} "
                     f"| {r['per_key']:.1f} | {c['before'] / mib:.1f} → {c['after'] / mib:.1f} "
                     f"| {c['per_key']:.1f} | {value:.2f}x |")
        threshold = MEMORY_TARGETS[ttl]
        targets.append((f"memory per key {'with' if ttl else 'without'} TTL <= "
                        f"{threshold:g}x redis", f"{value:.2f}x", verdict(value <= threshold)))
    return lines, targets


def build_report(heading: str, args, sizes: tuple[int, int, int], pin: bool,
                 facts, throughput, memory) -> str:
    command = " ".join(shlex.quote(a) for a in sys.orig_argv)
    server_prefix = f"taskset -c {SERVER_CORE} " if pin else ""
    client_prefix = f"taskset -c {CLIENT_CORE} " if pin else ""
    lines = [heading, "", f"Command: `{command}` (in {REPO_ROOT})", ""]
    lines += [f"- {key}: {value}" for key, value in facts]
    lines += ["", "Servers and load:", "",
              f"- redis: `{server_prefix}{REDIS_CMD.format(port='PORT')}`",
              f"- ringcache: `{server_prefix}{args.ringcache_cmd.format(port='PORT')}`"]
    if throughput is not None:
        lines.append(f"- load: `{client_prefix}redis-benchmark -h {HOST} -p PORT {BENCH_ARGS} "
                     f"-n N -P P --csv`, N = {sizes[0]:,} at -P 1 and {sizes[1]:,} at -P 16; "
                     f"{args.rounds} rounds alternating redis/ringcache after one warm-up "
                     f"run each, FLUSHALL before every run")
    if memory is not None:
        lines.append(f"- memory: fresh server per load, {sizes[2]:,} SETs pipelined in "
                     f"batches of {LOAD_BATCH} over one socket, VmRSS before/after")
    if not pin:
        lines.append("- fewer than 2 cores: nothing pinned")
    sections = []
    if throughput is not None:
        sections.append(throughput_section(throughput))
    if memory is not None:
        sections.append(memory_section(memory, sizes[2]))
    targets = []
    for table, section_targets in sections:
        lines += [""] + table
        targets += section_targets
    lines += ["", "### Targets", "", "| target | measured | result |", "|---|---:|---|"]
    lines += [f"| {label} | {value} | {result} |" for label, value, result in targets]
    return "\n".join(lines) + "\n"


def write_results(path: Path, heading: str, section: str) -> None:
    """Put `section` first below the file's preamble; drop an older one with the same heading."""
    text = path.read_text() if path.exists() else (
        "# Benchmark results\n\nWritten by `benchmarks/compare.py`; newest first. "
        "Ratios are ringcache / redis-server measured in the same run.\n")
    preamble, sections, current = [], [], None
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            current = [line]
            sections.append(current)
        elif current is None:
            preamble.append(line)
        else:
            current.append(line)
    kept = ["".join(s).rstrip("\n") + "\n" for s in sections if s[0].strip() != heading]
    path.write_text("\n".join(["".join(preamble).rstrip("\n") + "\n", section, *kept]))


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small runs, for a smoke test")
    parser.add_argument("--only", choices=("throughput", "memory"))
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds (default 3)")
    parser.add_argument("--requests-p1", type=int, help="redis-benchmark -n at -P 1")
    parser.add_argument("--requests-p16", type=int, help="redis-benchmark -n at -P 16")
    parser.add_argument("--keys", type=int, help="keys loaded for the memory test")
    parser.add_argument("--ringcache-cmd", default=DEFAULT_RINGCACHE_CMD,
                        help="command starting the node under test, {port} is replaced "
                             "(default: %(default)s)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                        help="markdown file to update (default: benchmarks/RESULTS.md)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def raise_on_signal(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop servers


def main() -> int:
    args = parse_args()
    default_p1, default_p16, default_keys = SIZES["quick" if args.quick else "full"]
    sizes = (args.requests_p1 or default_p1, args.requests_p16 or default_p16,
             args.keys or default_keys)
    pin = (os.cpu_count() or 1) >= 2
    if pin:  # this script is the load generator of the memory test
        os.sched_setaffinity(0, {CLIENT_CORE})
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    signal.signal(signal.SIGTERM, raise_on_signal)
    signal.signal(signal.SIGHUP, raise_on_signal)

    kind = ("quick" if args.quick else "full") + " run"
    if args.only:
        kind += f", {args.only} only"
    if args.ringcache_cmd != DEFAULT_RINGCACHE_CMD:
        kind += ", custom --ringcache-cmd"
    heading = f"## {datetime.date.today().isoformat()} — {kind}"
    facts = machine_facts()

    throughput = memory = None
    with tempfile.TemporaryDirectory(prefix="ringcache-bench-") as logdir:
        procs = Processes(Path(logdir), pin)
        try:
            if args.only in (None, "throughput"):
                throughput = measure_throughput(procs, args.ringcache_cmd,
                                                {1: sizes[0], 16: sizes[1]}, args.rounds)
            if args.only in (None, "memory"):
                memory = measure_memory(procs, args.ringcache_cmd, sizes[2])
        finally:
            procs.stop_all()

    report = build_report(heading, args, sizes, pin, facts, throughput, memory)
    print(report)
    write_results(args.results, heading, report)
    log(f"written to {args.results}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; every server started was stopped")
        sys.exit(130)
