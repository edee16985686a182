//! The CloudTrail record: its head, read from every record to pick the
//! rules worth running ([`HeadReader`]); the record read one top-level field
//! at a time, as the rules read it ([`LazyRecord`]); what alerts keep of it to group
//! findings ([`Brief`]); the members of `userIdentity` the head read finds
//! ([`IdentityPaths`]); eventName normalisation and lenient field access
//! for alerts.

mod brief;
mod fields;
mod head;
mod identity;

use std::borrow::Cow;

use serde_json::Value;

use crate::json::BorrowedValue;

pub use brief::{Brief, PRINCIPAL_FIELDS};
pub use fields::{Fields, LazyRecord, SlotBuffer};
pub use head::{HeadReader, IdentityRead, Lenient, RecordHead};
pub use identity::IdentityPaths;

/// A list emptied for items of another lifetime, its allocation kept
/// (collecting an empty list into one of the same layout reuses its
/// buffer): a record's lists are used again for the next record.
// `filter` could not change the lifetime: the list is empty, no item is
// mapped.
#[allow(clippy::unnecessary_filter_map)]
fn emptied<T, U>(mut list: Vec<T>) -> Vec<U> {
    list.clear();
    list.into_iter().filter_map(|_| None).collect()
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

/// [`text_at`] on a record borrowed from its text: the same text for the
/// same record, without the record parsed into a `Value`.
pub fn borrowed_text_at<'v>(event: &'v BorrowedValue<'_>, pointer: &str) -> Option<Cow<'v, str>> {
    match borrowed_at(event, pointer)? {
        BorrowedValue::Str(s) if !s.is_empty() => Some(Cow::Borrowed(s.as_ref())),
        // Numbers, lists, anything else: rare, and read as `text_at` reads
        // them by construction.
        other => text_at(&other.to_value(), "").map(|text| Cow::Owned(text.into_owned())),
    }
}

/// [`value_at`] on a borrowed value.
fn borrowed_at<'v, 'a>(
    event: &'v BorrowedValue<'a>,
    pointer: &str,
) -> Option<&'v BorrowedValue<'a>> {
    if pointer.is_empty() {
        return Some(event);
    }
    pointer_steps(pointer)?.try_fold(event, |value, step| match value {
        BorrowedValue::Object(_) => value.get(step.as_ref()),
        BorrowedValue::Array(items) => items.get(array_index(&step)?),
        _ => None,
    })
}

/// `Value::pointer` without its two `String`s per step (alerts read a
/// few pointers of every finding).
fn value_at<'v>(event: &'v Value, pointer: &str) -> Option<&'v Value> {
    if pointer.is_empty() {
        return Some(event);
    }
    pointer_steps(pointer)?.try_fold(event, |value, step| match value {
        Value::Object(map) => map.get(step.as_ref()),
        Value::Array(items) => items.get(array_index(&step)?),
        _ => None,
    })
}

/// The steps of a JSON pointer (RFC 6901), `~1` and `~0` decoded; `None`
/// for a pointer that does not start with `/`.
fn pointer_steps(pointer: &str) -> Option<impl Iterator<Item = Cow<'_, str>>> {
    let steps = pointer.strip_prefix('/')?;
    Some(steps.split('/').map(|step| {
        if step.contains('~') {
            Cow::Owned(step.replace("~1", "/").replace("~0", "~"))
        } else {
            Cow::Borrowed(step)
        }
    }))
}

/// An array index as a pointer step writes it: digits, no sign, no
/// leading zero.
fn array_index(step: &str) -> Option<usize> {
    if step.starts_with('+') || (step.starts_with('0') && step.len() != 1) {
        return None;
    }
    step.parse().ok()
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
