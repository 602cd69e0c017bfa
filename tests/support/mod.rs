//! A fake go-plugin host for tests: it makes a certificate the way go-plugin
//! does, talks to the plugin over mTLS, and serves Storage and SystemView
//! (on in-memory storage) through the broker, as Vault does.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::UnixStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Request, Response, Status};
use vault_plugin_auth_ratls::pb::backend as pb;
use vault_plugin_auth_ratls::pb::backend::storage_server::{Storage, StorageServer};
use vault_plugin_auth_ratls::pb::backend::system_view_server::{SystemView, SystemViewServer};
use vault_plugin_auth_ratls::transport::{Identity, PluginListener, tls};

/// The environment variables Vault sets for a v5 backend plugin.
pub fn plugin_env(host_cert_pem: &str) -> Vec<(String, String)> {
    vec![
        (
            "VAULT_BACKEND_PLUGIN".into(),
            "6669da05-b1c8-4f49-97d9-c8e5bed98e20".into(),
        ),
        ("PLUGIN_PROTOCOL_VERSIONS".into(), "5".into()),
        ("PLUGIN_CLIENT_CERT".into(), host_cert_pem.into()),
        ("PLUGIN_MIN_PORT".into(), "10000".into()),
        ("PLUGIN_MAX_PORT".into(), "25000".into()),
        ("VAULT_PLUGIN_AUTOMTLS_ENABLED".into(), "true".into()),
        ("BAO_PLUGIN_AUTOMTLS_ENABLED".into(), "true".into()),
    ]
}

pub use vault_plugin_auth_ratls::testing::HostCert;

/// The handshake line, split into its fields.
#[derive(Debug, Clone)]
pub struct Handshake {
    pub fields: Vec<String>,
    pub socket: PathBuf,
    pub cert: CertificateDer<'static>,
}

impl Handshake {
    pub fn parse(line: &str) -> Self {
        let fields: Vec<String> = line.trim_end().split('|').map(str::to_owned).collect();
        assert_eq!(fields.len(), 6, "handshake line {line:?}");
        let der = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(&fields[5])
            .expect("certificate is unpadded standard base64");
        Self {
            socket: PathBuf::from(&fields[3]),
            cert: CertificateDer::from(der),
            fields,
        }
    }
}

/// A lazily connecting channel to the plugin over the handshake's socket.
pub fn channel(socket: PathBuf, config: Arc<rustls::ClientConfig>) -> Channel {
    let connector = tokio_rustls::TlsConnector::from(config);
    Endpoint::from_static("http://localhost").connect_with_connector_lazy(tower::service_fn(
        move |_: Uri| {
            let socket = socket.clone();
            let connector = connector.clone();
            async move {
                let stream = UnixStream::connect(&socket).await?;
                let name = ServerName::try_from("localhost").unwrap();
                let stream = connector.connect(name, stream).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        },
    ))
}

/// The host's client: presents the host certificate, trusts only the plugin's.
pub fn host_channel(host: &HostCert, handshake: &Handshake) -> Channel {
    channel(
        handshake.socket.clone(),
        tls::client_config(&host.identity, &handshake.cert).unwrap(),
    )
}

/// A client that accepts any server certificate and presents `identity`, or none.
pub fn stranger_config(identity: Option<&Identity>) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer::default()));
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            let key = rustls_pki_types::PrivateKeyDer::Pkcs8(identity_key(identity));
            builder
                .with_client_auth_cert(vec![identity.cert_der().clone()], key)
                .unwrap()
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

fn identity_key(identity: &Identity) -> rustls_pki_types::PrivatePkcs8KeyDer<'static> {
    identity.key_der().clone_key()
}

/// Accepts any server certificate, keeping the last one seen: the client
/// side of a stranger, who does not know whom it talks to.
#[derive(Debug, Default)]
pub struct AcceptAnyServer(pub Mutex<Option<CertificateDer<'static>>>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.0.lock().unwrap() = Some(end_entity.clone().into_owned());
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Presents a fixed chain and key, whether or not they belong together
/// (rustls's own builder refuses a mismatched pair; a hostile client need not).
#[derive(Debug)]
pub struct FixedClientCert(pub Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for FixedClientCert {
    fn resolve(
        &self,
        _: &[&[u8]],
        _: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
    fn has_certs(&self) -> bool {
        true
    }
}

/// What the fake host keeps: storage entries and the answers it gives.
#[derive(Default)]
pub struct HostState {
    pub entries: Mutex<BTreeMap<String, Vec<u8>>>,
    /// When set, storage calls answer with this error string.
    pub storage_error: Mutex<Option<String>>,
    /// Nanoseconds.
    pub max_lease_ttl: Mutex<i64>,
    /// `consts.ReplicationState` bits the host reports.
    pub replication_state: Mutex<u32>,
    /// Whether the mount is local.
    pub local_mount: Mutex<bool>,
    pub calls: Mutex<Vec<String>>,
    /// The prefixes the plugin listed, in order.
    pub listed: Mutex<Vec<String>>,
    /// As at plugin registration, where Vault's `Setup` has no storage or
    /// system view behind the broker: every call fails with gRPC UNKNOWN.
    pub registration: Mutex<bool>,
}

impl HostState {
    pub fn keys(&self) -> Vec<String> {
        self.entries.lock().unwrap().keys().cloned().collect()
    }

    /// Fails `call` (and records it) when the host is registering the plugin.
    fn available(&self, call: &str) -> Result<(), Status> {
        if *self.registration.lock().unwrap() {
            self.calls.lock().unwrap().push(call.to_owned());
            return Err(Status::unknown(format!(
                "missing implementation for {call}: this method should not be called during \
                 plugin Setup, but only during and after Initialize"
            )));
        }
        Ok(())
    }

    fn record(&self, call: &str) -> Option<String> {
        self.calls.lock().unwrap().push(call.to_owned());
        self.storage_error.lock().unwrap().clone()
    }
}

#[derive(Clone)]
struct HostServices(Arc<HostState>);

#[tonic::async_trait]
impl Storage for HostServices {
    async fn list(
        &self,
        r: Request<pb::StorageListArgs>,
    ) -> Result<Response<pb::StorageListReply>, Status> {
        self.0.available("list")?;
        let prefix = r.into_inner().prefix;
        self.0.listed.lock().unwrap().push(prefix.clone());
        if let Some(err) = self.0.record("list") {
            return Ok(Response::new(pb::StorageListReply { keys: vec![], err }));
        }
        let keys = self
            .0
            .keys()
            .into_iter()
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned))
            .collect();
        Ok(Response::new(pb::StorageListReply {
            keys,
            err: String::new(),
        }))
    }

    /// As HashiCorp Vault: no paging (OpenBao's bao serves it in the
    /// end-to-end tests).
    async fn list_page(
        &self,
        _: Request<pb::StorageListPageArgs>,
    ) -> Result<Response<pb::StorageListReply>, Status> {
        self.0.record("list_page");
        Err(Status::unimplemented("unknown method ListPage"))
    }

    async fn get(
        &self,
        r: Request<pb::StorageGetArgs>,
    ) -> Result<Response<pb::StorageGetReply>, Status> {
        self.0.available("get")?;
        let key = r.into_inner().key;
        if let Some(err) = self.0.record("get") {
            return Ok(Response::new(pb::StorageGetReply { entry: None, err }));
        }
        let entry = self
            .0
            .entries
            .lock()
            .unwrap()
            .get(&key)
            .map(|value| pb::StorageEntry {
                key: key.clone(),
                value: value.clone(),
                seal_wrap: false,
            });
        Ok(Response::new(pb::StorageGetReply {
            entry,
            err: String::new(),
        }))
    }

    async fn put(
        &self,
        r: Request<pb::StoragePutArgs>,
    ) -> Result<Response<pb::StoragePutReply>, Status> {
        self.0.available("put")?;
        let entry = r.into_inner().entry.unwrap();
        if let Some(err) = self.0.record("put") {
            return Ok(Response::new(pb::StoragePutReply { err }));
        }
        self.0
            .entries
            .lock()
            .unwrap()
            .insert(entry.key, entry.value);
        Ok(Response::new(pb::StoragePutReply { err: String::new() }))
    }

    async fn delete(
        &self,
        r: Request<pb::StorageDeleteArgs>,
    ) -> Result<Response<pb::StorageDeleteReply>, Status> {
        self.0.available("delete")?;
        let key = r.into_inner().key;
        if let Some(err) = self.0.record("delete") {
            return Ok(Response::new(pb::StorageDeleteReply { err }));
        }
        self.0.entries.lock().unwrap().remove(&key);
        Ok(Response::new(pb::StorageDeleteReply { err: String::new() }))
    }
}

#[tonic::async_trait]
impl SystemView for HostServices {
    async fn default_lease_ttl(
        &self,
        _: Request<pb::Empty>,
    ) -> Result<Response<pb::TtlReply>, Status> {
        self.0.available("default_lease_ttl")?;
        Ok(Response::new(pb::TtlReply {
            ttl: *self.0.max_lease_ttl.lock().unwrap(),
        }))
    }

    async fn max_lease_ttl(&self, _: Request<pb::Empty>) -> Result<Response<pb::TtlReply>, Status> {
        self.0.available("max_lease_ttl")?;
        self.0.record("max_lease_ttl");
        Ok(Response::new(pb::TtlReply {
            ttl: *self.0.max_lease_ttl.lock().unwrap(),
        }))
    }

    async fn replication_state(
        &self,
        _: Request<pb::Empty>,
    ) -> Result<Response<pb::ReplicationStateReply>, Status> {
        self.0.available("replication_state")?;
        let state = *self.0.replication_state.lock().unwrap();
        Ok(Response::new(pb::ReplicationStateReply {
            state: state as i32,
        }))
    }

    async fn local_mount(
        &self,
        _: Request<pb::Empty>,
    ) -> Result<Response<pb::LocalMountReply>, Status> {
        self.0.available("local_mount")?;
        Ok(Response::new(pb::LocalMountReply {
            local: *self.0.local_mount.lock().unwrap(),
        }))
    }
}

/// The host's broker listener: Storage and SystemView over mTLS on a unix
/// socket, accepting only the plugin's certificate. Stops on drop.
pub struct HostBroker {
    pub socket: PathBuf,
    pub state: Arc<HostState>,
    stop: CancellationToken,
}

impl HostBroker {
    pub fn start(host: &HostCert, plugin_cert: &CertificateDer<'static>) -> Self {
        let state = Arc::new(HostState::default());
        *state.max_lease_ttl.lock().unwrap() =
            Duration::from_secs(32 * 24 * 3600).as_nanos() as i64;
        // Performance and DR replication disabled, as every OpenBao server.
        *state.replication_state.lock().unwrap() = 12288;
        let listener = PluginListener::bind().unwrap();
        let socket = listener.path().to_owned();
        let stop = CancellationToken::new();
        let incoming = listener.incoming(
            tls::server_config(&host.identity, plugin_cert).unwrap(),
            stop.clone(),
        );
        let services = HostServices(state.clone());
        let signal = stop.clone().cancelled_owned();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(StorageServer::new(services.clone()))
                .add_service(SystemViewServer::new(services))
                .serve_with_incoming_shutdown(incoming, signal),
        );
        Self {
            socket,
            state,
            stop,
        }
    }

    /// The announcement a host sends on the broker stream for `id`.
    pub fn conn_info(&self, id: u32) -> vault_plugin_auth_ratls::pb::plugin::ConnInfo {
        vault_plugin_auth_ratls::pb::plugin::ConnInfo {
            service_id: id,
            network: "unix".into(),
            address: self.socket.display().to_string(),
            knock: None,
        }
    }
}

impl Drop for HostBroker {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Set, in a re-run of a test binary, to the socket a probe must be refused.
pub const PROBE_VAR: &str = "RATLS_OTHER_USER_PROBE";
/// The unprivileged user the probe runs as (`nobody`).
pub const OTHER_UID: u32 = 65534;

/// Whether this process runs as root (and so may start the probe as another user).
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Re-runs this test binary's probe test `test` (its full name, e.g.
/// `channel::other_user_probe`) as uid/gid [`OTHER_UID`] against `socket`,
/// and returns what it printed; fails unless the probe was refused. The
/// binary runs from a copy that user can reach, since the checkout (and so
/// `target/`) may sit in a directory only root may enter. `None`, with the
/// reason printed, where no such place exists.
pub fn probe_as_other_user(test: &str, socket: &std::path::Path) -> Option<String> {
    use std::os::unix::process::CommandExt as _;
    let copy = match copy_for_other_user(&std::env::current_exe().unwrap()) {
        Ok(copy) => copy,
        Err(reason) => {
            eprintln!("SKIPPED the other-user probe: {reason}");
            return None;
        }
    };
    let output = std::process::Command::new(&copy.path)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(PROBE_VAR, socket)
        .uid(OTHER_UID)
        .gid(OTHER_UID)
        .current_dir("/")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "probe as uid {OTHER_UID}: {text}");
    assert!(text.contains("PROBE: refused"), "{text}");
    Some(text)
}

/// A copy of an executable in a fresh directory that uid [`OTHER_UID`] can
/// reach and execute; the directory goes away on drop.
pub struct OtherUserCopy {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

/// Copies `binary` to a fresh `0755` directory under the first of `$TMPDIR`,
/// `/tmp`, `/var/tmp` and `/dev/shm` that every user can traverse and that is
/// not mounted `noexec`. `Err` names why none would do.
pub fn copy_for_other_user(binary: &std::path::Path) -> Result<OtherUserCopy, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut bases = vec![std::env::temp_dir()];
    for base in ["/tmp", "/var/tmp", "/dev/shm"] {
        if !bases.iter().any(|b| b == std::path::Path::new(base)) {
            bases.push(PathBuf::from(base));
        }
    }
    let mut refusals = Vec::new();
    for base in bases {
        if let Some(blocker) = base.ancestors().find(|dir| {
            std::fs::metadata(dir).map_or(true, |m| m.permissions().mode() & 0o001 == 0)
        }) {
            refusals.push(format!(
                "{} cannot be traversed by other users",
                blocker.display()
            ));
            continue;
        }
        if mounted_noexec(&base) {
            refusals.push(format!("{} is mounted noexec", base.display()));
            continue;
        }
        let dir = tempfile::Builder::new()
            .prefix("ratls-other-user-")
            .tempdir_in(&base)
            .map_err(|e| format!("creating a directory in {}: {e}", base.display()))?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join(binary.file_name().unwrap());
        copy_executable(binary, &path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        return Ok(OtherUserCopy { path, _dir: dir });
    }
    Err(format!(
        "no directory another user can execute from: {}",
        refusals.join("; ")
    ))
}

/// Copies an executable with `cp`, so that this process never holds the copy
/// open for writing: tests run on several threads, and a child another
/// thread forks meanwhile inherits such a descriptor until its own exec,
/// which makes exec'ing the copy fail with ETXTBSY ("Text file busy").
pub fn copy_executable(from: &std::path::Path, to: &std::path::Path) -> Result<(), String> {
    let status = std::process::Command::new("cp")
        .arg("--")
        .arg(from)
        .arg(to)
        .stdin(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("running cp: {e}"))?;
    if !status.success() {
        return Err(format!("cp {} {}: {status}", from.display(), to.display()));
    }
    Ok(())
}

/// Whether the mount holding `path` has the `noexec` option.
fn mounted_noexec(path: &std::path::Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some((*fields.get(1)?, *fields.get(3)?))
        })
        .filter(|(point, _)| path.starts_with(point))
        .max_by_key(|(point, _)| point.len())
        .is_some_and(|(_, options)| options.split(',').any(|o| o == "noexec"))
}

/// The variable naming the plugin binary the process and end-to-end tests
/// launch. `make test` sets it to the static release build, so that what is
/// tested is what ships.
pub const PLUGIN_BIN_VAR: &str = "RATLS_PLUGIN_BIN";

/// The release binary named by [`PLUGIN_BIN_VAR`], if set.
pub fn release_bin() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os(PLUGIN_BIN_VAR)?);
    assert!(
        path.is_file(),
        "{PLUGIN_BIN_VAR}={} is not a file; run `make release`",
        path.display()
    );
    Some(path)
}

/// The plugin binary to launch: [`release_bin`], else the one cargo built
/// for these tests.
pub fn plugin_bin() -> PathBuf {
    release_bin().unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_vault-plugin-auth-ratls")))
}

/// What an ELF executable needs from the system at run time: its program
/// interpreter (dynamic loader), if any, and its `DT_NEEDED` libraries
/// (as string-table offsets: their count is what matters).
#[derive(Debug, PartialEq, Eq)]
pub struct ElfNeeds {
    pub interpreter: Option<String>,
    pub needed_libraries: usize,
}

/// Reads [`ElfNeeds`] from a 64-bit little-endian ELF file.
pub fn elf_needs(path: &std::path::Path) -> ElfNeeds {
    let elf = std::fs::read(path).unwrap();
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
    assert_eq!(
        &elf[..6],
        b"\x7fELF\x02\x01",
        "{}: not a 64-bit LE ELF",
        path.display()
    );
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    const DT_NEEDED: usize = 1;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    let mut needs = ElfNeeds {
        interpreter: None,
        needed_libraries: 0,
    };
    for header in (0..phnum).map(|i| phoff + i * phentsize) {
        let (offset, size) = (u64_at(header + 8), u64_at(header + 32));
        match u32_at(header) {
            PT_INTERP => {
                let name = &elf[offset..offset + size];
                needs.interpreter =
                    Some(String::from_utf8_lossy(name).trim_end_matches('\0').into());
            }
            PT_DYNAMIC => {
                needs.needed_libraries += (offset..offset + size)
                    .step_by(16)
                    .filter(|&entry| u64_at(entry) == DT_NEEDED)
                    .count();
            }
            _ => {}
        }
    }
    needs
}

/// The body of a probe test: when [`PROBE_VAR`] is set (we are the re-run as
/// another user), listing the socket's directory, connecting to the socket
/// and stat-ing it must all be refused. Without the variable it does nothing.
pub fn other_user_is_refused() {
    let Some(socket) = std::env::var_os(PROBE_VAR) else {
        return;
    };
    let socket = PathBuf::from(socket);
    let dir = socket.parent().unwrap();
    let listing = std::fs::read_dir(dir).map(|_| ());
    let connect = std::os::unix::net::UnixStream::connect(&socket).map(|_| ());
    let stat = std::fs::metadata(&socket).map(|_| ());
    for (what, result) in [("list", &listing), ("connect", &connect), ("stat", &stat)] {
        let error = result
            .as_ref()
            .err()
            .unwrap_or_else(|| panic!("{what} succeeded"));
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::PermissionDenied,
            "{what}: {error}"
        );
    }
    eprintln!(
        "PROBE: refused list, connect and stat of {}",
        socket.display()
    );
}
