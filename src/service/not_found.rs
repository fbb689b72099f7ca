//! The refusal of an id that names nothing: which kind of id it is, if another, and what
//! takes or lists ids of the kind asked for, in the words of the door it is read at (MCP's
//! tools, or `/api`'s routes).

use super::quoted;

/// Where a refusal is read: its hints name the tools of MCP, or the routes of `/api`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Mcp,
    Rest,
}

/// The refusal of an id that names nothing of its kind, with a hint read at `door`.
pub fn not_found(what: &str, id: &str, door: Door) -> String {
    if id.trim().is_empty() {
        return empty_id(what, id, door);
    }
    format!(
        "{what} `{}` not found{}",
        quoted(&shown_id(id)),
        other_kind(what, id, door)
    )
}

/// The refusal of an empty id (a script's unset variable, a model's blank argument): there
/// is nothing to look up, so it says so rather than "`` not found".
fn empty_id(what: &str, id: &str, door: Door) -> String {
    let at = match door {
        Door::Mcp => 0,
        Door::Rest => 1,
    };
    let lists = match KINDS.iter().find(|k| k.kind == what) {
        Some(kind) => kind.lists[at],
        None if door == Door::Mcp => "list_webhooks lists them",
        None => "GET /api/webhooks lists them",
    };
    let blank = if id.is_empty() { "empty" } else { "blank" };
    format!("the {what} id given is {blank}: give the id of the {what} meant ({lists})")
}

/// What takes and what lists a kind of id, over MCP and over REST.
struct Kind {
    prefix: &'static str,
    kind: &'static str,
    /// The kind with its article.
    article: &'static str,
    takes: [&'static str; 2],
    lists: [&'static str; 2],
}

const KINDS: [Kind; 5] = [
    Kind {
        prefix: "evt_",
        kind: "event",
        article: "an event",
        takes: [
            "get_event takes it",
            "/api/events/{id} and its replay, comment, ask and respond routes take it",
        ],
        lists: [
            "list_events lists them, one webhook's by its webhook_id",
            "GET /api/events lists them, one webhook's with ?webhook_id=",
        ],
    },
    Kind {
        prefix: "task_",
        kind: "task",
        article: "a task",
        takes: [
            "get_task, answer_task, complete_task and cancel_task take it",
            "/api/tasks/{id} and its answer, cancel and complete routes take it",
        ],
        lists: [
            "list_tasks lists them, one webhook's by its webhook_id",
            "GET /api/tasks lists them, one webhook's with ?webhook_id=",
        ],
    },
    Kind {
        prefix: "act_",
        kind: "action",
        article: "an action",
        takes: [
            "get_action, cancel_action and retry_action take it",
            "/api/actions/{id} and its retry and cancel routes take it",
        ],
        lists: [
            "list_actions lists them, one webhook's by its webhook_id",
            "GET /api/actions lists them, one webhook's with ?webhook_id=",
        ],
    },
    Kind {
        prefix: "cmd_",
        kind: "command",
        article: "a command",
        takes: [
            "update_command and remove_command take it, with its webhook_id",
            "/api/webhooks/{webhook_id}/commands/{id} takes it",
        ],
        lists: [
            "get_webhook lists a webhook's",
            "GET /api/webhooks/{webhook_id}/commands lists a webhook's",
        ],
    },
    Kind {
        prefix: "key_",
        kind: "API key",
        article: "an API key",
        takes: ["the /api/keys routes take it"; 2],
        lists: ["GET /api/keys lists them"; 2],
    },
];

/// The prefix and kind (with its article) of the server's ids that `id` starts with, if any:
/// `evt_…` is "an event". A webhook's id, which its creator may choose, may not start so, or
/// the hints here would send a caller who gives it to another kind's tools.
pub(super) fn kind_prefixed(id: &str) -> Option<(&'static str, &'static str)> {
    KINDS
        .iter()
        .find(|k| id.starts_with(k.prefix))
        .map(|k| (k.prefix, k.article))
}

/// Ids carry their kind as a prefix (`evt_…`); when a model passes one kind where another is
/// asked for, the error says which tool (or route) takes it.
fn other_kind(asked: &str, id: &str, door: Door) -> String {
    let at = match door {
        Door::Mcp => 0,
        Door::Rest => 1,
    };
    let trimmed = id.trim();
    if trimmed != id && !trimmed.is_empty() {
        return " (it has spaces around it, and ids hold none: give it without them)".into();
    }
    let of_other_kind = KINDS
        .iter()
        .find(|k| id.starts_with(k.prefix) && k.kind != asked)
        .map(|k| {
            let (prefix, article, takes) = (k.prefix, k.article, k.takes[at]);
            format!(" (`{prefix}…` is the id of {article}, not of the {asked} asked for: {takes})")
        });
    match of_other_kind {
        Some(said) => said,
        None if asked == "webhook" => not_a_webhook_id(id, door),
        // Not of the kind asked for at all: most often a webhook's id given in its place.
        None => KINDS
            .iter()
            .find(|k| k.kind == asked && !id.starts_with(k.prefix))
            .map(|k| {
                let (prefix, article, lists) = (k.prefix, k.article, k.lists[at]);
                format!(" (the id of {article} begins with `{prefix}`: {lists})")
            })
            .unwrap_or_default(),
    }
}

/// An id as a refusal repeats it: a URL given in its place (a receive URL with `?token=`)
/// without its credentials.
fn shown_id(id: &str) -> std::borrow::Cow<'_, str> {
    if id.contains("://") {
        crate::actions::mask_url_credentials(id).into()
    } else if id.contains(['/', '?', '@']) {
        // A URL written without its scheme (`hooks.example.com/webhooks/…?token=…`).
        let masked = crate::actions::mask_url_credentials(&format!("http://{id}"));
        masked
            .strip_prefix("http://")
            .unwrap_or(&masked)
            .to_string()
            .into()
    } else {
        id.into()
    }
}

/// What a model passed as a webhook id that is not one: its receive URL, or its name.
fn not_a_webhook_id(given: &str, door: Door) -> String {
    let lists = match door {
        Door::Mcp => "list_webhooks lists",
        Door::Rest => "GET /api/webhooks lists",
    };
    let given = given.trim();
    if let Some((_, after)) = given.split_once("/webhooks/") {
        // `…/webhooks/{provider}/{id}`, perhaps with `?token=…` after it (not repeated).
        let id = after
            .split(['?', '#'])
            .next()
            .and_then(|path| path.split('/').nth(1))
            .filter(|id| !id.is_empty());
        return match id {
            Some(id) => format!(
                " (that is a receive URL; its webhook's id is its last part: `{}`)",
                quoted(id)
            ),
            None => format!(" (that is a receive URL, not an id: {lists} the ids)"),
        };
    }
    let id_like = !given.is_empty()
        && given
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if id_like {
        format!(" (ids match case; {lists} each id beside its name)")
    } else {
        format!(
            " (not an id, which holds only letters, digits, `-` and `_`: give the webhook's id, \
             not its name; {lists} each id beside its name)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ServiceError;

    #[test]
    fn an_empty_id_is_called_empty_with_where_ids_are_listed() {
        let cases = [
            (
                "event",
                "",
                Door::Mcp,
                "the event id given is empty: give the id of the event meant (list_events lists them",
            ),
            (
                "task",
                "  ",
                Door::Rest,
                "the task id given is blank: give the id of the task meant (GET /api/tasks lists them",
            ),
            (
                "webhook",
                "",
                Door::Mcp,
                "the webhook id given is empty: give the id of the webhook meant (list_webhooks lists them)",
            ),
            ("webhook", "", Door::Rest, "(GET /api/webhooks lists them)"),
        ];
        for (what, id, door, said) in cases {
            let message = not_found(what, id, door);
            assert!(message.contains(said), "{what} {id:?}: {message}");
            assert!(!message.contains("not found"), "{message}");
        }
    }

    #[test]
    fn a_long_id_is_cut_short_in_not_found() {
        let long = "x".repeat(3_000_000);
        let missing = ServiceError::NotFound {
            what: "webhook",
            id: long,
        };
        // With the hint on finding the id.
        assert!(missing.to_string().len() < 250);
    }

    #[test]
    fn a_webhook_asked_for_by_its_url_or_name_is_answered_with_how_to_find_its_id() {
        let said = |id: &str| {
            ServiceError::NotFound {
                what: "webhook",
                id: id.into(),
            }
            .to_string()
        };
        let cases = [
            (
                "https://hooks.example.com/webhooks/github/gh-issues",
                "its last part: `gh-issues`",
            ),
            (
                "http://h/webhooks/openwebui/owui?token=SECRET",
                "its last part: `owui`",
            ),
            (
                "hooks.example.com/webhooks/custom/c?token=SECRET",
                "its last part: `c`",
            ),
            ("https://h/webhooks/github", "list_webhooks lists the ids"),
            ("GitHub issues", "not its name"),
            ("GH-ISSUES", "ids match case"),
            ("evt_0192", "get_event takes it"),
        ];
        for (given, hint) in cases {
            let message = said(given);
            assert!(message.contains(hint), "{given}: {message}");
            assert!(!message.contains("SECRET"), "{message}");
        }
        let event = |id: &str| {
            ServiceError::NotFound {
                what: "event",
                id: id.into(),
            }
            .to_string()
        };
        assert_eq!(event("evt_0193"), "event `evt_0193` not found");
        assert_eq!(
            event("github-issues"),
            "event `github-issues` not found (the id of an event begins with `evt_`: \
             list_events lists them, one webhook's by its webhook_id)"
        );
        for spaced in [" gh-issues ", "evt_0193\n"] {
            assert!(event(spaced).contains("spaces around it"), "{spaced:?}");
            assert!(said(spaced).contains("spaces around it"), "{spaced:?}");
        }
    }

    #[test]
    fn a_not_found_read_over_rest_names_routes_where_mcp_names_tools() {
        let cases = [
            (
                "webhook",
                "GitHub issues",
                "list_webhooks lists",
                "GET /api/webhooks lists",
            ),
            (
                "webhook",
                "evt_1",
                "get_event takes",
                "/api/events/{id} and its",
            ),
            (
                "event",
                "github-issues",
                "list_events lists",
                "GET /api/events lists",
            ),
            (
                "event",
                "task_1",
                "get_task, answer_task, complete_task and cancel_task take it",
                "/api/tasks/{id} and its",
            ),
            (
                "task",
                "act_1",
                "retry_action take",
                "/api/actions/{id} and its",
            ),
            (
                "action",
                "cmd_1",
                "update_command",
                "/api/webhooks/{webhook_id}/commands/{id}",
            ),
        ];
        for (what, id, mcp, rest) in cases {
            let (over_mcp, over_rest) = (
                not_found(what, id, Door::Mcp),
                not_found(what, id, Door::Rest),
            );
            assert!(over_mcp.contains(mcp), "{over_mcp}");
            assert!(over_rest.contains(rest), "{over_rest}");
            for tool in ["list_", "get_", "claim_", "update_", "retry_"] {
                assert!(!over_rest.contains(tool), "{over_rest}");
            }
        }
    }
}
