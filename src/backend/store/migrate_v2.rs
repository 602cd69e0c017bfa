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

use std::sync::Arc;

use super::Grants;
use super::migrate::{MigrationReport, Moved, move_all, move_replay_record, remove_leftovers};
use crate::domain::{GrantId, TotpEntry};
use crate::protocol::{Storage, StorageError};

const V2_ENTRY_PREFIX: &str = "grant/";
const V2_ACCESSOR_PREFIX: &str = "accessor/";
const V2_INDEX_PREFIX: &str = "by-policy/";
const V2_REPLAY_PREFIX: &str = "replay/";

/// Every prefix of layout v2.
pub(super) const PREFIXES: [&str; 4] = [
    V2_ENTRY_PREFIX,
    V2_ACCESSOR_PREFIX,
    V2_INDEX_PREFIX,
    V2_REPLAY_PREFIX,
];

/// Moves every v2 entry and replay record into layout v3, then removes what
/// is left of v2.
pub(super) async fn migrate(
    storage: &Arc<dyn Storage>,
    grants: &Grants,
    now: i64,
    report: &mut MigrationReport,
) -> Result<(), StorageError> {
    let names = storage.list(V2_ENTRY_PREFIX).await?;
    move_all(report, names, |name| {
        let (storage, grants) = (storage.clone(), grants.clone());
        async move { move_one(&storage, &grants, &name, now).await }
    })
    .await?;
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

/// Moves the v2 entry `grant/<name>`, then deletes its v2 keys (the entry
/// last: its presence means "not yet moved").
async fn move_one(
    storage: &Arc<dyn Storage>,
    grants: &Grants,
    name: &str,
    now: i64,
) -> Result<Moved, StorageError> {
    let v2_key = format!("{V2_ENTRY_PREFIX}{name}");
    let Some(bytes) = storage.get(&v2_key).await? else {
        return Ok(Moved::Gone);
    };
    let Some((entry, grant)) = TotpEntry::from_json(&bytes).ok().and_then(|entry| {
        let grant = grants.key.grant_id(&entry.uuid);
        (GrantId::parse(name) == Some(grant)).then_some((entry, grant))
    }) else {
        storage.delete(&v2_key).await?;
        return Ok(Moved::Undecodable);
    };
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
    storage.delete(&v2_key).await?;
    Ok(moved)
}
