//! Checks made when the process starts, before the handshake and before any
//! secret (TLS key, grant, request) exists: locking memory when the host asks
//! for it, and making sure randomness can be had.
//!
//! Each failure is one sentence that names its remedy; `main` prints it as a
//! go-plugin `[ERROR]` line and exits 1, as Go SDK plugins do.

use std::fmt;

use rustix::mm::{MlockAllFlags, mlockall};

use super::PluginEnv;

/// Set to `true` by HashiCorp Vault unless the server config says
/// `disable_mlock = true` (`sdk/helper/pluginutil/run_config.go`); Go SDK
/// plugins then lock their memory in `sdk/plugin/serve.go` before serving.
pub const MLOCK_VAR: &str = "VAULT_PLUGIN_MLOCK_ENABLED";
/// OpenBao's name for the same switch. OpenBao 2.x dropped mlock and never
/// sets it; honoured so that both names mean the same, as in OpenBao's SDK.
pub const BAO_MLOCK_VAR: &str = "BAO_PLUGIN_MLOCK_ENABLED";

/// Whether the host asked for locked memory. Only the exact value `true`
/// counts: the Go SDK compares with `== "true"`.
pub fn mlock_requested(env: &PluginEnv) -> bool {
    [MLOCK_VAR, BAO_MLOCK_VAR]
        .iter()
        .any(|name| env.get(name) == Some("true"))
}

/// Locking memory failed; the process must not go on, or grants and keys
/// could reach swap although the operator asked for them not to.
#[derive(Debug)]
pub struct MlockError(rustix::io::Errno);

impl fmt::Display for MlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot lock the plugin's memory as {MLOCK_VAR}=true asks (mlockall: {}): \
             give the plugin process CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK \
             (systemd: LimitMEMLOCK=infinity), or set `disable_mlock = true` in the \
             Vault server config",
            std::io::Error::from(self.0)
        )
    }
}

impl std::error::Error for MlockError {}

/// Locks every page mapped now and every page mapped later into RAM
/// (`mlockall(MCL_CURRENT | MCL_FUTURE)`, what go-secure-stdlib's
/// `mlock.LockMemory` does for Go plugins).
pub fn lock_memory() -> Result<(), MlockError> {
    mlockall(MlockAllFlags::CURRENT | MlockAllFlags::FUTURE).map_err(MlockError)
}

/// No random bytes could be read. TLS keys and entry uuids need them, so the
/// plugin cannot serve.
#[derive(Debug)]
pub struct EntropyError(getrandom::Error);

impl fmt::Display for EntropyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no entropy source: reading random bytes failed ({}); a statically linked \
             build reads them from /dev/random and /dev/urandom, so a chroot or container \
             root must provide both device files",
            self.0
        )
    }
}

impl std::error::Error for EntropyError {}

/// Reads a few random bytes through the same source the plugin uses later
/// (`getrandom`, behind uuid), so a missing source is reported here in one
/// line instead of panicking in the middle of a request.
pub fn check_entropy() -> Result<(), EntropyError> {
    let mut probe = [0u8; 16];
    getrandom::fill(&mut probe).map_err(EntropyError)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> PluginEnv {
        PluginEnv::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn mlock_is_requested_only_by_the_exact_value_true() {
        assert!(mlock_requested(&env(&[(MLOCK_VAR, "true")])));
        assert!(mlock_requested(&env(&[(BAO_MLOCK_VAR, "true")])));
        for value in ["", "false", "TRUE", "True", "1", " true", "yes"] {
            assert!(!mlock_requested(&env(&[(MLOCK_VAR, value)])), "{value:?}");
        }
        assert!(!mlock_requested(&env(&[])));
    }

    #[test]
    fn failures_name_their_remedy_in_one_line() {
        let mlock = MlockError(rustix::io::Errno::PERM).to_string();
        for remedy in [
            "CAP_IPC_LOCK",
            "RLIMIT_MEMLOCK",
            "disable_mlock = true",
            MLOCK_VAR,
        ] {
            assert!(mlock.contains(remedy), "{mlock}");
        }
        let entropy = EntropyError(getrandom::Error::UNSUPPORTED).to_string();
        assert!(entropy.contains("/dev/urandom"), "{entropy}");
        assert!(!mlock.contains('\n') && !entropy.contains('\n'));
    }

    #[test]
    fn entropy_is_available_here() {
        check_entropy().unwrap();
    }
}
