//! `totp/<uuid>/code`: the current RFC 6238 code of an entry, by uuid.

use serde_json::{Map, Value};

use super::path_totp::UUID_IN_PATH;
use super::{ApiError, HandlerError, RatlsBackend, input};
use crate::domain::TotpEntry;
use crate::domain::code::{PERIOD, current_code};
use crate::protocol::{Operation, OperationSpec, PathSpec, Request, Response};

pub(super) const CODE: PathSpec<RatlsBackend> = PathSpec {
    pattern: "totp/(?P<uuid>[^/]+)/code",
    display: "totp/{uuid}/code",
    operations: &[OperationSpec {
        operation: Operation::Read,
        id: "ratls-read-totp-code",
        summary: "Read the current RFC 6238 code of a TOTP entry.",
        handler: handler!(read_code),
    }],
    fields: &[UUID_IN_PATH],
    existence_check: None,
    synopsis: "Current codes of TOTP entries.",
    description: "
Answers the entry's current code (HMAC-SHA1, 6 digits), its `period` in
seconds and `expire_time`, the Unix second at which the next code begins.
The shared secret is the uuid itself, so a workload holding it can compute
the same codes locally. 404 when no live entry has this uuid. This puts the
uuid into the request path, which audit devices log in clear: operators use
`totp/accessor/<accessor>/code` instead.

    vault read auth/ratls/totp/<uuid>/code
",
};

/// `read totp/<uuid>/code`.
async fn read_code(backend: &RatlsBackend, request: &Request) -> Result<Response, HandlerError> {
    let id = input::entry_id(request.capture_value("uuid").as_ref())?;
    let now = backend.clock.now();
    let entry = backend
        .grants()
        .await?
        .get_live(&id, now)
        .await?
        .ok_or_else(ApiError::entry_not_found)?;
    Ok(code_response(&entry, now))
}

/// The current code of a live entry.
pub(super) fn code_response(entry: &TotpEntry, now: i64) -> Response {
    let code = current_code(&entry.uuid, now);
    let mut data = Map::new();
    data.insert("code".into(), Value::from(code.code));
    data.insert("period".into(), Value::from(PERIOD));
    data.insert("expire_time".into(), Value::from(code.expire_time));
    Response::with_data(data)
}
