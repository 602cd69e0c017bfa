//! What handlers answer when the host fails or refuses a write.

use super::*;

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
    assert_eq!(
        body["errors"],
        json!([body["message"]]),
        "Vault's shape: {body}"
    );
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
