//! Bad inputs: each answers 400 in the documented shape (or Vault's own shape
//! when Vault refuses the request before the plugin sees it) and writes
//! nothing.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::expect;
use crate::harness::{Bao, Resp, now};

/// What a bad request must answer.
enum Expect {
    /// The plugin's `{"statusCode": 400, "message", "errors"}`, exactly.
    Plugin(Value),
    /// Vault's `{"errors": [...]}` with this status, one error containing this.
    Vault(u16, &'static str),
}

struct Case {
    label: String,
    method: &'static str,
    path: String,
    body: Option<String>,
    expect: Expect,
}

fn plugin_error(message: &str, errors: Value) -> Expect {
    Expect::Plugin(json!({
        "statusCode": 400,
        "message": format!("Invalid request parameters: {message}."),
        "errors": errors
    }))
}

fn create(label: &str, body: Value, expect: Expect) -> Case {
    create_raw(label, body.to_string(), expect)
}

fn create_raw(label: &str, body: String, expect: Expect) -> Case {
    Case {
        label: label.to_owned(),
        method: "PUT",
        path: "auth/ratls/totp".to_owned(),
        body: Some(body),
        expect,
    }
}

fn delete(label: &str, uuid_segment: &str, expect: Expect) -> Case {
    Case {
        label: label.to_owned(),
        method: "DELETE",
        path: format!("auth/ratls/totp{uuid_segment}"),
        body: None,
        expect,
    }
}

/// Runs every case, checking the answer and that storage is unchanged.
fn run(bao: &Bao, cases: &[Case], before: &BTreeMap<String, String>) -> usize {
    for case in cases {
        let resp: Resp = bao.request(
            case.method,
            &case.path,
            Some(&bao.root_token),
            case.body.as_deref(),
        );
        let what = format!(
            "{} ({} {} {:?})",
            case.label, case.method, case.path, case.body
        );
        match &case.expect {
            Expect::Plugin(body) => expect::plugin_400(&resp, body, &what),
            Expect::Vault(status, needle) => expect::vault_error(&resp, *status, needle, &what),
        }
        assert_eq!(&bao.snapshot("ratls"), before, "{what}: storage changed");
    }
    cases.len()
}

#[test]
fn bad_inputs_answer_400_and_write_nothing() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls"]);

    // Some entries to protect.
    let future = now() + 600;
    let mut existing = Vec::new();
    for policy in ["keep-a", "keep-b"] {
        let before = now();
        let resp = bao.put(
            "auth/ratls/totp",
            &json!({"policy": policy, "expiration": future}),
        );
        existing.push(expect::created(&resp, policy, future, before, None));
    }
    let kept = existing[0]["uuid"].as_str().unwrap().to_owned();
    expect::storage_holds(&bao, "ratls", &[&existing[0], &existing[1]]);
    let snapshot = bao.snapshot("ratls");

    let future = now() + 600;
    let default_max_ttl = 32 * 24 * 3600;
    let in_future = "must be a Unix timestamp in the future";
    let not_int = "'expiration' must be an integer";
    let int_err = json!({"expiration": "must be an integer"});
    let ws = "must not contain whitespace or control characters";
    let cases = vec![
        // expiration: not in the future
        create(
            "expiration zero",
            json!({"policy": "p", "expiration": 0}),
            plugin_error(
                &format!("'expiration' {in_future}"),
                json!({"expiration": "must be in the future"}),
            ),
        ),
        create(
            "expired a second ago",
            json!({"policy": "p", "expiration": now() - 1}),
            Expect::Plugin(expect::expired_body()),
        ),
        create(
            "negative",
            json!({"policy": "p", "expiration": -5}),
            Expect::Plugin(expect::expired_body()),
        ),
        create(
            "negative string",
            json!({"policy": "p", "expiration": "-1"}),
            Expect::Plugin(expect::expired_body()),
        ),
        // expiration: not an integer
        create(
            "fraction string",
            json!({"policy": "p", "expiration": "1.5"}),
            plugin_error(not_int, int_err.clone()),
        ),
        create(
            "fraction number",
            json!({"policy": "p", "expiration": 1.5}),
            plugin_error(not_int, int_err.clone()),
        ),
        create(
            "string with junk",
            json!({"policy": "p", "expiration": format!("{future}x")}),
            plugin_error(not_int, int_err.clone()),
        ),
        create(
            "string with a blank",
            json!({"policy": "p", "expiration": format!(" {future}")}),
            plugin_error(not_int, int_err.clone()),
        ),
        create(
            "string with a plus",
            json!({"policy": "p", "expiration": format!("+{future}")}),
            plugin_error(not_int, int_err.clone()),
        ),
        create(
            "empty string",
            json!({"policy": "p", "expiration": ""}),
            plugin_error(not_int, int_err.clone()),
        ),
        create(
            "boolean",
            json!({"policy": "p", "expiration": true}),
            plugin_error(not_int, int_err.clone()),
        ),
        create(
            "null",
            json!({"policy": "p", "expiration": null}),
            plugin_error(not_int, int_err.clone()),
        ),
        create(
            "object",
            json!({"policy": "p", "expiration": {"at": future}}),
            plugin_error(not_int, int_err.clone()),
        ),
        create(
            "beyond i64",
            json!({"policy": "p", "expiration": "99999999999999999999999"}),
            plugin_error(
                "'expiration' is out of range",
                json!({"expiration": "is out of range"}),
            ),
        ),
        // expiration: beyond the default max lease TTL (32 days)
        create(
            "beyond 32 days",
            json!({"policy": "p", "expiration": now() + default_max_ttl + 3600}),
            plugin_error(
                &format!(
                    "'expiration' must be no later than {default_max_ttl} seconds from now (the mount's max lease TTL)"
                ),
                json!({"expiration": "exceeds the mount's max lease TTL"}),
            ),
        ),
        // missing fields
        create(
            "missing policy",
            json!({"expiration": future}),
            plugin_error(
                "'policy' is required and must be a string",
                json!({"policy": "Missing required field"}),
            ),
        ),
        create(
            "missing expiration",
            json!({"policy": "p"}),
            plugin_error(
                "'expiration' is required and must be an integer",
                json!({"expiration": "Missing required field"}),
            ),
        ),
        create(
            "empty object",
            json!({}),
            plugin_error(
                "'expiration' is required and must be an integer; 'policy' is required and must be a string",
                json!({"expiration": "Missing required field", "policy": "Missing required field"}),
            ),
        ),
        // policy
        create(
            "policy number",
            json!({"policy": 5, "expiration": future}),
            plugin_error(
                "'policy' must be a string",
                json!({"policy": "must be a string"}),
            ),
        ),
        create(
            "policy list",
            json!({"policy": ["p"], "expiration": future}),
            plugin_error(
                "'policy' must be a string",
                json!({"policy": "must be a string"}),
            ),
        ),
        create(
            "policy empty",
            json!({"policy": "", "expiration": future}),
            plugin_error(
                "'policy' must not be empty",
                json!({"policy": "must not be empty"}),
            ),
        ),
        create(
            "policy 129 characters",
            json!({"policy": "p".repeat(129), "expiration": future}),
            plugin_error(
                "'policy' must be at most 128 characters long",
                json!({"policy": "is too long"}),
            ),
        ),
        create(
            "policy with a space",
            json!({"policy": "two words", "expiration": future}),
            plugin_error(&format!("'policy' {ws}"), json!({"policy": ws})),
        ),
        create(
            "policy with a tab",
            json!({"policy": "tab\tbed", "expiration": future}),
            plugin_error(&format!("'policy' {ws}"), json!({"policy": ws})),
        ),
        create(
            "policy with a control character",
            json!({"policy": "bell\u{7}", "expiration": future}),
            plugin_error(&format!("'policy' {ws}"), json!({"policy": ws})),
        ),
        // several fields at once
        create(
            "policy number and fraction",
            json!({"policy": 5, "expiration": "1.5"}),
            plugin_error(
                "'expiration' must be an integer; 'policy' must be a string",
                json!({"expiration": "must be an integer", "policy": "must be a string"}),
            ),
        ),
        create(
            "policy blank and expired, with created/uuid",
            json!({"created": 0, "expiration": 0, "policy": "a b", "uuid": "text"}),
            plugin_error(
                &format!("'expiration' {in_future}; 'policy' {ws}"),
                json!({"expiration": "must be in the future", "policy": ws}),
            ),
        ),
        // bodies Vault itself refuses
        create_raw(
            "malformed JSON",
            "{\"policy\": \"p\", \"expiration\": ".to_owned(),
            Expect::Vault(400, "failed to decode JSON input"),
        ),
        create_raw(
            "JSON array",
            format!("[\"p\", {future}]"),
            Expect::Vault(400, "failed to decode JSON input"),
        ),
        // delete: no uuid, or not a canonical uuid
        delete(
            "delete totp/",
            "/",
            Expect::Plugin(expect::missing_uuid_body()),
        ),
        delete(
            "delete totp",
            "",
            Expect::Plugin(expect::missing_uuid_body()),
        ),
        delete(
            "delete upper-case uuid of a live entry",
            &format!("/{}", kept.to_uppercase()),
            Expect::Plugin(expect::bad_uuid_body()),
        ),
        delete(
            "delete braced uuid of a live entry",
            &format!("/%7B{kept}%7D"),
            Expect::Plugin(expect::bad_uuid_body()),
        ),
        delete(
            "delete unhyphenated uuid of a live entry",
            &format!("/{}", kept.replace('-', "")),
            Expect::Plugin(expect::bad_uuid_body()),
        ),
        delete(
            "delete uuid with a suffix",
            &format!("/{kept}/x"),
            Expect::Plugin(expect::bad_uuid_body()),
        ),
        delete(
            "delete text",
            "/text",
            Expect::Plugin(expect::bad_uuid_body()),
        ),
        delete(
            "delete {totp-uuid}",
            "/%7Btotp-uuid%7D",
            Expect::Plugin(expect::bad_uuid_body()),
        ),
        // an operation the path does not have
        Case {
            label: "read a collection".to_owned(),
            method: "GET",
            path: "auth/ratls/totp".to_owned(),
            body: None,
            expect: Expect::Vault(405, "unsupported operation"),
        },
    ];
    let mut count = run(&bao, &cases, &snapshot);

    // The CLI shows the plugin's body and fails.
    let out = bao.cli(&["write", "auth/ratls/totp", "policy=p", "expiration=12x"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("Code: 400"), "{out:?}");
    assert!(
        out.stderr.contains(
            r#"{"statusCode":400,"message":"Invalid request parameters: 'expiration' must be an integer.","errors":{"expiration":"must be an integer"}}"#
        ),
        "{out:?}"
    );
    assert_eq!(bao.snapshot("ratls"), snapshot, "CLI: storage changed");
    count += 1;

    // Lower the mount's max lease TTL to 1h: an hour and a bit is refused,
    // within the hour is accepted.
    bao.cli_ok(&["auth", "tune", "-max-lease-ttl=1h", "ratls/"]);
    let tuned = vec![create(
        "beyond the tuned 1h",
        json!({"policy": "p", "expiration": now() + 3700}),
        plugin_error(
            "'expiration' must be no later than 3600 seconds from now (the mount's max lease TTL)",
            json!({"expiration": "exceeds the mount's max lease TTL"}),
        ),
    )];
    count += run(&bao, &tuned, &snapshot);
    let expiration = now() + 3500;
    let before = now();
    let resp = bao.put(
        "auth/ratls/totp",
        &json!({"policy": "p", "expiration": expiration}),
    );
    let data = expect::created(&resp, "p", expiration, before, None);

    assert!(count >= 15, "only {count} bad inputs");
    eprintln!("bad inputs checked: {count}");
    // The protected entries are intact, and the one valid create is added.
    expect::storage_holds(&bao, "ratls", &[&existing[0], &existing[1], &data]);
}
