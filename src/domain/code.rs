//! RFC 6238 codes for an entry: HMAC-SHA1, 6 digits, 30-second steps, ±1 step
//! of skew. The shared secret is the entry's uuid in canonical text, so a
//! workload holding the uuid computes codes with any RFC 6238 library.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Builder, Secret, Totp};

use super::{EntryId, PolicyName};

/// Seconds per step.
pub const PERIOD: u64 = 30;
/// Digits per code.
pub const DIGITS: u8 = 6;
/// Steps accepted on either side of the current one.
pub const SKEW: u16 = 1;
/// Issuer shown by authenticator apps for `otpauth://` URLs.
const ISSUER: &str = "Nitride";

fn totp(id: &EntryId) -> Totp {
    // The parameters are constants within RFC limits (checked by a test via
    // `build`), so the unchecked builder cannot produce a panicking Totp.
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_skew(SKEW)
        .with_step_duration(PERIOD)
        .with_secret(id.to_canonical().into_bytes())
        .build_noncompliant()
}

fn unix(now: i64) -> u64 {
    u64::try_from(now).unwrap_or(0)
}

/// A code and the second from which it is no longer current.
#[derive(Clone, PartialEq, Eq)]
pub struct CurrentCode {
    pub code: String,
    /// Unix seconds at which the next step begins.
    pub expire_time: i64,
}

impl std::fmt::Debug for CurrentCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentCode")
            .field("code", &"<redacted>")
            .field("expire_time", &self.expire_time)
            .finish()
    }
}

/// The code for `id` at `now`.
pub fn current_code(id: &EntryId, now: i64) -> CurrentCode {
    let totp = totp(id);
    let now = unix(now);
    CurrentCode {
        code: totp.generate(now).to_string(),
        expire_time: i64::try_from(totp.next_step(now)).unwrap_or(i64::MAX),
    }
}

/// The step whose code `code` is, within ±[`SKEW`] of `now`'s step; `None`
/// when it matches none. Compares in constant time.
pub fn matching_step(id: &EntryId, code: &str, now: i64) -> Option<u64> {
    totp(id).check(code, unix(now))
}

/// What a URL label keeps unescaped: RFC 3986's unreserved characters.
const LABEL_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// An `otpauth://totp/…` URL (Google Authenticator's Key Uri Format)
/// carrying the same secret, for authenticator apps. Defaults (SHA1, 6
/// digits, 30 s) are left out, as apps assume them.
pub fn otpauth_url(id: &EntryId, policy: &PolicyName) -> String {
    // A label may not contain ':'; policy names may.
    let account = policy.as_str().replace(':', "_");
    let account = utf8_percent_encode(&account, LABEL_ESCAPED);
    let secret = Secret::new(id.to_canonical().into_bytes().into_boxed_slice()).to_base32();
    format!("otpauth://totp/{ISSUER}:{account}?secret={secret}&issuer={ISSUER}")
}

/// Whether `code` has the shape of a code (six ASCII digits). Anything else
/// is bad input rather than a wrong code.
pub fn is_well_formed(code: &str) -> bool {
    code.len() == usize::from(DIGITS) && code.bytes().all(|b| b.is_ascii_digit())
}

/// The last step accepted for an entry. Steps at or before it are refused,
/// so a code is never accepted twice, nor an older one after a newer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRecord {
    pub last_step: u64,
}

impl ReplayRecord {
    /// Whether `step` may still be accepted after this record.
    pub fn admits(record: Option<&Self>, step: u64) -> bool {
        record.is_none_or(|r| step > r.last_step)
    }

    /// Whether the record can no longer refuse anything at `now`: every step
    /// it covers has left the skew window.
    pub fn is_stale(&self, now: i64) -> bool {
        let oldest_acceptable = (unix(now) / PERIOD).saturating_sub(u64::from(SKEW));
        self.last_step < oldest_acceptable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    const ID: &str = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";

    fn id() -> EntryId {
        EntryId::parse(ID).unwrap()
    }

    /// RFC 4226 HOTP written out with hmac + sha1, as an independent oracle.
    fn reference(secret: &[u8], counter: u64, digits: u32) -> String {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
        mac.update(&counter.to_be_bytes());
        let hash = mac.finalize().into_bytes();
        let offset = usize::from(hash[19] & 0x0f);
        let value = u32::from_be_bytes([
            hash[offset] & 0x7f,
            hash[offset + 1],
            hash[offset + 2],
            hash[offset + 3],
        ]);
        format!(
            "{:0width$}",
            value % 10u32.pow(digits),
            width = digits as usize
        )
    }

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        // Secret "12345678901234567890", 8 digits, T0 = 0, X = 30.
        let secret = b"12345678901234567890".to_vec();
        let totp = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(8)
            .with_step_duration(30)
            .with_secret(secret.clone())
            .build()
            .unwrap();
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, code) in vectors {
            assert_eq!(totp.generate(time).to_string(), code, "T={time}");
            assert_eq!(
                reference(&secret, time / 30, 8),
                code,
                "reference at T={time}"
            );
        }
    }

    #[test]
    fn parameters_are_rfc_compliant() {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(SKEW)
            .with_step_duration(PERIOD)
            .with_secret(ID.as_bytes().to_vec())
            .build()
            .unwrap();
    }

    /// The URLs v0.2.0 answered (made by totp-rs's `to_url` then), byte for
    /// byte, and the same secret as the codes.
    #[test]
    fn otpauth_urls_are_unchanged_and_carry_the_code_secret() {
        let golden = [
            ("text", "text"),
            ("ns/app", "ns%2Fapp"),
            ("a:b", "a_b"),
            ("sp%ce&x=y?#+", "sp%25ce%26x%3Dy%3F%23%2B"),
            ("日本", "%E6%97%A5%E6%9C%AC"),
            ("a.b-c_d~e", "a.b-c_d~e"),
            ("Ünï@x", "%C3%9Cn%C3%AF%40x"),
        ];
        let secret = "GFRDIZJSHBRGCLJSMZQTCLJUGFSDELJYHAZWMLJQGAYTMZBTMNRWCNBSG4";
        for (policy, label) in golden {
            let url = otpauth_url(&id(), &PolicyName::parse(policy).unwrap());
            assert_eq!(
                url,
                format!("otpauth://totp/Nitride:{label}?secret={secret}&issuer=Nitride")
            );
        }
        let decoded = Secret::try_from_base32(secret).unwrap();
        assert_eq!(decoded.as_bytes(), ID.as_bytes());
    }

    #[test]
    fn codes_use_the_uuid_text_as_secret() {
        let now = 1_800_000_015;
        let code = current_code(&id(), now);
        assert_eq!(code.code, reference(ID.as_bytes(), 1_800_000_015 / 30, 6));
        assert_eq!(code.expire_time, 1_800_000_030);
        assert!(is_well_formed(&code.code));
        assert_eq!(
            format!("{code:?}"),
            "CurrentCode { code: \"<redacted>\", expire_time: 1800000030 }"
        );
    }

    #[test]
    fn skew_window_edges() {
        let step = 60_000_000u64;
        let now = (step * 30 + 29) as i64; // last second of `step`
        let code_at = |s: u64| reference(ID.as_bytes(), s, 6);
        assert_eq!(matching_step(&id(), &code_at(step), now), Some(step));
        assert_eq!(
            matching_step(&id(), &code_at(step - 1), now),
            Some(step - 1)
        );
        assert_eq!(
            matching_step(&id(), &code_at(step + 1), now),
            Some(step + 1)
        );
        assert_eq!(matching_step(&id(), &code_at(step - 2), now), None);
        assert_eq!(matching_step(&id(), &code_at(step + 2), now), None);
        // One second later the window has moved on by one step.
        assert_eq!(matching_step(&id(), &code_at(step - 1), now + 1), None);
        assert_eq!(
            matching_step(&id(), &code_at(step + 2), now + 1),
            Some(step + 2)
        );
        for junk in ["", "12345", "1234567", "12a456", "+12345", " 12345"] {
            assert_eq!(matching_step(&id(), junk, now), None, "{junk:?}");
            assert!(!is_well_formed(junk), "{junk:?}");
        }
    }

    #[test]
    fn replay_records_refuse_used_and_older_steps() {
        assert!(ReplayRecord::admits(None, 5));
        let record = ReplayRecord { last_step: 10 };
        assert!(!ReplayRecord::admits(Some(&record), 9));
        assert!(!ReplayRecord::admits(Some(&record), 10));
        assert!(ReplayRecord::admits(Some(&record), 11));
        // At step 11 (skew 1) step 10 is still acceptable, so the record matters.
        assert!(!record.is_stale(11 * 30));
        assert!(!record.is_stale(11 * 30 + 29));
        // From step 12 on, step 10 has left the window.
        assert!(record.is_stale(12 * 30));
    }

    #[test]
    fn otpauth_url_carries_the_secret() {
        let url = otpauth_url(&id(), &PolicyName::parse("ns:app").unwrap());
        assert!(url.starts_with("otpauth://totp/Nitride:ns_app?"), "{url}");
        let parsed = Totp::from_url(&url).unwrap();
        assert_eq!(parsed.secret().as_ref(), ID.as_bytes());
        assert_eq!(parsed.digits(), 6);
        assert_eq!(parsed.step(), 30);
    }
}
