//! Removing what is dead and repairing what a crash left half-written.

use std::collections::{HashMap, HashSet};

use super::{
    ACCESSOR_PREFIX, GRANT_PREFIX, Grants, POLICY_INDEX_PREFIX, REPLAY_PREFIX, accessor_key,
    grant_key, policy_dir,
};
use crate::domain::{Accessor, GrantId, SealedId};
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

/// The lookups a pass listed, held as binary ids rather than key strings:
/// tidy must hold every lookup of the mount at once (a bench of 33,854
/// entries peaked at 14 MiB more with strings), and the ids take a quarter.
#[derive(Default)]
struct ListedLookups {
    /// Index directories (`by-policy/<hex>/`), numbered by position.
    dirs: Vec<String>,
    dir_numbers: HashMap<String, u32>,
    /// Index keys, as (directory number, grant, sealed uuid).
    index: HashSet<(u32, GrantId, SealedId)>,
    accessors: HashSet<Accessor>,
    /// Keys under the index and accessor prefixes in no spelling this
    /// plugin writes: they lead nowhere.
    odd_index_keys: Vec<String>,
    odd_accessor_keys: Vec<String>,
}

impl ListedLookups {
    fn add_index_dir(&mut self, dir: String, names: Vec<String>) {
        let Ok(number) = u32::try_from(self.dirs.len()) else {
            // More policies than a u32 counts: keep the rest as odd keys,
            // which a later pass (with fewer) sorts out.
            self.odd_index_keys
                .extend(names.into_iter().map(|name| format!("{dir}{name}")));
            return;
        };
        for name in names {
            match parse_index_name(&name) {
                Some((grant, sealed)) => {
                    self.index.insert((number, grant, sealed));
                }
                None => self.odd_index_keys.push(format!("{dir}{name}")),
            }
        }
        self.dir_numbers.insert(dir.clone(), number);
        self.dirs.push(dir);
    }

    fn add_accessors(&mut self, names: Vec<String>) {
        for name in names {
            match Accessor::parse(&name) {
                Ok(accessor) => {
                    self.accessors.insert(accessor);
                }
                Err(_) => self
                    .odd_accessor_keys
                    .push(format!("{ACCESSOR_PREFIX}{name}")),
            }
        }
    }

    /// Takes the entry's index key off the list; whether it was there.
    fn take_index(&mut self, dir: &str, grant: GrantId, sealed: SealedId) -> bool {
        self.dir_numbers
            .get(dir)
            .is_some_and(|&number| self.index.remove(&(number, grant, sealed)))
    }

    /// The keys of what no live or expired entry took: dangling.
    fn dangling_index_keys(&self) -> impl Iterator<Item = String> + '_ {
        let listed = self.index.iter().filter_map(|&(number, grant, sealed)| {
            let dir = self.dirs.get(usize::try_from(number).ok()?)?;
            Some(format!("{dir}{grant}.{sealed}"))
        });
        listed.chain(self.odd_index_keys.iter().cloned())
    }

    fn dangling_accessor_keys(&self) -> impl Iterator<Item = String> + '_ {
        self.accessors
            .iter()
            .map(accessor_key)
            .chain(self.odd_accessor_keys.iter().cloned())
    }
}

/// `<grant id>.<sealed uuid>`, as `index_key` writes it.
fn parse_index_name(name: &str) -> Option<(GrantId, SealedId)> {
    let (grant, sealed) = name.split_once('.')?;
    Some((GrantId::parse(grant)?, SealedId::parse(sealed)?))
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
        let mut lookups = ListedLookups::default();
        for dir in self.storage.list(POLICY_INDEX_PREFIX).await? {
            let dir = format!("{POLICY_INDEX_PREFIX}{dir}");
            let names = self.storage.list(&dir).await?;
            lookups.add_index_dir(dir, names);
        }
        lookups.add_accessors(self.storage.list(ACCESSOR_PREFIX).await?);
        let replay = self.storage.list(REPLAY_PREFIX).await?;
        // Names in no spelling this plugin writes are not entries of ours.
        let grants: Vec<GrantId> = self
            .storage
            .list(GRANT_PREFIX)
            .await?
            .iter()
            .filter_map(|name| GrantId::parse(name))
            .collect();
        drop(listing);

        let mut live = HashSet::new();
        for grant in grants {
            let Some(entry) = self.get_grant(&grant).await? else {
                // Listed but undecodable: it grants nothing.
                self.storage.delete(&grant_key(&grant)).await?;
                report.entries_removed += 1;
                continue;
            };
            let (_, sealed) = self.key.seal(&entry.uuid);
            let indexed = lookups.take_index(&policy_dir(&entry.policy), grant, sealed);
            let accessible = lookups.accessors.remove(&entry.accessor);
            if !entry.is_live(now) {
                self.remove(&entry).await?;
                report.entries_removed += 1;
                report.index_keys_removed += u64::from(indexed);
                report.accessor_records_removed += u64::from(accessible);
                continue;
            }
            if !indexed || !accessible {
                self.put_lookups(&entry, &grant, &sealed).await?;
                report.index_keys_repaired += u64::from(!indexed);
                report.accessor_records_repaired += u64::from(!accessible);
            }
            live.insert(grant);
        }
        for key in lookups.dangling_index_keys() {
            self.storage.delete(&key).await?;
            report.index_keys_removed += 1;
        }
        for key in lookups.dangling_accessor_keys() {
            self.storage.delete(&key).await?;
            report.accessor_records_removed += 1;
        }
        for name in replay {
            let key = format!("{REPLAY_PREFIX}{name}");
            let stale = !GrantId::parse(&name).is_some_and(|grant| live.contains(&grant))
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
