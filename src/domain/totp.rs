//! A TOTP entry: a time-limited, one-time grant allowing updates of one
//! policy, and the rules of its fields.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Accessor, EntryId, MountKey};

/// Longest policy name accepted.
pub const MAX_POLICY_LEN: usize = 128;

/// Why a value was refused: a short phrase for the `errors` map, and a
/// sentence fragment that follows the field's name in `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub short: &'static str,
    pub detail: String,
}

impl Refusal {
    pub(super) fn new(short: &'static str, detail: impl Into<String>) -> Self {
        Self {
            short,
            detail: detail.into(),
        }
    }
}

/// The name of the policy an entry allows updates for: non-empty, at most
/// [`MAX_POLICY_LEN`] characters, no whitespace or control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PolicyName(String);

impl PolicyName {
    pub fn parse(text: &str) -> Result<Self, Refusal> {
        if text.is_empty() {
            return Err(Refusal::new("must not be empty", "must not be empty"));
        }
        if text.chars().count() > MAX_POLICY_LEN {
            return Err(Refusal::new(
                "is too long",
                format!("must be at most {MAX_POLICY_LEN} characters long"),
            ));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Refusal::new(
                "must not contain whitespace or control characters",
                "must not contain whitespace or control characters",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PolicyName {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text).map_err(|p| p.detail)
    }
}

impl From<PolicyName> for String {
    fn from(policy: PolicyName) -> Self {
        policy.0
    }
}

/// Checks that `expiration` (Unix seconds) lies in `(now, now + max_ttl]`.
pub fn check_expiration(expiration: i64, now: i64, max_ttl: Duration) -> Result<i64, Refusal> {
    if expiration <= now {
        return Err(Refusal::new(
            "must be in the future",
            "must be a Unix timestamp in the future",
        ));
    }
    let max_ttl = i64::try_from(max_ttl.as_secs()).unwrap_or(i64::MAX);
    if expiration > now.saturating_add(max_ttl) {
        return Err(Refusal::new(
            "exceeds the mount's max lease TTL",
            format!("must be no later than {max_ttl} seconds from now (the mount's max lease TTL)"),
        ));
    }
    Ok(expiration)
}

/// A stored grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpEntry {
    pub uuid: EntryId,
    pub accessor: Accessor,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds; the entry is void from this second on.
    pub expiration: i64,
    pub policy: PolicyName,
}

impl TotpEntry {
    /// A new entry created at `now` with a fresh uuid, and the accessor
    /// `key` derives from it.
    pub fn new(key: &MountKey, policy: PolicyName, expiration: i64, now: i64) -> Self {
        let uuid = EntryId::generate();
        Self {
            uuid,
            accessor: key.accessor(&uuid),
            created: now,
            expiration,
            policy,
        }
    }

    /// What anyone allowed to see the entry may see: every field but the uuid.
    pub fn public_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        map.insert("accessor".into(), self.accessor.to_string().into());
        map.insert("created".into(), self.created.into());
        map.insert("expiration".into(), self.expiration.into());
        map.insert("policy".into(), self.policy.as_str().into());
        map
    }

    /// The create response: the source API's `{uuid, created, expiration,
    /// policy}` plus the accessor. The only answer that holds the uuid.
    pub fn created_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        map.insert("uuid".into(), self.uuid.to_canonical().into());
        map.extend(self.public_json());
        map
    }

    /// The stored form: the create response's fields (storage values are
    /// encrypted by Vault's barrier and seal-wrapped).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::Value::Object(self.created_json())
            .to_string()
            .into_bytes()
    }

    /// Decodes the stored form.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Whether the grant still holds at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        now < self.expiration
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_table() {
        let max = "p".repeat(MAX_POLICY_LEN);
        let over = "p".repeat(MAX_POLICY_LEN + 1);
        let max_multibyte = "é".repeat(MAX_POLICY_LEN);
        for good in [
            "text",
            "default",
            "ns1/app-writer",
            "a",
            max.as_str(),
            max_multibyte.as_str(),
        ] {
            assert_eq!(PolicyName::parse(good).unwrap().as_str(), good);
        }
        let cases = [
            ("", "must not be empty"),
            (over.as_str(), "is too long"),
            (
                "two words",
                "must not contain whitespace or control characters",
            ),
            (
                "tab\tbed",
                "must not contain whitespace or control characters",
            ),
            (
                "new\nline",
                "must not contain whitespace or control characters",
            ),
            ("nul\0", "must not contain whitespace or control characters"),
            (
                "bell\u{7}",
                "must not contain whitespace or control characters",
            ),
            (
                "nbsp\u{a0}",
                "must not contain whitespace or control characters",
            ),
            (" lead", "must not contain whitespace or control characters"),
        ];
        for (bad, short) in cases {
            assert_eq!(PolicyName::parse(bad).unwrap_err().short, short, "{bad:?}");
        }
    }

    #[test]
    fn expiration_bounds() {
        let now = 1_700_000_000;
        let ttl = Duration::from_secs(3600);
        assert_eq!(check_expiration(now + 1, now, ttl), Ok(now + 1));
        assert_eq!(check_expiration(now + 3600, now, ttl), Ok(now + 3600));
        assert_eq!(
            check_expiration(now, now, ttl).unwrap_err().short,
            "must be in the future"
        );
        assert_eq!(
            check_expiration(0, now, ttl).unwrap_err().short,
            "must be in the future"
        );
        assert_eq!(
            check_expiration(i64::MIN, now, ttl).unwrap_err().short,
            "must be in the future"
        );
        assert_eq!(
            check_expiration(now + 3601, now, ttl).unwrap_err().short,
            "exceeds the mount's max lease TTL"
        );
        assert_eq!(
            check_expiration(i64::MAX, now, ttl).unwrap_err().short,
            "exceeds the mount's max lease TTL"
        );
        // A huge TTL saturates instead of overflowing.
        assert_eq!(check_expiration(i64::MAX, now, Duration::MAX), Ok(i64::MAX));
    }

    #[test]
    fn entries_encode_as_the_documented_fields() {
        let id = EntryId::parse("1b4e28ba-2fa1-41d2-883f-0016d3cca427").unwrap();
        let accessor = Accessor::parse("0e9b3f4c-3f1e-4f7a-8d2b-6a1c9e2f4b10").unwrap();
        let entry = TotpEntry {
            uuid: id,
            accessor,
            created: 10,
            expiration: 20,
            policy: PolicyName::parse("text").unwrap(),
        };
        let json = serde_json::Value::Object(entry.created_json());
        assert_eq!(json, serde_json::to_value(&entry).unwrap());
        assert_eq!(
            json,
            serde_json::json!({"uuid": "1b4e28ba-2fa1-41d2-883f-0016d3cca427", "accessor": "0e9b3f4c-3f1e-4f7a-8d2b-6a1c9e2f4b10", "created": 10, "expiration": 20, "policy": "text"})
        );
        assert_eq!(
            serde_json::Value::Object(entry.public_json()),
            serde_json::json!({"accessor": "0e9b3f4c-3f1e-4f7a-8d2b-6a1c9e2f4b10", "created": 10, "expiration": 20, "policy": "text"})
        );
        let back = TotpEntry::from_json(&entry.to_bytes()).unwrap();
        assert_eq!(back, entry);
        assert!(entry.is_live(19));
        assert!(!entry.is_live(20));
        for broken in [
            serde_json::json!({"uuid": "nope", "created": 10, "expiration": 20, "policy": "text"}),
            serde_json::json!({"uuid": "1b4e28ba-2fa1-41d2-883f-0016d3cca427", "created": 10, "expiration": 20, "policy": ""}),
            serde_json::json!({"uuid": "1b4e28ba-2fa1-41d2-883f-0016d3cca427", "created": 10, "expiration": 20}),
            serde_json::json!({"uuid": "1b4e28ba-2fa1-41d2-883f-0016d3cca427", "created": 10, "expiration": 20, "policy": "text"}),
        ] {
            assert!(serde_json::from_value::<TotpEntry>(broken).is_err());
        }
    }
}
