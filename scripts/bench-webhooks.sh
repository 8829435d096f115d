#!/usr/bin/env bash
# Webhook benchmark: a release build of confvault on SQLite ingests validly signed callbacks
# under wrk (2 threads, 32 connections) while its dispatcher delivers every message to a
# healthy local receiver (scripts/bench/webhook_receiver.js, 204 at once). Two loads:
#   meetings: six legs enter and leave, then the conference ends: a conference.ended message
#             per thirteen callbacks (meetings as they come);
#   ends:     a leg enters and the conference ends: a message per two callbacks, faster than
#             any one endpoint takes them (the stress case: the backlog grows).
# Per round, side by side, for each load:
#   base:  no endpoint configured (what ingest does without webhooks);
#   live:  the endpoint configured: the receiver times each message from its commit (the
#          body's timestamp) to its arrival; p50/p99/max and messages/s are reported;
# and once per round, drain: the endpoint disabled during an `ends` load, then enabled: how
# fast a backlog goes out. `meetings` runs SECONDS; `ends` 5 s and the drain's load 3 s.
# Each run checks what the load did: every answer a 200, and every ended conference's message
# delivered exactly once (distinct webhook-ids = conferences ended = requests received).
#   scripts/bench-webhooks.sh [SECONDS] [ROUNDS]   (defaults: 30 s, 3 rounds; at 30 s the meetings load makes over 10,000 messages here)
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-30}"
rounds="${2:-3}"
connections=32
threads=2

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null; }
command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
cargo build --release --quiet

work=""
server_pid=""
receiver_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null || true
    [ -n "$receiver_pid" ] && kill -9 "$receiver_pid" 2>/dev/null || true
    [ -n "$work" ] && rm -rf "$work"
    return 0
}
trap cleanup EXIT
results="$(mktemp)"
token="bench-token-$$"
public_url="https://bench.example.test"
secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
wait_for_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

nonces="$(mktemp -d)"
python3 scripts/bench/sign_nonces.py "$token" "$public_url/vobiz/conference" \
    "$threads" $(( duration * 40000 )) "$nonces"

db() { sqlite3 "$work/data/confvault.db" "$1"; }

run() { # MODE (base | live | drain) SHAPE SECONDS
    local mode="$1" shape="$2" seconds="$3" receiver_port endpoint=""
    work="$(mktemp -d)"
    receiver_port="$(free_port)"
    node scripts/bench/webhook_receiver.js "$receiver_port" "$work/received" &
    receiver_pid=$!
    wait_for_port "$receiver_port"
    if [ "$mode" != base ]; then
        endpoint="[webhooks]
allow_private_addresses = true
[[webhooks.endpoints]]
url = \"http://127.0.0.1:$receiver_port/hook\"
secret = \"$secret\""
    fi
    cat > "$work/confvault.toml" <<TOML
listen = "127.0.0.1:0"
data_dir = "$work/data"
public_url = "$public_url"
[vobiz]
auth_token = "$token"
$endpoint
TOML
    if [ "$mode" = drain ]; then
        ./target/release/confvault --config "$work/confvault.toml" migrate > /dev/null
        db "INSERT INTO webhook_endpoints VALUES ('http://127.0.0.1:$receiver_port/hook', '2026-01-01T00:00:00.000000Z', 'bench: held back')"
    fi
    RUST_LOG=warn ./target/release/confvault --config "$work/confvault.toml" serve \
        > "$work/stdout" 2> "$work/stderr" &
    server_pid=$!
    for _ in $(seq 200); do grep -q "listening on" "$work/stdout" 2>/dev/null && break; sleep 0.1; done
    local url
    url="$(grep -o 'http://[0-9.:]*' "$work/stdout" | head -1)"
    echo "== $mode: wrk ${threads} threads, ${connections} connections, ${seconds}s, SHAPE=$shape"
    SHAPE="$shape" NONCE_DIR="$nonces" wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency \
        -s scripts/bench/ingest.lua "$url/vobiz/conference" > "$work/wrk.out"
    local line
    line="$(grep -o 'requests/s=.*' "$work/wrk.out")"
    echo "$line"
    grep -q 'non2xx=0 connect=0 read=0 write=0 timeout=0' <<<"$line" \
        || { echo "FAIL: not every request was answered 200"; exit 1; }
    local rps ended messages=0 drain_ms=0
    rps="$(grep -o 'requests/s=[0-9]*' <<<"$line" | cut -d= -f2)"
    ended="$(db "SELECT COUNT(*) FROM conferences WHERE status = 'ended'")"
    if [ "$mode" != base ]; then
        local started now
        started="$(date +%s%3N)"
        [ "$mode" = drain ] && ./target/release/confvault --config "$work/confvault.toml" \
            webhooks enable "http://127.0.0.1:$receiver_port/hook" > /dev/null
        for _ in $(seq 1500); do
            [ "$(db "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'delivered'")" -ge "$ended" ] && break
            sleep 0.2
        done
        now="$(date +%s%3N)"
        drain_ms=$(( now - started ))
        messages="$(db "SELECT COUNT(*) FROM webhook_messages")"
    fi
    kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
    kill -TERM "$receiver_pid"; wait "$receiver_pid" 2>/dev/null || true; receiver_pid=""
    local received
    received="$(cat "$work/received")"
    echo "   conferences ended = $ended, messages = $messages, receiver: $received"
    if [ "$mode" != base ]; then
        local requests unique
        requests="$(grep -o 'requests=[0-9]*' <<<"$received" | cut -d= -f2)"
        unique="$(grep -o 'unique=[0-9]*' <<<"$received" | cut -d= -f2)"
        if [ "$messages" != "$ended" ] || [ "$unique" != "$ended" ] || [ "$requests" != "$ended" ]; then
            echo "FAIL: $ended conferences ended, $messages messages, $unique delivered ($requests requests)"
            exit 1
        fi
    fi
    echo "mode=$mode shape=$shape rps=$rps ended=$ended $received drain_ms=$drain_ms" >> "$results"
    rm -rf "$work"; work=""
}

for round in $(seq "$rounds"); do
    echo "== round $round of $rounds"
    run base meetings "$duration"
    run live meetings "$duration"
    # The stress and drain loads make messages far faster than they go out: a few seconds
    # of them is a backlog of tens of thousands.
    run base ends 5
    run live ends 5
    run drain ends 3
done
rm -rf "$nonces"
echo "== medians over $rounds rounds (${duration}s each)"
python3 - "$results" <<'PY'
import collections, re, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    row = dict(re.findall(r"(\w+)=([\w.]+)", line))
    runs[(row["mode"], row["shape"])].append(row)
med = lambda key, rows: statistics.median(float(r[key]) for r in rows)
for shape in ("meetings", "ends"):
    base, live = runs[("base", shape)], runs[("live", shape)]
    b, l = med("rps", base), med("rps", live)
    rate = statistics.median(float(r["unique"]) / max(float(r["span_ms"]), 1) * 1000 for r in live)
    print(f"{shape}: ingest {b:.0f} callbacks/s without webhooks, {l:.0f} while delivering "
          f"({(l / b - 1) * 100:+.1f}%); {med('unique', live):.0f} messages at {rate:.0f}/s, "
          f"commit to delivery p50 {med('p50', live):.0f} ms, p99 {med('p99', live):.0f} ms, "
          f"max {med('max', live):.0f} ms")
drain = runs[("drain", "ends")]
rates = [float(r["unique"]) / max(float(r["drain_ms"]), 1) * 1000 for r in drain]
print(f"drain: {med('unique', drain):.0f} messages held back, then delivered at "
      f"{statistics.median(rates):.0f} messages/s")
PY
