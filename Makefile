# Kite: the two commands a new user needs are `make run` and `make test`.
# Each sets up what is missing first (scripts/setup.sh), then does its job.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: bench-alarms bench-history help setup dashboard dashboard-dev build run cluster test test-native test-e2e lint fmt clean fuzz bench

help:
	@echo "make run    - set up, build, start broker + dashboard + devices (Ctrl-C stops all)"
	@echo "make test   - set up, then lint and run every test (native, wasm build, browser, interop)"
	@echo "make cluster - three NATS servers and three Kite nodes on loopback, with dashboard and devices"
	@echo "make dashboard / build / lint / test-native / test-e2e / fmt / clean"

setup:
	@bash scripts/setup.sh

dashboard: setup
	@bash scripts/build-dashboard.sh --release

build: setup
	cargo build --release -p kite-server -p kite-devices

run: dashboard build
	@bash scripts/run.sh

cluster: dashboard build
	@bash scripts/cluster.sh

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

# Fuzzing (cargo-fuzz + libFuzzer, nightly toolchain): the codec
# (mqtt/fuzz: decode_v31 decode_v311 decode_v5 topic) and the parsers of what
# clients and operators send besides packets (server/fuzz: alarm_rule
# acl_file password_file config_toml, and stream_message: what a cluster node
# reads from the kite_messages stream). Each target runs FUZZ_SECONDS on one
# core, starting from its committed corpus <crate>/fuzz/corpus/<target>/,
# which is then minimized (cargo fuzz cmin) so the repository keeps a small
# corpus that covers as much; an input taking over FUZZ_TIMEOUT seconds is a
# finding (a hang), as is a panic or a sanitizer error; findings land in
# <crate>/fuzz/artifacts/<target>/ and the next target still runs.
FUZZ_SECONDS ?= 60
FUZZ_TIMEOUT ?= 10
FUZZ_TARGETS := $(addprefix mqtt/,decode_v31 decode_v311 decode_v5 topic) \
	$(addprefix server/,alarm_rule acl_file password_file config_toml stream_message)

fuzz:
	@command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	cd mqtt && cargo +nightly fuzz build
	cd server && cargo +nightly fuzz build
	@status=0; for path in $(FUZZ_TARGETS); do \
		crate=$${path%/*}; target=$${path#*/}; corpus=$$crate/fuzz/corpus/$$target; \
		mkdir -p $$corpus; \
		echo "== fuzz $$crate $$target for $(FUZZ_SECONDS) s from $$(ls $$corpus | wc -l) inputs"; \
		(cd $$crate && cargo +nightly fuzz run $$target -- -max_total_time=$(FUZZ_SECONDS) \
			-timeout=$(FUZZ_TIMEOUT) -print_final_stats=1) || status=1; \
		echo "== cmin $$crate $$target: $$(ls $$corpus | wc -l) inputs"; \
		(cd $$crate && cargo +nightly fuzz cmin $$target) || status=1; \
		echo "== corpus $$crate $$target: $$(ls $$corpus | wc -l) inputs, $$(cat $$corpus/* 2>/dev/null | wc -c) bytes"; \
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

# Kite's bridge beside Mosquitto's (QoS 1, each to a far Mosquitto on
# loopback), 5 rounds; results in bench/results/bridge/full/.
.PHONY: bench-bridge
bench-bridge: bench-setup
	cargo run --release -p kite-bench -- bridge

# Issue #17: a 3-node Kite cluster (on 3 NATS JetStream servers) against a
# 3-node nats-server cluster's own MQTT and single-node Kite, publishers and
# subscribers on different nodes, all started by kite-bench on loopback;
# results in bench/results/cluster/.
# The cluster's fault test, longer and several times, the kill moments drawn
# anew each round (KITE_FAULT_SEED=… replays a run; see the README, "Cluster").
.PHONY: soak-cluster
soak-cluster: setup
	KITE_FAULT_ROUNDS=$${KITE_FAULT_ROUNDS:-5} KITE_FAULT_SECONDS=$${KITE_FAULT_SECONDS:-60} \
		cargo test -p kite-server --test cluster_fault -- --nocapture

.PHONY: bench-cluster
bench-cluster: setup
	cargo build --release -p kite-server -p kite-bench
	cargo run --release -p kite-bench -- compare --cluster

# Issue #20, point 2: the persistent queue's workload on storage engines
# (redb as Kite uses it, redb with one record per round, fjall, an append-only
# segment log, and Kite's own store), interleaved, 3 repetitions, plus
# recovery (1M written, 10k live) and a SIGKILL crash check; about 7 minutes.
# fjall and Kite's store need the bench crate's `engines` feature, off in
# the default build. Results in bench/results/store-engines/.
.PHONY: bench-store
bench-store: setup
	cargo build --release -p kite-bench --features engines
	cargo run --release -p kite-bench --features engines -- store-engines

# The history's cost (1,000 devices), interleaved with and without it, and a simulated day.
bench-history: bench-setup
	cargo build --release -p kite-devices -p kite-server --example history_day
	@bash scripts/bench-history.sh

# The alarm engine's cost (100 rules, 1,000 devices), interleaved with and without rules.
bench-alarms: bench-setup
	cargo build --release -p kite-devices
	@bash scripts/bench-alarms.sh
