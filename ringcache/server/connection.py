"""One client connection: bytes in, commands to the dispatcher, bytes out.

Theory of operation
-------------------
`data_received` parses everything that arrived (protocol.parser), executes
each complete command in order and writes all the replies of the batch in
one `transport.write`: a pipelined client costs one syscall per read, not per
command.

Flow control, so that a client cannot make the node hold unbounded memory:
* a client that does not read its replies: when the transport's write buffer
  passes its high-water mark, asyncio calls pause_writing() and we stop
  reading that client's requests until it drains; on top of that the
  configured client-output-buffer-limit (normal class) closes it;
* a client that sends without bound: the parser enforces
  client-query-buffer-limit and proto-max-bulk-len.

While the server is paused (CLIENT PAUSE) commands that must wait are kept in
`pending`, in order, and run when the pause ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from ..protocol.errors import CommandError, ProtocolError
from ..protocol.parser import RequestReader
from ..protocol.resp import Raw, encode2
from .session import Session

if TYPE_CHECKING:
    from .server import Server

log = logging.getLogger("ringcache")


class Connection(asyncio.Protocol):
    def __init__(self, server: "Server") -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.reader: RequestReader | None = None
        self.pending: deque[list] = deque()
        self.closed = False
        self.writing_paused = False
        self.soft_limit_since = 0.0

    # -- asyncio callbacks -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername") or ("?", 0)
        sock = transport.get_extra_info("sockname") or ("?", 0)
        server = self.server
        session = Session(server, server.next_client_id(), f"{peer[0]}:{peer[1]}",
                          f"{sock[0]}:{sock[1]}")
        socket = transport.get_extra_info("socket")
        session.fd = socket.fileno() if socket is not None else -1
        session.push = self.push
        session.close = self.close
        session.output_buffer_size = transport.get_write_buffer_size
        self.session = session
        self.reader = RequestReader(server.limits, authenticated=session.authenticated)
        session.query_buffer_size = self.reader.buffered
        if not server.accept_client(session):
            transport.write(b"-ERR max number of clients reached\r\n")
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.session is not None:
            self.server.remove_client(self.session)

    def pause_writing(self) -> None:
        # The client is not reading: stop reading its requests until it does.
        self.writing_paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        session = self.session
        assert session is not None and self.reader is not None
        self.reader.authenticated = session.authenticated
        try:
            commands = self.reader.feed(data)
        except ProtocolError as exc:
            self._protocol_error(str(exc))
            return
        if not commands:
            return
        session.last_interaction = time.monotonic()
        if self.pending or self.server.pause_end:
            self.pending.extend(commands)
            self.run_pending()
            return
        out: list = []
        execute = self.server.dispatcher.execute
        for argv in commands:
            reply = execute(session, argv)
            klass = reply.__class__
            if klass is bytes:
                out.append(b"$%d\r\n%b\r\n" % (len(reply), reply))
            elif klass is Raw:
                out.append(reply)
            elif reply is None:
                out.append(session.null)
            else:
                session.encode(out, reply)
            if session.closing:
                break
        self._flush(out)

    # -- processing --------------------------------------------------------

    def run_pending(self) -> None:
        """Run queued commands until one must wait for the pause to end."""
        session = self.session
        assert session is not None
        server = self.server
        out: list = []
        while self.pending and not self.closed:
            argv = self.pending[0]
            if server.must_wait(session, argv):
                server.wait_for_unpause(self)
                break
            self.pending.popleft()
            session.encode(out, server.dispatcher.execute(session, argv))
            if session.closing:
                break
        self._flush(out)

    def _flush(self, out: list) -> None:
        session = self.session
        assert session is not None and self.transport is not None
        if out and not self.closed:
            self.transport.write(b"".join(out))
            limits = self.server.output_limits
            if limits is not None:
                self._check_output_limits(*limits)
        if session.closing:
            self.close()

    def _check_output_limits(self, hard: int, soft: int, soft_seconds: int) -> None:
        assert self.transport is not None and self.session is not None
        size = self.transport.get_write_buffer_size()
        now = time.monotonic()
        over = hard and size > hard
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
            self.transport.abort()
            self.closed = True

    def push(self, data: bytes) -> None:
        """Send out-of-band bytes (MONITOR lines, pub/sub messages)."""
        if not self.closed and self.transport is not None:
            self.transport.write(data)
            limits = self.server.output_limits
            if limits is not None:
                self._check_output_limits(*limits)

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def _protocol_error(self, message: str) -> None:
        assert self.session is not None and self.transport is not None
        log.info("Protocol error (%s) from client: id=%d addr=%s. Closing.",
                 message.removeprefix("ERR Protocol error: "), self.session.id,
                 self.session.addr)
        self.server.stats.protocol_errors += 1
        out: list = []
        encode2(out, CommandError(message))
        self.transport.write(b"".join(out))
        self.close()

