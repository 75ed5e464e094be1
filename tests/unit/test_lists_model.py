"""Property test of the list commands: random command sequences run through
the dispatcher (in process, no sockets) and against a pure model, a dict of
Python lists with Redis's semantics written out plainly (index arithmetic on
Python lists, not deques); every reply is compared.

Propagation rides along: every write is replayed on a second node as the
primary propagated it (`session.propagate`, else argv); the replica must end
up with the same lists. A blocking command that finds nothing returns its
BlockOn here (no connection parks it) and changes nothing.
"""

from __future__ import annotations

from collections import deque

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringcache.commands._blocking import BlockOn
from ringcache.commands.registry import lookup
from ringcache.protocol.errors import CommandError
from ringcache.protocol.resp import NULL_ARRAY, OK
from test_strings_keys import Node

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
POSITIVE = "ERR value is out of range, must be positive"
KEYS = [b"a", b"b", b"str"]

keys = st.sampled_from(KEYS)
elements = st.sampled_from([b"x", b"y", b"z"])
many = st.lists(elements, min_size=1, max_size=6)
small = st.integers(-7, 7)
num = small.map(lambda n: b"%d" % n)
where = st.sampled_from([b"LEFT", b"RIGHT"])


def flat(*parts):
    out = []
    for part in parts:
        out.extend(part if isinstance(part, list) else [part])
    return out


def lpos_args(t):
    key, element, rank, count, maxlen = t
    argv = [b"LPOS", key, element]
    if rank is not None:
        argv += [b"RANK", b"%d" % rank]
    if count is not None:
        argv += [b"COUNT", b"%d" % count]
    if maxlen is not None:
        argv += [b"MAXLEN", b"%d" % maxlen]
    return argv


PUSH = st.tuples(st.sampled_from([b"LPUSH", b"RPUSH", b"LPUSHX", b"RPUSHX"]), keys, many).map(
    lambda t: flat(*t))
LREM = st.tuples(st.just(b"LREM"), keys, st.integers(-3, 3).map(lambda n: b"%d" % n), elements).map(list)
COMMANDS = st.one_of(
    PUSH, PUSH, PUSH, LREM,
    st.tuples(st.sampled_from([b"LPOP", b"RPOP"]), keys).map(list),
    st.tuples(st.sampled_from([b"LPOP", b"RPOP"]), keys, st.integers(-1, 4).map(lambda n: b"%d" % n)).map(list),
    st.tuples(st.sampled_from([b"LLEN", b"DEL"]), keys).map(list),
    st.tuples(st.sampled_from([b"LRANGE", b"LTRIM"]), keys, num, num).map(list),
    st.tuples(st.just(b"LINDEX"), keys, num).map(list),
    st.tuples(st.just(b"LSET"), keys, num, elements).map(list),
    st.tuples(st.just(b"LINSERT"), keys, st.sampled_from([b"BEFORE", b"AFTER"]), elements, elements).map(list),
    LREM,
    st.tuples(keys, elements, st.one_of(st.none(), st.integers(-3, 3).filter(bool)),
              st.one_of(st.none(), st.integers(0, 3)), st.one_of(st.none(), st.integers(0, 5))).map(lpos_args),
    st.tuples(st.just(b"LMOVE"), keys, keys, where, where).map(list),
    st.tuples(st.just(b"RPOPLPUSH"), keys, keys).map(list),
    st.tuples(st.just(b"BLMOVE"), keys, keys, where, where, st.just(b"0")).map(list),
    st.tuples(st.lists(keys, min_size=1, max_size=3), where, st.one_of(st.none(), st.integers(1, 4))).map(
        lambda t: flat(b"LMPOP", b"%d" % len(t[0]), t[0], t[1], [] if t[2] is None else [b"COUNT", b"%d" % t[2]])),
    st.tuples(st.sampled_from([b"BLPOP", b"BRPOP"]), st.lists(keys, min_size=1, max_size=3)).map(
        lambda t: flat(t[0], t[1], b"0")),
    st.just([b"SET", b"str", b"v"]),
)


class Model:
    def __init__(self) -> None:
        self.data: dict[bytes, object] = {}

    def get(self, key: bytes) -> list | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, list):
            raise CommandError(WRONGTYPE)
        return value

    def put(self, key: bytes, value: list) -> None:
        if value:
            self.data[key] = value
        else:
            self.data.pop(key, None)


def span(size: int, start: int, stop: int) -> tuple[int, int]:
    """LRANGE/LTRIM's range as a Python slice [lo, hi)."""
    if start < 0:
        start += size
    if stop < 0:
        stop += size
    start = max(start, 0)
    if start > stop or start >= size:
        return 0, 0
    return start, min(stop, size - 1) + 1


def pop(model: Model, key: bytes, lst: list, side: bytes, count: int) -> list:
    taken = []
    for _ in range(min(count, len(lst))):
        taken.append(lst.pop(0) if side == b"LEFT" else lst.pop())
    model.put(key, lst)
    return taken


def apply(model: Model, argv: list):
    name, args = argv[0], argv[1:]
    if name == b"SET":
        model.data[args[0]] = args[1]
        return OK
    if name == b"DEL":
        return 1 if model.data.pop(args[0], None) is not None else 0
    if name in (b"LPUSH", b"RPUSH", b"LPUSHX", b"RPUSHX"):
        lst = model.get(args[0])
        if lst is None:
            if name.endswith(b"X"):
                return 0
            lst = []
        for element in args[1:]:
            if name.startswith(b"L"):
                lst.insert(0, element)
            else:
                lst.append(element)
        model.put(args[0], lst)
        return len(lst)
    if name in (b"LPOP", b"RPOP"):
        side = b"LEFT" if name == b"LPOP" else b"RIGHT"
        count = int(args[1]) if len(args) == 2 else None
        if count is not None and count < 0:
            raise CommandError(POSITIVE)
        lst = model.get(args[0])
        if lst is None:
            return NULL_ARRAY if count is not None else None
        if count is None:
            return pop(model, args[0], lst, side, 1)[0]
        return pop(model, args[0], lst, side, count) if count else []
    if name == b"LLEN":
        return len(model.get(args[0]) or ())
    if name == b"LRANGE":
        lst = model.get(args[0]) or []
        lo, hi = span(len(lst), int(args[1]), int(args[2]))
        return lst[lo:hi]
    if name == b"LTRIM":
        lst = model.get(args[0])
        if lst is not None:
            lo, hi = span(len(lst), int(args[1]), int(args[2]))
            model.put(args[0], lst[lo:hi])
        return OK
    if name == b"LINDEX":
        lst = model.get(args[0])
        if lst is None:
            return None
        i = int(args[1])
        i = i + len(lst) if i < 0 else i
        return lst[i] if 0 <= i < len(lst) else None
    if name == b"LSET":
        lst = model.get(args[0])
        if lst is None:
            raise CommandError("ERR no such key")
        i = int(args[1])
        i = i + len(lst) if i < 0 else i
        if not 0 <= i < len(lst):
            raise CommandError("ERR index out of range")
        lst[i] = args[2]
        return OK
    if name == b"LINSERT":
        lst = model.get(args[0])
        if lst is None:
            return 0
        if args[2] not in lst:
            return -1
        i = lst.index(args[2])
        lst.insert(i + (args[1] == b"AFTER"), args[3])
        return len(lst)
    if name == b"LREM":
        count, element = int(args[1]), args[2]
        lst = model.get(args[0])
        if lst is None:
            return 0
        order = list(range(len(lst))) if count >= 0 else list(range(len(lst) - 1, -1, -1))
        doomed = [i for i in order if lst[i] == element][: abs(count) or None]
        model.put(args[0], [e for i, e in enumerate(lst) if i not in doomed])
        return len(doomed)
    if name == b"LPOS":
        opts = dict(zip(args[2::2], (int(v) for v in args[3::2])))
        rank, count, maxlen = opts.get(b"RANK", 1), opts.get(b"COUNT"), opts.get(b"MAXLEN", 0)
        lst = model.get(args[0])
        if lst is None:
            return [] if count is not None else None
        order = list(range(len(lst))) if rank > 0 else list(range(len(lst) - 1, -1, -1))
        if maxlen:
            order = order[:maxlen]
        found = [i for i in order if lst[i] == args[1]][abs(rank) - 1:]
        if count is None:
            return found[0] if found else None
        return found[:count] if count else found
    if name in (b"LMOVE", b"RPOPLPUSH", b"BLMOVE"):
        src, dst = args[0], args[1]
        wherefrom, whereto = (args[2], args[3]) if name != b"RPOPLPUSH" else (b"RIGHT", b"LEFT")
        source = model.get(src)
        if source is None:
            return BlockOn if name == b"BLMOVE" else None
        target = model.get(dst)
        [value] = pop(model, src, source, wherefrom, 1)
        target = model.get(dst)  # (src may be dst, now emptied)
        target = [] if target is None else target
        target.insert(0, value) if whereto == b"LEFT" else target.append(value)
        model.put(dst, target)
        return value
    if name == b"LMPOP":
        numkeys = int(args[0])
        names, side = args[1:1 + numkeys], args[1 + numkeys]
        count = int(args[-1]) if len(args) > 2 + numkeys else 1
        for key in names:
            lst = model.get(key)
            if lst:
                return [key, pop(model, key, lst, side, count)]
        return NULL_ARRAY
    if name in (b"BLPOP", b"BRPOP"):
        side = b"LEFT" if name == b"BLPOP" else b"RIGHT"
        for key in args[:-1]:
            lst = model.get(key)
            if lst:
                return [key, pop(model, key, lst, side, 1)[0]]
        return BlockOn
    raise AssertionError(argv)


def run(node: Node, argv: list):
    try:
        return node(*argv)
    except CommandError as exc:
        return exc


def snapshot(node: Node) -> dict:
    return {k: list(v) if isinstance(v, deque) else v for k, v in node.db.data.items()}


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(COMMANDS, min_size=20, max_size=60))
def test_list_commands_match_the_model(commands):
    node, replica, model = Node(), Node(), Model()
    for argv in commands:
        node.session.propagate = None
        got = run(node, argv)
        if lookup(argv[0].lower()).is_write:
            for command in node.session.propagate or [argv]:
                run(replica, command)
        try:
            expected = apply(model, argv)
        except CommandError as exc:
            assert isinstance(got, CommandError) and got.message == exc.message, (argv, got)
            continue
        if expected is BlockOn:
            assert isinstance(got, BlockOn), (argv, got)
            continue
        assert not isinstance(got, CommandError), (argv, got.message)
        assert got == expected or (got is NULL_ARRAY and expected is NULL_ARRAY), (argv, got, expected)
        assert snapshot(node) == model.data, (argv, snapshot(node), model.data)
    assert snapshot(replica) == model.data
