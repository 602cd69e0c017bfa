//! The operator's policy of the README: `list` on `totp/` and `read` on the
//! accessor paths. With it a token lists entries, reads them and their codes
//! by accessor, and never obtains a uuid: every answer is searched for the
//! live uuids, and redeem, lookup, create and the uuid paths are 403.

use serde_json::json;

use crate::expect;
use crate::harness::{Bao, now};

const POLICY: &str = "
path \"auth/ratls/totp/\" {
  capabilities = [\"list\"]
}
path \"auth/ratls/totp/accessor/*\" {
  capabilities = [\"read\"]
}
";

#[test]
fn list_and_read_on_accessor_paths_never_reach_a_uuid_or_a_grant() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls"]);
    let file = bao.dir().join("operator.hcl");
    std::fs::write(&file, POLICY).unwrap();
    bao.cli_ok(&["policy", "write", "operator", &file.display().to_string()]);
    let body = bao.cli_json(&["token", "create", "-policy=operator", "-format=json"]);
    let token = body["auth"]["client_token"].as_str().unwrap().to_owned();

    let expiration = now() + 600;
    let entries: Vec<_> = ["op-a", "op-b"]
        .iter()
        .map(|p| expect::create(&bao, "ratls", p, expiration))
        .collect();
    let refs: Vec<&serde_json::Value> = entries.iter().collect();
    let uuids: Vec<String> = entries
        .iter()
        .map(|d| d["uuid"].as_str().unwrap().to_owned())
        .collect();
    let shows_a_uuid = |text: &str| {
        uuids
            .iter()
            .any(|id| text.contains(id.as_str()) || text.contains(&id.replace('-', "")))
    };

    // What the operator may do: list, read and read codes by accessor.
    let list = bao.request("GET", "auth/ratls/totp/?list=true", Some(&token), None);
    assert_eq!(list.status, 200, "{list:?}");
    assert!(!shows_a_uuid(&list.text), "{}", list.text);
    let mut listed: Vec<String> = list.json()["data"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    let mut accessors: Vec<String> = entries
        .iter()
        .map(|d| d["accessor"].as_str().unwrap().to_owned())
        .collect();
    accessors.sort();
    assert_eq!(listed, accessors);
    let cli = bao.cli_as(
        &token,
        &["list", "-detailed", "-format=json", "auth/ratls/totp"],
    );
    assert!(cli.success, "{cli:?}");
    assert!(!shows_a_uuid(&cli.stdout), "{}", cli.stdout);
    for (accessor, data) in accessors.iter().zip(&refs) {
        let _ = data;
        for path in [
            format!("auth/ratls/totp/accessor/{accessor}"),
            format!("auth/ratls/totp/accessor/{accessor}/code"),
        ] {
            let resp = bao.request("GET", &path, Some(&token), None);
            assert_eq!(resp.status, 200, "{path}: {resp:?}");
            assert!(!shows_a_uuid(&resp.text), "{path}: {}", resp.text);
        }
    }

    // What it may not: anything that takes or spends a uuid, or writes.
    let stored = bao.snapshot("ratls");
    let a = &uuids[0];
    let lookup = json!({"uuid": a}).to_string();
    let redeem = json!({"uuid": a, "policy": "op-a"}).to_string();
    let create = json!({"policy": "op-a", "expiration": expiration}).to_string();
    for (method, path, body) in [
        (
            "POST",
            "auth/ratls/totp/lookup".to_owned(),
            Some(lookup.as_str()),
        ),
        (
            "POST",
            "auth/ratls/totp/redeem".to_owned(),
            Some(redeem.as_str()),
        ),
        (
            "POST",
            "auth/ratls/totp/verify".to_owned(),
            Some(r#"{"policy":"op-a","code":"123456"}"#),
        ),
        ("PUT", "auth/ratls/totp".to_owned(), Some(create.as_str())),
        ("GET", format!("auth/ratls/totp/{a}"), None),
        ("GET", format!("auth/ratls/totp/{a}/code"), None),
        ("DELETE", format!("auth/ratls/totp/{a}"), None),
        (
            "DELETE",
            format!("auth/ratls/totp/accessor/{}", accessors[0]),
            None,
        ),
        ("POST", "auth/ratls/tidy".to_owned(), Some("{}")),
    ] {
        let resp = bao.request(method, &path, Some(&token), body);
        expect::vault_error(&resp, 403, "permission denied", &format!("{method} {path}"));
    }
    let out = bao.cli_as(
        &token,
        &[
            "write",
            "auth/ratls/totp/redeem",
            &format!("uuid={a}"),
            "policy=op-a",
        ],
    );
    assert!(!out.success, "{out:?}");
    assert_eq!(bao.snapshot("ratls"), stored, "nothing written");
    expect::state_is(&bao, "ratls", &refs, &[], "both grants intact");
}
