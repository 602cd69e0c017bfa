//! A backend described as data, after the Go SDK's `framework` package: each
//! path is a pattern with its operations, fields and help. The host can ask
//! about all of it (help, OpenAPI, existence checks) without running a handler.

use std::collections::HashMap;

use regex::Regex;
use serde_json::{Map, Value};

use super::Operation;

/// `logical.BackendType`, as `pb.TypeReply` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendType {
    /// A secrets engine.
    Logical = 1,
    /// An auth method.
    Credential = 2,
}

/// The kind of a field's value, for OpenAPI and help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Int64,
}

impl FieldType {
    /// `(type, format)` in OpenAPI terms.
    pub fn openapi(self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::String => ("string", None),
            Self::Int64 => ("integer", Some("int64")),
        }
    }

    /// The name shown in help text (Vault's framework names).
    pub fn help_name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Int64 => "int",
        }
    }
}

/// One field a path accepts, in its body or its URL.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub kind: FieldType,
    pub description: &'static str,
    /// The caller must give it.
    pub required: bool,
    /// Part of the path (a named capture of the pattern), not of the body.
    pub in_path: bool,
}

/// One operation a path serves.
#[derive(Debug, Clone, Copy)]
pub struct OperationSpec {
    pub operation: Operation,
    /// OpenAPI `operationId`.
    pub id: &'static str,
    pub summary: &'static str,
}

/// One path of a backend.
#[derive(Debug)]
pub struct PathSpec<E: 'static> {
    /// A regex matched against the whole mount-relative path; named captures
    /// become [`super::Request::captures`].
    pub pattern: &'static str,
    /// The path in OpenAPI's templated form, e.g. `totp/{uuid}`.
    pub display: &'static str,
    /// Which handler family serves it.
    pub endpoint: E,
    pub operations: &'static [OperationSpec],
    pub fields: &'static [FieldSpec],
    /// Whether the backend answers existence checks here, which lets the host
    /// tell `create` (ACL capability `create`) from `update`.
    pub existence_check: bool,
    /// One line.
    pub synopsis: &'static str,
    /// Paragraphs of Markdown.
    pub description: &'static str,
}

impl<E> PathSpec<E> {
    /// The spec of `operation` here, if this path serves it.
    pub fn operation(&self, operation: Operation) -> Option<&OperationSpec> {
        self.operations.iter().find(|o| o.operation == operation)
    }

    /// Body keys the path does not declare, sorted, as Vault's framework warns of.
    pub fn unknown_fields(&self, data: &Map<String, Value>) -> Vec<String> {
        let mut unknown: Vec<String> = data
            .keys()
            .filter(|key| {
                !self
                    .fields
                    .iter()
                    .any(|f| f.name == key.as_str() && !f.in_path)
            })
            .cloned()
            .collect();
        unknown.sort();
        unknown
    }
}

/// Paths with special handling by the host (`logical.Paths`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SpecialPaths {
    pub unauthenticated: &'static [&'static str],
    pub local_storage: &'static [&'static str],
    pub seal_wrap_storage: &'static [&'static str],
}

/// Everything static about a backend.
#[derive(Debug)]
pub struct BackendInfo<E: 'static> {
    pub backend_type: BackendType,
    /// Shown in help and OpenAPI `info.title`.
    pub title: &'static str,
    /// Markdown shown as the mount's help.
    pub help: &'static str,
    pub paths: &'static [PathSpec<E>],
    pub special_paths: SpecialPaths,
}

/// The compiled path table; the first pattern that matches wins.
#[derive(Debug)]
pub struct Router<E: 'static> {
    routes: Vec<(Regex, &'static PathSpec<E>)>,
}

impl<E> Router<E> {
    /// Compiles every pattern, anchored at both ends.
    pub fn new(paths: &'static [PathSpec<E>]) -> Result<Self, regex::Error> {
        let routes = paths
            .iter()
            // `s`: `.` also matches a newline, so no character escapes a capture.
            .map(|spec| Ok((Regex::new(&format!("^(?s:{})$", spec.pattern))?, spec)))
            .collect::<Result<_, regex::Error>>()?;
        Ok(Self { routes })
    }

    /// The first path matching `path`, with its named captures.
    pub fn route(
        &self,
        path: &str,
    ) -> Option<(&'static PathSpec<E>, HashMap<&'static str, String>)> {
        self.routes.iter().find_map(|(regex, spec)| {
            let found = regex.captures(path)?;
            let captures = regex
                .capture_names()
                .flatten()
                .filter_map(|name| {
                    let value = found.name(name)?.as_str().to_owned();
                    // Capture names borrow from the pattern, which is 'static.
                    let name = spec.fields.iter().find(|f| f.name == name)?.name;
                    Some((name, value))
                })
                .collect();
            Some((*spec, captures))
        })
    }

    /// Every path, in table order.
    pub fn paths(&self) -> impl Iterator<Item = &'static PathSpec<E>> + '_ {
        self.routes.iter().map(|(_, spec)| *spec)
    }
}
