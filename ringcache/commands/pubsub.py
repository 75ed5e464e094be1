"""Pub/sub commands (pubsub.c): SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE
PUNSUBSCRIBE PUBLISH PUBSUB SSUBSCRIBE SUNSUBSCRIBE SPUBLISH. (CLIENT
TRACKING and friends are in commands/client.py.)

The state lives in ringcache.pubsub (the hub and the tracking table,
`session.server.pubsub` / `.tracking`); these handlers parse, check and
answer. A (un)subscribe command answers with one confirmation per channel
(a push in RESP3, an array in RESP2), all encoded here into one Raw reply.
Before answering, each of them sends the client the messages already queued
for it (hub.flush_session), so a confirmation never overtakes a message
published before it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol import errors
from ..protocol.errors import CommandError
from ..protocol.resp import Raw, RawPush
from ..pubsub.hub import CHANNEL, PATTERN, SHARD
from ..glob import compile_glob
from ._admin import help_subcommand
from .registry import command, container, subcommand

if TYPE_CHECKING:
    from ..server.session import Session

_FLAGS = "pubsub noscript loading stale"


# -- subscribing -------------------------------------------------------------------


def _subscribe(session: Session, names: list, kind: int) -> Raw:
    hub = session.server.pubsub
    hub.flush_session(session)
    results = hub.subscribe(session, names, kind)
    return RawPush(hub.encode_replies(session, kind, True, results))


def _unsubscribe(session: Session, names: list, kind: int) -> Raw:
    hub = session.server.pubsub
    hub.flush_session(session)
    results = hub.unsubscribe(session, names or None, kind)
    return RawPush(hub.encode_replies(session, kind, False, results))


@command("subscribe", -2, _FLAGS, group="pubsub", since="2.0.0",
         summary="Listens for messages published to channels.",
         complexity="O(N) where N is the number of channels to subscribe to.")
def subscribe(session: Session, argv: list[bytes]) -> Any:
    return _subscribe(session, argv[1:], CHANNEL)


@command("unsubscribe", -1, _FLAGS, group="pubsub", since="2.0.0",
         summary="Stops listening to messages posted to channels.",
         complexity="O(N) where N is the number of channels to unsubscribe.")
def unsubscribe(session: Session, argv: list[bytes]) -> Any:
    return _unsubscribe(session, argv[1:], CHANNEL)


@command("psubscribe", -2, _FLAGS, group="pubsub", since="2.0.0",
         summary="Listens for messages published to channels that match one or more patterns.",
         complexity="O(N) where N is the number of patterns to subscribe to.")
def psubscribe(session: Session, argv: list[bytes]) -> Any:
    return _subscribe(session, argv[1:], PATTERN)


@command("punsubscribe", -1, _FLAGS, group="pubsub", since="2.0.0",
         summary="Stops listening to messages published to channels that match one or more patterns.",
         complexity="O(N) where N is the number of patterns to unsubscribe.")
def punsubscribe(session: Session, argv: list[bytes]) -> Any:
    return _unsubscribe(session, argv[1:], PATTERN)


@command("ssubscribe", -2, _FLAGS, (1, -1, 1), group="pubsub", since="7.0.0",
         summary="Listens for messages published to shard channels.",
         complexity="O(N) where N is the number of shard channels to subscribe to.")
def ssubscribe(session: Session, argv: list[bytes]) -> Any:
    return _subscribe(session, argv[1:], SHARD)


@command("sunsubscribe", -1, _FLAGS, (1, -1, 1), group="pubsub", since="7.0.0",
         summary="Stops listening to messages posted to shard channels.",
         complexity="O(N) where N is the number of shard channels to unsubscribe.")
def sunsubscribe(session: Session, argv: list[bytes]) -> Any:
    return _unsubscribe(session, argv[1:], SHARD)


# -- publishing -----------------------------------------------------------------------


@command("publish", 3, "pubsub loading stale fast may_replicate", group="pubsub", since="2.0.0",
         summary="Posts a message to a channel.",
         complexity="O(N+M) where N is the number of clients subscribed to the receiving channel "
                    "and M is the total number of subscribed patterns (by any client).")
def publish(session: Session, argv: list[bytes]) -> Any:
    receivers = session.server.pubsub.publish(argv[1], argv[2])
    if session.server.cluster is not None:  # every other node's subscribers too
        session.server.cluster.publish_bridge.forward(argv[1], argv[2])
    return _COUNTS[receivers] if receivers < 1024 else receivers


# Encoded integer replies: the dispatcher copies a Raw reply as it is, where
# an int would go through the generic encoder (measurable at 150k PUBLISH/s).
_COUNTS = [Raw(b":%d\r\n" % n) for n in range(1024)]


@command("spublish", 3, "pubsub loading stale fast may_replicate", (1, 1, 1), group="pubsub",
         since="7.0.0", summary="Post a message to a shard channel",
         complexity="O(N) where N is the number of clients subscribed to the receiving shard channel.")
def spublish(session: Session, argv: list[bytes]) -> Any:
    receivers = session.server.pubsub.spublish(argv[1], argv[2])
    return _COUNTS[receivers] if receivers < 1024 else receivers


# -- PUBSUB introspection ----------------------------------------------------------------

PUBSUB = container("pubsub", -2, group="pubsub", since="2.8.0",
                   summary="A container for Pub/Sub commands.")


def _channel_list(argv: list[bytes], table: dict) -> list:
    if len(argv) > 3:
        raise CommandError(errors.subcommand_syntax(argv[1], "pubsub"))
    if len(argv) == 2:
        return list(table)
    match = compile_glob(argv[2])
    return [channel for channel in table if match(channel)]


def _numsub(argv: list[bytes], table: dict) -> list:
    # A flat array (channel, count, ...), even in RESP3: names may repeat.
    out: list = []
    for channel in argv[2:]:
        subscribers = table.get(channel)
        out.append(channel)
        out.append(len(subscribers) if subscribers else 0)
    return out


@subcommand(PUBSUB, "channels", -2, "pubsub loading stale", since="2.8.0",
             summary="Returns the active channels.",
             complexity="O(N) where N is the number of active channels, and assuming constant "
                        "time pattern matching (relatively short channels and patterns)")
def pubsub_channels(session: Session, argv: list[bytes]) -> Any:
    return _channel_list(argv, session.server.pubsub.channels)


@subcommand(PUBSUB, "numsub", -2, "pubsub loading stale", since="2.8.0",
             summary="Returns a count of subscribers to channels.",
             complexity="O(N) for the NUMSUB subcommand, where N is the number of requested channels")
def pubsub_numsub(session: Session, argv: list[bytes]) -> Any:
    return _numsub(argv, session.server.pubsub.channels)


@subcommand(PUBSUB, "numpat", 2, "pubsub loading stale", since="2.8.0",
             summary="Returns a count of unique pattern subscriptions.", complexity="O(1)")
def pubsub_numpat(session: Session, argv: list[bytes]) -> Any:
    return len(session.server.pubsub.patterns)


@subcommand(PUBSUB, "shardchannels", -2, "pubsub loading stale", since="7.0.0",
             summary="Returns the active shard channels.",
             complexity="O(N) where N is the number of active shard channels, and assuming "
                        "constant time pattern matching (relatively short shard channels).")
def pubsub_shardchannels(session: Session, argv: list[bytes]) -> Any:
    return _channel_list(argv, session.server.pubsub.shard_channels)


@subcommand(PUBSUB, "shardnumsub", -2, "pubsub loading stale", since="7.0.0",
             summary="Returns the count of subscribers of shard channels.",
             complexity="O(N) for the SHARDNUMSUB subcommand, where N is the number of requested "
                        "shard channels")
def pubsub_shardnumsub(session: Session, argv: list[bytes]) -> Any:
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
)


help_subcommand(PUBSUB, _PUBSUB_HELP, since="6.2.0")
