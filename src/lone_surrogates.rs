//! JSON text whose `\uD800`–`\uDFFF` escapes make no pair, as a sender that cut a string in
//! the middle of an emoji writes them. JSON's grammar allows them, and Python, JavaScript and
//! Go read them, but serde_json refuses the whole document: a delivery would be stored as
//! `invalid_payload`, a chat answer retried for ever. Each is read as U+FFFD instead, as Go
//! does. Signatures are checked on the bytes as sent, before this.

use std::borrow::Cow;

const REPLACEMENT: &[u8] = br"\uFFFD";

/// `json` with every unpaired surrogate escape written `\uFFFD`; borrowed when it has none.
pub fn mended(json: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while let Some(at) = json
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\\'))
        .map(|p| p + i)
    {
        // A backslash only ever opens an escape in valid JSON (it cannot stand outside a
        // string), so escapes are found without following the strings.
        let Some(unit) = escaped_unit(json, at) else {
            i = at + 2;
            continue;
        };
        let paired = (0xD800..0xDC00).contains(&unit)
            && escaped_unit(json, at + 6).is_some_and(|low| (0xDC00..0xE000).contains(&low));
        if paired {
            i = at + 12;
        } else if (0xD800..0xE000).contains(&unit) {
            let out = out.get_or_insert_with(|| Vec::with_capacity(json.len()));
            out.extend_from_slice(&json[copied..at]);
            out.extend_from_slice(REPLACEMENT);
            copied = at + 6;
            i = copied;
        } else {
            i = at + 6;
        }
    }
    match out {
        None => Cow::Borrowed(json),
        Some(mut out) => {
            out.extend_from_slice(&json[copied..]);
            Cow::Owned(out)
        }
    }
}

/// The code unit of the `\uXXXX` escape at `at`, if one is there.
fn escaped_unit(json: &[u8], at: usize) -> Option<u32> {
    let hex = json.get(at..at + 6)?.strip_prefix(br"\u")?;
    u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

/// [`mended`] for text.
pub fn mended_str(json: &str) -> Cow<'_, str> {
    match mended(json.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(json),
        // Only ASCII escapes were replaced by ASCII, so the text is still UTF-8.
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8(bytes).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unpaired_surrogate_escapes_are_replaced() {
        for (given, read) in [
            (r#"{"a":"x\ud83d"}"#, r#"{"a":"x\uFFFD"}"#),
            (r#"{"a":"\ude00y"}"#, r#"{"a":"\uFFFDy"}"#),
            (
                r#"{"a":"\ud83d\ud83d\ude00"}"#,
                r#"{"a":"\uFFFD\ud83d\ude00"}"#,
            ),
            (r#"{"a":"\ud83d\ude00"}"#, r#"{"a":"\ud83d\ude00"}"#),
            (r#"{"a":"\\ud83d"}"#, r#"{"a":"\\ud83d"}"#),
            (r#"{"a":"\u00e9\n\"\\"}"#, r#"{"a":"\u00e9\n\"\\"}"#),
            (r#"{"a":"\ud83d\u0041"}"#, r#"{"a":"\uFFFD\u0041"}"#),
            (r#"{"a":"cut \ud8"#, r#"{"a":"cut \ud8"#),
            // Cut off at a backslash: left as it is, for the parser to refuse.
            ("\\", "\\"),
            (r#"{"a":"b\"#, r#"{"a":"b\"#),
            (r#"{"a":"\u"#, r#"{"a":"\u"#),
            (r#"{"a":"\ud83d\"#, r#"{"a":"\uFFFD\"#),
            ("", ""),
        ] {
            assert_eq!(mended_str(given), read, "{given}");
        }
    }

    #[test]
    fn a_mended_document_parses_with_the_replacement_character() {
        let mended = mended(br#"{"title":"fix \ud83d","n":1}"#);
        let value: serde_json::Value = serde_json::from_slice(&mended).expect("JSON");
        assert_eq!(value["title"], "fix \u{FFFD}");
        assert!(matches!(
            super::mended(br#"{"ok":"\ud83d\ude00"}"#),
            Cow::Borrowed(_)
        ));
    }
}
