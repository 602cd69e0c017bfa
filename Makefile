# Every target installs what it needs; see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := build

VENV := .venv
VENV_STAMP := $(VENV)/.installed
BAO := $(abspath $(VENV))/bin/bao
PYTHON := $(abspath $(VENV))/bin/python
PLUGIN := vault-plugin-auth-ratls
# The shipped binary is linked statically (glibc's static-pie: no dynamic
# loader, no libc at run time), so it starts where Vault does: the Alpine
# (musl) server images, RHEL 8, Ubuntu 20.04, Debian 11, Amazon Linux 2.
# An explicit --target keeps the flag off build scripts and proc macros.
TARGET := $(shell rustc -vV | sed -n 's/^host: //p')
RELEASE_BIN := target/$(TARGET)/release/$(PLUGIN)
# What every process and end-to-end test launches: the release binary, so
# that what is tested is what ships.
TEST_ENV := RATLS_PLUGIN_BIN=$(abspath $(RELEASE_BIN)) BAO_BIN=$(BAO) PYTHON_BIN=$(PYTHON)

.PHONY: build release prev-release bao test test-fast test-ha test-heavy fuzz lint dev dev-stop wrk bench clean

build:
	cargo build --locked

release:
	RUSTFLAGS="-C target-feature=+crt-static" cargo build --locked --release --target $(TARGET)
	@sha256sum $(RELEASE_BIN)

# A project-local virtualenv with the pinned OpenBao and test clients.
$(VENV_STAMP): requirements-test.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $@

bao: $(VENV_STAMP)

# Two earlier releases, built once from git history (cached under target/prev/),
# for the upgrade tests: what operators run before they upgrade. The previous
# release, v0.2.2 (storage layout v2), and the first, v0.1.0 (layout v1).
PREV_VERSION := v0.2.2
PREV_COMMIT := d1ea46b
V010_VERSION := v0.1.0
V010_COMMIT := 8747a88
PREV_DIR := target/prev
# One target dir for both builds, so that their dependencies compile once.
PREV_TARGET := $(PREV_DIR)/target
PREV_BIN := $(PREV_DIR)/$(PLUGIN)-$(PREV_VERSION)
V010_BIN := $(PREV_DIR)/$(PLUGIN)-$(V010_VERSION)

# Every test run by make needs OpenBao and both earlier releases: a missing
# one fails instead of skipping.
E2E_ENV := RATLS_REQUIRE_BAO=1 RATLS_PREV_PLUGIN_BIN=$(abspath $(PREV_BIN)) \
  RATLS_V010_PLUGIN_BIN=$(abspath $(V010_BIN)) $(TEST_ENV)

# $(call old_release,<commit>,<version>,<binary>): the sources of <commit>
# in their own dir, built in the shared target dir; the binary is copied out
# at once, since the other release's build writes the same path there.
define old_release
rm -rf $(PREV_DIR)/src-$(2) && mkdir -p $(PREV_DIR)/src-$(2)
git archive $(1) | tar -x -C $(PREV_DIR)/src-$(2)
cd $(PREV_DIR)/src-$(2) && CARGO_TARGET_DIR=$(abspath $(PREV_TARGET)) cargo build --locked --bin $(PLUGIN)
cp $(PREV_TARGET)/debug/$(PLUGIN) $(3)
endef

$(V010_BIN):
	$(call old_release,$(V010_COMMIT),$(V010_VERSION),$@)

# After v0.1.0's build (order only): the two share the target dir, one at a
# time, also under `make -j`.
$(PREV_BIN): | $(V010_BIN)
	$(call old_release,$(PREV_COMMIT),$(PREV_VERSION),$@)

prev-release: $(PREV_BIN) $(V010_BIN)

# Unit, in-process gRPC, process and end-to-end tests (against a real `bao server`),
# the trust suite and the crash, restart and HA cluster tests, then `make test-ha`'s
# heavy resource run (10,000 creates).
test: release $(PREV_BIN) $(V010_BIN) $(VENV_STAMP)
	$(E2E_ENV) cargo test --locked -- --test-threads=4
	$(MAKE) --no-print-directory test-heavy

# The quick loop: everything that needs no OpenBao (unit tests, a short fuzz
# pass, in-process gRPC, process handshake, channel security).
test-fast:
	cargo test --locked --lib --test fuzz_dispatch --test grpc_backend --test handshake --test channel_security

test-heavy: release $(VENV_STAMP)
	RATLS_HEAVY=1 $(E2E_ENV) cargo test --locked --test e2e_trust resources -- --nocapture

# Crash safety under load, restart durability and a 3-node Raft cluster.
test-ha: release $(PREV_BIN) $(V010_BIN) $(VENV_STAMP)
	$(E2E_ENV) cargo test --locked --test e2e_cluster -- --nocapture
	$(MAKE) --no-print-directory test-heavy

# Longer property-based fuzzing of request decoding, routing and validation
# (`make test` runs a short pass). FUZZ_CASES sets the number of cases.
FUZZ_CASES ?= 200000
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) cargo test --locked --release --test fuzz_dispatch -- --nocapture

lint:
	cargo fmt --check
	cargo clippy --locked --all-targets -- -D warnings

# A real OpenBao dev server on 127.0.0.1 with the plugin registered and
# enabled at auth/ratls. Stop it with `make dev-stop`.
dev: release $(VENV_STAMP)
	BAO_BIN=$(BAO) PLUGIN_BIN=$(RELEASE_BIN) scripts/dev.sh

dev-stop:
	scripts/dev.sh stop

# The HTTP load generator of the benchmarks: Debian's wrk (LuaJIT scripts in bench/wrk/).
wrk:
	@command -v wrk >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk)

# Side-by-side benchmarks against OpenBao's built-in engines (not part of `make test`),
# driven by wrk; writes bench/results.md (or BENCH_RESULTS; see bench/run.sh).
bench: release $(VENV_STAMP) wrk
	cargo bench --locked --bench dispatch
	cargo build --locked --release --example handshake --example null_plugin
	BAO_BIN=$(BAO) PLUGIN_BIN=$(RELEASE_BIN) HANDSHAKE_BIN=target/release/examples/handshake \
	  NULL_PLUGIN_BIN=target/release/examples/null_plugin \
	  WRK_BIN=$$(command -v wrk) PYTHON_BIN=$(PYTHON) bench/run.sh

clean:
	cargo clean
	rm -rf $(VENV) .dev
