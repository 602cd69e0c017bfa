//! `totp/<uuid>/code` and `totp/verify`: RFC 6238 codes derived from entries.

use serde_json::{Map, Value};

use super::path_totp::UUID_IN_PATH;
use super::{ApiError, Endpoint, RatlsBackend, input};
use crate::domain::code::{PERIOD, ReplayRecord, current_code, matching_step};
use crate::protocol::{
    FieldSpec, FieldType, Operation, OperationSpec, PathSpec, Request, Response,
};

pub(super) const CODE: PathSpec<Endpoint> = PathSpec {
    pattern: "totp/(?P<uuid>[^/]+)/code",
    display: "totp/{uuid}/code",
    endpoint: Endpoint::Code,
    operations: &[OperationSpec {
        operation: Operation::Read,
        id: "ratls-read-totp-code",
        summary: "Read the current RFC 6238 code of a TOTP entry.",
    }],
    fields: &[UUID_IN_PATH],
    existence_check: false,
    synopsis: "Current codes of TOTP entries.",
    description: "
Answers the entry's current code (HMAC-SHA1, 6 digits), its `period` in
seconds and `expire_time`, the Unix second at which the next code begins.
The shared secret is the uuid itself, so a workload holding it can compute
the same codes locally. 404 when no live entry has this uuid.

    vault read auth/ratls/totp/<uuid>/code
",
};

pub(super) const VERIFY: PathSpec<Endpoint> = PathSpec {
    pattern: "totp/verify",
    display: "totp/verify",
    endpoint: Endpoint::Verify,
    operations: &[OperationSpec {
        operation: Operation::Update,
        id: "ratls-verify-totp",
        summary: "Check a code against the live TOTP entries of a policy.",
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
    ],
    existence_check: false,
    synopsis: "Verify TOTP codes.",
    description: "
Answers `{\"valid\": true}` when `code` is the current, previous or next code
of a live entry for `policy`, and that step (or a later one) has not been
accepted for the entry before. Accepted steps are recorded in Vault's
storage, so a code is never accepted twice, across restarts and failovers.
A wrong code changes nothing.

    vault write auth/ratls/totp/verify policy=my-policy code=123456
",
};

/// `read totp/<uuid>/code`.
pub(super) async fn read_code(
    backend: &RatlsBackend,
    request: &Request,
) -> Result<Response, ApiError> {
    let id = input::one(input::entry_id(request.capture_value("uuid").as_ref()))?;
    let now = backend.clock.now();
    let entry = backend
        .store
        .get_live(&id, now)
        .await
        .map_err(|e| ApiError::storage(&e))?;
    if entry.is_none() {
        return Err(ApiError::entry_not_found());
    }
    let code = current_code(&id, now);
    let mut data = Map::new();
    data.insert("code".into(), Value::from(code.code));
    data.insert("period".into(), Value::from(PERIOD));
    data.insert("expire_time".into(), Value::from(code.expire_time));
    Ok(Response::with_data(data))
}

/// `update totp/verify`.
pub(super) async fn verify(
    backend: &RatlsBackend,
    request: &Request,
) -> Result<Response, ApiError> {
    let policy = input::policy(&request.data);
    let code = input::code(&request.data);
    let (policy, code) = input::both(policy, code)?;
    let storage = |e| ApiError::storage(&e);

    // Codes are matched without the lock (pure computation over the index);
    // only a match takes the policy's lock, shared with redeem, for the
    // read-check-write of the replay record. Wrong codes never wait.
    let now = backend.clock.now();
    let ids = backend
        .store
        .ids_for_policy(&policy)
        .await
        .map_err(storage)?;
    let mut accepted = false;
    for id in ids {
        let Some(step) = matching_step(&id, &code, now) else {
            continue;
        };
        let _guard = backend.locks.lock(policy.as_str()).await;
        // The index may be stale, and a redeem may have won the lock: the
        // entry, read under the lock, decides.
        let entry = backend.store.get_live(&id, now).await.map_err(storage)?;
        if entry.is_none_or(|e| e.policy != policy) {
            continue;
        }
        let record = backend.store.replay_record(&id).await.map_err(storage)?;
        if ReplayRecord::admits(record.as_ref(), step) {
            backend
                .store
                .put_replay_record(&id, ReplayRecord { last_step: step })
                .await
                .map_err(storage)?;
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
