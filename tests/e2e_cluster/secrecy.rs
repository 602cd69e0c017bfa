//! What an attacker with a backup learns: on a Raft server holding live
//! entries (one with a replay record, one redeemed), every storage key of
//! the mount (`sys/raw`) and the whole Raft snapshot file (`bao operator
//! raft snapshot save`, as saved and unpacked) hold no live uuid in any
//! form: canonical, upper-case, hex without hyphens, or the base32 secret
//! of its `otpauth_url`. Storage keys are in clear there (the barrier
//! encrypts values only), which the test checks too, so that the search
//! cannot pass by finding nothing at all.

use std::path::Path;
use std::process::Command;

use crate::harness::now;
use crate::server::Node;
use crate::{expect, totp};

/// Every form of `id` that must not be found.
fn forms(id: &str) -> [String; 4] {
    [
        id.to_owned(),
        id.to_uppercase(),
        id.replace('-', ""),
        expect::base32(id.as_bytes()),
    ]
}

/// Where in `bytes` (named `what`) any form of any of `ids` occurs.
fn occurrences(what: &str, bytes: &[u8], ids: &[String]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    ids.iter()
        .flat_map(|id| forms(id).map(|form| (id.clone(), form)))
        .filter(|(_, form)| text.contains(form.as_str()))
        .map(|(id, form)| format!("{what}: {id} as {form}"))
        .collect()
}

/// The files below `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("reading a dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn no_storage_key_and_no_raft_snapshot_byte_holds_a_uuid() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let _turn = crate::exclusive();
    let mut node = Node::new("secrecy");
    node.start_single();
    node.register_plugin();
    node.enable("ratls");

    let expiration = now() + 3600;
    let entries: Vec<serde_json::Value> = ["keep", "keep", "ns/verified", "spent"]
        .iter()
        .map(|policy| {
            let before = now();
            let resp = node.create("ratls", policy, expiration);
            expect::created(&resp, policy, expiration, before, None)
        })
        .collect();
    let ids: Vec<String> = entries
        .iter()
        .map(|d| d["uuid"].as_str().expect("uuid").to_owned())
        .collect();
    let code = totp::code(&ids[2], totp::step_now());
    assert_eq!(node.verify("ratls", "ns/verified", &code), Ok(true));
    assert_eq!(node.redeem("ratls", &ids[3], "spent"), Ok(true));
    let live = &ids[..3];

    // Every key of the mount, through sys/raw.
    let stored = node.snapshot("ratls");
    let key_text: String = stored.keys().map(|k| format!("{k}\n")).collect();
    let mut leaks = occurrences("sys/raw keys", key_text.as_bytes(), &ids);
    assert!(
        stored.keys().any(|k| k.starts_with("last-step/")),
        "the verified entry's replay record is stored: {stored:?}"
    );

    // The Raft snapshot, as saved and unpacked.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("raft.snap");
    node.cli_ok(&[
        "operator",
        "raft",
        "snapshot",
        "save",
        &file.display().to_string(),
    ]);
    let saved = std::fs::read(&file).expect("reading the snapshot");
    leaks.extend(occurrences("snapshot file", &saved, &ids));
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).expect("creating a dir");
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&file)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .expect("running tar");
    assert!(status.success(), "tar -xzf of the snapshot");
    let mut unpacked_bytes = 0;
    let mut keys_seen = 0;
    for path in files(&unpacked) {
        let bytes = std::fs::read(&path).expect("reading an unpacked file");
        unpacked_bytes += bytes.len();
        let text = String::from_utf8_lossy(&bytes);
        // The mount's keys are in clear in the state: our search sees them.
        keys_seen += stored.keys().filter(|k| text.contains(k.as_str())).count();
        leaks.extend(occurrences(&path.display().to_string(), &bytes, &ids));
    }
    assert!(
        keys_seen >= stored.len(),
        "the snapshot's state shows storage keys in clear ({keys_seen} of {} found): the \
         search would see a uuid in a key",
        stored.len()
    );
    assert!(leaks.is_empty(), "live uuids found:\n{}", leaks.join("\n"));
    eprintln!(
        "secrecy: {} live uuids (and a redeemed one) in 4 forms each: 0 occurrences in {} storage keys, \
         the {}-byte snapshot file and its {unpacked_bytes} unpacked bytes (where all {} keys appear in clear)",
        live.len(),
        stored.len(),
        saved.len(),
        stored.len()
    );
}
