//! Register by sha256, enable at two paths, create with the CLI and over HTTP.

use std::collections::BTreeSet;

use serde_json::json;

use crate::expect::{self, CREATED_IGNORED, UUID_IGNORED};
use crate::harness::{Bao, PLUGIN, PLUGIN_VERSION, now};

#[test]
fn register_enable_two_mounts_and_create_via_cli_and_http() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls", "second"]);

    // Both mounts are this plugin, with their own storage.
    let auth = bao.get("sys/auth").json();
    for mount in ["ratls/", "second/"] {
        assert_eq!(auth["data"][mount]["type"], PLUGIN, "{auth}");
        assert_eq!(
            auth["data"][mount]["running_plugin_version"], PLUGIN_VERSION,
            "{auth}"
        );
    }
    let (ratls_uuid, second_uuid) = (bao.mount_uuid("ratls"), bao.mount_uuid("second"));
    assert_ne!(ratls_uuid, second_uuid);
    // Nothing is stored yet.
    assert!(bao.entry_snapshot("ratls").is_empty());
    assert!(bao.entry_snapshot("second").is_empty());
    // Each mount is served by its own plugin process.
    assert_eq!(bao.plugin_pids().len(), 2, "one process per mount");

    // 1. The CLI: `bao write` sends every value as a string.
    let expiration = now() + 3600;
    let before = now();
    let body = bao.cli_json(&[
        "write",
        "-format=json",
        "auth/ratls/totp",
        "policy=cli-policy",
        &format!("expiration={expiration}"),
    ]);
    let cli_entry = body["data"].clone();
    let cli_id = expect::entry_data(&cli_entry, "cli-policy", expiration, before, now());
    assert!(body["warnings"].is_null(), "{body}");
    expect::stored(&bao, "ratls", &cli_entry);

    // The CLI with created/uuid (ignored, warned about) and an unknown field.
    let before = now();
    let body = bao.cli_json(&[
        "write",
        "-format=json",
        "auth/ratls/totp",
        "policy=cli-extra",
        &format!("expiration={expiration}"),
        "created=123",
        "uuid=not-mine",
        "foo=bar",
    ]);
    let extra_entry = body["data"].clone();
    let extra_id = expect::entry_data(&extra_entry, "cli-extra", expiration, before, now());
    assert_ne!(extra_id, "not-mine");
    assert_eq!(
        body["warnings"],
        json!([
            CREATED_IGNORED,
            UUID_IGNORED,
            "Endpoint ignored these unrecognized parameters: [foo]"
        ])
    );
    expect::stored(&bao, "ratls", &extra_entry);

    // 2. HTTP PUT with integers.
    let before = now();
    let resp = bao.put(
        "auth/ratls/totp",
        &json!({"policy": "http-put", "expiration": expiration}),
    );
    let put_entry = expect::created(&resp, "http-put", expiration, before, None);
    expect::stored(&bao, "ratls", &put_entry);

    // HTTP PUT with a decimal string and the ignored fields.
    let before = now();
    let resp = bao.put(
        "auth/ratls/totp",
        &json!({"policy": "http-str", "expiration": expiration.to_string(), "created": 1, "uuid": "x"}),
    );
    let str_entry = expect::created(
        &resp,
        "http-str",
        expiration,
        before,
        Some(&[CREATED_IGNORED, UUID_IGNORED]),
    );
    expect::stored(&bao, "ratls", &str_entry);

    // 3. HTTP POST on the second mount.
    let before = now();
    let resp = bao.post(
        "auth/second/totp",
        &json!({"policy": "second-policy", "expiration": expiration + 1}),
    );
    let second_entry = expect::created(&resp, "second-policy", expiration + 1, before, None);
    expect::stored(&bao, "second", &second_entry);

    // Every create made a different uuid; each mount holds only its own.
    let ratls_ids: BTreeSet<String> = [
        cli_id.clone(),
        extra_id,
        put_entry["uuid"].as_str().unwrap().to_owned(),
        str_entry["uuid"].as_str().unwrap().to_owned(),
    ]
    .into();
    assert_eq!(ratls_ids.len(), 4);
    assert_eq!(bao.stored_ids("ratls"), ratls_ids);
    let second_id = second_entry["uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        bao.stored_ids("second"),
        BTreeSet::from([second_id.clone()])
    );
    // sys/raw works (the dev server enables it): each mount's data lives
    // under `auth/<mount uuid>/`.
    let mounts = bao.raw_list("auth/");
    for uuid in [&ratls_uuid, &second_uuid] {
        assert!(mounts.contains(&format!("{uuid}/")), "{mounts:?}");
    }
    // Nothing else is stored: per entry, `totp/<uuid>` and its policy index key.
    let ratls_entries = [&cli_entry, &extra_entry, &put_entry, &str_entry];
    expect::storage_holds(&bao, "ratls", &ratls_entries);
    expect::storage_holds(&bao, "second", &[&second_entry]);

    // The mounts are independent: deleting a ratls uuid on `second` leaves it.
    expect::deleted(
        &bao.delete(&format!("auth/second/totp/{cli_id}")),
        "cross-mount delete",
    );
    expect::stored(&bao, "ratls", &cli_entry);
    expect::deleted(
        &bao.delete(&format!("auth/second/totp/{second_id}")),
        "delete on second",
    );
    expect::storage_holds(&bao, "second", &[]);
    expect::storage_holds(&bao, "ratls", &ratls_entries);
}
