//! Lockouts this process has already read or set, so that a locked scope
//! refuses a verification without a storage read and without waiting for
//! the policy's lock: a brute-force run against a locked scope then costs
//! the host one RPC fewer per guess, and the lock is left to the requests
//! that may count.
//!
//! Storage stays the record. The memory only holds "scope X is locked until
//! T", copied from a stored record, so it can refuse more than storage
//! would, never admit more, and only until T or until it forgets: clearing
//! a lockout here, or the host invalidating the record's key (another node
//! cleared it), forgets the scope. A record read before a forget is not
//! remembered after it ([`KnownLockouts::epoch`]). A new process starts
//! empty and reads storage.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// At most this many lockouts in force are remembered; more are still
/// refused from storage, one read each.
const CAPACITY: usize = 4096;

#[derive(Default)]
struct Inner {
    /// Bumped by every forget: a record read before it is stale.
    epoch: u64,
    /// Attempt record key → the end of its lockout (Unix seconds).
    until: HashMap<String, i64>,
}

/// The lockouts of one mount, by attempt record key.
#[derive(Default)]
pub(super) struct KnownLockouts {
    inner: Mutex<Inner>,
}

impl KnownLockouts {
    // Each critical section is a few map operations that leave the map
    // whole even if a holder panicked: poisoning is ignored.
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Seconds the scope stored under `key` stays locked at `now`, if known.
    pub(super) fn seconds_left(&self, key: &str, now: i64) -> Option<i64> {
        let mut inner = self.inner();
        let until = *inner.until.get(key)?;
        if now < until {
            return Some(until - now);
        }
        inner.until.remove(key);
        None
    }

    /// To be read before the record whose lockout may be remembered.
    pub(super) fn epoch(&self) -> u64 {
        self.inner().epoch
    }

    /// Remembers that `key`'s scope is locked until `until`, as a record
    /// read (or written) after [`Self::epoch`] returned `seen` says; ignored
    /// if anything was forgotten since. When full, lockouts ended by `now`
    /// make room.
    pub(super) fn remember(&self, key: &str, until: i64, seen: u64, now: i64) {
        let mut inner = self.inner();
        if inner.epoch != seen {
            return;
        }
        if inner.until.len() >= CAPACITY && !inner.until.contains_key(key) {
            inner.until.retain(|_, end| *end > now);
            if inner.until.len() >= CAPACITY {
                return;
            }
        }
        inner.until.insert(key.to_owned(), until);
    }

    /// Forgets `key`'s lockout (cleared, or changed elsewhere).
    pub(super) fn forget(&self, key: &str) {
        let mut inner = self.inner();
        inner.epoch = inner.epoch.wrapping_add(1);
        inner.until.remove(key);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.inner().until.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lockout_is_known_until_it_ends() {
        let known = KnownLockouts::default();
        let seen = known.epoch();
        known.remember("attempts/policy/70", 1_000, seen, 100);
        assert_eq!(known.seconds_left("attempts/policy/70", 100), Some(900));
        assert_eq!(known.seconds_left("attempts/policy/71", 100), None);
        assert_eq!(known.seconds_left("attempts/policy/70", 1_000), None);
        assert_eq!(known.len(), 0, "an ended lockout is dropped");
    }

    #[test]
    fn a_record_read_before_a_forget_is_not_remembered() {
        let known = KnownLockouts::default();
        let seen = known.epoch();
        // Read as locked, then cleared (here or on another node) before the
        // reader got to remember it.
        known.forget("attempts/policy/70");
        known.remember("attempts/policy/70", 1_000, seen, 100);
        assert_eq!(known.seconds_left("attempts/policy/70", 100), None);
        let seen = known.epoch();
        known.remember("attempts/policy/70", 1_000, seen, 100);
        assert_eq!(known.seconds_left("attempts/policy/70", 100), Some(900));
        known.forget("attempts/policy/70");
        assert_eq!(known.seconds_left("attempts/policy/70", 100), None);
    }

    #[test]
    fn memory_is_bounded() {
        let known = KnownLockouts::default();
        let seen = known.epoch();
        for n in 0..CAPACITY + 10 {
            known.remember(&format!("attempts/entry/{n}"), 1_000, seen, 100);
        }
        assert_eq!(known.len(), CAPACITY);
        assert_eq!(known.seconds_left("attempts/entry/0", 100), Some(900));
        assert_eq!(
            known.seconds_left(&format!("attempts/entry/{CAPACITY}"), 100),
            None
        );
        // A known scope's end may still move (a longer lockout).
        known.remember("attempts/entry/0", 2_000, seen, 100);
        assert_eq!(known.seconds_left("attempts/entry/0", 100), Some(1_900));
        // Once the lockouts have ended, a new one takes their room.
        known.remember("attempts/entry/new", 5_000, seen, 1_000);
        assert_eq!(known.len(), 2, "only the lockouts still in force are kept");
        assert_eq!(known.seconds_left("attempts/entry/new", 1_000), Some(4_000));
        assert_eq!(known.seconds_left("attempts/entry/0", 1_000), Some(1_000));
    }
}
