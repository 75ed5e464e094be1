"""TLS: the contexts built from the tls-* settings, and the TLS connection.

Theory of operation
-------------------
The node's connections work on raw non-blocking sockets with the loop's
add_reader (server/connection.py), so TLS does too: the accepted socket is
wrapped by the standard library's `ssl` (an SSLSocket, non-blocking, with
`do_handshake_on_connect=False`), and

* the handshake runs step by step on readiness (`SSLWantReadError` /
  `SSLWantWriteError` say what it waits for), never blocking the loop; a
  client that has not finished it within `tls-handshake-timeout` ms is
  closed, so a slow or silent client holds one descriptor for a bounded
  time and stalls nobody;
* a handshake that fails (plain text or garbage on the TLS port, an
  untrusted or expired client certificate, no common protocol) closes the
  connection with a log line giving the reason OpenSSL gave;
* once the handshake is done the connection is a plain Connection whose
  socket happens to be an SSLSocket: recv/send behave the same, except that
  recv returns one TLS record at most, so what OpenSSL has decrypted but
  not handed out yet (`pending()`) is read before going back to the loop.

The server context is built once from the settings and again on each
CONFIG SET of a tls-* setting (a bad file refuses the SET and keeps the old
context); only connections accepted afterwards use the new one. At
start-up a missing or unreadable file is a ConfigError naming it, and the
node exits.

The replica side of tls-replication uses `client_context()` around its
connection to the primary (replication/replica.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from typing import TYPE_CHECKING

from ..config import Config, ConfigError
from .connection import Connection

if TYPE_CHECKING:
    from .server import Server

log = logging.getLogger("ringcache")

SETTINGS = ("tls-cert-file", "tls-key-file", "tls-key-file-pass", "tls-ca-cert-file",
            "tls-ca-cert-dir", "tls-auth-clients", "tls-protocols", "tls-ciphers",
            "tls-prefer-server-ciphers", "tls-cluster")
_VERSIONS = {"tlsv1": ssl.TLSVersion.TLSv1, "tlsv1.1": ssl.TLSVersion.TLSv1_1,
             "tlsv1.2": ssl.TLSVersion.TLSv1_2, "tlsv1.3": ssl.TLSVersion.TLSv1_3}


def _readable(config: Config, name: str) -> str:
    path = config[name]
    if not os.access(path, os.R_OK):
        reason = "No such file or directory" if not os.path.exists(path) else "Permission denied"
        raise ConfigError(f"Failed to load {name} '{path}': {reason}")
    return path


def _configure(context: ssl.SSLContext, config: Config) -> None:
    """What server and client contexts share: certificate, CA, protocols,
    ciphers (Redis's tlsConfigure)."""
    if config["tls-cert-file"] or config["tls-key-file"]:
        cert = _readable(config, "tls-cert-file")
        key = _readable(config, "tls-key-file")
        try:
            context.load_cert_chain(cert, key, password=config["tls-key-file-pass"] or None)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"Failed to load certificate: {cert} / private key: {key}: {exc}") \
                from None
    if config["tls-ca-cert-file"] or config["tls-ca-cert-dir"]:
        try:
            context.load_verify_locations(
                cafile=_readable(config, "tls-ca-cert-file") if config["tls-ca-cert-file"] else None,
                capath=config["tls-ca-cert-dir"] or None)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"Failed to configure CA certificate(s) file/directory: {exc}") \
                from None
    protocols = config["tls-protocols"].lower().split()
    if protocols:
        unknown = [p for p in protocols if p not in _VERSIONS]
        if unknown:
            raise ConfigError(f"Invalid tls-protocols specified. Use a combination of 'TLSv1', "
                              f"'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'.")
        versions = sorted(_VERSIONS[p] for p in protocols)
        context.minimum_version, context.maximum_version = versions[0], versions[-1]
    if config["tls-ciphers"]:
        try:
            context.set_ciphers(config["tls-ciphers"])
        except ssl.SSLError:
            raise ConfigError(f"Failed to configure ciphers: {config['tls-ciphers']}") from None
    if config["tls-prefer-server-ciphers"]:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE


def server_context(config: Config) -> ssl.SSLContext:
    """The context of the TLS port; ConfigError with the reason."""
    if not config["tls-cert-file"] or not config["tls-key-file"]:
        raise ConfigError("tls-cert-file and tls-key-file must be set with tls-port")
    needs_ca = config["tls-auth-clients"] != "no" or config["tls-replication"] or config["tls-cluster"]
    if needs_ca and not (config["tls-ca-cert-file"] or config["tls-ca-cert-dir"]):
        raise ConfigError("Either tls-ca-cert-file or tls-ca-cert-dir must be specified when "
                          "tls-cluster, tls-replication or tls-auth-clients are enabled!")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _configure(context, config)
    auth = config["tls-auth-clients"]
    if auth == "no" and config["tls-cluster"]:
        # Peers prove who they are with a certificate (Redis's cluster bus
        # always requires one); clients without one still connect.
        auth = "optional"
    context.verify_mode = {"yes": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL,
                           "no": ssl.CERT_NONE}[auth]
    return context


def client_context(config: Config) -> ssl.SSLContext:
    """A replica's context toward its primary: our certificate (a primary
    may require one), the CA to verify the primary; no host name check
    (Redis does not check one either)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    _configure(context, config)
    if not (config["tls-ca-cert-file"] or config["tls-ca-cert-dir"]):
        context.verify_mode = ssl.CERT_NONE
    return context


def watch_settings(server: "Server") -> None:
    """CONFIG SET of a tls-* setting: new connections use a new context; a
    context that cannot be built refuses the SET (the old one stays)."""

    def rebuild(_value: object) -> None:
        if server.tls_context is None:
            return  # no TLS port: nothing to reload
        server.tls_context = server_context(server.config)

    for name in SETTINGS:
        server.config.on_change(name, rebuild)


class TLSConnection(Connection):
    """A connection on the TLS port: the handshake first, then a Connection
    (see the module header)."""

    def __init__(self, server: "Server", sock: socket.socket, loop: asyncio.AbstractEventLoop,
                 context: ssl.SSLContext) -> None:
        tls = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        super().__init__(server, tls, loop)
        self.session.tls = True
        self.handshaking = True
        self._handshake_timer: asyncio.TimerHandle | None = None
        self._want_write = False

    def start(self) -> None:
        timeout = self.server.config["tls-handshake-timeout"] / 1000
        self._handshake_timer = self.loop.call_later(timeout, self._handshake_timed_out)
        self.server.tls_handshakes.add(self)
        self.loop.add_reader(self.fd, self._handshake)
        self._handshake()

    def _handshake(self) -> None:
        if self.closed:
            return
        tls = self.sock
        assert isinstance(tls, ssl.SSLSocket)
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            self._wait_writable(False)
            return
        except ssl.SSLWantWriteError:
            self._wait_writable(True)
            return
        except (ssl.SSLError, OSError) as exc:
            self._fail(str(exc) or type(exc).__name__)
            return
        self._end_handshake()
        # (a dict only for a certificate that was sent and verified)
        self.session.tls_peer_cert = bool(tls.getpeercert())
        super().start()  # protected mode, maxclients, then commands

    def _wait_writable(self, wanted: bool) -> None:
        if wanted != self._want_write:
            if wanted:
                self.loop.add_writer(self.fd, self._handshake)
            else:
                self.loop.remove_writer(self.fd)
            self._want_write = wanted

    def _end_handshake(self) -> None:
        self.handshaking = False
        self.server.tls_handshakes.discard(self)
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
        self._wait_writable(False)
        self.loop.remove_reader(self.fd)

    def _handshake_timed_out(self) -> None:
        self._handshake_timer = None
        if self.handshaking and not self.closed:
            self._fail("handshake timed out")

    def _fail(self, reason: str) -> None:
        log.warning("Error accepting a client connection: TLS handshake failed: %s "
                    "(addr=%s laddr=%s)", reason, self.session.addr, self.session.laddr)
        self._end_handshake()
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def on_readable(self) -> None:
        super().on_readable()
        tls = self.sock
        assert isinstance(tls, ssl.SSLSocket)
        # Decrypted bytes OpenSSL still holds wake no reader: take them now.
        while self.reading and not self.closed and tls.pending():
            super().on_readable()

    def _resume_reading(self) -> None:
        was_reading = self.reading
        super()._resume_reading()
        tls = self.sock
        assert isinstance(tls, ssl.SSLSocket)
        if not was_reading and self.reading and not self.handshaking and tls.pending():
            self.loop.call_soon(self.on_readable)  # decrypted while paused: no event will come

    def close_during_handshake(self) -> None:
        """Shutdown: a client still in its handshake just goes."""
        if self.handshaking and not self.closed:
            self._end_handshake()
            self.closed = True
            self.sock.close()
