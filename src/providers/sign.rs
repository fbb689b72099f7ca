//! The sender's half of every scheme in this module: signs a body exactly as the provider
//! would, so `test_webhook` can push a sample through the same `verify` + `describe` path a
//! real delivery takes. Pure like the rest: the clock is passed in.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::common::{hmac_sha256, random_token, secret_bytes};
use super::custom::{CustomMode, CustomOptions, Encoding};
use super::{Provider, ProviderOptions, VerifyError};

/// What to send besides the body: every header (the caller's `extra_headers` first, then the
/// signing headers, which replace any caller header of the same name) and, for schemes that
/// carry the secret in the URL, the raw query string to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub headers: Vec<(String, String)>,
    pub query: Option<String>,
}

/// Signs `body` for `provider` with `secret` at `now_ms`, producing what the real sender puts
/// on the wire. `verify(provider, Secrets { current: secret, previous: None }, options, ..)`
/// accepts the result while `now_ms` is within the provider's window.
///
/// An empty secret, a Standard Webhooks secret that is not `whsec_<base64>`, or a token that
/// cannot travel in a header is `Misconfigured`, as verification would say.
pub fn sign(
    provider: Provider,
    secret: &str,
    options: &ProviderOptions,
    body: &[u8],
    extra_headers: &[(String, String)],
    now_ms: i64,
) -> Result<Signed, VerifyError> {
    let secs = now_ms.div_euclid(1000);
    let mut out = Builder::new(extra_headers);
    match provider {
        Provider::GitHub => {
            let sig = hex_mac(secret, &[body])?;
            out.set("X-Hub-Signature-256", format!("sha256={sig}"));
        }
        Provider::GitLab => {
            // The classic secret token: GitLab sends the secret itself.
            out.set("X-Gitlab-Token", header_token(secret, "X-Gitlab-Token")?);
        }
        Provider::Slack => {
            let ts = secs.to_string();
            let sig = hex_mac(secret, &[b"v0:", ts.as_bytes(), b":", body])?;
            out.set("X-Slack-Request-Timestamp", ts);
            out.set("X-Slack-Signature", format!("v0={sig}"));
        }
        Provider::Jira => {
            let sig = hex_mac(secret, &[body])?;
            out.set("X-Hub-Signature", format!("sha256={sig}"));
        }
        Provider::Sentry => {
            let sig = hex_mac(secret, &[body])?;
            out.set("Sentry-Hook-Timestamp", secs.to_string());
            out.set("Sentry-Hook-Signature", sig);
        }
        Provider::Linear => {
            // The body's `webhookTimestamp` is what is checked; the header is sent as Linear
            // sends it.
            let sig = hex_mac(secret, &[body])?;
            out.set("Linear-Timestamp", now_ms.to_string());
            out.set("Linear-Signature", sig);
        }
        Provider::Stripe => {
            // Keyed by the whole `whsec_...` text, not decoded (unlike Standard Webhooks).
            let t = secs.to_string();
            let sig = hex_mac(secret, &[t.as_bytes(), b".", body])?;
            out.set("Stripe-Signature", format!("t={t},v1={sig}"));
        }
        Provider::StandardWebhooks => {
            let key = super::standard::decode_secret(secret)?;
            let id = match out.get("webhook-id") {
                Some(id) => id.to_owned(),
                None => {
                    let id = format!("msg_{}", random_token(18));
                    out.set("webhook-id", id.clone());
                    id
                }
            };
            let ts = secs.to_string();
            let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts.as_bytes(), b".", body];
            let mac = hmac_sha256(&key, &parts).ok_or(VerifyError::BadSignature)?;
            out.set("webhook-timestamp", ts);
            out.set("webhook-signature", format!("v1,{}", STANDARD.encode(mac)));
        }
        Provider::OpenWebUi => {
            // Open WebUI signs nothing: the secret is part of the URL it was given.
            secret_bytes(secret)?;
            out.query = Some(token_query(secret));
        }
        Provider::Custom => {
            let defaults = CustomOptions::default();
            let opts = options.custom.as_ref().unwrap_or(&defaults);
            sign_custom(&mut out, opts, secret, body)?;
        }
    }
    Ok(out.finish())
}

/// Per the webhook's options: `<prefix><hex|base64 HMAC>` in the signature header, or
/// `<prefix><secret>` in the token header (the defaults match `custom::verify`).
fn sign_custom(
    out: &mut Builder,
    opts: &CustomOptions,
    secret: &str,
    body: &[u8],
) -> Result<(), VerifyError> {
    match opts.mode {
        CustomMode::Hmac => {
            let name = opts.header.as_deref().unwrap_or("X-Signature");
            let mac =
                hmac_sha256(secret_bytes(secret)?, &[body]).ok_or(VerifyError::BadSignature)?;
            let encoded = match opts.encoding {
                Encoding::Hex => hex::encode(mac),
                Encoding::Base64 => STANDARD.encode(mac),
            };
            out.set(name, format!("{}{encoded}", opts.prefix));
        }
        CustomMode::Token => {
            let name = opts.header.as_deref().unwrap_or("X-Webhook-Token");
            let token = header_token(secret, "the custom token header")?;
            out.set(name, format!("{}{token}", opts.prefix));
        }
    }
    Ok(())
}

/// Lowercase hex HMAC-SHA256 of `parts` keyed by the secret's UTF-8 bytes.
fn hex_mac(secret: &str, parts: &[&[u8]]) -> Result<String, VerifyError> {
    let mac = hmac_sha256(secret_bytes(secret)?, parts).ok_or(VerifyError::BadSignature)?;
    Ok(hex::encode(mac))
}

/// A secret sent verbatim in a header must be a valid header value that survives the
/// receiver's trimming, or it could never verify.
fn header_token<'s>(secret: &'s str, header: &str) -> Result<&'s str, VerifyError> {
    secret_bytes(secret)?;
    let printable = secret.bytes().all(|b| (b' '..=b'~').contains(&b));
    if !printable || secret.trim() != secret {
        return Err(VerifyError::Misconfigured(format!(
            "the secret cannot be sent in {header}: it must be printable ASCII without \
             leading or trailing spaces"
        )));
    }
    Ok(secret)
}

/// `token=<percent-encoded secret>`, the query Open WebUI's configured URL carries.
fn token_query(secret: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("token", secret)
        .finish()
}

/// Headers in send order; setting a name replaces any earlier header of that name (header
/// names are case-insensitive).
struct Builder {
    headers: Vec<(String, String)>,
    query: Option<String>,
}

impl Builder {
    fn new(extra: &[(String, String)]) -> Self {
        Self {
            headers: extra.to_vec(),
            query: None,
        }
    }

    /// The first non-blank value of `name`, trimmed as the receiver reads it.
    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .find(|v| !v.is_empty())
    }

    fn set(&mut self, name: &str, value: impl Into<String>) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.into()));
    }

    fn finish(self) -> Signed {
        Signed {
            headers: self.headers,
            query: self.query,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use axum::http::{HeaderMap, HeaderName, HeaderValue};
    use serde_json::{Value, json};

    use super::*;
    use crate::providers::{KeyUsed, Request, Secrets, verify};

    const VECTORS: &str = include_str!("../../tests/fixtures/provider-vectors.json");
    const NOW_MS: i64 = 1_763_900_000_000;

    fn header_map(pairs: &[(String, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            let name = HeaderName::from_bytes(k.as_bytes()).expect("header name");
            map.append(name, HeaderValue::from_str(v).expect("header value"));
        }
        map
    }

    fn check(
        provider: Provider,
        verify_secret: &str,
        options: &ProviderOptions,
        body: &[u8],
        signed: &Signed,
        now_ms: i64,
    ) -> Result<KeyUsed, VerifyError> {
        let headers = header_map(&signed.headers);
        let req = Request {
            headers: &headers,
            body,
            query: signed.query.as_deref(),
            now_ms,
        };
        let secrets = Secrets {
            current: verify_secret,
            previous: None,
        };
        verify(provider, secrets, options, &req)
    }

    fn value<'s>(signed: &'s Signed, name: &str) -> Option<&'s str> {
        signed
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn custom(v: Value) -> ProviderOptions {
        ProviderOptions {
            tolerance_secs: None,
            custom: Some(serde_json::from_value(v).expect("custom options")),
            ..Default::default()
        }
    }

    /// The signature header each provider's vectors carry.
    fn signature_header(provider: Provider) -> &'static str {
        match provider {
            Provider::GitHub => "X-Hub-Signature-256",
            Provider::GitLab => "X-Gitlab-Token",
            Provider::Slack => "X-Slack-Signature",
            Provider::Jira => "X-Hub-Signature",
            Provider::Sentry => "Sentry-Hook-Signature",
            Provider::Linear => "Linear-Signature",
            Provider::Stripe => "Stripe-Signature",
            Provider::StandardWebhooks => "webhook-signature",
            Provider::OpenWebUi => "X-Webhook-Token",
            Provider::Custom => "X-Signature",
        }
    }

    /// Signing every accepted vector's body at the vector's own clock reproduces the
    /// signature the provider (or its SDK) produced.
    #[test]
    fn reproduces_the_vectors() {
        let doc: Value = serde_json::from_str(VECTORS).expect("vectors");
        let mut ran = 0;
        for v in doc["vectors"].as_array().expect("array") {
            let id = v["id"].as_str().unwrap_or_default();
            let Ok(provider) = Provider::from_str(v["provider"].as_str().unwrap_or_default())
            else {
                continue;
            };
            if v["expected"] != "accept" || id == "sentry-timestamp-changed" {
                continue;
            }
            let headers: Vec<(String, String)> = v["headers"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            let find = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            };
            let now_ms = v["now_ms"]
                .as_i64()
                .or_else(|| v["now"].as_i64().map(|s| s * 1000))
                .unwrap_or(NOW_MS);
            let sig_name = signature_header(provider);
            let extra: Vec<(String, String)> = headers
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case(sig_name))
                .cloned()
                .collect();
            let body = v["body"].as_str().expect("body").as_bytes();
            let secret = v["secret"].as_str().expect("secret");
            let signed = sign(
                provider,
                secret,
                &ProviderOptions::default(),
                body,
                &extra,
                now_ms,
            )
            .unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(
                value(&signed, sig_name).map(str::to_owned),
                find(sig_name),
                "{id}"
            );
            ran += 1;
        }
        assert!(ran >= 7, "only {ran} vectors ran");
    }

    #[test]
    fn every_provider_round_trips_and_rejects_a_wrong_secret() {
        let body = br#"{"type":"x","webhookTimestamp":1763900000000}"#;
        for provider in Provider::ALL {
            let secret = provider.generate_secret();
            let wrong = provider.generate_secret();
            let options = ProviderOptions::default();
            let signed = sign(provider, &secret, &options, body, &[], NOW_MS).expect("sign");
            assert_eq!(
                check(provider, &secret, &options, body, &signed, NOW_MS),
                Ok(KeyUsed::Current),
                "{provider}"
            );
            assert_eq!(
                check(provider, &wrong, &options, body, &signed, NOW_MS),
                Err(VerifyError::BadSignature),
                "{provider} wrong secret"
            );
            let tampered = br#"{"type":"y","webhookTimestamp":1763900000000}"#;
            let got = check(provider, &secret, &options, tampered, &signed, NOW_MS);
            let token_only = matches!(provider, Provider::GitLab | Provider::OpenWebUi);
            assert_eq!(got.is_ok(), token_only, "{provider} tampered: {got:?}");
        }
    }

    #[test]
    fn timestamped_schemes_use_the_clock() {
        let body = br#"{"type":"x"}"#;
        let opts = ProviderOptions::default();
        let now = NOW_MS + 123;
        for provider in [
            Provider::Slack,
            Provider::Stripe,
            Provider::StandardWebhooks,
        ] {
            let secret = provider.generate_secret();
            let signed = sign(provider, &secret, &opts, body, &[], now).expect("sign");
            assert_eq!(
                check(provider, &secret, &opts, body, &signed, now + 10_000),
                Ok(KeyUsed::Current)
            );
            assert_eq!(
                check(provider, &secret, &opts, body, &signed, now + 3_600_000),
                Err(VerifyError::StaleTimestamp),
                "{provider}"
            );
        }
        let signed = sign(Provider::Sentry, "s", &opts, body, &[], now).expect("sign");
        assert_eq!(value(&signed, "Sentry-Hook-Timestamp"), Some("1763900000"));
        let signed = sign(Provider::Stripe, "whsec_x", &opts, body, &[], now).expect("sign");
        assert!(
            value(&signed, "Stripe-Signature").is_some_and(|v| v.starts_with("t=1763900000,v1="))
        );
    }

    #[test]
    fn standard_webhooks_keeps_or_generates_the_id() {
        let secret = Provider::StandardWebhooks.generate_secret();
        let opts = ProviderOptions::default();
        let extra = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("Webhook-Id".to_owned(), "msg_given".to_owned()),
            ("webhook-signature".to_owned(), "v1,stale".to_owned()),
        ];
        let signed = sign(
            Provider::StandardWebhooks,
            &secret,
            &opts,
            b"{}",
            &extra,
            NOW_MS,
        )
        .expect("sign");
        assert_eq!(value(&signed, "webhook-id"), Some("msg_given"));
        let names: Vec<&str> = signed.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "Content-Type",
                "Webhook-Id",
                "webhook-timestamp",
                "webhook-signature"
            ]
        );
        assert_eq!(
            check(
                Provider::StandardWebhooks,
                &secret,
                &opts,
                b"{}",
                &signed,
                NOW_MS
            ),
            Ok(KeyUsed::Current)
        );
        let a = sign(
            Provider::StandardWebhooks,
            &secret,
            &opts,
            b"{}",
            &[],
            NOW_MS,
        )
        .expect("sign");
        let b = sign(
            Provider::StandardWebhooks,
            &secret,
            &opts,
            b"{}",
            &[],
            NOW_MS,
        )
        .expect("sign");
        let id = value(&a, "webhook-id").expect("generated id");
        assert!(id.starts_with("msg_"));
        assert_ne!(value(&b, "webhook-id"), Some(id));
        assert!(matches!(
            sign(
                Provider::StandardWebhooks,
                "whsec_!!",
                &opts,
                b"{}",
                &[],
                NOW_MS
            ),
            Err(VerifyError::Misconfigured(_))
        ));
    }

    #[test]
    fn open_webui_carries_the_token_in_the_query() {
        let opts = ProviderOptions::default();
        let signed = sign(Provider::OpenWebUi, "a b&c=d", &opts, b"{}", &[], NOW_MS).expect("sign");
        assert_eq!(signed.query.as_deref(), Some("token=a+b%26c%3Dd"));
        assert!(signed.headers.is_empty());
        assert_eq!(
            check(
                Provider::OpenWebUi,
                "a b&c=d",
                &opts,
                b"{}",
                &signed,
                NOW_MS
            ),
            Ok(KeyUsed::Current)
        );
    }

    #[test]
    fn custom_follows_its_options() {
        let body = br#"{"type":"build.done"}"#;
        let secret = "custom-secret";
        let cases = [
            (json!({}), "X-Signature", ""),
            (
                json!({"mode": "hmac", "header": "X-Hub-Sig", "prefix": "sha256=", "encoding": "base64"}),
                "X-Hub-Sig",
                "sha256=",
            ),
            (
                json!({"mode": "hmac", "header": "X-Sig", "prefix": "sha256=", "encoding": "hex"}),
                "X-Sig",
                "sha256=",
            ),
            (json!({"mode": "token"}), "X-Webhook-Token", "custom-secret"),
            (
                json!({"mode": "token", "header": "Authorization", "prefix": "Bearer "}),
                "Authorization",
                "Bearer custom-secret",
            ),
        ];
        for (options, header, starts) in cases {
            let opts = custom(options.clone());
            let signed = sign(Provider::Custom, secret, &opts, body, &[], NOW_MS).expect("sign");
            assert!(
                value(&signed, header).is_some_and(|v| v.starts_with(starts)),
                "{options}: {signed:?}"
            );
            assert_eq!(
                check(Provider::Custom, secret, &opts, body, &signed, NOW_MS),
                Ok(KeyUsed::Current),
                "{options}"
            );
            assert_eq!(
                check(Provider::Custom, "other", &opts, body, &signed, NOW_MS),
                Err(VerifyError::BadSignature),
                "{options}"
            );
        }
        // No options at all are the defaults.
        let none = ProviderOptions::default();
        let signed = sign(Provider::Custom, secret, &none, body, &[], NOW_MS).expect("sign");
        assert_eq!(
            check(Provider::Custom, secret, &none, body, &signed, NOW_MS),
            Ok(KeyUsed::Current)
        );
    }

    #[test]
    fn unusable_secrets_are_misconfigured() {
        let opts = ProviderOptions::default();
        for provider in Provider::ALL {
            assert!(
                matches!(
                    sign(provider, "", &opts, b"{}", &[], NOW_MS),
                    Err(VerifyError::Misconfigured(_))
                ),
                "{provider}"
            );
        }
        for bad in ["line\nbreak", " padded", "caf\u{e9}"] {
            assert!(matches!(
                sign(Provider::GitLab, bad, &opts, b"{}", &[], NOW_MS),
                Err(VerifyError::Misconfigured(_))
            ));
        }
        let token = custom(json!({"mode": "token"}));
        assert!(matches!(
            sign(Provider::Custom, "a\r\nb", &token, b"{}", &[], NOW_MS),
            Err(VerifyError::Misconfigured(_))
        ));
    }

    #[test]
    fn extra_headers_are_kept_and_signing_headers_replace_theirs() {
        let opts = ProviderOptions::default();
        let extra = vec![
            ("X-GitHub-Event".to_owned(), "push".to_owned()),
            ("x-hub-signature-256".to_owned(), "sha256=00".to_owned()),
        ];
        let signed = sign(Provider::GitHub, "s", &opts, b"{}", &extra, NOW_MS).expect("sign");
        assert_eq!(signed.headers.len(), 2);
        assert_eq!(signed.headers[0], extra[0]);
        assert_eq!(signed.headers[1].0, "X-Hub-Signature-256");
        assert_ne!(signed.headers[1].1, "sha256=00");
        assert_eq!(signed.query, None);
    }
}
