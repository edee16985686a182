//! The time a CloudTrail key carries, and the `--since`/`--until` window
//! that selects objects by it.
//!
//! CloudTrail writes `.../REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_x.json.gz`.
//! The key is known before the object is fetched, so selecting by it costs
//! no download; the records' own `eventTime`s may be some minutes older.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};

/// When a key says its object was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTime {
    /// The file name's `_YYYYMMDDTHHMMZ_` stamp.
    Minute(NaiveDateTime),
    /// Only the `YYYY/MM/DD/` folders.
    Day(NaiveDate),
}

impl KeyTime {
    /// The key's time (the stamp of its file name or, without one, its date
    /// folders), or `None` when it has neither or they are not real dates.
    pub fn of(key: &str) -> Option<KeyTime> {
        let (folders, name) = key.rsplit_once('/').unwrap_or(("", key));
        name.split(['_', '.'])
            .find_map(stamp)
            .map(KeyTime::Minute)
            .or_else(|| folder_date(folders).map(KeyTime::Day))
    }

    /// The time span the key stands for: its minute, or its whole day.
    fn span(self) -> (NaiveDateTime, NaiveDateTime) {
        match self {
            KeyTime::Minute(at) => (at, at + TimeDelta::minutes(1)),
            KeyTime::Day(day) => {
                let start = day.and_time(NaiveTime::MIN);
                (start, start + TimeDelta::days(1))
            }
        }
    }
}

/// `YYYYMMDDTHHMMZ`, as CloudTrail stamps its file names (UTC).
fn stamp(part: &str) -> Option<NaiveDateTime> {
    let bytes = part.as_bytes();
    // ASCII first: the slices below must fall on character boundaries.
    if !part.is_ascii() || bytes.len() != 14 || bytes[8] != b'T' || bytes[13] != b'Z' {
        return None;
    }
    let day = ymd(&part[..4], &part[4..6], &part[6..8])?;
    let time = NaiveTime::from_hms_opt(number(&part[9..11])?, number(&part[11..13])?, 0)?;
    Some(day.and_time(time))
}

/// The last `YYYY/MM/DD` run of folders: CloudTrail's date folders come
/// after the account and region, and a copy may add folders below them.
fn folder_date(folders: &str) -> Option<NaiveDate> {
    let parts: Vec<&str> = folders.split('/').collect();
    parts.windows(3).rev().find_map(|w| {
        let shaped = [(w[0], 4), (w[1], 2), (w[2], 2)]
            .iter()
            .all(|(part, len)| part.len() == *len && part.bytes().all(|b| b.is_ascii_digit()));
        // A run shaped like a date decides: 2024/13/45 is no date at all.
        shaped.then(|| ymd(w[0], w[1], w[2]))
    })?
}

fn ymd(year: &str, month: &str, day: &str) -> Option<NaiveDate> {
    let year = i32::try_from(number(year)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(month)?, number(day)?)
}

fn number(digits: &str) -> Option<u32> {
    digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse().ok())?
}

/// `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time, as `--since`/`--until`
/// take them; in UTC.
pub fn parse_bound(text: &str) -> Result<NaiveDateTime, String> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_time(NaiveTime::MIN));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.naive_utc())
        .map_err(|_| {
            format!("{text:?} is neither a date (2024-03-01) nor an RFC 3339 time (2024-03-01T12:00:00Z)")
        })
}

/// The objects to scan by the time in their keys: `since` inclusive,
/// `until` exclusive, so `--since 2024-03-01 --until 2024-04-01` is March
/// and consecutive runs neither overlap nor leave a gap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
}

impl Window {
    /// A window; an empty one (until not after since) is a mistake.
    pub fn new(
        since: Option<NaiveDateTime>,
        until: Option<NaiveDateTime>,
    ) -> Result<Window, String> {
        if let (Some(since), Some(until)) = (since, until) {
            if until <= since {
                return Err(format!(
                    "--until ({until}) must be after --since ({since}): --until is exclusive"
                ));
            }
        }
        Ok(Window { since, until })
    }

    /// No bound: every object is scanned, dated or not.
    pub fn is_open(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    /// Whether the key's time overlaps the window. A key dated only by its
    /// folders stands for its whole day, so it is scanned when any of that
    /// day is in the window.
    pub fn contains(&self, time: KeyTime) -> bool {
        let (start, end) = time.span();
        self.since.is_none_or(|since| end > since) && self.until.is_none_or(|until| start < until)
    }

    /// The first date folder worth listing: a day early, in case a file
    /// stamped just after midnight sits in the previous day's folder.
    pub fn first_folder(&self) -> Option<NaiveDate> {
        self.since.and_then(|since| since.date().pred_opt())
    }

    /// The last date folder worth listing: a day late, for the same reason.
    pub fn last_folder(&self) -> Option<NaiveDate> {
        self.until.and_then(|until| until.date().succ_opt())
    }
}

/// `YYYY/MM/DD`, as in CloudTrail's folders.
pub fn folder_path(day: NaiveDate) -> String {
    format!("{:04}/{:02}/{:02}", day.year(), day.month(), day.day())
}

/// The date of the `YYYY/MM/DD/` folders `rest` starts with, if it does.
pub fn leading_folder_date(rest: &str) -> Option<NaiveDate> {
    let mut parts = rest.splitn(4, '/');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next()?;
    folder_date(&format!("{year}/{month}/{day}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(text: &str) -> Option<KeyTime> {
        Some(KeyTime::Minute(parse_bound(text).expect("test time")))
    }

    fn day(y: i32, m: u32, d: u32) -> Option<KeyTime> {
        NaiveDate::from_ymd_opt(y, m, d).map(KeyTime::Day)
    }

    #[test]
    fn keys_are_dated_by_their_stamp_or_their_folders() {
        let cases = [
            // A regular trail's log, and its Insights file.
            ("AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/23/123456789012_CloudTrail_us-east-1_20261123T0815Z_Ab12.json.gz", minute("2026-11-23T08:15:00Z")),
            ("AWSLogs/123456789012/CloudTrail-Insight/eu-west-1/2024/02/29/123456789012_CloudTrail-Insight_eu-west-1_20240229T2355Z_x.json.gz", minute("2024-02-29T23:55:00Z")),
            // An organization trail, under a trail prefix.
            ("logs/AWSLogs/o-aa11bb22cc/111122223333/CloudTrail/ap-south-1/2025/01/31/111122223333_CloudTrail_ap-south-1_20250131T0000Z_q.json.gz", minute("2025-01-31T00:00:00Z")),
            // The stamp wins over the folders.
            ("AWSLogs/1/CloudTrail/us-east-1/2024/03/01/1_CloudTrail_us-east-1_20240302T0003Z_x.json.gz", minute("2024-03-02T00:03:00Z")),
            // Folders only: a copied or renamed file, a subfolder below the date.
            ("AWSLogs/1/CloudTrail/us-east-1/2024/03/01/copy.json.gz", day(2024, 3, 1)),
            ("AWSLogs/1/CloudTrail/us-east-1/2026/11/23/backfill run=1/f.json.gz", day(2026, 11, 23)),
            ("exports/2023/12/31/f.json", day(2023, 12, 31)),
            // A bad stamp falls back to the folders.
            ("AWSLogs/1/CloudTrail/us-east-1/2024/03/01/1_CloudTrail_us-east-1_20241345T9999Z_x.json.gz", day(2024, 3, 1)),
            // Not dated.
            ("uploads/backfill/log.json.gz", None),
            ("1_CloudTrail_us-east-1_2024030T0815Z_x.json.gz", None),
            ("AWSLogs/1/CloudTrail/us-east-1/2024/3/1/f.json.gz", None),
            ("AWSLogs/1/CloudTrail/us-east-1/24/03/01/f.json.gz", None),
            ("AWSLogs/1/CloudTrail/us-east-1/2024/03/f.json.gz", None),
            // Shaped like dates but not dates.
            ("AWSLogs/1/CloudTrail/us-east-1/2024/13/01/f.json.gz", None),
            ("AWSLogs/1/CloudTrail/us-east-1/2023/02/29/f.json.gz", None),
            ("AWSLogs/1/CloudTrail/us-east-1/2024/04/31/1_CloudTrail_us-east-1_20240431T1200Z_x.json.gz", None),
            ("f_20240101T2460Z_x.json.gz", None),
            ("f_2024010１T0000Z_x.json.gz", None),
            ("f_204é011T0000Z_x.json.gz", None),
            ("", None),
        ];
        for (key, want) in cases {
            assert_eq!(KeyTime::of(key), want, "{key}");
        }
    }

    #[test]
    fn bounds_are_dates_or_rfc3339_times_in_utc() {
        let at = |s: &str| parse_bound(s).map(|t| t.to_string());
        assert_eq!(at("2024-03-01"), Ok("2024-03-01 00:00:00".to_string()));
        assert_eq!(
            at("2024-03-01T12:30:00Z"),
            Ok("2024-03-01 12:30:00".to_string())
        );
        assert_eq!(
            at("2024-03-01T01:00:00+02:00"),
            Ok("2024-02-29 23:00:00".to_string())
        );
        for bad in [
            "2024-02-30",
            "yesterday",
            "2024-03-01T12:00",
            "",
            "03/01/2024",
        ] {
            let err = at(bad).expect_err(bad);
            assert!(err.contains("neither a date"), "{bad}: {err}");
        }
    }

    #[test]
    fn since_is_inclusive_until_exclusive() {
        let bound = |s: &str| parse_bound(s).ok();
        let march = Window::new(bound("2024-03-01"), bound("2024-04-01")).expect("window");
        let cases = [
            (minute("2024-02-29T23:59:00Z"), false),
            (minute("2024-03-01T00:00:00Z"), true),
            (minute("2024-03-31T23:59:00Z"), true),
            (minute("2024-04-01T00:00:00Z"), false),
            (day(2024, 2, 29), false),
            (day(2024, 3, 1), true),
            (day(2024, 3, 31), true),
            (day(2024, 4, 1), false),
        ];
        for (time, want) in cases {
            let time = time.expect("test time");
            assert_eq!(march.contains(time), want, "{time:?}");
        }
        // A day-only key is scanned when any of its day is in the window.
        let noon = Window::new(bound("2024-03-01T12:00:00Z"), None).expect("window");
        assert!(noon.contains(KeyTime::Day(
            NaiveDate::from_ymd_opt(2024, 3, 1).expect("day")
        )));
        assert!(!noon.contains(minute("2024-03-01T11:59:00Z").expect("time")));
        assert!(Window::new(bound("2024-03-02"), bound("2024-03-02")).is_err());
        assert!(Window::default().is_open());
    }

    #[test]
    fn folders_are_listed_with_a_day_to_spare() {
        let bound = |s: &str| parse_bound(s).ok();
        let window =
            Window::new(bound("2024-03-01T10:00:00Z"), bound("2024-03-31")).expect("window");
        assert_eq!(
            window.first_folder().map(folder_path).as_deref(),
            Some("2024/02/29")
        );
        assert_eq!(
            window.last_folder().map(folder_path).as_deref(),
            Some("2024/04/01")
        );
        assert_eq!(
            leading_folder_date("2024/03/05/f.json.gz")
                .map(folder_path)
                .as_deref(),
            Some("2024/03/05")
        );
        assert_eq!(leading_folder_date("2024/03/05"), None);
        assert_eq!(leading_folder_date("notes/f.json"), None);
    }
}
