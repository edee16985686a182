//! The event-time window of a scan (`scan --from/--to`): records whose
//! `eventTime` falls outside are read and checked, never evaluated, so
//! they raise no alert and count toward no threshold.

use chrono::{DateTime, NaiveDateTime};

/// `[from, to)` on `eventTime`; open on a side with no bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventWindow {
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    /// The bounds as CloudTrail writes times (`2026-03-01T12:00:00Z`):
    /// a record's time in that shape is compared as text, which is its
    /// time order.
    from_text: Option<[u8; 20]>,
    to_text: Option<[u8; 20]>,
}

/// The shape of CloudTrail's `eventTime`.
const SHAPE: &[u8; 20] = b"0000-00-00T00:00:00Z";

impl EventWindow {
    /// No bound: every record is evaluated (the default).
    pub const OPEN: EventWindow = EventWindow {
        from: None,
        to: None,
        from_text: None,
        to_text: None,
    };

    /// From `from` (inclusive) to `to` (exclusive), both UTC.
    pub fn new(from: Option<NaiveDateTime>, to: Option<NaiveDateTime>) -> EventWindow {
        EventWindow {
            from,
            to,
            from_text: from.and_then(as_text),
            to_text: to.and_then(as_text),
        }
    }

    /// Whether there is a bound at all.
    pub fn is_bounded(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }

    /// Whether a record whose `eventTime` is `time` is inside. Without a
    /// time, or with one that is not a time, a record cannot be placed:
    /// it is outside any bounded window.
    pub fn contains(&self, time: Option<&str>) -> bool {
        if !self.is_bounded() {
            return true;
        }
        let Some(time) = time else {
            return false;
        };
        let by_text = self.from.is_some() == self.from_text.is_some()
            && self.to.is_some() == self.to_text.is_some();
        if by_text && is_cloudtrail_time(time) {
            let time = time.as_bytes();
            return self.from_text.is_none_or(|from| time >= &from[..])
                && self.to_text.is_none_or(|to| time < &to[..]);
        }
        // Another writer's time (fractions of a second, an offset).
        match DateTime::parse_from_rfc3339(time) {
            Ok(time) => {
                let time = time.naive_utc();
                self.from.is_none_or(|from| time >= from) && self.to.is_none_or(|to| time < to)
            }
            Err(_) => false,
        }
    }
}

/// Whether `time` is written as CloudTrail writes `eventTime`.
pub(crate) fn is_cloudtrail_time(time: &str) -> bool {
    time.len() == SHAPE.len()
        && time.bytes().zip(SHAPE).all(|(b, want)| match want {
            b'0' => b.is_ascii_digit(),
            _ => b == *want,
        })
}

/// A bound as CloudTrail writes times; `None` for one it cannot write that
/// way (a fraction of a second, a year past four digits): the comparison
/// then goes by parsing.
fn as_text(time: NaiveDateTime) -> Option<[u8; 20]> {
    if time.and_utc().timestamp_subsec_nanos() != 0 {
        return None;
    }
    let text = time.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let bytes: [u8; 20] = text.as_bytes().try_into().ok()?;
    is_cloudtrail_time(&text).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        DateTime::parse_from_rfc3339(text).unwrap().naive_utc()
    }

    #[test]
    fn the_window_holds_from_and_not_to() {
        let window = EventWindow::new(
            Some(at("2026-03-01T00:00:00Z")),
            Some(at("2026-03-02T00:00:00Z")),
        );
        for (time, inside) in [
            (Some("2026-03-01T00:00:00Z"), true),
            (Some("2026-03-01T23:59:59Z"), true),
            (Some("2026-03-02T00:00:00Z"), false),
            (Some("2026-02-28T23:59:59Z"), false),
            // Other writers: fractions, offsets.
            (Some("2026-03-01T23:59:59.999Z"), true),
            (Some("2026-03-02T00:30:00+01:00"), true),
            (Some("2026-03-02T00:00:00.001Z"), false),
            (Some("yesterday"), false),
            (None, false),
        ] {
            assert_eq!(window.contains(time), inside, "{time:?}");
        }
    }

    #[test]
    fn an_open_side_holds_everything_beyond() {
        let from = EventWindow::new(Some(at("2026-03-01T00:00:00Z")), None);
        assert!(from.contains(Some("2099-01-01T00:00:00Z")));
        assert!(!from.contains(Some("2026-02-01T00:00:00Z")));
        let to = EventWindow::new(None, Some(at("2026-03-01T00:00:00Z")));
        assert!(to.contains(Some("1999-01-01T00:00:00Z")));
        let open = EventWindow::default();
        assert!(open.contains(None) && open.contains(Some("not a time")));
    }

    #[test]
    fn a_bound_with_a_fraction_is_compared_by_time() {
        let window = EventWindow::new(Some(at("2026-03-01T00:00:00.500Z")), None);
        assert!(!window.contains(Some("2026-03-01T00:00:00Z")));
        assert!(window.contains(Some("2026-03-01T00:00:01Z")));
    }
}
