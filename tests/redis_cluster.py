"""A real Redis Cluster for the tests: ``masters`` redis-server processes on free
ports (each with its bus port, +10000, free too), joined by
``redis-cli --cluster create`` (no replicas), stopped by PID afterwards.
Skips the test when redis-server or redis-cli is not installed."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
import redis


def _free_base(count: int) -> int:
    import sys
    sys.path.insert(0, str(Path(__file__).parent / "cluster"))
    from local import free_base  # the ringcache clusters' port picker (client + bus ports)
    return int(free_base(count))


@contextlib.contextmanager
def redis_cluster(directory: Path, masters: int = 3) -> Iterator[list[int]]:
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        pytest.skip("redis-server and redis-cli are needed for a Redis Cluster")
    base = _free_base(masters)
    ports = list(range(base, base + masters))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            workdir = directory / str(port)
            workdir.mkdir(parents=True)
            procs.append(subprocess.Popen(
                [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no",
                 "--daemonize", "no"], cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in ports:
            _wait(lambda: redis.Redis(port=port).ping(), "redis-server did not start")
        subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
                        "--cluster-replicas", "0", "--cluster-yes"], check=True, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for port in ports:
            _wait(lambda: b"cluster_state:ok" in redis.Redis(port=port).execute_command("CLUSTER", "INFO"),
                  "the Redis Cluster did not become ok")
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _wait(check, message: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except redis.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(message)
        time.sleep(0.05)
