//! The TOTP grant and its rules, with no I/O: time comes in as an argument.

pub mod clock;
pub mod code;
pub mod totp;

pub use clock::{Clock, SystemClock};
pub use totp::{EntryId, PolicyName, Refusal, TotpEntry};
