"""Wire tests for the server and administration commands: INFO, CONFIG,
COMMAND, TIME, LASTSAVE, SLOWLOG, MONITOR, SHUTDOWN, DEBUG.

Texts and reply shapes are Redis 7.4's. Tests that change the configuration
of the shared node restore it (the `restore_config` fixture); tests that stop
a node start their own.
"""

from __future__ import annotations

import re
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ringcache import REDIS_VERSION
from ringcache.commands import load_all
from ringcache.commands.registry import COMMANDS, KNOWN_FLAGS

from nodes import start_node
from support import RawConn, error_text, raw


# -- helpers -----------------------------------------------------------------


@pytest.fixture
def restore_config(node):
    """Remember the given parameters and put them back after the test."""
    client = node.client()
    saved: dict[str, str] = {}

    def remember(*names: str) -> None:
        for name in names:
            saved.update(client.config_get(name))

    yield remember
    if saved:
        client.execute_command("CONFIG", "SET", *[x for pair in saved.items() for x in pair])
    client.close()


def info_text(node, *sections: str) -> str:
    client = RawConn(node)
    try:
        client.send("INFO", *sections)
        return client.read_text().decode()
    finally:
        client.close()


def parse_info(text: str) -> dict[str, str]:
    out = {}
    for line in text.split("\r\n"):
        if line and not line.startswith("#"):
            key, _, value = line.partition(":")
            out[key] = value
    return out


def as_dict(reply) -> dict:
    """A map reply as a dict, whether it came as a RESP3 map or a flat array."""
    return reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2]))


# -- INFO --------------------------------------------------------------------

DEFAULT_TITLES = ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU",
                  "Modules", "Errorstats", "Cluster", "Keyspace"]


def test_info_default_text_layout(node):
    text = info_text(node)
    titles = re.findall(r"^# (\w+)\r$", text, flags=re.M)
    assert titles == DEFAULT_TITLES
    assert text.startswith("# Server\r\nredis_version:")
    assert text.endswith("\r\n")
    assert "\r\n\r\n# Clients\r\n" in text
    assert "\n" not in text.replace("\r\n", "")  # every line ends with CRLF
    assert "cmdstat_" not in text


def test_info_is_verbatim_text_in_resp3(conn):
    client = conn(3)
    client.send("INFO", "server")
    head = client.read_until(b"txt:# Server\r\nredis_version:")
    assert re.match(rb"=\d+\r\ntxt:# Server\r\n", head)


@pytest.mark.parametrize("selector", ["all", "everything", "ALL"])
def test_info_all_has_commandstats(node, selector):
    titles = re.findall(r"^# (\w+)\r$", info_text(node, selector), flags=re.M)
    assert titles == DEFAULT_TITLES[:8] + ["Commandstats"] + DEFAULT_TITLES[8:]


def test_info_sections_in_canonical_order_and_unknown_ignored(node):
    text = info_text(node, "keyspace", "SERVER", "nosuchsection")
    assert re.findall(r"^# (\w+)\r$", text, flags=re.M) == ["Server", "Keyspace"]
    assert info_text(node, "nosuchsection") == ""
    assert re.findall(r"^# (\w+)\r$", info_text(node, "default", "commandstats"), flags=re.M) == \
        DEFAULT_TITLES[:8] + ["Commandstats"] + DEFAULT_TITLES[8:]


def test_info_server_fields(r, node):
    info = r.info("server")
    assert info["redis_version"] == REDIS_VERSION
    assert info["redis_mode"] == "standalone"
    assert info["tcp_port"] == node.port
    assert info["process_id"] == node.proc.pid
    assert re.fullmatch(r"[0-9a-f]{40}", info["run_id"])
    assert info["uptime_in_seconds"] >= 0 and info["uptime_in_days"] == 0
    assert info["hz"] == 10 and info["arch_bits"] == 64
    assert info["ringcache_version"]
    assert info["executable"] and "os" in info


def test_info_clients_and_stats_counters(r, node):
    before = r.info("stats")
    other = node.client()
    other.ping()
    r.set("k", "v")
    r.get("k")
    r.get("missing")
    with pytest.raises(redis.ResponseError):
        r.execute_command("GET")  # wrong arity: an error reply
    after = r.info("stats")
    assert after["total_connections_received"] >= before["total_connections_received"] + 1
    assert after["total_commands_processed"] >= before["total_commands_processed"] + 4
    assert after["keyspace_hits"] >= before["keyspace_hits"] + 1
    assert after["keyspace_misses"] >= before["keyspace_misses"] + 1
    assert after["total_error_replies"] >= before["total_error_replies"] + 1
    assert after["rejected_connections"] == before["rejected_connections"]
    clients = r.info("clients")
    assert clients["connected_clients"] >= 2
    assert clients["maxclients"] == 10000
    assert clients["blocked_clients"] == 0
    other.close()


def test_info_keyspace_counts(r):
    assert r.info("keyspace") == {}
    r.set("a", "1")
    r.set("b", "2")
    r.set("c", "3", px=100_000)
    r.execute_command("SELECT", "2")
    r.set("d", "4")
    r.execute_command("SELECT", "0")
    keyspace = r.info("keyspace")
    avg_ttl = keyspace["db0"].pop("avg_ttl")  # estimated by the expiry cycle, 0 until it ran
    assert 0 <= avg_ttl <= 100_000
    assert keyspace["db0"] == {"keys": 3, "expires": 1, "subexpiry": 0}
    assert keyspace["db2"]["keys"] == 1 and keyspace["db2"]["expires"] == 0


def test_info_memory_fields(r, restore_config):
    restore_config("maxmemory")
    info = r.info("memory")
    for field in ("used_memory", "used_memory_rss", "used_memory_peak"):
        assert isinstance(info[field], int) and info[field] >= 0
    assert info["used_memory_rss"] > 1_000_000
    assert info["used_memory_peak"] >= info["used_memory"]
    assert re.fullmatch(r"\d+B|\d+\.\d\d[KMGTP]", info["used_memory_human"])
    assert info["maxmemory"] == 0 and info["maxmemory_human"] == "0B"
    assert info["maxmemory_policy"] == "noeviction"
    assert isinstance(info["mem_fragmentation_ratio"], float)
    r.config_set("maxmemory", "10mb")
    info = r.info("memory")
    assert info["maxmemory"] == 10 * 1024 * 1024 and info["maxmemory_human"] == "10.00M"


def test_info_persistence_replication_cpu(r):
    before = r.info("persistence")["rdb_changes_since_last_save"]
    r.set("x", "1")
    r.set("x", "2")
    persistence = r.info("persistence")
    assert persistence["rdb_changes_since_last_save"] >= before + 2
    assert persistence["loading"] == 0 and persistence["aof_enabled"] == 0
    assert persistence["rdb_bgsave_in_progress"] == 0
    assert persistence["rdb_last_save_time"] == int(r.lastsave().timestamp())
    replication = r.info("replication")
    assert replication["role"] == "master" and replication["connected_slaves"] == 0
    assert re.fullmatch(r"[0-9a-f]{40}", replication["master_replid"])
    assert replication["master_repl_offset"] == 0
    cpu = r.info("cpu")
    assert cpu["used_cpu_user"] > 0 and cpu["used_cpu_sys"] >= 0


def test_info_commandstats(r, node):
    r.config_resetstat()
    r.set("k", "1")
    r.set("k", "2")
    r.get("k")
    with pytest.raises(redis.ResponseError):
        r.execute_command("GET", "a", "b")  # rejected: arity
    with pytest.raises(redis.ResponseError):
        r.execute_command("CONFIG", "SET", "nosuch", "1")  # failed: in the handler
    stats = r.info("commandstats")
    assert stats["cmdstat_set"]["calls"] == 2
    assert stats["cmdstat_get"]["calls"] == 1
    assert stats["cmdstat_get"]["rejected_calls"] == 1
    assert stats["cmdstat_config|set"]["failed_calls"] == 1
    assert stats["cmdstat_config|resetstat"]["calls"] == 1
    text = info_text(node, "commandstats")
    assert re.search(r"^cmdstat_set:calls=2,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=0,"
                     r"failed_calls=0\r$", text, flags=re.M)


# -- CONFIG ------------------------------------------------------------------


def test_config_set_get_round_trip(r, restore_config):
    restore_config("hz", "maxmemory-policy", "slowlog-max-len")
    assert r.config_set("hz", 15) is True
    assert r.execute_command("CONFIG", "SET", "maxmemory-policy", "allkeys-lru",
                             "slowlog-max-len", "77") in (True, b"OK", "OK")
    assert r.config_get("hz") == {"hz": "15"}
    values = as_dict(r.execute_command("CONFIG", "GET", "maxmemory-policy", "SLOWLOG-MAX-LEN"))
    assert values == {b"maxmemory-policy": b"allkeys-lru", b"SLOWLOG-MAX-LEN": b"77"}
    assert r.info("server")["hz"] == 15


def test_config_get_glob_and_reply_types(node, r, conn):
    matched = r.config_get("maxmemory*")
    assert {"maxmemory", "maxmemory-policy", "maxmemory-samples"} <= set(matched)
    assert r.config_get("nosuchparam*") == {}
    client = conn(3)
    client.send("CONFIG", "GET", "hz")
    client.expect(b"%1\r\n$2\r\nhz\r\n$2\r\n10\r\n")
    client2 = conn(2)
    client2.send("CONFIG", "GET", "hz")
    client2.expect(b"*2\r\n$2\r\nhz\r\n$2\r\n10\r\n")


def test_config_set_is_atomic_and_errors(r, restore_config):
    restore_config("hz")
    text = error_text(r.execute_command, "CONFIG", "SET", "hz", "20", "maxmemory", "lots")
    assert text == ("CONFIG SET failed (possibly related to argument 'maxmemory') - "
                    "argument must be a memory value")
    assert r.config_get("hz") == {"hz": "10"}
    assert error_text(r.execute_command, "CONFIG", "SET", "nosuch", "1") == \
        "Unknown option or number of arguments for CONFIG SET - 'nosuch'"
    assert error_text(r.execute_command, "CONFIG", "SET", "port", "1") == \
        "CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"
    assert error_text(r.execute_command, "CONFIG", "SET", "hz", "1", "maxmemory") == "syntax error"
    assert error_text(r.execute_command, "CONFIG", "SET", "hz") == \
        "wrong number of arguments for 'config|set' command"
    assert error_text(r.execute_command, "CONFIG", "GET") == \
        "wrong number of arguments for 'config|get' command"
    assert error_text(r.execute_command, "CONFIG") == "wrong number of arguments for 'config' command"
    assert error_text(r.execute_command, "CONFIG", "FOO") == "unknown subcommand 'FOO'. Try CONFIG HELP."
    assert error_text(r.execute_command, "CONFIG", "RESETSTAT", "x") == \
        "wrong number of arguments for 'config|resetstat' command"


def test_config_resetstat(r):
    r.set("a", "1")
    r.get("a")
    r.get("nope")
    assert r.config_resetstat() is True
    stats = r.info("stats")
    assert stats["keyspace_hits"] == 0 and stats["keyspace_misses"] == 0
    assert stats["total_error_replies"] == 0
    assert stats["total_commands_processed"] <= 2  # RESETSTAT itself, then INFO
    commandstats = r.info("commandstats")
    assert set(commandstats) <= {"cmdstat_config|resetstat", "cmdstat_info"}


def test_config_rewrite_without_file(r):
    assert error_text(r.execute_command, "CONFIG", "REWRITE") == \
        "The server is running without a config file"


def test_config_rewrite_with_file(tmp_path):
    conf = tmp_path / "ringcache.conf"
    conf.write_text("# my settings\nhz 12\nmaxmemory 1mb\n")
    with start_node(tmp_path, "--config", str(conf)) as node:
        client = node.client()
        assert client.info("server")["config_file"] == str(conf)
        client.config_set("maxmemory", "2mb")
        client.config_set("slowlog-max-len", "99")
        assert client.config_rewrite() in (True, b"OK")
        text = conf.read_text()
        assert "# my settings" in text
        assert "maxmemory 2mb" in text and "maxmemory 1mb" not in text
        assert "hz 12" in text and "slowlog-max-len 99" in text
        client.close()


def test_config_help(r2):
    lines = r2.execute_command("CONFIG", "HELP")
    assert lines[0] == b"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert b"GET <pattern>" in lines and b"RESETSTAT" in lines
    assert lines[-2:] == [b"HELP", b"    Prints this help."]


def test_every_help_subcommand_answers_status_lines(node):
    """addReplyHelp: an array of status strings, the header naming the
    command, HELP last (MEMORY HELP once sent bulk strings)."""
    load_all()
    client = RawConn(node)
    try:
        containers = [spec for spec in COMMANDS.values() if b"help" in spec.subcommands]
        assert {"config", "client", "command", "slowlog", "pubsub", "memory", "object"} <= \
            {spec.name for spec in containers}
        for spec in containers:
            client.send(spec.name, "HELP")
            reply = client.read_reply()
            head, *lines = reply.split(b"\r\n")[:-1]
            assert head.startswith(b"*") and int(head[1:]) == len(lines), spec.name
            assert all(line.startswith(b"+") for line in lines), (spec.name, reply[:200])
            assert lines[0] == b"+%s <subcommand> [<arg> [value] [opt] ...]. Subcommands are:" % (
                spec.name.upper().encode())
            assert lines[-2:] == [b"+HELP", b"+    Prints this help."], spec.name
    finally:
        client.sock.close()


def test_config_rewrite_keeps_the_file_mode(tmp_path):
    conf = tmp_path / "ringcache.conf"
    conf.write_text("hz 12\n")
    conf.chmod(0o600)
    with start_node(tmp_path, "--config", str(conf)) as node:
        client = node.client()
        client.config_set("hz", "13")
        assert client.config_rewrite() in (True, b"OK")
        client.close()
    assert "hz 13" in conf.read_text()
    assert conf.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if "tmp" in p.name] == []  # no temporary left


# -- COMMAND -----------------------------------------------------------------


def test_registry_walk_in_process():
    """Every command in the table is well formed (the table, not the wire)."""
    load_all()
    assert COMMANDS
    for spec in COMMANDS.values():
        for item in [spec, *spec.subcommands.values()]:
            assert item.arity != 0, item.fullname
            assert item.flags <= KNOWN_FLAGS, item.fullname
            assert item.handler is not None
            if item.first_key:
                assert item.key_step > 0, item.fullname
        for sub in spec.subcommands.values():
            assert sub.parent is spec and abs(sub.arity) >= 2


def test_command_walks_the_whole_table(r):
    names = [n.decode() if isinstance(n, bytes) else n for n in raw(r, "COMMAND", "LIST")]
    top = [n for n in names if "|" not in n]
    assert raw(r, "COMMAND", "COUNT") == len(top) == len(COMMANDS)
    table = r.command()  # redis-py parses the whole reply
    assert set(table) == set(top)
    for name in names:
        info = raw(r, "COMMAND", "INFO", name)
        assert len(info) == 1 and info[0] is not None, name
        entry = info[0]
        assert entry[0] in (name.encode(), name)
        assert entry[1] != 0
        flags = {f.decode() if isinstance(f, bytes) else f for f in entry[2]}
        assert flags <= KNOWN_FLAGS, (name, flags)
        assert len(entry) == 10
    for name, parsed in table.items():
        spec = COMMANDS[name.encode()]
        assert parsed["arity"] == spec.arity
        assert parsed["first_key_pos"] == spec.first_key
        assert len(parsed["subcommands"]) == len(spec.subcommands)


def test_command_info_shape_resp2(r2):
    [get] = raw(r2, "COMMAND", "INFO", "get")
    assert get == [b"get", 2, [b"readonly", b"fast"], 1, 1, 1, [b"@read", b"@string", b"@fast"], [],
                   [[b"flags", [b"RO", b"access"],
                     b"begin_search", [b"type", b"index", b"spec", [b"index", 1]],
                     b"find_keys", [b"type", b"range", b"spec",
                                    [b"lastkey", 0, b"keystep", 1, b"limit", 0]]]],
                   []]
    [config] = raw(r2, "COMMAND", "INFO", "config")
    assert config[:8] == [b"config", -2, [], 0, 0, 0, [b"@slow"], []]
    subs = {sub[0]: sub for sub in config[9]}
    assert subs[b"config|get"][1] == -3
    assert subs[b"config|get"][2] == [b"admin", b"noscript", b"loading", b"stale"]
    assert subs[b"config|get"][6] == [b"@admin", b"@slow", b"@dangerous"]
    assert raw(r2, "COMMAND", "INFO", "nosuch", "config|get")[0] is None


def test_command_info_resp3_uses_sets_and_maps(conn):
    client = conn(3)
    client.send("COMMAND", "INFO", "get")
    client.expect(b"*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n"
                  b"~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n*1\r\n%3\r\n$5\r\nflags\r\n"
                  b"~2\r\n+RO\r\n+access\r\n")
    client.drain()
    client.send("COMMAND", "INFO", "nosuch")
    client.expect(b"*1\r\n_\r\n")


def test_command_no_args_lists_all(r2, conn):
    client = conn(2)
    client.send("COMMAND")
    client.expect(b"*%d\r\n*10\r\n" % len(COMMANDS))
    assert len(raw(r2, "COMMAND", "INFO")) == len(COMMANDS)


def test_command_docs(r2, r):
    docs = raw(r2, "COMMAND", "DOCS", "get", "nosuch")
    assert docs[0] == b"get"
    fields = dict(zip(docs[1][::2], docs[1][1::2]))
    assert fields[b"group"] == b"string" and fields[b"since"] == b"1.0.0"
    assert fields[b"summary"]
    docs = raw(r, "COMMAND", "DOCS", "config")
    docs = docs if isinstance(docs, dict) else {docs[0]: docs[1]}
    config = docs[b"config"]
    config = config if isinstance(config, dict) else dict(zip(config[::2], config[1::2]))
    subs = config[b"subcommands"]
    subs = subs if isinstance(subs, dict) else dict(zip(subs[::2], subs[1::2]))
    assert b"config|get" in subs and b"config|set" in subs
    everything = raw(r2, "COMMAND", "DOCS")
    assert len(everything) == 2 * len(COMMANDS)


def test_command_list_filters(r2):
    pattern = raw(r2, "COMMAND", "LIST", "FILTERBY", "PATTERN", "conf*")
    assert set(pattern) == {b"config", b"config|get", b"config|set", b"config|resetstat",
                            b"config|rewrite", b"config|help"}
    admin = set(raw(r2, "COMMAND", "LIST", "FILTERBY", "ACLCAT", "admin"))
    assert {b"config|set", b"client|kill", b"shutdown", b"debug"} <= admin
    assert b"get" not in admin
    assert b"get" in raw(r2, "COMMAND", "LIST", "FILTERBY", "aclcat", "READ")
    assert raw(r2, "COMMAND", "LIST", "FILTERBY", "MODULE", "x") == []
    assert error_text(r2.execute_command, "COMMAND", "LIST", "FILTERBY", "FOO", "x") == "syntax error"
    assert error_text(r2.execute_command, "COMMAND", "LIST", "x") == "syntax error"


def test_command_getkeys(r2):
    assert raw(r2, "COMMAND", "GETKEYS", "SET", "k", "v", "EX", "5") == [b"k"]
    assert raw(r2, "COMMAND", "GETKEYS", "GET", "k") == [b"k"]
    assert raw(r2, "COMMAND", "GETKEYSANDFLAGS", "SET", "k", "v") == [[b"k", [b"OW", b"update"]]]  # as Redis
    assert raw(r2, "COMMAND", "GETKEYSANDFLAGS", "GET", "k") == [[b"k", [b"RO", b"access"]]]
    assert error_text(r2.execute_command, "COMMAND", "GETKEYS", "nosuch", "x") == "Invalid command specified"
    assert error_text(r2.execute_command, "COMMAND", "GETKEYS", "SET", "k") == \
        "Invalid number of arguments specified for command"
    assert error_text(r2.execute_command, "COMMAND", "GETKEYS", "CONFIG", "GET", "x") == \
        "The command has no key arguments"
    assert error_text(r2.execute_command, "COMMAND", "GETKEYS", "PING") == \
        "The command has no key arguments"
    assert error_text(r2.execute_command, "COMMAND", "GETKEYS") == \
        "wrong number of arguments for 'command|getkeys' command"


def test_command_help_and_errors(r2):
    lines = raw(r2, "COMMAND", "HELP")
    assert lines[0] == b"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert b"GETKEYS <full-command>" in lines
    assert error_text(r2.execute_command, "COMMAND", "FOO") == "unknown subcommand 'FOO'. Try COMMAND HELP."
    assert error_text(r2.execute_command, "COMMAND", "COUNT", "x") == \
        "wrong number of arguments for 'command|count' command"


# -- TIME, LASTSAVE ----------------------------------------------------------


def test_time_and_lastsave(r2):
    seconds, micros = r2.execute_command("TIME")
    assert r2.execute_command("TIME")[0] >= seconds and 0 <= micros < 1_000_000
    assert seconds > 1_600_000_000
    lastsave = int(r2.lastsave().timestamp())
    assert lastsave <= time.time() + 1
    assert lastsave == r2.info("persistence")["rdb_last_save_time"]
    assert error_text(r2.execute_command, "TIME", "x") == "wrong number of arguments for 'time' command"


def test_time_reply_types(conn):
    client = conn(2)
    client.send("TIME")
    reply = client.read_until(b"\r\n")
    assert reply.startswith(b"*2\r\n$10\r\n")


# -- SLOWLOG -----------------------------------------------------------------


def test_slowlog_records_every_command_at_threshold_zero(r, restore_config, node):
    restore_config("slowlog-log-slower-than", "slowlog-max-len")
    r.config_set("slowlog-log-slower-than", -1)
    r.slowlog_reset()
    assert r.slowlog_len() == 0
    r.client_setname("slowpoke")
    r.config_set("slowlog-log-slower-than", 0)
    r.set("key", "value")
    entries = raw(r, "SLOWLOG", "GET")
    r.config_set("slowlog-log-slower-than", -1)
    # Newest first: the CONFIG SET that enabled logging came before SET.
    newest, older = entries[0], entries[1]
    assert newest[3] == [b"SET", b"key", b"value"]
    assert older[3][:2] == [b"CONFIG", b"SET"]
    assert newest[0] == older[0] + 1
    assert abs(newest[1] - time.time()) < 60
    assert newest[2] >= 0
    addr = r.client_info()["addr"]
    assert newest[4] == addr.encode() and newest[5] == b"slowpoke"
    parsed = r.slowlog_get(1)  # the SLOWLOG GET above was logged too
    assert len(parsed) == 1 and parsed[0]["id"] == newest[0] + 1
    assert parsed[0]["command"] == b"SLOWLOG GET"
    assert len(r.slowlog_get(-1)) == r.slowlog_len() >= 3
    assert r.slowlog_get(0) == []


def test_slowlog_limits_and_truncation(r2, restore_config):
    restore_config("slowlog-log-slower-than", "slowlog-max-len")
    r2.config_set("slowlog-log-slower-than", 0)
    r2.execute_command("ECHO", "x" * 200)
    r2.execute_command("PING", "a" * 130)
    r2.config_set("slowlog-log-slower-than", -1)
    entries = raw(r2, "SLOWLOG", "GET", "10")
    by_cmd = {entry[3][0]: entry for entry in entries}
    assert by_cmd[b"ECHO"][3] == [b"ECHO", b"x" * 128 + b"... (72 more bytes)"]
    assert by_cmd[b"PING"][3][1].endswith(b"... (2 more bytes)")
    r2.config_set("slowlog-max-len", 2)
    assert r2.slowlog_len() <= 2
    r2.config_set("slowlog-log-slower-than", 0)
    for _ in range(5):
        r2.ping()
    r2.config_set("slowlog-log-slower-than", -1)
    assert r2.slowlog_len() == 2


def test_slowlog_many_arguments_are_summarised(r2, restore_config):
    restore_config("slowlog-log-slower-than")
    r2.config_set("slowlog-log-slower-than", 0)
    with pytest.raises(redis.ResponseError):
        r2.execute_command("ECHO", *range(40))  # wrong arity: never logged
    r2.execute_command("CONFIG", "GET", *[f"p{i}" for i in range(40)])
    r2.config_set("slowlog-log-slower-than", -1)
    entry = next(e for e in raw(r2, "SLOWLOG", "GET", "-1") if e[3][0] == b"CONFIG")
    assert len(entry[3]) == 32 and entry[3][-1] == b"... (11 more arguments)"


def test_slowlog_errors_and_help(r2):
    assert error_text(r2.execute_command, "SLOWLOG", "GET", "x") == \
        "count should be greater than or equal to -1"
    assert error_text(r2.execute_command, "SLOWLOG", "GET", "-2") == \
        "count should be greater than or equal to -1"
    assert error_text(r2.execute_command, "SLOWLOG", "LEN", "x") == \
        "wrong number of arguments for 'slowlog|len' command"
    assert error_text(r2.execute_command, "SLOWLOG", "GET", "1", "2") == \
        "unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP."
    lines = r2.execute_command("SLOWLOG", "HELP")
    assert lines[0] == b"SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert b"GET [<count>]" in lines and lines[-1] == b"    Prints this help."


# -- MONITOR -----------------------------------------------------------------


def test_monitor_streams_commands(node, r2):
    client = node.client()
    r2.ping()  # connect first: the handshake (HELLO, CLIENT SETINFO) is shown too
    with client.monitor() as monitor:
        r2.config_get("hz")  # admin commands are not shown
        r2.set("foo", "bar baz")
        r2.execute_command("SELECT", "3")
        r2.get("foo")
        first = monitor.next_command()
        assert first["command"] == "SET foo bar baz"
        assert first["db"] == 0
        assert f'{first["client_address"]}:{first["client_port"]}' == r2.client_info()["addr"]
        second = monitor.next_command()
        assert second["command"] == "SELECT 3"
        third = monitor.next_command()
        assert third["command"] == "GET foo" and third["db"] == 3
        flags = [c["flags"] for c in r2.client_list() if c["id"] != str(r2.client_id())]
        assert "O" in "".join(flags)
    client.close()


def test_monitor_raw_line_format(node, conn):
    watcher = conn(2)
    watcher.send("MONITOR")
    watcher.expect(b"+OK\r\n")
    writer = conn(2)
    writer.send("SET", "a\nb", "\x01\"")
    writer.expect(b"+OK\r\n")
    line = watcher.read_until(b"\r\n")
    assert re.fullmatch(rb'\+\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "SET" "a\\nb" "\\x01\\""\r\n', line), line


def test_monitor_inside_multi_is_refused(conn):
    client = conn(2)
    client.send("MULTI")
    client.send("MONITOR")
    client.send("EXEC")
    client.expect(b"+OK\r\n-ERR Command not allowed inside a transaction\r\n"
                  b"-EXECABORT Transaction discarded because of previous errors.\r\n")
    client.send("MONITOR")
    client.expect(b"+OK\r\n")
    client.send("MONITOR")  # a second MONITOR is ignored, without a reply
    client.send("PING")
    client.expect(b"+PONG\r\n")


# -- SHUTDOWN ----------------------------------------------------------------


def test_shutdown_refusals_keep_the_node_running(r2):
    assert error_text(r2.execute_command, "SHUTDOWN", "ABORT") == "No shutdown in progress."  # (7.0.15)
    assert error_text(r2.execute_command, "SHUTDOWN", "BOGUS") == "syntax error"
    assert error_text(r2.execute_command, "SHUTDOWN", "SAVE", "NOSAVE") == "syntax error"
    assert error_text(r2.execute_command, "SHUTDOWN", "ABORT", "NOW") == "syntax error"
    assert r2.ping() is True


def test_shutdown_exits_cleanly(tmp_path):
    with start_node(tmp_path) as node:
        # No retries: redis-py would otherwise try to reconnect to a node that is gone.
        client = node.client(retry=Retry(NoBackoff(), 0))
        bystander = RawConn(node)
        client.set("k", "v")
        assert client.shutdown(nosave=True) is None  # redis-py: connection closed = success
        assert node.proc.wait(10) == 0
        assert bystander.closed()
        assert "ready to exit" in node.log()
        bystander.close()


def test_shutdown_raw_connection_closes_without_reply(tmp_path):
    with start_node(tmp_path) as node:
        client = RawConn(node)
        client.send("SHUTDOWN")
        assert client.closed()
        assert client.buf == b""
        assert node.proc.wait(10) == 0
        client.close()


# -- DEBUG -------------------------------------------------------------------


def test_debug_sleep_error_object(r2):
    assert r2.execute_command("DEBUG", "SLEEP", "0") in (True, b"OK")
    assert r2.execute_command("DEBUG", "SLEEP", "0.01") in (True, b"OK")
    with pytest.raises(redis.ResponseError) as exc:
        r2.execute_command("DEBUG", "ERROR", "custom failure")
    assert str(exc.value) == "custom failure"
    r2.set("int", "12345")
    r2.set("short", "hello")
    r2.set("long", "x" * 100)
    assert " encoding:int " in r2.execute_command("DEBUG", "OBJECT", "int").decode()
    line = r2.execute_command("DEBUG", "OBJECT", "short").decode()
    assert re.fullmatch(r"Value at:0x[0-9a-f]+ refcount:1 encoding:embstr serializedlength:6 "
                        r"lru:\d+ lru_seconds_idle:\d+", line), line
    assert " encoding:raw " in r2.execute_command("DEBUG", "OBJECT", "long").decode()
    assert error_text(r2.execute_command, "DEBUG", "OBJECT", "missing") == "no such key"


def test_debug_error_raw_reply(conn):
    client = conn(2)
    client.send("DEBUG", "ERROR", "OOPS a\r\nb")
    client.expect(b"-OOPS a  b\r\n")


def test_debug_errors_and_help(r2):
    assert error_text(r2.execute_command, "DEBUG", "NOPE") == \
        "unknown subcommand or wrong number of arguments for 'NOPE'. Try DEBUG HELP."
    assert error_text(r2.execute_command, "DEBUG", "SLEEP") == \
        "unknown subcommand or wrong number of arguments for 'SLEEP'. Try DEBUG HELP."
    assert error_text(r2.execute_command, "DEBUG") == "wrong number of arguments for 'debug' command"
    lines = r2.execute_command("DEBUG", "HELP")
    assert lines[0] == b"DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert b"SLEEP <seconds>" in lines and b"SET-ACTIVE-EXPIRE <0|1>" in lines


def test_debug_advance_clock_expires_keys(r2):
    r2.set("ttl", "v", px=5000)
    before = r2.execute_command("TIME")
    assert r2.execute_command("DEBUG", "ADVANCE-CLOCK", "6000") in (True, b"OK")
    assert r2.get("ttl") is None
    after = r2.execute_command("TIME")
    assert int(after[0]) - int(before[0]) >= 6
    assert error_text(r2.execute_command, "DEBUG", "ADVANCE-CLOCK", "soon") == \
        "value is not an integer or out of range"


def _keys_in_db0(client) -> int:
    return client.info("keyspace").get("db0", {}).get("keys", 0)


def test_debug_set_active_expire(r2, restore_config):
    restore_config("hz")
    r2.config_set("hz", 100)  # a cron cycle every 10 ms keeps the waits short
    try:
        assert r2.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0") in (True, b"OK")
        for i in range(20):
            r2.set(f"gone{i}", "v", px=1000)
        r2.execute_command("DEBUG", "ADVANCE-CLOCK", "2000")
        time.sleep(0.2)  # ~20 cron cycles: none may reclaim the keys
        assert _keys_in_db0(r2) == 20
    finally:
        r2.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")
    deadline = time.monotonic() + 5
    while _keys_in_db0(r2) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _keys_in_db0(r2) == 0


def test_debug_refused_when_disabled(tmp_path):
    with start_node(tmp_path, "--enable-debug-command", "no") as node:
        client = node.client()
        assert error_text(client.execute_command, "DEBUG", "SLEEP", "0") == (
            "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", "
            "you can run it from a local connection, otherwise you need to set this option in the "
            "configuration file, and then restart the server.")
        assert error_text(client.execute_command, "CONFIG", "SET", "enable-debug-command", "yes") == \
            ("CONFIG SET failed (possibly related to argument 'enable-debug-command') - "
             "can't set immutable config")
        client.close()


def test_debug_local_allows_loopback(tmp_path):
    with start_node(tmp_path, "--enable-debug-command", "local") as node:
        client = node.client()
        assert client.execute_command("DEBUG", "SLEEP", "0") in (True, b"OK")
        client.close()
