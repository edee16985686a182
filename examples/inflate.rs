//! Decompress-only baseline for `scripts/bench-throughput`.
//!
//! ```sh
//! cargo build --release --example inflate
//! target/release/examples/inflate LOG.json.gz
//! ```
//!
//! Inflates FILE (every gzip member, as `gzip -d` does) the way
//! `src/pipeline/decode.rs` reads a log: a 1 MiB `BufReader` under the crate's
//! flate2 `MultiGzDecoder` (same zlib-rs backend), read through a 1 MiB
//! buffer until the end, and the bytes thrown away. Prints
//! `bytes=<uncompressed bytes> seconds=<wall seconds>`: the speed a scan
//! could reach if splitting, parsing and rules cost nothing.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use flate2::bufread::MultiGzDecoder;

/// The read size of `src/pipeline/decode.rs`.
const READ_BUFFER: usize = 1 << 20;

fn inflate(path: &Path) -> io::Result<u64> {
    let file = File::open(path)?;
    let mut decoder = MultiGzDecoder::new(BufReader::with_capacity(READ_BUFFER, file));
    let mut buf = vec![0u8; READ_BUFFER];
    let mut total = 0u64;
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

fn main() -> ExitCode {
    let start = Instant::now();
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let [path] = args.as_slice() else {
        eprintln!("usage: inflate FILE.json.gz");
        return ExitCode::from(2);
    };
    let path = Path::new(path);
    match inflate(path) {
        Ok(bytes) => {
            println!("bytes={bytes} seconds={:.3}", start.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("inflate: {}: {err}", path.display());
            ExitCode::FAILURE
        }
    }
}
