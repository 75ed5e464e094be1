"""Compression above a size threshold, flagged in the envelope (issue 18)."""

from __future__ import annotations

import struct
import zlib

import pytest
import redis

from ringcache.client import Cache
from ringcache.client._core import FLAG_ZLIB, FLAG_ZSTD, MAGIC, _HEADER


def flags_of(raw: redis.Redis, key: str) -> tuple[int, int]:
    data = raw.get(key)
    assert data is not None and data.startswith(MAGIC)
    return _HEADER.unpack_from(data)[1], len(data)


def test_large_values_are_compressed_small_ones_not(url: str, raw: redis.Redis) -> None:
    big = {"text": "lorem ipsum " * 500}
    with Cache(url, compression="zlib", compress_threshold=1024) as cache:
        cache.set("big", big)
        cache.set("small", {"a": 1})
        flags, size = flags_of(raw, "big")
        assert flags & FLAG_ZLIB and size < 1000            # 6000 bytes of JSON, a few dozen stored
        assert flags_of(raw, "small")[0] == 0
        assert cache.get("big") == big and cache.get("small") == {"a": 1}
        assert cache.get_many(["big", "small"]) == {"big": big, "small": {"a": 1}}
    with Cache(url, compression=None) as plain:
        plain.set("big2", big)
        assert flags_of(raw, "big2")[0] == 0
        assert plain.get("big") == big  # a reader with compression off still reads the flag


def test_entries_written_before_compression_still_read(url: str, raw: redis.Redis) -> None:
    # the envelope of the previous release: flags 0, JSON payload
    old = struct.pack(">4sBdd", MAGIC, 0, 0.0, 0.0) + b'{"v": "old"}'
    raw.set("old", old)
    with Cache(url) as cache:
        assert cache.get("old") == {"v": "old"}


def test_unknown_compression_and_missing_zstd(url: str, raw: redis.Redis) -> None:
    with pytest.raises(ValueError):
        Cache(url, compression="lz4")
    try:
        import zstandard  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError):
            Cache(url, compression="zstd")
        # a zstd entry written elsewhere reads as a miss here, and the load rewrites it
        raw.set("z", struct.pack(">4sBdd", MAGIC, FLAG_ZSTD, 0.0, 0.0) + b"\x28\xb5\x2f\xfd")
        with Cache(url) as cache:
            assert cache.get_or_set("z", lambda: "reloaded") == "reloaded"
            assert cache.metrics.as_dict()["errors"] >= 1  # the read, and the re-read under the lock
    else:  # pragma: no cover - where zstandard is installed
        with Cache(url, compression="zstd", compress_threshold=10) as cache:
            cache.set("z", "y" * 100)
            assert flags_of(raw, "z")[0] & FLAG_ZSTD and cache.get("z") == "y" * 100
    assert zlib.decompress(zlib.compress(b"x")) == b"x"
