"""Pub/sub commands (pubsub.c) and the client-tracking subcommands of CLIENT
(networking.c): SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB
SSUBSCRIBE SUNSUBSCRIBE SPUBLISH, CLIENT TRACKING / CACHING / GETREDIR /
TRACKINGINFO.

The state lives in ringcache.pubsub (the hub and the tracking table,
`session.server.pubsub` / `.tracking`); these handlers parse, check and
answer. A (un)subscribe command answers with one confirmation per channel
(a push in RESP3, an array in RESP2), all encoded here into one Raw reply.
Before answering, each of them sends the client the messages already queued
for it (hub.flush_session), so a confirmation never overtakes a message
published before it.
"""

from __future__ import annotations

from typing import Any

from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import OK, Raw, RawPush, SimpleString
from ..pubsub.hub import CHANNEL, PATTERN, SHARD
from . import server as _server  # noqa: F401  (defines the CLIENT container we extend)
from ._args import parse_int
from ..glob import compile_glob
from .registry import COMMANDS, command, container, subcommand

_PUBSUB_ACL = "@pubsub @slow"
_FLAGS = "pubsub noscript loading stale"


# -- subscribing -------------------------------------------------------------------


def _subscribe(session: Any, names: list, kind: int) -> Raw:
    hub = session.server.pubsub
    hub.flush_session(session)
    results = hub.subscribe(session, names, kind)
    return RawPush(hub.encode_replies(session, kind, True, results))


def _unsubscribe(session: Any, names: list, kind: int) -> Raw:
    hub = session.server.pubsub
    hub.flush_session(session)
    results = hub.unsubscribe(session, names or None, kind)
    return RawPush(hub.encode_replies(session, kind, False, results))


@command("subscribe", -2, _FLAGS, group="pubsub", since="2.0.0",
         summary="Listens for messages published to channels.",
         complexity="O(N) where N is the number of channels to subscribe to.", acl=_PUBSUB_ACL)
def subscribe(session: Any, argv: list) -> Any:
    return _subscribe(session, argv[1:], CHANNEL)


@command("unsubscribe", -1, _FLAGS, group="pubsub", since="2.0.0",
         summary="Stops listening to messages posted to channels.",
         complexity="O(N) where N is the number of channels to unsubscribe.", acl=_PUBSUB_ACL)
def unsubscribe(session: Any, argv: list) -> Any:
    return _unsubscribe(session, argv[1:], CHANNEL)


@command("psubscribe", -2, _FLAGS, group="pubsub", since="2.0.0",
         summary="Listens for messages published to channels that match one or more patterns.",
         complexity="O(N) where N is the number of patterns to subscribe to.", acl=_PUBSUB_ACL)
def psubscribe(session: Any, argv: list) -> Any:
    return _subscribe(session, argv[1:], PATTERN)


@command("punsubscribe", -1, _FLAGS, group="pubsub", since="2.0.0",
         summary="Stops listening to messages published to channels that match one or more patterns.",
         complexity="O(N) where N is the number of patterns to unsubscribe.", acl=_PUBSUB_ACL)
def punsubscribe(session: Any, argv: list) -> Any:
    return _unsubscribe(session, argv[1:], PATTERN)


@command("ssubscribe", -2, _FLAGS, (1, -1, 1), group="pubsub", since="7.0.0",
         summary="Listens for messages published to shard channels.",
         complexity="O(N) where N is the number of shard channels to subscribe to.", acl=_PUBSUB_ACL)
def ssubscribe(session: Any, argv: list) -> Any:
    return _subscribe(session, argv[1:], SHARD)


@command("sunsubscribe", -1, _FLAGS, (1, -1, 1), group="pubsub", since="7.0.0",
         summary="Stops listening to messages posted to shard channels.",
         complexity="O(N) where N is the number of shard channels to unsubscribe.", acl=_PUBSUB_ACL)
def sunsubscribe(session: Any, argv: list) -> Any:
    return _unsubscribe(session, argv[1:], SHARD)


# -- publishing -----------------------------------------------------------------------


@command("publish", 3, "pubsub loading stale fast may_replicate", group="pubsub", since="2.0.0",
         summary="Posts a message to a channel.",
         complexity="O(N+M) where N is the number of clients subscribed to the receiving channel "
                    "and M is the total number of subscribed patterns (by any client).",
         acl="@pubsub @fast")
def publish(session: Any, argv: list) -> Any:
    receivers = session.server.pubsub.publish(argv[1], argv[2])
    return _COUNTS[receivers] if receivers < 1024 else receivers


# Encoded integer replies: the dispatcher copies a Raw reply as it is, where
# an int would go through the generic encoder (measurable at 150k PUBLISH/s).
_COUNTS = [Raw(b":%d\r\n" % n) for n in range(1024)]


@command("spublish", 3, "pubsub loading stale fast may_replicate", (1, 1, 1), group="pubsub",
         since="7.0.0", summary="Post a message to a shard channel",
         complexity="O(N) where N is the number of clients subscribed to the receiving shard channel.",
         acl="@pubsub @fast")
def spublish(session: Any, argv: list) -> Any:
    receivers = session.server.pubsub.spublish(argv[1], argv[2])
    return _COUNTS[receivers] if receivers < 1024 else receivers


# -- PUBSUB introspection ----------------------------------------------------------------

PUBSUB = container("pubsub", -2, group="pubsub", since="2.8.0",
                   summary="A container for Pub/Sub commands.")
PUBSUB.acl_categories = ("@slow",)


def _channel_list(argv: list, table: dict) -> list:
    if len(argv) > 3:
        raise CommandError(errors.subcommand_syntax(argv[1], "pubsub"))
    if len(argv) == 2:
        return list(table)
    match = compile_glob(argv[2])
    return [channel for channel in table if match(channel)]


def _numsub(argv: list, table: dict) -> list:
    # A flat array (channel, count, ...), even in RESP3: names may repeat.
    out: list = []
    for channel in argv[2:]:
        subscribers = table.get(channel)
        out.append(channel)
        out.append(len(subscribers) if subscribers else 0)
    return out


@subcommand(PUBSUB, "channels", -2, "pubsub loading stale", acl="@pubsub @slow", since="2.8.0",
             summary="Returns the active channels.",
             complexity="O(N) where N is the number of active channels, and assuming constant "
                        "time pattern matching (relatively short channels and patterns)")
def pubsub_channels(session: Any, argv: list) -> Any:
    return _channel_list(argv, session.server.pubsub.channels)


@subcommand(PUBSUB, "numsub", -2, "pubsub loading stale", acl="@pubsub @slow", since="2.8.0",
             summary="Returns a count of subscribers to channels.",
             complexity="O(N) for the NUMSUB subcommand, where N is the number of requested channels")
def pubsub_numsub(session: Any, argv: list) -> Any:
    return _numsub(argv, session.server.pubsub.channels)


@subcommand(PUBSUB, "numpat", 2, "pubsub loading stale", acl="@pubsub @slow", since="2.8.0",
             summary="Returns a count of unique pattern subscriptions.", complexity="O(1)")
def pubsub_numpat(session: Any, argv: list) -> Any:
    return len(session.server.pubsub.patterns)


@subcommand(PUBSUB, "shardchannels", -2, "pubsub loading stale", acl="@pubsub @slow", since="7.0.0",
             summary="Returns the active shard channels.",
             complexity="O(N) where N is the number of active shard channels, and assuming "
                        "constant time pattern matching (relatively short shard channels).")
def pubsub_shardchannels(session: Any, argv: list) -> Any:
    return _channel_list(argv, session.server.pubsub.shard_channels)


@subcommand(PUBSUB, "shardnumsub", -2, "pubsub loading stale", acl="@pubsub @slow", since="7.0.0",
             summary="Returns the count of subscribers of shard channels.",
             complexity="O(N) for the SHARDNUMSUB subcommand, where N is the number of requested "
                        "shard channels")
def pubsub_shardnumsub(session: Any, argv: list) -> Any:
    return _numsub(argv, session.server.pubsub.shard_channels)


_PUBSUB_HELP = (
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
)


@subcommand(PUBSUB, "help", 2, "loading stale", acl="@slow", since="6.2.0",
             summary="Returns helpful text about the different subcommands.", complexity="O(1)")
def pubsub_help(session: Any, argv: list) -> Any:
    head = (f"{argv[0].decode('utf-8', 'replace').upper()} <subcommand> [<arg> [value] [opt] ...]. "
            "Subcommands are:")
    return [SimpleString(line.encode()) for line in (head, *_PUBSUB_HELP)]


# -- CLIENT TRACKING and friends (registered in the CLIENT container) ------------------------

CLIENT = COMMANDS[b"client"]
_CONN = "noscript loading stale"


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _overlap(a: bytes, b: bytes) -> bool:
    """stringCheckPrefix: is one a prefix of the other?"""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


@subcommand(CLIENT, "tracking", -3, _CONN, acl="@slow @connection", since="6.0.0",
             summary="Controls server-assisted client-side caching for the connection.",
             complexity="O(1). Some options may introduce additional complexity.")
def client_tracking(session: Any, argv: list) -> Any:
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
                        f"ERR Prefix '{_text(prefix)}' overlaps with an existing prefix '{_text(old)}'. "
                        "Prefixes for a single client must not overlap.")
            for other in prefixes[i + 1:]:
                if _overlap(prefix, other):
                    raise CommandError(
                        f"ERR Prefix '{_text(prefix)}' overlaps with another provided prefix "
                        f"'{_text(other)}'. Prefixes for a single client must not overlap.")
    tracking.enable(session, redirect, bcast, optin, optout, noloop, prefixes)
    return OK


@subcommand(CLIENT, "caching", 3, _CONN, acl="@slow @connection", since="6.0.0",
             summary="Instructs the server whether to track the keys in the next request.",
             complexity="O(1)")
def client_caching(session: Any, argv: list) -> Any:
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


@subcommand(CLIENT, "getredir", 2, _CONN, acl="@slow @connection", since="6.0.0",
             summary="Returns the client ID to which the connection's tracking notifications "
                     "are redirected.",
             complexity="O(1)")
def client_getredir(session: Any, argv: list) -> Any:
    return session.server.tracking.redirect_of(session)


@subcommand(CLIENT, "trackinginfo", 2, _CONN, acl="@slow @connection", since="6.2.0",
             summary="Returns information about server-assisted client-side caching for the "
                     "connection.",
             complexity="O(1)")
def client_trackinginfo(session: Any, argv: list) -> Any:
    state = session.server.tracking.state(session)
    if state is None:
        flags = [b"off"]
    else:
        flags = [b"on"]
        if state.bcast:
            flags.append(b"bcast")
        if state.optin:
            flags.append(b"optin")
            if state.caching:
                flags.append(b"caching-yes")
        if state.optout:
            flags.append(b"optout")
            if state.caching:
                flags.append(b"caching-no")
        if state.noloop:
            flags.append(b"noloop")
        if state.broken_redirect:
            flags.append(b"broken_redirect")
    # A set in RESP3, in this order (a Python set would lose it).
    head = b"~%d\r\n" if session.protocol == 3 else b"*%d\r\n"
    flag_set = Raw(head % len(flags) + b"".join(b"$%d\r\n%b\r\n" % (len(f), f) for f in flags))
    return {
        b"flags": flag_set,
        b"redirect": -1 if state is None else state.redirect,
        b"prefixes": [] if state is None else sorted(state.prefixes),  # radix-tree order
    }
