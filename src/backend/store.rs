//! Where entries live in the mount's storage, and the only code that knows.
//!
//! | key | value | why |
//! |---|---|---|
//! | `totp/<uuid>` | the entry as JSON `{uuid, created, expiration, policy}` | the grant itself |
//! | `policy/<hex(policy)>/<uuid>` | empty | lets `verify` find a policy's entries without scanning all |
//! | `used/<uuid>` | JSON `{last_step}` | the last TOTP step accepted for the entry (replay protection) |
//!
//! Writes are ordered so a crash between them leaves only what `tidy`
//! repairs: create writes the entry, then its index key; removal deletes the
//! entry (which revokes the grant), then its index key and replay record.
//! All three prefixes are seal-wrapped (see `INFO.special_paths`).

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::domain::code::ReplayRecord;
use crate::domain::{EntryId, PolicyName, TotpEntry};
use crate::protocol::{Storage, StorageError};

pub(super) const ENTRY_PREFIX: &str = "totp/";
pub(super) const POLICY_INDEX_PREFIX: &str = "policy/";
pub(super) const REPLAY_PREFIX: &str = "used/";

fn entry_key(id: &EntryId) -> String {
    format!("{ENTRY_PREFIX}{}", id.to_canonical())
}

/// Policy names may contain `/`, so the index names them in hex.
fn policy_dir(policy: &PolicyName) -> String {
    let hex: String = policy
        .as_str()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{POLICY_INDEX_PREFIX}{hex}/")
}

fn index_key(entry: &TotpEntry) -> String {
    format!("{}{}", policy_dir(&entry.policy), entry.uuid.to_canonical())
}

fn replay_key(id: &EntryId) -> String {
    format!("{REPLAY_PREFIX}{}", id.to_canonical())
}

/// What one `tidy` pass removed or repaired.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct TidyReport {
    pub entries_removed: u64,
    pub index_keys_removed: u64,
    pub index_keys_repaired: u64,
    pub replay_records_removed: u64,
}

/// Typed access to the mount's entries.
#[derive(Clone)]
pub(super) struct EntryStore {
    storage: Arc<dyn Storage>,
}

impl EntryStore {
    pub(super) fn new(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }

    /// The entry, expired or not; `None` when absent. An entry that does not
    /// decode is reported and treated as absent (it grants nothing).
    pub(super) async fn get(&self, id: &EntryId) -> Result<Option<TotpEntry>, StorageError> {
        let Some(bytes) = self.storage.get(&entry_key(id)).await? else {
            return Ok(None);
        };
        match TotpEntry::from_json(&bytes) {
            Ok(entry) if entry.uuid == *id => Ok(Some(entry)),
            _ => {
                tracing::error!("a stored TOTP entry does not decode; ignoring it");
                Ok(None)
            }
        }
    }

    /// The entry if it still holds at `now`.
    pub(super) async fn get_live(
        &self,
        id: &EntryId,
        now: i64,
    ) -> Result<Option<TotpEntry>, StorageError> {
        Ok(self.get(id).await?.filter(|e| e.is_live(now)))
    }

    /// Stores a new entry and its index key.
    pub(super) async fn insert(&self, entry: &TotpEntry) -> Result<(), StorageError> {
        let value = serde_json::Value::Object(entry.to_json())
            .to_string()
            .into_bytes();
        self.storage.put(&entry_key(&entry.uuid), value).await?;
        self.storage.put(&index_key(entry), Vec::new()).await
    }

    /// Removes an entry with its index key and replay record.
    pub(super) async fn remove(&self, entry: &TotpEntry) -> Result<(), StorageError> {
        self.storage.delete(&entry_key(&entry.uuid)).await?;
        self.storage.delete(&index_key(entry)).await?;
        self.storage.delete(&replay_key(&entry.uuid)).await
    }

    /// Removes whatever is stored for `id`; succeeds when nothing is.
    pub(super) async fn remove_id(&self, id: &EntryId) -> Result<(), StorageError> {
        match self.get(id).await? {
            Some(entry) => self.remove(&entry).await,
            None => {
                self.storage.delete(&entry_key(id)).await?;
                self.storage.delete(&replay_key(id)).await
            }
        }
    }

    /// Every stored entry id, sorted.
    pub(super) async fn ids(&self) -> Result<Vec<EntryId>, StorageError> {
        Ok(parse_ids(self.storage.list(ENTRY_PREFIX).await?))
    }

    /// Ids indexed under `policy` (possibly stale: check the entry).
    pub(super) async fn ids_for_policy(
        &self,
        policy: &PolicyName,
    ) -> Result<Vec<EntryId>, StorageError> {
        Ok(parse_ids(self.storage.list(&policy_dir(policy)).await?))
    }

    pub(super) async fn replay_record(
        &self,
        id: &EntryId,
    ) -> Result<Option<ReplayRecord>, StorageError> {
        let Some(bytes) = self.storage.get(&replay_key(id)).await? else {
            return Ok(None);
        };
        // An undecodable record must not reopen the entry to replays: treat
        // it as covering every step until tidy replaces it.
        Ok(Some(serde_json::from_slice(&bytes).unwrap_or(
            ReplayRecord {
                last_step: u64::MAX,
            },
        )))
    }

    pub(super) async fn put_replay_record(
        &self,
        id: &EntryId,
        record: ReplayRecord,
    ) -> Result<(), StorageError> {
        let value = serde_json::json!({"last_step": record.last_step})
            .to_string()
            .into_bytes();
        self.storage.put(&replay_key(id), value).await
    }

    /// Removes expired entries, index keys without a live entry and replay
    /// records that can no longer refuse anything; restores index keys a
    /// crash left unwritten. Index keys are listed before entries, so an
    /// index key of an entry created meanwhile is never taken for stale.
    /// The report counts every key removed, including those of expired entries.
    pub(super) async fn tidy(&self, now: i64) -> Result<TidyReport, StorageError> {
        let mut report = TidyReport::default();
        let mut index = BTreeSet::new();
        for dir in self.storage.list(POLICY_INDEX_PREFIX).await? {
            let dir = format!("{POLICY_INDEX_PREFIX}{dir}");
            for id in self.storage.list(&dir).await? {
                index.insert(format!("{dir}{id}"));
            }
        }
        let mut replay: BTreeSet<String> = self
            .storage
            .list(REPLAY_PREFIX)
            .await?
            .into_iter()
            .collect();
        let mut live = BTreeSet::new();
        for id in self.ids().await? {
            match self.get(&id).await? {
                Some(entry) if entry.is_live(now) => {
                    let key = index_key(&entry);
                    if !index.remove(&key) {
                        self.storage.put(&key, Vec::new()).await?;
                        report.index_keys_repaired += 1;
                    }
                    live.insert(id.to_canonical());
                }
                Some(entry) => {
                    self.remove(&entry).await?;
                    report.entries_removed += 1;
                    report.index_keys_removed += u64::from(index.remove(&index_key(&entry)));
                    report.replay_records_removed += u64::from(replay.remove(&id.to_canonical()));
                }
                None => {
                    self.remove_id(&id).await?;
                    report.entries_removed += 1;
                    report.replay_records_removed += u64::from(replay.remove(&id.to_canonical()));
                }
            }
        }
        for key in index {
            self.storage.delete(&key).await?;
            report.index_keys_removed += 1;
        }
        for id in parse_ids(replay.into_iter().collect()) {
            let stale = !live.contains(&id.to_canonical())
                || self
                    .replay_record(&id)
                    .await?
                    .is_some_and(|r| r.is_stale(now));
            if stale {
                self.storage.delete(&replay_key(&id)).await?;
                report.replay_records_removed += 1;
            }
        }
        Ok(report)
    }
}

/// Keys that are canonical entry ids, sorted; anything else is skipped.
fn parse_ids(keys: Vec<String>) -> Vec<EntryId> {
    let mut ids: Vec<(String, EntryId)> = keys
        .into_iter()
        .filter_map(|key| EntryId::parse(&key).ok().map(|id| (key, id)))
        .collect();
    ids.sort_by(|a, b| a.0.cmp(&b.0));
    ids.into_iter().map(|(_, id)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemStorage;

    fn entry(policy: &str, expiration: i64) -> TotpEntry {
        TotpEntry::new(PolicyName::parse(policy).unwrap(), expiration, 100)
    }

    #[tokio::test]
    async fn layout_is_as_documented() {
        let storage = Arc::new(MemStorage::new());
        let store = EntryStore::new(storage.clone());
        let e = entry("ns/app", 200);
        store.insert(&e).await.unwrap();
        store
            .put_replay_record(&e.uuid, ReplayRecord { last_step: 7 })
            .await
            .unwrap();
        let id = e.uuid.to_canonical();
        assert_eq!(
            storage.keys(),
            [
                format!("policy/6e732f617070/{id}"),
                format!("totp/{id}"),
                format!("used/{id}")
            ]
        );
        assert_eq!(store.ids_for_policy(&e.policy).await.unwrap(), [e.uuid]);
        assert_eq!(store.get_live(&e.uuid, 199).await.unwrap(), Some(e.clone()));
        assert_eq!(store.get_live(&e.uuid, 200).await.unwrap(), None);
        store.remove(&e).await.unwrap();
        assert!(storage.keys().is_empty());
    }

    #[tokio::test]
    async fn tidy_removes_what_is_dead_and_repairs_what_is_missing() {
        let storage = Arc::new(MemStorage::new());
        let store = EntryStore::new(storage.clone());
        let live = entry("p", 1_000);
        let expired = entry("p", 150);
        let unindexed = entry("q", 1_000);
        for e in [&live, &expired, &unindexed] {
            store.insert(e).await.unwrap();
        }
        storage.delete(&index_key(&unindexed)).await.unwrap();
        let ghost = entry("p", 1_000); // index and replay record, no entry
        storage.put(&index_key(&ghost), Vec::new()).await.unwrap();
        store
            .put_replay_record(&ghost.uuid, ReplayRecord { last_step: 1 })
            .await
            .unwrap();
        store
            .put_replay_record(&expired.uuid, ReplayRecord { last_step: 1 })
            .await
            .unwrap();
        // A live entry's record that still matters, and one that no longer does.
        store
            .put_replay_record(
                &live.uuid,
                ReplayRecord {
                    last_step: 300 / 30,
                },
            )
            .await
            .unwrap();
        store
            .put_replay_record(&unindexed.uuid, ReplayRecord { last_step: 1 })
            .await
            .unwrap();
        storage
            .put("totp/not-a-uuid", b"{}".to_vec())
            .await
            .unwrap();

        let report = store.tidy(300).await.unwrap();
        assert_eq!(
            report,
            TidyReport {
                entries_removed: 1,
                // The expired entry's and the ghost's.
                index_keys_removed: 2,
                index_keys_repaired: 1,
                // The expired entry's, the ghost's and the stale one.
                replay_records_removed: 3,
            }
        );
        let mut expected = vec![
            index_key(&live),
            index_key(&unindexed),
            entry_key(&live.uuid),
            entry_key(&unindexed.uuid),
            replay_key(&live.uuid),
            "totp/not-a-uuid".to_owned(),
        ];
        expected.sort();
        assert_eq!(storage.keys(), expected);
        assert_eq!(store.tidy(300).await.unwrap(), TidyReport::default());
    }
}
