//! `totp/<uuid>` read and `totp/` list: neither ever shows a uuid.

use super::*;

#[tokio::test]
async fn read_answers_live_entries_and_404_otherwise() {
    let h = Harness::new();
    let uuid = h.new_entry("p", NOW + 60).await;
    let accessor = h.accessor(&uuid).await;
    let data = h
        .data(Operation::Read, &format!("totp/{uuid}"), Value::Null)
        .await;
    assert_eq!(
        data,
        json!({"accessor": accessor, "created": NOW, "expiration": NOW + 60, "policy": "p"})
    );

    let not_found = |response: Response| {
        assert_eq!(response.raw_status(), Some(404));
        let body = response.raw_body().unwrap();
        assert_eq!(body["statusCode"], 404);
        assert_eq!(
            body["errors"],
            json!([body["message"]]),
            "Vault's shape: {body}"
        );
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
    let mut uuids = Vec::new();
    for i in 0..5 {
        let uuid = h.new_entry(&format!("p{i}"), NOW + 100).await;
        live.push(h.accessor(&uuid).await);
        uuids.push(uuid);
    }
    let expiring_uuid = h.new_entry("short", NOW + 10).await;
    let expiring = h.accessor(&expiring_uuid).await;
    uuids.push(expiring_uuid);
    live.sort();

    let all = h.data(Operation::List, "totp/", Value::Null).await;
    for uuid in &uuids {
        assert!(
            !all.to_string().contains(uuid.as_str()),
            "a list shows no uuid"
        );
    }
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
