//! Layout v2 (v0.2.x) to layout v3. v2 kept an entry at `grant/<grant id>`,
//! an accessor record at `accessor/<accessor>` naming the grant id, the
//! index key at `by-policy/<hex(policy)>/<grant id>.<sealed uuid>` and the
//! replay record at `replay/<grant id>`.
//!
//! A v2 accessor is random and operators may have noted it, so each entry
//! keeps it: the entry moves to `entry/<accessor>`, with an `accessor-of/`
//! record that finds it by uuid. Each entry moves in an order that a crash
//! at any point leaves for the next run to finish: the v3 entry with its
//! index key and accessor record (the same keys and values on every run),
//! its last-step record (kept at the later step if both exist), then the
//! v2 accessor record, index key and replay record, and last the v2 entry,
//! whose presence means "not yet moved". Expired v2 entries are dropped, as
//! tidy would. What is left under the v2 prefixes afterwards grants nothing
//! and is removed, so no v2 key survives.
//!
//! A run cut off leaves some entries in both layouts. If v0.2.x then serves
//! the mount (a rollback) and redeems or deletes one of them, its v3 copy
//! must not bring the grant back. So each batch's entries are recorded
//! (`meta/moving`) before their first v3 write, and a run records layout v3
//! before it moves anything: v0.2.x rewrites that record when it starts.
//! The next run, finding the batch recorded and the record rewritten,
//! removes the v3 copy of each recorded entry whose v2 entry is gone. That
//! may remove an entry moved just before the cut, never one v0.2.x revoked:
//! at most one batch, and logged.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::migrate::{
    CONCURRENT_ENTRIES, MigrationReport, Moved, move_replay_record, remove_leftovers, stopped,
};
use super::{Grants, meta};
use crate::domain::{Accessor, GrantId, TotpEntry};
use crate::protocol::{Storage, StorageError};

const V2_ENTRY_PREFIX: &str = "grant/";
const V2_ACCESSOR_PREFIX: &str = "accessor/";
const V2_INDEX_PREFIX: &str = "by-policy/";
const V2_REPLAY_PREFIX: &str = "replay/";
/// The batch a run is moving.
const MOVING_KEY: &str = "meta/moving";

/// Whether a run was cut off with a batch recorded: the next run must see it.
pub(super) async fn has_moving_batch(storage: &dyn Storage) -> Result<bool, StorageError> {
    Ok(storage.get(MOVING_KEY).await?.is_some())
}

/// Every prefix of layout v2.
pub(super) const PREFIXES: [&str; 4] = [
    V2_ENTRY_PREFIX,
    V2_ACCESSOR_PREFIX,
    V2_INDEX_PREFIX,
    V2_REPLAY_PREFIX,
];

/// The value of `meta/moving`.
#[derive(Serialize, Deserialize, Default)]
struct MovingBatch {
    entries: Vec<MovingEntry>,
}

#[derive(Serialize, Deserialize)]
struct MovingEntry {
    grant: String,
    accessor: String,
}

/// Moves every v2 entry and replay record into layout v3,
/// [`CONCURRENT_ENTRIES`] at a time, then removes what is left of v2.
pub(super) async fn migrate(
    storage: &Arc<dyn Storage>,
    grants: &Grants,
    now: i64,
    report: &mut MigrationReport,
) -> Result<(), StorageError> {
    report.interrupted_entries_removed += forget_revoked_moves(storage.as_ref(), grants).await?;
    let names = storage.list(V2_ENTRY_PREFIX).await?;
    if !names.is_empty() {
        // From here on, a start of v0.2.x rewrites the record: the fence.
        meta::record_layout(storage.as_ref()).await?;
    }
    for batch in names.chunks(CONCURRENT_ENTRIES) {
        let mut reads = tokio::task::JoinSet::new();
        for name in batch {
            let (storage, grants, name) = (storage.clone(), grants.clone(), name.clone());
            reads.spawn(async move { read_one(&storage, &grants, name).await });
        }
        let mut found = Vec::new();
        while let Some(joined) = reads.join_next().await {
            match joined.map_err(stopped)?? {
                Found::Entry(entry, grant) => found.push((entry, grant)),
                Found::Undecodable => report.count(Moved::Undecodable),
                Found::Gone => {}
            }
        }
        let moving = MovingBatch {
            entries: found
                .iter()
                .map(|(entry, grant)| MovingEntry {
                    grant: grant.to_string(),
                    accessor: entry.accessor.to_string(),
                })
                .collect(),
        };
        let value = serde_json::to_vec(&moving).unwrap_or_default();
        storage.put(MOVING_KEY, value).await?;
        let mut moves = tokio::task::JoinSet::new();
        for (entry, grant) in found {
            let (storage, grants) = (storage.clone(), grants.clone());
            moves.spawn(async move { move_one(&storage, &grants, entry, grant, now).await });
        }
        while let Some(joined) = moves.join_next().await {
            report.count(joined.map_err(stopped)??);
        }
    }
    storage.delete(MOVING_KEY).await?;
    // The entries go last, as in each move.
    let leftovers = [
        V2_INDEX_PREFIX,
        V2_ACCESSOR_PREFIX,
        V2_REPLAY_PREFIX,
        V2_ENTRY_PREFIX,
    ];
    report.leftover_keys_removed += remove_leftovers(storage.as_ref(), &leftovers).await?;
    Ok(())
}

/// After a run was cut off and v0.2.x started since (it rewrote the layout
/// record), removes the v3 copy of each entry of the recorded batch whose
/// v2 entry is gone: v0.2.x may have redeemed or deleted it. Returns how
/// many were removed.
async fn forget_revoked_moves(storage: &dyn Storage, grants: &Grants) -> Result<u64, StorageError> {
    let Some(bytes) = storage.get(MOVING_KEY).await? else {
        return Ok(0);
    };
    if meta::layout_version(storage).await? == Some(meta::CURRENT_LAYOUT) {
        // No older version ran since the cut: this run resumes the batch.
        return Ok(0);
    }
    let batch: MovingBatch = serde_json::from_slice(&bytes).unwrap_or_default();
    let mut removed = 0;
    for moving in batch.entries {
        let (Some(grant), Ok(accessor)) = (
            GrantId::parse(&moving.grant),
            Accessor::parse(&moving.accessor),
        ) else {
            continue;
        };
        if storage
            .get(&format!("{V2_ENTRY_PREFIX}{grant}"))
            .await?
            .is_some()
        {
            continue; // still in v2: moved again below
        }
        let copy = grants.by_accessor(&accessor).await?;
        if let Some(entry) = copy.filter(|e| grants.key.grant_id(&e.uuid) == grant) {
            grants.remove(&entry).await?;
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::warn!(
            removed,
            "an earlier migration was cut off and an older plugin version served the mount since: removed the entries it was moving that the older version may have redeemed or deleted"
        );
    }
    storage.delete(MOVING_KEY).await?;
    Ok(removed)
}

/// What a listed `grant/<name>` holds when its batch is read.
enum Found {
    /// The entry, live or expired, with its grant id.
    Entry(TotpEntry, GrantId),
    /// Nothing that decodes: deleted, it granted nothing.
    Undecodable,
    /// Gone since it was listed.
    Gone,
}

async fn read_one(
    storage: &Arc<dyn Storage>,
    grants: &Grants,
    name: String,
) -> Result<Found, StorageError> {
    let v2_key = format!("{V2_ENTRY_PREFIX}{name}");
    let Some(bytes) = storage.get(&v2_key).await? else {
        return Ok(Found::Gone);
    };
    let decoded = TotpEntry::from_json(&bytes).ok().and_then(|entry| {
        let grant = grants.key.grant_id(&entry.uuid);
        (GrantId::parse(&name) == Some(grant)).then_some((entry, grant))
    });
    match decoded {
        Some((entry, grant)) => Ok(Found::Entry(entry, grant)),
        None => {
            storage.delete(&v2_key).await?;
            Ok(Found::Undecodable)
        }
    }
}

/// Moves the v2 entry `entry` (stored at `grant/<grant>`), then deletes its
/// v2 keys (the entry last: its presence means "not yet moved").
async fn move_one(
    storage: &Arc<dyn Storage>,
    grants: &Grants,
    entry: TotpEntry,
    grant: GrantId,
    now: i64,
) -> Result<Moved, StorageError> {
    let replay_key = format!("{V2_REPLAY_PREFIX}{grant}");
    let moved = if now >= entry.expiration {
        Moved::Expired
    } else {
        grants.insert(&entry).await?;
        let replay_record =
            move_replay_record(storage.as_ref(), &replay_key, grants, &entry.uuid).await?;
        Moved::Entry { replay_record }
    };
    let (_, sealed) = grants.key.seal(&entry.uuid);
    let index_key = format!(
        "{V2_INDEX_PREFIX}{}/{grant}.{sealed}",
        hex::encode(entry.policy.as_str())
    );
    let accessor_key = format!("{V2_ACCESSOR_PREFIX}{}", entry.accessor);
    tokio::try_join!(
        storage.delete(&accessor_key),
        storage.delete(&index_key),
        storage.delete(&replay_key),
    )?;
    storage.delete(&format!("{V2_ENTRY_PREFIX}{grant}")).await?;
    Ok(moved)
}
