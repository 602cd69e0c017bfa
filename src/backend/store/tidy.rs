//! Removing what is dead and repairing what a crash left half-written.

use std::collections::BTreeSet;

use super::{
    ACCESSOR_PREFIX, GRANT_PREFIX, Grants, POLICY_INDEX_PREFIX, REPLAY_PREFIX, accessor_key,
    grant_key, index_key,
};
use crate::domain::GrantId;
use crate::protocol::StorageError;

/// What one `tidy` pass removed or repaired.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(in crate::backend) struct TidyReport {
    pub entries_removed: u64,
    pub index_keys_removed: u64,
    pub index_keys_repaired: u64,
    pub accessor_records_removed: u64,
    pub accessor_records_repaired: u64,
    pub replay_records_removed: u64,
    pub attempt_records_removed: u64,
}

impl Grants {
    /// Removes expired entries, index keys and accessor records without a
    /// live entry, and replay records that can no longer refuse anything;
    /// restores index keys and accessor records a crash left unwritten.
    /// Lookups are listed before entries, with no insert in flight, so those
    /// of an entry created meanwhile are never taken for stale. The report
    /// counts every key removed, including those of expired entries.
    pub(in crate::backend) async fn tidy(&self, now: i64) -> Result<TidyReport, StorageError> {
        let mut report = TidyReport::default();
        let listing = self.inserts.write().await;
        let mut index = BTreeSet::new();
        for dir in self.storage.list(POLICY_INDEX_PREFIX).await? {
            let dir = format!("{POLICY_INDEX_PREFIX}{dir}");
            for name in self.storage.list(&dir).await? {
                index.insert(format!("{dir}{name}"));
            }
        }
        let mut accessors: BTreeSet<String> = self
            .storage
            .list(ACCESSOR_PREFIX)
            .await?
            .into_iter()
            .map(|name| format!("{ACCESSOR_PREFIX}{name}"))
            .collect();
        let replay = self.storage.list(REPLAY_PREFIX).await?;
        let grants = self.storage.list(GRANT_PREFIX).await?;
        drop(listing);

        let mut live = BTreeSet::new();
        for name in grants {
            let Some(grant) = GrantId::parse(&name) else {
                continue; // not a key this plugin writes
            };
            let Some(entry) = self.get_grant(&grant).await? else {
                // Listed but undecodable: it grants nothing.
                self.storage.delete(&grant_key(&grant)).await?;
                report.entries_removed += 1;
                continue;
            };
            let (_, sealed) = self.key.seal(&entry.uuid);
            let index_key = index_key(&entry.policy, &grant, &sealed);
            let accessor_key = accessor_key(&entry.accessor);
            if !entry.is_live(now) {
                self.remove(&entry).await?;
                report.entries_removed += 1;
                report.index_keys_removed += u64::from(index.remove(&index_key));
                report.accessor_records_removed += u64::from(accessors.remove(&accessor_key));
                continue;
            }
            let index_missing = !index.remove(&index_key);
            let accessor_missing = !accessors.remove(&accessor_key);
            if index_missing || accessor_missing {
                self.put_lookups(&entry, &grant, &sealed).await?;
                report.index_keys_repaired += u64::from(index_missing);
                report.accessor_records_repaired += u64::from(accessor_missing);
            }
            live.insert(grant.to_string());
        }
        for key in index {
            self.storage.delete(&key).await?;
            report.index_keys_removed += 1;
        }
        for key in accessors {
            self.storage.delete(&key).await?;
            report.accessor_records_removed += 1;
        }
        for name in replay {
            let key = format!("{REPLAY_PREFIX}{name}");
            let stale = !live.contains(&name)
                || super::read_replay_record(self.storage.as_ref(), &key)
                    .await?
                    .is_some_and(|r| r.is_stale(now));
            if stale {
                self.storage.delete(&key).await?;
                report.replay_records_removed += 1;
            }
        }
        report.attempt_records_removed = self.tidy_attempts(now).await?;
        Ok(report)
    }
}
