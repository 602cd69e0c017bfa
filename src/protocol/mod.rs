//! Vault's backend plugin protocol, independent of what the plugin does:
//! request and response types, the error translation, routing as data with
//! help and OpenAPI, the host's storage and system view, and the
//! `pb.Backend` gRPC service that ties them to a [`LogicalBackend`].

pub mod error;
pub mod fields;
pub mod framework;
pub mod help;
pub mod request;
pub mod response;
pub mod server;
pub mod storage;
pub mod system_view;

pub use error::Error;
pub use framework::{
    BackendInfo, BackendType, BoxFuture, ExistenceCheck, FieldSpec, FieldType, Handler, License,
    OperationSpec, PathSpec, Router, SpecialPaths,
};
pub use request::{Operation, Request};
pub use response::Response;
pub use server::{BackendDeps, BackendServer, LogicalBackend};
pub use storage::{Storage, StorageError};
pub use system_view::{ReplicationState, SystemView, SystemViewError, may_write_mount};
