//! The trust suite against a real OpenBao (`bao server -dev`, from
//! `BAO_BIN`): hostile inputs, secrets in logs and the audit log, resource
//! bounds, and the plugin process's socket and lifetime under a real host.
//! Reuses the `e2e_bao` harness; each test function starts its own server.
//! See TRUST.md for the guarantees and the figures measured.
//!
//! Run with `make test`, or `make bao` once and then
//! `BAO_BIN=$PWD/.venv/bin/bao PYTHON_BIN=$PWD/.venv/bin/python cargo test --test e2e_trust -- --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../e2e_bao/expect.rs"]
mod expect;
#[allow(dead_code)]
#[path = "../e2e_bao/harness.rs"]
mod harness;

#[path = "../oracle/mod.rs"]
mod oracle;

mod raw;

#[path = "../support/mod.rs"]
mod support;

mod channel;
mod hostile;
mod resources;
mod secrets;
