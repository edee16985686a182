//! A log's content ([`super::decode`]) split into records, one at a time.
//!
//! A log object is `{"Records":[{...},{...}]}`. We never hold it whole: each
//! record is found where it is in the content's buffer, with its tokens
//! ([`classify::object_tokens`]), or failing that by a scanner that follows
//! strings, escapes and nesting; only one record is in memory at a time.
//! Reading the record is the caller's job ([`crate::record`]); the splitter
//! only finds its bytes.
//!
//! What the decoder accepts beyond the plain `{"Records":[...]}` (the
//! malformed objects in `tests/data/bad/` pin every case down):
//!
//! - several log objects one after the other (`{"Records":[..]} {"Records":[..]}`,
//!   which is what concatenating two gzipped logs gives): every record of
//!   every object is read;
//! - a UTF-8 byte order mark before the JSON;
//! - the shapes CloudTrail records are exported in: a top-level array of
//!   records (`[{...},{...}]`, the console's event history download) and
//!   one record per line (JSON lines, as Athena and CloudWatch Logs export
//!   them). A top-level object whose first key is a CloudTrail record field
//!   (`eventVersion`, `eventTime`...) is taken as the first of such
//!   records; the rest is read the same way.
//!
//! Problems with one record (not JSON, not an object, not UTF-8, nested too
//! deeply, duplicate keys) are the record parser's to report: the scanner
//! hands the record over and goes on to the next, so one bad record does not
//! hide the others. Problems with the object (not gzip, not JSON, truncated,
//! no `Records`, a record over the size limit, too much data) end the scan
//! with a [`LogError`] that says what arrived; records read before it have
//! been yielded.

use std::time::Instant;

use super::decode::{describe_bytes, Content, LogError};
use super::limits::Limits;
use crate::json::classify::{self, brackets, Brackets, StringState, Tokens, BLOCK};
use crate::json::MAX_DEPTH;

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Before the first top-level `{`.
    Start,
    /// Inside a top-level object, before a key or `}`.
    TopKey,
    /// Between records written one after the other (JSON lines).
    Lines,
    /// Inside a `Records` array, before an element or `]`.
    InRecords,
    /// A top-level object is closed; another may follow.
    Done,
    /// An error was returned; the iterator is finished.
    Failed,
}

/// How the records are laid out, once the start of the content said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"Records":[...]}`, as CloudTrail writes it.
    Log,
    /// `[{...},{...}]`: the records as a top-level array.
    Array,
    /// `{...}{...}`: one record after the other, usually one per line.
    Lines,
}

/// What one step inside a top-level object found.
enum TopStep {
    Nothing,
    /// The `Records` array was entered.
    Records,
    /// The object is a record (JSON lines): its bytes are in `record`.
    Record,
}

/// Iterator over the raw bytes of each record in a log object.
pub struct Records {
    content: Content,
    limits: Limits,
    state: State,
    /// Bytes consumed so far from the decompressed stream (for error offsets).
    offset: u64,
    /// Records yielded so far.
    count: u64,
    /// `Records` arrays seen in the current top-level object.
    records_arrays: u32,
    /// The other keys of the current top-level object (the first few), for
    /// the error when it has no `Records`.
    other_keys: Vec<String>,
    other_key_count: u64,
    /// After an element of `Records`, a `,` or `]` must follow.
    need_separator: bool,
    /// A `,` was just read inside `Records`: a record must follow.
    after_comma: bool,
    pending_error: Option<LogError>,
    record: Vec<u8>,
    /// A record found where it is, in the reader's buffer
    /// ([`classify::object_tokens`]): its length (consumed when the next
    /// record is asked for) and whether it has escapes. Most records are
    /// found so, and are neither scanned a second time nor copied.
    in_place: Option<(usize, bool)>,
    /// That record's tokens.
    tokens: Vec<u64>,
    /// When to stop reading ([`Limits::stop_for_object`]).
    stop: Option<Instant>,
    /// The layout, once known.
    shape: Option<Shape>,
    /// Top-level values begun so far.
    top_values: u64,
}

/// Records between two looks at the clock: the inflated bytes are checked
/// a buffer at a time ([`Capped`]), but a buffer of tiny records takes
/// long to evaluate (a MiB is 350,000 records of `{}`).
const RECORDS_PER_CLOCK_READ: u64 = 4096;

/// A record's bytes and, when the splitter found them with it, its tokens
/// ([`classify::object_tokens`]).
pub type WithTokens<'r> = (&'r [u8], Option<Tokens<'r>>);

/// How many of the other top-level keys an error message lists.
const KEYS_SHOWN: usize = 6;

impl Records {
    /// The scan's event-time window ([`Limits::event_window`]).
    pub fn event_window(&self) -> super::EventWindow {
        self.limits.event_window
    }

    /// The records of `content`, or of none when it could not be opened
    /// (the error comes first).
    pub fn new(content: Result<Content, LogError>, limits: Limits) -> Self {
        let (content, pending_error) = match content {
            Ok(content) => (content, None),
            Err(err) => (Content::empty(), Some(err)),
        };
        Records {
            content,
            limits,
            state: State::Start,
            offset: 0,
            count: 0,
            records_arrays: 0,
            other_keys: Vec::new(),
            other_key_count: 0,
            need_separator: false,
            after_comma: false,
            pending_error,
            record: Vec::new(),
            in_place: None,
            tokens: Vec::new(),
            stop: limits.stop_for_object(),
            shape: None,
            top_values: 0,
        }
    }

    /// Bytes of content (inflated) read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether the object was gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        self.content.is_gzip()
    }

    /// How the records are laid out; `None` until the start of the content
    /// showed a shape of log (or when it showed none).
    pub fn shape(&self) -> Option<Shape> {
        self.shape
    }

    /// Returns the next record's bytes. The slice is valid until the next call.
    /// A record is any JSON value in `Records`; whether it is a valid
    /// CloudTrail record is for the caller to decide.
    pub fn next_record(&mut self) -> Option<Result<&[u8], LogError>> {
        self.next_with_tokens()
            .map(|next| next.map(|(bytes, _)| bytes))
    }

    /// [`Records::next_record`], with the record's tokens when they were
    /// found with it ([`classify::object_tokens`]).
    pub fn next_with_tokens(&mut self) -> Option<Result<WithTokens<'_>, LogError>> {
        if let Some((read, _)) = self.in_place.take() {
            self.consume(read);
        }
        if let Some(err) = self.pending_error.take() {
            self.state = State::Failed;
            return Some(Err(err));
        }
        if self.count % RECORDS_PER_CLOCK_READ == RECORDS_PER_CLOCK_READ - 1
            && self.state != State::Failed
            && self.stop.is_some_and(|stop| Instant::now() >= stop)
        {
            self.state = State::Failed;
            return Some(Err(LogError::OutOfTime {
                inflated: self.offset,
            }));
        }
        match self.advance() {
            Ok(true) => {
                self.count += 1;
                let Some((len, escapes)) = self.in_place else {
                    return Some(Ok((&self.record, None)));
                };
                let tokens = Tokens {
                    masks: &self.tokens,
                    escapes,
                };
                // The bytes found in the buffer are still there, unconsumed.
                match self.content.fill() {
                    Ok(buf) => Some(Ok((buf.get(..len).unwrap_or_default(), Some(tokens)))),
                    Err(err) => {
                        self.in_place = None;
                        self.state = State::Failed;
                        Some(Err(err))
                    }
                }
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
                State::Done => match (self.peek_non_ws()?, self.shape) {
                    (None, _) => return Ok(false),
                    // Concatenated log objects (or exported arrays): read
                    // the next one too.
                    (Some(b'{'), Some(Shape::Log)) => self.begin_object(),
                    (Some(b'['), Some(Shape::Array)) => self.begin_array(),
                    (Some(_), _) => {
                        let rest = describe_bytes(self.fill()?);
                        let what = match self.shape {
                            Some(Shape::Array) => "the top-level array",
                            _ => "the log object",
                        };
                        return Err(self.syntax(format!(
                            "data after the end of {what}: it goes on with {rest}"
                        )));
                    }
                },
                State::Start => match self.peek_non_ws()? {
                    Some(b'{') if !self.content.looks_like_utf16() => self.begin_object(),
                    Some(b'[') => {
                        self.shape = Some(Shape::Array);
                        self.begin_array();
                    }
                    Some(b'"') => {
                        let twice = self.content.head().starts_with(br#""{\"Records\""#);
                        return Err(LogError::NotCloudTrail(format!(
                            "the top level is a JSON string, not an object with \"Records\"{}",
                            if twice {
                                " (a log encoded as a JSON string)"
                            } else {
                                ""
                            }
                        )));
                    }
                    Some(_) => return Err(LogError::NotCloudTrail(self.content.describe())),
                    None => return Err(LogError::NotCloudTrail(self.describe_empty())),
                },
                State::TopKey => match self.top_level_key()? {
                    TopStep::Nothing => {}
                    TopStep::Records => {
                        self.shape = Some(Shape::Log);
                        self.state = State::InRecords;
                        self.records_arrays += 1;
                        self.need_separator = false;
                        self.after_comma = false;
                    }
                    TopStep::Record => {
                        self.shape = Some(Shape::Lines);
                        self.state = State::Lines;
                        return Ok(true);
                    }
                },
                State::Lines => match self.peek_non_ws()? {
                    None => return Ok(false),
                    Some(b'{') => {
                        if !self.find_in_place()? {
                            self.capture_value()?;
                        }
                        return Ok(true);
                    }
                    Some(b) => {
                        return Err(self.syntax(format!(
                            "expected the next record (a JSON object), found {}",
                            json_type(b)
                        )))
                    }
                },
                State::InRecords => {
                    if self.records_element()? {
                        return Ok(true);
                    }
                }
            }
        }
    }

    /// Consumes a top-level `[` of exported records.
    fn begin_array(&mut self) {
        self.bump();
        self.top_values += 1;
        self.state = State::InRecords;
        self.need_separator = false;
        self.after_comma = false;
    }

    /// Consumes a top-level `{`.
    fn begin_object(&mut self) {
        self.bump();
        self.top_values += 1;
        self.state = State::TopKey;
        self.records_arrays = 0;
        self.other_keys.clear();
        self.other_key_count = 0;
    }

    /// Handles one step inside the top-level object.
    fn top_level_key(&mut self) -> Result<TopStep, LogError> {
        match self.peek_non_ws()? {
            Some(b'}') => {
                self.bump();
                match self.records_arrays {
                    0 => return Err(LogError::NoRecords(self.describe_keys())),
                    1 => {}
                    n => {
                        // Ambiguous JSON (a parser keeps one of them); every
                        // record of every copy has been read.
                        return Err(LogError::NotCloudTrail(format!(
                            "\"Records\" appears {n} times in the top-level object \
                             (the records of every copy were read)"
                        )));
                    }
                }
                self.state = State::Done;
                Ok(TopStep::Nothing)
            }
            Some(b',') => {
                self.bump();
                Ok(TopStep::Nothing)
            }
            Some(b'"') => {
                let key = self.read_key()?;
                let raw_key = std::mem::take(&mut self.record);
                match self.peek_non_ws()? {
                    Some(b':') => self.bump(),
                    Some(_) => return Err(self.syntax("expected ':' after a key")),
                    None => return Err(LogError::Truncated("the top-level object")),
                }
                // JSON lines: the first object of the content starts like a
                // record, not like a log. Its bytes so far are put back
                // together and the rest of it read as a record.
                let first_key = self.top_values == 1 && self.other_key_count == 0;
                if first_key && self.records_arrays == 0 && is_record_field(&key) {
                    self.record.clear();
                    self.record.push(b'{');
                    self.record.extend_from_slice(&raw_key);
                    self.record.push(b':');
                    let mut scan = Scanner {
                        started: true,
                        ..Scanner::default()
                    };
                    scan.open(false);
                    self.scan_with(Keep::Record, scan)?;
                    return Ok(TopStep::Record);
                }
                if key == "Records" {
                    return match self.peek_non_ws()? {
                        Some(b'[') => {
                            self.bump();
                            Ok(TopStep::Records)
                        }
                        Some(b) => Err(LogError::NotCloudTrail(format!(
                            "\"Records\" is {}, not an array",
                            json_type(b)
                        ))),
                        None => Err(LogError::Truncated("the top-level object")),
                    };
                }
                self.other_key_count += 1;
                if self.other_keys.len() < KEYS_SHOWN {
                    self.other_keys.push(key);
                }
                if self.peek_non_ws()?.is_none() {
                    return Err(LogError::Truncated("the top-level object"));
                }
                self.skip_value()?;
                Ok(TopStep::Nothing)
            }
            Some(_) => Err(self.syntax("expected a key in the top-level object")),
            None => Err(LogError::Truncated("the top-level object")),
        }
    }

    /// Handles one step inside `Records`. Returns true when a record was read.
    fn records_element(&mut self) -> Result<bool, LogError> {
        let array = self.shape == Some(Shape::Array);
        let within = if array {
            "the top-level array"
        } else {
            "the Records array"
        };
        match self.peek_non_ws()? {
            Some(b']') if self.after_comma => Err(self.syntax(format!(
                "a ',' in {within} is followed by ']', not a record"
            ))),
            Some(b']') => {
                self.bump();
                self.state = if array { State::Done } else { State::TopKey };
                Ok(false)
            }
            // An array of something else than records is not an export of
            // a log; said once, at its first element.
            Some(b) if array && self.count == 0 && !self.need_separator && b != b'{' => {
                Err(LogError::NotCloudTrail(format!(
                    "the top level is a JSON array whose first element is {}, not a record",
                    json_type(b)
                )))
            }
            Some(b',') if self.need_separator => {
                self.bump();
                self.need_separator = false;
                self.after_comma = true;
                Ok(false)
            }
            Some(_) if self.need_separator => {
                Err(self.syntax("expected ',' or ']' after a record"))
            }
            Some(b @ (b',' | b':' | b'}')) => Err(self.syntax(format!(
                "expected a record in {within}, found '{}'",
                char::from(b)
            ))),
            Some(b'{') if self.find_in_place()? => {
                self.need_separator = true;
                self.after_comma = false;
                Ok(true)
            }
            Some(_) => {
                // Any value: one that is not an object is an invalid record
                // for the caller to count, not the end of the log.
                self.capture_value()?;
                self.need_separator = true;
                self.after_comma = false;
                Ok(true)
            }
            None => Err(LogError::Truncated(within)),
        }
    }

    fn fill(&mut self) -> Result<&[u8], LogError> {
        self.content.fill()
    }

    /// Whether a gzip log inflates on a thread of its own.
    pub fn inflating_apart(&self) -> bool {
        self.content.inflating_apart()
    }

    /// From the next record on, a gzip log inflates on a thread of its
    /// own ([`Limits::threads`]), when it did not already; false when
    /// there is nothing to move (plain JSON, or apart already).
    pub fn inflate_apart(&mut self) -> bool {
        if !self.content.is_gzip() || self.content.inflating_apart() {
            return false;
        }
        // The last record's bytes go; what the buffer holds after them is
        // read first on the new thread.
        if let Some((read, _)) = self.in_place.take() {
            self.consume(read);
        }
        self.content.inflate_apart()
    }

    fn consume(&mut self, n: usize) {
        self.content.consume(n);
        self.offset += n as u64;
    }

    fn bump(&mut self) {
        self.consume(1);
    }

    /// Skips whitespace and returns the next byte without consuming it.
    fn peek_non_ws(&mut self) -> Result<Option<u8>, LogError> {
        loop {
            let buf = self.fill()?;
            if buf.is_empty() {
                return Ok(None);
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

    /// Says what an object with no JSON value in it holds.
    fn describe_empty(&self) -> String {
        match (self.offset, self.content.is_gzip()) {
            (0, false) => "the object is empty (0 bytes)".into(),
            (0, true) => "the gzip stream decompresses to 0 bytes".into(),
            (n, false) => format!("the object holds only whitespace ({n} bytes)"),
            (n, true) => format!("the decompressed content is only whitespace ({n} bytes)"),
        }
    }

    /// Lists the keys of a top-level object that has no `Records`.
    fn describe_keys(&self) -> String {
        if self.other_key_count == 0 {
            return "the top-level object is empty".into();
        }
        let mut keys = self.other_keys.join(", ");
        let more = self.other_key_count - self.other_keys.len() as u64;
        if more > 0 {
            keys.push_str(&format!(" and {more} more"));
        }
        format!("its keys are {keys}")
    }

    /// Reads a top-level key (a short string) and decodes its escapes.
    /// Keys longer than 1 KiB are not CloudTrail.
    fn read_key(&mut self) -> Result<String, LogError> {
        self.record.clear();
        self.scan_value(Keep::Key)?;
        // A key that does not decode is not "Records" (which is all that
        // matters here): show it as it is.
        Ok(
            serde_json::from_slice::<String>(&self.record).unwrap_or_else(|_| {
                let end = self.record.len().saturating_sub(1);
                String::from_utf8_lossy(self.record.get(1..end).unwrap_or_default()).into_owned()
            }),
        )
    }

    /// Whether the record starting at the next byte is found in the
    /// reader's buffer as it is ([`Records::in_place`]); when not, the
    /// scanner reads it (and says what is wrong with it).
    fn find_in_place(&mut self) -> Result<bool, LogError> {
        let buf = self.content.fill()?;
        // Only a record within the size limit: the scanner names one past it.
        let buf = buf
            .get(..self.limits.max_record_bytes.min(buf.len()))
            .unwrap_or_default();
        self.in_place = classify::object_tokens(buf, &mut self.tokens);
        Ok(self.in_place.is_some())
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
        self.scan_with(keep, Scanner::default())
    }

    /// [`Records::scan_value`] from where `scan` is (inside an object
    /// already, for the first record of JSON lines), after the bytes in
    /// `self.record`.
    fn scan_with(&mut self, keep: Keep, mut scan: Scanner) -> Result<(), LogError> {
        let limit = match keep {
            Keep::Nothing => usize::MAX,
            Keep::Key => MAX_KEY_BYTES,
            Keep::Record => self.limits.max_record_bytes,
        };
        let mut kept = self.record.len();
        // Where the value starts: a key too long is named there, whatever
        // the sizes the bytes arrived in (found by the logfile fuzz target:
        // one thread and two named different places).
        let start = self.offset;
        loop {
            let buf = self.content.fill()?;
            if buf.is_empty() {
                return Err(LogError::Truncated(scan.context()));
            }
            let (used, done) = scan.feed(buf);
            if keep != Keep::Nothing {
                kept = kept.saturating_add(used);
                if kept > limit {
                    return Err(if keep == Keep::Key {
                        LogError::Syntax {
                            offset: start,
                            what: "a top-level key is implausibly long".into(),
                        }
                    } else {
                        LogError::RecordTooLarge {
                            index: self.count,
                            limit,
                        }
                    });
                }
                self.record
                    .extend_from_slice(buf.get(..used).unwrap_or_default());
            }
            self.consume(used);
            if let Some(err) = scan.error.take() {
                return Err(self.syntax(err));
            }
            if done {
                return Ok(());
            }
        }
    }

    fn syntax(&self, what: impl Into<String>) -> LogError {
        LogError::Syntax {
            offset: self.offset,
            what: what.into(),
        }
    }
}

/// The top-level fields of a CloudTrail record: an object that starts with
/// one is a record, not a log.
fn is_record_field(key: &str) -> bool {
    matches!(
        key,
        "eventVersion"
            | "eventTime"
            | "eventSource"
            | "eventName"
            | "eventID"
            | "eventType"
            | "eventCategory"
            | "userIdentity"
            | "awsRegion"
            | "sourceIPAddress"
            | "userAgent"
            | "requestParameters"
            | "responseElements"
            | "requestID"
            | "recipientAccountId"
            | "readOnly"
            | "resources"
            | "errorCode"
            | "errorMessage"
            | "additionalEventData"
            | "apiVersion"
            | "managementEvent"
            | "sharedEventID"
            | "vpcEndpointId"
            | "tlsDetails"
            | "sessionCredentialFromConsole"
            | "serviceEventDetails"
            | "insightDetails"
            | "edgeDeviceDetails"
    )
}

/// The JSON type a value starting with `b` has, for messages.
fn json_type(b: u8) -> &'static str {
    match b {
        b'{' => "an object",
        b'[' => "an array",
        b'"' => "a string",
        b'n' => "null",
        b't' | b'f' => "a boolean",
        b'-' | b'0'..=b'9' => "a number",
        _ => "something that is not JSON",
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
/// Scalars (numbers, literals, garbage) end at the first delimiter, which
/// is not consumed.
#[derive(Default)]
struct Scanner {
    started: bool,
    /// Open containers. Only counted, not limited: a record nested too
    /// deeply is the record reader's to reject, and the scanner must find
    /// its end to go on with the next one.
    depth: u64,
    /// One bit per open container up to [`MAX_DEPTH`], set for arrays, so
    /// a `}` cannot close a `[`. Deeper brackets are only counted (the
    /// record reader finds a mismatch there).
    arrays: u128,
    in_string: bool,
    escape: bool,
    scalar: bool,
    error: Option<&'static str>,
}

/// Nesting depth to which brackets are matched (within the bits of `arrays`).
const TRACKED_DEPTH: u64 = MAX_DEPTH as u64;

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

    fn open(&mut self, is_array: bool) {
        if self.depth < TRACKED_DEPTH {
            self.arrays = (self.arrays << 1) | u128::from(is_array);
        }
        self.depth += 1;
    }

    /// Closes a container; false when the bracket does not match.
    fn close(&mut self, is_array: bool) -> bool {
        if self.depth <= TRACKED_DEPTH {
            if (self.arrays & 1 == 1) != is_array {
                return false;
            }
            self.arrays >>= 1;
        }
        self.depth = self.depth.saturating_sub(1);
        true
    }

    /// Feeds bytes; returns how many belong to the value and whether it ended.
    fn feed(&mut self, buf: &[u8]) -> (usize, bool) {
        let mut i = 0;
        while i < buf.len() {
            // Inside a container, 64 bytes at a time while there are 64.
            if self.started && !self.scalar && self.depth > 0 && buf.len() - i >= BLOCK {
                match self.feed_blocks(buf.get(i..).unwrap_or_default()) {
                    Brackets::Stopped(at) => return (i + at + 1, true),
                    Brackets::Through(read) => i += read,
                    // A backslash outside a string: that block byte by byte.
                    Brackets::Stray(at) => {
                        i += at;
                        let end = i + BLOCK;
                        while i < end {
                            let b = buf[i];
                            i += 1;
                            if let Some(ended) = self.step_ends(b, i) {
                                return (ended, true);
                            }
                        }
                    }
                }
                continue;
            }
            // Most of a record's bytes are inside strings: jump to the next
            // quote or backslash instead of looking at every byte.
            if self.in_string && !self.escape {
                match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                    Some(skip) => i += skip,
                    None => return (buf.len(), false),
                }
            }
            let b = buf[i];
            i += 1;
            if let Some(ended) = self.step_ends(b, i) {
                return (ended, true);
            }
        }
        (buf.len(), false)
    }

    /// The whole blocks of `buf`, inside a container: stopped at the
    /// bracket that ends the value (or does not match its opening one).
    fn feed_blocks(&mut self, buf: &[u8]) -> Brackets {
        let mut strings = StringState {
            in_string: self.in_string,
            escaped: self.escape,
        };
        let mut mismatch = false;
        let read = brackets(buf, &mut strings, |_, b| {
            if matches!(b, b'{' | b'[') {
                self.open(b == b'[');
                return true;
            }
            if !self.close(b == b']') {
                mismatch = true;
                return false;
            }
            self.depth > 0
        });
        match read {
            Brackets::Stopped(_) => {
                (self.in_string, self.escape) = (false, false);
                if mismatch {
                    self.error = Some("a closing bracket does not match its opening one");
                }
            }
            Brackets::Through(_) | Brackets::Stray(_) => {
                (self.in_string, self.escape) = (strings.in_string, strings.escaped);
            }
        }
        read
    }

    /// Byte `b`, the one before `i`: where the value ends, if it does.
    fn step_ends(&mut self, b: u8, i: usize) -> Option<usize> {
        match self.step(b) {
            Step::More => None,
            Step::Ended => Some(i),
            Step::EndedBefore => Some(i - 1),
        }
    }

    /// One byte.
    fn step(&mut self, b: u8) -> Step {
        if !self.started {
            self.started = true;
            match b {
                b'{' | b'[' => self.open(b == b'['),
                b'"' => self.in_string = true,
                _ => self.scalar = true,
            }
            return Step::More;
        }
        if self.scalar {
            if matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace() {
                return Step::EndedBefore;
            }
            return Step::More;
        }
        if self.in_string {
            if self.escape {
                self.escape = false;
            } else if b == b'\\' {
                self.escape = true;
            } else if b == b'"' {
                self.in_string = false;
                if self.depth == 0 {
                    return Step::Ended;
                }
            }
            return Step::More;
        }
        match b {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.open(b == b'['),
            b'}' | b']' => {
                if !self.close(b == b']') {
                    self.error = Some("a closing bracket does not match its opening one");
                    return Step::Ended;
                }
                if self.depth == 0 {
                    return Step::Ended;
                }
            }
            _ => {}
        }
        Step::More
    }
}

/// What one byte did to the value being scanned.
enum Step {
    More,
    /// The value ended with this byte.
    Ended,
    /// The value ended before this byte (a scalar's delimiter).
    EndedBefore,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::open_log as open;
    use std::io::Write;
    use std::io::{self, Read};

    fn records_with(bytes: &[u8], limits: Limits) -> Result<Vec<String>, LogError> {
        let mut records = open(io::Cursor::new(bytes.to_vec()), limits);
        let mut out = Vec::new();
        while let Some(next) = records.next_record() {
            out.push(String::from_utf8_lossy(next?).into_owned());
        }
        Ok(out)
    }

    fn records_of(bytes: &[u8]) -> Result<Vec<String>, LogError> {
        records_with(bytes, Limits::default())
    }

    /// The records read before the error, and the error.
    fn until_error(bytes: &[u8]) -> (Vec<String>, LogError) {
        let mut records = open(io::Cursor::new(bytes.to_vec()), Limits::default());
        let mut out = Vec::new();
        while let Some(next) = records.next_record() {
            match next {
                Ok(record) => out.push(String::from_utf8_lossy(record).into_owned()),
                Err(err) => return (out, err),
            }
        }
        panic!("no error in {:?}", String::from_utf8_lossy(bytes));
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).expect("write to Vec");
        enc.finish().expect("finish gzip")
    }

    /// Hands over one byte per read, as a slow network might.
    struct Trickle(io::Cursor<Vec<u8>>);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
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
            // An escaped key is still "Records".
            (r#"{"Rec\u006frds":[{"a":1}]}"#, &[r#"{"a":1}"#]),
            // Concatenated log objects: all of them are read.
            (
                "{\"Records\":[{\"a\":1}]}\n{\"Records\":[{\"b\":2}]} ",
                &[r#"{"a":1}"#, r#"{"b":2}"#],
            ),
            // Elements that are not objects are handed over for the record
            // parser to reject; the ones after them are still read.
            (
                r#"{"Records":[1, "a" ,null,[{}],tru,{"b":2}]}"#,
                &["1", r#""a""#, "null", "[{}]", "tru", r#"{"b":2}"#],
            ),
        ];
        for (input, want) in cases {
            let got = records_of(input.as_bytes()).expect(input);
            assert_eq!(&got, want, "input {input}");
            let got = records_of(&gzip(input.as_bytes())).expect(input);
            assert_eq!(&got, want, "gzipped input {input}");
        }
    }

    /// The shapes records are exported in: a top-level array (pretty or
    /// not, several one after the other) and one record per line, the
    /// first of which starts like a record.
    #[test]
    fn reads_the_exported_shapes_of_records() {
        let a = r#"{"eventVersion":"1.08","eventName":"A","x":{"y":[1,"}"]}}"#;
        let b = r#"{"eventName":"B"}"#;
        let cases: &[(String, &[&str], Shape)] = &[
            (format!("[{a},{b}]"), &[a, b], Shape::Array),
            (format!("[\n  {a},\n  {b}\n]\n"), &[a, b], Shape::Array),
            (format!("[{a}] [{b}]"), &[a, b], Shape::Array),
            ("[]".to_string(), &[], Shape::Array),
            (format!("{a}\n{b}\n"), &[a, b], Shape::Lines),
            (format!("{a}\r\n{b}"), &[a, b], Shape::Lines),
            (
                r#"{"awsRegion":"eu-west-1","eventName":"C"}"#.to_string(),
                &[r#"{"awsRegion":"eu-west-1","eventName":"C"}"#],
                Shape::Lines,
            ),
            (format!(r#"{{"Records":[{a}]}}"#), &[a], Shape::Log),
        ];
        for (input, want, shape) in cases {
            for bytes in [input.as_bytes().to_vec(), gzip(input.as_bytes())] {
                let got = records_of(&bytes).expect(input);
                assert_eq!(&got, want, "input {input}");
            }
            let slow = Trickle(io::Cursor::new(input.as_bytes().to_vec()));
            let mut records = open(slow, Limits::default());
            let mut got = Vec::new();
            while let Some(next) = records.next_record() {
                got.push(String::from_utf8_lossy(next.expect(input)).into_owned());
            }
            assert_eq!(&got, want, "input {input}, a byte at a time");
            assert_eq!(records.shape(), Some(*shape), "input {input}");
        }
        // Whitespace inside the first record of JSON lines is JSON still.
        let pretty = "{ \"eventTime\" : \"t\", \"eventName\": \"A\" }\n{\"eventName\":\"B\"}";
        let got = records_of(pretty.as_bytes()).expect("pretty lines");
        let first: serde_json::Value = serde_json::from_str(&got[0]).expect("a JSON record");
        assert_eq!(first["eventName"], "A");
        assert_eq!(got.len(), 2);
        // A digest or another object that does not start like a record is
        // not taken for one.
        assert_eq!(
            records_of(br#"{"awsAccountId":"1","eventName":"x"}"#)
                .expect_err("not a record")
                .to_string(),
            "not a CloudTrail log: no \"Records\" array (its keys are awsAccountId, eventName)"
        );
        let errors: &[(String, &str)] = &[
            (
                format!("[{a},"),
                "truncated: the object ends inside the top-level array",
            ),
            (
                format!("[{a},]"),
                "a ',' in the top-level array is followed by ']', not a record",
            ),
            (
                format!("{a}\n42"),
                "expected the next record (a JSON object), found a number",
            ),
            (
                format!("[{a}] {{\"Records\":[]}}"),
                "data after the end of the top-level array: it goes on with `{",
            ),
            (
                format!("{a}\n{{\"eventName\":"),
                "truncated: the object ends inside a record",
            ),
        ];
        for (input, want) in errors {
            let (read, err) = until_error(input.as_bytes());
            assert_eq!(read, [a], "input {input}");
            assert!(err.to_string().contains(want), "input {input}: {err}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_cloudtrail_log() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "not a CloudTrail log: the object is empty (0 bytes)"),
            (b" \n ", "the object holds only whitespace (3 bytes)"),
            (
                b"[1,{\"a\":1}]",
                "the top level is a JSON array whose first element is a number, not a record",
            ),
            (b"\"x\"", "top level is a JSON string"),
            (
                b"hello",
                "the object is neither gzip nor JSON: it starts with `hello`",
            ),
            (b"\x00\x01\x02", "it starts with bytes 00 01 02"),
            (b"PK\x03\x04rest", "the object is a zip archive"),
            (
                b"\xff\xfe{\x00",
                "the object is UTF-16 text (it starts with a byte order mark), \
                 neither gzip nor UTF-8 JSON",
            ),
            (
                b"{\x00\"\x00R\x00",
                "UTF-16 text (no byte order mark), neither gzip nor UTF-8 JSON",
            ),
            (
                b"{\"digestEndTime\":\"x\",\"logFiles\":[]}",
                "no \"Records\" array (its keys are digestEndTime, logFiles)",
            ),
            (
                b"{}",
                "no \"Records\" array (the top-level object is empty)",
            ),
            (
                b"{\"Records\":{}}",
                "\"Records\" is an object, not an array",
            ),
            (b"{\"Records\":null}", "\"Records\" is null, not an array"),
            (
                b"{\"Records\":\"[]\"}",
                "\"Records\" is a string, not an array",
            ),
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
            (
                b"{\"Records\":[,{\"b\":2}]}",
                "expected a record in the Records array, found ','",
            ),
            (b"{\"Records\":[}", "found '}'"),
            (
                b"{\"Records\":[{\"a\":1},]}",
                "followed by ']', not a record",
            ),
            (
                b"{\"Records\":[]} trailing",
                "data after the end of the log object: it goes on with `trailing`",
            ),
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
    fn gzip_content_is_described_as_decompressed() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "the gzip stream decompresses to 0 bytes"),
            (
                b"\n\n",
                "the decompressed content is only whitespace (2 bytes)",
            ),
            (
                b"a,b,c\n1,2,3\n",
                "the decompressed content is not JSON: it starts with `a,b,c\\n1,2,3\\n`",
            ),
            (&[0x1f, 0x8b, 8, 0], "gzip again (compressed twice)"),
        ];
        for (input, want) in cases {
            let err = records_of(&gzip(input)).expect_err(&String::from_utf8_lossy(input));
            assert!(err.to_string().contains(want), "got {err}, want {want}");
        }
    }

    #[test]
    fn long_content_is_shown_shortened() {
        let text = "x".repeat(100);
        let err = records_of(text.as_bytes()).expect_err("not json");
        assert!(
            err.to_string().ends_with(&format!("`{}…`", "x".repeat(40))),
            "{err}"
        );
        assert_eq!(
            describe_bytes(&[0xff; 20]),
            "bytes ff ff ff ff ff ff ff ff …"
        );
        // A character cut by the 40-byte window is still text.
        let cut = format!("{}é", "a".repeat(39));
        assert_eq!(
            describe_bytes(cut.as_bytes()),
            format!("`{}…`", "a".repeat(39))
        );
    }

    #[test]
    fn errors_after_records_keep_the_records() {
        let (got, err) = until_error(b"{\"Records\":[{\"a\":1}],\"Records\":[{\"b\":2}]}");
        assert_eq!(got, [r#"{"a":1}"#, r#"{"b":2}"#]);
        assert!(
            err.to_string()
                .contains("\"Records\" appears 2 times in the top-level object"),
            "{err}"
        );
        let (got, err) = until_error(b"{\"Records\":[{\"a\":1}]}\n{\"Records\":[{\"b\":2}]} x");
        assert_eq!(got.len(), 2);
        assert!(err.to_string().contains("data after the end"), "{err}");
        let (got, err) = until_error(b"{\"Records\":[{\"a\":1}]}{\"other\":[]}");
        assert_eq!(got.len(), 1);
        assert!(matches!(err, LogError::NoRecords(_)), "{err}");
    }

    #[test]
    fn short_reads_change_nothing() {
        let log = "\u{feff}{\"Records\":[{\"a\":1},{\"b\":2}]}";
        for bytes in [log.as_bytes().to_vec(), gzip(log.as_bytes())] {
            let mut records = open(Trickle(io::Cursor::new(bytes)), Limits::default());
            let mut got = Vec::new();
            while let Some(next) = records.next_record() {
                got.push(String::from_utf8_lossy(next.expect("record")).into_owned());
            }
            assert_eq!(got, [r#"{"a":1}"#, r#"{"b":2}"#]);
        }
        let mut records = open(Trickle(io::Cursor::new(gzip(b"{}"))), Limits::default());
        assert!(records.is_gzip());
        assert!(records.next_record().is_some());
    }

    /// Records found in place in the buffer are the records the scanner
    /// finds byte by byte (here, from one-byte reads), with their own
    /// tokens (those with escapes too).
    #[test]
    fn records_found_in_place_are_the_scanned_ones() {
        let spec = crate::generate::Spec {
            records: 1500,
            seed: 5,
            match_per_mille: 20,
        };
        let mut log = Vec::new();
        crate::generate::write_log(&spec, &mut log).expect("generated");
        let corpus = include_str!("../../tests/data/corpus-records.jsonl");
        let corpus_log = format!(
            "{{\"Records\":[ {} ]}}",
            corpus
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect::<Vec<_>>()
                .join(" ,\n")
        );
        for log in [log, corpus_log.into_bytes()] {
            let mut whole = open(io::Cursor::new(log.clone()), Limits::default());
            let mut trickled = open(Trickle(io::Cursor::new(log)), Limits::default());
            let (mut in_place, mut count) = (0, 0);
            while let Some(next) = whole.next_with_tokens() {
                let (bytes, tokens) = next.expect("a record");
                let scanned = trickled.next_record().expect("as many").expect("a record");
                assert_eq!(bytes, scanned);
                if let Some(tokens) = tokens {
                    let mut alone = Vec::new();
                    let plain = classify::plain_tokens(bytes, &mut alone);
                    assert_eq!(plain, !tokens.escapes);
                    if plain {
                        assert_eq!(tokens.masks, alone.as_slice());
                    }
                    in_place += 1;
                }
                count += 1;
            }
            assert!(trickled.next_record().is_none());
            assert!(in_place * 10 > count * 8, "{in_place} of {count} in place");
        }
    }

    /// A key too long is named where it starts, however the bytes arrive
    /// (inflated on a thread of their own, with 3 threads, the chunks
    /// differ).
    #[test]
    fn a_key_too_long_is_named_where_it_starts() {
        let log = format!(r#"{{"Records":[],"{}":1}}"#, "k".repeat(MAX_KEY_BYTES * 3));
        let (whole, trickled, threaded) = (
            until_error(log.as_bytes()).1,
            open(
                Trickle(io::Cursor::new(log.clone().into_bytes())),
                Limits::default(),
            )
            .next_record()
            .and_then(Result::err),
            records_with(
                &gzip(log.as_bytes()),
                Limits {
                    threads: 3,
                    ..Limits::default()
                },
            )
            .err(),
        );
        let message = "invalid JSON at byte 14: a top-level key is implausibly long";
        assert_eq!(whole.to_string(), message);
        assert_eq!(trickled.map(|e| e.to_string()).as_deref(), Some(message));
        assert_eq!(threaded.map(|e| e.to_string()).as_deref(), Some(message));
    }

    #[test]
    fn a_gzip_of_several_members_is_read_whole() {
        let log = br#"{"Records":[{"a":1},{"b":2}]}"#;
        let (first, second) = log.split_at(15);
        let mut bytes = gzip(first);
        bytes.extend(gzip(second));
        assert_eq!(
            records_of(&bytes).expect("two members"),
            [r#"{"a":1}"#, r#"{"b":2}"#]
        );
    }

    /// Inflating moved to a thread of its own between two records: every
    /// record after it, in order, and the log's end or its error as before.
    #[test]
    fn inflating_moves_apart_between_records() {
        let log: String = (0..3000)
            .map(|i| format!(r#"{{"eventID":"{i}","n":"{}"}}"#, "x".repeat(i % 700)))
            .collect::<Vec<_>>()
            .join(",");
        let log = format!(r#"{{"Records":[{log}]}}"#);
        let full = gzip(log.as_bytes());
        let whole = records_of(&full).expect("a whole log");
        let truncated = &full[..full.len() * 2 / 3];
        let (before_cut, cut_error) = until_error(truncated);
        for (bytes, want, error) in [
            (&full[..], &whole, None),
            (truncated, &before_cut, Some(cut_error.to_string())),
        ] {
            for move_at in [0, 1, 1000] {
                let mut records = open(io::Cursor::new(bytes.to_vec()), Limits::default());
                let (mut got, mut failed) = (Vec::new(), None);
                loop {
                    if got.len() == move_at {
                        assert!(records.inflate_apart(), "moved at {move_at}");
                        assert!(!records.inflate_apart(), "moved once");
                    }
                    match records.next_record() {
                        Some(Ok(record)) => got.push(String::from_utf8_lossy(record).into_owned()),
                        Some(Err(err)) => {
                            failed = Some(err.to_string());
                            break;
                        }
                        None => break,
                    }
                }
                assert!(records.inflating_apart());
                assert_eq!(&got, want, "moved at {move_at}");
                assert_eq!(failed, error, "moved at {move_at}");
            }
        }
        let mut plain = open(io::Cursor::new(log.into_bytes()), Limits::default());
        assert!(!plain.inflate_apart(), "plain JSON has nothing to inflate");
    }

    #[test]
    fn truncated_gzip_is_reported_as_truncated() {
        let full = gzip(br#"{"Records":[{"a":1},{"b":2}]}"#);
        let err = records_of(&full[..full.len() - 6]).expect_err("truncated gzip");
        assert!(err.to_string().contains("truncated"), "{err}");
        // Cut inside the first bytes the decoder reads ahead: the record
        // before the cut is still read.
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(br#"{"Records":[{"a":1},"#).expect("write");
        enc.flush().expect("sync flush");
        let mut cut = enc.get_ref().clone();
        cut.extend_from_slice(&[0x4b, 0x4c]);
        let (got, err) = until_error(&cut);
        assert_eq!(got, [r#"{"a":1}"#]);
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
    fn record_size_limit_holds_and_deep_records_are_handed_over() {
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

        // Far deeper than the brackets the scanner matches: the record's
        // end is still found, and the next record is read.
        let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let deep = format!(r#"{{"Records":[{{"a":{nested}}},{{"b":2}}],"x":{nested}}}"#);
        let got = records_of(deep.as_bytes()).expect("deep");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), 6 + nested.len());
        assert_eq!(got[1], r#"{"b":2}"#);
        // Mismatched brackets are caught within the tracked depth.
        let bad = format!(r#"{{"Records":[{{"a":{}}}]}}"#, "[".repeat(100));
        let err = records_of(bad.as_bytes()).expect_err("mismatch");
        assert!(err.to_string().contains("does not match"), "{err}");
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
        // Even when the limit is inside the bytes read ahead.
        let limits = Limits {
            max_decompressed_bytes: 10,
            ..Limits::default()
        };
        let err = records_with(&gzip(body.as_bytes()), limits).expect_err("bomb");
        assert!(matches!(err, LogError::TooLarge { limit: 10 }), "{err}");
        // Up to the limit exactly, everything is read; the records before
        // the limit are read when it is passed.
        let log = br#"{"Records":[{"a":1},{"b":2}]}"#;
        for bytes in [log.to_vec(), gzip(log)] {
            let exact = Limits {
                max_decompressed_bytes: log.len() as u64,
                ..Limits::default()
            };
            assert_eq!(records_with(&bytes, exact).expect("at the limit").len(), 2);
            let mut records = open(
                io::Cursor::new(bytes),
                Limits {
                    max_decompressed_bytes: log.len() as u64 - 1,
                    ..Limits::default()
                },
            );
            assert!(matches!(records.next_record(), Some(Ok(b"{\"a\":1}"))));
            assert!(matches!(records.next_record(), Some(Ok(b"{\"b\":2}"))));
            let err = records
                .next_record()
                .expect("error")
                .expect_err("too large");
            assert!(matches!(err, LogError::TooLarge { .. }), "{err}");
        }
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

        // After the first bytes, inside the gzip stream.
        struct BreaksAfter(io::Cursor<Vec<u8>>);
        impl Read for BreaksAfter {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match self.0.read(buf)? {
                    0 => Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset")),
                    n => Ok(n),
                }
            }
        }
        let full = gzip(br#"{"Records":[{"a":1},{"b":2}]}"#);
        let half = full[..full.len() / 2].to_vec();
        let mut records = open(BreaksAfter(io::Cursor::new(half)), Limits::default());
        let err = loop {
            match records.next_record() {
                Some(Ok(_)) => continue,
                Some(Err(err)) => break err,
                None => panic!("no error"),
            }
        };
        assert!(err.is_transient(), "{err}");
    }

    /// Endless tiny records, `{}` after `{}`: a reader that never ends on
    /// its own, the worst case of small records.
    struct EndlessRecords {
        /// Bytes written so far.
        at: usize,
    }

    impl Read for EndlessRecords {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let head = br#"{"Records":["#;
            for byte in buf.iter_mut() {
                *byte = match head.get(self.at) {
                    Some(b) => *b,
                    None => b"{},"[(self.at - head.len()) % 3],
                };
                self.at += 1;
            }
            Ok(buf.len())
        }
    }

    /// Reading stops at the time limit however small the records, gzip or
    /// not, on one thread or with inflating apart, and says how far it got.
    #[test]
    fn reading_stops_at_the_time_limit_however_small_the_records() {
        for threads in [1, 3] {
            let (done, outcome) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let limits = Limits {
                    threads,
                    time_per_object: Some(std::time::Duration::from_millis(100)),
                    ..Limits::default()
                };
                let mut records = open(EndlessRecords { at: 0 }, limits);
                let mut count = 0u64;
                let err = loop {
                    match records.next_record() {
                        Some(Ok(_)) => count += 1,
                        Some(Err(err)) => break err,
                        None => panic!("an endless log ended"),
                    }
                };
                let _ = done.send((count, err));
            });
            let (count, err) = outcome
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("reading stopped near its time limit");
            assert!(count > 0, "records before the limit are read");
            assert!(
                matches!(err, LogError::OutOfTime { inflated } if inflated >= count * 3),
                "{err}"
            );
            assert!(!err.is_transient(), "{err}");
            assert!(err.to_string().starts_with("not finished"), "{err}");
        }
        // A stop time already past: nothing is read.
        let limits = Limits {
            stop_at: Some(Instant::now()),
            ..Limits::default()
        };
        let mut records = open(io::Cursor::new(gzip(br#"{"Records":[{}]}"#)), limits);
        let first = records.next_record().expect("an item");
        assert!(
            matches!(first, Err(LogError::OutOfTime { .. })),
            "{first:?}"
        );
    }

    /// A source that panics on the download thread (as the SDK's body
    /// could) ends the object with a permanent error naming the panic: a
    /// retry would meet it again, so it is not taken for the network.
    #[test]
    fn a_panic_on_the_download_thread_is_a_permanent_error() {
        /// The start of a gzip log, then a panic.
        struct PanicsAfter(io::Cursor<Vec<u8>>);
        impl Read for PanicsAfter {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match self.0.read(buf)? {
                    0 => panic!("the body broke: a bug"),
                    n => Ok(n),
                }
            }
        }
        let log = gzip(format!(r#"{{"Records":[{}"#, "{},".repeat(1000)).as_bytes());
        let head = log.get(..log.len() - 8).unwrap_or_default().to_vec();
        for threads in [1, 3] {
            let download = crate::pipeline::pipe::spawn(
                "test",
                PanicsAfter(io::Cursor::new(head.clone())),
                64,
                2,
            )
            .expect("thread");
            let limits = Limits {
                threads,
                ..Limits::default()
            };
            let mut records = open(download, limits);
            let err = loop {
                match records.next_record() {
                    Some(Ok(_)) => {}
                    Some(Err(err)) => break err,
                    None => panic!("the log cannot end"),
                }
            };
            assert!(matches!(err, LogError::Panicked(_)), "{threads}: {err:?}");
            assert!(!err.is_transient(), "{err}");
            assert_eq!(
                err.to_string(),
                "the reading thread panicked: the body broke: a bug"
            );
        }
    }
}
