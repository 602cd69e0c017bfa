//! RFC 6238 codes as a workload computes them from the uuid (HMAC-SHA1,
//! 6 digits, 30-second steps), written out independently of the plugin.

use hmac::{Hmac, Mac};

use crate::harness::now;

pub const PERIOD: i64 = 30;

/// The step `now` falls in.
pub fn step_now() -> u64 {
    u64::try_from(now() / PERIOD).expect("time after 1970")
}

/// The code of entry `id` for `step`.
pub fn code(id: &str, step: u64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(id.as_bytes()).expect("any key length");
    mac.update(&step.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[19] & 0x0f);
    let binary = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    format!("{:06}", binary % 1_000_000)
}

#[test]
fn rfc_6238_sha1_vector() {
    if crate::harness::skip_without_bao() {
        return;
    }
    // RFC 6238 appendix B: secret "12345678901234567890", T = 59 s → 94287082
    // (8 digits); the 6-digit code is its last six.
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"12345678901234567890").unwrap();
    mac.update(&1u64.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[19] & 0x0f);
    let binary = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    assert_eq!(binary % 100_000_000, 94_287_082);
    assert_eq!(code("12345678901234567890", 1), "287082");
}
