"""The Raft control plane's journal on disk (issue 15: whole-cluster
restarts): what it costs and what a restart takes.

    .venv/bin/python benchmarks/raft_journal.py [--seconds 60] [--nodes 6] [--rounds 3]

Three RaftControlPlanes in this process on loopback, with the node's Raft
timings (node.RAFT_OPTIONS). For each round, with and without the journal
(alternating): `nodes` heartbeat senders at 4/s each for `seconds`, the
latency of each waited-for heartbeat (`renew`, what a lease waits for), and
the journal's file size and log length sampled every 5 s; then every member
is closed and started again and the time until all three hold the map and
are ready is measured (journal rounds only: without one the plane comes back
empty). Prints one line per round and a summary."""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import threading
import time

from ringcache.cluster.controlplane.raft import RaftControlPlane
from ringcache.cluster.node import HEARTBEAT_S, RAFT_OPTIONS
from ringcache.cluster.topology import ClusterMap, Member


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def start(addresses: list[str], directory: str | None) -> list[RaftControlPlane]:
    return [RaftControlPlane(a, [b for b in addresses if b != a], "bench", commit_timeout=5.0,
                             journal_path=None if directory is None
                             else os.path.join(directory, f"raft-{i}"), **RAFT_OPTIONS)
            for i, a in enumerate(addresses)]


def wait(predicate, timeout: float = 30.0) -> float:
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise RuntimeError("timed out")
        time.sleep(0.01)
    return time.monotonic() - began


def one_round(seconds: float, nodes: int, journal: bool) -> dict:
    addresses = [f"127.0.0.1:{p}" for p in free_ports(3)]
    with tempfile.TemporaryDirectory() as directory:
        planes = start(addresses, directory if journal else None)
        wait(lambda: all(p.leader() is not None for p in planes))
        for i in range(nodes):
            planes[i % 3].update(lambda m, i=i: m.add_member(
                Member("%040x" % (i + 1), "127.0.0.1", 7000 + i, 17000 + i)))
        latencies: list[float] = []
        sizes: list[tuple[float, int, int]] = []
        stop = threading.Event()

        def sender(i: int) -> None:
            plane = planes[i % 3]
            node_id = "%040x" % (i + 1)
            while not stop.is_set():
                began = time.monotonic()
                if plane.renew(node_id, {"offset": 0}, timeout=1.0) is not None:
                    latencies.append(time.monotonic() - began)
                stop.wait(HEARTBEAT_S)

        threads = [threading.Thread(target=sender, args=(i,)) for i in range(nodes)]
        for t in threads:
            t.start()
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            time.sleep(5)
            path = os.path.join(directory, "raft-0")
            size = os.path.getsize(path) if os.path.exists(path) else 0
            sizes.append((time.monotonic() - began, size, planes[0]._raft.getStatus()["log_len"]))
        stop.set()
        for t in threads:
            t.join()
        before = planes[0].current()
        for p in planes:
            p.close()
        restart_s = None
        if journal:
            t0 = time.monotonic()
            planes = start(addresses, directory)
            wait(lambda: all(p.current() == before and p.ready() for p in planes))
            restart_s = time.monotonic() - t0
            for p in planes:
                p.close()
        latencies.sort()
        return {"journal": journal, "beats": len(latencies),
                "p50_ms": 1000 * statistics.median(latencies),
                "p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1],
                "max_file": max(s[1] for s in sizes), "max_log_len": max(s[2] for s in sizes),
                "restart_s": restart_s}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--nodes", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for r in range(args.rounds):
        for journal in ((True, False) if r % 2 == 0 else (False, True)):
            row = one_round(args.seconds, args.nodes, journal)
            rows.append(row)
            print(row, flush=True)
    for journal in (True, False):
        mine = [r for r in rows if r["journal"] == journal]
        print(f"journal={journal}: renew p50 {statistics.median(r['p50_ms'] for r in mine):.2f} ms,"
              f" p99 {statistics.median(r['p99_ms'] for r in mine):.2f} ms (medians of rounds),"
              f" log length max {max(r['max_log_len'] for r in mine)},"
              f" journal file max {max(r['max_file'] for r in mine)} bytes"
              + (f", restart {max(r['restart_s'] for r in mine):.2f} s max" if journal else ""))


if __name__ == "__main__":
    main()
