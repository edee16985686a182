//! A problem found verifying a CloudTrail digest, as a finding: critical,
//! one per problem, grouped and sent with the rules' findings.

use std::sync::{Arc, OnceLock};

use serde_json::json;

use super::{Finding, Record};
use crate::digest::{Kind, Location, Problem};
use crate::rules::{Level, RuleMeta};

/// The id digest alerts carry in place of a rule id.
pub const DIGEST_RULE_ID: &str = "trailwatch-cloudtrail-digest-problem";

/// What a problem is about, for its title and what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Class {
    DigestMissing,
    DigestUnreadable,
    DigestMoved,
    NotSigned,
    ChainBroken,
    LogDeleted,
    LogChanged,
    Unchecked,
    Gap,
    Restarted,
}

impl Class {
    fn of(kind: &Kind) -> Class {
        match kind {
            Kind::DigestMissing => Class::DigestMissing,
            Kind::Unreadable { .. } => Class::DigestUnreadable,
            Kind::WrongPlace { .. } => Class::DigestMoved,
            Kind::NoSignature
            | Kind::UnsupportedAlgorithm { .. }
            | Kind::UnknownKey { .. }
            | Kind::BadKey { .. }
            | Kind::BadSignature => Class::NotSigned,
            Kind::PreviousMissing { .. }
            | Kind::PreviousChanged { .. }
            | Kind::ChainBroken { .. } => Class::ChainBroken,
            Kind::LogMissing { .. } => Class::LogDeleted,
            Kind::LogChanged { .. } | Kind::LogAppended { .. } | Kind::LogUnreadable { .. } => {
                Class::LogChanged
            }
            Kind::UnsupportedHash { .. } => Class::Unchecked,
            Kind::Gap { .. } => Class::Gap,
            Kind::Restarted { .. } => Class::Restarted,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Class::DigestMissing => "CloudTrail Digest File Deleted",
            Class::DigestUnreadable => "CloudTrail Digest File Is Not A Digest",
            Class::DigestMoved => "CloudTrail Digest File Copied From Another Place",
            Class::NotSigned => "CloudTrail Digest File Not Signed By CloudTrail",
            Class::ChainBroken => "CloudTrail Digest Chain Broken",
            Class::LogDeleted => "CloudTrail Log File Deleted",
            Class::LogChanged => "CloudTrail Log File Changed",
            Class::Unchecked => "CloudTrail Digest Names A Hash That Cannot Be Checked",
            Class::Gap => "CloudTrail Digest Hours Missing",
            Class::Restarted => "CloudTrail Logging Or Validation Was Off",
        }
    }

    /// What it means, and what to do.
    fn description(self) -> &'static str {
        match self {
            Class::DigestMissing => {
                "A digest file CloudTrail delivered is gone: the hour's proof of which logs \
                 existed was deleted. Find who deleted it (S3 data events, the bucket's access \
                 logs, versions if the bucket is versioned) and whether that hour's logs are \
                 intact."
            }
            Class::DigestUnreadable | Class::DigestMoved | Class::NotSigned => {
                "A digest file does not verify as CloudTrail's: it was written, replaced or \
                 edited by someone other than CloudTrail, so the hour's logs cannot be trusted \
                 on its word. Find who wrote the object (S3 data events, the bucket's access \
                 logs), compare with earlier versions if the bucket is versioned, and run \
                 `aws cloudtrail validate-logs` over the hour."
            }
            Class::ChainBroken => {
                "The digest before this one is missing, changed or replaced: the chain that \
                 proves no hour of logs was removed is broken there. Find who deleted or wrote \
                 the previous digest (S3 data events, the bucket's access logs) and check that \
                 hour's logs with `aws cloudtrail validate-logs`."
            }
            Class::LogDeleted => {
                "A log file CloudTrail delivered, and listed in its signed digest, is gone: \
                 the API calls it recorded are no longer in the bucket, which is how an \
                 intruder hides what they did. Find who deleted it (S3 data events, the \
                 bucket's access logs), restore it from a version or a replica if there is one, \
                 and look at that hour's activity in CloudTrail event history."
            }
            Class::LogChanged => {
                "A log file no longer has the content CloudTrail listed in its signed digest: \
                 records were edited, removed or added after delivery. Find who wrote the \
                 object (S3 data events, the bucket's access logs), compare it with an earlier \
                 version if the bucket is versioned, and look at that hour's activity in \
                 CloudTrail event history."
            }
            Class::Unchecked => {
                "The digest names a hash algorithm other than SHA-256, which CloudTrail does \
                 not use: the object it lists could not be checked. Check the digest with \
                 `aws cloudtrail validate-logs`."
            }
            Class::Gap => {
                "Hours between two digests of one chain have no digest: the later digest \
                 does not start a new chain (as it would after logging or validation was \
                 turned off), so the digests of those hours were delivered and are gone, \
                 perhaps with their logs. Find who deleted them (S3 data events, the \
                 bucket's access logs, versions if the bucket is versioned) and check \
                 those hours' activity in CloudTrail event history."
            }
            Class::Restarted => {
                "A digest starts a new chain some time after the last digest of its trail \
                 and region ended: CloudTrail logging was stopped or log file validation was \
                 turned off in between, so nothing the trail delivered in those hours can be \
                 verified, and calls made then may not have been logged at all. Find who did \
                 it (StopLogging, UpdateTrail, DeleteTrail in CloudTrail event history, which \
                 keeps 90 days whatever the trail did) and whether it was planned."
            }
        }
    }

    fn rule(self) -> &'static Arc<RuleMeta> {
        static RULES: OnceLock<Vec<(Class, Arc<RuleMeta>)>> = OnceLock::new();
        let rules = RULES.get_or_init(|| {
            [
                Class::DigestMissing,
                Class::DigestUnreadable,
                Class::DigestMoved,
                Class::NotSigned,
                Class::ChainBroken,
                Class::LogDeleted,
                Class::LogChanged,
                Class::Unchecked,
                Class::Gap,
                Class::Restarted,
            ]
            .into_iter()
            .map(|class| (class, Arc::new(class.meta())))
            .collect()
        });
        rules
            .iter()
            .find(|(class, _)| *class == self)
            .map(|(_, rule)| rule)
            .expect("every class has a rule")
    }

    /// Evidence destroyed is critical; a trail that was off for a while is
    /// high: its owners turn logging or validation off and on too.
    fn level(self) -> Level {
        match self {
            Class::Restarted => Level::High,
            _ => Level::Critical,
        }
    }

    fn falsepositives(self) -> Vec<String> {
        let list: &[&str] = match self {
            Class::Restarted => {
                &["Logging or log file validation turned off and on by the trail's owners"]
            }
            _ => &[
                "Objects restored or copied into the log bucket by its owners",
                "A lifecycle rule that expires logs before their digests",
            ],
        };
        list.iter().map(|s| s.to_string()).collect()
    }

    /// One rule id for all (one line in the held-back summary, one id to
    /// filter on), a title per class.
    fn meta(self) -> RuleMeta {
        RuleMeta {
            id: DIGEST_RULE_ID.to_string(),
            title: self.title().to_string(),
            level: self.level(),
            description: self.description().to_string(),
            falsepositives: self.falsepositives(),
            references: vec![
                "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-intro.html".to_string(),
            ],
            tags: Vec::new(),
            author: Some("trailwatch".to_string()),
            origin: "trailwatch".to_string(),
        }
    }
}

/// The object a problem is about: the log, the previous digest, or the
/// digest itself. It is the alert's `source`, so that each problem is an
/// alert of its own (alerts with no principal are grouped by source).
fn subject(problem: &Problem) -> (&Location, Option<&str>) {
    match &problem.kind {
        Kind::LogMissing { log } => (log, None),
        Kind::LogChanged { log, version, .. }
        | Kind::LogAppended { log, version }
        | Kind::LogUnreadable { log, version, .. } => (log, version.as_deref()),
        Kind::PreviousMissing { previous }
        | Kind::PreviousChanged { previous, .. }
        | Kind::ChainBroken { previous, .. } => (previous, None),
        Kind::UnsupportedHash { of, .. } => (of, None),
        _ => (&problem.digest, None),
    }
}

/// The finding for one problem. Its record says what a person needs: the
/// digest, its hour, the object at fault and the version checked, and
/// the problem in a sentence.
pub fn finding(problem: &Problem) -> Finding {
    let class = Class::of(&problem.kind);
    let (object, version) = subject(problem);
    let event = json!({
        "problem": problem.to_string(),
        "digest": problem.digest.to_string(),
        "hour_start": problem.hour.as_ref().map(|h| &h.start),
        "hour_end": problem.hour.as_ref().map(|h| &h.end),
        "object": object.to_string(),
        "version": version,
    });
    let record = Record::new(event, Arc::from(object.to_string()));
    Finding::new(class.rule(), &Arc::new(record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Hour;

    fn problem(kind: Kind) -> Problem {
        Problem {
            digest: Location::new("b", "AWSLogs/1/CloudTrail-Digest/r/d.json.gz"),
            hour: Some(Hour {
                start: "2015-08-17T13:01:31Z".into(),
                end: "2015-08-17T14:01:31Z".into(),
            }),
            kind,
        }
    }

    #[test]
    fn a_deleted_log_is_a_critical_alert_naming_the_log_digest_and_hour() {
        let log = Location::new("b", "AWSLogs/1/CloudTrail/r/log.json.gz");
        let alert = finding(&problem(Kind::LogMissing { log: log.clone() })).alert();
        assert_eq!(alert.rule_id, DIGEST_RULE_ID);
        assert_eq!(alert.title, "CloudTrail Log File Deleted");
        assert_eq!(alert.severity, "critical");
        assert_eq!(alert.source, log.to_string());
        assert_eq!(
            alert.event["digest"],
            "s3://b/AWSLogs/1/CloudTrail-Digest/r/d.json.gz"
        );
        assert_eq!(alert.event["hour_end"], "2015-08-17T14:01:31Z");
        let summary = alert.summary();
        assert!(
            summary.contains("log s3://b/AWSLogs/1/CloudTrail/r/log.json.gz is missing"),
            "{summary}"
        );
        assert!(
            summary.contains("2015-08-17T13:01:31Z to 2015-08-17T14:01:31Z"),
            "{summary}"
        );
    }

    #[test]
    fn two_problems_of_one_digest_are_two_alerts() {
        use crate::alert::group::Grouper;
        let mut grouper = Grouper::new(None);
        for n in 1..=2 {
            let log = Location::new("b", format!("AWSLogs/1/CloudTrail/r/log{n}.json.gz"));
            grouper.add(finding(&problem(Kind::LogMissing { log })), 0);
        }
        grouper.add(finding(&problem(Kind::BadSignature)), 0);
        let alerts: Vec<_> = grouper.finish().into_iter().map(|g| g.alert).collect();
        assert_eq!(alerts.len(), 3, "{alerts:#?}");
        assert!(alerts.iter().all(|a| a.occurrences.is_none()));
        assert_eq!(
            alerts[2].title,
            "CloudTrail Digest File Not Signed By CloudTrail"
        );
        let ids: std::collections::BTreeSet<_> = alerts.iter().map(|a| &a.alert_id).collect();
        assert_eq!(ids.len(), 3);
    }
}
