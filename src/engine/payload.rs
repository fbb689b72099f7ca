//! Reading payloads: a field by dotted path or JSON pointer, and the few things conditions ask
//! of every provider (labels, the text body, the channel, who sent it) wherever each one puts
//! them. Pure.

use serde_json::Value;

/// The value at a dotted path (`issue.labels.0.name`) or JSON pointer (`/issue/labels/0/name`).
pub fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    if path.starts_with('/') {
        return root.pointer(path);
    }
    path.split('.').try_fold(root, |v, key| match v {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// A scalar as text: strings as is, numbers and booleans printed.
pub fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn texts_at(root: &Value, paths: &[&str]) -> Vec<String> {
    paths
        .iter()
        .filter_map(|p| lookup(root, p).and_then(as_text))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Names in a list of labels, whether plain strings (Jira) or objects with `name`/`title`.
fn label_names(list: Option<&Value>) -> Vec<String> {
    let Some(Value::Array(items)) = list else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|l| match l {
            Value::String(s) => Some(s.clone()),
            Value::Object(_) => lookup(l, "name")
                .or_else(|| lookup(l, "title"))
                .and_then(as_text),
            _ => None,
        })
        .collect()
}

/// The labels on the item the event is about: GitHub issue/PR, GitLab, Jira, Linear.
pub fn labels(p: &Value) -> Vec<String> {
    [
        "issue.labels",
        "pull_request.labels",
        "labels",
        "object_attributes.labels",
        "issue.fields.labels",
        "data.labels",
    ]
    .iter()
    .flat_map(|path| label_names(lookup(p, path)))
    .collect()
}

/// The label(s) this event added: GitHub `label` on `*.labeled`, GitLab `changes.labels`,
/// Jira changelog items for the `labels` field.
pub fn labels_added(p: &Value) -> Vec<String> {
    let mut added = texts_at(p, &["label.name"]);
    let before = label_names(lookup(p, "changes.labels.previous"));
    added.extend(
        label_names(lookup(p, "changes.labels.current"))
            .into_iter()
            .filter(|l| !before.contains(l)),
    );
    if let Some(Value::Array(items)) = lookup(p, "changelog.items") {
        for item in items
            .iter()
            .filter(|i| lookup(i, "field").and_then(Value::as_str) == Some("labels"))
        {
            let old: Vec<&str> = lookup(item, "fromString")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            let new = lookup(item, "toString")
                .and_then(Value::as_str)
                .unwrap_or_default();
            added.extend(
                new.split_whitespace()
                    .filter(|l| !old.contains(l))
                    .map(str::to_string),
            );
        }
    }
    added
}

/// The text bodies an event carries: comment, issue/PR description, message text.
pub fn bodies(p: &Value) -> Vec<String> {
    texts_at(
        p,
        &[
            "comment.body",
            "issue.body",
            "pull_request.body",
            "review.body",
            "object_attributes.note",
            "object_attributes.description",
            "object_attributes.title",
            "issue.fields.description",
            "issue.fields.summary",
            "event.text",
            "text",
            "data.body",
            "data.description",
            "message",
            "data.message",
            "data.content",
        ],
    )
}

/// The channel an event happened in, by id and by name where the sender gives one.
pub fn channels(p: &Value) -> Vec<String> {
    texts_at(
        p,
        &[
            "event.channel",
            "channel_id",
            "channel_name",
            "channel.id",
            "channel.name",
            "container.channel_id",
            "data.channel_id",
            "data.channel.name",
        ],
    )
}

/// Who caused the event: GitHub `sender`, Slack user, GitLab user, Jira user, Linear/Sentry
/// actor, Open WebUI actor.
pub fn senders(p: &Value) -> Vec<String> {
    texts_at(
        p,
        &[
            "sender.login",
            "event.user",
            "user_id",
            "user_name",
            "user.id",
            "user.username",
            "user.name",
            "user.accountId",
            "user.displayName",
            "user.emailAddress",
            "actor.name",
            "actor.id",
            "actor.email",
        ],
    )
}

/// Who wrote the item: the comment's, issue's or PR's author, else the sender.
pub fn authors(p: &Value) -> Vec<String> {
    let authors = texts_at(
        p,
        &[
            "comment.user.login",
            "issue.user.login",
            "pull_request.user.login",
            "review.user.login",
            "comment.author.accountId",
            "comment.author.displayName",
            "comment.author.emailAddress",
            "issue.fields.reporter.displayName",
            "issue.fields.reporter.accountId",
            "object_attributes.author_id",
            "data.user.name",
            "data.creator.name",
        ],
    );
    if authors.is_empty() {
        senders(p)
    } else {
        authors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookup_reads_dotted_paths_and_pointers() {
        let v = json!({"issue": {"labels": [{"name": "bug"}], "n": 3}});
        assert_eq!(lookup(&v, "issue.labels.0.name"), Some(&json!("bug")));
        assert_eq!(lookup(&v, "/issue/labels/0/name"), Some(&json!("bug")));
        assert_eq!(lookup(&v, "issue.missing"), None);
        assert_eq!(lookup(&v, "issue.labels.x"), None);
    }

    #[test]
    fn labels_are_found_for_each_provider_shape() {
        let github = json!({"issue": {"labels": [{"name": "bug"}, {"name": "p1"}]}});
        let gitlab = json!({"labels": [{"title": "backend"}]});
        let jira = json!({"issue": {"fields": {"labels": ["ops"]}}});
        assert_eq!(labels(&github), ["bug", "p1"]);
        assert_eq!(labels(&gitlab), ["backend"]);
        assert_eq!(labels(&jira), ["ops"]);
    }

    #[test]
    fn added_labels_come_from_each_provider_shape() {
        let github = json!({"action": "labeled", "label": {"name": "urgent"}});
        let gitlab = json!({"changes": {"labels": {
            "previous": [{"title": "a"}], "current": [{"title": "a"}, {"title": "urgent"}]}}});
        let jira = json!({"changelog": {"items": [
            {"field": "labels", "fromString": "a", "toString": "a urgent"}]}});
        for p in [github, gitlab, jira] {
            assert_eq!(labels_added(&p), ["urgent"], "{p}");
        }
    }
}
