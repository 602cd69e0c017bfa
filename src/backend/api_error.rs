//! The error body this plugin answers with (the Nitride API's documented
//! shape): `{"statusCode", "message", "errors"}`, with a matching HTTP status.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::domain::Problem;
use crate::protocol::{Response, StorageError, SystemViewError};

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
    pub fn wrong_type(field: &'static str, problem: &'static str) -> Self {
        Self {
            field,
            short: problem.to_owned(),
            detail: problem.to_owned(),
        }
    }

    /// `field`'s value breaks a rule of the domain.
    pub fn invalid(field: &'static str, problem: Problem) -> Self {
        Self {
            field,
            short: problem.short.to_owned(),
            detail: problem.detail,
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
    /// An error the host itself must receive instead of this body: a
    /// read-only refusal on a standby, which makes the host forward the
    /// request to the active node.
    pub forward_to_active: Option<String>,
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
            forward_to_active: None,
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
            forward_to_active: None,
        }
    }

    /// Storage failed; the request was not applied. Details go to the log,
    /// not to the client.
    pub fn storage(error: &StorageError) -> Self {
        if error.must_forward() {
            tracing::debug!(
                "this node cannot write; the host forwards the request to the active node"
            );
            return Self {
                forward_to_active: error.host_message().map(str::to_owned),
                ..Self::unavailable()
            };
        }
        tracing::error!(error = %error, "storage call failed");
        Self::unavailable()
    }

    /// The host's system view failed.
    pub fn system_view(error: &SystemViewError) -> Self {
        tracing::error!(error = %error, "system view call failed");
        Self::unavailable()
    }

    fn unavailable() -> Self {
        Self {
            status: 500,
            message: "The request could not be completed because Vault's storage is unavailable; nothing was changed. Retry later.".into(),
            errors: BTreeMap::new(),
            forward_to_active: None,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("statusCode".into(), Value::from(self.status));
        body.insert("message".into(), Value::from(self.message.as_str()));
        if !self.errors.is_empty() {
            let errors: Map<String, Value> = self
                .errors
                .iter()
                .map(|(field, problem)| ((*field).to_owned(), Value::from(problem.as_str())))
                .collect();
            body.insert("errors".into(), Value::Object(errors));
        }
        Value::Object(body)
    }

    /// As a raw HTTP response with this status and body.
    pub fn into_response(self) -> Response {
        Response::raw_json(self.status, &self.body())
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
                Problem {
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
            json!({"statusCode": 400, "message": "Invalid request."})
        );
    }

    #[test]
    fn read_only_storage_goes_back_to_the_host() {
        let error = ApiError::storage(&StorageError::Host(
            "cannot write to readonly storage".into(),
        ));
        assert_eq!(
            error.forward_to_active.as_deref(),
            Some("cannot write to readonly storage")
        );
        let error = ApiError::storage(&StorageError::Host("barrier is sealed".into()));
        assert_eq!(error.forward_to_active, None);
    }

    #[test]
    fn storage_failure_is_a_500_without_errors_or_details() {
        let error = ApiError::storage(&StorageError::Host("barrier is sealed".into()));
        let body = error.body();
        assert_eq!(body["statusCode"], 500);
        assert!(body.get("errors").is_none());
        assert!(!body["message"].as_str().unwrap().contains("sealed"));
    }
}
