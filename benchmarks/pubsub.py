"""Pub/sub and client-tracking benchmarks: a ringcache node against redis-server,
in the same run, as ratios.

    .venv/bin/python benchmarks/pubsub.py [--quick] [--rounds N] [--only publish|invalidation]

PUBLISH throughput (messages delivered per second)
    S subscribers (S = 1, 10, 100; RESP2 connections SUBSCRIBEd to one
    channel, held by a child process that only counts bytes) and
    redis-benchmark as the publisher (`-c C -P P PUBLISH bench <32 bytes>`):
    C=10 P=1 (many clients, unpipelined) and C=1 P=16 (one pipelined
    client). Every message has the same size, so delivered/s = bytes
    received / message size / (time of the last byte - time of the first),
    and the total is checked against requests x S. The warm-up run of each
    server sizes its measured runs (-n) to last about --seconds.

Invalidation latency
    A RESP3 client with CLIENT TRACKING ON reads key k (GET); another client
    writes it (SET) 1000 times a second. Latency = the time the invalidation
    push arrives at the reader minus the time the writer got its +OK, both
    read by this one process with select() and time.perf_counter_ns(). A
    negative value (the push came first) counts as 0. p50 / p99 / max over
    the samples of each round.

Method (as benchmarks/compare.py, whose process handling this reuses):
servers pinned to core 0, this load generator to core 1; rounds alternate
redis / ringcache after a warm-up of each; medians over the rounds are
reported with the per-round ratios; each run also measures the CPU other
processes used meanwhile (share of one core): a run above 5 % is repeated
(twice at most), the least disturbed attempt kept, and marked * if it stayed
disturbed.
The report is printed and written into benchmarks/RESULTS.md as its own
section. Every server started is stopped by PID on exit.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import os
import select
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
    REDIS_CMD,
    SERVER_CORE,
    Processes,
    check_alive,
    encode_command,
    log,
    machine_facts,
    raise_on_signal,
    ratio,
    user_ticks_all_cores,
    user_ticks_of,
    write_results,
)

CHANNEL = b"bench"
PAYLOAD = b"x" * 32
MESSAGE = b"*3\r\n$7\r\nmessage\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
    len(CHANNEL), CHANNEL, len(PAYLOAD), PAYLOAD)
SUBSCRIBERS = (1, 10, 100)
LOADS = ((10, 1), (1, 16))  # (publisher connections, PUBLISHes in flight per connection)
PUBLISH_TARGET = 0.7
LATENCY_RATE = 1000  # writes per second
LATENCY_P99_TARGET_MS = 1.0
MAX_INTERFERENCE = 0.05
RETRIES = 2


# ----------------------------------------------------------------------- helpers


def connect(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_until(sock: socket.socket, data: bytes, timeout: float = 10.0) -> None:
    """Read until exactly `data` arrived (replies we know in advance)."""
    sock.settimeout(timeout)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(len(data) - len(got))
        if not chunk:
            raise ConnectionError("closed")
        got += chunk
    if got != data:
        raise RuntimeError(f"unexpected reply {got!r}, wanted {data!r}")


class Interference:
    """CPU used by processes other than the server and this script, as a share of one core."""

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid
        self.total = user_ticks_all_cores()
        self.server = user_ticks_of(server_pid)
        self.ours = os.times()

    def share(self) -> float:
        hz = os.sysconf("SC_CLK_TCK")
        now = os.times()
        own = (user_ticks_of(self.pid) - self.server
               + (now.user - self.ours.user + now.children_user - self.ours.children_user) * hz)
        foreign = (user_ticks_all_cores() - self.total - own) / hz / max(now.elapsed - self.ours.elapsed, 1e-9)
        return max(foreign, 0.0)


# ----------------------------------------------------------------------- PUBLISH throughput


def subscriber_process(port: int, subscribers: int, control: int, report: int) -> None:
    """Child process: hold the subscriber connections and count what arrives.

    Over two pipes: the child writes "ready" once subscribed; the parent
    writes the number of bytes to expect once the publisher is done; the
    child drains up to it and writes "bytes first last" (perf_counter times,
    CLOCK_MONOTONIC, comparable across processes, of the first and the last
    chunk received)."""
    subs = [connect(port) for _ in range(subscribers)]
    confirm = b"*3\r\n$9\r\nsubscribe\r\n$%d\r\n%b\r\n:1\r\n" % (len(CHANNEL), CHANNEL)
    for sock in subs:
        sock.sendall(encode_command(b"SUBSCRIBE", CHANNEL))
        recv_until(sock, confirm)
        sock.setblocking(False)
    by_fd = {sock.fileno(): sock for sock in subs}
    poller = select.epoll()
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    poller.register(control, select.EPOLLIN)
    os.write(report, b"ready\n")
    view = memoryview(bytearray(1 << 20))
    received = 0
    first = last = 0.0
    expected = None
    deadline = None
    while expected is None or received < expected:
        for fd, _ in poller.poll(0.1):
            if fd == control:
                expected = int(os.read(control, 64).decode())
                deadline = time.perf_counter() + 10
                poller.unregister(control)
                continue
            count = by_fd[fd].recv_into(view)
            if count:
                last = time.perf_counter()
                if not received:
                    first = last
                received += count
        if deadline is not None and time.perf_counter() > deadline:
            break
    os.write(report, b"%d %.9f %.9f\n" % (received, first, last))


def run_publisher(port: int, publishers: int, depth: int, requests: int) -> float:
    """redis-benchmark sending PUBLISH; returns its requests per second."""
    argv = ["redis-benchmark", "-h", HOST, "-p", str(port), "-c", str(publishers),
            "-P", str(depth), "-n", str(requests), "--csv", "PUBLISH", CHANNEL.decode(),
            PAYLOAD.decode()]
    done = subprocess.run(argv, capture_output=True, text=True, start_new_session=True,
                          timeout=120)
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    if done.returncode != 0 or not rows:
        raise RuntimeError(f"redis-benchmark failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return float(rows[-1]["rps"])


def publish_run(server, subscribers: int, publishers: int, depth: int, requests: int) -> dict:
    """One run: `requests` PUBLISHes by redis-benchmark (C publishers x depth
    in flight) to `subscribers` RESP2 subscribers held by a child process,
    both on the load core. delivered/s = messages received / (last byte -
    first byte), checked to be every message of every PUBLISH."""
    control_r, control_w = os.pipe()
    report_r, report_w = os.pipe()
    noise = Interference(server.pid)
    child = os.fork()
    if child == 0:  # the subscriber process
        code = 0
        try:
            subscriber_process(server.port, subscribers, control_r, report_w)
        except BaseException:
            code = 1
        os._exit(code)
    try:
        if os.read(report_r, 64) != b"ready\n":
            raise RuntimeError("subscriber process failed")
        rps = run_publisher(server.port, publishers, depth, requests)
        expected = requests * subscribers * len(MESSAGE)
        os.write(control_w, b"%d" % expected)
        received, first, last = os.read(report_r, 128).split()
        received, first, last = int(received), float(first), float(last)
    finally:
        os.waitpid(child, 0)
        for fd in (control_r, control_w, report_r, report_w):
            os.close(fd)
    check_alive(server)
    # (redis-benchmark may send a few requests more than -n when pipelining.)
    if received < expected:
        raise RuntimeError(f"{server.name}: {received} bytes delivered, expected {expected}")
    messages = received // len(MESSAGE)
    return {"delivered": messages / max(last - first, 1e-9), "published": rps,
            "interference": noise.share()}


# ----------------------------------------------------------------------- invalidation latency


def make_publish_runner(subscribers: int, publishers: int, depth: int, seconds: float):
    """A run function for alternate(): the warm-up run of each server also
    sizes that server's measured runs to last about `seconds`."""
    requests: dict[str, int] = {}

    def run(server, warmup: bool) -> dict:
        if warmup:
            result = publish_run(server, subscribers, publishers, depth, 2000)
            batch = publishers * depth
            requests[server.name] = max(1000, int(result["published"] * seconds)) // batch * batch
            return result
        return publish_run(server, subscribers, publishers, depth, requests[server.name])

    return run


def latency_run(server, samples: int) -> dict:
    reader, writer = connect(server.port), connect(server.port)
    reader.sendall(encode_command(b"HELLO", b"3"))
    reader.settimeout(10)
    hello = reader.recv(4096)  # a map; its end is not needed exactly
    if not hello.startswith(b"%"):
        raise RuntimeError(f"{server.name}: HELLO 3 failed: {hello[:80]!r}")
    reader.sendall(encode_command(b"CLIENT", b"TRACKING", b"ON"))
    recv_until(reader, b"+OK\r\n")
    key = b"bench:key"
    push = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$%d\r\n%b\r\n" % (len(key), key)
    get = encode_command(b"GET", key)
    set_ = encode_command(b"SET", key, b"v")
    writer.sendall(set_)
    recv_until(writer, b"+OK\r\n")
    period = 1.0 / LATENCY_RATE
    latencies: list[float] = []
    noise = Interference(server.pid)
    start = time.perf_counter()
    for i in range(samples):
        # Keep to the rate: the i-th write happens at start + i * period.
        delay = start + i * period - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        reader.sendall(get)  # read it again: the next write must invalidate it
        recv_until(reader, b"$1\r\nv\r\n")
        writer.sendall(set_)
        got_reply = got_push = 0
        wbuf = rbuf = b""
        while not (got_reply and got_push):
            ready, _, _ = select.select([writer, reader], [], [], 5)
            if not ready:
                raise RuntimeError(f"{server.name}: no invalidation within 5 s")
            now = time.perf_counter_ns()
            for sock in ready:
                if sock is writer:
                    wbuf += writer.recv(4096)
                    if wbuf == b"+OK\r\n":
                        got_reply = now
                else:
                    rbuf += reader.recv(4096)
                    if rbuf == push:
                        got_push = now
        latencies.append(max(got_push - got_reply, 0) / 1e6)
    reader.close()
    writer.close()
    check_alive(server)
    latencies.sort()
    return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
            "max": latencies[-1], "interference": noise.share()}


def percentile(sorted_values: list[float], p: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


# ----------------------------------------------------------------------- running


def alternate(procs: Processes, ringcache_cmd: str, rounds: int, run) -> dict:
    """{"redis": [result...], "ringcache": [...]}, A/B/A/B after one warm-up each."""
    servers = {"redis": procs.start("redis", REDIS_CMD),
               "ringcache": procs.start("ringcache", ringcache_cmd)}
    try:
        for name, server in servers.items():
            run(server, warmup=True)
        results: dict = {"redis": [], "ringcache": []}
        for _ in range(rounds):
            for name, server in servers.items():
                results[name].append(least_disturbed(run, server))
        return results
    finally:
        for server in servers.values():
            procs.stop(server)


def least_disturbed(run, server) -> dict:
    """A measured run, repeated (RETRIES times at most) while other processes
    used more than MAX_INTERFERENCE of a core meanwhile; the least disturbed
    attempt is kept, with the number of repeats."""
    best = None
    for attempt in range(RETRIES + 1):
        result = run(server, warmup=False)
        result["retries"] = attempt
        if best is None or result["interference"] < best["interference"]:
            best = result
        if result["interference"] <= MAX_INTERFERENCE:
            break
    return best


def repeats_note(results) -> str:
    runs = [run for by_server in results for runs in by_server.values() for run in runs]
    return (f"Interference check: {len(runs)} measured runs, {sum(r['retries'] for r in runs)} "
            f"repeats because other processes used more than {MAX_INTERFERENCE:.0%} of a core "
            f"meanwhile, {sum(mark(r) == '*' for r in runs)} still disturbed after {RETRIES} "
            "retries (marked *; the least disturbed attempt is kept).")


def mark(result: dict) -> str:
    return "*" if result["interference"] > MAX_INTERFERENCE else ""


def publish_section(results: dict, seconds: float) -> tuple[list[str], list]:
    lines = ["### PUBLISH throughput (messages delivered per second, medians)", "",
             "| subscribers | publishers x in flight | redis delivered/s | ringcache delivered/s "
             "| ratio | ratio per round | ringcache PUBLISH/s |",
             "|---:|---|---:|---:|---:|---|---:|"]
    targets = []
    for (subs, pubs, depth), by_server in results.items():
        r = statistics.median(x["delivered"] for x in by_server["redis"])
        c = statistics.median(x["delivered"] for x in by_server["ringcache"])
        cp = statistics.median(x["published"] for x in by_server["ringcache"])
        rounds = " ".join(f"{ratio(b['delivered'], a['delivered']):.2f}{mark(a) or mark(b)}"
                          for a, b in zip(by_server["redis"], by_server["ringcache"]))
        lines.append(f"| {subs} | {pubs} x {depth} | {r:,.0f} | {c:,.0f} | {ratio(c, r):.2f}x "
                     f"| {rounds} | {cp:,.0f} |")
        targets.append((f"PUBLISH delivered/s, {subs} subscriber(s), {pubs} x {depth} "
                        f">= {PUBLISH_TARGET}x redis", f"{ratio(c, r):.2f}x",
                        "PASS" if ratio(c, r) >= PUBLISH_TARGET else "MISS"))
    lines += ["", f"Each run: {seconds:g} s of publishing. {repeats_note(results.values())}"]
    return lines, targets


def latency_section(results: dict, samples: int) -> tuple[list[str], list]:
    lines = ["### Invalidation latency (write reply -> invalidation push, ms, medians of rounds)", "",
             f"{samples:,} writes per round at {LATENCY_RATE:,}/s; the key is read again "
             "before each write.", "",
             "| server | p50 | p99 | max | p99 per round |", "|---|---:|---:|---:|---|"]
    for name, runs in results.items():
        med = {k: statistics.median(run[k] for run in runs) for k in ("p50", "p99", "max")}
        per_round = " ".join(f"{run['p99']:.3f}{mark(run)}" for run in runs)
        lines.append(f"| {name} | {med['p50']:.3f} | {med['p99']:.3f} | {med['max']:.3f} | {per_round} |")
    lines += ["", repeats_note([results])]
    p99 = statistics.median(run["p99"] for run in results["ringcache"])
    targets = [(f"invalidation p99 < {LATENCY_P99_TARGET_MS:g} ms at {LATENCY_RATE:,} writes/s",
                f"{p99:.3f} ms", "PASS" if p99 < LATENCY_P99_TARGET_MS else "MISS")]
    return lines, targets


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--only", choices=("publish", "invalidation"))
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds (default 3)")
    parser.add_argument("--seconds", type=float, help="publishing time per run (default 2, quick 0.5)")
    parser.add_argument("--samples", type=int, help="writes per latency run (default 3000, quick 500)")
    parser.add_argument("--subscribers", type=int, nargs="+", default=list(SUBSCRIBERS),
                        help="subscriber counts (default: %(default)s)")
    parser.add_argument("--loads", nargs="+", default=[f"{c}x{p}" for c, p in LOADS],
                        help="publisher loads as CONNECTIONSxIN_FLIGHT (default: %(default)s)")
    parser.add_argument("--ringcache-cmd", default=DEFAULT_RINGCACHE_CMD,
                        help="command starting the node under test, {port} is replaced")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    seconds = args.seconds or (0.5 if args.quick else 2.0)
    samples = args.samples or (500 if args.quick else 3000)
    pin = (os.cpu_count() or 1) >= 2
    if pin:
        os.sched_setaffinity(0, {CLIENT_CORE})
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_on_signal)
    signal.signal(signal.SIGHUP, raise_on_signal)
    facts = machine_facts()
    publish: dict = {}
    latency = None
    with tempfile.TemporaryDirectory(prefix="ringcache-pubsub-") as logdir:
        procs = Processes(Path(logdir), pin)
        try:
            if args.only in (None, "publish"):
                loads = [tuple(int(n) for n in load.split("x")) for load in args.loads]
                for subs in args.subscribers:
                    for pubs, depth in loads:
                        log(f"PUBLISH: {subs} subscribers, {pubs} publishers x {depth}")
                        publish[(subs, pubs, depth)] = alternate(
                            procs, args.ringcache_cmd, args.rounds,
                            make_publish_runner(subs, pubs, depth, seconds))
            if args.only in (None, "invalidation"):
                log("invalidation latency")
                latency = alternate(procs, args.ringcache_cmd, args.rounds,
                                    lambda server, warmup: latency_run(
                                        server, samples // 5 if warmup else samples))
        finally:
            procs.stop_all()

    kind = ("quick" if args.quick else "full") + " run" + (f", {args.only} only" if args.only else "")
    heading = f"## {datetime.date.today().isoformat()} — pub/sub, {kind}"
    command = " ".join(shlex.quote(a) for a in sys.orig_argv)
    server_prefix = f"taskset -c {SERVER_CORE} " if pin else ""
    lines = [heading, "", f"Command: `{command}` (in {Path(__file__).resolve().parent.parent})", ""]
    lines += [f"- {key}: {value}" for key, value in facts]
    lines += [f"- redis: `{server_prefix}{REDIS_CMD.format(port='PORT')}`",
              f"- ringcache: `{server_prefix}{args.ringcache_cmd.format(port='PORT')}`",
              f"- load: this script, pinned to core {CLIENT_CORE}; {args.rounds} rounds "
              "alternating redis/ringcache after one warm-up each; see benchmarks/pubsub.py"]
    targets: list = []
    if publish:
        table, t = publish_section(publish, seconds)
        lines += [""] + table
        targets += t
    if latency is not None:
        table, t = latency_section(latency, samples)
        lines += [""] + table
        targets += t
    lines += ["", "### Targets", "", "| target | measured | result |", "|---|---:|---|"]
    lines += [f"| {label} | {value} | {result} |" for label, value, result in targets]
    report = "\n".join(lines) + "\n"
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
