//! Compact JSON written as serde_json writes it, faster where the text
//! allows: a string with nothing to escape is copied, and a value's text
//! that is already what serde_json would write for it is copied whole.
//! The bytes are serde_json's (`serde_json::to_writer`), by construction
//! where it is simple and by tests on every record of the corpus.

use std::borrow::Cow;

use super::value::BorrowedValue;

/// Whether serde_json writes `bytes` inside a string as they are: no
/// control character (below 0x20), no `"`, no `\` (the only bytes it
/// escapes). Branch-free over 32 bytes at a time, so the compiler can use
/// vector instructions.
fn is_plain(bytes: &[u8]) -> bool {
    // No early exit: the loop is vectorised (strings here are short).
    let mut escaped = 0u8;
    for &b in bytes {
        escaped |= u8::from((b < 0x20) | (b == b'"') | (b == b'\\'));
    }
    escaped == 0
}

/// `text` as a JSON string, as `serde_json::to_writer` writes it.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    if is_plain(text.as_bytes()) {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        // Into memory: cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    }
}

impl BorrowedValue<'_> {
    /// The length of what [`BorrowedValue::write_compact`] writes, when
    /// that is known to be the text the value was read from byte for
    /// byte but for whitespace: every string and key borrowed from the
    /// text (so it had no escape and is written as it is), every number a
    /// whole one (its text is the only way to write it: not a float,
    /// which serde_json may write otherwise, nor `-0`, which it reads as
    /// one). `None` otherwise. So a value read from `text` is written as
    /// `text` itself when this is `Some(text.len())`: no whitespace either.
    pub fn compact_len(&self) -> Option<usize> {
        fn digits(n: u64) -> usize {
            n.checked_ilog10().map_or(1, |log| log as usize + 1)
        }
        Some(match self {
            BorrowedValue::Null | BorrowedValue::Bool(true) => 4,
            BorrowedValue::Bool(false) => 5,
            BorrowedValue::Int(i) => usize::from(*i < 0) + digits(i.unsigned_abs()),
            BorrowedValue::UInt(u) => digits(*u),
            BorrowedValue::Float(_) | BorrowedValue::Str(Cow::Owned(_)) => return None,
            BorrowedValue::Str(Cow::Borrowed(text)) => text.len() + 2,
            BorrowedValue::Array(items) => {
                let mut len = 2 + items.len().saturating_sub(1);
                for item in items {
                    len += item.compact_len()?;
                }
                len
            }
            BorrowedValue::Object(members) => {
                let mut len = 2 + members.len().saturating_sub(1);
                for (key, value) in members {
                    let Cow::Borrowed(key) = key else {
                        return None;
                    };
                    len += key.len() + 3 + value.compact_len()?;
                }
                len
            }
        })
    }

    /// Appends the value as `serde_json::to_writer` writes the `Value` of
    /// [`BorrowedValue::to_value`]: the same bytes, without the copy.
    pub fn write_compact(&self, out: &mut Vec<u8>) {
        match self {
            BorrowedValue::Null => out.extend_from_slice(b"null"),
            BorrowedValue::Bool(true) => out.extend_from_slice(b"true"),
            BorrowedValue::Bool(false) => out.extend_from_slice(b"false"),
            // As a `Value` holds them (a float that is not finite is
            // `null` in both).
            BorrowedValue::Int(i) => {
                let _ = serde_json::to_writer(&mut *out, i);
            }
            BorrowedValue::UInt(u) => {
                let _ = serde_json::to_writer(&mut *out, u);
            }
            BorrowedValue::Float(f) => {
                let _ = serde_json::to_writer(&mut *out, &serde_json::Value::from(*f));
            }
            BorrowedValue::Str(text) => write_str(out, text),
            BorrowedValue::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write_compact(out);
                }
                out.push(b']');
            }
            BorrowedValue::Object(members) => {
                out.push(b'{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(out, key);
                    out.push(b':');
                    value.write_compact(out);
                }
                out.push(b'}');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn serde(text: &str) -> String {
        let value: Value = serde_json::from_str(text).expect("valid JSON");
        serde_json::to_string(&value).expect("JSON")
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let mut long = "x".repeat(70);
        long.push('"');
        for text in [
            "",
            "plain",
            "é 日本 😀 \u{7f} \u{2028}",
            "quote \" back \\ slash",
            "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f}",
            &"y".repeat(64),
            &long,
        ] {
            let mut out = Vec::new();
            write_str(&mut out, text);
            assert_eq!(out, serde_json::to_vec(text).expect("JSON"), "{text:?}");
        }
    }

    /// What `compact_len` says of a record read from `text`: the text
    /// is what serde_json writes for it.
    fn is_compact(text: &str) -> bool {
        let value = BorrowedValue::parse_record(text).expect("valid");
        value.compact_len() == Some(text.len())
    }

    #[test]
    fn compact_texts_are_recognised_and_only_they() {
        for text in [
            r#"{"a":1,"b":[true,false,null],"c":{"d":"e f","g":-12},"h":[],"i":{}}"#,
            r#"{"k":"1.5e3 - 0","t":"true","n":123456789012345678,"m":-9223372036854775808}"#,
            r#"{"u":18446744073709551615,"z":0,"é":"日本"}"#,
            r#"[]"#,
            r#""s""#,
            r#"-7"#,
            r#"{"eTrue":true,"false":false}"#,
        ] {
            assert!(is_compact(text), "{text}");
            assert_eq!(serde(text), text);
        }
        for text in [
            r#"{"a": 1}"#,
            " {\"a\":1}",
            "{\"a\":1}\n",
            "[1,\n2]",
            r#"{"a":1e3}"#,
            r#"{"a":1E3}"#,
            r#"{"a":-0}"#,
            r#"{"a":"\u00e9"}"#,
            r#"{"a":"\/"}"#,
            r#"{"\u0061":1}"#,
            // An escape and a float that together keep the length.
            r#"{"a":"\/","b":1E5}"#,
        ] {
            assert!(!is_compact(text), "{text}");
            assert_ne!(serde(text), text);
        }
        // An escape or a float serde_json writes the same way is not
        // recognised either: such a record is written from its parts, the
        // same bytes.
        for same in [r#"{"a":"x\"y"}"#, r#"{"a":1.0}"#] {
            assert!(!is_compact(same), "{same}");
            assert_eq!(serde(same), same);
        }
    }

    #[test]
    fn borrowed_values_are_written_as_their_values_are() {
        let text = r#"{"s":"plain","e":"tab\tq\"\u00e9\/","i":-7,"z":0,"u":18446744073709551615,"big":-9223372036854775809,"f":1.5,"x":1e3,"m":-0,"b":true,"n":null,"a":[1,"two",{"k":[]}],"o":{"in":{"deep":"yes"}},"eo":{},"ea":[]}"#;
        for value in [
            BorrowedValue::parse_record(text).expect("valid"),
            BorrowedValue::parse_by_serde_at(text, 1).expect("valid"),
        ] {
            let mut out = Vec::new();
            value.write_compact(&mut out);
            assert_eq!(String::from_utf8(out).expect("UTF-8"), serde(text));
        }
    }
}
