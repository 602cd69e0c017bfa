//! The host's key/value storage: the only place a backend keeps state.
//! Vault encrypts it behind its barrier and replicates it; the plugin
//! process may die at any moment without losing anything.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use tonic::transport::Channel;

use crate::pb::backend::{
    StorageDeleteArgs, StorageEntry, StorageGetArgs, StorageListArgs, StorageListPageArgs,
    StoragePutArgs, storage_client::StorageClient,
};

/// Why a storage call failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StorageError {
    /// The host answered with an error (sealed, read-only standby, …).
    #[error("storage error from the host: {0}")]
    Host(String),
    /// The call did not complete.
    #[error("storage call failed: {0}")]
    Transport(String),
}

impl StorageError {
    /// Whether the host refused a write because this node cannot write
    /// (a standby serving the request itself). Passed back to the host as an
    /// error with the same text, it makes the host forward the request to the
    /// active node (`logical.ErrReadOnly`, `ErrPerfStandbyPleaseForward`).
    pub fn must_forward(&self) -> bool {
        const FORWARD: [&str; 2] = [
            "cannot write to readonly storage",
            "please forward to the active node",
        ];
        matches!(self, StorageError::Host(message) if FORWARD.iter().any(|f| message.contains(f)))
    }

    /// The host's own message, for errors the host must see again.
    pub fn host_message(&self) -> Option<&str> {
        match self {
            StorageError::Host(message) => Some(message),
            StorageError::Transport(_) => None,
        }
    }
}

/// Key/value storage with keys relative to the mount.
#[async_trait]
pub trait Storage: Send + Sync {
    /// The value at `key`; `Ok(None)` when there is none.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Writes `value` at `key`, replacing what was there.
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError>;
    /// Removes `key`; succeeds when it is already absent.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// The keys directly under `prefix`, relative to it, sorted; a name
    /// ending in `/` stands for deeper keys.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// At most `limit` names of [`Storage::list`] that sort after `after`;
    /// `Ok(None)` when the host cannot page (HashiCorp Vault).
    async fn list_page(
        &self,
        _prefix: &str,
        _after: &str,
        _limit: u32,
    ) -> Result<Option<Vec<String>>, StorageError> {
        Ok(None)
    }
}

/// Message size limit for storage calls: the host allows up to `MaxInt32`,
/// tonic defaults to 4 MiB.
const MAX_MESSAGE: usize = i32::MAX as usize;

/// [`Storage`] over the host's `pb.Storage` service, reached through the broker.
#[derive(Debug, Clone)]
pub struct GrpcStorage {
    client: StorageClient<Channel>,
    /// The host answered `ListPage` with Unimplemented: don't ask again.
    cannot_page: Arc<AtomicBool>,
}

impl GrpcStorage {
    pub fn new(channel: Channel) -> Self {
        Self {
            client: StorageClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            cannot_page: Arc::default(),
        }
    }
}

fn transport(status: tonic::Status) -> StorageError {
    StorageError::Transport(status.message().to_owned())
}

fn host(err: String) -> Result<(), StorageError> {
    if err.is_empty() {
        Ok(())
    } else {
        Err(StorageError::Host(err))
    }
}

#[async_trait]
impl Storage for GrpcStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let reply = self
            .client
            .clone()
            .get(StorageGetArgs {
                key: key.to_owned(),
            })
            .await
            .map_err(transport)?
            .into_inner();
        host(reply.err)?;
        Ok(reply.entry.map(|entry| entry.value))
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError> {
        let entry = StorageEntry {
            key: key.to_owned(),
            value,
            seal_wrap: false,
        };
        let reply = self
            .client
            .clone()
            .put(StoragePutArgs { entry: Some(entry) })
            .await
            .map_err(transport)?
            .into_inner();
        host(reply.err)
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let reply = self
            .client
            .clone()
            .delete(StorageDeleteArgs {
                key: key.to_owned(),
            })
            .await
            .map_err(transport)?
            .into_inner();
        host(reply.err)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let reply = self
            .client
            .clone()
            .list(StorageListArgs {
                prefix: prefix.to_owned(),
            })
            .await
            .map_err(transport)?
            .into_inner();
        host(reply.err)?;
        Ok(reply.keys)
    }

    async fn list_page(
        &self,
        prefix: &str,
        after: &str,
        limit: u32,
    ) -> Result<Option<Vec<String>>, StorageError> {
        if self.cannot_page.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let args = StorageListPageArgs {
            prefix: prefix.to_owned(),
            after: after.to_owned(),
            limit: i32::try_from(limit).unwrap_or(i32::MAX),
        };
        let reply = match self.client.clone().list_page(args).await {
            Ok(reply) => reply.into_inner(),
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                tracing::debug!("the host has no paged storage lists: listing whole prefixes");
                self.cannot_page.store(true, Ordering::Relaxed);
                return Ok(None);
            }
            Err(status) => return Err(transport(status)),
        };
        host(reply.err)?;
        Ok(Some(reply.keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_refusals_are_forwarded() {
        assert!(StorageError::Host("cannot write to readonly storage".into()).must_forward());
        assert!(StorageError::Host("please forward to the active node".into()).must_forward());
        assert!(!StorageError::Host("barrier is sealed".into()).must_forward());
        assert!(!StorageError::Transport("cannot write to readonly storage".into()).must_forward());
    }
}

#[cfg(test)]
pub(crate) mod contract {
    //! Behaviour every [`Storage`] must show; run against each implementation.
    use super::*;

    pub(crate) async fn storage_contract(storage: &dyn Storage) {
        assert_eq!(storage.get("a/1").await, Ok(None));
        assert_eq!(storage.list("a/").await, Ok(vec![]));
        storage.put("a/1", b"one".to_vec()).await.unwrap();
        storage.put("a/2", b"two".to_vec()).await.unwrap();
        storage.put("a/b/3", b"three".to_vec()).await.unwrap();
        storage.put("ab", b"x".to_vec()).await.unwrap();
        assert_eq!(storage.get("a/1").await, Ok(Some(b"one".to_vec())));
        storage.put("a/1", b"uno".to_vec()).await.unwrap();
        assert_eq!(storage.get("a/1").await, Ok(Some(b"uno".to_vec())));
        assert_eq!(
            storage.list("a/").await,
            Ok(vec!["1".to_owned(), "2".to_owned(), "b/".to_owned()])
        );
        storage.delete("a/1").await.unwrap();
        storage.delete("a/1").await.unwrap();
        assert_eq!(storage.get("a/1").await, Ok(None));
        assert_eq!(
            storage.list("a/").await,
            Ok(vec!["2".to_owned(), "b/".to_owned()])
        );
    }

    /// [`Storage::list_page`] where the storage pages at all.
    pub(crate) async fn paging_contract(storage: &dyn Storage) {
        for key in ["p/1", "p/2", "p/3", "p/d/4", "q"] {
            storage.put(key, Vec::new()).await.unwrap();
        }
        let page = |after: &'static str, limit| storage.list_page("p/", after, limit);
        assert_eq!(page("", 2).await, Ok(Some(vec!["1".into(), "2".into()])));
        assert_eq!(page("2", 2).await, Ok(Some(vec!["3".into(), "d/".into()])));
        assert_eq!(page("d/", 2).await, Ok(Some(vec![])));
        assert_eq!(
            page("", 10).await,
            Ok(Some(storage.list("p/").await.unwrap()))
        );
    }
}
