//! What a `bao` (= `vault`) CLI user and an hvac user see for every error
//! the plugin produces: a non-zero exit with the plugin's message for each
//! 4xx, exit 2 for a read of a missing entry (as Vault's own engines), a
//! confirmation for a delete; hvac's exception class and message. The
//! README's Errors table records these outcomes.

use std::process::Command;

use serde_json::{Value, json};

use crate::expect;
use crate::harness::{Bao, now, python_bin};

const NOT_FOUND_UUID: &str = "No TOTP entry with this uuid exists: it was never created, or it was deleted, redeemed or has expired.";
const NOT_FOUND_ACCESSOR: &str = "No TOTP entry with this accessor exists: it was never created, or it was deleted, redeemed or has expired.";

/// `bao <args>` as root: exit code and everything it printed.
fn run(bao: &Bao, args: &[&str]) -> (Option<i32>, String) {
    let out = bao.cli(args);
    (out.code, format!("{}{}", out.stdout, out.stderr))
}

#[test]
fn cli_exits_non_zero_with_the_plugins_message_and_confirms_deletes() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls"]);
    let data = expect::create(&bao, "ratls", "cli-p", now() + 600);
    let (uuid, accessor) = (
        data["uuid"].as_str().unwrap().to_owned(),
        data["accessor"].as_str().unwrap().to_owned(),
    );
    let ghost = uuid::Uuid::new_v4().to_string();

    // Errors: (args, exit code, text the output must hold).
    let expiry = format!("expiration={}", 0);
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            vec!["read".into(), format!("auth/ratls/totp/{ghost}")],
            2,
            NOT_FOUND_UUID,
        ),
        (
            vec!["read".into(), format!("auth/ratls/totp/{ghost}/code")],
            2,
            NOT_FOUND_UUID,
        ),
        (
            vec!["read".into(), format!("auth/ratls/totp/accessor/{ghost}")],
            2,
            NOT_FOUND_ACCESSOR,
        ),
        (
            vec![
                "read".into(),
                format!("auth/ratls/totp/accessor/{ghost}/code"),
            ],
            2,
            NOT_FOUND_ACCESSOR,
        ),
        (
            vec![
                "write".into(),
                "auth/ratls/totp/lookup".into(),
                format!("uuid={ghost}"),
            ],
            2,
            NOT_FOUND_UUID,
        ),
        (
            vec![
                "write".into(),
                "auth/ratls/totp".into(),
                "policy=cli-p".into(),
                expiry,
            ],
            2,
            "Invalid request parameters: 'expiration' must be a Unix timestamp in the future.",
        ),
        (
            vec!["read".into(), "auth/ratls/totp/NOT-A-UUID".into()],
            2,
            "Invalid request parameters: 'uuid' must be a UUID in canonical form",
        ),
        (
            vec!["delete".into(), "auth/ratls/totp/not-a-uuid".into()],
            2,
            "Invalid request parameters: 'uuid' must be a UUID in canonical form",
        ),
        (
            vec!["delete".into(), "auth/ratls/totp".into()],
            2,
            "Invalid request parameters: 'uuid' is required and must be a string.",
        ),
        (
            vec!["read".into(), "auth/ratls/totp/accessor/x".into()],
            2,
            "Invalid request parameters: 'accessor' must be a UUID in canonical form",
        ),
        (
            vec![
                "write".into(),
                "auth/ratls/totp/verify".into(),
                "policy=cli-p".into(),
                "code=12".into(),
            ],
            2,
            "Invalid request parameters: 'code' must be a string of 6 digits.",
        ),
        (
            vec![
                "write".into(),
                "auth/ratls/totp/redeem".into(),
                "uuid=x".into(),
                "policy=cli-p".into(),
            ],
            2,
            "Invalid request parameters: 'uuid' must be a UUID in canonical form",
        ),
    ];
    let mut seen = Vec::new();
    for (args, code, text) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (exit, output) = run(&bao, &args);
        assert_eq!(exit, Some(*code), "bao {args:?}: {output}");
        assert!(
            output.contains(text),
            "bao {args:?} does not show {text:?}: {output}"
        );
        seen.push(format!("bao {}: exit {code}", args.join(" ")));
    }

    // Too many failed verifications: 429.
    let resp = bao.put("auth/ratls/config", &json!({"max_failures": 1}));
    assert_eq!(resp.status, 200, "{resp:?}");
    let step = u64::try_from(now()).unwrap() / 30;
    let wrong = expect::wrong_code(&uuid, step - 2, step + 3);
    let (exit, output) = run(
        &bao,
        &[
            "write",
            "auth/ratls/totp/verify",
            "policy=cli-p",
            &format!("code={wrong}"),
        ],
    );
    assert_eq!(exit, Some(0), "{output}");
    let (exit, output) = run(
        &bao,
        &[
            "write",
            "auth/ratls/totp/verify",
            "policy=cli-p",
            &format!("code={wrong}"),
        ],
    );
    assert_eq!(exit, Some(2), "{output}");
    assert!(
        output.contains("Code: 429") && output.contains("Too many failed verifications"),
        "{output}"
    );
    seen.push("bao write auth/ratls/totp/verify (locked): exit 2".to_owned());
    expect::deleted(&bao.delete("auth/ratls/lockouts/policy/cli-p"), "clear");

    // Answers that are no errors: exit 0.
    let (exit, output) = run(
        &bao,
        &[
            "write",
            "auth/ratls/totp/verify",
            "policy=cli-p",
            "code=000000",
        ],
    );
    assert_eq!(exit, Some(0), "{output}");
    assert!(
        output.contains("valid") && output.contains("false"),
        "{output}"
    );
    let (exit, output) = run(
        &bao,
        &["read", &format!("auth/ratls/totp/accessor/{accessor}")],
    );
    assert_eq!(exit, Some(0), "{output}");
    assert!(!output.contains(&uuid), "{output}");
    // Deletes confirm, whether or not the entry existed.
    for path in [
        format!("auth/ratls/totp/accessor/{ghost}"),
        format!("auth/ratls/totp/{ghost}"),
        format!("auth/ratls/totp/{uuid}"),
    ] {
        let (exit, output) = run(&bao, &["delete", &path]);
        assert_eq!(exit, Some(0), "{output}");
        assert!(
            output
                .lines()
                .any(|l| l.split_whitespace().eq(["deleted", "true"])),
            "delete {path} printed no confirmation: {output}"
        );
    }
    // The read of a missing entry over HTTP: the documented body.
    let resp = bao.get(&format!("auth/ratls/totp/{uuid}"));
    assert_eq!(resp.json(), expect::not_found_body());
    // An empty list: Vault's own 404, which the CLI reports as no value.
    let (exit, output) = run(&bao, &["list", "auth/ratls/totp"]);
    assert_eq!(exit, Some(2), "{output}");
    assert!(
        output.contains("No value found at auth/ratls/totp"),
        "{output}"
    );
    eprintln!("CLI outcomes:\n  {}", seen.join("\n  "));
}

const HVAC_SCRIPT: &str = r#"
import json, sys
import hvac

addr, token, live, ghost, wrong = sys.argv[1:6]
client = hvac.Client(url=addr, token=token)
calls = {
    "read missing": lambda: client.read(f"auth/ratls/totp/{ghost}"),
    "read missing accessor": lambda: client.read(f"auth/ratls/totp/accessor/{ghost}"),
    "lookup missing": lambda: client.write_data("auth/ratls/totp/lookup", data={"uuid": ghost}),
    "create past": lambda: client.write_data("auth/ratls/totp", data={"policy": "p", "expiration": 0}),
    "delete malformed": lambda: client.delete("auth/ratls/totp/not-a-uuid"),
    "verify malformed": lambda: client.write_data("auth/ratls/totp/verify", data={"policy": "p", "code": "12"}),
    "verify wrong": lambda: client.write_data("auth/ratls/totp/verify", data={"policy": "hvac-p", "code": wrong}),
    "verify locked": lambda: client.write_data("auth/ratls/totp/verify", data={"policy": "hvac-p", "code": wrong}),
    "delete": lambda: client.delete(f"auth/ratls/totp/{live}"),
}
out = {}
for name, call in calls.items():
    try:
        answer = call()
        out[name] = {"returned": answer.get("data") if isinstance(answer, dict) else answer}
    except Exception as error:
        out[name] = {"raised": type(error).__name__, "message": str(error)}
print(json.dumps(out))
"#;

#[test]
fn hvac_raises_with_the_plugins_message() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls"]);
    let data = expect::create(&bao, "ratls", "hvac-p", now() + 600);
    let uuid = data["uuid"].as_str().unwrap();
    let ghost = uuid::Uuid::new_v4().to_string();
    let resp = bao.put("auth/ratls/config", &json!({"max_failures": 1}));
    assert_eq!(resp.status, 200, "{resp:?}");
    let step = u64::try_from(now()).unwrap() / 30;
    let wrong = expect::wrong_code(uuid, step - 2, step + 3);
    let output = Command::new(python_bin())
        .args([
            "-c",
            HVAC_SCRIPT,
            &bao.addr,
            &bao.root_token,
            uuid,
            &ghost,
            &wrong,
        ])
        .output()
        .expect("running python");
    assert!(output.status.success(), "{output:?}");
    let got: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let raised = |name: &str, class: &str, start: &str| {
        let outcome = &got[name];
        assert_eq!(outcome["raised"], class, "{name}: {outcome}");
        let message = outcome["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(start), "{name}: {message}");
    };
    // A read of a missing entry is hvac's None.
    assert_eq!(got["read missing"], json!({"returned": null}), "{got}");
    assert_eq!(
        got["read missing accessor"],
        json!({"returned": null}),
        "{got}"
    );
    raised("lookup missing", "InvalidPath", NOT_FOUND_UUID);
    // For the source API's 400 (`errors` maps fields), hvac joins the keys.
    raised("create past", "InvalidRequest", "expiration, on post");
    raised("delete malformed", "InvalidRequest", "uuid, on delete");
    raised("verify malformed", "InvalidRequest", "code, on post");
    assert_eq!(
        got["verify wrong"],
        json!({"returned": {"valid": false}}),
        "{got}"
    );
    raised(
        "verify locked",
        "RateLimitExceeded",
        "Too many failed verifications",
    );
    // hvac's `delete` returns nothing, whatever the answer; the entry is gone.
    assert_eq!(got["delete"], json!({"returned": null}), "{got}");
    let resp = bao.post("auth/ratls/totp/lookup", &json!({"uuid": uuid}));
    assert_eq!(resp.status, 404, "{resp:?}");
    eprintln!("hvac outcomes: {got}");
}
