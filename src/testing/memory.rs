//! [`Storage`] in process memory, for tests only: the plugin itself always
//! stores through the host.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use tokio::sync::{Notify, Semaphore};

use crate::protocol::{Storage, StorageError};

/// A map behind a std mutex: no await happens while it is held.
#[derive(Debug, Default)]
pub struct MemStorage {
    entries: Mutex<BTreeMap<String, Vec<u8>>>,
    /// When set, every call fails with this host error (to test failure paths).
    failing: Mutex<Option<String>>,
    /// When set, writes (puts and deletes) succeed this many more times and
    /// then fail, as if the process died there.
    writes_left: Mutex<Option<usize>>,
    /// Writes done since creation.
    writes: Mutex<usize>,
    /// Reads (gets and lists) done since creation.
    reads: Mutex<usize>,
    /// The next call to hold, if any (see [`MemStorage::hold_next`]).
    hold: Mutex<Option<(HeldCall, String, Arc<Held>)>>,
}

/// Which call [`MemStorage::hold_next`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldCall {
    /// Answered with the value as it was when the call came.
    Get,
    /// Written when released.
    Put,
}

/// A storage call held until the test releases it, as a slow host would:
/// to let another request run in between.
#[derive(Debug)]
pub struct Held {
    reached: Notify,
    released: Semaphore,
}

impl Default for Held {
    fn default() -> Self {
        Self {
            reached: Notify::new(),
            released: Semaphore::new(0),
        }
    }
}

impl Held {
    /// Waits until the call has come and is held.
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets the call finish.
    pub fn release(&self) {
        self.released.add_permits(1);
    }

    async fn hold(&self) {
        self.reached.notify_one();
        if let Ok(permit) = self.released.acquire().await {
            permit.forget();
        }
    }
}

impl MemStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later call fail with `message`, or succeed again with `None`.
    pub fn fail_with(&self, message: Option<&str>) {
        *unpoisoned(&self.failing) = message.map(str::to_owned);
    }

    /// Makes writes fail after `count` more succeed (`None`: never).
    pub fn fail_writes_after(&self, count: Option<usize>) {
        *unpoisoned(&self.writes_left) = count;
    }

    /// Writes (puts and deletes) done so far.
    pub fn writes(&self) -> usize {
        *unpoisoned(&self.writes)
    }

    /// Holds the next `call` of a key under `prefix` until the returned
    /// [`Held`] is released.
    pub fn hold_next(&self, call: HeldCall, prefix: &str) -> Arc<Held> {
        let held = Arc::new(Held::default());
        *unpoisoned(&self.hold) = Some((call, prefix.to_owned(), held.clone()));
        held
    }

    /// The hold for this call, taken, if it is the one to hold.
    fn held(&self, call: HeldCall, key: &str) -> Option<Arc<Held>> {
        let mut hold = unpoisoned(&self.hold);
        let matches = hold
            .as_ref()
            .is_some_and(|(c, prefix, _)| *c == call && key.starts_with(prefix.as_str()));
        if !matches {
            return None;
        }
        hold.take().map(|(_, _, held)| held)
    }

    /// Reads (gets, lists and pages) done so far.
    pub fn reads(&self) -> usize {
        *unpoisoned(&self.reads)
    }

    /// All keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        unpoisoned(&self.entries).keys().cloned().collect()
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, Vec<u8>>) -> T,
    ) -> Result<T, StorageError> {
        if let Some(message) = unpoisoned(&self.failing).clone() {
            return Err(StorageError::Host(message));
        }
        Ok(f(&mut unpoisoned(&self.entries)))
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, Vec<u8>>) -> T,
    ) -> Result<T, StorageError> {
        if let Some(left) = unpoisoned(&self.writes_left).as_mut() {
            if *left == 0 {
                return Err(StorageError::Host(
                    "injected failure: the process died here".into(),
                ));
            }
            *left -= 1;
        }
        let result = self.with(f)?;
        *unpoisoned(&self.writes) += 1;
        Ok(result)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, Vec<u8>>) -> T,
    ) -> Result<T, StorageError> {
        *unpoisoned(&self.reads) += 1;
        self.with(f)
    }
}

#[async_trait]
impl Storage for MemStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let value = self.read(|e| e.get(key).cloned());
        if let Some(held) = self.held(HeldCall::Get, key) {
            held.hold().await;
        }
        value
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError> {
        if let Some(held) = self.held(HeldCall::Put, key) {
            held.hold().await;
        }
        self.write(|e| {
            e.insert(key.to_owned(), value);
        })
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.write(|e| {
            e.remove(key);
        })
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.read(|e| {
            let mut keys: Vec<String> = e
                .range(prefix.to_owned()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, _)| {
                    let rest = &k[prefix.len()..];
                    match rest.find('/') {
                        Some(i) => rest[..=i].to_owned(),
                        None => rest.to_owned(),
                    }
                })
                .collect();
            keys.dedup();
            keys
        })
    }

    async fn list_page(
        &self,
        prefix: &str,
        after: &str,
        limit: u32,
    ) -> Result<Option<Vec<String>>, StorageError> {
        let names = self.list(prefix).await?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(Some(
            names
                .into_iter()
                .filter(|name| name.as_str() > after)
                .take(limit)
                .collect(),
        ))
    }
}

/// Every critical section is one map operation that cannot panic half-way,
/// so a test that panicked elsewhere left the data whole: ignore poisoning.
fn unpoisoned<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn meets_the_storage_contract() {
        crate::protocol::storage::contract::storage_contract(&MemStorage::new()).await;
        crate::protocol::storage::contract::paging_contract(&MemStorage::new()).await;
    }

    #[tokio::test]
    async fn failure_injection() {
        let storage = MemStorage::new();
        storage.fail_with(Some("sealed"));
        assert_eq!(
            storage.get("x").await,
            Err(StorageError::Host("sealed".into()))
        );
        storage.fail_with(None);
        assert_eq!(storage.get("x").await, Ok(None));
    }
}
