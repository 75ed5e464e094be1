"""Pub/sub against a real node: reply and message shapes byte for byte (as
redis-server 7 sends them), RESP2 subscribed mode, RESP3 pushes, PUBSUB
introspection, shard channels, cleanup, and the slow-subscriber limit."""

from __future__ import annotations

import socket
import time

import pytest
import redis

from conftest import start_node


class _More(Exception):
    """The buffer ends inside a reply."""


class Resp:
    """A raw RESP connection: send commands, read replies exactly.

    `call` skips push messages that arrive before its reply (RESP3 clients
    get them at any time) and keeps them, with their exact bytes, for
    `read` and `expect`."""

    def __init__(self, node, protocol: int = 2) -> None:
        self.sock = socket.create_connection((node.host, node.port), timeout=5)
        self.buf = b""
        self.stash: list[tuple] = []  # (value, raw bytes) of pushes skipped by call()
        if protocol == 3:
            assert self.call("HELLO", "3")["proto"] == 3

    def send(self, *args) -> None:
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            arg = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
        self.sock.sendall(b"".join(out))

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        self.buf += chunk

    def take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def expect(self, data: bytes) -> None:
        """The next bytes (kept pushes first, then the wire) are exactly data."""
        kept = b"".join(raw for _, raw in self.stash)
        self.stash.clear()
        got = kept[:len(data)]
        assert len(kept) <= len(data), (kept, data)
        assert got + self.take(len(data) - len(got)) == data

    def _parse(self, pos: int):
        end = self.buf.find(b"\r\n", pos)
        if end < 0:
            raise _More
        kind, rest, pos = self.buf[pos:pos + 1], self.buf[pos + 1:end], end + 2
        if kind in (b"+", b"-"):
            return (rest if kind == b"+" else Exception(rest.decode())), pos
        if kind == b":":
            return int(rest), pos
        if kind == b"_":
            return None, pos
        if kind in (b"$", b"="):
            if rest == b"-1":
                return None, pos
            size = int(rest)
            if len(self.buf) < pos + size + 2:
                raise _More
            data = self.buf[pos:pos + size]
            return (data[4:] if kind == b"=" else data), pos + size + 2  # '=': "txt:" first
        if kind in (b"*", b">", b"~", b"%"):
            if rest == b"-1":
                return None, pos
            count = int(rest) * (2 if kind == b"%" else 1)
            items = []
            for _ in range(count):
                item, pos = self._parse(pos)
                items.append(item)
            if kind == b">":
                return ("push", items), pos
            if kind == b"%":
                return {(k.decode() if isinstance(k, bytes) else k): v
                        for k, v in zip(items[0::2], items[1::2])}, pos
            return items, pos
        raise AssertionError(f"unexpected reply {self.buf[pos:]!r}")

    def _next(self) -> tuple:
        while True:
            try:
                value, end = self._parse(0)
            except _More:
                self._fill()
                continue
            raw, self.buf = self.buf[:end], self.buf[end:]
            return value, raw

    def read(self):
        """The next reply or push, parsed: push -> ('push', [...]), map -> dict."""
        if self.stash:
            return self.stash.pop(0)[0]
        return self._next()[0]

    def call(self, *args):
        self.send(*args)
        while True:
            value, raw = self._next()
            if isinstance(value, tuple):
                self.stash.append((value, raw))
                continue
            return value

    def nothing_pending(self, wait: float = 0.05) -> bool:
        if self.stash or self.buf:
            return False
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(5)
        self.buf += data
        return False

    def close(self) -> None:
        self.sock.close()


def sub_reply(kind: bytes, name: bytes | None, count: int, protocol: int = 2) -> bytes:
    head = b">3\r\n" if protocol == 3 else b"*3\r\n"
    null = b"_\r\n" if protocol == 3 else b"$-1\r\n"
    body = null if name is None else b"$%d\r\n%b\r\n" % (len(name), name)
    return head + b"$%d\r\n%b\r\n" % (len(kind), kind) + body + b":%d\r\n" % count


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
    made = []

    def make(protocol: int = 2) -> Resp:
        conn = Resp(node, protocol)
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close()


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
    assert sub.nothing_pending()


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
    a.take(len(sub_reply(b"subscribe", b"c1", 1)) * 3 + len(sub_reply(b"psubscribe", b"p*", 4)) * 2
           + len(sub_reply(b"ssubscribe", b"s1", 1)))
    b.take(len(sub_reply(b"subscribe", b"c1", 1)) + len(sub_reply(b"psubscribe", b"p*", 2)))
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


def _vm(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(field)


def test_slow_subscriber_is_disconnected_and_memory_stays_bounded(tmp_path):
    """Default limits (client-output-buffer-limit pubsub 32mb 8mb 60): a
    subscriber that never reads is closed once 32 MB are waiting for it;
    ordinary clients are not affected and the node's peak RSS stays well
    below what was published."""
    with start_node(tmp_path) as node:
        pid = node.proc.pid
        slow = socket.create_connection((node.host, node.port))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nfeed\r\n")
        pub = node.client()
        deadline = time.monotonic() + 10
        while pub.execute_command("PUBSUB", "NUMSUB", "feed")[1] != 1:
            assert time.monotonic() < deadline
        baseline = _vm(pid, "VmRSS")
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
        peak = _vm(pid, "VmHWM")
        # 32 MB of backlog plus what was in flight; nowhere near `published`.
        assert peak - baseline < 80 * 1024 * 1024, (peak - baseline, published)
        assert "closed for overcoming of output buffer limits" in node.log()
        slow.close()
        pub.close()


def test_pubsub_limit_is_configurable(tmp_path):
    """A smaller pubsub class limit applies to subscribers only; a normal
    client holding a larger backlog is left alone (normal class: no limit)."""
    with start_node(tmp_path, "--client-output-buffer-limit", "pubsub 1mb 512kb 60") as node:
        slow = socket.create_connection((node.host, node.port))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$1\r\nf\r\n")
        pub = node.client()
        deadline = time.monotonic() + 10
        while pub.execute_command("PUBSUB", "NUMSUB", "f")[1] != 1:
            assert time.monotonic() < deadline
        for _ in range(400):
            if pub.publish("f", b"y" * 32768) == 0:
                break
        assert pub.publish("f", "z") == 0
        assert "closed for overcoming of output buffer limits" in node.log()
        slow.close()
        pub.close()
