#!/usr/bin/env bash
# Runs tests/client under each supported redis-py major (issue 18: the stampede
# guarantees must hold on 5.x, 6.x, 7.x and 8.x, whose connection pools differ).
#
#   bash scripts/client-matrix.sh            # majors 5 6 7 8
#   bash scripts/client-matrix.sh 5 7        # just these
#   bash scripts/client-matrix.sh 6 -- -k pool   # extra pytest arguments after --
#   bash scripts/client-matrix.sh --venvs-only 5 6   # only make the venvs
#
# Each major gets a small venv, .venv-redis<N>, holding only that redis-py
# (`pip install "redis>=N,<N+1"`); everything else (the ringcache package,
# pytest, hiredis) comes from the project's .venv, which the venv reaches through
# a .pth file placed *after* its own site-packages, so its redis-py wins.
# tests/client/test_cache_pool.py checks that the imported redis-py is the
# major named here (RINGCACHE_REDIS_MAJOR), so a mix-up fails loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || bash scripts/setup.sh
python=$(.venv/bin/python -c 'import sys; print(sys._base_executable)')
base_site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

venvs_only=0
if [ "${1:-}" = "--venvs-only" ]; then venvs_only=1; shift; fi  # benchmarks/stampede.py --majors
majors=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do majors+=("$1"); shift; done
[ $# -gt 0 ] && shift  # the --
[ ${#majors[@]} -gt 0 ] || majors=(5 6 7 8)

failed=()
for major in "${majors[@]}"; do
    venv=".venv-redis$major"
    if ! "$venv/bin/python" -c "import redis, sys; sys.exit(int(redis.__version__.split('.')[0]) != $major)" 2>/dev/null; then
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "redis>=$major,<$((major + 1))"
        site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        echo "import site; site.addsitedir('$base_site')" > "$site/zz_ringcache_base.pth"
    fi
    [ $venvs_only -eq 1 ] && continue
    version=$("$venv/bin/python" -c 'import redis; print(redis.__version__)')
    echo "== redis-py $version ($venv)"
    if ! RINGCACHE_REDIS_MAJOR=$major "$venv/bin/python" -m pytest -p no:cacheprovider tests/client "$@"; then
        failed+=("$major")
    fi
done
[ $venvs_only -eq 1 ] && exit 0
if [ ${#failed[@]} -gt 0 ]; then
    echo "client matrix: failed under redis-py major(s) ${failed[*]}"
    exit 1
fi
echo "client matrix: passed under redis-py major(s) ${majors[*]}"
