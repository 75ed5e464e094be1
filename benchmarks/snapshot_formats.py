"""The snapshot codecs, in process: RDB (what the node writes now) against
RCSNAP (the framed format it wrote before), same data set, same run.

    .venv/bin/python benchmarks/snapshot_formats.py [--keys N] [--rounds N]

N keys `key:%07d` with 32-byte values, one in ten with a TTL; each round
writes the whole image to memory with each writer and reads it back with
each reader (the sink does nothing), alternating the formats. Prints the
median seconds and the image size. No redis-server needed: this measures
the Python codecs, not the disk (the node writes the same chunks to a
file, in a forked child for BGSAVE).
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

from ringcache.persistence.rdb import RDBReader, rdb_chunks
from ringcache.persistence.snapshot import RCSnapReader, rcsnap_chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    now = 1e12
    data = {b"key:%07d" % i: b"x" * 32 for i in range(args.keys)}
    expires = {b"key:%07d" % i: 2e12 for i in range(0, args.keys, 10)}
    formats = {"rdb": (rdb_chunks, RDBReader), "rcsnap": (rcsnap_chunks, RCSnapReader)}
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in formats}
    for _ in range(args.rounds):
        for name, (write, reader) in formats.items():
            start = time.perf_counter()
            image = b"".join(write([(0, data, expires)], now))
            wrote = time.perf_counter() - start
            start = time.perf_counter()
            reader(io.BytesIO(image)).load(lambda *entry: None, now)
            results[name].append((wrote, time.perf_counter() - start, len(image)))
    print(f"{args.keys} keys, {args.rounds} rounds (medians)")
    for name, rows in results.items():
        print(f"{name:7s} write {statistics.median(r[0] for r in rows):.2f} s   "
              f"read {statistics.median(r[1] for r in rows):.2f} s   size {rows[0][2]} bytes")


if __name__ == "__main__":
    main()
