//! The hot in-process path, without gRPC or TLS: the wire request
//! (`pb.HandleRequestArgs`, prost-encoded as the host sends it) is decoded,
//! turned into a `Request`, routed, validated and handled on in-memory
//! storage, and the reply is encoded back (`Response::into_proto` + prost),
//! exactly as `BackendServer::handle_request` does between the two gRPC
//! layers. Plus the stages on their own, and create with the plugin's log
//! subscriber installed (writing to a sink) to price the per-request log line.
//!
//! `cargo bench --bench dispatch` (part of `make bench`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use prost::Message as _;
use vault_plugin_auth_ratls::backend::{INFO, RatlsBackend};
use vault_plugin_auth_ratls::pb::backend as pb;
use vault_plugin_auth_ratls::protocol::server::{dispatch, reply};
use vault_plugin_auth_ratls::protocol::{Request, Response, Router};
use vault_plugin_auth_ratls::testing::{self, MemStorage, NOW, StaticSystemView};
use vault_plugin_auth_ratls::transport::log::GoPluginJson;

const EXPIRATION: i64 = NOW + 3000;
/// Entries a fresh backend may hold before the create bench starts over,
/// so that memory stays bounded however many iterations criterion asks for.
const CHUNK: u64 = 20_000;

struct Fixture {
    backend: RatlsBackend,
    router: Router<RatlsBackend>,
}

impl Fixture {
    fn new() -> Self {
        Self {
            backend: testing::backend(Arc::new(MemStorage::new()), StaticSystemView::writable()).0,
            router: Router::new(INFO.paths).unwrap(),
        }
    }

    /// One request through the whole in-process path; returns the encoded reply.
    async fn call(&self, wire: &[u8]) -> Vec<u8> {
        let args = pb::HandleRequestArgs::decode(wire).unwrap();
        let request = Request::from_proto(args.request.unwrap()).unwrap();
        let reply = reply(dispatch(&self.backend, &self.router, request).await);
        reply.encode_to_vec()
    }

    async fn create(&self, policy: &str) -> String {
        let reply = self.call(&create_wire(policy)).await;
        let reply = pb::HandleRequestReply::decode(reply.as_slice()).unwrap();
        let data: serde_json::Value = serde_json::from_str(&reply.response.unwrap().data).unwrap();
        data["uuid"].as_str().unwrap().to_owned()
    }
}

/// The wire form of a request, with the fields OpenBao fills in.
fn wire(operation: &str, path: &str, data: &str) -> Vec<u8> {
    pb::HandleRequestArgs {
        storage_id: 0,
        request: Some(pb::Request {
            id: "6e7d5a8e-1c1b-7c4f-0b7c-2d0a3f1b9e11".into(),
            operation: operation.into(),
            path: path.into(),
            data: data.into(),
            display_name: "root".into(),
            mount_point: "auth/ratls/".into(),
            mount_type: "vault-plugin-auth-ratls".into(),
            mount_accessor: "auth_vault-plugin-auth-ratls_9b799863".into(),
            ..Default::default()
        }),
    }
    .encode_to_vec()
}

fn create_wire(policy: &str) -> Vec<u8> {
    wire(
        "create",
        "totp",
        &format!(r#"{{"policy":"{policy}","expiration":{EXPIRATION}}}"#),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Time of `iters` creates; storage starts over every CHUNK entries
/// (outside the timing).
async fn time_creates(create: &[u8], iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        let fixture = Fixture::new();
        let start = Instant::now();
        for _ in 0..n {
            black_box(fixture.call(black_box(create)).await);
        }
        total += start.elapsed();
        left -= n;
    }
    total
}

fn end_to_end(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("dispatch");

    let create = create_wire("bench");
    group.bench_function("create", |b| {
        b.iter_custom(|iters| rt.block_on(time_creates(&create, iters)));
    });

    // create with the plugin's JSON log subscriber on (output to a sink): the
    // "created a TOTP entry" line each create logs in production.
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .event_format(GoPluginJson)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("create_with_log", |b| {
            b.iter_custom(|iters| rt.block_on(time_creates(&create, iters)));
        });
    });

    // read: 1000 live entries, read round-robin.
    let fixture = Fixture::new();
    let reads: Vec<Vec<u8>> = rt.block_on(async {
        let mut reads = Vec::new();
        for _ in 0..1000 {
            let id = fixture.create("bench").await;
            reads.push(wire("read", &format!("totp/{id}"), ""));
        }
        reads
    });
    group.bench_function("read", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % reads.len();
            rt.block_on(fixture.call(black_box(&reads[i])))
        });
    });

    // verify: a wrong code for a policy with one live entry (as make bench).
    let fixture = Fixture::new();
    rt.block_on(fixture.create("verify-bench"));
    let verify = wire(
        "update",
        "totp/verify",
        r#"{"policy":"verify-bench","code":"000000"}"#,
    );
    group.bench_function("verify", |b| {
        b.iter(|| rt.block_on(fixture.call(black_box(&verify))));
    });

    // delete: entries made beforehand (untimed), each deleted once.
    group.bench_function("delete", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(CHUNK);
                    let fixture = Fixture::new();
                    let mut deletes = Vec::with_capacity(usize::try_from(n).unwrap());
                    for _ in 0..n {
                        let id = fixture.create("bench").await;
                        deletes.push(wire("delete", &format!("totp/{id}"), ""));
                    }
                    let start = Instant::now();
                    for request in &deletes {
                        black_box(fixture.call(black_box(request)).await);
                    }
                    total += start.elapsed();
                    left -= n;
                }
                total
            })
        });
    });
    group.finish();
}

/// The stages of the path on their own, for the create request.
fn stages(c: &mut Criterion) {
    let mut group = c.benchmark_group("stage");
    let create = create_wire("bench");
    let router = Router::new(INFO.paths).unwrap();

    group.bench_function("decode_create (prost + from_proto)", |b| {
        b.iter(|| {
            let args = pb::HandleRequestArgs::decode(black_box(create.as_slice())).unwrap();
            Request::from_proto(args.request.unwrap()).unwrap()
        });
    });
    group.bench_function("route totp", |b| {
        b.iter(|| router.route(black_box("totp")).map(|(s, _)| s.display));
    });
    group.bench_function("route totp/<uuid>", |b| {
        b.iter(|| {
            router
                .route(black_box("totp/1b4e28ba-2fa1-41d2-883f-0016d3cca427"))
                .map(|(s, _)| s.display)
        });
    });
    group.bench_function("route totp/verify", |b| {
        b.iter(|| {
            router
                .route(black_box("totp/verify"))
                .map(|(s, _)| s.display)
        });
    });

    let rt = runtime();
    let fixture = Fixture::new();
    let reply = rt.block_on(fixture.call(&create));
    let response = pb::HandleRequestReply::decode(reply.as_slice())
        .unwrap()
        .response
        .unwrap();
    let data: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&response.data).unwrap();
    group.bench_function("encode_create_reply (into_proto + prost)", |b| {
        b.iter(|| {
            let response = Response::with_data(black_box(data.clone()));
            pb::HandleRequestReply {
                response: Some(response.into_proto()),
                err: None,
            }
            .encode_to_vec()
        });
    });
    group.finish();
}

fn config() -> Criterion {
    // Short: `make bench` runs this before the load runs; medians are stable
    // at these sample counts for µs-scale functions.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = end_to_end, stages
}
criterion_main!(benches);
