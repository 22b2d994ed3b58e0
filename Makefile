# Kite: the two commands a new user needs are `make run` and `make test`.
# Each sets up what is missing first (scripts/setup.sh), then does its job.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help setup dashboard dashboard-dev build run test test-native test-e2e lint fmt clean

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
