//! How handlers fail. [`ApiError`] is the body this plugin answers with (the
//! Nitride API's documented shape, `{"statusCode", "message", "errors"}`,
//! with a matching HTTP status); [`HandlerError`] is what a handler returns,
//! with `From` impls so that `?` works on field, storage and system-view
//! errors, and [`HandlerError::into_reply`] is the one place that logs them
//! and turns them into what the host receives.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::domain::Refusal;
use crate::protocol::{Error, Response, StorageError, SystemViewError};

/// The `errors` value for a field that was not given (the source API's wording).
const MISSING: &str = "Missing required field";

/// What is wrong with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    /// For the `errors` map.
    pub short: String,
    /// Follows `'field'` in `message`.
    pub detail: String,
}

impl FieldError {
    /// `field` was not given; `kind` names the type it must have ("a string").
    pub fn missing(field: &'static str, kind: &str) -> Self {
        Self {
            field,
            short: MISSING.to_owned(),
            detail: format!("is required and must be {kind}"),
        }
    }

    /// `field` has the wrong type (a phrase from [`crate::protocol::fields`]).
    pub fn wrong_type(field: &'static str, mismatch: &'static str) -> Self {
        Self {
            field,
            short: mismatch.to_owned(),
            detail: mismatch.to_owned(),
        }
    }

    /// `field`'s value breaks a rule of the domain.
    pub fn invalid(field: &'static str, refusal: Refusal) -> Self {
        Self {
            field,
            short: refusal.short.to_owned(),
            detail: refusal.detail,
        }
    }
}

/// A failed request, answered in the documented shape. Handlers return one
/// before touching storage, so a failed request writes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    /// Field name → what is wrong with it; empty when no field is at fault.
    pub errors: BTreeMap<&'static str, String>,
}

impl ApiError {
    /// A 400 naming every offending field, in name order.
    pub fn invalid(fields: impl IntoIterator<Item = FieldError>) -> Self {
        let by_name: BTreeMap<&'static str, FieldError> =
            fields.into_iter().map(|f| (f.field, f)).collect();
        let sentences: Vec<String> = by_name
            .values()
            .map(|f| format!("'{}' {}", f.field, f.detail))
            .collect();
        let message = if sentences.is_empty() {
            "Invalid request.".to_owned()
        } else {
            format!("Invalid request parameters: {}.", sentences.join("; "))
        };
        Self {
            status: 400,
            message,
            errors: by_name
                .into_iter()
                .map(|(name, f)| (name, f.short))
                .collect(),
        }
    }

    /// The same error with another `message`.
    pub fn with_message(mut self, message: &str) -> Self {
        self.message = message.to_owned();
        self
    }

    /// No live entry answers to the uuid (never created, deleted, redeemed
    /// or expired: the answer does not tell which).
    pub fn entry_not_found() -> Self {
        Self {
            status: 404,
            message: "No TOTP entry with this uuid exists: it was never created, or it was deleted, redeemed or has expired.".into(),
            errors: BTreeMap::new(),
        }
    }

    /// No live entry answers to the accessor.
    pub fn accessor_not_found() -> Self {
        Self {
            status: 404,
            message: "No TOTP entry with this accessor exists: it was never created, or it was deleted, redeemed or has expired.".into(),
            errors: BTreeMap::new(),
        }
    }

    /// Too many failed verifications: the scope refuses attempts for
    /// `seconds` more, without checking codes.
    pub fn locked_out(seconds: i64) -> Self {
        Self {
            status: 429,
            message: format!(
                "Too many failed verifications: verification is locked for {seconds} more seconds. Nothing was checked."
            ),
            errors: BTreeMap::new(),
        }
    }

    /// The mount's data is being moved to the current storage layout.
    pub fn migrating() -> Self {
        Self {
            status: 503,
            message: "This mount's TOTP entries are being migrated to the current storage layout; nothing was changed. Retry in a few seconds.".into(),
            errors: BTreeMap::new(),
        }
    }

    /// The host's storage or system view failed. True whatever the request
    /// had written before: the plugin orders its writes so that a partial
    /// change never grants more than before.
    pub fn host_unavailable() -> Self {
        Self {
            status: 500,
            message: "The request could not be completed because Vault's storage failed. A request that writes may have been applied in part; retrying is safe, and tidy removes what a partial write leaves behind.".into(),
            errors: BTreeMap::new(),
        }
    }

    /// The JSON body. `errors` maps each field at fault to its problem (the
    /// source API's shape); when no field is at fault it is Vault's own
    /// shape, a list holding the message, so that Vault's and OpenBao's CLI
    /// and Go client (which read `errors` as a list of strings), and hvac,
    /// show the message, and a read of a missing entry fails.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("statusCode".into(), Value::from(self.status));
        body.insert("message".into(), Value::from(self.message.as_str()));
        let errors = if self.errors.is_empty() {
            Value::from(vec![self.message.as_str()])
        } else {
            Value::Object(
                self.errors
                    .iter()
                    .map(|(field, problem)| ((*field).to_owned(), Value::from(problem.as_str())))
                    .collect(),
            )
        };
        body.insert("errors".into(), errors);
        Value::Object(body)
    }

    /// As a raw HTTP response with this status and body.
    pub fn into_response(self) -> Response {
        Response::raw_json(self.status, &self.body())
    }
}

/// Why a handler did not produce its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerError {
    /// Bad input or a missing entry: answered in the documented shape.
    Api(ApiError),
    /// An error the host itself must receive, as it is: a standby's
    /// read-only refusal, which makes the host forward the request to the
    /// active node.
    Forward(String),
    /// The host's storage or system view failed: answered 500 in the
    /// documented shape; the detail goes to the log only.
    Host(String),
}

impl HandlerError {
    /// What the host receives, logged here and nowhere else.
    pub fn into_reply(self) -> Result<Response, Error> {
        match self {
            Self::Api(error) => Ok(error.into_response()),
            Self::Forward(message) => {
                tracing::debug!(
                    "this node cannot write; the host forwards the request to the active node"
                );
                Err(Error::Internal(message))
            }
            Self::Host(detail) => {
                tracing::error!(error = %detail, "a call to the host failed");
                Ok(ApiError::host_unavailable().into_response())
            }
        }
    }
}

impl HandlerError {
    /// The mount's own records could not be read or made.
    pub(super) fn from_meta(error: super::store::meta::MetaError) -> Self {
        match error {
            super::store::meta::MetaError::Storage(error) => error.into(),
            other => Self::Host(other.to_string()),
        }
    }
}

impl From<ApiError> for HandlerError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<FieldError> for HandlerError {
    fn from(error: FieldError) -> Self {
        Self::Api(ApiError::invalid([error]))
    }
}

impl From<StorageError> for HandlerError {
    fn from(error: StorageError) -> Self {
        match error.host_message() {
            Some(message) if error.must_forward() => Self::Forward(message.to_owned()),
            _ => Self::Host(error.to_string()),
        }
    }
}

impl From<SystemViewError> for HandlerError {
    fn from(error: SystemViewError) -> Self {
        Self::Host(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_uuid_reads_as_the_source_documents() {
        let error = ApiError::invalid([FieldError::missing("uuid", "a string")]);
        assert_eq!(
            error.body(),
            json!({
                "statusCode": 400,
                "message": "Invalid request parameters: 'uuid' is required and must be a string.",
                "errors": {"uuid": "Missing required field"}
            })
        );
        let response = error.into_response();
        assert_eq!(response.raw_status(), Some(400));
    }

    #[test]
    fn several_fields_are_named_in_order() {
        let error = ApiError::invalid([
            FieldError::wrong_type("policy", "must be a string"),
            FieldError::invalid(
                "expiration",
                Refusal {
                    short: "must be in the future",
                    detail: "must be a Unix timestamp in the future".into(),
                },
            ),
        ]);
        assert_eq!(error.status, 400);
        assert_eq!(
            error.message,
            "Invalid request parameters: 'expiration' must be a Unix timestamp in the future; 'policy' must be a string."
        );
        assert_eq!(
            error.body()["errors"],
            json!({"expiration": "must be in the future", "policy": "must be a string"})
        );
    }

    #[test]
    fn no_field_is_the_source_documents_plain_400() {
        assert_eq!(
            ApiError::invalid([]).body(),
            json!({"statusCode": 400, "message": "Invalid request.", "errors": ["Invalid request."]})
        );
    }

    #[test]
    fn read_only_storage_goes_back_to_the_host() {
        let error = HandlerError::from(StorageError::Host(
            "cannot write to readonly storage".into(),
        ));
        assert_eq!(
            error,
            HandlerError::Forward("cannot write to readonly storage".into())
        );
        assert_eq!(
            error.into_reply(),
            Err(Error::Internal("cannot write to readonly storage".into()))
        );
        let error = HandlerError::from(StorageError::Host("barrier is sealed".into()));
        assert_eq!(
            error,
            HandlerError::Host("storage error from the host: barrier is sealed".into())
        );
    }

    #[test]
    fn host_failure_is_a_500_without_details() {
        let response = HandlerError::from(StorageError::Host("barrier is sealed".into()))
            .into_reply()
            .unwrap();
        assert_eq!(response.raw_status(), Some(500));
        let body = response.raw_body().unwrap();
        assert_eq!(body["statusCode"], 500);
        assert_eq!(body["errors"], json!([body["message"]]));
        assert!(!body["message"].as_str().unwrap().contains("sealed"));
    }

    #[test]
    fn field_errors_answer_400() {
        let error = HandlerError::from(FieldError::missing("uuid", "a string"));
        assert_eq!(
            error,
            HandlerError::Api(ApiError::invalid([FieldError::missing("uuid", "a string")]))
        );
    }
}
