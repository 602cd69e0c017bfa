//! Upgrading a mount from v0.1.0 (built from git history, `make prev-release`)
//! to this version with exactly the README's commands, on a persistent
//! Raft server: one file per version in the plugin directory, both
//! registered by sha256 with `-version` and `-command`, `auth tune
//! -plugin-version`, `plugin reload`, `auth list -detailed`. Under v0.1.0 a
//! small mount gets entries, a redeemed grant and an accepted code; a bulk
//! mount gets 2,000 entries. After the upgrade (the plugin SIGKILLed while
//! the bulk mount migrates) every entry is found by lookup and by accessor,
//! lists are complete, the spent grant stays spent, the accepted code stays
//! refused, and no storage key holds a uuid. Then a rollback to v0.1.0 with
//! the same commands: v2 data grants nothing there.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{Client, wait_for};
use crate::harness::{PLUGIN, PLUGIN_VERSION, now, plugin_bin};
use crate::server::{Node, sha256};
use crate::totp;

/// Set by `make test` to the v0.1.0 binary built from git history.
const PREV_VAR: &str = "RATLS_PREV_PLUGIN_BIN";
const PREV_VERSION: &str = "v0.1.0";
/// Entries of the bulk mount, migrated while the plugin is killed
/// (`RATLS_UPGRADE_ENTRIES` overrides it, to measure larger migrations).
fn bulk_entries() -> usize {
    std::env::var("RATLS_UPGRADE_ENTRIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(120);

/// The previous release's binary, or `None` (with one line saying why)
/// when it was not built and the run does not require it.
fn prev_bin() -> Option<PathBuf> {
    match std::env::var_os(PREV_VAR) {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "{PREV_VAR}={} is missing: run `make prev-release`",
                path.display()
            );
            Some(path)
        }
        None if std::env::var_os("RATLS_REQUIRE_BAO").is_some() => {
            panic!("{PREV_VAR} is not set: `make test` builds v0.1.0 from git history")
        }
        None => {
            eprintln!(
                "skipped: no v0.1.0 binary; run `make prev-release` and set {PREV_VAR} (make test does both)"
            );
            None
        }
    }
}

/// `bao plugin register -sha256=… -version=… -command=<file> auth <plugin>`.
fn register(node: &Node, file: &str, version: &str) -> String {
    let sha = sha256(&node.plugin_dir().join(file));
    let out = node.cli_ok(&[
        "plugin",
        "register",
        &format!("-sha256={sha}"),
        &format!("-version={version}"),
        &format!("-command={file}"),
        "auth",
        PLUGIN,
    ]);
    assert!(
        out.contains(&format!("Success! Registered plugin: {PLUGIN}")),
        "{out}"
    );
    sha
}

/// `bao auth tune -plugin-version=<version> <mount>/` for each mount, then
/// `bao plugin reload -plugin=<plugin>`.
fn switch_to(node: &Node, mounts: &[&str], version: &str) {
    for mount in mounts {
        let out = node.cli_ok(&[
            "auth",
            "tune",
            &format!("-plugin-version={version}"),
            &format!("{mount}/"),
        ]);
        assert!(out.contains("Success! Tuned the auth method"), "{out}");
    }
    let out = node.cli_ok(&["plugin", "reload", &format!("-plugin={PLUGIN}")]);
    assert!(out.contains("Success! Reloaded plugin"), "{out}");
}

/// `bao auth list -detailed`: each mount runs `version` from the file with `sha`.
fn running(node: &Node, mounts: &[&str], version: &str, sha: &str) {
    let out = node.cli_ok(&["auth", "list", "-detailed", "-format=json"]);
    let list: Value = serde_json::from_str(&out).expect("auth list JSON");
    for mount in mounts {
        let info = &list[format!("{mount}/")];
        assert_eq!(info["plugin_version"], version, "{mount}: {info}");
        assert_eq!(info["running_plugin_version"], version, "{mount}: {info}");
        assert_eq!(info["running_sha256"], sha, "{mount}: {info}");
    }
}

/// Creates `count` entries on `mount` from 8 clients; returns the answers.
fn create_many(node: &Node, mount: &str, count: usize, expiration: i64) -> Vec<Value> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut all = Vec::new();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (client, next) = (node.fresh(), &next);
                scope.spawn(move || {
                    let mut made = Vec::new();
                    loop {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if n >= count {
                            return made;
                        }
                        let resp = client.create(mount, &format!("bulk-{n}"), expiration);
                        assert_eq!(resp.status, 200, "{resp:?}");
                        made.push(resp.json()["data"].clone());
                    }
                })
            })
            .collect();
        for worker in workers {
            all.extend(worker.join().expect("creator"));
        }
    });
    all
}

/// Polls a lookup of `id` on `mount` until it stops answering 503 (the
/// migration is over); returns how many 503s it saw.
fn wait_migrated(client: &Client, mount: &str, id: &str) -> usize {
    let mut unavailable = 0;
    wait_for(&format!("{mount} to migrate"), MIGRATION_TIMEOUT, || {
        let resp = client.call(
            "POST",
            &format!("auth/{mount}/totp/lookup"),
            Some(&json!({"uuid": id})),
        )?;
        match resp.status {
            503 => {
                assert_eq!(resp.json()["statusCode"], 503, "{resp:?}");
                unavailable += 1;
                Err("503".into())
            }
            // The plugin restarting after a kill: the host's own 5xx.
            500 | 502 => Err(format!("{resp:?}")),
            _ => Ok(()),
        }
    });
    unavailable
}

/// Every v1 entry (its create answer) is there under v2: lookup by uuid,
/// read by accessor (from the list) with the same fields; the list holds
/// exactly these; no storage key holds a uuid in any form. Returns the
/// accessors by uuid.
fn all_migrated(node: &Node, mount: &str, entries: &[&Value]) -> BTreeMap<String, String> {
    let mut accessors = BTreeMap::new();
    for data in entries {
        let id = data["uuid"].as_str().expect("uuid");
        let resp = node.post(&format!("auth/{mount}/totp/lookup"), &json!({"uuid": id}));
        assert_eq!(resp.status, 200, "lookup of {id}: {resp:?}");
        let found = resp.json()["data"].clone();
        for field in ["created", "expiration", "policy"] {
            assert_eq!(found[field], data[field], "{mount}: {field} of {id}");
        }
        assert!(found.get("uuid").is_none(), "{found}");
        let accessor = found["accessor"].as_str().expect("accessor").to_owned();
        accessors.insert(id.to_owned(), accessor);
    }
    let listed = node.get(&format!("auth/{mount}/totp/?list=true"));
    assert_eq!(listed.status, 200, "{listed:?}");
    let keys: BTreeSet<String> = listed.json()["data"]["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k.as_str().expect("key").to_owned())
        .collect();
    assert_eq!(
        keys,
        accessors.values().cloned().collect(),
        "{mount}: the list is complete"
    );
    // Reads by accessor.
    for (id, accessor) in &accessors {
        let resp = node.get(&format!("auth/{mount}/totp/accessor/{accessor}"));
        assert_eq!(resp.status, 200, "{resp:?}");
        assert_eq!(resp.json()["data"]["accessor"], accessor.as_str(), "{id}");
    }
    let stored = node.snapshot(mount);
    assert!(
        !stored
            .keys()
            .any(|k| k.starts_with("totp/") || k.starts_with("policy/") || k.starts_with("used/")),
        "v1 keys left"
    );
    // Every form of every uuid, then every 32- and 36-character window of
    // every key: linear in the keys, so 10,000 entries stay quick.
    let forms: std::collections::HashSet<String> = entries
        .iter()
        .flat_map(|data| {
            let id = data["uuid"].as_str().expect("uuid");
            [id.to_owned(), id.replace('-', ""), id.to_uppercase()]
        })
        .collect();
    for key in stored.keys() {
        for width in [32, 36] {
            for window in key.as_bytes().windows(width) {
                let text = String::from_utf8_lossy(window);
                assert!(
                    !forms.contains(text.as_ref()),
                    "storage key {key} holds a uuid"
                );
            }
        }
    }
    assert_eq!(
        stored.get("meta/layout").map(String::as_str),
        Some(r#"{"version":2}"#)
    );
    accessors
}

#[test]
fn v0_1_0_data_migrates_on_upgrade_and_a_rollback_grants_nothing() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let Some(prev) = prev_bin() else {
        return;
    };
    let _turn = crate::exclusive();
    let mut node = Node::new("upgrade");
    // One file per version in the plugin directory.
    let (old_file, new_file) = (
        format!("{PLUGIN}-{PREV_VERSION}"),
        format!("{PLUGIN}-{PLUGIN_VERSION}"),
    );
    std::fs::copy(&prev, node.plugin_dir().join(&old_file)).expect("copying v0.1.0");
    std::fs::copy(plugin_bin(), node.plugin_dir().join(&new_file)).expect("copying this version");
    node.start_single();
    let old_sha = register(&node, &old_file, PREV_VERSION);
    let new_sha = register(&node, &new_file, PLUGIN_VERSION);
    let mounts = ["ratls", "bulk"];
    for mount in mounts {
        node.cli_ok(&[
            "auth",
            "enable",
            &format!("-path={mount}"),
            &format!("-plugin-version={PREV_VERSION}"),
            PLUGIN,
        ]);
    }
    running(&node, &mounts, PREV_VERSION, &old_sha);

    // ---- under v0.1.0 ----
    let expiration = now() + 3600;
    let small: Vec<Value> = ["keep-a", "keep-b", "ns/app", "spent", "verified"]
        .iter()
        .map(|policy| {
            let resp = node.create("ratls", policy, expiration);
            assert_eq!(resp.status, 200, "{resp:?}");
            resp.json()["data"].clone()
        })
        .collect();
    let id = |data: &Value| data["uuid"].as_str().expect("uuid").to_owned();
    let (spent, verified) = (id(&small[3]), id(&small[4]));
    assert_eq!(node.redeem("ratls", &spent, "spent"), Ok(true));
    // The next step's code: acceptable, but for the replay record, for 60 to 90 s.
    let accepted_step = totp::step_now() + 1;
    let code = totp::code(&verified, accepted_step);
    assert_eq!(node.verify("ratls", "verified", &code), Ok(true));
    let started = Instant::now();
    let bulk_count = bulk_entries();
    let bulk = create_many(&node, "bulk", bulk_count, expiration);
    let bulk_spent = id(&bulk[0]);
    let bulk_spent_policy = bulk[0]["policy"].as_str().expect("policy").to_owned();
    assert_eq!(
        node.redeem("bulk", &bulk_spent, &bulk_spent_policy),
        Ok(true)
    );
    eprintln!(
        "under v0.1.0: 5 + {bulk_count} entries in {:.1?}",
        started.elapsed()
    );
    assert!(
        node.raw_list(&format!("auth/{}/totp/", node.mount_uuid("bulk")))
            .len()
            == bulk_count - 1
    );

    // ---- the upgrade, with the README's commands ----
    let upgrade_started = Instant::now();
    switch_to(&node, &mounts, PLUGIN_VERSION);
    // Kill the plugin while the bulk mount migrates: its first 503.
    let probe = node.fresh();
    let bulk_probe = id(&bulk[1]);
    wait_for("the bulk migration to start", MIGRATION_TIMEOUT, || {
        let resp = probe.call(
            "POST",
            "auth/bulk/totp/lookup",
            Some(&json!({"uuid": bulk_probe})),
        )?;
        if resp.status == 503 {
            Ok(())
        } else {
            Err(format!("{resp:?}"))
        }
    });
    let bulk_root = format!("auth/{}/", node.mount_uuid("bulk"));
    let pids = node.plugin_pids();
    assert!(!pids.is_empty(), "plugin processes of the new version");
    for pid in &pids {
        crate::harness::Bao::signal(*pid, "KILL");
    }
    let v1_left = node.raw_list(&format!("{bulk_root}totp/")).len();
    let v2_done = node.raw_list(&format!("{bulk_root}grant/")).len();
    eprintln!(
        "SIGKILLed {} plugin processes mid-migration: {v1_left} v1 entries left, {v2_done} v2 entries written",
        pids.len()
    );
    assert!(
        v1_left > 0,
        "the kill came after the migration ended: the test proves nothing"
    );
    // The next requests start a new process, which finishes the migration.
    let unavailable =
        wait_migrated(&node, "bulk", &bulk_probe) + wait_migrated(&node, "ratls", &id(&small[0]));
    let upgrade_time = upgrade_started.elapsed();
    running(&node, &mounts, PLUGIN_VERSION, &new_sha);

    // ---- after: everything is there, nothing revived or replayed ----
    let live_small: Vec<&Value> = small.iter().filter(|d| id(d) != spent).collect();
    all_migrated(&node, "ratls", &live_small);
    let live_bulk: Vec<&Value> = bulk.iter().filter(|d| id(d) != bulk_spent).collect();
    all_migrated(&node, "bulk", &live_bulk);
    for (mount, id, policy) in [
        ("ratls", &spent, "spent"),
        ("bulk", &bulk_spent, bulk_spent_policy.as_str()),
    ] {
        assert_eq!(
            node.redeem(mount, id, policy),
            Ok(false),
            "a spent grant stays spent"
        );
        let resp = node.post(&format!("auth/{mount}/totp/lookup"), &json!({"uuid": id}));
        assert_eq!(resp.status, 404, "{resp:?}");
    }
    let now_step = totp::step_now();
    assert!(
        now_step <= accepted_step + 1,
        "the upgrade took {upgrade_time:?}: the accepted code left its window, so its refusal proves nothing"
    );
    assert_eq!(
        node.verify("ratls", "verified", &code),
        Ok(false),
        "a code accepted under v0.1.0 is refused"
    );
    let fresh = totp::code(&id(&small[0]), now_step);
    assert_eq!(
        node.verify("ratls", "keep-a", &fresh),
        Ok(true),
        "a fresh code still works"
    );
    eprintln!(
        "upgrade of 5 + {bulk_count} entries with a kill mid-migration: {upgrade_time:.1?} until both mounts answered ({unavailable} answers of 503 on the way)"
    );

    // ---- rollback to v0.1.0: v2 data grants nothing there ----
    switch_to(&node, &mounts, PREV_VERSION);
    running(&node, &mounts, PREV_VERSION, &old_sha);
    let keep = id(&small[0]);
    let resp = node.get(&format!("auth/ratls/totp/{keep}"));
    assert_eq!(resp.status, 404, "v0.1.0 sees no v2 entry: {resp:?}");
    assert_eq!(
        node.redeem("ratls", &keep, "keep-a"),
        Ok(false),
        "nor redeems one"
    );
    let code = totp::code(&keep, totp::step_now());
    assert_eq!(
        node.verify("ratls", "keep-a", &code),
        Ok(false),
        "nor verifies one"
    );
    // ...and back: everything is there again.
    switch_to(&node, &mounts, PLUGIN_VERSION);
    wait_migrated(&node, "ratls", &keep);
    all_migrated(&node, "ratls", &live_small);
}
