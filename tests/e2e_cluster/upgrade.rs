//! Upgrading a mount from an earlier release (built from git history, `make
//! prev-release`) to this version with exactly the README's commands, on a
//! persistent Raft server: one file per version in the plugin directory,
//! both registered by sha256 with `-version` and `-command`, `auth tune
//! -plugin-version`, `plugin reload`, `auth list -detailed`. Two upgrades:
//! from v0.1.0 (storage layout v1) and from the previous release, v0.2.2
//! (layout v2), both to layout v3.
//!
//! Under the old release a small mount gets entries (one policy with a `/`),
//! one that expires before the upgrade, a redeemed grant and an accepted
//! code; a bulk mount gets 2,000 entries (one redeemed). After the upgrade
//! (the plugin SIGKILLed while the bulk mount migrates, with old entries
//! left to move) every entry is found by lookup and by accessor (from
//! v0.1.0: the accessor its uuid derives; from v0.2.2: the accessor v0.2.2
//! answered), lists are complete, the expired entry is dropped, the spent
//! grant stays spent, the accepted code stays refused, a fresh code is
//! accepted, and storage holds exactly layout v3 (with an accessor record
//! for each entry from v0.2.2 only) and no key holds a uuid. Then a rollback
//! with the same commands: v3 data grants nothing there and is left as it
//! is; and back.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{Client, wait_for};
use crate::harness::{PLUGIN, PLUGIN_VERSION, now, plugin_bin};
use crate::oracle::{LAYOUT_V3, Names, entry_key};
use crate::server::{Node, sha256};
use crate::totp;

/// Set by `make test` to the previous release's binary (v0.2.2), built from
/// git history.
const PREV_VAR: &str = "RATLS_PREV_PLUGIN_BIN";
const PREV_VERSION: &str = "v0.2.2";
/// Set by `make test` to the first release's binary (v0.1.0).
const V010_VAR: &str = "RATLS_V010_PLUGIN_BIN";
const V010_VERSION: &str = "v0.1.0";
/// The small mount and the bulk mount.
const MOUNTS: [&str; 2] = ["ratls", "bulk"];
/// The small mount's entries: `spent` is redeemed and `verified`'s code
/// accepted under the old release.
const SMALL_POLICIES: [&str; 5] = ["keep-a", "keep-b", "ns/app", "spent", "verified"];
/// Entries of the bulk mount, migrated while the plugin is killed
/// (`RATLS_UPGRADE_ENTRIES` overrides it, to measure larger migrations).
fn bulk_entries() -> usize {
    std::env::var("RATLS_UPGRADE_ENTRIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(120);

/// An earlier release's binary from `var`, or `None` (with one line saying
/// why) when it was not built and the run does not require it.
fn old_bin(var: &str, version: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "{var}={} is missing: run `make prev-release`",
                path.display()
            );
            Some(path)
        }
        None if std::env::var_os("RATLS_REQUIRE_BAO").is_some() => {
            panic!("{var} is not set: `make test` builds {version} from git history")
        }
        None => {
            eprintln!(
                "skipped: no {version} binary; run `make prev-release` and set {var} (make test does both)"
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

/// The plugin's 404 for an accessor without a live entry (v0.2.2 and this
/// version).
fn accessor_not_found_body() -> Value {
    let message = "No TOTP entry with this accessor exists: it was never created, or it was deleted, redeemed or has expired.";
    json!({"statusCode": 404, "message": message, "errors": [message]})
}

fn id(data: &Value) -> String {
    data["uuid"].as_str().expect("uuid").to_owned()
}

fn policy(data: &Value) -> String {
    data["policy"].as_str().expect("policy").to_owned()
}

/// A persistent server with an earlier release and this version in its
/// plugin directory, both registered, and [`MOUNTS`] enabled on the old one.
struct Upgrade {
    node: Node,
    old_version: &'static str,
    old_sha: String,
    new_sha: String,
}

impl Upgrade {
    fn set_up(old_bin: &Path, old_version: &'static str) -> Self {
        let mut node = Node::new("upgrade");
        // One file per version in the plugin directory.
        let (old_file, new_file) = (
            format!("{PLUGIN}-{old_version}"),
            format!("{PLUGIN}-{PLUGIN_VERSION}"),
        );
        std::fs::copy(old_bin, node.plugin_dir().join(&old_file)).expect("copying the old release");
        std::fs::copy(plugin_bin(), node.plugin_dir().join(&new_file))
            .expect("copying this version");
        node.start_single();
        let old_sha = register(&node, &old_file, old_version);
        let new_sha = register(&node, &new_file, PLUGIN_VERSION);
        for mount in MOUNTS {
            node.cli_ok(&[
                "auth",
                "enable",
                &format!("-path={mount}"),
                &format!("-plugin-version={old_version}"),
                PLUGIN,
            ]);
        }
        running(&node, &MOUNTS, old_version, &old_sha);
        Self {
            node,
            old_version,
            old_sha,
            new_sha,
        }
    }

    /// Under the old release, whose entries are stored under `old_entries`
    /// (`totp/` in v1, `grant/` in v2): 2,000 entries on the bulk mount (one
    /// redeemed), then the small mount's, with `spent` redeemed and the
    /// next step's code of `verified` accepted (acceptable, but for the
    /// replay record, for 60 to 90 s: long enough for the upgrade).
    fn populate(&self, old_entries: &str) -> OldData {
        let node = &self.node;
        // An entry that expires before the upgrade: the migration drops it.
        let expires = now() + 2;
        let resp = node.create("ratls", "expired", expires);
        assert_eq!(resp.status, 200, "{resp:?}");
        let expired = resp.json()["data"].clone();
        let expiration = now() + 3600;
        let started = Instant::now();
        let bulk_count = bulk_entries();
        let bulk = create_many(node, "bulk", bulk_count, expiration);
        assert_eq!(
            node.redeem("bulk", &id(&bulk[0]), &policy(&bulk[0])),
            Ok(true)
        );
        assert_eq!(
            node.raw_list(&format!("auth/{}/{old_entries}", node.mount_uuid("bulk")))
                .len(),
            bulk_count - 1,
            "the bulk entries under {old_entries}"
        );
        let small: Vec<Value> = SMALL_POLICIES
            .iter()
            .map(|policy| {
                let resp = node.create("ratls", policy, expiration);
                assert_eq!(resp.status, 200, "{resp:?}");
                resp.json()["data"].clone()
            })
            .collect();
        assert_eq!(node.redeem("ratls", &id(&small[3]), "spent"), Ok(true));
        let accepted_step = totp::step_now() + 1;
        let code = totp::code(&id(&small[4]), accepted_step);
        assert_eq!(node.verify("ratls", "verified", &code), Ok(true));
        while now() <= expires {
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "under {}: 5 + {bulk_count} entries in {:.1?}",
            self.old_version,
            started.elapsed()
        );
        OldData {
            small,
            expired,
            bulk,
            accepted_step,
            code,
        }
    }

    /// The upgrade with the README's commands; the plugin SIGKILLed at the
    /// bulk mount's first 503, while old entries are left under
    /// `old_entries`. Returns how long until both mounts answered.
    fn upgrade_killing_the_migration(&self, data: &OldData, old_entries: &str) -> Duration {
        let node = &self.node;
        let started = Instant::now();
        switch_to(node, &MOUNTS, PLUGIN_VERSION);
        let probe = node.fresh();
        let bulk_probe = id(&data.bulk[1]);
        wait_for("the bulk migration to start", MIGRATION_TIMEOUT, || {
            let resp = probe.call(
                "POST",
                "auth/bulk/totp/lookup",
                Some(&json!({"uuid": bulk_probe})),
            )?;
            match resp.status {
                503 => Ok(()),
                200 => panic!(
                    "the bulk migration ended before the first lookup: a kill would prove nothing"
                ),
                // The new plugin starting.
                _ => Err(format!("{resp:?}")),
            }
        });
        // ...and once it has written its first entries: mid-move.
        let bulk_root = format!("auth/{}/", node.mount_uuid("bulk"));
        wait_for("the first moved entries", MIGRATION_TIMEOUT, || match node
            .raw_list(&format!("{bulk_root}entry/"))
            .len()
        {
            0 => Err("none yet".into()),
            _ => Ok(()),
        });
        let pids = node.plugin_pids();
        assert!(!pids.is_empty(), "plugin processes of the new version");
        for pid in &pids {
            crate::harness::Bao::signal(*pid, "KILL");
        }
        let left = node.raw_list(&format!("{bulk_root}{old_entries}")).len();
        let done = node.raw_list(&format!("{bulk_root}entry/")).len();
        eprintln!(
            "SIGKILLed {} plugin processes mid-migration: {left} old entries left under {old_entries}, {done} written under entry/",
            pids.len()
        );
        assert!(
            left > 0,
            "the kill came after the migration ended: the test proves nothing"
        );
        assert!(done > 0, "the kill came before the first move");
        // The next requests start a new process, which finishes the migration.
        let unavailable = wait_migrated(node, "bulk", &bulk_probe)
            + wait_migrated(node, "ratls", &id(&data.small[0]));
        let elapsed = started.elapsed();
        running(node, &MOUNTS, PLUGIN_VERSION, &self.new_sha);
        eprintln!(
            "upgrade from {} of 5 + {} entries with a kill mid-migration: {elapsed:.1?} until both mounts answered ({unavailable} answers of 503 on the way)",
            self.old_version,
            data.bulk.len()
        );
        elapsed
    }

    /// Right after the upgrade: the code accepted before is refused within
    /// its window, a fresh code of `keep-a` is accepted, the expired entry
    /// is not found, the spent grants stay spent. Returns the replay records now stored (uuid, step).
    fn nothing_revived(&self, data: &OldData, upgrade_time: Duration) -> Vec<(String, u64)> {
        let node = &self.node;
        assert_eq!(
            node.verify("ratls", "verified", &data.code),
            Ok(false),
            "a code accepted under {} is refused",
            self.old_version
        );
        let now_step = totp::step_now();
        assert!(
            now_step <= data.accepted_step + 1,
            "the upgrade took {upgrade_time:?}: the accepted code left its window, so its refusal proves nothing"
        );
        let fresh_step = totp::step_now();
        let fresh = totp::code(&data.id(0), fresh_step);
        assert_eq!(
            node.verify("ratls", "keep-a", &fresh),
            Ok(true),
            "a fresh code works"
        );
        let resp = node.post(
            "auth/ratls/totp/lookup",
            &json!({"uuid": id(&data.expired)}),
        );
        assert_eq!(resp.status, 404, "the expired entry: {resp:?}");
        assert_eq!(resp.json(), crate::expect::not_found_body());
        for (mount, spent) in [("ratls", &data.small[3]), ("bulk", &data.bulk[0])] {
            assert_eq!(
                node.redeem(mount, &id(spent), &policy(spent)),
                Ok(false),
                "a spent grant stays spent"
            );
            let resp = node.post(
                &format!("auth/{mount}/totp/lookup"),
                &json!({"uuid": id(spent)}),
            );
            assert_eq!(resp.status, 404, "{resp:?}");
            assert_eq!(resp.json(), crate::expect::not_found_body());
        }
        vec![(data.id(4), data.accepted_step), (data.id(0), fresh_step)]
    }

    /// Back to the old release with the same commands: it finds no entry of
    /// layout v3 (read by uuid 404, redeem and verify false) and changes
    /// nothing of them (its layout record aside), also while `more` asks it
    /// more.
    fn roll_back(&self, data: &OldData, more: impl FnOnce(&Node)) {
        let node = &self.node;
        let before: Vec<BTreeMap<String, String>> =
            MOUNTS.iter().map(|mount| node.snapshot(mount)).collect();
        switch_to(node, &MOUNTS, self.old_version);
        running(node, &MOUNTS, self.old_version, &self.old_sha);
        let old = self.old_version;
        // `keep-a`: what this version would read, verify (the next step's
        // code is past its replay record) and redeem.
        let (keep, keep_policy) = (data.id(0), policy(&data.small[0]));
        let resp = node.get(&format!("auth/ratls/totp/{keep}"));
        assert_eq!(resp.status, 404, "{old} sees no v3 entry: {resp:?}");
        let code = totp::code(&keep, totp::step_now() + 1);
        assert_eq!(
            node.verify("ratls", &keep_policy, &code),
            Ok(false),
            "nor verifies one"
        );
        assert_eq!(
            node.redeem("ratls", &keep, &keep_policy),
            Ok(false),
            "nor redeems one"
        );
        let resp = node.get(&format!("auth/bulk/totp/{}", data.bulk_id(1)));
        assert_eq!(resp.status, 404, "{old} sees no v3 entry: {resp:?}");
        more(node);
        for (mount, before) in MOUNTS.iter().zip(before) {
            let without_layout = |mut stored: BTreeMap<String, String>| {
                stored.remove("meta/layout");
                stored
            };
            assert!(
                without_layout(node.snapshot(mount)) == without_layout(before),
                "{old} changed {mount}'s v3 data"
            );
        }
    }

    /// Forward again to this version with the same commands; waits until
    /// lookups of `probes` (on the small and the bulk mount) stop answering
    /// 503.
    fn forward_again(&self, probes: [&str; 2]) {
        let node = &self.node;
        switch_to(node, &MOUNTS, PLUGIN_VERSION);
        running(node, &MOUNTS, PLUGIN_VERSION, &self.new_sha);
        for (mount, probe) in MOUNTS.iter().zip(probes) {
            wait_migrated(node, mount, probe);
        }
    }
}

/// What the old release was given.
struct OldData {
    /// The small mount's create answers, in [`SMALL_POLICIES`]' order.
    small: Vec<Value>,
    /// The small mount's entry that expired before the upgrade.
    expired: Value,
    /// The bulk mount's create answers; the first is redeemed.
    bulk: Vec<Value>,
    /// The step whose code of `verified` was accepted, and that code.
    accepted_step: u64,
    code: String,
}

impl OldData {
    /// The uuid of the small mount's entry `n`.
    fn id(&self, n: usize) -> String {
        id(&self.small[n])
    }

    fn bulk_id(&self, n: usize) -> String {
        id(&self.bulk[n])
    }

    /// The small mount's live entries.
    fn live_small(&self) -> Vec<&Value> {
        self.small
            .iter()
            .filter(|d| d["policy"] != "spent")
            .collect()
    }

    fn live_bulk(&self) -> Vec<&Value> {
        self.bulk[1..].iter().collect()
    }
}

/// What a mount must hold in layout v3.
#[derive(Default)]
struct Expected<'a> {
    /// Entries whose accessor derives from the uuid: made by v0.1.0 or by
    /// this version (create answers).
    derived: Vec<&'a Value>,
    /// Entries made by v0.2.x: under the accessor they were answered with,
    /// and an accessor record.
    kept: Vec<&'a Value>,
    /// Replay records: (uuid, last step).
    last_steps: Vec<(String, u64)>,
    /// Uuids of entries gone (redeemed, deleted): no key holds them either.
    gone: Vec<String>,
}

/// The mount holds exactly what `expected` says, in layout v3, and shows it:
/// every entry found by lookup of its uuid and by its accessor, with the
/// fields it was made with; LIST names exactly their accessors; storage
/// holds the layout record `{"version":3}`, the mount key, each entry at
/// `entry/<accessor>` with its index key (and, for entries from v0.2.x, its
/// accessor record), the replay records, and nothing else: no key of an
/// older layout, and no key holding a uuid in any form.
fn holds_exactly(node: &Node, mount: &str, expected: &Expected) {
    let stored = node.snapshot(mount);
    let names = Names::from_record(stored.get("meta/key").expect("the mount key"));
    let entries: Vec<(String, &Value, bool)> = expected
        .derived
        .iter()
        .map(|data| (names.accessor(&id(data)), *data, false))
        .chain(expected.kept.iter().map(|data| {
            let accessor = data["accessor"].as_str().expect("accessor").to_owned();
            (accessor, *data, true)
        }))
        .collect();

    // What the API shows, from 4 clients.
    std::thread::scope(|scope| {
        for part in entries.chunks(entries.len().div_ceil(4).max(1)) {
            let client = node.fresh();
            scope.spawn(move || {
                for (accessor, data, _) in part {
                    let uuid = id(data);
                    let public = json!({
                        "accessor": accessor,
                        "created": data["created"],
                        "expiration": data["expiration"],
                        "policy": data["policy"],
                    });
                    let resp =
                        client.post(&format!("auth/{mount}/totp/lookup"), &json!({"uuid": uuid}));
                    assert_eq!(resp.status, 200, "{mount}: lookup of {uuid}: {resp:?}");
                    assert_eq!(resp.json()["data"], public, "{mount}: lookup of {uuid}");
                    let resp = client.get(&format!("auth/{mount}/totp/accessor/{accessor}"));
                    assert_eq!(resp.status, 200, "{mount}: read of {accessor}: {resp:?}");
                    assert_eq!(resp.json()["data"], public, "{mount}: read of {accessor}");
                }
            });
        }
    });
    let listed = node.get(&format!("auth/{mount}/totp/?list=true"));
    assert_eq!(listed.status, 200, "{listed:?}");
    let keys: BTreeSet<String> = listed.json()["data"]["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k.as_str().expect("key").to_owned())
        .collect();
    let accessors: BTreeSet<String> = entries.iter().map(|(a, _, _)| a.clone()).collect();
    assert_eq!(
        accessors.len(),
        entries.len(),
        "{mount}: distinct accessors"
    );
    assert_eq!(keys, accessors, "{mount}: LIST names exactly the entries");

    // Storage, key by key.
    let mut want: BTreeMap<String, Value> = BTreeMap::new();
    want.insert("meta/key".into(), Value::Null);
    want.insert("meta/layout".into(), json!({"version": 3}));
    for (accessor, data, kept) in &entries {
        let uuid = id(data);
        want.insert(
            entry_key(accessor),
            json!({
                "accessor": accessor,
                "created": data["created"],
                "expiration": data["expiration"],
                "policy": data["policy"],
                "uuid": uuid,
            }),
        );
        want.insert(names.index_key(&policy(data), &uuid), Value::from(""));
        if *kept {
            want.insert(names.accessor_of_key(&uuid), json!({"accessor": accessor}));
        }
    }
    for (uuid, step) in &expected.last_steps {
        want.insert(names.last_step_key(uuid), json!({"last_step": step}));
    }
    let missing: Vec<&String> = want.keys().filter(|k| !stored.contains_key(*k)).collect();
    let unexpected: Vec<&String> = stored.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "{mount}: {} keys missing (first {:?}), {} unexpected (first {:?})",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        unexpected.len(),
        unexpected.iter().take(5).collect::<Vec<_>>()
    );
    for (key, value) in &stored {
        let found = if key == "meta/key" {
            Value::Null
        } else if key.starts_with("index/") {
            Value::from(value.as_str())
        } else {
            serde_json::from_str(value).unwrap_or_else(|e| panic!("{mount}: {key}: {e}: {value}"))
        };
        assert_eq!(found, want[key], "{mount}: the value of {key}");
    }
    assert_eq!(
        stored["meta/layout"], LAYOUT_V3,
        "{mount}: the layout record"
    );

    // Every form of every uuid, then every 32- and 36-character window of
    // every key: linear in the keys, so 10,000 entries stay quick.
    let forms: HashSet<String> = entries
        .iter()
        .map(|(_, data, _)| id(data))
        .chain(expected.gone.iter().cloned())
        .flat_map(|id| [id.replace('-', ""), id.to_uppercase(), id])
        .collect();
    for key in stored.keys() {
        for width in [32, 36] {
            for window in key.as_bytes().windows(width) {
                let text = String::from_utf8_lossy(window);
                assert!(
                    !forms.contains(text.as_ref()),
                    "{mount}: storage key {key} holds a uuid"
                );
            }
        }
    }
}

#[test]
fn v0_1_0_data_migrates_on_upgrade_and_a_rollback_grants_nothing() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let Some(old) = old_bin(V010_VAR, V010_VERSION) else {
        return;
    };
    let _turn = crate::exclusive();
    let up = Upgrade::set_up(&old, V010_VERSION);
    let data = up.populate("totp/");
    let upgrade_time = up.upgrade_killing_the_migration(&data, "totp/");
    let last_steps = up.nothing_revived(&data, upgrade_time);

    // Entries of v0.1.0 had no accessor: each now has the one its uuid
    // derives, and no accessor record.
    let small = Expected {
        derived: data.live_small(),
        last_steps,
        gone: vec![data.id(3), id(&data.expired)],
        ..Expected::default()
    };
    holds_exactly(&up.node, "ratls", &small);
    let bulk = Expected {
        derived: data.live_bulk(),
        gone: vec![data.bulk_id(0)],
        ..Expected::default()
    };
    holds_exactly(&up.node, "bulk", &bulk);

    // Rollback to v0.1.0: v3 data grants nothing there; and back.
    up.roll_back(&data, |_| {});
    up.forward_again([&data.id(0), &data.bulk_id(1)]);
    holds_exactly(&up.node, "ratls", &small);
    holds_exactly(&up.node, "bulk", &bulk);
}

#[test]
fn v0_2_2_data_migrates_on_upgrade_keeping_accessors_and_a_rollback_grants_nothing() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let Some(old) = old_bin(PREV_VAR, PREV_VERSION) else {
        return;
    };
    let _turn = crate::exclusive();
    let up = Upgrade::set_up(&old, PREV_VERSION);
    let node = &up.node;
    let data = up.populate("grant/");
    // v0.2.2 answers each entry's accessor.
    for entry in data.small.iter().chain(&data.bulk) {
        crate::expect::canonical_v4(entry["accessor"].as_str().expect("accessor"), "accessor");
    }
    let upgrade_time = up.upgrade_killing_the_migration(&data, "grant/");
    let last_steps = up.nothing_revived(&data, upgrade_time);

    // Every entry keeps the accessor v0.2.2 answered, with an accessor
    // record; the accepted code's replay record is under `last-step/`.
    let mut small = Expected {
        kept: data.live_small(),
        last_steps,
        gone: vec![data.id(3), id(&data.expired)],
        ..Expected::default()
    };
    holds_exactly(node, "ratls", &small);
    let bulk = Expected {
        kept: data.live_bulk(),
        gone: vec![data.bulk_id(0)],
        ..Expected::default()
    };
    holds_exactly(node, "bulk", &bulk);

    // An entry made now has the accessor its uuid derives, and no accessor
    // record.
    let (before, expiration) = (now(), now() + 3600);
    let resp = node.create("ratls", "after-upgrade", expiration);
    let fresh = crate::expect::created(&resp, "after-upgrade", expiration, before, None);
    let root = format!("auth/{}/", node.mount_uuid("ratls"));
    let names = Names::from_record(&node.raw_get(&format!("{root}meta/key")).expect("key"));
    assert_eq!(fresh["accessor"], names.accessor(&id(&fresh)));
    assert_eq!(
        node.raw_get(&format!("{root}{}", names.accessor_of_key(&id(&fresh)))),
        None,
        "no accessor record for an entry made by this version"
    );
    // Deleting a migrated entry by uuid removes its accessor record too.
    let deleted = &data.small[1];
    let accessor_of = format!("{root}{}", names.accessor_of_key(&id(deleted)));
    assert!(node.raw_get(&accessor_of).is_some(), "{accessor_of}");
    let resp = node.delete(&format!("auth/ratls/totp/{}", id(deleted)));
    crate::expect::deleted(&resp, "delete a migrated entry by uuid");
    assert_eq!(node.raw_get(&accessor_of), None, "its accessor record");
    let resp = node.post("auth/ratls/totp/lookup", &json!({"uuid": id(deleted)}));
    assert_eq!(resp.status, 404, "{resp:?}");
    assert_eq!(resp.json(), crate::expect::not_found_body());
    let deleted_accessor = deleted["accessor"].as_str().expect("accessor");
    let resp = node.get(&format!("auth/ratls/totp/accessor/{deleted_accessor}"));
    assert_eq!(resp.status, 404, "{resp:?}");
    assert_eq!(resp.json(), accessor_not_found_body());
    small.kept.retain(|d| d["uuid"] != deleted["uuid"]);
    small.derived.push(&fresh);
    small.gone.push(id(deleted));
    holds_exactly(node, "ratls", &small);

    // Rollback to v0.2.2: v3 data grants nothing there (nor does it count
    // a failure: v0.2.2's index is empty).
    up.roll_back(&data, |node| {
        let old = PREV_VERSION;
        let keep = data.id(0);
        let resp = node.get(&format!("auth/ratls/totp/{keep}"));
        assert_eq!(resp.json(), crate::expect::not_found_body(), "{resp:?}");
        let resp = node.post("auth/ratls/totp/lookup", &json!({"uuid": keep}));
        assert_eq!(resp.status, 404, "{old} looks up no v3 entry: {resp:?}");
        assert_eq!(resp.json(), crate::expect::not_found_body());
        let accessor = data.small[0]["accessor"].as_str().expect("accessor");
        let resp = node.get(&format!("auth/ratls/totp/accessor/{accessor}"));
        assert_eq!(resp.status, 404, "{old} reads no v3 entry: {resp:?}");
        assert_eq!(resp.json(), accessor_not_found_body());
        for mount in MOUNTS {
            let resp = node.get(&format!("auth/{mount}/totp/?list=true"));
            assert_eq!(resp.status, 404, "{old} lists no v3 entry: {resp:?}");
            assert_eq!(resp.json(), json!({"errors": []}));
        }
    });
    // An entry made while rolled back (in layout v2)...
    let resp = node.create("ratls", "rolled-back", now() + 3600);
    assert_eq!(resp.status, 200, "{resp:?}");
    let rolled_back = resp.json()["data"].clone();
    assert_eq!(
        node.raw_list(&format!("{root}grant/")).len(),
        1,
        "{PREV_VERSION} stores it in layout v2"
    );
    // ...is migrated when this version is back: found by lookup and by the
    // accessor v0.2.2 answered; everything from before is still there.
    up.forward_again([&id(&rolled_back), &data.bulk_id(1)]);
    small.kept.push(&rolled_back);
    holds_exactly(node, "ratls", &small);
    holds_exactly(node, "bulk", &bulk);
}
