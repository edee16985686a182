//! The head read against serde_json: any text goes through
//! `HeadReader::read` (as it is, and as the splitter finds a record at the
//! start of its buffer, with its tokens, escapes allowed, `userIdentity`
//! built, its members found, or neither) and `BorrowedValue::parse`. Whatever they accept,
//! serde_json's `Value` reads alike (the head's fields, every top-level key
//! and value, every value built for the rules); whatever serde_json accepts
//! and `json::check` finds free of duplicate keys and too deep nesting,
//! they accept; and every way of reading a record gives the same head.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use trailwatch::json::classify::{object_tokens, BLOCK};
use trailwatch::json::{self, BorrowedValue, Tokens};
use trailwatch::record::{HeadReader, IdentityPaths, IdentityRead, LazyRecord, Lenient, RecordHead};

/// Paths in `userIdentity` to find: members, nested ones, an empty key.
const IDENTITY_FIELDS: [&str; 6] = [
    "userIdentity.type",
    "userIdentity.arn",
    "userIdentity.a",
    "userIdentity.a.b",
    "userIdentity.a.b.c",
    "userIdentity.",
];

/// What a dotted path reads in a parsed value: `Some(None)` for nothing,
/// `None` where it crosses an array or ends on an object or an array (the
/// parsed value's to answer).
fn member<'v>(value: &BorrowedValue<'v>, path: &str) -> Option<Option<BorrowedValue<'v>>> {
    let mut at = value;
    for key in path.split('.') {
        match at {
            BorrowedValue::Object(_) => match at.get(key) {
                Some(next) => at = next,
                None => return Some(None),
            },
            BorrowedValue::Array(_) => return None,
            _ => return Some(None),
        }
    }
    match at {
        BorrowedValue::Object(_) | BorrowedValue::Array(_) => None,
        scalar => Some(Some(scalar.clone())),
    }
}

/// The top-level fields the head reads (and `userIdentity`'s `type` and
/// `arn`).
const HEAD_FIELDS: [&str; 5] = ["eventSource", "eventName", "errorCode", "userAgent", "eventTime"];

/// The head's fields as text (or `Other`, or absent), to compare.
type Fields = [Option<Result<String, ()>>; 7];

fn fields_of(head: &RecordHead<'_>) -> Fields {
    let one = |field: &Lenient<'_>| match field {
        Lenient::Absent => None,
        Lenient::Text(text) => Some(Ok(text.to_string())),
        Lenient::Other => Some(Err(())),
    };
    [
        one(&head.event_source),
        one(&head.event_name),
        one(&head.error_code),
        one(&head.user_agent),
        one(&head.event_time),
        one(&head.identity_type),
        one(&head.identity_arn),
    ]
}

/// The same fields, read from serde_json's `Value` of the record.
fn fields_of_value(record: &serde_json::Map<String, Value>) -> Fields {
    let one = |value: Option<&Value>| match value {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(Ok(text.clone())),
        Some(_) => Some(Err(())),
    };
    let identity = record.get("userIdentity");
    let (kind, arn) = match identity {
        Some(Value::Object(identity)) => (one(identity.get("type")), one(identity.get("arn"))),
        // A dotted path crosses an array: something a rule may match.
        Some(Value::Array(_)) => (Some(Err(())), Some(Err(()))),
        _ => (None, None),
    };
    [
        one(record.get("eventSource")),
        one(record.get("eventName")),
        one(record.get("errorCode")),
        one(record.get("userAgent")),
        one(record.get("eventTime")),
        kind,
        arn,
    ]
}

/// Checks one read of `bytes` against serde_json; the head's fields.
fn check_read(bytes: &[u8], read: &Result<RecordHead<'_>, serde_json::Error>) -> Option<Fields> {
    let value = serde_json::from_slice::<Value>(bytes);
    let strict = json::check(bytes).is_ok() && matches!(value, Ok(Value::Object(_)));
    let head = match read {
        Ok(head) => head,
        Err(err) => {
            assert!(!strict, "rejected a record serde_json reads ({err}): {bytes:?}");
            return None;
        }
    };
    let record = match value {
        Ok(Value::Object(record)) => record,
        // What the head read skips and `Value` refuses: a number out of
        // range or nesting past serde_json's limit, in a value no head
        // field holds (the rules find it if they read that value). The
        // head's own fields must read.
        Err(err)
            if err.to_string().starts_with("recursion limit exceeded")
                || err.to_string().starts_with("number out of range") =>
        {
            for (key, raw) in &head.fields {
                if HEAD_FIELDS.contains(&key.as_ref()) {
                    let field = serde_json::from_str::<Value>(raw);
                    assert!(field.is_ok(), "accepted {key}: {field:?}: {bytes:?}");
                }
            }
            return None;
        }
        other => panic!("accepted what serde_json does not read as a record ({other:?}): {bytes:?}"),
    };
    assert_eq!(fields_of(head), fields_of_value(&record), "{bytes:?}");
    let keys: Vec<&str> = head.fields.iter().map(|(key, _)| key.as_ref()).collect();
    let want: Vec<&str> = record.keys().map(String::as_str).collect();
    assert_eq!(keys, want, "the top-level keys of {bytes:?}");
    for (key, raw) in &head.fields {
        if let Ok(value) = serde_json::from_str::<Value>(raw) {
            assert_eq!(Some(&value), record.get(key.as_ref()), "{key} of {bytes:?}");
        }
    }
    Some(fields_of(head))
}

fuzz_target!(|data: &[u8]| {
    let mut heads = HeadReader::default();
    let read = heads.read(data, None, IdentityRead::TypeAndArn);
    check_read(data, &read);
    // As the splitter finds a record at the start of its buffer.
    let mut buf = data.to_vec();
    buf.extend([b' '; BLOCK]);
    let mut masks = Vec::new();
    if let Some((len, escapes)) = object_tokens(&buf, &mut masks) {
        let record = data.get(..len).expect("the record ends inside the text");
        let tokens = Tokens {
            masks: &masks,
            escapes,
        };
        let alone = heads.read(record, None, IdentityRead::TypeAndArn);
        let found = heads.read(record, Some(tokens), IdentityRead::TypeAndArn);
        let built = heads.read(record, Some(tokens), IdentityRead::Build);
        let paths = IdentityPaths::new(IDENTITY_FIELDS);
        let members = heads.read(record, Some(tokens), IdentityRead::Find(&paths));
        let places = heads.found().copied();
        let fields = check_read(record, &alone);
        assert_eq!(check_read(record, &found), fields, "{record:?}");
        assert_eq!(check_read(record, &built), fields, "{record:?}");
        assert_eq!(check_read(record, &members), fields, "{record:?}");
        // The members found are what the parsed identity holds there.
        if let (Ok(RecordHead { text, fields, .. }), Some(places)) = (&members, places) {
            let (_, raw) = fields
                .iter()
                .find(|(key, _)| key == "userIdentity")
                .expect("members found in a field");
            let parsed = BorrowedValue::parse(raw).expect("an identity found parses");
            let mut lazy = LazyRecord::new(text, fields.iter().cloned());
            lazy.set_identity(&paths, Some(places));
            for field in IDENTITY_FIELDS {
                let path = field.strip_prefix("userIdentity.").expect("prefixed");
                assert_eq!(
                    lazy.identity_member(field),
                    member(&parsed, path),
                    "{field} of {record:?}"
                );
            }
        }
        // Building `userIdentity` on the way builds what parsing the
        // field's text gives.
        if let Ok(RecordHead {
            identity: Some(identity),
            fields,
            ..
        }) = &built
        {
            let (_, raw) = fields
                .iter()
                .find(|(key, _)| key == "userIdentity")
                .expect("an identity built from a field");
            let parsed = BorrowedValue::parse(raw).expect("a built identity parses");
            assert_eq!(identity, &parsed, "{record:?}");
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(value) = BorrowedValue::parse(text) {
            match serde_json::from_str::<Value>(text) {
                Ok(serde) => assert_eq!(value.to_value(), serde, "{text:?}"),
                Err(err) => panic!("parsed what serde_json rejects ({err}): {text:?}"),
            }
        }
    }
});
