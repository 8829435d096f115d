#!/usr/bin/env bash
# Installs and starts the real servers the integration tests talk to, on 127.0.0.1 with free
# ports, and exports where they are. Sourced by scripts/test.sh; also usable by hand:
#   source scripts/test-services.sh && start_test_services   (… stop_test_services)
#
# S3: s3s-fs (an S3-protocol server in Rust storing objects as files), built once into .tools/.
# SMTP: aiosmtpd (PyPI) in a venv in .tools/venv, run by scripts/smtp_test_server.py: a plain
# listener and a STARTTLS + AUTH one with a self-signed certificate, delivering to a Maildir.
# Browser: Debian's chromium and chromium-driver, for the web page tests (tests/browser.rs,
# tests/timeline.rs), and axe-core (npm) in .tools/axe, the accessibility check they run.
# API conformance: schemathesis (PyPI) in the same venv, run by scripts/api-conformance.sh.
# Load balancer: Debian's haproxy, run by the replica test (tests/replicas.rs) on its own config.
# PostgreSQL: a throwaway cluster of its own (initdb on a free port under .test-services/, run
# as the postgres user when we are root), from Debian's postgresql when initdb is missing; never
# a server that happens to be running on the machine.

TEST_TOOLS_DIR="${TEST_TOOLS_DIR:-$PWD/.tools}"
TEST_SERVICES_DIR="${TEST_SERVICES_DIR:-$PWD/.test-services}"
S3S_FS_VERSION=0.14.1
SCHEMATHESIS_VERSION=4.32.5
AXE_CORE_VERSION=4.14.1

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

postgres_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

# Runs a PostgreSQL program as the user that owns the cluster (initdb refuses root).
as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

wait_for_http() {
    local url="$1" name="$2"
    for _ in $(seq 100); do
        if curl -s -o /dev/null "$url"; then return 0; fi
        sleep 0.1
    done
    echo "$name did not start; its log:" >&2
    cat "$TEST_SERVICES_DIR/$name.log" >&2 || true
    return 1
}

install_test_services() {
    if [ ! -x "$TEST_TOOLS_DIR/bin/s3s-fs" ]; then
        echo "== installing s3s-fs $S3S_FS_VERSION (once, about 2 minutes)"
        cargo install s3s-fs --version "$S3S_FS_VERSION" --features binary --locked \
            --root "$TEST_TOOLS_DIR" --quiet
    fi
    if [ ! -x "$TEST_TOOLS_DIR/venv/bin/python" ] || ! "$TEST_TOOLS_DIR/venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
        echo "== installing aiosmtpd into $TEST_TOOLS_DIR/venv"
        python3 -m venv "$TEST_TOOLS_DIR/venv"
        "$TEST_TOOLS_DIR/venv/bin/pip" install -q aiosmtpd==1.4.6
    fi
    if [ ! -x "$TEST_TOOLS_DIR/venv/bin/st" ]; then
        echo "== installing schemathesis into $TEST_TOOLS_DIR/venv"
        "$TEST_TOOLS_DIR/venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
    fi
    if [ -z "$(postgres_bin)" ] || [ ! -x "$(postgres_bin)/initdb" ]; then
        echo "== installing postgresql (Debian)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    if ! command -v haproxy >/dev/null; then
        echo "== installing haproxy (Debian)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
    fi
    command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
    command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl >/dev/null; }
    if [ ! -x /usr/bin/chromium ] || ! command -v chromedriver >/dev/null; then
        echo "== installing chromium and chromium-driver (Debian)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    fi
    if [ ! -f "$TEST_TOOLS_DIR/axe/node_modules/axe-core/axe.min.js" ]; then
        command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
        echo "== installing axe-core $AXE_CORE_VERSION (npm) into $TEST_TOOLS_DIR/axe"
        mkdir -p "$TEST_TOOLS_DIR/axe"
        npm install --silent --no-audit --no-fund --prefix "$TEST_TOOLS_DIR/axe" \
            "axe-core@$AXE_CORE_VERSION" >/dev/null
    fi
}

wait_for_port() {
    local port="$1" name="$2"
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "$name did not start; its log:" >&2
    cat "$TEST_SERVICES_DIR/$name.log" >&2 || true
    return 1
}

start_test_services() {
    install_test_services
    rm -rf "$TEST_SERVICES_DIR"
    mkdir -p "$TEST_SERVICES_DIR/s3"
    export CV_TEST_AXE_JS="$TEST_TOOLS_DIR/axe/node_modules/axe-core/axe.min.js"

    local s3_port
    s3_port="$(free_port)"
    export CV_TEST_S3_ACCESS_KEY="confvault-test"
    export CV_TEST_S3_SECRET_KEY="confvault-test-secret"
    "$TEST_TOOLS_DIR/bin/s3s-fs" --host 127.0.0.1 --port "$s3_port" \
        --access-key "$CV_TEST_S3_ACCESS_KEY" --secret-key "$CV_TEST_S3_SECRET_KEY" \
        "$TEST_SERVICES_DIR/s3" > "$TEST_SERVICES_DIR/s3s-fs.log" 2>&1 &
    TEST_S3_PID=$!
    export CV_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port"
    export CV_TEST_S3_ROOT="$TEST_SERVICES_DIR/s3"
    wait_for_http "$CV_TEST_S3_ENDPOINT/" s3s-fs
    echo "== s3s-fs listening on $CV_TEST_S3_ENDPOINT"

    mkdir -p "$TEST_SERVICES_DIR/smtp"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
        -keyout "$TEST_SERVICES_DIR/smtp/key.pem" -out "$TEST_SERVICES_DIR/smtp/cert.pem" 2>/dev/null
    export CV_TEST_SMTP_PLAIN_PORT="$(free_port)"
    export CV_TEST_SMTP_TLS_PORT="$(free_port)"
    export CV_TEST_SMTP_MAILDIR="$TEST_SERVICES_DIR/smtp/maildir"
    export CV_TEST_SMTP_CA="$TEST_SERVICES_DIR/smtp/cert.pem"
    export CV_TEST_SMTP_USER="confvault"
    export CV_TEST_SMTP_PASSWORD="smtp-test-password-$$"
    "$TEST_TOOLS_DIR/venv/bin/python" scripts/smtp_test_server.py "$CV_TEST_SMTP_MAILDIR" \
        "$CV_TEST_SMTP_PLAIN_PORT" "$CV_TEST_SMTP_TLS_PORT" "$CV_TEST_SMTP_CA" \
        "$TEST_SERVICES_DIR/smtp/key.pem" "$CV_TEST_SMTP_USER" "$CV_TEST_SMTP_PASSWORD" \
        > "$TEST_SERVICES_DIR/aiosmtpd.log" 2>&1 &
    TEST_SMTP_PID=$!
    wait_for_port "$CV_TEST_SMTP_PLAIN_PORT" aiosmtpd
    wait_for_port "$CV_TEST_SMTP_TLS_PORT" aiosmtpd
    echo "== aiosmtpd listening on 127.0.0.1:$CV_TEST_SMTP_PLAIN_PORT (plain) and :$CV_TEST_SMTP_TLS_PORT (STARTTLS + AUTH)"

    start_test_postgres
    export CV_TEST_HAPROXY="$(command -v haproxy)"
}

start_test_postgres() {
    local bin pg_dir pg_port
    bin="$(postgres_bin)"
    pg_dir="$TEST_SERVICES_DIR/postgres"
    mkdir -p "$pg_dir"
    [ "$(id -u)" = 0 ] && chown postgres "$pg_dir"
    as_postgres "$bin/initdb" -D "$pg_dir/data" -U confvault --auth=trust -E UTF8 --no-sync         > "$TEST_SERVICES_DIR/postgres.log" 2>&1
    pg_port="$(free_port)"
    # TLS on, with a certificate from a CA of our own, so sslmode=verify-full is tested for
    # real (plain connections stay allowed).
    local tls="$pg_dir/tls"
    mkdir -p "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=confvault test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$tls/server.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
        -days 2 -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
    chmod 600 "$tls/server.key"
    [ "$(id -u)" = 0 ] && chown -R postgres "$tls"
    # Durability is not what these tests measure: fsync off keeps the cluster quick (the
    # ingest benchmark sets TEST_POSTGRES_FSYNC=on, to compare like with like).
    as_postgres "$bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 30 start \
        -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=${TEST_POSTGRES_FSYNC:-off} -c max_connections=300 -c ssl=on -c ssl_cert_file=$tls/server.pem -c ssl_key_file=$tls/server.key" \
        >> "$TEST_SERVICES_DIR/postgres.log" 2>&1 || { cat "$pg_dir/server.log" >&2; return 1; }
    TEST_POSTGRES_DATA="$pg_dir/data"
    export CV_TEST_POSTGRES_URL="postgres://confvault@127.0.0.1:$pg_port/postgres"
    export CV_TEST_POSTGRES_CA="$tls/ca.pem"
    echo "== PostgreSQL $("$bin/postgres" --version | awk '{print $3}') listening on 127.0.0.1:$pg_port"
}

stop_test_services() {
    [ -n "${TEST_S3_PID:-}" ] && kill "$TEST_S3_PID" 2>/dev/null || true
    [ -n "${TEST_SMTP_PID:-}" ] && kill "$TEST_SMTP_PID" 2>/dev/null || true
    if [ -n "${TEST_POSTGRES_DATA:-}" ]; then
        as_postgres "$(postgres_bin)/pg_ctl" -D "$TEST_POSTGRES_DATA" -m immediate stop >/dev/null 2>&1 || true
    fi
}
