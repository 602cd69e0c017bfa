//! Concurrent attempts on one grant: 50 redemptions of one uuid, or 50
//! verifications of one code, each on its own connection and released
//! together, have exactly one winner.

use std::sync::Barrier;

use serde_json::{Value, json};

use crate::expect;
use crate::harness::{Bao, Resp, new_agent, now};

const RACERS: usize = 50;

/// `RACERS` threads, each with its own agent (and so its own connection,
/// opened beforehand), POST `body` to `path` at once; their answers.
fn race(bao: &Bao, path: &str, body: &Value) -> Vec<Resp> {
    let barrier = Barrier::new(RACERS);
    let body = body.to_string();
    std::thread::scope(|scope| {
        let racers: Vec<_> = (0..RACERS)
            .map(|_| {
                scope.spawn(|| {
                    let agent = new_agent();
                    let health = bao.request_on(&agent, "GET", "sys/health", None, None);
                    assert_eq!(health.status, 200, "{health:?}");
                    barrier.wait();
                    bao.request_on(&agent, "POST", path, Some(&bao.root_token), Some(&body))
                })
            })
            .collect();
        racers
            .into_iter()
            .map(|racer| racer.join().expect("racer thread"))
            .collect()
    })
}

/// All answers are 200 `{"valid": …}`, exactly one of them true.
fn one_winner(answers: &[Resp], what: &str) {
    assert_eq!(answers.len(), RACERS);
    let verdicts: Vec<bool> = answers
        .iter()
        .map(|resp| {
            let data = expect::ok_data(resp, what);
            let verdict = data["valid"].as_bool();
            assert_eq!(data, json!({"valid": verdict}), "{what}");
            verdict.unwrap_or_else(|| panic!("{what}: {data}"))
        })
        .collect();
    let wins = verdicts.iter().filter(|v| **v).count();
    assert_eq!(wins, 1, "{what}: exactly one of {RACERS} wins");
}

#[test]
fn concurrent_redemptions_and_verifications_have_one_winner() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls"]);
    let expiration = now() + 600;
    // A bystander of the same policy, untouched by the races.
    let bystander = expect::create(&bao, "ratls", "race-p", expiration);

    // Redemptions, three rounds.
    for round in 0..3 {
        let data = expect::create(&bao, "ratls", "race-p", expiration);
        let id = data["uuid"].as_str().unwrap();
        let answers = race(
            &bao,
            "auth/ratls/totp/redeem",
            &json!({"uuid": id, "policy": "race-p"}),
        );
        one_winner(&answers, &format!("redeem round {round}"));
        expect::state_is(
            &bao,
            "ratls",
            &[&bystander],
            &[],
            &format!("after redeem round {round}"),
        );
        expect::entry_not_found(&bao.get(&format!("auth/ratls/totp/{id}")), "read");
    }

    // Verifications of one code, on a mount with two entries of the policy.
    let data = expect::create(&bao, "ratls", "race-p", expiration);
    let other = expect::create(&bao, "ratls", "race-p", expiration);
    let id = data["uuid"].as_str().unwrap();
    let step = u64::try_from(now()).unwrap() / 30;
    let answers = race(
        &bao,
        "auth/ratls/totp/verify",
        &json!({"policy": "race-p", "code": expect::reference_code(id, step)}),
    );
    one_winner(&answers, "verify");
    expect::state_is(
        &bao,
        "ratls",
        &[&bystander, &data, &other],
        &[(id, step)],
        "after the verify race",
    );
}
