//! Saving a command: whether a task's prompt template prints what a sender words (an issue's
//! title, a comment's body): a `create_task`'s, or an `ask`'s, whose question is the prompt of
//! the task that waits for its answer. The rendered prompt is the agent's instructions, outside the
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

/// The values `template` prints that a sender words, as written (`issue.title`), each once,
/// in the order they come.
pub fn printed_sender_text(template: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for printed in PRINTED.captures_iter(template) {
        let Some(expression) = printed.get(1).map(|e| e.as_str().trim()) else {
            continue;
        };
        let worded = LAST_NAME
            .captures(expression)
            .and_then(|c| c.get(1))
            .is_some_and(|last| WORDED.contains(&last.as_str().to_ascii_lowercase().as_str()));
        if worded && !found.iter().any(|f| f == expression) {
            found.push(expression.to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_a_sender_words_are_told_from_those_it_cannot() {
        let cases: [(&str, &[&str]); 10] = [
            ("Triage this issue: {{issue.title}}", &["issue.title"]),
            ("{{ comment.body | truncate(200) }}", &["comment.body"]),
            ("Said: {{- event[\"text\"] -}}", &["event[\"text\"]"]),
            ("{{ object_attributes.note }}", &["object_attributes.note"]),
            ("{{issue.fields.summary}}", &["issue.fields.summary"]),
            // Every one, each once.
            (
                "Analyze: {{ issue.title }}\n\n{{ issue.body }} ({{issue.title}})",
                &["issue.title", "issue.body"],
            ),
            ("#{{ issue.number }} in {{ repository.full_name }}", &[]),
            ("{{ event_type }} by {{ sender.login }}", &[]),
            ("{% if issue.title %}new issue{% endif %}", &[]),
            ("no values at all", &[]),
        ];
        for (template, printed) in cases {
            assert_eq!(printed_sender_text(template), printed, "{template}");
        }
    }
}
