//! Names for AWS account ids, so an alert says `prod-payments
//! (111122223333)` rather than the bare id. The deployment supplies them
//! (`ACCOUNT_NAMES`, `trailwatch scan --account-names`) as a JSON or YAML
//! map from account id to name; alerts are given them as data.
//!
//! The names come from a file someone edits by hand: each is cut to
//! [`MAX_NAME_CHARS`] here, and shown through the same sanitiser as every
//! other field in the subject and the email.

use std::collections::{BTreeMap, HashMap};

use super::Alert;

/// Characters of a name kept (AWS allows 50 in an account name).
pub const MAX_NAME_CHARS: usize = 64;

/// Account id to name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountNames {
    names: HashMap<String, String>,
}

/// A names file that cannot be used: which, and what is wrong.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{origin}: {message}")]
pub struct AccountNamesError {
    /// The file path or `s3://` URI.
    pub origin: String,
    pub message: String,
}

impl AccountNames {
    /// Parses `text`, read from `origin`: a JSON object (its first
    /// character `{`) or a YAML mapping, of 12-digit account ids to names.
    pub fn parse(origin: &str, text: &str) -> Result<AccountNames, AccountNamesError> {
        let fail = |message: String| AccountNamesError {
            origin: origin.to_string(),
            message,
        };
        // JSON may be indented with tabs, which YAML refuses.
        let map: BTreeMap<String, String> = if text.trim_start().starts_with('{') {
            serde_json::from_str(text)
                .map_err(|e| fail(format!("not a JSON map of account ids to names: {e}")))?
        } else {
            yaml_serde::from_str(text)
                .map_err(|e| fail(format!("not a YAML map of account ids to names: {e}")))?
        };
        let mut names = AccountNames::default();
        for (id, name) in map {
            let id = id.trim();
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(fail(format!("{id:?} is not a 12-digit AWS account id")));
            }
            let name = name.trim();
            if name.is_empty() {
                return Err(fail(format!("the name of {id} is empty")));
            }
            names.insert(id, name);
        }
        Ok(names)
    }

    /// Names `id` `name` (cut to [`MAX_NAME_CHARS`]), in place of any
    /// name it had.
    pub fn insert(&mut self, id: &str, name: &str) {
        let name: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
        self.names.insert(id.to_string(), name);
    }

    /// `other`'s names added, in place of any this had for the same
    /// account.
    pub fn extend(&mut self, other: AccountNames) {
        self.names.extend(other.names);
    }

    /// The name of account `id`.
    pub fn name(&self, id: &str) -> Option<&str> {
        self.names.get(id).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// `alert` with its account's name, when known; `None` when there is
    /// nothing to add (so callers need not copy the alert).
    pub fn named(&self, alert: &Alert) -> Option<Alert> {
        let name = self.name(alert.account.as_deref()?)?;
        if alert.account_name.as_deref() == Some(name) {
            return None;
        }
        let mut named = alert.clone();
        named.account_name = Some(name.to_string());
        Some(named)
    }

    /// Names `alert`'s account, when known.
    pub fn name_in(&self, alert: &mut Alert) {
        if let Some(name) = alert.account.as_deref().and_then(|id| self.name(id)) {
            alert.account_name = Some(name.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_maps_name_accounts() {
        let json =
            "{\n\t\"111122223333\": \"prod-payments\",\n\t\"012345678901\": \" sandbox \"\n}";
        // Ids unquoted in YAML are read as written, leading zeros kept.
        let yaml = "# who is who\n111122223333: prod-payments\n012345678901: sandbox\n";
        for (origin, text) in [("names.json", json), ("names.yaml", yaml)] {
            let names = AccountNames::parse(origin, text).expect(origin);
            assert_eq!(
                names.name("111122223333"),
                Some("prod-payments"),
                "{origin}"
            );
            assert_eq!(names.name("012345678901"), Some("sandbox"), "{origin}");
            assert_eq!(names.name("999999999999"), None, "{origin}");
            assert_eq!(names.len(), 2, "{origin}");
        }
    }

    #[test]
    fn long_names_are_cut() {
        let text = format!("{{\"111122223333\": \"{}\"}}", "é".repeat(200));
        let names = AccountNames::parse("n.json", &text).expect("parses");
        let name = names.name("111122223333").expect("named");
        assert_eq!(name.chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn bad_files_say_which_and_what_is_wrong() {
        let cases = [
            (
                "a.yaml",
                "- 111122223333\n",
                "a.yaml: not a YAML map of account ids to names",
            ),
            (
                "b.json",
                "{\"111122223333\": ",
                "b.json: not a JSON map of account ids to names",
            ),
            (
                "c.yaml",
                "'1234': short\n",
                "c.yaml: \"1234\" is not a 12-digit AWS account id",
            ),
            (
                "d.json",
                "{\"111122223333\": \"  \"}",
                "d.json: the name of 111122223333 is empty",
            ),
            (
                "e.yaml",
                "'111122223333': {name: x}\n",
                "e.yaml: not a YAML map of account ids to names",
            ),
        ];
        for (origin, text, want) in cases {
            let err = AccountNames::parse(origin, text)
                .expect_err(origin)
                .to_string();
            assert!(err.starts_with(want), "{err}");
        }
    }
}
