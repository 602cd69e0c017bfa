//! One real `bao server -dev` per test, with the plugin registered from a
//! private plugin directory; HTTP (ureq), the `bao` CLI, `sys/raw` storage
//! reads and process lookups against it. The server is stopped by its PID
//! when the guard drops, also when the test panics (then its log tail is
//! printed).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tempfile::TempDir;
use ureq::Agent;

use crate::oracle::{Names, entry_key};

/// The plugin's name in the catalog and its file name in the plugin directory.
pub const PLUGIN: &str = "vault-plugin-auth-ratls";
/// The plugin binary the servers run: `RATLS_PLUGIN_BIN` (`make test` points
/// it at the static release build, so that what is tested is what ships),
/// else the one cargo built for these tests.
pub fn plugin_bin() -> PathBuf {
    std::env::var_os("RATLS_PLUGIN_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_vault-plugin-auth-ratls")),
        PathBuf::from,
    )
}
/// The version the plugin reports (`v` + crate version).
pub const PLUGIN_VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const LOG_TAIL_LINES: usize = 80;

/// Ports handed out in this process, so that concurrent tests never pick the
/// same pair (the dev server listens on `port` and on `port + 1`).
static USED_PORTS: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Environment variables of the caller that must not reach the children.
pub const SCRUBBED_ENV: &[&str] = &[
    "BAO_ADDR",
    "BAO_TOKEN",
    "BAO_NAMESPACE",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "VAULT_NAMESPACE",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
];

/// Where `make bao` installs OpenBao and the test clients.
const VENV_BIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin");
/// Set by `make test`: a missing OpenBao fails the run instead of skipping.
const REQUIRE_VAR: &str = "RATLS_REQUIRE_BAO";

/// `BAO_BIN`, else the project venv's `bao` if `make bao` has made it.
fn find_bao() -> Option<PathBuf> {
    std::env::var_os("BAO_BIN")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from(VENV_BIN).join("bao")).filter(|p| p.is_file()))
}

/// Whether this test must be skipped because there is no OpenBao to run it
/// against (plain `cargo test` on a machine without `make bao`); says so in
/// one line. Under `make test` a missing OpenBao fails instead.
pub fn skip_without_bao() -> bool {
    if find_bao().is_some() || std::env::var_os(REQUIRE_VAR).is_some() {
        return false;
    }
    eprintln!("skipped: no OpenBao for this end-to-end test; run `make bao` (or `make test`)");
    true
}

/// The `bao` binary from `BAO_BIN` or the project venv; fails the test when
/// there is none.
pub fn bao_bin() -> PathBuf {
    let path = find_bao().unwrap_or_else(|| {
        panic!("no OpenBao: run `make bao` once, or `make test`, which installs it")
    });
    assert!(
        path.is_file(),
        "BAO_BIN={} does not exist; run `make bao`",
        path.display()
    );
    path
}

/// The Python interpreter (with `requests`) from `PYTHON_BIN` or the project
/// venv; fails the test when there is none.
pub fn python_bin() -> PathBuf {
    std::env::var_os("PYTHON_BIN")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from(VENV_BIN).join("python")).filter(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!("no project Python: run `make bao` once, or `make test`, which installs it")
        })
}

/// Unix seconds now.
pub fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_secs();
    i64::try_from(secs).expect("time fits i64")
}

/// A port `p` such that `p` and `p + 1` are free on 127.0.0.1 and not yet
/// handed to another test of this process.
fn free_port_pair() -> u16 {
    free_ports(2)
}

/// A port free on 127.0.0.1 right now and not handed out before.
#[allow(dead_code)] // used by the cluster tests, which include this file
pub fn free_port() -> u16 {
    free_ports(1)
}

/// The first of `count` adjacent ports, all free on 127.0.0.1 right now and
/// never handed out before in this process.
fn free_ports(count: u16) -> u16 {
    for _ in 0..200 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("binding 127.0.0.1:0")
            .port();
        let Some(ports) = (0..count)
            .map(|i| port.checked_add(i))
            .collect::<Option<Vec<u16>>>()
        else {
            continue;
        };
        let mut used = USED_PORTS.lock().unwrap_or_else(|e| e.into_inner());
        if ports.iter().any(|p| used.contains(p)) {
            continue;
        }
        // All must be bindable right now (the first was just released).
        let listeners: Result<Vec<TcpListener>, _> = ports
            .iter()
            .map(|p| TcpListener::bind(("127.0.0.1", *p)))
            .collect();
        if listeners.is_ok() {
            used.extend(ports);
            return port;
        }
    }
    panic!("no {count} free adjacent port(s) on 127.0.0.1 after 200 tries");
}

/// An HTTP client as the tests use it: statuses are answers, not errors; no
/// proxy. Each agent keeps its own connections.
pub fn new_agent() -> Agent {
    Agent::new_with_config(
        Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(60)))
            .build(),
    )
}

/// How to start a server.
#[derive(Debug, Clone)]
pub struct Options {
    /// `-log-level` of the server.
    pub log_level: &'static str,
    /// Extra environment of the server (inherited by the plugin).
    pub env: Vec<(&'static str, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            log_level: "info",
            env: Vec::new(),
        }
    }
}

/// The result of a `bao` CLI run.
#[derive(Debug)]
pub struct Cli {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Cli {
    fn from_output(output: Output) -> Self {
        Self {
            success: output.status.success(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// stdout as JSON (for `-format=json`).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("bao printed no JSON ({e}): {self:?}"))
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub text: String,
}

impl Resp {
    /// The body as JSON; panics (showing the body) if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not JSON ({e}): {:?}",
                self.status, self.text
            )
        })
    }
}

/// A running dev server; stopped on drop.
pub struct Bao {
    pub addr: String,
    pub root_token: String,
    bin: PathBuf,
    child: Child,
    dir: TempDir,
    agent: Agent,
}

impl Bao {
    /// Starts a dev server, retrying with other ports if a port was taken in
    /// the meantime.
    pub fn start_with(options: &Options) -> Self {
        let bin = bao_bin();
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(&bin, options) {
                Ok(bao) => return bao,
                Err(error) => {
                    eprintln!("bao server did not start, retrying: {error}");
                    last_error = error;
                }
            }
        }
        panic!("bao server did not start after 3 attempts: {last_error}");
    }

    fn try_start(bin: &Path, options: &Options) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("e2e-bao-")
            .tempdir()
            .expect("creating a temp dir");
        let plugins = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins).expect("creating the plugin dir");
        std::fs::create_dir_all(dir.path().join("home")).expect("creating HOME");
        let plugin_bin = plugin_bin();
        std::fs::copy(&plugin_bin, plugins.join(PLUGIN))
            .unwrap_or_else(|e| panic!("copying {}: {e}", plugin_bin.display()));
        let config = dir.path().join("config.hcl");
        std::fs::write(
            &config,
            format!("plugin_directory = \"{}\"\n", plugins.display()),
        )
        .expect("writing config.hcl");

        let port = free_port_pair();
        let addr = format!("http://127.0.0.1:{port}");
        let root_token = format!("root-{}", uuid::Uuid::new_v4());
        let log = File::create(dir.path().join("server.log")).expect("creating server.log");
        let out = File::create(dir.path().join("server.out")).expect("creating server.out");

        let mut command = Command::new(bin);
        command
            .arg("server")
            .arg("-dev")
            .arg(format!("-dev-root-token-id={root_token}"))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .arg(format!("-config={}", config.display()))
            .arg(format!("-log-level={}", options.log_level))
            .env("HOME", dir.path().join("home"))
            .stdin(Stdio::null())
            // The dev banner (with the root token) goes to stdout, the log
            // (with the plugin's lines) to stderr.
            .stdout(out)
            .stderr(log);
        // Unix sockets of the plugin and of go-plugin's broker go to our temp
        // dir (removed with it, even after a SIGKILL), unless that path would
        // be too long for a socket address.
        let sockets = dir.path().join("t");
        if sockets.as_os_str().len() <= 48 {
            std::fs::create_dir_all(&sockets).expect("creating the socket dir");
            command.env("TMPDIR", &sockets);
        }
        for name in SCRUBBED_ENV {
            command.env_remove(name);
        }
        for (name, value) in &options.env {
            command.env(name, value);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()));

        let agent = new_agent();
        let mut bao = Self {
            addr,
            root_token,
            bin: bin.to_owned(),
            child,
            dir,
            agent,
        };
        bao.wait_ready()?;
        Ok(bao)
    }

    /// Polls `sys/health` until the dev server answers 200 (unsealed, active).
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let url = format!("{}/v1/sys/health", self.addr);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "bao server exited early ({status}); log tail:\n{}",
                    self.log_tail()
                ));
            }
            let status = self.agent.get(&url).call().map(|r| r.status().as_u16());
            if matches!(status, Ok(200)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "bao server not ready after {READY_TIMEOUT:?}; log tail:\n{}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A server with the plugin registered by sha256 and enabled at `mounts`.
    pub fn with_plugin(mounts: &[&str]) -> Self {
        Self::with_plugin_opts(mounts, &Options::default())
    }

    pub fn with_plugin_opts(mounts: &[&str], options: &Options) -> Self {
        let bao = Self::start_with(options);
        bao.register_plugin();
        for mount in mounts {
            bao.enable(mount);
        }
        bao
    }

    /// The server's PID (the `bao` wrapper execs the Go binary in place).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The copied plugin binary.
    pub fn plugin_path(&self) -> PathBuf {
        self.dir.path().join("plugins").join(PLUGIN)
    }

    /// The server log (stderr): where the plugin's log lines arrive.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    // ---- the CLI ----

    /// Runs `bao <args>` with `BAO_ADDR` and `BAO_TOKEN=token`.
    pub fn cli_as(&self, token: &str, args: &[&str]) -> Cli {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .env("BAO_ADDR", &self.addr)
            .env("BAO_TOKEN", token)
            .env("HOME", self.dir.path().join("home"))
            .env_remove("BAO_NAMESPACE")
            .env_remove("VAULT_NAMESPACE")
            .stdin(Stdio::null());
        for name in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"] {
            command.env_remove(name);
        }
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("running bao {args:?}: {e}"));
        Cli::from_output(output)
    }

    /// Runs `bao <args>` as root.
    pub fn cli(&self, args: &[&str]) -> Cli {
        self.cli_as(&self.root_token, args)
    }

    /// Runs `bao <args>` as root and requires success; returns stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.success, "bao {args:?} failed: {out:?}");
        out.stdout
    }

    /// Runs `bao <args>` (with `-format=json` among them) as root, requires
    /// success and parses stdout.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        assert!(out.success, "bao {args:?} failed: {out:?}");
        out.json()
    }

    /// `bao plugin register -sha256=<sha256sum of the copy> auth <plugin>`;
    /// checks the catalog holds that sha256 and returns it.
    pub fn register_plugin(&self) -> String {
        let output = Command::new("sha256sum")
            .arg(self.plugin_path())
            .output()
            .expect("running sha256sum");
        assert!(output.status.success(), "sha256sum failed: {output:?}");
        let sha = String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .next()
            .expect("sha256sum output")
            .to_owned();
        assert_eq!(sha.len(), 64, "{sha}");
        let stdout = self.cli_ok(&[
            "plugin",
            "register",
            &format!("-sha256={sha}"),
            "auth",
            PLUGIN,
        ]);
        assert!(
            stdout.contains(&format!("Success! Registered plugin: {PLUGIN}")),
            "{stdout}"
        );
        // The catalog holds it under the version the plugin reports.
        let catalog = self.get("sys/plugins/catalog");
        assert_eq!(catalog.status, 200, "{catalog:?}");
        let catalog = catalog.json();
        let ours: Vec<&Value> = catalog["data"]["detailed"]
            .as_array()
            .expect("detailed catalog")
            .iter()
            .filter(|p| p["name"] == PLUGIN)
            .collect();
        assert_eq!(
            ours,
            [&serde_json::json!({
                "builtin": false,
                "name": PLUGIN,
                "sha256": sha,
                "type": "auth",
                "version": PLUGIN_VERSION
            })],
            "catalog entry"
        );
        sha
    }

    /// `bao auth enable -path=<mount> <plugin>`.
    pub fn enable(&self, mount: &str) {
        let stdout = self.cli_ok(&["auth", "enable", &format!("-path={mount}"), PLUGIN]);
        assert!(
            stdout.contains(&format!("Enabled {PLUGIN} auth method at: {mount}/")),
            "{stdout}"
        );
    }

    // ---- HTTP ----

    /// `method /v1/<path>` with `token` (none: unauthenticated) and an
    /// optional raw body sent as JSON.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Resp {
        self.request_on(&self.agent, method, path, token, body)
    }

    /// [`Bao::request`] through `agent` (for example one per thread, so that
    /// each has its own connection).
    pub fn request_on(
        &self,
        agent: &Agent,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Resp {
        let url = format!("{}/v1/{path}", self.addr);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = token {
            builder = builder.header("X-Vault-Token", token);
        }
        let result = match body {
            Some(body) => {
                let request = builder
                    .header("Content-Type", "application/json")
                    .body(body.to_owned())
                    .expect("building a request");
                agent.run(request)
            }
            None => {
                let request = builder.body(()).expect("building a request");
                agent.run(request)
            }
        };
        let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("{method} {url}: reading the body: {e}"));
        Resp { status, text }
    }

    /// PUT with a JSON body, as root.
    pub fn put(&self, path: &str, body: &Value) -> Resp {
        self.request("PUT", path, Some(&self.root_token), Some(&body.to_string()))
    }

    /// POST with a JSON body, as root.
    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.request(
            "POST",
            path,
            Some(&self.root_token),
            Some(&body.to_string()),
        )
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, Some(&self.root_token), None)
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.request("DELETE", path, Some(&self.root_token), None)
    }

    // ---- storage through sys/raw ----

    /// The UUID of the auth mount `mount` (`sys/auth` → `data["<mount>/"].uuid`),
    /// which names its storage under `auth/<uuid>/`.
    pub fn mount_uuid(&self, mount: &str) -> String {
        let resp = self.get("sys/auth");
        assert_eq!(resp.status, 200, "{resp:?}");
        let body = resp.json();
        let info = &body["data"][format!("{mount}/")];
        assert_eq!(info["type"], PLUGIN, "{body}");
        info["uuid"]
            .as_str()
            .unwrap_or_else(|| panic!("no uuid for {mount}/ in {body}"))
            .to_owned()
    }

    /// The keys right under `prefix` (ending in `/`) in the raw storage; a
    /// prefix with nothing under it answers 404, which is an empty list.
    pub fn raw_list(&self, prefix: &str) -> Vec<String> {
        let resp = self.get(&format!("sys/raw/{prefix}?list=true"));
        match resp.status {
            404 => {
                assert_eq!(resp.json(), serde_json::json!({"errors": []}));
                Vec::new()
            }
            200 => resp.json()["data"]["keys"]
                .as_array()
                .unwrap_or_else(|| panic!("no keys: {resp:?}"))
                .iter()
                .map(|k| k.as_str().expect("string key").to_owned())
                .collect(),
            _ => panic!("LIST sys/raw/{prefix}: {resp:?}"),
        }
    }

    /// The raw stored value at `key`, or `None` when there is none.
    pub fn raw_get(&self, key: &str) -> Option<String> {
        // The plugin's values are stored as given, so read them without
        // OpenBao's decompression (which refuses empty values).
        let resp = self.get(&format!("sys/raw/{key}?compressed=false"));
        match resp.status {
            404 => None,
            200 => Some(
                resp.json()["data"]["value"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no value: {resp:?}"))
                    .to_owned(),
            ),
            _ => panic!("GET sys/raw/{key}: {resp:?}"),
        }
    }

    /// Writes `value` at `key` in the raw storage, uncompressed (as the
    /// plugin's own values are stored).
    pub fn raw_put(&self, key: &str, value: &str) {
        let resp = self.put(
            &format!("sys/raw/{key}"),
            &serde_json::json!({"value": value, "compressed": false}),
        );
        assert_eq!(resp.status, 204, "PUT sys/raw/{key}: {resp:?}");
    }

    /// Deletes `key` from the raw storage.
    pub fn raw_delete(&self, key: &str) {
        let resp = self.delete(&format!("sys/raw/{key}"));
        assert_eq!(resp.status, 204, "DELETE sys/raw/{key}: {resp:?}");
    }

    /// The storage names of `mount` (from its `meta/key`), once the plugin
    /// has made its key.
    pub fn mount_names(&self, mount: &str) -> Option<Names> {
        let text = self.raw_get(&format!("auth/{}/meta/key", self.mount_uuid(mount)))?;
        Some(Names::from_record(&text))
    }

    /// The stored entry with uuid `id` of `mount` as JSON (at
    /// `entry/<accessor derived from the uuid>`: made by this version), or
    /// `None`.
    pub fn stored_entry(&self, mount: &str, id: &str) -> Option<Value> {
        let names = self.mount_names(mount)?;
        if uuid::Uuid::parse_str(id).ok()?.hyphenated().to_string() != id {
            return None;
        }
        let key = format!(
            "auth/{}/{}",
            self.mount_uuid(mount),
            entry_key(&names.accessor(id))
        );
        self.raw_get(&key).map(|text| {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{key} holds no JSON ({e}): {text}"))
        })
    }

    /// The uuids of the entries stored for `mount` (read from the values
    /// under `entry/`: no key holds one).
    pub fn stored_ids(&self, mount: &str) -> BTreeSet<String> {
        let prefix = format!("auth/{}/entry/", self.mount_uuid(mount));
        self.raw_list(&prefix)
            .into_iter()
            .filter_map(|name| self.raw_get(&format!("{prefix}{name}")))
            .map(|text| {
                let entry: Value = serde_json::from_str(&text).expect("an entry holds JSON");
                entry["uuid"]
                    .as_str()
                    .expect("an entry has a uuid")
                    .to_owned()
            })
            .collect()
    }

    /// Every key and value the mount has stored (a recursive walk of
    /// `sys/raw/auth/<mount uuid>/`), keyed by the path below the mount.
    pub fn snapshot(&self, mount: &str) -> BTreeMap<String, String> {
        raw_snapshot(
            &format!("auth/{}/", self.mount_uuid(mount)),
            |prefix| self.raw_list(prefix),
            |key| self.raw_get(key),
        )
    }

    /// [`Bao::snapshot`] without the mount's own records (`meta/…`) and
    /// the counts of failed verifications (`attempts/…`): what its entries
    /// occupy.
    pub fn entry_snapshot(&self, mount: &str) -> BTreeMap<String, String> {
        let mut snapshot = self.snapshot(mount);
        snapshot.retain(|key, _| !key.starts_with("meta/") && !key.starts_with("attempts/"));
        snapshot
    }

    // ---- processes ----

    /// PIDs of live plugin processes: children of the server whose
    /// `/proc/<pid>/exe` is the plugin binary (zombies have no exe).
    pub fn plugin_pids(&self) -> Vec<u32> {
        plugin_children(self.pid())
    }

    /// SIGKILLs the plugin process `victim` and waits until the server has
    /// noticed (go-plugin logs the exit, then marks the client shut down, so
    /// the next request starts a new process; a request racing the crash
    /// would fail with 500 "rpc error: code = Unavailable").
    pub fn kill_plugin_and_wait(&self, victim: u32) {
        assert!(Self::signal(victim, "KILL"), "kill -KILL {victim}");
        let exited = format!(
            "plugin process exited: plugin={} id={victim} error=\"signal: killed\"",
            self.plugin_path().display()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log().contains(&exited) || self.plugin_pids().contains(&victim) {
            assert!(
                Instant::now() < deadline,
                "the server did not notice the crash of {victim}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    /// Sends `signal` (a name such as `KILL`) to `pid` with kill(1).
    pub fn signal(pid: u32, signal: &str) -> bool {
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Stops the server: SIGTERM (OpenBao seals and shuts its plugins down),
    /// then SIGKILL after a timeout.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        Self::signal(self.pid(), "TERM");
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("bao server {} ignored SIGTERM; killing it", self.pid());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- bao server {} at {} (dir {}): last {LOG_TAIL_LINES} log lines ----\n{}\n---- end of server log ----",
                self.pid(),
                self.addr,
                self.dir.path().display(),
                self.log_tail()
            );
        }
        self.stop();
    }
}

/// Every key and value below `root`, by the path below it, walked through
/// `sys/raw`-style `list` (names ending in `/` are folders) and `get`.
pub fn raw_snapshot(
    root: &str,
    list: impl Fn(&str) -> Vec<String>,
    get: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    let mut pending = vec![String::new()];
    while let Some(sub) = pending.pop() {
        for key in list(&format!("{root}{sub}")) {
            let path = format!("{sub}{key}");
            if path.ends_with('/') {
                pending.push(path);
            } else {
                let value = get(&format!("{root}{path}"))
                    .unwrap_or_else(|| panic!("listed key {path} has no value"));
                all.insert(path, value);
            }
        }
    }
    all
}

/// PIDs of live processes whose parent is `parent` and whose executable is
/// the plugin (zombies have none), sorted.
pub fn plugin_children(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("reading /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parens.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid != Some(parent) {
            continue;
        }
        // The plugin, or one of its versioned files (`<plugin>-v0.2.0`).
        let is_plugin = std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| {
            exe.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n == PLUGIN || n.starts_with(&format!("{PLUGIN}-v")))
        });
        if is_plugin {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    pids
}
