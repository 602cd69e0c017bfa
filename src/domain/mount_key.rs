//! The mount's secret key, and what it derives: storage names for entries
//! that reveal nothing of their uuids.
//!
//! - A [`GrantId`] is HMAC-SHA256(key, uuid's canonical text): entries are
//!   stored under it, so a storage key never holds a uuid (Vault's barrier
//!   encrypts values, not keys, which sit in clear in Raft snapshots and
//!   backups).
//! - A [`SealedId`] is the uuid's 16 bytes XOR the first 16 bytes of
//!   HMAC-SHA256(key, "pad:" ‖ grant id): the policy index keeps it in its
//!   key, so `verify` can compute every entry's codes from one storage list.
//!   Opening it checks that the result hashes back to the grant id, so a
//!   forged or mismatched index key opens to nothing. (This is SIV-style
//!   deterministic encryption: the grant id is the synthetic IV.)
//! - An entry's [`Accessor`] is the first 16 bytes of HMAC-SHA256(key,
//!   "accessor:" ‖ uuid's canonical text) in the form of a random (v4) UUID:
//!   whoever holds the uuid finds the entry where whoever holds the accessor
//!   does, with one storage read, and the accessor tells nothing of the uuid.
//!
//! Without the key, which lives only in a storage value, neither reveals
//! anything about the uuid.

use std::fmt;

use aws_lc_rs::{constant_time, hmac, rand};

use super::{Accessor, EntryId};

/// Bytes in a mount key.
pub const KEY_LEN: usize = 32;
const PAD_LABEL: &[u8] = b"pad:";
const ACCESSOR_LABEL: &[u8] = b"accessor:";

/// The mount's 32-byte secret: made once, on the first write, and kept in
/// the mount's (seal-wrapped) storage.
#[derive(Clone)]
pub struct MountKey {
    bytes: [u8; KEY_LEN],
    hmac: hmac::Key,
}

impl MountKey {
    /// A fresh key from the operating system's CSPRNG; `None` if it fails.
    pub fn generate() -> Option<Self> {
        let mut bytes = [0u8; KEY_LEN];
        rand::fill(&mut bytes).ok()?;
        Some(Self::from_array(bytes))
    }

    /// The key with these bytes; `None` unless there are exactly [`KEY_LEN`].
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; KEY_LEN]>::try_from(bytes).ok().map(Self::from_array)
    }

    fn from_array(bytes: [u8; KEY_LEN]) -> Self {
        Self {
            hmac: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
            bytes,
        }
    }

    /// The raw bytes, to store.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// The name of the uuid `id`'s records (index key, last step).
    pub fn grant_id(&self, id: &EntryId) -> GrantId {
        let mut text = uuid::Uuid::encode_buffer();
        GrantId(self.tag(&[canonical(id, &mut text)]))
    }

    /// The accessor of a new entry whose uuid is `id`.
    pub fn accessor(&self, id: &EntryId) -> Accessor {
        let mut text = uuid::Uuid::encode_buffer();
        let tag = self.tag(&[ACCESSOR_LABEL, canonical(id, &mut text)]);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&tag[..16]);
        Accessor::from_derived_bytes(bytes)
    }

    /// `id` sealed for the policy index, next to its grant id.
    pub fn seal(&self, id: &EntryId) -> (GrantId, SealedId) {
        let grant = self.grant_id(id);
        let sealed = xor(id.as_bytes(), &self.pad(&grant));
        (grant, SealedId(sealed))
    }

    /// The uuid sealed in `sealed`, if it is the one `grant` names.
    pub fn open(&self, grant: &GrantId, sealed: &SealedId) -> Option<EntryId> {
        let id = EntryId::from_bytes(xor(&sealed.0, &self.pad(grant)))?;
        constant_time::verify_slices_are_equal(&self.grant_id(&id).0, &grant.0).ok()?;
        Some(id)
    }

    fn pad(&self, grant: &GrantId) -> [u8; 16] {
        let tag = self.tag(&[PAD_LABEL, &grant.0]);
        let mut pad = [0u8; 16];
        pad.copy_from_slice(&tag[..16]);
        pad
    }

    fn tag(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut context = hmac::Context::with_key(&self.hmac);
        for part in parts {
            context.update(part);
        }
        let mut tag = [0u8; 32];
        tag.copy_from_slice(context.sign().as_ref());
        tag
    }
}

impl fmt::Debug for MountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MountKey(<redacted>)")
    }
}

/// `id`'s canonical text, the form every derivation hashes.
fn canonical<'b>(id: &EntryId, buffer: &'b mut [u8; 45]) -> &'b [u8] {
    uuid::Uuid::from_bytes(*id.as_bytes())
        .hyphenated()
        .encode_lower(buffer)
        .as_bytes()
}

fn xor(a: &[u8; 16], b: &[u8; 16]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = x ^ y;
    }
    out
}

/// An entry's storage name: 64 lower-case hex characters. No secret.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantId([u8; 32]);

impl GrantId {
    /// Parses the 64-character lower-case hex form.
    pub fn parse(text: &str) -> Option<Self> {
        parse_hex(text).map(Self)
    }
}

impl fmt::Display for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GrantId({self})")
    }
}

/// A uuid sealed under the mount key: 32 lower-case hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SealedId([u8; 16]);

impl SealedId {
    /// Parses the 32-character lower-case hex form.
    pub fn parse(text: &str) -> Option<Self> {
        parse_hex(text).map(Self)
    }
}

impl fmt::Display for SealedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// Exactly `N` bytes of lower-case hex, so every value has one spelling.
fn parse_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut bytes = [0u8; N];
    hex::decode_to_slice(text, &mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::hmac::Mac as _;

    type HmacSha256 = ::hmac::Hmac<sha2::Sha256>;

    const ID: &str = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";

    fn key() -> MountKey {
        MountKey::from_bytes(&[7u8; 32]).unwrap()
    }

    #[test]
    fn grant_id_is_hmac_sha256_of_the_canonical_text() {
        let mut oracle = HmacSha256::new_from_slice(&[7u8; 32]).unwrap();
        oracle.update(ID.as_bytes());
        let expected = hex::encode(oracle.finalize().into_bytes());
        let grant = key().grant_id(&EntryId::parse(ID).unwrap());
        assert_eq!(grant.to_string(), expected);
        assert_eq!(GrantId::parse(&expected), Some(grant));
    }

    #[test]
    fn accessor_is_the_hmac_of_the_labelled_uuid_as_a_v4_uuid() {
        let mut oracle = HmacSha256::new_from_slice(&[7u8; 32]).unwrap();
        oracle.update(b"accessor:");
        oracle.update(ID.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&oracle.finalize().into_bytes()[..16]);
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let id = EntryId::parse(ID).unwrap();
        let accessor = key().accessor(&id);
        assert_eq!(
            accessor.to_string(),
            uuid::Uuid::from_bytes(bytes).to_string()
        );
        assert_eq!(
            uuid::Uuid::parse_str(&accessor.to_string())
                .unwrap()
                .get_version_num(),
            4
        );
        assert_eq!(Accessor::parse(&accessor.to_string()), Ok(accessor));
        // Another key, another accessor; neither shows the uuid.
        let other = MountKey::from_bytes(&[8u8; 32]).unwrap().accessor(&id);
        assert_ne!(other, accessor);
        assert!(!accessor.to_string().contains(&ID[..8]));
        assert_ne!(key().accessor(&EntryId::generate()), accessor);
    }

    #[test]
    fn sealed_ids_open_only_with_their_grant_and_key() {
        let id = EntryId::parse(ID).unwrap();
        let (grant, sealed) = key().seal(&id);
        assert_eq!(key().open(&grant, &sealed), Some(id));
        assert_eq!(SealedId::parse(&sealed.to_string()), Some(sealed));
        // Neither form shows the uuid.
        let hex_id = ID.replace('-', "");
        for text in [grant.to_string(), sealed.to_string()] {
            assert!(!text.contains(&hex_id));
        }
        let other = MountKey::from_bytes(&[8u8; 32]).unwrap();
        assert_eq!(other.open(&grant, &sealed), None);
        let (other_grant, _) = key().seal(&EntryId::generate());
        assert_eq!(key().open(&other_grant, &sealed), None);
        let mut flipped = sealed.0;
        flipped[0] ^= 1;
        assert_eq!(key().open(&grant, &SealedId(flipped)), None);
    }

    #[test]
    fn keys_are_random_and_exactly_32_bytes() {
        let a = MountKey::generate().unwrap();
        let b = MountKey::generate().unwrap();
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert!(MountKey::from_bytes(&[0u8; 31]).is_none());
        assert_eq!(format!("{a:?}"), "MountKey(<redacted>)");
    }

    #[test]
    fn hex_forms_are_canonical() {
        assert!(GrantId::parse(&"ab".repeat(32)).is_some());
        for bad in [
            "AB".repeat(32),
            "ab".repeat(31),
            "zz".repeat(32),
            String::new(),
        ] {
            assert!(GrantId::parse(&bad).is_none(), "{bad}");
        }
        assert!(SealedId::parse(&"0f".repeat(16)).is_some());
        assert!(SealedId::parse(&"0F".repeat(16)).is_none());
    }
}
