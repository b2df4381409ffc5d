//! Fuzzes `POST /callback` end to end in-process (the harness is `cyberapp_tenants_fuzz::callback_input`).
//! Every input must get a documented status; a panic, a 500 or anything undocumented is a finding.
//!
//! Run: `cargo +nightly fuzz run callback_input -- -max_total_time=600` (from the repository root). On
//! stable, `cargo test --manifest-path fuzz/Cargo.toml` runs the harness over the seed corpus in
//! `fuzz/seeds/callback_input/`.

#![no_main]

use cyberapp_tenants_fuzz::{DOCUMENTED, callback_input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(status) = callback_input(data) {
        assert!(DOCUMENTED.contains(&status), "undocumented status {status}");
    }
});
