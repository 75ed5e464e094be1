"""The RDB codec, pure (persistence/rdb.py, compact.py, crc64.py): every
type and encoding both ways, the footer of DUMP payloads, and damaged input
(truncated at every offset, a flipped byte at every offset, unknown or newer
encodings) refused with an offset, never half-read. tests/persistence/
test_rdb.py checks the same formats against a real redis-server."""

from __future__ import annotations

import io
import os
import random
import struct
from collections import deque

import pytest

from ringcache.persistence import compact, crc64, rdb
from ringcache.persistence.rdb import (DumpPayloadError, RDBError, RDBReader, dump_payload,
                                       load_payload, rdb_chunks, read_rdb)
from ringcache.storage.hashes import FieldTTLHash
from ringcache.storage.zset import ZSet

NOW = 1_700_000_000_000


def _image(databases, now=NOW, **kwargs) -> bytes:
    return b"".join(rdb_chunks(databases, now, **kwargs))


def _field_ttl_hash(fields: dict, expires: dict) -> FieldTTLHash:
    value = FieldTTLHash(fields)
    for field, when in expires.items():
        value.set_field_expire(field, float(when))
    return value


def _comparable(value):
    if isinstance(value, ZSet):
        return ("zset", list(value.items()))
    if isinstance(value, FieldTTLHash):
        return ("hash-ttl", dict(value), dict(value.field_expires))
    if isinstance(value, deque):
        return ("list", list(value))
    return (type(value).__name__, value)


def _every_type() -> dict:
    return {
        b"s": b"hello",
        b"empty": b"",
        b"int8": b"-100", b"int16": b"30000", b"int32": b"-2000000000", b"int64": b"9223372036854775807",
        b"not-int": b"007", b"plus": b"+1", b"long-int-text": b"123456789012",
        b"big": os.urandom(70_000),
        b"\x00binary\r\n": b"\xff\x00",
        b"list": deque([b"a", b"", b"1", b"-4096", b"4095", b"-4097", b"40000", b"-8388608",
                        b"8388607", b"2147483647", b"-9223372036854775808", b"x" * 100, b"y" * 5000]),
        b"long-list": deque(b"item-%d" % i * 3 for i in range(5000)),  # many quicklist nodes
        b"intset": {b"1", b"-3", b"70000"},
        b"intset64": {b"1", b"%d" % 2 ** 40},
        b"set": {b"a", b"01", b"b"},
        b"big-intset": {b"%d" % i for i in range(600)},  # past 512: plain
        b"zset": ZSet.from_items([(b"a", 1.0), (b"b", 2.5), (b"c", float("inf")), (b"d", -0.1),
                                  (b"e", 1e20), (b"f", float("-inf")), (b"g", 2.0 ** 52),
                                  (b"h", 1 / 3)]),
        b"big-zset": ZSet.from_items([(b"m%d" % i, i / 7) for i in range(300)]),
        b"long-member-zset": ZSet.from_items([(b"m" * 65, 1.0)]),
        b"hash": {b"f": b"v", b"n": b"12"},
        b"big-hash": {b"f%d" % i: b"v" * 100 for i in range(200)},
        b"hash-ttl": _field_ttl_hash({b"a": b"1", b"b": b"2", b"c": b"3"},
                                     {b"a": NOW + 1000, b"b": NOW + 5000}),
    }


# -- CRC-64 -----------------------------------------------------------------------


def test_crc64_is_redis_jones_and_both_implementations_agree():
    assert crc64.crc64(b"123456789") == 0xE9C6D914C4B8D9CA  # crc64.c's own test vector
    assert crc64.crc64_pure(b"123456789") == 0xE9C6D914C4B8D9CA
    data = os.urandom(5000)
    assert crc64.crc64(data) == crc64.crc64_pure(data)
    assert crc64.crc64(data[3000:], crc64.crc64(data[:3000])) == crc64.crc64(data)


# -- compact encodings ------------------------------------------------------------------


@pytest.mark.parametrize("item", [
    b"", b"a", b"x" * 63, b"x" * 64, b"x" * 4095, b"x" * 4096, b"x" * 20000,  # string lengths
    b"0", b"127", b"128", b"-1", b"-4096", b"4095", b"-4097", b"4096", b"32767", b"-32768",
    b"8388607", b"-8388608", b"2147483647", b"-2147483648", b"9223372036854775807",
    b"-9223372036854775808", b"9223372036854775808", b"01", b"-0", b"1.5",
])
def test_listpack_entries_round_trip(item):
    blob = compact.listpack([item, item])
    assert compact.listpack_items(blob) == [item, item]
    assert len(blob) == struct.unpack_from("<I", blob)[0] and blob[-1] == 0xFF


def test_listpack_integer_entries_are_integers():
    # lpAppend stores integer-looking strings as integers: 7-bit, 13-bit, int16 ...
    assert compact.listpack([b"5"])[6:8] == b"\x05\x01"
    assert compact.listpack([b"-1"])[6] & 0xE0 == 0xC0
    assert compact.listpack([b"40000"])[6] == 0xF2
    assert compact.listpack([b"007"])[6] == 0x83  # not canonical: a 3-byte string


@pytest.mark.parametrize("damage", ["short", "count", "terminator", "backlen", "total", "encoding"])
def test_damaged_listpacks_are_refused(damage):
    blob = bytearray(compact.listpack([b"abc", b"1000", b"x" * 200]))
    if damage == "short":
        blob = blob[:5]
    elif damage == "count":
        blob[4] = 7
    elif damage == "terminator":
        blob[-1] = 0
    elif damage == "backlen":
        blob[10] ^= 1  # the first entry's backlen (0x83 'abc' 0x04)
    elif damage == "total":
        blob[0] += 1
    else:
        blob[6] = 0xF5
    with pytest.raises(compact.PackError):
        compact.listpack_items(bytes(blob))


def _ziplist(items: list) -> bytes:
    """A ziplist as Redis 6 wrote one (ziplist.c), every entry encoding."""
    entries = []
    prev = 0
    for item in items:
        head = bytes((prev,)) if prev < 254 else b"\xfe" + struct.pack("<I", prev)
        if isinstance(item, bytes):
            n = len(item)
            if n < 64:
                enc = bytes((n,))
            elif n < 16384:
                enc = bytes((0x40 | n >> 8, n & 0xFF))
            else:
                enc = b"\x80" + struct.pack(">I", n)
            body = enc + item
        elif 0 <= item <= 12:
            body = bytes((0xF1 + item,))
        elif -128 <= item <= 127:
            body = b"\xfe" + struct.pack("<b", item)
        elif -32768 <= item <= 32767:
            body = b"\xc0" + struct.pack("<h", item)
        elif -(1 << 23) <= item < 1 << 23:
            body = b"\xf0" + (item & 0xFFFFFF).to_bytes(3, "little")
        elif -(1 << 31) <= item < 1 << 31:
            body = b"\xd0" + struct.pack("<i", item)
        else:
            body = b"\xe0" + struct.pack("<q", item)
        entry = head + body
        entries.append(entry)
        prev = len(entry)
    payload = b"".join(entries)
    tail = 10 + len(payload) - (len(entries[-1]) if entries else 0)
    return struct.pack("<IIH", 10 + len(payload) + 1, tail, len(items)) + payload + b"\xff"


def test_ziplists_of_every_entry_encoding():
    items = [b"a", b"x" * 100, b"y" * 20000, 0, 12, -5, 300, -70000, 5_000_000, -(2 ** 40), 2 ** 62]
    assert compact.ziplist_items(_ziplist(items)) == [
        item if isinstance(item, bytes) else b"%d" % item for item in items]
    damaged = bytearray(_ziplist([b"a", b"b"]))
    damaged[13] = 9  # the second entry's previous-length
    with pytest.raises(compact.PackError):
        compact.ziplist_items(bytes(damaged))


def test_intsets_pick_the_narrowest_width_and_are_checked():
    assert compact.intset([3, 1, 2])[:8] == struct.pack("<II", 2, 3)
    assert compact.intset([1, 70000])[:4] == struct.pack("<I", 4)
    assert compact.intset([1, 2 ** 40])[:4] == struct.pack("<I", 8)
    assert compact.intset_values(compact.intset([5, -5, 2 ** 40])) == [-5, 5, 2 ** 40]
    with pytest.raises(compact.PackError):
        compact.intset_values(struct.pack("<IIhh", 2, 2, 5, 1))  # not sorted
    with pytest.raises(compact.PackError):
        compact.intset_values(struct.pack("<IIh", 2, 2, 5))  # short


def test_zipmap():
    blob = b"\x02" + b"\x01f\x01\x00v" + b"\x03abc\x02\x02xy!!" + b"\xff"
    assert compact.zipmap_pairs(blob) == [b"f", b"v", b"abc", b"xy"]
    with pytest.raises(compact.PackError):
        compact.zipmap_pairs(blob[:-1])


def test_lzf_literals_and_back_references():
    # "abc" literal, then a 5-byte copy from distance 3 (overlapping), then "!"
    data = b"\x02abc" + bytes(((5 - 2) << 5, 2)) + b"\x00!"
    assert compact.lzf_decompress(data, 9) == b"abcabcab!"
    long_ref = b"\x00z" + bytes((7 << 5, 20, 0))  # length 7 + 20 + 2 from distance 1
    assert compact.lzf_decompress(long_ref, 30) == b"z" * 30
    with pytest.raises(compact.PackError):
        compact.lzf_decompress(data, 10)  # wrong plain length
    with pytest.raises(compact.PackError):
        compact.lzf_decompress(bytes(((5 - 2) << 5, 9)), 5)  # a reference before the start


# -- DUMP payloads ---------------------------------------------------------------------


@pytest.mark.parametrize("key", list(_every_type()))
def test_dump_payload_round_trip(key):
    value = _every_type()[key]
    payload = dump_payload(value)
    version = struct.unpack_from("<H", payload, len(payload) - 10)[0]
    assert version == (12 if key == b"hash-ttl" else 10)
    assert _comparable(load_payload(payload, NOW)) == _comparable(value)


def test_dump_payload_footer_and_leftovers():
    payload = dump_payload(b"hello")
    with pytest.raises(DumpPayloadError):
        load_payload(payload[:-1] + bytes((payload[-1] ^ 1,)), NOW)  # checksum
    newer = payload[:-10] + struct.pack("<H", 13)
    with pytest.raises(DumpPayloadError):
        load_payload(newer + struct.pack("<Q", crc64.crc64(newer)), NOW)
    with pytest.raises(DumpPayloadError):
        load_payload(b"short", NOW)

    def signed(body: bytes) -> bytes:
        head = body + struct.pack("<H", 10)
        return head + struct.pack("<Q", crc64.crc64(head))

    for body in (b"\x00\x05hel",  # runs into the footer
                 b"\x00\x05hello!",  # bytes left over
                 b"\x15\x00",  # a stream cut after its node count
                 b"\x04\x00",  # an empty hash
                 b"\x02\x02\x01a\x01a",  # a set with a duplicate
                 b"\x63"):  # no such type
        with pytest.raises(RDBError) as info:
            load_payload(signed(body), NOW)
        assert not isinstance(info.value, DumpPayloadError)


def test_field_ttls_in_payloads_drop_expired_fields():
    value = _field_ttl_hash({b"a": b"1", b"b": b"2"}, {b"a": NOW - 1, b"b": NOW + 100})
    back = load_payload(dump_payload(value), NOW)
    assert _comparable(back) == ("hash-ttl", {b"b": b"2"}, {b"b": NOW + 100})
    assert load_payload(dump_payload(value), NOW + 101) is None  # nothing left


# -- files ------------------------------------------------------------------------------


def test_file_round_trip_every_type_databases_expiry_aux_and_access():
    db0 = _every_type()
    db3 = {b"k%d" % i: b"%d" % i for i in range(5000)}  # several chunks
    expires = {b"s": NOW + 5000, b"zset": NOW + 1, b"dead": NOW - 1}
    db0[b"dead"] = b"gone"
    access = {b"s": (100, None), b"list": (None, 7)}
    image = _image([(0, db0, expires), (3, db3, {})], aux={"ringcache-ver": "0.1.0", "ctime": 17},
                   access=lambda db, key: access.get(key, (None, None)))
    assert image[:9] == b"REDIS0012"  # a hash with field TTLs inside
    reader = RDBReader(io.BytesIO(image))
    got = []
    aux = reader.load(lambda *entry: got.append(entry), NOW)
    assert aux == {b"ringcache-ver": b"0.1.0", b"ctime": b"17"}
    assert reader.checksum_checked and reader.keys_expired == 0
    by_key = {(db, key): (value, expire, idle, freq) for db, key, value, expire, idle, freq in got}
    del db0[b"dead"]
    assert {key: _comparable(by_key[0, key][0]) for key in db0} == {
        key: _comparable(value) for key, value in db0.items()}
    assert {key: by_key[3, key][0] for key in db3} == db3
    assert by_key[0, b"s"][1:] == (NOW + 5000, 100, None)
    assert by_key[0, b"list"][1:] == (None, None, 7)
    assert by_key[0, b"zset"][1] == NOW + 1
    # Read later: expired keys and hash fields stay dead, and are counted.
    reader = RDBReader(io.BytesIO(image))
    later = []
    reader.load(lambda *entry: later.append(entry[1]), NOW + 2000)
    assert b"zset" not in later and b"s" in later and reader.keys_expired == 1
    assert [value for _, key, value, *_ in got if key == b"hash-ttl"][0].field_expires
    assert image == _image([(0, {**db0, b"dead": b"gone"}, expires), (3, db3, {})],
                           aux={"ringcache-ver": "0.1.0", "ctime": 17},
                           access=lambda db, key: access.get(key, (None, None)))


def test_plain_files_say_version_10():
    image = _image([(0, {b"a": b"1", b"h": {b"f": b"v"}}, {})])
    assert image[:9] == b"REDIS0010"
    data, _ = read_rdb(io.BytesIO(image), NOW)
    assert [(key, value) for _, key, value, *_ in data] == [(b"a", b"1"), (b"h", {b"f": b"v"})]


def _small_image() -> bytes:
    return _image([(0, {b"s": b"value", b"n": b"42", b"l": deque([b"a", b"b"]), b"h": {b"f": b"v"},
                        b"z": ZSet.from_items([(b"m", 1.5)]), b"set": {b"x", b"y"}},
                    {b"s": NOW + 10_000})], aux={"a": "b"})


def test_truncated_at_every_offset_is_refused_with_an_offset():
    image = _small_image()
    for cut in range(len(image)):
        with pytest.raises(RDBError) as info:
            read_rdb(io.BytesIO(image[:cut]), NOW, name="dump.rdb")
        assert 0 <= info.value.offset <= cut, cut
        assert "dump.rdb" in str(info.value)


def test_a_flipped_byte_anywhere_is_refused():
    image = _small_image()
    for at in range(len(image)):
        damaged = bytearray(image)
        damaged[at] ^= 0x10
        with pytest.raises(RDBError):
            read_rdb(io.BytesIO(bytes(damaged)), NOW)


def test_trailing_bytes_are_refused_in_a_file_and_left_alone_in_a_stream():
    image = _small_image()
    with pytest.raises(RDBError, match="trailing bytes"):
        read_rdb(io.BytesIO(image + b"x"), NOW)
    got = []
    RDBReader(io.BytesIO(image + b"+next"), strict_end=False).load(lambda *e: got.append(e[1]), NOW)
    assert len(got) == 6


class _Trickle(io.RawIOBase):
    """A source that returns at most 3 bytes a read (a pipe, a socket)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self.data[self.pos:self.pos + min(n, 3)]
        self.pos += len(chunk)
        return chunk


def test_short_reads():
    image = _small_image()
    def entries(source):
        return [(db, key, _comparable(value), *rest) for db, key, value, *rest in read_rdb(source, NOW)[0]]

    assert entries(_Trickle(image)) == entries(io.BytesIO(image))


def _with_record(record: bytes, version: int = 10) -> bytes:
    """A file holding one raw record, with a right checksum."""
    body = b"REDIS%04d" % version + b"\xfe\x00" + record + b"\xff"
    return body + struct.pack("<Q", crc64.crc64(body))


@pytest.mark.parametrize("record, message", [
    (b"\x07\x01k\x00", "module values cannot be loaded"),
    (b"\xf7\x00", "module AUX data"),
    (b"\xf6\x00", "release-candidate format"),
    (b"\x30\x01k", "unknown record type 48"),
])
def test_unsupported_records_are_refused_at_their_offset(record, message):
    with pytest.raises(RDBError, match=message) as info:
        read_rdb(io.BytesIO(_with_record(record)), NOW)
    assert info.value.offset == 11  # header (9) + SELECTDB 0 (2)


def test_versions_and_signature():
    with pytest.raises(RDBError, match="version 13") as info:
        read_rdb(io.BytesIO(_with_record(b"\x00\x01k\x01v", version=13)), NOW)
    assert info.value.offset == 5
    with pytest.raises(RDBError, match="signature") as info:
        read_rdb(io.BytesIO(b"RCSNAP\x00\x01" + b"\x00" * 20), NOW)
    assert info.value.offset == 0
    # Old files: version 3 has no checksum; seconds expiry (0xFD).
    old = b"REDIS0003\xfe\x00\xfd" + struct.pack("<i", NOW // 1000 + 60) + b"\x00\x01k\x01v\xff"
    data, _ = read_rdb(io.BytesIO(old), NOW)
    assert data == [(0, b"k", b"v", NOW + 60_000, None, None)]


def test_checksum_zero_means_not_computed_and_empty_keys_are_skipped():
    body = b"REDIS0010\xfe\x00\x04\x01h\x00\x00\x01k\x01v\xff"  # an empty hash, then k
    reader = RDBReader(io.BytesIO(body + b"\x00" * 8))
    got = []
    reader.load(lambda *entry: got.append(entry[1]), NOW)
    assert got == [b"k"] and reader.keys_empty == 1 and not reader.checksum_checked


def test_every_old_encoding_in_a_file():
    """Records as Redis 2.4-7.4 wrote them: text scores, ziplists, quicklist 1,
    zipmap, set listpack, and the hash-field-TTL forms."""
    s = rdb.encode_string
    records = [
        b"\x01" + s(b"list1") + b"\x02" + s(b"a") + s(b"b"),  # linked list
        b"\x03" + s(b"zset1") + b"\x02" + s(b"m") + b"\x031.5" + s(b"n") + b"\xfe",  # text scores
        b"\x0a" + s(b"zl-list") + s(_ziplist([b"a", 1])),
        b"\x0c" + s(b"zl-zset") + s(_ziplist([b"m", b"2.5", b"n", 3])),
        b"\x0d" + s(b"zl-hash") + s(_ziplist([b"f", b"v"])),
        b"\x0e" + s(b"ql1") + b"\x02" + s(_ziplist([b"a"])) + s(_ziplist([b"b", 2])),
        b"\x09" + s(b"zipmap") + s(b"\x01\x01f\x01\x00v\xff"),
        b"\x14" + s(b"lp-set") + s(compact.listpack([b"a", b"7"])),
        b"\x17" + s(b"lpex-rc") + s(compact.listpack([b"f", b"v", NOW + 10, b"g", b"w", 0])),
        b"\x19" + s(b"lpex") + struct.pack("<Q", NOW + 10)
        + s(compact.listpack([b"f", b"v", NOW + 10, b"g", b"w", 0])),
        b"\x16" + s(b"meta-rc") + b"\x01" + rdb.encode_length(NOW + 10) + s(b"f") + s(b"v"),
    ]
    body = b"REDIS0012\xfe\x00" + b"".join(records) + b"\xff"
    data, _ = read_rdb(io.BytesIO(body + struct.pack("<Q", crc64.crc64(body))), NOW)
    got = {key: _comparable(value) for _, key, value, *_ in data}
    assert got == {
        b"list1": ("list", [b"a", b"b"]),
        b"zset1": ("zset", [(b"m", 1.5), (b"n", float("inf"))]),
        b"zl-list": ("list", [b"a", b"1"]),
        b"zl-zset": ("zset", [(b"m", 2.5), (b"n", 3.0)]),
        b"zl-hash": ("dict", {b"f": b"v"}),
        b"ql1": ("list", [b"a", b"b", b"2"]),
        b"zipmap": ("dict", {b"f": b"v"}),
        b"lp-set": ("set", {b"a", b"7"}),
        b"lpex-rc": ("hash-ttl", {b"f": b"v", b"g": b"w"}, {b"f": NOW + 10}),
        b"lpex": ("hash-ttl", {b"f": b"v", b"g": b"w"}, {b"f": NOW + 10}),
        b"meta-rc": ("hash-ttl", {b"f": b"v"}, {b"f": NOW + 10}),
    }


def test_random_datasets_round_trip():
    rng = random.Random(7)
    for _ in range(20):
        data = {}
        for i in range(rng.randrange(1, 40)):
            kind = rng.randrange(5)
            n = rng.choice([1, 3, 200])
            items = [rng.choice([b"%d" % rng.randrange(-10**6, 10**6), os.urandom(rng.randrange(0, 90))])
                     for _ in range(n)]
            key = b"key:%d" % i
            if kind == 0:
                data[key] = items[0]
            elif kind == 1:
                data[key] = deque(items)
            elif kind == 2:
                data[key] = set(items)
            elif kind == 3:
                data[key] = {item: rng.choice(items) for item in items}
            else:
                data[key] = ZSet.from_items((item, rng.uniform(-1e9, 1e9)) for item in items)
        loaded, _ = read_rdb(io.BytesIO(_image([(rng.randrange(16), data, {})])), NOW)
        assert {key: _comparable(value) for _, key, value, *_ in loaded} == {
            key: _comparable(value) for key, value in data.items()}


def test_mutated_payloads_decode_or_raise_rdb_error_only():
    """A fuzz of the decoder: payloads of every type with bytes changed,
    cut or inserted, the checksum then made right again, so the value
    decoder reads them. Each must give a value or an RDBError, never another
    exception (which RESTORE would turn into an internal error)."""
    rng = random.Random(11)
    payloads = [dump_payload(value)[:-10] for value in _every_type().values()
                if len(dump_payload(value)) < 3000]
    payloads += [b"\x0a" + rdb.encode_string(_ziplist([b"a", 1, b"x" * 70])),
                 b"\x09" + rdb.encode_string(b"\x01\x01f\x01\x00v\xff"),
                 b"\x00\xc3\x05\x09\x02abc" + bytes(((5 - 2) << 5, 2)) + b"\x00!"]
    for _ in range(4000):
        body = bytearray(rng.choice(payloads))
        for _ in range(rng.randrange(1, 4)):
            action = rng.randrange(3)
            at = rng.randrange(len(body) + 1)
            if action == 0 and at < len(body):
                body[at] = rng.randrange(256)
            elif action == 1:
                del body[at:at + rng.randrange(1, 4)]
            else:
                body[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3)))
        head = bytes(body) + struct.pack("<H", 10)
        try:
            load_payload(head + struct.pack("<Q", crc64.crc64(head)), NOW)
        except RDBError:
            pass


def test_the_largest_expiry_time_is_written():
    # PEXPIREAT k 9223372036854775807 is kept as the float 2**63: one past int64.
    data, _ = read_rdb(io.BytesIO(_image([(0, {b"k": b"v"}, {b"k": float(2 ** 63 - 1)})])), NOW)
    assert data == [(0, b"k", b"v", 2 ** 63 - 1, None, None)]
