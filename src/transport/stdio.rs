//! `plugin.GRPCStdio`. Our logs already reach the host on the process's
//! stderr, which go-plugin reads line by line, so the stream stays open and
//! empty; serving it spares the host a warning about a missing service.

use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::pb::plugin::StdioData;
use crate::pb::plugin::grpc_stdio_server::GrpcStdio;

pub(super) struct Stdio {
    stop: CancellationToken,
}

impl Stdio {
    pub(super) fn new(stop: CancellationToken) -> Self {
        Self { stop }
    }
}

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    type StreamStdioStream = tokio_stream::wrappers::ReceiverStream<Result<StdioData, Status>>;

    async fn stream_stdio(
        &self,
        _: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(super::idle_stream(self.stop.clone())))
    }
}
