//! The mount's records about its own storage: the layout version and the
//! mount key.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::domain::MountKey;
use crate::protocol::{Storage, StorageError};

pub(in crate::backend) const META_PREFIX: &str = "meta/";
const LAYOUT_KEY: &str = "meta/layout";
const MOUNT_KEY_KEY: &str = "meta/key";

/// The layout this version reads and writes.
pub(in crate::backend) const CURRENT_LAYOUT: u32 = 3;

#[derive(Serialize, Deserialize)]
struct LayoutRecord {
    version: u32,
}

#[derive(Serialize, Deserialize)]
struct KeyRecord {
    key: String,
}

/// Why the mount's records could not be read or made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(in crate::backend) enum MetaError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Never replaced: a new key would orphan every entry.
    #[error("the stored mount key does not decode")]
    CorruptKey,
    #[error("the operating system's random generator failed")]
    NoEntropy,
}

/// The recorded layout version; `None` before any was recorded.
pub(in crate::backend) async fn layout_version(
    storage: &dyn Storage,
) -> Result<Option<u32>, StorageError> {
    let Some(bytes) = storage.get(LAYOUT_KEY).await? else {
        return Ok(None);
    };
    // An unreadable record says nothing; the data decides (migration checks).
    Ok(serde_json::from_slice::<LayoutRecord>(&bytes)
        .ok()
        .map(|r| r.version))
}

pub(in crate::backend) async fn record_layout(storage: &dyn Storage) -> Result<(), StorageError> {
    let value = serde_json::to_vec(&LayoutRecord {
        version: CURRENT_LAYOUT,
    })
    .unwrap_or_default();
    storage.put(LAYOUT_KEY, value).await
}

/// The mount key, if one was made.
pub(in crate::backend) async fn load_key(
    storage: &dyn Storage,
) -> Result<Option<MountKey>, MetaError> {
    let Some(bytes) = storage.get(MOUNT_KEY_KEY).await? else {
        return Ok(None);
    };
    let record: KeyRecord = serde_json::from_slice(&bytes).map_err(|_| MetaError::CorruptKey)?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(record.key)
        .map_err(|_| MetaError::CorruptKey)?;
    MountKey::from_bytes(&raw)
        .map(Some)
        .ok_or(MetaError::CorruptKey)
}

/// The mount key, made and stored if there is none yet. Callers serialise
/// this (one writer per mount), so two keys are never made.
pub(in crate::backend) async fn load_or_create_key(
    storage: &dyn Storage,
) -> Result<MountKey, MetaError> {
    if let Some(key) = load_key(storage).await? {
        return Ok(key);
    }
    let key = MountKey::generate().ok_or(MetaError::NoEntropy)?;
    let record = KeyRecord {
        key: base64::engine::general_purpose::STANDARD.encode(key.as_bytes()),
    };
    storage
        .put(
            MOUNT_KEY_KEY,
            serde_json::to_vec(&record).unwrap_or_default(),
        )
        .await?;
    tracing::info!("made the mount key");
    Ok(key)
}
