"""The property test of tests/unit/test_model.py, shorter, over the wire: a
node process, raw RESP2/RESP3 connections, the clock moved with DEBUG
ADVANCE-CLOCK, every reply compared with the pure model.

The node's clock is the real clock plus the advances, so real time drifts a
little during an example. TTLs and advances are therefore chosen on a grid
that keeps every expiry time 10 s away from any moment the test looks at
(advances are multiples of 30 s; TTLs are 10 s past a multiple of 30 s,
whether read as milliseconds or as seconds), and TTL/PTTL replies are
compared within that drift. Absolute times (EXAT, EXPIREAT, EXPIRETIME) stay
in the in-process test, where the clock is exact.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hiredis
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))

from model import Model  # noqa: E402
from test_model import (  # noqa: E402
    available_commands,
    command_strategies,
    steps_strategy,
)
from support import RawConn  # noqa: E402

from ringcache.protocol.resp import encode  # noqa: E402

GRID_MS = 30_000
WIRE_TIMES = [b"10000", b"40000", b"70000", b"0", b"-1", b"x"]  # (overflows: in-process)
WIRE_ADVANCES = [0, GRID_MS, 2 * GRID_MS, 333 * GRID_MS]
DRIFT_MS = 10_000

STRATEGIES = command_strategies(WIRE_TIMES, absolute=False)
NAMES = available_commands(STRATEGIES)


def parse(raw: bytes):
    reader = hiredis.Reader()
    reader.feed(raw)
    return _plain(reader.gets())


def _plain(value):
    if isinstance(value, hiredis.ReplyError):
        return ("error", str(value))
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def matches(argv: list[bytes], expected, actual) -> bool:
    """Equal, except that TTL/PTTL may have lost up to DRIFT_MS of real time
    and KEYS has no order."""
    name = argv[0].upper()
    if name == b"PTTL" and isinstance(expected, int) and expected >= 0:
        return isinstance(actual, int) and expected - DRIFT_MS <= actual <= expected
    if name == b"TTL" and isinstance(expected, int) and expected >= 0:
        return isinstance(actual, int) and expected - DRIFT_MS // 1000 - 1 <= actual <= expected
    if name == b"KEYS" and isinstance(actual, list):
        return sorted(actual) == expected
    return expected == actual


class WireClient:
    def __init__(self, node, protocol: int) -> None:
        self.conn = RawConn(node, protocol)
        self.protocol = protocol

    def execute(self, argv: list[bytes]) -> bytes:
        self.conn.send(*argv)
        return self.conn.read_reply()


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=steps_strategy(NAMES, STRATEGIES, WIRE_ADVANCES))
def test_node_matches_the_model_over_the_wire(node, steps):
    admin = RawConn(node)
    admin.send("FLUSHALL")
    admin.expect(b"+OK\r\n")
    protocol = 2 + len(steps) % 2
    client = WireClient(node, protocol)
    model = Model(0)
    log: list[str] = []
    try:
        for kind, payload in steps:
            if kind == "advance":
                if payload:
                    admin.send("DEBUG", "ADVANCE-CLOCK", str(payload))
                    admin.expect(b"+OK\r\n")
                model.advance(payload)
                log.append(f"(clock +{payload} ms)")
                continue
            argv = payload
            queued = list(model.multi or [])
            expected = parse(encode(model.execute(argv), protocol))
            actual = parse(client.execute(argv))
            log.append(b" ".join(argv).decode("latin-1"))
            if argv[0].upper() == b"EXEC" and isinstance(expected, list) and isinstance(actual, list) \
                    and len(expected) == len(actual) == len(queued):
                ok = all(matches(q, e, a) for q, e, a in zip(queued, expected, actual))
            else:
                ok = matches(argv, expected, actual)
            assert ok, (f"RESP{protocol}: the node and the model differ after:\n  " + "\n  ".join(log)
                        + f"\nmodel: {expected!r}\nnode:  {actual!r}")
    finally:
        client.conn.close()
        admin.close()


def test_wire_command_set_is_not_empty():
    assert {b"get", b"set", b"expire", b"multi", b"exec"} <= set(NAMES)
