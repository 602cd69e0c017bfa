//! Errors that travel in `ProtoError`, mirroring the Go SDK's
//! `sdk/plugin/pb/translation.go`. The host turns each into an HTTP status.
//!
//! Bad input is not one of these: like the Go framework's
//! `logical.ErrorResponse`, it is a response the backend builds itself.

use crate::pb::backend::ProtoError;

/// `ErrType` values of `translation.go`. Only the ones we send are named.
pub mod err_type {
    /// A plain error: HTTP 500.
    pub const INTERNAL_ERROR: u32 = 2;
    /// `logical.ErrUnsupportedOperation`: HTTP 405.
    pub const UNSUPPORTED_OPERATION: u32 = 5;
    /// `logical.ErrUnsupportedPath`: HTTP 404.
    pub const UNSUPPORTED_PATH: u32 = 6;
    /// `logical.ErrInvalidRequest`: HTTP 400.
    pub const INVALID_REQUEST: u32 = 7;
}

/// Why the plugin could not produce a response.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// No path of the backend matches (404). Also the answer to
    /// `resolve-path`-style probes of paths we do not have.
    #[error("unsupported path")]
    UnsupportedPath,
    /// The path exists but not for this operation (405). The answer to
    /// `resolve-path`, which tells the host to keep the path as it is.
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// The host sent something it never should (400).
    #[error("invalid request")]
    InvalidRequest,
    /// Something failed on our side (500). The message reaches the client,
    /// so it must not carry secrets.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The wire form.
    pub fn to_proto(&self) -> ProtoError {
        let err_type = match self {
            Error::UnsupportedPath => err_type::UNSUPPORTED_PATH,
            Error::UnsupportedOperation => err_type::UNSUPPORTED_OPERATION,
            Error::InvalidRequest => err_type::INVALID_REQUEST,
            Error::Internal(_) => err_type::INTERNAL_ERROR,
        };
        ProtoError {
            err_type,
            err_msg: self.to_string(),
            err_code: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_translation_go_err_types() {
        let cases = [
            (Error::UnsupportedPath, 6, "unsupported path"),
            (Error::UnsupportedOperation, 5, "unsupported operation"),
            (Error::InvalidRequest, 7, "invalid request"),
            (
                Error::Internal("storage unavailable".into()),
                2,
                "storage unavailable",
            ),
        ];
        for (error, err_type, message) in cases {
            let proto = error.to_proto();
            assert_eq!(proto.err_type, err_type, "{error:?}");
            assert_eq!(proto.err_msg, message);
            assert_eq!(proto.err_code, 0);
        }
    }
}
