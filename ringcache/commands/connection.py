"""Connection commands: PING ECHO QUIT RESET HELLO AUTH SELECT SWAPDB."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import REDIS_VERSION, __version__
from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import OK, PONG, Push, SimpleString
from ._args import parse_db_index, parse_int32
from .registry import command

if TYPE_CHECKING:
    from ..server.session import Session


@command("ping", -1, "fast", group="connection", summary="Returns the server's liveliness response.")
def ping(session: Session, argv: list[bytes]) -> Any:
    if len(argv) > 2:
        raise CommandError(errors.wrong_arity("ping"))
    if session.subscriptions and session.protocol == 2:
        # In RESP2 subscribed mode PING answers with a pub/sub-shaped array.
        return Push([b"pong", argv[1] if len(argv) == 2 else b""])
    return argv[1] if len(argv) == 2 else PONG


@command("echo", 2, "fast", group="connection", summary="Returns the given string.")
def echo(session: Session, argv: list[bytes]) -> Any:
    return argv[1]


@command("quit", -1, "no_auth fast allow_busy", group="connection",
         summary="Closes the connection.")
def quit(session: Session, argv: list[bytes]) -> Any:
    session.closing = True
    return OK


@command("reset", 1, "no_auth fast allow_busy", group="connection", since="6.2.0",
         summary="Resets the connection.")
def reset(session: Session, argv: list[bytes]) -> Any:
    session.reset_multi()
    session.select(0)
    session.set_protocol(2)
    session.name = b""
    session.reply_mode = "on"
    session.no_evict = False
    session.no_touch = False
    if session.monitor:
        session.monitor = False
        session.server.monitors.discard(session)
    for hook in session.server.reset_hooks:  # pub/sub and tracking state
        hook(session)
    default = session.server.acl.default
    session.user = default
    session.authenticated = default.enabled and default.nopass
    session.update_gate()
    return SimpleString(b"RESET")


def _check_password(session: Session, username: bytes, password: bytes) -> None:
    from .acl import authenticate  # (acl imports the whole table)

    authenticate(session, username, password)


@command("auth", -2, "no_auth fast allow_busy noscript loading stale", group="connection",
         summary="Authenticates the connection.")
def auth(session: Session, argv: list[bytes]) -> Any:
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    if len(argv) == 2:
        if session.server.acl.default.nopass:
            raise CommandError(errors.AUTH_NOT_CONFIGURED)
        _check_password(session, b"default", argv[1])
    else:
        _check_password(session, argv[1], argv[2])
    return OK


@command("hello", -1, "no_auth fast allow_busy noscript loading stale", group="connection",
         since="6.0.0", summary="Handshakes with the server.")
def hello(session: Session, argv: list[bytes]) -> Any:
    version = session.protocol
    i = 1
    if len(argv) > 1:
        try:
            version = int(argv[1])
        except ValueError:
            raise CommandError("ERR Protocol version is not an integer or out of range") from None
        i = 2
        if version not in (2, 3):
            raise CommandError("NOPROTO unsupported protocol version")
    name = None
    while i < len(argv):
        option = argv[i].lower()
        if option == b"auth" and i + 2 < len(argv):
            _check_password(session, argv[i + 1], argv[i + 2])
            i += 3
        elif option == b"setname" and i + 1 < len(argv):
            name = argv[i + 1]
            validate_client_name(name)
            i += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{argv[i].decode('utf-8', 'replace')}'")
    if not session.authenticated:
        raise CommandError("NOAUTH HELLO must be called with the client already authenticated, "
                           "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                           "authenticate the client and select the RESP protocol version at the "
                           "same time")
    if name is not None:
        session.name = name
    session.set_protocol(version)
    return {
        b"server": b"redis",
        b"version": REDIS_VERSION.encode(),
        b"proto": version,
        b"id": session.id,
        b"mode": b"standalone",
        b"role": b"master",
        b"modules": [],
        b"ringcache_version": __version__.encode(),
    }


def validate_client_name(name: bytes) -> None:
    if any(c <= 32 or c >= 127 for c in name):
        raise CommandError("ERR Client names cannot contain spaces, newlines or special characters.")


@command("select", 2, "loading stale fast", group="connection", summary="Changes the selected database.")
def select(session: Session, argv: list[bytes]) -> Any:
    if session.server.cluster is not None:
        index = parse_int32(argv[1])
        if index != 0:
            raise CommandError("ERR SELECT is not allowed in cluster mode")
    session.select(parse_db_index(argv[1], len(session.server.dbs)))
    return OK


@command("swapdb", 3, "write fast", group="server", since="4.0.0", summary="Swaps two Redis databases.")
def swapdb(session: Session, argv: list[bytes]) -> Any:
    count = len(session.server.dbs)
    first = parse_int32(argv[1], "ERR invalid first DB index")
    second = parse_int32(argv[2], "ERR invalid second DB index")
    if not 0 <= first < count or not 0 <= second < count:
        raise CommandError(errors.DB_INDEX_OUT_OF_RANGE)
    if first != second:
        session.server.db(first).swap_contents(session.server.db(second))
        # Neither may be the selected database, whose counter the dispatcher reads.
        session.propagate = [list(argv)]
    return OK
