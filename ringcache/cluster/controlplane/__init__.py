"""The control plane: where the cluster map lives (see base.py)."""

from .base import ConflictError, ControlPlane, Heartbeat
from .local import LocalControlPlane

__all__ = ["ConflictError", "ControlPlane", "Heartbeat", "LocalControlPlane"]
