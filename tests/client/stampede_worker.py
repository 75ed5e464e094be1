"""One process of the cross-process stampede test (test_cache_pool.py).

    python stampede_worker.py URL DB_PATH THREADS KEY

Builds a Cache with the defaults (the default pool included), starts THREADS
threads, says it is ready (INCR <KEY>:ready), waits for the test's go
(<KEY>:go), and lets every thread call get_or_set(KEY) at once. The loader reads
the SQLite database, which counts the loads of every process. Prints one JSON
line: the values returned and the cache's metrics.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import redis

from conftest import ProductDB
from ringcache.client import Cache


def main() -> None:
    url, db_path, threads, key = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    db = ProductDB(db_path, create=False)
    control = redis.Redis.from_url(url)
    results: list[object] = []
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)
    with Cache(url) as cache:
        def reader() -> None:
            start.wait()
            value = cache.get_or_set(key, lambda: db.load(1, hold=0.2), ttl=60)
            with lock:
                results.append(value)

        workers = [threading.Thread(target=reader) for _ in range(threads)]
        for t in workers:
            t.start()
        control.incr(key + ":ready")
        deadline = time.monotonic() + 60
        while not control.exists(key + ":go"):
            if time.monotonic() > deadline:
                raise SystemExit("no go from the test")
            time.sleep(0.001)
        start.wait()
        for t in workers:
            t.join()
        metrics = cache.metrics.as_dict()
    control.close()
    distinct = sorted({json.dumps(v, sort_keys=True) for v in results})
    print(json.dumps({"count": len(results), "distinct": distinct, "metrics": metrics}))


if __name__ == "__main__":
    main()
