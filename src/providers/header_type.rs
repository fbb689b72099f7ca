//! The event type a delivery's headers name, for a verified body that cannot be read: the
//! event is still logged (`invalid_payload`), and typed, so a filter by type finds it.

use axum::http::HeaderMap;

use super::common::header;
use super::{Provider, ProviderOptions, event_names};

/// The type the headers alone say, as the receiver would name it from a readable body, less
/// what only the body holds (GitHub's `issues`, not `issues.opened`); `None` where the
/// provider names its events in the body only (Jira, Slack, Stripe, ...).
pub fn header_event_type(
    provider: Provider,
    options: &ProviderOptions,
    headers: &HeaderMap,
) -> Option<String> {
    let named = match provider {
        Provider::GitHub => header(headers, "X-GitHub-Event"),
        Provider::GitLab => header(headers, "X-Gitlab-Event").and_then(event_names::gitlab_kind),
        Provider::Sentry => header(headers, "Sentry-Hook-Resource"),
        Provider::Custom => options
            .custom
            .as_ref()
            .and_then(|c| c.event_type_header.as_deref())
            .and_then(|name| header(headers, name)),
        // Linear names its events in a header too, but signs a timestamp in the body: a body
        // that cannot be read is never verified, so it is rejected, not logged as this.
        Provider::Linear
        | Provider::Jira
        | Provider::Slack
        | Provider::Stripe
        | Provider::StandardWebhooks
        | Provider::OpenWebUi => None,
    };
    named.map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::common::test_support::headers;

    #[test]
    fn header_event_type_table() {
        let custom: ProviderOptions =
            serde_json::from_value(serde_json::json!({"custom": {"event_type_header": "X-Kind"}}))
                .expect("options");
        let none = ProviderOptions::default();
        let cases = [
            (
                Provider::GitHub,
                &none,
                ("X-GitHub-Event", "issues"),
                Some("issues"),
            ),
            (
                Provider::GitLab,
                &none,
                ("X-Gitlab-Event", "Note Hook"),
                Some("note"),
            ),
            (
                Provider::GitLab,
                &none,
                ("X-Gitlab-Event", "Confidential Issue Hook"),
                Some("issue"),
            ),
            (
                Provider::GitLab,
                &none,
                ("X-Gitlab-Event", "Job Hook"),
                Some("build"),
            ),
            // Several kinds, or one GitLab does not name: no type rather than a wrong one.
            (
                Provider::GitLab,
                &none,
                ("X-Gitlab-Event", "Member Hook"),
                None,
            ),
            (
                Provider::GitLab,
                &none,
                ("X-Gitlab-Event", "System Hook"),
                None,
            ),
            (
                Provider::Sentry,
                &none,
                ("Sentry-Hook-Resource", "issue"),
                Some("issue"),
            ),
            (
                Provider::Custom,
                &custom,
                ("X-Kind", "order.paid"),
                Some("order.paid"),
            ),
            (Provider::Custom, &none, ("X-Kind", "order.paid"), None),
            (Provider::Jira, &none, ("X-GitHub-Event", "issues"), None),
            (Provider::GitHub, &none, ("X-Other", "issues"), None),
        ];
        for (provider, options, header, want) in cases {
            let got = header_event_type(provider, options, &headers(&[header]));
            assert_eq!(got.as_deref(), want, "{provider} {header:?}");
        }
    }
}
