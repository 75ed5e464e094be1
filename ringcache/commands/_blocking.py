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

`on_gone`: serve the client also when a key it waits on is deleted or gets
another type, so that its command answers that itself (XREADGROUP's
"-UNBLOCKED the stream key no longer exists", Redis 7.0).

`argv`, when given, is what to run again instead of the command as it came
(XREAD resolves `$` to the stream's last ID when it blocks, as Redis does).

Handlers only ever build the sentinel; they know nothing of sockets or timers.
"""

from __future__ import annotations

from typing import Any

from ..protocol.resp import NULL_ARRAY


class BlockOn:
    __slots__ = ("keys", "timeout", "wants", "deny_reply", "argv", "on_gone", "on_park")

    def __init__(self, keys: list[bytes], timeout: float, wants: type | None = None,
                 deny_reply: Any = NULL_ARRAY, argv: list[bytes] | None = None,
                 on_gone: bool = False, on_park: Any = None) -> None:
        self.keys = keys
        self.timeout = timeout  # seconds; 0 = wait forever
        self.wants = wants  # the value class that can serve (deque, ZSet), None = any
        self.deny_reply = deny_reply  # the reply where blocking is not allowed (MULTI)
        self.argv = argv  # what to run again when served (None: the command's own argv)
        self.on_gone = on_gone  # also served when a key is deleted or changes type
        # Called with the session once it is really parked (not inside MULTI):
        # a wait that is not on keys (WAIT) registers itself there.
        self.on_park = on_park
