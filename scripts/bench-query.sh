#!/usr/bin/env bash
# Query benchmark: 1,000,000 conferences, 5,000,000 legs and 333,334 recordings with transcripts
# (generated once into .bench-data/, a few minutes), then each list filter under wrk for a fixed
# time; prints p50 and p99.
# Target: p99 under 50 ms for every filter.
#   scripts/bench-query.sh [SECONDS_PER_FILTER] [CONNECTIONS]
# BENCH_DATABASE=postgres serves the same data from PostgreSQL instead: a throwaway cluster of
# its own, filled from the generated SQLite file by `confvault db copy` (about 2 minutes).
# BENCH_FILTERS="said|q, rare" runs only the filters whose names match (an extended regex).
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
connections="${2:-4}"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null; }
cargo build --release --quiet

data=".bench-data/query"
config="$data/confvault.toml"
mkdir -p "$data"
cat > "$config" <<TOML
listen = "127.0.0.1:0"
data_dir = "$PWD/$data/data"
[api]
tokens = ["bench"]
TOML
# The marker names what was generated: data from an older generator (no transcripts) is redone.
if [ ! -f "$data/generated-with-transcripts" ]; then
    rm -rf "$data/data"
    ./target/release/confvault --config "$config" dev gen-archive --conferences 1000000 --legs 5
    touch "$data/generated-with-transcripts"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    [ -n "${TEST_POSTGRES_DATA:-}" ] && stop_test_services
    rm -rf "$work"
}
trap cleanup EXIT
serving="$config"
if [ "${BENCH_DATABASE:-sqlite}" = postgres ]; then
    # shellcheck source=/dev/null
    source scripts/test-services.sh
    TEST_SERVICES_DIR="$PWD/.bench-data/query-services"
    if [ -z "$(postgres_bin)" ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    rm -rf "$TEST_SERVICES_DIR"; mkdir -p "$TEST_SERVICES_DIR"
    start_test_postgres
    "$(postgres_bin)/psql" -qtA "$CV_TEST_POSTGRES_URL" -c "CREATE DATABASE query_bench"
    target="${CV_TEST_POSTGRES_URL%/*}/query_bench"
    CONFVAULT_DB_COPY_TO="$target" ./target/release/confvault --config "$config" db copy
    "$(postgres_bin)/psql" -qtA "$target" -c "VACUUM ANALYZE"
    serving="$work/postgres.toml"
    cat "$config" > "$serving"
    printf '[database]\nurl = "%s"\n' "$target" >> "$serving"
fi
RUST_LOG=warn ./target/release/confvault --config "$serving" serve > "$work/stdout" 2> "$work/stderr" &
server_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/stdout" 2>/dev/null && break; sleep 0.1; done
url="$(grep -o 'http://[0-9.:]*' "$work/stdout" | head -1)"

number="$(sqlite3 "$data/data/confvault.db" "SELECT from_normalized FROM participants WHERE rowid = 123457")"
echo "serving from ${BENCH_DATABASE:-sqlite}"
next_cursor() {
    curl -s -H 'Authorization: Bearer bench' "$url/api/v1/conferences?$1" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"])'
}
second_page="$(next_cursor "limit=50")"
said_second_page="$(next_cursor "said=meeting")"
cat > "$work/auth.lua" <<'LUA'
wrk.headers["Authorization"] = "Bearer bench"
function done(summary, latency, requests)
  io.write(string.format("RESULT p50=%.2fms p99=%.2fms requests/s=%.0f errors=%d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
LUA

filters=(
    "newest|"
    "q, common word|q=Standup"
    "q, rare phrase|q=Escalation%20Legal%20999"
    "q, two letters|q=Op"
    "participant|participant=%2B$number"
    "since/until, one week|since=2026-01-01&until=2026-01-07"
    "status=active|status=active"
    "status=ended|status=ended"
    "has_recording=true|has_recording=true"
    "has_recording=false|has_recording=false"
    "second page (cursor)|cursor=$second_page"
    "q + participant|q=Standup&participant=$number"
    "limit=200|limit=200"
    "said, common word|said=meeting"
    "said, rare word|said=project1234"
    "said, two words|said=budget%20warranty"
    "said + q|said=review&q=Standup"
    "said + q, rare phrase|said=meeting&q=Escalation%20Legal%20999"
    "said + participant|said=meeting&participant=%2B$number"
    "said, one week|said=budget&since=2026-01-01&until=2026-01-07"
    "said, second page|said=meeting&cursor=$said_second_page"
    "recordings, newest|recordings?"
    "recordings, said common|recordings?said=meeting"
    "recordings, said two|recordings?said=budget%20warranty"
    "recordings, said rare|recordings?said=project1234"
)
# Rows: how many conferences the filter's first page holds, so that a fast answer is seen to be
# a full one (a page is 50 unless the filter asks otherwise).
printf '%-26s %6s %10s %10s %12s\n' "filter" "rows" "p50" "p99" "requests/s"
for entry in "${filters[@]}"; do
    name="${entry%%|*}"
    query="${entry#*|}"
    # BENCH_FILTERS: an extended regular expression; only the filters whose names match run.
    [[ -n "${BENCH_FILTERS:-}" && ! "$name" =~ ${BENCH_FILTERS} ]] && continue
    # An entry is a query of the conference list unless it names the recordings list.
    list=conferences
    if [[ "$query" == recordings\?* ]]; then list=recordings; query="${query#recordings?}"; fi
    result="$(wrk -t1 -c"$connections" -d"${duration}s" --latency -s "$work/auth.lua" \
        "$url/api/v1/$list?$query" | grep RESULT)"
    p50="$(echo "$result" | grep -o 'p50=[0-9.]*ms' | cut -d= -f2)"
    p99="$(echo "$result" | grep -o 'p99=[0-9.]*ms' | cut -d= -f2)"
    rps="$(echo "$result" | grep -o 'requests/s=[0-9]*' | cut -d= -f2)"
    errors="$(echo "$result" | grep -o 'errors=[0-9]*' | cut -d= -f2)"
    [ "$errors" = "0" ] || echo "WARNING: $errors errors for $name"
    rows="$(curl -s -H 'Authorization: Bearer bench' "$url/api/v1/$list?$query" \
        | python3 -c "import json,sys; print(len(json.load(sys.stdin)['$list']))")"
    printf '%-26s %6s %10s %10s %12s\n' "$name" "$rows" "$p50" "$p99" "$rps"
done
