#!/usr/bin/env bash
# Ingest benchmark, side by side with its anchor: the seed's own Express handler
# (../shared/bench/seed-express.js, run from there: it logs and answers OK, storing and checking
# nothing) and a release build of confvault, each under the same wrk load in the same round:
# 2 threads, 32 connections, unique validly signed documented-shape callbacks.
#   legs: conferences of six legs, each leg enters and then leaves (the target load);
#   new:  every callback opens a new conference (confvault's worst case).
# After each confvault run the server is killed with kill -9 and every acknowledged callback
# must be in the database. Answers are counted by status: a run with any refusal fails, since
# it would measure the wrong thing. The WAL file is sampled every 0.2 s and its peak printed,
# and each run prints the CPU the server's threads and wrk used per callback.
#   scripts/bench-ingest.sh [SECONDS] [SYNCHRONOUS=full|normal] [ROUNDS]
# BENCH_SHAPES="legs new" picks the loads; BENCH_LOG=info measures with the access log on.
# BENCH_BACKENDS="sqlite postgres postgres3" adds confvault on PostgreSQL (a throwaway cluster
# of its own, fsync on, started as scripts/test.sh starts one), one replica and three replicas
# behind HAProxy, all over TCP with TLS; postgres-socket is one replica over the cluster's Unix
# socket, as on a host that runs both. Every run starts on an empty database and is counted
# there after kill -9.
# BENCH_BASELINE=path/to/confvault also runs that build, in the same rounds right after the
# current one on each backend (labelled baseline/...), so a change is measured side by side.
# BENCH_CEILING=1 also runs examples/ingest_ceiling.rs after Express on the legs load: actix-web
# parsing each form and answering OK, checking and storing nothing. What it reaches is what
# HTTP and wrk leave of this machine; the gap to confvault is confvault's own work.
# Nonces are spread over 20-digit numbers, as Vobiz's are (the default, BENCH_NONCES=random);
# BENCH_NONCES=sequential numbers them in turn, as runs before 2026-12-07 did, which flatters a
# nonce index keyed by nonce (every callback lands at its end) and compares with those runs.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
synchronous="${2:-full}"
rounds="${3:-3}"
shapes="${BENCH_SHAPES:-legs new}"
backends="${BENCH_BACKENDS:-sqlite}"
connections=32
threads=2
seed_handler="$(cd .. && pwd)/shared/bench/seed-express.js"
express_dir="$PWD/.tools/express"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null; }
command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
[ -f "$seed_handler" ] || { echo "the anchor $seed_handler is missing"; exit 1; }
if [ ! -d "$express_dir/node_modules/express" ]; then
    echo "== installing express@4 into $express_dir"
    npm install --silent --no-audit --no-fund --prefix "$express_dir" express@4 >/dev/null
fi
cargo build --release --quiet
[ -n "${BENCH_CEILING:-}" ] && cargo build --release --quiet --example ingest_ceiling
if [ -n "${BENCH_BASELINE:-}" ] && [ ! -x "$BENCH_BASELINE" ]; then
    echo "BENCH_BASELINE=$BENCH_BASELINE is not an executable"; exit 1
fi

work=""
server_pid=""
sampler_pid=""
replica_pids=""
haproxy_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null || true
    for pid in $replica_pids; do kill -9 "$pid" 2>/dev/null || true; done
    [ -n "$haproxy_pid" ] && kill "$haproxy_pid" 2>/dev/null || true
    [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null || true
    [ -n "$work" ] && rm -rf "$work"
    [ -n "${TEST_POSTGRES_DATA:-}" ] && stop_test_services
    return 0
}
if grep -q postgres <<<"$backends"; then
    # shellcheck source=/dev/null
    source scripts/test-services.sh
    TEST_SERVICES_DIR="$PWD/.bench-data/services"
    if [ -z "$(postgres_bin)" ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    command -v haproxy >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; }
    rm -rf "$TEST_SERVICES_DIR"; mkdir -p "$TEST_SERVICES_DIR"
    TEST_POSTGRES_FSYNC=${BENCH_FSYNC:-on} start_test_postgres
    psql_admin() { "$(postgres_bin)/psql" -qtA "$CV_TEST_POSTGRES_URL" "$@"; }
    psql_db() { "$(postgres_bin)/psql" -qtA "${CV_TEST_POSTGRES_URL%/*}/$1" -c "$2"; }
fi
bench_db=0
# The database URL a backend's replicas use: TCP with TLS to 127.0.0.1, as a server on
# another host is reached, or, for postgres-socket, the cluster's Unix socket, as a server on
# the same host is.
pg_bench_url() { # DATABASE BACKEND
    local base="${CV_TEST_POSTGRES_URL%/*}"
    if [ "$2" = postgres-socket ]; then
        local socket_dir
        socket_dir="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$TEST_SERVICES_DIR/postgres")"
        echo "postgres://confvault@$socket_dir:${base##*:}/$1"
    else
        echo "$base/$1"
    fi
}
trap cleanup EXIT

results="$(mktemp)"
token="bench-token-$$"
public_url="https://bench.example.test"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Pre-signed nonces, enough that no thread runs out (wrk's Lua has no HMAC). V3 signs the URL
# and the nonce; each request pairs a unique nonce with a unique body.
nonces="$(mktemp -d)"
per_thread=$(( duration * 60000 )) # the ceiling takes up to about 70k/s over both threads
python3 scripts/bench/sign_nonces.py "$token" "$public_url/vobiz/conference" \
    "$threads" "$per_thread" "$nonces" "${BENCH_NONCES:-random}"

load() { # SHAPE URL OUT; the CPU wrk used goes to OUT.cpu
    local TIMEFORMAT='%U %S' before after
    before="$(head -1 /proc/stat)"
    { time SHAPE="$1" NONCE_DIR="$nonces" wrk -t"$threads" -c"$connections" -d"${duration}s" \
        --latency -s scripts/bench/ingest.lua "$2" > "$3"; } 2> "$3.cpu"
    after="$(head -1 /proc/stat)"
    grep -o 'requests/s=.*' "$3"
    machine_busy "$before" "$after"
}

# How busy the whole machine was during a run, every process counted (PostgreSQL's server
# processes too): a run that leaves cores idle is bound by latency, not by CPU.
machine_busy() { # /proc/stat's cpu line before and after
    python3 - "$1" "$2" <<'PY'
import os, sys
before, after = ([int(x) for x in line.split()[1:]] for line in sys.argv[1:3])
delta = [a - b for a, b in zip(after, before)]
idle = delta[3] + delta[4]  # idle and iowait
total = sum(delta[:8])
print(f"== machine busy {100 * (total - idle) / max(total, 1):.0f}% of {os.cpu_count()} cores during the load")
PY
}

# "PID TICKS" for the cluster's postmaster and each of its processes (backends, WAL writer,
# checkpointer, autovacuum): the CPU PostgreSQL spends, which confvault's threads do not show.
postgres_cpu() {
    local postmaster pid
    postmaster="$(head -1 "$TEST_POSTGRES_DATA/postmaster.pid")"
    for pid in "$postmaster" $(pgrep -P "$postmaster"); do
        awk -v pid="$pid" '{ print pid, $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || true
    done
}

# PostgreSQL's CPU per callback stored between two postgres_cpu readings.
print_postgres_cpu() { # BEFORE_FILE AFTER_FILE STORED
    python3 - "$@" "$(getconf CLK_TCK)" <<'PY'
import sys
before, after = (dict(map(int, line.split()) for line in open(f)) for f in sys.argv[1:3])
stored, ticks = int(sys.argv[3]), int(sys.argv[4])
used = sum(t - before.get(pid, 0) for pid, t in after.items())
print(f"== PostgreSQL's processes: {used / ticks * 1e6 / max(stored, 1):.1f} µs of CPU a callback")
PY
}

# The server's own account of its group commits (/metrics, read just before kill -9): how many
# writes each carried and how long each took from its first write until durable.
print_group_commits() { # METRICS_FILE
    python3 - "$1" <<'PY'
import sys
samples = {}
for line in open(sys.argv[1]):
    if line.startswith("confvault_database_batch_"):
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
commits = samples.get("confvault_database_batch_writes_count", 0)
if commits:
    writes = samples["confvault_database_batch_writes_sum"] / commits
    took = samples["confvault_database_batch_seconds_sum"] / commits * 1000
    print(f"== group commits: {commits:.0f}, {writes:.1f} writes each, {took:.2f} ms from first write to durable on average")
PY
}

# CPU seconds each thread of process PID has used, one "NAME SECONDS" line each.
thread_cpu() { # PID
    local ticks task
    ticks="$(getconf CLK_TCK)"
    for task in /proc/"$1"/task/*; do
        awk -v name="$(tr ' ' _ < "$task/comm")" -v ticks="$ticks" \
            '{ printf "%s %.2f\n", name, ($14 + $15) / ticks }' "$task/stat"
    done
}

# Where the CPU went, per callback stored: the server's threads grouped by what they do, and
# wrk's per request. On two shared cores the load generator competes with the server, so a
# change that frees the server's CPU shows here before it shows in requests/s.
print_cpu() { # THREAD_CPU_FILE WRK_CPU_FILE STORED ANSWERED
    python3 - "$@" <<'PY'
import collections, sys
threads, wrk, stored, answered = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
groups = collections.Counter()
for line in open(threads):
    name, seconds = line.split()
    group = "http" if name.startswith("actix") else name if name.startswith("sqlite") else "other"
    groups[group] += float(seconds)
if set(groups) == {"other"}:  # not confvault (Express): one figure for the whole server
    groups = collections.Counter(server=groups["other"])
parts = [f"{g} {s * 1e6 / max(stored, 1):.1f}" for g, s in groups.most_common()]
user, system = map(float, open(wrk).read().split()[-2:])
print(f"== CPU per callback (µs): {', '.join(parts)}; wrk {(user + system) * 1e6 / max(answered, 1):.1f} per request")
PY
}

check_answers() { # OUT: every answer must be a 200
    local line
    line="$(grep -o 'requests/s=.*' "$1")"
    if ! grep -q 'non2xx=0 connect=0 read=0 write=0 timeout=0' <<<"$line"; then
        echo "FAIL: not every request was answered 200: $line"
        exit 1
    fi
}

# Loads a server that stores nothing (server_pid, in $work), checks every answer and stops it.
measure_stateless() { # LABEL SHAPE URL
    echo "== $1 ($2): wrk ${threads} threads, ${connections} connections, ${duration}s"
    load "$2" "$3" "$work/wrk.out"
    check_answers "$work/wrk.out"
    thread_cpu "$server_pid" > "$work/threads.cpu"
    kill -9 "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
    local answered
    answered="$(grep -o 'acknowledged=[0-9]*' "$work/wrk.out" | cut -d= -f2)"
    print_cpu "$work/threads.cpu" "$work/wrk.out.cpu" "$answered" "$answered"
    echo "server=$1 shape=$2 $(grep -o 'requests/s=[0-9]* p50=[0-9.]*ms p99=[0-9.]*ms' "$work/wrk.out")" >> "$results"
    rm -rf "$work"; work=""
}

run_express() { # SHAPE
    work="$(mktemp -d)"
    local port
    port="$(free_port)"
    NODE_PATH="$express_dir/node_modules" node -e \
        "new Function('require', require('fs').readFileSync(process.argv[1], 'utf8') + '\\napp.listen(' + Number(process.argv[2]) + ');')(require);" \
        "$seed_handler" "$port" > /dev/null 2> "$work/stderr" &
    server_pid=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    measure_stateless express "$1" "http://127.0.0.1:$port/conference-events"
}

run_ceiling() { # SHAPE
    work="$(mktemp -d)"
    ./target/release/examples/ingest_ceiling 127.0.0.1:0 > "$work/stdout" 2> "$work/stderr" &
    server_pid=$!
    for _ in $(seq 100); do
        grep -q "listening on" "$work/stdout" 2>/dev/null && break
        sleep 0.1
    done
    measure_stateless ceiling "$1" "$(grep -o 'http://[0-9.:]*' "$work/stdout" | head -1)/vobiz/conference"
}

# Starts confvault on $work's settings listening on $1; prints its URL.
start_replica() { # LISTEN NAME
    RUST_LOG="${BENCH_LOG:-warn}" "$binary" --config "$work/$2.toml" serve \
        > "$work/$2.stdout" 2> "$work/$2.stderr" &
    local pid=$!
    for _ in $(seq 200); do
        grep -q "listening on" "$work/$2.stdout" 2>/dev/null && break
        sleep 0.1
    done
    grep -q "listening on" "$work/$2.stdout" || { echo "server did not start"; cat "$work/$2.stderr"; exit 1; }
    echo "$pid"
}

settings() { # LISTEN NAME BACKEND_SETTINGS
    cat > "$work/$2.toml" <<TOML
listen = "$1"
data_dir = "$work/data-$2"
public_url = "$public_url"
[vobiz]
auth_token = "$token"
[database]
synchronous = "$synchronous"
$3
TOML
}

run_confvault() { # SHAPE BACKEND [LABEL]
    work="$(mktemp -d)"
    local label="${3:-confvault}"
    local backend="$2" database_settings="" replicas=1 url
    if [ "$backend" != sqlite ]; then
        bench_db=$(( bench_db + 1 ))
        local db="cv_bench_${bench_db}"
        psql_admin -c "CREATE DATABASE $db"
        database_settings="url = \"$(pg_bench_url "$db" "$backend")\""
        [ "$backend" = postgres3 ] && replicas=3
    fi
    if [ "$replicas" = 1 ]; then
        settings "127.0.0.1:0" main "$database_settings"
        server_pid="$(start_replica 127.0.0.1:0 main)"
        url="$(grep -o 'http://[0-9.:]*' "$work/main.stdout" | head -1)"
    else
        local servers="" lb_port
        for i in $(seq "$replicas"); do
            local port
            port="$(free_port)"
            settings "127.0.0.1:$port" "r$i" "$database_settings"
            replica_pids="$replica_pids $(start_replica "127.0.0.1:$port" "r$i")"
            servers="$servers    server r$i 127.0.0.1:$port check inter 1s
"
        done
        lb_port="$(free_port)"
        cat > "$work/haproxy.cfg" <<CFG
global
    maxconn 4000
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
frontend callbacks
    bind 127.0.0.1:$lb_port
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /readyz
$servers
CFG
        haproxy -db -f "$work/haproxy.cfg" > "$work/haproxy.log" 2>&1 &
        haproxy_pid=$!
        url="http://127.0.0.1:$lb_port"
        for _ in $(seq 100); do
            curl -s -o /dev/null -w '%{http_code}' "$url/readyz" 2>/dev/null | grep -q 200 && break
            sleep 0.1
        done
    fi
    ( peak=0; while :; do
          size="$(stat -c %s "$work/data-main/confvault.db-wal" 2>/dev/null || echo 0)"
          [ "$size" -gt "$peak" ] && { peak="$size"; echo "$peak" > "$work/wal-peak"; }
          sleep 0.2
      done ) &
    sampler_pid=$!

    echo "== $label ($binary) on $backend ($1): wrk ${threads} threads, ${connections} connections, ${duration}s, synchronous=${synchronous}"
    local wal_before="" wal_after=""
    if [ "$backend" != sqlite ]; then
        postgres_cpu > "$work/postgres.before"
        wal_before="$(psql_admin -c "SELECT pg_current_wal_lsn()")"
    fi
    load "$1" "$url/vobiz/conference" "$work/wrk.out"
    if [ "$backend" != sqlite ]; then
        postgres_cpu > "$work/postgres.after"
        wal_after="$(psql_admin -c "SELECT pg_current_wal_lsn()")"
    fi
    if [ -n "$server_pid" ]; then
        thread_cpu "$server_pid" > "$work/threads.cpu"
        curl -s "$url/metrics" > "$work/metrics" || true
        kill -9 "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
        print_group_commits "$work/metrics"
    fi
    for pid in $replica_pids; do kill -9 "$pid"; wait "$pid" 2>/dev/null || true; done; replica_pids=""
    [ -n "$haproxy_pid" ] && { kill "$haproxy_pid"; wait "$haproxy_pid" 2>/dev/null || true; haproxy_pid=""; }
    kill "$sampler_pid" 2>/dev/null; wait "$sampler_pid" 2>/dev/null || true; sampler_pid=""
    check_answers "$work/wrk.out"

    local acknowledged stored legs wal_mib
    acknowledged="$(grep -o 'acknowledged=[0-9]*' "$work/wrk.out" | cut -d= -f2)"
    if [ "$backend" = sqlite ]; then
        stored="$(sqlite3 "$work/data-main/confvault.db" 'SELECT COUNT(*) FROM callback_events')"
        legs="$(sqlite3 "$work/data-main/confvault.db" 'SELECT COUNT(*) FROM participants')"
    else
        stored="$(psql_db "cv_bench_${bench_db}" 'SELECT COUNT(*) FROM callback_events')"
        legs="$(psql_db "cv_bench_${bench_db}" 'SELECT COUNT(*) FROM participants')"
        # Group commit at work: how many callbacks each committed transaction carried.
        local commits
        sleep 1 # the server publishes a closed connection's counts within a second
        commits="$(psql_db "cv_bench_${bench_db}" "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")"
        echo "== transactions committed: $commits ($(python3 -c "print(f'{$stored / max($commits, 1):.1f}')") callbacks per commit, housekeeping and workers included)"
    fi
    wal_mib="$(python3 -c "print(f'{int(open(\"$work/wal-peak\").read() or 0) / 2**20:.1f}')" 2>/dev/null || echo 0)"
    echo "== after kill -9: acknowledged (200) = $acknowledged, stored = $stored, legs = $legs, peak WAL = ${wal_mib} MiB"
    [ -f "$work/threads.cpu" ] && print_cpu "$work/threads.cpu" "$work/wrk.out.cpu" "$stored" "$acknowledged"
    if [ "$backend" != sqlite ]; then
        print_postgres_cpu "$work/postgres.before" "$work/postgres.after" "$stored"
        # Deterministic where CPU time is not: what the server wrote to its log per callback.
        echo "== PostgreSQL's WAL: $(psql_admin -c "SELECT round(pg_wal_lsn_diff('$wal_after', '$wal_before') / $stored)") bytes a callback"
    fi
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
    # Counted: the run's database goes, or autovacuum would work through it during the runs
    # after (its workers are the cluster's processes, counted above as the later run's CPU).
    [ "$backend" != sqlite ] && psql_admin -c "DROP DATABASE cv_bench_${bench_db}"
    echo "server=$label/$backend shape=$1 $(grep -o 'requests/s=[0-9]* p50=[0-9.]*ms p99=[0-9.]*ms' "$work/wrk.out") wal_mib=$wal_mib" >> "$results"
    rm -rf "$work"; work=""
}

for round in $(seq "$rounds"); do
    echo "== round $round of $rounds"
    for shape in $shapes; do
        [ "$shape" = legs ] && run_express "$shape"
        [ "$shape" = legs ] && [ -n "${BENCH_CEILING:-}" ] && run_ceiling "$shape"
        for backend in $backends; do
            binary=./target/release/confvault
            run_confvault "$shape" "$backend"
            if [ -n "${BENCH_BASELINE:-}" ]; then
                binary="$BENCH_BASELINE"
                run_confvault "$shape" "$backend" baseline
            fi
        done
    done
done
rm -rf "$nonces"
echo "== medians over $rounds rounds (synchronous=$synchronous, ${duration}s each, ${BENCH_NONCES:-random} nonces)"
python3 - "$results" <<'PY'
import collections, re, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    row = dict(re.findall(r"([\w/-]+)=([\w./-]+)", line))
    runs[(row["server"], row["shape"])].append(row)
medians = {}
for (server, shape), rows in sorted(runs.items()):
    rps = statistics.median(float(r["requests/s"]) for r in rows)
    p50 = statistics.median(float(r["p50"].rstrip("ms")) for r in rows)
    p99 = statistics.median(float(r["p99"].rstrip("ms")) for r in rows)
    medians[(server, shape)] = rps
    wal = ""
    if "wal_mib" in rows[0]:
        wal = f"  peak WAL {max(float(r['wal_mib']) for r in rows):.1f} MiB"
    each = ", ".join(r["requests/s"] for r in rows)
    print(f"{server:20} {shape:4}  {rps:8.0f} requests/s  p50 {p50:5.2f} ms  p99 {p99:6.2f} ms{wal}  (rounds: {each})")
for (server, shape), rps in sorted(medians.items()):
    if server != "express" and shape == "legs" and ("express", "legs") in medians:
        print(f"{server} / express (legs): {rps / medians[('express', 'legs')]:.2f}x")
PY
rm -f "$results"
