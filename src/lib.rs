//! `vault-plugin-auth-ratls`: the Nitride RA-TLS TOTP API as an external auth
//! plugin for HashiCorp Vault and OpenBao.
//!
//! Layers, each depending only on those above it:
//! - [`transport`]: go-plugin (handshake, AutoMTLS, broker, controller, logs);
//! - [`protocol`]: Vault's backend protocol (requests, routing, storage);
//! - [`domain`]: TOTP entries and their rules, free of I/O;
//! - [`backend`]: the plugin's paths and handlers, joining the two.

pub mod backend;
pub mod domain;
pub mod pb;
pub mod protocol;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod transport;

use std::io::Write as _;
use std::sync::Arc;

use anyhow::Context as _;

use crate::backend::RatlsBackend;
use crate::protocol::{BackendServer, LogicalBackend as _, Router};
use crate::transport::{HandshakeConfig, PluginEnv, PreparedPlugin};

pub use backend::PLUGIN_VERSION;

/// Vault's handshake for backend plugins: the cookie of `sdk/plugin/serve.go`
/// and application protocol 5 (gRPC with AutoMTLS).
pub const HANDSHAKE: HandshakeConfig = HandshakeConfig {
    cookie_key: "VAULT_BACKEND_PLUGIN",
    cookie_value: "6669da05-b1c8-4f49-97d9-c8e5bed98e20",
    app_version: 5,
};

/// Runs the plugin as the host launched it, until the host shuts it down or
/// `parent` (the host's pid, read at start-up) goes away.
pub async fn run(parent: u32) -> anyhow::Result<()> {
    let router =
        Arc::new(Router::new(RatlsBackend::info().paths).context("compiling the path table")?);
    let plugin = PreparedPlugin::prepare(&HANDSHAKE, &PluginEnv::from_process())?;

    // A terminal's Ctrl-C reaches the whole process group; the host shuts
    // its plugins down itself, so we ignore SIGINT as go-plugin servers do.
    let mut interrupts = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("ignoring SIGINT")?;
    tokio::spawn(async move { while interrupts.recv().await.is_some() {} });

    announce(&plugin.handshake_line()).context("writing the handshake line")?;
    plugin
        .serve(
            |broker| BackendServer::<RatlsBackend>::new(router, broker).into_routes(),
            transport::parent_exited(parent),
        )
        .await
}

/// Writes the handshake line: the only thing this process ever writes to stdout.
/// Public for the bench's floor plugin (`bench/null_plugin.rs`).
#[doc(hidden)]
#[allow(clippy::print_stdout)]
pub fn announce(line: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()
}
