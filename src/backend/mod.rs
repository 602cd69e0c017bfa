//! The plugin's paths and handlers: the Nitride TOTP API on Vault's backend
//! protocol. Each `path_*.rs` file holds path table rows (pattern, fields,
//! help, and each operation bound to its handler) next to the handlers; an
//! endpoint is one row plus one function. [`INFO`] lists the rows.

/// Binds `async fn(&RatlsBackend, &Request) -> Result<Response,
/// HandlerError>` into a path table row as a [`crate::protocol::Handler`].
macro_rules! handler {
    ($handler:path) => {
        |backend, request| {
            Box::pin(async move {
                $handler(backend, request)
                    .await
                    .or_else($crate::backend::HandlerError::into_reply)
            })
        }
    };
}

mod error;
mod input;
mod known_lockouts;
mod layout;
mod locks;
mod path_accessor;
mod path_code;
mod path_config;
mod path_lockouts;
mod path_lookup;
mod path_redeem;
mod path_tidy;
mod path_totp;
mod path_verify;
mod prefetch;
mod store;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

pub use error::{ApiError, FieldError, HandlerError};

use crate::domain::{Clock, SystemClock};
use crate::protocol::{
    BackendDeps, BackendInfo, BackendType, Error, License, LogicalBackend, Response, SpecialPaths,
    Storage, SystemView, may_write_mount,
};
use known_lockouts::KnownLockouts;
use layout::Layout;
use locks::KeyedLocks;
use prefetch::MaxTtlPrefetch;
use store::Grants;

/// The version reported to the host (`logical.PluginVersion`): `v` + crate version.
pub const PLUGIN_VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

const BACKEND_HELP: &str = "
The RA-TLS auth method keeps TOTP entries: time-limited, one-time grants that
allow updates of one policy. Each entry has a random uuid, which is the grant
itself (and its RFC 6238 shared secret): it appears only in the create
response and in what its holder sends. Operators name entries by their
accessor, a second UUID that grants nothing (derived from the uuid one-way,
with the mount's secret key). Entries live only in
Vault's encrypted storage, under keys that reveal no uuid.
";

/// Everything the host can learn about this backend without calling a
/// handler. Row order is free: the most specific matching row serves a
/// request; it is the order of help and OpenAPI.
pub static INFO: BackendInfo<RatlsBackend> = BackendInfo {
    backend_type: BackendType::Credential,
    version: PLUGIN_VERSION,
    title: "RA-TLS auth method (Nitride TOTP API)",
    help: BACKEND_HELP,
    license: Some(License {
        name: "Mozilla Public License 2.0",
        url: "https://www.mozilla.org/en-US/MPL/2.0",
    }),
    paths: &[
        path_totp::TOTP,
        path_totp::TOTP_LIST,
        path_lookup::LOOKUP,
        path_accessor::ACCESSOR,
        path_accessor::ACCESSOR_CODE,
        path_redeem::REDEEM,
        path_verify::VERIFY,
        path_code::CODE,
        path_totp::TOTP_ENTRY,
        path_tidy::TIDY,
        path_config::CONFIG,
        path_lockouts::LOCKOUTS,
        path_lockouts::POLICY_LOCKOUT,
        path_lockouts::ENTRY_LOCKOUT,
    ],
    special_paths: SpecialPaths {
        unauthenticated: &[],
        local_storage: &[],
        seal_wrap_storage: store::SEAL_WRAPPED,
    },
};

/// How often Vault's rollback (every minute) may trigger a tidy pass.
const ROLLBACK_TIDY_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// One mount's backend. Entries, indexes and replay records all live in the
/// host's storage, so the process may be killed at any moment; the fields
/// here only coordinate requests in flight.
pub struct RatlsBackend {
    layout: Layout,
    system_view: Arc<dyn SystemView>,
    clock: Arc<dyn Clock>,
    /// Makes redeem and verify read-check-write sequences atomic, per policy.
    locks: KeyedLocks,
    /// Max lease TTLs asked for by creates' existence checks.
    max_ttl: MaxTtlPrefetch,
    /// Lockouts already read from storage, refused without reading again.
    known_lockouts: KnownLockouts,
    /// When rollback last tidied; throttles tidy, holds no state of record.
    last_rollback_tidy: Mutex<Option<Instant>>,
    /// One tidy pass at a time (endpoint and rollback), so counts are exact
    /// and passes do not repeat each other's work.
    tidying: tokio::sync::Mutex<()>,
}

impl RatlsBackend {
    /// A backend over `storage` and `system_view` reading time from `clock`.
    pub fn new(
        storage: Arc<dyn Storage>,
        system_view: Arc<dyn SystemView>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            layout: Layout::new(storage),
            system_view,
            clock,
            locks: KeyedLocks::new(),
            max_ttl: MaxTtlPrefetch::default(),
            known_lockouts: KnownLockouts::default(),
            last_rollback_tidy: Mutex::new(None),
            tidying: tokio::sync::Mutex::new(()),
        }
    }

    /// The mount's entries, once its data is in the current layout.
    async fn grants(&self) -> Result<Grants, HandlerError> {
        self.layout
            .grants(self.system_view.as_ref(), &self.clock)
            .await
    }

    /// Whether a rollback should tidy now, recording that it does.
    fn rollback_tidy_due(&self) -> bool {
        // The guarded value is a timestamp that every holder writes whole, so
        // a panic elsewhere cannot leave it half-written: ignore poisoning.
        let mut last = self
            .last_rollback_tidy
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < ROLLBACK_TIDY_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

#[async_trait]
impl LogicalBackend for RatlsBackend {
    fn info() -> &'static BackendInfo<Self> {
        &INFO
    }

    fn create(deps: BackendDeps) -> Self {
        Self::new(deps.storage, deps.system_view, Arc::new(SystemClock))
    }

    fn undecodable_body() -> Option<Response> {
        Some(
            ApiError::invalid([])
                .with_message("Invalid request: the body must be a JSON object nested at most 127 levels deep.")
                .into_response(),
        )
    }

    async fn initialize(&self) -> Result<(), Error> {
        // Prepares the layout (and starts a migration) before the first
        // request; a failure here is retried by that request.
        match self.grants().await {
            Ok(_) => {}
            Err(HandlerError::Api(error)) => {
                tracing::debug!(message = %error.message, "storage layout not ready yet")
            }
            Err(HandlerError::Forward(_)) => {
                tracing::debug!("this node cannot write; the layout is prepared by the active node")
            }
            Err(HandlerError::Host(error)) => {
                tracing::warn!(error = %error, "cannot prepare the storage layout yet")
            }
        }
        Ok(())
    }

    async fn rollback(&self) -> Result<(), Error> {
        if !may_write_mount(self.system_view.as_ref()).await || !self.rollback_tidy_due() {
            return Ok(());
        }
        // Not while the layout cannot be prepared or is migrating: the
        // migration owns the data then.
        let Ok(grants) = self.grants().await else {
            return Ok(());
        };
        // A tidy already running does this rollback's work.
        let Ok(_tidying) = self.tidying.try_lock() else {
            return Ok(());
        };
        match grants.tidy(self.clock.now()).await {
            Ok(report) => tracing::debug!(
                entries_removed = report.entries_removed,
                replay_records_removed = report.replay_records_removed,
                "rollback tidied TOTP entries"
            ),
            // Rollback errors are only logged by the host; say it here.
            Err(error) => tracing::warn!(error = %error, "rollback could not tidy"),
        }
        Ok(())
    }

    fn invalidate(&self, key: &str) {
        // Of the values that change, attempt records are the only ones the
        // process keeps anything of (a lockout's end); the mount key and the
        // layout, which it also keeps, never change once made.
        if key.starts_with(store::attempts::ATTEMPTS_PREFIX) {
            self.known_lockouts.forget(key);
        }
    }
}

#[cfg(test)]
mod tests;
