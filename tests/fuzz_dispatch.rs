//! Property-based fuzzing of the single request entry point: arbitrary
//! `pb.Request`s (operations real and junk, paths from a grammar of plausible
//! and junk segments, `data` as arbitrary JSON and arbitrary text) go through
//! `Request::from_proto` and `dispatch` on a `RatlsBackend` over `MemStorage`
//! seeded in storage layout v3 with a live entry made by this version, and an
//! expired and a replay-protected entry migrated from v0.2.x (with their
//! accessor records).
//!
//! Checked for every case: no panic; decoding fails only as `InvalidRequest`;
//! results are `Ok` or a protocol error (never `Internal` with healthy
//! storage); every raw answer is the documented `{statusCode, message,
//! errors}` body with `statusCode` equal to the HTTP status; a refused
//! request writes nothing; storage changes only as the operation allows
//! (a create adds exactly its entry, under the accessor its uuid derives,
//! and its index key, a delete or redeem
//! removes only its entry's keys, a verify writes only a replay record, a
//! tidy removes only the expired entry); answers stay bounded in size.
//!
//! `make test` runs a short pass (`FUZZ_DEFAULT_CASES`); `make fuzz` runs
//! `PROPTEST_CASES` (200,000 by default) in release mode, printing the rate.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use serde_json::{Map, Value, json};
use vault_plugin_auth_ratls::backend::{INFO, RatlsBackend};
use vault_plugin_auth_ratls::domain::EntryId;
use vault_plugin_auth_ratls::domain::code::{PERIOD, current_code};
use vault_plugin_auth_ratls::pb::backend as pb;
use vault_plugin_auth_ratls::protocol::server::dispatch;
use vault_plugin_auth_ratls::protocol::{
    Error, Operation, Request, Response, Router, Storage as _,
};
use vault_plugin_auth_ratls::testing::{self, MAX_LEASE_TTL, MemStorage, NOW, StaticSystemView};

mod oracle;

/// The fixture's max lease TTL in seconds.
const MAX_TTL: i64 = MAX_LEASE_TTL.as_secs() as i64;

/// Cases per property in `make test` (debug build) when `PROPTEST_CASES` is unset.
const FUZZ_DEFAULT_CASES: u32 = 1_500;
/// A live entry of policy `fuzz-live`, made by this version, and its
/// accessor (derived from the uuid with [`KEY`]; `seeded` checks it).
const LIVE: &str = "5c0f9684-9291-40a3-92b9-73456a93357c";
const LIVE_ACCESSOR: &str = "5923ec4e-02ca-47a6-ab7f-60eb2038ff27";
const LIVE_POLICY: &str = "fuzz-live";
/// An entry migrated from v0.2.x that expired 5 s before `NOW` (tidy
/// removes it).
const EXPIRED: &str = "0e9b3f4c-3f1e-4f7a-8d2b-6a1c9e2f4b10";
const EXPIRED_ACCESSOR: &str = "2b4d6f8a-1c3e-4a5b-9d7f-0e2c4a6b8d1f";
const EXPIRED_POLICY: &str = "fuzz-old";
/// A live entry migrated from v0.2.x whose current step was already
/// accepted by verify.
const USED: &str = "f47ac10b-58cc-4372-a567-0e02b2c3d479";
const USED_ACCESSOR: &str = "7e9f1a3b-5c7d-4e9f-a1b3-c5d7e9f1a3b5";
const USED_POLICY: &str = "fuzz-used";
/// The seeded mount key.
const KEY: [u8; 32] = [9; 32];
/// No answer may exceed this plus twice the request's size.
const ANSWER_BOUND: usize = 128 * 1024;

fn live_code() -> String {
    current_code(&EntryId::parse(LIVE).unwrap(), NOW).code
}

fn used_code() -> String {
    current_code(&EntryId::parse(USED).unwrap(), NOW).code
}

fn names() -> oracle::Names {
    oracle::Names::new(KEY)
}

/// Storage keys of the entry with uuid `id` in layout v3 (replay record
/// included), given its accessor and policy, in storage order: the
/// accessor record (only for an accessor not derived from the uuid: an
/// entry migrated from v0.2.x), the entry, its index key, its replay record.
fn entry_keys(id: &str, accessor: &str, policy: &str) -> Vec<String> {
    let names = names();
    let mut keys = Vec::new();
    if accessor != names.accessor(id) {
        keys.push(names.accessor_of_key(id));
    }
    keys.extend([
        oracle::entry_key(accessor),
        names.index_key(policy, id),
        names.last_step_key(id),
    ]);
    keys
}

/// The seeded storage in layout v3: the mount key and layout record, three
/// entries with their index keys (and, for the two migrated ones, accessor
/// records), and a replay record for `USED` at the current step.
fn seeded() -> BTreeMap<String, Vec<u8>> {
    assert_eq!(names().accessor(LIVE), LIVE_ACCESSOR);
    let mut keys = BTreeMap::new();
    let key = base64::engine::general_purpose::STANDARD.encode(KEY);
    keys.insert(
        "meta/key".into(),
        json!({"key": key}).to_string().into_bytes(),
    );
    keys.insert("meta/layout".into(), oracle::LAYOUT_V3.as_bytes().to_vec());
    for (id, accessor, policy, expiration) in [
        (LIVE, LIVE_ACCESSOR, LIVE_POLICY, NOW + 600),
        (EXPIRED, EXPIRED_ACCESSOR, EXPIRED_POLICY, NOW - 5),
        (USED, USED_ACCESSOR, USED_POLICY, NOW + 600),
    ] {
        let entry = json!({"uuid": id, "accessor": accessor, "created": NOW - 60, "expiration": expiration, "policy": policy});
        keys.insert(oracle::entry_key(accessor), entry.to_string().into_bytes());
        keys.insert(names().index_key(policy, id), Vec::new());
        if accessor != LIVE_ACCESSOR {
            keys.insert(
                names().accessor_of_key(id),
                json!({"accessor": accessor}).to_string().into_bytes(),
            );
        }
    }
    let step = u64::try_from(NOW).unwrap() / PERIOD;
    keys.insert(
        names().last_step_key(USED),
        json!({"last_step": step}).to_string().into_bytes(),
    );
    keys
}

/// One mount over fresh seeded storage.
struct World {
    storage: Arc<MemStorage>,
    backend: RatlsBackend,
}

impl World {
    async fn new() -> Self {
        let storage = Arc::new(MemStorage::new());
        for (key, value) in seeded() {
            storage.put(&key, value).await.unwrap();
        }
        let (backend, _clock) = testing::backend(storage.clone(), StaticSystemView::writable());
        Self { storage, backend }
    }

    /// Every key and value (with no failure injected).
    async fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let mut all = BTreeMap::new();
        for key in self.storage.keys() {
            let value = self.storage.get(&key).await.unwrap().unwrap();
            all.insert(key, value);
        }
        all
    }
}

/// What one case did, for the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    DecodeRefused,
    UnsupportedPath,
    UnsupportedOperation,
    InvalidRequest,
    ForwardToActive,
    Raw(u16),
    Ok(&'static str),
    NoResponse,
}

/// The keys in `keys` of the entry whose uuid is `id`, if it is stored:
/// at the accessor its uuid derives, or at the one its accessor record
/// names.
fn uuid_keys(id: &str, keys: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    if EntryId::parse(id).is_err() {
        return Vec::new();
    }
    let names = names();
    let accessor = match keys.get(&names.accessor_of_key(id)) {
        None => names.accessor(id),
        Some(record) => match serde_json::from_slice::<Value>(record) {
            Ok(record) => record["accessor"].as_str().unwrap_or_default().to_owned(),
            Err(_) => return Vec::new(),
        },
    };
    let Some(entry) = keys
        .get(&oracle::entry_key(&accessor))
        .and_then(|v| serde_json::from_slice::<Value>(v).ok())
        .filter(|entry| entry["uuid"] == id)
    else {
        return Vec::new();
    };
    let policy = entry["policy"].as_str().unwrap_or_default();
    entry_keys(id, &accessor, policy)
        .into_iter()
        .filter(|k| keys.contains_key(k))
        .collect()
}

/// The uuid of the stored entry with this accessor.
fn uuid_of_accessor(accessor: &str, keys: &BTreeMap<String, Vec<u8>>) -> Option<String> {
    keys.get(&oracle::entry_key(accessor))
        .and_then(|v| serde_json::from_slice::<Value>(v).ok())
        .and_then(|e| e["uuid"].as_str().map(str::to_owned))
}

/// Whether `answer` shows a seeded uuid, in any of its forms, that the
/// request (`input`) did not itself carry (answers echo policy names).
fn shows_a_seeded_uuid(answer: &str, input: &str) -> bool {
    [LIVE, EXPIRED, USED]
        .iter()
        .flat_map(|id| [id.to_string(), id.replace('-', "")])
        .any(|form| answer.contains(&form) && !input.contains(&form))
}

fn fail<T>(message: String) -> Result<T, TestCaseError> {
    Err(TestCaseError::fail(message))
}

/// Checks a raw answer's shape; returns its status.
fn check_raw(response: &Response, healthy: bool) -> Result<u16, String> {
    let status = response.raw_status().ok_or("no status")?;
    let mut keys: Vec<&String> = response.data.keys().collect();
    keys.sort();
    if keys != ["http_content_type", "http_raw_body", "http_status_code"] {
        return Err(format!("raw answer keys {keys:?}"));
    }
    if response.data["http_content_type"] != "application/json" {
        return Err("raw answer content type".into());
    }
    if !response.warnings.is_empty() {
        return Err(format!("raw answer with warnings {:?}", response.warnings));
    }
    let body = response.raw_body().ok_or("raw body is not base64 JSON")?;
    let object = body.as_object().ok_or("raw body is not an object")?;
    if object
        .keys()
        .any(|k| !["statusCode", "message", "errors"].contains(&k.as_str()))
    {
        return Err(format!("raw body keys: {body}"));
    }
    if body["statusCode"].as_u64() != Some(u64::from(status)) {
        return Err(format!(
            "statusCode {} != status {status}",
            body["statusCode"]
        ));
    }
    let message = body["message"].as_str().ok_or("no message")?;
    if message.is_empty() {
        return Err("empty message".into());
    }
    // `errors`: the fields at fault, or Vault's list holding the message.
    let field_errors = match object.get("errors") {
        Some(Value::Object(errors)) => {
            if errors.is_empty() || errors.values().any(|v| !v.is_string()) {
                return Err(format!("errors: {body}"));
            }
            for field in errors.keys() {
                if !message.contains(&format!("'{field}'")) {
                    return Err(format!("message does not name {field}: {body}"));
                }
            }
            true
        }
        Some(list) if *list == json!([message]) => false,
        _ => return Err(format!("errors is neither fields nor [message]: {body}")),
    };
    match status {
        400 if message.starts_with("Invalid request") => Ok(status),
        404 if message.starts_with("No TOTP entry") && !field_errors => Ok(status),
        500 if !healthy && !field_errors => Ok(status),
        429 if message.starts_with("Too many failed verifications") && !field_errors => Ok(status),
        _ => Err(format!("unexpected raw answer {status}: {body}")),
    }
}

/// Runs one wire request through decode and dispatch and checks every
/// invariant. `fail_with` injects a storage failure.
async fn check_case(
    router: &Router<RatlsBackend>,
    proto: pb::Request,
    fail_with: Option<&str>,
) -> Result<Outcome, TestCaseError> {
    let healthy = fail_with.is_none();
    let input_size = proto.path.len() + proto.data.len() + proto.operation.len();
    let data_text = proto.data.clone();
    let request = match Request::from_proto(proto) {
        Ok(request) => request,
        Err(Error::InvalidRequest) => {
            // Only what is not a JSON object (or null/empty) may be refused.
            let trimmed = data_text.trim();
            if let Ok(Value::Object(_)) = serde_json::from_str::<Value>(trimmed) {
                return fail(format!("a JSON object was refused: {data_text:.200}"));
            }
            return Ok(Outcome::DecodeRefused);
        }
        Err(other) => return fail(format!("decoding failed with {other:?}")),
    };
    let world = World::new().await;
    let before = world.snapshot().await;
    world.storage.fail_with(fail_with);
    // The operation id of the row and operation that serve the request.
    let route = router
        .route(&request.path)
        .map(|(spec, _)| spec.operation(request.operation).map(|o| o.id));
    let (operation, path, data) = (
        request.operation,
        request.path.clone(),
        request.data.clone(),
    );

    let result = dispatch(&world.backend, router, request).await;
    world.storage.fail_with(None);
    let after = world.snapshot().await;
    let unchanged = |what: &str| -> Result<(), TestCaseError> {
        if before != after {
            let added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
            let removed: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
            return Err(TestCaseError::fail(format!(
                "{what} changed storage: added {added:?}, removed {removed:?}"
            )));
        }
        Ok(())
    };
    if !healthy {
        unchanged("a request on failing storage")?;
    }

    let response = match result {
        Err(Error::UnsupportedPath) => {
            unchanged("an unsupported path")?;
            return Ok(Outcome::UnsupportedPath);
        }
        Err(Error::UnsupportedOperation) => {
            unchanged("an unsupported operation")?;
            return Ok(Outcome::UnsupportedOperation);
        }
        Err(Error::InvalidRequest) => {
            unchanged("an invalid request")?;
            return Ok(Outcome::InvalidRequest);
        }
        Err(Error::Internal(message)) => {
            // Only a refused write on a node that must forward it.
            if fail_with.is_some_and(|f| f.contains("readonly")) && message.contains("readonly") {
                return Ok(Outcome::ForwardToActive);
            }
            return fail(format!("internal error: {message}"));
        }
        Ok(None) => {
            if operation != Operation::Rollback {
                return fail(format!("no response to {operation:?}"));
            }
            if healthy {
                check_transition("rollback", &before, &after, &[])?;
            }
            return Ok(Outcome::NoResponse);
        }
        Ok(Some(response)) => response,
    };

    // Bounded answers, whatever came in.
    let wire = response.clone().into_proto();
    let size = wire.data.len() + wire.warnings.iter().map(String::len).sum::<usize>();
    if size > ANSWER_BOUND + 2 * input_size {
        return fail(format!("answer of {size} bytes for {input_size} bytes in"));
    }
    match serde_json::from_str::<Value>(&wire.data) {
        Ok(Value::Object(_)) => {}
        _ => return fail("wire data is not a JSON object".into()),
    }
    // No answer shows a stored entry's uuid (a create shows only its own;
    // help echoes the path the caller sent).
    let shown = format!("{}{:?}", wire.data, response.raw_body());
    let input = format!("{path} {data_text}");
    if operation != Operation::Help && shows_a_seeded_uuid(&shown, &input) {
        return fail(format!("an answer shows a uuid: {shown:.300}"));
    }

    if response.raw_status().is_some() {
        let status = check_raw(&response, healthy).map_err(TestCaseError::fail)?;
        unchanged("a refused request")?;
        return Ok(Outcome::Raw(status));
    }
    if operation == Operation::Help {
        if !response.data.contains_key("help") || !response.data.contains_key("openapi") {
            return fail("help without help".into());
        }
        unchanged("help")?;
        return Ok(Outcome::Ok("help"));
    }
    let Some(operation_id) = route else {
        return fail(format!("an answer for unrouted {path:?}"));
    };
    let answer = Value::Object(response.data.clone());
    let label = match operation_id.unwrap_or_default() {
        "ratls-create-totp" => {
            let id = answer["uuid"]
                .as_str()
                .ok_or("no uuid")
                .map_err(TestCaseError::fail)?;
            let accessor = answer["accessor"].as_str().unwrap_or_default();
            let policy = answer["policy"].as_str().unwrap_or_default();
            let added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
            if accessor != names().accessor(id) {
                return fail(format!("create answered accessor {accessor} for {id}"));
            }
            let mut expected = entry_keys(id, accessor, policy);
            expected.pop(); // no replay record yet
            if added != expected.iter().collect::<Vec<_>>() || after.len() != before.len() + 2 {
                return fail(format!("create wrote {added:?}, expected {expected:?}"));
            }
            let stored: Value = serde_json::from_slice(&after[&expected[0]]).unwrap();
            let mut shown = answer.clone();
            shown.as_object_mut().unwrap().remove("otpauth_url");
            if stored != shown {
                return fail(format!("stored {stored} but answered {shown}"));
            }
            let expiration = answer["expiration"].as_i64().unwrap_or_default();
            if !(NOW + 1..=NOW + 3600).contains(&expiration) || answer["created"] != NOW {
                return fail(format!("created {answer}"));
            }
            "create"
        }
        "ratls-delete-totp" => {
            let id = path.strip_prefix("totp/").unwrap_or_default();
            let removed = uuid_keys(id, &before);
            check_transition("delete", &before, &after, &removed)?;
            if removed.iter().any(|k| after.contains_key(k)) || !uuid_keys(id, &after).is_empty() {
                return fail(format!("delete left keys of {id}"));
            }
            "delete"
        }
        "ratls-delete-totp-by-accessor" => {
            let accessor = path.strip_prefix("totp/accessor/").unwrap_or_default();
            let removed = uuid_of_accessor(accessor, &before)
                .map(|id| uuid_keys(&id, &before))
                .unwrap_or_default();
            check_transition("delete", &before, &after, &removed)?;
            if removed.iter().any(|k| after.contains_key(k))
                || uuid_of_accessor(accessor, &after).is_some()
            {
                return fail(format!("delete left the entry of {accessor}"));
            }
            "delete by accessor"
        }
        "ratls-read-totp-by-accessor" => {
            unchanged("read by accessor")?;
            "read by accessor"
        }
        "ratls-read-totp-code-by-accessor" => {
            unchanged("code by accessor")?;
            "code by accessor"
        }
        "ratls-lookup-totp" => {
            unchanged("lookup")?;
            "lookup"
        }
        "ratls-read-config"
        | "ratls-list-lockouts"
        | "ratls-read-policy-lockout"
        | "ratls-read-entry-lockout" => {
            unchanged("a read of the limits")?;
            "limits read"
        }
        "ratls-write-config" => {
            let changed: Vec<&String> = after
                .iter()
                .filter(|(k, v)| before.get(*k) != Some(*v))
                .map(|(k, _)| k)
                .collect();
            if changed.iter().any(|k| *k != "meta/throttle") {
                return fail(format!("config wrote {changed:?}"));
            }
            check_transition("config", &before, &after, &[])?;
            "config"
        }
        "ratls-clear-policy-lockout" | "ratls-clear-entry-lockout" => {
            let removed: Vec<String> = before
                .keys()
                .filter(|k| k.starts_with("attempts/"))
                .cloned()
                .collect();
            check_transition("clear", &before, &after, &removed)?;
            "lockout cleared"
        }
        "ratls-redeem-totp" => {
            if answer == json!({"valid": true}) {
                let id = data.get("uuid").and_then(Value::as_str).unwrap_or_default();
                let removed = uuid_keys(id, &before);
                check_transition("redeem", &before, &after, &removed)?;
                if removed.is_empty() || after.len() + removed.len() != before.len() {
                    return fail(format!("redeem removed {removed:?}"));
                }
                "redeem valid"
            } else if answer == json!({"valid": false}) {
                unchanged("a refused redeem")?;
                "redeem invalid"
            } else {
                return fail(format!("redeem answered {answer}"));
            }
        }
        "ratls-verify-totp" => {
            if answer == json!({"valid": true}) {
                let changed: Vec<&String> = after
                    .iter()
                    .filter(|(k, v)| before.get(*k) != Some(*v))
                    .map(|(k, _)| k)
                    .collect();
                if changed.len() != 1
                    || !changed[0].starts_with("last-step/")
                    || after.len() > before.len() + 1
                {
                    return fail(format!("verify wrote {changed:?}"));
                }
                check_transition("verify", &before, &after, &[])?;
                "verify valid"
            } else if answer == json!({"valid": false}) {
                // A wrong code counts a failure against its scope, nothing else.
                let changed: Vec<&String> = after
                    .iter()
                    .filter(|(k, v)| before.get(*k) != Some(*v))
                    .map(|(k, _)| k)
                    .collect();
                if changed.iter().any(|k| !k.starts_with("attempts/"))
                    || changed.len() > 1
                    || after.len() > before.len() + 1
                    || before.keys().any(|k| !after.contains_key(k))
                {
                    return fail(format!("a refused verify wrote {changed:?}"));
                }
                "verify invalid"
            } else {
                return fail(format!("verify answered {answer}"));
            }
        }
        "ratls-tidy" => {
            check_transition("tidy", &before, &after, &[])?;
            "tidy"
        }
        "ratls-list-totp" => {
            unchanged("list")?;
            "list"
        }
        "ratls-read-totp" => {
            unchanged("read")?;
            "read"
        }
        "ratls-read-totp-code" => {
            unchanged("code")?;
            "code"
        }
        other => {
            return fail(format!("an answer for {operation:?} as {other:?}"));
        }
    };
    Ok(Outcome::Ok(label))
}

/// Storage after `what` may only lack keys of `removable` or of the expired
/// entry (tidy, rollback) and may gain nothing but replay records (verify).
fn check_transition(
    what: &str,
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
    removable: &[String],
) -> Result<(), TestCaseError> {
    let expired = uuid_keys(EXPIRED, before);
    for key in before.keys().filter(|k| !after.contains_key(*k)) {
        let tidy_may = matches!(what, "tidy" | "rollback") && expired.contains(key);
        if !removable.contains(key) && !tidy_may {
            return fail(format!("{what} removed {key}"));
        }
    }
    for (key, value) in after {
        match before.get(key) {
            Some(old) if old == value => {}
            _ if what == "verify" && key.starts_with("last-step/") => {}
            _ if what == "config" && key == "meta/throttle" => {}
            _ => return fail(format!("{what} wrote {key}")),
        }
    }
    if matches!(what, "tidy" | "rollback") && after.keys().any(|k| expired.contains(k)) {
        return fail(format!("{what} left the expired entry"));
    }
    Ok(())
}

// ---- generators ----

fn operation() -> BoxedStrategy<String> {
    prop_oneof![
        12 => prop::sample::select(vec![
            "create", "read", "update", "patch", "delete", "list", "help", "rollback", "resolve-path",
        ])
        .prop_map(str::to_owned),
        2 => prop::sample::select(vec![
            "renew", "revoke", "resolve-role", "alias-lookahead", "header", "CREATE", "Read", " read", "", "\u{0}",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
    .boxed()
}

fn uuid_like() -> BoxedStrategy<String> {
    prop_oneof![
        4 => Just(LIVE.to_owned()),
        2 => Just(USED.to_owned()),
        2 => Just(EXPIRED.to_owned()),
        // An accessor where a uuid belongs.
        1 => prop::sample::select(vec![LIVE_ACCESSOR, USED_ACCESSOR, EXPIRED_ACCESSOR]).prop_map(str::to_owned),
        2 => any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string()),
        1 => Just(LIVE.to_uppercase()),
        1 => Just(format!("{{{LIVE}}}")),
        1 => Just(LIVE.replace('-', "")),
        1 => Just(format!("urn:uuid:{LIVE}")),
        1 => "[0-9a-f-]{30,40}",
    ]
    .boxed()
}

fn accessor_like() -> BoxedStrategy<String> {
    prop_oneof![
        4 => prop::sample::select(vec![LIVE_ACCESSOR, USED_ACCESSOR, EXPIRED_ACCESSOR]).prop_map(str::to_owned),
        // A uuid where an accessor belongs, and other near misses.
        3 => uuid_like(),
    ]
    .boxed()
}

fn segment() -> BoxedStrategy<String> {
    prop_oneof![
        6 => prop::sample::select(vec!["totp", "redeem", "verify", "code", "tidy", "accessor", "lookup", "config", "lockouts", "policy", "entry"]).prop_map(str::to_owned),
        3 => uuid_like(),
        1 => prop::sample::select(vec!["", ".", "..", "%2F", "TOTP", "totp ", "*", "+", "(?P<x>)", "\u{0}", "\u{fffd}"]).prop_map(str::to_owned),
        1 => "[a-z0-9-]{0,12}",
        1 => ".{0,12}",
    ]
    .boxed()
}

fn path() -> BoxedStrategy<String> {
    prop_oneof![
        // The real shapes, with the uuid part fuzzed.
        3 => prop::sample::select(vec!["totp", "totp/", "totp/redeem", "totp/verify", "totp/lookup", "totp/accessor", "totp/accessor/", "tidy", ""]).prop_map(str::to_owned),
        3 => uuid_like().prop_map(|u| format!("totp/{u}")),
        2 => uuid_like().prop_map(|u| format!("totp/{u}/code")),
        2 => accessor_like().prop_map(|a| format!("totp/accessor/{a}")),
        1 => accessor_like().prop_map(|a| format!("totp/accessor/{a}/code")),
        // Anything made of plausible and junk segments.
        3 => (prop::collection::vec(segment(), 1..5), any::<bool>())
            .prop_map(|(segments, slash)| format!("{}{}", segments.join("/"), if slash { "/" } else { "" })),
        1 => any::<String>(),
    ]
    .boxed()
}

fn field_name() -> BoxedStrategy<String> {
    prop_oneof![
        8 => prop::sample::select(vec![
            "policy", "expiration", "uuid", "code", "created", "after", "limit", "accessor",
            "max_failures", "window", "lockout", "lockout_growth", "lockout_max",
        ])
        .prop_map(str::to_owned),
        1 => prop::sample::select(vec!["Policy", "policy ", "", "http_status_code", "otpauth_url", "\u{0}"]).prop_map(str::to_owned),
        1 => ".{0,10}",
    ]
    .boxed()
}

fn scalar() -> BoxedStrategy<Value> {
    prop_oneof![
        // Values that pass validation, to reach the handlers' success paths.
        3 => prop::sample::select(vec![LIVE_POLICY, USED_POLICY, EXPIRED_POLICY, "app-writer", "p"]).prop_map(Value::from),
        3 => (1..=MAX_TTL).prop_map(|d| Value::from(NOW + d)),
        2 => (1..=MAX_TTL).prop_map(|d| Value::from((NOW + d).to_string())),
        2 => uuid_like().prop_map(Value::from),
        2 => Just(Value::from(live_code())),
        1 => Just(Value::from(used_code())),
        2 => "[0-9]{6}".prop_map(Value::from),
        // And everything else.
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        2 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        1 => "-?[0-9]{0,25}".prop_map(Value::from),
        1 => "[0-9a-zA-Z .eE+-]{0,12}".prop_map(Value::from),
        2 => any::<String>().prop_map(Value::from),
    ]
    .boxed()
}

fn json_value() -> BoxedStrategy<Value> {
    scalar()
        .prop_recursive(4, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(field_name(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
        .boxed()
}

fn body_object() -> BoxedStrategy<Map<String, Value>> {
    prop::collection::btree_map(field_name(), json_value(), 0..6)
        .prop_map(|m| m.into_iter().collect())
        .boxed()
}

fn data() -> BoxedStrategy<String> {
    prop_oneof![
        20 => body_object().prop_map(|m| Value::Object(m).to_string()),
        1 => prop::sample::select(vec!["", "null", " null ", "{}", "[]", "\"x\"", "1", "true", "{", "}", "{\"a\":}", "\u{feff}{}"]).prop_map(str::to_owned),
        1 => json_value().prop_map(|v| v.to_string()),
        // A body, cut short or with a byte changed.
        1 => (body_object(), any::<prop::sample::Index>(), any::<char>()).prop_map(|(m, at, c)| {
            let text = Value::Object(m).to_string();
            let mut chars: Vec<char> = text.chars().collect();
            let i = at.index(chars.len());
            chars[i] = c;
            chars.into_iter().collect()
        }),
        1 => (body_object(), any::<prop::sample::Index>()).prop_map(|(m, at)| {
            let text = Value::Object(m).to_string();
            let chars: Vec<char> = text.chars().collect();
            chars[..at.index(chars.len())].iter().collect()
        }),
        1 => any::<String>(),
    ]
    .boxed()
}

/// A field that is usually there with a value of about the right kind.
fn field(
    name: &'static str,
    value: BoxedStrategy<Value>,
) -> BoxedStrategy<Option<(String, Value)>> {
    prop_oneof![
        8 => value.prop_map(move |v| Some((name.to_owned(), v))),
        1 => scalar().prop_map(move |v| Some((name.to_owned(), v))),
        1 => Just(None),
    ]
    .boxed()
}

fn policy_value() -> BoxedStrategy<Value> {
    prop_oneof![
        6 => prop::sample::select(vec![LIVE_POLICY, USED_POLICY, EXPIRED_POLICY, "app-writer", "ns/app:w"]).prop_map(Value::from),
        1 => "[!-~]{1,130}".prop_map(Value::from),
        1 => json_value(),
    ]
    .boxed()
}

fn expiration_value() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => (-10..=MAX_TTL + 10).prop_map(|d| Value::from(NOW + d)),
        2 => (-10..=MAX_TTL + 10).prop_map(|d| Value::from((NOW + d).to_string())),
        1 => any::<i64>().prop_map(Value::from),
        1 => json_value(),
    ]
    .boxed()
}

fn code_value() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => Just(Value::from(live_code())),
        1 => Just(Value::from(used_code())),
        2 => "[0-9]{6}".prop_map(Value::from),
        1 => "[0-9]{0,8}".prop_map(Value::from),
        1 => json_value(),
    ]
    .boxed()
}

fn with_fields(fields: Vec<Option<(String, Value)>>, extra: Map<String, Value>) -> String {
    let mut body = extra;
    for (name, value) in fields.into_iter().flatten() {
        body.insert(name, value);
    }
    Value::Object(body).to_string()
}

/// Requests shaped like the real endpoints, with fuzzed fields and a few
/// extra ones, so that the handlers' success paths are reached too.
fn plausible() -> BoxedStrategy<(String, String, String)> {
    type Shape = (String, String, String);
    let extra = || -> BoxedStrategy<Map<String, Value>> {
        prop_oneof![
            4 => Just(Map::new()),
            1 => body_object(),
        ]
        .boxed()
    };
    let uuid_value = || -> BoxedStrategy<Value> {
        prop_oneof![4 => uuid_like().prop_map(Value::from), 1 => json_value()].boxed()
    };
    let limit: BoxedStrategy<Value> = prop_oneof![
        (-2..5i64).prop_map(Value::from),
        "-?[0-9]{1,3}".prop_map(Value::from),
    ]
    .boxed();
    let create: BoxedStrategy<Shape> = (
        field("policy", policy_value()),
        field("expiration", expiration_value()),
        extra(),
    )
        .prop_map(|(p, e, x)| ("create".into(), "totp".into(), with_fields(vec![p, e], x)))
        .boxed();
    let redeem: BoxedStrategy<Shape> = (
        field("uuid", uuid_value()),
        field("policy", policy_value()),
        extra(),
    )
        .prop_map(|(u, p, x)| {
            (
                "update".into(),
                "totp/redeem".into(),
                with_fields(vec![u, p], x),
            )
        })
        .boxed();
    let accessor_value = || -> BoxedStrategy<Value> {
        prop_oneof![4 => accessor_like().prop_map(Value::from), 1 => json_value()].boxed()
    };
    let verify: BoxedStrategy<Shape> = (
        field("policy", policy_value()),
        field("code", code_value()),
        prop_oneof![2 => Just(None), 1 => field("accessor", accessor_value())],
        extra(),
    )
        .prop_map(|(p, c, a, x)| {
            (
                "update".into(),
                "totp/verify".into(),
                with_fields(vec![p, c, a], x),
            )
        })
        .boxed();
    let lookup: BoxedStrategy<Shape> = (field("uuid", uuid_value()), extra())
        .prop_map(|(u, x)| {
            (
                "update".into(),
                "totp/lookup".into(),
                with_fields(vec![u], x),
            )
        })
        .boxed();
    let by_accessor: BoxedStrategy<Shape> = (
        prop::sample::select(vec!["read", "delete", "read-code"]),
        accessor_like(),
        extra(),
    )
        .prop_map(|(op, a, x)| match op {
            "read-code" => (
                "read".to_owned(),
                format!("totp/accessor/{a}/code"),
                with_fields(vec![], x),
            ),
            op => (
                op.to_owned(),
                format!("totp/accessor/{a}"),
                with_fields(vec![], x),
            ),
        })
        .boxed();
    let entry: BoxedStrategy<Shape> = (
        prop::sample::select(vec!["read", "delete"]),
        uuid_like(),
        extra(),
    )
        .prop_map(|(op, u, x)| (op.to_owned(), format!("totp/{u}"), with_fields(vec![], x)))
        .boxed();
    let code: BoxedStrategy<Shape> = (uuid_like(), extra())
        .prop_map(|(u, x)| {
            (
                "read".into(),
                format!("totp/{u}/code"),
                with_fields(vec![], x),
            )
        })
        .boxed();
    let list: BoxedStrategy<Shape> = (field("after", uuid_value()), field("limit", limit), extra())
        .prop_map(|(a, l, x)| ("list".into(), "totp/".into(), with_fields(vec![a, l], x)))
        .boxed();
    let tidy: BoxedStrategy<Shape> = extra()
        .prop_map(|x| ("update".into(), "tidy".into(), with_fields(vec![], x)))
        .boxed();
    prop_oneof![
        3 => create,
        2 => redeem,
        2 => verify,
        1 => lookup,
        1 => by_accessor,
        1 => entry,
        1 => code,
        1 => list,
        1 => tidy,
        1 => Just(("rollback".to_owned(), String::new(), String::new())),
    ]
    .boxed()
}

fn storage_failure() -> BoxedStrategy<Option<&'static str>> {
    prop_oneof![
        18 => Just(None),
        1 => Just(Some("barrier is sealed")),
        1 => Just(Some("cannot write to readonly storage")),
    ]
    .boxed()
}

fn wire_request() -> BoxedStrategy<(pb::Request, Option<&'static str>)> {
    let shape = prop_oneof![
        1 => plausible(),
        1 => (operation(), path(), data()).boxed(),
    ];
    (shape, any::<bool>(), storage_failure())
        .prop_map(|((operation, path, data), mounted, failure)| {
            (
                pb::Request {
                    operation,
                    path,
                    data,
                    mount_point: if mounted {
                        "auth/ratls/".into()
                    } else {
                        String::new()
                    },
                    ..Default::default()
                },
                failure,
            )
        })
        .boxed()
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(FUZZ_DEFAULT_CASES)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Debug builds of deeply nested strategies and futures want more than the
/// test threads' default 2 MiB of stack.
fn with_big_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(64 * 1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
}

#[test]
fn fuzz_dispatch_holds_every_invariant() {
    with_big_stack(fuzz_pass);
}

fn fuzz_pass() {
    let cases = cases();
    let router = Router::new(INFO.paths).unwrap();
    let rt = runtime();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    });
    let stats: std::cell::RefCell<BTreeMap<Outcome, u64>> = std::cell::RefCell::default();
    let started = Instant::now();
    let result = runner.run(&wire_request(), |(proto, failure)| {
        let outcome = rt.block_on(check_case(&router, proto, failure))?;
        *stats.borrow_mut().entry(outcome).or_default() += 1;
        Ok(())
    });
    let stats = stats.into_inner();
    let elapsed = started.elapsed();
    if let Err(error) = result {
        match error {
            TestError::Fail(why, (proto, failure)) => panic!(
                "fuzz case failed: {why}\nminimal input: operation={:?} path={:?} data={:?} storage failure={failure:?}",
                proto.operation, proto.path, proto.data
            ),
            TestError::Abort(why) => panic!("fuzzing aborted: {why}"),
        }
    }
    let total: u64 = stats.values().sum();
    let peak = vm_hwm_kib();
    assert!(peak < 512 * 1024, "peak RSS {peak} KiB");
    eprintln!(
        "fuzz_dispatch: {total} cases in {elapsed:.2?} ({:.0} cases/s), peak RSS {} KiB",
        total as f64 / elapsed.as_secs_f64(),
        vm_hwm_kib()
    );
    for (outcome, count) in &stats {
        eprintln!("  {outcome:?}: {count}");
    }
    // The generator reaches the handlers, not just the refusals.
    if cases >= 1_000 {
        let ok = |label: &'static str| stats.get(&Outcome::Ok(label)).copied().unwrap_or(0);
        for label in [
            "create",
            "read",
            "code",
            "list",
            "tidy",
            "redeem invalid",
            "verify invalid",
            "delete",
        ] {
            assert!(
                ok(label) > 0,
                "no successful {label} in {total} cases: {stats:?}"
            );
        }
        assert!(stats.get(&Outcome::Raw(400)).copied().unwrap_or(0) > 0);
        assert!(stats.get(&Outcome::Raw(404)).copied().unwrap_or(0) > 0);
    }
}

/// Explicit regressions and extremes, through the same checks.
#[test]
fn seed_corpus_holds_every_invariant() {
    with_big_stack(seed_pass);
}

fn seed_pass() {
    let router = Router::new(INFO.paths).unwrap();
    let rt = runtime();
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let mib = 1024 * 1024;
    let live_code = live_code();
    let samples: Vec<(&str, String, String, Outcome)> = vec![
        // The source document's samples.
        (
            "create",
            "totp".into(),
            json!({"policy": "app-writer", "expiration": NOW + 3600}).to_string(),
            Outcome::Ok("create"),
        ),
        (
            "create",
            "totp".into(),
            json!({"policy": "app-writer", "expiration": (NOW + 60).to_string()}).to_string(),
            Outcome::Ok("create"),
        ),
        (
            "create",
            "totp".into(),
            json!({"policy": "app-writer", "expiration": NOW + 60, "created": 1, "uuid": LIVE})
                .to_string(),
            Outcome::Ok("create"),
        ),
        (
            "update",
            "totp/redeem".into(),
            json!({"uuid": LIVE, "policy": LIVE_POLICY}).to_string(),
            Outcome::Ok("redeem valid"),
        ),
        (
            "update",
            "totp/redeem".into(),
            json!({"uuid": LIVE, "policy": "app-writer"}).to_string(),
            Outcome::Ok("redeem invalid"),
        ),
        (
            "update",
            "totp/redeem".into(),
            json!({"uuid": EXPIRED, "policy": EXPIRED_POLICY}).to_string(),
            Outcome::Ok("redeem invalid"),
        ),
        (
            "update",
            "totp/verify".into(),
            json!({"policy": LIVE_POLICY, "code": live_code}).to_string(),
            Outcome::Ok("verify valid"),
        ),
        (
            "update",
            "totp/verify".into(),
            json!({"policy": USED_POLICY, "code": used_code()}).to_string(),
            Outcome::Ok("verify invalid"),
        ),
        (
            "update",
            "totp/verify".into(),
            json!({"policy": LIVE_POLICY, "code": 675_308}).to_string(),
            Outcome::Raw(400),
        ),
        (
            "read",
            format!("totp/{LIVE}"),
            String::new(),
            Outcome::Ok("read"),
        ),
        (
            "read",
            format!("totp/{EXPIRED}"),
            String::new(),
            Outcome::Raw(404),
        ),
        (
            "read",
            format!("totp/{LIVE}/code"),
            "null".into(),
            Outcome::Ok("code"),
        ),
        (
            "delete",
            format!("totp/{LIVE}"),
            String::new(),
            Outcome::Ok("delete"),
        ),
        // The migrated entry: found by uuid through its accessor record,
        // and by its own accessor; removed with that record.
        (
            "read",
            format!("totp/{USED}"),
            String::new(),
            Outcome::Ok("read"),
        ),
        (
            "read",
            format!("totp/accessor/{USED_ACCESSOR}"),
            String::new(),
            Outcome::Ok("read by accessor"),
        ),
        (
            "update",
            "totp/lookup".into(),
            json!({"uuid": USED}).to_string(),
            Outcome::Ok("lookup"),
        ),
        (
            "update",
            "totp/redeem".into(),
            json!({"uuid": USED, "policy": USED_POLICY}).to_string(),
            Outcome::Ok("redeem valid"),
        ),
        (
            "delete",
            format!("totp/{USED}"),
            String::new(),
            Outcome::Ok("delete"),
        ),
        (
            "delete",
            format!("totp/accessor/{USED_ACCESSOR}"),
            String::new(),
            Outcome::Ok("delete by accessor"),
        ),
        (
            "delete",
            format!("totp/accessor/{LIVE_ACCESSOR}"),
            String::new(),
            Outcome::Ok("delete by accessor"),
        ),
        ("delete", "totp".into(), String::new(), Outcome::Raw(400)),
        ("delete", "totp/".into(), String::new(), Outcome::Raw(400)),
        (
            "list",
            "totp/".into(),
            json!({"after": "", "limit": "-1"}).to_string(),
            Outcome::Ok("list"),
        ),
        (
            "list",
            "totp/".into(),
            json!({"limit": "1.5"}).to_string(),
            Outcome::Raw(400),
        ),
        ("update", "tidy".into(), "{}".into(), Outcome::Ok("tidy")),
        ("rollback", "".into(), String::new(), Outcome::NoResponse),
        ("help", "".into(), String::new(), Outcome::Ok("help")),
        ("help", "totp".into(), String::new(), Outcome::Ok("help")),
        (
            "help",
            "nowhere".into(),
            String::new(),
            Outcome::UnsupportedPath,
        ),
        (
            "resolve-path",
            "totp".into(),
            String::new(),
            Outcome::UnsupportedOperation,
        ),
        (
            "renew",
            "totp".into(),
            String::new(),
            Outcome::UnsupportedOperation,
        ),
        (
            "",
            "totp".into(),
            String::new(),
            Outcome::UnsupportedOperation,
        ),
        (
            "create",
            "nowhere".into(),
            String::new(),
            Outcome::UnsupportedPath,
        ),
        (
            "patch",
            format!("totp/{LIVE}"),
            "{}".into(),
            Outcome::UnsupportedOperation,
        ),
        // 1 MiB strings everywhere.
        (
            "create",
            "totp".into(),
            json!({"policy": "p".repeat(mib), "expiration": NOW + 60}).to_string(),
            Outcome::Raw(400),
        ),
        (
            "create",
            "totp".into(),
            json!({"policy": "p", "expiration": "9".repeat(mib)}).to_string(),
            Outcome::Raw(400),
        ),
        (
            "update",
            "totp/redeem".into(),
            json!({"uuid": "u".repeat(mib), "policy": "p"}).to_string(),
            Outcome::Raw(400),
        ),
        (
            "update",
            "totp/verify".into(),
            json!({"policy": "p", "code": "1".repeat(mib)}).to_string(),
            Outcome::Raw(400),
        ),
        (
            "create",
            "totp".into(),
            json!({"policy": "a b", "expiration": 0, "k".repeat(mib): 1}).to_string(),
            Outcome::Raw(400),
        ),
        (
            "update",
            "tidy".into(),
            json!({"k".repeat(mib): 1}).to_string(),
            Outcome::Ok("tidy"),
        ),
        (
            "read",
            format!("totp/{}", "x".repeat(mib)),
            String::new(),
            Outcome::Raw(400),
        ),
        (
            "read",
            format!("totp/{}/code", "x".repeat(mib)),
            String::new(),
            Outcome::Raw(400),
        ),
        (
            "read",
            "a/".repeat(mib / 2),
            String::new(),
            Outcome::UnsupportedPath,
        ),
        // Deep nesting: serde_json stops at depth 128, as an invalid request.
        (
            "create",
            "totp".into(),
            deep(10_000),
            Outcome::DecodeRefused,
        ),
        (
            "create",
            "totp".into(),
            format!(r#"{{"policy":{}}}"#, deep(10_000)),
            Outcome::DecodeRefused,
        ),
        (
            "create",
            "totp".into(),
            format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000)),
            Outcome::DecodeRefused,
        ),
        (
            "create",
            "totp".into(),
            "[".repeat(10_000),
            Outcome::DecodeRefused,
        ),
        (
            "create",
            "totp".into(),
            format!(r#"{{"policy":"a b","expiration":0,"x":{}}}"#, deep(126)),
            Outcome::Raw(400),
        ),
        (
            "create",
            "totp".into(),
            format!(r#"{{"x":{}}}"#, deep(127)),
            Outcome::DecodeRefused,
        ),
        // Encodings and numbers the host would never send, and some it does.
        (
            "create",
            "totp".into(),
            r#"{"policy":"\udc00","expiration":0}"#.into(),
            Outcome::DecodeRefused,
        ),
        (
            "create",
            "totp".into(),
            r#"{"policy":"\ud800\udc00","expiration":0}"#.into(),
            Outcome::Raw(400),
        ),
        (
            "create",
            "totp".into(),
            r#"{"policy":"\u0000","expiration":0}"#.into(),
            Outcome::Raw(400),
        ),
        (
            "create",
            "totp".into(),
            r#"{"policy":"p","expiration":1e400}"#.into(),
            Outcome::DecodeRefused,
        ),
        (
            "create",
            "totp".into(),
            r#"{"policy":"p","expiration":-9223372036854775809}"#.into(),
            Outcome::Raw(400),
        ),
        (
            "create",
            "totp".into(),
            r#"{"policy":"p","expiration":18446744073709551616}"#.into(),
            Outcome::Raw(400),
        ),
        (
            "create",
            "totp".into(),
            r#"{"policy":"p","expiration":-0}"#.into(),
            Outcome::Raw(400),
        ),
        (
            "create",
            "totp".into(),
            r#"{"policy":"p","expiration":NaN}"#.into(),
            Outcome::DecodeRefused,
        ),
        (
            "create",
            "totp".into(),
            r#"{"policy":"p","policy":"a b","expiration":1800000060}"#.into(),
            Outcome::Raw(400),
        ),
        (
            "create",
            "totp".into(),
            "\u{feff}{}".into(),
            Outcome::DecodeRefused,
        ),
        ("create", "totp".into(), " null ".into(), Outcome::Raw(400)),
        (
            "create",
            "totp\u{0}".into(),
            "{}".into(),
            Outcome::UnsupportedPath,
        ),
        (
            "read",
            "totp/../tidy".into(),
            String::new(),
            Outcome::Raw(400),
        ),
        // A newline is part of the captured uuid (patterns match with `s`):
        // a bad uuid, not an unknown path.
        (
            "read",
            format!("totp/{LIVE}\n"),
            String::new(),
            Outcome::Raw(400),
        ),
    ];
    let mut tried = 0;
    for (operation, path, data, expected) in &samples {
        for failure in [
            None,
            Some("barrier is sealed"),
            Some("cannot write to readonly storage"),
        ] {
            let proto = pb::Request {
                operation: (*operation).to_owned(),
                path: path.clone(),
                data: data.clone(),
                mount_point: "auth/ratls/".into(),
                ..Default::default()
            };
            let shown = format!(
                "{operation} {:.60} {:.80} (storage failure {failure:?})",
                path, data
            );
            let outcome = rt
                .block_on(check_case(&router, proto, failure))
                .unwrap_or_else(|e| panic!("{shown}: {e}"));
            if failure.is_none() {
                assert_eq!(&outcome, expected, "{shown}");
            }
            tried += 1;
        }
    }
    eprintln!(
        "seed corpus: {} requests, each also with failing storage ({tried} runs), peak RSS {} KiB",
        samples.len(),
        vm_hwm_kib()
    );
}
