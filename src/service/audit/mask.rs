//! The audit log's masking (`audit::record` → here): a change's arguments as recorded, with
//! every secret among them replaced by `********` (by field name, whatever is inside the
//! objects that hold secrets, channel URLs' secret parts, API keys in any text), and the
//! secrets an error message may quote, found to be masked there too.

use serde_json::Value;

use crate::providers::MASK;
use crate::service::auth::KEY_PREFIX;

/// What a whole detail is masked as: the arguments of a call, which a client may send as
/// text (a tool call refused at the door is recorded with them as sent).
pub(super) const DETAIL: &str = "arguments";

/// Whether a field with this name holds a secret: `secret`, `token`, `password`, `api_key`,
/// `authorization`, and any name ending in `_token`, `_secret`, `_key` or `_password` (case
/// and `-`/`_` ignored), or in camelCase `Token`, `Secret` or `Password` (`accessToken`,
/// `clientSecret`). A bare `key` is not one, nor a camelCase `…Key` (`issueKey`, `sortKey`):
/// payloads name things by them (a Jira issue's `PROJ-7`, its project's `PROJ`), and none of
/// this service's secrets is called that.
pub fn is_secret_field(name: &str) -> bool {
    let camel = ["Token", "Secret", "Password"].iter().any(|word| {
        name.strip_suffix(word).is_some_and(|rest| {
            rest.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
    });
    if camel {
        return true;
    }
    let name = name.to_ascii_lowercase().replace('-', "_");
    matches!(
        name.as_str(),
        "secret" | "token" | "password" | "api_key" | "apikey" | "authorization"
    ) || ["_token", "_secret", "_key", "_password"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

/// A field holding a URL (a `target` may be given as just its URL).
fn is_url_field(name: &str) -> bool {
    // `endpoint`: a webhook configuration's receiver URL, pasted with its `?token=` perhaps.
    matches!(name, "url" | "target" | "endpoint")
}

/// An object that holds secrets under names of the sender's choosing (`credentials`, a
/// `target` with its `secret`): a misspelt name (`github_tokn`, `secrett`) or an unknown one
/// (a target's `headers`) is refused, but recorded as sent, so every value in it is taken
/// for a secret but those of fields known to hold none ([`is_plain_in_holder`]).
fn is_secret_holder(name: &str) -> bool {
    matches!(name, "credentials" | "target")
}

/// The fields of a `credentials` or `target` that hold no secret: its URLs (masked as URLs),
/// a target's `kind` and `chat_id`, and the Jira account's email.
fn is_plain_in_holder(name: &str) -> bool {
    is_url_field(name)
        || name.ends_with("_url")
        || matches!(name, "kind" | "chat_id" | "jira_email")
}

/// Arguments that take an object, which a model may write out as JSON text: such text that is
/// no JSON (Python's quotes, a brace missing) is refused, but may hold the secrets the object
/// would have, so it is recorded masked whole.
fn is_object_argument(name: &str) -> bool {
    matches!(
        name,
        "options" | "payload" | "conditions" | "headers" | "arguments"
    ) || is_secret_holder(name)
}

/// Text without the spaces and byte order mark a JSON text may begin with.
fn leading_trimmed(text: &str) -> &str {
    text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
}

/// Text that reads as a JSON object or list written out.
fn json_like(text: &str) -> bool {
    leading_trimmed(text).starts_with(['{', '['])
}

/// The JSON object or list an object argument's text writes out; none for any other text
/// (YAML, Python's quotes, a brace missing), which the call refused.
fn object_in_text(text: &str) -> Option<Value> {
    serde_json::from_str::<Value>(leading_trimmed(text))
        .ok()
        .filter(|v| v.is_object() || v.is_array())
}

/// The API keys of this service's (`whk_…`) a text holds, whatever field it was given in
/// (`POST /api/keys` takes none, but one sent is recorded as sent).
fn api_keys_in(text: &str) -> Vec<&str> {
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    text.match_indices(KEY_PREFIX)
        .filter(|(at, _)| !text[..*at].ends_with(is_key_char))
        .map(|(at, _)| {
            let end = text[at..]
                .find(|c: char| !is_key_char(c))
                .map_or(text.len(), |n| at + n);
            &text[at..end]
        })
        .filter(|key| key.len() >= KEY_PREFIX.len() + 8)
        .collect()
}

/// No secret given: a null or empty value (one generated, or signing stopped), shown so, not
/// as a mask that reads as a secret chosen.
fn none_given(field: &Value) -> bool {
    field.is_null() || field.as_str() == Some("")
}

/// Replaces the value of every secret field (see [`is_secret_field`]), at any depth, with
/// `********`; so every value of a `credentials` or `target` but its plain fields, and
/// channel URLs' secret parts.
pub fn mask(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (name, field) in map.iter_mut() {
                mask_field(name, field);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        // Models may send an object written out as a JSON string (MCP takes that too), and the
        // audit records the arguments as sent.
        Value::String(text) if json_like(text) => {
            if let Ok(mut inner) = serde_json::from_str::<Value>(text) {
                mask(&mut inner);
                *value = Value::String(inner.to_string());
            }
        }
        Value::String(text) if !api_keys_in(text).is_empty() => {
            let mut masked = text.clone();
            for key in api_keys_in(text) {
                masked = masked.replace(key, MASK);
            }
            *value = Value::String(masked);
        }
        _ => {}
    }
}

pub(super) fn mask_field(name: &str, field: &mut Value) {
    let masked = || Value::String(MASK.to_string());
    match field {
        // Masked already: an entry is masked again when read (see `audit::out`).
        _ if none_given(field) || field.as_str() == Some(MASK) => {}
        _ if is_secret_field(name) => *field = masked(),
        Value::Array(_) if is_secret_holder(name) => *field = masked(),
        Value::Object(holder) if is_secret_holder(name) => mask_holder(holder),
        // A channel's incoming-webhook URL is itself the credential to post there, and a
        // forward's may hold its key where a channel's would not (Zapier's).
        Value::String(url) if is_url_field(name) && !json_like(url) => {
            *field = Value::String(crate::actions::redact_any_secret_path(url));
        }
        // A URL given as a list or an object (refused, but recorded as sent).
        Value::Array(_) | Value::Object(_) if name == "url" => *field = masked(),
        Value::String(text) if is_object_argument(name) => match object_in_text(text) {
            Some(mut inner) => {
                mask_field(name, &mut inner);
                *field = Value::String(inner.to_string());
            }
            None => *field = masked(),
        },
        // An API base URL (`github_api_url`) may carry a user and password.
        Value::String(url) if name.ends_with("_url") => {
            *field = Value::String(crate::actions::mask_url_credentials(url));
        }
        // `credentials` given as one bare token, or as a number.
        _ if is_secret_holder(name) => *field = masked(),
        _ => mask(field),
    }
}

fn mask_holder(holder: &mut serde_json::Map<String, Value>) {
    for (name, field) in holder.iter_mut() {
        if is_plain_in_holder(name) {
            mask_field(name, field);
        } else if !none_given(field) {
            *field = Value::String(MASK.to_string());
        }
    }
}

/// The values of every secret field (see [`is_secret_field`]), at any depth, as text; and
/// the URLs and texts [`mask`] hides, as an error may quote them whole ("invalid type:
/// string \"https://hooks.slack.com/…\"").
fn secret_values(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (name, field) in map {
                field_secrets(name, field, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| secret_values(item, out)),
        // An object written out as a JSON string, as `mask` reads it.
        Value::String(text) if json_like(text) => {
            if let Ok(inner) = serde_json::from_str::<Value>(text) {
                secret_values(&inner, out);
            }
        }
        Value::String(text) => out.extend(api_keys_in(text).into_iter().map(str::to_owned)),
        _ => {}
    }
}

pub(super) fn field_secrets(name: &str, field: &Value, out: &mut Vec<String>) {
    match field {
        _ if none_given(field) => {}
        _ if is_secret_field(name) => secret_values_all(field, out),
        Value::Array(_) if is_secret_holder(name) => secret_values_all(field, out),
        Value::Object(holder) if is_secret_holder(name) => {
            for (inner, value) in holder {
                if is_plain_in_holder(inner) {
                    field_secrets(inner, value, out);
                } else {
                    secret_values_all(value, out);
                }
            }
        }
        Value::String(url) if is_url_field(name) && !json_like(url) => {
            if crate::actions::redact_any_secret_path(url) != *url {
                out.push(url.clone());
            }
        }
        Value::Array(_) | Value::Object(_) if name == "url" => secret_values_all(field, out),
        Value::String(text) if is_object_argument(name) => match object_in_text(text) {
            Some(inner) => field_secrets(name, &inner, out),
            None => out.push(text.clone()),
        },
        // A base URL's user and password, quoted whole by "`…` is not a URL".
        Value::String(url) if name.ends_with("_url") => {
            if crate::actions::mask_url_credentials(url) != *url {
                out.push(url.clone());
            }
        }
        _ if is_secret_holder(name) => secret_values_all(field, out),
        _ => secret_values(field, out),
    }
}

/// Every scalar inside a secret field's value.
fn secret_values_all(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => map.values().for_each(|v| secret_values_all(v, out)),
        Value::Array(items) => items.iter().for_each(|v| secret_values_all(v, out)),
        Value::String(s) => out.push(s.clone()),
        Value::Null => {}
        other => out.push(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_fields_are_recognised_by_name() {
        for name in [
            "secret",
            "Secret",
            "token",
            "password",
            "api_key",
            "apiKey",
            "api-key",
            "github_token",
            "slack_bot_token",
            "linear_api_key",
            "previous_secret",
            "Authorization",
            "accessToken",
            "authToken",
            "clientSecret",
            "webhookSecret",
            "X-Api-Key",
            "DB_PASSWORD",
        ] {
            assert!(is_secret_field(name), "{name} is a secret");
        }
        for name in [
            "name",
            "provider",
            "webhook_id",
            "key",
            "keys",
            "tokens_used",
            "url",
            "Tokenizer",
            "monkey",
            "issueKey",
            "sortKey",
        ] {
            assert!(!is_secret_field(name), "{name} is not a secret");
        }
    }

    #[test]
    fn masking_reaches_into_json_written_as_text_and_channel_urls() {
        let cases = [
            (
                json!({"options": "{\"credentials\": {\"github_token\": \"ghp_x\"}}"}),
                json!({"options": "{\"credentials\":{\"github_token\":\"********\"}}"}),
            ),
            (
                json!({"target": "{\"url\": \"https://a.example/x\", \"secret\": \"whsec_1\"}"}),
                json!({"target": "{\"secret\":\"********\",\"url\":\"https://a.example/x\"}"}),
            ),
            (
                json!({"target": "https://hooks.slack.com/services/T0/B0/SECRET"}),
                json!({"target": "https://hooks.slack.com/services/T0/B0/***"}),
            ),
            (
                json!({"target": {"url": "https://discord.com/api/webhooks/1/SECRET"}}),
                json!({"target": {"url": "https://discord.com/api/webhooks/1/***"}}),
            ),
            (
                json!({"url": "https://api.telegram.org/bot123:SECRETB/sendMessage"}),
                json!({"url": "https://api.telegram.org/bot***/sendMessage"}),
            ),
            (json!({"text": "{not json"}), json!({"text": "{not json"})),
            // Lists where objects of secrets belong (refused, but recorded as sent).
            (
                json!({"options": {"credentials": ["ghp_leak"]}}),
                json!({"options": {"credentials": "********"}}),
            ),
            (
                json!({"target": ["https://example.com/y", "TOPSECRET"]}),
                json!({"target": "********"}),
            ),
            // Text that meant an object but is no JSON, which the call refused.
            (
                json!({"options": "{'credentials': {'github_token': 'ghp_quoted'}}"}),
                json!({"options": "********"}),
            ),
            (
                json!({"target": "{\"url\": \"https://e.x/?token=T1\", \"secret\": \"whsec_2\""}),
                json!({"target": "********"}),
            ),
            (
                json!({"name": "[prod] GitHub"}),
                json!({"name": "[prod] GitHub"}),
            ),
            // Misspelt and unknown names in the objects that hold secrets; their plain
            // fields kept.
            (
                json!({"options": {"credentials": {"github_tokn": "ghp_1", "jira_email": "a@b.c",
                                                   "github_api_url": "https://u:pw@gh.example"}}}),
                json!({"options": {"credentials": {"github_tokn": "********", "jira_email": "a@b.c",
                                                   "github_api_url": "https://u:***@gh.example/"}}}),
            ),
            (
                json!({"target": {"url": "https://e.x/hook", "secrett": "whsec_3", "kind": "slack",
                                  "headers": {"X-Auth": "k"}, "chat_id": 42}}),
                json!({"target": {"url": "https://e.x/hook", "secrett": "********", "kind": "slack",
                                  "headers": "********", "chat_id": 42}}),
            ),
            (
                json!({"options": {"credentials": "ghp_bare"}}),
                json!({"options": {"credentials": "********"}}),
            ),
            (
                json!({"name": "ci", "key": "whk_0123456789abcdef"}),
                json!({"name": "ci", "key": "********"}),
            ),
            (
                json!({"description": "key whk_0123456789abcdef, old whk_abc"}),
                json!({"description": "key ********, old whk_abc"}),
            ),
            // A URL as a list or an object; object arguments as text of another kind.
            (
                json!({"target": {"url": ["https://hooks.slack.com/services/T0/B0/SECRETA"]}}),
                json!({"target": {"url": "********"}}),
            ),
            (
                json!({"url": {"href": "https://hooks.slack.com/services/T0/B0/SECRETC"}}),
                json!({"url": "********"}),
            ),
            (
                json!({"options": "credentials:\n  github_token: SECRETF"}),
                json!({"options": "********"}),
            ),
            (
                json!({"options": "\u{feff}{\"credentials\": {\"github_token\": \"ghp_bom\"}}"}),
                json!({"options": "{\"credentials\":{\"github_token\":\"********\"}}"}),
            ),
        ];
        for (mut given, expected) in cases {
            mask(&mut given);
            assert_eq!(given, expected);
            // Entries are masked again when read (older builds stored some as given).
            mask(&mut given);
            assert_eq!(given, expected, "masked twice");
        }
        // A call's arguments sent whole as text, as a refused call is recorded.
        let mut text = json!("{'id': 'gh', 'secret': 'SECRETD'}");
        mask_field(DETAIL, &mut text);
        assert_eq!(text, json!("********"));
    }

    #[test]
    fn secrets_quoted_in_an_error_are_found_also_in_json_written_as_text_and_in_lists() {
        let cases = [
            (
                json!({"options": "{\"credentials\": {\"github_token\": 42424242}}"}),
                "42424242",
            ),
            (
                json!({"target": "{\"url\": \"https://e.x/\", \"secret\": 123456789}"}),
                "123456789",
            ),
            (
                json!({"options": {"credentials": ["ghp_leak"]}}),
                "ghp_leak",
            ),
            (
                json!({"target": ["https://e.x/y", "TOPSECRET"]}),
                "TOPSECRET",
            ),
            (
                json!({"credentials": {"github_api_url": "https://u:PW5@exa mple.com/api"}}),
                "https://u:PW5@exa mple.com/api",
            ),
            // What serde quotes when a target or credentials is of the wrong type.
            (
                json!({"target": "https://hooks.slack.com/services/T0/B0/SLACKSECRET"}),
                "https://hooks.slack.com/services/T0/B0/SLACKSECRET",
            ),
            (json!({"options": {"credentials": "ghp_bare"}}), "ghp_bare"),
            (
                json!({"options": {"credentials": {"github_tokn": "ghp_typo"}}}),
                "ghp_typo",
            ),
            (
                json!({"target": {"url": "https://e.x/", "headers": {"X-Auth": "hdr_key"}}}),
                "hdr_key",
            ),
            (
                json!({"options": "{'credentials': {'github_token': 'ghp_q'}}"}),
                "{'credentials': {'github_token': 'ghp_q'}}",
            ),
            (
                json!({"key": "whk_0123456789abcdef"}),
                "whk_0123456789abcdef",
            ),
        ];
        for (detail, secret) in cases {
            let mut found = Vec::new();
            secret_values(&detail, &mut found);
            assert!(found.iter().any(|s| s == secret), "{detail}: {found:?}");
        }
    }

    #[test]
    fn masking_replaces_secrets_at_any_depth_and_keeps_the_rest() {
        let mut detail = json!({
            "name": "GitHub",
            "secret": "s3cr3t-value",
            "options": {
                "credentials": {"github_token": "ghp_x", "github_api_url": "https://gh"},
                "custom": {"mode": "token", "token": {"nested": "x"}},
            },
            "headers": [{"Authorization": "Bearer abc", "accept": "json"}],
            "password": null,
            "api_key": "",
        });

        mask(&mut detail);

        assert_eq!(
            detail,
            json!({
                "name": "GitHub",
                "secret": "********",
                "options": {
                    "credentials": {"github_token": "********", "github_api_url": "https://gh"},
                    "custom": {"mode": "token", "token": "********"},
                },
                "headers": [{"Authorization": "********", "accept": "json"}],
                // None given: shown so.
                "password": null,
                "api_key": "",
            })
        );
    }
}
