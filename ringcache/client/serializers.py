"""Serializers: how a Python value becomes the bytes stored in the cache.

A serializer is any object with ``dumps(value) -> bytes`` and
``loads(data: bytes) -> value``. The built-in ones are chosen by name:
``"json"`` (portable, the default), ``"pickle"`` (any picklable Python object,
only for data you trust), ``"msgpack"`` (only if the msgpack package is
installed; ringcache does not depend on it) and ``"raw"`` (bytes in, bytes out).

Errors are raised by the cache, not here, so that the message can name the key:
see :class:`SerializationError`.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Protocol, runtime_checkable


class SerializationError(TypeError):
    """A value could not be turned into bytes (or bytes back into a value)."""

    def __init__(self, key: str | bytes, value_type: type, serializer: str, reason: str) -> None:
        self.key = key
        self.value_type = value_type
        self.serializer = serializer
        super().__init__(
            f"cannot serialise value for key {key!r}: {value_type.__module__}.{value_type.__qualname__} "
            f"is not supported by the {serializer} serializer ({reason})")


@runtime_checkable
class Serializer(Protocol):
    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


class JsonSerializer:
    name = "json"

    def dumps(self, value: Any) -> bytes:
        # allow_nan=False: NaN is not JSON and other languages reading the key would choke.
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode()

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


class PickleSerializer:
    name = "pickle"

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def dumps(self, value: Any) -> bytes:
        return pickle.dumps(value, protocol=self.protocol)

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)  # noqa: S301 - documented: only for trusted caches


class RawSerializer:
    """Bytes pass through unchanged; anything else is an error (no silent str())."""

    name = "raw"

    def dumps(self, value: Any) -> bytes:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise TypeError("the raw serializer stores bytes only")

    def loads(self, data: bytes) -> Any:
        return data


class MsgpackSerializer:
    name = "msgpack"

    def __init__(self) -> None:
        try:
            import msgpack  # type: ignore[import-not-found,import-untyped,unused-ignore]
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("the msgpack serializer needs the msgpack package "
                              "(pip install msgpack)") from exc
        self._msgpack: Any = msgpack

    def dumps(self, value: Any) -> bytes:
        return bytes(self._msgpack.packb(value, use_bin_type=True))

    def loads(self, data: bytes) -> Any:
        return self._msgpack.unpackb(data, raw=False)


def resolve(serializer: str | Serializer) -> Serializer:
    """A serializer from its name, or the user's object checked for dumps/loads."""
    if isinstance(serializer, str):
        if serializer == "json":
            return JsonSerializer()
        if serializer == "pickle":
            return PickleSerializer()
        if serializer == "raw":
            return RawSerializer()
        if serializer == "msgpack":
            return MsgpackSerializer()
        raise ValueError(f"unknown serializer {serializer!r} (json, pickle, msgpack, raw, "
                         "or an object with dumps() and loads())")
    if not (callable(getattr(serializer, "dumps", None)) and callable(getattr(serializer, "loads", None))):
        raise TypeError("a serializer needs dumps(value) -> bytes and loads(bytes) -> value")
    return serializer


def serializer_name(serializer: Serializer) -> str:
    return str(getattr(serializer, "name", type(serializer).__name__))
