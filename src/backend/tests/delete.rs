//! `totp/<uuid>` delete: idempotent, and the 400s the source API documents.

use super::*;

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
        assert_eq!(
            response.data,
            json!({"deleted": true}).as_object().unwrap().clone()
        );
        assert_eq!(h.stored(&uuid).await, None);
        assert!(h.entry_keys().is_empty(), "{:?}", h.entry_keys());
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
    assert_eq!(h.entry_keys().len(), 2);
}
