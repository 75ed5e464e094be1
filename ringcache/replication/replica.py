"""The following side of replication: this node as a replica of a primary.

Theory of operation
-------------------
The link is an ordinary client connection that this node opens to its
primary, a raw non-blocking socket on the node's own loop (`add_reader` /
`add_writer`, like server/connection.py; no asyncio streams). States, with
Redis's names (ROLE, INFO master_link_status):

  connect     not connected; the cron tries again every second
  connecting  the TCP connect is in progress
  handshake   PING, AUTH (masteruser/masterauth), REPLCONF listening-port,
              REPLCONF capa eof capa psync2, PSYNC <replid> <offset+1>; one
              command at a time, each reply checked as Redis does
  sync        +FULLRESYNC: the snapshot ($<len> then its bytes, or
              redis-server's diskless `$EOF:<40-byte mark>`, its bytes and
              the mark again) goes to a temporary file, then loads in a thread into fresh databases
              while the node answers -LOADING; the fresh databases replace
              the old ones only once complete (never half a dataset). The
              socket is not read meanwhile: what the primary streams waits
              in the kernel and in the primary's output buffer.
  connected   +CONTINUE, or the load is done: the stream is applied

Applying. The stream is parsed with each command's exact extent
(stream.StreamReader, compiled in ringcache/_stream.pyx when built) and
each read's commands run through the dispatcher's batch loop (the compiled
execute_batch, with a fast table that keeps the writes) as the "master"
client, in runs that end at each PING / REPLCONF (counted, not run): no
reply is sent, READONLY does not apply, MULTI/EXEC is honoured, and a run's
bytes reach this node's Primary in one piece. While it
runs, the clock reads as the distant past for expiry purposes, so the
primary's commands see every key the primary saw (keys expire on a replica
only when the primary's DEL arrives: Redis's rule); the node's own clients
meanwhile do not see keys whose time has passed (Keyspace.expire_hold).
Each applied command's bytes go to this node's Primary (`feed_raw`): its
backlog and its own replicas get the same stream with the same offsets, so
they can later continue with whichever node is promoted.

Epochs (cluster mode only, issue 15): a replica whose map names its shard
with config epoch E sends `REPLCONF shard-epoch E` before PSYNC; a ringcache
cluster primary answers with its own shard's config epoch (an integer), and
one older than E is refused (a primary that missed a promotion: an old
primary back from a partition). A primary announces each new epoch of its
shard on the stream (`REPLCONF SHARD-EPOCH n`, skipped by the apply loop
like GETACK), and a link whose primary stays below the epoch this replica
has seen for STALE_EPOCH_GRACE_S is dropped (the map naming a new primary
usually moves the link first). A primary that does not know the option
(redis-server, a non-cluster node) is followed as before: the check needs
both ends in one cluster.

Acknowledgements: `REPLCONF ACK <offset>` every second and when the stream
carries `REPLCONF GETACK *` (with the offset before that command, as
Redis). A primary silent for repl-timeout seconds is dropped; a dropped
link reconnects and asks PSYNC with the history it has, so a short break
costs only the missed bytes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import threading
import time
from typing import TYPE_CHECKING, Any

import hiredis

from ..commands.registry import fast_table
from .stream import Batch, StreamError, StreamReader, encode

if TYPE_CHECKING:
    from ..server.server import Server

log = logging.getLogger("ringcache")

STALE_EPOCH_GRACE_S = 3.0  # a linked primary may lag a new shard epoch this long
STALE_RETRY_S = 0.2  # a primary refused for its epoch is tried again this soon

CONNECT = "connect"
CONNECTING = "connecting"
HANDSHAKE = "handshake"
SYNC = "sync"
CONNECTED = "connected"

READ_SIZE = 256 * 1024
EOF_MARK_LEN = 40  # CONFIG_RUN_ID_SIZE: the mark after `$EOF:` in a diskless sync
# While the primary's stream runs, expiry checks compare against this clock
# offset: every expiry time lies after it (see the header).
MASTER_VIEW_OFFSET_MS = -1e15


class Replica:
    def __init__(self, server: "Server", host: str, port: int) -> None:
        self.server = server
        self.host = host
        self.port = port
        self.state = CONNECT
        self.sock: socket.socket | None = None
        self.inbuf = bytearray()
        self.out = bytearray()
        self.writing = False
        self.steps: list = []
        self.session: Any = None  # the "master" client
        self.db_index = 0  # its SELECT state, kept across a partial resync
        self.reader = StreamReader()
        self.last_io = time.monotonic()
        self.link_down_since = time.monotonic()
        self.last_ack = 0.0
        self.last_connect_try = 0.0
        # a full sync in progress
        self.sync_replid = ""
        self.sync_offset = 0
        self.sync_size = -1
        self.sync_read = 0
        self.sync_file: Any = None
        self.sync_path = ""
        self.sync_eof_mark = b""  # a diskless snapshot's end mark ($EOF:<mark>), else b""
        self.sync_tail = b""  # its last EOF_MARK_LEN bytes received
        self.loading = False
        self._epoch = 0  # bumped at each drop: a load finishing after it is ignored
        self.stopped = False
        # Cluster mode: the primary's shard epoch (from the handshake, then
        # the stream; None: it has none), when it was first seen behind
        # this replica's, and how many times a stale primary was refused.
        self.primary_shard_epoch: int | None = None
        self.behind_since: float | None = None
        self.stale_refusals = 0
        self._refused: tuple[int, int] | None = None  # (its epoch, ours) last logged

    @property
    def primary(self) -> Any:
        return self.server.replication.primary

    @property
    def loop(self) -> "asyncio.AbstractEventLoop":
        loop = self.server._loop
        assert loop is not None, "replication runs on the node's loop"
        return loop

    @property
    def link_up(self) -> bool:
        return self.state == CONNECTED

    # -- connecting --------------------------------------------------------

    def connect(self) -> None:
        if self.stopped or self.state != CONNECT:
            return
        self.last_connect_try = time.monotonic()
        log.info("Connecting to MASTER %s:%d", self.host, self.port)
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            family, _, _, _, address = infos[0]
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            err = sock.connect_ex(address)
        except OSError as exc:
            log.warning("Unable to connect to MASTER: %s", exc)
            return
        if err not in (0, 115, 36, 10035):  # EINPROGRESS (Linux, macOS), WSAEWOULDBLOCK
            log.warning("Unable to connect to MASTER: %s", os.strerror(err))
            sock.close()
            return
        self.sock = sock
        self.state = CONNECTING
        self.last_io = time.monotonic()
        self.loop.add_writer(sock.fileno(), self._on_connected)
        log.info("MASTER <-> REPLICA sync started")

    def _on_connected(self) -> None:
        sock = self.sock
        assert sock is not None
        self.loop.remove_writer(sock.fileno())
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            log.warning("Error condition on socket for SYNC: %s", os.strerror(err))
            self.drop(reconnect=True)
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        log.info("Non blocking connect for SYNC fired the event.")
        if self.server.config["tls-replication"]:
            self._start_tls(sock)
            return
        self._link_ready()

    def _link_ready(self) -> None:
        sock = self.sock
        assert sock is not None
        self.state = HANDSHAKE
        self.loop.add_reader(sock.fileno(), self._on_readable)
        self._start_handshake()

    # -- TLS (tls-replication: server/tls.py has the contexts) --------------

    def _start_tls(self, sock: socket.socket) -> None:
        from ..config import ConfigError
        from ..server.tls import client_context

        try:
            context = client_context(self.server.config)
        except ConfigError as exc:
            log.warning("Unable to connect to MASTER over TLS: %s", exc.message)
            self.drop(reconnect=True)
            return
        self.sock = context.wrap_socket(sock, server_side=False, do_handshake_on_connect=False)
        self.loop.add_reader(self.sock.fileno(), self._tls_handshake)
        self._tls_handshake()

    def _tls_handshake(self) -> None:
        sock = self.sock
        if not isinstance(sock, ssl.SSLSocket):
            return
        fd = sock.fileno()
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self.loop.remove_writer(fd)
            return
        except ssl.SSLWantWriteError:
            self.loop.add_writer(fd, self._tls_handshake)
            return
        except OSError as exc:  # (ssl.SSLError is one)
            log.warning("Unable to connect to MASTER over TLS: %s", exc)
            self.drop(reconnect=True)
            return
        self.loop.remove_writer(fd)
        self.loop.remove_reader(fd)
        log.info("TLS connection to MASTER established")
        self._link_ready()

    # -- handshake ---------------------------------------------------------

    def _start_handshake(self) -> None:
        config = self.server.config
        steps: list = [([b"PING"], self._pong)]
        auth = config["masterauth"]
        if auth:
            user = config["masteruser"]
            argv = [b"AUTH"] + ([_b(user)] if user else []) + [_b(auth)]
            steps.append((argv, self._auth_reply))
        port = config["replica-announce-port"] or self.server.port
        steps.append(([b"REPLCONF", b"listening-port", b"%d" % port], self._replconf_reply))
        steps.append(([b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"], self._replconf_reply))
        self.primary_shard_epoch = self.behind_since = None
        expected = self._expected_epoch()
        if expected is not None:
            steps.append(([b"REPLCONF", b"shard-epoch", b"%d" % expected], self._epoch_reply))
        steps.append((None, self._psync_reply))  # PSYNC, built when sent
        self.steps = steps
        self._next_step()

    def _next_step(self) -> None:
        argv, _ = self.steps[0]
        if argv is None:
            argv = self._psync_command()
        self.send(encode(argv))

    def _psync_command(self) -> list[bytes]:
        primary = self.primary
        if primary.backlog is None:
            replid, offset = "?", -1
            log.info("Partial resynchronization not possible (no cached master)")
        else:
            replid, offset = primary.replid, primary.offset + 1
            log.info("Trying a partial resynchronization (request %s:%d).", replid, offset)
        return [b"PSYNC", replid.encode(), b"%d" % offset]

    def _pong(self, line: str) -> bool:
        if line.startswith("-") and not (line.startswith("-NOAUTH") or line.startswith("-NOPERM")
                                         or line.startswith("-ERR operation not permitted")):
            log.warning("Error reply to PING from master: '%s'", line[1:])
            return False
        log.info("Master replied to PING, replication can continue...")
        return True

    def _auth_reply(self, line: str) -> bool:
        if line.startswith("-"):
            log.warning("Unable to AUTH to MASTER: %s", line[1:])
            return False
        return True

    def _replconf_reply(self, line: str) -> bool:
        if line.startswith("-"):
            log.info("(Non critical) Master does not understand REPLCONF: %s", line[1:])
        return True

    def _expected_epoch(self) -> int | None:
        """The config epoch of the shard this node replicates, as its map has
        it (None outside cluster mode)."""
        cluster = getattr(self.server, "cluster", None)
        return None if cluster is None else cluster.shard_epoch()

    def _epoch_reply(self, line: str) -> bool:
        if not line.startswith(":"):
            log.info("MASTER %s:%d reports no shard epoch (%s): not checked", self.host,
                     self.port, line[1:])
            return True
        try:
            epoch = int(line[1:])
        except ValueError:
            return False
        self.primary_shard_epoch = epoch
        return not self._refuse_if_stale(epoch)

    def _refuse_if_stale(self, epoch: int) -> bool:
        """Whether the primary's shard epoch is older than this replica has
        seen (then say so: the caller drops the link)."""
        expected = self._expected_epoch()
        if expected is None or epoch >= expected:
            return False
        self.stale_refusals += 1
        # Logged once per pair of epochs: a primary that has not yet applied
        # the map naming it is refused again at each try until it has.
        level = logging.WARNING if self._refused != (epoch, expected) else logging.DEBUG
        self._refused = (epoch, expected)
        log.log(level, "Refusing to replicate from MASTER %s:%d: its shard epoch %d is older "
                "than epoch %d of this replica's cluster map (a stale primary, or one that "
                "has not applied the map yet)", self.host, self.port, epoch, expected)
        # Try again soon (the cron waits a second between tries): a primary
        # just promoted applies its map within one poll.
        self.last_connect_try = time.monotonic() - 1.0 + STALE_RETRY_S
        return True

    def _psync_reply(self, line: str) -> bool:
        primary = self.primary
        if line.startswith("+FULLRESYNC"):
            parts = line.split()
            if len(parts) < 3 or len(parts[1]) != 40:
                log.warning("Master replied with wrong +FULLRESYNC syntax.")
                return False
            self.sync_replid = parts[1]
            try:
                self.sync_offset = int(parts[2])
            except ValueError:
                return False
            log.info("Full resync from master: %s:%d", self.sync_replid, self.sync_offset)
            self.state = SYNC
            self.sync_size = -1
            self.sync_read = 0
            return True
        if line.startswith("+CONTINUE"):
            parts = line.split()
            log.info("Successful partial resynchronization with master.")
            if len(parts) > 1 and len(parts[1]) == 40:
                primary.continue_history(parts[1])
            log.info("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.")
            self._go_online()
            return True
        if line.startswith("-NOMASTERLINK") or line.startswith("-LOADING"):
            log.info("Master is currently unable to PSYNC but should be in the future: %s", line[1:])
            return False
        log.warning("Unexpected reply to PSYNC from master: %s", line)
        return False

    # -- reading -----------------------------------------------------------

    def _on_readable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        try:
            data = sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError as exc:
            log.warning("Error reading from MASTER: %s", exc)
            self.drop(reconnect=True)
            return
        if not data:
            log.warning("Connection with master lost.")
            self.drop(reconnect=True)
            return
        self.last_io = time.monotonic()
        self.server.replication.repl_input_bytes += len(data)
        self._consume(data)
        # TLS: bytes OpenSSL decrypted but did not hand out wake no reader.
        if isinstance(sock, ssl.SSLSocket) and sock is self.sock and sock.pending() and \
                not self.loading:
            self.loop.call_soon(self._on_readable)

    def _consume(self, data: bytes) -> None:
        if self.state == CONNECTED:
            self._stream(data)
            return
        self.inbuf += data
        while self.sock is not None and self.inbuf and self.state in (HANDSHAKE, SYNC):
            if self.state == HANDSHAKE:
                end = self.inbuf.find(b"\n")
                if end < 0:
                    return
                line = self.inbuf[:end].rstrip(b"\r").decode("utf-8", "replace")
                del self.inbuf[:end + 1]
                if not line:
                    continue  # a keep-alive newline
                _, check = self.steps.pop(0)
                if not check(line):
                    self.drop(reconnect=True)
                    return
                if self.state == HANDSHAKE and self.steps:
                    self._next_step()
                elif self.state == CONNECTED and self.inbuf:
                    rest = bytes(self.inbuf)
                    self.inbuf.clear()
                    self._stream(rest)
                    return
            elif self.state == SYNC:
                if not self._receive_snapshot():
                    return

    def _receive_snapshot(self) -> bool:
        """Returns True when it consumed something and may go on."""
        buf = self.inbuf
        if self.sync_size < 0:
            end = buf.find(b"\n")
            if end < 0:
                return False
            line = bytes(buf[:end]).rstrip(b"\r")
            del buf[:end + 1]
            if not line:
                return True  # keep-alive while the primary prepares the snapshot
            if line.startswith(b"-"):
                log.warning("MASTER aborted replication with an error: %s", line[1:].decode("utf-8", "replace"))
                self.drop(reconnect=True)
                return False
            if not line.startswith(b"$"):
                log.warning("Bad protocol from MASTER, the first byte is not '$' (we received '%s'), "
                            "are you sure the host and port are right?", line[:40].decode("utf-8", "replace"))
                self.drop(reconnect=True)
                return False
            if line.startswith(b"$EOF:") and len(line) == 5 + EOF_MARK_LEN:
                # Diskless (redis-server's default): no length; the snapshot
                # ends with this 40-byte mark (Redis's replication.c).
                self.sync_eof_mark = line[5:]
                self.sync_tail = b""
                self.sync_size = 0
                log.info("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk")
            else:
                try:
                    self.sync_size = int(line[1:])
                except ValueError:
                    self.drop(reconnect=True)
                    return False
                self.sync_eof_mark = b""
                log.info("MASTER <-> REPLICA sync: receiving %d bytes from master to disk", self.sync_size)
            directory = self.server.config["dir"]
            self.sync_path = os.path.join(directory, "temp-%d.%d.rdb" % (int(time.time()), os.getpid()))
            try:
                self.sync_file = open(self.sync_path, "wb")
            except OSError as exc:
                log.warning("Opening the temp file needed for MASTER <-> REPLICA synchronization: %s", exc)
                self.drop(reconnect=True)
                return False
            return True
        mark = self.sync_eof_mark
        ended = -1  # (diskless) the snapshot's length, once its mark arrived
        if mark:
            # Everything is the snapshot until the mark (redis-server sends
            # nothing after it before our first ACK; what does is the stream).
            take = bytes(buf)
            buf.clear()
            window = self.sync_tail + take
            at = window.find(mark)
            if at >= 0:
                ended = self.sync_read - len(self.sync_tail) + at
                buf += window[at + EOF_MARK_LEN:]
                take = take[:max(0, len(take) - (len(window) - at))]
            self.sync_tail = window[-EOF_MARK_LEN:]
        else:
            take = bytes(buf[:self.sync_size - self.sync_read])
            del buf[:len(take)]
        try:
            self.sync_file.write(take)
        except OSError as exc:
            log.warning("Write error writing to the DB file on disk, retrying: %s", exc)
            self.drop(reconnect=True)
            return False
        self.sync_read += len(take)
        if mark:
            if ended < 0:
                return False
            self.sync_file.truncate(ended)  # (the mark may have begun in an earlier read)
            self.sync_size = self.sync_read = ended
        elif self.sync_read < self.sync_size:
            return False
        self.sync_file.close()
        self.sync_file = None
        self._start_loading()
        return False

    # -- loading the snapshot ---------------------------------------------

    def _start_loading(self) -> None:
        log.info("MASTER <-> REPLICA sync: Loading DB in memory")
        loop = self.loop
        assert self.sock is not None
        loop.remove_reader(self.sock.fileno())  # the stream waits (see the header)
        self.loading = True
        self.server.replication.set_loading(True)
        epoch = self._epoch
        path = self.sync_path
        server = self.server

        def work() -> None:
            from ..persistence.snapshot import SnapshotReader
            from ..storage.keyspace import Keyspace, KeyspaceStats

            result: Any
            try:
                dbs: dict[int, Any] = {}
                limit = server.config["databases"]
                stats = KeyspaceStats()

                def database(index: int) -> Any:
                    db = dbs.get(index)
                    if db is None:
                        if index >= limit:
                            raise ValueError(f"database {index} out of range")
                        db = dbs[index] = Keyspace(index, server.clock, stats)
                    return db

                def sink(index: int, key: bytes, value: Any, expire: float | None) -> None:
                    database(index).install(key, value, expire)

                def strings(index: int, keys: list, values: list) -> None:
                    database(index).install_strings(keys, values)

                started = time.perf_counter()
                with open(path, "rb") as f:
                    # now_ms 0: keep every key; expiry is the primary's business
                    reader = SnapshotReader(f, path)
                    reader.load(sink, 0, strings)
                log.info("Done loading RDB, keys loaded: %d, keys expired: 0 (%.3f seconds).",
                         reader.keys_loaded, time.perf_counter() - started)
                result = (dbs, reader.functions)
            except Exception as exc:  # reported on the loop
                result = exc
            loop.call_soon_threadsafe(self._loaded, epoch, path, result)

        threading.Thread(target=work, name="repl-load", daemon=True).start()

    def _loaded(self, epoch: int, path: str, result: Any) -> None:
        try:
            os.unlink(path)
        except OSError:
            pass
        if epoch != self._epoch or self.sock is None:
            return  # dropped meanwhile (drop() ended the loading state): not wanted
        self.server.replication.set_loading(False)
        self.loading = False
        if isinstance(result, Exception):
            log.warning("Failed trying to load the MASTER synchronization DB from disk: %s", result)
            self.drop(reconnect=True)
            return
        log.info("MASTER <-> REPLICA sync: Flushing old data")
        server = self.server
        fresh_dbs, functions = result
        for index in range(len(server.dbs)):
            fresh = fresh_dbs.get(index)
            if fresh is not None:
                fresh.expire_hold = True
                target = server.db(index)
                target.swap_contents(fresh)
            else:
                old = server.dbs[index]
                if old is not None and old.data:
                    old.flush()
        if functions:  # the primary's function libraries (FUNCTION LOAD) come with its data
            try:
                server.load_function_libraries(functions)
            except ValueError as exc:
                log.warning("Failed loading the MASTER's function libraries: %s", exc)
        primary = self.primary
        primary.disconnect_all()  # our replicas must resync with the new history
        primary.reset_history(self.sync_replid, self.sync_offset)
        self.db_index = 0
        persistence = server.persistence
        if persistence.aof is not None:
            persistence.start_rewrite()  # the AOF must describe the new dataset
        log.info("MASTER <-> REPLICA sync: Finished with success")
        self._go_online()
        self.loop.add_reader(self.sock.fileno(), self._on_readable)
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            self.loop.call_soon(self._on_readable)  # (decrypted while loading)
        if self.inbuf:  # the stream that came in the same reads as the snapshot's end
            rest = bytes(self.inbuf)
            self.inbuf.clear()
            self._stream(rest)

    # -- the stream --------------------------------------------------------

    def _go_online(self) -> None:
        from ..server.session import Session

        self.state = CONNECTED
        self.reader = StreamReader()
        server = self.server
        sock = self.sock
        try:
            peer = sock.getpeername() if sock else ("?", 0)
            local = sock.getsockname() if sock else ("?", 0)
        except OSError:
            peer = local = ("?", 0)
        session = Session(server, server.next_client_id(), f"{peer[0]}:{peer[1]}", f"{local[0]}:{local[1]}")
        session.authenticated = True
        session.user = server.acl.internal  # the primary's stream: no ACL checks, as in Redis
        session.is_master = True
        session.fd = sock.fileno() if sock else -1
        session.close = lambda: self.drop(reconnect=True)
        session.update_gate()
        session.select(self.db_index)
        self.session = session
        server.clients[session.id] = session
        self.send_ack()

    def _stream(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        try:
            batch = reader.take()
        except StreamError as exc:
            log.warning("Protocol error from MASTER (%s): dropping the link", exc)
            self.drop(reconnect=True)
            return
        if batch.argvs:
            self.apply(batch)
        if reader.error is not None and self.state == CONNECTED:
            log.warning("Protocol error from MASTER (%s): dropping the link", reader.error)
            self.drop(reconnect=True)

    def apply(self, batch: Batch) -> None:
        """Run a read's commands: the runs between the commands that are
        counted but not run (PING, REPLCONF, keep-alives) go through the
        dispatcher's batch loop (compiled when built) with the master
        client, and each run's exact bytes reach this node's Primary in one
        piece (its backlog, its own replicas)."""
        server = self.server
        dispatcher = server.dispatcher
        primary = self.primary
        session = self.session
        clock = server.clock
        argvs = batch.argvs
        saved = clock.offset_ms
        clock.offset_ms = MASTER_VIEW_OFFSET_MS
        # The fast table for the master client: writes included (READONLY
        # and the min-replicas gate never apply to it; the gate returns None
        # for it on the checked path too), blocking commands left to the
        # checked path (the master's never park).
        table = dispatcher.table
        dispatcher.table = master_table = _master_table(dispatcher)
        # Clients blocked on keys the stream changes are served once, after
        # it, with the node's own clock (not the distant past the stream's
        # commands see): the batch loop's serve() is put off until then.
        blocking = server.blocking
        blocking.serve = _serve_later  # type: ignore[method-assign]
        try:
            begin = 0
            for stop in (*batch.specials, len(argvs)):
                if stop > begin:
                    ran = self._run(dispatcher, session, argvs, begin, stop)
                    primary.feed_raw(batch.raw(begin, begin + ran))
                    if ran < stop - begin or self.session is not session:
                        return  # the link went down in the middle
                if stop == len(argvs):
                    break
                argv = argvs[stop]
                if argv and argv[0].lower() == b"replconf" and len(argv) > 1:
                    option = argv[1].lower()
                    if option == b"getack":
                        clock.offset_ms = saved
                        self.send_ack()  # (the offset before the GETACK itself, as Redis)
                        clock.offset_ms = MASTER_VIEW_OFFSET_MS
                    elif option == b"shard-epoch" and len(argv) > 2 and argv[2].isdigit():
                        self.primary_shard_epoch = int(argv[2])
                primary.feed_raw(batch.raw(stop, stop + 1))
                begin = stop + 1
        finally:
            clock.offset_ms = saved
            del blocking.serve  # (the class's serve again)
            if dispatcher.table is master_table:  # (not refreshed meanwhile: a gate, a busy script)
                dispatcher.table = table
            self.db_index = session.db_index
            session.last_interaction = time.monotonic()
            if blocking.ready:
                blocking.serve()

    def _run(self, dispatcher: Any, session: Any, argvs: list, begin: int, stop: int) -> int:
        """Commands begin .. stop-1 through the batch loop; how many ran (all
        of them unless the link went down). Error replies are logged as
        Redis does (the replica does not answer its primary)."""
        commands = argvs[begin:stop] if begin or stop < len(argvs) else argvs
        errors = dispatcher.total_errors
        # (the class's plain loop, not cluster mode's instance attribute:
        # the master's commands are never redirected, _cluster_refusal)
        replies, ran = type(dispatcher).execute_batch(dispatcher, session, commands)
        if dispatcher.total_errors != errors or replies[:1] == b"-" or b"\r\n-" in replies:
            _log_errors(commands, replies)
        return ran

    # -- writing -----------------------------------------------------------

    def send(self, data: bytes) -> None:
        sock = self.sock
        if sock is None:
            return
        if not self.out:
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                sent = 0
            except OSError:
                self.drop(reconnect=True)
                return
            if sent == len(data):
                return
            data = data[sent:]
        self.out += data
        if not self.writing:
            self.loop.add_writer(sock.fileno(), self._on_writable)
            self.writing = True

    def _on_writable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        try:
            sent = sock.send(self.out)
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            return
        except OSError:
            self.drop(reconnect=True)
            return
        del self.out[:sent]
        if not self.out:
            self.loop.remove_writer(sock.fileno())
            self.writing = False

    def send_ack(self) -> None:
        if self.state == CONNECTED:
            self.last_ack = time.monotonic()
            self.send(encode([b"REPLCONF", b"ACK", b"%d" % self.primary.offset]))

    # -- ending ------------------------------------------------------------

    def drop(self, reconnect: bool) -> None:
        """Close the link (and any sync in progress); the cron reconnects."""
        self._epoch += 1
        if self.loading:  # a load still running in its thread will be ignored
            self.loading = False
            self.server.replication.set_loading(False)
        sock = self.sock
        loop = self.server._loop
        if sock is not None:
            fd = sock.fileno()
            if loop is not None:
                loop.remove_reader(fd)
                if self.writing or self.state == CONNECTING:
                    loop.remove_writer(fd)
            try:
                sock.close()
            except OSError:
                pass
        self.sock = None
        self.writing = False
        self.out.clear()
        self.inbuf.clear()
        if self.sync_file is not None:
            self.sync_file.close()
            self.sync_file = None
            try:
                os.unlink(self.sync_path)
            except OSError:
                pass
        if self.session is not None:
            self.db_index = self.session.db_index
            session = self.session
            self.session = None
            session.closing = True  # (a batch being applied stops after this command)
            self.server.clients.pop(session.id, None)
            session.reset_multi()  # a transaction cut in half is not applied
        if self.state == CONNECTED:
            self.link_down_since = time.monotonic()
        self.state = CONNECT
        if not reconnect:
            self.stopped = True

    def cron(self) -> None:
        now = time.monotonic()
        timeout = self.server.config["repl-timeout"]
        if self.state == CONNECT:
            if now - self.last_connect_try >= 1.0:
                self.connect()
            return
        if self.state in (CONNECTING, HANDSHAKE) and now - self.last_io > timeout:
            log.warning("Timeout connecting to the MASTER...")
            self.drop(reconnect=True)
        elif self.state == SYNC and not self.loading and now - self.last_io > timeout:
            log.warning("Timeout receiving bulk data from MASTER... If the problem persists try to "
                        "set the 'repl-timeout' parameter in redis.conf to a larger value.")
            self.drop(reconnect=True)
        elif self.state == CONNECTED:
            if self._stale_too_long(now):
                self.drop(reconnect=True)  # the handshake checks the epoch again
            elif now - self.last_io > timeout:
                log.warning("MASTER timeout: no data nor PING received...")
                self.drop(reconnect=True)
            elif now - self.last_ack >= 1.0:
                self.send_ack()

    def _stale_too_long(self, now: float) -> bool:
        """The linked primary has stayed below the shard epoch this replica
        has seen for longer than STALE_EPOCH_GRACE_S."""
        epoch = self.primary_shard_epoch
        expected = self._expected_epoch()
        if epoch is None or expected is None or epoch >= expected:
            self.behind_since = None
            return False
        if self.behind_since is None:
            self.behind_since = now
            return False
        return now - self.behind_since > STALE_EPOCH_GRACE_S and self._refuse_if_stale(epoch)


def _serve_later() -> None:
    """Replica.apply's stand-in for Blocking.serve (see there)."""


def _master_table(dispatcher: Any) -> dict:
    """The dispatcher's fast table as the master client sees it."""
    global _MASTER_TABLE, _MASTER_TABLE_OF
    if dispatcher.busy:
        return {}
    full = fast_table()
    if _MASTER_TABLE_OF != (id(full), len(full)):  # (commands register at import)
        _MASTER_TABLE = {name: spec for name, spec in full.items() if "blocking" not in spec.flags}
        _MASTER_TABLE_OF = (id(full), len(full))
    return _MASTER_TABLE


_MASTER_TABLE: dict = {}
_MASTER_TABLE_OF: Any = None


def _log_errors(commands: list, replies: bytes) -> None:
    """Redis's "== CRITICAL ==" line for each command of the stream that
    got an error reply (one reply per command, in order)."""
    reader = hiredis.Reader()
    reader.feed(replies)
    for argv in commands:
        reply = reader.gets()
        if reply is False:
            return
        if isinstance(reply, hiredis.ReplyError):
            log.warning("== CRITICAL == This replica is sending an error to its master: "
                        "'%s' after processing the command '%s'", reply,
                        argv[0].lower().decode("utf-8", "replace"))


def _b(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()
