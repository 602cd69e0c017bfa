//! Layout v1 (v0.1.0) to layout v2. v1 kept entries at `totp/<uuid>`, their
//! policy index at `policy/<hex(policy)>/<uuid>` and replay records at
//! `used/<uuid>`: uuids in clear in storage keys.
//!
//! Each v1 entry moves in an order that a crash at any point leaves for the
//! next run to finish: the v2 entry (reused if a previous run wrote it, so
//! its accessor stays), its accessor record and index key, its replay record
//! (kept at the later step if both exist), then the v1 index key and replay
//! record, and last the v1 entry, whose presence means "not yet moved".
//! Expired v1 entries are dropped, as tidy would. What is left under the v1
//! prefixes afterwards (index keys and replay records without an entry,
//! undecodable keys) grants nothing and is removed, so no v1 key survives.

use std::sync::Arc;

use serde::Deserialize;

use super::{Grants, read_replay_record, replay_key, write_replay_record};
use crate::domain::code::ReplayRecord;
use crate::domain::{Accessor, EntryId, PolicyName, TotpEntry};
use crate::protocol::{Storage, StorageError};

const V1_ENTRY_PREFIX: &str = "totp/";
const V1_INDEX_PREFIX: &str = "policy/";
const V1_REPLAY_PREFIX: &str = "used/";

/// v1's stored entry.
#[derive(Deserialize)]
struct V1Entry {
    uuid: EntryId,
    created: i64,
    expiration: i64,
    policy: PolicyName,
}

/// What one migration run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(in crate::backend) struct MigrationReport {
    pub entries_moved: u64,
    pub expired_entries_dropped: u64,
    pub replay_records_moved: u64,
    pub leftover_keys_removed: u64,
}

/// Whether any v1 key is left.
pub(in crate::backend) async fn has_v1_data(storage: &dyn Storage) -> Result<bool, StorageError> {
    for prefix in [V1_ENTRY_PREFIX, V1_INDEX_PREFIX, V1_REPLAY_PREFIX] {
        if !storage.list(prefix).await?.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Entries migrated at once: their writes overlap, so a Raft backend
/// commits them in shared batches (one at a time measured 77 entries/s).
const CONCURRENT_ENTRIES: usize = 32;

/// What became of one v1 entry.
enum Moved {
    /// Now in layout v2, with its replay record if it had one.
    Entry { replay_record: bool },
    /// Expired: dropped, as tidy would.
    Expired,
    /// Undecodable: it granted nothing in v1 either.
    Undecodable,
    /// Gone since it was listed.
    Gone,
}

/// Moves every v1 entry and replay record into layout v2 under `grants`'
/// key, [`CONCURRENT_ENTRIES`] at a time, then removes what is left of v1.
/// Each entry's own writes keep their order, so stopping anywhere (an
/// error here drops the entries in flight) leaves what the next run
/// finishes.
pub(in crate::backend) async fn migrate(
    storage: &Arc<dyn Storage>,
    grants: &Grants,
    now: i64,
) -> Result<MigrationReport, StorageError> {
    let mut report = MigrationReport::default();
    let names = storage.list(V1_ENTRY_PREFIX).await?;
    for batch in names.chunks(CONCURRENT_ENTRIES) {
        let mut tasks = tokio::task::JoinSet::new();
        for name in batch {
            let (storage, grants, name) = (storage.clone(), grants.clone(), name.clone());
            tasks.spawn(async move { move_one(&storage, &grants, &name, now).await });
        }
        while let Some(joined) = tasks.join_next().await {
            let moved = joined
                .map_err(|e| StorageError::Transport(format!("a migration task stopped: {e}")))??;
            match moved {
                Moved::Entry { replay_record } => {
                    report.entries_moved += 1;
                    report.replay_records_moved += u64::from(replay_record);
                }
                Moved::Expired => report.expired_entries_dropped += 1,
                Moved::Undecodable => report.leftover_keys_removed += 1,
                Moved::Gone => {}
            }
        }
    }
    report.leftover_keys_removed += remove_leftovers(storage.as_ref()).await?;
    Ok(report)
}

/// Moves the v1 entry `totp/<name>`, then deletes its v1 keys (the entry
/// last: its presence means "not yet moved").
async fn move_one(
    storage: &Arc<dyn Storage>,
    grants: &Grants,
    name: &str,
    now: i64,
) -> Result<Moved, StorageError> {
    let v1_key = format!("{V1_ENTRY_PREFIX}{name}");
    let Some(bytes) = storage.get(&v1_key).await? else {
        return Ok(Moved::Gone);
    };
    let Some(entry) = serde_json::from_slice::<V1Entry>(&bytes)
        .ok()
        .filter(|e| e.uuid.to_canonical() == name)
    else {
        storage.delete(&v1_key).await?;
        return Ok(Moved::Undecodable);
    };
    let moved = if now >= entry.expiration {
        Moved::Expired
    } else {
        Moved::Entry {
            replay_record: move_entry(storage, grants, &entry).await?,
        }
    };
    let index_key = format!(
        "{V1_INDEX_PREFIX}{}/{name}",
        hex::encode(entry.policy.as_str())
    );
    let replay_key = format!("{V1_REPLAY_PREFIX}{name}");
    tokio::try_join!(storage.delete(&index_key), storage.delete(&replay_key))?;
    storage.delete(&v1_key).await?;
    Ok(moved)
}

/// Writes `entry` in layout v2 (idempotent) and copies its replay record;
/// returns whether there was one.
async fn move_entry(
    storage: &Arc<dyn Storage>,
    grants: &Grants,
    v1: &V1Entry,
) -> Result<bool, StorageError> {
    match grants.get(&v1.uuid).await? {
        // A previous run wrote it: keep its accessor, finish its lookups.
        Some(moved) => {
            let (grant, sealed) = grants.key.seal(&moved.uuid);
            grants.put_lookups(&moved, &grant, &sealed).await?;
        }
        None => {
            let entry = TotpEntry {
                uuid: v1.uuid,
                accessor: Accessor::generate(),
                created: v1.created,
                expiration: v1.expiration,
                policy: v1.policy.clone(),
            };
            grants.insert(&entry).await?;
        }
    }
    let grant = grants.key.grant_id(&v1.uuid);
    let v1_replay = format!("{V1_REPLAY_PREFIX}{}", v1.uuid.to_canonical());
    let Some(old) = read_replay_record(storage.as_ref(), &v1_replay).await? else {
        return Ok(false);
    };
    let v2_replay = replay_key(&grant);
    let newer = read_replay_record(storage.as_ref(), &v2_replay).await?;
    let last_step = newer.map_or(old.last_step, |r| r.last_step.max(old.last_step));
    write_replay_record(storage.as_ref(), &v2_replay, ReplayRecord { last_step }).await?;
    Ok(true)
}

/// Removes every key left under the v1 prefixes, at any depth; returns how many.
async fn remove_leftovers(storage: &dyn Storage) -> Result<u64, StorageError> {
    let mut removed = 0;
    let mut dirs = vec![
        V1_INDEX_PREFIX.to_owned(),
        V1_REPLAY_PREFIX.to_owned(),
        V1_ENTRY_PREFIX.to_owned(),
    ];
    while let Some(dir) = dirs.pop() {
        for name in storage.list(&dir).await? {
            let key = format!("{dir}{name}");
            if name.ends_with('/') {
                dirs.push(key);
            } else {
                storage.delete(&key).await?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}
