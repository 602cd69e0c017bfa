//! `totp/verify`: checks a code against the live entries of a policy.

use serde_json::{Map, Value};

use super::{HandlerError, RatlsBackend, input};
use crate::domain::code::{ReplayRecord, matching_step};
use crate::protocol::{
    FieldSpec, FieldType, Operation, OperationSpec, PathSpec, Request, Response,
};

pub(super) const VERIFY: PathSpec<RatlsBackend> = PathSpec {
    pattern: "totp/verify",
    display: "totp/verify",
    operations: &[OperationSpec {
        operation: Operation::Update,
        id: "ratls-verify-totp",
        summary: "Check a code against the live TOTP entries of a policy.",
        handler: handler!(verify),
    }],
    fields: &[
        FieldSpec {
            name: "policy",
            kind: FieldType::String,
            description: "The policy the code should grant.",
            required: true,
            in_path: false,
        },
        FieldSpec {
            name: "code",
            kind: FieldType::String,
            description: "The 6-digit code, as a string.",
            required: true,
            in_path: false,
        },
        FieldSpec {
            name: "accessor",
            kind: FieldType::String,
            description: "Optional: check the code against this entry only.",
            required: false,
            in_path: false,
        },
    ],
    existence_check: None,
    synopsis: "Verify TOTP codes.",
    description: "
Answers `{\"valid\": true}` when `code` is the current, previous or next code
of a live entry for `policy` (of the entry named by `accessor`, if given),
and that step (or a later one) has not been accepted for the entry before.
Accepted steps are recorded in Vault's storage, so a code is never accepted
twice, across restarts and failovers. A wrong code changes nothing.

    vault write auth/ratls/totp/verify policy=my-policy code=123456
    vault write auth/ratls/totp/verify policy=my-policy code=123456 accessor=<accessor>
",
};

/// `update totp/verify`.
async fn verify(backend: &RatlsBackend, request: &Request) -> Result<Response, HandlerError> {
    let policy = input::policy(&request.data);
    let code = input::code(&request.data);
    let accessor = input::optional_accessor(&request.data);
    let (policy, code, accessor) = input::three(policy, code, accessor)?;

    // Codes are matched without the lock (pure computation over the index,
    // one storage list); only a match takes the policy's lock, shared with
    // redeem, for the read-check-write of the replay record. Wrong codes
    // never wait.
    let now = backend.clock.now();
    let grants = backend.grants().await?;
    let ids = match accessor {
        Some(accessor) => grants
            .by_accessor(&accessor)
            .await?
            .filter(|e| e.policy == policy)
            .map(|e| e.uuid)
            .into_iter()
            .collect(),
        None => grants.policy_members(&policy).await?,
    };
    let mut accepted = false;
    for id in ids {
        let Some(step) = matching_step(&id, &code, now) else {
            continue;
        };
        let _guard = backend.locks.lock(policy.as_str()).await;
        // The index may be stale, and a redeem may have won the lock: the
        // entry, read under the lock, decides.
        let entry = grants.get_live(&id, now).await?;
        if entry.is_none_or(|e| e.policy != policy) {
            continue;
        }
        let record = grants.replay_record(&id).await?;
        if ReplayRecord::admits(record.as_ref(), step) {
            grants
                .put_replay_record(&id, ReplayRecord { last_step: step })
                .await?;
            accepted = true;
            break;
        }
    }
    tracing::info!(
        policy = policy.as_str(),
        valid = accepted,
        "verified a TOTP code"
    );
    let mut data = Map::new();
    data.insert("valid".into(), Value::from(accepted));
    Ok(Response::with_data(data))
}
