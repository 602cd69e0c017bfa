//! Answers to `help` requests: Markdown for `path-help`, and the OpenAPI
//! document the host merges into `sys/internal/specs/openapi` (shape of the
//! Go SDK's `framework/openapi.go`).

use serde_json::{Map, Value, json};

use super::{BackendInfo, Error, FieldSpec, Operation, PathSpec, Response, Router};

const OPENAPI_VERSION: &str = "3.0.2";

/// Help for `path`, or for the whole backend when `path` is empty (the host
/// asks that for OpenAPI and needs a response, never an error, there).
pub fn respond<B>(
    info: &BackendInfo<B>,
    router: &Router<B>,
    path: &str,
) -> Result<Response, Error> {
    let (help, specs): (String, Vec<&PathSpec<B>>) = if path.is_empty() {
        (root_help(info), info.paths.iter().collect())
    } else {
        let (spec, _) = router.route(path).ok_or(Error::UnsupportedPath)?;
        (path_help(path, spec), vec![spec])
    };
    let mut data = Map::new();
    data.insert("help".into(), Value::from(help));
    data.insert("see_also".into(), Value::Null);
    data.insert("openapi".into(), openapi(info, &specs));
    Ok(Response::with_data(data))
}

fn root_help<B>(info: &BackendInfo<B>) -> String {
    let mut text = format!(
        "## DESCRIPTION\n\n{}\n\n## PATHS\n\nThe following paths are supported by this backend. To view help for\nany of the paths below, use the help command with any route matching\nthe path pattern.\n",
        info.help.trim()
    );
    for spec in info.paths {
        text.push_str(&format!(
            "\n    {}\n        {}\n",
            spec.display, spec.synopsis
        ));
    }
    text
}

fn path_help<B>(path: &str, spec: &PathSpec<B>) -> String {
    let mut text = format!(
        "Request:        {path}\nMatching Route: ^{}$\n\n{}\n",
        spec.pattern, spec.synopsis
    );
    if !spec.fields.is_empty() {
        text.push_str("\n## PARAMETERS\n");
        for field in spec.fields {
            text.push_str(&format!(
                "\n    {} ({})\n        {}\n",
                field.name,
                field.kind.help_name(),
                field.description
            ));
        }
    }
    text.push_str(&format!(
        "\n## DESCRIPTION\n\n{}\n",
        spec.description.trim()
    ));
    text
}

fn openapi<B>(info: &BackendInfo<B>, specs: &[&PathSpec<B>]) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for spec in specs {
        paths.insert(
            format!("/{}", spec.display),
            path_item(spec, info.backend_type.openapi_tag(), &mut schemas),
        );
    }
    let mut about = json!({
        "title": info.title,
        "description": info.help.trim(),
        "version": info.version,
    });
    if let Some(license) = info.license {
        about["license"] = json!({"name": license.name, "url": license.url});
    }
    json!({
        "openapi": OPENAPI_VERSION,
        "info": about,
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

fn path_item<B>(spec: &PathSpec<B>, tag: &str, schemas: &mut Map<String, Value>) -> Value {
    let mut item = Map::new();
    item.insert("description".into(), Value::from(spec.synopsis));
    let parameters: Vec<Value> = spec
        .fields
        .iter()
        .filter(|f| f.in_path)
        .map(|f| json!({"name": f.name, "description": f.description, "in": "path", "required": true, "schema": schema(f)}))
        .collect();
    if !parameters.is_empty() {
        item.insert("parameters".into(), Value::from(parameters));
    }
    for operation in spec.operations {
        let method = match operation.operation {
            Operation::Create | Operation::Update => "post",
            Operation::Read | Operation::List => "get",
            Operation::Delete => "delete",
            Operation::Patch => "patch",
            _ => continue,
        };
        if item.contains_key(method) {
            continue;
        }
        let mut op = json!({
            "summary": operation.summary,
            "operationId": operation.id,
            "tags": [tag],
            "responses": {"200": {"description": "OK"}},
        });
        if operation.operation == Operation::List {
            // Vault lists are GETs with `?list=true`; other fields are query parameters.
            let mut query = vec![
                json!({"name": "list", "description": "Must be set to `true`", "in": "query", "required": true, "schema": {"type": "string", "enum": ["true"]}}),
            ];
            query.extend(spec.fields.iter().filter(|f| !f.in_path).map(|f| {
                json!({"name": f.name, "description": f.description, "in": "query", "required": false, "schema": schema(f)})
            }));
            op["parameters"] = Value::from(query);
        }
        if method == "post" && spec.fields.iter().any(|f| !f.in_path) {
            // Inline rather than a `$ref`: OpenBao drops `$ref` when it merges a
            // plugin's document into `sys/internal/specs/openapi`. The named
            // component is kept for clients of the plugin's own document.
            let body = body_schema(spec.fields);
            schemas.insert(schema_name(operation.id), body.clone());
            op["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": body}},
            });
        }
        item.insert(method.into(), op);
    }
    Value::Object(item)
}

fn schema(field: &FieldSpec) -> Value {
    let (kind, format) = field.kind.openapi();
    let mut schema = json!({"type": kind, "description": field.description});
    if let Some(format) = format {
        schema["format"] = Value::from(format);
    }
    schema
}

fn body_schema(fields: &[FieldSpec]) -> Value {
    let body: Vec<&FieldSpec> = fields.iter().filter(|f| !f.in_path).collect();
    let properties: Map<String, Value> = body
        .iter()
        .map(|f| (f.name.to_owned(), schema(f)))
        .collect();
    let required: Vec<&str> = body.iter().filter(|f| f.required).map(|f| f.name).collect();
    json!({"type": "object", "properties": properties, "required": required})
}

/// `ratls-create-totp` → `RatlsCreateTotpRequest`.
fn schema_name(operation_id: &str) -> String {
    let mut name: String = operation_id
        .split(['-', '_'])
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    name.push_str("Request");
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_pascal_case() {
        assert_eq!(schema_name("ratls-create-totp"), "RatlsCreateTotpRequest");
    }
}
