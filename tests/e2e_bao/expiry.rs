//! Expiry: an entry past its expiration vanishes from list, read, code,
//! redeem and verify at once, stays in storage until `tidy`, and `tidy`
//! removes it with its index key and replay record (and repairs or removes
//! what a crash could leave behind, also the accessor record of an entry
//! migrated from v0.2.x), answering what it did.

use std::time::Duration;

use serde_json::{Value, json};

use crate::expect;
use crate::harness::{Bao, now};

fn list(bao: &Bao, mount: &str) -> crate::harness::Resp {
    bao.get(&format!("auth/{mount}/totp/?list=true"))
}

fn keys(bao: &Bao, mount: &str) -> Value {
    expect::ok_data(&list(bao, mount), "list")["keys"].clone()
}

fn verify(bao: &Bao, mount: &str, policy: &str, code: &str) -> crate::harness::Resp {
    bao.post(
        &format!("auth/{mount}/totp/verify"),
        &json!({"policy": policy, "code": code}),
    )
}

#[test]
fn expired_entries_vanish_at_once_and_tidy_removes_them() {
    if crate::harness::skip_without_bao() {
        return;
    }
    // `ratls` holds one entry, which expires; `second` holds one that
    // expires and one that does not.
    let bao = Bao::with_plugin(&["ratls", "second"]);
    let expiration = now() + 3;
    let lone = expect::create(&bao, "ratls", "exp-p", expiration);
    let gone = expect::create(&bao, "second", "exp-p", expiration);
    let live = expect::create(&bao, "second", "exp-p", now() + 600);
    let lone_id = lone["uuid"].as_str().unwrap();
    let gone_id = gone["uuid"].as_str().unwrap();
    let live_id = live["uuid"].as_str().unwrap();
    // Replay records for the expiring entries and the live one.
    let step = u64::try_from(now()).unwrap() / 30;
    for (mount, id) in [("ratls", lone_id), ("second", gone_id), ("second", live_id)] {
        let code = expect::reference_code(id, step);
        expect::valid(&verify(&bao, mount, "exp-p", &code), true, "verify");
    }

    // Before the expiration: listed (by accessor) and readable.
    let accessor = |data: &Value| data["accessor"].as_str().unwrap().to_owned();
    assert_eq!(keys(&bao, "ratls"), json!([accessor(&lone)]));
    let mut both = vec![accessor(&gone), accessor(&live)];
    both.sort_unstable();
    assert_eq!(keys(&bao, "second"), json!(both));
    for (mount, data) in [("ratls", &lone), ("second", &gone)] {
        let id = data["uuid"].as_str().unwrap();
        let read = expect::ok_data(&bao.get(&format!("auth/{mount}/totp/{id}")), "read");
        assert_eq!(read, expect::public_form(data));
    }
    assert!(
        now() < expiration,
        "the checks of live entries took too long for a {expiration} expiration"
    );

    // Past it: gone from every answer at once.
    while now() < expiration {
        std::thread::sleep(Duration::from_millis(50));
    }
    expect::empty_list(&list(&bao, "ratls"), "list of the lone expired entry");
    let out = bao.cli(&["list", "-format=json", "auth/ratls/totp"]);
    assert_eq!(out.code, Some(2), "bao list of an empty mount: {out:?}");
    assert_eq!(
        keys(&bao, "second"),
        json!([accessor(&live)]),
        "only the live entry"
    );
    for (mount, id) in [("ratls", lone_id), ("second", gone_id)] {
        expect::entry_not_found(&bao.get(&format!("auth/{mount}/totp/{id}")), "read expired");
        expect::entry_not_found(
            &bao.get(&format!("auth/{mount}/totp/{id}/code")),
            "code of expired",
        );
        let code = expect::reference_code(id, u64::try_from(now()).unwrap() / 30 + 1);
        expect::valid(
            &verify(&bao, mount, "exp-p", &code),
            false,
            "verify expired",
        );
        let resp = bao.post(
            &format!("auth/{mount}/totp/redeem"),
            &json!({"uuid": id, "policy": "exp-p"}),
        );
        expect::valid(&resp, false, "redeem expired");
    }
    // ...but still stored, until tidy.
    expect::state_is(&bao, "ratls", &[&lone], &[(lone_id, step)], "before tidy");
    let second_before = [(gone_id, step), (live_id, step)];
    expect::state_is(&bao, "second", &[&gone, &live], &second_before, "before");

    // Tidy with the CLI: the entry goes with its index key and replay
    // record, each counted (an entry this version made has no accessor
    // record).
    let body = bao.cli_json(&["write", "-f", "-format=json", "auth/ratls/tidy"]);
    assert_eq!(
        body["data"],
        expect::tidy_counts([1, 1, 0, 0, 0, 1, 0]),
        "tidy ratls: {body}"
    );
    assert!(body["warnings"].is_null(), "{body}");
    assert!(bao.entry_snapshot("ratls").is_empty(), "ratls after tidy");

    // On `second`, also what a crash could leave: the live entry's index
    // key missing; an index key, accessor record and replay record of no
    // entry; and an entry migrated from v0.2.x (its random accessor kept)
    // whose accessor record is missing.
    let root = format!("auth/{}/", bao.mount_uuid("second"));
    let layout = expect::Layout::of(&bao, "second");
    bao.raw_delete(&format!("{root}{}", layout.index_key("exp-p", live_id)));
    let ghost = uuid::Uuid::new_v4().to_string();
    bao.raw_put(&format!("{root}{}", layout.index_key("exp-p", &ghost)), "");
    bao.raw_put(
        &format!("{root}{}", layout.names().accessor_of_key(&ghost)),
        &json!({"accessor": uuid::Uuid::new_v4().to_string()}).to_string(),
    );
    bao.raw_put(
        &format!("{root}{}", layout.last_step_key(&ghost)),
        &json!({"last_step": step}).to_string(),
    );
    let old_id = uuid::Uuid::new_v4().to_string();
    let old = json!({
        "accessor": uuid::Uuid::new_v4().to_string(),
        "created": now() - 60,
        "expiration": now() + 600,
        "policy": "exp-p",
        "uuid": old_id,
    });
    let [(entry_key, entry), _, (index_key, _)] = layout.migrated_entry(&old);
    bao.raw_put(&format!("{root}{entry_key}"), &entry.to_string());
    bao.raw_put(&format!("{root}{index_key}"), "");
    let resp = bao.post("auth/second/totp/lookup", &json!({"uuid": old_id}));
    expect::entry_not_found(&resp, "a migrated entry without its accessor record");
    let resp = bao.post("auth/second/tidy", &json!({}));
    assert_eq!(
        expect::ok_data(&resp, "tidy second"),
        // The expired entry with its index key and replay record, the
        // ghost's three keys, the live entry's index key and the migrated
        // entry's accessor record restored.
        expect::tidy_counts([1, 2, 1, 1, 1, 2, 0]),
        "tidy second"
    );
    let mut expected = expect::expected_state(&layout, &[&live], &[(live_id, step)]);
    expected.extend(layout.migrated_entry(&old));
    assert_eq!(
        expect::stored_state(&bao, "second"),
        expected,
        "after tidy: the live and the migrated entry"
    );
    // The migrated entry is found by its uuid again, with its accessor.
    let resp = bao.post("auth/second/totp/lookup", &json!({"uuid": old_id}));
    assert_eq!(expect::ok_data(&resp, "lookup"), expect::public_form(&old));
    let old_accessor = old["accessor"].as_str().unwrap();
    let resp = bao.get(&format!("auth/second/totp/accessor/{old_accessor}"));
    assert_eq!(expect::ok_data(&resp, "read"), expect::public_form(&old));
    let resp = bao.delete(&format!("auth/second/totp/{old_id}"));
    expect::deleted(&resp, "delete the migrated entry by uuid");
    // The live entry is untouched: listed, readable, its code still refused
    // as a replay.
    assert_eq!(keys(&bao, "second"), json!([accessor(&live)]));
    let code = expect::reference_code(live_id, step);
    expect::valid(&verify(&bao, "second", "exp-p", &code), false, "replay");
    // A second tidy finds nothing.
    for mount in ["ratls", "second"] {
        let resp = bao.post(&format!("auth/{mount}/tidy"), &json!({}));
        assert_eq!(
            expect::ok_data(&resp, "tidy again"),
            expect::tidy_counts([0; 7]),
            "{mount}"
        );
    }
    assert!(bao.entry_snapshot("ratls").is_empty());
    expect::state_is(&bao, "second", &[&live], &[(live_id, step)], "at the end");
}
