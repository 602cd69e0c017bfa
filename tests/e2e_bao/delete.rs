//! Deleting: idempotent over the CLI and HTTP; the entry leaves storage.

use serde_json::json;

use crate::expect;
use crate::harness::{Bao, now};

#[test]
fn delete_is_idempotent_via_cli_and_http() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls"]);
    let expiration = now() + 600;
    let mut entries = Vec::new();
    for policy in ["by-cli", "by-http", "kept"] {
        let before = now();
        let resp = bao.put(
            "auth/ratls/totp",
            &json!({"policy": policy, "expiration": expiration}),
        );
        let data = expect::created(&resp, policy, expiration, before, None);
        expect::stored(&bao, "ratls", &data);
        entries.push(data);
    }
    let id = |i: usize| entries[i]["uuid"].as_str().unwrap().to_owned();
    let (cli_id, http_id, kept_id) = (id(0), id(1), id(2));

    // `bao delete`, twice: both succeed. (The plugin answers 200 with a JSON
    // body, `data` == {}, so the CLI prints that empty secret, i.e. nothing,
    // instead of its "Success! Data deleted" line for a 204.)
    for round in 1..=2 {
        let out = bao.cli(&["delete", &format!("auth/ratls/totp/{cli_id}")]);
        assert!(out.success, "bao delete round {round}: {out:?}");
        assert_eq!(out.stderr, "", "bao delete round {round}");
        assert_eq!(bao.stored_entry("ratls", &cli_id), None);
    }
    let out = bao.cli(&[
        "delete",
        "-format=json",
        &format!("auth/ratls/totp/{cli_id}"),
    ]);
    assert!(out.success, "{out:?}");
    let body = out.json();
    expect::envelope(&body, "bao delete -format=json");
    assert_eq!(body["data"], json!({"deleted": true}), "{body}");

    // HTTP DELETE, twice: 200 with an envelope and `data` == {}.
    for round in 1..=2 {
        let resp = bao.delete(&format!("auth/ratls/totp/{http_id}"));
        expect::deleted(&resp, &format!("HTTP delete round {round}"));
        assert_eq!(bao.stored_entry("ratls", &http_id), None);
    }

    // A uuid that never existed: 200 as well.
    let unknown = uuid::Uuid::new_v4().to_string();
    expect::deleted(
        &bao.delete(&format!("auth/ratls/totp/{unknown}")),
        "unknown uuid",
    );

    // The path without a uuid: the source document's 400, exactly.
    for path in ["auth/ratls/totp/", "auth/ratls/totp"] {
        expect::plugin_400(&bao.delete(path), &expect::missing_uuid_body(), path);
    }
    let out = bao.cli(&["delete", "auth/ratls/totp"]);
    assert!(!out.success, "{out:?}");
    assert!(out.stderr.contains("Code: 400"), "{out:?}");
    assert!(out.stderr.contains("Missing required field"), "{out:?}");

    // Only the untouched entry is left.
    assert_eq!(bao.stored_ids("ratls"), [kept_id.clone()].into());
    expect::storage_holds(&bao, "ratls", &[&entries[2]]);
}
