//! The `pb.Backend` gRPC service: decodes the host's calls, routes them
//! through the path table and hands them to a [`LogicalBackend`].

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use tonic::{Request as GrpcRequest, Response as GrpcResponse, Status};

use super::help;
use super::storage::GrpcStorage;
use super::system_view::GrpcSystemView;
use super::{BackendInfo, Error, Operation, Request, Response, Router, Storage, SystemView};
use crate::pb::backend::{self as pb, backend_server};
use crate::pb::logical::{self, plugin_version_server::PluginVersion};
use crate::pb::multiplexing::{
    MultiplexingSupportRequest, MultiplexingSupportResponse,
    plugin_multiplexing_server::PluginMultiplexing,
};
use crate::transport::Broker;

/// How long `Setup` waits for the broker to announce the host's services;
/// go-plugin's host waits as long on its side.
const BROKER_WAIT: Duration = Duration::from_secs(5);
/// The host allows messages up to `MaxInt32`; tonic's default is 4 MiB.
const MAX_MESSAGE: usize = i32::MAX as usize;

/// What a backend instance gets from the host at `Setup`.
#[derive(Clone)]
pub struct BackendDeps {
    pub storage: Arc<dyn Storage>,
    pub system_view: Arc<dyn SystemView>,
}

/// A plugin's behaviour behind its static [`BackendInfo`], whose path table
/// binds every operation to its handler.
#[async_trait]
pub trait LogicalBackend: Send + Sync + Sized + 'static {
    /// The backend's type, version, help and path table.
    fn info() -> &'static BackendInfo<Self>;

    /// A backend for one mount. Must not touch storage: during `plugin
    /// register` the host has none to offer.
    fn create(deps: BackendDeps) -> Self;

    /// The answer to a request whose body the host accepted but the plugin
    /// cannot decode (nested deeper than the decoder allows). `None` leaves
    /// the host's generic "invalid request".
    fn undecodable_body() -> Option<Response> {
        None
    }

    /// The host's `Initialize` call, once storage may be used (after `Setup`
    /// on every mount, reload and restart).
    async fn initialize(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Vault's periodic `rollback` call (every minute), for housekeeping.
    async fn rollback(&self) -> Result<(), Error> {
        Ok(())
    }

    /// The host's `InvalidateKey`: the value under `key` (relative to the
    /// mount's storage) changed elsewhere, e.g. on another node; whatever
    /// the process derived from it is stale.
    fn invalidate(&self, _key: &str) {}
}

/// The `pb.Backend` service for backends of type `B`. One process serves one
/// mount (we do not multiplex), so there is at most one instance.
pub struct BackendServer<B: LogicalBackend> {
    router: Arc<Router<B>>,
    broker: Broker,
    instance: RwLock<Option<Arc<B>>>,
}

impl<B: LogicalBackend> BackendServer<B> {
    pub fn new(router: Arc<Router<B>>, broker: Broker) -> Self {
        Self {
            router,
            broker,
            instance: RwLock::new(None),
        }
    }

    // The slot is only ever replaced whole, so a panic while it was held
    // cannot leave it half-written: poisoning is ignored.
    fn instance(&self) -> Result<Arc<B>, Status> {
        self.instance
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| Status::failed_precondition("the backend is not set up"))
    }

    fn set_instance(&self, instance: Option<Arc<B>>) {
        *self
            .instance
            .write()
            .unwrap_or_else(PoisonError::into_inner) = instance;
    }

    /// The gRPC services for the plugin server: `pb.Backend`,
    /// `logical.PluginVersion` and `pluginutil.multiplexing.PluginMultiplexing`.
    pub fn into_routes(self) -> tonic::service::Routes {
        tonic::service::Routes::new(
            backend_server::BackendServer::new(self)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
        )
        .add_service(
            crate::pb::logical::plugin_version_server::PluginVersionServer::new(VersionService(
                B::info().version,
            )),
        )
        .add_service(
            crate::pb::multiplexing::plugin_multiplexing_server::PluginMultiplexingServer::new(
                VersionService(B::info().version),
            ),
        )
    }
}

/// Routes one request to the backend. Separate from gRPC so that it is the
/// single entry point for decoding, routing and validation.
pub async fn dispatch<B: LogicalBackend>(
    backend: &B,
    router: &Router<B>,
    mut request: Request,
) -> Result<Option<Response>, Error> {
    match request.operation {
        // OpenBao 2.7+ asks for a canonical path; "unsupported" keeps ours.
        Operation::ResolvePath => return Err(Error::UnsupportedOperation),
        Operation::Help => return help::respond(B::info(), router, &request.path).map(Some),
        Operation::Rollback => return backend.rollback().await.map(|()| None),
        _ => {}
    }
    let (spec, captures) = router.route(&request.path).ok_or(Error::UnsupportedPath)?;
    let operation = spec
        .operation(request.operation)
        .ok_or(Error::UnsupportedOperation)?;
    request.captures = captures;
    let mut response = (operation.handler)(backend, &request).await?;
    let unknown = spec.unknown_fields(&request.data);
    if response.raw_status().is_none() && !unknown.is_empty() {
        response.warn(format!(
            "Endpoint ignored these unrecognized parameters: [{}]",
            unknown.join(" ")
        ));
    }
    Ok(Some(response))
}

/// What `HandleRequest` answers for the outcome of [`dispatch`].
pub fn reply(result: Result<Option<Response>, Error>) -> pb::HandleRequestReply {
    match result {
        Ok(response) => pb::HandleRequestReply {
            response: response.map(Response::into_proto),
            err: None,
        },
        Err(error) => pb::HandleRequestReply {
            response: None,
            err: Some(error.to_proto()),
        },
    }
}

#[async_trait]
impl<B: LogicalBackend> backend_server::Backend for BackendServer<B> {
    async fn handle_request(
        &self,
        call: GrpcRequest<pb::HandleRequestArgs>,
    ) -> Result<GrpcResponse<pb::HandleRequestReply>, Status> {
        let backend = self.instance()?;
        let request = call
            .into_inner()
            .request
            .ok_or_else(|| Status::invalid_argument("no request"))?;
        let result = match Request::from_proto(request) {
            Ok(request) => dispatch(backend.as_ref(), &self.router, request).await,
            Err(error) => B::undecodable_body().map(Some).ok_or(error),
        };
        Ok(GrpcResponse::new(reply(result)))
    }

    async fn special_paths(
        &self,
        _: GrpcRequest<pb::Empty>,
    ) -> Result<GrpcResponse<pb::SpecialPathsReply>, Status> {
        let special = B::info().special_paths;
        let strings = |paths: &[&str]| paths.iter().map(|p| (*p).to_owned()).collect();
        Ok(GrpcResponse::new(pb::SpecialPathsReply {
            paths: Some(pb::Paths {
                unauthenticated: strings(special.unauthenticated),
                local_storage: strings(special.local_storage),
                seal_wrap_storage: strings(special.seal_wrap_storage),
                ..Default::default()
            }),
        }))
    }

    async fn handle_existence_check(
        &self,
        call: GrpcRequest<pb::HandleExistenceCheckArgs>,
    ) -> Result<GrpcResponse<pb::HandleExistenceCheckReply>, Status> {
        let backend = self.instance()?;
        let request = call
            .into_inner()
            .request
            .ok_or_else(|| Status::invalid_argument("no request"))?;
        // The check depends on the path, never on the body, so the body is
        // not decoded here: HandleRequest decodes it (and answers one it
        // cannot), where a failure here would become the host's 500.
        let mut request =
            Request::new(Operation::parse(&request.operation), request.path).with_id(request.id);
        let Some((check, captures)) = self
            .router
            .route(&request.path)
            .and_then(|(spec, captures)| Some((spec.existence_check?, captures)))
        else {
            // No check here: the host keeps the operation as `update`.
            return Ok(GrpcResponse::new(pb::HandleExistenceCheckReply::default()));
        };
        request.captures = captures;
        let reply = match check(backend.as_ref(), &request).await {
            Ok(exists) => pb::HandleExistenceCheckReply {
                check_found: true,
                exists,
                err: None,
            },
            Err(error) => pb::HandleExistenceCheckReply {
                check_found: true,
                exists: false,
                err: Some(error.to_proto()),
            },
        };
        Ok(GrpcResponse::new(reply))
    }

    async fn cleanup(&self, _: GrpcRequest<pb::Empty>) -> Result<GrpcResponse<pb::Empty>, Status> {
        self.set_instance(None);
        Ok(GrpcResponse::new(pb::Empty {}))
    }

    async fn invalidate_key(
        &self,
        call: GrpcRequest<pb::InvalidateKeyArgs>,
    ) -> Result<GrpcResponse<pb::Empty>, Status> {
        // Before Setup there is no instance, and nothing to go stale.
        if let Ok(backend) = self.instance() {
            backend.invalidate(&call.into_inner().key);
        }
        Ok(GrpcResponse::new(pb::Empty {}))
    }

    async fn setup(
        &self,
        call: GrpcRequest<pb::SetupArgs>,
    ) -> Result<GrpcResponse<pb::SetupReply>, Status> {
        let args = call.into_inner();
        let channel = match self.broker.dial(args.broker_id, BROKER_WAIT).await {
            Ok(channel) => channel,
            Err(error) => {
                tracing::error!(error = %error, "setup failed: cannot reach the host's storage");
                return Ok(GrpcResponse::new(pb::SetupReply {
                    err: error.to_string(),
                }));
            }
        };
        let deps = BackendDeps {
            storage: Arc::new(GrpcStorage::new(channel.clone())),
            system_view: Arc::new(GrpcSystemView::new(channel)),
        };
        self.set_instance(Some(Arc::new(B::create(deps))));
        tracing::debug!("backend set up");
        Ok(GrpcResponse::new(pb::SetupReply { err: String::new() }))
    }

    async fn initialize(
        &self,
        _: GrpcRequest<pb::InitializeArgs>,
    ) -> Result<GrpcResponse<pb::InitializeReply>, Status> {
        let backend = self.instance()?;
        let err = backend.initialize().await.err().map(|e| e.to_proto());
        Ok(GrpcResponse::new(pb::InitializeReply { err }))
    }

    async fn r#type(
        &self,
        _: GrpcRequest<pb::Empty>,
    ) -> Result<GrpcResponse<pb::TypeReply>, Status> {
        Ok(GrpcResponse::new(pb::TypeReply {
            r#type: B::info().backend_type as u32,
        }))
    }
}

/// `logical.PluginVersion` and the multiplexing probe: facts about the
/// binary. Holds the version it reports.
struct VersionService(&'static str);

#[async_trait]
impl PluginVersion for VersionService {
    async fn version(
        &self,
        _: GrpcRequest<logical::Empty>,
    ) -> Result<GrpcResponse<logical::VersionReply>, Status> {
        Ok(GrpcResponse::new(logical::VersionReply {
            plugin_version: self.0.to_owned(),
        }))
    }
}

#[async_trait]
impl PluginMultiplexing for VersionService {
    async fn multiplexing_support(
        &self,
        _: GrpcRequest<MultiplexingSupportRequest>,
    ) -> Result<GrpcResponse<MultiplexingSupportResponse>, Status> {
        // One process per mount keeps instances apart by construction.
        Ok(GrpcResponse::new(MultiplexingSupportResponse {
            supported: false,
        }))
    }
}
