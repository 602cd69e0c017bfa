//! The plugin's paths and handlers: the Nitride TOTP API on Vault's backend
//! protocol. The path table is data; [`RatlsBackend::handle`] is the one
//! place that maps a path family and operation to its handler.

mod api_error;
mod input;
mod locks;
mod path_code;
mod path_redeem;
mod path_tidy;
mod path_totp;
mod store;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

pub use api_error::{ApiError, FieldError};

use crate::domain::{Clock, SystemClock};
use crate::protocol::{
    BackendDeps, BackendInfo, BackendType, Error, LogicalBackend, Operation, Request, Response,
    SpecialPaths, Storage, SystemView,
};
use locks::KeyedLocks;
use store::EntryStore;

/// The path families of this backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `totp`: create.
    Totp,
    /// `totp/`: list.
    TotpList,
    /// `totp/redeem`.
    Redeem,
    /// `totp/verify`.
    Verify,
    /// `totp/<uuid>/code`.
    Code,
    /// `totp/<uuid>`: one entry.
    TotpEntry,
    /// `tidy`.
    Tidy,
}

const BACKEND_HELP: &str = "
The RA-TLS auth method keeps TOTP entries: time-limited, one-time grants that
allow updates of one policy. Each entry is named by a random uuid, which is
also the secret (an RFC 6238 shared secret as well); entries live only in
Vault's encrypted storage.
";

/// Everything the host can learn about this backend without calling a
/// handler. The first matching pattern wins, so fixed names come before
/// `totp/<uuid>`.
pub static INFO: BackendInfo<Endpoint> = BackendInfo {
    backend_type: BackendType::Credential,
    title: "RA-TLS auth method (Nitride TOTP API)",
    help: BACKEND_HELP,
    paths: &[
        path_totp::TOTP,
        path_totp::TOTP_LIST,
        path_redeem::REDEEM,
        path_code::VERIFY,
        path_code::CODE,
        path_totp::TOTP_ENTRY,
        path_tidy::TIDY,
    ],
    special_paths: SpecialPaths {
        unauthenticated: &[],
        local_storage: &[],
        // Every key holds or reveals a secret uuid.
        seal_wrap_storage: &[
            store::ENTRY_PREFIX,
            store::POLICY_INDEX_PREFIX,
            store::REPLAY_PREFIX,
        ],
    },
};

/// How often Vault's rollback (every minute) may trigger a tidy pass.
const ROLLBACK_TIDY_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// One mount's backend. Entries, indexes and replay records all live in the
/// host's storage, so the process may be killed at any moment; the fields
/// here only coordinate requests in flight.
pub struct RatlsBackend {
    store: EntryStore,
    system_view: Arc<dyn SystemView>,
    clock: Arc<dyn Clock>,
    /// Makes redeem and verify read-check-write sequences atomic, per policy.
    locks: KeyedLocks,
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
            store: EntryStore::new(storage),
            system_view,
            clock,
            locks: KeyedLocks::new(),
            last_rollback_tidy: Mutex::new(None),
            tidying: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether a rollback should tidy now, recording that it does.
    fn rollback_tidy_due(&self) -> bool {
        let Ok(mut last) = self.last_rollback_tidy.lock() else {
            return false;
        };
        if last.is_some_and(|at| at.elapsed() < ROLLBACK_TIDY_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

#[async_trait]
impl LogicalBackend for RatlsBackend {
    type Endpoint = Endpoint;

    fn info() -> &'static BackendInfo<Endpoint> {
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

    async fn exists(&self, _endpoint: Endpoint, _request: &Request) -> Result<bool, Error> {
        // Only `totp` declares a check, and every write there makes a new
        // entry: nothing "exists", so the host asks for the `create`
        // capability. No storage read.
        Ok(false)
    }

    async fn handle(
        &self,
        endpoint: Endpoint,
        request: Request,
    ) -> Result<Option<Response>, Error> {
        let result = match (endpoint, request.operation) {
            (Endpoint::Totp, Operation::Create) => path_totp::create(self, &request).await,
            (Endpoint::TotpList, Operation::List) => path_totp::list(self, &request).await,
            (Endpoint::Totp | Endpoint::TotpList, Operation::Delete) => {
                path_totp::delete_without_uuid()
            }
            (Endpoint::TotpEntry, Operation::Read) => path_totp::read(self, &request).await,
            (Endpoint::TotpEntry, Operation::Delete) => path_totp::delete(self, &request).await,
            (Endpoint::Redeem, Operation::Update) => path_redeem::redeem(self, &request).await,
            (Endpoint::Code, Operation::Read) => path_code::read_code(self, &request).await,
            (Endpoint::Verify, Operation::Update) => path_code::verify(self, &request).await,
            (Endpoint::Tidy, Operation::Update) => path_tidy::tidy(self, &request).await,
            _ => return Err(Error::UnsupportedOperation),
        };
        match result {
            Ok(response) => Ok(Some(response)),
            Err(ApiError {
                forward_to_active: Some(message),
                ..
            }) => Err(Error::Internal(message)),
            Err(error) => Ok(Some(error.into_response())),
        }
    }

    async fn rollback(&self) -> Result<(), Error> {
        let may_write = match self.system_view.replication_state().await {
            Ok(state) => state.may_write(),
            Err(error) => {
                tracing::warn!(error = %error, "cannot read the replication state; not tidying");
                false
            }
        };
        if !may_write || !self.rollback_tidy_due() {
            return Ok(());
        }
        // A tidy already running does this rollback's work.
        let Ok(_tidying) = self.tidying.try_lock() else {
            return Ok(());
        };
        match self.store.tidy(self.clock.now()).await {
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
}

#[cfg(test)]
mod tests;
