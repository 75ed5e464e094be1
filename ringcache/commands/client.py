"""CLIENT and its subcommands, client tracking included (Redis's
networking.c and tracking.c).

Theory of operation
-------------------
A client is a server.session.Session; these handlers read it and change it
only through the owners' entry points: `server.pause` for CLIENT PAUSE,
`session.close()` for CLIENT KILL, `server.blocking.unblock` for CLIENT
UNBLOCK, `server.tracking` (pubsub/tracking.py) for CLIENT TRACKING /
CACHING / GETREDIR / TRACKINGINFO.

CLIENT LIST prints the Redis 7.4 line for each session; fields that have no
meaning here (the reply buffer of a C client) are printed as 0 so that
parsers find every field they expect.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import OK, Verbatim
from ..pubsub import client_list_fields
from ._admin import ADMIN_FLAGS, CONNECTION_FLAGS, NO_REPLY, bulk_set, help_subcommand, text, to_bytes
from ._args import parse_int
from .connection import validate_client_name
from .registry import CommandSpec, container, lookup, subcommand

if TYPE_CHECKING:
    from ..server.session import Session

CLIENT = container("client", -2, group="connection", since="2.4.0",
                   summary="A container for client connection commands.")

_CLIENT_TYPES = {b"normal": "normal", b"slave": "replica", b"replica": "replica",
                 b"pubsub": "pubsub", b"master": "master"}


def client_type(session: Session) -> str:
    """getClientType(): MONITOR clients count as normal."""
    if session.is_replica and not session.monitor:
        return "replica"
    if session.is_master:
        return "master"
    if session.subscriptions:
        return "pubsub"
    return "normal"


def _flags(session: Session, tracking: str = "") -> str:
    flags = ""
    if session.monitor:
        flags += "O"
    elif session.is_replica:
        flags += "S"
    if session.is_master:
        flags += "M"
    if session.subscriptions:
        flags += "P"
    if session.multi is not None:
        flags += "x"
    if session.blocked is not None:  # waiting in BLPOP & co (server/blocking.py)
        flags += "b"
    flags += tracking  # t, R, B (client tracking, pubsub.tracking)
    if session.dirty_cas:
        flags += "d"
    if session.closing:
        flags += "c"
    if session.no_evict:
        flags += "e"
    if session.no_touch:
        flags += "T"
    return flags or "N"


def _last_command_name(session: Session) -> str:
    last = session.last_command
    if isinstance(last, CommandSpec):
        return last.fullname
    if last == b"NULL":
        return "NULL"
    spec = lookup(last)
    # The session keeps only argv[0], so a container shows without its
    # subcommand ("client" where Redis says "client|list").
    return spec.fullname if spec else last.decode("utf-8", "replace").lower()


def client_line(session: Session, current: tuple[str, list] | None = None) -> str:
    """One CLIENT LIST line, Redis 7.4's fields in Redis's order. `current`
    is (command name, argv) of the command being run by this very client:
    Redis shows it in cmd= and argv-mem= for the caller."""
    now = time.monotonic()
    qbuf, omem = session.buffer_sizes()
    if current is not None:
        cmd, argv = current
        argv_mem = sum(len(arg) for arg in argv)
    else:
        cmd, argv_mem = _last_command_name(session), 0
    multi = session.multi
    multi_mem = sum(len(arg) for _, queued in multi for arg in queued) if multi else 0
    sub, psub, ssub, tracking_flags, redir = client_list_fields(session)
    return (
        f"id={session.id} addr={session.addr} laddr={session.laddr} fd={session.fd} "
        f"name={session.name.decode('utf-8', 'replace')} "
        f"age={int(now - session.created)} idle={int(now - session.last_interaction)} "
        f"flags={_flags(session, tracking_flags)} db={session.db_index} sub={sub} psub={psub} ssub={ssub} "
        f"multi={len(multi) if multi is not None else -1} watch={len(session.watched)} "
        f"qbuf={qbuf} qbuf-free=0 argv-mem={argv_mem} multi-mem={multi_mem} rbs=0 rbp=0 "
        f"obl=0 oll=0 omem={omem} tot-mem={qbuf + omem + argv_mem + multi_mem} "
        f"events={'rw' if omem else 'r'} cmd={cmd} user={session.user.name.decode('utf-8', 'replace')} redir={redir} resp={session.protocol} "
        f"lib-name={session.lib_name.decode('utf-8', 'replace')} "
        f"lib-ver={session.lib_ver.decode('utf-8', 'replace')}"
    )


def _current(argv: list[bytes]) -> tuple[str, list]:
    return f"{argv[0].decode('utf-8', 'replace').lower()}|{argv[1].decode('utf-8', 'replace').lower()}", argv


@subcommand(CLIENT, "id", 2, CONNECTION_FLAGS, since="5.0.0",
            summary="Returns the unique client ID of the connection.", complexity="O(1)")
def client_id(session: Session, argv: list[bytes]) -> Any:
    return session.id


@subcommand(CLIENT, "setname", 3, CONNECTION_FLAGS, since="2.6.9",
            summary="Sets the connection name.", complexity="O(1)")
def client_setname(session: Session, argv: list[bytes]) -> Any:
    validate_client_name(argv[2])
    session.name = argv[2]
    return OK


@subcommand(CLIENT, "getname", 2, CONNECTION_FLAGS, since="2.6.9",
            summary="Returns the name of the connection.", complexity="O(1)")
def client_getname(session: Session, argv: list[bytes]) -> Any:
    return session.name or None


@subcommand(CLIENT, "setinfo", 4, CONNECTION_FLAGS, since="7.2.0",
            summary="Sets information specific to the client or connection.", complexity="O(1)")
def client_setinfo(session: Session, argv: list[bytes]) -> Any:
    attr = argv[2].lower()
    if attr not in (b"lib-name", b"lib-ver"):
        raise CommandError(errors.unrecognized_option(argv[2]))
    value = argv[3]
    if any(c < 0x21 or c > 0x7E for c in value):  # validateClientAttr
        raise CommandError(errors.client_attr_chars(argv[2]))
    if attr == b"lib-name":
        session.lib_name = value
    else:
        session.lib_ver = value
    return OK


def _parse_type(arg: bytes) -> str:
    kind = _CLIENT_TYPES.get(arg.lower())
    if kind is None:
        raise CommandError(errors.unknown_client_type(arg))
    return kind


@subcommand(CLIENT, "list", -2, ADMIN_FLAGS, since="2.4.0",
            tips="nondeterministic_output",
            summary="Lists open connections.", complexity="O(N) where N is the number of client connections")
def client_list(session: Session, argv: list[bytes]) -> Any:
    sessions = sorted(session.server.clients.values(), key=lambda s: s.id)
    if len(argv) == 4 and argv[2].lower() == b"type":
        kind = _parse_type(argv[3])
        sessions = [s for s in sessions if client_type(s) == kind]
    elif len(argv) >= 4 and argv[2].lower() == b"id":
        ids = []
        for arg in argv[3:]:
            ids.append(parse_int(arg, errors.INVALID_CLIENT_ID))
        by_id = session.server.clients
        sessions = [by_id[i] for i in dict.fromkeys(ids) if i in by_id]
    elif len(argv) != 2:
        raise CommandError(errors.SYNTAX)
    current = _current(argv)
    lines = [client_line(s, current if s is session else None) + "\n" for s in sessions]
    return Verbatim(to_bytes("".join(lines)))


@subcommand(CLIENT, "info", 2, CONNECTION_FLAGS, since="6.2.0",
            tips="nondeterministic_output",
            summary="Returns information about the connection.", complexity="O(1)")
def client_info(session: Session, argv: list[bytes]) -> Any:
    return Verbatim(to_bytes(client_line(session, _current(argv)) + "\n"))


# CLIENT KILL's filters, one function each (a lambda in the loop would see the
# last value of a filter given twice).
def _id_is(wanted: int) -> Callable[[Session], bool]:
    return lambda s: s.id == wanted


def _addr_is(wanted: str) -> Callable[[Session], bool]:
    return lambda s: s.addr == wanted


def _laddr_is(wanted: str) -> Callable[[Session], bool]:
    return lambda s: s.laddr == wanted


def _user_is(user: Any) -> Callable[[Session], bool]:
    return lambda s: s.user is user


def _type_is(kind: str) -> Callable[[Session], bool]:
    return lambda s: client_type(s) == kind


def _older_than(seconds: int) -> Callable[[Session], bool]:
    return lambda s: time.monotonic() - s.created > seconds


def _kill(session: Session, victims: list[Session]) -> None:
    """Close victims; the caller itself is closed after its reply is sent."""
    for victim in victims:
        victim.closing = True
        if victim is not session and victim.close is not None:
            victim.close()


@subcommand(CLIENT, "kill", -3, ADMIN_FLAGS, since="2.4.0",
            summary="Terminates open connections.", complexity="O(N) where N is the number of client connections")
def client_kill(session: Session, argv: list[bytes]) -> Any:
    server = session.server
    if len(argv) == 3:
        # The old form: one address, and the caller may kill itself.
        addr = text(argv[2])
        victims = [s for s in server.clients.values() if s.addr == addr]
        if not victims:
            raise CommandError(errors.NO_SUCH_CLIENT)
        _kill(session, victims)
        return OK
    tests: list[Callable[[Session], bool]] = []
    skipme = True
    i = 2
    while i < len(argv):
        if i + 1 >= len(argv):
            raise CommandError(errors.SYNTAX)
        option, value = argv[i].lower(), argv[i + 1]
        if option == b"id":
            wanted_id = parse_int(value, errors.CLIENT_ID_POSITIVE)
            if wanted_id < 1:
                raise CommandError(errors.CLIENT_ID_POSITIVE)
            tests.append(_id_is(wanted_id))
        elif option == b"type":
            tests.append(_type_is(_parse_type(value)))
        elif option == b"addr":
            tests.append(_addr_is(text(value)))
        elif option == b"laddr":
            tests.append(_laddr_is(text(value)))
        elif option == b"user":
            user = session.server.acl.get(value)
            if user is None:
                raise CommandError(errors.no_such_user(value))
            tests.append(_user_is(user))
        elif option == b"skipme":
            if value.lower() == b"yes":
                skipme = True
            elif value.lower() == b"no":
                skipme = False
            else:
                raise CommandError(errors.SYNTAX)
        elif option == b"maxage":
            max_age = parse_int(value, errors.MAXAGE_NOT_INTEGER)
            if max_age <= 0:
                raise CommandError(errors.MAXAGE_POSITIVE)
            tests.append(_older_than(max_age))
        else:
            raise CommandError(errors.SYNTAX)
        i += 2
    victims = [s for s in list(server.clients.values())
               if not (skipme and s is session) and all(test(s) for test in tests)]
    _kill(session, victims)
    return len(victims)


@subcommand(CLIENT, "unblock", -3, ADMIN_FLAGS, since="5.0.0",
            summary="Unblocks a client blocked by a blocking command from a different connection.",
            complexity="O(log N) where N is the number of client connections")
def client_unblock(session: Session, argv: list[bytes]) -> Any:
    if len(argv) > 4:
        raise CommandError(errors.subcommand_syntax(argv[1], "client"))
    client_id = parse_int(argv[2])
    error = False
    if len(argv) == 4:
        reason = argv[3].lower()
        if reason not in (b"timeout", b"error"):
            raise CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        error = reason == b"error"
    return int(session.server.blocking.unblock(client_id, error))


@subcommand(CLIENT, "pause", -3, ADMIN_FLAGS, since="3.0.0",
            summary="Suspends commands processing.", complexity="O(1)")
def client_pause(session: Session, argv: list[bytes]) -> Any:
    if len(argv) > 4:
        raise CommandError(errors.subcommand_syntax(argv[1], "client"))
    pause_all = True
    if len(argv) == 4:
        mode = argv[3].lower()
        if mode == b"write":
            pause_all = False
        elif mode != b"all":
            raise CommandError(errors.PAUSE_MODE)
    timeout_ms = parse_int(argv[2], errors.TIMEOUT_NOT_INTEGER)
    if timeout_ms < 0:
        raise CommandError(errors.TIMEOUT_NEGATIVE)
    session.server.pause(timeout_ms / 1000.0, pause_all)
    return OK


@subcommand(CLIENT, "unpause", 2, ADMIN_FLAGS, since="6.2.0",
            summary="Resumes processing of clients that were paused.", complexity="O(N) Where N is the number of paused clients")
def client_unpause(session: Session, argv: list[bytes]) -> Any:
    session.server.unpause()
    return OK


@subcommand(CLIENT, "reply", 3, CONNECTION_FLAGS, since="3.2.0",
            summary="Instructs the server whether to reply to commands.", complexity="O(1)")
def client_reply(session: Session, argv: list[bytes]) -> Any:
    # The dispatcher drops replies while reply_mode is not "on" (and, for
    # "skip", exactly the reply of the next command).
    mode = argv[2].lower()
    if mode == b"on":
        session.reply_mode = "on"
        session.update_gate()
        return OK
    if mode == b"off":
        session.reply_mode = "off"
        session.update_gate()
        return NO_REPLY
    if mode == b"skip":
        if session.reply_mode != "off":  # SKIP while OFF changes nothing (Redis)
            session.reply_mode = "skip"
            session.update_gate()
        return NO_REPLY
    raise CommandError(errors.SYNTAX)


def _on_off(arg: bytes) -> bool:
    word = arg.lower()
    if word == b"on":
        return True
    if word == b"off":
        return False
    raise CommandError(errors.SYNTAX)


@subcommand(CLIENT, "no-evict", 3, ADMIN_FLAGS, since="7.0.0",
            summary="Sets the client eviction mode of the connection.", complexity="O(1)")
def client_no_evict(session: Session, argv: list[bytes]) -> Any:
    session.no_evict = _on_off(argv[2])
    return OK


@subcommand(CLIENT, "no-touch", 3, CONNECTION_FLAGS, since="7.2.0",
            summary="Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
            complexity="O(1)")
def client_no_touch(session: Session, argv: list[bytes]) -> Any:
    session.no_touch = _on_off(argv[2])
    session.update_gate()  # (a no-touch client's commands take the checked path)
    return OK


_CLIENT_HELP = (
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "    * MAXAGE <maxage>",
    "      Kill connections older than the specified age.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
)


help_subcommand(CLIENT, _CLIENT_HELP, since="5.0.0")


# -- client tracking (pubsub/tracking.py keeps the table) ---------------------------




def _shown(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _overlap(a: bytes, b: bytes) -> bool:
    """stringCheckPrefix: is one a prefix of the other?"""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


@subcommand(CLIENT, "tracking", -3, CONNECTION_FLAGS, since="6.0.0",
             summary="Controls server-assisted client-side caching for the connection.",
             complexity="O(1). Some options may introduce additional complexity.")
def client_tracking(session: Session, argv: list[bytes]) -> Any:
    server = session.server
    tracking = server.tracking
    redirect = 0
    bcast = optin = optout = noloop = False
    prefixes: list[bytes] = []
    j, n = 3, len(argv)
    while j < n:
        option = argv[j].lower()
        more = j + 1 < n
        if option == b"redirect" and more:
            j += 1
            if redirect != 0:
                raise CommandError("ERR A client can only redirect to a single other client")
            redirect = parse_int(argv[j])
            # It must exist now, even if it may be gone later (then the
            # client is told its redirection is broken).
            if redirect not in server.clients:
                raise CommandError("ERR The client ID you want redirect to does not exist")
        elif option == b"bcast":
            bcast = True
        elif option == b"optin":
            optin = True
        elif option == b"optout":
            optout = True
        elif option == b"noloop":
            noloop = True
        elif option == b"prefix" and more:
            j += 1
            prefixes.append(argv[j])
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    mode = argv[2].lower()
    if mode == b"off":
        tracking.disable(session)
        return OK
    if mode != b"on":
        raise CommandError(errors.SYNTAX)
    state = tracking.state(session)
    if prefixes and not bcast:
        raise CommandError("ERR PREFIX option requires BCAST mode to be enabled")
    if state is not None and state.bcast != bcast:
        raise CommandError("ERR You can't switch BCAST mode on/off before disabling tracking for "
                           "this client, and then re-enabling it with a different mode.")
    if bcast and (optin or optout):
        raise CommandError("ERR OPTIN and OPTOUT are not compatible with BCAST")
    if optin and optout:
        raise CommandError("ERR You can't specify both OPTIN mode and OPTOUT mode")
    if state is not None and ((optin and state.optout) or (optout and state.optin)):
        raise CommandError("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for "
                           "this client, and then re-enabling it with a different mode.")
    if bcast:
        existing = state.prefixes if state is not None else []
        for i, prefix in enumerate(prefixes):
            for old in existing:
                if _overlap(old, prefix):
                    raise CommandError(
                        f"ERR Prefix '{_shown(prefix)}' overlaps with an existing prefix '{_shown(old)}'. "
                        "Prefixes for a single client must not overlap.")
            for other in prefixes[i + 1:]:
                if _overlap(prefix, other):
                    raise CommandError(
                        f"ERR Prefix '{_shown(prefix)}' overlaps with another provided prefix "
                        f"'{_shown(other)}'. Prefixes for a single client must not overlap.")
    tracking.enable(session, redirect, bcast, optin, optout, noloop, prefixes)
    return OK


@subcommand(CLIENT, "caching", 3, CONNECTION_FLAGS, since="6.0.0",
             summary="Instructs the server whether to track the keys in the next request.",
             complexity="O(1)")
def client_caching(session: Session, argv: list[bytes]) -> Any:
    state = session.server.tracking.state(session)
    if state is None:
        raise CommandError("ERR CLIENT CACHING can be called only when the client is in tracking "
                           "mode with OPTIN or OPTOUT mode enabled")
    choice = argv[2].lower()
    if choice == b"yes":
        if not state.optin:
            raise CommandError("ERR CLIENT CACHING YES is only valid when tracking is enabled in "
                               "OPTIN mode.")
    elif choice == b"no":
        if not state.optout:
            raise CommandError("ERR CLIENT CACHING NO is only valid when tracking is enabled in "
                               "OPTOUT mode.")
    else:
        raise CommandError(errors.SYNTAX)
    state.caching = True
    return OK


@subcommand(CLIENT, "getredir", 2, CONNECTION_FLAGS, since="6.0.0",
             summary="Returns the client ID to which the connection's tracking notifications "
                     "are redirected.",
             complexity="O(1)")
def client_getredir(session: Session, argv: list[bytes]) -> Any:
    return session.server.tracking.redirect_of(session)


@subcommand(CLIENT, "trackinginfo", 2, CONNECTION_FLAGS, since="6.2.0",
             summary="Returns information about server-assisted client-side caching for the "
                     "connection.",
             complexity="O(1)")
def client_trackinginfo(session: Session, argv: list[bytes]) -> Any:
    state = session.server.tracking.state(session)
    if state is None:
        flags = ["off"]
    else:
        flags = ["on"] + [flag for flag, on in (
            ("bcast", state.bcast),
            ("optin", state.optin),
            ("caching-yes", state.optin and state.caching),
            ("optout", state.optout),
            ("caching-no", state.optout and state.caching),
            ("noloop", state.noloop),
            ("broken_redirect", state.broken_redirect),
        ) if on]
    return {
        b"flags": bulk_set(session, flags),  # a set in RESP3, in this order
        b"redirect": -1 if state is None else state.redirect,
        b"prefixes": [] if state is None else sorted(state.prefixes),  # radix-tree order
    }
