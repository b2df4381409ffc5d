//! `fsync-rate`: how many `write 4 KiB + fdatasync` one thread gets per second in a directory.
//!
//! SQLite in WAL mode with `synchronous=FULL` syncs the WAL once per commit, so this rate, measured on the
//! disk of the service's data directory in the same run, is the ceiling of one writer's commits per second;
//! `run.sh` divides the SQLite write rates (W3, W3P) by it.

use std::fs::OpenOptions;
use std::io::{Seek as _, SeekFrom, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

/// A WAL frame is a page plus a header; one 4 KiB page is the smallest commit.
const BLOCK: usize = 4096;
/// The file cycles over this many blocks, as a WAL that is checkpointed and reused does.
const BLOCKS: u64 = 256;

/// Appends a block and syncs its data, over and over for `seconds`; returns syncs per second.
pub fn measure(dir: &Path, seconds: f64) -> anyhow::Result<f64> {
    let path = dir.join(format!(".cyberapp-bench-fsync-{}", std::process::id()));
    let result = run(&path, Duration::from_secs_f64(seconds));
    let _ = std::fs::remove_file(&path);
    result
}

fn run(path: &Path, length: Duration) -> anyhow::Result<f64> {
    let mut file = OpenOptions::new().create(true).truncate(true).read(true).write(true).open(path)?;
    let block = [0x5a_u8; BLOCK];
    let start = Instant::now();
    let mut syncs: u64 = 0;
    while start.elapsed() < length {
        file.seek(SeekFrom::Start(syncs % BLOCKS * BLOCK as u64))?;
        file.write_all(&block)?;
        file.sync_data()?;
        syncs += 1;
    }
    Ok(syncs as f64 / start.elapsed().as_secs_f64())
}
