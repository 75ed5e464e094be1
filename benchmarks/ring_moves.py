"""How many slots move when a shard joins or leaves the ring, and how even and
compact the slot map stays (issue 14; pure computation, no servers).

    .venv/bin/python benchmarks/ring_moves.py [--trials 20] [--vnodes 128]

For each transition (3->4, 10->11 shards joining, 4->3 and 11->10 leaving)
and each trial, shard ids are 40 random hex characters (seeded per trial, so
the run is reproducible). It prints, as a markdown table:

* moved: the fraction of the 16384 slots whose owner differs between the two
  maps (each computed from scratch by cluster/ring.py: ring, then bounded-load
  correction), mean and max over the trials, next to the ideal 1/N (N the
  larger shard count: the newcomer's or the leaver's fair share);
* raw moved: the same for the ring alone, before the correction;
* ranges: the (start, end, shard) ranges of the map after the transition
  (what CLUSTER SLOTS lists), mean;
* max/min: the largest shard load over the smallest after the transition,
  mean and worst trial (the +-10 % bound allows up to 1.1/0.9 = 1.222); and
  the smallest and largest load as a fraction of the fair share 16384/N,
  worst trials (the bound is 0.90..1.10).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ringcache.cluster import ring  # noqa: E402
from ringcache.storage.slots import SLOTS  # noqa: E402


def shard_ids(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["%040x" % rng.getrandbits(160) for _ in range(n)]


def measure(before_n: int, after_n: int, vnodes: int, trials: int) -> dict:
    moved, raw_moved, ranges, ratios, lows, highs = [], [], [], [], [], []
    for trial in range(trials):
        ids = shard_ids(max(before_n, after_n), seed=trial)
        before, after = ids[:before_n], ids[:after_n]
        a, b = ring.assign(before, vnodes), ring.assign(after, vnodes)
        moved.append(ring.moved(a, b) / SLOTS)
        raw_a = ring.SlotAssignment(*ring.raw_assignment(before, vnodes))
        raw_b = ring.SlotAssignment(*ring.raw_assignment(after, vnodes))
        raw_moved.append(ring.moved(raw_a, raw_b) / SLOTS)
        ranges.append(len(b.ranges()))
        loads = b.loads().values()
        fair = SLOTS / after_n
        ratios.append(max(loads) / min(loads))
        lows.append(min(loads) / fair)
        highs.append(max(loads) / fair)
    return {
        "ideal": 1 / max(before_n, after_n),
        "moved_mean": statistics.mean(moved), "moved_max": max(moved),
        "raw_mean": statistics.mean(raw_moved),
        "ranges": statistics.mean(ranges),
        "ratio_mean": statistics.mean(ratios), "ratio_max": max(ratios), "low": min(lows), "high": max(highs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--vnodes", type=int, action="append",
                        help="vnodes per shard (repeatable; default 128)")
    args = parser.parse_args()
    print("| transition | vnodes | ideal 1/N | moved (mean) | moved (max) | raw ring moved (mean) "
          "| ranges after (mean) | max/min load (mean) | max/min load (worst) "
          "| min, max load / fair share (worst) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for vnodes in args.vnodes or [ring.VNODES_DEFAULT]:
        for before_n, after_n in ((3, 4), (10, 11), (4, 3), (11, 10)):
            r = measure(before_n, after_n, vnodes, args.trials)
            print(f"| {before_n} -> {after_n} | {vnodes} | {r['ideal']:.2%} | {r['moved_mean']:.2%} "
                  f"| {r['moved_max']:.2%} | {r['raw_mean']:.2%} | {r['ranges']:.0f} "
                  f"| {r['ratio_mean']:.3f} | {r['ratio_max']:.3f} | {r['low']:.3f}, {r['high']:.3f} |")


if __name__ == "__main__":
    main()
