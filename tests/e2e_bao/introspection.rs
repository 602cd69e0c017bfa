//! What an operator sees: path help, the OpenAPI document and the server log.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::expect;
use crate::harness::{Bao, Options, now};

#[test]
fn help_and_openapi_describe_the_paths() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls", "second"]);

    let help = bao.cli_ok(&["path-help", "auth/ratls/totp"]);
    for needle in [
        "policy (string)",
        "expiration (int)",
        "Create TOTP entries.",
    ] {
        assert!(help.contains(needle), "path-help lacks {needle:?}:\n{help}");
    }
    let id = uuid::Uuid::new_v4();
    let help = bao.cli_ok(&["path-help", &format!("auth/ratls/totp/{id}")]);
    for needle in ["uuid (string)", "Matching Route: ^totp/(?P<uuid>.+)$"] {
        assert!(help.contains(needle), "path-help lacks {needle:?}:\n{help}");
    }

    // `?help=1` answers the same text over HTTP.
    let resp = bao.get("auth/ratls/totp?help=1");
    assert_eq!(resp.status, 200, "{resp:?}");
    let text = resp.json()["help"].as_str().unwrap_or_default().to_owned();
    assert!(
        text.contains("policy") && text.contains("expiration"),
        "{text}"
    );

    // The plugin's own document carries its request schema inline and as a component.
    let resp = bao.get("auth/ratls?help=1");
    assert_eq!(resp.status, 200, "{resp:?}");
    let own = resp.json()["openapi"].clone();
    let inline =
        &own["paths"]["/totp"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(
        inline, &own["components"]["schemas"]["RatlsCreateTotpRequest"],
        "{own}"
    );
    assert_eq!(inline["required"], json!(["policy", "expiration"]), "{own}");

    let resp = bao.get("sys/internal/specs/openapi");
    assert_eq!(resp.status, 200, "{resp:?}");
    let spec = resp.json();
    let paths = spec["paths"].as_object().expect("paths");
    for mount in ["ratls", "second"] {
        let collection = paths
            .get(&format!("/auth/{mount}/totp"))
            .unwrap_or_else(|| panic!("no /auth/{mount}/totp in {:?}", paths.keys()));
        assert_eq!(
            collection["post"]["operationId"], "ratls-create-totp",
            "{collection}"
        );
        let one = paths
            .get(&format!("/auth/{mount}/totp/{{uuid}}"))
            .unwrap_or_else(|| panic!("no /auth/{mount}/totp/{{uuid}} in {:?}", paths.keys()));
        assert_eq!(one["delete"]["operationId"], "ratls-delete-totp", "{one}");
        assert_eq!(one["parameters"][0]["name"], "uuid", "{one}");
        assert_eq!(one["parameters"][0]["in"], "path", "{one}");
    }
    // The request body's fields survive the merge: inline in the operation
    // (OpenBao drops a `$ref` there) and in the components.
    let operation_schema =
        &paths["/auth/ratls/totp"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(
        operation_schema["properties"]["policy"]["type"], "string",
        "{operation_schema}"
    );
    let schema = &spec["components"]["schemas"]["RatlsCreateTotpRequest"];
    assert_eq!(schema["type"], "object", "{schema}");
    assert_eq!(schema["properties"]["policy"]["type"], "string", "{schema}");
    assert_eq!(
        schema["properties"]["expiration"]["type"], "integer",
        "{schema}"
    );
    assert_eq!(
        schema["properties"]["expiration"]["format"], "int64",
        "{schema}"
    );
    assert_eq!(
        schema["required"],
        json!(["policy", "expiration"]),
        "{schema}"
    );
}

#[test]
fn plugin_logs_reach_server_log_without_secrets() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let options = Options {
        log_level: "debug",
        env: vec![("RATLS_LOG_LEVEL", "debug".to_owned())],
    };
    let bao = Bao::with_plugin_opts(&["ratls"], &options);
    let expiration = now() + 600;
    let mut ids = Vec::new();
    for round in 0..2 {
        let before = now();
        let resp = bao.put(
            "auth/ratls/totp",
            &json!({"policy": "log-policy", "expiration": expiration, "uuid": "caller-chosen"}),
        );
        let data = expect::created(
            &resp,
            "log-policy",
            expiration,
            before,
            Some(&[expect::UUID_IGNORED]),
        );
        ids.push(data["uuid"].as_str().unwrap().to_owned());
        if round == 0 {
            expect::deleted(
                &bao.delete(&format!("auth/ratls/totp/{}", ids[0])),
                "delete",
            );
        }
    }
    let body = bao.cli_json(&[
        "write",
        "-format=json",
        "auth/ratls/totp",
        "policy=log-policy",
        &format!("expiration={expiration}"),
    ]);
    ids.push(body["data"]["uuid"].as_str().unwrap().to_owned());

    // The plugin's stderr is relayed line by line; wait for all three creates.
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = bao.log();
        if log.matches("created a TOTP entry").count() >= 3 && log.contains("deleted a TOTP entry")
        {
            break log;
        }
        assert!(Instant::now() < deadline, "plugin lines missing:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    };

    let created: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("created a TOTP entry"))
        .collect();
    assert_eq!(created.len(), 3, "{created:#?}");
    for line in &created {
        // Re-logged at the plugin's level (per-request events are debug),
        // under the mount's plugin logger, with the structured fields as
        // key=value.
        assert!(
            line.contains(" [DEBUG] auth.vault-plugin-auth-ratls."),
            "{line}"
        );
        assert!(line.contains("policy=log-policy"), "{line}");
        assert!(line.contains(&format!("expiration={expiration}")), "{line}");
    }
    let deleted: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("deleted a TOTP entry"))
        .collect();
    assert_eq!(deleted.len(), 1, "{deleted:#?}");
    assert!(deleted[0].contains(" [DEBUG] "), "{}", deleted[0]);
    // A change of the mount's state (here its first write) is info.
    let made_key: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("made the mount key"))
        .collect();
    assert_eq!(made_key.len(), 1, "{made_key:#?}");
    assert!(
        made_key[0].contains(" [INFO]  auth.vault-plugin-auth-ratls."),
        "{}",
        made_key[0]
    );

    // The plugin's lines are parsed, not relayed raw, and none is a problem.
    let plugin_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("vault-plugin-auth-ratls.vault-plugin-auth-ratls:"))
        .collect();
    assert!(plugin_lines.len() >= 4, "{plugin_lines:#?}");
    for line in &plugin_lines {
        assert!(
            !line.contains("@message") && !line.contains("@level"),
            "raw JSON: {line}"
        );
        assert!(
            !line.contains("[ERROR]") && !line.contains("[WARN]"),
            "{line}"
        );
    }

    // No secret in the log: neither an entry's uuid (nor its base32 form, the
    // otpauth secret) nor the root token.
    for id in &ids {
        assert!(
            !log.contains(id.as_str()),
            "entry uuid {id} in the server log"
        );
        let secret = expect::base32(id.as_bytes());
        assert!(
            !log.contains(&secret),
            "otpauth secret of {id} in the server log"
        );
    }
    assert!(
        !log.contains(&bao.root_token),
        "root token in the server log"
    );
}
