//! Handler tests through the single entry point (`dispatch`), on in-memory
//! storage with a fixed clock: every request is decoded, routed and
//! validated exactly as over gRPC.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{Endpoint, INFO, RatlsBackend};
use crate::domain::clock::FixedClock;
use crate::protocol::memory::MemStorage;
use crate::protocol::server::dispatch;
use crate::protocol::system_view::StaticSystemView;
use crate::protocol::{Error, Operation, Request, Response, Router, Storage};

const NOW: i64 = 1_800_000_000;
const MAX_TTL: u64 = 3600;

struct Harness {
    storage: Arc<MemStorage>,
    backend: RatlsBackend,
    router: Router<Endpoint>,
}

impl Harness {
    fn new() -> Self {
        let storage = Arc::new(MemStorage::new());
        let backend = RatlsBackend::new(
            storage.clone(),
            Arc::new(StaticSystemView {
                max_lease_ttl: Duration::from_secs(MAX_TTL),
            }),
            Arc::new(FixedClock(NOW)),
        );
        Self {
            storage,
            backend,
            router: Router::new(INFO.paths).unwrap(),
        }
    }

    async fn call(
        &self,
        operation: Operation,
        path: &str,
        body: Value,
    ) -> Result<Option<Response>, Error> {
        let data = match body {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        dispatch(
            &self.backend,
            &self.router,
            Request::new(operation, path).with_data(data),
        )
        .await
    }

    async fn create(&self, body: Value) -> Response {
        self.call(Operation::Create, "totp", body)
            .await
            .unwrap()
            .unwrap()
    }

    async fn stored(&self, uuid: &str) -> Option<Value> {
        let bytes = self.storage.get(&format!("totp/{uuid}")).await.unwrap()?;
        Some(serde_json::from_slice(&bytes).unwrap())
    }
}

fn assert_error(response: &Response, status: u16, errors: Value) {
    assert_eq!(response.raw_status(), Some(status), "{response:?}");
    let body = response.raw_body().unwrap();
    assert_eq!(body["statusCode"], status);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid request parameters: ")
    );
    assert_eq!(body["errors"], errors, "{body}");
    assert_eq!(
        body.as_object().unwrap().len(),
        3,
        "only statusCode, message, errors: {body}"
    );
}

#[tokio::test]
async fn create_stores_and_answers_the_entry() {
    let h = Harness::new();
    let response = h
        .create(json!({"policy": "text", "expiration": NOW + 60}))
        .await;
    assert_eq!(response.raw_status(), None);
    assert!(response.warnings.is_empty());
    let data = Value::Object(response.data.clone());
    let uuid = data["uuid"].as_str().unwrap();
    assert_eq!(
        data,
        json!({"uuid": uuid, "created": NOW, "expiration": NOW + 60, "policy": "text"})
    );
    assert_eq!(h.stored(uuid).await, Some(data.clone()));
    assert_eq!(h.storage.keys(), vec![format!("totp/{uuid}")]);
}

#[tokio::test]
async fn create_accepts_cli_strings_and_ignores_generated_fields() {
    let h = Harness::new();
    let response = h
        .create(json!({"policy": "p", "expiration": (NOW + 1).to_string(), "created": 0, "uuid": "text", "color": "red"}))
        .await;
    assert_eq!(response.data["expiration"], NOW + 1);
    assert_eq!(response.data["created"], NOW);
    assert_ne!(response.data["uuid"], "text");
    assert_eq!(
        response.warnings,
        [
            "'created' was ignored: the plugin generates it",
            "'uuid' was ignored: the plugin generates it",
            "Endpoint ignored these unrecognized parameters: [color]",
        ]
    );
}

#[tokio::test]
async fn every_create_makes_a_new_entry() {
    let h = Harness::new();
    let body = json!({"policy": "p", "expiration": NOW + 10});
    let first = h.create(body.clone()).await;
    let second = h.create(body).await;
    assert_ne!(first.data["uuid"], second.data["uuid"]);
    assert_eq!(h.storage.keys().len(), 2);
}

#[tokio::test]
async fn bad_create_bodies_answer_400_and_write_nothing() {
    let long = "p".repeat(129);
    let cases = [
        (
            json!({}),
            json!({"expiration": "Missing required field", "policy": "Missing required field"}),
        ),
        (
            json!({"expiration": NOW + 10}),
            json!({"policy": "Missing required field"}),
        ),
        (
            json!({"policy": "p"}),
            json!({"expiration": "Missing required field"}),
        ),
        (
            json!({"policy": 5, "expiration": NOW + 10}),
            json!({"policy": "must be a string"}),
        ),
        (
            json!({"policy": null, "expiration": NOW + 10}),
            json!({"policy": "must be a string"}),
        ),
        (
            json!({"policy": ["p"], "expiration": NOW + 10}),
            json!({"policy": "must be a string"}),
        ),
        (
            json!({"policy": "", "expiration": NOW + 10}),
            json!({"policy": "must not be empty"}),
        ),
        (
            json!({"policy": long, "expiration": NOW + 10}),
            json!({"policy": "is too long"}),
        ),
        (
            json!({"policy": "a b", "expiration": NOW + 10}),
            json!({"policy": "must not contain whitespace or control characters"}),
        ),
        (
            json!({"policy": "a\u{0}", "expiration": NOW + 10}),
            json!({"policy": "must not contain whitespace or control characters"}),
        ),
        (
            json!({"policy": "p", "expiration": "soon"}),
            json!({"expiration": "must be an integer"}),
        ),
        (
            json!({"policy": "p", "expiration": "1.5"}),
            json!({"expiration": "must be an integer"}),
        ),
        (
            json!({"policy": "p", "expiration": 1.5}),
            json!({"expiration": "must be an integer"}),
        ),
        (
            json!({"policy": "p", "expiration": true}),
            json!({"expiration": "must be an integer"}),
        ),
        (
            json!({"policy": "p", "expiration": {"at": 1}}),
            json!({"expiration": "must be an integer"}),
        ),
        (
            json!({"policy": "p", "expiration": "99999999999999999999"}),
            json!({"expiration": "is out of range"}),
        ),
        (
            json!({"policy": "p", "expiration": 0}),
            json!({"expiration": "must be in the future"}),
        ),
        (
            json!({"policy": "p", "expiration": -1}),
            json!({"expiration": "must be in the future"}),
        ),
        (
            json!({"policy": "p", "expiration": NOW}),
            json!({"expiration": "must be in the future"}),
        ),
        (
            json!({"policy": "p", "expiration": NOW + 3601}),
            json!({"expiration": "exceeds the mount's max lease TTL"}),
        ),
        (
            json!({"policy": 1, "expiration": 0}),
            json!({"expiration": "must be in the future", "policy": "must be a string"}),
        ),
        // The source document's sample body.
        (
            json!({"created": 0, "expiration": 0, "policy": "text", "uuid": "text"}),
            json!({"expiration": "must be in the future"}),
        ),
    ];
    for (body, errors) in cases {
        let h = Harness::new();
        let response = h.create(body.clone()).await;
        assert_error(&response, 400, errors);
        assert!(h.storage.keys().is_empty(), "{body} wrote something");
    }
}

#[tokio::test]
async fn boundaries_of_expiration_are_accepted() {
    let h = Harness::new();
    for expiration in [NOW + 1, NOW + MAX_TTL as i64] {
        let response = h
            .create(json!({"policy": "p", "expiration": expiration}))
            .await;
        assert_eq!(response.data["expiration"], expiration);
    }
}

#[tokio::test]
async fn delete_is_idempotent() {
    let h = Harness::new();
    let created = h
        .create(json!({"policy": "p", "expiration": NOW + 10}))
        .await;
    let uuid = created.data["uuid"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let response = h
            .call(Operation::Delete, &format!("totp/{uuid}"), Value::Null)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(response, Response::default());
        assert_eq!(h.stored(&uuid).await, None);
    }
}

#[tokio::test]
async fn delete_refuses_missing_and_malformed_uuids() {
    let h = Harness::new();
    h.create(json!({"policy": "p", "expiration": NOW + 10}))
        .await;
    for path in ["totp", "totp/"] {
        let response = h
            .call(Operation::Delete, path, Value::Null)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            response.raw_body().unwrap(),
            json!({
                "statusCode": 400,
                "message": "Invalid request parameters: 'uuid' is required and must be a string.",
                "errors": {"uuid": "Missing required field"}
            })
        );
    }
    for path in [
        "totp/text",
        "totp/{totp-uuid}",
        "totp/1B4E28BA-2FA1-41D2-883F-0016D3CCA427",
        "totp/{1b4e28ba-2fa1-41d2-883f-0016d3cca427}",
        "totp/1b4e28ba-2fa1-41d2-883f-0016d3cca427/",
        "totp/../totp",
    ] {
        let response = h
            .call(Operation::Delete, path, Value::Null)
            .await
            .unwrap()
            .unwrap();
        assert_error(&response, 400, json!({"uuid": "must be a UUID"}));
    }
    assert_eq!(h.storage.keys().len(), 1);
}

#[tokio::test]
async fn storage_failures_answer_500_in_the_documented_shape() {
    let h = Harness::new();
    h.storage.fail_with(Some("barrier sealed"));
    let response = h
        .create(json!({"policy": "p", "expiration": NOW + 10}))
        .await;
    assert_eq!(response.raw_status(), Some(500));
    let body = response.raw_body().unwrap();
    assert_eq!(body["statusCode"], 500);
    assert!(body.get("errors").is_none());
    let response = h
        .call(
            Operation::Delete,
            "totp/1b4e28ba-2fa1-41d2-883f-0016d3cca427",
            Value::Null,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.raw_status(), Some(500));
}

#[tokio::test]
async fn unknown_paths_and_operations_are_vault_errors() {
    let h = Harness::new();
    let cases = [
        (Operation::Read, "nope", Error::UnsupportedPath),
        (Operation::Create, "totpx", Error::UnsupportedPath),
        (Operation::Create, "", Error::UnsupportedPath),
        (Operation::Update, "totp", Error::UnsupportedOperation),
        (
            Operation::Read,
            "totp/1b4e28ba-2fa1-41d2-883f-0016d3cca427",
            Error::UnsupportedOperation,
        ),
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
    assert_eq!(paths.keys().collect::<Vec<_>>(), ["/totp", "/totp/{uuid}"]);
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
            .contains("Delete TOTP entries.")
    );
    assert_eq!(
        h.call(Operation::Help, "nope", Value::Null).await,
        Err(Error::UnsupportedPath)
    );
}

#[test]
fn routing_table() {
    let router = Router::new(INFO.paths).unwrap();
    let route = |path: &str| {
        router
            .route(path)
            .map(|(spec, captures)| (spec.endpoint, captures.get("uuid").cloned()))
    };
    assert_eq!(route("totp"), Some((Endpoint::Totp, None)));
    assert_eq!(route("totp/"), Some((Endpoint::Totp, None)));
    assert_eq!(
        route("totp/abc"),
        Some((Endpoint::TotpEntry, Some("abc".into())))
    );
    assert_eq!(
        route("totp/a/b"),
        Some((Endpoint::TotpEntry, Some("a/b".into())))
    );
    assert_eq!(route("totpx"), None);
    assert_eq!(route("xtotp"), None);
    assert_eq!(route("/totp"), None);
    assert_eq!(route(""), None);
}

#[test]
fn path_table_is_consistent() {
    for spec in INFO.paths {
        let regex = regex::Regex::new(spec.pattern).unwrap();
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
            spec.existence_check,
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
