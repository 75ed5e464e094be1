"""Hot keys: K copies of a key on different slots, and a top-k sketch that finds them.

Why. In a sharded cache a key lives on one slot, so on one node: a key read by
every request (a feature flag, the home page) makes that node the bottleneck
however many nodes there are. Replicating the *value* under K keys that hash to
K different slots spreads its reads over up to K nodes.

Copies. Copy 0 is the key itself; copy i > 0 is ``{rc<i>.<n>}<key>``: a hash tag
of our own put *before* the key, so a ``{tag}`` inside the key (which would
otherwise pin every copy to the tag's slot) is no longer the first tag, and
``n`` is the first number that gives a slot no earlier copy has (CRC16, as the
cluster computes it). A cache namespace containing a complete hash tag pins every
key to one slot, so replication is refused for it (``ValueError``).

Reads pick a copy at random (the cache's injectable ``rand``). A copy that is
missing is filled from copy 0 (the value's bytes, envelope and all, with the
remaining TTL capped at ``copy_ttl``); a miss of copy 0 is an ordinary
``get_or_set`` with its stampede protection. Writes and deletes through this
class go to every copy.

Which keys are replicated is shared through the server: one string key
``<namespace>__hotkeys__`` holds a JSON map ``key -> [copies, until]``, changed
with WATCH/MULTI (promotions are rare) and re-read by every process every
``sync_interval`` seconds, so all processes write and invalidate all copies.
*How it fails*: a writer that does not go through HotKeys (or has not synced the
map yet) updates copy 0 only, and readers of the other copies see the old value
until ``copy_ttl`` ends — which is why copies have their own short TTL.

Detection (``auto=True``). Every read feeds a :class:`TopK` sketch: a count-min
sketch (``depth`` rows of ``width`` counters, conservative update, so estimates
never undercount and overcount rarely) plus the ``k`` keys with the highest
estimates. Every ``window`` reads, keys whose estimate is at least ``threshold``
of the window's reads are promoted; replicated keys that fell below half of it
(hysteresis: no flapping at the boundary) are demoted; then every counter is
halved, so the sketch follows the recent past.

Each flow is written once, as sans-I/O steps in ``_HotKeysBase`` (see ``_steps``);
:class:`HotKeys` runs them, :class:`AsyncHotKeys` awaits them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Iterable, TypeVar

import redis
from redis.crc import key_slot

from . import _core
from ._core import DEFAULT, MISS, StampedeMode
from .decorator import Decorates
from ._steps import Call, Pipeline, Steps, Watched, aperform, arun, perform, run
from .aio import AsyncCache
from .cache import Cache

T = TypeVar("T")

REGISTRY = "__hotkeys__"


def _slot(key: str) -> int:
    return int(key_slot(key.encode("utf-8", "surrogateescape")))


def copy_keys(key: str, copies: int, namespace: str = "") -> list[str]:
    """The K keys (without the namespace) holding copies of key, on K different
    slots of ``namespace + copy``. Deterministic: every process computes the same."""
    if copies < 1:
        raise ValueError("copies must be at least 1")
    if copies > 64:
        raise ValueError("more than 64 copies spread nothing further")
    out = [key]
    used = {_slot(namespace + key)}
    for i in range(1, copies):
        for n in range(1000):
            candidate = "{rc%d.%d}%s" % (i, n, key)
            slot = _slot(namespace + candidate)
            if slot not in used:
                break
        else:
            raise ValueError(f"the copies of {key!r} all hash to one slot: the namespace "
                             f"{namespace!r} contains a hash tag, which pins every key to its slot")
        used.add(slot)
        out.append(candidate)
    return out


class TopK:
    """Heavy hitters: a count-min sketch with conservative update plus the k keys
    with the highest estimates. Deterministic for a given ``seed`` (keyed BLAKE2b,
    not Python's randomised ``hash``)."""

    def __init__(self, k: int = 16, *, width: int = 2048, depth: int = 4, seed: int = 0) -> None:
        if k < 1 or width < 8 or depth < 1:
            raise ValueError("k >= 1, width >= 8, depth >= 1")
        self.k = k
        self.width = width
        self.depth = depth
        self._salt = seed.to_bytes(8, "little", signed=False)
        self._rows = [[0] * width for _ in range(depth)]
        self._top: dict[str, int] = {}
        self.total = 0

    def _cells(self, key: str) -> list[int]:
        digest = hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=16, key=self._salt).digest()
        h1 = int.from_bytes(digest[:8], "little")
        h2 = int.from_bytes(digest[8:], "little") | 1
        return [(h1 + i * h2) % self.width for i in range(self.depth)]

    def add(self, key: str, count: int = 1) -> int:
        """Count key; returns its new estimate."""
        cells = self._cells(key)
        rows = self._rows
        estimate = min(rows[i][c] for i, c in enumerate(cells)) + count
        for i, c in enumerate(cells):
            # conservative update: raise only the counters below the new estimate
            if rows[i][c] < estimate:
                rows[i][c] = estimate
        self.total += count
        top = self._top
        if key in top or len(top) < self.k:
            top[key] = estimate
        else:
            low = min(top, key=top.__getitem__)
            if estimate > top[low]:
                del top[low]
                top[key] = estimate
        return estimate

    def estimate(self, key: str) -> int:
        return min(self._rows[i][c] for i, c in enumerate(self._cells(key)))

    def top(self, n: int | None = None) -> list[tuple[str, int]]:
        ranked = sorted(self._top.items(), key=lambda kv: (-kv[1], kv[0]))
        return ranked if n is None else ranked[:n]

    def decay(self, factor: float = 0.5) -> None:
        """Scale every counter down (old traffic counts less than new)."""
        for row in self._rows:
            for j, v in enumerate(row):
                row[j] = int(v * factor)
        self._top = {k: int(v * factor) for k, v in self._top.items() if int(v * factor) > 0}
        self.total = int(self.total * factor)


class HotKeyDetector:
    """Feeds a :class:`TopK`; every ``window`` observations decides which keys are hot."""

    def __init__(self, *, window: int = 1000, threshold: float = 0.01, min_count: int = 10,
                 k: int = 16, width: int = 2048, depth: int = 4, seed: int = 0) -> None:
        if window < 1 or not 0 < threshold <= 1:
            raise ValueError("window >= 1 and 0 < threshold <= 1")
        self.window = window
        self.threshold = threshold
        self.min_count = min_count
        self.sketch = TopK(k, width=width, depth=depth, seed=seed)
        self._seen = 0

    def observe(self, key: str, hot: Iterable[str] = ()) -> tuple[list[str], list[str]] | None:
        """Count one read; at the end of a window, (promote, demote) given the keys
        that are ``hot`` now; None otherwise."""
        self.sketch.add(key)
        self._seen += 1
        if self._seen < self.window:
            return None
        reads, self._seen = self._seen, 0
        bar = max(self.min_count, self.threshold * reads)
        estimates = dict(self.sketch.top())
        hot = set(hot)
        promote = sorted(k for k, est in estimates.items() if est >= bar and k not in hot)
        demote = sorted(k for k in hot if estimates.get(k, self.sketch.estimate(k)) < bar / 2)
        self.sketch.decay()
        return promote, demote


class _HotKeysBase(Decorates):
    """Decisions and flows (sans-I/O steps, see ``_steps``) shared by the sync and
    the asyncio class, which only drive them."""

    def __init__(self, cache: Any, *, copies: int, copy_ttl: float, auto: bool,
                 detector: HotKeyDetector | None, sync_interval: float, promote_for: float) -> None:
        if copies < 2:
            raise ValueError("replicating a key needs at least 2 copies")
        if copy_ttl <= 0 or promote_for <= 0:
            raise ValueError("copy_ttl and promote_for must be positive")
        self.cache = cache
        self.client: Any = cache.client
        self.copies = copies
        self.copy_ttl = copy_ttl
        self.auto = auto
        self.detector = detector or (HotKeyDetector() if auto else None)
        self.sync_interval = sync_interval
        self.promote_for = promote_for
        self._replicated: dict[str, list[str]] = {}  # key -> its copy keys (namespace not included)
        self._until: dict[str, float] = {}            # key -> when its promotion lapses
        self._synced_at = float("-inf")
        copy_keys("probe", copies, cache.namespace)  # a namespace with a hash tag fails here, early

    @property
    def registry_key(self) -> str:
        return str(self.cache.full_key(REGISTRY))

    def replicated(self) -> dict[str, int]:
        """The keys replicated as this process knows them: key -> copies."""
        return {k: len(v) for k, v in self._replicated.items()}

    # -- decisions ------------------------------------------------------------------------
    def _apply(self, raw: bytes | None, now: float) -> None:
        doc = json.loads(raw) if raw else {}
        self._replicated = {k: copy_keys(k, int(c), self.cache.namespace)
                            for k, (c, until) in doc.items() if until > now}
        self._until = {k: until for k, (_, until) in doc.items() if until > now}
        self._synced_at = now

    @staticmethod
    def _edit(raw: bytes | None, add: dict[str, tuple[int, float]], remove: Iterable[str],
              now: float) -> bytes:
        doc = json.loads(raw) if raw else {}
        doc = {k: v for k, v in doc.items() if v[1] > now}  # drop lapsed promotions
        for k in remove:
            doc.pop(k, None)
        doc.update({k: list(v) for k, v in add.items()})
        return json.dumps(doc, sort_keys=True).encode()

    def _plain(self, name: str) -> bool:
        """A read that is just the cache's: no detection, key not replicated, map
        fresh. Taken without driving steps (they cost microseconds a call)."""
        return (not self.auto and name not in self._replicated
                and self.cache.clock() - self._synced_at < self.sync_interval)

    def _pick(self, key: str) -> str:
        copies = self._replicated.get(key)
        if copies is None:
            return key
        return copies[min(int(self.cache.rand() * len(copies)), len(copies) - 1)]

    def _targets(self, key: str) -> list[str]:
        return self._replicated.get(key, [key])

    def _value(self, data: bytes | None, name: str, default: Any) -> Any:
        """What a read of copy 0's bytes returns (a copy miss filled from copy 0)."""
        entry = self.cache.unpack(self.cache.full_key(name), data)
        if entry is None or not entry.fresh(self.cache.clock()):
            return default
        return entry.value

    def _copy_px(self, px: int | None) -> int:
        cap = max(1, int(self.copy_ttl * 1000))
        return cap if px is None or px < 0 else max(1, min(px, cap))

    # -- the shared map of replicated keys --------------------------------------------------
    def _sync_steps(self) -> Steps[None]:
        self._apply((yield Call(self.client.get, self.registry_key)), self.cache.clock())

    def _maybe_sync_steps(self) -> Steps[None]:
        if self.cache.clock() - self._synced_at >= self.sync_interval:
            try:
                yield from self._sync_steps()
            except redis.RedisError:
                self._synced_at = self.cache.clock()  # keep the last map; retry next interval

    def _change_steps(self, add: dict[str, tuple[int, float]], remove: list[str]) -> Steps[None]:
        def edit(values: list[Any], pipe: Any) -> None:
            pipe.set(self.registry_key, self._edit(values[0], add, remove, self.cache.clock()))

        yield Watched((self.registry_key,), edit)
        yield from self._sync_steps()

    def _replicate_steps(self, keys: tuple[str | bytes, ...]) -> Steps[None]:
        until = self.cache.clock() + self.promote_for
        yield from self._change_steps({_core.to_key(k): (self.copies, until) for k in keys}, [])

    def _unreplicate_steps(self, keys: Iterable[str | bytes]) -> Steps[None]:
        names = [_core.to_key(k) for k in keys]
        extra = [c for k in names for c in self._replicated.get(k, [k])[1:]]
        yield from self._change_steps({}, names)
        if extra:
            yield Call(self.cache.delete, *extra)

    # -- reads ---------------------------------------------------------------------------
    def _observe_steps(self, key: str) -> Steps[None]:
        if self.detector is None or not self.auto:
            return
        decision = self.detector.observe(key, self._replicated)
        if decision:
            promote, demote = decision
            # keys still warm whose promotion is past half its life are renewed with them
            renew = [k for k, until in self._until.items()
                     if k not in demote and until - self.cache.clock() < self.promote_for / 2]
            if promote or renew:
                yield from self._replicate_steps((*promote, *renew))
                self.cache.metrics.incr("hot_promotions", len(promote))
            if demote:
                yield from self._unreplicate_steps(demote)
                self.cache.metrics.incr("hot_demotions", len(demote))

    def _get_steps(self, key: str | bytes, default: Any) -> Steps[Any]:
        name = _core.to_key(key)
        yield from self._maybe_sync_steps()
        yield from self._observe_steps(name)
        copy = self._pick(name)
        if copy == name:
            return (yield Call(self.cache.get, name, default))
        value = yield Call(self.cache.get, copy)
        if value is not MISS:
            self.cache.metrics.incr("hot_copy_reads")
            return value
        return self._value((yield from self._fill_steps(name, copy)), name, default)

    def _get_or_set_steps(self, key: str | bytes, loader: Callable[[], Any], ttl: Any,
                          stampede: Any) -> Steps[Any]:
        value = yield from self._get_steps(key, MISS)
        if value is not MISS:
            return value
        name = _core.to_key(key)
        value = yield Call(self.cache.get_or_set, name, loader, ttl, stampede=stampede)
        for copy in self._targets(name)[1:]:
            yield from self._fill_steps(name, copy)
        return value

    def _fill_steps(self, name: str, copy: str) -> Steps[bytes | None]:
        """Copy copy 0's stored bytes to a copy, with the remaining TTL capped at
        copy_ttl; returns them (None: copy 0 is missing too)."""
        full = self.cache.full_key(name)

        def read(pipe: Any) -> None:
            pipe.get(full)
            pipe.pttl(full)

        data, pttl = yield Pipeline(read, transaction=False)
        if data is not None:
            yield Call(self.client.set, self.cache.full_key(copy), data, px=self._copy_px(int(pttl)))
        return data  # type: ignore[no-any-return]

    # -- writes: every copy -----------------------------------------------------------------
    def _set_steps(self, key: str | bytes, value: Any, ttl: Any) -> Steps[None]:
        name = _core.to_key(key)
        yield from self._maybe_sync_steps()
        blob, px = self.cache.pack(self.cache.full_key(name), value, self.cache.resolve_ttl(ttl, value), 0.0)

        def write(pipe: Any) -> None:
            for i, target in enumerate(self._targets(name)):
                pipe.set(self.cache.full_key(target), blob, px=px if i == 0 else self._copy_px(px))

        yield Pipeline(write, transaction=False)

    def _delete_steps(self, keys: tuple[str | bytes, ...]) -> Steps[int]:
        yield from self._maybe_sync_steps()
        names = [_core.to_key(k) for k in keys]
        extra = [c for n in names for c in self._targets(n)[1:]]
        deleted = yield Call(self.cache.delete, *names)
        if extra:
            yield Call(self.cache.delete, *extra)
        return int(deleted)


class HotKeys(_HotKeysBase):
    """``HotKeys(cache, copies=4)``: get/get_or_set/set/delete like the cache, with
    replicated keys spread over ``copies`` slots. ``replicate(key)`` by hand, or
    ``auto=True`` (optionally ``detector=HotKeyDetector(...)``) to promote keys
    the sketch finds hot. A promotion lasts ``promote_for`` seconds; with ``auto``
    a key still warm is renewed, one replicated by hand needs another replicate()."""

    def __init__(self, cache: Cache, *, copies: int = 4, copy_ttl: float = 5.0, auto: bool = False,
                 detector: HotKeyDetector | None = None, sync_interval: float = 1.0,
                 promote_for: float = 300.0) -> None:
        super().__init__(cache, copies=copies, copy_ttl=copy_ttl, auto=auto, detector=detector,
                         sync_interval=sync_interval, promote_for=promote_for)

    def _run(self, steps: Steps[T]) -> T:
        return run(steps, lambda request: perform(self.client, request))

    def sync(self) -> None:
        """Re-read the map of replicated keys from the server now."""
        self._run(self._sync_steps())

    def replicate(self, *keys: str | bytes) -> None:
        """Replicate keys (every process picks this up within sync_interval); the
        copies fill from copy 0 as they are read."""
        self._run(self._replicate_steps(keys))

    def unreplicate(self, *keys: str | bytes) -> None:
        """Stop replicating keys and delete their copies (copy 0 stays)."""
        self._run(self._unreplicate_steps(keys))

    def get(self, key: str | bytes, default: Any = MISS) -> Any:
        name = _core.to_key(key)
        if self._plain(name):
            return self.cache.get(name, default)
        return self._run(self._get_steps(name, default))

    def get_or_set(self, key: str | bytes, loader: Callable[[], Any], ttl: float | None | Any = DEFAULT,
                   *, stampede: StampedeMode | Any = DEFAULT) -> Any:
        return self._run(self._get_or_set_steps(key, loader, ttl, stampede))

    def set(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        self._run(self._set_steps(key, value, ttl))

    def delete(self, *keys: str | bytes) -> int:
        """Delete keys and all their copies; returns how many of ``keys`` existed."""
        return self._run(self._delete_steps(keys))


class AsyncHotKeys(_HotKeysBase):
    """The asyncio mirror of :class:`HotKeys`: the same names, awaited."""

    def __init__(self, cache: AsyncCache, *, copies: int = 4, copy_ttl: float = 5.0, auto: bool = False,
                 detector: HotKeyDetector | None = None, sync_interval: float = 1.0,
                 promote_for: float = 300.0) -> None:
        super().__init__(cache, copies=copies, copy_ttl=copy_ttl, auto=auto, detector=detector,
                         sync_interval=sync_interval, promote_for=promote_for)

    async def _run(self, steps: Steps[T]) -> T:
        return await arun(steps, lambda request: aperform(self.client, request))

    async def sync(self) -> None:
        await self._run(self._sync_steps())

    async def replicate(self, *keys: str | bytes) -> None:
        await self._run(self._replicate_steps(keys))

    async def unreplicate(self, *keys: str | bytes) -> None:
        await self._run(self._unreplicate_steps(keys))

    async def get(self, key: str | bytes, default: Any = MISS) -> Any:
        name = _core.to_key(key)
        if self._plain(name):
            return await self.cache.get(name, default)
        return await self._run(self._get_steps(name, default))

    async def get_or_set(self, key: str | bytes, loader: Callable[[], Any], ttl: float | None | Any = DEFAULT,
                         *, stampede: StampedeMode | Any = DEFAULT) -> Any:
        return await self._run(self._get_or_set_steps(key, loader, ttl, stampede))

    async def set(self, key: str | bytes, value: Any, ttl: float | None | Any = DEFAULT) -> None:
        await self._run(self._set_steps(key, value, ttl))

    async def delete(self, *keys: str | bytes) -> int:
        return await self._run(self._delete_steps(keys))
