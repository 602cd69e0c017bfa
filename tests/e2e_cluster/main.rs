//! Trust tests against real OpenBao processes (from `BAO_BIN`): the plugin
//! process SIGKILLed under a concurrent create and redeem load (`crash`, on
//! a `-dev` server), a persistent Raft server stopped by SIGTERM or killed
//! and started again on its data dir (`restart`), and a 3-node Raft cluster
//! losing its leader twice, by SIGTERM and by SIGKILL (`ha`). Every server
//! runs on 127.0.0.1 with ports checked free, keeps its data in a temp dir,
//! and is stopped by PID when its guard drops (also on panic, printing its
//! log tail). The heavy tests take turns (see [`exclusive`]).
//!
//! Run with `make test-ha` (or `make test`), or `make bao` once and then
//! `BAO_BIN=$PWD/.venv/bin/bao PYTHON_BIN=$PWD/.venv/bin/python cargo test --test e2e_cluster -- --nocapture`.
//! Each test prints its figures (requests, kills, failovers, timings) to stderr.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Mutex, MutexGuard};

#[allow(dead_code)]
#[path = "../e2e_bao/harness.rs"]
mod harness;

#[allow(dead_code)]
#[path = "../e2e_bao/expect.rs"]
mod expect;

#[path = "../oracle/mod.rs"]
mod oracle;

mod client;
mod load;
mod server;
mod totp;

mod crash;
mod ha;
mod restart;
mod secrecy;
mod upgrade;

/// Held by each test while its servers run: at most one server or cluster
/// of this crate at a time (the tests are CPU-heavy and timing-sensitive).
static HEAVY: Mutex<()> = Mutex::new(());

/// Waits for the other tests of this crate to finish with their servers.
pub fn exclusive() -> MutexGuard<'static, ()> {
    // A panicking test poisons the lock; the next one may still run.
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}
