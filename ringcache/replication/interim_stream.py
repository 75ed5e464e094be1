"""A stand-in for server/write_stream.py until the seams branch lands.

It offers the WriteStream API (add_sink, remove_sink, active, emit) and
takes its writes from the existing propagation path: the dispatcher hands
every write to `persistence.feed` (inside begin_exec/end_exec for EXEC),
expiry and eviction to `persistence.expired`. Those methods are wrapped on
the node's Persistence instance; the AOF keeps getting exactly what it got.
Units: one command, or what ran between begin_exec and end_exec wrapped in
MULTI/EXEC. Used only when the server has no `write_stream` of its own.
"""

from __future__ import annotations

from typing import Any


class InterimWriteStream:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.sinks: list[Any] = []
        self._unit: list[list[bytes]] | None = None
        self._unit_db = 0
        self._depth = 0
        p = server.persistence
        feed, begin, end, set_prop = p.feed, p.begin_exec, p.end_exec, p._set_propagating

        def feed_(db: int, argv: list[bytes]) -> None:
            if self.sinks:
                if self._unit is not None:
                    if self._unit and db != self._unit_db:
                        self._flush_unit()
                    self._unit_db = db
                    self._unit.append(argv)
                else:
                    self.emit(db, [argv])
            feed(db, argv)

        def begin_() -> None:
            self._depth += 1
            if self._depth == 1:
                self._unit = []
            begin()

        def end_() -> None:
            self._depth = max(self._depth - 1, 0)
            if self._depth == 0:
                self._flush_unit()
                self._unit = None
            end()

        def expired_(db: int, key: bytes) -> None:
            if not p.loading:  # (persistence.expired: a DEL, except while loading)
                feed_(db, [b"DEL", key])

        def set_prop_() -> None:
            set_prop()
            self._sync()

        p.feed, p.begin_exec, p.end_exec, p.expired, p._set_propagating = (
            feed_, begin_, end_, expired_, set_prop_)

    def _flush_unit(self) -> None:
        unit = self._unit
        if unit:
            self._unit = []
            self.emit(self._unit_db, [[b"MULTI"], *unit, [b"EXEC"]] if len(unit) > 1 else unit)

    @property
    def active(self) -> bool:
        return bool(self.sinks)

    def add_sink(self, sink: Any) -> None:
        if sink not in self.sinks:
            self.sinks.append(sink)
        self._sync()

    def remove_sink(self, sink: Any) -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)
        self._sync()

    def emit(self, db: int, unit: list[list[bytes]]) -> None:
        for sink in self.sinks:
            sink.on_write(db, unit)

    def _sync(self) -> None:
        server = self.server
        dispatcher = server.dispatcher
        on = (server.persistence.aof is not None and not server.persistence.loading) or bool(self.sinks)
        if on and not dispatcher.propagating:
            for session in server.clients.values():
                session.propagate = None
        dispatcher.propagating = on
        from ..pubsub.notifications import sync_databases

        sync_databases(server)
