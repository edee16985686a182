use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::alert::fixtures::{event, rule};
use crate::alert::{Occurrences, Sessions};
use crate::rules::{Level, RuleMeta};

fn alert() -> Alert {
    Alert::new(&rule(), event(), "s3://logs/AWSLogs/o.json.gz")
}

fn at_level(level: Level) -> Alert {
    let rule = Arc::new(RuleMeta {
        level,
        ..(*rule()).clone()
    });
    Alert::new(&rule, event(), "s3://logs/o.json.gz")
}

fn parsed(alert: &Alert) -> Value {
    serde_json::from_str(&alert.chat_json()).expect("chat JSON parses")
}

#[test]
fn the_message_has_the_documented_frame() {
    let message = parsed(&alert());
    assert_eq!(message["version"], "1.0");
    assert_eq!(message["source"], "custom");
    assert_eq!(message["content"]["textType"], "client-markdown");
    assert_eq!(message["id"], alert().alert_id.as_str());
    assert_eq!(message["metadata"]["summary"], alert().subject().as_str());
    assert_eq!(message["metadata"]["eventType"], "trailwatch-alert");
    assert_eq!(
        message["metadata"]["relatedResources"],
        json!(["arn:aws:lambda:us-east-1:123456789012:function:f"])
    );
    assert_eq!(
        message["metadata"]["additionalContext"]["eventId"],
        json!("e-1")
    );
}

#[test]
fn each_level_leads_the_title_with_its_own_marker() {
    let levels = [
        (Level::Critical, "\u{1f6a8} CRITICAL"),
        (Level::High, "\u{1f534} HIGH"),
        (Level::Medium, "\u{1f7e0} MEDIUM"),
        (Level::Low, "\u{1f7e1} LOW"),
        (Level::Informational, "\u{1f535} INFORMATIONAL"),
    ];
    for (level, head) in levels {
        let chat = at_level(level).chat();
        assert_eq!(
            chat.content.title,
            format!("{head} \u{b7} Lambda function invoked by a principal other than S3")
        );
        assert_eq!(chat.content.keywords[0], level.as_str());
    }
}

#[test]
fn the_description_says_who_what_where_when() {
    let text = alert().chat().content.description;
    for line in [
        "*Who:* `arn:aws:iam::123456789012:user/alice` (`IAMUser`)",
        "*Account:* `123456789012`  *Region:* `us-east-1`",
        "*Event:* `Invoke` on `lambda.amazonaws.com` \u{2014} *failed:* `AccessDenied`",
        "*Error message:* `not allowed`",
        "*When:* `2026-11-23T08:15:02Z`",
        "*Source IP:* `203.0.113.7`  *User agent:* `aws-cli/2.22.5`",
        "*CloudTrail:* https://us-east-1.console.aws.amazon.com/cloudtrail/home?region=us-east-1#/events/e-1",
        "*Rule:* Lambda function invoked by a principal other than S3 (`rule-1`)",
        "> Why. Second line of why.",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
    }
}

#[test]
fn keywords_and_next_steps_come_from_the_alert_and_rule() {
    let chat = alert().chat();
    assert_eq!(
        chat.content.keywords,
        ["high", "rule-1", "123456789012", "us-east-1", "Invoke"]
    );
    assert_eq!(
        chat.content.next_steps,
        ["Rule out: Tests", "Reference: https://example.com"]
    );
}

#[test]
fn a_grouped_alert_counts_its_occurrences_and_threads_by_role() {
    let mut grouped = alert();
    grouped.occurrences = Some(Occurrences {
        count: 7,
        first_time: Some("2026-11-23T08:15:02Z".into()),
        last_time: Some("2026-11-23T09:00:00Z".into()),
        event_ids: vec!["e-1".into()],
        sessions: Some(Sessions {
            actor: "arn:aws:iam::123456789012:role/ops".into(),
            count: 3,
            more: false,
            names: vec!["a".into()],
        }),
    });
    let text = grouped.chat().content.description;
    assert!(
        text.contains("*Occurrences:* 7 from `2026-11-23T08:15:02Z` to `2026-11-23T09:00:00Z`"),
        "{text}"
    );
    assert!(
        text.contains("*Sessions:* 3 of `arn:aws:iam::123456789012:role/ops`"),
        "{text}"
    );
    // Another session of the role, later: the same thread.
    let mut later = grouped.clone();
    later.alert_id = "other".into();
    later.principal = Some("arn:aws:sts::123456789012:assumed-role/ops/b".into());
    assert_eq!(
        later.chat().metadata.thread_id,
        grouped.chat().metadata.thread_id
    );
    // Another rule: another thread.
    let mut other = grouped.clone();
    other.rule_id = "rule-2".into();
    assert_ne!(
        other.chat().metadata.thread_id,
        grouped.chat().metadata.thread_id
    );
}

#[test]
fn hostile_record_text_cannot_mention_link_or_break_out() {
    let mut hostile = alert();
    hostile.user_agent =
        Some("x` <!here> <!channel> @channel <@U123> <https://evil.example|reset> [click](https://evil.example) ```\n*bold*".into());
    hostile.principal = Some("arn:aws:iam::1:user/`</a>\u{202e}evil\u{200b}".into());
    hostile.error_message = Some("line1\r\nline2 > quote".into());
    hostile.event_name = Some("<!here>".into());
    hostile.region = Some("us-east-1/../../evil".into());
    let json = hostile.chat_json();
    let chat: Value = serde_json::from_str(&json).expect("parses");
    let text = chat["content"]["description"].as_str().expect("text");
    for banned in [
        "<!", "<@", "<http", "@channel", "](", "```", "\u{202e}", "\u{200b}", "\r",
    ] {
        assert!(!text.contains(banned), "{banned:?} in\n{text}");
    }
    // Every record value is in one code span per line: backticks pair up.
    for line in text.lines() {
        assert_eq!(line.matches('`').count() % 2, 0, "{line}");
    }
    // The value is still readable.
    assert!(
        text.contains("*User agent:* `xˋ ‹!here› ‹!channel› ＠channel ‹＠U123›"),
        "{text}"
    );
    assert!(text.contains(r"`line1\r\nline2 › quote`"), "{text}");
    // Emphasis stays literal inside the span it is in.
    assert!(text.contains(r"ˋˋˋ\n*bold*`"), "{text}");
    // A region that is not one builds no link.
    assert!(!text.contains("console.aws.amazon.com"), "{text}");
    for keyword in chat["content"]["keywords"].as_array().expect("keywords") {
        let keyword = keyword.as_str().expect("string");
        assert!(
            !keyword.contains('<') && !keyword.contains('@'),
            "{keyword}"
        );
    }
}

#[test]
fn huge_fields_are_cut_and_the_message_stays_small() {
    let mut huge = alert();
    let big = "A".repeat(200_000);
    huge.title = big.clone();
    huge.description = big.clone();
    huge.user_agent = Some(big.clone());
    huge.principal = Some(big.clone());
    huge.error_message = Some(big.clone());
    huge.falsepositives = vec![big.clone(); 20];
    huge.resources = vec![big.clone(); 50];
    huge.account = Some(big.clone());
    let chat = huge.chat();
    assert_eq!(chat.content.title.chars().count(), MAX_TITLE_CHARS + 1);
    assert!(chat.content.title.ends_with('…'));
    assert!(chat.content.description.chars().count() <= MAX_DESCRIPTION_CHARS);
    assert!(
        chat.content
            .description
            .contains(&format!("`{}…`", "A".repeat(MAX_VALUE_CHARS))),
        "values end in the cut marker"
    );
    assert_eq!(chat.content.next_steps.len(), MAX_NEXT_STEPS);
    assert!(chat
        .content
        .next_steps
        .iter()
        .all(|s| s.chars().count() <= MAX_STEP_CHARS + 1));
    assert_eq!(chat.metadata.related_resources.len(), MAX_RELATED);
    assert!(chat
        .content
        .keywords
        .iter()
        .all(|k| k.chars().count() <= MAX_KEYWORD_CHARS));
    let message = huge.chat_sns_message();
    assert!(message.size() < 32 * 1024, "{}", message.size());
}

#[test]
fn lines_past_the_description_budget_are_left_out_with_a_note() {
    let lines: Vec<String> = (0..100)
        .map(|i| format!("line {i:03} {}", "x".repeat(50)))
        .collect();
    let text = fit_lines(lines, 1_000);
    assert!(text.chars().count() <= 1_000);
    assert!(text.starts_with("line 000"));
    let last = text.lines().last().expect("a note");
    assert!(
        last.starts_with("_… ")
            && last.ends_with("more line(s) left out; the email and the JSON alert have them._"),
        "{last}"
    );
}

#[test]
fn the_sns_message_is_the_plain_chat_json_with_the_alert_s_subject() {
    let alert = alert();
    let message = alert.chat_sns_message();
    assert_eq!(message.message, alert.chat_json());
    assert_eq!(message.subject, alert.subject());
    let plain = crate::alert::message::sns_message(&alert);
    assert_eq!(message.id, plain.id);
    assert_eq!(message.attributes, plain.attributes);
}
