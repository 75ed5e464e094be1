"""A protocol fuzzer for a running node: what a hostile but fair client sends.

Each case is the whole input of one fresh connection, sent and then
half-closed, and read to the end: real commands with random arguments (the
error paths of every family), valid RESP with one byte flipped, cut short or
given absurd lengths, inline requests with stray quotes, and plain noise.
Whatever the node makes of a case, it must answer the next connection, and
once warmed up its RSS must stay flat: the keyspace is small and flushed
every few hundred cases, so growth means something is retained.

Used by tests/wire/test_fuzz.py (a few seconds) and benchmarks/fuzz.py (as
long as you like), so both fuzz the same way.
"""

from __future__ import annotations

import random
import socket
import time
from dataclasses import dataclass, field

COMMANDS: list[tuple[str, int]] = [  # name, how many arguments to draw
    ("SET", 2), ("GET", 1), ("INCR", 1), ("APPEND", 2), ("GETRANGE", 3), ("SETRANGE", 3),
    ("DEL", 2), ("EXPIRE", 2), ("PEXPIRE", 3), ("TTL", 1), ("RENAME", 2), ("TYPE", 1),
    ("LPUSH", 3), ("RPOP", 2), ("LRANGE", 3), ("LSET", 3), ("LINSERT", 4), ("BLPOP", 2),
    ("HSET", 3), ("HGET", 2), ("HINCRBY", 3), ("HEXPIRE", 5), ("HGETALL", 1),
    ("SADD", 3), ("SPOP", 2), ("SINTERSTORE", 3), ("SRANDMEMBER", 2),
    ("ZADD", 3), ("ZRANGE", 4), ("ZINCRBY", 3), ("ZRANGEBYSCORE", 5), ("BZPOPMIN", 2),
    ("MULTI", 0), ("EXEC", 0), ("WATCH", 1), ("SCAN", 3), ("OBJECT", 2),
    ("SUBSCRIBE", 1), ("PUBLISH", 2), ("CLIENT", 2), ("CONFIG", 2), ("HELLO", 1),
    ("SELECT", 1), ("PING", 1), ("ECHO", 1), ("NOSUCH", 2),
]
KEYS = [b"k%d" % i for i in range(16)]
ATOMS = [b"0", b"1", b"-1", b"3.5", b"inf", b"-inf", b"nan", b"9223372036854775808", b"",
         b"NX", b"XX", b"EX", b"PX", b"GT", b"LT", b"WITHSCORES", b"LIMIT", b"BYSCORE", b"REV",
         b"FIELDS", b"COUNT", b"MATCH", b"(1", b"[a", b"+", b"-", b"\x00\xff", b"\r\n", b"*1\r\n"]


def _arg(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.35:
        return rng.choice(KEYS)
    if roll < 0.75:
        return rng.choice(ATOMS)
    return rng.randbytes(rng.randint(0, 48))


def _resp(args: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def command(rng: random.Random) -> list[bytes]:
    name, count = rng.choice(COMMANDS)
    if name in ("BLPOP", "BZPOPMIN"):  # a short timeout: the case must end
        return [name.encode(), rng.choice(KEYS), b"0.01"]
    return [name.encode(), *(_arg(rng) for _ in range(rng.randint(0, count + 1)))]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    roll = rng.random()
    if not data:
        return data
    if roll < 0.3:  # one byte flipped
        i = rng.randrange(len(data))
        return data[:i] + bytes([rng.randrange(256)]) + data[i + 1:]
    if roll < 0.5:  # cut short
        return data[: rng.randrange(len(data))]
    if roll < 0.7:  # a length made absurd
        return data.replace(b"$", rng.choice([b"$-7", b"$99999999999", b"$2147483648", b"$x", b"$ "]), 1)
    if roll < 0.85:
        return data.replace(b"*", rng.choice([b"*-2", b"*1048577", b"*99999999999999999999", b"*a"]), 1)
    i = rng.randrange(len(data))  # junk spliced in
    return data[:i] + rng.randbytes(rng.randint(1, 8)) + data[i:]


def case(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.45:  # a pipeline of real commands
        return b"".join(_resp(command(rng)) for _ in range(rng.randint(1, 12)))
    if roll < 0.75:  # the same, damaged
        return _mutate(rng, b"".join(_resp(command(rng)) for _ in range(rng.randint(1, 4))))
    if roll < 0.9:  # inline
        parts = [rng.choice([b"SET", b"GET", b"PING", b"\"a", b"'b", b"\\x4", b"\"\\x41\"x", b"k1"])
                 for _ in range(rng.randint(1, 6))]
        return b" ".join(parts) + rng.choice([b"\r\n", b"\n", b""])
    return rng.randbytes(rng.randint(1, 300))


@dataclass
class Report:
    cases: int = 0
    closed_by_node: int = 0  # connections the node closed (protocol errors)
    rss_kb: list[int] = field(default_factory=list)  # sampled after each flush


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def run_case(port: int, payload: bytes, timeout: float = 5.0) -> bool:
    """Send one case on a fresh connection, half-close, read to the end.
    True when the node closed first (before our half-close was seen is
    indistinguishable here; either way the connection ended)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            return True
        while True:
            try:
                chunk = sock.recv(1 << 16)
            except ConnectionResetError:
                return True
            if not chunk:
                return True


def fuzz(port: int, pid: int, seconds: float, seed: int, flush_every: int = 300,
         on_sample=None) -> Report:
    """Fuzz for `seconds`; every flush_every cases FLUSHALL (so the dataset
    does not grow) and sample RSS."""
    rng = random.Random(seed)
    report = Report()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(flush_every):
            run_case(port, case(rng))
            report.cases += 1
        run_case(port, _resp([b"FLUSHALL"]))
        report.rss_kb.append(rss_kb(pid))
        if on_sample is not None:
            on_sample(report)
    return report
