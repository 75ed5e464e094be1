"""The runnable example in examples/ (quoted by docs/client.md) runs cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_example_script_runs(url: str) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "client_patterns.py"), url],
                            capture_output=True, text=True, timeout=60, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "50 concurrent readers, loader calls: 1" in out
    assert "after bump: MISS" in out
    assert "near cache after another client's write: off" in out
