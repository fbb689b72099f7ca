//! Forward connector (outbox worker → `actions::execute` → here): POSTs an event (or a
//! rendered body) to another URL, signed the Standard Webhooks way so any Svix / Standard
//! Webhooks library (and webhook-mcp's own `standard-webhooks` provider) can verify it.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;

use super::client;
use super::{ActionError, Clients, Sent};

/// One forward, borrowed from `Delivery::Forward`.
pub struct Message<'a> {
    pub url: &'a str,
    pub secret: Option<&'a str>,
    pub event_type: &'a str,
    pub message_id: &'a str,
    pub body: &'a str,
    /// Sent in `hops::HEADER`, so a forward that comes back here stops (see `hops`).
    pub hops: u32,
    /// The target's own headers (`target.headers`), opened: sent as given, a `Content-Type`
    /// among them in place of the one guessed from the body.
    pub headers: &'a BTreeMap<String, String>,
}

pub(super) async fn send(clients: &Clients, msg: &Message<'_>) -> Result<Sent, ActionError> {
    let (http, url) = clients.for_url(msg.url, false)?;
    // Signed at send time, so a retry hours later still falls inside the receiver's
    // timestamp window; the id stays the same so the receiver can deduplicate.
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let (body, headers) = request(msg, ts);
    let req = http.post(url).headers(headers).body(body.to_owned());
    let reply = client::send_forward("forward target", req).await?;
    Ok(reply.sent(None))
}

/// The body and headers of `msg` sent at `ts` (Unix seconds): the target's own headers, then
/// those the forward sets itself (which a target may not name), signed (`webhook-signature`)
/// only when it has a secret. One function, so that the check of a forward to this server's
/// own receiver (`service::commands`) verifies what is sent.
pub fn request<'a>(msg: &Message<'a>, ts: i64) -> (&'a str, HeaderMap) {
    let (body, content_type) = labelled(msg.body);
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    for (name, value) in msg.headers {
        // Checked when the command was saved (`engine::target_headers`), so none is lost.
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(mut value)) => {
                // Every value is a secret: left out of debug output, and scrubbed from the
                // answer as a credential the request carried (`scrub::SentSecrets`).
                value.set_sensitive(true);
                headers.insert(name, value);
            }
            _ => {
                tracing::warn!(header = %name, "a forward's header is not one HTTP takes: left out")
            }
        }
    }
    let mut put = |name: &'static str, value: String| {
        // Every value here is visible ASCII (`header_safe`, digits, base64), so none is lost.
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    put("webhook-id", msg.message_id.to_owned());
    put("webhook-timestamp", ts.to_string());
    put(EVENT_HEADER, header_safe(msg.event_type));
    put(super::hops::HEADER, msg.hops.to_string());
    if let Some(secret) = msg.secret.filter(|s| !s.is_empty()) {
        put(
            "webhook-signature",
            sign_standard(secret, msg.message_id, ts, body),
        );
    }
    (body, headers)
}

/// The body to send and its content type. A template may render plain text; its label says
/// so rather than promise JSON. A sender's byte-order mark (which our receiver skips) is
/// dropped from JSON, since the receivers' JSON parsers refuse it.
fn labelled(body: &str) -> (&str, &'static str) {
    let is_json = |b: &str| serde_json::from_str::<serde::de::IgnoredAny>(b).is_ok();
    match body.strip_prefix('\u{feff}') {
        Some(rest) if is_json(rest) => (rest, "application/json"),
        _ if is_json(body) => (body, "application/json"),
        _ => (body, "text/plain; charset=utf-8"),
    }
}

/// The header a forward names its event's type in, percent-encoded ([`header_safe`]). The
/// body may name no type of its own (a GitHub event's does not), so the `standard-webhooks`
/// provider reads this one back ([`event_type_of_header`]) where the body has no `type`.
pub const EVENT_HEADER: &str = "X-Webhook-Event";

/// The event type an [`EVENT_HEADER`] value names: [`header_safe`] undone. A value that is not
/// what `header_safe` writes (a `%` without two hex digits after it, escapes that are not
/// UTF-8) is taken as it stands.
pub fn event_type_of_header(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_owned())
}

/// `value` as a header value: a custom source's event type comes from its payload and may hold
/// any character, but a header takes visible ASCII only, so the rest (and `%`) are
/// percent-encoded byte by byte.
fn header_safe(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if (0x21..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Why a forward's signing secret that [`standard_key`] cannot read is refused.
pub const NOT_A_STANDARD_SECRET: &str = "a forward's signing secret is a Standard Webhooks \
    secret: `whsec_` followed by base64 (e.g. `whsec_` + `openssl rand -base64 32`), as the \
    receiving side's library loads it; leave it out to send unsigned";

/// A Standard Webhooks secret's key, as the receivers' libraries read it: base64 after an
/// optional `whsec_`, not empty. `None` for a secret they would refuse.
pub fn standard_key(secret: &str) -> Option<Vec<u8>> {
    let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
    STANDARD_PAD_INDIFFERENT
        .decode(raw)
        .ok()
        .filter(|k| !k.is_empty())
}

/// The `webhook-signature` value: `v1,` + base64 HMAC-SHA256 of `{id}.{ts}.{body}`. The key
/// is the secret without `whsec_`, base64-decoded; a secret that is not base64 is used as
/// its UTF-8 bytes (other Standard Webhooks verifiers, ours included, refuse such secrets).
pub fn sign_standard(secret: &str, id: &str, ts: i64, body: &str) -> String {
    let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = standard_key(secret).unwrap_or_else(|| raw.as_bytes().to_vec());
    // HMAC takes keys of any length, so this never fails.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("HMAC accepts any key length");
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wiremock::matchers::{body_string, header, header_exists, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::actions::client::testing::clients;
    use crate::actions::{Credentials, Delivery, execute};

    const BODY: &str = r#"{"type":"issues.opened","n":1}"#;

    fn forward(url: String, secret: Option<&str>) -> Delivery {
        Delivery::Forward {
            url,
            secret: secret.map(str::to_owned),
            event_type: "issues.opened".into(),
            message_id: "msg_1".into(),
            body: BODY.into(),
            hops: 0,
            headers: BTreeMap::new(),
        }
    }

    #[test]
    fn the_signature_matches_the_standard_webhooks_test_vector() {
        let sig = sign_standard(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn event_types_become_header_safe() {
        let cases = [
            ("issues.opened", "issues.opened"),
            ("commande.créée", "commande.cr%C3%A9%C3%A9e"),
            ("a\r\nb", "a%0D%0Ab"),
            ("100%", "100%25"),
            // A space is no visible character either (and would be trimmed at the ends).
            ("order created", "order%20created"),
        ];
        for (raw, expected) in cases {
            assert_eq!(header_safe(raw), expected, "{raw:?}");
            assert!(reqwest::header::HeaderValue::from_str(&header_safe(raw)).is_ok());
        }
    }

    #[test]
    fn event_types_read_back_from_the_header_as_they_were() {
        for raw in [
            "issues.opened",
            "commande.créée",
            "a\r\nb",
            "100%",
            "%41",
            "a+b c",
        ] {
            assert_eq!(event_type_of_header(&header_safe(raw)), raw, "{raw:?}");
        }
        // Not what a forward writes: taken as it stands.
        for odd in ["50%", "%zz", "%C3", "%"] {
            assert_eq!(event_type_of_header(odd), odd, "{odd:?}");
        }
    }

    #[tokio::test]
    async fn a_plain_text_forward_with_an_odd_event_type_is_sent_labelled_as_text() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/in"))
            .and(header("content-type", "text/plain; charset=utf-8"))
            .and(header("x-webhook-event", "commande.cr%C3%A9%C3%A9e"))
            .and(body_string("pushed to main by bob"))
            .and(header("x-webhook-mcp-hops", "3"))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        let d = Delivery::Forward {
            url: format!("{}/in", server.uri()),
            secret: None,
            event_type: "commande.créée".into(),
            message_id: "msg_2".into(),
            body: "pushed to main by bob".into(),
            hops: 3,
            headers: BTreeMap::new(),
        };
        let sent = execute(&clients(), &Credentials::default(), &d)
            .await
            .unwrap();
        assert_eq!(sent.status, 204);
    }

    #[test]
    fn a_secret_that_is_not_base64_signs_with_its_bytes() {
        let a = sign_standard("not base64!", "id", 1, "{}");
        let b = sign_standard("whsec_not base64!", "id", 1, "{}");
        assert!(a.starts_with("v1,"));
        assert_eq!(a, b);
    }

    #[tokio::test]
    async fn a_forward_carries_the_body_and_a_verifiable_signature() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/in"))
            .and(header("content-type", "application/json"))
            .and(header("webhook-id", "msg_1"))
            .and(header("x-webhook-event", "issues.opened"))
            .and(header_exists("webhook-timestamp"))
            .and(header_exists("webhook-signature"))
            .and(body_string(BODY))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let d = forward(format!("{}/in", server.uri()), Some(secret));
        let sent = execute(&clients(), &Credentials::default(), &d)
            .await
            .unwrap();
        assert_eq!(sent.status, 204);

        let req = &server.received_requests().await.unwrap()[0];
        let ts: i64 = req.headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let sig = req.headers["webhook-signature"].to_str().unwrap();
        assert_eq!(sig, sign_standard(secret, "msg_1", ts, BODY));
    }

    #[test]
    fn a_target_s_own_headers_are_sent_and_its_content_type_replaces_the_guess() {
        let headers: BTreeMap<String, String> = [
            ("Authorization", "Bearer tok"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .into();
        let msg = Message {
            url: "https://api.example/in",
            secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            event_type: "issues.labeled",
            message_id: "msg_1",
            body: "a=1&b=2",
            hops: 1,
            headers: &headers,
        };
        let (body, sent) = request(&msg, 7);
        assert_eq!(body, "a=1&b=2");
        assert_eq!(sent["authorization"], "Bearer tok");
        assert!(sent["authorization"].is_sensitive());
        assert_eq!(sent["content-type"], "application/x-www-form-urlencoded");
        assert_eq!(sent.get_all("content-type").iter().count(), 1);
        // Still signed, over the body as sent.
        let secret = msg.secret.unwrap_or_default();
        assert_eq!(
            sent["webhook-signature"],
            sign_standard(secret, "msg_1", 7, body).as_str()
        );
        assert_eq!(sent["webhook-id"], "msg_1");
    }

    #[tokio::test]
    async fn a_forward_without_a_secret_is_sent_unsigned() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&server)
            .await;
        let d = forward(format!("{}/in", server.uri()), None);
        execute(&clients(), &Credentials::default(), &d)
            .await
            .unwrap();
        let req = &server.received_requests().await.unwrap()[0];
        assert!(req.headers.get("webhook-signature").is_none());
        assert!(req.headers.get("webhook-id").is_some());
    }

    #[tokio::test]
    async fn forward_errors_are_classified_for_retry() {
        let cases = [
            (500, true),
            (408, true),
            (429, true),
            (404, false),
            (410, false),
        ];
        for (status, retryable) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(status).insert_header("Retry-After", "7"))
                .mount(&server)
                .await;
            let d = forward(format!("{}/in", server.uri()), None);
            let err = execute(&clients(), &Credentials::default(), &d)
                .await
                .unwrap_err();
            assert_eq!(err.retryable, retryable, "{status}");
            if status == 429 {
                assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
            }
        }
    }

    #[tokio::test]
    async fn a_loopback_target_that_is_not_allowlisted_is_refused_without_a_request() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        let strict = Clients::new(vec!["open-webui:8080".into()], Duration::from_secs(5));
        let port = server.address().port();
        for url in [
            format!("{}/in", server.uri()),
            format!("http://localhost:{port}/in"),
            format!("http://[::ffff:127.0.0.1]:{port}/in"),
        ] {
            let err = execute(
                &strict,
                &Credentials::default(),
                &forward(url.clone(), None),
            )
            .await
            .unwrap_err();
            assert!(!err.retryable, "{url}");
            assert!(err.message.contains("private"), "{}", err.message);
            assert!(
                err.message.contains("ALLOWED_TARGET_HOSTS"),
                "{}",
                err.message
            );
        }
    }

    #[tokio::test]
    async fn a_host_allowlisted_on_another_port_is_still_refused() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        let other = Clients::new(vec!["127.0.0.1:1".into()], Duration::from_secs(5));
        let err = execute(
            &other,
            &Credentials::default(),
            &forward(format!("{}/in", server.uri()), None),
        )
        .await
        .unwrap_err();
        assert!(!err.retryable);
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed() {
        let inner = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&inner)
            .await;
        let outer = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("Location", format!("{}/internal", inner.uri())),
            )
            .expect(1)
            .mount(&outer)
            .await;
        let d = forward(format!("{}/in", outer.uri()), None);
        let err = execute(&clients(), &Credentials::default(), &d)
            .await
            .unwrap_err();
        assert!(!err.retryable);
        assert_eq!(err.status, Some(302));
        assert!(err.message.contains("not followed"), "{}", err.message);
    }
}
