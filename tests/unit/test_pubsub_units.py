"""The pub/sub hub, keyspace notifications and the tracking table, in
process: fake sessions that record what is pushed to them, no sockets."""

from __future__ import annotations

from typing import Any

import pytest

from ringcache.config import (
    NOTIFY_ALL,
    NOTIFY_GENERIC,
    NOTIFY_KEYEVENT,
    NOTIFY_KEYSPACE,
    NOTIFY_STRING,
    keyspace_events_flags,
)
from ringcache.pubsub.hub import CHANNEL, PATTERN, SHARD, PubSubHub
from ringcache.pubsub.notifications import KeyspaceHooks, effective_flags, notify
from ringcache.pubsub.tracking import Tracking


class FakeSession:
    def __init__(self, client_id: int, protocol: int = 2) -> None:
        self.id = client_id
        self.protocol = protocol
        self.subscriptions = 0
        self.gate_updates = 0
        self.pushed: list[bytes] = []

    def push(self, data: bytes) -> None:
        self.pushed.append(data)

    def update_gate(self) -> None:
        self.gate_updates += 1

    def received(self) -> bytes:
        data = b"".join(self.pushed)
        self.pushed.clear()
        return data


def message(channel: bytes, payload: bytes, head: bytes = b"*") -> bytes:
    return head + b"3\r\n$7\r\nmessage\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
        len(channel), channel, len(payload), payload)


# -- the hub ---------------------------------------------------------------------


def test_subscribe_counts_and_gate():
    hub = PubSubHub()
    s = FakeSession(1)
    assert hub.subscribe(s, [b"a", b"a", b"b"], CHANNEL) == [(b"a", 1), (b"a", 1), (b"b", 2)]
    assert s.subscriptions == 2 and s.gate_updates == 1  # crossed 0 once
    assert hub.subscribe(s, [b"p*"], PATTERN) == [(b"p*", 3)]
    # Shard channels count apart in their replies, but in the total too.
    assert hub.subscribe(s, [b"s"], SHARD) == [(b"s", 1)]
    assert s.subscriptions == 4 and hub.counts(s) == (2, 1, 1)
    assert hub.unsubscribe(s, [b"zz", b"a"], CHANNEL) == [(b"zz", 3), (b"a", 2)]
    assert hub.unsubscribe(s, None, CHANNEL) == [(b"b", 1)]
    assert hub.unsubscribe(s, None, CHANNEL) == [(None, 1)]
    assert hub.unsubscribe(s, None, PATTERN) == [(b"p*", 0)]
    assert hub.unsubscribe(s, None, SHARD) == [(b"s", 0)]
    assert s.subscriptions == 0 and s.gate_updates == 2
    assert not hub.clients and not hub.channels and not hub.patterns and not hub.shard_channels


def test_unsubscribe_without_any_subscription():
    hub = PubSubHub()
    s = FakeSession(1)
    assert hub.unsubscribe(s, None, PATTERN) == [(None, 0)]
    assert hub.unsubscribe(s, [b"x"], CHANNEL) == [(b"x", 0)]
    assert s.gate_updates == 0 and not hub.clients


def test_reply_encoding_per_protocol():
    s2, s3 = FakeSession(1, 2), FakeSession(2, 3)
    results = [(b"ch", 1), (None, 0)]
    assert PubSubHub.encode_replies(s2, CHANNEL, False, results) == (
        b"*3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n")
    assert PubSubHub.encode_replies(s3, SHARD, True, [(b"ch", 1)]) == (
        b">3\r\n$10\r\nssubscribe\r\n$2\r\nch\r\n:1\r\n")
    assert PubSubHub.encode_replies(s3, PATTERN, False, [(None, 0)]) == (
        b">3\r\n$12\r\npunsubscribe\r\n_\r\n:0\r\n")


def test_publish_counts_and_shapes_without_a_loop():
    hub = PubSubHub()  # no schedule: delivered at once
    a, b, c = FakeSession(1, 2), FakeSession(2, 3), FakeSession(3, 2)
    hub.subscribe(a, [b"news"], CHANNEL)
    hub.subscribe(b, [b"news"], CHANNEL)
    hub.subscribe(c, [b"n*", b"*s"], PATTERN)
    assert hub.publish(b"news", b"hi") == 4  # c matches through two patterns
    assert a.received() == message(b"news", b"hi")
    assert b.received() == message(b"news", b"hi", b">")
    assert c.received() == (b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
                            b"*4\r\n$8\r\npmessage\r\n$2\r\n*s\r\n$4\r\nnews\r\n$2\r\nhi\r\n")
    assert hub.publish(b"nothing", b"x") == 1 and c.received()
    assert hub.publish(b"zzz", b"x") == 0


def test_shard_channels_are_a_separate_namespace():
    hub = PubSubHub()
    a, b = FakeSession(1), FakeSession(2)
    hub.subscribe(a, [b"ch"], SHARD)
    hub.subscribe(b, [b"*"], PATTERN)
    assert hub.publish(b"ch", b"m") == 1  # only the pattern
    assert a.received() == b""
    assert hub.spublish(b"ch", b"m") == 1  # patterns never see shard messages
    assert a.received() == b"*3\r\n$8\r\nsmessage\r\n$2\r\nch\r\n$1\r\nm\r\n"
    assert b.received().count(b"pmessage") == 1


def test_one_encoding_per_protocol_per_publish():
    hub = PubSubHub()
    sessions = [FakeSession(i, 2 + i % 2) for i in range(6)]
    for s in sessions:
        hub.subscribe(s, [b"c"], CHANNEL)
    calls = []
    hub.schedule = calls.append
    hub.publish(b"c", b"payload")
    assert len(calls) == 1  # one flush for the whole publish
    queued = [hub.pending[s][0] for s in sessions]
    assert len({id(q) for q in queued[0::2]}) == 1  # RESP2 subscribers share one object
    assert len({id(q) for q in queued[1::2]}) == 1  # and RESP3 ones another


def run_loop(scheduled: list) -> int:
    """Run what was scheduled, as the event loop would, one turn at a time;
    returns the number of turns."""
    turns = 0
    while scheduled:
        turn = list(scheduled)
        scheduled.clear()
        for callback in turn:
            callback()
        turns += 1
    return turns


def test_delivery_is_batched_until_flush():
    hub = PubSubHub()
    scheduled: list[Any] = []
    hub.schedule = scheduled.append
    s = FakeSession(1)
    hub.subscribe(s, [b"c"], CHANNEL)
    for i in range(60):
        hub.publish(b"c", b"%d" % i)
    assert len(scheduled) == 1 and s.pushed == []
    scheduled.pop()()  # the first turn only schedules the flush
    for i in range(60, 100):  # what the next poll brings joins the same write
        hub.publish(b"c", b"%d" % i)
    assert s.pushed == [] and len(scheduled) == 1
    scheduled.pop()()
    assert len(s.pushed) == 1  # one write for 100 messages
    assert s.pushed[0] == b"".join(message(b"c", b"%d" % i) for i in range(100))
    hub.publish(b"c", b"again")
    assert run_loop(scheduled) == 2 and len(s.pushed) == 2


def test_flush_session_sends_before_the_reply_and_drop_forgets():
    hub = PubSubHub()
    hub.schedule = lambda callback: None
    s = FakeSession(1)
    hub.subscribe(s, [b"c"], CHANNEL)
    hub.publish(b"c", b"m1")
    hub.flush_session(s)
    assert s.received() == message(b"c", b"m1")
    hub.publish(b"c", b"m2")
    hub.drop_session(s)
    hub.flush()
    assert s.received() == b""


def test_remove_client_drops_everything_silently():
    hub = PubSubHub()
    s, other = FakeSession(1), FakeSession(2)
    hub.subscribe(s, [b"a", b"b"], CHANNEL)
    hub.subscribe(s, [b"p*"], PATTERN)
    hub.subscribe(other, [b"a"], CHANNEL)
    hub.remove_client(s)
    assert s.subscriptions == 0 and s.pushed == []
    assert list(hub.channels) == [b"a"] and not hub.patterns
    assert hub.numsub(b"a") == 1 and hub.numsub(b"b") == 0


# -- notifications --------------------------------------------------------------------


class FakeServer:
    def __init__(self, flags: int) -> None:
        self.notify_flags = effective_flags(flags)
        self.pubsub = PubSubHub()


def test_effective_flags():
    assert effective_flags(keyspace_events_flags("g$")) == 0  # neither K nor E: nothing is sent
    assert effective_flags(keyspace_events_flags("KEA")) == NOTIFY_KEYSPACE | NOTIFY_KEYEVENT | NOTIFY_ALL


def test_notify_channels_and_classes():
    server = FakeServer(keyspace_events_flags("K$"))
    s = FakeSession(1)
    server.pubsub.subscribe(s, [b"__key*__:*"], PATTERN)
    notify(server, 3, NOTIFY_STRING, b"set", b"k")
    notify(server, 3, NOTIFY_GENERIC, b"del", b"k")  # class g is off
    data = s.received()
    assert data == (b"*4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$16\r\n__keyspace@3__:k\r\n"
                    b"$3\r\nset\r\n")
    server.notify_flags = effective_flags(keyspace_events_flags("Eg"))
    notify(server, 0, NOTIFY_GENERIC, b"del", b"k")
    assert b"__keyevent@0__:del\r\n$1\r\nk\r\n" in s.received()


# -- tracking ---------------------------------------------------------------------------


class FakeConfig(dict):
    def on_change(self, name: str, callback: Any) -> None:
        self.setdefault("_callbacks", {})[name] = callback


class FakeDispatcher:
    tracking_active = False
    propagating = False  # (no write stream sink)


class TrackingServer:
    def __init__(self, max_keys: int = 0) -> None:
        self.config = FakeConfig({"tracking-table-max-keys": max_keys})
        self.clients: dict[int, FakeSession] = {}
        self.dispatcher = FakeDispatcher()
        self.notify_flags = 0
        self.hub = PubSubHub()
        self.pubsub_hooks = KeyspaceHooks(self)
        self.tracking = Tracking(self, self.hub)

    def live_dbs(self) -> list:
        return []

    def session(self, client_id: int, protocol: int = 3) -> FakeSession:
        s = self.clients[client_id] = FakeSession(client_id, protocol)
        return s


class Spec:
    def __init__(self, name: str, flags: str, keys: tuple[int, int, int] = (1, 1, 1)) -> None:
        self.name = name
        self.flags = frozenset(flags.split())
        self.parent = None
        self.first, self.last, self.step = keys

    def key_positions(self, argv: list) -> list[int]:
        if not self.first:
            return []
        last = self.last if self.last >= 0 else len(argv) + self.last
        return list(range(self.first, last + 1, self.step))


GET = Spec("get", "readonly fast")
MGET = Spec("mget", "readonly fast", (1, -1, 1))
SET = Spec("set", "write denyoom")
FLUSHALL = Spec("flushall", "write", (0, 0, 0))


def invalidation(*keys: bytes) -> bytes:
    return b">2\r\n$10\r\ninvalidate\r\n*%d\r\n" % len(keys) + b"".join(
        b"$%d\r\n%b\r\n" % (len(k), k) for k in keys)


def test_remember_then_invalidate_once():
    srv = TrackingServer()
    reader, writer = srv.session(1), srv.session(2)
    srv.tracking.enable(reader, 0, False, False, False, False, [])
    assert srv.dispatcher.tracking_active
    srv.tracking.after_command(reader, MGET, [b"mget", b"a", b"b"], False)
    srv.tracking.after_command(writer, GET, [b"get", b"a"], False)  # not tracking: ignored
    assert srv.tracking.table == {b"a": 1, b"b": 1} and srv.tracking.items == 2
    srv.tracking.invalidate_command(writer, SET, [b"set", b"a", b"v"])
    assert reader.received() == invalidation(b"a")
    srv.tracking.invalidate_command(writer, SET, [b"set", b"a", b"v"])
    assert reader.received() == b""  # told once; must read again to be told again
    assert srv.tracking.items == 1


def test_several_readers_and_noloop():
    srv = TrackingServer()
    a, b = srv.session(1), srv.session(2)
    srv.tracking.enable(a, 0, False, False, False, True, [])  # NOLOOP
    srv.tracking.enable(b, 0, False, False, False, False, [])
    for s in (a, b):
        srv.tracking.after_command(s, GET, [b"get", b"k"], False)
    assert srv.tracking.table[b"k"] == {1, 2} and srv.tracking.items == 2
    srv.tracking.invalidate_command(a, SET, [b"set", b"k", b"v"])
    assert a.received() == b"" and b.received() == invalidation(b"k")


def test_table_bound_invalidates_oldest_keys():
    srv = TrackingServer(max_keys=3)
    s = srv.session(1)
    srv.tracking.enable(s, 0, False, False, False, False, [])
    for key in (b"k1", b"k2", b"k3", b"k4", b"k5"):
        srv.tracking.after_command(s, GET, [b"get", key], False)
    assert list(srv.tracking.table) == [b"k3", b"k4", b"k5"]
    assert s.received() == invalidation(b"k1") + invalidation(b"k2")
    # Lowering the bound applies at once.
    srv.config["_callbacks"]["tracking-table-max-keys"](1)
    assert list(srv.tracking.table) == [b"k5"]
    assert s.received() == invalidation(b"k3") + invalidation(b"k4")


def test_order_queue_stays_bounded():
    srv = TrackingServer()
    s, w = srv.session(1), srv.session(2)
    srv.tracking.enable(s, 0, False, False, False, False, [])
    for i in range(5000):
        key = b"k%d" % (i % 10)
        srv.tracking.after_command(s, GET, [b"get", key], False)
        srv.tracking.invalidate_key(key, w)
    assert len(srv.tracking.order) <= 2 * len(srv.tracking.table) + 1024 + 1


def test_optin_caching_lasts_one_command_or_one_transaction():
    srv = TrackingServer()
    s = srv.session(1)
    srv.tracking.enable(s, 0, False, True, False, False, [])
    state = srv.tracking.state(s)
    caching = Spec("caching", "")
    caching.parent = object()
    srv.tracking.after_command(s, GET, [b"get", b"a"], False)  # OPTIN, no CACHING: not remembered
    state.caching = True
    srv.tracking.after_command(s, caching, [b"client", b"caching", b"yes"], False)
    srv.tracking.after_command(s, GET, [b"get", b"b"], False)
    srv.tracking.after_command(s, GET, [b"get", b"c"], False)
    assert list(srv.tracking.table) == [b"b"]
    state.caching = True
    srv.tracking.after_command(s, Spec("multi", "", (0, 0, 0)), [b"multi"], False)
    srv.tracking.after_command(s, GET, [b"get", b"d"], False)
    srv.tracking.after_command(s, GET, [b"get", b"e"], False)
    srv.tracking.after_command(s, Spec("exec", "", (0, 0, 0)), [b"exec"], False)
    srv.tracking.after_command(s, GET, [b"get", b"f"], False)
    assert list(srv.tracking.table) == [b"b", b"d", b"e"]


def test_bcast_collects_sorted_keys_and_honours_noloop():
    srv = TrackingServer()
    scheduled: list[Any] = []
    srv.hub.schedule = scheduled.append
    a, b = srv.session(1), srv.session(2)
    srv.tracking.enable(a, 0, True, False, False, True, [b"user:"])
    srv.tracking.enable(b, 0, True, False, False, False, [])
    for key, origin in ((b"user:2", b), (b"user:1", a), (b"other", a)):
        srv.tracking.invalidate_key(key, origin)
    assert len(scheduled) == 1
    run_loop(scheduled)
    assert a.received() == invalidation(b"user:2")  # its own change left out
    assert b.received() == invalidation(b"other", b"user:1", b"user:2")  # prefix "": all


def test_redirect_and_broken_redirect():
    srv = TrackingServer()
    s, target = srv.session(1, protocol=3), srv.session(2, protocol=2)
    srv.tracking.enable(s, 2, False, False, False, False, [])
    srv.tracking.after_command(s, GET, [b"get", b"k"], False)
    srv.tracking.invalidate_key(b"k", None)
    assert target.received() == b""  # RESP2 and not subscribed: nothing can be sent
    target.subscriptions = 1
    srv.tracking.after_command(s, GET, [b"get", b"k"], False)
    srv.tracking.invalidate_key(b"k", None)
    assert target.received() == (b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"
                                 b"*1\r\n$1\r\nk\r\n")
    del srv.clients[2]
    srv.tracking.after_command(s, GET, [b"get", b"k"], False)
    srv.tracking.invalidate_key(b"k", None)
    assert s.received() == b">2\r\n$21\r\ntracking-redir-broken\r\n:2\r\n"
    assert srv.tracking.state(s).broken_redirect and srv.tracking.list_flags(s) == "tR"


def test_flush_tells_everyone_and_empties_the_table():
    srv = TrackingServer()
    a, b = srv.session(1, 3), srv.session(2, 3)
    srv.tracking.enable(a, 0, False, False, False, True, [])
    srv.tracking.enable(b, 0, True, False, False, False, [b"x"])
    srv.tracking.after_command(a, GET, [b"get", b"k"], False)
    srv.tracking.invalidate_command(a, FLUSHALL, [b"flushall"])
    assert a.received() == b">2\r\n$10\r\ninvalidate\r\n_\r\n"  # NOLOOP does not apply
    assert b.received() == b">2\r\n$10\r\ninvalidate\r\n_\r\n"
    assert not srv.tracking.table and srv.tracking.items == 0


def test_disable_last_client_forgets_all():
    srv = TrackingServer()
    s = srv.session(1)
    srv.tracking.enable(s, 0, True, False, False, False, [b"a", b"b"])
    srv.tracking.disable(s)
    assert not srv.tracking.prefixes and not srv.dispatcher.tracking_active
    assert srv.tracking.redirect_of(s) == -1 and srv.tracking.list_flags(s) == ""


@pytest.mark.parametrize("protocol", [2, 3])
def test_tracking_without_redirect_in_resp2_sends_nothing(protocol):
    srv = TrackingServer()
    s = srv.session(1, protocol)
    srv.tracking.enable(s, 0, False, False, False, False, [])
    srv.tracking.after_command(s, GET, [b"get", b"k"], False)
    srv.tracking.invalidate_key(b"k", None)
    assert bool(s.received()) == (protocol == 3)
