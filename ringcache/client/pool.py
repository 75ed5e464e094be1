"""The redis-py clients a cache builds from a URL: a blocking, bounded pool.

redis-py's default pool differs by major: up to 7.x it is unbounded (2**31
connections: 1000 threads open 1000 connections); from 8.0 it is bounded at 100
and *raises* ``MaxConnectionsError`` when full. Neither is what a cache wants.
A cache built from a URL therefore gets a ``BlockingConnectionPool`` of
``pool_size`` connections: a caller finding them all busy waits up to
``pool_timeout`` seconds (backpressure), on every supported redis-py major.

The same clients carry the cache's own per-call ``timeout`` (connect and
read) and **no redis-py retries**: redis-py 6+ retries a failed command three
times with backoff by default, so one call to a frozen server would cost four
socket timeouts; the cache's failure policy (see ``guard``) decides instead.

A client given by the caller is used as it is (the cache does not change its
pool or timeouts); ``gate_size`` only makes the cache's own slots no more
numerous than that pool's connections.
"""

from __future__ import annotations

from typing import Any, Sequence

import redis
import redis.asyncio as aredis
from redis.backoff import NoBackoff


def _options(pool_size: int, pool_timeout: float, timeout: float | None) -> dict[str, Any]:
    return dict(max_connections=pool_size, timeout=pool_timeout, socket_timeout=timeout,
                socket_connect_timeout=timeout)


def sync_client(url: str, pool_size: int, pool_timeout: float, timeout: float | None) -> redis.Redis:
    from redis.retry import Retry
    pool = redis.BlockingConnectionPool.from_url(url, retry=Retry(NoBackoff(), 0),
                                                 **_options(pool_size, pool_timeout, timeout))
    return redis.Redis(connection_pool=pool)


def async_client(url: str, pool_size: int, pool_timeout: float, timeout: float | None) -> aredis.Redis:
    from redis.asyncio.retry import Retry
    pool = aredis.BlockingConnectionPool.from_url(url, retry=Retry(NoBackoff(), 0),
                                                  **_options(pool_size, pool_timeout, timeout))
    return aredis.Redis(connection_pool=pool)


def open_client(url: str | Sequence[str], cluster: bool, pool_size: int, pool_timeout: float,
                timeout: float | None) -> Any:
    """A client for the cache to own: a cluster client for a list of startup
    nodes or ``cluster=True`` (see ``cluster``), else :func:`sync_client`."""
    if cluster or not isinstance(url, str):
        from .cluster import cluster_client
        return cluster_client(url, pool_size, timeout)
    return sync_client(url, pool_size, pool_timeout, timeout)


def open_async_client(url: str | Sequence[str], cluster: bool, pool_size: int, pool_timeout: float,
                      timeout: float | None) -> Any:
    if cluster or not isinstance(url, str):
        from .cluster import async_cluster_client
        return async_cluster_client(url, pool_size, timeout)
    return async_client(url, pool_size, pool_timeout, timeout)


def gate_size(client: Any, pool_size: int) -> int:
    """The cache's slots: ``pool_size``, but never more than the client's pool
    holds (a redis-py 8 default pool of 100, a user's pool of 10)."""
    pool = getattr(client, "connection_pool", None)
    limit = getattr(pool, "max_connections", None)
    if isinstance(limit, int) and limit > 0:
        return max(1, min(pool_size, limit))
    return pool_size
