//! Creating needs the `create` capability on `auth/<mount>/totp`, not `update`.

use serde_json::json;

use crate::expect;
use crate::harness::{Bao, now};

fn policy_token(bao: &Bao, name: &str, capabilities: &str) -> String {
    let file = bao.dir().join(format!("{name}.hcl"));
    std::fs::write(
        &file,
        format!("path \"auth/ratls/totp\" {{\n  capabilities = [{capabilities}]\n}}\n"),
    )
    .unwrap();
    bao.cli_ok(&["policy", "write", name, &file.display().to_string()]);
    let body = bao.cli_json(&[
        "token",
        "create",
        &format!("-policy={name}"),
        "-format=json",
    ]);
    assert_eq!(body["auth"]["policies"], json!(["default", name]), "{body}");
    body["auth"]["client_token"].as_str().unwrap().to_owned()
}

#[test]
fn acl_requires_create_capability() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls"]);
    let update_only = policy_token(&bao, "totp-update-only", "\"update\"");
    let create_only = policy_token(&bao, "totp-create", "\"create\"");
    let expiration = now() + 600;
    let body = json!({"policy": "acl", "expiration": expiration}).to_string();
    assert!(bao.entry_snapshot("ratls").is_empty());

    // `update` alone is not enough: 403 in Vault's shape, nothing written.
    for method in ["PUT", "POST"] {
        let resp = bao.request(method, "auth/ratls/totp", Some(&update_only), Some(&body));
        expect::vault_error(
            &resp,
            403,
            "permission denied",
            &format!("{method} with update"),
        );
        assert!(
            bao.entry_snapshot("ratls").is_empty(),
            "{method}: storage changed"
        );
    }
    let out = bao.cli_as(
        &update_only,
        &[
            "write",
            "auth/ratls/totp",
            "policy=acl",
            &format!("expiration={expiration}"),
        ],
    );
    assert!(!out.success, "{out:?}");
    assert!(out.stderr.contains("Code: 403"), "{out:?}");
    assert!(out.stderr.contains("permission denied"), "{out:?}");
    // No token at all.
    let resp = bao.request("PUT", "auth/ratls/totp", None, Some(&body));
    expect::vault_error(&resp, 403, "permission denied", "no token");
    assert!(bao.entry_snapshot("ratls").is_empty());

    // `create` is: 200, stored.
    let before = now();
    let resp = bao.request("PUT", "auth/ratls/totp", Some(&create_only), Some(&body));
    let data = expect::created(&resp, "acl", expiration, before, None);
    expect::stored(&bao, "ratls", &data);
    let id = data["uuid"].as_str().unwrap();

    // Deleting needs `delete` on totp/<uuid>, which neither token has.
    for token in [&create_only, &update_only] {
        let resp = bao.request(
            "DELETE",
            &format!("auth/ratls/totp/{id}"),
            Some(token),
            None,
        );
        expect::vault_error(&resp, 403, "permission denied", "delete without capability");
    }
    expect::storage_holds(&bao, "ratls", &[&data]);
}
