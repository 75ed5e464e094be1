"""Clients blocked on keys: BLPOP, BLMOVE, BZPOPMIN, BZMPOP ... (Redis's blocking.c).

The contract with the commands is `commands/_blocking.py`: a handler that
finds nothing to serve returns `BlockOn(keys, timeout, wants, deny_reply)`
instead of a reply. Everything else happens here and in the few lines of the
dispatcher and connection that call in.

Theory of operation
-------------------
Parking. `block()` files a `Blocked` record (session, argv, database, keys,
deadline) in `db.blocked`: key -> {record: None}, a dict used as an ordered
set, so each key's waiters are first come, first served and a record leaves
any key in O(1). `session.blocked` points at the record; while it is set the
connection executes nothing more of that client (it keeps reading, so that a
hang-up is noticed, and queues what arrives in `Connection.pending`).

Signalling. `Keyspace.modified(key)` -- the one place every change to a key
passes -- tests `db.blocked` (an empty dict unless someone waits in that
database: one truthiness test on the write path) and, for a key somebody
waits on, calls `on_ready`, which queues (db, key) in `ready` once.

Serving. After each top-level command (execute_batch, Connection.run_pending,
and after the whole EXEC for changes made inside MULTI: EXEC is the
top-level command), the dispatcher tests `ready` and calls `serve()`, Redis's
handleClientsBlockedOnKeys: for each ready key, while it holds a value of
the wanted class, the first waiter is unblocked and its command is run again
as an ordinary call (as Redis 7.2+ re-processes it), so the served reply,
its keyspace notifications, its propagation (BLPOP -> LPOP through
session.propagate) and its statistics are the command's own. What a served
command changes (BLMOVE pushes onto its destination) queues more ready keys;
the loop runs until none is left. A command that blocks again keeps its
deadline and goes to the back of the queues.

The served client's reply is written at once; the commands it pipelined
after the blocking one run on the next loop turn (call_soon), in order, as
Redis runs them from beforeSleep: never inside another client's command.

Timeouts are real time (asyncio's call_at, sub-second precision), as
Redis's: a `DEBUG ADVANCE-CLOCK` does not time out blocked clients. The
timeout reply is a null array (`*-1` / `_`) for every blocking command, as
Redis 7.4. CLIENT UNBLOCK id TIMEOUT answers the same; ERROR answers
`-UNBLOCKED client unblocked via CLIENT UNBLOCK`. A client that disconnects
or is killed leaves every queue (Server.disconnect_hooks).

Redis semantics kept: SWAPDB leaves the waiters with the database number
and serves those whose key exists after the swap; FLUSHALL/FLUSHDB leave
them waiting; a key that gets another type keeps them waiting (7.2+);
inside MULTI/EXEC a blocking command answers its `deny_reply` at once.
A waiter blocked with `on_gone` (XREADGROUP) is the exception: a key of
its deleted, overwritten with another type, flushed or swapped away serves
it, and its command answers with its error (Redis's
signalDeletedKeyAsReady); only while such a waiter exists does serve()
look at every waiter of a ready key (`gone_waiters`).

Bounds: a blocked client's pipelined input is kept in its connection
until it is served, up to `client-query-buffer-limit` bytes, past which the
client is closed as for an oversized query buffer. Each waiter costs one
record and one dict entry per key.

Statistics: the call that blocked is not counted; the served (or timed out)
call is, once, as Redis 7.2+.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from ..commands._blocking import BlockOn
from ..commands.registry import lookup
from ..protocol.errors import CommandError
from ..protocol.resp import NULL_ARRAY

if TYPE_CHECKING:
    from ..commands.registry import CommandSpec
    from ..storage.keyspace import Keyspace
    from .server import Server
    from .session import Session

log = logging.getLogger("ringcache")

UNBLOCKED_ERROR = "UNBLOCKED client unblocked via CLIENT UNBLOCK"


class Blocked:
    """One blocked client: what it waits for and what to run when served."""

    __slots__ = ("session", "spec", "argv", "db", "keys", "wants", "deadline", "timer", "on_gone")

    def __init__(self, session: "Session", spec: "CommandSpec", argv: list, db: "Keyspace",
                 keys: list[bytes], wants: type | None, deadline: float, on_gone: bool = False) -> None:
        self.session = session
        self.spec = spec
        self.argv = argv
        self.db = db
        self.keys = keys  # distinct, in the command's order
        self.wants = wants
        self.deadline = deadline  # loop time; 0.0 = none
        self.timer: Any = None  # the asyncio TimerHandle, if any
        self.on_gone = on_gone  # served when a key is deleted or changes type (BlockOn)


class Blocking:
    def __init__(self, server: "Server") -> None:
        self.server = server
        # (db, key) pairs changed since the last serve(); the dispatcher keeps
        # a reference to this very deque, so it is never replaced.
        self.ready: deque[tuple["Keyspace", bytes]] = deque()
        self._queued: set[tuple[int, bytes]] = set()  # (db.index, key) in `ready`
        self.clients = 0  # blocked clients (INFO blocked_clients)
        self.timed = 0  # of which with a timeout (INFO clients_in_timeout_table)
        self.gone_waiters = 0  # of which served also when their key goes (on_gone)
        server.disconnect_hooks.append(self.remove)

    # -- parking -----------------------------------------------------------

    def block(self, session: "Session", argv: list, on: BlockOn, deadline: float | None = None) -> None:
        """Park session until one of on.keys is ready or on.timeout passes.
        `deadline` (loop time) is kept when a served command blocks again."""
        if on.argv is not None:
            argv = on.argv
        spec = lookup(argv[0])
        assert spec is not None, argv[0]
        db = session.db
        if db.on_ready is None:
            db.on_ready = self._signal
        keys = list(dict.fromkeys(on.keys))
        loop = self.server._loop
        if deadline is None:
            deadline = loop.time() + on.timeout if on.timeout > 0 and loop is not None else 0.0
        record = Blocked(session, spec, argv, db, keys, on.wants, deadline, on.on_gone)
        if on.on_gone:
            self.gone_waiters += 1
        blocked = db.blocked
        for key in keys:
            waiters = blocked.get(key)
            if waiters is None:
                waiters = blocked[key] = {}
            waiters[record] = None
        if deadline and loop is not None:
            record.timer = loop.call_at(deadline, self._timed_out, record)
            self.timed += 1
        session.blocked = record
        self.clients += 1
        spec.calls -= 1  # counted once, when served or timed out
        if on.on_park is not None:
            on.on_park(session)

    def _release(self, record: Blocked) -> None:
        """Take record out of every queue; the session may run commands again."""
        blocked = record.db.blocked
        for key in record.keys:
            waiters = blocked.get(key)
            if waiters is not None:
                waiters.pop(record, None)
                if not waiters:
                    del blocked[key]
        if record.timer is not None:
            record.timer.cancel()
            record.timer = None
            self.timed -= 1
        if record.session.blocked is record:
            record.session.blocked = None
            self.clients -= 1
            if record.on_gone:
                self.gone_waiters -= 1

    # -- signalling --------------------------------------------------------

    def _signal(self, db: "Keyspace", key: bytes) -> None:
        """Keyspace.on_ready: key, which somebody waits on, changed."""
        tag = (db.index, key)
        if tag not in self._queued:
            self._queued.add(tag)
            self.ready.append((db, key))

    # -- serving -----------------------------------------------------------

    def serve(self) -> None:
        """handleClientsBlockedOnKeys: serve the waiters of every ready key,
        first come first served, while the key can serve them."""
        ready = self.ready
        while ready:
            db, key = ready.popleft()
            self._queued.discard((db.index, key))
            waiters = db.blocked.get(key)
            if not waiters:
                continue
            if self.gone_waiters:  # (a pass over the waiters only while one of them cares)
                self._serve_gone(db, key, waiters)
                waiters = db.blocked.get(key)
                if not waiters:
                    continue
            # At most one pass over the waiters present now: one that blocks
            # again goes to the back and waits for the next change.
            for _ in range(len(waiters)):
                value = db.lookup(key)
                if value is None:
                    break
                record = next(iter(waiters))
                if record.wants is not None and not isinstance(value, record.wants):
                    break  # another type: the waiters keep waiting (Redis 7.2+)
                self._serve(record)
                waiters = db.blocked.get(key)
                if not waiters:
                    break

    def _serve_gone(self, db: "Keyspace", key: bytes, waiters: dict) -> None:
        """Serve the on_gone waiters of a key that is gone or has another
        type (their command answers with its error)."""
        value = db.lookup(key)
        for record in [r for r in waiters if r.on_gone]:
            if value is None or (record.wants is not None and not isinstance(value, record.wants)):
                if record.session.blocked is record:
                    self._serve(record)

    def _serve(self, record: Blocked) -> None:
        session = record.session
        self._release(record)
        if session.closing:
            return  # killed, closing once its output drains: serve nobody dead
        dispatcher = self.server.dispatcher
        # MONITOR saw the command when it arrived: not again when it is
        # re-run (Redis 7.2+ skips reprocessed commands too).
        monitors, dispatcher.monitors = dispatcher.monitors, set()
        session.reexecuting = True
        try:
            reply = dispatcher.call(session, record.spec, record.argv)
        finally:
            dispatcher.monitors = monitors
            session.reexecuting = False
        if reply.__class__ is BlockOn:
            self.block(session, record.argv, reply, record.deadline)
            return
        if dispatcher.propagating:  # the pop reaches the stream's sinks before its reply
            self.server.write_stream.flush()
        self._answer(session, reply)

    def _timed_out(self, record: Blocked) -> None:
        if record.session.blocked is not record:
            return
        self._release(record)
        record.spec.calls += 1
        self._answer(record.session, NULL_ARRAY)

    def _answer(self, session: "Session", reply: Any) -> None:
        """Write the reply of a command that was blocked, then let the
        client's queued commands run (next loop turn, in order)."""
        if session.reply_mode == "on":
            out: list = []
            session.encode(out, reply)
            if session.push is not None:
                session.push(b"".join(out))
        elif session.reply_mode == "skip":  # CLIENT REPLY SKIP covered this command
            session.reply_mode = "on"
            session.update_gate()
        connection = session.connection
        loop = self.server._loop
        if connection is not None and loop is not None:
            loop.call_soon(connection.resume_unblocked)

    # -- CLIENT UNBLOCK, disconnects ---------------------------------------

    def unblock(self, client_id: int, error: bool) -> bool:
        """CLIENT UNBLOCK: True if that client was blocked (it is answered
        with the timeout reply, or the UNBLOCKED error)."""
        session = self.server.clients.get(client_id)
        if session is None or session.blocked is None:
            return False
        record = session.blocked
        self._release(record)
        record.spec.calls += 1
        if error:
            record.spec.failed_calls += 1
        self._answer(session, CommandError(UNBLOCKED_ERROR) if error else NULL_ARRAY)
        return True

    def finish(self, session: "Session", reply: Any) -> bool:
        """Answer a client parked by its command's own logic rather than by
        keys (WAIT: replication.primary): release it and send reply."""
        record = session.blocked
        if record is None:
            return False
        self._release(record)
        record.spec.calls += 1
        self._answer(session, reply)
        return True

    def remove(self, session: "Session") -> None:
        """A client went away (disconnect, CLIENT KILL): forget its wait."""
        record = session.blocked
        if record is not None:
            self._release(record)
            record.spec.calls += 1

    # -- INFO --------------------------------------------------------------

    def blocking_keys(self) -> int:
        """INFO total_blocking_keys: keys with at least one waiter."""
        return sum(len(db.blocked) for db in self.server.live_dbs())
