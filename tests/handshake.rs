//! The plugin binary as a host launches it: environment in, handshake line
//! out, mTLS that admits only the host's certificate, and the process rules
//! (exit codes, empty stdout on refusal, SIGINT ignored, exit with the parent).
//!
//! Also HashiCorp Vault's launches, replayed from its sources: registration
//! (an empty `Setup`, `Version`, kill), untyped registration (database cookie
//! first), the v4 fallback, the multiplexing probe and its opt-out, mlock;
//! and the shipped binary: static, and running in an empty root directory.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod oracle;
mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use support::{
    ElfNeeds, Handshake, HostBroker, HostCert, channel, host_channel, plugin_env, stranger_config,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use vault_plugin_auth_ratls::PLUGIN_VERSION;
use vault_plugin_auth_ratls::pb::backend::{self as pb, backend_client::BackendClient};
use vault_plugin_auth_ratls::pb::logical::plugin_version_client::PluginVersionClient;
use vault_plugin_auth_ratls::pb::multiplexing::{
    MultiplexingSupportRequest, plugin_multiplexing_client::PluginMultiplexingClient,
};
use vault_plugin_auth_ratls::pb::plugin::{
    ConnInfo, Empty, StdioData, grpc_broker_client::GrpcBrokerClient,
    grpc_controller_client::GrpcControllerClient, grpc_stdio_client::GrpcStdioClient,
};

const SERVING: i32 = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
const BACKEND_COOKIE: (&str, &str) = (
    "VAULT_BACKEND_PLUGIN",
    "6669da05-b1c8-4f49-97d9-c8e5bed98e20",
);
/// The database plugins' cookie (`sdk/database/dbplugin/v5`), which Vault
/// tries first when a registration names no type.
const DATABASE_COOKIE: (&str, &str) = (
    "VAULT_DATABASE_PLUGIN",
    "926a0820-aea2-be28-51d6-83cdf00e8edb",
);
const MLOCK_VAR: &str = "VAULT_PLUGIN_MLOCK_ENABLED";
/// go-plugin's `Kill`: after `Shutdown` the host waits this long for the
/// process to exit before it sends SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// A launched plugin, killed on drop if still running.
struct Launched {
    child: Child,
    handshake: Handshake,
}

impl Drop for Launched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Launched {
    /// go-plugin's `Kill`: `GRPCController.Shutdown` over `channel`, then the
    /// process must exit with status 0 within the grace period before
    /// SIGKILL. Returns everything it wrote to stderr.
    async fn shut_down(&mut self, channel: Channel) -> String {
        GrpcControllerClient::new(channel)
            .shutdown(Empty {})
            .await
            .unwrap();
        let status = wait_exit(&mut self.child, KILL_GRACE)
            .unwrap_or_else(|| panic!("still running {KILL_GRACE:?} after Shutdown"));
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).unwrap();
        }
        assert!(status.success(), "{status}: {stderr}");
        stderr
    }
}

/// Starts `command` with piped stdio and reads the handshake line; fails
/// with the plugin's stderr if there is none.
fn launch_command(mut command: Command) -> Launched {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    if line.is_empty() {
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        panic!("no handshake line; stderr: {stderr}");
    }
    Launched {
        child,
        handshake: Handshake::parse(&line),
    }
}

/// Launches the plugin with exactly `env`.
fn launch_env(env: Vec<(String, String)>) -> Launched {
    let mut command = Command::new(support::plugin_bin());
    command.env_clear().envs(env);
    launch_command(command)
}

fn launch(host: &HostCert) -> Launched {
    launch_env(plugin_env(&host.pem))
}

/// Runs the plugin to completion with exactly `env`.
fn run_env(env: Vec<(String, String)>) -> Output {
    Command::new(support::plugin_bin())
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// What HashiCorp Vault 1.15+ sets for a v5 backend launch: go-plugin's
/// variables (`client.go` Start) and Vault's, under `VAULT_*` names only
/// (`sdk/helper/pluginutil/run_config.go`, `env.go`).
fn vault_env(host: &HostCert) -> Vec<(String, String)> {
    let mut env = pairs(&[
        BACKEND_COOKIE,
        ("PLUGIN_PROTOCOL_VERSIONS", "5"),
        ("PLUGIN_MIN_PORT", "10000"),
        ("PLUGIN_MAX_PORT", "25000"),
        ("VAULT_VERSION", "1.20.0"),
        ("VAULT_PLUGIN_METADATA_MODE", "false"),
        ("VAULT_PLUGIN_AUTOMTLS_ENABLED", "true"),
    ]);
    env.push(("PLUGIN_CLIENT_CERT".into(), host.pem.clone()));
    env
}

/// Vault's fallback launch after a failed v5 one (`sdk/plugin/plugin.go`
/// NewPluginClient in metadata mode): protocols 3 and 4, no AutoMTLS.
fn vault_v4_env() -> Vec<(String, String)> {
    pairs(&[
        BACKEND_COOKIE,
        ("PLUGIN_PROTOCOL_VERSIONS", "3,4"),
        ("PLUGIN_MIN_PORT", "10000"),
        ("PLUGIN_MAX_PORT", "25000"),
        ("VAULT_VERSION", "1.20.0"),
        ("VAULT_PLUGIN_METADATA_MODE", "true"),
        ("VAULT_PLUGIN_AUTOMTLS_ENABLED", "false"),
    ])
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

async fn health(channel: Channel) -> Result<i32, tonic::Status> {
    let reply = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: "plugin".into(),
        })
        .await?;
    Ok(reply.into_inner().status)
}

/// Asserts a refused launch: exit 1, nothing on stdout, and exactly one line
/// on stderr, `[ERROR] ` (go-plugin reads the level from that prefix) plus
/// `message`. Returns the line.
fn assert_refused(name: &str, output: &Output, message: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
    assert!(
        output.stdout.is_empty(),
        "{name}: stdout {:?}",
        output.stdout
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{name}: one line: {stderr}");
    assert!(lines[0].starts_with("[ERROR] "), "{name}: {stderr}");
    assert!(lines[0].contains(message), "{name}: {stderr}");
    lines[0].to_owned()
}

#[tokio::test]
async fn serves_the_host_and_refuses_strangers() {
    let host = HostCert::go_plugin_like().unwrap();
    let mut plugin = launch(&host);
    let handshake = &plugin.handshake;
    assert_eq!(handshake.fields[..3], ["1", "5", "unix"]);
    assert_eq!(handshake.fields[4], "grpc");

    // The socket sits in a directory only this user may enter.
    let dir = handshake.socket.parent().unwrap();
    assert_eq!(
        std::fs::metadata(dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(&handshake.socket)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    // The host, with the certificate it put in PLUGIN_CLIENT_CERT, is served.
    assert_eq!(
        health(host_channel(&host, handshake)).await.unwrap(),
        SERVING
    );

    // The same permissive client is served when it presents the host's
    // certificate, so the refusals below are the certificate check's doing.
    let control = health(channel(
        handshake.socket.clone(),
        stranger_config(Some(&host.identity)),
    ))
    .await;
    assert_eq!(control.unwrap(), SERVING);
    // No certificate, or another host's (same subject, other key): refused.
    let other = HostCert::go_plugin_like().unwrap();
    for config in [
        stranger_config(None),
        stranger_config(Some(&other.identity)),
    ] {
        let result = health(channel(handshake.socket.clone(), config)).await;
        assert!(result.is_err(), "a stranger was served");
    }

    // SIGINT (a terminal's Ctrl-C) does not stop the plugin.
    let pid = plugin.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        plugin.child.try_wait().unwrap().is_none(),
        "SIGINT stopped the plugin"
    );
    assert_eq!(
        health(host_channel(&host, handshake)).await.unwrap(),
        SERVING
    );

    // Shutdown: a clean exit, socket directory removed, nothing more on stdout.
    GrpcControllerClient::new(host_channel(&host, handshake))
        .shutdown(Empty {})
        .await
        .unwrap();
    let status =
        wait_exit(&mut plugin.child, Duration::from_secs(3)).expect("exits after Shutdown");
    assert!(status.success(), "{status}");
    assert!(!dir.exists());
}

#[test]
fn refuses_launches_it_cannot_serve() {
    let host = HostCert::go_plugin_like().unwrap();
    let good = plugin_env(&host.pem);
    let with = |key: &str, value: Option<&str>| -> Vec<(String, String)> {
        let mut env: Vec<_> = good.iter().filter(|(k, _)| k != key).cloned().collect();
        if let Some(value) = value {
            env.push((key.to_owned(), value.to_owned()));
        }
        env
    };
    let cases = [
        (
            "no cookie (run by hand)",
            with("VAULT_BACKEND_PLUGIN", None),
            "not meant to be executed directly",
        ),
        (
            "wrong cookie",
            with(
                "VAULT_BACKEND_PLUGIN",
                Some("6669da05-b1c8-4f49-97d9-c8e5bed98e21"),
            ),
            "not meant to be executed directly",
        ),
        (
            "protocol 3,4 only",
            with("PLUGIN_PROTOCOL_VERSIONS", Some("3,4")),
            "speaks only version 5",
        ),
        (
            "no AutoMTLS certificate",
            with("PLUGIN_CLIENT_CERT", None),
            "requires AutoMTLS",
        ),
    ];
    for (name, env, message) in cases {
        assert_refused(name, &run_env(env), message);
    }
}

#[test]
fn exits_when_its_parent_dies() {
    let host = HostCert::go_plugin_like().unwrap();
    // A shell stands in for the host: it starts the plugin, prints its pid,
    // and is then killed without shutting the plugin down.
    let mut shell = Command::new("sh")
        .arg("-c")
        .arg("\"$0\" >/dev/null 2>&1 & echo $!; wait")
        .arg(support::plugin_bin())
        .env_clear()
        .envs(plugin_env(&host.pem))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(shell.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid: u32 = line.trim().parse().unwrap();
    let alive = || Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid);
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(), "plugin did not start");
    shell.kill().unwrap();
    shell.wait().unwrap();
    let start = Instant::now();
    while alive() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(), "plugin outlived its parent");
}

fn is_zombie(pid: u32) -> bool {
    let mut stat = String::new();
    if let Ok(mut file) = std::fs::File::open(format!("/proc/{pid}/stat")) {
        let _ = file.read_to_string(&mut stat);
    }
    stat.rsplit(')')
        .next()
        .is_some_and(|rest| rest.trim_start().starts_with('Z'))
}

// ---------------------------------------------------------------------------
// HashiCorp Vault's launches

/// Every Backend and PluginVersion call Vault makes carries a connection id
/// (`vault/plugincatalog/plugin_catalog.go` pluginClientConn), multiplexed or not.
fn vault_call<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("multiplex_id", "Qm4Tz8RkXw".parse().unwrap());
    request
}

/// One launch driven as Vault's plugin catalog drives it (`newPluginClient`):
/// connect, open go-plugin's broker and stdio streams, probe multiplexing
/// unless opted out, and announce the broker service `Setup` will name.
struct VaultSession {
    plugin: Launched,
    channel: Channel,
    broker: HostBroker,
    _announce: mpsc::Sender<ConnInfo>,
    _stdio: tonic::Streaming<StdioData>,
}

impl VaultSession {
    async fn start(host: &HostCert, env: Vec<(String, String)>, probe_multiplexing: bool) -> Self {
        let plugin = launch_env(env);
        let channel = host_channel(host, &plugin.handshake);
        let (announce, outbound) = mpsc::channel(4);
        GrpcBrokerClient::new(channel.clone())
            .start_stream(ReceiverStream::new(outbound))
            .await
            .unwrap();
        let stdio = GrpcStdioClient::new(channel.clone())
            .stream_stdio(())
            .await
            .unwrap()
            .into_inner();
        if probe_multiplexing {
            // `pluginutil.MultiplexingSupported`, on the bare connection.
            let reply = PluginMultiplexingClient::new(channel.clone())
                .multiplexing_support(MultiplexingSupportRequest {})
                .await
                .unwrap()
                .into_inner();
            assert!(!reply.supported, "one process per mount");
        }
        let broker = HostBroker::start(host, &plugin.handshake.cert);
        announce.send(broker.conn_info(1)).await.unwrap();
        Self {
            plugin,
            channel,
            broker,
            _announce: announce,
            _stdio: stdio,
        }
    }

    fn backend(&self) -> BackendClient<Channel> {
        BackendClient::new(self.channel.clone())
    }

    /// `Setup` naming broker service 1; returns the reply's error text.
    async fn setup(&self, config: &[(&str, &str)], backend_uuid: &str) -> String {
        let config: HashMap<String, String> = pairs(config).into_iter().collect();
        self.backend()
            .setup(vault_call(pb::SetupArgs {
                broker_id: 1,
                config,
                backend_uuid: backend_uuid.into(),
            }))
            .await
            .unwrap()
            .into_inner()
            .err
    }

    async fn backend_type(&self) -> u32 {
        self.backend()
            .r#type(vault_call(pb::Empty {}))
            .await
            .unwrap()
            .into_inner()
            .r#type
    }

    /// go-plugin's `Kill`: `Shutdown`, then the process must be gone within
    /// the grace period. Returns its stderr.
    async fn kill(mut self) -> String {
        self.plugin.shut_down(self.channel.clone()).await
    }
}

/// No error-level line, in go-plugin's JSON or plain form.
fn assert_no_errors(stderr: &str) {
    for line in stderr.lines() {
        assert!(
            !line.contains(r#""@level":"error""#) && !line.starts_with("[ERROR]"),
            "{stderr}"
        );
    }
}

/// Registration runs the plugin once: `Setup` with an empty config and no
/// storage behind the broker, then `Version`, then kill
/// (`vault/plugincatalog/plugin_catalog.go` getBackendRunningVersion).
async fn register(session: VaultSession) -> String {
    *session.broker.state.registration.lock().unwrap() = true;
    assert_eq!(session.setup(&[], "").await, "");
    let version = PluginVersionClient::new(session.channel.clone())
        .version(vault_call(vault_plugin_auth_ratls::pb::logical::Empty {}))
        .await
        .unwrap()
        .into_inner()
        .plugin_version;
    assert!(
        session.broker.state.calls.lock().unwrap().is_empty(),
        "Setup at registration must not use storage or the system view"
    );
    let stderr = session.kill().await;
    assert_no_errors(&stderr);
    version
}

#[tokio::test]
async fn vault_registration_sets_up_empty_reads_the_version_and_kills() {
    let host = HostCert::go_plugin_like().unwrap();
    let session = VaultSession::start(&host, vault_env(&host), true).await;
    // Vault records this as the catalog version (it must be semver).
    assert_eq!(register(session).await, PLUGIN_VERSION);
    assert_eq!(PLUGIN_VERSION, concat!("v", env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn vault_untyped_registration_tries_the_database_cookie_first() {
    let host = HostCert::go_plugin_like().unwrap();
    // isDatabasePlugin: v5 (protocols 5 and 6, AutoMTLS), then v4 (3 and 4).
    let mut database_v5 = vault_env(&host);
    database_v5.retain(|(k, _)| k != BACKEND_COOKIE.0 && k != "PLUGIN_PROTOCOL_VERSIONS");
    database_v5.extend(pairs(&[
        DATABASE_COOKIE,
        ("PLUGIN_PROTOCOL_VERSIONS", "5,6"),
    ]));
    let mut database_v4 = vault_v4_env();
    database_v4.retain(|(k, _)| k != BACKEND_COOKIE.0);
    database_v4.push((DATABASE_COOKIE.0.into(), DATABASE_COOKIE.1.into()));
    for (name, env) in [("database v5", database_v5), ("database v4", database_v4)] {
        assert_refused(name, &run_env(env), "not meant to be executed directly");
    }
    // getBackendPluginType: `Setup` with an empty config, then `Type`.
    let session = VaultSession::start(&host, vault_env(&host), true).await;
    *session.broker.state.registration.lock().unwrap() = true;
    assert_eq!(session.setup(&[], "").await, "");
    assert_eq!(session.backend_type().await, 2, "logical.TypeCredential");
    assert_no_errors(&session.kill().await);
    // Then the same launch as a typed registration, for the version.
    let session = VaultSession::start(&host, vault_env(&host), true).await;
    assert_eq!(register(session).await, PLUGIN_VERSION);
}

#[test]
fn vault_v4_fallback_is_refused_in_one_line() {
    let line = assert_refused("v4 fallback", &run_env(vault_v4_env()), "");
    assert_eq!(
        line,
        "[ERROR] the host offers plugin protocol versions [3,4], but this plugin speaks only \
         version 5 (gRPC with AutoMTLS): Vault 1.15+ and OpenBao offer 3,4 only after a \
         version 5 launch failed, whose error the server log shows; older Vault must be \
         upgraded"
    );
}

#[tokio::test]
async fn vault_multiplexing_opt_out_mounts_without_the_probe() {
    let host = HostCert::go_plugin_like().unwrap();
    // The opt-out lives in the server's environment, which plugins inherit;
    // the host then skips `MultiplexingSupport` altogether.
    let mut env = vault_env(&host);
    env.push((
        "VAULT_PLUGIN_MULTIPLEXING_OPT_OUT".into(),
        "vault-plugin-auth-ratls".into(),
    ));
    let session = VaultSession::start(&host, env.clone(), false).await;
    assert_eq!(register(session).await, PLUGIN_VERSION);

    // A mount (builtin/plugin/v5/backend.go, then the core): Setup with the
    // mount's config, Type, SpecialPaths, Initialize; then requests with no
    // `resolve-path` in front of them.
    let session = VaultSession::start(&host, env, false).await;
    let config = [
        ("plugin_name", "vault-plugin-auth-ratls"),
        ("plugin_type", "auth"),
        ("plugin_version", PLUGIN_VERSION),
    ];
    let uuid = "0f5c5a39-6f2b-4b8e-9a4c-0d7d1c2e3f40";
    assert_eq!(session.setup(&config, uuid).await, "");
    assert_eq!(session.backend_type().await, 2);
    let mut backend = session.backend();
    let paths = backend
        .special_paths(vault_call(pb::Empty {}))
        .await
        .unwrap()
        .into_inner()
        .paths
        .unwrap();
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
    let init = backend
        .initialize(vault_call(pb::InitializeArgs {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(init.err, None);
    let expiration = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let reply = backend
        .handle_request(vault_call(pb::HandleRequestArgs {
            storage_id: 0,
            request: Some(pb::Request {
                operation: "create".into(),
                path: "totp".into(),
                data: format!(r#"{{"policy":"p","expiration":{expiration}}}"#),
                mount_point: "auth/ratls/".into(),
                mount_type: "vault-plugin-auth-ratls".into(),
                ..Default::default()
            }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.err, None, "{reply:?}");
    let response = reply.response.expect("a create answer");
    let entry: serde_json::Value = serde_json::from_str(&response.data).unwrap();
    let id = entry["uuid"].as_str().unwrap();
    let names = {
        let entries = session.broker.state.entries.lock().unwrap();
        oracle::Names::from_record(std::str::from_utf8(&entries["meta/key"]).unwrap())
    };
    assert_eq!(entry["accessor"], names.accessor(id));
    let mut expected = vec!["meta/key".to_owned(), "meta/layout".to_owned()];
    expected.extend(names.new_entry_keys("p", id));
    expected.sort();
    assert_eq!(
        session.broker.state.keys(),
        expected,
        "mount key and layout record, then the entry (under the accessor its uuid derives) and its index key"
    );
    backend.cleanup(vault_call(pb::Empty {})).await.unwrap();
    assert_no_errors(&session.kill().await);
}

#[test]
fn containerized_launch_gets_six_fields_which_vault_refuses() {
    // `-oci_image` plugins run with PLUGIN_MULTIPLEX_GRPC=true, and go-plugin
    // then requires a seventh field `true` plus the broker's knock protocol.
    // This plugin answers with six, and Vault fails the launch with "client
    // requested gRPC broker multiplexing but plugin does not support the
    // feature" (go-plugin client.go): unsupported, but refused clearly.
    let host = HostCert::go_plugin_like().unwrap();
    let mut env = vault_env(&host);
    env.push(("PLUGIN_MULTIPLEX_GRPC".into(), "true".into()));
    let plugin = launch_env(env);
    assert_eq!(plugin.handshake.fields.len(), 6);
}

// ---------------------------------------------------------------------------
// mlock

/// `/proc/<pid>/status` fields measured in kB (`VmRSS`, `VmLck`, …).
fn memory_kb(pid: u32) -> BTreeMap<String, u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            let kb = value.trim().strip_suffix(" kB")?.trim().parse().ok()?;
            Some((key.to_owned(), kb))
        })
        .collect()
}

/// Whether this process may lock any amount of memory: root (CAP_IPC_LOCK)
/// or an unlimited RLIMIT_MEMLOCK.
fn may_lock_memory() -> bool {
    support::running_as_root()
        || std::fs::read_to_string("/proc/self/limits")
            .unwrap()
            .lines()
            .any(|l| l.starts_with("Max locked memory") && l.contains("unlimited"))
}

#[tokio::test]
async fn locks_its_memory_only_when_vault_asks() {
    let host = HostCert::go_plugin_like().unwrap();
    let unlocked = launch(&host);
    assert_eq!(
        health(host_channel(&host, &unlocked.handshake))
            .await
            .unwrap(),
        SERVING
    );
    let plain = memory_kb(unlocked.child.id());
    assert_eq!(plain["VmLck"], 0, "{plain:?}");
    for value in ["false", "TRUE", "1"] {
        let mut env = plugin_env(&host.pem);
        env.push((MLOCK_VAR.into(), value.into()));
        let plugin = launch_env(env);
        assert_eq!(
            memory_kb(plugin.child.id())["VmLck"],
            0,
            "{MLOCK_VAR}={value}"
        );
    }

    if !may_lock_memory() {
        eprintln!(
            "SKIPPED the locked launch: not root and RLIMIT_MEMLOCK is limited, so mlockall \
             must fail here (the refusal is tested as root)"
        );
        return;
    }
    let mut env = plugin_env(&host.pem);
    env.push((MLOCK_VAR.into(), "true".into()));
    let mut locked = launch_env(env);
    assert_eq!(
        health(host_channel(&host, &locked.handshake))
            .await
            .unwrap(),
        SERVING
    );
    let version = PluginVersionClient::new(host_channel(&host, &locked.handshake))
        .version(vault_plugin_auth_ratls::pb::logical::Empty {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.plugin_version, PLUGIN_VERSION);
    let memory = memory_kb(locked.child.id());
    assert!(memory["VmLck"] > 0, "{memory:?}");
    // Locked pages are resident.
    assert!(memory["VmRSS"] >= memory["VmLck"] * 9 / 10, "{memory:?}");
    eprintln!(
        "idle after a handshake and two calls: unlocked VmRSS {} kB; locked VmRSS {} kB, VmLck {} kB",
        plain["VmRSS"], memory["VmRSS"], memory["VmLck"]
    );
    let channel = host_channel(&host, &locked.handshake);
    locked.shut_down(channel).await;
}

#[test]
fn refuses_to_start_when_its_memory_cannot_be_locked() {
    if !support::running_as_root() {
        eprintln!("SKIPPED: needs root to run the plugin as another user with RLIMIT_MEMLOCK 0");
        return;
    }
    let copy = support::copy_for_other_user(&support::plugin_bin()).unwrap();
    let host = HostCert::go_plugin_like().unwrap();
    let mut env = vault_env(&host);
    env.push((MLOCK_VAR.into(), "true".into()));
    // As Vault's user without CAP_IPC_LOCK and with no lockable memory.
    let output = Command::new(system_tool("prlimit"))
        .args(["--memlock=0:0", "setpriv", "--reuid=65534", "--regid=65534"])
        .args(["--clear-groups", "--"])
        .arg(&copy.path)
        .env_clear()
        .envs(env)
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let line = assert_refused("mlock refused", &output, "");
    assert_eq!(
        line,
        "[ERROR] cannot lock the plugin's memory as VAULT_PLUGIN_MLOCK_ENABLED=true asks \
         (mlockall: Operation not permitted (os error 1)): give the plugin process \
         CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK (systemd: LimitMEMLOCK=infinity), or set \
         `disable_mlock = true` in the Vault server config"
    );
}

// ---------------------------------------------------------------------------
// The shipped binary

#[test]
fn release_binary_needs_no_loader_and_no_libc() {
    // Control: the check does see the dynamic build cargo makes for tests.
    let dynamic = support::elf_needs(Path::new(env!("CARGO_BIN_EXE_vault-plugin-auth-ratls")));
    assert!(dynamic.interpreter.is_some(), "{dynamic:?}");
    assert!(dynamic.needed_libraries > 0, "{dynamic:?}");
    let Some(release) = support::release_bin() else {
        eprintln!(
            "SKIPPED: {} is not set, so the launches here use cargo's dynamic test build \
             (`make test` sets it to the static release binary)",
            support::PLUGIN_BIN_VAR
        );
        return;
    };
    assert_eq!(
        support::elf_needs(&release),
        ElfNeeds {
            interpreter: None,
            needed_libraries: 0
        },
        "{} must be statically linked",
        release.display()
    );
}

/// Where `name` is installed (searched in this process's `PATH` and the
/// sbin directories): the launches here clear the environment, `PATH` too.
fn system_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed (util-linux/coreutils)"))
}

/// An otherwise empty root directory holding the release binary, a `/tmp`
/// for its socket and, with `devices`, the two entropy devices. `None`
/// (with the reason printed) where it cannot be built or used.
fn empty_root(devices: bool) -> Option<(tempfile::TempDir, PathBuf)> {
    if !support::running_as_root() {
        eprintln!("SKIPPED: chroot needs root");
        return None;
    }
    let Some(release) = support::release_bin() else {
        eprintln!(
            "SKIPPED: {} is not set; only the static release binary can run without a \
             dynamic loader (`make test` sets it)",
            support::PLUGIN_BIN_VAR
        );
        return None;
    };
    let root = tempfile::Builder::new()
        .prefix("chroot-")
        .tempdir()
        .unwrap();
    let tmp = root.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let bin = root.path().join("vault-plugin-auth-ratls");
    support::copy_executable(&release, &bin).unwrap();
    if devices {
        let dev = root.path().join("dev");
        std::fs::create_dir(&dev).unwrap();
        for (name, minor) in [("random", "8"), ("urandom", "9")] {
            let status = Command::new(system_tool("mknod"))
                .args(["-m", "0444"])
                .arg(dev.join(name))
                .args(["c", "1", minor])
                .status()
                .unwrap();
            assert!(status.success(), "mknod {name}");
        }
    }
    Some((root, PathBuf::from("/vault-plugin-auth-ratls")))
}

#[tokio::test]
async fn runs_in_an_empty_root_directory() {
    let Some((root, bin)) = empty_root(true) else {
        return;
    };
    let host = HostCert::go_plugin_like().unwrap();
    let mut command = Command::new(system_tool("chroot"));
    command
        .arg(root.path())
        .arg(&bin)
        .env_clear()
        .envs(plugin_env(&host.pem));
    let started = Instant::now();
    let mut plugin = launch_command(command);
    let handshake_time = started.elapsed();
    // The announced path is inside the new root.
    let inside = plugin.handshake.socket.clone();
    assert!(inside.starts_with("/tmp/"), "{}", inside.display());
    plugin.handshake.socket = root.path().join(inside.strip_prefix("/").unwrap());
    assert_eq!(
        health(host_channel(&host, &plugin.handshake))
            .await
            .unwrap(),
        SERVING
    );
    let entries: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let channel = host_channel(&host, &plugin.handshake);
    plugin.shut_down(channel).await;
    eprintln!(
        "static binary in a root holding only {entries:?}: handshake line after {handshake_time:?}"
    );
}

#[test]
fn reports_a_missing_entropy_source() {
    let Some((root, bin)) = empty_root(false) else {
        return;
    };
    let host = HostCert::go_plugin_like().unwrap();
    let output = Command::new(system_tool("chroot"))
        .arg(root.path())
        .arg(&bin)
        .env_clear()
        .envs(plugin_env(&host.pem))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let line = assert_refused("no /dev", &output, "");
    assert_eq!(
        line,
        "[ERROR] no entropy source: reading random bytes failed (No such file or directory \
         (os error 2)); a statically linked build reads them from /dev/random and \
         /dev/urandom, so a chroot or container root must provide both device files"
    );
}
