"""TLS against a real node: redis-py ssl=True and redis-cli --tls on the TLS
port beside the plain one, client certificates (required, optional,
untrusted, expired), bad input on the TLS port (plain text, garbage, a
silent client: closed with a logged reason, nobody else stalls), certificate
reload with CONFIG SET, start-up errors, and a replica following its primary
over TLS. The certificates are a throwaway CA made with openssl."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.nodes import spawn, start_node
from tests.tlscerts import make_ca, make_cert


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    make_ca(d, "ca")
    make_ca(d, "otherca")
    make_cert(d, "server", "ca")
    make_cert(d, "server2", "ca")
    make_cert(d, "client", "ca")
    make_cert(d, "stranger", "otherca")
    make_cert(d, "expired", "ca", days=-1)
    return d


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tls_args(certs: Path, port: int, auth: str = "yes") -> list[str]:
    return ["--tls-port", str(port), "--tls-cert-file", str(certs / "server.crt"),
            "--tls-key-file", str(certs / "server.key"), "--tls-ca-cert-file", str(certs / "ca.crt"),
            "--tls-auth-clients", auth, "--tls-handshake-timeout", "500"]


def tls_client(port: int, certs: Path, cert: str | None = "client") -> redis.Redis:
    return redis.Redis(port=port, ssl=True, ssl_ca_certs=str(certs / "ca.crt"),
                       ssl_certfile=str(certs / f"{cert}.crt") if cert else None,
                       ssl_keyfile=str(certs / f"{cert}.key") if cert else None,
                       ssl_check_hostname=False, protocol=2, socket_timeout=10)


def raw_tls(port: int, certs: Path, cert: str | None = "client") -> ssl.SSLSocket:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(certs / "ca.crt")
    if cert:
        context.load_cert_chain(certs / f"{cert}.crt", certs / f"{cert}.key")
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context.wrap_socket(sock)


@pytest.fixture(scope="module")
def node(tmp_path_factory, certs):
    port = free_port()
    with start_node(tmp_path_factory.mktemp("tls"), *tls_args(certs, port)) as n:
        n.tls_port = port
        yield n


def closed_by_server(sock: socket.socket) -> bool:
    """True once the node closed the connection (recv gets EOF or a reset)."""
    try:
        return sock.recv(100) == b""
    except (ConnectionResetError, ssl.SSLError):
        return True


def test_redis_py_over_tls_beside_the_plain_port(node, certs):
    r = tls_client(node.tls_port, certs)
    assert r.set("k", "v")
    assert r.get("k") == b"v"
    assert node.client().get("k") == b"v"
    # A pipeline big enough for several TLS records each way.
    pipe = r.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"p{i}", "x" * 100)
        pipe.get(f"p{i}")
    assert pipe.execute()[-1] == b"x" * 100
    assert r.get("big") is None and r.set("big", "y" * 300_000) and r.get("big") == b"y" * 300_000
    r.close()


def test_redis_cli_tls(node, certs):
    out = subprocess.run(["redis-cli", "-p", str(node.tls_port), "--tls", "--cacert",
                          str(certs / "ca.crt"), "--cert", str(certs / "client.crt"), "--key",
                          str(certs / "client.key"), "PING"],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "PONG", out.stderr


@pytest.mark.parametrize("payload", [b"PING\r\n", b"\x00\xff" * 200])
def test_plain_text_or_garbage_on_the_tls_port_is_closed_and_logged(node, certs, payload):
    good = tls_client(node.tls_port, certs)
    assert good.ping()
    with socket.create_connection(("127.0.0.1", node.tls_port), timeout=10) as s:
        s.sendall(payload)
        assert closed_by_server(s)
    assert good.ping() and node.client().ping()
    assert "TLS handshake failed" in node.log()
    good.close()


@pytest.mark.parametrize("cert", ["stranger", "expired", None])
def test_bad_client_certificates_are_refused(node, certs, cert):
    before = node.log().count("TLS handshake failed")
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError)):
        with raw_tls(node.tls_port, certs, cert) as s:
            # TLS 1.3: the client learns of the refusal on its first read.
            s.sendall(b"PING\r\n")
            if s.recv(100) == b"":
                raise ConnectionResetError("closed")
    deadline = time.monotonic() + 10
    while node.log().count("TLS handshake failed") == before and time.monotonic() < deadline:
        time.sleep(0.05)
    log = node.log()
    assert log.count("TLS handshake failed") > before
    if cert == "expired":
        assert "certificate has expired" in log or "CERTIFICATE_VERIFY_FAILED" in log


def test_a_silent_client_cannot_stall_the_node(node, certs):
    silent = socket.create_connection(("127.0.0.1", node.tls_port), timeout=10)
    half = socket.create_connection(("127.0.0.1", node.tls_port), timeout=10)
    half.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, then nothing
    start = time.monotonic()
    assert tls_client(node.tls_port, certs).ping()  # others are served meanwhile
    assert closed_by_server(silent) and closed_by_server(half)  # tls-handshake-timeout 500 ms
    assert time.monotonic() - start < 9
    assert "handshake timed out" in node.log()
    silent.close()
    half.close()


def test_optional_client_certificate(tmp_path, certs):
    port = free_port()
    with start_node(tmp_path, *tls_args(certs, port, auth="optional")):
        assert tls_client(port, certs, cert=None).ping()
        assert tls_client(port, certs).ping()


def test_certificate_reload_with_config_set(node, certs):
    old = raw_tls(node.tls_port, certs)
    assert old.getpeercert()["subject"] == ((("commonName", "server"),),)
    admin = node.client()
    with pytest.raises(redis.ResponseError, match="tls-cert-file"):
        admin.config_set("tls-cert-file", str(certs / "nosuch.crt"))
    assert admin.config_get("tls-cert-file")["tls-cert-file"] == str(certs / "server.crt")
    admin.execute_command("CONFIG", "SET", "tls-cert-file", str(certs / "server2.crt"),
                          "tls-key-file", str(certs / "server2.key"))
    try:
        new = raw_tls(node.tls_port, certs)
        assert new.getpeercert()["subject"] == ((("commonName", "server2"),),)
        new.sendall(b"PING\r\n")
        assert new.recv(100) == b"+PONG\r\n"
        old.sendall(b"PING\r\n")  # the old connection goes on with the old certificate
        assert old.recv(100) == b"+PONG\r\n"
        new.close()
    finally:
        admin.execute_command("CONFIG", "SET", "tls-cert-file", str(certs / "server.crt"),
                              "tls-key-file", str(certs / "server.key"))
        old.close()


@pytest.mark.parametrize("missing", ["tls-cert-file", "tls-key-file", "tls-ca-cert-file"])
def test_missing_certificate_file_stops_the_start(tmp_path, certs, missing):
    args = tls_args(certs, free_port())
    args[args.index(f"--{missing}") + 1] = str(tmp_path / "absent.pem")
    proc, log = spawn(["--port", "0", *args], tmp_path)
    assert proc.wait(timeout=30) == 1
    text = log.read_text()
    assert str(tmp_path / "absent.pem") in text and missing in text


def test_replica_follows_its_primary_over_tls_with_acl_auth(tmp_path, certs):
    primary_tls = free_port()
    (tmp_path / "p").mkdir()
    (tmp_path / "r").mkdir()
    with start_node(tmp_path / "p", *tls_args(certs, primary_tls), "--requirepass", "adminpw",
                    "--user", "repl on >replpw +psync +replconf +ping") as primary:
        admin = primary.client(password="adminpw")
        admin.set("before", "1")
        with start_node(tmp_path / "r", *tls_args(certs, free_port()), "--tls-replication", "yes",
                        "--masteruser", "repl", "--masterauth", "replpw",
                        "--replicaof", "127.0.0.1", str(primary_tls)) as replica:
            r = replica.client()
            deadline = time.monotonic() + 20
            while r.get("after") is None and time.monotonic() < deadline:
                admin.set("after", "2")
                time.sleep(0.1)
            assert r.get("before") == b"1" and r.get("after") == b"2"
            assert "TLS connection to MASTER established" in replica.log()
            links = [c for c in admin.client_list() if "S" in c["flags"]]
            assert [c["user"] for c in links] == ["repl"]


def test_tls_protocols(tmp_path, certs):
    port = free_port()
    with start_node(tmp_path, *tls_args(certs, port, auth="no"), "--tls-protocols", "TLSv1.2") as n:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(certs / "ca.crt")
        with context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10)) as s:
            assert s.version() == "TLSv1.2"
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        with pytest.raises(ssl.SSLError):
            context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
        with pytest.raises(redis.ResponseError, match="Invalid tls-protocols"):
            n.client().config_set("tls-protocols", "SSLv2")
        assert n.client().ping()


def test_tls_ciphersuites_other_than_openssls_are_refused(node, certs, tmp_path):
    # Python's ssl cannot set TLS 1.3 suites: a value is refused, not ignored...
    r = node.client()
    with pytest.raises(redis.ResponseError, match="tls-ciphersuites cannot be applied"):
        r.config_set("tls-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256")
    assert r.config_get("tls-ciphersuites") == {"tls-ciphersuites": ""}
    # ... unless it is what OpenSSL uses already (e.g. set with OPENSSL_CONF).
    in_effect = ":".join(c["name"] for c in ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).get_ciphers()
                         if c["protocol"] == "TLSv1.3")
    assert r.config_set("tls-ciphersuites", in_effect)
    r.config_set("tls-ciphersuites", "")
    proc, log = spawn(["--port", "0", *tls_args(certs, free_port()),
                       "--tls-ciphersuites", "TLS_AES_128_CCM_SHA256"], tmp_path)
    assert proc.wait(timeout=30) == 1
    assert "tls-ciphersuites cannot be applied" in log.read_text()


def test_tls_cluster_without_a_tls_port_stops_the_start(tmp_path):
    proc, log = spawn(["--port", "0", "--cluster-enabled", "yes", "--tls-cluster", "yes"], tmp_path)
    assert proc.wait(timeout=30) == 1
    assert "tls-cluster yes needs a tls-port" in log.read_text()
