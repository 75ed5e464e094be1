"""DEBUG DIGEST and DEBUG DIGEST-VALUE: a fingerprint of the dataset, to
check that a replica holds what its primary holds. Pure.

Redis's construction (debug.c, computeDatasetDigest): each key gets a
20-byte digest built by "mixing" (digest = SHA1(digest xor SHA1(data))) its
name, its type and its value; the members of unordered values (sets, hash
fields, sorted-set members with their scores) are each hashed on their own
and XORed together, so their order does not matter. The keys' digests are
XORed into the database's total, so insertion order does not matter either;
each non-empty database mixes its number in first. An empty dataset is 40
zeros. A key with a TTL XORs in "!!expire!!" (the time itself is left out,
as in Redis). Keys already expired but not yet reclaimed are left out, so a
replica (which hides such keys until its primary's DEL arrives) and its
primary agree.

The digests are not byte-identical to redis-server's (type numbers and
encodings differ); they are meant to compare ringcache nodes.
"""

from __future__ import annotations

import hashlib
import struct
from collections import deque
from typing import Any, Iterable

ZERO = bytes(20)


def _xor(digest: bytearray, data: bytes) -> None:
    h = hashlib.sha1(data).digest()
    for i in range(20):
        digest[i] ^= h[i]


def _mix(digest: bytearray, data: bytes) -> None:
    _xor(digest, data)
    digest[:] = hashlib.sha1(digest).digest()


def _score(score: float) -> bytes:
    return b"%.17g" % score


def _type_code(value: Any) -> int:
    if value.__class__ is bytes:
        return 0
    if isinstance(value, (list, deque)):
        return 1
    if isinstance(value, (set, frozenset)):
        return 2
    if isinstance(value, dict):
        return 4
    if getattr(value, "TYPE_NAME", None) == b"stream":
        return 6
    return 3  # a sorted set (storage.zset.ZSet)


def value_digest(value: Any, has_ttl: bool) -> bytes:
    """One key's value (type, contents, TTL flag) as 20 bytes (DIGEST-VALUE)."""
    digest = bytearray(20)
    _mix(digest, struct.pack(">I", _type_code(value)))
    if value.__class__ is bytes:
        _mix(digest, value)
    elif isinstance(value, (list, deque)):
        for item in value:
            _mix(digest, item)
    elif isinstance(value, (set, frozenset)):
        for member in value:
            _xor(digest, member)
    elif getattr(value, "TYPE_NAME", None) == b"stream":
        _stream_digest(digest, value)
    elif isinstance(value, dict):
        field_expires = getattr(value, "field_expires", None) or {}
        for field, item in value.items():
            element = bytearray(20)
            _mix(element, field)
            _mix(element, item)
            if field in field_expires:
                _mix(element, b"%d" % int(field_expires[field]))
            _xor_bytes(digest, element)
    else:
        for member, score in _zset_items(value):
            element = bytearray(20)
            _mix(element, member)
            _mix(element, _score(score))
            _xor_bytes(digest, element)
    if has_ttl:
        _xor(digest, b"!!expire!!")
    return bytes(digest)


def _stream_digest(digest: bytearray, stream: Any) -> None:
    """Entries in order (as Redis's DEBUG DIGEST), then what Redis leaves
    out but replicas must agree on too: the stream's IDs and counters and
    each group's position and pending entries (not the times consumers
    were last seen, which are local)."""
    for sid, fields in stream.items():
        _mix(digest, b"%d.%d" % (sid >> 64, sid & ((1 << 64) - 1)))
        for item in fields:
            _mix(digest, item)
    _mix(digest, b"%d %d %d" % (stream.last_id, stream.max_deleted_id, stream.entries_added))
    for name, group in sorted(stream.groups.items()):
        _mix(digest, b"%s %d %d" % (name, group.last_id, group.entries_read))
        for cname in sorted(group.consumers):
            _mix(digest, cname)
        for sid in sorted(group.pel):
            nack = group.pel[sid]
            _mix(digest, b"%d %s %d" % (sid, nack.consumer.name, nack.delivery_count))


def _zset_items(value: Any) -> Iterable[tuple[bytes, float]]:
    scores = getattr(value, "scores", None)
    if isinstance(scores, dict):
        return scores.items()
    items = getattr(value, "items", None)
    if callable(items):
        return items()
    return value


def _xor_bytes(digest: bytearray, other: bytes | bytearray) -> None:
    for i in range(20):
        digest[i] ^= other[i]


def key_digest(key: bytes, value: Any, has_ttl: bool) -> bytes:
    digest = bytearray(20)
    _mix(digest, key)
    _xor_bytes(digest, value_digest(value, has_ttl))
    return bytes(digest)


def dataset_digest(databases: Iterable[tuple[int, dict, dict]], now_ms: float) -> str:
    """The DEBUG DIGEST of (index, data, expires) triples, in hex."""
    final = bytearray(20)
    for index, data, expires in databases:
        live = [(key, value) for key, value in data.items()
                if not (expires and key in expires and expires[key] < now_ms)]
        if not live:
            continue
        _mix(final, struct.pack(">I", index))
        for key, value in live:
            _xor_bytes(final, key_digest(key, value, key in expires))
    return final.hex()
