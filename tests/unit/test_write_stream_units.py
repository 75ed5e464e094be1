"""WriteStream (server/write_stream.py) on its own, and as the dispatcher
feeds it in process: units, transactions, sinks coming and going, and
nothing at all when no sink listens."""

from __future__ import annotations

import pytest

from ringcache.commands import load_all
from ringcache.server.server import Server
from ringcache.server.session import Session
from ringcache.server.write_stream import WriteStream
from ringcache.storage.clock import ManualClock


class Sink:
    def __init__(self) -> None:
        self.units: list = []

    def on_write(self, db: int, unit: list) -> None:
        self.units.append((db, unit))


class Buffered(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1


def test_units_reach_every_sink_in_order_and_active_follows_the_sinks():
    stream = WriteStream()
    changes: list[bool] = []
    stream.on_active_change.append(changes.append)
    assert not stream.active
    a, b = Sink(), Buffered()
    stream.add_sink(a)
    stream.add_sink(b)
    stream.add_sink(a)  # (once)
    assert stream.active and changes == [True]
    stream.emit(0, [[b"SET", b"k", b"v"]])
    stream.emit(3, [[b"MULTI"], [b"SREM", b"s", b"a"], [b"SREM", b"s", b"b"], [b"EXEC"]])
    assert a.units == b.units == [(0, [[b"SET", b"k", b"v"]]),
                                  (3, [[b"MULTI"], [b"SREM", b"s", b"a"], [b"SREM", b"s", b"b"],
                                       [b"EXEC"]])]
    stream.flush()
    assert b.flushes == 1
    stream.remove_sink(a)
    assert stream.active and changes == [True]
    stream.remove_sink(b)
    stream.remove_sink(b)
    assert not stream.active and changes == [True, False]
    stream.emit(0, [[b"DEL", b"k"]])  # nobody listens: dropped
    assert len(a.units) == 2


def test_a_transaction_is_one_unit_that_starts_and_ends_in_its_database():
    stream = WriteStream()
    sink = Sink()
    stream.add_sink(sink)
    stream.begin_transaction()
    stream.emit(2, [[b"INCR", b"a"]])
    stream.emit(2, [[b"MULTI"], [b"SREM", b"s", b"x"], [b"SREM", b"s", b"y"], [b"EXEC"]])
    stream.emit(5, [[b"DEL", b"expired"]])
    stream.emit(5, [[b"SET", b"b", b"1"]])
    assert sink.units == []  # (nothing before EXEC ends)
    stream.end_transaction()
    assert sink.units == [(2, [[b"MULTI"], [b"INCR", b"a"], [b"SREM", b"s", b"x"],
                               [b"SREM", b"s", b"y"], [b"SELECT", b"5"], [b"DEL", b"expired"],
                               [b"SET", b"b", b"1"], [b"SELECT", b"2"], [b"EXEC"]])]
    stream.begin_transaction()  # wrote nothing: no unit
    stream.end_transaction()
    stream.begin_transaction()
    stream.emit(0, [[b"SET", b"k", b"v"]])
    stream.remove_sink(sink)  # (CONFIG SET appendonly no inside the transaction)
    stream.end_transaction()
    assert len(sink.units) == 1
    stream.emit(0, [[b"SET", b"k", b"v"]])  # the transaction is over
    assert len(sink.units) == 1


class Node:
    def __init__(self) -> None:
        load_all()
        self.clock = ManualClock()
        self.server = Server(clock=self.clock)
        self.session = Session(self.server, 1, "127.0.0.1:1", "127.0.0.1:2")
        self.server.accept_client(self.session)

    def __call__(self, *args):
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return self.server.dispatcher.execute(self.session, argv)


def test_the_dispatcher_emits_each_write_once_as_its_effect():
    node = Node()
    sink = Sink()
    node.server.write_stream.add_sink(sink)
    assert node.server.dispatcher.propagating
    node("SET", "a", "1", "EX", 100)
    node("SET", "n", "1", "NX")
    node("SET", "n", "2", "NX")  # changed nothing: not emitted
    node("GET", "a")
    node("MULTI")
    node("INCR", "n")
    node("SELECT", 1)
    node("SADD", "s", "x")
    node("EXEC")
    node.clock.advance(200_000)
    node("SELECT", 0)
    node("GET", "a")  # expired: a DEL (lazy expiry)
    at = int(node.clock.ms()) - 200_000 + 100_000
    assert sink.units == [
        (0, [[b"SET", b"a", b"1", b"PXAT", b"%d" % at]]),
        (0, [[b"SET", b"n", b"1", b"NX"]]),
        (0, [[b"MULTI"], [b"INCR", b"n"], [b"SELECT", b"1"], [b"SADD", b"s", b"x"],
             [b"SELECT", b"0"], [b"EXEC"]]),
        (0, [[b"DEL", b"a"]]),
    ]


def test_with_no_sink_nothing_is_built_or_emitted(monkeypatch):
    node = Node()

    def refuse(*args):
        raise AssertionError("emitted with no sink")

    stream = node.server.write_stream
    monkeypatch.setattr(stream, "emit", refuse)
    monkeypatch.setattr(stream, "begin_transaction", refuse)
    assert not node.server.dispatcher.propagating
    node("SET", "a", "1", "PX", 10)
    node("MULTI")
    node("SPOP", "s")
    node("EXEC")
    node.clock.advance(20)
    assert node("GET", "a") is None  # expired, no DEL built
    node("SET", "c", "x")
    node.server.config.set("maxmemory", "1")
    node.server.config.set("maxmemory-policy", "allkeys-random")
    # (setting maxmemory evicted c)
    assert node.server.stats.evicted_keys >= 1 and node.server.stats.expired_keys == 1


@pytest.mark.parametrize("lazy", ["no", "yes"])
def test_expiry_and_eviction_are_del_or_unlink_under_lazyfree(lazy):
    node = Node()
    sink = Sink()
    node.server.write_stream.add_sink(sink)
    node.server.config.set("lazyfree-lazy-expire", lazy)
    node.server.config.set("lazyfree-lazy-eviction", lazy)
    node("SET", "a", "1", "PX", 10)
    node.clock.advance(20)
    node("GET", "a")
    node("SET", "b", "1")
    del sink.units[:]
    node.server.config.set("maxmemory", "1")
    node.server.config.set("maxmemory-policy", "allkeys-random")
    name = b"UNLINK" if lazy == "yes" else b"DEL"
    assert sink.units == [(0, [[name, b"b"]])]  # evicted once (one DEL, not two)
