//! The plugin holds no state: after a SIGKILL OpenBao starts it again on the
//! next request, and entries made before are still there.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::expect;
use crate::harness::{Bao, now};

#[test]
fn plugin_crash_is_recovered_and_storage_survives() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls"]);
    let expiration = now() + 600;
    let before = now();
    let resp = bao.put(
        "auth/ratls/totp",
        &json!({"policy": "before-crash", "expiration": expiration}),
    );
    let old = expect::created(&resp, "before-crash", expiration, before, None);
    expect::stored(&bao, "ratls", &old);

    let pids = bao.plugin_pids();
    assert_eq!(pids.len(), 1, "one plugin process for one mount: {pids:?}");
    let victim = pids[0];
    assert!(Bao::signal(victim, "KILL"), "kill -KILL {victim}");
    // Wait until the server has noticed: go-plugin logs the exit and then
    // marks the client shut down, which makes OpenBao respawn the plugin on
    // the next request. (A request racing the crash, before that, fails with
    // 500 "rpc error: code = Unavailable ... connection refused".)
    let exited = format!(
        "plugin process exited: plugin={} id={victim} error=\"signal: killed\"",
        bao.plugin_path().display()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !bao.log().contains(&exited) || bao.plugin_pids().contains(&victim) {
        assert!(
            Instant::now() < deadline,
            "the server did not notice the crash of {victim}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));

    // The very next request is served by a new process.
    let before = now();
    let resp = bao.put(
        "auth/ratls/totp",
        &json!({"policy": "after-crash", "expiration": expiration}),
    );
    let new = expect::created(&resp, "after-crash", expiration, before, None);
    expect::stored(&bao, "ratls", &new);
    let pids = bao.plugin_pids();
    assert_eq!(pids.len(), 1, "{pids:?}");
    assert_ne!(pids[0], victim, "a new process serves the mount");
    assert!(
        bao.log()
            .contains(&format!("id={victim} error=\"signal: killed\"")),
        "the server logged the crash"
    );

    // The entry made before the crash survived and can be deleted.
    expect::stored(&bao, "ratls", &old);
    let old_id = old["uuid"].as_str().unwrap();
    expect::deleted(
        &bao.delete(&format!("auth/ratls/totp/{old_id}")),
        "delete after crash",
    );
    assert_eq!(bao.stored_entry("ratls", old_id), None);
    expect::storage_holds(&bao, "ratls", &[&new]);
}
