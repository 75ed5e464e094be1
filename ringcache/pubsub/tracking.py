"""Client-side caching: CLIENT TRACKING and its invalidation messages
(Redis's tracking.c).

Theory of operation
-------------------
A client that turns tracking on may cache what it reads; the server
promises to tell it when a key it read may have changed.

* Default mode: after a read-only command by a tracking client, the keys it
  read go into `table` (key -> the id of the client that read it, or a set
  of ids when several did). A write to a key (dispatcher: the command's key
  positions, when the command changed the database), its expiry, or its
  eviction pops the key from the table and sends each of those clients one
  invalidation naming the key. The entry is gone afterwards: a client must
  read the key again to be told about the next change, exactly as in Redis.
* BCAST mode: nothing is remembered per client. A changed key is matched
  against the registered prefixes ("" matches everything) and collected per
  prefix; at the end of the loop iteration each client registered for a
  prefix gets one invalidation with all of that prefix's keys (sorted, as
  Redis's radix tree yields them).
* OPTIN / OPTOUT: keys are remembered only after CLIENT CACHING YES (OPTIN),
  or unless CLIENT CACHING NO (OPTOUT). The choice lasts for the next
  command, or for the whole MULTI ... EXEC that follows it.
* NOLOOP: no invalidation for keys the client changed itself.
* FLUSHDB / FLUSHALL / SWAPDB: every tracking client (BCAST ones too) gets
  the null invalidation ("everything"), and the table is emptied. (Redis
  does not invalidate on SWAPDB; a cache that kept its entries would serve
  the other database's values, so we do.)

Where invalidations go: to the client itself as a RESP3 push
`>2 invalidate [keys]`, or with REDIRECT <id> to another client: as a push
if that one speaks RESP3, else as a pub/sub message on the
`__redis__:invalidate` channel when it is in subscribed mode (RESP2), as in
Redis. If the redirect target is gone the tracking client is flagged
(CLIENT LIST flag R, TRACKINGINFO broken_redirect) and, in RESP3, told with
a `tracking-redir-broken` push. Client ids, not sessions, are stored, so a
disconnected client costs nothing but a failed lookup later (Redis does the
same, for the same reason: forgetting a client's keys would mean walking the
table).

Bound: `tracking-table-max-keys` (0 = none) limits the keys in the table.
When a new key would exceed it, the oldest remembered keys are invalidated
(their readers are told, as if the keys had changed) until the table fits:
a reader is never silently forgotten. Redis evicts random keys; we evict in
insertion order using `order`, a queue of keys as they were added. It may
hold keys already invalidated (skipped when met) and is rebuilt from the
table when it grows past twice the table, so it stays bounded too.

Cost on the command path: the dispatcher calls `after_command` only while
at least one client has tracking on (`dispatcher.tracking_active`), once per
command; with nobody tracking the command path pays one boolean test.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..commands.registry import CommandSpec
    from ..server.server import Server
    from ..server.session import Session
    from .hub import PubSubHub

_INVALIDATE_PUSH = b">2\r\n$10\r\ninvalidate\r\n"
_INVALIDATE_MESSAGE = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"
TRACKING_CHANNEL = b"__redis__:invalidate"
# Commands whose change cannot be named key by key: invalidate everything.
FLUSH_COMMANDS = frozenset({"flushdb", "flushall", "swapdb"})


class ClientTracking:
    """One client's CLIENT TRACKING settings (present only while it is on)."""

    __slots__ = ("session", "redirect", "bcast", "optin", "optout", "noloop", "caching",
                 "caching_multi", "broken_redirect", "prefixes")

    def __init__(self, session: "Session") -> None:
        self.session = session
        self.redirect = 0  # client id, 0 = none
        self.bcast = False
        self.optin = False
        self.optout = False
        self.noloop = False
        self.caching = False  # CLIENT CACHING YES (optin) / NO (optout) given
        self.caching_multi = False  # ... and it covers the MULTI that followed
        self.broken_redirect = False
        self.prefixes: list[bytes] = []  # BCAST prefixes, in the order given


class _Prefix:
    """A BCAST prefix: its clients and the keys changed this loop iteration
    (key -> id of the client that changed it last, 0 if none, for NOLOOP)."""

    __slots__ = ("clients", "keys")

    def __init__(self) -> None:
        self.clients: dict[int, None] = {}
        self.keys: dict[bytes, int] = {}


class Tracking:
    def __init__(self, server: "Server", hub: "PubSubHub") -> None:
        self.server = server
        self.hub = hub
        self.clients: dict[int, ClientTracking] = {}  # client id -> settings
        self.table: dict[bytes, Any] = {}  # key -> client id (int) or set of ids
        self.items = 0  # (key, client) pairs in the table (INFO tracking_total_items)
        self.order: deque[bytes] = deque()  # keys in the order they entered the table
        self.prefixes: dict[bytes, _Prefix] = {}
        self._bcast_dirty = False
        self.max_keys = server.config["tracking-table-max-keys"]
        hub.before_flush = self._flush_bcast
        server.config.on_change("tracking-table-max-keys", self._set_max_keys)

    # -- turning it on and off ---------------------------------------------------

    def enable(self, session: "Session", redirect: int, bcast: bool, optin: bool, optout: bool,
               noloop: bool, prefixes: list[bytes]) -> None:
        """enableTracking: the options were checked by the command."""
        state = self.clients.get(session.id)
        if state is None:
            state = self.clients[session.id] = ClientTracking(session)
        state.redirect = redirect
        state.broken_redirect = False
        state.bcast = bcast
        state.optin, state.optout, state.noloop = optin, optout, noloop
        if bcast:
            for prefix in prefixes or [b""]:
                entry = self.prefixes.get(prefix)
                if entry is None:
                    entry = self.prefixes[prefix] = _Prefix()
                if session.id not in entry.clients:
                    entry.clients[session.id] = None
                    state.prefixes.append(prefix)
        self._set_active()

    def disable(self, session: "Session") -> None:
        state = self.clients.pop(session.id, None)
        if state is None:
            return
        for prefix in state.prefixes:
            entry = self.prefixes.get(prefix)
            if entry is not None:
                entry.clients.pop(session.id, None)
                if not entry.clients:
                    del self.prefixes[prefix]
        if not self.clients:
            # Nobody can be told any more: forget everything.
            self.table.clear()
            self.order.clear()
            self.items = 0
        self._set_active()

    def state(self, session: "Session") -> ClientTracking | None:
        return self.clients.get(session.id)

    def _set_active(self) -> None:
        dispatcher = self.server.dispatcher
        active = bool(self.clients)
        if dispatcher.tracking_active != active:
            dispatcher.tracking_active = active
            from .notifications import sync_databases

            sync_databases(self.server)  # expiry must now (or no longer) invalidate

    def _set_max_keys(self, value: int) -> None:
        self.max_keys = value
        self._enforce_bound()

    # -- the dispatcher's hooks ------------------------------------------------------

    def after_command(self, session: "Session", spec: "CommandSpec", argv: list, changed: bool) -> None:
        """After every command while tracking is active (the dispatcher's one
        hook): invalidate the keys of a command that changed the database;
        remember the keys a tracking client read, and expire its CLIENT
        CACHING choice."""
        if changed:
            self.invalidate_command(session, spec, argv)
        state = self.clients.get(session.id)
        if state is None:
            return
        flags = spec.flags
        if "readonly" in flags and not state.bcast and "pubsub" not in flags:
            if not ((state.optin and not state.caching) or (state.optout and state.caching)):
                positions = spec.key_positions(argv)
                if positions:
                    cid = session.id
                    for i in positions:
                        self._remember(argv[i], cid)
        if state.caching:
            name = spec.name
            if name == "caching" and spec.parent is not None:
                pass  # CLIENT CACHING itself: its choice is for the next command
            elif name == "multi":
                state.caching_multi = True  # the choice covers the transaction
            elif name in ("exec", "discard") or not state.caching_multi:
                state.caching = state.caching_multi = False

    def invalidate_command(self, session: "Session", spec: "CommandSpec", argv: list) -> None:
        """A command changed the database: invalidate its keys."""
        if spec.name in FLUSH_COMMANDS and spec.parent is None:
            self.invalidate_all()
            return
        for i in spec.key_positions(argv):
            self.invalidate_key(argv[i], session)

    # -- the table ----------------------------------------------------------------------

    def _remember(self, key: bytes, cid: int) -> None:
        table = self.table
        ids = table.get(key)
        if ids is None:
            table[key] = cid
            self.items += 1
            order = self.order
            order.append(key)
            if len(order) > 2 * len(table) + 1024:
                self.order = deque(table)
            if self.max_keys and len(table) > self.max_keys:
                self._enforce_bound()
        elif ids.__class__ is int:
            if ids != cid:
                table[key] = {ids, cid}
                self.items += 1
        elif cid not in ids:
            ids.add(cid)
            self.items += 1

    def _enforce_bound(self) -> None:
        """Invalidate the oldest keys until the table fits the bound."""
        limit = self.max_keys
        if not limit:
            return
        table, order = self.table, self.order
        while len(table) > limit and order:
            key = order.popleft()
            if key in table:
                self.invalidate_key(key, None, bcast=False)
        if not order and len(table) > limit:  # cannot happen; keep the invariant anyway
            self.order = deque(table)

    def invalidate_key(self, key: bytes, origin: "Session | None", bcast: bool = True) -> None:
        """trackingInvalidateKey: key changed (origin = the client that changed
        it, None for expiry and eviction)."""
        if bcast and self.prefixes:
            self._remember_bcast(key, origin)
        ids = self.table.pop(key, None)
        if ids is None:
            return
        if ids.__class__ is int:
            ids = (ids,)
        self.items -= len(ids)
        clients = self.clients
        value = b"*1\r\n$%d\r\n%b\r\n" % (len(key), key)
        for cid in ids:
            state = clients.get(cid)
            if state is None or state.bcast:
                continue  # gone, tracking off, or now in BCAST mode
            if state.noloop and origin is not None and origin.id == cid:
                continue
            self._send(state, value, value)

    def invalidate_all(self) -> None:
        """trackingInvalidateKeysOnFlush: the null invalidation to every
        tracking client, and an empty table."""
        for state in list(self.clients.values()):
            self._send(state, b"_\r\n", b"$-1\r\n")
        self.table.clear()
        self.order.clear()
        self.items = 0

    def _send(self, state: ClientTracking, value3: bytes, value2: bytes) -> None:
        """sendTrackingMessage: value3/value2 are the invalidated keys (an
        array, or null) as encoded for a RESP3 / RESP2 receiver."""
        target = state.session
        redirected = False
        if state.redirect:
            other = self.server.clients.get(state.redirect)
            if other is None:
                state.broken_redirect = True
                if target.protocol == 3:
                    self.hub.deliver(target, b">2\r\n$21\r\ntracking-redir-broken\r\n:%d\r\n" % state.redirect)
                return
            target = other
            redirected = True
        if target.protocol == 3:
            self.hub.deliver(target, _INVALIDATE_PUSH + value3)
        elif redirected and target.subscriptions:
            self.hub.deliver(target, _INVALIDATE_MESSAGE + value2)
        # else: RESP2 without a redirect cannot receive pushes: nothing to send.

    # -- BCAST ----------------------------------------------------------------------------

    def _remember_bcast(self, key: bytes, origin: "Session | None") -> None:
        oid = origin.id if origin is not None else 0
        for prefix, entry in self.prefixes.items():
            if key.startswith(prefix):
                entry.keys[key] = oid
                if not self._bcast_dirty:
                    self._bcast_dirty = True
                    self.hub.request_flush()

    def _flush_bcast(self) -> None:
        """trackingBroadcastInvalidationMessages, run by the hub's flush."""
        if not self._bcast_dirty:
            return
        self._bcast_dirty = False
        for prefix in sorted(self.prefixes):  # Redis walks its prefix radix tree in order
            entry = self.prefixes[prefix]
            if not entry.keys:
                continue
            keys = sorted(entry.keys.items())
            entry.keys = {}
            common = _key_array([key for key, _ in keys])
            for cid in entry.clients:
                state = self.clients.get(cid)
                if state is None:
                    continue
                if state.noloop:
                    mine = [key for key, oid in keys if oid != cid]
                    if not mine:
                        continue
                    value = common if len(mine) == len(keys) else _key_array(mine)
                else:
                    value = common
                self._send(state, value, value)

    # -- introspection ----------------------------------------------------------------------

    def redirect_of(self, session: "Session") -> int:
        """CLIENT GETREDIR / CLIENT LIST redir=: -1 when tracking is off."""
        state = self.clients.get(session.id)
        return -1 if state is None else state.redirect

    def list_flags(self, session: "Session") -> str:
        """CLIENT LIST flags: t (tracking), R (broken redirect), B (BCAST)."""
        state = self.clients.get(session.id)
        if state is None:
            return ""
        return "t" + ("R" if state.broken_redirect else "") + ("B" if state.bcast else "")


def _key_array(keys: list[bytes]) -> bytes:
    parts = [b"*%d\r\n" % len(keys)]
    for key in keys:
        parts.append(b"$%d\r\n%b\r\n" % (len(key), key))
    return b"".join(parts)
