"""Replication: a primary streams its writes to replicas, which stay in sync,
resume after a break, serve reads, and acknowledge for WAIT.

The pieces (each module has its own theory of operation):

  backlog.py   the last repl-backlog-size bytes of the stream, by offset
  stream.py    the stream's wire form (RESP commands, exact byte counts)
  digest.py    DEBUG DIGEST: a dataset fingerprint to compare nodes
  primary.py   this node's history (replid, offset) and its replicas:
               PSYNC, full sync from a forked snapshot, WAIT, min-replicas
  shutdown.py  SHUTDOWN / SIGTERM waiting for the replicas to catch up
  replica.py   this node following a primary: handshake, sync, apply

`Replication` (here) ties them to the node: the role and its changes
(REPLICAOF host port / NO ONE), the dispatcher's gates (READONLY on a
read-only replica, NOREPLICAS under min-replicas-to-write, LOADING while a
replica loads a snapshot), the cron, and what INFO and ROLE report.

Seams for failover: `promote()` is REPLICAOF NO ONE (keeps the old history
as the second id, so the other replicas continue with a partial resync);
`follow(host, port)` is REPLICAOF host port (a demoted primary asks PSYNC
with its own history and continues if the new primary was its replica);
`primary.replid`, `primary.offset` are what a controller compares to pick
the most advanced replica; `link_up` says whether a replica is streaming.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..protocol.errors import CommandError
from .primary import ONLINE, Primary
from .replica import CONNECTED, Replica
from .shutdown import ShutdownWait

if TYPE_CHECKING:
    from ..commands.registry import CommandSpec
    from ..server.server import Server
    from ..server.session import Session

log = logging.getLogger("ringcache")

READONLY = "READONLY You can't write against a read only replica."
NOREPLICAS = "NOREPLICAS Not enough good replicas to write."
LOADING = "LOADING Redis is loading the dataset in memory"


class Replication:
    def __init__(self, server: "Server") -> None:
        self.server = server
        self.primary = Primary(server)
        self.shutdown_wait = ShutdownWait(server)  # SHUTDOWN waiting for replicas (shutdown.py)
        self.replica: Replica | None = None
        self.loading = False
        self.repl_input_bytes = 0
        server.disconnect_hooks.append(self.primary.remove_link)
        for name in ("replica-read-only", "min-replicas-to-write"):
            server.config.on_change(name, lambda _value: self.update_gate())

    # -- role --------------------------------------------------------------

    @property
    def is_replica(self) -> bool:
        return self.replica is not None

    @property
    def link_up(self) -> bool:
        return self.replica is not None and self.replica.state == CONNECTED

    def follow(self, host: str, port: int) -> None:
        """REPLICAOF host port."""
        was_primary = self.replica is None
        if self.replica is not None:
            self.replica.drop(reconnect=False)
        primary = self.primary
        if was_primary:
            # Our own history is the "cached master" to PSYNC with (Redis's
            # replicationCacheMasterUsingMyself); our replicas stay attached
            # and are dropped only if the history changes.
            primary.forwarding = True
            primary.update_sink()
        self.replica = Replica(self.server, host, port)
        self._set_expire_hold(True)
        self.update_gate()
        self.replica.connect()

    def promote(self) -> None:
        """REPLICAOF NO ONE."""
        replica = self.replica
        if replica is None:
            return
        replica.drop(reconnect=False)
        self.replica = None
        primary = self.primary
        primary.forwarding = False
        primary.shift_replid()
        primary.disconnect_all()  # they reconnect and learn the new id (partial resync)
        primary.last_db = -1
        primary.update_sink()
        self._set_expire_hold(False)
        self.update_gate()
        log.info("MASTER MODE enabled")

    def _set_expire_hold(self, on: bool) -> None:
        """A replica holds expired keys for its primary's DELs, and leaves
        eviction to it (replica-ignore-maxmemory)."""
        self.server.expire_hold = on
        for db in self.server.live_dbs():
            db.expire_hold = on
        self.server._configure_eviction()

    # -- gates -------------------------------------------------------------

    def set_loading(self, on: bool) -> None:
        self.loading = on
        self.update_gate()

    def update_gate(self) -> None:
        config = self.server.config
        dispatcher = self.server.dispatcher
        if self.loading:
            dispatcher.set_gate(self._gate, all_commands=True)
        elif (self.replica is not None and config["replica-read-only"]) or (
                self.replica is None and config["min-replicas-to-write"] > 0):
            dispatcher.set_gate(self._gate, all_commands=False)
        else:
            dispatcher.set_gate(None)

    def _gate(self, session: "Session", spec: "CommandSpec") -> str | None:
        if session.is_master:
            return None
        if self.loading:
            return None if "loading" in spec.flags else LOADING
        name = spec.parent.name if spec.parent else spec.name
        is_write = spec.is_write or (name == "exec" and session.multi is not None
                                     and any(queued.is_write for queued, _ in session.multi))
        if not is_write:
            return None
        if self.replica is not None:
            return READONLY if self.server.config["replica-read-only"] else None
        needed = self.server.config["min-replicas-to-write"]
        if needed and self.primary.good_replicas() < needed:
            return NOREPLICAS
        return None

    # -- the cron ----------------------------------------------------------

    def cron(self) -> None:
        replica = self.replica
        if replica is not None:
            replica.cron()
        self.primary.cron(is_primary=replica is None)
        if self.shutdown_wait.in_progress:
            self.shutdown_wait.check()

    def shutdown(self) -> None:
        if self.replica is not None:
            self.replica.drop(reconnect=False)

    # -- ROLE and INFO -----------------------------------------------------

    def role(self) -> list:
        primary = self.primary
        replica = self.replica
        if replica is None:
            return [b"master", primary.offset,
                    [[link.addr.encode(), b"%d" % link.listening_port, b"%d" % link.ack_offset]
                     for link in primary.links]]
        state = {"connect": b"connect", "connecting": b"connecting", "handshake": b"handshake",
                 "sync": b"sync", "connected": b"connected"}[replica.state]
        offset = primary.offset if replica.state == CONNECTED else -1
        return [b"slave", replica.host.encode(), replica.port, state, offset]

    def info_fields(self) -> list[tuple[str, Any]]:
        server = self.server
        config = server.config
        primary = self.primary
        primary.flush_now()  # (the backlog's fields count the turn's pending writes too)
        replica = self.replica
        now = time.monotonic()
        fields: list[tuple[str, Any]] = []
        if replica is None:
            fields.append(("role", "master"))
        else:
            fields += [
                ("role", "slave"),
                ("master_host", replica.host),
                ("master_port", replica.port),
                ("master_link_status", "up" if replica.state == CONNECTED else "down"),
                ("master_last_io_seconds_ago",
                 int(now - replica.last_io) if replica.state == CONNECTED else -1),
                ("master_sync_in_progress", int(replica.state == "sync")),
                ("slave_read_repl_offset", primary.offset),
                ("slave_repl_offset", primary.offset),
            ]
            if replica.state == "sync":
                size = -1 if replica.sync_eof_mark else replica.sync_size  # (diskless: unknown)
                fields += [
                    ("master_sync_total_bytes", size),
                    ("master_sync_read_bytes", replica.sync_read),
                    ("master_sync_left_bytes", size - replica.sync_read if size >= 0 else -1),
                    ("master_sync_perc", "%.2f" % (100.0 * replica.sync_read / size if size > 0 else 0.0)),
                    ("master_sync_last_io_seconds_ago", int(now - replica.last_io)),
                ]
            if replica.state != CONNECTED:
                fields.append(("master_link_down_since_seconds", int(now - replica.link_down_since)))
            if server.cluster is not None:  # (replica.py: epochs on the link)
                epoch = replica.primary_shard_epoch
                fields += [("master_shard_epoch", -1 if epoch is None else epoch),
                           ("master_stale_epoch_refusals", replica.stale_refusals)]
            fields += [
                ("slave_priority", config["replica-priority"]),
                ("slave_read_only", int(config["replica-read-only"])),
                ("replica_announced", 1),
            ]
        fields.append(("connected_slaves", len(primary.links)))
        if replica is None and config["min-replicas-to-write"]:
            fields.append(("min_slaves_good_slaves", primary.good_replicas()))
        fields += primary.replica_lines()
        backlog = primary.backlog
        fields += [
            ("master_failover_state", "no-failover"),
            ("master_replid", primary.replid),
            ("master_replid2", primary.replid2),
            ("master_repl_offset", primary.offset),
            ("second_repl_offset", primary.second_offset),
            ("repl_backlog_active", int(backlog is not None)),
            ("repl_backlog_size", config["repl-backlog-size"]),
            ("repl_backlog_first_byte_offset", backlog.first_offset if backlog else 0),
            ("repl_backlog_histlen", backlog.histlen if backlog else 0),
        ]
        return fields


def install(server: "Server") -> Replication:
    server.replication = Replication(server)
    return server.replication


__all__ = ["Replication", "install", "READONLY", "NOREPLICAS", "LOADING", "CommandError"]
