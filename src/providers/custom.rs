//! Custom webhooks: the receive path's verify + describe step for senders we have no file
//! for, configured per webhook (HMAC header or shared token; where the event type lives).

use axum::http::{HeaderMap, HeaderName};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_PAD_INDIFFERENT, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{
    check_hmac, check_token, delivery_header, described, header, query_param, secret_bytes, source,
    str_at,
};
use super::{Described, KeyUsed, Request, Secrets, VerifyError};

const DEFAULT_SIGNATURE: &str = "X-Signature";
const DEFAULT_TOKEN: &str = "X-Webhook-Token";

/// How a custom webhook proves its requests. Every field has a default, so `{}` means
/// `X-Signature: <hex HMAC-SHA256 of the body>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CustomOptions {
    #[serde(default)]
    pub mode: CustomMode,
    /// Signature header (hmac, default `X-Signature`) or token header (token, default
    /// `X-Webhook-Token`; `?token=` in the URL is accepted too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Text before the signature or token in the header, e.g. `sha256=` or `Bearer `.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    #[serde(default)]
    pub encoding: Encoding,
    /// JSON pointer (`/type`) or dotted path (`event.type`) of the event type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type_pointer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type_header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id_pointer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id_header: Option<String>,
    /// Pointer or path of the value that identifies the thread (becomes `source.key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_pointer: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CustomMode {
    /// HMAC-SHA256 of the raw body keyed by the secret.
    #[default]
    Hmac,
    /// The secret itself, sent as a header or `?token=`.
    Token,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Hex,
    Base64,
}

impl CustomOptions {
    /// Checked when the webhook is saved, so a typo fails there and not on every delivery.
    /// The error names the field.
    pub fn validate(&self) -> Result<(), String> {
        for (field, name) in [
            ("header", &self.header),
            ("event_type_header", &self.event_type_header),
            ("delivery_id_header", &self.delivery_id_header),
        ] {
            if let Some(name) = name
                && (name.len() > 256 || HeaderName::from_bytes(name.as_bytes()).is_err())
            {
                return Err(format!(
                    "{field}: `{}` is not a valid HTTP header name (letters, digits and `-`, \
                     at most 256)",
                    crate::quote::quoted(name)
                ));
            }
        }
        // Header values are read as ASCII text, so anything else could never match.
        let printable = self.prefix.bytes().all(|b| (b' '..=b'~').contains(&b));
        if self.prefix.len() > 64 || !printable {
            return Err("prefix: must be at most 64 printable ASCII characters".into());
        }
        for (field, path) in [
            ("event_type_pointer", &self.event_type_pointer),
            ("delivery_id_pointer", &self.delivery_id_pointer),
            ("source_pointer", &self.source_pointer),
        ] {
            if let Some(path) = path
                && (path.len() > 1024 || !valid_path(path))
            {
                return Err(format!(
                    "{field}: `{}` is neither a JSON pointer (/a/b) nor a dotted path (a.b) of \
                     at most 1,024 bytes",
                    crate::quote::quoted(path)
                ));
            }
        }
        Ok(())
    }
}

fn valid_path(path: &str) -> bool {
    match path.strip_prefix('/') {
        Some(rest) => !rest.is_empty(),
        None => !path.is_empty() && path.split('.').all(|seg| !seg.is_empty()),
    }
}

/// `None` options are the defaults (hmac, `X-Signature`, hex).
pub(super) fn verify(
    secrets: Secrets<'_>,
    req: &Request<'_>,
    options: Option<&CustomOptions>,
) -> Result<KeyUsed, VerifyError> {
    let defaults = CustomOptions::default();
    let opts = options.unwrap_or(&defaults);
    match opts.mode {
        CustomMode::Hmac => verify_hmac(secrets, req, opts),
        CustomMode::Token => verify_token(secrets, req, opts),
    }
}

fn verify_hmac(
    secrets: Secrets<'_>,
    req: &Request<'_>,
    opts: &CustomOptions,
) -> Result<KeyUsed, VerifyError> {
    let name = opts.header.as_deref().unwrap_or(DEFAULT_SIGNATURE);
    // The error carries a `&'static str`, so a configured name is described, not quoted.
    let missing = match opts.header {
        None => VerifyError::MissingHeader(DEFAULT_SIGNATURE),
        Some(_) => VerifyError::MissingHeader("(configured signature header)"),
    };
    let value = header(req.headers, name).ok_or(missing)?;
    let encoded = strip_prefix(value, &opts.prefix).ok_or(VerifyError::Malformed(
        "signature lacks the configured prefix",
    ))?;
    let sig = match opts.encoding {
        Encoding::Hex => hex::decode(encoded).ok(),
        Encoding::Base64 => STANDARD_PAD_INDIFFERENT
            .decode(encoded)
            .or_else(|_| URL_SAFE_NO_PAD.decode(encoded.trim_end_matches('=')))
            .ok(),
    }
    .ok_or(VerifyError::Malformed(
        "signature is not in the configured encoding",
    ))?;
    secrets.try_each(|secret| check_hmac(secret_bytes(secret)?, &[req.body], &sig))
}

fn verify_token(
    secrets: Secrets<'_>,
    req: &Request<'_>,
    opts: &CustomOptions,
) -> Result<KeyUsed, VerifyError> {
    let name = opts.header.as_deref().unwrap_or(DEFAULT_TOKEN);
    let sent = header(req.headers, name);
    let presented = sent
        .and_then(|v| strip_prefix(v, &opts.prefix))
        .map(str::to_owned)
        .or_else(|| query_param(req.query, "token"))
        .ok_or(if sent.is_some() {
            // The header came, without its prefix (`Bearer `): saying "missing" would send
            // the sender looking for a header it did set.
            VerifyError::Malformed("token lacks the configured prefix")
        } else {
            VerifyError::MissingTokenIn(name.to_owned())
        })?;
    secrets.try_each(|secret| check_token(&presented, secret))
}

/// Prefixes such as `sha256=` or `Bearer ` are matched without regard to case, and without
/// spaces before them, which a header value (read trimmed) never has: one saved so by an
/// earlier version, which trims them now, matches too.
fn strip_prefix<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let prefix = prefix.trim_start();
    let head = value.get(..prefix.len())?;
    let rest = value.get(prefix.len()..)?;
    head.eq_ignore_ascii_case(prefix).then_some(rest.trim())
}

/// Configured places first, then the names senders commonly use, so an unconfigured custom
/// hook still gets a useful event type and dedup key.
pub(super) fn describe(
    options: Option<&CustomOptions>,
    headers: &HeaderMap,
    payload: &Value,
) -> Described {
    let defaults = CustomOptions::default();
    let opts = options.unwrap_or(&defaults);
    let from_header = |name: &Option<String>| {
        name.as_deref()
            .and_then(|n| header(headers, n))
            .map(str::to_owned)
    };
    let delivery_from =
        |name: &Option<String>| name.as_deref().and_then(|n| delivery_header(headers, n));
    let from_body = |path: &Option<String>| path.as_deref().and_then(|p| str_at(payload, p));
    let event_type = from_header(&opts.event_type_header)
        .or_else(|| from_body(&opts.event_type_pointer))
        .or_else(|| {
            ["/type", "/event", "/event_type"]
                .iter()
                .find_map(|p| str_at(payload, p))
        })
        .unwrap_or_else(|| "custom".into());
    let delivery = delivery_from(&opts.delivery_id_header)
        .or_else(|| from_body(&opts.delivery_id_pointer))
        // Not `X-Request-Id`: a tracing header, which a sender's framework passes on to every
        // call one request of its makes, so events sent together would be taken as one.
        .or_else(|| {
            ["webhook-id", "X-Delivery-Id"]
                .iter()
                .find_map(|n| delivery_header(headers, n))
        });
    let src = from_body(&opts.source_pointer).map(|key| source("custom", key, Default::default()));
    described(event_type, delivery, src)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::common::hmac_sha256;
    use crate::providers::common::test_support::{headers, hex_hmac, only, req, rotating};
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    const SECRET: &str = "custom-secret";
    const BODY: &[u8] = br#"{"type":"build.done"}"#;

    fn opts(v: Value) -> CustomOptions {
        serde_json::from_value(v).expect("options")
    }

    fn run(
        o: Option<&CustomOptions>,
        pairs: &[(&str, &str)],
        query: Option<&str>,
        secrets: Secrets<'_>,
    ) -> Result<KeyUsed, VerifyError> {
        let h = headers(pairs);
        verify(
            secrets,
            &Request {
                query,
                ..req(&h, BODY, 0)
            },
            o,
        )
    }

    #[test]
    fn default_hmac_table() {
        let hex = hex_hmac(SECRET, &[BODY]);
        let upper = hex.to_uppercase();
        let old = hex_hmac("old", &[BODY]);
        let tampered = hex_hmac(SECRET, &[b"{}"]);
        let cases = [
            (
                "valid",
                Some(hex.as_str()),
                only(SECRET),
                Ok(KeyUsed::Current),
            ),
            (
                "hex any case",
                Some(&upper),
                only(SECRET),
                Ok(KeyUsed::Current),
            ),
            (
                "tampered",
                Some(&tampered),
                only(SECRET),
                Err(VerifyError::BadSignature),
            ),
            (
                "wrong secret",
                Some(&hex),
                only("x"),
                Err(VerifyError::BadSignature),
            ),
            (
                "missing",
                None,
                only(SECRET),
                Err(VerifyError::MissingHeader("X-Signature")),
            ),
            (
                "rotation",
                Some(&old),
                rotating(SECRET, "old"),
                Ok(KeyUsed::Previous),
            ),
        ];
        for (name, sig, secrets, want) in cases {
            let pairs: Vec<_> = sig.map(|s| ("X-Signature", s)).into_iter().collect();
            assert_eq!(run(None, &pairs, None, secrets), want, "{name}");
        }
    }

    #[test]
    fn configured_modes() {
        let hex = hex_hmac(SECRET, &[BODY]);
        let pre = opts(json!({"prefix": "sha256="}));
        let sig = format!("SHA256={hex}");
        assert_eq!(
            run(Some(&pre), &[("X-Signature", &sig)], None, only(SECRET)),
            Ok(KeyUsed::Current)
        );
        let want = Err(VerifyError::Malformed(
            "signature lacks the configured prefix",
        ));
        assert_eq!(
            run(Some(&pre), &[("X-Signature", &hex)], None, only(SECRET)),
            want
        );

        let b64 = opts(json!({"header": "X-Sig", "prefix": "sha256=", "encoding": "base64"}));
        let mac = hmac_sha256(SECRET.as_bytes(), &[BODY]).expect("hmac");
        let sig = format!("sha256={}", STANDARD.encode(mac));
        assert_eq!(
            run(Some(&b64), &[("X-Sig", &sig)], None, only(SECRET)),
            Ok(KeyUsed::Current)
        );

        let tok = opts(json!({"mode": "token"}));
        let token = |pairs: &[(&str, &str)], query, secrets| run(Some(&tok), pairs, query, secrets);
        assert_eq!(
            token(&[("X-Webhook-Token", SECRET)], None, only(SECRET)),
            Ok(KeyUsed::Current)
        );
        assert_eq!(
            token(&[], Some("token=custom-secret"), only(SECRET)),
            Ok(KeyUsed::Current)
        );
        assert_eq!(
            token(&[], Some("token=nope"), only(SECRET)),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            token(&[], None, only(SECRET)),
            Err(VerifyError::MissingTokenIn("X-Webhook-Token".into()))
        );
        let rotation = token(&[("X-Webhook-Token", "old")], None, rotating(SECRET, "old"));
        assert_eq!(rotation, Ok(KeyUsed::Previous));

        let bearer = opts(json!({"mode": "token", "header": "Authorization", "prefix": "Bearer "}));
        let pairs = [("Authorization", "Bearer custom-secret")];
        assert_eq!(
            run(Some(&bearer), &pairs, None, only(SECRET)),
            Ok(KeyUsed::Current)
        );
        let bare = [("Authorization", "custom-secret")];
        assert_eq!(
            run(Some(&bearer), &bare, None, only(SECRET)),
            Err(VerifyError::Malformed("token lacks the configured prefix"))
        );
        let by_query = run(
            Some(&bearer),
            &bare,
            Some("token=custom-secret"),
            only(SECRET),
        );
        assert_eq!(by_query, Ok(KeyUsed::Current));
    }

    #[test]
    fn options_default_and_validate() {
        assert_eq!(opts(json!({})), CustomOptions::default());
        assert!(serde_json::from_value::<CustomOptions>(json!({"colour": "red"})).is_err());
        assert!(
            opts(json!({"mode": "token", "encoding": "base64"}))
                .validate()
                .is_ok()
        );
        let bad = [
            (json!({"header": "bad header"}), "header:"),
            (json!({"event_type_header": "x\n"}), "event_type_header:"),
            (json!({"prefix": "é"}), "prefix:"),
            (json!({"event_type_pointer": ""}), "event_type_pointer:"),
            (json!({"source_pointer": "a..b"}), "source_pointer:"),
            (json!({"delivery_id_pointer": "/"}), "delivery_id_pointer:"),
        ];
        for (v, field) in bad {
            let err = opts(v).validate().expect_err(field);
            assert!(err.starts_with(field), "{err}");
        }
    }

    #[test]
    fn describe_table() {
        let configured = opts(
            json!({"event_type_pointer": "event.kind", "delivery_id_pointer": "/meta/id",
            "source_pointer": "repo.name"}),
        );
        let by_header = opts(json!({"event_type_header": "X-Event", "delivery_id_header": "X-Id"}));
        let payload =
            json!({"type": "t", "event": {"kind": "k"}, "meta": {"id": 42}, "repo": {"name": "r"}});
        let h = headers(&[
            ("X-Event", "from-header"),
            ("X-Id", "id-h"),
            ("X-Request-Id", "req-1"),
            ("X-Delivery-Id", "del-1"),
        ]);
        let cases = [
            (Some(&configured), "k", Some("42"), Some("r")),
            (Some(&by_header), "from-header", Some("id-h"), None),
            (None, "t", Some("del-1"), None),
        ];
        for (o, want_type, want_id, want_key) in cases {
            let d = describe(o, &h, &payload);
            assert_eq!(d.event_type, want_type);
            assert_eq!(d.delivery_id.as_deref(), want_id);
            assert_eq!(d.source.as_ref().map(|s| s.key.as_str()), want_key);
        }
        let d = describe(
            None,
            &headers(&[("webhook-id", "w")]),
            &json!({"event_type": "e"}),
        );
        assert_eq!(
            (d.event_type.as_str(), d.delivery_id.as_deref()),
            ("e", Some("w"))
        );
        assert_eq!(
            describe(None, &headers(&[]), &json!([1])).event_type,
            "custom"
        );
    }
}
