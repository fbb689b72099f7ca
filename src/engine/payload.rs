//! Reading payloads: a field by dotted path or JSON pointer, and the few things conditions ask
//! of every provider (labels, the text body, the channel, who sent it) wherever each one puts
//! them. Pure.

use std::collections::HashSet;

use serde_json::Value;

/// The value at a dotted path (`issue.labels.0.name`) or JSON pointer (`/issue/labels/0/name`).
/// A path written as a template reads it finds the same value: an index in brackets
/// (`issue.labels[0].name`), and `payload.` before it, naming the payload itself (unless the
/// payload has a `payload` field of its own, which the path then goes into, as it always did).
pub fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    if path.starts_with('/') {
        return root.pointer(path);
    }
    let path = match path.strip_prefix("payload.") {
        Some(rest) if root.get("payload").is_none() => rest,
        _ => path,
    };
    path.split('.').try_fold(root, step)
}

/// One step of a dotted path: a key, an index, or a key with indices (`labels[0]`, `m[1][2]`)
/// when no key is spelt so.
fn step<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let direct = match v {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    };
    if direct.is_some() {
        return direct;
    }
    let (name, indices) = key.split_once('[')?;
    let mut at = if name.is_empty() { v } else { step(v, name)? };
    for index in indices.strip_suffix(']')?.split("][") {
        at = at.as_array()?.get(index.parse::<usize>().ok()?)?;
    }
    Some(at)
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
        .filter_map(|p| lookup(root, p).and_then(|v| as_text(v).or_else(|| document_text(v))))
        .filter(|s| !s.is_empty())
        .collect()
}

/// The words of an Atlassian Document Format value (`{"type": "doc", "content": [...]}`),
/// which Jira sends for comment and description bodies in place of text: its text nodes, a
/// line per block.
pub(crate) fn document_text(v: &Value) -> Option<String> {
    if v.get("type").and_then(Value::as_str) != Some("doc") {
        return None;
    }
    fn walk(node: &Value, out: &mut String) {
        let attr = |name: &str| {
            node.pointer(&format!("/attrs/{name}"))
                .and_then(Value::as_str)
        };
        if let Some(text) = node.get("text").and_then(Value::as_str) {
            out.push_str(text);
        }
        match node.get("type").and_then(Value::as_str) {
            Some("hardBreak") => out.push('\n'),
            // Inline nodes whose words are in their attributes: `@Bot` addressing an agent
            // is a mention node, and a condition on `@Bot` must see it.
            Some("mention" | "status") => out.push_str(attr("text").unwrap_or_default()),
            Some("emoji") => out.push_str(attr("text").or(attr("shortName")).unwrap_or_default()),
            Some("inlineCard") => out.push_str(attr("url").unwrap_or_default()),
            _ => {}
        }
        if let Some(Value::Array(children)) = node.get("content") {
            let block = node.get("text").is_none()
                && node.get("type").and_then(Value::as_str) != Some("doc");
            for child in children {
                walk(child, out);
            }
            if block && !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    let mut out = String::new();
    walk(v, &mut out);
    Some(out.trim_end().to_string())
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
        // A GitLab note on a merge request carries it, labels and all.
        "merge_request.labels",
        "labels",
        "object_attributes.labels",
        "issue.fields.labels",
        "data.labels",
        "discussion.labels",
    ]
    .iter()
    .flat_map(|path| label_names(lookup(p, path)))
    .collect()
}

/// The label(s) this event added: GitHub `label` on `*.labeled` (not on `*.unlabeled`, which
/// names the label taken off), GitLab `changes.labels`, Jira changelog items for the `labels`
/// field, Linear's labels less its `updatedFrom.labelIds`.
pub fn labels_added(p: &Value) -> Vec<String> {
    // GitHub's `label` events (`label.created`, `.deleted`) are about the repository's list
    // of labels, not about an item getting one.
    let mut added = match p.get("action").and_then(Value::as_str) {
        None | Some("labeled") => texts_at(p, &["label.name"]),
        Some(_) => Vec::new(),
    };
    // Sets: a sender's lists of thousands are compared in time linear in their length.
    let before: HashSet<String> = label_names(lookup(p, "changes.labels.previous"))
        .into_iter()
        .collect();
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
            let old: HashSet<&str> = lookup(item, "fromString")
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
    // Linear: the issue's labels now, less the ones it had (`updatedFrom.labelIds`, sent
    // only when they changed).
    if let (Some(Value::Array(had)), Some(Value::Array(now))) =
        (lookup(p, "updatedFrom.labelIds"), lookup(p, "data.labels"))
    {
        let had: HashSet<&str> = had.iter().filter_map(Value::as_str).collect();
        added.extend(
            now.iter()
                .filter(|l| {
                    l.get("id")
                        .is_some_and(|id| id.as_str().is_none_or(|id| !had.contains(id)))
                })
                .filter_map(|l| l.get("name").and_then(Value::as_str))
                .map(str::to_string),
        );
    }
    added
}

/// Whether the event is about a comment (GitHub/Jira `comment`, a PR `review`, a GitLab note,
/// a Linear `Comment`): then the issue it sits on is context, and what was written now is the
/// comment.
fn about_a_comment(p: &Value) -> bool {
    ["comment", "review"]
        .iter()
        .any(|k| p.get(k).is_some_and(Value::is_object))
        || p.pointer("/object_attributes/note").is_some()
        || (p.get("type").and_then(Value::as_str) == Some("Comment")
            && p.get("data").is_some_and(Value::is_object)
            && p.get("webhookTimestamp").is_some())
}

/// The text bodies an event carries: the comment on a comment event, else the issue/PR
/// description, message text.
pub fn bodies(p: &Value) -> Vec<String> {
    // A GitLab release's notes are at the top, where other events (GitHub's `create`) carry
    // a repository's description, which is no body of theirs.
    if p.get("object_kind").and_then(Value::as_str) == Some("release") {
        return texts_at(p, &["description"]);
    }
    if about_a_comment(p) {
        return texts_at(
            p,
            &[
                "comment.body",
                "review.body",
                "object_attributes.note",
                "data.body",
            ],
        );
    }
    texts_at(
        p,
        &[
            "issue.body",
            "pull_request.body",
            "discussion.body",
            "release.body",
            "object_attributes.description",
            "object_attributes.title",
            "issue.fields.description",
            "issue.fields.summary",
            "event.text",
            // Slack's `message_changed`: the message as edited.
            "event.message.text",
            // A custom sender's text at the top, by the names senders give it.
            "text",
            "body",
            "content",
            "data.body",
            "data.description",
            "message",
            "data.message",
            "data.content",
            // Open WebUI's channel message: its events show the beginning only.
            "data.content_preview",
            // Sentry: a comment's text, an issue's, error's or alert's title.
            "data.comment",
            "data.issue.title",
            "data.error.title",
            "data.event.title",
            "data.metric_alert.title",
        ],
    )
}

/// The channel an event happened in, by id and by name where the sender gives one.
pub fn channels(p: &Value) -> Vec<String> {
    let mut found = texts_at(
        p,
        &[
            "event.channel",
            // Slack: a reaction names the message's channel in its item, a pin by id.
            "event.item.channel",
            "event.channel_id",
            "channel_id",
            "channel_name",
            "channel.id",
            "channel.name",
            "container.channel_id",
            "data.channel_id",
            "data.channel.name",
        ],
    );
    // An Open WebUI notification of a channel message names the channel by its page only
    // (`.../channels/<id>`), and by its name as the `title`.
    if p.get("action").and_then(Value::as_str) == Some("channel") {
        let page = p.get("url").and_then(Value::as_str).unwrap_or_default();
        if let Some((_, id)) = page.rsplit_once("/channels/") {
            let id = id.split(['/', '?', '#']).next().unwrap_or_default();
            if !id.is_empty() {
                found.push(id.to_string());
            }
        }
        found.extend(texts_at(p, &["title"]));
    }
    found
}

/// Who caused the event: GitHub `sender`, Slack user, GitLab user, Jira user, Linear/Sentry
/// actor, Open WebUI actor.
pub fn senders(p: &Value) -> Vec<String> {
    texts_at(
        p,
        &[
            "sender.login",
            "event.user",
            // Slack's `message_changed` names who wrote (and edited) it in the message.
            "event.message.user",
            "user_id",
            "user_name",
            // GitLab's push and tag push name the pusher's username here.
            "user_username",
            "user.id",
            "user.username",
            "user.name",
            "user.accountId",
            "user.displayName",
            "user.emailAddress",
            "actor.name",
            "actor.id",
            "actor.email",
            // A Jira comment event names no `user`: who acted wrote or edited the comment.
            "comment.updateAuthor.accountId",
            "comment.updateAuthor.displayName",
            "comment.updateAuthor.emailAddress",
        ],
    )
}

/// Who wrote the item: the comment's author on a comment event, else the issue's or PR's,
/// else the sender.
pub fn authors(p: &Value) -> Vec<String> {
    let authors = if about_a_comment(p) {
        let mut found = texts_at(
            p,
            &[
                "comment.user.login",
                "review.user.login",
                "comment.author.accountId",
                "comment.author.displayName",
                "comment.author.emailAddress",
                "data.user.name",
            ],
        );
        // A GitLab note's author is the user who wrote it, named in `user`.
        if p.pointer("/object_attributes/note").is_some() {
            found.extend(texts_at(
                p,
                &["object_attributes.author_id", "user.username", "user.name"],
            ));
        }
        found
    } else {
        let mut found = texts_at(
            p,
            &[
                "issue.user.login",
                "pull_request.user.login",
                "discussion.user.login",
                "release.author.login",
                "issue.fields.reporter.displayName",
                "issue.fields.reporter.accountId",
                "data.user.name",
                "data.creator.name",
            ],
        );
        found.extend(gitlab_author(p));
        found
    };
    if authors.is_empty() {
        senders(p)
    } else {
        authors
    }
}

/// Who wrote a comment, as a person (or a model greeting them) would name them: a login,
/// username or display name where the event has one, not the number or account id that
/// [`authors`] gives first for the `author` condition (a GitLab note's `1`, a Jira
/// `5b10ac8d82e05b22cc7d4ef5`); else the first of [`authors`].
pub fn author_shown(p: &Value) -> Option<String> {
    let mut named = texts_at(
        p,
        &[
            "comment.user.login",
            "review.user.login",
            "comment.author.displayName",
            "data.user.name",
        ],
    );
    if p.pointer("/object_attributes/note").is_some() {
        named.extend(texts_at(p, &["user.username", "user.name"]));
    }
    named
        .into_iter()
        .next()
        .or_else(|| authors(p).into_iter().next())
}

/// GitLab names an item's author only by number (`object_attributes.author_id`); when the
/// user who acted is that author (opening an issue, say), their username is known too.
fn gitlab_author(p: &Value) -> Vec<String> {
    let Some(author_id) = p.pointer("/object_attributes/author_id") else {
        return Vec::new();
    };
    let mut found = texts_at(p, &["object_attributes.author_id"]);
    if p.pointer("/user/id") == Some(author_id) {
        found.extend(texts_at(p, &["user.username", "user.name"]));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_added_to_long_lists_are_found_in_time_linear_in_them() {
        // A sender's body of tens of thousands of labels on each side (it took seconds when
        // each was looked for in the other list).
        let before: Vec<String> = (0..40_000).map(|n| format!("l{n}")).collect();
        let mut now = before.clone();
        now.push("regression".into());
        let names: Vec<String> = (0..40_000).map(|n| format!("w{n}")).collect();
        let payloads = [
            json!({"action": "update", "changes": {"labels": {"previous": before,
                   "current": now}}}),
            json!({"changelog": {"items": [{"field": "labels",
                   "fromString": names.join(" "),
                   "toString": format!("{} regression", names.join(" "))}]}}),
        ];
        for payload in payloads {
            assert_eq!(labels_added(&payload), ["regression"]);
        }
    }

    #[test]
    fn lookup_reads_dotted_paths_and_pointers() {
        let v = json!({"issue": {"labels": [{"name": "bug"}], "n": 3}});
        assert_eq!(lookup(&v, "issue.labels.0.name"), Some(&json!("bug")));
        assert_eq!(lookup(&v, "/issue/labels/0/name"), Some(&json!("bug")));
        assert_eq!(lookup(&v, "issue.missing"), None);
        assert_eq!(lookup(&v, "issue.labels.x"), None);
    }

    #[test]
    fn lookup_reads_paths_written_as_templates_write_them() {
        let v = json!({"issue": {"labels": [{"name": "bug"}], "m": [[1, 2]], "n": 3},
                       "odd[0]": "literal"});
        let cases = [
            ("issue.labels[0].name", Some(json!("bug"))),
            ("issue.m[0][1]", Some(json!(2))),
            ("payload.issue.n", Some(json!(3))),
            ("payload.issue.labels[0].name", Some(json!("bug"))),
            ("odd[0]", Some(json!("literal"))),
            ("issue.labels[1].name", None),
            ("issue.labels[x].name", None),
            ("issue.labels[0", None),
            ("issue.n[0]", None),
            ("payload", None),
        ];
        for (path, want) in cases {
            assert_eq!(lookup(&v, path).cloned(), want, "{path}");
        }
        // A payload with a `payload` field of its own (a Slack interaction's form) is read
        // into it, as before.
        let form = json!({"payload": {"type": "block_actions"}, "type": "outer"});
        assert_eq!(lookup(&form, "payload.type"), Some(&json!("block_actions")));
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
        let discussion = json!({"action": "labeled", "discussion": {
            "body": "How do I configure it?", "user": {"login": "octocat"},
            "labels": [{"name": "question"}]}, "sender": {"login": "moderator"}});
        assert_eq!(labels(&discussion), ["question"]);
        assert_eq!(bodies(&discussion), ["How do I configure it?"]);
        assert_eq!(authors(&discussion), ["octocat"]);
        let release = json!({"action": "published", "release": {
            "body": "Fixes the crash", "author": {"login": "octocat"}}});
        assert_eq!(bodies(&release), ["Fixes the crash"]);
        assert_eq!(authors(&release), ["octocat"]);
        let gitlab_release = json!({"object_kind": "release", "action": "create",
            "name": "v1.1", "tag": "v1.1", "description": "Fixes the crash"});
        assert_eq!(bodies(&gitlab_release), ["Fixes the crash"]);
        let github_create = json!({"ref": "v1.1", "ref_type": "tag",
            "description": "A repository's description", "sender": {"login": "octocat"}});
        assert!(bodies(&github_create).is_empty());
        // Slack: an edit's text and writer are in its message; a reaction's channel in its
        // item.
        let edited = json!({"event": {"type": "message", "subtype": "message_changed",
            "channel": "C1", "message": {"text": "this is urgent now", "user": "U5"}}});
        assert_eq!(bodies(&edited), ["this is urgent now"]);
        assert_eq!(senders(&edited), ["U5"]);
        assert_eq!(authors(&edited), ["U5"]);
        let reaction = json!({"event": {"type": "reaction_added", "user": "U2",
            "reaction": "eyes", "item": {"type": "message", "channel": "C123", "ts": "1.2"}}});
        assert_eq!(channels(&reaction), ["C123"]);
        let notified = json!({"action": "channel", "message": "hi all", "title": "general",
            "url": "http://localhost:8080/channels/ch-42"});
        assert_eq!(channels(&notified), ["ch-42", "general"]);
        // Open WebUI 0.12 sends a channel message's beginning only.
        let owui = json!({"event": "message.created", "source": "channel",
            "data": {"channel_id": "c1", "content_preview": "please deploy now"}});
        assert_eq!(bodies(&owui), ["please deploy now"]);
        // A custom sender's text at the top, whichever name it has.
        for name in ["text", "body", "content", "message"] {
            let custom = json!({"type": "note", name: "ask @agent"});
            assert_eq!(bodies(&custom), ["ask @agent"], "{name}");
        }
        // A Sentry error event's title is its only text.
        let sentry_error = json!({"action": "created", "data": {"error": {
            "title": "ZeroDivisionError: division by zero", "issue_id": "9"}}});
        assert_eq!(
            bodies(&sentry_error),
            ["ZeroDivisionError: division by zero"]
        );
        for action in ["unlabeled", "deleted", "created"] {
            let other = json!({"action": action, "label": {"name": "urgent"}});
            assert!(labels_added(&other).is_empty(), "{action}");
        }
    }

    #[test]
    fn a_comment_event_is_about_the_comment_not_the_issue_it_sits_on() {
        let github_comment = json!({
            "issue": {"body": "cc @agent-smith", "user": {"login": "octocat"}},
            "comment": {"body": "Thanks, I will try", "user": {"login": "bob"}},
            "sender": {"login": "bob"}});
        let github_issue = json!({
            "issue": {"body": "Crash on start", "user": {"login": "octocat"}},
            "sender": {"login": "hubot"}});
        let gitlab_note = json!({
            "object_kind": "note", "user": {"id": 7, "username": "alice", "name": "Alice"},
            "object_attributes": {"note": "LGTM", "author_id": 7},
            "issue": {"description": "the issue"}});
        let gitlab_issue_by_author = json!({
            "object_kind": "issue", "user": {"id": 3, "username": "jsmith"},
            "object_attributes": {"author_id": 3, "description": "d", "title": "t"}});
        let gitlab_issue_by_other = json!({
            "object_kind": "issue", "user": {"id": 4, "username": "ops"},
            "object_attributes": {"author_id": 3, "description": "d", "title": "t"}});
        let linear_comment = json!({
            "type": "Comment", "action": "create", "webhookTimestamp": 1_700_000_000_000_i64,
            "data": {"body": "need help", "user": {"name": "Bob"},
                     "issue": {"identifier": "ENG-7", "title": "Help page is down"}}});
        let jira_adf_comment = json!({
            "webhookEvent": "comment_created",
            "comment": {"author": {"accountId": "5b10"}, "body": {"type": "doc", "version": 1,
                "content": [
                    {"type": "paragraph", "content": [
                        {"type": "text", "text": "Firefox 128"},
                        {"type": "hardBreak"},
                        {"type": "text", "text": "on Linux", "marks": [{"type": "strong"}]}]},
                    {"type": "paragraph", "content": [{"type": "text", "text": "Thanks"}]}]}},
            "issue": {"fields": {"summary": "Crash", "description": "old text"}}});
        let cases: [(&Value, &[&str], &[&str]); 7] = [
            (&github_comment, &["Thanks, I will try"], &["bob"]),
            (&github_issue, &["Crash on start"], &["octocat"]),
            (&gitlab_note, &["LGTM"], &["7", "alice", "Alice"]),
            (&linear_comment, &["need help"], &["Bob"]),
            (
                &jira_adf_comment,
                &["Firefox 128\non Linux\nThanks"],
                &["5b10"],
            ),
            (&gitlab_issue_by_author, &["d", "t"], &["3", "jsmith"]),
            (&gitlab_issue_by_other, &["d", "t"], &["3"]),
        ];
        for (payload, want_bodies, want_authors) in cases {
            assert_eq!(bodies(payload), want_bodies, "{payload}");
            assert_eq!(authors(payload), want_authors, "{payload}");
        }
    }

    #[test]
    fn document_text_reads_the_words_of_inline_nodes() {
        let paragraph = |content: Value| {
            json!({"type": "doc", "version": 1,
                   "content": [{"type": "paragraph", "content": content}]})
        };
        let cases = [
            (
                json!([{"type": "mention", "attrs": {"id": "5570:abc", "text": "@Bot"}},
                       {"type": "text", "text": " please triage"}]),
                "@Bot please triage",
            ),
            (
                json!([{"type": "text", "text": "done "},
                       {"type": "emoji", "attrs": {"shortName": ":tada:", "text": "🎉"}},
                       {"type": "emoji", "attrs": {"shortName": ":custom:"}}]),
                "done 🎉:custom:",
            ),
            (
                json!([{"type": "status", "attrs": {"text": "BLOCKED", "color": "red"}},
                       {"type": "text", "text": " see "},
                       {"type": "inlineCard", "attrs": {"url": "https://x.example/1"}}]),
                "BLOCKED see https://x.example/1",
            ),
            (
                json!([{"type": "mention", "attrs": {"id": "5570:abc"}}]),
                "",
            ),
        ];
        for (content, want) in cases {
            let doc = paragraph(content);
            assert_eq!(document_text(&doc).as_deref(), Some(want), "{doc}");
        }
    }

    #[test]
    fn sentry_texts_and_jira_comment_senders_are_found() {
        let cases = [
            (
                json!({"action": "created", "data": {"comment": "taking this", "issue_id": "1"}}),
                vec!["taking this"],
            ),
            (
                json!({"action": "created", "data": {"issue": {"title": "TypeError: x is undefined"}}}),
                vec!["TypeError: x is undefined"],
            ),
            (
                json!({"action": "triggered", "data": {"event": {"title": "ZeroDivisionError"}}}),
                vec!["ZeroDivisionError"],
            ),
        ];
        for (payload, want) in cases {
            assert_eq!(bodies(&payload), want, "{payload}");
        }
        let jira_comment = json!({"webhookEvent": "comment_created", "comment": {
            "body": "hi", "updateAuthor": {"accountId": "5b10", "displayName": "Bob Builder"}}});
        assert_eq!(senders(&jira_comment), ["5b10", "Bob Builder"]);
        let linear = json!({"type": "Issue", "action": "update",
            "data": {"labelIds": ["l1", "l2"],
                     "labels": [{"id": "l1", "name": "bug"}, {"id": "l2", "name": "urgent"}]},
            "updatedFrom": {"labelIds": ["l1"]}});
        assert_eq!(labels_added(&linear), ["urgent"]);
        let gitlab_push = json!({"object_kind": "push", "user_id": 4, "user_name": "Alice Doe",
            "user_username": "alice"});
        assert!(senders(&gitlab_push).contains(&"alice".to_string()));
        let gitlab_mr_note = json!({"object_kind": "note",
            "object_attributes": {"note": "ok", "noteable_type": "MergeRequest"},
            "merge_request": {"iid": 2, "labels": [{"title": "bug"}]}});
        assert_eq!(labels(&gitlab_mr_note), ["bug"]);
    }

    #[test]
    fn a_comments_author_is_shown_by_name_not_by_number_or_account_id() {
        let cases = [
            (
                json!({"comment": {"user": {"login": "octocat", "id": 1}}}),
                Some("octocat"),
            ),
            (
                json!({"object_attributes": {"note": "hi", "author_id": 1},
                       "user": {"id": 1, "username": "root", "name": "Administrator"}}),
                Some("root"),
            ),
            (
                json!({"comment": {"body": "hi", "author": {"accountId": "5b10ac8d82e05b22cc7d4ef5",
                                                            "displayName": "Ann"}}}),
                Some("Ann"),
            ),
            (
                json!({"comment": {"body": "hi", "author": {"accountId": "5b10ac8d82e05b22cc7d4ef5"}}}),
                Some("5b10ac8d82e05b22cc7d4ef5"),
            ),
            (
                json!({"type": "Comment", "data": {"body": "hi", "user": {"id": "u-1", "name": "Ann"}}}),
                Some("Ann"),
            ),
            (
                json!({"event": {"type": "message", "user": "U024BE7LH", "text": "hi"}}),
                Some("U024BE7LH"),
            ),
            (json!({"text": "nobody"}), None),
        ];
        for (payload, shown) in cases {
            assert_eq!(author_shown(&payload).as_deref(), shown, "{payload}");
        }
    }
}
