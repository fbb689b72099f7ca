//! The service's own posts come back as events: the comment it made on a GitHub issue is the
//! next `issue_comment.created` delivery, its Slack thread reply a `message`. Recognising them
//! (before matching is written down) keeps a command from answering itself without end.

use rusqlite::Connection;
use serde_json::Value;

use crate::providers::Provider;
use crate::store::StoreError;
use crate::store::outbox;

/// What an event says about the comment or message it announces, to compare with what the
/// service posted.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The item's ids, in the forms the actions record as `remote_id`.
    pub ids: Vec<String>,
    /// Its text, for a post whose answer has not been recorded yet (the event can come back
    /// before the send that made it has finished).
    pub text: Option<String>,
    /// Channels take posts from several webhooks (Open WebUI channel webhooks).
    pub any_webhook: bool,
    /// The sender says the post is by this service's own app (a Slack app's own bot), whatever
    /// its text became on the way (Slack writes links and mentions as `<...>`).
    pub by_own_app: bool,
    /// The sender says the post is by someone other than this service's app: a Slack
    /// delivery names the app's bot user, and the post is by another user.
    pub by_someone_else: bool,
    /// Who made the post, as the provider names its author (a GitHub login, a GitLab
    /// username, a Jira account, a Slack user), in the form its answer to a post of ours
    /// names it (see `actions::Sent::author`).
    pub author: Option<String>,
    /// Another source key the post may answer: the channel of a Slack message, where replies
    /// to a slash command are planned.
    pub also_on: Option<String>,
    /// The issue's id where replies planned on its key are found too: a Linear comment's
    /// issue UUID (its webhook may name the issue by id only, where the question was planned
    /// on `ENG-78`), a Jira issue's `10121` (an older Data Center sender's comment event names
    /// only that; an issue moved to another project has a new key).
    pub issue_id: Option<String>,
    /// Where a site numbers its comments (Jira, GitLab): the site it came from (see
    /// [`crate::providers::site_of`]).
    pub site: Option<String>,
}

/// The comment or message a delivery announces as new, if it announces one. Edits and
/// deletions are not: a person editing the service's comment (ticking a box in it) is a person.
pub fn posted(provider: Provider, payload: &Value) -> Option<Posted> {
    let at = |path: &str| payload.pointer(path).and_then(id_text);
    let kind = |path: &str| payload.pointer(path).and_then(Value::as_str);
    let reply_notice =
        provider == Provider::Slack && crate::providers::slack::is_reply_notice(payload);
    // A Slack post is named by its channel and `ts`, as `providers::slack_message` names it.
    let slack_post = |ts: Option<String>| {
        at("/event/channel")
            .zip(ts)
            .map(|(channel, ts)| format!("{channel}:{ts}"))
    };
    let (ids, any_webhook): (Vec<Option<String>>, bool) = match provider {
        // The comment's page, as the comment action records it; or its id, recorded instead
        // when GitHub's answer to the post named no page.
        Provider::GitHub if kind("/action") == Some("created") => {
            let key = at("/repository/full_name")
                .zip(payload.pointer("/comment/id").and_then(Value::as_u64))
                .map(|(repo, id)| {
                    let review = payload.pointer("/comment/pull_request_review_id").is_some();
                    github_comment_key(&repo, review, id)
                });
            let review_page = at("/comment/html_url")
                .zip(
                    payload
                        .pointer("/comment/pull_request_review_id")
                        .and_then(Value::as_u64),
                )
                .map(|(page, review)| github_review_page(&page, review));
            // The review page first: a post known by its text records the first id, and the
            // review's own announcement names only that page.
            (vec![review_page, at("/comment/html_url"), key], false)
        }
        // The review wrapping a reply in a review thread comes as well as the reply.
        Provider::GitHub if kind("/action") == Some("submitted") => {
            (vec![at("/review/html_url")], false)
        }
        Provider::GitLab
            if kind("/object_kind") == Some("note")
                && matches!(kind("/object_attributes/action"), None | Some("create")) =>
        {
            (vec![at("/object_attributes/id")], false)
        }
        Provider::Jira
            if matches!(
                kind("/webhookEvent"),
                Some("comment_created") | Some("jira:issue_updated")
            ) && matches!(
                kind("/issue_event_type_name"),
                None | Some("issue_commented")
            ) =>
        {
            (vec![at("/comment/id")], false)
        }
        // The notice of a thread's new reply is about that reply, its latest: a notice of our
        // own reply is still ours (a command on every event would answer it, and the next).
        Provider::Slack if reply_notice => {
            let latest = at("/event/message/latest_reply").or_else(|| {
                payload
                    .pointer("/event/message/replies")
                    .and_then(Value::as_array)
                    .and_then(|replies| replies.last())
                    .and_then(|reply| reply.get("ts"))
                    .and_then(id_text)
            });
            (vec![slack_post(latest)], false)
        }
        // A bot's own post is a plain message or, for older apps, a `bot_message`.
        Provider::Slack
            if kind("/event/type") == Some("message")
                && matches!(kind("/event/subtype"), None | Some("bot_message")) =>
        {
            (vec![crate::providers::slack_message(payload)], false)
        }
        // No person edits an app's message: an edit of ours is Slack unfurling a link in it
        // (or the app itself), and still what this service said.
        Provider::Slack
            if kind("/event/subtype") == Some("message_changed")
                && by_own_slack_app(payload, "/event/message") =>
        {
            (vec![slack_post(at("/event/message/ts"))], false)
        }
        Provider::Linear
            if kind("/type") == Some("Comment") && kind("/action") == Some("create") =>
        {
            // The id; the page address for replies recorded by it before.
            (vec![at("/data/id"), at("/url"), at("/data/url")], false)
        }
        Provider::OpenWebUi if kind("/event") == Some("message.created") => {
            (vec![at("/subject/id")], true)
        }
        _ => return None,
    };
    let ids: Vec<String> = ids.into_iter().flatten().collect();
    if ids.is_empty() {
        return None;
    }
    let text = match provider {
        // Open WebUI shows the start of the message only. The service posts through channel
        // webhooks, so a person's message (a short "ok" that begins some post) is not compared.
        Provider::OpenWebUi
            if kind("/actor/type") == Some("webhook")
                || kind("/source") == Some("channel_webhook") =>
        {
            payload
                .pointer("/data/content_preview")
                .and_then(Value::as_str)
                .map(str::to_string)
        }
        Provider::OpenWebUi => None,
        // A reply notice carries the thread's parent message, not the reply.
        Provider::Slack if reply_notice => None,
        _ => crate::engine::payload::bodies(payload).into_iter().next(),
    };
    let site = outbox::site_address_at(provider.as_str())
        .and_then(|(_, pointer)| payload.pointer(pointer))
        .and_then(Value::as_str)
        .and_then(|address| crate::providers::site_of(provider.as_str(), address));
    let by_own_app = provider == Provider::Slack
        && !reply_notice
        && (by_own_slack_app(payload, "/event") || by_own_slack_app(payload, "/event/message"));
    let author = match provider {
        Provider::GitHub => at("/comment/user/login").or_else(|| at("/review/user/login")),
        Provider::GitLab => at("/user/username"),
        Provider::Jira => at("/comment/author/accountId").or_else(|| at("/comment/author/name")),
        Provider::Slack => at("/event/user").or_else(|| at("/event/bot_id")),
        _ => None,
    };
    Some(Posted {
        ids,
        text,
        any_webhook,
        site,
        by_own_app,
        by_someone_else: provider == Provider::Slack
            && !by_own_app
            && slack_bot_user(payload)
                .zip(at("/event/user"))
                .is_some_and(|(bot, user)| bot != user),
        author,
        // Replies planned on a channel (a slash command's) go there as new messages, or into
        // the thread a question about it started.
        also_on: (provider == Provider::Slack)
            .then(|| at("/event/channel"))
            .flatten(),
        issue_id: crate::providers::issue_id(provider, payload),
    })
}

/// A message posted by the app the event is delivered to: its own bot user (named in the
/// delivery's `authorizations`), or a post made with its token (`app_id`); the message is at
/// `message_at` (`/event`, or an edit's `/event/message`).
fn by_own_slack_app(payload: &Value, message_at: &str) -> bool {
    let event = |key: &str| {
        payload
            .pointer(&format!("{message_at}/{key}"))
            .and_then(Value::as_str)
    };
    let app = payload.get("api_app_id").and_then(Value::as_str);
    if event("app_id").is_some_and(|id| Some(id) == app) {
        return true;
    }
    let Some(user) = event("user") else {
        return false;
    };
    payload
        .get("authorizations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|a| {
            a.get("is_bot").and_then(Value::as_bool) == Some(true)
                && a.get("user_id").and_then(Value::as_str) == Some(user)
        })
}

/// The app's own bot user, as the delivery's `authorizations` name it.
fn slack_bot_user(payload: &Value) -> Option<&str> {
    payload
        .get("authorizations")?
        .as_array()?
        .iter()
        .find(|a| a.get("is_bot").and_then(Value::as_bool) == Some(true))?
        .get("user_id")?
        .as_str()
}

/// How an announced item was known for the service's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Own {
    /// By the id a send recorded, or (a channel post) by its beginning, or by the text of a
    /// reply not sent yet.
    Known,
    /// By the text of this reply, sent but unanswered (a timeout) and not delivered since,
    /// even if a later attempt was refused (and it is dead since): this is its post.
    SentUnanswered { action_id: String },
}

/// Where ids name one thing everywhere, so any webhook's reply with the id is the one
/// announced: GitHub's comment pages carry their host, Linear's ids are UUIDs. Jira and
/// self-hosted GitLab number comments per site: a reply with the id on the same thread is.
fn ids_name_one_thing(provider: &str) -> bool {
    matches!(provider, "github" | "linear")
}

/// How long after an attempt that went out and heard no answer (a timeout, a send cut off)
/// a comment with its text on its thread (or an Open WebUI channel webhook's post with its
/// text) is taken for a post it made: its provider may have posted it beside the one a later
/// attempt delivered, and announce it whenever its webhook gets through (late, or sent again
/// after a failure). A day bounds the time a person saying those very words on that thread is
/// taken for the service; after it, a person again.
pub const UNANSWERED_POST_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// Whether the service itself posted the item, through this webhook or another of the same
/// provider (two webhooks on one repository would otherwise answer each other without end):
/// a reply recorded its id, or one still waiting for its answer says the same text on the
/// same thread, or one that may have posted twice does (an attempt that heard no answer
/// before the one delivered: see [`UNANSWERED_POST_WINDOW_MS`]), or one delivered with an
/// answer that did not name its post does (within the same window). `now` is when the
/// announcement came.
pub fn is_own(
    conn: &Connection,
    provider: &str,
    webhook_id: &str,
    source_key: Option<&str>,
    posted: &Posted,
    now: i64,
) -> Result<Option<Own>, StoreError> {
    let scope = outbox::Scope {
        provider,
        webhook_id,
        ids_name_one_thing: ids_name_one_thing(provider),
        source_key,
        site: posted.site.as_deref(),
    };
    if outbox::posted(conn, &scope, &posted.ids, posted.any_webhook)? {
        return Ok(Some(Own::Known));
    }
    if posted.any_webhook {
        // A channel post, whose announcement shows its beginning (an ellipsis may end it).
        let Some(preview) = posted.text.as_deref() else {
            return Ok(None);
        };
        let whole = preview.trim();
        let start = whole
            .trim_end_matches('…')
            .trim_end_matches("...")
            .trim_end();
        if start.is_empty() {
            return Ok(None);
        }
        // The beginning of a post only where the announcement was cut (an ellipsis, or as
        // long as a cut preview is); a short one is the whole post ("Build" is not
        // "Build 42 passed").
        let cut = start.len() < whole.len() || start.chars().count() >= 64;
        let same: Vec<outbox::Unconfirmed> =
            outbox::unconfirmed_channel_texts(conn, now - UNANSWERED_POST_WINDOW_MS)?
                .into_iter()
                .filter(|own| own.text == whole || (cut && own.text.starts_with(start)))
                .collect();
        // Sent and unanswered is taken for this post only when no other post could be it
        // (a dead one only when no other is still to be retried; see `Unconfirmed::dead`).
        let sent: Vec<_> = same.iter().filter(|own| own.sent_unanswered).collect();
        let live: Vec<_> = sent.iter().copied().filter(|own| !own.dead).collect();
        let one = match (live.as_slice(), sent.as_slice()) {
            ([one], _) | ([], [one]) => Some(one.action_id.clone()),
            _ => None,
        };
        return Ok(match one {
            Some(action_id) => Some(Own::SentUnanswered { action_id }),
            None => (!same.is_empty()).then_some(Own::Known),
        });
    }
    let by_app = posted.by_own_app.then_some(Own::Known);
    // Words alone do not make a post ours when its sender says who made it and that is not
    // us: a person repeating a reply word for word (one that may have posted, its answer
    // lost) would settle it under their own post.
    if posted.by_someone_else {
        return Ok(by_app);
    }
    let (Some(text), Some(source_key)) = (posted.text.as_deref(), source_key) else {
        return Ok(by_app);
    };
    let came_back = unescape_slack(text.trim());
    let mut same: Vec<outbox::Unconfirmed> = Vec::new();
    for key in std::iter::once(source_key).chain(posted.also_on.as_deref()) {
        same.extend(
            outbox::unconfirmed_texts_on_source(
                conn,
                &scope,
                key,
                posted.issue_id.as_deref(),
                now - UNANSWERED_POST_WINDOW_MS,
            )?
            .into_iter()
            .filter(|own| unescape_slack(&own.text) == came_back),
        );
    }
    if let Some(author) = posted.author.as_deref().filter(|_| !posted.by_own_app) {
        let mut ours = Vec::with_capacity(same.len());
        for own in same {
            if !outbox::posted_by_another(conn, &own.action_id, author)? {
                ours.push(own);
            }
        }
        same = ours;
    }
    same.sort_by(|a, b| b.action_id.cmp(&a.action_id));
    Ok(sent_or_known(&same).or(by_app))
}

/// Of the posts on their way that say what came back (newest first), the one it announces:
/// the oldest sent and unanswered is the likeliest, one still to be retried before a dead one
/// (see `Unconfirmed::dead`); else it is one not sent yet.
fn sent_or_known(same: &[outbox::Unconfirmed]) -> Option<Own> {
    let sent = || same.iter().rev().filter(|own| own.sent_unanswered);
    match sent().find(|own| !own.dead).or_else(|| sent().next()) {
        Some(sent) => Some(Own::SentUnanswered {
            action_id: sent.action_id.clone(),
        }),
        None => (!same.is_empty()).then_some(Own::Known),
    }
}

/// An id as text, whether the sender wrote it as a string or a number.
/// A GitHub comment named by its repository, kind and id, recorded when GitHub's answer to
/// the post gave no page address: `octo/app#comment-12`, `octo/app#review-comment-12`.
/// The page of GitHub review `review`, which holds the review comment at `comment_page`: a
/// reply in a review thread is wrapped in a review of its own, announced as
/// `pull_request_review.submitted` with this page, and the comment names its review by id.
pub fn github_review_page(comment_page: &str, review: u64) -> String {
    let pull_request = comment_page
        .split_once('#')
        .map_or(comment_page, |(page, _)| page);
    format!("{pull_request}#pullrequestreview-{review}")
}

pub fn github_comment_key(repo: &str, review: bool, id: u64) -> String {
    let kind = if review { "review-comment" } else { "comment" };
    format!("{repo}#{kind}-{id}")
}

pub(crate) fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Slack gives back `&`, `<` and `>` escaped; the text as it was sent compares equal to it only
/// unescaped.
fn unescape_slack(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_item_an_event_announces_is_named_as_its_sender_action_recorded_it() {
        let cases = [
            (
                Provider::GitHub,
                json!({"action": "created", "repository": {"full_name": "o/r"},
                       "comment": {"id": 7, "html_url": "https://github.com/o/r/issues/1#issuecomment-7", "body": "hi"}}),
                Some(vec![
                    "https://github.com/o/r/issues/1#issuecomment-7",
                    "o/r#comment-7",
                ]),
            ),
            (
                Provider::GitHub,
                json!({"action": "created", "repository": {"full_name": "o/r"},
                       "comment": {"id": 8, "pull_request_review_id": 3, "body": "hi"}}),
                Some(vec!["o/r#review-comment-8"]),
            ),
            (
                Provider::GitHub,
                json!({"action": "edited", "comment": {"id": 7, "html_url": "https://github.com/o/r/issues/1#issuecomment-7", "body": "hi"}}),
                None,
            ),
            (
                Provider::GitLab,
                json!({"object_kind": "note", "object_attributes": {"id": 42, "action": "update"}}),
                None,
            ),
            (
                Provider::Jira,
                json!({"webhookEvent": "comment_updated", "comment": {"id": "10042"}}),
                None,
            ),
            (
                Provider::Slack,
                json!({"event": {"type": "message", "subtype": "message_changed", "ts": "1.2"}}),
                None,
            ),
            (
                Provider::GitHub,
                json!({"action": "opened", "issue": {"id": 1}}),
                None,
            ),
            (
                Provider::GitLab,
                json!({"object_kind": "note", "object_attributes": {"id": 42, "note": "hi"}}),
                Some(vec!["42"]),
            ),
            (
                Provider::GitLab,
                json!({"object_kind": "issue", "object_attributes": {"id": 42}}),
                None,
            ),
            (
                Provider::Jira,
                json!({"webhookEvent": "comment_created", "comment": {"id": "10042", "body": "hi"}}),
                Some(vec!["10042"]),
            ),
            (
                Provider::Slack,
                json!({"event": {"type": "message", "channel": "C1", "ts": "1712345679.000200", "text": "hi"}}),
                Some(vec!["C1:1712345679.000200"]),
            ),
            (
                Provider::Slack,
                json!({"event": {"type": "reaction_added", "ts": "1.2"}}),
                None,
            ),
            (
                Provider::OpenWebUi,
                json!({"event": "message.created", "subject": {"id": "m-1"}, "data": {"content_preview": "hi"}}),
                Some(vec!["m-1"]),
            ),
            (Provider::Stripe, json!({"id": "evt_1"}), None),
        ];
        for (provider, payload, want) in cases {
            let got = posted(provider, &payload).map(|p| p.ids);
            let want = want.map(|ids| ids.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(got, want, "{provider:?} {payload}");
        }
    }

    #[test]
    fn an_announced_post_names_its_author_as_an_answer_to_our_post_would() {
        let slack = |user: &str| {
            json!({"api_app_id": "A1", "authorizations": [{"user_id": "UBOT", "is_bot": true}],
                   "event": {"type": "message", "channel": "C1", "ts": "1.2", "text": "hi",
                             "user": user}})
        };
        let cases = [
            (
                Provider::GitHub,
                json!({"action": "created", "repository": {"full_name": "o/r"},
                       "comment": {"id": 7, "body": "hi", "user": {"login": "hook-bot"}}}),
                Some("hook-bot"),
                false,
            ),
            (
                Provider::GitLab,
                json!({"object_kind": "note", "user": {"username": "project_1_bot_x"},
                       "object_attributes": {"id": 42, "note": "hi"}}),
                Some("project_1_bot_x"),
                false,
            ),
            (
                Provider::Jira,
                json!({"webhookEvent": "comment_created",
                       "comment": {"id": "10042", "body": "hi", "author": {"accountId": "5b10a"}}}),
                Some("5b10a"),
                false,
            ),
            (Provider::Slack, slack("UBOT"), Some("UBOT"), false),
            (Provider::Slack, slack("U2"), Some("U2"), true),
        ];
        for (provider, payload, author, someone_else) in cases {
            let posted = posted(provider, &payload).expect("announces a post");
            assert_eq!(posted.author.as_deref(), author, "{payload}");
            assert_eq!(posted.by_someone_else, someone_else, "{payload}");
        }
    }

    #[test]
    fn slack_escapes_compare_equal_to_the_text_sent() {
        assert_eq!(unescape_slack("a &lt;b&gt; &amp;amp; c"), "a <b> &amp; c");
    }
}
