"""Which commands this node serves in cluster mode, and what it answers the
others (Redis's getNodeByQuery + clusterRedirectClient, src/cluster.c).

Theory of operation
-------------------
A `Router` is built once per cluster map the node learns (maps change
rarely; commands are checked one by one) and answers one question per
command: serve it here, or refuse it with which error. It is pure: the node
(cluster/node.py) builds a new Router from each map and the dispatcher asks
the current one.

The check follows Redis's order:

1. a command without keys (PING, INFO, CLUSTER ...) is served anywhere;
2. its keys must all hash to one slot, else `-CROSSSLOT`; inside MULTI each
   queued command is checked when queued and EXEC checks all of them
   together (a transaction runs on one node, so all its keys must share a
   slot);
3. a slot no shard owns: `-CLUSTERDOWN Hash slot not served`;
4. a cluster that is not whole (`cluster-require-full-coverage` and some slot
   unowned, or the node cut off from the control plane: `healthy`):
   `-CLUSTERDOWN The cluster is down`;
5. served when this node is the primary of the owning shard (a write only
   while its lease holds, when it has one: cluster/lease.py); a replica of it
   serves reads to a READONLY session; a shard importing the slot (a
   migration in progress towards it) serves a session that sent ASKING;
   everyone else gets `-MOVED slot host:port` of the owner's primary.

`owned` is one byte per slot (1: this node is the owner's primary, 2: a
replica of it), so the common case (a single-key command for a slot this node
serves) costs a CRC16 and an index.
"""

from __future__ import annotations

from typing import Any, Callable

from ..protocol import errors
from ..storage.slots import SLOTS, key_slot
from .replies import client_port
from .topology import ClusterMap

PRIMARY, REPLICA = 1, 2


class Router:
    def __init__(self, cmap: ClusterMap, myself: str, require_full_coverage: bool = True,
                 healthy: bool = True, lease: Callable[[], bool] | None = None) -> None:
        self.map = cmap
        self.myself = myself
        shard = cmap.shard_of(myself)
        self.shard = shard
        owned = bytearray(SLOTS)
        if shard is not None:
            mark = PRIMARY if shard.primary == myself else REPLICA
            for start, end in cmap.shard_ranges(shard.id):
                owned[start:end + 1] = bytes([mark]) * (end - start + 1)
        self.owned = owned
        # Slots migrating to this node's shard: served after ASKING.
        importing = bytearray(SLOTS)
        if shard is not None and shard.primary == myself:
            for mig in cmap.migrations:
                if mig.target == shard.id:
                    for start, end in mig.slots:
                        importing[start:end + 1] = b"\x01" * (end - start + 1)
        self.importing = importing
        whole = cmap.assigned_slots() == SLOTS or not require_full_coverage
        self.down = not (healthy and whole)
        # A primary fenced by a lease (cluster/lease.py): writes to its slots
        # are served only while lease() is True, else CLUSTERDOWN.
        self.lease = lease if shard is not None and shard.primary == myself else None

    # -- the check ---------------------------------------------------------

    def refusal(self, spec: Any, argv: list[bytes], readonly: bool = False,
                asking: bool = False, queued: list | None = None,
                tls: bool = False) -> str | None:
        """None when this node serves the command, else the error text.
        `queued`: for EXEC, the transaction's (spec, argv) pairs; `tls`: the
        client is on the TLS port (MOVED names TLS ports, replies.client_port)."""
        if queued is not None:
            slot = -1
            if self.lease is not None and not self.lease() and any(
                    _may_write(qspec) for qspec, _ in queued):
                return errors.CLUSTERDOWN  # (a keyless write in a transaction too)
            for qspec, qargv in queued:
                s = self._slot_of(qspec, qargv)
                if s == -2:
                    return errors.CROSSSLOT
                if s >= 0:
                    if slot >= 0 and s != slot:
                        return errors.CROSSSLOT
                    slot = s
            if slot < 0:
                return None
            write = any(qspec.is_write for qspec, _ in queued)
            may_write = any(_may_write(qspec) for qspec, _ in queued)
        else:
            slot = self._slot_of(spec, argv)
            if slot == -1:
                return None
            if slot == -2:
                return errors.CROSSSLOT
            write = spec.is_write
            may_write = _may_write(spec)
        return self.slot_refusal(slot, write, readonly, asking, may_write, tls)

    def slot_refusal(self, slot: int, write: bool, readonly: bool = False,
                     asking: bool = False, may_write: bool | None = None,
                     tls: bool = False) -> str | None:
        owner = self.map.owner(slot)
        if owner is None:
            return errors.CLUSTERDOWN_UNBOUND
        if self.down:
            return errors.CLUSTERDOWN
        mark = self.owned[slot]
        if mark == PRIMARY:
            if (write if may_write is None else may_write) and self.lease is not None \
                    and not self.lease():
                return errors.CLUSTERDOWN  # past its lease: maybe no longer the primary
            return None
        if mark == REPLICA and readonly and not write:
            return None
        if asking and self.importing[slot]:
            return None
        return self.moved(slot, tls)

    def moved(self, slot: int, tls: bool = False) -> str:
        primary = self.map.primary_of_slot(slot)
        assert primary is not None
        return errors.MOVED.format(slot, primary.host, client_port(primary, tls))

    @staticmethod
    def _slot_of(spec: Any, argv: list[bytes]) -> int:
        """The one slot the command's keys hash to; -1 without keys, -2 when
        they hash to several."""
        if spec.first_key == 1 and spec.last_key == 1 and spec.keys_fn is None:
            return key_slot(argv[1]) if len(argv) > 1 else -1
        try:
            positions = spec.key_positions(argv)
        except Exception:  # bad arguments: the command's own error says why
            return -1
        slot = -1
        for i in positions:
            s = key_slot(argv[i])
            if slot >= 0 and s != slot:
                return -2
            slot = s
        return slot

    def serves_fast(self, spec: Any, argv: list[bytes]) -> bool:
        """The dispatcher's fast path: True when a plain (not READONLY, not
        ASKING) session is served here without more ado; False sends the
        command through the full check (`refusal`)."""
        if self.down:
            return spec.first_key == 0 and spec.keys_fn is None
        lease = self.lease
        if lease is not None:
            if spec.name == "exec":
                return False  # EXEC's queue is checked against the lease when it runs
            if (spec.is_write or "may_replicate" in spec.flags) and not lease():
                return False  # refusal() answers CLUSTERDOWN
        if spec.first_key == 1 and spec.last_key == 1 and spec.keys_fn is None:
            return len(argv) < 2 or self.owned[key_slot(argv[1])] == PRIMARY
        slot = self._slot_of(spec, argv)
        return slot == -1 or (slot >= 0 and self.owned[slot] == PRIMARY)


def _may_write(spec: Any) -> bool:
    """A write for the lease: write commands, and scripts and functions
    (may_replicate), which can write through redis.call."""
    return spec.is_write or "may_replicate" in spec.flags
