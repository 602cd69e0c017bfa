//! go-plugin's connection broker, plugin side. The host announces, over the
//! `StartStream` stream, where it serves extra services (for Vault: Storage
//! and SystemView); the plugin dials them back with its own mTLS identity.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::UnixStream;
use tokio::sync::Notify;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Request, Response, Status, Streaming};

use super::tls::SERVER_NAME;
use crate::pb::plugin::ConnInfo;
use crate::pb::plugin::grpc_broker_server::GrpcBroker;

/// Why a brokered service could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The host did not announce the id in time.
    #[error("the host did not announce broker service {0} within {1:?}")]
    NotAnnounced(u32, Duration),
    /// The host announced a network we cannot dial.
    #[error("broker service {id} is on unsupported network {network:?}")]
    UnsupportedNetwork { id: u32, network: String },
    /// The announced address is not usable.
    #[error("broker service {0} has an invalid address")]
    InvalidAddress(u32),
}

/// Dials services the host announced through the broker. Cheap to clone.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    /// Announcements by service id. A std mutex: it is never held across an await.
    announced: Mutex<HashMap<u32, ConnInfo>>,
    arrived: Notify,
    tls: TlsConnector,
}

impl Broker {
    pub(super) fn new(tls: Arc<rustls::ClientConfig>) -> Self {
        Self {
            inner: Arc::new(Inner {
                announced: Mutex::new(HashMap::new()),
                arrived: Notify::new(),
                tls: TlsConnector::from(tls),
            }),
        }
    }

    // Each critical section is a single map insert or lookup, which leaves
    // the map whole even if a holder panicked: poisoning is ignored.
    fn announced(&self) -> MutexGuard<'_, HashMap<u32, ConnInfo>> {
        self.inner
            .announced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn announce(&self, info: ConnInfo) {
        self.announced().insert(info.service_id, info);
        self.inner.arrived.notify_waiters();
    }

    fn lookup(&self, id: u32) -> Option<ConnInfo> {
        self.announced().get(&id).cloned()
    }

    /// Waits up to `wait` for the host to announce service `id` (it may come
    /// before or after the RPC that names it), then returns a channel to it.
    /// The channel connects lazily, so no I/O happens here.
    pub async fn dial(&self, id: u32, wait: Duration) -> Result<Channel, BrokerError> {
        let info = tokio::time::timeout(wait, async {
            loop {
                // Register interest before looking, so an announcement between
                // the look and the wait is not missed.
                let arrived = self.inner.arrived.notified();
                if let Some(info) = self.lookup(id) {
                    return info;
                }
                arrived.await;
            }
        })
        .await
        .map_err(|_| BrokerError::NotAnnounced(id, wait))?;
        self.connect_lazy(info)
    }

    fn connect_lazy(&self, info: ConnInfo) -> Result<Channel, BrokerError> {
        let id = info.service_id;
        // go-plugin announces tcp only on Windows; this plugin is Unix-only.
        if info.network != "unix" {
            return Err(BrokerError::UnsupportedNetwork {
                id,
                network: info.network,
            });
        }
        let address = info.address;
        let tls = self.inner.tls.clone();
        let server_name =
            ServerName::try_from(SERVER_NAME).map_err(|_| BrokerError::InvalidAddress(id))?;
        // The URI only satisfies tonic; the connector decides where to go.
        let endpoint = Endpoint::from_static("http://localhost");
        let connector = tower::service_fn(move |_: Uri| {
            let address = address.clone();
            let tls = tls.clone();
            let server_name = server_name.clone();
            async move {
                let stream = UnixStream::connect(&address).await?;
                let stream = tls.connect(server_name, stream).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        });
        Ok(endpoint.connect_with_connector_lazy(connector))
    }
}

/// The `plugin.GRPCBroker` service: records announcements, sends nothing.
pub(super) struct BrokerService {
    broker: Broker,
    stop: CancellationToken,
}

impl BrokerService {
    pub(super) fn new(broker: Broker, stop: CancellationToken) -> Self {
        Self { broker, stop }
    }
}

#[tonic::async_trait]
impl GrpcBroker for BrokerService {
    type StartStreamStream = tokio_stream::wrappers::ReceiverStream<Result<ConnInfo, Status>>;

    async fn start_stream(
        &self,
        request: Request<Streaming<ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let mut inbound = request.into_inner();
        let broker = self.broker.clone();
        let stop = self.stop.clone();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    () = stop.cancelled() => break,
                    message = inbound.message() => message,
                };
                match message {
                    Ok(Some(info)) => broker.announce(info),
                    Ok(None) => break,
                    Err(status) => {
                        tracing::debug!(code = ?status.code(), "broker stream ended");
                        break;
                    }
                }
            }
        });
        Ok(Response::new(super::idle_stream(self.stop.clone())))
    }
}
