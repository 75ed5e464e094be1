"""Cache-aside basics: get/set/delete, MISS vs None, namespaces, serializers,
TTLs (soft expiry by the injected clock, server TTL with jitter), negative
caching, fail-open behaviour. Sync and asyncio."""

from __future__ import annotations

import asyncio
import decimal
import pickle

import pytest
import redis
import redis.asyncio as aredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ringcache.client import MISS, AsyncCache, Cache, SerializationError
from ringcache.client._core import MISS as CORE_MISS


def test_miss_sentinel_is_distinct_from_none() -> None:
    assert MISS is CORE_MISS
    assert MISS is not None and not MISS and repr(MISS) == "MISS"
    assert pickle.loads(pickle.dumps(MISS)) is MISS


def test_get_set_delete_and_cached_none(url: str, raw: redis.Redis) -> None:
    with Cache(url, namespace="app:", none_ttl=30) as cache:
        assert cache.get("k") is MISS
        assert cache.get("k", "dflt") == "dflt"
        cache.set("k", {"a": [1, 2.5, "x"]})
        assert cache.get("k") == {"a": [1, 2.5, "x"]}
        assert raw.exists("app:k") == 1 and raw.exists("k") == 0  # namespace prefix
        cache.set("n", None)
        assert cache.get("n") is None  # a cached None is a value, not a miss
        assert cache.delete("k", "n", "absent") == 2
        assert cache.get("k") is MISS
        m = cache.metrics.as_dict()
        assert (m["hits"], m["misses"]) == (2, 3)


def test_built_from_existing_client_which_it_does_not_close(url: str) -> None:
    client = redis.Redis.from_url(url)
    cache = Cache(client)
    cache.set(b"bytes-key", 1)
    assert cache.get("bytes-key") == 1
    cache.close()
    assert client.ping()  # still usable: the cache did not own it
    client.close()


def test_get_or_set_loads_once_then_hits(url: str) -> None:
    calls = []
    with Cache(url) as cache:
        for _ in range(3):
            assert cache.get_or_set("k", lambda: calls.append(1) or "v", ttl=60) == "v"
        assert len(calls) == 1
        m = cache.metrics.as_dict()
        assert (m["loads"], m["hits"], m["misses"]) == (1, 2, 1)
        assert m["hit_ratio"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("none_ttl, expected_loads", [(None, 2), (5.0, 1)])
def test_negative_caching(url: str, raw: redis.Redis, none_ttl: float | None, expected_loads: int) -> None:
    calls = []

    def loader() -> None:
        calls.append(1)
        return None

    with Cache(url, none_ttl=none_ttl, default_ttl=600, jitter=0) as cache:
        assert cache.get_or_set("user:404", loader) is None
        assert cache.get_or_set("user:404", loader) is None
        assert len(calls) == expected_loads
        if none_ttl is not None:
            # negative entries get their own (shorter) TTL
            assert 0 < raw.pttl("user:404") <= 5000


def test_soft_expiry_follows_the_injected_clock(url: str, raw: redis.Redis, clock) -> None:
    calls = []
    with Cache(url, clock=clock, jitter=0) as cache:
        assert cache.get_or_set("k", lambda: calls.append(1) or len(calls), ttl=10) == 1
        clock.advance(9.9)
        assert cache.get_or_set("k", lambda: calls.append(1) or len(calls), ttl=10) == 1
        clock.advance(0.2)  # past soft expiry; the server TTL has not run out
        assert raw.exists("k")
        assert cache.get("k") is MISS
        assert cache.get("k", allow_stale=True) == 1
        assert cache.get_or_set("k", lambda: calls.append(1) or len(calls), ttl=10) == 2


def test_server_ttl_stale_window_and_jitter(url: str, raw: redis.Redis) -> None:
    # rand() = 1.0 with jitter 0.5 -> ttl 100 * (1 - 0.5) = 50 s; stale_ttl adds 20 s on the server.
    with Cache(url, jitter=0.5, stale_ttl=20, rand=lambda: 1.0) as cache:
        cache.set("k", 1, ttl=100)
        assert 69_000 < raw.pttl("k") <= 70_000
        cache.set("forever", 1, ttl=None)
        assert raw.pttl("forever") == -1
    with Cache(url, jitter=0.5, rand=lambda: 0.0) as cache:
        cache.set("k", 1, ttl=100)
        assert 99_000 < raw.pttl("k") <= 100_000  # jitter only ever shortens


def test_jitter_spreads_keys_written_together(url: str, raw: redis.Redis) -> None:
    with Cache(url, default_ttl=1000, jitter=0.2) as cache:
        for i in range(50):
            cache.set(f"k{i}", i)
        ttls = [raw.pttl(f"k{i}") for i in range(50)]
    assert all(799_000 < t <= 1_000_000 for t in ttls)
    assert len({t // 1000 for t in ttls}) > 10


class Upper:
    name = "upper"

    def dumps(self, value: str) -> bytes:
        return value.upper().encode()

    def loads(self, data: bytes) -> str:
        return data.decode().lower()


@pytest.mark.parametrize("serializer, value", [
    ("json", {"a": [1, None, True, "é"]}),
    ("pickle", {"a": (1, 2), "b": {3}, "d": decimal.Decimal("1.5")}),
    ("raw", b"\x00\xffbinary"),
    (Upper(), "hello"),
])
def test_serializers_round_trip(url: str, serializer, value) -> None:
    with Cache(url, serializer=serializer) as cache:
        cache.set("k", value)
        assert cache.get("k") == value


@pytest.mark.parametrize("serializer, value, type_name", [
    ("json", {1, 2}, "builtins.set"),
    ("json", float("nan"), "builtins.float"),
    ("raw", "text", "builtins.str"),
    ("pickle", lambda: 1, "builtins.function"),
])
def test_unserialisable_value_names_key_and_type(url: str, raw: redis.Redis, serializer, value,
                                                 type_name: str) -> None:
    with Cache(url, serializer=serializer, namespace="ns:") as cache:
        with pytest.raises(SerializationError) as info:
            cache.set("the-key", value)
        assert "'ns:the-key'" in str(info.value) and type_name in str(info.value)
        assert serializer in str(info.value)
        # a loader's unserialisable result is reported too, and nothing is stored
        with pytest.raises(SerializationError):
            cache.get_or_set("other", lambda: value)
        assert raw.keys("*") == []


def test_serializer_validation() -> None:
    with pytest.raises(ValueError, match="unknown serializer"):
        Cache("redis://127.0.0.1:1/0", serializer="yaml")
    with pytest.raises(TypeError, match="dumps"):
        Cache("redis://127.0.0.1:1/0", serializer=object())  # type: ignore[arg-type]
    try:
        import msgpack  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="msgpack"):
            Cache("redis://127.0.0.1:1/0", serializer="msgpack")


def test_foreign_or_undecodable_values_are_misses(url: str, raw: redis.Redis) -> None:
    raw.set("plain", "written by someone else")
    with Cache(url) as cache:
        assert cache.get("plain") is MISS
        assert cache.get_or_set("plain", lambda: 5) == 5
    with Cache(url, serializer="pickle") as cache:
        cache.set("k", [1])
    with Cache(url, serializer="json") as cache:  # serializer changed by a deploy
        assert cache.get("k") is MISS
        assert cache.metrics.as_dict()["errors"] == 1


def test_fail_open_when_the_server_is_down() -> None:
    calls = []
    # nothing listens on port 1; no retries, so the test does not wait out redis-py's backoff
    client = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    with Cache(client, stampede="lock") as cache:
        assert cache.get_or_set("k", lambda: calls.append(1) or "db") == "db"
        assert cache.get("k") is MISS
        assert calls == [1] and cache.metrics.as_dict()["errors"] >= 2
    with Cache(client, fail_open=False) as cache:
        with pytest.raises(redis.ConnectionError):
            cache.get_or_set("k", lambda: "db")


def test_option_validation() -> None:
    for bad in ({"default_ttl": 0}, {"jitter": 1.0}, {"stampede": "mutex"}, {"beta": 0}):
        with pytest.raises(ValueError):
            Cache("redis://127.0.0.1:1/0", **bad)
    with Cache("redis://127.0.0.1:1/0") as cache:
        with pytest.raises(ValueError, match="ttl"):
            cache.resolve_ttl(-1, 1)
        with pytest.raises(TypeError):
            cache.full_key(5)  # type: ignore[arg-type]


def test_async_cache_basics(url: str, clock) -> None:
    async def main() -> None:
        calls = []

        async def loader() -> dict:
            calls.append(1)
            return {"n": len(calls)}

        async with AsyncCache(url, namespace="a:", clock=clock, jitter=0) as cache:
            assert await cache.get("k") is MISS
            assert await cache.get_or_set("k", loader, ttl=10) == {"n": 1}
            assert await cache.get_or_set("k", loader, ttl=10) == {"n": 1}
            assert await cache.get_or_set("sync-loader", lambda: 7) == 7  # plain callables work
            clock.advance(11)
            assert await cache.get_or_set("k", loader, ttl=10) == {"n": 2}
            await cache.set("x", None)
            assert await cache.get("x") is None
            assert await cache.delete("x", "k") == 2
        client = aredis.Redis.from_url(url)
        cache2 = AsyncCache(client)
        await cache2.set("y", [1])
        assert await cache2.get("y") == [1]
        await cache2.aclose()
        assert await client.ping()
        await client.aclose()

    asyncio.run(main())
