"""Full sync time: a replica attaching to a primary that holds N keys,
ringcache against redis-server in the same run, as a ratio.

    .venv/bin/python benchmarks/replication.py [--quick] [--keys N] [--rounds R] [--no-writer]
    .venv/bin/python benchmarks/replication.py --lag [--samples N]

For each server kind and round: start a primary and a replica (fresh
processes, no persistence files, each in its own temporary directory), load
N keys `key:%09d` with 32-byte values into the primary through one raw
socket (pipelined, 1000 a batch, every reply checked), start a writer (one
client, pipelined SETs of 100 random keys per round trip, as fast as it
goes) unless --no-writer, send `REPLICAOF host port` to the replica and time
until its INFO says `master_link_status:up`; then stop the writer, wait for
the replica to reach the primary's offset, and check that DBSIZE agrees.
Rounds alternate redis/ringcache; medians are quoted with each round's
figures. redis-server runs with its defaults (repl-diskless-sync yes since
7.0) except repl-diskless-sync-delay 0 (its 5 s default would be measured
as sync time); ringcache with its own (repl-diskless-sync no: through the
snapshot file), or with --diskless as redis-server (yes, delay 0).

The issue's target: ringcache's time within 2x of redis-server's.

--lag measures the async window instead: one client SETs a fresh value on
the primary and, as soon as the reply arrives, GETs it from the replica
until it is there; the time from the SET's reply to the first GET that sees
it, p50/p99 over the samples (an upper bound: it includes one GET round
trip), for both servers in the same run.
--lag --rate R runs that measurement while a separate writer process
sends a steady R SETs a second to the primary (batches every 5 ms, paced by
the clock; the rate it reached is printed).

--throughput: `redis-benchmark -t set -P 16 -c 50 -n N -r 100000 -d 32`
against a primary with no replica and with 2 replicas attached (online
before the run), rounds interleaved: redis none, redis 2, ringcache none,
ringcache 2, ... Reports each kind's median with-replicas / no-replica
ratio (the issue's target: ringcache >= 0.85x of its own no-replica
figure) and ringcache's figures against redis-server's, in requests a
second and in SETs per CPU second of the primary (its capacity with a core
to itself: on a 2-core machine the replicas share the cores), and the
replicas' CPU time per CPU second of the primary. --pin runs the primary on
core 0 and the replicas and redis-benchmark on core 1 (taskset).

--wait: one client, one replica: `SET k v` then `WAIT 1 0` sent together
(one round trip); the time to WAIT's reply, p50/p99 over --samples, for
both servers in the same run.

The machine is shared: every mode prints the load average before and after.
Every process this script starts is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
COMMANDS = {
    # (repl-diskless-sync-delay 0: its default waits 5 s for more replicas
    # before starting a diskless sync, which would measure the wait)
    "redis": "redis-server --port {port} --save '' --appendonly no --bind 127.0.0.1 "
             "--repl-diskless-sync-delay 0",
    "ringcache": f"{shlex.quote(sys.executable)} -m ringcache server --port {{port}} --save '' --appendonly no",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, kind: str) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"repl-bench-{kind}-")
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        self.proc = subprocess.Popen(shlex.split(COMMANDS[kind].format(port=self.port)), cwd=self.dir,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
        deadline = time.monotonic() + 20
        while True:
            try:
                self.sock = socket.create_connection((HOST, self.port), timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{kind} did not start")
                time.sleep(0.05)
        self.buf = b""

    def call(self, *args: str | bytes | int) -> bytes:
        self.sock.sendall(encode(args))
        return self.read_reply()

    def read_reply(self) -> bytes:
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        line, _, rest = self.buf.partition(b"\r\n")
        if line[:1] == b"$":
            n = int(line[1:])
            if n < 0:
                self.buf = rest
                return b""
            while len(rest) < n + 2:
                rest += self.sock.recv(65536)
            self.buf = rest[n + 2:]
            return rest[:n]
        self.buf = rest
        if line[:1] == b"-":
            raise RuntimeError(line.decode())
        return line[1:]

    def info(self, section: str) -> dict[str, str]:
        text = self.call("INFO", section).decode()
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)

    def stop(self) -> None:
        self.sock.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def encode(args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        arg = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(out)


def load(server: Server, keys: int) -> None:
    value = b"v" * 32
    for start in range(0, keys, 1000):
        batch = b"".join(encode((b"SET", b"key:%09d" % i, value)) for i in range(start, min(start + 1000, keys)))
        server.sock.sendall(batch)
        for _ in range(min(1000, keys - start)):
            server.read_reply()


class Writer(threading.Thread):
    def __init__(self, port: int, keys: int) -> None:
        super().__init__(daemon=True)
        self.server_port = port
        self.keys = keys
        self.stop = threading.Event()
        self.count = 0

    def run(self) -> None:
        sock = socket.create_connection((HOST, self.server_port))
        rng = random.Random(1)
        value = b"w" * 32
        while not self.stop.is_set():
            batch = b"".join(encode((b"SET", b"key:%09d" % rng.randrange(self.keys), value)) for _ in range(100))
            sock.sendall(batch)
            got = b""
            while got.count(b"\r\n") < 100:
                got += sock.recv(65536)
            self.count += 100
        sock.close()


def one_round(kind: str, keys: int, writer_on: bool) -> tuple[float, int]:
    primary, replica = Server(kind), Server(kind)
    try:
        load(primary, keys)
        writer = Writer(primary.port, keys) if writer_on else None
        if writer:
            writer.start()
            time.sleep(0.2)
        start = time.monotonic()
        replica.call("REPLICAOF", HOST, primary.port)
        while replica.info("replication").get("master_link_status") != "up":
            time.sleep(0.01)
        elapsed = time.monotonic() - start
        written = 0
        if writer:
            writer.stop.set()
            writer.join(30)
            written = writer.count
        deadline = time.monotonic() + 60
        while (replica.info("replication").get("master_repl_offset")
               != primary.info("replication").get("master_repl_offset")):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind}: the replica did not catch up")
            time.sleep(0.02)
        if primary.call("DBSIZE") != replica.call("DBSIZE"):
            raise RuntimeError(f"{kind}: DBSIZE differs after the sync")
        return elapsed, written
    finally:
        primary.stop()
        replica.stop()


def paced_writer(port: int, rate: int, stop: "multiprocessing.synchronize.Event", done: "Any") -> None:
    """A separate process: `rate` SETs a second on the primary, in batches
    every 5 ms, each batch's replies read before the next."""
    sock = socket.create_connection((HOST, port))
    per_batch = max(1, rate // 200)
    value = b"p" * 32
    sent = 0
    start = time.monotonic()
    i = 0
    while not stop.is_set():
        batch = b"".join(encode((b"SET", b"paced:%d" % ((i + j) % 100000), value)) for j in range(per_batch))
        i += per_batch
        sock.sendall(batch)
        got = b""
        while got.count(b"\r\n") < per_batch:
            got += sock.recv(65536)
        sent += per_batch
        next_at = start + sent / rate
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    done.value = sent / (time.monotonic() - start)
    sock.close()


def attach(primary: Server, *replicas: Server) -> None:
    for replica in replicas:
        replica.call("REPLICAOF", HOST, primary.port)
    for replica in replicas:
        while replica.info("replication").get("master_link_status") != "up":
            time.sleep(0.01)


def percentile(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def lag(kind: str, samples: int, rate: int = 0) -> tuple[float, float, float]:
    primary, replica = Server(kind), Server(kind)
    writer = None
    try:
        attach(primary, replica)
        reached = multiprocessing.Value("d", 0.0)
        if rate:
            stop = multiprocessing.Event()
            writer = multiprocessing.Process(target=paced_writer, args=(primary.port, rate, stop, reached))
            writer.start()
            time.sleep(0.5)
        waits = []
        for i in range(samples):
            value = b"%d" % i
            primary.call("SET", "lag", value)
            start = time.perf_counter()
            while replica.call("GET", "lag") != value:
                pass
            waits.append(time.perf_counter() - start)
        if writer is not None:
            stop.set()
            writer.join(10)
        waits.sort()
        return percentile(waits, 0.5) * 1e3, percentile(waits, 0.99) * 1e3, reached.value
    finally:
        if writer is not None and writer.is_alive():
            writer.kill()
        primary.stop()
        replica.stop()


def wait_round_trip(kind: str, samples: int) -> tuple[float, float]:
    primary, replica = Server(kind), Server(kind)
    try:
        attach(primary, replica)
        times = []
        request = encode((b"SET", b"k", b"v")) + encode((b"WAIT", b"1", b"0"))
        for _ in range(samples):
            start = time.perf_counter()
            primary.sock.sendall(request)
            primary.read_reply()
            if primary.read_reply() != b"1":
                raise RuntimeError(f"{kind}: WAIT did not count the replica")
            times.append(time.perf_counter() - start)
        times.sort()
        return percentile(times, 0.5) * 1e3, percentile(times, 0.99) * 1e3
    finally:
        primary.stop()
        replica.stop()


BENCH = "redis-benchmark -h {host} -p {port} -t set -P 16 -c 50 -n {n} -r 100000 -d 32 --csv -q"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin(pid: int, cpus: str) -> None:
    subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], check=True, capture_output=True)


def set_throughput(kind: str, replicas: int, requests: int,
                   pinned: bool = False) -> tuple[float, float, float]:
    """(requests a second as redis-benchmark saw them, requests per CPU
    second of the primary: its capacity when it has a core to itself,
    CPU seconds the replicas used per CPU second of the primary). With
    `pinned`, the primary runs on core 0 and everything else (replicas,
    redis-benchmark) on core 1, so the replicas cannot take the primary's
    core."""
    primary = Server(kind)
    followers = [Server(kind) for _ in range(replicas)]
    try:
        if pinned:
            pin(primary.proc.pid, "0")
            for follower in followers:
                pin(follower.proc.pid, "1")
        attach(primary, *followers)
        before = cpu_seconds(primary.proc.pid)
        followers_before = sum(cpu_seconds(f.proc.pid) for f in followers)
        command = shlex.split(BENCH.format(host=HOST, port=primary.port, n=requests))
        if pinned:
            command = ["taskset", "-c", "1", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        used = cpu_seconds(primary.proc.pid) - before
        followers_used = sum(cpu_seconds(f.proc.pid) for f in followers) - followers_before
        for line in done.stdout.splitlines():
            if line.startswith('"SET"'):
                return (float(line.split(",")[1].strip('"')), requests / max(used, 0.01),
                        followers_used / max(used, 0.01))
        raise RuntimeError(f"redis-benchmark said: {done.stdout} {done.stderr}")
    finally:
        primary.stop()
        for follower in followers:
            follower.stop()


def latency_rounds(rounds: int, measure: Any, label: str, note: str) -> None:
    """Rounds of measure(kind) -> (p50 ms, p99 ms, *extra), redis then
    ringcache in each; prints each round and the medians. `note` may hold
    a {} for the first extra value."""
    results: dict[str, list[tuple]] = {"redis": [], "ringcache": []}
    for r in range(rounds):
        for kind in ("redis", "ringcache"):
            p50, p99, *extra = measure(kind)
            results[kind].append((p50, p99))
            print(f"round {r + 1} {kind:9s}: {label}: p50 {p50:.3f} ms, p99 {p99:.3f} ms "
                  f"({note.format(*extra)})", flush=True)
    for kind in ("redis", "ringcache"):
        print(f"{kind:9s} median of rounds: p50 {statistics.median(x[0] for x in results[kind]):.3f} ms, "
              f"p99 {statistics.median(x[1] for x in results[kind]):.3f} ms")


def load_average() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 keys, 1 round")
    parser.add_argument("--keys", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--no-writer", action="store_true")
    parser.add_argument("--diskless", action="store_true",
                        help="ringcache primaries with repl-diskless-sync yes (delay 0), as redis-server's")
    parser.add_argument("--lag", action="store_true", help="measure replication lag instead")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=0, help="with --lag: a steady writer at this rate")
    parser.add_argument("--throughput", action="store_true", help="SET -P 16 with 2 replicas vs none")
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--pin", action="store_true",
                        help="with --throughput: the primary on core 0, replicas and redis-benchmark on core 1")
    parser.add_argument("--wait", action="store_true", help="SET + WAIT 1 0 round trip")
    args = parser.parse_args()
    if args.diskless:
        COMMANDS["ringcache"] += " --repl-diskless-sync yes --repl-diskless-sync-delay 0"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # (stop the servers on the way out)
    command = "command: " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    print(load_average(), flush=True)
    if args.lag:
        extra = ", writer at {:.0f} SET/s" if args.rate else ""
        latency_rounds(args.rounds or 1, lambda kind: lag(kind, args.samples, args.rate),
                       "write reply -> visible on the replica", f"{args.samples} samples{extra}")
        print(load_average())
        print(command)
        return
    if args.wait:
        latency_rounds(args.rounds or 1, lambda kind: wait_round_trip(kind, args.samples),
                       "SET + WAIT 1 0 round trip", f"{args.samples} samples")
        print(load_average())
        print(command)
        return
    if args.throughput:
        rounds = args.rounds or 3
        rps: dict[tuple[str, int], list[float]] = {}
        capacity: dict[tuple[str, int], list[float]] = {}
        for r in range(rounds):
            for kind in ("redis", "ringcache"):
                for replicas in (0, 2):
                    value, per_cpu, replica_share = set_throughput(kind, replicas, args.requests, args.pin)
                    rps.setdefault((kind, replicas), []).append(value)
                    capacity.setdefault((kind, replicas), []).append(per_cpu)
                    share = f", replicas' CPU / primary's {replica_share:.2f}" if replicas else ""
                    print(f"round {r + 1} {kind:9s} {replicas} replicas: SET -P 16 {value:,.0f} rps, "
                          f"{per_cpu:,.0f} SET per primary CPU second{share}", flush=True)
        for label, table in (("rps", rps), ("SET per primary CPU second", capacity)):
            for kind in ("redis", "ringcache"):
                none, two = statistics.median(table[(kind, 0)]), statistics.median(table[(kind, 2)])
                per_round = ", ".join(f"{b / a:.2f}" for a, b in zip(table[(kind, 0)], table[(kind, 2)]))
                print(f"{kind:9s} {label}: no replica {none:,.0f}, 2 replicas {two:,.0f}, "
                      f"ratio {two / none:.2f}x (rounds: {per_round})")
        for label, table in (("rps", rps), ("per CPU second", capacity)):
            ours = statistics.median(table[("ringcache", 2)]) / statistics.median(table[("ringcache", 0)])
            print(f"ringcache {label} with 2 replicas / without: {ours:.2f}x (target >= 0.85x: "
                  f"{'PASS' if ours >= 0.85 else 'MISS'}); ringcache/redis with 2 replicas: "
                  f"{statistics.median(table[('ringcache', 2)]) / statistics.median(table[('redis', 2)]):.2f}x")
        print(load_average())
        print(command)
        return
    keys = args.keys or (20_000 if args.quick else 1_000_000)
    rounds = args.rounds or (1 if args.quick else 3)
    times: dict[str, list[float]] = {"redis": [], "ringcache": []}
    for r in range(rounds):
        for kind in ("redis", "ringcache"):
            elapsed, written = one_round(kind, keys, not args.no_writer)
            times[kind].append(elapsed)
            print(f"round {r + 1} {kind:9s}: link up after {elapsed:.3f} s "
                  f"({written} writes during the sync)", flush=True)
    redis_s = statistics.median(times["redis"])
    ours_s = statistics.median(times["ringcache"])
    print(f"\nfull sync of {keys} keys (32-byte values), writer {'off' if args.no_writer else 'on'}: "
          f"redis-server {redis_s:.3f} s, ringcache {ours_s:.3f} s, ratio {ours_s / redis_s:.2f}x "
          f"(target <= 2x: {'PASS' if ours_s <= 2 * redis_s else 'MISS'})")
    print(load_average())
    print(command)


if __name__ == "__main__":
    main()
