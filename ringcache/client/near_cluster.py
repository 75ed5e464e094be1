"""The near cache on a cluster: one tracked L1 per node, dropped where a slot moves.

Theory of operation. CLIENT TRACKING is per connection and per node: a node
only invalidates keys read through a connection to *it*. So a near cache over
a cluster client (``NearCache(cache)`` with ``cache.client`` a ``RedisCluster``
builds a :class:`ClusterNearCache`) keeps one ordinary near cache per node
(:class:`~ringcache.client.NearCache` / ``AsyncNearCache``, with its listener
and tracked connection to that node), made when a key of that node is first
read. A key is served by the near cache of the node owning its slot in the
cluster client's slot map, so the L1 is partitioned by node.

When a slot moves, entries read from the old owner must not be served:

* **MOVED**: a tracked read answered MOVED is a miss read through the cluster
  client instead (which follows the redirect and updates its slot map); the
  node's entries of that slot are dropped;
* **a map change**: every ``map_interval`` seconds (at the next access; None:
  never, only when redis-py re-reads the map after a MOVED of any command) the
  cluster's epoch is read (CLUSTER INFO, small), and when it moved the slot map
  is re-read (CLUSTER SLOTS, tens of kilobytes on a ring with many ranges; also
  every :data:`FULL_REFRESH` seconds, for clusters whose epoch does not move on
  every change, as Redis's may not); for every slot seen before whose owner
  changed, the previous owner's entries of that slot are dropped. The same comparison is made for
  the slot of every access, so a slot is never served by a node that no longer
  owns it in the client's map.

Invalidations for keys deleted from the old owner (a migration removes them
there) also arrive as usual. The window left is the time until this process
learns of the move: at most ``map_interval``, and never more than the L1 ``ttl``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, cast

from . import cluster
from .decorator import Decorates
from ._core import DEFAULT, MISS, StampedeMode

FULL_REFRESH = 30.0  # seconds between slot-map reads when the epoch stands still


class _OnNode:
    """The cluster cache seen through one node's plain client: a node's near cache
    opens its connections there; everything else (get, get_or_set, set, unpack,
    metrics...) is the cluster cache's."""

    def __init__(self, cache: Any, client: Any) -> None:
        self._cache = cache
        self.client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cache, name)


class _ClusterBase(Decorates):
    """Routing by slot and the slot-owner bookkeeping, shared by the sync and
    asyncio twins (which only make the per-node near caches)."""

    def _setup(self, cache: Any, options: dict[str, Any], map_interval: float | None) -> None:
        if map_interval is not None and map_interval <= 0:
            raise ValueError("map_interval must be positive or None")
        self.cache = cache
        self.map_interval = map_interval
        self._options = options
        self._nodes: dict[str, Any] = {}    # node name -> that node's near cache
        self._owners: dict[int, str] = {}   # slot -> the node its entries were read from
        self._map_read_at = self._full_read_at = cache.clock()
        self._epoch: int | None = None
        self._moves = 0

    def _map_due(self) -> bool:
        if self.map_interval is None or self.cache.clock() - self._map_read_at < self.map_interval:
            return False
        self._map_read_at = self.cache.clock()
        return True

    def _map_moved(self, epoch: int | None) -> bool:
        """Whether the slot map must be re-read, given the epoch just read
        (None: unknown, so yes)."""
        now = self.cache.clock()
        if epoch is not None and epoch == self._epoch and now - self._full_read_at < FULL_REFRESH:
            return False
        self._epoch, self._full_read_at = epoch, now
        return True

    def _reconcile(self) -> None:
        """After the slot map was re-read: drop what moved."""
        for slot in list(self._owners):
            owner = self._owner_of(slot)
            if owner is not None:
                self._check(slot, owner)

    def _owner_of(self, slot: int) -> str | None:
        nodes = self.cache.client.nodes_manager.slots_cache.get(slot)
        return str(nodes[0].name) if nodes else None

    def _check(self, slot: int, owner: str) -> None:
        previous = self._owners.get(slot)
        if previous != owner:
            self._owners[slot] = owner
            if previous is not None and previous in self._nodes:
                self._moves += 1
                self._nodes[previous]._drop_slot(slot)

    def _route(self, key: str | bytes) -> tuple[str, Any]:
        """(owner node name, the node object) of key's slot, after dropping the
        entries of the slot's previous owner if it changed."""
        full = self.cache.full_key(key)
        node = self.cache.client.get_node_from_key(full)
        self._check(self.cache.client.keyslot(full), node.name)
        return node.name, node

    def __contains__(self, key: str | bytes) -> bool:
        return any(key in near for near in list(self._nodes.values()))

    def __len__(self) -> int:
        return sum(len(near) for near in list(self._nodes.values()))

    def flush(self) -> None:
        for near in list(self._nodes.values()):
            near.flush()

    def stats(self) -> dict[str, float]:
        out: dict[str, float] = {"nodes": len(self._nodes), "slot_moves": self._moves}
        for near in list(self._nodes.values()):
            for name, value in near.stats().items():
                out[name] = out.get(name, 0) + value
        reads = out.get("l1_hits", 0) + out.get("l1_misses", 0)
        out["hit_ratio"] = out.get("l1_hits", 0) / reads if reads else 0.0
        return out

    @property
    def connected(self) -> bool:
        return all(near.connected for near in list(self._nodes.values()))


class ClusterNearCache(_ClusterBase):
    """What ``NearCache(cache)`` is when ``cache.client`` is a ``RedisCluster``:
    the same methods; ``map_interval`` (seconds, default 1.0) as in the module doc."""

    def __init__(self, cache: Any, *, map_interval: float | None = 1.0, **options: Any) -> None:
        self._setup(cache, options, map_interval)
        self._lock = threading.Lock()

    def _near(self, key: str | bytes) -> Any:
        if self._map_due() and self._map_moved(cluster.map_epoch(self.cache.client)):
            cluster.refresh(self.cache.client)
            self._reconcile()
        name, node = self._route(key)
        near = self._nodes.get(name)
        if near is None:
            from .near_cache import NearCache
            with self._lock:
                near = self._nodes.get(name)
                if near is None:
                    client = self.cache.client.get_redis_connection(node)
                    near = self._nodes[name] = NearCache(cast(Any, _OnNode(self.cache, client)), **self._options)
        return near

    def get(self, key: str | bytes, default: Any = MISS) -> Any:
        return self._near(key).get(key, default)

    def get_or_set(self, key: str | bytes, loader: Callable[[], Any], ttl: float | None | Any = DEFAULT,
                   *, stampede: StampedeMode | Any = DEFAULT) -> Any:
        return self._near(key).get_or_set(key, loader, ttl, stampede=stampede)

    def set(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        self._near(key).set(key, value, ttl)

    def delete(self, *keys: str | bytes) -> int:
        for key in keys:
            self._near(key)._forget((key,))
        return int(self.cache.delete(*keys))

    def close(self) -> None:
        with self._lock:
            nodes, self._nodes = list(self._nodes.values()), {}
        for near in nodes:
            near.close()

    def __enter__(self) -> "ClusterNearCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClusterNearCache(_ClusterBase):
    """What ``AsyncNearCache(cache)`` is on an asyncio ``RedisCluster``."""

    def __init__(self, cache: Any, *, map_interval: float | None = 1.0, **options: Any) -> None:
        self._setup(cache, options, map_interval)
        self._lock: asyncio.Lock | None = None

    async def start(self) -> None:
        self._lock = self._lock or asyncio.Lock()
        await self.cache.client.initialize()

    async def _near(self, key: str | bytes) -> Any:
        if self._lock is None:
            await self.start()
        assert self._lock is not None
        if self._map_due() and self._map_moved(await cluster.amap_epoch(self.cache.client)):
            await cluster.arefresh(self.cache.client)
            self._reconcile()
        name, node = self._route(key)
        near = self._nodes.get(name)
        if near is None:
            from .near_cache import AsyncNearCache
            async with self._lock:
                near = self._nodes.get(name)
                if near is None:
                    client = await cluster.anode_client_of(self.cache.client, node)
                    near = AsyncNearCache(cast(Any, _OnNode(self.cache, client)), **self._options)
                    await near.start()
                    self._nodes[name] = near
        return near

    async def poll(self) -> None:
        for near in list(self._nodes.values()):
            await near.poll()

    async def get(self, key: str | bytes, default: Any = MISS) -> Any:
        return await (await self._near(key)).get(key, default)

    async def get_or_set(self, key: str | bytes, loader: Callable[[], Any], ttl: float | None | Any = DEFAULT,
                         *, stampede: StampedeMode | Any = DEFAULT) -> Any:
        return await (await self._near(key)).get_or_set(key, loader, ttl, stampede=stampede)

    async def set(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        await (await self._near(key)).set(key, value, ttl)

    async def delete(self, *keys: str | bytes) -> int:
        for key in keys:
            (await self._near(key))._forget((key,))
        return int(await self.cache.delete(*keys))

    async def aclose(self) -> None:
        nodes, self._nodes = list(self._nodes.values()), {}
        for near in nodes:
            await near.aclose()

    close = aclose

    async def __aenter__(self) -> "AsyncClusterNearCache":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
