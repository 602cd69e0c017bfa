//! Removing what is dead and repairing what a crash left half-written.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use super::{
    ACCESSOR_OF_PREFIX, ENTRY_PREFIX, Grants, LAST_STEP_PREFIX, POLICY_INDEX_PREFIX,
    accessor_of_key, entry_key, policy_dir,
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
    /// Accessor records (`accessor-of/<grant id>`).
    accessor_of: Listed<GrantId>,
    /// Keys under the index and accessor-record prefixes in no spelling
    /// this plugin writes: they lead nowhere.
    odd_index_keys: Vec<String>,
    odd_accessor_of_keys: Vec<String>,
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

    fn add_accessor_of(&mut self, names: Vec<String>) {
        for name in names {
            match GrantId::parse(&name) {
                Some(grant) => self.accessor_of.items.push(grant),
                None => self
                    .odd_accessor_of_keys
                    .push(format!("{ACCESSOR_OF_PREFIX}{name}")),
            }
        }
    }

    /// Readies what was listed for lookups by binary search.
    fn done_listing(&mut self) {
        self.index.done_listing();
        self.accessor_of.done_listing();
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

    fn dangling_accessor_of_keys(&self) -> impl Iterator<Item = String> + '_ {
        self.accessor_of
            .untaken()
            .map(accessor_of_key)
            .chain(self.odd_accessor_of_keys.iter().cloned())
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
    /// live entry, and last-step records that can no longer refuse anything;
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
        self.list_in_pages(ACCESSOR_OF_PREFIX, PAGE, |names| {
            lookups.add_accessor_of(names)
        })
        .await?;
        let last_steps = self.storage.list(LAST_STEP_PREFIX).await?;
        // Names in no spelling this plugin writes are not entries of ours.
        let mut accessors: Vec<Accessor> = Vec::new();
        self.list_in_pages(ENTRY_PREFIX, PAGE, |names| {
            let ours = names.iter().filter_map(|name| Accessor::parse(name).ok());
            accessors.extend(ours);
        })
        .await?;
        drop(listing);
        lookups.done_listing();

        let mut live: Vec<GrantId> = Vec::new();
        let mut random_accessors = false;
        for accessor in accessors {
            let Some(entry) = self.read_entry(&accessor).await? else {
                // Listed but undecodable: it grants nothing.
                self.storage.delete(&entry_key(&accessor)).await?;
                report.entries_removed += 1;
                continue;
            };
            let (grant, sealed) = self.key.seal(&entry.uuid);
            let indexed = lookups.take_index(&policy_dir(&entry.policy), grant, sealed);
            let random = self.has_random_accessor(&entry);
            let recorded = random && lookups.accessor_of.take(&grant);
            if !entry.is_live(now) {
                self.remove(&entry).await?;
                report.entries_removed += 1;
                report.index_keys_removed += u64::from(indexed);
                report.accessor_records_removed += u64::from(recorded);
                continue;
            }
            if !indexed || random && !recorded {
                self.put_lookups(&entry, &grant, &sealed).await?;
                report.index_keys_repaired += u64::from(!indexed);
                report.accessor_records_repaired += u64::from(random && !recorded);
            }
            random_accessors |= random;
            live.push(grant);
        }
        for key in lookups.dangling_index_keys() {
            self.storage.delete(&key).await?;
            report.index_keys_removed += 1;
        }
        for key in lookups.dangling_accessor_of_keys() {
            self.storage.delete(&key).await?;
            report.accessor_records_removed += 1;
        }
        live.sort_unstable();
        for name in last_steps {
            let key = format!("{LAST_STEP_PREFIX}{name}");
            let held = GrantId::parse(&name).is_some_and(|g| live.binary_search(&g).is_ok());
            let stale = !held
                || super::read_replay_record(self.storage.as_ref(), &key)
                    .await?
                    .is_some_and(|r| r.is_stale(now));
            if stale {
                self.storage.delete(&key).await?;
                report.replay_records_removed += 1;
            }
        }
        // Only a migration makes entries with random accessors, and none
        // runs beside a tidy: once none is left, none comes back.
        self.random_accessors
            .store(random_accessors, Ordering::Relaxed);
        report.attempt_records_removed = self.tidy_attempts(now).await?;
        Ok(report)
    }
}
