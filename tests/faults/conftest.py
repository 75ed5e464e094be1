"""The fault tests share tests/cluster/local.py (free ports for a cluster)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cluster"))
