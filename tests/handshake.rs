//! The plugin binary as a host launches it: environment in, handshake line
//! out, mTLS that admits only the host's certificate, and the process rules
//! (exit codes, empty stdout on refusal, SIGINT ignored, exit with the parent).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Handshake, HostCert, channel, host_channel, plugin_env, stranger_config};
use vault_plugin_auth_ratls::pb::plugin::{Empty, grpc_controller_client::GrpcControllerClient};

const PLUGIN: &str = env!("CARGO_BIN_EXE_vault-plugin-auth-ratls");

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

fn launch(host: &HostCert) -> Launched {
    let mut child = Command::new(PLUGIN)
        .env_clear()
        .envs(plugin_env(&host.pem))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    Launched {
        child,
        handshake: Handshake::parse(&line),
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

async fn health(channel: tonic::transport::Channel) -> Result<i32, tonic::Status> {
    let reply = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: "plugin".into(),
        })
        .await?;
    Ok(reply.into_inner().status)
}

#[tokio::test]
async fn serves_the_host_and_refuses_strangers() {
    let host = HostCert::go_plugin_like();
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
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    assert_eq!(
        health(host_channel(&host, handshake)).await.unwrap(),
        serving
    );

    // The same permissive client is served when it presents the host's
    // certificate, so the refusals below are the certificate check's doing.
    let control = health(channel(
        handshake.socket.clone(),
        stranger_config(Some(&host.identity)),
    ))
    .await;
    assert_eq!(control.unwrap(), serving);
    // No certificate, or another host's (same subject, other key): refused.
    let other = HostCert::go_plugin_like();
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
        serving
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
    let host = HostCert::go_plugin_like();
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
        // Vault's database-plugin probe uses another cookie.
        (
            "database probe",
            with("VAULT_BACKEND_PLUGIN", None)
                .into_iter()
                .chain([(
                    "VAULT_DATABASE_PLUGIN".to_owned(),
                    "926a0820-aea2-be28-51d6-83cdf00e8edb".to_owned(),
                )])
                .collect(),
            "not meant to be executed directly",
        ),
        (
            "protocol 3,4 fallback",
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
        let output = Command::new(PLUGIN)
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{name}");
        assert!(
            output.stdout.is_empty(),
            "{name}: stdout {:?}",
            output.stdout
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{name}: {stderr}");
        assert!(
            stderr.starts_with("[ERROR] "),
            "{name}: go-plugin reads the level from the prefix"
        );
    }
}

#[test]
fn exits_when_its_parent_dies() {
    let host = HostCert::go_plugin_like();
    // A shell stands in for the host: it starts the plugin, prints its pid,
    // and is then killed without shutting the plugin down.
    let mut shell = Command::new("sh")
        .args(["-c", "\"$0\" >/dev/null 2>&1 & echo $!; wait", PLUGIN])
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
    let alive = || std::path::Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid);
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
