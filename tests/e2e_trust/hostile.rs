//! Hostile input corpus against a real OpenBao: malformed bodies, hostile
//! paths and every HTTP method on every path, sent byte for byte. Each answer
//! is asserted exactly (status and whole body), and the mount's whole
//! storage (a `sys/raw` snapshot) is compared after every request.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};
use vault_plugin_auth_ratls::domain::EntryId;
use vault_plugin_auth_ratls::domain::code::current_code;

use crate::expect;
use crate::harness::{Bao, now};
use crate::raw::{RawReq, RawResp, send};

const MIB: usize = 1024 * 1024;
const MOUNT: &str = "ratls";
const LIVE_POLICY: &str = "trust-live";

/// What a request must answer.
#[derive(Debug, Clone)]
enum Want {
    /// The plugin's documented error: exactly this body, with its
    /// `statusCode` as HTTP status, as `application/json`.
    Plugin(Value),
    /// Vault's own error: this status and exactly this JSON body.
    Vault(u16, Value),
    /// A non-JSON answer of Go's HTTP server: this status and exactly this text.
    Text(u16, &'static str),
    /// Go's path cleaning: 307 to `/v1/<this>`.
    Redirect(String),
    /// 200 in Vault's envelope with exactly this `data` and `warnings`.
    Ok(Value, Value),
    /// 200 in Vault's envelope whose `data` passes this check.
    OkCheck(fn(&Value) -> Result<(), String>),
}

struct Case {
    group: &'static str,
    label: String,
    method: &'static str,
    target: Vec<u8>,
    token: Token,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
    want: Want,
}

#[derive(Debug, Clone, Copy)]
enum Token {
    Root,
    None,
    Bogus,
}

// ---- expected bodies ----

/// A plugin 400 naming `fields` as (name, short, detail), in any order.
fn invalid(fields: &[(&str, &str, &str)]) -> Want {
    let mut sorted = fields.to_vec();
    sorted.sort_by_key(|f| f.0);
    let sentences: Vec<String> = sorted
        .iter()
        .map(|(name, _, detail)| format!("'{name}' {detail}"))
        .collect();
    let errors: serde_json::Map<String, Value> = sorted
        .iter()
        .map(|(name, short, _)| ((*name).to_owned(), Value::from(*short)))
        .collect();
    Want::Plugin(json!({
        "statusCode": 400,
        "message": format!("Invalid request parameters: {}.", sentences.join("; ")),
        "errors": errors,
    }))
}

const MISSING: &str = "Missing required field";
const MISSING_STR: &str = "is required and must be a string";
const MISSING_INT: &str = "is required and must be an integer";
const NOT_STR: &str = "must be a string";
const NOT_INT: &str = "must be an integer";
const RANGE: &str = "is out of range";
const WS: &str = "must not contain whitespace or control characters";
const BAD_UUID: (&str, &str, &str) = (
    "uuid",
    "must be a UUID",
    "must be a UUID in canonical form (36 lower-case hexadecimal characters and hyphens)",
);
const BAD_ACCESSOR: (&str, &str, &str) = (
    "accessor",
    "must be a UUID",
    "must be a UUID in canonical form (36 lower-case hexadecimal characters and hyphens)",
);
const BAD_CODE: (&str, &str, &str) = ("code", "must be 6 digits", "must be a string of 6 digits");
const PAST: (&str, &str, &str) = (
    "expiration",
    "must be in the future",
    "must be a Unix timestamp in the future",
);
const TOO_LATE: (&str, &str, &str) = (
    "expiration",
    "exceeds the mount's max lease TTL",
    "must be no later than 2764800 seconds from now (the mount's max lease TTL)",
);

fn missing(
    field: &'static str,
    detail: &'static str,
) -> (&'static str, &'static str, &'static str) {
    (field, MISSING, detail)
}

fn wrong(field: &'static str, problem: &'static str) -> (&'static str, &'static str, &'static str) {
    (field, problem, problem)
}

/// A body OpenBao accepts but nested deeper than the plugin decodes.
/// A plugin error where no field is at fault: `errors` is Vault's list
/// holding the message.
fn plain_error(status: u16, message: &str) -> Want {
    Want::Plugin(json!({"statusCode": status, "message": message, "errors": [message]}))
}

fn too_deep() -> Want {
    plain_error(
        400,
        "Invalid request: the body must be a JSON object nested at most 127 levels deep.",
    )
}

fn not_found() -> Want {
    plain_error(
        404,
        "No TOTP entry with this uuid exists: it was never created, or it was deleted, redeemed or has expired.",
    )
}

fn accessor_not_found() -> Want {
    plain_error(
        404,
        "No TOTP entry with this accessor exists: it was never created, or it was deleted, redeemed or has expired.",
    )
}

/// A delete's answer, whether the entry existed or not.
fn deleted() -> Want {
    Want::Ok(json!({"deleted": true}), Value::Null)
}

fn vault(status: u16, error: &str) -> Want {
    Want::Vault(status, json!({ "errors": [error] }))
}

fn unsupported_operation() -> Want {
    vault(405, "1 error occurred:\n\t* unsupported operation\n\n")
}

fn unsupported_path() -> Want {
    vault(404, "1 error occurred:\n\t* unsupported path\n\n")
}

fn decode_error(detail: &str) -> Want {
    vault(400, &format!("failed to decode JSON input: {detail}"))
}

fn valid(valid: bool) -> Want {
    Want::Ok(json!({ "valid": valid }), Value::Null)
}

fn check_code(data: &Value) -> Result<(), String> {
    let code = data["code"].as_str().unwrap_or_default();
    let expire = data["expire_time"].as_i64().unwrap_or_default();
    let keys: Vec<&String> = data
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    let ok = keys == ["code", "expire_time", "period"]
        && code.len() == 6
        && code.bytes().all(|b| b.is_ascii_digit())
        && data["period"] == 30
        && expire % 30 == 0
        && (now() - 1..=now() + 31).contains(&expire);
    if ok {
        Ok(())
    } else {
        Err(format!("not a code answer: {data}"))
    }
}

// ---- case builders ----

fn case(
    group: &'static str,
    label: impl Into<String>,
    method: &'static str,
    target: impl Into<Vec<u8>>,
    want: Want,
) -> Case {
    Case {
        group,
        label: label.into(),
        method,
        target: target.into(),
        token: Token::Root,
        content_type: None,
        body: None,
        want,
    }
}

fn with_body(mut case: Case, body: impl Into<Vec<u8>>) -> Case {
    case.content_type = Some("application/json");
    case.body = Some(body.into());
    case
}

fn body_case(
    group: &'static str,
    label: impl Into<String>,
    target: &str,
    body: impl Into<Vec<u8>>,
    want: Want,
) -> Case {
    with_body(
        case(group, label, "PUT", format!("auth/ratls/{target}"), want),
        body,
    )
}

// ---- shared by several groups ----

/// What a create with neither field answers.
fn create_missing() -> Want {
    invalid(&[
        missing("policy", MISSING_STR),
        missing("expiration", MISSING_INT),
    ])
}

/// The `data` of a LIST of `totp/`: the live entry alone, keyed by its
/// accessor (`live_data` is what a read answers: no uuid).
fn list_answer(live_data: &Value) -> Value {
    let mut info = live_data.clone();
    let accessor = info["accessor"].as_str().expect("accessor").to_owned();
    info.as_object_mut().expect("object").remove("accessor");
    json!({ "keys": [accessor], "key_info": { accessor: info } })
}

/// Inputs in the corpus: 240 of v0.1.0's paths, then the accessor paths,
/// lookup bodies and names swapped.
const CORPUS_SIZE: usize = 240 + 27 + 9 + 13;

const CREATE_BODY: &str = "create body";
const PATH: &str = "path";

/// The `path` group's cases from (method, label, target below the mount, want).
fn path_cases(rows: Vec<(&'static str, String, String, Want)>) -> Vec<Case> {
    let g = PATH;
    let mut cases = Vec::new();
    for (method, label, target, want) in rows {
        cases.push(case(g, label, method, format!("auth/ratls/{target}"), want));
    }
    cases
}

/// Every request of the corpus. `live` is a live entry (policy
/// [`LIVE_POLICY`]), `ghost` a canonical uuid that names nothing, `live_data`
/// what a read of the live entry answers (with its accessor, without its
/// uuid), `wrong_code` a well-formed code that is not the live entry's.
fn corpus(live: &str, ghost: &str, live_data: &Value, wrong_code: &str) -> Vec<Case> {
    let future = now() + 600;
    let groups = [
        methods_on_every_path(live, ghost, live_data),
        methods_vault_refuses(),
        create_expirations(future),
        create_policies(future),
        create_encodings(),
        create_body_shapes(live, future),
        create_content_types(),
        redeem_bodies(live, ghost),
        verify_bodies(wrong_code),
        list_and_tidy_parameters(live_data),
        dot_and_slash_paths(live),
        non_canonical_uuid_paths(live),
        percent_decoded_paths(ghost),
        tidy_and_unknown_paths(),
        control_character_paths(live),
        invalid_utf8_paths(live),
        unauthenticated_requests(live),
        accessor_paths(live, ghost, live_data),
        lookup_bodies(live, ghost, live_data),
        names_in_each_others_place(live, ghost, live_data, wrong_code),
    ];
    groups.into_iter().flatten().collect()
}

// ---- the groups, in corpus order ----

/// Every method on every path (the entry path deletes the ghost): the whole routing table.
fn methods_on_every_path(live: &str, ghost: &str, live_data: &Value) -> Vec<Case> {
    let list_data = list_answer(live_data);
    let tidy_data = expect::tidy_counts([0; 7]);
    let mut cases = Vec::new();
    let paths: [(&str, String); 7] = [
        ("totp", "totp".into()),
        ("totp/", "totp/".into()),
        ("totp/<uuid>", format!("totp/{live}")),
        ("totp/<uuid>/code", format!("totp/{live}/code")),
        ("totp/redeem", "totp/redeem".into()),
        ("totp/verify", "totp/verify".into()),
        ("tidy", "tidy".into()),
    ];
    let delete_missing = expect::missing_uuid_body();
    for (name, path) in &paths {
        for method in ["GET", "PUT", "POST", "DELETE", "LIST", "PATCH", "HEAD"] {
            let want = match (*name, method) {
                (_, "HEAD") => Want::Text(405, ""),
                (_, "PATCH") => vault(400, "mime: no media type"),
                ("totp" | "totp/", "LIST") => Want::Ok(list_data.clone(), Value::Null),
                ("totp" | "totp/", "DELETE") => Want::Plugin(delete_missing.clone()),
                ("totp", "PUT" | "POST") => create_missing(),
                ("totp/", "PUT" | "POST") => vault(400, "cannot write to a path ending in '/'"),
                ("totp/<uuid>", "GET") => Want::Ok(live_data.clone(), Value::Null),
                ("totp/<uuid>", "DELETE") => deleted(),
                ("totp/<uuid>/code", "GET") => Want::OkCheck(check_code),
                ("totp/redeem", "PUT" | "POST") => {
                    invalid(&[missing("uuid", MISSING_STR), missing("policy", MISSING_STR)])
                }
                ("totp/verify", "PUT" | "POST") => {
                    invalid(&[missing("code", MISSING_STR), missing("policy", MISSING_STR)])
                }
                ("tidy", "PUT" | "POST") => Want::Ok(tidy_data.clone(), Value::Null),
                ("tidy", "LIST") => unsupported_path(),
                _ => unsupported_operation(),
            };
            let target = if *name == "totp/<uuid>" && method == "DELETE" {
                format!("auth/ratls/totp/{ghost}")
            } else {
                format!("auth/ratls/{path}")
            };
            cases.push(case(
                "method x path",
                format!("{method} {name}"),
                method,
                target,
                want,
            ));
        }
        // PATCH as Vault wants it: the plugin serves no patch.
        let want = if *name == "totp/" {
            vault(400, "cannot write to a path ending in '/'")
        } else {
            unsupported_operation()
        };
        let mut patch = with_body(
            case(
                "method x path",
                format!("PATCH {name} (merge-patch)"),
                "PATCH",
                format!("auth/ratls/{path}"),
                want,
            ),
            r#"{"policy":"p"}"#,
        );
        patch.content_type = Some("application/merge-patch+json");
        cases.push(patch);
    }
    cases
}

/// Methods Vault does not serve, and PATCH with the wrong content type: Vault refuses them.
fn methods_vault_refuses() -> Vec<Case> {
    let mut cases = Vec::new();
    // Methods HTTP has and Vault does not.
    for (method, want) in [
        (
            "OPTIONS",
            vault(400, "cannot handle internal-only request operation"),
        ),
        ("TRACE", Want::Vault(405, json!({"errors": []}))),
        ("CONNECT", Want::Vault(405, json!({"errors": []}))),
        ("FROB", Want::Vault(405, json!({"errors": []}))),
    ] {
        cases.push(case(
            "method x path",
            format!("{method} totp"),
            method,
            "auth/ratls/totp",
            want,
        ));
    }
    // PATCH with a JSON body but the wrong content type.
    cases.push(with_body(
        case("method x path", "PATCH totp (application/json)", "PATCH", "auth/ratls/totp",
            vault(415, "PATCH requires Content-Type of application/merge-patch+json, provided application/json")),
        r#"{"policy":"p"}"#,
    ));
    cases
}

/// Create bodies whose `expiration` has a wrong type, numeric form, range or size.
fn create_expirations(future: i64) -> Vec<Case> {
    let mut cases = Vec::new();
    let policy_ok = |exp: Value| json!({"policy": "p", "expiration": exp}).to_string();
    let g = CREATE_BODY;
    let exp_cases: Vec<(&str, String, Want)> = vec![
        (
            "expiration as a boolean",
            policy_ok(json!(true)),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "expiration as null",
            policy_ok(Value::Null),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "expiration as an array",
            policy_ok(json!([future])),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "expiration as an object",
            policy_ok(json!({"$gt": 0})),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "expiration as a fraction",
            policy_ok(json!(1.5)),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "expiration as an integral float",
            format!(r#"{{"policy":"p","expiration":{future}.0}}"#),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "expiration with an exponent",
            r#"{"policy":"p","expiration":1e3}"#.into(),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "expiration as -0.0",
            r#"{"policy":"p","expiration":-0.0}"#.into(),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "expiration as a fraction string",
            policy_ok(json!("1.5")),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "expiration as an exponent string",
            policy_ok(json!("1e3")),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "expiration as \"NaN\"",
            policy_ok(json!("NaN")),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "expiration as \"Infinity\"",
            policy_ok(json!("Infinity")),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "expiration as \"-\"",
            policy_ok(json!("-")),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "expiration as hex",
            policy_ok(json!("0x7fffffff")),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "expiration with a trailing newline",
            policy_ok(json!(format!("{future}\n"))),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "expiration with Arabic-Indic digits",
            policy_ok(json!("١٢٣")),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "expiration as \"-0\"",
            policy_ok(json!("-0")),
            invalid(&[PAST]),
        ),
        (
            "expiration negative",
            policy_ok(json!(-5)),
            invalid(&[PAST]),
        ),
        (
            "expiration negative as a string",
            policy_ok(json!("-1")),
            invalid(&[PAST]),
        ),
        (
            "expiration i64::MAX",
            policy_ok(json!(i64::MAX)),
            invalid(&[TOO_LATE]),
        ),
        (
            "expiration i64::MAX as a string",
            policy_ok(json!(i64::MAX.to_string())),
            invalid(&[TOO_LATE]),
        ),
        (
            "expiration i64::MIN",
            policy_ok(json!(i64::MIN)),
            invalid(&[PAST]),
        ),
        (
            "expiration i64::MAX + 1",
            r#"{"policy":"p","expiration":9223372036854775808}"#.into(),
            invalid(&[wrong("expiration", RANGE)]),
        ),
        (
            "expiration i64::MAX + 1 as a string",
            policy_ok(json!("9223372036854775808")),
            invalid(&[wrong("expiration", RANGE)]),
        ),
        // serde_json reads integers below i64::MIN as floats: "must be an integer",
        // while the same text as a string is "out of range".
        (
            "expiration i64::MIN - 1",
            r#"{"policy":"p","expiration":-9223372036854775809}"#.into(),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "expiration i64::MIN - 1 as a string",
            policy_ok(json!("-9223372036854775809")),
            invalid(&[wrong("expiration", RANGE)]),
        ),
        (
            "expiration u64::MAX",
            r#"{"policy":"p","expiration":18446744073709551615}"#.into(),
            invalid(&[wrong("expiration", RANGE)]),
        ),
        (
            "expiration 1e400",
            r#"{"policy":"p","expiration":1e400}"#.into(),
            decode_error("json: cannot unmarshal number 1e400 into Go value of type float64"),
        ),
        (
            "expiration of 400 digits",
            format!(r#"{{"policy":"p","expiration":{}}}"#, "9".repeat(400)),
            decode_error(&format!(
                "json: cannot unmarshal number {} into Go value of type float64",
                "9".repeat(400)
            )),
        ),
        (
            "expiration: 1 MiB of digits as a string",
            policy_ok(json!("7".repeat(MIB))),
            invalid(&[wrong("expiration", RANGE)]),
        ),
        (
            "expiration with 23 leading zeros",
            policy_ok(json!(format!("{}1", "0".repeat(22)))),
            invalid(&[PAST]),
        ),
        (
            "bare NaN",
            r#"{"policy":"p","expiration":NaN}"#.into(),
            decode_error("invalid character 'N' looking for beginning of value"),
        ),
        (
            "bare Infinity",
            r#"{"policy":"p","expiration":Infinity}"#.into(),
            decode_error("invalid character 'I' looking for beginning of value"),
        ),
        (
            "bare -Infinity",
            r#"{"policy":"p","expiration":-Infinity}"#.into(),
            decode_error("invalid character 'I' in numeric literal"),
        ),
        (
            "leading +",
            r#"{"policy":"p","expiration":+5}"#.into(),
            decode_error("invalid character '+' looking for beginning of value"),
        ),
        (
            "leading zero number",
            r#"{"policy":"p","expiration":01}"#.into(),
            decode_error("invalid character '1' after object key:value pair"),
        ),
    ];
    for (label, body, want) in exp_cases {
        cases.push(body_case(g, label, "totp", body, want));
    }
    cases
}

/// Create bodies whose `policy` has a wrong type or length, or a control or space character.
fn create_policies(future: i64) -> Vec<Case> {
    let mut cases = Vec::new();
    let g = CREATE_BODY;
    let exp = |policy: Value| json!({"policy": policy, "expiration": future}).to_string();
    let policy_cases: Vec<(&str, String, Want)> = vec![
        (
            "policy as a number",
            exp(json!(5)),
            invalid(&[wrong("policy", NOT_STR)]),
        ),
        (
            "policy as a boolean",
            exp(json!(false)),
            invalid(&[wrong("policy", NOT_STR)]),
        ),
        (
            "policy as null",
            exp(Value::Null),
            invalid(&[wrong("policy", NOT_STR)]),
        ),
        (
            "policy as an array",
            exp(json!(["p"])),
            invalid(&[wrong("policy", NOT_STR)]),
        ),
        (
            "policy as a nested object",
            exp(json!({"name": {"deeper": ["p"]}})),
            invalid(&[wrong("policy", NOT_STR)]),
        ),
        (
            "policy empty",
            exp(json!("")),
            invalid(&[wrong("policy", "must not be empty")]),
        ),
        (
            "policy 129 characters",
            exp(json!("x".repeat(129))),
            invalid(&[(
                "policy",
                "is too long",
                "must be at most 128 characters long",
            )]),
        ),
        (
            "policy of 1 MiB",
            exp(json!("x".repeat(MIB))),
            invalid(&[(
                "policy",
                "is too long",
                "must be at most 128 characters long",
            )]),
        ),
        (
            "policy with NUL",
            exp(json!("p\u{0}")),
            invalid(&[wrong("policy", WS)]),
        ),
        (
            "policy with a C1 control",
            exp(json!("p\u{85}")),
            invalid(&[wrong("policy", WS)]),
        ),
        (
            "policy with DEL",
            exp(json!("p\u{7f}")),
            invalid(&[wrong("policy", WS)]),
        ),
        (
            "policy with a no-break space",
            exp(json!("p\u{a0}q")),
            invalid(&[wrong("policy", WS)]),
        ),
        (
            "policy with a line separator",
            exp(json!("p\u{2028}")),
            invalid(&[wrong("policy", WS)]),
        ),
        (
            "policy with a newline",
            exp(json!("p\nq")),
            invalid(&[wrong("policy", WS)]),
        ),
    ];
    for (label, body, want) in policy_cases {
        cases.push(body_case(g, label, "totp", body, want));
    }
    cases
}

/// Create bodies with broken encodings: surrogates, invalid UTF-8, bad escapes, a BOM.
fn create_encodings() -> Vec<Case> {
    let mut cases = Vec::new();
    let g = CREATE_BODY;
    // Encodings. Go's decoder turns a lone surrogate and invalid UTF-8 into
    // U+FFFD, a valid policy character: only `expiration` is refused.
    let raw_cases: Vec<(&str, Vec<u8>, Want)> = vec![
        (
            "lone low surrogate \\udc00 in policy",
            br#"{"policy":"\udc00","expiration":0}"#.to_vec(),
            invalid(&[PAST]),
        ),
        (
            "lone high surrogate \\ud800 in policy",
            br#"{"policy":"a\ud800b","expiration":"x"}"#.to_vec(),
            invalid(&[wrong("expiration", NOT_INT)]),
        ),
        (
            "reversed surrogate pair",
            br#"{"policy":"\udc00\ud800","expiration":0}"#.to_vec(),
            invalid(&[PAST]),
        ),
        (
            "invalid UTF-8 byte in policy",
            b"{\"policy\":\"p\xff\",\"expiration\":0}".to_vec(),
            invalid(&[PAST]),
        ),
        (
            "overlong UTF-8 in policy",
            b"{\"policy\":\"\xc0\xaf\",\"expiration\":0}".to_vec(),
            invalid(&[PAST]),
        ),
        (
            "escaped NUL in policy",
            br#"{"policy":"\u0000","expiration":0}"#.to_vec(),
            invalid(&[PAST, wrong("policy", WS)]),
        ),
        (
            "raw control byte in a string",
            b"{\"policy\":\"p\x01\",\"expiration\":0}".to_vec(),
            decode_error("invalid character '\\x01' in string"),
        ),
        (
            "invalid escape",
            br#"{"policy":"\x41","expiration":0}"#.to_vec(),
            decode_error("invalid escape sequence `\\x` in string"),
        ),
        (
            "truncated \\u escape",
            br#"{"policy":"\u12","expiration":0}"#.to_vec(),
            decode_error("invalid escape sequence `\\u12\",` in string"),
        ),
        (
            "byte order mark",
            b"\xef\xbb\xbf{\"policy\":\"p\",\"expiration\":0}".to_vec(),
            decode_error("invalid character '\\ufeff' looking for beginning of value"),
        ),
        (
            "invalid UTF-8 in a key",
            b"{\"pol\xffcy\":\"p\",\"expiration\":0}".to_vec(),
            invalid(&[PAST, missing("policy", MISSING_STR)]),
        ),
    ];
    for (label, body, want) in raw_cases {
        cases.push(body_case(g, label, "totp", body, want));
    }
    cases
}

/// Create bodies of the wrong shape: duplicate keys, non-objects, truncation, deep nesting.
fn create_body_shapes(live: &str, future: i64) -> Vec<Case> {
    let mut cases = Vec::new();
    let g = CREATE_BODY;
    let nest = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let structure: Vec<(&str, String, Want)> = vec![
        ("duplicate policy, last invalid", format!(r#"{{"policy":"p","policy":"a b","expiration":{future}}}"#), invalid(&[wrong("policy", WS)])),
        ("duplicate expiration, last past", format!(r#"{{"policy":"p","expiration":{future},"expiration":0}}"#), invalid(&[PAST])),
        ("key differing in case", format!(r#"{{"Policy":"p","EXPIRATION":{future}}}"#), invalid(&[missing("policy", MISSING_STR), missing("expiration", MISSING_INT)])),
        ("extra fields with an invalid one", json!({"policy": "p", "expiration": 0, "extra": {"deep": [1, {"x": null}]}, "uuid": live, "created": 1}).to_string(), invalid(&[PAST])),
        ("1 MiB unknown field with an invalid one", json!({"policy": "a b", "expiration": future, "junk": "j".repeat(MIB)}).to_string(), invalid(&[wrong("policy", WS)])),
        ("empty object", "{}".into(), create_missing()),
        ("JSON null body", "null".into(), create_missing()),
        ("empty body", String::new(), create_missing()),
        ("whitespace body", "  \n\t ".into(), create_missing()),
        ("array body", format!(r#"[{{"policy":"p","expiration":{future}}}]"#), decode_error("json: cannot unmarshal array into Go value of type map[string]interface {}")),
        ("string body", r#""policy""#.into(), decode_error("json: cannot unmarshal string into Go value of type map[string]interface {}")),
        ("number body", "123".into(), decode_error("json: cannot unmarshal number into Go value of type map[string]interface {}")),
        ("truncated object", r#"{"policy":"p","expiration":"#.into(), decode_error("unexpected EOF")),
        ("trailing garbage", r#"{"policy":"a b","expiration":1} garbage"#.into(), decode_error("invalid character 'g' looking for beginning of value")),
        // Go decodes the first value and ignores a second.
        ("two concatenated objects", format!(r#"{{"policy":"a b","expiration":1}}{{"policy":"p","expiration":{future}}}"#), invalid(&[PAST, wrong("policy", WS)])),
        ("nesting 100 deep in an unknown field", format!(r#"{{"policy":"a b","expiration":{future},"x":{}}}"#, nest(100)), invalid(&[wrong("policy", WS)])),
        // Vault accepts it; the plugin's JSON decoder stops at depth 128 and
        // answers "invalid request" (Vault's shape).
        ("nesting 200 deep in an unknown field", format!(r#"{{"policy":"p","expiration":{future},"x":{}}}"#, nest(200)), too_deep()),
        ("nesting 5000 deep in policy", format!(r#"{{"policy":{},"expiration":{future}}}"#, nest(5000)), too_deep()),
        ("nesting 10001 deep", format!(r#"{{"policy":{},"expiration":{future}}}"#, nest(10_001)), decode_error("exceeded max depth")),
        ("10000 opening brackets only", "[".repeat(10_000), decode_error("unexpected EOF")),
    ];
    for (label, body, want) in structure {
        cases.push(body_case(g, label, "totp", body, want));
    }
    cases
}

/// Create bodies sent as other content types, which Vault decodes too.
fn create_content_types() -> Vec<Case> {
    let mut cases = Vec::new();
    let g = CREATE_BODY;
    // The body's content type is not checked.
    let mut plain = body_case(
        g,
        "text/plain content type",
        "totp",
        r#"{"policy":"a b","expiration":1}"#,
        invalid(&[PAST, wrong("policy", WS)]),
    );
    plain.content_type = Some("text/plain");
    cases.push(plain);
    // Vault also reads form-encoded bodies.
    let mut form = body_case(
        g,
        "form-encoded body",
        "totp",
        "policy=p&expiration=5",
        invalid(&[PAST]),
    );
    form.content_type = Some("application/x-www-form-urlencoded");
    cases.push(form);
    cases
}

/// Redeem bodies with malformed fields, and well-formed ones that must redeem nothing.
fn redeem_bodies(live: &str, ghost: &str) -> Vec<Case> {
    let upper = live.to_uppercase();
    let mut cases = Vec::new();
    let g = "redeem body";
    let redeem: Vec<(&str, Value, Want)> = vec![
        (
            "uuid as a number",
            json!({"uuid": 5, "policy": LIVE_POLICY}),
            invalid(&[wrong("uuid", NOT_STR)]),
        ),
        (
            "uuid as an array",
            json!({"uuid": [live], "policy": LIVE_POLICY}),
            invalid(&[wrong("uuid", NOT_STR)]),
        ),
        (
            "uuid as an object",
            json!({"uuid": {"id": live}, "policy": LIVE_POLICY}),
            invalid(&[wrong("uuid", NOT_STR)]),
        ),
        (
            "uuid as null",
            json!({"uuid": null, "policy": LIVE_POLICY}),
            invalid(&[wrong("uuid", NOT_STR)]),
        ),
        (
            "uuid empty",
            json!({"uuid": "", "policy": LIVE_POLICY}),
            invalid(&[missing("uuid", MISSING_STR)]),
        ),
        (
            "uuid upper-case (live)",
            json!({"uuid": upper, "policy": LIVE_POLICY}),
            invalid(&[BAD_UUID]),
        ),
        (
            "uuid braced (live)",
            json!({"uuid": format!("{{{live}}}"), "policy": LIVE_POLICY}),
            invalid(&[BAD_UUID]),
        ),
        (
            "uuid urn form (live)",
            json!({"uuid": format!("urn:uuid:{live}"), "policy": LIVE_POLICY}),
            invalid(&[BAD_UUID]),
        ),
        (
            "uuid without hyphens (live)",
            json!({"uuid": live.replace('-', ""), "policy": LIVE_POLICY}),
            invalid(&[BAD_UUID]),
        ),
        (
            "uuid with a trailing NUL (live)",
            json!({"uuid": format!("{live}\u{0}"), "policy": LIVE_POLICY}),
            invalid(&[BAD_UUID]),
        ),
        (
            "uuid with a trailing space (live)",
            json!({"uuid": format!("{live} "), "policy": LIVE_POLICY}),
            invalid(&[BAD_UUID]),
        ),
        (
            "uuid of 1 MiB",
            json!({"uuid": "u".repeat(MIB), "policy": LIVE_POLICY}),
            invalid(&[BAD_UUID]),
        ),
        (
            "policy as a number",
            json!({"uuid": live, "policy": 1}),
            invalid(&[wrong("policy", NOT_STR)]),
        ),
        (
            "policy of 1 MiB",
            json!({"uuid": live, "policy": "p".repeat(MIB)}),
            invalid(&[(
                "policy",
                "is too long",
                "must be at most 128 characters long",
            )]),
        ),
        (
            "both wrong",
            json!({"uuid": true, "policy": ""}),
            invalid(&[wrong("uuid", NOT_STR), wrong("policy", "must not be empty")]),
        ),
        // Well-formed but wrong: the documented {"valid": false}, nothing consumed.
        (
            "live uuid, another policy",
            json!({"uuid": live, "policy": "other"}),
            valid(false),
        ),
        (
            "unknown uuid",
            json!({"uuid": ghost, "policy": LIVE_POLICY}),
            valid(false),
        ),
        (
            "unknown uuid with an extra field",
            json!({"uuid": ghost, "policy": LIVE_POLICY, "zz": [1]}),
            Want::Ok(
                json!({"valid": false}),
                json!(["Endpoint ignored these unrecognized parameters: [zz]"]),
            ),
        ),
    ];
    for (label, body, want) in redeem {
        cases.push(body_case(g, label, "totp/redeem", body.to_string(), want));
    }
    cases
}

/// Verify bodies with malformed fields, and well-formed ones that must verify nothing.
fn verify_bodies(wrong_code: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let g = "verify body";
    let verify: Vec<(&str, Value, Want)> = vec![
        (
            "code as a number",
            json!({"policy": LIVE_POLICY, "code": 123_456}),
            invalid(&[wrong("code", NOT_STR)]),
        ),
        (
            "code as a number with a leading zero lost",
            json!({"policy": LIVE_POLICY, "code": 12_345}),
            invalid(&[wrong("code", NOT_STR)]),
        ),
        (
            "code as null",
            json!({"policy": LIVE_POLICY, "code": null}),
            invalid(&[wrong("code", NOT_STR)]),
        ),
        (
            "code as an array",
            json!({"policy": LIVE_POLICY, "code": ["123456"]}),
            invalid(&[wrong("code", NOT_STR)]),
        ),
        (
            "code of 5 digits",
            json!({"policy": LIVE_POLICY, "code": "12345"}),
            invalid(&[BAD_CODE]),
        ),
        (
            "code of 7 digits",
            json!({"policy": LIVE_POLICY, "code": "1234567"}),
            invalid(&[BAD_CODE]),
        ),
        (
            "code with a letter",
            json!({"policy": LIVE_POLICY, "code": "12345a"}),
            invalid(&[BAD_CODE]),
        ),
        (
            "code with a sign",
            json!({"policy": LIVE_POLICY, "code": "-12345"}),
            invalid(&[BAD_CODE]),
        ),
        (
            "code with a space",
            json!({"policy": LIVE_POLICY, "code": " 12345"}),
            invalid(&[BAD_CODE]),
        ),
        (
            "code of fullwidth digits",
            json!({"policy": LIVE_POLICY, "code": "１２３４５６"}),
            invalid(&[BAD_CODE]),
        ),
        (
            "code with NUL",
            json!({"policy": LIVE_POLICY, "code": "12345\u{0}"}),
            invalid(&[BAD_CODE]),
        ),
        (
            "code empty",
            json!({"policy": LIVE_POLICY, "code": ""}),
            invalid(&[BAD_CODE]),
        ),
        (
            "code of 1 MiB digits",
            json!({"policy": LIVE_POLICY, "code": "1".repeat(MIB)}),
            invalid(&[BAD_CODE]),
        ),
        (
            "policy as an object",
            json!({"policy": {"p": 1}, "code": wrong_code}),
            invalid(&[wrong("policy", NOT_STR)]),
        ),
        (
            "policy with a tab",
            json!({"policy": "a\tb", "code": "x"}),
            invalid(&[wrong("policy", WS), BAD_CODE]),
        ),
        // Well-formed but wrong: {"valid": false}, no replay record written.
        (
            "wrong code for the live policy",
            json!({"policy": LIVE_POLICY, "code": wrong_code}),
            valid(false),
        ),
        (
            "code for an unknown policy",
            json!({"policy": "nobody", "code": wrong_code}),
            valid(false),
        ),
    ];
    for (label, body, want) in verify {
        cases.push(body_case(g, label, "totp/verify", body.to_string(), want));
    }
    cases
}

/// List's `limit` and `after` at their edges, and fields that list and tidy must ignore.
fn list_and_tidy_parameters(live_data: &Value) -> Vec<Case> {
    let list_data = list_answer(live_data);
    let tidy_data = expect::tidy_counts([0; 7]);
    let mut cases = Vec::new();
    let g = "list query";
    for (label, query, want) in [
        (
            "limit not a number",
            "limit=x",
            invalid(&[wrong("limit", NOT_INT)]),
        ),
        (
            "limit a fraction",
            "limit=1.5",
            invalid(&[wrong("limit", NOT_INT)]),
        ),
        (
            "limit beyond i64",
            "limit=99999999999999999999",
            invalid(&[wrong("limit", RANGE)]),
        ),
        ("limit empty", "limit=", invalid(&[wrong("limit", NOT_INT)])),
        (
            "limit and after both wrong",
            "limit=%00&after=",
            invalid(&[wrong("limit", NOT_INT)]),
        ),
        (
            "after past every uuid",
            "after=zzzz",
            Want::Vault(404, json!({"errors": []})),
        ),
        (
            "limit negative means all",
            "limit=-5",
            Want::Ok(list_data.clone(), Value::Null),
        ),
    ] {
        cases.push(case(
            g,
            label,
            "LIST",
            format!("auth/ratls/totp/?{query}"),
            want,
        ));
    }
    cases.push(with_body(
        case(
            g,
            "LIST ignores a body",
            "LIST",
            "auth/ratls/totp/",
            Want::Ok(list_data.clone(), Value::Null),
        ),
        r#"{"limit":"x","after":5}"#,
    ));
    cases.push(with_body(
        case(
            g,
            "tidy with an unknown field",
            "POST",
            "auth/ratls/tidy",
            Want::Ok(
                tidy_data.clone(),
                json!(["Endpoint ignored these unrecognized parameters: [x]"]),
            ),
        ),
        r#"{"x":{"y":[1,2,3]}}"#,
    ));
    cases
}

/// Dot segments and doubled slashes: Go cleans raw ones (307), Vault refuses escaped ones.
fn dot_and_slash_paths(live: &str) -> Vec<Case> {
    path_cases(vec![
        (
            "GET",
            "dot-dot out of totp".into(),
            "totp/../x".into(),
            Want::Redirect("auth/ratls/x".into()),
        ),
        (
            "GET",
            "dot-dot back into totp".into(),
            "totp/../totp".into(),
            Want::Redirect("auth/ratls/totp".into()),
        ),
        (
            "DELETE",
            "dot segment before the live uuid".into(),
            format!("totp/./{live}"),
            Want::Redirect(format!("auth/ratls/totp/{live}")),
        ),
        (
            "GET",
            "double slash".into(),
            "totp//".into(),
            Want::Redirect("auth/ratls/totp/".into()),
        ),
        (
            "DELETE",
            "double slash before the live uuid".into(),
            format!("totp//{live}"),
            Want::Redirect(format!("auth/ratls/totp/{live}")),
        ),
        (
            "GET",
            "double slash before code".into(),
            format!("totp/{live}//code"),
            Want::Redirect(format!("auth/ratls/totp/{live}/code")),
        ),
        (
            "GET",
            "escaped dot-dot".into(),
            "totp/%2e%2e/tidy".into(),
            vault(400, "relative paths not supported"),
        ),
        (
            "POST",
            "escaped dot-dot to tidy".into(),
            "totp/..%2ftidy".into(),
            vault(400, "relative paths not supported"),
        ),
    ])
}

/// Entry paths whose uuid segment is not canonical or has more after it: a bad uuid.
fn non_canonical_uuid_paths(live: &str) -> Vec<Case> {
    let upper = live.to_uppercase();
    let long = "a".repeat(8 * 1024);
    path_cases(vec![
        (
            "GET",
            "trailing slash after the live uuid".into(),
            format!("totp/{live}/"),
            invalid(&[BAD_UUID]),
        ),
        (
            "DELETE",
            "trailing slash after the live uuid".into(),
            format!("totp/{live}/"),
            invalid(&[BAD_UUID]),
        ),
        (
            "GET",
            "upper-case live uuid".into(),
            format!("totp/{upper}"),
            invalid(&[BAD_UUID]),
        ),
        (
            "DELETE",
            "upper-case live uuid".into(),
            format!("totp/{upper}"),
            invalid(&[BAD_UUID]),
        ),
        (
            "GET",
            "upper-case live uuid, code".into(),
            format!("totp/{upper}/code"),
            invalid(&[BAD_UUID]),
        ),
        (
            "DELETE",
            "brace-wrapped live uuid, escaped".into(),
            format!("totp/%7B{live}%7D"),
            invalid(&[BAD_UUID]),
        ),
        (
            "GET",
            "brace-wrapped live uuid, raw".into(),
            format!("totp/{{{live}}}"),
            invalid(&[BAD_UUID]),
        ),
        (
            "GET",
            "brace-wrapped live uuid, code".into(),
            format!("totp/%7b{live}%7d/code"),
            invalid(&[BAD_UUID]),
        ),
        (
            "DELETE",
            "live uuid without hyphens".into(),
            format!("totp/{}", live.replace('-', "")),
            invalid(&[BAD_UUID]),
        ),
        (
            "DELETE",
            "live uuid with a space".into(),
            format!("totp/{live}%20"),
            invalid(&[BAD_UUID]),
        ),
        (
            "DELETE",
            "live uuid then a suffix".into(),
            format!("totp/{live}/x"),
            invalid(&[BAD_UUID]),
        ),
        (
            "GET",
            "code with a trailing slash".into(),
            format!("totp/{live}/code/"),
            invalid(&[BAD_UUID]),
        ),
        (
            "GET",
            "code then more".into(),
            format!("totp/{live}/code/x"),
            invalid(&[BAD_UUID]),
        ),
        (
            "GET",
            "double-escaped dot".into(),
            "totp/%252e".into(),
            invalid(&[BAD_UUID]),
        ),
        (
            "GET",
            "8 KiB segment".into(),
            format!("totp/{long}"),
            invalid(&[BAD_UUID]),
        ),
        (
            "GET",
            "redeem with a trailing slash".into(),
            "totp/redeem/".into(),
            invalid(&[BAD_UUID]),
        ),
        (
            "DELETE",
            "verify with a trailing slash".into(),
            "totp/verify/".into(),
            invalid(&[BAD_UUID]),
        ),
    ])
}

/// Percent-escaped paths and the plain paths they decode to, which answer alike.
fn percent_decoded_paths(ghost: &str) -> Vec<Case> {
    path_cases(vec![
        // Percent escapes are decoded before routing: these are the plain paths.
        (
            "GET",
            "escaped slash (unknown uuid)".into(),
            format!("totp%2F{ghost}"),
            not_found(),
        ),
        (
            "GET",
            "escaped letters (unknown uuid)".into(),
            format!("%74otp/{ghost}"),
            not_found(),
        ),
        (
            "GET",
            "escaped slash before code (unknown uuid)".into(),
            format!("totp/{ghost}%2Fcode"),
            not_found(),
        ),
        (
            "GET",
            "unknown uuid".into(),
            format!("totp/{ghost}"),
            not_found(),
        ),
        (
            "GET",
            "unknown uuid, code".into(),
            format!("totp/{ghost}/code"),
            not_found(),
        ),
        (
            "GET",
            "literal {uuid}".into(),
            "totp/%7Buuid%7D".into(),
            invalid(&[BAD_UUID]),
        ),
    ])
}

/// Paths the plugin does not serve: case variants, tidy/ and below, unknown names, the root.
fn tidy_and_unknown_paths() -> Vec<Case> {
    path_cases(vec![
        (
            "GET",
            "upper-case TOTP".into(),
            "TOTP".into(),
            unsupported_path(),
        ),
        (
            "POST",
            "upper-case TIDY".into(),
            "TIDY".into(),
            unsupported_path(),
        ),
        (
            "POST",
            "tidy with a trailing slash".into(),
            "tidy/".into(),
            vault(400, "cannot write to a path ending in '/'"),
        ),
        (
            "POST",
            "below tidy".into(),
            "tidy/x".into(),
            unsupported_path(),
        ),
        ("GET", "unknown path".into(), "x".into(), unsupported_path()),
        (
            "GET",
            "mount root".into(),
            String::new(),
            unsupported_path(),
        ),
        (
            "POST",
            "unknown nested path".into(),
            "totpx/redeem".into(),
            unsupported_path(),
        ),
    ])
}

/// Control characters, raw spaces and bad escapes in the path: a bare 400 before routing.
fn control_character_paths(live: &str) -> Vec<Case> {
    path_cases(vec![
        (
            "GET",
            "escaped NUL".into(),
            "totp/%00".into(),
            Want::Text(400, ""),
        ),
        (
            "GET",
            "escaped control character".into(),
            "totp/%01".into(),
            Want::Text(400, ""),
        ),
        (
            "DELETE",
            "escaped newline after the live uuid".into(),
            format!("totp/{live}%0a"),
            Want::Text(400, ""),
        ),
        (
            "GET",
            "raw space".into(),
            "totp/a b".into(),
            Want::Text(400, "400 Bad Request"),
        ),
        (
            "GET",
            "raw tab".into(),
            "totp/\t".into(),
            Want::Text(400, "400 Bad Request"),
        ),
        (
            "GET",
            "bad percent escape".into(),
            "totp/%ZZ".into(),
            Want::Text(400, "400 Bad Request"),
        ),
    ])
}

/// Invalid UTF-8 in the path, escaped or raw: a string gRPC cannot carry to the plugin.
fn invalid_utf8_paths(live: &str) -> Vec<Case> {
    let mut cases = path_cases(vec![
        // Invalid UTF-8 in the path: OpenBao cannot hand it to the plugin
        // (gRPC strings must be UTF-8) and answers 500 itself.
        (
            "GET",
            "escaped invalid UTF-8".into(),
            "totp/%ff".into(),
            vault(
                500,
                "rpc error: code = Internal desc = grpc: error while marshaling: string field contains invalid UTF-8",
            ),
        ),
        (
            "DELETE",
            "escaped invalid UTF-8 after the live uuid".into(),
            format!("totp/{live}%C0"),
            vault(
                500,
                "rpc error: code = Internal desc = grpc: error while marshaling: string field contains invalid UTF-8",
            ),
        ),
    ]);
    let g = PATH;
    cases.push(case(g, "raw invalid UTF-8 byte", "GET", b"auth/ratls/totp/\xff".to_vec(),
        vault(500, "rpc error: code = Internal desc = grpc: error while marshaling: string field contains invalid UTF-8")));
    cases
}

/// Requests with no token or a bogus one: each must be denied.
fn unauthenticated_requests(live: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let g = "token";
    for (label, method, target, token) in [
        (
            "no token, read the live entry",
            "GET",
            format!("totp/{live}"),
            Token::None,
        ),
        (
            "no token, delete the live entry",
            "DELETE",
            format!("totp/{live}"),
            Token::None,
        ),
        ("no token, tidy", "POST", "tidy".to_owned(), Token::None),
        (
            "bogus token, list",
            "LIST",
            "totp/".to_owned(),
            Token::Bogus,
        ),
        (
            "bogus token, redeem",
            "POST",
            "totp/redeem".to_owned(),
            Token::Bogus,
        ),
    ] {
        let mut c = case(
            g,
            label,
            method,
            format!("auth/ratls/{target}"),
            vault(403, "permission denied"),
        );
        c.token = token;
        if method == "POST" {
            c = with_body(c, json!({"uuid": live, "policy": LIVE_POLICY}).to_string());
        }
        cases.push(c);
    }
    cases
}

/// Every method on the accessor paths and on lookup (deletes name a ghost
/// accessor, so the live entry stays).
fn accessor_paths(live: &str, ghost: &str, live_data: &Value) -> Vec<Case> {
    let _ = live;
    let accessor = live_data["accessor"].as_str().expect("accessor");
    let g = "accessor path";
    let mut cases = Vec::new();
    let paths: [(&str, String); 3] = [
        ("totp/accessor/<a>", format!("totp/accessor/{accessor}")),
        (
            "totp/accessor/<a>/code",
            format!("totp/accessor/{accessor}/code"),
        ),
        ("totp/lookup", "totp/lookup".into()),
    ];
    for (name, path) in &paths {
        for method in ["GET", "PUT", "POST", "DELETE", "LIST", "PATCH", "HEAD"] {
            let want = match (*name, method) {
                (_, "HEAD") => Want::Text(405, ""),
                (_, "PATCH") => vault(400, "mime: no media type"),
                ("totp/accessor/<a>", "GET") => Want::Ok(live_data.clone(), Value::Null),
                ("totp/accessor/<a>", "DELETE") => deleted(),
                ("totp/accessor/<a>/code", "GET") => Want::OkCheck(check_code),
                ("totp/lookup", "PUT" | "POST") => invalid(&[missing("uuid", MISSING_STR)]),
                _ => unsupported_operation(),
            };
            let target = if *name == "totp/accessor/<a>" && method == "DELETE" {
                format!("auth/ratls/totp/accessor/{ghost}")
            } else {
                format!("auth/ratls/{path}")
            };
            cases.push(case(g, format!("{method} {name}"), method, target, want));
        }
    }
    let bad = invalid(&[BAD_ACCESSOR]);
    for (label, target) in [
        ("not a uuid", "totp/accessor/not-an-accessor".to_owned()),
        (
            "upper case",
            format!("totp/accessor/{}", accessor.to_uppercase()),
        ),
        (
            "no hyphens",
            format!("totp/accessor/{}", accessor.replace('-', "")),
        ),
        ("braces", format!("totp/accessor/%7B{accessor}%7D")),
        ("code of a non-uuid", "totp/accessor/x/code".to_owned()),
    ] {
        cases.push(case(
            g,
            label,
            "GET",
            format!("auth/ratls/{target}"),
            bad.clone(),
        ));
    }
    cases.push(case(
        g,
        "delete a non-uuid accessor",
        "DELETE",
        "auth/ratls/totp/accessor/x",
        bad,
    ));
    cases
}

/// Lookup bodies: the uuid in the body, every wrong shape of it.
fn lookup_bodies(live: &str, ghost: &str, live_data: &Value) -> Vec<Case> {
    let g = "lookup body";
    let mut cases = Vec::new();
    for (label, body, want) in [
        (
            "the live uuid",
            json!({"uuid": live}),
            Want::Ok(live_data.clone(), Value::Null),
        ),
        ("a ghost uuid", json!({"uuid": ghost}), not_found()),
        (
            "empty uuid",
            json!({"uuid": ""}),
            invalid(&[missing("uuid", MISSING_STR)]),
        ),
        (
            "uuid a number",
            json!({"uuid": 7}),
            invalid(&[wrong("uuid", NOT_STR)]),
        ),
        (
            "uuid null",
            json!({"uuid": null}),
            invalid(&[wrong("uuid", NOT_STR)]),
        ),
        (
            "uuid a list",
            json!({"uuid": [live]}),
            invalid(&[wrong("uuid", NOT_STR)]),
        ),
        (
            "uuid upper case",
            json!({"uuid": live.to_uppercase()}),
            invalid(&[BAD_UUID]),
        ),
        (
            "uuid without hyphens",
            json!({"uuid": live.replace('-', "")}),
            invalid(&[BAD_UUID]),
        ),
        (
            "extra field",
            json!({"uuid": live, "policy": "x"}),
            Want::Ok(
                live_data.clone(),
                json!(["Endpoint ignored these unrecognized parameters: [policy]"]),
            ),
        ),
    ] {
        cases.push(body_case(g, label, "totp/lookup", body.to_string(), want));
    }
    cases
}

/// A uuid where an accessor belongs and the reverse: found nowhere, and
/// deletes remove nothing.
fn names_in_each_others_place(
    live: &str,
    ghost: &str,
    live_data: &Value,
    wrong_code: &str,
) -> Vec<Case> {
    let accessor = live_data["accessor"].as_str().expect("accessor");
    let g = "uuid for accessor";
    let mut cases = vec![
        case(
            g,
            "read: uuid as accessor",
            "GET",
            format!("auth/ratls/totp/accessor/{live}"),
            accessor_not_found(),
        ),
        case(
            g,
            "code: uuid as accessor",
            "GET",
            format!("auth/ratls/totp/accessor/{live}/code"),
            accessor_not_found(),
        ),
        case(
            g,
            "delete: uuid as accessor",
            "DELETE",
            format!("auth/ratls/totp/accessor/{live}"),
            deleted(),
        ),
        case(
            g,
            "read: accessor as uuid",
            "GET",
            format!("auth/ratls/totp/{accessor}"),
            not_found(),
        ),
        case(
            g,
            "code: accessor as uuid",
            "GET",
            format!("auth/ratls/totp/{accessor}/code"),
            not_found(),
        ),
        case(
            g,
            "delete: accessor as uuid",
            "DELETE",
            format!("auth/ratls/totp/{accessor}"),
            deleted(),
        ),
    ];
    for (label, target, body, want) in [
        (
            "lookup: accessor as uuid",
            "totp/lookup",
            json!({"uuid": accessor}),
            not_found(),
        ),
        (
            "redeem: accessor as uuid",
            "totp/redeem",
            json!({"uuid": accessor, "policy": LIVE_POLICY}),
            valid(false),
        ),
        (
            "verify: uuid as accessor",
            "totp/verify",
            json!({"policy": LIVE_POLICY, "code": wrong_code, "accessor": live}),
            valid(false),
        ),
        (
            "verify: a ghost accessor",
            "totp/verify",
            json!({"policy": LIVE_POLICY, "code": wrong_code, "accessor": ghost}),
            valid(false),
        ),
        (
            "verify: a wrong code for the right accessor",
            "totp/verify",
            json!({"policy": LIVE_POLICY, "code": wrong_code, "accessor": accessor}),
            valid(false),
        ),
        (
            "verify: accessor not a uuid",
            "totp/verify",
            json!({"policy": LIVE_POLICY, "code": wrong_code, "accessor": "x"}),
            invalid(&[BAD_ACCESSOR]),
        ),
        (
            "verify: accessor a number",
            "totp/verify",
            json!({"policy": LIVE_POLICY, "code": wrong_code, "accessor": 1}),
            invalid(&[wrong("accessor", NOT_STR)]),
        ),
    ] {
        cases.push(body_case(g, label, target, body.to_string(), want));
    }
    cases
}

/// Compares one answer with what it must be; `Err` says how it differs.
fn check(resp: &RawResp, want: &Want) -> Result<(), String> {
    let json_body = || -> Result<Value, String> {
        serde_json::from_slice(&resp.body)
            .map_err(|e| format!("body is not JSON ({e}): {:?}", resp.text()))
    };
    let status = |s: u16| -> Result<(), String> {
        if resp.status == s {
            Ok(())
        } else {
            Err(format!(
                "status {} (want {s}): {}",
                resp.status,
                resp.text()
            ))
        }
    };
    match want {
        Want::Plugin(body) => {
            status(u16::try_from(body["statusCode"].as_u64().unwrap_or(0)).unwrap_or(0))?;
            if resp.header("content-type") != Some("application/json") {
                return Err(format!("content type {:?}", resp.header("content-type")));
            }
            let got = json_body()?;
            if &got != body {
                return Err(format!("body {got}"));
            }
        }
        Want::Vault(s, body) => {
            status(*s)?;
            let got = json_body()?;
            if &got != body {
                return Err(format!("body {got}"));
            }
        }
        Want::Text(s, text) => {
            status(*s)?;
            if resp.text() != *text {
                return Err(format!("body {:?}", resp.text()));
            }
        }
        Want::Redirect(to) => {
            status(307)?;
            let location = format!("/v1/{to}");
            if resp.header("location") != Some(location.as_str()) {
                return Err(format!("location {:?}", resp.header("location")));
            }
        }
        Want::Ok(data, warnings) => {
            status(200)?;
            let got = json_body()?;
            expect::envelope(&got, "ok");
            if &got["data"] != data || &got["warnings"] != warnings {
                return Err(format!("data {} warnings {}", got["data"], got["warnings"]));
            }
        }
        Want::OkCheck(f) => {
            status(200)?;
            let got = json_body()?;
            expect::envelope(&got, "ok");
            f(&got["data"])?;
        }
    }
    Ok(())
}

fn kind(want: &Want) -> &'static str {
    match want {
        Want::Plugin(_) => "plugin error",
        Want::Vault(..) => "Vault error",
        Want::Text(..) => "Go HTTP text",
        Want::Redirect(_) => "307 redirect",
        Want::Ok(..) | Want::OkCheck(_) => "200 answer",
    }
}

/// A well-formed code that is none of the live entry's current codes.
fn wrong_code(live: &str) -> String {
    let id = EntryId::parse(live).expect("canonical uuid");
    let t = now();
    // Codes of every step a verify may look at, with margin for slow runs.
    let near: Vec<String> = (-3..=3)
        .map(|k| current_code(&id, t + k * 30).code)
        .collect();
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| !near.contains(c))
        .expect("some code is wrong")
}

#[test]
fn hostile_inputs_answer_exactly_and_change_nothing() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&[MOUNT]);
    // A live entry, so that storage is not empty and the paths have a target.
    let expiration = now() + 1800;
    let before = now();
    let resp = bao.put(
        "auth/ratls/totp",
        &json!({"policy": LIVE_POLICY, "expiration": expiration}),
    );
    let created = expect::created(&resp, LIVE_POLICY, expiration, before, None);
    let live = created["uuid"].as_str().expect("uuid").to_owned();
    expect::storage_holds(&bao, MOUNT, &[&created]);
    // Well-formed wrong codes are guesses, which verify counts (and would
    // lock out after five): allow the corpus's, and leave the counts out of
    // the comparison (the throttle tests check them).
    let config = bao.put("auth/ratls/config", &json!({"max_failures": 1000}));
    assert_eq!(config.status, 200, "{config:?}");
    let without_counts = |mut stored: BTreeMap<String, String>| {
        stored.retain(|key, _| !key.starts_with("attempts/"));
        stored
    };
    let snapshot: BTreeMap<String, String> = without_counts(bao.snapshot(MOUNT));
    let layout = expect::Layout::of(&bao, MOUNT);
    let mut expected = vec![
        "meta/key".to_owned(),
        "meta/layout".to_owned(),
        "meta/throttle".to_owned(),
    ];
    expected.extend(layout.names().new_entry_keys(LIVE_POLICY, &live));
    expected.sort();
    assert_eq!(
        snapshot.keys().cloned().collect::<Vec<_>>(),
        expected,
        "mount key, layout record, limits, the entry and its index key: {snapshot:?}"
    );
    let ghost = uuid::Uuid::new_v4().to_string();
    let live_data = expect::public_form(&created);

    let cases = corpus(&live, &ghost, &live_data, &wrong_code(&live));
    let mut failures = Vec::new();
    let mut table = String::new();
    let mut by_group: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_kind: BTreeMap<(&str, u16), usize> = BTreeMap::new();
    let started = std::time::Instant::now();
    for (i, case) in cases.iter().enumerate() {
        let token = match case.token {
            Token::Root => Some(bao.root_token.as_str()),
            Token::None => None,
            Token::Bogus => Some("s.bogus-token"),
        };
        let req = RawReq {
            method: case.method,
            target: &case.target,
            token,
            content_type: case.content_type,
            body: case.body.as_deref(),
        };
        let resp = send(&bao.addr, &req);
        let shown_target: String = String::from_utf8_lossy(&case.target)
            .chars()
            .take(60)
            .collect();
        let body_len = case.body.as_ref().map_or(0, Vec::len);
        let _ = writeln!(
            table,
            "{:>3} {:<14} {:<7} {:<62} body {:>8} B -> {} {:<12} {}",
            i + 1,
            case.group,
            case.method,
            shown_target,
            body_len,
            resp.status,
            kind(&case.want),
            case.label
        );
        *by_group.entry(case.group).or_default() += 1;
        *by_kind.entry((kind(&case.want), resp.status)).or_default() += 1;
        if let Err(why) = check(&resp, &case.want) {
            failures.push(format!(
                "#{} {} ({} {}): {why}",
                i + 1,
                case.label,
                case.method,
                shown_target
            ));
        }
        let now_stored = without_counts(bao.snapshot(MOUNT));
        if now_stored != snapshot {
            failures.push(format!(
                "#{} {}: STORAGE CHANGED: {now_stored:?}",
                i + 1,
                case.label
            ));
            break;
        }
    }
    eprintln!("---- hostile input corpus ----\n{table}");
    eprintln!("by group: {by_group:?}");
    eprintln!("by answer (kind, status): {by_kind:?}");
    eprintln!(
        "hostile inputs tried: {} in {:.1?}; storage snapshot ({} keys) unchanged after each",
        cases.len(),
        started.elapsed(),
        snapshot.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(
        cases.len(),
        CORPUS_SIZE,
        "the corpus is {CORPUS_SIZE} inputs"
    );
    // The live entry is still there and still readable.
    let resp = bao.get(&format!("auth/ratls/totp/{live}"));
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.json()["data"], live_data);
}
