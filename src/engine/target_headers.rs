//! A `forward` target's own headers (`target.headers`: name → value, such as an API's
//! `Authorization`), checked when a command is saved: names HTTP takes and the forward does not
//! set itself, values that are one line of visible ASCII, a bounded count and size.

use std::collections::BTreeMap;

use serde_json::Value;

use super::command::{ActionKind, InvalidCommand};

/// The most headers a target may carry.
pub const MAX_HEADERS: usize = 16;

/// The longest header name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// The longest header value, in bytes: a long API token or a signed JWT fits.
pub const MAX_VALUE_BYTES: usize = 4096;

/// The field a header is named by in errors: `target.headers.X-Foo`.
pub fn field(name: &str) -> String {
    format!("target.headers.{name}")
}

fn invalid(field: String, message: impl Into<String>) -> InvalidCommand {
    InvalidCommand {
        field,
        message: message.into(),
    }
}

/// `target.headers`, where given, is an object of text values: said here, naming the header,
/// before the target is read (whose own words would name neither).
pub fn check_shape(target: &Value) -> Result<(), InvalidCommand> {
    let Some(headers) = target.get("headers") else {
        return Ok(());
    };
    let Some(headers) = headers.as_object() else {
        return Err(invalid(
            "target.headers".into(),
            "`headers` is an object of header name → value, e.g. {\"Authorization\": \"Bearer \
             …\"}",
        ));
    };
    match headers.iter().find(|(_, v)| !v.is_string()) {
        Some((name, _)) => Err(invalid(
            field(name),
            "a header's value is text: put it in quotes",
        )),
        None => Ok(()),
    }
}

/// Checks the headers of a target given now for a command of `action`: only a forward carries
/// them. Values stored sealed (restored from a masked copy) were checked when given.
pub fn check(action: ActionKind, headers: &BTreeMap<String, String>) -> Result<(), InvalidCommand> {
    if headers.is_empty() {
        return Ok(());
    }
    if action != ActionKind::Forward {
        return Err(invalid(
            "target.headers".into(),
            format!(
                "{action} sends to its channel's own API and takes no `headers`: only a forward \
                 sends headers of its own (to call an API that wants its own Authorization, \
                 say); leave them out"
            ),
        ));
    }
    if headers.len() > MAX_HEADERS {
        return Err(invalid(
            "target.headers".into(),
            format!(
                "{} headers given, more than the {MAX_HEADERS} a target may carry",
                headers.len()
            ),
        ));
    }
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in headers {
        check_name(name)?;
        let lower = name.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Err(invalid(
                field(name),
                "this header is given twice (header names are the same in any case): give it \
                 once",
            ));
        }
        seen.push(lower);
        if !crate::service::sealing::looks_sealed(value) {
            check_value(name, value)?;
        }
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), InvalidCommand> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || name.len() > MAX_NAME_BYTES || !name.bytes().all(tchar) {
        return Err(invalid(
            field(name),
            format!(
                "not a header name: a name is 1 to {MAX_NAME_BYTES} letters, digits and \
                 `-` (or one of !#$%&'*+.^_`|~), with no space or `:`"
            ),
        ));
    }
    match refusal(&name.to_ascii_lowercase()) {
        Some(why) => Err(invalid(field(name), why)),
        None => Ok(()),
    }
}

/// Why a header may not be given: the forward sets it itself, or it would break the request.
/// `Content-Type` may be given: it replaces the label the forward guesses from the body
/// (`application/json`, else text), for an API that wants a form body or a JSON type of its
/// own; the signature covers the body alone, so it still verifies.
fn refusal(lower: &str) -> Option<String> {
    let own = [crate::actions::EVENT_HEADER, crate::actions::hops::HEADER];
    if lower.starts_with("webhook-") || own.iter().any(|h| h.eq_ignore_ascii_case(lower)) {
        return Some(
            "the forward sets this header itself (the Standard Webhooks `webhook-*` headers \
             that sign it, its event type, and the hop count that stops loops): leave it out"
                .into(),
        );
    }
    const BREAKING: [&str; 11] = [
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "content-encoding",
    ];
    BREAKING.contains(&lower).then(|| {
        "the HTTP client sets this header from the request itself (its host, its body's length \
         and encoding, how the connection is kept), and another value would break the request: \
         leave it out"
            .into()
    })
}

fn check_value(name: &str, value: &str) -> Result<(), InvalidCommand> {
    if value.trim().is_empty() {
        return Err(invalid(
            field(name),
            "the value is empty: give the header's value, or leave the header out",
        ));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(invalid(
            field(name),
            format!(
                "the value is {} bytes, more than the {MAX_VALUE_BYTES} a header's may be",
                value.len()
            ),
        ));
    }
    if value.contains(['\r', '\n']) {
        return Err(invalid(
            field(name),
            "the value holds a line break, which would end the header and start another: give \
             it on one line",
        ));
    }
    if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(invalid(
            field(name),
            "the value holds a character that is not visible ASCII (a tab, a control \
             character, or one past ASCII, which HTTP does not carry as it stands): give it as \
             the API documents it",
        ));
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        return Err(invalid(
            field(name),
            "the value starts or ends with a space, which HTTP drops: leave it out",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_api_s_own_headers_are_taken_on_a_forward() {
        let given = headers(&[
            ("Authorization", "Bearer ghp_abc123"),
            ("Accept", "application/vnd.github+json"),
            ("X-GitHub-Api-Version", "2022-11-28"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ]);
        assert_eq!(check(ActionKind::Forward, &given), Ok(()));
        assert_eq!(check(ActionKind::PostMessage, &BTreeMap::new()), Ok(()));
    }

    #[test]
    fn bad_names_values_and_places_are_refused_with_the_header_named() {
        let long = "x".repeat(MAX_VALUE_BYTES + 1);
        let cases = [
            (("Bad Name", "v"), "target.headers.Bad Name"),
            (("X:Y", "v"), "target.headers.X:Y"),
            (("", "v"), "target.headers."),
            (("Host", "evil"), "target.headers.Host"),
            (("content-length", "1"), "target.headers.content-length"),
            (
                ("Transfer-Encoding", "chunked"),
                "target.headers.Transfer-Encoding",
            ),
            (("Connection", "close"), "target.headers.Connection"),
            (
                ("Webhook-Signature", "v1,x"),
                "target.headers.Webhook-Signature",
            ),
            (("webhook-id", "x"), "target.headers.webhook-id"),
            (
                ("X-Webhook-Mcp-Hops", "0"),
                "target.headers.X-Webhook-Mcp-Hops",
            ),
            (("X-Webhook-Event", "x"), "target.headers.X-Webhook-Event"),
            (("X-Foo", "a\r\nX-Evil: 1"), "target.headers.X-Foo"),
            (("X-Foo", "a\nb"), "target.headers.X-Foo"),
            (("X-Foo", "tab\there"), "target.headers.X-Foo"),
            (("X-Foo", "café"), "target.headers.X-Foo"),
            (("X-Foo", " "), "target.headers.X-Foo"),
            (("X-Foo", " padded"), "target.headers.X-Foo"),
            (("X-Foo", long.as_str()), "target.headers.X-Foo"),
        ];
        for ((name, value), expected) in cases {
            let err = check(ActionKind::Forward, &headers(&[(name, value)]))
                .expect_err(&format!("{name:?}: {value:?}"));
            assert_eq!(err.field, expected, "{name:?}: {}", err.message);
            // The value is never echoed in the error.
            assert!(
                value.len() < 3 || !err.message.contains(value),
                "{}",
                err.message
            );
        }
        let twice = headers(&[("Authorization", "a"), ("authorization", "b")]);
        assert!(check(ActionKind::Forward, &twice).is_err());
        let many: BTreeMap<String, String> = (0..=MAX_HEADERS)
            .map(|i| (format!("X-H{i}"), "v".to_string()))
            .collect();
        assert_eq!(
            check(ActionKind::Forward, &many).map_err(|e| e.field),
            Err("target.headers".into())
        );
        let err = check(ActionKind::PostMessage, &headers(&[("X-Foo", "v")])).unwrap_err();
        assert!(err.message.contains("only a forward"), "{}", err.message);
    }

    #[test]
    fn headers_that_are_not_an_object_of_text_are_refused_by_name() {
        let cases = [
            (
                serde_json::json!({"url": "x", "headers": ["a"]}),
                "target.headers",
            ),
            (
                serde_json::json!({"url": "x", "headers": {"X-N": 5}}),
                "target.headers.X-N",
            ),
        ];
        for (target, field) in cases {
            assert_eq!(check_shape(&target).map_err(|e| e.field), Err(field.into()));
        }
        assert_eq!(
            check_shape(&serde_json::json!({"url": "x", "headers": {"A": "b"}})),
            Ok(())
        );
    }
}
