"""Keyspace notifications (Redis's notify.c).

When `notify-keyspace-events` enables an event's class, every change to a
key publishes two ordinary pub/sub messages:

    __keyspace@<db>__:<key>      message: the event name   (class K)
    __keyevent@<db>__:<event>    message: the key name     (class E)

The config value is held as the NOTIFY_* bits (config.py); at least one of
K/E and the event's class letter must be on. Event names and classes are
Redis's: "set" ($), "del" / "expire" / "rename_from" ... (g), "expired" (x,
from lazy and active expiry), "evicted" (e), "new" (n, a key was created:
sent from the keyspace itself, before the command's own event), "keymiss"
(m, a read found nothing).

Cost when nobody listens. The write commands test `db.notify_flags` (a slot
of the Keyspace, kept equal to the effective flags by `sync_databases`)
before building anything, so with notifications off a command pays one slot
read. The keyspace's own hooks (`on_new`, `on_expired`, `on_keymiss`) are
None unless their class is on (or, for expiry, client tracking needs it),
so the keyspace pays one slot test on those paths. And `notify` returns
before formatting channel names when nobody is subscribed to any channel or
pattern.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import (
    NOTIFY_EVICTED,
    NOTIFY_EXPIRED,
    NOTIFY_GENERIC,
    NOTIFY_KEY_MISS,
    NOTIFY_KEYEVENT,
    NOTIFY_KEYSPACE,
    NOTIFY_NEW,
    NOTIFY_STRING,
)

if TYPE_CHECKING:
    from ..storage.keyspace import Keyspace

__all__ = ["notify", "sync_databases", "NOTIFY_GENERIC", "NOTIFY_STRING", "NOTIFY_EXPIRED",
           "NOTIFY_EVICTED", "NOTIFY_NEW", "NOTIFY_KEY_MISS"]


def notify(server: Any, db_index: int, event_class: int, event: bytes, key: bytes) -> None:
    """notifyKeyspaceEvent: publish `event` on `key` if its class is enabled."""
    flags = server.notify_flags
    if not flags & event_class:
        return
    hub = server.pubsub
    if not hub.channels and not hub.patterns:
        return  # nobody could receive it: build nothing
    if flags & NOTIFY_KEYSPACE:
        hub.publish(b"__keyspace@%d__:%b" % (db_index, key), event)
    if flags & NOTIFY_KEYEVENT:
        hub.publish(b"__keyevent@%d__:%b" % (db_index, event), key)


def effective_flags(flags: int) -> int:
    """The bits as the commands should see them: 0 unless some event can be
    sent at all (Redis accepts e.g. "g" alone, which sends nothing)."""
    if not flags & (NOTIFY_KEYSPACE | NOTIFY_KEYEVENT):
        return 0
    return flags


def sync_databases(server: Any, dbs: "list[Keyspace] | None" = None) -> None:
    """Point each database's hooks at this server, or at None when off.
    Called when notify-keyspace-events changes, when client tracking turns
    on or off, and for each database when it is created."""
    flags = server.notify_flags
    tracking = server.dispatcher.tracking_active
    hooks = server.pubsub_hooks
    on_new = hooks.on_new if flags & NOTIFY_NEW else None
    on_keymiss = hooks.on_keymiss if flags & NOTIFY_KEY_MISS else None
    # (propagating: the write stream carries a DEL for each expired key)
    propagating = server.dispatcher.propagating
    on_expired = hooks.on_expired if (flags & NOTIFY_EXPIRED or tracking or propagating) else None
    for db in server.live_dbs() if dbs is None else dbs:
        db.notify_flags = flags
        db.on_new = on_new
        db.on_keymiss = on_keymiss
        db.on_expired = on_expired


class KeyspaceHooks:
    """The callbacks a Keyspace calls (it knows nothing of the server)."""

    __slots__ = ("server",)

    def __init__(self, server: Any) -> None:
        self.server = server

    def on_new(self, db: "Keyspace", key: bytes) -> None:
        notify(self.server, db.index, NOTIFY_NEW, b"new", key)

    def on_keymiss(self, db: "Keyspace", key: bytes) -> None:
        notify(self.server, db.index, NOTIFY_KEY_MISS, b"keymiss", key)

    def on_expired(self, db: "Keyspace", key: bytes) -> None:
        """A key expired (lazily or in the active cycle): the "expired" event,
        and an invalidation for the clients that may cache it."""
        server = self.server
        if server.notify_flags & NOTIFY_EXPIRED:
            notify(server, db.index, NOTIFY_EXPIRED, b"expired", key)
        if server.dispatcher.tracking_active:
            server.tracking.invalidate_key(key, None)
        if server.dispatcher.propagating:
            server.propagate_deletion(db.index, key, "lazyfree-lazy-expire")

    def on_evicted(self, db: "Keyspace", key: bytes) -> None:
        """For eviction (maxmemory): the "evicted" event and an invalidation,
        as Redis's evict.c does. Eviction calls this once per evicted key."""
        server = self.server
        if server.notify_flags & NOTIFY_EVICTED:
            notify(server, db.index, NOTIFY_EVICTED, b"evicted", key)
        if server.dispatcher.tracking_active:
            server.tracking.invalidate_key(key, None)
        # (its DEL on the write stream: Server._evicted)
