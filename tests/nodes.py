"""Real node processes for the tests: `start_node(tmp_path, *flags)` runs a
ringcache node on a free port (--port 0; the port is read from its log, which
also checks that feature) and stops it afterwards. Fixtures are in conftest.py;
these are plain functions so that test modules can import them."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(rb"Ready to accept connections tcp on [^\n]+? port (\d+)")


class Node:
    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path) -> None:
        self.proc = proc
        self.port = port
        self.host = "127.0.0.1"
        self.log_path = log_path

    def client(self, **kwargs) -> redis.Redis:
        kwargs.setdefault("socket_timeout", 10)
        kwargs.setdefault("protocol", 2)  # redis-py 8 defaults to RESP3
        return redis.Redis(host=self.host, port=self.port, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def spawn(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Path]:
    """`ringcache server ARGS` run in cwd, logging to cwd/node.log (env: extra
    environment variables, e.g. RINGCACHE_PURE)."""
    log = cwd / "node.log"
    proc = subprocess.Popen([sys.executable, "-m", "ringcache", "server", *args], cwd=cwd,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)})
    return proc, log


def wait_ready(proc: subprocess.Popen, log: Path, timeout: float = 15.0) -> int:
    """The port the node reports once it accepts connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = READY.search(log.read_bytes())
        if match:
            return int(match.group(1))
        if proc.poll() is not None:
            raise RuntimeError(f"node exited with {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"node did not start:\n{log.read_text()}")


def spawn_node(args: list[str], log_path: Path, timeout: float = 15.0,
               env: dict[str, str] | None = None) -> Node:
    proc, log = spawn(["--port", "0", "--save", "", "--enable-debug-command", "yes", *args],
                      log_path.parent, env)
    return Node(proc, wait_ready(proc, log, timeout), log)


@contextlib.contextmanager
def start_node(tmp_path: Path, *args: str):
    """A ringcache node with extra config flags, stopped afterwards."""
    node = spawn_node(list(args), tmp_path / "node.log")
    try:
        yield node
    finally:
        node.stop()
