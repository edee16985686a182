//! A record's head: the fields read from every record to pick the rules
//! worth running, and the text of every top-level value for the rules to
//! parse one at a time ([`super::LazyRecord`]).
//!
//! Most records are walked by their structure alone ([`crate::json::walk`]);
//! the rest, and every invalid one, are read by serde_json, which names
//! what is wrong. Either way the head is the same (fuzzed, and tested on
//! every record of the corpus and of generated logs).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::json::find::{Found, Place};
use crate::json::strict::{clarify, Key, KeyStack, StrictKeys};
use crate::json::walk::{self, Walk};
use crate::json::{key_hash, without_position, BorrowedValue, Tokens};

/// The fields read from every record, to pick the rules worth running.
/// Borrowed from the record's bytes (no allocation unless a string has
/// escapes).
///
/// Reading it checks the record as JSON (syntax, UTF-8, control
/// characters) and, where they decide which rules run, more than
/// `serde_json::Value` does: the record is an object; its top level and
/// `userIdentity` have no duplicate key (`Value` would keep the last one
/// silently, and a record whose meaning depends on the parser could hide
/// what a rule looks for); `userIdentity` and the head's fields nest within
/// [`crate::json::MAX_DEPTH`]. A value a rule reads is checked whole when it
/// is parsed ([`BorrowedValue::parse`]); a field no rule reads is read for
/// what it says about which rules run, and nothing hidden deeper in it can
/// change that. (The trade, measured in BENCHMARKS.md: checking every
/// value strictly cost more than the rest of the scan.)
#[derive(Debug, Default, PartialEq)]
pub struct RecordHead<'a> {
    pub event_source: Lenient<'a>,
    pub event_name: Lenient<'a>,
    pub error_code: Lenient<'a>,
    pub user_agent: Lenient<'a>,
    /// `userIdentity.type`.
    pub identity_type: Lenient<'a>,
    /// `userIdentity.arn`.
    pub identity_arn: Lenient<'a>,
    pub event_time: Lenient<'a>,
    /// The record's text.
    pub text: &'a str,
    /// Every top-level key and the text of its value, in record order.
    pub fields: Vec<(Cow<'a, str>, &'a str)>,
    /// `userIdentity` as [`BorrowedValue::parse`] gives it, when the read
    /// was asked to build it and could.
    pub identity: Option<BorrowedValue<'a>>,
}

/// What the head read does with `userIdentity` besides checking it.
#[derive(Debug, Clone, Copy)]
pub enum IdentityRead<'p> {
    /// Reads its `type` and `arn` only.
    TypeAndArn,
    /// Finds the places of these members too ([`HeadReader::found`]).
    Find(&'p super::IdentityPaths),
    /// Builds it whole ([`RecordHead::identity`]).
    Build,
}

/// A string field that tolerates other JSON types (real logs hold
/// surprises): a string is kept, `null` reads as absent, and any other
/// value is [`Lenient::Other`]: no text to look up, but something a rule
/// may still match (rsigma compares numbers and booleans as their text,
/// arrays by their elements), so the rule index must not take it for
/// absent.
#[derive(Debug, Default, PartialEq)]
pub enum Lenient<'a> {
    #[default]
    Absent,
    Text(Cow<'a, str>),
    /// A number, boolean, array or object.
    Other,
}

impl Lenient<'_> {
    /// The text, when the field is a string.
    pub fn as_deref(&self) -> Option<&str> {
        match self {
            Lenient::Text(text) => Some(text),
            _ => None,
        }
    }

    pub fn is_other(&self) -> bool {
        matches!(self, Lenient::Other)
    }
}

/// Reads the heads of records one after the other, its field list used
/// again from one to the next.
#[derive(Debug, Default)]
pub struct HeadReader {
    spare: Vec<(Cow<'static, str>, &'static str)>,
    /// What the last read found ([`HeadReader::found`]): kept here, not in
    /// the head, which moves several times on its way.
    found: Option<Found>,
}

impl HeadReader {
    /// The head of the record `bytes`. `tokens`: the record's tokens, when
    /// the reader of the log found them with it
    /// ([`crate::json::classify::object_tokens`]). `identity`: what to
    /// read of `userIdentity` for the rules too, where that can be done on
    /// the way (the same head either way).
    pub fn read<'a>(
        &mut self,
        bytes: &'a [u8],
        tokens: Option<Tokens<'_>>,
        identity: IdentityRead<'_>,
    ) -> Result<RecordHead<'a>, serde_json::Error> {
        // Skipped strings are not checked for UTF-8; checking the whole
        // record at once is far faster. When it fails, the strict check
        // names where.
        let Ok(text) = simdutf8::basic::from_utf8(bytes) else {
            return Err(match crate::json::check(bytes) {
                Err(err) => err,
                Ok(()) => de::Error::custom("a string is not valid UTF-8"),
            });
        };
        let fields = super::emptied(std::mem::take(&mut self.spare));
        let found = &mut self.found;
        *found = None;
        let plain = IdentityRead::TypeAndArn;
        let walked = match (tokens, identity) {
            (Some(tokens), IdentityRead::TypeAndArn) => {
                walk_found(text, tokens, fields, plain, found)
            }
            // Building and finding give up more often than the head read
            // (a float in the identity): then the head alone.
            (Some(tokens), _) if !tokens.escapes => {
                match walk_found(text, tokens, fields, identity, found) {
                    Some(head) => Some(head),
                    None => {
                        *found = None;
                        walk_found(text, tokens, Vec::new(), plain, found)
                    }
                }
            }
            (Some(tokens), _) => walk_found(text, tokens, fields, plain, found),
            (None, _) => walk::with_tokens(text.as_bytes(), |walk| {
                walk_head(walk, text, fields, plain, found)
            }),
        };
        match walked {
            Some(head) => Ok(head),
            None => read_by_serde(text),
        }
    }

    /// The places of the members of `userIdentity` the last read found
    /// ([`IdentityRead::Find`]), when it could: `userIdentity` is an
    /// object [`BorrowedValue::parse`] reads without serde_json, and no
    /// top-level key starts with `userIdentity.` (a rule naming that path
    /// reads such a key first).
    pub fn found(&self) -> Option<&Found> {
        self.found.as_ref()
    }

    /// Takes back a head's field list, to use again for the next.
    pub fn recycle(&mut self, fields: Vec<(Cow<'_, str>, &'_ str)>) {
        self.spare = super::emptied(fields);
    }
}

#[cfg(test)]
impl<'a> RecordHead<'a> {
    /// [`HeadReader::read`], for the tests.
    pub(crate) fn read(bytes: &'a [u8]) -> Result<RecordHead<'a>, serde_json::Error> {
        HeadReader::default().read(bytes, None, IdentityRead::TypeAndArn)
    }
}

/// The head walked from the tokens the splitter found: a record with
/// escapes is walked too, its escapes checked as serde_json checks those
/// it skips, the head fields that have one decoded by serde_json (a key
/// with one is serde_json's to read).
fn walk_found<'a>(
    text: &'a str,
    tokens: Tokens<'_>,
    fields: Vec<(Cow<'a, str>, &'a str)>,
    identity: IdentityRead<'_>,
    found: &mut Option<Found>,
) -> Option<RecordHead<'a>> {
    if tokens.escapes && !walk::escapes_are_valid(text.as_bytes()) {
        return None;
    }
    walk::with_found_tokens(text.as_bytes(), tokens, |walk| {
        walk_head(walk, text, fields, identity, found)
    })
}

/// The head of the record `text` the walk is over, `userIdentity` read
/// as `identity` says.
fn walk_head<'a>(
    mut walk: Walk<'a, '_>,
    text: &'a str,
    fields: Vec<(Cow<'a, str>, &'a str)>,
    identity: IdentityRead<'_>,
    found: &mut Option<Found>,
) -> Option<RecordHead<'a>> {
    let mut head = RecordHead {
        text,
        fields,
        ..RecordHead::default()
    };
    let start = walk.start_of(0);
    if walk.byte(start) != b'{' || walk.next()? != start {
        return None;
    }
    let mut keys = walk.object_keys();
    head.fields.reserve(32);
    let mut dotted = false;
    let end = walk.members(start, |walk, (k0, k1), from| {
        const USER_IDENTITY: u64 = key_hash(b"userIdentity");
        let key = walk.text.get(k0..k1)?;
        let hash = walk.key(&mut keys, (k0, k1))?;
        dotted |= key.len() > PREFIX.len() && key.starts_with(PREFIX);
        let (v0, v1, after) = if hash == USER_IDENTITY && key == b"userIdentity" {
            match identity {
                IdentityRead::Build => walk_identity_built(walk, from, text, &mut head)?,
                IdentityRead::Find(paths) => {
                    walk_identity_found(walk, from, text, &mut head, paths, found)?
                }
                IdentityRead::TypeAndArn => walk_identity(walk, from, text, &mut head)?,
            }
        } else {
            let read = walk.value(from, 1)?;
            if let Some(slot) = head.slot(key, hash) {
                *slot = walked_lenient(walk, text, read.0, read.1)?;
            }
            read
        };
        head.fields
            .push((Cow::Borrowed(text.get(k0..k1)?), text.get(v0..v1)?));
        Some((v1, after))
    })?;
    if dotted {
        *found = None;
    }
    walk.ws_only(end, walk.text.len()).then_some(head)
}

/// The start of a top-level key that a dotted path into `userIdentity`
/// names too.
const PREFIX: &[u8] = b"userIdentity.";

/// `userIdentity` built whole, as [`BorrowedValue::parse`] builds it, into
/// `head`, its `type` and `arn` taken from it as [`walk_identity`] takes
/// them.
fn walk_identity_built<'a>(
    walk: &mut Walk<'a, '_>,
    from: usize,
    text: &'a str,
    head: &mut RecordHead<'a>,
) -> Option<walk::Read> {
    let start = walk.start_of(from);
    if walk.byte(start) != b'{' {
        return walk_identity(walk, start, text, head);
    }
    let (value, end, after) = walk.build(start, text, 2)?;
    head.identity_type = lenient_member(&value, "type")?;
    head.identity_arn = lenient_member(&value, "arn")?;
    head.identity = Some(value);
    Some((start, end, after))
}

/// `userIdentity` checked as [`walk_identity_built`] checks it, the
/// places of `paths` found into `head`, its `type` and `arn` read from
/// them as [`walk_identity`] reads them.
fn walk_identity_found<'a>(
    walk: &mut Walk<'a, '_>,
    from: usize,
    text: &'a str,
    head: &mut RecordHead<'a>,
    paths: &super::IdentityPaths,
    into: &mut Option<Found>,
) -> Option<walk::Read> {
    use super::identity::{ARN, TYPE};
    let start = walk.start_of(from);
    if walk.byte(start) != b'{' {
        return walk_identity(walk, start, text, head);
    }
    let found = into.insert(Found::default());
    let (end, after) = walk.find_all(start, text, 2, paths.paths(), found)?;
    let lenient = |place| match place {
        Place::Absent => Some(Lenient::Absent),
        Place::At(v0, v1) => walked_lenient(walk, text, v0 as usize, v1 as usize),
        Place::Str(v0, v1) => text
            .get(v0 as usize..v1 as usize)
            .map(|s| Lenient::Text(Cow::Borrowed(s))),
        // An object or an array: serde_json's to read, as in `walk_identity`.
        Place::Unread => None,
    };
    head.identity_type = lenient(found.place(TYPE))?;
    head.identity_arn = lenient(found.place(ARN))?;
    Some((start, end, after))
}

/// `userIdentity`: its `type` and `arn` into `head`.
fn walk_identity<'a>(
    walk: &mut Walk<'a, '_>,
    from: usize,
    text: &'a str,
    head: &mut RecordHead<'a>,
) -> Option<walk::Read> {
    let start = walk.start_of(from);
    match walk.byte(start) {
        b'{' => {}
        // A string, `true`, `false`, `null`: no principal. An array, or a
        // number (serde_json parses it), is serde_json's to read.
        b'"' | b't' | b'f' | b'n' => return walk.value(start, 1),
        _ => return None,
    }
    if walk.next()? != start {
        return None;
    }
    let mut keys = walk.object_keys();
    let end = walk.members(start, |walk, (k0, k1), from| {
        walk.key(&mut keys, (k0, k1))?;
        let (v0, v1, after) = walk.value(from, 2)?;
        match walk.text.get(k0..k1)? {
            b"type" => head.identity_type = walked_lenient(walk, text, v0, v1)?,
            b"arn" => head.identity_arn = walked_lenient(walk, text, v0, v1)?,
            _ => {}
        }
        Some((v1, after))
    })?;
    walk.after_container(start, end)
}

/// A head field's value, walked: a string is kept (decoded when it has an
/// escape), `null` reads as absent, `true` and `false` as
/// [`Lenient::Other`]. A number, an object or an array is serde_json's to
/// read: it parses a number in a head field, and one out of range makes
/// the record invalid (found by the fuzzer).
fn walked_lenient<'a>(
    walk: &Walk<'a, '_>,
    text: &'a str,
    start: usize,
    end: usize,
) -> Option<Lenient<'a>> {
    match walk.byte(start) {
        b'"' => walk.string_at(text, start, end).map(Lenient::Text),
        b't' | b'f' => Some(Lenient::Other),
        b'n' => Some(Lenient::Absent),
        _ => None,
    }
}

/// The member `key` of a built object as [`walked_lenient`] reads a head
/// field: absent and `null` read as absent, a boolean as
/// [`Lenient::Other`], a string kept, any other value serde_json's.
fn lenient_member<'a>(object: &BorrowedValue<'a>, key: &str) -> Option<Lenient<'a>> {
    match object.get(key) {
        None | Some(BorrowedValue::Null) => Some(Lenient::Absent),
        Some(BorrowedValue::Bool(_)) => Some(Lenient::Other),
        Some(BorrowedValue::Str(text)) => Some(Lenient::Text(text.clone())),
        Some(_) => None,
    }
}

impl<'a> RecordHead<'a> {
    /// The head's top-level string field `key` (its [`key_hash`]
    /// `hash`, compared first: most keys are none of these).
    fn slot(&mut self, key: &[u8], hash: u64) -> Option<&mut Lenient<'a>> {
        const EVENT_SOURCE: u64 = key_hash(b"eventSource");
        const EVENT_NAME: u64 = key_hash(b"eventName");
        const ERROR_CODE: u64 = key_hash(b"errorCode");
        const USER_AGENT: u64 = key_hash(b"userAgent");
        const EVENT_TIME: u64 = key_hash(b"eventTime");
        let (slot, name): (&mut Lenient<'a>, &[u8]) = match hash {
            EVENT_SOURCE => (&mut self.event_source, b"eventSource"),
            EVENT_NAME => (&mut self.event_name, b"eventName"),
            ERROR_CODE => (&mut self.error_code, b"errorCode"),
            USER_AGENT => (&mut self.user_agent, b"userAgent"),
            EVENT_TIME => (&mut self.event_time, b"eventTime"),
            _ => return None,
        };
        (key == name).then_some(slot)
    }
}

/// The head read by serde_json (which names what is wrong with the record).
fn read_by_serde(text: &str) -> Result<RecordHead<'_>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let mut head = HeadVisitor.deserialize(&mut deserializer)?;
    deserializer.end()?;
    head.text = text;
    Ok(head)
}

/// Reads a record's head with serde_json: every value kept as text,
/// checked as JSON by the skip; the head's own fields read from that text.
#[derive(Clone, Copy)]
struct HeadVisitor;

impl<'de> DeserializeSeed<'de> for HeadVisitor {
    type Value = RecordHead<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HeadVisitor {
    type Value = RecordHead<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a CloudTrail record (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut head = RecordHead::default();
        // CloudTrail records have 15 to 25 top-level keys.
        head.fields.reserve(32);
        let mut stack = KeyStack::new();
        let mut keys = StrictKeys::at(&stack);
        while let Some(Key(key)) = map.next_key().map_err(clarify)? {
            let raw: &'de RawValue = map.next_value().map_err(clarify)?;
            if key == "userIdentity" {
                (head.identity_type, head.identity_arn) = identity(raw)?;
            } else if let Some(slot) = head.slot(key.as_bytes(), key_hash(key.as_bytes())) {
                *slot = lenient(raw.get(), 2)?;
            }
            keys.insert(&mut stack, key.clone())?;
            head.fields.push((key, raw.get()));
        }
        Ok(head)
    }
}

/// A head field's value, `text` at nesting level `depth`, checked strictly:
/// a string is kept, `null` reads as absent, anything else as
/// [`Lenient::Other`]. Its errors are raised again in the record's
/// deserializer, which places them in the record.
fn lenient<E: de::Error>(text: &str, depth: usize) -> Result<Lenient<'_>, E> {
    match BorrowedValue::parse_by_serde_at(text, depth) {
        Ok(BorrowedValue::Str(text)) => Ok(Lenient::Text(text)),
        Ok(BorrowedValue::Null) => Ok(Lenient::Absent),
        Ok(_) => Ok(Lenient::Other),
        Err(err) => Err(E::custom(without_position(&err))),
    }
}

/// `userIdentity` (at level 2): its `type` and `arn` when it is an object
/// (its keys checked for duplicates, its other values skipped); an array,
/// checked strictly, makes both [`Lenient::Other`] (a dotted path crosses
/// an array to its elements: `userIdentity.type` may still be read from
/// an object in it); anything else, absent.
fn identity<E: de::Error>(raw: &RawValue) -> Result<(Lenient<'_>, Lenient<'_>), E> {
    match raw.get().trim_start().as_bytes().first() {
        Some(b'{') => {
            let mut deserializer = serde_json::Deserializer::from_str(raw.get());
            Identity
                .deserialize(&mut deserializer)
                .map_err(|err| E::custom(without_position(&err)))
        }
        Some(b'[') => lenient(raw.get(), 2).map(|_| (Lenient::Other, Lenient::Other)),
        // (Read all the same: a number may be out of range.)
        _ => lenient(raw.get(), 2).map(|_| Default::default()),
    }
}

/// The members of `userIdentity`, an object.
struct Identity;

impl<'de> DeserializeSeed<'de> for Identity {
    type Value = (Lenient<'de>, Lenient<'de>);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Identity {
    type Value = (Lenient<'de>, Lenient<'de>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut stack = KeyStack::new();
        let mut keys = StrictKeys::at(&stack);
        let (mut kind, mut arn) = (Lenient::Absent, Lenient::Absent);
        while let Some(Key(key)) = map.next_key().map_err(clarify)? {
            let raw: &'de RawValue = map.next_value().map_err(clarify)?;
            match key.as_ref() {
                "type" => kind = lenient(raw.get(), 3)?,
                "arn" => arn = lenient(raw.get(), 3)?,
                _ => {}
            }
            keys.insert(&mut stack, key)?;
        }
        Ok((kind, arn))
    }
}

#[cfg(test)]
mod tests;
