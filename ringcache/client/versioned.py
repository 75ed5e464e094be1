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

The operations are written once, as sans-I/O steps in ``_VersionedBase`` (see
``_steps``); the sync class runs them, the asyncio class awaits them.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, TypeVar

from .decorator import Decorates
from ._core import DEFAULT, MISS, StampedeMode, to_key
from ._steps import Call, Steps, aperform, arun, perform, run
from .aio import AsyncCache
from .cache import Cache

T = TypeVar("T")


class _VersionedBase(Decorates):
    def __init__(self, cache: Any, name: str, version_cache: float) -> None:
        if ":" in name and name.endswith(":"):
            name = name[:-1]
        self.cache = cache
        self.name = name
        self.version_cache = version_cache
        self._version: int | None = None
        self._read_at = 0.0

    def _vkey(self) -> str:
        return str(self.cache.full_key(f"{self.name}:__version__"))

    def _versioned(self, version: int, key: str | bytes) -> str:
        return f"{self.name}:v{version}:{to_key(key)}"

    def _version_steps(self) -> Steps[int]:
        now = self.cache.clock()
        if self._version is not None and self.version_cache > 0 and now - self._read_at < self.version_cache:
            return self._version
        client, vkey = self.cache.client, self._vkey()
        raw = yield Call(client.get, vkey)
        if raw is None:
            yield Call(client.set, vkey, int(now * 1000), nx=True)
            raw = yield Call(client.get, vkey)
        self._version, self._read_at = int(raw), now
        return self._version

    def _bump_steps(self) -> Steps[int]:
        yield from self._version_steps()  # creates the counter if missing, so INCR never restarts at 1
        self._version = int((yield Call(self.cache.client.incr, self._vkey())))
        self._read_at = self.cache.clock()
        return self._version

    def _key_steps(self, key: str | bytes) -> Steps[str]:
        return self._versioned((yield from self._version_steps()), key)

    def _cache_steps(self, method: Callable[..., Any], key: str | bytes, *args: Any,
                     **kwargs: Any) -> Steps[Any]:
        """``method(<versioned key>, *args)``: a method of the cache."""
        versioned = yield from self._key_steps(key)
        return (yield Call(method, versioned, *args, **kwargs))


class VersionedNamespace(_VersionedBase):
    def __init__(self, cache: Cache, name: str, *, version_cache: float = 0.0) -> None:
        super().__init__(cache, name, version_cache)

    def _run(self, steps: Steps[T]) -> T:
        return run(steps, lambda request: perform(self.cache.client, request))

    def version(self) -> int:
        return self._run(self._version_steps())

    def bump(self) -> int:
        """Invalidate every key of the namespace; returns the new version."""
        return self._run(self._bump_steps())

    def key(self, key: str | bytes) -> str:
        return self._run(self._key_steps(key))

    def get(self, key: str | bytes, default: Any = MISS) -> Any:
        return self._run(self._cache_steps(self.cache.get, key, default))

    def set(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        self._run(self._cache_steps(self.cache.set, key, value, ttl))

    def delete(self, key: str | bytes) -> int:
        return int(self._run(self._cache_steps(self.cache.delete, key)))

    def get_or_set(self, key: str | bytes, loader: Callable[[], Any], ttl: float | None | Any = DEFAULT,
                   *, stampede: StampedeMode | Any = DEFAULT) -> Any:
        return self._run(self._cache_steps(self.cache.get_or_set, key, loader, ttl, stampede=stampede))


class AsyncVersionedNamespace(_VersionedBase):
    def __init__(self, cache: AsyncCache, name: str, *, version_cache: float = 0.0) -> None:
        super().__init__(cache, name, version_cache)

    async def _run(self, steps: Steps[T]) -> T:
        return await arun(steps, lambda request: aperform(self.cache.client, request))

    async def version(self) -> int:
        return await self._run(self._version_steps())

    async def bump(self) -> int:
        return await self._run(self._bump_steps())

    async def key(self, key: str | bytes) -> str:
        return await self._run(self._key_steps(key))

    async def get(self, key: str | bytes, default: Any = MISS) -> Any:
        return await self._run(self._cache_steps(self.cache.get, key, default))

    async def set(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        await self._run(self._cache_steps(self.cache.set, key, value, ttl))

    async def delete(self, key: str | bytes) -> int:
        return int(await self._run(self._cache_steps(self.cache.delete, key)))

    async def get_or_set(self, key: str | bytes, loader: Callable[[], Any | Awaitable[Any]],
                         ttl: float | None | Any = DEFAULT, *,
                         stampede: StampedeMode | Any = DEFAULT) -> Any:
        return await self._run(self._cache_steps(self.cache.get_or_set, key, loader, ttl, stampede=stampede))
