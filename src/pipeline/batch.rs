//! The first half of a scan: records split from the log, their heads read
//! and the rules that may match them picked. With a second CPU the halves
//! run side by side: the records some rule may match travel in batches to
//! the second half, which evaluates them, or a batch carries its records
//! whole, their heads for the second half to read ([`Heads`]). With one,
//! the second half takes each record where it was split
//! ([`Splitter::each_record`]).

use std::borrow::Cow;
use std::ops::Range;

use super::decode::LogError;
use super::split::Records;
use super::window::{is_cloudtrail_time, EventWindow};
use crate::json::find::Found;
use crate::json::Tokens;
use crate::record::{HeadReader, IdentityRead, RecordHead};
use crate::rules::{KeyValues, RuleSet};

/// A batch is handed on past this much record text or this many entries:
/// large enough that handing over costs nothing, small enough that memory
/// stays flat (four batches wait at most).
const BATCH_TEXT: usize = 256 << 10;
const BATCH_ENTRIES: usize = 1024;

/// Consecutive records, in log order.
#[derive(Debug, Default)]
pub struct Batch {
    /// The text of the candidate records, one after the other.
    pub text: String,
    pub entries: Vec<Entry>,
    /// The candidates' top-level keys and values, one after the other
    /// ([`Candidate::fields`]): one list for the batch, not one per record
    /// made on this thread and freed on the other.
    pub fields: Vec<(Text, Text)>,
    /// The candidates' rules, one after the other ([`Candidate::rules`]).
    pub rules: Vec<usize>,
    /// The places of members of the candidates' identities
    /// ([`Candidate::found`]).
    pub found: Vec<Found>,
    /// Whether the evaluation finds the members of identities as it reads
    /// heads, said when it hands the batch back: the splitter reads them
    /// the same way.
    pub find_identity: Option<bool>,
    /// The latest `eventTime` among the batch's records.
    pub newest_event_time: Option<String>,
    /// Records outside the scan's event-time window (read, not evaluated).
    pub outside: u64,
    /// The bytes of the records whose heads are left to the evaluation
    /// ([`Entry::Unread`]), one after the other.
    pub unread: Vec<u8>,
    /// Their tokens, one after the other.
    pub tokens: Vec<u64>,
}

#[derive(Debug)]
pub enum Entry {
    /// This many records that no rule can match: evaluated already.
    Plain(u64),
    /// A record that is not valid JSON: its index in the log and why.
    Invalid(u64, String),
    /// A record some rule may match.
    Candidate(Candidate),
    /// A record as the log holds it: its head is for the evaluation to
    /// read ([`Heads::Later`]).
    Unread(Unread),
}

/// A record split from the log, its head not read yet.
#[derive(Debug)]
pub struct Unread {
    /// Its index in the log.
    pub index: u64,
    /// Where its bytes are in [`Batch::unread`].
    pub span: Range<usize>,
    /// Where its tokens are in [`Batch::tokens`], and whether it has
    /// escapes, when the splitter found them.
    pub tokens: Option<(Range<usize>, bool)>,
}

impl Unread {
    /// Its bytes and tokens, in `batch`'s buffers.
    pub fn in_batch<'b>(
        &self,
        unread: &'b [u8],
        tokens: &'b [u64],
    ) -> (&'b [u8], Option<Tokens<'b>>) {
        let bytes = unread.get(self.span.clone()).unwrap_or_default();
        let tokens = self.tokens.as_ref().map(|(at, escapes)| Tokens {
            masks: tokens.get(at.clone()).unwrap_or_default(),
            escapes: *escapes,
        });
        (bytes, tokens)
    }
}

/// Which thread reads the heads of a batch's records. Reading a head costs
/// about as much as inflating the record: with two CPUs, the splitting
/// thread leaves the heads to the evaluating one while that one waits for
/// work, so neither waits for long ([`super::split_on_a_thread`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heads {
    /// The splitter reads them and hands on the candidates only.
    Now,
    /// The evaluation reads them.
    Later,
}

/// A record some rule may match, with what its head read found.
#[derive(Debug)]
pub struct Candidate {
    /// Its index in the log.
    pub index: u64,
    /// Where its text is in [`Batch::text`].
    pub span: Range<usize>,
    /// Its top-level keys and values, as places in its text: where they
    /// are in [`Batch::fields`].
    pub fields: Range<usize>,
    /// The rules that may match it, as positions in [`RuleSet::rules`]:
    /// where they are in [`Batch::rules`].
    pub rules: Range<usize>,
    /// Where the places of its identity's members are in [`Batch::found`],
    /// when the head read found them.
    pub found: Option<usize>,
}

/// Text of a record: a place in it, or (for a key with escapes, which the
/// parser unescaped) the text itself.
#[derive(Debug)]
pub enum Text {
    At(Range<usize>),
    Owned(String),
}

impl Text {
    /// A part of `record` (borrowed from it), or owned text.
    fn of(record: &str, part: Cow<'_, str>) -> Text {
        let start = (part.as_ptr() as usize).checked_sub(record.as_ptr() as usize);
        match (part, start) {
            (Cow::Borrowed(part), Some(start)) if start + part.len() <= record.len() => {
                Text::At(start..start + part.len())
            }
            (part, _) => Text::Owned(part.into_owned()),
        }
    }

    /// The text in `record`; empty if the place is not in it (it always is).
    pub fn in_record<'r>(&'r self, record: &'r str) -> &'r str {
        match self {
            Text::At(range) => record.get(range.clone()).unwrap_or_default(),
            Text::Owned(text) => text,
        }
    }
}

/// Splits a log into batches.
pub struct Splitter<'r> {
    records: Records,
    rules: &'r RuleSet,
    heads: HeadReader,
    /// Whether the heads read here find the members of identities
    /// ([`Batch::find_identity`]).
    find_identity: bool,
    next_index: u64,
    end: End,
    /// The scan's event-time window ([`super::Limits::event_window`]).
    window: EventWindow,
}

/// How [`Splitter::each_record_within`] stopped.
pub enum Within {
    /// The log ended (why, if early), or `take` stopped it.
    Ended(Option<LogError>),
    /// The bytes were read, and the log goes on.
    Grown,
}

enum End {
    NotYet,
    Clean,
    Failed(LogError),
}

impl<'r> Splitter<'r> {
    pub fn new(records: Records, rules: &'r RuleSet) -> Splitter<'r> {
        Splitter {
            window: records.event_window(),
            records,
            rules,
            heads: HeadReader::default(),
            find_identity: false,
            next_index: 0,
            end: End::NotYet,
        }
    }

    /// Reads heads finding the members of identities, or not, as the
    /// evaluation does for now ([`Batch::find_identity`]).
    pub fn find_identity(&mut self, find: bool) {
        self.find_identity = find;
    }

    /// The next batch, in `batch` (emptied by the evaluation: its buffers
    /// are used again, so a scan allocates them once), its records' heads
    /// read as `heads` says; `None` once the log has ended.
    pub fn next_batch(&mut self, mut batch: Batch, heads: Heads) -> Option<Batch> {
        if let Some(find) = batch.find_identity.take() {
            self.find_identity = find;
        }
        while matches!(self.end, End::NotYet)
            && batch.text.len() + batch.unread.len() < BATCH_TEXT
            && batch.entries.len() < BATCH_ENTRIES
        {
            match self.records.next_with_tokens() {
                None => self.end = End::Clean,
                Some(Err(err)) => self.end = End::Failed(err),
                Some(Ok((bytes, tokens))) if heads == Heads::Later => {
                    batch.add_unread(self.next_index, bytes, tokens);
                    self.next_index += 1;
                }
                Some(Ok((bytes, tokens))) => {
                    let identity = match self.find_identity {
                        true => IdentityRead::Find(self.rules.identity_paths()),
                        false => IdentityRead::TypeAndArn,
                    };
                    batch.add(
                        self.next_index,
                        (bytes, tokens),
                        (self.rules, identity),
                        &mut self.heads,
                        &self.window,
                    );
                    self.next_index += 1;
                }
            }
        }
        (!batch.entries.is_empty()).then_some(batch)
    }

    /// Hands each record to `take(index, bytes, tokens)` where the log's
    /// reader holds it, until the log ends or `take` returns false (then
    /// how the log would have ended is no news: [`Within::Ended`] with why
    /// the log ended early, if it did), or until `bytes` of content have
    /// been read: then [`Within::Grown`], and the splitter goes on from the
    /// next record.
    pub fn each_record_within(
        &mut self,
        bytes: u64,
        mut take: impl FnMut(u64, &[u8], Option<Tokens<'_>>) -> bool,
    ) -> Within {
        loop {
            if self.records.offset() >= bytes {
                return Within::Grown;
            }
            match self.records.next_with_tokens() {
                None => return Within::Ended(None),
                Some(Err(err)) => return Within::Ended(Some(err)),
                Some(Ok((bytes, tokens))) => {
                    let index = self.next_index;
                    self.next_index += 1;
                    if !take(index, bytes, tokens) {
                        return Within::Ended(None);
                    }
                }
            }
        }
    }

    /// [`Records::inflating_apart`].
    pub fn inflating_apart(&self) -> bool {
        self.records.inflating_apart()
    }

    /// [`Records::inflate_apart`].
    pub fn inflate_apart(&mut self) -> bool {
        self.records.inflate_apart()
    }

    /// Why the log ended before its end, if it did.
    pub fn into_error(self) -> Option<LogError> {
        match self.end {
            End::Failed(err) => Some(err),
            End::NotYet | End::Clean => None,
        }
    }
}

impl Batch {
    /// Adds one record, its head read by `heads`.
    fn add(
        &mut self,
        index: u64,
        (bytes, tokens): (&[u8], Option<Tokens<'_>>),
        // Never `Build`: a built identity could not cross to the
        // evaluating thread (it borrows the inflate buffer, not the
        // batch's copy). Places can.
        (rules, identity): (&RuleSet, IdentityRead<'_>),
        heads: &mut HeadReader,
        window: &EventWindow,
    ) {
        let rules_start = self.rules.len();
        let read = read_head(
            heads,
            bytes,
            tokens,
            rules,
            &mut self.rules,
            identity,
            window,
        );
        let mut head = match read {
            Ok((head, placed)) => {
                self.outside += u64::from(placed == Placed::Outside);
                head
            }
            Err(err) => {
                self.entries.push(Entry::Invalid(index, err.to_string()));
                return;
            }
        };
        keep_newest_event_time(&mut self.newest_event_time, &head);
        if self.rules.len() == rules_start {
            match self.entries.last_mut() {
                Some(Entry::Plain(count)) => *count += 1,
                _ => self.entries.push(Entry::Plain(1)),
            }
            heads.recycle(head.fields);
            return;
        }
        let record = head.text;
        let fields_start = self.fields.len();
        self.fields.extend(
            head.fields
                .drain(..)
                .map(|(key, raw)| (Text::of(record, key), Text::of(record, Cow::Borrowed(raw)))),
        );
        let start = self.text.len();
        self.text.push_str(record);
        self.entries.push(Entry::Candidate(Candidate {
            index,
            span: start..self.text.len(),
            fields: fields_start..self.fields.len(),
            rules: rules_start..self.rules.len(),
            found: heads.found().map(|found| {
                self.found.push(*found);
                self.found.len() - 1
            }),
        }));
        heads.recycle(head.fields);
    }

    /// Adds one record as the log holds it, its head left unread.
    fn add_unread(&mut self, index: u64, bytes: &[u8], tokens: Option<Tokens<'_>>) {
        let start = self.unread.len();
        self.unread.extend_from_slice(bytes);
        let tokens = tokens.map(|tokens| {
            let at = self.tokens.len();
            self.tokens.extend_from_slice(tokens.masks);
            (at..self.tokens.len(), tokens.escapes)
        });
        self.entries.push(Entry::Unread(Unread {
            index,
            span: start..self.unread.len(),
            tokens,
        }));
    }
}

/// Reads a record's head with `heads`, adding to `candidates` the
/// positions of the rules that may match it (none when its `eventTime` is
/// outside `window`: then `Placed::Outside`); `identity`: what it reads
/// of `userIdentity` for the rules ([`IdentityRead`]).
pub fn read_head<'a>(
    heads: &mut HeadReader,
    bytes: &'a [u8],
    tokens: Option<Tokens<'_>>,
    rules: &RuleSet,
    candidates: &mut Vec<usize>,
    identity: IdentityRead<'_>,
    window: &EventWindow,
) -> Result<(RecordHead<'a>, Placed), serde_json::Error> {
    let head = heads.read(bytes, tokens, identity)?;
    if !window.contains(head.event_time.as_deref()) {
        return Ok((head, Placed::Outside));
    }
    rules.candidate_positions_into(&KeyValues::of_head(&head), candidates);
    Ok((head, Placed::Inside))
}

/// Where a record's `eventTime` is against the scan's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    Inside,
    /// Read and checked, not evaluated.
    Outside,
}

/// Keeps in `newest` the later of it and the `eventTime` of `head`. Only
/// times as CloudTrail writes them, `YYYY-MM-DDTHH:MM:SSZ`, count (text
/// order is time order): a malformed one must not stand for the newest.
pub fn keep_newest_event_time(newest: &mut Option<String>, head: &RecordHead<'_>) {
    if let Some(time) = head.event_time.as_deref() {
        if is_cloudtrail_time(time) {
            super::keep_latest(newest, time);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cloudtrail_times_count() {
        for (time, ok) in [
            ("2024-03-01T12:34:56Z", true),
            ("2024-03-01T12:34:56.123Z", false),
            ("9999", false),
            ("zzzz-03-01T12:34:56Z", false),
            ("2024-03-01 12:34:56Z", false),
        ] {
            assert_eq!(is_cloudtrail_time(time), ok, "{time}");
        }
    }

    #[test]
    fn places_and_owned_text() {
        let record = r#"{"a":1}"#;
        let part = record.get(1..4).expect("in range");
        let at = Text::of(record, Cow::Borrowed(part));
        assert!(matches!(at, Text::At(ref r) if *r == (1..4)));
        assert_eq!(at.in_record(record), r#""a""#);
        let elsewhere = String::from("x");
        let owned = Text::of(record, Cow::Borrowed(&elsewhere));
        assert!(matches!(owned, Text::Owned(ref t) if t == "x"));
    }
}
