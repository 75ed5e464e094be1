"""Snapshots and the append-only file on real node processes: restarts,
kill -9 crashes, damaged files, the commands and their replies.

Each node runs in the test's own tmp_path (its `dir`), so restarting in the
same directory finds the files the previous process left."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from nodes import ROOT, Node, spawn, spawn_node
from support import RawConn

from ringcache.persistence.aof import encode_command, parse_manifest
from ringcache.persistence.snapshot import read_snapshot


def start(tmp_path: Path, *args: str) -> Node:
    return spawn_node(list(args), tmp_path / "node.log")


def kill9(node: Node) -> None:
    node.proc.kill()
    node.proc.wait(10)


def failed_start(tmp_path: Path, *args: str) -> tuple[int, str]:
    proc, log = spawn(["--port", "0", "--save", "", *args], tmp_path)
    try:
        rc = proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the node started over a file it could not read:\n" + log.read_text())
    return rc, log.read_text()


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def info(client: redis.Redis) -> dict:
    return client.info("persistence")


def fill_every_type(c: redis.Redis) -> None:
    c.set("s", "v")
    c.set("ttl", "x", px=600_000)
    c.rpush("l", "a", "b", "c")
    c.sadd("set", "m1", "m2")
    c.hset("h", mapping={"f": "1", "g": "2"})
    c.zadd("z", {"a": 1.5, "b": -2})
    c.select(3)
    c.set("in-db-3", "yes")
    c.select(0)


def check_every_type(c: redis.Redis) -> None:
    assert c.get("s") == b"v"
    assert 590_000 < c.pttl("ttl") <= 600_000
    assert c.lrange("l", 0, -1) == [b"a", b"b", b"c"]
    assert c.smembers("set") == {b"m1", b"m2"}
    assert c.hgetall("h") == {b"f": b"1", b"g": b"2"}
    assert c.zrange("z", 0, -1, withscores=True) == [(b"b", -2.0), (b"a", 1.5)]
    c.select(3)
    assert c.get("in-db-3") == b"yes"
    c.select(0)


# -- snapshots -----------------------------------------------------------------------


def test_save_restart_keeps_every_type_db_and_ttl(tmp_path):
    node = start(tmp_path)
    c = node.client()
    fill_every_type(c)
    before = c.lastsave()
    assert info(c)["rdb_changes_since_last_save"] > 0
    assert c.save() is True
    assert info(c)["rdb_changes_since_last_save"] == 0 and c.lastsave() >= before
    kill9(node)
    node = start(tmp_path)
    try:
        c = node.client()
        check_every_type(c)
        assert info(c)["rdb_last_load_keys_loaded"] == 7
        assert "Done loading RDB, keys loaded: 7, keys expired: 0." in node.log()
    finally:
        node.stop()


def test_bgsave_is_a_point_in_time_image_under_writes(tmp_path):
    node = start(tmp_path)
    c = node.client()
    c.set("counter", 0)
    stop = threading.Event()

    def writer() -> None:
        w = node.client()
        i = 0
        while not stop.is_set():
            # Each transaction adds one key and counts it: any consistent
            # image has exactly `counter` keys k:0 .. k:counter-1.
            pipe = w.pipeline(transaction=True)
            pipe.set(f"k:{i}", "x" * 50)
            pipe.incr("counter")
            pipe.execute()
            i += 1
        w.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_for(lambda: int(c.get("counter")) > 500)
        assert c.bgsave() is True
        wait_for(lambda: info(c)["rdb_bgsave_in_progress"] == 0)
        time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
    assert info(c)["rdb_last_bgsave_status"] == "ok"
    assert int(c.get("counter")) > 500
    with open(tmp_path / "dump.rdb", "rb") as f:
        keys, _ = read_snapshot(f, time.time() * 1000)
    values = {key: value for _, key, value, _ in keys}
    count = int(values.pop(b"counter"))
    assert set(values) == {b"k:%d" % i for i in range(count)}
    node.stop()


def test_bgsave_replies_and_schedule(tmp_path):
    node = start(tmp_path, "--appendonly", "yes")
    try:
        c = node.client()
        c.mset({f"key:{i}": "v" * 100 for i in range(20000)})  # a child that takes a moment
        raw = RawConn(node)

        def reply(*args: str) -> bytes:
            raw.send(*args)
            return raw.read_reply()

        assert reply("BGREWRITEAOF") == b"+Background append only file rewriting started\r\n"
        if info(c)["aof_rewrite_in_progress"]:  # (a fast machine may be done already)
            assert reply("BGREWRITEAOF") == \
                b"-ERR Background append only file rewriting already in progress\r\n"
            assert reply("BGSAVE").startswith(b"-ERR Another child process is active (AOF?)")
            assert reply("BGSAVE", "SCHEDULE") == b"+Background saving scheduled\r\n"
            wait_for(lambda: info(c)["rdb_saves"] == 1)
        assert reply("BGSAVE", "NOW") == b"-ERR syntax error\r\n"
        wait_for(lambda: info(c)["aof_rewrite_in_progress"] == 0 and info(c)["rdb_bgsave_in_progress"] == 0)
        assert reply("BGSAVE") == b"+Background saving started\r\n"
        wait_for(lambda: info(c)["rdb_bgsave_in_progress"] == 0)
        assert info(c)["aof_rewrites"] == 1 and info(c)["rdb_last_bgsave_status"] == "ok"
    finally:
        node.stop()


def test_save_points_and_shutdown_save(tmp_path):
    node = start(tmp_path, "--save", "1 1")  # a change, and a second since the last save
    c = node.client()
    c.set("a", "1")
    wait_for(lambda: (tmp_path / "dump.rdb").exists() and info(c)["rdb_saves"] >= 1)
    c.set("b", "2")
    node.stop()  # SIGTERM with save points: a final snapshot
    assert "Saving the final RDB snapshot before exiting." in node.log()
    node = start(tmp_path)
    c = node.client()
    assert c.mget("a", "b") == [b"1", b"2"]
    c.set("c", "3")
    try:
        node.client(retry=Retry(NoBackoff(), 0)).shutdown(nosave=True)
    except redis.ConnectionError:
        pass
    node.proc.wait(10)
    node = start(tmp_path)
    try:
        assert node.client().get("c") is None  # NOSAVE: not saved
    finally:
        node.stop()


def test_corrupt_or_truncated_snapshot_refuses_to_start(tmp_path):
    node = start(tmp_path)
    c = node.client()
    c.mset({f"k{i}": "v" for i in range(100)})
    c.save()
    node.stop()
    path = tmp_path / "dump.rdb"
    image = path.read_bytes()
    path.write_bytes(image[:-7])
    rc, log = failed_start(tmp_path)
    assert rc != 0 and str(path) in log and "offset" in log and "truncated" in log
    damaged = bytearray(image)
    damaged[40] ^= 0xFF
    path.write_bytes(bytes(damaged))
    rc, log = failed_start(tmp_path)
    # A value changed inside: only the RDB's CRC-64 (after EOF) can tell.
    assert rc != 0 and str(path) in log and f"at offset {len(image) - 8}: checksum mismatch" in log


def test_keys_expired_while_down_are_not_resurrected(tmp_path):
    from ringcache.persistence.snapshot import snapshot_chunks

    now = time.time() * 1000
    data = {b"gone": b"1", b"kept": b"2"}
    expires = {b"gone": now - 1000, b"kept": now + 100_000}
    # Written as if taken a minute ago, when "gone" was still alive.
    (tmp_path / "dump.rdb").write_bytes(b"".join(snapshot_chunks([(0, data, expires)], now - 60_000)))
    node = start(tmp_path)
    try:
        c = node.client()
        assert c.keys("*") == [b"kept"]
        assert info(c)["rdb_last_load_keys_expired"] == 1
    finally:
        node.stop()


def test_debug_reload(tmp_path):
    node = start(tmp_path)
    try:
        c = node.client()
        fill_every_type(c)
        assert c.execute_command("DEBUG", "RELOAD") == b"OK"
        check_every_type(c)
    finally:
        node.stop()


# -- the append-only file ---------------------------------------------------------------


def aof_files(tmp_path: Path) -> list[Path]:
    directory = tmp_path / "appendonlydir"
    files = parse_manifest((directory / "appendonly.aof.manifest").read_text())
    return [directory / f.name for f in files]


def test_appendfsync_always_keeps_every_acknowledged_write(tmp_path):
    node = start(tmp_path, "--appendonly", "yes", "--appendfsync", "always")
    acked = []
    stop = threading.Event()

    def writer() -> None:
        w = node.client(retry=Retry(NoBackoff(), 0))  # the crash ends it: no reconnecting
        i = 0
        try:
            while not stop.is_set():
                w.set(f"k{i}", i)
                acked.append(i)
                i += 1
        except redis.ConnectionError:
            pass

    thread = threading.Thread(target=writer)
    thread.start()
    wait_for(lambda: len(acked) > 100)
    kill9(node)
    stop.set()
    thread.join()
    node = start(tmp_path, "--appendonly", "yes")
    try:
        c = node.client()
        missing = [i for i in acked if c.get(f"k{i}") != str(i).encode()]
        assert missing == []
    finally:
        node.stop()


def test_everysec_kill9_loses_no_acknowledged_write(tmp_path):
    # The kernel has every write before its reply leaves (a process crash
    # loses nothing); everysec only bounds what an OS crash could lose.
    node = start(tmp_path, "--appendonly", "yes", "--appendfsync", "everysec")
    c = node.client()
    pipe = c.pipeline(transaction=False)
    for i in range(2000):
        pipe.incr("n")
    pipe.execute()
    # The fsync thread runs about once a second: the writes waited ~1 s for it
    # (what an OS crash could lose), never much longer.
    wait_for(lambda: info(c)["aof_fsync_lag_last_ms"] > 0, timeout=5)
    assert 0 < info(c)["aof_fsync_lag_max_ms"] < 2500
    kill9(node)
    node = start(tmp_path, "--appendonly", "yes")
    try:
        assert node.client().get("n") == b"2000"
    finally:
        node.stop()


def test_aof_records_the_effect_not_the_request(tmp_path):
    node = start(tmp_path, "--appendonly", "yes", "--appendfsync", "always")
    try:
        c = node.client()
        c.set("a", "1", ex=100)
        c.expire("a", 200)
        c.execute_command("SETEX", "b", 100, "2")
        c.incrbyfloat("f", "1.1")
        c.set("gone", "x", px=1)
        c.set("nothing", "1", nx=True)
        c.set("nothing", "2", nx=True)  # changed nothing: not logged
        c.select(2)
        c.set("in2", "v")
        c.select(0)
        pipe = c.pipeline(transaction=True)
        pipe.incr("t")
        pipe.incr("t")
        pipe.execute()
        time.sleep(0.01)
        assert c.get("gone") is None  # expired now: logged as a DEL
        text = aof_files(tmp_path)[-1].read_bytes()
        assert b"PXAT" in text and b"PEXPIREAT" in text and b"EX\r\n" not in text
        assert encode_command([b"SET", b"f", b"1.1", b"KEEPTTL"]) in text
        assert text.count(b"nothing") == 1
        assert encode_command([b"DEL", b"gone"]) in text
        assert encode_command([b"SELECT", b"2"]) + encode_command([b"SET", b"in2", b"v"]) in text
        multi = text.index(encode_command([b"MULTI"]))
        block = text[multi:text.index(encode_command([b"EXEC"]), multi)]
        assert block.startswith(encode_command([b"MULTI"]) + encode_command([b"SELECT", b"0"]))
        assert block.count(b"INCRBY") == 2
    finally:
        node.stop()


def test_bgrewriteaof_under_writes_then_restart(tmp_path):
    node = start(tmp_path, "--appendonly", "yes")
    c = node.client()
    fill_every_type(c)
    c.mset({f"k{i}": i for i in range(3000)})
    assert c.bgrewriteaof() is True
    for i in range(200):
        c.incr("during")
    wait_for(lambda: info(c)["aof_rewrite_in_progress"] == 0)
    assert info(c)["aof_rewrites"] == 1 and info(c)["aof_last_bgrewrite_status"] == "ok"
    names = [p.name for p in aof_files(tmp_path)]
    assert names == ["appendonly.aof.2.base.rdb", "appendonly.aof.2.incr.aof"]
    assert sorted(os.listdir(tmp_path / "appendonlydir")) == sorted(names + ["appendonly.aof.manifest"])
    c.incr("during")
    kill9(node)
    node = start(tmp_path, "--appendonly", "yes")
    try:
        c = node.client()
        check_every_type(c)
        assert c.get("during") == b"201" and c.get("k2999") == b"2999"
    finally:
        node.stop()


def test_config_set_appendonly_yes_starts_with_a_rewrite(tmp_path):
    node = start(tmp_path)
    c = node.client()
    fill_every_type(c)
    c.config_set("appendonly", "yes")
    c.set("after", "1")
    wait_for(lambda: info(c)["aof_rewrite_in_progress"] == 0 and info(c)["aof_enabled"] == 1
             and (tmp_path / "appendonlydir" / "appendonly.aof.manifest").exists())
    c.set("later", "2")
    kill9(node)
    node = start(tmp_path, "--appendonly", "yes")
    try:
        c = node.client()
        check_every_type(c)
        assert c.mget("after", "later") == [b"1", b"2"]
    finally:
        node.stop()


def test_truncated_tail_loads_the_prefix_and_says_so(tmp_path):
    node = start(tmp_path, "--appendonly", "yes")
    node.client().mset({"a": "1", "b": "2"})
    kill9(node)
    incr = aof_files(tmp_path)[-1]
    with open(incr, "ab") as f:
        f.write(encode_command([b"SET", b"c", b"3"])[:-3])  # a write torn by the crash
    rc, log = failed_start(tmp_path, "--appendonly", "yes", "--aof-load-truncated", "no")
    assert rc != 0 and "ringcache check-aof --fix" in log
    node = start(tmp_path, "--appendonly", "yes")
    try:
        c = node.client()
        assert c.mget("a", "b", "c") == [b"1", b"2", None]
        assert "short read while loading the AOF file" in node.log()
        assert "loaded anyway because aof-load-truncated is enabled" in node.log()
        c.set("d", "4")  # appends after the valid prefix
    finally:
        node.stop()
    node = start(tmp_path, "--appendonly", "yes")
    try:
        assert node.client().mget("a", "d") == [b"1", b"4"]
    finally:
        node.stop()


def test_corruption_in_the_middle_refuses_and_check_aof_fixes_it(tmp_path):
    node = start(tmp_path, "--appendonly", "yes")
    c = node.client()
    c.set("a", "1")
    c.set("b", "2")
    c.set("c", "3")
    kill9(node)
    incr = aof_files(tmp_path)[-1]
    data = incr.read_bytes()
    where = data.index(b"*3\r\n$3\r\nSET\r\n$1\r\nb")
    incr.write_bytes(data[:where] + b"!" + data[where + 1:])
    rc, log = failed_start(tmp_path, "--appendonly", "yes")
    assert rc != 0 and f"ringcache check-aof --fix {incr}" in log and f"offset {where}" in log
    fix = subprocess.run([sys.executable, "-m", "ringcache", "check-aof", "--fix", str(incr)],
                         capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert fix.returncode == 0, fix.stdout + fix.stderr
    assert "Successfully truncated" in fix.stdout
    node = start(tmp_path, "--appendonly", "yes")
    try:
        assert node.client().mget("a", "b", "c") == [b"1", None, None]
    finally:
        node.stop()


def test_aof_wins_over_the_snapshot(tmp_path):
    node = start(tmp_path)
    c = node.client()
    c.set("from-rdb", "1")
    c.save()
    c.config_set("appendonly", "yes")
    wait_for(lambda: (tmp_path / "appendonlydir" / "appendonly.aof.manifest").exists()
             and info(c)["aof_rewrite_in_progress"] == 0)
    c.set("from-aof", "1")
    c.delete("from-rdb")
    node.stop()
    node = start(tmp_path, "--appendonly", "yes")
    try:
        assert node.client().keys("*") == [b"from-aof"]
    finally:
        node.stop()


# -- every family through the AOF ------------------------------------------------------


def dump_state(c: redis.Redis) -> dict:
    """Every key of every database with its type, value and TTL (rounded)."""
    state = {}
    for db in range(16):
        c.select(db)
        for key in c.keys("*"):
            kind = c.type(key)
            if kind == b"string":
                value = c.get(key)
            elif kind == b"list":
                value = c.lrange(key, 0, -1)
            elif kind == b"set":
                value = sorted(c.smembers(key))
            elif kind == b"hash":
                value = c.hgetall(key)
            else:
                value = c.zrange(key, 0, -1, withscores=True)
            ttl = c.pttl(key)
            state[(db, key)] = (kind, value, ttl // 10_000 if ttl > 0 else ttl)
    c.select(0)
    return state


def test_every_family_survives_aof_replay_and_rewrite(tmp_path):
    node = start(tmp_path, "--appendonly", "yes", "--appendfsync", "always")
    c = node.client()
    fill_every_type(c)
    c.rpush("queue", *[f"job{i}" for i in range(10)])
    c.sadd("pool", *[f"m{i}" for i in range(20)])
    c.spop("pool", 3)  # random: logged as the SREM of what it popped
    c.zadd("board", {f"p{i}": i for i in range(10)})
    c.zpopmin("board", 2)
    c.hincrbyfloat("h", "float", "2.5")
    c.lpop("queue")
    # A blocked pop served by a later push is logged as the pop it became.
    waiter = node.client()
    result = []
    thread = threading.Thread(target=lambda: result.append(waiter.blpop(["empty"], timeout=10)))
    thread.start()
    wait_for(lambda: c.info("clients")["blocked_clients"] == 1)
    c.rpush("empty", "x", "y")
    thread.join()
    assert result == [(b"empty", b"x")]
    c.expire("queue", 1000)
    c.bgrewriteaof()
    c.rpush("queue", "after-rewrite")
    c.srem("pool", "m19")
    wait_for(lambda: info(c)["aof_rewrite_in_progress"] == 0)
    c.zincrby("board", 0.5, "p5")
    before = dump_state(c)
    kill9(node)
    node = start(tmp_path, "--appendonly", "yes")
    try:
        assert dump_state(node.client()) == before
    finally:
        node.stop()


def test_every_family_survives_a_snapshot(tmp_path):
    node = start(tmp_path)
    c = node.client()
    fill_every_type(c)
    c.execute_command("HSET", "fh", "a", "1", "b", "2")
    try:
        c.execute_command("HPEXPIRE", "fh", 500_000, "FIELDS", 1, "a")
    except redis.ResponseError:
        pass  # (hash field TTLs not there yet)
    c.bgsave()
    wait_for(lambda: info(c)["rdb_bgsave_in_progress"] == 0)
    before = dump_state(c)
    ttl = c.execute_command("HPTTL", "fh", "FIELDS", 1, "a") if b"fh" in c.keys("*") else None
    kill9(node)
    node = start(tmp_path)
    try:
        c = node.client()
        assert dump_state(c) == before
        if ttl and ttl[0] > 0:
            assert 400_000 < c.execute_command("HPTTL", "fh", "FIELDS", 1, "a")[0] <= 500_000
    finally:
        node.stop()


def test_debug_loadaof_and_appendonly_off(tmp_path):
    node = start(tmp_path, "--appendonly", "yes")
    try:
        c = node.client()
        fill_every_type(c)
        c.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 0)
        assert c.execute_command("DEBUG", "LOADAOF") == b"OK"
        check_every_type(c)
        c.config_set("appendonly", "no")
        assert info(c)["aof_enabled"] == 0
        size = aof_files(tmp_path)[-1].stat().st_size
        c.set("not-logged", "1")
        assert aof_files(tmp_path)[-1].stat().st_size == size
    finally:
        node.stop()


def test_auto_rewrite_on_growth(tmp_path):
    node = start(tmp_path, "--appendonly", "yes", "--auto-aof-rewrite-min-size", "1kb",
                 "--auto-aof-rewrite-percentage", "100")
    try:
        c = node.client()
        c.mset({f"k{i}": "v" * 20 for i in range(200)})  # far past twice the empty base
        wait_for(lambda: info(c)["aof_rewrites"] >= 1 and not info(c)["aof_rewrite_in_progress"])
        assert "Starting automatic rewriting of AOF on" in node.log()
        assert info(c)["aof_base_size"] == info(c)["aof_current_size"]
    finally:
        node.stop()


def test_failed_bgsave_is_reported(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    node = start(tmp_path, "--enable-protected-configs", "yes")
    try:
        c = node.client()
        c.set("a", "1")
        c.config_set("dir", str(gone))
        gone.rmdir()  # the child cannot create its temp file
        assert c.bgsave() is True
        wait_for(lambda: info(c)["rdb_bgsave_in_progress"] == 0)
        assert info(c)["rdb_last_bgsave_status"] == "err"
        assert info(c)["rdb_changes_since_last_save"] == 1
        with pytest.raises(redis.ResponseError):
            c.save()
    finally:
        node.stop()


def test_unfinished_transaction_at_the_end_is_reverted(tmp_path):
    node = start(tmp_path, "--appendonly", "yes")
    node.client().set("before", "1")
    kill9(node)
    incr = aof_files(tmp_path)[-1]
    with open(incr, "ab") as f:  # the crash came between MULTI ... and EXEC
        f.write(encode_command([b"MULTI"]) + encode_command([b"SET", b"half", b"1"]))
    node = start(tmp_path, "--appendonly", "yes")
    try:
        c = node.client()
        assert c.get("before") == b"1" and c.get("half") is None
        assert "Revert incomplete MULTI/EXEC transaction" in node.log()
    finally:
        node.stop()
