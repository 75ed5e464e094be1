"""Instructions per request at -P 1 through the node's whole per-request path:
the event loop's turn, Connection.on_readable (recv, parser, execute_batch),
the end-of-turn flush (send). Counted by callgrind, so the count does not
depend on the load of a shared machine (this VM has no hardware counters for
`perf stat -e instructions:u`).

    .venv/bin/python benchmarks/p1_instructions.py [--kinds get,set] [--clients 50]

The measured program starts a real node (Server.start on the node's own loop,
new_event_loop) in process, connects CLIENTS TCP clients over loopback and
drives ROUNDS rounds (the node's cron stopped: its cost is per second, not
per request): every client sends one command (one GET or SET of a
random key of 100,000, 32-byte values; or an MSET of 10 of them, or
`mset-new`: of 10 keys that do not exist yet), then the loop runs one turn, and the
clients read the previous turn's replies (the replies of a turn leave at the
next poll, FlushingSelector). The same program without the rounds is counted
too (with WARM_ROUNDS rounds, as both runs start with), and the difference divided by the requests is printed. The clients'
own send/recv calls are in the count (the same few hundred instructions a
request before and after a change of the node); every request finds all
CLIENTS connections readable in one poll, as on a saturated node.
RINGCACHE_PURE=1 counts the pure-Python path.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import random
import shutil
import socket
from concurrent.futures import ThreadPoolExecutor
import sys
import tempfile
from pathlib import Path

from instructions import callgrind_instructions

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 400
WARM_ROUNDS = 20
POOL = 4096
POOL_NEW = (ROUNDS + WARM_ROUNDS) * 50
KEYS = 100_000


def workload(kind: str, clients: int, rounds: int) -> None:
    sys.path.insert(0, str(ROOT))
    from ringcache.server.server import Server, new_event_loop

    server = Server()
    server.config.set("port", "0", startup=True)
    server.config.set("save", "", startup=True)
    loop = new_event_loop(server)
    asyncio.set_event_loop(loop)
    loop.run_until_complete(server.start())
    # serverCron runs HZ times a second of wall clock, and under valgrind a
    # longer run takes many more seconds: its cost would be counted per request.
    assert server._cron_task is not None
    server._cron_task.cancel()
    for i in range(0 if kind == "mset-new" else KEYS):
        server.db(0).set(b"key:%012d" % i, b"x" * 32)
    socks = []
    for _ in range(clients):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(s)

    def turn() -> None:
        # One iteration of the loop, what run_forever repeats: nothing is
        # queued before its poll, as on a running node (a stop callback
        # queued first would make every reader wait in the ready queue:
        # NodeEventLoop runs them at once only when nothing was queued
        # before the poll). The timer bounds a poll with nothing to read.
        timer = loop.call_later(0.01, lambda: None)
        loop._run_once()  # type: ignore[attr-defined]
        timer.cancel()

    for _ in range(20):  # accept them all
        turn()
    # A fixed pool of requests, the same in the counted and the base run
    # (building them per request would be counted as the node's work).
    rnd = random.Random(1)
    requests = []
    # (mset-new: every key new, so none may repeat: a pool as large as the
    # default run's requests, the same in both runs.)
    for n in range(POOL_NEW if kind == "mset-new" else POOL):
        key = b"key:%012d" % rnd.randrange(KEYS)
        if kind == "get":
            requests.append(b"*2\r\n$3\r\nGET\r\n$16\r\n%s\r\n" % key)
        elif kind in ("mset", "mset-new"):
            keys = ([b"key:%012d" % rnd.randrange(KEYS) for _ in range(10)] if kind == "mset"
                    else [b"new:%012d" % (10 * n + i) for i in range(10)])
            requests.append(b"*21\r\n$4\r\nMSET\r\n" + b"".join(
                b"$%d\r\n%s\r\n$32\r\n%s\r\n" % (len(k), k, b"x" * 32) for k in keys))
        else:
            requests.append(b"*3\r\n$3\r\nSET\r\n$16\r\n%s\r\n$32\r\n%s\r\n" % (key, b"x" * 32))
    gc.collect()
    gc.disable()
    reply = 39 if kind == "get" else 5  # ($32 bulk, or +OK)
    it = itertools.cycle(requests)
    for r in range(rounds + 1):
        if r < rounds:
            for s in socks:
                s.send(next(it))
        turn()
        if r > 0:
            for s in socks:
                got = s.recv(4096)
                if len(got) != reply:  # (a short read would skew the count: say so)
                    raise SystemExit(f"unexpected reply {got!r}")
    turn()


def count(kind: str, clients: int, rounds: int) -> int:
    args = [sys.executable, __file__, "--workload", kind, "--clients", str(clients),
            "--rounds", str(rounds)]
    with tempfile.TemporaryDirectory() as cwd:  # (no dump.rdb of the tree is loaded)
        return callgrind_instructions(args, cwd)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=("get", "set", "mset", "mset-new"))
    parser.add_argument("--kinds", default="get,set")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    if args.workload:
        workload(args.workload, args.clients, args.rounds)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: apt-get install -y valgrind", file=sys.stderr)
        return 1
    for kind in args.kinds.split(","):
        # (The base runs a few rounds too: the first commands import modules.)
        with ThreadPoolExecutor(2) as pool:  # (the two runs side by side)
            base_run = pool.submit(count, kind, args.clients, WARM_ROUNDS)
            full_run = pool.submit(count, kind, args.clients, WARM_ROUNDS + args.rounds)
            base, full = base_run.result(), full_run.result()
        print(f"{kind.upper()} -P 1, {args.clients} clients: "
              f"{(full - base) // (args.rounds * args.clients):,} instructions/request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
