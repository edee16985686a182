//! Every malformed object in tests/data/bad/ through the scan, with what must
//! happen to it: the records read, evaluated and found invalid, the alerts,
//! and the error (its class and its message). What is wrong with each file
//! and how it was made: tests/data/bad/README.md (made by make.py there).
//!
//! The rule: a problem with the object is a permanent error naming what is
//! wrong (the caller adds bucket and key); a problem with one record makes
//! that record invalid, named by its index, and the others are still
//! evaluated; only a failing source is transient. Records read before an
//! error are evaluated and their alerts sent.

use std::collections::BTreeSet;
use std::io::{self, Cursor, Read, Write};
use std::path::{Path, PathBuf};

use trailwatch::pipeline::decode::TaggedSource;
use trailwatch::pipeline::{scan, ScanReport};
use trailwatch::pipeline::{EventWindow, Limits};
use trailwatch::rules::{RuleConfig, RuleSet};

fn bad_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad")
}

/// What must come out of one object.
#[derive(Debug)]
enum Want {
    /// Read whole, no error.
    Whole,
    /// A permanent error whose message contains this.
    Permanent(&'static str),
}

struct Case {
    file: &'static str,
    limits: Limits,
    /// Records found, evaluated, invalid.
    counts: (u64, u64, u64),
    alerts: u64,
    want: Want,
}

const fn case(file: &'static str, counts: (u64, u64, u64), alerts: u64, want: Want) -> Case {
    Case {
        file,
        limits: Limits {
            max_record_bytes: 16 << 20,
            max_decompressed_bytes: 8 << 30,
            threads: 0,
            stop_at: None,
            time_per_object: None,
            // Threads from the first byte: these objects are small, and
            // every way of reading them is compared.
            one_thread_first: 0,
            event_window: EventWindow::OPEN,
        },
        counts,
        alerts,
        want,
    }
}

/// An object with nothing readable in it.
const fn nothing(file: &'static str, message: &'static str) -> Case {
    case(file, (0, 0, 0), 0, Want::Permanent(message))
}

impl Case {
    const fn limits(mut self, max_record_bytes: usize, max_decompressed_bytes: u64) -> Case {
        self.limits = Limits {
            max_record_bytes,
            max_decompressed_bytes,
            threads: 0,
            stop_at: None,
            time_per_object: None,
            one_thread_first: 0,
            event_window: EventWindow::OPEN,
        };
        self
    }
}

use Want::{Permanent, Whole};

/// Every file in tests/data/bad/, with what must happen to it. (A file may
/// appear more than once, with other limits.)
const CASES: &[Case] = &[
    // Not a log at all: nothing is read.
    nothing(
        "empty-0-byte.json.gz",
        "not a CloudTrail log: the object is empty (0 bytes)",
    ),
    nothing(
        "empty-gzip.json.gz",
        "not a CloudTrail log: the gzip stream decompresses to 0 bytes",
    ),
    nothing(
        "whitespace-only.json.gz",
        "not a CloudTrail log: the decompressed content is only whitespace (8 bytes)",
    ),
    nothing(
        "not-gzip-text.json.gz",
        "not a CloudTrail log: the object is neither gzip nor JSON: \
         it starts with `This object is not a CloudTrail log.\\n`",
    ),
    nothing(
        "random-bytes.json.gz",
        "not a CloudTrail log: the object is neither gzip nor JSON: \
         it starts with bytes 9c 37 be 03 ec 2b 48 60 …",
    ),
    nothing(
        "nul-bytes.json.gz",
        "not a CloudTrail log: the object is neither gzip nor JSON: \
         it starts with bytes 00 00 00 00 00 00 00 00 …",
    ),
    nothing(
        "zip-archive.json.gz",
        "not a CloudTrail log: the object is a zip archive, neither gzip nor JSON",
    ),
    nothing(
        "gzip-of-xml-error.json.gz",
        "not a CloudTrail log: the decompressed content is not JSON: \
         it starts with `<?xml version=\"1.0\" encoding=\"UTF-8\"?>\\n<…`",
    ),
    nothing(
        "gzip-of-csv.json.gz",
        "not a CloudTrail log: the decompressed content is not JSON: \
         it starts with `eventTime,eventSource,eventName,sourceIP…`",
    ),
    nothing(
        "gzip-of-gzip.json.gz",
        "not a CloudTrail log: the decompressed content is gzip again (compressed twice), not JSON",
    ),
    nothing(
        "utf16le-bom.json.gz",
        "not a CloudTrail log: the decompressed content is UTF-16 text \
         (it starts with a byte order mark), not UTF-8 JSON",
    ),
    nothing(
        "utf16le-no-bom.json.gz",
        "not a CloudTrail log: the decompressed content is UTF-16 text \
         (no byte order mark), not UTF-8 JSON",
    ),
    nothing(
        "gzip-bad-header.json.gz",
        "not a valid gzip stream: invalid gzip header",
    ),
    nothing(
        "gzip-corrupt-deflate.json.gz",
        "not a valid gzip stream: corrupt deflate stream",
    ),
    // JSON, but not a CloudTrail log.
    nothing(
        "json-string-top-level.json.gz",
        "not a CloudTrail log: the top level is a JSON string, not an object with \"Records\" \
         (a log encoded as a JSON string)",
    ),
    nothing(
        "no-records-key-digest.json.gz",
        "not a CloudTrail log: no \"Records\" array (its keys are awsAccountId, \
         digestStartTime, digestEndTime, digestS3Bucket, digestS3Object, newestEventTime \
         and 1 more)",
    ),
    nothing(
        "records-is-object.json.gz",
        "not a CloudTrail log: \"Records\" is an object, not an array",
    ),
    nothing(
        "records-is-null.json.gz",
        "not a CloudTrail log: \"Records\" is null, not an array",
    ),
    // The shapes records are exported in (a top-level array, one record
    // per line) are read as logs.
    case("json-array-top-level.json.gz", (2, 2, 0), 1, Whole),
    case("json-lines.json.gz", (2, 2, 0), 1, Whole),
    // Damaged after some records: those are read, then the error.
    case(
        "truncated.json.gz",
        (2, 2, 0),
        1,
        Permanent("truncated: the object ends inside the gzip stream"),
    ),
    case(
        "truncated-plain.json",
        (1, 1, 0),
        1,
        Permanent("truncated: the object ends inside a string"),
    ),
    case(
        "gzip-crc-mismatch.json.gz",
        (2, 2, 0),
        1,
        Permanent("not a valid gzip stream: corrupt gzip stream does not have a matching checksum"),
    ),
    case(
        "gzip-trailing-garbage.json.gz",
        (2, 2, 0),
        1,
        Permanent("not a valid gzip stream: invalid gzip header"),
    ),
    case(
        "trailing-garbage.json.gz",
        (2, 2, 0),
        1,
        Permanent(
            "invalid JSON at byte 1489: data after the end of the log object: \
             it goes on with `<html>garbage</html>\\n`",
        ),
    ),
    case(
        "records-trailing-comma.json.gz",
        (1, 1, 0),
        1,
        Permanent(
            "invalid JSON at byte 783: a ',' in the Records array is followed by ']', not a record",
        ),
    ),
    case(
        "duplicate-records-key.json.gz",
        (2, 2, 0),
        1,
        Permanent(
            "not a CloudTrail log: \"Records\" appears 2 times in the top-level object \
             (the records of every copy were read)",
        ),
    ),
    // One bad record: it is invalid, named by index; the others are read.
    case(
        "records-of-non-objects.json.gz",
        (5, 1, 4),
        1,
        Permanent(
            "record 0: invalid type: integer `1`, expected a CloudTrail record (a JSON object)",
        ),
    ),
    case(
        "record-not-json.json.gz",
        (3, 2, 1),
        1,
        Permanent("record 1: expected ident at line 1 column 17"),
    ),
    case(
        "invalid-utf8.json.gz",
        (4, 3, 1),
        1,
        Permanent("record 3: a string is not valid UTF-8 at line 1 column"),
    ),
    case(
        "nul-in-string.json.gz",
        (2, 1, 1),
        1,
        Permanent("record 1: control character (\\u0000-\\u001F) found while parsing a string"),
    ),
    case(
        "lone-surrogate.json.gz",
        (2, 1, 1),
        1,
        Permanent("record 1: unexpected end of hex escape"),
    ),
    // Checked whole only when a rule may read the record (see
    // `problems_deep_in_a_record_are_reported_when_a_rule_reads_it`): no
    // rule reads these DescribeInstances records.
    case("number-out-of-range.json.gz", (2, 2, 0), 1, Whole),
    case("deep-nesting.json.gz", (3, 3, 0), 1, Whole),
    // The first eventName is harmless, the second is StopLogging: which one
    // a parser keeps is up to it, so the record is reported, not evaluated.
    case(
        "duplicate-event-name.json.gz",
        (2, 1, 1),
        0,
        Permanent("record 1: duplicate key \"eventName\" at line 1 column"),
    ),
    case(
        "duplicate-nested-key.json.gz",
        (2, 1, 1),
        1,
        Permanent("record 1: duplicate key \"userName\" at line 1 column"),
    ),
    // Limits.
    case(
        "huge-string-20mib.json.gz",
        (1, 1, 0),
        1,
        Permanent("record 1 is larger than the limit of 16777216 bytes"),
    ),
    case("huge-string-20mib.json.gz", (2, 2, 0), 1, Whole).limits(32 << 20, 8 << 30),
    case("gzip-bomb-whitespace.json.gz", (2, 2, 0), 1, Whole),
    case(
        "gzip-bomb-whitespace.json.gz",
        (1, 1, 0),
        1,
        Permanent("decompressed size exceeds the limit of 8388608 bytes"),
    )
    .limits(16 << 20, 8 << 20),
    case("plain-uncompressed.json", (2, 2, 0), 1, Whole),
    case(
        "plain-uncompressed.json",
        (0, 0, 0),
        0,
        Permanent("record 0 is larger than the limit of 512 bytes"),
    )
    .limits(512, 8 << 30),
    // Odd but readable: every record is evaluated.
    case("utf8-bom.json.gz", (2, 2, 0), 1, Whole),
    case("split-gzip-members.json.gz", (2, 2, 0), 1, Whole),
    case("concatenated-logs.json.gz", (4, 4, 0), 2, Whole),
    case("event-name-is-number.json.gz", (1, 1, 0), 0, Whole),
];

fn rules() -> RuleSet {
    RuleSet::load(&RuleConfig::default()).expect("built-in rules load")
}

fn scan_with<R: Read + Send + 'static>(
    source: R,
    label: &str,
    rules: &RuleSet,
    limits: Limits,
) -> ScanReport {
    scan(
        source,
        label,
        rules,
        &mut rules.correlations().correlator(),
        limits,
        |_| true,
    )
}

#[test]
fn every_bad_object_gives_what_is_expected() {
    let rules = rules();
    let mut failures = Vec::new();
    // Inflating on the calling thread or on a thread of its own: the same.
    for (case, threads) in CASES.iter().flat_map(|c| [(c, 1), (c, 2)]) {
        let file = std::fs::File::open(bad_dir().join(case.file))
            .unwrap_or_else(|e| panic!("{}: {e}", case.file));
        let limits = Limits {
            threads,
            ..case.limits
        };
        let report = scan_with(file, case.file, &rules, limits);
        let counts = (report.records, report.evaluated, report.invalid);
        let error = report
            .error
            .as_ref()
            .map(|e| (e.to_string(), e.is_transient()));
        let problem = if report.records != report.evaluated + report.invalid {
            Some("records != evaluated + invalid".to_string())
        } else if counts != case.counts || report.alerts != case.alerts {
            Some(format!(
                "counts {counts:?} and {} alerts, want {:?} and {} alerts",
                report.alerts, case.counts, case.alerts
            ))
        } else {
            match (&case.want, &error) {
                (Want::Whole, None) => None,
                (Want::Permanent(want), Some((message, false))) if message.contains(want) => None,
                (want, got) => Some(format!("error {got:?}, want {want:?}")),
            }
        };
        if let Some(problem) = problem {
            failures.push(format!("{} (limits {limits:?}): {problem}", case.file));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// A value a rule reads is checked whole before the rule sees it: a number
/// beyond an f64 or nesting deeper than 100 levels in it makes the record
/// invalid, and the object is reported. (Without a rule reading
/// `requestParameters`, the same records are evaluated: see `CASES`.)
#[test]
fn problems_deep_in_a_record_are_reported_when_a_rule_reads_it() {
    let rule = "title: Reads DescribeInstances\nid: 0e5a3c1e-0000-4000-8000-000000000001\n\
        logsource: {product: aws, service: cloudtrail}\n\
        detection:\n  sel:\n    eventName: DescribeInstances\n    requestParameters.maxResults: 5\n  condition: sel\nlevel: low\n";
    let config = RuleConfig {
        texts: vec![("reads.yml".to_string(), rule.to_string())],
        ..RuleConfig::default()
    };
    let rules = RuleSet::load(&config).expect("rules load");
    for (file, counts, want) in [
        (
            "number-out-of-range.json.gz",
            (2, 1, 1),
            r#"record 1: field "requestParameters": number out of range"#,
        ),
        (
            "deep-nesting.json.gz",
            (3, 2, 1),
            r#"record 1: field "requestParameters": the record is nested deeper than 100 levels"#,
        ),
    ] {
        let bytes = std::fs::File::open(bad_dir().join(file)).expect("file");
        let report = scan_with(bytes, file, &rules, Limits::default());
        assert_eq!(
            (report.records, report.evaluated, report.invalid),
            counts,
            "{file}"
        );
        let error = report.error.expect("reported").to_string();
        assert!(error.contains(want), "{file}: {error}");
    }
}

/// A new file without an expectation fails here, and so does an expectation
/// without its file, and a file README.md does not describe.
#[test]
fn every_file_has_an_expectation_and_a_description() {
    let readme = std::fs::read_to_string(bad_dir().join("README.md")).expect("README.md");
    let on_disk: BTreeSet<String> = std::fs::read_dir(bad_dir())
        .expect("tests/data/bad")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name != "README.md" && name != "make.py")
        .collect();
    let in_table: BTreeSet<String> = CASES.iter().map(|c| c.file.to_string()).collect();
    let untested: Vec<_> = on_disk.difference(&in_table).collect();
    let missing: Vec<_> = in_table.difference(&on_disk).collect();
    assert!(
        untested.is_empty(),
        "files without an expectation: {untested:?}"
    );
    assert!(
        missing.is_empty(),
        "expectations without a file: {missing:?}"
    );
    let undocumented: Vec<_> = on_disk
        .iter()
        .filter(|name| !readme.contains(&format!("`{name}`")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "not in README.md: {undocumented:?}"
    );
    assert!(on_disk.len() >= 15, "only {} files", on_disk.len());
}

/// Hands over its bytes, then fails as a dropped connection does.
struct DropsAfter {
    bytes: Cursor<Vec<u8>>,
}

impl Read for DropsAfter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.bytes.read(buf)? {
            0 => Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "connection reset by peer",
            )),
            n => Ok(n),
        }
    }
}

fn bad_file(name: &str) -> Vec<u8> {
    std::fs::read(bad_dir().join(name)).expect("bad file")
}

#[test]
fn a_source_failing_mid_stream_is_transient() {
    let rules = rules();
    // The first gzip member (two records) arrives, then the connection drops.
    let log = bad_file("concatenated-logs.json.gz");
    let first_member = log.len() / 2;
    for threads in [1, 2] {
        let cases: Vec<(&str, Box<dyn Read + Send>, u64)> = vec![
            (
                "gzip",
                Box::new(DropsAfter {
                    bytes: Cursor::new(log[..first_member].to_vec()),
                }),
                2,
            ),
            // Wrapped by the caller too: still recognised.
            (
                "gzip, tagged",
                Box::new(TaggedSource(DropsAfter {
                    bytes: Cursor::new(log[..first_member].to_vec()),
                })),
                2,
            ),
            (
                "plain JSON",
                Box::new(DropsAfter {
                    bytes: Cursor::new(bad_file("plain-uncompressed.json")[..1000].to_vec()),
                }),
                1,
            ),
            (
                "at the first byte",
                Box::new(DropsAfter {
                    bytes: Cursor::new(Vec::new()),
                }),
                0,
            ),
        ];
        for (what, source, records) in cases {
            let limits = Limits {
                threads,
                ..Limits::default()
            };
            let report = scan_with(source, what, &rules, limits);
            let error = report.error.as_ref().expect("an error");
            assert!(error.is_transient(), "{what}: {error}");
            assert_eq!(
                error.to_string(),
                "reading the object failed: connection reset by peer",
                "{what}"
            );
            assert_eq!(
                (report.records, report.evaluated, report.invalid),
                (records, records, 0),
                "{what}"
            );
        }
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("write to Vec");
    enc.finish().expect("finish gzip")
}

/// A bomb made here: 4 MiB of whitespace in about 4 KiB of gzip, stopped at
/// a 1 MiB limit, whether it sits between records or inside one.
#[test]
fn a_gzip_bomb_stops_at_the_limit() {
    let rules = rules();
    let record =
        r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","eventID":"1"}"#;
    let padding = " ".repeat(4 << 20);
    let limits = Limits {
        max_decompressed_bytes: 1 << 20,
        ..Limits::default()
    };
    let between = gzip(format!(r#"{{"Records":[{record},{padding}{record}]}}"#).as_bytes());
    let inside = gzip(format!(r#"{{"Records":[{record},{{"a":"{padding}"}}]}}"#).as_bytes());
    assert!(between.len() < 16 << 10 && inside.len() < 16 << 10);
    for bomb in [between, inside] {
        let report = scan_with(Cursor::new(bomb), "bomb", &rules, limits);
        let error = report.error.as_ref().expect("an error");
        assert_eq!(
            error.to_string(),
            "decompressed size exceeds the limit of 1048576 bytes"
        );
        assert!(!error.is_transient());
        assert_eq!((report.records, report.evaluated, report.alerts), (1, 1, 1));
    }
}

/// A long string is fine up to the record limit.
#[test]
fn a_huge_string_within_the_limit_is_read() {
    let rules = rules();
    let log = format!(
        r#"{{"Records":[{{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","eventID":"1","userAgent":"{}"}}]}}"#,
        "A".repeat(15 << 20)
    );
    let report = scan_with(
        Cursor::new(log.into_bytes()),
        "huge",
        &rules,
        Limits::default(),
    );
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!((report.records, report.evaluated, report.alerts), (1, 1, 1));
}
