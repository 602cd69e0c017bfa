//! The layout, tidy and the v1 → v2 migration, on in-memory storage.

use std::collections::BTreeMap;

use super::migrate::{MigrationReport, has_v1_data, migrate};
use super::tidy::TidyReport;
use super::*;
use crate::testing::{HeldCall, MemStorage};

const NOW: i64 = 1_000;

fn key() -> Arc<MountKey> {
    Arc::new(MountKey::from_bytes(&[7u8; 32]).unwrap())
}

fn grants(storage: &Arc<MemStorage>) -> Grants {
    Grants::new(storage.clone(), key())
}

fn entry(policy: &str, expiration: i64) -> TotpEntry {
    TotpEntry::new(PolicyName::parse(policy).unwrap(), expiration, 100)
}

fn no_key_holds_a_uuid(storage: &MemStorage, ids: &[EntryId]) {
    for key in storage.keys() {
        for id in ids {
            let text = id.to_canonical();
            assert!(!key.contains(&text), "{key}");
            assert!(!key.contains(&text.replace('-', "")), "{key}");
        }
    }
}

#[tokio::test]
async fn layout_is_as_documented() {
    let storage = Arc::new(MemStorage::new());
    let store = grants(&storage);
    let e = entry("ns/app", 200);
    store.insert(&e).await.unwrap();
    store
        .put_replay_record(&e.uuid, ReplayRecord { last_step: 7 })
        .await
        .unwrap();
    let (grant, sealed) = key().seal(&e.uuid);
    assert_eq!(
        storage.keys(),
        [
            format!("accessor/{}", e.accessor),
            format!("by-policy/6e732f617070/{grant}.{sealed}"),
            format!("grant/{grant}"),
            format!("replay/{grant}"),
        ]
    );
    no_key_holds_a_uuid(&storage, &[e.uuid]);
    assert_eq!(
        storage
            .get(&format!("accessor/{}", e.accessor))
            .await
            .unwrap(),
        Some(format!(r#"{{"grant":"{grant}"}}"#).into_bytes())
    );
    assert_eq!(store.policy_members(&e.policy).await.unwrap(), [e.uuid]);
    assert_eq!(store.get_live(&e.uuid, 199).await.unwrap(), Some(e.clone()));
    assert_eq!(store.get_live(&e.uuid, 200).await.unwrap(), None);
    assert_eq!(
        store.by_accessor(&e.accessor).await.unwrap(),
        Some(e.clone())
    );
    assert_eq!(store.accessors().await.unwrap(), [e.accessor]);
    // Another key opens nothing and finds nothing.
    let other = Grants::new(
        storage.clone(),
        Arc::new(MountKey::from_bytes(&[8u8; 32]).unwrap()),
    );
    assert!(other.policy_members(&e.policy).await.unwrap().is_empty());
    assert_eq!(other.get(&e.uuid).await.unwrap(), None);
    store.remove(&e).await.unwrap();
    assert!(storage.keys().is_empty());
}

#[tokio::test]
async fn removal_by_accessor_also_clears_stale_accessor_records() {
    let storage = Arc::new(MemStorage::new());
    let store = grants(&storage);
    let e = entry("p", 200);
    store.insert(&e).await.unwrap();
    store.remove_accessor(&e.accessor).await.unwrap();
    assert!(storage.keys().is_empty());
    // An accessor record whose entry is gone (a crash after the entry's removal).
    storage
        .put(&accessor_key(&e.accessor), br#"{"grant":"00"}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(store.by_accessor(&e.accessor).await.unwrap(), None);
    store.remove_accessor(&e.accessor).await.unwrap();
    assert!(storage.keys().is_empty());
}

#[tokio::test]
async fn tidy_removes_what_is_dead_and_repairs_what_is_missing() {
    let storage = Arc::new(MemStorage::new());
    let store = grants(&storage);
    let live = entry("p", 1_000);
    let expired = entry("p", 150);
    let unindexed = entry("q", 1_000);
    let unlisted = entry("q", 1_000);
    for e in [&live, &expired, &unindexed, &unlisted] {
        store.insert(e).await.unwrap();
    }
    let seal = |e: &TotpEntry| key().seal(&e.uuid);
    let (g, s) = seal(&unindexed);
    storage
        .delete(&index_key(&unindexed.policy, &g, &s))
        .await
        .unwrap();
    storage
        .delete(&accessor_key(&unlisted.accessor))
        .await
        .unwrap();
    // A ghost: lookups and a replay record, no entry.
    let ghost = entry("p", 1_000);
    let (g, s) = seal(&ghost);
    storage
        .put(&index_key(&ghost.policy, &g, &s), Vec::new())
        .await
        .unwrap();
    storage
        .put(&accessor_key(&ghost.accessor), b"{}".to_vec())
        .await
        .unwrap();
    for (e, step) in [
        (&ghost, 1),
        (&expired, 1),
        (&live, 300 / 30),
        (&unindexed, 1),
    ] {
        store
            .put_replay_record(&e.uuid, ReplayRecord { last_step: step })
            .await
            .unwrap();
    }
    storage.put("grant/not-ours", b"{}".to_vec()).await.unwrap();
    // Lookups in spellings this plugin never writes lead nowhere.
    for odd in [
        "by-policy/70/not-an-index-name",
        "accessor/1B4E28BA-2FA1-41D2-883F-0016D3CCA427",
    ] {
        storage.put(odd, Vec::new()).await.unwrap();
    }

    let report = store.tidy(300).await.unwrap();
    assert_eq!(
        report,
        TidyReport {
            entries_removed: 1,
            index_keys_removed: 3, // the expired entry's, the ghost's and the odd one
            index_keys_repaired: 1, // unindexed
            accessor_records_removed: 3, // the expired entry's, the ghost's and the odd one
            accessor_records_repaired: 1, // unlisted
            replay_records_removed: 3, // expired, ghost, and unindexed's stale one
            attempt_records_removed: 0,
        }
    );
    let mut expected = vec!["grant/not-ours".to_owned()];
    for e in [&live, &unindexed, &unlisted] {
        let (g, s) = seal(e);
        expected.push(format!("grant/{g}"));
        expected.push(accessor_key(&e.accessor));
        expected.push(index_key(&e.policy, &g, &s));
    }
    expected.push(replay_key(&seal(&live).0));
    expected.sort();
    assert_eq!(storage.keys(), expected);
    assert_eq!(store.tidy(300).await.unwrap(), TidyReport::default());
}

#[tokio::test]
async fn tidy_never_takes_the_lookups_of_an_insert_in_flight_for_dangling() {
    let memory = Arc::new(MemStorage::new());
    let store = Grants::new(memory.clone(), key());
    let e = entry("p", 1_000);
    // The insert's entry put waits until released.
    let held = memory.hold_next(HeldCall::Put, GRANT_PREFIX);

    let insert = tokio::spawn({
        let (store, e) = (store.clone(), e.clone());
        async move { store.insert(&e).await }
    });
    // The lookups land; the entry waits.
    while memory.keys().len() < 2 {
        tokio::task::yield_now().await;
    }
    assert!(!memory.keys().iter().any(|k| k.starts_with(GRANT_PREFIX)));
    let tidy = tokio::spawn({
        let store = store.clone();
        async move { store.tidy(300).await }
    });
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(!tidy.is_finished(), "tidy listed during an insert");
    held.release();
    insert.await.unwrap().unwrap();
    assert_eq!(tidy.await.unwrap().unwrap(), TidyReport::default());
    assert_eq!(store.by_accessor(&e.accessor).await.unwrap(), Some(e));
    assert_eq!(memory.keys().len(), 3);
}

/// Storage that cannot page its lists, as HashiCorp Vault's.
struct NoPaging(Arc<MemStorage>);

#[async_trait::async_trait]
impl Storage for NoPaging {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.0.get(key).await
    }
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError> {
        self.0.put(key, value).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.0.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.0.list(prefix).await
    }
}

#[tokio::test]
async fn listing_in_pages_sees_every_name_once_with_or_without_host_paging() {
    let memory = Arc::new(MemStorage::new());
    for n in 0..7 {
        memory
            .put(&format!("accessor/{n}"), Vec::new())
            .await
            .unwrap();
    }
    memory.put("accessor/sub/x", Vec::new()).await.unwrap();
    let all = memory.list(ACCESSOR_PREFIX).await.unwrap();
    assert_eq!(all.len(), 8);
    // MemStorage pages, as OpenBao does; the wrapper does not, as Vault.
    let paging = grants(&memory);
    let not_paging = Grants::new(Arc::new(NoPaging(memory.clone())), key());
    for (store, sizes) in [(paging, vec![2, 2, 2, 2, 0]), (not_paging, vec![8])] {
        let mut pages = Vec::new();
        store
            .list_in_pages(ACCESSOR_PREFIX, 2, |page| pages.push(page))
            .await
            .unwrap();
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), sizes);
        assert_eq!(pages.concat(), all);
    }
}

/// v1 data: what v0.1.0 wrote, by hand.
struct V1 {
    live: Vec<(EntryId, &'static str)>,
    with_replay: EntryId,
    redeemed: EntryId,
}

async fn write_v1(storage: &MemStorage) -> V1 {
    let mut live = Vec::new();
    for (i, policy) in ["ns/app", "ns/app", "other"].into_iter().enumerate() {
        let id = EntryId::generate();
        let uuid = id.to_canonical();
        let value = serde_json::json!({"uuid": uuid, "created": 100 + i, "expiration": 2_000, "policy": policy});
        storage
            .put(&format!("totp/{uuid}"), value.to_string().into_bytes())
            .await
            .unwrap();
        let dir = hex::encode(policy);
        storage
            .put(&format!("policy/{dir}/{uuid}"), Vec::new())
            .await
            .unwrap();
        live.push((id, policy));
    }
    let with_replay = live[0].0;
    storage
        .put(
            &format!("used/{}", with_replay.to_canonical()),
            br#"{"last_step":41}"#.to_vec(),
        )
        .await
        .unwrap();
    // Expired: dropped.
    let expired = EntryId::generate().to_canonical();
    let value =
        serde_json::json!({"uuid": expired, "created": 1, "expiration": 500, "policy": "old"});
    storage
        .put(&format!("totp/{expired}"), value.to_string().into_bytes())
        .await
        .unwrap();
    // Redeemed under v1 with a crash before its index key and replay record went.
    let redeemed = EntryId::generate();
    let uuid = redeemed.to_canonical();
    storage
        .put(
            &format!("policy/{}/{uuid}", hex::encode("ns/app")),
            Vec::new(),
        )
        .await
        .unwrap();
    storage
        .put(&format!("used/{uuid}"), br#"{"last_step":3}"#.to_vec())
        .await
        .unwrap();
    storage
        .put("totp/not-a-uuid", b"{}".to_vec())
        .await
        .unwrap();
    V1 {
        live,
        with_replay,
        redeemed,
    }
}

/// The migrated data: every live v1 entry once, with its fields, one
/// accessor record, its index key and its replay record; nothing of v1 and
/// nothing of the redeemed or expired entries. Returns entry → accessor.
async fn check_migrated(storage: &Arc<MemStorage>, v1: &V1) -> BTreeMap<String, Accessor> {
    let store = grants(storage);
    assert!(!has_v1_data(storage.as_ref()).await.unwrap());
    let mut accessors = BTreeMap::new();
    for (i, (id, policy)) in v1.live.iter().enumerate() {
        let entry = store.get(id).await.unwrap().expect("migrated entry");
        assert_eq!(
            (entry.created, entry.expiration, entry.policy.as_str()),
            (100 + i as i64, 2_000, *policy)
        );
        assert_eq!(
            store.by_accessor(&entry.accessor).await.unwrap(),
            Some(entry.clone())
        );
        assert!(
            store
                .policy_members(&entry.policy)
                .await
                .unwrap()
                .contains(id)
        );
        accessors.insert(id.to_canonical(), entry.accessor);
    }
    assert_eq!(
        store.accessors().await.unwrap().len(),
        v1.live.len(),
        "one accessor per entry"
    );
    assert_eq!(
        store.replay_record(&v1.with_replay).await.unwrap(),
        Some(ReplayRecord { last_step: 41 })
    );
    assert_eq!(store.get(&v1.redeemed).await.unwrap(), None);
    assert_eq!(store.replay_record(&v1.redeemed).await.unwrap(), None);
    let ids: Vec<EntryId> = v1
        .live
        .iter()
        .map(|(id, _)| *id)
        .chain([v1.redeemed])
        .collect();
    no_key_holds_a_uuid(storage, &ids);
    // 3 entries × (grant, accessor, index) + 1 replay record.
    assert_eq!(storage.keys().len(), 10, "{:?}", storage.keys());
    accessors
}

#[tokio::test]
async fn migration_moves_every_v1_entry_and_replay_record() {
    let storage = Arc::new(MemStorage::new());
    let v1 = write_v1(&storage).await;
    assert!(has_v1_data(storage.as_ref()).await.unwrap());
    let dyn_storage: Arc<dyn Storage> = storage.clone();
    let report = migrate(&dyn_storage, &grants(&storage), NOW).await.unwrap();
    assert_eq!(
        report,
        MigrationReport {
            entries_moved: 3,
            expired_entries_dropped: 1,
            replay_records_moved: 1,
            leftover_keys_removed: 3, // not-a-uuid, and the redeemed entry's two keys
        }
    );
    check_migrated(&storage, &v1).await;
    // Running again finds nothing to do.
    let again = migrate(&dyn_storage, &grants(&storage), NOW).await.unwrap();
    assert_eq!(again, MigrationReport::default());
}

#[tokio::test]
async fn a_migration_cut_off_after_any_write_is_finished_by_the_next_run() {
    let total = {
        let storage = Arc::new(MemStorage::new());
        write_v1(&storage).await;
        let before = storage.writes();
        let dyn_storage: Arc<dyn Storage> = storage.clone();
        migrate(&dyn_storage, &grants(&storage), NOW).await.unwrap();
        storage.writes() - before
    };
    assert!(total > 20, "{total} writes");
    for cut in 0..total {
        let storage = Arc::new(MemStorage::new());
        let v1 = write_v1(&storage).await;
        let dyn_storage: Arc<dyn Storage> = storage.clone();
        storage.fail_writes_after(Some(cut));
        assert!(
            migrate(&dyn_storage, &grants(&storage), NOW).await.is_err(),
            "cut {cut}"
        );
        storage.fail_writes_after(None);
        // Whatever the first run wrote of an entry, its accessor survives.
        let early: Vec<(String, Accessor)> = storage
            .keys()
            .iter()
            .filter_map(|k| k.strip_prefix("accessor/"))
            .filter_map(|a| Accessor::parse(a).ok())
            .map(|a| (a.to_string(), a))
            .collect();
        migrate(&dyn_storage, &grants(&storage), NOW).await.unwrap();
        let accessors = check_migrated(&storage, &v1).await;
        for (_, accessor) in early {
            assert!(
                accessors.values().any(|a| *a == accessor),
                "cut {cut}: accessor changed"
            );
        }
    }
}
