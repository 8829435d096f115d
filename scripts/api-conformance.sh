#!/usr/bin/env bash
# Checks the published OpenAPI document against the running service with schemathesis: the demo
# (two conferences with archived recordings, on the embedded defaults) serves on a free port,
# and schemathesis generates requests for every documented operation, follows the documented
# links from the list to a conference and on to its recordings, and fails on any server error,
# undocumented status, wrong content type or body that does not match its schema.
#   scripts/api-conformance.sh [CONFVAULT_BINARY]   (default: target/debug/confvault)
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${1:-${CARGO_TARGET_DIR:-target}/debug/confvault}"
st="${TEST_TOOLS_DIR:-$PWD/.tools}/venv/bin/st"
[ -x "$st" ] || { echo "schemathesis is not installed: run scripts/test.sh"; exit 1; }
[ -x "$binary" ] || cargo build --quiet

work="$(mktemp -d)"
demo_pid=""
cleanup() {
    [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$binary" demo --listen 127.0.0.1:0 --dir "$work/demo" > "$work/demo.out" 2> "$work/demo.err" &
demo_pid=$!
for _ in $(seq 300); do
    grep -q "serving until" "$work/demo.out" 2>/dev/null && break
    kill -0 "$demo_pid" 2>/dev/null || { cat "$work/demo.out" "$work/demo.err"; exit 1; }
    sleep 0.2
done
grep -q "serving until" "$work/demo.out" || { echo "the demo did not finish"; cat "$work/demo.err"; exit 1; }
base="$(grep -o 'http://127.0.0.1:[0-9]*' "$work/demo.out" | head -1)"
token="$(grep -o 'API token:  [0-9a-f]*' "$work/demo.out" | awk '{print $3}')"

echo "== schemathesis against $base"
# The token is the demo's own, made for this run; schemathesis filters it from what it prints.
"$st" run "$base/api/v1/openapi.json" --url "$base" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples 50 --no-color
