"""ACL users against a real node: rules, AUTH/HELLO, -NOPERM on the command,
key and channel checks (plain commands, MULTI/EXEC, scripts), ACL LOG,
DRYRUN, LOAD/SAVE with an aclfile, `user` lines, requirepass, CLIENT KILL
USER. Texts compared with redis-server 7.0.15."""

from __future__ import annotations

import hashlib
import socket

import pytest
import redis

from tests.nodes import spawn, start_node

NOPERM_KEY = "this user has no permissions to access one of the keys used as arguments"
NOPERM_CHANNEL = "this user has no permissions to access one of the channels used as arguments"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with start_node(tmp_path_factory.mktemp("acl")) as n:
        yield n


@pytest.fixture
def admin(node):
    r = node.client(decode_responses=True)
    yield r
    for name in r.acl_users():
        if name != "default":
            r.acl_deluser(name)
    r.acl_log_reset()
    r.close()


def raw(node, data: bytes, expect_lines: int) -> list[bytes]:
    with socket.create_connection((node.host, node.port), timeout=10) as s:
        s.sendall(data)
        buf = b""
        while buf.count(b"\r\n") < expect_lines:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return buf.split(b"\r\n")[:expect_lines]


def test_setuser_getuser_list(admin):
    assert admin.execute_command("ACL", "SETUSER", "alice", "on", ">pw1", "~k*", "%R~r*", "&ch*",
                                 "+get", "+set", "-@dangerous", "+config|get")
    line = [l for l in admin.acl_list() if l.startswith("user alice ")][0]
    hashed = hashlib.sha256(b"pw1").hexdigest()
    assert line == (f"user alice on #{hashed} ~k* %R~r* resetchannels &ch* "
                    "-@all +get +set +config|get")
    info = admin.execute_command("ACL", "GETUSER", "alice")
    assert info[:4] == ["flags", ["on"], "passwords", [hashed]]
    assert info[4:10] == ["commands", "-@all +get +set +config|get", "keys", "~k* %R~r*",
                          "channels", "&ch*"]
    assert "user default on nopass ~* &* +@all" in admin.acl_list()
    assert admin.execute_command("ACL", "GETUSER", "nosuch") is None
    assert admin.acl_users() == ["alice", "default"]


@pytest.mark.parametrize("rule, reason", [
    ("foo", "Syntax error"),
    ("+nosuch", "Unknown command or category name in ACL"),
    ("+@nosuch", "Unknown command or category name in ACL"),
    ("%X~a", "Syntax error"),
    ("#abc", "The password hash must be exactly 64 characters and contain only lowercase "
             "hexadecimal characters"),
])
def test_bad_rule_changes_nothing(admin, rule, reason):
    admin.execute_command("ACL", "SETUSER", "bob", "on", "nopass", "+get")
    before = admin.acl_list()
    with pytest.raises(redis.ResponseError) as err:
        admin.execute_command("ACL", "SETUSER", "bob", "+set", rule)
    assert str(err.value) == f"Error in ACL SETUSER modifier '{rule}': {reason}"
    assert admin.acl_list() == before


def test_auth_and_noperm(node, admin):
    admin.execute_command("ACL", "SETUSER", "u", "on", ">p", "~k*", "&c*", "+get", "+set",
                          "+publish", "+subscribe", "+psubscribe", "+multi", "+exec", "+eval")
    replies = raw(node, b"AUTH u p\r\nGET z\r\nGET k1\r\nDEL k1\r\nPUBLISH d m\r\n"
                        b"AUTH u wrong\r\nAUTH nouser p\r\n", 7)
    assert replies == [
        b"+OK",
        b"-NOPERM " + NOPERM_KEY.encode(),
        b"$-1",
        b"-NOPERM this user has no permissions to run the 'del' command",
        b"-NOPERM " + NOPERM_CHANNEL.encode(),
        b"-WRONGPASS invalid username-password pair or user is disabled.",
        b"-WRONGPASS invalid username-password pair or user is disabled.",
    ]
    log = admin.acl_log()
    assert [(e["reason"], e["object"], e["username"], e["context"]) for e in log] == [
        ("auth", "AUTH", "nouser", "toplevel"),
        ("auth", "AUTH", "u", "toplevel"),
        ("channel", "d", "u", "toplevel"),
        ("command", "del", "u", "toplevel"),
        ("key", "z", "u", "toplevel"),
    ]
    assert log[2]["client-info"]["user"] == "u"
    stats = admin.info("stats")
    assert [stats[f"acl_access_denied_{r}"] for r in ("auth", "cmd", "key", "channel")] == [2, 1, 1, 1]


def test_subcommand_rules_and_whoami(node, admin):
    admin.execute_command("ACL", "SETUSER", "c", "on", "nopass", "+config|get", "+acl|whoami")
    r = node.client(username="c", password="x", decode_responses=True)
    assert r.execute_command("ACL", "WHOAMI") == "c"
    assert r.config_get("maxmemory") == {"maxmemory": "0"}
    with pytest.raises(redis.ResponseError, match="no permissions to run the 'config|set' command"):
        r.config_set("maxmemory", "0")
    r.close()


def test_read_write_key_permissions(node, admin):
    admin.execute_command("ACL", "SETUSER", "rw", "on", "nopass", "+@all", "%R~r*", "%W~w*")
    r = node.client(username="rw", password="x")
    assert r.get("r1") is None
    with pytest.raises(redis.ResponseError, match="no permissions"):
        r.set("r1", "v")
    assert r.set("w1", "v")
    with pytest.raises(redis.ResponseError, match="no permissions"):
        r.get("w1")
    with pytest.raises(redis.ResponseError, match="no permissions"):
        r.incr("w1")  # reads and writes
    r.close()


def test_multi_exec_and_rules_changed(node, admin):
    admin.execute_command("ACL", "SETUSER", "m", "on", "nopass", "~*", "+multi", "+exec",
                          "+get", "+set")
    r = node.client(username="m", password="x")
    pipe = r.pipeline()
    pipe.set("a", "1").get("a")
    assert pipe.execute() == [True, b"1"]
    with pytest.raises(redis.ResponseError):  # queued DEL refused: EXECABORT
        pipe = r.pipeline()
        pipe.set("a", "1").delete("a")
        pipe.execute()
    # Rules changed between MULTI and EXEC: the command answers NOPERM.
    conn = r.connection_pool.get_connection()
    conn.send_command("MULTI")
    assert conn.read_response() == b"OK"
    conn.send_command("GET", "a")
    assert conn.read_response() == b"QUEUED"
    admin.execute_command("ACL", "SETUSER", "m", "-get")
    conn.send_command("EXEC")
    result = conn.read_response()
    assert isinstance(result[0], redis.ResponseError)
    assert str(result[0]) == ("ACLs rules changed between the moment the transaction was "
                              "accumulated and its execution")
    r.connection_pool.release(conn)
    r.close()


def test_scripts_run_with_the_callers_permissions(node, admin):
    admin.execute_command("ACL", "SETUSER", "s", "on", "nopass", "~k*", "+eval", "+get")
    r = node.client(username="s", password="x")
    assert r.eval("return redis.call('get', KEYS[1])", 1, "k1") is None
    with pytest.raises(redis.ResponseError, match="can't access at least one of the keys"):
        r.eval("return redis.call('get', 'z')", 0)
    with pytest.raises(redis.ResponseError, match="can't run this command or subcommand"):
        r.eval("return redis.call('set', 'k1', 'v')", 0)
    assert admin.acl_log()[0]["context"] == "lua"
    r.close()


def test_channel_permissions(node, admin):
    admin.execute_command("ACL", "SETUSER", "p", "on", "nopass", "&news.*", "+@pubsub")
    r = node.client(username="p", password="x")
    assert r.publish("news.1", "m") == 0
    with pytest.raises(redis.ResponseError, match="channels"):
        r.publish("other", "m")
    replies = raw(node, b"AUTH p x\r\nPSUBSCRIBE news.*\r\nPSUBSCRIBE news.1\r\n", 8)
    assert replies[1:7] == [b"*3", b"$10", b"psubscribe", b"$6", b"news.*", b":1"]
    assert replies[7] == b"-NOPERM " + NOPERM_CHANNEL.encode()
    r.close()


def test_dryrun_cat_genpass(admin):
    admin.execute_command("ACL", "SETUSER", "d", "on", "nopass", "~k*", "&c*", "+get",
                          "+publish")
    assert admin.execute_command("ACL", "DRYRUN", "d", "get", "k1") == "OK"
    assert admin.execute_command("ACL", "DRYRUN", "d", "get", "z") == \
        "This user has no permissions to access the 'z' key"
    assert admin.execute_command("ACL", "DRYRUN", "d", "del", "k1") == \
        "This user has no permissions to run the 'del' command"
    assert admin.execute_command("ACL", "DRYRUN", "d", "publish", "x", "m") == \
        "This user has no permissions to access the 'x' channel"
    with pytest.raises(redis.ResponseError, match="^User 'nosuch' not found$"):
        admin.execute_command("ACL", "DRYRUN", "nosuch", "get", "a")
    with pytest.raises(redis.ResponseError, match="^Command 'nosuchcmd' not found$"):
        admin.execute_command("ACL", "DRYRUN", "d", "nosuchcmd")
    assert admin.acl_cat()[:3] == ["keyspace", "read", "write"]
    assert "get" in admin.acl_cat("read")
    with pytest.raises(redis.ResponseError, match="^Unknown category 'nosuch'$"):
        admin.acl_cat("nosuch")
    assert len(admin.acl_genpass()) == 64
    assert len(admin.acl_genpass(32)) == 8
    with pytest.raises(redis.ResponseError, match="positive number up to 4096"):
        admin.acl_genpass(0)
    with pytest.raises(redis.ResponseError, match="^The 'default' user cannot be removed$"):
        admin.acl_deluser("default")


def _authenticated_socket(node, user: bytes) -> socket.socket:
    s = socket.create_connection((node.host, node.port), timeout=10)
    s.sendall(b"AUTH %b x\r\n" % user)
    assert s.recv(100) == b"+OK\r\n"
    return s


def test_deluser_and_client_kill_user_disconnect(node, admin):
    admin.execute_command("ACL", "SETUSER", "k", "on", "nopass", "+@all", "~*", "&*")
    with _authenticated_socket(node, b"k") as s1, _authenticated_socket(node, b"k") as s2:
        assert admin.client_kill_filter(user="k") == 2
        assert s1.recv(100) == b"" and s2.recv(100) == b""
    with _authenticated_socket(node, b"k") as s3:
        assert admin.acl_deluser("k") == 1
        assert s3.recv(100) == b""
    with pytest.raises(redis.ResponseError, match="No such user 'k'"):
        admin.client_kill_filter(user="k")


def test_no_acl_file(admin):
    for sub in ("LOAD", "SAVE"):
        with pytest.raises(redis.ResponseError, match="not configured to use an ACL file"):
            admin.execute_command("ACL", sub)


def test_requirepass_is_the_default_users_password(tmp_path):
    with start_node(tmp_path, "--requirepass", "s3cret") as n:
        r = n.client()
        with pytest.raises(redis.AuthenticationError):
            r.ping()
        r = n.client(password="s3cret", decode_responses=True)
        assert r.ping()
        hashed = hashlib.sha256(b"s3cret").hexdigest()
        assert f"user default on #{hashed} ~* &* +@all" in r.acl_list()
        r.config_set("requirepass", "")
        assert n.client().ping()


def test_aclfile_load_save_and_bad_line(tmp_path):
    aclfile = tmp_path / "users.acl"
    aclfile.write_text("user default on nopass ~* &* +@all\nuser a on >pa ~a* +get\n")
    with start_node(tmp_path, "--aclfile", str(aclfile)) as n:
        r = n.client(decode_responses=True)
        assert r.acl_users() == ["a", "default"]
        a = n.client(username="a", password="pa")
        assert a.get("a1") is None
        r.execute_command("ACL", "SETUSER", "b", "on", "nopass", "+ping")
        assert r.execute_command("ACL", "SAVE") == "OK"
        assert "user b on nopass resetchannels -@all +ping" in aclfile.read_text()
        # A bad line: ACL LOAD refuses and the users stay.
        aclfile.write_text("user default on nopass ~* &* +@all\nuser c on +nosuch\n")
        with pytest.raises(redis.ResponseError) as err:
            r.execute_command("ACL", "LOAD")
        assert str(err.value) == (f"{aclfile}:2: Error in applying operation '+nosuch': "
                                  "Unknown command or category name in ACL")
        assert r.acl_users() == ["a", "b", "default"]
        assert a.get("a1") is None
        aclfile.write_text("user default on nopass ~* &* +@all\nuser c on nopass +ping\n")
        assert r.execute_command("ACL", "LOAD") == "OK"
        assert r.acl_users() == ["c", "default"]
        with pytest.raises(redis.ConnectionError):  # user a went: its clients too
            a.get("a1")
    # At start-up a bad aclfile stops the node, naming the file and line.
    aclfile.write_text("user x on nopass\nuser y foo\n")
    proc, log = spawn(["--port", "0", "--aclfile", str(aclfile)], tmp_path)
    assert proc.wait(timeout=30) == 1
    assert f"{aclfile}:2: Error in applying operation 'foo': Syntax error" in log.read_text()


def test_user_lines_in_config_file(tmp_path):
    conf = tmp_path / "node.conf"
    conf.write_text("user default on nopass ~* &* +@all\nuser ro on >p ~* +@read\n")
    with start_node(tmp_path, "--include", str(conf)) as n:
        ro = n.client(username="ro", password="p")
        assert ro.get("x") is None
        with pytest.raises(redis.ResponseError, match="'set' command"):
            ro.set("x", "1")


def test_hello_auth(node, admin):
    admin.execute_command("ACL", "SETUSER", "h", "on", ">hp", "+@all", "~*")
    replies = raw(node, b"HELLO 2 AUTH h wrong\r\nHELLO 2 AUTH h hp\r\n", 1)
    assert replies[0] == b"-WRONGPASS invalid username-password pair or user is disabled."


def test_user_restricted_on_channels_only(node, admin):
    # `~* +@all` under acl-pubsub-default resetchannels: only the commands
    # that name channels are checked (the others keep the fast path).
    admin.execute_command("ACL", "SETUSER", "app", "on", "nopass", "~*", "+@all", "&ok")
    r = node.client(username="app", password="x")
    assert r.set("a", "1") and r.get("a") == b"1"
    assert r.publish("ok", "m") == 0
    with pytest.raises(redis.ResponseError, match="channels"):
        r.publish("other", "m")
    with pytest.raises(redis.ResponseError, match="channels"):
        r.execute_command("PUBLISH", "other", "m")  # upper case: the other table entry
    # The default user is not restricted by it.
    assert admin.publish("other", "m") == 0
    r.close()


def test_subscriber_losing_its_channel_is_disconnected(node, admin):
    admin.execute_command("ACL", "SETUSER", "sub", "on", "nopass", "+@all", "~*", "&news", "&misc")
    with socket.create_connection((node.host, node.port), timeout=10) as s:
        s.sendall(b"AUTH sub x\r\nSUBSCRIBE news\r\n")
        buf = b""
        while b":1\r\n" not in buf:
            buf += s.recv(1000)
        admin.execute_command("ACL", "SETUSER", "sub", "resetchannels", "&misc")
        assert s.recv(1000) == b""



def test_config_rewrite_writes_the_users(tmp_path):
    conf = tmp_path / "node.conf"
    conf.write_text("# users\nuser default on nopass ~* &* +@all\nuser old on >p ~* +@read\n")
    with start_node(tmp_path, "--config", str(conf)) as n:
        r = n.client(decode_responses=True)
        r.execute_command("ACL", "DELUSER", "old")
        r.execute_command("ACL", "SETUSER", "new", "on", "nopass", "+ping")
        assert r.config_rewrite()
    text = conf.read_text()
    assert "user old" not in text and "??? user" not in text
    assert "user default on nopass ~* &* +@all" in text
    assert "user new on nopass resetchannels -@all +ping" in text
    with start_node(tmp_path, "--config", str(conf)) as n:  # and it loads again
        assert n.client(decode_responses=True).acl_users() == ["default", "new"]


def test_selectors(node, admin):
    admin.execute_command("ACL", "SETUSER", "sel", "on", "nopass", "~sa", "+get", "(~sb +set)")
    assert admin.execute_command("ACL", "GETUSER", "sel")[-1] == [
        ["commands", "-@all +set", "keys", "~sb", "channels", ""]]
    assert [l for l in admin.acl_list() if l.startswith("user sel ")] == [
        "user sel on nopass ~sa resetchannels -@all +get (~sb resetchannels -@all +set)"]
    r = node.client(username="sel", password="x")
    assert r.get("sa") is None and r.set("sb", "1")
    with pytest.raises(redis.ResponseError, match="keys"):
        r.get("sb")
    with pytest.raises(redis.ResponseError, match="keys"):  # root allows no SET, (~b) not key a
        r.set("sa", "1")
    r.close()


def _wait_for(predicate, timeout: float = 20.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_replica_authenticates_with_masteruser(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "r").mkdir()
    (tmp_path / "bad").mkdir()
    with start_node(tmp_path / "p", "--requirepass", "adminpw",
                    "--user", "repl", "on", ">replpw", "+psync", "+replconf", "+ping") as primary:
        admin = primary.client(password="adminpw")
        admin.set("k", "v")
        with start_node(tmp_path / "r", "--masteruser", "repl", "--masterauth", "replpw",
                        "--replicaof", "127.0.0.1", str(primary.port)) as replica:
            assert _wait_for(lambda: replica.client().get("k") == b"v")
            assert [c["user"] for c in admin.client_list() if "S" in c["flags"]] == ["repl"]
        with start_node(tmp_path / "bad", "--masteruser", "repl", "--masterauth", "wrong",
                        "--replicaof", "127.0.0.1", str(primary.port)) as replica:
            assert _wait_for(lambda: "Unable to AUTH to MASTER: WRONGPASS" in replica.log())
            assert replica.client().get("k") is None
        assert any(e["reason"] == "auth" and e["username"] == "repl"
                   for e in admin.acl_log())


def test_bad_user_line_in_config_file_stops_the_start(tmp_path):
    conf = tmp_path / "node.conf"
    conf.write_text("# users\nuser default on nopass ~* &* +@all\n\nuser bad on +@nosuch\n")
    proc, log = spawn(["--config", str(conf), "--port", "0"], tmp_path)
    assert proc.wait(timeout=30) == 1
    assert (f"{conf}:4: Error in applying operation '+@nosuch': Unknown command or category "
            "name in ACL") in log.read_text()
