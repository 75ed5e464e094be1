"""Package boundaries: persistence/ depends on storage/ and protocol/ only
(it talks to the node through persistence.host.PersistenceHost), and
storage/ depends on nothing above it. Every import counts, including the
ones inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ringcache"

ALLOWED = {
    "persistence": {"ringcache", "ringcache.persistence", "ringcache.storage", "ringcache.protocol"},
    "storage": {"ringcache.storage"},
}


def imported_modules(path: Path, package: str) -> set[str]:
    """Every ringcache module imported by path (relative imports resolved)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name.startswith("ringcache"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("ringcache"):
                out.add(name)
    return out


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_what_it_may(layer):
    bad = {}
    for path in sorted((PACKAGE / layer).glob("*.py")):
        for name in imported_modules(path, f"ringcache.{layer}"):
            if not any(name == allowed or name.startswith(allowed + ".")
                       for allowed in ALLOWED[layer] if allowed != "ringcache") and name != "ringcache":
                bad.setdefault(path.name, []).append(name)
    assert not bad


def test_the_check_sees_relative_imports():
    source = PACKAGE / "persistence" / "manager.py"
    assert "ringcache.persistence.aof" in imported_modules(source, "ringcache.persistence")
