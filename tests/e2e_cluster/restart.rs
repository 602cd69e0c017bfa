//! Restart durability: a persistent server (Raft storage in a temp dir, not
//! -dev memory) is stopped by SIGTERM, or killed, and started again on the
//! same data dir; after unsealing, entries, index keys and replay records
//! are exactly as before, a grant redeemed before stays spent, one not
//! redeemed is redeemed exactly once, and a code accepted before is refused
//! after.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::Client;
use crate::expect;
use crate::harness::now;
use crate::server::Node;
use crate::totp;

// OpenBao 2.7 has no `file` storage ("unknown storage type file"): Raft
// (Integrated Storage) is its persistent single-node backend.

#[test]
fn raft_server_sigterm_restart_keeps_entries_and_replay_records() {
    if crate::harness::skip_without_bao() {
        return;
    }
    restart_durability("TERM");
}

/// The server crashes: what it acknowledged was on disk already.
#[test]
fn raft_server_sigkill_restart_keeps_entries_and_replay_records() {
    if crate::harness::skip_without_bao() {
        return;
    }
    restart_durability("KILL");
}

/// What the API shows of the mount's live entries.
#[derive(Debug, PartialEq)]
struct Visible {
    list: Value,
    reads: BTreeMap<String, Value>,
}

fn visible(client: &Client, ids: &[&str]) -> Visible {
    let list = client.list("auth/ratls/totp");
    assert_eq!(list.status, 200, "{list:?}");
    let mut reads = BTreeMap::new();
    for id in ids {
        let resp = client.get(&format!("auth/ratls/totp/{id}"));
        assert_eq!(resp.status, 200, "read {id}: {resp:?}");
        reads.insert((*id).to_owned(), resp.json()["data"].clone());
    }
    Visible {
        list: list.json()["data"].clone(),
        reads,
    }
}

fn not_found(client: &Client, id: &str, what: &str) {
    let resp = client.get(&format!("auth/ratls/totp/{id}"));
    assert_eq!(resp.status, 404, "{what}: {resp:?}");
    assert_eq!(resp.json(), crate::expect::not_found_body(), "{what}");
}

fn restart_durability(signal: &str) {
    let _turn = crate::exclusive();
    let up = Instant::now();
    let mut node = Node::new("restart");
    let keys = node.start_single();
    node.register_plugin();
    node.enable("ratls");
    let up = up.elapsed();

    let expiration = now() + 3600;
    let create = |policy: &str| {
        let before = now();
        let resp = node.create("ratls", policy, expiration);
        expect::created(&resp, policy, expiration, before, None)
    };
    let kept: Vec<Value> = ["keep-a", "ns/app", "keep-b"]
        .iter()
        .map(|p| create(p))
        .collect();
    let spent = create("redeem-before");
    let unspent = create("redeem-after");
    let verified = create("verified");
    let unverified = create("verify-after");
    let id = |data: &Value| data["uuid"].as_str().expect("uuid").to_owned();
    let (spent_id, unspent_id) = (id(&spent), id(&unspent));
    let (verified_id, unverified_id) = (id(&verified), id(&unverified));

    // Before the restart: spend one grant; a wrong policy spends nothing.
    assert_eq!(node.redeem("ratls", &spent_id, "redeem-before"), Ok(true));
    assert_eq!(node.redeem("ratls", &spent_id, "redeem-before"), Ok(false));
    assert_eq!(node.redeem("ratls", &unspent_id, "other-policy"), Ok(false));
    // Our codes are the plugin's: check against `/code` (its expire_time
    // names the step, so there is no race with the clock).
    let resp = node.get(&format!("auth/ratls/totp/{unverified_id}/code"));
    assert_eq!(resp.status, 200, "{resp:?}");
    let current = resp.json()["data"].clone();
    let step = u64::try_from(current["expire_time"].as_i64().expect("expire_time") / totp::PERIOD)
        .expect("step")
        - 1;
    assert_eq!(
        current["code"],
        totp::code(&unverified_id, step),
        "{current}"
    );
    // Verify the next step's code: it stays acceptable (but for the replay
    // record) for 60 to 90 s, long enough for the restart.
    let accepted_step = totp::step_now() + 1;
    let code = totp::code(&verified_id, accepted_step);
    assert_eq!(node.verify("ratls", "verified", &code), Ok(true));
    assert_eq!(
        node.verify("ratls", "verified", &code),
        Ok(false),
        "replay before the restart"
    );
    let root = format!("auth/{}/", node.mount_uuid("ratls"));
    let layout = crate::load::layout(&node, &root);
    let replay_key = layout.last_step_key(&verified_id);
    let record = json!({"last_step": accepted_step}).to_string();
    assert_eq!(
        node.raw_get(&format!("{root}{replay_key}")),
        Some(record.clone()),
        "the replay record"
    );

    // Lock `keep-a` out with five wrong codes: the count is in storage.
    let keep_a = id(&kept[0]);
    let wrong = (0..1_000_000u32)
        .map(|n| format!("{:06}", (n * 7_919 + 13) % 1_000_000))
        .find(|c| {
            let now = totp::step_now();
            (now - 2..=now + 3).all(|s| totp::code(&keep_a, s) != *c)
        })
        .expect("a wrong code");
    for _ in 0..5 {
        assert_eq!(node.verify("ratls", "keep-a", &wrong), Ok(false));
    }
    let locked = |node: &Node, what: &str| {
        let right = totp::code(&keep_a, totp::step_now());
        match node.verify("ratls", "keep-a", &right) {
            Err(failed) if failed.status == 429 => {}
            other => panic!("{what}: keep-a is not locked out: {other:?}"),
        }
    };
    locked(&node, "before the restart");

    let live_data: Vec<&Value> = kept
        .iter()
        .chain([&unspent, &verified, &unverified])
        .collect();
    let live: Vec<String> = live_data.iter().map(|d| id(d)).collect();
    let live_refs: Vec<&str> = live.iter().map(String::as_str).collect();
    let mount_uuid = node.mount_uuid("ratls");
    let stored_before = node.snapshot("ratls");
    let visible_before = visible(&node, &live_refs);
    // An entry (under the accessor its uuid derives) and index key per
    // live entry, one replay record, the mount key and layout record; and
    // one attempt record.
    let mut expected: BTreeSet<String> = live_data
        .iter()
        .flat_map(|data| layout.entry(data).map(|(key, _)| key))
        .collect();
    expected.insert(replay_key.clone());
    expected.extend(["meta/key".to_owned(), "meta/layout".to_owned()]);
    let (attempts, rest): (Vec<&String>, Vec<&String>) = stored_before
        .keys()
        .partition(|k| k.starts_with("attempts/"));
    assert_eq!(
        rest.into_iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "the keys of the live entries, one replay record, the mount key and layout record"
    );
    assert_eq!(attempts.len(), 1, "one attempt record: {stored_before:?}");
    not_found(&node, &spent_id, "redeemed before the restart");

    // Stop (the signal an operator or service manager sends) and start again.
    let old_pid = node.pid().expect("running");
    let stop_time = node.stop(signal);
    let orphans = node.reap_plugins(Duration::from_secs(10));
    if signal != "KILL" {
        assert_eq!(orphans, 0, "plugin processes outlived the stopped server");
    }
    let restart = Instant::now();
    node.start();
    assert_ne!(node.pid(), Some(old_pid));
    let status = node.seal_status();
    assert_eq!(
        (status["initialized"].clone(), status["sealed"].clone()),
        (json!(true), json!(true)),
        "a restarted server is initialised and sealed: {status}"
    );
    node.unseal(&keys);
    node.wait_active();
    let restart_time = restart.elapsed();

    // Storage and what the API shows: exactly as before.
    assert_eq!(node.mount_uuid("ratls"), mount_uuid);
    assert_eq!(
        node.snapshot("ratls"),
        stored_before,
        "stored keys and values"
    );
    assert_eq!(visible(&node, &live_refs), visible_before, "LIST and READ");
    not_found(&node, &spent_id, "redeemed before the restart");

    // Redeem: spent stays spent; the unspent grant is spent exactly once.
    assert_eq!(node.redeem("ratls", &spent_id, "redeem-before"), Ok(false));
    assert_eq!(node.redeem("ratls", &unspent_id, "redeem-after"), Ok(true));
    assert_eq!(node.redeem("ratls", &unspent_id, "redeem-after"), Ok(false));
    not_found(&node, &unspent_id, "redeemed after the restart");

    // The lockout outlived the restart.
    locked(&node, "after the restart");

    // Verify: the code accepted before is refused while still in its window.
    assert_eq!(
        node.verify("ratls", "verified", &code),
        Ok(false),
        "replay after the restart"
    );
    let now_step = totp::step_now();
    assert!(
        now_step <= accepted_step + 1,
        "the restart took so long ({restart_time:?}) that the accepted code left its \
         window (step {accepted_step}, now {now_step}): the refusal proves nothing"
    );
    assert_eq!(
        node.raw_get(&format!("{root}{replay_key}")),
        Some(record),
        "the replay record after the refusal"
    );
    // A fresh code of an entry never verified is accepted, once.
    let fresh = totp::code(&unverified_id, totp::step_now());
    assert_eq!(node.verify("ratls", "verify-after", &fresh), Ok(true));
    assert_eq!(node.verify("ratls", "verify-after", &fresh), Ok(false));
    assert!(
        !node.plugin_pids().is_empty(),
        "the restarted server runs the plugin"
    );

    eprintln!(
        "restart durability (Raft storage, SIG{signal}): server up + init + unseal + plugin in {:.1} s; \
         {} live entries, 1 redeemed, 1 replay record; stopped in {:.2} s; started + unsealed + active in {:.1} s; \
         {} stored keys identical after the restart; plugin processes left running by the dead server: {orphans}",
        up.as_secs_f64(),
        live.len(),
        stop_time.as_secs_f64(),
        restart_time.as_secs_f64(),
        stored_before.len(),
    );
}
