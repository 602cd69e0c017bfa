//! Reading the fields handlers share, each problem as a [`FieldError`].

use serde_json::{Map, Value};

use super::{ApiError, FieldError};
use crate::domain::code::is_well_formed;
use crate::domain::{Accessor, EntryId, PolicyName, Refusal};
use crate::protocol::fields;

/// A required policy name in the body.
pub(super) fn policy(data: &Map<String, Value>) -> Result<PolicyName, FieldError> {
    policy_value(data.get("policy"))
}

/// A required policy name, from the path (`Some(capture)`) or the body.
pub(super) fn policy_value(value: Option<&Value>) -> Result<PolicyName, FieldError> {
    let value = value.ok_or_else(|| FieldError::missing("policy", "a string"))?;
    let text = fields::string(value).map_err(|p| FieldError::wrong_type("policy", p))?;
    PolicyName::parse(text).map_err(|p| FieldError::invalid("policy", p))
}

/// A required canonical UUID named `field`, parsed by `parse`; an empty
/// string counts as missing.
fn uuid_field<T>(
    field: &'static str,
    value: Option<&Value>,
    parse: fn(&str) -> Result<T, Refusal>,
) -> Result<T, FieldError> {
    let value = value.ok_or_else(|| FieldError::missing(field, "a string"))?;
    let text = fields::string(value).map_err(|p| FieldError::wrong_type(field, p))?;
    if text.is_empty() {
        return Err(FieldError::missing(field, "a string"));
    }
    parse(text).map_err(|p| FieldError::invalid(field, p))
}

/// A required entry uuid, from the path (`Some(capture)`) or the body.
pub(super) fn entry_id(value: Option<&Value>) -> Result<EntryId, FieldError> {
    uuid_field("uuid", value, EntryId::parse)
}

/// A required accessor, from the path (`Some(capture)`) or the body.
pub(super) fn accessor(value: Option<&Value>) -> Result<Accessor, FieldError> {
    uuid_field("accessor", value, Accessor::parse)
}

/// An optional accessor in the body.
pub(super) fn optional_accessor(data: &Map<String, Value>) -> Result<Option<Accessor>, FieldError> {
    data.get("accessor").map(|v| accessor(Some(v))).transpose()
}

/// A required six-digit code, as a string (a JSON number would lose
/// leading zeros).
pub(super) fn code(data: &Map<String, Value>) -> Result<String, FieldError> {
    let value = data
        .get("code")
        .ok_or_else(|| FieldError::missing("code", "a string"))?;
    let text = fields::string(value).map_err(|p| FieldError::wrong_type("code", p))?;
    if !is_well_formed(text) {
        return Err(FieldError::invalid(
            "code",
            Refusal {
                short: "must be 6 digits",
                detail: "must be a string of 6 digits".into(),
            },
        ));
    }
    Ok(text.to_owned())
}

/// An optional integer field.
pub(super) fn optional_int(
    data: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<i64>, FieldError> {
    data.get(field)
        .map(|value| fields::int64(value).map_err(|p| FieldError::wrong_type(field, p)))
        .transpose()
}

/// An optional string field.
pub(super) fn optional_string<'a>(
    data: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, FieldError> {
    data.get(field)
        .map(|value| fields::string(value).map_err(|p| FieldError::wrong_type(field, p)))
        .transpose()
}

/// Two fields' results: both values, or a 400 naming every field at fault.
pub(super) fn both<A, B>(
    a: Result<A, FieldError>,
    b: Result<B, FieldError>,
) -> Result<(A, B), ApiError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => Err(ApiError::invalid([a.err(), b.err()].into_iter().flatten())),
    }
}

/// Three fields' results: all values, or a 400 naming every field at fault.
pub(super) fn three<A, B, C>(
    a: Result<A, FieldError>,
    b: Result<B, FieldError>,
    c: Result<C, FieldError>,
) -> Result<(A, B, C), ApiError> {
    match (a, b, c) {
        (Ok(a), Ok(b), Ok(c)) => Ok((a, b, c)),
        (a, b, c) => Err(ApiError::invalid(
            [a.err(), b.err(), c.err()].into_iter().flatten(),
        )),
    }
}
