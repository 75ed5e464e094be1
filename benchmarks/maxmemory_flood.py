"""RSS under a flood of SETs with maxmemory 100mb (ringcache and redis-server).

    .venv/bin/python benchmarks/maxmemory_flood.py [--mb 100] [--data-mb 400] [--no-write]

Each server starts empty with `maxmemory <mb>mb` and allkeys-lru; one
connection pipelines SETs of distinct keys (1000 per batch, values of 100 to
2000 bytes) until `--data-mb` of values were sent, sampling VmRSS after every
batch. Reported: the peak RSS above the empty process, against the stated
bound of 1.5 x maxmemory, and used_memory at the end.
"""

from __future__ import annotations

import argparse
import datetime
import random
import socket
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402

BOUND = 1.5


def flood(procs: compare.Processes, name: str, template: str, mb: int, data_mb: int) -> dict:
    server = procs.start(name, template + f" --maxmemory {mb}mb --maxmemory-policy allkeys-lru")
    try:
        baseline = compare.rss_bytes(server.pid)
        rng = random.Random(1)
        blob = bytes(rng.getrandbits(8) for _ in range(4096))
        sent = 0
        peak = baseline
        i = 0
        with socket.create_connection((compare.HOST, server.port), timeout=300) as sock:
            while sent < data_mb * 1024 * 1024:
                parts = []
                for _ in range(1000):
                    size = rng.randrange(100, 2001)
                    key = b"flood:%010d" % i
                    i += 1
                    parts.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n"
                                 % (len(key), key, size, blob[:size]))
                    sent += size
                sock.sendall(b"".join(parts))
                got = compare.recv_exactly(sock, 5 * 1000)
                if got != b"+OK\r\n" * 1000:
                    raise RuntimeError(f"{name}: unexpected replies {got[:100]!r}")
                peak = max(peak, compare.rss_bytes(server.pid))
        info = compare.call(server, "INFO", "all").decode()
        fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        return {"baseline": baseline, "peak": peak, "keys_sent": i,
                "used": int(fields["used_memory"]), "evicted": int(fields["evicted_keys"]),
                "final_rss": compare.rss_bytes(server.pid)}
    finally:
        procs.stop(server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--data-mb", type=int, default=400)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as logdir:
        procs = compare.Processes(Path(logdir), pin=False)
        try:
            for name, template in (("redis", compare.REDIS_CMD),
                                   ("ringcache", compare.DEFAULT_RINGCACHE_CMD)):
                results[name] = flood(procs, name, template + f" --dir {logdir}", args.mb,
                                      args.data_mb)
                compare.log(f"{name}: {results[name]}")
        finally:
            procs.stop_all()
    limit = args.mb * 1024 * 1024
    mib = 1024 * 1024
    lines = [
        f"Command: `.venv/bin/python benchmarks/maxmemory_flood.py --mb {args.mb} "
        f"--data-mb {args.data_mb}` (in /work/main)",
        "",
        f"- ringcache tree: {compare.git_revision()}",
        f"- maxmemory {args.mb}mb, allkeys-lru; {args.data_mb} MiB of values (100-2000 bytes, "
        "distinct keys) pipelined 1000 SETs at a time over one connection; VmRSS after each batch",
        f"- stated bound: peak RSS - empty-process RSS <= {BOUND} x maxmemory "
        f"({BOUND * args.mb:.0f} MiB)",
        "",
        "| server | empty RSS MiB | peak RSS MiB | peak - empty MiB | x maxmemory | "
        "used_memory at end MiB | evicted keys | bound |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in results.items():
        growth = r["peak"] - r["baseline"]
        lines.append(f"| {name} | {r['baseline'] / mib:.1f} | {r['peak'] / mib:.1f} | "
                     f"{growth / mib:.1f} | {growth / limit:.2f} | {r['used'] / mib:.1f} | "
                     f"{r['evicted']:,} | {compare.verdict(growth <= BOUND * limit)} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if not args.no_write:
        heading = f"## {datetime.date.today().isoformat()} — RSS under maxmemory"
        compare.write_results(compare.DEFAULT_RESULTS, heading, heading + "\n\n" + report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
