"""One client connection: bytes in, commands to the dispatcher, bytes out.

Theory of operation
-------------------
The connection works on the raw non-blocking socket with the event loop's
`add_reader`/`add_writer`, not on asyncio's Transport/Protocol layer. That
layer is convenient but, measured on our 2-core machines with
redis-benchmark -P 16, it capped a do-nothing server at ~0.35M ops/s while
the same server on `add_reader` did ~0.9M (stdlib asyncio; uvloop's
add_reader was a little slower still). See benchmarks/RESULTS.md.

`on_readable` reads what arrived, parses it (protocol.parser), executes each
complete command in order and queues all the replies of the batch as one
chunk. Every connection's queued output goes out at the end of the loop
turn, back to back (`Server.flush_soon`, as Redis writes in beforeSleep): a
pipelined client costs one read and one write per batch, and a client on
another core is woken once per turn rather than once per reply.

Flow control, so that a client cannot make the node hold unbounded memory:
* a client that does not read its replies: what the kernel does not take is
  kept in `out_pending`; while that exceeds OUTPUT_HIGH_WATER we stop reading
  the client's requests (it cannot make us produce more) until it drains;
  the configured client-output-buffer-limit (normal class, pubsub class for
  a subscribed client) closes it;
* a client that sends without bound: the parser enforces
  client-query-buffer-limit and proto-max-bulk-len.

While the server is paused (CLIENT PAUSE) commands that must wait are kept in
`pending`, in order, and run when the pause ends.

While the client is blocked (BLPOP ..., `session.blocked`, server/blocking.py)
the same queue holds what it pipelined after the blocking command; reading
goes on, so that a hang-up is seen and the client leaves the queues at once,
and the queued input is bounded by client-query-buffer-limit. Once served
(or timed out) `resume_unblocked` runs the queue.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections import deque
from typing import TYPE_CHECKING, Callable

from ..accel import speedups
from ..commands._blocking import BlockOn
from ..protocol.errors import CommandError, ProtocolError
from ..protocol.parser import RequestReader
from ..protocol.resp import encode2
from .session import Session

if TYPE_CHECKING:
    from .server import Server

log = logging.getLogger("ringcache")

READ_SIZE = 64 * 1024
OUTPUT_HIGH_WATER = 1024 * 1024  # stop reading requests above this backlog
SEND_COALESCE = 256 * 1024  # queued output joined into one send (_send_pending)


class Connection:
    # The fields the compiled per-request path (ringcache/_speedups.pyx,
    # on_readable and flush_replies) reads at their slot's offset; anything
    # else (a subclass's too) lives in __dict__.
    __slots__ = ("server", "sock", "fd", "loop", "pending", "out_pending", "out_pending_size",
                 "closed", "reading", "soft_limit_since", "blocked_input", "on_drained",
                 "unlimited", "session", "reader", "__dict__", "__weakref__")

    def __init__(self, server: "Server", sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.loop = loop
        self.pending: deque[list] = deque()  # commands waiting for CLIENT PAUSE to end
        self.out_pending: deque = deque()  # output not yet sent (bytes, memoryview)
        self.out_pending_size = 0
        self.closed = False
        self.reading = False
        self.soft_limit_since = 0.0
        self.blocked_input = 0  # bytes read while blocked (bounded: on_readable)
        # Called when all queued output went (replication sends a snapshot
        # one chunk at a time this way); None for ordinary clients.
        self.on_drained: "Callable[[], None] | None" = None
        self.unlimited = False  # write_unlimited() in progress
        try:
            peer = sock.getpeername()
            local = sock.getsockname()
        except OSError:
            peer = local = ("?", 0)
        session = Session(server, server.next_client_id(), f"{peer[0]}:{peer[1]}",
                          f"{local[0]}:{local[1]}")
        session.fd = self.fd
        session.connection = self
        session.push = self.push
        session.close = self.close
        session.output_buffer_size = lambda: self.out_pending_size
        self.session = session
        self.reader = RequestReader(server.limits, authenticated=session.authenticated)
        session.query_buffer_size = self.reader.buffered

    def start(self) -> None:
        refusal = self.server.accept_client(self.session)
        if refusal is not None:
            try:
                self.sock.send(b"-%s\r\n" % refusal.encode())
            except OSError:
                pass
            self.closed = True
            self.sock.close()
            return
        self.server.connections.add(self)
        self._resume_reading()

    # -- reading -----------------------------------------------------------

    def _resume_reading(self) -> None:
        if not self.reading and not self.closed:
            if _compiled_on_readable is not None and type(self) is Connection:
                # The same, compiled (a plain socket's only: TLS reads through OpenSSL).
                self.loop.add_reader(self.fd, _compiled_on_readable, self)
            else:
                self.loop.add_reader(self.fd, self.on_readable)
            self.reading = True

    def _pause_reading(self) -> None:
        if self.reading:
            self.loop.remove_reader(self.fd)
            self.reading = False

    def on_readable(self) -> None:
        try:
            data = self.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return  # (the SSL ones: a TLS record not complete yet, server/tls.py)
        except OSError:
            self.close()
            return
        if not data:
            self.close()
            return
        self.received(data)

    def received(self, data: bytes) -> None:
        """What on_readable does with the bytes it read (the compiled
        on_readable hands over here whatever is not a plain run of whole
        commands, before it changed anything)."""
        session = self.session
        if session.blocked is not None:
            # Blocked: input waits in `pending`, within the query buffer limit.
            self.blocked_input += len(data)
            if self.blocked_input > self.server.limits.query_buffer_limit:
                log.warning("Closing client that reached max query buffer length while blocked: "
                            "id=%d addr=%s", session.id, session.addr)
                self.close()
                return
        self.reader.authenticated = session.authenticated
        try:
            commands = self.reader.feed(data)
        except ProtocolError as exc:
            # What was complete before the violation still runs, as in Redis.
            done = getattr(exc, "commands", None)
            if done and not self.pending and not self.server.pause_end:
                self.write(self.server.dispatcher.execute_batch(session, done)[0])
            self._protocol_error(str(exc))
            return
        if not commands:
            return
        session.last_interaction = time.monotonic()
        if self.pending or self.server.pause_end or session.blocked is not None:
            self.pending.extend(commands)
            self.run_pending()
            return
        replies, done = self.server.dispatcher.execute_batch(session, commands, OUTPUT_HIGH_WATER)
        if replies:
            self.write(replies)
        if session.closing or session.blocked is not None or done < len(commands):
            self.after_batch(commands, done)

    def after_batch(self, commands: list, done: int) -> None:
        """A batch that did not run whole, or closes the client."""
        session = self.session
        if session.closing:
            self.close()
        elif session.blocked is not None:
            # A blocking command parked the client: the rest of the batch
            # waits for it to be served; reading goes on (see the header).
            self.pending.extend(commands[done:])
        elif done < len(commands):
            # The replies filled the output budget: the rest waits for the
            # client to read (on_writable resumes it).
            self.pending.extend(commands[done:])
            self._pause_reading()
            if not self.out_pending:
                self.run_pending()

    # -- processing --------------------------------------------------------

    def run_pending(self) -> None:
        """Run queued commands until one must wait for the pause to end or
        the replies fill the output budget; resume reading when all ran."""
        session = self.session
        server = self.server
        out: list = []
        size = 0
        ready = server.blocking.ready
        while self.pending and not self.closed and session.blocked is None:
            argv = self.pending[0]
            if server.must_wait(session, argv):
                server.wait_for_unpause(self)
                break
            if size + self.out_pending_size > OUTPUT_HIGH_WATER:
                break  # on_writable calls us again once the client drained
            self.pending.popleft()
            reply = server.dispatcher.execute(session, argv)
            if reply.__class__ is BlockOn:
                server.blocking.block(session, argv, reply)
                break
            first = len(out)
            session.encode(out, reply)
            size += sum(map(len, out[first:]))
            if ready:  # serve clients blocked on keys this command changed
                server.blocking.serve()
            if session.closing:
                break
        self._flush(out)
        # Queued commands hold the client's place: read no more until they
        # ran -- unless the client is blocked: then reading goes on so that a
        # hang-up is seen (on_readable bounds what it queues meanwhile).
        if self.pending and session.blocked is None:
            self._pause_reading()
        elif self.out_pending_size <= OUTPUT_HIGH_WATER:
            self._resume_reading()

    def resume_unblocked(self) -> None:
        """The blocked command was answered (server/blocking.py): run what the
        client pipelined after it, on a loop turn of its own."""
        self.blocked_input = 0
        if not self.closed and self.session.blocked is None:
            self.run_pending()

    def _flush(self, out: list) -> None:
        if out and not self.closed:
            self.write(b"".join(out))
        if self.session.closing:
            self.close()

    # -- writing -----------------------------------------------------------

    def write(self, data: bytes | memoryview) -> None:
        """Queue data to go out at the end of this loop turn, with every
        other connection's replies (Server.flush_soon; see the header)."""
        if self.closed or not data:
            return
        if not self.out_pending:
            if self.server.replies_held:
                # appendfsync always: replies wait for the one fsync of this
                # loop turn (persistence.manager; Server.release_replies sends them).
                self.server.hold(self)
            else:
                self.server.flush_soon(self)
        self.out_pending.append(data)
        self.out_pending_size += len(data)
        if self.out_pending_size > OUTPUT_HIGH_WATER:
            self._pause_reading()
        limits = self.server.output_limits
        if self.session.subscriptions:  # a subscriber: the pubsub class limits
            limits = self.server.pubsub_output_limits
        elif self.session.is_replica:  # a replica link: the replica class
            limits = self.server.replica_output_limits
        if limits is not None and not self.unlimited:
            self._check_output_limits(*limits)

    def write_unlimited(self, data: bytes) -> None:
        """write() for output no client-output-buffer-limit counts: a
        replica's snapshot, sent one chunk per drain (Redis sends it outside
        the output buffer too). Only its stream is bounded."""
        self.unlimited = True
        try:
            self.write(data)
        finally:
            self.unlimited = False

    def push(self, data: bytes) -> None:
        """Output that is not the reply to this client's own command (pub/sub
        messages, MONITOR lines, the answer to a blocked command): sent now
        when nothing is queued before it. The hub batches messages itself
        (pubsub/hub.py, measured for fan-out); queueing them a second time
        for the end of the turn cost ~15 % of deliveries with 100
        subscribers (benchmarks/RESULTS.md)."""
        if self.closed or not data:
            return
        if self.out_pending or self.server.replies_held:
            self.write(data)  # behind what is queued (or the turn's fsync)
            return
        sent = self._send(data)
        if 0 <= sent < len(data):
            self.write(memoryview(data)[sent:])

    def flush(self) -> None:
        """The end of the loop turn: send what the kernel takes, wait for
        on_writable for the rest. (This turn's output only: its replies go
        in one send, not one per reply.)"""
        pending = self.out_pending
        if self.closed or not pending:
            return
        if self.server.replies_held:  # a write of this turn awaits its fsync
            self.server.hold(self)
            return
        chunk = pending[0] if len(pending) == 1 else b"".join(pending)
        try:  # (_send, inlined: this runs once per request at -P 1)
            sent = self.sock.send(chunk)
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            sent = 0
        except OSError:
            self.abort()
            return
        pending.clear()
        if sent == len(chunk):
            self.out_pending_size = 0
            if self.reading and self.on_drained is None and not self.pending \
                    and not self.session.closing:
                # _drained() for the common case: nothing waits, the reader is on.
                self.soft_limit_since = 0.0
            else:
                self._drained()
            return
        pending.append(memoryview(chunk)[sent:])  # no copy of what is left
        self.out_pending_size = len(chunk) - sent
        self.loop.add_writer(self.fd, self.on_writable)

    def on_writable(self) -> None:
        if self._send_pending():
            self.loop.remove_writer(self.fd)
            self._drained()

    def _send(self, data: bytes | memoryview) -> int:
        """One send: the bytes the kernel took (0 when its buffer is full), or
        -1 after a send error. Such an error means the peer is gone: nothing
        more can reach it, so the connection ends at once."""
        try:
            return self.sock.send(data)
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            return 0
        except OSError:
            self.abort()
            return -1

    def _send_pending(self) -> bool:
        """Send queued output until the kernel takes no more; True when all
        of it went."""
        pending = self.out_pending
        while pending:
            chunk = pending[0]
            if len(pending) > 1 and len(chunk) < SEND_COALESCE:
                # Many small pieces queued behind a full socket (a replica's
                # stream, one write unit each): one send for up to
                # SEND_COALESCE bytes, not one syscall per piece.
                parts = [pending.popleft()]
                size = len(chunk)
                while pending and size < SEND_COALESCE:
                    size += len(pending[0])
                    parts.append(pending.popleft())
                chunk = b"".join(parts)
                pending.appendleft(chunk)
            sent = self._send(chunk)
            if sent <= 0:
                return False
            self.out_pending_size -= sent
            if sent < len(chunk):
                pending[0] = memoryview(chunk)[sent:]  # no copy of what is left
                return False
            pending.popleft()
        return True

    def _drained(self) -> None:
        self.soft_limit_since = 0.0
        if self.on_drained is not None:
            self.on_drained()
            if self.out_pending:
                return
        if self.session.closing:
            self.close()
        elif self.pending:
            self.run_pending()
        else:
            self._resume_reading()

    def _check_output_limits(self, hard: int, soft: int, soft_seconds: int) -> None:
        size = self.out_pending_size
        now = time.monotonic()
        over = bool(hard) and size > hard
        if soft and size > soft:
            if not self.soft_limit_since:
                self.soft_limit_since = now
            elif now - self.soft_limit_since >= soft_seconds:
                over = True
        else:
            self.soft_limit_since = 0.0
        if over:
            log.warning("Client id=%d addr=%s closed for overcoming of output buffer limits.",
                        self.session.id, self.session.addr)
            self.abort()

    # -- closing -----------------------------------------------------------

    def close(self) -> None:
        """Close once the pending replies are out (they usually are)."""
        if self.closed:
            return
        if self.out_pending:
            self.session.closing = True  # on_writable closes after the drain
            self._pause_reading()
            return
        self.abort()

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._pause_reading()
        if self.out_pending:
            self.loop.remove_writer(self.fd)  # (a no-op when no writer was added)
            self.out_pending.clear()
            self.out_pending_size = 0
        try:
            self.sock.close()
        except OSError:
            pass
        self.server.remove_client(self.session)

    def flush_blocking(self, timeout: float) -> None:
        """At shutdown: send what is pending, run the commands that were
        waiting for the client to drain (their bytes had arrived, as Redis
        would have run them), send their replies, then close."""
        if not self.closed:
            try:
                self.sock.settimeout(timeout)
                for chunk in self.out_pending:
                    self.sock.sendall(chunk)
                self.out_pending.clear()
                self.out_pending_size = 0
                if self.pending and not self.server.pause_end and not self.session.closing:
                    commands = list(self.pending)
                    self.pending.clear()
                    self.sock.sendall(self.server.dispatcher.execute_batch(self.session, commands)[0])
            except OSError:
                pass
        self.abort()

    def _protocol_error(self, message: str) -> None:
        log.info("Protocol error (%s) from client: id=%d addr=%s. Closing.",
                 message.removeprefix("ERR Protocol error: "), self.session.id,
                 self.session.addr)
        self.server.stats.protocol_errors += 1
        out: list = []
        encode2(out, CommandError(message))
        self.write(b"".join(out))
        self.close()


# Connection.on_readable compiled (ringcache/_speedups.pyx; accel.py decides),
# for the plain sockets' connections (_resume_reading); None on the pure path.
_compiled_on_readable = None
if speedups is not None:
    _compiled_on_readable = speedups.bind_connection(Connection, RequestReader, READ_SIZE,
                                                     OUTPUT_HIGH_WATER)
