"""Every ringcache.client pattern in one runnable script, with SQLite as the database.

    .venv/bin/python examples/client_patterns.py [redis://127.0.0.1:6379/0]

Works against a ringcache node or redis-server. Uses keys under "example:" (and
the write-behind queues under "{rcwb:example:") and deletes them at the end.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
import time

from ringcache.client import (MISS, AsyncCache, AsyncWriteBehind, Cache, HotKeyDetector, HotKeys, NearCache,
                              VersionedNamespace, WriteBehind, WriteThrough)
from ringcache.client.near_cache import wait_for

URL = sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379/0"

db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
db.execute("create table users (id integer primary key, name text not null)")
db.executemany("insert into users values (?, ?)", [(1, "ada"), (2, "grace")])
db.execute("create table stock (sku text primary key, qty integer not null check (qty >= 0))")
db_lock = threading.Lock()


def load_user(uid: int) -> dict | None:
    with db_lock:
        row = db.execute("select id, name from users where id = ?", (uid,)).fetchone()
    return None if row is None else {"id": row[0], "name": row[1]}


def save_user(key: str, value: dict) -> None:
    with db_lock:
        db.execute("insert into users values (?, ?) on conflict(id) do update set name = excluded.name",
                   (value["id"], value["name"]))


def save_stock(items: list[tuple[str, int]]) -> None:
    """The write-behind writer: one call per batch, an idempotent upsert."""
    with db_lock:
        db.execute("begin")
        try:
            db.executemany("insert into stock values (?, ?) on conflict(sku) do update set qty = excluded.qty",
                           items)
            db.execute("commit")
        except BaseException:
            db.execute("rollback")
            raise


def stock_rows() -> dict[str, int]:
    with db_lock:
        return dict(db.execute("select sku, qty from stock order by sku").fetchall())


def main() -> None:
    cache = Cache(URL, namespace="example:", default_ttl=300, jitter=0.1, none_ttl=30)

    # 1. cache-aside
    print("get_or_set:", cache.get_or_set("user:1", lambda: load_user(1), ttl=60))
    print("get (hit):", cache.get("user:1"), "| absent:", cache.get("user:999"))
    assert cache.get("user:999") is MISS
    print("negative caching:", cache.get_or_set("user:999", lambda: load_user(999)), "->",
          cache.get("user:999"))  # None is cached for none_ttl seconds

    # 2. decorator
    @cache.cached(ttl=60)
    def user(uid: int) -> dict | None:
        return load_user(uid)

    print("decorated:", user(2), user(uid=2), "key:", user.key(2))
    user.invalidate(2)

    # 3. stampede protection: 50 threads, one load (single flight + lock)
    calls = []

    def slow_report() -> str:
        calls.append(1)
        time.sleep(0.05)
        return "report"

    threads = [threading.Thread(target=cache.get_or_set, args=("report", slow_report),
                                kwargs={"stampede": "lock"}) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("50 concurrent readers, loader calls:", len(calls))
    print("xfetch:", cache.get_or_set("stats", lambda: {"n": 1}, ttl=60, stampede="xfetch"))

    # 4. refresh-ahead for a hot key, refreshed by the cache's background thread
    cache.register_hot("hot:config", lambda: {"flags": ["a"]}, ttl=10, ahead=0.2)

    # 5. write-through: database first, then cache
    users = WriteThrough(cache, save_user, ttl=60)
    users.write("user:1", {"id": 1, "name": "ada lovelace"})
    print("after write-through:", cache.get("user:1"), load_user(1))

    # 6. versioned namespace: one INCR invalidates all of it
    reports = VersionedNamespace(cache, "reports")
    reports.set("q1", [1, 2, 3], ttl=60)
    reports.bump()
    print("after bump:", reports.get("q1"))

    # 7. near cache (L1) kept fresh by CLIENT TRACKING: another client's write evicts it
    with NearCache(cache, max_entries=1000, ttl=5) as near, Cache(URL, namespace="example:") as other:
        other.set("flag", "on")
        near.get("flag"); near.get("flag")                 # the second read is served from L1
        other.set("flag", "off")
        wait_for(lambda: "flag" not in near)
        print("near cache after another client's write:", near.get("flag"), near.stats()["hit_ratio"])

    # 8. write-behind: the cache at once, SQLite in batches; coalesced; bad rows dead-lettered
    with WriteBehind(cache, save_stock, writer_id="example", max_batch=50, max_delay=0.5,
                     max_attempts=2, backoff=(0.001, 0.001)) as stock:
        for qty in (10, 9, 8):
            stock.write("apple", qty)                       # three writes, one database row
        stock.write("pear", 3)
        stock.write("broken", -1)                           # the CHECK constraint refuses it
        print("write-behind, cache now:", cache.get("apple"), "| pending keys:", len(stock.pending))
        stock.flush()
        print("write-behind, database after flush:", stock_rows())
        print("dead letters:", [(d.key, d.value) for d in stock.dead_letters()])
        stock.clear_dead()

    # 9. hot keys: 4 copies on 4 slots, found by the top-k sketch
    hot = HotKeys(cache, copies=4, auto=True, detector=HotKeyDetector(window=200, threshold=0.05))
    hot.set("home", "<html>")
    for i in range(400):
        hot.get("home" if i % 3 == 0 else f"page:{i}")
    print("hot keys replicated:", hot.replicated(), "copy reads:", cache.metrics.as_dict()["hot_copy_reads"] > 0)
    hot.unreplicate("home")

    # 10. asyncio: the same names, awaited
    async def async_part() -> None:
        async with AsyncCache(URL, namespace="example:") as acache:
            async def load() -> dict | None:
                await asyncio.sleep(0)
                return load_user(2)
            print("async get_or_set:", await acache.get_or_set("user:2", load, ttl=60))
            async with AsyncWriteBehind(acache, save_stock, writer_id="example-async") as astock:
                await astock.write("plum", 5)
            print("async write-behind, after close:", stock_rows().get("plum"))

    asyncio.run(async_part())

    print("metrics:", {k: round(v, 3) for k, v in cache.metrics.as_dict().items()})
    keys = list(cache.client.scan_iter("example:*")) + list(cache.client.scan_iter("{rcwb:example:*"))
    if keys:
        cache.client.delete(*keys)
    cache.close()


if __name__ == "__main__":
    main()
