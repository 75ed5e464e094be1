"""Pieces shared by the sync and the asyncio cache: no I/O here.

Stored entry format ("envelope"). Every value the cache writes is wrapped:

    b"\\x00RC1" | flags (1 byte) | delta (float64, seconds) | soft expiry (float64) | payload

* ``flags & 1``: the cached result is ``None`` (negative caching); payload empty.
* ``flags & 2``: the payload is zlib-compressed; ``flags & 4``: zstd-compressed.
  A payload of at least ``compress_threshold`` bytes is compressed when that
  makes it smaller; entries written before compression existed (flags 0) and
  uncompressed ones read as before. A reader without zstd treats a zstd entry as
  a miss (with a warning), and its next load rewrites it.
* ``flags & 8``: the entry carries tags. Right after the header: the count
  (uint16), then per tag its name's length (uint16), the name (UTF-8) and the
  tag's version when the entry was loaded (uint64); the payload follows. A
  reader treats the entry as absent when a tag's version has moved since
  (``CacheBase.invalidate_tags``); readers of flags without bit 8 are unchanged.
* ``delta``: how long the loader took (XFetch needs it).
* ``soft expiry``: when the value stops being fresh, by the cache's clock (0 = never).

The server-side TTL (PX) is the soft TTL plus ``stale_ttl``: between the two the
entry is *stale* — not served as a hit, but available to callers waiting on a
lock, who may take it instead of waiting. Keeping expiry in the envelope (and not
only as a server TTL) is what lets tests drive time with an injected clock, and
lets XFetch know the expiry without an extra PTTL round trip.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Final, Literal

from .serializers import SerializationError, Serializer, serializer_name

MAGIC: Final = b"\x00RC1"
_HEADER = struct.Struct(">4sBdd")
FLAG_NONE: Final = 1
FLAG_ZLIB: Final = 2
FLAG_ZSTD: Final = 4
FLAG_TAGS: Final = 8
_COUNT = struct.Struct(">H")
_VERSION = struct.Struct(">Q")

Tags = tuple[tuple[str, int], ...]  # (tag, its version when the entry was loaded)


class Compressor:
    """zlib (always there) or zstd (the ``zstandard`` package, where installed)."""

    def __init__(self, name: str) -> None:
        if name == "auto":
            name = "zstd" if _zstd() is not None else "zlib"
        if name == "zlib":
            self.flag = FLAG_ZLIB
            self.compress: Callable[[bytes], bytes] = lambda data: zlib.compress(data, 1)
        elif name == "zstd":
            module = _zstd()
            if module is None:
                raise ImportError("compression='zstd' needs the zstandard package (pip install zstandard)")
            self.flag = FLAG_ZSTD
            self.compress = module.ZstdCompressor(level=3).compress
        else:
            raise ValueError(f"compression is 'auto', 'zlib', 'zstd' or None, not {name!r}")
        self.name = name


def _zstd() -> Any:
    try:
        import zstandard  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return None
    return zstandard


def decompress(flags: int, payload: bytes) -> bytes:
    if flags & FLAG_ZLIB:
        return zlib.decompress(payload)
    if flags & FLAG_ZSTD:
        module = _zstd()
        if module is None:
            raise ValueError("a zstd-compressed entry, and the zstandard package is not installed")
        return bytes(module.ZstdDecompressor().decompress(payload))
    return payload

StampedeMode = Literal["lock", "xfetch"] | None
STAMPEDE_MODES: Final = ("lock", "xfetch", None)


class _Missing:
    """The MISS sentinel: "no value cached", distinct from a cached None."""

    _instance: "_Missing | None" = None

    def __new__(cls) -> "_Missing":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISS"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISS"


MISS: Final = _Missing()


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = _Default()


@dataclass(frozen=True, slots=True)
class Entry:
    value: Any
    delta: float
    expires_at: float  # 0.0: never
    tags: Tags = ()

    def fresh(self, now: float) -> bool:
        return self.expires_at == 0.0 or now < self.expires_at


def encode(key: str, value: Any, serializer: Serializer, delta: float, expires_at: float,
           compressor: Compressor | None = None, threshold: int = 0, tags: Tags = ()) -> bytes:
    tag_flag, tag_bytes = (FLAG_TAGS, _encode_tags(tags)) if tags else (0, b"")
    if value is None:
        return _HEADER.pack(MAGIC, FLAG_NONE | tag_flag, delta, expires_at) + tag_bytes
    try:
        payload = serializer.dumps(value)
    except Exception as exc:
        raise SerializationError(key, type(value), serializer_name(serializer), str(exc)) from exc
    if not isinstance(payload, (bytes, bytearray)):
        raise SerializationError(key, type(value), serializer_name(serializer),
                                 f"dumps() returned {type(payload).__name__}, not bytes")
    flags = 0
    if compressor is not None and len(payload) >= threshold:
        packed = compressor.compress(bytes(payload))
        if len(packed) < len(payload):
            flags, payload = compressor.flag, packed
    return _HEADER.pack(MAGIC, flags | tag_flag, delta, expires_at) + tag_bytes + bytes(payload)


def _encode_tags(tags: Tags) -> bytes:
    out = [_COUNT.pack(len(tags))]
    for name, version in tags:
        raw = name.encode("utf-8", "surrogateescape")
        out += [_COUNT.pack(len(raw)), raw, _VERSION.pack(version)]
    return b"".join(out)


def _decode_tags(data: bytes, at: int) -> tuple[Tags, int]:
    (count,), at = _COUNT.unpack_from(data, at), at + _COUNT.size
    tags = []
    for _ in range(count):
        (size,), at = _COUNT.unpack_from(data, at), at + _COUNT.size
        name, at = data[at:at + size].decode("utf-8", "surrogateescape"), at + size
        (version,), at = _VERSION.unpack_from(data, at), at + _VERSION.size
        tags.append((name, version))
    return tuple(tags), at


def decode(data: bytes, serializer: Serializer) -> Entry | None:
    """The entry, or None for bytes this cache did not write (treated as a miss)."""
    if len(data) < _HEADER.size or not data.startswith(MAGIC):
        return None
    _, flags, delta, expires_at = _HEADER.unpack_from(data)
    tags: Tags = ()
    at = _HEADER.size
    if flags & FLAG_TAGS:
        tags, at = _decode_tags(data, at)
    if flags & FLAG_NONE:
        return Entry(None, delta, expires_at, tags)
    payload = data[at:]
    if flags & (FLAG_ZLIB | FLAG_ZSTD):
        payload = decompress(flags, payload)
    return Entry(serializer.loads(payload), delta, expires_at, tags)


def jittered(ttl: float, jitter: float, rand: Callable[[], float]) -> float:
    """Shorten ttl by up to ``jitter`` (a fraction): keys written together spread out
    their expiry, and no key ever lives longer than asked."""
    if jitter <= 0:
        return ttl
    return ttl * (1.0 - jitter * rand())


def xfetch_due(entry: Entry, now: float, beta: float, rand: Callable[[], float]) -> bool:
    """XFetch (Vattani, Chierichetti, Lowenstein, VLDB 2015).

    Recompute early when ``now - delta * beta * ln(u) >= expiry`` with u uniform in
    (0, 1]. -ln(u) is exponentially distributed, so the chance of an early recompute
    rises smoothly as expiry approaches, faster for values that are slow to load
    (large delta); beta > 1 favours earlier recomputation. Among many readers the
    first to "win" recomputes while the others keep getting the fresh value.
    """
    if entry.expires_at == 0.0 or entry.delta <= 0.0:
        return False
    u = rand()
    if u <= 0.0:
        return True
    return now - entry.delta * beta * math.log(u) >= entry.expires_at


def to_key(key: str | bytes) -> str:
    if isinstance(key, bytes):
        return key.decode("utf-8", "surrogateescape")
    if isinstance(key, str):
        return key
    raise TypeError(f"cache keys are str or bytes, not {type(key).__name__}")


def check_mode(mode: Any) -> StampedeMode:
    if mode not in STAMPEDE_MODES:
        raise ValueError(f"stampede must be 'lock', 'xfetch' or None, not {mode!r}")
    return mode  # type: ignore[no-any-return]
