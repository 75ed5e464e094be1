"""Property test for hashes: random sequences of hash commands (field TTLs
included), clock steps and active-expiry cron steps, run in process against
ringcache's command layer (ManualClock, so times are exact) and against the
pure model below; every reply must match, in RESP2 and RESP3. Field order is
not part of Redis's contract, so HGETALL/HKEYS/HVALS are compared sorted.

The model: a key maps to {field: [value, expiry ms or None]}; a field whose
expiry is before now is gone, and a hash command first drops the gone fields
of its key (deleting the key when none is left). Generic commands (DEL,
EXISTS, RENAME, COPY) do not look inside a hash, so a hash whose fields all
expired still exists for them until a hash command or the active cycle
reclaims it; the model's "cron" step reclaims everything that is due.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_model import InProcess, same  # noqa: E402

from ringcache.commands.hashes import active_expire_fields  # noqa: E402
from ringcache.protocol.errors import CommandError  # noqa: E402
from ringcache.protocol.resp import OK  # noqa: E402

KEYS = [b"h0", b"h1", b"s"]
FIELDS = [b"a", b"b", b"c", b"d"]
VALUES = [b"", b"1", b"-3", b"10", b"x", b"2.5", b"9223372036854775807"]
INCRS = [b"1", b"-1", b"5", b"9223372036854775807", b"x", b"-9223372036854775808"]
TIMES = [b"0", b"1", b"2", b"10", b"100", b"-1", b"x"]
ADVANCES = [0, 1, 2, 10, 100, 1000, 2500]
INT = re.compile(rb"-?[1-9][0-9]*|0")

WRONGTYPE = CommandError("WRONGTYPE Operation against a key holding the wrong kind of value")


def to_int(raw: bytes, message: str) -> int:
    if not INT.fullmatch(raw) or not -(2**63) <= int(raw) < 2**63:
        raise CommandError(message)
    return int(raw)


class HashModel:
    def __init__(self, now: int) -> None:
        self.now = now
        self.data: dict[bytes, object] = {}

    def purge(self, key: bytes) -> dict | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bytes):
            raise WRONGTYPE
        for field in [f for f, (_, exp) in value.items() if exp is not None and exp < self.now]:
            del value[field]
        if not value:
            del self.data[key]
            return None
        return value

    def cron(self) -> None:
        for key in list(self.data):
            if not isinstance(self.data[key], bytes):
                self.purge(key)

    def run(self, argv: list[bytes]):
        try:
            return getattr(self, argv[0].lower().decode())(argv)
        except CommandError as exc:
            return exc

    # generic
    def set(self, argv):
        self.data[argv[1]] = argv[2]
        return OK

    def exists(self, argv):
        return int(argv[1] in self.data)

    def del_(self, argv):
        return int(self.data.pop(argv[1], None) is not None)

    def rename(self, argv):
        if argv[1] not in self.data:
            return CommandError("ERR no such key")
        self.data[argv[2]] = self.data.pop(argv[1])
        return OK

    def copy(self, argv):
        if argv[1] not in self.data or argv[2] in self.data or argv[1] == argv[2]:
            return 0 if argv[1] != argv[2] else CommandError(
                "ERR source and destination objects are the same")
        value = self.data[argv[1]]
        self.data[argv[2]] = value if isinstance(value, bytes) else {f: list(v) for f, v in value.items()}
        return 1

    # hashes
    def hset(self, argv):
        if len(argv) % 2:
            return CommandError("ERR wrong number of arguments for 'hset' command")
        h = self.purge(argv[1])
        if h is None:
            h = self.data[argv[1]] = {}
        created = 0
        for f, v in zip(argv[2::2], argv[3::2]):
            created += f not in h
            h[f] = [v, None]
        return created

    def hsetnx(self, argv):
        h = self.purge(argv[1])
        if h is None:
            h = self.data[argv[1]] = {}
        if argv[2] in h:
            return 0
        h[argv[2]] = [argv[3], None]
        return 1

    def hget(self, argv):
        h = self.purge(argv[1]) or {}
        return h[argv[2]][0] if argv[2] in h else None

    def hmget(self, argv):
        h = self.purge(argv[1]) or {}
        return [h[f][0] if f in h else None for f in argv[2:]]

    def hdel(self, argv):
        h = self.purge(argv[1])
        if h is None:
            return 0
        n = 0
        for f in argv[2:]:
            if f in h:
                del h[f]
                n += 1
        if not h:
            del self.data[argv[1]]
        return n

    def hlen(self, argv):
        return len(self.purge(argv[1]) or {})

    def hexists(self, argv):
        return int(argv[2] in (self.purge(argv[1]) or {}))

    def hstrlen(self, argv):
        h = self.purge(argv[1]) or {}
        return len(h[argv[2]][0]) if argv[2] in h else 0

    def hgetall(self, argv):
        h = self.purge(argv[1]) or {}
        return {f: v for f, (v, _) in sorted(h.items())}

    def hkeys(self, argv):
        return sorted(self.purge(argv[1]) or {})

    def hvals(self, argv):
        return sorted(v for v, _ in (self.purge(argv[1]) or {}).values())

    def hincrby(self, argv):
        incr = to_int(argv[3], "ERR value is not an integer or out of range")
        h = self.purge(argv[1])
        old = 0
        if h is not None and argv[2] in h:
            old = to_int(h[argv[2]][0], "ERR hash value is not an integer")
        new = old + incr
        if not -(2**63) <= new < 2**63:
            return CommandError("ERR increment or decrement would overflow")
        if h is None:
            h = self.data[argv[1]] = {}
        exp = h[argv[2]][1] if argv[2] in h else None
        h[argv[2]] = [b"%d" % new, exp]
        return new

    def _expire(self, argv, unit, relative):
        h = self.purge(argv[1])
        when = to_int(argv[2], "ERR value is not an integer or out of range")
        if when < 0:
            return CommandError("ERR invalid expire time, must be >= 0")
        when = when * unit + (self.now if relative else 0)
        cond = argv[3].upper() if argv[3].upper() in (b"NX", b"XX", b"GT", b"LT") else None
        at = 5 if cond else 4
        if argv[at - 1].upper() != b"FIELDS":
            return CommandError("ERR Mandatory argument FIELDS is missing or not at the right position")
        if not INT.fullmatch(argv[at]) or int(argv[at]) < 1:
            return CommandError("ERR Parameter `numFields` should be greater than 0")
        if int(argv[at]) != len(argv) - at - 1:
            return CommandError("ERR The `numfields` parameter must match the number of arguments")
        out = []
        for f in argv[at + 1:]:
            if h is None or f not in h:
                out.append(-2)
                continue
            cur = h[f][1]
            if cur is None and cond in (b"XX", b"GT"):
                out.append(0)
                continue
            if cur is not None and (cond == b"NX" or (cond == b"GT" and cur >= when)
                                    or (cond == b"LT" and cur <= when)):
                out.append(0)
                continue
            if when <= self.now:
                del h[f]
                out.append(2)
                continue
            h[f][1] = when
            out.append(1)
        if h is not None and not h:
            del self.data[argv[1]]
        return out

    def hexpire(self, argv):
        return self._expire(argv, 1000, True)

    def hpexpire(self, argv):
        return self._expire(argv, 1, True)

    def _fields(self, argv):
        if argv[2].upper() != b"FIELDS":
            raise CommandError("ERR Mandatory argument FIELDS is missing or not at the right position")
        if not INT.fullmatch(argv[3]) or int(argv[3]) < 1:
            raise CommandError("ERR Number of fields must be a positive integer")
        if int(argv[3]) != len(argv) - 4:
            raise CommandError("ERR The `numfields` parameter must match the number of arguments")
        return argv[4:]

    def _ttl(self, argv, ms):
        h = self.purge(argv[1]) or {}
        out = []
        for f in self._fields(argv):
            if f not in h:
                out.append(-2)
            elif h[f][1] is None:
                out.append(-1)
            else:
                left = h[f][1] - self.now
                out.append(left if ms else (left + 999) // 1000)
        return out

    def httl(self, argv):
        return self._ttl(argv, False)

    def hpttl(self, argv):
        return self._ttl(argv, True)

    def hpersist(self, argv):
        h = self.purge(argv[1]) or {}
        out = []
        for f in self._fields(argv):
            if f not in h:
                out.append(-2)
            elif h[f][1] is None:
                out.append(-1)
            else:
                h[f][1] = None
                out.append(1)
        return out


# Skewed towards one key and few fields, so that TTLs set by one step are
# often read or changed by the next ones.
keys = st.sampled_from([KEYS[0]] * 4 + KEYS[1:])
fields = st.sampled_from(FIELDS[:1] * 3 + FIELDS[1:3])
field_lists = st.lists(fields, min_size=1, max_size=3)


def cmd(*parts):
    return st.tuples(*[p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts]).map(list)


def with_fields(name, key_strategy, lead):
    """NAME key <lead...> FIELDS n f...; sometimes a wrong count."""
    return st.tuples(key_strategy, lead, field_lists, st.sampled_from([0] * 9 + [1])).map(
        lambda t: [name, t[0], *t[1], b"FIELDS", b"%d" % (len(t[2]) + t[3]), *t[2]])


conditions = st.sampled_from([[], [], [b"NX"], [b"XX"], [b"GT"], [b"LT"]])
COMMANDS = st.one_of(
    st.tuples(keys, st.lists(st.tuples(fields, st.sampled_from(VALUES)), min_size=1, max_size=3)).map(
        lambda t: [b"HSET", t[0], *[x for pair in t[1] for x in pair]]),
    cmd(b"HSETNX", keys, fields, st.sampled_from(VALUES)),
    cmd(b"HGET", keys, fields),
    st.tuples(keys, field_lists).map(lambda t: [b"HMGET", t[0], *t[1]]),
    st.tuples(keys, field_lists).map(lambda t: [b"HDEL", t[0], *t[1]]),
    cmd(b"HLEN", keys), cmd(b"HEXISTS", keys, fields), cmd(b"HSTRLEN", keys, fields),
    cmd(b"HGETALL", keys), cmd(b"HKEYS", keys), cmd(b"HVALS", keys),
    cmd(b"HINCRBY", keys, fields, st.sampled_from(INCRS)),
    with_fields(b"HEXPIRE", keys, st.tuples(st.sampled_from(TIMES), conditions).map(
        lambda t: [t[0], *t[1]])),
    with_fields(b"HPEXPIRE", keys, st.tuples(st.sampled_from(TIMES + [b"1500", b"3000"] * 3),
                                             conditions).map(lambda t: [t[0], *t[1]])),
    with_fields(b"HPEXPIRE", keys, st.tuples(st.sampled_from([b"1500", b"3000", b"100"]),
                                             st.just([])).map(lambda t: [t[0], *t[1]])),
    with_fields(b"HTTL", keys, st.just([])),
    with_fields(b"HTTL", keys, st.just([])),
    with_fields(b"HPTTL", keys, st.just([])),
    with_fields(b"HPERSIST", keys, st.just([])),
    cmd(b"SET", st.just(b"s"), b"str"),
    cmd(b"EXISTS", keys), cmd(b"DEL", keys), cmd(b"RENAME", keys, keys), cmd(b"COPY", keys, keys),
)
STEPS = st.lists(st.one_of(
    COMMANDS.map(lambda c: ("cmd", c)), COMMANDS.map(lambda c: ("cmd", c)),
    st.sampled_from(ADVANCES).map(lambda ms: ("advance", ms)),
    st.just(("cron", None))), min_size=10, max_size=40)
# Every example starts from two small hashes, so that TTL commands meet
# existing fields from the first step on.
SETUP = [[b"HSET", b"h0", b"a", b"1", b"b", b"2", b"c", b"x"], [b"HSET", b"h1", b"a", b"5"]]

SORTED = {b"HKEYS", b"HVALS"}


@pytest.fixture(scope="module")
def harness():
    return InProcess()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_hash_commands_match_the_model(harness, steps):
    session = harness.fresh()
    model = HashModel(int(harness.clock.ms()))
    log = []
    for kind, payload in [("cmd", argv) for argv in SETUP] + steps:
        if kind == "advance":
            harness.clock.advance(payload)
            model.now += payload
            log.append(f"(clock +{payload})")
            continue
        if kind == "cron":
            active_expire_fields(harness.server, session.db)
            model.cron()
            log.append("(cron)")
            continue
        argv = payload
        name = argv[0].upper()
        expected = model.run([b"del_" if name == b"DEL" else argv[0], *argv[1:]])
        actual = harness.execute(session, argv)
        if name in SORTED and isinstance(actual, list):
            actual = sorted(actual)
        if name == b"HGETALL" and isinstance(actual, dict):
            actual = dict(sorted(actual.items()))
        log.append(f"{argv} -> {actual!r}")
        assert same(expected, actual), "\n".join(log) + f"\nmodel: {expected!r}"
