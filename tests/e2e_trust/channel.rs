//! The plugin process as a real OpenBao launches it: its listening socket
//! (found through /proc, not guessed) sits in a fresh `0700` directory as a
//! `0600` socket owned by the server's user, which another user can neither
//! enter nor connect to; and when the server is SIGKILLed, the plugin exits
//! within seconds and removes its socket directory.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Bao, now};

/// Unix socket paths the process `pid` listens on: its socket fds' inodes
/// looked up in /proc/net/unix (listening sockets have flag 0x10000).
fn listening_sockets(pid: u32) -> Vec<PathBuf> {
    let mut inodes = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(fd.path()) {
            let target = target.to_string_lossy().into_owned();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
            {
                inodes.push(inode.to_owned());
            }
        }
    }
    let table = std::fs::read_to_string("/proc/net/unix").expect("/proc/net/unix");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            // Num RefCount Protocol Flags Type St Inode Path
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = u32::from_str_radix(fields.get(3)?, 16).ok()?;
            let (inode, path) = (fields.get(6)?, fields.get(7)?);
            (flags & 0x10000 != 0 && inodes.iter().any(|i| i == inode)).then(|| PathBuf::from(path))
        })
        .collect()
}

/// A TLS client over the plugin's unix socket that accepts any server
/// certificate (keeping the last one seen) and presents `client`, if any.
mod tls_probe {
    use std::io::{Read as _, Write as _};
    use std::path::Path;
    use std::sync::Arc;

    use rustls::sign::CertifiedKey;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

    pub use crate::support::AcceptAnyServer as AnyServer;
    use crate::support::FixedClientCert as Fixed;

    /// A fresh self-signed certificate and its PKCS#8 key.
    pub fn self_signed() -> (CertificateDer<'static>, Vec<u8>) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        (cert.der().clone(), key.serialize_der())
    }

    /// Connects, handshakes and sends the HTTP/2 preface; `Ok(bytes)` when
    /// the plugin answered with application data (served), `Err` with the
    /// reason when the connection was refused.
    pub fn attempt(
        socket: &Path,
        verifier: &Arc<AnyServer>,
        client: Option<(CertificateDer<'static>, Vec<u8>)>,
    ) -> Result<usize, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone());
        let mut config = match client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let signer = provider
                    .key_provider
                    .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
                    .expect("key");
                builder.with_client_cert_resolver(Arc::new(Fixed(Arc::new(CertifiedKey::new(
                    vec![cert],
                    signer,
                )))))
            }
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        let mut sock =
            std::os::unix::net::UnixStream::connect(socket).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(std::time::Duration::from_secs(15)))
            .expect("timeout");
        let name = ServerName::try_from("localhost").expect("name");
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        match tls.read(&mut buf) {
            Ok(0) => Err("closed".into()),
            Ok(n) => Ok(n),
            Err(e) => Err(e.to_string()),
        }
    }
}

fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Not a test of its own: re-run as another user by the socket test.
#[test]
fn other_user_probe() {
    crate::support::other_user_is_refused();
}

#[test]
fn plugin_socket_is_private_and_the_plugin_dies_with_the_server() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls"]);
    let resp = bao.put(
        "auth/ratls/totp",
        &json!({"policy": "p", "expiration": now() + 600}),
    );
    assert_eq!(resp.status, 200, "{resp:?}");
    let pids = bao.plugin_pids();
    assert_eq!(pids.len(), 1, "{pids:?}");
    let pid = pids[0];

    let sockets = listening_sockets(pid);
    assert_eq!(
        sockets.len(),
        1,
        "the plugin listens on one socket: {sockets:?}"
    );
    let socket = &sockets[0];
    let dir = socket.parent().expect("socket dir");
    assert_eq!(
        socket.file_name().and_then(|n| n.to_str()),
        Some("plugin.sock")
    );
    let name = dir
        .file_name()
        .expect("dir name")
        .to_string_lossy()
        .into_owned();
    assert!(
        name.strip_prefix("vault-plugin-auth-ratls-")
            .is_some_and(|r| r.len() == 32 && r.bytes().all(|b| b.is_ascii_hexdigit())),
        "{}",
        dir.display()
    );
    let server_uid = std::fs::metadata(format!("/proc/{}", bao.pid()))
        .expect("server")
        .uid();
    for (path, mode) in [(dir, 0o700), (socket.as_path(), 0o600)] {
        let meta = std::fs::metadata(path).expect("stat");
        assert_eq!(
            meta.permissions().mode() & 0o7777,
            mode,
            "{}",
            path.display()
        );
        assert_eq!(meta.uid(), server_uid, "{}", path.display());
    }
    if crate::support::running_as_root() {
        // Open the directories above (the harness's private temp dir), so
        // that only the plugin's own modes stand in the other user's way.
        let mut opened = Vec::new();
        let mut above = dir.parent();
        while let Some(parent) = above.filter(|p| p.starts_with(bao.dir())) {
            let mode = std::fs::metadata(parent).expect("stat").permissions();
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
            opened.push((parent.to_owned(), mode));
            above = parent.parent();
        }
        let text = crate::support::probe_as_other_user("channel::other_user_probe", socket);
        for (path, mode) in opened {
            std::fs::set_permissions(path, mode).expect("chmod back");
        }
        if let Some(text) = text {
            eprintln!(
                "{}: {}",
                socket.display(),
                text.lines()
                    .find(|l| l.contains("PROBE"))
                    .unwrap_or_default()
            );
        }
    } else {
        eprintln!("not root: modes and owner checked, no other user to try them with");
    }

    // The plugin serves only this server: a client with no certificate, a
    // self-signed one, or the plugin's own certificate with another key
    // (the plugin's certificate is what it presents to us) is refused.
    let verifier = std::sync::Arc::new(tls_probe::AnyServer::default());
    let refusals_before = bao.log().matches("refused a connection").count();
    let no_cert = tls_probe::attempt(socket, &verifier, None);
    let plugin_cert = verifier
        .0
        .lock()
        .expect("lock")
        .clone()
        .expect("the plugin's certificate");
    let stranger = tls_probe::self_signed();
    let own = tls_probe::attempt(socket, &verifier, Some(stranger.clone()));
    let plugin_cert_other_key =
        tls_probe::attempt(socket, &verifier, Some((plugin_cert, stranger.1)));
    for (what, result) in [
        ("no certificate", &no_cert),
        ("a self-signed certificate", &own),
        (
            "the plugin's own certificate with another key",
            &plugin_cert_other_key,
        ),
    ] {
        assert!(
            result.is_err(),
            "the real plugin served a client with {what}: {result:?}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while bao.log().matches("refused a connection").count() < refusals_before + 3 {
        assert!(
            Instant::now() < deadline,
            "refusals not logged:\n{}",
            bao.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = bao.log();
    let reasons: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("refused a connection"))
        .collect();
    assert!(reasons.iter().all(|l| l.contains("[WARN]")), "{reasons:#?}");
    eprintln!(
        "real plugin refused: no cert ({no_cert:?}), self-signed ({own:?}), own cert + other key ({plugin_cert_other_key:?})"
    );
    for line in &reasons {
        eprintln!("  {}", line.split_once("]  ").map_or(*line, |(_, l)| l));
    }
    // And still serves the server.
    let resp = bao.get("auth/ratls/totp/?list=true");
    assert_eq!(resp.status, 200, "{resp:?}");

    // SIGKILL the server: the plugin notices it was orphaned and exits.
    assert!(Bao::signal(bao.pid(), "KILL"), "kill -KILL the server");
    let killed = Instant::now();
    while !gone(pid) && killed.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let exited_after = killed.elapsed();
    assert!(
        gone(pid),
        "plugin {pid} outlived its SIGKILLed server by {exited_after:?}"
    );
    assert!(
        exited_after < Duration::from_secs(5),
        "plugin took {exited_after:?} to exit"
    );
    // It removed its socket directory on the way out.
    let deadline = Instant::now() + Duration::from_secs(2);
    while dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !dir.exists(),
        "socket directory left behind: {}",
        dir.display()
    );
    eprintln!(
        "server SIGKILLed: plugin {pid} exited after {exited_after:.2?} and removed {}",
        dir.display()
    );
}
