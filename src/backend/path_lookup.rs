//! `totp/lookup`: a holder looks its grant up, with the uuid in the body
//! (which audit devices HMAC) rather than in the path (which they log).

use super::{HandlerError, RatlsBackend, input};
use crate::protocol::{
    FieldSpec, FieldType, Operation, OperationSpec, PathSpec, Request, Response,
};

pub(super) const LOOKUP: PathSpec<RatlsBackend> = PathSpec {
    pattern: "totp/lookup",
    display: "totp/lookup",
    operations: &[OperationSpec {
        operation: Operation::Update,
        id: "ratls-lookup-totp",
        summary: "Look a TOTP entry up by its uuid, given in the body.",
        handler: handler!(lookup),
    }],
    fields: &[FieldSpec {
        name: "uuid",
        kind: FieldType::String,
        description: "The entry's uuid (the grant).",
        required: true,
        in_path: false,
    }],
    existence_check: None,
    synopsis: "Look TOTP entries up by uuid.",
    description: "
Answers the entry's `accessor`, `created`, `expiration` and `policy` (not the
uuid), or 404 when no live entry has this uuid. The uuid travels in the body,
which audit devices HMAC, so it stays out of audit logs.

    vault write auth/ratls/totp/lookup uuid=<uuid>
",
};

/// `update totp/lookup`.
async fn lookup(backend: &RatlsBackend, request: &Request) -> Result<Response, HandlerError> {
    let id = input::entry_id(request.data.get("uuid"))?;
    super::path_totp::public_entry(backend, &id).await
}
