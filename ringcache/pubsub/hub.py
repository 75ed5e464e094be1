"""The pub/sub hub: channels, patterns, shard channels, and the outgoing
message queue shared with keyspace notifications and client tracking.

Theory of operation
-------------------
Three namespaces, as in Redis (pubsub.c):

* `channels`: channel -> its subscribers (SUBSCRIBE / PUBLISH, "message");
* `patterns`: glob pattern -> (compiled matcher, subscribers) (PSUBSCRIBE,
  "pmessage"); PUBLISH tests every pattern against the channel, so the cost
  of a publish grows with the number of distinct patterns, as in Redis;
* `shard_channels`: shard channel -> subscribers (SSUBSCRIBE / SPUBLISH,
  "smessage"). Without cluster mode they are a separate namespace and are
  never matched by patterns.

Subscribers are kept in dicts used as ordered sets, so delivery follows
subscription order. Per client, `ClientSubscriptions` holds what it is
subscribed to, and `session.subscriptions` is kept equal to the total of its
channels + patterns + shard channels: the dispatcher's RESP2 subscribed-mode
gate reads it, and `session.update_gate()` is called whenever it crosses 0.
The counts in (un)subscribe replies are Redis's: channels + patterns for the
SUBSCRIBE/PSUBSCRIBE family, shard channels alone for the SSUBSCRIBE family.

Delivery is batched. A PUBLISH does not write to the subscribers' sockets:
it appends the encoded message to `pending[session]` and asks for one
`flush()` (`schedule` is the event loop's call_soon; without a loop the
flush happens at once). The flush sends each subscriber everything queued
for it with one `session.push()`, one send() system call, the way Redis
collects replies in client buffers and writes them in beforeSleep. With
many subscribers those send() calls are nearly all of the cost of pub/sub
(py-spy: 75 % of the node's time with 100 subscribers), so what matters is
how many messages each one carries.

The flush runs two loop turns after the first message was queued, not one.
Our connections answer a command as soon as its batch has run, while Redis
answers in beforeSleep together with the messages; so when the flush runs
on the next turn, the publishers we just answered are mid-way through
sending their next PUBLISH, and the flush carries only the messages of the
publishers that happened to be ready at the previous poll. One more turn
lets the loop poll again and run the publishers that came back meanwhile:
measured with 100 subscribers and 10 unpipelined publishers (redis-benchmark),
1.5-2x more deliveries per second; with 1 or 10 subscribers no change
outside the noise. The price is one more poll (microseconds when idle)
before a message leaves.

A message is encoded once per protocol version per PUBLISH, not once per
subscriber: RESP2 and RESP3 differ only in the first byte ('*' array or '>'
push), so the RESP3 form is derived from the RESP2 one, and only when a
RESP3 subscriber is met.

Order: the messages queued for a client leave before its own later replies
only if they were flushed first. The subscribe-family commands, RESET and
CLIENT TRACKING call `flush_session()` before they answer, so a RESP2
subscriber never sees an UNSUBSCRIBE confirmation before a message that was
published while it was still subscribed. Replies of other commands may
overtake pushes queued in the same loop iteration; for client tracking this
is Redis's own order (it defers invalidations for the current client until
after its reply) and it is safe for caches: an invalidation is only ever
late, never early.

Bounds: `pending` holds at most one loop iteration of messages; from there
they go to the connection, whose output buffer is bounded by the
client-output-buffer-limit pubsub class (server.connection).

No I/O and no asyncio here: the hub calls `session.push` and `schedule`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from ..glob import compile_glob

if TYPE_CHECKING:
    from ..server.session import Session

# Reply kinds, with their RESP bulk header already attached.
_SUBSCRIBE = b"$9\r\nsubscribe\r\n"
_UNSUBSCRIBE = b"$11\r\nunsubscribe\r\n"
_PSUBSCRIBE = b"$10\r\npsubscribe\r\n"
_PUNSUBSCRIBE = b"$12\r\npunsubscribe\r\n"
_SSUBSCRIBE = b"$10\r\nssubscribe\r\n"
_SUNSUBSCRIBE = b"$12\r\nsunsubscribe\r\n"

# Namespaces (the `kind` argument below).
CHANNEL, PATTERN, SHARD = 0, 1, 2


class ClientSubscriptions:
    """What one client is subscribed to (dicts used as ordered sets)."""

    __slots__ = ("channels", "patterns", "shard")

    def __init__(self) -> None:
        self.channels: dict[bytes, None] = {}
        self.patterns: dict[bytes, None] = {}
        self.shard: dict[bytes, None] = {}

    def total(self) -> int:
        return len(self.channels) + len(self.patterns) + len(self.shard)


class PubSubHub:
    def __init__(self) -> None:
        # channel -> {session: None}; an entry exists only while it has subscribers.
        self.channels: dict[bytes, dict["Session", None]] = {}
        # pattern -> (matcher, {session: None})
        self.patterns: dict[bytes, tuple[Callable[[bytes], bool], dict["Session", None]]] = {}
        self.shard_channels: dict[bytes, dict["Session", None]] = {}
        # Sessions with at least one subscription.
        self.clients: dict["Session", ClientSubscriptions] = {}
        # Encoded pushes waiting for the end of this loop iteration.
        self.pending: dict["Session", list[bytes]] = {}
        # call_soon-like: run a callback at the end of this loop iteration.
        # None (no event loop, e.g. unit tests): flush at once.
        self.schedule: Callable[[Callable[[], None]], Any] | None = None
        # Called at the start of every flush (client tracking queues its
        # BCAST invalidations there, as Redis does in beforeSleep).
        self.before_flush: Callable[[], None] | None = None
        self._flush_scheduled = False

    # -- delivery ------------------------------------------------------------

    def deliver(self, session: "Session", data: bytes) -> None:
        """Queue already-encoded bytes for session; sent at the end of this
        loop iteration, after what was queued for it before."""
        queue = self.pending.get(session)
        if queue is None:
            self.pending[session] = [data]
            self.request_flush()
        else:
            queue.append(data)

    def request_flush(self) -> None:
        if self._flush_scheduled:
            return
        if self.schedule is None:
            self.flush()
            return
        self._flush_scheduled = True
        self.schedule(self._next_turn)

    def _next_turn(self) -> None:
        """First turn: let the loop poll once more before the flush (see the
        module docstring)."""
        if self.schedule is None:
            self.flush()
        else:
            self.schedule(self.flush)

    def flush(self) -> None:
        """Send every session its queued pushes, one write each."""
        if self.before_flush is not None:
            self.before_flush()  # may queue more (BCAST invalidations): still this flush
        self._flush_scheduled = False
        pending = self.pending
        if not pending:
            return
        self.pending = {}
        for session, chunks in pending.items():
            push = session.push
            if push is not None:
                push(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def flush_session(self, session: "Session") -> None:
        """Send what is queued for session now (before its next reply)."""
        chunks = self.pending.pop(session, None)
        if chunks and session.push is not None:
            session.push(b"".join(chunks))

    def drop_session(self, session: "Session") -> None:
        self.pending.pop(session, None)

    # -- publishing ----------------------------------------------------------

    def publish(self, channel: bytes, message: bytes) -> int:
        """PUBLISH: deliver to the channel's subscribers and to every matching
        pattern's; returns the number of deliveries (a client subscribed
        through two patterns counts twice, as in Redis)."""
        receivers = 0
        subscribers = self.channels.get(channel)
        if subscribers:
            receivers = self._send_all(subscribers, b"*3\r\n$7\r\nmessage\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
                len(channel), channel, len(message), message))
        if self.patterns:
            tail = None
            for pattern, (match, subscribers) in self.patterns.items():
                if not match(channel):
                    continue
                if tail is None:
                    tail = b"$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(channel), channel, len(message), message)
                head = b"*4\r\n$8\r\npmessage\r\n$%d\r\n%b\r\n" % (len(pattern), pattern)
                receivers += self._send_all(subscribers, head + tail)
        return receivers

    def spublish(self, channel: bytes, message: bytes) -> int:
        """SPUBLISH: shard channel subscribers only (no patterns)."""
        subscribers = self.shard_channels.get(channel)
        if not subscribers:
            return 0
        data = b"*3\r\n$8\r\nsmessage\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
            len(channel), channel, len(message), message)
        return self._send_all(subscribers, data)

    def _send_all(self, subscribers: dict["Session", None], resp2: bytes) -> int:
        """Queue one message (RESP2 form given) for each subscriber. This is
        the loop PUBLISH throughput depends on: keep it lean."""
        resp3 = None
        pending = self.pending
        added = False
        for session in subscribers:
            if session.protocol == 3:
                if resp3 is None:
                    resp3 = b">" + resp2[1:]
                data = resp3
            else:
                data = resp2
            queue = pending.get(session)
            if queue is None:
                pending[session] = [data]
                added = True
            else:
                queue.append(data)
        if added:
            self.request_flush()
        return len(subscribers)

    # -- subscribing ---------------------------------------------------------

    def _state(self, session: "Session") -> ClientSubscriptions:
        state = self.clients.get(session)
        if state is None:
            state = self.clients[session] = ClientSubscriptions()
        return state

    def _table(self, kind: int) -> dict:
        return self.shard_channels if kind == SHARD else self.channels

    def subscribe(self, session: "Session", names: Iterable[bytes], kind: int) -> list[tuple[bytes, int]]:
        """(P|S)SUBSCRIBE: returns (name, count after) for each name, in order."""
        state = self._state(session)
        out = []
        for name in names:
            mine = state.patterns if kind == PATTERN else state.shard if kind == SHARD else state.channels
            if name not in mine:
                mine[name] = None
                if kind == PATTERN:
                    entry = self.patterns.get(name)
                    if entry is None:
                        entry = self.patterns[name] = (compile_glob(name), {})
                    entry[1][session] = None
                else:
                    self._table(kind).setdefault(name, {})[session] = None
                self._count_changed(session, 1)
            out.append((name, self._reply_count(state, kind)))
        return out

    def unsubscribe(self, session: "Session", names: Iterable[bytes] | None,
                    kind: int) -> list[tuple[bytes | None, int]]:
        """(P|S)UNSUBSCRIBE: names=None means all of that kind; returns
        (name, count after) per name, or [(None, count)] if there was none."""
        state = self.clients.get(session)
        if names is None:
            if state is None:
                return [(None, 0)]
            mine = state.patterns if kind == PATTERN else state.shard if kind == SHARD else state.channels
            names = list(mine)
            if not names:
                return [(None, self._reply_count(state, kind))]
        out: list[tuple[bytes | None, int]] = []
        for name in names:
            if state is not None:
                self._remove(session, state, name, kind)
            out.append((name, self._reply_count(state, kind) if state is not None else 0))
        if state is not None and not state.total():
            del self.clients[session]
        return out

    def _remove(self, session: "Session", state: ClientSubscriptions, name: bytes, kind: int) -> None:
        mine = state.patterns if kind == PATTERN else state.shard if kind == SHARD else state.channels
        if name not in mine:
            return
        del mine[name]
        if kind == PATTERN:
            subscribers = self.patterns[name][1]
            del subscribers[session]
            if not subscribers:
                del self.patterns[name]
        else:
            table = self._table(kind)
            subscribers = table[name]
            del subscribers[session]
            if not subscribers:  # no empty entries: PUBSUB CHANNELS lists live ones only
                del table[name]
        self._count_changed(session, -1)

    def remove_client(self, session: "Session") -> None:
        """Disconnect or RESET: drop every subscription, without replies."""
        state = self.clients.pop(session, None)
        if state is not None:
            for kind, mine in ((CHANNEL, state.channels), (PATTERN, state.patterns), (SHARD, state.shard)):
                for name in list(mine):
                    self._remove(session, state, name, kind)
        if session.subscriptions:
            session.subscriptions = 0
            session.update_gate()

    @staticmethod
    def _reply_count(state: ClientSubscriptions, kind: int) -> int:
        if kind == SHARD:
            return len(state.shard)
        return len(state.channels) + len(state.patterns)

    @staticmethod
    def _count_changed(session: "Session", delta: int) -> None:
        before = session.subscriptions
        session.subscriptions = before + delta
        if (before == 0) != (session.subscriptions == 0):
            session.update_gate()  # entering or leaving subscribed mode

    # -- replies -------------------------------------------------------------

    @staticmethod
    def encode_replies(session: "Session", kind: int, subscribed: bool,
                       results: Sequence[tuple[bytes | None, int]]) -> bytes:
        """The (un)subscribe confirmations, one push (RESP3) or array (RESP2)
        each, concatenated: the command's whole reply."""
        if kind == PATTERN:
            word = _PSUBSCRIBE if subscribed else _PUNSUBSCRIBE
        elif kind == SHARD:
            word = _SSUBSCRIBE if subscribed else _SUNSUBSCRIBE
        else:
            word = _SUBSCRIBE if subscribed else _UNSUBSCRIBE
        head = (b">3\r\n" if session.protocol == 3 else b"*3\r\n") + word
        null = b"_\r\n" if session.protocol == 3 else b"$-1\r\n"
        parts = []
        for name, count in results:
            if name is None:
                parts.append(b"%b%b:%d\r\n" % (head, null, count))
            else:
                parts.append(b"%b$%d\r\n%b\r\n:%d\r\n" % (head, len(name), name, count))
        return b"".join(parts)

    # -- introspection (PUBSUB, CLIENT LIST, INFO) --------------------------------

    def counts(self, session: "Session") -> tuple[int, int, int]:
        """(channels, patterns, shard channels) of one client."""
        state = self.clients.get(session)
        if state is None:
            return 0, 0, 0
        return len(state.channels), len(state.patterns), len(state.shard)

    def numsub(self, channel: bytes, kind: int = CHANNEL) -> int:
        subscribers = self._table(kind).get(channel)
        return len(subscribers) if subscribers else 0
