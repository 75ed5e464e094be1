"""The write stream: every executed write, once, as the argv that replays it.

Who feeds it
------------
* The dispatcher (server/dispatch.py), after each write command that changed
  the data: what the command put in `session.propagate` (its effect, when
  its arguments do not fix it: SET EX -> SET PXAT, EXPIRE -> PEXPIREAT, SPOP
  -> SREM, a served BLPOP -> LPOP, INCRBYFLOAT -> SET KEEPTTL ...), else the
  argv as it came. A write that changed nothing (db.dirty did not move) is
  not emitted.
* The server, for keys removed by the node itself: lazy and active expiry,
  and eviction, each as DEL (UNLINK under lazyfree-lazy-expire /
  lazyfree-lazy-eviction), Redis's propagateDeletion. So a replay never
  depends on the replayer's clock or memory.

What a unit is
--------------
`emit(db, unit)` hands the sinks one atomic group of argvs: `[[argv]]` for a
single command, `[[b"MULTI"], [...], ..., [b"EXEC"]]` for a transaction or
a command that propagates several commands (SPOP with a count over 1024
members, HINCRBYFLOAT with a field TTL). `db` is the database the unit
applies to; each sink tracks its own selected database and writes a SELECT
when it changes (the append-only file does; replicas will). A transaction
that SELECTs another database carries `[b"SELECT", b"n"]` argvs inside its
MULTI ... EXEC and selects `db` again before its EXEC, so every unit starts
and ends in `db`.

Transactions: between `begin_transaction()` and `end_transaction()` (EXEC
runs its queue) whatever is emitted, by the queued commands or by expiry
in the middle of them, joins one unit, which reaches the sinks at the end,
wrapped in MULTI ... EXEC; a transaction that wrote nothing emits nothing.

Encoded once: a sink that wants the unit's RESP bytes (the replication
primary, the append-only file) implements `on_encoded(db, unit, data)`
instead of `on_write`: the stream encodes each unit once
(replication/stream.encode_unit, compiled in ringcache/_stream.pyx) and
hands every such sink the same bytes object, so the backlog, every
replica's socket and the AOF share one buffer instead of encoding a copy
each. Encoded sinks are called before plain ones (each buffers until
flush(), so the order between sinks does not matter).

Cost: the dispatcher tests `propagating` (kept equal to `active` by
`on_active_change`) once per command; with no sink registered it builds no
argv and calls nothing here. Sinks are called synchronously, on the loop,
in registration order: a sink must not block (the append-only file buffers
and writes at `flush()`, which the dispatcher calls once per batch of
commands, before the replies leave).
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

from ..replication.stream import encode_unit

MULTI = [b"MULTI"]
EXEC = [b"EXEC"]


class WriteSink(Protocol):
    def on_write(self, db: int, unit: list[list[bytes]]) -> None: ...


@runtime_checkable
class EncodedSink(Protocol):
    """A sink that takes each unit with its RESP bytes (shared by every
    such sink: it must not change them)."""

    def on_encoded(self, db: int, unit: list[list[bytes]], data: bytes) -> None: ...


@runtime_checkable
class BufferedSink(Protocol):
    """A sink that buffers: `flush()` runs once per batch of commands, before
    their replies are sent (a client never sees an acknowledgement for a
    write its sinks have not taken). It is also a WriteSink or an
    EncodedSink."""

    def flush(self) -> None: ...


class WriteStream:
    def __init__(self) -> None:
        self._sinks: list[WriteSink | EncodedSink] = []  # every sink, in registration order
        self._plain: list[WriteSink] = []  # those called with on_write
        self._encoded: list[EncodedSink] = []  # those called with on_encoded
        self._buffered: list[BufferedSink] = []
        # Called with the new value of `active` when it changes (the server
        # points the dispatcher's flag and the keyspaces' expiry hooks at it).
        self.on_active_change: list[Callable[[bool], None]] = []
        # The open transaction's unit (argvs, without MULTI/EXEC), its
        # database (the first command's) and the database its last argv
        # applies to; None outside EXEC.
        self._group: list[list[bytes]] | None = None
        self._group_db = -1
        self._group_at = -1

    # -- sinks -------------------------------------------------------------

    def add_sink(self, sink: WriteSink | EncodedSink) -> None:
        if sink in self._sinks:
            return
        was_active = bool(self._sinks)
        self._sinks.append(sink)
        if isinstance(sink, EncodedSink):
            self._encoded.append(sink)
        else:
            self._plain.append(sink)
        if isinstance(sink, BufferedSink):
            self._buffered.append(sink)
        if not was_active:
            self._changed(True)

    def remove_sink(self, sink: WriteSink | EncodedSink) -> None:
        if sink not in self._sinks:
            return
        self._sinks.remove(sink)
        if isinstance(sink, EncodedSink):
            self._encoded.remove(sink)
        else:
            self._plain.remove(sink)
        if sink in self._buffered:
            self._buffered.remove(sink)  # type: ignore[arg-type]
        if not self._sinks:
            self._changed(False)

    @property
    def active(self) -> bool:
        """Any sink registered: the dispatcher only builds argv for the
        stream when True."""
        return bool(self._sinks)

    def _changed(self, active: bool) -> None:
        for callback in self.on_active_change:
            callback(active)

    # -- writes ------------------------------------------------------------

    def emit(self, db: int, unit: list[list[bytes]]) -> None:
        """Hand one unit to every sink (or to the open transaction's unit)."""
        group = self._group
        if group is None:  # (_deliver inlined: this runs for every write)
            encoded = self._encoded
            if encoded:
                data = encode_unit(unit)
                for sink in encoded:
                    sink.on_encoded(db, unit, data)
            for plain in self._plain:
                plain.on_write(db, unit)
            return
        if self._group_db < 0:
            self._group_db = self._group_at = db
        elif db != self._group_at:
            group.append([b"SELECT", b"%d" % db])
            self._group_at = db
        if len(unit) > 1 and unit[0] == MULTI:
            group.extend(unit[1:-1])  # (one transaction: no nested MULTI)
        else:
            group.extend(unit)

    def begin_transaction(self) -> None:
        """EXEC starts running its queue: what is emitted until
        end_transaction() is one unit."""
        self._group = []
        self._group_db = self._group_at = -1

    @property
    def in_transaction(self) -> bool:
        """Between begin_transaction() and end_transaction()."""
        return self._group is not None

    def end_transaction(self, wrap_single: bool = True) -> None:
        """Hand the unit to the sinks. `wrap_single=False` (a script's
        effects) sends a unit of one command as it is, without MULTI/EXEC,
        as Redis propagates a script that made one write."""
        group, self._group = self._group, None
        if not group or not self._sinks:
            return
        db = self._group_db
        if self._group_at != db:  # the unit ends in the database it started in
            group.append([b"SELECT", b"%d" % db])
        unit = [group[0]] if len(group) == 1 and not wrap_single else [MULTI, *group, EXEC]
        self._deliver(db, unit)

    def _deliver(self, db: int, unit: list[list[bytes]]) -> None:
        encoded = self._encoded
        if encoded:
            data = encode_unit(unit)  # (once, for every encoded sink)
            for sink in encoded:
                sink.on_encoded(db, unit, data)
        for plain in self._plain:
            plain.on_write(db, unit)

    def flush(self) -> None:
        """End of a batch of commands, before the replies leave."""
        for sink in self._buffered:
            sink.flush()
