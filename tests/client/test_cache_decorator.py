"""The @cached decorator: stable keys, invalidate/refresh, sync and async."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
from typing import Any

import pytest
import redis

from ringcache.client import AsyncCache, Cache, UnrenderableArgument, cached
from ringcache.client.keys import call_key, render


def _key(fn: Any, *args: Any, **kwargs: Any) -> str:
    return call_key(fn, inspect.signature(fn), args, kwargs)


def f(a: int, b: str = "x", *rest: Any, flag: bool = False, **extra: Any) -> None: ...


def test_keys_bind_the_signature() -> None:
    base = _key(f, 1)
    assert base == _key(f, a=1) == _key(f, 1, "x") == _key(f, 1, b="x", flag=False)
    assert base.startswith(f"fn:{__name__}.f:")
    assert _key(f, 1) != _key(f, "1")          # types are part of the rendering
    assert _key(f, 1) != _key(f, 1.0)
    assert _key(f, True) != _key(f, 1)
    assert _key(f, 1, z=1, y=2) == _key(f, 1, y=2, z=1)  # **kwargs sorted
    assert _key(f, {"b": 1, "a": 2}) == _key(f, {"a": 2, "b": 1})  # dict order ignored
    assert _key(f, {3, 1, 2}) == _key(f, {1, 2, 3})
    assert _key(f, [1, 2]) != _key(f, (1, 2)) != _key(f, [2, 1])
    assert _key(f, 'a"b') != _key(f, 'a\\"b')   # quoting is unambiguous
    long = _key(f, "x" * 1000)
    assert len(long) < 120 and long == _key(f, "x" * 1000)  # long renderings are hashed


def test_unrenderable_arguments_are_explained() -> None:
    with pytest.raises(UnrenderableArgument, match=r"argument 'a' of type object.*__cache_key__"):
        _key(f, object())
    with pytest.raises(UnrenderableArgument, match="argument 'extra'|argument 'k'"):
        _key(f, 1, k=[object()])

    class User:
        def __init__(self, uid: int) -> None:
            self.uid = uid

        def __cache_key__(self) -> int:
            return self.uid

    assert _key(f, User(3)) == _key(f, User(3)) != _key(f, User(4))
    assert render(float("nan")) == render(float("nan"))
    with pytest.raises(TypeError):
        _key(f)  # missing required argument: the call itself is wrong


@pytest.fixture
def db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.execute("create table users (id integer primary key, name text)")
    conn.executemany("insert into users values (?, ?)", [(1, "ada"), (2, "bob")])
    return conn


def test_decorator_caches_invalidates_and_refreshes(url: str, raw: redis.Redis, db) -> None:
    calls = []
    with Cache(url, namespace="t:") as cache:
        @cache.cached(ttl=60)
        def user(uid: int, upper: bool = False) -> dict | None:
            calls.append(uid)
            row = db.execute("select name from users where id = ?", (uid,)).fetchone()
            if row is None:
                return None
            return {"id": uid, "name": row[0].upper() if upper else row[0]}

        assert user(1) == {"id": 1, "name": "ada"}
        assert user(uid=1) == {"id": 1, "name": "ada"}
        assert user(1, False) == {"id": 1, "name": "ada"}
        assert calls == [1]
        assert raw.exists("t:" + user.key(1))
        assert user.__name__ == "user"

        db.execute("update users set name = 'ada lovelace' where id = 1")
        assert user(1) == {"id": 1, "name": "ada"}  # still cached
        assert user.invalidate(1) is True
        assert user.invalidate(1) is False
        assert user(1) == {"id": 1, "name": "ada lovelace"}
        assert calls == [1, 1]

        db.execute("update users set name = 'ada l.' where id = 1")
        assert user.refresh(1) == {"id": 1, "name": "ada l."}
        assert user(1) == {"id": 1, "name": "ada l."}
        assert calls == [1, 1, 1]

        assert user(9) is None and user(9) is None  # None is not cached by default
        assert calls[-2:] == [9, 9]
        cache.set(user.key(3), "stale")
        assert user.refresh(3) is None and not raw.exists("t:" + user.key(3))


def test_decorator_custom_key_and_ignore(url: str) -> None:
    with Cache(url) as cache:
        class Repo:
            def __init__(self) -> None:
                self.calls = 0

            @cached(cache, ignore=("self",))
            def get(self, uid: int) -> int:
                self.calls += 1
                return uid * 10

        a, b = Repo(), Repo()
        assert a.get(2) == 20 and b.get(2) == 20
        assert a.calls + b.calls == 1  # the instance is not part of the key

        @cached(cache, key=lambda uid, **_: f"user:{uid}")
        def by_id(uid: int, verbose: bool = False) -> int:
            return uid

        assert by_id(5) == 5 and by_id.key(5) == "user:5"
        assert cache.get("user:5") == 5


def test_decorator_checks_sync_async_pairing(url: str) -> None:
    with Cache(url) as cache:
        with pytest.raises(TypeError, match="AsyncCache"):
            @cached(cache)
            async def coro() -> int:
                return 1
    acache = AsyncCache(url)
    with pytest.raises(TypeError, match="a Cache"):
        @cached(acache)
        def plain() -> int:
            return 1


def test_async_decorator(url: str, db) -> None:
    async def main() -> None:
        calls = []
        async with AsyncCache(url) as cache:
            @cache.cached(ttl=60)
            async def name(uid: int) -> str:
                calls.append(uid)
                await asyncio.sleep(0)
                return str(db.execute("select name from users where id = ?", (uid,)).fetchone()[0])

            assert await name(2) == "bob"
            assert await name(uid=2) == "bob"
            assert calls == [2]
            db.execute("update users set name = 'robert' where id = 2")
            assert await name.invalidate(2) is True
            assert await name(2) == "robert"
            db.execute("update users set name = 'rob' where id = 2")
            assert await name.refresh(2) == "rob"
            assert await name(2) == "rob"
            assert calls == [2, 2, 2]

    asyncio.run(main())


def test_lambdas_and_same_qualname_functions_do_not_share_keys(url: str) -> None:
    """Issue 18: every lambda is ``<lambda>`` and closures of one factory share
    their qualname; their cached results must not mix."""
    with Cache(url) as cache:
        double = cache.cached(ttl=60)(lambda x: 2 * x)
        triple = cache.cached(ttl=60)(lambda x: 3 * x)
        assert double(5) == 10 and triple(5) == 15 and double(5) == 10
        assert double.key(5) != triple.key(5)

        def make(n: int):
            @cache.cached(ttl=60)
            def add(x: int) -> int:
                return x + n
            return add

        add1, add2 = make(1), make(2)
        assert add1(10) == 11 and add2(10) == 12 and add1(10) == 11
        assert add1.key(10) != add2.key(10)
        assert make(1).key(10) == add1.key(10)  # the same closure value: the same entries

        def g(x: int) -> int:
            return x
        first = cache.cached(ttl=60)(g)

        def g(x: int) -> int:  # noqa: F811 - a redefinition with other code
            return -x
        second = cache.cached(ttl=60)(g)
        assert first(4) == 4 and second(4) == -4 and first.key(4) != second.key(4)
        assert cache.cached(ttl=60, name="my.g")(g).key(4) == "fn:my.g:x=i4"


def test_one_decorator_for_every_cache_like_object(url: str, raw: redis.Redis) -> None:
    """``.cached()`` on a Cache, a NearCache, HotKeys and a VersionedNamespace
    (the CacheLike protocol): each caches through its own object."""
    from ringcache.client import HotKeys, NearCache, VersionedNamespace
    calls: list[str] = []
    with Cache(url, namespace="d:") as cache, NearCache(cache) as near:
        hot, users = HotKeys(cache, copies=2), VersionedNamespace(cache, "users")
        functions = []
        for name, target in (("cache", cache), ("near", near), ("hot", hot), ("users", users)):
            @target.cached(ttl=60, name=f"f.{name}")
            def f(x: int, _name: str = name) -> str:
                calls.append(_name)
                return f"{_name}:{x}"
            functions.append(f)
        for f, name in zip(functions, ("cache", "near", "hot", "users")):
            assert f(1) == f(1) == f"{name}:1" and f.cache is not None
        assert sorted(calls) == ["cache", "hot", "near", "users"]
        assert raw.exists("d:fn:f.cache:x=i1,_name=s\"cache\"")
        assert any(k.startswith(b"d:users:v") for k in raw.keys("d:users:v*"))  # through the namespace
        hot_fn, users_fn = functions[2], functions[3]
        hot.replicate(hot_fn.key(1))
        assert hot_fn(1) == "hot:1" and calls.count("hot") == 1
        users.bump()  # the namespace's entries are gone: the function runs again
        assert users_fn(1) == "users:1" and calls.count("users") == 2
        assert functions[1].invalidate(1) and functions[1](1) == "near:1" and calls.count("near") == 2
        assert functions[0].refresh(1) == "cache:1" and calls.count("cache") == 2


def test_async_decorator_on_a_cache_like_object(url: str) -> None:
    from ringcache.client import AsyncVersionedNamespace

    async def run() -> None:
        async with AsyncCache(url) as acache:
            users = AsyncVersionedNamespace(acache, "users")
            calls: list[int] = []

            @users.cached(ttl=60)
            async def user(uid: int) -> str:
                calls.append(uid)
                return f"user {uid}"

            assert await user(1) == await user(1) == "user 1" and calls == [1]
            await users.bump()
            assert await user(1) == "user 1" and calls == [1, 1]
            with pytest.raises(TypeError, match="a Cache"):
                @users.cached()
                def plain() -> int:
                    return 1

    asyncio.run(run())
