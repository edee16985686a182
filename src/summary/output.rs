//! The summary's rows printed: an aligned table for a person at a
//! terminal, one JSON object per row, or CSV for a spreadsheet. Records are
//! attacker-controlled text: the table and CSV escape what a terminal or a
//! spreadsheet would not show as it is ([`one_line`]: `\u001b`, `\n`), and
//! CSV quotes every cell and disarms formulas. JSON keeps the values as
//! they are (escaped as JSON escapes them), for machines.

use std::io::{self, Write};

use serde_json::{json, Value};

use super::{Calls, Row, Values};
use crate::alert::row::{spreadsheet_safe, terminal_safe};
use crate::alert::safe_text::one_line;

/// How the rows are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// What a row is called where it has no principal of its own.
fn name_of(row: &Row) -> String {
    match (&row.principal, row.others) {
        (Some(principal), _) => principal.clone(),
        (None, 0) => "(no principal)".to_string(),
        (None, n) => format!(
            "(other principals: {n}{})",
            if row.others_more { "+" } else { "" }
        ),
    }
}

/// Widest principal shown in the table; longer ones are cut.
const PRINCIPAL_WIDTH: usize = 80;

/// An aligned table, one line per row; every value made safe for a
/// terminal.
pub fn write_table(out: &mut impl Write, rows: &[Row]) -> io::Result<()> {
    let header = [
        "PRINCIPAL",
        "EVENTS",
        "FIRST",
        "LAST",
        "REGIONS",
        "IPS",
        "SENSITIVE FAILED/OK",
        "ALERTS",
        "FINDINGS",
    ];
    let lines: Vec<[String; 9]> = rows
        .iter()
        .map(|row| {
            [
                terminal_safe(&name_of(row), PRINCIPAL_WIDTH),
                row.events.to_string(),
                terminal_safe(row.first_time.as_deref().unwrap_or("-"), 40),
                terminal_safe(row.last_time.as_deref().unwrap_or("-"), 40),
                listed(&row.regions, 2),
                listed(&row.source_ips, 1),
                format!("{}/{}", row.sensitive.failed, row.sensitive.succeeded),
                row.alerts.len().to_string(),
                row.findings().to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(|title| title.chars().count());
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header = header.map(str::to_string);
    for line in std::iter::once(&header).chain(&lines) {
        let mut text = String::new();
        for (at, (cell, width)) in line.iter().zip(widths).enumerate() {
            let pad = width.saturating_sub(cell.chars().count());
            // Counts right-aligned, text left-aligned.
            let numeric = matches!(at, 1 | 7 | 8);
            if numeric {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
            }
            text.push_str("  ");
        }
        writeln!(out, "{}", text.trim_end())?;
    }
    Ok(())
}

/// The first `show` values made safe, and how many more: `us-east-1 +2`.
fn listed(values: &Values, show: usize) -> String {
    if values.count() == 0 {
        return "-".to_string();
    }
    let shown: Vec<String> = values
        .kept()
        .iter()
        .take(show)
        .map(|value| terminal_safe(value, 40))
        .collect();
    let rest = values.count().saturating_sub(shown.len());
    let plus = if values.more() { "+" } else { "" };
    match rest {
        0 => shown.join(","),
        _ => format!("{} +{rest}{plus}", shown.join(",")),
    }
}

fn values_json(values: &Values) -> Value {
    json!({
        "count": values.count(),
        "more": values.more(),
        "values": values.kept(),
    })
}

fn calls_json(calls: Calls) -> Value {
    json!({"succeeded": calls.succeeded, "failed": calls.failed})
}

/// A row as JSON, with every detail (values as the records hold them:
/// JSON escapes what needs escaping).
pub fn row_json(row: &Row) -> Value {
    let apis: Vec<Value> = row
        .apis
        .iter()
        .map(|(api, calls)| json!({"api": api, "succeeded": calls.succeeded, "failed": calls.failed}))
        .collect();
    let alerts: Vec<Value> = row
        .alerts
        .iter()
        .map(|(id, rule)| {
            json!({"rule_id": id, "title": rule.title, "level": rule.level, "findings": rule.findings})
        })
        .collect();
    let mut object = json!({
        "principal": row.principal,
        "principal_type": row.principal_type,
        "events": row.events,
        "first_time": row.first_time,
        "last_time": row.last_time,
        "sessions": values_json(&row.sessions),
        "regions": values_json(&row.regions),
        "source_ips": values_json(&row.source_ips),
        "user_agents": values_json(&row.user_agents),
        "access_keys": values_json(&row.access_keys),
        "sensitive": {
            "succeeded": row.sensitive.succeeded,
            "failed": row.sensitive.failed,
            "apis": apis,
            "other_apis": calls_json(row.apis_more),
        },
        "alerts": alerts,
        "findings": row.findings(),
    });
    if row.others > 0 {
        object["other_principals"] = json!({"count": row.others, "more": row.others_more});
    }
    object
}

/// One JSON object per row, one per line.
pub fn write_json(out: &mut impl Write, rows: &[Row]) -> io::Result<()> {
    for row in rows {
        serde_json::to_writer(&mut *out, &row_json(row))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

const CSV_HEADER: [&str; 17] = [
    "principal",
    "principal_type",
    "events",
    "first_time",
    "last_time",
    "sessions",
    "regions",
    "source_ips",
    "user_agents",
    "access_keys",
    "sensitive_succeeded",
    "sensitive_failed",
    "sensitive_apis",
    "alerts",
    "findings",
    "rules",
    "other_principals",
];

/// A set's values in one cell, `; ` between them, and how many more.
fn cell_of(values: &Values) -> String {
    let rest = values.count().saturating_sub(values.kept().len());
    let mut cell = values.kept().join("; ");
    if rest > 0 || values.more() {
        let plus = if values.more() { "+" } else { "" };
        cell.push_str(&format!("; (+{rest}{plus} more)"));
    }
    cell
}

/// A header and one line per row (RFC 4180: CRLF, every cell quoted),
/// each value escaped as in the table.
pub fn write_csv(out: &mut impl Write, rows: &[Row]) -> io::Result<()> {
    write_csv_line(out, CSV_HEADER.iter().map(|h| h.to_string()))?;
    for row in rows {
        let apis: Vec<String> = row
            .apis
            .iter()
            .map(|(api, calls)| format!("{api} {}/{}", calls.failed, calls.succeeded))
            .collect();
        let rules: Vec<String> = row
            .alerts
            .iter()
            .map(|(id, rule)| format!("{} ({id}): {}", rule.title, rule.findings))
            .collect();
        let others = match row.others {
            0 => String::new(),
            n => format!("{n}{}", if row.others_more { "+" } else { "" }),
        };
        write_csv_line(
            out,
            [
                row.principal.clone().unwrap_or_default(),
                row.principal_type.clone().unwrap_or_default(),
                row.events.to_string(),
                row.first_time.clone().unwrap_or_default(),
                row.last_time.clone().unwrap_or_default(),
                cell_of(&row.sessions),
                cell_of(&row.regions),
                cell_of(&row.source_ips),
                cell_of(&row.user_agents),
                cell_of(&row.access_keys),
                row.sensitive.succeeded.to_string(),
                row.sensitive.failed.to_string(),
                apis.join("; "),
                row.alerts.len().to_string(),
                row.findings().to_string(),
                rules.join("; "),
                others,
            ]
            .into_iter(),
        )?;
    }
    Ok(())
}

fn write_csv_line(out: &mut impl Write, cells: impl Iterator<Item = String>) -> io::Result<()> {
    // Escaped as in the table: a spreadsheet, like a terminal, would show a
    // bidi override or a control character as something else.
    let cells: Vec<String> = cells.map(|cell| csv_cell(&one_line(&cell))).collect();
    out.write_all(cells.join(",").as_bytes())?;
    out.write_all(b"\r\n")
}

/// A cell quoted as RFC 4180 quotes it, a formula disarmed as `scan`'s
/// CSV disarms it ([`spreadsheet_safe`]: a leading `'`).
pub fn csv_cell(value: &str) -> String {
    format!("\"{}\"", spreadsheet_safe(value).replace('"', "\"\""))
}
