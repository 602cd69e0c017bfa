//! Compiles `proto/*.proto` with protox (pure Rust), so builds need no system `protoc`.

use std::path::Path;

const PROTOS: &[&str] = &[
    "backend.proto",
    "grpc_broker.proto",
    "grpc_controller.proto",
    "grpc_stdio.proto",
    "version.proto",
    "multiplexing.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new("proto");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={}", dir.join(proto).display());
    }
    let descriptors = protox::compile(PROTOS, [dir])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
