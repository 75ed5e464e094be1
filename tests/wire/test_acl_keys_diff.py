"""Per-key read/write access (`%R~` / `%W~`) against redis-server 7.0.15:
the same users run the same commands on both servers, which must allow or
deny them alike (NOPERM texts included), both by ACL DRYRUN and by running
them. Every command starts from the same data on both servers."""

from __future__ import annotations

import pytest
import redis

from differential import outcome, real_port  # noqa: F401 (fixture)
from tests.nodes import start_node

USERS = {
    "readall_writedst": "%R~* %W~dst*",
    "readsrc_writedst": "%R~src* %W~dst*",
    "writesrc_readdst": "%W~src* %R~dst*",
    "writeonly": "%W~*",
    "readonly": "%R~*",
    "both_src": "~src* %R~dst*",
}

SETUP = [
    ("SET", "src", "5"), ("SET", "dst", "1"),
    ("RPUSH", "srclist", "3", "1", "2"), ("RPUSH", "dstlist", "9"),
    ("SADD", "srcset", "m", "n"), ("SADD", "dstset", "o"),
    ("GEOADD", "srcgeo", "13.36", "38.11", "palermo", "15.08", "37.50", "catania"),
    ("XADD", "srcstream", "1-1", "f", "v"), ("XGROUP", "CREATE", "srcstream", "g", "0"),
    ("HSET", "srchash", "f", "1"),
]

COMMANDS = [
    ("GET", "src"), ("SET", "src", "x"), ("SET", "dst", "x"), ("GET", "dst"),
    ("EXISTS", "src", "dst"), ("TYPE", "dst"), ("STRLEN", "src"), ("TOUCH", "src"),
    ("INCR", "src"), ("INCR", "dst"), ("GETDEL", "src"), ("DEL", "src"), ("UNLINK", "dst"),
    ("SET", "dst", "x", "GET"), ("GETEX", "src", "PX", "100000"), ("APPEND", "dst", "z"),
    ("COPY", "src", "dst", "REPLACE"), ("COPY", "dst", "src", "REPLACE"),
    ("RENAME", "src", "dst"), ("MSET", "src", "1", "dst", "2"), ("MGET", "src", "dst"),
    ("SORT", "srclist", "STORE", "dstlist"), ("SORT", "srclist"), ("SORT_RO", "srclist"),
    ("SORT", "dstlist", "STORE", "srclist"),
    ("LMOVE", "srclist", "dstlist", "LEFT", "RIGHT"), ("LMOVE", "dstlist", "srclist", "LEFT", "LEFT"),
    ("RPOPLPUSH", "srclist", "dstlist"), ("LPOP", "srclist"), ("LRANGE", "dstlist", "0", "-1"),
    ("LPUSH", "dstlist", "a"), ("LINSERT", "dstlist", "BEFORE", "9", "8"),
    ("SMOVE", "srcset", "dstset", "m"), ("SMOVE", "dstset", "srcset", "o"),
    ("SINTERSTORE", "dstset", "srcset"), ("SUNION", "srcset", "dstset"), ("SISMEMBER", "srcset", "m"),
    ("GEOSEARCHSTORE", "dstgeo", "srcgeo", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km"),
    ("GEOSEARCHSTORE", "dstgeo", "srcgeo", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km",
     "STOREDIST"),
    ("GEORADIUS", "srcgeo", "15", "37", "200", "km", "STORE", "dstgeo"),
    ("GEODIST", "srcgeo", "palermo", "catania"),
    ("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "srcstream", ">"),
    ("XREAD", "COUNT", "1", "STREAMS", "srcstream", "0"), ("XADD", "dststream", "5-1", "f", "v"),
    ("XACK", "srcstream", "g", "1-1"), ("XLEN", "srcstream"),
    ("HINCRBY", "srchash", "f", "1"), ("HGET", "srchash", "f"),
    ("BITOP", "AND", "dst", "src"), ("BITFIELD", "src", "GET", "u8", "0"),
    ("BITFIELD", "src", "SET", "u8", "0", "1"), ("BITFIELD_RO", "src", "GET", "u8", "0"),
    ("PFADD", "dsthll", "a"), ("PFCOUNT", "srchll"), ("PFMERGE", "dsthll", "srchll"),
    ("LCS", "src", "dst"), ("ZUNIONSTORE", "dstz", "1", "srcz"), ("ZRANGESTORE", "dstz", "srcz", "0", "-1"),
    ("OBJECT", "ENCODING", "src"), ("EXPIRE", "dst", "100"), ("TTL", "src"), ("PERSIST", "src"),
    ("DUMP", "src"), ("SETRANGE", "dst", "0", "a"), ("GETRANGE", "src", "0", "1"),
    ("EVAL", "return 1", "2", "src", "dst"), ("SETNX", "dst", "v"), ("MSETNX", "dst", "1"),
    ("BLMOVE", "srclist", "dstlist", "LEFT", "RIGHT", "0.01"),
    ("BLPOP", "srclist", "0.01"), ("LMPOP", "2", "srclist", "dstlist", "LEFT"),
    ("SRANDMEMBER", "srcset"), ("SPOP", "srcset"), ("SDIFFSTORE", "dstset", "srcset", "dstset"),
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory, real_port):  # noqa: F811 (fixture)
    with start_node(tmp_path_factory.mktemp("acl-keys")) as node:
        admins = [node.client(), redis.Redis(port=real_port, socket_timeout=10)]
        for admin in admins:
            for name, keys in USERS.items():
                admin.execute_command("ACL", "SETUSER", name, "reset", "on", "nopass", "+@all",
                                      *keys.split())
        users = {name: [redis.Redis(port=node.port, username=name, password="x",
                                    socket_timeout=10),
                        redis.Redis(port=real_port, username=name, password="x",
                                    socket_timeout=10)]
                 for name in USERS}
        for clients in users.values():
            for client in clients:
                client.response_callbacks.clear()
        yield admins, users
        for admin in admins:
            for name in USERS:
                admin.execute_command("ACL", "DELUSER", name)
            admin.close()
        for clients in users.values():
            for client in clients:
                client.close()


UNORDERED = {"SUNION", "SPOP", "SRANDMEMBER"}  # replies differ in order or pick: compare the kind


def _run(client, command):
    reply = outcome(client, *command)
    if command[0] in UNORDERED and not isinstance(reply, tuple):
        return "a reply"
    return reply


def _reset(admins) -> None:
    for admin in admins:
        admin.flushall()
        for command in SETUP:
            admin.execute_command(*command)


@pytest.mark.parametrize("user", sorted(USERS))
def test_key_access_as_redis(servers, user):
    admins, users = servers
    ours, theirs = users[user]
    allowed = denied = 0
    for command in COMMANDS:
        replies = [outcome(admin, "ACL", "DRYRUN", user, *command) for admin in admins]
        assert replies[0] == replies[1], (user, command, "dryrun", replies)
        _reset(admins)
        got, expected = _run(ours, command), _run(theirs, command)
        assert got == expected, (user, command, got, expected)
        if isinstance(expected, tuple) and "no permissions" in expected[1]:  # (NoPermissionError)
            denied += 1
        else:
            allowed += 1
    assert allowed and denied  # each user meets both answers
