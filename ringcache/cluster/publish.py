"""PUBLISH across the cluster: a message published on any node reaches the
subscribers of every node (Redis Cluster's behaviour for classic pub/sub).

Theory of operation
-------------------
Redis carries a PUBLISH to every other node as a cluster-bus message. We have
no bus of our own, so each node keeps one ordinary client connection to every
other member (learned from the cluster map) and sends it `CLUSTER PUBLISH
channel message`, which delivers to that node's local subscribers only and is
never forwarded again (so a message crosses one hop and cannot loop).

Delivery is what Redis promises for pub/sub: at most once, in order per
(publisher node, receiver node) pair. Each link has a bounded outgoing buffer
(`LINK_BUFFER_LIMIT`); a peer that is down or too slow loses messages (counted,
and logged at most once a minute) rather than holding the publisher's memory (`PublishBridge.dropped`; there is no field
for it in Redis's INFO). PUBLISH's reply counts this node's receivers
only, as in Redis Cluster.

Sharded pub/sub (SPUBLISH) needs none of this: its channel is routed to the
slot's owner like a key.

Everything here runs on the event loop: `forward` is called by the PUBLISH
handler, `on_map` by ClusterNode.apply_map.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..server.fdlimit import RateLimitedLog
from . import peers
from .topology import ClusterMap, Member

if TYPE_CHECKING:
    from .node import ClusterNode

log = logging.getLogger("ringcache")

LINK_BUFFER_LIMIT = 32 * 1024 * 1024  # as client-output-buffer-limit pubsub's hard limit
RECONNECT_S = 0.5


def encode(*argv: bytes) -> bytes:
    parts = [b"*%d\r\n" % len(argv)]
    for arg in argv:
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


class PublishBridge:
    def __init__(self, node: "ClusterNode") -> None:
        self.node = node
        self.links: dict[str, _Link] = {}
        self.dropped = 0
        self._drop_log = RateLimitedLog(60.0)
        node.map_listeners.append(self.on_map)

    def on_map(self, before: ClusterMap, cmap: ClusterMap) -> None:
        """Open a link to each new member, close those to departed or moved ones."""
        peers = {m.id: m for m in cmap.members if m.id != self.node.myself}
        for member_id, link in list(self.links.items()):
            peer = peers.get(member_id)
            if peer is None or (peer.host, peer.port) != (link.member.host, link.member.port):
                del self.links[member_id]
                link.close()
        for member_id, peer in peers.items():
            if member_id not in self.links:
                self.links[member_id] = _Link(self, peer)

    def forward(self, channel: bytes, message: bytes) -> None:
        if self.links:
            data = encode(b"CLUSTER", b"PUBLISH", channel, message)
            for link in self.links.values():
                link.send(data)

    def drop(self, link: "_Link", count: int) -> None:
        self.dropped += count
        self._drop_log.warning("Cluster PUBLISH: %d message(s) to %s:%d dropped (peer down or "
                               "too slow)", count, link.member.host, link.member.port)

    def close(self) -> None:
        for link in self.links.values():
            link.close()
        self.links.clear()


class _Link:
    """One connection to one peer, and the messages waiting for it."""

    def __init__(self, bridge: PublishBridge, member: Member) -> None:
        self.bridge = bridge
        self.member = member
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.ready = asyncio.Event()
        self.connected = False
        self.task = asyncio.get_running_loop().create_task(self._run())

    def send(self, data: bytes) -> None:
        if not self.connected or self.pending_bytes + len(data) > LINK_BUFFER_LIMIT:
            self.bridge.drop(self, 1)
            return
        self.pending.append(data)
        self.pending_bytes += len(data)
        self.ready.set()

    def close(self) -> None:
        self.task.cancel()

    async def _run(self) -> None:
        config = self.bridge.node.server.config
        while True:
            writer = None
            drain = None
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.member.host, peers.port_of(config, self.member),
                                            ssl=peers.ssl_context(config)), 5)
                # Replies (an integer per message) are read only to be discarded.
                drain = asyncio.get_running_loop().create_task(self._discard(reader))
                auth = peers.auth_argv(config)
                if auth is not None:
                    writer.write(encode(*auth))
                self.connected = True
                while True:
                    await self.ready.wait()
                    self.ready.clear()
                    if drain.done():
                        raise ConnectionError("the peer closed the link")
                    batch, self.pending, self.pending_bytes = self.pending, [], 0
                    writer.write(b"".join(batch))
                    await writer.drain()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncio.TimeoutError, ConnectionError) as exc:
                log.debug("Cluster PUBLISH link to %s:%d: %s", self.member.host,
                          self.member.port, exc)
            finally:
                self.connected = False
                if self.pending:
                    self.bridge.drop(self, len(self.pending))
                    self.pending, self.pending_bytes = [], 0
                if drain is not None:
                    drain.cancel()
                if writer is not None:
                    writer.close()
            await asyncio.sleep(RECONNECT_S)

    async def _discard(self, reader: asyncio.StreamReader) -> None:
        try:
            while await reader.read(65536):
                pass
        except OSError:
            pass
        finally:
            self.ready.set()  # wakes the writer loop, which sees the link is gone
