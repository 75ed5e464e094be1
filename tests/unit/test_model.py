"""Property test: random sequences of string, key, TTL and transaction
commands, with the clock moved between steps, run against ringcache's command
layer (in process, ManualClock) and against the pure model (tests/model.py);
every reply must be the same, in RESP2 and in RESP3.

The generated command set follows what the command table has (other
engineers add commands as they go): a command the table lacks is simply not
generated. When hypothesis finds a difference it prints the shortest
sequence that shows it, the model's reply and ringcache's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model import Model  # noqa: E402

from ringcache.commands import load_all  # noqa: E402
from ringcache.commands.registry import COMMANDS  # noqa: E402
from ringcache.config import Config  # noqa: E402
from ringcache.protocol.resp import encode  # noqa: E402
from ringcache.server.server import Server  # noqa: E402
from ringcache.server.session import Session  # noqa: E402
from ringcache.storage.clock import ManualClock  # noqa: E402

load_all()

KEYS = [b"k0", b"k1", b"k2", b"{k}3"]
VALUES = [b"", b"v", b"hello", b"0", b"1", b"-5", b"10", b"3.5", b"0.25", b"1e2", b"abc",
          b"9223372036854775807", b"-9223372036854775808", b" 1", b"01", b"\x00\xff\r\n"]
INTS = [b"0", b"1", b"-1", b"5", b"100", b"9223372036854775807", b"-9223372036854775808",
        b"x", b"1.5", b"01", b"+1", b""]
FLOATS = [b"0", b"1", b"-1", b"0.5", b"-0.25", b"2.75", b"1e1", b"abc", b" 1", b"100.125"]
# TTLs and clock steps share a grid, so that expiry times often coincide
# exactly with "now" (the boundary where Redis still sees the key).
TIMES = [b"1", b"2", b"10", b"100", b"1000", b"0", b"-1", b"x", b"9223372036854775807"]
ADVANCES = [0, 1, 2, 10, 99, 100, 101, 1000, 2000, 10_000]

keys = st.sampled_from(KEYS)
values = st.sampled_from(VALUES)
ints = st.sampled_from(INTS)


def cmd(*parts) -> st.SearchStrategy:
    return st.tuples(*[p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts]).map(list)


def _absolute_times(command: list[bytes], now: int) -> list[bytes]:
    """EXPIREAT/PEXPIREAT and EXAT/PXAT take their (small) generated time as
    an offset from "now", so that absolute times land near the present."""
    out = list(command)
    name = out[0].upper()
    if name in (b"EXPIREAT", b"PEXPIREAT"):
        positions = [(2, 1000 if name == b"EXPIREAT" else 1)]
    else:
        positions = [(i + 1, 1000 if out[i].upper() == b"EXAT" else 1)
                     for i in range(1, len(out) - 1) if out[i].upper() in (b"EXAT", b"PXAT")]
    for pos, unit in positions:
        try:
            delta = int(out[pos])
        except ValueError:
            continue
        if abs(delta) < 10**6:
            out[pos] = b"%d" % (now // unit + delta)
        elif unit == 1:
            # ringcache keeps expiry times as floats, exact to 2**53 ms (the
            # year 287396): far-future absolute times would read back rounded.
            out[pos] = b"%d" % (now + 10**9)
    return out


def command_strategies(times: list[bytes], absolute: bool = True) -> dict[bytes, st.SearchStrategy]:
    """Generators of each command, by lowercase name. `times` are the TTL
    arguments; without `absolute`, no command takes an absolute time."""
    time_args = st.sampled_from(times)
    units = [b"EX", b"PX", b"px"] + ([b"EXAT", b"PXAT"] if absolute else [])
    expiry = st.one_of(
        st.just([]), st.just([b"KEEPTTL"]),
        st.tuples(st.sampled_from(units), time_args).map(list),
        st.just([b"EX", b"1", b"KEEPTTL"]))
    set_command = st.tuples(
        keys, values, st.sampled_from([[], [b"NX"], [b"XX"], [b"nx", b"XX"]]),
        st.sampled_from([[], [b"GET"]]), expiry,
    ).map(lambda t: [b"SET", t[0], t[1], *t[2], *t[3], *t[4]])
    expire_names = [b"EXPIRE", b"PEXPIRE"] + ([b"EXPIREAT", b"PEXPIREAT"] if absolute else [])
    expire_command = st.tuples(
        st.sampled_from(expire_names), keys, time_args,
        st.sampled_from([[], [b"NX"], [b"XX"], [b"GT"], [b"LT"], [b"NX", b"GT"], [b"GT", b"LT"],
                         [b"XX", b"LT"], [b"FOO"]]),
    ).map(lambda t: [t[0], t[1], t[2], *t[3]])
    getex_options = [[], [b"PERSIST"], [b"EX", times[0]], [b"PX", times[1]], [b"EX", b"0"],
                     [b"PERSIST", b"EX", b"1"], [b"BAD"]] + ([[b"PXAT", b"1"]] if absolute else [])
    strategies = {
        b"set": set_command,
        b"get": cmd(b"GET", keys),
        b"setnx": cmd(b"SETNX", keys, values),
        b"setex": cmd(b"SETEX", keys, time_args, values),
        b"psetex": cmd(b"PSETEX", keys, time_args, values),
        b"getset": cmd(b"GETSET", keys, values),
        b"getdel": cmd(b"GETDEL", keys),
        b"getex": st.tuples(keys, st.sampled_from(getex_options)).map(lambda t: [b"GETEX", t[0], *t[1]]),
        b"mget": st.lists(keys, min_size=1, max_size=4).map(lambda ks: [b"MGET", *ks]),
        b"mset": st.lists(st.tuples(keys, values), min_size=1, max_size=3).map(
            lambda pairs: [b"MSET", *[x for pair in pairs for x in pair]]),
        b"msetnx": st.lists(st.tuples(keys, values), min_size=1, max_size=3).map(
            lambda pairs: [b"MSETNX", *[x for pair in pairs for x in pair]]),
        b"append": cmd(b"APPEND", keys, values),
        b"strlen": cmd(b"STRLEN", keys),
        b"incr": cmd(b"INCR", keys),
        b"decr": cmd(b"DECR", keys),
        b"incrby": cmd(b"INCRBY", keys, ints),
        b"decrby": cmd(b"DECRBY", keys, ints),
        b"incrbyfloat": cmd(b"INCRBYFLOAT", keys, st.sampled_from(FLOATS)),
        b"getrange": cmd(b"GETRANGE", keys, st.sampled_from([b"0", b"1", b"-1", b"-3", b"100", b"x"]),
                         st.sampled_from([b"0", b"2", b"-1", b"-2", b"-100", b"100"])),
        b"setrange": cmd(b"SETRANGE", keys, st.sampled_from([b"0", b"1", b"5", b"-1", b"x"]), values),
        b"del": st.lists(keys, min_size=1, max_size=3).map(lambda ks: [b"DEL", *ks]),
        b"unlink": st.lists(keys, min_size=1, max_size=3).map(lambda ks: [b"UNLINK", *ks]),
        b"exists": st.lists(keys, min_size=1, max_size=3).map(lambda ks: [b"EXISTS", *ks]),
        b"touch": st.lists(keys, min_size=1, max_size=3).map(lambda ks: [b"TOUCH", *ks]),
        b"type": cmd(b"TYPE", keys),
        b"rename": cmd(b"RENAME", keys, keys),
        b"renamenx": cmd(b"RENAMENX", keys, keys),
        b"copy": st.tuples(keys, keys, st.sampled_from([[], [b"REPLACE"]])).map(
            lambda t: [b"COPY", t[0], t[1], *t[2]]),
        b"keys": cmd(b"KEYS", st.sampled_from([b"*", b"k*", b"k?", b"*3", b"nothing"])),
        b"expire": expire_command,
        b"ttl": cmd(b"TTL", keys),
        b"pttl": cmd(b"PTTL", keys),
        b"persist": cmd(b"PERSIST", keys),
        b"flushdb": st.just([b"FLUSHDB"]),
        b"multi": st.just([b"MULTI"]),
        b"exec": st.just([b"EXEC"]),
        b"discard": st.just([b"DISCARD"]),
        b"watch": st.lists(keys, min_size=1, max_size=2).map(lambda ks: [b"WATCH", *ks]),
        b"unwatch": st.just([b"UNWATCH"]),
        b"ping": st.just([b"PING"]),
    }
    if absolute:
        strategies[b"expiretime"] = cmd(b"EXPIRETIME", keys)
        strategies[b"pexpiretime"] = cmd(b"PEXPIRETIME", keys)
    return strategies


COMMAND_STRATEGIES = command_strategies(TIMES)
# Queue-time errors inside MULTI (EXECABORT): wrong arity, unknown command.
MISTAKES = st.sampled_from([[b"GET"], [b"SET", b"k0"], [b"NOSUCHCMD", b"x"]])

# Weights: the transaction commands come less often than data commands.
RARE = {b"multi": 1, b"exec": 1, b"discard": 1, b"watch": 1, b"unwatch": 1, b"flushdb": 1, b"keys": 1}


def available_commands(strategies: dict[bytes, st.SearchStrategy] = COMMAND_STRATEGIES) -> list[bytes]:
    """What the command table has today, of what the model knows."""
    return [name for name in strategies if name in COMMANDS]


def steps_strategy(names: list[bytes], strategies: dict[bytes, st.SearchStrategy] = COMMAND_STRATEGIES,
                   advances: list[int] = ADVANCES) -> st.SearchStrategy:
    """Lists of ("cmd", argv) and ("advance", ms) steps."""
    weighted = []
    for name in names:
        weighted.extend([strategies[name]] * (1 if name in RARE else 3))
    command = st.one_of(*weighted, MISTAKES).map(lambda c: ("cmd", c))
    advance = st.sampled_from(advances).map(lambda ms: ("advance", ms))
    # (one_of flattens nested one_ofs: choose the kind of step first, so that
    # about one step in four moves the clock)
    step = st.integers(0, 3).flatmap(lambda i: advance if i == 0 else command)
    plain = st.lists(step, min_size=1, max_size=6)
    # A transaction block: WATCH, changes, MULTI, queued commands, EXEC or
    # DISCARD, with clock steps anywhere.
    block = st.tuples(
        strategies[b"watch"].map(lambda c: [("cmd", c)]), plain,
        st.just([("cmd", [b"MULTI"])]), plain,
        st.sampled_from([[("cmd", [b"EXEC"])]] * 4 + [[("cmd", [b"DISCARD"])]]),
    ).map(lambda parts: [s for part in parts for s in part])
    if not {b"watch", b"multi", b"exec", b"discard"} <= set(names):
        block = plain
    return st.lists(st.one_of(plain, block), min_size=2, max_size=8).map(
        lambda groups: [s for group in groups for s in group])


def normalize(argv: list[bytes], queued: list[list[bytes]], reply):
    """KEYS has no defined order: sort it (also inside an EXEC reply)."""
    name = argv[0].upper()
    if name == b"KEYS" and isinstance(reply, list):
        return sorted(reply)
    if name == b"EXEC" and isinstance(reply, list) and len(reply) == len(queued):
        return [normalize(command, [], item) for command, item in zip(queued, reply)]
    return reply


def same(model_reply, actual) -> bool:
    return encode(model_reply, 2) == encode(actual, 2) and encode(model_reply, 3) == encode(actual, 3)


class InProcess:
    """One server for the whole test; each example gets a fresh session and
    an empty keyspace."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.server = Server(Config(), clock=self.clock)
        self.clients = 0

    def fresh(self) -> Session:
        self.clients += 1
        session = Session(self.server, self.clients, "a:1", "b:2")
        for db in self.server.live_dbs():
            db.flush()
        return session

    def execute(self, session: Session, argv: list[bytes]):
        return self.server.dispatcher.execute(session, argv)


@pytest.fixture(scope="module")
def harness():
    return InProcess()


def test_watch_survives_deleting_a_missing_key(harness):
    session = harness.fresh()
    for argv in ([b"SET", b"a", b"1"], [b"SET", b"src", b"1"], [b"WATCH", b"b", b"src"],
                 [b"DEL", b"a", b"b"], [b"COPY", b"src", b"dst"], [b"MULTI"]):
        harness.execute(session, argv)
    assert harness.execute(session, [b"EXEC"]) == []


def test_key_lives_through_its_expiry_millisecond(harness):
    session = harness.fresh()
    harness.execute(session, [b"SET", b"k", b"v", b"PX", b"100"])
    harness.clock.advance(100)
    assert harness.execute(session, [b"GET", b"k"]) == b"v"
    assert harness.execute(session, [b"PTTL", b"k"]) == 0
    harness.clock.advance(1)
    assert harness.execute(session, [b"GET", b"k"]) is None


NAMES = available_commands()


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps_strategy(NAMES))
def test_command_layer_matches_the_model(harness, steps):
    session = harness.fresh()
    model = Model(int(harness.clock.ms()))
    log: list[str] = []
    for kind, payload in steps:
        if kind == "advance":
            harness.clock.advance(payload)
            model.advance(payload)
            log.append(f"(clock +{payload} ms)")
            continue
        argv = _absolute_times(payload, model.now)
        queued = list(model.multi or [])
        expected = model.execute(argv)
        actual = normalize(argv, queued, harness.execute(session, argv))
        log.append(b" ".join(argv).decode("latin-1"))
        assert same(expected, actual), (
            "ringcache and the model differ after:\n  " + "\n  ".join(log)
            + f"\nmodel:     {encode(expected, 2)!r}\nringcache: {encode(actual, 2)!r}")


def test_generated_command_set_is_not_empty():
    # If this fails the command table lost the string commands.
    assert {b"get", b"set", b"del", b"multi", b"exec"} <= set(NAMES)
