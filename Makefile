# Every target installs what it needs; see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := build

VENV := .venv
VENV_STAMP := $(VENV)/.installed
BAO := $(abspath $(VENV))/bin/bao
PYTHON := $(abspath $(VENV))/bin/python
PLUGIN := vault-plugin-auth-ratls

.PHONY: build release test lint dev dev-stop clean

build:
	cargo build --locked

release:
	cargo build --locked --release

# A project-local virtualenv with the pinned OpenBao and test clients.
$(VENV_STAMP): requirements-test.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $@

bao: $(VENV_STAMP)

# Unit, in-process gRPC, process and end-to-end tests (against a real `bao server`).
test: $(VENV_STAMP)
	BAO_BIN=$(BAO) PYTHON_BIN=$(PYTHON) cargo test --locked -- --test-threads=4

lint:
	cargo fmt --check
	cargo clippy --locked --all-targets -- -D warnings

# A real OpenBao dev server on 127.0.0.1 with the plugin registered and
# enabled at auth/ratls. Stop it with `make dev-stop`.
dev: release $(VENV_STAMP)
	BAO_BIN=$(BAO) PLUGIN_BIN=target/release/$(PLUGIN) scripts/dev.sh

dev-stop:
	scripts/dev.sh stop

clean:
	cargo clean
	rm -rf $(VENV) .dev
