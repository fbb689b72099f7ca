//! Setup steps per provider: where to paste the receiver URL and secret, and which events to
//! pick. Returned by create_webhook so a chat user can finish the job on the provider's side.

use crate::providers::Provider;
use crate::service::webhooks::WebhookOut;

/// Step-by-step instructions for connecting the provider to this webhook.
pub fn steps(w: &WebhookOut) -> Vec<String> {
    let url = w.url_with_token.as_deref().unwrap_or(&w.url);
    let secret = "the secret returned with this webhook (shown only once)";
    let provider = w.provider.parse::<Provider>().unwrap_or(Provider::Custom);
    let lines: Vec<String> = match provider {
        Provider::GitHub => vec![
            "In the repository (or organization): Settings → Webhooks → Add webhook.".into(),
            format!("Payload URL: {url}"),
            "Content type: application/json.".into(),
            format!("Secret: {secret}."),
            "Which events: 'Let me select individual events' and tick the ones your commands use (Issues, Issue comments, Pull requests, ...). GitHub sends a `ping` event on save; it appears in the event log.".into(),
        ],
        Provider::GitLab => vec![
            "In the project or group: Settings → Webhooks → Add new webhook.".into(),
            format!("URL: {url}"),
            format!("Secret token: {secret}."),
            "Trigger: tick the events your commands use (Issues events, Merge request events, Comments, ...), then 'Add webhook' and 'Test'.".into(),
        ],
        Provider::Slack => vec![
            "At api.slack.com/apps → your app → Basic Information: copy the Signing Secret and pass it as `secret` (rotate_secret can set it later).".into(),
            format!("Event Subscriptions → Enable Events → Request URL: {url} (Slack checks it with a challenge, answered automatically)."),
            "Subscribe to bot events your commands use (message.channels, app_mention, ...). For slash commands and interactivity, use the same URL as their Request URL.".into(),
        ],
        Provider::Jira => vec![
            "In Jira: Settings → System → WebHooks → Create a WebHook (needs Jira admin).".into(),
            format!("URL: {url}"),
            format!("Secret: {secret} (Jira then signs each request with X-Hub-Signature)."),
            "Events: tick the issue and comment events your commands use (created, updated, ...), optionally with a JQL filter.".into(),
        ],
        Provider::Sentry => vec![
            "In Sentry: Settings → Developer Settings → your integration (internal or public).".into(),
            format!("Webhook URL: {url}"),
            "Copy the integration's Client Secret and pass it as `secret` (rotate_secret can set it later).".into(),
            "Enable 'Alert Rule Action' or tick the resources your commands use (issue, error, comment).".into(),
        ],
        Provider::Linear => vec![
            "In Linear: Settings → API → Webhooks → New webhook.".into(),
            format!("URL: {url}"),
            "Copy the signing secret Linear shows and pass it as `secret` (rotate_secret can set it later).".into(),
            "Data change events: tick the ones your commands use (Issues, Comments, ...).".into(),
        ],
        Provider::Stripe => vec![
            "In the Stripe Dashboard: Developers → Webhooks → Add endpoint.".into(),
            format!("Endpoint URL: {url}"),
            "Select the events your commands use (payment_intent.succeeded, invoice.paid, ...).".into(),
            "Reveal the endpoint's signing secret (whsec_...) and pass it as `secret`.".into(),
        ],
        Provider::StandardWebhooks => vec![
            format!("In the sending service (Svix, OpenAI, or any Standard Webhooks sender), add an endpoint with URL {url}."),
            format!("Use {secret} (whsec_...) as the endpoint's signing secret, or paste the sender's whsec_ secret here with rotate_secret."),
        ],
        Provider::OpenWebUi => vec![
            "Open WebUI cannot sign its webhooks, so the token travels in the URL: treat the whole URL as a secret.".into(),
            format!("Event webhooks (Open WebUI 0.12+): Admin Panel → Settings → Webhooks, or POST /api/events/webhooks with {{\"url\": \"{url}\", \"events\": [\"chat.finished\", \"user.created\"]}}; the WEBHOOK_URL env var sends every event here."),
            format!("User notifications (chat.finished, channel.message for one user): Settings → Notifications → webhook URL {url}. Open WebUI sends them only when started with ENABLE_USER_WEBHOOKS=true, and to non-admins only with the `features.webhooks` permission; a target's default delivery `away` skips a user who has Open WebUI open in a browser tab (set delivery `always` on the target, POST /api/v1/notifications/targets, to test while watching)."),
            "If this server is on a private address, start Open WebUI with ENABLE_LOCAL_WEB_FETCH=true or it silently skips the URL.".into(),
        ],
        Provider::Custom => vec![
            format!("Have the sender POST JSON to {url}."),
            "By default it signs the body with HMAC-SHA256 (hex) in an X-Signature header, keyed with the secret; set options.custom to change the header, prefix, encoding, or to use a plain token (header or ?token=).".into(),
            "The event type is read from the body's `type` unless options.custom.event_type_pointer or event_type_header says otherwise.".into(),
        ],
    };
    lines
}
