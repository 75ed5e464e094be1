"""The client package passes ``mypy --strict`` against the installed redis-py,
and ``@cached`` keeps the decorated function's type (ParamSpec): a call with
the wrong argument types is a type error (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[2]

USER_CODE = '''
from ringcache.client import AsyncCache, Cache

cache = Cache("redis://127.0.0.1:6379/0")
acache = AsyncCache("redis://127.0.0.1:6379/0")

@cache.cached(ttl=60)
def price(sku: str, qty: int = 1) -> float:
    return 1.0 * qty

@acache.cached(ttl=60)
async def stock(sku: str) -> int:
    return 1

async def use() -> None:
    n: int = await stock("apple")

total: float = price("apple", qty=2)
key: str = price.key("apple")
reveal_type(price)
price(1)                 # ERROR: wrong argument type
wrong: str = price("a")  # ERROR: wrong result type
'''


def test_package_passes_mypy_strict(tmp_path: Path) -> None:
    out, err, status = api.run(["--strict", "--cache-dir", str(tmp_path / "cache"),
                                str(ROOT / "ringcache" / "client")])
    assert status == 0, out + err


def test_cached_keeps_the_signature(tmp_path: Path) -> None:
    user = tmp_path / "user_code.py"
    user.write_text(USER_CODE)
    out, err, status = api.run(["--strict", "--cache-dir", str(tmp_path / "cache"), str(user)])
    source = USER_CODE.splitlines()
    reveal = str(source.index("reveal_type(price)") + 1)
    expected = [str(n) for n, line in enumerate(source, 1) if "# ERROR" in line]
    lines = [line for line in out.splitlines() if "user_code.py" in line]
    assert any(f":{reveal}: note: Revealed type" in line and "CachedFunction[[sku: str, qty: int =], float]"
               in line for line in lines), out
    errors = [line for line in lines if ": error:" in line]
    assert [e.split(":")[1] for e in errors] == expected, out
