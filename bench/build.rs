//! Compiles the service's CustomCallbackHandler protocol (`../proto`) for the `CUSTOM` workload: the bench
//! serves a trivial handler and calls it directly as a baseline.
//!
//! `protoc` comes from `protoc-bin-vendored`, as in the service's build.rs, so a fresh build needs no system
//! package; a `PROTOC` environment variable still wins.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = PathBuf::from("../proto");
    let include = protoc_bin_vendored::include_path()?;
    let mut config = tonic_prost_build::Config::new();
    if std::env::var_os("PROTOC").is_none() {
        config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    }
    tonic_prost_build::configure().compile_with_config(
        config,
        &[proto.join("cyberapp/tenants/v1/custom_callback.proto")],
        &[proto, include],
    )?;
    println!("cargo:rerun-if-changed=../proto");
    Ok(())
}
