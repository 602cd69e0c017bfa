//! The plugin binary. Vault or OpenBao starts it; run by hand, it explains
//! that and exits 1.

use std::process::ExitCode;

use tracing_subscriber::filter::LevelFilter;
use vault_plugin_auth_ratls::transport::{PluginEnv, log, startup};

fn main() -> ExitCode {
    // Before anything else, so that a host dying during start-up is noticed.
    let parent = std::os::unix::process::parent_id();

    // Before any key, grant or request exists, so that none can reach swap
    // (HashiCorp Vault asks for this unless `disable_mlock`); then the
    // entropy source, which a bare chroot or container may lack. Both fail
    // as one go-plugin `[ERROR]` line on stderr and exit 1.
    if startup::mlock_requested(&PluginEnv::from_process()) {
        if let Err(err) = startup::lock_memory() {
            eprintln!("[ERROR] {err}");
            return ExitCode::FAILURE;
        }
    }
    if let Err(err) = startup::check_entropy() {
        eprintln!("[ERROR] {err}");
        return ExitCode::FAILURE;
    }

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
