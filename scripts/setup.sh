#!/usr/bin/env bash
# Install whatever is missing to build and test Kite on a Debian machine that
# has only rustup. Every step checks first, so a machine that is already set
# up passes through in seconds.
#
# Writes target/tools.env: the variables that the wasm build needs (sourced
# by the other scripts).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS="$ROOT/.tools"
ENV_FILE="$ROOT/target/tools.env"
TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132
mkdir -p "$TOOLS" "$ROOT/target"

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# --- Debian packages -------------------------------------------------------
APT_UPDATED=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    $SUDO apt-get update -qq
    APT_UPDATED=1
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Native build needs a C toolchain (ring, etc.); tests need a browser, its
# driver, Mosquitto's clients (interop) and broker (benchmarks), Python.
apt_install build-essential pkg-config chromium chromium-driver mosquitto mosquitto-clients openssl
# Python and Node may come from elsewhere (pyenv, nvm): install Debian's only when absent.
command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3 python3-venv
command -v npm >/dev/null || apt_install nodejs npm

# --- Rust toolchain: the ordinary one, plus rustfmt and clippy -------------
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install rustup first (https://rustup.rs)" >&2
  exit 1
fi
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

# --- wasm32 toolchain --------------------------------------------------------
# Prefer the ordinary rustup target. Where rustup cannot download it (it hangs
# on some networks), build std for wasm32 from Debian's rustc-web sources.
WASM_MODE=""
if rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  WASM_MODE=rustup
elif rustup toolchain list 2>/dev/null | grep -q '^debian-web' && [ -d /usr/lib/rustlib/src/rust/library ] && command -v rust-lld >/dev/null; then
  WASM_MODE=debian
elif [ -f "$TOOLS/rustup-target-failed" ]; then
  WASM_MODE=debian-install
else
  log "rustup target add wasm32-unknown-unknown (60 s at most)"
  if timeout 60 rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
    WASM_MODE=rustup
  else
    touch "$TOOLS/rustup-target-failed"
    WASM_MODE=debian-install
  fi
fi
if [ "$WASM_MODE" = debian-install ]; then
  log "wasm32 through Debian's rustc-web and -Zbuild-std"
  apt_install rustc-web cargo-web rust-web-src rust-web-llvm lld-22
  rustup toolchain list | grep -q '^debian-web' || rustup toolchain link debian-web /usr
  WASM_MODE=debian
fi

{
  echo "# written by scripts/setup.sh"
  echo "export PATH=\"$TOOLS/node_modules/.bin:\$HOME/.cargo/bin:\$PATH\""
  # The wasm build keeps its own target dir: another toolchain, other artefacts.
  echo "export KITE_WASM_TARGET_DIR=\"$ROOT/target/wasm\""
  if [ "$WASM_MODE" = debian ]; then
    echo "export KITE_WASM_ENV=\"RUSTUP_TOOLCHAIN=debian-web RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort\""
  else
    echo "export KITE_WASM_ENV=\"\""
  fi
} >"$ENV_FILE"

# --- trunk and wasm-bindgen ------------------------------------------------
export PATH="$HOME/.cargo/bin:$PATH"
if ! trunk --version 2>/dev/null | grep -q "$TRUNK_VERSION"; then
  log "cargo install trunk $TRUNK_VERSION (several minutes, once)"
  cargo install trunk --version "$TRUNK_VERSION" --locked
fi
# wasm-bindgen's CLI must match the crate in Cargo.lock exactly.
WBG_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock 2>/dev/null || true)
WBG_VERSION=${WBG_VERSION:-0.2.130}
if ! wasm-bindgen --version 2>/dev/null | grep -q "$WBG_VERSION"; then
  log "cargo install wasm-bindgen-cli $WBG_VERSION (a few minutes, once)"
  # Not --locked: its lock file pins a webpki-roots release the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$WBG_VERSION"
fi

# --- wasm-opt ----------------------------------------------------------------
# Debian's binaryen is too old for wasm-bindgen's output; the npm build is current.
if ! "$TOOLS/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version $BINARYEN_VERSION"; then
  log "npm install binaryen@$BINARYEN_VERSION"
  (cd "$TOOLS" && npm install --silent --no-audit --no-fund "binaryen@$BINARYEN_VERSION" >/dev/null)
fi

# --- Python test helpers, in a project-local venv ---------------------------
VENV="$ROOT/.venv"
REQ="$ROOT/tests/requirements.txt"
if [ ! -x "$VENV/bin/python" ]; then
  log "creating .venv"
  python3 -m venv "$VENV"
fi
if ! cmp -s "$REQ" "$VENV/.installed-requirements" 2>/dev/null; then
  log "pip install -r tests/requirements.txt"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
  cp "$REQ" "$VENV/.installed-requirements"
fi

log "ready (wasm: $WASM_MODE)"
