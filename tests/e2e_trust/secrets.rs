//! A grant stays secret: a flow through every endpoint with the plugin
//! logging at `trace`, the server at `trace`, and two file audit devices
//! (one default, one with `elide_list_responses`). Live uuids (canonical,
//! upper-case, hex and the base32 otpauth secret) appear in no answer but
//! the create's, in no storage key, and in no plugin log line; codes and the
//! client token in no plugin log line either. In the audit logs they appear
//! only as `hmac-sha256:` values, except in the request path of the three
//! requests whose path carries the uuid by the source API or for
//! compatibility (`DELETE totp/<uuid>`, `GET totp/<uuid>`,
//! `GET totp/<uuid>/code`), which is asserted exactly so that any other
//! leak fails.

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

/// Whether an audit entry's request path names an entry by uuid: the
/// source API's `totp/<uuid>` (delete, and the compatibility read) and
/// `totp/<uuid>/code`, not one of the fixed paths below `totp/`.
fn path_names_a_uuid(entry: &Value) -> bool {
    let path = entry["request"]["path"].as_str().unwrap_or_default();
    let Some(rest) = path.strip_prefix("auth/ratls/totp/") else {
        return false;
    };
    let first = rest.split('/').next().unwrap_or_default();
    !rest.is_empty() && !["accessor", "lookup", "redeem", "verify"].contains(&first)
}

/// Checks one audit log: raw uuids only in the request path of entries
/// whose path names an entry by uuid, nothing else raw anywhere; returns
/// (entries, hmac values, raw occurrences at allowed places by
/// `operation path-shape`).
fn check_audit(
    name: &str,
    text: &str,
    secrets: &Secrets,
) -> (usize, usize, BTreeMap<String, usize>) {
    let mut entries = 0;
    let mut hmacs = 0;
    let mut allowed_hits: BTreeMap<String, usize> = BTreeMap::new();
    let mut leaks = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {line}"));
        entries += 1;
        let path_allowed = path_names_a_uuid(&entry);
        let shape = format!(
            "{} {}",
            entry["request"]["operation"].as_str().unwrap_or_default(),
            if entry["request"]["path"]
                .as_str()
                .unwrap_or_default()
                .ends_with("/code")
            {
                "totp/<uuid>/code"
            } else {
                "totp/<uuid>"
            }
        );
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
            if only_uuids && path_allowed && path == "request.path" {
                *allowed_hits.entry(shape.clone()).or_default() += 1;
            } else {
                leaks.push(format!("{path} = {value:?}: {found:?}"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{name}: secrets in clear outside the request paths of totp/<uuid>:\n{}",
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

/// Creates an entry; returns its uuid and accessor.
fn create(bao: &Bao, policy: &str, expiration: i64) -> (String, String) {
    let before = now();
    let resp = bao.put(
        "auth/ratls/totp",
        &json!({"policy": policy, "expiration": expiration}),
    );
    let data = expect::created(&resp, policy, expiration, before, None);
    let field = |name: &str| data[name].as_str().expect(name).to_owned();
    (field("uuid"), field("accessor"))
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

    // ---- the flow: every endpoint, each answer kept to be searched ----
    let answers: std::cell::RefCell<Vec<(String, String)>> = Default::default();
    let keep = |what: &str, resp: crate::harness::Resp| -> crate::harness::Resp {
        answers
            .borrow_mut()
            .push((what.to_owned(), resp.text.clone()));
        resp
    };
    let expiration = now() + 900;
    let (a, a_accessor) = create(&bao, "log-a", expiration);
    let (b, b_accessor) = create(&bao, "log-a", expiration);
    let (c, c_accessor) = create(&bao, "log-b", expiration);
    let mut codes = Vec::new();
    for (id, accessor) in [(&a, &a_accessor), (&b, &b_accessor), (&c, &c_accessor)] {
        // The holder's lookup, the operator's read, and the compatibility read.
        let lookup = keep(
            "lookup",
            bao.post("auth/ratls/totp/lookup", &json!({"uuid": id})),
        );
        assert_eq!(data_of(&lookup, "lookup")["accessor"], accessor.as_str());
        let by_accessor = keep(
            "read by accessor",
            bao.get(&format!("auth/ratls/totp/accessor/{accessor}")),
        );
        assert_eq!(data_of(&by_accessor, "read")["accessor"], accessor.as_str());
        let compat = keep("read by uuid", bao.get(&format!("auth/ratls/totp/{id}")));
        assert!(data_of(&compat, "read").get("uuid").is_none());
        keep(
            "code by accessor",
            bao.get(&format!("auth/ratls/totp/accessor/{accessor}/code")),
        );
    }
    let list = keep("list", bao.get("auth/ratls/totp/?list=true"));
    let listed = data_of(&list, "list");
    assert_eq!(listed["keys"].as_array().map(Vec::len), Some(3), "{listed}");
    let first = [&a_accessor, &b_accessor, &c_accessor]
        .into_iter()
        .min()
        .expect("three");
    let paged = keep(
        "paged list",
        bao.get(&format!("auth/ratls/totp/?list=true&limit=1&after={first}")),
    );
    data_of(&paged, "paged list");
    keep(
        "CLI list",
        crate::harness::Resp {
            status: 200,
            text: bao.cli_ok(&["list", "-detailed", "-format=json", "auth/ratls/totp"]),
        },
    );

    let code_resp = keep(
        "code by uuid",
        bao.get(&format!("auth/ratls/totp/{a}/code")),
    );
    let code = data_of(&code_resp, "code")["code"]
        .as_str()
        .expect("code")
        .to_owned();
    codes.push(code.clone());
    let verify = |body: Value| {
        let resp = bao.post("auth/ratls/totp/verify", &body);
        answers
            .borrow_mut()
            .push(("verify".to_owned(), resp.text.clone()));
        data_of(&resp, "verify")["valid"].clone()
    };
    assert_eq!(
        verify(json!({"policy": "log-a", "code": code})),
        true,
        "the current code verifies"
    );
    assert_eq!(
        verify(json!({"policy": "log-a", "code": code})),
        false,
        "and is not accepted twice"
    );
    // A well-formed code that is none of b's nearby codes (a's step is used up).
    let b_id = EntryId::parse(&b).expect("uuid");
    let near: Vec<String> = (-3..=3)
        .map(|k| current_code(&b_id, now() + k * 30).code)
        .collect();
    let wrong = (100_000..999_999)
        .map(|n| n.to_string())
        .find(|c| !near.contains(c) && *c != code)
        .expect("a wrong code");
    assert_eq!(verify(json!({"policy": "log-a", "code": wrong})), false);
    assert_eq!(
        verify(json!({"policy": "log-a", "code": wrong, "accessor": b_accessor})),
        false
    );
    codes.push(wrong.clone());
    // b's current code, by accessor through the CLI.
    let b_code = current_code(&b_id, now()).code;
    codes.push(b_code.clone());
    let out = bao.cli_ok(&[
        "write",
        "-format=json",
        "auth/ratls/totp/verify",
        "policy=log-a",
        &format!("code={b_code}"),
        &format!("accessor={b_accessor}"),
    ]);
    answers.borrow_mut().push(("CLI verify".to_owned(), out));

    let redeem = |id: &str, policy: &str| {
        let resp = bao.post(
            "auth/ratls/totp/redeem",
            &json!({"uuid": id, "policy": policy}),
        );
        answers
            .borrow_mut()
            .push(("redeem".to_owned(), resp.text.clone()));
        data_of(&resp, "redeem")["valid"].clone()
    };
    assert_eq!(redeem(&a, "log-b"), false, "wrong policy");
    assert_eq!(redeem(&a, "log-a"), true);
    assert_eq!(redeem(&a, "log-a"), false, "spent");
    let deleted = keep("delete", bao.delete(&format!("auth/ratls/totp/{c}")));
    expect::deleted(&deleted, "delete");
    let deleted = keep(
        "delete by accessor",
        bao.delete(&format!("auth/ratls/totp/accessor/{c_accessor}")),
    );
    expect::deleted(&deleted, "delete by accessor");
    keep("tidy", bao.post("auth/ratls/tidy", &json!({})));

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
        bao.post("auth/ratls/totp/lookup", &json!({"uuid": b.to_uppercase()})),
        bao.post(
            "auth/ratls/totp/verify",
            &json!({"policy": "log-a", "code": format!("{code}0")}),
        ),
        bao.put(
            "auth/ratls/totp",
            &json!({"policy": b, "expiration": "x", "uuid": b}),
        ),
    ];
    for resp in bad {
        assert_eq!(resp.status, 400, "{resp:?}");
        keep("bad input", resp);
    }
    // b stays live: it would show in list answers at the end too.
    keep("list at the end", bao.get("auth/ratls/totp/?list=true"));

    let secrets = Secrets {
        uuids: vec![a.clone(), b.clone(), c.clone()],
        codes: codes.clone(),
        token: bao.root_token.clone(),
    };

    // ---- the answers and the storage keys ----
    let no_codes = Secrets {
        codes: Vec::new(),
        token: String::new(),
        uuids: secrets.uuids.clone(),
    };
    let answers = answers.into_inner();
    for (what, text) in &answers {
        let found: Vec<String> = no_codes
            .found_in(text)
            .into_iter()
            .filter(|f| f.starts_with("uuid "))
            .collect();
        assert!(found.is_empty(), "{what} answer shows {found:?}: {text}");
    }
    let keys: Vec<String> = bao.snapshot("ratls").into_keys().collect();
    for key in &keys {
        let found: Vec<String> = no_codes
            .found_in(key)
            .into_iter()
            .filter(|f| f.starts_with("uuid "))
            .collect();
        assert!(found.is_empty(), "storage key {key} holds {found:?}");
    }
    eprintln!(
        "{} answers of lookup, reads, codes, lists, verify, redeem, delete, tidy and bad inputs: \
         0 occurrences of a live uuid; {} storage keys: 0",
        answers.len(),
        keys.len()
    );

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
    let (entries, hmacs, hits) = check_audit("audit.log", &default_log, &secrets);
    eprintln!(
        "audit.log: {entries} entries, {hmacs} hmac-sha256 values; uuids in clear only in the request \
         paths of {hits:?}"
    );
    assert!(
        hits.get("delete totp/<uuid>").copied().unwrap_or(0) > 0,
        "OpenBao logs request paths in clear: {hits:?}"
    );
    let (entries, hmacs, hits) = check_audit("audit-elided.log", &elided_log, &secrets);
    eprintln!(
        "audit-elided.log: {entries} entries, {hmacs} hmac-sha256 values; uuids in clear only in the \
         request paths of {hits:?}"
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
