//! `totp/accessor/<accessor>` and `totp/accessor/<accessor>/code`: what an
//! operator may do with an entry without ever learning its uuid.

use super::path_code::code_response;
use super::{ApiError, HandlerError, RatlsBackend, input};
use crate::domain::TotpEntry;
use crate::protocol::{
    FieldSpec, FieldType, Operation, OperationSpec, PathSpec, Request, Response,
};

const ACCESSOR_IN_PATH: FieldSpec = FieldSpec {
    name: "accessor",
    kind: FieldType::String,
    description: "The entry's accessor, as listed and as answered at creation. Not a secret.",
    required: true,
    in_path: true,
};

pub(super) const ACCESSOR: PathSpec<RatlsBackend> = PathSpec {
    pattern: "totp/accessor/(?P<accessor>[^/]+)",
    display: "totp/accessor/{accessor}",
    operations: &[
        OperationSpec {
            operation: Operation::Read,
            id: "ratls-read-totp-by-accessor",
            summary: "Read a TOTP entry by its accessor.",
            handler: handler!(read),
        },
        OperationSpec {
            operation: Operation::Delete,
            id: "ratls-delete-totp-by-accessor",
            summary: "Delete a TOTP entry by its accessor.",
            handler: handler!(delete),
        },
    ],
    fields: &[ACCESSOR_IN_PATH],
    existence_check: None,
    synopsis: "Read and delete TOTP entries by accessor.",
    description: "
A read answers with the entry's `accessor`, `created`, `expiration` and
`policy` (never the uuid), or 404 when no live entry has this accessor.
Deleting revokes the grant; it is idempotent and answers 200 with
`{\"deleted\": true}` whether or not the entry existed. An accessor that is not a canonical UUID answers 400.

    vault read auth/ratls/totp/accessor/<accessor>
    vault delete auth/ratls/totp/accessor/<accessor>
",
};

pub(super) const ACCESSOR_CODE: PathSpec<RatlsBackend> = PathSpec {
    pattern: "totp/accessor/(?P<accessor>[^/]+)/code",
    display: "totp/accessor/{accessor}/code",
    operations: &[OperationSpec {
        operation: Operation::Read,
        id: "ratls-read-totp-code-by-accessor",
        summary: "Read the current RFC 6238 code of a TOTP entry by its accessor.",
        handler: handler!(read_code),
    }],
    fields: &[ACCESSOR_IN_PATH],
    existence_check: None,
    synopsis: "Current codes of TOTP entries, by accessor.",
    description: "
Answers the entry's current `code`, its `period` and `expire_time`, as
`totp/<uuid>/code` does, for an operator who must not learn the uuid. 404
when no live entry has this accessor.

    vault read auth/ratls/totp/accessor/<accessor>/code
",
};

/// The entry the path's accessor names if it is live at the returned
/// second, or 404.
async fn live_entry(
    backend: &RatlsBackend,
    request: &Request,
) -> Result<(TotpEntry, i64), HandlerError> {
    let accessor = input::accessor(request.capture_value("accessor").as_ref())?;
    let now = backend.clock.now();
    let entry = backend.grants().await?.by_accessor(&accessor).await?;
    let entry = entry
        .filter(|e| e.is_live(now))
        .ok_or_else(ApiError::accessor_not_found)?;
    Ok((entry, now))
}

/// `read totp/accessor/<accessor>`.
async fn read(backend: &RatlsBackend, request: &Request) -> Result<Response, HandlerError> {
    let (entry, _) = live_entry(backend, request).await?;
    Ok(Response::with_data(entry.public_json()))
}

/// `delete totp/accessor/<accessor>`: answers 200 whether or not it existed.
async fn delete(backend: &RatlsBackend, request: &Request) -> Result<Response, HandlerError> {
    let accessor = input::accessor(request.capture_value("accessor").as_ref())?;
    backend.grants().await?.remove_accessor(&accessor).await?;
    tracing::debug!(accessor = %accessor, "deleted a TOTP entry by accessor if it existed");
    Ok(super::path_totp::deleted())
}

/// `read totp/accessor/<accessor>/code`.
async fn read_code(backend: &RatlsBackend, request: &Request) -> Result<Response, HandlerError> {
    let (entry, now) = live_entry(backend, request).await?;
    Ok(code_response(&entry, now))
}
