"""The snapshot and AOF formats, pure: round trips of every type, expiry on
load, and damaged input (truncated at every offset, a flipped byte at every
offset, short reads) that must be refused with an offset, never half-read."""

from __future__ import annotations

import io
import os
from collections import deque

import pytest

from ringcache.persistence import snapshot
from ringcache.persistence.aof import AOFFormatError, check_aof_main, check_commands, encode_command, \
    format_manifest, iter_commands, parse_manifest, AOFFile
from ringcache.persistence.snapshot import SnapshotError, SnapshotReader, read_snapshot
from ringcache.persistence.snapshot import rcsnap_chunks as snapshot_chunks  # the RCSNAP format, still read

NOW = 1_700_000_000_000.0


def _image(databases, now=NOW, aux=None, compress=False) -> bytes:
    return b"".join(snapshot_chunks(databases, now, aux, compress))


def _plain_values() -> dict:
    return {
        b"s": b"hello",
        b"empty-string": b"",
        b"big": os.urandom(70_000),  # a length past 16383, a frame of its own
        b"list": deque([b"a", b"b", b"", b"a"]),
        b"set": {b"x", b"y", b"z"},
        b"hash": {b"f1": b"v1", b"f2": b""},
        b"\x00binary\r\n": b"\xff\x00",
    }


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "zlib"])
def test_round_trip_plain_types_and_databases(compress):
    db0 = _plain_values()
    db5 = {b"k%d" % i: b"%d" % i for i in range(5000)}  # several frames
    image = _image([(0, db0, {}), (5, db5, {})], aux={b"a": b"b"}, compress=compress)
    if compress:  # (the random 70 KB value stays as it is: it does not compress)
        assert len(image) < len(_image([(0, db0, {}), (5, db5, {})], aux={b"a": b"b"})) - 20_000
    data, aux = read_snapshot(io.BytesIO(image), NOW)
    assert aux == {b"a": b"b"}
    got0 = {key: value for db, key, value, _ in data if db == 0}
    got5 = {key: value for db, key, value, _ in data if db == 5}
    assert got0 == db0 and got5 == db5
    assert type(got0[b"list"]) is deque and type(got0[b"set"]) is set and type(got0[b"hash"]) is dict


def test_expiry_times_are_absolute_and_expired_keys_stay_dead():
    data = {b"live": b"1", b"dead": b"2", b"forever": b"3"}
    expires = {b"live": NOW + 5000, b"dead": NOW + 10}
    image = _image([(0, data, expires)], now=NOW)
    loaded, _ = read_snapshot(io.BytesIO(image), NOW)
    assert {key: when for _, key, _, when in loaded} == {b"live": NOW + 5000, b"dead": NOW + 10,
                                                          b"forever": None}
    # Loaded later, after b"dead" expired: not resurrected, and counted.
    reader = SnapshotReader(io.BytesIO(image))
    out = []
    reader.load(lambda *a: out.append(a[1]), NOW + 100)
    assert sorted(out) == [b"forever", b"live"] and reader.keys_expired == 1
    # Keys already expired when the snapshot is taken are not written at all.
    assert b"dead" not in _image([(0, data, expires)], now=NOW + 100)


def test_zset_and_field_ttl_hash_round_trip():
    zset_module = pytest.importorskip("ringcache.storage.zset")
    hashes = pytest.importorskip("ringcache.storage.hashes")
    zset = zset_module.ZSet.from_items([(b"a", 1.5), (b"b", -2.0), (b"c", float("inf"))])
    ttl_hash = hashes.FieldTTLHash({b"f": b"1", b"g": b"2", b"gone": b"3"})
    ttl_hash.set_field_expire(b"f", NOW + 1000)
    ttl_hash.set_field_expire(b"gone", NOW - 1)
    image = _image([(0, {b"z": zset, b"h": ttl_hash}, {})], now=NOW - 10)
    loaded = {key: value for _, key, value, _ in read_snapshot(io.BytesIO(image), NOW)[0]}
    assert list(loaded[b"z"].items()) == list(zset.items())
    h = loaded[b"h"]
    assert isinstance(h, hashes.FieldTTLHash)
    assert dict(h) == {b"f": b"1", b"g": b"2"}  # the field that expired while down is gone
    assert h.field_expires == {b"f": NOW + 1000}


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "zlib"])
def test_every_truncation_is_refused_with_its_offset(compress):
    image = _image([(0, _plain_values() | {b"big": b"x" * 400}, {b"s": NOW + 1})], compress=compress)
    for cut in range(len(image)):
        with pytest.raises(SnapshotError) as info:
            read_snapshot(io.BytesIO(image[:cut]), NOW)
        assert 0 <= info.value.offset <= cut, cut


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "zlib"])
def test_every_flipped_byte_is_refused(compress):
    image = _image([(0, {b"a": b"1", b"l": deque([b"x" * 300, b"y"])}, {b"a": NOW + 1})], compress=compress)
    assert compress == (b"x" * 300 not in image)
    for i in range(len(image)):
        damaged = bytearray(image)
        damaged[i] ^= 0x41
        with pytest.raises(SnapshotError):
            read_snapshot(io.BytesIO(bytes(damaged)), NOW)


def test_trailing_bytes_and_newer_versions_are_refused():
    image = _image([(0, {b"a": b"1"}, {})])
    with pytest.raises(SnapshotError, match="trailing"):
        read_snapshot(io.BytesIO(image + b"\x00"), NOW)
    newer = snapshot.MAGIC + b"\x00\x63" + image[len(snapshot.HEADER):]
    with pytest.raises(SnapshotError, match="version 99"):
        read_snapshot(io.BytesIO(newer), NOW)
    with pytest.raises(SnapshotError, match="wrong signature"):  # neither RCSNAP nor RDB
        read_snapshot(io.BytesIO(b"RINGCACHE" + image), NOW)


class Trickle(io.RawIOBase):
    """A stream that hands out at most 3 bytes per read (a socket, a pipe)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self.data[self.pos:self.pos + min(n, 3)]
        self.pos += len(chunk)
        return chunk


def test_short_reads_and_streamed_chunks():
    values = {b"k%d" % i: b"v" * i for i in range(300)}
    chunks = list(snapshot_chunks([(2, values, {})], NOW))
    assert len(chunks) >= 2 and chunks[0] == snapshot.HEADER  # header, then frames as they fill
    loaded, _ = read_snapshot(Trickle(b"".join(chunks)), NOW)  # type: ignore[arg-type]
    assert {key: value for _, key, value, _ in loaded} == values


def test_error_names_the_file():
    error = SnapshotError("checksum mismatch", 42, "/data/dump.rdb")
    assert "/data/dump.rdb" in str(error) and "offset 42" in str(error)


# -- the AOF --------------------------------------------------------------------------


def _aof(*commands: list[bytes]) -> bytes:
    return b"".join(encode_command(argv) for argv in commands)


def test_aof_commands_round_trip_with_offsets():
    commands = [[b"SELECT", b"0"], [b"SET", b"k", b"v\r\n\x00"], [b"DEL", b"k" * 2000]]
    data = _aof(*commands)
    got = list(iter_commands(data))
    assert [argv for _, argv in got] == commands
    assert [offset for offset, _ in got] == [0, len(_aof(commands[0])), len(_aof(*commands[:2]))]


def test_aof_truncated_at_every_offset_keeps_the_prefix():
    commands = [[b"SET", b"a", b"1"], [b"INCR", b"counter"], [b"SET", b"b", b"x" * 30]]
    data = _aof(*commands)
    starts = [offset for offset, _ in iter_commands(data)] + [len(data)]
    for cut in range(1, len(data)):
        if cut in starts:
            assert check_commands(data[:cut]).ok
            continue
        result = check_commands(data[:cut])
        assert result.error is not None and result.error.truncated, cut
        assert result.valid_end == max(s for s in starts if s <= cut)


def test_aof_corruption_in_the_middle_is_not_a_truncation():
    data = bytearray(_aof([b"SET", b"a", b"1"], [b"SET", b"b", b"2"], [b"SET", b"c", b"3"]))
    second = len(_aof([b"SET", b"a", b"1"]))
    for damage in (second, second + 1, second + 5):
        broken = bytearray(data)
        broken[damage] = ord("?")
        with pytest.raises(AOFFormatError) as info:
            list(iter_commands(bytes(broken)))
        assert not info.value.truncated and info.value.command_offset == second


def test_unfinished_multi_counts_as_truncation():
    data = _aof([b"SET", b"a", b"1"], [b"MULTI"], [b"SET", b"b", b"2"])
    result = check_commands(data)
    assert result.open_multi and result.valid_end == len(_aof([b"SET", b"a", b"1"]))
    assert check_commands(data + _aof([b"EXEC"])).ok


def test_manifest_round_trip_and_errors():
    files = [AOFFile("appendonly.aof.3.base.rdb", 3, "b"), AOFFile("appendonly.aof.7.incr.aof", 7, "i")]
    assert parse_manifest(format_manifest(files)) == files
    with pytest.raises(ValueError):
        parse_manifest("file x seq\n")


def test_check_aof_fix_truncates_at_the_damage(tmp_path):
    good = _aof([b"SET", b"a", b"1"], [b"SET", b"b", b"2"])
    path = tmp_path / "appendonly.aof.1.incr.aof"
    path.write_bytes(good + b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1")  # a torn last write
    out = io.StringIO()
    assert check_aof_main([str(path)], out) == 1
    assert "truncated" in out.getvalue()
    assert check_aof_main(["--fix", str(path)], out) == 0
    assert path.read_bytes() == good
    assert check_aof_main([str(path)], io.StringIO()) == 0
    # Corruption in the middle: --fix keeps what is before it.
    path.write_bytes(good[:4] + b"#" + good[5:])  # the first bulk header
    assert check_aof_main(["--fix", str(path)], io.StringIO()) == 0
    assert path.read_bytes() == b""


def test_the_largest_expiry_time_is_written():
    # PEXPIREAT k 9223372036854775807 is kept as the float 2**63: one past
    # int64, which made SAVE fail ("int too large to convert").
    image = _image([(0, {b"k": b"v"}, {b"k": float(2 ** 63 - 1)})])
    loaded, _ = read_snapshot(io.BytesIO(image), NOW)
    assert loaded == [(0, b"k", b"v", float(2 ** 63 - 1))]
