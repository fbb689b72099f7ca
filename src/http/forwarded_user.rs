//! Who the Open WebUI user behind a request is, from what Open WebUI forwards to its tool
//! servers with `ENABLE_FORWARD_USER_INFO_HEADERS=true`. Open WebUI calls with one key per
//! connection, whoever is chatting, so without this the audit log can name only the key.
//!
//! - Without `--openwebui-user-jwt-secret`: the plain `X-OpenWebUI-User-Id`, `-Name` (which
//!   Open WebUI percent-encodes), `-Email` and `-Role`, recorded as unverified: anyone who
//!   holds the key can write them.
//! - With it: only `X-OpenWebUI-User-Jwt`, the HS256 token Open WebUI signs with its
//!   `FORWARD_USER_INFO_HEADER_JWT_SECRET` (claims `sub`, `name`, `email`, `role`; `iss`
//!   `open-webui` and an unexpired `exp` required, as Open WebUI always writes them; an `nbf`,
//!   which it does not write, held to; both judged as Open WebUI's own check does), recorded
//!   as verified. The plain headers are ignored then, as they could be
//!   forged. A token that does not check out names no one and the request goes on: the key
//!   allowed it, and the audit log still names the key; a warning says why, at most once a
//!   minute.
//!
//! Open WebUI sends the chat and message of the turn too, in `X-OpenWebUI-Chat-Id` and
//! `X-OpenWebUI-Message-Id` ([`chat`]). It never signs them, not even in its token: they are
//! read as sent in both modes and recorded as the caller's word.
//!
//! A value that is blank, longer than [`MAX_CHARS`] or holds a control character (once
//! decoded) is left out; a user without a usable id is not named at all.

use std::sync::atomic::{AtomicI64, Ordering};

use axum::http::{HeaderMap, HeaderValue};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::clock;
use crate::service::audit::{AuditChat, AuditUser};

const USER_ID: &str = "x-openwebui-user-id";
const USER_NAME: &str = "x-openwebui-user-name";
const USER_EMAIL: &str = "x-openwebui-user-email";
const USER_ROLE: &str = "x-openwebui-user-role";
const USER_JWT: &str = "x-openwebui-user-jwt";
const CHAT_ID: &str = "x-openwebui-chat-id";
const MESSAGE_ID: &str = "x-openwebui-message-id";

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

/// Whether the request carries any of the headers Open WebUI names its user in, usable or
/// not (an expired token, plain headers in token mode): it comes through Open WebUI for
/// someone, even when [`of`] cannot say whom.
pub fn claims_a_user(headers: &HeaderMap) -> bool {
    [USER_ID, USER_NAME, USER_EMAIL, USER_ROLE, USER_JWT]
        .iter()
        .any(|name| headers.contains_key(*name))
}

/// The Open WebUI chat and message a request names, each as sent when it can be recorded so:
/// unsigned whatever the mode, as Open WebUI's token does not carry them.
pub fn chat(headers: &HeaderMap) -> AuditChat {
    let value = |name: &str| headers.get(name).and_then(as_text).and_then(|t| kept(&t));
    AuditChat {
        chat_id: value(CHAT_ID),
        message_id: value(MESSAGE_ID),
    }
}

fn unsigned(headers: &HeaderMap) -> Option<AuditUser> {
    let value = |name: &str| headers.get(name).and_then(as_text).and_then(|t| kept(&t));
    let Some(id) = value(USER_ID) else {
        if headers.contains_key(USER_JWT) {
            now_and_then(
                &NO_SECRET,
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
    /// Read again here, as a number of any kind: the library rounds a fractional `exp` or
    /// `nbf`, where Open WebUI's own check (PyJWT) cuts the fraction off.
    exp: Option<f64>,
    nbf: Option<f64>,
    /// When it was issued: PyJWT refuses a token issued in the future.
    iat: Option<f64>,
    sub: Option<String>,
    name: Option<String>,
    email: Option<String>,
    role: Option<String>,
}

fn signed(headers: &HeaderMap, secret: &str) -> Option<AuditUser> {
    let Some(token) = headers.get(USER_JWT) else {
        if headers.contains_key(USER_ID) {
            now_and_then(
                &UNSIGNED_IGNORED,
                "X-OpenWebUI-User-* headers ignored: with WEBHOOK_MCP_OPENWEBUI_USER_JWT_SECRET \
                 set, only a signed X-OpenWebUI-User-Jwt names the user (is \
                 FORWARD_USER_INFO_HEADER_JWT_SECRET set in Open WebUI?)",
            );
        }
        return None;
    };
    let claims = match checked(token, secret) {
        Ok(claims) => claims,
        Err(why) => {
            now_and_then(
                &BAD_TOKEN,
                &format!(
                    "X-OpenWebUI-User-Jwt does not check out ({why}): no user is recorded for the \
                 request (is WEBHOOK_MCP_OPENWEBUI_USER_JWT_SECRET Open WebUI's \
                 FORWARD_USER_INFO_HEADER_JWT_SECRET, and are both clocks right?)",
                ),
            );
            return None;
        }
    };
    let value = |claim: Option<String>| claim.and_then(|c| kept(&c));
    let Some(id) = value(claims.sub) else {
        now_and_then(
            &NO_SUBJECT,
            "X-OpenWebUI-User-Jwt checks out but names no user id (`sub`): no user is recorded",
        );
        return None;
    };
    Some(AuditUser {
        id,
        name: value(claims.name),
        email: value(claims.email),
        role: value(claims.role),
        verified: true,
    })
}

/// Why a request that claims an Open WebUI user (see [`claims_a_user`]) names none, in words
/// for the caller, whose change is refused for it (a role that cannot be read may not write):
/// Open WebUI's token expired (by how long) or signed with another secret, plain headers sent
/// where only a token is read, a token where no secret is set to read it. Only the server's
/// log said so before, and an admin read "ask an admin". None when no such reason is known.
pub fn why_unnamed(headers: &HeaderMap, jwt_secret: Option<&str>) -> Option<String> {
    const TOKEN: &str = "Open WebUI's signed user token (X-OpenWebUI-User-Jwt)";
    let secret = jwt_secret.map(str::trim).filter(|s| !s.is_empty());
    let said = match (secret, headers.get(USER_JWT)) {
        (Some(secret), Some(token)) => match checked(token, secret) {
            Err(EXPIRED) => {
                let ago = expired_for(token, secret)
                    .map(|secs| format!(" {secs} s ago"))
                    .unwrap_or_default();
                format!(
                    "{TOKEN} expired{ago}: Open WebUI signs one per chat turn, and this turn \
                     outlasted its FORWARD_USER_INFO_HEADER_JWT_EXPIRES_SECONDS (300 s by \
                     default); raise that in Open WebUI's settings, or ask again in a new \
                     message"
                )
            }
            Err(OTHER_SECRET) => format!(
                "{TOKEN} is signed with another secret: WEBHOOK_MCP_OPENWEBUI_USER_JWT_SECRET \
                 here must be Open WebUI's FORWARD_USER_INFO_HEADER_JWT_SECRET"
            ),
            Err(why) => format!("{TOKEN} does not check out: {why}"),
            Ok(claims) if claims.sub.as_deref().and_then(kept).is_none() => {
                format!("{TOKEN} names no user id (`sub`)")
            }
            Ok(_) => return None,
        },
        (Some(_), None) if headers.contains_key(USER_ID) => {
            "with WEBHOOK_MCP_OPENWEBUI_USER_JWT_SECRET set, only Open WebUI's signed \
             X-OpenWebUI-User-Jwt names the user, and this request has plain X-OpenWebUI-User-* \
             headers only (is FORWARD_USER_INFO_HEADER_JWT_SECRET set in Open WebUI?)"
                .to_string()
        }
        (None, Some(_)) if !headers.contains_key(USER_ID) => format!(
            "{TOKEN} came without the plain headers, and WEBHOOK_MCP_OPENWEBUI_USER_JWT_SECRET \
             is not set to read it: set it to Open WebUI's FORWARD_USER_INFO_HEADER_JWT_SECRET"
        ),
        _ => return None,
    };
    Some(said)
}

/// How many seconds ago `token`'s `exp` passed, read only when it is signed with `secret`
/// (an unsigned one could say anything); None when it has not passed or cannot be read.
fn expired_for(token: &HeaderValue, secret: &str) -> Option<i64> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    let key = DecodingKey::from_secret(secret.as_bytes()).ok()?;
    let claims = jsonwebtoken::decode::<Claims>(token.to_str().ok()?, &key, &validation)
        .ok()?
        .claims;
    // As `in_its_time` judges it: the fraction cut off.
    let (exp, now) = (claims.exp?.trunc() as i64, clock::now_ms().div_euclid(1000));
    (exp <= now).then_some(now - exp)
}

/// The claims of `token` when Open WebUI signed it with `secret`, or why it is refused (apart
/// from `signed`, so that a test can see the reason the warning gives).
fn checked(token: &HeaderValue, secret: &str) -> Result<Claims, &'static str> {
    let mut validation = Validation::new(Algorithm::HS256);
    // Open WebUI's tokens always expire (in 5 minutes by default) and name it as their issuer:
    // another token signed with the same secret, for something else, names no one here.
    validation.set_required_spec_claims(&["exp", "iss"]);
    validation.set_issuer(&[OPEN_WEBUI]);
    // It names no audience.
    validation.validate_aud = false;
    // The library allows 60 s past `exp` by default; Open WebUI's own check (PyJWT) allows
    // none, and a token it would refuse must not name a user (or a role that may write) here.
    validation.leeway = 0;
    // PyJWT also refuses a token in the second of its `exp` (`exp <= now`), where the library
    // alone would still take it (`exp < now`); asking for one second left closes that gap.
    validation.reject_tokens_expiring_in_less_than = 1;
    let decoded = match (token.to_str(), DecodingKey::from_secret(secret.as_bytes())) {
        (Ok(token), Ok(key)) => jsonwebtoken::decode::<Claims>(token, &key, &validation),
        (Err(_), _) => Err(ErrorKind::InvalidToken.into()),
        (_, Err(e)) => Err(e),
    };
    let claims = decoded
        .map(|data| data.claims)
        .map_err(|e| why_refused(e.kind()))?;
    in_its_time(&claims, clock::now_ms().div_euclid(1000))?;
    Ok(claims)
}

/// Whether a token that checks out is used in its time as PyJWT, which Open WebUI checks its
/// own tokens with, would judge it: a fraction of `exp` or `nbf` cut off (the library rounds,
/// so `exp` = now + 0.6 would pass here for a second after Open WebUI refuses it), a token
/// refused from the second its `exp` names, and one whose `nbf` is still ahead refused too
/// (Open WebUI writes none; a token that has one is held to it).
/// How far ahead of this server's clock a token's `iat` may be.
const IAT_SKEW_SECS: i64 = 60;

fn in_its_time(claims: &Claims, now_secs: i64) -> Result<(), &'static str> {
    // `as` saturates: a value past i64 is far in the future either way.
    if claims
        .exp
        .is_some_and(|exp| (exp.trunc() as i64) <= now_secs)
    {
        return Err(why_refused(&ErrorKind::ExpiredSignature));
    }
    if claims
        .nbf
        .is_some_and(|nbf| (nbf.trunc() as i64) > now_secs)
        // Issued ahead of this clock by more than two servers' clocks differ: a token made
        // for later (PyJWT refuses any `iat` ahead; a minute is kept here for clocks apart).
        || claims.iat.is_some_and(|iat| iat > (now_secs + IAT_SKEW_SECS) as f64)
    {
        return Err(why_refused(&ErrorKind::ImmatureSignature));
    }
    Ok(())
}

/// Why a token was refused, in words of our own: the library's may quote the token's header,
/// which is the caller's to write, into the log.
fn why_refused(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => OTHER_SECRET,
        ErrorKind::ExpiredSignature => EXPIRED,
        ErrorKind::ImmatureSignature => "not valid yet (its `nbf` is ahead of this clock)",
        ErrorKind::InvalidIssuer => "not issued by Open WebUI (its `iss` is not open-webui)",
        ErrorKind::MissingRequiredClaim(_) => "without the `exp` or `iss` Open WebUI writes",
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => "not signed with HS256",
        ErrorKind::Json(_) => "its JSON is not as Open WebUI writes it",
        _ => "not a token",
    }
}

/// Why a token signed with another secret is refused.
const OTHER_SECRET: &str = "signed with another secret";

/// Why an expired token is refused. Open WebUI makes one token per chat turn: a turn longer
/// than its FORWARD_USER_INFO_HEADER_JWT_EXPIRES_SECONDS sends it expired on its later calls.
const EXPIRED: &str = "expired: Open WebUI reuses one token for a whole chat turn, so the later \
                       calls of a turn longer than its FORWARD_USER_INFO_HEADER_JWT_EXPIRES_SECONDS \
                       (300 by default) carry it expired";

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
        && !value
            .chars()
            .any(|c| c.is_control() || crate::invisible::misleading(c));
    fits.then(|| value.to_string())
}

/// When each kind of warning was last written (unix ms): one kind coming with every call of
/// one client must not hide another's.
static BAD_TOKEN: AtomicI64 = AtomicI64::new(0);
static NO_SUBJECT: AtomicI64 = AtomicI64::new(0);
static UNSIGNED_IGNORED: AtomicI64 = AtomicI64::new(0);
static NO_SECRET: AtomicI64 = AtomicI64::new(0);

/// The issuer Open WebUI writes into its tokens.
const OPEN_WEBUI: &str = "open-webui";

/// Warns, unless a warning of this kind (`last`) was written less than a minute ago: a bad
/// token comes with every call of a connection, and the log must not fill with it.
fn now_and_then(last_warned: &AtomicI64, what: &str) {
    let now = clock::now_ms();
    let last = last_warned.load(Ordering::Relaxed);
    if now - last >= 60_000
        && last_warned
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!("{what} (said at most once a minute)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};
    use std::sync::{Arc, Mutex};

    const SECRET: &str = "shared-with-open-webui";

    fn signed_with(secret: &str, algorithm: Algorithm, claims: &Value) -> HeaderMap {
        let token = jsonwebtoken::encode(
            &Header::new(algorithm),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()).expect("an HMAC key"),
        )
        .expect("token");
        let mut headers = HeaderMap::new();
        headers.insert(USER_JWT, token.parse().expect("header value"));
        headers
    }

    /// The claims Open WebUI writes, the claim `drop` left out and those in `set` written over.
    fn claims(drop: &str, set: Value) -> Value {
        let now = clock::now_ms() / 1000;
        let mut c = json!({"sub": "u-1", "name": "Zoë / R&D", "email": "zoe@example.com",
                           "role": "user", "iss": "open-webui", "iat": now, "exp": now + 300});
        c.as_object_mut().expect("object").remove(drop);
        for (k, v) in set.as_object().expect("object") {
            c[k] = v.clone();
        }
        c
    }

    /// What a test's own log subscriber wrote.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Written {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn only_a_token_as_open_webui_signs_it_names_the_user() {
        let now = clock::now_ms() / 1000;
        let hs256 = Algorithm::HS256;
        // (what, the request's headers, the user id named)
        let cases = [
            (
                "as sent",
                signed_with(SECRET, hs256, &claims("", json!({}))),
                Some("u-1"),
            ),
            (
                "another secret",
                signed_with("other", hs256, &claims("", json!({}))),
                None,
            ),
            (
                "HS384",
                signed_with(SECRET, Algorithm::HS384, &claims("", json!({}))),
                None,
            ),
            (
                "no exp",
                signed_with(SECRET, hs256, &claims("exp", json!({}))),
                None,
            ),
            (
                "expired",
                signed_with(SECRET, hs256, &claims("", json!({"exp": now - 3600}))),
                None,
            ),
            (
                "expiring this second",
                signed_with(SECRET, hs256, &claims("", json!({"exp": now}))),
                None,
            ),
            (
                // PyJWT cuts the fraction off: expired this second, as Open WebUI judges it.
                "expiring this second, with a fraction",
                signed_with(SECRET, hs256, &claims("", json!({"exp": now as f64 + 0.6}))),
                None,
            ),
            (
                "expiring in two seconds, with a fraction",
                signed_with(SECRET, hs256, &claims("", json!({"exp": now as f64 + 2.4}))),
                Some("u-1"),
            ),
            (
                "not valid for a minute",
                signed_with(SECRET, hs256, &claims("", json!({"nbf": now + 60}))),
                None,
            ),
            (
                "valid from this second, with a fraction",
                signed_with(SECRET, hs256, &claims("", json!({"nbf": now as f64 + 0.6}))),
                Some("u-1"),
            ),
            (
                "valid since a minute",
                signed_with(SECRET, hs256, &claims("", json!({"nbf": now - 60}))),
                Some("u-1"),
            ),
            (
                "no iss",
                signed_with(SECRET, hs256, &claims("iss", json!({}))),
                None,
            ),
            (
                "another iss",
                signed_with(SECRET, hs256, &claims("", json!({"iss": "x"}))),
                None,
            ),
            (
                "no sub",
                signed_with(SECRET, hs256, &claims("sub", json!({}))),
                None,
            ),
            (
                "blank sub",
                signed_with(SECRET, hs256, &claims("", json!({"sub": " "}))),
                None,
            ),
        ];
        for (what, headers, id) in cases {
            let user = of(&headers, Some(SECRET));
            assert_eq!(user.as_ref().map(|u| u.id.as_str()), id, "{what}");
            if let Some(user) = user {
                assert!(user.verified, "{what}");
                assert_eq!(user.name.as_deref(), Some("Zoë / R&D"), "{what}");
            }
        }
        // Without the secret, a token names no one; with it, plain headers name no one.
        let token = signed_with(SECRET, hs256, &claims("", json!({})));
        assert_eq!(of(&token, None), None);
        let mut plain = HeaderMap::new();
        plain.insert(USER_ID, "u-2".parse().expect("value"));
        assert_eq!(of(&plain, Some(SECRET)), None);
        assert_eq!(
            of(&plain, None).map(|u| (u.id, u.verified)),
            Some(("u-2".into(), false))
        );
    }

    #[test]
    fn a_refused_token_is_said_why_in_words_of_our_own() {
        let now = clock::now_ms() / 1000;
        let token = |secret: &str, algorithm: Algorithm, claims: Value| {
            signed_with(secret, algorithm, &claims)[USER_JWT].clone()
        };
        let hs256 = Algorithm::HS256;
        // (what, the token, how the reason the warning gives starts)
        let cases = [
            (
                "another secret",
                token("other", hs256, claims("", json!({}))),
                "signed with another secret",
            ),
            (
                "HS384",
                token(SECRET, Algorithm::HS384, claims("", json!({}))),
                "not signed with HS256",
            ),
            (
                "expired",
                token(SECRET, hs256, claims("", json!({"exp": now - 3600}))),
                "expired: ",
            ),
            (
                "no exp",
                token(SECRET, hs256, claims("exp", json!({}))),
                "without the `exp` or `iss`",
            ),
            (
                "expiring this second, with a fraction",
                token(SECRET, hs256, claims("", json!({"exp": now as f64 + 0.6}))),
                "expired: ",
            ),
            (
                "not valid for a minute",
                token(SECRET, hs256, claims("", json!({"nbf": now + 60}))),
                "not valid yet",
            ),
            (
                "issued in an hour",
                token(SECRET, hs256, claims("", json!({"iat": now + 3600}))),
                "not valid yet",
            ),
            (
                "no iss",
                token(SECRET, hs256, claims("iss", json!({}))),
                "without the `exp` or `iss`",
            ),
            (
                "another iss",
                token(SECRET, hs256, claims("", json!({"iss": "x"}))),
                "not issued by Open WebUI",
            ),
            (
                "a number as sub",
                token(SECRET, hs256, claims("", json!({"sub": 7}))),
                "its JSON is not as Open WebUI writes it",
            ),
            (
                "garbage",
                HeaderValue::from_static("not.a.token"),
                "not a token",
            ),
            (
                "not text",
                HeaderValue::from_bytes(b"\xff.\xfe").expect("header value"),
                "not a token",
            ),
        ];
        for (what, token, why) in cases {
            match checked(&token, SECRET) {
                Ok(_) => panic!("{what}: accepted"),
                Err(refused) => assert!(refused.starts_with(why), "{what}: {refused}"),
            }
        }
    }

    #[test]
    fn a_user_that_cannot_be_named_is_said_why_for_the_caller() {
        let now = clock::now_ms() / 1000;
        let hs256 = Algorithm::HS256;
        let expired = signed_with(SECRET, hs256, &claims("", json!({"exp": now - 412})));
        let said = why_unnamed(&expired, Some(SECRET)).expect("a reason");
        assert!(
            (said.contains("expired 412 s ago") || said.contains("expired 413 s ago"))
                && said.contains("FORWARD_USER_INFO_HEADER_JWT_EXPIRES_SECONDS"),
            "{said}"
        );
        // Signed with another secret: its `exp` is not read, nor believed.
        let forged = signed_with("other", hs256, &claims("", json!({"exp": now - 412})));
        let said = why_unnamed(&forged, Some(SECRET)).expect("a reason");
        assert!(
            said.contains("signed with another secret")
                && said.contains("FORWARD_USER_INFO_HEADER_JWT_SECRET")
                && !said.contains("s ago"),
            "{said}"
        );
        let other = signed_with(SECRET, hs256, &claims("iss", json!({})));
        let said = why_unnamed(&other, Some(SECRET)).expect("a reason");
        assert!(said.contains("does not check out: without"), "{said}");
        let mut plain = HeaderMap::new();
        plain.insert(USER_ID, "u-2".parse().expect("value"));
        let said = why_unnamed(&plain, Some(SECRET)).expect("a reason");
        assert!(said.contains("plain X-OpenWebUI-User-*"), "{said}");
        let token = signed_with(SECRET, hs256, &claims("", json!({})));
        let said = why_unnamed(&token, None).expect("a reason");
        assert!(
            said.contains("WEBHOOK_MCP_OPENWEBUI_USER_JWT_SECRET is not set"),
            "{said}"
        );
        let nobody = signed_with(SECRET, hs256, &claims("sub", json!({})));
        let said = why_unnamed(&nobody, Some(SECRET)).expect("a reason");
        assert!(said.contains("names no user id"), "{said}");
        // A token that checks out, and plain headers read as sent, leave nothing to say.
        assert_eq!(why_unnamed(&token, Some(SECRET)), None);
        assert_eq!(why_unnamed(&plain, None), None);
    }

    #[test]
    fn a_kind_of_warning_is_written_at_most_once_a_minute() {
        let written = Written::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer({
                let written = written.clone();
                move || written.clone()
            })
            .finish();
        // A kind of its own: the statics are shared with the other tests.
        let last_warned = AtomicI64::new(0);

        tracing::subscriber::with_default(subscriber, || {
            now_and_then(&last_warned, "first");
            now_and_then(&last_warned, "again within the minute");
            last_warned.fetch_sub(60_000, Ordering::Relaxed);
            now_and_then(&last_warned, "a minute on");
        });

        let log = String::from_utf8(written.0.lock().expect("log").clone()).expect("UTF-8");
        let said: Vec<_> = log
            .lines()
            .map(|line| line.split(" WARN ").last().unwrap_or_default().trim())
            .collect();
        assert_eq!(
            said,
            [
                "webhook_mcp::http::forwarded_user: first (said at most once a minute)",
                "webhook_mcp::http::forwarded_user: a minute on (said at most once a minute)",
            ],
            "{log}"
        );
    }

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
            // Direction overrides and invisible characters make a name read as another.
            ("\u{202E}evil", None),
            ("ad\u{200B}min", None),
            ("José Ärger", Some("José Ärger")),
            ("Alex \u{2764}\u{FE0F}", Some("Alex \u{2764}\u{FE0F}")),
            (
                "Priya \u{1F469}\u{200D}\u{1F4BB}",
                Some("Priya \u{1F469}\u{200D}\u{1F4BB}"),
            ),
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
