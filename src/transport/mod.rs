//! go-plugin's side of the plugin process: handshake, AutoMTLS, the services
//! go-plugin itself expects (broker, controller, health, stdio) and the
//! process rules (stdout carries only the handshake line, exit with the parent).
//!
//! Nothing here knows about Vault; the application's gRPC services are handed
//! in as [`tonic::service::Routes`].

mod broker;
mod controller;
pub mod handshake;
mod listener;
pub mod log;
pub mod startup;
mod stdio;
pub mod tls;

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

pub use broker::{Broker, BrokerError};
pub use handshake::{HandshakeConfig, PluginEnv};
pub use listener::PluginListener;
pub use tls::Identity;

use crate::pb::plugin::{
    grpc_broker_server::GrpcBrokerServer, grpc_controller_server::GrpcControllerServer,
    grpc_stdio_server::GrpcStdioServer,
};

/// The name go-plugin's `Ping` checks on `grpc.health.v1.Health`.
const HEALTH_SERVICE: &str = "plugin";

/// How long in-flight RPCs may run after the host asked us to shut down.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// A plugin server whose socket is bound and whose identity exists, but which
/// serves nothing until [`PreparedPlugin::serve`]. Splitting the two lets the
/// caller print the handshake line, and tests read it, in between.
pub struct PreparedPlugin {
    listener: PluginListener,
    identity: Identity,
    host_cert: rustls_pki_types::CertificateDer<'static>,
    app_version: u32,
}

impl PreparedPlugin {
    /// Checks the host's environment, creates this launch's TLS identity and
    /// binds a unix socket in a fresh private directory.
    pub fn prepare(config: &HandshakeConfig, env: &PluginEnv) -> anyhow::Result<Self> {
        let host_cert = handshake::check(config, env)?;
        let identity = Identity::generate().context("generating the plugin's TLS identity")?;
        let listener = PluginListener::bind().context("binding the plugin socket")?;
        Ok(Self {
            listener,
            identity,
            host_cert,
            app_version: config.app_version,
        })
    }

    /// The one line go-plugin reads from stdout, without the newline.
    pub fn handshake_line(&self) -> String {
        handshake::line(self.app_version, self.listener.path(), &self.identity)
    }

    /// Serves `app` (built with a [`Broker`] that dials the host's services)
    /// together with go-plugin's own services, until the host calls
    /// `GRPCController.Shutdown` or `shutdown` resolves.
    pub async fn serve(
        self,
        app: impl FnOnce(Broker) -> Routes,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let broker = Broker::new(tls::client_config(&self.identity, &self.host_cert)?);
        let server_tls = tls::server_config(&self.identity, &self.host_cert)?;

        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_service_status(HEALTH_SERVICE, tonic_health::ServingStatus::Serving)
            .await;

        let routes = app(broker.clone())
            .add_service(health_service)
            .add_service(GrpcBrokerServer::new(broker::BrokerService::new(
                broker,
                stop.clone(),
            )))
            .add_service(GrpcControllerServer::new(controller::Controller::new(
                stop.clone(),
            )))
            .add_service(GrpcStdioServer::new(stdio::Stdio::new(stop.clone())));

        let incoming = self.listener.incoming(server_tls, stop.clone());
        let stopped = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown => stopped.cancel(),
                () = stopped.cancelled() => {}
            }
        });

        let signal = stop.clone().cancelled_owned();
        let server = tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, signal);
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => result.context("serving gRPC")?,
            () = stop.cancelled() => {
                // The host closes its connection after Shutdown; long-lived
                // streams (broker, stdio) end with `stop`. Give the rest a moment.
                if tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await.is_err() {
                    tracing::debug!("in-flight RPCs still running at shutdown; exiting anyway");
                }
            }
        }
        Ok(())
    }
}

/// Resolves when `parent`, the process that started us, has exited (we have
/// been re-parented). go-plugin hosts do not always clean up a plugin whose
/// connection failed, so the plugin must not outlive them. Read `parent` as
/// early as possible: a parent that dies during start-up must still count.
pub async fn parent_exited(parent: u32) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        if std::os::unix::process::parent_id() != parent {
            return;
        }
    }
}

/// Produces a stream that yields nothing and ends when `stop` is cancelled;
/// the shape go-plugin's long-lived streams take on the plugin side.
fn idle_stream<T: Send + 'static>(
    stop: CancellationToken,
) -> tokio_stream::wrappers::ReceiverStream<T> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        stop.cancelled().await;
        drop(tx);
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
