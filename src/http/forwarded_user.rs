//! Who the Open WebUI user behind a request is, from what Open WebUI forwards to its tool
//! servers with `ENABLE_FORWARD_USER_INFO_HEADERS=true`. Open WebUI calls with one key per
//! connection, whoever is chatting, so without this the audit log can name only the key.
//!
//! - Without `--openwebui-user-jwt-secret`: the plain `X-OpenWebUI-User-Id`, `-Name` (which
//!   Open WebUI percent-encodes), `-Email` and `-Role`, recorded as unverified: anyone who
//!   holds the key can write them.
//! - With it: only `X-OpenWebUI-User-Jwt`, the HS256 token Open WebUI signs with its
//!   `FORWARD_USER_INFO_HEADER_JWT_SECRET` (claims `sub`, `name`, `email`, `role`; its `exp`
//!   honoured), recorded as verified. The plain headers are ignored then, as they could be
//!   forged. A token that does not check out names no one and the request goes on: the key
//!   allowed it, and the audit log still names the key; a warning says why, at most once a
//!   minute.
//!
//! A value that is blank, longer than [`MAX_CHARS`] or holds a control character (once
//! decoded) is left out; a user without a usable id is not named at all.

use std::sync::atomic::{AtomicI64, Ordering};

use axum::http::{HeaderMap, HeaderValue};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::clock;
use crate::service::audit::AuditUser;

const USER_ID: &str = "x-openwebui-user-id";
const USER_NAME: &str = "x-openwebui-user-name";
const USER_EMAIL: &str = "x-openwebui-user-email";
const USER_ROLE: &str = "x-openwebui-user-role";
const USER_JWT: &str = "x-openwebui-user-jwt";

/// Longest value kept, in characters: ids, names and addresses are far shorter, and a header
/// must not grow every audit entry by kilobytes.
const MAX_CHARS: usize = 200;

/// The Open WebUI user a request names, if any; `jwt_secret` is
/// `--openwebui-user-jwt-secret` (blank: unset, as Open WebUI reads its own).
pub fn of(headers: &HeaderMap, jwt_secret: Option<&str>) -> Option<AuditUser> {
    match jwt_secret.map(str::trim).filter(|s| !s.is_empty()) {
        Some(secret) => signed(headers, secret),
        None => unsigned(headers),
    }
}

fn unsigned(headers: &HeaderMap) -> Option<AuditUser> {
    let value = |name: &str| headers.get(name).and_then(as_text).and_then(|t| kept(&t));
    let Some(id) = value(USER_ID) else {
        if headers.contains_key(USER_JWT) {
            now_and_then(
                "a request carries X-OpenWebUI-User-Jwt, but WEBHOOK_MCP_OPENWEBUI_USER_JWT_SECRET \
                 is not set: no user is recorded; set it to Open WebUI's \
                 FORWARD_USER_INFO_HEADER_JWT_SECRET",
            );
        }
        return None;
    };
    Some(AuditUser {
        id,
        // Open WebUI writes the name as Python's `quote(name, safe=" ")` does.
        name: headers
            .get(USER_NAME)
            .and_then(|v| {
                percent_encoding::percent_decode(v.as_bytes())
                    .decode_utf8()
                    .ok()
            })
            .and_then(|t| kept(&t)),
        email: value(USER_EMAIL),
        role: value(USER_ROLE),
        verified: false,
    })
}

/// The claims of Open WebUI's token this server reads.
#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    name: Option<String>,
    email: Option<String>,
    role: Option<String>,
}

fn signed(headers: &HeaderMap, secret: &str) -> Option<AuditUser> {
    let Some(token) = headers.get(USER_JWT) else {
        if headers.contains_key(USER_ID) {
            now_and_then(
                "X-OpenWebUI-User-* headers ignored: with WEBHOOK_MCP_OPENWEBUI_USER_JWT_SECRET \
                 set, only a signed X-OpenWebUI-User-Jwt names the user (is \
                 FORWARD_USER_INFO_HEADER_JWT_SECRET set in Open WebUI?)",
            );
        }
        return None;
    };
    let mut validation = Validation::new(Algorithm::HS256);
    // Open WebUI's tokens expire (in 5 minutes by default); one without `exp` is taken too.
    validation.required_spec_claims.clear();
    // Nor does it name an audience.
    validation.validate_aud = false;
    let checked = match (token.to_str(), DecodingKey::from_secret(secret.as_bytes())) {
        (Ok(token), Ok(key)) => jsonwebtoken::decode::<Claims>(token, &key, &validation),
        (Err(_), _) => Err(ErrorKind::InvalidToken.into()),
        (_, Err(e)) => Err(e),
    };
    let claims = match checked {
        Ok(data) => data.claims,
        Err(e) => {
            now_and_then(&format!(
                "X-OpenWebUI-User-Jwt does not check out ({}): no user is recorded for the \
                 request (is WEBHOOK_MCP_OPENWEBUI_USER_JWT_SECRET Open WebUI's \
                 FORWARD_USER_INFO_HEADER_JWT_SECRET, and are both clocks right?)",
                why_refused(e.kind())
            ));
            return None;
        }
    };
    let value = |claim: Option<String>| claim.and_then(|c| kept(&c));
    Some(AuditUser {
        id: value(claims.sub)?,
        name: value(claims.name),
        email: value(claims.email),
        role: value(claims.role),
        verified: true,
    })
}

/// Why a token was refused, in words of our own: the library's may quote the token's header,
/// which is the caller's to write, into the log.
fn why_refused(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "signed with another secret",
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => "not signed with HS256",
        ErrorKind::Json(_) => "its JSON is not as Open WebUI writes it",
        _ => "not a token",
    }
}

/// A header's value as UTF-8 text (Open WebUI sends ASCII; anything else is taken as sent
/// when it is UTF-8).
fn as_text(value: &HeaderValue) -> Option<String> {
    String::from_utf8(value.as_bytes().to_vec()).ok()
}

/// The value trimmed, or none when it cannot be recorded as sent (see the module's header).
fn kept(value: &str) -> Option<String> {
    let value = value.trim();
    let fits = !value.is_empty()
        && value.chars().count() <= MAX_CHARS
        && !value.chars().any(char::is_control);
    fits.then(|| value.to_string())
}

/// When a warning was last written (unix ms).
static LAST_WARNED: AtomicI64 = AtomicI64::new(0);

/// Warns, unless a warning of this module was written less than a minute ago: a bad token
/// comes with every call of a connection, and the log must not fill with it.
fn now_and_then(what: &str) {
    let now = clock::now_ms();
    let last = LAST_WARNED.load(Ordering::Relaxed);
    if now - last >= 60_000
        && LAST_WARNED
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!("{what} (said at most once a minute)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_kept_trimmed_unless_blank_too_long_or_holding_control_characters() {
        let cases = [
            (" jane@example.com ", Some("jane@example.com")),
            ("", None),
            ("   ", None),
            ("Eve\nAdmin", None),
            ("tab\there", None),
            ("del\u{7f}", None),
            ("next\u{85}line", None),
        ];
        for (given, expected) in cases {
            assert_eq!(kept(given).as_deref(), expected, "{given:?}");
        }
        assert_eq!(
            kept(&"é".repeat(MAX_CHARS)).map(|k| k.len()),
            Some(2 * MAX_CHARS)
        );
        assert_eq!(kept(&"é".repeat(MAX_CHARS + 1)), None);
    }
}
