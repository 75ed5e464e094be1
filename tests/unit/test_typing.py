"""The whole package passes mypy with every function annotated ([tool.mypy]
in pyproject.toml): issue 7 asked it of the client, issue 12 of the node,
whose command handlers see a typed Session, Server and Keyspace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_package_passes_mypy() -> None:
    pytest.importorskip("mypy", reason="mypy is in the test extra: pip install -e '.[test]'")
    result = subprocess.run([sys.executable, "-m", "mypy", "ringcache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
