//! `totp/redeem`: exactly once.

use super::*;

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
        h.entry_keys().is_empty(),
        "entry, accessor record and index removed: {:?}",
        h.entry_keys()
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
