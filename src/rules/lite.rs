//! A JSON value borrowed from the record's text, for the rules to read.
//!
//! Parsing `userIdentity` into a `serde_json::Value` allocates every key and
//! string (and hashes every key, the map keeping CloudTrail's order): on a
//! log where most records have a candidate rule, that was the largest cost
//! of evaluating them. A `Lite` value borrows what it can from the text and
//! keeps an object's members in a list (CloudTrail objects are small).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use rsigma_eval::event::EventValue;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::record::{duplicate, enter, Key};

#[derive(Debug, Clone, PartialEq)]
pub enum Lite<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// A whole number beyond i64: rules read it as a float, as from a
    /// `Value`.
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    Array(Vec<Lite<'a>>),
    /// Members in the record's order, each key once.
    Object(Vec<(Cow<'a, str>, Lite<'a>)>),
}

impl<'a> Lite<'a> {
    /// Parses a top-level value of a record (at level 2), checked as the
    /// record's strict parse checks ([`crate::record::check_record`]): no
    /// duplicate key, nesting within [`crate::record::MAX_DEPTH`]. Positions in errors
    /// count from the value.
    ///
    /// A value without escapes is read by its structure
    /// ([`crate::quick_head::lite`]); the rest, and every problem, by
    /// serde_json.
    pub fn parse(text: &'a str) -> Result<Lite<'a>, serde_json::Error> {
        match crate::quick_head::lite(text) {
            Some(value) => Ok(value),
            None => Self::parse_by_serde(text),
        }
    }

    /// [`Lite::parse`] by serde_json alone.
    pub fn parse_by_serde(text: &'a str) -> Result<Lite<'a>, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let value = Build { depth: 2 }.deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(value)
    }

    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Lite<'a>> {
        match self {
            Lite::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// As rsigma reads the same value from a `serde_json::Value`.
    pub fn event_value(&self) -> EventValue<'_> {
        match self {
            Lite::Null => EventValue::Null,
            Lite::Bool(b) => EventValue::Bool(*b),
            Lite::Int(i) => EventValue::Int(*i),
            Lite::UInt(u) => EventValue::Float(*u as f64),
            Lite::Float(f) => EventValue::Float(*f),
            Lite::Str(s) => EventValue::Str(Cow::Borrowed(s)),
            Lite::Array(items) => EventValue::Array(items.iter().map(Lite::event_value).collect()),
            Lite::Object(members) => EventValue::Map(
                members
                    .iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_ref()), v.event_value()))
                    .collect(),
            ),
        }
    }

    /// The same value as a `serde_json::Value`.
    pub fn to_value(&self) -> Value {
        match self {
            Lite::Null => Value::Null,
            Lite::Bool(b) => Value::Bool(*b),
            Lite::Int(i) => Value::from(*i),
            Lite::UInt(u) => Value::from(*u),
            Lite::Float(f) => Value::from(*f),
            Lite::Str(s) => Value::String(s.to_string()),
            Lite::Array(items) => Value::Array(items.iter().map(Lite::to_value).collect()),
            Lite::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

/// Builds a [`Lite`] value at nesting level `depth`.
#[derive(Clone, Copy)]
struct Build {
    depth: usize,
}

impl Build {
    fn inner<E: de::Error>(self) -> Result<Build, E> {
        Ok(Build {
            depth: enter(self.depth)?,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Build {
    type Value = Lite<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Lite<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// Objects with more members than this check keys with a hash set.
const KEYS_IN_LIST: usize = 32;

impl<'de> Visitor<'de> for Build {
    type Value = Lite<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Lite<'de>, E> {
        Ok(Lite::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Lite<'de>, E> {
        Ok(Lite::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Lite<'de>, E> {
        Ok(i64::try_from(v).map_or(Lite::UInt(v), Lite::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Lite<'de>, E> {
        Ok(Lite::Float(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Lite<'de>, E> {
        Ok(Lite::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Lite<'de>, E> {
        Ok(Lite::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Lite<'de>, E> {
        Ok(Lite::Str(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Lite<'de>, E> {
        Ok(Lite::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lite<'de>, A::Error> {
        let inner = self.inner()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Lite::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lite<'de>, A::Error> {
        let inner = self.inner()?;
        let mut members: Vec<(Cow<'de, str>, Lite<'de>)> = Vec::new();
        let mut many: Option<HashSet<Cow<'de, str>>> = None;
        while let Some(Key(key)) = map.next_key()? {
            let taken = match many.as_mut() {
                Some(set) => !set.insert(key.clone()),
                None => members.iter().any(|(k, _)| *k == key),
            };
            if taken {
                return Err(duplicate(&key));
            }
            let value = map.next_value_seed(inner)?;
            members.push((key, value));
            if many.is_none() && members.len() > KEYS_IN_LIST {
                many = Some(members.iter().map(|(k, _)| k.clone()).collect());
            }
        }
        Ok(Lite::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::MAX_DEPTH;

    /// Every shape reads as rsigma reads the same `Value`, and converts
    /// back to it.
    #[test]
    fn lite_reads_as_value_does() {
        let text = r#"{"s":"plain","e":"tab\tq\"","i":-7,"u":18446744073709551615,"f":1.5,"x":1e3,"b":true,"n":null,"a":[1,"two",{"k":[]}],"o":{"in":{"deep":"yes"}}}"#;
        let lite = Lite::parse(text).expect("valid");
        let value: Value = serde_json::from_str(text).expect("valid");
        assert_eq!(lite.event_value(), EventValue::from(&value));
        assert_eq!(lite.to_value(), value);
        assert!(matches!(
            lite.get("s"),
            Some(Lite::Str(Cow::Borrowed("plain")))
        ));
    }

    #[test]
    fn duplicate_keys_depth_and_range_are_errors() {
        for (text, want) in [
            (r#"{"a":1,"a":2}"#, r#"duplicate key "a""#),
            (r#"{"o":{"k":1,"k":1}}"#, r#"duplicate key "k""#),
            (r#"[1e400]"#, "number out of range"),
        ] {
            let err = Lite::parse(text).expect_err(text).to_string();
            assert!(err.starts_with(want), "{text}: {err}");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let err = Lite::parse(&deep).expect_err("too deep").to_string();
        assert!(err.contains("nested deeper than"), "{err}");
        let many: String = (0..40).map(|i| format!("\"k{i}\":{i},")).collect();
        let dup = format!("{{{many}\"k3\":0}}");
        let err = Lite::parse(&dup)
            .expect_err("duplicate among many")
            .to_string();
        assert!(err.starts_with(r#"duplicate key "k3""#), "{err}");
    }
}
