"""Streams, differentially: the same command scripts run against the real
redis-server (7.0, scripts/setup.sh) and a node, in RESP2 and RESP3, and
every reply is compared byte for byte.

Scripts use explicit IDs so both servers answer the same; where a reply
holds times (idle, seen-time, delivery times) or the radix tree's node
count (which has no counterpart here), those numbers are masked before
the comparison (reference_server.mask_times), everything else stays exact.
"""

from __future__ import annotations

import shlex

import pytest

from nodes import spawn_node
from reference_server import mask_times, redis_server
from support import RawConn


class _Port:
    def __init__(self, port: int) -> None:
        self.host = "127.0.0.1"
        self.port = port


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    node = spawn_node([], tmp_path_factory.mktemp("node") / "node.log")
    with redis_server(tmp_path_factory.mktemp("redis")) as real:
        port = real.connection_pool.connection_kwargs["port"]
        yield _Port(port), node
    node.stop()


def run_both(servers, script: str, protocol: int) -> int:
    """Run each line of script on both servers; assert equal replies.
    Returns how many commands were compared."""
    real, node = servers
    a, b = RawConn(real, protocol), RawConn(node, protocol)
    try:
        for conn in (a, b):
            conn.send("FLUSHALL")
            conn.read_reply()
        n = 0
        for line in script.strip().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            argv = shlex.split(line)
            a.send(*argv)
            b.send(*argv)
            want, got = mask_times(argv, a.read_reply()), mask_times(argv, b.read_reply())
            assert got == want, f"{line}\nredis:     {want!r}\nringcache: {got!r}"
            n += 1
        return n
    finally:
        for conn in (a, b):  # (a script may change them)
            conn.send("CONFIG", "SET", "stream-node-max-entries", "100", "stream-node-max-bytes", "4096")
            conn.read_reply()
        a.close()
        b.close()


SCRIPTS = {
    "xadd_ids": """
        XADD s 1-1 a 1
        XADD s 1-1 a 1
        XADD s 1-0 a 1
        XADD s 0-0 a 1
        XADD s 0 a 1
        XADD s 1-* b 2
        XADD s 1-* b 3
        XADD s 5-* c 4
        XADD s 2-* c 4
        XADD s 5 d 5
        XADD s 6-18446744073709551615 e 6
        XADD s 6-* e 6
        XADD s 7-1 f
        XADD s 7-1
        XADD s 7-x f v
        XADD s -1 f v
        XADD s 18446744073709551616-1 f v
        XADD s 18446744073709551615-18446744073709551615 f v
        XADD s 18446744073709551615-18446744073709551615 f v
        XADD s * f v
        XADD s + f v
        XADD s - f v
        XADD s NOMKSTREAM 99-1 f v
        XADD missing NOMKSTREAM 1-1 f v
        EXISTS missing
        XADD e2 0-* f v
        XADD e2 0-* f v
        XLEN s
        XLEN missing
        XRANGE s - +
        XRANGE e2 - +
        SET str x
        XADD str 1-1 f v
        XLEN str
        XRANGE str - +
        TYPE s
        OBJECT ENCODING s
        XADD s2 00012-1 f v
        XADD s2 +13-1 f v
        XADD s2 " 14-1" f v
        XADD s2 14-01 f v
        XRANGE s2 - +
    """,
    "xrange": """
        XADD s 1-1 a 1
        XADD s 1-2 b 2
        XADD s 2-0 c 3 d 4
        XADD s 3-5 e 5
        XADD s 10-0 f 6
        XRANGE s - +
        XRANGE s - + COUNT 2
        XRANGE s - + COUNT 0
        XRANGE s - + COUNT -1
        XRANGE s 1 1
        XRANGE s 2 3
        XRANGE s (1-1 +
        XRANGE s - (3-5
        XRANGE s (1-2 (10-0
        XRANGE s (- +
        XRANGE s - (+
        XRANGE s (18446744073709551615-18446744073709551615 +
        XRANGE s - (0-0
        XRANGE s 5 1
        XRANGE s abc +
        XRANGE s - + COUNT
        XRANGE s - + COUNT x
        XRANGE s - + LIMIT 1
        XREVRANGE s + -
        XREVRANGE s + - COUNT 2
        XREVRANGE s (10-0 (1-1
        XREVRANGE s 3 2
        XRANGE missing - +
        XREVRANGE missing + -
        XRANGE missing abc +
    """,
    "xdel_xtrim": """
        XADD s 1-1 a 1
        XADD s 2-1 a 2
        XADD s 3-1 a 3
        XADD s 4-1 a 4
        XADD s 5-1 a 5
        XDEL s 2-1 9-9 3-1
        XDEL s x
        XDEL missing x
        XRANGE s - +
        XINFO STREAM s
        XTRIM s MAXLEN 2
        XRANGE s - +
        XTRIM s MAXLEN 5
        XTRIM s MINID 5
        XRANGE s - +
        XTRIM s MAXLEN ~ 0
        XTRIM s MAXLEN = 0
        XINFO STREAM s
        XTRIM s
        XTRIM s FOO 1
        XTRIM s MAXLEN -1
        XTRIM s MAXLEN x
        XTRIM s MAXLEN 1 LIMIT 10
        XTRIM s LIMIT 10
        XTRIM s LIMIT 10 MAXLEN ~ 1
        XADD s LIMIT 5 9-1 a b
        XADD s MAXLEN ~ 1 LIMIT 5 LIMIT 7 90-1 a b
        XADD s NOMKSTREAM NOMKSTREAM MAXLEN = 3 91-1 a b
        XLEN s
        XTRIM s MAXLEN ~ 1 LIMIT -1
        XTRIM s MAXLEN 1 MINID 1
        XTRIM s MINID x
        XTRIM missing MAXLEN 1
        XDEL s
    """,
    "approx_trim": """
        XADD s 1-1 f v
        """ + "\n".join(f"XADD s {i}-1 f v" for i in range(2, 260)) + """
        XTRIM s MAXLEN ~ 200
        XLEN s
        XTRIM s MAXLEN ~ 120 LIMIT 50
        XLEN s
        XTRIM s MAXLEN ~ 120 LIMIT 0
        XLEN s
        XTRIM s MINID ~ 210
        XRANGE s - + COUNT 1
        XTRIM s MINID 210
        XRANGE s - + COUNT 1
        XADD s MAXLEN ~ 10 300-1 f v
        XLEN s
        XADD s MAXLEN 10 301-1 f v
        XLEN s
        XADD s MINID 301 302-1 f v
        XRANGE s - +
        XADD s MAXLEN ~ 1 LIMIT 0 303-1 f v
        XINFO STREAM s
    """,
    "node_config": """
        CONFIG SET stream-node-max-entries 5
        """ + "\n".join(f"XADD s {i}-1 f v{i}" for i in range(1, 40)) + """
        XINFO STREAM s
        XTRIM s MAXLEN ~ 12
        XLEN s
        CONFIG SET stream-node-max-entries 0
        CONFIG SET stream-node-max-bytes 200
        """ + "\n".join(f"XADD s {i}-1 field{i % 2} {'x' * (i % 30)}" for i in range(40, 90)) + """
        XINFO STREAM s
        XTRIM s MAXLEN ~ 20
        XINFO STREAM s
        XTRIM s MINID ~ 80 LIMIT 3
        XINFO STREAM s
        CONFIG SET stream-node-max-entries 100
        CONFIG SET stream-node-max-bytes 0
        """ + "\n".join(f"XADD s {i}-1 f {'y' * 1000}" for i in range(90, 150)) + """
        XINFO STREAM s
    """,
    "xsetid": """
        XSETID missing 1-1
        XADD s 5-1 a 1
        XSETID s 4-0
        XSETID s 5-1
        XSETID s 10-0 ENTRIESADDED 0
        XSETID s 10-0 ENTRIESADDED -1
        XSETID s 10-0 ENTRIESADDED 5 MAXDELETEDID 11-0
        XSETID s 10-0 ENTRIESADDED 5 MAXDELETEDID 3-0
        XINFO STREAM s
        XSETID s 2-0
        XSETID s 10-0 FOO
        XSETID s x
        XADD s 9-0 a 1
        XADD s 10-* a 1
        XDEL s 5-1
        XINFO STREAM s
    """,
    "groups": """
        XGROUP CREATE s g 0
        XGROUP CREATE s g $ MKSTREAM
        XGROUP CREATE s g $ MKSTREAM
        XGROUP CREATE s g2 0 ENTRIESREAD 5
        XGROUP CREATE s g3 0 ENTRIESREAD -2
        XGROUP CREATE s g3 0 FOO
        XGROUP CREATE s g3 x
        XGROUP CREATECONSUMER s g alice
        XGROUP CREATECONSUMER s g alice
        XGROUP CREATECONSUMER s nog alice
        XGROUP DELCONSUMER s g bob
        XGROUP SETID s nog 0
        XGROUP SETID s g 0 ENTRIESREAD 3
        XGROUP SETID s g 0 FOO 3
        XGROUP SETID s g $
        XGROUP DESTROY s g2
        XGROUP DESTROY s g2
        XGROUP DESTROY missing g2
        XGROUP FOO s g
        XGROUP CREATE s
        XGROUP HELP
        XINFO GROUPS s
        XINFO GROUPS missing
        XINFO CONSUMERS s g
        XINFO CONSUMERS s nog
        XINFO STREAM missing
        XINFO STREAM s FULL
        XINFO STREAM s FULL COUNT
        XINFO STREAM s FOO
        XINFO HELP
        SET str x
        XGROUP CREATE str g 0
        XINFO STREAM str
    """,
    "readgroup": """
        XADD s 1-1 a 1
        XADD s 2-1 b 2
        XADD s 3-1 c 3
        XGROUP CREATE s g 0
        XREADGROUP GROUP g alice COUNT 1 STREAMS s >
        XREADGROUP GROUP g bob STREAMS s >
        XREADGROUP GROUP g bob STREAMS s >
        XREADGROUP GROUP g alice STREAMS s 0
        XREADGROUP GROUP g bob STREAMS s 0
        XREADGROUP GROUP g bob COUNT 1 STREAMS s 2-1
        XREADGROUP GROUP g carol STREAMS s 0
        XPENDING s g
        XPENDING s g - + 10
        XPENDING s g - + 10 bob
        XPENDING s g - + 10 nobody
        XPENDING s g (1-1 + 1
        XPENDING s g IDLE 0 - + 10
        XPENDING s g IDLE 0 - +
        XPENDING s g - + x
        XPENDING s g - +
        XPENDING s nog
        XPENDING missing g
        XINFO GROUPS s
        XINFO CONSUMERS s g
        XACK s g 1-1 9-9
        XACK s g 1-1
        XACK s g x
        XACK s nog 1-1
        XACK missing g 1-1
        XDEL s 2-1
        XREADGROUP GROUP g bob STREAMS s 0
        XINFO GROUPS s
        XADD s 4-1 d 4
        XINFO GROUPS s
        XREADGROUP GROUP g bob NOACK STREAMS s >
        XPENDING s g
        XINFO STREAM s FULL
        XREADGROUP GROUP g bob STREAMS s $
        XREADGROUP GROUP g bob STREAMS s
        XREADGROUP GROUP nog bob STREAMS s >
        XREADGROUP GROUP g bob STREAMS missing >
        XREADGROUP STREAMS s >
        XREAD GROUP g bob STREAMS s >
        XREAD NOACK STREAMS s 0
        XREAD STREAMS s >
        XREADGROUP GROUP g bob BLOCK x STREAMS s >
        XREADGROUP GROUP g bob BLOCK -1 STREAMS s >
        XGROUP DELCONSUMER s g bob
        XINFO CONSUMERS s g
    """,
    "xread": """
        XADD a 1-1 f 1
        XADD a 2-1 f 2
        XADD b 5-1 g 1
        XREAD STREAMS a b 0 0
        XREAD COUNT 1 STREAMS a b 0 0
        XREAD STREAMS a b 1-1 5-1
        XREAD STREAMS a b $ $
        XREAD STREAMS a missing 0 0
        XREAD STREAMS missing 0
        XREAD STREAMS a
        XREAD STREAMS a 0 0
        XREAD COUNT x STREAMS a 0
        XREAD FOO STREAMS a 0
        XREAD STREAMS a x
        XREAD STREAMS a +
        XREAD BLOCK 0 STREAMS a 0
        MULTI
        XREAD BLOCK 0 STREAMS a $
        XREAD BLOCK 10 STREAMS a 0
        EXEC
        SET str x
        XREAD STREAMS str 0
    """,
    "claim": """
        XADD s 1-1 a 1
        XADD s 2-1 b 2
        XADD s 3-1 c 3
        XADD s 4-1 d 4
        XGROUP CREATE s g 0
        XREADGROUP GROUP g alice STREAMS s >
        XCLAIM s g bob 0 1-1 JUSTID
        XCLAIM s g bob 0 2-1
        XCLAIM s g bob 0 3-1 RETRYCOUNT 7 JUSTID
        XCLAIM s g bob 3600000 4-1
        XPENDING s g - + 10
        XCLAIM s g bob 0 9-9 FORCE
        XCLAIM s g bob 0 4-1 IDLE 5000 TIME 1 JUSTID
        XCLAIM s nog bob 0 1-1
        XCLAIM missing g bob 0 1-1
        XCLAIM s g bob x 1-1
        XCLAIM s g bob 0 1-1 FOO
        XCLAIM s g bob 0 x
        XCLAIM s g bob 0 1-1 RETRYCOUNT x
        XCLAIM s g bob 0 1-1 IDLE x
        XCLAIM s g bob 0 1-1 TIME x
        XCLAIM s g bob 0 1-1 LASTID x
        XCLAIM s g carol 0 1-1 LASTID 50-0 JUSTID
        XINFO GROUPS s
        XGROUP CREATE s g2 $
        XCLAIM s g2 dave 0 2-1 FORCE JUSTID
        XCLAIM s g2 dave 0 3-1 FORCE
        XPENDING s g2 - + 10
        XDEL s 2-1
        XCLAIM s g2 erin 0 2-1 3-1 JUSTID
        XPENDING s g2 - + 10
        XAUTOCLAIM s g frank 0 0
        XAUTOCLAIM s g frank 0 0 COUNT 1
        XAUTOCLAIM s g frank 0 (1-1 COUNT 2 JUSTID
        XAUTOCLAIM s g frank 3600000 0
        XAUTOCLAIM s g frank 0 0 COUNT 0
        XAUTOCLAIM s g frank 0 0 COUNT x
        XAUTOCLAIM s g frank 0 0 FOO
        XAUTOCLAIM s g frank x 0
        XAUTOCLAIM s g frank 0 x
        XAUTOCLAIM s nog frank 0 0
        XAUTOCLAIM missing g frank 0 0
        XDEL s 3-1
        XAUTOCLAIM s g frank 0 0
        XPENDING s g
        XINFO CONSUMERS s g
        XINFO STREAM s FULL COUNT 1
        XINFO STREAM s FULL COUNT 0
    """,
    "lag": """
        XADD s 1-1 a 1
        XADD s 2-1 a 2
        XADD s 3-1 a 3
        XGROUP CREATE s g 0
        XGROUP CREATE s g2 $
        XGROUP CREATE s g3 2-1
        XINFO GROUPS s
        XREADGROUP GROUP g c COUNT 1 STREAMS s >
        XINFO GROUPS s
        XDEL s 3-1
        XINFO GROUPS s
        XREADGROUP GROUP g c STREAMS s >
        XINFO GROUPS s
        XADD s 4-1 a 4
        XINFO GROUPS s
        XDEL s 1-1
        XINFO GROUPS s
        XGROUP SETID s g3 0 ENTRIESREAD 0
        XINFO GROUPS s
        XTRIM s MAXLEN 0
        XINFO GROUPS s
        XINFO STREAM s
    """,
    "scripts": """
        XADD s 1-1 a 1
        EVAL "return redis.call('XREAD','BLOCK','0','STREAMS',KEYS[1],'0')" 1 s
        EVAL "return redis.call('xreadgroup','GROUP','g','c','BLOCK','10','STREAMS',KEYS[1],'>')" 1 s
        EVAL "return redis.call('XREAD','STREAMS',KEYS[1],'0')" 1 s
        EVAL "return redis.call('XADD',KEYS[1],'2-*','f','v')" 1 s
        EVAL "redis.call('XGROUP','CREATE',KEYS[1],'g','0') return redis.call('XREADGROUP','GROUP','g','c','STREAMS',KEYS[1],'>')" 1 s
        EVAL "return redis.call('XINFO','GROUPS',KEYS[1])" 1 s
        EVAL "return redis.call('XPENDING',KEYS[1],'g')" 1 s
    """,
    "many_groups": "\n".join(
        [f"XADD s {i}-1 f{i % 3} v{i}" for i in range(1, 40)]
        + [f"XGROUP CREATE s g{i} {i}" for i in (5, 1, 30, 12)]
        + [f"XREADGROUP GROUP g{i} c{j} COUNT {j + 1} STREAMS s >" for i in (5, 1, 30, 12)
           for j in range(3)]
        + ["XINFO GROUPS s", "XINFO CONSUMERS s g5", "XPENDING s g1", "XPENDING s g1 - + 100",
           "XINFO STREAM s FULL", "XINFO STREAM s FULL COUNT 3", "XREVRANGE s + - COUNT 5"]),
}


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_same_replies_as_redis(servers, name, protocol):
    assert run_both(servers, SCRIPTS[name], protocol) > 5


def events_of(server, script: str) -> list[bytes]:
    """The keyspace events (all classes, both channels) a script sends."""
    admin, sub = RawConn(server), RawConn(server)
    try:
        admin.send("FLUSHALL")
        admin.read_reply()
        admin.send("CONFIG", "SET", "notify-keyspace-events", "KEA")
        admin.read_reply()
        sub.send("PSUBSCRIBE", "__key*__:*")
        sub.read_reply()
        sub.send("SUBSCRIBE", "end-of-script")
        sub.read_reply()
        for line in script.strip().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                admin.send(*shlex.split(line))
                admin.read_reply()
        admin.send("PUBLISH", "end-of-script", "x")
        admin.read_reply()
        events = []
        while True:
            message = sub.read_reply()
            if b"end-of-script" in message:
                return events
            events.append(message)
    finally:
        admin.send("CONFIG", "SET", "notify-keyspace-events", "")
        admin.read_reply()
        admin.close()
        sub.close()


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_same_keyspace_events_as_redis(servers, name):
    real, node = servers
    want = events_of(real, SCRIPTS[name])
    assert want, "the script sends no event"
    assert events_of(node, SCRIPTS[name]) == want


def _random_script(seed: int) -> str:
    """XADD of entries of varied shapes and sizes (integers, short and long
    values: they decide where Redis cuts its listpack nodes), XDEL, and
    approximate and exact trims, with XINFO STREAM after each trim."""
    import random

    rng = random.Random(seed)
    lines, ms = [], 1
    for _ in range(400):
        op = rng.random()
        if op < 0.8:
            ms += rng.randint(0, 3)
            nfields = rng.choice((1, 1, 2, 3))
            shape = rng.choice(("a", "b"))
            parts = []
            for f in range(nfields):
                kind = rng.random()
                value = (str(rng.randint(-10**6, 10**6)) if kind < 0.3 else
                         "v" * rng.randint(0, 20) if kind < 0.8 else "w" * rng.randint(60, 700))
                parts += [f"{shape}{f}", value or '""']
            lines.append(f"XADD s {ms}-* " + " ".join(parts))
        elif op < 0.88:
            lines.append(f"XDEL s {rng.randint(1, ms)}-{rng.randint(0, 2)}")
        else:
            how = rng.choice(("MAXLEN ~", "MAXLEN =", "MINID ~", "MINID"))
            limit = f" LIMIT {rng.randint(0, 300)}" if "~" in how and rng.random() < 0.4 else ""
            threshold = rng.randint(0, 300) if "MAXLEN" in how else f"{rng.randint(1, ms)}-0"
            lines.append(f"XTRIM s {how} {threshold}{limit}")
            lines.append("XINFO STREAM s")
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(4))
def test_random_adds_deletes_and_trims_as_redis(servers, seed):
    assert run_both(servers, _random_script(seed), 2) > 300
