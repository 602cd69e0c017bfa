//! Serialises read-check-write sequences on one key (redeeming an entry,
//! accepting a code for a policy). Every write to a mount reaches the one
//! plugin process on the active node (standbys forward writes), so an
//! in-process lock is enough to make each sequence atomic; the state itself
//! stays in storage.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;

use tokio::sync::{Mutex, MutexGuard};

/// Stripes: two keys may share a lock (harmless), memory stays fixed.
const STRIPES: usize = 64;

/// A fixed set of async mutexes picked by a key's hash. Tokio mutexes,
/// because storage calls are awaited while they are held.
pub(super) struct KeyedLocks {
    hasher: RandomState,
    stripes: Vec<Mutex<()>>,
}

impl KeyedLocks {
    pub(super) fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Waits for exclusive use of `key`.
    pub(super) async fn lock(&self, key: &str) -> MutexGuard<'_, ()> {
        let index = self.hasher.hash_one(key) as usize % self.stripes.len();
        // `index` is below the length, so the slice is never empty here.
        let stripe = &self.stripes[index];
        stripe.lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_holder_per_key() {
        let locks = Arc::new(KeyedLocks::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (locks, inside) = (locks.clone(), inside.clone());
                tokio::spawn(async move {
                    let _guard = locks.lock("k").await;
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                    tokio::task::yield_now().await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    }
}
