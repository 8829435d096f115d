#!/usr/bin/env bash
# Sync benchmark: `confvault sync` (release build) lists and queues an account of RECORDINGS
# recordings (default 10,000: 100 pages of 100) from a local Vobiz REST API
# (scripts/bench/vobiz_api.py), into a fresh database. Prints the wall time, the peak RSS, and
# checks the load did what it should: every page served, no request refused, every recording
# stored and queued for archiving, none twice. Each round also syncs a tenth of the account first, so the two peak
# RSS figures show whether memory grows with the account (it should not: a page at a time).
#   scripts/bench-sync.sh [RECORDINGS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
total="${1:-10000}"
rounds="${2:-3}"
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null; }
cargo build --release --quiet
binary="$PWD/target/release/confvault"

work="$(mktemp -d)"
api_pid=""
cleanup() {
    [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# One sync of an account of $1 recordings; prints "seconds peak_kib".
run_once() {
    local count="$1" dir="$work/run-$1-$RANDOM"
    mkdir -p "$dir"
    python3 scripts/bench/vobiz_api.py "$count" "$dir/port" &
    api_pid=$!
    for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
    local port
    port="$(cat "$dir/port")"
    cat > "$dir/confvault.toml" <<TOML
data_dir = "$dir/data"
[vobiz]
auth_id = "MA_BENCH"
auth_token = "bench-token"
verify_signatures = false
api_url = "http://127.0.0.1:$port/api/v1"
recording_hosts = ["http://127.0.0.1:$port"]
TOML
    "$binary" --config "$dir/confvault.toml" migrate >/dev/null
    /usr/bin/time -f "%e %M" -o "$dir/time" \
        "$binary" --config "$dir/confvault.toml" sync --json > "$dir/report.json" 2>"$dir/stderr"
    local stats stored distinct
    stats="$(curl -s -H 'X-Auth-ID: MA_BENCH' -H 'X-Auth-Token: bench-token' "http://127.0.0.1:$port/stats")"
    kill "$api_pid"; wait "$api_pid" 2>/dev/null || true; api_pid=""
    stored="$(sqlite3 "$dir/data/confvault.db" "SELECT COUNT(*) FROM recordings WHERE source = 'sync'")"
    distinct="$(sqlite3 "$dir/data/confvault.db" "SELECT COUNT(DISTINCT recording_id) FROM recordings")"
    jobs="$(sqlite3 "$dir/data/confvault.db" "SELECT COUNT(*) FROM jobs WHERE kind = 'archive_recording' AND state = 'pending'")"
    python3 - "$count" "$stored" "$distinct" "$stats" "$dir/report.json" "$jobs" <<'PY'
import json, sys
count, stored, distinct = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
stats, report = json.loads(sys.argv[4]), json.load(open(sys.argv[5]))
jobs = int(sys.argv[6])
pages = -(-count // 100)
problems = []
if stats["unauthorised"]: problems.append(f"{stats['unauthorised']} requests refused")
if stats["pages"] != pages: problems.append(f"{stats['pages']} pages served, not {pages}")
if stored != count or distinct != count: problems.append(f"{stored} stored ({distinct} distinct), not {count}")
if report["found"] != count or report["listed"] != count: problems.append(f"report says {report}")
if jobs != count: problems.append(f"{jobs} archive jobs queued, not {count}")
if problems:
    sys.exit("the load did not do what it should: " + "; ".join(problems))
PY
    cat "$dir/time"
}

echo "== sync of an account of $total recordings ($(( (total + 99) / 100 )) pages), $rounds rounds"
small=$(( total / 10 ))
walls=(); peaks=(); small_peaks=()
for round in $(seq "$rounds"); do
    read -r _ small_peak < <(run_once "$small")
    read -r wall peak < <(run_once "$total")
    echo "round $round: $total recordings in ${wall} s, peak RSS $((peak / 1024)) MiB (at $small recordings: $((small_peak / 1024)) MiB)"
    walls+=("$wall"); peaks+=("$peak"); small_peaks+=("$small_peak")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median: ${total} recordings listed and queued in $(median "${walls[@]}") s; peak RSS $(( $(median "${peaks[@]}") / 1024 )) MiB (at $small: $(( $(median "${small_peaks[@]}") / 1024 )) MiB)"
