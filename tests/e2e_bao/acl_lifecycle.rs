//! A token that may only `update` `totp/verify` and `totp/redeem` verifies
//! and redeems, but cannot list, read, read codes, create, delete or tidy:
//! 403 in Vault's shape, nothing written.

use serde_json::json;

use crate::expect;
use crate::harness::{Bao, now};

const POLICY: &str = "
path \"auth/ratls/totp/verify\" {
  capabilities = [\"update\"]
}
path \"auth/ratls/totp/redeem\" {
  capabilities = [\"update\"]
}
";

#[test]
fn verify_and_redeem_only_token_cannot_list_read_create_or_delete() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls"]);
    let file = bao.dir().join("verify-redeem.hcl");
    std::fs::write(&file, POLICY).unwrap();
    bao.cli_ok(&[
        "policy",
        "write",
        "verify-redeem",
        &file.display().to_string(),
    ]);
    let body = bao.cli_json(&["token", "create", "-policy=verify-redeem", "-format=json"]);
    assert_eq!(
        body["auth"]["policies"],
        json!(["default", "verify-redeem"]),
        "{body}"
    );
    let token = body["auth"]["client_token"].as_str().unwrap().to_owned();

    let expiration = now() + 600;
    let a = expect::create(&bao, "ratls", "acl-p", expiration);
    let b = expect::create(&bao, "ratls", "acl-p", expiration);
    let a_id = a["uuid"].as_str().unwrap();
    let b_id = b["uuid"].as_str().unwrap();
    let stored = bao.snapshot("ratls");
    expect::state_is(&bao, "ratls", &[&a, &b], &[], "after the creates");

    // Denied over HTTP.
    let create_body = json!({"policy": "acl-p", "expiration": expiration}).to_string();
    let denied: [(&str, String, Option<&str>); 10] = [
        ("GET", "auth/ratls/totp/?list=true".into(), None),
        ("GET", "auth/ratls/totp?list=true".into(), None),
        ("GET", format!("auth/ratls/totp/{a_id}"), None),
        ("GET", format!("auth/ratls/totp/{a_id}/code"), None),
        ("PUT", "auth/ratls/totp".into(), Some(&create_body)),
        ("POST", "auth/ratls/totp".into(), Some(&create_body)),
        ("DELETE", format!("auth/ratls/totp/{a_id}"), None),
        ("DELETE", "auth/ratls/totp".into(), None),
        ("POST", "auth/ratls/tidy".into(), Some("{}")),
        ("GET", "auth/ratls/totp/verify".into(), None),
    ];
    for (method, path, body) in &denied {
        let resp = bao.request(method, path, Some(&token), *body);
        expect::vault_error(&resp, 403, "permission denied", &format!("{method} {path}"));
    }
    // Denied with the CLI.
    let a_path = format!("auth/ratls/totp/{a_id}");
    let code_path = format!("auth/ratls/totp/{a_id}/code");
    let expiration_arg = format!("expiration={expiration}");
    let commands: [&[&str]; 6] = [
        &["list", "auth/ratls/totp"],
        &["read", &a_path],
        &["read", &code_path],
        &["write", "auth/ratls/totp", "policy=acl-p", &expiration_arg],
        &["delete", &a_path],
        &["write", "-f", "auth/ratls/tidy"],
    ];
    for args in commands {
        let out = bao.cli_as(&token, args);
        assert!(!out.success, "bao {args:?}: {out:?}");
        assert!(out.stderr.contains("Code: 403"), "bao {args:?}: {out:?}");
        assert!(
            out.stderr.contains("permission denied"),
            "bao {args:?}: {out:?}"
        );
    }
    assert_eq!(
        bao.snapshot("ratls"),
        stored,
        "denied requests wrote nothing"
    );

    // Allowed: verify (the code computed from the uuid, which this token
    // cannot read) and redeem.
    let step = u64::try_from(now()).unwrap() / 30;
    let code = expect::reference_code(a_id, step);
    let verify = json!({"policy": "acl-p", "code": code}).to_string();
    let resp = bao.request(
        "POST",
        "auth/ratls/totp/verify",
        Some(&token),
        Some(&verify),
    );
    expect::valid(&resp, true, "verify with the token");
    let resp = bao.request("PUT", "auth/ratls/totp/verify", Some(&token), Some(&verify));
    expect::valid(&resp, false, "replay with the token");
    let out = bao.cli_as(
        &token,
        &[
            "write",
            "-format=json",
            "auth/ratls/totp/verify",
            "policy=acl-p",
            &format!("code={code}"),
        ],
    );
    assert!(out.success, "{out:?}");
    assert_eq!(out.json()["data"], json!({"valid": false}), "{out:?}");
    expect::state_is(&bao, "ratls", &[&a, &b], &[(a_id, step)], "after verify");

    let redeem = json!({"uuid": b_id, "policy": "acl-p"}).to_string();
    let resp = bao.request(
        "POST",
        "auth/ratls/totp/redeem",
        Some(&token),
        Some(&redeem),
    );
    expect::valid(&resp, true, "redeem with the token");
    let resp = bao.request(
        "POST",
        "auth/ratls/totp/redeem",
        Some(&token),
        Some(&redeem),
    );
    expect::valid(&resp, false, "redeem again with the token");
    expect::state_is(&bao, "ratls", &[&a], &[(a_id, step)], "after redeem");

    // Still nothing else: the listing and the entry stay out of reach.
    let resp = bao.request("GET", "auth/ratls/totp/?list=true", Some(&token), None);
    expect::vault_error(&resp, 403, "permission denied", "list at the end");
}
