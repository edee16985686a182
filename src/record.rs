//! One CloudTrail record: the two fields read from every record, eventName
//! normalisation, and lenient field access for the few that alerts read.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use serde_json::value::RawValue;
use serde_json::Value;

/// Records nested deeper than this (the record itself is level 1) are
/// rejected. CloudTrail records nest a dozen levels at most; the limit stays
/// below serde_json's own (127) so the message is ours, and bounds the
/// recursion of everything that later walks the record.
pub const MAX_DEPTH: usize = 100;

/// The fields read from every record, to pick the rules worth running.
/// Borrowed from the record's bytes (no allocation unless a string has
/// escapes).
///
/// Two ways to read it. [`RecordHead::read`], for every record, checks it
/// as JSON and the keys that decide which rules run, and keeps the text of
/// every top-level value for the rules to parse, one field at a time, with
/// [`crate::rules::Lite::parse`]. That and the strict parse (this type's `Deserialize`,
/// and [`check_record`], run before the rules read a record whole) check
/// what they read: beyond what `Value` checks (valid JSON, every string
/// UTF-8, numbers in range), they reject:
///
/// - a record that is not a JSON object;
/// - a record nested deeper than [`MAX_DEPTH`];
/// - a duplicate key in any object of the record: `Value` would silently
///   keep the last one, and a record whose meaning depends on the parser
///   could hide what a rule looks for from it.
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
    /// The record's text (quick read only; empty from the strict parse).
    pub text: &'a str,
    /// Every top-level key and the text of its value, in record order
    /// (quick read only): what [`crate::rules::LazyRecord`] parses on demand.
    pub fields: Vec<(Cow<'a, str>, &'a str)>,
    /// `userIdentity` as [`crate::rules::Lite::parse`] gives it, when the
    /// read was asked to build it and could ([`RecordHead::read_with_tokens`]).
    pub identity: Option<crate::rules::Lite<'a>>,
}

impl<'a> RecordHead<'a> {
    /// Reads the head the fast way: the fields the index needs, the record
    /// checked as valid JSON (syntax, UTF-8, control characters, nesting
    /// up to serde_json's limit) and free of duplicate keys at the top
    /// level and in `userIdentity` (those decide which rules run), its
    /// other values kept as text, unparsed. A value a rule reads is then
    /// checked whole by [`crate::rules::Lite::parse`] before the rule sees it.
    ///
    /// The trade, measured in BENCHMARKS.md: the strict walk of every
    /// value costs more than the rest of the scan. A field no rule reads
    /// is read for what it says about which rules run, and nothing hidden
    /// deeper in it can change that.
    pub fn read(bytes: &'a [u8]) -> Result<RecordHead<'a>, serde_json::Error> {
        Self::read_with(bytes, Vec::new())
    }

    /// [`RecordHead::read`] into `fields`, an empty list whose allocation
    /// is used again.
    pub fn read_with(
        bytes: &'a [u8],
        fields: Vec<(Cow<'a, str>, &'a str)>,
    ) -> Result<RecordHead<'a>, serde_json::Error> {
        Self::read_with_tokens(bytes, None, fields, false)
    }

    /// [`RecordHead::read_with`], given the record's tokens when the
    /// splitter found them ([`crate::json_bits::record_tokens`]); with
    /// `identity`, `userIdentity` is built too where the structural walk
    /// can build it ([`RecordHead::identity`]: the same head either way).
    pub fn read_with_tokens(
        bytes: &'a [u8],
        tokens: Option<crate::json_bits::RecordTokens<'_>>,
        fields: Vec<(Cow<'a, str>, &'a str)>,
        identity: bool,
    ) -> Result<RecordHead<'a>, serde_json::Error> {
        // Skipped strings are not checked for UTF-8; std checks the whole
        // record far faster. When it fails, the strict walk names where.
        let Ok(text) = std::str::from_utf8(bytes) else {
            return serde_json::from_slice(bytes);
        };
        // Most records are read by their structure alone; the rest (and
        // every invalid one) by serde_json, which names what is wrong.
        let quick = match tokens {
            Some(tokens) if identity && !tokens.escapes => {
                // Building gives up more often than the head read (a float
                // in the identity): then the head alone.
                crate::quick_head::read_with_identity(text, tokens, fields)
                    .or_else(|| crate::quick_head::read_with_tokens(text, tokens, Vec::new()))
            }
            Some(tokens) => crate::quick_head::read_with_tokens(text, tokens, fields),
            None => crate::quick_head::read_with(text, fields),
        };
        match quick {
            Some(head) => Ok(head),
            None => Self::read_by_serde(text),
        }
    }

    /// [`RecordHead::read`] without the structural walk: serde_json reads
    /// the record (and names what is wrong with it).
    pub fn read_by_serde(text: &'a str) -> Result<RecordHead<'a>, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let mut head = HeadVisitor { quick: true }.deserialize(&mut deserializer)?;
        deserializer.end()?;
        head.text = text;
        Ok(head)
    }
}

/// Checks a whole record as [`RecordHead`]'s strict parse does: every
/// object free of duplicate keys, nesting within [`MAX_DEPTH`].
pub fn check_record(bytes: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<RecordHead>(bytes).map(|_| ())
}

impl<'de: 'a, 'a> Deserialize<'de> for RecordHead<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        HeadVisitor { quick: false }.deserialize(deserializer)
    }
}

/// The top-level string fields the head reads, in `RecordHead`'s order.
const HEAD_FIELDS: [&str; 5] = [
    "eventSource",
    "eventName",
    "errorCode",
    "userAgent",
    "eventTime",
];

impl<'a> RecordHead<'a> {
    /// The string field at `slot` of [`HEAD_FIELDS`].
    fn string_field(&mut self, slot: usize) -> Option<&mut Lenient<'a>> {
        Some(match slot {
            0 => &mut self.event_source,
            1 => &mut self.event_name,
            2 => &mut self.error_code,
            3 => &mut self.user_agent,
            4 => &mut self.event_time,
            _ => return None,
        })
    }
}

/// `quick`: the values of fields the head does not read are skipped
/// (checked as JSON only), not walked.
#[derive(Clone, Copy)]
struct HeadVisitor {
    quick: bool,
}

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
        if self.quick {
            // CloudTrail records have 15 to 25 top-level keys.
            head.fields.reserve(32);
        }
        let mut stack = KeyStack::new();
        let mut keys = ObjectKeys::new(&stack);
        while let Some(Key(key)) = map.next_key().map_err(clarify)? {
            let slot = HEAD_FIELDS.iter().position(|name| *name == key.as_ref());
            let identity = key == "userIdentity";
            if self.quick {
                // Every value is kept as text, checked as JSON by the skip;
                // the head's own fields are read from that text.
                let raw: &'de RawValue = map.next_value().map_err(clarify)?;
                let seed_keys = &mut stack;
                if identity {
                    let seed = Identity {
                        depth: 2,
                        keys: seed_keys,
                        quick: true,
                    };
                    (head.identity_type, head.identity_arn) = read_in(raw, seed)?;
                } else if let Some(field) = slot.and_then(|slot| head.string_field(slot)) {
                    *field = read_in(
                        raw,
                        Field {
                            depth: 2,
                            keys: seed_keys,
                        },
                    )?;
                }
                keys.insert(&mut stack, key.clone())?;
                head.fields.push((key, raw.get()));
                continue;
            }
            keys.insert(&mut stack, key)?;
            if identity {
                let seed = Identity {
                    depth: 2,
                    keys: &mut stack,
                    quick: false,
                };
                (head.identity_type, head.identity_arn) =
                    map.next_value_seed(seed).map_err(clarify)?;
                continue;
            }
            let Some(field) = slot.and_then(|slot| head.string_field(slot)) else {
                map.next_value_seed(Strict {
                    depth: 2,
                    keys: &mut stack,
                })
                .map_err(clarify)?;
                continue;
            };
            *field = map
                .next_value_seed(Field {
                    depth: 2,
                    keys: &mut stack,
                })
                .map_err(clarify)?;
        }
        Ok(head)
    }
}

/// Reads a value kept as text with `seed`. Its errors are raised again in
/// the record's deserializer, which places them in the record.
fn read_in<'de, S: DeserializeSeed<'de>, E: de::Error>(
    raw: &'de RawValue,
    seed: S,
) -> Result<S::Value, E> {
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    seed.deserialize(&mut deserializer)
        .map_err(|err| E::custom(without_position(&err)))
}

/// A serde_json error's message without its " at line L column C", which
/// would count from the start of a value, not of the record.
pub fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) if err.line() > 0 => text[..at].to_string(),
        _ => text,
    }
}

/// serde_json calls a string that is not UTF-8 an "invalid unicode code
/// point"; say what it is. (Unit-tested, so a change of wording shows.)
fn clarify<E: de::Error>(err: E) -> E {
    if err.to_string().starts_with("invalid unicode code point") {
        E::custom("a string is not valid UTF-8")
    } else {
        err
    }
}

/// An object key, borrowed when it has no escapes.
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The keys of the objects being walked, innermost last: one buffer for
/// the whole record rather than one per object.
type KeyStack<'a> = Vec<Cow<'a, str>>;

/// Finds a duplicate key in one object. Its keys go on the shared stack from
/// `base`; a 64-bit mask of key hashes spares the search for almost every
/// new key; an object with many keys moves to a hash set, so that checking
/// never takes quadratic time.
struct ObjectKeys<'a> {
    base: usize,
    mask: u64,
    set: Option<HashSet<Cow<'a, str>>>,
}

/// Keys an object may have before they move to a hash set.
const KEYS_IN_LIST: usize = 32;

impl<'a> ObjectKeys<'a> {
    fn new(stack: &KeyStack<'a>) -> Self {
        ObjectKeys {
            base: stack.len(),
            mask: 0,
            set: None,
        }
    }

    fn insert<E: de::Error>(
        &mut self,
        stack: &mut KeyStack<'a>,
        key: Cow<'a, str>,
    ) -> Result<(), E> {
        if let Some(set) = self.set.as_mut() {
            if set.contains(&key) {
                return Err(duplicate(&key));
            }
            set.insert(key);
            return Ok(());
        }
        // FNV-1a, folded to 6 bits.
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let bit = 1u64 << ((hash ^ (hash >> 32)) & 63);
        if self.mask & bit != 0
            && stack
                .get(self.base..)
                .is_some_and(|keys| keys.contains(&key))
        {
            return Err(duplicate(&key));
        }
        self.mask |= bit;
        stack.push(key);
        if stack.len() - self.base > KEYS_IN_LIST {
            self.set = Some(stack.drain(self.base..).collect());
        }
        Ok(())
    }

    /// Takes this object's keys off the stack.
    fn finish(self, stack: &mut KeyStack<'a>) {
        stack.truncate(self.base);
    }
}

pub(crate) fn duplicate<E: de::Error>(key: &str) -> E {
    let shown: String = key.chars().take(64).collect();
    E::custom(format_args!("duplicate key {shown:?}"))
}

/// Walks a value inside a record, checking it as [`RecordHead`] says;
/// keeps nothing. `depth` is the value's nesting level (the record is 1).
struct Strict<'s, 'a> {
    depth: usize,
    keys: &'s mut KeyStack<'a>,
}

/// The nesting level of the values inside a container at `depth`.
pub(crate) fn enter<E: de::Error>(depth: usize) -> Result<usize, E> {
    if depth > MAX_DEPTH {
        return Err(E::custom(format_args!(
            "the record is nested deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(depth + 1)
}

impl<'de> DeserializeSeed<'de> for Strict<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let depth = enter(self.depth)?;
        let stack = self.keys;
        while seq
            .next_element_seed(Strict {
                depth,
                keys: &mut *stack,
            })
            .map_err(clarify)?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let depth = enter(self.depth)?;
        let stack = self.keys;
        let mut keys = ObjectKeys::new(stack);
        while let Some(Key(key)) = map.next_key().map_err(clarify)? {
            keys.insert(stack, key)?;
            map.next_value_seed(Strict {
                depth,
                keys: &mut *stack,
            })
            .map_err(clarify)?;
        }
        keys.finish(stack);
        Ok(())
    }
}

/// A string field that tolerates other JSON types (real logs hold
/// surprises): a string is kept, `null` reads as absent, and any other
/// value is [`Lenient::Other`]: no text to look up, but something a rule
/// may still match (rsigma compares numbers and booleans as their text,
/// arrays by their elements), so the rule index must not take it for
/// absent. An object or array in its place is still checked as
/// [`RecordHead`] says (it is a field of the record, so at level 2).
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

/// Reads the value of one field of the record at `depth`, checking it as
/// [`RecordHead`] says: a string is kept, anything else reads as absent.
struct Field<'s, 'a> {
    depth: usize,
    keys: &'s mut KeyStack<'a>,
}

impl<'s, 'a> Field<'s, 'a> {
    fn strict(self) -> Strict<'s, 'a> {
        Strict {
            depth: self.depth,
            keys: self.keys,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Field<'_, 'de> {
    type Value = Lenient<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Field<'_, 'de> {
    type Value = Lenient<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Lenient::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Lenient::Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Lenient::Text(Cow::Owned(v)))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Lenient::Other)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Lenient::Other)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Lenient::Other)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Lenient::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Lenient::Absent)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.strict().visit_seq(seq)?;
        Ok(Lenient::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.strict().visit_map(map)?;
        Ok(Lenient::Other)
    }
}

/// Reads `userIdentity` at `depth`: its `type` and `arn` when it is an
/// object (an array makes both [`Lenient::Other`], anything else absent), its keys checked for
/// duplicates; with `quick`, its other values are skipped, not walked.
struct Identity<'s, 'a> {
    depth: usize,
    keys: &'s mut KeyStack<'a>,
    quick: bool,
}

impl<'de> DeserializeSeed<'de> for Identity<'_, 'de> {
    type Value = (Lenient<'de>, Lenient<'de>);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let Identity { depth, keys, quick } = self;
        deserializer.deserialize_any(IdentityVisitor(Field { depth, keys }, quick))
    }
}

struct IdentityVisitor<'s, 'a>(Field<'s, 'a>, bool);

impl<'de> Visitor<'de> for IdentityVisitor<'_, 'de> {
    type Value = (Lenient<'de>, Lenient<'de>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Default::default())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Default::default())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Default::default())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Default::default())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Default::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Default::default())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.strict().visit_seq(seq)?;
        // A dotted path crosses an array to its elements: `userIdentity.type`
        // may still be read from an object in it.
        Ok((Lenient::Other, Lenient::Other))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let IdentityVisitor(Field { depth, keys: stack }, quick) = self;
        let depth = enter(depth)?;
        let mut keys = ObjectKeys::new(stack);
        let (mut kind, mut arn) = (Lenient::Absent, Lenient::Absent);
        while let Some(Key(key)) = map.next_key().map_err(clarify)? {
            let wanted = match key.as_ref() {
                "type" => Some(false),
                "arn" => Some(true),
                _ => None,
            };
            keys.insert(stack, key)?;
            let field = Field {
                depth,
                keys: &mut *stack,
            };
            match wanted {
                Some(is_arn) => {
                    let value = map.next_value_seed(field).map_err(clarify)?;
                    *(if is_arn { &mut arn } else { &mut kind }) = value;
                }
                None if quick => {
                    map.next_value::<de::IgnoredAny>().map_err(clarify)?;
                }
                None => {
                    map.next_value_seed(field.strict()).map_err(clarify)?;
                }
            }
        }
        keys.finish(stack);
        Ok((kind, arn))
    }
}

/// Strips the API-version suffix CloudTrail appends to some event names, so
/// `GetFunction20150331`, `UpdateFunctionCode20150331v2` and `GetFunction`
/// are one API for the rules: a trailing `20YYMMDD`, optionally followed by
/// `v` and digits.
pub fn normalize_event_name(name: &str) -> &str {
    let bytes = name.as_bytes();
    let mut end = bytes.len();
    // Optional `v<digits>` after the date.
    let digits = bytes
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits > 0 && digits < end && bytes[end - digits - 1] == b'v' {
        end -= digits + 1;
    }
    let date_digits = bytes[..end]
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if date_digits != 8 || end == 8 {
        return name;
    }
    let date = &name[end - 8..end];
    if !date.starts_with("20") {
        return name;
    }
    &name[..end - 8]
}

/// Rewrites `eventName` in a parsed record to its normalised form, so every
/// rule sees one spelling. Returns whether the name changed.
pub fn normalize_event_name_in(event: &mut Value) -> bool {
    let Some(Value::String(name)) = event.get_mut("eventName") else {
        return false;
    };
    let normalized = normalize_event_name(name);
    if normalized.len() == name.len() {
        return false;
    }
    let normalized = normalized.to_string();
    *name = normalized;
    true
}

/// Reads a string at a JSON pointer path, tolerating the shapes real logs
/// use (arrays of strings, numbers).
pub fn text_at<'v>(event: &'v Value, pointer: &str) -> Option<Cow<'v, str>> {
    match value_at(event, pointer)? {
        Value::String(s) if !s.is_empty() => Some(Cow::Borrowed(s)),
        Value::Array(items) => {
            let parts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            (!parts.is_empty()).then(|| Cow::Owned(parts.join(", ")))
        }
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    }
}

/// `Value::pointer` without its two `String`s per step (alerts read a
/// few pointers of every finding).
fn value_at<'v>(event: &'v Value, pointer: &str) -> Option<&'v Value> {
    if pointer.is_empty() {
        return Some(event);
    }
    let steps = pointer.strip_prefix('/')?;
    steps.split('/').try_fold(event, |value, step| {
        let step = if step.contains('~') {
            Cow::Owned(step.replace("~1", "/").replace("~0", "~"))
        } else {
            Cow::Borrowed(step)
        };
        match value {
            Value::Object(map) => map.get(step.as_ref()),
            Value::Array(items) => {
                if step.starts_with('+') || (step.starts_with('0') && step.len() != 1) {
                    return None;
                }
                items.get(step.parse::<usize>().ok()?)
            }
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_name_versions_are_one_api() {
        let cases = [
            ("GetFunction20150331", "GetFunction"),
            ("UpdateFunctionCode20150331v2", "UpdateFunctionCode"),
            ("AddPermission20150331v2", "AddPermission"),
            ("PutFunctionConcurrency20171031", "PutFunctionConcurrency"),
            ("ListVersionsByFunction20150331", "ListVersionsByFunction"),
            ("GetFunction", "GetFunction"),
            ("Invoke", "Invoke"),
            // Not version suffixes: left alone.
            ("CreateBucketV2", "CreateBucketV2"),
            ("DescribeDBInstances", "DescribeDBInstances"),
            ("Put12345678", "Put12345678"),
            ("20150331", "20150331"),
            ("Foo19991231", "Foo19991231"),
            ("", ""),
            ("v2", "v2"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_event_name(raw), want, "{raw}");
        }
    }

    #[test]
    fn normalizes_in_place() {
        let mut event = serde_json::json!({"eventName": "DeleteFunction20150331"});
        assert!(normalize_event_name_in(&mut event));
        assert_eq!(event["eventName"], "DeleteFunction");
        assert!(!normalize_event_name_in(&mut event));
        let mut no_name = serde_json::json!({"eventName": 5});
        assert!(!normalize_event_name_in(&mut no_name));
    }

    #[test]
    fn head_borrows_strings_and_tolerates_other_types() {
        let bytes = br#"{"eventSource":"lambda.amazonaws.com","eventName":"Invoke","x":{"y":[1]}}"#;
        let head: RecordHead = serde_json::from_slice(bytes).expect("valid");
        assert!(matches!(
            head.event_source,
            Lenient::Text(Cow::Borrowed("lambda.amazonaws.com"))
        ));
        assert_eq!(head.event_name.as_deref(), Some("Invoke"));
        let odd: RecordHead =
            serde_json::from_slice(br#"{"eventSource":{"a":[1]},"eventName":7}"#).expect("valid");
        assert_eq!(
            (odd.event_source.as_deref(), odd.event_name.as_deref()),
            (None, None)
        );
        let insight: RecordHead =
            serde_json::from_slice(br#"{"eventType":"AwsCloudTrailInsight"}"#).expect("valid");
        assert!(insight.event_source.as_deref().is_none());
        assert!(serde_json::from_slice::<RecordHead>(br#"{"eventName":"A","x":tru}"#).is_err());
    }

    #[test]
    fn head_reads_the_index_fields_identity_type_nested() {
        let head: RecordHead = serde_json::from_slice(
            br#"{"userAgent":"TruffleHog","errorCode":"AccessDenied","userIdentity":{"arn":"a","type":"Root","x":{"type":"no"}}}"#,
        )
        .expect("valid");
        assert_eq!(
            (
                head.user_agent.as_deref(),
                head.error_code.as_deref(),
                head.identity_type.as_deref()
            ),
            (Some("TruffleHog"), Some("AccessDenied"), Some("Root"))
        );
        for odd in [
            &br#"{"userIdentity":"Root"}"#[..],
            br#"{"userIdentity":["Root"]}"#,
            br#"{"userIdentity":{"type":{"type":"Root"}}}"#,
            br#"{"type":"Root"}"#,
        ] {
            let head: RecordHead = serde_json::from_slice(odd).expect("valid");
            assert_eq!(head.identity_type.as_deref(), None, "{odd:?}");
        }
        // The identity object is checked like the rest of the record.
        assert!(
            head_error(br#"{"userIdentity":{"type":"Root","type":"IAMUser"}}"#)
                .starts_with("duplicate key \"type\"")
        );
    }

    /// The fast read agrees with the strict parse on every field and on what
    /// decides which rules run; only deeper problems are left to
    /// `check_record`, which runs before any rule sees the record.
    #[test]
    fn the_quick_read_checks_what_decides_which_rules_run() {
        let fields = |head: &RecordHead| {
            [
                head.event_source.as_deref().map(str::to_string),
                head.event_name.as_deref().map(str::to_string),
                head.error_code.as_deref().map(str::to_string),
                head.user_agent.as_deref().map(str::to_string),
                head.identity_type.as_deref().map(str::to_string),
                head.identity_arn.as_deref().map(str::to_string),
            ]
        };
        let record = br#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject","x":{"y":[1,2.5,null,true]},"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s","sessionContext":{"a":{"b":"c"}}},"errorCode":"NoSuchKey","userAgent":"caf\u00e9"}"#;
        let quick = RecordHead::read(record).expect("valid");
        let strict: RecordHead = serde_json::from_slice(record).expect("valid");
        assert_eq!(fields(&quick), fields(&strict));
        assert_eq!(
            quick.identity_arn.as_deref(),
            Some("arn:aws:sts::1:assumed-role/r/s")
        );
        // Both reject what is not JSON, not UTF-8, or not an object.
        for bad in [
            &b"{\"a\":tru}"[..],
            b"{\"a\":\"x\xff\"}",
            b"{\"a\":{\"b\":[\"\xc3\"]}}",
            b"{\"a\":\"\x00\"}",
            b"{\"a\":1",
            b"{\"a\":1} x",
            b"[{}]",
        ] {
            let err = RecordHead::read(bad).expect_err("invalid").to_string();
            let strict = head_error(bad);
            let what = |e: &str| e.split(" at line").next().unwrap_or_default().to_string();
            assert_eq!(
                what(&err),
                what(&strict),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // Duplicate keys where they decide the rules: rejected at once.
        for bad in [
            &br#"{"eventName":"A","x":1,"eventName":"B"}"#[..],
            br#"{"userIdentity":{"type":"Root","type":"IAMUser"}}"#,
            br#"{"a":1,"a":2}"#,
        ] {
            let err = RecordHead::read(bad).expect_err("duplicate").to_string();
            assert!(err.starts_with("duplicate key"), "{err}");
        }
        // Deeper down, left to the whole-record check.
        let nested = br#"{"eventName":"A","requestParameters":{"k":1,"k":2}}"#;
        RecordHead::read(nested).expect("read");
        let err = check_record(nested).expect_err("checked whole").to_string();
        assert!(err.starts_with("duplicate key \"k\""), "{err}");
    }

    fn head_error(bytes: &[u8]) -> String {
        match serde_json::from_slice::<RecordHead>(bytes) {
            Ok(head) => panic!("accepted {:?}: {head:?}", String::from_utf8_lossy(bytes)),
            Err(err) => err.to_string(),
        }
    }

    /// What the head rejects, and that the full parse agrees on everything
    /// but duplicate keys and depth (which only the head checks).
    #[test]
    fn head_checks_the_whole_record() {
        let cases: &[(&[u8], &str, bool)] = &[
            (
                b"{\"a\":\"x\xff\"}",
                "a string is not valid UTF-8 at line 1 column",
                true,
            ),
            (
                b"{\"a\":{\"b\":[\"\xc3\"]}}",
                "a string is not valid UTF-8",
                true,
            ),
            (b"{\"k\xfe\":1}", "a string is not valid UTF-8", true),
            (
                b"{\"eventName\":\"\xe9\"}",
                "a string is not valid UTF-8",
                true,
            ),
            (
                b"{\"eventName\":[\"\xe9\"]}",
                "a string is not valid UTF-8",
                true,
            ),
            (b"{\"a\":\"\x00\"}", "control character", true),
            (br#"{"a":"\ud800"}"#, "hex escape", true),
            (br#"{"a":1e400}"#, "number out of range", true),
            (b"{\"a\":tru}", "expected ident", true),
            (b"{\"a\":1", "EOF while parsing", true),
            (b"{\"a\":1} x", "trailing characters", true),
            (
                b"1",
                "invalid type: integer `1`, expected a CloudTrail record (a JSON object)",
                true,
            ),
            (b"\"s\"", "expected a CloudTrail record", true),
            (b"null", "expected a CloudTrail record", true),
            (b"[{}]", "expected a CloudTrail record", true),
            (
                br#"{"eventName":"A","eventName":"B"}"#,
                "duplicate key \"eventName\" at line 1 column",
                false,
            ),
            (
                br#"{"eventName":"A","x":1,"eventName":7}"#,
                "duplicate key \"eventName\"",
                false,
            ),
            (br#"{"a":1,"a":1}"#, "duplicate key \"a\"", false),
            (
                br#"{"u":{"arn":"x","arn":"y"}}"#,
                "duplicate key \"arn\"",
                false,
            ),
            (
                br#"{"u":[{"k":1},{"k":1,"k":2}]}"#,
                "duplicate key \"k\"",
                false,
            ),
            (
                br#"{"eventSource":{"k":1,"k":2}}"#,
                "duplicate key \"k\"",
                false,
            ),
            // Escapes do not hide a duplicate.
            (
                br#"{"eventName":"A","event\u004eame":"B"}"#,
                "duplicate key \"eventName\"",
                false,
            ),
        ];
        for (bytes, want, value_rejects) in cases {
            let err = head_error(bytes);
            assert!(
                err.contains(want),
                "{:?}: got {err}, want {want}",
                String::from_utf8_lossy(bytes)
            );
            let value = serde_json::from_slice::<Value>(bytes);
            // A record that is not an object parses as a Value, but the head
            // rejects it first.
            if *value_rejects && bytes.starts_with(b"{") {
                assert!(
                    value.is_err(),
                    "Value accepts {:?}",
                    String::from_utf8_lossy(bytes)
                );
            }
        }
    }

    #[test]
    fn nesting_is_limited_without_deep_recursion() {
        let nest = |levels: usize| {
            format!(
                "{{\"a\":{}{}}}",
                "[".repeat(levels - 1),
                "]".repeat(levels - 1)
            )
        };
        serde_json::from_slice::<RecordHead>(nest(MAX_DEPTH).as_bytes()).expect("at the limit");
        let err = head_error(nest(MAX_DEPTH + 1).as_bytes());
        assert!(err.contains("nested deeper than 100 levels"), "{err}");
        let err = head_error(nest(10_000).as_bytes());
        assert!(err.contains("nested deeper than 100 levels"), "{err}");
        let in_name = format!(
            "{{\"eventName\":{}{}}}",
            "{\"a\":".repeat(200),
            "}".repeat(200)
        );
        assert!(head_error(in_name.as_bytes()).contains("nested deeper"));
        // What the head accepts, the full parse accepts too.
        serde_json::from_slice::<Value>(nest(MAX_DEPTH).as_bytes()).expect("Value at the limit");
    }

    #[test]
    fn many_keys_are_checked_in_linear_time() {
        let keys: Vec<String> = (0..50_000).map(|i| format!("\"k{i}\":{i}")).collect();
        let record = format!("{{\"o\":{{{}}}}}", keys.join(","));
        serde_json::from_slice::<RecordHead>(record.as_bytes()).expect("distinct keys");
        let record = format!("{{\"o\":{{{},\"k49999\":0}}}}", keys.join(","));
        assert!(head_error(record.as_bytes()).contains("duplicate key \"k49999\""));
        let record = format!("{{\"o\":{{{},\"k3\":0}}}}", keys.join(","));
        assert!(head_error(record.as_bytes()).contains("duplicate key \"k3\""));
    }

    #[test]
    fn text_at_reads_odd_shapes() {
        let event = serde_json::json!({"userAgent": ["a", "b"], "n": 5, "s": "", "o": {}});
        assert_eq!(text_at(&event, "/userAgent").as_deref(), Some("a, b"));
        assert_eq!(text_at(&event, "/n").as_deref(), Some("5"));
        assert_eq!(text_at(&event, "/s"), None);
        assert_eq!(text_at(&event, "/o"), None);
        assert_eq!(text_at(&event, "/missing"), None);
    }

    #[test]
    fn pointers_read_as_serde_json_reads_them() {
        let event = serde_json::json!({"a": {"b/c": [1, {"d~e": "x"}], "": 2}, "0": 3});
        for pointer in [
            "",
            "/a",
            "/a/b~1c",
            "/a/b~1c/1/d~0e",
            "/a/b~1c/01",
            "/a/b~1c/+1",
            "/a/b~1c/9",
            "/a/",
            "/0",
            "a",
            "/a/b~1c/0/x",
            "/missing/x",
        ] {
            assert_eq!(
                value_at(&event, pointer),
                event.pointer(pointer),
                "{pointer}"
            );
        }
    }
}
