"""Pub/sub, keyspace notifications and client-side caching (tracking).

* hub.py            channels, patterns, shard channels; per-client
                    subscriptions; the per-loop-iteration push queue
* notifications.py  notify-keyspace-events: `notify(server, db, class, event, key)`
* tracking.py       CLIENT TRACKING: the key -> readers table, BCAST prefixes,
                    invalidation messages

`install(server)` wires them into a Server: it sets `server.pubsub` (the
hub), `server.tracking`, `server.notify_flags` (the effective
notify-keyspace-events bits) and `server.pubsub_hooks` (what each Keyspace
calls on key creation, expiry and read misses), and registers the RESET and
disconnect cleanup. The commands live in commands/pubsub.py.

Nothing here touches a socket: messages leave through `session.push`, once
per loop iteration (see hub.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from .hub import PubSubHub
from .notifications import KeyspaceHooks, effective_flags, notify, sync_databases
from .tracking import Tracking

if TYPE_CHECKING:
    from ..server.server import Server
    from ..server.session import Session
    from ..storage.keyspace import Keyspace

__all__ = ["install", "notify", "PubSubHub", "Tracking", "client_list_fields", "info_fields"]


def install(server: Server) -> None:
    """Give server its hub, tracking table and notification settings."""
    hub = server.pubsub = PubSubHub()
    server.tracking = Tracking(server, hub)
    server.pubsub_hooks = KeyspaceHooks(server)
    server.notify_flags = effective_flags(server.config["notify-keyspace-events"])

    def loop_schedule(callback: Callable[[], None]) -> None:
        # The event loop exists once the server started; before that (and in
        # tests driving a Server by hand) deliver at once.
        loop = server._loop
        if loop is None:
            callback()
        else:
            loop.call_soon(callback)

    hub.schedule = loop_schedule

    def on_events_change(value: int) -> None:
        server.notify_flags = effective_flags(value)
        sync_databases(server)

    server.config.on_change("notify-keyspace-events", on_events_change)
    server.reset_hooks.append(_reset_client)
    server.disconnect_hooks.append(_disconnect_client)
    sync_databases(server)


def attach_database(server: Server, db: Keyspace) -> None:
    """A database was just created: give it the current hooks."""
    sync_databases(server, [db])


def _reset_client(session: Session) -> None:
    """RESET: messages already published go out first, then every
    subscription and the tracking mode are dropped (no replies)."""
    server = session.server
    server.pubsub.flush_session(session)
    server.pubsub.remove_client(session)
    server.tracking.disable(session)


def _disconnect_client(session: Session) -> None:
    server = session.server
    server.pubsub.drop_session(session)
    server.pubsub.remove_client(session)
    server.tracking.disable(session)


def key_evicted(server: Server, db: Keyspace, key: bytes) -> None:
    """For eviction (maxmemory): call once per evicted key."""
    server.pubsub_hooks.on_evicted(db, key)


# -- for CLIENT LIST and INFO (commands/client.py, commands/info.py) ------------------------------------


def client_list_fields(session: Session) -> tuple[int, int, int, str, int]:
    """(sub, psub, ssub, tracking flags, redir) of one client."""
    server = session.server
    sub, psub, ssub = server.pubsub.counts(session)
    tracking = server.tracking
    return sub, psub, ssub, tracking.list_flags(session), tracking.redirect_of(session)


def info_fields(server: Server) -> dict[str, int]:
    hub = server.pubsub
    tracking = server.tracking
    return {
        "pubsub_channels": len(hub.channels),
        "pubsub_patterns": len(hub.patterns),
        "pubsubshard_channels": len(hub.shard_channels),
        "tracking_clients": len(tracking.clients),
        "tracking_total_keys": len(tracking.table),
        "tracking_total_items": tracking.items,
        "tracking_total_prefixes": len(tracking.prefixes),
    }
