//! RFC 6238 codes: `totp/<uuid>/code` answers the code of the current step,
//! which an independent implementation (Python's hmac/hashlib, and Rust's
//! hmac/sha1) computes from the uuid alike; `totp/verify` accepts a code of
//! the current, previous or next step once, records the step in storage at
//! `used/<uuid>`, refuses replays (also after the plugin is SIGKILLed) and is
//! not burnt by wrong codes.

use std::process::Command;

use serde_json::{Value, json};

use crate::expect;
use crate::harness::{Bao, Resp, now, python_bin};

/// The codes of `id` for `steps`, computed by Python's standard library.
fn python_codes(id: &str, steps: &[u64]) -> Vec<String> {
    const SCRIPT: &str = "
import hashlib, hmac, struct, sys
secret = sys.argv[1].encode()
for step in sys.argv[2:]:
    digest = hmac.new(secret, struct.pack('>Q', int(step)), hashlib.sha1).digest()
    offset = digest[19] & 15
    value = struct.unpack('>I', digest[offset:offset + 4])[0] & 0x7fffffff
    print('%06d' % (value % 1000000))
";
    let output = Command::new(python_bin())
        .arg("-c")
        .arg(SCRIPT)
        .arg(id)
        .args(steps.iter().map(u64::to_string))
        .output()
        .expect("running python");
    assert!(output.status.success(), "python: {output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn verify(bao: &Bao, policy: &str, code: &str) -> Resp {
    bao.post(
        "auth/ratls/totp/verify",
        &json!({"policy": policy, "code": code}),
    )
}

fn step_now() -> u64 {
    u64::try_from(now()).unwrap() / 30
}

/// A code answer: exactly {code, period: 30, expire_time}, the code being
/// `id`'s code for the step that ends at `expire_time`, a step current
/// between `before` and `after`. Returns the step and the code.
fn code_data(data: &Value, id: &str, before: i64, after: i64) -> (u64, String) {
    let mut fields: Vec<&String> = data.as_object().expect("data object").keys().collect();
    fields.sort_unstable();
    assert_eq!(fields, ["code", "expire_time", "period"], "{data}");
    assert_eq!(data["period"], 30, "{data}");
    let expire_time = data["expire_time"]
        .as_u64()
        .unwrap_or_else(|| panic!("{data}"));
    assert_eq!(expire_time % 30, 0, "expire_time starts a step: {data}");
    let step = expire_time / 30 - 1;
    let (first, last) = (before / 30, after / 30);
    assert!(
        (u64::try_from(first).unwrap()..=u64::try_from(last).unwrap()).contains(&step),
        "step {step} of {data} is not current between {before} and {after}"
    );
    let code = data["code"]
        .as_str()
        .unwrap_or_else(|| panic!("code is a string: {data}"))
        .to_owned();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code:?}"
    );
    assert_eq!(
        code,
        expect::reference_code(id, step),
        "code of step {step}"
    );
    (step, code)
}

#[test]
fn codes_verify_once_and_replays_fail_after_a_plugin_crash() {
    if crate::harness::skip_without_bao() {
        return;
    }
    let bao = Bao::with_plugin(&["ratls"]);
    let expiration = now() + 600;
    let a = expect::create(&bao, "ratls", "code-p", expiration);
    let sibling = expect::create(&bao, "ratls", "code-p", expiration);
    let b = expect::create(&bao, "ratls", "code-q", expiration);
    let a_id = a["uuid"].as_str().unwrap();
    let sibling_id = sibling["uuid"].as_str().unwrap();
    let b_id = b["uuid"].as_str().unwrap();
    let entries = [&a, &sibling, &b];

    // The code over HTTP and the CLI; Python and Rust compute the same.
    let before = now();
    let resp = bao.get(&format!("auth/ratls/totp/{a_id}/code"));
    let (step, code) = code_data(&expect::ok_data(&resp, "read code"), a_id, before, now());
    let python = python_codes(a_id, &[step - 1, step, step + 1]);
    let rust: Vec<String> = [step - 1, step, step + 1]
        .iter()
        .map(|s| expect::reference_code(a_id, *s))
        .collect();
    assert_eq!(python, rust, "Python and Rust agree on the codes of {a_id}");
    assert_eq!(python[1], code, "the plugin's code is Python's");
    let before = now();
    let body = bao.cli_json(&[
        "read",
        "-format=json",
        &format!("auth/ratls/totp/{b_id}/code"),
    ]);
    code_data(&body["data"], b_id, before, now());
    // No code for an unknown uuid (404) or a malformed one (400).
    let unknown = uuid::Uuid::new_v4();
    expect::entry_not_found(
        &bao.get(&format!("auth/ratls/totp/{unknown}/code")),
        "code of an unknown uuid",
    );
    expect::plugin_400(
        &bao.get(&format!("auth/ratls/totp/{}/code", a_id.to_uppercase())),
        &expect::bad_uuid_body(),
        "code of an upper-case uuid",
    );
    // Reading codes writes nothing.
    expect::state_is(&bao, "ratls", &entries, &[], "after reading codes");

    // Malformed codes: 400, nothing written.
    let bad: [(Value, Value); 5] = [
        (
            json!({}),
            json!({
                "statusCode": 400,
                "message": "Invalid request parameters: 'code' is required and must be a string; 'policy' is required and must be a string.",
                "errors": {"code": "Missing required field", "policy": "Missing required field"}
            }),
        ),
        (
            json!({"policy": "code-p", "code": code.parse::<u32>().unwrap()}),
            json!({
                "statusCode": 400,
                "message": "Invalid request parameters: 'code' must be a string.",
                "errors": {"code": "must be a string"}
            }),
        ),
        (
            json!({"policy": "code-p", "code": &code[..5]}),
            six_digits(),
        ),
        (
            json!({"policy": "code-p", "code": format!("{code}0")}),
            six_digits(),
        ),
        (json!({"policy": "code-p", "code": " 12345"}), six_digits()),
    ];
    for (body, answer) in &bad {
        let resp = bao.post("auth/ratls/totp/verify", body);
        expect::plugin_400(&resp, answer, &format!("verify {body}"));
    }
    expect::state_is(&bao, "ratls", &entries, &[], "after malformed codes");

    // Another policy's, or an unknown policy's, entries do not take it.
    expect::valid(&verify(&bao, "code-q", &code), false, "other policy");
    expect::valid(&verify(&bao, "nobody", &code), false, "unknown policy");
    expect::state_is(&bao, "ratls", &entries, &[], "after wrong policies");

    // Read, then verify: true once, with the step recorded; then false.
    expect::valid(&verify(&bao, "code-p", &code), true, "first verify");
    expect::state_is(&bao, "ratls", &entries, &[(a_id, step)], "after verify");
    expect::valid(&verify(&bao, "code-p", &code), false, "the same code again");
    let out = bao.cli_json(&[
        "write",
        "-format=json",
        "auth/ratls/totp/verify",
        "policy=code-p",
        &format!("code={code}"),
    ]);
    assert_eq!(out["data"], json!({"valid": false}), "CLI replay: {out}");
    // The next step's code is still good once; then neither it nor the
    // older step's code is.
    let next = expect::reference_code(a_id, step + 1);
    expect::valid(&verify(&bao, "code-p", &next), true, "next step");
    expect::state_is(&bao, "ratls", &entries, &[(a_id, step + 1)], "next");
    expect::valid(&verify(&bao, "code-p", &next), false, "next step again");
    expect::valid(&verify(&bao, "code-p", &code), false, "older step");
    // The sibling entry of the policy has its own codes and record.
    let sibling_step = step_now();
    let sibling_code = expect::reference_code(sibling_id, sibling_step);
    expect::valid(&verify(&bao, "code-p", &sibling_code), true, "sibling");
    expect::valid(
        &verify(&bao, "code-p", &sibling_code),
        false,
        "sibling again",
    );

    // A wrong code is refused and burns nothing: the right one then works.
    let b_step = step_now();
    let wrong = expect::wrong_code(b_id, b_step - 2, b_step + 3);
    expect::valid(&verify(&bao, "code-q", &wrong), false, "wrong code");
    let replays = [(a_id, step + 1), (sibling_id, sibling_step)];
    expect::state_is(&bao, "ratls", &entries, &replays, "after a wrong code");
    let b_code = expect::reference_code(b_id, b_step);
    expect::valid(&verify(&bao, "code-q", &b_code), true, "right after wrong");
    let replays = [(a_id, step + 1), (sibling_id, sibling_step), (b_id, b_step)];
    expect::state_is(&bao, "ratls", &entries, &replays, "after b's code");

    // SIGKILL the plugin: the records are in storage, so the new process
    // refuses the replays too.
    let pids = bao.plugin_pids();
    assert_eq!(pids.len(), 1, "{pids:?}");
    bao.kill_plugin_and_wait(pids[0]);
    for (policy, replayed) in [
        ("code-p", &next),
        ("code-p", &code),
        ("code-p", &sibling_code),
        ("code-q", &b_code),
    ] {
        expect::valid(
            &verify(&bao, policy, replayed),
            false,
            &format!("replay of {policy} after the crash"),
        );
    }
    let new_pids = bao.plugin_pids();
    assert_eq!(new_pids.len(), 1, "{new_pids:?}");
    assert_ne!(new_pids[0], pids[0], "a new process answered");
    expect::state_is(&bao, "ratls", &entries, &replays, "after the crash");
    let current = step_now();
    for (id, last_step) in replays {
        assert!(
            last_step.abs_diff(current) <= 1,
            "used/{id}: last_step {last_step} is not the current step {current} or adjacent"
        );
    }
    // The new process still accepts a code of a later step: the sibling's
    // next one.
    let later = expect::reference_code(sibling_id, sibling_step + 1);
    expect::valid(
        &verify(&bao, "code-p", &later),
        true,
        "a later step after the crash",
    );
}

fn six_digits() -> Value {
    json!({
        "statusCode": 400,
        "message": "Invalid request parameters: 'code' must be a string of 6 digits.",
        "errors": {"code": "must be 6 digits"}
    })
}
