#!/usr/bin/env bash
# Archive benchmark: confvault fetching a recording from a local HTTP server and storing it in
# s3s-fs, end to end (callback to "archived"), beside `curl` downloading the same file and
# `aws s3 cp` uploading it, one after the other. Each size runs ROUNDS times; medians printed.
#   scripts/bench-archive.sh [ROUNDS] [SIZE_MIB ...]      (default: 3 rounds of 10 100 1024)
# BENCH_LOG=<filter> sets confvault's log filter (default warn); BENCH_KEEP_LOGS=<dir> keeps
# each run's log there (with BENCH_LOG=confvault::storage=debug, the multipart phases' times);
# BENCH_BIN=<path> measures another build of confvault.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10 100 1024)

source scripts/test-services.sh
install_test_services
if [ ! -x .tools/venv/bin/aws ]; then
    python3 -m venv .tools/venv
    .tools/venv/bin/pip install -q awscli
fi
cargo build --release --quiet
confvault="${BENCH_BIN:-./target/release/confvault}"

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
s3_port="$(free_port)"
mkdir -p "$work/s3/bench" "$work/media"
"$TEST_TOOLS_DIR/bin/s3s-fs" --host 127.0.0.1 --port "$s3_port" --access-key bench \
    --secret-key bench-secret "$work/s3" > "$work/s3s-fs.log" 2>&1 &
pids+=($!)
media_port="$(free_port)"
python3 -m http.server "$media_port" --bind 127.0.0.1 --directory "$work/media" \
    > "$work/media.log" 2>&1 &
pids+=($!)
TEST_SERVICES_DIR="$work" wait_for_http "http://127.0.0.1:$s3_port/" s3s-fs
TEST_SERVICES_DIR="$work" wait_for_http "http://127.0.0.1:$media_port/" media
endpoint="http://127.0.0.1:$s3_port"

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }

archive_once() { # size_mib round -> prints "seconds peak_rss_kib"
    local size="$1" round="$2" dir="$work/cv-$1-$2"
    mkdir -p "$dir"
    cat > "$dir/confvault.toml" <<TOML
listen = "127.0.0.1:0"
data_dir = "$dir/data"
[vobiz]
verify_signatures = false
recording_hosts = ["http://127.0.0.1:$media_port"]
[api]
tokens = ["bench"]
[jobs]
poll_interval_seconds = 0.02
[storage]
kind = "s3"
bucket = "bench"
endpoint = "$endpoint"
force_path_style = true
prefix = "confvault-$round"
TOML
    # The archive's own log line marks the end: polling the API from here would spawn a curl
    # every few milliseconds and take CPU from the work being measured.
    RUST_LOG="confvault::jobs=info,${BENCH_LOG:-warn}" "$confvault" \
        --config "$dir/confvault.toml" serve > "$dir/stdout" 2> "$dir/stderr" &
    local pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$dir/stdout" 2>/dev/null && break; sleep 0.05; done
    local url
    url="$(grep -o 'http://[0-9.:]*' "$dir/stdout" | head -1)"
    local start end outcome
    coproc waiter { exec python3 -u "$work/wait-for-archive.py" "$dir/stderr"; }
    read -r _ <&"${waiter[0]}"  # following the log
    sync  # start from the same page-cache state as the baseline
    start="$(now)"
    curl -s -o /dev/null -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
        --data "ConferenceAction=end&ConferenceUUID=bench-$size-$round&ConferenceName=Bench&RecordingUrl=http%3A%2F%2F127.0.0.1%3A$media_port%2Frec-$size.mp3&Timestamp=2026-05-19+10%3A00%3A00" \
        "$url/vobiz/conference"
    read -r outcome end <&"${waiter[0]}"
    if [ "$outcome" != archived ] || ! curl -s -H 'Authorization: Bearer bench' \
            "$url/api/v1/conferences/bench-$size-$round" | grep -q '"status":"archived"'; then
        echo "archiving failed ($outcome)" >&2; cat "$dir/stderr" >&2; kill "$pid"; exit 1
    fi
    local rss
    rss="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$dir/data/spool"
    [ -z "${BENCH_KEEP_LOGS:-}" ] || cp "$dir/stderr" "$BENCH_KEEP_LOGS/confvault-$size-$round.log"
    echo "$(elapsed "$start" "$end") $rss"
}

# Follows confvault's log; prints "following", then "archived|failed|timeout EPOCH_SECONDS".
cat > "$work/wait-for-archive.py" <<'PY'
import sys, time
log = open(sys.argv[1])
print("following", flush=True)
deadline = time.time() + 900
pending = ""
while time.time() < deadline:
    pending += log.readline()
    if not pending.endswith("\n"):
        time.sleep(0.002)
        continue
    line, pending = pending, ""
    if "recording archived" in line:
        print("archived", repr(time.time()), flush=True)
        sys.exit(0)
    if "job failed" in line or "will be retried" in line:
        print("failed", repr(time.time()), flush=True)
        sys.exit(0)
print("timeout", repr(time.time()), flush=True)
PY

results="$work/results.txt"
for size in "${sizes[@]}"; do
    { printf 'ID3\x04\x00\x00\x00\x00\x00\x00'; head -c "$(( size * 1024 * 1024 ))" /dev/urandom; } \
        > "$work/media/rec-$size.mp3"
    for round in $(seq "$rounds"); do
        sync  # the previous round's writes must not slow this one
        start="$(now)"
        curl -s -o "$work/download.bin" "http://127.0.0.1:$media_port/rec-$size.mp3"
        curl_end="$(now)"
        sync
        mid="$(now)"
        .tools/venv/bin/aws --endpoint-url "$endpoint" s3 cp --quiet "$work/download.bin" \
            "s3://bench/baseline-$round/rec-$size.mp3"
        end="$(now)"
        # Each side starts right after the other's files are deleted. This VM pages cold memory
        # out to its host (DAMON pageout), so a run that must touch pages nobody freed just
        # before is seconds slower at 1 GiB: left in place, the baseline's files made every
        # confvault run the slow one (s3s-fs used 2 s more CPU) and the baseline never was.
        rm -f "$work/download.bin"
        rm -rf "$work/s3/bench/"*
        read -r cv_seconds cv_rss < <(archive_once "$size" "$round")
        echo "$size $cv_seconds $cv_rss $(elapsed "$start" "$curl_end") $(elapsed "$mid" "$end")" | tee -a "$results"
        rm -rf "$work/s3/bench/"*
    done
    rm -f "$work/media/rec-$size.mp3"
done

echo "== medians over $rounds rounds (seconds; confvault is callback to archived)"
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
print(f"{'size':>8} {'confvault':>10} {'MiB/s':>7} {'peak RSS':>9} {'curl':>7} {'aws cp':>7} {'curl+aws':>9}")
for size in sorted({int(r[0]) for r in rows}):
    mine = [r for r in rows if int(r[0]) == size]
    med = lambda i: statistics.median(float(r[i]) for r in mine)
    cv, rss, curl, aws = med(1), med(2), med(3), med(4)
    print(f"{size:>5} MiB {cv:>9.2f}s {size / cv:>7.0f} {rss / 1024:>6.0f} MiB {curl:>6.2f}s {aws:>6.2f}s {curl + aws:>8.2f}s")
PY
