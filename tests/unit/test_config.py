"""ringcache.config: defaults, parsing and Redis's exact texts, CONFIG SET
atomicity, CONFIG GET globbing, config files, flags, CONFIG REWRITE.

The expected texts were taken from redis-server 7.x replies and fatal errors
(checked side by side against a real redis-server while writing this module).
"""

from __future__ import annotations

import os

import pytest

from ringcache.config import (
    PARAMS,
    Config,
    ConfigError,
    format_memory_human,
    parse_memory,
    split_args,
    stringmatch,
)
from ringcache.pubsub.notifications import (
    NOTIFY_ALL,
    NOTIFY_KEY_MISS,
    NOTIFY_KEYEVENT,
    NOTIFY_KEYSPACE,
    NOTIFY_NEW,
    keyspace_events_flags,
    keyspace_events_text,
)

SET_FAILED = "ERR CONFIG SET failed (possibly related to argument '{}') - {}"
UNKNOWN = "ERR Unknown option or number of arguments for CONFIG SET - '{}'"
POLICIES = ("volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, "
            "allkeys-random, noeviction")


def set_error(config: Config, *pairs: tuple[str, str], protected_allowed: bool = True) -> str:
    with pytest.raises(ConfigError) as info:
        config.set_many(list(pairs), protected_allowed=protected_allowed)
    return info.value.message


def fatal(line_no: int, line: str, reason: str) -> str:
    return (f"\n*** FATAL CONFIG FILE ERROR (ringcache) ***\nReading the configuration file, at line {line_no}\n"
            f">>> '{line}'\n{reason}\n")


def load_error(path) -> str:
    with pytest.raises(ConfigError) as info:
        Config().load_file(str(path))
    return info.value.message


@pytest.fixture
def config() -> Config:
    return Config()


# -- defaults ---------------------------------------------------------------------


@pytest.mark.parametrize("name, text, typed", [
    ("port", "6379", 6379),
    ("bind", "127.0.0.1", ("127.0.0.1",)),
    ("daemonize", "no", False),
    ("loglevel", "notice", "notice"),
    ("logfile", "", ""),
    ("databases", "16", 16),
    ("requirepass", "", ""),
    ("maxclients", "10000", 10000),
    ("timeout", "0", 0),
    ("tcp-keepalive", "300", 300),
    ("hz", "10", 10),
    ("dynamic-hz", "yes", True),
    ("maxmemory", "0", 0),
    ("maxmemory-policy", "noeviction", "noeviction"),
    ("maxmemory-samples", "5", 5),
    ("maxmemory-eviction-tenacity", "10", 10),
    ("lfu-log-factor", "10", 10),
    ("lfu-decay-time", "1", 1),
    ("proto-max-bulk-len", "536870912", 512 * 1024 * 1024),
    ("client-query-buffer-limit", "1073741824", 1024**3),
    ("client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
     (("normal", 0, 0, 0), ("replica", 256 * 2**20, 64 * 2**20, 60), ("pubsub", 32 * 2**20, 8 * 2**20, 60))),
    ("slowlog-log-slower-than", "10000", 10000),
    ("slowlog-max-len", "128", 128),
    ("latency-tracking", "yes", True),
    ("enable-debug-command", "no", "no"),
    ("save", "3600 1 300 100 60 10000", ((3600, 1), (300, 100), (60, 10000))),
    ("dbfilename", "dump.rdb", "dump.rdb"),
    ("appendonly", "no", False),
    ("appendfilename", "appendonly.aof", "appendonly.aof"),
    ("appenddirname", "appendonlydir", "appendonlydir"),
    ("appendfsync", "everysec", "everysec"),
    ("auto-aof-rewrite-percentage", "100", 100),
    ("auto-aof-rewrite-min-size", "67108864", 64 * 2**20),
    ("aof-load-truncated", "yes", True),
    ("notify-keyspace-events", "", 0),
    ("tracking-table-max-keys", "1000000", 1000000),
    ("lazyfree-lazy-user-del", "no", False),
    ("lazyfree-lazy-user-flush", "no", False),
    ("io-threads", "1", 1),
    ("cluster-enabled", "no", False),
    ("cluster-node-timeout", "1000", 1000),  # ringcache: 1000 (Redis 15000), issue 15
    ("cluster-config-file", "nodes.conf", "nodes.conf"),
    ("replica-read-only", "yes", True),
    ("replica-serve-stale-data", "yes", True),
    ("repl-backlog-size", "1048576", 2**20),
    ("min-replicas-to-write", "0", 0),
    ("protected-mode", "yes", True),
    ("active-expire-effort", "1", 1),
    ("list-max-listpack-size", "-2", -2),
    ("hash-max-listpack-entries", "512", 512),  # Redis's compiled default (redis.conf ships 128)
    ("hash-max-listpack-value", "64", 64),
    ("set-max-intset-entries", "512", 512),
    ("set-max-listpack-entries", "128", 128),
    ("set-max-listpack-value", "64", 64),
    ("zset-max-listpack-entries", "128", 128),
    ("zset-max-listpack-value", "64", 64),
    ("latency-monitor-threshold", "0", 0),
    ("busy-reply-threshold", "5000", 5000),
    ("pidfile", "", ""),
    ("unixsocket", "", ""),
    ("tcp-backlog", "511", 511),
    ("supervised", "no", "no"),
    ("always-show-logo", "no", False),
    ("crash-log-enabled", "yes", True),
])
def test_defaults(config, name, text, typed):
    assert config.get_text(name) == text
    assert config[name] == typed
    assert type(config[name]) is type(typed)


def test_dir_defaults_to_the_absolute_working_directory(config):
    assert config["dir"] == os.getcwd()
    assert os.path.isabs(config.get_text("dir"))


def test_names_lists_every_parameter_once_without_aliases(config):
    names = config.names()
    assert len(names) == len(set(names)) == len(PARAMS)
    assert "busy-reply-threshold" in names and "lua-time-limit" not in names


def test_every_default_round_trips_through_its_own_text():
    # The text CONFIG GET shows must be accepted back by CONFIG SET (startup,
    # so immutable ones are included) and give the same value.
    fresh = Config()
    for name in fresh.names():
        other = Config()
        other.set(name, fresh.get_text(name), startup=True)
        assert other[name] == fresh[name], name


def test_unknown_name_raises_key_error(config):
    with pytest.raises(KeyError):
        config["no-such-thing"]
    with pytest.raises(KeyError):
        config.get_text("no-such-thing")
    assert "maxmemory" in config and "MAXMEMORY" in config and "lua-time-limit" in config
    assert "no-such-thing" not in config


# -- booleans ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [("yes", True), ("no", False), ("YES", True), ("No", False)])
def test_bool_accepts_yes_no_in_any_case(config, text, value):
    config.set("appendonly", text)
    assert config["appendonly"] is value
    assert config.get_text("appendonly") == ("yes" if value else "no")


@pytest.mark.parametrize("text", ["maybe", "1", "true", "", " yes", "yes "])
def test_bool_rejects_anything_else(config, text):
    assert set_error(config, ("appendonly", text)) == SET_FAILED.format("appendonly", "argument must be 'yes' or 'no'")


def test_daemonize_accepts_only_no_even_at_startup(config):
    config.set("daemonize", "no", startup=True)
    with pytest.raises(ConfigError) as info:
        config.set("daemonize", "yes", startup=True)
    assert "daemonize yes is not supported" in info.value.message


# -- integers ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["abc", "", "+5", "05", " 5", "5 ", "-0", "1.5", "1k", "0x10",
                                  "99999999999999999999"])
def test_int_rejects_what_redis_string2ll_rejects(config, text):
    assert set_error(config, ("timeout", text)) == SET_FAILED.format(
        "timeout", "argument couldn't be parsed into an integer")


def test_int_bounds_and_their_text(config):
    assert set_error(config, ("port", "70000")) == SET_FAILED.format("port", "can't set immutable config")
    with pytest.raises(ConfigError) as info:
        config.set("port", "70000", startup=True)
    assert info.value.message == SET_FAILED.format("port", "argument must be between 0 and 65535 inclusive")
    assert set_error(config, ("timeout", "-1")) == SET_FAILED.format(
        "timeout", "argument must be between 0 and 2147483647 inclusive")
    assert set_error(config, ("maxmemory-eviction-tenacity", "101")) == SET_FAILED.format(
        "maxmemory-eviction-tenacity", "argument must be between 0 and 100 inclusive")
    assert set_error(config, ("active-expire-effort", "0")) == SET_FAILED.format(
        "active-expire-effort", "argument must be between 1 and 10 inclusive")
    assert set_error(config, ("slowlog-log-slower-than", "-2")) == SET_FAILED.format(
        "slowlog-log-slower-than", "argument must be between -1 and 9223372036854775807 inclusive")


def test_unsigned_fields_report_negatives_against_the_upper_bound(config):
    # Redis reinterprets the long long as unsigned: -1 is 2^64-1, too big.
    for text in ("0", "-1"):
        assert set_error(config, ("maxclients", text)) == SET_FAILED.format(
            "maxclients", "argument must be between 1 and 4294967295 inclusive")


def test_int_edges_accepted(config):
    config.set_many([("slowlog-log-slower-than", "-1"), ("list-max-listpack-size", "-2147483648"),
                     ("cluster-node-timeout", "9223372036854775807"), ("maxclients", "4294967295")])
    assert config["slowlog-log-slower-than"] == -1
    assert config["list-max-listpack-size"] == -(2**31)
    assert config["cluster-node-timeout"] == 2**63 - 1
    assert config["maxclients"] == 2**32 - 1


def test_hz_accepts_any_non_negative_int_and_caps_it(config):
    config.set("hz", "1000")
    assert config["hz"] == 500 and config.get_text("hz") == "500"
    config.set("hz", "0")
    assert config["hz"] == 1
    assert set_error(config, ("hz", "-5")) == SET_FAILED.format(
        "hz", "argument must be between 0 and 2147483647 inclusive")


def test_repl_backlog_size_is_raised_to_16kb(config):
    config.set("repl-backlog-size", "1")
    assert config["repl-backlog-size"] == 16384


# -- memory ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [
    ("0", 0), ("100", 100), ("100b", 100), ("1k", 1000), ("1kb", 1024), ("1K", 1000), ("1KB", 1024),
    ("2m", 2_000_000), ("2mb", 2 * 2**20), ("3g", 3_000_000_000), ("3gb", 3 * 2**30), ("3Gb", 3 * 2**30),
    ("05mb", 5 * 2**20),
    # memtoull() quirks kept: no digits is 0, too many digits saturate.
    ("", 0), ("mb", 0), ("99999999999999999999", 2**64 - 1),
])
def test_parse_memory(text, value):
    assert parse_memory(text) == value


@pytest.mark.parametrize("text", ["-1", "-1mb", "1.5mb", "1 mb", " 1", "1tb", "abc", "1mbx", "+1",
                                  "99999999999gb", "9" * 128])
def test_parse_memory_rejects(text):
    with pytest.raises(ValueError):
        parse_memory(text)


def test_memory_config_shows_plain_bytes(config):
    config.set("maxmemory", "100mb")
    assert config["maxmemory"] == 100 * 2**20
    assert config.get_text("maxmemory") == "104857600"
    config.set("maxmemory", "99999999999999999999")
    assert config.get_text("maxmemory") == "18446744073709551615"


@pytest.mark.parametrize("text", ["-1", "1.5mb", "10zz", " 10"])
def test_memory_config_rejects_garbage(config, text):
    assert set_error(config, ("maxmemory", text)) == SET_FAILED.format("maxmemory", "argument must be a memory value")


def test_memory_config_bounds(config):
    assert set_error(config, ("proto-max-bulk-len", "1000")) == SET_FAILED.format(
        "proto-max-bulk-len", "argument must be between 1048576 and 9223372036854775807 inclusive")
    assert set_error(config, ("client-query-buffer-limit", "1kb")) == SET_FAILED.format(
        "client-query-buffer-limit", "argument must be between 1048576 and 9223372036854775807 inclusive")
    config.set("proto-max-bulk-len", "1mb")
    assert config["proto-max-bulk-len"] == 2**20


@pytest.mark.parametrize("n, text", [
    (0, "0B"), (100, "100B"), (1023, "1023B"), (1024, "1.00K"), (512 * 1024, "512.00K"), (1536, "1.50K"),
    (1048576, "1.00M"), (1024**3, "1.00G"), (5 * 1024**4, "5.00T"), (1024**5, "1.00P"), (1024**6, f"{1024**6}B"),
])
def test_format_memory_human(n, text):
    assert format_memory_human(n) == text


# -- enums -------------------------------------------------------------------------------


def test_enum_accepts_any_case_and_shows_lower_case(config):
    config.set("maxmemory-policy", "ALLKEYS-LRU")
    assert config["maxmemory-policy"] == "allkeys-lru"
    assert config.get_text("maxmemory-policy") == "allkeys-lru"


@pytest.mark.parametrize("name, choices", [
    ("maxmemory-policy", POLICIES),
    ("loglevel", "debug, verbose, notice, warning, nothing"),
    ("appendfsync", "everysec, always, no"),
])
def test_enum_error_lists_the_choices_in_redis_order(config, name, choices):
    assert set_error(config, (name, "nope")) == SET_FAILED.format(
        name, f"argument(s) must be one of the following: {choices}")


def test_enum_does_not_fold_non_ascii_letters(config):
    # str.lower() maps the Kelvin sign to "k"; strcasecmp does not.
    with pytest.raises(ConfigError):
        config.set("maxmemory-policy", "allkeys-lru".replace("k", "\u212a"))


def test_enable_debug_command_is_an_immutable_enum(config):
    assert set_error(config, ("enable-debug-command", "yes")) == SET_FAILED.format(
        "enable-debug-command", "can't set immutable config")
    config.set("enable-debug-command", "LOCAL", startup=True)
    assert config["enable-debug-command"] == "local"


# -- strings and paths ---------------------------------------------------------------------


def test_strings(config):
    config.set("requirepass", "s3cret pass")
    assert config["requirepass"] == "s3cret pass"
    config.set("requirepass", "")
    assert config["requirepass"] == "" and config.get_text("requirepass") == ""


def test_protected_configs_need_enable_protected_configs(config):
    # Redis's order: the protection is checked before the value.
    for name in ("dir", "dbfilename"):
        assert set_error(config, (name, "x/y"), protected_allowed=False) == SET_FAILED.format(
            name, "can't set protected config")
    assert set_error(config, ("hz", "20"), ("dir", "."), protected_allowed=False) == SET_FAILED.format(
        "dir", "can't set protected config")
    assert config["hz"] == 10  # all or nothing
    assert set_error(config, ("enable-protected-configs", "yes")) == SET_FAILED.format(
        "enable-protected-configs", "can't set immutable config")


def test_dbfilename_must_be_a_file_name(config):
    assert set_error(config, ("dbfilename", "a/b.rdb")) == SET_FAILED.format(
        "dbfilename", "dbfilename can't be a path, just a filename")
    config.set("dbfilename", "other.rdb")
    assert config["dbfilename"] == "other.rdb"


def test_appendfilename_checks_at_startup(config):
    for value, reason in [("", "appendfilename can't be empty"),
                          ("x/y", "appendfilename can't be a path, just a filename")]:
        with pytest.raises(ConfigError) as info:
            config.set("appendfilename", value, startup=True)
        assert info.value.reason == reason
    with pytest.raises(ConfigError) as info:
        config.set("appenddirname", "a/b", startup=True)
    assert info.value.reason == "appenddirname can't be a path, just a dirname"


def test_dir_must_exist_and_is_kept_absolute(config, tmp_path, monkeypatch):
    assert set_error(config, ("dir", str(tmp_path / "missing"))) == SET_FAILED.format(
        "dir", "No such file or directory")
    (tmp_path / "file").write_text("x")
    assert set_error(config, ("dir", str(tmp_path / "file"))) == SET_FAILED.format("dir", "Not a directory")
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    config.set("dir", "data")
    assert config["dir"] == str((tmp_path / "data").resolve())
    assert config.get_text("dir") == config["dir"]


# -- special parameters ----------------------------------------------------------------------


def test_save(config):
    config.set("save", "900 1 300 10")
    assert config["save"] == ((900, 1), (300, 10))
    assert config.get_text("save") == "900 1 300 10"
    config.set("save", "")
    assert config["save"] == () and config.get_text("save") == ""
    config.set("save", "10 0")
    assert config["save"] == ((10, 0),)


@pytest.mark.parametrize("text", ["1 2 3", "0 1", "10 -1", "x 1", "10 1x", "60  1"])
def test_save_rejects(config, text):
    assert set_error(config, ("save", text)) == SET_FAILED.format("save", "Invalid save parameters")


def test_client_output_buffer_limit_subset_keeps_the_other_classes(config):
    config.set("client-output-buffer-limit", "normal 1mb 2mb 3")
    assert config.get_text("client-output-buffer-limit") == (
        "normal 1048576 2097152 3 slave 268435456 67108864 60 pubsub 33554432 8388608 60")
    config.set("client-output-buffer-limit", "SLAVE 1gb 1k 0 pubsub 0 0 0")
    assert config["client-output-buffer-limit"] == (
        ("normal", 2**20, 2 * 2**20, 3), ("replica", 2**30, 1000, 0), ("pubsub", 0, 0, 0))
    config.set("client-output-buffer-limit", "replica 1 2 3")
    assert config["client-output-buffer-limit"][1] == ("replica", 1, 2, 3)


@pytest.mark.parametrize("text, reason", [
    ("normal 1 1", "Wrong number of arguments in buffer limit configuration."),
    ("master 1 1 1", "Invalid client class specified in buffer limit configuration."),
    ("nobody 1 1 1", "Invalid client class specified in buffer limit configuration."),
    ("normal x 1 1", "Error in hard, soft or soft_seconds setting in buffer limit configuration."),
    ("normal 1 1 -1", "Error in hard, soft or soft_seconds setting in buffer limit configuration."),
    ("normal 1 -1 1", "Error in hard, soft or soft_seconds setting in buffer limit configuration."),
])
def test_client_output_buffer_limit_rejects_atomically(config, text, reason):
    before = config["client-output-buffer-limit"]
    assert set_error(config, ("client-output-buffer-limit", "pubsub 1 1 1 " + text)) == SET_FAILED.format(
        "client-output-buffer-limit", reason)
    assert config["client-output-buffer-limit"] == before


@pytest.mark.parametrize("given, shown", [
    ("KEA", "AKE"), ("Ex", "xE"), ("xgEnm", "gxnEm"), ("A", "A"), ("g$lshzxetd", "A"), ("Km", "Km"), ("", ""),
    ("EEKK", "KE"),
])
def test_notify_keyspace_events_canonical_order(config, given, shown):
    config.set("notify-keyspace-events", given)
    assert config.get_text("notify-keyspace-events") == shown
    assert config["notify-keyspace-events"] == keyspace_events_flags(given)


def test_notify_keyspace_events_typed_value_is_the_bits(config):
    config.set("notify-keyspace-events", "KEA")
    assert config["notify-keyspace-events"] == NOTIFY_KEYSPACE | NOTIFY_KEYEVENT | NOTIFY_ALL
    # "n" is not part of "A", and Redis's text drops it next to "A"; the bits keep it.
    config.set("notify-keyspace-events", "An")
    assert config.get_text("notify-keyspace-events") == "A"
    assert config["notify-keyspace-events"] == NOTIFY_ALL | NOTIFY_NEW


def test_notify_keyspace_events_rejects_unknown_letters(config):
    assert set_error(config, ("notify-keyspace-events", "KEQ")) == SET_FAILED.format(
        "notify-keyspace-events", "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")


def test_keyspace_event_flag_helpers():
    assert keyspace_events_flags("KEA") == NOTIFY_KEYSPACE | NOTIFY_KEYEVENT | NOTIFY_ALL
    assert keyspace_events_flags("Km") == NOTIFY_KEYSPACE | NOTIFY_KEY_MISS
    assert keyspace_events_flags("?") is None
    assert keyspace_events_text(keyspace_events_flags("$lshzxegtd")) == "A"


def test_bind_is_startup_only(config):
    assert set_error(config, ("bind", "0.0.0.0")) == SET_FAILED.format("bind", "can't set immutable config")
    config.set("bind", "127.0.0.1 ::1", startup=True)
    assert config["bind"] == ("127.0.0.1", "::1") and config.get_text("bind") == "127.0.0.1 ::1"
    with pytest.raises(ConfigError) as info:
        config.set("bind", " ".join(["1.1.1.1"] * 17), startup=True)
    assert info.value.reason == "Too many bind addresses specified."


# -- CONFIG SET: names, aliases, atomicity ---------------------------------------------------


def test_unknown_parameter(config):
    assert set_error(config, ("no-such", "1")) == UNKNOWN.format("no-such")


def test_names_are_case_insensitive_and_errors_name_the_entry(config):
    config.set("MaxMemory", "1mb")
    assert config["maxmemory"] == 2**20
    # A bad value names the table entry (lower case)...
    assert set_error(config, ("MAXMEMORY", "x")) == SET_FAILED.format("maxmemory", "argument must be a memory value")
    # ...a refusal names the argument as typed.
    assert set_error(config, ("DATABASES", "2")) == SET_FAILED.format("DATABASES", "can't set immutable config")


def test_alias_reads_and_writes_its_parameter(config):
    config.set("lua-time-limit", "7000")
    assert config["busy-reply-threshold"] == 7000 == config["lua-time-limit"]
    config.set("hash-max-ziplist-entries", "100")
    assert config["hash-max-listpack-entries"] == 100
    config.set("slave-read-only", "no")
    assert config["replica-read-only"] is False
    for alias, name in [("hash-max-ziplist-value", "hash-max-listpack-value"),
                        ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
                        ("zset-max-ziplist-value", "zset-max-listpack-value"),
                        ("list-max-ziplist-size", "list-max-listpack-size"),
                        ("slave-serve-stale-data", "replica-serve-stale-data"),
                        ("min-slaves-to-write", "min-replicas-to-write")]:
        assert config[alias] == config[name]
    # An error through an alias names the alias.
    assert set_error(config, ("LUA-TIME-LIMIT", "x")) == SET_FAILED.format(
        "lua-time-limit", "argument couldn't be parsed into an integer")


def test_immutable_parameters_refuse_config_set(config):
    for name in ("port", "databases", "logfile", "io-threads", "cluster-enabled", "appendfilename",
                 "appenddirname", "unixsocket", "tcp-backlog", "supervised", "daemonize", "pidfile"):
        value = config.get_text(name)
        assert set_error(config, (name, value)) == SET_FAILED.format(name, "can't set immutable config")
        config.set(name, value, startup=True)  # fine at startup


def test_duplicate_parameter(config):
    assert set_error(config, ("maxmemory", "1"), ("maxmemory", "2")) == SET_FAILED.format(
        "maxmemory", "duplicate parameter")
    assert set_error(config, ("maxmemory", "1"), ("MAXMEMORY", "2")) == SET_FAILED.format(
        "MAXMEMORY", "duplicate parameter")
    assert config["maxmemory"] == 0


def test_alias_and_name_in_one_set_are_not_duplicates(config):
    # Redis compares table entries, and the alias has its own: last one wins.
    config.set_many([("lua-time-limit", "1"), ("busy-reply-threshold", "2")])
    assert config["busy-reply-threshold"] == 2


def test_set_many_is_all_or_nothing(config):
    calls = []
    config.on_change("maxmemory", calls.append)
    error = set_error(config, ("maxmemory", "1mb"), ("hz", "20"), ("maxmemory-policy", "bogus"))
    assert error == SET_FAILED.format("maxmemory-policy", f"argument(s) must be one of the following: {POLICIES}")
    assert config["maxmemory"] == 0 and config["hz"] == 10 and calls == []
    config.set_many([("maxmemory", "1mb"), ("hz", "20"), ("maxmemory-policy", "allkeys-lru")])
    assert (config["maxmemory"], config["hz"], config["maxmemory-policy"]) == (2**20, 20, "allkeys-lru")
    assert calls == [2**20]


def test_set_many_first_problem_wins(config):
    # The names are checked in order before any value; the first problem is reported.
    assert set_error(config, ("foo", "1"), ("daemonize", "yes")) == UNKNOWN.format("foo")
    assert set_error(config, ("daemonize", "yes"), ("foo", "1")) == SET_FAILED.format(
        "daemonize", "can't set immutable config")
    assert set_error(config, ("maxmemory", "1"), ("foo", "2"), ("bar", "3")) == UNKNOWN.format("foo")
    assert set_error(config, ("maxmemory", "1"), ("maxmemory", "2"), ("daemonize", "yes")) == SET_FAILED.format(
        "maxmemory", "duplicate parameter")
    # Name problems come before value problems, wherever they are.
    assert set_error(config, ("maxmemory", "bad"), ("foo", "2")) == UNKNOWN.format("foo")
    assert set_error(config, ("maxmemory", "bad"), ("hz", "bad")) == SET_FAILED.format(
        "maxmemory", "argument must be a memory value")


def test_set_many_of_nothing_is_a_no_op(config):
    config.set_many([])


# -- on_change callbacks ---------------------------------------------------------------------


def test_on_change_gets_the_typed_value(config):
    seen = []
    config.on_change("maxmemory-policy", seen.append)
    config.on_change("lua-time-limit", lambda value: seen.append(("busy", value)))  # alias registration
    config.set("maxmemory-policy", "ALLKEYS-LFU")
    config.set("busy-reply-threshold", "100")
    assert seen == ["allkeys-lfu", ("busy", 100)]


def test_on_change_is_not_called_at_startup(config, tmp_path):
    seen = []
    config.on_change("hz", seen.append)
    config.set("hz", "20", startup=True)
    path = tmp_path / "r.conf"
    path.write_text("hz 30\n")
    config.load_file(str(path))
    config.load_args(["--hz", "40"])
    assert seen == [] and config["hz"] == 40


def test_on_change_runs_once_per_parameter_with_its_final_value(config):
    seen = []
    config.on_change("busy-reply-threshold", seen.append)
    config.set_many([("lua-time-limit", "1"), ("busy-reply-threshold", "2")])
    assert seen == [2]


def test_a_callback_can_refuse_and_everything_rolls_back(config):
    events = []
    config.on_change("maxmemory", lambda value: events.append(("maxmemory", value)))

    def refuse_port_like(value):
        events.append(("timeout", value))
        if value == 99:
            raise ConfigError("Unable to apply this value.")

    config.on_change("timeout", refuse_port_like)
    error = set_error(config, ("maxmemory", "5mb"), ("timeout", "99"))
    assert error == SET_FAILED.format("timeout", "Unable to apply this value.")
    assert config["maxmemory"] == 0 and config["timeout"] == 0
    # Listeners that saw the new value are told about the old one again.
    assert events == [("maxmemory", 5 * 2**20), ("timeout", 99), ("maxmemory", 0), ("timeout", 0)]


def test_on_change_unknown_name(config):
    with pytest.raises(KeyError):
        config.on_change("nope", print)


# -- CONFIG GET: glob matching -----------------------------------------------------------------


@pytest.mark.parametrize("pattern, string, nocase, expected", [
    ("*", "anything", False, True),
    ("*", "", False, False),  # as in Redis: KEYS * does not list the empty key
    ("", "", False, True),
    ("", "a", False, False),
    ("a*", "abc", False, True),
    ("*c", "abc", False, True),
    ("a*c", "ac", False, True),
    ("a*c", "abd", False, False),
    ("a?c", "abc", False, True),
    ("a?c", "ac", False, False),
    ("[abc]x", "bx", False, True),
    ("[abc]x", "dx", False, False),
    ("[^abc]x", "dx", False, True),
    ("[^abc]x", "ax", False, False),
    ("[a-c]", "b", False, True),
    ("[c-a]", "b", False, True),  # reversed ranges work
    ("[a-c]", "B", True, True),
    ("[a-c]", "B", False, False),
    ("\\*", "*", False, True),
    ("\\*", "a", False, False),
    ("[\\]]", "]", False, True),
    ("[abc", "a", False, True),  # an unterminated class ends the pattern
    ("ABC", "abc", True, True),
    ("ABC", "abc", False, False),
    ("a**b", "axxb", False, True),
    ("*a*a*a*a*a*a*a*a*b", "a" * 40, False, False),  # must not take forever
])
def test_stringmatch(pattern, string, nocase, expected):
    assert stringmatch(pattern, string, nocase) is expected


def test_match_exact_name_answers_with_the_name_as_given(config):
    assert config.match("maxmemory") == [("maxmemory", "0")]
    assert config.match("MAXMEMORY") == [("MAXMEMORY", "0")]
    assert config.match("lua-time-limit") == [("lua-time-limit", "5000")]
    assert config.match("nope") == []
    assert config.match("max\\memory") == []  # no glob character: an exact lookup


def test_match_glob_is_case_insensitive_and_includes_aliases(config):
    assert dict(config.match("MAXMEM*")) == {
        "maxmemory": "0", "maxmemory-policy": "noeviction", "maxmemory-samples": "5",
        "maxmemory-eviction-tenacity": "10"}
    assert dict(config.match("*ziplist*")) == {
        "hash-max-ziplist-entries": "512", "hash-max-ziplist-value": "64", "list-max-ziplist-size": "-2",
        "zset-max-ziplist-entries": "128", "zset-max-ziplist-value": "64"}
    assert dict(config.match("h[a-c]sh-max-listpack-*")) == {
        "hash-max-listpack-entries": "512", "hash-max-listpack-value": "64"}
    everything = dict(config.match("*"))
    assert set(config.names()) <= set(everything) and "lua-time-limit" in everything


def test_match_many_is_a_union_without_repeats(config):
    result = config.match_many(["maxmemory", "MAXMEMORY", "maxmemory*", "hz"])
    names = [name for name, _ in result]
    assert names == ["maxmemory", "maxmemory-policy", "maxmemory-samples", "maxmemory-eviction-tenacity", "hz"]


# -- config file syntax ----------------------------------------------------------------------------


@pytest.mark.parametrize("line, args", [
    ("a b  c", ["a", "b", "c"]),
    ("  a\tb  ", ["a", "b"]),
    ("", []),
    ('"a b" c', ["a b", "c"]),
    ('"a\\nb\\t\\r\\a\\b"', ["a\nb\t\r\a\b"]),
    ('"\\x41\\x7a"', ["Az"]),
    ('"\\x4"', ["x4"]),  # not a hex escape: backslash just quotes the next char
    ('"q\\"q"', ['q"q']),
    ("'it\\'s'", ["it's"]),
    ("'no \\n escapes'", ["no \\n escapes"]),
    ('foo"bar baz"', ["foobar baz"]),
    ('""', [""]),
    ("''", [""]),
    ('save ""', ["save", ""]),
])
def test_split_args(line, args):
    assert split_args(line) == args


@pytest.mark.parametrize("line", ['"abc', "'abc", '"a"b', "'a'b"])
def test_split_args_unbalanced(line):
    assert split_args(line) is None


def test_split_args_high_bytes_come_back_as_surrogate_escapes():
    (arg,) = split_args('"\\xff\\x00"')
    assert arg.encode("utf-8", "surrogateescape") == b"\xff\x00"


def test_load_file(tmp_path):
    path = tmp_path / "redis.conf"
    path.write_text(
        "# a comment\n"
        "\n"
        "   # an indented comment\n"
        "  MAXMEMORY 100mb  \n"
        "maxmemory-policy ALLKEYS-lru\n"
        "appendonly YES\n"
        "requirepass \"with space\\tand tab\"\n"
        "dbfilename 'it\\'s.rdb'\n"
        "notify-keyspace-events \"KEA\"\n"
        "client-output-buffer-limit normal 1mb 2mb 3\n"
        "hash-max-ziplist-entries 100\n"
        "port 7000\n"
        "databases 4\n"
        "hz 11\r\n"
        "list-max-ziplist-entries 5\n"  # deprecated: accepted and ignored
    )
    config = Config()
    config.load_file(str(path))
    assert config.config_file == str(path)
    assert config["maxmemory"] == 100 * 2**20
    assert config["maxmemory-policy"] == "allkeys-lru"
    assert config["appendonly"] is True
    assert config["requirepass"] == "with space\tand tab"
    assert config["dbfilename"] == "it's.rdb"
    assert config.get_text("notify-keyspace-events") == "AKE"
    assert config["client-output-buffer-limit"][0] == ("normal", 2**20, 2 * 2**20, 3)
    assert config["hash-max-listpack-entries"] == 100
    assert (config["port"], config["databases"], config["hz"]) == (7000, 4, 11)


def test_load_file_save_lines_accumulate(tmp_path):
    path = tmp_path / "r.conf"
    path.write_text("save 60 1\nsave 300 10\n")
    config = Config()
    config.load_file(str(path))
    assert config["save"] == ((60, 1), (300, 10))
    # `save ""` clears what came before; later lines add again.
    path.write_text('save 60 1 300 10\nsave ""\nsave 7 7\n')
    config = Config()
    config.load_file(str(path))
    assert config["save"] == ((7, 7),)
    # One quoted argument holding several is split.
    path.write_text('save "100 1 200 2"\n')
    config = Config()
    config.load_file(str(path))
    assert config["save"] == ((100, 1), (200, 2))


def test_load_file_without_save_keeps_the_defaults(tmp_path):
    path = tmp_path / "r.conf"
    path.write_text("hz 5\n")
    config = Config()
    config.load_file(str(path))
    assert config["save"] == ((3600, 1), (300, 100), (60, 10000))


def test_include_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "main.conf").write_text("timeout 10\ninclude extra.conf\nhz 20\n")
    (tmp_path / "extra.conf").write_text("timeout 30\nmaxmemory 5mb\n")
    monkeypatch.chdir(tmp_path)
    config = Config()
    config.load_file("conf/main.conf")
    assert (config["timeout"], config["maxmemory"], config["hz"]) == (30, 5 * 2**20, 20)
    assert config.config_file == str(tmp_path / "conf" / "main.conf")


def test_include_glob(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "b.conf").write_text("tcp-keepalive 8\nlfu-log-factor 3\n")
    (tmp_path / "conf.d" / "a.conf").write_text("tcp-keepalive 7\n")
    (tmp_path / "main.conf").write_text("include conf.d/*.conf\ninclude empty.d/*.conf\n")
    config = Config()
    config.load_file("main.conf")
    assert (config["tcp-keepalive"], config["lfu-log-factor"]) == (8, 3)  # sorted: b.conf last


def test_error_in_an_included_file_reports_its_own_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.conf").write_text("# x\n\nhz abc\n")
    (tmp_path / "main.conf").write_text("hz 5\ninclude bad.conf\n")
    assert load_error("main.conf") == fatal(3, "hz abc", "argument couldn't be parsed into an integer")


def test_missing_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_error("nope.conf") == "Fatal error, can't open config file 'nope.conf': No such file or directory"
    (tmp_path / "main.conf").write_text("include missing.conf\n")
    assert load_error("main.conf") == (
        "Fatal error, can't open config file 'missing.conf': No such file or directory")


def test_include_cycle_is_an_error_not_a_hang(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.conf").write_text("include a.conf\n")
    assert "Too many nested includes" in load_error("a.conf")


@pytest.mark.parametrize("body, line_no, line, reason", [
    ("# c\nfoo bar\n", 2, "foo bar", "Bad directive or wrong number of arguments"),
    ("hz 5\nmaxmemory 10zz\n", 2, "maxmemory 10zz", "argument must be a memory value"),
    ("port 1 2\n", 1, "port 1 2", "wrong number of arguments"),
    ("hz\n", 1, "hz", "wrong number of arguments"),
    ('dbfilename "abc\n', 1, 'dbfilename "abc', "Unbalanced quotes in configuration line"),
    ("dbfilename 'abc'x\n", 1, "dbfilename 'abc'x", "Unbalanced quotes in configuration line"),
    ("\n\n  loglevel loud  \n", 3, "loglevel loud",
     "argument(s) must be one of the following: debug, verbose, notice, warning, nothing"),
    ("save 1\n", 1, "save 1", "Invalid save parameters"),
    ("lua-time-limit abc\n", 1, "lua-time-limit abc", "argument couldn't be parsed into an integer"),
    ("list-max-ziplist-entries 5 6\n", 1, "list-max-ziplist-entries 5 6", "Bad directive or wrong number of arguments"),
    ("client-output-buffer-limit master 1 1 1\n", 1, "client-output-buffer-limit master 1 1 1",
     "Invalid client class specified in buffer limit configuration."),
    ("notify-keyspace-events Q\n", 1, "notify-keyspace-events Q",
     "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."),
    ("dbfilename a/b.rdb\n", 1, "dbfilename a/b.rdb", "dbfilename can't be a path, just a filename"),
    ("dir /nonexistent/zz\n", 1, "dir /nonexistent/zz", "No such file or directory"),
])
def test_load_file_errors(tmp_path, body, line_no, line, reason):
    path = tmp_path / "bad.conf"
    path.write_text(body)
    assert load_error(path) == fatal(line_no, line, reason)


def test_cluster_mode_has_one_database(tmp_path):
    path = tmp_path / "r.conf"
    path.write_text("cluster-enabled yes\ndatabases 16\n")
    config = Config()
    config.load_file(str(path))
    assert config["databases"] == 1


# -- command line flags ----------------------------------------------------------------------------


def test_load_args(config):
    config.load_args(["--port", "7000", "--save", "", "--maxmemory", "100mb", "--bind", "127.0.0.1", "::1",
                      "--lua-time-limit", "7", "--notify-keyspace-events", "KEA"])
    assert config["port"] == 7000
    assert config["save"] == ()
    assert config["maxmemory"] == 100 * 2**20
    assert config["bind"] == ("127.0.0.1", "::1")
    assert config["busy-reply-threshold"] == 7
    assert config.get_text("notify-keyspace-events") == "AKE"


def test_load_args_multi_values_and_one_quoted_value(config):
    config.load_args(["--save", "60", "1", "--save", "300", "10"])
    assert config["save"] == ((60, 1), (300, 10))
    other = Config()
    other.load_args(["--save", "60 1 300 10", "--client-output-buffer-limit", "normal 1mb 2mb 3"])
    assert other["save"] == ((60, 1), (300, 10))
    assert other["client-output-buffer-limit"][0] == ("normal", 2**20, 2 * 2**20, 3)


def test_load_args_after_a_file(tmp_path):
    path = tmp_path / "r.conf"
    path.write_text("save 60 1\nhz 5\n")
    config = Config()
    config.load_file(str(path))
    config.load_args(["--save", "5", "5", "--hz", "6"])
    assert config["save"] == ((60, 1), (5, 5)) and config["hz"] == 6
    config = Config()
    config.load_file(str(path))
    config.load_args(["--save", ""])  # the usual way to turn snapshots off
    assert config["save"] == ()


def test_load_args_value_may_start_with_dashes(config):
    config.load_args(["--requirepass", "--hz"])
    assert config["requirepass"] == "--hz"


@pytest.mark.parametrize("args, position, line, reason", [
    (["--hz", "x"], 1, 'hz "x"', "argument couldn't be parsed into an integer"),
    (["--port", "1", "--foo", "bar"], 3, 'foo "bar"', "Bad directive or wrong number of arguments"),
    (["--hz", "1", "2"], 1, 'hz "1" "2"', "wrong number of arguments"),
    (["--hz"], 1, "hz", "wrong number of arguments"),
    (["--maxmemory-policy", "all keys"], 1, 'maxmemory-policy "all keys"',
     f"argument(s) must be one of the following: {POLICIES}"),
    (["stray"], 1, '"stray"', "Bad directive or wrong number of arguments"),
])
def test_load_args_errors(config, args, position, line, reason):
    with pytest.raises(ConfigError) as info:
        config.load_args(args)
    assert info.value.message == (
        f"\n*** FATAL CONFIG FILE ERROR (ringcache) ***\nReading the command line, at argument {position}\n"
        f">>> '{line}'\n{reason}\n")


# -- CONFIG REWRITE --------------------------------------------------------------------------------

ORIGINAL = """# top comment
   # indented comment
daemonize no

maxmemory 100mb
save 60 1
save 300 10
save 900 1
include {inc}
hash-max-ziplist-entries 100
dbfilename "dump x.rdb"
slowlog-max-len 128
requirepass ""
client-output-buffer-limit pubsub 32mb 8mb 60
loglevel notice
lua-replicate-commands yes
"""


def make_conf(tmp_path) -> Config:
    inc = tmp_path / "inc.conf"
    inc.write_text("timeout 30\n")
    path = tmp_path / "redis.conf"
    path.write_text(ORIGINAL.format(inc=inc))
    config = Config()
    config.load_file(str(path))
    return config


def test_rewrite_keeps_the_layout_and_updates_in_place(tmp_path):
    config = make_conf(tmp_path)
    config.set_many([("maxmemory", "1gb"), ("hz", "20"), ("notify-keyspace-events", "Ex"), ("loglevel", "warning"),
                     ("slowlog-max-len", "129"), ("client-output-buffer-limit", "pubsub 64mb 16mb 90 replica 1kb 1000 5"),
                     ("hash-max-ziplist-entries", "128"), ("save", "100 5"), ("dbfilename", 'a"b\tc.rdb'),
                     ("maxmemory-policy", "allkeys-lfu"), ("lua-time-limit", "6000"), ("repl-backlog-size", "3000")],
                    protected_allowed=True)
    config.rewrite()
    text = (tmp_path / "redis.conf").read_text()
    assert text == f"""# top comment
# indented comment
daemonize no

maxmemory 1gb
save 100 5

include {tmp_path / "inc.conf"}
hash-max-listpack-entries 128
dbfilename "a\\"b\\tc.rdb"
slowlog-max-len 129

client-output-buffer-limit normal 0 0 0
loglevel warning
# ??? lua-replicate-commands yes

# Generated by CONFIG REWRITE
timeout 30
client-output-buffer-limit replica 1kb 1000 5
client-output-buffer-limit pubsub 64mb 16mb 90
hz 20
maxmemory-policy allkeys-lfu
busy-reply-threshold 6000
notify-keyspace-events "xE"
dir "{config['dir']}"
repl-backlog-size 16kb
"""


def test_rewritten_file_loads_back_to_the_same_values(tmp_path):
    config = make_conf(tmp_path)
    config.set_many([("maxmemory", "12345"), ("requirepass", "p\"w d\n"), ("save", ""), ("appendonly", "yes"),
                     ("client-output-buffer-limit", "normal 1 2 3"), ("notify-keyspace-events", "KEA"),
                     ("maxmemory-policy", "volatile-ttl"), ("lfu-decay-time", "0")])
    config.rewrite()
    again = Config()
    again.load_file(config.config_file)
    for name in config.names():
        assert again[name] == config[name], name
    # Rewriting again changes nothing but, as in Redis, the file's final
    # newline read back as one empty line.
    before = (tmp_path / "redis.conf").read_text()
    again.rewrite()
    assert (tmp_path / "redis.conf").read_text() == before + "\n"
    again.rewrite()
    assert (tmp_path / "redis.conf").read_text() == before + "\n"


def test_rewrite_with_nothing_changed_keeps_the_file(tmp_path):
    config = make_conf(tmp_path)
    config.rewrite()
    text = (tmp_path / "redis.conf").read_text()
    # Only values that differ from the defaults and are not in the file get
    # appended: the included timeout, and dir (always written).
    assert text.endswith(f'# Generated by CONFIG REWRITE\ntimeout 30\ndir "{config["dir"]}"\n')
    assert "maxmemory 100mb\nsave 60 1\nsave 300 10\nsave 900 1\n" in text
    assert 'requirepass ""' not in text  # an unset password is not written


def test_rewrite_into_a_new_file(tmp_path):
    config = Config()
    config.set_many([("maxmemory", "3mb"), ("save", "")])
    target = tmp_path / "new.conf"
    config.rewrite(str(target))
    assert target.read_text() == (
        f'# Generated by CONFIG REWRITE\nmaxmemory 3mb\nsave ""\ndir "{config["dir"]}"\n')
    again = Config()
    again.load_file(str(target))
    assert again["maxmemory"] == 3 * 2**20 and again["save"] == ()


def test_rewrite_comments_out_unknown_lines_and_keeps_the_signature_once(tmp_path):
    path = tmp_path / "r.conf"
    path.write_text("hz 5\n# Generated by CONFIG REWRITE\nmaxmemory 1mb\n")
    config = Config()
    config.load_file(str(path))
    path.write_text(path.read_text() + "future-option 1\n")
    config.set("timeout", "9")
    config.rewrite()
    # The old signature is reused; `save` is always written (without a save
    # line the defaults would come back), `dir` too.
    assert path.read_text() == (
        f'hz 5\n# Generated by CONFIG REWRITE\nmaxmemory 1mb\n# ??? future-option 1\n\ntimeout 9\n'
        f'save 3600 1\nsave 300 100\nsave 60 10000\ndir "{config["dir"]}"\n')


def test_rewrite_without_a_config_file(config):
    with pytest.raises(ConfigError) as info:
        config.rewrite()
    assert info.value.message == "ERR The server is running without a config file"


def test_rewrite_failure_is_reported_like_redis(tmp_path):
    config = Config()
    with pytest.raises(ConfigError) as info:
        config.rewrite(str(tmp_path / "no-such-dir" / "r.conf"))
    assert info.value.message == "ERR Rewriting config file: No such file or directory"


def test_rewrite_keeps_the_file_mode(tmp_path):
    config = make_conf(tmp_path)
    os.chmod(config.config_file, 0o600)
    config.rewrite()
    assert os.stat(config.config_file).st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("redis.conf.")] == []
