//! `totp` create: answers, stored form, validation.

use super::*;

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
    let accessor = data["accessor"].as_str().unwrap().to_owned();
    assert_ne!(accessor, uuid);
    assert_eq!(accessor, h.derived_accessor(&uuid).await);
    let url = data.as_object_mut().unwrap().remove("otpauth_url").unwrap();
    assert!(
        url.as_str()
            .unwrap()
            .starts_with("otpauth://totp/Nitride:text?secret=")
    );
    assert_eq!(
        data,
        json!({"uuid": uuid, "accessor": accessor, "created": NOW, "expiration": NOW + 60, "policy": "text"})
    );
    assert_eq!(h.stored(&uuid).await, Some(data.clone()));
    let grant = h.grant_id(&uuid).await;
    let keys = h.entry_keys();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0], format!("entry/{accessor}"));
    assert!(keys[1].starts_with(&format!("index/74657874/{grant}.")));
    assert_eq!(
        h.storage.keys(),
        [keys, vec!["meta/key".into(), "meta/layout".into()]]
            .concat()
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
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
    assert_ne!(first.data["accessor"], second.data["accessor"]);
    assert_eq!(h.entry_keys().len(), 4);
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
    for expiration in [NOW + 1, NOW + MAX_TTL] {
        let response = h
            .create(json!({"policy": "p", "expiration": expiration}))
            .await;
        assert_eq!(response.data["expiration"], expiration);
    }
}
