//! Assertions on the plugin's documented answers.

use serde_json::{Value, json};

use crate::harness::{Bao, Resp};
use crate::oracle::{Names, entry_key};

/// The warnings a create answers with when the caller sent `created`/`uuid`.
pub const CREATED_IGNORED: &str = "'created' was ignored: the plugin generates it";
pub const UUID_IGNORED: &str = "'uuid' was ignored: the plugin generates it";

/// The exact body of a delete without a uuid (the source document's 400).
pub fn missing_uuid_body() -> Value {
    json!({
        "statusCode": 400,
        "message": "Invalid request parameters: 'uuid' is required and must be a string.",
        "errors": {"uuid": "Missing required field"}
    })
}

/// The exact body of a delete whose uuid is not canonical.
pub fn bad_uuid_body() -> Value {
    json!({
        "statusCode": 400,
        "message": "Invalid request parameters: 'uuid' must be a UUID in canonical form (36 lower-case hexadecimal characters and hyphens).",
        "errors": {"uuid": "must be a UUID"}
    })
}

/// The exact body of a create whose expiration is not in the future.
pub fn expired_body() -> Value {
    json!({
        "statusCode": 400,
        "message": "Invalid request parameters: 'expiration' must be a Unix timestamp in the future.",
        "errors": {"expiration": "must be in the future"}
    })
}

/// A plugin-produced 400 with exactly `body`.
pub fn plugin_400(resp: &Resp, body: &Value, what: &str) {
    assert_eq!(resp.status, 400, "{what}: {resp:?}");
    assert_eq!(&resp.json(), body, "{what}: body");
}

/// A Vault-produced error: `{"errors": [..]}` only, one of which contains
/// `needle`.
pub fn vault_error(resp: &Resp, status: u16, needle: &str, what: &str) {
    assert_eq!(resp.status, status, "{what}: {resp:?}");
    let body = resp.json();
    let object = body.as_object().expect("object body");
    assert_eq!(
        object.keys().collect::<Vec<_>>(),
        ["errors"],
        "{what}: Vault's own error shape: {body}"
    );
    let errors = body["errors"].as_array().expect("errors array");
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().is_some_and(|e| e.contains(needle))),
        "{what}: no error mentions {needle:?}: {body}"
    );
}

/// Vault's success envelope around `data` (no lease, no auth, no wrap).
pub fn envelope(body: &Value, what: &str) {
    for key in [
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "data",
        "warnings",
    ] {
        assert!(body.get(key).is_some(), "{what}: no {key:?} in {body}");
    }
    assert!(
        uuid::Uuid::parse_str(body["request_id"].as_str().unwrap_or_default()).is_ok(),
        "{what}: request_id: {body}"
    );
    assert_eq!(body["lease_id"], "", "{what}: {body}");
    assert_eq!(body["renewable"], false, "{what}: {body}");
    assert_eq!(body["lease_duration"], 0, "{what}: {body}");
    if let Some(auth) = body.get("auth") {
        assert!(auth.is_null(), "{what}: {body}");
    }
    if let Some(wrap) = body.get("wrap_info") {
        assert!(wrap.is_null(), "{what}: {body}");
    }
}

/// `text` is a canonical (lower-case, hyphenated) random v4 UUID.
pub fn canonical_v4(text: &str, what: &str) {
    let parsed = uuid::Uuid::parse_str(text).unwrap_or_else(|e| panic!("{what}: {text:?}: {e}"));
    assert_eq!(parsed.get_version_num(), 4, "{what}: {text}");
    assert_eq!(
        parsed.hyphenated().to_string(),
        text,
        "{what}: not canonical"
    );
}

/// RFC 4648 base32 without padding, as otpauth URLs carry secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// `data` is a new entry created between `before` and `after`: exactly
/// the source's {uuid, created, expiration, policy}, plus its `accessor`
/// (another v4 UUID) and (the design allows it) an `otpauth_url` whose
/// secret is the uuid. Returns the uuid.
pub fn entry_data(data: &Value, policy: &str, expiration: i64, before: i64, after: i64) -> String {
    let object = data.as_object().unwrap_or_else(|| panic!("data: {data}"));
    let mut keys: Vec<&str> = object
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "otpauth_url")
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["accessor", "created", "expiration", "policy", "uuid"],
        "{data}"
    );
    let id = data["uuid"].as_str().expect("uuid string").to_owned();
    canonical_v4(&id, "entry uuid");
    let accessor = data["accessor"].as_str().expect("accessor string");
    canonical_v4(accessor, "entry accessor");
    assert_ne!(accessor, id, "the accessor is not the uuid");
    let created = data["created"]
        .as_i64()
        .unwrap_or_else(|| panic!("created: {data}"));
    assert!(
        (before..=after).contains(&created),
        "created {created} not within [{before}, {after}]"
    );
    assert_eq!(data["expiration"], expiration, "{data}");
    assert_eq!(data["policy"], policy, "{data}");
    if let Some(url) = data.get("otpauth_url") {
        let url = url
            .as_str()
            .unwrap_or_else(|| panic!("otpauth_url: {data}"));
        assert!(url.starts_with("otpauth://totp/"), "{url}");
        assert!(
            url.contains(&format!("secret={}", base32(id.as_bytes()))),
            "{url}: the secret is not the uuid"
        );
    }
    id
}

/// The stored form of an entry: the create answer without `otpauth_url`.
pub fn stored_form(data: &Value) -> Value {
    let mut stored = data.clone();
    if let Some(object) = stored.as_object_mut() {
        object.remove("otpauth_url");
    }
    stored
}

/// What reads and lookups answer for an entry (a create answer): every
/// field but `uuid` and `otpauth_url`.
pub fn public_form(data: &Value) -> Value {
    let mut public = stored_form(data);
    if let Some(object) = public.as_object_mut() {
        object.remove("uuid");
    }
    public
}

/// A 200 create answer over HTTP: envelope, entry fields, `warnings` as
/// given (`None` means null). Returns the `data`.
pub fn created(
    resp: &Resp,
    policy: &str,
    expiration: i64,
    before: i64,
    warnings: Option<&[&str]>,
) -> Value {
    let after = crate::harness::now();
    assert_eq!(resp.status, 200, "create: {resp:?}");
    let body = resp.json();
    envelope(&body, "create");
    entry_data(&body["data"], policy, expiration, before, after);
    match warnings {
        None => assert!(body["warnings"].is_null(), "warnings: {body}"),
        Some(expected) => assert_eq!(body["warnings"], json!(expected), "warnings: {body}"),
    }
    body["data"].clone()
}

/// A 200 delete answer: Vault's envelope with `data` == {"deleted": true}
/// (existing or not: deletes are idempotent).
pub fn deleted(resp: &Resp, what: &str) {
    assert_eq!(resp.status, 200, "{what}: {resp:?}");
    let body = resp.json();
    envelope(&body, what);
    assert_eq!(body["data"], json!({"deleted": true}), "{what}: {body}");
    assert!(body["warnings"].is_null(), "{what}: {body}");
}

/// The entry is stored under `mount` (`entry/<accessor derived from the
/// uuid>`) exactly as the create answered (its `otpauth_url` aside).
pub fn stored(bao: &Bao, mount: &str, data: &Value) {
    let id = data["uuid"].as_str().expect("uuid");
    assert_eq!(
        bao.stored_entry(mount, id),
        Some(stored_form(data)),
        "sys/raw entry of {mount}/totp/<uuid>"
    );
}

/// Where the plugin keeps an entry's keys in storage layout v3, below the
/// mount: the names come from the mount key (`meta/key`), computed as the
/// layout's spec says by `crate::oracle`, so none holds a uuid.
pub struct Layout {
    names: Names,
}

impl Layout {
    /// The layout of `mount` on `bao`, once its mount key exists.
    pub fn of(bao: &Bao, mount: &str) -> Self {
        Self {
            names: bao.mount_names(mount).expect("the mount key exists"),
        }
    }

    /// The layout whose `meta/key` record holds `text`.
    #[allow(dead_code)] // used by the cluster tests, which include this file
    pub fn from_record(text: &str) -> Self {
        Self {
            names: Names::from_record(text),
        }
    }

    /// The names of the mount's keys.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// The accessor of an entry this version made: derived from its uuid.
    pub fn accessor(&self, id: &str) -> String {
        self.names.accessor(id)
    }

    /// `entry/<derived accessor>`: the entry this version made.
    pub fn entry_key(&self, id: &str) -> String {
        entry_key(&self.accessor(id))
    }

    /// `index/<hex of the policy>/<grant id>.<sealed uuid>`: the index key.
    pub fn index_key(&self, policy: &str, id: &str) -> String {
        self.names.index_key(policy, id)
    }

    /// `last-step/<grant id>`: the replay record.
    pub fn last_step_key(&self, id: &str) -> String {
        self.names.last_step_key(id)
    }

    /// Every key of an entry this version made (a create answer), replay
    /// record aside, with its value: the entry, stored under the accessor
    /// its uuid derives (which the answer must carry), and its empty index
    /// key. No `accessor-of/` record.
    pub fn entry(&self, data: &Value) -> [(String, Value); 2] {
        let id = data["uuid"].as_str().expect("uuid");
        let policy = data["policy"].as_str().expect("policy");
        assert_eq!(
            data["accessor"],
            self.accessor(id).as_str(),
            "the accessor is derived from the uuid: {data}"
        );
        [
            (self.entry_key(id), stored_form(data)),
            (self.index_key(policy, id), Value::from("")),
        ]
    }

    /// Every key of an entry migrated from v0.2.x (replay record aside),
    /// with its value: the entry under its own (random) accessor, its
    /// `accessor-of/` record and its empty index key.
    pub fn migrated_entry(&self, data: &Value) -> [(String, Value); 3] {
        let id = data["uuid"].as_str().expect("uuid");
        let policy = data["policy"].as_str().expect("policy");
        let accessor = data["accessor"].as_str().expect("accessor");
        assert_ne!(accessor, self.accessor(id), "a random accessor: {data}");
        [
            (entry_key(accessor), stored_form(data)),
            (
                self.names.accessor_of_key(id),
                json!({"accessor": accessor}),
            ),
            (self.index_key(policy, id), Value::from("")),
        ]
    }
}

/// The mount's storage holds exactly these entries (create answers) and no
/// replay record.
pub fn storage_holds(bao: &Bao, mount: &str, entries: &[&Value]) {
    state_is(bao, mount, entries, &[], "everything stored");
}

// ---- TOTP lifecycle: read, list, redeem, codes, tidy ----

/// What tidy answers, by count: entries removed, index keys removed and
/// repaired, accessor records (`accessor-of/`, only for entries migrated
/// from v0.2.x) removed and repaired, replay records (`last-step/`) removed,
/// attempt records removed.
pub fn tidy_counts(counts: [u64; 7]) -> Value {
    let [
        entries,
        index_removed,
        index_repaired,
        accessors_removed,
        accessors_repaired,
        replays,
        attempts,
    ] = counts;
    json!({
        "entries_removed": entries,
        "index_keys_removed": index_removed,
        "index_keys_repaired": index_repaired,
        "accessor_records_removed": accessors_removed,
        "accessor_records_repaired": accessors_repaired,
        "replay_records_removed": replays,
        "attempt_records_removed": attempts,
    })
}

/// The plugin's 404 for a uuid without a live entry (its own shape: no
/// `errors`).
pub fn not_found_body() -> Value {
    let message = "No TOTP entry with this uuid exists: it was never created, or it was deleted, redeemed or has expired.";
    json!({"statusCode": 404, "message": message, "errors": [message]})
}

/// A 404 from the plugin for a uuid without a live entry.
pub fn entry_not_found(resp: &Resp, what: &str) {
    assert_eq!(resp.status, 404, "{what}: {resp:?}");
    assert_eq!(resp.json(), not_found_body(), "{what}: body");
}

/// Vault's answer to a list with no keys: 404 `{"errors": []}`.
pub fn empty_list(resp: &Resp, what: &str) {
    assert_eq!(resp.status, 404, "{what}: {resp:?}");
    assert_eq!(resp.json(), json!({"errors": []}), "{what}: body");
}

/// A 200 in Vault's envelope without warnings; returns its `data`.
pub fn ok_data(resp: &Resp, what: &str) -> Value {
    assert_eq!(resp.status, 200, "{what}: {resp:?}");
    let body = resp.json();
    envelope(&body, what);
    assert!(body["warnings"].is_null(), "{what}: warnings: {body}");
    body["data"].clone()
}

/// A 200 whose `data` is exactly `{"valid": expected}` (redeem, verify).
pub fn valid(resp: &Resp, expected: bool, what: &str) {
    assert_eq!(ok_data(resp, what), json!({"valid": expected}), "{what}");
}

/// The RFC 6238 code of entry `id` at time step `step`: HOTP (RFC 4226) with
/// HMAC-SHA1 over the big-endian step, 6 digits, the uuid's canonical text
/// as the secret.
pub fn reference_code(id: &str, step: u64) -> String {
    use hmac::Mac as _;
    let mut mac =
        hmac::Hmac::<sha1::Sha1>::new_from_slice(id.as_bytes()).expect("any key length works");
    mac.update(&step.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[19] & 0x0f);
    let value = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    format!("{:06}", value % 1_000_000)
}

/// A six-digit code that is none of `id`'s codes for steps `from..=to`.
pub fn wrong_code(id: &str, from: u64, to: u64) -> String {
    let taken: Vec<String> = (from..=to).map(|s| reference_code(id, s)).collect();
    (0..1_000u64)
        .map(|n| format!("{:06}", (n * 7_919 + 123_457) % 1_000_000))
        .find(|code| !taken.contains(code))
        .expect("some code is free")
}

/// Everything `mount` has stored but its own records (`meta/…`) and the
/// counts of failed verifications (`attempts/…`, which the throttle tests
/// check), keyed below the mount; entries, accessor-of and replay records
/// parsed as JSON, index keys as their (empty) string.
pub fn stored_state(bao: &Bao, mount: &str) -> std::collections::BTreeMap<String, Value> {
    bao.snapshot(mount)
        .into_iter()
        .filter(|(key, _)| !key.starts_with("meta/") && !key.starts_with("attempts/"))
        .map(|(key, value)| {
            let value = if key.starts_with("index/") {
                Value::from(value)
            } else {
                serde_json::from_str(&value).unwrap_or_else(|e| panic!("{key}: {e}: {value}"))
            };
            (key, value)
        })
        .collect()
}

/// What [`stored_state`] holds for these entries (create answers) and
/// replay records (`(uuid, last_step)`).
pub fn expected_state(
    layout: &Layout,
    entries: &[&Value],
    replays: &[(&str, u64)],
) -> std::collections::BTreeMap<String, Value> {
    let mut expected = std::collections::BTreeMap::new();
    for data in entries {
        expected.extend(layout.entry(data));
    }
    for (id, step) in replays {
        expected.insert(layout.last_step_key(id), json!({"last_step": step}));
    }
    expected
}

/// The mount's storage holds exactly these entries and replay records.
pub fn state_is(bao: &Bao, mount: &str, entries: &[&Value], replays: &[(&str, u64)], what: &str) {
    let actual = stored_state(bao, mount);
    if actual.is_empty() && entries.is_empty() && replays.is_empty() {
        return;
    }
    assert_eq!(
        actual,
        expected_state(&Layout::of(bao, mount), entries, replays),
        "{what}: everything {mount} has stored"
    );
}

/// Creates an entry at `mount` over HTTP as root; checks the answer and
/// returns its `data`.
pub fn create(bao: &Bao, mount: &str, policy: &str, expiration: i64) -> Value {
    let before = crate::harness::now();
    let resp = bao.put(
        &format!("auth/{mount}/totp"),
        &json!({"policy": policy, "expiration": expiration}),
    );
    created(&resp, policy, expiration, before, None)
}
