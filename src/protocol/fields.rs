//! Typed reads of request fields, with the coercions Vault's framework makes:
//! `vault write k=v` sends every value as a string, so integer fields also
//! accept decimal strings. Each problem is a short phrase for an error body.

use serde_json::Value;

/// What is wrong with one field, phrased to follow its name.
pub type TypeMismatch = &'static str;

/// A JSON integer, or a string of decimal digits with an optional leading
/// `-`, within `i64`. Fractions, exponents, blanks and `+` are refused.
pub fn int64(value: &Value) -> Result<i64, TypeMismatch> {
    match value {
        // serde_json keeps integers exact and turns fractions, exponents and
        // integers beyond u64 into floats.
        Value::Number(number) if number.is_f64() => Err("must be an integer"),
        Value::Number(number) => number.as_i64().ok_or("is out of range"),
        Value::String(text) => {
            let digits = text.strip_prefix('-').unwrap_or(text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err("must be an integer");
            }
            // Only digits are left, so parsing fails only on overflow.
            text.parse().map_err(|_| "is out of range")
        }
        _ => Err("must be an integer"),
    }
}

/// A JSON string.
pub fn string(value: &Value) -> Result<&str, TypeMismatch> {
    value.as_str().ok_or("must be a string")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn int64_table() {
        let cases: &[(Value, Result<i64, TypeMismatch>)] = &[
            (json!(0), Ok(0)),
            (json!(1_700_000_000), Ok(1_700_000_000)),
            (json!(-5), Ok(-5)),
            (json!(i64::MAX), Ok(i64::MAX)),
            (json!(i64::MIN), Ok(i64::MIN)),
            (json!("1700000000"), Ok(1_700_000_000)),
            (json!("-1"), Ok(-1)),
            (json!("0042"), Ok(42)),
            (json!("0000000000000000000001"), Ok(1)),
            (json!("9223372036854775807"), Ok(i64::MAX)),
            (json!("-9223372036854775808"), Ok(i64::MIN)),
            (json!("9223372036854775808"), Err("is out of range")),
            (
                json!("123456789012345678901234567890"),
                Err("is out of range"),
            ),
            (json!(u64::MAX), Err("is out of range")),
            (json!(1.5), Err("must be an integer")),
            (json!(1e300), Err("must be an integer")),
            (json!(1.0), Err("must be an integer")),
            (json!("1.5"), Err("must be an integer")),
            (json!("1e9"), Err("must be an integer")),
            (json!("+5"), Err("must be an integer")),
            (json!(" 5"), Err("must be an integer")),
            (json!(""), Err("must be an integer")),
            (json!("-"), Err("must be an integer")),
            (json!("NaN"), Err("must be an integer")),
            (json!("٣"), Err("must be an integer")),
            (json!(true), Err("must be an integer")),
            (json!(null), Err("must be an integer")),
            (json!([1]), Err("must be an integer")),
            (json!({"a": 1}), Err("must be an integer")),
        ];
        for (value, expected) in cases {
            assert_eq!(int64(value), *expected, "{value}");
        }
    }

    #[test]
    fn string_table() {
        assert_eq!(string(&json!("p")), Ok("p"));
        assert_eq!(string(&json!("")), Ok(""));
        for value in [
            json!(1),
            json!(null),
            json!(true),
            json!(["p"]),
            json!({"p": 1}),
        ] {
            assert_eq!(string(&value), Err("must be a string"), "{value}");
        }
    }
}
