"""ZSet against a plain sorted list of (score, member), with a tiny block
size so that splits, merges and multi-block ranges all happen."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from ringcache.storage import zset as zset_module
from ringcache.storage.zset import ZSet


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(zset_module, "LOAD", 4)


def check(z: ZSet, model: dict) -> None:
    ordered = sorted((s, m) for m, s in model.items())
    assert len(z) == len(model)
    assert list(z.items()) == [(m, s) for s, m in ordered]
    assert all(z._members), "no empty block"
    assert all(len(b) <= 2 * zset_module.LOAD for b in z._members)
    assert z._offset(len(z._members)) == len(model)
    assert z._maxes == [b[-1] for b in z._scores]
    for rank, (s, m) in enumerate(ordered):
        assert z.rank(m) == rank
        assert z.at(rank) == (m, s)
        assert z.score(m) == s


def test_empty():
    z = ZSet()
    assert len(z) == 0 and list(z.items()) == []
    assert z.rank(b"a") is None and z.remove(b"a") is None
    assert z.slice(0, 0) == ([], [])
    assert z.score_rank(1.0, False) == 0 and z.lex_rank(b"a", True) == 0


def test_add_update_remove_random():
    rng = random.Random(7)
    z, model = ZSet(), {}
    for step in range(3000):
        member = b"m%d" % rng.randrange(60)
        if rng.random() < 0.6:
            score = float(rng.randrange(-5, 5))
            assert z.add(member, score) == model.get(member)
            model[member] = score
        else:
            assert z.remove(member) == model.pop(member, None)
        if step % 50 == 0:
            check(z, model)
    check(z, model)


def test_equal_scores_across_blocks():
    # A lex-style set: every score equal, so blocks are told apart by member.
    rng = random.Random(11)
    z, model = ZSet(), {}
    names = [b"n%03d" % i for i in range(80)]
    for step in range(600):
        member = rng.choice(names)
        if rng.random() < 0.7:
            z.add(member, 0.0)
            model[member] = 0.0
        else:
            z.remove(member)
            model.pop(member, None)
    check(z, model)
    for member in names[::7]:
        assert z.lex_rank(member, False) == sum(1 for m in model if m < member)


def test_ranges_and_bounds():
    pairs = [(b"m%03d" % i, float(i // 3)) for i in range(100)]
    z = ZSet.from_items(pairs)
    ordered = sorted((s, m) for m, s in pairs)
    for score in [-1.0, 0.0, 5.0, 5.5, 33.0, 40.0]:
        assert z.score_rank(score, False) == sum(1 for s, _ in ordered if s < score)
        assert z.score_rank(score, True) == sum(1 for s, _ in ordered if s <= score)
    for member in [b"", b"m000", b"m050", b"m0505", b"m099", b"z"]:
        assert z.lex_rank(member, False) == sum(1 for _, m in ordered if m < member)
        assert z.lex_rank(member, True) == sum(1 for _, m in ordered if m <= member)
    for start, stop in [(0, 100), (3, 17), (50, 51), (99, 100), (10, 10)]:
        members, scores = z.slice(start, stop)
        assert list(zip(scores, members)) == ordered[start:stop]
        rmembers, rscores = z.slice_rev(start, stop)
        assert list(zip(rscores, rmembers)) == ordered[start:stop][::-1]


def test_remove_slice_random():
    rng = random.Random(3)
    for _ in range(200):
        n = rng.randrange(1, 60)
        model = {b"k%d" % i: float(rng.randrange(10)) for i in range(n)}
        z = ZSet.from_items(model.items())
        ordered = sorted((s, m) for m, s in model.items())
        start = rng.randrange(n)
        stop = rng.randrange(start, n + 1)
        members, scores = z.remove_slice(start, stop)
        assert list(zip(scores, members)) == ordered[start:stop]
        for m in members:
            del model[m]
        check(z, model)
        # and the structure keeps working after the compaction
        z.add(b"new", 4.5)
        model[b"new"] = 4.5
        check(z, model)


def test_pop_from_either_end():
    rng = random.Random(5)
    model = {b"k%d" % i: float(rng.randrange(20)) for i in range(80)}
    z = ZSet.from_items(model.items())
    while model:
        ordered = sorted((s, m) for m, s in model.items())
        last = rng.random() < 0.5
        score, member = ordered[-1] if last else ordered[0]
        assert z.pop(last) == (member, score)
        del model[member]
        check(z, model)
        if rng.random() < 0.2:  # and it goes on working between pops
            z.add(b"n%d" % rng.randrange(1000), float(rng.randrange(20)))
            model = dict(z.items())
    assert not z._members


def test_small_and_large_score_changes():
    # ZINCRBY-style steps, big jumps across blocks, equal scores ordered by
    # member, and -0 stored as 0.
    rng = random.Random(9)
    model = {b"p%03d" % i: float(i // 3) for i in range(60)}
    z = ZSet.from_items(model.items())
    for _ in range(400):
        member = rng.choice(sorted(model))
        step = rng.choice([1.0, -1.0, 0.5, 30.0, -30.0, -model[member]])
        model[member] = model[member] + step
        z.add(member, model[member])
        check(z, model)
    z.add(b"p000", -0.0)
    model[b"p000"] = 0.0
    check(z, model)


def test_copy_is_independent():
    z = ZSet.from_items([(b"a", 1.0), (b"b", 2.0)])
    c = z.copy()
    c.add(b"c", 3.0)
    c.remove(b"a")
    assert list(z.items()) == [(b"a", 1.0), (b"b", 2.0)]
    assert list(c.items()) == [(b"b", 2.0), (b"c", 3.0)]


def test_negative_zero_is_stored_as_zero():
    z = ZSet()
    z.add(b"a", -0.0)
    z.add(b"b", 0.0)
    z.add(b"b", -0.0)
    assert str(z.score(b"a")) == "0.0" and str(z.score(b"b")) == "0.0"
    assert str(ZSet.from_items([(b"c", -0.0)]).score(b"c")) == "0.0"


def test_scores_share_objects_with_dict():
    z = ZSet()
    for i in range(50):
        z.add(b"m%d" % i, float(i % 7))
    for members, scores in zip(z._members, z._scores):
        for m, s in zip(members, scores):
            assert z.dict[m] is s


ops = st.lists(st.tuples(st.sampled_from(["add", "remove", "pop"]),
                         st.integers(0, 30), st.integers(-3, 3)), max_size=200)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_property_against_model(operations):
    z, model = ZSet(), {}
    for op, n, score in operations:
        member = b"x%d" % n
        if op == "add":
            z.add(member, float(score))
            model[member] = float(score)
        elif op == "remove":
            z.remove(member)
            model.pop(member, None)
        else:
            count = n % 5
            ordered = sorted((s, m) for m, s in model.items())
            members, _ = z.remove_slice(0, min(count, len(model)))
            assert members == [m for _, m in ordered[:count]]
            for m in members:
                del model[m]
    check(z, model)
