//! `tidy` and the rollback tidy.

use super::*;

#[tokio::test]
async fn tidy_and_rollback_remove_expired_entries() {
    let h = Harness::new();
    let keep = h.new_entry("p", NOW + 600).await;
    h.new_entry("p", NOW + 10).await;
    h.clock.set(NOW + 10);
    let report = h.data(Operation::Update, "tidy", Value::Null).await;
    assert_eq!(report["entries_removed"], 1);
    assert_eq!(report["index_keys_removed"], 1);
    assert_eq!(report["accessor_records_removed"], 0);
    let grant = h.grant_id(&keep).await;
    let keys = h.entry_keys();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0], format!("entry/{}", h.accessor(&keep).await));
    assert!(keys[1].starts_with(&format!("index/70/{grant}.")));

    // Rollback tidies where this node may write, at most every few minutes.
    h.new_entry("p", NOW + 20).await;
    h.clock.set(NOW + 20);
    assert_eq!(h.call(Operation::Rollback, "", Value::Null).await, Ok(None));
    assert_eq!(h.entry_keys().len(), 2);
    h.new_entry("p", NOW + 30).await;
    h.clock.set(NOW + 30);
    h.call(Operation::Rollback, "", Value::Null).await.unwrap();
    assert_eq!(
        h.entry_keys().len(),
        4,
        "throttled: the second rollback does not tidy"
    );

    // A performance standby never writes.
    let standby = Harness::with(
        Arc::new(MemStorage::new()),
        ReplicationState::PERFORMANCE_STANDBY_NODE,
    );
    standby.new_entry("p", NOW + 1).await;
    standby.clock.set(NOW + 1);
    standby
        .call(Operation::Rollback, "", Value::Null)
        .await
        .unwrap();
    assert_eq!(standby.entry_keys().len(), 2);

    // ...unless the mount is local: then this cluster writes it itself.
    let storage = Arc::new(MemStorage::new());
    let (local, clock) = testing::backend(
        storage.clone(),
        StaticSystemView {
            replication_state: ReplicationState::PERFORMANCE_STANDBY_NODE,
            local_mount: true,
            ..StaticSystemView::writable()
        },
    );
    let router = Router::new(INFO.paths).unwrap();
    let create = Request::new(Operation::Create, "totp").with_data(
        json!({"policy": "p", "expiration": NOW + 1})
            .as_object()
            .unwrap()
            .clone(),
    );
    dispatch(&local, &router, create).await.unwrap();
    clock.set(NOW + 1);
    dispatch(&local, &router, Request::new(Operation::Rollback, ""))
        .await
        .unwrap();
    assert_eq!(storage.keys(), ["meta/key", "meta/layout"]);
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
    assert!(h.entry_keys().is_empty());
}
