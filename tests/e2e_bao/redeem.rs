//! `totp/redeem` spends a grant exactly once: the first redemption for the
//! entry's policy answers `{"valid": true}` and removes the entry with its
//! index key and replay record; later, unknown, expired and wrong-policy
//! redemptions answer `{"valid": false}` (the last keeping the entry).

use std::time::Duration;

use serde_json::{Value, json};

use crate::expect;
use crate::harness::{Bao, now};

fn redeem(bao: &Bao, id: &str, policy: &str) -> crate::harness::Resp {
    bao.post(
        "auth/ratls/totp/redeem",
        &json!({"uuid": id, "policy": policy}),
    )
}

/// `bao write -format=json auth/ratls/totp/redeem uuid=<id> policy=<policy>`:
/// its `data`.
fn cli_redeem(bao: &Bao, id: &str, policy: &str) -> Value {
    bao.cli_json(&[
        "write",
        "-format=json",
        "auth/ratls/totp/redeem",
        &format!("uuid={id}"),
        &format!("policy={policy}"),
    ])["data"]
        .clone()
}

fn uuid_of(data: &Value) -> &str {
    data["uuid"].as_str().expect("uuid")
}

#[test]
fn redeem_once_wrong_policy_unknown_and_expired() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls"]);
    // First an entry that expires in a few seconds (checked at the end).
    let short = now() + 3;
    let expiring = expect::create(&bao, "ratls", "redeem-p", short);
    let expiring_id = uuid_of(&expiring).to_owned();
    expect::ok_data(
        &bao.get(&format!("auth/ratls/totp/{expiring_id}")),
        "the short entry is live at first",
    );
    let long = now() + 600;
    let a = expect::create(&bao, "ratls", "redeem-p", long);
    let b = expect::create(&bao, "ratls", "redeem-p", long);
    let c = expect::create(&bao, "ratls", "other-p", long);
    let (a_id, b_id, c_id) = (uuid_of(&a), uuid_of(&b), uuid_of(&c));
    let all = [&expiring, &a, &b, &c];
    expect::state_is(&bao, "ratls", &all, &[], "after the creates");

    // Bad input: the documented 400s, nothing written.
    let bad: [(Value, Value); 4] = [
        (
            json!({}),
            json!({
                "statusCode": 400,
                "message": "Invalid request parameters: 'policy' is required and must be a string; 'uuid' is required and must be a string.",
                "errors": {"policy": "Missing required field", "uuid": "Missing required field"}
            }),
        ),
        (
            json!({"uuid": a_id.to_uppercase(), "policy": "redeem-p"}),
            expect::bad_uuid_body(),
        ),
        (
            json!({"uuid": 42, "policy": "redeem-p"}),
            json!({
                "statusCode": 400,
                "message": "Invalid request parameters: 'uuid' must be a string.",
                "errors": {"uuid": "must be a string"}
            }),
        ),
        (
            json!({"uuid": a_id}),
            json!({
                "statusCode": 400,
                "message": "Invalid request parameters: 'policy' is required and must be a string.",
                "errors": {"policy": "Missing required field"}
            }),
        ),
    ];
    for (body, answer) in &bad {
        let resp = bao.post("auth/ratls/totp/redeem", body);
        expect::plugin_400(&resp, answer, &format!("redeem {body}"));
    }
    expect::state_is(&bao, "ratls", &all, &[], "after bad redemptions");

    // Another policy: false, and the entry stays (readable, stored).
    expect::valid(&redeem(&bao, a_id, "other-p"), false, "wrong policy");
    expect::valid(&redeem(&bao, c_id, "redeem-p"), false, "wrong policy");
    assert_eq!(
        expect::ok_data(&bao.get(&format!("auth/ratls/totp/{a_id}")), "read a"),
        expect::public_form(&a)
    );
    expect::state_is(&bao, "ratls", &all, &[], "after wrong-policy redemptions");
    // An unknown uuid: false.
    let unknown = uuid::Uuid::new_v4().to_string();
    expect::valid(&redeem(&bao, &unknown, "redeem-p"), false, "unknown uuid");

    // Give `a` a replay record (by verifying its code), so that all three
    // of its keys are stored when it is redeemed: the entry, its index key
    // and its replay record.
    let step = u64::try_from(now()).unwrap() / 30;
    let resp = bao.post(
        "auth/ratls/totp/verify",
        &json!({"policy": "redeem-p", "code": expect::reference_code(a_id, step)}),
    );
    expect::valid(&resp, true, "verify a's code");
    let layout = expect::Layout::of(&bao, "ratls");
    let a_keys: Vec<String> = [
        layout.entry_key(a_id),
        layout.index_key("redeem-p", a_id),
        layout.last_step_key(a_id),
    ]
    .into_iter()
    .filter(|k| bao.entry_snapshot("ratls").contains_key(k))
    .collect();
    assert_eq!(a_keys.len(), 3, "a's keys before redeeming: {a_keys:?}");
    expect::state_is(&bao, "ratls", &all, &[(a_id, step)], "before redeeming a");

    // Once: true, and nothing of `a` is left.
    expect::valid(&redeem(&bao, a_id, "redeem-p"), true, "first redemption");
    let rest = [&expiring, &b, &c];
    expect::state_is(&bao, "ratls", &rest, &[], "after redeeming a");
    assert!(
        bao.snapshot("ratls").keys().all(|k| !k.contains(a_id)),
        "a key of the redeemed entry is left"
    );
    expect::entry_not_found(&bao.get(&format!("auth/ratls/totp/{a_id}")), "read a");
    expect::entry_not_found(
        &bao.get(&format!("auth/ratls/totp/{a_id}/code")),
        "code of a",
    );
    let resp = bao.post(
        "auth/ratls/totp/verify",
        &json!({"policy": "redeem-p", "code": expect::reference_code(a_id, step + 1)}),
    );
    expect::valid(&resp, false, "verify a's next code after redeeming");
    // Twice: false, over HTTP and with the CLI; and with the right policy
    // after a wrong one.
    expect::valid(&redeem(&bao, a_id, "redeem-p"), false, "second redemption");
    assert_eq!(cli_redeem(&bao, a_id, "redeem-p"), json!({"valid": false}));
    assert_eq!(cli_redeem(&bao, b_id, "redeem-p"), json!({"valid": true}));
    assert_eq!(cli_redeem(&bao, b_id, "redeem-p"), json!({"valid": false}));
    expect::valid(
        &redeem(&bao, c_id, "other-p"),
        true,
        "c after a wrong policy",
    );
    expect::valid(&redeem(&bao, c_id, "other-p"), false, "c again");
    expect::state_is(&bao, "ratls", &[&expiring], &[], "after redeeming b and c");

    // Expired: false, though it is still stored (until tidy).
    while now() < short {
        std::thread::sleep(Duration::from_millis(50));
    }
    expect::valid(
        &redeem(&bao, &expiring_id, "redeem-p"),
        false,
        "expired entry",
    );
    expect::entry_not_found(
        &bao.get(&format!("auth/ratls/totp/{expiring_id}")),
        "read the expired entry",
    );
    expect::state_is(
        &bao,
        "ratls",
        &[&expiring],
        &[],
        "an expired entry stays stored until tidy",
    );
}
