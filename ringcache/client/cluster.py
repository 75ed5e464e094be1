"""Cluster mode: the cache on redis-py's ``RedisCluster`` (sync and asyncio).

Theory of operation. Every pattern talks to the server through a redis-py
client; a ``RedisCluster`` already routes single-key commands to the slot's
owner and follows MOVED/ASK. What it does not do, and this module adds:

* **Multi-key reads** are grouped by slot: ``MGET`` becomes redis-py's
  ``mget_nonatomic`` (one MGET per slot, sent to each owner, answers put back
  in order); pipelines without a transaction are split by node by redis-py.
* **Transactions** (MULTI/EXEC, WATCH) only exist on one node, for keys of one
  slot, and redis-py's cluster pipelines do not run them on every supported
  major (the asyncio one never does). A transaction here names a *route* key;
  it runs on a plain client of the node that owns that key's slot
  (:func:`node_client` / :func:`anode_client`). Every key it touches must be
  in that slot: the lock of ``k`` is ``k:lock`` (one key), the write-behind
  structures share one ``{hash tag}`` per writer, the hot-key registry is one
  key. When the slot has moved (the node answers MOVED, inside EXEC or
  before), the client's slot map is re-read and the transaction runs again on
  the new owner, up to :data:`MOVED_TRIES` times.
* **Startup** (:func:`cluster_client`): a list of startup nodes or one node,
  the cache's per-call timeout, and per-node pools of ``pool_size``
  connections. The cache's guard admits at most ``pool_size`` operations at
  once and an operation holds at most one connection per node, so a node's
  pool is never found empty (the backpressure of a busy pool happens in the
  guard, as with one server).

Pure helpers only: the callers (``_steps.perform`` and ``aperform``) do the I/O.
"""

from __future__ import annotations

from typing import Any, Sequence
from urllib.parse import urlsplit

import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import ClusterNode, RedisCluster

MOVED_TRIES = 3
_NODE_CLIENTS = "_ringcache_node_clients"  # attribute on an asyncio RedisCluster


def is_cluster(client: Any) -> bool:
    return isinstance(client, (RedisCluster, AsyncRedisCluster))


def moved(exc: BaseException) -> bool:
    """Whether a node refused because the slot is served elsewhere now."""
    from redis.exceptions import AskError, MovedError
    return isinstance(exc, (MovedError, AskError)) or (
        isinstance(exc, redis.ResponseError) and str(exc).startswith(("MOVED", "ASK")))


# The redis-py cluster classes are typed loosely and differently by major: Any here.
def node_client(client: Any, route: str) -> Any:
    """A plain client of the node serving ``route``'s slot (redis-py keeps one per node)."""
    return client.get_redis_connection(client.get_node_from_key(route))


async def anode_client(client: Any, route: str) -> Any:
    """The asyncio twin of :func:`node_client`. The asyncio cluster keeps bare
    connections per node, not clients; one client per node is made here from
    that node's connection settings and kept on the cluster client."""
    await client.initialize()  # the asyncio cluster reads the slot map at first use
    return await anode_client_of(client, client.get_node_from_key(route))


async def anode_client_of(client: Any, node: Any) -> Any:
    clients: dict[str, aredis.Redis] = client.__dict__.setdefault(_NODE_CLIENTS, {})
    made = clients.get(node.name)
    if made is None:
        # Only the node's address, credentials, timeouts and TLS settings: redis-py
        # 7's connection settings also carry objects shared with the cluster's own
        # connections (an event dispatcher, a retry), and connections made with
        # them were disconnected under the cluster's feet (tested: 7.4).
        kwargs = {k: v for k, v in node.connection_kwargs.items() if k in _NODE_SETTINGS or k.startswith("ssl")}
        pool = aredis.ConnectionPool(connection_class=node.connection_class,
                                     max_connections=node.max_connections, **kwargs)
        made = clients[node.name] = aredis.Redis(connection_pool=pool)
    return made


_NODE_SETTINGS = frozenset({"host", "port", "username", "password", "credential_provider", "socket_timeout",
                            "socket_connect_timeout", "socket_keepalive", "socket_keepalive_options",
                            "client_name", "encoding", "encoding_errors", "decode_responses", "protocol"})


def refresh(client: Any) -> None:
    client.nodes_manager.initialize()


async def arefresh(client: Any) -> None:
    await client.nodes_manager.initialize()


def _epoch_of(info: Any) -> int | None:
    """``cluster_current_epoch`` from a CLUSTER INFO reply, parsed or raw."""
    if isinstance(info, dict):
        value = info.get("cluster_current_epoch", info.get(b"cluster_current_epoch"))
        return None if value is None else int(value)
    text = info.decode() if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        if line.startswith("cluster_current_epoch:"):
            return int(line.split(":", 1)[1])
    return None


def map_epoch(client: Any) -> int | None:
    """The cluster's current epoch as one node sees it (a CLUSTER INFO of a
    few hundred bytes, against CLUSTER SLOTS's tens of kilobytes on a ring
    with many ranges); None when it cannot be read."""
    try:
        node = client.get_default_node()
        return _epoch_of(client.get_redis_connection(node).execute_command("CLUSTER INFO"))
    except (redis.RedisError, OSError, ValueError):
        return None


async def amap_epoch(client: Any) -> int | None:
    try:
        node = client.get_default_node()
        return _epoch_of(await (await anode_client_of(client, node)).execute_command("CLUSTER INFO"))
    except (redis.RedisError, OSError, ValueError):
        return None


async def aclose_node_clients(client: Any) -> None:
    for made in client.__dict__.pop(_NODE_CLIENTS, {}).values():
        await made.connection_pool.disconnect()


def startup_nodes(urls: str | Sequence[str]) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """``"redis://h:p"`` or a list of them (``"h:p"`` also accepted): the
    (host, port) pairs and the options of the first URL (password, username,
    ssl). A database other than 0 is refused: a cluster has only db 0."""
    items = [urls] if isinstance(urls, str) else list(urls)
    if not items:
        raise ValueError("a cluster needs at least one startup node")
    nodes: list[tuple[str, int]] = []
    options: dict[str, Any] = {}
    for i, item in enumerate(items):
        parts = urlsplit(item if "://" in item else "redis://" + item)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError(f"unsupported scheme in {item!r}: redis:// or rediss://")
        if parts.path not in ("", "/", "/0"):
            raise ValueError(f"{item!r}: a cluster has only database 0")
        nodes.append((parts.hostname or "127.0.0.1", parts.port or 6379))
        if i == 0:
            if parts.password:
                options["password"] = parts.password
            if parts.username:
                options["username"] = parts.username
            if parts.scheme == "rediss":
                options["ssl"] = True
    return nodes, options


def _options(pool_size: int, timeout: float | None) -> dict[str, Any]:
    return dict(max_connections=pool_size, socket_timeout=timeout, socket_connect_timeout=timeout)


def cluster_client(urls: str | Sequence[str], pool_size: int, timeout: float | None) -> RedisCluster:
    nodes, options = startup_nodes(urls)
    node: Any = ClusterNode
    return RedisCluster(startup_nodes=[node(h, p) for h, p in nodes], **options,
                        **_options(pool_size, timeout))


def async_cluster_client(urls: str | Sequence[str], pool_size: int,
                         timeout: float | None) -> AsyncRedisCluster:
    from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
    nodes, options = startup_nodes(urls)
    settings = _options(pool_size, timeout)
    if redis.__version__.startswith("7."):
        # redis-py 7.x's asyncio cluster, given a socket_timeout, fails new
        # connections opened concurrently ("'NoneType' object has no attribute
        # 'writelines'" in on_connect; 30 concurrent SETs on a fresh client of a
        # 3-master Redis Cluster, 7.4.1; not 5.3, 6.4 or 8.2). Without it, a frozen
        # node holds an asyncio call until the TCP connection breaks: docs/client.md.
        settings["socket_timeout"] = None
    return AsyncRedisCluster(startup_nodes=[AsyncClusterNode(h, p) for h, p in nodes],
                             **options, **settings)
