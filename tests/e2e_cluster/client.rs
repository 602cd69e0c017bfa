//! HTTP to one OpenBao node: a keep-alive agent that reports transport
//! failures (a node may be down) instead of panicking, does not follow
//! redirects (so a standby's answer is seen as it is), plus `sys/raw`
//! readers of the plugin's storage.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ureq::Agent;

use crate::harness::{PLUGIN, Resp};

/// A client of one node, acting with `token`.
#[derive(Clone)]
pub struct Client {
    pub addr: String,
    pub token: String,
    agent: Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("addr", &self.addr).finish()
    }
}

impl Client {
    /// A client with its own connection pool.
    pub fn new(addr: &str, token: &str) -> Self {
        let agent = Agent::new_with_config(
            Agent::config_builder()
                .http_status_as_error(false)
                .proxy(None)
                .max_redirects(0)
                .timeout_connect(Some(Duration::from_secs(5)))
                .timeout_global(Some(Duration::from_secs(60)))
                .build(),
        );
        Self {
            addr: addr.to_owned(),
            token: token.to_owned(),
            agent,
        }
    }

    /// Another client of the same node with its own connections.
    pub fn fresh(&self) -> Self {
        Self::new(&self.addr, &self.token)
    }

    /// `method /v1/<path>` with the token (if any) and a JSON body; `Err`
    /// when no HTTP answer arrived.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Resp, String> {
        let url = format!("{}/v1/{path}", self.addr);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        if !self.token.is_empty() {
            builder = builder.header("X-Vault-Token", &self.token);
        }
        let result = match body {
            Some(body) => self.agent.run(
                builder
                    .header("Content-Type", "application/json")
                    .body(body.to_string())
                    .expect("building a request"),
            ),
            None => self
                .agent
                .run(builder.body(()).expect("building a request")),
        };
        let mut response = result.map_err(|e| format!("{method} {url}: {e}"))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("{method} {url}: reading the body: {e}"))?;
        Ok(Resp { status, text })
    }

    fn must(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        self.call(method, path, body)
            .unwrap_or_else(|e| panic!("no answer from {}: {e}", self.addr))
    }

    pub fn get(&self, path: &str) -> Resp {
        self.must("GET", path, None)
    }

    pub fn put(&self, path: &str, body: &Value) -> Resp {
        self.must("PUT", path, Some(body))
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.must("POST", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.must("DELETE", path, None)
    }

    /// A LIST, sent as `GET <path>/?list=true` (ureq has no LIST method).
    pub fn list(&self, path: &str) -> Resp {
        self.must(
            "GET",
            &format!("{}/?list=true", path.trim_end_matches('/')),
            None,
        )
    }

    /// The HTTP status of `sys/health`, or `None` when the node does not answer.
    pub fn health(&self) -> Option<u16> {
        self.call("GET", "sys/health", None).ok().map(|r| r.status)
    }

    // ---- the plugin's API at auth/<mount> ----

    /// `PUT auth/<mount>/totp`.
    pub fn create(&self, mount: &str, policy: &str, expiration: i64) -> Resp {
        self.put(
            &format!("auth/{mount}/totp"),
            &json!({"policy": policy, "expiration": expiration}),
        )
    }

    /// `POST auth/<mount>/totp/redeem`: the `valid` of a 200 answer, or
    /// another answer's status and body.
    pub fn redeem(&self, mount: &str, id: &str, policy: &str) -> Result<bool, Failed> {
        let resp = self.post(
            &format!("auth/{mount}/totp/redeem"),
            &json!({"uuid": id, "policy": policy}),
        );
        valid(resp)
    }

    /// `POST auth/<mount>/totp/verify`: the `valid` of a 200 answer, or
    /// another answer's status and body.
    pub fn verify(&self, mount: &str, policy: &str, code: &str) -> Result<bool, Failed> {
        let resp = self.post(
            &format!("auth/{mount}/totp/verify"),
            &json!({"policy": policy, "code": code}),
        );
        valid(resp)
    }

    // ---- storage through sys/raw ----

    /// The UUID of auth mount `mount`, which names its storage `auth/<uuid>/`.
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

    /// The keys right under `prefix` (ending in `/`); none is an empty list.
    pub fn raw_list(&self, prefix: &str) -> Vec<String> {
        let resp = self.get(&format!("sys/raw/{prefix}?list=true"));
        match resp.status {
            404 => Vec::new(),
            200 => resp.json()["data"]["keys"]
                .as_array()
                .unwrap_or_else(|| panic!("no keys: {resp:?}"))
                .iter()
                .map(|k| k.as_str().expect("string key").to_owned())
                .collect(),
            _ => panic!("LIST sys/raw/{prefix} on {}: {resp:?}", self.addr),
        }
    }

    /// The raw stored value at `key`, or `None`.
    pub fn raw_get(&self, key: &str) -> Option<String> {
        let resp = self.get(&format!("sys/raw/{key}?compressed=false"));
        match resp.status {
            404 => None,
            200 => Some(
                resp.json()["data"]["value"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no value: {resp:?}"))
                    .to_owned(),
            ),
            _ => panic!("GET sys/raw/{key} on {}: {resp:?}", self.addr),
        }
    }

    /// Every key and value stored under `auth/<mount uuid>/`, by the path
    /// below the mount.
    pub fn snapshot(&self, mount: &str) -> BTreeMap<String, String> {
        crate::harness::raw_snapshot(
            &format!("auth/{}/", self.mount_uuid(mount)),
            |prefix| self.raw_list(prefix),
            |key| self.raw_get(key),
        )
    }
}

/// A redeem or verify answered other than 200: its status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub status: u16,
    pub text: String,
}

/// The `valid` of a 200 redeem/verify answer; any other answer as `Err`.
fn valid(resp: Resp) -> Result<bool, Failed> {
    if resp.status != 200 {
        return Err(Failed {
            status: resp.status,
            text: resp.text,
        });
    }
    let body = resp.json();
    crate::expect::envelope(&body, "redeem/verify");
    match body["data"]["valid"].as_bool() {
        Some(valid) if body["data"].as_object().is_some_and(|d| d.len() == 1) => Ok(valid),
        _ => panic!("not a redeem/verify answer: {body}"),
    }
}

/// Calls `probe` every 50 ms until it returns `Ok`, failing after `timeout`
/// with `what` and the last `Err` (a description of what it saw).
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) => {
                assert!(
                    Instant::now() < deadline,
                    "timed out after {timeout:?} waiting for {what}; last: {last}"
                );
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
