//! Turning a CloudTrail log object into records, one at a time.
//!
//! A log object is `{"Records":[{...},{...}]}`, usually gzipped. We never hold
//! the object whole: the byte stream is inflated through a 1 MiB buffer and a
//! small scanner finds the extent of each record (strings, escapes, nesting),
//! so only one record is in memory at a time. Parsing the record is the
//! caller's job (see `record.rs`); the scanner only finds its bytes.

use std::io::{self, BufRead, BufReader, Read};

use flate2::bufread::MultiGzDecoder;

/// Bytes read from the source (or inflated) per refill.
const READ_BUFFER: usize = 1 << 20;

/// Limits that protect a 128 MB Lambda from hostile or broken objects.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest single record accepted, in bytes. CloudTrail records are at
    /// most a few hundred KiB; anything far larger is not CloudTrail.
    pub max_record_bytes: usize,
    /// Largest decompressed object accepted (a gzip bomb stops here).
    pub max_decompressed_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_record_bytes: 16 << 20,
            max_decompressed_bytes: 8 << 30,
        }
    }
}

/// What is wrong with a log object. Every variant but `Source` is permanent:
/// retrying the same bytes cannot help.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("reading the object failed: {0}")]
    Source(io::Error),
    #[error("not a valid gzip stream: {0}")]
    Gzip(io::Error),
    #[error("truncated: the object ends inside {0}")]
    Truncated(&'static str),
    #[error("not a CloudTrail log: {0}")]
    NotCloudTrail(String),
    #[error("not a CloudTrail log: no \"Records\" array")]
    NoRecords,
    #[error("invalid JSON at byte {offset}: {what}")]
    Syntax { offset: u64, what: String },
    #[error("record {index} is larger than the limit of {limit} bytes")]
    RecordTooLarge { index: u64, limit: usize },
    #[error("decompressed size exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
}

impl LogError {
    /// Transient errors may succeed on retry; everything else is a property of
    /// the object itself.
    pub fn is_transient(&self) -> bool {
        matches!(self, LogError::Source(_))
    }
}

/// Marks an I/O error as coming from the object source (network, S3 body)
/// rather than from the bytes themselves, so the decoder can tell a dropped
/// connection (retry) from a corrupt gzip (give up).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceReadError(pub io::Error);

/// Wraps a source so its read errors are recognisable after passing through
/// the gzip decoder.
pub struct TaggedSource<R>(pub R);

impl<R: Read> Read for TaggedSource<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| io::Error::other(SourceReadError(e)))
    }
}

fn classify_io(err: io::Error, in_gzip: bool) -> LogError {
    let from_source = err
        .get_ref()
        .is_some_and(|inner| inner.is::<SourceReadError>());
    if from_source {
        LogError::Source(err)
    } else if in_gzip && err.kind() == io::ErrorKind::UnexpectedEof {
        LogError::Truncated("the gzip stream")
    } else if in_gzip {
        LogError::Gzip(err)
    } else {
        LogError::Source(err)
    }
}

fn read_error(err: io::Error, is_gzip: bool, limit: u64) -> LogError {
    if err.get_ref().is_some_and(|inner| inner.is::<TooLarge>()) {
        LogError::TooLarge { limit }
    } else {
        classify_io(err, is_gzip)
    }
}

/// Counts decompressed bytes and refuses to go past the limit.
struct Capped<R> {
    inner: R,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other(TooLarge));
        }
        Ok(n)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("decompressed size limit exceeded")]
struct TooLarge;

/// Opens a log object: detects gzip by its magic bytes (plain JSON is
/// accepted too) and returns a record iterator.
pub fn open<R: Read + Send + 'static>(source: R, limits: Limits) -> Records {
    let mut raw = BufReader::with_capacity(READ_BUFFER, TaggedSource(source));
    let is_gzip = match raw.fill_buf() {
        Ok(head) => head.starts_with(&[0x1f, 0x8b]),
        Err(e) => return Records::failed(classify_io(e, false)),
    };
    let inner: Box<dyn Read + Send> = if is_gzip {
        Box::new(MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let capped = Capped {
        inner,
        read: 0,
        limit: limits.max_decompressed_bytes,
    };
    Records::new(
        BufReader::with_capacity(READ_BUFFER, capped),
        is_gzip,
        limits,
    )
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Before the top-level `{`.
    Start,
    /// Inside the top-level object, before a key or `}`.
    TopKey,
    /// Inside the `Records` array, before an element or `]`.
    InRecords,
    /// The top-level object is closed.
    Done,
    /// An error was returned; the iterator is finished.
    Failed,
}

/// Iterator over the raw bytes of each record in a log object.
pub struct Records {
    reader: Option<BufReader<Capped<Box<dyn Read + Send>>>>,
    is_gzip: bool,
    limits: Limits,
    state: State,
    /// Bytes consumed so far from the decompressed stream (for error offsets).
    offset: u64,
    /// Records yielded so far.
    count: u64,
    saw_records: bool,
    /// After an element of `Records`, a `,` or `]` must follow.
    need_separator: bool,
    pending_error: Option<LogError>,
    record: Vec<u8>,
}

impl Records {
    fn new(reader: BufReader<Capped<Box<dyn Read + Send>>>, is_gzip: bool, limits: Limits) -> Self {
        Records {
            reader: Some(reader),
            is_gzip,
            limits,
            state: State::Start,
            offset: 0,
            count: 0,
            saw_records: false,
            need_separator: false,
            pending_error: None,
            record: Vec::new(),
        }
    }

    fn failed(err: LogError) -> Self {
        Records {
            reader: None,
            is_gzip: false,
            limits: Limits::default(),
            state: State::Start,
            offset: 0,
            count: 0,
            saw_records: false,
            need_separator: false,
            pending_error: Some(err),
            record: Vec::new(),
        }
    }

    /// Whether the object was gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        self.is_gzip
    }

    /// Number of records yielded so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Returns the next record's bytes. The slice is valid until the next call.
    pub fn next_record(&mut self) -> Option<Result<&[u8], LogError>> {
        if let Some(err) = self.pending_error.take() {
            self.state = State::Failed;
            return Some(Err(err));
        }
        match self.advance() {
            Ok(true) => {
                self.count += 1;
                Some(Ok(&self.record))
            }
            Ok(false) => None,
            Err(err) => {
                self.state = State::Failed;
                Some(Err(err))
            }
        }
    }

    /// Moves to the next record; `Ok(true)` when `self.record` holds one.
    fn advance(&mut self) -> Result<bool, LogError> {
        loop {
            match self.state {
                State::Failed => return Ok(false),
                State::Done => {
                    return match self.peek_non_ws()? {
                        None => Ok(false),
                        Some(_) => Err(self.syntax("data after the end of the log object")),
                    };
                }
                State::Start => match self.peek_non_ws()? {
                    Some(b'{') => {
                        self.bump();
                        self.state = State::TopKey;
                    }
                    Some(b'[') => {
                        return Err(LogError::NotCloudTrail(
                            "the top level is a JSON array, not an object with \"Records\"".into(),
                        ))
                    }
                    Some(_) => {
                        return Err(LogError::NotCloudTrail(
                            "the content is not a JSON object".into(),
                        ))
                    }
                    None => return Err(LogError::NotCloudTrail("the object is empty".into())),
                },
                State::TopKey => {
                    if !self.top_level_key()? {
                        continue;
                    }
                    self.state = State::InRecords;
                    self.saw_records = true;
                    self.need_separator = false;
                }
                State::InRecords => {
                    if self.records_element()? {
                        return Ok(true);
                    }
                }
            }
        }
    }

    /// Handles one step inside the top-level object. Returns true when the
    /// `Records` array has just been entered.
    fn top_level_key(&mut self) -> Result<bool, LogError> {
        match self.peek_non_ws()? {
            Some(b'}') => {
                self.bump();
                if !self.saw_records {
                    return Err(LogError::NoRecords);
                }
                self.state = State::Done;
                Ok(false)
            }
            Some(b',') => {
                self.bump();
                Ok(false)
            }
            Some(b'"') => {
                let key = self.read_key()?;
                match self.peek_non_ws()? {
                    Some(b':') => self.bump(),
                    Some(_) => return Err(self.syntax("expected ':' after a key")),
                    None => return Err(LogError::Truncated("the top-level object")),
                }
                if key == b"Records" {
                    match self.peek_non_ws()? {
                        Some(b'[') => {
                            self.bump();
                            return Ok(true);
                        }
                        Some(_) => {
                            return Err(LogError::NotCloudTrail(
                                "\"Records\" is not an array".into(),
                            ))
                        }
                        None => return Err(LogError::Truncated("the top-level object")),
                    }
                }
                if self.peek_non_ws()?.is_none() {
                    return Err(LogError::Truncated("the top-level object"));
                }
                self.skip_value()?;
                Ok(false)
            }
            Some(_) => Err(self.syntax("expected a key in the top-level object")),
            None => Err(LogError::Truncated("the top-level object")),
        }
    }

    /// Handles one step inside `Records`. Returns true when a record was read.
    fn records_element(&mut self) -> Result<bool, LogError> {
        match self.peek_non_ws()? {
            Some(b']') => {
                self.bump();
                self.state = State::TopKey;
                Ok(false)
            }
            Some(b',') if self.need_separator => {
                self.bump();
                self.need_separator = false;
                Ok(false)
            }
            Some(b'{') if !self.need_separator => {
                self.capture_value()?;
                self.need_separator = true;
                Ok(true)
            }
            Some(_) if self.need_separator => {
                Err(self.syntax("expected ',' or ']' after a record"))
            }
            Some(_) => Err(LogError::NotCloudTrail(format!(
                "record {} is not a JSON object",
                self.count
            ))),
            None => Err(LogError::Truncated("the Records array")),
        }
    }

    fn fill(&mut self) -> Result<&[u8], LogError> {
        let (is_gzip, limit) = (self.is_gzip, self.limits.max_decompressed_bytes);
        let reader = self.reader.as_mut().ok_or(LogError::NoRecords)?;
        reader.fill_buf().map_err(|e| read_error(e, is_gzip, limit))
    }

    fn consume(&mut self, n: usize) {
        if let Some(reader) = self.reader.as_mut() {
            reader.consume(n);
        }
        self.offset += n as u64;
    }

    fn bump(&mut self) {
        self.consume(1);
    }

    /// Skips whitespace (and a UTF-8 byte order mark at the very start) and
    /// returns the next byte without consuming it.
    fn peek_non_ws(&mut self) -> Result<Option<u8>, LogError> {
        loop {
            let at_start = self.offset == 0;
            let buf = self.fill()?;
            if buf.is_empty() {
                return Ok(None);
            }
            if at_start && buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
                self.consume(3);
                continue;
            }
            let skip = buf
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(buf.len());
            let next = buf.get(skip).copied();
            self.consume(skip);
            if let Some(b) = next {
                return Ok(Some(b));
            }
        }
    }

    /// Reads a top-level key (a short string). Keys longer than 1 KiB are
    /// not CloudTrail.
    fn read_key(&mut self) -> Result<Vec<u8>, LogError> {
        self.record.clear();
        self.scan_value(Keep::Key)?;
        let end = self.record.len().saturating_sub(1);
        Ok(self.record.get(1..end).unwrap_or_default().to_vec())
    }

    fn capture_value(&mut self) -> Result<(), LogError> {
        self.record.clear();
        self.scan_value(Keep::Record)
    }

    fn skip_value(&mut self) -> Result<(), LogError> {
        self.record.clear();
        self.scan_value(Keep::Nothing)
    }

    /// Scans one JSON value starting at the next byte, keeping its bytes in
    /// `self.record` unless told to skip it.
    fn scan_value(&mut self, keep: Keep) -> Result<(), LogError> {
        let limit = match keep {
            Keep::Nothing => usize::MAX,
            Keep::Key => MAX_KEY_BYTES,
            Keep::Record => self.limits.max_record_bytes,
        };
        let mut scan = Scanner::default();
        let mut kept = 0usize;
        let (is_gzip, max_bytes) = (self.is_gzip, self.limits.max_decompressed_bytes);
        loop {
            let reader = self.reader.as_mut().ok_or(LogError::NoRecords)?;
            let buf = reader
                .fill_buf()
                .map_err(|e| read_error(e, is_gzip, max_bytes))?;
            if buf.is_empty() {
                return Err(LogError::Truncated(scan.context()));
            }
            let (used, done) = scan.feed(buf);
            if keep != Keep::Nothing {
                kept += used;
                if kept > limit {
                    return Err(if keep == Keep::Key {
                        self.syntax("a top-level key is implausibly long")
                    } else {
                        LogError::RecordTooLarge {
                            index: self.count,
                            limit,
                        }
                    });
                }
                self.record.extend_from_slice(&buf[..used]);
            }
            reader.consume(used);
            self.offset += used as u64;
            if let Some(err) = scan.error.take() {
                return Err(self.syntax(err));
            }
            if done {
                return Ok(());
            }
        }
    }

    fn syntax(&self, what: &str) -> LogError {
        LogError::Syntax {
            offset: self.offset,
            what: what.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Keep {
    Nothing,
    Key,
    Record,
}

/// Top-level keys of a CloudTrail log are short; a longer one is garbage.
const MAX_KEY_BYTES: usize = 1024;

/// Finds where one JSON value ends: tracks strings, escapes and nesting.
/// Scalars (numbers, literals) end at the first delimiter, which is not
/// consumed.
#[derive(Default)]
struct Scanner {
    started: bool,
    depth: u32,
    /// One bit per open container, set for arrays, so a `}` cannot close a
    /// `[` (MAX_DEPTH bits).
    arrays: u128,
    in_string: bool,
    escape: bool,
    scalar: bool,
    error: Option<&'static str>,
}

/// Deeper nesting than this is not a CloudTrail record and would make a
/// later recursive parse expensive.
const MAX_DEPTH: u32 = 128;

impl Scanner {
    fn context(&self) -> &'static str {
        if self.in_string {
            "a string"
        } else if self.depth > 0 {
            "a record"
        } else {
            "a value"
        }
    }

    /// Feeds bytes; returns how many belong to the value and whether it ended.
    fn feed(&mut self, buf: &[u8]) -> (usize, bool) {
        for (i, &b) in buf.iter().enumerate() {
            if !self.started {
                self.started = true;
                match b {
                    b'{' | b'[' => {
                        self.depth = 1;
                        self.arrays = u128::from(b == b'[');
                    }
                    b'"' => self.in_string = true,
                    _ => self.scalar = true,
                }
                continue;
            }
            if self.scalar {
                if matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace() {
                    return (i, true);
                }
                continue;
            }
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.depth == 0 {
                        return (i + 1, true);
                    }
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    if self.depth == MAX_DEPTH {
                        self.error = Some("nesting is deeper than 128 levels");
                        return (i + 1, true);
                    }
                    self.depth += 1;
                    self.arrays = (self.arrays << 1) | u128::from(b == b'[');
                }
                b'}' | b']' => {
                    if (self.arrays & 1 == 1) != (b == b']') {
                        self.error = Some("a closing bracket does not match its opening one");
                        return (i + 1, true);
                    }
                    self.arrays >>= 1;
                    self.depth -= 1;
                    if self.depth == 0 {
                        return (i + 1, true);
                    }
                }
                _ => {}
            }
        }
        (buf.len(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn records_of(bytes: &[u8]) -> Result<Vec<String>, LogError> {
        let mut records = open(io::Cursor::new(bytes.to_vec()), Limits::default());
        let mut out = Vec::new();
        while let Some(next) = records.next_record() {
            out.push(String::from_utf8_lossy(next?).into_owned());
        }
        Ok(out)
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).expect("write to Vec");
        enc.finish().expect("finish gzip")
    }

    #[test]
    fn splits_records_with_tricky_strings() {
        let cases: &[(&str, &[&str])] = &[
            (r#"{"Records":[]}"#, &[]),
            (r#"{"Records":[{"a":1}]}"#, &[r#"{"a":1}"#]),
            (
                r#"{"Records":[{"a":"]}"},{"b":"\"}{["}]}"#,
                &[r#"{"a":"]}"}"#, r#"{"b":"\"}{["}"#],
            ),
            (
                r#"{"Records":[{"a":"back\\"},{"n":{"m":[1,{"x":[]}]}}]}"#,
                &[r#"{"a":"back\\"}"#, r#"{"n":{"m":[1,{"x":[]}]}}"#],
            ),
            (
                "{ \"x\": [1,{\"Records\":2}], \"Records\" : [ {\"a\":1} ,\n {\"b\":2} ] , \"y\":null }",
                &[r#"{"a":1}"#, r#"{"b":2}"#],
            ),
            ("\u{feff}{\"Records\":[{\"a\":1}]}", &[r#"{"a":1}"#]),
        ];
        for (input, want) in cases {
            let got = records_of(input.as_bytes()).expect(input);
            assert_eq!(&got, want, "input {input}");
            let got = records_of(&gzip(input.as_bytes())).expect(input);
            assert_eq!(&got, want, "gzipped input {input}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_cloudtrail_log() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "the object is empty"),
            (b"[{\"a\":1}]", "top level is a JSON array"),
            (b"hello", "not a JSON object"),
            (b"{\"digestEndTime\":\"x\"}", "no \"Records\" array"),
            (b"{\"Records\":{}}", "\"Records\" is not an array"),
            (b"{\"Records\":[1]}", "record 0 is not a JSON object"),
            (
                b"{\"Records\":[{\"a\":1}",
                "truncated: the object ends inside the Records array",
            ),
            (
                b"{\"Records\":[{\"a\":\"x",
                "truncated: the object ends inside a string",
            ),
            (
                b"{\"Records\":[{\"a\":1} {\"b\":2}]}",
                "expected ',' or ']'",
            ),
            (b"{\"Records\":[]} trailing", "data after the end"),
            (
                b"{\"Records\":[{\"a\":[}]}",
                "closing bracket does not match",
            ),
            (b"{\"Records\":", "truncated"),
        ];
        for (input, want) in cases {
            let err = records_of(input).expect_err(&String::from_utf8_lossy(input));
            assert!(
                err.to_string().contains(want),
                "input {:?}: got {err}, want {want}",
                String::from_utf8_lossy(input)
            );
            assert!(!err.is_transient());
        }
    }

    #[test]
    fn truncated_gzip_is_reported_as_truncated() {
        let full = gzip(br#"{"Records":[{"a":1},{"b":2}]}"#);
        let err = records_of(&full[..full.len() - 6]).expect_err("truncated gzip");
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn corrupt_gzip_is_a_gzip_error() {
        let mut bytes = gzip(br#"{"Records":[{"a":1}]}"#);
        for b in bytes.iter_mut().skip(10).take(8) {
            *b ^= 0xA5;
        }
        let err = records_of(&bytes).expect_err("corrupt gzip");
        assert!(
            matches!(err, LogError::Gzip(_) | LogError::Truncated(_)),
            "{err}"
        );
    }

    #[test]
    fn record_size_and_nesting_limits_hold() {
        let big = format!(r#"{{"Records":[{{"a":"{}"}}]}}"#, "x".repeat(4096));
        let limits = Limits {
            max_record_bytes: 1024,
            ..Limits::default()
        };
        let mut records = open(io::Cursor::new(big.into_bytes()), limits);
        let err = records
            .next_record()
            .expect("one item")
            .expect_err("too large");
        assert!(
            matches!(err, LogError::RecordTooLarge { index: 0, .. }),
            "{err}"
        );

        let deep = format!(
            r#"{{"Records":[{{"a":{}{}}}]}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let err = records_of(deep.as_bytes()).expect_err("too deep");
        assert!(err.to_string().contains("deeper than 128"), "{err}");
    }

    #[test]
    fn decompressed_size_limit_stops_a_bomb() {
        let body = format!(r#"{{"Records":[{{"a":"{}"}}]}}"#, " ".repeat(1 << 20));
        let limits = Limits {
            max_decompressed_bytes: 64 << 10,
            ..Limits::default()
        };
        let mut records = open(io::Cursor::new(gzip(body.as_bytes())), limits);
        let err = records.next_record().expect("one item").expect_err("bomb");
        assert!(matches!(err, LogError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn source_errors_are_transient() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"))
            }
        }
        let mut records = open(Broken, Limits::default());
        let err = records
            .next_record()
            .expect("one item")
            .expect_err("broken");
        assert!(err.is_transient(), "{err}");
    }
}
