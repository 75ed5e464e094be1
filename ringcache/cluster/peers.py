"""How a node authenticates to the other nodes of its cluster (migration
links, forwarded PUBLISH, the control plane through a seed, manual
failover): as `masteruser` with `masterauth`, the credentials its
replication link uses (an ACL user, or the default user when masteruser is
empty), falling back to its own `requirepass` when no masterauth is set (a
cluster whose nodes share one password). Pure: no I/O."""

from __future__ import annotations

from typing import Any


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
