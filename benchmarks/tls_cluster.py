"""What tls-cluster costs on cluster links: the same slot migration with
plain and with TLS node-to-node links, rounds interleaved.

Each round starts a 2-shard local cluster (plain, or `--tls-cluster yes`
with a throwaway CA and client certificates required), loads KEYS keys of
VALUE bytes, starts a third node (not timed), then times
`admin.rebalance` (one third of the slots, and of the keys, migrate to the
new shard over the node-to-node link) and the forwarded PUBLISH of MESSAGES
messages (published on node 1, counted on a subscriber of node 2).

    .venv/bin/python benchmarks/tls_cluster.py --rounds 3 --keys 200000
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

from local import free_base  # noqa: E402
from ringcache.cluster import admin  # noqa: E402
from ringcache.storage.slots import key_slot  # noqa: E402
from tests.tlscerts import make_ca, make_cert  # noqa: E402


def tls_extra(certs: Path) -> list[str]:
    return ["--tls-cert-file", str(certs / "node.crt"), "--tls-key-file", str(certs / "node.key"),
            "--tls-ca-cert-file", str(certs / "ca.crt"), "--tls-auth-clients", "yes",
            "--tls-cluster", "yes"]


def one_round(work: Path, extra: list[str], keys: int, value: int, messages: int) -> tuple:
    state_dir = Path(tempfile.mkdtemp(dir=work))
    base = free_base(3)
    admin.cluster_up(2, 0, base, state_dir, 128, extra, out=io.StringIO())
    try:
        clients = {p: admin.client(p) for p in (base, base + 1)}
        cmap = admin.read_map(clients[base])
        payload = b"x" * value
        pipes = {p: c.pipeline(transaction=False) for p, c in clients.items()}
        for i in range(keys):  # each key to its owner (plain client ports)
            key = b"k:%d" % i
            owner = cmap.owner(key_slot(key))
            assert owner is not None
            pipes[cmap.member(owner.primary).port].set(key, payload)
            if i % 1000 == 999:
                for p in pipes.values():
                    p.execute()
        for p in pipes.values():
            p.execute()
        admin.add_node(state_dir, rebalance_after=False, timeout=120, out=io.StringIO())
        started = time.monotonic()
        admin.rebalance(base, timeout=600, out=io.StringIO())
        migration = time.monotonic() - started
        sub = admin.client(base + 1).pubsub()
        sub.subscribe("bench")
        sub.get_message(timeout=5)
        publisher = clients[base].pipeline(transaction=False)
        started = time.monotonic()
        for _ in range(messages):
            publisher.publish("bench", b"m" * 64)
        publisher.execute()
        got = 0
        while got < messages:
            message = sub.get_message(timeout=10)
            if message is None:
                break
            got += 1
        publish = time.monotonic() - started
        sub.close()
        moved = 0.0  # the migrations' own time (snapshot + catch-up + flip), from the logs
        for port in admin.load_state(state_dir)["ports"]:
            text = (state_dir / str(port) / "node.log").read_text(errors="replace")
            moved += sum(float(x) for x in re.findall(r"Migration \d+ done: .* in ([\d.]+) s", text))
        return migration, publish, got, moved
    finally:
        admin.cluster_down(state_dir, out=io.StringIO())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keys", type=int, default=200000)
    parser.add_argument("--value", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rc-tls-cluster-"))
    certs = work / "certs"
    certs.mkdir()
    make_ca(certs, "ca")
    make_cert(certs, "node", "ca")
    results: dict[str, list[tuple]] = {"plain": [], "tls": []}
    for r in range(args.rounds):
        for mode in (("plain", "tls") if r % 2 == 0 else ("tls", "plain")):
            extra = tls_extra(certs) if mode == "tls" else []
            result = one_round(work, extra, args.keys, args.value, args.messages)
            results[mode].append(result)
            print(f"round {r} {mode}: rebalance {result[0]:.2f} s (migrations {result[3]:.2f} s), "
                  f"{args.messages} PUBLISH "
                  f"forwarded in {result[1]:.2f} s ({result[2]} delivered)", flush=True)
    for mode, rows in results.items():
        print(f"{mode}: rebalance median {statistics.median(r[0] for r in rows):.2f} s, "
              f"migrations median {statistics.median(r[3] for r in rows):.2f} s, "
              f"publish median {statistics.median(r[1] for r in rows):.2f} s")
    ratio = [t[3] / p[3] for p, t in zip(results["plain"], results["tls"])]
    print(f"migrations TLS/plain per round: {', '.join(f'{x:.2f}' for x in ratio)}; "
          f"median {statistics.median(ratio):.2f}")
    ratio = [t[0] / p[0] for p, t in zip(results["plain"], results["tls"])]
    print(f"rebalance TLS/plain per round: {', '.join(f'{x:.2f}' for x in ratio)}; "
          f"median {statistics.median(ratio):.2f}")
    ratio = [t[1] / p[1] for p, t in zip(results["plain"], results["tls"])]
    print(f"publish TLS/plain per round: {', '.join(f'{x:.2f}' for x in ratio)}; "
          f"median {statistics.median(ratio):.2f}")


if __name__ == "__main__":
    main()
