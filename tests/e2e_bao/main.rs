//! End-to-end tests against a real OpenBao (`bao server -dev`, from
//! `BAO_BIN`): the plugin is registered by sha256 from a private plugin
//! directory, enabled, and driven over HTTP, the `bao` CLI and the source
//! document's curl / Python / JavaScript samples. Stored state is read back
//! through `sys/raw`. Each test function starts its own server.
//!
//! Run with `make test`, or `make bao` once and then
//! `BAO_BIN=$PWD/.venv/bin/bao PYTHON_BIN=$PWD/.venv/bin/python cargo test --test e2e_bao`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod expect;
mod harness;
#[path = "../oracle/mod.rs"]
mod oracle;

mod acl;
mod acl_accessor;
mod acl_lifecycle;
mod bad_inputs;
mod cli_errors;
mod codes;
mod crash;
mod delete;
mod expiry;
mod introspection;
mod lifecycle;
mod race;
mod read_list;
mod redeem;
mod samples;
mod throttle;
mod totp_help;
