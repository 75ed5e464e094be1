"""LATENCY and LOLWUT against the installed redis-server 7.0: the same slow
command (DEBUG SLEEP) on both servers with latency-monitor-threshold set,
then LATENCY LATEST/HISTORY/DOCTOR/RESET/HELP compared, with the numbers
that depend on the moment (unix times, measured milliseconds) normalised.
The sleeps are real (the latency monitor measures wall time): two of 0.15 s
a test."""

from __future__ import annotations

import re

import pytest
import redis

from differential import outcome, redis_server


@pytest.fixture(scope="module")
def debug_port(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis"), "--enable-debug-command", "yes") as port:
        yield port


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def both(node, debug_port, request):
    ours = node.client(protocol=request.param)
    theirs = redis.Redis(port=debug_port, socket_timeout=10, protocol=request.param)
    for client in (ours, theirs):
        client.response_callbacks.clear()
        client.config_set("latency-monitor-threshold", 0)
        client.execute_command("LATENCY", "RESET")
    yield ours, theirs
    for client in (ours, theirs):
        client.config_set("latency-monitor-threshold", 0)
        client.close()


def normal(reply):
    """The reply with unix times and milliseconds replaced (they differ by moment)."""
    if isinstance(reply, list):
        return [normal(item) for item in reply]
    if isinstance(reply, int) and reply > 100:
        return "N"
    if isinstance(reply, bytes):
        reply = re.sub(rb"period \d+\.\d\d sec", b"period P sec", reply)
        return re.sub(rb"\d{3,}ms", b"Nms", reply)
    return reply


def compare(pair, *args):
    ours, theirs = (normal(outcome(client, *args)) for client in pair)
    assert ours == theirs, args


def test_latency_as_redis(both):
    for args in [("LATENCY", "DOCTOR"), ("LATENCY", "LATEST"), ("LATENCY", "HISTORY", "command"),
                 ("LATENCY", "HELP"), ("LATENCY", "RESET"), ("LATENCY", "FOO"), ("LATENCY", "HISTORY"),
                 ("LATENCY", "LATEST", "x"), ("LATENCY",)]:
        compare(both, *args)
    for client in both:
        client.config_set("latency-monitor-threshold", 100)
    compare(both, "LATENCY", "DOCTOR")  # enabled, nothing seen yet
    for client in both:
        client.execute_command("DEBUG", "SLEEP", "0.15")
    compare(both, "LATENCY", "LATEST")
    compare(both, "LATENCY", "HISTORY", "command")
    compare(both, "LATENCY", "HISTORY", "nosuchevent")
    compare(both, "LATENCY", "DOCTOR")
    for client in both:
        client.config_set("slowlog-log-slower-than", -1)
    compare(both, "LATENCY", "DOCTOR")  # advises enabling the slow log
    for client in both:
        client.config_set("slowlog-log-slower-than", 10000)
    compare(both, "LATENCY", "RESET", "command", "nosuchevent")
    compare(both, "LATENCY", "LATEST")
    ours, theirs = both
    assert ours.execute_command("LATENCY", "LATEST") == []


def test_lolwut(both):
    for args in [("LOLWUT",), ("LOLWUT", "VERSION", "x"), ("LOLWUT", "VERSION", "7"), ("LOLWUT", "foo")]:
        ours, theirs = (outcome(client, *args) for client in both)
        if isinstance(theirs, bytes):
            assert re.sub(rb"\d+\.\d+\.\d+", b"V", ours) == re.sub(rb"\d+\.\d+\.\d+", b"V", theirs)
        else:
            assert ours == theirs
