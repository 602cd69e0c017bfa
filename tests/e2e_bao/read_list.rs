//! Reading and listing entries: each entry reads back as created, without
//! its uuid (CLI and HTTP); lists of accessors are sorted and carry
//! `key_info`; `after`/`limit` pages cover every key exactly once, in order.
//! Reads and lists write nothing.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::expect;
use crate::harness::{Bao, now};

/// What a list says about an entry in `key_info`.
fn info(data: &Value) -> Value {
    json!({
        "policy": data["policy"],
        "created": data["created"],
        "expiration": data["expiration"],
    })
}

/// `data` of a non-empty list answer: exactly {keys, key_info}, key_info
/// describing each key as created (`all`). Returns the keys.
fn list_data(data: &Value, all: &BTreeMap<String, Value>, what: &str) -> Vec<String> {
    let mut fields: Vec<&String> = data.as_object().expect("data object").keys().collect();
    fields.sort_unstable();
    assert_eq!(fields, ["key_info", "keys"], "{what}: {data}");
    let keys: Vec<String> = data["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: keys: {data}"))
        .iter()
        .map(|k| k.as_str().expect("string key").to_owned())
        .collect();
    assert!(!keys.is_empty(), "{what}: an empty list must be a 404");
    let expected: serde_json::Map<String, Value> = keys
        .iter()
        .map(|k| {
            let entry = all
                .get(k)
                .unwrap_or_else(|| panic!("{what}: unknown key {k}"));
            (k.clone(), info(entry))
        })
        .collect();
    assert_eq!(
        data["key_info"],
        Value::Object(expected),
        "{what}: key_info"
    );
    keys
}

/// One page over HTTP (`GET auth/ratls/totp/?list=true<query>`): its keys;
/// empty for Vault's 404 of an empty list.
fn http_page(bao: &Bao, query: &str, all: &BTreeMap<String, Value>) -> Vec<String> {
    let resp = bao.get(&format!("auth/ratls/totp/?list=true{query}"));
    if resp.status == 404 {
        expect::empty_list(&resp, query);
        return Vec::new();
    }
    list_data(&expect::ok_data(&resp, query), all, query)
}

/// One page with the CLI (`bao list -format=json <args> auth/ratls/totp`):
/// its keys; empty when the CLI finds no value (exit code 2, `{}`).
fn cli_page(bao: &Bao, args: &[&str]) -> Vec<String> {
    let mut all_args = vec!["list", "-format=json"];
    all_args.extend_from_slice(args);
    all_args.push("auth/ratls/totp");
    let out = bao.cli(&all_args);
    if out.code == Some(2) {
        assert_eq!(out.stdout.trim(), "{}", "{out:?}");
        return Vec::new();
    }
    assert!(out.success, "{all_args:?}: {out:?}");
    serde_json::from_value(out.json()).unwrap_or_else(|e| panic!("{all_args:?}: {e}: {out:?}"))
}

/// `data` of a `LIST /v1/<path>` (ureq refuses the method, so with curl).
fn curl_list(bao: &Bao, path: &str) -> Value {
    let output = std::process::Command::new("curl")
        .args([
            "-sS",
            "--noproxy",
            "*",
            "-X",
            "LIST",
            "-w",
            "\n%{http_code}",
        ])
        .arg("-H")
        .arg(format!("X-Vault-Token: {}", bao.root_token))
        .arg(format!("{}/v1/{path}", bao.addr))
        .output()
        .expect("running curl");
    assert!(output.status.success(), "curl LIST {path}: {output:?}");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("status line");
    let resp = crate::harness::Resp {
        status: status.parse().expect("HTTP status"),
        text: body.to_owned(),
    };
    expect::ok_data(&resp, &format!("LIST {path}"))
}

/// Pages of at most `limit` keys, each asked for after the last key of the
/// one before, until an empty one: they must cover `all` once, in order,
/// with every page but the last full.
fn walk(limit: usize, mut page: impl FnMut(Option<&str>) -> Vec<String>, all: &[String]) {
    let mut seen: Vec<String> = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let keys = page(seen.last().map(String::as_str));
        if keys.is_empty() {
            break;
        }
        assert!(keys.len() <= limit, "limit {limit}: page {keys:?}");
        if let Some(last) = seen.last() {
            assert!(keys[0] > *last, "limit {limit}: {keys:?} after {last}");
        }
        sizes.push(keys.len());
        seen.extend(keys);
        assert!(
            seen.len() <= all.len(),
            "limit {limit}: too many keys {seen:?}"
        );
    }
    assert_eq!(seen, all, "limit {limit}: the pages cover every key once");
    let mut expected_sizes = vec![limit; all.len() / limit];
    if all.len() % limit != 0 {
        expected_sizes.push(all.len() % limit);
    }
    assert_eq!(sizes, expected_sizes, "limit {limit}: page sizes");
}

#[test]
fn read_and_list_with_pagination() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls"]);
    let empty = bao.get("auth/ratls/totp/?list=true");
    expect::empty_list(&empty, "list before any create");
    assert_eq!(cli_page(&bao, &[]), Vec::<String>::new());

    // Five entries: three over HTTP (two policies), two with the CLI.
    let expiration = now() + 3600;
    let mut entries: Vec<Value> = ["read-a", "read-b", "read-a"]
        .iter()
        .zip(0..)
        .map(|(policy, i)| expect::create(&bao, "ratls", policy, expiration + i))
        .collect();
    for policy in ["read-cli", "ns/read"] {
        let before = now();
        let body = bao.cli_json(&[
            "write",
            "-format=json",
            "auth/ratls/totp",
            &format!("policy={policy}"),
            &format!("expiration={expiration}"),
        ]);
        expect::entry_data(&body["data"], policy, expiration, before, now());
        entries.push(body["data"].clone());
    }
    let by_id: BTreeMap<String, Value> = entries
        .iter()
        .map(|data| (data["uuid"].as_str().unwrap().to_owned(), data.clone()))
        .collect();
    assert_eq!(by_id.len(), 5, "five distinct uuids");
    let all: Vec<String> = by_id.keys().cloned().collect();
    let refs: Vec<&Value> = entries.iter().collect();
    expect::state_is(&bao, "ratls", &refs, &[], "after the creates");
    let stored = bao.snapshot("ratls");

    // Each entry reads back as created (without its otpauth_url).
    for data in &entries {
        let id = data["uuid"].as_str().unwrap();
        let path = format!("auth/ratls/totp/{id}");
        let read = expect::ok_data(&bao.get(&path), "HTTP read");
        assert_eq!(read, expect::public_form(data), "HTTP read of {id}");
        let body = bao.cli_json(&["read", "-format=json", &path]);
        assert_eq!(body["data"], expect::public_form(data), "CLI read of {id}");
    }
    // An unknown uuid: the plugin's 404; the CLI fails with its message.
    let unknown = uuid::Uuid::new_v4().to_string();
    expect::entry_not_found(
        &bao.get(&format!("auth/ratls/totp/{unknown}")),
        "unknown uuid",
    );
    let out = bao.cli(&[
        "read",
        "-format=json",
        &format!("auth/ratls/totp/{unknown}"),
    ]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains(expect::not_found_body()["message"].as_str().unwrap()),
        "{out:?}"
    );
    // Uuids not in canonical form: 400.
    let first = &all[0];
    for bad in [
        "not-a-uuid".to_owned(),
        first.to_uppercase(),
        first.replace('-', ""),
        format!("{{{first}}}"),
    ] {
        expect::plugin_400(
            &bao.get(&format!("auth/ratls/totp/{bad}")),
            &expect::bad_uuid_body(),
            &format!("read {bad}"),
        );
    }

    // Lists name entries by accessor, never by uuid.
    let by_accessor: BTreeMap<String, Value> = entries
        .iter()
        .map(|data| (data["accessor"].as_str().unwrap().to_owned(), data.clone()))
        .collect();
    let all: Vec<String> = by_accessor.keys().cloned().collect();
    let listed = bao.get("auth/ratls/totp/?list=true").text;
    for id in by_id.keys() {
        assert!(
            !listed.contains(id.as_str()),
            "a list shows no uuid: {listed}"
        );
    }

    // Whole lists: sorted keys with key_info, over GET ?list=true, LIST (with
    // and without the trailing slash) and the CLI.
    assert_eq!(http_page(&bao, "", &by_accessor), all);
    let get_data = expect::ok_data(&bao.get("auth/ratls/totp/?list=true"), "GET list");
    for path in ["auth/ratls/totp/", "auth/ratls/totp"] {
        assert_eq!(curl_list(&bao, path), get_data, "LIST {path}");
    }
    assert_eq!(cli_page(&bao, &[]), all, "bao list");
    let body = bao.cli_json(&["list", "-detailed", "-format=json", "auth/ratls/totp"]);
    assert_eq!(
        list_data(&body["data"], &by_accessor, "bao list -detailed"),
        all,
        "bao list -detailed"
    );
    // A limit of 0 or less, or a huge one, is no limit.
    for limit in ["0", "-1", "1000"] {
        assert_eq!(
            http_page(&bao, &format!("&limit={limit}"), &by_accessor),
            all,
            "limit={limit}"
        );
    }
    // `after` is exclusive and need not be a key.
    for after in ["", "0", "7", "8", "f", all[1].as_str(), all[4].as_str()] {
        let expected: Vec<String> = all.iter().filter(|k| k.as_str() > after).cloned().collect();
        assert_eq!(
            http_page(&bao, &format!("&after={after}"), &by_accessor),
            expected,
            "after={after:?}"
        );
    }

    // Pages over HTTP, for several page sizes, and with the CLI.
    for limit in [1usize, 2, 3, 4, 5] {
        walk(
            limit,
            |after| {
                let after = after.map(|a| format!("&after={a}")).unwrap_or_default();
                http_page(&bao, &format!("&limit={limit}{after}"), &by_accessor)
            },
            &all,
        );
    }
    walk(
        2,
        |after| match after {
            None => cli_page(&bao, &["-limit=2"]),
            Some(after) => cli_page(&bao, &["-limit=2", &format!("-after={after}")]),
        },
        &all,
    );
    // `limit` must be an integer.
    let resp = bao.get("auth/ratls/totp/?list=true&limit=two");
    expect::plugin_400(
        &resp,
        &json!({
            "statusCode": 400,
            "message": "Invalid request parameters: 'limit' must be an integer.",
            "errors": {"limit": "must be an integer"}
        }),
        "limit=two",
    );

    // Nothing was written by reading and listing.
    assert_eq!(
        bao.snapshot("ratls"),
        stored,
        "storage after reads and lists"
    );
}
