//! What a person sees of a scan on a terminal: the level's colour on each
//! alert line, and the results summary printed on stderr at the end.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::IsTerminal;

use anstyle::{AnsiColor, Style};
use clap::ValueEnum;
use trailwatch::alert::row::{level_label, principal_shown, Row};
use trailwatch::alert::Finding;

/// `--color`: whether lines are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When the output is a terminal and `NO_COLOR` is unset or empty.
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour an output that `is_terminal` says is one or not
    /// (no-color.org: a `NO_COLOR` that is set and not empty turns colour
    /// off; an explicit `--color always` still wins).
    pub fn colours(self, is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                is_terminal && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
            }
        }
    }

    pub fn stdout(self) -> bool {
        self.colours(std::io::stdout().is_terminal())
    }

    pub fn stderr(self) -> bool {
        self.colours(std::io::stderr().is_terminal())
    }
}

/// The colour of a level: the more severe, the louder.
fn level_style(level: &str) -> Style {
    let colour = match level {
        "critical" => {
            return Style::new()
                .bold()
                .fg_color(Some(AnsiColor::Magenta.into()))
        }
        "high" => AnsiColor::Red,
        "medium" => AnsiColor::Yellow,
        "low" => AnsiColor::Cyan,
        _ => return Style::new().dimmed(),
    };
    Style::new().fg_color(Some(colour.into()))
}

/// `text` in the colour of `level` when `colour` is on.
pub fn paint(colour: bool, level: &str, text: &str) -> String {
    if !colour {
        return text.to_string();
    }
    let style = level_style(level);
    format!("{}{text}{}", style.render(), style.render_reset())
}

/// Distinct principals the summary counts alerts for; the rest are
/// counted together, so memory stays bounded on any scan.
const MAX_PRINCIPALS: usize = 10_000;
/// Rules and principals listed in the summary.
const TOP: usize = 5;
/// The longest bar, in characters.
const BAR: u64 = 30;

const LEVELS: [&str; 5] = ["critical", "high", "medium", "low", "informational"];

/// What the summary reads of one alert.
struct Parts<'a> {
    level: &'a str,
    rule_id: &'a str,
    title: &'a str,
    principal: Option<&'a str>,
    first_time: Option<&'a str>,
    last_time: Option<&'a str>,
    count: u64,
}

/// What the alerts printed add up to.
#[derive(Debug, Default)]
pub struct Tally {
    alerts: u64,
    findings: u64,
    levels: [u64; 5],
    /// Alerts per rule: (title, count), by rule id.
    rules: BTreeMap<String, (String, u64)>,
    principals: HashMap<String, u64>,
    /// Alerts whose principal was not counted by name (past
    /// [`MAX_PRINCIPALS`]).
    other_principals: u64,
    first_time: Option<String>,
    last_time: Option<String>,
    /// Alerts per day of their first event (`YYYY-MM-DD`).
    days: BTreeMap<String, u64>,
}

impl Tally {
    /// Adds an alert printed.
    pub fn add(&mut self, row: &Row) {
        self.add_parts(Parts {
            level: row.level,
            rule_id: &row.rule_id,
            title: &row.title,
            principal: row.principal.as_deref(),
            first_time: row.first_time.as_deref(),
            last_time: row.last_time.as_deref(),
            count: row.count,
        });
    }

    /// Adds the alert of one finding, printed without its alert built
    /// (`--every-finding --format json`): only what the summary shows is
    /// read.
    pub fn add_finding(&mut self, finding: &Finding) {
        let principal = finding.principal();
        let time = finding.record.event_time();
        self.add_parts(Parts {
            level: finding.rule.level.as_str(),
            rule_id: &finding.rule.id,
            title: &finding.rule.title,
            principal: principal.as_deref().map(principal_shown),
            first_time: time.as_deref(),
            last_time: None,
            count: 1,
        });
    }

    fn add_parts(&mut self, alert: Parts<'_>) {
        self.alerts += 1;
        self.findings += alert.count;
        let level = LEVELS.iter().position(|l| *l == alert.level).unwrap_or(4);
        self.levels[level] += 1;
        match self.rules.get_mut(alert.rule_id) {
            Some((_, count)) => *count += 1,
            None => {
                let entry = (alert.title.to_string(), 1);
                self.rules.insert(alert.rule_id.to_string(), entry);
            }
        }
        if let Some(principal) = alert.principal {
            let room = self.principals.len() < MAX_PRINCIPALS;
            match self.principals.get_mut(principal) {
                Some(count) => *count += 1,
                None if room => {
                    self.principals.insert(principal.to_string(), 1);
                }
                None => self.other_principals += 1,
            }
        }
        // CloudTrail's times are ISO 8601 UTC: text order is time order.
        if let Some(first) = alert.first_time {
            if self.first_time.as_deref().is_none_or(|kept| first < kept) {
                self.first_time = Some(first.to_string());
            }
            if let Some(day) = first.get(..10).filter(|day| is_day(day)) {
                match self.days.get_mut(day) {
                    Some(count) => *count += 1,
                    None => {
                        self.days.insert(day.to_string(), 1);
                    }
                }
            }
        }
        if let Some(last) = alert.last_time.or(alert.first_time) {
            if self.last_time.as_deref().is_none_or(|kept| last > kept) {
                self.last_time = Some(last.to_string());
            }
        }
    }

    /// The summary, lines to print on stderr; nothing when there was no
    /// alert (the scan's own last line says so).
    pub fn render(&self, colour: bool) -> String {
        let mut out = String::new();
        if self.alerts == 0 {
            return out;
        }
        let safe = |text: &str| trailwatch::alert::row::terminal_safe(text, 60);
        let _ = write!(
            out,
            "\n{} alert(s) from {} finding(s)",
            self.alerts, self.findings
        );
        if let (Some(first), Some(last)) = (&self.first_time, &self.last_time) {
            let _ = write!(out, ", events {} to {}", safe(first), safe(last));
        }
        out.push('\n');
        let most = self.levels.iter().copied().max().unwrap_or(0);
        let mut heading = "by level";
        for (level, count) in LEVELS.iter().zip(self.levels) {
            if count == 0 {
                continue;
            }
            let bar = paint(colour, level, &bar(count, most));
            let label = level_label(level);
            let _ = writeln!(out, "  {heading:<12}{label:<10}{count:>7}  {bar}");
            heading = "";
        }
        let mut rules: Vec<(&String, u64)> = self
            .rules
            .values()
            .map(|(title, count)| (title, *count))
            .collect();
        rules.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        heading = "by rule";
        for (title, count) in rules.iter().take(TOP) {
            let _ = writeln!(out, "  {heading:<12}{count:>7}  {}", safe(title));
            heading = "";
        }
        if rules.len() > TOP {
            let _ = writeln!(out, "  {:<12}{:>7}  more rules", "", rules.len() - TOP);
        }
        let mut principals: Vec<(&String, &u64)> = self.principals.iter().collect();
        principals.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        heading = "principals";
        for (principal, count) in principals.iter().take(TOP) {
            let _ = writeln!(out, "  {heading:<12}{count:>7}  {}", safe(principal));
            heading = "";
        }
        let others = principals.len().saturating_sub(TOP) as u64;
        if others > 0 || self.other_principals > 0 {
            let more = match self.other_principals {
                0 => format!("{others} more principal(s)"),
                alerts => {
                    format!("{others}+ more principal(s), {alerts} alert(s) not counted by name")
                }
            };
            let _ = writeln!(out, "  {:<12}{:>7}  {more}", "", "");
        }
        if self.days.len() > 1 {
            let most = self.days.values().copied().max().unwrap_or(0);
            heading = "per day";
            for (day, count) in &self.days {
                let _ = writeln!(
                    out,
                    "  {heading:<12}{day}  {count:>7}  {}",
                    bar(*count, most)
                );
                heading = "";
            }
        }
        out
    }
}

/// `YYYY-MM-DD`.
fn is_day(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(at, b)| match at {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

/// A bar of `count` against the largest, `most`: at least one block for
/// any count above zero.
fn bar(count: u64, most: u64) -> String {
    let blocks = match most {
        0 => 0,
        most => (count * BAR).div_ceil(most).max(1),
    };
    "█".repeat(blocks as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(level: &'static str, rule: &str, principal: &str, time: &str, count: u64) -> Row {
        Row {
            first_time: Some(time.to_string()),
            last_time: None,
            level,
            rule_id: rule.to_string(),
            title: format!("Title of {rule}"),
            principal: Some(principal.to_string()),
            sessions: None,
            account: None,
            account_name: None,
            region: None,
            event_source: None,
            event_name: None,
            error_code: None,
            source_ip: None,
            count,
            alert_id: String::new(),
            object: String::new(),
        }
    }

    #[test]
    fn the_summary_adds_up_levels_rules_principals_and_days() {
        let mut tally = Tally::default();
        tally.add(&row("high", "a", "user/alice", "2026-03-01T10:00:00Z", 3));
        tally.add(&row("high", "a", "user/bob", "2026-03-02T10:00:00Z", 1));
        tally.add(&row(
            "critical",
            "b",
            "user/alice",
            "2026-03-02T11:00:00Z",
            1,
        ));
        let text = tally.render(false);
        assert!(
            text.contains(
                "3 alert(s) from 5 finding(s), events 2026-03-01T10:00:00Z to 2026-03-02T11:00:00Z"
            ),
            "{text}"
        );
        assert!(text.contains("by level    CRITICAL        1  "), "{text}");
        assert!(text.contains("            HIGH            2  "), "{text}");
        assert!(text.contains("by rule           2  Title of a"), "{text}");
        assert!(text.contains("principals        2  user/alice"), "{text}");
        assert!(text.contains("per day     2026-03-01        1  "), "{text}");
        assert!(text.contains("            2026-03-02        2  "), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        let coloured = tally.render(true);
        assert!(coloured.contains("\u{1b}[31m"), "{coloured}");
    }

    #[test]
    fn one_day_has_no_chart_and_no_alert_no_summary() {
        let mut tally = Tally::default();
        assert_eq!(tally.render(false), "");
        tally.add(&row("low", "a", "user/alice", "2026-03-01T10:00:00Z", 1));
        assert!(!tally.render(false).contains("per day"));
    }

    #[test]
    fn principals_are_counted_up_to_the_cap() {
        let mut tally = Tally::default();
        for n in 0..MAX_PRINCIPALS + 5 {
            tally.add(&row(
                "low",
                "a",
                &format!("user/u{n}"),
                "2026-03-01T10:00:00Z",
                1,
            ));
        }
        assert_eq!(tally.principals.len(), MAX_PRINCIPALS);
        assert_eq!(tally.other_principals, 5);
        let text = tally.render(false);
        assert!(
            text.contains("9995+ more principal(s), 5 alert(s) not counted by name"),
            "{text}"
        );
    }

    #[test]
    fn colour_follows_the_choice_and_no_color() {
        assert!(ColorChoice::Always.colours(false));
        assert!(!ColorChoice::Never.colours(true));
        assert!(!ColorChoice::Auto.colours(false));
    }
}
