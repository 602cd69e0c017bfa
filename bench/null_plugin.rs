//! The plugin's floor on its own gRPC stack, for `make bench`: the same
//! binary parts (go-plugin handshake, AutoMTLS, tonic/h2/rustls on one
//! tokio thread, the backend protocol server) with a backend that does no
//! work. Each request is answered at once with a body shaped like the
//! real one, and nothing is asked of the host: no storage, no system view.
//!
//! It answers the same host→plugin RPCs as the plugin (resolve-path, the
//! existence check before writes, the request), so its CPU per request,
//! against bao's for the same request, is the least any plugin built on
//! these crates can cost: the real plugin only adds its own work and its
//! calls to the host. Not a product; never registered outside the bench.

use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use vault_plugin_auth_ratls::protocol::{
    BackendDeps, BackendInfo, BackendServer, BackendType, BoxFuture, Error, LogicalBackend,
    Operation, OperationSpec, PathSpec, Request, Response, Router, SpecialPaths,
};
use vault_plugin_auth_ratls::transport::{self, PluginEnv, PreparedPlugin};
use vault_plugin_auth_ratls::{HANDSHAKE, announce};

struct NullBackend;

fn data(value: Value) -> Response {
    match value {
        Value::Object(map) => Response::with_data(map),
        _ => Response::with_data(Map::new()),
    }
}

/// A create answer as the plugin's (contract fields, otpauth URL, accessor).
fn created<'a>(_: &'a NullBackend, _: &'a Request) -> BoxFuture<'a, Result<Response, Error>> {
    Box::pin(async {
        Ok(data(json!({
            "uuid": "0e9b3f4c-3f1e-4f7a-8d2b-6a1c9e2f4b10",
            "created": 1_795_879_697,
            "expiration": 1_796_000_000,
            "policy": "bench",
            "accessor": "5b1f0c7e-2a4d-4e8b-9c3f-7d6e5a4b3c2d",
            "otpauth_url": "otpauth://totp/Nitride:bench?secret=GBSTSYRTMY2GGLJTMYYWKLJUMY3WCLJYMQZGELJWMEYWGOLFGJTDIYRRGA&issuer=Nitride&algorithm=SHA1&digits=6&period=30",
        })))
    })
}

fn read<'a>(_: &'a NullBackend, _: &'a Request) -> BoxFuture<'a, Result<Response, Error>> {
    Box::pin(async {
        Ok(data(json!({
            "accessor": "5b1f0c7e-2a4d-4e8b-9c3f-7d6e5a4b3c2d",
            "created": 1_795_879_697,
            "expiration": 1_796_000_000,
            "policy": "bench",
        })))
    })
}

fn deleted<'a>(_: &'a NullBackend, _: &'a Request) -> BoxFuture<'a, Result<Response, Error>> {
    Box::pin(async { Ok(data(json!({"deleted": true}))) })
}

fn not_valid<'a>(_: &'a NullBackend, _: &'a Request) -> BoxFuture<'a, Result<Response, Error>> {
    Box::pin(async { Ok(data(json!({"valid": false}))) })
}

fn absent<'a>(_: &'a NullBackend, _: &'a Request) -> BoxFuture<'a, Result<bool, Error>> {
    Box::pin(async { Ok(false) })
}

static NULL_INFO: BackendInfo<NullBackend> = BackendInfo {
    backend_type: BackendType::Credential,
    version: "v0.0.0-null",
    title: "bench floor",
    help: "Answers without doing anything (make bench only).",
    license: None,
    paths: &[
        PathSpec {
            pattern: "totp",
            display: "totp",
            operations: &[
                OperationSpec {
                    operation: Operation::Create,
                    id: "null-create",
                    summary: "",
                    handler: created,
                },
                OperationSpec {
                    operation: Operation::Update,
                    id: "null-update",
                    summary: "",
                    handler: created,
                },
            ],
            fields: &[],
            existence_check: Some(absent),
            synopsis: "",
            description: "",
        },
        PathSpec {
            pattern: "totp/verify",
            display: "totp/verify",
            operations: &[OperationSpec {
                operation: Operation::Update,
                id: "null-verify",
                summary: "",
                handler: not_valid,
            }],
            fields: &[],
            existence_check: None,
            synopsis: "",
            description: "",
        },
        PathSpec {
            pattern: "totp/(?P<uuid>[^/]+)",
            display: "totp/{uuid}",
            operations: &[
                OperationSpec {
                    operation: Operation::Read,
                    id: "null-read",
                    summary: "",
                    handler: read,
                },
                OperationSpec {
                    operation: Operation::Delete,
                    id: "null-delete",
                    summary: "",
                    handler: deleted,
                },
            ],
            fields: &[],
            existence_check: None,
            synopsis: "",
            description: "",
        },
    ],
    special_paths: SpecialPaths {
        unauthenticated: &[],
        local_storage: &[],
        seal_wrap_storage: &[],
    },
};

impl LogicalBackend for NullBackend {
    fn info() -> &'static BackendInfo<Self> {
        &NULL_INFO
    }

    fn create(_: BackendDeps) -> Self {
        Self
    }
}

async fn run() -> anyhow::Result<()> {
    let router = Arc::new(Router::new(NullBackend::info().paths)?);
    let plugin = PreparedPlugin::prepare(&HANDSHAKE, &PluginEnv::from_process())?;
    announce(&plugin.handshake_line())?;
    plugin
        .serve(
            |broker| BackendServer::<NullBackend>::new(router, broker).into_routes(),
            transport::parent_exited(std::os::unix::process::parent_id()),
        )
        .await
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("[ERROR] {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("[ERROR] {err:#}");
            ExitCode::FAILURE
        }
    }
}
