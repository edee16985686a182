//! The SHA-256 a CloudTrail digest lists for a log, computed as trailwatch
//! verifies it: `digest::hash::hash_log`, the uncompressed content of a
//! gzip log hashed as it inflates (one buffer at a time).
//!
//! ```sh
//! cargo build --release --example hash_log
//! target/release/examples/hash_log LOG.json.gz ...   # as `gzip -dc LOG.json.gz | sha256sum`
//! ```
//!
//! Prints `HEX  FILE` per file, as `sha256sum` does (and `(appended data)`
//! after one with bytes past its first gzip member), then on standard error
//! `bytes=<compressed bytes> seconds=<wall seconds>`: the figures of the
//! hashing benchmark in BENCHMARKS.md.

use std::fs::File;
use std::process::ExitCode;
use std::time::Instant;

use trailwatch::digest::hash::{hash_log, hex};

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: hash_log LOG.json.gz ...");
        return ExitCode::from(2);
    }
    let start = Instant::now();
    let mut bytes = 0u64;
    for path in &files {
        let hashed = File::open(path).and_then(|file| {
            bytes += file.metadata()?.len();
            hash_log(file)
        });
        match hashed {
            Ok(hash) => {
                let appended = if hash.appended {
                    " (appended data)"
                } else {
                    ""
                };
                println!("{}  {path}{appended}", hex(&hash.sha256));
            }
            Err(err) => {
                eprintln!("{path}: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    eprintln!("bytes={bytes} seconds={:.3}", start.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
