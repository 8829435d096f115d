#!/usr/bin/env bash
# Ingest benchmark: a release build under wrk at concurrency 32 with unique, validly signed
# live-shape callbacks; then kill -9 the server and check that every acknowledged callback is in
# the database. Runs several rounds (this machine is shared and noisy) and prints each round's
# requests/s and latency percentiles, then the medians.
#   scripts/bench-ingest.sh [SECONDS] [SYNCHRONOUS=full|normal] [ROUNDS]
# BENCH_LOG=info measures with the access log on (the default filter of `serve`); default warn.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
synchronous="${2:-full}"
rounds="${3:-3}"
connections=32
threads=2

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null; }
cargo build --release --quiet

work=""
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null || true
    [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT

results="$(mktemp)"
run_round() {
work="$(mktemp -d)"

token="bench-token-$$"
public_url="https://bench.example.test"
cat > "$work/confvault.toml" <<TOML
listen = "127.0.0.1:0"
data_dir = "$work/data"
public_url = "$public_url"
[vobiz]
auth_token = "$token"
[database]
synchronous = "$synchronous"
TOML

# Pre-sign enough nonces that no thread runs out (wrk's Lua has no HMAC). The body is not
# signed, so each request pairs a unique nonce with a unique body.
per_thread=$(( duration * 40000 ))
python3 scripts/bench/sign_nonces.py "$token" "$public_url/vobiz/conference" \
    "$threads" "$per_thread" "$work/nonces"

RUST_LOG="${BENCH_LOG:-warn}" ./target/release/confvault --config "$work/confvault.toml" serve \
    > "$work/stdout" 2> "$work/stderr" &
server_pid=$!
for _ in $(seq 100); do
    grep -q "listening on" "$work/stdout" 2>/dev/null && break
    sleep 0.1
done
url="$(grep -o 'http://[0-9.:]*' "$work/stdout" | head -1)"
[ -n "$url" ] || { echo "server did not start"; cat "$work/stderr"; exit 1; }

echo "== wrk: ${threads} threads, ${connections} connections, ${duration}s, synchronous=${synchronous}"
NONCE_DIR="$work/nonces" wrk -t"$threads" -c"$connections" -d"${duration}s" --latency \
    -s scripts/bench/ingest.lua "$url/vobiz/conference" | tee "$work/wrk.out"

kill -9 "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""

acknowledged="$(grep -o 'acknowledged=[0-9]*' "$work/wrk.out" | cut -d= -f2)"
stored="$(sqlite3 "$work/data/confvault.db" 'SELECT COUNT(*) FROM callback_events')"
echo "== after kill -9: acknowledged (200) = $acknowledged, stored = $stored"
# wrk stops at the deadline without reading the answers still in flight (at most one per
# connection); those callbacks may be committed without being counted as acknowledged.
if [ "$stored" -lt "$acknowledged" ]; then
    echo "FAIL: $(( acknowledged - stored )) acknowledged callbacks were lost"
    exit 1
fi
if [ $(( stored - acknowledged )) -gt "$connections" ]; then
    echo "FAIL: more stored than acknowledged beyond the requests in flight at the deadline"
    exit 1
fi
echo "OK: every acknowledged callback survived kill -9 ($(( stored - acknowledged )) in flight at the deadline were stored too)"
grep -o 'requests/s=[0-9]* p50=[0-9.]*ms p99=[0-9.]*ms' "$work/wrk.out" >> "$results"
rm -rf "$work"
work=""
}

for round in $(seq "$rounds"); do
    echo "== round $round of $rounds"
    run_round
done
echo "== medians over $rounds rounds (synchronous=$synchronous)"
python3 - "$results" <<'PY'
import re, statistics, sys
rows = [dict(re.findall(r"([\w/]+)=([0-9.]+)", line)) for line in open(sys.argv[1])]
for key, unit in (("requests/s", ""), ("p50", " ms"), ("p99", " ms")):
    values = [float(r[key]) for r in rows]
    print(f"{key}: median {statistics.median(values):.2f}{unit}  (rounds: {', '.join(f'{v:g}' for v in values)})")
PY
rm -f "$results"
