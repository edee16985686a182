//! The first half of a scan: records split from the log, their heads read
//! and the rules that may match them picked. The records some rule may
//! match travel in batches to the second half, which evaluates them; with
//! a second CPU the halves run side by side.

use std::borrow::Cow;
use std::ops::Range;

use crate::logfile::{LogError, Records};
use crate::record::RecordHead;
use crate::rules::{KeyValues, RuleSet};

/// A batch is handed on past this much record text or this many entries:
/// large enough that handing over costs nothing, small enough that memory
/// stays flat (two batches wait at most).
const BATCH_TEXT: usize = 256 << 10;
const BATCH_ENTRIES: usize = 1024;

/// Consecutive records, in log order.
#[derive(Debug, Default)]
pub struct Batch {
    /// The text of the candidate records, one after the other.
    pub text: String,
    pub entries: Vec<Entry>,
    /// The latest `eventTime` among the batch's records.
    pub newest_event_time: Option<String>,
}

#[derive(Debug)]
pub enum Entry {
    /// This many records that no rule can match: evaluated already.
    Plain(u64),
    /// A record that is not valid JSON: its index in the log and why.
    Invalid(u64, String),
    /// A record some rule may match.
    Candidate(Candidate),
}

/// A record some rule may match, with what its head read found.
#[derive(Debug)]
pub struct Candidate {
    /// Its index in the log.
    pub index: u64,
    /// Where its text is in [`Batch::text`].
    pub span: Range<usize>,
    /// Its top-level keys and values, as places in its text.
    pub fields: Vec<(Text, Text)>,
    /// The rules that may match it, as positions in [`RuleSet::rules`].
    pub rules: Vec<usize>,
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
    next_index: u64,
    end: End,
}

enum End {
    NotYet,
    Clean,
    Failed(LogError),
}

impl<'r> Splitter<'r> {
    pub fn new(records: Records, rules: &'r RuleSet) -> Splitter<'r> {
        Splitter {
            records,
            rules,
            next_index: 0,
            end: End::NotYet,
        }
    }

    /// The next batch, in `batch` (emptied by the evaluation: its buffers
    /// are used again, so a scan allocates them once); `None` once the
    /// log has ended.
    pub fn next_batch(&mut self, mut batch: Batch) -> Option<Batch> {
        while matches!(self.end, End::NotYet)
            && batch.text.len() < BATCH_TEXT
            && batch.entries.len() < BATCH_ENTRIES
        {
            match self.records.next_record() {
                None => self.end = End::Clean,
                Some(Err(err)) => self.end = End::Failed(err),
                Some(Ok(bytes)) => {
                    batch.add(self.next_index, bytes, self.rules);
                    self.next_index += 1;
                }
            }
        }
        (!batch.entries.is_empty()).then_some(batch)
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
    fn add(&mut self, index: u64, bytes: &[u8], rules: &RuleSet) {
        let head = match RecordHead::read(bytes) {
            Ok(head) => head,
            Err(err) => {
                self.entries.push(Entry::Invalid(index, err.to_string()));
                return;
            }
        };
        if let Some(time) = head.event_time.as_deref() {
            self.note_event_time(time);
        }
        let rules = rules.candidate_positions(&KeyValues::of_head(&head));
        if rules.is_empty() {
            match self.entries.last_mut() {
                Some(Entry::Plain(count)) => *count += 1,
                _ => self.entries.push(Entry::Plain(1)),
            }
            return;
        }
        let record = head.text;
        let fields = head
            .fields
            .into_iter()
            .map(|(key, raw)| (Text::of(record, key), Text::of(record, Cow::Borrowed(raw))))
            .collect();
        let start = self.text.len();
        self.text.push_str(record);
        self.entries.push(Entry::Candidate(Candidate {
            index,
            span: start..self.text.len(),
            fields,
            rules,
        }));
    }

    /// Keeps the latest time. Only times as CloudTrail writes them
    /// (`2024-03-01T12:34:56Z`, text order is time order) count: a
    /// malformed one must not stand for the newest.
    fn note_event_time(&mut self, time: &str) {
        if is_cloudtrail_time(time) {
            super::keep_latest(&mut self.newest_event_time, time);
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn is_cloudtrail_time(time: &str) -> bool {
    const SHAPE: &[u8; 20] = b"0000-00-00T00:00:00Z";
    time.len() == SHAPE.len()
        && time.bytes().zip(SHAPE).all(|(b, want)| match want {
            b'0' => b.is_ascii_digit(),
            _ => b == *want,
        })
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
