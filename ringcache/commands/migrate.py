"""MIGRATE (cluster.c migrateCommand): move keys to another server, which
may be a redis-server, as DUMP payloads RESTOREd there.

MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE]
[AUTH password | AUTH2 username password] [KEYS key ...]

As in Redis the transfer is synchronous: the node waits for the target
(bounded by `timeout` ms, 1000 when 0 or less) and serves nobody meanwhile,
which is why MIGRATE is for moving a few keys, not bulk copies. The steps
and replies are Redis's: keys that do not exist are skipped (`+NOKEY` when
none does); the target gets AUTH/AUTH2 if given, SELECT, then one
`RESTORE key ttl payload [REPLACE]` per key (`RESTORE-ASKING` in cluster
mode), the TTL relative and at least 1 ms; a key the target accepted is
deleted here unless COPY, and those deletions are propagated as one DEL
(not the MIGRATE, which a replica must not replay). The first error the
target answers is returned as `ERR Target instance replied with error:
...`; a connection or timeout failure is `IOERR ...`. Unlike Redis, the
connection is not cached between calls (Redis keeps it 10 s): each
MIGRATE opens its own.
"""

from __future__ import annotations

import socket
import ssl
from typing import TYPE_CHECKING, Any

import hiredis

from ..persistence.rdb import dump_payload
from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import OK, Raw
from ._args import parse_int
from .keyspecs import spec
from .registry import command

if TYPE_CHECKING:
    from ..server.session import Session

NOKEY = Raw(b"+NOKEY\r\n")
IOERR_CONNECT = "IOERR error or timeout connecting to the client"
IOERR_WRITE = "IOERR error or timeout writing to target instance"
IOERR_READ = "IOERR error or timeout reading to target instance"
KEYS_WITH_KEY = ("ERR When using MIGRATE KEYS option, the key argument must be set to the "
                 "empty string")


def _migrate_keys(argv: list[bytes]) -> list[int]:
    """migrateGetKeys: the key argument, or what follows KEYS."""
    i = 6
    while i < len(argv):
        option = argv[i].lower()
        if option == b"auth":
            i += 1
        elif option == b"auth2":
            i += 2
        elif option == b"keys":
            return list(range(i + 1, len(argv)))
        i += 1
    return [3]


def _encode(*argv: bytes) -> bytes:
    return b"".join([b"*%d\r\n" % len(argv), *(b"$%d\r\n%s\r\n" % (len(a), a) for a in argv)])


@command("migrate", -6, "write", (3, 3, 1), since="2.6.0", keys_fn=_migrate_keys,
         key_specs=(spec("RW access delete", index=3),
                    spec("RW access delete incomplete", keyword=b"KEYS", startfrom=-2,
                         lastkey=-1)),
         acl="@dangerous", tips="nondeterministic_output",
         summary="Atomically transfers a key from one Redis instance to another.",
         complexity="This command actually executes a DUMP+DEL in the source instance, and a "
                    "RESTORE in the target instance. See the pages of these commands for time "
                    "complexity. Also an O(N) data transfer between the two instances is "
                    "performed.")
def migrate(session: Session, argv: list[bytes]) -> Any:
    copy = replace = False
    auth: list[bytes] | None = None
    keys = [argv[3]]
    j = 6
    while j < len(argv):
        option = argv[j].lower()
        more = len(argv) - j - 1
        if option == b"copy":
            copy = True
        elif option == b"replace":
            replace = True
        elif option == b"auth":
            if more < 1:
                raise CommandError(errors.SYNTAX)
            auth = [b"AUTH", argv[j + 1]]
            j += 1
        elif option == b"auth2":
            if more < 2:
                raise CommandError(errors.SYNTAX)
            auth = [b"AUTH", argv[j + 1], argv[j + 2]]
            j += 2
        elif option == b"keys":
            if argv[3]:
                raise CommandError(KEYS_WITH_KEY)
            keys = argv[j + 1:]
            break
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    timeout_ms = parse_int(argv[5])
    dbid = parse_int(argv[4])
    if timeout_ms <= 0:
        timeout_ms = 1000
    db = session.db
    now = int(db.clock.ms())
    present = []
    for key in keys:
        value = db.lookup_read(key)
        if value is not None:
            present.append((key, value))
    if not present:
        return NOKEY
    restore = b"RESTORE-ASKING" if session.server.cluster is not None else b"RESTORE"
    requests = []
    if auth is not None:
        requests.append(_encode(*auth))
    requests.append(_encode(b"SELECT", b"%d" % dbid))
    for key, value in present:
        expire = db.expires.get(key) if db.expires else None
        ttl = max(1, int(expire) - now) if expire is not None else 0
        args = [restore, key, b"%d" % ttl, dump_payload(value)]
        if replace:
            args.append(b"REPLACE")
        requests.append(_encode(*args))
    from ..cluster import peers

    replies = _exchange(argv[1].decode(errors="replace"), argv[2], b"".join(requests),
                        len(requests), timeout_ms / 1000.0, peers.ssl_context(session.server.config))
    preamble = len(requests) - len(present)
    for reply in replies[:preamble]:  # AUTH, SELECT
        if isinstance(reply, hiredis.ReplyError):
            raise CommandError(f"ERR Target instance replied with error: {reply}")
    error = None
    moved = []
    for (key, _), reply in zip(present, replies[preamble:]):
        if isinstance(reply, hiredis.ReplyError):
            if error is None:
                error = f"ERR Target instance replied with error: {reply}"
        elif not copy:
            moved.append(key)
    for key in moved:
        db.delete(key)
    if moved:
        session.propagate = [[b"DEL", *moved]]
    if error is not None:
        raise CommandError(error)
    return OK


def _exchange(host: str, port_arg: bytes, data: bytes, count: int, timeout: float,
              tls: ssl.SSLContext | None = None) -> list:
    """Send the requests, read `count` replies, within timeout per step;
    over TLS with tls (tls-cluster: Redis's MIGRATE then speaks TLS too)."""
    try:
        port = int(port_arg)
        conn = socket.create_connection((host, port), timeout=timeout)
        if tls is not None:
            try:
                conn = tls.wrap_socket(conn, server_hostname=host)  # (handshake within timeout)
            except OSError:
                conn.close()
                raise
    except (OSError, ValueError, OverflowError):
        raise CommandError(IOERR_CONNECT) from None
    try:
        try:
            conn.sendall(data)
        except OSError:
            raise CommandError(IOERR_WRITE) from None
        reader = hiredis.Reader()
        replies: list = []
        try:
            while len(replies) < count:
                reply = reader.gets()
                if reply is not False:
                    replies.append(reply)
                    continue
                chunk = conn.recv(65536)
                if not chunk:
                    raise OSError("closed")
                reader.feed(chunk)
        except (OSError, hiredis.ProtocolError):
            raise CommandError(IOERR_READ) from None
        return replies
    finally:
        conn.close()
