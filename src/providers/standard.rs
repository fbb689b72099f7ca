//! Standard Webhooks (Svix, OpenAI, GitLab signing tokens): the receive path's verify +
//! describe step for `webhook-id` / `webhook-timestamp` / `webhook-signature`, or the same
//! three as `svix-*`, the names Svix itself sends.

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use rand::Rng as _;
use serde_json::Value;
use subtle::{Choice, ConstantTimeEq};

use super::common::{described, header, hmac_sha256, parse_ts, str_at, within};
use super::{DEFAULT_TOLERANCE_SECS, Described, KeyUsed, Request, Secrets, VerifyError};

const ID: &str = "webhook-id";
const TIMESTAMP: &str = "webhook-timestamp";
const SIGNATURE: &str = "webhook-signature";
pub(super) const PREFIX: &str = "whsec_";

/// The three headers of one naming. Svix sends `svix-*` (unbranded senders the spec's
/// `webhook-*`) and its libraries accept both, so a webhook set up as `svix` must too.
struct Names {
    id: &'static str,
    timestamp: &'static str,
    signature: &'static str,
}

const SPEC: Names = Names {
    id: ID,
    timestamp: TIMESTAMP,
    signature: SIGNATURE,
};
const SVIX: Names = Names {
    id: "svix-id",
    timestamp: "svix-timestamp",
    signature: "svix-signature",
};

/// The spec's names unless the request carries only Svix's; one request never mixes them.
fn names(headers: &HeaderMap) -> &'static Names {
    let any_of = |n: &Names| {
        [n.id, n.timestamp, n.signature]
            .iter()
            .any(|h| header(headers, h).is_some())
    };
    // By the signature first; without one, by whichever family's headers came, so a missing
    // `svix-signature` beside `svix-id` is named as such.
    let svix = match (
        header(headers, SPEC.signature),
        header(headers, SVIX.signature),
    ) {
        (Some(_), _) => false,
        (None, Some(_)) => true,
        (None, None) => any_of(&SVIX) && !any_of(&SPEC),
    };
    if svix { &SVIX } else { &SPEC }
}

/// `whsec_` + base64 of 32 random bytes, the form the Standard Webhooks libraries accept.
pub fn generate_secret() -> String {
    let mut rng = rand::rng();
    let mut key = [0u8; 32];
    rng.fill_bytes(&mut key);
    format!("{PREFIX}{}", STANDARD.encode(key))
}

/// Checks the timestamp window (both directions, as the libraries do) and then any `v1`
/// entry of the space-separated signature list. GitLab's signing-token mode calls this too.
pub(super) fn verify(
    secrets: Secrets<'_>,
    req: &Request<'_>,
    tolerance: Option<i64>,
) -> Result<KeyUsed, VerifyError> {
    let names = names(req.headers);
    let id = header(req.headers, names.id).ok_or(VerifyError::MissingHeader(names.id))?;
    let ts_raw =
        header(req.headers, names.timestamp).ok_or(VerifyError::MissingHeader(names.timestamp))?;
    let list =
        header(req.headers, names.signature).ok_or(VerifyError::MissingHeader(names.signature))?;
    let ts = parse_ts(ts_raw, "the signature timestamp is not an integer")?;
    if !within(
        req.now_secs(),
        ts,
        tolerance.unwrap_or(DEFAULT_TOLERANCE_SECS),
    ) {
        return Err(VerifyError::StaleTimestamp);
    }
    // Other versions (v1a asymmetric, future ones) are skipped, as the libraries skip them.
    let v1: Vec<&str> = list
        .split_whitespace()
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .map(|(_, sig)| sig)
        .collect();
    if v1.is_empty() {
        return Err(VerifyError::Malformed(
            "no v1 signature in the signature header",
        ));
    }
    // A v1 entry that is not base64 matches nothing, as in the libraries (which compare the
    // text): it is a signature that does not match, not a missing one.
    let candidates: Vec<Vec<u8>> = v1
        .iter()
        .filter_map(|sig| STANDARD_PAD_INDIFFERENT.decode(sig).ok())
        .collect();
    // The libraries sign the parsed integer, so `0123` is signed as `123`.
    let ts_text = ts.to_string();
    secrets.try_each(|secret| {
        let key = decode_secret(secret)?;
        let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts_text.as_bytes(), b".", req.body];
        let mac = hmac_sha256(&key, &parts).ok_or(VerifyError::BadSignature)?;
        let matched = candidates
            .iter()
            .fold(Choice::from(0), |acc, c| acc | mac.ct_eq(c));
        if bool::from(matched) {
            Ok(())
        } else {
            Err(VerifyError::BadSignature)
        }
    })
}

/// The HMAC key: the secret without `whsec_`, base64-decoded (padding optional, like the
/// Python library). A secret that is not base64 can never verify, so it is a configuration
/// error rather than a bad signature.
pub(super) fn decode_secret(secret: &str) -> Result<Vec<u8>, VerifyError> {
    let b64 = secret.strip_prefix(PREFIX).unwrap_or(secret);
    match STANDARD_PAD_INDIFFERENT.decode(b64) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err(VerifyError::Misconfigured(
            "a Standard Webhooks secret must be whsec_<base64>".into(),
        )),
    }
}

/// Event type from the body's `type` (the spec's recommendation), else its `event`; else the
/// `X-Webhook-Event` header a `forward` names its event's type in, since the body it passes
/// on (a GitHub event's) often names none. The header is not signed, so it never overrides
/// what the signed body says. The delivery id is `webhook-id` (or `svix-id`), the spec's
/// idempotency key. The spec defines no thread, so no source.
pub(super) fn describe(headers: &HeaderMap, payload: &Value) -> Described {
    let event_type = str_at(payload, "/type")
        .or_else(|| str_at(payload, "/event"))
        .or_else(|| forwarded_type(headers))
        .unwrap_or_else(|| "unknown".into());
    let delivery = header(headers, names(headers).id).map(str::to_owned);
    described(event_type, delivery, None)
}

/// The type a forward names in its `X-Webhook-Event` header, percent-decoded. The header is
/// not signed (the signature covers the id, timestamp and body only), so it never overrides
/// the body's own `type` or `event`; one that decodes to control characters or spaces, or to
/// more than a trigger may hold, is none: no trigger could match it.
pub(super) fn forwarded_type(headers: &HeaderMap) -> Option<String> {
    header(headers, crate::actions::EVENT_HEADER)
        .map(crate::actions::event_type_of_header)
        .filter(|t| {
            t.chars().count() <= FORWARDED_TYPE_MAX
                && !t.chars().any(|c| c.is_control() || c.is_whitespace())
        })
}

/// The longest type taken from the header: a trigger's own limit.
const FORWARDED_TYPE_MAX: usize = 200;

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::providers::common::test_support::{headers, only, req, rotating};
    use serde_json::json;

    /// Signs like a Standard Webhooks sender; GitLab's tests reuse it.
    pub(in crate::providers) fn sign(secret: &str, id: &str, ts: i64, body: &[u8]) -> String {
        let key = decode_secret(secret).expect("test secret");
        let ts = ts.to_string();
        let mac = hmac_sha256(&key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
        format!("v1,{}", STANDARD.encode(mac.expect("hmac")))
    }

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const OLD: &str = "whsec_c2VjcmV0LXR3by1ieXRlcy1mb3ItdGVzdHM=";
    const BODY: &[u8] = br#"{"type":"contact.created"}"#;
    const NOW: i64 = 1_700_000_000;

    #[test]
    fn generated_secrets_round_trip() {
        let s = generate_secret();
        assert!(s.starts_with(PREFIX));
        assert_eq!(decode_secret(&s).map(|k| k.len()), Ok(32));
    }

    #[test]
    fn verify_table() {
        let good = sign(SECRET, "msg_1", NOW, BODY);
        let old = sign(OLD, "msg_1", NOW, BODY);
        let listed = format!("v1a,AAAA v1,bm9wZQ== {good}");
        let unpadded = OLD.trim_end_matches('=');
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            &'a [u8],
            i64,
            Secrets<'a>,
            Result<KeyUsed, VerifyError>,
        );
        let cases: Vec<Case> = vec![
            (
                "valid",
                Some(&good),
                BODY,
                NOW,
                only(SECRET),
                Ok(KeyUsed::Current),
            ),
            (
                "one of several",
                Some(&listed),
                BODY,
                NOW,
                only(SECRET),
                Ok(KeyUsed::Current),
            ),
            (
                "unpadded secret",
                Some(&old),
                BODY,
                NOW,
                only(unpadded),
                Ok(KeyUsed::Current),
            ),
            (
                "tampered",
                Some(&good),
                b"{}",
                NOW,
                only(SECRET),
                Err(VerifyError::BadSignature),
            ),
            (
                "wrong secret",
                Some(&good),
                BODY,
                NOW,
                only(OLD),
                Err(VerifyError::BadSignature),
            ),
            (
                "missing",
                None,
                BODY,
                NOW,
                only(SECRET),
                Err(VerifyError::MissingHeader(SIGNATURE)),
            ),
            (
                "too old",
                Some(&good),
                BODY,
                NOW + 301,
                only(SECRET),
                Err(VerifyError::StaleTimestamp),
            ),
            (
                "too new",
                Some(&good),
                BODY,
                NOW - 301,
                only(SECRET),
                Err(VerifyError::StaleTimestamp),
            ),
            (
                "edge of window",
                Some(&good),
                BODY,
                NOW + 300,
                only(SECRET),
                Ok(KeyUsed::Current),
            ),
            (
                "only v1a",
                Some("v1a,AAAA"),
                BODY,
                NOW,
                only(SECRET),
                Err(VerifyError::Malformed(
                    "no v1 signature in the signature header",
                )),
            ),
            (
                "v1 not base64",
                Some("v1,!!notbase64"),
                BODY,
                NOW,
                only(SECRET),
                Err(VerifyError::BadSignature),
            ),
            (
                "v1 with a trailing field",
                Some("v1,AAAA,extra"),
                BODY,
                NOW,
                only(SECRET),
                Err(VerifyError::BadSignature),
            ),
            (
                "rotation",
                Some(&old),
                BODY,
                NOW,
                rotating(SECRET, OLD),
                Ok(KeyUsed::Previous),
            ),
        ];
        for (name, sig, body, now, secrets, want) in cases {
            let ts = NOW.to_string();
            let mut pairs = vec![(ID, "msg_1"), (TIMESTAMP, ts.as_str())];
            pairs.extend(sig.map(|s| (SIGNATURE, s)));
            let h = headers(&pairs);
            assert_eq!(verify(secrets, &req(&h, body, now), None), want, "{name}");
        }
    }

    #[test]
    fn svix_header_names_verify_and_name_the_delivery() {
        let good = sign(SECRET, "msg_svix", NOW, BODY);
        let ts = NOW.to_string();
        let h = headers(&[
            ("svix-id", "msg_svix"),
            ("svix-timestamp", &ts),
            ("svix-signature", &good),
        ]);
        assert_eq!(
            verify(only(SECRET), &req(&h, BODY, NOW), None),
            Ok(KeyUsed::Current)
        );
        let payload = serde_json::from_slice(BODY).unwrap();
        assert_eq!(
            describe(&h, &payload).delivery_id.as_deref(),
            Some("msg_svix")
        );
        // The id is signed: another id under the same signature fails.
        let h = headers(&[
            ("svix-id", "msg_other"),
            ("svix-timestamp", &ts),
            ("svix-signature", &good),
        ]);
        assert_eq!(
            verify(only(SECRET), &req(&h, BODY, NOW), None),
            Err(VerifyError::BadSignature)
        );
        // Half of each naming is not a signed request.
        let h = headers(&[
            ("webhook-id", "msg_svix"),
            ("svix-timestamp", &ts),
            ("svix-signature", &good),
        ]);
        assert_eq!(
            verify(only(SECRET), &req(&h, BODY, NOW), None),
            Err(VerifyError::MissingHeader("svix-id"))
        );
        // Svix's headers but its signature: that is what is named missing.
        let h = headers(&[("svix-id", "msg_svix"), ("svix-timestamp", &ts)]);
        assert_eq!(
            verify(only(SECRET), &req(&h, BODY, NOW), None),
            Err(VerifyError::MissingHeader("svix-signature"))
        );
    }

    #[test]
    fn bad_secret_is_misconfigured_and_tolerance_is_configurable() {
        let good = sign(SECRET, "msg_1", NOW, BODY);
        let ts = NOW.to_string();
        let h = headers(&[(ID, "msg_1"), (TIMESTAMP, &ts), (SIGNATURE, &good)]);
        let r = req(&h, BODY, NOW);
        assert!(matches!(
            verify(only("not base64!"), &r, None),
            Err(VerifyError::Misconfigured(_))
        ));
        let late = req(&h, BODY, NOW + 1000);
        assert_eq!(
            verify(only(SECRET), &late, Some(2000)),
            Ok(KeyUsed::Current)
        );
        let h = headers(&[(ID, "msg_1"), (SIGNATURE, &good)]);
        assert_eq!(
            verify(only(SECRET), &req(&h, BODY, NOW), None),
            Err(VerifyError::MissingHeader(TIMESTAMP))
        );
    }

    #[test]
    fn window_edges_are_inclusive_both_ways() {
        let good = sign(SECRET, "msg_1", NOW, BODY);
        let ts = NOW.to_string();
        let h = headers(&[(ID, "msg_1"), (TIMESTAMP, &ts), (SIGNATURE, &good)]);
        let at = |now, tolerance| verify(only(SECRET), &req(&h, BODY, now), tolerance);
        for (now, want) in [
            (NOW + 300, Ok(KeyUsed::Current)),
            (NOW - 300, Ok(KeyUsed::Current)),
            (NOW + 301, Err(VerifyError::StaleTimestamp)),
            (NOW - 301, Err(VerifyError::StaleTimestamp)),
        ] {
            assert_eq!(at(now, None), want, "{now}");
        }
        assert_eq!(at(NOW, Some(0)), Ok(KeyUsed::Current));
        assert_eq!(at(NOW + 1, Some(0)), Err(VerifyError::StaleTimestamp));
        assert_eq!(at(NOW - 1, Some(0)), Err(VerifyError::StaleTimestamp));
    }

    #[test]
    fn every_matching_v1_is_accepted() {
        let good = sign(SECRET, "msg_1", NOW, BODY);
        let old = sign(OLD, "msg_1", NOW, BODY);
        let ts = NOW.to_string();
        for list in [format!("{good} {good}"), format!("{old} {good}")] {
            let h = headers(&[(ID, "msg_1"), (TIMESTAMP, &ts), (SIGNATURE, &list)]);
            let r = req(&h, BODY, NOW);
            assert_eq!(
                verify(only(SECRET), &r, None),
                Ok(KeyUsed::Current),
                "{list}"
            );
            assert_eq!(
                verify(rotating(SECRET, OLD), &r, None),
                Ok(KeyUsed::Current),
                "{list}"
            );
        }
    }

    #[test]
    fn empty_key_is_refused() {
        for secret in ["whsec_", "", "whsec_="] {
            assert!(
                matches!(decode_secret(secret), Err(VerifyError::Misconfigured(_))),
                "{secret:?}"
            );
        }
        let good = sign(SECRET, "msg_1", NOW, BODY);
        let ts = NOW.to_string();
        let h = headers(&[(ID, "msg_1"), (TIMESTAMP, &ts), (SIGNATURE, &good)]);
        assert!(matches!(
            verify(only("whsec_"), &req(&h, BODY, NOW), None),
            Err(VerifyError::Misconfigured(_))
        ));
    }

    #[test]
    fn describe_reads_type_and_id() {
        let h = headers(&[(ID, "msg_9")]);
        let d = describe(&h, &json!({"type": "invoice.paid", "data": {"id": "x"}}));
        assert_eq!(
            (d.event_type.as_str(), d.delivery_id.as_deref()),
            ("invoice.paid", Some("msg_9"))
        );
        assert_eq!(d.source, None);
        assert_eq!(describe(&h, &json!({"event": "ping"})).event_type, "ping");
        assert_eq!(describe(&headers(&[]), &json!({})).event_type, "unknown");
    }

    #[test]
    fn a_forwards_event_header_types_a_body_that_names_no_type() {
        let forwarded = headers(&[
            (ID, "msg_9"),
            ("X-Webhook-Event", "commande.cr%C3%A9%C3%A9e"),
        ]);
        let cases = [
            // A GitHub event's body names no type: the header does.
            (json!({"action": "opened", "issue": {}}), "commande.créée"),
            // The body's own `type` wins (a template that writes one means it).
            (json!({"type": "invoice.paid"}), "invoice.paid"),
            // An empty or non-text `type` is none; a body's `event` comes before the header.
            (json!({"type": "", "event": "ping"}), "ping"),
            (json!({"type": {"a": 1}}), "commande.créée"),
        ];
        for (body, want) in cases {
            assert_eq!(describe(&forwarded, &body).event_type, want, "{body}");
        }
        for odd in ["a%0Ab", "issues%2Eopened%20x", &"x".repeat(201)] {
            let odd = headers(&[("X-Webhook-Event", odd)]);
            assert_eq!(describe(&odd, &json!({})).event_type, "unknown", "{odd:?}");
        }
        let empty = headers(&[("X-Webhook-Event", " ")]);
        assert_eq!(
            describe(&empty, &json!({"event": "ping"})).event_type,
            "ping"
        );
    }
}
