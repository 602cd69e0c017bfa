//! The layout, tidy and the migrations from v1 and v2, on in-memory storage.

use super::migrate::{MigrationReport, has_old_data, migrate};
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
    TotpEntry::new(&key(), PolicyName::parse(policy).unwrap(), expiration, 100)
}

/// An entry as v0.2.x made it: its accessor random, not derived.
fn v2_entry(policy: &str, expiration: i64) -> TotpEntry {
    TotpEntry {
        accessor: Accessor::generate(),
        ..entry(policy, expiration)
    }
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
    let e = store.new_entry(PolicyName::parse("ns/app").unwrap(), 200, 100);
    assert_eq!(e.accessor, key().accessor(&e.uuid));
    store.insert(&e).await.unwrap();
    store
        .put_replay_record(&e.uuid, ReplayRecord { last_step: 7 })
        .await
        .unwrap();
    let (grant, sealed) = key().seal(&e.uuid);
    assert_eq!(
        storage.keys(),
        [
            format!("entry/{}", e.accessor),
            format!("index/6e732f617070/{grant}.{sealed}"),
            format!("last-step/{grant}"),
        ]
    );
    no_key_holds_a_uuid(&storage, &[e.uuid]);
    assert_eq!(
        storage.get(&format!("entry/{}", e.accessor)).await.unwrap(),
        Some(e.to_bytes())
    );
    assert_eq!(store.policy_members(&e.policy).await.unwrap(), [e.uuid]);
    // Found by uuid and by accessor with one read each.
    let reads = storage.reads();
    assert_eq!(store.get_live(&e.uuid, 199).await.unwrap(), Some(e.clone()));
    assert_eq!(
        store.by_accessor(&e.accessor).await.unwrap(),
        Some(e.clone())
    );
    assert_eq!(storage.reads() - reads, 2);
    assert_eq!(store.get_live(&e.uuid, 200).await.unwrap(), None);
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
async fn an_entry_of_v0_2_x_keeps_its_random_accessor_with_a_record() {
    let storage = Arc::new(MemStorage::new());
    let store = grants(&storage);
    let old = v2_entry("p", 200);
    store.insert(&old).await.unwrap();
    let (grant, sealed) = key().seal(&old.uuid);
    assert_eq!(
        storage.keys(),
        [
            format!("accessor-of/{grant}"),
            format!("entry/{}", old.accessor),
            format!("index/70/{grant}.{sealed}"),
        ]
    );
    assert_eq!(
        storage.get(&format!("accessor-of/{grant}")).await.unwrap(),
        Some(format!(r#"{{"accessor":"{}"}}"#, old.accessor).into_bytes())
    );
    assert_eq!(store.get(&old.uuid).await.unwrap(), Some(old.clone()));
    assert_eq!(
        store.by_accessor(&old.accessor).await.unwrap(),
        Some(old.clone())
    );
    // A process that starts on this data learns from storage that such
    // entries remain; until then a uuid finds only its derived place.
    let restarted = grants(&storage);
    assert_eq!(restarted.get(&old.uuid).await.unwrap(), None);
    restarted.load_random_accessors().await.unwrap();
    assert_eq!(restarted.get(&old.uuid).await.unwrap(), Some(old.clone()));
    // An unknown uuid costs the second read only while such entries remain.
    let reads = storage.reads();
    assert_eq!(restarted.get(&EntryId::generate()).await.unwrap(), None);
    assert_eq!(storage.reads() - reads, 2);
    restarted.remove_uuid(&old.uuid).await.unwrap();
    assert!(storage.keys().is_empty());
    restarted.tidy(100).await.unwrap();
    let reads = storage.reads();
    assert_eq!(restarted.get(&EntryId::generate()).await.unwrap(), None);
    assert_eq!(storage.reads() - reads, 1, "tidy found none left");
    // A record naming another entry's accessor finds nothing.
    let (new, other) = (entry("p", 200), v2_entry("p", 200));
    store.insert(&new).await.unwrap();
    store.insert(&other).await.unwrap();
    let record = format!(r#"{{"accessor":"{}"}}"#, new.accessor);
    let other_record = format!("accessor-of/{}", key().grant_id(&other.uuid));
    storage
        .put(&other_record, record.into_bytes())
        .await
        .unwrap();
    assert_eq!(store.get(&other.uuid).await.unwrap(), None);
}

#[tokio::test]
async fn removal_by_accessor_removes_every_key_and_succeeds_on_nothing() {
    let storage = Arc::new(MemStorage::new());
    let store = grants(&storage);
    for e in [entry("p", 200), v2_entry("p", 200)] {
        store.insert(&e).await.unwrap();
        store
            .put_replay_record(&e.uuid, ReplayRecord { last_step: 1 })
            .await
            .unwrap();
        store.remove_accessor(&e.accessor).await.unwrap();
        assert!(storage.keys().is_empty());
        store.remove_accessor(&e.accessor).await.unwrap();
    }
    // An entry stored under another accessor's name grants nothing there.
    let (a, b) = (entry("p", 200), entry("p", 200));
    storage
        .put(&entry_key(&b.accessor), a.to_bytes())
        .await
        .unwrap();
    assert_eq!(store.by_accessor(&b.accessor).await.unwrap(), None);
    assert_eq!(store.get(&a.uuid).await.unwrap(), None);
}

#[tokio::test]
async fn tidy_removes_what_is_dead_and_repairs_what_is_missing() {
    let storage = Arc::new(MemStorage::new());
    let store = grants(&storage);
    let live = entry("p", 1_000);
    let expired = entry("p", 150);
    let unindexed = entry("q", 1_000);
    let old = v2_entry("q", 1_000);
    let old_unrecorded = v2_entry("q", 1_000);
    let old_expired = v2_entry("q", 150);
    for e in [
        &live,
        &expired,
        &unindexed,
        &old,
        &old_unrecorded,
        &old_expired,
    ] {
        store.insert(e).await.unwrap();
    }
    let seal = |e: &TotpEntry| key().seal(&e.uuid);
    let (g, s) = seal(&unindexed);
    storage
        .delete(&index_key(&unindexed.policy, &g, &s))
        .await
        .unwrap();
    storage
        .delete(&accessor_of_key(&seal(&old_unrecorded).0))
        .await
        .unwrap();
    // A ghost: lookups and a last-step record, no entry.
    let ghost = v2_entry("p", 1_000);
    let (g, s) = seal(&ghost);
    storage
        .put(&index_key(&ghost.policy, &g, &s), Vec::new())
        .await
        .unwrap();
    storage
        .put(&accessor_of_key(&g), b"{}".to_vec())
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
    storage.put("entry/not-ours", b"{}".to_vec()).await.unwrap();
    // Lookups in spellings this plugin never writes lead nowhere.
    for odd in ["index/70/not-an-index-name", "accessor-of/NOT-HEX"] {
        storage.put(odd, Vec::new()).await.unwrap();
    }
    // An entry that does not decode grants nothing.
    let broken = entry("p", 1_000);
    storage
        .put(&entry_key(&broken.accessor), b"{".to_vec())
        .await
        .unwrap();

    let report = store.tidy(300).await.unwrap();
    assert_eq!(
        report,
        TidyReport {
            entries_removed: 3,           // expired, old_expired, broken
            index_keys_removed: 4,        // expired's, old_expired's, the ghost's and the odd one
            index_keys_repaired: 1,       // unindexed
            accessor_records_removed: 3,  // old_expired's, the ghost's and the odd one
            accessor_records_repaired: 1, // old_unrecorded
            replay_records_removed: 3,    // expired, ghost, and unindexed's stale one
            attempt_records_removed: 0,
        }
    );
    let mut expected = vec!["entry/not-ours".to_owned()];
    for e in [&live, &unindexed, &old, &old_unrecorded] {
        let (g, s) = seal(e);
        expected.push(entry_key(&e.accessor));
        expected.push(index_key(&e.policy, &g, &s));
        if e.accessor != key().accessor(&e.uuid) {
            expected.push(accessor_of_key(&g));
        }
    }
    expected.push(last_step_key(&seal(&live).0));
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
    let held = memory.hold_next(HeldCall::Put, ENTRY_PREFIX);

    let insert = tokio::spawn({
        let (store, e) = (store.clone(), e.clone());
        async move { store.insert(&e).await }
    });
    // The index key lands; the entry waits.
    while memory.keys().is_empty() {
        tokio::task::yield_now().await;
    }
    assert!(!memory.keys().iter().any(|k| k.starts_with(ENTRY_PREFIX)));
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
    assert_eq!(memory.keys().len(), 2);
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
        memory.put(&format!("entry/{n}"), Vec::new()).await.unwrap();
    }
    memory.put("entry/sub/x", Vec::new()).await.unwrap();
    let all = memory.list(ENTRY_PREFIX).await.unwrap();
    assert_eq!(all.len(), 8);
    // MemStorage pages, as OpenBao does; the wrapper does not, as Vault.
    let paging = grants(&memory);
    let not_paging = Grants::new(Arc::new(NoPaging(memory.clone())), key());
    for (store, sizes) in [(paging, vec![2, 2, 2, 2, 0]), (not_paging, vec![8])] {
        let mut pages = Vec::new();
        store
            .list_in_pages(ENTRY_PREFIX, 2, |page| pages.push(page))
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

/// The migrated data: every live v1 entry once, with its fields, the
/// accessor its uuid derives, its index key and its replay record; nothing
/// of v1 and nothing of the redeemed or expired entries.
async fn check_migrated(storage: &Arc<MemStorage>, v1: &V1) {
    let store = grants(storage);
    assert!(!has_old_data(storage.as_ref()).await.unwrap());
    for (i, (id, policy)) in v1.live.iter().enumerate() {
        let entry = store.get(id).await.unwrap().expect("migrated entry");
        assert_eq!(
            (entry.created, entry.expiration, entry.policy.as_str()),
            (100 + i as i64, 2_000, *policy)
        );
        assert_eq!(entry.accessor, key().accessor(id));
        assert!(
            store
                .policy_members(&entry.policy)
                .await
                .unwrap()
                .contains(id)
        );
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
    // 3 entries × (entry, index) + 1 last-step record: no accessor record.
    assert_eq!(storage.keys().len(), 7, "{:?}", storage.keys());
}

#[tokio::test]
async fn migration_moves_every_v1_entry_and_replay_record() {
    let storage = Arc::new(MemStorage::new());
    let v1 = write_v1(&storage).await;
    assert!(has_old_data(storage.as_ref()).await.unwrap());
    let dyn_storage: Arc<dyn Storage> = storage.clone();
    let report = migrate(&dyn_storage, &grants(&storage), NOW).await.unwrap();
    assert_eq!(
        report,
        MigrationReport {
            entries_moved: 3,
            expired_entries_dropped: 1,
            replay_records_moved: 1,
            leftover_keys_removed: 3, // not-a-uuid, and the redeemed entry's two keys
            interrupted_entries_removed: 0,
        }
    );
    check_migrated(&storage, &v1).await;
    // Running again finds nothing to do.
    let again = migrate(&dyn_storage, &grants(&storage), NOW).await.unwrap();
    assert_eq!(again, MigrationReport::default());
}

/// How many writes a migration of what `write` stores makes.
async fn writes_of_a_whole_migration<D>(write: impl AsyncFn(&MemStorage) -> D) -> usize {
    let storage = Arc::new(MemStorage::new());
    write(&storage).await;
    let before = storage.writes();
    let dyn_storage: Arc<dyn Storage> = storage.clone();
    migrate(&dyn_storage, &grants(&storage), NOW).await.unwrap();
    let total = storage.writes() - before;
    assert!(total > 20, "{total} writes");
    total
}

/// Runs `write` into fresh storage, then a migration cut off after each of
/// its writes in turn, then a full one, and `check`s what results.
async fn migrate_with_every_cut<D, W, C>(write: W, check: C)
where
    W: AsyncFn(&MemStorage) -> D,
    C: AsyncFn(&Arc<MemStorage>, &D),
{
    let total = writes_of_a_whole_migration(&write).await;
    for cut in 0..total {
        let storage = Arc::new(MemStorage::new());
        let data = write(&storage).await;
        let dyn_storage: Arc<dyn Storage> = storage.clone();
        storage.fail_writes_after(Some(cut));
        assert!(
            migrate(&dyn_storage, &grants(&storage), NOW).await.is_err(),
            "cut {cut}"
        );
        storage.fail_writes_after(None);
        migrate(&dyn_storage, &grants(&storage), NOW).await.unwrap();
        check(&storage, &data).await;
    }
}

#[tokio::test]
async fn a_v1_migration_cut_off_after_any_write_is_finished_by_the_next_run() {
    migrate_with_every_cut(write_v1, check_migrated).await;
}

/// v2 data: what v0.2.x wrote, by hand.
struct V2 {
    /// Live entries, with their random accessors.
    live: Vec<TotpEntry>,
    with_replay: EntryId,
    /// Has a v2 replay record and a later last-step record, as when v0.2.x
    /// ran again after an upgrade.
    with_both: EntryId,
    redeemed: EntryId,
}

async fn put_v2(storage: &MemStorage, e: &TotpEntry) {
    let (grant, sealed) = key().seal(&e.uuid);
    let record = format!(r#"{{"grant":"{grant}"}}"#);
    let index = format!(
        "by-policy/{}/{grant}.{sealed}",
        hex::encode(e.policy.as_str())
    );
    for (k, v) in [
        (format!("grant/{grant}"), e.to_bytes()),
        (format!("accessor/{}", e.accessor), record.into_bytes()),
        (index, Vec::new()),
    ] {
        storage.put(&k, v).await.unwrap();
    }
}

async fn put_v2_replay(storage: &MemStorage, id: &EntryId, step: u64) {
    let key = format!("replay/{}", key().grant_id(id));
    let value = format!(r#"{{"last_step":{step}}}"#);
    storage.put(&key, value.into_bytes()).await.unwrap();
}

async fn write_v2(storage: &MemStorage) -> V2 {
    let live: Vec<TotpEntry> = ["ns/app", "ns/app", "other"]
        .into_iter()
        .map(|policy| v2_entry(policy, 2_000))
        .collect();
    for e in &live {
        put_v2(storage, e).await;
    }
    let (with_replay, with_both) = (live[0].uuid, live[1].uuid);
    put_v2_replay(storage, &with_replay, 41).await;
    put_v2_replay(storage, &with_both, 50).await;
    let later = format!("last-step/{}", key().grant_id(&with_both));
    storage
        .put(&later, br#"{"last_step":52}"#.to_vec())
        .await
        .unwrap();
    // Expired: dropped with its keys.
    let expired = v2_entry("old", 500);
    put_v2(storage, &expired).await;
    put_v2_replay(storage, &expired.uuid, 9).await;
    // Redeemed under v2 with a crash before its lookups and replay record went.
    let redeemed = v2_entry("ns/app", 2_000);
    put_v2(storage, &redeemed).await;
    put_v2_replay(storage, &redeemed.uuid, 3).await;
    let grant = key().grant_id(&redeemed.uuid);
    storage.delete(&format!("grant/{grant}")).await.unwrap();
    storage.put("grant/not-ours", b"{}".to_vec()).await.unwrap();
    V2 {
        live,
        with_replay,
        with_both,
        redeemed: redeemed.uuid,
    }
}

/// Every live v2 entry once, found by uuid and by its unchanged accessor,
/// with its accessor record, index key and last-step record; nothing of v2.
async fn check_migrated_v2(storage: &Arc<MemStorage>, v2: &V2) {
    let store = grants(storage);
    store.load_random_accessors().await.unwrap();
    assert!(!has_old_data(storage.as_ref()).await.unwrap());
    let mut expected = Vec::new();
    for e in &v2.live {
        assert_eq!(store.get(&e.uuid).await.unwrap().as_ref(), Some(e));
        assert_eq!(
            store.by_accessor(&e.accessor).await.unwrap().as_ref(),
            Some(e)
        );
        assert!(
            store
                .policy_members(&e.policy)
                .await
                .unwrap()
                .contains(&e.uuid)
        );
        let (grant, sealed) = key().seal(&e.uuid);
        expected.push(entry_key(&e.accessor));
        expected.push(accessor_of_key(&grant));
        expected.push(index_key(&e.policy, &grant, &sealed));
    }
    for (id, step) in [(v2.with_replay, 41), (v2.with_both, 52)] {
        assert_eq!(
            store.replay_record(&id).await.unwrap(),
            Some(ReplayRecord { last_step: step })
        );
        expected.push(last_step_key(&key().grant_id(&id)));
    }
    assert_eq!(store.get(&v2.redeemed).await.unwrap(), None);
    // The migration recorded layout v3 before it moved anything.
    expected.push("meta/layout".to_owned());
    expected.sort();
    assert_eq!(storage.keys(), expected);
}

#[tokio::test]
async fn migration_moves_every_v2_entry_keeping_its_accessor() {
    let storage = Arc::new(MemStorage::new());
    let v2 = write_v2(&storage).await;
    assert!(has_old_data(storage.as_ref()).await.unwrap());
    let dyn_storage: Arc<dyn Storage> = storage.clone();
    let store = grants(&storage);
    let report = migrate(&dyn_storage, &store, NOW).await.unwrap();
    assert_eq!(
        report,
        MigrationReport {
            entries_moved: 3,
            expired_entries_dropped: 1,
            replay_records_moved: 2,
            // not-ours, and the redeemed entry's accessor record, index key
            // and replay record
            leftover_keys_removed: 4,
            interrupted_entries_removed: 0,
        }
    );
    check_migrated_v2(&storage, &v2).await;
    // The migrating process knows such entries remain, without a look.
    assert_eq!(
        store.get(&v2.live[2].uuid).await.unwrap().as_ref(),
        Some(&v2.live[2])
    );
    let again = migrate(&dyn_storage, &grants(&storage), NOW).await.unwrap();
    assert_eq!(again, MigrationReport::default());
}

#[tokio::test]
async fn a_v2_migration_cut_off_after_any_write_is_finished_by_the_next_run() {
    migrate_with_every_cut(write_v2, check_migrated_v2).await;
}

/// What v0.2.x's redeem removes: every v2 key of the entry.
async fn redeem_v2(storage: &MemStorage, e: &TotpEntry) {
    let (grant, sealed) = key().seal(&e.uuid);
    let index = format!(
        "by-policy/{}/{grant}.{sealed}",
        hex::encode(e.policy.as_str())
    );
    for k in [
        format!("grant/{grant}"),
        format!("accessor/{}", e.accessor),
        index,
        format!("replay/{grant}"),
    ] {
        storage.delete(&k).await.unwrap();
    }
}

#[tokio::test]
async fn a_grant_redeemed_by_v0_2_x_after_a_cut_migration_stays_revoked() {
    let total = writes_of_a_whole_migration(write_v2).await;
    let mut revivals_prevented = 0;
    for cut in 0..total {
        let storage = Arc::new(MemStorage::new());
        let v2 = write_v2(&storage).await;
        let dyn_storage: Arc<dyn Storage> = storage.clone();
        storage.fail_writes_after(Some(cut));
        assert!(migrate(&dyn_storage, &grants(&storage), NOW).await.is_err());
        storage.fail_writes_after(None);
        let batch_recorded = storage.get("meta/moving").await.unwrap().is_some();
        // Rolled back: v0.2.x starts (rewriting the layout record) and
        // redeems every entry it still sees that already has a v3 copy.
        storage
            .put("meta/layout", br#"{"version":2}"#.to_vec())
            .await
            .unwrap();
        let (mut redeemed, mut moved_before) = (Vec::new(), Vec::new());
        for e in &v2.live {
            let in_v2 = storage
                .get(&format!("grant/{}", key().grant_id(&e.uuid)))
                .await
                .unwrap()
                .is_some();
            let in_v3 = storage
                .get(&entry_key(&e.accessor))
                .await
                .unwrap()
                .is_some();
            match (in_v2, in_v3) {
                (true, true) => {
                    redeem_v2(&storage, e).await;
                    redeemed.push(e.uuid);
                }
                (false, _) => moved_before.push(e.uuid),
                (true, false) => {}
            }
        }
        revivals_prevented += redeemed.len();
        let report = migrate(&dyn_storage, &grants(&storage), NOW).await.unwrap();
        // Only a recorded batch is distrusted (all three entries are one).
        let distrusted = if batch_recorded {
            redeemed.len() + moved_before.len()
        } else {
            0
        };
        assert_eq!(
            report.interrupted_entries_removed, distrusted as u64,
            "cut {cut}"
        );
        let store = grants(&storage);
        store.load_random_accessors().await.unwrap();
        for e in &v2.live {
            let found = store.get(&e.uuid).await.unwrap();
            assert_eq!(found, store.by_accessor(&e.accessor).await.unwrap());
            if redeemed.contains(&e.uuid) {
                assert_eq!(found, None, "cut {cut}: a redeemed grant came back");
            } else if moved_before.contains(&e.uuid) && batch_recorded {
                // Moved before the cut in the recorded batch: v0.2.x might
                // have revoked it, so it is removed, never revived.
                assert_eq!(found, None, "cut {cut}");
            } else {
                assert_eq!(found.as_ref(), Some(e), "cut {cut}: a v2 entry was lost");
            }
        }
        assert!(!has_old_data(storage.as_ref()).await.unwrap(), "cut {cut}");
        assert!(
            storage.keys().iter().all(|k| !k.starts_with("grant/")
                && !k.starts_with("accessor/")
                && !k.starts_with("by-policy/")
                && !k.starts_with("replay/")
                && k != "meta/moving"),
            "cut {cut}: {:?}",
            storage.keys()
        );
    }
    assert!(
        revivals_prevented > 0,
        "no cut left a grant in both layouts"
    );
}

#[tokio::test]
async fn a_finished_migration_leaves_no_batch_to_distrust_after_a_rollback() {
    let storage = Arc::new(MemStorage::new());
    let v2 = write_v2(&storage).await;
    let dyn_storage: Arc<dyn Storage> = storage.clone();
    migrate(&dyn_storage, &grants(&storage), NOW).await.unwrap();
    assert_eq!(storage.get("meta/moving").await.unwrap(), None);
    // A rollback to v0.2.x that writes one entry, then the upgrade again.
    storage
        .put("meta/layout", br#"{"version":2}"#.to_vec())
        .await
        .unwrap();
    let late = v2_entry("p", 2_000);
    put_v2(&storage, &late).await;
    let report = migrate(&dyn_storage, &grants(&storage), NOW).await.unwrap();
    assert_eq!(report.entries_moved, 1);
    assert_eq!(report.interrupted_entries_removed, 0);
    let store = grants(&storage);
    store.load_random_accessors().await.unwrap();
    for e in v2.live.iter().chain([&late]) {
        assert_eq!(store.get(&e.uuid).await.unwrap().as_ref(), Some(e));
    }
}

#[tokio::test]
async fn v1_and_v2_data_together_migrate_in_one_run() {
    let storage = Arc::new(MemStorage::new());
    let v2 = write_v2(&storage).await;
    let v1 = write_v1(&storage).await;
    let dyn_storage: Arc<dyn Storage> = storage.clone();
    let report = migrate(&dyn_storage, &grants(&storage), NOW).await.unwrap();
    assert_eq!(report.entries_moved, 6);
    assert!(!has_old_data(storage.as_ref()).await.unwrap());
    let store = grants(&storage);
    store.load_random_accessors().await.unwrap();
    for (id, _) in &v1.live {
        assert_eq!(
            store.get(id).await.unwrap().map(|e| e.accessor),
            Some(key().accessor(id))
        );
    }
    for e in &v2.live {
        assert_eq!(store.get(&e.uuid).await.unwrap().as_ref(), Some(e));
    }
    // 3 v1 entries × 2 keys, 3 v2 entries × 3 keys, 3 last-step records,
    // the layout record.
    assert_eq!(storage.keys().len(), 19, "{:?}", storage.keys());
}
