"""The throughput ceiling of a Python node: a server that does nothing.

    .venv/bin/python benchmarks/ceiling.py [--rounds 3] [--requests-p1 50000]
                                           [--requests-p16 300000] [--no-write]

The "null" server here has the node's I/O loop and nothing else: stdlib
asyncio `add_reader` on the raw socket, one `recv`, hiredis parsing every
command of the batch, one constant reply (`+PONG`) per command, one `send` per
batch (server/connection.py does the same, then dispatches). Whatever a
real command costs comes on top, so its ratio to redis-server bounds what a
pure-Python node can reach on this machine.

redis-benchmark (-c 50 -r 100000 -d 32, tests set,get,lpush,lpop) at -P 1
and -P 16 against redis-server, ringcache and the null server, one server at
a time pinned to core 0 and the load to core 1, rounds alternating; medians
and ratios to redis-server go to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime
import io
import socket
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402  (processes, pinning, machine facts, RESULTS.md)

TESTS = ("SET", "GET", "LPUSH", "LPOP")


def serve(port: int) -> None:
    """The null server (runs in its own process)."""
    import hiredis

    async def main() -> None:
        loop = asyncio.get_running_loop()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(511)
        listener.setblocking(False)

        def on_readable(sock: socket.socket, reader: hiredis.Reader) -> None:
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(sock.fileno())
                sock.close()
                return
            reader.feed(data)
            replies = 0
            while reader.gets() is not False:
                replies += 1
            if replies:
                # (PONG: compare.py's readiness check is a PING; small replies
                # always fit the socket buffer)
                sock.send(b"+PONG\r\n" * replies)

        def on_accept() -> None:
            sock, _ = listener.accept()
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            loop.add_reader(sock.fileno(), on_readable, sock, hiredis.Reader())

        loop.add_reader(listener.fileno(), on_accept)
        await asyncio.Event().wait()

    asyncio.run(main())


def bench(port: int, requests: int, pipeline: int) -> dict[str, float]:
    argv = compare.pinned(["redis-benchmark", "-h", compare.HOST, "-p", str(port), "-c", "50",
                           "-r", "100000", "-d", "32", "-n", str(requests), "-P", str(pipeline),
                           "-t", ",".join(t.lower() for t in TESTS), "--csv"],
                          compare.CLIENT_CORE, True)
    done = subprocess.run(argv, capture_output=True, text=True, start_new_session=True,
                          timeout=120 + requests / 2000, check=True)
    return {row["test"]: float(row["rps"]) for row in csv.DictReader(io.StringIO(done.stdout))
            if row.get("test") in TESTS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests-p1", type=int, default=50_000)
    parser.add_argument("--requests-p16", type=int, default=300_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    templates = {
        "redis": compare.REDIS_CMD,
        "ringcache": compare.DEFAULT_RINGCACHE_CMD,
        "null": f"{sys.executable} {Path(__file__).resolve()} --serve {{port}}",
    }
    runs: dict = {}  # (server, pipeline) -> test -> [rps per round]
    with compare.tempfile.TemporaryDirectory() as logdir:
        procs = compare.Processes(Path(logdir), pin=True)
        try:
            for _ in range(args.rounds):
                for name, template in templates.items():
                    server = procs.start(name, template + ("" if name == "null" else f" --dir {logdir}"))
                    try:
                        for pipeline, requests in ((1, args.requests_p1), (16, args.requests_p16)):
                            for test, rps in bench(server.port, requests, pipeline).items():
                                runs.setdefault((name, pipeline), {}).setdefault(test, []).append(rps)
                    finally:
                        procs.stop(server)
                compare.log(f"round done: {runs}")
        finally:
            procs.stop_all()
    report = build_report(args, runs)
    print(report)
    if not args.no_write:
        heading = f"## {datetime.date.today().isoformat()} — the null-server ceiling"
        compare.write_results(compare.DEFAULT_RESULTS, heading, heading + "\n\n" + report)
    return 0


def build_report(args, runs: dict) -> str:
    lines = [
        "Command: `.venv/bin/python benchmarks/ceiling.py " + " ".join(sys.argv[1:]) + "` (in /work/main)",
        "",
        f"- ringcache tree: {compare.git_revision()}",
        f"- {args.rounds} rounds, servers one at a time on core 0, redis-benchmark on core 1 "
        f"(-c 50 -r 100000 -d 32; -n {args.requests_p1:,} at -P 1, {args.requests_p16:,} at -P 16); "
        "medians; null = the node's I/O loop replying +PONG to every command",
        "",
        "| -P | test | redis rps | ringcache rps | null rps | ringcache / redis | null / redis |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for pipeline in (1, 16):
        for test in TESTS:
            r, c, n = (statistics.median(runs[(name, pipeline)][test])
                       for name in ("redis", "ringcache", "null"))
            lines.append(f"| {pipeline} | {test} | {r:,.0f} | {c:,.0f} | {n:,.0f} | "
                         f"{c / r:.2f}x | {n / r:.2f}x |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
