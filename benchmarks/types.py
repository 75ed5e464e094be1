"""The data types against redis-server, same machine, same run (issue 3).

    .venv/bin/python benchmarks/types.py [--quick] [--only throughput|leaderboard|memory]
                                         [--rounds N] [--requests-p1 N] [--requests-p16 N]
                                         [--members N] [--results PATH]

Three measurements, each quoted as a ringcache/redis ratio of medians:

* **Throughput**: `redis-benchmark -t lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,
  zpopmin,lrange_100,mset -c 50 -r 100000 -d 32 -n N --csv` at -P 1 and -P 16
  (targets, issue 16: >= 0.85x and >= 0.60x for every test). FLUSHALL before each run, one
  unmeasured warm-up run per server, then --rounds rounds alternating
  redis/ringcache.
* **Leaderboard**: one sorted set `lb` of M members `member:%012d` (M = 1M;
  the name redis-benchmark's `__rand_int__` with -r M produces), loaded with
  pipelined ZADDs of 1000 members, then a mixed load from four redis-benchmark
  processes started together (all on the load-generator core), each with its
  share of 50 connections:

      ZINCRBY lb 1 member:__rand_int__             20 clients, 40 % of requests
      ZADD lb __rand_int__ member:__rand_int__      5 clients, 10 %
      ZREVRANK lb member:__rand_int__              15 clients, 30 %
      ZREVRANGE lb 0 9 WITHSCORES                  10 clients, 20 %

  at -P 1 and -P 16; ops/s = all requests / wall time until the last process is
  done (the figure), plus each command's own rps. Rounds alternate servers; the
  sorted set is loaded once per server and keeps the updates of earlier rounds.
* **Memory per element**: a fresh server process per type and server; VmRSS before,
  one key with M elements loaded through pipelined commands of 1000 elements
  (HSET h field:%07d <32-byte value>, SADD s member:%07d, ZADD z <score>
  member:%07d with the same pseudo-random scores for both servers), the
  cardinality checked, VmRSS after: bytes per element = (after - before) / M
  (target: <= 2x redis-server).

A type whose commands the node does not have yet ("ERR unknown command" to a
probe) is skipped with a message naming the command, so the script runs on a
tree where some families are still missing.

Method and helpers come from compare.py (imported, not copied): free ports,
servers pinned to core 0 with taskset and the load generators to core 1,
every process stopped by PID on exit, Ctrl-C or error, and the interference
check (CPU used by other processes during a run; a disturbed run is repeated
up to twice and marked * if it stays disturbed). The report is printed and
written into RESULTS.md as a section of its own ("## DATE — types ...";
rerunning the same kind on the same day replaces it).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import os
import random
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import (  # noqa: E402
    CLIENT_CORE,
    DEFAULT_RESULTS,
    DEFAULT_RINGCACHE_CMD,
    HOST,
    MAX_INTERFERENCE,
    REDIS_CMD,
    REPO_ROOT,
    RETRIES,
    SERVER_CORE,
    Processes,
    Server,
    call,
    check_alive,
    encode_command,
    log,
    machine_facts,
    pinned,
    raise_on_signal,
    ratio,
    read_reply,
    rss_bytes,
    user_ticks_all_cores,
    user_ticks_of,
    verdict,
    write_results,
)

TESTS = "lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,mset"
BENCH_ARGS = "-c 50 -r 100000 -d 32"
# redis-benchmark test -> a probe that fails with "unknown command" if the node
# lacks what the test needs (lrange_100 also runs an LPUSH fill first).
PROBES = {
    "lpush": [("LPUSH", "__probe:l", "x")],
    "rpush": [("RPUSH", "__probe:l", "x")],
    "lpop": [("LPOP", "__probe:l")],
    "rpop": [("RPOP", "__probe:l")],
    "sadd": [("SADD", "__probe:s", "x")],
    "hset": [("HSET", "__probe:h", "f", "v")],
    "spop": [("SPOP", "__probe:s")],
    "zadd": [("ZADD", "__probe:z", "1", "x")],
    "zpopmin": [("ZPOPMIN", "__probe:z")],
    "lrange_100": [("LPUSH", "__probe:l", "x"), ("LRANGE", "__probe:l", "0", "99")],
    "mset": [("MSET", "__probe:k", "v")],
}
THROUGHPUT_TARGETS = {1: 0.85, 16: 0.60}  # issue 16
SIZES = {  # requests at -P 1, at -P 16, leaderboard requests (per -P), members
    "full": (100_000, 500_000, 400_000, 1_000_000),
    "quick": (10_000, 50_000, 40_000, 100_000),
}
LEADERBOARD_KEY = "lb"
LEADERBOARD_MIX = [  # (command, clients, share of the requests)
    ("ZINCRBY lb 1 member:__rand_int__", 20, 0.4),
    ("ZADD lb __rand_int__ member:__rand_int__", 5, 0.1),
    ("ZREVRANK lb member:__rand_int__", 15, 0.3),
    ("ZREVRANGE lb 0 9 WITHSCORES", 10, 0.2),
]
LEADERBOARD_PROBES = [("ZINCRBY", "__probe:z", "1", "x"), ("ZREVRANK", "__probe:z", "x"),
                      ("ZREVRANGE", "__probe:z", "0", "9", "WITHSCORES")]
LOAD_BATCH = 1000  # elements per loading command
MEMORY_TARGET = 2.0
VALUE = b"v" * 32


# --------------------------------------------------------------------------- probing


def unsupported(server: Server, probes: list[tuple[str, ...]]) -> str | None:
    """The first probe command the server answers with "unknown command", or None."""
    try:
        for probe in probes:
            try:
                call(server, *probe)
            except RuntimeError as error:
                if "unknown command" in str(error).lower():
                    return probe[0]
                # any other error (a wrong type, say): the command exists
        return None
    finally:
        call(server, "DEL", *{probe[1] for probe in probes if len(probe) > 1})


# --------------------------------------------------------------------------- runs


def measured(server: Server, run) -> tuple[object, float]:
    """run() and the share of a core other processes used meanwhile (compare.py's
    run_with_interference, for any load)."""
    hz = os.sysconf("SC_CLK_TCK")
    total, server_ticks, ours = user_ticks_all_cores(), user_ticks_of(server.pid), os.times()
    result = run()
    check_alive(server)
    now = os.times()
    own = (user_ticks_of(server.pid) - server_ticks
           + (now.children_user - ours.children_user + now.user - ours.user) * hz)
    foreign = (user_ticks_all_cores() - total - own) / hz / (now.elapsed - ours.elapsed)
    return result, max(foreign, 0.0)


def with_retries(server: Server, label: str, run) -> tuple[object, bool]:
    """A measured run, repeated while disturbed (RETRIES at most); the least
    disturbed attempt and whether it stayed disturbed."""
    attempts = []
    for attempt in range(RETRIES + 1):
        log(label + (f" (retry {attempt})" if attempt else ""))
        result, foreign = measured(server, run)
        attempts.append((foreign, result))
        if foreign <= MAX_INTERFERENCE:
            break
        log(f"  disturbed: other processes used {foreign:.0%} of a core")
    foreign, result = min(attempts, key=lambda item: item[0])
    return result, foreign > MAX_INTERFERENCE


def redis_benchmark(port: int, extra: list[str], pin: bool, timeout: float) -> dict[str, float]:
    """One redis-benchmark run: {test name as in its CSV: rps}."""
    argv = pinned(["redis-benchmark", "-h", HOST, "-p", str(port), *extra, "--csv"],
                  CLIENT_CORE, pin)
    done = subprocess.run(argv, capture_output=True, text=True, start_new_session=True,
                          timeout=timeout)
    rows = {row["test"]: float(row["rps"]) for row in csv.DictReader(io.StringIO(done.stdout))
            if row.get("test")}
    if done.returncode != 0 or not rows:
        raise RuntimeError(f"redis-benchmark failed (exit {done.returncode}):\n"
                           f"{done.stdout}\n{done.stderr}")
    return rows


def measure_throughput(procs: Processes, commands: dict[str, str], sizes: dict[int, int],
                       rounds: int, skipped: list[str]) -> dict:
    """{(P, test): {"redis": [(rps, disturbed), ...], "ringcache": [...]}}."""
    servers = [procs.start("redis", commands["redis"]),
               procs.start("ringcache", commands["ringcache"])]
    results: dict = {}
    try:
        tests = []
        for test in TESTS.split(","):
            missing = unsupported(servers[1], PROBES[test])
            if missing:
                skipped.append(f"throughput `{test}`: the node answers \"unknown command\" "
                               f"to {missing}")
                log(f"skipping {test}: no {missing} on the node")
            else:
                tests.append(test)
        if not tests:
            return results
        for server in servers:
            log(f"warm-up {server.name}")
            call(server, "FLUSHALL")
            redis_benchmark(server.port, ["-t", ",".join(tests), *BENCH_ARGS.split(),
                                          "-n", "5000"], procs.pin, 300)
        for pipeline, requests in sizes.items():
            extra = ["-t", ",".join(tests), *BENCH_ARGS.split(), "-n", str(requests),
                     "-P", str(pipeline)]
            for round_no in range(1, rounds + 1):
                for server in servers:
                    def run(server=server):
                        call(server, "FLUSHALL")
                        return redis_benchmark(server.port, extra, procs.pin,
                                               120 + 20 * requests / 1000)
                    rows, disturbed = with_retries(
                        server, f"-P {pipeline} round {round_no}/{rounds}: {server.name}, "
                                f"{requests:,} requests per test", run)
                    for test, rps in rows.items():
                        results.setdefault((pipeline, test), {}).setdefault(
                            server.name, []).append((rps, disturbed))
    finally:
        for server in servers:
            procs.stop(server)
    return results


# --------------------------------------------------------------------------- leaderboard


def send_batches(server: Server, commands, reply_check) -> None:
    """Send pipelined commands (an iterable of (bytes, expected reply length
    or None)) over one socket, 16 at a time, checking every reply."""
    with socket.create_connection((HOST, server.port), timeout=300) as sock:
        reader = sock.makefile("rb")
        window: list = []

        def drain() -> None:
            for _ in window:
                reply_check(read_reply(reader))
            window.clear()

        for command in commands:
            sock.sendall(command)
            window.append(command)
            if len(window) >= 16:
                drain()
        drain()


def zadd_commands(key: str, members: int, name: str, seed: int):
    rng = random.Random(seed)
    for start in range(0, members, LOAD_BATCH):
        args: list[str | bytes] = ["ZADD", key]
        for i in range(start, min(start + LOAD_BATCH, members)):
            args += [b"%d" % rng.randrange(1_000_000), name % i]
        yield encode_command(*args)


def load_leaderboard(server: Server, members: int) -> float:
    started = time.monotonic()
    send_batches(server, zadd_commands(LEADERBOARD_KEY, members, b"member:%012d", 1),
                 lambda reply: None)
    size = call(server, "ZCARD", LEADERBOARD_KEY)
    if size != members:
        raise RuntimeError(f"{server.name}: ZCARD {size} after loading {members} members")
    return time.monotonic() - started


def leaderboard_run(server: Server, requests: int, pipeline: int, members: int,
                    pin: bool) -> dict:
    """The four redis-benchmark processes at once; their rps and the combined ops/s."""
    procs = []
    started = time.monotonic()
    for command, clients, share in LEADERBOARD_MIX:
        argv = pinned(["redis-benchmark", "-h", HOST, "-p", str(server.port), "-c", str(clients),
                       "-n", str(max(1, int(requests * share))), "-r", str(members),
                       "-P", str(pipeline), "--csv", *shlex.split(command)], CLIENT_CORE, pin)
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, start_new_session=True))
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=120 + requests / 500)
            if proc.returncode != 0:
                raise RuntimeError(f"redis-benchmark failed ({proc.returncode}): {out}\n{err}")
            outputs.append(out)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    wall = time.monotonic() - started
    per_command = {}
    for (command, _, _), out in zip(LEADERBOARD_MIX, outputs):
        rows = list(csv.DictReader(io.StringIO(out)))
        per_command[command.split()[0]] = float(rows[-1]["rps"]) if rows else float("nan")
    total = sum(max(1, int(requests * share)) for _, _, share in LEADERBOARD_MIX)
    return {"ops": total / wall, "per_command": per_command}


def measure_leaderboard(procs: Processes, commands: dict[str, str], requests: int, members: int,
                        rounds: int, skipped: list[str]) -> dict:
    """{P: {"redis": [(result, disturbed)], "ringcache": [...]}, "load_s": {...}}."""
    servers = [procs.start("redis", commands["redis"]),
               procs.start("ringcache", commands["ringcache"])]
    results: dict = {"load_s": {}}
    try:
        missing = unsupported(servers[1], [("ZADD", "__probe:z", "1", "x"), *LEADERBOARD_PROBES])
        if missing:
            skipped.append(f"leaderboard: the node answers \"unknown command\" to {missing}")
            log(f"skipping the leaderboard: no {missing} on the node")
            return {}
        for server in servers:
            log(f"leaderboard: loading {members:,} members into {server.name}")
            results["load_s"][server.name] = load_leaderboard(server, members)
        for pipeline in (1, 16):
            for round_no in range(1, rounds + 1):
                for server in servers:
                    result, disturbed = with_retries(
                        server, f"leaderboard -P {pipeline} round {round_no}/{rounds}: "
                                f"{server.name}",
                        lambda server=server: leaderboard_run(server, requests, pipeline,
                                                              members, procs.pin))
                    results.setdefault(pipeline, {}).setdefault(server.name, []).append(
                        (result, disturbed))
    finally:
        for server in servers:
            procs.stop(server)
    return results


# --------------------------------------------------------------------------- memory


def hset_commands(members: int):
    for start in range(0, members, LOAD_BATCH):
        args: list[str | bytes] = ["HSET", "h"]
        for i in range(start, min(start + LOAD_BATCH, members)):
            args += [b"field:%07d" % i, VALUE]
        yield encode_command(*args)


def sadd_commands(members: int):
    for start in range(0, members, LOAD_BATCH):
        yield encode_command("SADD", "s", *[b"member:%07d" % i for i in
                                            range(start, min(start + LOAD_BATCH, members))])


MEMORY_TYPES = {  # type: (loading commands, cardinality command, probe)
    "hash": (hset_commands, ("HLEN", "h"), [("HSET", "__probe:h", "f", "v")]),
    "set": (sadd_commands, ("SCARD", "s"), [("SADD", "__probe:s", "x")]),
    "zset": (lambda n: zadd_commands("z", n, b"member:%07d", 2), ("ZCARD", "z"),
             [("ZADD", "__probe:z", "1", "x")]),
}


def measure_memory_once(procs: Processes, name: str, template: str, kind: str,
                        members: int) -> dict | None:
    commands, card, probe = MEMORY_TYPES[kind]
    server = procs.start(name, template)
    try:
        if name == "ringcache" and unsupported(server, probe):
            return None
        call(server, "FLUSHALL")
        before = rss_bytes(server.pid)
        send_batches(server, commands(members), lambda reply: None)
        size = call(server, *card)
        after = rss_bytes(server.pid)
        if size != members:
            raise RuntimeError(f"{name}: {card[0]} is {size} after loading {members}")
    finally:
        procs.stop(server)
    return {"before": before, "after": after, "per_element": (after - before) / members}


def measure_memory(procs: Processes, commands: dict[str, str], members: int,
                   skipped: list[str]) -> dict:
    results: dict = {}
    for kind, (_, _, probe) in MEMORY_TYPES.items():
        log(f"memory: {kind} of {members:,} elements, ringcache")
        ring = measure_memory_once(procs, "ringcache", commands["ringcache"], kind, members)
        if ring is None:
            skipped.append(f"memory `{kind}`: the node answers \"unknown command\" to "
                           f"{probe[0][0]}")
            log(f"skipping memory of {kind}: no {probe[0][0]} on the node")
            continue
        log(f"memory: {kind} of {members:,} elements, redis")
        results[kind] = {"ringcache": ring,
                         "redis": measure_memory_once(procs, "redis", commands["redis"], kind,
                                                     members)}
    return results


# --------------------------------------------------------------------------- report


def mark(runs: list) -> str:
    return "*" if any(disturbed for _, disturbed in runs) else ""


def throughput_section(results: dict) -> tuple[list[str], list]:
    lines = ["### Throughput (redis-benchmark, medians)", "",
             "| -P | test | redis rps | ringcache rps | ratio | ratio per round |",
             "|---:|---|---:|---:|---:|---|"]
    targets = []
    for (pipeline, test), by_server in results.items():
        if "redis" not in by_server or "ringcache" not in by_server:
            continue
        r = statistics.median(rps for rps, _ in by_server["redis"])
        c = statistics.median(rps for rps, _ in by_server["ringcache"])
        per_round = " ".join(f"{ratio(b[0], a[0]):.2f}" + ("*" if a[1] or b[1] else "")
                             for a, b in zip(by_server["redis"], by_server["ringcache"]))
        lines.append(f"| {pipeline} | {test} | {r:,.0f} | {c:,.0f} | {ratio(c, r):.2f}x "
                     f"| {per_round} |")
        if not test.startswith("LPUSH (needed"):
            threshold = THROUGHPUT_TARGETS[pipeline]
            targets.append((f"-P {pipeline} {test.split(' ')[0]} >= {threshold:.2f}x redis",
                            f"{ratio(c, r):.2f}x", verdict(ratio(c, r) >= threshold)
                            + (" (disturbed runs)" if mark(by_server["ringcache"])
                               or mark(by_server["redis"]) else "")))
    return lines, targets


def leaderboard_section(results: dict, members: int) -> tuple[list[str], list]:
    lines = [f"### Leaderboard ({members:,}-member sorted set, mixed load, medians)", "",
             "| -P | redis ops/s | ringcache ops/s | ratio | ratio per round "
             "| ringcache rps per command (ZINCRBY / ZADD / ZREVRANK / ZREVRANGE) |",
             "|---:|---:|---:|---:|---|---|"]
    for pipeline in (1, 16):
        by_server = results.get(pipeline)
        if not by_server:
            continue
        r = statistics.median(res["ops"] for res, _ in by_server["redis"])
        c = statistics.median(res["ops"] for res, _ in by_server["ringcache"])
        per_round = " ".join(f"{ratio(b[0]['ops'], a[0]['ops']):.2f}" + ("*" if a[1] or b[1] else "")
                             for a, b in zip(by_server["redis"], by_server["ringcache"]))
        cmds = [statistics.median(res["per_command"][name] for res, _ in by_server["ringcache"])
                for name in ("ZINCRBY", "ZADD", "ZREVRANK", "ZREVRANGE")]
        lines.append(f"| {pipeline} | {r:,.0f} | {c:,.0f} | {ratio(c, r):.2f}x | {per_round} "
                     f"| {' / '.join(f'{x:,.0f}' for x in cmds)} |")
    load = results.get("load_s", {})
    if load:
        lines += ["", "Loading the sorted set (pipelined ZADD of 1000 members): "
                  + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in load.items())]
    return lines, []


def memory_section(results: dict, members: int) -> tuple[list[str], list]:
    mib = 1024 * 1024
    lines = [f"### Memory per element (one key of {members:,} elements, RSS delta)", "",
             "| type | load | redis RSS before → after MiB | redis B/elem "
             "| ringcache RSS before → after MiB | ringcache B/elem | ratio |",
             "|---|---|---:|---:|---:|---:|---:|"]
    loads = {"hash": "HSET h field:%07d <32 bytes>", "set": "SADD s member:%07d",
             "zset": "ZADD z <score> member:%07d"}
    targets = []
    for kind, by_server in results.items():
        r, c = by_server["redis"], by_server["ringcache"]
        value = ratio(c["per_element"], r["per_element"])
        lines.append(f"| {kind} | `{loads[kind]}` | {r['before'] / mib:.1f} → {r['after'] / mib:.1f}"
                     f" | {r['per_element']:.1f} | {c['before'] / mib:.1f} → "
                     f"{c['after'] / mib:.1f} | {c['per_element']:.1f} | {value:.2f}x |")
        targets.append((f"memory per {kind} element <= {MEMORY_TARGET:g}x redis",
                        f"{value:.2f}x", verdict(value <= MEMORY_TARGET)))
    return lines, targets


def build_report(heading: str, args, sizes: tuple, pin: bool, sections: list,
                 skipped: list[str]) -> str:
    command = " ".join(shlex.quote(a) for a in sys.orig_argv)
    server_prefix = f"taskset -c {SERVER_CORE} " if pin else ""
    client_prefix = f"taskset -c {CLIENT_CORE} " if pin else ""
    lines = [heading, "", f"Command: `{command}` (in {REPO_ROOT})", ""]
    lines += [f"- {key}: {value}" for key, value in machine_facts()]
    lines += ["", "Servers and load:", "",
              f"- redis: `{server_prefix}{REDIS_CMD.format(port='PORT')}`",
              f"- ringcache: `{server_prefix}{args.ringcache_cmd.format(port='PORT')}`",
              "- both servers also get `--dir TMPDIR` (a temporary directory), so that no "
              "dump file in the tree is loaded",
              f"- throughput: `{client_prefix}redis-benchmark -h {HOST} -p PORT -t {TESTS} "
              f"{BENCH_ARGS} -n N -P P --csv`, N = {sizes[0]:,} at -P 1 and {sizes[1]:,} at "
              f"-P 16; {args.rounds} rounds alternating redis/ringcache after a warm-up run "
              f"each, FLUSHALL before every run",
              f"- leaderboard: {sizes[2]:,} requests per run from four concurrent "
              f"`{client_prefix}redis-benchmark -r {sizes[3]} -P P` processes: "
              + "; ".join(f"`{cmd}` -c {clients} ({share:.0%})"
                          for cmd, clients, share in LEADERBOARD_MIX),
              f"- memory: a fresh server per type, {sizes[3]:,} elements in one key, "
              f"commands of {LOAD_BATCH} elements pipelined 16 deep, VmRSS before/after"]
    if not pin:
        lines.append("- fewer than 2 cores: nothing pinned")
    targets = []
    for table, section_targets in sections:
        lines += [""] + table
        targets += section_targets
    if skipped:
        lines += ["", "Skipped (the node lacks the command):", ""] + [f"- {s}" for s in skipped]
    lines += ["", "Runs marked * were disturbed by other processes (more than "
              f"{MAX_INTERFERENCE:.0%} of a core) even after {RETRIES} retries."]
    lines += ["", "### Targets", "", "| target | measured | result |", "|---|---:|---|"]
    lines += [f"| {label} | {value} | {result} |" for label, value, result in targets]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small runs, for a smoke test")
    parser.add_argument("--only", choices=("throughput", "leaderboard", "memory"))
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds (default 3)")
    parser.add_argument("--requests-p1", type=int, help="redis-benchmark -n at -P 1")
    parser.add_argument("--requests-p16", type=int, help="redis-benchmark -n at -P 16")
    parser.add_argument("--leaderboard-requests", type=int, help="requests per leaderboard run")
    parser.add_argument("--members", type=int, help="elements of the big keys (default 1M)")
    parser.add_argument("--ringcache-cmd", default=DEFAULT_RINGCACHE_CMD,
                        help="command starting the node under test, {port} is replaced")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                        help="markdown file to update (default: benchmarks/RESULTS.md)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    default = SIZES["quick" if args.quick else "full"]
    sizes = (args.requests_p1 or default[0], args.requests_p16 or default[1],
             args.leaderboard_requests or default[2], args.members or default[3])
    pin = (os.cpu_count() or 1) >= 2
    if pin:  # this script loads the big keys: it is a load generator too
        os.sched_setaffinity(0, {CLIENT_CORE})
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_on_signal)
    signal.signal(signal.SIGHUP, raise_on_signal)
    kind = "types (issue 3), " + ("quick" if args.quick else "full") + " run"
    if args.only:
        kind += f", {args.only} only"
    if args.ringcache_cmd != DEFAULT_RINGCACHE_CMD:
        kind += ", custom --ringcache-cmd"
    heading = f"## {datetime.date.today().isoformat()} — {kind}"
    sections: list = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ringcache-types-") as logdir:
        procs = Processes(Path(logdir), pin)
        # Both servers work in the temporary directory: a dump.rdb lying in the
        # tree (the servers' cwd) must not be loaded by either.
        dir_arg = f" --dir {shlex.quote(logdir)}"
        commands = {"redis": REDIS_CMD + dir_arg, "ringcache": args.ringcache_cmd + dir_arg}
        try:
            if args.only in (None, "throughput"):
                results = measure_throughput(procs, commands,
                                             {1: sizes[0], 16: sizes[1]}, args.rounds, skipped)
                sections.append(throughput_section(results))
            if args.only in (None, "leaderboard"):
                results = measure_leaderboard(procs, commands, sizes[2], sizes[3],
                                              args.rounds, skipped)
                if results:
                    sections.append(leaderboard_section(results, sizes[3]))
            if args.only in (None, "memory"):
                results = measure_memory(procs, commands, sizes[3], skipped)
                sections.append(memory_section(results, sizes[3]))
        finally:
            procs.stop_all()
    report = build_report(heading, args, sizes, pin, sections, skipped)
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
