//! The lifecycle paths (list, redeem, verify, code, tidy) in `bao path-help`
//! and in OpenBao's merged OpenAPI document.

use serde_json::json;

use crate::harness::Bao;

fn help_contains(bao: &Bao, path: &str, needles: &[&str]) {
    let help = bao.cli_ok(&["path-help", path]);
    for needle in needles {
        assert!(
            help.contains(needle),
            "path-help {path} lacks {needle:?}:\n{help}"
        );
    }
}

#[test]
fn help_and_openapi_describe_the_lifecycle_paths() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls"]);
    let id = uuid::Uuid::new_v4();

    help_contains(
        &bao,
        "auth/ratls/totp/verify",
        &[
            "Matching Route: ^totp/verify$",
            "Verify TOTP codes.",
            "policy (string)",
            "code (string)",
            "The 6-digit code, as a string.",
            "vault write auth/ratls/totp/verify policy=my-policy code=123456",
        ],
    );
    help_contains(
        &bao,
        "auth/ratls/totp/redeem",
        &[
            "Matching Route: ^totp/redeem$",
            "Redeem TOTP entries.",
            "uuid (string)",
            "policy (string)",
            "exactly once",
            "vault write auth/ratls/totp/redeem uuid=<uuid> policy=my-policy",
        ],
    );
    help_contains(
        &bao,
        &format!("auth/ratls/totp/{id}/code"),
        &[
            "Matching Route: ^totp/(?P<uuid>[^/]+)/code$",
            "Current codes of TOTP entries.",
            "uuid (string)",
            "expire_time",
        ],
    );
    help_contains(
        &bao,
        "auth/ratls/tidy",
        &[
            "Matching Route: ^tidy$",
            "Remove expired entries now.",
            "vault write -f auth/ratls/tidy",
        ],
    );
    // The list path keeps its trailing slash over HTTP only (the CLI strips it).
    let resp = bao.get("auth/ratls/totp/?help=1");
    assert_eq!(resp.status, 200, "{resp:?}");
    let help = resp.json()["help"].as_str().unwrap_or_default().to_owned();
    for needle in [
        "Matching Route: ^totp/$",
        "List TOTP entries.",
        "after (string)",
        "limit (int)",
    ] {
        assert!(help.contains(needle), "list help lacks {needle:?}:\n{help}");
    }

    let resp = bao.get("sys/internal/specs/openapi");
    assert_eq!(resp.status, 200, "{resp:?}");
    let spec = resp.json();
    let paths = spec["paths"].as_object().expect("paths");
    let operation = |path: &str, method: &str| {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("no {path} in {:?}", paths.keys()));
        item[method].clone()
    };
    for (path, method, id) in [
        ("/auth/ratls/totp/", "get", "ratls-list-totp"),
        ("/auth/ratls/totp/redeem", "post", "ratls-redeem-totp"),
        ("/auth/ratls/totp/verify", "post", "ratls-verify-totp"),
        (
            "/auth/ratls/totp/{uuid}/code",
            "get",
            "ratls-read-totp-code",
        ),
        ("/auth/ratls/tidy", "post", "ratls-tidy"),
        ("/auth/ratls/totp/{uuid}", "get", "ratls-read-totp"),
    ] {
        assert_eq!(
            operation(path, method)["operationId"],
            id,
            "{method} {path}: {}",
            paths[path]
        );
    }
    // The list takes `list=true`, `after` and `limit` in the query.
    let parameters = operation("/auth/ratls/totp/", "get")["parameters"].clone();
    let names: Vec<&str> = parameters
        .as_array()
        .expect("list parameters")
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["list", "after", "limit"], "{parameters}");
    for parameter in parameters.as_array().unwrap() {
        assert_eq!(parameter["in"], "query", "{parameter}");
    }
    // The code path names its uuid in the path.
    let code = &paths["/auth/ratls/totp/{uuid}/code"];
    assert_eq!(code["parameters"][0]["name"], "uuid", "{code}");
    assert_eq!(code["parameters"][0]["in"], "path", "{code}");
    // Verify and redeem take their fields in the body, all required.
    for (path, fields) in [
        ("/auth/ratls/totp/verify", json!(["policy", "code"])),
        ("/auth/ratls/totp/redeem", json!(["uuid", "policy"])),
    ] {
        let schema =
            &operation(path, "post")["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(schema["required"], fields, "{path}: {schema}");
        for field in fields.as_array().unwrap() {
            let name = field.as_str().unwrap();
            assert_eq!(
                schema["properties"][name]["type"], "string",
                "{path}: {schema}"
            );
        }
    }
}
