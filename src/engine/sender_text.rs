//! Saving a command: whether a task's prompt template prints what a sender words (an issue's
//! title, a comment's body). The rendered prompt is the agent's instructions, outside the
//! `<event_data>` the runner marks as untrusted, so such a field lets a sender steer the agent;
//! the save is answered with a warning naming it (the event goes with the task as data anyway).

use std::sync::LazyLock;

use regex::Regex;

/// The last part of a printed value's path that names text a sender writes, in the payloads
/// of the providers received (GitHub's `title`/`body`, GitLab's `note`/`description`, Slack's
/// `text`, Jira's `summary`, Sentry's `message`...).
const WORDED: [&str; 11] = [
    "title",
    "body",
    "text",
    "description",
    "note",
    "message",
    "comment",
    "summary",
    "content",
    "markdown",
    "plain_text",
];

/// Each `{{ … }}` of a template: its expression before any filter.
static PRINTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{\{-?\s*([^}|]*?)\s*(?:\|[^}]*)?-?\}\}").expect("printed pattern")
});

/// The last name of a path (`issue.title`, `event["text"]`, `comment.body`).
static LAST_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"([A-Za-z_][A-Za-z0-9_]*)(?:"\])?\s*$"#).expect("last name pattern")
});

/// The first value `template` prints that a sender words, as written (`issue.title`).
pub fn printed_sender_text(template: &str) -> Option<String> {
    PRINTED.captures_iter(template).find_map(|printed| {
        let expression = printed.get(1)?.as_str().trim();
        let last = LAST_NAME.captures(expression)?.get(1)?.as_str();
        WORDED
            .contains(&last.to_ascii_lowercase().as_str())
            .then(|| expression.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_a_sender_words_are_told_from_those_it_cannot() {
        let cases = [
            ("Triage this issue: {{issue.title}}", Some("issue.title")),
            ("{{ comment.body | truncate(200) }}", Some("comment.body")),
            ("Said: {{- event[\"text\"] -}}", Some("event[\"text\"]")),
            (
                "{{ object_attributes.note }}",
                Some("object_attributes.note"),
            ),
            ("{{issue.fields.summary}}", Some("issue.fields.summary")),
            ("#{{ issue.number }} in {{ repository.full_name }}", None),
            ("{{ event_type }} by {{ sender.login }}", None),
            ("{% if issue.title %}new issue{% endif %}", None),
            ("no values at all", None),
        ];
        for (template, printed) in cases {
            assert_eq!(
                printed_sender_text(template).as_deref(),
                printed,
                "{template}"
            );
        }
    }
}
