//! A webhook's provider options as given: merged into the stored ones on update, and checked
//! (base URLs, credentials, masks, allowlists) before they are saved.

use serde_json::Value;

use crate::actions::endpoints_check::{Site, site_address_problem};
use crate::app::AppState;
use crate::providers::{CustomOptions, Provider, ProviderOptions, ReplyCredentials};
use crate::service::{ServiceError, sealing};

/// Merges an update's options into the stored ones: each option given replaces the stored
/// one whole, `null` removes it, the rest stay. `credentials` alone is merged key by key, so
/// one token can change without sending back the others. Whole replacement everywhere else
/// keeps settings that only make sense together (a custom scheme's mode, header and prefix; a
/// rate and its burst) from mixing old and new.
pub(super) fn merge_options(stored: &mut Value, patch: Value) {
    let Value::Object(members) = patch else {
        *stored = patch;
        return;
    };
    if !stored.is_object() {
        *stored = Value::Object(serde_json::Map::new());
    }
    let stored = stored.as_object_mut().expect("made an object above");
    for (key, value) in members {
        match (key.as_str(), value, stored.get_mut(&key)) {
            (_, Value::Null, _) => {
                stored.remove(&key);
            }
            ("credentials", Value::Object(given), Some(Value::Object(kept))) => {
                for (name, token) in given {
                    if token.is_null() {
                        kept.remove(&name);
                    } else {
                        kept.insert(name, token);
                    }
                }
            }
            (_, value, _) => {
                stored.insert(key, value);
            }
        }
    }
}

/// The API base URLs in `options.credentials` that are new (not the `stored` ones) are held
/// to the same outbound rules as a command's target: http(s), and no private address or local
/// name unless `ALLOWED_TARGET_HOSTS` lets it through. Refused now, where the caller can fix
/// it, rather than in every later reply's dead action.
///
/// A stored token is not carried over to a changed base URL: it would be sent to the new
/// host, so whoever changes the URL (a prompted agent, say) must give the token again.
/// `regiven` names the tokens this update gives as values (not the mask). A process that sends
/// nothing saves a URL its own `ALLOWED_TARGET_HOSTS` refuses, with the warnings returned.
pub(super) fn check_base_urls(
    state: &AppState,
    options: &ProviderOptions,
    stored: &ReplyCredentials,
    regiven: &[String],
) -> Result<Vec<String>, ServiceError> {
    let mut unchecked = Vec::new();
    let Some(creds) = &options.credentials else {
        return Ok(unchecked);
    };
    let urls = [
        (
            "github_api_url",
            &creds.github_api_url,
            &stored.github_api_url,
            "github_token",
            (&creds.github_token, &stored.github_token),
            "GITHUB_API_URL",
        ),
        (
            "gitlab_url",
            &creds.gitlab_url,
            &stored.gitlab_url,
            "gitlab_token",
            (&creds.gitlab_token, &stored.gitlab_token),
            "GITLAB_URL",
        ),
        (
            "jira_base_url",
            &creds.jira_base_url,
            &stored.jira_base_url,
            "jira_api_token",
            (&creds.jira_api_token, &stored.jira_api_token),
            "JIRA_BASE_URL",
        ),
    ];
    for (name, url, before, token, (kept_token, stored_token), default) in urls {
        if url == before {
            continue;
        }
        // Removing the URL moves the token too: to the server's own endpoint for that provider.
        let destination = url.as_deref().map_or_else(
            || format!("the server's own {default}"),
            crate::actions::mask_url_credentials,
        );
        let carried = kept_token.is_some() && stored_token.is_some();
        if carried && !regiven.iter().any(|t| t == token) {
            return Err(ServiceError::invalid(
                &format!("options.credentials.{token}"),
                format!(
                    "changing {name} would send the stored {token} to {destination}: give \
                     {token} again (its value, not the mask) in the same update, or remove it \
                     ({token}: null)"
                ),
            ));
        }
        let Some(url) = url.as_deref() else {
            continue;
        };
        let field = format!("options.credentials.{name}");
        if url.len() > 2048 || reqwest::Url::parse(url).is_err() {
            return Err(ServiceError::invalid(
                &field,
                format!(
                    "`{}` is not a URL of at most 2,048 bytes; give it as https://host/...",
                    crate::quote::quoted(&crate::actions::mask_url_credentials(url))
                ),
            ));
        }
        if let Some(why) = login_in_url(name, url, token) {
            return Err(ServiceError::invalid(&field, why));
        }
        let site = match name {
            "gitlab_url" => Some(Site::Gitlab),
            "jira_base_url" => Some(Site::Jira),
            _ => None,
        };
        if let Some(why) = site.and_then(|site| site_address_problem(site, url)) {
            return Err(ServiceError::invalid(&field, why));
        }
        let why = crate::service::sending::target_refusal(state, url)
            .map_err(|refused| ServiceError::invalid(&field, refused))?;
        unchecked
            .extend(why.map(|why| crate::service::sending::saved_target_warning(&field, &why)));
    }
    Ok(unchecked)
}

/// Why a user name or password in a base URL is refused: GitHub and Jira take their token in
/// `Authorization`, and the HTTP client would send the URL's login there too, as a second
/// header no server reads as meant. (GitLab also takes its token in `PRIVATE-TOKEN`, where it
/// goes when `gitlab_url` carries a login, for a proxy in front of it: that login is kept.)
fn login_in_url(name: &str, url: &str, token: &str) -> Option<String> {
    if name == "gitlab_url" {
        return None;
    }
    let parsed = reqwest::Url::parse(url).ok()?;
    (!parsed.username().is_empty() || parsed.password().is_some()).then(|| {
        format!(
            "`{}` carries a user name or password, which would be sent as a second \
             `Authorization` header beside {token}'s: give the URL without them, and the \
             credential in {token}",
            crate::actions::mask_url_credentials(url)
        )
    })
}

pub(super) const SEALED_FORM: &str = "a value starting with `enc:v1:` would be taken for an encrypted one \
                           (the form sealed secrets are stored in); give the plain value";

/// A mask left where no stored value was put back for it would be sent as the credential.
pub(super) fn refuse_masks(options: &ProviderOptions) -> Result<(), ServiceError> {
    match options.credentials.as_ref().and_then(|c| c.still_masked()) {
        Some((name, why)) => Err(ServiceError::invalid(
            &format!("options.credentials.{name}"),
            why,
        )),
        None => Ok(()),
    }
}

/// Credentials that would be stored and never work: a blank one (it is sent as it is, in
/// place of the server's own token, and every reply fails), or one in the form sealed ones are
/// stored in (read back as sealed: unreadable without the key, or opened as garbage).
pub(super) fn refuse_unusable_credentials(options: Option<&Value>) -> Result<(), ServiceError> {
    let given = options
        .and_then(|o| o.get("credentials"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten();
    for (name, value) in given {
        if value.as_str().is_some_and(|v| v.trim().is_empty()) {
            return Err(ServiceError::invalid(
                &format!("options.credentials.{name}"),
                format!(
                    "{name} is blank: give its value, null to remove it (the server's own \
                     setting is used then), or leave it out to keep it as it is"
                ),
            ));
        }
        if value.as_str().is_some_and(sealing::looks_sealed) {
            return Err(ServiceError::invalid(
                &format!("options.credentials.{name}"),
                SEALED_FORM,
            ));
        }
        // A token goes in a header: one with a space, a line break or a letter outside ASCII
        // would be stored and then fail every send, saying only that no request was built.
        let token = TOKEN_FIELDS.contains(&name.as_str());
        if token
            && value
                .as_str()
                .is_some_and(|v| !v.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(ServiceError::invalid(
                &format!("options.credentials.{name}"),
                format!(
                    "{name} holds a space, a line break or a character outside ASCII (copied \
                     with one?), which no request can carry: give the token as it was issued"
                ),
            ));
        }
    }
    Ok(())
}

/// The credentials sent as tokens in a header, as issued: no spaces, nothing but ASCII.
const TOKEN_FIELDS: [&str; 6] = [
    "github_token",
    "gitlab_token",
    "jira_api_token",
    "slack_bot_token",
    "linear_api_key",
    "telegram_bot_token",
];

/// The credential tokens an update gives as values, not as the mask sent back.
pub(super) fn tokens_given(options: &Value) -> Vec<String> {
    options
        .get("credentials")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, v)| v.as_str().is_some_and(|t| t != crate::providers::MASK))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Stored options that later checks refuse, where this change does not set them itself: they
/// are made what they already did, so that changing another option is not refused for them.
/// A replay window on a sender that signs no time did nothing; a burst of 0 worked as 1; an
/// empty allowlist allowed every address.
pub(super) fn settle_retired_options(provider: Provider, stored: &mut Value, patch: &Value) {
    let Some(stored) = stored.as_object_mut() else {
        return;
    };
    if !signs_time(provider) && patch.get("tolerance_secs").is_none() {
        stored.remove("tolerance_secs");
    }
    if patch.get("ip_allowlist").is_none()
        && stored
            .get("ip_allowlist")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
    {
        stored.remove("ip_allowlist");
    }
    let burst_given = patch.pointer("/rate_limit/burst").is_some();
    if let Some(burst) = stored
        .get_mut("rate_limit")
        .and_then(|r| r.get_mut("burst"))
        .filter(|b| b.as_u64() == Some(0) && !burst_given)
    {
        *burst = Value::from(1);
    }
}

/// The most entries an IP allowlist given now may hold: each delivery is checked against
/// them one after another, and GitHub's hook ranges, or a cloud's egress ranges, are tens.
/// Not part of `check_options`, which also sees the stored options when another is changed:
/// a longer list saved before this limit goes on working and does not block that change.
const MAX_ALLOWLIST_ENTRIES: usize = 1024;

pub(super) fn check_new_allowlist(given: Option<&Value>) -> Result<(), ServiceError> {
    let Some(list) = given
        .and_then(|o| o.get("ip_allowlist"))
        .and_then(Value::as_array)
    else {
        return Ok(());
    };
    if list.len() > MAX_ALLOWLIST_ENTRIES {
        return Err(ServiceError::invalid(
            "options.ip_allowlist",
            format!(
                "{} entries, more than the {MAX_ALLOWLIST_ENTRIES} an allowlist may hold: \
                 merge neighbouring addresses into wider CIDR ranges",
                list.len()
            ),
        ));
    }
    Ok(())
}

/// Whether the provider's signature covers a timestamp, which a replay window checks.
fn signs_time(provider: Provider) -> bool {
    !matches!(
        provider,
        Provider::GitHub
            | Provider::Jira
            | Provider::Sentry
            | Provider::OpenWebUi
            | Provider::Custom
    )
}

pub(super) fn check_options(
    provider: Provider,
    options: Option<Value>,
) -> Result<ProviderOptions, ServiceError> {
    let Some(value) = options.filter(|v| !v.is_null()) else {
        return Ok(ProviderOptions::default());
    };
    if !value.is_object() {
        // serde would read an array as the struct's fields in order (`[1]` as a tolerance).
        return Err(ServiceError::invalid(
            "options",
            "options must be a JSON object, e.g. {\"tolerance_secs\": 300}",
        ));
    }
    // Nor may a list stand for one of its objects (`{"credentials": ["ghp_…"]}`).
    for key in ["custom", "credentials", "rate_limit"] {
        if value.get(key).is_some_and(Value::is_array) {
            return Err(ServiceError::invalid(
                &format!("options.{key}"),
                format!("options.{key} must be a JSON object with named fields, not a list"),
            ));
        }
    }
    let options: ProviderOptions = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "options".to_string()
        } else {
            format!("options.{path}")
        };
        let said = crate::service::field_error::in_json_words(&e.inner().to_string());
        ServiceError::invalid(&field, format!("invalid options: {said}"))
    })?;
    // A replay window on a sender that signs no time would protect nothing while seeming to.
    if options.tolerance_secs.is_some() && !signs_time(provider) {
        return Err(ServiceError::invalid(
            "options.tolerance_secs",
            format!(
                "{provider} signs no timestamp, so there is no replay window to set (a sender's \
                 own retries are still caught by their delivery id, but a captured delivery sent \
                 again under a new id is not: limit who can reach the URL with \
                 options.ip_allowlist); tolerance_secs applies to \
                 slack, stripe, linear, standard-webhooks and signed gitlab webhooks"
            ),
        ));
    }
    if let Some(t) = options.tolerance_secs
        && !(1..=7 * 24 * 3600).contains(&t)
    {
        return Err(ServiceError::invalid(
            "options.tolerance_secs",
            "tolerance must be between 1 and 604800 seconds",
        ));
    }
    if let Some(list) = &options.ip_allowlist {
        // The receiver reads an empty list as no allowlist: stored, it would look like a
        // webhook locked to no one while letting everyone through.
        if list.is_empty() {
            return Err(ServiceError::invalid(
                "options.ip_allowlist",
                "an empty ip_allowlist would allow every address, not none; to remove the \
                 allowlist set it to null or leave the option out",
            ));
        }
        for (i, entry) in list.iter().enumerate() {
            crate::service::limits::parse_net(entry)
                .map_err(|m| ServiceError::invalid(&format!("options.ip_allowlist[{i}]"), m))?;
        }
    }
    let mut options = options;
    if let Some(sender) = &options.sender {
        let alias = Provider::secret_issuing_alias(sender)
            .filter(|alias| alias.parse::<Provider>() == Ok(provider))
            .ok_or_else(|| {
                ServiceError::invalid(
                    "options.sender",
                    "`sender` names the sender of a standard-webhooks webhook that issues its \
                     own signing secret: only `openai` (set by itself when the webhook is \
                     created as provider `openai`)",
                )
            })?;
        options.sender = Some(alias.to_string());
    }
    match (&options.custom, provider) {
        (Some(_), p) if p != Provider::Custom => Err(ServiceError::invalid(
            "options.custom",
            "`custom` options apply only to provider `custom`",
        )),
        (Some(custom), _) => {
            CustomOptions::validate(custom)
                .map_err(|m| ServiceError::invalid("options.custom", m))?;
            Ok(options)
        }
        (None, _) => Ok(options),
    }
}

/// The Jira email without the spaces around it (copied with a trailing one, say): it is sent
/// as the Basic login's user name, where a space makes it another user and every reply fails.
/// Other credentials are refused with a space in them (`refuse_unusable_credentials`); an
/// email is not a token, and is saved trimmed instead.
pub(super) fn trim_jira_email(options: &mut ProviderOptions) {
    if let Some(email) = options
        .credentials
        .as_mut()
        .and_then(|c| c.jira_email.as_mut())
    {
        let trimmed = email.trim();
        if trimmed.len() != email.len() {
            *email = trimmed.to_string();
        }
    }
}

/// A custom scheme's `prefix` without the spaces around it. Spaces before it kept it from
/// matching any delivery (header values are read without theirs), so dropping them is said;
/// spaces after it are how people write `Bearer `, and `Bearer` still takes `Bearer <token>`,
/// as what follows the prefix is read without the spaces before it.
pub(super) fn trim_prefix(options: &mut ProviderOptions) -> Option<String> {
    let custom = options.custom.as_mut()?;
    let trimmed = custom.prefix.trim().to_string();
    if trimmed.len() == custom.prefix.len() {
        return None;
    }
    let leading = !custom.prefix.starts_with(&trimmed);
    let given = std::mem::replace(&mut custom.prefix, trimmed);
    leading.then(|| {
        format!(
            "options.custom.prefix `{given}` began with spaces, and a header value never does \
             (its surrounding spaces are not read), so no delivery would have matched it: it \
             is saved as `{}`",
            custom.prefix
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Provider, check_options, merge_options, settle_retired_options, trim_prefix};

    #[test]
    fn a_custom_prefix_is_saved_without_surrounding_spaces_and_leading_ones_are_said() {
        for (given, saved, warned) in [
            (" sha256=", "sha256=", true),
            ("  sha256=  ", "sha256=", true),
            ("Bearer ", "Bearer", false),
            ("sha256=", "sha256=", false),
            ("", "", false),
        ] {
            let mut options =
                check_options(Provider::Custom, Some(json!({"custom": {"prefix": given}})))
                    .expect("options");
            let warning = trim_prefix(&mut options);
            let custom = options.custom.expect("custom");
            assert_eq!(custom.prefix, saved, "{given:?}");
            assert_eq!(warning.is_some(), warned, "{given:?}: {warning:?}");
        }
    }

    #[test]
    fn an_update_replaces_the_options_it_gives_removes_nulls_and_merges_credentials() {
        let cases = [
            // (stored, update, merged)
            (
                json!({"a": 1, "b": 2}),
                json!({"a": 3}),
                json!({"a": 3, "b": 2}),
            ),
            (json!({"a": 1, "b": 2}), json!({"a": null}), json!({"b": 2})),
            (
                json!({"credentials": {"github_token": "t", "github_api_url": "u"}}),
                json!({"credentials": {"github_api_url": "v"}}),
                json!({"credentials": {"github_token": "t", "github_api_url": "v"}}),
            ),
            (
                json!({"credentials": {"github_token": "t", "jira_email": "e"}}),
                json!({"credentials": {"jira_email": null}}),
                json!({"credentials": {"github_token": "t"}}),
            ),
            (
                json!({"rate_limit": {"per_second": 5, "burst": 20}}),
                json!({"rate_limit": {"per_second": 9}}),
                json!({"rate_limit": {"per_second": 9}}),
            ),
            (
                json!({"custom": {"mode": "hmac", "header": "X-Sig", "prefix": "sha256="}}),
                json!({"custom": {"mode": "token"}}),
                json!({"custom": {"mode": "token"}}),
            ),
            (
                json!({"ip_allowlist": ["10.0.0.0/8", "192.0.2.1"]}),
                json!({"ip_allowlist": ["203.0.113.0/24"]}),
                json!({"ip_allowlist": ["203.0.113.0/24"]}),
            ),
            (
                json!(null),
                json!({"credentials": {"a": "b"}}),
                json!({"credentials": {"a": "b"}}),
            ),
            (json!({"a": 1}), json!({}), json!({"a": 1})),
        ];
        for (stored, update, merged) in cases {
            let mut target = stored.clone();
            merge_options(&mut target, update.clone());
            assert_eq!(target, merged, "{stored} + {update}");
        }
    }

    #[test]
    fn options_saved_before_a_check_refused_them_do_not_block_other_changes() {
        let cases = [
            // (provider, stored, update, settled stored)
            (
                Provider::GitHub,
                json!({"tolerance_secs": 60, "ip_allowlist": ["10.0.0.0/8"]}),
                json!({"ip_allowlist": ["192.0.2.1"]}),
                json!({"ip_allowlist": ["10.0.0.0/8"]}),
            ),
            // Given again, it stays, for the check to refuse it.
            (
                Provider::GitHub,
                json!({"tolerance_secs": 60}),
                json!({"tolerance_secs": 60}),
                json!({"tolerance_secs": 60}),
            ),
            (
                Provider::Slack,
                json!({"tolerance_secs": 60}),
                json!({"ip_allowlist": ["192.0.2.1"]}),
                json!({"tolerance_secs": 60}),
            ),
            (
                Provider::Slack,
                json!({"rate_limit": {"per_second": 5, "burst": 0}}),
                json!({"ip_allowlist": ["192.0.2.1"]}),
                json!({"rate_limit": {"per_second": 5, "burst": 1}}),
            ),
            (
                Provider::GitHub,
                json!({"ip_allowlist": [], "tolerance_secs": 60}),
                json!({"rate_limit": {"per_second": 5}}),
                json!({}),
            ),
            (
                Provider::GitHub,
                json!({"ip_allowlist": []}),
                json!({"ip_allowlist": []}),
                json!({"ip_allowlist": []}),
            ),
        ];
        for (provider, stored, update, settled) in cases {
            let mut target = stored.clone();
            settle_retired_options(provider, &mut target, &update);
            assert_eq!(target, settled, "{provider}: {stored} + {update}");
            merge_options(&mut target, update.clone());
            let regiven = update.get("tolerance_secs").is_some()
                || update.get("ip_allowlist") == Some(&json!([]));
            assert_eq!(
                check_options(provider, Some(target.clone())).is_ok(),
                !regiven,
                "{provider}: {target}"
            );
        }
    }
}
