"""``@cached``: cache-aside for function results, sync and async.

    @cached(cache, ttl=60)
    def user(user_id: int) -> dict: ...

    user(7)                 # get_or_set("fn:module.user:user_id=i7", lambda: user(7))
    user.invalidate(7)      # delete the cached result
    user.refresh(7)         # call the function now and store its result
    user.key(7)             # the cache key, for logs and debugging

``cache`` is anything :class:`CacheLike`: a :class:`Cache` or an
:class:`AsyncCache`, or an object in front of one (:class:`NearCache`,
:class:`HotKeys`, :class:`VersionedNamespace`, their asyncio twins); each also
has ``.cached(...)``, the same decorator bound to it (one way to decorate).

The key comes from :func:`ringcache.client.keys.call_key`: the call bound to the
signature (defaults applied, keyword arguments sorted) and rendered canonically,
so ``user(7)`` and ``user(user_id=7)`` share one entry. Sync functions need a
:class:`Cache`, coroutine functions an :class:`AsyncCache`.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Iterable, ParamSpec, Protocol, TypeVar, cast

from ._core import DEFAULT, StampedeMode
from .keys import call_key, register_name, render


P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class CacheLike(Protocol):
    """What ``@cached`` uses. The methods may be coroutine functions (an asyncio
    cache-like object, for coroutine functions). Options only a cache has
    (``beta``, ``should_cache``) come from the cache underneath (``.cache``)."""

    def get_or_set(self, key: str, loader: Callable[[], Any], ttl: Any = ..., *,
                   stampede: Any = ...) -> Any: ...

    def set(self, key: str, value: Any, ttl: Any = ...) -> Any: ...

    def delete(self, key: str, /) -> Any: ...


def underlying(cache: Any) -> Any:
    """The Cache or AsyncCache under a cache-like object (following ``.cache``)."""
    from ._base import CacheBase
    seen = cache
    for _ in range(8):
        if isinstance(seen, CacheBase):
            return seen
        seen = getattr(seen, "cache", None)
    raise TypeError(f"{type(cache).__name__} is not cache-like: a Cache, an AsyncCache, or an object "
                    "with get_or_set/set/delete in front of one (its .cache)")


class Decorates:
    """``obj.cached(ttl=60)``: :func:`cached` bound to a cache-like object."""

    def cached(self, ttl: float | None | Any = DEFAULT,
               **options: Any) -> Callable[[Callable[P, R]], CachedFunction[P, R]]:
        """``@obj.cached(ttl=60)``: see :func:`ringcache.client.cached`."""
        return cached(cast(CacheLike, self), ttl=ttl, **options)


class CachedFunction(Protocol[P, R_co]):
    """What ``@cached`` returns: the function with its own signature and result
    type (for a coroutine function, the coroutine), plus its helpers."""

    cache: Any

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def key(self, *args: P.args, **kwargs: P.kwargs) -> str: ...

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> Any: ...  # bool, or an awaitable of one

    def refresh(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...


def cached(cache: CacheLike, ttl: float | None | Any = DEFAULT, *, stampede: StampedeMode | Any = DEFAULT,
           beta: float | None = None, key: Callable[..., str] | None = None,
           ignore: Iterable[str] = (), name: str | None = None,
           tags: Iterable[str] | Callable[..., Iterable[str]] | None = None
           ) -> Callable[[Callable[P, R]], CachedFunction[P, R]]:
    """Decorate a function so its results are cached in ``cache``.

    ``key``: a function of the same arguments returning the key (replaces the
    rendering). ``ignore``: argument names left out of the key (``"self"`` for
    methods whose instance does not change the result). ``name``: the function's
    part of the key (default: ``module.qualname``, made unique for lambdas,
    local functions and redefinitions: see :func:`keys.function_name`).
    ``tags``: the tags of every result (see ``Cache.invalidate_tags``), or a
    function of the call's arguments returning them; needs a Cache/AsyncCache.
    """
    from .aio import AsyncCache

    ignored = tuple(ignore)
    base = underlying(cache)
    extra: dict[str, Any] = {} if beta is None else {"beta": beta}  # a Cache's options; the
    static_tags = None if tags is None or callable(tags) else tuple(tags)  # wrappers take none

    def tagged(args: Any, kwargs: Any) -> dict[str, Any]:
        if tags is None:
            return {}
        return {"tags": static_tags if static_tags is not None
                else tuple(tags(*args, **kwargs))}  # type: ignore[operator]

    def decorate(fn: Callable[P, R]) -> CachedFunction[P, R]:
        signature = inspect.signature(fn)
        is_async = inspect.iscoroutinefunction(fn)
        if is_async != isinstance(base, AsyncCache):
            raise TypeError(f"{fn.__qualname__} is a {'coroutine' if is_async else 'plain'} function: "
                            f"cache it with {'an AsyncCache' if is_async else 'a Cache'} (or an object in "
                            "front of one)")

        fn_name = name if name is not None else register_name(fn)

        def make_key(*args: Any, **kwargs: Any) -> str:
            if key is not None:
                return key(*args, **kwargs)
            return call_key(fn, signature, args, kwargs, ignored, fn_name)

        if is_async:
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await cache.get_or_set(make_key(*args, **kwargs), lambda: fn(*args, **kwargs),
                                              ttl, stampede=stampede, **extra, **tagged(args, kwargs))

            async def async_invalidate(*args: Any, **kwargs: Any) -> bool:
                return bool(await cache.delete(make_key(*args, **kwargs)))

            async def async_refresh(*args: Any, **kwargs: Any) -> Any:
                value = await fn(*args, **kwargs)  # type: ignore[misc]  # fn is a coroutine function here
                if base.should_cache(value):
                    await cache.set(make_key(*args, **kwargs), value, ttl, **tagged(args, kwargs))
                else:  # as get_or_set: a None result is not cached without none_ttl
                    await cache.delete(make_key(*args, **kwargs))
                return value

            wrapper: Any = async_wrapper
            wrapper.invalidate, wrapper.refresh = async_invalidate, async_refresh
        else:
            @functools.wraps(fn)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                return cache.get_or_set(make_key(*args, **kwargs), lambda: fn(*args, **kwargs),
                                        ttl, stampede=stampede, **extra, **tagged(args, kwargs))

            def sync_invalidate(*args: Any, **kwargs: Any) -> bool:
                return bool(cache.delete(make_key(*args, **kwargs)))

            def sync_refresh(*args: Any, **kwargs: Any) -> Any:
                value = fn(*args, **kwargs)
                if base.should_cache(value):
                    cache.set(make_key(*args, **kwargs), value, ttl, **tagged(args, kwargs))
                else:  # as get_or_set: a None result is not cached without none_ttl
                    cache.delete(make_key(*args, **kwargs))
                return value

            wrapper = sync_wrapper
            wrapper.invalidate, wrapper.refresh = sync_invalidate, sync_refresh
        wrapper.key = make_key
        wrapper.cache = cache
        typed: CachedFunction[P, R] = wrapper
        return typed

    return decorate


def cached_many(cache: Any, ttl: float | None | Any = DEFAULT, *, stampede: StampedeMode | Any = DEFAULT,
                key: Callable[[Any], str] | None = None,
                name: str | None = None) -> Callable[[Callable[..., Any]], Any]:
    """The multi-key decorator (dogpile's ``cache_multi_on_arguments``): the
    function takes any number of ids and returns their values, as a list in the
    same order (or a dict id -> value)::

        @cache.cached_many(ttl=60)
        def products(*ids: int) -> list[dict | None]: ...

        products(1, 2, 3)          # one MGET; the function called once, with the missing ids
        products.invalidate(2, 3)  # one DEL
        products.refresh(1)        # call now, store, return [value]
        products.key(1)            # the key of one id

    Each id is cached under its own key (``fn:<name>:<rendered id>``, or ``key(id)``),
    with get_or_set_many's per-key stampede protection.
    """
    from .aio import AsyncCache
    from .cache import Cache

    def decorate(fn: Callable[..., Any]) -> Any:
        is_async = inspect.iscoroutinefunction(fn)
        if is_async and not isinstance(cache, AsyncCache):
            raise TypeError(f"{fn.__qualname__} is a coroutine function: cache it with an AsyncCache")
        if not is_async and not isinstance(cache, Cache):
            raise TypeError(f"{fn.__qualname__} is a plain function: cache it with a Cache")
        fn_name = name if name is not None else register_name(fn)

        def make_key(item: Any) -> str:
            return key(item) if key is not None else f"fn:{fn_name}:{render(item, 'the id')}"

        def plan(ids: tuple[Any, ...]) -> tuple[list[str], dict[str, Any], Callable[[list[str]], Any]]:
            keys = [make_key(i) for i in ids]
            by_key = dict(zip(keys, ids))

            def load(missing: list[str]) -> Any:
                return _aligned(fn(*[by_key[k] for k in missing]), [by_key[k] for k in missing], missing)

            return keys, by_key, load

        if is_async:
            @functools.wraps(fn)
            async def async_wrapper(*ids: Any) -> list[Any]:
                keys, _, load = plan(ids)

                async def aload(missing: list[str]) -> Any:
                    return await load(missing)

                values = await cache.get_or_set_many(keys, aload, ttl, stampede=stampede)
                return [values[k] for k in keys]

            async def async_invalidate(*ids: Any) -> int:
                return int(await cache.delete(*[make_key(i) for i in ids]))

            async def async_refresh(*ids: Any) -> list[Any]:
                keys = [make_key(i) for i in ids]
                values = _aligned(await fn(*ids), list(ids), keys)
                await cache.set_many({k: v for k, v in values.items() if cache.should_cache(v)}, ttl)
                return [values[k] for k in keys]

            wrapper: Any = async_wrapper
            wrapper.invalidate, wrapper.refresh = async_invalidate, async_refresh
        else:
            @functools.wraps(fn)
            def sync_wrapper(*ids: Any) -> list[Any]:
                keys, _, load = plan(ids)
                values = cache.get_or_set_many(keys, load, ttl, stampede=stampede)
                return [values[k] for k in keys]

            def sync_invalidate(*ids: Any) -> int:
                return int(cache.delete(*[make_key(i) for i in ids]))

            def sync_refresh(*ids: Any) -> list[Any]:
                keys = [make_key(i) for i in ids]
                values = _aligned(fn(*ids), list(ids), keys)
                cache.set_many({k: v for k, v in values.items() if cache.should_cache(v)}, ttl)
                return [values[k] for k in keys]

            wrapper = sync_wrapper
            wrapper.invalidate, wrapper.refresh = sync_invalidate, sync_refresh
        wrapper.key = make_key
        wrapper.cache = cache
        return wrapper

    return decorate


def _aligned(result: Any, ids: list[Any], keys: list[str]) -> Any:
    """The function's values as {key: value}: from a list in the order of ids, or a
    dict id -> value (an id it leaves out is None). An awaitable is awaited first."""
    if inspect.isawaitable(result):
        async def wait() -> Any:
            return _aligned(await result, ids, keys)
        return wait()
    if isinstance(result, dict):
        return {k: result.get(i) for i, k in zip(ids, keys)}
    values = list(result)
    if len(values) != len(ids):
        raise ValueError(f"the cached_many function returned {len(values)} values for {len(ids)} ids")
    return dict(zip(keys, values))
