"""How a node reaches the other nodes of its cluster: which address, over
TLS or not, and as whom.

Links (migration, forwarded PUBLISH, the control plane through a seed,
manual failover, the probe of a copied node id, a replica's link to its
primary):

* **Credentials**: as `masteruser` with `masterauth`, the credentials its
  replication link uses (an ACL user, or the default user when masteruser
  is empty), falling back to its own `requirepass` when no masterauth is
  set (a cluster whose nodes share one password).
* **TLS** (`tls-cluster yes`, as Redis's cluster bus): every node-to-node
  link is TLS to the peer's announced TLS port (`Member.tls_port`, from its
  `tls-port` or `cluster-announce-tls-port`), with this node's certificate
  (the peer may require one: tls-auth-clients) and the CA to verify the
  peer; no host name check (Redis checks none either). A peer that
  announced no TLS port cannot be reached: the link fails rather than fall
  back to plain TCP. The replica link to a primary follows
  `tls-replication` instead, as in Redis.

The client context is built from the tls-* settings once and again when
one changes (a certificate reloaded by CONFIG SET is used by new links).
Pure apart from building that context: no sockets here, the callers
connect (asyncio.open_connection(ssl=...) or redis-py's ssl options).
"""

from __future__ import annotations

import ssl
from typing import Any

_contexts: dict[int, tuple[tuple, ssl.SSLContext]] = {}  # id(config) -> (settings, context)


def credentials(config: Any) -> tuple[str | None, str | None]:
    """(username, password) for redis-py; (None, None) without a password."""
    password = config["masterauth"] or config["requirepass"] or None
    if password is None:
        return None, None
    return (config["masteruser"] or None), password


def auth_argv(config: Any) -> list[bytes] | None:
    """The AUTH command for a raw link, or None when no password is set."""
    username, password = credentials(config)
    if password is None:
        return None
    if username:
        return [b"AUTH", username.encode(), password.encode()]
    return [b"AUTH", password.encode()]


def uses_tls(config: Any) -> bool:
    return bool(config["tls-cluster"])


class NoTLSPortError(OSError):
    """tls-cluster is on and the peer announced no TLS port."""


def port_of(config: Any, member: Any) -> int:
    """The port a node-to-node link to member goes to."""
    if not uses_tls(config):
        return int(member.port)
    if not member.tls_port:
        raise NoTLSPortError(f"tls-cluster is on and node {member.id} at {member.host}:"
                             f"{member.port} announces no TLS port")
    return int(member.tls_port)


def replication_port(config: Any, member: Any) -> int:
    """A replica's link to its primary: the TLS port with tls-replication."""
    if config["tls-replication"] and member.tls_port:
        return int(member.tls_port)
    return int(member.port)


def announced_tls_port(config: Any) -> int:
    """The TLS port this node puts in the map: only with tls-cluster on."""
    if not uses_tls(config):
        return 0
    return int(config["cluster-announce-tls-port"] or config["tls-port"] or 0)


def ssl_context(config: Any) -> ssl.SSLContext | None:
    """The client context for links (None without tls-cluster)."""
    if not uses_tls(config):
        return None
    from ..server import tls

    settings = tuple(config[name] for name in tls.SETTINGS)
    cached = _contexts.get(id(config))
    if cached is None or cached[0] != settings:
        cached = _contexts[id(config)] = (settings, tls.client_context(config))
    return cached[1]


def redis_kwargs(config: Any) -> dict[str, Any]:
    """redis-py connection options for a link: credentials, and TLS with the
    node's certificate when tls-cluster is on."""
    username, password = credentials(config)
    kwargs: dict[str, Any] = {"username": username, "password": password}
    if uses_tls(config):
        kwargs.update(ssl=True, ssl_check_hostname=False,
                      ssl_certfile=config["tls-cert-file"] or None,
                      ssl_keyfile=config["tls-key-file"] or None,
                      ssl_password=config["tls-key-file-pass"] or None,
                      ssl_ca_certs=config["tls-ca-cert-file"] or None,
                      ssl_ca_path=config["tls-ca-cert-dir"] or None,
                      ssl_cert_reqs="required" if (config["tls-ca-cert-file"]
                                                   or config["tls-ca-cert-dir"]) else "none")
    return kwargs
