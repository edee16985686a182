//! The record as the rules see it: rsigma's JSON event, except that a field
//! holding a JSON object also reads as its JSON text and the strings inside
//! it.
//!
//! Sigma treats values as strings, and SigmaHQ's AWS rules rely on that:
//! `requestParameters|contains: 'Suspended'` expects to find `Suspended`
//! somewhere in an object. rsigma 0.23 never matches a string modifier
//! against an object, so those rules would silently never fire (or, in a
//! filter, never filter).

use std::borrow::Cow;
use std::cell::OnceCell;

use rsigma_eval::event::{Event, EventValue, JsonEvent};
use serde_json::Value;

use super::derived::{self, Derived};
use crate::json::BorrowedValue;
use crate::record::{Fields, LazyRecord};

pub struct RecordEvent<'a> {
    source: Source<'a>,
    /// The `trailwatch.` fields, computed when a rule first asks for one.
    derived: OnceCell<Derived>,
}

enum Source<'a> {
    Whole {
        record: &'a Value,
        event: JsonEvent<'a>,
    },
    /// Fields parsed as the rules ask for them; the whole record only for
    /// what needs every value.
    Fields {
        record: &'a (dyn Fields + 'a),
        whole: OnceCell<JsonEvent<'a>>,
    },
}

impl<'a> RecordEvent<'a> {
    pub fn new(record: &'a Value) -> Self {
        RecordEvent {
            source: Source::Whole {
                record,
                event: JsonEvent::borrow(record),
            },
            derived: OnceCell::new(),
        }
    }

    pub fn lazy<'t: 'a>(record: &'a LazyRecord<'t>) -> Self {
        RecordEvent {
            source: Source::Fields {
                record,
                whole: OnceCell::new(),
            },
            derived: OnceCell::new(),
        }
    }

    fn whole(&self) -> &JsonEvent<'a> {
        match &self.source {
            Source::Whole { event, .. } => event,
            Source::Fields { record, whole } => {
                whole.get_or_init(|| JsonEvent::borrow(record.whole()))
            }
        }
    }

    /// The record's derived facts ([`derived`]), from the fields they need.
    fn derived(&self) -> &Derived {
        self.derived.get_or_init(|| match &self.source {
            Source::Whole { record, .. } => Derived::of(&|key| record.get(key).map(Cow::Borrowed)),
            Source::Fields { record, .. } => {
                Derived::of(&|key| record.field(key).map(|value| Cow::Owned(value.to_value())))
            }
        })
    }
}

impl Event for RecordEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        // The namespace is trailwatch's: a record's own `trailwatch` field
        // is not read.
        if let Some(name) = path.strip_prefix(derived::PREFIX) {
            return self.derived().get(name);
        }
        // Most rules that read the identity read a member the head read
        // found (no top-level key then names the same path).
        if let Source::Fields { record, .. } = &self.source {
            if let Some(known) = record.identity_member(path) {
                return known.map(scalar_event_value);
            }
        }
        let value = match &self.source {
            Source::Fields { record, .. } if is_plain_path(path) => field_of(*record, path),
            _ => self.whole().get_field(path),
        };
        value.map(objects_as_text)
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.whole().any_string_value(pred)
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        self.whole().all_string_values()
    }

    fn to_json(&self) -> Value {
        self.whole().to_json()
    }
}

/// `JsonEvent::get_field` for a plain dotted path, reading only the
/// top-level field it starts with: the flat key first, then the path,
/// every member of an array crossed.
fn field_of<'r>(record: &'r (dyn Fields + '_), path: &str) -> Option<EventValue<'r>> {
    if let Some(value) = record.field(path) {
        return Some(event_value(value));
    }
    // Split by bytes: `str::split` with a `char` set up a searcher per
    // call, a third of the cost of a lookup (rules look up a few paths in
    // every candidate record).
    let dot = memchr::memchr(b'.', path.as_bytes())?;
    let (root, rest) = (path.get(..dot)?, path.get(dot + 1..)?);
    if root.is_empty() {
        return None;
    }
    // Rules read a few fields of every candidate record: no allocation for
    // a path of up to eight keys and a single value found.
    let mut few = [""; 8];
    let mut count = 0;
    let mut many = Vec::new();
    for key in split_dots(rest) {
        match few.get_mut(count) {
            Some(slot) => *slot = key,
            None => {
                if many.is_empty() {
                    many.extend_from_slice(&few);
                }
                many.push(key);
            }
        }
        count += 1;
    }
    let keys = if many.is_empty() {
        few.get(..count).unwrap_or_default()
    } else {
        &many
    };
    let mut found = Found::Nothing;
    collect(record.field(root)?, keys, &mut found);
    match found {
        Found::Nothing => None,
        Found::One(value) => Some(value),
        Found::Many(values) => Some(EventValue::Array(values)),
    }
}

/// A path [`field_of`] reads: no bracket (an index) and no backslash (an
/// escaped dot), which only rsigma's own reader of the whole record reads.
fn is_plain_path(path: &str) -> bool {
    !path.bytes().any(|b| b == b'[' || b == b'\\')
}

/// The keys of a dotted path, as `path.split('.')` gives them.
fn split_dots(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(path);
    std::iter::from_fn(move || {
        let now = rest?;
        match memchr::memchr(b'.', now.as_bytes()) {
            Some(dot) => {
                rest = now.get(dot + 1..);
                now.get(..dot)
            }
            None => {
                rest = None;
                Some(now)
            }
        }
    })
}

/// The values a path found: most paths find one.
enum Found<'v> {
    Nothing,
    One(EventValue<'v>),
    Many(Vec<EventValue<'v>>),
}

impl<'v> Found<'v> {
    fn push(&mut self, value: EventValue<'v>) {
        *self = match std::mem::replace(self, Found::Nothing) {
            Found::Nothing => Found::One(value),
            Found::One(first) => Found::Many(vec![first, value]),
            Found::Many(mut values) => {
                values.push(value);
                Found::Many(values)
            }
        };
    }
}

fn collect<'v>(value: &'v BorrowedValue<'_>, keys: &[&str], out: &mut Found<'v>) {
    let Some((key, rest)) = keys.split_first() else {
        out.push(event_value(value));
        return;
    };
    match value {
        BorrowedValue::Object(_) => {
            if let Some(next) = value.get(key) {
                collect(next, rest, out);
            }
        }
        BorrowedValue::Array(items) => items.iter().for_each(|item| collect(item, keys, out)),
        _ => {}
    }
}

/// `value` as rsigma reads the same value from a `serde_json::Value`.
fn event_value<'v>(value: &'v BorrowedValue<'_>) -> EventValue<'v> {
    match value {
        BorrowedValue::Null => EventValue::Null,
        BorrowedValue::Bool(b) => EventValue::Bool(*b),
        BorrowedValue::Int(i) => EventValue::Int(*i),
        BorrowedValue::UInt(u) => EventValue::Float(*u as f64),
        BorrowedValue::Float(f) => EventValue::Float(*f),
        BorrowedValue::Str(s) => EventValue::Str(Cow::Borrowed(s)),
        BorrowedValue::Array(items) => EventValue::Array(items.iter().map(event_value).collect()),
        BorrowedValue::Object(members) => EventValue::Map(
            members
                .iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_ref()), event_value(v)))
                .collect(),
        ),
    }
}

/// [`event_value`] of a string, a number, `true`, `false` or `null` (what
/// [`LazyRecord::identity_member`] gives), its text kept.
fn scalar_event_value(value: BorrowedValue<'_>) -> EventValue<'_> {
    match value {
        BorrowedValue::Str(s) => EventValue::Str(s),
        BorrowedValue::Null => EventValue::Null,
        BorrowedValue::Bool(b) => EventValue::Bool(b),
        BorrowedValue::Int(i) => EventValue::Int(i),
        BorrowedValue::UInt(u) => EventValue::Float(u as f64),
        BorrowedValue::Float(f) => EventValue::Float(f),
        // Never given: a member found is a scalar ([`crate::json::find::Found::value`]).
        BorrowedValue::Array(_) | BorrowedValue::Object(_) => EventValue::Null,
    }
}

/// A map becomes the list of its JSON text and its nested strings (rsigma
/// matches a list when any element matches); other values are unchanged.
/// Arrays are left alone: `field[any]:` blocks need their members whole.
fn objects_as_text(value: EventValue<'_>) -> EventValue<'_> {
    match value {
        EventValue::Map(_) => EventValue::Array(text_of(value)),
        other => other,
    }
}

fn text_of(map: EventValue<'_>) -> Vec<EventValue<'_>> {
    let json = to_json(&map).to_string();
    let mut out = vec![EventValue::Str(Cow::Owned(json))];
    collect_strings(map, &mut out);
    out
}

fn collect_strings<'a>(value: EventValue<'a>, out: &mut Vec<EventValue<'a>>) {
    match value {
        EventValue::Str(s) => out.push(EventValue::Str(s)),
        EventValue::Array(items) => items.into_iter().for_each(|i| collect_strings(i, out)),
        EventValue::Map(entries) => entries
            .into_iter()
            .for_each(|(_, v)| collect_strings(v, out)),
        _ => {}
    }
}

fn to_json(value: &EventValue<'_>) -> Value {
    match value {
        EventValue::Str(s) => Value::String(s.to_string()),
        EventValue::Int(i) => Value::from(*i),
        EventValue::Float(f) => Value::from(*f),
        EventValue::Bool(b) => Value::Bool(*b),
        EventValue::Null => Value::Null,
        EventValue::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        EventValue::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(value: Option<EventValue<'_>>) -> Vec<String> {
        match value {
            Some(EventValue::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_str().map(|s| s.into_owned()))
                .collect(),
            Some(other) => other
                .as_str()
                .map(|s| vec![s.into_owned()])
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }

    #[test]
    fn paths_split_as_str_split_splits_them() {
        for path in ["a", "a.b", "a.b.c", ".a", "a.", "a..b", "", ".", "é.ü"] {
            let ours: Vec<&str> = split_dots(path).collect();
            let std: Vec<&str> = path.split('.').collect();
            assert_eq!(ours, std, "{path:?}");
        }
        assert!(is_plain_path(
            "userIdentity.sessionContext.sessionIssuer.type"
        ));
        assert!(!is_plain_path("resources[0].ARN"));
        assert!(!is_plain_path("a\\.b"));
    }

    /// Every shape reads as rsigma reads the same `Value`.
    #[test]
    fn borrowed_values_read_as_rsigma_reads_values() {
        let text = r#"{"s":"plain","e":"tab\tq\"","i":-7,"u":18446744073709551615,"f":1.5,"x":1e3,"b":true,"n":null,"a":[1,"two",{"k":[]}],"o":{"in":{"deep":"yes"}}}"#;
        let borrowed = BorrowedValue::parse(text).expect("valid");
        let value: Value = serde_json::from_str(text).expect("valid");
        assert_eq!(event_value(&borrowed), EventValue::from(&value));
    }

    #[test]
    fn objects_read_as_their_text_and_nested_strings() {
        let record = json!({
            "requestParameters": {"VersioningConfiguration": {"Status": "Suspended"}, "n": 1},
            "eventName": "PutBucketVersioning",
            "items": [{"a": "x"}, "y"]
        });
        let event = RecordEvent::new(&record);
        assert_eq!(
            strings(event.get_field("requestParameters")),
            [
                r#"{"VersioningConfiguration":{"Status":"Suspended"},"n":1}"#,
                "Suspended"
            ]
        );
        // Array members stay whole (a map member has no string form).
        assert_eq!(strings(event.get_field("items")), ["y"]);
        assert_eq!(
            strings(event.get_field("eventName")),
            ["PutBucketVersioning"]
        );
        assert!(event.get_field("missing").is_none());
    }

    /// The lazy record answers every path as the whole record does.
    #[test]
    fn fields_read_alone_answer_as_the_whole_record() {
        let text = r#"{"eventName":"GetFunction20150331","userIdentity":{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"type":"Role"}}},"a.b":"flat","a":{"b":"nested"},"resources":[{"ARN":"x"},{"ARN":"y"},{"type":"t"}],"list":[[{"k":1}],{"k":2}],"requestParameters":{"VersioningConfiguration":{"Status":"Suspended"}},"n":null,"deep":{"l1":{"l2":{"l3":{"l4":{"l5":{"l6":{"l7":{"l8":{"l9":"bottom"}}}}}}}}}}"#;
        let head = crate::record::RecordHead::read(text.as_bytes()).expect("quick read");
        let lazy = LazyRecord::new(head.text, head.fields);
        let lazy = RecordEvent::lazy(&lazy);
        let mut whole: Value = serde_json::from_str(text).expect("valid");
        crate::record::normalize_event_name_in(&mut whole);
        let whole = RecordEvent::new(&whole);
        for path in [
            "eventName",
            "userIdentity.type",
            "userIdentity.sessionContext.sessionIssuer.type",
            "userIdentity.missing",
            "a.b",
            "a",
            "resources.ARN",
            "resources.type",
            "resources[1].ARN",
            "list.k",
            "requestParameters",
            "requestParameters.VersioningConfiguration.Status",
            "a.b.c.d.e.f.g.h.i.j",
            "deep.l1.l2.l3.l4.l5.l6.l7.l8.l9",
            "n",
            "missing",
            "missing.deeper",
            ".a",
            "a.",
        ] {
            assert_eq!(lazy.get_field(path), whole.get_field(path), "{path}");
        }
        // A path longer than the keys kept on the stack finds its value.
        assert_eq!(
            lazy.get_field("deep.l1.l2.l3.l4.l5.l6.l7.l8.l9")
                .and_then(|v| v.as_str().map(|s| s.into_owned())),
            Some("bottom".to_string())
        );
        assert_eq!(
            lazy.any_string_value(&|s| s == "Suspended"),
            whole.any_string_value(&|s| s == "Suspended")
        );
        assert_eq!(lazy.to_json(), whole.to_json());
    }

    /// The members of `userIdentity` the head read found answer the rules
    /// as the whole record does, and so does what alerts name the
    /// principal by: on every record of the corpus and on edge cases.
    #[test]
    fn identity_members_found_answer_as_the_whole_record() {
        use crate::json::classify::{object_tokens, BLOCK};
        use crate::json::Tokens;
        use crate::record::{HeadReader, IdentityPaths, IdentityRead};
        let fields = [
            "userIdentity.type",
            "userIdentity.arn",
            "userIdentity.invokedBy",
            "userIdentity.accountId",
            "userIdentity.sessionContext.sessionIssuer.type",
            "userIdentity.sessionContext.sessionIssuer",
            "userIdentity.sessionContext.attributes.mfaAuthenticated",
            "userIdentity.sessionContext.webIdFederationData",
            "userIdentity.n",
            "userIdentity.missing.deeper",
            "userIdentity.",
        ];
        let paths = IdentityPaths::new(fields);
        let corpus = include_str!("../../tests/data/corpus-records.jsonl");
        let edge_cases = [
            r#"{"userIdentity":{"type":"AssumedRole","sessionContext":[{"sessionIssuer":{"type":"Role"}}]}}"#,
            r#"{"userIdentity.type":"flat","userIdentity":{"type":"Root"}}"#,
            r#"{"userIdentity":{"type":"Root"},"userIdentity.sessionContext.sessionIssuer.type":"flat"}"#,
            r#"{"userIdentity":{"type":"Root","arn":{"a":"b"},"accountId":18446744073709551615,"n":-3}}"#,
            r#"{"userIdentity":{"type":null,"arn":true,"invokedBy":false,"":"empty key"}}"#,
            r#"{"userIdentity":{"type":"IAMUser","userName":"caf\u00e9"}}"#,
            r#"{"userIdentity":{"sessionContext":{"sessionIssuer":"text"},"missing":{"deeper":[1]}}}"#,
            r#"{"userIdentity":[{"type":"Root"}]}"#,
            r#"{"userIdentity":"text"}"#,
            r#"{"eventName":"X"}"#,
        ];
        let mut heads = HeadReader::default();
        let (mut found, mut records) = (0, 0);
        for text in corpus
            .lines()
            .filter(|l| !l.trim().is_empty())
            .chain(edge_cases)
        {
            let mut buf = text.as_bytes().to_vec();
            buf.extend([b' '; BLOCK]);
            let mut masks = Vec::new();
            let (len, escapes) = object_tokens(&buf, &mut masks).expect("one record");
            let tokens = Tokens {
                masks: &masks,
                escapes,
            };
            let Ok(head) = heads.read(
                &text.as_bytes()[..len],
                Some(tokens),
                IdentityRead::Find(&paths),
            ) else {
                continue;
            };
            records += 1;
            found += usize::from(heads.found().is_some());
            let mut lazy = LazyRecord::new(head.text, head.fields);
            lazy.set_identity(&paths, heads.found().copied());
            let plain = crate::record::RecordHead::read(text.as_bytes()).expect("read");
            let plain = LazyRecord::new(plain.text, plain.fields);
            let event = RecordEvent::lazy(&lazy);
            let mut whole: Value = serde_json::from_str(text).expect("valid");
            crate::record::normalize_event_name_in(&mut whole);
            let whole = RecordEvent::new(&whole);
            for field in fields {
                assert_eq!(
                    event.get_field(field),
                    whole.get_field(field),
                    "{field} of {text}"
                );
            }
            assert_eq!(lazy.brief(), plain.brief(), "{text}");
            assert_eq!(lazy.problem(), None, "{text}");
        }
        assert!(found * 10 > records * 9, "found in {found} of {records}");
    }

    /// Derived fields read the same from a record read field by field and
    /// from the whole record, and read requestParameters only for the
    /// calls they know that succeeded.
    #[test]
    fn derived_fields_answer_alike_and_read_only_what_they_need() {
        let public = r#"{"eventSource":"sqs.amazonaws.com","eventName":"SetQueueAttributes","requestParameters":{"attributes":{"Policy":"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"SQS:SendMessage\"}]}"}},"trailwatch":{"public_grant":false}}"#;
        let shared = r#"{"eventSource":"rds.amazonaws.com","eventName":"ModifyDBSnapshotAttribute","requestParameters":{"attributeName":"restore","valuesToAdd":["503161813013"]}}"#;
        let failed = r#"{"eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","errorCode":"AccessDenied","requestParameters":{"bucketPolicy":{"Statement":{"Effect":"Allow","Principal":"*"}}}}"#;
        let other = r#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject","requestParameters":{"bucketName":"public-read"}}"#;
        let paths = [
            "trailwatch.public_grant",
            "trailwatch.public_via",
            "trailwatch.grant_resource",
            "trailwatch.shared_with_accounts",
            "trailwatch.unknown",
        ];
        let mut answers = Vec::new();
        for text in [public, shared, failed, other] {
            let head = crate::record::RecordHead::read(text.as_bytes()).expect("quick read");
            let lazy = LazyRecord::new(head.text, head.fields);
            let event = RecordEvent::lazy(&lazy);
            let whole: Value = serde_json::from_str(text).expect("valid");
            let whole = RecordEvent::new(&whole);
            let read: Vec<Option<Value>> = paths
                .iter()
                .map(|path| event.get_field(path).map(|v| v.to_json()))
                .collect();
            for (path, value) in paths.iter().zip(&read) {
                let of_whole = whole.get_field(path).map(|v| v.to_json());
                assert_eq!(value, &of_whole, "{path} of {text}");
            }
            assert_eq!(
                lazy.asked("requestParameters"),
                text == public || text == shared,
                "requestParameters read for {text}"
            );
            answers.push(read);
        }
        use serde_json::json;
        // The record's own "trailwatch" field does not answer.
        assert_eq!(answers[0][0], Some(json!(true)));
        assert_eq!(answers[0][1], Some(json!(["policy-principal"])));
        assert_eq!(answers[0][2], Some(json!("sqs-queue")));
        assert_eq!(answers[1][0], Some(json!(false)));
        assert_eq!(answers[1][3], Some(json!(["503161813013"])));
        assert_eq!(answers[2][0], Some(json!(false)));
        assert_eq!(answers[2][1], None);
        assert_eq!(answers[3][0], Some(json!(false)));
        assert_eq!(answers[3][2], None);
        assert!(answers.iter().all(|read| read[4].is_none()));
    }
}
