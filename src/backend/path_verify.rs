//! `totp/verify`: checks a code against the live entries of a policy.

use serde_json::{Map, Value};

use super::store::attempts::Scope;
use super::{ApiError, HandlerError, RatlsBackend, input};
use crate::domain::code::{ReplayRecord, matching_step};
use crate::domain::{EntryId, TotpEntry};
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
twice, across restarts and failovers. Failed verifications are counted per
policy (per entry when `accessor` is given): after `max_failures` within
`window` (see `config`), the scope answers 429 for a lockout that grows with
each further one, without checking codes. Operators see and clear lockouts
at `lockouts/`.

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
    let scope = match accessor {
        Some(accessor) => Scope::Entry(accessor),
        None => Scope::Policy(policy.clone()),
    };

    // A lockout this process already read refuses at once (see
    // `known_lockouts`). Otherwise the whole check runs under the policy's
    // lock (shared with redeem): the scope's failures are counted exactly
    // and a locked scope refuses every attempt, however many arrive at once.
    // On a standby a wrong code's count is a refused write, so the host
    // forwards the request and the active node counts it.
    let grants = backend.grants().await?;
    let scope_key = scope.key();
    if let Some(seconds) = backend
        .known_lockouts
        .seconds_left(&scope_key, backend.clock.now())
    {
        return Err(refuse_locked(&scope, seconds));
    }
    let _guard = backend.locks.lock(policy.as_str()).await;
    let now = backend.clock.now();
    // A lockout's end is in the record itself: the limits are read only
    // when a failure must be counted.
    let seen = backend.known_lockouts.epoch();
    let mut attempts = grants.attempts(&scope).await?;
    if let Some(seconds) = attempts.locked_for(now) {
        backend
            .known_lockouts
            .remember(&scope_key, attempts.locked_until, seen, now);
        return Err(refuse_locked(&scope, seconds));
    }
    // The uuids to try, with the entry when it was already read under the
    // lock (by accessor); the policy index is only a hint.
    let candidates: Vec<(EntryId, Option<TotpEntry>)> = match &scope {
        Scope::Entry(accessor) => grants
            .by_accessor(accessor)
            .await?
            .filter(|e| e.policy == policy)
            .map(|e| (e.uuid, Some(e)))
            .into_iter()
            .collect(),
        Scope::Policy(_) => grants
            .policy_members(&policy)
            .await?
            .into_iter()
            .map(|id| (id, None))
            .collect(),
    };
    // With no entry in scope there is nothing to guess, and nothing is
    // counted: verifies naming unknown policies or accessors write nothing.
    // Nor is a code that is right but already used (a replay, or a lost
    // race): whoever sends it knew the code, it guessed nothing.
    let guessable = !candidates.is_empty();
    let mut matched = false;
    let mut accepted = false;
    for (id, known) in candidates {
        let Some(step) = matching_step(&id, &code, now) else {
            continue;
        };
        // The index may be stale, and a redeem may have removed the entry:
        // the entry, read under the lock, decides.
        let entry = match known {
            Some(entry) => Some(entry),
            None => grants.get(&id).await?,
        };
        if entry.is_none_or(|e| !e.is_live(now) || e.policy != policy) {
            continue;
        }
        matched = true;
        let record = grants.replay_record(&id).await?;
        if ReplayRecord::admits(record.as_ref(), step) {
            grants
                .put_replay_record(&id, ReplayRecord { last_step: step })
                .await?;
            accepted = true;
            break;
        }
    }
    if !matched && guessable {
        let config = grants.throttle_config().await?;
        let locked = attempts.record_failure(now, &config);
        grants.put_attempts(&scope, &attempts).await?;
        if locked {
            backend
                .known_lockouts
                .remember(&scope_key, attempts.locked_until, seen, now);
            tracing::warn!(
                scope = %scope.name(),
                lockouts = attempts.lockouts,
                locked_for = attempts.locked_until - now,
                "too many failed verifications: locked"
            );
        }
    }
    tracing::debug!(
        policy = policy.as_str(),
        valid = accepted,
        "verified a TOTP code"
    );
    let mut data = Map::new();
    data.insert("valid".into(), Value::from(accepted));
    Ok(Response::with_data(data))
}

/// The answer to a verification of a locked scope, which checks nothing.
fn refuse_locked(scope: &Scope, seconds: i64) -> HandlerError {
    tracing::debug!(scope = %scope.name(), "refused a verification: too many failures");
    ApiError::locked_out(seconds).into()
}
