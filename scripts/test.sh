#!/usr/bin/env bash
# Every test: lint, native tests, the codec for wasm32, the dashboard build,
# then black-box tests against real binaries (interop clients, headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
source target/tools.env
step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }
t0=$(date +%s)

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "native tests"
cargo test --workspace

step "kite-mqtt and kite-convention build for wasm32"
env $KITE_WASM_ENV CARGO_TARGET_DIR="$KITE_WASM_TARGET_DIR" cargo build -p kite-mqtt -p kite-convention --target wasm32-unknown-unknown

step "dashboard components in headless Chromium (wasm-bindgen-test)"
env $KITE_WASM_ENV CARGO_TARGET_DIR="$KITE_WASM_TARGET_DIR" \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner CHROMEDRIVER=/usr/bin/chromedriver \
  cargo test -p kite-dashboard --target wasm32-unknown-unknown --test web

step "dashboard (release, wasm-opt)"
bash scripts/build-dashboard.sh --release

step "black-box tests: real broker, real devices, mosquitto clients, headless Chromium"
bash scripts/test-e2e.sh

echo
echo "make test: all green in $(( $(date +%s) - t0 )) s"
