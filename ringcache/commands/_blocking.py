"""The contract between blocking commands and the dispatcher.

A blocking command (BLPOP, BLMOVE, BZPOPMIN, BZMPOP, ...) that finds nothing
to serve returns `BlockOn(keys, timeout)` instead of a reply. The dispatcher
(server/blocking.py) then parks the client: it reads no more of its commands,
and once one of `keys` in the client's database is changed by another
command (after that command, or after the EXEC that contained it), it runs
the same argv again, clients blocked on one key served first come, first
served. When `timeout` seconds pass (0 = forever) the client gets a null
array (Redis 7.4's replyToBlockedClientTimedOut, for BLMOVE too). Inside
MULTI/EXEC (and in scripts) a command never blocks: the dispatcher answers
a BlockOn there with its `deny_reply` at once (a null array, but a null
bulk for BLMOVE/BRPOPLPUSH, as Redis).

`wants` is the class of value the command can serve from (a deque for the
list commands, ZSet for the sorted-set ones): a waiting key is only ready
when it holds that type, so a key overwritten with another type keeps its
clients waiting, as Redis 7.2+ (which matches the blocked type, not the
command). None: any value makes the key ready.

The served re-run is an ordinary call of the handler: it sets
`session.propagate` (BLPOP -> LPOP ...) exactly as when it served at once.
See server/blocking.py for the queues, timers and bounds.

Handlers only ever build the sentinel; they know nothing of sockets or timers.
"""

from __future__ import annotations

import math

from typing import Any

from ..protocol.errors import CommandError
from ..protocol.resp import NULL_ARRAY
from ._args import _strtod

TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
TIMEOUT_NEGATIVE = "ERR timeout is negative"
TIMEOUT_OUT_OF_RANGE = "ERR timeout is out of range"


class BlockOn:
    __slots__ = ("keys", "timeout", "wants", "deny_reply")

    def __init__(self, keys: list[bytes], timeout: float, wants: type | None = None,
                 deny_reply: Any = NULL_ARRAY) -> None:
        self.keys = keys
        self.timeout = timeout  # seconds; 0 = wait forever
        self.wants = wants  # the value class that can serve (deque, ZSet), None = any
        self.deny_reply = deny_reply  # the reply where blocking is not allowed (MULTI)


def parse_timeout(arg: bytes) -> float:
    """A blocking command's timeout in seconds, as Redis's
    getTimeoutFromObjectOrReply reads it (a float with sub-second precision)."""
    try:
        value = float(arg)
    except ValueError:
        # strtold also reads hex ("0x1p-2" is a quarter second)
        parsed = _strtod(arg) if arg else None  # (blanks around: refused below)
        if parsed is None:
            raise CommandError(TIMEOUT_NOT_FLOAT) from None
        value = parsed
    if math.isnan(value) or b"_" in arg or arg[:1].isspace() or arg[-1:].isspace():
        raise CommandError(TIMEOUT_NOT_FLOAT)
    # Redis reads a long double: "inf" and 1e400 parse, and are then out of
    # range (7.2+; 7.0 answered "timeout is negative"), "-inf" is negative.
    if value < 0:
        raise CommandError(TIMEOUT_NEGATIVE)
    if value * 1000 > 2**63 - 1:
        raise CommandError(TIMEOUT_OUT_OF_RANGE)
    return value
