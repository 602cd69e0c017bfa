//! Where entries live in the mount's storage (layout v3), and the only code
//! that knows. No key holds a uuid: Vault's barrier encrypts values, not
//! keys, and keys sit in clear in Raft snapshots and backups.
//!
//! | key | value | why |
//! |---|---|---|
//! | `meta/layout` | `{"version": 3}` | which layout the data is in (see [`migrate`]) |
//! | `meta/key` | `{"key": base64}` | the mount key: 32 random bytes, made on the first write |
//! | `entry/<accessor>` | the entry: `{uuid, accessor, created, expiration, policy}` | the grant itself, found by uuid and by accessor alike: the mount key derives the accessor from the uuid |
//! | `accessor-of/<grant id>` | `{"accessor": …}` | only for entries made by v0.2.x, whose accessor is random: finds them by uuid |
//! | `index/<hex(policy)>/<grant id>.<sealed uuid>` | empty | `verify` computes a policy's codes from one list (see [`crate::domain::mount_key`]) |
//! | `last-step/<grant id>` | `{"last_step": n}` | the last TOTP step accepted for the entry |
//! | `attempts/…`, `meta/throttle` | failed verifications and their limits | see [`attempts`] |
//!
//! The grant id is hex HMAC-SHA256(mount key, uuid). A create writes the
//! entry and its index key at once, and a removal deletes them (the entry's
//! deletion revokes the grant) with the last-step record at once: one round
//! trip each. A crash or a failed write in between leaves only what `tidy`
//! repairs: lookups without an entry are removed (every reader checks the
//! entry), lookups an entry lacks are restored. Every prefix is seal-wrapped
//! (see [`SEAL_WRAPPED`]).

pub(super) mod attempts;
pub(super) mod meta;
pub(super) mod migrate;
mod migrate_v2;
mod tidy;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_lc_rs::constant_time;
use serde::{Deserialize, Serialize};

use crate::domain::code::ReplayRecord;
use crate::domain::{Accessor, EntryId, GrantId, MountKey, PolicyName, SealedId, TotpEntry};
use crate::protocol::{Storage, StorageError};

pub(super) const ENTRY_PREFIX: &str = "entry/";
pub(super) const ACCESSOR_OF_PREFIX: &str = "accessor-of/";
pub(super) const POLICY_INDEX_PREFIX: &str = "index/";
pub(super) const LAST_STEP_PREFIX: &str = "last-step/";

/// Every prefix of layout v3, for `SpecialPaths.seal_wrap_storage`: values
/// hold uuids, the key, or what leads to them.
pub(super) const SEAL_WRAPPED: &[&str] = &[
    meta::META_PREFIX,
    ENTRY_PREFIX,
    ACCESSOR_OF_PREFIX,
    POLICY_INDEX_PREFIX,
    LAST_STEP_PREFIX,
    attempts::ATTEMPTS_PREFIX,
];

fn entry_key(accessor: &Accessor) -> String {
    format!("{ENTRY_PREFIX}{accessor}")
}

fn accessor_of_key(grant: &GrantId) -> String {
    format!("{ACCESSOR_OF_PREFIX}{grant}")
}

/// Policy names may contain `/`, so the index names them in hex.
fn policy_dir(policy: &PolicyName) -> String {
    format!("{POLICY_INDEX_PREFIX}{}/", hex::encode(policy.as_str()))
}

fn index_key(policy: &PolicyName, grant: &GrantId, sealed: &SealedId) -> String {
    format!("{}{grant}.{sealed}", policy_dir(policy))
}

fn last_step_key(grant: &GrantId) -> String {
    format!("{LAST_STEP_PREFIX}{grant}")
}

/// The value of an `accessor-of/` record.
#[derive(Serialize, Deserialize)]
struct AccessorOf {
    accessor: String,
}

/// Typed access to the mount's entries under its key.
#[derive(Clone)]
pub(super) struct Grants {
    storage: Arc<dyn Storage>,
    key: Arc<MountKey>,
    /// Inserts hold it shared; `tidy` holds it exclusively while it lists,
    /// so it never sees the lookups of an insert in flight without the entry
    /// (and removes them for dangling).
    inserts: Arc<tokio::sync::RwLock<()>>,
    /// Whether entries made by v0.2.x may remain: only then does a uuid
    /// that misses its derived place cost a second read. Set from storage
    /// when the layout is prepared and by a migration; tidy clears it once
    /// none remain (only a migration makes such entries).
    random_accessors: Arc<AtomicBool>,
}

impl Grants {
    pub(super) fn new(storage: Arc<dyn Storage>, key: Arc<MountKey>) -> Self {
        Self {
            storage,
            key,
            inserts: Arc::default(),
            random_accessors: Arc::default(),
        }
    }

    /// A new entry, with the accessor this mount's key derives from its uuid.
    pub(super) fn new_entry(&self, policy: PolicyName, expiration: i64, now: i64) -> TotpEntry {
        TotpEntry::new(&self.key, policy, expiration, now)
    }

    /// Whether `entry`'s accessor is not the one its uuid derives (v0.2.x).
    fn has_random_accessor(&self, entry: &TotpEntry) -> bool {
        entry.accessor != self.key.accessor(&entry.uuid)
    }

    /// Looks whether any entry made by v0.2.x remains.
    pub(super) async fn load_random_accessors(&self) -> Result<(), StorageError> {
        let any = any_key(self.storage.as_ref(), ACCESSOR_OF_PREFIX).await?;
        self.random_accessors.store(any, Ordering::Relaxed);
        Ok(())
    }

    /// The entry stored at `entry/<accessor>`, expired or not; `None` when
    /// absent. An entry that does not decode, or names another accessor, is
    /// reported and treated as absent (it grants nothing).
    async fn read_entry(&self, accessor: &Accessor) -> Result<Option<TotpEntry>, StorageError> {
        let Some(bytes) = self.storage.get(&entry_key(accessor)).await? else {
            return Ok(None);
        };
        match TotpEntry::from_json(&bytes) {
            Ok(entry) if entry.accessor == *accessor => Ok(Some(entry)),
            _ => {
                tracing::error!(accessor = %accessor, "a stored TOTP entry does not decode; ignoring it");
                Ok(None)
            }
        }
    }

    /// The entry whose uuid is `id`, expired or not.
    pub(super) async fn get(&self, id: &EntryId) -> Result<Option<TotpEntry>, StorageError> {
        let holds = |entry: &TotpEntry| {
            constant_time::verify_slices_are_equal(entry.uuid.as_bytes(), id.as_bytes()).is_ok()
        };
        if let Some(entry) = self.read_entry(&self.key.accessor(id)).await? {
            return Ok(Some(entry).filter(holds));
        }
        if !self.random_accessors.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let grant = self.key.grant_id(id);
        let Some(bytes) = self.storage.get(&accessor_of_key(&grant)).await? else {
            return Ok(None);
        };
        let Some(accessor) = serde_json::from_slice::<AccessorOf>(&bytes)
            .ok()
            .and_then(|r| Accessor::parse(&r.accessor).ok())
        else {
            tracing::error!(grant = %grant, "an accessor record does not decode; ignoring it");
            return Ok(None);
        };
        Ok(self.read_entry(&accessor).await?.filter(holds))
    }

    /// The entry whose uuid is `id` if it still holds at `now`.
    pub(super) async fn get_live(
        &self,
        id: &EntryId,
        now: i64,
    ) -> Result<Option<TotpEntry>, StorageError> {
        Ok(self.get(id).await?.filter(|e| e.is_live(now)))
    }

    /// The entry named by `accessor`, expired or not.
    pub(super) async fn by_accessor(
        &self,
        accessor: &Accessor,
    ) -> Result<Option<TotpEntry>, StorageError> {
        self.read_entry(accessor).await
    }

    /// Stores an entry with its index key (and, for an entry of v0.2.x, its
    /// accessor record).
    pub(super) async fn insert(&self, entry: &TotpEntry) -> Result<(), StorageError> {
        let _insert = self.inserts.read().await;
        let (grant, sealed) = self.key.seal(&entry.uuid);
        let key = entry_key(&entry.accessor);
        tokio::try_join!(
            self.storage.put(&key, entry.to_bytes()),
            self.put_lookups(entry, &grant, &sealed),
        )
        .map(|_| ())
    }

    /// The index key of a stored entry, and its accessor record if it has a
    /// random accessor (idempotent).
    async fn put_lookups(
        &self,
        entry: &TotpEntry,
        grant: &GrantId,
        sealed: &SealedId,
    ) -> Result<(), StorageError> {
        let index_key = index_key(&entry.policy, grant, sealed);
        if !self.has_random_accessor(entry) {
            return self.storage.put(&index_key, Vec::new()).await;
        }
        self.random_accessors.store(true, Ordering::Relaxed);
        let record = serde_json::json!({"accessor": entry.accessor.to_string()}).to_string();
        let record_key = accessor_of_key(grant);
        tokio::try_join!(
            self.storage.put(&record_key, record.into_bytes()),
            self.storage.put(&index_key, Vec::new()),
        )
        .map(|_| ())
    }

    /// Removes an entry with its index key, last-step record and accessor
    /// record, if it has one.
    pub(super) async fn remove(&self, entry: &TotpEntry) -> Result<(), StorageError> {
        let (grant, sealed) = self.key.seal(&entry.uuid);
        let (entry_key, index_key, last_step_key) = (
            entry_key(&entry.accessor),
            index_key(&entry.policy, &grant, &sealed),
            last_step_key(&grant),
        );
        let removed = async {
            tokio::try_join!(
                self.storage.delete(&entry_key),
                self.storage.delete(&index_key),
                self.storage.delete(&last_step_key),
            )
            .map(|_| ())
        };
        if !self.has_random_accessor(entry) {
            return removed.await;
        }
        let record_key = accessor_of_key(&grant);
        tokio::try_join!(removed, self.storage.delete(&record_key)).map(|_| ())
    }

    /// Removes whatever is stored for the uuid `id`; succeeds when nothing is.
    pub(super) async fn remove_uuid(&self, id: &EntryId) -> Result<(), StorageError> {
        match self.get(id).await? {
            Some(entry) => self.remove(&entry).await,
            // Leftovers of an interrupted removal are tidy's.
            None => Ok(()),
        }
    }

    /// Removes the entry named by `accessor`; succeeds when nothing is stored.
    pub(super) async fn remove_accessor(&self, accessor: &Accessor) -> Result<(), StorageError> {
        match self.by_accessor(accessor).await? {
            Some(entry) => self.remove(&entry).await,
            None => Ok(()),
        }
    }

    /// Every accessor with an entry, sorted.
    pub(super) async fn accessors(&self) -> Result<Vec<Accessor>, StorageError> {
        let mut accessors: Vec<Accessor> = self
            .storage
            .list(ENTRY_PREFIX)
            .await?
            .iter()
            .filter_map(|key| Accessor::parse(key).ok())
            .collect();
        accessors.sort();
        Ok(accessors)
    }

    /// The uuids indexed under `policy`, opened from their index keys with
    /// one storage list (possibly stale: check the entry).
    pub(super) async fn policy_members(
        &self,
        policy: &PolicyName,
    ) -> Result<Vec<EntryId>, StorageError> {
        let keys = self.storage.list(&policy_dir(policy)).await?;
        Ok(keys
            .iter()
            .filter_map(|key| self.open_index_name(key))
            .collect())
    }

    /// `<grant id>.<sealed uuid>` → the uuid, if it is one of ours.
    fn open_index_name(&self, name: &str) -> Option<EntryId> {
        let (grant, sealed) = name.split_once('.')?;
        self.key
            .open(&GrantId::parse(grant)?, &SealedId::parse(sealed)?)
    }

    pub(super) async fn replay_record(
        &self,
        id: &EntryId,
    ) -> Result<Option<ReplayRecord>, StorageError> {
        read_replay_record(
            self.storage.as_ref(),
            &last_step_key(&self.key.grant_id(id)),
        )
        .await
    }

    pub(super) async fn put_replay_record(
        &self,
        id: &EntryId,
        record: ReplayRecord,
    ) -> Result<(), StorageError> {
        let key = last_step_key(&self.key.grant_id(id));
        write_replay_record(self.storage.as_ref(), &key, record).await
    }
}

/// Whether anything is stored under `prefix`: one name asked for where the
/// host pages (OpenBao), else a whole list (HashiCorp Vault).
async fn any_key(storage: &dyn Storage, prefix: &str) -> Result<bool, StorageError> {
    Ok(match storage.list_page(prefix, "", 1).await? {
        Some(names) => !names.is_empty(),
        None => !storage.list(prefix).await?.is_empty(),
    })
}

/// A replay record at `key`. An undecodable one must not reopen the entry
/// to replays: it counts as covering every step until tidy replaces it.
async fn read_replay_record(
    storage: &dyn Storage,
    key: &str,
) -> Result<Option<ReplayRecord>, StorageError> {
    let Some(bytes) = storage.get(key).await? else {
        return Ok(None);
    };
    Ok(Some(serde_json::from_slice(&bytes).unwrap_or(
        ReplayRecord {
            last_step: u64::MAX,
        },
    )))
}

async fn write_replay_record(
    storage: &dyn Storage,
    key: &str,
    record: ReplayRecord,
) -> Result<(), StorageError> {
    let value = serde_json::json!({"last_step": record.last_step}).to_string();
    storage.put(key, value.into_bytes()).await
}

#[cfg(test)]
mod tests;
