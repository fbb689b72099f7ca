//! Triggers: which event types a command answers to. Pure; checked when a command is saved.
//!
//! A trigger is compared segment by segment (segments split on `.`):
//! - `*` alone matches every event;
//! - `*` inside a segment matches any run of characters within that segment
//!   (`issues.*`, `*.opened`, `jira:issue_*`);
//! - a trigger with fewer segments than the event matches when its segments are a prefix,
//!   so `issues` matches `issues.opened` and `message` matches `message.channels`.
//!
//! A trigger is compared in Unicode NFC (`order.créé` however its `é` is written), as the
//! event types it is compared with are ([`crate::providers::Described`]).

use crate::nfc::nfc;

/// A validated trigger pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger(String);

const MAX_LEN: usize = 200;

impl Trigger {
    /// Checks the pattern's shape; the message says what is wrong.
    pub fn parse(pattern: &str) -> Result<Trigger, String> {
        let pattern = pattern.trim();
        if pattern.is_empty() {
            return Err(
                "trigger is empty: use an event type such as `issues.opened`, a pattern \
                        such as `issues.*`, or `*` for every event"
                    .into(),
            );
        }
        if pattern.len() > MAX_LEN {
            return Err(format!("trigger is longer than {MAX_LEN} characters"));
        }
        // A space stays: a custom sender's event type may be a header such as `Issue Hook`
        // (a misspelt trigger for a known provider gets the never-sent warning instead).
        if pattern
            .chars()
            .any(|c| (c.is_whitespace() && c != ' ') || c.is_control())
        {
            return Err("trigger must not contain tabs, line breaks or control characters".into());
        }
        if pattern.split('.').any(str::is_empty) {
            return Err(format!(
                "trigger `{pattern}` has an empty segment between dots"
            ));
        }
        Ok(Trigger(nfc(pattern).into_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether an event of this type fires the trigger.
    pub fn matches(&self, event_type: &str) -> bool {
        if self.0 == "*" {
            return true;
        }
        let mut wanted = self.0.split('.');
        let mut actual = event_type.split('.');
        loop {
            match (wanted.next(), actual.next()) {
                (Some(w), Some(a)) if segment_matches(w, a) => {}
                (Some(_), _) => return false,
                (None, _) => return true,
            }
        }
    }
}

/// Glob match of one segment where `*` is any run of characters.
fn segment_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty(); // no `*` at all: exact
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::Trigger;

    #[test]
    fn triggers_match_as_documented() {
        let cases = [
            ("issues.opened", "issues.opened", true),
            ("issues.opened", "issues.closed", false),
            ("issues.*", "issues.opened", true),
            ("issues.*", "issue_comment.created", false),
            ("*.opened", "issues.opened", true),
            ("*.opened", "pull_request.opened", true),
            ("*.opened", "issues.closed", false),
            ("jira:issue_*", "jira:issue_created", true),
            ("jira:issue_*", "jira:worklog_updated", false),
            ("*", "anything.at.all", true),
            ("*", "push", true),
            ("issues", "issues.opened", true),
            ("issues", "issue_comment.created", false),
            ("message", "message.channels", true),
            ("message.channels", "message.channels", true),
            ("message.channels", "message.im", false),
            ("issues.opened", "issues", false),
            ("issue*", "issue_comment.created", true),
            ("*_comment.*", "issue_comment.created", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXc", false),
            ("ab*ba", "aba", false),
            ("Issue Hook", "Issue Hook", true),
            ("Issue Hook", "Note Hook", false),
            // One trigger, whichever form its accents are written in (the event's type is
            // put in NFC when it is described).
            ("order.cr\u{e9}\u{e9}", "order.cr\u{e9}\u{e9}", true),
            ("order.cre\u{301}e\u{301}", "order.cr\u{e9}\u{e9}", true),
            ("order.cre\u{301}*", "order.cr\u{e9}\u{e9}", true),
        ];
        for (pattern, event, expected) in cases {
            let t = Trigger::parse(pattern).expect("valid");
            assert_eq!(t.matches(event), expected, "{pattern} vs {event}");
        }
    }

    #[test]
    fn bad_triggers_are_refused_with_a_reason() {
        for bad in [
            "",
            "  ",
            "issues\topened",
            "issues\nopened",
            "issues..opened",
            ".x",
            "x.",
        ] {
            assert!(Trigger::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
