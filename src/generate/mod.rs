//! A deterministic generator of realistic CloudTrail logs, for load tests
//! and benchmarks (`trailwatch generate`).
//!
//! A generated log is one CloudTrail log object, `{"Records":[...]}`, with
//! the mix of a busy account: mostly S3 data events, then KMS, DynamoDB,
//! STS, EC2, SSM, CloudWatch Logs, Lambda (Invoke by S3, reads under
//! version-suffixed names), IAM reads and console sign-ins, with a few
//! percent of ordinary errors and some non-ASCII and escaped text. A small,
//! configurable share of records is planted to match the built-in rules;
//! every other record matches none, so the findings a scan reports can be
//! checked against [`Stats::matching`].
//!
//! The same [`Spec`] always gives the same bytes: all randomness comes from
//! a seeded PRNG, times from a fixed start, and tables are constant slices.

mod access;
mod changes;
mod data;
mod infra;
mod json;
mod planted;
mod record;
mod rng;
mod world;

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;

use record::Gen;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Records in the log.
    pub records: u64,
    /// Seed of the PRNG: the same seed gives the same log.
    pub seed: u64,
    /// Records in a thousand planted to match a built-in rule (at most
    /// 1000).
    pub match_per_mille: u32,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            records: 100_000,
            seed: 1,
            match_per_mille: 20,
        }
    }
}

/// Who the planted records are by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Callers {
    /// The account's few users and roles, as the other records (the
    /// default): a scan groups the findings into a few dozen alerts.
    #[default]
    Account,
    /// Each planted record by a user or role of this many (at most
    /// [`MAX_CROWD`]) drawn at random: IAM users `load-user-N` where the
    /// record would be by a user, sessions of roles `load-role-N` where by
    /// a role (services, the root user and failed sign-ins stay as they
    /// are). A findings-heavy log with many alert groups, for benchmarks.
    Crowd(u32),
}

/// The largest crowd: its ids have room for six digits.
pub const MAX_CROWD: u32 = 1_000_000;

/// What was generated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records written.
    pub records: u64,
    /// Size of the log as JSON text (uncompressed).
    pub bytes: u64,
    /// Bytes handed to the writer: `bytes` for plain JSON, the compressed
    /// size for gzip.
    pub written: u64,
    /// Records planted to match at least one built-in rule. Every other
    /// record matches none.
    pub matching: u64,
}

type Template = fn(&mut Gen);

/// The ordinary records, weighted like a busy account's trail.
const BACKGROUND: &[(u32, Template)] = &[
    (380, data::s3_object),
    (150, access::kms),
    (100, data::lambda_invoke_by_s3),
    (70, data::dynamodb_item),
    (60, access::sts_assume_role),
    (60, infra::ec2_describe),
    (60, infra::ssm),
    (60, infra::logs),
    (20, access::iam_read),
    (20, infra::lambda_read),
    (4, infra::ec2_run_instances),
    (3, access::console_login),
];

/// Text is handed to the writer in chunks of about this size.
const CHUNK: usize = 64 << 10;

/// Writes a CloudTrail log object of `spec.records` records to `out`, as
/// uncompressed JSON, and flushes `out`.
pub fn write_log(spec: &Spec, out: impl Write) -> io::Result<Stats> {
    write_log_by(spec, Callers::Account, out)
}

/// [`write_log`] with the planted records by `callers`.
pub fn write_log_by(spec: &Spec, callers: Callers, mut out: impl Write) -> io::Result<Stats> {
    let mut gen = Gen::new(spec.seed);
    if let Callers::Crowd(size) = callers {
        gen.crowd = Some(size.clamp(1, MAX_CROWD));
    }
    let mut stats = Stats::default();
    gen.out.raw("{\"Records\":[");
    for _ in 0..spec.records {
        gen.tick();
        if gen.rng.per_mille(spec.match_per_mille) {
            planted::one(&mut gen);
            stats.matching += 1;
        } else {
            let template = gen.rng.weighted(BACKGROUND);
            template(&mut gen);
        }
        stats.records += 1;
        if gen.out.len() >= CHUNK {
            stats.bytes += hand_over(&mut gen, &mut out)?;
        }
    }
    gen.out.raw("]}");
    stats.bytes += hand_over(&mut gen, &mut out)?;
    out.flush()?;
    stats.written = stats.bytes;
    Ok(stats)
}

/// Writes the text generated so far to `out`; returns its length.
fn hand_over(gen: &mut Gen, out: &mut impl Write) -> io::Result<u64> {
    gen.out.take_error()?;
    out.write_all(gen.out.as_bytes())?;
    let len = gen.out.len() as u64;
    gen.out.clear();
    Ok(len)
}

/// Like [`write_log`], gzip-compressed at the default level (6), as
/// CloudTrail delivers its objects.
pub fn write_gzip_log(spec: &Spec, out: impl Write) -> io::Result<Stats> {
    write_gzip_log_by(spec, Callers::Account, out)
}

/// [`write_gzip_log`] with the planted records by `callers`.
pub fn write_gzip_log_by(spec: &Spec, callers: Callers, out: impl Write) -> io::Result<Stats> {
    let mut gzip = GzEncoder::new(
        Counting {
            inner: out,
            count: 0,
        },
        Compression::default(),
    );
    let mut stats = write_log_by(spec, callers, &mut gzip)?;
    let mut counted = gzip.finish()?;
    counted.flush()?;
    stats.written = counted.count;
    Ok(stats)
}

/// Writes the log to `path`: gzip when the name ends in `.gz`, plain JSON
/// otherwise, and plain JSON on stdout for `-`.
pub fn write_path(spec: &Spec, path: &Path) -> io::Result<Stats> {
    write_path_by(spec, Callers::Account, path)
}

/// [`write_path`] with the planted records by `callers`.
pub fn write_path_by(spec: &Spec, callers: Callers, path: &Path) -> io::Result<Stats> {
    if path == Path::new("-") {
        return write_log_by(spec, callers, io::stdout().lock());
    }
    let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
    if path.extension() == Some(OsStr::new("gz")) {
        write_gzip_log_by(spec, callers, file)
    } else {
        write_log_by(spec, callers, file)
    }
}

/// Counts the bytes that pass through (the compressed size).
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.count += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(spec: &Spec) -> (Vec<u8>, Stats) {
        let mut bytes = Vec::new();
        let stats = write_log(spec, &mut bytes).expect("writing to memory");
        (bytes, stats)
    }

    #[test]
    fn an_empty_log_is_still_a_log() {
        let (bytes, stats) = generate(&Spec {
            records: 0,
            ..Spec::default()
        });
        assert_eq!(bytes, b"{\"Records\":[]}");
        assert_eq!(
            stats,
            Stats {
                bytes: 14,
                written: 14,
                ..Stats::default()
            }
        );
    }

    #[test]
    fn every_template_writes_valid_json() {
        let (bytes, stats) = generate(&Spec {
            records: 3000,
            seed: 9,
            match_per_mille: 300,
        });
        assert_eq!(stats.bytes, bytes.len() as u64);
        let log: serde_json::Value = serde_json::from_slice(&bytes).expect("valid JSON");
        let records = log["Records"].as_array().expect("Records");
        assert_eq!(records.len(), 3000);
        assert!(records
            .iter()
            .all(|r| r["eventID"].as_str().is_some_and(|id| id.len() == 36)));
    }

    #[test]
    fn gzip_output_inflates_to_the_plain_log() {
        let spec = Spec {
            records: 500,
            ..Spec::default()
        };
        let (plain, _) = generate(&spec);
        let mut gz = Vec::new();
        let stats = write_gzip_log(&spec, &mut gz).expect("gzip to memory");
        assert_eq!(stats.written, gz.len() as u64);
        assert!(stats.written < stats.bytes / 3, "{stats:?}");
        let mut inflated = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut inflated)
            .expect("valid gzip");
        assert_eq!(inflated, plain);
    }
}
