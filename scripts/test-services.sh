#!/usr/bin/env bash
# Installs and starts the real servers the integration tests talk to, on 127.0.0.1 with free
# ports, and exports where they are. Sourced by scripts/test.sh; also usable by hand:
#   source scripts/test-services.sh && start_test_services   (… stop_test_services)
#
# S3: s3s-fs (an S3-protocol server in Rust storing objects as files), built once into .tools/.

TEST_TOOLS_DIR="${TEST_TOOLS_DIR:-$PWD/.tools}"
TEST_SERVICES_DIR="${TEST_SERVICES_DIR:-$PWD/.test-services}"
S3S_FS_VERSION=0.14.1

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
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
    command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
}

start_test_services() {
    install_test_services
    rm -rf "$TEST_SERVICES_DIR"
    mkdir -p "$TEST_SERVICES_DIR/s3"

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
}

stop_test_services() {
    [ -n "${TEST_S3_PID:-}" ] && kill "$TEST_S3_PID" 2>/dev/null || true
}
