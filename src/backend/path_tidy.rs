//! `tidy`, and the same work on Vault's periodic rollback.

use serde_json::{Map, Value};

use super::{HandlerError, RatlsBackend};
use crate::protocol::{Operation, OperationSpec, PathSpec, Request, Response};

pub(super) const TIDY: PathSpec<RatlsBackend> = PathSpec {
    pattern: "tidy",
    display: "tidy",
    operations: &[OperationSpec {
        operation: Operation::Update,
        id: "ratls-tidy",
        summary: "Remove expired TOTP entries and stale replay records now.",
        handler: handler!(tidy),
    }],
    fields: &[],
    existence_check: None,
    synopsis: "Remove expired entries now.",
    description: "
Expired entries are never returned, redeemed or verified, whatever the tidy
state; tidying removes them from storage, with index keys, accessor records
and replay records that no longer protect anything, and restores index keys
and accessor records a crash left unwritten. The plugin also tidies on Vault's periodic
rollback (at most every few minutes, and only where this node may write).
Answers what it removed.

    vault write -f auth/ratls/tidy
",
};

/// `update tidy`.
async fn tidy(backend: &RatlsBackend, _request: &Request) -> Result<Response, HandlerError> {
    let grants = backend.grants().await?;
    let _tidying = backend.tidying.lock().await;
    let report = grants.tidy(backend.clock.now()).await?;
    tracing::info!(
        entries_removed = report.entries_removed,
        replay_records_removed = report.replay_records_removed,
        "tidied TOTP entries"
    );
    let counts = [
        ("entries_removed", report.entries_removed),
        ("index_keys_removed", report.index_keys_removed),
        ("index_keys_repaired", report.index_keys_repaired),
        ("accessor_records_removed", report.accessor_records_removed),
        (
            "accessor_records_repaired",
            report.accessor_records_repaired,
        ),
        ("replay_records_removed", report.replay_records_removed),
        ("attempt_records_removed", report.attempt_records_removed),
    ];
    let data: Map<String, Value> = counts
        .into_iter()
        .map(|(name, count)| (name.to_owned(), Value::from(count)))
        .collect();
    Ok(Response::with_data(data))
}
