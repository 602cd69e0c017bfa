//! Storage layout v3's names, computed from the layout's spec alone (HMAC-
//! SHA256 of the `hmac` and `sha2` crates, not the plugin's code), so that
//! tests can check the keys the plugin writes without asking it how:
//!
//! - `entry/<accessor>`: the entry; an entry made by v0.3.0 (or migrated
//!   from v0.1.0) has the accessor derived from its uuid, [`Names::accessor`];
//! - `accessor-of/<grant id>`: `{"accessor": …}`, only for an entry migrated
//!   from v0.2.x, whose accessor was random;
//! - `index/<hex of the policy>/<grant id>.<sealed uuid>`: empty;
//! - `last-step/<grant id>`: `{"last_step": n}`.
#![allow(dead_code)]

use base64::Engine as _;
use hmac::{Hmac, Mac as _};

type HmacSha256 = Hmac<sha2::Sha256>;

/// The layout record of v3.
pub const LAYOUT_V3: &str = r#"{"version":3}"#;

/// The names a mount key gives an entry's keys.
#[derive(Clone)]
pub struct Names {
    key: [u8; 32],
}

impl Names {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// The names of the mount whose `meta/key` record (`{"key": base64}`)
    /// is `text`.
    pub fn from_record(text: &str) -> Self {
        let record: serde_json::Value = serde_json::from_str(text).expect("meta/key holds JSON");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(record["key"].as_str().expect("meta/key has a key"))
            .expect("meta/key is base64");
        Self::new(<[u8; 32]>::try_from(bytes.as_slice()).expect("a 32-byte mount key"))
    }

    fn tag(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The uuid's 16 bytes (from its canonical text).
    fn uuid_bytes(id: &str) -> [u8; 16] {
        let parsed = uuid::Uuid::parse_str(id).expect("a uuid");
        assert_eq!(parsed.hyphenated().to_string(), id, "a canonical uuid");
        *parsed.as_bytes()
    }

    /// The grant id: lower-hex HMAC-SHA256(key, uuid's canonical text).
    pub fn grant(&self, id: &str) -> String {
        Self::uuid_bytes(id);
        hex(&self.tag(&[id.as_bytes()]))
    }

    /// The sealed uuid: the uuid's bytes XOR the first 16 bytes of
    /// HMAC-SHA256(key, "pad:" ‖ the grant id's 32 raw bytes).
    pub fn sealed(&self, id: &str) -> String {
        let grant = self.tag(&[id.as_bytes()]);
        let pad = self.tag(&[b"pad:", &grant]);
        let sealed: Vec<u8> = Self::uuid_bytes(id)
            .iter()
            .zip(pad)
            .map(|(u, p)| u ^ p)
            .collect();
        hex(&sealed)
    }

    /// The accessor of an entry v0.3.0 made: the first 16 bytes of
    /// HMAC-SHA256(key, "accessor:" ‖ uuid's canonical text) as a UUID with
    /// version 4 and the RFC 4122 variant.
    pub fn accessor(&self, id: &str) -> String {
        Self::uuid_bytes(id);
        let tag = self.tag(&[b"accessor:", id.as_bytes()]);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&tag[..16]);
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        uuid::Uuid::from_bytes(bytes).hyphenated().to_string()
    }

    /// `index/<hex of the policy>/<grant id>.<sealed uuid>`.
    pub fn index_key(&self, policy: &str, id: &str) -> String {
        format!(
            "index/{}/{}.{}",
            hex(policy.as_bytes()),
            self.grant(id),
            self.sealed(id)
        )
    }

    /// The two keys (in storage order) of an entry v0.3.0 made:
    /// `entry/<derived accessor>` and its index key.
    pub fn new_entry_keys(&self, policy: &str, id: &str) -> [String; 2] {
        [entry_key(&self.accessor(id)), self.index_key(policy, id)]
    }

    /// `last-step/<grant id>`.
    pub fn last_step_key(&self, id: &str) -> String {
        format!("last-step/{}", self.grant(id))
    }

    /// `accessor-of/<grant id>`.
    pub fn accessor_of_key(&self, id: &str) -> String {
        format!("accessor-of/{}", self.grant(id))
    }
}

/// `entry/<accessor>`.
pub fn entry_key(accessor: &str) -> String {
    format!("entry/{accessor}")
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn names_follow_the_spec() {
    // Worked by hand from the spec's formulas with Python's hmac module:
    // key = 32 bytes of 7, uuid 1b4e28ba-2fa1-41d2-883f-0016d3cca427.
    let names = Names::new([7; 32]);
    let id = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";
    assert_eq!(names.grant(id), GRANT_OF_7);
    assert_eq!(names.sealed(id), SEALED_OF_7);
    assert_eq!(names.accessor(id), ACCESSOR_OF_7);
    let accessor = uuid::Uuid::parse_str(&names.accessor(id)).unwrap();
    assert_eq!(accessor.get_version_num(), 4);
    assert_eq!(accessor.get_variant(), uuid::Variant::RFC4122);
    assert_eq!(
        names.index_key("a/b", id),
        format!("index/612f62/{GRANT_OF_7}.{SEALED_OF_7}")
    );
}

const GRANT_OF_7: &str = "da06bcb57f34d0797617999ab895d8c7dc76dccfa3d02d4d047f29033663abc0";
const SEALED_OF_7: &str = "b49516029c5afc39684563e31f9ab2cb";
const ACCESSOR_OF_7: &str = "8905e3bf-c428-4daf-b587-60e57ad76ce9";
