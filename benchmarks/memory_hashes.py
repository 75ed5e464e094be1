"""Memory per field of one large hash: ringcache against redis-server, same run.

    .venv/bin/python benchmarks/memory_hashes.py [--fields 1000000] [--rounds 1] [--ttl]

For each server (a fresh process each round, alternating redis / ringcache):
read VmRSS, load one hash `bighash` with N fields `field:%07d` and 32-byte
values through pipelined HSET (batches of 1000 commands on one socket), check
HLEN, read VmRSS again: bytes per field = (after - before) / N. The ratio of
the medians is the figure (issue 3's target: <= 2x redis-server).

`--ttl` then gives every field a TTL (HPEXPIRE ... FIELDS 1000 f...) and
measures the extra bytes per field, for ringcache only: redis-server 7.0 has
no field TTLs (7.4 stores them in the field itself, ~16 bytes more a field).

The process helpers come from compare.py (free ports, SIGTERM by PID, taskset
pinning with --pin). The machine is shared: quote same-run ratios only.
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
    recv_exactly,
    rss_bytes,
)

BATCH = 1000
VALUE = b"v" * 32


def hset_batch(start: int, count: int) -> bytes:
    template = b"*4\r\n$4\r\nHSET\r\n$7\r\nbighash\r\n$13\r\nfield:%07d\r\n$32\r\n" + VALUE + b"\r\n"
    return b"".join(template % i for i in range(start, start + count))


def expire_batch(start: int, count: int) -> bytes:
    fields = [b"field:%07d" % i for i in range(start, start + count)]
    parts = [b"HPEXPIRE", b"bighash", b"100000000", b"FIELDS", b"%d" % count, *fields]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%b\r\n" % (len(p), p) for p in parts)


def measure_once(procs: Processes, name: str, template: str, fields: int, ttl: bool) -> dict:
    server = procs.start(name, template)
    try:
        call(server, "FLUSHALL")
        before = rss_bytes(server.pid)
        with socket.create_connection((HOST, server.port), timeout=300) as sock:
            for start in range(0, fields, BATCH):
                count = min(BATCH, fields - start)
                sock.sendall(hset_batch(start, count))
                replies = recv_exactly(sock, 4 * count)
                if replies != b":1\r\n" * count:
                    raise RuntimeError(f"{name}: unexpected HSET reply {replies[:100]!r}")
        length = call(server, "HLEN", "bighash")
        after = rss_bytes(server.pid)
        if length != fields:
            raise RuntimeError(f"{name}: HLEN is {length} after {fields} fields")
        result = {"before": before, "after": after, "per_field": (after - before) / fields}
        if ttl:
            with socket.create_connection((HOST, server.port), timeout=300) as sock:
                for start in range(0, fields, BATCH):
                    count = min(BATCH, fields - start)
                    sock.sendall(expire_batch(start, count))
                    reply = recv_exactly(sock, len(b"*%d\r\n" % count) + 4 * count)
                    if not reply.startswith(b"*%d\r\n:1" % count):
                        raise RuntimeError(f"{name}: unexpected HPEXPIRE reply {reply[:60]!r}")
            with_ttl = rss_bytes(server.pid)
            result["ttl_extra_per_field"] = (with_ttl - after) / fields
    finally:
        procs.stop(server)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fields", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--ttl", action="store_true", help="also measure field TTLs (ringcache)")
    parser.add_argument("--pin", action="store_true", help="taskset the servers to core 0")
    parser.add_argument("--ringcache-cmd", default=DEFAULT_RINGCACHE_CMD)
    args = parser.parse_args()
    per: dict[str, list[float]] = {"redis": [], "ringcache": []}
    extra: list[float] = []
    with tempfile.TemporaryDirectory() as logdir:
        procs = Processes(Path(logdir), args.pin)
        try:
            for round_ in range(args.rounds):
                # --dir: a fresh directory, so no dump file lying in the repository is loaded
                servers = (("redis", REDIS_CMD + f" --dir {logdir}"),
                           ("ringcache", args.ringcache_cmd + f" --dir {logdir}"))
                for name, template in servers:
                    log(f"round {round_ + 1}: {name}, {args.fields:,} fields")
                    result = measure_once(procs, name, template, args.fields,
                                          args.ttl and name == "ringcache")
                    per[name].append(result["per_field"])
                    if "ttl_extra_per_field" in result:
                        extra.append(result["ttl_extra_per_field"])
                    log(f"  {result['per_field']:.1f} bytes per field")
        finally:
            procs.stop_all()
    redis_b = statistics.median(per["redis"])
    ring_b = statistics.median(per["ringcache"])
    print(f"hash of {args.fields:,} fields `field:%07d`, 32-byte values, pipelined HSET, RSS delta")
    print(f"redis-server: {redis_b:.1f} bytes/field; ringcache: {ring_b:.1f} bytes/field; "
          f"ratio {ring_b / redis_b:.2f}x (target <= 2x); rounds {args.rounds}")
    if extra:
        print(f"ringcache, every field with a TTL: +{statistics.median(extra):.1f} bytes/field")


if __name__ == "__main__":
    main()
