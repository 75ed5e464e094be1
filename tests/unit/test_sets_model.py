"""Property test of the set commands: random command sequences run through
the dispatcher (in process, no sockets) and against a pure model, a dict of
Python sets written from Redis's t_set.c; every reply is compared.

Random commands are checked for what they must satisfy (SPOP returns
members that were there, and the model then drops exactly those). Sets grow
past SMALL_SET so that the sampling pools and the SSCAN snapshots are used,
and two more properties ride along:

* propagation: every write is replayed on a second node as the primary
  propagated it (`session.propagate`, else argv); the replica must end up
  with the same sets, SPOP included;
* SSCAN: one scan at a time is interleaved with the other commands; when it
  ends (cursor 0), every member present at its key for the whole scan must
  have been returned, and nothing it returned was absent when returned.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ringcache.commands.registry import lookup
from ringcache.commands.sets import SMALL_SET
from ringcache.protocol.errors import CommandError
from test_strings_keys import Node

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
KEYS = [b"a", b"b", b"str"]
MEMBER_SPACE = 2 * SMALL_SET + 60


def member(i: int) -> bytes:
    return b"m%d" % i


keys = st.sampled_from(KEYS)
members = st.integers(0, MEMBER_SPACE - 1).map(member)
many_members = st.one_of(
    st.lists(members, min_size=1, max_size=8),
    # a bulk add, to get past SMALL_SET
    st.tuples(st.integers(0, MEMBER_SPACE - 1), st.sampled_from([20, SMALL_SET + 20, 250])).map(
        lambda t: [member((t[0] + i) % MEMBER_SPACE) for i in range(t[1])]),
)
key_lists = st.lists(keys, min_size=1, max_size=3)
counts = st.one_of(st.integers(-5, 5), st.integers(-400, 400), st.just(-300))

SADD = st.tuples(st.just(b"SADD"), keys, many_members).map(lambda t: [t[0], t[1], *t[2]])
SREM_FEW = st.tuples(st.just(b"SREM"), keys, st.lists(members, min_size=1, max_size=8)).map(
    lambda t: [t[0], t[1], *t[2]])
SRANDMEMBER = st.tuples(st.just(b"SRANDMEMBER"), keys, counts.map(lambda n: b"%d" % n)).map(list)
SPOP = st.tuples(st.just(b"SPOP"), keys, st.integers(-1, 20).map(lambda n: b"%d" % n)).map(list)
COMMANDS = st.one_of(
    SADD, SADD, SREM_FEW, SREM_FEW, SRANDMEMBER, SRANDMEMBER, SPOP,
    st.tuples(st.just(b"SREM"), keys, many_members).map(lambda t: [t[0], t[1], *t[2]]),
    st.tuples(st.just(b"SPOP"), keys, counts.map(lambda n: b"%d" % n)).map(list),
    st.tuples(st.sampled_from([b"SCARD", b"SMEMBERS", b"SPOP", b"SRANDMEMBER", b"DEL"]),
              keys).map(list),
    st.tuples(st.just(b"SISMEMBER"), keys, members).map(list),
    st.tuples(st.just(b"SMISMEMBER"), keys, st.lists(members, min_size=1, max_size=4)).map(
        lambda t: [t[0], t[1], *t[2]]),
    st.tuples(st.just(b"SMOVE"), keys, keys, members).map(list),
    st.tuples(st.sampled_from([b"SINTER", b"SUNION", b"SDIFF"]), key_lists).map(
        lambda t: [t[0], *t[1]]),
    st.tuples(st.sampled_from([b"SINTERSTORE", b"SUNIONSTORE", b"SDIFFSTORE"]), keys,
              key_lists).map(lambda t: [t[0], t[1], *t[2]]),
    st.tuples(st.just(b"SINTERCARD"), key_lists, st.integers(0, 50)).map(
        lambda t: [t[0], b"%d" % len(t[1]), *t[1], b"LIMIT", b"%d" % t[2]]),
    st.tuples(st.just(b"SET"), st.just(b"str"), st.just(b"v")).map(list),
    # (key, COUNT, how many SSCAN calls in a row)
    st.tuples(st.just(b"SSCAN"), keys, st.sampled_from([7, 40, 200]), st.integers(1, 10)).map(list),
)


class Model:
    """Redis's set semantics over plain Python values: bytes or set."""

    def __init__(self) -> None:
        self.data: dict[bytes, object] = {}

    def get(self, key: bytes) -> set | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, set):
            raise CommandError(WRONGTYPE)
        return value

    def put(self, key: bytes, value: set) -> None:
        if value:
            self.data[key] = value
        else:
            self.data.pop(key, None)

    def sources(self, names: list) -> list:
        return [self.get(key) for key in names]  # every key type-checked

    def algebra(self, op: bytes, names: list) -> set:
        sets = self.sources(names)
        if op == b"SINTER":
            if any(s is None for s in sets):
                return set()
            return set.intersection(*sets)
        if op == b"SUNION":
            return set().union(*(s for s in sets if s))
        if sets[0] is None:
            return set()
        return sets[0].difference(*(s for s in sets[1:] if s))


def run(node: Node, argv: list):
    try:
        return node(*argv)
    except CommandError as exc:
        return exc


def check(model: Model, node: Node, replica: Node, argv: list, scan: dict | None) -> None:
    name = argv[0]
    session = node.session
    session.propagate = None
    got = run(node, argv)
    if lookup(name.lower()).is_write:
        for command in session.propagate or [argv]:
            run(replica, command)
    try:
        expected = apply(model, argv, got)
    except CommandError as exc:
        assert isinstance(got, CommandError) and got.message == exc.message, (argv, got)
        return
    assert not isinstance(got, CommandError), (argv, got.message)
    if expected is not ANY:
        assert got == expected, (argv, got, expected)


ANY = object()  # a random reply, checked inside apply()


def apply(model: Model, argv: list, got):
    name, args = argv[0], argv[1:]
    if name == b"SET":
        model.data[args[0]] = args[1]
        return ANY
    if name == b"DEL":
        return 1 if model.data.pop(args[0], None) is not None else 0
    if name == b"SADD":
        value = model.get(args[0]) or set()
        before = len(value)
        value.update(args[1:])
        model.put(args[0], value)
        return len(value) - before
    if name == b"SREM":
        value = model.get(args[0])
        if value is None:
            return 0
        before = len(value)
        value.difference_update(args[1:])
        model.put(args[0], value)
        return before - len(value)
    if name == b"SCARD":
        value = model.get(args[0])
        return len(value) if value else 0
    if name == b"SMEMBERS":
        return set(model.get(args[0]) or ())
    if name == b"SISMEMBER":
        return int(args[1] in (model.get(args[0]) or ()))
    if name == b"SMISMEMBER":
        value = model.get(args[0]) or set()
        return [int(m in value) for m in args[1:]]
    if name == b"SMOVE":
        src_key, dst_key, m = args
        src = model.data.get(src_key)
        if src is None:
            return 0
        model.get(src_key)
        dst = model.get(dst_key)
        if src is dst:
            return int(m in src)
        if m not in src:
            return 0
        src.discard(m)
        model.put(src_key, src)
        dst = dst if dst is not None else set()
        dst.add(m)
        model.put(dst_key, dst)
        return 1
    if name in (b"SINTER", b"SUNION", b"SDIFF"):
        return model.algebra(name, list(args))
    if name.endswith(b"STORE"):
        result = model.algebra(name[:-5], list(args[1:]))
        model.put(args[0], set(result))
        return len(result)
    if name == b"SINTERCARD":
        numkeys = int(args[0])
        result = model.algebra(b"SINTER", list(args[1:1 + numkeys]))
        limit = int(args[-1])
        return min(len(result), limit) if limit else len(result)
    if name == b"SPOP":
        if len(args) == 2 and int(args[1]) < 0:  # the count is read before the key
            raise CommandError("ERR value is out of range, must be positive")
        value = model.get(args[0])
        if len(args) == 1:
            if value is None:
                assert got is None
                return ANY
            assert got in value
            value.discard(got)
            model.put(args[0], value)
            return ANY
        count = int(args[1])
        if value is None:
            return set()
        assert isinstance(got, set) and got <= value and len(got) == min(count, len(value))
        value.difference_update(got)
        model.put(args[0], value)
        return ANY
    if name == b"SRANDMEMBER":
        value = model.get(args[0])
        if len(args) == 1:
            assert got is None if value is None else got in value
            return ANY
        count = int(args[1])
        if value is None:
            return []
        assert isinstance(got, list) and set(got) <= value
        if count >= 0:
            assert len(got) == len(set(got)) == min(count, len(value))
        else:
            assert len(got) == -count
        return ANY
    raise AssertionError(argv)


def sscan_step(model: Model, node: Node, scan: dict | None, key: bytes, count: int):
    """One SSCAN call of the current scan (or a new one on key)."""
    if scan is None:
        value = model.data.get(key)
        if not isinstance(value, set):
            return None
        scan = {"key": key, "cursor": b"0", "seen": set(), "throughout": set(value)}
    value = model.data.get(scan["key"])
    if not isinstance(value, set):
        return None  # the key went away or changed type: the scan ends
    cursor, items = node(b"SSCAN", scan["key"], scan["cursor"], b"COUNT", b"%d" % count)
    assert set(items) <= value, "returned a member that is not there"
    scan["seen"].update(items)
    scan["cursor"] = cursor
    if cursor == b"0":
        missed = scan["throughout"] - scan["seen"]
        assert not missed, f"SSCAN missed {sorted(missed)[:5]}"
        return None
    return scan


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(COMMANDS, min_size=10, max_size=60))
# Random sequences rarely sample a big set, shrink it and sample it again:
# this one does (stale pool entries, SPOP through the pool, a re-added member).
@example([[b"SADD", b"a", *[member(i) for i in range(250)]], [b"SRANDMEMBER", b"a"],
          [b"SREM", b"a", member(1), member(2), member(3)], [b"SRANDMEMBER", b"a", b"-300"],
          [b"SSCAN", b"a", 40, 2], [b"SPOP", b"a", b"20"], [b"SADD", b"a", member(2)],
          [b"SRANDMEMBER", b"a", b"100"], [b"SPOP", b"a"], [b"SSCAN", b"a", 40, 10]])
def test_set_commands_match_the_model(commands):
    node, replica, model = Node(), Node(), Model()
    scan = None
    for argv in commands:
        if argv[0] == b"SSCAN":
            for _ in range(argv[3]):
                scan = sscan_step(model, node, scan, argv[1], argv[2])
            continue
        check(model, node, replica, argv, scan)
        if scan is not None:
            value = model.data.get(scan["key"])
            scan["throughout"] &= value if isinstance(value, set) else set()
    for key in KEYS:
        value = model.data.get(key)
        if isinstance(value, set):
            assert node(b"SMEMBERS", key) == value
            assert replica(b"SMEMBERS", key) == value, "the replica diverged"
        else:
            assert node(b"EXISTS", key) == replica(b"EXISTS", key) == (value is not None)
