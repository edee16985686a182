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
/// same fields of the parsed record: four strings in one buffer (one
/// allocation a finding, not four), not a copy of the fields as JSON.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Brief {
    text: String,
    /// Where each is in `text`: the principal, the issuer, the event id
    /// and the event time.
    spans: [Option<(u32, u32)>; 4],
}

impl Brief {
    /// `principal`: the first of `userIdentity`'s [`PRINCIPAL_FIELDS`];
    /// `issuer`: `userIdentity.sessionContext.sessionIssuer.arn`, the role
    /// (or the user) a session was issued by.
    pub fn new(
        principal: Option<&str>,
        issuer: Option<&str>,
        event_id: Option<&str>,
        event_time: Option<&str>,
    ) -> Brief {
        let parts = [principal, issuer, event_id, event_time];
        let mut text = String::with_capacity(parts.iter().flatten().map(|part| part.len()).sum());
        let spans = parts.map(|part| {
            let part = part?;
            let start = u32::try_from(text.len()).ok()?;
            text.push_str(part);
            Some((start, u32::try_from(text.len()).ok()?))
        });
        Brief { text, spans }
    }

    fn part(&self, at: usize) -> Option<&str> {
        let (start, end) = (*self.spans.get(at)?)?;
        self.text.get(start as usize..end as usize)
    }

    pub fn principal(&self) -> Option<&str> {
        self.part(0)
    }

    pub fn issuer(&self) -> Option<&str> {
        self.part(1)
    }

    pub fn event_id(&self) -> Option<&str> {
        self.part(2)
    }

    pub fn event_time(&self) -> Option<&str> {
        self.part(3)
    }

    /// The principal named by `identity` (`userIdentity`).
    pub(crate) fn principal_of<'v>(identity: &'v BorrowedValue<'_>) -> Option<Cow<'v, str>> {
        PRINCIPAL_FIELDS
            .iter()
            .find_map(|key| identity.get(key).and_then(text_of))
    }

    /// The issuer of the session `identity` (`userIdentity`) is of.
    pub(crate) fn issuer_of<'v>(identity: &'v BorrowedValue<'_>) -> Option<Cow<'v, str>> {
        let issuer = identity.get("sessionContext")?.get("sessionIssuer")?;
        text_of(issuer.get("arn")?)
    }
}

/// A value as [`super::text_at`] reads it from the same `Value`.
pub(crate) fn text_of<'v>(value: &'v BorrowedValue<'_>) -> Option<Cow<'v, str>> {
    match value {
        BorrowedValue::Str(s) => (!s.is_empty()).then(|| Cow::Borrowed(s.as_ref())),
        other => super::text_at(&other.to_value(), "").map(|text| Cow::Owned(text.into_owned())),
    }
}

/// [`text_of`] a value given, not lent.
pub(crate) fn text_of_owned(value: BorrowedValue<'_>) -> Option<Cow<'_, str>> {
    match value {
        BorrowedValue::Str(s) => (!s.is_empty()).then_some(s),
        other => text_of(&other).map(|text| Cow::Owned(text.into_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The four texts in one buffer, each read back as given.
    #[test]
    fn one_buffer_four_texts() {
        let brief = Brief::new(
            Some("arn:aws:sts::1:assumed-role/R/s"),
            None,
            Some("é-1"),
            Some("2024-03-01T00:00:00Z"),
        );
        assert_eq!(brief.principal(), Some("arn:aws:sts::1:assumed-role/R/s"));
        assert_eq!(brief.issuer(), None);
        assert_eq!(brief.event_id(), Some("é-1"));
        assert_eq!(brief.event_time(), Some("2024-03-01T00:00:00Z"));
        let empty = Brief::default();
        assert_eq!((empty.principal(), empty.event_time()), (None, None));
        assert_eq!(Brief::new(None, None, None, None), empty);
    }
}
