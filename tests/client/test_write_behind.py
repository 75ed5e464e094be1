"""Write-behind against a real database (SQLite): batches by size and by delay,
coalescing, retries with backoff, dead letters, backpressure, flush on close and
on a signal, and a crashed writer process whose claimed writes a restarted writer
delivers. The pending writes live in the server: every test runs against
redis-server and, once it has the list and hash commands, the ringcache node."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis

from conftest import ManualClock, require_commands
from ringcache.client import MISS, AsyncCache, Cache, SerializationError
from ringcache.client.near_cache import wait_for
from ringcache.client.write_behind import AsyncWriteBehind, WriteBehind, WriteBehindFull

ROOT = Path(__file__).resolve().parents[2]
NEEDED = ("lmove", "lrem", "rpush", "lrange", "hset", "hget", "hmget", "hdel", "hgetall", "hvals")


@pytest.fixture
def wb_url(url: str) -> str:
    require_commands(url, *NEEDED)
    return url


class Db:
    """SQLite with a CHECK constraint (a row the database refuses) and a switch
    for an outage; counts the writer's calls."""

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self.conn.execute("create table stock (sku text primary key, qty integer not null check (qty >= 0))")
        self.lock = threading.Lock()
        self.down = False
        self.calls: list[list[tuple[str, Any]]] = []
        self.deletes: list[list[str]] = []

    def write(self, items: list[tuple[str, Any]]) -> None:
        with self.lock:
            self.calls.append(list(items))
            if self.down:
                raise sqlite3.OperationalError("database is locked (injected outage)")
            with self.conn:
                self.conn.executemany(
                    "insert into stock values (?, ?) on conflict(sku) do update set qty = excluded.qty", items)

    def delete(self, keys: list[str]) -> None:
        with self.lock:
            self.deletes.append(list(keys))
            with self.conn:
                self.conn.executemany("delete from stock where sku = ?", [(k,) for k in keys])

    def rows(self) -> dict[str, int]:
        with self.lock:
            return dict(self.conn.execute("select sku, qty from stock").fetchall())


@pytest.fixture
def db() -> Db:
    return Db()


@pytest.fixture
def cache(wb_url: str, clock: ManualClock) -> Iterator[Cache]:
    with Cache(wb_url, namespace="s:", clock=clock, jitter=0) as c:
        yield c


def test_batches_by_size_and_by_delay(cache: Cache, db: Db, clock: ManualClock) -> None:
    with WriteBehind(cache, db.write, max_batch=3, max_delay=2.0, start=False) as wb:
        wb.write("apple", 1)
        wb.write("pear", 2)
        assert cache.get("apple") == 1 and cache.get("pear") == 2   # in the cache at once
        assert wb.tick() == 0 and db.rows() == {}                   # not due: 2 < 3, young
        wb.write("plum", 3)
        assert wb.tick() == 3                                       # a full batch
        assert db.calls == [[("apple", 1), ("pear", 2), ("plum", 3)]]
        wb.write("fig", 4)
        clock.advance(1.9)
        assert wb.tick() == 0
        clock.advance(0.1)                                          # max_delay reached
        assert wb.tick() == 1 and db.rows()["fig"] == 4
        assert cache.metrics.as_dict()["wb_batches"] == 2
        assert wb.pending == frozenset()


def test_repeated_writes_to_one_key_are_coalesced(cache: Cache, db: Db) -> None:
    with WriteBehind(cache, db.write, start=False) as wb:
        for qty in range(1, 101):
            wb.write("apple", qty)
        wb.write("pear", 7)
        assert len(wb.pending) == 2
        assert cache.metrics.as_dict()["wb_queue_depth"] == 2
        assert wb.flush() == 2
        assert db.calls == [[("apple", 100), ("pear", 7)]]          # one database write per key
        assert cache.metrics.as_dict()["wb_queue_depth"] == 0


def test_write_during_the_flush_is_not_lost(cache: Cache, db: Db) -> None:
    """A write of a key whose older value is being flushed re-queues the key and
    keeps its newer record: the acknowledgement of the old one must not drop it."""
    wb: WriteBehind

    def writer(items: list[tuple[str, Any]]) -> None:
        db.write(items)
        if items == [("apple", 1)]:
            wb.write("apple", 2)       # arrives while batch 1 is in the database

    wb = WriteBehind(cache, writer, start=False)
    wb.write("apple", 1)
    wb.flush()
    assert db.rows() == {"apple": 2} and [c for c in db.calls] == [[("apple", 1)], [("apple", 2)]]
    assert wb.pending == frozenset()
    wb.close()


def test_deletes_reach_the_deleter(cache: Cache, db: Db, raw: redis.Redis) -> None:
    with WriteBehind(cache, db.write, db.delete, start=False) as wb:
        wb.write("apple", 5)
        wb.flush()
        wb.write("apple", 6)
        wb.delete("apple")                       # coalesced: the last write is a delete
        assert cache.get("apple") is MISS        # gone from the cache at once
        wb.flush()
        assert db.rows() == {} and db.deletes == [["apple"]] and len(db.calls) == 1
        with pytest.raises(SerializationError):
            wb.write("bad", {1, 2})              # nothing written anywhere
        assert wb.pending == frozenset() and raw.get("s:bad") is None
    with WriteBehind(cache, db.write, start=False) as no_deleter, pytest.raises(TypeError):
        no_deleter.delete("apple")


def test_get_falls_back_to_the_pending_write(cache: Cache, db: Db, raw: redis.Redis) -> None:
    with WriteBehind(cache, db.write, start=False) as wb:
        wb.write("apple", 9)
        raw.delete("s:apple")                    # evicted before the flush
        assert cache.get("apple") is MISS
        assert wb.get("apple") == 9              # read-your-writes from the queue
        wb.flush()
        assert wb.get("apple") is MISS and db.rows() == {"apple": 9}


def test_retries_with_backoff_then_dead_letters_only_the_bad_row(cache: Cache, db: Db) -> None:
    sleeps: list[float] = []
    with WriteBehind(cache, db.write, max_attempts=3, backoff=(0.01, 0.015), sleep=sleeps.append,
                     start=False) as wb:
        wb.write("apple", 1)
        wb.write("bad", -1)                      # violates the CHECK constraint
        wb.write("pear", 2)
        assert wb.flush() == 3
        assert sleeps == [0.01, 0.015]           # 3 attempts, exponential backoff, capped
        assert db.rows() == {"apple": 1, "pear": 2}   # isolated: the good rows got through
        [letter] = wb.dead_letters()
        assert (letter.key, letter.op, letter.value) == ("bad", "set", -1)
        assert "IntegrityError" in letter.error and "CHECK" in letter.error
        m = cache.metrics.as_dict()
        assert m["wb_failures"] == 4 and m["wb_retries"] == 2 and m["wb_dead_letters"] == 1
        assert wb.pending == frozenset()
        assert wb.clear_dead() == 1 and wb.dead_letters() == []


def test_outage_then_requeue_of_the_dead_letters(cache: Cache, db: Db) -> None:
    with WriteBehind(cache, db.write, max_attempts=2, sleep=lambda s: None, start=False) as wb:
        wb.write("apple", 1)
        db.down = True
        wb.flush()
        assert db.rows() == {} and [d.key for d in wb.dead_letters()] == ["apple"]
        db.down = False
        wb.write("pear", 2)
        assert wb.requeue_dead() == 1 and wb.dead_letters() == []
        wb.flush()
        assert db.rows() == {"apple": 1, "pear": 2}


def test_bounded_queue_backpressure(cache: Cache, db: Db) -> None:
    with WriteBehind(cache, db.write, max_pending=2, put_timeout=0.05, start=False) as wb:
        wb.write("a", 1)
        wb.write("b", 1)
        wb.write("a", 2)                         # a queued key is coalesced: no room needed
        with pytest.raises(WriteBehindFull, match="held 2 keys"):
            wb.write("c", 1)
        assert cache.get("c") is MISS            # a refused write touches nothing
    # with the flusher running, writers wait for room instead of failing
    with WriteBehind(cache, db.write, max_pending=2, max_batch=2, max_delay=0.001, put_timeout=5) as wb:
        for i in range(20):
            wb.write(f"k{i}", i)
    assert len(db.rows()) == 2 + 20 and cache.metrics.as_dict()["wb_backpressure_waits"] >= 1


def test_close_flushes_and_the_thread_flushes_by_delay(cache: Cache, db: Db) -> None:
    with WriteBehind(cache, db.write, max_delay=3600) as wb:
        wb.write("apple", 1)
    assert db.rows() == {"apple": 1}             # leaving the with block flushed it
    with pytest.raises(RuntimeError, match="closed"):
        wb.write("apple", 2)
    with WriteBehind(cache, db.write, max_delay=0.0, clock=lambda: 0.0) as wb:
        wb.write("pear", 2)
        assert wait_for(lambda: db.rows().get("pear") == 2)   # the background thread


def test_flush_on_signal(cache: Cache, db: Db) -> None:
    previous = signal.getsignal(signal.SIGUSR1)
    try:
        with WriteBehind(cache, db.write, max_delay=3600) as wb:
            wb.flush_on_signal(signal.SIGUSR1, chain=False)
            wb.write("apple", 1)
            os.kill(os.getpid(), signal.SIGUSR1)
            assert wait_for(lambda: db.rows() == {"apple": 1})
    finally:
        signal.signal(signal.SIGUSR1, previous)


CRASHING_WRITER = textwrap.dedent("""
    import os, sys
    from ringcache.client import Cache
    from ringcache.client.write_behind import WriteBehind

    def writer(items):
        os._exit(3)     # the process dies with the batch claimed and not acknowledged

    cache = Cache(sys.argv[1], namespace="s:")
    wb = WriteBehind(cache, writer, writer_id="w1", start=False)
    wb.write("apple", 1)
    wb.write("pear", 2)
    wb.write("apple", 3)
    print("acknowledged", flush=True)
    wb.flush()
""")


def test_a_crashed_writer_loses_nothing_it_acknowledged(cache: Cache, db: Db, raw: redis.Redis,
                                                        wb_url: str) -> None:
    result = subprocess.run([sys.executable, "-c", CRASHING_WRITER, wb_url], capture_output=True,
                            text=True, timeout=30, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 3 and "acknowledged" in result.stdout, result.stderr
    tag = "{rcwb:s:default:w1}"
    assert raw.llen(f"{tag}:processing") == 2 and raw.llen(f"{tag}:queue") == 0   # claimed, not acked
    # the restarted writer (same writer_id) re-claims the processing list
    with WriteBehind(cache, db.write, writer_id="w1", start=False) as wb:
        assert len(wb.pending) == 2
        wb.write("plum", 4)
        wb.flush()
    assert db.rows() == {"apple": 3, "pear": 2, "plum": 4}
    assert raw.exists(f"{tag}:processing", f"{tag}:queue", f"{tag}:data") == 0


def test_writers_with_different_ids_have_separate_queues(cache: Cache, db: Db) -> None:
    with WriteBehind(cache, db.write, writer_id="a", start=False) as a, \
            WriteBehind(cache, db.write, writer_id="b", start=False) as b:
        a.write("x", 1)
        b.write("y", 2)
        assert len(a.pending) == len(b.pending) == 1
        assert a.flush() == 1 and db.rows() == {"x": 1}
    assert db.rows() == {"x": 1, "y": 2}


def test_async_write_behind(wb_url: str, db: Db) -> None:
    clock = ManualClock()

    async def main() -> None:
        async with AsyncCache(wb_url, namespace="s:", clock=clock) as cache:
            async def awrite(items: list[tuple[str, Any]]) -> None:
                await asyncio.sleep(0)
                db.write(items)

            sleeps: list[float] = []

            async def record_sleep(seconds: float) -> None:
                sleeps.append(seconds)

            async with AsyncWriteBehind(cache, awrite, db.delete, max_batch=2, max_delay=5,
                                        max_attempts=2, sleep=record_sleep, start=False) as wb:
                await wb.write("apple", 1)
                await wb.write("apple", 2)
                assert await cache.get("apple") == 2 and len(wb.pending) == 1
                assert await wb.tick() == 0
                clock.advance(5)
                assert await wb.tick() == 1 and db.calls[-1] == [("apple", 2)]
                await wb.write("bad", -3)
                await wb.write("pear", 3)            # a full batch of 2
                assert await wb.tick() == 2 and sleeps == [0.05]
                assert db.rows() == {"apple": 2, "pear": 3}
                assert [d.key for d in await wb.dead_letters()] == ["bad"]
                await wb.delete("pear")
                raw_evicted = await wb.get("pear")
                assert raw_evicted is MISS
                await wb.write("fig", 8)
            # aclose flushed the delete and the young write
            assert db.rows() == {"apple": 2, "fig": 8}
            # the flusher task, by delay
            async with AsyncWriteBehind(cache, db.write, max_delay=0.0) as wb:
                await wb.write("kiwi", 1)
                for _ in range(500):
                    if db.rows().get("kiwi") == 1:
                        break
                    await asyncio.sleep(0.002)
                assert db.rows().get("kiwi") == 1

    asyncio.run(main())


# -- a property: whatever happens, the database ends with each key's last write ------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

KEYS = st.sampled_from(["a", "b", "c", "d"])
OPS = st.lists(st.one_of(
    st.tuples(st.just("write"), KEYS, st.integers(0, 9)),
    st.tuples(st.just("delete"), KEYS),
    st.tuples(st.just("tick")),                # flush what is due (max_batch 2)
    st.tuples(st.just("flush_failing")),       # the database is down: retries, dead letters
    st.tuples(st.just("crash")),               # claim a batch, then the process dies
), max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_property_the_database_ends_with_the_last_writes(wb_url: str, ops: list[tuple]) -> None:
    url = wb_url
    raw_client = redis.Redis.from_url(url)
    raw_client.flushall()
    db = Db()
    cache = Cache(url, namespace="p:")
    model: dict[str, int | None] = {}           # key -> last write (None: deleted)
    dead: set[str] = set()                       # keys whose last write was dead-lettered

    def new_writer() -> WriteBehind:
        return WriteBehind(cache, db.write, db.delete, writer_id="prop", max_batch=2, max_delay=3600,
                           max_attempts=2, sleep=lambda s: None, start=False)

    wb = new_writer()
    for op in ops:
        if op[0] == "write":
            wb.write(op[1], op[2])
            model[op[1]] = op[2]
            dead.discard(op[1])
        elif op[0] == "delete":
            wb.delete(op[1])
            model[op[1]] = None
            dead.discard(op[1])
        elif op[0] == "tick":
            wb.tick()
        elif op[0] == "flush_failing":
            db.down = True
            keys = set(wb._queued)
            wb.flush()
            db.down = False
            # only sets fail in an outage here (deletes still work): those are dead letters
            dead |= {k for k in keys if model.get(k) is not None}
            assert {d.key for d in wb.dead_letters()} == dead
        else:
            wb._locked(wb._claim_steps())        # claimed, never acknowledged
            wb._closed = True                     # the process is gone: no flush at close
            import atexit
            atexit.unregister(wb.close)
            cache.metrics.remove_gauge("wb_queue_depth", wb._depth)
            wb = new_writer()                     # the restart re-claims the processing list
    wb.requeue_dead()
    wb.close()
    expected = {k: v for k, v in model.items() if v is not None}
    assert db.rows() == expected
    assert wb.dead_letters() == [] and wb.pending == frozenset()
    cache.close()
    raw_client.close()


def test_async_flush_on_signal(wb_url: str, db: Db) -> None:
    async def main() -> None:
        async with AsyncCache(wb_url, namespace="s:") as cache:
            async with AsyncWriteBehind(cache, db.write, max_delay=3600) as wb:
                wb.flush_on_signal(signal.SIGUSR2)
                try:
                    await wb.write("apple", 1)
                    os.kill(os.getpid(), signal.SIGUSR2)
                    for _ in range(1000):
                        if db.rows() == {"apple": 1} and wb.pending == frozenset():   # written and acknowledged
                            break
                        await asyncio.sleep(0.002)
                    assert db.rows() == {"apple": 1} and wb.pending == frozenset()
                finally:
                    asyncio.get_running_loop().remove_signal_handler(signal.SIGUSR2)

    asyncio.run(main())


SIGTERMED_WRITER = textwrap.dedent("""
    import sqlite3, sys, time
    from ringcache.client import Cache
    from ringcache.client.write_behind import WriteBehind

    db = sqlite3.connect(sys.argv[2], check_same_thread=False, isolation_level=None)
    db.execute("create table stock (sku text primary key, qty integer)")

    def writer(items):
        with db:
            db.executemany("insert or replace into stock values (?, ?)", items)

    wb = WriteBehind(Cache(sys.argv[1], namespace="t:"), writer, writer_id="term", max_delay=3600)
    wb.flush_on_signal()            # SIGTERM: flush, then die of it as before
    wb.write("apple", 1)
    wb.write("pear", 2)
    print("ready", flush=True)
    time.sleep(30)                  # the signal ends this
""")


def test_sigterm_flushes_then_terminates(wb_url: str, tmp_path: Path) -> None:
    path = tmp_path / "stock.db"
    proc = subprocess.Popen([sys.executable, "-c", SIGTERMED_WRITER, wb_url, str(path)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == -signal.SIGTERM          # the default action still happens
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rows = dict(sqlite3.connect(path).execute("select sku, qty from stock").fetchall())
    assert rows == {"apple": 1, "pear": 2}
