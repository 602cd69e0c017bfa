//! Test doubles and the shared fixture, for this crate's tests and, with the
//! `testing` feature, its integration tests and benchmarks. Not part of the
//! plugin: it always stores through the host and reads the real clock.

mod host_cert;
mod memory;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

pub use host_cert::HostCert;
pub use memory::{Held, HeldCall, MemStorage};

use crate::backend::RatlsBackend;
use crate::domain::Clock;
use crate::protocol::{ReplicationState, Storage, SystemView, SystemViewError};

/// The fixture's "now", Unix seconds (2027-01-15).
pub const NOW: i64 = 1_800_000_000;
/// The fixture mount's max lease TTL.
pub const MAX_LEASE_TTL: Duration = Duration::from_secs(3600);

/// A clock that reads what it is told.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now: i64) -> Self {
        Self(AtomicI64::new(now))
    }

    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A [`SystemView`] with fixed answers.
#[derive(Debug, Clone)]
pub struct StaticSystemView {
    pub max_lease_ttl: Duration,
    pub replication_state: ReplicationState,
    pub local_mount: bool,
}

impl StaticSystemView {
    /// The fixture's mount on a server without replication.
    pub fn writable() -> Self {
        Self {
            max_lease_ttl: MAX_LEASE_TTL,
            replication_state: ReplicationState::REPLICATION_DISABLED,
            local_mount: false,
        }
    }
}

#[async_trait]
impl SystemView for StaticSystemView {
    async fn max_lease_ttl(&self) -> Result<Duration, SystemViewError> {
        Ok(self.max_lease_ttl)
    }

    async fn replication_state(&self) -> Result<ReplicationState, SystemViewError> {
        Ok(self.replication_state)
    }

    async fn local_mount(&self) -> Result<bool, SystemViewError> {
        Ok(self.local_mount)
    }
}

/// A backend over `storage` as the host `system_view` describes, with a
/// clock at [`NOW`] that the caller may move.
pub fn backend(
    storage: Arc<MemStorage>,
    system_view: StaticSystemView,
) -> (RatlsBackend, Arc<ManualClock>) {
    backend_over(storage, system_view)
}

/// [`backend`] over any storage.
pub fn backend_over(
    storage: Arc<dyn Storage>,
    system_view: StaticSystemView,
) -> (RatlsBackend, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(NOW));
    let backend = RatlsBackend::new(storage, Arc::new(system_view), clock.clone());
    (backend, clock)
}
