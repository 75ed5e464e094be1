"""The workload's WAIT tells the truth: Redis answers WAIT from the offset
of the client's own last write, so the WAIT must run on the connection that
carried the write (a fresh connection has no write to wait for and answers
at once). With every replica of a real Redis Cluster stopped, a write's WAIT
must say no replica has it; once they continue, that it does."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from faults.backends import RedisCluster
from faults.history import OK, History
from faults.netns import Loopback
from faults.workload import Worker
from local import free_base

pytestmark = pytest.mark.timeout(120)


def test_wait_runs_on_the_writes_connection(tmp_path):
    backend = RedisCluster(tmp_path, Loopback(6), free_base(6), shards=3, replicas=1,
                           node_timeout_ms=15000)
    try:
        backend.start()
        history = History()
        # WAIT 1 800 (under the client's 1 s socket timeout): a running replica
        # acknowledges well within it even on a loaded machine, a stopped one never
        worker = Worker(0, backend.startup(), history, threading.Event(), rate=100, keys=4,
                        wait_ms=800)
        worker.client = worker._connect()
        worker.call("set", "u:0:1", 1)
        replicas = [backend.node(r) for r in backend.topology().replicas]
        for r in replicas:
            os.kill(r.pid, signal.SIGSTOP)
        try:
            worker.call("set", "u:0:2", 2)
            worker.call("incr", "c:0:0")
        finally:
            for r in replicas:
                os.kill(r.pid, signal.SIGCONT)
        worker.call("set", "u:0:3", 3)
        assert [(op.key, op.outcome, op.replicated) for op in history.ops] == [
            ("u:0:1", OK, True), ("u:0:2", OK, False), ("c:0:0", OK, False), ("u:0:3", OK, True)]
    finally:
        backend.stop()
