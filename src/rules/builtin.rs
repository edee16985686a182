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
    "cloudtrail_tampering.yml",
    "config_recording_stopped.yml",
    "console_login_failed.yml",
    "console_login_without_mfa.yml",
    "denied_calls_burst.yml",
    "guardduty_disabled.yml",
    "iam_admin_policy_attached.yml",
    "iam_policy_attached.yml",
    "iam_user_or_credentials_created.yml",
    "kms_key_disabled_or_deletion_scheduled.yml",
    "lambda_function_changed.yml",
    "lambda_function_url_public.yml",
    "lambda_invoked_not_by_s3.yml",
    "lambda_layer_from_other_account.yml",
    "lambda_permission_public.yml",
    "lex_bot_changed.yml",
    "resource_policy_made_public.yml",
    "root_access_key_created.yml",
    "root_identity_used.yml",
    "s3_block_public_access_removed.yml",
    "s3_bucket_made_public.yml",
    "security_group_ingress_open_to_internet.yml",
    "securityhub_disabled.yml",
    "snapshot_or_ami_made_public.yml",
    "snapshot_or_ami_shared_with_account.yml",
    "sns_topic_created.yml",
    "vpc_flow_logs_deleted.yml",
];

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
}
