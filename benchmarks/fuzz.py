"""The protocol fuzzer of tests/fuzzing.py, for as long as you like.

    .venv/bin/python benchmarks/fuzz.py [--minutes 10] [--seed 1]

Starts one node (maxmemory 64mb), fuzzes it with fresh connections (real
commands with random arguments, damaged RESP, inline junk, noise), flushes
every 300 cases and prints RSS as it goes. Exits 1 if the node died, stopped
answering, or its RSS grew by more than 2 % between the end of the first
tenth of the run and the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from fuzzing import fuzz  # noqa: E402
from nodes import spawn_node  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    node = spawn_node(["--maxmemory", "64mb"], Path(tempfile.mkdtemp(prefix="fuzz-")) / "node.log")
    try:
        def progress(report) -> None:
            if len(report.rss_kb) % 20 == 0:
                print(f"{report.cases} cases, RSS {report.rss_kb[-1]} KB", flush=True)
        report = fuzz(node.port, node.proc.pid, args.minutes * 60, args.seed, on_sample=progress)
        alive = node.proc.poll() is None and node.client().ping()
    finally:
        node.stop()
    samples = report.rss_kb
    warm = samples[len(samples) // 10]
    growth = (samples[-1] - warm) / warm * 100
    print(f"{report.cases} cases; node {'alive' if alive else 'DEAD'}; RSS {warm} KB after warm-up, "
          f"{samples[-1]} KB at the end ({growth:+.2f} %)")
    return 0 if alive and growth < 2 else 1


if __name__ == "__main__":
    sys.exit(main())
