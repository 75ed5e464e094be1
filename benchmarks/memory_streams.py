"""Memory per entry of one large stream: ringcache against redis-server, same run.

    .venv/bin/python benchmarks/memory_streams.py [--entries 100000] [--rounds 1]

For each server (a fresh process each round, alternating redis / ringcache):
read VmRSS, append N entries `XADD bigstream <i>-0 sensor <i % 1000> payload
<32 bytes>` pipelined (batches of 1000 on one socket), check XLEN, read VmRSS
again: bytes per entry = (after - before) / N; MEMORY USAGE of the key too.
Entries of one shape are what streams usually hold (Redis stores their field
names once per node; ringcache shares them between neighbouring entries).

The process helpers come from compare.py. The machine is shared: quote
same-run ratios only.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import (  # noqa: E402
    DEFAULT_RINGCACHE_CMD,
    HOST,
    REDIS_CMD,
    Processes,
    call,
    log,
    rss_bytes,
)

BATCH = 1000
PAYLOAD = b"p" * 32


def xadd_batch(start: int, count: int) -> bytes:
    out = []
    for i in range(start, start + count):
        ident, sensor = b"%d-0" % (i + 1), b"%d" % (i % 1000)
        parts = [b"XADD", b"bigstream", ident, b"sensor", sensor, b"payload", PAYLOAD]
        out.append(b"*7\r\n" + b"".join(b"$%d\r\n%b\r\n" % (len(p), p) for p in parts))
    return b"".join(out)


def _drain(sock: socket.socket, count: int) -> None:
    """Read `count` bulk-string replies (the IDs)."""
    buf = b""
    seen = 0
    while seen < count:
        data = sock.recv(1 << 20)
        if not data:
            raise RuntimeError("connection closed")
        buf += data
        seen = buf.count(b"\r\n") // 2
        if buf.startswith(b"-"):
            raise RuntimeError(f"XADD failed: {buf[:100]!r}")


def measure_once(procs: Processes, name: str, template: str, entries: int) -> dict:
    server = procs.start(name, template)
    try:
        call(server, "FLUSHALL")
        before = rss_bytes(server.pid)
        with socket.create_connection((HOST, server.port), timeout=300) as sock:
            for start in range(0, entries, BATCH):
                count = min(BATCH, entries - start)
                sock.sendall(xadd_batch(start, count))
                _drain(sock, count)
        length = call(server, "XLEN", "bigstream")
        after = rss_bytes(server.pid)
        usage = call(server, "MEMORY", "USAGE", "bigstream", "SAMPLES", "0")
        if length != entries:
            raise RuntimeError(f"{name}: XLEN is {length} after {entries} entries")
        return {"per_entry": (after - before) / entries, "usage_per_entry": usage / entries}
    finally:
        procs.stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--pin", action="store_true", help="taskset the servers to core 0")
    parser.add_argument("--ringcache-cmd", default=DEFAULT_RINGCACHE_CMD)
    args = parser.parse_args()
    per: dict[str, list[float]] = {"redis": [], "ringcache": []}
    usage: dict[str, list[float]] = {"redis": [], "ringcache": []}
    with tempfile.TemporaryDirectory() as logdir:
        procs = Processes(Path(logdir), args.pin)
        try:
            for round_ in range(args.rounds):
                servers = (("redis", REDIS_CMD + f" --dir {logdir}"),
                           ("ringcache", args.ringcache_cmd + f" --dir {logdir}"))
                for name, template in servers:
                    log(f"round {round_ + 1}: {name}, {args.entries:,} entries")
                    result = measure_once(procs, name, template, args.entries)
                    per[name].append(result["per_entry"])
                    usage[name].append(result["usage_per_entry"])
                    log(f"  {result['per_entry']:.1f} bytes per entry (RSS), "
                        f"{result['usage_per_entry']:.1f} (MEMORY USAGE)")
        finally:
            procs.stop_all()
    redis_b, ring_b = statistics.median(per["redis"]), statistics.median(per["ringcache"])
    print(f"stream of {args.entries:,} entries (sensor <int>, payload <32 bytes>), pipelined XADD, RSS delta")
    print(f"redis-server: {redis_b:.1f} bytes/entry; ringcache: {ring_b:.1f} bytes/entry; "
          f"ratio {ring_b / redis_b:.2f}x; rounds {args.rounds}")
    print(f"MEMORY USAGE: redis-server {statistics.median(usage['redis']):.1f}, "
          f"ringcache {statistics.median(usage['ringcache']):.1f} bytes/entry")


if __name__ == "__main__":
    main()
