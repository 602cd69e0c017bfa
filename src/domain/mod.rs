//! The TOTP grant and its rules, with no I/O: time comes in as an argument.

pub mod clock;
pub mod code;
pub mod ids;
pub mod mount_key;
pub mod throttle;
pub mod totp;

pub use clock::{Clock, SystemClock};
pub use ids::{Accessor, EntryId};
pub use mount_key::{GrantId, MountKey, SealedId};
pub use throttle::{AttemptRecord, ThrottleConfig};
pub use totp::{PolicyName, Refusal, TotpEntry};
