//! The part of JSON Schema that `tests/data/chatbot-custom-notification.schema.json`
//! uses (type, const, enum, required, properties, additionalProperties,
//! items, minLength/maxLength in characters, maxItems), checked by hand: a
//! keyword this does not know fails the check rather than pass unchecked.

use serde_json::Value;

/// The chat message schema.
pub fn chat_schema() -> Value {
    let path = super::repo().join("tests/data/chatbot-custom-notification.schema.json");
    let text = std::fs::read_to_string(&path).expect("read the chat schema");
    serde_json::from_str(&text).expect("the chat schema is JSON")
}

/// Every way `value` breaks `schema`, each with its JSON pointer.
pub fn violations(schema: &Value, value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(schema, value, "", &mut out);
    out
}

fn check(schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        out.push(format!("{at}: schema is not an object"));
        return;
    };
    for (keyword, rule) in schema {
        match keyword.as_str() {
            "$schema" | "$comment" | "title" | "description" => {}
            "type" => {
                let ok = match rule.as_str() {
                    Some("object") => value.is_object(),
                    Some("array") => value.is_array(),
                    Some("string") => value.is_string(),
                    Some("boolean") => value.is_boolean(),
                    _ => false,
                };
                if !ok {
                    out.push(format!("{at}: {value} is not of type {rule}"));
                }
            }
            "const" if value != rule => out.push(format!("{at}: {value} is not {rule}")),
            "const" => {}
            "enum" => {
                if !rule.as_array().is_some_and(|values| values.contains(value)) {
                    out.push(format!("{at}: {value} is not one of {rule}"));
                }
            }
            "required" => {
                for name in rule.as_array().into_iter().flatten() {
                    let name = name.as_str().unwrap_or_default();
                    if value.get(name).is_none() {
                        out.push(format!("{at}: required {name} is missing"));
                    }
                }
            }
            "properties" => {
                for (name, sub) in rule.as_object().into_iter().flatten() {
                    if let Some(field) = value.get(name) {
                        check(sub, field, &format!("{at}/{name}"), out);
                    }
                }
            }
            "additionalProperties" => {
                let known = schema.get("properties").and_then(Value::as_object);
                for (name, field) in value.as_object().into_iter().flatten() {
                    if known.is_some_and(|known| known.contains_key(name)) {
                        continue;
                    }
                    match rule {
                        Value::Bool(false) => out.push(format!("{at}: unknown field {name}")),
                        Value::Object(_) => check(rule, field, &format!("{at}/{name}"), out),
                        _ => {}
                    }
                }
            }
            "items" => {
                for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                    check(rule, item, &format!("{at}/{i}"), out);
                }
            }
            "minLength" | "maxLength" => {
                let (Some(text), Some(n)) = (value.as_str(), rule.as_u64()) else {
                    continue;
                };
                let len = text.chars().count() as u64;
                if (keyword == "minLength" && len < n) || (keyword == "maxLength" && len > n) {
                    out.push(format!("{at}: {len} characters breaks {keyword} {n}"));
                }
            }
            "maxItems" => {
                let (Some(items), Some(n)) = (value.as_array(), rule.as_u64()) else {
                    continue;
                };
                if items.len() as u64 > n {
                    out.push(format!("{at}: {} items breaks maxItems {n}", items.len()));
                }
            }
            other => out.push(format!("{at}: schema keyword {other} is not checked here")),
        }
    }
}
