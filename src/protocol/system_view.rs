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
}

/// A [`SystemView`] with fixed answers, for tests.
#[derive(Debug, Clone)]
pub struct StaticSystemView {
    pub max_lease_ttl: Duration,
}

#[async_trait]
impl SystemView for StaticSystemView {
    async fn max_lease_ttl(&self) -> Result<Duration, SystemViewError> {
        Ok(self.max_lease_ttl)
    }
}
