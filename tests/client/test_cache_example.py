"""The runnable example in examples/ (quoted by docs/client.md) runs cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import require_commands
from test_write_behind import NEEDED as WRITE_BEHIND_COMMANDS

ROOT = Path(__file__).resolve().parents[2]


def test_example_script_runs(url: str) -> None:
    require_commands(url, *WRITE_BEHIND_COMMANDS)  # the example's write-behind part
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "client_patterns.py"), url],
                            capture_output=True, text=True, timeout=60, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "50 concurrent readers, loader calls: 1" in out
    assert "after bump: MISS" in out
    assert "near cache after another client's write: off" in out
    assert "write-behind, cache now: 8 | pending keys: 3" in out
    assert "write-behind, database after flush: {'apple': 8, 'pear': 3}" in out
    assert "dead letters: [('broken', -1)]" in out
    assert "hot keys replicated: {'home': 4} copy reads: True" in out
    assert "async write-behind, after close: 5" in out
