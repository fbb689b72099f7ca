//! An event's headline for listings (`list_events`, `GET /api/events`): the title of the
//! issue, pull request or alert it is about, or the start of the message it carries, so that a
//! model or a person reading a page of events knows what each is without opening it.

use serde_json::Value;

use super::Provider;

/// The longest headline shown, in characters: a title, not the body.
pub const MAX_CHARS: usize = 120;

/// Where each provider keeps what its events are about, most specific first. A comment's
/// payload carries its issue's title, which names the thread better than the comment's
/// start, so titles come before texts.
fn places(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::GitHub => &[
            "/issue/title",
            "/pull_request/title",
            "/discussion/title",
            "/workflow_run/display_title",
            "/workflow_run/name",
            "/workflow_job/name",
            "/check_run/name",
            "/release/name",
            "/head_commit/message",
        ],
        Provider::GitLab => &[
            "/object_attributes/title",
            "/merge_request/title",
            "/issue/title",
            "/object_attributes/name",
            "/commits/0/title",
            "/commits/0/message",
        ],
        Provider::Jira => &["/issue/fields/summary"],
        Provider::Linear => &[
            "/data/title",
            "/data/issue/title",
            "/data/agentSession/issue/title",
            "/notification/issue/title",
            "/data/body",
        ],
        Provider::Sentry => &[
            "/data/issue/title",
            "/data/event/title",
            "/data/error/title",
            "/data/description_title",
            "/data/comment",
        ],
        Provider::Slack => &[
            "/event/text",
            "/event/message/text",
            "/message/text",
            "/text",
            "/view/title/text",
        ],
        Provider::Stripe => &["/data/object/description"],
        Provider::OpenWebUi => &[
            "/data/title",
            "/title",
            "/data/content_preview",
            "/data/message",
            "/message",
        ],
        Provider::StandardWebhooks | Provider::Custom => &[],
    }
}

/// Where any sender's JSON may name what it is about: Alertmanager's and many CI tools'
/// shapes, and the common words.
const ANY_SENDER: &[&str] = &[
    "/title",
    "/subject",
    "/summary",
    "/commonAnnotations/summary",
    "/data/title",
    "/data/name",
    "/message",
    "/text",
];

/// The headline of `payload` as `provider` sends it, on one line and at most [`MAX_CHARS`]
/// characters (cut between graphemes, with `…`); None when it names nothing.
pub fn headline(provider: Provider, payload: &Value) -> Option<String> {
    let found = places(provider)
        .iter()
        .chain(ANY_SENDER)
        .filter_map(|at| payload.pointer(at).and_then(Value::as_str))
        .map(str::trim)
        .find(|text| !text.is_empty())?;
    Some(shortened(found))
}

/// `text`'s first line, whitespace runs made one space, cut to [`MAX_CHARS`].
fn shortened(text: &str) -> String {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let line = first.split_whitespace().collect::<Vec<_>>().join(" ");
    let more_lines = text.trim().lines().count() > 1;
    let kept = crate::text_cut::within(&line, MAX_CHARS - 1, |_| 1);
    if kept.len() < line.len() || more_lines {
        format!("{kept}…")
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_sender_names_what_its_events_are_about() {
        let cases: &[(Provider, Value, Option<&str>)] = &[
            (
                Provider::GitHub,
                json!({"action": "opened", "issue": {"title": "Login fails", "body": "x"}}),
                Some("Login fails"),
            ),
            // A comment is named by its issue, not by its own text.
            (
                Provider::GitHub,
                json!({"issue": {"title": "Login fails"}, "comment": {"body": "@agent look"}}),
                Some("Login fails"),
            ),
            (
                Provider::GitHub,
                json!({"pull_request": {"title": "Fix login"}}),
                Some("Fix login"),
            ),
            (
                Provider::GitHub,
                json!({"head_commit": {"message": "Bump deps\n\nLong text"}}),
                Some("Bump deps…"),
            ),
            (Provider::GitHub, json!({"zen": "Keep it simple."}), None),
            (
                Provider::GitLab,
                json!({"object_attributes": {"title": "MR one"}}),
                Some("MR one"),
            ),
            (
                Provider::GitLab,
                json!({"object_attributes": {"note": "hi"}, "merge_request": {"title": "MR two"}}),
                Some("MR two"),
            ),
            (
                Provider::Jira,
                json!({"issue": {"key": "T-1", "fields": {"summary": "Broken build"}}}),
                Some("Broken build"),
            ),
            (
                Provider::Linear,
                json!({"data": {"body": "a comment", "issue": {"title": "ENG issue"}}}),
                Some("ENG issue"),
            ),
            (
                Provider::Sentry,
                json!({"data": {"issue": {"title": "ZeroDivisionError"}}}),
                Some("ZeroDivisionError"),
            ),
            (
                Provider::Slack,
                json!({"event": {"type": "app_mention", "text": "<@U1> deploy please"}}),
                Some("<@U1> deploy please"),
            ),
            (
                Provider::Stripe,
                json!({"data": {"object": {"object": "charge", "description": "Order 42"}}}),
                Some("Order 42"),
            ),
            (
                Provider::OpenWebUi,
                json!({"data": {"content_preview": "Hello **team**"}}),
                Some("Hello **team**"),
            ),
            (
                Provider::Custom,
                json!({"commonAnnotations": {"summary": "Disk almost full"}}),
                Some("Disk almost full"),
            ),
            (
                Provider::StandardWebhooks,
                json!({"type": "invoice.paid", "data": {"id": "in_1"}}),
                None,
            ),
            // Blank titles are passed over; a number is not text to show.
            (
                Provider::Custom,
                json!({"title": "  ", "subject": 7, "message": "build 12 failed"}),
                Some("build 12 failed"),
            ),
            (Provider::Custom, json!(["not", "an", "object"]), None),
        ];
        for (provider, payload, want) in cases {
            assert_eq!(
                headline(*provider, payload).as_deref(),
                *want,
                "{provider:?} {payload}"
            );
        }
    }

    #[test]
    fn a_headline_is_one_line_of_bounded_length() {
        let long = "word ".repeat(100);
        let shown = headline(Provider::Custom, &json!({"title": long})).unwrap();
        assert_eq!(shown.chars().count(), MAX_CHARS);
        assert!(shown.ends_with('…'));
        let spaced = headline(Provider::Custom, &json!({"title": "a \t  b\r\n\nc"})).unwrap();
        assert_eq!(spaced, "a b…");
        // A cut never splits a flag.
        let flags = "🇫🇷".repeat(200);
        let shown = headline(Provider::Custom, &json!({"title": flags})).unwrap();
        assert!(
            shown
                .trim_end_matches('…')
                .chars()
                .count()
                .is_multiple_of(2)
        );
    }

    #[test]
    fn the_built_in_samples_of_threads_and_alerts_have_a_headline() {
        use crate::providers::samples::sample;
        let cases = [
            (Provider::GitHub, "issues.opened"),
            (Provider::GitHub, "issue_comment.created"),
            (Provider::GitHub, "pull_request.opened"),
            (Provider::GitLab, "merge_request.open"),
            (Provider::Jira, "jira:issue_created"),
            (Provider::Linear, "Issue.create"),
            (Provider::Sentry, "issue.created"),
            (Provider::Slack, "app_mention"),
            (Provider::Slack, "message_changed"),
            (Provider::GitHub, "workflow_run.completed"),
            (Provider::Sentry, "comment.created"),
            (Provider::OpenWebUi, "message.created"),
        ];
        for (provider, event_type) in cases {
            let s = sample(provider, Some(event_type), None, 1_763_900_000_000).unwrap();
            let payload = crate::providers::parse_payload(provider, &s.body).unwrap();
            assert!(
                headline(provider, &payload).is_some(),
                "{provider:?} {event_type}: {payload}"
            );
        }
    }
}
