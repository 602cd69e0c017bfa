//! A response as the plugin builds it, encoded into `pb.Response`.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::pb::backend as pb;

/// Keys of `sdk/logical/response.go` that switch the host to a raw HTTP
/// response: status, content type and body as we set them.
const HTTP_STATUS_CODE: &str = "http_status_code";
const HTTP_CONTENT_TYPE: &str = "http_content_type";
const HTTP_RAW_BODY: &str = "http_raw_body";

/// The body of a successful response, or a raw HTTP response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    /// Becomes `data` in Vault's JSON envelope.
    pub data: Map<String, Value>,
    /// Becomes `warnings` in Vault's JSON envelope.
    pub warnings: Vec<String>,
}

impl Response {
    /// A response with `data`.
    pub fn with_data(data: Map<String, Value>) -> Self {
        Self {
            data,
            warnings: Vec::new(),
        }
    }

    /// A list answer: `keys` with `key_info` about each. Vault's
    /// convention: an empty list has no `keys`, and the host answers 404.
    pub fn list(keys: Vec<Value>, key_info: Map<String, Value>) -> Self {
        let mut data = Map::new();
        if !keys.is_empty() {
            data.insert("keys".into(), Value::from(keys));
            data.insert("key_info".into(), Value::Object(key_info));
        }
        Self::with_data(data)
    }

    /// A response the host sends verbatim with `status` and a JSON `body`,
    /// bypassing Vault's envelope. The body is base64-encoded, which the host
    /// decodes first, so no JSON text can be mistaken for base64.
    pub fn raw_json(status: u16, body: &Value) -> Self {
        let body = base64::engine::general_purpose::STANDARD.encode(body.to_string());
        let mut data = Map::new();
        data.insert(HTTP_STATUS_CODE.into(), Value::from(status));
        data.insert(HTTP_CONTENT_TYPE.into(), Value::from("application/json"));
        data.insert(HTTP_RAW_BODY.into(), Value::from(body));
        Self::with_data(data)
    }

    /// The HTTP status of a raw response; `None` for an ordinary one.
    pub fn raw_status(&self) -> Option<u16> {
        self.data
            .get(HTTP_STATUS_CODE)?
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
    }

    /// The decoded body of a raw response.
    pub fn raw_body(&self) -> Option<Value> {
        let encoded = self.data.get(HTTP_RAW_BODY)?.as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Appends a warning.
    pub fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    /// The wire form. `data` is always JSON object text: the host fails on "".
    pub fn into_proto(self) -> pb::Response {
        pb::Response {
            data: Value::Object(self.data).to_string(),
            warnings: self.warnings,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn raw_json_round_trips() {
        let body = json!({"statusCode": 400, "message": "Invalid request"});
        let response = Response::raw_json(400, &body);
        assert_eq!(response.raw_status(), Some(400));
        assert_eq!(response.raw_body(), Some(body));
        let proto = response.into_proto();
        let data: Value = serde_json::from_str(&proto.data).unwrap();
        assert_eq!(data["http_status_code"], 400);
        assert_eq!(data["http_content_type"], "application/json");
    }

    #[test]
    fn empty_data_is_an_object() {
        assert_eq!(Response::default().into_proto().data, "{}");
        assert_eq!(Response::default().raw_status(), None);
    }
}
