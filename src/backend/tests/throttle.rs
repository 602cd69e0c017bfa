//! Attempt limits of verify: counting, lockouts, their growth and end, the
//! `config` and `lockouts/` paths, tidy, and exact counts under concurrency.

use super::*;

fn verify(policy: &str, code: &str) -> Value {
    json!({"policy": policy, "code": code})
}

/// A well-formed code that is none of `uuid`'s codes around `NOW`.
fn wrong_code(uuid: &str) -> String {
    let id = EntryId::parse(uuid).unwrap();
    let near: Vec<String> = (-2..=2)
        .map(|k| current_code(&id, NOW + k * 30).code)
        .collect();
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| !near.contains(c))
        .unwrap()
}

fn locked_body(response: &Response, seconds: i64) {
    assert_eq!(response.raw_status(), Some(429), "{response:?}");
    let message = format!(
        "Too many failed verifications: verification is locked for {seconds} more seconds. Nothing was checked."
    );
    assert_eq!(
        response.raw_body().unwrap(),
        json!({"statusCode": 429, "message": message, "errors": [message]})
    );
}

#[tokio::test]
async fn five_failures_lock_the_policy_and_a_right_code_works_again_after() {
    let h = Harness::new();
    let uuid = h.new_entry("p", NOW + 3600).await;
    let wrong = wrong_code(&uuid);
    for _ in 0..5 {
        assert_eq!(
            h.data(Operation::Update, "totp/verify", verify("p", &wrong))
                .await,
            json!({"valid": false})
        );
    }
    // Locked: even the right code is refused, unchecked, and nothing is written.
    let right = current_code(&EntryId::parse(&uuid).unwrap(), NOW).code;
    let keys = h.storage.keys();
    let response = h
        .call(Operation::Update, "totp/verify", verify("p", &right))
        .await
        .unwrap()
        .unwrap();
    locked_body(&response, 900);
    assert_eq!(h.storage.keys(), keys);
    let record = h.storage.get("attempts/policy/70").await.unwrap().unwrap();
    let record: Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(record["lockouts"], 1);
    assert_eq!(record["locked_until"], NOW + 900);
    // Another policy is not affected.
    assert_eq!(
        h.data(Operation::Update, "totp/verify", verify("q", &wrong))
            .await,
        json!({"valid": false})
    );
    // After the lockout, a right code is accepted.
    h.clock.set(NOW + 900);
    let right = current_code(&EntryId::parse(&uuid).unwrap(), NOW + 900).code;
    assert_eq!(
        h.data(Operation::Update, "totp/verify", verify("p", &right))
            .await,
        json!({"valid": true})
    );
    // Five more failures: twice as long.
    for _ in 0..5 {
        h.data(Operation::Update, "totp/verify", verify("p", "000000"))
            .await;
    }
    let response = h
        .call(Operation::Update, "totp/verify", verify("p", "000000"))
        .await
        .unwrap()
        .unwrap();
    locked_body(&response, 1_800);
}

#[tokio::test]
async fn a_code_before_the_limit_is_accepted_and_unknown_scopes_write_nothing() {
    let h = Harness::new();
    let uuid = h.new_entry("p", NOW + 600).await;
    let wrong = wrong_code(&uuid);
    for _ in 0..4 {
        h.data(Operation::Update, "totp/verify", verify("p", &wrong))
            .await;
    }
    let right = current_code(&EntryId::parse(&uuid).unwrap(), NOW).code;
    assert_eq!(
        h.data(Operation::Update, "totp/verify", verify("p", &right))
            .await,
        json!({"valid": true})
    );
    // A policy without entries, or an accessor of none: nothing to guess,
    // nothing counted, nothing written.
    let keys = h.storage.keys();
    for body in [
        verify("no-such-policy", &wrong),
        json!({"policy": "p", "code": wrong, "accessor": "0e9b3f4c-3f1e-4f7a-8d2b-6a1c9e2f4b10"}),
    ] {
        for _ in 0..6 {
            assert_eq!(
                h.data(Operation::Update, "totp/verify", body.clone()).await,
                json!({"valid": false})
            );
        }
    }
    assert_eq!(h.storage.keys(), keys);
}

#[tokio::test]
async fn an_accessor_is_its_own_scope() {
    let h = Harness::new();
    let uuid = h.new_entry("p", NOW + 600).await;
    let accessor = h.accessor(&uuid).await;
    let wrong = wrong_code(&uuid);
    let body = json!({"policy": "p", "code": wrong, "accessor": accessor});
    for _ in 0..5 {
        h.data(Operation::Update, "totp/verify", body.clone()).await;
    }
    let response = h
        .call(Operation::Update, "totp/verify", body)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.raw_status(), Some(429));
    assert!(
        h.storage
            .keys()
            .contains(&format!("attempts/entry/{accessor}"))
    );
    assert!(!h.storage.keys().iter().any(|k| k.contains(&uuid)));
    // The policy's own count is untouched.
    let right = current_code(&EntryId::parse(&uuid).unwrap(), NOW).code;
    assert_eq!(
        h.data(Operation::Update, "totp/verify", verify("p", &right))
            .await,
        json!({"valid": true})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_failures_all_count() {
    let h = Arc::new(Harness::new());
    let uuid = h.new_entry("p", NOW + 600).await;
    h.data(Operation::Update, "config", json!({"max_failures": 1000}))
        .await;
    let wrong = wrong_code(&uuid);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (h, wrong) = (h.clone(), wrong.clone());
            tokio::spawn(async move {
                h.data(Operation::Update, "totp/verify", verify("p", &wrong))
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), json!({"valid": false}));
    }
    let lockouts = h
        .data(Operation::Read, "lockouts/policy/p", Value::Null)
        .await;
    assert_eq!(lockouts["failures"], 50, "{lockouts}");
}

#[tokio::test]
async fn operators_see_and_clear_lockouts() {
    let h = Harness::new();
    let uuid = h.new_entry("ns/app", NOW + 3600).await;
    let wrong = wrong_code(&uuid);
    for _ in 0..5 {
        h.data(Operation::Update, "totp/verify", verify("ns/app", &wrong))
            .await;
    }
    let list = h.data(Operation::List, "lockouts/", Value::Null).await;
    assert_eq!(list["keys"], json!(["policy/ns/app"]));
    assert_eq!(
        list["key_info"]["policy/ns/app"],
        json!({"failures": 0, "lockouts": 1, "locked_until": NOW + 900, "locked_for": 900})
    );
    let read = h
        .data(Operation::Read, "lockouts/policy/ns/app", Value::Null)
        .await;
    assert_eq!(read, list["key_info"]["policy/ns/app"]);
    assert_eq!(
        h.data(Operation::Delete, "lockouts/policy/ns/app", Value::Null)
            .await,
        json!({"deleted": true})
    );
    let right = current_code(&EntryId::parse(&uuid).unwrap(), NOW).code;
    assert_eq!(
        h.data(Operation::Update, "totp/verify", verify("ns/app", &right))
            .await,
        json!({"valid": true})
    );
    assert_eq!(
        h.data(Operation::List, "lockouts/", Value::Null).await,
        json!({})
    );
    let response = h
        .call(
            Operation::Read,
            "lockouts/entry/not-an-accessor",
            Value::Null,
        )
        .await
        .unwrap()
        .unwrap();
    assert_error(&response, 400, json!({"accessor": "must be a UUID"}));
}

#[tokio::test]
async fn config_reads_defaults_and_refuses_nonsense() {
    let h = Harness::new();
    let defaults = json!({"max_failures": 5, "window": 86400, "lockout": 900, "lockout_growth": 2, "lockout_max": 86400});
    assert_eq!(
        h.data(Operation::Read, "config", Value::Null).await,
        defaults
    );
    let keys = h.storage.keys();
    for (body, errors) in [
        (
            json!({"max_failures": 0}),
            json!({"max_failures": "is out of range"}),
        ),
        (
            json!({"max_failures": "five"}),
            json!({"max_failures": "must be an integer"}),
        ),
        (json!({"window": 59}), json!({"window": "is out of range"})),
        (
            json!({"lockout": -1, "lockout_growth": 0}),
            json!({"lockout": "is out of range", "lockout_growth": "is out of range"}),
        ),
        (
            json!({"lockout": 7200, "lockout_max": 3600}),
            json!({"lockout": "exceeds lockout_max"}),
        ),
        (
            json!({"lockout_max": 1.5}),
            json!({"lockout_max": "must be an integer"}),
        ),
    ] {
        let response = h
            .call(Operation::Update, "config", body.clone())
            .await
            .unwrap()
            .unwrap();
        assert_error(&response, 400, errors);
        assert_eq!(h.storage.keys(), keys, "{body} wrote something");
    }
    let set = h
        .data(
            Operation::Update,
            "config",
            json!({"max_failures": "3", "lockout": 60}),
        )
        .await;
    assert_eq!(
        set,
        json!({"max_failures": 3, "window": 86400, "lockout": 60, "lockout_growth": 2, "lockout_max": 86400})
    );
    assert_eq!(h.data(Operation::Read, "config", Value::Null).await, set);
}

#[tokio::test]
async fn tidy_removes_counters_that_can_no_longer_refuse() {
    let h = Harness::new();
    let uuid = h.new_entry("p", NOW + 3600).await;
    h.data(
        Operation::Update,
        "totp/verify",
        verify("p", &wrong_code(&uuid)),
    )
    .await;
    let report = h.data(Operation::Update, "tidy", Value::Null).await;
    assert_eq!(report["attempt_records_removed"], 0);
    h.clock.set(NOW + 86_400);
    let report = h.data(Operation::Update, "tidy", Value::Null).await;
    assert_eq!(report["attempt_records_removed"], 1);
    assert!(!h.storage.keys().iter().any(|k| k.starts_with("attempts/")));
}

/// Locks policy `p` (5 wrong codes) and returns a right code for `NOW`.
async fn lock_policy_p(h: &Harness) -> String {
    let uuid = h.new_entry("p", NOW + 3600).await;
    let wrong = wrong_code(&uuid);
    for _ in 0..5 {
        h.data(Operation::Update, "totp/verify", verify("p", &wrong))
            .await;
    }
    current_code(&EntryId::parse(&uuid).unwrap(), NOW).code
}

async fn verify_p(h: &Harness, code: &str) -> Response {
    h.call(Operation::Update, "totp/verify", verify("p", code))
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_known_lockout_refuses_without_reading_storage_until_it_ends() {
    let h = Harness::new();
    let right = lock_policy_p(&h).await;
    let (reads, writes) = (h.storage.reads(), h.storage.writes());
    for _ in 0..3 {
        locked_body(&verify_p(&h, &right).await, 900);
    }
    h.clock.set(NOW + 899);
    locked_body(&verify_p(&h, &right).await, 1);
    assert_eq!(h.storage.reads(), reads, "refused from memory");
    assert_eq!(h.storage.writes(), writes);
    // The stored lockout ends when memory says it does.
    h.clock.set(NOW + 900);
    let record: Value =
        serde_json::from_slice(&h.storage.get("attempts/policy/70").await.unwrap().unwrap())
            .unwrap();
    assert_eq!(record["locked_until"], NOW + 900);
    let reads = h.storage.reads();
    let response = verify_p(&h, "000000").await;
    assert_eq!(response.raw_status(), None, "{response:?}");
    assert!(
        h.storage.reads() > reads,
        "read storage again after the end"
    );
}

#[tokio::test]
async fn a_restarted_plugin_reads_the_lockout_from_storage_once() {
    let first = Harness::new();
    let right = lock_policy_p(&first).await;
    let h = Harness::with(
        first.storage.clone(),
        ReplicationState::REPLICATION_DISABLED,
    );
    let reads = h.storage.reads();
    locked_body(&verify_p(&h, &right).await, 900);
    let after_first = h.storage.reads();
    assert!(after_first > reads, "the new process read the record");
    locked_body(&verify_p(&h, &right).await, 900);
    assert_eq!(h.storage.reads(), after_first, "then refused from memory");
}

#[tokio::test]
async fn a_lockout_cleared_elsewhere_is_forgotten_when_the_host_invalidates_its_key() {
    let h = Harness::new();
    let right = lock_policy_p(&h).await;
    locked_body(&verify_p(&h, &right).await, 900);
    // Another node clears the lockout: the record leaves the shared storage.
    h.storage.delete("attempts/policy/70").await.unwrap();
    // Until the host says so, memory refuses (more than storage, never less),
    // and other keys' invalidations change nothing.
    locked_body(&verify_p(&h, &right).await, 900);
    h.backend.invalidate("attempts/policy/71");
    h.backend.invalidate("meta/throttle");
    locked_body(&verify_p(&h, &right).await, 900);
    h.backend.invalidate("attempts/policy/70");
    assert_eq!(
        Value::Object(verify_p(&h, &right).await.data),
        json!({"valid": true})
    );
}

#[tokio::test]
async fn a_known_lockout_does_not_wait_for_the_policy_lock() {
    let h = Harness::new();
    let right = lock_policy_p(&h).await;
    locked_body(&verify_p(&h, &right).await, 900);
    // A redeem or a counted verify of the policy holds its lock meanwhile.
    let _held = h.backend.locks.lock("p").await;
    let response = tokio::time::timeout(std::time::Duration::from_secs(5), verify_p(&h, &right))
        .await
        .expect("refused without waiting for the lock");
    locked_body(&response, 900);
}

/// A verify naming an accessor under another policy than the entry's holds
/// another lock than the operator's clear of that entry's lockout, so the
/// two can interleave: a record read before the clear must not be
/// remembered after it.
#[tokio::test]
async fn a_lockout_read_before_a_clear_is_not_remembered_after_it() {
    let first = Harness::new();
    let uuid = first.new_entry("y", NOW + 3600).await;
    let accessor = first.accessor(&uuid).await;
    let wrong = wrong_code(&uuid);
    for _ in 0..5 {
        first
            .data(
                Operation::Update,
                "totp/verify",
                json!({"policy": "y", "code": wrong, "accessor": accessor}),
            )
            .await;
    }
    // Another process on the same data.
    let (backend, _clock) =
        testing::backend_over(first.storage.clone(), StaticSystemView::writable());
    let backend = Arc::new(backend);
    let router = Arc::new(Router::new(INFO.paths).unwrap());
    let call = |operation: Operation, path: String, body: Value| {
        let (backend, router) = (backend.clone(), router.clone());
        async move {
            let data = match body {
                Value::Object(map) => map,
                _ => Map::new(),
            };
            dispatch(
                &*backend,
                &router,
                Request::new(operation, &path).with_data(data),
            )
            .await
            .unwrap()
            .unwrap()
        }
    };
    // The layout is ready before the race.
    call(Operation::List, "totp/".into(), Value::Null).await;
    // Verify with policy x (lock "x") reads the locked record, then its
    // answer is held.
    let held = first.storage.hold_next(HeldCall::Get, "attempts/");
    let verify = tokio::spawn(call(
        Operation::Update,
        "totp/verify".into(),
        json!({"policy": "x", "code": "000000", "accessor": accessor}),
    ));
    held.reached().await;
    // The operator clears the entry's lockout meanwhile (lock "y").
    let cleared = call(
        Operation::Delete,
        format!("lockouts/entry/{accessor}"),
        Value::Null,
    )
    .await;
    assert_eq!(Value::Object(cleared.data), json!({"deleted": true}));
    held.release();
    let refused = verify.await.unwrap();
    assert_eq!(
        refused.raw_status(),
        Some(429),
        "it read the record before the clear"
    );
    // The entry's right code is checked again, not refused from memory.
    let right = current_code(&EntryId::parse(&uuid).unwrap(), NOW).code;
    let response = call(
        Operation::Update,
        "totp/verify".into(),
        json!({"policy": "y", "code": right, "accessor": accessor}),
    )
    .await;
    assert_eq!(response.raw_status(), None, "{response:?}");
    assert_eq!(Value::Object(response.data), json!({"valid": true}));
}
