//! No secret in logs: a representative flow with the plugin logging at
//! `trace`, the server at `trace`, and two file audit devices (one default,
//! one with `elide_list_responses`). Entry uuids, codes and the client token
//! must not appear in the plugin's own log lines; in the audit logs they
//! appear only as `hmac-sha256:` values, except where OpenBao writes them in
//! clear by design (the request path, and map keys of list responses), which
//! is asserted exactly so that any other leak fails.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vault_plugin_auth_ratls::domain::EntryId;
use vault_plugin_auth_ratls::domain::code::current_code;

use crate::expect;
use crate::harness::{Bao, Options, now};

/// The go-plugin client's own logger for the mount (host lines);
/// the plugin's stderr is relayed under `<this>.vault-plugin-auth-ratls`.
fn is_plugin_logger(logger: &str) -> Option<bool> {
    let rest = logger.strip_prefix("auth.vault-plugin-auth-ratls.")?;
    let mut parts = rest.split('.');
    let _mount_id = parts.next()?;
    if parts.next()? != "vault-plugin-auth-ratls" {
        return None;
    }
    // `<id>.vault-plugin-auth-ratls` alone: host; with a suffix: relayed from the plugin.
    Some(parts.next().is_some())
}

/// The logger name of a server log line: `<time> [LEVEL] <logger>: <message>`.
fn logger_of(line: &str) -> Option<&str> {
    let after_level = line.split_once("] ")?.1.trim_start();
    Some(after_level.split_once(": ")?.0)
}

/// Whether `text` holds `code` as a whole run of digits.
fn has_code(text: &str, code: &str) -> bool {
    text.split(|c: char| !c.is_ascii_digit())
        .any(|run| run == code)
}

/// The strings that must never appear raw.
struct Secrets {
    uuids: Vec<String>,
    codes: Vec<String>,
    token: String,
}

impl Secrets {
    /// Every spelling of every uuid we care about: canonical, upper-case,
    /// without hyphens, and the base32 otpauth secret.
    fn uuid_forms(&self) -> Vec<(String, String)> {
        let mut forms = Vec::new();
        for id in &self.uuids {
            forms.push((id.clone(), id.clone()));
            forms.push((id.clone(), id.to_uppercase()));
            forms.push((id.clone(), id.replace('-', "")));
            forms.push((id.clone(), expect::base32(id.as_bytes())));
        }
        forms
    }

    /// The secrets `text` contains, by name.
    fn found_in(&self, text: &str) -> Vec<String> {
        let mut found = Vec::new();
        for (id, form) in self.uuid_forms() {
            if text.contains(&form) {
                found.push(format!("uuid {id} (as {form})"));
            }
        }
        for code in &self.codes {
            if has_code(text, code) {
                found.push(format!("code {code}"));
            }
        }
        if text.contains(&self.token) {
            found.push("client token".to_owned());
        }
        found
    }
}

/// Walks an audit entry: for every string value and object key, the JSON
/// path (`request.path`; `response.data.key_info.{key}` for a key) and the text.
fn walk<'a>(value: &'a Value, path: &str, out: &mut Vec<(String, &'a str)>) {
    match value {
        Value::String(text) => out.push((path.to_owned(), text)),
        Value::Array(items) => {
            for item in items {
                walk(item, &format!("{path}[]"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                out.push((format!("{path}.{{key}}"), key));
                walk(item, &child, out);
            }
        }
        _ => {}
    }
}

/// Checks one audit log: raw secrets only at `allowed` JSON paths; returns
/// (entries, hmac values, raw occurrences at allowed places by path).
fn check_audit(
    name: &str,
    text: &str,
    secrets: &Secrets,
    allowed: &[&str],
) -> (usize, usize, BTreeMap<String, usize>) {
    let mut entries = 0;
    let mut hmacs = 0;
    let mut allowed_hits: BTreeMap<String, usize> = BTreeMap::new();
    let mut leaks = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {line}"));
        entries += 1;
        let mut strings = Vec::new();
        walk(&entry, "", &mut strings);
        for (path, value) in strings {
            if value.starts_with("hmac-sha256:") {
                hmacs += 1;
                continue;
            }
            let found = secrets.found_in(value);
            if found.is_empty() {
                continue;
            }
            let only_uuids = found.iter().all(|f| f.starts_with("uuid "));
            if only_uuids && allowed.contains(&path.as_str()) {
                *allowed_hits.entry(path).or_default() += 1;
            } else {
                leaks.push(format!("{path} = {value:?}: {found:?}"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{name}: secrets in clear outside {allowed:?}:\n{}",
        leaks.join("\n")
    );
    (entries, hmacs, allowed_hits)
}

const AUDIT_CONFIG: &str = r#"
audit "file" "trust-default" {
  options {
    file_path = "AUDIT_DIR/audit.log"
  }
}
audit "file" "trust-elided" {
  options {
    file_path = "AUDIT_DIR/audit-elided.log"
    elide_list_responses = "true"
  }
}
"#;

/// Enables both file audit devices. OpenBao 2.7 refuses `audit enable` over
/// the API ("use declarative, config-based audit device management"), so
/// they are added to the server's config file and picked up on SIGHUP.
fn enable_audit(bao: &Bao) {
    let config = bao.dir().join("config.hcl");
    let mut text = std::fs::read_to_string(&config).expect("reading config.hcl");
    text.push_str(&AUDIT_CONFIG.replace("AUDIT_DIR", &bao.dir().display().to_string()));
    std::fs::write(&config, text).expect("writing config.hcl");
    assert!(Bao::signal(bao.pid(), "HUP"), "SIGHUP to the server");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let resp = bao.get("sys/audit");
        let body = resp.json();
        if body["data"].get("trust-default/").is_some()
            && body["data"].get("trust-elided/").is_some()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "audit devices not enabled: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `sys/audit-hash/<device>`: what the device writes for `input`.
fn audit_hash(bao: &Bao, device: &str, input: &str) -> String {
    let resp = bao.post(
        &format!("sys/audit-hash/{device}"),
        &json!({ "input": input }),
    );
    assert_eq!(resp.status, 200, "{resp:?}");
    resp.json()["data"]["hash"]
        .as_str()
        .expect("hash")
        .to_owned()
}

fn create(bao: &Bao, policy: &str, expiration: i64) -> String {
    let before = now();
    let resp = bao.put(
        "auth/ratls/totp",
        &json!({"policy": policy, "expiration": expiration}),
    );
    let data = expect::created(&resp, policy, expiration, before, None);
    data["uuid"].as_str().expect("uuid").to_owned()
}

fn data_of(resp: &crate::harness::Resp, what: &str) -> Value {
    assert_eq!(resp.status, 200, "{what}: {resp:?}");
    resp.json()["data"].clone()
}

#[test]
fn no_secret_in_plugin_log_lines_or_audit_logs() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let options = Options {
        log_level: "trace",
        env: vec![("RATLS_LOG_LEVEL", "trace".to_owned())],
    };
    let bao = Bao::with_plugin_opts(&["ratls"], &options);
    enable_audit(&bao);

    // ---- the flow ----
    let expiration = now() + 900;
    let a = create(&bao, "log-a", expiration);
    let b = create(&bao, "log-a", expiration);
    let c = create(&bao, "log-b", expiration);
    let mut codes = Vec::new();
    for id in [&a, &b, &c] {
        let data = data_of(&bao.get(&format!("auth/ratls/totp/{id}")), "read");
        assert_eq!(data["uuid"], id.as_str());
    }
    let list = data_of(&bao.get("auth/ratls/totp/?list=true"), "list");
    assert_eq!(list["keys"].as_array().map(Vec::len), Some(3), "{list}");
    let first = [&a, &b, &c].into_iter().min().expect("three uuids");
    data_of(
        &bao.get(&format!("auth/ratls/totp/?list=true&limit=1&after={first}")),
        "paged list",
    );

    let code = data_of(&bao.get(&format!("auth/ratls/totp/{a}/code")), "code")["code"]
        .as_str()
        .expect("code")
        .to_owned();
    codes.push(code.clone());
    let verify = |code: &str| {
        data_of(
            &bao.post(
                "auth/ratls/totp/verify",
                &json!({"policy": "log-a", "code": code}),
            ),
            "verify",
        )["valid"]
            .clone()
    };
    assert_eq!(verify(&code), true, "the current code verifies");
    assert_eq!(verify(&code), false, "and is not accepted twice");
    // A well-formed code that is none of b's nearby codes (a's step is used up).
    let b_id = EntryId::parse(&b).expect("uuid");
    let near: Vec<String> = (-3..=3)
        .map(|k| current_code(&b_id, now() + k * 30).code)
        .collect();
    let wrong = (100_000..999_999)
        .map(|n| n.to_string())
        .find(|c| !near.contains(c) && *c != code)
        .expect("a wrong code");
    assert_eq!(verify(&wrong), false);
    codes.push(wrong.clone());
    // b's current code, to verify through the CLI too.
    let b_code = current_code(&b_id, now()).code;
    codes.push(b_code.clone());
    bao.cli_json(&[
        "write",
        "-format=json",
        "auth/ratls/totp/verify",
        "policy=log-a",
        &format!("code={b_code}"),
    ]);

    let redeem = |id: &str, policy: &str| {
        data_of(
            &bao.post(
                "auth/ratls/totp/redeem",
                &json!({"uuid": id, "policy": policy}),
            ),
            "redeem",
        )["valid"]
            .clone()
    };
    assert_eq!(redeem(&a, "log-b"), false, "wrong policy");
    assert_eq!(redeem(&a, "log-a"), true);
    assert_eq!(redeem(&a, "log-a"), false, "spent");
    expect::deleted(&bao.delete(&format!("auth/ratls/totp/{c}")), "delete");
    expect::deleted(&bao.delete(&format!("auth/ratls/totp/{c}")), "delete again");
    data_of(&bao.post("auth/ratls/tidy", &json!({})), "tidy");

    // Bad inputs that carry secrets.
    let bad = [
        bao.get(&format!("auth/ratls/totp/{}", b.to_uppercase())),
        bao.delete(&format!("auth/ratls/totp/%7B{b}%7D")),
        bao.post(
            "auth/ratls/totp/redeem",
            &json!({"uuid": b.to_uppercase(), "policy": "log-a"}),
        ),
        bao.post(
            "auth/ratls/totp/redeem",
            &json!({"uuid": [b], "policy": "log-a"}),
        ),
        bao.post(
            "auth/ratls/totp/verify",
            &json!({"policy": "log-a", "code": format!("{code}0")}),
        ),
        bao.put(
            "auth/ratls/totp",
            &json!({"policy": b, "expiration": "x", "uuid": b}),
        ),
    ];
    for resp in &bad {
        assert_eq!(resp.status, 400, "{resp:?}");
    }
    // b stays live: its uuid keeps appearing in list answers at the end too.
    data_of(&bao.get("auth/ratls/totp/?list=true"), "list");

    let secrets = Secrets {
        uuids: vec![a.clone(), b.clone(), c.clone()],
        codes: codes.clone(),
        token: bao.root_token.clone(),
    };

    // ---- the plugin's log lines ----
    // Relayed asynchronously: wait for the last requests' lines.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(bao.log().contains("tidied TOTP entries")
        && bao.log().contains("redeemed a TOTP entry"))
    {
        assert!(Instant::now() < deadline, "plugin lines missing");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let log = bao.log();
    let (mut plugin_lines, mut host_lines, mut host_lines_with_uuid) = (0usize, 0usize, 0usize);
    let mut plugin_levels: BTreeMap<String, usize> = BTreeMap::new();
    let mut leaks = Vec::new();
    for line in log.lines() {
        let Some(relayed) = logger_of(line).and_then(is_plugin_logger) else {
            continue;
        };
        let found = secrets.found_in(line);
        if relayed {
            plugin_lines += 1;
            let level = line.split(['[', ']']).nth(1).unwrap_or("?").to_owned();
            *plugin_levels.entry(level).or_default() += 1;
            if !found.is_empty() {
                leaks.push(format!("{found:?} in {line}"));
            }
        } else {
            host_lines += 1;
            if found.iter().any(|f| f.starts_with("uuid ")) {
                host_lines_with_uuid += 1;
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "secrets in the plugin's log lines:\n{}",
        leaks.join("\n")
    );
    assert!(
        plugin_levels.get("TRACE").copied().unwrap_or(0) > 0 && plugin_levels.contains_key("INFO"),
        "the plugin logged at trace: {plugin_levels:?}"
    );
    // Anywhere in the server log (host lines included): never the token.
    assert!(
        !log.contains(&bao.root_token),
        "client token in the server log"
    );
    eprintln!(
        "plugin log lines: {plugin_lines} ({plugin_levels:?}), none with a uuid, code or token; \
         host lines under the plugin's logger: {host_lines}, of which {host_lines_with_uuid} carry a uuid \
         (OpenBao's trace `handle request: path=…`)"
    );

    // ---- the audit logs ----
    let default_log = std::fs::read_to_string(bao.dir().join("audit.log")).expect("audit.log");
    let elided_log =
        std::fs::read_to_string(bao.dir().join("audit-elided.log")).expect("audit-elided.log");
    let (entries, hmacs, hits) = check_audit(
        "audit.log",
        &default_log,
        &secrets,
        &["request.path", "response.data.key_info.{key}"],
    );
    eprintln!(
        "audit.log: {entries} entries, {hmacs} hmac-sha256 values; uuids in clear only at {hits:?}"
    );
    assert!(
        hits.get("request.path").copied().unwrap_or(0) > 0,
        "OpenBao logs request paths in clear"
    );
    assert!(
        hits.get("response.data.key_info.{key}")
            .copied()
            .unwrap_or(0)
            > 0,
        "list answers' key_info keys are not hashed"
    );
    let (entries, hmacs, hits) =
        check_audit("audit-elided.log", &elided_log, &secrets, &["request.path"]);
    eprintln!(
        "audit-elided.log: {entries} entries, {hmacs} hmac-sha256 values; uuids in clear only at {hits:?}"
    );

    // The secrets are there, hashed: each body uuid and code as the device's HMAC.
    for (device, text) in [
        ("trust-default", &default_log),
        ("trust-elided", &elided_log),
    ] {
        for secret in [&a, &b, &c].into_iter().chain(codes.iter()) {
            let hash = audit_hash(&bao, device, secret);
            assert!(hash.starts_with("hmac-sha256:"), "{hash}");
            assert!(
                text.contains(&hash),
                "{device}: no HMAC of {secret} in the audit log"
            );
        }
    }
}
