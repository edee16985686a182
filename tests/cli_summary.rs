//! `trailwatch summary` as a user runs it: one row per principal, folded
//! as alerts fold them, in a table, JSON lines or CSV; hostile text made
//! harmless; memory bounded by a cap on rows.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn trailwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .expect("run trailwatch")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 on stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

/// An alert's actor as the summary names it: the role (or issuer) of the
/// sessions it grouped, the session issuer of one session, else its
/// principal.
fn actor_of(alert: &Value) -> String {
    let principal = alert["principal"].as_str().unwrap_or_default();
    let session = principal.contains(":assumed-role/") || principal.contains(":federated-user/");
    alert["occurrences"]["sessions"]["actor"]
        .as_str()
        .or(alert["session_issuer"].as_str().filter(|_| session))
        .unwrap_or(principal)
        .to_string()
}

/// (actor, rule id) -> findings, from `scan --format json` (grouped by
/// default) and from the summary's JSON.
fn alerts_by_actor(scan: &[Value]) -> BTreeMap<(String, String), u64> {
    scan.iter()
        .map(|alert| {
            let count = alert["occurrences"]["count"].as_u64().unwrap_or(1);
            let rule = alert["rule_id"].as_str().unwrap_or_default().to_string();
            ((actor_of(alert), rule), count)
        })
        .collect()
}

fn summary_alerts(rows: &[Value]) -> BTreeMap<(String, String), u64> {
    rows.iter()
        .flat_map(|row| {
            let principal = row["principal"].as_str().unwrap_or_default().to_string();
            row["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |rule| {
                    let id = rule["rule_id"].as_str().unwrap_or_default().to_string();
                    (
                        (principal.clone(), id),
                        rule["findings"].as_u64().unwrap_or(0),
                    )
                })
        })
        .collect()
}

#[test]
fn the_bundled_samples_summarise_with_the_alerts_scan_prints() {
    let output = trailwatch(&["summary", "events/logs"]);
    assert!(output.status.success(), "{}", stderr(&output));
    // Not a terminal: JSON lines by default.
    let rows = json_lines(&output);
    let principals: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["principal"].as_str())
        .collect();
    assert_eq!(
        principals,
        [
            "arn:aws:iam::123456789012:user/bob",
            "arn:aws:iam::123456789012:user/alice",
            "arn:aws:iam::123456789012:user/carol",
            "arn:aws:iam::123456789012:root",
            "s3.amazonaws.com",
        ],
        "most findings first, then most events"
    );
    let alice = &rows[1];
    assert_eq!(alice["events"], 5);
    assert_eq!(
        alice["access_keys"]["values"].as_array().map(Vec::len),
        Some(2)
    );
    let apis: Vec<&str> = alice["sensitive"]["apis"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|api| api["api"].as_str())
        .collect();
    assert!(apis.contains(&"signin:ConsoleLogin"), "{apis:?}");
    let events: u64 = rows.iter().filter_map(|r| r["events"].as_u64()).sum();
    assert!(
        stderr(&output).contains(&format!("{events} record(s)")),
        "every record in one row: {}",
        stderr(&output)
    );
    let scan = trailwatch(&["scan", "--format", "json", "events/logs"]);
    assert_eq!(summary_alerts(&rows), alerts_by_actor(&json_lines(&scan)));
}

/// A generated log whose planted records come from sessions of many
/// roles: the rows are the roles, and their alerts are scan's.
#[test]
fn sessions_fold_into_their_roles_as_alerts_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("crowd.json.gz");
    let log = log.to_str().expect("a UTF-8 path");
    let made = trailwatch(&[
        "generate",
        log,
        "--records",
        "4000",
        "--planted-per-mille",
        "200",
        "--principals",
        "60",
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    let output = trailwatch(&["summary", "--format", "json", log]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = json_lines(&output);
    let roles: Vec<&Value> = rows
        .iter()
        .filter(|r| {
            r["principal"]
                .as_str()
                .is_some_and(|p| p.contains(":role/load-role-"))
        })
        .collect();
    assert!(roles.len() > 10, "{} roles", roles.len());
    assert!(
        !rows.iter().any(|r| r["principal"]
            .as_str()
            .is_some_and(|p| p.contains("assumed-role/load-role-"))),
        "no session has a row of its own"
    );
    assert!(roles
        .iter()
        .any(|r| r["sessions"]["count"].as_u64() > Some(1)));
    let scan = trailwatch(&["scan", "--format", "json", log]);
    let expected = alerts_by_actor(&json_lines(&scan));
    assert!(expected.len() > 20, "{} alerts", expected.len());
    assert_eq!(summary_alerts(&rows), expected);
}

/// A log with hostile text where a person will look at it.
fn hostile_log(dir: &Path) -> String {
    let record = |arn: &str, agent: &str, ip: &str, extra: &str| {
        serde_json::json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "arn": arn, "accessKeyId": "AKIAHOSTILE"},
            "eventTime": "2024-03-01T10:00:00Z",
            "eventSource": "iam.amazonaws.com",
            "eventName": extra,
            "awsRegion": "us-east-1",
            "sourceIPAddress": ip,
            "userAgent": agent,
            "readOnly": false,
        })
    };
    let records = [
        record(
            "arn:aws:iam::1:user/\u{1b}[31mred\u{1b}[0m",
            "agent \u{1b}]0;owned\u{7} \u{202e}txt.exe",
            "=cmd|' /C calc'!A0",
            "CreateUser",
        ),
        record(
            "=HYPERLINK(\"http://evil\",\"x\")",
            "quote \" comma , newline \n end",
            "+1+1",
            "CreateAccessKey",
        ),
    ];
    let path = dir.join("hostile.json");
    let log = serde_json::json!({"Records": records});
    std::fs::write(&path, log.to_string()).expect("written");
    path.to_str().expect("a UTF-8 path").to_string()
}

#[test]
fn the_table_shows_hostile_text_escaped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = hostile_log(dir.path());
    let output = trailwatch(&["summary", "--format", "table", &log]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(
        !table
            .chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
        "{table:?}"
    );
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("PRINCIPAL"), "{table}");
    assert!(
        table.contains(r"arn:aws:iam::1:user/\u001b[31mred\u001b[0m"),
        "{table}"
    );
    // Aligned: every line's EVENTS column ends where the header's does.
    let end = lines[0].find("EVENTS").expect("an EVENTS column") + "EVENTS".len();
    for line in &lines[1..] {
        let chars: Vec<char> = line.chars().collect();
        let header: Vec<char> = lines[0].chars().collect();
        let at = header[..end].len();
        assert_eq!(chars.get(at - 1), Some(&'1'), "{line}");
        assert_eq!(chars.get(at), Some(&' '), "{line}");
    }
}

/// Cells of an RFC 4180 text: quoted cells, `""` for a quote, CRLF ends a
/// line (a line break inside quotes is the cell's).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let mut row = vec![];
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CRLF");
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => panic!("{c:?} outside quotes"),
        }
    }
    assert!(
        row.is_empty() && cell.is_empty(),
        "the last line ends with CRLF"
    );
    rows
}

#[test]
fn csv_quotes_hostile_text_and_disarms_formulas() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = hostile_log(dir.path());
    let output = trailwatch(&["summary", "--format", "csv", &log]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = parse_csv(&stdout(&output));
    assert_eq!(rows.len(), 3);
    let header = &rows[0];
    assert_eq!(header[0], "principal");
    assert!(rows.iter().all(|row| row.len() == header.len()));
    let column = |name: &str| header.iter().position(|h| h == name).expect(name);
    let by_principal: BTreeMap<&str, &Vec<String>> =
        rows[1..].iter().map(|row| (row[0].as_str(), row)).collect();
    let formula = by_principal
        .get("'=HYPERLINK(\"http://evil\",\"x\")")
        .expect("the formula principal, disarmed");
    assert_eq!(
        formula[column("user_agents")],
        r#"quote " comma , newline \n end"#,
        "escaped as in the table, quotes doubled in the text and read back"
    );
    assert_eq!(formula[column("source_ips")], "'+1+1");
    assert_eq!(formula[column("sensitive_apis")], "iam:CreateAccessKey 0/1");
    let red = by_principal
        .get(r"arn:aws:iam::1:user/\u001b[31mred\u001b[0m")
        .expect("the escape principal, escaped");
    assert_eq!(
        red[column("user_agents")],
        r"agent \u001b]0;owned\u0007 \u202etxt.exe"
    );
    assert_eq!(red[column("source_ips")], "'=cmd|' /C calc'!A0");
    for row in &rows[1..] {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?} would run as a formula"
            );
            assert!(
                !cell.chars().any(|c| c.is_control() || c == '\u{202e}'),
                "{cell:?}"
            );
        }
    }
}

/// Many principals: the rows stop at the cap, the rest are counted in
/// one row, and every record is counted once.
#[test]
fn rows_are_capped_however_many_principals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("many.json.gz");
    let log = log.to_str().expect("a UTF-8 path");
    let made = trailwatch(&[
        "generate",
        log,
        "--records",
        "20000",
        "--planted-per-mille",
        "1000",
        "--principals",
        "200000",
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    let output = trailwatch(&[
        "summary",
        "--format",
        "json",
        "--max-principals",
        "500",
        log,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = json_lines(&output);
    assert_eq!(rows.len(), 501, "500 principals and the others");
    let other = rows.last().expect("rows");
    assert_eq!(other["principal"], Value::Null);
    let others = other["other_principals"]["count"].as_u64().unwrap_or(0);
    assert!(others > 10_000, "{others} other principals");
    let events: u64 = rows.iter().filter_map(|r| r["events"].as_u64()).sum();
    assert_eq!(events, 20_000);
    for row in &rows {
        for set in [
            "regions",
            "source_ips",
            "user_agents",
            "access_keys",
            "sessions",
        ] {
            let kept = row[set]["values"].as_array().map_or(0, Vec::len);
            assert!(kept <= 5, "{set}: {kept} kept");
            assert!(row[set]["count"].as_u64() <= Some(100), "{set}");
        }
    }
    // --top: the first rows, and stderr says how many there were.
    let top = trailwatch(&[
        "summary",
        "--format",
        "csv",
        "--top",
        "3",
        "--max-principals",
        "500",
        log,
    ]);
    assert!(top.status.success(), "{}", stderr(&top));
    assert_eq!(
        stdout(&top).matches("\r\n").count(),
        4,
        "a header and 3 rows"
    );
    assert!(
        stderr(&top).contains("the first 3 of 501 row(s) shown (--top)"),
        "{}",
        stderr(&top)
    );
}

#[test]
fn a_damaged_log_is_named_and_the_rest_summarised() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = hostile_log(dir.path());
    let bad = dir.path().join("cut.json");
    std::fs::write(
        &bad,
        r#"{"Records":[{"eventTime":"2024-03-01T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","userIdentity":{"arn":"arn:aws:iam::1:user/cut"}},{"eventTi"#,
    )
    .expect("written");
    let bad = bad.to_str().expect("a UTF-8 path");
    let output = trailwatch(&["summary", "--format", "json", &good, bad]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!("{bad}: ")),
        "{}",
        stderr(&output)
    );
    let rows = json_lines(&output);
    assert_eq!(rows.len(), 3, "the records before the damage count");
    let missing = trailwatch(&["summary", "no/such/dir"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("no/such/dir"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn from_and_to_summarise_only_the_records_of_their_window() {
    let (from, to) = ("2026-11-23T08:15:00Z", "2026-11-23T08:30:00Z");
    let rows = json_lines(&trailwatch(&[
        "summary",
        "--format",
        "json",
        "--from",
        from,
        "--to",
        to,
        "events/logs",
    ]));
    assert!(!rows.is_empty());
    for row in &rows {
        for key in ["first_time", "last_time"] {
            let time = row[key].as_str().expect("a time");
            assert!((from..to).contains(&time), "{row}");
        }
    }
    let all = json_lines(&trailwatch(&["summary", "--format", "json", "events/logs"]));
    let events = |rows: &[Value]| {
        rows.iter()
            .map(|r| r["events"].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    assert_eq!(events(&all), 17);
    assert_eq!(
        events(&rows),
        17 - 9,
        "9 records are outside (as scan counts them)"
    );
}
