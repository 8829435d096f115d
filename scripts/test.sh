#!/usr/bin/env bash
# The README's test command: installs and starts what the tests need on a fresh machine, then
# runs formatting, lints and every test. Safe to run again; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== toolchain"
cargo --version
rustup component list --installed 2>/dev/null | grep -qE '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -qE '^clippy' || rustup component add clippy

# Test services (real S3 and SMTP servers) are installed and started here once the tests need
# them; see scripts/test-services.sh.
if [ -x scripts/test-services.sh ]; then
    # shellcheck source=/dev/null
    source scripts/test-services.sh
    start_test_services
    trap stop_test_services EXIT
fi

echo "== cargo fmt --check"
cargo fmt --check

echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --all-targets --locked

# The end-to-end suites again with every server on PostgreSQL (a fresh database each on the
# throwaway cluster), so both backends are proven by the same tests of the real binary.
echo "== cargo test, servers on PostgreSQL"
CV_TEST_DATABASE=postgres cargo test --locked --test ingest --test archive --test mail \
    --test sync --test query --test ops --test logs --test web --test timeline --test webhooks --test random_callbacks

echo "== API conformance (schemathesis against the published OpenAPI document)"
bash scripts/api-conformance.sh
