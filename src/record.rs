//! One CloudTrail record: the two fields read from every record, eventName
//! normalisation, and lenient field access for the few that alerts read.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use serde_json::Value;

/// The fields read from every record, to pick the rules worth running.
/// Borrowed from the record's bytes (no allocation unless a string has
/// escapes). Parsing it still checks the whole record is valid JSON.
#[derive(Debug, Default, Deserialize)]
pub struct RecordHead<'a> {
    #[serde(rename = "eventSource", borrow, default)]
    pub event_source: Lenient<'a>,
    #[serde(rename = "eventName", borrow, default)]
    pub event_name: Lenient<'a>,
}

/// A string field that tolerates other JSON types (real logs hold
/// surprises): anything but a string reads as absent.
#[derive(Debug, Default, PartialEq)]
pub struct Lenient<'a>(pub Option<Cow<'a, str>>);

impl Lenient<'_> {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Lenient<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LenientVisitor;
        impl<'de> Visitor<'de> for LenientVisitor {
            type Value = Lenient<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Lenient(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Lenient(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Lenient(Some(Cow::Owned(v))))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
        }
        deserializer.deserialize_any(LenientVisitor)
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
    match event.pointer(pointer)? {
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
            head.event_source.0,
            Some(Cow::Borrowed("lambda.amazonaws.com"))
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
    fn text_at_reads_odd_shapes() {
        let event = serde_json::json!({"userAgent": ["a", "b"], "n": 5, "s": "", "o": {}});
        assert_eq!(text_at(&event, "/userAgent").as_deref(), Some("a, b"));
        assert_eq!(text_at(&event, "/n").as_deref(), Some("5"));
        assert_eq!(text_at(&event, "/s"), None);
        assert_eq!(text_at(&event, "/o"), None);
        assert_eq!(text_at(&event, "/missing"), None);
    }
}
