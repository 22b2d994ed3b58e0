#!/usr/bin/env bash
# Black-box tests in tests/e2e against the debug binaries and the built dashboard.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -p kite-server -p kite-devices
[ -f dist/index.html ] || bash scripts/build-dashboard.sh --release
export KITE_BIN_DIR="$PWD/target/debug" KITE_DIST="$PWD/dist" SE_OFFLINE=true
mkdir -p target/e2e-artifacts
.venv/bin/python -m pytest tests/e2e -v --junitxml=target/e2e-artifacts/junit.xml "$@"
