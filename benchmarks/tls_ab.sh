#!/usr/bin/env bash
# TLS cost, ringcache and redis-server side by side, rounds interleaved:
#   bash benchmarks/tls_ab.sh [ROUNDS] [N]
# Makes a throwaway CA and server certificate (openssl), starts redis-server
# and a ringcache node, each with a plain port and a TLS port
# (tls-auth-clients no), servers on core 0 and redis-benchmark on core 1,
# and prints SET/GET ops/s per round at -P 1 and -P 16 (take medians and
# ratios: the machine is shared). Stops what it started by port.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}; N=${2:-200000}
PY=$PWD/.venv/bin/python
D=$(mktemp -d)
openssl req -x509 -new -nodes -newkey rsa:2048 -keyout "$D/ca.key" -out "$D/ca.crt" -days 2 -subj /CN=bench-ca 2>/dev/null
openssl req -new -nodes -newkey rsa:2048 -keyout "$D/s.key" -out "$D/s.csr" -subj /CN=localhost 2>/dev/null
openssl x509 -req -in "$D/s.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAcreateserial -out "$D/s.crt" -days 2 2>/dev/null
TLS="--tls-cert-file $D/s.crt --tls-key-file $D/s.key --tls-ca-cert-file $D/ca.crt --tls-auth-clients no"
trap 'for p in 17301 17311; do redis-cli -p $p shutdown nosave >/dev/null 2>&1 || true; done; rm -rf "$D"' EXIT
(taskset -c 0 redis-server --port 17301 --tls-port 17302 $TLS --save "" --appendonly no >/dev/null 2>&1 &)
(taskset -c 0 "$PY" -m ringcache server --port 17311 --tls-port 17312 $TLS --save "" --appendonly no >/dev/null 2>&1 &)
sleep 3
bench() {  # port, extra flags, pipeline, n
  taskset -c 1 redis-benchmark -p "$1" $2 -t set,get -c 50 -r 100000 -d 32 -n "$4" -P "$3" -q 2>/dev/null \
    | tr '\r' '\n' | grep -E "^(SET|GET): [0-9]" | awk '{print $1 $2}' | tr '\n' ' '
}
for round in $(seq "$ROUNDS"); do
  for target in "redis plain 17301" "redis tls 17302" "ringcache plain 17311" "ringcache tls 17312"; do
    set -- $target
    flags=""; [ "$2" = tls ] && flags="--tls --cacert $D/ca.crt"
    echo "round=$round $1 $2 P1: $(bench "$3" "$flags" 1 $((N / 4))) P16: $(bench "$3" "$flags" 16 "$N")"
  done
done
