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

use rsigma_eval::event::{Event, EventValue, JsonEvent};
use serde_json::Value;

pub struct RecordEvent<'a> {
    inner: JsonEvent<'a>,
}

impl<'a> RecordEvent<'a> {
    pub fn new(record: &'a Value) -> Self {
        RecordEvent {
            inner: JsonEvent::borrow(record),
        }
    }
}

impl Event for RecordEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        self.inner.get_field(path).map(objects_as_text)
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.inner.any_string_value(pred)
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        self.inner.all_string_values()
    }

    fn to_json(&self) -> Value {
        self.inner.to_json()
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
}
