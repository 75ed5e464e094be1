"""The control plane: where the cluster map lives (see base.py)."""

from .base import ConflictError, ControlPlane, Heartbeat, UnavailableError
from .local import LocalControlPlane

# raft.RaftControlPlane is imported from its module: it starts PySyncObj's
# machinery, which a single node never needs.
__all__ = ["ConflictError", "ControlPlane", "Heartbeat", "LocalControlPlane", "UnavailableError"]
