//! A steady create load: writer threads, each with its own keep-alive HTTP
//! agent, creating entries with a distinct policy per request (so any entry
//! in storage names the request that wrote it). Then the verdicts: every
//! answer is a documented 200 or a clean 5xx with a JSON body; every 200 is
//! in storage exactly as answered; entries written by requests that were
//! not answered 200 are found and counted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::Client;
use crate::expect;
use crate::harness::{Resp, now};

/// One create request and what came of it.
#[derive(Debug)]
pub struct Outcome {
    pub policy: String,
    /// Index of the target (node) it was sent to.
    pub target: usize,
    /// Unix seconds when it was sent.
    pub before: i64,
    pub sent: Instant,
    pub answered: Instant,
    /// `Err`: no HTTP answer (the node was down or went down).
    pub result: Result<Resp, String>,
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(&self.result, Ok(r) if r.status == 200)
    }
}

/// One create of an entry for `policy` at `auth/<mount>/totp` of `client`
/// (target number `target`).
pub fn create_once(
    client: &Client,
    target: usize,
    mount: &str,
    policy: &str,
    expiration: i64,
) -> Outcome {
    let body = serde_json::json!({"policy": policy, "expiration": expiration});
    let (before, sent) = (now(), Instant::now());
    let result = client.call("PUT", &format!("auth/{mount}/totp"), Some(&body));
    Outcome {
        policy: policy.to_owned(),
        target,
        before,
        sent,
        answered: Instant::now(),
        result,
    }
}

/// Writer threads running until [`Load::finish`].
pub struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<Vec<AtomicUsize>>,
    handles: Vec<JoinHandle<Vec<Outcome>>>,
}

impl Load {
    /// `writers` threads per target, creating at `auth/<mount>/totp` with
    /// policies `<prefix>-<target>-<writer>-<n>`, all expiring at `expiration`.
    pub fn start(
        targets: &[Client],
        writers: usize,
        mount: &str,
        prefix: &str,
        expiration: i64,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ok: Arc<Vec<AtomicUsize>> =
            Arc::new(targets.iter().map(|_| AtomicUsize::new(0)).collect());
        let mut handles = Vec::new();
        for (target, client) in targets.iter().enumerate() {
            for writer in 0..writers {
                let client = client.fresh();
                let (stop, ok) = (Arc::clone(&stop), Arc::clone(&ok));
                let mount = mount.to_owned();
                let prefix = format!("{prefix}-{target}-{writer}");
                handles.push(std::thread::spawn(move || {
                    let mut outcomes = Vec::new();
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let policy = format!("{prefix}-{n}");
                        let outcome = create_once(&client, target, &mount, &policy, expiration);
                        let ok_now = outcome.is_ok();
                        if ok_now {
                            ok[target].fetch_add(1, Ordering::Relaxed);
                        }
                        outcomes.push(outcome);
                        if !ok_now {
                            // Do not spin on a node that is down or failing.
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                    outcomes
                }));
            }
        }
        Self { stop, ok, handles }
    }

    /// Creates answered 200 so far, over all targets.
    pub fn ok_total(&self) -> usize {
        self.ok.iter().map(|n| n.load(Ordering::Relaxed)).sum()
    }

    /// Creates answered 200 so far by target `target`.
    pub fn ok_of(&self, target: usize) -> usize {
        self.ok[target].load(Ordering::Relaxed)
    }

    /// Stops the writers; every outcome, in no particular order.
    pub fn finish(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        self.handles
            .into_iter()
            .flat_map(|h| h.join().expect("a writer panicked"))
            .collect()
    }
}

/// Error texts with paths, numbers and addresses blanked, to count kinds.
pub fn normalize(text: &str) -> String {
    let paths = regex_lite::Regex::new(r#"/[^\s"\\]+"#).expect("regex");
    let numbers = regex_lite::Regex::new(r"\d+").expect("regex");
    let text = paths.replace_all(text, "<path>");
    let text = numbers.replace_all(&text, "N");
    one_line(&text)
}

/// `text` on one line (whitespace runs as one space), at most 200 characters.
pub fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect()
}

/// What the answers of a load came to.
#[derive(Debug, Default)]
pub struct Verdict {
    pub requests: usize,
    /// uuid → `data` of the 200 answer.
    pub acked: BTreeMap<String, Value>,
    /// Normalised "status message" of 5xx answers (and, in a failover,
    /// 307 redirects) → count.
    pub errors: BTreeMap<String, usize>,
    /// Normalised transport failures → count.
    pub transport: BTreeMap<String, usize>,
    /// Policy → what its request got, for every request not answered 200.
    pub failed: BTreeMap<String, String>,
}

impl Verdict {
    pub fn error_count(&self) -> usize {
        self.errors.values().sum()
    }

    pub fn transport_count(&self) -> usize {
        self.transport.values().sum()
    }
}

/// Checks every answer: a 200 must be the documented create answer for its
/// policy and expiration; anything else a 5xx whose body is JSON, in
/// Vault's shape (`{"errors": [..]}`) or the plugin's (`{"statusCode",
/// "message", "errors"}`). Only when `failover` (nodes go down): no HTTP
/// answer at all, or a standby's 307 redirect to the active node (what a
/// standby answers when it cannot forward, e.g. while the active node it
/// knows is going away).
pub fn judge(outcomes: &[Outcome], expiration: i64, failover: bool) -> Verdict {
    let mut verdict = Verdict {
        requests: outcomes.len(),
        ..Verdict::default()
    };
    for outcome in outcomes {
        match &outcome.result {
            Ok(resp) if resp.status == 200 => {
                let data = expect::created(resp, &outcome.policy, expiration, outcome.before, None);
                let id = data["uuid"].as_str().expect("uuid").to_owned();
                assert!(
                    verdict.acked.insert(id.clone(), data).is_none(),
                    "uuid {id} answered twice"
                );
            }
            Ok(resp) if resp.status == 307 && failover => {
                *verdict
                    .errors
                    .entry("307 redirect to the active node".to_owned())
                    .or_default() += 1;
                verdict
                    .failed
                    .insert(outcome.policy.clone(), "307 redirect".to_owned());
            }
            Ok(resp) => {
                assert!(
                    (500..600).contains(&resp.status),
                    "an answer neither 200 nor 5xx: {} -> {resp:?}",
                    outcome.policy
                );
                let body: Value = serde_json::from_str(&resp.text).unwrap_or_else(|e| {
                    panic!(
                        "a {} answer without a JSON body ({e}): {resp:?}",
                        resp.status
                    )
                });
                let message = if let Some(errors) = body["errors"].as_array() {
                    assert_eq!(
                        body.as_object().map(|o| o.len()),
                        Some(1),
                        "Vault's error shape: {body}"
                    );
                    errors
                        .iter()
                        .map(|e| e.as_str().expect("string error").to_owned())
                        .collect::<Vec<_>>()
                        .join("; ")
                } else {
                    assert_eq!(
                        body["statusCode"], resp.status,
                        "the plugin's shape: {body}"
                    );
                    body["message"]
                        .as_str()
                        .unwrap_or_else(|| panic!("no message: {body}"))
                        .to_owned()
                };
                *verdict
                    .errors
                    .entry(format!("{} {}", resp.status, normalize(&message)))
                    .or_default() += 1;
                verdict
                    .failed
                    .insert(outcome.policy.clone(), format!("{} {message}", resp.status));
            }
            Err(error) => {
                assert!(
                    failover,
                    "no HTTP answer although the server stayed up: {error}"
                );
                *verdict.transport.entry(normalize(error)).or_default() += 1;
                verdict
                    .failed
                    .insert(outcome.policy.clone(), format!("no answer: {error}"));
            }
        }
    }
    verdict
}

/// An entry in storage that no 200 answer returned.
#[derive(Debug)]
pub struct Orphan {
    pub id: String,
    pub policy: String,
    /// What the request with this policy got: an error, or (when OpenBao
    /// ran the request a second time after the plugin died) a 200 with
    /// another uuid.
    pub answer: String,
    pub retried: bool,
    /// Stored without its policy index key (tidy restores it).
    pub unindexed: bool,
}

/// What storage holds after a load.
#[derive(Debug, Default)]
pub struct StorageCheck {
    /// Entries stored under `entry/`.
    pub stored: usize,
    /// Acknowledged entries not stored (must be none).
    pub lost: Vec<String>,
    /// Stored entries no 200 answer returned.
    pub orphans: Vec<Orphan>,
}

impl StorageCheck {
    /// Orphans of requests answered with an error.
    pub fn after_error(&self) -> usize {
        self.orphans.iter().filter(|o| !o.retried).count()
    }

    /// Orphans of requests answered 200 (with another entry).
    pub fn after_retry(&self) -> usize {
        self.orphans.iter().filter(|o| o.retried).count()
    }

    pub fn unindexed(&self) -> usize {
        self.orphans.iter().filter(|o| o.unindexed).count()
    }
}

/// The entries stored under `root` (`entry/<accessor>`, values parsed), by
/// uuid; each must be stored under the accessor it holds.
pub fn stored_entries(client: &Client, root: &str) -> BTreeMap<String, Value> {
    client
        .raw_list(&format!("{root}entry/"))
        .into_iter()
        .map(|name| {
            let text = client
                .raw_get(&format!("{root}entry/{name}"))
                .unwrap_or_else(|| panic!("listed entry {name} has no value"));
            let value: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("entry {name} holds no JSON ({e}): {text}"));
            assert_eq!(value["accessor"], name.as_str(), "entry/{name}: {value}");
            let id = value["uuid"].as_str().expect("an entry's uuid").to_owned();
            (id, value)
        })
        .collect()
}

/// The mount's layout, read from its key record.
pub fn layout(client: &Client, root: &str) -> expect::Layout {
    let text = client
        .raw_get(&format!("{root}meta/key"))
        .expect("the mount key exists");
    expect::Layout::from_record(&text)
}

/// Reads the mount's storage through `sys/raw` of `client`: every acked
/// entry (but those in `removed`, redeemed since) must be stored exactly as
/// answered, under the accessor its uuid derives, with its policy index key;
/// any other stored entry must carry the policy of a request of this test
/// (each policy is used once) and the accessor its uuid derives. No entry
/// has an accessor record (only entries migrated from v0.2.x have one).
pub fn check_storage(
    client: &Client,
    mount: &str,
    verdict: &Verdict,
    removed: &BTreeSet<String>,
) -> StorageCheck {
    let root = format!("auth/{}/", client.mount_uuid(mount));
    let entries = stored_entries(client, &root);
    let layout = layout(client, &root);
    let stored: BTreeSet<String> = entries.keys().cloned().collect();
    let lost: Vec<String> = verdict
        .acked
        .keys()
        .filter(|id| !stored.contains(*id) && !removed.contains(*id))
        .cloned()
        .collect();

    // Every acknowledged entry, read back in parallel: value and index key.
    let present: Vec<&Value> = verdict
        .acked
        .iter()
        .filter(|(id, _)| stored.contains(*id))
        .map(|(_, data)| data)
        .collect();
    let threads = 4;
    let chunk = present.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for part in present.chunks(chunk) {
            let client = client.fresh();
            let (root, entries, layout) = (root.clone(), &entries, &layout);
            scope.spawn(move || {
                for data in part {
                    let id = data["uuid"].as_str().expect("uuid");
                    let policy = data["policy"].as_str().expect("policy");
                    assert_eq!(entries[id], expect::stored_form(data), "stored entry {id}");
                    assert_eq!(
                        data["accessor"],
                        layout.accessor(id).as_str(),
                        "the accessor of acknowledged entry {id} derives from its uuid"
                    );
                    assert_eq!(
                        client.raw_get(&format!("{root}{}", layout.index_key(policy, id))),
                        Some(String::new()),
                        "the policy index key of acknowledged entry {id}"
                    );
                }
            });
        }
    });

    let acked_policies: BTreeMap<&str, &str> = verdict
        .acked
        .iter()
        .map(|(id, data)| (data["policy"].as_str().expect("policy"), id.as_str()))
        .collect();
    let mut orphans = Vec::new();
    for id in stored.iter().filter(|id| !verdict.acked.contains_key(*id)) {
        let value = &entries[id];
        let policy = value["policy"].as_str().expect("policy").to_owned();
        assert_eq!(
            value["accessor"],
            layout.accessor(id).as_str(),
            "the accessor of stored entry {id} derives from its uuid"
        );
        let (answer, retried) = if let Some(answer) = verdict.failed.get(&policy) {
            (answer.clone(), false)
        } else if let Some(other) = acked_policies.get(policy.as_str()) {
            (format!("200 with uuid {other}"), true)
        } else {
            panic!("stored entry {id} ({value}) was written by no request of this test");
        };
        let unindexed = client
            .raw_get(&format!("{root}{}", layout.index_key(&policy, id)))
            .is_none();
        orphans.push(Orphan {
            id: id.clone(),
            policy,
            answer,
            retried,
            unindexed,
        });
    }
    assert_eq!(
        client.raw_list(&format!("{root}accessor-of/")),
        Vec::<String>::new(),
        "no accessor record"
    );
    StorageCheck {
        stored: stored.len(),
        lost,
        orphans,
    }
}
