//! Slack's legacy verification `token`: a credential of the user's Slack app that Slack still
//! puts in each request (the Events API envelope, a slash command's form, an interaction's
//! `payload`) beside the signature this service checks instead. Its value is replaced by a
//! marker before the body is kept, so no view, prompt or forward can pass it on; the rest of
//! the body stays as sent (JSON byte for byte; a form's other fields as written, an
//! interaction's `payload` field encoded anew around its JSON).

use std::fmt;
use std::ops::Range;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// What the token's value becomes. The key stays, so a template or condition naming it sees
/// this rather than a missing field.
pub const REDACTED: &str = "[redacted]";
const KEY: &str = "token";
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The body with the token's value replaced, or `None` when it carries no token. A JSON body
/// stays the same JSON, a form the same form (an interaction's `payload` the same JSON).
pub fn without_token(body: &[u8]) -> Option<Vec<u8>> {
    // Read past a byte-order mark, as parsing does, and kept with the body.
    let (bom, rest) = match body.strip_prefix(BOM) {
        Some(rest) => (BOM, rest),
        None => (&b""[..], body),
    };
    let text = std::str::from_utf8(rest).ok()?;
    let redacted = match json_without_token(text) {
        Ok(redacted) => redacted,
        // Only what parsing takes for a form is read as one.
        Err(NotAnObject) if super::common::parse_form(rest).is_some() => form_without_token(text),
        Err(NotAnObject) => None,
    }?;
    Some([bom, redacted.as_bytes()].concat())
}

/// The body is not a JSON object.
struct NotAnObject;

/// A JSON object with every top-level `token`'s value (a repeated key's too) replaced, each
/// in place; `Ok(None)` when it has none.
fn json_without_token(text: &str) -> Result<Option<String>, NotAnObject> {
    let spans = serde_json::from_str::<TokenValues>(text)
        .map_err(|_| NotAnObject)?
        .0;
    if spans.is_empty() {
        return Ok(None);
    }
    let base = text.as_ptr().addr();
    let marker = serde_json::to_string(REDACTED).expect("a string serialises");
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for span in spans {
        out.push_str(&text[at..span.start - base]);
        out.push_str(&marker);
        at = span.end - base;
    }
    out.push_str(&text[at..]);
    Ok(Some(out))
}

/// A form with its `token` field's value replaced, and the token in its `payload` JSON; each
/// other field is kept as it was written. `None` when it has neither.
fn form_without_token(text: &str) -> Option<String> {
    // The fields as the form is read (`common::parse_form` trims the body first), so that a
    // `token` after leading whitespace is the field it is read as; the whitespace is kept.
    let inner = text.trim();
    let lead = &text[..text.len() - text.trim_start().len()];
    let trail = &text[lead.len() + inner.len()..];
    let mut changed = false;
    let fields: Vec<String> = inner
        .split('&')
        .map(|field| {
            let Some((key, value)) = form_urlencoded::parse(field.as_bytes()).next() else {
                return field.to_string();
            };
            let written_key = field.split_once('=').map_or(field, |(k, _)| k);
            let replaced = match key.as_ref() {
                KEY => Some(REDACTED.to_string()),
                "payload" => json_without_token(&value).ok().flatten(),
                _ => None,
            };
            match replaced {
                Some(value) => {
                    changed = true;
                    let value: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
                    format!("{written_key}={value}")
                }
                None => field.to_string(),
            }
        })
        .collect();
    changed.then(|| format!("{lead}{}{trail}", fields.join("&")))
}

/// The memory each top-level `token`'s value lies at: a raw value borrows from the text it
/// was read from, so that is where in the text it was written.
struct TokenValues(Vec<Range<usize>>);

impl<'de> Deserialize<'de> for TokenValues {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TokenVisitor)
    }
}

struct TokenVisitor;

impl<'de> Visitor<'de> for TokenVisitor {
    type Value = TokenValues;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TokenValues, A::Error> {
        let mut spans = Vec::new();
        // A key is compared decoded (`"tok\u0065n"` is `token` too), as parsing reads it.
        while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
            if key == KEY {
                let at = value.get().as_ptr().addr();
                spans.push(at..at + value.get().len());
            }
        }
        Ok(TokenValues(spans))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(body: &str) -> Option<String> {
        without_token(body.as_bytes()).map(|b| String::from_utf8(b).expect("UTF-8"))
    }

    #[test]
    fn replaces_the_token_and_nothing_else() {
        let cases: [(&str, &str, Option<&str>); 15] = [
            (
                "a form after whitespace, read as the form is read",
                "\n token=t1&a=b\n",
                Some("\n token=%5Bredacted%5D&a=b\n"),
            ),
            (
                "a payload field after whitespace",
                " payload=%7B%22token%22%3A%22t1%22%7D",
                Some(" payload=%7B%22token%22%3A%22%5Bredacted%5D%22%7D"),
            ),
            (
                "events api envelope",
                r#"{"token":"t1","type":"event_callback","event":{"type":"app_mention"}}"#,
                Some(
                    r#"{"token":"[redacted]","type":"event_callback","event":{"type":"app_mention"}}"#,
                ),
            ),
            (
                "spacing kept",
                "{ \"a\" : 1.50 ,\n \"token\" :\t\"t1\" }",
                Some("{ \"a\" : 1.50 ,\n \"token\" :\t\"[redacted]\" }"),
            ),
            (
                "every repeat of the key",
                r#"{"token":"t1","a":"b","token":"t2"}"#,
                Some(r#"{"token":"[redacted]","a":"b","token":"[redacted]"}"#),
            ),
            (
                "an escaped key",
                r#"{"tok\u0065n":"t1"}"#,
                Some(r#"{"tok\u0065n":"[redacted]"}"#),
            ),
            (
                "a value that is not a string",
                r#"{"token":{"x":[1,2]},"b":2}"#,
                Some(r#"{"token":"[redacted]","b":2}"#),
            ),
            ("no token", r#"{"type":"event_callback"}"#, None),
            (
                "only the top level",
                r#"{"event":{"token":"not slack's"}}"#,
                None,
            ),
            ("not an object", r#"[{"token":"t1"}]"#, None),
            (
                "slash command form",
                "token=t1&team_id=T1&text=hello+world&response_url=https%3A%2F%2Fh%2Fx",
                Some(
                    "token=%5Bredacted%5D&team_id=T1&text=hello+world&response_url=https%3A%2F%2Fh%2Fx",
                ),
            ),
            (
                "interaction payload",
                "payload=%7B%22type%22%3A%22block_actions%22%2C%22token%22%3A%22t1%22%7D",
                Some(
                    "payload=%7B%22type%22%3A%22block_actions%22%2C%22token%22%3A%22%5Bredacted%5D%22%7D",
                ),
            ),
            ("a form without one", "command=%2Fdeploy&text=", None),
            ("not a body Slack sends", "{not json &token=t1", None),
            ("empty", "", None),
        ];
        for (name, body, want) in cases {
            assert_eq!(redacted(body).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn a_byte_order_mark_is_read_past_and_kept() {
        let body = b"\xEF\xBB\xBF{\"token\":\"t1\"}";
        assert_eq!(
            without_token(body).as_deref(),
            Some(&b"\xEF\xBB\xBF{\"token\":\"[redacted]\"}"[..])
        );
        assert_eq!(without_token(b"\xFF{\"token\":\"t1\"}"), None);
    }
}
