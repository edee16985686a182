//! A JSON value borrowed from its text, for the rules to read.
//!
//! Parsing `userIdentity` into a `serde_json::Value` allocates every key and
//! string (and hashes every key, the map keeping CloudTrail's order): on a
//! log where most records have a candidate rule, that was the largest cost
//! of evaluating them. A `BorrowedValue` borrows what it can from the text and
//! keeps an object's members in a list (CloudTrail objects are small).
//! [`BorrowedValue::parse`] walks a text where it can ([`super::walk`]).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::strict::{enter, Key, KeyStack, StrictKeys};

#[derive(Debug, Clone, PartialEq)]
pub enum BorrowedValue<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// A whole number beyond i64: rules read it as a float, as from a
    /// `Value`.
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    Array(Vec<BorrowedValue<'a>>),
    /// Members in the record's order, each key once.
    Object(Vec<(Cow<'a, str>, BorrowedValue<'a>)>),
}

impl<'a> BorrowedValue<'a> {
    /// [`BorrowedValue::parse`] (walked, in [`super::walk`]) by serde_json
    /// alone.
    pub(crate) fn parse_by_serde(text: &'a str) -> Result<BorrowedValue<'a>, serde_json::Error> {
        Self::parse_by_serde_at(text, 2)
    }

    /// [`BorrowedValue::parse_by_serde`] for a value at nesting level `depth`.
    pub(crate) fn parse_by_serde_at(
        text: &'a str,
        depth: usize,
    ) -> Result<BorrowedValue<'a>, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let mut keys = Vec::new();
        let build = Build {
            depth,
            keys: &mut keys,
        };
        let value = build.deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(value)
    }

    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&BorrowedValue<'a>> {
        match self {
            BorrowedValue::Object(members) => members
                .iter()
                .find(|(k, _)| super::same_key(k, key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The same value as a `serde_json::Value`.
    pub fn to_value(&self) -> Value {
        match self {
            BorrowedValue::Null => Value::Null,
            BorrowedValue::Bool(b) => Value::Bool(*b),
            BorrowedValue::Int(i) => Value::from(*i),
            BorrowedValue::UInt(u) => Value::from(*u),
            BorrowedValue::Float(f) => Value::from(*f),
            BorrowedValue::Str(s) => Value::String(s.to_string()),
            BorrowedValue::Array(items) => {
                Value::Array(items.iter().map(BorrowedValue::to_value).collect())
            }
            BorrowedValue::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

/// Builds a [`BorrowedValue`] at nesting level `depth`.
struct Build<'s, 'a> {
    depth: usize,
    keys: &'s mut KeyStack<'a>,
}

impl<'de> DeserializeSeed<'de> for Build<'_, 'de> {
    type Value = BorrowedValue<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Build<'_, 'de> {
    type Value = BorrowedValue<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(BorrowedValue::UInt(v), BorrowedValue::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Float(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Str(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(BorrowedValue::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let depth = enter(self.depth)?;
        let stack = self.keys;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Build {
            depth,
            keys: &mut *stack,
        })? {
            items.push(item);
        }
        Ok(BorrowedValue::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let depth = enter(self.depth)?;
        let stack = self.keys;
        let mut keys = StrictKeys::at(stack);
        let mut members = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            keys.insert(stack, key.clone())?;
            let value = map.next_value_seed(Build {
                depth,
                keys: &mut *stack,
            })?;
            members.push((key, value));
        }
        keys.finish(stack);
        Ok(BorrowedValue::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::MAX_DEPTH;

    /// Every shape converts back to the `Value` serde_json reads.
    #[test]
    fn borrowed_values_read_as_value_does() {
        let text = r#"{"s":"plain","e":"tab\tq\"","i":-7,"u":18446744073709551615,"f":1.5,"x":1e3,"b":true,"n":null,"a":[1,"two",{"k":[]}],"o":{"in":{"deep":"yes"}}}"#;
        let lite = BorrowedValue::parse(text).expect("valid");
        let value: Value = serde_json::from_str(text).expect("valid");
        assert_eq!(lite.to_value(), value);
        assert!(matches!(
            lite.get("s"),
            Some(BorrowedValue::Str(Cow::Borrowed("plain")))
        ));
    }

    #[test]
    fn duplicate_keys_depth_and_range_are_errors() {
        for (text, want) in [
            (r#"{"a":1,"a":2}"#, r#"duplicate key "a""#),
            (r#"{"o":{"k":1,"k":1}}"#, r#"duplicate key "k""#),
            (r#"[1e400]"#, "number out of range"),
        ] {
            let err = BorrowedValue::parse(text).expect_err(text).to_string();
            assert!(err.starts_with(want), "{text}: {err}");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let err = BorrowedValue::parse(&deep)
            .expect_err("too deep")
            .to_string();
        assert!(err.contains("nested deeper than"), "{err}");
        let many: String = (0..40).map(|i| format!("\"k{i}\":{i},")).collect();
        let dup = format!("{{{many}\"k3\":0}}");
        let err = BorrowedValue::parse(&dup)
            .expect_err("duplicate among many")
            .to_string();
        assert!(err.starts_with(r#"duplicate key "k3""#), "{err}");
    }
}
