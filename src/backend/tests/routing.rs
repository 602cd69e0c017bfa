//! The path table: routing, 404/405, help and OpenAPI.

use super::*;
use crate::protocol::PathSpec;

#[tokio::test]
async fn unknown_paths_and_operations_are_vault_errors() {
    let h = Harness::new();
    let cases = [
        (Operation::Read, "nope", Error::UnsupportedPath),
        (Operation::Create, "totpx", Error::UnsupportedPath),
        (Operation::Create, "", Error::UnsupportedPath),
        (Operation::Update, "totp", Error::UnsupportedOperation),
        (
            Operation::Update,
            "totp/1b4e28ba-2fa1-41d2-883f-0016d3cca427",
            Error::UnsupportedOperation,
        ),
        (Operation::Read, "totp/redeem", Error::UnsupportedOperation),
        (
            Operation::Delete,
            "totp/verify",
            Error::UnsupportedOperation,
        ),
        (Operation::Read, "tidy", Error::UnsupportedOperation),
        (Operation::List, "totp", Error::UnsupportedOperation),
        (Operation::Patch, "totp", Error::UnsupportedOperation),
        (Operation::Other, "totp", Error::UnsupportedOperation),
        (Operation::ResolvePath, "totp", Error::UnsupportedOperation),
    ];
    for (operation, path, error) in cases {
        assert_eq!(
            h.call(operation, path, Value::Null).await,
            Err(error),
            "{operation:?} {path}"
        );
    }
    assert!(h.storage.keys().is_empty());
}

#[tokio::test]
async fn rollback_succeeds_without_a_response() {
    let h = Harness::new();
    assert_eq!(h.call(Operation::Rollback, "", Value::Null).await, Ok(None));
}

#[tokio::test]
async fn help_describes_every_path_with_openapi() {
    let h = Harness::new();
    let root = h
        .call(Operation::Help, "", Value::Null)
        .await
        .unwrap()
        .unwrap();
    let openapi = &root.data["openapi"];
    assert_eq!(openapi["openapi"], "3.0.2");
    assert_eq!(openapi["info"]["version"], crate::PLUGIN_VERSION);
    let paths = openapi["paths"].as_object().unwrap();
    assert_eq!(
        paths.keys().collect::<Vec<_>>(),
        [
            "/totp",
            "/totp/",
            "/totp/lookup",
            "/totp/accessor/{accessor}",
            "/totp/accessor/{accessor}/code",
            "/totp/redeem",
            "/totp/verify",
            "/totp/{uuid}/code",
            "/totp/{uuid}",
            "/tidy",
            "/config",
            "/lockouts/",
            "/lockouts/policy/{policy}",
            "/lockouts/entry/{accessor}"
        ]
    );
    assert_eq!(paths["/totp/"]["get"]["operationId"], "ratls-list-totp");
    assert_eq!(
        paths["/totp/verify"]["post"]["operationId"],
        "ratls-verify-totp"
    );
    assert_eq!(paths["/totp"]["post"]["operationId"], "ratls-create-totp");
    assert_eq!(
        paths["/totp/{uuid}"]["delete"]["operationId"],
        "ratls-delete-totp"
    );
    assert_eq!(paths["/totp/{uuid}"]["parameters"][0]["name"], "uuid");
    let schema = &openapi["components"]["schemas"]["RatlsCreateTotpRequest"];
    assert_eq!(schema["properties"]["expiration"]["format"], "int64");
    assert_eq!(schema["required"], json!(["policy", "expiration"]));
    assert!(root.data["help"].as_str().unwrap().contains("totp/{uuid}"));

    let totp = h
        .call(Operation::Help, "totp", Value::Null)
        .await
        .unwrap()
        .unwrap();
    let help = totp.data["help"].as_str().unwrap();
    for word in ["policy (string)", "expiration (int)", "## DESCRIPTION"] {
        assert!(help.contains(word), "{help}");
    }
    assert_eq!(totp.data["openapi"]["paths"].as_object().unwrap().len(), 1);
    let entry = h
        .call(Operation::Help, "totp/abc", Value::Null)
        .await
        .unwrap()
        .unwrap();
    assert!(
        entry.data["help"]
            .as_str()
            .unwrap()
            .contains("Read and delete TOTP entries by uuid.")
    );
    assert_eq!(
        h.call(Operation::Help, "nope", Value::Null).await,
        Err(Error::UnsupportedPath)
    );
}

/// A request path for each row: its display form with sample captures.
fn sample_path(spec: &PathSpec<RatlsBackend>) -> String {
    spec.display
        .replace("{uuid}", "1b4e28ba-2fa1-41d2-883f-0016d3cca427")
        .replace("{accessor}", "0e9b3f4c-3f1e-4f7a-8d2b-6a1c9e2f4b10")
        .replace("{policy}", "ns/app")
}

#[test]
fn routing_table() {
    let router = Router::new(INFO.paths).unwrap();
    let route = |path: &str| {
        router
            .route(path)
            .map(|(spec, captures)| (spec.display, captures.get("uuid").cloned()))
    };
    assert_eq!(route("totp"), Some(("totp", None)));
    assert_eq!(route("totp/abc"), Some(("totp/{uuid}", Some("abc".into()))));
    assert_eq!(route("totp/a/b"), Some(("totp/{uuid}", Some("a/b".into()))));
    assert_eq!(route("totp/redeem"), Some(("totp/redeem", None)));
    assert_eq!(route("totp/lookup"), Some(("totp/lookup", None)));
    assert_eq!(
        route("totp/accessor/abc"),
        Some(("totp/accessor/{accessor}", None))
    );
    assert_eq!(
        route("totp/accessor/abc/code"),
        Some(("totp/accessor/{accessor}/code", None))
    );
    assert_eq!(
        route("totp/accessor"),
        Some(("totp/{uuid}", Some("accessor".into())))
    );
    assert_eq!(route("totp/verify"), Some(("totp/verify", None)));
    assert_eq!(
        route("totp/abc/code"),
        Some(("totp/{uuid}/code", Some("abc".into())))
    );
    assert_eq!(route("totpx"), None);
    assert_eq!(route("xtotp"), None);
    assert_eq!(route("/totp"), None);
    assert_eq!(route(""), None);
}

#[test]
fn table_order_does_not_matter() {
    let probes: Vec<String> = INFO
        .paths
        .iter()
        .map(sample_path)
        .chain(
            [
                "totp/redeem/code",
                "totp/verify/code",
                "totp/x/code/code",
                "totp/accessor/code",
                "totp/accessor/x/y",
                "totp/lookup/code",
            ]
            .map(String::from),
        )
        .collect();
    let canonical = Router::new(INFO.paths).unwrap();
    let expected: Vec<_> = probes
        .iter()
        .map(|p| canonical.route(p).map(|(spec, c)| (spec.display, c)))
        .collect();
    let count = INFO.paths.len();
    let mut orders: Vec<Vec<usize>> = (0..count)
        .map(|shift| (0..count).map(|i| (i + shift) % count).collect())
        .collect();
    orders.extend(
        orders
            .clone()
            .into_iter()
            .map(|order| order.into_iter().rev().collect::<Vec<_>>()),
    );
    for order in orders {
        let router = Router::from_specs(order.iter().map(|&i| &INFO.paths[i])).unwrap();
        let routed: Vec<_> = probes
            .iter()
            .map(|p| router.route(p).map(|(spec, c)| (spec.display, c)))
            .collect();
        assert_eq!(routed, expected, "order {order:?}");
    }
}

#[tokio::test]
async fn every_declared_operation_reaches_its_handler_and_no_other_does() {
    let operations = [
        Operation::Create,
        Operation::Read,
        Operation::Update,
        Operation::Patch,
        Operation::Delete,
        Operation::List,
        Operation::Other,
    ];
    let router = Router::new(INFO.paths).unwrap();
    for spec in INFO.paths {
        let path = sample_path(spec);
        let (routed, _) = router.route(&path).unwrap();
        assert!(
            std::ptr::eq(routed, spec),
            "{path} routes to {}",
            routed.display
        );
        for operation in operations {
            let h = Harness::new();
            let body = json!({"policy": "p", "expiration": NOW + 10, "code": "123456",
                "uuid": "1b4e28ba-2fa1-41d2-883f-0016d3cca427"});
            let result = h.call(operation, &path, body).await;
            match spec.operation(operation) {
                Some(_) => assert!(
                    matches!(result, Ok(Some(_))),
                    "{operation:?} {path}: {result:?}"
                ),
                None => assert_eq!(
                    result,
                    Err(Error::UnsupportedOperation),
                    "{operation:?} {path}"
                ),
            }
        }
    }
}

#[test]
fn path_table_is_consistent() {
    for spec in INFO.paths {
        let regex = regex_lite::Regex::new(spec.pattern).unwrap();
        assert!(regex.is_match(&sample_path(spec)), "{}", spec.display);
        // Every capture is a declared path field, and every path field is captured.
        let captures: Vec<&str> = regex.capture_names().flatten().collect();
        let path_fields: Vec<&str> = spec
            .fields
            .iter()
            .filter(|f| f.in_path)
            .map(|f| f.name)
            .collect();
        assert_eq!(captures, path_fields, "{}", spec.pattern);
        assert!(!spec.operations.is_empty());
        assert!(!spec.synopsis.is_empty() && !spec.description.trim().is_empty());
        for op in spec.operations {
            assert!(op.id.starts_with("ratls-"), "{}", op.id);
        }
        // Existence checks only make sense where creates happen.
        assert_eq!(
            spec.existence_check.is_some(),
            spec.operation(Operation::Create).is_some(),
            "{}",
            spec.pattern
        );
    }
    let ids: Vec<&str> = INFO
        .paths
        .iter()
        .flat_map(|s| s.operations.iter().map(|o| o.id))
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(ids.len(), unique.len(), "operation ids must be unique");
}
