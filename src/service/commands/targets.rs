//! A command's target as stored, shown and written back: its signing secret, its headers'
//! values (`headers`) and credential URL sealed and opened, masked for a listing, and the
//! masks given back restored.

use serde_json::Value;

use crate::app::AppState;
use crate::providers::MASK;
use crate::service::ServiceError;
use crate::service::sealing::Sealer;
use crate::store::StoreError;
use crate::store::commands::CommandRow;

/// A target as shown: its signing secret masked, a channel URL's secret path segment
/// (incoming-webhook URLs and Telegram's `bot<token>` are credentials themselves), and a
/// forward URL's credentials and the secrets of its path (`actions::mask_forward_url`).
pub(super) fn shown_target(action: &str, target: &str) -> Option<Value> {
    let mut t = serde_json::from_str::<Value>(target).ok()?;
    if let Some(secret) = t.get_mut("secret").filter(|s| s.is_string()) {
        *secret = Value::String(MASK.into());
    }
    super::headers::mask(&mut t);
    if let Some(url) = t.get_mut("url")
        && let Some(raw) = url.as_str()
    {
        *url = Value::String(if crate::service::sealing::looks_sealed(raw) {
            // Not opened (`list` logs why): nothing of it is shown.
            MASK.to_string()
        } else if crate::engine::command::posts_to_channel(action) {
            crate::actions::redact_secret_path(raw)
        } else if action == "forward" && crate::engine::url_template::is_template(raw) {
            masked_url_template(raw)
        } else if action == "forward" {
            crate::actions::mask_forward_url(raw)
        } else {
            crate::actions::mask_url_credentials(raw)
        });
    }
    Some(t)
}

/// A forward's templated URL as shown: masked as a forward's URL is, its template's
/// expressions (the author's own text, no secret) kept in view, where a token-like rule would
/// take `{{ repository.owner.login }}`, percent-encoded, for a key.
fn masked_url_template(raw: &str) -> String {
    // A mark the URL itself does not hold, so what is put back is only what was taken out.
    let mut mark = String::from("tpl");
    while raw.contains(&mark) {
        mark.push('q');
    }
    let mut spans = Vec::new();
    let mut plain = String::new();
    let mut rest = raw;
    loop {
        let open = [rest.find("{{"), rest.find("{%")]
            .into_iter()
            .flatten()
            .min();
        let Some(open) = open else { break };
        let close = if rest[open..].starts_with("{{") {
            "}}"
        } else {
            "%}"
        };
        let Some(end) = rest[open + 2..].find(close).map(|e| open + 2 + e + 2) else {
            break;
        };
        plain.push_str(&rest[..open]);
        // Short and plain, so no rule takes it for a key.
        plain.push_str(&format!("{mark}{}x", spans.len()));
        spans.push(&rest[open..end]);
        rest = &rest[end..];
    }
    plain.push_str(rest);
    let mut shown = crate::actions::mask_forward_url(&plain);
    for (n, span) in spans.iter().enumerate().rev() {
        shown = shown.replace(&format!("{mark}{n}x"), span);
    }
    shown
}

/// Whether a target is a URL alone shown the same by a forward's rule and a message's: nothing
/// of it hidden by either (no key in its path, no query), so switching between the two shows
/// no more of it than before. A target with more (a forward's signing secret, a message's
/// kind or chat id) is not: the other action would refuse or drop it.
pub(super) fn shown_alike(target: Option<&str>) -> bool {
    let url = target
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .filter(|t| t.as_object().is_some_and(|o| o.len() == 1))
        .and_then(|t| t.get("url").and_then(Value::as_str).map(str::to_owned));
    url.is_some_and(|url| {
        !crate::service::sealing::looks_sealed(&url)
            && crate::actions::redact_secret_path(&url) == url
            && crate::actions::mask_forward_url(&url) == url
    })
}

/// Whether an action's change from `stored` to `given` changes the rule its target URL is
/// shown by: a forward's ([`crate::actions::mask_forward_url`]) or a message's.
pub(super) fn switches_url_rule(stored: &str, given: &str) -> bool {
    // Exactly as the actions are named: any other spelling is refused as an unknown action.
    let channel = crate::engine::command::posts_to_channel;
    (stored == "forward" && channel(given)) || (channel(stored) && given == "forward")
}

/// The row as stored. A forward's signing secret is sealed when a key is set, like webhook
/// secrets; it is opened only to sign (by the outbox worker), so the outbox holds it sealed
/// too. So is a target URL that is a credential itself (`actions::url_is_credential`: a
/// channel's, a forward's with a password or token in it), which is opened when read
/// ([`open_target`]) and sealed again in the outbox (`record::outbox_row`).
pub(super) fn sealed_target(state: &AppState, row: &CommandRow) -> CommandRow {
    let mut row = row.clone();
    if let Some(target) = row.target.as_deref()
        && let Some(sealed) = sealed_target_json(&state.sealer, &row.action, target)
    {
        row.target = Some(sealed);
    }
    row
}

/// A command's stored `target` JSON with its plain signing secret and credential URL
/// sealed, or `None` when nothing in it is to be sealed (no key, or sealed already).
pub(in crate::service) fn sealed_target_json(
    sealer: &Sealer,
    action: &str,
    target: &str,
) -> Option<String> {
    let mut target = serde_json::from_str::<Value>(target).ok()?;
    let mut changed = false;
    if let Some(sealed) = target
        .get("secret")
        .and_then(Value::as_str)
        .and_then(|secret| sealer.seal_once(secret))
    {
        target["secret"] = Value::String(sealed);
        changed = true;
    }
    changed |= super::headers::seal(sealer, &mut target);
    let channel = crate::engine::command::posts_to_channel(action);
    if let Some(sealed) = target
        .get("url")
        .and_then(Value::as_str)
        .filter(|url| crate::actions::url_is_credential(channel, url))
        .and_then(|url| sealer.seal_once(url))
    {
        target["url"] = Value::String(sealed);
        changed = true;
    }
    changed.then(|| target.to_string())
}

/// The row with its target's URL opened, as everything past the store works with it (checks,
/// planning, showing it masked); the signing secret stays sealed until the worker signs.
pub(super) fn open_target(sealer: &Sealer, row: &mut CommandRow) -> Result<(), String> {
    let Some(mut target) = row
        .target
        .as_deref()
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
    else {
        return Ok(());
    };
    if let Some(url) = target.get("url").and_then(Value::as_str)
        && crate::service::sealing::looks_sealed(url)
    {
        let opened = sealer
            .open(url)
            .map_err(|e| format!("command `{}`'s target URL: {e}", row.id))?;
        target["url"] = Value::String(opened);
        row.target = Some(target.to_string());
    }
    Ok(())
}

/// Stored commands with their target URLs opened ([`open_target`]).
pub(in crate::service) fn opened_rows(
    sealer: &Sealer,
    mut rows: Vec<CommandRow>,
) -> Result<Vec<CommandRow>, StoreError> {
    for row in &mut rows {
        open_target(sealer, row).map_err(StoreError::Corrupt)?;
    }
    Ok(rows)
}

/// A target given back as it was shown (a model reading a command and writing it back keeps
/// the masked values) keeps the stored secret and URL where it still shows the masks. The
/// stored secret stays with the stored URL: a masked secret with a new URL would let whoever
/// edits the command have its signatures made, over a body of their choosing, for another host.
pub(super) fn restore_masked(
    given: &mut Value,
    stored: Option<&str>,
    action: &str,
) -> Result<(), ServiceError> {
    let Some(stored) = stored.and_then(|t| serde_json::from_str::<Value>(t).ok()) else {
        return Ok(());
    };
    let stored_url = stored.get("url").and_then(Value::as_str);
    if let (Some(url), Some(stored_url)) = (given.get("url").and_then(Value::as_str), stored_url)
        // A channel's URL is listed with its query and credentials left out (a forward's,
        // masked), so only there does the bare URL stand for the stored one.
        && let Some(restored) =
            crate::actions::restore_url(
                url,
                stored_url,
                crate::engine::command::posts_to_channel(action),
            )
    {
        given["url"] = Value::String(restored);
    }
    let given_url = given.get("url").and_then(Value::as_str);
    let same_url = given_url.is_none() || given_url == stored_url;
    super::headers::restore_masked(given, &stored, same_url)?;
    if given.get("secret").and_then(Value::as_str) == Some(MASK)
        && let Some(secret) = stored.get("secret")
    {
        let url = given.get("url").and_then(Value::as_str);
        if url.is_some() && url != stored_url {
            return Err(ServiceError::invalid(
                "target.secret",
                "the stored signing secret stays with the stored URL: give the secret again \
                 (its value, not the mask) to forward to a new URL",
            ));
        }
        given["secret"] = secret.clone();
    }
    Ok(())
}

/// A forward's new target given without a signing secret, where the stored one has one,
/// keeps it for the same URL (a model writing the target back, or only its `kind`, leaves the
/// secret out) and is refused for a new URL rather than sent unsigned from then on unnoticed;
/// `"secret": ""` is how to stop signing.
pub(super) fn keep_signing(given: &mut Value, stored: Option<&str>) -> Result<(), ServiceError> {
    let Some(target) = given.as_object_mut() else {
        return Ok(());
    };
    // Unsigned, whether or not it was signed before (a new forward too): the way the refusal
    // below, and README, say to send unsigned.
    if target.get("secret").and_then(Value::as_str) == Some("") {
        target.remove("secret");
        return Ok(());
    }
    let Some(stored) = stored.and_then(|t| serde_json::from_str::<Value>(t).ok()) else {
        return Ok(());
    };
    let Some(secret) = stored.get("secret").filter(|s| s.is_string()) else {
        return Ok(());
    };
    if let Some(Value::String(_)) = target.get("secret") {
        return Ok(());
    }
    let url = target.get("url").and_then(Value::as_str);
    if url.is_some() && url != stored.get("url").and_then(Value::as_str) {
        return Err(ServiceError::invalid(
            "target.secret",
            "this forward signs what it sends: give the new URL's signing secret as \
             `target.secret` (`whsec_…`, as its receiver has it), or `\"secret\": \"\"` to send \
             unsigned from now on",
        ));
    }
    target.insert("secret".into(), secret.clone());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::switches_url_rule;

    #[test]
    fn a_templated_forward_url_is_shown_with_its_expressions_and_its_secrets_masked() {
        let cases = [
            (
                "https://api.github.com/repos/{{ repository.owner.login }}/{{ repository.name }}/issues/{{ issue.number }}/labels",
                "https://api.github.com/repos/{{ repository.owner.login }}/{{ repository.name }}/issues/{{ issue.number }}/labels",
            ),
            (
                "https://ci.example.com/hooks/3f9a8b7c6d5e4f3a2b1c/{{ issue.number }}?token=abc{% if x %}&y=1{% endif %}",
                // What a masked value holds is masked with it.
                "https://ci.example.com/hooks/***/{{ issue.number }}?token=***&y=1{% endif %}",
            ),
            // A literal that looks like the mark is left as it is.
            (
                "https://h.example.com/tpl0x/{{ x }}",
                "https://h.example.com/tpl0x/{{ x }}",
            ),
        ];
        for (raw, shown) in cases {
            assert_eq!(super::masked_url_template(raw), shown, "{raw}");
        }
    }

    #[test]
    fn a_switch_between_a_forward_and_a_channel_changes_the_rule_a_url_is_shown_by() {
        let cases = [
            ("forward", "post_message", true),
            ("post_message", "forward", true),
            ("forward", "create_task", true),
            ("create_task", "forward", true),
            // Both channels: shown alike.
            ("post_message", "create_task", false),
            ("create_task", "post_message", false),
            ("forward", "forward", false),
            ("forward", "comment", false),
        ];
        for (stored, given, switches) in cases {
            assert_eq!(
                switches_url_rule(stored, given),
                switches,
                "{stored} -> {given}"
            );
        }
    }
}
