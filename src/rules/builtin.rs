//! The built-in rule pack, embedded in the binary. Every file in
//! `src/rules/builtin/` must be listed here (a test checks it).

macro_rules! pack {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("builtin/", $name)))),*]
    };
}

/// (file name, Sigma YAML) of each built-in rule.
pub(super) const FILES: &[(&str, &str)] = pack![
    "access_denied.yml",
    "apigateway_config_changed.yml",
    "bedrock_model_access_enabled.yml",
    "cloudtrail_tampering.yml",
    "config_recording_stopped.yml",
    "console_login_failed.yml",
    "console_login_without_mfa.yml",
    "denied_calls_burst.yml",
    "dns_query_logging_deleted.yml",
    "ec2_gpu_instances_launched.yml",
    "ec2_instance_access_call.yml",
    "ec2_instance_access_many_instances.yml",
    "ec2_serial_console_access_enabled.yml",
    "ec2_user_data_modified.yml",
    "guardduty_disabled.yml",
    "iam_admin_policy_attached.yml",
    "iam_mfa_change_failed_without_mfa.yml",
    "iam_mfa_device_removed_without_mfa.yml",
    "iam_policy_attached.yml",
    "iam_role_trust_other_account.yml",
    "iam_user_or_credentials_created.yml",
    "kms_key_disabled_or_deletion_scheduled.yml",
    "lambda_function_changed.yml",
    "lambda_function_url_public.yml",
    "lambda_invoked_not_by_s3.yml",
    "lambda_layer_from_other_account.yml",
    "lambda_permission_public.yml",
    "lex_bot_changed.yml",
    "network_acl_ingress_open_to_internet.yml",
    "organizations_leave.yml",
    "rds_database_deleted.yml",
    "resource_policy_made_public.yml",
    "rolesanywhere_trust_anchor_created.yml",
    "root_access_key_created.yml",
    "root_identity_used.yml",
    "root_read_only_activity.yml",
    "s3_block_public_access_removed.yml",
    "s3_bucket_made_public.yml",
    "secretsmanager_batch_get_secret_value.yml",
    "secretsmanager_get_secret_value.yml",
    "secretsmanager_many_secrets.yml",
    "security_group_ingress_open_to_internet.yml",
    "security_logging_disable_denied.yml",
    "securityhub_disabled.yml",
    "snapshot_or_ami_made_public.yml",
    "snapshot_or_ami_shared_with_account.yml",
    "sns_topic_created.yml",
    "ssm_parameters_decrypted.yml",
    "ssm_parameters_decrypted_burst.yml",
    "ssm_sessions_many_instances.yml",
    "sts_federation_token.yml",
    "vpc_flow_logs_deleted.yml",
];

/// A built-in rule's text without its `custom_attributes:` block, which in
/// the pack holds only the examples (`rsigma.exemplars`): the block runs
/// from that top-level key to the next top-level line.
pub(super) fn without_examples(text: &str) -> std::borrow::Cow<'_, str> {
    let Some(start) = text
        .strip_prefix("custom_attributes:")
        .map(|_| 0)
        .or_else(|| text.find("\ncustom_attributes:").map(|at| at + 1))
    else {
        return std::borrow::Cow::Borrowed(text);
    };
    let after = &text[start..];
    // The next line that starts a top-level key (not indented, not a comment).
    let end = after
        .match_indices('\n')
        .map(|(at, _)| at + 1)
        .find(|&line| {
            after[line..]
                .chars()
                .next()
                .is_some_and(|c| !c.is_whitespace() && c != '#')
        })
        .map_or(text.len(), |line| start + line);
    let mut out = String::with_capacity(text.len() - (end - start));
    out.push_str(&text[..start]);
    out.push_str(&text[end..]);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_file_in_the_pack_directory_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/rules/builtin");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("builtin dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".yml"))
            .collect();
        on_disk.sort();
        let listed: Vec<&str> = super::FILES.iter().map(|(name, _)| *name).collect();
        assert_eq!(on_disk, listed);
    }

    #[test]
    fn without_examples_cuts_only_the_custom_attributes_block() {
        let text = "title: t\ndetection:\n  sel: {a: 1}\n  condition: sel\n\
                    custom_attributes:\n    rsigma.exemplars:\n        - name: x\n\n\
                    # a comment inside\n        - name: y\nlevel: high\n";
        assert_eq!(
            super::without_examples(text),
            "title: t\ndetection:\n  sel: {a: 1}\n  condition: sel\nlevel: high\n"
        );
        let last = "title: t\ncustom_attributes:\n  k: v\n";
        assert_eq!(super::without_examples(last), "title: t\n");
        assert_eq!(super::without_examples("title: t\n"), "title: t\n");
    }

    /// The pack read without its examples is the same pack: the same
    /// rules, filed alike, giving the same verdict on every example.
    #[test]
    fn the_pack_without_examples_decides_as_the_pack_with_them() {
        use crate::rules::{RuleConfig, RuleSet};
        let full = RuleSet::load(&RuleConfig::default()).expect("pack");
        let lean = RuleSet::load(&RuleConfig {
            examples: false,
            ..RuleConfig::default()
        })
        .expect("pack without examples");
        assert_eq!(full.len(), lean.len());
        let mut checked = 0;
        for (with, without) in full.rules().iter().zip(lean.rules()) {
            assert_eq!(with.meta, without.meta);
            assert_eq!(with.index_key, without.index_key);
            assert_eq!(
                (with.alerts, with.feeds_correlation),
                (without.alerts, without.feeds_correlation)
            );
            assert!(without.examples.is_empty(), "{}", without.meta.origin);
            for example in &with.examples {
                let mut event = example.event.clone();
                crate::record::normalize_event_name_in(&mut event);
                assert_eq!(
                    with.matches(&event),
                    without.matches(&event),
                    "{}: {}",
                    with.meta.origin,
                    example.name
                );
                checked += 1;
            }
        }
        let thresholds = |set: &RuleSet| -> Vec<String> {
            set.correlations()
                .thresholds()
                .iter()
                .map(|t| t.meta.id.clone())
                .collect()
        };
        assert_eq!(thresholds(&full), thresholds(&lean));
        assert!(checked > 200, "{checked} examples");
    }
}
