"""Live slot migration: a batch of slots moves from one shard to another,
atomically (the approach Valkey 9 and Redis 8.4 took), driven by the source.

Theory of operation
-------------------
Someone (`ringcache cluster rebalance`, add-node, remove-node) puts a
Migration in the cluster map (topology.start_migration). The source shard's
primary sees it in a map (`Migrations.on_map`) and runs an `Outgoing`:

1. **Link.** It opens a connection to the target's primary and sends
   `CLUSTER IMPORT BEGIN id start end ...`: the target drops whatever it
   holds in those slots (what an interrupted earlier attempt left), marks
   the connection as an importer (the Router lets it write slots the target
   does not own yet) and remembers the slots as importing, so its clean-up
   (below) leaves them alone.
2. **Stream.** From now on every write unit the source executes
   (server/write_stream.py) whose keys are in the moving slots is sent down
   the link, in the order it executed (a transaction as MULTI ... EXEC).
3. **Snapshot.** Slot by slot, a few hundred keys per loop turn, the keys
   are serialised (persistence/snapshot.py's encoding, TTLs included) and
   sent as `CLUSTER IMPORT DATA blob`, which the target installs replacing
   what it has. Why that is consistent: the link carries snapshot batches
   and streamed writes in the order they happened on the source's one loop;
   a key's batch is a full copy taken at that moment, so writes streamed
   before it are overwritten by a newer state and writes after it follow it.
4. **Pause and flip.** When the snapshot is sent and the link has caught up
   (fewer than CATCHUP_LAG commands unacknowledged), the source pauses
   writes (the CLIENT PAUSE WRITE machinery: writes wait in their
   connections, reads go on), waits until the target acknowledged every
   command (the barrier), stores `finish_migration` in the control plane
   (a new epoch: the slots now belong to the target), hands that map to the
   target over the link (`CLUSTER IMPORT END json`, so it serves at once,
   before the control plane tells it), applies it itself and unpauses. The
   writes that waited are routed again and get `-MOVED` to the target. No
   write acknowledged by the source is lost: each was executed before the
   pause and is behind the barrier.
5. **Clean-up.** On every map, a primary deletes (in the background, a
   bounded number of keys per loop turn) the keys of slots it neither owns
   nor imports: the source's old copies after a flip, the target's partial
   copy after a cancelled or failed migration.

Failures: any error before the flip (the target unreachable or refusing,
the link's buffer past LINK_BUFFER_LIMIT, the barrier not reached within
BARRIER_TIMEOUT_S) removes the stream sink, unpauses, and cancels the
migration in the map: the source keeps serving, the target cleans up. A
migration cancelled by the operator stops the same way. A source that
restarts finds its migration still in the map and starts it again from
the beginning (step 1 drops the target's partial copy): resumable in that
sense, not from the middle.

Bounds: the link's unsent output (LINK_BUFFER_LIMIT: past it the migration
fails rather than hold memory without bound); the pause (at most
PAUSE_LIMIT_S: the CLIENT PAUSE deadline is the safety net if this task
dies).
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from typing import TYPE_CHECKING, Any

import hiredis

from ..commands.registry import lookup
from ..persistence.rdb import dump_payload
from ..persistence.snapshot import SnapshotReader, snapshot_chunks
from ..storage.slots import SLOTS, key_slot
from . import peers
from .topology import ClusterMap, MapError, Migration

if TYPE_CHECKING:
    from .node import ClusterNode

log = logging.getLogger("ringcache")

BATCH_KEYS = 256  # keys per snapshot batch (one loop turn)
CATCHUP_LAG = 64  # commands unacknowledged when the pause starts
LINK_BUFFER_LIMIT = 256 * 1024 * 1024
PAUSE_LIMIT_S = 5.0
BARRIER_TIMEOUT_S = 4.0
CLEANUP_KEYS_PER_TURN = 1000


def _command(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        out.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(out)


def slot_mask(ranges: Any) -> bytearray:
    mask = bytearray(SLOTS)
    for start, end in ranges:
        mask[start:end + 1] = b"\x01" * (end - start + 1)
    return mask


def unit_slot(unit: list[list[bytes]]) -> int:
    """The slot of the first key in a write unit, or -1 when it has none."""
    for argv in unit:
        spec = lookup(argv[0])
        if spec is None:
            continue
        try:
            positions = spec.key_positions(argv)
        except Exception:
            continue
        if positions:
            return key_slot(argv[positions[0]])
    return -1


class Outgoing:
    """One migration, on the source's primary (see the module header)."""

    def __init__(self, node: "ClusterNode", mig: Migration) -> None:
        self.node = node
        self.server = node.server
        self.mig = mig
        self.moving = slot_mask(mig.slots)
        self.sent = 0  # commands sent down the link
        self.acked = 0  # replies read back
        self.errors: list[bytes] = []
        self.keys_sent = 0
        self.bytes_sent = 0
        self.pause_s = 0.0
        self.writer: asyncio.StreamWriter | None = None
        self.reader_task: asyncio.Task | None = None
        self.task: asyncio.Task | None = None
        self.flipping = False  # finish_migration is being stored: never cancel now
        self._acked_event = asyncio.Event()

    # -- the write stream sink -------------------------------------------------

    def on_write(self, db: int, unit: list[list[bytes]]) -> None:
        slot = unit_slot(unit)
        if slot < 0 or not self.moving[slot]:
            return
        if len(unit) > 1 and unit[0] != [b"MULTI"]:
            unit = [[b"MULTI"], *unit, [b"EXEC"]]
        for argv in unit:
            self._send(_command(*argv))

    def _send(self, data: bytes) -> None:
        writer = self.writer
        if writer is None or writer.is_closing():
            return
        writer.write(data)
        self.sent += 1
        self.bytes_sent += len(data)
        if writer.transport.get_write_buffer_size() > LINK_BUFFER_LIMIT:
            self.errors.append(b"the migration link's buffer passed its limit")
            writer.close()

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        parser = hiredis.Reader()
        while True:
            data = await reader.read(65536)
            if not data:
                return
            parser.feed(data)
            while True:
                reply = parser.gets()
                if reply is False:
                    break
                self.acked += 1
                if isinstance(reply, hiredis.ReplyError):
                    self.errors.append(str(reply).encode())
            self._acked_event.set()

    async def _wait_acked(self, lag: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.sent - self.acked > lag:
            if self.errors:
                raise RuntimeError(self.errors[0].decode(errors="replace"))
            if self.reader_task is not None and self.reader_task.done():
                raise RuntimeError("the migration link closed")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the target acknowledged {self.acked} of {self.sent} commands")
            self._acked_event.clear()
            try:
                await asyncio.wait_for(self._acked_event.wait(), min(left, 0.5))
            except asyncio.TimeoutError:
                pass
        # Every command answered is not every command applied: a target that
        # refused some (e.g. CLUSTERDOWN before its first lease) must fail the
        # migration here, before any flip, or the source would drop keys the
        # target never stored.
        if self.errors:
            raise RuntimeError(self.errors[0].decode(errors="replace"))

    # -- the migration ---------------------------------------------------------

    async def run(self) -> None:
        mig = self.mig
        cmap = self.node.map
        target = cmap.shard(mig.target)
        member = cmap.member(target.primary) if target is not None else None
        stream = getattr(self.server, "write_stream", None)
        paused = False
        started = time.monotonic()
        sink_added = False
        try:
            if member is None:
                raise RuntimeError("the target shard has no primary")
            if stream is None:
                raise RuntimeError("this build has no write stream")
            reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(member.host, peers.port_of(self.server.config, member),
                                        ssl=peers.ssl_context(self.server.config)), 5)
            self.reader_task = asyncio.get_running_loop().create_task(self._read_replies(reader))
            auth = peers.auth_argv(self.server.config)
            if auth is not None:
                self._send(_command(*auth))
            ranges = [b"%d" % n for start, end in mig.slots for n in (start, end)]
            self._send(_command(b"CLUSTER", b"IMPORT", b"BEGIN", b"%d" % mig.id, *ranges))
            stream.add_sink(self)
            sink_added = True
            log.info("Migration %d: %d slots to %s:%d started", mig.id, mig.slot_count(),
                     member.host, member.port)
            await self._snapshot()
            await self._wait_acked(CATCHUP_LAG, 60)
            # The flip: writes wait, the link drains, the map changes.
            self.server.pause(PAUSE_LIMIT_S, False)
            paused = True
            pause_start = time.monotonic()
            await self._wait_acked(0, BARRIER_TIMEOUT_S)
            stream.remove_sink(self)
            sink_added = False
            loop = asyncio.get_running_loop()
            plane = self.node.plane
            assert plane is not None
            self.flipping = True
            myself = self.node.myself

            def finish(m: ClusterMap) -> ClusterMap:
                source = m.shard(mig.source)
                if source is None or source.primary != myself:
                    # A failover made someone else the source's primary: its
                    # writes since did not come down this link.
                    raise MapError("this node is no longer the source shard's primary")
                return m.finish_migration(mig.id)

            done = await loop.run_in_executor(None, lambda: plane.update(finish))
            self._send(_command(b"CLUSTER", b"IMPORT", b"END", b"%d" % mig.id,
                                done.to_json().encode()))
            try:
                await self._wait_acked(0, BARRIER_TIMEOUT_S)
            except Exception as exc:  # the flip is stored: the target learns it anyway
                log.warning("Migration %d: the target did not confirm the flip (%s)", mig.id, exc)
            self.node.apply_map(done)
            self.pause_s = time.monotonic() - pause_start
            self.server.unpause()
            paused = False
            log.info("Migration %d done: %d keys, %d bytes in %.2f s, writes paused %.1f ms",
                     mig.id, self.keys_sent, self.bytes_sent, time.monotonic() - started,
                     self.pause_s * 1000)
        except asyncio.CancelledError:
            log.warning("Migration %d stopped (no longer in the map)", mig.id)
            raise
        except (Exception, MapError) as exc:
            log.warning("Migration %d failed, the source keeps the slots: %s", mig.id, exc)
            await self._cancel_in_map()
        finally:
            if sink_added and stream is not None:
                stream.remove_sink(self)
            if paused:
                self.server.unpause()
            if self.writer is not None:
                self.writer.close()
            if self.reader_task is not None:
                self.reader_task.cancel()

    async def _snapshot(self) -> None:
        db = self.server.db(0)
        for start, end in self.mig.slots:
            for slot in range(start, end + 1):
                keys = db.slots.keys(slot)
                for i in range(0, len(keys), BATCH_KEYS):
                    self._send_batch(db, keys[i:i + BATCH_KEYS])
                    if self.errors:
                        raise RuntimeError(self.errors[0].decode(errors="replace"))
                    await self._yield_to_clients()

    async def _yield_to_clients(self) -> None:
        """One loop turn for the clients; wait when the link is behind."""
        writer = self.writer
        assert writer is not None
        if writer.transport.get_write_buffer_size() > 4 * 1024 * 1024:
            await writer.drain()
        else:
            await asyncio.sleep(0)

    def _send_batch(self, db: Any, keys: list[bytes]) -> None:
        data = db.data
        expires = db.expires
        batch = {k: data[k] for k in keys if k in data}
        if not batch:
            return
        ttls = {k: expires[k] for k in batch if k in expires}
        blob = b"".join(snapshot_chunks([(0, batch, ttls)], self.server.clock.ms()))
        self._send(_command(b"CLUSTER", b"IMPORT", b"DATA", b"%d" % self.mig.id, blob))
        self.keys_sent += len(batch)

    async def _cancel_in_map(self) -> None:
        plane = self.node.plane
        if plane is None:
            return
        source = self.node.map.shard(self.mig.source)
        if source is None or source.primary != self.node.myself:
            return  # the source's new primary carries the migration on
        mig_id = self.mig.id

        def cancel(m: ClusterMap) -> ClusterMap:
            return m.cancel_migration(mig_id) if m.migration(mig_id) is not None else m

        for _ in range(5):
            try:
                cmap = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: plane.update(cancel))
                self.node.apply_map(cmap)
                return
            except Exception as exc:
                log.warning("Migration %d: cancelling it in the map failed (%s); retrying",
                            mig_id, exc)
                await asyncio.sleep(0.5)


class Migrations:
    """A node's migrations: the ones it drives as a source, the slots it
    imports as a target, and the clean-up of slots it no longer serves."""

    def __init__(self, node: "ClusterNode") -> None:
        self.node = node
        self.outgoing: dict[int, Outgoing] = {}
        # Slots a connection is importing into this node right now, by
        # migration id (set by CLUSTER IMPORT BEGIN, dropped at END or when
        # the link closes).
        self.importing: dict[int, bytearray] = {}
        self._cleanup_scheduled = False
        self.completed: list[dict] = []  # the last outgoing migrations' figures
        node.map_listeners.append(self.on_map)

    # -- maps ----------------------------------------------------------------

    def on_map(self, before: ClusterMap, cmap: ClusterMap) -> None:
        node = self.node
        shard = cmap.shard_of(node.myself)
        primary = shard is not None and shard.primary == node.myself
        live = {m.id for m in cmap.migrations}
        for mig_id, out in list(self.outgoing.items()):
            # Gone from the map: cancelled by someone else, unless this
            # node's own flip (finish_migration) removed it. A node no longer
            # the source's primary (a failover) stops too: the new primary
            # finds the migration in the map and starts it over.
            gone = mig_id not in live or not primary
            if gone and not out.flipping and out.task is not None:
                out.task.cancel()
        if primary:
            assert shard is not None
            for mig in cmap.migrations:
                if mig.source == shard.id and mig.id not in self.outgoing:
                    self.start(mig)
        self.schedule_cleanup()

    def start(self, mig: Migration) -> None:
        out = Outgoing(self.node, mig)
        self.outgoing[mig.id] = out
        loop = self.node._loop
        assert loop is not None
        out.task = loop.create_task(out.run())
        out.task.add_done_callback(lambda _t: self._finished(mig.id))

    def _finished(self, mig_id: int) -> None:
        out = self.outgoing.pop(mig_id, None)
        if out is not None:
            self.completed.append({"id": mig_id, "keys": out.keys_sent, "bytes": out.bytes_sent,
                                   "pause_ms": round(out.pause_s * 1000, 1)})
            del self.completed[:-16]
        self.schedule_cleanup()

    def stop(self) -> None:
        for out in self.outgoing.values():
            if out.task is not None:
                out.task.cancel()

    # -- importing (the target's side, from commands/cluster.py) -------------

    def begin_import(self, mig_id: int, ranges: list[tuple[int, int]]) -> None:
        mask = slot_mask(ranges)
        self.importing[mig_id] = mask
        db = self.node.server.db(0)
        stream = self._stream()
        for start, end in ranges:  # a previous attempt's partial copy
            for slot in range(start, end + 1):
                for key in db.slots.keys(slot):
                    if db.delete(key) and stream is not None:
                        stream.emit(0, [[b"DEL", key]])

    def import_data(self, blob: bytes) -> int:
        """Install a snapshot batch. Each key also goes down this node's
        write stream as RESTORE ... REPLACE ABSTTL, so the target shard's
        replicas and append-only file get the imported keys (the streamed
        writes of the link are commands, which reach the stream anyway)."""
        server = self.node.server
        db = server.db(0)
        stream = self._stream()
        count = 0

        def sink(_index: int, key: bytes, value: Any, expire: float | None) -> None:
            nonlocal count
            db.install(key, value, expire)  # (replaces what is there)
            if stream is not None:
                ttl = b"%d" % int(expire) if expire is not None else b"0"
                stream.emit(0, [[b"RESTORE", key, ttl, dump_payload(value), b"REPLACE",
                                 b"ABSTTL"]])
            count += 1

        SnapshotReader(io.BytesIO(blob), "migration").load(sink, server.clock.ms())
        return count

    def _stream(self) -> Any:
        """The write stream when something listens to it (replicas, AOF)."""
        stream = getattr(self.node.server, "write_stream", None)
        return stream if stream is not None and stream.active else None

    def end_import(self, mig_id: int) -> None:
        self.importing.pop(mig_id, None)
        self.schedule_cleanup()

    # -- clean-up -------------------------------------------------------------

    def schedule_cleanup(self) -> None:
        loop = self.node._loop
        if not self._cleanup_scheduled and loop is not None:
            self._cleanup_scheduled = True
            loop.call_soon(self._cleanup_step)

    def _cleanup_step(self) -> None:
        """Delete up to CLEANUP_KEYS_PER_TURN keys of slots this node does not
        serve; come back next turn while any are left."""
        self._cleanup_scheduled = False
        node = self.node
        cmap = node.map
        shard = cmap.shard_of(node.myself)
        if shard is None or shard.primary != node.myself or not cmap.assigned_slots():
            return
        db = node.server.dbs[0]
        if db is None or not db.data:
            return
        owned = node.router.owned
        importing = [mask for mask in self.importing.values()]
        migrating_out = slot_mask(r for m in cmap.migrations if m.source == shard.id
                                  for r in m.slots)
        occupied = db.slots.occupied
        budget = CLEANUP_KEYS_PER_TURN
        stream = getattr(node.server, "write_stream", None)
        tracking = node.server.tracking
        slot = occupied.find(1)
        while 0 <= slot < SLOTS and budget > 0:
            if not owned[slot] and not migrating_out[slot] and not any(m[slot] for m in importing):
                for key in db.slots.keys(slot)[:budget]:
                    if db.delete(key):
                        if stream is not None:
                            stream.emit(0, [[b"DEL", key]])  # its replicas and AOF drop it too
                        # A client caching the key from here drops it: the
                        # new owner's writes would not reach it (as Redis,
                        # whose slot loss deletes the keys, signalling them).
                        tracking.invalidate_key(key, None)
                    budget -= 1
                if budget <= 0:
                    break
            slot = occupied.find(1, slot + 1)
        if budget <= 0:
            self.schedule_cleanup()

