//! Log files on the local file system: files, directories (recursive) and
//! `-` for standard input.
//!
//! Each file is read once: files and directories are known by their device
//! and inode, so a symlink loop, a symlink to a file also listed, or
//! overlapping arguments (`scan dir dir/sub`) name a duplicate, which is
//! noted and not read again.
//!
//! In a directory, the key layout decides where there is one (a file under
//! `AWSLogs/ACCOUNT/CloudTrail/` is read, a digest or another service's
//! file is skipped, as in S3); elsewhere the content decides: a file whose
//! name may hold a log (`.json.gz`, `.json`, `.jsonl`, `.ndjson`, `.gz`,
//! no extension) is read when its first record is a CloudTrail record, in
//! any of the shapes the log decoder reads, and skipped with the reason
//! otherwise ([`Input::Unsure`]: looked at where it is read, by
//! [`prepare`], so that it is read once). Files named on the command line
//! are always read.

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, FileType, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

use serde_json::Value;

use crate::object::ObjectKind;
use crate::pipeline::{peek_log, Limits, LogError};

/// One thing to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
    /// A file found in a directory outside the `AWSLogs/` layout: read
    /// only if its content is a CloudTrail log ([`prepare`] looks).
    Unsure(PathBuf),
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Stdin => f.write_str("<stdin>"),
            Input::File(path) | Input::Unsure(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Why a file found in a directory is not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// What its path says it is (digest, another service's file, empty).
    Kind(ObjectKind),
    /// Not a regular file: "a FIFO", "a socket"...
    Special(&'static str),
    /// Its content is not a CloudTrail log; the text says what it is.
    NotLog(String),
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::Kind(kind) => write!(f, "{} file", kind.as_str()),
            Skip::Special(what) => write!(f, "is {what}, not a log file"),
            Skip::NotLog(why) => f.write_str(why),
        }
    }
}

/// The result of expanding the command line's paths.
#[derive(Debug, Default)]
pub struct Expanded {
    pub inputs: Vec<Input>,
    /// Files found in directories but skipped on purpose, and why.
    pub skipped: Vec<(PathBuf, Skip)>,
    /// Paths that name a file or directory already taken (through a
    /// symlink, or overlapping arguments), and the path it was taken as.
    pub duplicates: Vec<(PathBuf, PathBuf)>,
    /// Paths that could not be read.
    pub errors: Vec<(PathBuf, io::Error)>,
}

/// Names a log may have, outside the `AWSLogs/` layout: CloudTrail's
/// `.json.gz`, the console's `.json`, exports' `.jsonl` and `.gz`, and
/// files with no extension at all.
fn may_be_log(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    [".json", ".jsonl", ".ndjson", ".gz"]
        .iter()
        .any(|ext| lower.ends_with(ext))
        || !name.trim_start_matches('.').contains('.')
}

/// What a file system object is, when it is not a file or a directory.
fn special(kind: FileType) -> Option<&'static str> {
    if kind.is_fifo() {
        Some("a FIFO")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_block_device() {
        Some("a block device")
    } else if kind.is_char_device() {
        Some("a character device")
    } else {
        None
    }
}

/// A file system object, whatever path reached it.
type Identity = (u64, u64);

fn identity(meta: &Metadata) -> Identity {
    (meta.dev(), meta.ino())
}

/// The files and directories taken so far, with the path each was taken as.
#[derive(Default)]
struct Seen {
    taken: HashMap<Identity, PathBuf>,
    stdin: Option<PathBuf>,
}

impl Seen {
    /// True the first time; a duplicate is noted.
    fn first(&mut self, path: &Path, meta: &Metadata, out: &mut Expanded) -> bool {
        match self.taken.get(&identity(meta)) {
            Some(first) => {
                out.duplicates.push((path.to_path_buf(), first.clone()));
                false
            }
            None => {
                self.taken.insert(identity(meta), path.to_path_buf());
                true
            }
        }
    }
}

/// Expands the command line's paths into what to read. A file named on the
/// command line is read whatever its name, and so is a FIFO (a named pipe,
/// or a `<(zcat log.gz)` process substitution); sockets and devices are
/// refused.
pub fn expand(paths: &[PathBuf]) -> Expanded {
    let mut out = Expanded::default();
    let mut seen = Seen::default();
    for path in paths {
        if path.as_os_str() == "-" {
            match &seen.stdin {
                Some(first) => out.duplicates.push((path.clone(), first.clone())),
                None => {
                    seen.stdin = Some(path.clone());
                    out.inputs.push(Input::Stdin);
                }
            }
            continue;
        }
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(err) => {
                out.errors.push((path.clone(), err));
                continue;
            }
        };
        if !seen.first(path, &meta, &mut out) {
            continue;
        }
        let kind = meta.file_type();
        if kind.is_dir() {
            walk(path, &mut seen, &mut out);
        } else if let Some(what) = special(kind).filter(|_| !kind.is_fifo()) {
            out.errors.push((
                path.clone(),
                io::Error::other(format!("is {what}, not a log file")),
            ));
        } else {
            out.inputs.push(Input::File(path.clone()));
        }
    }
    out
}

fn walk(dir: &Path, seen: &mut Seen, out: &mut Expanded) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => return out.errors.push((dir.to_path_buf(), err)),
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => paths.push(entry.path()),
            Err(err) => out.errors.push((dir.to_path_buf(), err)),
        }
    }
    paths.sort();
    for path in paths {
        // Symlinks are followed: to what they point at.
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            // A dangling symlink or a loop of symlinks: an error only
            // where a log was to be expected.
            Err(err) => {
                if may_be_log(&path) {
                    out.errors.push((path, err));
                }
                continue;
            }
        };
        let kind = meta.file_type();
        if !kind.is_dir() && !may_be_log(&path) {
            continue;
        }
        if !seen.first(&path, &meta, out) {
            continue;
        }
        if kind.is_dir() {
            walk(&path, seen, out);
        } else if let Some(what) = special(kind) {
            // Reading a FIFO found in a directory could wait forever.
            out.skipped.push((path, Skip::Special(what)));
        } else {
            match what_file(&path, meta.len()) {
                Kind::Read => out.inputs.push(Input::File(path)),
                Kind::ReadIfLog => out.inputs.push(Input::Unsure(path)),
                Kind::Skip(skip) => out.skipped.push((path, skip)),
            }
        }
    }
}

/// What to do with a regular file found in a directory.
enum Kind {
    Read,
    /// Read it if its content is a CloudTrail log ([`Input::Unsure`]).
    ReadIfLog,
    Skip(Skip),
}

/// What to do with a regular file found in a directory, by its path and
/// size: its content is looked at later, where it is read.
fn what_file(path: &Path, size: u64) -> Kind {
    let key = path.to_string_lossy();
    let kind = ObjectKind::of(&key, Some(size));
    if ObjectKind::by_layout(&key) || kind == ObjectKind::Empty {
        return match kind.is_readable() {
            true => Kind::Read,
            false => Kind::Skip(Skip::Kind(kind)),
        };
    }
    Kind::ReadIfLog
}

/// An input made ready to scan ([`prepare`], [`read_ahead`]).
pub enum Ahead {
    /// Its content, inflated: scan it from memory, on one thread.
    Content(Content),
    /// Read it as usual: standard input, a file too large to read ahead,
    /// or one whose gzip did not inflate whole within the cap (reading it
    /// again says what is wrong, as it would have).
    Input,
    /// Not read: an [`Input::Unsure`] whose content is not a CloudTrail
    /// log.
    Skip(Skip),
}

/// A file's content read whole, shared with the look at its first record
/// (no copy): scan it through `io::Cursor`.
#[derive(Debug, Clone)]
pub struct Content(Arc<Vec<u8>>);

impl AsRef<[u8]> for Content {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// `input` made ready to scan: with `read_small` (a thread of its own
/// reads ahead, [`read_ahead`]) a small file read and inflated whole; and
/// an [`Input::Unsure`] looked at, from that content where it was read
/// (not read twice), else from the start of the file ([`sniff`]). (On the
/// scan's own thread, reading a small file whole costs more than looking
/// at its start twice: measured in BENCHMARKS.md.)
pub fn prepare(input: &Input, limits: &Limits, read_small: bool) -> Ahead {
    match input {
        Input::Stdin => Ahead::Input,
        Input::File(path) if read_small => ahead_of(path, limits),
        Input::File(_) => Ahead::Input,
        Input::Unsure(path) => {
            let ahead = match read_small {
                true => ahead_of(path, limits),
                false => Ahead::Input,
            };
            let why = match &ahead {
                Ahead::Content(content) => sniff(io::Cursor::new(content.clone())),
                _ => match File::open(path) {
                    Ok(file) => sniff(file),
                    // Reading it will say what is wrong.
                    Err(_) => None,
                },
            };
            match why {
                Some(why) => Ahead::Skip(Skip::NotLog(why)),
                None => ahead,
            }
        }
    }
}

/// Files of this size or less are read ahead: most log objects are a few
/// KB, and their own threads cost more than reading them (threads start
/// past 2 MiB of content in one object, `pipeline::scan`).
const AHEAD_MAX_FILE: u64 = 1 << 20;
/// Content of a file read ahead, at most: the inflated log waits in
/// memory for its turn.
const AHEAD_MAX_CONTENT: u64 = 2 << 20;
/// Files read ahead and waiting.
const AHEAD_DEPTH: usize = 2;

/// Reads `inputs` in order on a thread of its own ([`prepare`]), each
/// small file read and inflated whole ([`Ahead::Content`]) and each file
/// that may not be a log looked at, while the one before is being scanned,
/// so that a scan of many small files keeps two CPUs busy as one of a
/// large file does. The thread ends with the inputs, or when the receiver
/// is dropped.
pub fn read_ahead(
    inputs: Vec<Input>,
    limits: Limits,
) -> io::Result<mpsc::Receiver<(Input, Ahead)>> {
    let (send, ready) = mpsc::sync_channel(AHEAD_DEPTH);
    std::thread::Builder::new()
        .name("trailwatch-ahead".to_string())
        .spawn(move || {
            for input in inputs {
                let ahead = prepare(&input, &limits, true);
                if send.send((input, ahead)).is_err() {
                    return;
                }
            }
        })?;
    Ok(ready)
}

/// A small file's content, inflated; else [`Ahead::Input`].
fn ahead_of(path: &Path, limits: &Limits) -> Ahead {
    let small = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() <= AHEAD_MAX_FILE);
    if !small {
        return Ahead::Input;
    }
    let Ok(bytes) = std::fs::read(path) else {
        return Ahead::Input;
    };
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ahead::Content(Content(Arc::new(bytes)));
    }
    let cap = AHEAD_MAX_CONTENT.min(limits.max_decompressed_bytes);
    let mut content = Vec::with_capacity(bytes.len() * 8);
    let inflated = flate2::read::MultiGzDecoder::new(&bytes[..])
        .take(cap + 1)
        .read_to_end(&mut content);
    // Content that is not JSON is read as usual, so that what is said
    // of it ("the decompressed content is ...") names the gzip.
    let body = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&content);
    let json = matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    );
    match inflated {
        Ok(n) if n as u64 <= cap && json => Ahead::Content(Content(Arc::new(content))),
        _ => Ahead::Input,
    }
}

/// Bytes of a file read to find its first record; a record longer than
/// this is taken for a log (reading it says if it is not).
const SNIFF_BYTES: u64 = 1 << 20;

/// Why the content is not a CloudTrail log, or `None` when it is one (or
/// a damaged one, whose reading will say what is wrong).
pub fn sniff(source: impl Read + Send + 'static) -> Option<String> {
    let limits = Limits {
        threads: 1,
        ..Limits::default()
    };
    let mut records = peek_log(source.take(SNIFF_BYTES), limits);
    let first = match records.next_record() {
        // Empty: `{"Records":[]}` or `[]`, nothing to read but no harm.
        None => return None,
        // The common case without building the record: its marks only.
        Some(Ok(record))
            if serde_json::from_slice::<Marks>(record).is_ok_and(|m| m.cloudtrail()) =>
        {
            return None
        }
        Some(Ok(record)) => Ok(serde_json::from_slice::<Value>(record).ok()),
        Some(Err(LogError::Source(_))) => return None,
        Some(Err(err)) => Err(err),
    };
    let first = match first {
        Ok(first) => first,
        Err(_) if records.shape().is_some() => return None,
        Err(err) => return Some(err.to_string()),
    };
    match first {
        Some(record) if is_cloudtrail_record(&record) => None,
        Some(Value::Object(map)) => {
            let keys: Vec<&str> = map.keys().take(5).map(String::as_str).collect();
            let more = if map.len() > keys.len() { ", ..." } else { "" };
            Some(format!(
                "not a CloudTrail log: its first record is not a CloudTrail record (its keys are {}{more})",
                keys.join(", ")
            ))
        }
        _ => Some("not a CloudTrail log: its first record is not a JSON object".into()),
    }
}

/// What tells a CloudTrail record, read without the rest of it.
#[derive(serde::Deserialize)]
struct Marks<'a> {
    #[serde(rename = "eventTime")]
    event_time: Option<serde::de::IgnoredAny>,
    #[serde(rename = "eventSource", borrow)]
    event_source: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "insightDetails")]
    insight_details: Option<serde::de::IgnoredAny>,
}

impl Marks<'_> {
    /// As [`is_cloudtrail_record`] says.
    fn cloudtrail(&self) -> bool {
        self.insight_details.is_some()
            || (self.event_time.is_some()
                && self
                    .event_source
                    .as_deref()
                    .is_some_and(|s| !s.starts_with("aws:")))
    }
}

/// A CloudTrail record, told from the other `{"Records":[...]}` JSON (S3,
/// SNS and SQS notifications, whose `eventSource` is `aws:s3`...): an
/// `eventTime` and a service's `eventSource`, or an Insights record.
fn is_cloudtrail_record(record: &Value) -> bool {
    let source = record.get("eventSource").and_then(Value::as_str);
    record.get("insightDetails").is_some()
        || (record.get("eventTime").is_some() && source.is_some_and(|s| !s.starts_with("aws:")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_walked_in_order_and_digests_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let digest = root.join("AWSLogs/1/CloudTrail-Digest/us-east-1");
        let logs = root.join("AWSLogs/1/CloudTrail/us-east-1");
        std::fs::create_dir_all(&digest).expect("mkdir");
        std::fs::create_dir_all(&logs).expect("mkdir");
        for (path, body) in [
            (logs.join("c.json.gz"), "x"),
            (logs.join("b.json.gz"), "x"),
            (logs.join("empty.json.gz"), ""),
            (logs.join("notes.txt"), "x"),
            (digest.join("d.json.gz"), "x"),
        ] {
            std::fs::write(path, body).expect("write");
        }
        let found = expand(&[root.to_path_buf(), PathBuf::from("-")]);
        assert_eq!(
            found.inputs,
            [
                Input::File(logs.join("b.json.gz")),
                Input::File(logs.join("c.json.gz")),
                Input::Stdin
            ]
        );
        let skipped: Vec<&Skip> = found.skipped.iter().map(|(_, k)| k).collect();
        assert_eq!(
            skipped,
            [
                &Skip::Kind(ObjectKind::Empty),
                &Skip::Kind(ObjectKind::Digest)
            ]
        );
        assert!(found.errors.is_empty());
    }

    #[test]
    fn files_outside_the_layout_are_looked_at_where_they_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let record = r#"{"eventVersion":"1.08","eventTime":"t","eventSource":"iam.amazonaws.com"}"#;
        let s3 = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventTime":"t"}]}"#;
        std::fs::write(root.join("a.json"), format!(r#"{{"Records":[{record}]}}"#)).expect("write");
        std::fs::write(root.join("b.json"), s3).expect("write");
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gzip, s3.as_bytes()).expect("gzip");
        std::fs::write(root.join("c.json.gz"), gzip.finish().expect("gzip")).expect("write");
        let found = expand(&[root.to_path_buf()]);
        assert_eq!(
            found.inputs,
            ["a.json", "b.json", "c.json.gz"].map(|name| Input::Unsure(root.join(name)))
        );
        assert!(
            found.skipped.is_empty(),
            "nothing read yet: {:?}",
            found.skipped
        );
        let limits = Limits::default();
        for read_small in [true, false] {
            let ready: Vec<Ahead> = found
                .inputs
                .iter()
                .map(|input| prepare(input, &limits, read_small))
                .collect();
            match (&ready[0], read_small) {
                (Ahead::Content(content), true) => {
                    assert!(content.as_ref().starts_with(b"{\"Records\""))
                }
                (Ahead::Input, false) => {}
                _ => panic!("the log is read whole only ahead"),
            }
            for skipped in &ready[1..] {
                match skipped {
                    Ahead::Skip(Skip::NotLog(why)) => {
                        assert!(why.contains("is not a CloudTrail record"), "{why}")
                    }
                    _ => panic!("a notification is skipped"),
                }
            }
        }
        // A file named on the command line is read whatever it holds.
        let named = expand(&[root.join("b.json")]);
        assert_eq!(named.inputs, [Input::File(root.join("b.json"))]);
        assert!(matches!(
            prepare(&named.inputs[0], &limits, false),
            Ahead::Input
        ));
    }

    #[test]
    fn cloudtrail_records_are_told_from_notifications() {
        let sniffed = |text: &str| sniff(io::Cursor::new(text.as_bytes().to_vec()));
        let record = r#"{"eventVersion":"1.08","eventTime":"t","eventSource":"iam.amazonaws.com"}"#;
        for log in [
            format!(r#"{{"Records":[{record}]}}"#),
            format!("[{record}]"),
            format!("{record}\n{record}\n"),
            r#"{"Records":[]}"#.to_string(),
            r#"[{"insightDetails":{}}]"#.to_string(),
            // Damaged after its start: read, and the reading says so.
            format!(r#"{{"Records":[{record},"#),
        ] {
            assert_eq!(sniffed(&log), None, "{log}");
        }
        let s3 = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventTime":"t"}]}"#;
        assert_eq!(
            sniffed(s3).as_deref(),
            Some(
                "not a CloudTrail log: its first record is not a CloudTrail record \
                 (its keys are eventVersion, eventSource, eventTime)"
            )
        );
        assert_eq!(
            sniffed(r#"{"fileVersion":"1.0","configurationItems":[]}"#).as_deref(),
            Some(
                "not a CloudTrail log: no \"Records\" array (its keys are fileVersion, \
                 configurationItems)"
            )
        );
        assert!(sniffed("# notes").is_some_and(|why| why.contains("neither gzip nor JSON")));
    }
}
