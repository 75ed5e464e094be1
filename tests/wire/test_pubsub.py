"""Pub/sub against a real node: reply and message shapes byte for byte (as
redis-server 7 sends them), RESP2 subscribed mode, RESP3 pushes, PUBSUB
introspection, shard channels, cleanup, and the slow-subscriber limit."""

from __future__ import annotations

import socket
import time

import pytest
import redis

from nodes import start_node
from support import RawConn, Resp, connections, proc_status, sub_reply


def msg(channel: bytes, payload: bytes, protocol: int = 2, kind: bytes = b"message") -> bytes:
    head = b">3\r\n" if protocol == 3 else b"*3\r\n"
    return head + b"$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
        len(kind), kind, len(channel), channel, len(payload), payload)


def pmsg(pattern: bytes, channel: bytes, payload: bytes, protocol: int = 2) -> bytes:
    head = b">4\r\n" if protocol == 3 else b"*4\r\n"
    return head + b"$8\r\npmessage\r\n" + b"".join(
        b"$%d\r\n%b\r\n" % (len(x), x) for x in (pattern, channel, payload))


@pytest.fixture
def clients(node):
    """clients(protocol=2) -> a Resp connection (closed after the test)."""
    yield from connections(Resp, node)


# -- shapes -------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3])
def test_subscribe_family_replies(clients, protocol):
    c = clients(protocol)
    c.send("SUBSCRIBE", "c1", "c1", "c2")
    c.expect(sub_reply(b"subscribe", b"c1", 1, protocol) + sub_reply(b"subscribe", b"c1", 1, protocol)
             + sub_reply(b"subscribe", b"c2", 2, protocol))
    c.send("PSUBSCRIBE", "c*")
    c.expect(sub_reply(b"psubscribe", b"c*", 3, protocol))
    # Shard channels count on their own in their replies.
    c.send("SSUBSCRIBE", "s1")
    c.expect(sub_reply(b"ssubscribe", b"s1", 1, protocol))
    c.send("UNSUBSCRIBE", "zz")
    c.expect(sub_reply(b"unsubscribe", b"zz", 3, protocol))
    c.send("UNSUBSCRIBE")
    c.expect(sub_reply(b"unsubscribe", b"c1", 2, protocol) + sub_reply(b"unsubscribe", b"c2", 1, protocol))
    c.send("UNSUBSCRIBE")
    c.expect(sub_reply(b"unsubscribe", None, 1, protocol))
    c.send("PUNSUBSCRIBE")
    c.expect(sub_reply(b"punsubscribe", b"c*", 0, protocol))
    c.send("PUNSUBSCRIBE")
    c.expect(sub_reply(b"punsubscribe", None, 0, protocol))
    c.send("SUNSUBSCRIBE")
    c.expect(sub_reply(b"sunsubscribe", b"s1", 0, protocol))
    c.send("SUNSUBSCRIBE")
    c.expect(sub_reply(b"sunsubscribe", None, 0, protocol))
    assert c.call("PING") == b"PONG"  # out of subscribed mode


@pytest.mark.parametrize("protocol", [2, 3])
def test_messages_of_each_kind(clients, protocol):
    sub, pub = clients(protocol), clients()
    sub.send("SUBSCRIBE", "news")
    sub.send("PSUBSCRIBE", "n*", "*s")
    sub.send("SSUBSCRIBE", "shard")
    sub.expect(sub_reply(b"subscribe", b"news", 1, protocol) + sub_reply(b"psubscribe", b"n*", 2, protocol)
               + sub_reply(b"psubscribe", b"*s", 3, protocol) + sub_reply(b"ssubscribe", b"shard", 1, protocol))
    assert pub.call("PUBLISH", "news", "hello") == 3  # the channel and both patterns
    sub.expect(msg(b"news", b"hello", protocol) + pmsg(b"n*", b"news", b"hello", protocol)
               + pmsg(b"*s", b"news", b"hello", protocol))
    assert pub.call("SPUBLISH", "shard", "x") == 1
    sub.expect(msg(b"shard", b"x", protocol, b"smessage"))
    assert pub.call("PUBLISH", "zzz", "x") == 0
    assert pub.call("SPUBLISH", "news", "x") == 0  # shard and plain channels are apart
    assert sub.quiet()


def test_binary_channel_and_payload(clients):
    sub, pub = clients(), clients()
    channel, payload = b"ch\x00\r\n\xff", bytes(range(256)) * 40
    sub.send("SUBSCRIBE", channel)
    sub.expect(sub_reply(b"subscribe", channel, 1))
    assert pub.call("PUBLISH", channel, payload) == 1
    sub.expect(msg(channel, payload))


def test_resp2_subscribed_mode_allows_only_the_subscribe_family(clients):
    c = clients()
    c.send("SUBSCRIBE", "a")
    c.expect(sub_reply(b"subscribe", b"a", 1))
    c.send("GET", "x")
    c.expect(b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
             b"RESET are allowed in this context\r\n")
    c.send("CLIENT", "LIST")
    c.expect(b"-ERR Can't execute 'client|list': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
             b"QUIT / RESET are allowed in this context\r\n")
    c.send("PING")
    c.expect(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n")
    c.send("PING", "hi")
    c.expect(b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n")
    c.send("UNSUBSCRIBE", "a")
    c.expect(sub_reply(b"unsubscribe", b"a", 0))
    assert c.call("SET", "x", "1") == b"OK"


def test_resp3_subscriber_runs_any_command(clients):
    c, pub = clients(3), clients()
    c.send("SUBSCRIBE", "q")
    c.expect(sub_reply(b"subscribe", b"q", 1, 3))
    assert c.call("SET", "k", "v") == b"OK"
    assert c.call("GET", "k") == b"v"
    assert c.call("PING") == b"PONG"
    pub.call("PUBLISH", "q", "m")
    assert c.read() == ("push", [b"message", b"q", b"m"])
    # A subscriber that publishes to itself gets the message too (after the reply).
    assert c.call("PUBLISH", "q", "self") == 1
    assert c.read() == ("push", [b"message", b"q", b"self"])


def test_messages_published_before_unsubscribe_arrive_first(clients):
    sub, pub = clients(), clients()
    sub.send("SUBSCRIBE", "c")
    sub.expect(sub_reply(b"subscribe", b"c", 1))
    # One pipeline: the node handles the publishes and the UNSUBSCRIBE in one
    # loop iteration; the confirmation must not overtake the messages.
    pub.sock.sendall(b"".join(b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$1\r\n%d\r\n" % i for i in range(5)))
    for _ in range(5):
        assert pub.read() == 1
    sub.send("UNSUBSCRIBE", "c")
    sub.expect(b"".join(msg(b"c", b"%d" % i) for i in range(5)) + sub_reply(b"unsubscribe", b"c", 0))


def test_pubsub_introspection(clients, r2):
    a, b = clients(), clients(3)
    a.send("SUBSCRIBE", "c1", "c2", "other")
    a.send("PSUBSCRIBE", "p*", "q*")
    a.send("SSUBSCRIBE", "s1")
    b.send("SUBSCRIBE", "c1")
    b.send("PSUBSCRIBE", "p*")
    a.read_exactly(len(sub_reply(b"subscribe", b"c1", 1)) * 3 + len(sub_reply(b"psubscribe", b"p*", 4)) * 2
           + len(sub_reply(b"ssubscribe", b"s1", 1)))
    b.read_exactly(len(sub_reply(b"subscribe", b"c1", 1)) + len(sub_reply(b"psubscribe", b"p*", 2)))
    assert sorted(r2.execute_command("PUBSUB", "CHANNELS")) == [b"c1", b"c2", b"other"]
    assert sorted(r2.execute_command("PUBSUB", "CHANNELS", "c*")) == [b"c1", b"c2"]
    # NUMSUB is a flat array (names may repeat), in RESP3 too.
    raw3 = clients(3)
    assert raw3.call("PUBSUB", "NUMSUB", "c1", "c1", "zz") == [b"c1", 2, b"c1", 2, b"zz", 0]
    assert raw3.call("PUBSUB", "NUMSUB") == []
    assert r2.execute_command("PUBSUB", "NUMPAT") == 2  # unique patterns
    assert r2.execute_command("PUBSUB", "SHARDCHANNELS") == [b"s1"]
    assert r2.execute_command("PUBSUB", "SHARDCHANNELS", "x*") == []
    assert r2.execute_command("PUBSUB", "SHARDNUMSUB", "s1", "c1") == [b"s1", 1, b"c1", 0]
    help_lines = r2.execute_command("PUBSUB", "HELP")
    assert help_lines[0] == b"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert help_lines[-2:] == [b"HELP", b"    Prints this help."] and len(help_lines) == 14
    with pytest.raises(redis.ResponseError, match=r"^unknown subcommand or wrong number of arguments "
                       r"for 'CHANNELS'. Try PUBSUB HELP.$"):
        r2.execute_command("PUBSUB", "CHANNELS", "a", "b")
    with pytest.raises(redis.ResponseError, match=r"wrong number of arguments for 'pubsub\|numpat'"):
        r2.execute_command("PUBSUB", "NUMPAT", "x")
    with pytest.raises(redis.ResponseError, match=r"^unknown subcommand 'FOO'. Try PUBSUB HELP.$"):
        r2.execute_command("PUBSUB", "FOO")
    with pytest.raises(redis.ResponseError, match=r"wrong number of arguments for 'subscribe'"):
        r2.execute_command("SUBSCRIBE")
    info = r2.info("stats")
    assert (info["pubsub_channels"], info["pubsub_patterns"], info["pubsubshard_channels"]) == (3, 2, 1)
    assert r2.info("clients")["pubsub_clients"] == 2
    lines = r2.execute_command("CLIENT", "LIST").decode().splitlines()
    mine = [line for line in lines if " sub=3 " in line]
    assert len(mine) == 1 and " psub=2 ssub=1 " in mine[0] and " flags=P " in mine[0]
    assert len(r2.execute_command("CLIENT", "LIST", "TYPE", "pubsub").decode().splitlines()) == 2


def test_disconnect_and_reset_drop_subscriptions(clients, r2):
    a, b = clients(), clients(3)
    a.send("SUBSCRIBE", "x")
    a.expect(sub_reply(b"subscribe", b"x", 1))
    b.send("PSUBSCRIBE", "x*")
    b.expect(sub_reply(b"psubscribe", b"x*", 1, 3))
    assert r2.publish("x", "m") == 2
    b.read()
    assert b.call("RESET") == b"RESET"
    assert b.call("PING") == b"PONG"  # RESET also went back to RESP2
    a.close()
    deadline = time.monotonic() + 5
    while r2.execute_command("PUBSUB", "NUMSUB", "x")[1] and time.monotonic() < deadline:
        time.sleep(0.01)  # the node notices the closed socket on its next loop turn
    assert r2.execute_command("PUBSUB", "NUMSUB", "x") == [b"x", 0]
    assert r2.execute_command("PUBSUB", "NUMPAT") == 0
    assert r2.publish("x", "m") == 0


def test_many_subscribers_get_every_message(clients, r2):
    subs = [clients(2 + i % 2) for i in range(40)]
    for i, s in enumerate(subs):
        s.send("SUBSCRIBE", "fan")
        s.expect(sub_reply(b"subscribe", b"fan", 1, 2 + i % 2))
    pipe = r2.pipeline(transaction=False)
    for i in range(50):
        pipe.publish("fan", "m%d" % i)
    assert pipe.execute() == [40] * 50
    for i, s in enumerate(subs):
        s.expect(b"".join(msg(b"fan", b"m%d" % j, 2 + i % 2) for j in range(50)))


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_pubsub(node, protocol):
    client = node.client(protocol=protocol)
    ps = client.pubsub()
    ps.subscribe("chan")
    ps.psubscribe("ch*")
    assert ps.get_message(timeout=2)["type"] == "subscribe"
    assert ps.get_message(timeout=2)["type"] == "psubscribe"
    assert client.publish("chan", "hello") == 2
    first, second = ps.get_message(timeout=2), ps.get_message(timeout=2)
    assert (first["type"], first["channel"], first["data"]) == ("message", b"chan", b"hello")
    assert (second["type"], second["pattern"], second["data"]) == ("pmessage", b"ch*", b"hello")
    ps.unsubscribe()
    ps.punsubscribe()
    ps.close()
    client.close()


# -- a subscriber that never reads ---------------------------------------------------------


def slow_subscriber(node, pub: redis.Redis, channel: str) -> socket.socket:
    """A socket with a small receive buffer, subscribed to channel, that the
    test never reads from; returns once the node counts it (seen via pub)."""
    slow = socket.create_connection((node.host, node.port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(RawConn.encode("SUBSCRIBE", channel))
    deadline = time.monotonic() + 10
    while pub.execute_command("PUBSUB", "NUMSUB", channel)[1] != 1:
        assert time.monotonic() < deadline
    return slow


def test_slow_subscriber_is_disconnected_and_memory_stays_bounded(tmp_path):
    """Default limits (client-output-buffer-limit pubsub 32mb 8mb 60): a
    subscriber that never reads is closed once 32 MB are waiting for it;
    ordinary clients are not affected and the node's peak RSS stays well
    below what was published."""
    with start_node(tmp_path) as node:
        pid = node.proc.pid
        pub = node.client()
        slow = slow_subscriber(node, pub, "feed")
        baseline = proc_status(pid, "VmRSS")
        payload = b"x" * 65536
        published = 0
        pipe = pub.pipeline(transaction=False)
        while published < 200 * 1024 * 1024:  # far more than the limit
            for _ in range(64):
                pipe.publish("feed", payload)
            receivers = pipe.execute()
            published += 64 * len(payload)
            if receivers[-1] == 0:
                break
        assert receivers[-1] == 0, "the slow subscriber was never disconnected"
        assert published < 100 * 1024 * 1024
        assert pub.execute_command("PUBSUB", "NUMSUB", "feed") == [b"feed", 0]
        assert pub.ping()
        peak = proc_status(pid, "VmHWM")
        # 32 MB of backlog plus what was in flight; nowhere near `published`.
        assert peak - baseline < 80 * 1024 * 1024, (peak - baseline, published)
        assert "closed for overcoming of output buffer limits" in node.log()
        slow.close()
        pub.close()


def test_pubsub_limit_is_configurable(tmp_path):
    """A smaller pubsub class limit applies to subscribers only; a normal
    client holding a larger backlog is left alone (normal class: no limit)."""
    with start_node(tmp_path, "--client-output-buffer-limit", "pubsub 1mb 512kb 60") as node:
        pub = node.client()
        slow = slow_subscriber(node, pub, "f")
        for _ in range(400):
            if pub.publish("f", b"y" * 32768) == 0:
                break
        assert pub.publish("f", "z") == 0
        assert "closed for overcoming of output buffer limits" in node.log()
        slow.close()
        pub.close()
