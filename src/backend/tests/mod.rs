//! Handler tests through the single entry point (`dispatch`), on in-memory
//! storage with a fixed clock: every request is decoded, routed and
//! validated exactly as over gRPC. One file per endpoint.

mod accessor;
mod codes;
mod create;
mod delete;
mod host_failures;
mod layout;
mod read_list;
mod redeem;
mod routing;
mod throttle;
mod tidy;

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{INFO, RatlsBackend};
use crate::domain::code::{PERIOD, current_code};
use crate::domain::{EntryId, MountKey};
use crate::protocol::server::dispatch;
use crate::protocol::{
    Error, LogicalBackend as _, Operation, ReplicationState, Request, Response, Router, Storage,
};
use crate::testing::{
    self, HeldCall, MAX_LEASE_TTL, ManualClock, MemStorage, NOW, StaticSystemView,
};

/// The fixture's max lease TTL in seconds.
const MAX_TTL: i64 = MAX_LEASE_TTL.as_secs() as i64;

struct Harness {
    storage: Arc<MemStorage>,
    clock: Arc<ManualClock>,
    backend: RatlsBackend,
    router: Router<RatlsBackend>,
}

impl Harness {
    fn new() -> Self {
        Self::with(
            Arc::new(MemStorage::new()),
            ReplicationState::REPLICATION_DISABLED,
        )
    }

    /// A backend on `storage`, as after a plugin restart.
    fn with(storage: Arc<MemStorage>, replication_state: ReplicationState) -> Self {
        let (backend, clock) = testing::backend(
            storage.clone(),
            StaticSystemView {
                replication_state,
                ..StaticSystemView::writable()
            },
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

    /// The mount key, once the layout is prepared.
    async fn mount_key(&self) -> Option<MountKey> {
        crate::backend::store::meta::load_key(self.storage.as_ref())
            .await
            .unwrap()
    }

    /// The grant id of `uuid` in hex, as storage keys name it.
    async fn grant_id(&self, uuid: &str) -> String {
        let key = self.mount_key().await.unwrap();
        key.grant_id(&EntryId::parse(uuid).unwrap()).to_string()
    }

    /// The accessor the mount key derives from `uuid`.
    async fn derived_accessor(&self, uuid: &str) -> String {
        let key = self.mount_key().await.unwrap();
        key.accessor(&EntryId::parse(uuid).unwrap()).to_string()
    }

    /// The stored form of the entry with this uuid (made by this version).
    async fn stored(&self, uuid: &str) -> Option<Value> {
        self.mount_key().await?;
        let accessor = self.derived_accessor(uuid).await;
        let bytes = self
            .storage
            .get(&format!("entry/{accessor}"))
            .await
            .unwrap()?;
        Some(serde_json::from_slice(&bytes).unwrap())
    }

    /// Every key but the mount's own records (`meta/`).
    fn entry_keys(&self) -> Vec<String> {
        let mut keys = self.storage.keys();
        keys.retain(|k| !k.starts_with("meta/"));
        keys
    }

    /// The accessor of the entry with this uuid.
    async fn accessor(&self, uuid: &str) -> String {
        let stored = self.stored(uuid).await.unwrap();
        stored["accessor"].as_str().unwrap().to_owned()
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
