//! What alerts keep of a record that matched, to group its findings by
//! principal: read once when it matched, from the fields the rules parsed
//! already, not from a copy of the record.

use std::borrow::Cow;

use crate::json::BorrowedValue;

/// The members of `userIdentity` that name the principal, the first
/// present one naming it: the caller's ARN, or failing that the invoking
/// service, principal id or user name.
pub const PRINCIPAL_FIELDS: [&str; 4] = ["arn", "invokedBy", "principalId", "userName"];

/// The fields grouping reads of a record, as [`super::text_at`] reads the
/// same fields of the parsed record: three strings, not a copy of the
/// fields as JSON.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Brief {
    /// The first of `userIdentity`'s [`PRINCIPAL_FIELDS`].
    pub principal: Option<String>,
    /// `userIdentity.sessionContext.sessionIssuer.arn`: the role (or the
    /// user) a session was issued by.
    pub issuer: Option<String>,
    pub event_id: Option<String>,
    pub event_time: Option<String>,
}

impl Brief {
    /// The principal named by `identity` (`userIdentity`).
    pub(crate) fn principal_of(identity: &BorrowedValue<'_>) -> Option<String> {
        PRINCIPAL_FIELDS
            .iter()
            .find_map(|key| identity.get(key).and_then(text_of))
    }

    /// The issuer of the session `identity` (`userIdentity`) is of.
    pub(crate) fn issuer_of(identity: &BorrowedValue<'_>) -> Option<String> {
        let issuer = identity.get("sessionContext")?.get("sessionIssuer")?;
        text_of(issuer.get("arn")?)
    }
}

/// A value as [`super::text_at`] reads it from the same `Value`.
pub(crate) fn text_of(value: &BorrowedValue<'_>) -> Option<String> {
    match value {
        BorrowedValue::Str(s) => (!s.is_empty()).then(|| s.to_string()),
        other => super::text_at(&other.to_value(), "").map(Cow::into_owned),
    }
}
