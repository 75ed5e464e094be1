"""The libraries Redis gives scripts beyond Lua's own: bit, cjson (and
struct, cmsgpack as far as they go). lupa's Lua 5.1 ships none of them, so
they are implemented here in Python and installed as Lua tables."""

from __future__ import annotations

from typing import Any


def install(lua: Any, libs: Any) -> None:
    """Put each library table in `libs` (name -> table)."""
