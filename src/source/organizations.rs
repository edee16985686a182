//! Account names from AWS Organizations (`ACCOUNT_NAMES_FROM_ORGANIZATIONS`):
//! `ListAccounts`, every page, once per cold start. It answers in the
//! organization's management account or a delegated administrator only.

use std::time::Duration;

use aws_sdk_organizations::error::DisplayErrorContext;
use aws_sdk_organizations::Client;

use crate::alert::AccountNames;

/// How long the whole listing may take: it runs while the function
/// starts, and names are not worth a slow start.
pub const LIST_TIMEOUT: Duration = Duration::from_secs(5);

/// Every account of the organization with a name; `Err` says why not
/// (the call's error, or the time limit).
pub async fn account_names(client: &Client, timeout: Duration) -> Result<AccountNames, String> {
    let list = async {
        let mut names = AccountNames::default();
        let mut pages = client.list_accounts().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|e| format!("organizations:ListAccounts: {}", DisplayErrorContext(&e)))?;
            for account in page.accounts() {
                if let (Some(id), Some(name)) = (account.id(), account.name()) {
                    if !name.trim().is_empty() {
                        names.insert(id, name);
                    }
                }
            }
        }
        Ok(names)
    };
    tokio::time::timeout(timeout, list)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "organizations:ListAccounts: no answer within {timeout:?}"
            ))
        })
}
