"""Differential tests against a real redis-server: the starter
(support.redis_server, re-exported) and the masks for what legitimately
differs in stream replies (times, radix-tree sizes)."""

from __future__ import annotations

import re

from support import redis_server  # noqa: F401  (the one starter; re-exported here)


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
