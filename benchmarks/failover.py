"""Failover figures (issue 15): write unavailability and acknowledged
writes lost under faults, ringcache next to a real Redis Cluster.

  .venv/bin/python benchmarks/failover.py run --backend redis --node-timeout 15000 \\
      [--scenarios kill-primary,sigstop-primary] [--trials 10] [--out FILE.jsonl]
  .venv/bin/python benchmarks/failover.py run --backend ringcache [--node-timeout 1000] ...
  .venv/bin/python benchmarks/failover.py table FILE.jsonl [FILE.jsonl ...]

`run` starts a cluster of 3 shards x (1 primary + 1 replica) -- redis-server
7 created with `redis-cli --cluster create --cluster-replicas 1`, or ringcache
nodes the way `ringcache cluster up --replicas 1` starts them -- each node in
a network namespace of its own when run as root (so that the partition
scenario can cut a node off while the clients still reach it; otherwise on
loopback, and the partition is skipped). For each scenario it runs
`--trials` trials of tests/faults/trial.py on that cluster (restoring it in
between): 4 client threads through redis-py RedisCluster, 150 ops/s each,
every write followed by `WAIT 1 100`; one JSON line per trial goes to --out
as soon as it is done.

Scenarios (tests/faults/nemesis.py): kill -9 of a primary, of a replica,
of the controller (ringcache's Raft leader; Redis has none), of a primary
and another shard's replica at once; SIGSTOP of a primary for 5 s; a
primary cut off from every other node for 1.5 node timeouts + 5 s while
the clients still reach it (namespaces); a slow disk (strace adds 100 ms to
every fsync/fdatasync of a primary for 10 s; that cluster runs with
`--appendonly yes --appendfsync always`); a rolling restart (each node in
turn SIGTERM, start again, wait until healthy; no persistence: a
cache's defaults); a planned restart (every node restarted while it is a
replica: CLUSTER FAILOVER on the replica first, the old primary restarted
once in sync, then the same for the promoted ones). A cluster that does
not heal between trials is replaced by a fresh one.

`table` prints the markdown table: per backend and scenario, write
unavailability p50 and max over the trials (the longest gap between
successful writes to the slots of the node hit; for faults that hit no
primary, to any slot), acknowledged writes lost (all / those WAIT 1 said a
replica had, summed over trials, out of how many), reads that went
backwards, the writes the node hit acknowledged after the fault began (and
how many of those were lost), and of those the ones begun more than one
node timeout after the fault began and before it ended (a ringcache
primary's lease is the node timeout x 0.95; a Redis primary that cannot
reach the majority stops taking writes after the node timeout).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import signal
import statistics
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

from faults import nemesis  # noqa: E402
from faults.backends import Backend, RedisCluster, RingcacheCluster  # noqa: E402
from faults.history import History  # noqa: E402
from faults.netns import Loopback, Namespaces, can_use_namespaces  # noqa: E402
from faults.trial import run_trial  # noqa: E402
from local import free_base  # noqa: E402

ALL = ["kill-primary", "kill-replica", "kill-controller", "kill-two", "sigstop-primary",
       "partition-primary", "slow-disk", "rolling-restart", "planned-restart"]


# the scenarios whose node hit stays alive through the fault
LIVE_VICTIM = ("sigstop-primary", "partition-primary", "slow-disk")


def make_backend(kind: str, directory: Path, node_timeout: int, shards: int,
                 replicas: int, extra: list[str]) -> Backend:
    count = shards * (1 + replicas)
    net = Namespaces(count) if can_use_namespaces() is None else Loopback(count)
    base = free_base(count)
    try:
        if kind == "redis":
            b: Backend = RedisCluster(directory, net, base, shards, replicas, node_timeout, extra)
        else:
            b = RingcacheCluster(directory, net, base, shards, replicas, node_timeout,
                                 extra=["--cluster-node-timeout", str(node_timeout), *extra])
    except Exception:
        net.close()
        raise
    try:
        b.start()
        return b
    except Exception:
        close(b)  # whatever it started goes
        raise


def close(b: Backend | None) -> None:
    if b is not None:
        b.stop()
        b.net.close()


def cmd_run(args: argparse.Namespace) -> int:
    scenarios = args.scenarios.split(",") if args.scenarios else ALL
    out = open(args.out, "a")
    label = f"{args.backend} (node timeout {args.node_timeout} ms)"
    for scenario in scenarios:
        directory = Path(tempfile.mkdtemp(prefix=f"failover-{args.backend}-"))
        backend = None
        try:
            for trial in range(args.trials):
                if backend is not None and backend.problem() is not None:
                    try:
                        backend.wait_healthy(args.heal_wait)
                    except RuntimeError as exc:  # a cluster that did not heal: a fresh one
                        print(f"{label} {scenario}: a fresh cluster for trial {trial} ({exc})",
                              flush=True)
                        close(backend)
                        backend = None
                if backend is None:
                    # the slow disk needs a disk in the write path: the AOF, fsync always
                    extra = nemesis.AOF_ALWAYS if scenario == "slow-disk" else []
                    backend = make_backend(args.backend, directory / str(trial), args.node_timeout,
                                           args.shards, args.replicas, extra)
                history = History()
                try:
                    r = run_trial(backend, scenario, trial, wait_ms=args.wait_ms,
                                  workers=args.workers, rate=args.rate, history=history)
                except nemesis.NotApplicable as exc:
                    print(f"{label} {scenario}: not applicable ({exc})", flush=True)
                    out.write(json.dumps({"backend": label, "scenario": scenario,
                                          "not_applicable": str(exc)}) + "\n")
                    out.flush()
                    break
                except Exception:  # noqa: BLE001  (a trial that broke the cluster: a fresh one)
                    traceback.print_exc()
                    out.write(json.dumps({"backend": label, "scenario": scenario, "trial": trial,
                                          "error": traceback.format_exc(limit=3)}) + "\n")
                    out.flush()
                    close(backend)
                    backend = None
                    continue
                if args.histories:
                    Path(args.histories).mkdir(parents=True, exist_ok=True)
                    history.dump(Path(args.histories) / f"{args.backend}-{scenario}-{trial}.jsonl")
                row = {**dataclasses.asdict(r), "backend": label}
                out.write(json.dumps(row) + "\n")
                out.flush()
                print(f"{label} {scenario} #{trial}: gap {r.unavailability:.2f} s, lost "
                      f"{r.lost}/{r.acked}, after WAIT {r.lost_replicated}/{r.acked_replicated}, "
                      f"backwards {r.backwards}, stale {r.stale_lost}/{r.stale_acked}, "
                      f"late {r.late_lost}/{r.late_acked}"
                      f"{'' if r.recovered else ' (writes did not resume in the window)'}"
                      f" phases {r.phases}", flush=True)
        finally:
            close(backend)
            if args.keep:
                print(f"kept {directory} (node logs)", flush=True)
            else:
                shutil.rmtree(directory, ignore_errors=True)
    return 0


def _fmt(seconds: float) -> str:
    return f"{seconds:.2f} s"


def cmd_table(args: argparse.Namespace) -> int:
    rows: dict[tuple[str, str], list[dict]] = defaultdict(list)
    notes: dict[tuple[str, str], str] = {}
    errors: dict[tuple[str, str], int] = defaultdict(int)
    for name in args.files:
        for line in Path(name).read_text().splitlines():
            row = json.loads(line)
            key = (row["backend"], row["scenario"])
            if "not_applicable" in row:
                notes[key] = row["not_applicable"]
            elif "error" in row:
                errors[key] += 1
            else:
                rows[key].append(row)
    print("| scenario | cluster | trials | write unavailability p50 / max | acked writes lost: "
          "plain / after WAIT 1 | backwards reads | acked by the node hit after the fault "
          "(lost) | of those, begun after the node timeout (lost) |")
    print("|---|---|---|---|---|---|---|---|")
    # grouped by scenario, the clusters side by side
    for key in sorted(set(rows) | set(notes), key=lambda k: (ALL.index(k[1]), k[0])):
        backend, scenario = key
        if key in notes and not rows[key]:
            print(f"| {scenario} | {backend} | - | n/a: {notes[key]} | | | | |")
            continue
        rs = rows[key]
        gaps = [r["unavailability"] for r in rs]
        unrecovered = sum(1 for r in rs if not r["recovered"])
        lost = sum(r["lost"] for r in rs)
        acked = sum(r["acked"] for r in rs)
        lost_w = sum(r["lost_replicated"] for r in rs)
        acked_w = sum(r["acked_replicated"] for r in rs)
        trials = f"{len(rs)}" + (f" (+{errors[key]} failed)" if errors[key] else "")
        gap = f"{_fmt(statistics.median(gaps))} / {_fmt(max(gaps))}"
        if unrecovered:
            gap += f" ({unrecovered} did not recover in the window)"
        # what the node hit acknowledged means something only where it lives on
        stale = late = "-"
        if scenario in LIVE_VICTIM:
            stale = f"{sum(r['stale_acked'] for r in rs)} ({sum(r['stale_lost'] for r in rs)})"
            late = f"{sum(r['late_acked'] for r in rs)} ({sum(r['late_lost'] for r in rs)})"
        print(f"| {scenario} | {backend} | {trials} | {gap} | {lost} of {acked} / {lost_w} of "
              f"{acked_w} | {sum(r['backwards'] for r in rs)} | {stale} | {late} |")
    return 0


def _phase_row(ph: dict[str, float]) -> list[float | None]:
    """The intervals of one failover (s): kill -> last heartbeat's stamp is
    negative time already spent; then detection, commit, learning the map,
    the first lease, the client."""
    def span(a: str, b: str) -> float | None:
        return ph[b] - ph[a] if a in ph and b in ph else None
    return [span("last_ok", "first_ok"), -ph["beat"] if "beat" in ph else None,
            span("beat", "heard"), span("heard", "decided"), span("decided", "committed"),
            span("committed", "applied"), span("applied", "lease"), span("lease", "first_ok"),
            ph.get("clusterdown")]


PHASE_COLUMNS = ["gap (last ok -> first ok write)", "kill - last heartbeat stored",
                 "silence not counted (election)", "silence counted (lease wait + check)",
                 "promotion stored (Raft)", "promoted node applies the map",
                 "its first lease", "client's first ok write", "CLUSTERDOWN replies"]


def cmd_phases(args: argparse.Namespace) -> int:
    """Per trial, where the write unavailability went (tests/faults/timeline.py)."""
    rows = []
    for name in args.files:
        for line in Path(name).read_text().splitlines():
            row = json.loads(line)
            if row.get("phases") and "beat" in row["phases"]:
                rows.append(row)
    print("| scenario | trial | " + " | ".join(PHASE_COLUMNS) + " |")
    print("|---|---|" + "---|" * len(PHASE_COLUMNS))
    scenarios = sorted({r["scenario"] for r in rows}, key=ALL.index)
    for scenario in scenarios:
        cols: list[list[float]] = [[] for _ in PHASE_COLUMNS]
        for row in (r for r in rows if r["scenario"] == scenario):
            values = _phase_row(row["phases"])
            for c, v in zip(cols, values):
                if v is not None:
                    c.append(v)
            cells = ["-" if v is None else (f"{v:.0f}" if i == len(values) - 1 else f"{v:.3f}")
                     for i, v in enumerate(values)]
            print(f"| {scenario} | {row['trial']} | " + " | ".join(cells) + " |")
        for name, fn in (("median", statistics.median), ("max", max)):
            cells = [f"{fn(c):.3f}" if c else "-" for c in cols]
            print(f"| {scenario} | {name} | " + " | ".join(cells) + " |")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--backend", choices=["redis", "ringcache"], required=True)
    r.add_argument("--node-timeout", type=int, default=None,
                   help="cluster-node-timeout in ms (default: redis 15000, ringcache 1000)")
    r.add_argument("--scenarios", default="", help=f"comma-separated, of {','.join(ALL)}")
    r.add_argument("--trials", type=int, default=10)
    r.add_argument("--shards", type=int, default=3)
    r.add_argument("--replicas", type=int, default=1)
    r.add_argument("--workers", type=int, default=4)
    r.add_argument("--rate", type=float, default=150.0, help="ops/s per worker")
    r.add_argument("--wait-ms", type=int, default=100, help="WAIT 1 <ms> after each write (-1: none)")
    r.add_argument("--heal-wait", type=float, default=10.0,
                   help="seconds a cluster may take to heal between trials before a fresh one")
    r.add_argument("--keep", action="store_true", help="keep the nodes' directories (logs)")
    r.add_argument("--histories", default="", help="dump each trial's history (JSON lines) here")
    r.add_argument("--out", default=f"failover-{time.strftime('%Y%m%d-%H%M%S')}.jsonl")
    t = sub.add_parser("table")
    t.add_argument("files", nargs="+")
    ph = sub.add_parser("phases", help="per trial, where the unavailability went")
    ph.add_argument("files", nargs="+")
    args = p.parse_args()
    if args.cmd == "run":
        # SIGTERM unwinds like Ctrl-C, so that every cluster and namespace is removed
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
        if args.node_timeout is None:
            args.node_timeout = 15000 if args.backend == "redis" else 1000
        if args.wait_ms < 0:
            args.wait_ms = None
        return cmd_run(args)
    return cmd_phases(args) if args.cmd == "phases" else cmd_table(args)


if __name__ == "__main__":
    sys.exit(main())
