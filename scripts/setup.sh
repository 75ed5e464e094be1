#!/usr/bin/env bash
# Sets up everything ringcache and its tests need on a fresh Debian machine:
# the project's virtual environment (.venv) with the package and its test
# dependencies, and the Debian packages the tests use (redis-tools for
# redis-cli, redis-server for side-by-side comparisons and benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)  # network namespaces: protected-mode and partition tests
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)  # throwaway CA and certificates: tests/wire/test_tls.py
command -v strace >/dev/null 2>&1 || need_apt+=(strace)  # benchmarks/failover.py: the slow disk (syscall delay)
ls /usr/lib/*/libjemalloc.so.2 >/dev/null 2>&1 || need_apt+=(libjemalloc2)  # the node's malloc (ringcache/allocator.py)
# The compiled hot path (setup.py builds it; Cython comes from the index as a
# build requirement): a C compiler and the headers of the Python that builds.
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
python3 -c 'import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' || need_apt+=(python3-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
