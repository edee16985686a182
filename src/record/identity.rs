//! The members of `userIdentity` found by the head read (no tree of it
//! built): its `type` and `arn` for the rule index, what the alerts name
//! the principal by ([`super::Brief`]), and the paths the rules read.
//! Most rules that read the identity read one or two plain members of it
//! (`userIdentity.type`, `userIdentity.sessionContext.sessionIssuer.type`).

use std::borrow::Cow;

use crate::json::find::{Found, Paths};

use super::brief::{text_of_owned, PRINCIPAL_FIELDS};

const PREFIX: &str = "userIdentity.";

/// Where [`IdentityPaths::new`] puts the members the head and the brief
/// read.
pub(crate) const TYPE: usize = 0;
pub(crate) const ARN: usize = 1;
const ISSUER_ARN: &str = "sessionContext.sessionIssuer.arn";

/// The paths inside `userIdentity` the head read finds.
#[derive(Debug, Clone)]
pub struct IdentityPaths {
    paths: Paths,
    principal: [usize; PRINCIPAL_FIELDS.len()],
    issuer: usize,
}

impl IdentityPaths {
    /// `type`, `arn`, what the brief reads, then the paths under
    /// `userIdentity.` of `read` (the dotted fields the rules read), as
    /// many as [`crate::json::find::MAX_PATHS`] in all. A path with a
    /// bracket or a backslash (which only the whole record answers) is
    /// left out; so is any past the limit: the rules read those from
    /// the parsed value, as before.
    pub fn new<'p>(read: impl IntoIterator<Item = &'p str>) -> IdentityPaths {
        let own = ["type", "arn"]
            .into_iter()
            .chain(PRINCIPAL_FIELDS)
            .chain([ISSUER_ARN]);
        let rules = read
            .into_iter()
            .filter_map(|path| path.strip_prefix(PREFIX))
            .filter(|path| !path.bytes().any(|b| b == b'[' || b == b'\\'));
        let paths = Paths::new(own.chain(rules));
        let at = |path: &str| paths.position(path).unwrap_or(usize::MAX);
        IdentityPaths {
            principal: PRINCIPAL_FIELDS.map(at),
            issuer: at(ISSUER_ARN),
            paths,
        }
    }

    pub(crate) fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The place of the dotted field `field` (`userIdentity.` and a path)
    /// among the paths found.
    #[inline]
    pub fn position(&self, field: &str) -> Option<usize> {
        self.paths.position(field.strip_prefix(PREFIX)?)
    }

    /// [`super::Brief::principal_of`] the identity `found` in `text`;
    /// `None` when only the parsed identity can say.
    pub(crate) fn principal<'a>(
        &self,
        found: &Found,
        text: &'a str,
    ) -> Option<Option<Cow<'a, str>>> {
        for at in self.principal {
            if let Some(value) = found.value(text, at)? {
                if let Some(text) = text_of_owned(value) {
                    return Some(Some(text));
                }
            }
        }
        Some(None)
    }

    /// [`super::Brief::issuer_of`] the identity `found` in `text`; `None`
    /// when only the parsed identity can say.
    pub(crate) fn issuer<'a>(&self, found: &Found, text: &'a str) -> Option<Option<Cow<'a, str>>> {
        Some(found.value(text, self.issuer)?.and_then(text_of_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{walk, BorrowedValue};
    use crate::record::Brief;

    #[test]
    fn the_head_and_the_brief_first_then_the_rules_paths() {
        let paths = IdentityPaths::new([
            "userIdentity.invokedBy",
            "userIdentity.sessionContext.sessionIssuer.type",
            "eventName",
            "userIdentity.a[0]",
            "userIdentity.a\\.b",
            "userIdentityX.type",
        ]);
        assert_eq!(paths.position("userIdentity.type"), Some(TYPE));
        assert_eq!(paths.position("userIdentity.arn"), Some(ARN));
        assert!(paths
            .position("userIdentity.sessionContext.sessionIssuer.type")
            .is_some());
        for other in [
            "eventName",
            "userIdentity.a[0]",
            "userIdentity.a\\.b",
            "type",
            "userIdentityX.type",
        ] {
            assert_eq!(paths.position(other), None, "{other}");
        }
    }

    /// The principal and the issuer read from the places found are what
    /// the brief reads from the parsed identity, or left to it.
    #[test]
    fn principal_and_issuer_as_the_brief_reads_them() {
        let paths = IdentityPaths::new([]);
        for (text, known) in [
            (
                r#"{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/s","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/R"}}}"#,
                true,
            ),
            (
                r#"{"type":"AWSService","invokedBy":"s3.amazonaws.com"}"#,
                true,
            ),
            (r#"{"arn":"","principalId":7,"userName":"u"}"#, true),
            (
                r#"{"arn":null,"sessionContext":{"sessionIssuer":{"arn":false}}}"#,
                true,
            ),
            (r#"{"arn":{"nested":"x"},"userName":"u"}"#, false),
            (
                r#"{"userName":"u","sessionContext":[{"sessionIssuer":{"arn":"a"}}]}"#,
                false,
            ),
        ] {
            let parsed = BorrowedValue::parse(text).expect("valid");
            let found = walk::with_tokens(text.as_bytes(), |mut walk| {
                let mut found = Found::default();
                walk.find_all(0, text, 2, paths.paths(), &mut found)?;
                Some(found)
            })
            .expect("walked");
            let principal = paths.principal(&found, text);
            let issuer = paths.issuer(&found, text);
            if known {
                assert_eq!(principal, Some(Brief::principal_of(&parsed)), "{text}");
                assert_eq!(issuer, Some(Brief::issuer_of(&parsed)), "{text}");
            } else {
                assert!(principal.is_none() || issuer.is_none(), "{text}");
            }
        }
    }
}
