"""A replica facing a primary that misbehaves: a corrupt snapshot, a corrupt
stream, a primary that goes away mid-sync. The fake primary is a socket in
the test speaking just enough of the protocol."""

from __future__ import annotations

import socket
import threading

import pytest

from ringcache.persistence.snapshot import snapshot_chunks
from ringcache.replication.stream import encode
from test_replication import cluster, repl, wait_until  # noqa: F401  (fixture)

REPLID = "ab" * 20


class FakePrimary(threading.Thread):
    """Answers the handshake, then sends `payload` after +FULLRESYNC."""

    def __init__(self, payload: bytes) -> None:
        super().__init__(daemon=True)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.payload = payload
        self.syncs = 0
        self.done = threading.Event()

    def run(self) -> None:
        self.listener.settimeout(20)
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(20)
            data = b""
            while b"PSYNC" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
                for word, reply in ((b"PING", b"+PONG\r\n"), (b"REPLCONF", b"+OK\r\n")):
                    while word in data:
                        data = data.replace(word, b"", 1)
                        conn.sendall(reply)
            self.syncs += 1
            conn.sendall(b"+FULLRESYNC %s 0\r\n" % REPLID.encode() + self.payload)
            self.done.wait(20)  # keep the link open until the test has looked

    def close(self) -> None:
        self.done.set()
        self.listener.close()


def valid_snapshot(data: dict) -> bytes:
    body = b"".join(snapshot_chunks([(0, data, {})], 0))
    return b"$%d\r\n%b" % (len(body), body)


def test_corrupt_snapshot_keeps_the_old_dataset(cluster):
    body = bytearray(b"".join(snapshot_chunks([(0, {b"x": b"1" * 100}, {})], 0)))
    body[20] ^= 0xFF  # a flipped byte: the frame's checksum fails
    fake = FakePrimary(b"$%d\r\n%b" % (len(body), bytes(body)))
    fake.start()
    replica = cluster()
    try:
        with replica.client() as c:
            c.set("mine", "1")
            c.execute_command("REPLICAOF", "127.0.0.1", fake.port)
            wait_until(lambda: "Failed trying to load the MASTER synchronization DB" in replica.log(),
                       what="the load to fail")
            assert c.get("mine") == b"1"  # never half a dataset: the old one stays
            assert c.get("x") is None
            assert repl(replica)["master_link_status"] == "down"
            assert c.ping()
    finally:
        fake.close()


def test_corrupt_stream_drops_the_link(cluster):
    stream = encode([b"SET", b"k", b"v"]) + b"+garbage\r\n" + encode([b"SET", b"k2", b"v"])
    fake = FakePrimary(valid_snapshot({b"a": b"1"}) + stream)
    fake.start()
    replica = cluster()
    try:
        with replica.client() as c:
            c.execute_command("REPLICAOF", "127.0.0.1", fake.port)
            wait_until(lambda: "Protocol error from MASTER" in replica.log(), what="the bad stream")
            assert c.get("a") == b"1" and c.get("k") == b"v"
            assert c.get("k2") is None  # nothing after the damage is applied
            assert repl(replica)["master_repl_offset"] == len(encode([b"SET", b"k", b"v"]))
            assert c.ping()
    finally:
        fake.close()


def test_an_error_in_the_stream_is_logged_and_the_stream_goes_on(cluster):
    """A streamed command that fails on the replica (WRONGTYPE here) gets
    Redis's CRITICAL log line; the commands around it, in the same read and
    after a PING, are applied and counted."""
    stream = (encode([b"SET", b"a", b"1"]) + encode([b"LPUSH", b"a", b"x"]) + encode([b"SET", b"b", b"2"])
              + encode([b"PING"]) + encode([b"SET", b"c", b"3"]))
    fake = FakePrimary(valid_snapshot({}) + stream)
    fake.start()
    replica = cluster()
    try:
        with replica.client() as c:
            c.execute_command("REPLICAOF", "127.0.0.1", fake.port)
            wait_until(lambda: c.get("c") == b"3", what="the stream")
            assert c.get("a") == b"1" and c.get("b") == b"2"
            assert repl(replica)["master_repl_offset"] == len(stream)
            assert ("== CRITICAL == This replica is sending an error to its master: 'WRONGTYPE "
                    "Operation against a key holding the wrong kind of value' after processing the "
                    "command 'lpush'") in replica.log()
    finally:
        fake.close()


MARK = b"0123456789abcdef0123456789abcdef01234567"  # 40 bytes, as redis-server's diskless sync


def test_diskless_snapshot_with_eof_mark(cluster):
    body = b"".join(snapshot_chunks([(0, {b"a": b"1", b"b": b"x" * 5000}, {})], 0))
    fake = FakePrimary(b"$EOF:%b\r\n%b%b" % (MARK, body, MARK) + encode([b"SET", b"k", b"v"]))
    fake.start()
    replica = cluster()
    try:
        with replica.client() as c:
            c.execute_command("REPLICAOF", "127.0.0.1", fake.port)
            wait_until(lambda: c.get("k") == b"v", what="the snapshot and the stream after it")
            assert c.get("a") == b"1" and c.get("b") == b"x" * 5000
            assert repl(replica)["master_repl_offset"] == len(encode([b"SET", b"k", b"v"]))
    finally:
        fake.close()


@pytest.mark.parametrize("framing", ["length", "eof-mark"])
def test_primary_gone_mid_transfer(cluster, framing):
    """The primary goes away in the middle of the snapshot: one that promised
    more bytes than it sent, or a diskless one cut before its closing mark."""
    body = b"".join(snapshot_chunks([(0, {b"x": b"1"}, {})], 0))
    head = b"$%d\r\n" % (len(body) + 1000) if framing == "length" else b"$EOF:%b\r\n" % MARK
    fake = FakePrimary(head + body)
    fake.start()
    replica = cluster()
    try:
        with replica.client() as c:
            c.set("mine", "1")
            c.execute_command("REPLICAOF", "127.0.0.1", fake.port)
            wait_until(lambda: repl(replica).get("master_sync_in_progress") == 1, what="the transfer")
            if framing == "eof-mark":
                assert repl(replica)["master_sync_total_bytes"] == -1  # (unknown in a diskless sync)
            fake.close()
            wait_until(lambda: "Connection with master lost" in replica.log(), what="the drop")
            assert c.get("mine") == b"1" and c.get("x") is None
            assert c.ping()
    finally:
        fake.close()
