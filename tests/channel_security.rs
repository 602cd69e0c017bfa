//! Channel security of the plugin process beyond `tests/handshake.rs`: the
//! mTLS listener refuses clients that present the right certificate bytes
//! with the wrong key (the host's own certificate, or the plugin's), a
//! self-signed certificate of their own, a chain instead of the single
//! pinned certificate, or no TLS at all, in TLS 1.3 and 1.2, and keeps
//! serving the host; stalled handshakes do not block it and are dropped; the
//! socket directory is private even under a world-writable TMPDIR and a
//! zero umask, and another user cannot enter it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use support::{
    AcceptAnyServer, FixedClientCert, Handshake, HostCert, channel, host_channel, plugin_env,
};
use tonic::transport::{Endpoint, Uri};
use vault_plugin_auth_ratls::transport::Identity;

/// A plugin launched by a shell with `umask 000` and `TMPDIR` set, stderr
/// captured in a file; killed on drop.
struct Launched {
    child: Child,
    handshake: Handshake,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Launched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Launched {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// Launches the plugin under a world-writable, sticky TMPDIR (like /tmp) and
/// `umask 000`, so that only the plugin's own modes protect its socket.
fn launch(host: &HostCert) -> Launched {
    let dir = tempfile::Builder::new().prefix("chan-").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let stderr = dir.path().join("stderr.log");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("umask 000; exec \"$0\"")
        .arg(support::plugin_bin())
        .env_clear()
        .envs(plugin_env(&host.pem))
        .env("TMPDIR", &tmp)
        .env("RATLS_LOG_LEVEL", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    Launched {
        child,
        handshake: Handshake::parse(&line),
        stderr,
        _dir: dir,
    }
}

async fn health(channel: tonic::transport::Channel) -> Result<i32, tonic::Status> {
    let reply = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: "plugin".into(),
        })
        .await?;
    Ok(reply.into_inner().status)
}

const SERVING: i32 = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;

/// A client presenting `chain` signed with `key`, over `version` only.
fn client(
    chain: Vec<CertificateDer<'static>>,
    key: &Identity,
    version: &'static rustls::SupportedProtocolVersion,
) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let signer = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(key.key_der().clone_key()))
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer::default()))
        .with_client_cert_resolver(Arc::new(FixedClientCert(Arc::new(CertifiedKey::new(
            chain, signer,
        )))));
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

const BAD_SIGNATURE: &str = r#""error":"invalid peer certificate: BadSignature""#;
const NOT_PINNED: &str = r#""error":"invalid peer certificate: ApplicationVerificationFailure""#;

/// The plugin's `n`-th "refused a connection" log line (a warning with the
/// TLS error), waiting for it to be written.
async fn refusal(plugin: &Launched, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stderr = plugin.stderr();
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("refused a connection"))
            .collect();
        if let Some(line) = lines.get(n - 1) {
            assert!(line.contains(r#""@level":"warn""#), "{line}");
            return (*line).to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "refusal {n} not logged: {stderr}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A P-521 key pair like go-plugin's, as an identity (certificate unused).
fn other_key() -> Identity {
    HostCert::go_plugin_like().unwrap().identity
}

#[tokio::test]
async fn refuses_the_right_certificate_with_another_key() {
    let host = HostCert::go_plugin_like().unwrap();
    let plugin = launch(&host);
    let socket = plugin.handshake.socket.clone();
    let plugin_cert = plugin.handshake.cert.clone();
    let host_cert = host.identity.cert_der().clone();
    let own = Identity::generate().unwrap();
    let stranger = other_key();
    let versions = [
        ("TLS 1.3", &rustls::version::TLS13),
        ("TLS 1.2", &rustls::version::TLS12),
    ];

    // Control: the host's own certificate and key, through the same hostile
    // client code, is served on both versions.
    for (name, version) in versions {
        let config = client(vec![host_cert.clone()], &host.identity, version);
        assert_eq!(
            health(channel(socket.clone(), config)).await.unwrap(),
            SERVING,
            "{name}: the host itself"
        );
    }

    let mut refused = 0;
    for (name, version) in versions {
        let cases: Vec<(&str, Vec<CertificateDer<'static>>, &Identity, &str)> = vec![
            // The pinned certificate passes; the handshake signature does not.
            (
                "the host's certificate bytes, another key",
                vec![host_cert.clone()],
                &stranger,
                BAD_SIGNATURE,
            ),
            (
                "the plugin's own certificate bytes, another key",
                vec![plugin_cert.clone()],
                &stranger,
                NOT_PINNED,
            ),
            (
                "a self-signed certificate of its own (P-256, CN=localhost)",
                vec![own.cert_der().clone()],
                &own,
                NOT_PINNED,
            ),
            (
                "the host's certificate and key, with an extra chain certificate",
                vec![host_cert.clone(), plugin_cert.clone()],
                &host.identity,
                NOT_PINNED,
            ),
            (
                "the host's certificate second in a chain of its own",
                vec![own.cert_der().clone(), host_cert.clone()],
                &own,
                NOT_PINNED,
            ),
        ];
        for (what, chain, key, reason) in cases {
            let result = health(channel(socket.clone(), client(chain, key, version))).await;
            assert!(result.is_err(), "{name}: served a client presenting {what}");
            refused += 1;
            let logged = refusal(&plugin, refused).await;
            assert!(
                logged.contains(reason),
                "{name}, {what}: refused for another reason: {logged}"
            );
        }
    }

    // No TLS at all: gRPC in clear text over the socket.
    let plain_socket = socket.clone();
    let plain = Endpoint::from_static("http://localhost").connect_with_connector_lazy(
        tower::service_fn(move |_: Uri| {
            let socket = plain_socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(&socket).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }),
    );
    let result = tokio::time::timeout(Duration::from_secs(15), health(plain)).await;
    assert!(
        matches!(result, Ok(Err(_))),
        "a clear-text gRPC client was served or hung: {result:?}"
    );
    refused += 1;
    let logged = refusal(&plugin, refused).await;
    assert!(logged.contains("received corrupt message"), "{logged}");

    // Still serving the host, and each refusal was logged as one.
    assert_eq!(
        health(host_channel(&host, &plugin.handshake))
            .await
            .unwrap(),
        SERVING
    );
    let logged = plugin.stderr().matches("refused a connection").count();
    assert_eq!(logged, refused, "{}", plugin.stderr());
    eprintln!(
        "refused {refused} hostile clients (TLS 1.3 and 1.2); {logged} refusals logged; host still served"
    );
}

#[tokio::test]
async fn stalled_handshakes_neither_block_the_host_nor_linger() {
    let host = HostCert::go_plugin_like().unwrap();
    let plugin = launch(&host);
    let socket = &plugin.handshake.socket;
    // 64 clients that connect and never speak.
    let mut stalled = Vec::new();
    for _ in 0..64 {
        stalled.push(std::os::unix::net::UnixStream::connect(socket).unwrap());
    }
    let opened = Instant::now();
    let started = Instant::now();
    assert_eq!(
        health(host_channel(&host, &plugin.handshake))
            .await
            .unwrap(),
        SERVING
    );
    let host_time = started.elapsed();
    assert!(
        host_time < Duration::from_secs(5),
        "host waited {host_time:?}"
    );
    // The plugin drops them after its 10 s handshake timeout: each read ends.
    let mut closed = 0;
    for stream in &mut stalled {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut byte = [0u8; 1];
        if matches!(stream.read(&mut byte), Ok(0) | Err(_)) {
            closed += 1;
        }
    }
    let dropped_after = opened.elapsed();
    assert_eq!(closed, stalled.len());
    assert!(
        dropped_after < Duration::from_secs(18),
        "stalled clients held for {dropped_after:?}"
    );
    assert_eq!(
        health(host_channel(&host, &plugin.handshake))
            .await
            .unwrap(),
        SERVING
    );
    eprintln!(
        "64 stalled connections: host served in {host_time:?}; all dropped by the plugin after {dropped_after:.1?}"
    );
}

/// Not a test of its own: re-run as another user by the socket test.
#[test]
fn other_user_probe() {
    support::other_user_is_refused();
}

#[tokio::test]
async fn socket_is_private_under_a_world_writable_tmpdir_and_zero_umask() {
    let host = HostCert::go_plugin_like().unwrap();
    let plugin = launch(&host);
    let socket = &plugin.handshake.socket;
    let dir = socket.parent().unwrap();
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let random = name
        .strip_prefix("vault-plugin-auth-ratls-")
        .unwrap_or_else(|| panic!("{name}"));
    assert!(
        random.len() == 32 && random.bytes().all(|b| b.is_ascii_hexdigit()),
        "an unguessable directory name: {name}"
    );
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    for (path, mode) in [(dir, 0o700), (socket.as_path(), 0o600)] {
        let meta = std::fs::metadata(path).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o7777,
            mode,
            "{}",
            path.display()
        );
        assert_eq!(meta.uid(), uid, "owned by this user: {}", path.display());
    }
    if support::running_as_root() {
        if let Some(text) = support::probe_as_other_user("other_user_probe", socket) {
            eprintln!(
                "as uid {}: {}",
                support::OTHER_UID,
                text.lines().find(|l| l.contains("PROBE")).unwrap_or("")
            );
        }
    } else {
        eprintln!("not root: modes and owner checked, no other user to try them with");
    }
    // The host is served all the same.
    assert_eq!(
        health(host_channel(&host, &plugin.handshake))
            .await
            .unwrap(),
        SERVING
    );
}
