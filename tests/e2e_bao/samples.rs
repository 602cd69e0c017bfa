//! The source document's request samples (cURL, Python `requests`, JavaScript
//! `fetch` in Node), kept under `samples/` with only the address and token
//! filled in, run against the server: first verbatim (documented 400s), then
//! with a future expiration and a real uuid substituted (200s).

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::expect::{self, CREATED_IGNORED, UUID_IGNORED};
use crate::harness::{Bao, now, python_bin};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e_bao/samples");

#[derive(Debug, Clone, Copy)]
enum Client {
    Curl,
    Python,
    Node,
}

impl Client {
    const ALL: [Self; 3] = [Self::Curl, Self::Python, Self::Node];

    fn extension(self) -> &'static str {
        match self {
            Self::Curl => "sh",
            Self::Python => "py",
            Self::Node => "mjs",
        }
    }

    fn command(self, script: &Path) -> Command {
        let mut command = match self {
            Self::Curl => Command::new("bash"),
            Self::Python => Command::new(python_bin()),
            Self::Node => Command::new("node"),
        };
        command.arg(script);
        command
    }
}

/// Replaces `from` (which must occur exactly once) with `to`.
fn substitute(text: &str, from: &str, to: &str, file: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "{file}: {from:?} must occur once"
    );
    text.replacen(from, to, 1)
}

/// Fills in `samples/<name>.<ext>` (address, token and `extra`
/// substitutions), runs it, and parses what it prints: the body as JSON, then
/// a `status: NNN` line.
fn run(bao: &Bao, client: Client, name: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let file = format!("{name}.{}", client.extension());
    let mut text = std::fs::read_to_string(Path::new(SAMPLES).join(&file))
        .unwrap_or_else(|e| panic!("reading sample {file}: {e}"));
    text = substitute(&text, "<address>", &bao.addr, &file);
    text = substitute(&text, "<token>", &bao.root_token, &file);
    for (from, to) in extra {
        text = substitute(&text, from, to, &file);
    }
    let dir = bao.dir().join("samples");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join(&file);
    std::fs::write(&script, text).unwrap();

    let mut command = client.command(&script);
    command
        .env("HOME", bao.dir().join("home"))
        .stdin(Stdio::null());
    for name in [
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        command.env_remove(name);
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("running the {client:?} sample {file}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{client:?} sample {file} failed: {output:?}\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (body, status) = stdout
        .trim_end()
        .rsplit_once("\nstatus: ")
        .unwrap_or_else(|| panic!("{file}: no status line in {stdout:?}"));
    let status: u16 = status
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{file}: status {status:?}: {e}"));
    let body: Value = serde_json::from_str(body.trim())
        .unwrap_or_else(|e| panic!("{file}: body {body:?} is not JSON: {e}"));
    (status, body)
}

/// The create sample's expiration, as each client spells it.
fn expiration_literal(client: Client) -> &'static str {
    match client {
        Client::Curl | Client::Python => "\"expiration\":0",
        Client::Node => "\"expiration\": 0",
    }
}

#[test]
fn source_document_samples_run_in_curl_python_and_node() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls"]);
    let empty = bao.snapshot("ratls");
    assert!(bao.entry_snapshot("ratls").is_empty());

    // Verbatim: the create body has expiration 0, the delete path the literal
    // `{totp-uuid}`; both answer the documented 400 and write nothing.
    for client in Client::ALL {
        let (status, body) = run(&bao, client, "create", &[]);
        assert_eq!(
            (status, &body),
            (400, &expect::expired_body()),
            "{client:?} create"
        );
        let (status, body) = run(&bao, client, "delete", &[]);
        assert_eq!(
            (status, &body),
            (400, &expect::bad_uuid_body()),
            "{client:?} delete"
        );
        assert_eq!(bao.snapshot("ratls"), empty, "{client:?}: storage changed");
    }

    // With a future expiration: 200 with the documented fields, the caller's
    // created/uuid ignored and warned about. Then the real uuid in the delete
    // sample: 200 and the entry is gone.
    let expiration = now() + 900;
    for client in Client::ALL {
        let literal = expiration_literal(client);
        let future = literal.replace('0', &expiration.to_string());
        let before = now();
        let (status, body) = run(&bao, client, "create", &[(literal, &future)]);
        let after = now();
        assert_eq!(status, 200, "{client:?} create: {body}");
        expect::envelope(&body, "sample create");
        let id = expect::entry_data(&body["data"], "text", expiration, before, after);
        assert_ne!(id, "text");
        assert_eq!(
            body["warnings"],
            json!([CREATED_IGNORED, UUID_IGNORED]),
            "{client:?}"
        );
        expect::stored(&bao, "ratls", &body["data"]);

        let (status, body) = run(&bao, client, "delete", &[("{totp-uuid}", &id)]);
        assert_eq!(status, 200, "{client:?} delete: {body}");
        expect::envelope(&body, "sample delete");
        assert_eq!(body["data"], json!({"deleted": true}), "{client:?} delete");
        assert_eq!(
            bao.stored_entry("ratls", &id),
            None,
            "{client:?}: still stored"
        );
        // Deleting again is fine too.
        let (status, _) = run(&bao, client, "delete", &[("{totp-uuid}", &id)]);
        assert_eq!(status, 200, "{client:?} delete again");
    }
    assert_eq!(bao.snapshot("ratls"), empty);
}
