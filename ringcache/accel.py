"""Which path runs the hot loop: the compiled one or the pure-Python one.

Theory of operation
-------------------
The pure-Python modules are complete and are the source of truth for the
semantics. `ringcache/_speedups.pyx` holds typed Cython versions of a few
hot pieces, built by `pip install` when a C compiler, the Python headers and
Cython are there (setup.py; a failed build leaves the package installable).
This module decides once, at import, which one the node uses:

* RINGCACHE_PURE=1 (any value but empty or "0") forces the pure path, so the
  test suite can run both ways (CI does) and the two can be compared;
* else the extension is used when it imports, and the pure path when it does
  not (never built, or built for another Python).

`speedups` is the compiled module or None; callers pick their function
once, at import or construction, never per command. `pure_reason` says why
the pure path runs, for the node's start-up log and INFO.
"""

from __future__ import annotations

import os
from types import ModuleType

speedups: ModuleType | None = None
pure_reason = ""

if os.environ.get("RINGCACHE_PURE", "") not in ("", "0"):
    pure_reason = "RINGCACHE_PURE is set"
else:
    try:
        from . import _speedups as speedups  # type: ignore[attr-defined, no-redef]
    except ImportError as exc:  # not built (no compiler, no Cython) or stale
        pure_reason = f"the compiled extension is not available ({exc})"

ACCELERATED = speedups is not None


def _install_loader_twins() -> None:
    """The snapshot loader's compiled twins (a replica's full sync: see
    persistence/rdb.py scan_strings, storage/slots.py SlotIndex.add_many,
    storage/access.py record_lru) are put in place from here, so that
    storage/ and persistence/ import nothing above them
    (tests/unit/test_layering.py); each module keeps its pure version
    under a *_pure name, the reference the tests compare with."""
    from .persistence import rdb
    from .storage import access, slots

    assert speedups is not None
    rdb.scan_strings = speedups.scan_strings
    slots.SlotIndex.add_many = speedups.slots_add_many  # type: ignore[method-assign]
    access.record_lru = speedups.record_lru


if speedups is not None and hasattr(speedups, "scan_strings"):  # (an older build lacks them)
    _install_loader_twins()
