"""The dispatcher's inlined fast path cannot drift from the general path.

`Dispatcher.execute_batch` inlines the plain case (a known command, right
arity, no subcommand, an ungated session), GET inlines Keyspace.lookup_read
and SET Keyspace.set for an existing string. Two identical in-process nodes
run the same random command sequences: one through execute_batch (the
inlined branch: the test checks it never fell back to the general path),
the other one command at a time through execute() (lookup, checks, call())
with GET and SET as their reference forms (the Keyspace methods the
handlers inline). After every batch the whole state
must be equal: replies, values, expiry, access metadata (LRU cells, and LFU
counters with the same random source), memory accounting, the change
counters, keyspace hits/misses/expired, per-command statistics, WATCH
(a watching session's dirty_cas), client-tracking invalidations, and what
reached the write stream.
"""

from __future__ import annotations

import random

import pytest

from ringcache.commands import load_all
from ringcache.protocol.errors import WrongTypeError
from ringcache.commands.registry import COMMANDS
from ringcache.server.dispatch import Dispatcher
from ringcache.server.server import Server
from ringcache.server.session import Session
from ringcache.protocol.resp import OK
from ringcache.pubsub.notifications import NOTIFY_STRING, notify
from ringcache.storage.clock import ManualClock
from ringcache.storage import slots
from ringcache.storage.zset import ZSet

load_all()  # (the command table, before the reference handlers below read it)
START_MS = 1_700_000_000_000.0
KEYS = [b"k%d" % i for i in range(8)] + [b"list"]


class Capture:
    """A write-stream sink that keeps every unit."""

    def __init__(self) -> None:
        self.units: list = []

    def on_write(self, db: int, unit: list) -> None:
        self.units.append((db, [list(argv) for argv in unit]))


class Node:
    def __init__(self, lfu: bool, seed: int) -> None:
        load_all()
        self.clock = ManualClock(START_MS)
        self.server = Server(clock=self.clock)
        self.server.access_policy.random = random.Random(seed).random  # LFU's increments
        if lfu:
            self.server.config.set("maxmemory-policy", "allkeys-lfu")
        self.sink = Capture()
        self.server.write_stream.add_sink(self.sink)
        self.session = self._session(1)
        self.tracker = self._session(2)
        # One watching session per key: which WATCHes a batch failed.
        self.watchers = {key: self._session(10 + i) for i, key in enumerate(KEYS)}
        self.pushed: list[bytes] = []
        self.tracker.set_protocol(3)
        self.tracker.push = self.pushed.append
        self.run(self.tracker, [b"CLIENT", b"TRACKING", b"ON"])
        assert self.server.dispatcher.tracking_active

    def _session(self, client_id: int) -> Session:
        session = Session(self.server, client_id, f"127.0.0.1:{client_id}", "127.0.0.1:6379")
        self.server.accept_client(session)
        return session

    def run(self, session: Session, argv: list) -> bytes:
        """The general path, the reply encoded as execute_batch encodes it."""
        reply = self.server.dispatcher.execute(session, argv)
        out: list = []
        session.encode(out, reply)
        return b"".join(out)


def reference_get(session, argv):
    """GET without its inlined Keyspace.lookup_read."""
    value = session.db.lookup_read(argv[1])
    if value is None or value.__class__ is bytes:
        return value
    raise WrongTypeError


def reference_set(session, argv, real=COMMANDS[b"set"].handler):
    """SET key value without its inlined Keyspace.set."""
    if len(argv) != 3:
        return real(session, argv)
    db = session.db
    db.set(argv[1], argv[2])
    if db.notify_flags:
        notify(session.server, db.index, NOTIFY_STRING, b"set", argv[1])
    return OK


def run_reference(node: Node, argv: list) -> bytes:
    """One command on the general path, GET and SET in their reference forms."""
    get, set_ = COMMANDS[b"get"], COMMANDS[b"set"]
    handlers = get.handler, set_.handler
    get.handler, set_.handler = reference_get, reference_set
    try:
        return node.run(node.session, argv)
    finally:
        get.handler, set_.handler = handlers


def _contents(value) -> list:
    # (a ZSet is not iterable: its (member, score) pairs in order)
    return list(value.items()) if isinstance(value, ZSet) else list(value)


def keyspace_state(db) -> dict:
    db.settle_sizes()
    return {
        "data": {key: value if value.__class__ is bytes else (type(value).__name__, _contents(value))
                 for key, value in db.data.items()},
        "expires": dict(db.expires),
        "slots": sorted(db.slots.keys(slot) for slot in range(16384) if db.slots.keys(slot)),
        "slot_index": (bytes(db.slots.occupied), db.slots.nonempty.tobytes(),
                       db.slots.nonempty_at.tobytes(), [type(b).__name__ for b in db.slots.buckets]),
        "mem": db.mem,
        "dirty": db.dirty,
        "cells": (db.cells.tobytes(), db.cells_mask),
        "expiry_pool": sorted(db.expiry_pool),
    }


def node_state(node: Node) -> dict:
    server = node.server
    stats = server.stats
    return {
        "dbs": [keyspace_state(db) for db in server.live_dbs()],
        "used_memory": server.used_memory(),
        "stats": (stats.hits, stats.misses, stats.expired_keys, stats.evicted_keys),
        "invalidations": list(node.pushed),
        "stream": list(node.sink.units),
        "tracking_table": sorted(server.tracking.table),
    }


def random_commands(rng: random.Random, count: int) -> list[list[bytes]]:
    out = []
    for _ in range(count):
        key = rng.choice(KEYS)
        value = b"v" * rng.randrange(0, 40)
        roll = rng.random()
        if roll < 0.35:
            out.append([b"GET", key])
        elif roll < 0.65:
            out.append([rng.choice([b"SET", b"set"]), key, value])
        elif roll < 0.72:
            out.append([b"SET", key, value, b"PX", b"%d" % rng.randrange(1, 5000)])
        elif roll < 0.76:
            out.append([b"SET", key, value, b"KEEPTTL"])
        elif roll < 0.80:
            out.append([b"DEL", key])
        elif roll < 0.84:
            out.append([b"PEXPIRE", key, b"%d" % rng.randrange(1, 5000)])
        elif roll < 0.88:
            out.append([b"APPEND", key, b"xy"])
        elif roll < 0.91:
            out.append([b"LPUSH", key, b"a"])  # WRONGTYPE for GET/APPEND later
        elif roll < 0.94:
            out.append([b"GET"])  # wrong arity: the general path, from both sides
        elif roll < 0.97:
            # The compiled path's typed handlers (ringcache/_speedups.pyx, _typed).
            other = rng.choice(KEYS)
            out.append(rng.choice([
                [b"INCR", key], [b"MGET", key, other, key], [b"MSET", key, value, other, b"7"],
                [b"EXISTS", key, other], [b"TTL", key], [b"DEL", key, other],
                [b"RPUSH", key, b"b", b"c"], [b"LPOP", key], [b"RPOP", key],
                [b"HSET", key, b"f", value], [b"HGET", key, b"f"],
                [b"SADD", key, value, b"m"], [b"SISMEMBER", key, b"m"],
                [b"ZADD", key, rng.choice([b"1.5", b"-0", b"inf", b"7"]), rng.choice([b"m", b"n"])],
                [b"ZINCRBY", key, b"2", b"m"], [b"ZSCORE", key, b"m"], [b"ZPOPMIN", key],
                [b"ZPOPMAX", key], [b"ZRANGE", key, b"0", b"-1"]]))
        else:
            out.append([b"advance", b"%d" % rng.randrange(0, 3000)])
    return out


def command_stats() -> dict:
    """Per-command counters (process-wide: both nodes share the table)."""
    Dispatcher.settle_counts()  # (the compiled loop keeps them until asked)
    return {name: (spec.calls, spec.failed_calls, spec.rejected_calls)
            for name, spec in COMMANDS.items()}


def delta(before: dict, after: dict) -> dict:
    return {name: tuple(a - b for a, b in zip(after[name], before[name]))
            for name in after if after[name] != before[name]}


def rearm(node: Node) -> list[bool]:
    """Which WATCHes failed since the last call (then cleared), and the
    tracker reads every key again (invalidation forgets a key)."""
    failed = []
    for session in node.watchers.values():
        failed.append(session.dirty_cas)
        session.dirty_cas = False
    for key in KEYS:
        node.run(node.tracker, [b"GET", key])
    return failed


def record_fallbacks(node: Node) -> list[bytes]:
    """The names of the commands of node.session that execute_batch sends
    to the general path (Dispatcher._execute), as they happen."""
    fallbacks: list[bytes] = []
    execute = node.server.dispatcher._execute

    def counting_execute(session, argv):
        if session is node.session:
            fallbacks.append(argv[0])
        return execute(session, argv)

    node.server.dispatcher._execute = counting_execute  # type: ignore[method-assign]
    return fallbacks


@pytest.mark.parametrize("lfu", [False, True], ids=["lru", "lfu"])
@pytest.mark.parametrize("seed", range(6))
def test_fast_path_and_general_path_leave_the_same_state(seed, lfu):
    rng = random.Random(seed)
    fast, general = Node(lfu, seed), Node(lfu, seed)
    fallbacks = record_fallbacks(fast)
    commands = random_commands(rng, 600)
    for node in (fast, general):
        for key, session in node.watchers.items():
            node.run(session, [b"WATCH", key])
        rearm(node)
    watches_failed = 0
    i = 0
    while i < len(commands):
        batch = []
        size = rng.randrange(1, 8)
        while i < len(commands) and commands[i][0] != b"advance" and len(batch) < size:
            batch.append(commands[i])
            i += 1
        if batch:
            before = command_stats()
            data, done = fast.server.dispatcher.execute_batch(fast.session, batch)
            middle = command_stats()
            expected = b"".join(run_reference(general, argv) for argv in batch)
            after = command_stats()
            assert done == len(batch)
            assert data == expected, batch
            assert delta(before, middle) == delta(middle, after), batch
            failed = rearm(fast)
            assert failed == rearm(general), batch
            watches_failed += sum(failed)
        if i < len(commands) and commands[i][0] == b"advance":
            for node in (fast, general):
                node.clock.advance(int(commands[i][1]))
                node.server.refresh_lru_clock()
            i += 1
        want, got = node_state(general), node_state(fast)
        for name in want:
            assert got[name] == want[name], (name, batch)
    # Only the commands with a wrong arity left the inlined branch.
    assert fallbacks and set(fallbacks) == {b"GET"}
    assert len(fallbacks) == sum(1 for argv in commands if argv == [b"GET"])
    # The comparison saw every kind of change it claims to.
    assert want["invalidations"] and want["stream"] and watches_failed
    assert want["stats"][2] > 0  # keys expired


def traced_batch(server: Server, session: Session, commands: list) -> tuple[bytes, int, list[str]]:
    """execute_batch's replies and count, and the names of the Python
    functions it called."""
    import sys

    called: list[str] = []

    def profile(frame, event, arg):
        if event == "call":
            called.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        replies, done = server.dispatcher.execute_batch(session, commands)
    finally:
        sys.setprofile(None)
    return replies, done, called


def test_typed_handlers_run_no_python_on_the_compiled_path():
    """On the compiled path the commonest commands on plain values run no
    Python function at all (their typed handlers, ringcache/_speedups.pyx);
    on the pure path their Python handlers run. (A typed handler that
    always handed its work back to Python would pass every comparison.)"""

    from ringcache.accel import ACCELERATED

    server = Server()
    session = Session(server, 1, "a:1", "b:2")
    setup = [[b"SET", b"s", b"1"], [b"RPUSH", b"l", b"a", b"b", b"c"],
             [b"HSET", b"h", b"f", b"v"], [b"SADD", b"z", b"m"],
             [b"ZADD", b"zs", b"1", b"a"], [b"ZADD", b"zs", b"2", b"b"], [b"ZADD", b"zs", b"3", b"c"]]
    server.dispatcher.execute_batch(session, setup)
    commands = [[b"GET", b"s"], [b"SET", b"s", b"2"], [b"INCR", b"s"], [b"MGET", b"s", b"nope"],
                [b"EXISTS", b"s", b"nope"], [b"TTL", b"s"], [b"LPUSH", b"l", b"x"],
                [b"RPUSH", b"l", b"y"], [b"LPOP", b"l"], [b"RPOP", b"l"], [b"HSET", b"h", b"g", b"w"],
                [b"HGET", b"h", b"g"], [b"SADD", b"z", b"n"], [b"SISMEMBER", b"z", b"n"],
                [b"MSET", b"s", b"5", b"t", b"6"], [b"DEL", b"t", b"nope"],
                [b"ZADD", b"zs", b"5", b"d"], [b"ZADD", b"zs", b"1.5", b"a"],
                [b"ZINCRBY", b"zs", b"2", b"b"], [b"ZSCORE", b"zs", b"d"], [b"ZPOPMIN", b"zs"],
                [b"ZPOPMAX", b"zs"], [b"ZRANGE", b"zs", b"0", b"-1"], [b"ZADD", b"zn", b"-inf", b"x"],
                [b"ZINCRBY", b"zn", b"1", b"y"], [b"ZPOPMIN", b"zn"], [b"ZPOPMIN", b"zn"],
                [b"ZPOPMIN", b"zn"], [b"ZSCORE", b"zn", b"x"], [b"ZRANGE", b"zn", b"0", b"-1"]]
    replies, done, called = traced_batch(server, session, commands)
    assert done == len(commands)
    assert replies == (b"$1\r\n1\r\n+OK\r\n:3\r\n*2\r\n$1\r\n3\r\n$-1\r\n:1\r\n:-1\r\n:4\r\n:5\r\n"
                       b"$1\r\nx\r\n$1\r\ny\r\n:1\r\n$1\r\nw\r\n:1\r\n:1\r\n+OK\r\n:1\r\n"
                       b":1\r\n:0\r\n$1\r\n4\r\n$1\r\n5\r\n*2\r\n$1\r\na\r\n$3\r\n1.5\r\n"
                       b"*2\r\n$1\r\nd\r\n$1\r\n5\r\n*2\r\n$1\r\nc\r\n$1\r\nb\r\n:1\r\n"
                       b"$1\r\n1\r\n*2\r\n$1\r\nx\r\n$4\r\n-inf\r\n*2\r\n$1\r\ny\r\n$1\r\n1\r\n"
                       b"*0\r\n$-1\r\n*0\r\n")
    # The command handlers, their helpers and the lookups they make.
    python_side = {COMMANDS[argv[0].lower()].handler.__name__ for argv in commands}
    python_side |= {"_incr", "_push", "_pop", "_hset", "_ttl", "_write_list", "_read",
                    "_write", "_write_set", "_read_set", "lookup", "lookup_read", "peek_read",
                    "_zadd_one", "_zadd", "_zpop", "_pop", "_range_reply", "_zrange",
                    "_with_scores", "parse_score", "_strtod"}
    if ACCELERATED:
        # (What runs in Python is what the typed handlers leave to it: MSET's and
        # INCR's Keyspace.set/replace, DEL's delete, the encoding of MGET's array.)
        assert not set(called) & python_side, called
    else:
        assert {"get", "set_", "incr", "lpush", "hset", "sadd", "zadd", "zincrby", "zscore",
                "zpopmin", "zpopmax", "zrange"} <= set(called)


def test_new_keys_run_no_python_on_the_compiled_path():
    """SET, MSET and INCR of missing keys store them in C (_speedups.pyx,
    "strings: storing a new key"): no Keyspace.set, no SlotIndex.add, no
    Keyspace.modified, for the first key of a slot and for one more."""
    from ringcache.accel import ACCELERATED
    from ringcache.storage.slots import key_slot

    server = Server()
    session = Session(server, 1, "a:1", "b:2")
    db = server.db(0)
    commands = [[b"SET", b"{a}1", b"x"], [b"SET", b"{a}2", b"y"], [b"INCR", b"{a}3"], [b"INCR", b"n"],
                [b"MSET", b"{b}1", b"1", b"{b}2", b"2", b"{a}1", b"z", b"m", b"3"]]
    replies, done, called = traced_batch(server, session, commands)
    assert (replies, done) == (b"+OK\r\n+OK\r\n:1\r\n:1\r\n+OK\r\n", len(commands))
    assert db.data == {b"{a}1": b"z", b"{a}2": b"y", b"{a}3": b"1", b"n": b"1", b"{b}1": b"1",
                       b"{b}2": b"2", b"m": b"3"}
    assert db.slots.keys(key_slot(b"a")) == [b"{a}1", b"{a}2", b"{a}3"]
    assert sorted(db.slots.nonempty) == sorted({key_slot(k) for k in (b"a", b"b", b"n", b"m")})
    python_side = {"set_", "mset", "incr", "_incr", "set", "add", "key_slot", "_record_new",
                   "modified", "touch"}
    if ACCELERATED:
        assert not set(called) & python_side, called
    else:
        assert {"set_", "mset", "incr", "set", "add", "modified"} <= set(called)


@pytest.mark.parametrize("lfu", [False, True], ids=["lru", "lfu"])
def test_new_keys_in_bulk_leave_the_same_state(lfu):
    """Thousands of new keys through execute_batch and through the
    reference path: past the access cells' first growth (at 8192 keys), into
    slots that get their first key and slots whose bucket outgrows its list
    (hash tags: LIST_MAX keys in one slot), with TTLs, WATCHes and a write
    stream (the Node's), and the same state after every batch."""
    rng = random.Random(lfu)
    fast, general = Node(lfu, 3), Node(lfu, 3)
    fallbacks = record_fallbacks(fast)

    def key() -> bytes:
        return rng.choice([b"key:%d" % rng.randrange(30000), b"{t}%d" % rng.randrange(150), rng.choice(KEYS)])

    for node in (fast, general):
        for i in range(8100):  # (just below the cells' first growth)
            node.server.db(0).set(b"pre:%d" % i, b"p")
        for k, session in node.watchers.items():
            node.run(session, [b"WATCH", k])
    for _ in range(150):
        batch = []
        for _ in range(rng.randrange(1, 16)):
            roll = rng.random()
            if roll < 0.5:
                batch.append([b"MSET", *(arg for _ in range(rng.randrange(1, 11)) for arg in (key(), b"v" * 32))])
            elif roll < 0.75:
                batch.append([b"SET", key(), b"v" * rng.randrange(40)])
            elif roll < 0.85:
                batch.append([b"INCR", key()])
            elif roll < 0.92:
                batch.append([b"SET", key(), b"t", b"PX", b"%d" % rng.randrange(1, 5000)])
            else:
                batch.append([b"DEL", key(), key()])
        data, done = fast.server.dispatcher.execute_batch(fast.session, batch)
        assert data == b"".join(run_reference(general, argv) for argv in batch), batch
        assert done == len(batch)
        assert rearm(fast) == rearm(general)
        step = rng.randrange(0, 300)
        for node in (fast, general):
            node.clock.advance(step)
            node.server.refresh_lru_clock()
        assert node_state(fast) == node_state(general)
    db = fast.server.db(0)
    assert len(db.data) > 8192 and len(db.cells) > 16384  # (the cells grew)
    assert type(db.slots.buckets[slots.key_slot(b"t")]) is set  # (past LIST_MAX)
    assert not fallbacks  # (all on the compiled loop: typed or Python handlers)


def test_ci_runs_the_compiled_path_when_it_says_so():
    """A build that failed falls back to the pure path quietly (setup.py:
    the package must install without a compiler), so on CI, where the
    extension must build, the compiled run checks that it did: otherwise
    both CI runs would test the pure path and call one of them compiled."""
    import os

    from ringcache.accel import ACCELERATED

    pure = os.environ.get("RINGCACHE_PURE", "") not in ("", "0")
    if os.environ.get("CI") != "true" or pure:
        pytest.skip("only on CI's compiled run")
    assert ACCELERATED, "the compiled extension did not build (see the setup.sh output)"


def test_collection_handlers_run_no_python_on_the_compiled_path():
    """The same for the collections' typed handlers: SPOP (a set sampled
    from a copy, a big one from its sampling pool), LRANGE, EXPIRE (no write
    stream: see above), HGETALL, HSET and HGET on a hash past PROMOTE_AT,
    MSET over existing strings (no Keyspace.set)."""

    from ringcache.accel import ACCELERATED

    server = Server()
    session = Session(server, 1, "a:1", "b:2")
    setup = [[b"SET", b"s", b"1"], [b"SET", b"t", b"2"], [b"RPUSH", b"l", *BIG_SET],
             [b"HSET", b"h", b"f", b"v"], [b"HSET", b"big", *BIG_HASH], [b"SADD", b"one", b"m"],
             [b"SADD", b"bigset", *BIG_SET], [b"SPOP", b"bigset"]]  # (the first draw builds the pool)
    server.dispatcher.execute_batch(session, setup)
    commands = [[b"LRANGE", b"l", b"0", b"2"], [b"LRANGE", b"l", b"-2", b"-1"], [b"LRANGE", b"nope", b"0", b"1"],
                [b"HGETALL", b"h"], [b"HGETALL", b"nope"], [b"HSET", b"big", b"f1", b"w", b"new", b"n"],
                [b"HGET", b"big", b"f1"], [b"MSET", b"s", b"5", b"t", b"6"], [b"EXPIRE", b"s", b"100"],
                [b"EXPIRE", b"s", b"200"], [b"EXPIRE", b"nope", b"1"], [b"SPOP", b"one"], [b"SPOP", b"bigset"]]
    replies, done, called = traced_batch(server, session, commands)
    assert done == len(commands)
    expected = (b"*3\r\n$2\r\nm0\r\n$2\r\nm1\r\n$2\r\nm2\r\n*2\r\n$3\r\nm78\r\n$3\r\nm79\r\n*0\r\n"
                b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n*0\r\n:1\r\n$1\r\nw\r\n+OK\r\n:1\r\n:1\r\n:0\r\n$1\r\nm\r\n")
    assert replies.startswith(expected) and replies[len(expected):].split(b"\r\n")[1] in BIG_SET
    assert server.db(0).data[b"big"].__class__.__name__ == "FieldTTLHash"
    python_side = {COMMANDS[argv[0].lower()].handler.__name__ for argv in commands}
    python_side |= {"_read", "_write", "_hset", "_purge", "_read_list", "_range", "_expire",
                    "_expire_flags", "_write_set", "_pool_of", "_pool_removed", "_changed_or_emptied",
                    "lookup", "lookup_read", "set", "set_expire", "_expiry_object"}  # (SPOP one's delete: Keyspace.delete)
    if ACCELERATED:
        assert not set(called) & python_side, called
    else:
        assert {"lrange", "hgetall", "hset", "mset", "expire", "spop"} <= set(called)


# -- the collections' typed handlers without a write stream ----------------------
#
# SPOP and EXPIRE run compiled only while no write stream listens (their
# typed handlers cannot set session.propagate), so the nodes above, which
# have a sink and a tracking client, always hand them to Python. These
# nodes have neither. SPOP draws at random: the module's random source is
# seeded the same before each side runs a batch, so both draw alike when
# both paths make the same calls to it.

BIG_SET = [b"m%d" % i for i in range(80)]  # past SAMPLE_BY_COPY: a sampling pool
BIG_HASH = [arg for i in range(1030) for arg in (b"f%d" % i, b"v")]  # past PROMOTE_AT


def plain_node() -> tuple[Server, Session, ManualClock]:
    clock = ManualClock(START_MS)
    server = Server(clock=clock)
    return server, Session(server, 1, "127.0.0.1:1", "127.0.0.1:6379"), clock


def collection_commands(rng: random.Random, count: int) -> list[list[bytes]]:
    keys = [b"c%d" % i for i in range(4)]
    out = []
    for _ in range(count):
        key, other = rng.choice(keys), rng.choice(keys)
        value = rng.choice([b"a", b"b", b"7", b"x" * 20])
        index = rng.choice([b"0", b"1", b"-1", b"-3", b"99", b"-100", b"007", b"+1", b"x", b"9" * 19])
        out.append(rng.choice([
            [b"RPUSH", key, value], [b"LPUSH", key, value, b"z"], [b"LPUSH", key, value],
            [b"LRANGE", key, index, rng.choice([b"-1", b"2", b"0", b"-2", b"50"])],
            [b"HSET", key, value, b"1"], [b"HGETALL", key], [b"HGET", key, value],
            [b"HSET", b"bighash", value, b"w", b"f%d" % rng.randrange(1100), value],
            [b"HGET", b"bighash", b"f%d" % rng.randrange(1100)], [b"HGETALL", b"bighash"],
            [b"HPEXPIRE", b"bighash", b"500", b"FIELDS", b"1", b"f%d" % rng.randrange(1100)],
            [b"SADD", key, value], [b"SPOP", key], [b"SPOP", b"bigset"],
            [b"SADD", b"bigset", rng.choice(BIG_SET)], [b"SREM", b"bigset", rng.choice(BIG_SET)],
            [b"SPOP", key, b"1"], [b"SRANDMEMBER", b"bigset"],
            [b"MSET", key, value, other, value], [b"MSET", key, value, b"s%d" % rng.randrange(9), value],
            [b"SET", key, value], [b"SET", key, value, b"PX", b"100"],
            [b"EXPIRE", key, rng.choice([b"10", b"1", b"0", b"-5", b"007", b"99999999999999"])],
            [b"EXPIRE", key, b"5", b"NX"], [b"PERSIST", key], [b"DEL", key],
        ]))
    return out


def collection_state(server: Server) -> dict:
    """keyspace_state, with the hashes' values, the big set's sampling pool
    and the keyspace hits and misses."""
    from ringcache.commands.sets import _POOLS

    db = server.db(0)
    bigset = db.data.get(b"bigset")
    pool = _POOLS.get(id(bigset)) if bigset is not None else None
    return keyspace_state(db) | {
        "hashes": {key: list(value.items()) for key, value in db.data.items() if isinstance(value, dict)},
        "pool": None if pool is None else (list(pool.members), sorted(pool.gone)),
        "stats": (server.stats.hits, server.stats.misses, server.stats.expired_keys)}


@pytest.mark.parametrize("seed", range(4))
def test_collection_handlers_without_a_write_stream(seed):
    rng = random.Random(seed)
    fast, general = plain_node(), plain_node()
    setup = [[b"SADD", b"bigset", *BIG_SET], [b"HSET", b"bighash", *BIG_HASH], [b"SPOP", b"bigset"]]
    for server, session, _ in (fast, general):
        random.seed(seed)
        for argv in setup:
            server.dispatcher.execute(session, argv)
    commands = collection_commands(rng, 500)
    for start in range(0, len(commands), 8):
        batch = commands[start:start + 8]
        draws = rng.random()
        random.seed(draws)
        before = command_stats()
        data, done = fast[0].dispatcher.execute_batch(fast[1], batch)
        middle = command_stats()
        random.seed(draws)
        expected = b""
        for argv in batch:
            out: list = []
            general[1].encode(out, general[0].dispatcher.execute(general[1], argv))
            expected += b"".join(out)
        after = command_stats()
        assert done == len(batch)
        assert data == expected, batch
        assert delta(before, middle) == delta(middle, after), batch
        step = rng.randrange(0, 400)
        for server, _, clock in (fast, general):
            clock.advance(step)
            server.refresh_lru_clock()
        state = [collection_state(server) for server, _, _ in (fast, general)]
        assert state[0] == state[1], batch
    assert not fast[0].dispatcher.propagating
