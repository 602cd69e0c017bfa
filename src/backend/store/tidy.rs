//! Removing what is dead and repairing what a crash left half-written.

use std::collections::HashMap;

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

/// The lookups a pass listed, as sorted binary ids rather than key strings:
/// tidy must hold every lookup of the mount at once, and these take ≈70
/// bytes an entry (strings with hash sets took ≈430).
#[derive(Default)]
struct ListedLookups {
    /// Index directories (`by-policy/<hex>/`), numbered by position.
    dirs: Vec<String>,
    dir_numbers: HashMap<String, u32>,
    /// Index keys as (directory number, grant, sealed uuid).
    index: Listed<(u32, GrantId, SealedId)>,
    accessors: Listed<Accessor>,
    /// Keys under the index and accessor prefixes in no spelling this
    /// plugin writes: they lead nowhere.
    odd_index_keys: Vec<String>,
    odd_accessor_keys: Vec<String>,
}

impl ListedLookups {
    fn add_index_dir(&mut self, dir: String) -> Option<u32> {
        let number = u32::try_from(self.dirs.len()).ok()?;
        self.dir_numbers.insert(dir.clone(), number);
        self.dirs.push(dir);
        Some(number)
    }

    fn add_index_names(&mut self, dir: &str, number: Option<u32>, names: Vec<String>) {
        // Without a number (past 2^32 policy directories: never) the names
        // are left alone rather than taken for dangling.
        let Some(number) = number else { return };
        for name in names {
            match parse_index_name(&name) {
                Some((grant, sealed)) => self.index.items.push((number, grant, sealed)),
                None => self.odd_index_keys.push(format!("{dir}{name}")),
            }
        }
    }

    fn add_accessors(&mut self, names: Vec<String>) {
        for name in names {
            match Accessor::parse(&name) {
                Ok(accessor) => self.accessors.items.push(accessor),
                Err(_) => self
                    .odd_accessor_keys
                    .push(format!("{ACCESSOR_PREFIX}{name}")),
            }
        }
    }

    /// Readies what was listed for lookups by binary search.
    fn done_listing(&mut self) {
        self.index.done_listing();
        self.accessors.done_listing();
    }

    /// Takes the entry's index key off the list; whether it was there.
    fn take_index(&mut self, dir: &str, grant: GrantId, sealed: SealedId) -> bool {
        let Some(&number) = self.dir_numbers.get(dir) else {
            return false;
        };
        self.index.take(&(number, grant, sealed))
    }

    /// The keys of what no live or expired entry took: dangling.
    fn dangling_index_keys(&self) -> impl Iterator<Item = String> + '_ {
        let listed = self.index.untaken().filter_map(|&(number, grant, sealed)| {
            let dir = self.dirs.get(usize::try_from(number).ok()?)?;
            Some(format!("{dir}{grant}.{sealed}"))
        });
        listed.chain(self.odd_index_keys.iter().cloned())
    }

    fn dangling_accessor_keys(&self) -> impl Iterator<Item = String> + '_ {
        self.accessors
            .untaken()
            .map(accessor_key)
            .chain(self.odd_accessor_keys.iter().cloned())
    }
}

/// Ids listed by a pass, sorted once listing is done, and whether an entry
/// has taken each.
struct Listed<T> {
    items: Vec<T>,
    taken: Vec<bool>,
}

impl<T> Default for Listed<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            taken: Vec::new(),
        }
    }
}

impl<T: Ord> Listed<T> {
    fn done_listing(&mut self) {
        self.items.sort_unstable();
        self.items.shrink_to_fit();
        self.taken = vec![false; self.items.len()];
    }

    /// Marks `item` taken; whether it was listed and not taken before.
    fn take(&mut self, item: &T) -> bool {
        match self.items.binary_search(item) {
            Ok(at) => self
                .taken
                .get_mut(at)
                .is_some_and(|t| !std::mem::replace(t, true)),
            Err(_) => false,
        }
    }

    /// Marks the item at position `at` of the sorted list taken.
    fn take_at(&mut self, at: usize) {
        if let Some(taken) = self.taken.get_mut(at) {
            *taken = true;
        }
    }

    fn is_taken(&self, item: &T) -> bool {
        self.items
            .binary_search(item)
            .is_ok_and(|at| self.taken.get(at).copied().unwrap_or(false))
    }

    fn untaken(&self) -> impl Iterator<Item = &T> + '_ {
        self.items
            .iter()
            .zip(&self.taken)
            .filter(|(_, taken)| !**taken)
            .map(|(item, _)| item)
    }
}

/// Names asked for at once: a page of index names is ≈100 KB.
const PAGE: u32 = 1000;

/// `<grant id>.<sealed uuid>`, as `index_key` writes it.
fn parse_index_name(name: &str) -> Option<(GrantId, SealedId)> {
    let (grant, sealed) = name.split_once('.')?;
    Some((GrantId::parse(grant)?, SealedId::parse(sealed)?))
}

impl Grants {
    /// Hands `each` the names under `prefix` a page at a time, where the
    /// host pages (OpenBao), else all at once (HashiCorp Vault).
    pub(super) async fn list_in_pages(
        &self,
        prefix: &str,
        page: u32,
        mut each: impl FnMut(Vec<String>),
    ) -> Result<(), StorageError> {
        let mut after = String::new();
        loop {
            let Some(names) = self.storage.list_page(prefix, &after, page).await? else {
                each(self.storage.list(prefix).await?);
                return Ok(());
            };
            let last = names.last().cloned();
            let full = names.len() >= usize::try_from(page).unwrap_or(usize::MAX);
            each(names);
            match last {
                Some(last) if full => after = last,
                _ => return Ok(()),
            }
        }
    }

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
            let number = lookups.add_index_dir(dir.clone());
            self.list_in_pages(&dir, PAGE, |names| {
                lookups.add_index_names(&dir, number, names)
            })
            .await?;
        }
        self.list_in_pages(ACCESSOR_PREFIX, PAGE, |names| lookups.add_accessors(names))
            .await?;
        let replay = self.storage.list(REPLAY_PREFIX).await?;
        // Names in no spelling this plugin writes are not entries of ours.
        // A grant is "taken" once its entry proves live.
        let mut grants: Listed<GrantId> = Listed::default();
        self.list_in_pages(GRANT_PREFIX, PAGE, |names| {
            let ours = names.iter().filter_map(|name| GrantId::parse(name));
            grants.items.extend(ours);
        })
        .await?;
        drop(listing);
        lookups.done_listing();
        grants.done_listing();

        for at in 0..grants.items.len() {
            let Some(&grant) = grants.items.get(at) else {
                break;
            };
            let Some(entry) = self.get_grant(&grant).await? else {
                // Listed but undecodable: it grants nothing.
                self.storage.delete(&grant_key(&grant)).await?;
                report.entries_removed += 1;
                continue;
            };
            let (_, sealed) = self.key.seal(&entry.uuid);
            let indexed = lookups.take_index(&policy_dir(&entry.policy), grant, sealed);
            let accessible = lookups.accessors.take(&entry.accessor);
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
            grants.take_at(at);
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
            let live = GrantId::parse(&name).is_some_and(|grant| grants.is_taken(&grant));
            let stale = !live
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
