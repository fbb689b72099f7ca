//! Stripe: the receive path's verify + describe step (`Stripe-Signature: t=..,v1=..`, the
//! event's `type` and `id`).

use axum::http::HeaderMap;
use serde_json::Value;
use subtle::{Choice, ConstantTimeEq};

use super::common::{described, detail, header, hmac_sha256, raw_at, secret_bytes, source, str_at};
use super::{DEFAULT_TOLERANCE_SECS, Described, KeyUsed, Request, Secrets, VerifyError};

const SIGNATURE: &str = "Stripe-Signature";

/// HMAC of `{t}.{body}` keyed by the whole `whsec_...` string as text (Stripe does not decode
/// it, unlike Standard Webhooks). Any `v1` may match: Stripe sends one per live secret while
/// a secret is being rolled. Then, as the SDK does, only too-old timestamps are refused.
pub(super) fn verify(
    secrets: Secrets<'_>,
    req: &Request<'_>,
    tolerance: Option<i64>,
) -> Result<KeyUsed, VerifyError> {
    let value = header(req.headers, SIGNATURE).ok_or(VerifyError::MissingHeader(SIGNATURE))?;
    let mut t = None;
    let mut v1_seen = false;
    let mut candidates = Vec::new();
    for (k, v) in value.split(',').filter_map(|item| item.split_once('=')) {
        match k.trim() {
            "t" if t.is_none() => t = Some(v.trim()),
            "v1" => {
                v1_seen = true;
                // A v1 that is not hex can never match; it is skipped, not an error.
                candidates.extend(hex::decode(v.trim()).ok());
            }
            _ => {}
        }
    }
    let t: i64 = t
        .ok_or(VerifyError::Malformed(
            "no t= timestamp in Stripe-Signature",
        ))?
        .parse()
        .map_err(|_| VerifyError::Malformed("t= is not an integer"))?;
    if !v1_seen {
        return Err(VerifyError::Malformed(
            "no v1 signature in Stripe-Signature",
        ));
    }
    // The SDK signs the parsed integer, so that is what is formatted back.
    let t_text = t.to_string();
    let used = secrets.try_each(|secret| {
        let parts: [&[u8]; 3] = [t_text.as_bytes(), b".", req.body];
        let mac = hmac_sha256(secret_bytes(secret)?, &parts).ok_or(VerifyError::BadSignature)?;
        let matched = candidates
            .iter()
            .fold(Choice::from(0), |acc, c: &Vec<u8>| acc | mac.ct_eq(c));
        if bool::from(matched) {
            Ok(())
        } else {
            Err(VerifyError::BadSignature)
        }
    })?;
    let tolerance = tolerance.unwrap_or(DEFAULT_TOLERANCE_SECS).max(0);
    if t < req.now_secs().saturating_sub(tolerance) {
        return Err(VerifyError::StaleTimestamp);
    }
    Ok(used)
}

/// `payment_intent.succeeded`, keyed by the object the event is about (`pi_...`, `in_...`).
pub(super) fn describe(_headers: &HeaderMap, payload: &Value) -> Described {
    let event_type = str_at(payload, "/type").unwrap_or_else(|| "unknown".into());
    let src = str_at(payload, "/data/object/id").map(|id| {
        let d = detail([("object", raw_at(payload, "/data/object/object"))]);
        source("stripe.object", id, d)
    });
    described(event_type, str_at(payload, "/id"), src)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::common::test_support::{headers, hex_hmac, only, req, rotating};
    use serde_json::json;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id": "evt_test_webhook", "object": "event"}"#;
    const NOW: i64 = 1_700_000_000;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        hex_hmac(secret, &[t.to_string().as_bytes(), b".", body])
    }

    #[test]
    fn verify_table() {
        let good = format!("t={NOW},v1={}", sign(SECRET, NOW, BODY));
        let several = format!("t={NOW},v1=00ff,v1={},v0=abc", sign(SECRET, NOW, BODY));
        let old = format!("t={NOW},v1={}", sign("whsec_old", NOW, BODY));
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
                Some(&several),
                BODY,
                NOW,
                only(SECRET),
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
                only("whsec_other"),
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
                "stale",
                Some(&good),
                BODY,
                NOW + 301,
                only(SECRET),
                Err(VerifyError::StaleTimestamp),
            ),
            (
                "future is fine",
                Some(&good),
                BODY,
                NOW - 3600,
                only(SECRET),
                Ok(KeyUsed::Current),
            ),
            (
                "no v1",
                Some("t=1,v0=ab"),
                BODY,
                NOW,
                only(SECRET),
                Err(VerifyError::Malformed(
                    "no v1 signature in Stripe-Signature",
                )),
            ),
            (
                "no t",
                Some("v1=ab"),
                BODY,
                NOW,
                only(SECRET),
                Err(VerifyError::Malformed(
                    "no t= timestamp in Stripe-Signature",
                )),
            ),
            (
                "rotation",
                Some(&old),
                BODY,
                NOW,
                rotating(SECRET, "whsec_old"),
                Ok(KeyUsed::Previous),
            ),
        ];
        for (name, sig, body, now, secrets, want) in cases {
            let h = headers(&sig.map(|s| vec![(SIGNATURE, s)]).unwrap_or_default());
            assert_eq!(verify(secrets, &req(&h, body, now), None), want, "{name}");
        }
        let h = headers(&[(SIGNATURE, &good)]);
        assert_eq!(
            verify(only(SECRET), &req(&h, BODY, NOW + 301), Some(600)),
            Ok(KeyUsed::Current)
        );
    }

    #[test]
    fn window_edge_is_inclusive() {
        let h = headers(&[(
            SIGNATURE,
            &format!("t={NOW},v1={}", sign(SECRET, NOW, BODY)),
        )]);
        let at = |now, tolerance| verify(only(SECRET), &req(&h, BODY, now), tolerance);
        assert_eq!(at(NOW + 300, None), Ok(KeyUsed::Current));
        assert_eq!(at(NOW + 301, None), Err(VerifyError::StaleTimestamp));
        assert_eq!(at(NOW + 10, Some(10)), Ok(KeyUsed::Current));
        assert_eq!(at(NOW + 11, Some(10)), Err(VerifyError::StaleTimestamp));
        assert_eq!(at(NOW, Some(0)), Ok(KeyUsed::Current));
        assert_eq!(at(NOW + 1, Some(0)), Err(VerifyError::StaleTimestamp));
    }

    #[test]
    fn every_matching_v1_is_accepted() {
        let sig = sign(SECRET, NOW, BODY);
        let old = sign("whsec_old", NOW, BODY);
        let twice = format!("t={NOW},v1={sig},v1={sig}");
        let both = format!("t={NOW},v1={old},v1={sig}");
        for value in [&twice, &both] {
            let h = headers(&[(SIGNATURE, value)]);
            let r = req(&h, BODY, NOW);
            assert_eq!(
                verify(only(SECRET), &r, None),
                Ok(KeyUsed::Current),
                "{value}"
            );
            let rot = rotating(SECRET, "whsec_old");
            assert_eq!(verify(rot, &r, None), Ok(KeyUsed::Current), "{value}");
        }
    }

    #[test]
    fn first_t_is_the_signed_one() {
        let sig = sign(SECRET, NOW, BODY);
        let h = headers(&[(SIGNATURE, &format!("t={NOW},t=1,v1={sig}"))]);
        assert_eq!(
            verify(only(SECRET), &req(&h, BODY, NOW), None),
            Ok(KeyUsed::Current)
        );
        let h = headers(&[(SIGNATURE, &format!("t=1,t={NOW},v1={sig}"))]);
        assert_eq!(
            verify(only(SECRET), &req(&h, BODY, NOW), None),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn describe_reads_event() {
        let payload = json!({"id": "evt_1", "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_1", "object": "payment_intent"}}});
        let d = describe(&headers(&[]), &payload);
        assert_eq!(d.event_type, "payment_intent.succeeded");
        assert_eq!(d.delivery_id.as_deref(), Some("evt_1"));
        let src = d.source.expect("source");
        assert_eq!(
            (src.kind.as_str(), src.key.as_str()),
            ("stripe.object", "pi_1")
        );
        assert_eq!(
            Some(src.detail),
            json!({"object": "payment_intent"}).as_object().cloned()
        );
        assert_eq!(describe(&headers(&[]), &json!({})).event_type, "unknown");
    }
}
