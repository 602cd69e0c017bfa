//! Older layouts to layout v3: v1 (v0.1.0) here, v2 (v0.2.x) in
//! [`super::migrate_v2`]. v1 kept entries at `totp/<uuid>`, their policy
//! index at `policy/<hex(policy)>/<uuid>` and replay records at
//! `used/<uuid>`: uuids in clear in storage keys.
//!
//! Each v1 entry moves in an order that a crash at any point leaves for the
//! next run to finish: the v3 entry with its index key (the same keys and
//! values on every run: the accessor derives from the uuid), its last-step
//! record (kept at the later step if both exist), then the v1 index key and
//! replay record, and last the v1 entry, whose presence means "not yet
//! moved". Expired v1 entries are dropped, as tidy would. What is left under
//! the v1 prefixes afterwards (index keys and replay records without an
//! entry, undecodable keys) grants nothing and is removed, so no v1 key
//! survives.

use std::sync::Arc;

use serde::Deserialize;

use super::{Grants, any_key, last_step_key, migrate_v2, read_replay_record, write_replay_record};
use crate::domain::code::ReplayRecord;
use crate::domain::{EntryId, PolicyName, TotpEntry};
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
    /// Entries of a cut-off run that an older version may have revoked
    /// since (see [`super::migrate_v2`]).
    pub interrupted_entries_removed: u64,
}

/// Whether any key of v1 or v2 is left, or a cut-off run's record.
pub(in crate::backend) async fn has_old_data(storage: &dyn Storage) -> Result<bool, StorageError> {
    let v1 = [V1_ENTRY_PREFIX, V1_INDEX_PREFIX, V1_REPLAY_PREFIX];
    for prefix in v1.into_iter().chain(migrate_v2::PREFIXES) {
        if any_key(storage, prefix).await? {
            return Ok(true);
        }
    }
    migrate_v2::has_moving_batch(storage).await
}

/// Entries migrated at once: their writes overlap, so a Raft backend
/// commits them in shared batches (one at a time measured 77 entries/s).
pub(super) const CONCURRENT_ENTRIES: usize = 32;

/// What became of one old entry.
pub(super) enum Moved {
    /// Now in layout v3, with its replay record if it had one.
    Entry { replay_record: bool },
    /// Expired: dropped, as tidy would.
    Expired,
    /// Undecodable: it granted nothing before either.
    Undecodable,
    /// Gone since it was listed.
    Gone,
}

impl MigrationReport {
    pub(super) fn count(&mut self, moved: Moved) {
        match moved {
            Moved::Entry { replay_record } => {
                self.entries_moved += 1;
                self.replay_records_moved += u64::from(replay_record);
            }
            Moved::Expired => self.expired_entries_dropped += 1,
            Moved::Undecodable => self.leftover_keys_removed += 1,
            Moved::Gone => {}
        }
    }
}

/// Moves every v1 entry, then every v2 entry, with their replay records
/// into layout v3 under `grants`' key, and removes what is left of both.
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
    move_all(&mut report, names, |name| {
        let (storage, grants) = (storage.clone(), grants.clone());
        async move { move_one(&storage, &grants, &name, now).await }
    })
    .await?;
    let leftovers = [V1_INDEX_PREFIX, V1_REPLAY_PREFIX, V1_ENTRY_PREFIX];
    report.leftover_keys_removed += remove_leftovers(storage.as_ref(), &leftovers).await?;
    migrate_v2::migrate(storage, grants, now, &mut report).await?;
    Ok(report)
}

/// Runs `move_one` on every name, [`CONCURRENT_ENTRIES`] at a time.
async fn move_all<F, Fut>(
    report: &mut MigrationReport,
    names: Vec<String>,
    move_one: F,
) -> Result<(), StorageError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Moved, StorageError>> + Send + 'static,
{
    for batch in names.chunks(CONCURRENT_ENTRIES) {
        let mut tasks = tokio::task::JoinSet::new();
        for name in batch {
            tasks.spawn(move_one(name.clone()));
        }
        while let Some(joined) = tasks.join_next().await {
            report.count(joined.map_err(stopped)??);
        }
    }
    Ok(())
}

/// A migration task that panicked or was cancelled, as the storage error
/// that stops the run (the next one resumes it).
pub(super) fn stopped(error: tokio::task::JoinError) -> StorageError {
    StorageError::Transport(format!("a migration task stopped: {error}"))
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

/// Writes `entry` in layout v3 (idempotent) and copies its replay record;
/// returns whether there was one.
async fn move_entry(
    storage: &Arc<dyn Storage>,
    grants: &Grants,
    v1: &V1Entry,
) -> Result<bool, StorageError> {
    let entry = TotpEntry {
        uuid: v1.uuid,
        accessor: grants.key.accessor(&v1.uuid),
        created: v1.created,
        expiration: v1.expiration,
        policy: v1.policy.clone(),
    };
    grants.insert(&entry).await?;
    let v1_replay = format!("{V1_REPLAY_PREFIX}{}", v1.uuid.to_canonical());
    move_replay_record(storage.as_ref(), &v1_replay, grants, &v1.uuid).await
}

/// Copies the replay record at `old_key` to the last-step record of `id`,
/// keeping the later step if both exist; whether there was one. The caller
/// deletes the old one.
pub(super) async fn move_replay_record(
    storage: &dyn Storage,
    old_key: &str,
    grants: &Grants,
    id: &EntryId,
) -> Result<bool, StorageError> {
    let Some(old) = read_replay_record(storage, old_key).await? else {
        return Ok(false);
    };
    let new_key = last_step_key(&grants.key.grant_id(id));
    let newer = read_replay_record(storage, &new_key).await?;
    let last_step = newer.map_or(old.last_step, |r| r.last_step.max(old.last_step));
    write_replay_record(storage, &new_key, ReplayRecord { last_step }).await?;
    Ok(true)
}

/// Removes every key left under `prefixes`, at any depth; returns how many.
pub(super) async fn remove_leftovers(
    storage: &dyn Storage,
    prefixes: &[&str],
) -> Result<u64, StorageError> {
    let mut removed = 0;
    let mut dirs: Vec<String> = prefixes.iter().map(|p| (*p).to_owned()).collect();
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
