//! Start-to-handshake time of the plugin binary, for `make bench`
//! (`bench/run.sh`); the one measurement of the bench that wrk cannot make.
//! Not part of the plugin.
//!
//! ```text
//! handshake --bin PLUGIN --launches 20 --tmpdir DIR
//! ```
//!
//! Launches the plugin `--launches` times with the environment a Vault or
//! OpenBao host gives it (go-plugin's magic cookie, protocol version 5, a
//! client certificate like the host's, AutoMTLS on, nothing else), times
//! spawn → first stdout line (the go-plugin handshake line) and kills it.
//! Prints one JSON object `{launches, median_ms, min_ms, max_ms, samples_ms}`.

#![allow(clippy::print_stdout)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use serde_json::json;
use vault_plugin_auth_ratls::testing::HostCert;

fn main() -> ExitCode {
    match handshake(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("handshake: {message}");
            ExitCode::FAILURE
        }
    }
}

fn handshake(args: Vec<String>) -> Result<(), String> {
    let mut bin = None;
    let mut launches = 20_usize;
    let mut tmpdir = None;
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--bin" => bin = Some(value),
            "--launches" => {
                launches = value
                    .parse()
                    .map_err(|_| format!("--launches: bad number {value:?}"))?;
            }
            "--tmpdir" => tmpdir = Some(value),
            _ => return Err(format!("unknown flag {flag} (--bin, --launches, --tmpdir)")),
        }
    }
    let bin = bin.ok_or("--bin is required")?;
    let pem = HostCert::go_plugin_like().map_err(|e| e.to_string())?.pem;
    let mut samples = Vec::with_capacity(launches);
    let mut line = String::new();
    for _ in 0..launches {
        let mut command = Command::new(&bin);
        command
            .env_clear()
            .env(
                "VAULT_BACKEND_PLUGIN",
                "6669da05-b1c8-4f49-97d9-c8e5bed98e20",
            )
            .env("PLUGIN_PROTOCOL_VERSIONS", "5")
            .env("PLUGIN_CLIENT_CERT", &pem)
            .env("VAULT_PLUGIN_AUTOMTLS_ENABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(dir) = &tmpdir {
            command.env("TMPDIR", dir);
        }
        let start = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| format!("spawning {bin}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        line.clear();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let elapsed = start.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        if !line.starts_with("1|5|unix|") {
            return Err(format!("unexpected handshake line {line:?}"));
        }
        samples.push(elapsed.as_secs_f64() * 1000.0);
    }
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.is_empty() {
        0.0
    } else if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    let report = json!({
        "launches": launches,
        "median_ms": round3(median),
        "min_ms": round3(sorted.first().copied().unwrap_or(0.0)),
        "max_ms": round3(sorted.last().copied().unwrap_or(0.0)),
        "samples_ms": samples.iter().map(|s| round3(*s)).collect::<Vec<_>>(),
    });
    println!("{report}");
    Ok(())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
