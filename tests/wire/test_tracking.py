"""Client-side caching (CLIENT TRACKING) against a real node: invalidation
shapes as redis-server 7 sends them, the modes (default, BCAST, OPTIN,
OPTOUT, NOLOOP, REDIRECT), flushes, expiry, the table bound, and redis-py's
own client-side cache."""

from __future__ import annotations

import time

import pytest
import redis
from redis.cache import CacheConfig

from support import Resp, connections, sub_reply


def inval(*keys: bytes) -> bytes:
    return b">2\r\n$10\r\ninvalidate\r\n*%d\r\n" % len(keys) + b"".join(
        b"$%d\r\n%b\r\n" % (len(k), k) for k in keys)


FLUSHED = b">2\r\n$10\r\ninvalidate\r\n_\r\n"


@pytest.fixture
def clients(node):
    """clients(protocol=3) -> a Resp connection (closed after the test)."""
    yield from connections(Resp, node, protocol=3)


def test_default_mode_invalidates_each_read_key_once(clients):
    reader, writer = clients(), clients(2)
    assert reader.call("CLIENT", "TRACKING", "ON") == b"OK"
    assert reader.call("GET", "k1") is None  # a miss is tracked too
    assert reader.call("MGET", "k2", "k3") == [None, None]
    assert writer.call("SET", "k1", "v") == b"OK"
    reader.expect(inval(b"k1"))
    assert writer.call("MSET", "k2", "v", "k3", "v") == b"OK"
    reader.expect(inval(b"k2") + inval(b"k3"))
    assert writer.call("SET", "k1", "again") == b"OK"
    assert reader.quiet()  # not read since: not tracked any more
    # Writes by the tracking client itself are reported too (after its reply).
    assert reader.call("GET", "k1") == b"again"
    assert reader.call("SET", "k1", "x") == b"OK"
    reader.expect(inval(b"k1"))


def test_noloop_skips_own_writes(clients):
    reader, writer = clients(), clients(2)
    assert reader.call("CLIENT", "TRACKING", "ON", "NOLOOP") == b"OK"
    reader.call("GET", "a")
    reader.call("GET", "b")
    assert reader.call("SET", "a", "1") == b"OK"
    assert reader.quiet()
    writer.call("SET", "b", "1")
    reader.expect(inval(b"b"))


def test_bcast_prefixes(clients):
    reader, writer = clients(), clients(2)
    assert reader.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "obj:") == b"OK"
    # One pipeline: the node runs it in one loop iteration, and each prefix
    # then sends one message with its keys, sorted (prefixes in order too).
    writer.sock.sendall(b"".join(
        b"*3\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$1\r\nx\r\n" % (len(k), k)
        for k in (b"user:2", b"user:1", b"other", b"obj:1")))
    for _ in range(4):
        assert writer.read() == b"OK"
    reader.expect(inval(b"obj:1") + inval(b"user:1", b"user:2"))
    info = reader.call("CLIENT", "TRACKINGINFO")
    assert info == {"flags": [b"on", b"bcast"], "redirect": 0, "prefixes": [b"obj:", b"user:"]}
    assert str(reader.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "us")) == (
        "ERR Prefix 'us' overlaps with an existing prefix 'user:'. Prefixes for a single client "
        "must not overlap.")


def test_bcast_without_prefix_gets_everything(clients):
    reader, writer = clients(), clients(2)
    reader.call("CLIENT", "TRACKING", "ON", "BCAST")
    writer.call("SET", "anything", "1")
    reader.expect(inval(b"anything"))
    writer.call("DEL", "anything")
    reader.expect(inval(b"anything"))


def test_optin_and_optout(clients):
    reader, writer = clients(), clients(2)
    reader.call("CLIENT", "TRACKING", "ON", "OPTIN")
    reader.call("GET", "o1")
    assert reader.call("CLIENT", "CACHING", "YES") == b"OK"
    reader.call("GET", "o2")
    reader.call("GET", "o3")  # the choice lasted one command
    for key in ("o1", "o2", "o3"):
        writer.call("SET", key, "1")
    reader.expect(inval(b"o2"))
    assert reader.quiet()
    # In a transaction the choice covers everything up to EXEC.
    reader.call("CLIENT", "CACHING", "YES")
    reader.call("MULTI")
    reader.call("GET", "t1")
    reader.call("GET", "t2")
    assert reader.call("EXEC") == [None, None]
    reader.call("GET", "t3")
    for key in ("t1", "t2", "t3"):
        writer.call("SET", key, "1")
    reader.expect(inval(b"t1") + inval(b"t2"))
    assert reader.call("CLIENT", "TRACKING", "OFF") == b"OK"
    reader.call("CLIENT", "TRACKING", "ON", "OPTOUT")
    reader.call("GET", "p1")
    reader.call("CLIENT", "CACHING", "NO")
    reader.call("GET", "p2")
    writer.call("MSET", "p1", "1", "p2", "1")
    reader.expect(inval(b"p1"))


def test_flush_and_swapdb_send_the_null_invalidation(clients):
    reader, bcast, writer = clients(), clients(), clients(2)
    reader.call("CLIENT", "TRACKING", "ON")
    bcast.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "zz")
    reader.call("GET", "k")
    writer.call("FLUSHALL")
    reader.expect(FLUSHED)
    bcast.expect(FLUSHED)
    writer.call("FLUSHDB")
    reader.expect(FLUSHED)
    bcast.expect(FLUSHED)
    writer.call("SWAPDB", "0", "1")
    reader.expect(FLUSHED)
    bcast.expect(FLUSHED)
    writer.call("SET", "k", "1")  # the flush emptied the table
    assert reader.quiet()


def test_expiry_invalidates(clients, r2):
    reader = clients()
    r2.set("e", "1", px=100)
    reader.call("CLIENT", "TRACKING", "ON")
    assert reader.call("GET", "e") == b"1"
    r2.execute_command("DEBUG", "ADVANCE-CLOCK", "200")
    assert r2.get("e") is None  # another client's read finds it expired (or the cron did)
    reader.expect(inval(b"e"))
    reader.call("GET", "e")
    assert reader.quiet()


def test_redirect_to_a_resp2_subscriber(clients):
    target = clients(2)
    target_id = target.call("CLIENT", "ID")
    target.send("SUBSCRIBE", "__redis__:invalidate")
    target.expect(sub_reply(b"subscribe", b"__redis__:invalidate", 1))
    tracker, writer = clients(2), clients(2)
    assert tracker.call("CLIENT", "TRACKING", "ON", "REDIRECT", target_id) == b"OK"
    assert tracker.call("CLIENT", "GETREDIR") == target_id
    tracker.call("GET", "r1")
    writer.call("SET", "r1", "1")
    target.expect(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$2\r\nr1\r\n")
    writer.call("FLUSHDB")
    target.expect(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n")
    line = [entry for entry in writer.call("CLIENT", "LIST").decode().splitlines()
            if f"redir={target_id} " in entry]
    assert len(line) == 1 and " flags=t " in line[0]
    target.close()
    deadline = time.monotonic() + 5
    while any(f"id={target_id} " in entry for entry in writer.call("CLIENT", "LIST").decode().splitlines()):
        assert time.monotonic() < deadline
    tracker.call("GET", "r2")
    writer.call("SET", "r2", "1")
    info = tracker.call("CLIENT", "TRACKINGINFO")
    assert info == [b"flags", [b"on", b"broken_redirect"], b"redirect", target_id, b"prefixes", []]


def test_broken_redirect_is_pushed_in_resp3(clients):
    tracker, gone, writer = clients(3), clients(2), clients(2)
    gone_id = gone.call("CLIENT", "ID")
    tracker.call("CLIENT", "TRACKING", "ON", "REDIRECT", gone_id)
    gone.close()
    deadline = time.monotonic() + 5
    while any(f"id={gone_id} " in e for e in writer.call("CLIENT", "LIST").decode().splitlines()):
        assert time.monotonic() < deadline
    tracker.call("GET", "z")
    writer.call("SET", "z", "1")
    tracker.expect(b">2\r\n$21\r\ntracking-redir-broken\r\n:%d\r\n" % gone_id)
    assert " flags=tR " in tracker.call("CLIENT", "INFO").decode()


def test_trackinginfo_getredir_and_errors(clients):
    c, other = clients(3), clients(2)
    other_id = other.call("CLIENT", "ID")
    assert c.call("CLIENT", "TRACKINGINFO") == {"flags": [b"off"], "redirect": -1, "prefixes": []}
    assert c.call("CLIENT", "GETREDIR") == -1
    errors = {
        ("CLIENT", "TRACKING", "ON", "PREFIX", "x"): "ERR PREFIX option requires BCAST mode to be enabled",
        ("CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"): "ERR You can't specify both OPTIN mode and OPTOUT mode",
        ("CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"): "ERR OPTIN and OPTOUT are not compatible with BCAST",
        ("CLIENT", "TRACKING", "ON", "REDIRECT", "99999"): "ERR The client ID you want redirect to does not exist",
        ("CLIENT", "TRACKING", "ON", "REDIRECT", "abc"): "ERR value is not an integer or out of range",
        ("CLIENT", "TRACKING", "MAYBE"): "ERR syntax error",
        ("CLIENT", "TRACKING", "ON", "FOO"): "ERR syntax error",
        ("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "x", "PREFIX", "xy"):
            "ERR Prefix 'x' overlaps with another provided prefix 'xy'. Prefixes for a single client "
            "must not overlap.",
        ("CLIENT", "TRACKING", "ON", "REDIRECT", other_id, "REDIRECT", other_id):
            "ERR A client can only redirect to a single other client",
        ("CLIENT", "CACHING", "YES"): "ERR CLIENT CACHING can be called only when the client is in "
                                      "tracking mode with OPTIN or OPTOUT mode enabled",
        ("CLIENT", "TRACKING"): "ERR wrong number of arguments for 'client|tracking' command",
    }
    for command, text in errors.items():
        reply = c.call(*command)
        assert isinstance(reply, Exception) and str(reply) == text, command
    c.call("CLIENT", "TRACKING", "ON", "OPTIN", "NOLOOP", "REDIRECT", other_id)
    assert str(c.call("CLIENT", "CACHING", "NO")) == (
        "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
    c.call("CLIENT", "CACHING", "YES")
    assert c.call("CLIENT", "TRACKINGINFO") == {
        "flags": [b"on", b"optin", b"caching-yes", b"noloop"], "redirect": other_id, "prefixes": []}
    assert str(c.call("CLIENT", "TRACKING", "ON", "OPTOUT")) == (
        "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then "
        "re-enabling it with a different mode.")
    assert str(c.call("CLIENT", "TRACKING", "ON", "BCAST")) == (
        "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then "
        "re-enabling it with a different mode.")
    assert c.call("CLIENT", "GETREDIR") == other_id
    assert c.call("RESET") == b"RESET"
    assert c.call("CLIENT", "GETREDIR") == -1  # RESET turned tracking off


def test_info_counters(clients, r2):
    # Deltas: a client of an earlier test may still be closing.
    clients_before = r2.info("clients")["tracking_clients"]
    prefixes_before = r2.info("stats")["tracking_total_prefixes"]
    a, b = clients(), clients()
    a.call("CLIENT", "TRACKING", "ON")
    b.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "p:", "PREFIX", "q:")
    a.call("MGET", "x", "y")
    b.call("GET", "x")  # BCAST clients are not in the table
    stats = r2.info("stats")
    assert (stats["tracking_total_keys"], stats["tracking_total_items"]) == (2, 2)
    assert stats["tracking_total_prefixes"] == prefixes_before + 2
    assert r2.info("clients")["tracking_clients"] == clients_before + 2
    a.close()
    b.call("CLIENT", "TRACKING", "OFF")
    deadline = time.monotonic() + 5
    while r2.info("clients")["tracking_clients"]:
        assert time.monotonic() < deadline
    assert r2.info("stats")["tracking_total_keys"] == 0  # nobody left to tell: forgotten


def test_table_bound_invalidates_instead_of_forgetting(clients, r2):
    reader = clients()
    r2.config_set("tracking-table-max-keys", "5")
    try:
        reader.call("CLIENT", "TRACKING", "ON")
        for i in range(8):
            reader.call("GET", "key%d" % i)
        # The three oldest keys made room: their reader was told.
        reader.expect(inval(b"key0") + inval(b"key1") + inval(b"key2"))
        assert r2.info("stats")["tracking_total_keys"] == 5
        r2.config_set("tracking-table-max-keys", "2")  # lowering applies at once
        reader.expect(inval(b"key3") + inval(b"key4") + inval(b"key5"))
        r2.set("key7", "1")
        reader.expect(inval(b"key7"))
    finally:
        r2.config_set("tracking-table-max-keys", "1000000")


def test_redis_py_client_side_cache(node):
    """redis-py's own cache (RESP3 + CacheConfig) works against the node: a
    read is served from the cache until another client writes the key."""
    cached = redis.Redis(host=node.host, port=node.port, protocol=3, cache_config=CacheConfig(),
                         socket_timeout=5)
    writer = node.client()
    writer.set("foo", "bar")
    assert cached.get("foo") == b"bar"
    cache = cached.get_cache()
    assert cache.size == 1
    commands_before = writer.info("commandstats")["cmdstat_get"]["calls"]
    assert cached.get("foo") == b"bar"  # from the cache: the node saw no GET
    assert writer.info("commandstats")["cmdstat_get"]["calls"] == commands_before
    writer.set("foo", "baz")
    deadline = time.monotonic() + 5
    value = cached.get("foo")
    while value != b"baz":  # the invalidation may land just after the write's reply
        assert time.monotonic() < deadline
        value = cached.get("foo")
    assert writer.info("commandstats")["cmdstat_get"]["calls"] > commands_before
    cached.close()
    writer.close()
