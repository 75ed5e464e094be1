#!/usr/bin/env bash
# A/B of two trees of ringcache (and redis-server) in the same run:
#   bash benchmarks/ab_trees.sh OLD_REV [ROUNDS]
# Starts redis-server, a node from OLD_REV (a temporary git worktree), a node from
# this tree and one with RINGCACHE_PURE=1, servers on core 0 and redis-benchmark on
# core 1, rounds alternating; prints ops/s per round (take medians). Stops what it
# started by port.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${1:?usage: ab_trees.sh OLD_REV [ROUNDS]}; ROUNDS=${2:-3}
PY=$PWD/.venv/bin/python
OLDTREE=$(mktemp -d)/old
git worktree add -q "$OLDTREE" "$OLD"
trap 'for p in 17101 17102 17103 17104; do redis-cli -p $p shutdown nosave >/dev/null 2>&1 || true; done; git worktree remove --force "$OLDTREE"' EXIT
# A worktree has no build output: build the old tree's compiled hot path in
# place (a wheel built the way pip installs it, its extension copied in), or
# its node would run on the pure-Python path. Trees before the extension have
# no setup.py.
if [ -f "$OLDTREE/setup.py" ]; then
  WHEELS=$(mktemp -d)
  "$PY" -m pip wheel -q --no-deps -w "$WHEELS" "$OLDTREE" >/dev/null 2>&1 || true
  for whl in "$WHEELS"/*.whl; do
    [ -f "$whl" ] && "$PY" -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for n in z.namelist():
    if n.startswith("ringcache/_speedups") and n.endswith(".so"):
        z.extract(n, sys.argv[2])' "$whl" "$OLDTREE"
  done
  rm -rf "$WHEELS"
fi
start() { (cd "$2" && env $3 taskset -c 0 "$PY" -m ringcache server --port "$1" --save "" --appendonly no >/dev/null 2>&1 &); }
(taskset -c 0 redis-server --port 17104 --save "" --appendonly no >/dev/null 2>&1 &)
start 17101 "$OLDTREE" ""
start 17102 "$PWD" ""
start 17103 "$PWD" "RINGCACHE_PURE=1"
for p in 17104 17101 17102 17103; do  # started (a loaded machine takes a while)
  for _ in $(seq 120); do redis-cli -p $p ping >/dev/null 2>&1 && break; sleep 0.5; done
done
for p in 17101 17102 17103; do  # which path each node runs (INFO server)
  echo "port $p: $(redis-cli -p $p info server | tr -d '\r' | grep -o 'ringcache_accelerated:[01]' || echo 'no INFO field')"
done
for round in $(seq "$ROUNDS"); do
  for p in 17104 17101 17102 17103; do
    line="round=$round $(case $p in 17104) echo redis;; 17101) echo old;; 17102) echo new;; 17103) echo new-pure;; esac)"
    for P in 1 16; do
      n=$([ $P = 1 ] && echo 100000 || echo 1000000)
      out=$(taskset -c 1 redis-benchmark -p $p -t set,get -c 50 -r 100000 -d 32 -n $n -P $P -q 2>/dev/null \
            | tr '\r' '\n' | grep -E "^(SET|GET): [0-9]" | awk '{print $1 $2}' | tr '\n' ' ')
      line="$line P$P: $out"
    done
    echo "$line"
  done
done
