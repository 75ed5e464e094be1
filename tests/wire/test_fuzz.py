"""A few seconds of protocol fuzzing (tests/fuzzing.py) against a real node:
it never crashes, keeps answering, and its RSS stays flat once warmed up.
benchmarks/fuzz.py runs the same fuzzer for as long as you like."""

from __future__ import annotations

import os

from fuzzing import fuzz

from nodes import start_node

SECONDS = float(os.environ.get("RINGCACHE_FUZZ_SECONDS", "6"))
MAX_GROWTH_KB = 3_000


def test_fuzzed_input_never_crashes_and_keeps_rss_flat(tmp_path):
    with start_node(tmp_path, "--maxmemory", "64mb") as node:
        report = fuzz(node.port, node.proc.pid, SECONDS, seed=11)
        assert node.proc.poll() is None, node.log()
        client = node.client()
        assert client.ping() is True
        client.close()
    samples = report.rss_kb
    assert len(samples) >= 4, f"only {report.cases} cases ran"
    # The first half warms up (allocator arenas, caches, the slowlog);
    # after it, RSS must not keep growing.
    warm = samples[len(samples) // 2]
    growth = max(samples[len(samples) // 2:]) - warm
    assert growth < MAX_GROWTH_KB, f"RSS grew {growth} KB after warm-up: {samples}"
