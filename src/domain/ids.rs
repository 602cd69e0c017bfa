//! The two names of an entry. Its uuid is the grant itself, a secret: kept
//! out of `Debug` output, logs and every answer but the create response. Its
//! accessor names it for operators and is no secret.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Refusal;

/// A random (v4) UUID in canonical form, or why `text` is not one.
fn parse_canonical(text: &str) -> Result<Uuid, Refusal> {
    let invalid = || {
        Refusal::new(
            "must be a UUID",
            "must be a UUID in canonical form (36 lower-case hexadecimal characters and hyphens)",
        )
    };
    let uuid = Uuid::try_parse(text).map_err(|_| invalid())?;
    let mut canonical = Uuid::encode_buffer();
    if uuid.hyphenated().encode_lower(&mut canonical) != text {
        return Err(invalid());
    }
    Ok(uuid)
}

/// An entry's uuid: a random (v4) UUID in canonical lower-case hyphenated form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EntryId(Uuid);

impl EntryId {
    /// A fresh id from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }

    /// Accepts only the canonical form (36 characters, lower-case hex,
    /// hyphens at 8-4-4-4-12), so that every id has exactly one spelling and
    /// one storage key.
    pub fn parse(text: &str) -> Result<Self, Refusal> {
        parse_canonical(text).map(Self)
    }

    /// The 16 bytes of the UUID.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// The id with these 16 bytes, if they are a v4 UUID.
    pub fn from_bytes(bytes: [u8; 16]) -> Option<Self> {
        let uuid = Uuid::from_bytes(bytes);
        (uuid.get_version_num() == 4).then_some(Self(uuid))
    }

    /// The canonical text.
    pub fn to_canonical(&self) -> String {
        self.0.hyphenated().to_string()
    }
}

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EntryId(<redacted>)")
    }
}

impl TryFrom<String> for EntryId {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text).map_err(|p| p.detail)
    }
}

impl From<EntryId> for String {
    fn from(id: EntryId) -> Self {
        id.to_canonical()
    }
}

/// An entry's accessor: a UUID in the random (v4) form that names the entry
/// in lists, operator paths and logs. Since v0.3.0 the mount key derives it
/// from the uuid ([`crate::domain::MountKey::accessor`]); entries made by
/// v0.2.x have a random one. Knowing it grants nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Accessor(Uuid);

impl Accessor {
    /// A random accessor, as v0.2.x made them (the plugin now derives each
    /// one: [`crate::domain::MountKey::accessor`]).
    #[cfg(test)]
    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }

    /// The accessor whose 122 free bits are `bytes`' (a keyed hash's output),
    /// with the version and variant bits of a v4 UUID.
    pub(super) fn from_derived_bytes(bytes: [u8; 16]) -> Self {
        Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }

    /// Accepts only the canonical form, as [`EntryId::parse`].
    pub fn parse(text: &str) -> Result<Self, Refusal> {
        parse_canonical(text).map(Self)
    }
}

impl fmt::Display for Accessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl TryFrom<String> for Accessor {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text).map_err(|p| p.detail)
    }
}

impl From<Accessor> for String {
    fn from(accessor: Accessor) -> Self {
        accessor.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_are_canonical_v4() {
        let id = EntryId::generate();
        let text = id.to_canonical();
        assert_eq!(text.len(), 36);
        assert_eq!(EntryId::parse(&text), Ok(id));
        assert_eq!(Uuid::parse_str(&text).unwrap().get_version_num(), 4);
        assert_ne!(EntryId::generate(), id);
        assert_eq!(format!("{id:?}"), "EntryId(<redacted>)");
    }

    #[test]
    fn entry_id_parse_table() {
        let good = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";
        assert!(EntryId::parse(good).is_ok());
        for bad in [
            "",
            "text",
            "{totp-uuid}",
            "1B4E28BA-2FA1-41D2-883F-0016D3CCA427",
            "{1b4e28ba-2fa1-41d2-883f-0016d3cca427}",
            "1b4e28ba2fa141d2883f0016d3cca427",
            "urn:uuid:1b4e28ba-2fa1-41d2-883f-0016d3cca427",
            "1b4e28ba-2fa1-41d2-883f-0016d3cca427 ",
            "1b4e28ba-2fa1-41d2-883f-0016d3cca42",
            "1b4e28ba-2fa1-41d2-883f-0016d3cca4277",
            "gb4e28ba-2fa1-41d2-883f-0016d3cca427",
        ] {
            assert_eq!(
                EntryId::parse(bad).unwrap_err().short,
                "must be a UUID",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn accessors_are_canonical_v4_and_independent() {
        let accessor = Accessor::generate();
        let text = accessor.to_string();
        assert_eq!(Accessor::parse(&text), Ok(accessor));
        assert_eq!(Uuid::parse_str(&text).unwrap().get_version_num(), 4);
        assert_ne!(Accessor::generate(), accessor);
        assert_eq!(
            Accessor::parse("1B4E28BA-2FA1-41D2-883F-0016D3CCA427")
                .unwrap_err()
                .short,
            "must be a UUID"
        );
    }

    #[test]
    fn entry_ids_round_trip_through_bytes() {
        let id = EntryId::generate();
        assert_eq!(EntryId::from_bytes(*id.as_bytes()), Some(id));
        assert_eq!(EntryId::from_bytes([0; 16]), None);
    }
}
