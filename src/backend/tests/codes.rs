//! `totp/<uuid>/code` and `totp/verify`: codes, replay records, restarts.

use super::*;

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
            .get(&format!("replay/{}", h.grant_id(&uuid).await))
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
    let restarted = Harness::with(h.storage.clone(), ReplicationState::REPLICATION_DISABLED);
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
