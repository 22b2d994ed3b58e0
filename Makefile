# Kite: the two commands a new user needs are `make run` and `make test`.
# Each sets up what is missing first (scripts/setup.sh), then does its job.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: bench-alarms help setup dashboard dashboard-dev build run test test-native test-e2e lint fmt clean fuzz bench

help:
	@echo "make run    - set up, build, start broker + dashboard + devices (Ctrl-C stops all)"
	@echo "make test   - set up, then lint and run every test (native, wasm build, browser, interop)"
	@echo "make dashboard / build / lint / test-native / test-e2e / fmt / clean"

setup:
	@bash scripts/setup.sh

dashboard: setup
	@bash scripts/build-dashboard.sh --release

build: setup
	cargo build --release -p kite-server -p kite-devices

run: dashboard build
	@bash scripts/run.sh

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

test-native: setup
	cargo test --workspace

test-e2e: setup
	@bash scripts/test-e2e.sh

test: setup
	@bash scripts/test.sh

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf dist

# Fuzz the codec (mqtt/fuzz, cargo-fuzz + libFuzzer, nightly toolchain): each
# target runs FUZZ_SECONDS; findings land in mqtt/fuzz/artifacts/<target>/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := decode_v31 decode_v311 decode_v5 topic

fuzz:
	@command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	cd mqtt && cargo +nightly fuzz build
	cd mqtt && status=0; for target in $(FUZZ_TARGETS); do \
		echo "== fuzz $$target for $(FUZZ_SECONDS) s"; \
		cargo +nightly fuzz run $$target -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || status=1; \
	done; exit $$status

# Codec benchmarks (criterion): mqtt/benches/codec.rs; then the broker
# comparison (kite-bench compare, about ten minutes, see bench-quick below).
bench: bench-setup
	cargo bench -p kite-mqtt
	cargo run --release -p kite-bench -- compare

# Broker comparison (bench/, kite-bench): kite-server (release) against
# Debian's Mosquitto and rumqttd, each started on loopback ports by
# kite-bench itself; results in bench/results/<quick|full>/. rumqttd is
# installed from crates.io (not --locked: its lock file pins a `metrics`
# release that current compilers reject).
RUMQTTD_VERSION := 0.20.0
.PHONY: bench-setup bench-quick
bench-setup: setup
	@command -v rumqttd >/dev/null 2>&1 || test -x "$$HOME/.cargo/bin/rumqttd" || cargo install rumqttd --version $(RUMQTTD_VERSION)
	cargo build --release -p kite-server -p kite-bench

bench-quick: bench-setup
	cargo run --release -p kite-bench -- compare --quick

# The alarm engine's cost (100 rules, 1,000 devices), interleaved with and without rules.
bench-alarms: bench-setup
	cargo build --release -p kite-devices
	@bash scripts/bench-alarms.sh
