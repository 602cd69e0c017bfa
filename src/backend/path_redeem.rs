//! `totp/redeem`: spend a grant, exactly once.

use serde_json::{Map, Value};

use super::{HandlerError, RatlsBackend, input};
use crate::protocol::{
    FieldSpec, FieldType, Operation, OperationSpec, PathSpec, Request, Response,
};

pub(super) const REDEEM: PathSpec<RatlsBackend> = PathSpec {
    pattern: "totp/redeem",
    display: "totp/redeem",
    operations: &[OperationSpec {
        operation: Operation::Update,
        id: "ratls-redeem-totp",
        summary: "Consume a TOTP entry for its policy, exactly once.",
        handler: handler!(redeem),
    }],
    fields: &[
        FieldSpec {
            name: "uuid",
            kind: FieldType::String,
            description: "The entry's uuid (the grant).",
            required: true,
            in_path: false,
        },
        FieldSpec {
            name: "policy",
            kind: FieldType::String,
            description: "The policy the caller wants to update.",
            required: true,
            in_path: false,
        },
    ],
    existence_check: None,
    synopsis: "Redeem TOTP entries.",
    description: "
Answers `{\"valid\": true}` exactly once for a live entry that grants `policy`,
and removes the entry. Every later attempt, an unknown or expired uuid, or
another policy answers `{\"valid\": false}`; a policy mismatch leaves the
entry in place. Concurrent attempts on one uuid: exactly one wins.

    vault write auth/ratls/totp/redeem uuid=<uuid> policy=my-policy
",
};

fn valid(valid: bool) -> Response {
    let mut data = Map::new();
    data.insert("valid".into(), Value::from(valid));
    Response::with_data(data)
}

/// `update totp/redeem`.
async fn redeem(backend: &RatlsBackend, request: &Request) -> Result<Response, HandlerError> {
    let id = input::entry_id(request.data.get("uuid"));
    let policy = input::policy(&request.data);
    let (id, policy) = input::both(id, policy)?;

    // Read, check and remove under the policy's lock, the one verify takes:
    // two redemptions cannot both see the entry, and a verification of the
    // same entry runs wholly before or after it. (An entry of another policy
    // is never removed here, so the request's policy names the right lock.)
    let grants = backend.grants().await?;
    let _guard = backend.locks.lock(policy.as_str()).await;
    let now = backend.clock.now();
    let entry = grants.get_live(&id, now).await?;
    let Some(entry) = entry.filter(|e| e.policy == policy) else {
        tracing::debug!(policy = policy.as_str(), "refused a TOTP redemption");
        return Ok(valid(false));
    };
    grants.remove(&entry).await?;
    tracing::debug!(accessor = %entry.accessor, policy = policy.as_str(), "redeemed a TOTP entry");
    Ok(valid(true))
}
