//! The plugin binary. Vault or OpenBao starts it; run by hand, it explains
//! that and exits 1.

use std::process::ExitCode;

use tracing_subscriber::filter::LevelFilter;
use vault_plugin_auth_ratls::transport::log;

fn main() -> ExitCode {
    // Before anything else, so that a host dying during start-up is noticed.
    let parent = std::os::unix::process::parent_id();
    let level = std::env::var(log::LEVEL_VAR)
        .ok()
        .and_then(|name| log::parse_level(&name))
        .unwrap_or(LevelFilter::INFO);
    log::init(level);

    // One thread: the plugin's work per request is a few microseconds around
    // awaited RPCs, and measured per-request CPU was 15-22% lower than with a
    // work-stealing pool (bench/analysis.md).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("[ERROR] cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(vault_plugin_auth_ratls::run(parent)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // go-plugin maps a plain line starting "[ERROR]" to its error level.
            eprintln!("[ERROR] {err:#}");
            ExitCode::FAILURE
        }
    }
}
