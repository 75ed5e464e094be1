"""A real redis-server next to the node, for differential tests: the
installed redis-server (7.0, scripts/setup.sh) in a work directory, on a
free port, stopped by PID afterwards."""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

REDIS_SERVER = shutil.which("redis-server") or "redis-server"  # scripts/setup.sh installs it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def redis_server(workdir: Path, *args: str):
    """A redis-server in workdir (its --dir), stopped by PID afterwards."""
    port = _free_port()
    log = workdir / "redis.log"
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir), "--logfile", str(log),
                             "--sanitize-dump-payload", "yes", *args], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_timeout=10)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    break
            except redis.BusyLoadingError:
                pass
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    text = log.read_text(errors="replace") if log.exists() else ""
                    raise RuntimeError(f"redis-server did not start:\n{text}")
            time.sleep(0.02)
        yield client
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


_RADIX_NODES = re.compile(rb"(radix-tree-nodes)\r\n:\d+")


def mask_radix_nodes(reply: bytes) -> bytes:
    """XINFO STREAM's radix-tree-nodes counts the nodes of Redis's radix
    tree, which ringcache does not have: masked before comparing."""
    return _RADIX_NODES.sub(rb"\1\r\n:X", reply)


_TIMES = [
    (re.compile(rb"(radix-tree-nodes|idle|seen-time)\r\n:\d+"), rb"\1\r\n:X"),
    (re.compile(rb":\d{13}\r\n"), rb":T\r\n"),  # absolute times (delivery, seen)
]
_PENDING_IDLE = re.compile(rb"(\*4\r\n\$\d+\r\n[0-9-]+\r\n\$\d+\r\n[^\r]*\r\n):\d+")


def mask_times(argv: list[str], reply: bytes) -> bytes:
    """A stream reply with what depends on the moment masked: idle times,
    seen and delivery times (13-digit Unix ms), radix-tree-nodes, and the
    idle column of XPENDING's extended form."""
    for pattern, replacement in _TIMES:
        reply = pattern.sub(replacement, reply)
    if argv[0].lower() == "xpending" and len(argv) > 3:
        reply = _PENDING_IDLE.sub(rb"\1:X", reply)
    return reply
