"""`ringcache cluster ...`: start, stop, inspect and reshape a cluster.

Theory of operation
-------------------
The tool is a client of the control plane like any node that is not a
voter: it reads the map with `CLUSTER MAP` and changes it with pure
transitions stored by `CLUSTER SETMAP` (compare-and-set) through any node
(controlplane/remote.py). It never moves data itself: a migration it puts in
the map is carried out by the source shard's primary (cluster/migration.py),
which flips the slots when done; the tool watches the map until then.

`up` starts a local cluster: nodes on consecutive ports from --port, each in
its own directory under --dir (default ./ringcache-cluster-PORT), Raft among
the first 3 (5 from 5 nodes on), the others joining through them; once every
node is in the map it assigns the ring's slot map (nothing to move: the
cluster is empty) and waits until every node serves it. What it started is
kept in DIR/cluster.json, which `down`, `status`, `add-node` read. `stop`
stops every node and keeps their directories and cluster.json; `start`
starts them again on the same ports (the map comes back from the voters'
Raft journals, keys from each node's AOF or snapshot if it keeps one).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import redis

from ..storage.slots import SLOTS
from .topology import ClusterMap, MapError, PlannedMove
from . import ring

STATE_FILE = "cluster.json"


class AdminError(Exception):
    pass


# -- talking to the cluster ------------------------------------------------------


def client(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> redis.Redis:
    return redis.Redis(host=host, port=port, socket_timeout=timeout,
                       socket_connect_timeout=timeout, protocol=2)


def read_map(c: redis.Redis) -> ClusterMap:
    return ClusterMap.from_json(c.execute_command("CLUSTER", "MAP"))


def update_map(c: redis.Redis, change: Callable[[ClusterMap], ClusterMap],
               attempts: int = 20, unavailable_s: float = 15.0) -> ClusterMap:
    """Read, transition, compare-and-set through node c; retry on a lost race,
    and for up to unavailable_s while the control plane cannot decide (a
    Raft election after a voter stopped: CLUSTERDOWN from SETMAP)."""
    deadline = time.monotonic() + unavailable_s
    lost = 0
    undecided: str | None = None  # the map of a SETMAP answered "not decided"
    while lost < attempts:
        before = read_map(c)
        if undecided is not None and before.to_json() == undecided:
            return before  # it landed after all (the change may not apply twice)
        after = change(before)
        if after.epoch <= before.epoch:
            return before
        try:
            if c.execute_command("CLUSTER", "SETMAP", before.epoch, after.to_json()):
                return after
        except redis.exceptions.ClusterDownError:
            if time.monotonic() > deadline:
                raise
            undecided = after.to_json()
            continue  # not decided (it may still land: re-read first)
        except redis.ResponseError as exc:
            if not str(exc).startswith("CLUSTERDOWN") or time.monotonic() > deadline:
                raise
            undecided = after.to_json()
            continue
        lost += 1
        time.sleep(0.05)
    raise AdminError("the cluster map kept changing; try again")


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (redis.RedisError, OSError, MapError):
            pass
        time.sleep(0.1)
    raise AdminError(f"timed out after {timeout:.0f} s waiting for {what}")


def serving_everywhere(ports: list[int], epoch: int | None = None) -> bool:
    """Every node says cluster_state:ok (and has applied epoch, if given)."""
    for port in ports:
        info = client(port, timeout=2).execute_command("CLUSTER", "INFO")
        text = info.decode() if isinstance(info, bytes) else str(info)
        if "cluster_state:ok" not in text:
            return False
        if epoch is not None:
            current = int(text.split("cluster_current_epoch:")[1].split()[0])
            if current < epoch:
                return False
    return True


def replicas_synced(ports: list[int]) -> bool:
    """Every node the map calls a replica has its link to its primary up."""
    cmap = read_map(client(ports[0], timeout=2))
    for shard in cmap.shards:
        for replica in shard.replicas:
            member = cmap.member(replica)
            assert member is not None
            info = client(member.port, member.host, timeout=2).info("replication")
            if info.get("master_link_status") != "up":
                return False
    return True


# -- local clusters ----------------------------------------------------------------


def _state_path(directory: Path) -> Path:
    return directory / STATE_FILE


def load_state(directory: Path) -> dict:
    try:
        return json.loads(_state_path(directory).read_text())
    except OSError:
        raise AdminError(f"no cluster started from {directory} ({STATE_FILE} not found)") from None


def save_state(directory: Path, state: dict) -> None:
    _state_path(directory).write_text(json.dumps(state, indent=1) + "\n")


def voters_for(ports: list[int]) -> list[int]:
    return ports[:5] if len(ports) >= 5 else ports[:3]


def start_node(directory: Path, port: int, state: dict, extra: list[str],
               replica_of: str = "") -> int:
    """Start one node in directory/PORT; returns its pid. replica_of: ""
    joins as the primary of a new shard, "auto" or a shard / primary id as
    a replica (cluster-replica-of)."""
    node_dir = directory / str(port)
    node_dir.mkdir(parents=True, exist_ok=True)
    node_id(directory, port)
    voters = state["voters"]
    args = [sys.executable, "-m", "ringcache", "server", "--port", str(port),
            "--cluster-enabled", "yes", "--cluster-port", str(port + 10000),
            "--cluster-vnodes", str(state["vnodes"]), "--save", "", "--dir", str(node_dir),
            "--logfile", str(node_dir / "node.log")]
    # With tls-cluster (in the extra node options) each node also listens
    # for TLS on tls_port_for(port), and nodes join through those ports.
    tls = _tls_cluster(extra)
    if tls:
        args += ["--tls-port", str(tls_port_for(port))]
    if port in voters:
        args += ["--cluster-voters", ",".join(f"127.0.0.1:{p + 10000}" for p in voters),
                 "--cluster-password", state["password"]]
    else:
        args += ["--cluster-join", ",".join(f"127.0.0.1:{tls_port_for(p) if tls else p}"
                                            for p in voters)]
    if replica_of:
        args += ["--cluster-replica-of", replica_of]
    args += extra
    proc = subprocess.Popen(args, cwd=node_dir, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=open(node_dir / "stderr.log", "wb"),
                            start_new_session=True)
    return proc.pid


def tls_port_for(port: int) -> int:
    """A local node's TLS port: port + 20000 while that stays below 32768,
    else port - 10000 (so below 32768 too: the usual first ephemeral port,
    which outgoing connections could otherwise hold; the Raft port is
    port + 10000)."""
    return port + 20000 if port + 20000 < 32768 else port - 10000


def port_free(port: int) -> bool:
    """Whether port can be bound on 127.0.0.1 now."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _tls_cluster(extra: list[str]) -> bool:
    """Whether the node options turn tls-cluster on (the last one counts)."""
    value = "no"
    for i, arg in enumerate(extra[:-1]):
        if arg == "--tls-cluster":
            value = extra[i + 1].lower()
    return value == "yes"


def node_id(directory: Path, port: int) -> str:
    """The id of the node kept in directory/PORT, made now if it has none
    (the node reads it from its cluster-config-file at start: knowing ids
    in advance lets `up` name each replica's primary before it joined)."""
    path = directory / str(port) / "nodes.conf"
    try:
        return str(json.loads(path.read_text())["id"])
    except (OSError, ValueError, KeyError, TypeError):
        from .topology import new_id

        made = new_id()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"id": made, "epoch": 0}) + "\n")
        return made


def cluster_up(shards: int, replicas: int, port: int, directory: Path, vnodes: int,
               extra: list[str], timeout: float = 60.0, out: Any = sys.stdout) -> dict:
    if shards < 1:
        raise AdminError("--shards must be at least 1")
    if replicas < 0:
        raise AdminError("--replicas must be 0 or more")
    ring.check_vnodes(vnodes)
    directory.mkdir(parents=True, exist_ok=True)
    if _state_path(directory).exists():
        raise AdminError(f"{directory} already holds a cluster: `ringcache cluster down` first")
    # Primaries first (the first 3 or 5 nodes are the Raft voters), then the
    # replicas, the k-th of the primary k mod shards (named by its id, made
    # in advance: a replica waits until that primary's shard exists).
    primaries = list(range(port, port + shards))
    ports = list(range(port, port + shards * (1 + replicas)))
    state: dict[str, Any] = {"ports": ports, "voters": voters_for(ports), "password": secrets.token_hex(16),
             "vnodes": vnodes, "pids": {}, "extra": extra}
    # Replicas that are voters start with the primaries (Raft needs its
    # majority to store anything); they join once a shard exists.
    early = [p for p in ports[shards:] if p in state["voters"]]
    primary_of = {p: node_id(directory, primaries[k % shards])
                  for k, p in enumerate(ports[shards:])}
    for p in primaries + early:
        state["pids"][str(p)] = start_node(directory, p, state, extra,
                                           replica_of=primary_of.get(p, ""))
    save_state(directory, state)
    first = client(ports[0])
    wait_for(lambda: len(read_map(first).shards) == shards, timeout,
             f"{shards} nodes to join")
    cmap = update_map(first, _assign_ring_if_new)
    for p in early:  # started with the primaries; they join once their shard exists
        wait_for(_member_at(first, p), timeout, f"the replica on port {p} to join")
    for p in ports[shards:]:
        if p in early:
            continue
        state["pids"][str(p)] = start_node(directory, p, state, extra, replica_of=primary_of[p])
        save_state(directory, state)
        wait_for(_member_at(first, p), timeout, f"the replica on port {p} to join")
    cmap = read_map(first)
    wait_for(lambda: serving_everywhere(ports, cmap.epoch), timeout,
             "every node to serve the slot map")
    if replicas:
        wait_for(lambda: replicas_synced(ports), timeout, "every replica to sync")
    layout = f"{shards} shards" + (f" x {1 + replicas} nodes" if replicas else "")
    print(f"ringcache cluster up: {layout} on ports {ports[0]}-{ports[-1]}, "
          f"all {SLOTS} slots served (map epoch {cmap.epoch})", file=out)
    print(f"  connect:  redis-cli -c -p {ports[0]}", file=out)
    print(f"  python:   redis.RedisCluster(host='127.0.0.1', port={ports[0]})", file=out)
    print(f"  stop:     ringcache cluster down --dir {directory}", file=out)
    return state


def _member_at(c: redis.Redis, port: int) -> Callable[[], bool]:
    return lambda: any(m.port == port for m in read_map(c).members)


def _assign_ring_if_new(cmap: ClusterMap) -> ClusterMap:
    return cmap if cmap.assigned_slots() else cmap.with_ring_slots()


def cluster_down(directory: Path, timeout: float = 15.0, out: Any = sys.stdout) -> None:
    state = load_state(directory)
    pids = [int(pid) for pid in state["pids"].values()]
    _stop_pids(pids, timeout)
    _state_path(directory).unlink()
    print(f"ringcache cluster down: stopped {len(pids)} nodes", file=out)


def cluster_stop(directory: Path, timeout: float = 15.0, out: Any = sys.stdout) -> None:
    """Stop every node (SIGTERM, then SIGKILL past timeout) and keep what
    they hold: their directories and DIR/cluster.json, for `start`."""
    state = load_state(directory)
    pids = [int(pid) for pid in state["pids"].values()]
    _stop_pids(pids, timeout)
    state["pids"] = {}
    save_state(directory, state)
    print(f"ringcache cluster stop: stopped {len(pids)} nodes (start them again with "
          f"`ringcache cluster start --dir {directory}`)", file=out)


def cluster_start(directory: Path, timeout: float = 60.0, out: Any = sys.stdout) -> dict:
    """Start again every node of a stopped (or crashed) cluster, with the
    same directories and ports: each comes back as the member it was (its
    id and epochs in cluster-config-file, the voters' map in their Raft
    journals, keys from its AOF or snapshot), and waits until every node
    serves the map again."""
    state = load_state(directory)
    alive = [pid for pid in (int(p) for p in state["pids"].values()) if _alive(pid)]
    if alive:
        raise AdminError(f"{len(alive)} nodes of {directory} are still running: "
                         "`ringcache cluster stop` first")
    state["pids"] = {}
    for port in state["ports"]:
        state["pids"][str(port)] = start_node(directory, port, state, state.get("extra", []))
    save_state(directory, state)
    ports = state["ports"]
    first = client(ports[0])
    wait_for(lambda: serving_everywhere(ports, read_map(first).epoch), timeout,
             "every node to serve the slot map again")
    if any(shard.replicas for shard in read_map(first).shards):
        wait_for(lambda: replicas_synced(ports), timeout, "every replica to sync")
    cmap = read_map(first)
    print(f"ringcache cluster start: {len(ports)} nodes on ports {ports[0]}-{ports[-1]}, "
          f"all {SLOTS} slots served (map epoch {cmap.epoch})", file=out)
    return state


def _stop_pids(pids: list[int], timeout: float) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        # Reap it if it is our child (a test's own process); else just probe.
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def cluster_status(port: int, out: Any = sys.stdout) -> ClusterMap:
    c = client(port)
    cmap = read_map(c)
    counts = cmap.slot_counts()
    print(f"map epoch {cmap.epoch}, {len(cmap.members)} nodes, {len(cmap.shards)} shards, "
          f"{cmap.assigned_slots()}/{SLOTS} slots assigned, vnodes {cmap.vnodes}", file=out)
    for shard in sorted(cmap.shards, key=lambda s: s.id):
        primary = cmap.member(shard.primary)
        assert primary is not None
        keys = memory = "?"
        try:
            node = client(primary.port, primary.host, timeout=2)
            keys = str(node.dbsize())
            memory = node.info("memory").get("used_memory_human", "?")
        except (redis.RedisError, OSError):
            pass
        ranges = cmap.shard_ranges(shard.id)
        print(f"shard {shard.id[:8]}  primary {primary.host}:{primary.port}  "
              f"replicas {len(shard.replicas)}  slots {counts[shard.id]} in {len(ranges)} ranges"
              f"  keys {keys}  memory {memory}  epoch {shard.epoch}", file=out)
        for replica_id in shard.replicas:
            replica = cmap.member(replica_id)
            assert replica is not None
            link, offset = "?", "?"
            try:
                info = client(replica.port, replica.host, timeout=2).info("replication")
                link = info.get("master_link_status", "?")
                offset = str(info.get("slave_repl_offset", "?"))
            except (redis.RedisError, OSError):
                link = "unreachable"
            print(f"  replica {replica.host}:{replica.port}  link {link}  offset {offset}",
                  file=out)
    for mig in cmap.migrations:
        print(f"migration {mig.id}: {mig.slot_count()} slots {mig.source[:8]} -> "
              f"{mig.target[:8]} in progress", file=out)
    return cmap


# -- reshaping: add-node, remove-node, rebalance ------------------------------------


MOVE_ATTEMPTS = 5


def run_moves(c: redis.Redis, moves: list[PlannedMove], timeout: float,
              out: Any = sys.stdout) -> None:
    """Start each move as a migration (one per source shard at a time: a
    source streams one batch after another) and wait for the sources to
    flip them, with a progress line. A migration that leaves the map without
    its slots reaching the target failed (the source keeps them: e.g. the
    target was not yet allowed to write): it is started again, up to
    MOVE_ATTEMPTS times, then reported."""
    pending = list(moves)
    attempts = {id(move): 0 for move in moves}
    total = sum(end - start + 1 for m in moves for start, end in m.slots)
    done = 0
    started = time.monotonic()
    running: dict[int, PlannedMove] = {}  # migration id -> its move
    deadline = time.monotonic() + timeout
    while pending or running:
        cmap = read_map(c)
        for mig_id, move in list(running.items()):
            if cmap.migration(mig_id) is not None:
                continue
            del running[mig_id]
            owner = cmap.owner(move.slots[0][0])
            if owner is not None and owner.id == move.target:
                done += sum(end - start + 1 for start, end in move.slots)
            elif attempts[id(move)] < MOVE_ATTEMPTS:
                print(f"\n  migration {mig_id} failed (the source keeps its slots); "
                      "starting it again", file=out)
                pending.append(move)
            else:
                print(file=out)
                raise AdminError(f"moving {sum(e - s + 1 for s, e in move.slots)} slots from shard "
                                 f"{move.source[:8]} to {move.target[:8]} failed "
                                 f"{MOVE_ATTEMPTS} times (see the source's log)")
        busy = {m.source for m in cmap.migrations} | {m.target for m in cmap.migrations}
        for move in list(pending):
            if move.source in busy or move.target in busy:
                continue
            ranges = list(move.slots)

            def start(m: ClusterMap, move: PlannedMove = move,
                      ranges: list = ranges) -> ClusterMap:
                return m.start_migration(move.source, move.target, ranges)[0]

            after = update_map(c, start)
            mig = after.migrations[-1] if after.migrations else None
            if mig is not None:
                running[mig.id] = move
                attempts[id(move)] += 1
            pending.remove(move)
            busy |= {move.source, move.target}
        elapsed = time.monotonic() - started
        eta = (elapsed / done * (total - done)) if done else 0.0
        print(f"\r  slots moved {done}/{total}  elapsed {elapsed:.1f}s  eta {eta:.1f}s ",
              end="", file=out, flush=True)
        if time.monotonic() > deadline:
            print(file=out)
            raise AdminError(f"migrations still running after {timeout:.0f} s")
        time.sleep(0.1)
    print(file=out)


def rebalance(port: int, vnodes: int | None = None, timeout: float = 600.0,
              out: Any = sys.stdout) -> ClusterMap:
    c = client(port)
    if vnodes is not None:
        update_map(c, lambda m: m.with_vnodes(vnodes) if m.vnodes != vnodes else m)
    moves = read_map(c).plan_rebalance()
    if not moves:
        print("balanced: no slot moves", file=out)
    else:
        print(f"rebalancing: {len(moves)} moves", file=out)
        run_moves(c, moves, timeout, out)
    return read_map(c)


def plan_without(cmap: ClusterMap, leaving: str) -> list[PlannedMove]:
    """Moves that drain shard `leaving`: its slots go where the ring of the
    other shards puts them."""
    others = [s.id for s in cmap.shards if s.id != leaving]
    if not others:
        raise AdminError("cannot remove the last shard")
    proposed = ring.assign(others, cmap.vnodes)
    pairs: dict[str, list[int]] = {}
    for start, end in cmap.shard_ranges(leaving):
        for slot in range(start, end + 1):
            pairs.setdefault(proposed.owner(slot), []).append(slot)
    from .topology import _slot_ranges

    return [PlannedMove(leaving, target, tuple(_slot_ranges(slots)))
            for target, slots in sorted(pairs.items())]


def remove_node(port: int, node_id: str, timeout: float = 600.0, out: Any = sys.stdout,
                force: bool = False) -> None:
    c = client(port)
    cmap = read_map(c)
    member = cmap.member(node_id)
    if member is None:
        raise AdminError(f"unknown node {node_id}")
    shard = cmap.shard_of(node_id)
    if shard is not None and shard.primary == node_id and cmap.slot_counts()[shard.id]:
        moves = plan_without(cmap, shard.id)
        print(f"draining shard {shard.id[:8]}: {len(moves)} moves", file=out)
        run_moves(c, moves, timeout, out)
    update_map(c, lambda m: m.remove_member(node_id, force=force))
    print(f"node {node_id} left the cluster", file=out)


def add_node(directory: Path, rebalance_after: bool = True, timeout: float = 600.0,
             out: Any = sys.stdout, replica_of: str = "") -> int:
    """Start one more node after the last port and wait for it to join: as
    the primary of a new shard, then rebalance; or, with replica_of ("auto",
    a shard id or a primary's id), as a replica, then wait for its sync."""
    state = load_state(directory)
    port = max(state["ports"]) + 1
    while not (port_free(port) and port_free(port + 10000)
               and (not _tls_cluster(state.get("extra", [])) or port_free(tls_port_for(port)))):
        port += 1  # taken by another program since `up`: the next one
    if replica_of:
        read_map(client(state["ports"][0])).shard_for_replica(replica_of)  # (refused early)
    state["pids"][str(port)] = start_node(directory, port, state, state.get("extra", []),
                                          replica_of=replica_of)
    state["ports"].append(port)
    save_state(directory, state)
    c = client(state["ports"][0])
    wait_for(_member_at(c, port), 30, f"node {port} to join")
    if replica_of:
        cmap = read_map(c)
        node_id = next(m.id for m in cmap.members if m.port == port)
        shard = cmap.shard_of(node_id)
        assert shard is not None
        print(f"node on port {port} joined as a replica of shard {shard.id[:8]}", file=out)
        wait_for(lambda: client(port, timeout=2).info("replication").get(
            "master_link_status") == "up", timeout, f"node {port} to sync")
        return port
    print(f"node on port {port} joined", file=out)
    if rebalance_after:
        rebalance(state["ports"][0], timeout=timeout, out=out)
    return port


# -- the command line -------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ringcache cluster")
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("up", help="start a local cluster and wait until it serves every slot")
    up.add_argument("--shards", type=int, default=3)
    up.add_argument("--replicas", type=int, default=0)
    up.add_argument("--port", type=int, default=7000)
    up.add_argument("--dir", type=Path)
    up.add_argument("--vnodes", type=int, default=ring.VNODES_DEFAULT)
    up.add_argument("--timeout", type=float, default=60.0)
    for name in ("down", "add-node", "stop", "start"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, default=7000)
        p.add_argument("--dir", type=Path)
        if name == "add-node":
            p.add_argument("--replica-of", default="", metavar="auto|SHARD-ID|PRIMARY-ID",
                           help="join as a replica (auto: the shard with the fewest replicas)")
    for name in ("status", "rebalance", "remove-node"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, default=7000, help="any node of the cluster")
        if name == "rebalance":
            p.add_argument("--vnodes", type=int)
        if name == "remove-node":
            p.add_argument("node_id")
            p.add_argument("--force", action="store_true",
                           help="remove even the last replica of a shard")
    args, extra = parser.parse_known_args(argv)
    directory = getattr(args, "dir", None) or Path(f"ringcache-cluster-{args.port}")
    try:
        if args.action == "up":
            cluster_up(args.shards, args.replicas, args.port, directory.resolve(), args.vnodes,
                       extra, args.timeout)
        elif args.action == "down":
            cluster_down(directory)
        elif args.action == "stop":
            cluster_stop(directory.resolve())
        elif args.action == "start":
            cluster_start(directory.resolve())
        elif args.action == "status":
            cluster_status(args.port)
        elif args.action == "rebalance":
            rebalance(args.port, args.vnodes)
        elif args.action == "add-node":
            add_node(directory.resolve(), replica_of=args.replica_of)
        elif args.action == "remove-node":
            remove_node(args.port, args.node_id, force=args.force)
    except (AdminError, MapError, ValueError) as exc:
        print(f"ringcache cluster {args.action}: {exc}", file=sys.stderr)
        return 1
    except (redis.RedisError, OSError) as exc:
        print(f"ringcache cluster {args.action}: cannot reach the cluster: {exc}", file=sys.stderr)
        return 1
    return 0
