"""ringcache.client: caching patterns on top of redis-py.

Entry points: :class:`Cache` (sync) and :class:`AsyncCache` (asyncio), built from
a URL or an existing redis-py client, with the same method names; the
:func:`cached` decorator; :class:`WriteThrough`; :class:`WriteBehind`;
:class:`HotKeys`; :class:`VersionedNamespace`; :class:`NearCache`. Each has an
asyncio twin with the same methods (``Async...``), and each works on a redis-py
``RedisCluster`` too (``Cache.from_url([...])``; see ``cluster``). See docs/client.md for each
pattern, how it fails, and which to choose.
"""

from ._core import MISS, DEFAULT
from .aio import AsyncCache
from .cache import Cache
from .decorator import CacheLike, cached, cached_many
from .guard import CacheBusyError, CircuitBreaker, CircuitOpenError
from .hot_keys import AsyncHotKeys, HotKeyDetector, HotKeys, TopK
from .keys import UnrenderableArgument
from .metrics import Metrics
from .near_cache import AsyncNearCache, NearCache
from .serializers import SerializationError, Serializer
from .versioned import AsyncVersionedNamespace, VersionedNamespace
from .write_behind import AsyncWriteBehind, DeadLetter, WriteBehind, WriteBehindFull
from .write_through import AsyncWriteThrough, CacheWriteError, WriteThrough

__all__ = ["MISS", "DEFAULT", "Cache", "AsyncCache", "CacheLike", "cached", "cached_many", "UnrenderableArgument", "Metrics",
           "CacheBusyError", "CircuitBreaker", "CircuitOpenError",
           "SerializationError", "Serializer", "NearCache", "AsyncNearCache", "WriteThrough", "AsyncWriteThrough", "CacheWriteError",
           "VersionedNamespace", "AsyncVersionedNamespace", "WriteBehind", "AsyncWriteBehind",
           "WriteBehindFull", "DeadLetter", "HotKeys", "AsyncHotKeys", "HotKeyDetector", "TopK"]
