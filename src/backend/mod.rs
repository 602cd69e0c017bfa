//! The plugin's paths and handlers: the Nitride TOTP API on Vault's backend
//! protocol. The path table is data; [`RatlsBackend::handle`] is the one
//! place that maps a path family and operation to its handler.

mod api_error;
mod path_totp;

use std::sync::Arc;

use async_trait::async_trait;

pub use api_error::{ApiError, FieldError};

use crate::domain::{Clock, SystemClock};
use crate::protocol::{
    BackendDeps, BackendInfo, BackendType, Error, LogicalBackend, Operation, Request, Response,
    SpecialPaths, Storage, SystemView,
};

/// The path families of this backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `totp`: the collection.
    Totp,
    /// `totp/<uuid>`: one entry.
    TotpEntry,
}

const BACKEND_HELP: &str = "
The RA-TLS auth method keeps TOTP entries: time-limited, one-time grants that
allow updates of one policy. Each entry is named by a random uuid, which is
also the secret; entries live only in Vault's encrypted storage.
";

/// Everything the host can learn about this backend without calling a handler.
pub static INFO: BackendInfo<Endpoint> = BackendInfo {
    backend_type: BackendType::Credential,
    title: "RA-TLS auth method (Nitride TOTP API)",
    help: BACKEND_HELP,
    paths: &[path_totp::TOTP, path_totp::TOTP_ENTRY],
    special_paths: SpecialPaths {
        unauthenticated: &[],
        local_storage: &[],
        // Entries are secrets: seal-wrap them where the seal supports it.
        seal_wrap_storage: &[path_totp::ENTRY_PREFIX],
    },
};

/// One mount's backend. Holds no state of its own: everything lives in the
/// host's storage, so the process may be killed at any moment.
pub struct RatlsBackend {
    storage: Arc<dyn Storage>,
    system_view: Arc<dyn SystemView>,
    clock: Arc<dyn Clock>,
}

impl RatlsBackend {
    /// A backend over `storage` and `system_view` reading time from `clock`.
    pub fn new(
        storage: Arc<dyn Storage>,
        system_view: Arc<dyn SystemView>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            storage,
            system_view,
            clock,
        }
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

    async fn exists(&self, endpoint: Endpoint, _request: &Request) -> Result<bool, Error> {
        // Every write to `totp` makes a new entry, so nothing "exists" there
        // and the host asks for the `create` capability. No storage read.
        match endpoint {
            Endpoint::Totp | Endpoint::TotpEntry => Ok(false),
        }
    }

    async fn handle(
        &self,
        endpoint: Endpoint,
        request: Request,
    ) -> Result<Option<Response>, Error> {
        let result = match (endpoint, request.operation) {
            (Endpoint::Totp, Operation::Create) => path_totp::create(self, &request).await,
            (Endpoint::Totp, Operation::Delete) => path_totp::delete_without_uuid(),
            (Endpoint::TotpEntry, Operation::Delete) => path_totp::delete(self, &request).await,
            _ => return Err(Error::UnsupportedOperation),
        };
        Ok(Some(result.unwrap_or_else(ApiError::into_response)))
    }
}

#[cfg(test)]
mod tests;
