//! A record the rules read one top-level field at a time.
//!
//! Most rules name two or three fields. Parsing a 1.6 KB record into a
//! `Value` costs several times the quick read that found its head; parsing
//! only the fields the candidate rules ask for (`userIdentity` for most),
//! into values borrowed from the text ([`BorrowedValue`]), keeps a record that
//! matches nearly as cheap as one that does not. The
//! quick read has already checked the whole record as JSON; each field is
//! checked strictly (duplicate keys, depth) when it is parsed, so nothing a
//! rule reads can hold two meanings. A field no rule reads is never parsed:
//! a problem inside it cannot hide anything from the rules.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell, RefCell};

use serde_json::{Map, Value};

use super::brief::{text_of, text_of_owned, Brief};
use super::IdentityPaths;
use super::{normalize_event_name, normalize_event_name_in};
use crate::json::find::Found;
use crate::json::{self, without_position, BorrowedValue};

/// What the rules read of a record read field by field (the record's own
/// lifetime hidden, as the cells holding its values would otherwise tie
/// every borrow of it to the record's text).
pub trait Fields {
    /// [`LazyRecord::field`].
    fn field(&self, key: &str) -> Option<&BorrowedValue<'_>>;
    /// [`LazyRecord::whole`].
    fn whole(&self) -> &Value;
    /// [`LazyRecord::identity_member`].
    fn identity_member(&self, field: &str) -> Option<Option<BorrowedValue<'_>>>;
}

impl Fields for LazyRecord<'_> {
    fn field(&self, key: &str) -> Option<&BorrowedValue<'_>> {
        LazyRecord::field(self, key)
    }
    fn whole(&self) -> &Value {
        LazyRecord::whole(self)
    }
    fn identity_member(&self, field: &str) -> Option<Option<BorrowedValue<'_>>> {
        LazyRecord::identity_member(self, field)
    }
}

/// One record's top-level values as text, parsed on first use.
pub struct LazyRecord<'a> {
    text: &'a str,
    fields: Vec<Slot<'a>>,
    whole: OnceCell<Value>,
    /// The first problem met in a value a rule read.
    problem: RefCell<Option<String>>,
    /// The members of `userIdentity` the head read looks for.
    identity_paths: Option<&'a IdentityPaths>,
    /// Where it found them.
    found: Option<Found>,
    /// A rule read one of those members ([`LazyRecord::member_read`]).
    member_read: Cell<bool>,
}

struct Slot<'a> {
    key: Cow<'a, str>,
    raw: &'a str,
    value: OnceCell<Option<BorrowedValue<'a>>>,
    /// A rule asked for it ([`LazyRecord::asked`]).
    asked: Cell<bool>,
}

impl<'a> LazyRecord<'a> {
    /// `text` is the whole record; `fields` its top-level keys and the
    /// text of their values ([`super::RecordHead::fields`]).
    pub fn new(
        text: &'a str,
        fields: impl IntoIterator<Item = (Cow<'a, str>, &'a str)>,
    ) -> LazyRecord<'a> {
        LazyRecord::new_in(text, fields, SlotBuffer::default())
    }

    /// [`LazyRecord::new`] in the memory of a record dropped before it
    /// ([`LazyRecord::into_buffer`]): one allocation per scan, not one per
    /// record.
    pub fn new_in(
        text: &'a str,
        fields: impl IntoIterator<Item = (Cow<'a, str>, &'a str)>,
        buffer: SlotBuffer,
    ) -> LazyRecord<'a> {
        let mut slots = super::emptied(buffer.0);
        slots.extend(fields.into_iter().map(|(key, raw)| Slot {
            key,
            raw,
            value: OnceCell::new(),
            asked: Cell::new(false),
        }));
        LazyRecord {
            fields: slots,
            text,
            whole: OnceCell::new(),
            problem: RefCell::new(None),
            identity_paths: None,
            found: None,
            member_read: Cell::new(false),
        }
    }

    /// The members of `userIdentity` the head read looks for, and where
    /// it found them in this record, when it did
    /// ([`super::HeadReader::found`]).
    pub fn set_identity(&mut self, paths: &'a IdentityPaths, found: Option<Found>) {
        self.identity_paths = Some(paths);
        self.found = found;
    }

    /// The member of `userIdentity` at the dotted `field`
    /// (`userIdentity.type`), when the head read found where it is:
    /// `Some(None)` when there is none, `None` when the parsed field must
    /// say.
    pub fn identity_member(&self, field: &str) -> Option<Option<BorrowedValue<'a>>> {
        let at = self.identity_paths?.position(field)?;
        self.member_read.set(true);
        self.found.as_ref()?.value(self.text, at)
    }

    /// Whether a rule read a member of `userIdentity` the head read looks
    /// for, found or not.
    pub fn member_read(&self) -> bool {
        self.member_read.get()
    }

    /// Whether the head read found where the members of `userIdentity`
    /// are.
    pub fn has_found(&self) -> bool {
        self.found.is_some()
    }

    /// The record's memory, its values dropped, for the next
    /// ([`LazyRecord::new_in`]).
    pub fn into_buffer(self) -> SlotBuffer {
        SlotBuffer(super::emptied(self.fields))
    }

    /// The top-level field `key`.
    fn slot(&self, key: &str) -> Option<&Slot<'a>> {
        self.fields
            .iter()
            .find(|slot| json::same_key(&slot.key, key))
    }

    /// The value of top-level field `key` as the rules see it (eventName
    /// without its version suffix); `None` when absent or unreadable.
    pub fn field(&self, key: &str) -> Option<&BorrowedValue<'a>> {
        let slot = self.slot(key)?;
        slot.asked.set(true);
        slot.value
            .get_or_init(|| match BorrowedValue::parse(slot.raw) {
                Ok(mut value) => {
                    if key == "eventName" {
                        normalize(&mut value);
                    }
                    Some(value)
                }
                Err(err) => {
                    // Positions would count from the value's start.
                    self.report(format!("field {key:?}: {}", without_position(&err)));
                    None
                }
            })
            .as_ref()
    }

    /// Gives the field `key` its value, parsed already as [`BorrowedValue::parse`]
    /// would parse its text (by the head read: [`super::RecordHead::identity`]).
    pub fn preset(&self, key: &str, value: BorrowedValue<'a>) {
        if let Some(slot) = self.slot(key) {
            // Not parsed yet: the record was just made.
            let _ = slot.value.set(Some(value));
        }
    }

    /// Whether a rule asked for the field `key`.
    pub fn asked(&self, key: &str) -> bool {
        self.slot(key).is_some_and(|slot| slot.asked.get())
    }

    /// The whole record as the rules see it, for what needs every value
    /// (keywords, paths with brackets). An empty object when unreadable.
    pub fn whole(&self) -> &Value {
        self.whole.get_or_init(|| {
            match json::check(self.text.as_bytes()).and_then(|()| serde_json::from_str(self.text)) {
                Ok(mut value) => {
                    normalize_event_name_in(&mut value);
                    value
                }
                Err(err) => {
                    self.report(err.to_string());
                    Value::Object(Map::new())
                }
            }
        })
    }

    fn report(&self, problem: String) {
        self.problem.borrow_mut().get_or_insert(problem);
    }

    /// Why a value some rule read could not be read, if one could not: the
    /// record is then invalid, whatever the rules said.
    pub fn problem(&self) -> Option<String> {
        self.problem.borrow().clone()
    }

    /// What findings keep of the record: the strings grouping reads.
    pub fn brief(&self) -> Brief {
        // A field as parsed already, or parsed here (a string without
        // escapes, as most event ids and times are, is its text between
        // the quotes: no parse per finding).
        let value = |key: &str| -> Option<Cow<'_, BorrowedValue<'a>>> {
            let slot = self.slot(key)?;
            match slot.value.get() {
                Some(parsed) => parsed.as_ref().map(Cow::Borrowed),
                None => match plain_string(slot.raw) {
                    Some(text) => Some(Cow::Owned(BorrowedValue::Str(Cow::Borrowed(text)))),
                    None => BorrowedValue::parse(slot.raw).ok().map(Cow::Owned),
                },
            }
        };
        let text = |key: &str| match value(key)? {
            Cow::Borrowed(value) => text_of(value),
            Cow::Owned(value) => text_of_owned(value),
        };
        let found = self
            .identity_paths
            .zip(self.found.as_ref())
            .map(|(paths, found)| {
                (
                    paths.principal(found, self.text),
                    paths.issuer(found, self.text),
                )
            });
        let identity;
        let (principal, issuer) = match found {
            Some((Some(principal), Some(issuer))) => (principal, issuer),
            _ => {
                identity = value("userIdentity");
                let identity = identity.as_deref();
                (
                    identity.and_then(Brief::principal_of),
                    identity.and_then(Brief::issuer_of),
                )
            }
        };
        Brief::new(
            principal.as_deref(),
            issuer.as_deref(),
            text("eventID").as_deref(),
            text("eventTime").as_deref(),
        )
    }

    /// The record's text.
    pub fn text(&self) -> &'a str {
        self.text
    }
}

/// The memory of a [`LazyRecord`]'s fields, emptied, to make the next in.
#[derive(Default)]
pub struct SlotBuffer(Vec<Slot<'static>>);

/// The text of `raw`, a JSON value, when it is a string without escapes.
fn plain_string(raw: &str) -> Option<&str> {
    let text = raw.strip_prefix('"')?.strip_suffix('"')?;
    // memchr2, not `contains` with a set of chars: a searcher per call.
    memchr::memchr2(b'\\', b'"', text.as_bytes())
        .is_none()
        .then_some(text)
}

fn normalize(value: &mut BorrowedValue<'_>) {
    if let BorrowedValue::Str(name) = value {
        let normalized = normalize_event_name(name);
        if normalized.len() != name.len() {
            *name = Cow::Owned(normalized.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordHead;

    #[test]
    fn fields_are_parsed_alone_and_problems_only_where_read() {
        let text = r#"{"eventName":"GetFunction20150331","userIdentity":{"type":"Root","arn":"arn:aws:iam::1:root","accountId":"1"},"requestParameters":{"a":1,"a":2},"n":1e400}"#;
        let head =
            RecordHead::read(text.as_bytes()).expect("the quick read skips what it does not read");
        let record = LazyRecord::new(head.text, head.fields);
        assert_eq!(
            record.field("eventName").map(BorrowedValue::to_value),
            Some(Value::from("GetFunction"))
        );
        assert_eq!(
            record
                .field("userIdentity")
                .and_then(|v| v.get("type"))
                .map(BorrowedValue::to_value),
            Some(Value::from("Root"))
        );
        assert!(record.field("missing").is_none());
        assert_eq!(record.problem(), None);
        assert!(record.field("requestParameters").is_none());
        let problem = record.problem().expect("a duplicate key where a rule read");
        assert!(
            problem.starts_with(r#"field "requestParameters": duplicate key "a""#),
            "{problem}"
        );
        // Of userIdentity, the brief keeps what names the principal.
        let brief = record.brief();
        assert_eq!(brief.principal(), Some("arn:aws:iam::1:root"));
        assert_eq!((brief.issuer(), brief.event_id()), (None, None));
    }

    /// The brief reads plain strings as they are, and the rest as parsed.
    #[test]
    fn the_brief_reads_strings_with_and_without_escapes() {
        let text = r#"{"eventID":"id-1","eventTime":"2024-03-01T00:00:00Z","userIdentity":{"arn":"a\u0062c"}}"#;
        let head = RecordHead::read(text.as_bytes()).expect("valid");
        let brief = LazyRecord::new(head.text, head.fields).brief();
        assert_eq!(brief.event_id(), Some("id-1"));
        assert_eq!(brief.event_time(), Some("2024-03-01T00:00:00Z"));
        assert_eq!(brief.principal(), Some("abc"));
        let escaped = r#"{"eventID":"i\"d","eventTime":""}"#;
        let head = RecordHead::read(escaped.as_bytes()).expect("valid");
        let brief = LazyRecord::new(head.text, head.fields).brief();
        assert_eq!(brief.event_id(), Some("i\"d"));
        assert_eq!(brief.event_time(), None);
        assert_eq!(plain_string(r#""a""#), Some("a"));
        assert_eq!(plain_string(r#""a\"b""#), None);
        assert_eq!(plain_string("1"), None);
        assert_eq!(plain_string(r#"""#), None);
    }

    #[test]
    fn the_whole_record_is_checked_when_read() {
        let text = r#"{"eventName":"A","n":1e400}"#;
        let head = RecordHead::read(text.as_bytes()).expect("quick read");
        let record = LazyRecord::new(head.text, head.fields);
        assert_eq!(record.whole(), &Value::Object(Map::new()));
        let problem = record.problem().expect("out of range");
        assert!(problem.contains("number out of range"), "{problem}");
    }
}
