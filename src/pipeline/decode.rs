//! A log object's bytes to its content: gzip recognised by its magic bytes
//! (plain JSON is accepted too; a gzip stream of several members is read
//! whole, as `gzip -d` does), a UTF-8 byte order mark skipped, inflated
//! through a 1 MiB buffer (on a thread of its own when the scan says so),
//! within the limits on size and time. Every read error becomes a
//! [`LogError`] that tells a dropped connection (retry) from bad bytes.

use std::io::{self, BufRead, BufReader, Read};
use std::time::Instant;

use flate2::bufread::MultiGzDecoder;

use super::buffer::ShelvedReader;
use super::limits::Limits;
use super::pipe;

/// Bytes read from the source (or inflated) per refill.
const READ_BUFFER: usize = 1 << 20;

/// Inflated chunks (of `READ_BUFFER`) the inflate thread may be ahead
/// (see `BATCHES_AHEAD` in the pipeline for why four).
const INFLATED_AHEAD: usize = 4;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const UTF8_BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Bytes read ahead from the start of the (inflated) content, to skip a
/// byte order mark and to say what arrived when it is not a log.
const HEAD_BYTES: usize = 64;

/// What is wrong with a log object. Every variant but `Source` is permanent:
/// retrying the same bytes cannot help.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("reading the object failed: {0}")]
    Source(io::Error),
    /// A reading thread panicked (a bug): permanent, as a retry would
    /// panic again.
    #[error("{0}")]
    Panicked(String),
    #[error("not a valid gzip stream: {0}")]
    Gzip(io::Error),
    #[error("truncated: the object ends inside {0}")]
    Truncated(&'static str),
    #[error("not a CloudTrail log: {0}")]
    NotCloudTrail(String),
    /// The top-level object has no `Records`; the text says what it has.
    #[error("not a CloudTrail log: no \"Records\" array ({0})")]
    NoRecords(String),
    #[error("invalid JSON at byte {offset}: {what}")]
    Syntax { offset: u64, what: String },
    #[error("record {index} is larger than the limit of {limit} bytes")]
    RecordTooLarge { index: u64, limit: usize },
    #[error("decompressed size exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// The time to read it ran out: the rest of the object was not read.
    #[error("not finished: reading stopped at the time limit after {inflated} bytes of content")]
    OutOfTime { inflated: u64 },
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
        self.0.read(buf).map_err(|e| match panicked(&e) {
            // Not the network: kept as it is, to be told apart.
            Some(_) => e,
            None => io::Error::other(SourceReadError(e)),
        })
    }
}

/// What a reading thread's panic said, if `err` is one.
fn panicked(err: &io::Error) -> Option<&pipe::ReaderPanicked> {
    err.get_ref()?.downcast_ref()
}

fn classify_io(err: io::Error, in_gzip: bool) -> LogError {
    if let Some(panic) = panicked(&err) {
        return LogError::Panicked(panic.to_string());
    }
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
    if let Some(OutOfTime(inflated)) = err.get_ref().and_then(|inner| inner.downcast_ref()) {
        LogError::OutOfTime {
            inflated: *inflated,
        }
    } else if err.get_ref().is_some_and(|inner| inner.is::<TooLarge>()) {
        LogError::TooLarge { limit }
    } else {
        classify_io(err, is_gzip)
    }
}

/// Counts decompressed bytes and refuses to go past the limit. Every byte
/// up to the limit is handed over (so the records in it are read); the
/// error comes when there is more. Past `stop`, it refuses to read more:
/// every record and every inflated byte pass through here, a buffer (up to
/// a MiB) at a time, so one clock read per buffer bounds how long a read
/// overruns, however small the records or large the inflation.
struct Capped<R> {
    inner: R,
    read: u64,
    limit: u64,
    stop: Option<Instant>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.is_some_and(|stop| Instant::now() >= stop) {
            return Err(io::Error::other(OutOfTime(self.read)));
        }
        let room = self.limit.saturating_sub(self.read);
        if room == 0 {
            // At the limit: the end of the data is fine, one byte more is not.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(TooLarge)),
            };
        }
        let len = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(buf.get_mut(..len).unwrap_or_default())?;
        self.read += n as u64;
        Ok(n)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("decompressed size limit exceeded")]
struct TooLarge;

/// The stop time came after this many decompressed bytes.
#[derive(Debug, thiserror::Error)]
#[error("stopped at the time limit after {0} bytes of content")]
struct OutOfTime(u64);

/// A reader that fails once with a stored error (then reports the end).
/// Lets bytes read ahead be decoded before the error that followed them.
struct Failing(Option<io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(err) => Err(err),
            None => Ok(0),
        }
    }
}

/// Reads up to `n` bytes, however short the reads of `r` are. Returns the
/// bytes read and the error that stopped it, if one did.
fn read_head(r: &mut impl Read, n: usize) -> (Vec<u8>, Option<io::Error>) {
    let mut head = vec![0; n];
    let mut got = 0;
    while got < n {
        match r.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                head.truncate(got);
                return (head, Some(e));
            }
        }
    }
    head.truncate(got);
    (head, None)
}

/// The content of a log object, inflated, as a buffered reader whose
/// errors are [`LogError`]s.
pub struct Content {
    reader: Box<dyn BufRead + Send>,
    /// The first bytes of the content (after a byte order mark), to say
    /// what arrived when it is not a log.
    head: Vec<u8>,
    is_gzip: bool,
    limit: u64,
    inflating_apart: bool,
}

impl Content {
    /// Opens a log object; with `apart`, a gzip one inflates on a thread
    /// of its own.
    pub fn open<R: Read + Send + 'static>(
        source: R,
        limits: &Limits,
        apart: bool,
    ) -> Result<Content, LogError> {
        Content::open_buffered(source, limits, apart, READ_BUFFER)
    }

    /// [`Content::open`] through buffers of `buffer` bytes: small ones
    /// for a look at the first record, which inflates no more than they
    /// hold.
    pub fn open_buffered<R: Read + Send + 'static>(
        source: R,
        limits: &Limits,
        apart: bool,
        buffer: usize,
    ) -> Result<Content, LogError> {
        let mut source = TaggedSource(source);
        // Read the magic bytes even if the source hands them over one at a time.
        let magic = match read_head(&mut source, GZIP_MAGIC.len()) {
            (magic, None) => magic,
            (_, Some(err)) => return Err(classify_io(err, false)),
        };
        let is_gzip = magic == GZIP_MAGIC;
        let raw = ShelvedReader::with_capacity(buffer, io::Cursor::new(magic).chain(source));
        let inner: Box<dyn Read + Send> = if is_gzip {
            Box::new(MultiGzDecoder::new(raw))
        } else {
            Box::new(raw)
        };
        let mut content = Capped {
            inner,
            read: 0,
            limit: limits.max_decompressed_bytes,
            stop: limits.stop_for_object(),
        };
        let (mut head, err) = read_head(&mut content, HEAD_BYTES);
        if head.starts_with(&UTF8_BOM) {
            head.drain(..UTF8_BOM.len());
        }
        // An error in the first bytes comes after what was read before it, as
        // it would without the read-ahead.
        let rest: Box<dyn Read + Send> = match err {
            Some(err) => Box::new(Failing(Some(err))),
            None => Box::new(content),
        };
        let stream = io::Cursor::new(head.clone()).chain(rest);
        let apart = is_gzip && apart;
        let reader: Box<dyn BufRead + Send> = match apart {
            true => inflating_apart(stream),
            false => Box::new(ShelvedReader::with_capacity(buffer, stream)),
        };
        Ok(Content {
            reader,
            head,
            is_gzip,
            limit: limits.max_decompressed_bytes,
            inflating_apart: apart,
        })
    }

    /// No content: what a failed log reads.
    pub(super) fn empty() -> Content {
        Content {
            reader: Box::new(io::empty()),
            head: Vec::new(),
            is_gzip: false,
            limit: 0,
            inflating_apart: false,
        }
    }

    /// The buffered bytes, read when there are none (empty at the end).
    pub fn fill(&mut self) -> Result<&[u8], LogError> {
        let (is_gzip, limit) = (self.is_gzip, self.limit);
        self.reader
            .fill_buf()
            .map_err(|e| read_error(e, is_gzip, limit))
    }

    pub fn consume(&mut self, n: usize) {
        self.reader.consume(n);
    }

    /// Whether the object was gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        self.is_gzip
    }

    /// Whether a gzip log inflates on a thread of its own.
    pub fn inflating_apart(&self) -> bool {
        self.inflating_apart
    }

    /// From now on, a gzip log inflates on a thread of its own, when it
    /// did not already; false when there is nothing to move (plain JSON,
    /// or apart already). What the buffer holds is read first there.
    pub fn inflate_apart(&mut self) -> bool {
        if !self.is_gzip || self.inflating_apart {
            return false;
        }
        let rest = std::mem::replace(&mut self.reader, Box::new(io::empty()));
        self.reader = inflating_apart(rest);
        self.inflating_apart = true;
        true
    }

    /// The first bytes of the content, from its first non-whitespace byte.
    pub fn head(&self) -> &[u8] {
        let start = self
            .head
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(self.head.len());
        self.head.get(start..).unwrap_or_default()
    }

    /// UTF-16 text without a byte order mark (`{` then a NUL byte, say).
    pub fn looks_like_utf16(&self) -> bool {
        utf16_without_bom(self.head())
    }

    /// Says what the content is, when it is not JSON.
    pub fn describe(&self) -> String {
        let head = self.head();
        let subject = if self.is_gzip {
            "the decompressed content"
        } else {
            "the object"
        };
        let (what, utf16) = if head.starts_with(&GZIP_MAGIC) {
            (Some("gzip again (compressed twice)"), false)
        } else if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
            (Some("UTF-16 text (it starts with a byte order mark)"), true)
        } else if utf16_without_bom(head) {
            (Some("UTF-16 text (no byte order mark)"), true)
        } else if head.starts_with(b"PK\x03\x04") {
            (Some("a zip archive"), false)
        } else if head.starts_with(b"BZh") {
            (Some("bzip2-compressed"), false)
        } else if head.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
            (Some("zstd-compressed"), false)
        } else if head.starts_with(&[0xFD, b'7', b'z', b'X', b'Z', 0]) {
            (Some("xz-compressed"), false)
        } else {
            (None, false)
        };
        let json = if utf16 { "UTF-8 JSON" } else { "JSON" };
        let not = if self.is_gzip {
            format!("not {json}")
        } else {
            format!("neither gzip nor {json}")
        };
        match what {
            Some(what) => format!("{subject} is {what}, {not}"),
            None => format!(
                "{subject} is {not}: it starts with {}",
                describe_bytes(head)
            ),
        }
    }
}

/// `stream` read on a thread of its own: inflating takes about as long as
/// reading the records' heads, and the records are split, read and
/// evaluated while the next megabytes inflate.
fn inflating_apart(stream: impl Read + Send + 'static) -> Box<dyn BufRead + Send> {
    match pipe::spawn("trailwatch-inflate", stream, READ_BUFFER, INFLATED_AHEAD) {
        Ok(pipe) => Box::new(pipe),
        // The machine is out of threads: a transient failure (retry),
        // not a fault of the object.
        Err(err) => Box::new(BufReader::new(Failing(Some(io::Error::other(
            SourceReadError(err),
        ))))),
    }
}

/// Two bytes of ASCII text in UTF-16 (either byte order), no byte order mark.
fn utf16_without_bom(head: &[u8]) -> bool {
    match head {
        [a, 0, b, 0, ..] | [0, a, 0, b, ..] => a.is_ascii() && b.is_ascii() && *a != 0 && *b != 0,
        _ => false,
    }
}

/// Shows the first bytes of some data in a message: as text when they are
/// text, else in hex.
pub(super) fn describe_bytes(bytes: &[u8]) -> String {
    const TEXT: usize = 40;
    const HEX: usize = 8;
    let prefix = bytes.get(..TEXT).unwrap_or(bytes);
    // A multi-byte character cut at the end of the prefix is still text.
    let text = match std::str::from_utf8(prefix) {
        Ok(text) => Some(text),
        Err(e) if e.error_len().is_none() => prefix
            .get(..e.valid_up_to())
            .and_then(|p| std::str::from_utf8(p).ok()),
        Err(_) => None,
    };
    match text {
        Some(text)
            if !text.is_empty()
                && text
                    .chars()
                    .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t')) =>
        {
            let mut shown = String::with_capacity(text.len());
            for c in text.chars() {
                match c {
                    '\n' => shown.push_str("\\n"),
                    '\r' => shown.push_str("\\r"),
                    '\t' => shown.push_str("\\t"),
                    c => shown.push(c),
                }
            }
            let more = if text.len() < bytes.len() { "…" } else { "" };
            format!("`{shown}{more}`")
        }
        _ if bytes.is_empty() => "nothing".into(),
        _ => {
            let shown: Vec<String> = bytes.iter().take(HEX).map(|b| format!("{b:02x}")).collect();
            let more = if bytes.len() > HEX { " …" } else { "" };
            format!("bytes {}{more}", shown.join(" "))
        }
    }
}
