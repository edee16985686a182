//! CloudTrail's public keys read from a file: the JSON that
//! `aws cloudtrail list-public-keys` prints, for `trailwatch verify
//! --public-keys FILE` where CloudTrail cannot be reached (no network to
//! it, or a test's mock).
//!
//! `{"PublicKeyList": [{"Value": base64 DER, "ValidityStartTime",
//! "ValidityEndTime", "Fingerprint"}]}`; times as the AWS CLI prints them
//! (RFC 3339) or as the API sends them (epoch seconds).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::verify::{Failure, PublicKeys, TimeRange};

/// One key of the file.
#[derive(Debug, Clone)]
struct Key {
    fingerprint: String,
    der: Vec<u8>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
}

/// The keys of a `list-public-keys` answer. Keys of several regions may
/// be put in one list: a fingerprint names one key.
#[derive(Debug, Clone)]
pub struct FileKeys {
    keys: Vec<Key>,
}

impl FileKeys {
    /// Parses `list-public-keys` JSON; an error says what is wrong.
    pub fn parse(text: &str) -> Result<FileKeys, String> {
        let document: Value =
            serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))?;
        let list = document
            .get("PublicKeyList")
            .and_then(Value::as_array)
            .ok_or("no \"PublicKeyList\" array (the output of aws cloudtrail list-public-keys)")?;
        let keys = list
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let field = |name: &str| {
                    entry
                        .get(name)
                        .and_then(Value::as_str)
                        .ok_or_else(|| format!("PublicKeyList[{i}]: no {name} string"))
                };
                let der = base64_decode(field("Value")?)
                    .ok_or_else(|| format!("PublicKeyList[{i}]: Value is not base64"))?;
                Ok(Key {
                    fingerprint: field("Fingerprint")?.to_ascii_lowercase(),
                    der,
                    start: time(entry.get("ValidityStartTime")),
                    end: time(entry.get("ValidityEndTime")),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(FileKeys { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl PublicKeys for FileKeys {
    /// The key with this fingerprint whose validity overlaps `range` (a
    /// bound the file leaves out does not limit it).
    fn key(&self, fingerprint: &str, range: &TimeRange) -> Result<Option<Vec<u8>>, Failure> {
        let fingerprint = fingerprint.to_ascii_lowercase();
        Ok(self
            .keys
            .iter()
            .find(|key| {
                key.fingerprint == fingerprint
                    && key.start.is_none_or(|start| start <= range.end)
                    && key.end.is_none_or(|end| end >= range.start)
            })
            .map(|key| key.der.clone()))
    }
}

/// RFC 3339 text or epoch seconds.
fn time(value: Option<&Value>) -> Option<DateTime<Utc>> {
    match value? {
        Value::String(text) => DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Value::Number(n) => DateTime::from_timestamp(n.as_f64()? as i64, 0),
        _ => None,
    }
}

/// Standard base64, padded or not; `None` on any other character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut n) = (0u32, 0u32);
    for byte in text.bytes().filter(|b| !b.is_ascii_whitespace()) {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        bits = bits << 6 | u32::from(value);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: &str, end: &str) -> TimeRange {
        let at = |t: &str| DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc);
        TimeRange {
            start: at(start),
            end: at(end),
        }
    }

    #[test]
    fn base64_decodes_as_the_standard_alphabet() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert!(base64_decode("a*b").is_none());
    }

    #[test]
    fn a_key_is_found_by_fingerprint_within_its_validity() {
        let keys = FileKeys::parse(
            r#"{"PublicKeyList": [
                {"Value": "aGVsbG8=", "ValidityStartTime": "2026-11-01T00:00:00+00:00",
                 "ValidityEndTime": "2026-12-01T00:00:00+00:00", "Fingerprint": "AB12"},
                {"Value": "aGk=", "ValidityStartTime": 1796083200,
                 "ValidityEndTime": 1798761600, "Fingerprint": "cd34"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(keys.len(), 2);
        let november = range("2026-11-23T09:01:31Z", "2026-11-23T11:01:31Z");
        assert_eq!(keys.key("ab12", &november).unwrap().unwrap(), b"hello");
        assert_eq!(keys.key("cd34", &november).unwrap(), None);
        let december = range("2026-12-02T00:00:00Z", "2026-12-02T01:00:00Z");
        assert_eq!(keys.key("ab12", &december).unwrap(), None);
        assert_eq!(keys.key("CD34", &december).unwrap().unwrap(), b"hi");
    }

    #[test]
    fn a_file_that_is_not_a_key_list_says_so() {
        assert!(FileKeys::parse("[]").unwrap_err().contains("PublicKeyList"));
        assert!(FileKeys::parse(r#"{"PublicKeyList":[{"Value":"%"}]}"#)
            .unwrap_err()
            .contains("base64"));
    }
}
