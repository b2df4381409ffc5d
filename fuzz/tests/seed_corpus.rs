//! The fuzz target's harness over its seed corpus, as a normal test on stable (CI runs it): each seed's
//! file name starts with the status it must get, so a seed that drifts to another answer fails here, and
//! every answer must be one the contract documents.

use std::path::PathBuf;

use cyberapp_tenants_fuzz::{DOCUMENTED, callback_input};

#[test]
fn every_seed_gets_the_status_its_name_states() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds/callback_input");
    let mut seeds: Vec<PathBuf> =
        std::fs::read_dir(&dir).expect("seed directory").map(|entry| entry.expect("entry").path()).collect();
    seeds.sort();
    assert!(seeds.len() >= 6, "{} seeds in {}", seeds.len(), dir.display());
    for seed in seeds {
        let name = seed.file_name().expect("name").to_string_lossy().into_owned();
        let expected: u16 = name[..3].parse().unwrap_or_else(|_| panic!("{name} does not start with a status"));
        assert!(DOCUMENTED.contains(&expected), "{name}: {expected} is not documented");
        let data = std::fs::read(&seed).expect("seed readable");
        assert_eq!(callback_input(&data), Some(expected), "{name}");
    }
}
