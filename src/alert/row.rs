//! An alert as one row of columns: the line `trailwatch scan` prints on a
//! terminal and the record it writes as CSV. The values are the alert's as
//! the record has them; each view makes them safe for where they go
//! ([`Row::line`] for a terminal, [`Row::csv_fields`] for a spreadsheet).

use std::fmt::Write as _;

use super::render::{session_count, short_principal};
use super::safe_text::{cut_chars, one_line};
use super::Alert;

/// The columns of one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The first event's time (of several grouped, the earliest).
    pub first_time: Option<String>,
    /// The latest event's time, when several were grouped.
    pub last_time: Option<String>,
    /// `critical`, `high`, `medium`, `low` or `informational`.
    pub level: &'static str,
    pub rule_id: String,
    pub title: String,
    /// Who, as the subject line names them: for sessions folded into
    /// their role, the role.
    pub principal: Option<String>,
    /// Sessions folded into `principal` (`12`, or `50+` past the count).
    pub sessions: Option<String>,
    pub account: Option<String>,
    /// The account's name, when names were given (`ACCOUNT_NAMES`).
    pub account_name: Option<String>,
    pub region: Option<String>,
    pub event_source: Option<String>,
    pub event_name: Option<String>,
    pub error_code: Option<String>,
    pub source_ip: Option<String>,
    /// Findings in the alert (1 unless grouped or held back).
    pub count: u64,
    pub alert_id: String,
    /// The log object of the first finding.
    pub object: String,
    /// The rule's ATT&CK technique ids (`T1648 T1078.004`).
    pub attack: String,
}

/// The CSV header, in [`Row::csv_fields`]'s order.
pub const CSV_HEADER: [&str; 18] = [
    "first_time",
    "last_time",
    "level",
    "rule_id",
    "title",
    "principal",
    "account",
    "account_name",
    "region",
    "event_source",
    "event_name",
    "error_code",
    "source_ip",
    "count",
    "alert_id",
    "object",
    "sessions",
    "attack",
];

/// Widths of the terminal line's columns, in characters: the time is
/// CloudTrail's (`2026-03-01T12:00:00Z`), the level the longest name, the
/// account twelve digits (or a name and the id, [`NAMED_ACCOUNT`]); title
/// and principal are cut to fit.
const TIME: usize = 20;
const LEVEL: usize = 8;
const TITLE: usize = 44;
const PRINCIPAL: usize = 32;
pub const ACCOUNT: usize = 12;
/// The account column when accounts have names: `prod-payments
/// (111122223333)`.
pub const NAMED_ACCOUNT: usize = 30;
const REGION: usize = 14;
const COUNT: usize = 5;

impl Alert {
    /// This alert's columns.
    pub fn row(&self) -> Row {
        let occurrences = self.occurrences.as_ref();
        let sessions = occurrences.and_then(|seen| seen.sessions.as_ref());
        let principal = match sessions {
            Some(sessions) => Some(short_principal(&sessions.actor).to_string()),
            None => self
                .principal
                .as_deref()
                .map(|principal| short_principal(principal).to_string()),
        };
        let (first_time, last_time) = match occurrences {
            Some(seen) => (
                seen.first_time.clone().or_else(|| self.event_time.clone()),
                seen.last_time.clone(),
            ),
            None => (self.event_time.clone(), None),
        };
        let count = match (&self.held_back, occurrences) {
            (Some(held), _) => held.findings,
            (None, Some(seen)) => seen.count,
            (None, None) => 1,
        };
        Row {
            first_time,
            last_time,
            level: self.severity,
            rule_id: self.rule_id.clone(),
            title: self.title.clone(),
            principal,
            sessions: sessions.map(session_count),
            account: self.account.clone(),
            account_name: self.account_name.clone(),
            region: self.region.clone(),
            event_source: self.event_source.clone(),
            event_name: self.event_name.clone(),
            error_code: self.error_code.clone(),
            source_ip: self.source_ip.clone(),
            count,
            alert_id: self.alert_id.clone(),
            object: self.source.clone(),
            attack: self
                .attack
                .iter()
                .flat_map(|attack| &attack.techniques)
                .map(|technique| technique.id.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// How a level is shown on a terminal line.
pub fn level_label(level: &str) -> &'static str {
    match level {
        "critical" => "CRITICAL",
        "high" => "HIGH",
        "medium" => "MEDIUM",
        "low" => "LOW",
        _ => "INFO",
    }
}

impl Row {
    /// The header of the terminal view, aligned as [`Row::line`] with the
    /// same `account` width (12, or [`NAMED_ACCOUNT`]).
    pub fn line_header(account: usize) -> String {
        let mut line = String::new();
        let _ = write!(
            line,
            "{:<TIME$}  {:<LEVEL$}  {:<TITLE$}  {:<PRINCIPAL$}  {:<account$}  {:<REGION$}  {:>COUNT$}",
            "EVENT TIME", "LEVEL", "TITLE", "PRINCIPAL", "ACCOUNT", "REGION", "COUNT"
        );
        line.truncate(line.trim_end().len());
        line
    }

    /// The alert on one line, its columns aligned: every value made safe
    /// (a record's text can never move the cursor, change colours or start
    /// a line) and cut to its column. `paint` wraps the level's label
    /// (colour, when the terminal has it); the padding stays outside it.
    /// `account`: the account column's width (12, or [`NAMED_ACCOUNT`]
    /// when accounts have names).
    pub fn line(&self, account: usize, paint: impl Fn(&str, &str) -> String) -> String {
        let cell = |value: Option<&str>, width: usize| -> String {
            let shown = terminal_safe(value.unwrap_or("-"), width);
            let pad = width.saturating_sub(shown.chars().count());
            format!("{shown}{}", " ".repeat(pad))
        };
        let named = match (&self.account_name, &self.account) {
            (Some(name), Some(id)) => Some(format!("{name} ({id})")),
            (_, id) => id.clone(),
        };
        let principal = match (&self.principal, &self.sessions) {
            (Some(principal), Some(count)) => Some(format!("{principal} ({count} sessions)")),
            (principal, _) => principal.clone(),
        };
        let label = level_label(self.level);
        let level = format!(
            "{}{}",
            paint(self.level, label),
            " ".repeat(LEVEL.saturating_sub(label.len()))
        );
        let mut line = format!(
            "{}  {level}  {}  {}  {}  {}  {:>COUNT$}",
            cell(self.first_time.as_deref(), TIME),
            cell(Some(&self.title), TITLE),
            cell(principal.as_deref(), PRINCIPAL),
            cell(named.as_deref(), account),
            cell(self.region.as_deref(), REGION),
            self.count,
        );
        line.truncate(line.trim_end().len());
        line
    }

    /// The row as CSV fields, in [`CSV_HEADER`]'s order, each safe to open
    /// in a spreadsheet ([`spreadsheet_safe`]); the writer quotes them.
    pub fn csv_fields(&self) -> [String; 18] {
        let text = |value: &Option<String>| spreadsheet_safe(value.as_deref().unwrap_or_default());
        [
            text(&self.first_time),
            text(&self.last_time),
            self.level.to_string(),
            spreadsheet_safe(&self.rule_id),
            spreadsheet_safe(&self.title),
            text(&self.principal),
            text(&self.account),
            text(&self.account_name),
            text(&self.region),
            text(&self.event_source),
            text(&self.event_name),
            text(&self.error_code),
            text(&self.source_ip),
            self.count.to_string(),
            spreadsheet_safe(&self.alert_id),
            spreadsheet_safe(&self.object),
            text(&self.sessions),
            spreadsheet_safe(&self.attack),
        ]
    }
}

/// A principal as a line names it (`user/alice`, not its whole ARN), as
/// the subject line does.
pub fn principal_shown(principal: &str) -> &str {
    short_principal(principal)
}

/// `text` safe to print on a terminal ([`Row::line`]'s rules), cut to at
/// most `max` characters.
pub fn terminal_safe(text: &str, max: usize) -> String {
    let safe = one_line(text);
    match safe.chars().count() <= max {
        true => safe,
        // One character fewer, for the `…` a cut value ends with.
        false => cut_chars(&safe, max.saturating_sub(1)).into_owned(),
    }
}

/// A cell a spreadsheet will not run: text starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return is a formula to Excel, LibreOffice and
/// Google Sheets (OWASP, "CSV Injection"), so such text gets a leading `'`,
/// which they show as text. A user agent or a request parameter is the
/// caller's to choose.
pub fn spreadsheet_safe(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row {
            first_time: Some("2026-03-01T12:00:00Z".into()),
            last_time: None,
            level: "high",
            rule_id: "r1".into(),
            title: "Lambda Function Invoked By Unexpected Principal".into(),
            principal: Some("user/alice".into()),
            sessions: None,
            account: Some("111122223333".into()),
            account_name: None,
            region: Some("us-east-1".into()),
            event_source: Some("lambda.amazonaws.com".into()),
            event_name: Some("Invoke".into()),
            error_code: None,
            source_ip: Some("203.0.113.7".into()),
            count: 1,
            alert_id: "abc".into(),
            object: "logs/a.json.gz".into(),
            attack: "T1648".into(),
        }
    }

    #[test]
    fn lines_align_under_the_header() {
        let plain = |_: &str, label: &str| label.to_string();
        let header = Row::line_header(ACCOUNT);
        let mut long = row();
        long.title = "T".repeat(200);
        long.principal = Some("P".repeat(200));
        long.count = 12345;
        let lines = [row().line(ACCOUNT, plain), long.line(ACCOUNT, plain)];
        for column in ["LEVEL", "TITLE", "PRINCIPAL", "ACCOUNT", "REGION"] {
            let at = header.find(column).unwrap();
            for line in &lines {
                assert_eq!(line.chars().nth(at - 2), Some(' '), "{column} in {line}");
                assert_ne!(line.chars().nth(at), Some(' '), "{column} in {line}");
            }
        }
        // Every line is as long as the header (the count right-aligned).
        assert_eq!(lines[1].chars().count(), header.chars().count());
        assert!(lines[1].contains(&format!("{}…", "T".repeat(TITLE - 1))));
        assert!(lines[1].ends_with("12345"));
    }

    #[test]
    fn a_record_cannot_steer_the_terminal() {
        let mut hostile = row();
        hostile.principal = Some("user/\u{1b}[2J\u{1b}]0;owned\u{7}\r\nFAKE\u{202e}".into());
        hostile.title = "x\u{1b}[31mred".into();
        let line = hostile.line(ACCOUNT, |_, label| label.to_string());
        assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
        assert!(!line.contains('\u{202e}'), "{line:?}");
        assert!(line.contains("\\u001b[2J"), "{line:?}");
    }

    #[test]
    fn the_level_is_painted_and_padded_outside_the_paint() {
        let line = row().line(ACCOUNT, |level, label| format!("<{level}>{label}</>"));
        assert!(line.contains("  <high>HIGH</>      Lambda"), "{line}");
    }

    #[test]
    fn a_named_account_is_its_name_and_id_in_a_wider_column() {
        let mut named = row();
        named.account_name = Some("prod-payments".into());
        let header = Row::line_header(NAMED_ACCOUNT);
        let line = named.line(NAMED_ACCOUNT, |_, label| label.to_string());
        let at = header.find("REGION").unwrap();
        assert!(line.contains("  prod-payments (111122223333)  "), "{line}");
        let region: String = line.chars().skip(at).take(9).collect();
        assert_eq!(region, "us-east-1", "{header}\n{line}");
    }

    #[test]
    fn formulas_become_text() {
        for (text, shown) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("aws-cli/2", "aws-cli/2"),
            ("", ""),
        ] {
            assert_eq!(spreadsheet_safe(text), shown);
        }
    }
}
