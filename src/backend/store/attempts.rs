//! Failed verifications per scope, and the limits, in the mount's storage:
//!
//! | key | value |
//! |---|---|
//! | `meta/throttle` | the limits (`config` path); absent: the defaults |
//! | `attempts/policy/<hex(policy)>` | the policy's failures and lockouts |
//! | `attempts/entry/<accessor>` | an entry's, when verify named its accessor |
//!
//! No key holds a uuid. Every record is read and written under the policy's
//! lock on the node that writes the mount, so concurrent failures all count.

use serde_json::Value;

use super::Grants;
use crate::domain::{Accessor, AttemptRecord, PolicyName, ThrottleConfig};
use crate::protocol::StorageError;

pub(in crate::backend) const ATTEMPTS_PREFIX: &str = "attempts/";
const POLICY_DIR: &str = "attempts/policy/";
const ENTRY_DIR: &str = "attempts/entry/";
const THROTTLE_KEY: &str = "meta/throttle";

/// What failed verifications are counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::backend) enum Scope {
    /// Every entry of a policy (verify without an accessor).
    Policy(PolicyName),
    /// One entry (verify naming its accessor).
    Entry(Accessor),
}

impl Scope {
    /// The key of the scope's record.
    pub(in crate::backend) fn key(&self) -> String {
        match self {
            Self::Policy(policy) => format!("{POLICY_DIR}{}", hex::encode(policy.as_str())),
            Self::Entry(accessor) => format!("{ENTRY_DIR}{accessor}"),
        }
    }

    /// How operators name it: `policy/<name>` or `entry/<accessor>`.
    pub(in crate::backend) fn name(&self) -> String {
        match self {
            Self::Policy(policy) => format!("policy/{}", policy.as_str()),
            Self::Entry(accessor) => format!("entry/{accessor}"),
        }
    }
}

impl Grants {
    /// The limits; the defaults until an operator sets them. A record that
    /// does not decode counts as the defaults (which are safe).
    pub(in crate::backend) async fn throttle_config(&self) -> Result<ThrottleConfig, StorageError> {
        let Some(bytes) = self.storage.get(THROTTLE_KEY).await? else {
            return Ok(ThrottleConfig::default());
        };
        Ok(serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            tracing::error!("the stored verify limits do not decode; using the defaults");
            ThrottleConfig::default()
        }))
    }

    pub(in crate::backend) async fn put_throttle_config(
        &self,
        config: &ThrottleConfig,
    ) -> Result<(), StorageError> {
        let value = serde_json::to_vec(config).unwrap_or_default();
        self.storage.put(THROTTLE_KEY, value).await
    }

    /// The scope's record; a fresh one when there is none. One that does not
    /// decode locks the scope until an operator clears it: a broken counter
    /// must not reopen guessing.
    pub(in crate::backend) async fn attempts(
        &self,
        scope: &Scope,
    ) -> Result<AttemptRecord, StorageError> {
        let Some(bytes) = self.storage.get(&scope.key()).await? else {
            return Ok(AttemptRecord::default());
        };
        Ok(serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            tracing::error!(scope = %scope.name(), "an attempt record does not decode; the scope stays locked until an operator clears it");
            AttemptRecord {
                locked_until: i64::MAX,
                ..AttemptRecord::default()
            }
        }))
    }

    pub(in crate::backend) async fn put_attempts(
        &self,
        scope: &Scope,
        record: &AttemptRecord,
    ) -> Result<(), StorageError> {
        let value = serde_json::to_vec(record).unwrap_or_default();
        self.storage.put(&scope.key(), value).await
    }

    pub(in crate::backend) async fn clear_attempts(
        &self,
        scope: &Scope,
    ) -> Result<(), StorageError> {
        self.storage.delete(&scope.key()).await
    }

    /// Every scope with a record, policies first, each sorted.
    pub(in crate::backend) async fn attempt_scopes(
        &self,
    ) -> Result<Vec<(Scope, AttemptRecord)>, StorageError> {
        let mut scopes = Vec::new();
        let mut policies: Vec<String> = self.storage.list(POLICY_DIR).await?;
        policies.sort();
        for name in policies {
            let policy = hex::decode(&name)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| PolicyName::parse(&text).ok());
            if let Some(policy) = policy {
                let scope = Scope::Policy(policy);
                let record = self.attempts(&scope).await?;
                scopes.push((scope, record));
            }
        }
        let mut entries: Vec<Accessor> = self
            .storage
            .list(ENTRY_DIR)
            .await?
            .iter()
            .filter_map(|name| Accessor::parse(name).ok())
            .collect();
        entries.sort();
        for accessor in entries {
            let scope = Scope::Entry(accessor);
            let record = self.attempts(&scope).await?;
            scopes.push((scope, record));
        }
        Ok(scopes)
    }

    /// Removes records that can no longer refuse anything; returns how many.
    pub(in crate::backend) async fn tidy_attempts(&self, now: i64) -> Result<u64, StorageError> {
        let config = self.throttle_config().await?;
        let mut removed = 0;
        for (scope, record) in self.attempt_scopes().await? {
            if record.is_stale(now, &config) {
                self.clear_attempts(&scope).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A record as operators see it.
pub(in crate::backend) fn describe(
    record: &AttemptRecord,
    now: i64,
) -> serde_json::Map<String, Value> {
    let mut info = serde_json::Map::new();
    info.insert("failures".into(), Value::from(record.failures));
    info.insert("lockouts".into(), Value::from(record.lockouts));
    info.insert("locked_until".into(), Value::from(record.locked_until));
    info.insert(
        "locked_for".into(),
        Value::from(record.locked_for(now).unwrap_or(0)),
    );
    info
}
