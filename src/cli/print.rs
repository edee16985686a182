//! Where a scan's alerts go: stdout, in the format asked for, each as it
//! is found or grouped as in the Lambda function and printed at the end;
//! and the terminal a backfill's threads report to.

use std::io::{self, Write};
use std::sync::{Mutex, PoisonError};

use trailwatch::alert::group::{Closed, Grouper};
use trailwatch::alert::row::{Row, ACCOUNT, CSV_HEADER, NAMED_ACCOUNT};
use trailwatch::alert::{AccountNames, Alert, Finding, RuleTexts};
use trailwatch::backfill::progress::Progress;
use trailwatch::backfill::Output;

use super::view::{paint, Tally};
use super::{Format, GroupingArgs, OutputArgs};

/// Where alerts go, the one place that prints them: stdout, each as it is
/// found or grouped as in the Lambda function and printed at the end.
pub(super) struct Printer {
    grouper: Option<Grouper>,
    pub(super) alerts: u64,
    view: View,
    /// What the printed alerts add up to, for the results summary (none
    /// with `--quiet`, and for `verify`).
    pub(super) tally: Option<Tally>,
    /// The summary is coloured (stderr is a terminal, or `--color always`).
    summary_colour: bool,
}

/// Alert groups a scan keeps open (2.5 to 4 KB each, with its first
/// record): past it, the least recently active tenth are printed and
/// closed (README "The command line").
const OPEN_GROUPS: usize = 50_000;

/// A group is printed once the newest event read is this many hours of
/// event time past its own newest finding: a backfill prints as it goes.
const IDLE_HOURS: i64 = 24;

impl Printer {
    pub(super) fn new(output: &OutputArgs, grouping: &GroupingArgs) -> Printer {
        Printer {
            grouper: (!grouping.every_finding).then(|| {
                Grouper::new(grouping.max_alerts.map(|n| n.max(1)))
                    .with_open_limit(OPEN_GROUPS)
                    .with_idle_window(chrono::TimeDelta::hours(IDLE_HOURS))
            }),
            alerts: 0,
            view: View {
                out: io::stdout(),
                format: output.format.unwrap_or(Format::Line),
                colour: output.color.stdout(),
                json: JsonLines::default(),
                headed: false,
            },
            tally: None,
            summary_colour: output.color.stderr(),
        }
    }

    /// Alerts printed name their account from `names` where it knows it.
    pub(super) fn with_account_names(mut self, names: AccountNames) -> Printer {
        self.view.json.names = names;
        self
    }

    /// Takes one finding; false when stdout is closed (e.g. piped into
    /// `head`), which stops the scan.
    pub(super) fn take(&mut self, finding: Finding) -> bool {
        match self.grouper.as_mut() {
            Some(grouper) => {
                grouper.add(finding, 0);
                // Groups closed to keep memory flat are printed now.
                for closed in grouper.take_closed_lean() {
                    if !self.view.closed(closed, self.tally.as_mut()) {
                        return false;
                    }
                    self.alerts += 1;
                }
                true
            }
            None => {
                self.alerts += 1;
                self.view.finding(&finding, self.tally.as_mut())
            }
        }
    }

    /// Prints the grouped alerts; false when stdout is closed.
    pub(super) fn finish(&mut self) -> bool {
        if let Some(grouper) = self.grouper.take() {
            for closed in grouper.into_closed() {
                if !self.view.closed(closed, self.tally.as_mut()) {
                    return false;
                }
                self.alerts += 1;
            }
        }
        self.view.finish()
    }

    /// The results summary on stderr (nothing when there was no alert, or
    /// with `--quiet`).
    pub(super) fn summarise(&self) {
        if let Some(tally) = &self.tally {
            eprint!("{}", tally.render(self.summary_colour));
        }
    }
}

/// Alerts printed in one format on stdout.
struct View {
    out: io::Stdout,
    format: Format,
    /// Lines are coloured.
    colour: bool,
    json: JsonLines,
    /// The header (of the lines, of the CSV) is printed.
    headed: bool,
}

impl View {
    /// Prints a finding's alert (JSON: its document, without the alert
    /// built first); false when stdout is closed.
    fn finding(&mut self, finding: &Finding, tally: Option<&mut Tally>) -> bool {
        match self.format {
            Format::Json => {
                if let Some(tally) = tally {
                    tally.add_finding(finding);
                }
                self.json.print(&mut self.out, |line, texts, names| {
                    finding.write_named_document(line, usize::MAX, Some(texts), names);
                })
            }
            _ => self.alert(&finding.alert(), tally),
        }
    }

    /// Prints a closed group: a group of one as its finding.
    fn closed(&mut self, closed: Closed, tally: Option<&mut Tally>) -> bool {
        match closed {
            Closed::One { finding, .. } => self.finding(&finding, tally),
            Closed::Several(grouped) => self.alert(&grouped.alert, tally),
        }
    }

    /// Prints one alert; false when stdout is closed.
    fn alert(&mut self, alert: &Alert, tally: Option<&mut Tally>) -> bool {
        let named = self.json.names.named(alert);
        let alert = named.as_ref().unwrap_or(alert);
        let row = match (self.format, tally) {
            (Format::Line | Format::Csv, tally) => {
                let row = alert.row();
                if let Some(tally) = tally {
                    tally.add(&row);
                }
                Some(row)
            }
            (_, Some(tally)) => {
                tally.add(&alert.row());
                None
            }
            (_, None) => None,
        };
        if !self.head() {
            return false;
        }
        let colour = self.colour;
        match (self.format, row) {
            (Format::Email, _) => {
                writeln!(self.out, "{}\n{}", alert.text(), "-".repeat(72)).is_ok()
            }
            (Format::Json, _) => self.json.print(&mut self.out, |line, texts, _| {
                alert.write_document(line, usize::MAX, Some(texts));
            }),
            (Format::Line, Some(row)) => {
                let line = row.line(self.account_width(), |level, label| {
                    paint(colour, level, label)
                });
                writeln!(self.out, "{line}").is_ok()
            }
            (Format::Csv, Some(row)) => write_csv(&mut self.out, &row.csv_fields()),
            (Format::Line | Format::Csv, None) => true,
        }
    }

    /// The account column's width: wider when accounts have names.
    fn account_width(&self) -> usize {
        match self.json.names.is_empty() {
            true => ACCOUNT,
            false => NAMED_ACCOUNT,
        }
    }

    /// The header, before the first alert line or CSV record.
    fn head(&mut self) -> bool {
        if self.headed {
            return true;
        }
        self.headed = true;
        match self.format {
            Format::Line => {
                writeln!(self.out, "{}", Row::line_header(self.account_width())).is_ok()
            }
            Format::Csv => write_csv(&mut self.out, &CSV_HEADER),
            Format::Email | Format::Json => true,
        }
    }

    /// At the end: a CSV has its header even with no alert (a table with
    /// no rows); false when stdout is closed.
    fn finish(&mut self) -> bool {
        let headed = match self.format {
            Format::Csv => self.head(),
            _ => true,
        };
        headed && self.out.flush().is_ok()
    }
}

/// One CSV record (RFC 4180: quoted where a field needs it) on `out`.
fn write_csv<T: AsRef<[u8]>>(out: &mut impl Write, fields: &[T]) -> bool {
    let mut writer = csv::Writer::from_writer(Vec::new());
    if writer.write_record(fields).is_err() {
        return false;
    }
    match writer.into_inner() {
        Ok(bytes) => out.write_all(&bytes).is_ok(),
        Err(_) => false,
    }
}

/// The terminal a backfill reports to, from its scanning threads.
pub(super) struct Console {
    pub(super) printer: Mutex<Printer>,
    pub(super) progress: Progress,
}

impl Output for Console {
    fn finding(&self, finding: Finding) -> bool {
        let mut printer = self.printer.lock().unwrap_or_else(PoisonError::into_inner);
        if printer.grouper.is_some() {
            printer.take(finding)
        } else {
            // Printed now: not into the middle of the progress bar.
            self.progress.suspend(|| printer.take(finding))
        }
    }

    fn problem(&self, line: &str) {
        self.progress.println(&format!("trailwatch: {line}"));
    }
}

/// JSON documents printed one per line through one buffer, used again,
/// with each rule's texts written once (`alert.json()`'s bytes); and the
/// account names every alert printed, text or JSON, is given.
#[derive(Default)]
struct JsonLines {
    line: Vec<u8>,
    texts: RuleTexts,
    names: AccountNames,
}

impl JsonLines {
    /// Prints the document `write` appends; false when stdout is closed.
    fn print(
        &mut self,
        out: &mut impl Write,
        write: impl FnOnce(&mut Vec<u8>, &mut RuleTexts, &AccountNames),
    ) -> bool {
        self.line.clear();
        write(&mut self.line, &mut self.texts, &self.names);
        self.line.push(b'\n');
        let printed = out.write_all(&self.line).is_ok();
        // The buffer of an unusually large record is not kept.
        if self.line.capacity() > 1 << 20 {
            self.line = Vec::new();
        }
        printed
    }
}
