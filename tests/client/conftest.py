"""Fixtures for the client library tests: every test runs against a real
redis-server (one per test session, on a free port, stopped by PID) and a
ringcache node (the shared node from tests/conftest.py).

``url`` is the backend's URL (flushed before each test); ``raw`` a plain redis-py
client on it for looking behind the cache's back; ``clock`` a manual clock;
``own_redis`` a private redis-server a test may stop, freeze and restart;
``products`` a SQLite database that counts the loads made from it.
"""

from __future__ import annotations

import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from contextlib import closing
from typing import Iterator

import pytest
import redis


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([exe, "--port", str(port), "--save", "", "--appendonly", "no",
                             "--bind", "127.0.0.1", "--daemonize", "no"], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port).ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.02)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(params=["redis", "ringcache"])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        port = request.getfixturevalue("redis_server")
    else:
        port = request.getfixturevalue("shared_node").port
    client = redis.Redis(port=port)
    client.flushall()
    client.close()
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def raw(url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(url)
    yield client
    client.close()


class ManualClock:
    """A clock tests advance by hand: no sleeps for expiry."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def missing_commands(url: str, *names: str) -> list[str]:
    """The commands among ``names`` the server at url does not know (COMMAND INFO
    answers nil for them): tests of features that need them skip on that server
    and start running by themselves once the commands land."""
    client = redis.Redis.from_url(url, protocol=2)
    conn = client.connection_pool.get_connection()
    try:
        # the raw reply: redis-py's COMMAND INFO parser fails on a nil entry
        conn.send_command("COMMAND", "INFO", *names)
        info = conn.read_response()
    finally:
        client.connection_pool.release(conn)
        client.close()
    return [n for n, entry in zip(names, info) if entry is None]


def require_commands(url: str, *names: str) -> None:
    missing = missing_commands(url, *names)
    if missing:
        pytest.skip(f"the server lacks {', '.join(m.upper() for m in missing)}")


class RedisServer:
    """A private redis-server on a free port that a test may stop, freeze
    (SIGSTOP) and restart on the same port. Stopped by PID."""

    def __init__(self, workdir) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed")
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--save", "", "--appendonly", "no",
                                      "--bind", "127.0.0.1", "--daemonize", "no"], cwd=self.workdir,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port).ping()
                return
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGCONT)  # a frozen server cannot exit
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


class ProductDB:
    """The database behind the cache in these tests: a real SQLite file. Every
    load is counted in the database itself, so loads made by other processes
    count too."""

    def __init__(self, path, create: bool = True) -> None:
        self.path = str(path)
        if not create:
            return
        with closing(sqlite3.connect(self.path)) as db, db:
            db.execute("create table products (id integer primary key, name text, cents integer)")
            db.execute("create table loads (n integer not null)")
            db.execute("insert into loads values (0)")
            db.executemany("insert into products values (?, ?, ?)",
                           [(i, f"product {i}", 100 * i) for i in range(1, 101)])

    def load(self, pid: int, hold: float = 0.0) -> dict | None:
        """One load: counted, then the row; ``hold`` keeps the load in flight that
        long (a slow query), so that concurrent readers really overlap it."""
        with closing(sqlite3.connect(self.path, timeout=30)) as db:
            with db:
                db.execute("update loads set n = n + 1")
            row = db.execute("select id, name, cents from products where id = ?", (pid,)).fetchone()
        if hold:
            time.sleep(hold)
        return None if row is None else {"id": row[0], "name": row[1], "cents": row[2]}

    def loads(self) -> int:
        with closing(sqlite3.connect(self.path, timeout=30)) as db:
            return int(db.execute("select n from loads").fetchone()[0])


@pytest.fixture
def products(tmp_path) -> ProductDB:
    return ProductDB(tmp_path / "shop.db")
