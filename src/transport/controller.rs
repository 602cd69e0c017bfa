//! `plugin.GRPCController`: the host asks us to exit.

use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::pb::plugin::Empty;
use crate::pb::plugin::grpc_controller_server::GrpcController;

pub(super) struct Controller {
    stop: CancellationToken,
}

impl Controller {
    pub(super) fn new(stop: CancellationToken) -> Self {
        Self { stop }
    }
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _: Request<Empty>) -> Result<Response<Empty>, Status> {
        tracing::debug!("the host asked the plugin to shut down");
        self.stop.cancel();
        Ok(Response::new(Empty {}))
    }
}
