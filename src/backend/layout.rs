//! Which storage layout the mount's data is in, and bringing it to v3 before
//! any request touches it.
//!
//! The first process that finds the mount on a node that may write makes the
//! mount key if there is none, and migrates v1 (v0.1.0) and v2 (v0.2.x) data
//! in the background; until that finishes every request answers 503 in the
//! documented body. A crash mid-way leaves what the next process's run
//! finishes (see `store::migrate`). Once ready, the state is kept in memory:
//! the check costs no storage call per request.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::store::{Grants, meta, migrate};
use super::{ApiError, HandlerError};
use crate::domain::Clock;
use crate::protocol::{Storage, SystemView, may_write_mount};

/// Where the mount's data stands, as far as this process knows.
#[derive(Clone)]
enum State {
    /// Not looked at yet, or the last look failed.
    Unknown,
    /// This process is migrating older data.
    Migrating,
    /// Layout v3, with the mount key.
    Ready(Grants),
}

/// The mount's layout, prepared once per process.
pub(super) struct Layout {
    storage: Arc<dyn Storage>,
    state: Arc<Mutex<State>>,
    /// One preparation at a time, so the key is made once.
    preparing: tokio::sync::Mutex<()>,
}

/// The state is replaced whole under the lock, so a panic elsewhere cannot
/// leave it half-written: poisoning is ignored.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Layout {
    pub(super) fn new(storage: Arc<dyn Storage>) -> Self {
        Self {
            storage,
            state: Arc::new(Mutex::new(State::Unknown)),
            preparing: tokio::sync::Mutex::new(()),
        }
    }

    /// The entries, once the data is in layout v3.
    pub(super) fn ready(&self) -> Option<Grants> {
        match &*lock(&self.state) {
            State::Ready(grants) => Some(grants.clone()),
            _ => None,
        }
    }

    /// The entries; prepares the layout first if this process has not yet.
    /// Answers 503 while older data waits for (or undergoes) migration.
    pub(super) async fn grants(
        &self,
        system_view: &dyn SystemView,
        clock: &Arc<dyn Clock>,
    ) -> Result<Grants, HandlerError> {
        if let Some(grants) = self.ready() {
            return Ok(grants);
        }
        let _preparing = self.preparing.lock().await;
        match lock(&self.state).clone() {
            State::Ready(grants) => return Ok(grants),
            State::Migrating => return Err(ApiError::migrating().into()),
            State::Unknown => {}
        }
        self.prepare(system_view, clock).await
    }

    async fn prepare(
        &self,
        system_view: &dyn SystemView,
        clock: &Arc<dyn Clock>,
    ) -> Result<Grants, HandlerError> {
        let storage = self.storage.as_ref();
        let has_old = migrate::has_old_data(storage).await?;
        if has_old && !may_write_mount(system_view).await {
            // A standby or secondary: the active node migrates.
            return Err(ApiError::migrating().into());
        }
        let key = meta::load_or_create_key(storage)
            .await
            .map_err(HandlerError::from_meta)?;
        let grants = Grants::new(self.storage.clone(), Arc::new(key));
        if has_old {
            self.start_migration(grants, clock.now());
            return Err(ApiError::migrating().into());
        }
        grants.load_random_accessors().await?;
        if meta::layout_version(storage).await? != Some(meta::CURRENT_LAYOUT) {
            meta::record_layout(storage).await?;
        }
        *lock(&self.state) = State::Ready(grants.clone());
        Ok(grants)
    }

    fn start_migration(&self, grants: Grants, now: i64) {
        *lock(&self.state) = State::Migrating;
        let (storage, state) = (self.storage.clone(), self.state.clone());
        tokio::spawn(async move {
            tracing::info!("migrating TOTP entries to storage layout v3");
            let started = Instant::now();
            let result = match migrate::migrate(&storage, &grants, now).await {
                Ok(report) => meta::record_layout(storage.as_ref()).await.map(|()| report),
                Err(error) => Err(error),
            };
            match result {
                Ok(report) => {
                    tracing::info!(
                        entries_moved = report.entries_moved,
                        expired_entries_dropped = report.expired_entries_dropped,
                        replay_records_moved = report.replay_records_moved,
                        leftover_keys_removed = report.leftover_keys_removed,
                        interrupted_entries_removed = report.interrupted_entries_removed,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "migrated TOTP entries to storage layout v3"
                    );
                    *lock(&state) = State::Ready(grants);
                }
                Err(error) if error.must_forward() => {
                    tracing::debug!("this node cannot write; the active node migrates");
                    *lock(&state) = State::Unknown;
                }
                Err(error) => {
                    tracing::error!(error = %error, "migration to storage layout v3 stopped; the next request or restart resumes it");
                    *lock(&state) = State::Unknown;
                }
            }
        });
    }
}
