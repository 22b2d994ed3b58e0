#!/usr/bin/env bash
# Build the dashboard with trunk into dist/ (pass --release for the optimised
# build). Uses the wasm toolchain that scripts/setup.sh chose.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
source target/tools.env
start=$(date +%s)
# --offline: trunk must not try to download tools; they are on PATH.
env $KITE_WASM_ENV CARGO_TARGET_DIR="$KITE_WASM_TARGET_DIR" trunk build --offline "$@"
# Precompressed copies beside each file: the broker serves `x.gz` to browsers
# that accept gzip (tower-http's ServeDir::precompressed_gzip), so the wasm
# travels at about a third of its size without compressing per request.
for file in dist/*.wasm dist/*.js dist/*.css dist/*.html; do
    if [ -f "$file" ]; then gzip -9 -k -f -n "$file"; fi
done
wasm=$(ls -S dist/*.wasm | head -1)
echo "[dashboard] built in $(( $(date +%s) - start )) s: $wasm ($(stat -c %s "$wasm") bytes, $(stat -c %s "$wasm.gz") gzipped)"
