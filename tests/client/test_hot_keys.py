"""Hot keys: copies on distinct slots (hash tags included), reads from a random
copy, writes and deletes to all, a map of replicated keys shared by processes,
and the top-k sketch that promotes hot keys by itself. Deterministic: seeded RNGs."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest
import redis
from redis.crc import key_slot

from conftest import ManualClock
from ringcache.client import MISS, AsyncCache, Cache
from ringcache.client.hot_keys import AsyncHotKeys, HotKeyDetector, HotKeys, TopK, copy_keys


def slots(keys: list[str], namespace: str = "") -> set[int]:
    return {key_slot((namespace + k).encode()) for k in keys}


@pytest.mark.parametrize("key", ["flag", "{user:1}:profile", "a{b}c", "{}", "x" * 300])
@pytest.mark.parametrize("copies", [2, 4, 16])
def test_copies_land_on_distinct_slots(key: str, copies: int) -> None:
    keys = copy_keys(key, copies, "app:")
    assert keys[0] == key and len(set(keys)) == copies
    assert len(slots(keys, "app:")) == copies       # a {tag} in the key does not pin them
    assert copy_keys(key, copies, "app:") == keys   # every process computes the same


def test_a_namespace_with_a_hash_tag_cannot_spread() -> None:
    with pytest.raises(ValueError, match="hash tag"):
        copy_keys("k", 2, "{shop}:")
    with pytest.raises(ValueError):
        copy_keys("k", 0)


def test_topk_finds_the_heavy_hitters_of_a_zipf_stream() -> None:
    rng = random.Random(7)
    keys = [f"k{i}" for i in range(2000)]
    weights = [1 / (i + 1) ** 1.1 for i in range(len(keys))]
    stream = rng.choices(keys, weights, k=30_000)
    truth = Counter(stream)
    sketch = TopK(10, width=512, depth=4, seed=1)
    for key in stream:
        sketch.add(key)
    found = [k for k, _ in sketch.top()]
    true_top = [k for k, _ in truth.most_common(10)]
    assert len(set(found) & set(true_top)) >= 9
    assert found[:3] == true_top[:3]
    for key in keys[:50]:                            # count-min never undercounts
        assert sketch.estimate(key) >= truth[key]
    assert sketch.total == 30_000
    before = sketch.estimate("k0")
    sketch.decay()
    assert sketch.estimate("k0") == before // 2 and sketch.total == 15_000


def test_detector_promotes_and_demotes_with_hysteresis() -> None:
    detector = HotKeyDetector(window=100, threshold=0.2, min_count=5, k=8, seed=3)
    rng = random.Random(11)
    decisions = []
    for _ in range(100):
        decisions.append(detector.observe("hot" if rng.random() < 0.5 else f"cold{rng.randrange(500)}"))
    assert decisions[:-1] == [None] * 99
    assert decisions[-1] == (["hot"], [])
    for _ in range(99):
        detector.observe(f"cold{rng.randrange(500)}", hot=["hot"])
    # counts halve every window: ~50 -> 25 -> 12 stay above half the bar (20 / 2),
    # so a key that goes cold is kept two windows (no flapping), dropped at the third
    assert detector.observe("x", hot=["hot"]) == ([], [])
    results = []
    for _ in range(200):
        result = detector.observe(f"cold{rng.randrange(500)}", hot=["hot"])
        if result is not None:
            results.append(result)
    assert results == [([], []), ([], ["hot"])]


@pytest.fixture
def cache(url: str, clock: ManualClock) -> Cache:
    c = Cache(url, namespace="app:", clock=clock, jitter=0, rand=random.Random(5).random)
    yield c
    c.close()


def test_replicated_key_reads_spread_writes_and_deletes_reach_all(cache: Cache, raw: redis.Redis) -> None:
    hot = HotKeys(cache, copies=4, copy_ttl=5.0)
    hot.set("flag", "on", ttl=60)
    assert raw.get("app:flag") is not None
    hot.replicate("flag")
    copies = copy_keys("flag", 4, "app:")
    hot.set("flag", "on", ttl=60)
    for copy in copies:
        assert raw.get("app:" + copy) is not None
    assert 0 < raw.pttl("app:" + copies[1]) <= 5000    # copies keep a short TTL
    assert 55_000 < raw.pttl("app:flag") <= 60_000
    for _ in range(40):
        assert hot.get("flag") == "on"
    # with rand seeded, 3 of 4 copies are not copy 0: about 30 of 40 reads
    assert 20 <= cache.metrics.as_dict()["hot_copy_reads"] <= 38
    assert hot.delete("flag") == 1
    assert raw.exists(*("app:" + c for c in copies)) == 0
    assert hot.get("flag") is MISS


def test_copies_fill_from_copy_zero_and_get_or_set_loads_once(cache: Cache, raw: redis.Redis) -> None:
    hot = HotKeys(cache, copies=3)
    hot.replicate("cfg")
    calls = []
    for _ in range(30):
        assert hot.get_or_set("cfg", lambda: calls.append(1) or {"v": 1}, ttl=60) == {"v": 1}
    assert calls == [1]
    for copy in copy_keys("cfg", 3, "app:"):
        assert raw.get("app:" + copy) is not None
    # a writer that does not go through HotKeys updates copy 0 only; copies stay
    # stale for at most copy_ttl (their own TTL), the documented failure mode
    cache.set("cfg", {"v": 2})
    seen = {str(hot.get("cfg")) for _ in range(30)}
    assert seen == {str({"v": 1}), str({"v": 2})}


def test_the_replication_map_is_shared_between_processes(cache: Cache, url: str, clock: ManualClock,
                                                         raw: redis.Redis) -> None:
    a = HotKeys(cache, copies=2, sync_interval=1.0)
    with Cache(url, namespace="app:", clock=clock, jitter=0) as other_cache:
        b = HotKeys(other_cache, copies=2, sync_interval=1.0)
        b.get("k")                               # b synced: nothing replicated yet
        a.replicate("k")
        assert a.replicated() == {"k": 2} and b.replicated() == {}
        clock.advance(1.0)
        b.set("k", 42)                           # b re-reads the map, writes both copies
        assert b.replicated() == {"k": 2}
        assert all(raw.get("app:" + c) for c in copy_keys("k", 2, "app:"))
        a.unreplicate("k")
        assert raw.get("app:" + copy_keys("k", 2, "app:")[1]) is None
        clock.advance(1.0)
        b.get("k")
        assert b.replicated() == {}
        # promotions lapse by themselves after promote_for
        c = HotKeys(other_cache, copies=2, promote_for=10, sync_interval=0)
        c.replicate("z")
        clock.advance(11)
        c.get("z")
        assert c.replicated() == {}


def test_auto_detection_replicates_the_hot_key(cache: Cache, raw: redis.Redis, clock: ManualClock) -> None:
    detector = HotKeyDetector(window=200, threshold=0.1, min_count=10, seed=2)
    hot = HotKeys(cache, copies=3, auto=True, detector=detector, sync_interval=3600)
    cache.set("popular", "yes")
    rng = random.Random(3)
    for _ in range(200):
        hot.get("popular" if rng.random() < 0.4 else f"user:{rng.randrange(1000)}")
    assert hot.replicated() == {"popular": 3}
    assert cache.metrics.as_dict()["hot_promotions"] == 1
    until = hot._until["popular"]
    clock.advance(hot.promote_for * 0.6)          # past half its life, and still hot: renewed
    for _ in range(200):
        hot.get("popular" if rng.random() < 0.4 else f"user:{rng.randrange(1000)}")
    assert hot._until["popular"] > until and cache.metrics.as_dict()["hot_promotions"] == 1
    for _ in range(20):
        assert hot.get("popular") == "yes"        # copies fill from copy 0 as they are read
    assert cache.metrics.as_dict()["hot_copy_reads"] > 0
    for _ in range(800):                          # cold for 4 windows: demoted, copies deleted
        hot.get(f"user:{rng.randrange(1000)}")
    assert hot.replicated() == {} and cache.metrics.as_dict()["hot_demotions"] == 1
    assert raw.get("app:" + copy_keys("popular", 3, "app:")[1]) is None


def test_async_hot_keys(url: str, raw: redis.Redis) -> None:
    async def main() -> None:
        async with AsyncCache(url, namespace="app:", rand=random.Random(9).random) as cache:
            hot = AsyncHotKeys(cache, copies=4)
            await hot.replicate("flag")
            calls = []

            async def load() -> str:
                calls.append(1)
                return "on"

            for _ in range(20):
                assert await hot.get_or_set("flag", load, ttl=60) == "on"
            assert calls == [1] and cache.metrics.as_dict()["hot_copy_reads"] > 0
            assert raw.exists(*("app:" + c for c in copy_keys("flag", 4, "app:"))) == 4
            await hot.set("flag", "off")
            assert {await hot.get("flag") for _ in range(10)} == {"off"}
            assert await hot.delete("flag") == 1
            assert raw.exists(*("app:" + c for c in copy_keys("flag", 4, "app:"))) == 0
            await hot.unreplicate("flag")
            assert hot.replicated() == {}

    asyncio.run(main())
