//! Verify resists guessing on a real server: 16 connections sending random
//! codes for 30 s (`RATLS_BRUTE_SECONDS`) against a policy with 5 live
//! entries get exactly `max_failures` codes checked, then 429s; the lockout
//! survives a plugin SIGKILL; a right code is accepted before the limit and
//! again after a (short, configured) lockout ends; operators clear one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::expect;
use crate::harness::{Bao, new_agent, now};

/// A uniformly random 6-digit code.
fn random_code() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let n = u64::from_le_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[8], bytes[9],
    ]);
    format!("{:06}", n % 1_000_000)
}

fn brute_seconds() -> u64 {
    std::env::var("RATLS_BRUTE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

#[test]
fn brute_force_gets_five_codes_checked_and_the_lockout_outlives_the_plugin() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls"]);
    let expiration = now() + 3600;
    let entries: Vec<String> = (0..5)
        .map(|_| {
            expect::create(&bao, "ratls", "brute", expiration)["uuid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();

    // A right code before the limit is accepted.
    let step = u64::try_from(now()).unwrap() / 30;
    let right = expect::reference_code(&entries[0], step);
    let resp = bao.post(
        "auth/ratls/totp/verify",
        &json!({"policy": "brute", "code": right}),
    );
    expect::valid(&resp, true, "a right code");

    // ---- the guesser: 16 connections, random codes ----
    let (checked, accepted, locked, total) = (
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
    );
    let url = format!("{}/v1/auth/ratls/totp/verify", bao.addr);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(brute_seconds());
    std::thread::scope(|scope| {
        for _ in 0..16 {
            let (url, checked, accepted, locked, total) =
                (&url, &checked, &accepted, &locked, &total);
            let token = bao.root_token.clone();
            scope.spawn(move || {
                let agent = new_agent();
                while Instant::now() < deadline {
                    let mut resp = agent
                        .post(url)
                        .header("X-Vault-Token", &token)
                        .send_json(json!({"policy": "brute", "code": random_code()}))
                        .expect("an answer");
                    let status = resp.status().as_u16();
                    let text = resp.body_mut().read_to_string().expect("a body");
                    total.fetch_add(1, Ordering::Relaxed);
                    match status {
                        200 if text.contains(r#""valid":true"#) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                            checked.fetch_add(1, Ordering::Relaxed);
                        }
                        200 => {
                            checked.fetch_add(1, Ordering::Relaxed);
                        }
                        429 => {
                            assert!(text.contains("Too many failed verifications"), "{text}");
                            locked.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => panic!("verify answered {status}: {text}"),
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let (checked, accepted, locked, total) = (
        checked.into_inner(),
        accepted.into_inner(),
        locked.into_inner(),
        total.into_inner(),
    );
    eprintln!(
        "brute force: {total} attempts in {elapsed:.1?} ({:.0}/s) from 16 connections against 5 entries: \
         {checked} codes checked, {accepted} accepted, {locked} refused with 429",
        total as f64 / elapsed.as_secs_f64()
    );
    // Exactly five failures were checked (accepted codes are not failures;
    // one is a 1-in-13,000 chance among the first five), then only 429s.
    assert_eq!(checked - accepted, 5, "failures checked before the lockout");
    assert_eq!(accepted, 0, "a forged code was accepted");
    assert_eq!(locked, total - checked);
    assert!(locked > 0, "the lockout answer appeared");
    let record = bao.get("auth/ratls/lockouts/policy/brute");
    let record = expect::ok_data(&record, "lockout");
    assert_eq!(record["lockouts"], 1, "{record}");
    assert!(record["locked_for"].as_i64().unwrap() > 800, "{record}");

    // The count lives in Vault's storage: a new plugin process still refuses.
    let pid = bao.plugin_pids()[0];
    bao.kill_plugin_and_wait(pid);
    let right = expect::reference_code(&entries[1], u64::try_from(now()).unwrap() / 30);
    let resp = bao.post(
        "auth/ratls/totp/verify",
        &json!({"policy": "brute", "code": right}),
    );
    assert_eq!(resp.status, 429, "after a plugin SIGKILL: {resp:?}");
    assert_ne!(bao.plugin_pids(), [pid], "a new plugin process answered");

    // An operator clears it: the right code is accepted at once.
    expect::deleted(&bao.delete("auth/ratls/lockouts/policy/brute"), "clear");
    let resp = bao.post(
        "auth/ratls/totp/verify",
        &json!({"policy": "brute", "code": right}),
    );
    expect::valid(&resp, true, "after the operator cleared the lockout");
}

#[test]
fn a_right_code_is_accepted_again_when_a_short_lockout_ends() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls"]);
    let resp = bao.put(
        "auth/ratls/config",
        &json!({"max_failures": 3, "lockout": 2, "lockout_max": 4}),
    );
    let config = expect::ok_data(&resp, "config");
    assert_eq!(
        config,
        json!({"max_failures": 3, "window": 86400, "lockout": 2, "lockout_growth": 2, "lockout_max": 4})
    );
    let data = expect::create(&bao, "ratls", "short", now() + 600);
    let id = data["uuid"].as_str().unwrap();
    let step = u64::try_from(now()).unwrap() / 30;
    let wrong = expect::wrong_code(id, step - 2, step + 3);
    for _ in 0..3 {
        let resp = bao.post(
            "auth/ratls/totp/verify",
            &json!({"policy": "short", "code": wrong}),
        );
        expect::valid(&resp, false, "a wrong code");
    }
    let code = || expect::reference_code(id, u64::try_from(now()).unwrap() / 30);
    let resp = bao.post(
        "auth/ratls/totp/verify",
        &json!({"policy": "short", "code": code()}),
    );
    assert_eq!(resp.status, 429, "{resp:?}");
    std::thread::sleep(Duration::from_millis(2_100));
    let resp = bao.post(
        "auth/ratls/totp/verify",
        &json!({"policy": "short", "code": code()}),
    );
    expect::valid(&resp, true, "after the lockout ended");
    // Nonsense limits: 400, nothing changed.
    let resp = bao.put(
        "auth/ratls/config",
        &json!({"lockout": 10, "lockout_max": 5}),
    );
    assert_eq!(resp.status, 400, "{resp:?}");
    assert_eq!(
        resp.json()["errors"],
        json!({"lockout": "exceeds lockout_max"})
    );
    let resp = bao.get("auth/ratls/config");
    assert_eq!(expect::ok_data(&resp, "config"), config);
}
