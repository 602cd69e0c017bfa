//! A backend described as data, after the Go SDK's `framework` package: each
//! path is a pattern with its operations (each bound to its handler), fields
//! and help. The host can ask about all of it (help, OpenAPI, existence
//! checks), and [`super::server::dispatch`] finds the handler, from the table
//! alone.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use regex_lite::Regex;
use serde_json::{Map, Value};

use super::{Error, Operation, Request, Response};

/// `logical.BackendType`, as `pb.TypeReply` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendType {
    /// A secrets engine.
    Logical = 1,
    /// An auth method.
    Credential = 2,
}

impl BackendType {
    /// The OpenAPI tag Vault's framework gives the backend's operations.
    pub fn openapi_tag(self) -> &'static str {
        match self {
            Self::Logical => "secrets",
            Self::Credential => "auth",
        }
    }
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

/// A boxed future borrowing the backend and the request.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Serves one operation of one path. An `Err` is a protocol error for the
/// host (404, 405, 500, or a message the host must act on); answers in the
/// backend's own error shape are responses.
pub type Handler<B> = for<'a> fn(&'a B, &'a Request) -> BoxFuture<'a, Result<Response, Error>>;

/// Answers the host's existence check: whether the object at the path
/// exists, which decides between the `create` and `update` operations. It
/// sees the path, its captures and the request id, never the body.
pub type ExistenceCheck<B> = for<'a> fn(&'a B, &'a Request) -> BoxFuture<'a, Result<bool, Error>>;

/// One operation a path serves, with its handler.
#[derive(Debug)]
pub struct OperationSpec<B: 'static> {
    pub operation: Operation,
    /// OpenAPI `operationId`.
    pub id: &'static str,
    pub summary: &'static str,
    pub handler: Handler<B>,
}

/// One path of a backend.
#[derive(Debug)]
pub struct PathSpec<B: 'static> {
    /// A regex matched against the whole mount-relative path; named captures
    /// become [`super::Request::captures`].
    pub pattern: &'static str,
    /// The path in OpenAPI's templated form, e.g. `totp/{uuid}`. Its literal
    /// characters rank the path against others matching the same request.
    pub display: &'static str,
    pub operations: &'static [OperationSpec<B>],
    pub fields: &'static [FieldSpec],
    /// Where the backend answers existence checks, which lets the host tell
    /// `create` (ACL capability `create`) from `update`.
    pub existence_check: Option<ExistenceCheck<B>>,
    /// One line.
    pub synopsis: &'static str,
    /// Paragraphs of Markdown.
    pub description: &'static str,
}

impl<B> PathSpec<B> {
    /// The spec of `operation` here, if this path serves it.
    pub fn operation(&self, operation: Operation) -> Option<&OperationSpec<B>> {
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

    /// How many characters of the path are fixed rather than captured: the
    /// more, the more specific (`totp/redeem` over `totp/{uuid}`).
    pub fn specificity(&self) -> usize {
        let mut depth = 0usize;
        self.display
            .chars()
            .filter(|c| {
                match c {
                    '{' => depth += 1,
                    '}' => depth = depth.saturating_sub(1),
                    _ => return depth == 0,
                }
                false
            })
            .count()
    }
}

/// Paths with special handling by the host (`logical.Paths`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SpecialPaths {
    pub unauthenticated: &'static [&'static str],
    pub local_storage: &'static [&'static str],
    pub seal_wrap_storage: &'static [&'static str],
}

/// A licence named in the OpenAPI document.
#[derive(Debug, Clone, Copy)]
pub struct License {
    pub name: &'static str,
    pub url: &'static str,
}

/// Everything static about a backend.
#[derive(Debug)]
pub struct BackendInfo<B: 'static> {
    pub backend_type: BackendType,
    /// Reported to the host (`logical.PluginVersion`) and in OpenAPI, e.g. `v0.2.0`.
    pub version: &'static str,
    /// Shown in help and OpenAPI `info.title`.
    pub title: &'static str,
    /// Markdown shown as the mount's help.
    pub help: &'static str,
    pub license: Option<License>,
    /// In any order: the most specific matching path serves a request.
    pub paths: &'static [PathSpec<B>],
    pub special_paths: SpecialPaths,
}

/// The compiled path table. A request goes to the matching path with the
/// most fixed characters, so a literal segment (`totp/redeem`) is never
/// taken for a capture (`totp/{uuid}`), whatever the table's order.
#[derive(Debug)]
pub struct Router<B: 'static> {
    /// Most specific first; among equals, table order.
    routes: Vec<(Regex, &'static PathSpec<B>)>,
}

impl<B> Router<B> {
    /// Compiles every pattern, anchored at both ends.
    pub fn new(paths: &'static [PathSpec<B>]) -> Result<Self, regex_lite::Error> {
        Self::from_specs(paths)
    }

    /// [`Router::new`] over paths in any order.
    pub fn from_specs(
        paths: impl IntoIterator<Item = &'static PathSpec<B>>,
    ) -> Result<Self, regex_lite::Error> {
        let mut routes = paths
            .into_iter()
            // `s`: `.` also matches a newline, so no character escapes a capture.
            .map(|spec| Ok((Regex::new(&format!("^(?s:{})$", spec.pattern))?, spec)))
            .collect::<Result<Vec<_>, regex_lite::Error>>()?;
        routes.sort_by_key(|(_, spec)| std::cmp::Reverse(spec.specificity()));
        Ok(Self { routes })
    }

    /// The most specific path matching `path`, with its named captures.
    pub fn route(
        &self,
        path: &str,
    ) -> Option<(&'static PathSpec<B>, HashMap<&'static str, String>)> {
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

    /// Every path, most specific first.
    pub fn paths(&self) -> impl Iterator<Item = &'static PathSpec<B>> + '_ {
        self.routes.iter().map(|(_, spec)| *spec)
    }
}
