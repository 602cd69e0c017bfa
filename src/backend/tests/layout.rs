//! Preparing the layout: the mount key on the first write, migration from
//! v1 and v2 behind 503s, standbys that leave both to the active node.

use super::*;

#[tokio::test]
async fn initialize_makes_the_key_and_records_layout_v3() {
    let h = Harness::new();
    h.backend.initialize().await.unwrap();
    assert_eq!(h.storage.keys(), ["meta/key", "meta/layout"]);
    assert_eq!(
        h.storage.get("meta/layout").await.unwrap(),
        Some(br#"{"version":3}"#.to_vec())
    );
    let key = h.mount_key().await.unwrap();
    // A restarted process reads the same key.
    let restarted = Harness::with(h.storage.clone(), ReplicationState::REPLICATION_DISABLED);
    restarted.backend.initialize().await.unwrap();
    assert_eq!(
        restarted.mount_key().await.unwrap().as_bytes(),
        key.as_bytes()
    );
    assert_eq!(restarted.storage.keys(), ["meta/key", "meta/layout"]);
}

#[tokio::test]
async fn v1_data_is_migrated_behind_503s() {
    let h = Harness::new();
    let uuid = EntryId::generate().to_canonical();
    let v1 = json!({"uuid": uuid, "created": NOW - 5, "expiration": NOW + 600, "policy": "p"});
    h.storage
        .put(&format!("totp/{uuid}"), v1.to_string().into_bytes())
        .await
        .unwrap();
    h.storage
        .put(&format!("policy/70/{uuid}"), Vec::new())
        .await
        .unwrap();
    h.storage
        .put(
            &format!("used/{uuid}"),
            br#"{"last_step":60000000}"#.to_vec(),
        )
        .await
        .unwrap();

    // The first call starts the migration and answers 503; so does every
    // call until it ends.
    let response = h
        .call(Operation::Update, "totp/lookup", json!({"uuid": uuid}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.raw_status(), Some(503));
    assert_eq!(response.raw_body().unwrap()["statusCode"], 503);
    let mut answer = None;
    for _ in 0..100 {
        let response = h
            .call(Operation::Update, "totp/lookup", json!({"uuid": uuid}))
            .await
            .unwrap()
            .unwrap();
        if response.raw_status() != Some(503) {
            answer = Some(response);
            break;
        }
        tokio::task::yield_now().await;
    }
    let answer = answer.expect("the migration ends");
    assert_eq!(answer.data["policy"], "p");
    assert_eq!(answer.data["created"], NOW - 5);
    assert!(
        !h.storage.keys().iter().any(|k| k.contains(&uuid)),
        "{:?}",
        h.storage.keys()
    );
    assert_eq!(
        h.storage.get("meta/layout").await.unwrap(),
        Some(br#"{"version":3}"#.to_vec())
    );
    assert_eq!(answer.data["accessor"], h.derived_accessor(&uuid).await);
    // The replay record came along.
    let grant = h.grant_id(&uuid).await;
    assert_eq!(
        h.storage.get(&format!("last-step/{grant}")).await.unwrap(),
        Some(br#"{"last_step":60000000}"#.to_vec())
    );
}

#[tokio::test]
async fn a_standby_leaves_migration_and_key_making_to_the_active_node() {
    // v1 data on a performance standby: 503 until the active node migrates.
    let h = Harness::with(
        Arc::new(MemStorage::new()),
        ReplicationState::PERFORMANCE_STANDBY_NODE,
    );
    h.storage.put("totp/x", b"{}".to_vec()).await.unwrap();
    let response = h
        .call(
            Operation::Read,
            "totp/accessor/0e9b3f4c-3f1e-4f7a-8d2b-6a1c9e2f4b10",
            Value::Null,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.raw_status(), Some(503));
    assert_eq!(h.storage.keys(), ["totp/x"]);

    // No key yet on a node whose storage refuses writes (an OpenBao HA
    // standby): the request goes back to the host, which forwards it to the
    // active node.
    let storage = Arc::new(MemStorage::new());
    let refusal = "cannot write to readonly storage";
    let (backend, _) = testing::backend_over(
        Arc::new(ReadOnly(storage.clone(), refusal)),
        StaticSystemView::writable(),
    );
    let router = Router::new(INFO.paths).unwrap();
    let request = Request::new(Operation::Read, "totp/1b4e28ba-2fa1-41d2-883f-0016d3cca427");
    assert_eq!(
        dispatch(&backend, &router, request).await,
        Err(Error::Internal(refusal.into()))
    );
    assert!(storage.keys().is_empty());
}

/// Storage whose writes the host refuses, as on an OpenBao HA standby.
struct ReadOnly(Arc<MemStorage>, &'static str);

#[async_trait::async_trait]
impl Storage for ReadOnly {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, crate::protocol::StorageError> {
        self.0.get(key).await
    }
    async fn put(&self, _: &str, _: Vec<u8>) -> Result<(), crate::protocol::StorageError> {
        Err(crate::protocol::StorageError::Host(self.1.into()))
    }
    async fn delete(&self, _: &str) -> Result<(), crate::protocol::StorageError> {
        Err(crate::protocol::StorageError::Host(self.1.into()))
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, crate::protocol::StorageError> {
        self.0.list(prefix).await
    }
}
