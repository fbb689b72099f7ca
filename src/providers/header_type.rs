//! The event type and delivery id a delivery's headers name, for a verified body that cannot
//! be read: the event is still logged (`invalid_payload`), typed, so a filter by type finds it,
//! and known by its id, so the sender's retries of it are duplicates.

use axum::http::HeaderMap;
use serde_json::Value;

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
        // A forward names its event's type in a header (percent-encoded), as the receiver
        // reads it from a body that names none.
        Provider::StandardWebhooks => {
            return super::standard::forwarded_type(headers).map(super::bounded_type);
        }
        Provider::Linear
        | Provider::Jira
        | Provider::Slack
        | Provider::Stripe
        | Provider::OpenWebUi => None,
    };
    named.map(|t| super::bounded_type(t.to_owned()))
}

/// The delivery id the headers carry, read by the provider's own `describe` over no payload:
/// the very headers a readable delivery is known by (GitHub's `X-GitHub-Delivery`, GitLab's
/// `Idempotency-Key`), so a retry is known whichever body it brings. `None` where the id is in
/// the body only (Slack, Stripe, Open WebUI, a custom webhook's `delivery_id_pointer` without
/// a `delivery_id_header`: its readable deliveries are known by the body's id, never by the
/// headers `describe` falls back to, so an id from those would match none of them).
pub fn header_delivery_id(
    provider: Provider,
    options: &ProviderOptions,
    headers: &HeaderMap,
) -> Option<String> {
    let custom = options.custom.as_ref();
    if provider == Provider::Custom
        && custom.is_some_and(|c| c.delivery_id_pointer.is_some() && c.delivery_id_header.is_none())
    {
        return None;
    }
    super::describe(provider, options, headers, &Value::Null).delivery_id
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
            (
                Provider::StandardWebhooks,
                &none,
                ("X-Webhook-Event", "issues.opened"),
                Some("issues.opened"),
            ),
            (Provider::Jira, &none, ("X-GitHub-Event", "issues"), None),
            (Provider::GitHub, &none, ("X-Other", "issues"), None),
        ];
        for (provider, options, header, want) in cases {
            let got = header_event_type(provider, options, &headers(&[header]));
            assert_eq!(got.as_deref(), want, "{provider} {header:?}");
        }
    }

    #[test]
    fn header_delivery_id_table() {
        let custom: ProviderOptions = serde_json::from_value(
            serde_json::json!({"custom": {"delivery_id_header": "X-Id", "delivery_id_pointer": "/id"}}),
        )
        .expect("options");
        let pointer_only: ProviderOptions =
            serde_json::from_value(serde_json::json!({"custom": {"delivery_id_pointer": "/id"}}))
                .expect("options");
        let none = ProviderOptions::default();
        let cases = [
            (
                Provider::GitHub,
                &none,
                ("X-GitHub-Delivery", "d-1"),
                Some("d-1"),
            ),
            (
                Provider::GitLab,
                &none,
                ("Idempotency-Key", "k-1"),
                Some("k-1"),
            ),
            (
                Provider::Jira,
                &none,
                ("X-Atlassian-Webhook-Identifier", "j-1"),
                Some("j-1"),
            ),
            (Provider::Sentry, &none, ("Request-ID", "r-1"), Some("r-1")),
            (
                Provider::StandardWebhooks,
                &none,
                ("webhook-id", "msg_1"),
                Some("msg_1"),
            ),
            (Provider::Custom, &custom, ("X-Id", "c-1"), Some("c-1")),
            (
                Provider::Custom,
                &none,
                ("X-Delivery-Id", "c-2"),
                Some("c-2"),
            ),
            // A tracing header, shared by the calls of one request: no delivery id.
            (Provider::Custom, &none, ("X-Request-Id", "c-4"), None),
            // Its id is in the body: the headers a readable delivery never uses name nothing.
            (
                Provider::Custom,
                &pointer_only,
                ("X-Request-Id", "c-3"),
                None,
            ),
            // GitLab's per-attempt UUID is never the id, nor is another provider's header.
            (
                Provider::GitLab,
                &none,
                ("X-Gitlab-Webhook-UUID", "w-1"),
                None,
            ),
            (Provider::Jira, &none, ("X-GitHub-Delivery", "d-1"), None),
            // Stripe's id is in its body only.
            (Provider::Stripe, &none, ("webhook-id", "msg_1"), None),
        ];
        for (provider, options, header, want) in cases {
            let got = header_delivery_id(provider, options, &headers(&[header]));
            assert_eq!(got.as_deref(), want, "{provider} {header:?}");
        }
    }
}
