//! Generated protobuf and gRPC code. See `proto/README.md` for what each mirrors.
#![allow(missing_docs, clippy::all, clippy::pedantic, unreachable_pub)]

/// Vault's backend protocol: `Backend`, `Storage`, `SystemView`.
pub mod backend {
    tonic::include_proto!("pb");
}

/// go-plugin's own services: broker, controller, stdio.
pub mod plugin {
    tonic::include_proto!("plugin");
}

/// Vault's `logical.PluginVersion`.
pub mod logical {
    tonic::include_proto!("logical");
}

/// Vault's `pluginutil.multiplexing.PluginMultiplexing`.
pub mod multiplexing {
    tonic::include_proto!("pluginutil.multiplexing");
}
