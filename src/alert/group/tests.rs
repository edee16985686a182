use super::*;
use crate::alert::Record;
use serde_json::Value;

fn rule(id: &str, level: Level) -> Arc<RuleMeta> {
    Arc::new(RuleMeta {
        id: id.to_string(),
        title: format!("Rule {id}"),
        level,
        description: String::new(),
        falsepositives: Vec::new(),
        references: Vec::new(),
        tags: Vec::new(),
        author: None,
        origin: "test".to_string(),
    })
}

/// A finding of `rule` for `user` at second `second` of the hour.
fn finding(rule: &Arc<RuleMeta>, user: &str, second: u32) -> Finding {
    let event: Value = json!({
        "eventID": format!("{user}-{second}"),
        "eventTime": format!("2026-11-23T08:00:{second:02}Z"),
        "userIdentity": {"arn": format!("arn:aws:iam::1:user/{user}")},
    });
    Finding::new(rule, &Arc::new(Record::new(event, Arc::from("s3://b/k"))))
}

fn summary(grouped: &[Grouped]) -> Vec<(String, String, u64)> {
    grouped
        .iter()
        .map(|g| {
            let a = &g.alert;
            let count = a.occurrences.as_ref().map_or(1, |o| o.count);
            (
                a.rule_id.clone(),
                a.principal.clone().unwrap_or_default(),
                count,
            )
        })
        .collect()
}

#[test]
fn findings_of_one_rule_for_one_principal_are_one_alert() {
    let (a, b) = (rule("a", Level::Low), rule("b", Level::High));
    let mut grouper = Grouper::new(None);
    // Out of time order: first and last come from the times, not arrival.
    for second in (0..25).rev() {
        grouper.add(finding(&a, "alice", second), 0);
    }
    for second in 0..3 {
        grouper.add(finding(&a, "bob", second), 1);
    }
    grouper.add(finding(&b, "alice", 30), 1);
    assert_eq!(grouper.findings(), 29);
    let out = grouper.finish();
    let alice = "arn:aws:iam::1:user/alice".to_string();
    let bob = "arn:aws:iam::1:user/bob".to_string();
    assert_eq!(
        summary(&out),
        [
            ("a".to_string(), alice.clone(), 25),
            ("a".to_string(), bob, 3),
            ("b".to_string(), alice, 1),
        ]
    );
    let grouped = out[0].alert.occurrences.as_ref().expect("grouped");
    assert_eq!(grouped.first_time.as_deref(), Some("2026-11-23T08:00:00Z"));
    assert_eq!(grouped.last_time.as_deref(), Some("2026-11-23T08:00:24Z"));
    assert_eq!(grouped.event_ids.len(), MAX_GROUPED_EVENT_IDS);
    assert_eq!(grouped.event_ids[0], "alice-24");
    // The alert describes its first finding, and keeps that finding's id.
    assert_eq!(out[0].alert.event_id.as_deref(), Some("alice-24"));
    assert_eq!(out[0].alert.alert_id, finding(&a, "alice", 24).alert_id());
    assert!(out[2].alert.occurrences.is_none(), "a single finding");
    assert_eq!(
        out.iter().map(|g| g.units.clone()).collect::<Vec<_>>(),
        [
            BTreeSet::from([0]),
            BTreeSet::from([1]),
            BTreeSet::from([1])
        ]
    );
}

#[test]
fn past_the_cap_the_most_severe_are_sent_and_the_rest_summarised() {
    let low = rule("low", Level::Low);
    let medium = rule("medium", Level::Medium);
    let critical = rule("critical", Level::Critical);
    let mut grouper = Grouper::new(Some(2));
    grouper.add(finding(&medium, "m", 0), 0);
    grouper.add(finding(&low, "l1", 1), 0);
    // Full: a critical finding replaces the least severe alert (l1)...
    grouper.add(finding(&critical, "c", 2), 1);
    // ...whose later findings, and new low ones, are held back.
    grouper.add(finding(&low, "l1", 3), 2);
    grouper.add(finding(&low, "l2", 4), 2);
    grouper.add(finding(&low, "l2", 5), 2);
    // An existing alert still counts its findings.
    grouper.add(finding(&medium, "m", 6), 3);
    assert_eq!(grouper.findings(), 7);
    let out = grouper.finish();
    let ids: Vec<&str> = out.iter().map(|g| g.alert.rule_id.as_str()).collect();
    assert_eq!(ids, ["medium", "critical", HELD_BACK_RULE_ID]);
    let held = out[2].alert.held_back.as_ref().expect("summary");
    assert_eq!((held.alerts, held.findings, held.cap), (2, 4, 2));
    assert_eq!(
        held.rules
            .iter()
            .map(|r| (r.rule_id.as_str(), r.alerts, r.findings))
            .collect::<Vec<_>>(),
        [("low", 2, 4)]
    );
    assert!(out[2].alert.title.starts_with("2 More Alerts Held Back"));
    assert_eq!(out[2].units, BTreeSet::from([0, 2]));
    assert_eq!(out[0].units, BTreeSet::from([0, 3]));
}

/// A finding like [`finding`], read from the log object `source`.
fn finding_in(rule: &Arc<RuleMeta>, user: &str, second: u32, source: &str) -> Finding {
    let event: Value = json!({
        "eventID": format!("{user}-{second}"),
        "eventTime": format!("2026-11-23T08:00:{second:02}Z"),
        "userIdentity": {"arn": format!("arn:aws:iam::1:user/{user}")},
    });
    Finding::new(rule, &Arc::new(Record::new(event, Arc::from(source))))
}

/// The summary names the objects whose findings it holds back, held
/// directly or with an alert that was sent no more (evicted), so that an
/// operator can rescan them; not the objects of the alerts sent.
#[test]
fn the_summary_names_the_log_objects_it_covers() {
    let low = rule("low", Level::Low);
    let critical = rule("critical", Level::Critical);
    let mut grouper = Grouper::new(Some(1));
    grouper.add(finding_in(&low, "l", 0, "s3://b/one"), 0);
    grouper.add(finding_in(&low, "l", 1, "s3://b/two"), 0);
    grouper.add(finding_in(&low, "l", 2, "s3://b/one"), 0);
    // Evicts l's alert (objects one and two).
    grouper.add(finding_in(&critical, "c", 3, "s3://b/sent"), 1);
    grouper.add(finding_in(&low, "m", 4, "s3://b/three"), 2);
    let out = grouper.finish();
    let held = out[1].alert.held_back.as_ref().expect("summary");
    assert_eq!(held.objects, ["s3://b/one", "s3://b/two", "s3://b/three"]);
    assert_eq!((held.object_count, held.more_objects), (3, false));
}

#[test]
fn the_summary_names_the_first_objects_and_counts_the_rest() {
    let high = rule("high", Level::High);
    let mut grouper = Grouper::new(Some(1));
    grouper.add(finding_in(&high, "sent", 0, "s3://b/sent"), 0);
    for i in 0..(MAX_HELD_BACK_OBJECTS as u32 + 5) {
        // Each object twice: counted once.
        for _ in 0..2 {
            grouper.add(finding_in(&high, "held", i % 60, &format!("s3://b/{i}")), 0);
        }
    }
    let out = grouper.finish();
    let held = out[1].alert.held_back.as_ref().expect("summary");
    assert_eq!(held.objects.len(), MAX_HELD_BACK_OBJECTS);
    assert_eq!(held.objects[0], "s3://b/0");
    assert_eq!(held.object_count, MAX_HELD_BACK_OBJECTS as u64 + 5);
}

#[test]
fn a_full_grouper_holds_back_findings_no_more_severe_than_its_alerts() {
    let high = rule("high", Level::High);
    let mut grouper = Grouper::new(Some(1));
    grouper.add(finding(&high, "a", 0), 0);
    grouper.add(finding(&high, "b", 1), 0);
    let out = grouper.finish();
    assert_eq!(summary(&out)[0].1, "arn:aws:iam::1:user/a");
    assert_eq!(out.len(), 2);
}

/// Dedup remembers the summary by its id: the same held-back alerts give
/// the same id (a retry), other ones another (the next storm).
#[test]
fn a_summary_is_known_by_the_alerts_it_holds_back() {
    let high = rule("high", Level::High);
    let summary_id = |users: &[&str]| {
        let mut grouper = Grouper::new(Some(1));
        for (second, user) in users.iter().enumerate() {
            grouper.add(finding(&high, user, second as u32), 0);
        }
        let out = grouper.finish();
        assert_eq!(out.len(), 2, "{users:?}");
        out[1].alert.alert_id.clone()
    };
    let first = summary_id(&["a", "b", "c"]);
    assert_eq!(summary_id(&["a", "b", "c"]), first);
    assert_ne!(summary_id(&["a", "b", "d"]), first);
    assert_ne!(summary_id(&["a", "b"]), first);
}

#[test]
fn without_findings_there_is_nothing_to_send() {
    assert!(Grouper::new(Some(0)).finish().is_empty());
}

#[test]
fn thresholds_group_by_their_principal() {
    let burst = rule("burst", Level::Medium);
    let mut grouper = Grouper::new(None);
    for (second, user) in [(0, "x"), (1, "y")] {
        let mut f = finding(&burst, user, second);
        f.threshold = Some(crate::alert::Threshold {
            count: 20,
            window_secs: 300,
            group: vec![(
                "userIdentity.arn".into(),
                "arn:aws:iam::1:user/mallory".into(),
            )],
        });
        grouper.add(f, 0);
    }
    let out = grouper.finish();
    assert_eq!(
        summary(&out),
        [(
            "burst".to_string(),
            "arn:aws:iam::1:user/mallory".to_string(),
            2
        )]
    );
}

#[test]
fn past_the_open_limit_the_least_recently_active_groups_close_and_every_finding_is_counted() {
    let a = rule("a", Level::Low);
    let mut grouper = Grouper::new(None).with_open_limit(10);
    let mut closed = Vec::new();
    // "busy" is added to between every new principal: it stays open.
    for n in 0..30u32 {
        grouper.add(finding(&a, "busy", n % 60), 0);
        grouper.add(finding(&a, &format!("user{n}"), n % 60), 0);
        closed.extend(grouper.take_closed());
        assert!(grouper.groups.len() <= 10, "{} open", grouper.groups.len());
    }
    assert!(!closed.is_empty());
    let busy = "arn:aws:iam::1:user/busy".to_string();
    assert!(
        summary(&closed).iter().all(|(_, who, _)| *who != busy),
        "the busiest group is never the least recently active"
    );
    // Closed first, in the order they closed, then the open ones.
    let first_closed = summary(&closed)[0].1.clone();
    assert_eq!(first_closed, "arn:aws:iam::1:user/user0");
    let rest: Vec<Grouped> = grouper.into_alerts().collect();
    let all: Vec<(String, String, u64)> =
        summary(&closed).into_iter().chain(summary(&rest)).collect();
    assert_eq!(all.iter().map(|(_, _, n)| n).sum::<u64>(), 60);
    assert_eq!(
        all.iter()
            .filter(|(_, who, _)| *who == busy)
            .collect::<Vec<_>>(),
        [&("a".to_string(), busy.clone(), 30)]
    );
    assert_eq!(all.len(), 31, "each user once, busy once");
}

#[test]
fn groups_closed_and_not_taken_still_come_out_first() {
    let a = rule("a", Level::Low);
    let mut grouper = Grouper::new(None).with_open_limit(2);
    for user in ["u1", "u2", "u3"] {
        grouper.add(finding(&a, user, 0), 0);
    }
    let who: Vec<String> = summary(&grouper.finish())
        .into_iter()
        .map(|(_, who, _)| who)
        .collect();
    assert_eq!(
        who,
        [
            "arn:aws:iam::1:user/u1",
            "arn:aws:iam::1:user/u2",
            "arn:aws:iam::1:user/u3"
        ]
    );
}

/// A finding of `rule` for `user` at `time`.
fn finding_at(rule: &Arc<RuleMeta>, user: &str, time: &str) -> Finding {
    let event: Value = json!({
        "eventID": format!("{user}-{time}"),
        "eventTime": time,
        "userIdentity": {"arn": format!("arn:aws:iam::1:user/{user}")},
    });
    Finding::new(rule, &Arc::new(Record::new(event, Arc::from("s3://b/k"))))
}

#[test]
fn a_group_idle_for_a_day_of_event_time_closes_as_the_scan_goes() {
    let a = rule("a", Level::Low);
    let mut grouper = Grouper::new(None).with_idle_window(chrono::TimeDelta::hours(24));
    grouper.add(finding_at(&a, "alice", "2026-03-01T08:00:00Z"), 0);
    grouper.add(finding_at(&a, "alice", "2026-03-01T09:00:00Z"), 0);
    grouper.add(finding_at(&a, "bob", "2026-03-02T07:00:00Z"), 0);
    grouper.add(finding_at(&a, "odd", "1 March 2026"), 0);
    // A day and a minute after alice's last finding, less than a day after bob's.
    grouper.add(finding_at(&a, "carol", "2026-03-02T09:01:00Z"), 0);
    grouper.close_idle();
    let closed: Vec<Grouped> = grouper.take_closed().collect();
    assert_eq!(
        summary(&closed),
        [("a".to_string(), "arn:aws:iam::1:user/alice".to_string(), 2)]
    );
    // Two days later, bob goes too; a time CloudTrail never writes stays open.
    grouper.add(finding_at(&a, "carol", "2026-03-04T09:00:00Z"), 0);
    grouper.close_idle();
    let closed: Vec<String> = summary(&grouper.take_closed().collect::<Vec<_>>())
        .into_iter()
        .map(|(_, who, _)| who)
        .collect();
    assert_eq!(closed, ["arn:aws:iam::1:user/bob"]);
    let open: Vec<String> = summary(&grouper.finish())
        .into_iter()
        .map(|(_, who, _)| who)
        .collect();
    assert_eq!(
        open,
        ["arn:aws:iam::1:user/odd", "arn:aws:iam::1:user/carol"]
    );
}
