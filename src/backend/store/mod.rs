//! Where entries live in the mount's storage (layout v2), and the only code
//! that knows. No key holds a uuid: Vault's barrier encrypts values, not
//! keys, and keys sit in clear in Raft snapshots and backups.
//!
//! | key | value | why |
//! |---|---|---|
//! | `meta/layout` | `{"version": 2}` | which layout the data is in (see [`migrate`]) |
//! | `meta/key` | `{"key": base64}` | the mount key: 32 random bytes, made on the first write |
//! | `grant/<grant id>` | the entry: `{uuid, accessor, created, expiration, policy}` | the grant itself; grant id = hex HMAC-SHA256(mount key, uuid) |
//! | `accessor/<accessor>` | `{"grant": <grant id>}` | finds an entry by its accessor; lists entries |
//! | `by-policy/<hex(policy)>/<grant id>.<sealed uuid>` | empty | `verify` computes a policy's codes from one list (see [`crate::domain::mount_key`]) |
//! | `replay/<grant id>` | `{"last_step": n}` | the last TOTP step accepted for the entry |
//! | `attempts/…`, `meta/throttle` | failed verifications and their limits | see [`attempts`] |
//!
//! A create writes the entry, its accessor record and its index key at once,
//! and a removal deletes them (the entry's deletion revokes the grant) with
//! the replay record at once: one round trip each. A crash or a failed write
//! in between leaves only what `tidy` repairs: lookups without an entry are
//! removed (every reader checks the entry), lookups an entry lacks are
//! restored. Every prefix is seal-wrapped (see [`SEAL_WRAPPED`]).

pub(super) mod attempts;
pub(super) mod meta;
pub(super) mod migrate;
mod tidy;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::code::ReplayRecord;
use crate::domain::{Accessor, EntryId, GrantId, MountKey, PolicyName, SealedId, TotpEntry};
use crate::protocol::{Storage, StorageError};

pub(super) const GRANT_PREFIX: &str = "grant/";
pub(super) const ACCESSOR_PREFIX: &str = "accessor/";
pub(super) const POLICY_INDEX_PREFIX: &str = "by-policy/";
pub(super) const REPLAY_PREFIX: &str = "replay/";

/// Every prefix of layout v2, for `SpecialPaths.seal_wrap_storage`: values
/// hold uuids, the key, or what leads to them.
pub(super) const SEAL_WRAPPED: &[&str] = &[
    meta::META_PREFIX,
    GRANT_PREFIX,
    ACCESSOR_PREFIX,
    POLICY_INDEX_PREFIX,
    REPLAY_PREFIX,
    attempts::ATTEMPTS_PREFIX,
];

fn grant_key(grant: &GrantId) -> String {
    format!("{GRANT_PREFIX}{grant}")
}

fn accessor_key(accessor: &Accessor) -> String {
    format!("{ACCESSOR_PREFIX}{accessor}")
}

/// Policy names may contain `/`, so the index names them in hex.
fn policy_dir(policy: &PolicyName) -> String {
    format!("{POLICY_INDEX_PREFIX}{}/", hex::encode(policy.as_str()))
}

fn index_key(policy: &PolicyName, grant: &GrantId, sealed: &SealedId) -> String {
    format!("{}{grant}.{sealed}", policy_dir(policy))
}

fn replay_key(grant: &GrantId) -> String {
    format!("{REPLAY_PREFIX}{grant}")
}

/// The value of an accessor record.
#[derive(Serialize, Deserialize)]
struct AccessorRecord {
    grant: String,
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
}

impl Grants {
    pub(super) fn new(storage: Arc<dyn Storage>, key: Arc<MountKey>) -> Self {
        Self {
            storage,
            key,
            inserts: Arc::default(),
        }
    }

    /// The entry stored under `grant`, expired or not; `None` when absent.
    /// An entry that does not decode is reported and treated as absent (it
    /// grants nothing).
    async fn get_grant(&self, grant: &GrantId) -> Result<Option<TotpEntry>, StorageError> {
        let Some(bytes) = self.storage.get(&grant_key(grant)).await? else {
            return Ok(None);
        };
        match TotpEntry::from_json(&bytes) {
            Ok(entry) if self.key.grant_id(&entry.uuid) == *grant => Ok(Some(entry)),
            _ => {
                tracing::error!(grant = %grant, "a stored TOTP entry does not decode; ignoring it");
                Ok(None)
            }
        }
    }

    /// The entry whose uuid is `id`, expired or not.
    pub(super) async fn get(&self, id: &EntryId) -> Result<Option<TotpEntry>, StorageError> {
        self.get_grant(&self.key.grant_id(id)).await
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
        let Some(bytes) = self.storage.get(&accessor_key(accessor)).await? else {
            return Ok(None);
        };
        let Some(grant) = serde_json::from_slice::<AccessorRecord>(&bytes)
            .ok()
            .and_then(|r| GrantId::parse(&r.grant))
        else {
            tracing::error!(accessor = %accessor, "an accessor record does not decode; ignoring it");
            return Ok(None);
        };
        Ok(self
            .get_grant(&grant)
            .await?
            .filter(|e| e.accessor == *accessor))
    }

    /// Stores a new entry with its accessor record and index key.
    pub(super) async fn insert(&self, entry: &TotpEntry) -> Result<(), StorageError> {
        let _insert = self.inserts.read().await;
        let (grant, sealed) = self.key.seal(&entry.uuid);
        let key = grant_key(&grant);
        tokio::try_join!(
            self.storage.put(&key, entry.to_bytes()),
            self.put_lookups(entry, &grant, &sealed),
        )
        .map(|_| ())
    }

    /// The accessor record and index key of a stored entry (idempotent).
    async fn put_lookups(
        &self,
        entry: &TotpEntry,
        grant: &GrantId,
        sealed: &SealedId,
    ) -> Result<(), StorageError> {
        let record = serde_json::json!({"grant": grant.to_string()}).to_string();
        let (accessor_key, index_key) = (
            accessor_key(&entry.accessor),
            index_key(&entry.policy, grant, sealed),
        );
        tokio::try_join!(
            self.storage.put(&accessor_key, record.into_bytes()),
            self.storage.put(&index_key, Vec::new()),
        )
        .map(|_| ())
    }

    /// Removes an entry with its accessor record, index key and replay record.
    pub(super) async fn remove(&self, entry: &TotpEntry) -> Result<(), StorageError> {
        let (grant, sealed) = self.key.seal(&entry.uuid);
        let (grant_key, accessor_key, index_key, replay_key) = (
            grant_key(&grant),
            accessor_key(&entry.accessor),
            index_key(&entry.policy, &grant, &sealed),
            replay_key(&grant),
        );
        tokio::try_join!(
            self.storage.delete(&grant_key),
            self.storage.delete(&accessor_key),
            self.storage.delete(&index_key),
            self.storage.delete(&replay_key),
        )
        .map(|_| ())
    }

    /// Removes whatever is stored for the uuid `id`; succeeds when nothing is.
    pub(super) async fn remove_uuid(&self, id: &EntryId) -> Result<(), StorageError> {
        match self.get(id).await? {
            Some(entry) => self.remove(&entry).await,
            // Leftovers of an interrupted removal are tidy's.
            None => Ok(()),
        }
    }

    /// Removes the entry named by `accessor`, and a stale accessor record;
    /// succeeds when nothing is stored.
    pub(super) async fn remove_accessor(&self, accessor: &Accessor) -> Result<(), StorageError> {
        match self.by_accessor(accessor).await? {
            Some(entry) => self.remove(&entry).await,
            None => self.storage.delete(&accessor_key(accessor)).await,
        }
    }

    /// Every accessor with a record, sorted.
    pub(super) async fn accessors(&self) -> Result<Vec<Accessor>, StorageError> {
        let mut accessors: Vec<Accessor> = self
            .storage
            .list(ACCESSOR_PREFIX)
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
        read_replay_record(self.storage.as_ref(), &replay_key(&self.key.grant_id(id))).await
    }

    pub(super) async fn put_replay_record(
        &self,
        id: &EntryId,
        record: ReplayRecord,
    ) -> Result<(), StorageError> {
        let key = replay_key(&self.key.grant_id(id));
        write_replay_record(self.storage.as_ref(), &key, record).await
    }
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
