"""The compiled twins of ZSet's hot internals (ringcache/_speedups.pyx,
"sorted sets": _zc_insert, _zc_remove, _zc_pop, _zc_slice, _zc_new, each
with its fallback to the ZSet method) against the pure ZSet.

Two sets get the same random operations, one through the compiled
internals and one through ZSet's own methods; after every step their
fields must be equal (the dict, the blocks, _maxes, the Fenwick tree) and
the invariants of storage/zset.py's header must hold. Block sizes from
tiny (splits, merges and runs of equal scores across blocks at every few
steps: the fallbacks) to the real one (the compiled paths).

The extension is imported directly, so this runs in the suite's pure run
too (like tests/wire/test_accelerated.py, it fails if the extension is
not built).
"""

from __future__ import annotations

import math
import random

import pytest

from ringcache import _speedups  # type: ignore[attr-defined]
from ringcache.storage import zset as zset_module
from ringcache.storage.zset import ZSet

MEMBERS = [b"", b"a", b"ab", b"a\x00", b"b", b"\xff", b"m"] + [b"m%d" % i for i in range(120)]
SCORES = [0.0, -0.0, 1.0, -1.0, 2.5, math.inf, -math.inf, 1e300, -1e-300, 7.0]


def fields(z: ZSet) -> tuple:
    return z.dict, z._scores, z._members, z._maxes, z._tree


def check(z: ZSet) -> None:
    """The invariants of storage/zset.py's header."""
    assert len(z.dict) == sum(map(len, z._members)) == z._offset(len(z._members))
    assert all(z._members) and len(z._scores) == len(z._members)
    pairs = [(s, m) for scores, members in zip(z._scores, z._members) for s, m in zip(scores, members)]
    assert pairs == sorted(pairs) and len({m for _, m in pairs}) == len(pairs)
    for scores, members in zip(z._scores, z._members):
        assert all(s is z.dict[m] for s, m in zip(scores, members))
        assert all(len(block) <= 2 * zset_module.LOAD for block in (scores, members))
    assert z._maxes == [scores[-1] for scores in z._scores]
    assert not any(math.isnan(s) or math.copysign(1, s) < 0 and s == 0 for s, _ in pairs)


@pytest.mark.parametrize("load", [2, 4, 16, zset_module.LOAD])
@pytest.mark.parametrize("seed", range(4))
def test_same_changes_as_the_pure_set(monkeypatch, load, seed):
    monkeypatch.setattr(zset_module, "LOAD", load)
    rng = random.Random(seed)
    compiled, pure = ZSet(), ZSet()
    fallbacks = {"_insert": 0, "_remove": 0, "pop": 0}  # ZSet methods run for `compiled`
    for name in fallbacks:
        def counted(self, *args, _name=name, _method=getattr(ZSet, name)):
            if self is compiled:
                fallbacks[_name] += 1
            return _method(self, *args)
        monkeypatch.setattr(ZSet, name, counted)
    lex = seed % 2  # every score equal: blocks told apart by member
    for step in range(2500):
        roll = rng.random()
        if roll < 0.6 or not pure:
            member = rng.choice(MEMBERS)
            score = 3.0 if lex else (rng.choice(SCORES) if rng.random() < 0.3 else float(rng.randrange(-20, 20)))
            assert _speedups.zset_add(compiled, member, score) == pure.add(member, score)
        elif roll < 0.8:
            last = rng.random() < 0.5
            assert _speedups.zset_pop(compiled, last) == pure.pop(last)
        else:
            size = len(pure)
            start = rng.randrange(size)
            stop = rng.randrange(start + 1, size + 1)
            assert _speedups.zset_members(compiled, start, stop) == pure.slice(start, stop)[0]
        assert fields(compiled) == fields(pure), step
        if step % 25 == 0:
            check(compiled)
    check(compiled)
    changes = 2500  # (more than the fallbacks: each add is one or two changes)
    assert 0 < sum(fallbacks.values()) < changes / (2 if load >= 16 else 1.05), fallbacks


@pytest.mark.parametrize("load", [2, 4, 16])
@pytest.mark.parametrize("lex", [False, True])
def test_a_growing_set_stays_compiled(monkeypatch, load, lex):
    """Inserts and moves into one set that grows (redis-benchmark's ZADD):
    block splits and scores equal to a block's last score (ZSet._locate's
    member search) are done by _zc_insert itself, with the same fields as
    the pure set's after every step. (A move's removal may still leave a
    block under LOAD // 2: that merge is ZSet._remove's.)"""
    monkeypatch.setattr(zset_module, "LOAD", load)
    rng = random.Random(load)
    compiled, pure = ZSet(), ZSet()
    compiled.add(b"m", 1.0)  # (the first member: the set is not empty below)
    pure.add(b"m", 1.0)

    def refused(self, *args):
        assert self is not compiled, "a ZSet method ran for the compiled set"
    monkeypatch.setattr(ZSet, "_insert", lambda self, *args, _m=ZSet._insert: (
        refused(self), _m(self, *args))[1])
    for step in range(1500):
        member = b"m%d" % rng.randrange(400)
        score = 3.0 if lex else float(rng.randrange(30))
        assert _speedups.zset_add(compiled, member, score) == pure.add(member, score)
        assert fields(compiled) == fields(pure), step
    check(compiled)
    assert len(compiled._members) > 10  # (it split many times)


def test_a_new_set():
    for score in SCORES:
        compiled, pure = _speedups.zset_new(b"m", score), ZSet()
        pure.add(b"m", score)
        assert fields(compiled) == fields(pure)
        check(compiled)
        assert math.copysign(1, compiled.score(b"m")) == 1 or score != 0  # (-0 stored as 0)
        compiled.add(b"n", 1.5)  # and the pure methods go on working on it
        check(compiled)


def test_format_double_as_the_python_one():
    from ringcache.protocol.resp import _LLONG_HALF, format_double

    rng = random.Random(1)
    values = [0.0, -0.0, math.inf, -math.inf, math.nan, 1.0, -1.0, 0.5, 1e-7, 1.5e-7, 123456.0,
              _LLONG_HALF, -_LLONG_HALF, math.nextafter(_LLONG_HALF, math.inf),
              -math.nextafter(_LLONG_HALF, math.inf), 2.0 ** 63, 1e300, 5e-324, 0.1, 2.675]
    values += [float(rng.randrange(-10 ** 18, 10 ** 18)) for _ in range(2000)]
    values += [rng.uniform(-1e6, 1e6) for _ in range(2000)]
    values += [rng.randrange(-1000, 1000) / 8 for _ in range(500)]
    for value in values:
        assert _speedups.format_double(value) == format_double(value), value
