//! A findings-heavy log for `scripts/bench-throughput`: `trailwatch
//! generate`'s log with most records planted to match a built-in rule, by
//! a crowd of principals (`generate::Callers::Crowd`), so that a scan
//! raises a finding for most records and groups them into many alerts.
//!
//! ```sh
//! cargo build --release --example findings_heavy
//! target/release/examples/findings_heavy OUT.json.gz [--records N] [--seed S]
//!     [--planted-per-mille P] [--principals C]
//! ```
//!
//! Defaults: 100,000 records, seed 1, 800 records in a thousand planted,
//! 20,000 principals. Gzip when OUT ends in `.gz`, as `trailwatch generate`
//! writes; the same arguments always write the same bytes. Prints
//! `records=N planted=M bytes=B written=W` on stdout.

use std::path::PathBuf;
use std::process::ExitCode;

use trailwatch::generate::{write_path_by, Callers, Spec, MAX_CROWD};

const USAGE: &str = "usage: findings_heavy OUT [--records N] [--seed S] \
    [--planted-per-mille P (0-1000)] [--principals C (1-1000000)]";

struct Args {
    out: PathBuf,
    spec: Spec,
    principals: u32,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut out = None;
    let mut spec = Spec {
        match_per_mille: 800,
        ..Spec::default()
    };
    let mut principals = 20_000;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = |name: &str| {
            rest.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(format!("{name} needs a whole number"))
        };
        match arg.as_str() {
            "--records" => spec.records = value(arg)?,
            "--seed" => spec.seed = value(arg)?,
            "--planted-per-mille" => {
                spec.match_per_mille = u32::try_from(value(arg)?)
                    .ok()
                    .filter(|p| *p <= 1000)
                    .ok_or("--planted-per-mille is at most 1000")?;
            }
            "--principals" => {
                principals = u32::try_from(value(arg)?)
                    .ok()
                    .filter(|c| (1..=MAX_CROWD).contains(c))
                    .ok_or(format!("--principals is 1 to {MAX_CROWD}"))?;
            }
            _ if arg.starts_with("--") || out.is_some() => {
                return Err(format!("unexpected argument {arg}"))
            }
            _ => out = Some(PathBuf::from(arg)),
        }
    }
    let out = out.ok_or("no OUT given")?;
    Ok(Args {
        out,
        spec,
        principals,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(args) => args,
        Err(err) => {
            eprintln!("findings_heavy: {err}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match write_path_by(&args.spec, Callers::Crowd(args.principals), &args.out) {
        Ok(stats) => {
            println!(
                "records={} planted={} bytes={} written={}",
                stats.records, stats.matching, stats.bytes, stats.written
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("findings_heavy: {}: {err}", args.out.display());
            ExitCode::FAILURE
        }
    }
}
