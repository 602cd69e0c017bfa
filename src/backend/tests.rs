//! Handler tests through the single entry point (`dispatch`), on in-memory
//! storage with a fixed clock: every request is decoded, routed and
//! validated exactly as over gRPC.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{Endpoint, INFO, RatlsBackend};
use crate::domain::EntryId;
use crate::domain::clock::ManualClock;
use crate::domain::code::{PERIOD, current_code};
use crate::protocol::memory::MemStorage;
use crate::protocol::server::dispatch;
use crate::protocol::system_view::StaticSystemView;
use crate::protocol::{Error, Operation, ReplicationState, Request, Response, Router, Storage};

const NOW: i64 = 1_800_000_000;
const MAX_TTL: u64 = 3600;

struct Harness {
    storage: Arc<MemStorage>,
    clock: Arc<ManualClock>,
    backend: RatlsBackend,
    router: Router<Endpoint>,
}

impl Harness {
    fn new() -> Self {
        Self::with(Arc::new(MemStorage::new()), ReplicationState(12288))
    }

    /// A backend on `storage`, as after a plugin restart.
    fn with(storage: Arc<MemStorage>, replication_state: ReplicationState) -> Self {
        let clock = Arc::new(ManualClock::new(NOW));
        let backend = RatlsBackend::new(
            storage.clone(),
            Arc::new(StaticSystemView {
                max_lease_ttl: Duration::from_secs(MAX_TTL),
                replication_state,
            }),
            clock.clone(),
        );
        Self {
            storage,
            clock,
            backend,
            router: Router::new(INFO.paths).unwrap(),
        }
    }

    async fn data(&self, operation: Operation, path: &str, body: Value) -> Value {
        let response = self.call(operation, path, body).await.unwrap().unwrap();
        assert_eq!(response.raw_status(), None, "{response:?}");
        Value::Object(response.data)
    }

    async fn new_entry(&self, policy: &str, expiration: i64) -> String {
        let response = self
            .create(json!({"policy": policy, "expiration": expiration}))
            .await;
        response.data["uuid"].as_str().unwrap().to_owned()
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
    let mut data = Value::Object(response.data.clone());
    let uuid = data["uuid"].as_str().unwrap().to_owned();
    let url = data.as_object_mut().unwrap().remove("otpauth_url").unwrap();
    assert!(
        url.as_str()
            .unwrap()
            .starts_with("otpauth://totp/Nitride:text?secret=")
    );
    assert_eq!(
        data,
        json!({"uuid": uuid, "created": NOW, "expiration": NOW + 60, "policy": "text"})
    );
    assert_eq!(h.stored(&uuid).await, Some(data.clone()));
    assert_eq!(
        h.storage.keys(),
        vec![format!("policy/74657874/{uuid}"), format!("totp/{uuid}")]
    );
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
    assert_eq!(h.storage.keys().len(), 4);
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
    assert_eq!(h.storage.keys().len(), 2);
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
            "/totp/redeem",
            "/totp/verify",
            "/totp/{uuid}/code",
            "/totp/{uuid}",
            "/tidy"
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
            .contains("Read and delete TOTP entries.")
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

#[tokio::test]
async fn read_answers_live_entries_and_404_otherwise() {
    let h = Harness::new();
    let uuid = h.new_entry("p", NOW + 60).await;
    let data = h
        .data(Operation::Read, &format!("totp/{uuid}"), Value::Null)
        .await;
    assert_eq!(
        data,
        json!({"uuid": uuid, "created": NOW, "expiration": NOW + 60, "policy": "p"})
    );

    let not_found = |response: Response| {
        assert_eq!(response.raw_status(), Some(404));
        let body = response.raw_body().unwrap();
        assert_eq!(body["statusCode"], 404);
        assert!(body.get("errors").is_none());
    };
    let unknown = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";
    not_found(
        h.call(Operation::Read, &format!("totp/{unknown}"), Value::Null)
            .await
            .unwrap()
            .unwrap(),
    );
    // Expired: gone at once, though still in storage until tidy.
    h.clock.set(NOW + 60);
    not_found(
        h.call(Operation::Read, &format!("totp/{uuid}"), Value::Null)
            .await
            .unwrap()
            .unwrap(),
    );
    assert!(h.stored(&uuid).await.is_some());
    let response = h
        .call(Operation::Read, "totp/NOT-A-UUID", Value::Null)
        .await
        .unwrap()
        .unwrap();
    assert_error(&response, 400, json!({"uuid": "must be a UUID"}));
}

#[tokio::test]
async fn list_pages_through_live_entries() {
    let h = Harness::new();
    let mut live = Vec::new();
    for i in 0..5 {
        live.push(h.new_entry(&format!("p{i}"), NOW + 100).await);
    }
    let expiring = h.new_entry("short", NOW + 10).await;
    live.sort();

    let all = h.data(Operation::List, "totp/", Value::Null).await;
    let mut with_expiring = live.clone();
    with_expiring.push(expiring.clone());
    with_expiring.sort();
    assert_eq!(all["keys"], json!(with_expiring));
    assert_eq!(
        all["key_info"][&expiring],
        json!({"created": NOW, "expiration": NOW + 10, "policy": "short"})
    );

    h.clock.set(NOW + 10);
    let all = h.data(Operation::List, "totp/", Value::Null).await;
    assert_eq!(all["keys"], json!(live));
    assert_eq!(all["key_info"].as_object().unwrap().len(), 5);

    let page = h
        .data(Operation::List, "totp/", json!({"limit": "2"}))
        .await;
    assert_eq!(page["keys"], json!(live[..2]));
    let page = h
        .data(
            Operation::List,
            "totp/",
            json!({"after": live[1], "limit": 2}),
        )
        .await;
    assert_eq!(page["keys"], json!(live[2..4]));
    let page = h
        .data(
            Operation::List,
            "totp/",
            json!({"after": live[3], "limit": -1}),
        )
        .await;
    assert_eq!(page["keys"], json!(live[4..]));
    let empty = h
        .data(Operation::List, "totp/", json!({"after": live[4]}))
        .await;
    assert_eq!(
        empty,
        json!({}),
        "an empty list has no keys (Vault answers 404)"
    );
    let response = h
        .call(Operation::List, "totp/", json!({"limit": "many"}))
        .await
        .unwrap()
        .unwrap();
    assert_error(&response, 400, json!({"limit": "must be an integer"}));
}

#[tokio::test]
async fn redeem_consumes_exactly_once() {
    let h = Harness::new();
    let uuid = h.new_entry("p", NOW + 60).await;
    let redeem = |policy: &str| json!({"uuid": uuid, "policy": policy});
    // Another policy neither succeeds nor consumes.
    assert_eq!(
        h.data(Operation::Update, "totp/redeem", redeem("q")).await,
        json!({"valid": false})
    );
    assert!(h.stored(&uuid).await.is_some());
    assert_eq!(
        h.data(Operation::Update, "totp/redeem", redeem("p")).await,
        json!({"valid": true})
    );
    assert!(
        h.storage.keys().is_empty(),
        "entry and index removed: {:?}",
        h.storage.keys()
    );
    assert_eq!(
        h.data(Operation::Update, "totp/redeem", redeem("p")).await,
        json!({"valid": false})
    );

    let expired = h.new_entry("p", NOW + 5).await;
    h.clock.set(NOW + 5);
    let body = json!({"uuid": expired, "policy": "p"});
    assert_eq!(
        h.data(Operation::Update, "totp/redeem", body).await,
        json!({"valid": false})
    );

    let response = h
        .call(Operation::Update, "totp/redeem", json!({"uuid": "x"}))
        .await
        .unwrap()
        .unwrap();
    assert_error(
        &response,
        400,
        json!({"policy": "Missing required field", "uuid": "must be a UUID"}),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_redemptions_have_one_winner() {
    let h = Arc::new(Harness::new());
    let uuid = h.new_entry("p", NOW + 60).await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (h, uuid) = (h.clone(), uuid.clone());
            tokio::spawn(async move {
                let data = h
                    .data(
                        Operation::Update,
                        "totp/redeem",
                        json!({"uuid": uuid, "policy": "p"}),
                    )
                    .await;
                data["valid"].as_bool().unwrap()
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn codes_verify_once_and_survive_restarts() {
    let h = Harness::new();
    let uuid = h.new_entry("p", NOW + 600).await;
    let id = EntryId::parse(&uuid).unwrap();
    let data = h
        .data(Operation::Read, &format!("totp/{uuid}/code"), Value::Null)
        .await;
    let code = current_code(&id, NOW);
    assert_eq!(
        data,
        json!({"code": code.code, "period": PERIOD, "expire_time": code.expire_time})
    );

    let verify = |policy: &str, code: &str| json!({"policy": policy, "code": code});
    let wrong = if code.code == "000000" {
        "000001"
    } else {
        "000000"
    };
    // Wrong codes and other policies change nothing.
    assert_eq!(
        h.data(Operation::Update, "totp/verify", verify("p", wrong))
            .await,
        json!({"valid": false})
    );
    assert_eq!(
        h.data(Operation::Update, "totp/verify", verify("q", &code.code))
            .await,
        json!({"valid": false})
    );
    assert!(
        h.storage
            .get(&format!("used/{uuid}"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        h.data(Operation::Update, "totp/verify", verify("p", &code.code))
            .await,
        json!({"valid": true})
    );
    assert_eq!(
        h.data(Operation::Update, "totp/verify", verify("p", &code.code))
            .await,
        json!({"valid": false})
    );

    // A new backend on the same storage (a plugin restart) still refuses it.
    let restarted = Harness::with(h.storage.clone(), ReplicationState(12288));
    assert_eq!(
        restarted
            .data(Operation::Update, "totp/verify", verify("p", &code.code))
            .await,
        json!({"valid": false})
    );
    // The next step's code is accepted once, then an older one no longer.
    let next = current_code(&id, NOW + 30);
    restarted.clock.set(NOW + 30);
    assert_eq!(
        restarted
            .data(Operation::Update, "totp/verify", verify("p", &next.code))
            .await,
        json!({"valid": true})
    );
    let previous = current_code(&id, NOW);
    assert_eq!(
        restarted
            .data(
                Operation::Update,
                "totp/verify",
                verify("p", &previous.code)
            )
            .await,
        json!({"valid": false})
    );

    // Expired entries verify nothing and have no code.
    restarted.clock.set(NOW + 600);
    let late = current_code(&id, NOW + 600);
    assert_eq!(
        restarted
            .data(Operation::Update, "totp/verify", verify("p", &late.code))
            .await,
        json!({"valid": false})
    );
    let response = restarted
        .call(Operation::Read, &format!("totp/{uuid}/code"), Value::Null)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.raw_status(), Some(404));

    for (body, errors) in [
        (
            json!({"policy": "p", "code": "12345"}),
            json!({"code": "must be 6 digits"}),
        ),
        (
            json!({"policy": "p", "code": 123456}),
            json!({"code": "must be a string"}),
        ),
        (
            json!({"code": "123456"}),
            json!({"policy": "Missing required field"}),
        ),
    ] {
        let response = h
            .call(Operation::Update, "totp/verify", body)
            .await
            .unwrap()
            .unwrap();
        assert_error(&response, 400, errors);
    }
}

#[tokio::test]
async fn tidy_and_rollback_remove_expired_entries() {
    let h = Harness::new();
    let keep = h.new_entry("p", NOW + 600).await;
    h.new_entry("p", NOW + 10).await;
    h.clock.set(NOW + 10);
    let report = h.data(Operation::Update, "tidy", Value::Null).await;
    assert_eq!(report["entries_removed"], 1);
    assert_eq!(
        h.storage.keys(),
        [format!("policy/70/{keep}"), format!("totp/{keep}")]
    );

    // Rollback tidies where this node may write, at most every few minutes.
    h.new_entry("p", NOW + 20).await;
    h.clock.set(NOW + 20);
    assert_eq!(h.call(Operation::Rollback, "", Value::Null).await, Ok(None));
    assert_eq!(h.storage.keys().len(), 2);
    h.new_entry("p", NOW + 30).await;
    h.clock.set(NOW + 30);
    h.call(Operation::Rollback, "", Value::Null).await.unwrap();
    assert_eq!(
        h.storage.keys().len(),
        4,
        "throttled: the second rollback does not tidy"
    );

    // A performance standby never writes.
    let standby = Harness::with(Arc::new(MemStorage::new()), ReplicationState(12288 | 16384));
    standby.new_entry("p", NOW + 1).await;
    standby.clock.set(NOW + 1);
    standby
        .call(Operation::Rollback, "", Value::Null)
        .await
        .unwrap();
    assert_eq!(standby.storage.keys().len(), 2);
}

#[tokio::test]
async fn standby_refusals_go_back_to_the_host_for_forwarding() {
    let h = Harness::new();
    let uuid = h.new_entry("p", NOW + 60).await;
    h.storage
        .fail_with(Some("cannot write to readonly storage"));
    let forwarded = Err(Error::Internal("cannot write to readonly storage".into()));
    let create = json!({"policy": "p", "expiration": NOW + 10});
    assert_eq!(h.call(Operation::Create, "totp", create).await, forwarded);
    let delete = format!("totp/{uuid}");
    assert_eq!(
        h.call(Operation::Delete, &delete, Value::Null).await,
        forwarded
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tidies_count_each_removal_once() {
    let h = Arc::new(Harness::new());
    for _ in 0..30 {
        h.new_entry("p", NOW + 5).await;
    }
    h.clock.set(NOW + 5);
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.data(Operation::Update, "tidy", Value::Null).await })
        })
        .collect();
    let mut removed = 0;
    for task in tasks {
        removed += task.await.unwrap()["entries_removed"].as_u64().unwrap();
    }
    assert_eq!(removed, 30);
    assert!(h.storage.keys().is_empty());
}
