"""Lua scripting over the wire (EVAL, EVALSHA, EVAL_RO, SCRIPT ...), each
case run on a ringcache node and on the installed redis-server 7.0 in the
same test and compared: replies, error texts (with their "script: <sha>, on
@user_script:<line>." suffixes), type conversions both ways, the sandbox,
and scripts of real-world shape (redis-py's Lock, a sliding-window rate
limiter, a reliable queue). Then what only ringcache can show: atomicity
against a concurrent client, and the write stream (the AOF records the
commands a script ran, one MULTI/EXEC unit, and a restart replays them)."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.lock import Lock
from redis.retry import Retry

from differential import clients, outcome, real_port, same  # noqa: F401 (fixture)
from nodes import start_node

from ringcache.persistence.aof import iter_commands, parse_manifest


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def pair(node, real_port, request):  # noqa: F811 (differential's real_port)
    """(ringcache client, redis-server client), both flushed and with no
    scripts cached, same protocol, redis-py's reply parsing on."""
    with clients(node, real_port, request.param, raw=False) as (ours, theirs):
        theirs.script_flush()
        ours.script_flush()
        yield ours, theirs


# Scripts whose replies (or errors) must be the same on both servers. Each
# runs after SET s abc and HSET h f v.
SCRIPTS = [
    # conversions Lua -> reply
    "return 1", "return 3.99", "return -3.99", "return true", "return false", "return nil",
    "return 'abc'", "return {1, 2, 3, 'x', nil, 4}", "return {1, {2, false, 3}}",
    "return {err = 'My Error'}", "return {err = 'ERR x'}", "return {ok = 'FINE'}", "return {ok = 5}",
    "return {err = 1}", "return {ok = 'x', err = 'y'}", "return {1, {err = 'inner'}}",
    "return redis.error_reply('My Error')", "return redis.error_reply('-My Error')",
    "return redis.status_reply('FINE')", "return redis.status_reply('')",
    "return redis.status_reply(5)",
    "return {double = 3.5}", "return {map = {a = 1}}", "return {set = {a = true}}",
    "return {big_number = '123'}",
    # conversions reply -> Lua
    "return redis.call('set', 'x', '1')",
    "local r = redis.call('set', 'x', '1'); return {type(r), r.ok}",
    "return redis.call('get', 'nokey')",
    "local v = redis.call('get', 'nokey'); return type(v) .. tostring(v)",
    "return redis.call('hgetall', 'h')", "return redis.call('ping')",
    "return redis.call('incr', 'n')", "return redis.call('rpush', 'l', 'a', 'b')",
    "redis.call('rpush', 'l', 'a', 'b'); return redis.call('lrange', 'l', 0, -1)",
    "redis.call('zadd', 'z', 1.5, 'm'); return redis.call('zscore', 'z', 'm')",
    "redis.call('set', 'n', 0.1); return redis.call('get', 'n')",
    "redis.call('set', 'n', 1e20); return redis.call('get', 'n')",
    "redis.call('set', 'n', 7); return redis.call('get', 'n')",
    "redis.setresp(3); return redis.call('hgetall', 'h')",
    "redis.setresp(3); local m = redis.call('hgetall', 'h'); return {type(m), type(m.map), m.map.f}",
    "redis.setresp(3); local v = redis.call('get', 'nokey'); return type(v)",
    "redis.setresp(3); redis.call('zadd', 'z', 1.5, 'm'); return redis.call('zscore', 'z', 'm')",
    "redis.setresp(3); redis.call('sadd', 'st', 'a'); local s = redis.call('smembers', 'st'); return s.set.a",
    "return redis.pcall('incr', 's')", "local e = redis.pcall('incr', 's'); return {type(e), e.err}",
    "return pcall(redis.call, 'incr', 's')",
    "local ok, e = pcall(redis.call, 'incr', 's'); return {type(e), tostring(e)}",
    "return redis.pcall('nosuch')", "return redis.pcall('get')",
    "return {1, redis.pcall('incr', 's')}",
    # the redis library
    "return redis.sha1hex('')", "return redis.sha1hex('abc')",
    "redis.log(redis.LOG_WARNING, 'from a test'); return {redis.LOG_DEBUG, redis.LOG_VERBOSE, "
    "redis.LOG_NOTICE, redis.LOG_WARNING}",
    "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}",
    "redis.setresp(4)", "return redis.set_repl(9)",
    # errors
    "return x", "x = 5", "function f() end", "redis = nil",
    "return redis.call('incr', 's')", "return redis.call('incr', 'k1', 'a')",
    "return redis.call('nosuch')", "return redis.call('set', 'a', {})", "return redis.call()",
    "return redis.call('get')", "return redis.call('multi')", "return redis.call('eval', 'return 1', '0')",
    "return redis.call('blpop', 'nolist', '0')", "return redis.call('subscribe', 'c')",
    "error('boom')", "error('boom', 0)", "error('X y', 0)", "error({err = 'noprefix'})",
    "local ok, e = pcall(redis.call, 'incr', 's'); error(e, 0)",
    "local ok, e = pcall(error, 'boom'); return e",
    "return 'abc' + 1", "local x = nil; return x.y", "return 'a' ..",
    # the sandbox
    "return os", "return io", "return require", "return loadfile", "return dofile",
    "return {type(string), type(math), type(table), type(pcall), type(tonumber), type(loadstring)}",
    "return string.format('%d %s', 7, 'x')", "return tostring(1e20)",
    "local t = {}; t.x = 1; return t.x",
    "local n = 0; for i = 1, 10 do n = n + redis.call('incr', 'cnt') end; return n",
    "return {type(redis.call), type(redis.pcall), type(cjson.encode), type(bit.band), type(cjson.null)}",
    "return type()",
]

# The libraries: cjson, bit, struct, cmsgpack.
LIBRARY_SCRIPTS = [
    "return cjson.encode({1, 2, 'a/b', true, false, 1.5, 1e20, 0.1, -3})", "return cjson.encode({})",
    "return cjson.encode({a = {1, 2}})", "return cjson.encode(cjson.null)",
    "return cjson.encode('\\1\\n\"')", "return cjson.encode({[1] = 1, [3] = 3})",
    "return cjson.encode({[1] = 1, [20] = 2})", "return cjson.encode(nil)",
    "return cjson.encode(function() end)",
    "local t = cjson.decode('{\"a\":[1,2,{\"b\":null}],\"c\":\"x\\\\u00e9\",\"d\":1.5,\"e\":true}'); "
    "return {t.a[1], t.a[2], type(t.a[3].b), t.a[3].b == cjson.null, t.c, tostring(t.d), tostring(t.e)}",
    "return cjson.decode('x')", "local ok, e = pcall(cjson.decode, 'x'); return {tostring(ok), type(e), e}",
    "return cjson.decode('123')", "return cjson.decode('\"s\"')",
    "return cjson.encode(cjson.decode('{\"k\":[1,\"two\",[3]]}'))",
    "return {bit.band(7, 3), bit.bor(1, 2, 4), bit.bxor(5, 1), bit.bnot(0), bit.lshift(1, 31), "
    "bit.rshift(-1, 28), bit.arshift(-16, 2), bit.tobit(2^32 + 5), bit.rol(1, 33), bit.ror(1, 1), "
    "bit.bswap(0x12345678), bit.band('7', 3)}",
    "return {bit.tohex(255), bit.tohex(255, 2), bit.tohex(-1, -4), bit.tohex(0x1234abcd, -8), bit.tohex(-1)}",
    "return bit.band()", "return bit.band('x')",
    "return {struct.pack('>I2', 258), struct.pack('<i4', -2), struct.size('>I2i4'), "
    "struct.pack('BBs', 1, 2, 'hi'), struct.pack('d', 1.5), struct.pack('>h', -2)}",
    "return {struct.unpack('>I2', struct.pack('>I2', 258))}",
    "return {struct.unpack('<i4c2', struct.pack('<i4', -2) .. 'xy')}",
    "return {struct.unpack('>h', struct.pack('>h', -2))}",
    "return cmsgpack.pack({1, 2, 3})", "return cmsgpack.pack({a = 1})",
    "return cmsgpack.pack('abc', 1, -1, 1.5, true, nil, 300, -300, 70000, 2^40, 0.1, -70000)",
    "return cmsgpack.pack(string.rep('x', 40), string.rep('y', 300))",
    "return {cmsgpack.unpack(cmsgpack.pack({1, {2, 'x'}}, 5))}",
    "local t = cmsgpack.unpack(cmsgpack.pack({a = 1})); return t.a",
]


@pytest.mark.parametrize("script", LIBRARY_SCRIPTS)
def test_library_scripts_match_redis(pair, script):
    same(pair, "EVAL", script, 0)


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_replies_match_redis(pair, script):
    for client in pair:
        client.set("s", "abc")
        client.hset("h", "f", "v")
    same(pair, "EVAL", script, 0)


def test_keys_and_argv(pair):
    same(pair, "EVAL", "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}", 2, "k1", "k2", "a1", "a2")
    same(pair, "EVAL", "return {#KEYS, #ARGV}", 0)
    same(pair, "EVAL", "return ARGV", 0, "x", "y")


@pytest.mark.parametrize("args", [
    ("EVAL", "return 1"), ("EVAL", "return 1", -1), ("EVAL", "return 1", 2, "a"),
    ("EVAL", "return 1", "x"), ("EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", 0),
    ("EVALSHA", "abc", 0), ("EVALSHA_RO", "abc", 0),
    ("EVAL_RO", "return redis.call('set', 'a', 'b')", 0),
    ("EVAL_RO", "return redis.pcall('set', 'a', 'b')", 0),
    ("EVAL_RO", "return redis.call('get', 'a')", 0),
    ("SCRIPT", "LOAD", "return 'a' .."), ("SCRIPT", "LOAD"), ("SCRIPT", "EXISTS", "a", "b"),
    ("SCRIPT", "FLUSH", "ASYNC"), ("SCRIPT", "FLUSH", "SYNC"), ("SCRIPT", "FLUSH", "x"),
    ("SCRIPT", "FLUSH", "SYNC", "ASYNC"), ("SCRIPT", "KILL"), ("SCRIPT", "NOSUCH"),
    ("SCRIPT", "HELP"), ("FUNCTION", "HELP"),
])
def test_command_errors_match_redis(pair, args):
    same(pair, *args)


def test_script_cache(pair):
    sha = same(pair, "SCRIPT", "LOAD", "return ARGV[1] .. 'x'")
    assert sha == b"%s" % __import__("hashlib").sha1(b"return ARGV[1] .. 'x'").hexdigest().encode()
    same(pair, "EVALSHA", sha, 0, "a")
    same(pair, "EVALSHA", sha.upper(), 0, "a")  # the digest is case-insensitive
    same(pair, "EVALSHA_RO", sha, 0, "b")
    same(pair, "SCRIPT", "EXISTS", sha, "0" * 40)
    same(pair, "EVAL", "return 7", 0)  # EVAL caches too
    same(pair, "SCRIPT", "EXISTS", __import__("hashlib").sha1(b"return 7").hexdigest())
    same(pair, "SCRIPT", "FLUSH")
    same(pair, "SCRIPT", "EXISTS", sha)
    same(pair, "EVALSHA", sha, 0, "a")


def test_the_connection_keeps_its_database_and_protocol(pair):
    """SELECT inside a script does not move the caller; setresp(3) does not
    change what the caller's own replies look like."""
    for client in pair:
        client.set("k", "db0")
    same(pair, "EVAL", "redis.call('select', '1'); redis.call('set', 'k', 'db1'); return 1", 0)
    same(pair, "GET", "k")
    same(pair, "EVAL", "redis.setresp(3); return redis.call('get', 'k')", 0)
    same(pair, "HGETALL", "nohash")


# -- scripts of real-world shape ----------------------------------------------

RATE_LIMITER = """
-- sliding window: KEYS[1] a sorted set of request times; ARGV now_ms window_ms limit id
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, limit - count - 1}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now}
"""

QUEUE_MOVE = """
-- reliable queue: move one job from pending to processing, stamped with a deadline
local job = redis.call('RPOPLPUSH', KEYS[1], KEYS[2])
if not job then return false end
redis.call('HSET', KEYS[3], job, ARGV[1])
return job
"""

QUEUE_REQUEUE = """
-- give back the jobs whose deadline passed
local requeued = 0
for _, job in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  local deadline = tonumber(redis.call('HGET', KEYS[3], job))
  if deadline and deadline < tonumber(ARGV[1]) then
    redis.call('LREM', KEYS[2], 1, job)
    redis.call('HDEL', KEYS[3], job)
    redis.call('LPUSH', KEYS[1], job)
    requeued = requeued + 1
  end
end
return requeued
"""

QUEUE_ACK = """
local removed = redis.call('LREM', KEYS[2], 1, ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return removed
"""


def test_sliding_window_rate_limiter(pair):
    results = []
    for client in pair:
        limiter = client.register_script(RATE_LIMITER)
        trace = []
        for i, now in enumerate([1000, 1100, 1200, 1300, 1400, 2050, 2150, 2160, 3500]):
            trace.append(limiter(keys=["rl:user"], args=[now, 1000, 3, f"req{i}"]))
        trace.append(client.zrange("rl:user", 0, -1, withscores=True))
        results.append(trace)
    assert results[0] == results[1]
    assert [allowed for allowed, _ in results[0][:9]] == [1, 1, 1, 0, 0, 1, 1, 0, 1]


def test_reliable_queue(pair):
    results = []
    for client in pair:
        move, requeue, ack = (client.register_script(s) for s in (QUEUE_MOVE, QUEUE_REQUEUE, QUEUE_ACK))
        keys = ["q:pending", "q:processing", "q:deadlines"]
        client.lpush("q:pending", "j1", "j2", "j3")
        trace = [move(keys=keys, args=[100]), move(keys=keys, args=[150]), move(keys=keys, args=[200])]
        trace.append(move(keys=keys, args=[300]))  # empty: false -> nil
        trace.append(ack(keys=keys, args=["j2"]))
        trace.append(requeue(keys=keys, args=[160]))  # j1 (100) is late, j3 (200) is not
        trace += [client.lrange(k, 0, -1) for k in keys[:2]] + [client.hgetall("q:deadlines")]
        results.append(trace)
    assert results[0] == results[1]
    assert results[0][3] is None and results[0][5] == 1


def test_redis_py_lock(pair):
    results = []
    for client in pair:
        trace = []
        lock = Lock(client, "resource", timeout=10)
        other = Lock(client, "resource", timeout=10)
        trace.append(lock.acquire(blocking=False))
        trace.append(other.acquire(blocking=False))
        trace.append(lock.extend(5))
        trace.append(5000 < client.pttl("resource") <= 15000)
        trace.append(lock.reacquire())
        trace.append(lock.owned())
        lock.release()
        trace.append(client.exists("resource"))
        trace.append(other.acquire(blocking=False))
        thief = Lock(client, "resource", timeout=10)
        thief.local.token = b"not-the-owner"  # the scripts compare tokens
        with pytest.raises(redis.exceptions.LockNotOwnedError):
            thief.extend(1)
        with pytest.raises(redis.exceptions.LockNotOwnedError):
            thief.reacquire()
        with pytest.raises(redis.exceptions.LockNotOwnedError):
            thief.release()
        trace.append(client.exists("resource"))
        other.release()
        results.append(trace)
    assert results[0] == results[1] == [True, False, True, True, True, True, 0, True, 1]


# -- what only ringcache can show ------------------------------------------------

def test_a_script_is_atomic(node):
    """A reader hammering the key in parallel never sees the script's
    intermediate values (the node runs nothing else while a script runs)."""
    writer = node.client()
    writer.set("k", 0)
    seen = set()
    stop = threading.Event()

    def read():
        reader = node.client()
        while not stop.is_set():
            seen.add(int(reader.get("k")))
        reader.close()

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for _ in range(20):
            writer.eval("for i = 1, 200 do redis.call('incr', KEYS[1]) end; "
                        "redis.call('set', KEYS[1], 0); return 1", 1, "k")
    finally:
        stop.set()
        thread.join(10)
    assert seen == {0}


def aof_commands(directory: Path) -> list[list[bytes]]:
    aof_dir = directory / "appendonlydir"
    manifest = parse_manifest(next(aof_dir.glob("*.manifest")).read_text())
    commands = []
    for entry in manifest:
        if entry.kind == "i":
            commands += [argv for _, argv in iter_commands((aof_dir / entry.name).read_bytes())]
    return commands


def test_effects_reach_the_write_stream_and_replay_after_restart(tmp_path):
    with start_node(tmp_path, "--appendonly", "yes", "--appendfsync", "always") as node:
        c = node.client()
        c.eval("redis.call('set', KEYS[1], ARGV[1]); redis.call('rpush', KEYS[2], 'a', 'b'); "
               "redis.call('incrby', KEYS[3], 5); redis.call('expire', KEYS[1], 1000); "
               "return redis.call('spop', KEYS[4])", 4, "s", "l", "n", "set", "v")
        c.eval("return redis.call('set', KEYS[1], 'one')", 1, "single")
        c.eval("return redis.call('get', KEYS[1])", 1, "single")  # reads write nothing
        c.eval("redis.call('set', 'a', '1'); redis.set_repl(redis.REPL_NONE); "
               "redis.call('set', 'b', '2'); redis.set_repl(redis.REPL_ALL); "
               "redis.call('set', 'c', '3')", 0)
        pipe = c.pipeline(transaction=True)  # a script inside MULTI: one unit with the rest
        pipe.set("t1", "x")
        pipe.eval("redis.call('set', 't2', 'y'); redis.call('set', 't3', 'z')", 0)
        pipe.execute()
        before = {k: c.dump(k) for k in c.keys("*")}
        ttl = c.pttl("s")
        commands = aof_commands(tmp_path)
    names = [argv[0].upper() for argv in commands if argv[0].upper() != b"SELECT"]
    assert names == [b"MULTI", b"SET", b"RPUSH", b"INCRBY", b"PEXPIREAT", b"EXEC",
                     b"SET",
                     b"MULTI", b"SET", b"SET", b"EXEC",
                     b"MULTI", b"SET", b"SET", b"SET", b"EXEC"]
    assert [b"EVAL"] not in [argv[:1] for argv in commands]
    with start_node(tmp_path, "--appendonly", "yes") as node:
        c = node.client()
        expected = dict(before)
        del expected[b"b"]  # written under REPL_NONE: never reached the AOF
        assert {k: c.dump(k) for k in c.keys("*")} == expected
        assert 0 < c.pttl("s") <= ttl
        assert c.get("b") is None and c.get("a") == b"1" and c.get("c") == b"3"


def test_script_commands_count_in_stats_and_notify(node):
    c = node.client()
    c.config_resetstat()
    c.config_set("notify-keyspace-events", "KEA")
    sub = node.client().pubsub()
    sub.psubscribe("__keyevent@0__:*")
    sub.get_message(timeout=5)
    try:
        c.eval("redis.call('set', 'k', 'v'); redis.call('lpush', 'l', 'x')", 0)
        events = []
        while len(events) < 2:
            message = sub.get_message(timeout=5)
            assert message is not None, events
            events.append((message["channel"], message["data"]))
        assert events == [(b"__keyevent@0__:set", b"k"), (b"__keyevent@0__:lpush", b"l")]
        stats = c.info("commandstats")
        assert stats["cmdstat_set"]["calls"] == 1 and stats["cmdstat_eval"]["calls"] == 1
    finally:
        c.config_set("notify-keyspace-events", "")
        sub.close()


def busy_flow(port: int, script: str) -> list:
    """Run a script that loops forever on one connection; from another,
    wait for -BUSY, then SCRIPT KILL. Returns what each side saw."""
    runner = redis.Redis(port=port, socket_timeout=20)
    other = redis.Redis(port=port, socket_timeout=20)
    other.config_set("busy-reply-threshold", 50)
    result: list = []
    thread = threading.Thread(target=lambda: result.append(outcome(runner, "EVAL", script, 0)))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while True:  # until the script passes the threshold
            seen = outcome(other, "GET", "x")
            if seen != b"v" and seen is not None:
                break
            assert time.monotonic() < deadline, "never busy"
        trace = [seen, outcome(other, "PING"), outcome(other, "SCRIPT", "KILL")]
    finally:
        if not result:
            outcome(other, "SCRIPT", "KILL")
        thread.join(20)
    trace += [result, outcome(other, "PING"), outcome(other, "SCRIPT", "KILL")]
    other.config_set("busy-reply-threshold", 5000)
    runner.close()
    other.close()
    return trace


@pytest.mark.parametrize("script", [
    "local i = 0; while true do i = i + 1 end",
    "while true do pcall(function() while true do end end) end",  # pcall cannot swallow the kill
])
def test_busy_script_and_script_kill(node, real_port, script):
    ours, theirs = busy_flow(node.port, script), busy_flow(real_port, script)
    assert ours == theirs
    assert ours[0] == ("error", "BUSY Redis is busy running a script. You can only call SCRIPT KILL "
                                "or SHUTDOWN NOSAVE.")
    assert ours[2] == b"OK" and ours[3][0][1].startswith("Script killed by user with SCRIPT KILL...")


def test_a_script_that_wrote_cannot_be_killed(tmp_path):
    with start_node(tmp_path, "--busy-reply-threshold", "50") as node:
        no_retry = Retry(NoBackoff(), 0)
        runner = node.client(socket_timeout=20, retry=no_retry)
        other = node.client(socket_timeout=20, retry=no_retry)
        result: list = []

        def run() -> None:
            try:
                result.append(outcome(runner, "EVAL", "redis.call('set', 'w', '1'); while true do end", 0))
            except redis.ConnectionError:
                result.append("closed")  # SHUTDOWN NOSAVE ends the node under the script

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 10
        while outcome(other, "PING") is True:
            assert time.monotonic() < deadline, "never busy"
        assert outcome(other, "SCRIPT", "KILL") == (
            "error", "UNKILLABLE Sorry the script already executed write commands against the "
            "dataset. You can either wait the script termination or kill the server in a hard way "
            "using the SHUTDOWN NOSAVE command.")
        with contextlib.suppress(redis.ConnectionError):
            other.shutdown(nosave=True)
        thread.join(20)
        assert node.proc.wait(10) is not None
        assert result == ["closed"]


# -- shebang flags and functions ---------------------------------------------------

@pytest.mark.parametrize("args", [
    ("EVAL", "#!lua flags=no-writes\nreturn redis.call('set', 'a', 'b')", 0),
    ("EVAL", "#!lua flags=no-writes\nreturn redis.pcall('set', 'a', 'b')", 0),
    ("EVAL", "#!lua flags=no-writes\nreturn redis.call('get', 'a')", 0),
    ("EVAL", "#!lua\nreturn redis.call('set', 'a', 'b')", 0),
    ("EVAL_RO", "#!lua\nreturn redis.call('get', 'a')", 0),
    ("EVAL_RO", "#!lua flags=no-writes\nreturn redis.call('get', 'a')", 0),
    ("EVAL", "#!lua flags=bogus\nreturn 1", 0), ("EVAL", "#!python\nreturn 1", 0),
    ("EVAL", "#!luax\nreturn 1", 0), ("EVAL", "#!lua name=x\nreturn 1", 0),
    ("EVAL", "#!lua flags=no-writes,allow-oom,allow-stale,no-cluster,allow-cross-slot-keys\nreturn 1", 0),
    ("EVAL", "#!lua flags=\nreturn 1", 0), ("EVAL", "#!lua flags=no-writes  \nreturn 1", 0),
    ("EVAL", "#!lua\nreturn x", 0), ("EVAL", "#!lua\nerror('x')", 0),
])
def test_shebang_flags_match_redis(pair, args):
    same(pair, *args)


LIBRARY = ("#!lua name=mylib\n"
           "local function helper(keys, args) return redis.call('set', keys[1], args[1]) end\n"
           "redis.register_function('setter', helper)\n"
           "redis.register_function{function_name='getter', callback=function(keys) "
           "return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}\n")


def test_functions_match_redis(pair):
    for client in pair:
        client.function_flush()
    steps = [
        ("FUNCTION", "LOAD", LIBRARY), ("FUNCTION", "LOAD", LIBRARY),
        ("FCALL", "setter", 1, "k", "v"), ("FCALL", "getter", 1, "k"), ("FCALL_RO", "getter", 1, "k"),
        ("FCALL_RO", "setter", 1, "k", "w"), ("FCALL", "nofunc", 0), ("FCALL", "setter", -1),
        ("FCALL", "setter", 5),
        ("FUNCTION", "LIST"), ("FUNCTION", "LIST", "WITHCODE"), ("FUNCTION", "LIST", "LIBRARYNAME", "my*"),
        ("FUNCTION", "LIST", "LIBRARYNAME", "zz*"), ("FUNCTION", "LIST", "bogus"), ("FUNCTION", "STATS"),
        ("FUNCTION", "LOAD", "return 1"), ("FUNCTION", "LOAD", "#!lua\nreturn 1"),
        ("FUNCTION", "LOAD", "#!lua name=bad\nreturn 1"),
        ("FUNCTION", "LOAD", "#!lua name=bad\nredis.call('ping')"),
        ("FUNCTION", "LOAD", "#!lua name=bad\nredis.register_function('setter', function() return 2 end)"),
        ("FUNCTION", "LOAD", "#!lua name=bad\nredis.register_function('1bad-name', function() return 2 end)"),
        ("FUNCTION", "LOAD", "#!lua name=bad\nx = 1"),
        ("FUNCTION", "LOAD", "#!lua name=bad\nredis.register_function('g', function() return 2 end, 5)"),
        ("FUNCTION", "LOAD", "#!lua name=bad\nredis.register_function{function_name='g', "
                             "callback=function() end, flags={'bogus'}}"),
        ("FUNCTION", "LOAD", "#!lua name=bad\nlocal x = "),
        ("FUNCTION", "LOAD", "#!lua name=other\nredis.register_function('g', function() return x end)"),
        ("FCALL", "g", 0),
        ("FUNCTION", "LOAD", "REPLACE", "#!lua name=other\nredis.register_function('g', function() return 3 end)"),
        ("FCALL", "g", 0), ("FUNCTION", "STATS"),
        ("FUNCTION", "DELETE", "nolib"), ("FUNCTION", "KILL"), ("FUNCTION", "RESTORE", "bogus"),
        ("FUNCTION", "DELETE", "other"), ("FCALL", "g", 0), ("FUNCTION", "FLUSH", "bogus"),
        ("SCRIPT", "FLUSH"), ("FCALL", "getter", 1, "k"),  # functions are not scripts
        ("FUNCTION", "FLUSH"), ("FUNCTION", "LIST"), ("FCALL", "getter", 1, "k"),
    ]
    for step in steps:
        if step[:2] == ("FUNCTION", "LIST"):  # functions come in each server's hash order
            assert sorted_functions(outcome(pair[0], *step)) == sorted_functions(outcome(pair[1], *step))
        else:
            same(pair, *step)


def sorted_functions(libraries):
    if not isinstance(libraries, list):
        return libraries
    out = []
    for library in libraries:
        fields = library if isinstance(library, dict) else dict(zip(library[::2], library[1::2]))
        fields = dict(fields)
        fields[b"functions"] = sorted(fields[b"functions"], key=repr)
        out.append(fields)
    return out


def test_function_dump_restore_between_servers(pair):
    """A FUNCTION DUMP payload of either server restores in the other."""
    ours, theirs = pair
    for source, target in ((theirs, ours), (ours, theirs)):
        for client in pair:
            client.function_flush()
        source.function_load(LIBRARY)
        source.function_load("#!lua name=second\nredis.register_function('two', function() return 2 end)")
        payload = source.function_dump()
        target.function_load("#!lua name=second\nredis.register_function('two', function() return 9 end)")
        assert outcome(target, "FUNCTION", "RESTORE", payload) == ("error", "Library second already exists")
        assert target.fcall("two", 0) == 9  # all or nothing
        assert outcome(target, "FUNCTION", "RESTORE", payload, "BOGUS")[0] == "error"
        assert target.function_restore(payload, "REPLACE") is True
        assert target.fcall("two", 0) == 2 and target.fcall("setter", 1, "k", "v") == b"OK"
        assert target.function_restore(payload, "FLUSH") is True
        assert sorted(lib[b"library_name"] if isinstance(lib, dict) else lib[1]
                      for lib in target.function_list()) == [b"mylib", b"second"]


def test_functions_survive_a_restart_through_the_aof(tmp_path):
    with start_node(tmp_path, "--appendonly", "yes") as node:
        c = node.client()
        c.function_load(LIBRARY)
        c.function_load("#!lua name=gone\nredis.register_function('gone', function() return 1 end)")
        c.function_load("#!lua name=second\nredis.register_function('two', function() return 2 end)")
        c.function_delete("gone")
        c.fcall("setter", 1, "k", "v")
    with start_node(tmp_path, "--appendonly", "yes") as node:
        c = node.client()
        assert c.fcall("getter", 1, "k") == b"v" and c.fcall("two", 0) == 2
        assert outcome(c, "FCALL", "gone", 0) == ("error", "Function not found")


def test_functions_survive_a_restart_through_the_snapshot(tmp_path):
    with start_node(tmp_path) as node:
        c = node.client()
        c.function_load(LIBRARY)
        c.fcall("setter", 1, "k", "v")
        c.save()
    with start_node(tmp_path) as node:
        c = node.client()
        assert c.fcall("getter", 1, "k") == b"v"
        assert [lib[b"library_name"] if isinstance(lib, dict) else lib[1]
                for lib in c.function_list()] == [b"mylib"]


def test_functions_survive_an_aof_rewrite(tmp_path):
    with start_node(tmp_path, "--appendonly", "yes") as node:
        c = node.client()
        c.function_load(LIBRARY)
        c.bgrewriteaof()
        deadline = time.monotonic() + 30
        while c.info("persistence")["aof_rewrite_in_progress"] or \
                c.info("persistence")["aof_rewrite_scheduled"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        c.fcall("setter", 1, "k", "v")
    with start_node(tmp_path, "--appendonly", "yes") as node:
        assert node.client().fcall("getter", 1, "k") == b"v"
