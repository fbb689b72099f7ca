//! Shared helpers for the provider files: secret generation, HMAC and constant-time checks,
//! header/query access, body parsing and JSON lookups. Pure, so every verifier stays
//! table-testable.

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Described, PayloadError, SourceRef, VerifyError};

type HmacSha256 = Hmac<Sha256>;

/// `bytes` random bytes from a CSPRNG, as unpadded base64url (safe in paths and queries).
pub fn random_token(bytes: usize) -> String {
    let mut rng = rand::rng();
    assert_crypto_rng(&rng);
    let mut buf = vec![0u8; bytes];
    rng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Fails to compile if the generator above ever stops being a cryptographic one.
fn assert_crypto_rng<R: rand::CryptoRng>(_: &R) {}

/// The secret's bytes as an HMAC key. An empty secret would let anyone sign, so it is refused
/// as a configuration error rather than treated as a key.
pub fn secret_bytes(secret: &str) -> Result<&[u8], VerifyError> {
    if secret.is_empty() {
        return Err(VerifyError::Misconfigured(
            "the webhook secret is empty".into(),
        ));
    }
    Ok(secret.as_bytes())
}

/// HMAC-SHA256 of the concatenation of `parts`, so signed strings such as `v0:{ts}:{body}`
/// never need to be copied into one buffer.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Option<Vec<u8>> {
    // HMAC accepts keys of any length; the error branch exists only in the type.
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac.finalize().into_bytes().to_vec())
}

/// Checks `sig` against the HMAC of `parts` in constant time.
pub fn check_hmac(key: &[u8], parts: &[&[u8]], sig: &[u8]) -> Result<(), VerifyError> {
    let expected = hmac_sha256(key, parts).ok_or(VerifyError::BadSignature)?;
    if ct_eq(&expected, sig) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// Constant-time byte comparison (lengths are not secret: every MAC here has a fixed length).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Compares a presented token with a secret. Both are hashed first so that neither the
/// content nor the length of the secret leaks through timing.
pub fn check_token(presented: &str, secret: &str) -> Result<(), VerifyError> {
    let secret = secret_bytes(secret)?;
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(secret);
    if ct_eq(a.as_slice(), b.as_slice()) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// Decodes a hex signature (either case). Bad hex is malformed, not a mismatch, so it is not
/// retried with the previous secret.
pub fn decode_hex(sig: &str) -> Result<Vec<u8>, VerifyError> {
    hex::decode(sig).map_err(|_| VerifyError::Malformed("signature is not hex"))
}

/// A delivery id from a header. Bytes that are not UTF-8 still name the delivery (as hex), so
/// a retry that sends the same bytes is a duplicate instead of a second event.
pub fn delivery_header(headers: &HeaderMap, name: &str) -> Option<String> {
    let raw = headers.get(name)?.as_bytes();
    match std::str::from_utf8(raw) {
        Ok(_) => header(headers, name).map(str::to_owned),
        Err(_) => Some(format!("bytes:{}", hex::encode(raw))),
    }
}

/// A header as trimmed text; absent, non-UTF-8 and blank values are all `None`.
/// `HeaderMap` lookups are case-insensitive, so callers use the providers' own spelling.
pub fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    // UTF-8, not only the visible ASCII `to_str` takes: a custom sender's event type may be
    // `order.créé`.
    let value = std::str::from_utf8(headers.get(name)?.as_bytes())
        .ok()?
        .trim_matches(|c: char| c.is_ascii_whitespace());
    (!value.is_empty()).then_some(value)
}

/// The value after `Bearer ` in an `Authorization` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = header(headers, "Authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The first non-empty `name=` parameter of a raw query string, percent-decoded.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.into_owned())
}

/// Parses an integer timestamp header, naming what was wrong.
pub fn parse_ts(raw: &str, what: &'static str) -> Result<i64, VerifyError> {
    raw.trim().parse().map_err(|_| VerifyError::Malformed(what))
}

/// `|now - ts| <= window`, without overflow on hostile timestamps.
pub fn within(now: i64, ts: i64, window: i64) -> bool {
    now.abs_diff(ts) <= window.max(0).unsigned_abs()
}

/// A form body's fields, or `None` when the body does not look like a form (JSON that failed
/// to parse, plain text), so a broken JSON body reports its JSON error.
pub fn parse_form(body: &[u8]) -> Option<Map<String, Value>> {
    let text = std::str::from_utf8(body).ok()?.trim();
    if text.is_empty() || text.starts_with(['{', '[', '"']) || !text.contains('=') {
        return None;
    }
    let fields = form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    Some(fields)
}

/// Why a body that is not JSON is not a form either: a form that is not UTF-8 is said to be
/// one (its text is read as UTF-8, as Slack and GitHub send it), rather than reported by the
/// JSON parser, which stops at its first letter (`expected ident`); else the JSON error.
pub fn not_a_form(body: &[u8], json_err: &serde_json::Error) -> PayloadError {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let json_like = matches!(first, Some(b'{' | b'[' | b'"'));
    match std::str::from_utf8(body) {
        Err(e) if !json_like && body.contains(&b'=') => PayloadError(format!(
            "the form body is not UTF-8 (byte 0x{:02X} at offset {}): send the form's text \
             as UTF-8",
            body[e.valid_up_to()],
            e.valid_up_to()
        )),
        _ => PayloadError::not_json(json_err),
    }
}

/// The JSON object or array carried in a form's `payload` field (GitHub and Slack
/// interactivity put the whole event there).
pub fn form_payload(fields: &Map<String, Value>) -> Option<Value> {
    let raw = fields.get("payload")?.as_str()?;
    serde_json::from_str::<Value>(&crate::lone_surrogates::mended_str(raw))
        .ok()
        .filter(|v| v.is_object() || v.is_array())
}

/// JSON, else a form as an object of its fields with `payload` decoded when it holds JSON.
/// An empty body is an empty object: a bare POST is a valid trigger for unsigned or custom
/// hooks and carries nothing to parse.
pub fn parse_json_or_form(body: &[u8]) -> Result<Value, PayloadError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    let json_err = match serde_json::from_slice(body) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let mut fields = parse_form(body).ok_or_else(|| not_a_form(body, &json_err))?;
    if let Some(payload) = form_payload(&fields) {
        fields.insert("payload".into(), payload);
    }
    Ok(Value::Object(fields))
}

/// The value at a JSON pointer (`/a/b`) or a dotted path (`a.b`, `items.0.id`).
pub fn json_at<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    if path.starts_with('/') {
        return v.pointer(path);
    }
    if path.is_empty() {
        return None;
    }
    path.split('.').try_fold(v, |cur, seg| match cur {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => a.get(seg.parse::<usize>().ok()?),
        _ => None,
    })
}

/// A scalar at `path` as text: ids are numbers in some payloads and strings in others.
pub fn str_at(v: &Value, path: &str) -> Option<String> {
    match json_at(v, path)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `base.sub`, or whichever part exists; `unknown` when neither does.
pub fn dotted(base: Option<String>, sub: Option<String>) -> String {
    match (base, sub) {
        (Some(b), Some(s)) => format!("{b}.{s}"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => "unknown".into(),
    }
}

/// A source detail map from `(name, value)` pairs, leaving out the values that are absent.
pub fn detail<'a>(
    fields: impl IntoIterator<Item = (&'a str, Option<Value>)>,
) -> Map<String, Value> {
    fields
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v.filter(|v| !v.is_null())?)))
        .collect()
}

/// The raw JSON value at `path`, cloned for a detail map (numbers stay numbers).
pub fn raw_at(v: &Value, path: &str) -> Option<Value> {
    json_at(v, path).cloned()
}

pub fn source(kind: &str, key: String, detail: Map<String, Value>) -> SourceRef {
    SourceRef {
        kind: kind.to_owned(),
        key,
        detail,
    }
}

/// The event's type is put in Unicode NFC, as triggers are, so a sender's `order.créé` with
/// its accents written as combining marks still fires a trigger typed with precomposed ones.
pub fn described(
    event_type: String,
    delivery_id: Option<String>,
    source: Option<SourceRef>,
) -> Described {
    let event_type = match crate::nfc::nfc(&event_type) {
        std::borrow::Cow::Owned(normal) => normal,
        std::borrow::Cow::Borrowed(_) => event_type,
    };
    Described {
        event_type,
        delivery_id,
        source,
        handshake: None,
    }
}

#[cfg(test)]
pub mod test_support {
    //! Builders shared by the provider tests.
    use axum::http::{HeaderMap, HeaderName, HeaderValue};

    use crate::providers::{Request, Secrets};

    pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            let name = HeaderName::from_bytes(k.as_bytes()).expect("header name");
            map.append(name, HeaderValue::from_str(v).expect("header value"));
        }
        map
    }

    pub fn req<'a>(headers: &'a HeaderMap, body: &'a [u8], now_secs: i64) -> Request<'a> {
        Request {
            headers,
            body,
            query: None,
            now_ms: now_secs * 1000,
        }
    }

    pub fn hex_hmac(key: &str, parts: &[&[u8]]) -> String {
        hex::encode(super::hmac_sha256(key.as_bytes(), parts).expect("hmac"))
    }

    pub fn only(secret: &str) -> Secrets<'_> {
        Secrets {
            current: secret,
            previous: None,
        }
    }

    pub fn rotating<'a>(current: &'a str, previous: &'a str) -> Secrets<'a> {
        Secrets {
            current,
            previous: Some(previous),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::headers;
    use super::*;
    use serde_json::json;

    #[test]
    fn a_delivery_id_that_is_not_utf8_still_names_its_delivery() {
        let mut raw = HeaderMap::new();
        raw.insert(
            "X-GitHub-Delivery",
            axum::http::HeaderValue::from_bytes(b"id-\xff").expect("value"),
        );
        let cases = [
            (headers(&[("X-GitHub-Delivery", " d-1 ")]), Some("d-1")),
            (headers(&[("X-GitHub-Delivery", " ")]), None),
            (HeaderMap::new(), None),
            (raw, Some("bytes:69642dff")),
        ];
        for (headers, want) in cases {
            assert_eq!(
                delivery_header(&headers, "X-GitHub-Delivery").as_deref(),
                want,
                "{headers:?}"
            );
        }
    }

    #[test]
    fn tokens_are_random_and_url_safe() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn header_lookup_ignores_case_and_blanks() {
        let h = headers(&[("X-Thing", "  v  "), ("X-Blank", "  ")]);
        assert_eq!(header(&h, "x-thing"), Some("v"));
        assert_eq!(header(&h, "X-THING"), Some("v"));
        assert_eq!(header(&h, "x-blank"), None);
        assert_eq!(header(&h, "bad header name"), None);
        let mut h = HeaderMap::new();
        h.insert(
            "x-event",
            axum::http::HeaderValue::from_bytes("order.créé".as_bytes()).unwrap(),
        );
        h.insert(
            "x-latin1",
            axum::http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        assert_eq!(header(&h, "x-event"), Some("order.créé"));
        assert_eq!(header(&h, "x-latin1"), None);
    }

    #[test]
    fn token_check_is_exact() {
        assert_eq!(check_token("abc", "abc"), Ok(()));
        assert_eq!(check_token("abcd", "abc"), Err(VerifyError::BadSignature));
        assert!(matches!(
            check_token("", ""),
            Err(VerifyError::Misconfigured(_))
        ));
    }

    #[test]
    fn bodies_parse_as_json_form_or_empty() {
        assert_eq!(parse_json_or_form(br#"{"a":1}"#), Ok(json!({"a": 1})));
        assert_eq!(parse_json_or_form(b""), Ok(json!({})));
        assert_eq!(
            parse_json_or_form(b"a=1&payload=%7B%22b%22%3A2%7D"),
            Ok(json!({"a": "1", "payload": {"b": 2}}))
        );
        assert_eq!(
            parse_json_or_form(b"payload=nope"),
            Ok(json!({"payload": "nope"}))
        );
        assert!(parse_json_or_form(b"{\"broken\"").is_err());
        assert!(parse_json_or_form(b"plain text").is_err());
    }

    #[test]
    fn paths_accept_pointers_and_dots() {
        let v = json!({"a": {"b": [{"id": 7}], "s": "x", "e": ""}});
        assert_eq!(str_at(&v, "/a/b/0/id").as_deref(), Some("7"));
        assert_eq!(str_at(&v, "a.b.0.id").as_deref(), Some("7"));
        assert_eq!(str_at(&v, "a.s").as_deref(), Some("x"));
        assert_eq!(str_at(&v, "a.e"), None);
        assert_eq!(str_at(&v, "a.b.x"), None);
        assert_eq!(str_at(&v, ""), None);
        assert_eq!(str_at(&v, "a"), None);
    }

    #[test]
    fn window_survives_extreme_values() {
        assert!(within(100, 400, 300));
        assert!(!within(100, 401, 300));
        assert!(!within(i64::MAX, i64::MIN, 300));
        assert!(!within(0, 1, -5));
    }
}
