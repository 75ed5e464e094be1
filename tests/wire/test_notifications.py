"""Keyspace notifications against a real node. The expected events of each
command are the ones redis-server 7 sends (recorded with the same script
against it); each command is followed by a PUBLISH on a sentinel channel,
so the test knows when a command's events are over without sleeping."""

from __future__ import annotations

import pytest

SENTINEL = "~sentinel~"


@pytest.fixture
def events(node):
    """events(flags) -> a function run(*command) returning that command's
    events as [(channel, message), ...]."""
    client = node.client()
    listener = node.client()
    pubsubs = []

    def setup(flags: str):
        client.config_set("notify-keyspace-events", flags)
        ps = listener.pubsub()
        ps.psubscribe("__key*__:*")
        ps.subscribe(SENTINEL)
        pubsubs.append(ps)
        for _ in range(2):
            assert ps.get_message(timeout=5)["type"] in ("psubscribe", "subscribe")

        def run(*command):
            try:
                client.execute_command(*command)
            except Exception:
                pass
            client.publish(SENTINEL, "x")
            got = []
            while True:
                m = ps.get_message(timeout=5)
                assert m is not None, "no sentinel"
                if m["channel"] == SENTINEL.encode():
                    return got
                got.append((m["channel"].decode(), m["data"].decode()))

        def wait(count: int, timeout: float) -> list:
            """The next `count` events, however long the node takes (up to timeout)."""
            got = []
            while len(got) < count:
                m = ps.get_message(timeout=timeout)
                assert m is not None, f"only {got}"
                got.append((m["channel"].decode(), m["data"].decode()))
            return got

        run.wait = wait
        return run

    yield setup
    client.config_set("notify-keyspace-events", "")
    for ps in pubsubs:
        ps.close()
    client.close()
    listener.close()


def ev(key: str, *names: str, db: int = 0) -> list[tuple[str, str]]:
    """Both channels of each event, keyspace first, as Redis sends them."""
    out = []
    for name in names:
        out.append((f"__keyspace@{db}__:{key}", name))
        out.append((f"__keyevent@{db}__:{name}", key))
    return out


STRING_CASES = [
    (("SET", "a", "1"), ev("a", "new", "set")),
    (("SET", "a", "2", "EX", "100"), ev("a", "set", "expire")),
    (("SET", "a", "3", "KEEPTTL"), ev("a", "set")),
    (("SET", "a", "4", "NX"), []),
    (("SET", "b", "1", "XX"), []),
    (("SETNX", "a", "x"), []),
    (("SETNX", "c", "x"), ev("c", "new", "set")),
    (("SETEX", "d", "100", "v"), ev("d", "new", "set", "expire")),
    (("PSETEX", "d", "100000", "v"), ev("d", "set", "expire")),
    (("GETSET", "e", "1"), ev("e", "new", "set")),
    (("MSET", "a", "1", "f", "2"), ev("a", "set") + ev("f", "new", "set")),
    (("MSETNX", "g", "1", "h", "1"), ev("g", "new", "set") + ev("h", "new", "set")),
    (("MSETNX", "g", "1", "i", "1"), []),
    (("GETDEL", "g"), ev("g", "del")),
    (("GETDEL", "zz"), []),
    (("GETEX", "a", "EX", "100"), ev("a", "expire")),
    (("GETEX", "a", "PERSIST"), ev("a", "persist")),
    (("GETEX", "a", "PERSIST"), []),
    (("GETEX", "a", "EXAT", "1"), ev("a", "del")),
    (("APPEND", "a", "x"), ev("a", "new", "append")),
    (("APPEND", "a", "y"), ev("a", "append")),
    (("SETRANGE", "s", "0", ""), []),
    (("SETRANGE", "s", "2", "x"), ev("s", "new", "setrange")),
    (("SETRANGE", "s", "0", ""), []),
    (("SETRANGE", "s", "0", "y"), ev("s", "setrange")),
    (("INCR", "n"), ev("n", "new", "incrby")),
    (("INCRBY", "n", "5"), ev("n", "incrby")),
    (("DECR", "n"), ev("n", "incrby")),
    (("DECRBY", "n", "2"), ev("n", "incrby")),
    (("INCRBYFLOAT", "n", "1.5"), ev("n", "incrbyfloat")),
    (("INCR", "a"), []),  # not an integer: an error, no event
    (("GET", "a"), []),
]

KEY_CASES = [
    (("SET", "n", "1"), ev("n", "new", "set")),
    (("SET", "s", "1"), ev("s", "new", "set")),
    (("DEL", "n", "zz", "s"), ev("n", "del") + ev("s", "del")),
    (("SET", "k", "v"), ev("k", "new", "set")),
    (("UNLINK", "k"), ev("k", "del")),
    (("SET", "r1", "v"), ev("r1", "new", "set")),
    (("SET", "r2", "v"), ev("r2", "new", "set")),
    (("RENAME", "r1", "r2"), ev("r2", "new") + ev("r1", "rename_from") + ev("r2", "rename_to")),
    (("RENAME", "r2", "r2"), []),
    (("RENAMENX", "r2", "r3"), ev("r3", "new") + ev("r2", "rename_from") + ev("r3", "rename_to")),
    (("SET", "r4", "x"), ev("r4", "new", "set")),
    (("RENAMENX", "r3", "r4"), []),
    (("COPY", "r3", "c1"), ev("c1", "new", "copy_to")),
    (("COPY", "r3", "c1"), []),
    (("COPY", "r3", "c1", "REPLACE"), ev("c1", "new", "copy_to")),
    (("COPY", "r3", "c2", "DB", "1"), ev("c2", "new", "copy_to", db=1)),
    (("MOVE", "c1", "2"), ev("c1", "new", db=2) + ev("c1", "move_from") + ev("c1", "move_to", db=2)),
    (("EXPIRE", "r3", "100"), ev("r3", "expire")),
    (("EXPIRE", "r3", "100", "NX"), []),
    (("PEXPIRE", "r3", "0"), ev("r3", "del")),
    (("SET", "x", "1"), ev("x", "new", "set")),
    (("PERSIST", "x"), []),
    (("PEXPIREAT", "x", "99999999999999"), ev("x", "expire")),
    (("PERSIST", "x"), ev("x", "persist")),
    (("EXPIREAT", "x", "1"), ev("x", "del")),
    (("EXPIRE", "nokey", "10"), []),
    (("FLUSHDB",), []),
    (("SWAPDB", "0", "1"), []),
]


def test_string_command_events(events):
    run = events("KEAn")
    for command, expected in STRING_CASES:
        assert run(*command) == expected, command


def test_generic_command_events(events):
    run = events("AKEn")
    for command, expected in KEY_CASES:
        assert run(*command) == expected, command


def test_classes_and_channels_filter(events, r2):
    run = events("E$")  # key-event channel only, string class only
    assert run("SET", "a", "1") == [("__keyevent@0__:set", "a")]
    assert run("DEL", "a") == []
    r2.config_set("notify-keyspace-events", "Kg")
    assert run("SET", "a", "1") == []
    assert run("EXPIRE", "a", "100") == [("__keyspace@0__:a", "expire")]
    assert r2.config_get("notify-keyspace-events") == {"notify-keyspace-events": "gK"}
    r2.config_set("notify-keyspace-events", "g$")  # no K or E: nothing at all
    assert run("DEL", "a") == []
    r2.config_set("notify-keyspace-events", "")
    assert run("SET", "b", "1") == []


def test_other_database(events, node):
    run = events("KEA")
    client = node.client(db=3)
    client.set("k", "v")
    assert run("PUBLISH", "nothing", "x") == ev("k", "set", db=3)
    client.close()


def test_expired_lazy_and_active(events, r2):
    run = events("KEx")  # only expiry events
    assert run("SET", "a", "1", "PX", "100") == []
    r2.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    try:
        r2.execute_command("DEBUG", "ADVANCE-CLOCK", "200")
        assert run("GET", "a") == ev("a", "expired")  # found expired by the read
        assert run("DEL", "a") == []
        r2.set("b", "1", px=100)
        r2.execute_command("DEBUG", "ADVANCE-CLOCK", "200")
        assert run("DEL", "b") == ev("b", "expired")  # already gone: an expiry, not a del
    finally:
        r2.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")
    r2.set("c", "1", px=100)
    r2.execute_command("DEBUG", "ADVANCE-CLOCK", "200")
    # The active cycle (the cron, 10 times a second) reclaims it without
    # anyone reading it: wait for its events.
    got = run.wait(2, timeout=5)
    assert got == ev("c", "expired")


def test_keymiss(events):
    run = events("KEm")
    assert run("GET", "nokey") == ev("nokey", "keymiss")
    assert run("MGET", "q1", "q2") == ev("q1", "keymiss") + ev("q2", "keymiss")
    assert run("EXISTS", "q3") == ev("q3", "keymiss")
    assert run("SET", "q1", "1") == []
    assert run("GET", "q1") == []
    assert run("GETSET", "e", "1") == ev("e", "keymiss")


def test_nothing_is_sent_when_off(node, r2):
    ps = r2.pubsub()
    ps.psubscribe("*")
    assert ps.get_message(timeout=5)["type"] == "psubscribe"
    r2.set("a", "1")
    r2.delete("a")
    r2.publish("marker", "m")
    assert ps.get_message(timeout=5)["channel"] == b"marker"
    ps.close()
