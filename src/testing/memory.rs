//! [`Storage`] in process memory, for tests only: the plugin itself always
//! stores through the host.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

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
        self.read(|e| e.get(key).cloned())
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError> {
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
