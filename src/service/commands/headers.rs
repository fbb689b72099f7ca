//! A forward target's own headers (`target.headers`) as stored, shown and written back: each
//! value sealed as the signing secret is, masked when shown, and a mask given back restored.

use serde_json::{Map, Value};

use crate::engine::target_headers::field;
use crate::providers::MASK;
use crate::service::ServiceError;
use crate::service::sealing::{Sealer, looks_sealed};

fn headers_mut(target: &mut Value) -> Option<&mut Map<String, Value>> {
    target.get_mut("headers").and_then(Value::as_object_mut)
}

/// The text values of `target.headers`, mutably.
fn values_mut(target: &mut Value) -> impl Iterator<Item = (&String, &mut String)> {
    headers_mut(target)
        .into_iter()
        .flat_map(|h| h.iter_mut())
        .filter_map(|(name, value)| match value {
            Value::String(text) => Some((name, text)),
            _ => None,
        })
}

/// A value given in the form sealed values are stored in would be taken for one.
pub(super) fn refuse_sealed_given(target: &mut Value) -> Result<(), ServiceError> {
    match values_mut(target).find(|(_, value)| looks_sealed(value)) {
        Some((name, _)) => Err(ServiceError::invalid(
            &field(name),
            "a value starting with `enc:v1:` would be taken for an encrypted one (the form \
             sealed secrets are stored in); give the plain value",
        )),
        None => Ok(()),
    }
}

/// Headers given back as shown keep their stored values where they still show the mask (a
/// header is matched by name in any case). As with the signing secret, the stored values stay
/// with the stored URL: a mask with a new URL would send the stored token to another host.
pub(super) fn restore_masked(
    given: &mut Value,
    stored: &Value,
    same_url: bool,
) -> Result<(), ServiceError> {
    let Some(kept) = stored.get("headers").and_then(Value::as_object) else {
        return Ok(());
    };
    for (name, value) in values_mut(given) {
        if value != MASK {
            continue;
        }
        let Some(stored) = kept
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
        else {
            // Nothing stands behind it: refused when checked (`masked_left`).
            continue;
        };
        if !same_url {
            return Err(ServiceError::invalid(
                &field(name),
                "the stored value of a header stays with the stored URL: give its value again \
                 (not the mask) to forward to a new URL",
            ));
        }
        *value = stored.to_string();
    }
    Ok(())
}

/// A forward's new target given without `headers`, where the stored one has some, keeps them
/// for the same URL (a model writing back only the URL, or the target as it read it before
/// headers were added) and is refused for a new URL, where they would carry a token to another
/// host unasked; `"headers": {}` sends none from then on.
pub(super) fn keep(given: &mut Value, stored: Option<&Value>) -> Result<(), ServiceError> {
    let Some(target) = given.as_object_mut() else {
        return Ok(());
    };
    // `null`, as models send every optional field, is left out.
    if target.get("headers").is_some_and(Value::is_null) {
        target.remove("headers");
    }
    match target.get("headers") {
        Some(Value::Object(h)) if h.is_empty() => {
            target.remove("headers");
            return Ok(());
        }
        Some(_) => return Ok(()),
        None => {}
    }
    let Some(kept) = stored
        .and_then(|s| s.get("headers"))
        .and_then(Value::as_object)
        .filter(|h| !h.is_empty())
    else {
        return Ok(());
    };
    let url = target.get("url").and_then(Value::as_str);
    if url.is_some() && url != stored.and_then(|s| s.get("url")).and_then(Value::as_str) {
        let names: Vec<&str> = kept.keys().map(String::as_str).collect();
        return Err(ServiceError::invalid(
            "target.headers",
            format!(
                "this forward sends headers of its own ({}), whose values stay with the stored \
                 URL: give them again for the new URL as `target.headers`, or `\"headers\": {{}}` \
                 to send none from now on",
                names.join(", ")
            ),
        ));
    }
    target.insert("headers".into(), Value::Object(kept.clone()));
    Ok(())
}

/// Seals each plain value; whether any was.
pub(super) fn seal(sealer: &Sealer, target: &mut Value) -> bool {
    let mut changed = false;
    for (_, value) in values_mut(target) {
        if let Some(sealed) = sealer.seal_once(value) {
            *value = sealed;
            changed = true;
        }
    }
    changed
}

/// Opens each sealed value; `None` when one does not open.
pub(super) fn open(sealer: &Sealer, target: &mut Value) -> Option<()> {
    for (_, value) in values_mut(target) {
        *value = sealer.open(value).ok()?;
    }
    Some(())
}

/// Every value masked, as a target is shown: the names alone are told.
pub(super) fn mask(target: &mut Value) {
    if let Some(headers) = headers_mut(target) {
        for value in headers.values_mut() {
            *value = Value::String(MASK.into());
        }
    }
}

/// A header still showing the mask, with no stored value behind it, is refused when saved.
pub(super) fn masked_left(target: &Value) -> Result<(), ServiceError> {
    let masked = target
        .get("headers")
        .and_then(Value::as_object)
        .and_then(|h| h.iter().find(|(_, v)| v.as_str() == Some(MASK)));
    match masked {
        Some((name, _)) => Err(ServiceError::invalid(
            &field(name),
            "this is the mask a listing shows in place of a header's value, and no stored \
             value stands behind it here: give the value itself",
        )),
        None => Ok(()),
    }
}
