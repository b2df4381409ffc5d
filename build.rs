//! Compiles the TenantService and CustomCallbackHandler protocols and writes the descriptor set that gRPC reflection serves.
//!
//! `protoc` comes from `protoc-bin-vendored` so a fresh `cargo build` needs no system package;
//! a `PROTOC` environment variable still wins, for platforms the vendored binaries do not cover.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Edition 2024 makes `set_var` unsafe, so the vendored path is handed to prost-build directly.
    let vendored = match std::env::var_os("PROTOC") {
        Some(_) => None,
        None => Some(protoc_bin_vendored::protoc_bin_path()?),
    };
    compile(vendored)
}

fn compile(protoc: Option<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let include = protoc_bin_vendored::include_path()?;
    let mut config = tonic_prost_build::Config::new();
    // Messages that carry secrets get a hand-written, redacting Debug (src/lib.rs).
    config.skip_debug([".cyberapp.tenants.v1.Credentials", ".cyberapp.tenants.v1.SetCredentialsRequest"]);
    if let Some(protoc) = protoc {
        config.protoc_executable(protoc);
    }
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("tenants_descriptor.bin"))
        .compile_with_config(
            config,
            &[
                PathBuf::from("proto/cyberapp/tenants/v1/tenants.proto"),
                PathBuf::from("proto/cyberapp/tenants/v1/custom_callback.proto"),
            ],
            &[PathBuf::from("proto"), include],
        )?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
