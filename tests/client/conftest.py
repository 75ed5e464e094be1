"""Fixtures for the client library tests: every test runs against a real
redis-server (one per test session, on a free port, stopped by PID) and a
ringcache node (the shared node from tests/conftest.py).

``url`` is the backend's URL (flushed before each test); ``raw`` a plain redis-py
client on it for looking behind the cache's back; ``clock`` a manual clock.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
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
