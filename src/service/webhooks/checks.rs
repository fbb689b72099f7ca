//! Checks a webhook's id, name and secret as given, before it is saved.

use super::options::SEALED_FORM;
use crate::providers::Provider;
use crate::service::{ServiceError, sealing};

const MAX_SECRET_LEN: usize = 512;

pub(super) fn check_id(id: &str) -> Result<String, ServiceError> {
    let ok = id.len() <= 64
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(id.to_string())
    } else {
        Err(ServiceError::invalid(
            "id",
            "id must be 1-64 letters, digits, `-` or `_`, starting with a letter or digit",
        ))
    }
}

/// A new webhook's id: [`check_id`], and not starting as the server's ids of another kind do
/// (`evt_`, `task_`, `act_`, `cmd_`, `key_`): an error naming such an id for a webhook would
/// say it is that kind's. Webhooks stored at such an id before this was refused keep it.
pub(super) fn check_new_id(id: &str) -> Result<String, ServiceError> {
    let id = check_id(id)?;
    match crate::service::not_found::kind_prefixed(&id) {
        Some((prefix, article)) => Err(ServiceError::invalid(
            "id",
            format!(
                "id must not start with `{prefix}`: the server gives that prefix to the id of \
                 {article}, and errors would take this webhook's for one; choose another id \
                 (or omit it for a generated `wh_…` one)"
            ),
        )),
        None => Ok(id),
    }
}

pub(super) fn check_name(name: &str) -> Result<String, ServiceError> {
    check_shown_name(name, 200)
}

/// A name shown in lists, logs and setup steps (a webhook's, an API key's): trimmed of spaces
/// and zero-width characters at either end, 1 to `max` characters with one visible, and
/// without control characters, line breaks, direction marks or zero-width spaces. The joiners
/// and variation selectors emoji need (`👩‍💻 dev`, `⚙️ ops`) are kept.
pub(in crate::service) fn check_shown_name(name: &str, max: usize) -> Result<String, ServiceError> {
    // Zero-width spaces and a byte-order mark at either end are as invisible as spaces, and a
    // name of nothing else would list as a blank.
    // (Not a direction mark, which is refused below: it changes how what follows reads.)
    let name = name.trim_matches(|c: char| {
        c.is_whitespace() || matches!(c, '\u{200B}' | '\u{2060}' | '\u{FEFF}')
    });
    // Joiners, variation selectors, tags and the blank fillers (Hangul, Braille) show nothing
    // alone.
    let shows = |c: char| !crate::invisible::blank(c) && !c.is_whitespace();
    if !name.chars().any(shows) || name.chars().count() > max {
        return Err(ServiceError::invalid(
            "name",
            format!("name must be 1-{max} characters, one of them visible"),
        ));
    }
    // It is shown in lists, logs and setup steps a model reads out.
    // U+2028 and U+2029 are line breaks too, though not control characters.
    if name
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Err(ServiceError::invalid(
            "name",
            "name must not contain control characters or line breaks (newlines, tabs, NUL, \
             U+2028, ...)",
        ));
    }
    // Direction overrides make a name read as another (U+202E before `kooh` shows `hook`),
    // and so do invisible marks inside it; emoji joiners and variation selectors are fine.
    if name.chars().any(crate::invisible::misleading) {
        return Err(ServiceError::invalid(
            "name",
            "name must not contain text direction marks, overrides or isolates (U+202A-U+202E, \
             U+2066-U+2069) or invisible characters (zero-width spaces, U+FEFF, ...)",
        ));
    }
    if crate::invisible::stray_tag(name) {
        return Err(ServiceError::invalid(
            "name",
            "name must not contain Unicode tag characters (U+E0000-U+E007F) outside an emoji \
             flag: they show as nothing but spell text a model reads",
        ));
    }
    Ok(name.to_string())
}

/// Given secrets shorter than this are warned about. Not refused: GitHub, GitLab and Jira
/// take any secret their user chooses, and one already set there must be accepted as it is.
const MIN_SAFE_SECRET_CHARS: usize = 16;

/// A warning for a given secret short enough to guess: whoever guesses it can sign
/// deliveries (or, for the token schemes, send the token) as the sender.
pub(super) fn short_secret_warning(secret: &str) -> Option<String> {
    let chars = secret.chars().count();
    (chars < MIN_SAFE_SECRET_CHARS).then(|| {
        format!(
            "the secret has only {chars} character(s), few enough to guess, and whoever guesses \
             it can send deliveries this webhook accepts: use at least \
             {MIN_SAFE_SECRET_CHARS} random characters (e.g. `openssl rand -hex 32`) here and \
             at the sender"
        )
    })
}

pub(super) fn check_secret(provider: Provider, secret: &str) -> Result<String, ServiceError> {
    if secret.is_empty() || secret.chars().count() > MAX_SECRET_LEN || secret.trim() != secret {
        return Err(ServiceError::invalid(
            "secret",
            format!("secret must be 1-{MAX_SECRET_LEN} characters without surrounding spaces"),
        ));
    }
    if sealing::looks_sealed(secret) {
        return Err(ServiceError::invalid("secret", SEALED_FORM));
    }
    if secret == crate::providers::MASK {
        return Err(ServiceError::invalid(
            "secret",
            "this is the mask a listing shows in place of a secret: give the secret itself \
             (or leave it out to have one generated, where the sender takes one)",
        ));
    }
    // Stripe's API keys (`sk_live_…`, restricted `rk_…`) are not its signing secrets
    // (`whsec_…`): one given here would verify nothing, and is a key worth far more than one.
    let api_key = ["sk_live_", "sk_test_", "rk_live_", "rk_test_"]
        .iter()
        .any(|p| secret.starts_with(p));
    if provider == Provider::Stripe && api_key {
        return Err(ServiceError::invalid(
            "secret",
            "that is a Stripe API key, not a webhook signing secret: give the endpoint's \
             signing secret (`whsec_…`, shown under Developers → Webhooks, on the endpoint's \
             page), and keep the API key out of this service",
        ));
    }
    if provider == Provider::StandardWebhooks && crate::actions::standard_key(secret).is_none() {
        return Err(ServiceError::invalid(
            "secret",
            "a Standard Webhooks secret is `whsec_` followed by base64 (as the sender shows it)",
        ));
    }
    Ok(secret.to_string())
}

#[cfg(test)]
mod tests {
    use super::{ServiceError, check_name};

    #[test]
    fn names_are_trimmed_and_refused_when_empty_long_or_with_control_characters() {
        assert_eq!(check_name("  GitHub issues ").unwrap(), "GitHub issues");
        assert_eq!(check_name("Émoji 🚀 ok").unwrap(), "Émoji 🚀 ok");
        // Invisible at the ends as spaces are; emoji joiners inside are part of the emoji.
        assert_eq!(check_name("\u{FEFF}Billing\u{200B} ").unwrap(), "Billing");
        assert_eq!(check_name("Zoë 👩\u{200D}💻").unwrap(), "Zoë 👩\u{200D}💻");
        let flag = "\u{1F3F4}\u{E0067}\u{E0062}\u{E0077}\u{E006C}\u{E0073}\u{E007F}";
        assert_eq!(
            check_name(&format!("Cymru {flag}")).unwrap(),
            format!("Cymru {flag}")
        );
        for bad in [
            "",
            "   ",
            "\u{200B}\u{200B}",
            "\u{FE0F}",
            "\u{3164}\u{200D}",
            "\u{E0041}\u{E0042}",
            "ops\u{E0069}\u{E0067}\u{E006E}",
            "a\u{200B}b",
            "a\u{0}b",
            "line\nbreak",
            "a\u{2028}b",
            "a\u{2029}b",
            "tab\there",
            &"x".repeat(201),
        ] {
            let refused = check_name(bad).unwrap_err();
            assert!(
                matches!(&refused, ServiceError::Invalid { field: Some(f), .. } if f == "name"),
                "{bad:?}: {refused}"
            );
        }
    }
}
