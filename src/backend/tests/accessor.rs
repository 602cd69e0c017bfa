//! `totp/accessor/<accessor>`, its `/code`, `totp/lookup` and verify by
//! accessor: everything an operator or a holder needs without a uuid in a
//! path or an answer.

use super::*;

#[tokio::test]
async fn accessor_paths_read_code_and_delete_without_the_uuid() {
    let h = Harness::new();
    let uuid = h.new_entry("p", NOW + 60).await;
    let accessor = h.accessor(&uuid).await;
    let path = format!("totp/accessor/{accessor}");
    let public =
        json!({"accessor": accessor, "created": NOW, "expiration": NOW + 60, "policy": "p"});
    assert_eq!(h.data(Operation::Read, &path, Value::Null).await, public);
    let code = current_code(&EntryId::parse(&uuid).unwrap(), NOW);
    assert_eq!(
        h.data(Operation::Read, &format!("{path}/code"), Value::Null)
            .await,
        json!({"code": code.code, "period": PERIOD, "expire_time": code.expire_time})
    );
    // The holder's lookup, uuid in the body.
    assert_eq!(
        h.data(Operation::Update, "totp/lookup", json!({"uuid": uuid}))
            .await,
        public
    );
    for _ in 0..2 {
        let response = h.call(Operation::Delete, &path, Value::Null).await;
        assert_eq!(response, Ok(Some(super::super::path_totp::deleted())));
        assert!(h.entry_keys().is_empty(), "{:?}", h.entry_keys());
    }
    for (operation, path, body) in [
        (Operation::Read, path.clone(), Value::Null),
        (Operation::Read, format!("{path}/code"), Value::Null),
        (
            Operation::Update,
            "totp/lookup".into(),
            json!({"uuid": uuid}),
        ),
    ] {
        let response = h.call(operation, &path, body).await.unwrap().unwrap();
        assert_eq!(response.raw_status(), Some(404), "{path}");
    }
}

#[tokio::test]
async fn expired_entries_are_gone_by_accessor_too() {
    let h = Harness::new();
    let uuid = h.new_entry("p", NOW + 5).await;
    let accessor = h.accessor(&uuid).await;
    h.clock.set(NOW + 5);
    for path in [
        format!("totp/accessor/{accessor}"),
        format!("totp/accessor/{accessor}/code"),
    ] {
        let response = h
            .call(Operation::Read, &path, Value::Null)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(response.raw_status(), Some(404), "{path}");
    }
    let response = h
        .call(Operation::Update, "totp/lookup", json!({"uuid": uuid}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.raw_status(), Some(404));
}

#[tokio::test]
async fn uuids_and_accessors_do_not_stand_in_for_each_other() {
    let h = Harness::new();
    let uuid = h.new_entry("p", NOW + 60).await;
    let accessor = h.accessor(&uuid).await;
    // A uuid where an accessor belongs, and the reverse: not found.
    for (operation, path, body) in [
        (
            Operation::Read,
            format!("totp/accessor/{uuid}"),
            Value::Null,
        ),
        (
            Operation::Read,
            format!("totp/accessor/{uuid}/code"),
            Value::Null,
        ),
        (Operation::Read, format!("totp/{accessor}"), Value::Null),
        (
            Operation::Read,
            format!("totp/{accessor}/code"),
            Value::Null,
        ),
        (
            Operation::Update,
            "totp/lookup".into(),
            json!({"uuid": accessor}),
        ),
    ] {
        let response = h.call(operation, &path, body).await.unwrap().unwrap();
        assert_eq!(response.raw_status(), Some(404), "{path}");
    }
    let keys = h.storage.keys();
    for (path, body) in [
        (format!("totp/accessor/{uuid}"), Value::Null),
        (format!("totp/{accessor}"), Value::Null),
    ] {
        let response = h.call(Operation::Delete, &path, body).await;
        assert_eq!(
            response,
            Ok(Some(super::super::path_totp::deleted())),
            "{path}"
        );
    }
    assert_eq!(h.storage.keys(), keys, "neither delete removed the entry");
    assert_eq!(
        h.data(
            Operation::Update,
            "totp/redeem",
            json!({"uuid": accessor, "policy": "p"})
        )
        .await,
        json!({"valid": false})
    );
}

#[tokio::test]
async fn malformed_accessors_and_lookup_bodies_answer_400_and_write_nothing() {
    let h = Harness::new();
    h.new_entry("p", NOW + 60).await;
    let keys = h.storage.keys();
    for path in [
        "totp/accessor/text",
        "totp/accessor/1B4E28BA-2FA1-41D2-883F-0016D3CCA427",
        "totp/accessor/%20",
        "totp/accessor/text/code",
    ] {
        for operation in [Operation::Read, Operation::Delete] {
            if path.ends_with("/code") && operation == Operation::Delete {
                continue;
            }
            let response = h.call(operation, path, Value::Null).await.unwrap().unwrap();
            assert_error(&response, 400, json!({"accessor": "must be a UUID"}));
        }
    }
    for (body, errors) in [
        (json!({}), json!({"uuid": "Missing required field"})),
        (
            json!({"uuid": ""}),
            json!({"uuid": "Missing required field"}),
        ),
        (json!({"uuid": 7}), json!({"uuid": "must be a string"})),
        (json!({"uuid": "text"}), json!({"uuid": "must be a UUID"})),
    ] {
        let response = h
            .call(Operation::Update, "totp/lookup", body)
            .await
            .unwrap()
            .unwrap();
        assert_error(&response, 400, errors);
    }
    assert_eq!(h.storage.keys(), keys);
}

#[tokio::test]
async fn verify_by_accessor_checks_that_entry_only() {
    let h = Harness::new();
    let first = h.new_entry("p", NOW + 600).await;
    let second = h.new_entry("p", NOW + 600).await;
    let other_policy = h.new_entry("q", NOW + 600).await;
    let code = current_code(&EntryId::parse(&first).unwrap(), NOW).code;
    let verify = |accessor: &str| json!({"policy": "p", "code": code, "accessor": accessor});
    let second_accessor = h.accessor(&second).await;
    let q_accessor = h.accessor(&other_policy).await;
    for accessor in [
        &second_accessor,
        &q_accessor,
        "0e9b3f4c-3f1e-4f7a-8d2b-6a1c9e2f4b10",
    ] {
        assert_eq!(
            h.data(Operation::Update, "totp/verify", verify(accessor))
                .await,
            json!({"valid": false}),
            "{accessor}"
        );
    }
    let first_accessor = h.accessor(&first).await;
    assert_eq!(
        h.data(Operation::Update, "totp/verify", verify(&first_accessor))
            .await,
        json!({"valid": true})
    );
    let response = h
        .call(
            Operation::Update,
            "totp/verify",
            json!({"policy": "p", "code": "x", "accessor": "y"}),
        )
        .await
        .unwrap()
        .unwrap();
    assert_error(
        &response,
        400,
        json!({"accessor": "must be a UUID", "code": "must be 6 digits"}),
    );
}
