"""Which malloc the node runs on, and why jemalloc when it is there.

Small objects (up to 512 bytes) come from pymalloc whatever happens here; the
rest (values over ~500 bytes, dict and set tables, buffers) from the C
library's malloc. glibc's malloc fragments badly under a cache's churn: with
maxmemory 32mb and a mixed load overwriting, expiring and evicting values of
64-800 bytes, a node's RSS climbed from 93 MB to 243 MB in 20 minutes while
used_memory stayed at 32 MB, the heap holding more free holes than data
(mallinfo2: 32 MB free of 104 MB). Under jemalloc, the allocator Redis ships
with for this reason, the same load levelled off near 115 MB
(benchmarks/RESULTS.md, "Allocator"; benchmarks/soak.py).

A library cannot swap malloc once the interpreter runs, so `ringcache
server` re-executes itself once, at start-up, with jemalloc in LD_PRELOAD
when the system has it (Debian: libjemalloc2, which scripts/setup.sh
installs). Same PID, same arguments. RINGCACHE_ALLOCATOR=libc keeps the C
library's malloc. INFO memory's mem_allocator says which one runs.
"""

from __future__ import annotations

import ctypes.util
import functools
import glob
import os
import sys

ENV = "RINGCACHE_ALLOCATOR"  # "libc" to opt out
_REEXECUTED = "_RINGCACHE_ALLOCATOR_REEXEC"  # set on the re-executed process: never loop


@functools.cache  # what is mapped does not change while the process runs
def active() -> str:
    """"jemalloc" when libjemalloc is mapped into this process, else "libc"."""
    try:
        with open("/proc/self/maps") as maps:
            if "libjemalloc" in maps.read():
                return "jemalloc"
    except OSError:
        pass
    return "libc"


def find_jemalloc() -> str | None:
    for path in sorted(glob.glob("/usr/lib/*/libjemalloc.so.2")) + ["/usr/lib/libjemalloc.so.2"]:
        if os.path.exists(path):
            return path
    name = ctypes.util.find_library("jemalloc")
    return name if name and os.path.isabs(name) else None


def reexec_with_jemalloc() -> None:
    """Replace this process with itself under jemalloc, if it is not already
    and jemalloc is installed. Returns only when nothing is to be done."""
    if os.environ.get(ENV, "").lower() == "libc" or os.environ.get(_REEXECUTED) or active() == "jemalloc":
        return
    path = find_jemalloc()
    if path is None:
        return
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join(filter(None, [path, env.get("LD_PRELOAD", "")]))
    env[_REEXECUTED] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, env)
