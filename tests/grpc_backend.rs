//! The plugin's gRPC services driven in-process by a fake host that serves
//! Storage and SystemView through the broker, as Vault does: the whole
//! protocol path except process launch.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod oracle;
mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Handshake, HostBroker, HostCert, host_channel, plugin_env};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use vault_plugin_auth_ratls::backend::RatlsBackend;
use vault_plugin_auth_ratls::pb::backend::{self as pb, backend_client::BackendClient};
use vault_plugin_auth_ratls::pb::logical::plugin_version_client::PluginVersionClient;
use vault_plugin_auth_ratls::pb::multiplexing::{
    MultiplexingSupportRequest, plugin_multiplexing_client::PluginMultiplexingClient,
};
use vault_plugin_auth_ratls::pb::plugin::{
    ConnInfo, Empty, grpc_broker_client::GrpcBrokerClient,
    grpc_controller_client::GrpcControllerClient,
};
use vault_plugin_auth_ratls::protocol::{BackendServer, LogicalBackend as _, Router};
use vault_plugin_auth_ratls::transport::{PluginEnv, PreparedPlugin};
use vault_plugin_auth_ratls::{HANDSHAKE, PLUGIN_VERSION};

struct Plugin {
    handshake: Handshake,
    channel: Channel,
    broker: HostBroker,
    /// Keeps the broker stream open; announcements go here.
    announce: mpsc::Sender<ConnInfo>,
    serving: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Plugin {
    /// Starts the plugin in-process and opens the broker stream, as the host
    /// does right after connecting. Nothing is announced yet.
    async fn start() -> Self {
        let host = HostCert::go_plugin_like().unwrap();
        let env = PluginEnv::from_vars(plugin_env(&host.pem));
        let prepared = PreparedPlugin::prepare(&HANDSHAKE, &env).unwrap();
        let handshake = Handshake::parse(&prepared.handshake_line());
        let router = Arc::new(Router::new(RatlsBackend::info().paths).unwrap());
        let serving = tokio::spawn(prepared.serve(
            move |broker| BackendServer::<RatlsBackend>::new(router, broker).into_routes(),
            std::future::pending(),
        ));
        let channel = host_channel(&host, &handshake);
        let broker = HostBroker::start(&host, &handshake.cert);
        let (announce, outbound) = mpsc::channel(4);
        GrpcBrokerClient::new(channel.clone())
            .start_stream(ReceiverStream::new(outbound))
            .await
            .unwrap();
        Self {
            handshake,
            channel,
            broker,
            announce,
            serving,
        }
    }

    /// Announces the broker service and sets the backend up, as `auth enable` does.
    async fn set_up() -> Self {
        let plugin = Self::start().await;
        plugin
            .announce
            .send(plugin.broker.conn_info(1))
            .await
            .unwrap();
        let reply = plugin
            .backend()
            .setup(setup_args(1))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.err, "");
        plugin
    }

    fn backend(&self) -> BackendClient<Channel> {
        BackendClient::new(self.channel.clone())
    }

    async fn request(&self, operation: &str, path: &str, data: &str) -> pb::HandleRequestReply {
        self.backend()
            .handle_request(pb::HandleRequestArgs {
                storage_id: 0,
                request: Some(request(operation, path, data)),
            })
            .await
            .unwrap()
            .into_inner()
    }
}

fn setup_args(broker_id: u32) -> pb::SetupArgs {
    pb::SetupArgs {
        broker_id,
        config: [
            (
                "plugin_name".to_owned(),
                "vault-plugin-auth-ratls".to_owned(),
            ),
            ("plugin_type".to_owned(), "auth".to_owned()),
        ]
        .into(),
        backend_uuid: "5e3f0d1c-0000-4000-8000-000000000000".into(),
    }
}

fn request(operation: &str, path: &str, data: &str) -> pb::Request {
    pb::Request {
        id: "req-1".into(),
        operation: operation.into(),
        path: path.into(),
        data: data.into(),
        mount_point: "auth/ratls/".into(),
        mount_type: "vault-plugin-auth-ratls".into(),
        ..Default::default()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn data(reply: &pb::HandleRequestReply) -> Value {
    assert_eq!(reply.err, None, "{reply:?}");
    serde_json::from_str(&reply.response.as_ref().expect("a response").data).unwrap()
}

/// The storage names of the mount, from its key record (the oracle of
/// layout v3, independent of the plugin's code).
fn names(plugin: &Plugin) -> oracle::Names {
    let entries = plugin.broker.state.entries.lock().unwrap();
    oracle::Names::from_record(std::str::from_utf8(&entries["meta/key"]).unwrap())
}

/// A raw response's status and decoded JSON body.
fn raw(reply: &pb::HandleRequestReply) -> (u64, Value) {
    use base64::Engine as _;
    let data = data(reply);
    assert_eq!(data["http_content_type"], "application/json");
    let body = base64::engine::general_purpose::STANDARD
        .decode(data["http_raw_body"].as_str().unwrap())
        .unwrap();
    (
        data["http_status_code"].as_u64().unwrap(),
        serde_json::from_slice(&body).unwrap(),
    )
}

#[tokio::test]
async fn mount_lifecycle_create_and_delete() {
    let plugin = Plugin::set_up().await;
    let mut backend = plugin.backend();

    let kind = backend.r#type(pb::Empty {}).await.unwrap().into_inner();
    assert_eq!(kind.r#type, 2, "credential backend");
    let special = backend
        .special_paths(pb::Empty {})
        .await
        .unwrap()
        .into_inner();
    let paths = special.paths.unwrap();
    assert_eq!(
        paths.seal_wrap_storage,
        [
            "meta/",
            "entry/",
            "accessor-of/",
            "index/",
            "last-step/",
            "attempts/"
        ]
    );
    assert!(paths.unauthenticated.is_empty());

    // Existence check on `totp` makes PUT a `create`; none elsewhere.
    let check = |path: &str| pb::HandleExistenceCheckArgs {
        storage_id: 0,
        request: Some(request("update", path, "{}")),
    };
    let reply = backend
        .handle_existence_check(check("totp"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reply.check_found, reply.exists, reply.err),
        (true, false, None)
    );
    let reply = backend
        .handle_existence_check(check("totp/1b4e28ba-2fa1-41d2-883f-0016d3cca427"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.check_found, reply.exists), (false, false));
    // The check on `totp` asks for the max lease TTL the create will need
    // (in the background); nothing touches storage.
    let calls = || plugin.broker.state.calls.lock().unwrap().clone();
    for _ in 0..200 {
        if !calls().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        calls(),
        ["max_lease_ttl"],
        "setup and existence checks must not touch storage"
    );
    // Initialize prepares the layout: the mount key and the layout record.
    let init = backend
        .initialize(pb::InitializeArgs {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(init.err, None);
    assert_eq!(plugin.broker.state.keys(), ["meta/key", "meta/layout"]);
    assert_eq!(
        plugin.broker.state.entries.lock().unwrap()["meta/layout"],
        oracle::LAYOUT_V3.as_bytes()
    );
    let entry_keys = || {
        let mut keys = plugin.broker.state.keys();
        keys.retain(|k| !k.starts_with("meta/"));
        keys
    };

    let expiration = now() + 600;
    let body =
        json!({"policy": "text", "expiration": expiration.to_string(), "created": 0}).to_string();
    let calls_before = calls().len();
    let reply = plugin.request("create", "totp", &body).await;
    let response = reply.response.as_ref().unwrap();
    assert_eq!(
        response.warnings,
        ["'created' was ignored: the plugin generates it"]
    );
    let mut entry = data(&reply);
    let url = entry
        .as_object_mut()
        .unwrap()
        .remove("otpauth_url")
        .unwrap();
    assert!(url.as_str().unwrap().starts_with("otpauth://totp/"));
    let uuid = entry["uuid"].as_str().unwrap().to_owned();
    assert_eq!(entry["expiration"], expiration);
    assert_eq!(entry["policy"], "text");
    assert!((entry["created"].as_i64().unwrap() - now()).abs() <= 2);
    let accessor = entry["accessor"].as_str().unwrap().to_owned();
    // The create (same request id as the check) used the answer asked for
    // by the check: two puts, no second max lease TTL call.
    let create_calls = calls();
    assert_eq!(
        create_calls[calls_before..]
            .iter()
            .filter(|c| *c == "put")
            .count(),
        2,
        "{create_calls:?}"
    );
    assert_eq!(
        create_calls[create_calls.len() - 2..],
        ["put", "put"],
        "{create_calls:?}"
    );
    assert_eq!(
        create_calls
            .iter()
            .filter(|c| *c == "max_lease_ttl")
            .count(),
        1,
        "{create_calls:?}"
    );
    // Exactly the entry, under the accessor its uuid derives, and its index
    // key: no accessor record.
    let names = names(&plugin);
    assert_eq!(accessor, names.accessor(&uuid));
    let keys = entry_keys();
    assert_eq!(keys, names.new_entry_keys("text", &uuid), "{keys:?}");
    assert_eq!(keys[0], format!("entry/{accessor}"));
    assert!(keys[1].starts_with("index/74657874/"));
    assert!(
        keys.iter().all(|k| !k.contains(&uuid)),
        "no key holds the uuid"
    );
    let stored: Value =
        serde_json::from_slice(&plugin.broker.state.entries.lock().unwrap()[&keys[0]]).unwrap();
    assert_eq!(stored, entry);
    assert_eq!(plugin.broker.state.entries.lock().unwrap()[&keys[1]], b"");

    for _ in 0..2 {
        let reply = plugin
            .request("delete", &format!("totp/{uuid}"), "null")
            .await;
        assert_eq!(data(&reply), json!({"deleted": true}));
        assert!(entry_keys().is_empty());
    }

    // Cleanup drops the instance; the host would call Setup again.
    backend.cleanup(pb::Empty {}).await.unwrap();
    let status = backend
        .handle_request(pb::HandleRequestArgs {
            storage_id: 0,
            request: Some(request("delete", "totp/x", "null")),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
}

#[tokio::test]
async fn errors_travel_as_vault_expects() {
    let plugin = Plugin::set_up().await;

    // OpenBao 2.7's resolve-path: "unsupported operation" keeps the path.
    let reply = plugin.request("resolve-path", "totp", "null").await;
    assert_eq!(reply.err.as_ref().unwrap().err_type, 5);
    assert!(reply.response.is_none());
    let reply = plugin.request("read", "nope", "null").await;
    assert_eq!(reply.err.as_ref().unwrap().err_type, 6);
    let reply = plugin.request("update", "totp", "{}").await;
    assert_eq!(reply.err.as_ref().unwrap().err_type, 5);
    let reply = plugin.request("create", "totp", "[1,2]").await;
    assert_eq!(raw(&reply).0, 400, "a body that is not an object");
    // Deeper than the decoder's recursion limit: a documented 400, not a crash.
    let deep = format!(
        r#"{{"policy":"p","x":{}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let (status, body) = raw(&plugin.request("create", "totp", &deep).await);
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({
            "statusCode": 400,
            "message": "Invalid request: the body must be a JSON object nested at most 127 levels deep.",
            "errors": ["Invalid request: the body must be a JSON object nested at most 127 levels deep."]
        })
    );

    // Bad input is a raw 400 in the documented shape, and nothing is stored.
    let reply = plugin
        .request("create", "totp", r#"{"policy":"text","expiration":0}"#)
        .await;
    let (status, body) = raw(&reply);
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({
            "statusCode": 400,
            "message": "Invalid request parameters: 'expiration' must be a Unix timestamp in the future.",
            "errors": {"expiration": "must be in the future"}
        })
    );
    let reply = plugin.request("delete", "totp/", "null").await;
    assert_eq!(
        raw(&reply).1["errors"],
        json!({"uuid": "Missing required field"})
    );
    assert!(plugin.broker.state.keys().is_empty());

    // A failing host storage is a 500 in the same shape.
    *plugin.broker.state.storage_error.lock().unwrap() = Some("barrier is sealed".into());
    let body = json!({"policy": "p", "expiration": now() + 60}).to_string();
    let (status, body) = raw(&plugin.request("create", "totp", &body).await);
    assert_eq!(status, 500);
    assert_eq!(body["statusCode"], 500);
    assert!(!body.to_string().contains("sealed"));

    // A mount max TTL from the system view bounds expiration.
    *plugin.broker.state.storage_error.lock().unwrap() = None;
    *plugin.broker.state.max_lease_ttl.lock().unwrap() = Duration::from_secs(60).as_nanos() as i64;
    let body = json!({"policy": "p", "expiration": now() + 120}).to_string();
    let (status, body) = raw(&plugin.request("create", "totp", &body).await);
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"]["expiration"],
        "exceeds the mount's max lease TTL"
    );
}

#[tokio::test]
async fn help_needs_no_storage_and_rollback_tidies() {
    let plugin = Plugin::set_up().await;
    let reply = plugin
        .request("help", "", r#"{"requestResponsePrefix":"auth"}"#)
        .await;
    let help = data(&reply);
    assert_eq!(help["openapi"]["openapi"], "3.0.2");
    assert!(help["openapi"]["paths"]["/totp"]["post"].is_object());
    let reply = plugin.request("help", "totp", "null").await;
    assert!(
        data(&reply)["help"]
            .as_str()
            .unwrap()
            .contains("expiration (int)")
    );
    assert!(plugin.broker.state.calls.lock().unwrap().is_empty());
    // Rollback answers nothing and, on a node that may write, tidies.
    let reply = plugin.request("rollback", "", "null").await;
    assert_eq!((reply.err, reply.response), (None, None));
    assert!(
        plugin
            .broker
            .state
            .calls
            .lock()
            .unwrap()
            .contains(&"list".to_owned())
    );
}

/// Rollback tidies where the node writes the mount itself, as AppRole
/// decides: a local mount, or a node that is no performance standby or
/// secondary (`consts.ReplicationState` bits from Vault's sources).
#[tokio::test]
async fn rollback_tidies_where_the_mount_is_local_or_the_node_may_write() {
    const DISABLED: u32 = 1 << 12 | 1 << 13;
    const PERF_PRIMARY: u32 = 1 << 5;
    const PERF_SECONDARY: u32 = 1 << 6;
    const DR_SECONDARY: u32 = 1 << 9;
    const PERF_STANDBY: u32 = 1 << 14;
    let cases = [
        ("no replication", DISABLED, false, true),
        ("no replication, local", DISABLED, true, true),
        ("performance primary", PERF_PRIMARY, false, true),
        ("performance secondary", PERF_SECONDARY, false, false),
        (
            "performance secondary, local mount",
            PERF_SECONDARY,
            true,
            true,
        ),
        ("performance standby", DISABLED | PERF_STANDBY, false, false),
        (
            "performance standby, local mount",
            DISABLED | PERF_STANDBY,
            true,
            true,
        ),
        ("DR secondary", DR_SECONDARY, false, false),
    ];
    for (name, state, local, tidies) in cases {
        let plugin = Plugin::set_up().await;
        *plugin.broker.state.replication_state.lock().unwrap() = state;
        *plugin.broker.state.local_mount.lock().unwrap() = local;
        let reply = plugin.request("rollback", "", "null").await;
        assert_eq!((reply.err, reply.response), (None, None), "{name}");
        // Tidy is the only work here that lists `entry/`.
        let listed = plugin.broker.state.listed.lock().unwrap().clone();
        assert_eq!(
            listed.contains(&"entry/".to_owned()),
            tidies,
            "{name}: listed {listed:?}"
        );
    }
}

#[tokio::test]
async fn setup_waits_for_a_late_announcement() {
    let plugin = Plugin::start().await;
    let mut backend = plugin.backend();
    let setup = tokio::spawn(async move { backend.setup(setup_args(1)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    plugin
        .announce
        .send(plugin.broker.conn_info(1))
        .await
        .unwrap();
    let reply = setup.await.unwrap().unwrap().into_inner();
    assert_eq!(reply.err, "");
    let body = json!({"policy": "p", "expiration": now() + 60}).to_string();
    let entry = data(&plugin.request("create", "totp", &body).await);
    assert_eq!(entry["policy"], "p");
    // The mount key and layout record, then the entry and its index key.
    let mut expected = vec!["meta/key".to_owned(), "meta/layout".to_owned()];
    expected.extend(names(&plugin).new_entry_keys("p", entry["uuid"].as_str().unwrap()));
    expected.sort();
    assert_eq!(plugin.broker.state.keys(), expected);
}

#[tokio::test]
async fn setup_reports_a_missing_announcement() {
    let plugin = Plugin::start().await;
    plugin
        .announce
        .send(plugin.broker.conn_info(1))
        .await
        .unwrap();
    let reply = plugin
        .backend()
        .setup(setup_args(2))
        .await
        .unwrap()
        .into_inner();
    assert!(
        reply.err.contains("did not announce broker service 2"),
        "{}",
        reply.err
    );
}

#[tokio::test]
async fn go_plugin_services_answer() {
    let plugin = Plugin::set_up().await;
    let version = PluginVersionClient::new(plugin.channel.clone())
        .version(vault_plugin_auth_ratls::pb::logical::Empty {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.plugin_version, PLUGIN_VERSION);
    assert_eq!(
        version.plugin_version,
        concat!("v", env!("CARGO_PKG_VERSION"))
    );
    let mux = PluginMultiplexingClient::new(plugin.channel.clone())
        .multiplexing_support(MultiplexingSupportRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!mux.supported);
    let health = tonic_health::pb::health_client::HealthClient::new(plugin.channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: "plugin".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    // Shutdown ends `serve`, and the socket directory goes with it.
    GrpcControllerClient::new(plugin.channel.clone())
        .shutdown(Empty {})
        .await
        .unwrap();
    let socket_dir = plugin.handshake.socket.parent().unwrap().to_owned();
    let result = tokio::time::timeout(Duration::from_secs(5), plugin.serving).await;
    result
        .expect("serve returns after Shutdown")
        .unwrap()
        .unwrap();
    assert!(!socket_dir.exists());
}

/// HashiCorp Vault sends no `resolve-path` (an OpenBao 2.7 addition): each
/// request arrives as itself, with Vault's `multiplex_id` metadata
/// (`vault/plugincatalog/plugin_catalog.go` pluginClientConn), after the
/// existence check for writes (`vault/request_handling.go`).
#[tokio::test]
async fn vault_requests_arrive_without_resolve_path() {
    let plugin = Plugin::set_up().await;
    let mut backend = plugin.backend();
    let vault = |operation: &str, path: &str, data: &str| {
        let mut call = tonic::Request::new(pb::HandleRequestArgs {
            storage_id: 0,
            request: Some(request(operation, path, data)),
        });
        call.metadata_mut()
            .insert("multiplex_id", "Qm4Tz8RkXw".parse().unwrap());
        call
    };

    let mut check = tonic::Request::new(pb::HandleExistenceCheckArgs {
        storage_id: 0,
        request: Some(request("update", "totp", "{}")),
    });
    check
        .metadata_mut()
        .insert("multiplex_id", "Qm4Tz8RkXw".parse().unwrap());
    let reply = backend.handle_existence_check(check).await.unwrap();
    assert_eq!(
        (reply.get_ref().check_found, reply.get_ref().exists),
        (true, false),
        "PUT totp becomes create"
    );
    let body = json!({"policy": "p", "expiration": now() + 600}).to_string();
    let reply = backend
        .handle_request(vault("create", "totp", &body))
        .await
        .unwrap();
    let created = data(reply.get_ref());
    let uuid = created["uuid"].as_str().unwrap().to_owned();
    let accessor = created["accessor"].as_str().unwrap().to_owned();

    let reply = backend
        .handle_request(vault("read", &format!("totp/{uuid}"), "null"))
        .await
        .unwrap();
    let read = data(reply.get_ref());
    assert_eq!(read["accessor"], accessor.as_str());
    assert_eq!(read["policy"], "p");
    assert!(read.get("uuid").is_none(), "no read answers the uuid");
    let reply = backend
        .handle_request(vault("list", "totp/", "null"))
        .await
        .unwrap();
    assert_eq!(data(reply.get_ref())["keys"], json!([accessor]));
    let reply = backend
        .handle_request(vault("help", "totp", "null"))
        .await
        .unwrap();
    assert!(data(reply.get_ref())["help"].is_string());
    let reply = backend
        .handle_request(vault("delete", &format!("totp/{uuid}"), "null"))
        .await
        .unwrap();
    assert_eq!(data(reply.get_ref()), json!({"deleted": true}));
    // Only the mount's own records are left.
    assert_eq!(plugin.broker.state.keys(), ["meta/key", "meta/layout"]);
}

/// The host's InvalidateKey reaches the backend: a lockout the plugin
/// remembers, cleared in storage by another node, is forgotten when the
/// host invalidates its key, and only then.
#[tokio::test]
async fn invalidate_key_forgets_a_lockout_cleared_elsewhere() {
    let plugin = Plugin::set_up().await;
    let expiration = now() + 600;
    let reply = plugin
        .request(
            "create",
            "totp",
            &format!(r#"{{"policy":"inv","expiration":{expiration}}}"#),
        )
        .await;
    assert!(data(&reply)["uuid"].is_string(), "{reply:?}");
    // Twenty different codes: at most the few steps verify accepts can be
    // right, so well over five are counted and the policy locks.
    for n in 0..20 {
        plugin
            .request(
                "update",
                "totp/verify",
                &format!(r#"{{"policy":"inv","code":"{n:06}"}}"#),
            )
            .await;
    }
    let wrong = r#"{"policy":"inv","code":"666666"}"#;
    let key = "attempts/policy/696e76";
    assert!(plugin.broker.state.keys().contains(&key.to_owned()));
    assert_eq!(
        raw(&plugin.request("update", "totp/verify", wrong).await).0,
        429
    );
    // Another node clears it: the record leaves the (shared) storage.
    plugin.broker.state.entries.lock().unwrap().remove(key);
    assert_eq!(
        raw(&plugin.request("update", "totp/verify", wrong).await).0,
        429
    );
    plugin
        .backend()
        .invalidate_key(pb::InvalidateKeyArgs {
            key: key.to_owned(),
        })
        .await
        .unwrap();
    // Checked again (answered `valid`, whatever the code), not refused.
    let reply = plugin.request("update", "totp/verify", wrong).await;
    assert!(data(&reply)["valid"].is_boolean(), "{reply:?}");
}
