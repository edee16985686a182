//! The MITRE ATT&CK techniques and tactics a rule's `attack.*` tags name,
//! with the names people know them by: `attack.t1078.004` is
//! T1078.004 "Valid Accounts: Cloud Accounts", `attack.persistence` the
//! Persistence tactic (TA0003).
//!
//! Technique names come from `attack.tsv` (the techniques the shipped
//! packs tag; its header names the ATT&CK version). A technique missing
//! from it is still shown, by id. Other `attack.*` tags (software
//! `attack.s0002`, groups `attack.g0016`, anything else) are left out.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Serialize;

/// Tab-separated `id name` lines; `#` starts a comment line.
const TABLE: &str = include_str!("attack.tsv");

/// An ATT&CK tag's slug, its tactic's id and name. ATT&CK v19 renamed
/// Defense Evasion (TA0005) to Stealth: rules tagged before keep the name
/// they were written with.
const TACTICS: &[(&str, &str, &str)] = &[
    ("reconnaissance", "TA0043", "Reconnaissance"),
    ("resource-development", "TA0042", "Resource Development"),
    ("initial-access", "TA0001", "Initial Access"),
    ("execution", "TA0002", "Execution"),
    ("persistence", "TA0003", "Persistence"),
    ("privilege-escalation", "TA0004", "Privilege Escalation"),
    ("stealth", "TA0005", "Stealth"),
    ("defense-evasion", "TA0005", "Defense Evasion"),
    ("defense-impairment", "TA0112", "Defense Impairment"),
    ("credential-access", "TA0006", "Credential Access"),
    ("discovery", "TA0007", "Discovery"),
    ("lateral-movement", "TA0008", "Lateral Movement"),
    ("collection", "TA0009", "Collection"),
    ("command-and-control", "TA0011", "Command and Control"),
    ("exfiltration", "TA0010", "Exfiltration"),
    ("impact", "TA0040", "Impact"),
];

/// What a rule's ATT&CK tags say: the alert's `attack` field.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Attack {
    /// The tactics the rule is tagged with, in the rule's order.
    pub tactics: Vec<Tactic>,
    /// The techniques and sub-techniques, in the rule's order.
    pub techniques: Vec<Technique>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tactic {
    /// `TA0003`
    pub id: &'static str,
    /// `Persistence`
    pub name: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Technique {
    /// `T1078.004`
    pub id: String,
    /// `Valid Accounts: Cloud Accounts`; `None` when trailwatch's table
    /// does not know the id.
    pub name: Option<&'static str>,
}

impl Attack {
    /// The ATT&CK tactics and techniques among a rule's `tags` (any case),
    /// each once; `None` when there are none.
    pub fn of_tags(tags: &[String]) -> Option<Attack> {
        let mut attack = Attack::default();
        // Made for every alert written: nothing is allocated for a tag
        // that is not a technique.
        for tag in tags {
            let tag = tag.trim();
            let slug = match tag.get(..7) {
                Some(prefix) if prefix.eq_ignore_ascii_case("attack.") => &tag[7..],
                _ => continue,
            };
            if let Some(id) = technique_id(slug) {
                if !attack.techniques.iter().any(|t| t.id == id) {
                    let name = technique_name(&id);
                    attack.techniques.push(Technique { id, name });
                }
            } else if let Some(&(_, id, name)) = TACTICS
                .iter()
                .find(|(s, _, _)| s.eq_ignore_ascii_case(slug))
            {
                if !attack.tactics.iter().any(|t| t.id == id) {
                    attack.tactics.push(Tactic { id, name });
                }
            }
        }
        let empty = attack.tactics.is_empty() && attack.techniques.is_empty();
        (!empty).then_some(attack)
    }

    /// `T1078.004 Valid Accounts: Cloud Accounts`, one line per technique.
    pub fn technique_lines(&self) -> Vec<String> {
        self.techniques
            .iter()
            .map(|t| match t.name {
                Some(name) => format!("{} {name}", t.id),
                None => t.id.clone(),
            })
            .collect()
    }

    /// `Persistence, Privilege Escalation`; `None` without tactics.
    pub fn tactic_line(&self) -> Option<String> {
        let names: Vec<&str> = self.tactics.iter().map(|t| t.name).collect();
        (!names.is_empty()).then(|| names.join(", "))
    }
}

/// `T1078.004` for the slug `t1078.004` (or `T1078.004`): four digits,
/// and optionally a dot and three; anything else is not a technique id.
fn technique_id(slug: &str) -> Option<String> {
    let digits = slug.strip_prefix(['t', 'T'])?;
    let (technique, sub) = match digits.split_once('.') {
        Some((technique, sub)) => (technique, Some(sub)),
        None => (digits, None),
    };
    let all_digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(technique, 4) || !sub.is_none_or(|sub| all_digits(sub, 3)) {
        return None;
    }
    Some(format!("T{digits}"))
}

/// The name of technique `id` (`T1078.004`) in `attack.tsv`.
pub fn technique_name(id: &str) -> Option<&'static str> {
    static NAMES: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    NAMES.get_or_init(|| table().collect()).get(id).copied()
}

/// The (id, name) lines of `attack.tsv`; a line without a tab is skipped
/// (the table's test says which).
fn table() -> impl Iterator<Item = (&'static str, &'static str)> {
    TABLE
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('\t'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::path::Path;

    fn tags(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn techniques_get_their_names_and_tactics_theirs() {
        let attack = Attack::of_tags(&tags(&[
            "attack.persistence",
            "attack.Privilege-Escalation",
            "attack.t1078.004",
            "attack.T1098",
            "attack.t1078.004",
            "cve.2021-44228",
            "detection.threat-hunting",
            "attack.s0002",
            "attack.g0016",
            "attack.t9999",
            "attack.t12",
            "attack.tnnnn",
        ]))
        .expect("ATT&CK tags");
        assert_eq!(
            attack.technique_lines(),
            [
                "T1078.004 Valid Accounts: Cloud Accounts",
                "T1098 Account Manipulation",
                // Unknown to the table: shown by id, not dropped.
                "T9999",
            ]
        );
        assert_eq!(
            attack.tactic_line().as_deref(),
            Some("Persistence, Privilege Escalation")
        );
        assert_eq!(
            serde_json::to_string(&attack).expect("serialises"),
            r#"{"tactics":[{"id":"TA0003","name":"Persistence"},{"id":"TA0004","name":"Privilege Escalation"}],"techniques":[{"id":"T1078.004","name":"Valid Accounts: Cloud Accounts"},{"id":"T1098","name":"Account Manipulation"},{"id":"T9999","name":null}]}"#
        );
    }

    #[test]
    fn rules_without_attack_tags_have_none() {
        assert_eq!(Attack::of_tags(&[]), None);
        assert_eq!(
            Attack::of_tags(&tags(&["attack.s0002", "car.2016-04-002"])),
            None
        );
        let tactic_only = Attack::of_tags(&tags(&["attack.defense-impairment"]));
        assert_eq!(
            tactic_only.and_then(|a| a.tactic_line()).as_deref(),
            Some("Defense Impairment")
        );
    }

    #[test]
    fn the_table_is_well_formed() {
        let mut seen = HashSet::new();
        for line in TABLE.lines() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, name) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("attack.tsv: {line:?} has no tab"));
            assert_eq!(technique_id(id).as_deref(), Some(id), "attack.tsv: {id:?}");
            assert!(
                !name.trim().is_empty() && name == name.trim(),
                "attack.tsv: {line:?}"
            );
            assert!(seen.insert(id), "attack.tsv: {id} twice");
            // A sub-technique is "Technique: Sub-technique", its parent's
            // name first when the parent is in the table.
            if let Some((parent, _)) = id.split_once('.') {
                if let Some(parent_name) = technique_name(parent) {
                    assert!(
                        name.starts_with(&format!("{parent_name}: ")),
                        "attack.tsv: {line:?}"
                    );
                }
            }
        }
        assert!(seen.len() > 40, "{} techniques", seen.len());
    }

    /// The `attack.*` tags of every rule file under `dir` (recursively).
    fn pack_tags(dir: &Path, out: &mut Vec<(String, String)>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pack_tags(&path, out);
                continue;
            }
            let is_rule = path.extension().is_some_and(|e| e == "yml" || e == "yaml");
            if !is_rule {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("rule file");
            let collection = rsigma_parser::parse_sigma_yaml(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let rules = collection.rules.into_iter().map(|rule| rule.tags);
            let correlations = collection.correlations.into_iter().map(|rule| rule.tags);
            for tag in rules.chain(correlations).flatten() {
                out.push((path.display().to_string(), tag));
            }
        }
    }

    #[test]
    fn every_technique_the_shipped_packs_tag_has_a_name() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut tags = Vec::new();
        pack_tags(&root.join("src/rules/builtin"), &mut tags);
        pack_tags(&root.join("rules"), &mut tags);
        let mut techniques = 0;
        let mut missing = Vec::new();
        for (file, tag) in &tags {
            let Some(attack) = Attack::of_tags(std::slice::from_ref(tag)) else {
                continue;
            };
            for technique in attack.techniques {
                techniques += 1;
                if technique.name.is_none() {
                    missing.push(format!("{file}: {tag}"));
                }
            }
        }
        assert!(techniques > 100, "{techniques} technique tags found");
        assert!(
            missing.is_empty(),
            "add these techniques to src/alert/attack.tsv:\n{}",
            missing.join("\n")
        );
    }
}
