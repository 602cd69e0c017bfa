//! The host's `SystemView`: facts about the mount and the server.

use std::time::Duration;

use async_trait::async_trait;
use tonic::transport::Channel;

use crate::pb::backend::{Empty, system_view_client::SystemViewClient};

/// Why a system view call failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("system view call failed: {0}")]
pub struct SystemViewError(pub String);

/// What the host tells a backend about its mount.
#[async_trait]
pub trait SystemView: Send + Sync {
    /// The mount's max lease TTL (`auth tune -max-lease-ttl`, else the server's).
    async fn max_lease_ttl(&self) -> Result<Duration, SystemViewError>;

    /// The server's replication and standby state.
    async fn replication_state(&self) -> Result<ReplicationState, SystemViewError>;

    /// Whether the mount is local (`auth enable -local`): not replicated to
    /// performance secondaries, so each cluster writes its own.
    async fn local_mount(&self) -> Result<bool, SystemViewError>;
}

/// Whether this node writes the mount's storage itself, as Vault's own
/// plugins decide before housekeeping (AppRole's tidy): a local mount, or a
/// node that is no standby or secondary. A view that cannot be read counts
/// as "no": the node that may write does the work.
pub async fn may_write_mount(view: &dyn SystemView) -> bool {
    match view.replication_state().await {
        Ok(state) if state.may_write() => return true,
        Ok(_) => {}
        Err(error) => tracing::warn!(error = %error, "cannot read the replication state"),
    }
    match view.local_mount().await {
        Ok(local) => local,
        Err(error) => {
            tracing::warn!(error = %error, "cannot read whether the mount is local");
            false
        }
    }
}

/// `consts.ReplicationState` bit flags (`sdk/helper/consts/replication.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationState(pub u32);

impl ReplicationState {
    const PERFORMANCE_SECONDARY: u32 = 1 << 6;
    const DR_SECONDARY: u32 = 1 << 9;
    const PERFORMANCE_DISABLED: u32 = 1 << 12;
    const DR_DISABLED: u32 = 1 << 13;
    const PERFORMANCE_STANDBY: u32 = 1 << 14;

    /// A server without replication, as every OpenBao server and an
    /// unreplicated Vault report (Vault's core starts with these two flags).
    pub const REPLICATION_DISABLED: Self = Self(Self::PERFORMANCE_DISABLED | Self::DR_DISABLED);

    /// [`Self::REPLICATION_DISABLED`] on a performance standby.
    pub const PERFORMANCE_STANDBY_NODE: Self =
        Self(Self::PERFORMANCE_DISABLED | Self::DR_DISABLED | Self::PERFORMANCE_STANDBY);

    /// Whether this node may write the mount's storage itself: not on a
    /// performance standby or a performance/DR secondary.
    pub fn may_write(self) -> bool {
        self.0 & (Self::PERFORMANCE_SECONDARY | Self::DR_SECONDARY | Self::PERFORMANCE_STANDBY) == 0
    }
}

/// [`SystemView`] over the host's `pb.SystemView` service.
#[derive(Debug, Clone)]
pub struct GrpcSystemView {
    client: SystemViewClient<Channel>,
}

impl GrpcSystemView {
    pub fn new(channel: Channel) -> Self {
        Self {
            client: SystemViewClient::new(channel),
        }
    }
}

#[async_trait]
impl SystemView for GrpcSystemView {
    async fn max_lease_ttl(&self) -> Result<Duration, SystemViewError> {
        let reply = self
            .client
            .clone()
            .max_lease_ttl(Empty {})
            .await
            .map_err(|status| SystemViewError(status.message().to_owned()))?
            .into_inner();
        // TTLs are Go durations: int64 nanoseconds.
        u64::try_from(reply.ttl)
            .map(Duration::from_nanos)
            .map_err(|_| SystemViewError(format!("negative max lease TTL {}", reply.ttl)))
    }

    async fn replication_state(&self) -> Result<ReplicationState, SystemViewError> {
        let reply = self
            .client
            .clone()
            .replication_state(Empty {})
            .await
            .map_err(|status| SystemViewError(status.message().to_owned()))?
            .into_inner();
        Ok(ReplicationState(reply.state as u32))
    }

    async fn local_mount(&self) -> Result<bool, SystemViewError> {
        let reply = self
            .client
            .clone()
            .local_mount(Empty {})
            .await
            .map_err(|status| SystemViewError(status.message().to_owned()))?
            .into_inner();
        Ok(reply.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_are_primaries_and_active_nodes() {
        // OpenBao dev server: performance and DR replication disabled.
        assert_eq!(
            ReplicationState::REPLICATION_DISABLED,
            ReplicationState(12288)
        );
        assert!(ReplicationState::REPLICATION_DISABLED.may_write());
        assert!(ReplicationState(0).may_write());
        assert!(ReplicationState(32).may_write(), "performance primary");
        assert!(!ReplicationState(64).may_write(), "performance secondary");
        assert!(!ReplicationState(512).may_write(), "DR secondary");
        assert!(
            !ReplicationState::PERFORMANCE_STANDBY_NODE.may_write(),
            "performance standby"
        );
    }
}
