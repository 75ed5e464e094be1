"""The checker finds what was planted in a history (and nothing in a clean
one): a lost unique write, a lost counter increment, a lost register write,
a read that went backwards, and the longest gap between successful writes."""

from __future__ import annotations

from faults.checker import accepted_by, backwards_reads, lost_writes, unavailability
from faults.history import FAIL, INFO, OK, History, Op


def op(f, key, value, start, end, outcome=OK, replicated=None, node="a:1", slot=0):
    return Op(0, f, key, value, start, end, outcome, slot=slot, node=node, replicated=replicated)


def clean_history() -> History:
    h = History()
    for i, o in enumerate([
        op("set", "u:0:1", 1, 0.0, 0.1, replicated=True),
        op("incr", "c:0:0", 1, 0.2, 0.3),
        op("set", "r:0:0", 3, 0.4, 0.5),
        op("get", "r:0:0", 3, 0.6, 0.7),
        op("get", "c:0:0", 1, 0.8, 0.9),
        op("incr", "c:0:0", None, 1.0, 2.0, outcome=INFO),   # unknown: may have applied
        op("set", "u:0:6", 6, 2.1, 2.2, outcome=FAIL),       # refused: never counted
        op("incr", "c:0:0", 3, 2.3, 2.4),                    # the unknown one did apply
    ]):
        h.add(o)
    return h


FINAL = {"u:0:1": 1, "c:0:0": 3, "r:0:0": 3, "u:0:6": None}


def test_clean_history_has_no_losses_and_no_backwards_reads():
    h = clean_history()
    losses = lost_writes(h, FINAL)
    assert (losses.acked, losses.lost, losses.acked_replicated) == (4, 0, 1)
    assert backwards_reads(h) == []


def test_planted_lost_unique_write_counted_also_among_replicated():
    losses = lost_writes(clean_history(), {**FINAL, "u:0:1": None})
    assert (losses.lost, losses.lost_replicated) == (1, 1)
    assert "u:0:1" in losses.examples[0]


def test_planted_lost_increment_is_found_even_when_later_increments_mask_it():
    h = clean_history()
    # a failover dropped the INCR that answered 3: the next one answers 3 again
    h.add(op("incr", "c:0:0", 3, 3.0, 3.1))
    h.add(op("incr", "c:0:0", 4, 3.2, 3.3))
    losses = lost_writes(h, {**FINAL, "c:0:0": 4})
    assert losses.lost == 1
    assert "incr c:0:0 3" in losses.examples[0]
    backwards = backwards_reads(h)
    assert len(backwards) == 1 and backwards[0].known == 3 and backwards[0].op.start == 3.0


def test_planted_backwards_read_on_a_register():
    h = clean_history()
    h.add(op("get", "r:0:0", 2, 3.0, 3.1))  # 3 was acknowledged and read before
    found = backwards_reads(h)
    assert [(b.op.key, b.known) for b in found] == [("r:0:0", 3)]
    # the acknowledged write of 3 is lost too: a later observation is below it
    assert lost_writes(h, FINAL).lost == 1


def test_concurrent_read_is_not_backwards():
    h = History()
    h.add(op("set", "r:0:0", 1, 0.0, 0.1))
    h.add(op("set", "r:0:0", 2, 0.2, 0.5))
    h.add(op("get", "r:0:0", 1, 0.3, 0.4))  # began before 2 was acknowledged
    assert backwards_reads(h) == []
    assert lost_writes(h, {"r:0:0": 2}).lost == 0


def test_unavailability_is_the_longest_gap_around_the_fault():
    h = History()
    for t in (0.0, 0.1, 0.2, 1.7, 1.8, 2.5):
        h.add(op("set", f"u:0:{t}", 1, t - 0.01, t, slot=1))
    h.add(op("set", "u:1:x", 1, 1.0, 1.0, slot=2))        # another shard, still writing
    h.add(op("set", "u:1:y", 1, 0.5, 1.2, outcome=FAIL, slot=1))
    assert unavailability(h, since=0.15, until=2.6, slots={1}) == 1.5  # 0.2 -> 1.7
    assert round(unavailability(h, since=0.15, until=2.6), 6) == 0.8    # any shard: 0.2 -> 1.0
    assert unavailability(h, since=3.0, until=6.0, slots={1}) == 3.5    # none after: to the end
    # a success right after the fault and nothing more: the gap runs to the end
    assert unavailability(h, since=2.4, until=6.0, slots={1}) == 3.5    # 2.5 -> 6.0


def test_accepted_by_a_node_after_a_time():
    h = clean_history()
    h.add(op("set", "r:0:0", 9, 5.0, 5.1, node="b:2"))
    assert [o.value for o in accepted_by(h, "b:2", 4.0)] == [9]
    assert accepted_by(h, "b:2", 6.0) == []


def test_a_write_the_killed_node_answered_is_no_resumption():
    from faults.trial import writes_resumed

    h = History()
    h.add(op("set", "u:0:1", 1, 1.01, 1.02, slot=1, node="a:1"))  # sent just after the kill
    assert writes_resumed(h, 1.0, {1})
    assert not writes_resumed(h, 1.0, {1}, {"a:1"})
    h.add(op("set", "u:0:2", 1, 2.0, 2.1, slot=1, node="b:2"))  # the promoted replica
    assert writes_resumed(h, 1.0, {1}, {"a:1"})
