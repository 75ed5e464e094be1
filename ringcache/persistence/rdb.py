"""Redis's RDB serialization: files, and DUMP / RESTORE payloads.

Theory of operation
-------------------
An RDB file is

    "REDIS" version:4 ASCII digits
    record*                       AUX, SELECTDB, RESIZEDB, expiry/LRU/LFU
                                  prefixes, key-value records, FUNCTION2
    0xFF (EOF)  crc64:u64le       CRC-64/Jones of every byte before it
                                  (0 when written with rdbchecksum no)

and a key-value record is [EXPIRETIME_MS ms:i64le] [IDLE len | FREQ u8]
type:u8 key:string value. A DUMP payload is one value with its type byte,
then the RDB version (u16le) and the CRC-64 of all that (u64le).

Lengths: the top two bits of the first byte say 6 bits in this byte, 14
bits in this and the next, or (0x80 / 0x81) a big-endian u32 / u64
following; 0b11 marks a special string encoding: an 8/16/32-bit
little-endian integer (written as its decimal text), or LZF-compressed
bytes (compressed length, plain length, data).

Values are written the way redis-server 7.0 writes them, so a file or a
payload from here loads there: strings raw (or as an integer, as Redis
does for short integer text; never LZF-compressed, which is optional),
lists as quicklist 2 nodes of listpacks (~8 KB each), small hashes and
sorted sets as one listpack (more than 128 entries or a 64-byte item: a
hash table / a skiplist of binary doubles), sets of integers as an intset
(up to 512), other sets as plain members. A hash with field TTLs has no
RDB 10 form; it is written as Redis 7.4 does (HASH_METADATA, type 24: the
earliest field expiry, then per field 0 or expiry - earliest + 1), and a
payload or file holding one says version 12, so redis-server < 7.4
refuses it whole rather than loading it without its TTLs.

The readers take every encoding redis-server 2.4 to 7.4 writes for the
types ringcache has (zipmap, ziplist, quicklist 1 and 2, intset,
listpack, set listpack, the hash-field-TTL forms and their 7.4 release
candidate forms, streams as 5.0-7.4 write them), and refuse the rest (module values and module
AUX data, 7.0 release-candidate functions, a version above 12) with the
offset of the record and what it is. Already expired keys, and hash
fields, are dropped while reading, as the snapshot reader does.

Nothing here knows about the node: values are ringcache's storage types
(bytes, deque, set, dict / FieldTTLHash, ZSet), and file readers hand
each key to a sink. A reader calls the sink as it goes, before the
trailing checksum is checked: the caller must drop what it got if load()
raises (the node refuses to start; a replica would flush).

Versions: redis-server 7.0 writes and reads RDB 10, 7.2 reads 11, 7.4
reads 12. We write 10 (12 for field TTLs, above), the newest the
redis-server installed here (7.0) loads, and every later one does too.
"""

from __future__ import annotations

import math
import struct
from collections import deque
from typing import IO, Any, Callable, Iterable, Iterator

from ..storage.hashes import FieldTTLHash
from ..storage.stream import Consumer, Group, Node, Pending, Stream, id_delta, make_id, split_id
from ..storage.zset import ZSet
from .compact import (INT64_MAX, PackError, canonical_int, intset, intset_values, listpack, listpack_items,
                      lzf_decompress, ziplist_items, zipmap_pairs)
from .crc64 import crc64

RDB_VERSION = 10  # what we write: redis-server 7.0 and later load it
RDB_VERSION_FIELD_TTL = 12  # a payload/file holding a hash with field TTLs (Redis 7.4)
MAX_VERSION = 12  # the newest we read
MAGIC = b"REDIS"

# Opcodes (rdb.h)
OP_SLOT_INFO = 244
OP_FUNCTION2 = 245
OP_FUNCTION_PRE_GA = 246
OP_MODULE_AUX = 247
OP_IDLE = 248
OP_FREQ = 249
OP_AUX = 250
OP_RESIZEDB = 251
OP_EXPIRETIME_MS = 252
OP_EXPIRETIME = 253
OP_SELECTDB = 254
OP_EOF = 255

# Value types (rdb.h)
T_STRING = 0
T_LIST = 1
T_SET = 2
T_ZSET = 3
T_HASH = 4
T_ZSET_2 = 5
T_MODULE_PRE_GA = 6
T_MODULE_2 = 7
T_HASH_ZIPMAP = 9
T_LIST_ZIPLIST = 10
T_SET_INTSET = 11
T_ZSET_ZIPLIST = 12
T_HASH_ZIPLIST = 13
T_LIST_QUICKLIST = 14
T_STREAM_LISTPACKS = 15
T_HASH_LISTPACK = 16
T_ZSET_LISTPACK = 17
T_LIST_QUICKLIST_2 = 18
T_STREAM_LISTPACKS_2 = 19
T_SET_LISTPACK = 20
T_STREAM_LISTPACKS_3 = 21
T_HASH_METADATA_PRE_GA = 22
T_HASH_LISTPACK_EX_PRE_GA = 23
T_HASH_METADATA = 24
T_HASH_LISTPACK_EX = 25

TYPE_NAMES = {
    T_STRING: "string", T_LIST: "list (linked list)", T_SET: "set", T_ZSET: "zset (text scores)",
    T_HASH: "hash", T_ZSET_2: "zset", T_MODULE_PRE_GA: "module value (4.0 RC)",
    T_MODULE_2: "module value", T_HASH_ZIPMAP: "hash (zipmap)", T_LIST_ZIPLIST: "list (ziplist)",
    T_SET_INTSET: "set (intset)", T_ZSET_ZIPLIST: "zset (ziplist)", T_HASH_ZIPLIST: "hash (ziplist)",
    T_LIST_QUICKLIST: "list (quicklist)", T_STREAM_LISTPACKS: "stream",
    T_HASH_LISTPACK: "hash (listpack)", T_ZSET_LISTPACK: "zset (listpack)",
    T_LIST_QUICKLIST_2: "list (quicklist 2)", T_STREAM_LISTPACKS_2: "stream (7.0)",
    T_SET_LISTPACK: "set (listpack)", T_STREAM_LISTPACKS_3: "stream (7.2)",
    T_HASH_METADATA_PRE_GA: "hash with field TTLs (7.4 RC)",
    T_HASH_LISTPACK_EX_PRE_GA: "hash listpack with field TTLs (7.4 RC)",
    T_HASH_METADATA: "hash with field TTLs", T_HASH_LISTPACK_EX: "hash listpack with field TTLs",
}
UNSUPPORTED_TYPES = {
    T_MODULE_PRE_GA: "module values cannot be loaded (ringcache has no modules)",
    T_MODULE_2: "module values cannot be loaded (ringcache has no modules)",
}

# Quicklist node containers (quicklist.h)
QUICKLIST_PLAIN = 1
QUICKLIST_PACKED = 2

# Encoding thresholds: redis-server's defaults for its compact encodings
# (it converts on load whatever exceeds its own configuration).
LISTPACK_MAX_ENTRIES = 128  # hash-max-listpack-entries, zset-max-listpack-entries
LISTPACK_MAX_VALUE = 64  # hash-max-listpack-value, zset-max-listpack-value
INTSET_MAX_ENTRIES = 512  # set-max-intset-entries
QUICKLIST_NODE_BYTES = 8192  # list-max-listpack-size -2
EB_EXPIRE_TIME_MAX = (1 << 48) - 1  # Redis 7.4's largest field expiry (ms)

CHUNK_TARGET = 64 * 1024  # the writer yields chunks of about this size

_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_I32 = struct.Struct("<i")
_F64 = struct.Struct("<d")
_BE32 = struct.Struct(">I")
_BE64 = struct.Struct(">Q")


class RDBError(Exception):
    """Input that cannot be read: `offset` is where (from the start of the
    file, or of the payload), `reason` what."""

    def __init__(self, reason: str, offset: int, name: str = "") -> None:
        self.reason = reason
        self.offset = offset
        self.name = name
        super().__init__(self.describe())

    def describe(self) -> str:
        where = f"'{self.name}' " if self.name else ""
        return f"RDB file {where}is unreadable at offset {self.offset}: {self.reason}"


class DumpPayloadError(RDBError):
    """A DUMP payload whose footer (version, checksum) is wrong."""


# =============================================================================
# Writing

_SHORT_LENGTHS = [bytes([n]) if n < 64 else bytes([0x40 | (n >> 8), n & 0xFF]) for n in range(16384)]


def encode_length(n: int) -> bytes:
    if n < 16384:
        return _SHORT_LENGTHS[n]
    if n <= 0xFFFFFFFF:
        return b"\x80" + _BE32.pack(n)
    return b"\x81" + _BE64.pack(n)


def encode_string(s: bytes) -> bytes:
    """rdbSaveRawString: short integer text as an 8/16/32-bit integer (what
    Redis does, and loads back as the same text), anything else as its
    length and bytes."""
    n = len(s)
    if n <= 11 and n:
        first = s[0]
        if 48 <= first <= 57 or first == 45:
            v = canonical_int(s)
            if v is not None:
                if -128 <= v <= 127:
                    return bytes((0xC0, v & 0xFF))
                if -32768 <= v <= 32767:
                    return b"\xc1" + struct.pack("<h", v)
                if -(1 << 31) <= v < (1 << 31):
                    return b"\xc2" + _I32.pack(v)
    return (_SHORT_LENGTHS[n] if n < 16384 else encode_length(n)) + s


def _score_item(score: float) -> bytes | int:
    """A sorted-set score as a listpack item, as zzlInsertAt stores it
    (d2string: an integer when it is one within +-2^52, else text that
    strtod reads back to the same double)."""
    if score.is_integer() and -4503599627370495 < score < 4503599627370496:
        return int(score)
    if math.isinf(score):
        return b"inf" if score > 0 else b"-inf"
    return repr(score).encode()


def has_field_ttls(value: Any) -> bool:
    return value.__class__ is FieldTTLHash and bool(value.field_expires)


def encode_value(value: Any) -> tuple[int, bytes]:
    """(RDB type, serialized value) of a ringcache value."""
    klass = value.__class__
    if klass is bytes:
        return T_STRING, encode_string(value)
    out = bytearray()
    if klass is deque or klass is list:
        nodes: list[bytes] = []
        node: list[bytes] = []
        size = 0
        for item in value:
            if node and size + len(item) + 11 > QUICKLIST_NODE_BYTES:
                nodes.append(listpack(node))
                node, size = [], 0
            node.append(item)
            size += len(item) + 11  # (an entry's overhead is at most 11 bytes)
        if node:
            nodes.append(listpack(node))
        out += encode_length(len(nodes))
        for blob in nodes:
            out += encode_length(QUICKLIST_PACKED)
            out += encode_string(blob)
        return T_LIST_QUICKLIST_2, bytes(out)
    if klass is set or klass is frozenset:
        if len(value) <= INTSET_MAX_ENTRIES:
            ints = [canonical_int(member) for member in value]
            if None not in ints:
                return T_SET_INTSET, encode_string(intset(ints))  # type: ignore[arg-type]
        out += encode_length(len(value))
        for member in value:
            out += encode_string(member)
        return T_SET, bytes(out)
    if klass is ZSet:
        if len(value) <= LISTPACK_MAX_ENTRIES and all(
                len(member) <= LISTPACK_MAX_VALUE for member in value.dict):
            items: list[bytes | int] = []
            for member, score in value.items():
                items.append(member)
                items.append(_score_item(score))
            return T_ZSET_LISTPACK, encode_string(listpack(items))
        out += encode_length(len(value))
        pack = _F64.pack
        for member, score in value.items():
            out += encode_string(member)
            out += pack(score)
        return T_ZSET_2, bytes(out)
    if isinstance(value, dict):
        if isinstance(value, FieldTTLHash) and value.field_expires:
            expires = value.field_expires
            earliest = int(min(expires.values()))
            out += _U64.pack(earliest)
            out += encode_length(len(value))
            for field, item in value.items():
                when = expires.get(field)
                out += encode_length(0 if when is None else int(when) - earliest + 1)
                out += encode_string(field)
                out += encode_string(item)
            return T_HASH_METADATA, bytes(out)
        if len(value) <= LISTPACK_MAX_ENTRIES and all(
                len(field) <= LISTPACK_MAX_VALUE and len(item) <= LISTPACK_MAX_VALUE
                for field, item in value.items()):
            flat: list[bytes | int] = []
            for field, item in value.items():
                flat.append(field)
                flat.append(item)
            return T_HASH_LISTPACK, encode_string(listpack(flat))
        out += encode_length(len(value))
        for field, item in value.items():
            out += encode_string(field)
            out += encode_string(item)
        return T_HASH, bytes(out)
    if klass is Stream:
        return T_STREAM_LISTPACKS_2, _encode_stream(value)
    raise TypeError(f"no RDB encoding for a value of type {klass.__name__}")


# -- streams (rdb.c rdbSaveObject / rdbLoadObject, t_stream.c's listpack layout) ---------
#
# A stream is its listpack nodes, each under its master ID (16 bytes, ms and
# seq big-endian), then length, last ID, first ID, max deleted ID, entries
# added (RDB_TYPE_STREAM_LISTPACKS_2, Redis 7.0), then its groups: name,
# last ID, entries read, the pending entries (raw ID, delivery time ms
# little-endian, delivery count), the consumers (name, seen time, their
# pending IDs; 7.2's type 21 adds an active time after the seen time).
#
# A node's listpack starts with its master entry (live count, deleted
# count, number of fields, the fields, 0); each entry is flags, ms and seq
# relative to the master ID, then either the values alone (SAMEFIELDS: the
# master's fields) or the number of fields and field/value pairs, and last
# the number of listpack elements the entry took (lp-count).

STREAM_FLAG_DELETED = 1
STREAM_FLAG_SAMEFIELDS = 2
_BE_ID = struct.Struct(">QQ")


_U64_MASK = (1 << 64) - 1


def _stream_node(entries: list[tuple[int, tuple[bytes, ...]]]) -> tuple[bytes, bytes]:
    master_ms, master_seq = split_id(entries[0][0])
    master_fields = entries[0][1][0::2]
    items: list[bytes | int] = [len(entries), 0, len(master_fields), *master_fields, 0]
    for sid, fields in entries:
        ms, seq = split_id(sid)
        names = fields[0::2]
        if names == master_fields:
            items += [STREAM_FLAG_SAMEFIELDS, id_delta(ms, master_ms), id_delta(seq, master_seq),
                      *fields[1::2], len(names) + 3]
        else:
            items += [0, id_delta(ms, master_ms), id_delta(seq, master_seq), len(names), *fields,
                      2 * len(names) + 4]
    return _BE_ID.pack(master_ms, master_seq), listpack(items)


def _encode_pel_id(sid: int) -> bytes:
    return _BE_ID.pack(*split_id(sid))


def _encode_stream(stream: Stream) -> bytes:
    out = bytearray()
    nodes = [entries for entries in stream.node_entries() if entries]
    out += encode_length(len(nodes))
    for entries in nodes:
        key, blob = _stream_node(entries)
        out += encode_string(key)
        out += encode_string(blob)
    out += encode_length(len(stream))
    for sid in (stream.last_id, stream.first_id, stream.max_deleted_id):
        ms, seq = split_id(sid)
        out += encode_length(ms)
        out += encode_length(seq)
    out += encode_length(stream.entries_added)
    out += encode_length(len(stream.groups))
    for name, group in sorted(stream.groups.items()):
        out += encode_string(name)
        ms, seq = split_id(group.last_id)
        out += encode_length(ms)
        out += encode_length(seq)
        out += encode_length(group.entries_read & 0xFFFFFFFFFFFFFFFF)
        out += encode_length(len(group.pel))
        for sid in sorted(group.pel):
            nack = group.pel[sid]
            out += _encode_pel_id(sid)
            out += _I64.pack(nack.delivery_time)
            out += encode_length(nack.delivery_count)
        out += encode_length(len(group.consumers))
        for cname, consumer in sorted(group.consumers.items()):
            out += encode_string(cname)
            out += _I64.pack(consumer.seen_time)
            out += encode_length(len(consumer.pel))
            for sid in sorted(consumer.pel):
                out += _encode_pel_id(sid)
    return bytes(out)


def _int_item(item: bytes, what: str) -> int:
    value = canonical_int(item)
    if value is None:
        raise _Bad(f"a stream listpack holds {item[:40]!r} where {what} was expected")
    return value


def _read_stream_node(stream: Stream, key: bytes, blob_items: list[bytes], blob_size: int) -> None:
    """One listpack node into stream (its live entries, in order)."""
    if len(key) != 16:
        raise _Bad("a stream node's key is not a 16-byte ID")
    master_ms, master_seq = _BE_ID.unpack(key)
    items = blob_items
    if len(items) < 4:
        raise _Bad("an empty listpack inside a stream")
    live = _int_item(items[0], "the live count")
    deleted = _int_item(items[1], "the deleted count")
    nmaster = _int_item(items[2], "the master field count")
    pos = 3 + nmaster
    if nmaster < 0 or pos >= len(items) or items[pos] != b"0":
        raise _Bad("a stream node's master entry is malformed")
    master_fields = tuple(items[3:pos])
    pos += 1
    seen_live = 0
    total = 0
    last = stream.top_id if len(stream) else -1
    node_last = 0
    while pos < len(items):
        flags = _int_item(items[pos], "entry flags")
        # (the deltas are uint64 differences stored as int64: they wrap)
        ms = (master_ms + _int_item(items[pos + 1], "an ID delta")) & _U64_MASK
        seq = (master_seq + _int_item(items[pos + 2], "an ID delta")) & _U64_MASK
        sid = make_id(ms, seq)
        pos += 3
        if flags & STREAM_FLAG_SAMEFIELDS:
            values = items[pos:pos + nmaster]
            pos += nmaster
            fields: list[bytes] = []
            for name, value in zip(master_fields, values):
                fields += (name, value)
            if len(values) != nmaster:
                raise _Bad("a stream entry ends early")
        else:
            n = _int_item(items[pos], "a field count")
            fields = items[pos + 1:pos + 1 + 2 * n]
            pos += 1 + 2 * n
            if n <= 0 or len(fields) != 2 * n:
                raise _Bad("a stream entry ends early")
        pos += 1  # lp-count
        if pos > len(items):
            raise _Bad("a stream entry ends early")
        total += 1
        node_last = sid
        if flags & STREAM_FLAG_DELETED:
            continue
        if sid <= last:
            raise _Bad("stream entries are not in ID order")
        last = sid
        stream.load(sid, fields)
        seen_live += 1
    if seen_live != live or total != live + deleted:
        raise _Bad("a stream node's counts do not match its entries")
    if live:
        stream.nodes.append(Node(live, total, blob_size, make_id(master_ms, master_seq),
                                 master_fields, node_last))


def _read_stream_value(inp: "_Input", rdb_type: int) -> Stream:
    stream = Stream()
    for _ in range(inp.length()):
        key = inp.string()
        blob = inp.string()
        try:
            items = listpack_items(blob)
        except PackError as exc:
            raise _Bad(f"bad listpack in a stream: {exc}") from None
        try:
            _read_stream_node(stream, key, items, len(blob))
        except IndexError:
            raise _Bad("a stream entry runs past the end of its listpack") from None
    length = inp.length()
    if length != len(stream):
        raise _Bad(f"a stream says {length} entries and holds {len(stream)}")
    stream.last_id = make_id(inp.length(), inp.length())
    if len(stream) and stream.top_id > stream.last_id:
        raise _Bad("a stream's last ID is below its last entry")
    if rdb_type >= T_STREAM_LISTPACKS_2:
        inp.length()  # the first ID: derived from the entries here
        inp.length()
        stream.max_deleted_id = make_id(inp.length(), inp.length())
        stream.entries_added = inp.length()
    else:
        stream.entries_added = length
    for _ in range(inp.length()):
        name = inp.string()
        group_last = make_id(inp.length(), inp.length())
        if rdb_type >= T_STREAM_LISTPACKS_2:
            entries_read = inp.length()
            if entries_read >= 1 << 63:
                entries_read -= 1 << 64
        else:
            entries_read = stream.estimate_distance(group_last)  # as Redis loads pre-7.0 files
        if name in stream.groups:
            raise _Bad("a stream holds two groups of the same name")
        group = stream.groups[name] = Group(name, group_last, entries_read)
        unowned: dict[int, tuple[int, int]] = {}  # id -> (delivery time, count), until owned
        for _ in range(inp.length()):
            sid = make_id(*_BE_ID.unpack(inp.read(16)))
            delivery_time = inp.millis()
            unowned[sid] = (delivery_time, inp.length())
        for _ in range(inp.length()):
            cname = inp.string()
            consumer = group.consumers[cname] = Consumer(cname, inp.millis())
            if rdb_type >= T_STREAM_LISTPACKS_3:
                inp.millis()  # 7.2's active time: ringcache keeps 7.0's fields
            for _ in range(inp.length()):
                sid = make_id(*_BE_ID.unpack(inp.read(16)))
                pending = unowned.pop(sid, None)
                if pending is None:
                    raise _Bad("a consumer's pending entry is not in its group's")
                group.pel[sid] = consumer.pel[sid] = Pending(pending[0], pending[1], consumer)
        if unowned:
            raise _Bad("a group's pending entry has no consumer")
    return stream


def value_version(value: Any) -> int:
    """The RDB version a payload holding value must declare."""
    return RDB_VERSION_FIELD_TTL if has_field_ttls(value) else RDB_VERSION


def dump_payload(value: Any) -> bytes:
    """DUMP's reply: type, value, RDB version (u16le), CRC-64 (u64le)."""
    rdb_type, body = encode_value(value)
    head = bytes((rdb_type,)) + body + struct.pack("<H", value_version(value))
    return head + _U64.pack(crc64(head))


RDB_OPCODE_FUNCTION2 = 245  # a function library's code (Redis 7.0+)
FUNCTIONS_DUMP_VERSION = 10  # what redis-server 7.0 writes and reads


def functions_payload(codes: Iterable[bytes]) -> bytes:
    """FUNCTION DUMP's reply: each library as RDB_OPCODE_FUNCTION2 and its
    code, then the RDB version (u16le) and the CRC-64 (u64le)."""
    head = b"".join(bytes((RDB_OPCODE_FUNCTION2,)) + encode_string(code) for code in codes)
    head += struct.pack("<H", FUNCTIONS_DUMP_VERSION)
    return head + _U64.pack(crc64(head))


def read_functions_payload(payload: bytes) -> list[bytes]:
    """FUNCTION RESTORE's half: the libraries' code. DumpPayloadError for
    a bad footer; RDBError("not a function") for anything but libraries."""
    check_payload(payload)
    inp = _Input(None, payload[:-10])
    codes = []
    try:
        while inp.pos < len(inp.buf):
            if inp.byte() != RDB_OPCODE_FUNCTION2:
                raise RDBError("not a function", inp.offset, "FUNCTION payload")
            codes.append(inp.string())
    except (_Truncated, struct.error, _Bad):
        raise RDBError("the payload is truncated", inp.offset, "FUNCTION payload") from None
    return codes


def _aux_record(name: bytes | str, value: bytes | str | int) -> bytes:
    if isinstance(name, str):
        name = name.encode()
    if isinstance(value, int):
        value = b"%d" % value
    elif isinstance(value, str):
        value = value.encode()
    return bytes((OP_AUX,)) + encode_string(name) + encode_string(value)


Access = Callable[[int, bytes], "tuple[int | None, int | None]"]


def rdb_chunks(databases: Iterable[tuple[int, dict, dict]], now_ms: float,
               aux: dict | None = None, access: Access | None = None,
               version: int | None = None, functions: Iterable[bytes] = ()) -> Iterator[bytes]:
    """An RDB file of `databases` ((index, data, expires) triples) as byte
    chunks of about CHUNK_TARGET bytes. Keys already expired at now_ms, and
    empty containers, are left out. `access(db, key)` gives a key's (LRU
    idle seconds, LFU counter), either None, written as IDLE / FREQ records
    (Redis writes the one its maxmemory-policy uses). `version` defaults to
    RDB_VERSION, or RDB_VERSION_FIELD_TTL when some hash has field TTLs
    (found by a pass over the values before the header is written).
    `functions`: the code of each function library (FUNCTION LOAD)."""
    databases = list(databases)
    if version is None:
        version = RDB_VERSION
        for _, data, _ in databases:
            if FieldTTLHash in set(map(type, data.values())) and any(
                    value.field_expires for value in data.values() if value.__class__ is FieldTTLHash):
                version = RDB_VERSION_FIELD_TTL
                break
    crc = 0
    buf = bytearray(MAGIC + b"%04d" % version)
    for name, value in (aux or {}).items():
        buf += _aux_record(name, value)
    for code in functions:  # function libraries, before the keys (as Redis writes them)
        buf.append(OP_FUNCTION2)
        buf += encode_string(code)
    lengths = _SHORT_LENGTHS
    pack_ms = _I64.pack
    for index, data, expires in databases:
        if not data:
            continue
        buf.append(OP_SELECTDB)
        buf += encode_length(index)
        buf.append(OP_RESIZEDB)
        buf += encode_length(len(data))
        buf += encode_length(len(expires))
        for key, value in data.items():
            klass = value.__class__
            if klass is not bytes and not value:
                continue  # (an empty container: Redis would skip it on load)
            if expires:
                when = expires.get(key)
                if when is not None:
                    if when < now_ms:
                        continue
                    buf.append(OP_EXPIRETIME_MS)
                    when = int(when)
                    # (a float: INT64_MAX reads back as 2**63, one past it)
                    buf += pack_ms(when if when <= INT64_MAX else INT64_MAX)
            if access is not None:
                idle, freq = access(index, key)
                if idle is not None:
                    buf.append(OP_IDLE)
                    buf += encode_length(idle)
                if freq is not None:
                    buf.append(OP_FREQ)
                    buf.append(freq)
            if klass is bytes:
                buf.append(T_STRING)
            else:
                rdb_type, body = encode_value(value)
                buf.append(rdb_type)
            # The key: encode_string inlined for what cannot be integer text.
            n = len(key)
            if n > 11 or not n or not (48 <= key[0] <= 57 or key[0] == 45):
                buf += lengths[n] if n < 16384 else encode_length(n)
                buf += key
            else:
                buf += encode_string(key)
            if klass is bytes:
                n = len(value)
                if n > 11:
                    buf += lengths[n] if n < 16384 else encode_length(n)
                    buf += value
                else:
                    buf += encode_string(value)
            else:
                buf += body
            if len(buf) >= CHUNK_TARGET:
                crc = crc64(buf, crc)
                yield bytes(buf)
                buf = bytearray()
    buf.append(OP_EOF)
    crc = crc64(buf, crc)
    buf += _U64.pack(crc)
    yield bytes(buf)


# =============================================================================
# Reading


class _Truncated(Exception):
    pass


class _Input:
    """Bytes from a binary file-like object through a window, with the
    stream offset of each and the CRC-64 of what was consumed."""

    CHUNK = 1 << 16

    def __init__(self, source: IO[bytes] | None, data: bytes = b"") -> None:
        self.source = source
        self.buf = data
        self.pos = 0
        self.start = 0  # stream offset of buf[0]
        self.crc = 0
        self.crc_from = 0  # buf[:crc_from] is in crc already

    @property
    def offset(self) -> int:
        return self.start + self.pos

    def read(self, n: int) -> bytes:
        pos = self.pos
        end = pos + n
        if end <= len(self.buf):
            self.pos = end
            return self.buf[pos:end]
        return self._refill(n)

    def byte(self) -> int:
        pos = self.pos
        if pos < len(self.buf):
            self.pos = pos + 1
            return self.buf[pos]
        return self._refill(1)[0]

    def _refill(self, n: int) -> bytes:
        buf, pos = self.buf, self.pos
        if self.crc_from < pos:
            self.crc = crc64(memoryview(buf)[self.crc_from:pos], self.crc)
        parts = [buf[pos:]]
        have = len(parts[0])
        source = self.source
        while have < n and source is not None:
            # (capped: a damaged length must not make us ask for exabytes)
            chunk = source.read(min(max(self.CHUNK, n - have), 1 << 24))
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        self.start += pos
        self.buf = b"".join(parts)
        self.pos = 0
        self.crc_from = 0
        if have < n:
            self.pos = have
            raise _Truncated(n, have)
        self.pos = n
        return self.buf[:n]

    def checksum(self) -> int:
        """CRC-64 of every byte consumed so far."""
        if self.crc_from < self.pos:
            self.crc = crc64(memoryview(self.buf)[self.crc_from:self.pos], self.crc)
            self.crc_from = self.pos
        return self.crc

    def at_end(self) -> bool:
        if self.pos < len(self.buf):
            return False
        try:
            self._refill(1)
        except _Truncated:
            return True
        self.pos -= 1
        return False

    # -- RDB primitives --------------------------------------------------------

    def length(self) -> int:
        first = self.byte()
        kind = first >> 6
        if kind == 0:
            return first
        if kind == 1:
            return ((first & 0x3F) << 8) | self.byte()
        if first == 0x80:
            return _BE32.unpack(self.read(4))[0]
        if first == 0x81:
            return _BE64.unpack(self.read(8))[0]
        raise _Bad(f"a length was expected, found the encoding byte 0x{first:02x}")

    def string(self) -> bytes:
        first = self.byte()
        kind = first >> 6
        if kind == 0:
            return self.read(first)
        if kind == 1:
            return self.read(((first & 0x3F) << 8) | self.byte())
        if first == 0x80:
            return self.read(_BE32.unpack(self.read(4))[0])
        if first == 0x81:
            return self.read(_BE64.unpack(self.read(8))[0])
        encoding = first & 0x3F
        if encoding == 0:
            return b"%d" % struct.unpack("<b", self.read(1))[0]
        if encoding == 1:
            return b"%d" % struct.unpack("<h", self.read(2))[0]
        if encoding == 2:
            return b"%d" % _I32.unpack(self.read(4))[0]
        if encoding == 3:
            compressed = self.length()
            plain = self.length()
            data = self.read(compressed)
            try:
                return lzf_decompress(data, plain)
            except PackError as exc:
                raise _Bad(f"bad LZF-compressed string: {exc}") from None
        raise _Bad(f"unknown string encoding {encoding}")

    def millis(self) -> int:
        return _I64.unpack(self.read(8))[0]


class _Bad(Exception):
    """A decoding error; the caller knows the offset to report."""


class _Empty(_Bad):
    """A container with no element (read in full): a file skips the key,
    as Redis does; RESTORE refuses it ("Bad data format")."""

    def __init__(self) -> None:
        super().__init__("an empty value")


def _nonempty(value: Any) -> Any:
    if not value:
        raise _Empty()
    return value


def _text_double(inp: _Input) -> float:
    """rdbLoadDoubleValue: a length byte (253 nan, 254 +inf, 255 -inf) and
    that many bytes of text (RDB_TYPE_ZSET, before Redis 3.2)."""
    n = inp.byte()
    if n == 255:
        return -math.inf
    if n == 254:
        return math.inf
    if n == 253:
        return math.nan
    return _float(inp.read(n))


def _float(text: bytes) -> float:
    try:
        return float(text)
    except ValueError:
        raise _Bad(f"bad score {text[:40]!r}") from None


def _pairs(items: list[bytes], what: str) -> list[bytes]:
    if len(items) % 2:
        raise _Bad(f"the {what} holds an odd number of entries")
    return items


def _set(members: Iterable[bytes]) -> set:
    members = list(members)
    value = set(members)
    if len(value) != len(members):
        raise _Bad("duplicate set members")
    return value


def _hash(flat: list[bytes]) -> dict:
    value = dict(zip(flat[::2], flat[1::2]))
    if 2 * len(value) != len(flat):
        raise _Bad("duplicate hash fields")
    return value


def _zset(pairs: list[tuple[bytes, float]]) -> ZSet:
    for _, score in pairs:
        if score != score:
            raise _Bad("a sorted set score is NaN")
    value = ZSet.from_items(pairs)
    if len(value) != len(pairs):
        raise _Bad("duplicate sorted set members")
    return value


def _field_ttl_hash(entries: list[tuple[bytes, bytes, int]], now_ms: float) -> dict | None:
    """A hash from (field, value, expiry ms or 0) entries, its expired
    fields dropped; None when none is left."""
    if len({field for field, _, _ in entries}) != len(entries):
        raise _Bad("duplicate hash fields")
    live = [entry for entry in entries if not entry[2] or entry[2] >= now_ms]
    if not live:
        return None
    fields = {field: item for field, item, _ in live}
    timed = [(field, float(when)) for field, _, when in live if when]
    if not timed:
        return fields
    value = FieldTTLHash(fields)
    for field, when in timed:
        value.set_field_expire(field, when)
    return value


def _blob_items(inp: _Input, parse: Callable[[bytes], list], what: str) -> list:
    blob = inp.string()
    try:
        return parse(blob)
    except PackError as exc:
        raise _Bad(f"bad {what}: {exc}") from None


def read_value(inp: _Input, rdb_type: int, now_ms: float) -> Any:
    """One value of the given RDB type -> a ringcache value, or None when
    every field of a hash with field TTLs has expired. An empty container
    raises _Empty once it is read."""
    if rdb_type == T_STRING:
        return inp.string()
    if rdb_type in UNSUPPORTED_TYPES:
        raise _Bad(f"{UNSUPPORTED_TYPES[rdb_type]} (RDB type {rdb_type})")
    if rdb_type in (T_STREAM_LISTPACKS, T_STREAM_LISTPACKS_2, T_STREAM_LISTPACKS_3):
        return _read_stream_value(inp, rdb_type)
    if rdb_type == T_LIST:
        items = [inp.string() for _ in range(inp.length())]
        return deque(_nonempty(items))
    if rdb_type == T_SET:
        return _nonempty(_set(inp.string() for _ in range(inp.length())))
    if rdb_type == T_HASH:
        flat = []
        for _ in range(inp.length()):
            flat.append(inp.string())
            flat.append(inp.string())
        return _nonempty(_hash(flat))
    if rdb_type == T_ZSET or rdb_type == T_ZSET_2:
        pairs = []
        for _ in range(inp.length()):
            member = inp.string()
            score = _text_double(inp) if rdb_type == T_ZSET else _F64.unpack(inp.read(8))[0]
            pairs.append((member, score))
        return _zset(_nonempty(pairs))
    if rdb_type == T_LIST_QUICKLIST or rdb_type == T_LIST_QUICKLIST_2:
        items = []
        for _ in range(inp.length()):
            container = QUICKLIST_PACKED
            if rdb_type == T_LIST_QUICKLIST_2:
                container = inp.length()
                if container not in (QUICKLIST_PACKED, QUICKLIST_PLAIN):
                    raise _Bad(f"unknown quicklist node container {container}")
            if container == QUICKLIST_PLAIN:
                items.append(inp.string())
            elif rdb_type == T_LIST_QUICKLIST_2:
                items += _blob_items(inp, listpack_items, "listpack")
            else:
                items += _blob_items(inp, ziplist_items, "ziplist")
        return deque(_nonempty(items))
    if rdb_type == T_LIST_ZIPLIST:
        items = _blob_items(inp, ziplist_items, "ziplist")
        return deque(_nonempty(items))
    if rdb_type == T_SET_INTSET:
        return _nonempty(_set(b"%d" % v for v in _blob_items(inp, intset_values, "intset")))
    if rdb_type == T_SET_LISTPACK:
        return _nonempty(_set(_blob_items(inp, listpack_items, "listpack")))
    if rdb_type in (T_ZSET_ZIPLIST, T_ZSET_LISTPACK):
        parse = ziplist_items if rdb_type == T_ZSET_ZIPLIST else listpack_items
        flat = _pairs(_blob_items(inp, parse, TYPE_NAMES[rdb_type]), "sorted set")
        pairs = [(flat[i], _float(flat[i + 1])) for i in range(0, len(flat), 2)]
        return _zset(_nonempty(pairs))
    if rdb_type in (T_HASH_ZIPMAP, T_HASH_ZIPLIST, T_HASH_LISTPACK):
        parse = {T_HASH_ZIPMAP: zipmap_pairs, T_HASH_ZIPLIST: ziplist_items,
                 T_HASH_LISTPACK: listpack_items}[rdb_type]
        return _nonempty(_hash(_pairs(_blob_items(inp, parse, TYPE_NAMES[rdb_type]), "hash")))
    if rdb_type in (T_HASH_LISTPACK_EX, T_HASH_LISTPACK_EX_PRE_GA):
        if rdb_type == T_HASH_LISTPACK_EX:
            inp.millis()  # the earliest field expiry: a hint we recompute
        flat = _blob_items(inp, listpack_items, "listpack")
        if len(flat) % 3:
            raise _Bad("a hash listpack with field TTLs holds entries that are not triplets")
        entries = []
        for i in range(0, len(flat), 3):
            when = canonical_int(flat[i + 2])
            if when is None or not 0 <= when <= EB_EXPIRE_TIME_MAX:
                raise _Bad(f"bad field expiry {flat[i + 2][:40]!r}")
            entries.append((flat[i], flat[i + 1], when))
        return _field_ttl_hash(_nonempty(entries), now_ms)
    if rdb_type in (T_HASH_METADATA, T_HASH_METADATA_PRE_GA):
        earliest = inp.millis() if rdb_type == T_HASH_METADATA else 0
        entries = []
        for _ in range(inp.length()):
            ttl = inp.length()
            if rdb_type == T_HASH_METADATA:
                when = ttl + earliest - 1 if ttl else 0
            else:
                when = ttl  # absolute in the release candidates
            if not 0 <= when <= EB_EXPIRE_TIME_MAX:
                raise _Bad(f"bad field expiry {when}")
            field = inp.string()
            entries.append((field, inp.string(), when))
        return _field_ttl_hash(_nonempty(entries), now_ms)
    raise _Bad(f"unknown RDB value type {rdb_type}")


# -- DUMP payloads -----------------------------------------------------------------


def check_payload(payload: bytes) -> int:
    """verifyDumpPayload: the footer's RDB version if it is one we read and
    the CRC-64 matches; else DumpPayloadError."""
    if len(payload) < 10:
        raise DumpPayloadError("a DUMP payload is at least 10 bytes", 0, "DUMP payload")
    version = payload[-10] | payload[-9] << 8
    if version > MAX_VERSION:
        raise DumpPayloadError(f"RDB version {version} is newer than {MAX_VERSION}",
                               len(payload) - 10, "DUMP payload")
    if _U64.unpack_from(payload, len(payload) - 8)[0] != crc64(memoryview(payload)[:-8]):
        raise DumpPayloadError("checksum mismatch", len(payload) - 8, "DUMP payload")
    return version


def load_payload(payload: bytes, now_ms: float) -> Any:
    """RESTORE's half: the value of a DUMP payload (None when every field
    of a hash with field TTLs has expired). DumpPayloadError for a bad footer,
    RDBError for a value that does not decode or leaves bytes over."""
    check_payload(payload)
    inp = _Input(None, payload[:-10])
    try:
        rdb_type = inp.byte()
        value = read_value(inp, rdb_type, now_ms)
    except _Bad as exc:
        raise RDBError(str(exc), 0, "DUMP payload") from None
    except (_Truncated, struct.error):
        raise RDBError("the value runs past the end of the payload", len(payload) - 10,
                       "DUMP payload") from None
    if inp.pos != len(inp.buf):
        raise RDBError("bytes left over after the value", inp.offset, "DUMP payload")
    return value


# -- files ----------------------------------------------------------------------------

Sink = Callable[[int, bytes, Any, "int | None", "int | None", "int | None"], None]
StringsSink = Callable[[int, list, list], None]
STRING_RUN = 4096  # plain string keys handed to a StringsSink at a time


def scan_strings(buf: bytes, pos: int, keys: list, values: list, limit: int) -> int:
    """From buf[pos], the consecutive plain string records (type byte 0, key
    and value lengths under 64, so one length byte each) that lie wholly in
    buf: appends their keys and values until len(keys) reaches limit, and
    returns the position after the last record taken (pos if none). The
    common record of a cache's snapshot, read without a call per field.
    Compiled twin: ringcache/_speedups.pyx (scan_strings)."""
    end = len(buf)
    while len(keys) < limit and pos + 1 < end and buf[pos] == 0:
        n = buf[pos + 1]
        if n >= 64:
            break
        at = pos + 2 + n  # the value's length byte
        if at >= end:
            break
        m = buf[at]
        if m >= 64:
            break
        stop = at + 1 + m
        if stop > end:
            break
        keys.append(buf[pos + 2:at])
        values.append(buf[at + 1:stop])
        pos = stop
    return pos


scan_strings_pure = scan_strings  # (the reference; ringcache/accel.py may install the compiled twin)


class RDBReader:
    """Reads an RDB file from a binary file-like object.

    load(sink, now_ms) calls sink(db, key, value, expire_ms, idle_s, freq)
    for every key not expired at now_ms (the last three None when absent)
    and returns the AUX fields. Counters: keys_loaded, keys_expired,
    keys_empty (skipped, as Redis skips empty keys). Library code from
    FUNCTION2 records is collected in `functions` for the caller to load,
    or refused at its record (refuse_functions). Errors raise RDBError
    with the offset of the record at fault (a checksum mismatch: the
    checksum's own offset). With strict_end, bytes after the checksum are
    an error (a file); without, the reader stops there (a stream)."""

    def __init__(self, source: IO[bytes], name: str = "", strict_end: bool = True,
                 refuse_functions: bool = False) -> None:
        self.input = _Input(source)
        self.name = name
        self.strict_end = strict_end
        self.refuse_functions = refuse_functions
        self.version = 0
        self.keys_loaded = 0
        self.keys_expired = 0
        self.keys_empty = 0
        self.functions: list[bytes] = []
        self.checksum_checked = False

    @property
    def offset(self) -> int:
        """The stream offset of the next unread byte."""
        return self.input.offset

    def _fail(self, reason: str, offset: int) -> RDBError:
        return RDBError(reason, offset, self.name)

    def load(self, sink: Sink, now_ms: float, strings: StringsSink | None = None) -> dict[bytes, bytes]:
        """`strings(db, keys, values)`, when given, takes the plain string
        keys (no expiry, idle or freq record) in runs of up to STRING_RUN,
        instead of one sink call each: a loader that installs a run at a
        time (Keyspace.install_strings) skips most of the per-key calls, the
        bulk of a large full sync. Keys reach the two sinks in file order."""
        inp = self.input
        record = 0
        run_keys: list[bytes] = []
        run_values: list[bytes] = []
        run_db = 0

        def flush_run() -> None:
            if run_keys:
                assert strings is not None
                strings(run_db, run_keys[:], run_values[:])
                run_keys.clear()
                run_values.clear()

        try:
            header = inp.read(9)
            if header[:5] != MAGIC or not header[5:].isdigit():
                raise self._fail("not an RDB file (wrong signature)", 0)
            self.version = version = int(header[5:])
            if not 1 <= version <= MAX_VERSION:
                raise self._fail(f"RDB format version {version} is not one this node reads "
                                 f"(1 to {MAX_VERSION})", 5)
            aux: dict[bytes, bytes] = {}
            db = 0
            expire: int | None = None
            idle: int | None = None
            freq: int | None = None
            while True:
                buf, pos = inp.buf, inp.pos
                record = inp.start + pos
                if pos < len(buf):  # (inp.byte() inlined: this loop runs once a key)
                    op = buf[pos]
                    pos += 1
                    inp.pos = pos
                else:
                    op = inp.byte()
                    buf, pos = inp.buf, inp.pos
                if op == T_STRING and strings is not None and expire is None and idle is None and freq is None:
                    # A run of plain strings (scan_strings), handed on a run at a time.
                    if run_db != db:
                        flush_run()
                        run_db = db
                    taken = len(run_keys)
                    after = scan_strings(buf, pos - 1, run_keys, run_values, STRING_RUN)
                    if after >= pos:
                        self.keys_loaded += len(run_keys) - taken
                        inp.pos = after
                        if len(run_keys) >= STRING_RUN:
                            flush_run()
                        continue
                if op == T_STRING:
                    # The common record, parsed in place when both lengths
                    # are 6-bit and the window holds it.
                    n = buf[pos] if pos < len(buf) else 64
                    if n < 64:
                        m = buf[pos + 1 + n] if pos + 1 + n < len(buf) else 64
                        if m < 64 and pos + 2 + n + m <= len(buf):
                            key = buf[pos + 1:pos + 1 + n]
                            inp.pos = pos + 2 + n + m
                            value = buf[pos + 2 + n:inp.pos]
                            if expire is not None and expire < now_ms:
                                self.keys_expired += 1
                            else:
                                if run_keys:
                                    flush_run()
                                self.keys_loaded += 1
                                sink(db, key, value, expire, idle, freq)
                            expire = idle = freq = None
                            continue
                    if strings is not None and expire is None and idle is None and freq is None:
                        # (a plain string the window cuts, or with long lengths: still the run's)
                        if run_db != db:
                            flush_run()
                            run_db = db
                        key = inp.string()
                        run_keys.append(key)
                        run_values.append(inp.string())
                        self.keys_loaded += 1
                        continue
                flush_run()  # (every other record: the run goes first, in file order)
                if op < OP_SLOT_INFO:  # a key and its value
                    if op not in TYPE_NAMES:
                        raise _Bad(f"unknown record type {op}")
                    key = inp.string()
                    try:
                        value = read_value(inp, op, now_ms)
                    except _Empty:
                        self.keys_empty += 1
                        expire = idle = freq = None
                        continue
                    if value is None:
                        self.keys_expired += 1  # every field expired
                    elif expire is not None and expire < now_ms:
                        self.keys_expired += 1  # expired while nobody served it
                    else:
                        self.keys_loaded += 1
                        sink(db, key, value, expire, idle, freq)
                    expire = idle = freq = None
                elif op == OP_EXPIRETIME_MS:
                    expire = inp.millis()
                elif op == OP_EXPIRETIME:
                    expire = _I32.unpack(inp.read(4))[0] * 1000
                elif op == OP_IDLE:
                    idle = inp.length()
                elif op == OP_FREQ:
                    freq = inp.byte()
                elif op == OP_SELECTDB:
                    db = inp.length()
                elif op == OP_RESIZEDB:
                    inp.length()
                    inp.length()
                elif op == OP_AUX:
                    name = inp.string()
                    aux[name] = inp.string()
                elif op == OP_FUNCTION2:
                    if self.refuse_functions:  # (Redis writes them before any key)
                        raise _Bad("the file holds a Redis function library (FUNCTION LOAD), "
                                   "which ringcache cannot load")
                    self.functions.append(inp.string())
                elif op == OP_SLOT_INFO:  # cluster slot sizes: hints only
                    inp.length()
                    inp.length()
                    inp.length()
                elif op == OP_EOF:
                    break
                elif op == OP_MODULE_AUX:
                    raise _Bad("module AUX data cannot be loaded (ringcache has no modules)")
                else:  # OP_FUNCTION_PRE_GA
                    raise _Bad("functions in the Redis 7.0 release-candidate format are not supported")
            if version >= 5:
                record = inp.offset
                computed = inp.checksum()
                stored = _U64.unpack(inp.read(8))[0]
                if stored and stored != computed:
                    raise self._fail(f"checksum mismatch: the file says {stored:016x}, its contents "
                                     f"give {computed:016x}", record)
                self.checksum_checked = bool(stored)
            if self.strict_end and not inp.at_end():
                raise self._fail("trailing bytes after the checksum", inp.offset)
            return aux
        except _Bad as exc:
            raise self._fail(str(exc), record) from None
        except (_Truncated, struct.error):
            raise self._fail(f"truncated: the file ends at offset {inp.offset}, inside the record "
                             f"that starts here", record) from None


def read_rdb(source: IO[bytes], now_ms: float, name: str = "") -> tuple[list[tuple], dict]:
    """Every live key of an RDB file as (db, key, value, expire_ms, idle,
    freq) tuples, and the AUX fields (tests, tools)."""
    out: list[tuple] = []
    reader = RDBReader(source, name)
    aux = reader.load(lambda *entry: out.append(entry), now_ms)
    return out, aux
