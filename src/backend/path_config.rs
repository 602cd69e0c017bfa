//! `config`: the attempt limits of verify (see `domain::throttle`).

use serde_json::{Map, Value};

use super::{ApiError, FieldError, HandlerError, RatlsBackend};
use crate::domain::ThrottleConfig;
use crate::protocol::{
    FieldSpec, FieldType, Operation, OperationSpec, PathSpec, Request, Response, fields,
};

const fn setting(name: &'static str, description: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        kind: FieldType::Int64,
        description,
        required: false,
        in_path: false,
    }
}

pub(super) const CONFIG: PathSpec<RatlsBackend> = PathSpec {
    pattern: "config",
    display: "config",
    operations: &[
        OperationSpec {
            operation: Operation::Read,
            id: "ratls-read-config",
            summary: "Read the attempt limits of verify.",
            handler: handler!(read),
        },
        OperationSpec {
            operation: Operation::Update,
            id: "ratls-write-config",
            summary: "Set attempt limits of verify; settings not given keep their value.",
            handler: handler!(update),
        },
    ],
    fields: &[
        setting(
            "max_failures",
            "Failed verifications within `window` that lock a scope (1 to 1000; default 5).",
        ),
        setting(
            "window",
            "Seconds over which failures are counted (60 to 31536000; default 86400).",
        ),
        setting(
            "lockout",
            "Seconds of the first lockout (1 to 31536000; default 900).",
        ),
        setting(
            "lockout_growth",
            "Each further lockout in a row lasts this many times the previous one (1 to 100; default 2).",
        ),
        setting(
            "lockout_max",
            "Seconds no lockout exceeds (1 to 31536000, at least `lockout`; default 86400).",
        ),
    ],
    existence_check: None,
    synopsis: "Attempt limits of verify.",
    description: "
Failed verifications are counted per policy, or per entry when verify names
its accessor. `max_failures` failures within `window` seconds lock the scope:
verify answers 429 without checking codes for `lockout` seconds, times
`lockout_growth` for each further lockout in a row, up to `lockout_max`.
The defaults hold a guesser at full speed off a policy with 16 live entries
for 11.4 years on average (the README gives the formula). Reading answers
every setting; an update changes those it names, checked together (400 and
nothing written when any is out of range). Needs `update` on this path.

    vault read auth/ratls/config
    vault write auth/ratls/config max_failures=3 lockout=600
",
};

fn answer(config: &ThrottleConfig) -> Response {
    let data: Map<String, Value> = ThrottleConfig::fields()
        .filter_map(|name| Some((name.to_owned(), Value::from(config.get(name)?))))
        .collect();
    Response::with_data(data)
}

/// `read config`.
async fn read(backend: &RatlsBackend, _request: &Request) -> Result<Response, HandlerError> {
    let config = backend.grants().await?.throttle_config().await?;
    Ok(answer(&config))
}

/// `update config`: every named setting checked, then all written at once.
async fn update(backend: &RatlsBackend, request: &Request) -> Result<Response, HandlerError> {
    let grants = backend.grants().await?;
    let mut config = grants.throttle_config().await?;
    let mut problems = Vec::new();
    for name in ThrottleConfig::fields() {
        let Some(value) = request.data.get(name) else {
            continue;
        };
        let applied = fields::int64(value)
            .map_err(|mismatch| FieldError::wrong_type(name, mismatch))
            .and_then(|value| {
                config
                    .set(name, value)
                    .map_err(|refusal| FieldError::invalid(name, refusal))
            });
        if let Err(problem) = applied {
            problems.push(problem);
        }
    }
    if problems.is_empty() {
        if let Err((field, refusal)) = config.check() {
            problems.push(FieldError::invalid(field, refusal));
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems).into());
    }
    grants.put_throttle_config(&config).await?;
    tracing::info!(?config, "set the attempt limits of verify");
    Ok(answer(&config))
}
