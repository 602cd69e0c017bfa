//! Persistent (non-dev) `bao server` processes: a config with Raft storage
//! in a temp dir, a TCP listener on 127.0.0.1 without TLS, API and
//! cluster ports checked free, a private plugin directory holding a copy of
//! the plugin binary, and `raw_storage_endpoint` so tests can read the
//! plugin's storage. Initialised, unsealed and joined with the `bao` CLI as
//! an operator would. A node can be stopped by a signal and started again on
//! the same data dir and ports; it is stopped by PID when dropped (also on
//! panic, after printing its log tail).

use std::fs::{File, OpenOptions};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::client::{Client, wait_for};
use crate::harness::{Bao, Cli, PLUGIN, SCRUBBED_ENV, bao_bin, plugin_bin};
pub use crate::harness::{free_port, plugin_children};

/// How long a node may take to open its listener, to stop, to become active.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const LOG_TAIL_LINES: usize = 60;

/// What `bao operator init` hands out (one key share).
#[derive(Debug, Clone)]
pub struct Keys {
    pub unseal_key: String,
    pub root_token: String,
}

/// One `bao server` with persistent storage. Derefs to its [`Client`]
/// (whose token is the root token once known).
pub struct Node {
    pub name: String,
    pub api_port: u16,
    pub cluster_port: u16,
    client: Client,
    bin: PathBuf,
    dir: TempDir,
    child: Option<Child>,
    /// Started at least once with these ports (they may no longer change).
    started_before: bool,
}

impl Deref for Node {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for Node {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl Node {
    /// A node not yet started: its dir, ports, config and plugin copy.
    pub fn new(name: &str) -> Self {
        let bin = bao_bin();
        let dir = tempfile::Builder::new()
            .prefix("e2e-cl-")
            .tempdir()
            .expect("creating a temp dir");
        for sub in ["data", "plugins", "home", "t"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("creating a node dir");
        }
        std::fs::copy(plugin_bin(), dir.path().join("plugins").join(PLUGIN))
            .expect("copying the plugin binary");
        let mut node = Self {
            name: name.to_owned(),
            api_port: 0,
            cluster_port: 0,
            client: Client::new("http://127.0.0.1:0", ""),
            bin,
            dir,
            child: None,
            started_before: false,
        };
        node.assign_ports();
        node
    }

    fn assign_ports(&mut self) {
        self.api_port = free_port();
        self.cluster_port = free_port();
        self.client = Client::new(
            &format!("http://127.0.0.1:{}", self.api_port),
            &self.client.token,
        );
        let data = self.dir.path().join("data");
        // OpenBao 2.7 has no `file` storage; Raft (Integrated Storage) is
        // its persistent backend, single node or cluster. A node's name is
        // its Raft node id. performance_multiplier = 1: production timings
        // (the default, 5, is meant for slow hardware and elects slowly).
        let storage = format!(
            "storage \"raft\" {{\n  path = \"{}\"\n  node_id = \"{}\"\n  performance_multiplier = 1\n}}\n",
            data.display(),
            self.name
        );
        let config = format!(
            "{storage}\
             listener \"tcp\" {{\n  address = \"127.0.0.1:{api}\"\n  cluster_address = \"127.0.0.1:{cluster}\"\n  tls_disable = true\n}}\n\
             api_addr = \"http://127.0.0.1:{api}\"\n\
             cluster_addr = \"https://127.0.0.1:{cluster}\"\n\
             plugin_directory = \"{plugins}\"\n\
             raw_storage_endpoint = true\n",
            api = self.api_port,
            cluster = self.cluster_port,
            plugins = self.dir.path().join("plugins").display(),
        );
        std::fs::write(self.dir.path().join("config.hcl"), config).expect("writing config.hcl");
    }

    /// The node's plugin directory.
    pub fn plugin_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// The copy of the plugin binary this node runs.
    pub fn plugin_path(&self) -> PathBuf {
        self.dir.path().join("plugins").join(PLUGIN)
    }

    /// The server's PID while it runs (the `bao` wrapper execs in place).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts the server and waits until its API answers (sealed or not).
    /// Before the first successful start a port taken meanwhile is replaced.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let mut last_error = String::new();
        for _ in 0..3 {
            match self.try_start() {
                Ok(()) => {
                    self.started_before = true;
                    return;
                }
                Err(error) => {
                    let retry = !self.started_before && error.contains("address already in use");
                    assert!(retry, "{} did not start: {error}", self.name);
                    eprintln!(
                        "{} did not start, retrying on other ports: {error}",
                        self.name
                    );
                    last_error = error;
                    self.assign_ports();
                }
            }
        }
        panic!("{} did not start after 3 attempts: {last_error}", self.name);
    }

    fn try_start(&mut self) -> Result<(), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("opening server.log");
        let _ = writeln_log(&log, &format!("==== start {} ====", self.name));
        let mut command = Command::new(&self.bin);
        command
            .arg("server")
            .arg(format!(
                "-config={}",
                self.dir.path().join("config.hcl").display()
            ))
            .arg("-log-level=info")
            .env("HOME", self.dir.path().join("home"))
            // The plugin's Unix sockets go to a short dir inside ours.
            .env("TMPDIR", self.dir.path().join("t"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cloning the log handle"))
            .stderr(log);
        for name in SCRUBBED_ENV {
            command.env_remove(name);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", self.bin.display()));
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!(
                    "exited early ({status}); log tail:\n{}",
                    self.log_tail()
                ));
            }
            if self.health().is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no API answer after {START_TIMEOUT:?}; log tail:\n{}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`) to the server without waiting.
    pub fn signal(&self, signal: &str) {
        let pid = self.pid().expect("the node runs");
        assert!(Bao::signal(pid, signal), "kill -{signal} {pid}");
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`) to the server and waits for it
    /// to exit (SIGKILL after a timeout); returns how long that took.
    pub fn stop(&mut self, signal: &str) -> Duration {
        let started = Instant::now();
        let Some(mut child) = self.child.take() else {
            return Duration::ZERO;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return started.elapsed();
        }
        Bao::signal(child.id(), signal);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "{} ignored SIG{signal} for {STOP_TIMEOUT:?}; killing it",
            self.name
        );
        let _ = child.kill();
        let _ = child.wait();
        started.elapsed()
    }

    /// The server log (stdout and stderr of every start).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    // ---- operator steps through the CLI ----

    /// `bao <args>` against this node with its current token.
    pub fn cli(&self, args: &[&str]) -> Cli {
        let mut command = Command::new(&self.bin);
        for name in SCRUBBED_ENV {
            command.env_remove(name);
        }
        command
            .args(args)
            .env("BAO_ADDR", &self.client.addr)
            .env("HOME", self.dir.path().join("home"))
            .stdin(Stdio::null());
        if !self.client.token.is_empty() {
            command.env("BAO_TOKEN", &self.client.token);
        }
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("running bao {args:?}: {e}"));
        Cli {
            success: output.status.success(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `bao <args>`, which must succeed; its stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.success, "{}: bao {args:?} failed: {out:?}", self.name);
        out.stdout
    }

    /// Starts the node as a cluster of one: initialised, unsealed and
    /// active. Returns its keys (to unseal it after a restart).
    pub fn start_single(&mut self) -> Keys {
        self.start();
        let keys = self.init();
        self.unseal(&keys);
        self.wait_active();
        keys
    }

    /// `bao operator init -key-shares=1 -key-threshold=1`; keeps the root token.
    pub fn init(&mut self) -> Keys {
        let out = self.cli_ok(&[
            "operator",
            "init",
            "-key-shares=1",
            "-key-threshold=1",
            "-format=json",
        ]);
        let body: Value = serde_json::from_str(&out).expect("init printed JSON");
        let keys = Keys {
            unseal_key: body["unseal_keys_b64"][0]
                .as_str()
                .unwrap_or_else(|| panic!("no unseal key: {body}"))
                .to_owned(),
            root_token: body["root_token"]
                .as_str()
                .unwrap_or_else(|| panic!("no root token: {body}"))
                .to_owned(),
        };
        self.client.token.clone_from(&keys.root_token);
        keys
    }

    /// `bao operator unseal <key>`, then waits until the node reports itself
    /// unsealed (a node that just joined a Raft cluster answers "sealed"
    /// and unseals once it has fetched the cluster's data).
    pub fn unseal(&mut self, keys: &Keys) {
        self.client.token.clone_from(&keys.root_token);
        let out = self.cli_ok(&["operator", "unseal", "-format=json", &keys.unseal_key]);
        let body: Value = serde_json::from_str(&out).expect("unseal printed JSON");
        assert_eq!(body["initialized"], true, "{}: {body}", self.name);
        wait_for(&format!("{} to unseal", self.name), START_TIMEOUT, || {
            let status = self.seal_status();
            if status["sealed"] == false {
                Ok(())
            } else {
                Err(status.to_string())
            }
        });
    }

    /// `sys/seal-status` as JSON.
    pub fn seal_status(&self) -> Value {
        let resp = self.get("sys/seal-status");
        assert_eq!(resp.status, 200, "{resp:?}");
        resp.json()
    }

    /// `bao operator raft join <leader>` (this node: started, uninitialised).
    pub fn raft_join(&self, leader: &Node) {
        let out = self.cli_ok(&["operator", "raft", "join", "-format=json", &leader.addr]);
        let body: Value = serde_json::from_str(&out).expect("raft join printed JSON");
        assert_eq!(body["joined"], true, "{}: {body}", self.name);
    }

    /// Waits until `sys/health` answers 200 (unsealed, active).
    pub fn wait_active(&self) -> Duration {
        let started = Instant::now();
        wait_for(
            &format!("{} to become active", self.name),
            START_TIMEOUT,
            || match self.health() {
                Some(200) => Ok(()),
                other => Err(format!("sys/health: {other:?}")),
            },
        );
        started.elapsed()
    }

    /// `sys/leader` as JSON, or `None` when the node does not answer it.
    pub fn leader(&self) -> Option<Value> {
        let resp = self.call("GET", "sys/leader", None).ok()?;
        (resp.status == 200).then(|| resp.json())
    }

    /// `bao plugin register -sha256=<sha256 of our copy> auth <plugin>`.
    pub fn register_plugin(&self) -> String {
        let sha = sha256(&self.plugin_path());
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

    /// Waits up to `grace` for plugin processes of this (stopped) node to
    /// exit, then SIGKILLs those left; returns how many were left.
    pub fn reap_plugins(&self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        loop {
            let left: Vec<u32> = std::fs::read_dir(self.dir.path().join("plugins"))
                .map(|files| {
                    files
                        .flatten()
                        .flat_map(|file| processes_of(&file.path()))
                        .collect()
                })
                .unwrap_or_default();
            if left.is_empty() {
                return 0;
            }
            if Instant::now() > deadline {
                for pid in &left {
                    Bao::signal(*pid, "KILL");
                }
                return left.len();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// PIDs of live plugin processes that are children of this server.
    pub fn plugin_pids(&self) -> Vec<u32> {
        self.pid().map(plugin_children).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- {} at {} (pid {:?}, dir {}): last {LOG_TAIL_LINES} log lines ----\n{}\n---- end of {} log ----",
                self.name,
                self.client.addr,
                self.pid(),
                self.dir.path().display(),
                self.log_tail(),
                self.name
            );
        }
        self.stop("TERM");
        self.reap_plugins(Duration::from_secs(5));
    }
}

fn writeln_log(mut file: &File, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(file, "{line}")
}

/// `sha256sum <path>`.
pub fn sha256(path: &Path) -> String {
    let output = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("running sha256sum");
    assert!(output.status.success(), "sha256sum failed: {output:?}");
    let sha = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .expect("sha256sum output")
        .to_owned();
    assert_eq!(sha.len(), 64, "{sha}");
    sha
}

/// PIDs of live processes running the executable at `path`.
pub fn processes_of(path: &Path) -> Vec<u32> {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("reading /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == path) {
            pids.push(pid);
        }
    }
    pids
}
