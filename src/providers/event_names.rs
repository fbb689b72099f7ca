//! The event types providers send, so a command whose trigger can never match (the other
//! provider's name, the wrong tense, the wrong case) is saved with a warning naming the likely
//! fix. GitHub's and GitLab's names are a closed, documented set that models mix up, so any
//! name outside it is named; Sentry's and Linear's lists may lag their products, so only a
//! near miss of a listed name is; Slack's and Stripe's checks live in `vocab`. Jira's
//! names are checked for one slip only, the `jira:` prefix that some carry and most lack. A
//! trigger holding a space, which no provider but a custom sender's types have, is refused
//! with the provider's own names as examples (and GitLab's header labels, `Note Hook`, with
//! the trigger they stand for).

mod vocab;

use super::Provider;

/// GitHub's `X-GitHub-Event` names.
const GITHUB_EVENTS: &[&str] = &[
    "branch_protection_configuration",
    "branch_protection_rule",
    "check_run",
    "check_suite",
    "code_scanning_alert",
    "commit_comment",
    "create",
    "custom_property",
    "custom_property_values",
    "delete",
    "dependabot_alert",
    "deploy_key",
    "deployment",
    "deployment_protection_rule",
    "deployment_review",
    "deployment_status",
    "discussion",
    "discussion_comment",
    "fork",
    "github_app_authorization",
    "gollum",
    "installation",
    "installation_repositories",
    "installation_target",
    "issue_comment",
    "issue_dependencies",
    "issues",
    "label",
    "marketplace_purchase",
    "member",
    "membership",
    "merge_group",
    "meta",
    "milestone",
    "org_block",
    "organization",
    "package",
    "page_build",
    "personal_access_token_request",
    "ping",
    "project",
    "project_card",
    "project_column",
    "projects_v2",
    "projects_v2_item",
    "projects_v2_status_update",
    "public",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "pull_request_review_thread",
    "push",
    "registry_package",
    "release",
    "repository",
    "repository_advisory",
    "repository_dispatch",
    "repository_import",
    "repository_ruleset",
    "repository_vulnerability_alert",
    "secret_scanning_alert",
    "secret_scanning_alert_location",
    "secret_scanning_scan",
    "security_advisory",
    "security_and_analysis",
    "sponsorship",
    "star",
    "status",
    "sub_issues",
    "team",
    "team_add",
    "watch",
    "workflow_dispatch",
    "workflow_job",
    "workflow_run",
];

/// The actions of the GitHub events commands most often trigger on.
const GITHUB_ACTIONS: &[(&str, &[&str])] = &[
    (
        "issues",
        &[
            "assigned",
            "closed",
            "deleted",
            "demilestoned",
            "edited",
            "labeled",
            "locked",
            "milestoned",
            "opened",
            "pinned",
            "reopened",
            "transferred",
            "typed",
            "unassigned",
            "unlabeled",
            "unlocked",
            "unpinned",
            "untyped",
        ],
    ),
    ("issue_comment", &["created", "deleted", "edited"]),
    (
        "pull_request",
        &[
            "assigned",
            "auto_merge_disabled",
            "auto_merge_enabled",
            "closed",
            "converted_to_draft",
            "demilestoned",
            "dequeued",
            "edited",
            "enqueued",
            "labeled",
            "locked",
            "milestoned",
            "opened",
            "ready_for_review",
            "reopened",
            "review_request_removed",
            "review_requested",
            "synchronize",
            "unassigned",
            "unlabeled",
            "unlocked",
        ],
    ),
    ("pull_request_review", &["dismissed", "edited", "submitted"]),
    (
        "pull_request_review_comment",
        &["created", "deleted", "edited"],
    ),
];

/// GitLab's `object_kind`s (the receiver types an event `object_kind.action`).
const GITLAB_EVENTS: &[&str] = &[
    "access_token",
    "build",
    "deployment",
    "emoji",
    "feature_flag",
    "issue",
    "merge_request",
    "milestone",
    "note",
    "pipeline",
    "push",
    "release",
    "tag_push",
    "vulnerability",
    "wiki_page",
    "work_item",
    // System, group and member hooks, named by `event_name`.
    "group_create",
    "group_destroy",
    "group_rename",
    "key_create",
    "key_destroy",
    "project_create",
    "project_destroy",
    "project_rename",
    "project_transfer",
    "project_update",
    "repository_update",
    "subgroup_create",
    "subgroup_destroy",
    "user_access_request_revoked_for_group",
    "user_access_request_to_group",
    "user_add_to_group",
    "user_add_to_team",
    "user_create",
    "user_destroy",
    "user_failed_login",
    "user_remove_from_group",
    "user_remove_from_team",
    "user_rename",
    "user_update_for_group",
    "user_update_for_team",
];

const GITLAB_ACTIONS: &[(&str, &[&str])] = &[
    ("issue", &["open", "close", "reopen", "update"]),
    ("work_item", &["open", "close", "reopen", "update"]),
    (
        "merge_request",
        &[
            "open",
            "close",
            "reopen",
            "update",
            "approved",
            "unapproved",
            "approval",
            "unapproval",
            "merge",
        ],
    ),
    ("milestone", &["create", "close", "reopen", "delete"]),
    ("note", &["create", "update"]),
    ("emoji", &["award", "revoke"]),
    ("wiki_page", &["create", "update", "delete"]),
    ("release", &["create", "update", "delete"]),
];

/// GitLab events whose payload has no action, so `object_kind.anything` never matches, with
/// the field holding their state and one of its values (none for pushes).
const GITLAB_ACTIONLESS: &[(&str, Option<(&str, &str)>)] = &[
    ("pipeline", Some(("object_attributes.status", "failed"))),
    ("build", Some(("build_status", "failed"))),
    ("deployment", Some(("status", "success"))),
    ("push", None),
    ("tag_push", None),
];

/// One provider's listed event names.
struct Names {
    /// The provider as people write it.
    name: &'static str,
    events: &'static [&'static str],
    /// The actions of the events whose actions are known.
    actions: &'static [(&'static str, &'static [&'static str])],
    /// Events sent with no action.
    actionless: &'static [(&'static str, Option<(&'static str, &'static str)>)],
    /// Names people use for an event the provider sends under another.
    aliases: &'static [(&'static str, &'static str)],
    /// Whether `events` is every event the provider sends, so that a name outside it is
    /// named even when no listed one is near it.
    closed: bool,
}

const GITHUB: Names = Names {
    name: "GitHub",
    events: GITHUB_EVENTS,
    actions: GITHUB_ACTIONS,
    actionless: &[],
    aliases: &[],
    closed: true,
};

const GITLAB: Names = Names {
    name: "GitLab",
    events: GITLAB_EVENTS,
    actions: GITLAB_ACTIONS,
    actionless: GITLAB_ACTIONLESS,
    aliases: &[],
    closed: true,
};

/// Jira's `webhookEvent`s that carry the `jira:` prefix: issue and version events only.
const JIRA_PREFIXED: &[&str] = &[
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "jira:version_created",
    "jira:version_updated",
    "jira:version_deleted",
    "jira:version_released",
    "jira:version_unreleased",
    "jira:version_moved",
    "jira:version_merged",
];

/// Jira's `webhookEvent`s without the prefix. Worklog events are left out: old Jira Server
/// sent `jira:worklog_updated`, so that prefix may be right there.
const JIRA_UNPREFIXED: &[&str] = &[
    "comment_created",
    "comment_updated",
    "comment_deleted",
    "attachment_created",
    "attachment_deleted",
    "issuelink_created",
    "issuelink_deleted",
    "issue_property_set",
    "issue_property_deleted",
    "issuetype_created",
    "issuetype_updated",
    "issuetype_deleted",
    "project_created",
    "project_updated",
    "project_deleted",
    "project_soft_deleted",
    "project_restored_deleted",
    "project_archived",
    "project_restored_archived",
    "user_created",
    "user_updated",
    "user_deleted",
    "option_voting_changed",
    "option_watching_changed",
    "option_unassigned_issues_changed",
    "option_subtasks_changed",
    "option_attachments_changed",
    "option_issuelinks_changed",
    "option_timetracking_changed",
    "sprint_created",
    "sprint_updated",
    "sprint_deleted",
    "sprint_started",
    "sprint_closed",
    "board_created",
    "board_updated",
    "board_deleted",
    "board_configuration_changed",
    "filter_created",
    "filter_updated",
    "filter_deleted",
];

/// A Jira event named with the `jira:` prefix it lacks (`issue_created`), or with one it
/// does not have (`jira:comment_created`). Other names are let be: Jira's list grows with
/// its products (Jira Software's sprints, Service Management's), and this one may lag.
fn jira_prefix(trigger: &str) -> Option<String> {
    let (sent, shape) = match trigger.strip_prefix("jira:") {
        None => {
            let prefixed = format!("jira:{trigger}");
            let sent = JIRA_PREFIXED.iter().find(|e| **e == prefixed)?;
            (
                *sent,
                "with the `jira:` prefix (its issue and version events carry it)",
            )
        }
        Some(bare) => {
            let sent = JIRA_UNPREFIXED.iter().find(|e| **e == bare)?;
            (
                *sent,
                "without a `jira:` prefix (only issue and version events carry it)",
            )
        }
    };
    Some(format!(
        "Jira sends this event as `{sent}`, {shape}, so `{trigger}` never matches; did you \
         mean `{sent}`?"
    ))
}

/// GitLab's `X-Gitlab-Event` labels, which people copy from GitLab's settings page or a
/// delivery's headers, and the trigger each stands for: the receiver types an event by its
/// `object_kind` (or a system or group hook's `event_name`), never by this label.
const GITLAB_HEADERS: &[(&str, &str)] = &[
    ("Push Hook", "push"),
    ("Tag Push Hook", "tag_push"),
    ("Issue Hook", "issue"),
    ("Confidential Issue Hook", "issue"),
    ("Work Item Hook", "work_item"),
    ("Note Hook", "note"),
    ("Confidential Note Hook", "note"),
    ("Merge Request Hook", "merge_request"),
    ("Wiki Page Hook", "wiki_page"),
    ("Pipeline Hook", "pipeline"),
    ("Job Hook", "build"),
    ("Deployment Hook", "deployment"),
    ("Feature Flag Hook", "feature_flag"),
    ("Release Hook", "release"),
    ("Milestone Hook", "milestone"),
    ("Emoji Hook", "emoji"),
    ("Resource Access Token Hook", "access_token"),
    ("Vulnerability Hook", "vulnerability"),
    ("Member Hook", "user_*_group"),
    ("Subgroup Hook", "subgroup_*"),
    ("Project Hook", "project_*"),
];

/// The `object_kind` a GitLab `X-Gitlab-Event` label stands for, when it names one kind
/// (not a group hook's several `event_name`s, nor a system hook's).
pub(super) fn gitlab_kind(label: &str) -> Option<&'static str> {
    GITLAB_HEADERS
        .iter()
        .find(|(known, kind)| known.eq_ignore_ascii_case(label) && !kind.contains('*'))
        .map(|(_, kind)| *kind)
}

/// Why `trigger`, which holds a space, never matches `provider`'s events (none of their
/// types holds one), with the trigger meant when it can tell: a GitLab header label's
/// `object_kind`, or the same words joined by dots.
pub fn spaced_trigger(provider: Provider, trigger: &str) -> String {
    let trigger = trigger.trim();
    let examples = example_types(provider)
        .iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let header = GITLAB_HEADERS
        .iter()
        .find(|(label, _)| label.eq_ignore_ascii_case(trigger));
    if let (Provider::GitLab, Some((label, meant))) = (provider, header) {
        return format!(
            "`{label}` is the label GitLab sends in its `X-Gitlab-Event` header, but a GitLab \
             webhook's event types are the event's `object_kind` and action (e.g. {examples}): \
             use the trigger `{meant}`"
        );
    }
    let dotted = trigger.split_whitespace().collect::<Vec<_>>().join(".");
    let listed = matches!(provider, Provider::GitHub | Provider::GitLab);
    let known = if listed {
        unknown_trigger(provider, &dotted).is_none()
    } else {
        super::samples::builtin_event_types(provider).contains(&dotted.as_str())
    };
    let meant = if known {
        format!("; did you mean `{dotted}`?")
    } else {
        String::new()
    };
    format!(
        "`{trigger}` holds a space, and `{}` event types have none (e.g. {examples}); only a \
         custom webhook's event types may{meant}",
        provider.as_str()
    )
}

/// Two of the provider's event types, of different kinds, to show what its names look like.
fn example_types(provider: Provider) -> Vec<&'static str> {
    let mut found: Vec<&'static str> = Vec::new();
    for t in super::samples::builtin_event_types(provider) {
        // `issue.open` and `merge_request.open`, `message.channels` and `app_mention`.
        let kind = |t: &str| t.split(['.', '_']).next().unwrap_or_default().to_string();
        if found.len() < 2 && !found.iter().any(|f| kind(f) == kind(t)) {
            found.push(t);
        }
    }
    found
}

/// Why `trigger` can never match an event `provider` sends, with the likely fix; `None` when
/// it can, or when the provider's names are not known here (a custom sender's and Open
/// WebUI's are not checked).
pub fn unknown_trigger(provider: Provider, trigger: &str) -> Option<String> {
    let names = match provider {
        Provider::GitHub => &GITHUB,
        Provider::GitLab => &GITLAB,
        Provider::Sentry => &vocab::SENTRY,
        Provider::Linear => &vocab::LINEAR,
        Provider::Jira => return jira_prefix(trigger.trim()),
        Provider::Slack => return vocab::slack(trigger.trim()),
        Provider::Stripe => return vocab::stripe(trigger.trim()),
        Provider::StandardWebhooks => return vocab::another_providers(trigger.trim()),
        Provider::OpenWebUi | Provider::Custom => return None,
    };
    listed(names, trigger)
}

/// `trigger` judged against a provider's listed names.
fn listed(names: &Names, trigger: &str) -> Option<String> {
    let name = names.name;
    let (event, action) = match trigger.split_once('.') {
        Some((event, action)) => (event, Some(action)),
        None => (trigger, None),
    };
    if event.contains('*') {
        return None;
    }
    if !names.events.contains(&event) {
        let meant = names
            .aliases
            .iter()
            .find(|(alias, _)| *alias == event)
            .map(|(_, meant)| *meant)
            .or_else(|| near(event, names.events));
        if meant.is_none() {
            if let Some(fixed) = respelt(names, trigger) {
                return Some(format!(
                    "{name} sends no `{trigger}` events, so this trigger never matches; did \
                     you mean {fixed}? (a trigger is the event, a dot, and its action)"
                ));
            }
            if !names.closed {
                return None;
            }
        }
        return Some(format!(
            "{name} sends no `{event}` events, so this trigger never matches{}",
            meant
                .map(|c| format!(
                    "; did you mean `{}`?{}",
                    corrected(c, action, names.actions),
                    case_note(event, c)
                ))
                .unwrap_or_default()
        ));
    }
    let action = action.filter(|a| !a.contains('*'))?;
    if let Some((_, condition)) = names.actionless.iter().find(|(e, _)| *e == event) {
        let pick = condition
            .map(|(field, value)| {
                format!(
                    " with a condition on its state, `{field}`: `{{\"field\": \"{field}\", \
                     \"equals\": \"{value}\"}}`"
                )
            })
            .unwrap_or_default();
        return Some(format!(
            "{name} `{event}` events carry no action, so `{event}.{action}` never matches; \
             trigger on `{event}`{pick}"
        ));
    }
    let (_, known) = names.actions.iter().find(|(e, _)| *e == event)?;
    if known.contains(&action) {
        return None;
    }
    Some(format!(
        "{name} `{event}` events have no `{action}` action, so this trigger never matches{}; \
         its actions: {}",
        near(action, known)
            .map(|c| format!(" (did you mean `{event}.{c}`?{})", case_note(action, c)))
            .unwrap_or_default(),
        known.join(", ")
    ))
}

/// The triggers `trigger` was likely meant as, when it is not written as `event.action`: an
/// action alone (`opened`: each event that has it, the first three), or the event and action
/// joined by something else than a dot (`issues:opened`, `issue_opened`, `issues/opened`).
/// The longest trigger (or part of one) looked for a respelling of: longer than every event
/// type of every sender.
const LONGEST_RESPELT: usize = 64;

fn respelt(names: &Names, trigger: &str) -> Option<String> {
    // No event type is near this long: each split point would compare the whole of it with
    // every known name (seconds of work for a trigger of a few thousand characters).
    if trigger.len() > LONGEST_RESPELT {
        return None;
    }
    let quoted = |t: String| format!("`{t}`");
    let having: Vec<String> = names
        .actions
        .iter()
        .filter(|(_, actions)| actions.contains(&trigger))
        .take(3)
        .map(|(event, _)| quoted(format!("{event}.{trigger}")))
        .collect();
    if !having.is_empty() {
        return Some(having.join(" or "));
    }
    // Rightmost first: `issue_comment_created` splits as `issue_comment` and `created`.
    let joins = trigger
        .char_indices()
        .rev()
        .filter(|(_, c)| matches!(c, ':' | '_' | '/' | '-' | ' '));
    joins.into_iter().find_map(|(at, sep)| {
        let (event, action) = (&trigger[..at], &trigger[at + sep.len_utf8()..]);
        let event = near(event, names.events)?;
        let (_, known) = names.actions.iter().find(|(e, _)| *e == event)?;
        let action = near(action, known)?;
        Some(quoted(format!("{event}.{action}")))
    })
}

/// A reminder that triggers match case, when `given` differs from `meant` only in it.
fn case_note(given: &str, meant: &str) -> &'static str {
    if given != meant && given.eq_ignore_ascii_case(meant) {
        " (event types match case-sensitively)"
    } else {
        ""
    }
}

/// `event` with the given action, or the known action of `event` nearest it.
fn corrected(event: &str, action: Option<&str>, actions: &[(&str, &[&str])]) -> String {
    let Some(action) = action else {
        return event.to_string();
    };
    let known = actions.iter().find(|(e, _)| *e == event).map(|(_, a)| *a);
    let action = match known {
        Some(known) if !known.contains(&action) => near(action, known).unwrap_or(action),
        _ => action,
    };
    format!("{event}.{action}")
}

/// The known name `given` is a slip of: the same but for case, or else the nearest.
fn near<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(given))
        .copied()
        .or_else(|| closest(given, known))
}

/// The known name nearest `given`, if it is near enough to be a slip of the same word.
pub(crate) fn closest<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    if given.len() > LONGEST_RESPELT {
        return None;
    }
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(given, k), *k))
        .filter(|(distance, k)| *distance <= (k.len() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each provider's triggers that can never match, with the fix the warning must name
    /// (`None`: no warning, since the trigger can match or its name is not known here).
    #[test]
    fn each_providers_names_that_never_match_are_warned_about() {
        let cases: &[(Provider, &str, Option<&str>)] = &[
            (Provider::Linear, "Issue.create", None),
            (Provider::Linear, "Comment.*", None),
            (Provider::Linear, "Comment", None),
            (Provider::Linear, "IssueLabel.remove", None),
            (Provider::Linear, "IssueSLA.breached", None),
            (Provider::Linear, "SomeNewModel.create", None),
            (
                Provider::Linear,
                "Comment.created",
                Some("did you mean `Comment.create`?"),
            ),
            (
                Provider::Linear,
                "Issue.created",
                Some("did you mean `Issue.create`?"),
            ),
            (
                Provider::Linear,
                "comment.create",
                Some("did you mean `Comment.create`? (event types match case-sensitively)"),
            ),
            (Provider::Linear, "issue", Some("`Issue`")),
            (Provider::Sentry, "issue.created", None),
            (Provider::Sentry, "event_alert.triggered", None),
            (Provider::Sentry, "metric_alert.critical", None),
            (Provider::Sentry, "seer.root_cause_completed", None),
            (Provider::Sentry, "preprod_artifact.created", None),
            (
                Provider::Sentry,
                "issue.create",
                Some("did you mean `issue.created`?"),
            ),
            (
                Provider::Sentry,
                "issue_alert.triggered",
                Some("did you mean `event_alert.triggered`?"),
            ),
            (Provider::Sentry, "issue_alert", Some("`event_alert`")),
            (
                Provider::Sentry,
                "event_alert.created",
                Some("its actions: triggered"),
            ),
            (Provider::Slack, "/deploy", None),
            (Provider::Slack, "message", None),
            (Provider::Slack, "message.im", None),
            (Provider::Slack, "message_changed", None),
            (Provider::Slack, "message_channel_join", None),
            (Provider::Slack, "app_mention", None),
            (Provider::Slack, "block_actions", None),
            (Provider::Slack, "*", None),
            (Provider::Slack, "deploy", Some("`/deploy`")),
            (Provider::Slack, "event_callback", Some("`*`")),
            (
                Provider::Slack,
                "app_mentions",
                Some("did you mean `app_mention`?"),
            ),
            (
                Provider::Slack,
                "message.channel",
                Some("did you mean `message.channels`?"),
            ),
            (Provider::Stripe, "invoice.paid", None),
            (Provider::Stripe, "payment_intent.succeeded", None),
            (
                Provider::Stripe,
                "customer.subscription.trial_will_end",
                None,
            ),
            (Provider::Stripe, "checkout.session.*", None),
            (Provider::Stripe, "v2.core.event_destination.ping", None),
            (Provider::Stripe, "climate.order.delayed", None),
            (
                Provider::Stripe,
                "v2.core.account[configuration.customer].updated",
                None,
            ),
            (
                Provider::Stripe,
                "charge.refundd",
                Some("`charge.refunded`"),
            ),
            (Provider::Stripe, "invoice.payment_attempt_required", None),
            (Provider::Stripe, "payment_intent.requires_capture", None),
            (Provider::Stripe, "reserve.release.created", None),
            (
                Provider::Stripe,
                "subscription_schedule.releasd",
                Some("`subscription_schedule.released`"),
            ),
            (
                Provider::Stripe,
                "billing.credit_balance_transaction.created",
                None,
            ),
            (
                Provider::Stripe,
                "some_new_object.delayd",
                Some("`some_new_object.delayed`"),
            ),
            (
                Provider::Stripe,
                "invoice.payed",
                Some("did you mean `invoice.paid`?"),
            ),
            (
                Provider::Stripe,
                "payment_intent.succeded",
                Some("did you mean `payment_intent.succeeded`?"),
            ),
            (
                Provider::Stripe,
                "checkout.session.complete",
                Some("`checkout.session.completed`"),
            ),
            (Provider::StandardWebhooks, "invoice.paid", None),
            (Provider::StandardWebhooks, "user.created", None),
            (
                Provider::StandardWebhooks,
                "issues.opened",
                Some("`github`"),
            ),
            (
                Provider::StandardWebhooks,
                "jira:issue_created",
                Some("`jira`"),
            ),
            // A custom sender's types may be any provider's (read from its own header).
            (Provider::Custom, "issues.opened", None),
            (Provider::OpenWebUi, "chat.finished", None),
        ];
        for (provider, trigger, hint) in cases {
            let found = unknown_trigger(*provider, trigger);
            match hint {
                Some(hint) => {
                    let found =
                        found.unwrap_or_else(|| panic!("{provider:?} {trigger}: no warning"));
                    assert!(found.contains(hint), "{provider:?} {trigger}: {found}");
                }
                None => assert_eq!(found, None, "{provider:?} {trigger}"),
            }
        }
        // The built-in samples' own types are never warned about.
        for provider in Provider::ALL {
            for t in crate::providers::samples::builtin_event_types(provider) {
                assert_eq!(unknown_trigger(provider, t), None, "{provider:?} {t}");
            }
        }
    }

    #[test]
    fn a_trigger_with_a_space_is_refused_with_the_providers_own_names() {
        let cases: &[(Provider, &str, &[&str], &[&str])] = &[
            (
                Provider::GitLab,
                "Note Hook",
                &["`note`", "`issue.open`", "X-Gitlab-Event"],
                &["issues.opened", "message.channels"],
            ),
            (
                Provider::GitLab,
                "Issue Hook",
                &["use the trigger `issue`"],
                &[],
            ),
            (
                Provider::GitLab,
                "merge request hook",
                &["use the trigger `merge_request`"],
                &[],
            ),
            (Provider::GitLab, "Pipeline Hook", &["`pipeline`"], &[]),
            (Provider::GitLab, "Job Hook", &["`build`"], &[]),
            (
                Provider::GitLab,
                "issue open",
                &["did you mean `issue.open`?", "`issue.open`"],
                &["issues.opened"],
            ),
            (
                Provider::GitHub,
                "issues opened",
                &["did you mean `issues.opened`?", "`issue_comment.created`"],
                &["message.channels", "X-Gitlab-Event"],
            ),
            // GitHub's `Issue Hook` is no label of its own; no trigger is guessed for it.
            (
                Provider::GitHub,
                "Issue Hook",
                &["`issues.opened`"],
                &["did you mean", "X-Gitlab-Event"],
            ),
            (
                Provider::Slack,
                "message channels",
                &["did you mean `message.channels`?"],
                &["issues.opened"],
            ),
            (
                Provider::Jira,
                "issue created",
                &["`jira:issue_created`", "`comment_created`"],
                &["issues.opened", "message.channels"],
            ),
            (Provider::Sentry, "issue created", &["`issue.created`"], &[]),
            (Provider::Linear, "Issue create", &["`Issue.create`"], &[]),
            (
                Provider::Stripe,
                "invoice paid",
                &["`payment_intent.succeeded`"],
                &[],
            ),
            (
                Provider::OpenWebUi,
                "chat finished",
                &["`chat.finished`"],
                &[],
            ),
            (
                Provider::StandardWebhooks,
                "test event",
                &["`test.event`"],
                &["issues.opened"],
            ),
        ];
        for (provider, trigger, has, lacks) in cases {
            let message = spaced_trigger(*provider, trigger);
            for words in *has {
                assert!(message.contains(words), "{provider:?} {trigger}: {message}");
            }
            for words in *lacks {
                assert!(
                    !message.contains(words),
                    "{provider:?} {trigger}: {message}"
                );
            }
        }
        // Every provider's message shows its own names (a custom sender's trigger may hold a
        // space, so it is never asked).
        for provider in Provider::ALL {
            let message = spaced_trigger(provider, "a b");
            let own = crate::providers::samples::default_event_type(provider);
            assert!(
                message.contains(&format!("`{own}`")),
                "{provider:?}: {message}"
            );
        }
    }

    #[test]
    fn triggers_that_never_match_are_named_with_the_fix() {
        let cases: &[(Provider, &str, Option<&str>)] = &[
            (Provider::GitHub, "issues.opened", None),
            (Provider::GitHub, "issues.*", None),
            (Provider::GitHub, "*", None),
            (Provider::GitHub, "push", None),
            (Provider::GitHub, "workflow_run.completed", None),
            (Provider::GitHub, "release.published", None),
            (
                Provider::GitHub,
                "pull_request.open",
                Some("`pull_request.opened`"),
            ),
            (Provider::GitHub, "issue.opened", Some("`issues.opened`")),
            (Provider::GitHub, "merge_request.open", None),
            // Written otherwise than `event.action`.
            (
                Provider::GitHub,
                "issues:opened",
                Some("did you mean `issues.opened`?"),
            ),
            (
                Provider::GitHub,
                "issue_opened",
                Some("did you mean `issues.opened`?"),
            ),
            (Provider::GitHub, "issues/closed", Some("`issues.closed`")),
            (
                Provider::GitHub,
                "issue_comment_created",
                Some("`issue_comment.created`"),
            ),
            (Provider::GitHub, "opened", Some("`issues.opened`")),
            (Provider::GitHub, "opened", Some("`pull_request.opened`")),
            (Provider::GitLab, "open", Some("`issue.open`")),
            (Provider::GitLab, "issue.open", None),
            (Provider::GitLab, "merge_request.merge", None),
            (Provider::GitLab, "note", None),
            (Provider::GitLab, "issues.opened", Some("`issue.open`")),
            (Provider::GitLab, "issue.opened", Some("`issue.open`")),
            (Provider::GitLab, "pull_request.opened", None),
            (Provider::Jira, "jira:issue_created", None),
            (Provider::Jira, "jira:issue_*", None),
            (Provider::Jira, "comment_created", None),
            (Provider::Jira, "worklog_updated", None),
            (Provider::Jira, "sprint_started", None),
            (Provider::Jira, "jira:version_released", None),
            (
                Provider::Jira,
                "issue_created",
                Some("did you mean `jira:issue_created`?"),
            ),
            (
                Provider::Jira,
                " issue_updated ",
                Some("`jira:issue_updated`"),
            ),
            (
                Provider::Jira,
                "version_released",
                Some("`jira:version_released`"),
            ),
            (
                Provider::Jira,
                "jira:comment_created",
                Some("did you mean `comment_created`?"),
            ),
            (
                Provider::Jira,
                "jira:sprint_closed",
                Some("`sprint_closed`"),
            ),
            // Old Jira Server sent this one prefixed.
            (Provider::Jira, "jira:worklog_updated", None),
            // Not known here, so not judged.
            (Provider::Jira, "issue_archived", None),
            (Provider::Slack, "anything.at_all", None),
            (Provider::Custom, "x.y", None),
            // GitLab notes and emoji have actions; pipelines, jobs and pushes have none.
            (Provider::GitLab, "note.create", None),
            (
                Provider::GitLab,
                "note.created",
                Some("did you mean `note.create`?"),
            ),
            (Provider::GitLab, "emoji.award", None),
            (Provider::GitLab, "pipeline", None),
            (Provider::GitLab, "pipeline.*", None),
            (
                Provider::GitLab,
                "pipeline.failed",
                Some("`object_attributes.status`"),
            ),
            (Provider::GitLab, "build.failed", Some("`build_status`")),
            (Provider::GitLab, "push.created", Some("trigger on `push`")),
        ];
        for (provider, trigger, hint) in cases {
            let found = unknown_trigger(*provider, trigger);
            let never_matches = matches!(
                (provider, *trigger),
                (Provider::GitHub, "merge_request.open")
                    | (Provider::GitLab, "pull_request.opened")
            );
            match hint {
                Some(hint) => {
                    let found = found.unwrap_or_else(|| panic!("{trigger}: no warning"));
                    assert!(found.contains(hint), "{trigger}: {found}");
                }
                None if never_matches => assert!(found.is_some(), "{trigger}"),
                None => assert_eq!(found, None, "{trigger}"),
            }
        }
    }
}
