"""Versioned keys: invalidate a whole namespace in O(1).

Keys are written as ``<name>:v<version>:<key>``; the version lives in one counter
key ``<name>:__version__``. :meth:`bump` INCRs it, so every key of the old version
becomes unreachable at once (no SCAN, no mass DEL) and dies by its TTL — hence
entries in a versioned namespace must have a TTL.

If the counter is lost (evicted, FLUSHed) it must not restart at a number that
was used before, or old entries would come back to life: a missing counter is
created with ``SET NX`` from the clock in milliseconds, which is larger than any
version reached by bumping (unless one bumps more than 1000 times a second for
the lifetime of the old entries).

``version_cache`` (seconds, by the cache's clock) lets a process reuse the version
it read instead of a GET per operation; a bump by another process is then seen
up to that many seconds late. The default (0) reads it every time.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from ._core import DEFAULT, MISS, StampedeMode, to_key
from .aio import AsyncCache
from .cache import Cache


class _VersionedBase:
    def __init__(self, name: str, version_cache: float) -> None:
        if ":" in name and name.endswith(":"):
            name = name[:-1]
        self.name = name
        self.version_cache = version_cache
        self._version: int | None = None
        self._read_at = 0.0

    def _vkey(self, cache: Any) -> str:
        return str(cache.full_key(f"{self.name}:__version__"))

    def _versioned(self, version: int, key: str | bytes) -> str:
        return f"{self.name}:v{version}:{to_key(key)}"

    def _cached_version(self, now: float) -> int | None:
        if self._version is not None and self.version_cache > 0 and now - self._read_at < self.version_cache:
            return self._version
        return None


class VersionedNamespace(_VersionedBase):
    def __init__(self, cache: Cache, name: str, *, version_cache: float = 0.0) -> None:
        super().__init__(name, version_cache)
        self.cache = cache

    def version(self) -> int:
        now = self.cache.clock()
        cached = self._cached_version(now)
        if cached is not None:
            return cached
        vkey = self._vkey(self.cache)
        raw = self.cache.client.get(vkey)
        if raw is None:
            self.cache.client.set(vkey, int(now * 1000), nx=True)
            raw = self.cache.client.get(vkey)
        self._version, self._read_at = int(raw), now  # type: ignore[arg-type]
        return self._version

    def bump(self) -> int:
        """Invalidate every key of the namespace; returns the new version."""
        self.version()  # creates the counter if missing, so INCR never restarts at 1
        self._version = int(self.cache.client.incr(self._vkey(self.cache)))
        self._read_at = self.cache.clock()
        return self._version

    def key(self, key: str | bytes) -> str:
        return self._versioned(self.version(), key)

    def get(self, key: str | bytes, default: Any = MISS) -> Any:
        return self.cache.get(self.key(key), default)

    def set(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        self.cache.set(self.key(key), value, ttl)

    def delete(self, key: str | bytes) -> int:
        return self.cache.delete(self.key(key))

    def get_or_set(self, key: str | bytes, loader: Callable[[], Any], ttl: float | None | Any = DEFAULT,
                   *, stampede: StampedeMode | Any = DEFAULT) -> Any:
        return self.cache.get_or_set(self.key(key), loader, ttl, stampede=stampede)


class AsyncVersionedNamespace(_VersionedBase):
    def __init__(self, cache: AsyncCache, name: str, *, version_cache: float = 0.0) -> None:
        super().__init__(name, version_cache)
        self.cache = cache

    async def version(self) -> int:
        now = self.cache.clock()
        cached = self._cached_version(now)
        if cached is not None:
            return cached
        vkey = self._vkey(self.cache)
        raw = await self.cache.client.get(vkey)
        if raw is None:
            await self.cache.client.set(vkey, int(now * 1000), nx=True)
            raw = await self.cache.client.get(vkey)
        self._version, self._read_at = int(raw), now  # type: ignore[arg-type]
        return self._version

    async def bump(self) -> int:
        await self.version()
        self._version = int(await self.cache.client.incr(self._vkey(self.cache)))
        self._read_at = self.cache.clock()
        return self._version

    async def key(self, key: str | bytes) -> str:
        return self._versioned(await self.version(), key)

    async def get(self, key: str | bytes, default: Any = MISS) -> Any:
        return await self.cache.get(await self.key(key), default)

    async def set(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        await self.cache.set(await self.key(key), value, ttl)

    async def delete(self, key: str | bytes) -> int:
        return await self.cache.delete(await self.key(key))

    async def get_or_set(self, key: str | bytes, loader: Callable[[], Any | Awaitable[Any]],
                         ttl: float | None | Any = DEFAULT, *,
                         stampede: StampedeMode | Any = DEFAULT) -> Any:
        return await self.cache.get_or_set(await self.key(key), loader, ttl, stampede=stampede)
