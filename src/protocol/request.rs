//! A request as the plugin sees it, decoded from `pb.Request`.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::Error;
use crate::pb::backend as pb;

/// Vault's `logical.Operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Read,
    Update,
    Patch,
    Delete,
    List,
    Help,
    Rollback,
    /// OpenBao 2.7+: asks for the canonical form of the path.
    ResolvePath,
    /// Anything else (renew, revoke, resolve-role, alias-lookahead, …).
    Other,
}

impl Operation {
    /// Parses `sdk/logical/request.go`'s operation strings.
    pub fn parse(name: &str) -> Self {
        match name {
            "create" => Self::Create,
            "read" => Self::Read,
            "update" => Self::Update,
            "patch" => Self::Patch,
            "delete" => Self::Delete,
            "list" => Self::List,
            "help" => Self::Help,
            "rollback" => Self::Rollback,
            "resolve-path" => Self::ResolvePath,
            _ => Self::Other,
        }
    }

    /// The operation's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Read => "read",
            Self::Update => "update",
            Self::Patch => "patch",
            Self::Delete => "delete",
            Self::List => "list",
            Self::Help => "help",
            Self::Rollback => "rollback",
            Self::ResolvePath => "resolve-path",
            Self::Other => "other",
        }
    }
}

/// One request from the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The host's id for the HTTP request: the same in its existence check
    /// and in the request that follows. Empty when the host sends none.
    pub id: String,
    pub operation: Operation,
    /// Relative to the mount, e.g. `totp/1b4e…`.
    pub path: String,
    /// The JSON body or CLI `k=v` pairs (values then arrive as strings).
    pub data: Map<String, Value>,
    /// Named captures of the matched path pattern, filled in by the router.
    pub captures: HashMap<&'static str, String>,
}

impl Request {
    /// A request with no body, as tests and help build it.
    pub fn new(operation: Operation, path: impl Into<String>) -> Self {
        Self {
            id: String::new(),
            operation,
            path: path.into(),
            data: Map::new(),
            captures: HashMap::new(),
        }
    }

    /// Sets the host's request id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Adds a body.
    pub fn with_data(mut self, data: Map<String, Value>) -> Self {
        self.data = data;
        self
    }

    /// Decodes the wire form. `data` is JSON object text, or `null`/empty
    /// when there is no body; anything else is a broken host.
    pub fn from_proto(request: pb::Request) -> Result<Self, Error> {
        let data = match request.data.trim() {
            "" | "null" => Map::new(),
            text => match serde_json::from_str(text) {
                Ok(Value::Object(map)) => map,
                Ok(Value::Null) => Map::new(),
                _ => return Err(Error::InvalidRequest),
            },
        };
        Ok(Self {
            id: request.id,
            operation: Operation::parse(&request.operation),
            path: request.path,
            data,
            captures: HashMap::new(),
        })
    }

    /// A named capture of the matched path, if the pattern has it and it matched.
    pub fn capture(&self, name: &str) -> Option<&str> {
        self.captures.get(name).map(String::as_str)
    }

    /// A named capture as a JSON string, to read with the same field readers
    /// as the body.
    pub fn capture_value(&self, name: &str) -> Option<Value> {
        self.capture(name).map(Value::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(operation: &str, data: &str) -> pb::Request {
        pb::Request {
            operation: operation.into(),
            path: "totp".into(),
            data: data.into(),
            mount_point: "auth/ratls/".into(),
            ..Default::default()
        }
    }

    #[test]
    fn decodes_bodies() {
        for empty in ["", "null", " null "] {
            let request = Request::from_proto(proto("update", empty)).unwrap();
            assert!(request.data.is_empty());
        }
        let request =
            Request::from_proto(proto("create", r#"{"policy":"p","expiration":"5"}"#)).unwrap();
        assert_eq!(request.operation, Operation::Create);
        assert_eq!(request.data["policy"], "p");
        for broken in ["[1]", "\"x\"", "{", "3"] {
            assert_eq!(
                Request::from_proto(proto("update", broken)),
                Err(Error::InvalidRequest)
            );
        }
    }

    #[test]
    fn operations_round_trip() {
        for name in [
            "create",
            "read",
            "update",
            "patch",
            "delete",
            "list",
            "help",
            "rollback",
            "resolve-path",
        ] {
            assert_eq!(Operation::parse(name).as_str(), name);
        }
        assert_eq!(Operation::parse("renew"), Operation::Other);
    }
}
