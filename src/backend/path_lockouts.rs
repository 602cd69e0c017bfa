//! `lockouts/`: what operators see of verify's attempt limits, and how they
//! clear a lockout (a guesser can lock legitimate verifications out too).

use serde_json::{Map, Value};

use super::store::attempts::{Scope, describe};
use super::{HandlerError, RatlsBackend, input};
use crate::protocol::{
    FieldSpec, FieldType, Operation, OperationSpec, PathSpec, Request, Response,
};

pub(super) const LOCKOUTS: PathSpec<RatlsBackend> = PathSpec {
    pattern: "lockouts/",
    display: "lockouts/",
    operations: &[OperationSpec {
        operation: Operation::List,
        id: "ratls-list-lockouts",
        summary: "List the scopes with failed verifications or a lockout.",
        handler: handler!(list),
    }],
    fields: &[],
    existence_check: None,
    synopsis: "Failed verifications and lockouts.",
    description: "
Lists every scope with a record, `policy/<policy>` or `entry/<accessor>`,
with `failures` in its current window, `lockouts` in a row, `locked_until`
(Unix seconds) and `locked_for` (seconds left, 0 when not locked) in
`key_info`. Tidy removes records that can no longer refuse anything.

    vault list -detailed auth/ratls/lockouts
",
};

const POLICY_FIELD: FieldSpec = FieldSpec {
    name: "policy",
    kind: FieldType::String,
    description: "The policy whose verifications are counted.",
    required: true,
    in_path: true,
};

const ACCESSOR_FIELD: FieldSpec = FieldSpec {
    name: "accessor",
    kind: FieldType::String,
    description: "The entry whose verifications are counted (verify naming its accessor).",
    required: true,
    in_path: true,
};

const SCOPE_DESCRIPTION: &str = "
A read answers the scope's `failures`, `lockouts`, `locked_until` and
`locked_for` (zeros when nothing is counted). Deleting clears the record:
verifications are accepted again at once and the lockouts' growth starts
over. Give operators `read`/`delete` here without `sudo`; verify itself
needs none of it.

    vault read auth/ratls/lockouts/policy/my-policy
    vault delete auth/ratls/lockouts/policy/my-policy
    vault delete auth/ratls/lockouts/entry/<accessor>
";

pub(super) const POLICY_LOCKOUT: PathSpec<RatlsBackend> = PathSpec {
    pattern: "lockouts/policy/(?P<policy>.+)",
    display: "lockouts/policy/{policy}",
    operations: &[
        OperationSpec {
            operation: Operation::Read,
            id: "ratls-read-policy-lockout",
            summary: "Read a policy's failed verifications and lockout.",
            handler: handler!(read),
        },
        OperationSpec {
            operation: Operation::Delete,
            id: "ratls-clear-policy-lockout",
            summary: "Clear a policy's failed verifications and lockout.",
            handler: handler!(clear),
        },
    ],
    fields: &[POLICY_FIELD],
    existence_check: None,
    synopsis: "A policy's lockout.",
    description: SCOPE_DESCRIPTION,
};

pub(super) const ENTRY_LOCKOUT: PathSpec<RatlsBackend> = PathSpec {
    pattern: "lockouts/entry/(?P<accessor>[^/]+)",
    display: "lockouts/entry/{accessor}",
    operations: &[
        OperationSpec {
            operation: Operation::Read,
            id: "ratls-read-entry-lockout",
            summary: "Read an entry's failed verifications and lockout.",
            handler: handler!(read),
        },
        OperationSpec {
            operation: Operation::Delete,
            id: "ratls-clear-entry-lockout",
            summary: "Clear an entry's failed verifications and lockout.",
            handler: handler!(clear),
        },
    ],
    fields: &[ACCESSOR_FIELD],
    existence_check: None,
    synopsis: "An entry's lockout.",
    description: SCOPE_DESCRIPTION,
};

/// The scope a lockout path names.
fn scope(request: &Request) -> Result<Scope, HandlerError> {
    if let Some(policy) = request.capture_value("policy") {
        return Ok(Scope::Policy(input::policy_value(Some(&policy))?));
    }
    Ok(Scope::Entry(input::accessor(
        request.capture_value("accessor").as_ref(),
    )?))
}

/// `list lockouts/`.
async fn list(backend: &RatlsBackend, _request: &Request) -> Result<Response, HandlerError> {
    let now = backend.clock.now();
    let mut keys = Vec::new();
    let mut key_info = Map::new();
    for (scope, record) in backend.grants().await?.attempt_scopes().await? {
        key_info.insert(scope.name(), Value::Object(describe(&record, now)));
        keys.push(Value::from(scope.name()));
    }
    Ok(Response::list(keys, key_info))
}

/// `read lockouts/policy/<policy>` or `lockouts/entry/<accessor>`.
async fn read(backend: &RatlsBackend, request: &Request) -> Result<Response, HandlerError> {
    let scope = scope(request)?;
    let record = backend.grants().await?.attempts(&scope).await?;
    Ok(Response::with_data(describe(&record, backend.clock.now())))
}

/// `delete lockouts/…`: clears the record; idempotent.
async fn clear(backend: &RatlsBackend, request: &Request) -> Result<Response, HandlerError> {
    let scope = scope(request)?;
    let grants = backend.grants().await?;
    let policy_lock = match &scope {
        Scope::Policy(policy) => policy.as_str().to_owned(),
        Scope::Entry(accessor) => grants
            .by_accessor(accessor)
            .await?
            .map(|e| e.policy.as_str().to_owned())
            .unwrap_or_default(),
    };
    // Under the lock verify counts with, so a count in flight is not lost
    // into the cleared record.
    let _guard = backend.locks.lock(&policy_lock).await;
    grants.clear_attempts(&scope).await?;
    backend.known_lockouts.forget(&scope.key());
    tracing::info!(scope = %scope.name(), "cleared failed verifications");
    Ok(super::path_totp::deleted())
}
