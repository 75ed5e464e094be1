"""Memory per key: the node against redis-server, and the layouts tried for
access metadata and TTLs, each measured as RSS growth for 1M keys.

    .venv/bin/python benchmarks/memory_layouts.py [--keys N] [--no-write]

Servers: a fresh redis-server and ringcache per load, 1M `SET key:%09d
<32-byte value>` (and `... EX 100000`) pipelined 1000 at a time, VmRSS
before and after (as benchmarks/compare.py), plus ringcache's own
used_memory per key (what maxmemory compares with).

Layouts: one fresh Python process per layout builds the structures for the
same keys and values directly and reports its RSS growth per key, so each
idea is measured alone, without the server around it.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402

LAYOUTS = {
    "dict + slot index (the layout before access metadata)": "base",
    "+ access cells, 2+ per key (array('I'), this node)": "cells2",
    "+ access cells, 1+ per key": "cells1",
    "+ exact metadata: dict key -> shared clock int": "metadict",
    "+ exact metadata: dict key -> own int (a 24-bit value per key)": "metadict_own",
    "TTL: expires dict of floats + expiry pool (this node)": "ttl",
    "TTL: expires dict, interned floats (one object per expiry ms)": "ttl_shared",
    "TTL: expires dict of floats, no expiry pool": "ttl_nopool",
}


def layout_child(kind: str, keys: int) -> None:
    """Runs in a fresh process: build one layout, print RSS growth per key."""
    from array import array

    from ringcache.storage.slots import SlotIndex

    def rss() -> int:
        return compare.rss_bytes(__import__("os").getpid())

    names = [b"key:%09d" % i for i in range(keys)]
    values = [b"val:%028d" % i for i in range(keys)]
    before = rss()
    data = {}
    slots = SlotIndex()
    for k, v in zip(names, values):
        data[k] = v
        slots.add(k)
    del values
    extra = None
    if kind.startswith("cells"):
        per = 2 if kind == "cells2" else 1
        size = 1 << max(14, (per * keys - 1).bit_length())
        extra = array("I", bytes(4 * size))
        for k in names:
            extra[hash(k) & (size - 1)] = 1006517
    elif kind == "metadict":
        now = 1006517
        extra = {k: now for k in names}
    elif kind == "metadict_own":
        extra = {k: 1006517 + (i & 1023) + 1000 for i, k in enumerate(names)}
    elif kind.startswith("ttl"):
        now = 1_800_000_000_000.0
        extra = {}
        pool = []
        shared: dict[float, float] = {}
        for i, k in enumerate(names):
            when = now + (i // 1000)  # a pipelined burst: ~1000 keys per ms
            if kind == "ttl_shared":
                when = shared.setdefault(when, when)
                if len(shared) > 64:
                    shared.clear()
            else:
                when = float(int(when))  # a new float per key, as the node stores it
            extra[k] = when
            if kind != "ttl_nopool":
                pool.append(k)
    del names
    after = rss()
    print((after - before) / keys)


def measure_layout(kind: str, keys: int) -> float:
    done = subprocess.run([sys.executable, __file__, "--child", kind, "--keys", str(keys)],
                          capture_output=True, text=True, check=True, cwd=compare.REPO_ROOT)
    return float(done.stdout.strip())


def measure_server(procs: compare.Processes, name: str, template: str, keys: int,
                   ttl: bool) -> dict:
    result = compare.measure_memory_once(procs, name, template, keys, ttl)
    return result


def used_per_key(procs: compare.Processes, template: str, keys: int, ttl: bool) -> float:
    """ringcache's own accounting (INFO used_memory) per key after the same load."""
    server = procs.start("ringcache", template)
    try:
        before = int(_info(server)["used_memory"])
        with compare.socket.create_connection((compare.HOST, server.port), timeout=120) as sock:
            for start in range(0, keys, compare.LOAD_BATCH):
                count = min(compare.LOAD_BATCH, keys - start)
                sock.sendall(compare.set_commands(start, count, ttl))
                compare.recv_exactly(sock, 5 * count)
        return (int(_info(server)["used_memory"]) - before) / keys
    finally:
        procs.stop(server)


def _info(server) -> dict:
    text = compare.call(server, "INFO", "memory").decode()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--child")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.child:
        layout_child(args.child, args.keys)
        return 0
    layouts = {label: measure_layout(kind, args.keys) for label, kind in LAYOUTS.items()}
    for label, value in layouts.items():
        compare.log(f"{label}: {value:.1f} B/key")
    servers: dict = {}
    with tempfile.TemporaryDirectory() as logdir:
        procs = compare.Processes(Path(logdir), pin=False)
        templates = {"redis": compare.REDIS_CMD + f" --dir {logdir}",
                     "ringcache": compare.DEFAULT_RINGCACHE_CMD + f" --dir {logdir}"}
        try:
            for ttl in (False, True):
                for name in ("redis", "ringcache"):
                    servers[(ttl, name)] = measure_server(procs, name, templates[name],
                                                          args.keys, ttl)
                    compare.log(f"{name} ttl={ttl}: {servers[(ttl, name)]}")
                servers[(ttl, "used")] = used_per_key(procs, templates["ringcache"], args.keys, ttl)
        finally:
            procs.stop_all()
    report = build_report(args, layouts, servers)
    print(report)
    if not args.no_write:
        heading = f"## {datetime.date.today().isoformat()} — memory per key, layouts"
        compare.write_results(compare.DEFAULT_RESULTS, heading, heading + "\n\n" + report)
    return 0


def build_report(args, layouts: dict, servers: dict) -> str:
    n = args.keys
    lines = [
        f"Command: `.venv/bin/python benchmarks/memory_layouts.py` (in /work/main)",
        "",
        f"- ringcache tree: {compare.git_revision()}",
        f"- servers: fresh process per load, {n:,} SETs `key:%09d` with 32-byte values "
        f"pipelined 1000 at a time, VmRSS growth per key; ringcache used_memory is INFO's "
        f"(the figure maxmemory compares with)",
        "",
        "| load | redis B/key | ringcache B/key | ratio | target | ringcache used_memory B/key |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for ttl, target in ((False, 1.3), (True, 1.4)):
        r, c = servers[(ttl, "redis")]["per_key"], servers[(ttl, "ringcache")]["per_key"]
        ratio = c / r
        lines.append(f"| {'SET EX 100000' if ttl else 'SET (no TTL)'} | {r:.1f} | {c:.1f} | "
                     f"{ratio:.2f}x | <= {target}x: {compare.verdict(ratio <= target)} | "
                     f"{servers[(ttl, 'used')]:.1f} |")
    lines += ["", f"Layouts, each built alone in a fresh Python process ({n:,} keys, RSS growth "
              "per key; the TTL rows include the first row's structures):", "",
              "| layout | B/key |", "|---|---:|"]
    lines += [f"| {label} | {value:.1f} |" for label, value in layouts.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
