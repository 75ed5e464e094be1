"""The node re-executes itself under jemalloc where the system has it
(ringcache/allocator.py); RINGCACHE_ALLOCATOR=libc keeps glibc's malloc."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nodes import start_node
from ringcache.allocator import find_jemalloc


def mapped_jemalloc(pid: int) -> bool:
    return "libjemalloc" in Path(f"/proc/{pid}/maps").read_text()


def test_node_runs_on_jemalloc_in_the_same_process(tmp_path):
    if find_jemalloc() is None:
        pytest.fail("libjemalloc2 is not installed (scripts/setup.sh installs it)")
    with start_node(tmp_path) as node:
        # The PID the test started is the node itself, now with jemalloc.
        assert mapped_jemalloc(node.proc.pid)
        client = node.client()
        assert client.info("memory")["mem_allocator"] == "pymalloc+jemalloc"
        assert client.set("k", "v" * 2000) and len(client.get("k")) == 2000
        client.close()


def test_opting_out_keeps_libc_malloc(tmp_path, monkeypatch):
    monkeypatch.setenv("RINGCACHE_ALLOCATOR", "libc")
    with start_node(tmp_path) as node:
        assert not mapped_jemalloc(node.proc.pid)
        client = node.client()
        assert client.info("memory")["mem_allocator"] == "pymalloc+libc"
        client.close()
