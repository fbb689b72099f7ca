//! Sentry's, Linear's, Slack's and Stripe's event names, and the well-known names of other
//! providers that a Standard Webhooks sender is unlikely to use, for `unknown_trigger`.

use super::{Names, near};
use crate::providers::slack::INTERACTIONS;

/// Sentry's `Sentry-Hook-Resource`s.
const SENTRY_RESOURCES: &[&str] = &[
    "installation",
    "event_alert",
    "activity_alert",
    "metric_alert",
    "issue",
    "error",
    "comment",
    "seer",
];

pub(super) const SENTRY: Names = Names {
    name: "Sentry",
    events: SENTRY_RESOURCES,
    actions: &[
        ("installation", &["created", "deleted"]),
        ("event_alert", &["triggered"]),
        ("activity_alert", &["triggered"]),
        ("metric_alert", &["critical", "warning", "resolved"]),
        // `ignored` is what Sentry called `archived` before.
        (
            "issue",
            &[
                "created",
                "resolved",
                "assigned",
                "archived",
                "unresolved",
                "ignored",
            ],
        ),
        ("error", &["created"]),
        ("comment", &["created", "updated", "deleted"]),
    ],
    actionless: &[],
    // Sentry's settings call them issue alerts; the resource is `event_alert`.
    aliases: &[("issue_alert", "event_alert")],
    closed: false,
};

/// Linear's `type`s.
const LINEAR_TYPES: &[&str] = &[
    "Issue",
    "Comment",
    "IssueLabel",
    "Reaction",
    "Project",
    "ProjectUpdate",
    "Cycle",
    "Attachment",
    "Document",
    "Initiative",
    "InitiativeUpdate",
    "Customer",
    "CustomerNeed",
    "User",
    "IssueSLA",
    "OAuthApp",
    "AppUserNotification",
    "PermissionChange",
    "AgentSessionEvent",
];

/// What Linear's data change webhooks say happened to a model.
const LINEAR_DATA_CHANGES: &[&str] = &["create", "update", "remove"];

pub(super) const LINEAR: Names = Names {
    name: "Linear",
    events: LINEAR_TYPES,
    actions: &[
        ("Issue", LINEAR_DATA_CHANGES),
        ("Comment", LINEAR_DATA_CHANGES),
        ("IssueLabel", LINEAR_DATA_CHANGES),
        ("Reaction", LINEAR_DATA_CHANGES),
        ("Project", LINEAR_DATA_CHANGES),
        ("ProjectUpdate", LINEAR_DATA_CHANGES),
        ("Cycle", LINEAR_DATA_CHANGES),
        ("Attachment", LINEAR_DATA_CHANGES),
        ("Document", LINEAR_DATA_CHANGES),
        ("Initiative", LINEAR_DATA_CHANGES),
        ("InitiativeUpdate", LINEAR_DATA_CHANGES),
        ("Customer", LINEAR_DATA_CHANGES),
        ("CustomerNeed", LINEAR_DATA_CHANGES),
    ],
    actionless: &[],
    aliases: &[],
    closed: false,
};

/// Slack's Events API `event.type`s (a `message` is named by its subscription, an edit or
/// join by `message_` and its subtype), interaction `payload.type`s and handshakes.
const SLACK_EVENTS: &[&str] = &[
    "app_deleted",
    "app_home_opened",
    "app_installed",
    "app_mention",
    "app_rate_limited",
    "app_requested",
    "app_uninstalled",
    "app_uninstalled_team",
    "assistant_thread_context_changed",
    "assistant_thread_started",
    "call_rejected",
    "channel_archive",
    "channel_created",
    "channel_deleted",
    "channel_history_changed",
    "channel_id_changed",
    "channel_left",
    "channel_rename",
    "channel_shared",
    "channel_unarchive",
    "channel_unshared",
    "dnd_updated",
    "dnd_updated_user",
    "email_domain_changed",
    "emoji_changed",
    "entity_details_requested",
    "file_change",
    "file_comment_added",
    "file_comment_deleted",
    "file_comment_edited",
    "file_created",
    "file_deleted",
    "file_public",
    "file_shared",
    "file_unshared",
    "function_executed",
    "grid_migration_finished",
    "grid_migration_started",
    "group_archive",
    "group_close",
    "group_deleted",
    "group_history_changed",
    "group_left",
    "group_open",
    "group_rename",
    "group_unarchive",
    "im_close",
    "im_created",
    "im_history_changed",
    "im_open",
    "invite_requested",
    "link_shared",
    "member_joined_channel",
    "member_left_channel",
    "message",
    "pin_added",
    "pin_removed",
    "reaction_added",
    "reaction_removed",
    "resources_added",
    "resources_removed",
    "scope_denied",
    "scope_granted",
    "shared_channel_invite_accepted",
    "shared_channel_invite_approved",
    "shared_channel_invite_declined",
    "shared_channel_invite_received",
    "shared_channel_invite_requested",
    "star_added",
    "star_removed",
    "subteam_created",
    "subteam_members_changed",
    "subteam_self_added",
    "subteam_self_removed",
    "subteam_updated",
    "team_access_granted",
    "team_access_revoked",
    "team_domain_change",
    "team_join",
    "team_rename",
    "tokens_revoked",
    "user_change",
    "user_huddle_changed",
    "user_profile_changed",
    "user_resource_denied",
    "user_resource_granted",
    "user_resource_removed",
    "user_status_changed",
    "workflow_deleted",
    "workflow_published",
    "workflow_step_deleted",
    "workflow_step_execute",
    "workflow_unpublished",
    // Interactions beyond `slack::INTERACTIONS`.
    "dialog_cancellation",
    "dialog_suggestion",
    "workflow_step_edit",
    // Handshakes.
    "url_verification",
    "ssl_check",
];

/// The subscriptions a new `message` is named by.
const SLACK_MESSAGE_SUBSCRIPTIONS: &[&str] = &["channels", "groups", "im", "mpim"];

/// A Slack trigger that never matches: a near miss of an event's name, the Events API's
/// envelope, a subscription `message` is never named by, or a slash command without its
/// slash. Names with `*`, a slash, or the `message_` of a subtype are let be.
pub(super) fn slack(trigger: &str) -> Option<String> {
    if trigger.contains('*')
        || trigger.starts_with('/')
        || trigger.starts_with("message_")
        || SLACK_EVENTS.contains(&trigger)
        || INTERACTIONS.contains(&trigger)
    {
        return None;
    }
    if trigger == "event_callback" {
        return Some(
            "`event_callback` is the Events API's envelope: events are typed by the event \
             inside it (`message.channels`, `app_mention`, `reaction_added`), so this trigger \
             matches only an envelope that names no event; use `*` for every event"
                .into(),
        );
    }
    if let Some(subscription) = trigger.strip_prefix("message.") {
        if SLACK_MESSAGE_SUBSCRIPTIONS.contains(&subscription) {
            return None;
        }
        let meant = near(subscription, SLACK_MESSAGE_SUBSCRIPTIONS)
            .map(|s| format!("; did you mean `message.{s}`?"))
            .unwrap_or_default();
        return Some(format!(
            "Slack names a new message `message.channels`, `message.groups`, `message.im` or \
             `message.mpim` (or `message` for all), so `{trigger}` never matches{meant}"
        ));
    }
    let known: Vec<&str> = SLACK_EVENTS.iter().chain(&INTERACTIONS).copied().collect();
    if let Some(meant) = near(trigger, &known) {
        return Some(format!(
            "Slack sends no `{trigger}` events, so this trigger never matches; did you mean \
             `{meant}`?"
        ));
    }
    if trigger.contains('.') {
        return None;
    }
    Some(format!(
        "Slack sends no `{trigger}` events (no Events API, interaction or handshake type is \
         named so), so this trigger never matches; a slash command's trigger is the command \
         with its slash: `/{trigger}`"
    ))
}

/// Every word of Stripe's documented event types (`invoice`, `payment_intent`, `paid`,
/// `succeeded`): a trigger word that is none of them but a slip of one never matches.
const STRIPE_WORDS: &[&str] = &[
    // Objects.
    "account",
    "application",
    "application_fee",
    "balance",
    "billing",
    "alert",
    "meter",
    "billing_portal",
    "configuration",
    "capability",
    "cash_balance",
    "charge",
    "checkout",
    "session",
    "climate",
    "order",
    "product",
    "coupon",
    "credit_note",
    "customer",
    "discount",
    "source",
    "subscription",
    "tax_id",
    "customer_cash_balance_transaction",
    "dispute",
    "entitlements",
    "active_entitlement_summary",
    "external_account",
    "file",
    "financial_connections",
    "identity",
    "verification_session",
    "invoice",
    "invoiceitem",
    "invoice_payment",
    "issuing_authorization",
    "issuing_card",
    "issuing_cardholder",
    "issuing_dispute",
    "issuing_personalization_design",
    "issuing_token",
    "issuing_transaction",
    "mandate",
    "payment_intent",
    "payment_link",
    "payment_method",
    "payout",
    "person",
    "plan",
    "price",
    "promotion_code",
    "quote",
    "radar",
    "early_fraud_warning",
    "value_list",
    "recipient",
    "refund",
    "reporting",
    "report_run",
    "report_type",
    "review",
    "setup_intent",
    "sigma",
    "scheduled_query_run",
    "sku",
    "transaction",
    "subscription_schedule",
    "tax",
    "settings",
    "tax_rate",
    "terminal",
    "reader",
    "test_helpers",
    "test_clock",
    "topup",
    "transfer",
    "treasury",
    "credit_reversal",
    "debit_reversal",
    "financial_account",
    "inbound_transfer",
    "outbound_payment",
    "outbound_transfer",
    "received_credit",
    "received_debit",
    // What happened to them.
    "aborted",
    "accepted",
    "action_failed",
    "action_succeeded",
    "action_updated",
    "activated",
    "advancing",
    "amount_capturable_updated",
    "applied",
    "async_payment_failed",
    "async_payment_succeeded",
    "attached",
    "authorized",
    "automatically_updated",
    "available",
    "canceled",
    "captured",
    "chargeable",
    "closed",
    "completed",
    "created",
    "deactivated",
    "deauthorized",
    "deleted",
    "detached",
    "disconnected",
    "error_report_triggered",
    "expected_arrival_date_updated",
    "expired",
    "expiring",
    "failed",
    "features_status_updated",
    "finalization_failed",
    "finalized",
    "funds_available",
    "funds_reinstated",
    "funds_withdrawn",
    "initial_credit_granted",
    "internal_failure",
    "marked_uncollectible",
    "mandate_notification",
    "opened",
    "overdue",
    "overpaid",
    "paid",
    "partially_funded",
    "paused",
    "payment_action_required",
    "payment_failed",
    "payment_succeeded",
    "pending",
    "pending_update_applied",
    "pending_update_expired",
    "posted",
    "processing",
    "reactivated",
    "ready",
    "reconciliation_completed",
    "redacted",
    "refresh",
    "refreshed_balance",
    "refunded",
    "refund_attributes_required",
    "rejected",
    "released",
    "request",
    "requires_action",
    "requires_input",
    "resumed",
    "returned",
    "reversed",
    "sent",
    "setup_failed",
    "submitted",
    "succeeded",
    "triggered",
    "trial_will_end",
    "updated",
    "upcoming",
    "verified",
    "voided",
    "will_be_due",
    // Words of types missing above, found near others (kept here so they are not "corrected").
    "balance_settings",
    "card_automatically_updated",
    "credit_balance_transaction",
    "credit_grant",
    "delayed",
    "delivered",
    "payment_attempt_required",
    "pricing_updated",
    "product_substituted",
    // `reserve.release.created`: one edit from `released`, which it is not a slip of.
    "release",
    "requires_capture",
];

/// Misspellings of Stripe's words too far from them for [`stripe_slip`]'s one edit.
const STRIPE_MISSPELLINGS: &[(&str, &str)] = &[("payed", "paid"), ("cancelled", "canceled")];

/// The Stripe word `word` is a slip of: one edit from it, or a known misspelling. Closer than
/// other providers' check, because Stripe has hundreds of words and adds more each release: a
/// real new word (`delayed`) is often two edits from an old one (`deleted`), and a hint to
/// subscribe to that other event would have the user miss theirs.
fn stripe_slip(word: &str) -> Option<&'static str> {
    if let Some((_, meant)) = STRIPE_MISSPELLINGS.iter().find(|(slip, _)| *slip == word) {
        return Some(meant);
    }
    // Of two words one edit away (`refund`, `refunded` for `refundd`), the longer: a slip
    // more often drops a letter than adds a suffix.
    STRIPE_WORDS
        .iter()
        .filter(|known| known.len() >= 4 && strsim::damerau_levenshtein(word, known) == 1)
        .max_by_key(|known| known.len())
        .copied()
}

/// A Stripe trigger with a word that is a slip of one of Stripe's (`invoice.payed`), with the
/// name meant. A word near none of them is let be: Stripe adds objects often.
pub(super) fn stripe(trigger: &str) -> Option<String> {
    // v2 types name a part in brackets (`v2.core.account[configuration.customer].updated`),
    // whose dots are not word breaks.
    if trigger.contains('[') {
        return None;
    }
    let mut slipped = None;
    let words: Vec<&str> = trigger
        .split('.')
        .map(|word| {
            if word.contains('*') || STRIPE_WORDS.contains(&word) {
                return word;
            }
            match stripe_slip(word) {
                Some(meant) => {
                    slipped.get_or_insert(word);
                    meant
                }
                None => word,
            }
        })
        .collect();
    let slipped = slipped?;
    Some(format!(
        "Stripe's event types have no word `{slipped}`, so this trigger never matches; did you \
         mean `{}`?",
        words.join(".")
    ))
}

/// Other providers' well-known event types, which a Standard Webhooks sender (whose types are
/// its own) is unlikely to send, with the provider that does.
const OTHER_PROVIDERS: &[(&str, &[&str])] = &[
    (
        "github",
        &[
            "issues.opened",
            "issues.closed",
            "issues.labeled",
            "issue_comment.created",
            "pull_request.opened",
            "pull_request.closed",
            "pull_request.synchronize",
            "pull_request_review.submitted",
            "workflow_run.completed",
        ],
    ),
    (
        "gitlab",
        &["merge_request.open", "merge_request.merge", "tag_push"],
    ),
    (
        "slack",
        &[
            "message.channels",
            "message.groups",
            "message.im",
            "message.mpim",
            "app_mention",
        ],
    ),
    (
        "jira",
        &[
            "jira:issue_created",
            "jira:issue_updated",
            "jira:issue_deleted",
        ],
    ),
    (
        "linear",
        &["Issue.create", "Issue.update", "Comment.create"],
    ),
    (
        "stripe",
        &["payment_intent.succeeded", "checkout.session.completed"],
    ),
];

/// A Standard Webhooks trigger that is another provider's well-known event type. Its sender
/// names its own types, so any other name may be right; this one most likely is not.
pub(super) fn another_providers(trigger: &str) -> Option<String> {
    let (provider, _) = OTHER_PROVIDERS
        .iter()
        .find(|(_, names)| names.contains(&trigger))?;
    Some(format!(
        "`{trigger}` is a `{provider}` event type, and a Standard Webhooks sender sends the \
         types it names itself (its `type` field), so this trigger matches only if this sender \
         uses {provider}'s names; check the sender's event types, or send {provider}'s own \
         webhooks to a `{provider}` webhook"
    ))
}
